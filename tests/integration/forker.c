/*
 * forker N: a process tree that never holds still, for the freeze tests.
 *
 * Forks N children (1..1024).  Each child loops: fork a grandchild that
 * exits at once, reap it, sleep about 1 ms.  The parent prints its own
 * pid and then the children's, one per line, flushed, and watches its
 * children with WUNTRACED | WCONTINUED: a stop or continue event (what
 * SIGSTOP would cause, and the cgroup freezer must not) is reported on
 * stderr as "child PID stopped (signal S)" / "child PID continued".
 *
 * Runs until killed, and at most 600 s: then it kills its children (by
 * pid), reaps them and exits 0.  The children die with the parent
 * (PR_SET_PDEATHSIG) and also stop by themselves after 600 s.
 */
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LIFETIME_S	600
#define MAX_CHILDREN	1024

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void __attribute__((noreturn))
child(pid_t parent, double end)
{
	pid_t gc;
	int st;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);	/* the parent died before the line above */
	while (now_s() < end) {
		gc = fork();
		if (gc == 0)
			_exit(0);
		if (gc < 0) {
			nap_ms(10);	/* EAGAIN: out of processes for now */
			continue;
		}
		while (waitpid(gc, &st, WUNTRACED) < 0 && errno == EINTR)
			;
		if (WIFSTOPPED(st))
			fprintf(stderr, "grandchild %d stopped (signal %d)\n",
			    (int)gc, WSTOPSIG(st));
		nap_ms(1);
	}
	_exit(0);
}

int
main(int argc, char **argv)
{
	pid_t kids[MAX_CHILDREN], me = getpid(), p;
	double end = now_s() + LIFETIME_S;
	char *e;
	long n;
	int i, st;

	if (argc != 2) {
		fprintf(stderr, "usage: forker N\n");
		return 2;
	}
	n = strtol(argv[1], &e, 10);
	if (*e != '\0' || n < 1 || n > MAX_CHILDREN) {
		fprintf(stderr, "forker: N must be 1..%d\n", MAX_CHILDREN);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	setvbuf(stderr, NULL, _IOLBF, 0);
	printf("%d\n", (int)me);
	for (i = 0; i < n; i++) {
		p = fork();
		if (p < 0) {
			fprintf(stderr, "forker: fork: %s\n", strerror(errno));
			n = i;
			break;
		}
		if (p == 0)
			child(me, end);
		kids[i] = p;
		printf("%d\n", (int)p);
	}
	fflush(stdout);

	while (now_s() < end) {
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
		nap_ms(10);
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
