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
 * A process that forks to a new pid every few milliseconds (and lets the
 * old one exit) would outrun that: by the time its pid is written to
 * cgroup.procs it is gone.  So the cgroup a target comes from (its
 * source) is frozen first, then its targets are moved out of it, and the
 * source is put back as it was.  Other processes of the source stand
 * still for those milliseconds.  A source is left running (and the chase
 * above is all there is) when it is the root, holds kakurid, the caller
 * or pid 1, holds a protected process, or has child groups (freezing it
 * would freeze them too).
 *
 * Moving a process needs write access to the common ancestor of the two
 * groups; kakurid runs as root.  The original group of every process is
 * recorded so thaw can put it back, and never higher up: a group that has
 * gone is made again inside its slice (see kk_thaw).
 *
 * Protected programs (kk_protected_exe) are recognised by what they are, not by
 * a path: the file the kernel says they run, and the system service
 * cgroup they run in.  Nothing here reads an executable's content: the
 * sha256 selector is resolved by a worker (exehash.c) into the files it
 * names, and kk_freeze matches those by device and inode.
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
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "evidence.h"
#include "kakuri.h"

#define PF_KTHREAD		0x00200000	/* include/linux/sched.h */
#define FZ_TIMEOUT_MS		5000	/* default wait for "frozen 1" */
#define FZ_PASSES_MAX		1000	/* re-scans for children forked meanwhile */
#define FZ_SCAN_MAX		(1 << 20)	/* /proc entries looked at per scan */
#define FZ_SET_MAX		(1 << 20)	/* processes in a frozen set */
#define FZ_SKIP_MAX		4096	/* entries in *skipped */
#define FZ_CHAIN_MAX		64	/* ppid steps to a recorded ancestor */
#define FZ_MOUNTINFO_LINES	100000
#define FZ_PROCS_FILE_MAX	(16 << 20)	/* bytes of one cgroup.procs */
#define FZ_JSON_MAX		(256 << 20)	/* frozen.json */
#define FZ_UP_MAX		256	/* ancestors tried when moving back */
#define FZ_SOURCES_MAX		64	/* source groups frozen per call */
#define FZ_SOURCE_WAIT_MS	100	/* for one source group to be frozen */
#define FZ_SOURCES_WAIT_MS	300	/* for all of them, per call */
#define FZ_VANISHED_PASSES	8	/* passes after targets that exited */
#define FZ_VANISHED_MS		100	/* and at most this long */
#define FZ_DIRENT_BUF		512	/* bytes of /proc listed at once */
#define FZ_ZOMBIES_MAX		4096	/* zombies remembered per call */
#define FZ_THAWED_LEAF		"kakuri-thawed"
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

/* A cgroup targets came from, and whether this call froze it. */
struct source {
	char cg[PATH_MAX];		/* as /proc/PID/cgroup names it */
	bool frozen;			/* by us: put back at the end */
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
	struct source *src;		/* FZ_SOURCES_MAX of them */
	size_t nsrc;
	bool src_moved;			/* a pass froze a source: look again */
	bool vanished;			/* a target exited while taken */
	struct pidkey *zombies;		/* seen in this call */
	size_t nzombies;
	size_t capzombies;
	bool src_ok;			/* the groups below were read */
	struct timespec src_wait_until;	/* waiting for sources ends */
	char self_cg[PATH_MAX];		/* kakurid's group */
	char caller_cg[PATH_MAX];	/* ours (unit tests: the test's) */
	char init_cg[PATH_MAX];		/* pid 1's */
	struct timespec deadline;
	size_t matched;			/* targets seen, frozen now or earlier */
	char *err;
	size_t errlen;
};

static int fz_err(char *err, size_t errlen, int e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int wait_frozen_dir(const char *gdir, bool v2,
    const struct timespec *deadline);
static int group_pids(const char *gdir, pid_t **out, size_t *n);

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
 * The mount point of the cgroup2 hierarchy (v1opt NULL), else of the v1
 * hierarchy mounted with option v1opt ("freezer", "name=systemd").  Only
 * a mount of the hierarchy's root ("/" in the fourth field) is used:
 * /proc/PID/cgroup paths are relative to that root, so ROOT + path names
 * the group.
 */
static int
find_mount_opt(const char *v1opt, char *out, size_t outlen)
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
		if (v1opt != NULL ? strcmp(post[0], "cgroup") != 0 ||
		    !has_opt(post[2], v1opt) :
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

static int
find_mount(bool v1, char *out, size_t outlen)
{
	return find_mount_opt(v1 ? "freezer" : NULL, out, outlen);
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
 * The process's group in a hierarchy: the "0::" line of /proc/PID/cgroup
 * for cgroup2 (v1opt NULL), else the line listing v1opt ("freezer",
 * "name=systemd").
 */
static int
read_cgroup_opt(pid_t pid, const char *v1opt, char *out, size_t len)
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
		if (v1opt == NULL ? strcmp(line, "0") != 0 || c1[1] != '\0' :
		    !has_opt(c1 + 1, v1opt))
			continue;
		if (strlen(c2 + 1) >= len)
			return -ENAMETOOLONG;
		strcpy(out, c2 + 1);
		return 0;
	}
	return -ENOENT;
}

/* The group in our hierarchy: cgroup2, or the v1 freezer's. */
static int
read_cgroup(pid_t pid, bool v2, char *out, size_t len)
{
	return read_cgroup_opt(pid, v2 ? NULL : "freezer", out, len);
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

/* ---- protection ---- */

void
kk_protect_resolve(const char *const *paths, size_t n,
    struct kk_protected_exe *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].path = paths[i];
		/* a path that names nothing protects nothing */
		out[i].resolved = paths[i] != NULL &&
		    kk_path_id(paths[i], &out[i].id) == 0;
	}
}

