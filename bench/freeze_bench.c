/*
 * freeze-bench [N [ROUNDS]]: how long kakuri takes to freeze a process
 * tree, against the baseline a responder would otherwise use, a SIGSTOP
 * loop.
 *
 * A parent process forks N (default 1000) children that only pause().
 * With cgroup2 they fill a cgroup of their own (ROOT/kakuri-bench-PID),
 * as a service or a session would.
 * (a) kk_freeze with a pid selector on that parent (tree), from the call
 *     until it returns with "frozen 1" (v1: FROZEN) confirmed and, as
 *     kakurid does before it answers, uid and exe of each read
 *     (kk_frozen_describe); thawed with kk_thaw between rounds.  The
 *     cgroup holds targets only, so it is frozen in place.
 * (b) the same, with one more process of ours (a bystander, not a
 *     target) in that cgroup: kakuri may not freeze the cgroup in place,
 *     and moves each target into its quarantine group instead (the
 *     per-process migration); the bystander must run on.
 * (c) kill(SIGSTOP) to the same N + 1 processes, then /proc/PID/stat
 *     read until every one shows state 'T'; SIGCONT between rounds.
 * ROUNDS (default 5) of each, side by side; the medians and the ratios
 * SIGSTOP/kakuri (above 1: kakuri is faster) are printed:
 *
 *   freeze 1000 procs: in place median X ms, moving each median Y ms,
 *   SIGSTOP loop median Z ms; ratio Z/X = A (in place), Z/Y = B (moving)
 *
 * Without cgroup2 (the v1 freezer) there is no in place: (a) only, as
 * "moving each".
 *
 * Each call keeps its freeze journal (the source groups it freezes for
 * a moment) in a directory of its own under /var/tmp, as kakurid does in
 * its state directory, and removes it at its end.
 *
 * It touches only its own children: it is their subreaper, and at the
 * end kills (by pid) and reaps every one of them, then removes its
 * cgroup.  Needs root (cgroups).
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evidence.h"
#include "../tests/progutil.h"

#define MAX_PROCS	20000
#define MAX_ROUNDS	100
#define WAIT_S		60	/* for the children to start, or to stop */

struct shared {
	int started;
	pid_t pids[MAX_PROCS];
};

static struct shared *sh;
static pid_t parent_pid;
static pid_t bystander;		/* ours, never a target */
static int nprocs;
static char place[PATH_MAX];	/* the tree's own cgroup, "" without */
static char home[PATH_MAX];	/* the bench's own cgroup */
/*
 * What is frozen, kept from round to round as kakurid keeps it (thaw
 * empties it, its memory stays): only the first round pays for touching
 * that memory (8 KiB an entry) for the first time.
 */
static struct kk_frozen_set frozen;

/*
 * The state letter of /proc/PID/stat, 0 if it cannot be read.  Not
 * kk_pstat_read: this is the baseline's check, timed with it, and it
 * reads only what a SIGSTOP loop needs: the strict parse of every field
 * would add work to the side kakuri is measured against.
 */
