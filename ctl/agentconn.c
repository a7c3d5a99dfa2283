/*
 * One connection to an agent's CSIRT channel: TCP, TLS 1.3, the agent's
 * identity, frames and receipts.  The TLS key is the network child's; it
 * authenticates nothing by itself.  The identity key behind it (agent.crt,
 * held by kakurid's root parent) is what a pin or a CA vouches for, and
 * what must have signed every receipt.
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "kakuri.h"
#include "agentconn.h"
#include "report.h"
#include "sign.h"
#include "tls.h"
#include "wire.h"

/* ms to ac->deadline for a poll; 0 when it has passed */
static int
time_left(const struct agentconn *ac)
{
	long long left = ac->deadline - kk_mono_ms();

	if (left <= 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/*
 * Whether the peer showed life in the last ms: an ACK of our bytes or
 * data of its own (TCP_INFO).  On a slow link a wait for room to write,
 * or for an answer while our last bytes still drain, outlasts ms though
 * the peer takes every byte.
 */
static bool
peer_alive(int fd, int ms)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return false;
	return ti.tcpi_last_ack_recv < (unsigned)ms ||
	    ti.tcpi_last_data_recv < (unsigned)ms;
}

/*
 * Waits until fd is ready for events by ac->deadline: 0, -ETIMEDOUT or
 * -errno.  The deadline is absolute: a peer that sends a byte just
 * before each wait would end gets no more time for the step as a whole.
 * With ac->idle_ms, a peer silent that long ends it sooner.
 */
static int
wait_fd(const struct agentconn *ac, int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	bool slice;
	int left, r;

	for (;;) {
		if ((left = time_left(ac)) == 0)
			return -ETIMEDOUT;
		slice = ac->idle_ms > 0 && left > ac->idle_ms;
		r = poll(&p, 1, slice ? ac->idle_ms : left);
		if (r > 0)
			return 0;
		if (r == 0 && !(slice && peer_alive(fd, ac->idle_ms)))
			return -ETIMEDOUT;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

/* HOST:PORT as given, and each of its parts */
#define HOSTPORT_MAX	128

/*
 * A host name's lookup, in one block: glibc's helper thread reads the
 * name, the service and the hints and writes its answer into the gaicb
 * while the caller waits, so they are allocated and freed together.
 */
struct lookup {
	struct gaicb cb;
	struct addrinfo hints;
	char host[HOSTPORT_MAX], port[HOSTPORT_MAX];
};

/*
 * The addresses of host, port (numeric) by ac->deadline: 0 with *res
 * (freeaddrinfo), or -1 with err filled in, naming hostport.
 *
 * getaddrinfo(3) alone waits for the resolver as long as resolv.conf
 * says (timeout x attempts x servers: minutes with a DNS server that
 * does not answer, as in an incident), though every other step of the
 * connection ends by the deadline.  An address literal needs no lookup
 * and is answered at once (AI_NUMERICHOST: no NSS, no thread, as before
 * and as the courier's seccomp filter needs); only a name is looked up,
 * by glibc's helper threads (getaddrinfo_a), and waited for up to the
 * deadline.  glibc keeps its requests under a lock of its own and each
 * caller waits for its own request only: the fan-out's worker threads
 * look names up side by side.
 */
static int
lookup(struct agentconn *ac, const char *host, const char *port,
    const char *hostport, int timeout_ms, struct addrinfo **res,
    char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV | AI_NUMERICHOST };
	struct lookup *lk = NULL;
	struct gaicb *list[1];
	const struct gaicb *pending[1];
	struct timespec ts;
	int left, r;

	*res = NULL;
	/* a name, or a port that is no number (its lookup fails as before) */
	if ((r = getaddrinfo(host, port, &hints, res)) != EAI_NONAME)
		goto out;
	if ((lk = calloc(1, sizeof(*lk))) == NULL) {
		r = EAI_MEMORY;
		goto out;
	}
	snprintf(lk->host, sizeof(lk->host), "%s", host);
	snprintf(lk->port, sizeof(lk->port), "%s", port);
	lk->hints.ai_socktype = SOCK_STREAM;
	lk->hints.ai_flags = AI_NUMERICSERV;
	lk->cb.ar_name = lk->host;
	lk->cb.ar_service = lk->port;
	lk->cb.ar_request = &lk->hints;
	list[0] = &lk->cb;
	pending[0] = &lk->cb;
	if ((r = getaddrinfo_a(GAI_NOWAIT, list, 1, NULL)) != 0)
		goto out;
	/* woken by a signal, or by nothing: wait on for what is left */
	while ((r = gai_error(&lk->cb)) == EAI_INPROGRESS &&
	    (left = time_left(ac)) > 0) {
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (long)(left % 1000) * 1000000;
		gai_suspend(pending, 1, &ts);
	}
	if (r == 0) {
		*res = lk->cb.ar_result;
		lk->cb.ar_result = NULL;
	} else if (r == EAI_INPROGRESS) {
		/*
		 * Past the deadline.  A request still queued is cancelled;
		 * one a helper thread works on cannot be (EAI_NOTCANCELED):
		 * that thread still reads the name and will write its answer
		 * into the block, so the block is left to it, never freed.
		 * One per target whose lookup outlived its deadline, and
		 * while they hang no more than glibc runs at once (20
		 * threads; a lookup queued behind them is cancelled at its
		 * deadline and freed): kakurictl is a command that ends.
		 */
		if (gai_cancel(&lk->cb) == EAI_NOTCANCELED)
			lk = NULL;
		else if (lk->cb.ar_result != NULL)
			freeaddrinfo(lk->cb.ar_result);	/* it ended just now */
	}
out:
	if (r == EAI_INPROGRESS)
		snprintf(err, errlen, "%s: no address within %d ms", hostport,
		    timeout_ms);
	else if (r != 0)
		snprintf(err, errlen, "%s: %s", hostport, gai_strerror(r));
	free(lk);
	return r == 0 ? 0 : -1;
}

/*
 * TCP to HOST:PORT ([v6]:PORT) by ac->deadline, the name's lookup and
 * every address tried within it; a non-blocking fd (every step polls to
 * its deadline) or -1 with err filled in.
 */
static int
tcp_connect(struct agentconn *ac, const char *hostport, int timeout_ms,
    char *err, size_t errlen)
{
	struct addrinfo *res = NULL, *ai;
	char host[HOSTPORT_MAX], *port;
	int fd = -1, soerr = 0, r;
	socklen_t sl = sizeof(soerr);

	if (snprintf(host, sizeof(host), "%s", hostport) >= (int)sizeof(host)) {
		snprintf(err, errlen, "address too long");
		return -1;
	}
	port = strrchr(host, ':');
	if (port == NULL) {
		snprintf(err, errlen, "expected HOST:PORT");
		return -1;
	}
	*port++ = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	if (lookup(ac, host, port, hostport, timeout_ms, &res, err,
	    errlen) < 0)
		return -1;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			r = wait_fd(ac, fd, POLLOUT);
			if (r == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR,
			    &soerr, &sl) == 0 && soerr == 0)
				break;
			errno = r < 0 ? -r : soerr ? soerr : EIO;
		}
		if (errno == ETIMEDOUT)
			snprintf(err, errlen, "connect %s: no answer within "
			    "%d ms", hostport, timeout_ms);
		else
			snprintf(err, errlen, "connect %s: %s", hostport,
			    strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
		    sizeof(int));
	return fd;
}

