/*
 * What /proc says about processes, for the freezer: stat, status, exe
 * and cgroup of one process; every process at once (a table sorted by
 * parent); /proc listed a few entries at a time; whether what a process
 * runs is what a selector names.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "freezer.h"
#include "procstat.h"

/* exe (a readlink of /proc/PID/exe) names path, also once it was deleted. */
bool
fz_exe_is(const char *exe, const char *path)
{
	size_t n = strlen(path);

	if (n == 0)
		return false;
	return strncmp(exe, path, n) == 0 &&
	    (exe[n] == '\0' || strcmp(exe + n, FZ_DELETED) == 0);
}

/*
 * What the freezer needs of /proc/PID/stat (procstat.h parses it).  A
 * process whose leader has exited while its other threads run is not
 * gone, whatever its leader's Z says: its state is FZ_STATE_LEADER_GONE
 * (a process can look dead that way on purpose, to be left alone).  The
 * thread count is the one of the same stat line: status has it too, but
 * after "Groups:", which a process with many supplementary groups makes
 * longer than any buffer a reader would size for status.
 */
int
fz_read_pstat(pid_t pid, struct pstat *ps)
{
	struct kk_pstat st;
	int err;

	memset(ps, 0, sizeof(*ps));
	if ((err = kk_pstat_read(pid, 0, &st)) < 0)
		return err;
	ps->pid = pid;
	ps->state = st.state;
	ps->ppid = (pid_t)st.f[KK_PSTAT_PPID];
	ps->flags = (unsigned long)st.f[KK_PSTAT_FLAGS];
	ps->start = st.f[KK_PSTAT_START];
	if (ps->state == 'Z' && st.f[KK_PSTAT_THREADS] > 1)
		ps->state = FZ_STATE_LEADER_GONE;
	return 0;
}

bool
fz_gone_state(char s)
{
	return s == 'Z' || s == 'X' || s == 'x';
}

/* The real uid (and the thread group) from /proc/PID/status. */
int
fz_read_status(pid_t pid, uid_t *uid, pid_t *tgid)
{
	char buf[4096];
	unsigned long long v;
	ssize_t n;

	if ((n = kk_status_read(pid, 0, buf, sizeof(buf))) < 0)
		return (int)n;
	if (uid != NULL) {
		if (kk_status_num(buf, "Uid", 0, &v) < 0 || v > UINT32_MAX)
			return -EBADMSG;
		*uid = (uid_t)v;
	}
	if (tgid != NULL) {
		if (kk_status_num(buf, "Tgid", 0, &v) < 0 || v == 0 ||
		    v > INT32_MAX)
			return -EBADMSG;
		*tgid = (pid_t)v;
	}
	return 0;
}

/*
 * The process's group in a hierarchy: the "0::" line of /proc/PID/cgroup
 * for cgroup2 (v1opt NULL), else the line listing v1opt ("freezer",
 * "name=systemd").
 */
static int
cgroup_line(const char *path, const char *v1opt, char *out, size_t len)
{
	char buf[8192], *line, *save, *c1, *c2;
	ssize_t n;

	if ((n = fz_read_small(path, buf, sizeof(buf))) < 0)
		return n == -ENOENT ? -ESRCH : (int)n;
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if ((c1 = strchr(line, ':')) == NULL ||
		    (c2 = strchr(c1 + 1, ':')) == NULL)
			continue;
		*c1 = '\0';
		*c2 = '\0';
		if (v1opt == NULL ? strcmp(line, "0") != 0 || c1[1] != '\0' :
		    !fz_has_opt(c1 + 1, v1opt))
			continue;
		if (strlen(c2 + 1) >= len)
			return -ENAMETOOLONG;
		strcpy(out, c2 + 1);
		return 0;
	}
	return -ENOENT;
}

int
fz_read_cgroup_opt(pid_t pid, const char *v1opt, char *out, size_t len)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	return cgroup_line(path, v1opt, out, len);
}

/* A thread's group, as its own task directory of pid says it. */
int
fz_read_task_cgroup(pid_t pid, pid_t tid, bool v2, char *out, size_t len)
{
	char path[96];

	snprintf(path, sizeof(path), "/proc/%d/task/%d/cgroup", (int)pid,
	    (int)tid);
	return cgroup_line(path, v2 ? NULL : "freezer", out, len);
}

/* The group in our hierarchy: cgroup2, or the v1 freezer's. */
int
fz_read_cgroup(pid_t pid, bool v2, char *out, size_t len)
{
	return fz_read_cgroup_opt(pid, v2 ? NULL : "freezer", out, len);
}

/*
 * The same for a process as fz_read_pstat saw it.  A leader that has
 * exited keeps the group it died in, whatever its threads have been moved
 * to since: then a live thread's group is the process's.
 */
