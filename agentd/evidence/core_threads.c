/*
 * Stopping every thread of the target for the snapshot, and letting them
 * go: PTRACE_SEIZE + PTRACE_INTERRUPT, no signal sent (see core.c).  And
 * what stopping them cannot hold: another process on the same memory.
 */
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/kcmp.h>

#include "freezer.h"
#include "procstat.h"
#include "snapshot.h"

#define SEIZE_ROUNDS	64		/* re-scans of /proc/PID/task */
#define MAX_THREADS	65536
#define TID_SLOTS	(2 * MAX_THREADS)	/* tid -> entry, a power of two */
#define SHARED_SCAN_MAX	(1 << 20)	/* /proc entries looked at */
#define SHARED_SCAN_MS	2000		/* and at most this long */

size_t kk_snap_max_threads = MAX_THREADS;

static size_t
tid_slot(pid_t tid)
{
	return ((uint32_t)tid * 2654435761u) & (TID_SLOTS - 1);
}

/*
 * A new entry for tid (not one known: thread_of said so).  Entries are
 * found by a table of their tids: a search of the list at every tid of
 * every listing was quadratic, some 10^9 steps a round at 65,536
 * threads.  -E2BIG past kk_snap_max_threads.
 */
static int
add_thread(struct snap *sn, pid_t tid)
{
	size_t s;
	int err;

	if (sn->nt >= kk_snap_max_threads || sn->nt >= MAX_THREADS)
		return -E2BIG;
	if (sn->tidx == NULL &&
	    (sn->tidx = calloc(TID_SLOTS, sizeof(*sn->tidx))) == NULL)
		return -ENOMEM;
	if ((err = kk_grow(&sn->t, &sn->captb, sn->nt, sizeof(*sn->t), 64,
	    MAX_THREADS)) < 0)
		return err;
	sn->t[sn->nt].tid = tid;
	sn->t[sn->nt].state = T_NEW;
	sn->t[sn->nt].sig = 0;
	sn->t[sn->nt].other = false;
	for (s = tid_slot(tid); sn->tidx[s] != 0; s = (s + 1) & (TID_SLOTS - 1))
		;
	sn->tidx[s] = (uint32_t)sn->nt + 1;
	sn->nt++;
	return 0;
}

/* The entry of tid, or NULL. */
static struct thr *
thread_of(struct snap *sn, pid_t tid)
{
	size_t s;

	if (sn->tidx == NULL)
		return NULL;
	/* at most half full: an empty slot ends every search */
	for (s = tid_slot(tid); sn->tidx[s] != 0; s = (s + 1) & (TID_SLOTS - 1))
		if (sn->t[sn->tidx[s] - 1].tid == tid)
			return &sn->t[sn->tidx[s] - 1];
	return NULL;
}

/*
 * A tid listed in /proc/PID/task that this call has not seized: never
 * seen, or seen gone and listed again.  Thread ids come back quickly
 * where threads are made fast (pid_max can be 32768): a gone thread's
 * id is then a new thread, not one known.
 */
static bool
unseen_thread(struct snap *sn, pid_t tid)
{
	const struct thr *t = thread_of(sn, tid);

	if (t == NULL)
		return true;
	/* an exited leader stays listed while other threads run */
	return t->state == T_GONE && !(sn->leader_gone && tid == sn->pid);
}

/* The tids listed in /proc/PID/task, one at a time: 0 at the end. */
static pid_t
next_task(DIR *d)
{
	struct dirent *de;
	char *end;
	long v;

	while ((de = readdir(d)) != NULL) {
		errno = 0;
		v = strtol(de->d_name, &end, 10);
		if (errno == 0 && *end == '\0' && v > 0 && v <= INT_MAX)
			return (pid_t)v;
	}
	return 0;
}

static DIR *
open_tasks(const struct snap *sn)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task", (int)sn->pid);
	return opendir(path);
}

