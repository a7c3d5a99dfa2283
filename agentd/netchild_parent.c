/*
 * The network child as the parent starts it (netchild.h): the listening
 * socket, bound once, and a fresh image of kakurid executed as agent.user
 * with exactly the fds it is meant to have.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netchild.h"

/*
 * In the forked child, before exec: only async-signal-safe calls.  The
 * descriptors are first moved above the ones they go to, so that no
 * dup2 overwrites one still needed.
 */
static void __attribute__((noreturn))
exec_child(int null, int logw, int lfd, int ipc, char **argv)
{
	static char *const envp[] = { NULL };
	int want[5] = { null, logw, logw, lfd, ipc }, i;
	sigset_t none;

	for (i = 0; i < 5; i++)
		if ((want[i] = fcntl(want[i], F_DUPFD_CLOEXEC, 10)) < 0)
			_exit(127);
	for (i = 0; i < 5; i++)
		if (dup2(want[i], i) < 0)
			_exit(127);
	close_range(5, ~0U, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* the same binary, a fresh image: none of the parent's memory */
	execve("/proc/self/exe", argv, envp);
	_exit(127);
}

int
kk_child_spawn(const char *flag, int fd3, uid_t uid, gid_t gid, pid_t *pidp,
    int *ipcp, int *logp, char *err, size_t errlen)
{
	char suid[16], sgid[16], sppid[16];
	char *argv[] = { "kakurid", (char *)flag, suid, sgid, sppid, NULL };
	int sv[2] = { -1, -1 }, lp[2] = { -1, -1 }, null = -1, r;
	pid_t pid;

	snprintf(suid, sizeof(suid), "%u", (unsigned)uid);
	snprintf(sgid, sizeof(sgid), "%u", (unsigned)gid);
	snprintf(sppid, sizeof(sppid), "%d", (int)getpid());
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    pipe2(lp, O_CLOEXEC) < 0 ||
	    (null = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", flag, strerror(errno));
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		snprintf(err, errlen, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0)
		exec_child(null, lp[1], fd3 >= 0 ? fd3 : null, sv[1], argv);
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	fcntl(lp[0], F_SETFL, fcntl(lp[0], F_GETFL) | O_NONBLOCK);
	*pidp = pid;
	*ipcp = sv[0];
	*logp = lp[0];
	sv[0] = lp[0] = -1;
	r = 0;
out:
	kk_close(sv[0]);
	kk_close(sv[1]);
	kk_close(lp[0]);
	kk_close(lp[1]);
	kk_close(null);
	return r;
}
