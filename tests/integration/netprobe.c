/*
 * netprobe - real packets for the integration tests and benchmarks.
 *
 *   netprobe serve ADDR PORT [SECONDS [LOG]]  TCP + UDP echo on ADDR:PORT;
 *       with LOG, one line per datagram or connection received is appended
 *       to it ("udp FROM" / "tcp FROM"): what arrived, answered or not
 *   netprobe tcp ADDR PORT [TIMEOUT_MS]    connect, echo once: exit 0 if it passed
 *   netprobe udp ADDR PORT [TIMEOUT_MS [SRCPORT]]
 *       one datagram (from SRCPORT if given), echoed: exit 0 if it passed
 *   netprobe hold ADDR PORT GATE [TIMEOUT_MS]
 *       connect and echo once (exit 2 if that fails), print "ready", wait
 *       for the file GATE to exist, then echo again: exit 0 if data still
 *       passes on the connection made before, 1 if not
 *   netprobe stream ADDR PORT SECONDS      UDP datagrams every 100 us, each
 *       carrying its send time (CLOCK_MONOTONIC ns)
 *   netprobe sink ADDR PORT IDLE_MS        receive datagrams until none came
 *       for IDLE_MS; print the send time (ns) of the last one received
 *   netprobe idle ADDR PORT N SECONDS      hold N TCP connections open, silent
 *   netprobe garbage ADDR PORT             send 4 KiB of non-TLS bytes, then close
 *   netprobe slow ADDR PORT SECONDS        start a TLS record, one byte a second
 *   netprobe timed CMD [ARGS...]           print CLOCK_MONOTONIC ns, exec CMD
 *   netprobe notify-wait PATH TIMEOUT_MS   bind a datagram socket at PATH (an
 *       sd_notify NOTIFY_SOCKET), print CLOCK_MONOTONIC ns when READY=1 arrives
 *   netprobe watch tcp|udp ADDR PORT INTERVAL_MS SECONDS STOPFILE
 *       start a probe every INTERVAL_MS (each may take up to 500 ms to pass)
 *       until SECONDS passed or STOPFILE exists; print "ready" once the
 *       first probe is out, and at the end "probes N passed K window_ms W":
 *       W is the longest time traffic was seen passing, from the first to
 *       the last probe of a run of passing probes, plus one interval
 *   netprobe ndp-serve ADDR SECONDS [LOG]  answer ICMPv6 neighbour solicitations
 *       that carry a netprobe tag with an advertisement carrying it back;
 *       with LOG, one line per tagged solicitation received ("ndp FROM")
 *   netprobe ndp ADDR [TIMEOUT_MS]         send a tagged neighbour solicitation
 *       (hop limit 255) from a raw socket: exit 0 if the tag came back
 *
 * Every loop is bounded in count and time; it talks only to the address
 * it is given (test namespaces or loopback).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../progutil.h"

#define MAX_CLIENTS	512

static int
wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	do {
		r = poll(&p, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	return r > 0 ? 0 : -1;
}

/* Appends "what FROM" to the file log (if any): the test reads what arrived. */
static void
record(const char *log, const char *what, const struct sockaddr_storage *from)
{
	char a[INET6_ADDRSTRLEN] = "?";
	FILE *f;

	if (log == NULL)
		return;
	if (from->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)from)->sin_addr,
		    a, sizeof(a));
	else if (from->ss_family == AF_INET6)
		inet_ntop(AF_INET6,
		    &((const struct sockaddr_in6 *)from)->sin6_addr, a, sizeof(a));
	if ((f = fopen(log, "a")) == NULL)
		return;
	fprintf(f, "%s %s\n", what, a);
	fclose(f);
}