/*
 * How many threads the kernel counts in the target now (Threads: of its
 * status), 0 if that cannot be read.  A listing of /proc/PID/task is no
 * snapshot: it ends where the thread it stands on exits, and a new
 * thread joins at its end, so the thread that keeps a chain going is
 * the one it misses.  The count and the list change together (under the
 * tasklist lock): with the count read first, a listing of held threads
 * that shows fewer has missed one that runs.
 */
static size_t
task_count(const struct snap *sn)
{
	char path[64], *buf = NULL;
	unsigned long long c;
	size_t len, n = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)sn->pid);
	if (kk_read_text(path, SMALL_MAX, &buf, &len) < 0)
		return 0;
	if (kk_status_num(buf, "Threads", 0, &c) == 0 && c > 0 &&
	    c <= MAX_THREADS)
		n = (size_t)c;
	free(buf);
	return n;
}

/* What a listing of listed tids missed of count threads. */
static size_t
tasks_missed(size_t count, size_t listed)
{
	return count > listed ? count - listed : 0;
}

/*
 * Why a task of the target refused PTRACE_SEIZE with EPERM, where the
 * kernel says it for a task with an exit state (on its way out: gone)
 * or one traced already: by this thread, when another thread of the
 * target cloned it between its own seize and stop and it was listed
 * before that stop was seen (it is then ours, seized).
 */
enum { SEIZE_REFUSED, SEIZE_GONE, SEIZE_OURS };

static int
seize_refusal(const struct snap *sn, pid_t tid)
{
	char path[96], *buf = NULL;
	unsigned long long tracer;
	const char *state;
	size_t len;
	int why = SEIZE_REFUSED;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)sn->pid,
	    (int)tid);
	if (kk_read_text(path, SMALL_MAX, &buf, &len) < 0)
		return SEIZE_GONE;
	state = kk_status_field(buf, "State");
	if (state == NULL || *state == 'Z' || *state == 'X')
		why = SEIZE_GONE;
	else if (kk_status_num(buf, "TracerPid", 0, &tracer) == 0 &&
	    tracer == (unsigned long long)syscall(SYS_gettid))
		why = SEIZE_OURS;
	free(buf);
	return why;
}

/*
 * Seizes and interrupts every thread not seen before; *added counts
 * them, and the ones gone before they could be seized (a thread that
 * made its successor first); *missed, threads the listing did not show
 * (task_count).  PTRACE_O_TRACECLONE: a thread that makes
 * another between its seize and its stop hands it over seized
 * (wait_stops takes it), so a chain of threads, each making the next
 * and ending, is held once any one of its links is seized.
 */
static int
seize_new(struct snap *sn, size_t *added, size_t *missed)
{
	size_t count = task_count(sn), listed = 0;
	struct thr *t;
	DIR *d;
	int err = 0, why;
	pid_t tid;

	*added = 0;
	*missed = 0;
	if ((d = open_tasks(sn)) == NULL)
		return errno == ENOENT ? -ESRCH : -errno;
	while ((tid = next_task(d)) != 0) {
		listed++;
		if (!unseen_thread(sn, tid))
			continue;
		if ((t = thread_of(sn, tid)) == NULL) {
			/*
			 * Past the most threads held, the others run on and
			 * their registers are missing (counted unstopped):
			 * the core is taken all the same, incomplete.
			 */
			if ((err = add_thread(sn, tid)) == -E2BIG) {
				sn->over_threads = true;
				err = 0;
				continue;
			}
			if (err < 0)
				goto out;
			t = &sn->t[sn->nt - 1];
		}
		t->state = T_NEW;
		t->sig = 0;
		/* an exited leader has nothing to stop (and refuses ptrace) */
		if (sn->leader_gone && t->tid == sn->pid) {
			t->state = T_GONE;
			continue;
		}
		if (ptrace(PTRACE_SEIZE, t->tid, NULL,
		    (void *)(long)PTRACE_O_TRACECLONE) < 0) {
			int e = errno;

			why = e == ESRCH ? SEIZE_GONE : e == EPERM ?
			    seize_refusal(sn, t->tid) : SEIZE_REFUSED;
			if (why != SEIZE_REFUSED) {
				/* ours stops by itself (PTRACE_EVENT_STOP) */
				t->state = why == SEIZE_OURS ? T_SEIZED :
				    T_GONE;
				(*added)++;
				continue;
			}
			t->state = T_REFUSED;
			if (sn->seize_err == 0)
				sn->seize_err = -e;
			continue;
		}
		t->state = T_SEIZED;
		if (ptrace(PTRACE_INTERRUPT, t->tid, NULL, NULL) < 0 &&
		    errno == ESRCH) {
			/* exited already: waitpid reports it */
		}
		(*added)++;
	}
	*missed = tasks_missed(count, listed);
out:
	closedir(d);
	return err;
}

