/*
 * fleetsim: the fleet benchmark's side of the broker (issue 13, make bench
 * section 13), in one process and one epoll loop over libmosquitto's
 * sockets (mosquitto_loop_read / _write / _misc), never a thread per
 * client.
 *
 *   fleetsim agents HOST PORT N GROUP TRUST IDFILE SECONDS [CA CERT KEY]
 *	N simulated agents, each with an Ed25519 identity key of its own
 *	(its id is kk_key_id) and a self-signed identity certificate for it
 *	(what out documents carry), an MQTT 5 persistent session (client id and
 *	user name the agent id) subscribed to its agent cmd topic and to
 *	GROUP's.  A command goes through kd_signed_check, kakurid's own
 *	check (signature against TRUST, addressee and group, time window,
 *	replay in a store per agent kept in memory), and is answered with
 *	a receipt signed by the agent's key inside an out document
 *	(kk_fleet_out_pack), as kakurid's fleet child publishes it; nothing
 *	touches nftables.  The ids go to IDFILE (kakurictl send --expect).
 *	Prints "ready N MS" once every session is subscribed, then runs for
 *	SECONDS or until SIGTERM and prints what it handled and the CPU
 *	seconds that took.  With CA CERT
 *	KEY the sessions use TLS with that client certificate.
 *
 *   fleetsim tls HOST PORT M CA CERT KEY
 *	M TLS client connections (clean sessions, nothing subscribed), up to
 *	CONNECTING of them in their handshake at once: "tls M MS" when every
 *	CONNACK is in.
 *
 *   fleetsim operator HOST PORT GROUP EXPECTFILE CMDFILE TIMEOUT_MS
 *	    ARRIVALS [CA CERT KEY]
 *	The operator's side with per-receipt arrival times: subscribes to
 *	every out topic, publishes CMDFILE on GROUP's cmd topic, then
 *	checks each receipt as kakurictl send --broker does (the out
 *	document's identity proven by the topic's id, the receipt's
 *	signature by it, the command id ours) until every agent of
 *	EXPECTFILE answered or TIMEOUT_MS passed.  Prints "got N of M done D
 *	unverified U ms50 A ms99 B ms100 C cpu S" (ms from the publish; -1:
 *	not reached; S its CPU seconds) and writes each arrival (ms) to ARRIVALS ("-": nowhere).
 *
 *   fleetsim direct HOST PORT N GROUP TRUST CLIENT_CA DIR TARGETS SECONDS
 *	N simulated agents on the direct CSIRT channel, a TLS listener each
 *	on HOST:PORT+i (fleetdirect.c).
 *
 * What a command does to a simulated agent, in every mode, is simagent.c:
 * kd_signed_check, and a receipt whose payload is the one agentd/run.c's
 * sign_receipt builds (that function needs the daemon's state), made from
 * the same common/ code: KW_ keys, kk_envelope_sign with the agent key.
 */
#include <sys/epoll.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "fleetwire.h"
#include "simagent.h"
#include "kakuri.h"
#include "sign.h"
#include "signed.h"
#include "tls.h"
#include "wire.h"
#include "../tests/progutil.h"

#define MAX_SIMS	100000	/* simulated agents in one process */
#define CONNECTING	400	/* connections before their CONNACK, at once */
#define KEEPALIVE	60	/* s */
#define SESSION_EXPIRY	3600	/* s the broker keeps a session */
#define READY_TIMEOUT	300	/* s to get every session subscribed */
#define EVENTS		256

struct sim {
	struct simagent a;	/* its key, id, mode and replay store */
	struct mosquitto *mosq;
	char *cert;		/* its identity certificate, PEM */
	int fd;
	uint32_t events;	/* what epoll watches for it */
	bool connacked, subscribed, lost;
};

static struct {
	int ep;
	struct sim *sims;
	size_t n;
	size_t connacked, subscribed, lost;
	const char *group;
	struct simcheck chk;
	volatile sig_atomic_t stop;
} S;

