/*
 * dripagent - a hostile agent for the integration tests: root on an
 * infected PC owns the agent's keys and its port, and holds the CSIRT's
 * kakurictl by answering one byte at a time.
 *
 *   dripagent ADDR PORT CERT KEY CHAIN MODE SECONDS
 *       listen on ADDR:PORT and serve every connection for at most
 *       SECONDS (each in a child process):
 *       receipt    the TLS 1.3 handshake as an agent's network child
 *                  makes it (CERT and KEY: agent-tls.*, CHAIN: agent.crt,
 *                  so a pin on the agent id passes), the command read,
 *                  then an answer frame of 4096 bytes, one byte a TLS
 *                  record every 500 ms;
 *       handshake  no TLS: after the ClientHello, a handshake record of
 *                  16384 bytes, its header included, one byte every
 *                  500 ms (CERT, KEY and CHAIN are not read).
 *       Prints "ready" once listening, then for each connection "closed
 *       after S s (N bytes)" when the client hung up, or "open after S s
 *       (N bytes)" when SECONDS passed first.  Exits after SECONDS or
 *       on SIGTERM, its children with it.
 *
 * Every loop is bounded in count and time; it listens only on the
 * address it is given (test namespaces).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "../progutil.h"

#define DRIP_MS		500	/* between two bytes */
#define ANSWER_LEN	4096	/* the frame a receipt drip announces */
#define RECORD_LEN	16384	/* the handshake record a handshake drip */
#define CONNS_MAX	64	/* children at once */

static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

/* The server side as an agent's network child shows it; NULL on error. */
static SSL_CTX *
agent_ctx(const char *cert, const char *key, const char *chain)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	X509 *x = NULL;
	FILE *f;

	if (ctx == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		goto fail;
	if ((f = fopen(chain, "r")) == NULL)
		goto fail;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	/* add0: the context owns x from here */
	if (x == NULL || SSL_CTX_add0_chain_cert(ctx, x) != 1)
		goto fail;
	/* no session tickets: nothing but the drip after the handshake */
	SSL_CTX_set_num_tickets(ctx, 0);
	return ctx;
fail:
	X509_free(x);
	SSL_CTX_free(ctx);
	return NULL;
}

/* Whether the client hung up (its FIN), waiting up to ms for it. */
static bool
hung_up(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };

	return poll(&p, 1, ms) > 0 &&
	    (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Waits up to ms for what the client sends first; whether it came. */
static bool
first_bytes(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) > 0 && (p.revents & POLLIN);
}

/*
 * One connection: the bytes of out, one every DRIP_MS through ssl (or
 * the bare socket), until the client hangs up or end; says which.
 */
static void
drip(int fd, SSL *ssl, const unsigned char *out, size_t len, double end)
{
	double t0 = pu_now_s();
	size_t sent = 0;
	int n;

	while (pu_now_s() < end && !stop && sent < len) {
		if (hung_up(fd, DRIP_MS)) {
			printf("closed after %.1f s (%zu bytes)\n",
			    pu_now_s() - t0, sent);
			return;
		}
		n = ssl ? SSL_write(ssl, out + sent, 1) :
		    (int)send(fd, out + sent, 1, MSG_NOSIGNAL);
		if (n != 1)
			break;
		sent++;
	}
	if (hung_up(fd, 0))
		printf("closed after %.1f s (%zu bytes)\n", pu_now_s() - t0,
		    sent);
	else
		printf("open after %.1f s (%zu bytes)\n", pu_now_s() - t0,
		    sent);
}

/* A child: serves fd in mode until end. */
static int
serve(int fd, SSL_CTX *ctx, bool tls, double end)
{
	static unsigned char out[RECORD_LEN + 5];
	unsigned char buf[16384];
	SSL *ssl = NULL;
	size_t len;
	int r = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	memset(out, 0, sizeof(out));
	if (tls) {
		/* a blocking handshake, bounded by the alarm of main */
		if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1 ||
		    SSL_accept(ssl) != 1)
			goto out;
		/* the command, read so that it does not sit unread */
		if (first_bytes(fd, 5000))
			(void)SSL_read(ssl, buf, sizeof(buf));
		out[2] = ANSWER_LEN >> 8;
		out[3] = ANSWER_LEN & 0xff;
		len = 4 + ANSWER_LEN;
	} else {
		/* the ClientHello, whatever it says */
		if (first_bytes(fd, 5000) && read(fd, buf, sizeof(buf)) < 0)
			goto out;
		/* TLS 1.2 record layer, handshake, 16384 bytes */
		out[0] = 0x16;
		out[1] = 0x03;
		out[2] = 0x03;
		out[3] = RECORD_LEN >> 8;
		out[4] = RECORD_LEN & 0xff;
		len = 5 + RECORD_LEN;
	}
	drip(fd, ssl, out, len, end);
	fflush(stdout);
	r = 0;
out:
	ERR_clear_error();
	SSL_free(ssl);
	close(fd);
	return r;
}

int
main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	struct pollfd p;
	socklen_t sl;
	SSL_CTX *ctx = NULL;
	pid_t kids[CONNS_MAX], pid;
	double end;
	int lfd, fd, seconds, nkids = 0, i;
	bool tls;

	if (argc != 8 || (strcmp(argv[6], "receipt") != 0 &&
	    strcmp(argv[6], "handshake") != 0) ||
	    (seconds = atoi(argv[7])) < 1 || seconds > 600) {
		fprintf(stderr, "usage: dripagent ADDR PORT CERT KEY CHAIN "
		    "receipt|handshake SECONDS\n");
		return 2;
	}
	tls = strcmp(argv[6], "receipt") == 0;
	end = pu_now_s() + seconds;
	if (tls && (ctx = agent_ctx(argv[3], argv[4], argv[5])) == NULL) {
		fprintf(stderr, "dripagent: cannot load %s, %s, %s\n", argv[3],
		    argv[4], argv[5]);
		return 2;
	}
	if (pu_sockaddr_of(argv[1], argv[2], &ss, &sl) < 0 ||
	    (lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 },
	    sizeof(int)) < 0 || bind(lfd, (struct sockaddr *)&ss, sl) < 0 ||
	    listen(lfd, 16) < 0) {
		fprintf(stderr, "dripagent: %s:%s: %s\n", argv[1], argv[2],
		    strerror(errno));
		return 2;
	}
	signal(SIGTERM, on_term);
	signal(SIGPIPE, SIG_IGN);
	printf("ready\n");
	fflush(stdout);
	while (!stop && pu_now_s() < end && nkids < CONNS_MAX) {
		p = (struct pollfd){ .fd = lfd, .events = POLLIN };
		if (poll(&p, 1, 100) <= 0)
			continue;
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		pid = fork();
		if (pid == 0) {
			close(lfd);
			signal(SIGTERM, SIG_DFL);
			/* the child ends with the run, whatever the client does */
			alarm((unsigned)(end - pu_now_s()) + 1);
			_exit(serve(fd, ctx, tls, end));
		}
		if (pid > 0)
			kids[nkids++] = pid;
		close(fd);
	}
	close(lfd);
	/* only our own children, by pid */
	for (i = 0; i < nkids; i++)
		kill(kids[i], SIGTERM);
	for (i = 0; i < nkids; i++)
		waitpid(kids[i], NULL, 0);
	SSL_CTX_free(ctx);
	return 0;
}