static int
serve(const char *addr, const char *port, int seconds, const char *log)
{
	struct sockaddr_storage ss;
	struct pollfd pfd[MAX_CLIENTS + 2];
	socklen_t len;
	long long deadline = pu_now_ns() + (long long)seconds * 1000000000LL;
	int fam, one = 1, tfd, ufd, n = 2, i;
	char buf[2048];

	if ((fam = pu_sockaddr_of(addr, port, &ss, &len)) < 0)
		return 2;
	tfd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ufd = socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	setsockopt(tfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* addresses are configured a moment before: allow not-yet-ready ones */
	setsockopt(tfd, SOL_IP, IP_FREEBIND, &one, sizeof(one));
	setsockopt(ufd, SOL_IP, IP_FREEBIND, &one, sizeof(one));
	if (bind(tfd, (struct sockaddr *)&ss, len) < 0 || listen(tfd, 128) < 0 ||
	    bind(ufd, (struct sockaddr *)&ss, len) < 0) {
		perror("netprobe serve: bind");
		return 2;
	}
	pfd[0] = (struct pollfd){ .fd = tfd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = ufd, .events = POLLIN };
	while (pu_now_ns() < deadline) {
		if (poll(pfd, (nfds_t)n, 200) <= 0)
			continue;
		if (pfd[0].revents & POLLIN) {
			struct sockaddr_storage from;
			socklen_t flen = sizeof(from);
			int c = accept4(tfd, (struct sockaddr *)&from, &flen,
			    SOCK_CLOEXEC);

			if (c >= 0)
				record(log, "tcp", &from);
			if (c >= 0 && n < MAX_CLIENTS + 2)
				pfd[n++] = (struct pollfd){ .fd = c, .events = POLLIN };
			else if (c >= 0)
				close(c);
		}
		if (pfd[1].revents & POLLIN) {
			struct sockaddr_storage from;
			socklen_t flen = sizeof(from);
			ssize_t r = recvfrom(ufd, buf, sizeof(buf), 0,
			    (struct sockaddr *)&from, &flen);

			if (r >= 0)
				record(log, "udp", &from);
			if (r > 0)
				sendto(ufd, buf, (size_t)r, 0,
				    (struct sockaddr *)&from, flen);
		}
		for (i = 2; i < n; i++) {
			ssize_t r;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(pfd[i].fd, buf, sizeof(buf));
			if (r <= 0 || write(pfd[i].fd, buf, (size_t)r) != r) {
				close(pfd[i].fd);
				pfd[i] = pfd[--n];
				i--;
			}
		}
	}
	return 0;
}

/* One echo on fd within timeout_ms: 0 if it came back intact. */
static int
echo(int fd, int timeout_ms)
{
	char msg[32], buf[64];
	ssize_t r;

	snprintf(msg, sizeof(msg), "kakuri-%lld", pu_now_ns());
	if (wait_fd(fd, POLLOUT, timeout_ms) < 0 ||
	    send(fd, msg, strlen(msg), MSG_NOSIGNAL) != (ssize_t)strlen(msg))
		return -1;
	if (wait_fd(fd, POLLIN, timeout_ms) < 0)
		return -1;
	r = recv(fd, buf, sizeof(buf), 0);
	return r == (ssize_t)strlen(msg) && memcmp(buf, msg, (size_t)r) == 0 ?
	    0 : -1;
}

/* A socket bound to srcport (0: any) and connecting to addr:port. */
static int
connect_start(const char *addr, const char *port, int type, int srcport)
{
	struct sockaddr_storage ss, local;
	socklen_t len;
	int fam, fd, one = 1;

	if ((fam = pu_sockaddr_of(addr, port, &ss, &len)) < 0)
		return -1;
	fd = socket(fam, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (srcport > 0) {
		memset(&local, 0, sizeof(local));
		local.ss_family = (sa_family_t)fam;
		if (fam == AF_INET)
			((struct sockaddr_in *)&local)->sin_port =
			    htons((uint16_t)srcport);
		else
			((struct sockaddr_in6 *)&local)->sin6_port =
			    htons((uint16_t)srcport);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&local, len) < 0) {
			close(fd);
			return -1;
		}
	}
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
connect_from(const char *addr, const char *port, int type, int timeout_ms,
    int srcport)
{
	int fd, err = 0;
	socklen_t elen = sizeof(err);

	fd = connect_start(addr, port, type, srcport);
	if (fd < 0)
		return -1;
	if (type == SOCK_STREAM) {
		if (wait_fd(fd, POLLOUT, timeout_ms) < 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 ||
		    err != 0) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

static int
connect_to(const char *addr, const char *port, int type, int timeout_ms)
{
	return connect_from(addr, port, type, timeout_ms, 0);
}

static int
probe(const char *addr, const char *port, int type, int timeout_ms,
    int srcport)
{
	int fd = connect_from(addr, port, type, timeout_ms, srcport), r;

	if (fd < 0)
		return 1;
	r = echo(fd, timeout_ms);
	close(fd);
	return r == 0 ? 0 : 1;
}

static int
hold(const char *addr, const char *port, const char *gate, int timeout_ms)
{
	struct stat st;
	int fd = connect_to(addr, port, SOCK_STREAM, timeout_ms), i;

	if (fd < 0 || echo(fd, timeout_ms) < 0)
		return 2;
	printf("ready\n");
	fflush(stdout);
	for (i = 0; i < 3000 && stat(gate, &st) < 0; i++)	/* <= 30 s */
		usleep(10000);
	if (i == 3000)
		return 2;
	return echo(fd, timeout_ms) == 0 ? 0 : 1;
}

static int
stream(const char *addr, const char *port, int seconds)
{
	long long end = pu_now_ns() + (long long)seconds * 1000000000LL, t;
	int fd = connect_to(addr, port, SOCK_DGRAM, 1000);

	if (fd < 0)
		return 2;
	while ((t = pu_now_ns()) < end) {
		send(fd, &t, sizeof(t), MSG_DONTWAIT);
		usleep(100);
	}
	return 0;
}

static int
sink(const char *addr, const char *port, int idle_ms)
{
	struct sockaddr_storage ss;
	socklen_t len;
	long long last = 0, t;
	int fam, fd, i;

	if ((fam = pu_sockaddr_of(addr, port, &ss, &len)) < 0)
		return 2;
	fd = socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0)
		return 2;
	printf("ready\n");
	fflush(stdout);
	/* bounded: at most 10 minutes of datagrams */
	for (i = 0; i < 6000000; i++) {
		if (wait_fd(fd, POLLIN, last ? idle_ms : 30000) < 0)
			break;
		if (recv(fd, &t, sizeof(t), 0) == sizeof(t))
			last = t;
	}
	printf("%lld\n", last);
	return last ? 0 : 1;
}

static int
idle_conns(const char *addr, const char *port, int n, int seconds)
{
	int fds[1024], i, ok = 0;

	if (n < 1 || n > 1024)
		return 2;
	for (i = 0; i < n; i++) {
		fds[i] = connect_to(addr, port, SOCK_STREAM, 1000);
		if (fds[i] >= 0)
			ok++;
	}
	printf("ready %d\n", ok);
	fflush(stdout);
	sleep((unsigned)seconds);
	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return ok == n ? 0 : 1;
}

static int
garbage(const char *addr, const char *port)
{
	char buf[4096];
	int fd = connect_to(addr, port, SOCK_STREAM, 1000), i;

	if (fd < 0)
		return 1;
	for (i = 0; i < (int)sizeof(buf); i++)
		buf[i] = (char)("GET / HTTP/1.0\r\n"[i % 16] ^ (i >> 4));
	send(fd, buf, sizeof(buf), MSG_NOSIGNAL);
	usleep(100000);
	close(fd);
	return 0;
}

static int
slow(const char *addr, const char *port, int seconds)
{
	/* a TLS handshake record header promising a long ClientHello */
	static const unsigned char hello[] = { 0x16, 0x03, 0x01, 0x02, 0x00,
		0x01, 0x00, 0x01, 0xfc, 0x03, 0x03 };
	int fd = connect_to(addr, port, SOCK_STREAM, 1000), i;

	if (fd < 0)
		return 1;
	for (i = 0; i < seconds && i < (int)sizeof(hello); i++) {
		if (send(fd, &hello[i], 1, MSG_NOSIGNAL) != 1)
			break;
		sleep(1);
	}
	close(fd);
	return 0;
}

static int
notify_wait(const char *path, int timeout_ms)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char buf[4096];
	long long end = pu_now_ns() + (long long)timeout_ms * 1000000LL;
	ssize_t r;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return 2;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		return 2;
	printf("ready\n");
	fflush(stdout);
	while (pu_now_ns() < end) {
		if (wait_fd(fd, POLLIN, 100) < 0)
			continue;
		r = recv(fd, buf, sizeof(buf) - 1, 0);
		if (r <= 0)
			continue;
		buf[r] = '\0';
		if (strstr(buf, "READY=1")) {
			printf("%lld\n", pu_now_ns());
			return 0;
		}
	}
	return 1;
}

/*
 * watch: a probe every interval_ms, each allowed PROBE_WAIT_MS to pass, so
 * a slow but passing probe is never counted as blocked.
 */
#define WATCH_MAX_PROBES	4000
#define WATCH_MAX_PENDING	64
#define PROBE_WAIT_MS		500

struct watch_probe {
	int fd;
	int idx;
	long long sent;
	char tag[32];
};

static bool
watch_passed(struct watch_probe *p, int type, short revents)
{
	char buf[64];
	int err = 0;
	socklen_t elen = sizeof(err);
	ssize_t r;

	if (type == SOCK_STREAM)
		return (revents & POLLOUT) &&
		    getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 &&
		    err == 0;
	if (!(revents & POLLIN))
		return false;
	r = recv(p->fd, buf, sizeof(buf), 0);
	return r == (ssize_t)strlen(p->tag) && memcmp(buf, p->tag, (size_t)r) == 0;
}

static int
watch(const char *proto, const char *addr, const char *port, int interval_ms,
    int seconds, const char *stopfile)
{
	static bool passed[WATCH_MAX_PROBES];
	static long long sent[WATCH_MAX_PROBES];
	struct watch_probe pend[WATCH_MAX_PENDING];
	struct pollfd pfd[WATCH_MAX_PENDING];
	struct stat st;
	long long start = pu_now_ns(), end, next, now, run_first = -1, best = 0;
	long long interval = (long long)interval_ms * 1000000LL;
	int type, nprobes = 0, npend = 0, npassed = 0, i, wait_ms;
	bool stop = false;

	if (strcmp(proto, "tcp") == 0)
		type = SOCK_STREAM;
	else if (strcmp(proto, "udp") == 0)
		type = SOCK_DGRAM;
	else
		return 2;
	if (interval_ms < 1 || seconds < 1 || seconds > 120)
		return 2;
	end = start + (long long)seconds * 1000000000LL;
	next = start;
	while (!stop || npend > 0) {
		now = pu_now_ns();
		if (!stop && (now >= end || stat(stopfile, &st) == 0 ||
		    nprobes == WATCH_MAX_PROBES))
			stop = true;
		if (!stop && now >= next && npend < WATCH_MAX_PENDING) {
			struct watch_probe *p = &pend[npend];

			p->fd = connect_start(addr, port, type, 0);
			p->idx = nprobes;
			p->sent = now;
			sent[nprobes] = now;
			passed[nprobes] = false;
			snprintf(p->tag, sizeof(p->tag), "kakuri-%d", nprobes);
			nprobes++;
			next += interval;
			if (p->fd >= 0 && type == SOCK_DGRAM)
				send(p->fd, p->tag, strlen(p->tag), 0);
			if (p->fd >= 0)
				npend++;
			if (nprobes == 1) {
				printf("ready\n");
				fflush(stdout);
			}
		}
		for (i = 0; i < npend; i++)
			pfd[i] = (struct pollfd){ .fd = pend[i].fd,
			    .events = type == SOCK_STREAM ? POLLOUT : POLLIN };
		wait_ms = stop ? 10 : (int)((next - now) / 1000000LL);
		if (wait_ms < 0)
			wait_ms = 0;
		if (wait_ms > 10)
			wait_ms = 10;
		poll(pfd, (nfds_t)npend, wait_ms);
		now = pu_now_ns();
		for (i = npend - 1; i >= 0; i--) {
			bool ok = pfd[i].revents != 0 &&
			    watch_passed(&pend[i], type, pfd[i].revents);
			bool refused = (pfd[i].revents & (POLLERR | POLLHUP)) != 0;
			bool expired = now - pend[i].sent >=
			    PROBE_WAIT_MS * 1000000LL;

			if (!ok && !refused && !expired)
				continue;
			passed[pend[i].idx] = ok;
			close(pend[i].fd);
			pend[i] = pend[--npend];
		}
	}
	/* the longest run of passing probes, by send time */
	for (i = 0; i < nprobes; i++) {
		if (!passed[i]) {
			run_first = -1;
			continue;
		}
		npassed++;
		if (run_first < 0)
			run_first = sent[i];
		if (sent[i] - run_first + interval > best)
			best = sent[i] - run_first + interval;
	}
	printf("probes %d passed %d window_ms %lld\n", nprobes, npassed,
	    best / 1000000LL);
	return 0;
}

/* ICMPv6 neighbour solicitations and advertisements with a netprobe tag. */
#define NDP_TAG		"kakuri-ndp-probe"

static int
ndp_socket(const char *addr, struct sockaddr_in6 *sa, int want_type)
{
	struct icmp6_filter filt;
	int fd, hops = 255;

	memset(sa, 0, sizeof(*sa));
	sa->sin6_family = AF_INET6;
	if (inet_pton(AF_INET6, addr, &sa->sin6_addr) != 1)
		return -1;
	fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
	if (fd < 0)
		return -1;
	ICMP6_FILTER_SETBLOCKALL(&filt);
	ICMP6_FILTER_SETPASS(want_type, &filt);
	setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filt, sizeof(filt));
	/* what neighbour discovery uses: receivers drop anything else */
	setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof(hops));
	return fd;
}