/*
 * After an SSL call on the non-blocking socket returned n <= 0: waits
 * for what the TLS engine asked for (0: call it again), or the step is
 * over: -ETIMEDOUT at the deadline, -ECONNRESET when the peer closed,
 * -EPROTO for a TLS error (left in OpenSSL's error queue).
 */
static int
ssl_wait(struct agentconn *ac, int n)
{
	switch (SSL_get_error(ac->ssl, n)) {
	case SSL_ERROR_WANT_READ:
		return wait_fd(ac, ac->fd, POLLIN);
	case SSL_ERROR_WANT_WRITE:
		return wait_fd(ac, ac->fd, POLLOUT);
	case SSL_ERROR_ZERO_RETURN:
	case SSL_ERROR_SYSCALL:
		return -ECONNRESET;
	default:
		return -EPROTO;
	}
}

static int pinned(struct agentconn *ac, bool have_ca, const char *pin,
    const char *who, char *err, size_t errlen);

/*
 * After the handshake, who the agent is: its identity key and id from the
 * chain (tls.h), authenticated by the CA (have_ca) or by pin (if not
 * NULL, it must match in either mode).
 */
static int
agent_identity(struct agentconn *ac, bool have_ca, const char *pin,
    char *err, size_t errlen)
{
	char why[200];

	if (kk_tls_peer_identity(ac->ssl, have_ca, &ac->identity, ac->id, why,
	    sizeof(why)) < 0) {
		snprintf(err, errlen, "%s", why);
		return EX_UNREACHABLE;
	}
	return pinned(ac, have_ca, pin, "agent", err, errlen);
}

