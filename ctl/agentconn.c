/*
 * One connection to an agent's CSIRT channel: TCP, TLS 1.3, the agent's
 * identity, frames and receipts.  The TLS key is the network child's; it
 * authenticates nothing by itself.  The identity key behind it (agent.crt,
 * held by kakurid's root parent) is what a pin or a CA vouches for, and
 * what must have signed every receipt.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
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

#define READS_PER_FRAME_MAX	100000	/* SSL_read calls for one frame */

/* TCP to HOST:PORT ([v6]:PORT) with send/receive timeouts; fd or -1 + err */
static int
tcp_connect(const char *hostport, int timeout_ms, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV }, *res = NULL, *ai;
	char host[128], *port;
	struct pollfd p;
	int fd = -1, soerr = 0, r;
	socklen_t sl = sizeof(soerr);
	struct timeval tv = { .tv_sec = timeout_ms / 1000,
		.tv_usec = (timeout_ms % 1000) * 1000 };

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
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s: %s", hostport, gai_strerror(r));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			p = (struct pollfd){ .fd = fd, .events = POLLOUT };
			if (poll(&p, 1, timeout_ms) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
			    soerr == 0)
				break;
			errno = soerr ? soerr : ETIMEDOUT;
		}
		snprintf(err, errlen, "connect %s: %s", hostport, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return -1;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
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

int
agentconn_open(struct agentconn *ac, const struct agentconn_cfg *cfg,
    const char *addr, const char *pin, char *err, size_t errlen)
{
	char e[200];

	memset(ac, 0, sizeof(*ac));
	ac->frame_max = cfg->frame_max ? cfg->frame_max : KK_FRAME_MAX;
	ac->fd = tcp_connect(addr, cfg->timeout_ms, err, errlen);
	if (ac->fd < 0)
		return EX_UNREACHABLE;
	ac->ssl = SSL_new(cfg->tls);
	if (ac->ssl == NULL || SSL_set_fd(ac->ssl, ac->fd) != 1) {
		snprintf(err, errlen, "out of memory");
		return EX_FAILED;
	}
	ERR_clear_error();
	if (SSL_connect(ac->ssl) != 1) {
		snprintf(err, errlen, "TLS: %s", kk_tls_error(e, sizeof(e)));
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
	if (ac->ssl != NULL) {
		if (SSL_is_init_finished(ac->ssl))
			SSL_shutdown(ac->ssl);
		SSL_free(ac->ssl);
		ac->ssl = NULL;
	}
	if (ac->fd >= 0)
		close(ac->fd);
	ac->fd = -1;
}

static int
ssl_write_all(SSL *ssl, const void *buf, size_t len)
{
	size_t done = 0;
	int n;

	while (done < len) {
		n = SSL_write(ssl, (const char *)buf + done, (int)(len - done));
		if (n <= 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

int
agentconn_send(struct agentconn *ac, const void *body, size_t len)
{
	uint8_t *msg;
	int r;

	/* header and body in one record: no Nagle wait between them */
	msg = malloc(len + 4);
	if (msg == NULL)
		return -ENOMEM;
	if ((r = kk_frame_header(msg, len, ac->frame_max)) == 0) {
		memcpy(msg + 4, body, len);
		r = ssl_write_all(ac->ssl, msg, len + 4);
	}
	free(msg);
	return r;
}

int
agentconn_recv(struct agentconn *ac, uint8_t **body, size_t *len)
{
	struct kk_frame_reader rd;
	int n, r = -E2BIG, i;

	kk_frame_reader_init(&rd, ac->frame_max);
	for (i = 0; i < READS_PER_FRAME_MAX; i++) {
		if (ac->rbuf_off == ac->rbuf_len) {
			n = SSL_read(ac->ssl, ac->rbuf, sizeof(ac->rbuf));
			if (n <= 0) {
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
	r = -E2BIG;
out:
	kk_frame_reader_reset(&rd);
	return r;
}

int
agentconn_command(struct agentconn *ac, const void *envelope, size_t len,
    const char *command_id, json_t **receipt, const char **why)
{
	const char *cmd;
	uint8_t *reply = NULL;
	size_t rlen;
	json_t *rec;

	*receipt = NULL;
	*why = "no receipt";
	if (agentconn_send(ac, envelope, len) < 0 ||
	    agentconn_recv(ac, &reply, &rlen) < 0)
		return EX_UNREACHABLE;
	/* signed by the agent's root parent, never by the TLS key */
	rec = kk_receipt_open(reply, rlen, ac->identity, ac->id, why);
	free(reply);
	if (rec == NULL)
		return EX_FAILED;
	/* a refusal before the payload was parsed carries no command id */
	cmd = json_string_value(json_object_get(rec, KW_COMMAND));
	if (command_id != NULL && cmd != NULL && strcmp(cmd, command_id) != 0) {
		*why = "receipt is for another command";
		json_decref(rec);
		return EX_FAILED;
	}
	*receipt = rec;
	return EX_DONE;
}