static void
on_signal(int sig)
{
	S.stop = 1;
}

/* The lab's TLS: the broker checked against ca and its IP, our client certificate. */
static SSL_CTX *
tls_ctx(const char *host, const char *ca, const char *cert, const char *key)
{
	struct kk_tls_material m = { 0 };
	char *k = NULL, *c = NULL, *a = NULL, err[300];
	SSL_CTX *ctx = NULL;

	if (kk_pem_read(key, &k, &m.key_len) < 0 ||
	    kk_pem_read(cert, &c, &m.cert_len) < 0 ||
	    kk_pem_read(ca, &a, &m.client_ca_len) < 0) {
		fprintf(stderr, "fleetsim: cannot read %s, %s or %s\n", ca,
		    cert, key);
		goto out;
	}
	m.key = k;
	m.cert = c;
	m.client_ca = a;
	if ((ctx = kk_tls_broker_ctx(&m, host, err, sizeof(err))) == NULL)
		fprintf(stderr, "fleetsim: TLS: %s\n", err);
out:
	kk_pem_free(k);
	kk_pem_free(c);
	kk_pem_free(a);
	return ctx;
}

static struct mosquitto *
client(const char *id, bool clean, void *arg, SSL_CTX *ctx)
{
	struct mosquitto *m;

	if ((m = mosquitto_new(id, clean, arg)) == NULL)
		return NULL;
	mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
	if (ctx != NULL) {
		mosquitto_int_option(m, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
		mosquitto_void_option(m, MOSQ_OPT_SSL_CTX, ctx);
	}
	return m;
}

/* --- the simulated agents' loop ------------------------------------- */

static void
watch(struct sim *s)
{
	struct epoll_event ev;
	uint32_t want;

	if (s->lost || s->fd < 0)
		return;
	want = EPOLLIN | (mosquitto_want_write(s->mosq) ? EPOLLOUT : 0);
	if (want == s->events)
		return;
	ev.events = want;
	ev.data.ptr = s;
	if (epoll_ctl(S.ep, s->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s->fd,
	    &ev) == 0)
		s->events = want;
}

static void
drop(struct sim *s)
{
	if (s->lost)
		return;
	s->lost = true;
	S.lost++;
	if (s->fd >= 0 && s->events)
		epoll_ctl(S.ep, EPOLL_CTL_DEL, s->fd, NULL);
	s->events = 0;
}

/* One round of the loop: what is readable is read, what is pending written. */
static void
pump(int timeout_ms)
{
	struct epoll_event ev[EVENTS];
	struct sim *s;
	int i, n;

	n = epoll_wait(S.ep, ev, EVENTS, timeout_ms);
	for (i = 0; i < n; i++) {
		s = ev[i].data.ptr;
		if ((ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) &&
		    mosquitto_loop_read(s->mosq, 1) != MOSQ_ERR_SUCCESS) {
			drop(s);
			continue;
		}
		/* what the read made (a receipt, a PUBACK) goes out now */
		if (mosquitto_want_write(s->mosq) &&
		    mosquitto_loop_write(s->mosq, 1) != MOSQ_ERR_SUCCESS) {
			drop(s);
			continue;
		}
		watch(s);
	}
}

static void
misc_all(void)
{
	size_t i;

	for (i = 0; i < S.n; i++)
		if (S.sims[i].fd >= 0 && !S.sims[i].lost) {
			mosquitto_loop_misc(S.sims[i].mosq);
			watch(&S.sims[i]);
		}
}

static void
on_command(struct mosquitto *m, void *arg, const struct mosquitto_message *msg,
    const mosquitto_property *props)
{
	struct sim *s = arg;
	char topic[KK_FLEET_TOPIC_MAX], *text, *out = NULL;
	size_t outlen;

	text = simagent_answer(&S.chk, &s->a, msg->payload,
	    (size_t)msg->payloadlen);
	if (text == NULL ||
	    kk_fleet_out_pack(s->a.id, KK_FLEET_KIND_RECEIPT, s->cert, text,
	    strlen(text), &out, &outlen) < 0 ||
	    kk_fleet_agent_topic(topic, sizeof(topic), s->a.id, "out") < 0)
		goto out;
	mosquitto_publish_v5(m, NULL, topic, (int)outlen, out, 1, false, NULL);
out:
	free(out);
	free(text);
}

static void
on_sim_connect(struct mosquitto *m, void *arg, int rc, int flags,
    const mosquitto_property *props)
{
	struct sim *s = arg;
	char t0[KK_FLEET_TOPIC_MAX], t1[KK_FLEET_TOPIC_MAX];
	char *topics[2] = { t0, t1 };

	if (rc != 0) {
		fprintf(stderr, "fleetsim: %.16s: refused: %s\n", s->a.id,
		    mosquitto_reason_string(rc));
		drop(s);
		return;
	}
	s->connacked = true;
	S.connacked++;
	if (kk_fleet_agent_topic(t0, sizeof(t0), s->a.id, "cmd") < 0 ||
	    kk_fleet_group_topic(t1, sizeof(t1), S.group) < 0 ||
	    mosquitto_subscribe_multiple(m, NULL, 2, topics, 1, 0, NULL) !=
	    MOSQ_ERR_SUCCESS)
		drop(s);
}

static void
on_sim_subscribe(struct mosquitto *m, void *arg, int mid, int n,
    const int *qos, const mosquitto_property *props)
{
	struct sim *s = arg;

	if (!s->subscribed) {
		s->subscribed = true;
		S.subscribed++;
	}
}

/*
 * The identity certificate an out document carries: self-signed for the
 * identity key, as kakurid --init makes agent.crt without a CSIRT CA.
 */
static char *
identity_cert(EVP_PKEY *key, const char *id)
{
	X509 *x;
	X509_NAME *name;
	BIO *mem = NULL;
	char *pem = NULL, *p;
	long len;

	if ((x = X509_new()) == NULL)
		return NULL;
	name = X509_get_subject_name(x);
	if (X509_set_version(x, 2) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 2 * 86400L) == NULL ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)id, 32, -1, 0) != 1 ||
	    X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, key) != 1 ||
	    X509_sign(x, key, NULL) <= 0 || (mem = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_X509(mem, x) != 1)
		goto out;
	if ((len = BIO_get_mem_data(mem, &p)) > 0)
		pem = strndup(p, (size_t)len);