/*
 * Is cg (a cgroup path) a system service's own: a ".service" unit
 * somewhere below slice (nested slices allowed, nothing else between),
 * and every directory from the unit's down to cg owned by root, that is
 * not delegated to a user?  The unit's name goes to unit.
 */
static bool
service_cgroup(const char *slice, const char *cg, const char *v1opt,
    char *unit, size_t unitlen)
{
	char root[PATH_MAX], dir[PATH_MAX];
	const char *p, *unit_end = NULL;
	struct stat st;
	size_t n = strlen(slice), k;

	if (n == 0 || strncmp(cg, slice, n) != 0 || cg[n] != '/' ||
	    !cgpath_ok(cg))
		return false;
	for (p = cg + n; *p == '/'; p += k) {
		p++;
		k = strcspn(p, "/");
		if (k > 8 && strncmp(p + k - 8, ".service", 8) == 0) {
			unit_end = p + k;
			snprintf(unit, unitlen, "%.*s", (int)k, p);
			break;
		}
		if (!(k > 6 && strncmp(p + k - 6, ".slice", 6) == 0))
			return false;
	}
	if (unit_end == NULL ||
	    find_mount_opt(v1opt, root, sizeof(root)) < 0)
		return false;
	/* the unit's directory, then each one below it down to cg */
	for (p = unit_end;; p += strcspn(p + 1, "/") + 1) {
		if (snprintf(dir, sizeof(dir), "%s%.*s",
		    strcmp(root, "/") == 0 ? "" : root, (int)(p - cg), cg) >=
		    (int)sizeof(dir))
			return false;
		if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode) ||
		    st.st_uid != 0)
			return false;
		if (*p == '\0')
			break;
	}
	return true;
}

/*
 * Why ps must not be frozen, or NULL; the policy's reason is written to
 * why.  *descend says whether its children may still be (a protected
 * program's children are not protected; kakurid's family and kernel
 * threads are left alone whole).
 */
static const char *
protected_why(const struct kk_freeze_guard *g, const struct pstat *ps,
    char *why, size_t whylen, bool *descend)
{
	struct kk_exe_info info;
	char cg[PATH_MAX], unit[256];
	const char *v1opt = NULL;
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
	if (g == NULL || g->nprotect == 0 || g->service_slice == NULL ||
	    kk_exe_stat(ps->pid, &info) < 0)
		return NULL;
	for (i = 0; i < g->nprotect; i++) {
		if (!g->protect[i].resolved ||
		    g->protect[i].id.dev != info.id.dev ||
		    g->protect[i].id.ino != info.id.ino)
			continue;
		/* the systemd hierarchy: cgroup2, else v1's name=systemd */
		if (read_cgroup_opt(ps->pid, NULL, cg, sizeof(cg)) < 0) {
			v1opt = "name=systemd";
			if (read_cgroup_opt(ps->pid, v1opt, cg, sizeof(cg)) < 0)
				return NULL;
		}
		if (!service_cgroup(g->service_slice, cg, v1opt, unit,
		    sizeof(unit)))
			return NULL;
		snprintf(why, whylen, "protected by the policy (%s, in %s)",
		    g->protect[i].path, unit);
		return why;
	}
	return NULL;
}

