/*
 * The cgroup file system as the freezer uses it: the hierarchy's mount and
 * our subtree in it, group paths, control files, the members of a group,
 * waiting for "frozen 1", and moving a process.  Also the small helpers
 * the freezer's files share (errors, paths, time).
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "freezer.h"

int
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

int
fz_write_fd_str(int fd, const char *s)
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

int
fz_write_str(const char *path, const char *s)
{
	int fd, r;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = fz_write_fd_str(fd, s);
	close(fd);
	return r;
}

/* Reads up to len-1 bytes of path, NUL-terminated; bytes read or -errno. */
ssize_t
fz_read_small(const char *path, char *buf, size_t len)
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

int
fz_join(char *out, size_t len, const char *a, const char *b)
{
	if (snprintf(out, len, "%s%s", a, b) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

int
fz_join3(char *out, size_t len, const char *a, const char *b, const char *c)
{
	if (snprintf(out, len, "%s%s%s", a, b, c) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

void
fz_now(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
}

void
fz_deadline_in(struct timespec *d, unsigned ms)
{
	fz_now(d);
	d->tv_sec += ms / 1000;
	d->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (d->tv_nsec >= 1000000000L) {
		d->tv_sec++;
		d->tv_nsec -= 1000000000L;
	}
}

/* Milliseconds left until d, 0 when past. */
long
fz_ms_left(const struct timespec *d)
{
	struct timespec t;
	long ms;

	fz_now(&t);
	ms = (long)(d->tv_sec - t.tv_sec) * 1000L +
	    (d->tv_nsec - t.tv_nsec) / 1000000L;
	return ms > 0 ? ms : 0;
}

void
fz_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Group ids become directory names: [A-Za-z0-9._-], 1..63, not . or .. */
bool
fz_group_ok(const char *s)
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
bool
fz_cgpath_ok(const char *s)
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

bool
fz_is_method(const char *m)
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

bool
fz_has_opt(const char *opts, const char *opt)
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
int
fz_find_mount_opt(const char *v1opt, char *out, size_t outlen)
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
		    !fz_has_opt(post[2], v1opt) :
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

int
fz_find_mount(bool v1, char *out, size_t outlen)
{
	return fz_find_mount_opt(v1 ? "freezer" : NULL, out, outlen);
}

/* ROOT/kakuri, without a double slash when the hierarchy is mounted on "/". */
int
fz_base_of(const char *root, char *out, size_t len)
{
	return fz_join(out, len, strcmp(root, "/") == 0 ? "" : root, "/kakuri");
}

/* fz->base relative to fz->root: "/kakuri", as /proc/PID/cgroup names it. */
int
fz_base_rel(const struct kk_freezer *fz, char *out, size_t len)
{
	size_t rl = strlen(fz->root);

	if (strcmp(fz->root, "/") == 0)
		return fz_join(out, len, fz->base, "");
	if (strncmp(fz->base, fz->root, rl) != 0 || fz->base[rl] != '/')
		return -EINVAL;
	return fz_join(out, len, fz->base + rl, "");
}

static int
probe_one(struct kk_freezer *fz, bool v1, char *why, size_t whylen)
{
	char root[PATH_MAX], base[PATH_MAX], ctl[PATH_MAX];
	const char *file = v1 ? "/freezer.state" : "/cgroup.freeze";
	struct stat st;
	int r;

	if ((r = fz_find_mount(v1, root, sizeof(root))) < 0) {
		snprintf(why, whylen, "%s", r == -ENOENT ? (v1 ?
		    "no freezer hierarchy in /proc/self/mountinfo" :
		    "no cgroup2 mount in /proc/self/mountinfo") : strerror(-r));
		return r;
	}
	if ((r = fz_base_of(root, base, sizeof(base))) < 0 ||
	    (r = fz_join(ctl, sizeof(ctl), base, file)) < 0) {
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

/* This boot's id into fz->boot_id, "" if it cannot be read. */
static void
probe_boot_id(struct kk_freezer *fz)
{
	char buf[64];
	ssize_t n;

	fz->boot_id[0] = '\0';
	n = fz_read_small("/proc/sys/kernel/random/boot_id", buf, sizeof(buf));
	if (n < FZ_BOOT_ID_LEN)
		return;
	memcpy(fz->boot_id, buf, FZ_BOOT_ID_LEN);
	fz->boot_id[FZ_BOOT_ID_LEN] = '\0';
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
	probe_boot_id(fz);
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

/*
 * cg is top or a group below it.  With top = brel: already in a freeze
 * group (ours or an earlier one).
 */
bool
fz_cg_within(const char *top, const char *cg)
{
	size_t n = strlen(top);

	if (n == 1 && top[0] == '/')
		return cg[0] == '/';
	return n > 0 && strncmp(cg, top, n) == 0 &&
	    (cg[n] == '\0' || cg[n] == '/');
}

/* ROOT + cg: the group's directory. */
int
fz_cg_dir_root(const char *root, const char *cg, char *out, size_t len)
{
	return fz_join(out, len, strcmp(root, "/") == 0 ? "" : root,
	    strcmp(cg, "/") == 0 ? "/" : cg);
}

int
fz_cg_dir(const struct kk_freezer *fz, const char *cg, char *out, size_t len)
{
	return fz_cg_dir_root(fz->root, cg, out, len);
}

bool
fz_has_child_groups(const char *dir)
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
 * Until the group in gdir is frozen: "frozen 1" in cgroup.events (v2),
 * "FROZEN" in freezer.state (v1); -ETIMEDOUT at the deadline.  Without a
 * deadline, one look: 0 or -EAGAIN.
 */
int
fz_wait_frozen_dir(const char *gdir, bool v2, const struct timespec *deadline)
{
	char path[PATH_MAX], buf[256];
	struct pollfd pfd;
	long left, nap = 1;
	ssize_t n;
	int fd = -1, i, r;

	if ((r = fz_join(path, sizeof(path), gdir, v2 ? "/cgroup.events" :
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
		if ((left = fz_ms_left(deadline)) == 0) {
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
			fz_sleep_ms(nap < left ? nap : left);
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
int
fz_group_pids(const char *gdir, pid_t **out, size_t *n)
{
	char path[PATH_MAX], *text = NULL, *p, *end;
	size_t len, cap = 0;
	pid_t *v = NULL;
	long pid;
	int r;

	*out = NULL;
	*n = 0;
	if ((r = fz_join(path, sizeof(path), gdir, "/cgroup.procs")) < 0 ||
	    (r = kk_read_text(path, FZ_PROCS_FILE_MAX, &text, &len)) < 0)
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
		/* a pid takes two bytes of the file at least */
		if ((r = kk_grow(&v, &cap, *n, sizeof(*v), 64,
		    FZ_PROCS_FILE_MAX / 2)) < 0)
			goto out;
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
int
fz_move_to(const char *root, const char *cg, pid_t pid)
{
	char path[PATH_MAX], num[24];
	int r;

	if ((r = fz_join3(path, sizeof(path), strcmp(root, "/") == 0 ? "" :
	    root, strcmp(cg, "/") == 0 ? "" : cg, "/cgroup.procs")) < 0)
		return r;
	snprintf(num, sizeof(num), "%d", (int)pid);
	return fz_write_str(path, num);
}

/* An empty group is thawed and removed; one still in use is kept. */
void
fz_group_remove(const char *gdir, bool v2)
{
	char path[PATH_MAX], buf[64];
	pid_t *pids;
	size_t n;

	if (fz_group_pids(gdir, &pids, &n) < 0)
		return;		/* removed already */
	free(pids);
	if (n != 0)
		return;
	/*
	 * A process whose leader has exited while its other threads run is
	 * in no cgroup.procs; its threads are listed (cgroup.threads, v1's
	 * tasks).  Thawed as empty, it would run on in the group.
	 */
	if (fz_join(path, sizeof(path), gdir, v2 ? "/cgroup.threads" :
	    "/tasks") < 0 || fz_read_small(path, buf, sizeof(buf)) != 0)
		return;
	fz_group_freeze(gdir, v2, false);
	rmdir(gdir);
}

/* The group in dir set frozen (or thawed): cgroup.freeze, freezer.state. */
int
fz_group_freeze(const char *dir, bool v2, bool frozen)
{
	char path[PATH_MAX];
	int r;

	if ((r = fz_join(path, sizeof(path), dir, v2 ? "/cgroup.freeze" :
	    "/freezer.state")) < 0)
		return r;
	return fz_write_str(path, v2 ? (frozen ? "1" : "0") :
	    (frozen ? "FROZEN" : "THAWED"));
}

int
fz_group_freeze_at(int dfd, bool v2, bool frozen)
{
	int fd, r;

	fd = openat(dfd, v2 ? "cgroup.freeze" : "freezer.state",
	    O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	r = fz_write_fd_str(fd, v2 ? (frozen ? "1" : "0") :
	    (frozen ? "FROZEN" : "THAWED"));
	close(fd);
	return r;
}

/*
 * Is the group in dir set to be frozen (by anyone)?  1 yes, 0 no (v1:
 * THAWED), or a negative errno.
 */
int
fz_group_freezing(const char *dir, bool v2)
{
	char path[PATH_MAX], buf[32];
	ssize_t n;
	int r;

	if ((r = fz_join(path, sizeof(path), dir, v2 ? "/cgroup.freeze" :
	    "/freezer.state")) < 0)
		return r;
	if ((n = fz_read_small(path, buf, sizeof(buf))) < 0)
		return (int)n;
	return strncmp(buf, v2 ? "0" : "THAWED", v2 ? 1 : 6) != 0;
}

/* One file of the chain is root's, and nobody else may write it. */
static bool
root_only(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && st.st_uid == 0 &&
	    (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

/*
 * May a group stay frozen where it is, without anyone but root being
 * able to thaw it or to move a process out of it?  Its cgroup.freeze,
 * and from it up to the root every directory with its cgroup.procs and
 * cgroup.threads, are root's alone: a process moves only with write
 * access to the common ancestor's cgroup.procs, so none of it is
 * delegated (systemd hands those files to the user of a delegated
 * unit).
 */
bool
fz_cg_root_owned(const char *root, const char *cg)
{
	static const char *const files[] = { "", "/cgroup.procs",
		"/cgroup.threads" };
	char dir[PATH_MAX], path[PATH_MAX];
	char *slash;
	size_t i;
	int k;

	if (fz_cg_dir_root(root, cg, dir, sizeof(dir)) < 0 ||
	    fz_join(path, sizeof(path), dir, "/cgroup.freeze") < 0 ||
	    !root_only(path))
		return false;
	for (k = 0; k < FZ_UP_MAX; k++) {
		for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
			if (fz_join(path, sizeof(path), dir, files[i]) < 0 ||
			    !root_only(path))
				return false;
		/* up to the hierarchy's root, which is checked as well */
		if (strlen(dir) <= strlen(root) ||
		    (slash = strrchr(dir, '/')) == NULL)
			return true;
		*slash = '\0';
		if (strlen(dir) < strlen(root))
			return true;
	}
	return false;
}