out:
	BIO_free(mem);
	X509_free(x);
	return pem;
}

/* Simulated agent i: a key, its id, a session connecting. */
static int
sim_start(struct sim *s, const char *host, int port, SSL_CTX *ctx)
{
	mosquitto_property *props = NULL;
	int rc;

	s->fd = -1;
	if (simagent_init(&s->a) < 0 ||
	    (s->cert = identity_cert(s->a.key, s->a.id)) == NULL)
		return -1;
	if ((s->mosq = client(s->a.id, false, s, ctx)) == NULL)
		return -1;
	/* without TLS the user name the ACL patterns use is set here */
	if (ctx == NULL)
		mosquitto_username_pw_set(s->mosq, s->a.id, NULL);
	mosquitto_connect_v5_callback_set(s->mosq, on_sim_connect);
	mosquitto_subscribe_v5_callback_set(s->mosq, on_sim_subscribe);
	mosquitto_message_v5_callback_set(s->mosq, on_command);
	mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
	    SESSION_EXPIRY);
	rc = mosquitto_connect_bind_v5(s->mosq, host, port, KEEPALIVE, NULL,
	    props);
	mosquitto_property_free_all(&props);
	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "fleetsim: connect: %s\n", rc == MOSQ_ERR_ERRNO ?
		    strerror(errno) : mosquitto_strerror(rc));
		return -1;
	}
	s->fd = mosquitto_socket(s->mosq);
	if (mosquitto_loop_write(s->mosq, 1) != MOSQ_ERR_SUCCESS)
		drop(s);
	watch(s);
	return 0;
}