/* type, code, checksum (the kernel's), reserved, target, then the tag */
static size_t
ndp_message(uint8_t *buf, uint8_t type, const struct in6_addr *target)
{
	memset(buf, 0, 24);
	buf[0] = type;
	memcpy(buf + 8, target, 16);
	memcpy(buf + 24, NDP_TAG, strlen(NDP_TAG));
	return 24 + strlen(NDP_TAG);
}

/* A tagged NDP message of type about target, sent to to. */
static ssize_t
ndp_send(int fd, uint8_t type, const struct in6_addr *target,
    const struct sockaddr_in6 *to)
{
	uint8_t out[256];

	return sendto(fd, out, ndp_message(out, type, target), 0,
	    (const struct sockaddr *)to, sizeof(*to));
}

static bool
ndp_tagged(const uint8_t *buf, ssize_t len, uint8_t type)
{
	return len == (ssize_t)(24 + strlen(NDP_TAG)) && buf[0] == type &&
	    memcmp(buf + 24, NDP_TAG, strlen(NDP_TAG)) == 0;
}

/*
 * The next tagged NDP message of type on fd before end (pu_now_ns()),
 * polling every poll_ms: 0 with its sender in *from, or -1 at the end.
 */
static int
ndp_recv(int fd, uint8_t type, long long end, int poll_ms,
    struct sockaddr_in6 *from)
{
	uint8_t buf[256];
	socklen_t flen;
	ssize_t r;

