/*
 * fleetsim direct: simulated agents on the direct CSIRT channel (issue 13,
 * make bench 13d), for kakurictl send --targets to fan out to, in one
 * process and one epoll loop (non-blocking accept, handshake, read and
 * write; never a thread per connection).
 *
 *   fleetsim direct HOST PORT N GROUP TRUST CLIENT_CA DIR TARGETS SECONDS
 *	N agents, agent i listening with TLS 1.3 on HOST:PORT+i.  Each has
 *	an identity key and a TLS key of its own and the certificates
 *	kakurid --init makes (common/keys.c): the identity certificate
 *	self-signed (DIR/i.crt), the TLS certificate issued by the identity
 *	key (DIR/i-tls.crt); a connection presents the TLS certificate with
 *	the identity certificate as its chain, and requires a client
 *	certificate of CLIENT_CA, as kakurid's network child does.  One
 *	frame (4-byte big-endian length, common/frame.c) is one command: it
 *	goes through the same check as the broker's simulated agents
 *	(simagent.c: kd_signed_check, group, replay, expiry) and its signed
 *	receipt is framed back on the connection.  TARGETS gets a line
 *	"HOST:PORT AGENTID" per agent (kakurictl send --targets).  Prints
 *	"ready N MS" once every agent listens, then serves for SECONDS or
 *	until SIGTERM and prints what it handled.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "kakuri.h"
#include "sign.h"
#include "tls.h"
#include "simagent.h"
#include "../tests/progutil.h"

#define DIRECT_MAX	60000	/* agents in one process: one port each */
#define CONN_MAX	1024	/* connections at once; more are closed */
#define FRAME_MAX	(64 * 1024)	/* a command is a few KiB */
#define HANDSHAKE_MS	5000	/* kakurid's network child's limits */
#define IDLE_MS		30000
#define ACCEPTS_MAX	64	/* accepted in one go from one listener */
#define READS_MAX	64	/* SSL_read calls in one go on one connection */
#define EVENTS		256
#define TLS_CN		"kakurid network child"	/* as kakurid --init */
#define CERT_DAYS	2

/* what an epoll event points at; 0 is a free connection slot */
enum src { SRC_LISTENER = 1, SRC_CONN };

struct dagent {
	enum src kind;		/* first: what an epoll event points at */
	struct simagent a;
	EVP_PKEY *tlskey;
	X509 *tlscert;
	STACK_OF(X509) *chain;	/* its identity certificate */
	int lfd;
};

struct dconn {
	enum src kind;
	struct dagent *ag;	/* NULL: a free slot */
	SSL *ssl;
	int fd;
	uint32_t events;
	bool handshaken, closing;
	struct kk_frame_reader rd;
	uint8_t *out;		/* a framed receipt being written */
	size_t out_len, out_off;
	double deadline;
};

static struct {
	int ep;
	SSL_CTX *ctx;
	struct simcheck chk;
	struct dagent *agents;
	size_t n;
	struct dconn conns[CONN_MAX];
	size_t nconns;
	unsigned accepted, busy, tls_failed, timeouts, bad_frames;
} D;

/* The identity key's certificate and the TLS one, as kakurid --init. */
static int
agent_make(struct dagent *g, const char *dir, size_t i)
{
	char idpath[PATH_MAX], tlspath[PATH_MAX];
	X509 *idcert = NULL;
	int r = -1;

	g->kind = SRC_LISTENER;
	g->lfd = -1;
	snprintf(idpath, sizeof(idpath), "%s/%zu.crt", dir, i);
	snprintf(tlspath, sizeof(tlspath), "%s/%zu-tls.crt", dir, i);
	if (simagent_init(&g->a) < 0 ||
	    kk_cert_selfsigned(g->a.key, g->a.id, CERT_DAYS, idpath) < 0 ||
	    kk_cert_load(idpath, &idcert) < 0 ||
	    (g->tlskey = kk_key_generate()) == NULL ||
	    kk_cert_issue(g->tlskey, TLS_CN, CERT_DAYS, idcert, g->a.key,
	    tlspath) < 0 || kk_cert_load(tlspath, &g->tlscert) < 0)
		goto out;
	/* what kk_tls_server_ctx checks of kakurid's own material */
	if (kk_cert_check_issued(g->tlscert, g->a.key) < 0 ||
	    (g->chain = sk_X509_new_null()) == NULL ||
	    sk_X509_push(g->chain, idcert) <= 0)
		goto out;
	idcert = NULL;
	r = 0;
out:
	X509_free(idcert);
	return r;
}

