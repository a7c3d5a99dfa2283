/*
 * hog SOCKET SECONDS [MODE]: the attacker of issue 8, run as an
 * unprivileged uid against kakurid's control socket, for SECONDS (1..120).
 *
 * MODE "hold" (the default, item 3): holds as many connections as it can,
 * each with half a frame header sent so that it sits waiting for its
 * request, and opens a new one as soon as one is closed.
 *
 * MODE "flood" (item 4): one request after the other, rotating through
 * malformed JSON, bad frames (a zero length, one over the limit), commands
 * it may not give (disconnect, release, drill), an unknown command, and
 * signed commands that are garbage; each on a fresh connection, as fast
 * as the agent answers.
 *
 * MODE "probe" is not an attack: it asks for status every 20 ms, each on a
 * fresh connection, and reports the slowest answer, to show that the
 * agent's loop is not held up (by a long log stream, say) without the
 * noise of starting a kakurictl process per sample.
 *
 * SIGTERM ends it early.  At the end it prints one line: "connects N answered N closed N busy N
 * held-max N", where busy counts the agent's "busy" answers.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../progutil.h"

#define MAX_FDS		2048

static volatile sig_atomic_t stop;

static void
on_term(int sig __attribute__((unused)))
{
	stop = 1;
}

struct counts {
	unsigned long connects, answered, closed, busy, held_max;
};

static int
dial(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* What came back on fd: an answer (busy or not), or the end. */
static void
drain(int fd, struct counts *c)
{
	char buf[4096];
	ssize_t n;

	n = read(fd, buf, sizeof(buf));
	if (n > 0) {
		c->answered++;
		if (memmem(buf, (size_t)n, "\"busy\"", 6) != NULL)
			c->busy++;
	} else {
		c->closed++;
	}
}

static void
hold(const char *path, double end, struct counts *c)
{
	struct pollfd pfd[MAX_FDS];
	size_t n = 0, i;
	int fd;

	while (!stop && pu_now_s() < end) {
		while (n < MAX_FDS && (fd = dial(path)) >= 0) {
			c->connects++;
			/* half a header: the agent waits for the rest */
			if (write(fd, "\0\0", 2) < 0) {
				close(fd);
				continue;
			}
			pfd[n].fd = fd;
			pfd[n].events = POLLIN;
			pfd[n].revents = 0;
			n++;
		}
		if (n > c->held_max)
			c->held_max = n;
		if (poll(pfd, n, 5) <= 0)
			continue;
		for (i = 0; i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			drain(pfd[i].fd, c);
			close(pfd[i].fd);
			pfd[i--] = pfd[--n];
		}
	}
	for (i = 0; i < n; i++)
		close(pfd[i].fd);
}

static void
flood(const char *path, double end, struct counts *c)
{
	static const char *const bodies[] = {
		"{\"cmd\": ",
		"[1, 2, 3]",
		"{\"cmd\": \"disconnect\"}",
		"{\"cmd\": \"release\", \"episode\": \"x\"}",
		"{\"cmd\": \"drill\"}",
		"{\"cmd\": \"\\u001b[2J no such command\"}",
		"{\"cmd\": \"apply\", \"envelope\": \"{not a dsse envelope}\"}",
		"{\"cmd\": \"disconnect\", \"message\": \"\\u001b]0;owned\\u0007\"}",
	};
	static char pad[8192];
	struct pollfd pfd;
	unsigned char hdr[4];
	size_t k = 0, len;
	const char *body;
	int fd;

	memset(pad, 'A', sizeof(pad));
	while (!stop && pu_now_s() < end) {
		if ((fd = dial(path)) < 0) {
			poll(NULL, 0, 1);
			continue;
		}
		c->connects++;
		switch (k++ % (sizeof(bodies) / sizeof(bodies[0]) + 2)) {
		case 0:		/* a zero length */
			if (write(fd, "\0\0\0\0", 4) < 0)
				break;
			break;
		case 1:		/* over every limit */
			if (write(fd, "\x7f\xff\xff\xff", 4) < 0 ||
			    write(fd, pad, sizeof(pad)) < 0)
				break;
			break;
		default:
			body = bodies[(k - 3) % (sizeof(bodies) / sizeof(bodies[0]))];
			len = strlen(body);
			hdr[0] = 0;
			hdr[1] = (unsigned char)(len >> 16);
			hdr[2] = (unsigned char)(len >> 8);
			hdr[3] = (unsigned char)len;
			if (write(fd, hdr, 4) < 0 || write(fd, body, len) < 0)
				break;
			break;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 2000) > 0)
			drain(fd, c);
		close(fd);
	}
}

static void
probe(const char *path, double end, struct counts *c)
{
	static const char req[] = "\0\0\0\x10{\"cmd\":\"status\"}";
	struct pollfd pfd;
	double t0, dt, worst = 0;
	char buf[4096];
	ssize_t n;
	int fd;

	while (!stop && pu_now_s() < end) {
		t0 = pu_now_s();
		if ((fd = dial(path)) < 0) {
			c->closed++;
			poll(NULL, 0, 20);
			continue;
		}
		c->connects++;
		if (write(fd, req, sizeof(req) - 1) == (ssize_t)sizeof(req) - 1) {
			pfd.fd = fd;
			pfd.events = POLLIN;
			/* the whole answer: until the agent closes */
			while (poll(&pfd, 1, 5000) > 0 &&
			    (n = read(fd, buf, sizeof(buf))) > 0)
				;
			c->answered++;
		}
		close(fd);
		dt = pu_now_s() - t0;
		if (dt > worst)
			worst = dt;
		poll(NULL, 0, 20);
	}
	c->held_max = (unsigned long)(worst * 1000);	/* reported in ms */
}

int
main(int argc, char **argv)
{
	struct counts c = { 0 };
	struct rlimit rl;
	double secs;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: hog SOCKET SECONDS [hold|flood|probe]\n");
		return 2;
	}
	secs = atof(argv[2]);
	if (secs < 1 || secs > 120) {
		fprintf(stderr, "hog: SECONDS must be 1..120\n");
		return 2;
	}
	/* as many descriptors as an unprivileged process may have */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < MAX_FDS + 16) {
		rl.rlim_cur = rl.rlim_max < MAX_FDS + 16 ? rl.rlim_max :
		    MAX_FDS + 16;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* the agent closes connections it refuses: that is no reason to stop */
	signal(SIGPIPE, SIG_IGN);
	/* stopped early (SIGTERM): still say what it did */
	signal(SIGTERM, on_term);
	if (argc == 4 && strcmp(argv[3], "flood") == 0)
		flood(argv[1], pu_now_s() + secs, &c);
	else if (argc == 4 && strcmp(argv[3], "probe") == 0)
		probe(argv[1], pu_now_s() + secs, &c);
	else
		hold(argv[1], pu_now_s() + secs, &c);
	if (argc == 4 && strcmp(argv[3], "probe") == 0)
		printf("probes %lu answered %lu failed %lu worst-ms %lu\n",
		    c.connects, c.answered, c.closed, c.held_max);
	else
		printf("connects %lu answered %lu closed %lu busy %lu held-max %lu\n",
		    c.connects, c.answered, c.closed, c.busy, c.held_max);
	return 0;
}
