/*
 * freeze-bench [N [ROUNDS]]: how long kakuri takes to freeze a process
 * tree, against the baseline a responder would otherwise use, a SIGSTOP
 * loop.
 *
 * A parent process forks N (default 1000) children that only pause().
 * (a) kk_freeze with a pid selector on that parent (tree), from the call
 *     until it returns with "frozen 1" (v1: FROZEN) confirmed; thawed
 *     with kk_thaw between rounds.
 * (b) kill(SIGSTOP) to the same N + 1 processes, then /proc/PID/stat
 *     read until every one shows state 'T'; SIGCONT between rounds.
 * ROUNDS (default 5) of each; the medians and their ratio are printed:
 *
 *   freeze 1000 procs: cgroup2 median X ms, SIGSTOP loop median Y ms,
 *   ratio Y/X = Z
 *
 * It touches only its own children: it is their subreaper, and at the
 * end kills (by pid) and reaps every one of them.  Needs root (cgroups).
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evidence.h"

#define MAX_PROCS	20000
#define MAX_ROUNDS	100
#define WAIT_S		60	/* for the children to start, or to stop */

struct shared {
	int started;
	pid_t pids[MAX_PROCS];
};

static struct shared *sh;
static pid_t parent_pid;
static int nprocs;

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The state letter of /proc/PID/stat, 0 if it cannot be read. */
static char
proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return 0;
	return p[2];
}

/* Every process of the test tree: the parent and its N children. */
static pid_t
proc_at(int i)
{
	return i == 0 ? parent_pid : sh->pids[i - 1];
}

static void __attribute__((noreturn))
parent_main(pid_t bench)
{
	pid_t me = getpid(), p;
	int i;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != bench)
		_exit(1);
	for (i = 0; i < nprocs; i++) {
		p = fork();
		if (p < 0)
			_exit(1);
		if (p == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != me)
				_exit(1);
			sh->pids[i] = getpid();
			__atomic_fetch_add(&sh->started, 1, __ATOMIC_SEQ_CST);
			for (;;)
				pause();
		}
	}
	for (;;)
		pause();
}

/*
 * kill + reap by pid.  The parent first: by the time it has been reaped,
 * its children have been handed to us (the subreaper).
 */
static void
cleanup(void)
{
	int i;

	if (parent_pid <= 0)
		return;
	for (i = 0; i <= nprocs; i++)
		if (proc_at(i) > 0)
			kill(proc_at(i), SIGKILL);
	for (i = 0; i <= nprocs; i++)
		if (proc_at(i) > 0)
			while (waitpid(proc_at(i), NULL, 0) < 0 &&
			    errno == EINTR)
				;
}

static int
freeze_round(struct kk_freezer *fz, const char *group, double *ms)
{
	struct kk_freeze_guard guard = { 0 };	/* no kakurid here */
	struct kk_frozen_set set = { 0 }, thawed = { 0 };
	struct kk_selector sel;
	char err[512] = "";
	size_t gone;
	double t0, t1;
	int r;

	memset(&sel, 0, sizeof(sel));
	sel.kind = KK_SEL_PID;
	sel.pid = parent_pid;
	sel.tree = true;
	t0 = now_ms();
	r = kk_freeze(fz, &guard, &sel, group, &set, NULL, err, sizeof(err));
	t1 = now_ms();
	if (r == 0 && set.n != (size_t)nprocs + 1) {
		snprintf(err, sizeof(err), "%zu processes frozen, not %d",
		    set.n, nprocs + 1);
		r = -EIO;
	}
	if (r < 0)
		fprintf(stderr, "freeze-bench: kk_freeze: %s\n", err);
	/* thaw whatever was frozen, also after a failure */
	memset(&sel, 0, sizeof(sel));
	sel.kind = KK_SEL_ALL;
	if (kk_thaw(fz, &sel, &set, &thawed, &gone, NULL, err,
	    sizeof(err)) < 0) {
		fprintf(stderr, "freeze-bench: kk_thaw: %s\n", err);
		r = r < 0 ? r : -EIO;
	}
	kk_frozen_set_free(&set);
	kk_frozen_set_free(&thawed);
	*ms = t1 - t0;
	return r;
}