/*
 * A collector is the key of its own certificate (report.h), which a CA
 * alone vouches for only with addr in it.
 */
static int
collector_identity(struct agentconn *ac, bool have_ca, const char *addr,
    const char *pin, char *err, size_t errlen)
{
	const char *why = "";
	SSL_CTX *ctx = SSL_get_SSL_CTX(ac->ssl);

	if (kk_collector_identity(SSL_get0_peer_certificate(ac->ssl),
	    SSL_get_peer_cert_chain(ac->ssl), have_ca ?
	    SSL_CTX_get_cert_store(ctx) : NULL, pin == NULL ? addr : NULL,
	    &ac->identity, ac->id, &why) < 0) {
		snprintf(err, errlen, "%s", why);
		return EX_UNREACHABLE;
	}
	return pinned(ac, have_ca, pin, "collector", err, errlen);
}

/* The id found is the one pinned, or a CA vouched for it. */
static int
pinned(struct agentconn *ac, bool have_ca, const char *pin, const char *who,
    char *err, size_t errlen)
{
	/* without a CA the pinned agent id is the only authentication */
	if (pin != NULL ? strcmp(pin, ac->id) != 0 : !have_ca) {
		snprintf(err, errlen, "%s id %.16s... does not match the "
		    "pinned id", who, ac->id);
		EVP_PKEY_free(ac->identity);
		ac->identity = NULL;
		return EX_UNREACHABLE;
	}
	return EX_DONE;
}

/*
 * The handshake by ac->deadline: 0, or -ETIMEDOUT, -ECONNRESET or
 * -EPROTO as ssl_wait says.
 */
static int
handshake(struct agentconn *ac)
{
	int n, r;

	while ((n = SSL_connect(ac->ssl)) != 1)
		if ((r = ssl_wait(ac, n)) < 0)
			return r;
	return 0;
}

int
agentconn_open(struct agentconn *ac, const struct agentconn_cfg *cfg,
    const char *addr, const char *pin, char *err, size_t errlen)
{
	char e[200];
	int r;

	memset(ac, 0, sizeof(*ac));
	ac->send_max = cfg->send_max ? cfg->send_max : KK_FRAME_MAX;
	ac->timeout_ms = cfg->timeout_ms;
	ac->idle_ms = cfg->idle_ms;
	ac->end = cfg->end;
	/* one deadline for TCP, TLS and the identity, not one for each */
	agentconn_within(ac, cfg->timeout_ms);
	ac->fd = tcp_connect(ac, addr, cfg->timeout_ms, err, errlen);
	if (ac->fd < 0)
		return EX_UNREACHABLE;
	ac->ssl = SSL_new(cfg->tls);
	if (ac->ssl == NULL || SSL_set_fd(ac->ssl, ac->fd) != 1) {
		snprintf(err, errlen, "out of memory");
		return EX_FAILED;
	}
	ERR_clear_error();
	if ((r = handshake(ac)) < 0) {
		if (r == -ETIMEDOUT)
			snprintf(err, errlen, "TLS: no answer within %d ms",
			    cfg->timeout_ms);
		else if (r == -ECONNRESET && ERR_peek_last_error() == 0)
			snprintf(err, errlen, "TLS: connection closed");
		else if (r == -EPROTO || r == -ECONNRESET)
			snprintf(err, errlen, "TLS: %s",
			    kk_tls_error(e, sizeof(e)));
		else
			snprintf(err, errlen, "TLS: %s", strerror(-r));
		return EX_UNREACHABLE;
	}
	if (cfg->collector)
		return collector_identity(ac, cfg->have_ca, addr, pin, err,
		    errlen);
	return agent_identity(ac, cfg->have_ca, pin, err, errlen);
}

void
agentconn_close(struct agentconn *ac)
{
	EVP_PKEY_free(ac->identity);
	ac->identity = NULL;
	free(ac->receipt);
	ac->receipt = NULL;
	if (ac->ssl != NULL) {
		/* a close_notify if it fits now: the socket never blocks */
		if (SSL_is_init_finished(ac->ssl))
			SSL_shutdown(ac->ssl);
		SSL_free(ac->ssl);
		ac->ssl = NULL;
	}
	ac->fd = kk_close(ac->fd);
}

/* len bytes out by ac->deadline: 0, -ETIMEDOUT or -EIO. */
static int
ssl_write_all(struct agentconn *ac, const void *buf, size_t len)
{
	size_t done = 0;
	int n, r;

	while (done < len) {
		/* after WANT_*, the same buffer and length again (SSL_write) */
		n = SSL_write(ac->ssl, (const char *)buf + done,
		    (int)(len - done));
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if ((r = ssl_wait(ac, n)) < 0)
			return r == -ETIMEDOUT ? r : -EIO;
	}
	return 0;
}

