/*
 * netstress - attacks on the CSIRT port, for the integration tests.
 *
 *   netstress squat ADDR PORT SECONDS
 *       try to bind and listen on ADDR:PORT every millisecond, as a local
 *       user squatting the port would; keep it once it is ours.  Prints
 *       "ready", then at the end "squatted N attempts M": N is 0 when the
 *       port was never taken.  Exit 0 if it never was, 1 if it was.
 *   netstress churn ADDR PORT N SECONDS
 *       hold N idle TCP connections to ADDR:PORT and open a new one for
 *       every one the server closes (a handshake flood from one source).
 *       Prints "ready" once N are open, at the end (or on SIGTERM)
 *       "connects M".
 *   netstress status SOCKET SECONDS INTERVAL_MS
 *       ask kakurid's control socket for its status every INTERVAL_MS and
 *       print how long each answer took, in microseconds, one a line (a
 *       missing or broken answer prints "error").  Measures the daemon,
 *       not the start of a kakurictl process.
 *   netstress noread ADDR PORT CERT KEY FILE N SECONDS
 *       an authenticated operator (mutual TLS with CERT and KEY) that never
 *       reads: sends FILE (a signed command) as one frame, N times, 50 ms
 *       apart, with a receive buffer as small as the kernel allows, then
 *       waits for the server to close the connection.  Prints "sent M"
 *       and then "closed after S s", or "open after S s" when SECONDS
 *       passed first.  Its answers are never read.
 *   netstress trickle ADDR PORT CERT KEY BYTES SECONDS
 *       an authenticated operator that announces a frame of BYTES (over
 *       1 MiB: a block list's size) and then sends it one byte every two
 *       seconds, holding a large-frame slot as long as it is let.  Prints
 *       "closed after S s (N bytes)" when the server closes, or "open
 *       after S s" when SECONDS passed first.
 *
 * Every loop is bounded in count and time; it talks only to the address
 * it is given (test namespaces).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "../progutil.h"

#define MAX_CONNS	1024

static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	stop = 1;
}

static int
squat(const char *addr, const char *port, int seconds)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	double end = pu_now_ms() + seconds * 1e3;
	long attempts = 0, squatted = 0;
	int fam, fd = -1, one = 1, zero = 0;

	if ((fam = pu_sockaddr_of(addr, port, &ss, &sl)) < 0)
		return 2;
	printf("ready\n");
	fflush(stdout);
	while (pu_now_ms() < end) {
		if (fd < 0) {
			attempts++;
			fd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (fd < 0)
				return 2;
			/* everything that could make a second bind work */
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			if (fam == AF_INET6)
				setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero,
				    sizeof(zero));
			if (bind(fd, (struct sockaddr *)&ss, sl) == 0 &&
			    listen(fd, 16) == 0) {
				squatted++;
				fprintf(stderr, "netstress: squatted %s:%s\n", addr,
				    port);
			} else {
				close(fd);
				fd = -1;
			}
		}
		usleep(1000);
	}
	if (fd >= 0)
		close(fd);
	printf("squatted %ld attempts %ld\n", squatted, attempts);
	return squatted ? 1 : 0;
}

static int
connect_nb(const struct sockaddr_storage *ss, socklen_t sl)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)ss, sl) < 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
churn(const char *addr, const char *port, int n, int seconds)
{
	struct pollfd p[MAX_CONNS];
	struct sockaddr_storage ss;
	socklen_t sl;
	double end = pu_now_ms() + seconds * 1e3;
	long long connects = 0;
	bool ready = false;
	char buf[512];
	int i, open_now;

	if (n < 1 || n > MAX_CONNS || pu_sockaddr_of(addr, port, &ss, &sl) < 0)
		return 2;
	signal(SIGTERM, on_term);
	for (i = 0; i < n; i++) {
		p[i].fd = connect_nb(&ss, sl);
		p[i].events = POLLIN;
		connects += p[i].fd >= 0;
	}
	while (pu_now_ms() < end && !stop) {
		if (poll(p, (nfds_t)n, 20) < 0 && errno != EINTR)
			break;
		open_now = 0;
		for (i = 0; i < n; i++) {
			/* closed by the server (or never made): a new one */
			if (p[i].fd >= 0 && (p[i].revents & (POLLIN | POLLHUP |
			    POLLERR)) && read(p[i].fd, buf, sizeof(buf)) <= 0) {
				close(p[i].fd);
				p[i].fd = -1;
			}
			p[i].revents = 0;
			if (p[i].fd < 0) {
				p[i].fd = connect_nb(&ss, sl);
				connects += p[i].fd >= 0;
			}
			open_now += p[i].fd >= 0;
		}
		if (!ready && open_now == n) {
			ready = true;
			printf("ready\n");
			fflush(stdout);
		}
	}
	for (i = 0; i < n; i++)
		if (p[i].fd >= 0)
			close(p[i].fd);
	printf("connects %lld\n", connects);
	return 0;
}

