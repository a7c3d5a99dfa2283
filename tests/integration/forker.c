/*
 * forker: processes that never hold still, for the freeze tests.
 *
 *	forker N [COUNTFILE]
 *	forker --hop MS [--uid UID] [--thaw FILE] COUNTFILE
 *	forker --unfreeze FILE
 *	forker --twin COUNTFILE
 *
 * forker N forks N children (1..1024).  Each child loops: fork a
 * grandchild that exits at once, reap it, sleep about 1 ms.  The parent
 * prints its own pid and then the children's, one per line, flushed, and
 * watches its children with WUNTRACED | WCONTINUED: a stop or continue
 * event (what SIGSTOP would cause, and the cgroup freezer must not) is
 * reported on stderr as "child PID stopped (signal S)" / "child PID
 * continued".  With COUNTFILE, child i adds one to the i-th 64-bit
 * counter of that file (native byte order, shared mapping) for every
 * grandchild it has reaped: a test sees the tree run, or stand still,
 * without having to catch a grandchild that lives for microseconds.
 *
 * forker --hop MS is a process that changes its pid every MS ms (0..1000,
 * 0 as fast as it can):
 * it forks, the parent exits, the child carries on, and so on.  The first
 * process stays as a subreaper that reaps the hoppers as they exit; the
 * hoppers run as UID if given (the subreaper keeps its own uid, so that
 * a freeze by uid finds nothing but the hopping process).  Counter 0 of
 * COUNTFILE counts the hops, counter 1 holds the current hopper's pid;
 * writing a non-zero counter 2 (the stop flag) makes the hopper and then
 * the subreaper exit.  The subreaper prints its pid on stdout.  With
 * --thaw, every hopper writes 0 to FILE (its cgroup's cgroup.freeze, in
 * a cgroup delegated to its user) before it forks: a freeze of that
 * cgroup is undone as soon as the hopper runs at all.
 *
 * forker --unfreeze FILE writes 0 to FILE every millisecond: the owner of
 * a delegated cgroup thawing it from elsewhere, while it is frozen.
 *
 * forker --twin COUNTFILE is a process that makes a twin with
 * clone(CLONE_VM | CLONE_PARENT | SIGCHLD): a process of its own that
 * shares its memory, whose parent is the forker's parent, not the
 * forker (no pid or tree leads from the forker to it).  The twin adds
 * one to counter 0 of COUNTFILE every millisecond, and also to a
 * counter in the forker's private memory, which a snapshot of the forker
 * shows changing.  The forker prints its own pid, then the twin's, one
 * per line.  The twin dies with its parent and, as the forker, stops
 * after 600 s; it also stops once the forker is gone.
 *
 * Everything runs until killed, and at most 600 s.  forker N then kills
 * its children (by pid), reaps them and exits 0; the children die with
 * the parent (PR_SET_PDEATHSIG) and also stop by themselves after 600 s.
 * The hopper and the subreaper stop after 600 s as well.
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../progutil.h"

#define LIFETIME_S	600
#define MAX_CHILDREN	1024
#define HOP_SLOTS	3	/* hops, current pid, stop flag */

