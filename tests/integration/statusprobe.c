/*
 * statusprobe SOCK STOPFILE: asks kakurid for its status over the control
 * socket again and again (a new connection each time, 10 ms apart) until
 * STOPFILE exists, and at most 600 s.  Then prints
 *	max_ms=M probes=N failures=F
 * M being the longest a status took, from connect to the whole answer
 * (an answer that never comes counts as 10 s).  With --rt it runs under
 * SCHED_FIFO, so that what it measures is kakurid's latency and not its
 * own waits for a core on a busy machine.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../progutil.h"

#define LIFETIME_S	600
#define ANSWER_MS	10000
#define GAP_MS		10

/* Reads exactly len bytes before the deadline (ms on pu_now_ms's clock). */
static int
read_full(int fd, void *buf, size_t len, double deadline)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	size_t off = 0;
	ssize_t n;
	double left;

	while (off < len) {
		left = deadline - pu_now_ms();
		if (left <= 0 || poll(&pfd, 1, (int)left + 1) <= 0)
			return -1;
		n = read(fd, (char *)buf + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

/* One status: its latency in ms, < 0 on failure. */
static double
probe(const char *sock)
{
	static const char req[] = "{\"cmd\":\"status\"}";
	struct sockaddr_un sa;
	uint8_t hdr[4], frame[4 + sizeof(req) - 1];
	char *body = NULL;
	uint32_t len;
	double t0 = pu_now_ms(), r = -1;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto out;
	len = (uint32_t)(sizeof(req) - 1);
	frame[0] = (uint8_t)(len >> 24);
	frame[1] = (uint8_t)(len >> 16);
	frame[2] = (uint8_t)(len >> 8);
	frame[3] = (uint8_t)len;
	memcpy(frame + 4, req, len);
	if (write(fd, frame, sizeof(frame)) != (ssize_t)sizeof(frame))
		goto out;
	if (read_full(fd, hdr, 4, t0 + ANSWER_MS) < 0)
		goto out;
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	    (uint32_t)hdr[2] << 8 | hdr[3];
	if (len == 0 || len > (1U << 20) || (body = malloc(len)) == NULL ||
	    read_full(fd, body, len, t0 + ANSWER_MS) < 0)
		goto out;
	r = pu_now_ms() - t0;
out:
	free(body);
	close(fd);
	return r;
}

int
main(int argc, char **argv)
{
	struct sched_param sp = { .sched_priority = 10 };
	struct timespec gap = { 0, GAP_MS * 1000000L };
	double end, ms, max = 0;
	long probes = 0, failures = 0;
	int a = 1;
	FILE *slow = getenv("STATUSPROBE_SLOW") ?
	    fopen(getenv("STATUSPROBE_SLOW"), "ae") : NULL;

	if (argc == 4 && strcmp(argv[1], "--rt") == 0) {
		/* where it is not allowed, the figures are only noisier */
		if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0)
			perror("statusprobe: SCHED_FIFO (going on without)");
		a = 2;
	} else if (argc != 3) {
		fprintf(stderr, "usage: statusprobe [--rt] SOCK STOPFILE\n");
		return 2;
	}
	end = pu_now_ms() + LIFETIME_S * 1e3;
	while (access(argv[a + 1], F_OK) < 0 && pu_now_ms() < end) {
		ms = probe(argv[a]);
		probes++;
		if (ms < 0) {
			failures++;
			ms = ANSWER_MS;
		}
		if (ms > max)
			max = ms;
		/* where the slow answers were, when asked (diagnosis) */
		if (ms > 100 && slow != NULL) {
			struct timespec now;

			clock_gettime(CLOCK_REALTIME, &now);
			fprintf(slow, "%ld.%06ld %.1f\n", (long)now.tv_sec,
			    now.tv_nsec / 1000, ms);
			fflush(slow);
		}
		nanosleep(&gap, NULL);
	}
	printf("max_ms=%.1f probes=%ld failures=%ld\n", max, probes, failures);
	return 0;
}
