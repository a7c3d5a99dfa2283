/*
 * Freezing (DESIGN 7): a suspect process is put into a frozen cgroup
 * instead of being killed, stopped or traced, so its memory, its open
 * files and its children stay as the attacker left them until the
 * snapshot has been taken and a CSIRT decides.
 *
 * cgroup v2 first: kakuri owns ROOT/kakuri, one child group per freeze
 * episode.  The group is made and set frozen while it is still empty,
 * then the targets are moved in: a process migrated into a frozen group
 * is frozen on its way back to user space, and whatever it forks from
 * then on is born in the group, hence frozen as well.  Children forked
 * before the move are found by scanning again until a pass finds nothing
 * new.  Where cgroup2 cannot be used, the v1 freezer hierarchy does the
 * same with freezer.state.  Nothing here sends SIGSTOP or uses ptrace:
 * both are visible to the process and its parent (wait(2) reports a
 * stop), and a stopped task can be continued by anyone who may signal it.
 *
 * Moving a process needs write access to the common ancestor of the two
 * groups; kakurid runs as root.  The original group of every process is
 * recorded so thaw can put it back (or, when that group has gone, into
 * its nearest ancestor that still takes processes).
 *
 * Environment: KAKURI_FREEZER=v1 makes kk_freezer_probe use the v1
 * freezer only (tests of the fallback on hosts that have both),
 * KAKURI_FREEZER=v2 cgroup2 only.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

/* the streaming SHA-256 functions: see util.c for why not EVP */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "evidence.h"
#include "kakuri.h"

#define PF_KTHREAD		0x00200000	/* include/linux/sched.h */
#define FZ_TIMEOUT_MS		5000	/* default wait for "frozen 1" */
#define FZ_PASSES_MAX		1000	/* re-scans for children forked meanwhile */
#define FZ_SCAN_MAX		(1 << 20)	/* /proc entries looked at per scan */
#define FZ_SET_MAX		(1 << 20)	/* processes in a frozen set */
#define FZ_HASH_CACHE_MAX	65536	/* executables hashed per call */
#define FZ_EXE_MAX		((uint64_t)4 << 30)	/* bytes hashed per file */
#define FZ_SKIP_MAX		4096	/* entries in *skipped */
#define FZ_CHAIN_MAX		64	/* ppid steps to a recorded ancestor */
#define FZ_MOUNTINFO_LINES	100000
#define FZ_PROCS_FILE_MAX	(16 << 20)	/* bytes of one cgroup.procs */
#define FZ_JSON_MAX		(256 << 20)	/* frozen.json */
#define FZ_UP_MAX		256	/* ancestors tried when moving back */
#define FZ_DELETED		" (deleted)"

/* What /proc/PID/stat says about one process. */
struct pstat {
	pid_t pid;
	pid_t ppid;
	char state;
	unsigned long flags;
	unsigned long long start;
};

struct ptab {
	struct pstat *v;
	size_t n;
	size_t cap;
};

/* (pid, start time) of the entries of a frozen set, sorted: lookups. */
struct pidkey {
	pid_t pid;
	unsigned long long start;
	size_t idx;		/* in the set */
};

struct hcache_ent {
	dev_t dev;
	ino_t ino;
	char hex[65];
};

/* Executables already hashed in this call, by (st_dev, st_ino). */
struct hcache {
	struct hcache_ent *v;
	size_t n;
	size_t cap;
};

/* One kk_freeze call. */
struct fzcall {
	const struct kk_freezer *fz;
	const struct kk_freeze_guard *g;
	const struct kk_selector *sel;
	const char *group;
	bool v2;
	char gdir[PATH_MAX];		/* ROOT/kakuri/GROUP */
	char brel[PATH_MAX];		/* /kakuri, as /proc/PID/cgroup says */
	unsigned long long root_start;	/* pid selector: its start time */
	int procs_fd;			/* GDIR/cgroup.procs, open for writing */
	struct kk_frozen_set *set;
	size_t first;			/* set->n on entry */
	struct pidkey *keys;		/* the set, sorted, rebuilt every pass */
	size_t nkeys;
	json_t *skipped;
	struct hcache hc;
	struct timespec deadline;
	size_t matched;			/* targets seen, frozen now or earlier */
	char *err;
	size_t errlen;
};