/* nslots 64-bit counters, zero, shared with every process forked later. */
static uint64_t *
counters_map(const char *path, size_t nslots)
{
	size_t len = nslots * sizeof(uint64_t);
	void *m;
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)len) < 0) {
		fprintf(stderr, "forker: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED) {
		fprintf(stderr, "forker: mmap %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return m;
}

static void __attribute__((noreturn))
child(pid_t parent, double end, uint64_t *counter)
{
	pid_t gc;
	int st;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);	/* the parent died before the line above */
	while (pu_now_s() < end) {
		gc = fork();
		if (gc == 0)
			_exit(0);
		if (gc < 0) {
			pu_nap_ms(10);	/* EAGAIN: out of processes for now */
			continue;
		}
		while (waitpid(gc, &st, WUNTRACED) < 0 && errno == EINTR)
			;
		if (WIFSTOPPED(st))
			fprintf(stderr, "grandchild %d stopped (signal %d)\n",
			    (int)gc, WSTOPSIG(st));
		if (counter != NULL)
			__atomic_add_fetch(counter, 1, __ATOMIC_SEQ_CST);
		pu_nap_ms(1);
	}
	_exit(0);
}

static int
tree(long n, const char *countfile)
{
	pid_t kids[MAX_CHILDREN], me = getpid(), p;
	double end = pu_now_s() + LIFETIME_S;
	uint64_t *counters = NULL;
	int i, st;

	if (countfile != NULL)
		counters = counters_map(countfile, (size_t)n);
	printf("%d\n", (int)me);
	for (i = 0; i < n; i++) {
		p = fork();
		if (p < 0) {
			fprintf(stderr, "forker: fork: %s\n", strerror(errno));
			n = i;
			break;
		}
		if (p == 0)
			child(me, end, counters ? &counters[i] : NULL);
		kids[i] = p;
		printf("%d\n", (int)p);
	}
	fflush(stdout);

	while (pu_now_s() < end) {
		p = waitpid(-1, &st, WUNTRACED | WCONTINUED | WNOHANG);
		if (p > 0) {
			if (WIFSTOPPED(st))
				fprintf(stderr, "child %d stopped (signal %d)\n",
				    (int)p, WSTOPSIG(st));
			else if (WIFCONTINUED(st))
				fprintf(stderr, "child %d continued\n", (int)p);
			else {
				fprintf(stderr, "child %d exited\n", (int)p);
				/* reaped: its pid is no longer ours to kill */
				for (i = 0; i < n; i++)
					if (kids[i] == p)
						kids[i] = 0;
			}
			continue;
		}
		pu_nap_ms(10);
	}

	for (i = 0; i < n; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGKILL);
	for (i = 0; i < n; i++)
		if (kids[i] > 0)
			while (waitpid(kids[i], &st, 0) < 0 && errno == EINTR)
				;
	return 0;
}

/* "0" into path (a cgroup.freeze), whatever comes of it. */
static void
write_zero(const char *path)
{
	int fd;

	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return;
	if (write(fd, "0", 1) < 0) {
		/* not ours to write, or gone: the attack failed, no more */
	}
	close(fd);
}

/* The hopping process: a new pid every ms milliseconds. */
static void __attribute__((noreturn))
hopper(long ms, uint64_t *c, double end, const char *thaw)
{
	pid_t p;

	__atomic_store_n(&c[1], (uint64_t)getpid(), __ATOMIC_SEQ_CST);
	for (;;) {
		__atomic_add_fetch(&c[0], 1, __ATOMIC_SEQ_CST);
		if (thaw != NULL)
			write_zero(thaw);
		pu_nap_ms(ms);
		if (__atomic_load_n(&c[2], __ATOMIC_SEQ_CST) != 0 ||
		    pu_now_s() >= end)
			_exit(0);
		/*
		 * Hop only once our own pid is the one noted: a parent held
		 * up between its fork and its note (a loaded machine) would
		 * otherwise overwrite the newer pid its child noted.
		 */
		if (__atomic_load_n(&c[1], __ATOMIC_SEQ_CST) !=
		    (uint64_t)getpid())
			continue;
		p = fork();
		if (p < 0) {
			pu_nap_ms(10);
			continue;
		}
		if (p > 0) {
			/*
			 * The child goes on under a new pid, noted before
			 * this one exits: counter 1 always names a live
			 * hopper (or one frozen before it could exit).
			 */
			__atomic_store_n(&c[1], (uint64_t)p, __ATOMIC_SEQ_CST);
			_exit(0);
		}
	}
}

static int
hop(long ms, long uid, const char *thaw, const char *countfile)
{
	double end = pu_now_s() + LIFETIME_S;
	uint64_t *c = counters_map(countfile, HOP_SLOTS);
	pid_t p, first;
	int st;

	/* orphaned hoppers come to us and are reaped here */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		fprintf(stderr, "forker: subreaper: %s\n", strerror(errno));
		return 1;
	}
	printf("%d\n", (int)getpid());
	fflush(stdout);
	first = fork();
	if (first < 0) {
		fprintf(stderr, "forker: fork: %s\n", strerror(errno));
		return 1;
	}
	if (first == 0) {
		if (uid >= 0 && (setgroups(0, NULL) < 0 ||
		    setresgid((gid_t)uid, (gid_t)uid, (gid_t)uid) < 0 ||
		    setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) < 0)) {
			fprintf(stderr, "forker: uid %ld: %s\n", uid,
			    strerror(errno));
			_exit(1);
		}
		hopper(ms, c, end, thaw);
	}
	/* until the stop flag and no hopper left, or the lifetime is over */
	while (pu_now_s() < end + 5) {
		p = waitpid(-1, &st, WNOHANG);
		if (p < 0 && errno == ECHILD)
			break;
		if (p <= 0)
			pu_nap_ms(5);
	}
	return 0;
}

