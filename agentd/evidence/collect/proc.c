/*
 * 03-processes.json: the process table from /proc, with the SHA-256 of
 * the executables that can be read safely (exefile.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collect.h"
#include "procstat.h"

/* ---- 03 processes: procfs ------------------------------------------- */

struct pstat {
	char comm[64];
	char state;
	long ppid;
	long threads;
	unsigned long long start;
	unsigned long long arg_start;	/* 0: no memory (zombie, kthread) */
	unsigned long long arg_end;
};

/* What the process list shows of /proc/PID/stat (procstat.h parses it). */
static int
parse_stat(const char *buf, struct pstat *ps)
{
	struct kk_pstat st;

	if (kk_pstat_parse(buf, &st) < 0)
		return -EBADMSG;
	snprintf(ps->comm, sizeof(ps->comm), "%s", st.comm);
	ps->state = st.state;
	ps->ppid = (long)st.f[KK_PSTAT_PPID];
	ps->threads = (long)st.f[KK_PSTAT_THREADS];
	ps->start = st.f[KK_PSTAT_START];
	/* 0 before Linux 3.5 (44 fields): no argument area known */
	ps->arg_start = st.f[KK_PSTAT_ARG_START];
	ps->arg_end = st.f[KK_PSTAT_ARG_END];
	return 0;
}

/*
 * Did the kernel leave out part of the arguments?  It reads them only
 * from anonymous memory (FOLL_ANON, since Linux 4.17: a file mapped over
 * them is never read, so a FUSE server cannot hold the read) and stops at
 * the first page it cannot read, so a hostile process can hide the rest
 * of its arguments, or all of them.  The whole area (up to what is read)
 * ends with a NUL, and so does a title set by setproctitle(3), which the
 * kernel reads up to its NUL: a shorter read ending inside a string is a
 * cut.  A cut just after a NUL looks whole, and is not seen.
 */
static bool
cmdline_short(const struct pstat *ps, const char *buf, ssize_t n)
{
	unsigned long long len;

	if (ps->arg_end <= ps->arg_start)
		return false;
	len = ps->arg_end - ps->arg_start;
	if (n <= 0)
		return true;
	return (unsigned long long)n < len && n < CMDLINE_MAX + 1 &&
	    buf[n - 1] != '\0';
}

/*
 * "Uid:\treal\teffective\tsaved\tfs" and the same for Gid; and the
 * effective capabilities, when it has any, as status shows them (16 hex
 * digits): which processes can do what root can (a cut status, past
 * 16 KiB of groups, has none to show).
 */
static void
set_ids(json_t *o, const char *status)
{
	unsigned long long r, e;
	const char *v = kk_status_field(status, "CapEff");
	char *end;

	if (kk_status_num(status, "Uid", 0, &r) == 0 &&
	    kk_status_num(status, "Uid", 1, &e) == 0) {
		col_set_int(o, "uid", (long long)r);
		col_set_int(o, "euid", (long long)e);
	}
	if (kk_status_num(status, "Gid", 0, &r) == 0 &&
	    kk_status_num(status, "Gid", 1, &e) == 0) {
		col_set_int(o, "gid", (long long)r);
		col_set_int(o, "egid", (long long)e);
	}
	if (v != NULL && strspn(v, "0123456789abcdef") == 16 &&
	    (v[16] == '\n' || v[16] == '\0') &&
	    (e = strtoull(v, &end, 16)) != 0 && end == v + 16)
		json_object_set_new(o, "cap_eff", kk_json_strn(v, 16));
}

/* The unified hierarchy's line ("0::/path"), else the first one. */
static void
set_cgroup(json_t *o, char *text)
{
	char *line, *save = NULL, *first = NULL, *p;

	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "0::", 3) == 0) {
			col_set_str(o, "cgroup", line + 3);
			return;
		}
		if (first == NULL)
			first = line;
	}
	if (first != NULL && (p = strchr(first, ':')) != NULL &&
	    (p = strchr(p + 1, ':')) != NULL)
		col_set_str(o, "cgroup", p + 1);
}

/* An executable to hash, found in pass one. */
struct exe_ref {
	dev_t dev;
	ino_t ino;
	off_t size;
	pid_t pid;
	size_t item;		/* index in the items */
};