/*
 * n sessions started, at most CONNECTING of them before their CONNACK;
 * *started how many were, 0 or -1 when one could not start.
 */
static int
start_all(size_t n, const char *host, int port, SSL_CTX *ctx,
    size_t (*progress)(void), double deadline, size_t *started)
{
	double next_misc = pu_now_ms() + 1000;

	for (*started = 0; *started < n && !S.stop; ) {
		if (pu_now_ms() > deadline)
			return -1;
		while (*started < n && *started - progress() - S.lost <
		    CONNECTING) {
			if (sim_start(&S.sims[*started], host, port, ctx) < 0)
				return -1;
			(*started)++;
			S.n = *started;
		}
		pump(10);
		if (pu_now_ms() > next_misc) {
			misc_all();
			next_misc = pu_now_ms() + 1000;
		}
	}
	return 0;
}

static size_t
n_connacked(void)
{
	return S.connacked;
}

static int
agents_main(int argc, char **argv)
{
	const char *host = argv[2], *idfile = argv[7];
	int port = atoi(argv[3]);
	size_t n = strtoul(argv[4], NULL, 10), started, i;
	double t0, deadline, end, next_misc, cpu_ready = 0;
	SSL_CTX *ctx = NULL;
	char err[300];
	FILE *f;

	S.group = argv[5];
	if (n == 0 || n > MAX_SIMS) {
		fprintf(stderr, "fleetsim: N 1..%d\n", MAX_SIMS);
		return 2;
	}
	if (simcheck_init(&S.chk, argv[6], S.group, err, sizeof(err)) < 0) {
		fprintf(stderr, "fleetsim: %s\n", err);
		return 1;
	}
	if (argc == 12 && (ctx = tls_ctx(host, argv[9], argv[10],
	    argv[11])) == NULL)
		return 1;
	if ((S.sims = calloc(n, sizeof(*S.sims))) == NULL)
		return 1;
	t0 = pu_now_ms();
	deadline = t0 + READY_TIMEOUT * 1000.0;
	if (start_all(n, host, port, ctx, n_connacked, deadline,
	    &started) < 0) {
		fprintf(stderr, "fleetsim: %zu of %zu sessions started\n",
		    started, n);
		return 1;
	}
	while (S.subscribed + S.lost < n && pu_now_ms() < deadline && !S.stop)
		pump(10);
	if ((f = fopen(idfile, "we")) == NULL)
		return 1;
	for (i = 0; i < n; i++)
		fprintf(f, "%s\n", S.sims[i].a.id);
	if (fclose(f) != 0)
		return 1;
	printf("ready %zu %.0f lost %zu\n", S.subscribed, pu_now_ms() - t0,
	    S.lost);
	cpu_ready = sim_cpu_s();
	fflush(stdout);
	end = pu_now_ms() + atof(argv[8]) * 1000.0;
	next_misc = pu_now_ms() + 1000;
	while (!S.stop && pu_now_ms() < end) {
		pump(100);
		if (pu_now_ms() > next_misc) {
			misc_all();
			next_misc = pu_now_ms() + 1000;
		}
	}
	printf("handled done %u refused %u lost %zu cpu_after_ready %.2f",
	    S.chk.done, S.chk.refused, S.lost, sim_cpu_s() - cpu_ready);
	simcheck_print_reasons(&S.chk, stdout);
	printf("\n");
	for (i = 0; i < S.n; i++) {
		mosquitto_destroy(S.sims[i].mosq);
		EVP_PKEY_free(S.sims[i].a.key);
		free(S.sims[i].cert);
	}
	free(S.sims);
	SSL_CTX_free(ctx);
	simcheck_free(&S.chk);
	return 0;
}

/* --- TLS handshakes per second -------------------------------------- */

static void
on_tls_connect(struct mosquitto *m, void *arg, int rc, int flags,
    const mosquitto_property *props)
{
	struct sim *s = arg;

	if (rc != 0) {
		drop(s);
		return;
	}
	s->connacked = true;
	S.connacked++;
}