/*
 * A seized thread stopped at its clone: the new task is seized too, and
 * stops on its own (PTRACE_EVENT_STOP).  A thread of the target is
 * waited for like the others.  A process of its own (clone without
 * CLONE_THREAD) is not part of the core: it is let go at its stop, and
 * if it shares the memory find_shared names it.
 */
static int
take_clone(struct snap *sn, pid_t parent)
{
	unsigned long msg = 0;
	char path[64];
	struct thr *t;
	pid_t tid;
	int err, fd;

	if (ptrace(PTRACE_GETEVENTMSG, parent, NULL, &msg) < 0 || msg == 0 ||
	    msg > INT_MAX)
		return 0;
	tid = (pid_t)msg;
	if ((t = thread_of(sn, tid)) == NULL) {
		if ((err = add_thread(sn, tid)) < 0) {
			sn->lost++;
			return err;
		}
		t = &sn->t[sn->nt - 1];
	}
	/* listed and seized (SEIZE_OURS), its stop may be in already */
	if (t->state == T_STOPPED)
		return 0;
	t->state = T_SEIZED;
	t->sig = 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d", (int)sn->pid,
	    (int)tid);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	t->other = fd < 0;
	kk_close(fd);
	return 0;
}

/* Collects the stops (or deaths) of seized threads until deadline. */
static void
wait_stops(struct snap *sn, uint64_t deadline)
{
	struct timespec nap;
	long ns = 20000;
	size_t i, pending;
	int st;
	pid_t r;

	for (;;) {
		pending = 0;
		for (i = 0; i < sn->nt; i++) {
			struct thr *t = &sn->t[i];

			if (t->state != T_SEIZED)
				continue;
			r = waitpid(t->tid, &st, __WALL | WNOHANG);
			if (r == 0) {
				pending++;
				continue;
			}
			if (r < 0) {
				if (errno == EINTR) {
					pending++;
					continue;
				}
				/* not ours any more (reaped elsewhere) */
				t->state = T_GONE;
				continue;
			}
			if (WIFSTOPPED(st)) {
				t->state = T_STOPPED;
				/*
				 * A signal-delivery-stop holds a signal the
				 * thread has not seen yet: give it back on
				 * detach.  Interrupt and group stops carry
				 * PTRACE_EVENT_STOP and give nothing back.
				 */
				if ((st >> 16) == 0)
					t->sig = WSTOPSIG(st);
				else if ((st >> 16) == PTRACE_EVENT_CLONE) {
					/* may move sn->t: t is not used after */
					take_clone(sn, t->tid);
					pending++;
				} else if (t->other) {
					ptrace(PTRACE_DETACH, t->tid, NULL,
					    NULL);
					t->state = T_GONE;
				}
			} else if (WIFEXITED(st) || WIFSIGNALED(st))
				t->state = T_GONE;
		}
		if (pending == 0 || snap_now_ms() >= deadline)
			break;
		nap.tv_sec = 0;
		nap.tv_nsec = ns;
		nanosleep(&nap, NULL);
		if (ns < 1000000)
			ns *= 2;
	}
}