int
fz_read_cgroup_opt_ps(const struct pstat *ps, const char *v1opt, char *out,
    size_t len)
{
	char path[96];
	unsigned nth;
	int r = -ESRCH;

	if (ps->state != FZ_STATE_LEADER_GONE)
		return fz_read_cgroup_opt(ps->pid, v1opt, out, len);
	/* a thread that exits meanwhile: the next one */
	for (nth = 0; nth < KK_PROC_THREAD_TRIES && r == -ESRCH; nth++) {
		if ((r = kk_proc_thread_dir(ps->pid, nth, path,
		    sizeof(path) - 8)) < 0)
			break;
		strcat(path, "/cgroup");
		r = cgroup_line(path, v1opt, out, len);
	}
	return r == -ENOENT ? -ESRCH : r;
}

int
fz_read_cgroup_ps(const struct pstat *ps, bool v2, char *out, size_t len)
{
	return fz_read_cgroup_opt_ps(ps, v2 ? NULL : "freezer", out, len);
}

static int
cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Every process in /proc (thread group leaders), as one table, but for
 * those in skip (sorted): processes frozen in place, whose parents are
 * known already, are not read again.
 */
int
fz_scan_proc_except(struct ptab *t, const pid_t *skip, size_t nskip)
{
	struct dirent *de;
	struct pstat ps;
	char *end;
	pid_t pid;
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
		pid = (pid_t)v;
		if (nskip > 0 && bsearch(&pid, skip, nskip, sizeof(*skip),
		    cmp_pid) != NULL)
			continue;
		if (fz_read_pstat(pid, &ps) < 0)
			continue;	/* exited meanwhile */
		if ((r = kk_grow(&t->v, &t->cap, t->n, sizeof(*t->v), 1024,
		    FZ_SCAN_MAX)) < 0)
			break;
		t->v[t->n++] = ps;
	}
	closedir(d);
	return r;
}

int
fz_scan_proc(struct ptab *t)
{
	return fz_scan_proc_except(t, NULL, 0);
}

/*
 * The children of pid, from /proc/PID/task/TID/children of each of its
 * threads, appended to *v (*n of *cap).  Exact only while they cannot
 * fork or exit (frozen).  -ENOTSUP when the kernel has no such file
 * (CONFIG_PROC_CHILDREN), -ESRCH when pid is gone.
 */
int
fz_children(pid_t pid, pid_t **v, size_t *n, size_t *cap)
{
	char path[96], buf[4096], *p, *end;
	struct dirent *de;
	size_t off;
	ssize_t k;
	long c;
	DIR *d;
	int fd, e, r = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL)
		return errno == ENOENT ? -ESRCH : -errno;
	while (r == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/children",
		    (int)pid, de->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
			/* the thread exited, or there is no such file at all */
			e = errno;
			snprintf(path, sizeof(path), "/proc/%d/task/%.16s",
			    (int)pid, de->d_name);
			if (e != ENOENT || access(path, F_OK) == 0)
				r = e == ENOENT ? -ENOTSUP : -e;
			continue;
		}
		/* a list of pids, read in pieces: one may be cut in two */
		off = 0;
		while (r == 0 && (k = read(fd, buf + off,
		    sizeof(buf) - 1 - off)) > 0) {
			buf[off + (size_t)k] = '\0';
			for (p = buf; ; p = end) {
				while (*p == ' ')
					p++;
				c = strtol(p, &end, 10);
				if (end == p || *end == '\0')
					break;	/* none, or maybe cut */
				if (c <= 0 || c > INT_MAX) {
					r = -EBADMSG;
					break;
				}
				if ((r = kk_grow(v, cap, *n, sizeof(**v), 64,
				    FZ_SCAN_MAX)) < 0)
					break;
				(*v)[(*n)++] = (pid_t)c;
			}
			off = strlen(p);
			memmove(buf, p, off + 1);
		}
		/* the last one (the file ends with a space: none left) */
		if (r == 0 && off > 0 && (c = strtol(buf, &end, 10)) > 0 &&
		    c <= INT_MAX && end != buf) {
			if ((r = kk_grow(v, cap, *n, sizeof(**v), 64,
			    FZ_SCAN_MAX)) == 0)
				(*v)[(*n)++] = (pid_t)c;
		}
		close(fd);
	}
	closedir(d);
	return r;
}

int
fz_cmp_pid(const void *a, const void *b)
{
	return KK_CMP(*(const pid_t *)a, *(const pid_t *)b);
}

int
fz_cmp_ppid(const void *a, const void *b)
{
	const struct pstat *x = a, *y = b;

	return KK_CMP(x->ppid, y->ppid) ?: KK_CMP(x->pid, y->pid);
}

/* Index of the first entry of t (sorted by ppid) whose parent is ppid. */
size_t
fz_first_child(const struct ptab *t, pid_t ppid)
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

int
fz_proclist_open(struct proclist *pl)
{
	pl->len = pl->off = 0;
	pl->fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return pl->fd < 0 ? -errno : 0;
}

/* The next pid, 0 at the end. */
pid_t
fz_proclist_next(struct proclist *pl)
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

/* Does the selector list the file (device, inode)? */
bool
fz_file_listed(const struct kk_selector *sel, const struct kk_file_id *id)
{
	size_t i;

	for (i = 0; i < sel->nfiles; i++)
		if (sel->files[i].dev == id->dev &&
		    sel->files[i].ino == id->ino)
			return true;
	return false;
}