static int
tls_main(int argc, char **argv)
{
	const char *host = argv[2];
	int port = atoi(argv[3]), rc;
	size_t n = strtoul(argv[4], NULL, 10), i, started = 0;
	double t0, deadline;
	SSL_CTX *ctx;
	char id[32];

	if (n == 0 || n > MAX_SIMS)
		return 2;
	if ((ctx = tls_ctx(host, argv[5], argv[6], argv[7])) == NULL)
		return 1;
	if ((S.sims = calloc(n, sizeof(*S.sims))) == NULL)
		return 1;
	t0 = pu_now_ms();
	deadline = t0 + READY_TIMEOUT * 1000.0;
	while (started < n && pu_now_ms() < deadline) {
		while (started < n && started - S.connacked - S.lost <
		    CONNECTING) {
			struct sim *s = &S.sims[started++];

			s->fd = -1;
			snprintf(id, sizeof(id), "fleetsim-tls-%zu", started);
			if ((s->mosq = client(id, true, s, ctx)) == NULL)
				return 1;
			mosquitto_connect_v5_callback_set(s->mosq,
			    on_tls_connect);
			rc = mosquitto_connect_bind_v5(s->mosq, host, port,
			    KEEPALIVE, NULL, NULL);
			S.n = started;
			if (rc != MOSQ_ERR_SUCCESS) {
				drop(s);
				continue;
			}
			s->fd = mosquitto_socket(s->mosq);
			if (mosquitto_loop_write(s->mosq, 1) != MOSQ_ERR_SUCCESS)
				drop(s);
			watch(s);
		}
		pump(10);
	}
	while (S.connacked + S.lost < n && pu_now_ms() < deadline)
		pump(10);
	printf("tls %zu %.0f lost %zu\n", S.connacked, pu_now_ms() - t0,
	    S.lost);
	for (i = 0; i < S.n; i++) {
		mosquitto_disconnect(S.sims[i].mosq);
		mosquitto_destroy(S.sims[i].mosq);
	}
	free(S.sims);
	SSL_CTX_free(ctx);
	return S.connacked == n ? 0 : 1;
}

/* --- the operator, with per-receipt arrival times -------------------- */

struct op {
	char (*ids)[KK_AGENT_ID_HEX + 1];	/* sorted */
	double *at;				/* ms after the publish, -1 */
	size_t n, got, done;
	unsigned bad;
	char cmd[KK_ID_HEX + 1];
	double t0;
	bool connected, subscribed, published;
};

static int
idcmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
on_op_connect(struct mosquitto *m, void *arg, int rc, int flags,
    const mosquitto_property *props)
{
	((struct op *)arg)->connected = rc == 0;
}

static void
on_op_subscribe(struct mosquitto *m, void *arg, int mid, int n,
    const int *qos, const mosquitto_property *props)
{
	((struct op *)arg)->subscribed = true;
}

static void
on_op_publish(struct mosquitto *m, void *arg, int mid, int rc,
    const mosquitto_property *props)
{
	((struct op *)arg)->published = true;
}

static void
on_receipt(struct mosquitto *m, void *arg, const struct mosquitto_message *msg,
    const mosquitto_property *props)
{
	struct op *op = arg;
	struct kk_fleet_out o;
	char id[KK_AGENT_ID_HEX + 1], (*slot)[KK_AGENT_ID_HEX + 1];
	const char *why, *cmd, *res;
	double now = pu_now_ms();
	json_t *rec = NULL;
	size_t i;

	if (kk_fleet_topic_agent(msg->topic, "out", id) < 0)
		return;
	if (kk_fleet_out_open(msg->payload, (size_t)msg->payloadlen, id, &o,
	    &why) < 0 || strcmp(o.kind, KK_FLEET_KIND_RECEIPT) != 0 ||
	    (rec = kk_receipt_open(o.envelope, o.len, o.identity, id,
	    &why)) == NULL) {
		op->bad++;
		goto out;
	}
	cmd = json_string_value(json_object_get(rec, KW_COMMAND));
	res = json_string_value(json_object_get(rec, KW_RESULT));
	slot = bsearch(id, op->ids, op->n, sizeof(*op->ids), idcmp);
	if (cmd == NULL || strcmp(cmd, op->cmd) != 0 || slot == NULL)
		goto out;
	i = (size_t)(slot - op->ids);
	if (op->at[i] >= 0)
		goto out;	/* a duplicate: the first counts */
	op->at[i] = now - op->t0;
	op->got++;
	if (res != NULL && strcmp(res, KR_DONE) == 0)
		op->done++;
out:
	json_decref(rec);
	kk_fleet_out_free(&o);
}