/*
 * Another process on the target's memory.  clone(CLONE_VM) without
 * CLONE_THREAD makes a process of its own (a twin) that shares the mm:
 * stopping the target's threads does not stop it, and it can rewrite
 * what the core is read from.  Only a process that has not exec'd since
 * its fork can be one (PF_FORKNOEXEC).  The fields of /proc/PID/stat
 * that the mm holds (where code, data, heap, stack, arguments and
 * environment begin and end; its size and resident pages) are read from
 * the one mm, so a twin shows the target's, all of them; a child forked
 * without exec starts with the same addresses but an mm of its own.
 * kcmp(KCMP_VM) then says so exactly, where it may be called: not under
 * the seccomp filter of an evidence worker, which kills the caller of a
 * system call it does not allow.  There the resident pages, read twice
 * from both with nothing between, stand in (a forked child does not map
 * the file pages its parent had, until it touches them).
 */

/*
 * /proc/PID/stat fields that the mm holds: vsize, rss, startcode,
 * endcode, startstack, and start_data up to env_end
 */
static const int mm_fields[] = {
	23, 24, 26, 27, 28, 45, 46, 47, 48, 49, 50, KK_PSTAT_ENV_END
};

struct mmid {
	char state;
	unsigned long flags;
	unsigned long long v[sizeof(mm_fields) / sizeof(mm_fields[0])];
};

static int
read_mmid(pid_t pid, struct mmid *m)
{
	struct kk_pstat st;
	size_t i;
	int err;

	if ((err = kk_pstat_read(pid, 0, &st)) < 0)
		return err;
	if (st.last < KK_PSTAT_ENV_END)
		return -EBADMSG;
	m->state = st.state;
	m->flags = (unsigned long)st.f[KK_PSTAT_FLAGS];
	for (i = 0; i < sizeof(mm_fields) / sizeof(mm_fields[0]); i++)
		m->v[i] = st.f[mm_fields[i]];
	return 0;
}

static bool
same_mmid(const struct mmid *a, const struct mmid *b)
{
	return memcmp(a->v, b->v, sizeof(a->v)) == 0;
}

/*
 * May this process call kcmp?  Without a seccomp filter, or under one
 * that was said to let KCMP_VM through (kk_snapshot_kcmp_filtered_ok):
 * under any other filter it kills.  A filter is never taken off, and a
 * child inherits it: once one is seen, this process and those it forks
 * are asked no more (an evidence worker, each of whose snapshots asked
 * here, reads its status once).  Without one, it is asked every time: a
 * filter may come later (a worker is forked without one and confines
 * itself).
 */
static bool kcmp_filter_ok;

void
kk_snapshot_kcmp_filtered_ok(void)
{
	kcmp_filter_ok = true;
}

static bool
kcmp_allowed(void)
{
	static bool filtered;		/* under cands.lock */
	unsigned long long mode;
	char *buf = NULL;
	size_t len;
	bool ok = false;

	if (kcmp_filter_ok)
		return true;
	if (filtered)
		return false;
	/* Seccomp: stands after Groups:, which has no bound: read it all */
	if (kk_read_text("/proc/self/status", SMALL_MAX, &buf, &len) < 0)
		return false;
	if (kk_status_num(buf, "Seccomp", 0, &mode) == 0) {
		ok = mode == 0;
		filtered = !ok;
	}
	free(buf);
	return ok;
}

/* Does pid share the target's mm?  Its stat (m) matches already. */
static bool
shares_mm(const struct snap *sn, pid_t pid, const struct mmid *tm,
    bool kcmp_ok)
{
	struct mmid a, b;

	if (kcmp_ok)
		return syscall(SYS_kcmp, sn->pid, pid, KCMP_VM, 0UL, 0UL) == 0;
	return read_mmid(pid, &a) == 0 && read_mmid(sn->pid, &b) == 0 &&
	    same_mmid(&a, tm) && same_mmid(&b, tm);
}

/*
 * Is pid in a frozen cgroup (v2: cgroup.events says "frozen 1"; v1:
 * freezer.state FROZEN), the hierarchies mounted at mnt[0] (v2) and
 * mnt[1] (v1), "" if not?  What cannot be read is not known to hold.
 */
