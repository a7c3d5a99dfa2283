/*
 * pidreuse PID CMD [ARG...]: runs CMD as a process whose pid is PID (a
 * pid that was used by a process that has exited): clone3 with set_tid,
 * which needs CAP_SYS_ADMIN.  For the test that a record of a frozen
 * process is not taken for whoever has its pid now.  Prints the pid, then
 * waits for CMD and exits with its status (at most 600 s: then it kills
 * it, by pid).
 */
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct clone_args ca;
	pid_t want, p;
	int st, i;

	if (argc < 3 || (want = (pid_t)strtol(argv[1], NULL, 10)) <= 1) {
		fprintf(stderr, "usage: pidreuse PID CMD [ARG...]\n");
		return 2;
	}
	memset(&ca, 0, sizeof(ca));
	ca.exit_signal = SIGCHLD;
	ca.set_tid = (uint64_t)(uintptr_t)&want;
	ca.set_tid_size = 1;
	p = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	if (p < 0) {
		fprintf(stderr, "pidreuse: clone3 with pid %d: %s\n", (int)want,
		    strerror(errno));
		return 1;
	}
	if (p == 0) {
		execvp(argv[2], argv + 2);
		_exit(127);
	}
	printf("%d\n", (int)p);
	fflush(stdout);
	for (i = 0; i < 6000; i++) {
		if (waitpid(p, &st, WNOHANG) == p)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
		usleep(100000);
	}
	kill(p, SIGKILL);
	waitpid(p, &st, 0);
	return 0;
}