void
agentconn_within(struct agentconn *ac, long long ms)
{
	ac->deadline = kk_mono_ms() + ms;
	if (ac->end != 0 && ac->deadline > ac->end)
		ac->deadline = ac->end;
}

int
agentconn_write(struct agentconn *ac, const void *body, size_t len)
{
	uint8_t *msg;
	int r;

	/* header and body in one record: no Nagle wait between them */
	msg = malloc(len + 4);
	if (msg == NULL)
		return -ENOMEM;
	if ((r = kk_frame_header(msg, len, ac->send_max)) == 0) {
		memcpy(msg + 4, body, len);
		r = ssl_write_all(ac, msg, len + 4);
	}
	free(msg);
	return r;
}

int
agentconn_send(struct agentconn *ac, const void *body, size_t len)
{
	/* a request starts an exchange: it and its answer get the timeout */
	agentconn_within(ac, ac->timeout_ms);
	return agentconn_write(ac, body, len);
}

int
agentconn_recv(struct agentconn *ac, uint8_t **body, size_t *len)
{
	struct kk_frame_reader rd;
	int n, r;

	/*
	 * No count of reads: the frame reader takes at most KK_FRAME_MAX + 4
	 * bytes for a frame, and every wait for more ends at the deadline.
	 */
	kk_frame_reader_init(&rd, KK_FRAME_MAX);
	for (;;) {
		if (ac->rbuf_off == ac->rbuf_len) {
			/* a peer that keeps the socket busy with no data */
			if (time_left(ac) == 0) {
				r = -ETIMEDOUT;
				goto out;
			}
			n = SSL_read(ac->ssl, ac->rbuf, sizeof(ac->rbuf));
			if (n <= 0) {
				if ((r = ssl_wait(ac, n)) == 0)
					continue;
				if (r != -ETIMEDOUT)
					r = -ECONNRESET;
				goto out;
			}
			ac->rbuf_len = (size_t)n;
			ac->rbuf_off = 0;
		}
		/* what follows this frame stays for the next call */
		r = kk_frame_next(&rd, ac->rbuf, ac->rbuf_len, &ac->rbuf_off,
		    body, len);
		if (r < 0)
			goto out;
		if (r == 1)
			return 0;
	}
out:
	kk_frame_reader_reset(&rd);
	return r;
}

int
agentconn_command(struct agentconn *ac, const void *envelope, size_t len,
    const char *command_id, json_t **receipt, const char **why)
{
	const char *cmd, *res;
	uint8_t *reply = NULL;
	size_t rlen;
	json_t *rec;
	int r;

	*receipt = NULL;
	*why = "no receipt";
	/* the command and its receipt within one timeout (agentconn_send) */
	if (agentconn_send(ac, envelope, len) < 0)
		return EX_UNREACHABLE;
	if ((r = agentconn_recv(ac, &reply, &rlen)) == -EMSGSIZE) {
		/* an answer no kakurid sends: the agent is not unreachable */
		*why = "the answer is over 1 MiB: not a receipt";
		return EX_FAILED;
	}
	if (r < 0)
		return EX_UNREACHABLE;
	/* signed by the agent's root parent, never by the TLS key */
	rec = kk_receipt_open(reply, rlen, ac->identity, ac->id, why);
	if (rec == NULL) {
		free(reply);
		return EX_FAILED;
	}
	/* the envelope as it came, for send --save-receipts */
	free(ac->receipt);
	ac->receipt = reply;
	ac->receipt_len = rlen;
	/*
	 * A refusal before the payload was parsed carries no command id, so
	 * it can say only that: a receipt of no command that says done is
	 * root's on the agent, not kakurid's (fleetsend.c refuses it too).
	 */
	cmd = json_string_value(json_object_get(rec, KW_COMMAND));
	res = json_string_value(json_object_get(rec, KW_RESULT));
	if (command_id != NULL && cmd == NULL &&
	    (res == NULL || strcmp(res, KR_DONE) == 0)) {
		*why = "receipt names no command but says done";
		json_decref(rec);
		return EX_FAILED;
	}
	if (command_id != NULL && cmd != NULL && strcmp(cmd, command_id) != 0) {
		*why = "receipt is for another command";
		json_decref(rec);
		return EX_FAILED;
	}
	*receipt = rec;
	return EX_DONE;
}