static bool
in_frozen_cgroup(pid_t pid, char mnt[2][PATH_MAX])
{
	char dir[PATH_MAX * 2], cg[PATH_MAX];
	int i;

	for (i = 0; i < 2; i++)
		if (mnt[i][0] != '\0' &&
		    fz_read_cgroup(pid, i == 0, cg, sizeof(cg)) == 0 &&
		    fz_cg_dir_root(mnt[i], cg, dir, sizeof(dir)) == 0 &&
		    fz_wait_frozen_dir(dir, i == 0, NULL) == 0)
			return true;
	return false;
}

/* Is pid held still?  Stopped or traced, or in a frozen cgroup. */
static bool
held_still(pid_t pid, char state, char mnt[2][PATH_MAX])
{
	return state == 'T' || state == 't' || in_frozen_cgroup(pid, mnt);
}

/*
 * Is dir (a group of the hierarchy mounted at mnt), or a group above it,
 * frozen in a file that only root may write: cgroup.freeze "1" (v2),
 * freezer.state FROZEN or FREEZING (v1)?  A user freezes and thaws the
 * groups of a subtree systemd delegates to him as he likes.  On v2 that
 * group and every one above it must also keep their tasks root's
 * (fz_cg_root_owned): a task moves only with write access to the common
 * ancestor's cgroup.procs, and a root-owned frozen group made inside a
 * delegated subtree would let its user move the task to a sibling.
 * Bounded by the depth of the path.
 */
static bool
frozen_by_root(char *dir, const char *mnt, bool v2)
{
	size_t mlen = strlen(mnt);
	char path[PATH_MAX * 2 + 32], buf[32], *slash;
	struct stat st;
	bool frozen;
	ssize_t n;
	int fd;

	while (strlen(dir) > mlen) {
		snprintf(path, sizeof(path), "%s/%s", dir, v2 ?
		    "cgroup.freeze" : "freezer.state");
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0) {
			n = fstat(fd, &st) == 0 && st.st_uid == 0 &&
			    (st.st_mode & 022) == 0 ?
			    pread(fd, buf, sizeof(buf) - 1, 0) : -1;
			close(fd);
			buf[n > 0 ? n : 0] = '\0';
			if (v2)
				frozen = strcmp(buf, "1\n") == 0 &&
				    fz_cg_root_owned(mnt, strcmp(mnt, "/") ==
				    0 ? dir : dir + mlen);
			else
				frozen = strncmp(buf, "FROZEN", 6) == 0 ||
				    strncmp(buf, "FREEZING", 8) == 0;
			if (frozen)
				return true;
		}
		if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
			break;
		*slash = '\0';
	}
	return false;
}

/*
 * Why thread tid refused ptrace, in words: "traced by pid N" when it has
 * a tracer, else what the kernel said (an LSM, a policy).
 */
const char *
snap_tracer_words(const struct snap *sn, pid_t tid, char *out, size_t len)
{
	char path[96], *buf = NULL;
	unsigned long long tracer = 0;
	size_t blen;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)sn->pid,
	    (int)tid);
	if (kk_read_text(path, SMALL_MAX, &buf, &blen) == 0 &&
	    kk_status_num(buf, "TracerPid", 0, &tracer) == 0 && tracer > 0)
		snprintf(out, len, "traced by pid %llu", tracer);
	else
		snprintf(out, len, "%s", strerror(-sn->seize_err));
	free(buf);
	return out;
}

/*
 * The first thread of the target that refused ptrace and is not held by
 * a freezer only root can undo (frozen_by_root), 0 if none.  A stop is
 * not enough here: the tracer that holds it (anti-debugging malware
 * traces itself) lets it run whenever it likes.  "frozen 1" is not asked
 * for either: one task of the group held in a FUSE wait keeps it away
 * for ever, while once the freeze is set no thread returns to its code.
 */