static int fz_err(char *err, size_t errlen, int e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
fz_err(char *err, size_t errlen, int e, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return e;
}

/* ---- small file helpers ---- */

static int
write_fd_str(int fd, const char *s)
{
	size_t len = strlen(s);
	ssize_t n;
	int i;

	/* a cgroup control file takes one write(2) per value */
	for (i = 0; i < 100; i++) {
		n = write(fd, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		return (size_t)n == len ? 0 : -EIO;
	}
	return -EINTR;
}

static int
write_str(const char *path, const char *s)
{
	int fd, r;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = write_fd_str(fd, s);
	close(fd);
	return r;
}

/* Reads up to len-1 bytes of path, NUL-terminated; bytes read or -errno. */
static ssize_t
read_small(const char *path, char *buf, size_t len)
{
	size_t off = 0;
	ssize_t n;
	int fd, i;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (i = 0; i < 1000 && off < len - 1; i++) {
		n = read(fd, buf + off, len - 1 - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			n = -errno;
			close(fd);
			return n;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	buf[off] = '\0';
	return (ssize_t)off;
}

/* A whole (pseudo) file of unknown size, up to max bytes; caller frees. */
static int
read_all(const char *path, size_t max, char **out, size_t *outlen)
{
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (len + 1 >= cap) {
			if (cap >= max) {
				r = -EFBIG;
				goto out;
			}
			cap = cap == 0 ? 4096 : cap * 2;
			if (cap > max)
				cap = max;
			if ((nb = realloc(buf, cap)) == NULL) {
				r = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
	r = 0;
out:
	free(buf);
	close(fd);
	return r;
}

static int
join(char *out, size_t len, const char *a, const char *b)
{
	if (snprintf(out, len, "%s%s", a, b) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

static int
join3(char *out, size_t len, const char *a, const char *b, const char *c)
{
	if (snprintf(out, len, "%s%s%s", a, b, c) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

static void
now(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
}

static void
deadline_in(struct timespec *d, unsigned ms)
{
	now(d);
	d->tv_sec += ms / 1000;
	d->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (d->tv_nsec >= 1000000000L) {
		d->tv_sec++;
		d->tv_nsec -= 1000000000L;
	}
}

/* Milliseconds left until d, 0 when past. */
static long
ms_left(const struct timespec *d)
{
	struct timespec t;
	long ms;

	now(&t);
	ms = (long)(d->tv_sec - t.tv_sec) * 1000L +
	    (d->tv_nsec - t.tv_nsec) / 1000000L;
	return ms > 0 ? ms : 0;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- names and paths ---- */

/* Group ids become directory names: [A-Za-z0-9._-], 1..63, not . or .. */
static bool
group_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n >= sizeof(((struct kk_frozen *)0)->group) ||
	    strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

/*
 * A cgroup path as /proc/PID/cgroup gives it: absolute, no "." or ".."
 * component, no control characters.  Thaw joins it to the hierarchy root,
 * so one read back from frozen.json must not lead anywhere else.
 */
static bool
cgpath_ok(const char *s)
{
	const char *p;
	size_t n;

	if (s[0] != '/')
		return false;
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	for (p = s; *p != '\0'; p += n) {
		while (*p == '/')
			p++;
		n = strcspn(p, "/");
		if ((n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
	}
	return true;
}

/* exe (a readlink of /proc/PID/exe) names path, also once it was deleted. */
static bool
exe_is(const char *exe, const char *path)
{
	size_t n = strlen(path);

	if (n == 0)
		return false;
	return strncmp(exe, path, n) == 0 &&
	    (exe[n] == '\0' || strcmp(exe + n, FZ_DELETED) == 0);
}

static bool
is_method(const char *m)
{
	return strcmp(m, "cgroup2") == 0 || strcmp(m, "freezer-v1") == 0;
}

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void
unescape(char *s)
{
	char *d = s;

	while (*s != '\0') {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
			    (s[3] - '0'));
			s += 4;
		} else
			*d++ = *s++;
	}
	*d = '\0';
}

static bool
has_opt(const char *opts, const char *opt)
{
	size_t n = strlen(opt);
	const char *p = opts;

	while (*p != '\0') {
		size_t k = strcspn(p, ",");

		if (k == n && strncmp(p, opt, n) == 0)
			return true;
		p += k;
		if (*p == ',')
			p++;
	}
	return false;
}

/*
 * The mount point of the cgroup2 hierarchy (v1: of the hierarchy with the
 * freezer controller).  Only a mount of the hierarchy's root ("/" in the
 * fourth field) is used: /proc/PID/cgroup paths are relative to that root,
 * so ROOT + path names the group.
 */
static int
find_mount(bool v1, char *out, size_t outlen)
{
	char *line = NULL, *sep, *f[6], *post[3], *save, *p;
	size_t cap = 0;
	FILE *fp;
	int i, k, r = -ENOENT;

	fp = fopen("/proc/self/mountinfo", "re");
	if (fp == NULL)
		return -errno;
	for (i = 0; i < FZ_MOUNTINFO_LINES && getline(&line, &cap, fp) > 0;
	    i++) {
		line[strcspn(line, "\n")] = '\0';
		if ((sep = strstr(line, " - ")) == NULL)
			continue;
		*sep = '\0';
		for (k = 0, p = line; k < 6; k++, p = NULL)
			if ((f[k] = strtok_r(p, " ", &save)) == NULL)
				break;
		if (k < 6)
			continue;
		for (k = 0, p = sep + 3; k < 3; k++, p = NULL)
			if ((post[k] = strtok_r(p, " ", &save)) == NULL)
				break;
		if (k < 3)
			continue;
		if (strcmp(f[3], "/") != 0)
			continue;
		if (v1 ? strcmp(post[0], "cgroup") != 0 ||
		    !has_opt(post[2], "freezer") :
		    strcmp(post[0], "cgroup2") != 0)
			continue;
		unescape(f[4]);
		if (strlen(f[4]) >= outlen) {
			r = -ENAMETOOLONG;
			continue;
		}
		strcpy(out, f[4]);
		r = 0;
		break;
	}
	free(line);
	fclose(fp);
	return r;
}

/* ROOT/kakuri, without a double slash when the hierarchy is mounted on "/". */
static int
base_of(const char *root, char *out, size_t len)
{
	return join(out, len, strcmp(root, "/") == 0 ? "" : root, "/kakuri");
}

/* fz->base relative to fz->root: "/kakuri", as /proc/PID/cgroup names it. */
static int
base_rel(const struct kk_freezer *fz, char *out, size_t len)
{
	size_t rl = strlen(fz->root);

	if (strcmp(fz->root, "/") == 0)
		return join(out, len, fz->base, "");
	if (strncmp(fz->base, fz->root, rl) != 0 || fz->base[rl] != '/')
		return -EINVAL;
	return join(out, len, fz->base + rl, "");
}

/* ---- probe ---- */

static int
probe_one(struct kk_freezer *fz, bool v1, char *why, size_t whylen)
{
	char root[PATH_MAX], base[PATH_MAX], ctl[PATH_MAX];
	const char *file = v1 ? "/freezer.state" : "/cgroup.freeze";
	struct stat st;
	int r;

	if ((r = find_mount(v1, root, sizeof(root))) < 0) {
		snprintf(why, whylen, "%s", r == -ENOENT ? (v1 ?
		    "no freezer hierarchy in /proc/self/mountinfo" :
		    "no cgroup2 mount in /proc/self/mountinfo") : strerror(-r));
		return r;
	}
	if ((r = base_of(root, base, sizeof(base))) < 0 ||
	    (r = join(ctl, sizeof(ctl), base, file)) < 0) {
		snprintf(why, whylen, "%s: path too long", root);
		return r;
	}
	if (mkdir(base, 0755) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(why, whylen, "mkdir %s: %s", base, strerror(errno));
		return r;
	}
	if (stat(ctl, &st) < 0) {
		r = -errno;
		snprintf(why, whylen, "%s: %s", ctl, strerror(errno));
		return r;
	}
	if (access(ctl, W_OK) < 0) {
		r = -errno;
		snprintf(why, whylen, "%s: %s", ctl, strerror(errno));
		return r;
	}
	snprintf(fz->method, sizeof(fz->method), "%s",
	    v1 ? "freezer-v1" : "cgroup2");
	strcpy(fz->root, root);
	strcpy(fz->base, base);
	return 0;
}

int
kk_freezer_probe(struct kk_freezer *fz, char *err, size_t errlen)
{
	const char *force = getenv("KAKURI_FREEZER");
	char why2[PATH_MAX + 64] = "not tried (KAKURI_FREEZER=v1)";
	char why1[PATH_MAX + 64] = "not tried (KAKURI_FREEZER=v2)";
	unsigned timeout = fz->timeout_ms;
	bool try2 = true, try1 = true;
	int r;

	memset(fz, 0, sizeof(*fz));
	/* a timeout the caller set before probing is kept */
	fz->timeout_ms = timeout != 0 ? timeout : FZ_TIMEOUT_MS;
	if (force != NULL && force[0] != '\0') {
		if (strcmp(force, "v1") == 0)
			try2 = false;
		else if (strcmp(force, "v2") == 0)
			try1 = false;
		else {
			r = fz_err(err, errlen, -EINVAL,
			    "KAKURI_FREEZER=%.64s: expected v1 or v2", force);
			goto out;
		}
	}
	if (try2 && probe_one(fz, false, why2, sizeof(why2)) == 0) {
		r = 0;
		goto out;
	}
	if (try1 && probe_one(fz, true, why1, sizeof(why1)) == 0) {
		r = 0;
		goto out;
	}
	r = fz_err(err, errlen, -ENOTSUP,
	    "no usable freezer: cgroup2: %.300s; freezer v1: %.300s", why2,
	    why1);
out:
	return r;
}

/* ---- /proc ---- */

/* Fields of /proc/PID/stat after the command name (which may hold ')'). */
static int
read_pstat(pid_t pid, struct pstat *ps)
{
	char path[64], buf[2048], *p, *end;
	unsigned long long v;
	ssize_t n;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((n = read_small(path, buf, sizeof(buf))) < 0)
		return n == -ENOENT ? -ESRCH : (int)n;
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ' || p[2] == '\0')
		return -EBADMSG;
	memset(ps, 0, sizeof(*ps));
	ps->pid = pid;
	p += 2;
	ps->state = *p++;
	/* field 4 ppid (index 1), 9 flags (6), 22 starttime (19) */
	for (i = 1; i <= 19; i++) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return -EBADMSG;
		errno = 0;
		if (*p == '-') {	/* tty_nr, tpgid can be -1 */
			strtoll(p, &end, 10);
			v = 0;
		} else
			v = strtoull(p, &end, 10);
		if (end == p || errno != 0)
			return -EBADMSG;
		if (i == 1)
			ps->ppid = (pid_t)v;
		else if (i == 6)
			ps->flags = (unsigned long)v;
		else if (i == 19)
			ps->start = v;
		p = end;
	}
	return 0;
}

static bool
gone_state(char s)
{
	return s == 'Z' || s == 'X' || s == 'x';
}

/* The real uid (and the thread group) from /proc/PID/status. */
static int
read_status(pid_t pid, uid_t *uid, pid_t *tgid)
{
	char path[64], buf[4096], *p;
	unsigned long v;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((n = read_small(path, buf, sizeof(buf))) < 0)
		return n == -ENOENT ? -ESRCH : (int)n;
	if (uid != NULL) {
		if ((p = strstr(buf, "\nUid:")) == NULL)
			return -EBADMSG;
		v = strtoul(p + 5, NULL, 10);
		*uid = (uid_t)v;
	}
	if (tgid != NULL) {
		if ((p = strstr(buf, "\nTgid:")) == NULL)
			return -EBADMSG;
		*tgid = (pid_t)strtol(p + 6, NULL, 10);
	}
	return 0;
}

/* readlink of /proc/PID/exe; "" for kernel threads and exited processes. */
static void
read_exe(pid_t pid, char *out, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, out, len - 1);
	if (n < 0)
		n = 0;
	out[n] = '\0';
}

/*
 * The process's group in our hierarchy: the "0::" line of /proc/PID/cgroup
 * for cgroup2, the line listing "freezer" for v1.
 */
static int
read_cgroup(pid_t pid, bool v2, char *out, size_t len)
{
	char path[64], buf[8192], *line, *save, *c1, *c2;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if ((n = read_small(path, buf, sizeof(buf))) < 0)
		return n == -ENOENT ? -ESRCH : (int)n;
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if ((c1 = strchr(line, ':')) == NULL ||
		    (c2 = strchr(c1 + 1, ':')) == NULL)
			continue;
		*c1 = '\0';
		*c2 = '\0';
		if (v2 ? strcmp(line, "0") != 0 || c1[1] != '\0' :
		    !has_opt(c1 + 1, "freezer"))
			continue;
		if (strlen(c2 + 1) >= len)
			return -ENAMETOOLONG;
		strcpy(out, c2 + 1);
		return 0;
	}
	return -ENOENT;
}

static int
ptab_push(struct ptab *t, const struct pstat *ps)
{
	struct pstat *nv;
	size_t ncap;

	if (t->n == t->cap) {
		if (t->cap >= FZ_SCAN_MAX)
			return -E2BIG;
		ncap = t->cap == 0 ? 1024 : t->cap * 2;
		if ((nv = realloc(t->v, ncap * sizeof(*nv))) == NULL)
			return -ENOMEM;
		t->v = nv;
		t->cap = ncap;
	}
	t->v[t->n++] = *ps;
	return 0;
}

/* Every process in /proc (thread group leaders), as one table. */
static int
scan_proc(struct ptab *t)
{
	struct dirent *de;
	struct pstat ps;
	char *end;
	long v;
	DIR *d;
	size_t i;
	int r = 0;

	t->n = 0;
	if ((d = opendir("/proc")) == NULL)
		return -errno;
	for (i = 0; i < FZ_SCAN_MAX + 1024 && (de = readdir(d)) != NULL;
	    i++) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		v = strtol(de->d_name, &end, 10);
		if (*end != '\0' || v <= 0 || v > INT_MAX)
			continue;
		if (read_pstat((pid_t)v, &ps) < 0)
			continue;	/* exited meanwhile */
		if ((r = ptab_push(t, &ps)) < 0)
			break;
	}
	closedir(d);
	return r;
}

static int
cmp_ppid(const void *a, const void *b)
{
	const struct pstat *x = a, *y = b;

	if (x->ppid != y->ppid)
		return x->ppid < y->ppid ? -1 : 1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* Index of the first entry of t (sorted by ppid) whose parent is ppid. */
static size_t
first_child(const struct ptab *t, pid_t ppid)
{
	size_t lo = 0, hi = t->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (t->v[mid].ppid < ppid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- hashing ---- */

static int
hash_fd(int fd, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[SHA256_DIGEST_LENGTH];
	unsigned char *buf;
	uint64_t total = 0;
	SHA256_CTX c;
	ssize_t n;
	size_t i;
	int r = 0;

	if ((buf = malloc(1 << 16)) == NULL)
		return -ENOMEM;
	SHA256_Init(&c);
	for (;;) {
		n = read(fd, buf, 1 << 16);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (total > FZ_EXE_MAX) {
			r = -EFBIG;
			goto out;
		}
		SHA256_Update(&c, buf, (size_t)n);
	}
	SHA256_Final(md, &c);
	for (i = 0; i < sizeof(md); i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[64] = '\0';
out:
	free(buf);
	return r;
}

int
kk_file_sha256(const char *path, char out[65])
{
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = hash_fd(fd, out);
	close(fd);
	return r;
}

/*
 * The hash of the file a process executes.  /proc/PID/exe opens that
 * very file, also when it has been deleted or replaced on disk since;
 * one binary run by many processes is hashed once per call.
 */
static int
exe_sha256(struct hcache *hc, pid_t pid, char out[65])
{
	struct hcache_ent *nv;
	struct stat st;
	char path[64];
	size_t i, ncap;
	int fd, r;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	for (i = 0; i < hc->n; i++) {
		if (hc->v[i].dev == st.st_dev && hc->v[i].ino == st.st_ino) {
			memcpy(out, hc->v[i].hex, 65);
			r = 0;
			goto out;
		}
	}
	if ((r = hash_fd(fd, out)) < 0)
		goto out;
	if (hc->n == hc->cap && hc->cap < FZ_HASH_CACHE_MAX) {
		ncap = hc->cap == 0 ? 64 : hc->cap * 2;
		if ((nv = realloc(hc->v, ncap * sizeof(*nv))) != NULL) {
			hc->v = nv;
			hc->cap = ncap;
		}
	}
	if (hc->n < hc->cap) {
		hc->v[hc->n].dev = st.st_dev;
		hc->v[hc->n].ino = st.st_ino;
		memcpy(hc->v[hc->n].hex, out, 65);
		hc->n++;
	}
out:
	close(fd);
	return r;
}

/* ---- protection ---- */

/*
 * Why pid must not be frozen, or NULL.  *descend says whether its
 * children may still be (a protected program's children are not
 * protected; kakurid's family and kernel threads are left alone whole).
 */
static const char *
protected_why(const struct kk_freeze_guard *g, const struct pstat *ps,
    const char *exe, bool *descend)
{
	size_t i;

	*descend = false;
	if (ps->pid == 1)
		return "pid 1";
	/* set on every kernel thread, kthreadd (pid 2) included */
	if (ps->flags & PF_KTHREAD)
		return "a kernel thread";
	if (g != NULL && g->self > 0 && ps->pid == g->self)
		return "kakurid itself";
	/* freezing ourselves would never return */
	if (ps->pid == getpid())
		return "the freezing process itself";
	if (g != NULL && g->self > 0 && ps->ppid == g->self)
		return "a process of kakurid";
	*descend = true;
	for (i = 0; g != NULL && i < g->nprotect_exe; i++)
		if (g->protect_exe[i] != NULL && exe_is(exe, g->protect_exe[i]))
			return "protected by the policy";
	return NULL;
}

static void
skip_add(struct fzcall *c, pid_t pid, const char *exe, const char *why)
{
	json_t *o;
	size_t i;

	if (c->skipped == NULL || json_array_size(c->skipped) >= FZ_SKIP_MAX)
		return;
	/* every pass sees it again */
	for (i = 0; i < json_array_size(c->skipped); i++) {
		o = json_array_get(c->skipped, i);
		if (json_integer_value(json_object_get(o, "pid")) == pid)
			return;
	}
	o = json_pack("{s:i, s:s, s:s}", "pid", (int)pid, "exe", exe,
	    "why", why);
	if (o != NULL)
		json_array_append_new(c->skipped, o);
}

/* ---- the frozen set ---- */

static int
set_push(struct kk_frozen_set *s, const struct kk_frozen *f)
{
	struct kk_frozen *nv;
	size_t ncap;

	if (s->n == s->cap) {
		if (s->cap >= FZ_SET_MAX)
			return -E2BIG;
		ncap = s->cap == 0 ? 16 : s->cap * 2;
		if ((nv = realloc(s->v, ncap * sizeof(*nv))) == NULL)
			return -ENOMEM;
		s->v = nv;
		s->cap = ncap;
	}
	s->v[s->n++] = *f;
	return 0;
}

void
kk_frozen_set_free(struct kk_frozen_set *set)
{
	free(set->v);
	set->v = NULL;
	set->n = 0;
	set->cap = 0;
}

static int
cmp_key(const void *a, const void *b)
{
	const struct pidkey *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

static int
keys_build(struct fzcall *c)
{
	struct pidkey *k;
	size_t i;

	free(c->keys);
	c->keys = NULL;
	c->nkeys = 0;
	if (c->set->n == 0)
		return 0;
	if ((k = calloc(c->set->n, sizeof(*k))) == NULL)
		return -ENOMEM;
	for (i = 0; i < c->set->n; i++) {
		k[i].pid = c->set->v[i].pid;
		k[i].start = c->set->v[i].start_time;
		k[i].idx = i;
	}
	qsort(k, c->set->n, sizeof(*k), cmp_key);
	c->keys = k;
	c->nkeys = c->set->n;
	return 0;
}

/*
 * Is (pid, start) frozen already?  The sorted keys cover the set as it
 * was when the pass began; what the pass added since is looked at too.
 */
static bool
in_set(const struct fzcall *c, pid_t pid, unsigned long long start,
    size_t pass_first)
{
	struct pidkey k = { pid, start, 0 };
	size_t i;

	if (c->nkeys > 0 &&
	    bsearch(&k, c->keys, c->nkeys, sizeof(k), cmp_key) != NULL)
		return true;
	for (i = pass_first; i < c->set->n; i++)
		if (c->set->v[i].pid == pid &&
		    c->set->v[i].start_time == start)
			return true;
	return false;
}

static int
cmp_key_pid(const void *a, const void *b)
{
	const struct pidkey *x = a, *y = b;

	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* Below ROOT/kakuri: already in a freeze group (ours or an earlier one). */
static bool
in_kakuri(const char *brel, const char *cg)
{
	size_t n = strlen(brel);

	return strncmp(cg, brel, n) == 0 && (cg[n] == '\0' || cg[n] == '/');
}

/* ---- freezing ---- */

/*
 * Moves one target into the group and records it.  Already frozen ones
 * count as matched; protected ones are listed as skipped.
 */
static int
take(struct fzcall *c, const struct pstat *ps, const char *exe_known,
    size_t pass_first, bool *moved, bool *descend)
{
	struct kk_frozen f;
	const char *why;
	char num[24];
	int r;

	*descend = true;
	if (in_set(c, ps->pid, ps->start, pass_first)) {
		c->matched++;
		return 0;
	}
	if (gone_state(ps->state))
		return 0;	/* exited: nothing left to freeze */
	memset(&f, 0, sizeof(f));
	if (exe_known != NULL)
		snprintf(f.exe, sizeof(f.exe), "%s", exe_known);
	else
		read_exe(ps->pid, f.exe, sizeof(f.exe));
	if ((why = protected_why(c->g, ps, f.exe, descend)) != NULL) {
		skip_add(c, ps->pid, f.exe, why);
		return 0;
	}
	f.pid = ps->pid;
	f.start_time = ps->start;
	if (read_status(ps->pid, &f.uid, NULL) < 0)
		return 0;
	if ((r = read_cgroup(ps->pid, c->v2, f.orig_cgroup,
	    sizeof(f.orig_cgroup))) < 0)
		return r == -ESRCH ? 0 : fz_err(c->err, c->errlen, r,
		    "pid %d: its cgroup: %s", (int)ps->pid, strerror(-r));
	/*
	 * Born in a freeze group (forked by a process moved in earlier) or
	 * frozen into another one: either way frozen already; the final
	 * look at the group records those of ours.
	 */
	if (in_kakuri(c->brel, f.orig_cgroup)) {
		c->matched++;
		return 0;
	}
	snprintf(f.group, sizeof(f.group), "%s", c->group);
	snprintf(f.method, sizeof(f.method), "%s", c->fz->method);
	/* recorded before the move, so nothing frozen is ever unrecorded */
	if ((r = set_push(c->set, &f)) < 0)
		return fz_err(c->err, c->errlen, r, "pid %d: %s",
		    (int)ps->pid, strerror(-r));
	snprintf(num, sizeof(num), "%d", (int)ps->pid);
	r = write_fd_str(c->procs_fd, num);
	if (r < 0) {
		c->set->n--;
		if (r == -ESRCH)
			return 0;	/* exited meanwhile */
		return fz_err(c->err, c->errlen, r,
		    "pid %d: cannot move into %s: %s", (int)ps->pid, c->gdir,
		    strerror(-r));
	}
	c->matched++;
	*moved = true;
	return 0;
}

/* One pass over the tree under the selector's pid, parents first. */
static int
pass_tree(struct fzcall *c, struct ptab *t, size_t *nmoved)
{
	struct pstat *q = NULL, root;
	size_t head = 0, tail = 0, i, pass_first = c->set->n;
	bool moved, descend;
	int r;

	*nmoved = 0;
	if ((r = scan_proc(t)) < 0)
		return fz_err(c->err, c->errlen, r, "/proc: %s", strerror(-r));
	qsort(t->v, t->n, sizeof(*t->v), cmp_ppid);
	/* each process is queued at most once: the table has it once */
	if ((q = calloc(t->n + 1, sizeof(*q))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	/* the root is gone (its pid maybe reused): what is left is frozen */
	if (read_pstat(c->sel->pid, &root) < 0 ||
	    root.start != c->root_start) {
		r = 0;
		goto out;
	}
	q[tail++] = root;
	while (head < tail) {
		struct pstat p = q[head++];

		moved = false;
		if ((r = take(c, &p, NULL, pass_first, &moved, &descend)) < 0)
			goto out;
		if (moved)
			(*nmoved)++;
		if (!descend || !c->sel->tree)
			continue;
		for (i = first_child(t, p.pid);
		    i < t->n && t->v[i].ppid == p.pid && tail <= t->n; i++)
			q[tail++] = t->v[i];
	}
	r = 0;
out:
	free(q);
	return r;
}

/* Does ps match a uid, exe or sha256 selector? */
static bool
selected(struct fzcall *c, const struct pstat *ps, char *exe, size_t exelen)
{
	const struct kk_selector *sel = c->sel;
	char hex[65];
	uid_t uid;

	exe[0] = '\0';
	switch (sel->kind) {
	case KK_SEL_UID:
		if (read_status(ps->pid, &uid, NULL) < 0 || uid != sel->uid)
			return false;
		read_exe(ps->pid, exe, exelen);
		return true;
	case KK_SEL_EXE:
		read_exe(ps->pid, exe, exelen);
		return exe_is(exe, sel->exe);
	case KK_SEL_SHA256:
		if (exe_sha256(&c->hc, ps->pid, hex) < 0 ||
		    strcasecmp(hex, sel->sha256) != 0)
			return false;
		read_exe(ps->pid, exe, exelen);
		return true;
	default:
		return false;
	}
}

/* One pass over every process for a uid, exe or sha256 selector. */
static int
pass_match(struct fzcall *c, struct ptab *t, size_t *nmoved)
{
	char exe[PATH_MAX];
	size_t i, pass_first = c->set->n;
	bool moved, descend;
	int r;

	*nmoved = 0;
	if ((r = scan_proc(t)) < 0)
		return fz_err(c->err, c->errlen, r, "/proc: %s", strerror(-r));
	for (i = 0; i < t->n; i++) {
		/* not a user's process, and far too many to list */
		if (t->v[i].flags & PF_KTHREAD)
			continue;
		if (gone_state(t->v[i].state))
			continue;
		if (!selected(c, &t->v[i], exe, sizeof(exe)))
			continue;
		moved = false;
		if ((r = take(c, &t->v[i], exe, pass_first, &moved,
		    &descend)) < 0)
			return r;
		if (moved)
			(*nmoved)++;
	}
	return 0;
}

/* "frozen 1" in cgroup.events (v2), "FROZEN" in freezer.state (v1). */
static int
wait_frozen(struct fzcall *c)
{
	char path[PATH_MAX], buf[256];
	struct pollfd pfd;
	long left, nap = 1;
	ssize_t n;
	int fd = -1, i, r;

	if ((r = join(path, sizeof(path), c->gdir, c->v2 ? "/cgroup.events" :
	    "/freezer.state")) < 0)
		return r;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	for (i = 0; i < 1000000; i++) {
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		if (n < 0 && errno != EINTR) {
			r = -errno;
			goto out;
		}
		buf[n > 0 ? n : 0] = '\0';
		if (c->v2 ? strstr(buf, "frozen 1\n") != NULL :
		    strncmp(buf, "FROZEN", 6) == 0) {
			r = 0;
			goto out;
		}
		if ((left = ms_left(&c->deadline)) == 0) {
			r = -ETIMEDOUT;
			goto out;
		}
		if (c->v2) {
			/*
			 * The read above armed the notification; the short
			 * timeout only guards against a missed one.
			 */
			pfd.fd = fd;
			pfd.events = POLLPRI;
			pfd.revents = 0;
			poll(&pfd, 1, (int)(left < 100 ? left : 100));
		} else {
			/* v1 has no notification: freezer.state is polled */
			sleep_ms(nap < left ? nap : left);
			if (nap < 20)
				nap *= 2;
		}
	}
	r = -ETIMEDOUT;
out:
	close(fd);
	return r;
}

/* The pids in a group's cgroup.procs; caller frees. */
static int
group_pids(const char *gdir, pid_t **out, size_t *n)
{
	char path[PATH_MAX], *text = NULL, *p, *end;
	size_t len, cap = 0;
	pid_t *v = NULL, *nv;
	long pid;
	int r;

	*out = NULL;
	*n = 0;
	if ((r = join(path, sizeof(path), gdir, "/cgroup.procs")) < 0 ||
	    (r = read_all(path, FZ_PROCS_FILE_MAX, &text, &len)) < 0)
		return r;
	for (p = text; *p != '\0'; p = end) {
		while (*p == '\n')
			p++;
		if (*p == '\0')
			break;
		pid = strtol(p, &end, 10);
		if (end == p || pid <= 0 || pid > INT_MAX) {
			r = -EBADMSG;
			goto out;
		}
		if (*n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				r = -ENOMEM;
				goto out;
			}
			v = nv;
		}
		v[(*n)++] = (pid_t)pid;
	}
	*out = v;
	v = NULL;
	r = 0;
out:
	free(v);
	free(text);
	return r;
}

/* Moves pid into ROOT + cg; ESRCH when it has exited. */
static int
move_to(const char *root, const char *cg, pid_t pid)
{
	char path[PATH_MAX], num[24];
	int r;

	if ((r = join3(path, sizeof(path), strcmp(root, "/") == 0 ? "" : root,
	    strcmp(cg, "/") == 0 ? "" : cg, "/cgroup.procs")) < 0)
		return r;
	snprintf(num, sizeof(num), "%d", (int)pid);
	return write_str(path, num);
}

/*
 * Back to where it came from, or, when that group was removed meanwhile
 * (systemd removes an empty scope) or no longer takes processes (v2: a
 * controller was enabled below it), to the nearest ancestor that does.
 */
static int
move_back(const char *root, const char *brel, const char *orig, pid_t pid)
{
	char cur[PATH_MAX], *slash;
	int i, r = -ENOENT;

	/* never from one freeze group into another */
	snprintf(cur, sizeof(cur), "%s", in_kakuri(brel, orig) ||
	    !cgpath_ok(orig) ? "/" : orig);
	for (i = 0; i < FZ_UP_MAX; i++) {
		r = move_to(root, cur, pid);
		if (r == 0 || r == -ESRCH || strcmp(cur, "/") == 0)
			break;
		if (r != -ENOENT && r != -EBUSY && r != -EOPNOTSUPP &&
		    r != -ENOTSUP)
			break;
		slash = strrchr(cur, '/');
		if (slash == cur)
			cur[1] = '\0';
		else
			*slash = '\0';
	}
	return r;
}

/*
 * After "frozen 1" nothing in the group can fork any more: every process
 * in it that the set does not know yet (born in the group, or moved in
 * between a scan and its move) is recorded now, with the original group
 * of its nearest recorded ancestor, so thaw leaves nobody behind.
 * Protected programs found there (exec'd by a target meanwhile) are let
 * out again.
 */
static int
reconcile(struct fzcall *c)
{
	struct kk_frozen f;
	struct pstat ps, anc;
	const char *why, *orig;
	pid_t *pids = NULL, p;
	size_t n, i, j, pass_first;
	bool descend;
	int k, r;

	if ((r = group_pids(c->gdir, &pids, &n)) < 0)
		return fz_err(c->err, c->errlen, r, "%s/cgroup.procs: %s",
		    c->gdir, strerror(-r));
	if ((r = keys_build(c)) < 0)
		goto out;
	pass_first = c->set->n;
	for (i = 0; i < n; i++) {
		struct pidkey key = { pids[i], 0, 0 }, *hit;

		/*
		 * Recorded for this group: the pid alone is enough, the
		 * group holds only what was moved in or born there, and
		 * nothing in it can fork now.
		 */
		hit = c->nkeys > 0 ? bsearch(&key, c->keys, c->nkeys,
		    sizeof(key), cmp_key_pid) : NULL;
		if (hit != NULL &&
		    strcmp(c->set->v[hit->idx].group, c->group) == 0)
			continue;
		if (read_pstat(pids[i], &ps) < 0 || gone_state(ps.state))
			continue;
		if (in_set(c, ps.pid, ps.start, pass_first))
			continue;
		orig = NULL;
		p = ps.ppid;
		for (k = 0; k < FZ_CHAIN_MAX && p > 1 && orig == NULL; k++) {
			for (j = 0; j < c->set->n; j++)
				if (c->set->v[j].pid == p &&
				    strcmp(c->set->v[j].group, c->group) == 0)
					break;
			if (j < c->set->n) {
				orig = c->set->v[j].orig_cgroup;
				break;
			}
			if (read_pstat(p, &anc) < 0)
				break;
			p = anc.ppid;
		}
		/* an orphan (its parent exited): where this call began */
		for (j = c->first; orig == NULL && j < c->set->n; j++)
			if (strcmp(c->set->v[j].group, c->group) == 0)
				orig = c->set->v[j].orig_cgroup;
		memset(&f, 0, sizeof(f));
		snprintf(f.orig_cgroup, sizeof(f.orig_cgroup), "%s",
		    orig != NULL ? orig : "/");
		read_exe(ps.pid, f.exe, sizeof(f.exe));
		if ((why = protected_why(c->g, &ps, f.exe, &descend)) != NULL) {
			if (move_back(c->fz->root, c->brel, f.orig_cgroup,
			    ps.pid) == 0)
				skip_add(c, ps.pid, f.exe, why);
			continue;
		}
		f.pid = ps.pid;
		f.start_time = ps.start;
		if (read_status(ps.pid, &f.uid, NULL) < 0)
			continue;
		snprintf(f.group, sizeof(f.group), "%s", c->group);
		snprintf(f.method, sizeof(f.method), "%s", c->fz->method);
		if ((r = set_push(c->set, &f)) < 0) {
			fz_err(c->err, c->errlen, r, "pid %d: %s", (int)ps.pid,
			    strerror(-r));
			goto out;
		}
	}
	r = 0;
out:
	free(pids);
	return r;
}

/* An empty group is thawed and removed; one still in use is kept. */
static void
group_remove(const char *gdir, bool v2)
{
	char path[PATH_MAX];
	pid_t *pids;
	size_t n;

	if (group_pids(gdir, &pids, &n) < 0)
		return;		/* removed already */
	free(pids);
	if (n != 0)
		return;
	if (join(path, sizeof(path), gdir, v2 ? "/cgroup.freeze" :
	    "/freezer.state") == 0)
		write_str(path, v2 ? "0" : "THAWED");
	rmdir(gdir);
}

int
kk_freeze(const struct kk_freezer *fz, const struct kk_freeze_guard *g,
    const struct kk_selector *sel, const char *group,
    struct kk_frozen_set *set, json_t **skipped, char *err, size_t errlen)
{
	struct fzcall c;
	struct ptab t = { 0 };
	struct pstat root;
	char path[PATH_MAX], exe[PATH_MAX];
	const char *why;
	size_t nmoved = 0;
	bool created = false, descend;
	pid_t tgid;
	int pass, r, rw;

	memset(&c, 0, sizeof(c));
	c.fz = fz;
	c.g = g;
	c.sel = sel;
	c.group = group;
	c.set = set;
	c.first = set->n;
	c.procs_fd = -1;
	c.err = err;
	c.errlen = errlen;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (skipped != NULL) {
		if (*skipped == NULL && (*skipped = json_array()) == NULL) {
			r = -ENOMEM;
			goto out;
		}
		c.skipped = *skipped;
	}
	if (!is_method(fz->method)) {
		r = fz_err(err, errlen, -ENOTSUP, "no freezer (probe first)");
		goto out;
	}
	c.v2 = strcmp(fz->method, "cgroup2") == 0;
	if (group == NULL || !group_ok(group)) {
		r = fz_err(err, errlen, -EINVAL, "bad freeze group id");
		goto out;
	}
	if (base_rel(fz, c.brel, sizeof(c.brel)) < 0) {
		r = fz_err(err, errlen, -EINVAL, "%s is not below %s",
		    fz->base, fz->root);
		goto out;
	}
	if (join3(c.gdir, sizeof(c.gdir), fz->base, "/", group) < 0) {
		r = fz_err(err, errlen, -ENAMETOOLONG, "%s: path too long",
		    fz->base);
		goto out;
	}

	switch (sel->kind) {
	case KK_SEL_PID:
		/*
		 * Named explicitly: a protected process is refused, not
		 * skipped, before anything is created.
		 */
		if (sel->pid <= 0 || read_pstat(sel->pid, &root) < 0 ||
		    gone_state(root.state)) {
			r = fz_err(err, errlen, -ESRCH, "no process %d",
			    (int)sel->pid);
			goto out;
		}
		/* a thread id names its process; cgroup.procs moves it whole */
		if (read_status(sel->pid, NULL, &tgid) == 0 &&
		    tgid != sel->pid && tgid > 0) {
			r = fz_err(err, errlen, -EINVAL,
			    "%d is a thread of process %d", (int)sel->pid,
			    (int)tgid);
			goto out;
		}
		c.root_start = root.start;
		read_exe(sel->pid, exe, sizeof(exe));
		if ((why = protected_why(g, &root, exe, &descend)) != NULL) {
			r = fz_err(err, errlen, -EPERM,
			    "pid %d is protected (%s)", (int)sel->pid, why);
			goto out;
		}
		break;
	case KK_SEL_UID:
	case KK_SEL_EXE:
	case KK_SEL_SHA256:
		if (sel->kind == KK_SEL_EXE && sel->exe[0] != '/') {
			r = fz_err(err, errlen, -EINVAL,
			    "exe selector: an absolute path is needed");
			goto out;
		}
		if (sel->kind == KK_SEL_SHA256 &&
		    strspn(sel->sha256, "0123456789abcdefABCDEF") != 64) {
			r = fz_err(err, errlen, -EINVAL,
			    "sha256 selector: 64 hex digits are needed");
			goto out;
		}
		break;
	default:
		r = fz_err(err, errlen, -EINVAL,
		    "this selector can only thaw");
		goto out;
	}

	deadline_in(&c.deadline, fz->timeout_ms != 0 ? fz->timeout_ms :
	    FZ_TIMEOUT_MS);
	/* our subtree may have been removed since the probe, even now */
	for (pass = 0; pass < 3; pass++) {
		if (mkdir(fz->base, 0755) < 0 && errno != EEXIST) {
			r = fz_err(err, errlen, -errno, "mkdir %s: %s",
			    fz->base, strerror(errno));
			goto out;
		}
		if (mkdir(c.gdir, 0755) == 0) {
			created = true;
			break;
		}
		if (errno == EEXIST)
			break;
		if (errno != ENOENT || pass == 2) {
			r = fz_err(err, errlen, -errno, "mkdir %s: %s",
			    c.gdir, strerror(errno));
			goto out;
		}
	}
	/* frozen while empty: whatever is moved in freezes on arrival */
	if ((r = join(path, sizeof(path), c.gdir, c.v2 ? "/cgroup.freeze" :
	    "/freezer.state")) < 0 ||
	    (r = write_str(path, c.v2 ? "1" : "FROZEN")) < 0) {
		fz_err(err, errlen, r, "%s: %s", path, strerror(-r));
		goto out;
	}
	if ((r = join(path, sizeof(path), c.gdir, "/cgroup.procs")) < 0)
		goto out;
	if ((c.procs_fd = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
		r = fz_err(err, errlen, -errno, "%s: %s", path,
		    strerror(errno));
		goto out;
	}

	/*
	 * Until a pass moves nobody: a child forked before its parent was
	 * moved stays where it was born and is found by the next pass;
	 * one forked after is born in the group.
	 */
	for (pass = 0; pass < FZ_PASSES_MAX; pass++) {
		if ((r = keys_build(&c)) < 0) {
			fz_err(err, errlen, r, "%s", strerror(-r));
			goto out;
		}
		r = sel->kind == KK_SEL_PID ? pass_tree(&c, &t, &nmoved) :
		    pass_match(&c, &t, &nmoved);
		if (r < 0)
			goto out;
		if (nmoved == 0)
			break;
		if (ms_left(&c.deadline) == 0)
			break;
	}
	if (c.matched == 0 && set->n == c.first) {
		r = fz_err(err, errlen, -ESRCH, "no process to freeze%s",
		    c.skipped != NULL && json_array_size(c.skipped) > 0 ?
		    " (only protected ones matched)" : "");
		goto out;
	}
	rw = wait_frozen(&c);
	/* also after a timeout: thaw must know everybody in the group */
	if ((r = reconcile(&c)) < 0)
		goto out;
	if (nmoved != 0) {
		r = fz_err(err, errlen, -ETIMEDOUT,
		    "%s: new processes still appearing after %d passes",
		    c.gdir, pass);
		goto out;
	}
	if (rw == -ETIMEDOUT) {
		r = fz_err(err, errlen, rw, "%s: not frozen after %u ms",
		    c.gdir, fz->timeout_ms != 0 ? fz->timeout_ms :
		    FZ_TIMEOUT_MS);
		goto out;
	}
	if (rw < 0) {
		r = fz_err(err, errlen, rw, "%s: %s", c.gdir, strerror(-rw));
		goto out;
	}
	r = 0;
out:
	if (c.procs_fd >= 0)
		close(c.procs_fd);
	/* a group this call made and left empty is not kept */
	if (created && set->n == c.first)
		group_remove(c.gdir, c.v2);
	free(t.v);
	free(c.keys);
	free(c.hc.v);
	return r;
}

/* ---- thawing ---- */

#define T_ALIVE		0x01	/* same pid, same start time, not a zombie */
#define T_MATCH		0x02	/* named by the selector */
#define T_DONE		0x04	/* moved back */

/* A freeze group some entries of the set share. */
struct tgroup {
	char group[sizeof(((struct kk_frozen *)0)->group)];
	char method[sizeof(((struct kk_frozen *)0)->method)];
	char root[PATH_MAX];
	char brel[PATH_MAX];
	char grel[PATH_MAX];	/* brel/GROUP, as /proc/PID/cgroup says */
	char gdir[PATH_MAX];
	int err;		/* hierarchy not found */
	bool touched;
};

struct tgroups {
	struct tgroup *v;
	size_t n;
	size_t cap;
};

/*
 * The hierarchy of an entry: the probed one, or, for an entry frozen with
 * the other method (before a reboot or a change of KAKURI_FREEZER), the
 * mount found again.
 */
static struct tgroup *
tgroup_get(struct tgroups *gs, const struct kk_freezer *fz,
    const struct kk_frozen *e)
{
	struct tgroup *g, *nv;
	char base[PATH_MAX];
	size_t i, ncap;
	int r;

	for (i = 0; i < gs->n; i++)
		if (strcmp(gs->v[i].group, e->group) == 0 &&
		    strcmp(gs->v[i].method, e->method) == 0)
			return &gs->v[i];
	if (gs->n == gs->cap) {
		ncap = gs->cap == 0 ? 4 : gs->cap * 2;
		if ((nv = realloc(gs->v, ncap * sizeof(*nv))) == NULL)
			return NULL;
		gs->v = nv;
		gs->cap = ncap;
	}
	g = &gs->v[gs->n++];
	memset(g, 0, sizeof(*g));
	snprintf(g->group, sizeof(g->group), "%s", e->group);
	snprintf(g->method, sizeof(g->method), "%s", e->method);
	if (strcmp(e->method, fz->method) == 0) {
		snprintf(g->root, sizeof(g->root), "%s", fz->root);
		snprintf(base, sizeof(base), "%s", fz->base);
		r = base_rel(fz, g->brel, sizeof(g->brel));
	} else {
		r = find_mount(strcmp(e->method, "freezer-v1") == 0, g->root,
		    sizeof(g->root));
		if (r == 0 && (r = base_of(g->root, base, sizeof(base))) == 0)
			snprintf(g->brel, sizeof(g->brel), "/kakuri");
	}
	if (r == 0 && (!group_ok(e->group) ||
	    join3(g->gdir, sizeof(g->gdir), base, "/", e->group) < 0 ||
	    join3(g->grel, sizeof(g->grel), g->brel, "/", e->group) < 0))
		r = -EINVAL;
	g->err = r;
	return g;
}

static bool
thaw_match(const struct kk_selector *sel, const struct kk_frozen *e,
    unsigned char st, struct hcache *hc)
{
	char hex[65];

	switch (sel->kind) {
	case KK_SEL_ALL:
		return true;
	case KK_SEL_PID:
		return e->pid == sel->pid;
	case KK_SEL_UID:
		return e->uid == sel->uid;
	case KK_SEL_EXE:
		return exe_is(e->exe, sel->exe);
	case KK_SEL_SHA256:
		/* what it executes now: the recorded path may name another file */
		return (st & T_ALIVE) && exe_sha256(hc, e->pid, hex) == 0 &&
		    strcasecmp(hex, sel->sha256) == 0;
	default:
		return false;
	}
}

int
kk_thaw(const struct kk_freezer *fz, const struct kk_selector *sel,
    struct kk_frozen_set *set, struct kk_frozen_set *thawed, size_t *gone,
    char *err, size_t errlen)
{
	struct tgroups gs = { 0 };
	struct hcache hc = { 0 };
	struct pstat *ps = NULL;
	unsigned char *st = NULL;
	struct tgroup *g;
	char cur[PATH_MAX];
	size_t i, j, k, n = set->n, ngone = 0, nmatch = 0;
	bool changed;
	int r = 0, e;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (sel->kind == KK_SEL_PID && sel->pid <= 0) {
		r = fz_err(err, errlen, -EINVAL, "bad pid %d", (int)sel->pid);
		goto out;
	}
	if (n == 0) {
		r = sel->kind == KK_SEL_ALL ? 0 : fz_err(err, errlen, -ESRCH,
		    "nothing is frozen");
		goto out;
	}
	ps = calloc(n, sizeof(*ps));
	st = calloc(n, 1);
	if (ps == NULL || st == NULL) {
		r = fz_err(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	/* a pid now used by another process is not ours to move */
	for (i = 0; i < n; i++)
		if (read_pstat(set->v[i].pid, &ps[i]) == 0 &&
		    ps[i].start == set->v[i].start_time &&
		    !gone_state(ps[i].state))
			st[i] |= T_ALIVE;
	for (i = 0; i < n; i++)
		if (thaw_match(sel, &set->v[i], st[i], &hc))
			st[i] |= T_MATCH;
	/* descendants: recorded entries whose parent is matched, repeatedly */
	if (sel->kind == KK_SEL_PID && sel->tree) {
		for (k = 0, changed = true; changed && k < n; k++) {
			changed = false;
			for (i = 0; i < n; i++) {
				if ((st[i] & T_MATCH) || !(st[i] & T_ALIVE))
					continue;
				if (ps[i].ppid == sel->pid)
					j = 0;
				else
					for (j = 0; j < n; j++)
						if ((st[j] & T_MATCH) &&
						    (st[j] & T_ALIVE) &&
						    set->v[j].pid == ps[i].ppid)
							break;
				if (ps[i].ppid == sel->pid || j < n) {
					st[i] |= T_MATCH;
					changed = true;
				}
			}
		}
	}
	for (i = 0; i < n; i++) {
		if (st[i] & T_MATCH)
			nmatch++;
		if (tgroup_get(&gs, fz, &set->v[i]) == NULL) {
			r = fz_err(err, errlen, -ENOMEM, "out of memory");
			goto out;
		}
	}
	if (nmatch == 0) {
		r = fz_err(err, errlen, -ESRCH, "no frozen process matches");
		/* the dead are still dropped below */
	}

	/*
	 * Leaving the frozen group thaws a task, with either method (v1:
	 * the freezer's attach thaws a task arriving in a group that is not
	 * freezing).  The group itself stays frozen until it is empty: were
	 * it thawed first, its members would run, and fork into it, before
	 * they are moved out.
	 */
	for (i = 0; i < n; i++) {
		if (!(st[i] & T_MATCH) || !(st[i] & T_ALIVE))
			continue;
		g = tgroup_get(&gs, fz, &set->v[i]);
		if (g->err < 0) {
			if (r == 0 || r == -ESRCH)
				r = fz_err(err, errlen, g->err,
				    "pid %d: no %s hierarchy to thaw it in",
				    (int)set->v[i].pid, set->v[i].method);
			continue;
		}
		/*
		 * Moved out of the group by someone else meanwhile: not
		 * frozen by us any more, and not ours to move.
		 */
		if (read_cgroup(set->v[i].pid, strcmp(g->method, "cgroup2") == 0,
		    cur, sizeof(cur)) == 0 && strcmp(cur, g->grel) != 0) {
			st[i] |= T_DONE;
			continue;
		}
		e = move_back(g->root, g->brel, set->v[i].orig_cgroup,
		    set->v[i].pid);
		if (e == -ESRCH) {
			st[i] &= (unsigned char)~T_ALIVE;	/* just exited */
			continue;
		}
		if (e < 0) {
			if (r == 0 || r == -ESRCH)
				r = fz_err(err, errlen, e,
				    "pid %d: cannot move back to %s: %s",
				    (int)set->v[i].pid,
				    set->v[i].orig_cgroup, strerror(-e));
			continue;
		}
		st[i] |= T_DONE;
		g->touched = true;
	}

	/* what stays frozen stays in the set, in its order */
	for (i = 0, j = 0; i < n; i++) {
		if (st[i] & T_DONE) {
			if (thawed != NULL && set_push(thawed, &set->v[i]) < 0 &&
			    (r == 0 || r == -ESRCH))
				r = fz_err(err, errlen, -ENOMEM,
				    "out of memory (thawed list)");
			continue;
		}
		if (!(st[i] & T_ALIVE)) {
			ngone++;
			if ((g = tgroup_get(&gs, fz, &set->v[i])) != NULL)
				g->touched = true;
			continue;
		}
		if (j != i)
			set->v[j] = set->v[i];
		j++;
	}
	set->n = j;

	for (i = 0; i < gs.n; i++)
		if (gs.v[i].touched && gs.v[i].err == 0)
			group_remove(gs.v[i].gdir,
			    strcmp(gs.v[i].method, "cgroup2") == 0);
out:
	if (gone != NULL)
		*gone = ngone;
	free(gs.v);
	free(hc.v);
	free(ps);
	free(st);
	return r;
}

/* ---- persistence ---- */

/*
 * A JSON string of s.  File names need not be UTF-8 and jansson refuses
 * what is not: such bytes become '?' (the record still thaws by pid).
 */
static json_t *
jstr(const char *s)
{
	json_t *j;
	char *t;
	size_t i;

	if ((j = json_string(s)) != NULL)
		return j;
	if ((t = strdup(s)) == NULL)
		return NULL;
	for (i = 0; t[i] != '\0'; i++)
		if ((unsigned char)t[i] >= 0x80)
			t[i] = '?';
	j = json_string(t);
	free(t);
	return j;
}

json_t *
kk_frozen_to_json(const struct kk_frozen_set *set)
{
	json_t *arr, *o;
	size_t i;

	if ((arr = json_array()) == NULL)
		return NULL;
	for (i = 0; i < set->n; i++) {
		const struct kk_frozen *f = &set->v[i];

		o = json_pack("{s:i, s:I, s:I, s:o, s:o, s:s, s:s}",
		    "pid", (int)f->pid,
		    "start_time", (json_int_t)f->start_time,
		    "uid", (json_int_t)f->uid,
		    "exe", jstr(f->exe),
		    "cgroup", jstr(f->orig_cgroup),
		    "group", f->group,
		    "method", f->method);
		if (o == NULL || json_array_append_new(arr, o) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static int
get_str(json_t *o, const char *key, char *dst, size_t len)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v) || json_string_length(v) >= len ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return -EBADMSG;
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int
get_int(json_t *o, const char *key, json_int_t min, json_int_t max,
    json_int_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max)
		return -EBADMSG;
	*out = json_integer_value(v);
	return 0;
}

int
kk_frozen_from_json(json_t *arr, struct kk_frozen_set *set)
{
	struct kk_frozen f;
	json_int_t v;
	json_t *o;
	size_t i, n0 = set->n;
	int r;

	if (!json_is_array(arr) || json_array_size(arr) > FZ_SET_MAX)
		return -EBADMSG;
	json_array_foreach(arr, i, o) {
		memset(&f, 0, sizeof(f));
		/* exactly these seven members, each of its type */
		if (!json_is_object(o) || json_object_size(o) != 7) {
			r = -EBADMSG;
			goto fail;
		}
		if ((r = get_int(o, "pid", 1, INT_MAX, &v)) < 0)
			goto fail;
		f.pid = (pid_t)v;
		if ((r = get_int(o, "start_time", 0, INT64_MAX, &v)) < 0)
			goto fail;
		f.start_time = (unsigned long long)v;
		if ((r = get_int(o, "uid", 0, (json_int_t)UINT32_MAX - 1,
		    &v)) < 0)
			goto fail;
		f.uid = (uid_t)v;
		if ((r = get_str(o, "exe", f.exe, sizeof(f.exe))) < 0 ||
		    (r = get_str(o, "cgroup", f.orig_cgroup,
		    sizeof(f.orig_cgroup))) < 0 ||
		    (r = get_str(o, "group", f.group, sizeof(f.group))) < 0 ||
		    (r = get_str(o, "method", f.method,
		    sizeof(f.method))) < 0)
			goto fail;
		if (!cgpath_ok(f.orig_cgroup) || !group_ok(f.group) ||
		    !is_method(f.method)) {
			r = -EBADMSG;
			goto fail;
		}
		if ((r = set_push(set, &f)) < 0)
			goto fail;
	}
	return 0;
fail:
	set->n = n0;	/* all or nothing */
	return r;
}

int
kk_frozen_save(const char *path, const struct kk_frozen_set *set)
{
	json_t *arr;
	char *text = NULL, *nl;
	size_t len;
	int r;

	if ((arr = kk_frozen_to_json(set)) == NULL)
		return -ENOMEM;
	text = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	if (text == NULL)
		return -ENOMEM;
	len = strlen(text);
	if ((nl = realloc(text, len + 2)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	text = nl;
	memcpy(text + len, "\n", 2);
	/* temp file, fsync, rename, fsync of the directory (state.c) */
	r = kk_write_file_atomic(path, text, len + 1, 0600);
out:
	free(text);
	return r;
}

int
kk_frozen_load(const char *path, struct kk_frozen_set *set)
{
	struct kk_frozen_set tmp = { 0 };
	json_error_t jerr;
	json_t *arr = NULL;
	struct stat st;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > FZ_JSON_MAX) {
		r = -EBADMSG;
		goto out;
	}
	if ((arr = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		r = -EBADMSG;
		goto out;
	}
	if ((r = kk_frozen_from_json(arr, &tmp)) < 0)
		goto out;
	/* replaces what the set held */
	kk_frozen_set_free(set);
	*set = tmp;
	tmp.v = NULL;
	r = 0;
out:
	kk_frozen_set_free(&tmp);
	json_decref(arr);
	close(fd);
	return r;
}