#define TWIN_STACK	(256 * 1024)

/* the twin's counter in the forker's own (private) memory */
static volatile uint64_t twin_private;

struct twin_arg {
	uint64_t *counter;
	pid_t maker;
	double end;
};

/* The twin: counts every millisecond on its maker's memory. */
static int
twin_main(void *p)
{
	struct twin_arg *a = p;
	int k;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (k = 0; k < LIFETIME_S * 1000 && pu_now_s() < a->end &&
	    kill(a->maker, 0) == 0; k++) {
		__atomic_add_fetch(a->counter, 1, __ATOMIC_SEQ_CST);
		twin_private++;
		pu_nap_ms(1);
	}
	return 0;
}

static int
twin(const char *countfile)
{
	static struct twin_arg a;
	char *stack;
	pid_t w;
	int k;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	a.counter = counters_map(countfile, 1);
	a.maker = getpid();
	a.end = pu_now_s() + LIFETIME_S;
	stack = mmap(NULL, TWIN_STACK, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		fprintf(stderr, "forker: mmap: %s\n", strerror(errno));
		return 1;
	}
	w = clone(twin_main, stack + TWIN_STACK, CLONE_VM | CLONE_PARENT |
	    SIGCHLD, &a);
	if (w < 0) {
		fprintf(stderr, "forker: clone: %s\n", strerror(errno));
		return 1;
	}
	printf("%d\n%d\n", (int)a.maker, (int)w);
	fflush(stdout);
	for (k = 0; k < LIFETIME_S && pu_now_s() < a.end; k++)
		pu_nap_ms(1000);
	kill(w, SIGKILL);
	return 0;
}

/* 0 into path every millisecond, for LIFETIME_S at most. */
static int
unfreeze(const char *path)
{
	double end = pu_now_s() + LIFETIME_S;

	printf("%d\n", (int)getpid());
	fflush(stdout);
	while (pu_now_s() < end) {
		write_zero(path);
		pu_nap_ms(1);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	long n, uid = -1;
	char *e;

	setvbuf(stdout, NULL, _IOLBF, 0);
	setvbuf(stderr, NULL, _IOLBF, 0);
	if (argc >= 3 && strcmp(argv[1], "--hop") == 0) {
		const char *thaw = NULL;
		int i;

		n = strtol(argv[2], &e, 10);
		if (*e != '\0' || n < 0 || n > 1000)
			goto usage;
		for (i = 3; i + 2 < argc; i += 2) {
			if (strcmp(argv[i], "--uid") == 0) {
				uid = strtol(argv[i + 1], &e, 10);
				if (*e != '\0' || uid < 0 || uid > 0x7fffffffL)
					goto usage;
			} else if (strcmp(argv[i], "--thaw") == 0)
				thaw = argv[i + 1];
			else
				goto usage;
		}
		if (i != argc - 1)
			goto usage;
		return hop(n, uid, thaw, argv[argc - 1]);
	}
	if (argc == 3 && strcmp(argv[1], "--unfreeze") == 0)
		return unfreeze(argv[2]);
	if (argc == 3 && strcmp(argv[1], "--twin") == 0)
		return twin(argv[2]);
	if (argc != 2 && argc != 3)
		goto usage;
	n = strtol(argv[1], &e, 10);
	if (*e != '\0' || n < 1 || n > MAX_CHILDREN) {
		fprintf(stderr, "forker: N must be 1..%d\n", MAX_CHILDREN);
		return 2;
	}
	return tree(n, argc == 3 ? argv[2] : NULL);
usage:
	fprintf(stderr, "usage: forker N [COUNTFILE]\n"
	    "       forker --hop MS [--uid UID] [--thaw FILE] COUNTFILE\n"
	    "       forker --unfreeze FILE\n"
	    "       forker --twin COUNTFILE\n");
	return 2;
}