pid_t
snap_refused_running(const struct snap *sn)
{
	char mnt[2][PATH_MAX], cg[PATH_MAX], dir[PATH_MAX * 2];
	bool held;
	size_t i;
	int v;

	if (fz_find_mount(false, mnt[0], sizeof(mnt[0])) < 0)
		mnt[0][0] = '\0';
	if (fz_find_mount(true, mnt[1], sizeof(mnt[1])) < 0)
		mnt[1][0] = '\0';
	for (i = 0; i < sn->nt; i++) {
		if (sn->t[i].state != T_REFUSED)
			continue;
		for (v = 0, held = false; v < 2 && !held; v++)
			held = mnt[v][0] != '\0' &&
			    fz_read_task_cgroup(sn->pid, sn->t[i].tid, v == 0,
			    cg, sizeof(cg)) == 0 &&
			    fz_cg_dir_root(mnt[v], cg, dir, sizeof(dir)) == 0 &&
			    frozen_by_root(dir, mnt[v], v == 0);
		if (!held)
			return sn->t[i].tid;
	}
	return 0;
}

/*
 * The processes that could be twins, as a scan of /proc found them:
 * listing /proc and reading every stat costs tens of milliseconds on a
 * host with thousands of processes, and a snapshot of the frozen takes
 * hundreds of them in a row.  A scan is used for SHARED_CACHE_MS; what
 * it holds is read again before it counts.  One snapshot at a time per
 * process reads it (kk_snapshot_process waits for its thread), the lock
 * is for the day that changes.
 */
#define SHARED_CACHE_MS	1000
#define SHARED_CAND_MAX	65536

static struct {
	pthread_mutex_t lock;
	uint64_t at;		/* when it was scanned, 0 never */
	struct {
		pid_t pid;
		struct mmid m;
		bool held;	/* found held still (frozen) in this scan */
	} *v;
	size_t n;
	size_t cap;
	char mnt[2][PATH_MAX];	/* the freezers: cgroup2, v1 */
} cands = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void
cands_scan(void)
{
	uint64_t now = snap_now_ms(), deadline = now + SHARED_SCAN_MS;
	struct dirent *de;
	struct mmid m;
	size_t i;
	char *end;
	long v;
	DIR *d;

	if (cands.at != 0 && now - cands.at < SHARED_CACHE_MS)
		return;
	cands.n = 0;
	cands.at = now;
	if (fz_find_mount(false, cands.mnt[0], sizeof(cands.mnt[0])) < 0)
		cands.mnt[0][0] = '\0';
	if (fz_find_mount(true, cands.mnt[1], sizeof(cands.mnt[1])) < 0)
		cands.mnt[1][0] = '\0';
	if ((d = opendir("/proc")) == NULL)
		return;
	for (i = 0; i < SHARED_SCAN_MAX && (de = readdir(d)) != NULL; i++) {
		if ((i & 255) == 0 && snap_now_ms() >= deadline)
			break;
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		errno = 0;
		v = strtol(de->d_name, &end, 10);
		if (errno != 0 || *end != '\0' || v <= 0 || v > INT_MAX)
			continue;
		if (read_mmid((pid_t)v, &m) < 0 || (m.flags & PF_KTHREAD) ||
		    !(m.flags & PF_FORKNOEXEC) || fz_gone_state(m.state))
			continue;
		if (kk_grow(&cands.v, &cands.cap, cands.n, sizeof(*cands.v),
		    64, SHARED_CAND_MAX) < 0)
			break;
		cands.v[cands.n].pid = (pid_t)v;
		cands.v[cands.n].held = false;
		cands.v[cands.n++].m = m;
	}
	closedir(d);
}

/* Where the mm's areas begin and end: what a fork keeps, all of it. */
static bool
same_layout(const struct mmid *a, const struct mmid *b)
{
	return memcmp(a->v + 2, b->v + 2, sizeof(a->v) - 2 *
	    sizeof(a->v[0])) == 0;
}

/*
 * After the threads are stopped: the first live process that shares the
 * target's memory and is not held still goes into sn->shared_with.
 * Bounded in entries and time.
 */