/* Until every process of the tree is (stopped) or is not (!stopped) 'T'. */
static int
wait_state(bool stopped)
{
	double end = now_ms() + WAIT_S * 1000.0;
	int i = 0;
	char s;

	while (i <= nprocs) {
		s = proc_state(proc_at(i));
		if (s == 0)
			return -ESRCH;
		if ((s == 'T') == stopped) {
			i++;
			continue;
		}
		if (now_ms() > end)
			return -ETIMEDOUT;
	}
	return 0;
}

static int
sigstop_round(double *ms)
{
	double t0, t1;
	int i, r;

	t0 = now_ms();
	for (i = 0; i <= nprocs; i++)
		kill(proc_at(i), SIGSTOP);
	r = wait_state(true);
	t1 = now_ms();
	for (i = 0; i <= nprocs; i++)
		kill(proc_at(i), SIGCONT);
	if (r == 0)
		r = wait_state(false);
	*ms = t1 - t0;
	if (r < 0)
		fprintf(stderr, "freeze-bench: SIGSTOP loop: %s\n",
		    strerror(-r));
	return r;
}

int
main(int argc, char **argv)
{
	struct kk_freezer fz;
	double fms[MAX_ROUNDS], sms[MAX_ROUNDS], t0, fx, sx;
	char err[512], group[64];
	int rounds = 5, i, r = 1;
	pid_t bench = getpid();

	nprocs = argc > 1 ? atoi(argv[1]) : 1000;
	rounds = argc > 2 ? atoi(argv[2]) : 5;
	if (nprocs < 1 || nprocs > MAX_PROCS || rounds < 1 ||
	    rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: freeze-bench [N (1..%d) [ROUNDS "
		    "(1..%d)]]\n", MAX_PROCS, MAX_ROUNDS);
		return 2;
	}
	memset(&fz, 0, sizeof(fz));
	if (kk_freezer_probe(&fz, err, sizeof(err)) < 0) {
		fprintf(stderr, "freeze-bench: %s\n", err);
		return 1;
	}
	snprintf(group, sizeof(group), "bench-%d", (int)bench);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("freeze-bench: mmap");
		return 1;
	}
	/* orphans of the test tree come to us, so we can reap them all */
	prctl(PR_SET_CHILD_SUBREAPER, 1);

	parent_pid = fork();
	if (parent_pid < 0) {
		perror("freeze-bench: fork");
		return 1;
	}
	if (parent_pid == 0)
		parent_main(bench);
	t0 = now_ms();
	while (__atomic_load_n(&sh->started, __ATOMIC_SEQ_CST) < nprocs) {
		if (now_ms() - t0 > WAIT_S * 1000.0) {
			fprintf(stderr, "freeze-bench: only %d of %d children "
			    "started\n", sh->started, nprocs);
			goto out;
		}
		nap_ms(10);
	}

	for (i = 0; i < rounds; i++) {
		if (freeze_round(&fz, group, &fms[i]) < 0)
			goto out;
		nap_ms(50);
		if (sigstop_round(&sms[i]) < 0)
			goto out;
		nap_ms(50);
	}
	printf("rounds (ms):");
	for (i = 0; i < rounds; i++)
		printf(" %s %.2f / SIGSTOP %.2f;", fz.method, fms[i], sms[i]);
	printf("\n");
	fx = median(fms, rounds);
	sx = median(sms, rounds);
	printf("freeze %d procs: %s median %.2f ms, SIGSTOP loop median "
	    "%.2f ms, ratio Y/X = %.2f\n", nprocs, fz.method, fx, sx,
	    fx > 0 ? sx / fx : 0.0);
	r = 0;
out:
	cleanup();
	return r;
}