static int
exe_cmp(const void *a, const void *b)
{
	const struct exe_ref *x = a, *y = b;

	return KK_CMP(x->dev, y->dev) ?:
	    KK_CMP(x->ino, y->ino) ?:
	    KK_CMP(x->pid, y->pid);
}

static json_t *
proc_item(struct collector *c, pid_t pid, struct exe_ref *ref, bool *hash)
{
	char path[96], exe[PATH_MAX], *buf;
	struct kk_exe_info info;
	struct pstat ps;
	json_t *o = NULL;
	ssize_t n;
	unsigned nth;
	bool incomplete;
	int r;

	*hash = false;
	/* status and cgroup files can be long (supplementary groups) */
	if ((buf = malloc(16384)) == NULL)
		return NULL;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (col_read_small(AT_FDCWD, path, buf, 16384) <= 0)
		goto out;	/* gone */
	memset(&ps, 0, sizeof(ps));
	if (parse_stat(buf, &ps) < 0)
		goto out;
	if ((o = json_object()) == NULL)
		goto out;
	col_set_int(o, "pid", pid);
	col_set_int(o, "ppid", ps.ppid);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (col_read_small(AT_FDCWD, path, buf, 16384) > 0)
		set_ids(o, buf);
	json_object_set_new(o, "comm", kk_json_str(ps.comm));
	json_object_set_new(o, "state", kk_json_strn(&ps.state, 1));
	col_set_int(o, "threads", ps.threads);
	col_set_int(o, "start_time", (long long)ps.start);
	if (c->btime > 0) {
		unsigned long long hz = (unsigned long long)c->hz;
		time_t sec = c->btime + (time_t)(ps.start / hz);
		long usec = (long)(ps.start % hz) * (1000000L / c->hz);
		char when[48];

		col_rfc3339_usec(sec, usec, when, sizeof(when));
		col_set_str(o, "started", when);
	}
	r = kk_exe_name(pid, exe, sizeof(exe));
	if ((n = (ssize_t)strlen(exe)) > 0) {
		col_set_str(o, "exe", exe);
		if (n > 10 && strcmp(exe + n - 10, " (deleted)") == 0)
			col_set_bool(o, "exe_deleted", true);
		/*
		 * The file itself, wherever it is (other mount ns, deleted),
		 * as the kernel holds it: no file system is asked (exefile.c).
		 */
		if (kk_exe_stat(pid, &info) == 0) {
			json_object_set_new(o, "exe_sha256", json_null());
			ref->dev = info.id.dev;
			ref->ino = info.id.ino;
			ref->size = (off_t)info.size;
			ref->pid = pid;
			*hash = true;
		}
	} else {
		/* kernel threads have none; anything else is worth saying */
		json_object_set_new(o, "exe", json_null());
		if (r < 0 && r != -ESRCH)
			col_set_str(o, "exe_error", strerror(-r));
	}
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	n = col_read_small(AT_FDCWD, path, buf, CMDLINE_MAX + 2);
	/* a leader that exited left no memory to read it from: a thread's */
	for (nth = 0; n <= 0 && ps.state == 'Z' && ps.threads > 1 &&
	    nth < KK_PROC_THREAD_TRIES &&
	    kk_proc_thread_dir(pid, nth, path, sizeof(path) - 8) == 0; nth++) {
		strcat(path, "/cmdline");
		n = col_read_small(AT_FDCWD, path, buf, CMDLINE_MAX + 2);
	}
	incomplete = cmdline_short(&ps, buf, n);
	if (n > 0) {
		ssize_t i;
		bool cut = n > CMDLINE_MAX;

		if (cut)
			n = CMDLINE_MAX;
		/* arguments are NUL-separated: spaces read better */
		for (i = 0; i < n; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		while (n > 0 && buf[n - 1] == ' ')
			n--;
		json_object_set_new(o, "cmdline", kk_json_strn(buf, (size_t)n));
		if (cut)
			col_set_bool(o, "cmdline_cut", true);
	}
	/* what is missing, and how large the whole was */
	if (incomplete) {
		col_set_bool(o, "cmdline_incomplete", true);
		col_set_int(o, "cmdline_area", (long long)(ps.arg_end -
		    ps.arg_start));
	}
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if (col_read_small(AT_FDCWD, path, buf, 16384) > 0)
		set_cgroup(o, buf);
out:
	free(buf);
	return o;
}

/*
 * Pass two: each distinct executable (device, inode) hashed once, through
 * /proc/PID/exe of a process that still runs it, and only where that may
 * be read (a regular file on a local file system, exefile.c): a FUSE or
 * network file could keep the worker waiting for ever.
 */
static void
hash_exes(struct collector *c, struct art *b, struct exe_ref *v, size_t n)
{
	struct kk_exe_info info;
	char hexs[65], why[256];
	size_t i, j, k, skipped = 0;
	uint64_t now = col_now_ns(), deadline;
	int fd, err;

	if (n == 0)
		return;
	/* at most half the time left, so later artifacts still get theirs */
	deadline = now + (c->deadline > now ? (c->deadline - now) / 2 : 0);
	qsort(v, n, sizeof(*v), exe_cmp);
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && v[j].dev == v[i].dev &&
		    v[j].ino == v[i].ino; j++)
			;
		why[0] = '\0';
		if ((uint64_t)v[i].size > HASH_FILE_MAX) {
			snprintf(why, sizeof(why), "larger than 256 MiB");
		} else if (col_now_ns() >= deadline) {
			snprintf(why, sizeof(why), "not hashed: time budget");
			skipped += j - i;
		} else {
			err = -ESRCH;
			fd = -1;
			snprintf(why, sizeof(why), "gone before hashing");
			for (k = i; k < j && fd < 0 && err != -EPERM; k++) {
				err = kk_exe_open(v[k].pid, &info, &fd, why,
				    sizeof(why));
				/* it may run another file by now */
				if (err == 0 && (info.id.dev != v[i].dev ||
				    info.id.ino != v[i].ino)) {
					close(fd);
					fd = -1;
					snprintf(why, sizeof(why),
					    "gone before hashing");
				}
			}
			if (fd >= 0) {
				err = kk_fd_sha256(fd, HASH_FILE_MAX, deadline,
				    hexs);
				close(fd);
				why[0] = '\0';
				if (err == -ETIMEDOUT) {
					snprintf(why, sizeof(why),
					    "not hashed: time budget");
					skipped += j - i;
				} else if (err == -EFBIG) {
					snprintf(why, sizeof(why),
					    "larger than 256 MiB");
				} else if (err < 0) {
					snprintf(why, sizeof(why), "%s",
					    strerror(-err));
				}
			}
		}
		for (k = i; k < j; k++) {
			json_t *item = json_array_get(b->items, v[k].item);

			/* HASH_RESERVE covers either member */
			if (why[0] == '\0')
				col_set_str(item, "exe_sha256", hexs);
			else
				json_object_set_new(item, "exe_hash_error",
				    kk_json_strn(why, strnlen(why,
				    HASH_WHY_MAX)));
		}
	}
	if (skipped > 0)
		col_art_error(b, "%zu executables not hashed (time budget)",
		    skipped);
}