static void
find_shared(struct snap *sn)
{
	struct mmid tm, m;
	bool kcmp_ok;
	size_t i;
	pid_t pid;

	sn->shared_with = 0;
	if (read_mmid(sn->pid, &tm) < 0)
		return;
	pthread_mutex_lock(&cands.lock);
	kcmp_ok = kcmp_allowed();
	cands_scan();
	for (i = 0; i < cands.n && sn->shared_with == 0; i++) {
		pid = cands.v[i].pid;
		/*
		 * Without kcmp the whole of it must match, as scanned: the
		 * frozen children of one parent, hundreds of them, all
		 * look alike but for that, and each is asked once.
		 */
		if (pid == sn->pid || cands.v[i].held ||
		    !(kcmp_ok ? same_layout(&cands.v[i].m, &tm) :
		    same_mmid(&cands.v[i].m, &tm)))
			continue;
		/* as it is now */
		if (read_mmid(pid, &m) < 0 || !same_layout(&m, &tm) ||
		    fz_gone_state(m.state) || !shares_mm(sn, pid, &tm,
		    kcmp_ok))
			continue;
		if ((cands.v[i].held = held_still(pid, m.state, cands.mnt)))
			continue;
		sn->shared_with = pid;
	}
	pthread_mutex_unlock(&cands.lock);
}

/*
 * The core was read while another process could write its memory: it is
 * marked incomplete, and the snapshot's error names that process.  err
 * as it was, or -EBUSY.
 */
int
snap_shared_mark(struct snap *sn, struct kk_artifact *a, int err)
{
	if (err < 0 || sn->shared_with == 0)
		return err;
	kk_artifact_incomplete(a, "memory shared with pid %d, which was not "
	    "stopped: it may have changed while it was read",
	    (int)sn->shared_with);
	snap_set_err(sn, "%s", a->error);
	return -EBUSY;
}

/*
 * Threads now that this call never held: made faster than they were
 * seized, for SEIZE_ROUNDS rounds, listed or missed by the listing.
 * Held threads make none, so when this is 0 nothing of the process runs.
 */
static size_t
unseen_now(struct snap *sn)
{
	size_t count = task_count(sn), n = 0, i;
	DIR *d;
	pid_t tid;

	if ((d = open_tasks(sn)) == NULL)
		return 0;
	for (i = 0; i < MAX_THREADS && (tid = next_task(d)) != 0; i++)
		if (unseen_thread(sn, tid))
			n++;
	closedir(d);
	return n + tasks_missed(count, i);
}

/*
 * Stops every thread.  New threads can appear until their creator is
 * stopped, so /proc/PID/task is read again until nothing new shows up.
 */
int
snap_stop_threads(struct snap *sn)
{
	uint64_t deadline = snap_now_ms() + STOP_TIMEOUT_MS;
	size_t added, missed, i;
	int round, err;

	for (round = 0; round < SEIZE_ROUNDS; round++) {
		if ((err = seize_new(sn, &added, &missed)) < 0)
			return err;
		if (added == 0 && (missed == 0 || snap_now_ms() >= deadline))
			break;
		/* a missed thread may be on its way out: list again */
		wait_stops(sn, deadline);
	}
	sn->unstopped = sn->lost;
	for (i = 0; i < sn->nt; i++)
		if (sn->t[i].state == T_SEIZED && !sn->t[i].other)
			sn->unstopped++;
	sn->unstopped += unseen_now(sn);
	find_shared(sn);
	return 0;
}

void
snap_detach_threads(struct snap *sn)
{
	size_t i;

	for (i = 0; i < sn->nt; i++) {
		struct thr *t = &sn->t[i];

		/*
		 * Only a stopped tracee can be detached; one still on its
		 * way is let go when this thread exits.
		 */
		if (t->state != T_STOPPED)
			continue;
		ptrace(PTRACE_DETACH, t->tid, NULL,
		    (void *)(long)t->sig);
		t->state = T_GONE;
	}
}