static char
proc_state(pid_t pid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (pu_read_small(path, buf, sizeof(buf)) < 0 ||
	    (p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return 0;
	return p[2];
}

/* Writes pid into dir's cgroup.procs; 0 or -1. */
static int
move_to(const char *dir, pid_t pid)
{
	char path[PATH_MAX + 16], num[24];
	int fd, r;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	snprintf(num, sizeof(num), "%d", (int)pid);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return -1;
	r = write(fd, num, strlen(num)) < 0 ? -1 : 0;
	close(fd);
	return r;
}

/* The directory of our own cgroup2 group ("0::" of /proc/self/cgroup). */
static int
own_cgroup(const char *root, char *out, size_t len)
{
	char line[PATH_MAX + 8];
	FILE *f;
	int r = -1;

	if ((f = fopen("/proc/self/cgroup", "re")) == NULL)
		return -1;
	while (r < 0 && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		if ((size_t)snprintf(out, len, "%s%s", root, strcmp(line + 3,
		    "/") == 0 ? "" : line + 3) < len)
			r = 0;
	}
	fclose(f);
	return r;
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
	/* the tree's own cgroup, before it has any child */
	if (place[0] != '\0' && move_to(place, 0) < 0)
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
 * The freeze journal's directory, on disk as kakurid's state directory
 * is: mkdtemp(3)'s template, filled in before its first use.
 */
static char jdir[] = "/var/tmp/kakuri-fzbench-XXXXXX";

/*
 * kill + reap by pid.  The parent first: by the time it has been reaped,
 * its children have been handed to us (the subreaper).
 */
static void
cleanup(void)
{
	int i;

	if (bystander > 0) {
		kill(bystander, SIGKILL);
		while (waitpid(bystander, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (parent_pid > 0) {
		for (i = 0; i <= nprocs; i++)
			if (proc_at(i) > 0)
				kill(proc_at(i), SIGKILL);
		for (i = 0; i <= nprocs; i++)
			if (proc_at(i) > 0)
				while (waitpid(proc_at(i), NULL, 0) < 0 &&
				    errno == EINTR)
					;
	}
	/* empty once its processes are reaped (a moment after, maybe) */
	for (i = 0; place[0] != '\0' && i < 100 && rmdir(place) < 0 &&
	    errno == EBUSY; i++)
		pu_nap_ms(10);
}

/*
 * One freeze and thaw of the tree; in_place says how the targets were
 * to be frozen, and every one must have been.
 */
static int
freeze_round(struct kk_freezer *fz, const char *group, bool in_place,
    double *ms, double *dms)
{
	struct kk_freeze_guard guard = { 0 };	/* no kakurid here */
	struct kk_frozen_set thawed = { 0 };
	struct kk_selector sel;
	char err[512] = "";
	size_t gone, i;
	double t0, t1, t2;
	int r;

	memset(&sel, 0, sizeof(sel));
	sel.kind = KK_SEL_PID;
	sel.pid = parent_pid;
	sel.tree = true;
	t0 = pu_now_ms();
	r = kk_freeze(fz, &guard, &sel, group, &frozen, NULL, NULL, err,
	    sizeof(err));
	kk_freeze_journal_clear(fz);
	t1 = pu_now_ms();
	/* what kakurid reads before it answers: uid and exe of each */
	if (r == 0)
		kk_frozen_describe(&frozen, 0);
	t2 = pu_now_ms();
	if (r == 0 && frozen.n != (size_t)nprocs + 1) {
		snprintf(err, sizeof(err), "%zu processes frozen, not %d",
		    frozen.n, nprocs + 1);
		r = -EIO;
	}
	for (i = 0; r == 0 && i < frozen.n; i++)
		if (frozen.v[i].in_place != in_place) {
			snprintf(err, sizeof(err), "pid %d %sfrozen in place",
			    (int)frozen.v[i].pid, in_place ? "not " : "");
			r = -EIO;
		}
	if (r < 0)
		fprintf(stderr, "freeze-bench: kk_freeze: %s\n", err);
	/* thaw whatever was frozen, also after a failure */
	memset(&sel, 0, sizeof(sel));
	sel.kind = KK_SEL_ALL;
	if (kk_thaw(fz, &sel, &frozen, &thawed, &gone, NULL, err,
	    sizeof(err)) < 0) {
		fprintf(stderr, "freeze-bench: kk_thaw: %s\n", err);
		r = r < 0 ? r : -EIO;
	}
	kk_frozen_set_free(&thawed);
	*ms = t1 - t0;
	*dms = t2 - t0;
	return r;
}

/* Until every process of the tree is (stopped) or is not (!stopped) 'T'. */
static int
wait_state(bool stopped)
{
	double end = pu_now_ms() + WAIT_S * 1000.0;
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
		if (pu_now_ms() > end)
			return -ETIMEDOUT;
	}
	return 0;
}

/*
 * The same with the bystander in the tree's cgroup: kakuri moves each
 * target, and the bystander runs on (its cgroup is not left frozen).
 */
static int
moving_round(struct kk_freezer *fz, const char *group, double *ms,
    double *dms)
{
	char path[PATH_MAX + 16], buf[8] = "";
	int fd, r;
	ssize_t n;

	if (move_to(place, bystander) < 0) {
		fprintf(stderr, "freeze-bench: bystander into %s: %s\n", place,
		    strerror(errno));
		return -EIO;
	}
	r = freeze_round(fz, group, false, ms, dms);
	snprintf(path, sizeof(path), "%s/cgroup.freeze", place);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	if (r == 0 && buf[0] != '0') {
		fprintf(stderr, "freeze-bench: %s left frozen\n", place);
		r = -EIO;
	}
	if (move_to(home, bystander) < 0 && r == 0)
		r = -EIO;
	return r;
}

static int
sigstop_round(double *ms)
{
	double t0, t1;
	int i, r;

	t0 = pu_now_ms();
	for (i = 0; i <= nprocs; i++)
		kill(proc_at(i), SIGSTOP);
	r = wait_state(true);
	t1 = pu_now_ms();
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
	double ims[MAX_ROUNDS], mms[MAX_ROUNDS], sms[MAX_ROUNDS], t0;
	double ids[MAX_ROUNDS], mds[MAX_ROUNDS], ix, mx, sx, idx, mdx;
	char err[512], group[64], moves[PATH_MAX];
	int rounds = 5, i, r = 1;
	pid_t bench = getpid();
	bool v2;

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
	v2 = strcmp(fz.method, "cgroup2") == 0;
	snprintf(group, sizeof(group), "bench-%d", (int)bench);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("freeze-bench: mmap");
		return 1;
	}
	/* orphans of the test tree come to us, so we can reap them all */
	prctl(PR_SET_CHILD_SUBREAPER, 1);

	if (v2) {
		if (own_cgroup(fz.root, home, sizeof(home)) < 0) {
			fprintf(stderr, "freeze-bench: no cgroup2 group of "
			    "our own\n");
			return 1;
		}
		if ((size_t)snprintf(place, sizeof(place), "%s/kakuri-bench-%d",
		    strcmp(fz.root, "/") == 0 ? "" : fz.root, (int)bench) >=
		    sizeof(place) || mkdir(place, 0755) < 0) {
			fprintf(stderr, "freeze-bench: mkdir %s: %s\n", place,
			    strerror(errno));
			place[0] = '\0';
			return 1;
		}
		if ((bystander = fork()) < 0) {
			perror("freeze-bench: fork");
			goto out;
		}
		if (bystander == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != bench)
				_exit(1);
			for (;;)
				pause();
		}
	}
	/* the freeze journal as kakurid keeps it: on a disk, not tmpfs */
	if (mkdtemp(jdir) == NULL) {
		perror("freeze-bench: mkdtemp");
		goto out;
	}
	snprintf(fz.journal, sizeof(fz.journal), "%s/freeze-sources", jdir);
	parent_pid = fork();
	if (parent_pid < 0) {
		perror("freeze-bench: fork");
		goto out;
	}
	if (parent_pid == 0)
		parent_main(bench);
	t0 = pu_now_ms();
	while (__atomic_load_n(&sh->started, __ATOMIC_SEQ_CST) < nprocs) {
		if (pu_now_ms() - t0 > WAIT_S * 1000.0) {
			fprintf(stderr, "freeze-bench: only %d of %d children "
			    "started\n", sh->started, nprocs);
			goto out;
		}
		pu_nap_ms(10);
	}

	for (i = 0; i < rounds; i++) {
		if (freeze_round(&fz, group, v2, &ims[i], &ids[i]) < 0)
			goto out;
		pu_nap_ms(50);
		if (v2 && moving_round(&fz, group, &mms[i], &mds[i]) < 0)
			goto out;
		pu_nap_ms(50);
		if (sigstop_round(&sms[i]) < 0)
			goto out;
		pu_nap_ms(50);
	}
	printf("rounds (ms, frozen / with uid and exe read):");
	for (i = 0; i < rounds; i++) {
		if (v2)
			printf(" in place %.1f/%.1f, moving %.1f/%.1f, "
			    "SIGSTOP %.1f;", ims[i], ids[i], mms[i], mds[i],
			    sms[i]);
		else
			printf(" %s %.1f/%.1f, SIGSTOP %.1f;", fz.method,
			    ims[i], ids[i], sms[i]);
	}
	printf("\n");
	ix = pu_median(ims, rounds);
	idx = pu_median(ids, rounds);
	sx = pu_median(sms, rounds);
	if (v2) {
		mx = pu_median(mms, rounds);
		mdx = pu_median(mds, rounds);
		printf("freeze %d procs (%s), medians: in place %.2f ms "
		    "(%.2f ms with uid and exe read), moving each %.2f ms "
		    "(%.2f ms), SIGSTOP loop %.2f ms\n", nprocs, fz.method,
		    ix, idx, mx, mdx, sx);
		printf("ratio SIGSTOP/kakuri (above 1: kakuri faster): in "
		    "place %.2f (%.2f), moving each %.2f (%.2f)\n",
		    ix > 0 ? sx / ix : 0.0, idx > 0 ? sx / idx : 0.0,
		    mx > 0 ? sx / mx : 0.0, mdx > 0 ? sx / mdx : 0.0);
	} else
		printf("freeze %d procs (%s), medians: moving each %.2f ms "
		    "(%.2f ms with uid and exe read), SIGSTOP loop %.2f ms; "
		    "ratio SIGSTOP/kakuri = %.2f (%.2f)\n", nprocs,
		    fz.method, ix, idx, sx, ix > 0 ? sx / ix : 0.0,
		    idx > 0 ? sx / idx : 0.0);
	r = 0;
out:
	cleanup();
	if (fz.journal[0] != '\0') {
		/* the journal and its moves file (journal.c) */
		unlink(fz.journal);
		if (snprintf(moves, sizeof(moves), "%s.moves", fz.journal) <
		    (int)sizeof(moves))
			unlink(moves);
		rmdir(jdir);
	}
	kk_frozen_set_free(&frozen);
	return r;
}