/*
 * The one context every agent's connections share: agent 0's material
 * through kakurid's own kk_tls_server_ctx (TLS 1.3, client certificate
 * of client_ca required); each connection then carries its agent's pair.
 */
static SSL_CTX *
server_ctx(const char *dir, const char *client_ca, const struct dagent *g0)
{
	struct kk_tls_material m = { 0 };
	char path[PATH_MAX], *key = NULL, *cert = NULL, *chain = NULL;
	char *ca = NULL, err[300];
	SSL_CTX *ctx = NULL;

	snprintf(path, sizeof(path), "%s/0-tls.key", dir);
	if (kk_key_save_private(g0->tlskey, path) < 0 ||
	    kk_pem_read(path, &key, &m.key_len) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/0-tls.crt", dir);
	if (kk_pem_read(path, &cert, &m.cert_len) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/0.crt", dir);
	if (kk_pem_read(path, &chain, &m.chain_len) < 0 ||
	    kk_pem_read(client_ca, &ca, &m.client_ca_len) < 0)
		goto out;
	m.key = key;
	m.cert = cert;
	m.chain = chain;
	m.client_ca = ca;
	if ((ctx = kk_tls_server_ctx(&m, err, sizeof(err))) == NULL)
		fprintf(stderr, "fleetsim: TLS: %s\n", err);
out:
	if (ctx == NULL && key == NULL)
		fprintf(stderr, "fleetsim: cannot read the material in %s or "
		    "%s\n", dir, client_ca);
	kk_pem_free(key);
	kk_pem_free(cert);
	kk_pem_free(chain);
	kk_pem_free(ca);
	return ctx;
}

static int
watch(int fd, void *ptr, uint32_t *events, uint32_t want)
{
	struct epoll_event ev = { .events = want, .data.ptr = ptr };

	if (want == *events)
		return 0;
	if (epoll_ctl(D.ep, *events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd,
	    &ev) < 0)
		return -1;
	*events = want;
	return 0;
}

static void
conn_close(struct dconn *c)
{
	SSL_free(c->ssl);
	close(c->fd);		/* and out of the epoll set */
	kk_frame_reader_reset(&c->rd);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	D.nconns--;
}

/* want write too, or only read; the connection closed if epoll fails */
static bool
conn_want(struct dconn *c, bool write)
{
	if (watch(c->fd, c, &c->events, EPOLLIN |
	    (write ? EPOLLOUT : 0)) == 0)
		return true;
	conn_close(c);
	return false;
}

/* An SSL call returned r <= 0: true if it only has to wait (watched). */
static bool
conn_wait(struct dconn *c, int r)
{
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return conn_want(c, false);
	case SSL_ERROR_WANT_WRITE:
		return conn_want(c, true);
	default:
		return false;
	}
}

/* A whole command: its receipt framed, ready to go out. */
static int
conn_command(struct dconn *c, uint8_t *body, size_t len)
{
	char *text;
	size_t tlen;
	int r = -1;

	text = simagent_answer(&D.chk, &c->ag->a, body, len);
	free(body);
	if (text == NULL)
		goto out;
	tlen = strlen(text);
	if ((c->out = malloc(tlen + 4)) == NULL ||
	    kk_frame_header(c->out, tlen, KK_FRAME_MAX) < 0)
		goto out;
	memcpy(c->out + 4, text, tlen);
	c->out_len = tlen + 4;
	c->out_off = 0;
	r = 0;
out:
	free(text);
	return r;
}

/* Handshake, pending output, input: as far as the connection goes now. */
static void
conn_step(struct dconn *c)
{
	uint8_t buf[16384], *body;
	size_t used, len;
	int r, fr, i;

	ERR_clear_error();
	if (!c->handshaken) {
		if ((r = SSL_do_handshake(c->ssl)) != 1) {
			if (!conn_wait(c, r)) {
				D.tls_failed++;
				if (c->ag != NULL)
					conn_close(c);
			}
			return;
		}
		c->handshaken = true;
		c->deadline = pu_now_ms() + IDLE_MS;
	}
	for (i = 0; i < READS_MAX; i++) {
		while (c->out != NULL) {
			r = SSL_write(c->ssl, c->out + c->out_off,
			    (int)(c->out_len - c->out_off));
			if (r <= 0) {
				if (!conn_wait(c, r) && c->ag != NULL)
					conn_close(c);
				return;
			}
			c->out_off += (size_t)r;
			if (c->out_off < c->out_len)
				continue;
			free(c->out);
			c->out = NULL;
			if (c->closing) {
				conn_close(c);
				return;
			}
			c->deadline = pu_now_ms() + IDLE_MS;
		}
		if (!conn_want(c, false))
			return;
		if ((r = SSL_read(c->ssl, buf, sizeof(buf))) <= 0) {
			/* the operator's close, or an error: either ends it */
			if (!conn_wait(c, r) && c->ag != NULL)
				conn_close(c);
			return;
		}
		fr = kk_frame_feed(&c->rd, buf, (size_t)r, &used);
		if (fr < 0) {
			D.bad_frames++;
			conn_close(c);
			return;
		}
		if (fr == 0)
			continue;
		/* one command at a time: a pipelined second one ends it */
		c->closing = used < (size_t)r;
		body = kk_frame_take(&c->rd, &len);
		if (conn_command(c, body, len) < 0) {
			conn_close(c);
			return;
		}
	}
}

static struct dconn *
conn_slot(void)
{
	size_t i;

	for (i = 0; i < CONN_MAX; i++)
		if (D.conns[i].ag == NULL)
			return &D.conns[i];
	return NULL;
}

/* What waits on agent g's port: accepted, at most CONN_MAX at once. */
static void
accept_all(struct dagent *g)
{
	struct dconn *c;
	int fd, i;

	for (i = 0; i < ACCEPTS_MAX; i++) {
		fd = accept4(g->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if ((c = conn_slot()) == NULL) {
			D.busy++;
			close(fd);
			continue;
		}
		D.accepted++;
		D.nconns++;
		c->kind = SRC_CONN;
		c->ag = g;
		c->fd = fd;
		c->deadline = pu_now_ms() + HANDSHAKE_MS;
		kk_frame_reader_init(&c->rd, FRAME_MAX);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
		    sizeof(int));
		/* the shared context, this agent's own certificates */
		if ((c->ssl = SSL_new(D.ctx)) == NULL ||
		    SSL_use_cert_and_key(c->ssl, g->tlscert, g->tlskey,
		    g->chain, 1) != 1 || SSL_set_fd(c->ssl, fd) != 1) {
			D.tls_failed++;
			conn_close(c);
			continue;
		}
		SSL_set_accept_state(c->ssl);
		conn_step(c);
	}
}

static void
expire(void)
{
	double now = pu_now_ms();
	size_t i;

	for (i = 0; i < CONN_MAX; i++)
		if (D.conns[i].ag != NULL && D.conns[i].deadline < now) {
			D.timeouts++;
			conn_close(&D.conns[i]);
		}
}

static int
start_all(const char *host, int port, const char *dir, const char *client_ca,
    const char *targets)
{
	bool v6 = strchr(host, ':') != NULL;
	char addr[128], err[200];
	struct dagent *g;
	uint32_t ev = 0;
	FILE *f;
	size_t i;

	for (i = 0; i < D.n; i++)
		if (agent_make(&D.agents[i], dir, i) < 0) {
			fprintf(stderr, "fleetsim: agent %zu: no keys or "
			    "certificates in %s\n", i, dir);
			return -1;
		}
	if ((D.ctx = server_ctx(dir, client_ca, &D.agents[0])) == NULL)
		return -1;
	if ((f = fopen(targets, "we")) == NULL) {
		fprintf(stderr, "fleetsim: %s: %s\n", targets, strerror(errno));
		return -1;
	}
	for (i = 0; i < D.n; i++) {
		g = &D.agents[i];
		ev = 0;
		snprintf(addr, sizeof(addr), "%s%s%s:%d", v6 ? "[" : "", host,
		    v6 ? "]" : "", port + (int)i);
		if (kk_tcp_listen(addr, &g->lfd, err, sizeof(err)) < 0 ||
		    watch(g->lfd, g, &ev, EPOLLIN) < 0) {
			fprintf(stderr, "fleetsim: %s: %s\n", addr, g->lfd < 0 ?
			    err : strerror(errno));
			fclose(f);
			return -1;
		}
		fprintf(f, "%s %s\n", addr, g->a.id);
	}
	return fclose(f) == 0 ? 0 : -1;
}

static void
free_all(void)
{
	size_t i;

	for (i = 0; i < CONN_MAX; i++)
		if (D.conns[i].ag != NULL)
			conn_close(&D.conns[i]);
	for (i = 0; i < D.n; i++) {
		kk_close(D.agents[i].lfd);
		EVP_PKEY_free(D.agents[i].a.key);
		EVP_PKEY_free(D.agents[i].tlskey);
		X509_free(D.agents[i].tlscert);
		sk_X509_pop_free(D.agents[i].chain, X509_free);
	}
	free(D.agents);
	SSL_CTX_free(D.ctx);
	simcheck_free(&D.chk);
	kk_close(D.ep);
}

int
direct_main(int argc, char **argv, volatile sig_atomic_t *stop)
{
	const char *host = argv[2];
	int port = atoi(argv[3]), n, i, ret = 1;
	struct epoll_event ev[EVENTS];
	double t0, end, next_expire, cpu_ready;
	enum src *kind;
	char err[300];
	size_t k;

	n = atoi(argv[4]);
	if (n < 1 || n > DIRECT_MAX || port < 1 || port + n - 1 > 65535) {
		fprintf(stderr, "fleetsim: N 1..%d, ports PORT..PORT+N-1 "
		    "within 1..65535\n", DIRECT_MAX);
		return 2;
	}
	D.ep = -1;
	for (k = 0; k < CONN_MAX; k++)
		D.conns[k].fd = -1;
	if (simcheck_init(&D.chk, argv[6], argv[5], err, sizeof(err)) < 0) {
		fprintf(stderr, "fleetsim: %s\n", err);
		return 1;
	}
	t0 = pu_now_ms();
	if ((D.ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (D.agents = calloc((size_t)n, sizeof(*D.agents))) == NULL)
		goto out;
	D.n = (size_t)n;
	for (k = 0; k < D.n; k++)
		D.agents[k].lfd = -1;
	if (start_all(host, port, argv[8], argv[7], argv[9]) < 0)
		goto out;
	printf("ready %zu %.0f\n", D.n, pu_now_ms() - t0);
	fflush(stdout);
	cpu_ready = sim_cpu_s();
	end = pu_now_ms() + atof(argv[10]) * 1000.0;
	next_expire = pu_now_ms() + 1000;
	while (!*stop && pu_now_ms() < end) {
		n = epoll_wait(D.ep, ev, EVENTS, 100);
		for (i = 0; i < n; i++) {
			kind = ev[i].data.ptr;
			/* a slot closed earlier in this batch is skipped */
			if (*kind == SRC_LISTENER)
				accept_all(ev[i].data.ptr);
			else if (*kind == SRC_CONN)
				conn_step(ev[i].data.ptr);
		}
		if (pu_now_ms() > next_expire) {
			expire();
			next_expire = pu_now_ms() + 1000;
		}
	}
	printf("handled done %u refused %u connections %u busy %u tls_failed "
	    "%u timeouts %u bad_frames %u cpu_after_ready %.2f", D.chk.done,
	    D.chk.refused, D.accepted, D.busy, D.tls_failed, D.timeouts,
	    D.bad_frames, sim_cpu_s() - cpu_ready);
	simcheck_print_reasons(&D.chk, stdout);
	printf("\n");
	ret = 0;
out:
	free_all();
	return ret;
}