	while (pu_now_ns() < end) {
		if (wait_fd(fd, POLLIN, poll_ms) < 0)
			continue;
		flen = sizeof(*from);
		r = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)from,
		    &flen);
		if (ndp_tagged(buf, r, type))
			return 0;
	}
	return -1;
}

static int
ndp_serve(const char *addr, int seconds, const char *log)
{
	struct sockaddr_in6 self, from;
	struct sockaddr_storage ss;
	long long end = pu_now_ns() + (long long)seconds * 1000000000LL;
	int fd;

	fd = ndp_socket(addr, &self, ND_NEIGHBOR_SOLICIT);
	if (fd < 0)
		return 2;
	while (ndp_recv(fd, ND_NEIGHBOR_SOLICIT, end, 200, &from) == 0) {
		memset(&ss, 0, sizeof(ss));
		memcpy(&ss, &from, sizeof(from));
		record(log, "ndp", &ss);
		ndp_send(fd, ND_NEIGHBOR_ADVERT, &self.sin6_addr, &from);
	}
	return 0;
}

static int
ndp_probe(const char *addr, int timeout_ms)
{
	struct sockaddr_in6 to, from;
	long long end = pu_now_ns() + (long long)timeout_ms * 1000000LL;
	int fd;

	fd = ndp_socket(addr, &to, ND_NEIGHBOR_ADVERT);
	if (fd < 0)
		return 2;
	if (ndp_send(fd, ND_NEIGHBOR_SOLICIT, &to.sin6_addr, &to) < 0)
		return 1;
	while (ndp_recv(fd, ND_NEIGHBOR_ADVERT, end, 50, &from) == 0)
		if (memcmp(&from.sin6_addr, &to.sin6_addr, 16) == 0)
			return 0;
	return 1;
}