static int
dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* ms by which the k-th receipt (1-based) was in; -1 if it never was */
static double
kth(const double *sorted, size_t got, size_t k)
{
	return k == 0 || k > got ? -1 : sorted[k - 1];
}

static int
load_ids(struct op *op, const char *path)
{
	char line[256];
	size_t cap = 0, len;
	void *p;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL && op->n < MAX_SIMS) {
		len = strcspn(line, "\r\n");
		line[len] = '\0';
		if (len != KK_AGENT_ID_HEX)
			continue;
		if (op->n == cap) {
			cap = cap ? cap * 2 : 1024;
			if ((p = realloc(op->ids, cap * sizeof(*op->ids))) == NULL)
				break;
			op->ids = p;
		}
		memcpy(op->ids[op->n++], line, KK_AGENT_ID_HEX + 1);
	}
	fclose(f);
	qsort(op->ids, op->n, sizeof(*op->ids), idcmp);
	return op->n > 0 ? 0 : -1;
}

static bool
pump_one(struct mosquitto *m, double deadline, bool *flag)
{
	while (!*flag && pu_now_ms() < deadline)
		if (mosquitto_loop(m, 10, 1) != MOSQ_ERR_SUCCESS)
			return false;
	return *flag;
}

static int
operator_main(int argc, char **argv)
{
	const char *host = argv[2], *group = argv[4], *arrivals = argv[8];
	int port = atoi(argv[3]), rc, ret = 1;
	struct op op = { 0 };
	struct kk_envelope env;
	struct kk_command c;
	mosquitto_property *props = NULL;
	struct mosquitto *m = NULL;
	char topic[KK_FLEET_TOPIC_MAX], sub[] = "kakuri/v1/agent/+/out";
	char why[160], *body = NULL;
	double deadline, *sorted = NULL;
	size_t len, i, k;
	SSL_CTX *ctx = NULL;
	FILE *f;

	if (load_ids(&op, argv[5]) < 0 ||
	    (op.at = malloc(op.n * sizeof(*op.at))) == NULL) {
		fprintf(stderr, "fleetsim: %s: no agent ids\n", argv[5]);
		goto out;
	}
	for (i = 0; i < op.n; i++)
		op.at[i] = -1;
	if (kk_read_file(argv[6], KK_ENVELOPE_MAX, &body, &len) < 0 ||
	    kk_envelope_parse((uint8_t *)body, len, &env) < 0) {
		fprintf(stderr, "fleetsim: %s: not a signed command\n", argv[6]);
		goto out;
	}
	rc = kk_command_parse(env.payload, env.payload_len, &c, why,
	    sizeof(why));
	kk_envelope_free(&env);
	if (rc < 0)
		goto out;
	snprintf(op.cmd, sizeof(op.cmd), "%s", c.id);
	kk_fleet_group_topic(topic, sizeof(topic), group);
	if (argc == 12 && (ctx = tls_ctx(host, argv[9], argv[10],
	    argv[11])) == NULL)
		goto free_cmd;
	if ((m = client(NULL, true, &op, ctx)) == NULL)
		goto free_cmd;
	mosquitto_connect_v5_callback_set(m, on_op_connect);
	mosquitto_subscribe_v5_callback_set(m, on_op_subscribe);
	mosquitto_publish_v5_callback_set(m, on_op_publish);
	mosquitto_message_v5_callback_set(m, on_receipt);
	deadline = pu_now_ms() + 30000;
	if (mosquitto_connect_bind_v5(m, host, port, KEEPALIVE, NULL, NULL) !=
	    MOSQ_ERR_SUCCESS || !pump_one(m, deadline, &op.connected) ||
	    mosquitto_subscribe_v5(m, NULL, sub, 1, 0, NULL) !=
	    MOSQ_ERR_SUCCESS || !pump_one(m, deadline, &op.subscribed)) {
		fprintf(stderr, "fleetsim: operator: no session with the broker\n");
		goto free_cmd;
	}
	mosquitto_property_add_int32(&props, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL,
	    (uint32_t)(c.exp > time(NULL) ? c.exp - time(NULL) : 1));
	op.t0 = pu_now_ms();
	rc = mosquitto_publish_v5(m, NULL, topic, (int)len, body, 1, false,
	    props);
	mosquitto_property_free_all(&props);
	if (rc != MOSQ_ERR_SUCCESS)
		goto free_cmd;
	deadline = op.t0 + atof(argv[7]);
	while (op.got < op.n && pu_now_ms() < deadline)
		if (mosquitto_loop(m, 10, 1) != MOSQ_ERR_SUCCESS)
			break;
	if ((sorted = malloc(op.n * sizeof(*sorted))) == NULL)
		goto free_cmd;
	for (i = k = 0; i < op.n; i++)
		if (op.at[i] >= 0)
			sorted[k++] = op.at[i];
	qsort(sorted, k, sizeof(*sorted), dcmp);
	printf("got %zu of %zu done %zu unverified %u ms50 %.1f ms99 %.1f "
	    "ms100 %.1f cpu %.2f\n", op.got, op.n, op.done, op.bad,
	    kth(sorted, k, (op.n + 1) / 2), kth(sorted, k,
	    (op.n * 99 + 99) / 100), kth(sorted, k, op.n), sim_cpu_s());
	if (strcmp(arrivals, "-") != 0 && (f = fopen(arrivals, "ae")) != NULL) {
		for (i = 0; i < k; i++)
			fprintf(f, "%.1f\n", sorted[i]);
		fclose(f);
	}
	ret = op.got == op.n ? 0 : 1;
free_cmd:
	kk_command_free(&c);
out:
	if (m != NULL) {
		mosquitto_disconnect(m);
		mosquitto_destroy(m);
	}
	SSL_CTX_free(ctx);
	free(sorted);
	free(body);
	free(op.ids);
	free(op.at);
	return ret;
}