void
collect_processes(struct collector *c, struct art *b)
{
	struct exe_ref *refs = NULL, ref;
	size_t nref = 0, capref = 0, nseen = 0;
	struct dirent *de;
	json_t *item;
	DIR *proc;
	pid_t pid;
	bool hash;

	if ((proc = opendir("/proc")) == NULL) {
		col_art_error(b, "/proc: %s", strerror(errno));
		return;
	}
	/* pass one, quick: the table as it is now */
	while (col_art_alive(b) && (de = readdir(proc)) != NULL) {
		if (!col_parse_pid(de->d_name, &pid))
			continue;
		if (++nseen > MAX_PROCS) {
			col_art_cut(b, "at most %d processes", MAX_PROCS);
			break;
		}
		if ((item = proc_item(c, pid, &ref, &hash)) == NULL)
			continue;	/* exited meanwhile */
		if (!col_art_push(b, item, hash ? HASH_RESERVE : 0))
			break;
		if (!hash)
			continue;
		if (kk_grow(&refs, &capref, nref, sizeof(*refs), 256,
		    MAX_PROCS) < 0) {
			col_art_error(b, "out of memory");
			break;
		}
		ref.item = b->n - 1;
		refs[nref++] = ref;
	}
	closedir(proc);
	/* pass two, slow: the executables */
	hash_exes(c, b, refs, nref);
	free(refs);
}