/* One status request, framed like kakurictl's; 0 if an answer came. */
static int
status_once(const char *path)
{
	static const char req[] = "{\"cmd\":\"status\"}";
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	unsigned char hdr[4] = { 0, 0, 0, sizeof(req) - 1 }, buf[4096];
	struct pollfd p;
	double end = pu_now_ms() + 5000;
	size_t want = 0, got = 0;
	ssize_t n;
	int fd, r = -1;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -1;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    write(fd, hdr, 4) != 4 ||
	    write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1)
		goto out;
	/* the whole answer: its length, then that many bytes */
	while (pu_now_ms() < end) {
		p = (struct pollfd){ .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			goto out;
		if (got < 4 && got + (size_t)n >= 4) {
			unsigned char h[4];
			size_t i;

			for (i = 0; i < 4; i++)
				h[i] = i < got ? hdr[i] : buf[i - got];
			want = 4 + ((size_t)h[0] << 24 | (size_t)h[1] << 16 |
			    (size_t)h[2] << 8 | h[3]);
		} else if (got < 4) {
			memcpy(hdr + got, buf, (size_t)n);
		}
		got += (size_t)n;
		if (want && got >= want) {
			r = 0;
			break;
		}
	}
out:
	close(fd);
	return r;
}

static int
status_loop(const char *path, int seconds, int interval_ms)
{
	double end = pu_now_ms() + seconds * 1e3;
	long long t0;

	if (interval_ms < 1 || seconds < 1)
		return 2;
	while (pu_now_ms() < end) {
		t0 = pu_now_us();
		if (status_once(path) == 0)
			printf("%lld\n", pu_now_us() - t0);
		else
			printf("error\n");
		fflush(stdout);
		usleep((useconds_t)interval_ms * 1000);
	}
	return 0;
}

/* FILE's bytes (at most 64 KiB) into buf with a frame's header. */
static long
frame_of(const char *path, unsigned char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (f == NULL)
		return -1;
	n = fread(buf + 4, 1, size - 4, f);
	fclose(f);
	if (n == 0 || n == size - 4)
		return -1;
	buf[0] = (unsigned char)(n >> 24);
	buf[1] = (unsigned char)(n >> 16);
	buf[2] = (unsigned char)(n >> 8);
	buf[3] = (unsigned char)n;
	return (long)n + 4;
}

/* An authenticated operator's connection (mutual TLS). */
struct op {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
};

/*
 * argv: ADDR PORT CERT KEY: o connected and through the handshake, with
 * a receive buffer as small as the kernel allows if small; 0 or -1.
 */
