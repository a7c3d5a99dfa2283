/*
 * The courier child: kakurid --courier, an exec'd image as agent.user
 * with no capabilities under seccomp (courier.h).  It reads its TLS
 * material, then, one message at a time, connects to the collector (or
 * keeps the connection it has), sends the outbox file it was given as
 * one frame and passes back the collector's answer with the collector's
 * certificate chain.  It decides nothing: the parent checks the answer.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "agentconn.h"
#include "childproc.h"
#include "courier.h"
#include "netchild.h"
#include "report.h"
#include "tls.h"
#include "wire.h"

struct courier {
	struct agentconn_cfg cfg;
	struct agentconn ac;
	bool connected;
	struct kk_courier_config where;
};

/* One message to the parent, written whole (the socket is blocking). */
static void
tell(uint32_t type, uint32_t token, const void *body, size_t len)
{
	kk_child_tell("courier", type, token, body, len);
}

static void
refuse(uint32_t token, const char *fmt, ...) __attribute__((format(printf,
    2, 3)));

/* A delivery that did not happen, and why (one line of text). */
static void
refuse(uint32_t token, const char *fmt, ...)
{
	char line[300];
	va_list ap;

	va_start(ap, fmt);
	kk_child_vline(line, sizeof(line), fmt, ap);
	va_end(ap);
	tell(KK_IPC_REJECT, token, line, strlen(line));
}

static void
hang_up(struct courier *co)
{
	agentconn_close(&co->ac);
	co->connected = false;
}

/* The collector's chain as PEM text, its own certificate first. */
static char *
chain_pem(SSL *ssl, size_t *len)
{
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
	BIO *mem = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	long n;
	int i;

	if (mem == NULL || chain == NULL)
		goto out;
	for (i = 0; i < sk_X509_num(chain) && i < 8; i++)
		if (PEM_write_bio_X509(mem, sk_X509_value(chain, i)) != 1)
			goto out;
	n = BIO_get_mem_data(mem, &data);
	if (n <= 0 || (size_t)n > KK_COURIER_CHAIN_MAX ||
	    (out = malloc((size_t)n)) == NULL)
		goto out;
	memcpy(out, data, (size_t)n);
	*len = (size_t)n;
out:
	BIO_free(mem);
	return out;
}

/* The collector refused in words: {"error": word, "message": text}. */
static bool
refused_in_words(uint32_t token, const uint8_t *ans, size_t len)
{
	json_t *o = json_loadb((const char *)ans, len, 0, NULL);
	const char *word, *msg;
	bool words = false;

	if (json_is_object(o) && json_object_get(o, KW_ERROR) != NULL) {
		word = json_string_value(json_object_get(o, KW_ERROR));
		msg = json_string_value(json_object_get(o, KW_MESSAGE));
		refuse(token, "the collector refused it: %.40s%s%.160s",
		    word ? word : "?", msg ? ": " : "", msg ? msg : "");
		words = true;
	}
	json_decref(o);
	return words;
}

/* One message of the batch from the parent. */
struct parcel {
	uint32_t token;
	uint8_t *body;
	size_t len;
};

/* Every report of the batch out, back to back, by the batch's deadline. */
static int
send_all(struct courier *co, const struct parcel *p, size_t n)
{
	size_t i;
	int r;

	for (i = 0; i < n; i++)
		if ((r = agentconn_write(&co->ac, p[i].body, p[i].len)) < 0)
			return r;
	return 0;
}

/* The collector's answer to p, passed on with its certificate chain. */
static void
pass_on(struct courier *co, const struct parcel *p, const uint8_t *ans,
    size_t anslen)
{
	uint8_t *body = NULL;
	char *chain = NULL;
	size_t chainlen = 0;
	uint32_t cl;

	if (refused_in_words(p->token, ans, anslen))
		return;
	if ((chain = chain_pem(co->ac.ssl, &chainlen)) == NULL ||
	    (body = malloc(4 + chainlen + anslen)) == NULL) {
		refuse(p->token, "out of memory");
		goto out;
	}
	cl = (uint32_t)chainlen;
	memcpy(body, &cl, 4);
	memcpy(body + 4, chain, chainlen);
	memcpy(body + 4 + chainlen, ans, anslen);
	tell(KK_IPC_ACK, p->token, body, 4 + chainlen + anslen);
out:
	free(body);
	free(chain);
}

/*
 * Why a batch of bytes failed with r once connected (sending or reading
 * the answers), in words: at its deadline (end), or when the collector
 * went silent (agentconn's idle_ms).
 */
static void
batch_why(int r, bool sending, size_t bytes, long long end, char *why,
    size_t len)
{
	const char *what = sending ? "not taken" : "no answer";

	if (r == -ETIMEDOUT && kk_mono_ms() >= end)
		snprintf(why, len, "%s within %llu s", what,
		    (unsigned long long)KK_COURIER_BATCH_MS(bytes) / 1000);
	else if (r == -ETIMEDOUT)
		snprintf(why, len, "%s (silent for %d s)", what,
		    KK_COURIER_TIMEOUT_MS / 1000);
	else if (!sending && (r == -E2BIG || r == -EMSGSIZE))
		snprintf(why, len, "answer too large");
	else
		snprintf(why, len, "%s", sending ? "cannot send" : what);
}