int
main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	const char *mode = argc > 1 ? argv[1] : "";
	int ret = 2;

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sim_raise_nofile();
	mosquitto_lib_init();
	if ((S.ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return 1;
	if (strcmp(mode, "agents") == 0 && (argc == 9 || argc == 12))
		ret = agents_main(argc, argv);
	else if (strcmp(mode, "tls") == 0 && argc == 8)
		ret = tls_main(argc, argv);
	else if (strcmp(mode, "operator") == 0 && (argc == 9 || argc == 12))
		ret = operator_main(argc, argv);
	else if (strcmp(mode, "direct") == 0 && argc == 11)
		ret = direct_main(argc, argv, &S.stop);
	else
		fprintf(stderr, "usage: fleetsim agents HOST PORT N GROUP TRUST "
		    "IDFILE SECONDS [CA CERT KEY]\n"
		    "       fleetsim tls HOST PORT M CA CERT KEY\n"
		    "       fleetsim operator HOST PORT GROUP EXPECTFILE CMDFILE "
		    "TIMEOUT_MS ARRIVALS [CA CERT KEY]\n"
		    "       fleetsim direct HOST PORT N GROUP TRUST CLIENT_CA DIR "
		    "TARGETS SECONDS\n");
	mosquitto_lib_cleanup();
	return ret;
}