int
main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "serve") == 0)
		return serve(argv[2], argv[3], argc > 4 ? atoi(argv[4]) : 120,
		    argc > 5 ? argv[5] : NULL);
	if (argc >= 4 && strcmp(argv[1], "tcp") == 0)
		return probe(argv[2], argv[3], SOCK_STREAM,
		    argc > 4 ? atoi(argv[4]) : 1000, 0);
	if (argc >= 4 && strcmp(argv[1], "udp") == 0)
		return probe(argv[2], argv[3], SOCK_DGRAM,
		    argc > 4 ? atoi(argv[4]) : 1000, argc > 5 ? atoi(argv[5]) : 0);
	if (argc >= 5 && strcmp(argv[1], "hold") == 0)
		return hold(argv[2], argv[3], argv[4],
		    argc > 5 ? atoi(argv[5]) : 1000);
	if (argc >= 5 && strcmp(argv[1], "stream") == 0)
		return stream(argv[2], argv[3], atoi(argv[4]));
	if (argc >= 5 && strcmp(argv[1], "sink") == 0)
		return sink(argv[2], argv[3], atoi(argv[4]));
	if (argc >= 3 && strcmp(argv[1], "timed") == 0) {
		printf("%lld\n", pu_now_ns());
		fflush(stdout);
		execvp(argv[2], argv + 2);
		return 127;
	}
	if (argc >= 6 && strcmp(argv[1], "idle") == 0)
		return idle_conns(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
	if (argc >= 4 && strcmp(argv[1], "garbage") == 0)
		return garbage(argv[2], argv[3]);
	if (argc >= 5 && strcmp(argv[1], "slow") == 0)
		return slow(argv[2], argv[3], atoi(argv[4]));
	if (argc >= 4 && strcmp(argv[1], "notify-wait") == 0)
		return notify_wait(argv[2], atoi(argv[3]));
	if (argc >= 8 && strcmp(argv[1], "watch") == 0)
		return watch(argv[2], argv[3], argv[4], atoi(argv[5]),
		    atoi(argv[6]), argv[7]);
	if (argc >= 4 && strcmp(argv[1], "ndp-serve") == 0)
		return ndp_serve(argv[2], atoi(argv[3]), argc > 4 ? argv[4] : NULL);
	if (argc >= 3 && strcmp(argv[1], "ndp") == 0)
		return ndp_probe(argv[2], argc > 3 ? atoi(argv[3]) : 1000);
	fprintf(stderr, "usage: netprobe serve|tcp|udp|hold|stream|sink|idle|garbage|slow|timed|notify-wait|watch|ndp-serve|ndp ...\n");
	return 2;
}