/*
 * A batch: connected (or on the connection kept), every report sent,
 * then the answers read in order; each is passed on or refused.
 */
static void
deliver(struct courier *co, const struct parcel *p, size_t n)
{
	char err[300], why[64];
	uint8_t *ans = NULL;
	size_t anslen = 0, bytes = 0, i;
	bool reused = co->connected;
	long long end;
	int r;

	for (i = 0; i < n; i++)
		bytes += p[i].len;
	/* the time its size needs on a slow link, no more (courier.h) */
	end = kk_mono_ms() + (long long)KK_COURIER_BATCH_MS(bytes);
again:
	if (!co->connected) {
		r = agentconn_open(&co->ac, &co->cfg, co->where.collector,
		    co->where.pin[0] ? co->where.pin : NULL, err, sizeof(err));
		if (r != EX_DONE) {
			hang_up(co);
			for (i = 0; i < n; i++)
				refuse(p[i].token, "collector %s: %s",
				    co->where.collector, err);
			return;
		}
		co->connected = true;
	}
	/* the sends and every answer: one deadline, not one for each */
	co->ac.deadline = end;
	if ((r = send_all(co, p, n)) < 0) {
		hang_up(co);
		if (reused && r != -ETIMEDOUT) {
			/* the kept connection was closed by the collector */
			reused = false;
			goto again;
		}
		batch_why(r, true, bytes, end, why, sizeof(why));
		for (i = 0; i < n; i++)
			refuse(p[i].token, "collector %s: %s",
			    co->where.collector, why);
		return;
	}
	for (i = 0; i < n; i++) {
		if ((r = agentconn_recv(&co->ac, &ans, &anslen)) < 0) {
			hang_up(co);
			if (reused && i == 0 && r == -ECONNRESET) {
				reused = false;
				goto again;
			}
			batch_why(r, false, bytes, end, why, sizeof(why));
			for (; i < n; i++)
				refuse(p[i].token, "collector %s: %s",
				    co->where.collector, why);
			return;
		}
		pass_on(co, &p[i], ans, anslen);
		free(ans);
		ans = NULL;
	}
}

/* The first message: TLS material, then where the collector is. */
static void
configure(struct courier *co)
{
	struct kk_tls_material m;
	uint8_t *msg;
	size_t len;
	char err[300];

	msg = kk_child_read_config(10000, &m, sizeof(co->where), &len);
	if (msg == NULL)
		kk_child_fail("no configuration from the parent");
	memcpy(&co->where, msg + len - sizeof(co->where), sizeof(co->where));
	co->where.collector[sizeof(co->where.collector) - 1] = '\0';
	co->where.pin[sizeof(co->where.pin) - 1] = '\0';
	co->cfg.tls = kk_tls_client_ctx_mem(&m, err, sizeof(err));
	kk_child_config_free(msg, len);
	if (co->cfg.tls == NULL)
		kk_child_fail("TLS: %s", err);
	co->cfg.have_ca = m.client_ca_len > 0;
	co->cfg.timeout_ms = KK_COURIER_TIMEOUT_MS;
	/* a batch has its own deadline; a collector gone silent, sooner */
	co->cfg.idle_ms = KK_COURIER_TIMEOUT_MS;
	co->cfg.collector = true;
	co->cfg.send_max = KK_REPORT_MAX;
}

void
kd_courier_main(int argc, char **argv)
{
	struct parcel batch[KD_COURIER_WINDOW];
	struct courier co;
	struct kk_ipc_hdr h;
	struct pollfd p;
	uint8_t *body;
	size_t len, n, i;
	int r;

	kk_child_enter(argc, argv, "--courier", "kakurid-courier", false);
	memset(&co, 0, sizeof(co));
	co.ac.fd = -1;
	configure(&co);
	if ((r = kk_child_seccomp(true)) < 0)
		kk_child_fail("seccomp: %s", strerror(-r));
	for (;;) {
		r = kk_ipc_recv(KK_CHILD_FD_IPC, co.connected ?
		    KK_COURIER_IDLE_MS : -1, KK_IPC_MAX, &h, &body, &len);
		if (r == -ETIMEDOUT) {
			hang_up(&co);	/* idle: the collector gets its slot back */
			continue;
		}
		if (r < 0)
			_exit(r == -EPIPE ? 0 : 3);
		n = 0;
		/* the parent sends a batch back to back: take all of it */
		for (;;) {
			if (h.type != KK_IPC_DELIVER || body == NULL)
				kk_child_fail("courier: a message it does not "
				    "take");
			batch[n++] = (struct parcel){ h.conn, body, len };
			p = (struct pollfd){ .fd = KK_CHILD_FD_IPC,
				.events = POLLIN };
			if (n == KD_COURIER_WINDOW || poll(&p, 1, 0) != 1)
				break;
			if ((r = kk_ipc_recv(KK_CHILD_FD_IPC, 1000, KK_IPC_MAX,
			    &h, &body, &len)) < 0)
				_exit(r == -EPIPE ? 0 : 3);
		}
		deliver(&co, batch, n);
		for (i = 0; i < n; i++)
			free(batch[i].body);
	}
}