static int
op_connect(struct op *o, char **argv, bool small)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1;

	o->ctx = NULL;
	o->ssl = NULL;
	o->fd = -1;
	if (pu_sockaddr_of(argv[0], argv[1], &ss, &sl) < 0 ||
	    (o->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_use_certificate_file(o->ctx, argv[2], SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(o->ctx, argv[3], SSL_FILETYPE_PEM) != 1)
		return -1;
	/* the server is the agent's own certificate: not what is tested */
	SSL_CTX_set_verify(o->ctx, SSL_VERIFY_NONE, NULL);
	if ((o->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (small)
		setsockopt(o->fd, SOL_SOCKET, SO_RCVBUF, &one, sizeof(one));
	setsockopt(o->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(o->fd, (struct sockaddr *)&ss, sl) < 0 ||
	    (o->ssl = SSL_new(o->ctx)) == NULL || SSL_set_fd(o->ssl, o->fd) != 1 ||
	    SSL_connect(o->ssl) != 1)
		return -1;
	return 0;
}

static void
op_close(struct op *o)
{
	ERR_clear_error();
	SSL_free(o->ssl);
	SSL_CTX_free(o->ctx);
	if (o->fd >= 0)
		close(o->fd);
}

/* Whether the server closed o (its FIN, seen without reading), in 200 ms. */
static bool
op_closed(const struct op *o)
{
	struct pollfd p = { .fd = o->fd, .events = POLLRDHUP };

	return poll(&p, 1, 200) > 0 &&
	    (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* argv: ADDR PORT CERT KEY FILE N SECONDS, from argv[1] */
static int
noread(char **argv)
{
	static unsigned char frame[65536];
	struct pollfd p;
	struct op o = { NULL, NULL, -1 };
	double t0, end;
	long flen;
	int n = atoi(argv[6]), seconds = atoi(argv[7]), i, sent = 0, r = 2;

	if (n < 1 || n > 100000 || seconds < 1 || seconds > 600 ||
	    (flen = frame_of(argv[5], frame, sizeof(frame))) < 0)
		return 2;
	if (op_connect(&o, argv + 1, true) < 0)
		goto out;
	/* one frame a record, never two in one: no pipelining */
	for (i = 0; i < n; i++) {
		p = (struct pollfd){ .fd = o.fd, .events = POLLOUT };
		if (poll(&p, 1, 2000) <= 0 || (p.revents & (POLLHUP | POLLERR)))
			break;
		if (SSL_write(o.ssl, frame, (int)flen) != (int)flen)
			break;
		sent++;
		pu_nap_ms(50);
	}
	printf("sent %d\n", sent);
	fflush(stdout);
	/* closed by the server: its FIN, seen without reading a byte */
	t0 = pu_now_s();
	end = t0 + seconds;
	r = 1;
	while (pu_now_s() < end) {
		if (op_closed(&o)) {
			printf("closed after %.0f s\n", pu_now_s() - t0);
			r = 0;
			goto out;
		}
	}
	printf("open after %d s\n", seconds);
out:
	op_close(&o);
	return r;
}

/* argv: ADDR PORT CERT KEY BYTES SECONDS, from argv[1] */
static int
trickle(char **argv)
{
	struct op o = { NULL, NULL, -1 };
	unsigned char hdr[4], zero = 0;
	long bytes = atol(argv[5]);
	int seconds = atoi(argv[6]), r = 2, sent = 0;
	double t0, end, next;

	if (bytes <= (1L << 20) || bytes > (64L << 20) || seconds < 1 ||
	    seconds > 600)
		return 2;
	if (op_connect(&o, argv + 1, false) < 0)
		goto out;
	hdr[0] = (unsigned char)(bytes >> 24);
	hdr[1] = (unsigned char)(bytes >> 16);
	hdr[2] = (unsigned char)(bytes >> 8);
	hdr[3] = (unsigned char)bytes;
	if (SSL_write(o.ssl, hdr, sizeof(hdr)) != (int)sizeof(hdr))
		goto out;
	printf("ready\n");
	fflush(stdout);
	t0 = pu_now_s();
	end = t0 + seconds;
	next = t0 + 2;
	r = 1;
	while (pu_now_s() < end) {
		if (op_closed(&o)) {
			printf("closed after %.0f s (%d bytes)\n",
			    pu_now_s() - t0, sent);
			r = 0;
			goto out;
		}
		if (pu_now_s() >= next && sent < bytes) {
			if (SSL_write(o.ssl, &zero, 1) == 1)
				sent++;
			next += 2;
		}
	}
	printf("open after %d s (%d bytes)\n", seconds, sent);
out:
	op_close(&o);
	return r;
}

int
main(int argc, char **argv)
{
	if (argc == 8 && strcmp(argv[1], "trickle") == 0)
		return trickle(argv + 1);
	if (argc == 9 && strcmp(argv[1], "noread") == 0)
		return noread(argv + 1);
	if (argc == 5 && strcmp(argv[1], "squat") == 0)
		return squat(argv[2], argv[3], atoi(argv[4]));
	if (argc == 6 && strcmp(argv[1], "churn") == 0)
		return churn(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
	if (argc == 5 && strcmp(argv[1], "status") == 0)
		return status_loop(argv[2], atoi(argv[3]), atoi(argv[4]));
	fprintf(stderr, "usage: netstress squat ADDR PORT SECONDS | "
	    "churn ADDR PORT N SECONDS | status SOCKET SECONDS INTERVAL_MS | "
	    "noread ADDR PORT CERT KEY FILE N SECONDS | "
	    "trickle ADDR PORT CERT KEY BYTES SECONDS\n");
	return 2;
}