const char *
kk_protected(const struct kk_freeze_guard *g, pid_t pid, char *why,
    size_t whylen)
{
	struct pstat ps;
	const char *w;
	bool descend;

	if (pid <= 0 || read_pstat(pid, &ps) < 0 || gone_state(ps.state))
		return NULL;	/* nothing there to protect */
	w = protected_why(g, &ps, why, whylen, &descend);
	if (w != NULL && w != why)
		snprintf(why, whylen, "%s", w);
	return w != NULL ? why : NULL;
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
	o = json_pack("{s:i, s:o, s:s}", "pid", (int)pid, "exe",
	    kk_json_str(exe), "why", why);
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

/*
 * cg is top or a group below it.  With top = brel: already in a freeze
 * group (ours or an earlier one).
 */
static bool
cg_within(const char *top, const char *cg)
{
	size_t n = strlen(top);

	if (n == 1 && top[0] == '/')
		return cg[0] == '/';
	return n > 0 && strncmp(cg, top, n) == 0 &&
	    (cg[n] == '\0' || cg[n] == '/');
}

/* ---- source groups: frozen while their targets are moved out ---- */

/* ROOT + cg: the group's directory. */
static int
cg_dir_root(const char *root, const char *cg, char *out, size_t len)
{
	return join(out, len, strcmp(root, "/") == 0 ? "" : root,
	    strcmp(cg, "/") == 0 ? "/" : cg);
}

static int
cg_dir(const struct kk_freezer *fz, const char *cg, char *out, size_t len)
{
	return cg_dir_root(fz->root, cg, out, len);
}

static bool
has_child_groups(const char *dir)
{
	struct dirent *de;
	bool any = false;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return true;	/* cannot tell: as if it had */
	while (!any && (de = readdir(d)) != NULL)
		any = de->d_type == DT_DIR && strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0;
	closedir(d);
	return any;
}

/*
 * May the group cg be frozen for a moment?  Not the root (it cannot be),
 * not a freeze group, not one that holds kakurid, the caller or pid 1
 * (or is above them), not one with child groups (they would freeze too,
 * unseen), not one that holds a protected process.
 */
static bool
source_freezable(struct fzcall *c, const char *cg, const char *dir)
{
	char why[PATH_MAX + 64];
	struct pstat ps;
	pid_t *pids = NULL;
	size_t n = 0, i;
	bool descend, ok = true;

	if (!c->src_ok || strcmp(cg, "/") == 0 || cg_within(c->brel, cg) ||
	    !cgpath_ok(cg) || cg_within(cg, c->caller_cg) ||
	    cg_within(cg, c->init_cg) ||
	    (c->self_cg[0] != '\0' && cg_within(cg, c->self_cg)) ||
	    has_child_groups(dir) || group_pids(dir, &pids, &n) < 0)
		return false;
	for (i = 0; i < n && ok; i++)
		if (read_pstat(pids[i], &ps) == 0 && protected_why(c->g, &ps,
		    why, sizeof(why), &descend) != NULL)
			ok = false;
	free(pids);
	return ok;
}

/*
 * Freezes the group a target is in, once per call, if it may be and
 * nobody froze it before us.  True when it was frozen just now: the
 * caller looks at its target again (it may have forked and exited in
 * the meantime; what took its place now holds still for the next pass).
 */
static bool
freeze_source(struct fzcall *c, const char *cg)
{
	char dir[PATH_MAX], ctl[PATH_MAX], buf[32];
	struct timespec dl;
	struct source *sv;
	size_t i;

	for (i = 0; i < c->nsrc; i++)
		if (strcmp(c->src[i].cg, cg) == 0)
			return false;
	if (c->src == NULL || c->nsrc >= FZ_SOURCES_MAX ||
	    strlen(cg) >= sizeof(sv->cg))
		return false;
	sv = &c->src[c->nsrc++];
	snprintf(sv->cg, sizeof(sv->cg), "%s", cg);
	sv->frozen = false;
	if (cg_dir(c->fz, cg, dir, sizeof(dir)) < 0 ||
	    join(ctl, sizeof(ctl), dir, c->v2 ? "/cgroup.freeze" :
	    "/freezer.state") < 0 || !source_freezable(c, cg, dir))
		return false;
	/* frozen by someone else: theirs to thaw, not ours */
	if (read_small(ctl, buf, sizeof(buf)) < 0 ||
	    strncmp(buf, c->v2 ? "0" : "THAWED", c->v2 ? 1 : 6) != 0)
		return false;
	if (write_str(ctl, c->v2 ? "1" : "FROZEN") < 0)
		return false;
	sv->frozen = true;
	c->src_moved = true;
	/*
	 * A task that will not freeze (held in the kernel) only makes this
	 * wait, and not for long: the call runs in kakurid's event loop.
	 * Past the budget the group is frozen without waiting; it holds
	 * still a moment later.
	 */
	deadline_in(&dl, FZ_SOURCE_WAIT_MS);
	if (ms_left(&dl) > ms_left(&c->src_wait_until))
		dl = c->src_wait_until;
	if (ms_left(&dl) > 0)
		wait_frozen_dir(dir, c->v2, &dl);
	return true;
}

/* Every source this call froze runs again (as it was before). */
static void
sources_restore(struct fzcall *c)
{
	char dir[PATH_MAX], ctl[PATH_MAX];
	size_t i;

	for (i = 0; i < c->nsrc; i++) {
		if (!c->src[i].frozen)
			continue;
		if (cg_dir(c->fz, c->src[i].cg, dir, sizeof(dir)) == 0 &&
		    join(ctl, sizeof(ctl), dir, c->v2 ? "/cgroup.freeze" :
		    "/freezer.state") == 0)
			write_str(ctl, c->v2 ? "0" : "THAWED");
		c->src[i].frozen = false;
	}
}

/*
 * The groups of kakurid, of the caller and of pid 1, which no source may
 * contain.  Without them no source is frozen at all.
 */
static void
sources_init(struct fzcall *c)
{
	deadline_in(&c->src_wait_until, FZ_SOURCES_WAIT_MS);
	c->src = calloc(FZ_SOURCES_MAX, sizeof(*c->src));
	c->src_ok = c->src != NULL &&
	    read_cgroup(getpid(), c->v2, c->caller_cg,
	    sizeof(c->caller_cg)) == 0 &&
	    read_cgroup(1, c->v2, c->init_cg, sizeof(c->init_cg)) == 0 &&
	    (c->g == NULL || c->g->self <= 0 ||
	    read_cgroup(c->g->self, c->v2, c->self_cg,
	    sizeof(c->self_cg)) == 0);
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
	struct pstat again;
	const char *why;
	char num[24], whybuf[PATH_MAX + 64];
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
	if ((why = protected_why(c->g, ps, whybuf, sizeof(whybuf),
	    descend)) != NULL) {
		skip_add(c, ps->pid, f.exe, why);
		return 0;
	}
	f.pid = ps->pid;
	f.start_time = ps->start;
	if (read_status(ps->pid, &f.uid, NULL) < 0) {
		c->vanished = true;
		return 0;
	}
	if ((r = read_cgroup(ps->pid, c->v2, f.orig_cgroup,
	    sizeof(f.orig_cgroup))) < 0) {
		c->vanished = c->vanished || r == -ESRCH;
		return r == -ESRCH ? 0 : fz_err(c->err, c->errlen, r,
		    "pid %d: its cgroup: %s", (int)ps->pid, strerror(-r));
	}
	/*
	 * Born in a freeze group (forked by a process moved in earlier) or
	 * frozen into another one: either way frozen already; the final
	 * look at the group records those of ours.
	 */
	if (cg_within(c->brel, f.orig_cgroup)) {
		c->matched++;
		return 0;
	}
	/*
	 * Its group frozen first: it may have forked and exited before
	 * that took hold, and then what is there now is for the next pass.
	 */
	if (freeze_source(c, f.orig_cgroup) &&
	    (read_pstat(ps->pid, &again) < 0 || again.start != ps->start ||
	    gone_state(again.state)))
		return 0;
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
		if (r == -ESRCH) {
			/* exited meanwhile: maybe forked to a new pid first */
			c->vanished = true;
			return 0;
		}
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

/* Does the selector list the file (device, inode)? */
static bool
file_listed(const struct kk_selector *sel, const struct kk_file_id *id)
{
	size_t i;

	for (i = 0; i < sel->nfiles; i++)
		if (sel->files[i].dev == id->dev &&
		    sel->files[i].ino == id->ino)
			return true;
	return false;
}

/*
 * Does ps match a uid, exe or files selector?  1 yes, 0 no, -1 it exited
 * before that could be told (a pass after this one looks again).
 */
static int
selected(struct fzcall *c, const struct pstat *ps, char *exe, size_t exelen)
{
	const struct kk_selector *sel = c->sel;
	struct kk_exe_info info;
	struct pstat now;
	uid_t uid;
	int r;

	exe[0] = '\0';
	switch (sel->kind) {
	case KK_SEL_UID:
		if ((r = read_status(ps->pid, &uid, NULL)) < 0)
			return r == -ESRCH ? -1 : 0;
		if (uid != sel->uid)
			return 0;
		read_exe(ps->pid, exe, exelen);
		return 1;
	case KK_SEL_EXE:
		read_exe(ps->pid, exe, exelen);
		if (exe[0] == '\0' && read_pstat(ps->pid, &now) < 0)
			return -1;
		return exe_is(exe, sel->exe) ? 1 : 0;
	case KK_SEL_FILES:
		if ((r = kk_exe_stat(ps->pid, &info)) < 0)
			return r == -ESRCH && read_pstat(ps->pid, &now) < 0 ?
			    -1 : 0;
		if (!file_listed(sel, &info.id))
			return 0;
		read_exe(ps->pid, exe, exelen);
		return 1;
	default:
		return 0;
	}
}

/*
 * Is ps a zombie this call has not seen before?  One that stays a zombie
 * (its parent does not reap it) has forked nothing since: only its first
 * sighting asks for another pass.
 */
static bool
zombie_new(struct fzcall *c, const struct pstat *ps)
{
	struct pidkey *nv;
	size_t i, ncap;

	for (i = 0; i < c->nzombies; i++)
		if (c->zombies[i].pid == ps->pid &&
		    c->zombies[i].start == ps->start)
			return false;
	if (c->nzombies == c->capzombies) {
		if (c->capzombies >= FZ_ZOMBIES_MAX)
			return false;
		ncap = c->capzombies == 0 ? 16 : c->capzombies * 2;
		if ((nv = realloc(c->zombies, ncap * sizeof(*nv))) == NULL)
			return false;
		c->zombies = nv;
		c->capzombies = ncap;
	}
	c->zombies[c->nzombies].pid = ps->pid;
	c->zombies[c->nzombies].start = ps->start;
	c->nzombies++;
	return true;
}

/*
 * /proc, listed a few entries at a time (readdir(3) takes 32 KiB in one
 * go): an entry is looked at right after the kernel listed it, and a
 * process forked meanwhile, with a higher pid, still comes up later in
 * the same listing.
 */
struct proclist {
	int fd;
	/* the kernel's records are 8-byte aligned within the buffer */
	char buf[FZ_DIRENT_BUF] __attribute__((aligned(8)));
	size_t len;
	size_t off;
};

static int
proclist_open(struct proclist *pl)
{
	pl->len = pl->off = 0;
	pl->fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return pl->fd < 0 ? -errno : 0;
}

/* The next pid, 0 at the end. */
static pid_t
proclist_next(struct proclist *pl)
{
	struct dirent64 *de;
	char *end;
	long n, v;

	for (;;) {
		if (pl->off >= pl->len) {
			n = syscall(SYS_getdents64, pl->fd, pl->buf,
			    sizeof(pl->buf));
			if (n <= 0)
				return 0;
			pl->len = (size_t)n;
			pl->off = 0;
		}
		de = (struct dirent64 *)(void *)(pl->buf + pl->off);
		pl->off += de->d_reclen;
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		v = strtol(de->d_name, &end, 10);
		if (*end == '\0' && v > 0 && v <= INT_MAX)
			return (pid_t)v;
	}
}

/*
 * One pass over every process for a uid, exe or files selector, each
 * looked at and taken as /proc lists it: a process that changes its pid
 * every millisecond is alive for the few system calls between its entry
 * and its cgroup being frozen (take), not for a whole scan.
 */
static int
pass_match(struct fzcall *c, size_t *nmoved)
{
	struct proclist pl;
	char exe[PATH_MAX];
	size_t i, pass_first = c->set->n;
	struct pstat ps;
	bool moved, descend;
	pid_t pid;
	int m, r;

	*nmoved = 0;
	if ((r = proclist_open(&pl)) < 0)
		return fz_err(c->err, c->errlen, r, "/proc: %s",
		    strerror(-r));
	for (i = 0; i < FZ_SCAN_MAX + 1024 && (pid = proclist_next(&pl)) > 0;
	    i++) {
		/*
		 * Gone (or exiting) before anything was read: it may have
		 * been a target that forked to a new pid after this part of
		 * /proc was listed, or below the listing's cursor if pids
		 * wrapped around; a pass after this one looks again.
		 */
		if (read_pstat(pid, &ps) < 0 ||
		    (gone_state(ps.state) && zombie_new(c, &ps))) {
			c->vanished = true;
			continue;
		}
		if (gone_state(ps.state))
			continue;	/* a zombie seen before: long dead */
		/* not a user's process, and far too many to list */
		if (ps.flags & PF_KTHREAD)
			continue;
		if ((m = selected(c, &ps, exe, sizeof(exe))) < 0)
			c->vanished = true;
		if (m <= 0)
			continue;
		moved = false;
		if ((r = take(c, &ps, exe, pass_first, &moved,
		    &descend)) < 0)
			break;
		if (moved)
			(*nmoved)++;
	}
	close(pl.fd);
	return r;
}

/*
 * Until the group in gdir is frozen: "frozen 1" in cgroup.events (v2),
 * "FROZEN" in freezer.state (v1); -ETIMEDOUT at the deadline.  Without a
 * deadline, one look: 0 or -EAGAIN.
 */
static int
wait_frozen_dir(const char *gdir, bool v2, const struct timespec *deadline)
{
	char path[PATH_MAX], buf[256];
	struct pollfd pfd;
	long left, nap = 1;
	ssize_t n;
	int fd = -1, i, r;

	if ((r = join(path, sizeof(path), gdir, v2 ? "/cgroup.events" :
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
		if (v2 ? strstr(buf, "frozen 1\n") != NULL :
		    strncmp(buf, "FROZEN", 6) == 0) {
			r = 0;
			goto out;
		}
		/* no deadline: only a look */
		if (deadline == NULL) {
			r = -EAGAIN;
			goto out;
		}
		if ((left = ms_left(deadline)) == 0) {
			r = -ETIMEDOUT;
			goto out;
		}
		if (v2) {
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

static int
wait_frozen(struct fzcall *c)
{
	return wait_frozen_dir(c->gdir, c->v2, &c->deadline);
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
 * The top of orig's slice: the deepest ".slice" group above orig (a
 * systemd unit's slice holds its limits), else orig's parent.  Thaw never
 * puts a process above it.
 */
static void
slice_top(const char *orig, char *out, size_t len)
{
	const char *p, *end = NULL;
	size_t k;

	for (p = orig; *p == '/'; p += k) {
		p++;
		k = strcspn(p, "/");
		if (p[k] == '/' && k > 6 &&
		    strncmp(p + k - 6, ".slice", 6) == 0)
			end = p + k;
	}
	if (end == NULL)
		end = strrchr(orig, '/');
	if (end == NULL || end == orig)
		snprintf(out, len, "/");
	else
		snprintf(out, len, "%.*s", (int)(end - orig), orig);
}

/* mkdir of every missing group from the existing ancestor exist down to cg */
static int
remake(const char *root, const char *exist, const char *cg)
{
	char path[PATH_MAX];
	const char *p;
	size_t k;

	for (p = cg + (strcmp(exist, "/") == 0 ? 0 : strlen(exist));
	    *p == '/'; p += k) {
		k = strcspn(p + 1, "/") + 1;
		if (snprintf(path, sizeof(path), "%s%.*s",
		    strcmp(root, "/") == 0 ? "" : root, (int)(p + k - cg),
		    cg) >= (int)sizeof(path))
			return -ENAMETOOLONG;
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return -errno;
	}
	return 0;
}

/*
 * Back to where it came from, and never higher up.  A group systemd
 * removed meanwhile (an empty scope) is made again below its nearest
 * existing ancestor, as long as that is inside orig's slice (so the
 * slice's limits still hold); a group that no longer takes processes
 * (v2: controllers enabled below it) gets a leaf of ours inside it.
 * Otherwise -ENOENT / the move's error, with why: the process stays
 * frozen.
 */
static int
move_back(const char *root, const char *brel, const char *orig, pid_t pid,
    char *why, size_t whylen)
{
	char top[PATH_MAX], cur[PATH_MAX], leaf[PATH_MAX], dir[PATH_MAX];
	struct stat st;
	char *slash;
	int i, r;

	if (cg_within(brel, orig) || !cgpath_ok(orig)) {
		snprintf(why, whylen, "no original cgroup is known");
		return -EINVAL;
	}
	r = move_to(root, orig, pid);
	if (r == 0 || r == -ESRCH)
		return r;
	if (r == -EBUSY || r == -EOPNOTSUPP || r == -ENOTSUP) {
		/* it exists and refuses: a leaf of its own inside it */
		if (join(leaf, sizeof(leaf), strcmp(orig, "/") == 0 ? "" :
		    orig, "/" FZ_THAWED_LEAF) < 0 ||
		    (r = remake(root, orig, leaf)) < 0 ||
		    (r = move_to(root, leaf, pid)) < 0) {
			snprintf(why, whylen, "%s takes no processes and no "
			    "leaf could be made in it: %s", orig,
			    strerror(-r));
			return r;
		}
		return 0;
	}
	if (r != -ENOENT) {
		snprintf(why, whylen, "moving into %s: %s", orig,
		    strerror(-r));
		return r;
	}
	/* gone: the nearest ancestor that exists, not above the slice */
	slice_top(orig, top, sizeof(top));
	snprintf(cur, sizeof(cur), "%s", orig);
	for (i = 0; i < FZ_UP_MAX; i++) {
		if ((slash = strrchr(cur, '/')) == NULL)
			break;
		if (slash == cur)
			cur[1] = '\0';
		else
			*slash = '\0';
		if (!cg_within(top, cur))
			break;		/* climbed out of the slice */
		if (cg_dir_root(root, cur, dir, sizeof(dir)) == 0 &&
		    stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) {
			if ((r = remake(root, cur, orig)) < 0 ||
			    (r = move_to(root, orig, pid)) < 0) {
				snprintf(why, whylen, "%s is gone and could "
				    "not be made again: %s", orig,
				    strerror(-r));
				return r;
			}
			return 0;
		}
	}
	snprintf(why, whylen, "%s is gone, and so is its slice %s", orig, top);
	return -ENOENT;
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
	char whybuf[PATH_MAX + 64];
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
		if ((why = protected_why(c->g, &ps, whybuf, sizeof(whybuf),
		    &descend)) != NULL) {
			char mwhy[PATH_MAX + 64];

			/* kakurid's or pid 1's own: out again, wherever */
			if (move_back(c->fz->root, c->brel, f.orig_cgroup,
			    ps.pid, mwhy, sizeof(mwhy)) == 0)
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

/*
 * A freeze whose targets are moved and whose group is waiting for the
 * kernel's "frozen 1": everything kk_freeze_poll needs, owned (the
 * caller's freezer, guard and group name may be gone by then).
 */
struct kk_freeze_op {
	struct fzcall c;
	struct kk_freezer fz;
	struct kk_freeze_guard g;
	struct kk_protected_exe prot[64];
	char group[64];
	char err[512];
	size_t nmoved;
	int pass;
	bool created;
};

/* Closes what the call holds; a group it made and left empty goes. */
static void
op_end(struct kk_freeze_op *op)
{
	struct fzcall *c = &op->c;

	if (c->src != NULL) {
		sources_restore(c);
		free(c->src);
		c->src = NULL;
	}
	if (c->procs_fd >= 0)
		close(c->procs_fd);
	c->procs_fd = -1;
	if (op->created && c->set->n == c->first)
		group_remove(c->gdir, c->v2);
	free(c->keys);
	free(c->zombies);
	c->keys = NULL;
	c->zombies = NULL;
}

/* Everything up to the wait for "frozen 1". */
static int
freeze_begin(struct kk_freeze_op *op, const struct kk_selector *sel,
    struct kk_frozen_set *set, json_t **skipped)
{
	struct fzcall *c = &op->c;
	const struct kk_freezer *fz = &op->fz;
	const struct kk_freeze_guard *g = &op->g;
	const char *group = op->group;
	char *err = op->err;
	size_t errlen = sizeof(op->err);
	struct ptab t = { 0 };
	struct timespec extra_until;
	struct pstat root;
	char path[PATH_MAX], whybuf[PATH_MAX + 64];
	const char *why;
	size_t nmoved = 0;
	bool descend;
	pid_t tgid;
	int pass, extra = 0, r;

	c->fz = fz;
	c->g = g;
	c->sel = sel;
	c->group = group;
	c->set = set;
	c->first = set->n;
	c->procs_fd = -1;
	c->err = err;
	c->errlen = errlen;
	if (skipped != NULL) {
		if (*skipped == NULL && (*skipped = json_array()) == NULL) {
			r = -ENOMEM;
			goto out;
		}
		c->skipped = *skipped;
	}
	if (!is_method(fz->method)) {
		r = fz_err(err, errlen, -ENOTSUP, "no freezer (probe first)");
		goto out;
	}
	c->v2 = strcmp(fz->method, "cgroup2") == 0;
	if (group == NULL || !group_ok(group)) {
		r = fz_err(err, errlen, -EINVAL, "bad freeze group id");
		goto out;
	}
	if (base_rel(fz, c->brel, sizeof(c->brel)) < 0) {
		r = fz_err(err, errlen, -EINVAL, "%s is not below %s",
		    fz->base, fz->root);
		goto out;
	}
	if (join3(c->gdir, sizeof(c->gdir), fz->base, "/", group) < 0) {
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
		c->root_start = root.start;
		if ((why = protected_why(g, &root, whybuf, sizeof(whybuf),
		    &descend)) != NULL) {
			r = fz_err(err, errlen, -EPERM,
			    "pid %d is protected (%s)", (int)sel->pid, why);
			goto out;
		}
		break;
	case KK_SEL_UID:
	case KK_SEL_EXE:
	case KK_SEL_FILES:
		if (sel->kind == KK_SEL_EXE && sel->exe[0] != '/') {
			r = fz_err(err, errlen, -EINVAL,
			    "exe selector: an absolute path is needed");
			goto out;
		}
		if (sel->kind == KK_SEL_FILES && sel->nfiles > 0 &&
		    sel->files == NULL) {
			r = fz_err(err, errlen, -EINVAL, "files selector: "
			    "no list");
			goto out;
		}
		break;
	case KK_SEL_SHA256:
		/* reading executables is a worker's job (exehash.c) */
		r = fz_err(err, errlen, -EINVAL, "sha256 selector: resolve "
		    "it to files first");
		goto out;
	default:
		r = fz_err(err, errlen, -EINVAL,
		    "this selector can only thaw");
		goto out;
	}

	deadline_in(&c->deadline, fz->timeout_ms != 0 ? fz->timeout_ms :
	    FZ_TIMEOUT_MS);
	/* our subtree may have been removed since the probe, even now */
	for (pass = 0; pass < 3; pass++) {
		if (mkdir(fz->base, 0755) < 0 && errno != EEXIST) {
			r = fz_err(err, errlen, -errno, "mkdir %s: %s",
			    fz->base, strerror(errno));
			goto out;
		}
		if (mkdir(c->gdir, 0755) == 0) {
			op->created = true;
			break;
		}
		if (errno == EEXIST)
			break;
		if (errno != ENOENT || pass == 2) {
			r = fz_err(err, errlen, -errno, "mkdir %s: %s",
			    c->gdir, strerror(errno));
			goto out;
		}
	}
	/* frozen while empty: whatever is moved in freezes on arrival */
	if ((r = join(path, sizeof(path), c->gdir, c->v2 ? "/cgroup.freeze" :
	    "/freezer.state")) < 0 ||
	    (r = write_str(path, c->v2 ? "1" : "FROZEN")) < 0) {
		fz_err(err, errlen, r, "%s: %s", path, strerror(-r));
		goto out;
	}
	if ((r = join(path, sizeof(path), c->gdir, "/cgroup.procs")) < 0)
		goto out;
	if ((c->procs_fd = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
		r = fz_err(err, errlen, -errno, "%s: %s", path,
		    strerror(errno));
		goto out;
	}

	sources_init(c);

	/*
	 * Until a pass moves nobody and freezes no source: a child forked
	 * before its parent was moved stays where it was born and is found
	 * by the next pass; one forked after is born in the group; one
	 * whose source froze under it is found, holding still, next time.
	 */
	for (pass = 0; pass < FZ_PASSES_MAX; pass++) {
		if ((r = keys_build(c)) < 0) {
			fz_err(err, errlen, r, "%s", strerror(-r));
			goto out;
		}
		c->src_moved = false;
		c->vanished = false;
		r = sel->kind == KK_SEL_PID ? pass_tree(c, &t, &nmoved) :
		    pass_match(c, &nmoved);
		if (r < 0)
			goto out;
		/*
		 * A target that exited while it was taken may have forked
		 * first (to a new pid): a few passes more look for it.
		 */
		if (nmoved == 0 && !c->src_moved) {
			if (!c->vanished || extra >= FZ_VANISHED_PASSES)
				break;
			if (extra++ == 0)
				deadline_in(&extra_until, FZ_VANISHED_MS);
			else if (ms_left(&extra_until) == 0)
				break;
		}
		if (ms_left(&c->deadline) == 0)
			break;
	}
	/* the others in those groups run again at once */
	sources_restore(c);
	if (c->matched == 0 && set->n == c->first) {
		r = fz_err(err, errlen, -ESRCH, "no process to freeze%s",
		    c->skipped != NULL && json_array_size(c->skipped) > 0 ?
		    " (only protected ones matched)" : "");
		goto out;
	}
	op->nmoved = nmoved;
	op->pass = pass;
	free(t.v);
	return 0;
out:
	free(t.v);
	return r;
}

/*
 * The rest, once the group is frozen or the time is up: -EAGAIN while
 * neither (wait: wait for it instead).
 */
static int
freeze_finish(struct kk_freeze_op *op, bool wait)
{
	struct fzcall *c = &op->c;
	char *err = op->err;
	size_t errlen = sizeof(op->err);
	int r, rw;

	if (wait)
		rw = wait_frozen(c);
	else if ((rw = wait_frozen_dir(c->gdir, c->v2, NULL)) == -EAGAIN &&
	    ms_left(&c->deadline) == 0)
		rw = -ETIMEDOUT;
	if (rw == -EAGAIN)
		return rw;
	/* also after a timeout: thaw must know everybody in the group */
	if ((r = reconcile(c)) < 0)
		return r;
	if (op->nmoved != 0)
		return fz_err(err, errlen, -ETIMEDOUT,
		    "%s: new processes still appearing after %d passes",
		    c->gdir, op->pass);
	if (rw == -ETIMEDOUT)
		return fz_err(err, errlen, rw, "%s: not frozen after %u ms",
		    c->gdir, op->fz.timeout_ms != 0 ? op->fz.timeout_ms :
		    FZ_TIMEOUT_MS);
	if (rw < 0)
		return fz_err(err, errlen, rw, "%s: %s", c->gdir,
		    strerror(-rw));
	return 0;
}

static struct kk_freeze_op *
op_new(const struct kk_freezer *fz, const struct kk_freeze_guard *g,
    const char *group, char *err, size_t errlen)
{
	struct kk_freeze_op *op;
	size_t n = g != NULL ? g->nprotect : 0;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (n > sizeof(op->prot) / sizeof(op->prot[0]) ||
	    (group != NULL && strlen(group) >= sizeof(op->group)) ||
	    (op = calloc(1, sizeof(*op))) == NULL)
		return NULL;
	op->fz = *fz;
	if (g != NULL) {
		op->g = *g;
		if (n > 0)
			memcpy(op->prot, g->protect, n * sizeof(op->prot[0]));
		op->g.protect = op->prot;
	}
	snprintf(op->group, sizeof(op->group), "%s", group != NULL ? group :
	    "");
	op->c.procs_fd = -1;
	return op;
}

static int
op_done(struct kk_freeze_op *op, int r, char *err, size_t errlen)
{
	op_end(op);
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", op->err);
	free(op);
	return r;
}

int
kk_freeze_begin(const struct kk_freezer *fz, const struct kk_freeze_guard *g,
    const struct kk_selector *sel, const char *group,
    struct kk_frozen_set *set, json_t **skipped, struct kk_freeze_op **opp,
    char *err, size_t errlen)
{
	struct kk_freeze_op *op;
	int r;

	*opp = NULL;
	if ((op = op_new(fz, g, group, err, errlen)) == NULL) {
		if (group == NULL || !group_ok(group))
			return fz_err(err, errlen, -EINVAL,
			    "bad freeze group id");
		return fz_err(err, errlen, -ENOMEM, "out of memory");
	}
	if ((r = freeze_begin(op, sel, set, skipped)) < 0)
		return op_done(op, r, err, errlen);
	/* the selector is not looked at again */
	op->c.sel = NULL;
	*opp = op;
	return 0;
}

int
kk_freeze_poll(struct kk_freeze_op *op, char *err, size_t errlen)
{
	int r = freeze_finish(op, false);

	return r == -EAGAIN ? r : op_done(op, r, err, errlen);
}

void
kk_freeze_op_free(struct kk_freeze_op *op)
{
	if (op != NULL)
		op_done(op, 0, NULL, 0);
}

int
kk_freeze(const struct kk_freezer *fz, const struct kk_freeze_guard *g,
    const struct kk_selector *sel, const char *group,
    struct kk_frozen_set *set, json_t **skipped, char *err, size_t errlen)
{
	struct kk_freeze_op *op;
	int r;

	if ((r = kk_freeze_begin(fz, g, sel, group, set, skipped, &op, err,
	    errlen)) < 0)
		return r;
	return op_done(op, freeze_finish(op, true), err, errlen);
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
    unsigned char st)
{
	struct kk_exe_info info;

	switch (sel->kind) {
	case KK_SEL_ALL:
		return true;
	case KK_SEL_PID:
		return e->pid == sel->pid;
	case KK_SEL_UID:
		return e->uid == sel->uid;
	case KK_SEL_EXE:
		return exe_is(e->exe, sel->exe);
	case KK_SEL_FILES:
		/* what it executes now: the recorded path may name another file */
		return (st & T_ALIVE) && kk_exe_stat(e->pid, &info) == 0 &&
		    file_listed(sel, &info.id);
	default:
		return false;
	}
}

int
kk_thaw(const struct kk_freezer *fz, const struct kk_selector *sel,
    struct kk_frozen_set *set, struct kk_frozen_set *thawed, size_t *gone,
    json_t **kept, char *err, size_t errlen)
{
	struct tgroups gs = { 0 };
	struct pstat *ps = NULL;
	unsigned char *st = NULL;
	struct tgroup *g;
	char cur[PATH_MAX], why[2 * PATH_MAX + 128];
	size_t i, j, k, n = set->n, ngone = 0, nmatch = 0;
	bool changed;
	int r = 0, e;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (sel->kind == KK_SEL_PID && sel->pid <= 0) {
		r = fz_err(err, errlen, -EINVAL, "bad pid %d", (int)sel->pid);
		goto out;
	}
	if (sel->kind == KK_SEL_SHA256) {
		r = fz_err(err, errlen, -EINVAL, "sha256 selector: resolve "
		    "it to files first");
		goto out;
	}
	if (kept != NULL && *kept == NULL && (*kept = json_array()) == NULL) {
		r = fz_err(err, errlen, -ENOMEM, "out of memory");
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
		if (thaw_match(sel, &set->v[i], st[i]))
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
		    set->v[i].pid, why, sizeof(why));
		if (e == -ESRCH) {
			st[i] &= (unsigned char)~T_ALIVE;	/* just exited */
			continue;
		}
		if (e < 0) {
			/* stays frozen, and says why */
			if (kept != NULL && *kept != NULL)
				json_array_append_new(*kept, json_pack(
				    "{s:i, s:o, s:o, s:s}", "pid",
				    (int)set->v[i].pid, "exe",
				    kk_json_str(set->v[i].exe), "cgroup",
				    kk_json_str(set->v[i].orig_cgroup), "why",
				    why));
			if (r == 0 || r == -ESRCH)
				r = fz_err(err, errlen, -EAGAIN,
				    "pid %d stays frozen: %s",
				    (int)set->v[i].pid, why);
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
	free(ps);
	free(st);
	return r;
}

/* ---- persistence ---- */

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
		    "exe", kk_json_str(f->exe),
		    "cgroup", kk_json_str(f->orig_cgroup),
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
