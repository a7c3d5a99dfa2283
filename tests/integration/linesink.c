/*
 * linesink SOCKET FILE SECONDS: the log of a process that may not write
 * files (t-names: the resolver child, under Landlock, runs the test's NSS
 * module).  Binds a Unix datagram socket at SOCKET that anyone may send
 * to, and appends each datagram (at most 511 bytes) to FILE, until
 * SECONDS have passed or SIGTERM, ending each with a newline if it has
 * none.  Prints "ready" once it listens.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pollfd p;
	char buf[512];
	time_t end;
	ssize_t n;
	int s, out;

	if (argc != 4 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: linesink SOCKET FILE SECONDS\n");
		return 2;
	}
	signal(SIGTERM, on_term);
	end = time(NULL) + atol(argv[3]);
	memcpy(sa.sun_path, argv[1], strlen(argv[1]) + 1);
	unlink(argv[1]);
	if ((s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(argv[1], 0666) < 0) {
		perror("linesink: socket");
		return 1;
	}
	if ((out = open(argv[2], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0644)) < 0) {
		perror("linesink: file");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	p.fd = s;
	p.events = POLLIN;
	while (!stop && time(NULL) < end) {
		if (poll(&p, 1, 200) <= 0)
			continue;
		if ((n = recv(s, buf, sizeof(buf) - 1, 0)) <= 0)
			continue;
		/* a line each (logger's datagrams have no newline) */
		if (buf[n - 1] != '\n')
			buf[n++] = '\n';
		if (write(out, buf, (size_t)n) != n)
			break;
	}
	unlink(argv[1]);
	return 0;
}
