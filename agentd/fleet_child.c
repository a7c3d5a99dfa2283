/*
 * The fleet child: kakurid --fleet-child, an exec'd image as agent.user
 * with no capabilities under seccomp (fleet.h).  One MQTT 5 session to
 * the broker through libmosquitto, driven from this poll loop (no
 * threads): every message of its cmd topics goes to the parent as it
 * came, and what the parent answers goes out on the out topic.  It
 * decides nothing about a command; the parent verifies each one.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <openssl/ssl.h>

#include "childproc.h"
#include "fleet.h"
#include "fleetwire.h"
#include "ipc.h"
#include "kakuri.h"
#include "tls.h"

#define PENDING_MAX		KD_FLEET_PENDING_MAX	/* receipts, offline */
#define PENDING_BYTES_MAX	(16U << 20)
#define PARENT_QUEUE_MAX	(48U << 20)	/* to the parent, not yet taken */
#define INFLIGHT_TIMEOUT_MS	(300U * 1000U)	/* the parent never answered */
/*
 * A connect, from its SYN to the broker's CONNACK (TCP, TLS, MQTT), is
 * given this long, then dropped and tried again after the backoff.  It
 * never blocks: the TCP connect is non-blocking and every step comes
 * through the poll loop.  libmosquitto's blocking connect waited in
 * connect(2) for as long as the kernel retried a SYN nobody answered
 * (about two minutes), and a broker that took the connection and said
 * nothing held the session "connecting" until the keep-alive ran out:
 * meanwhile no fleet command was heard.
 */
#define CONNECT_MS		10000
#define DELIVERIES_MAX		64		/* reports out, not yet acked */
/*
 * The loop stops reading the broker at KD_FLEET_INFLIGHT commands with
 * kakurid, but one read of libmosquitto hands over every packet of a
 * TLS record it holds (a record of tiny messages: hundreds): the slots
 * have slack for them, and a command past that is dropped and said,
 * where this child used to exit and lose every command it held.
 */
#define INFLIGHT_SLOTS		(4 * KD_FLEET_INFLIGHT)
/*
 * The courier sends a batch back to back and the next only once that one
 * is answered or given up (after its answer timeout, at least seconds):
 * a delivery this old when another comes belongs to a batch given up,
 * and its late ack, matched to a newer delivery, would get this child
 * killed for answering out of order; kept, they filled the table and
 * every report was refused until the broker connection dropped.
 */
#define DELIVERY_STALE_MS	5000
/*
 * What this process may allocate at all (RLIMIT_DATA).  A broker that
 * ignores our maximum packet size can announce a PUBLISH of 256 MiB, and
 * libmosquitto allocates a packet whole as soon as its length is read
 * (it enforces that maximum only in the broker): then the allocation
 * fails, the connection is dropped and tried again later.  What the
 * child holds by design: the queue to the parent, the receipts kept
 * while offline, one envelope being read, TLS and the libraries.
 */
#define DATA_MAX	(PARENT_QUEUE_MAX + PENDING_BYTES_MAX + \
			(KK_ENVELOPE_MAX + 4096) * 2 + (64U << 20))

/* A receipt of the parent's, as it signed it, waiting for a connection. */
struct pending {
	char *receipt;
	size_t len;
};

/* A report the courier handed over, in the order it did. */
struct delivery {
	uint32_t token;			/* the courier's */
	uint64_t at;			/* ms, CLOCK_MONOTONIC */
	char id[KK_ID_HEX + 1];		/* its report's; "": none read */
	char why[96];			/* "": its ack awaited; else refused */
};

struct fleet {
	struct mosquitto *mosq;
	struct kd_fleet_config cfg;
	char topics[1 + KK_MAX_GROUPS][KK_FLEET_TOPIC_MAX];
	size_t ntopics;
	char out_topic[KK_FLEET_TOPIC_MAX];
	char ack_topic[KK_FLEET_TOPIC_MAX];
	/*
	 * The courier's deliveries, oldest first, each with its report's
	 * id: an ack is the answer to the delivery of the report it names,
	 * not to whichever is oldest.  One the broker did not take has its
	 * refusal's why, told in its turn: the courier takes its answers in
	 * the order it sent them, and a child that answers a later one
	 * first is killed as broken (with the commands it holds).
	 */
	struct delivery delivered[DELIVERIES_MAX];
	size_t ndelivered;
	bool connected;			/* CONNACK success seen */
	bool socket_open;		/* a connection, maybe still shaking hands */
	bool tcp_up;			/* ... its TCP connect done */
	uint64_t connect_by;		/* ... its CONNACK due by (ms) */
	uint64_t up_since;		/* its CONNACK's time (ms); 0: none */
	uint32_t packet_max;		/* the broker's, the last one said */
	unsigned failures;		/* in a row: the backoff */
	uint64_t next_try;		/* ms, CLOCK_MONOTONIC */
	uint32_t seq;			/* the parent's token of a command */
	struct { uint32_t seq; uint64_t since; } inflight[INFLIGHT_SLOTS];
	unsigned ninflight;
	struct kk_ipc_queue parent;	/* to the parent, not yet written */
	struct pending pending[PENDING_MAX];
	size_t npending, pending_bytes;
	char state[160];		/* as last told to the parent */
};

static struct fleet fl;

/* One message to the parent, queued; the loop writes it when it can. */
static void
tell(uint32_t type, uint32_t token, const char *peer, const void *body,
    size_t len)
{
	if (kk_ipc_queue_add(&fl.parent, type, token, peer, body, len) < 0)
		kk_child_fail("fleet: cannot frame a message to the parent");
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A line for the parent's log (ASCII only: the parent trusts none of it). */
static void
say(const char *fmt, ...)
{
	char line[240];
	va_list ap;

	va_start(ap, fmt);
	kk_child_vline(line, sizeof(line), fmt, ap);
	va_end(ap);
	tell(KK_IPC_LOG, 0, "broker", line, strlen(line));
}

/*
 * The session's state for status, told only when it changes, and said
 * in the parent's log unless quiet (a reconnect's "connecting": the line
 * that ends the attempt says what happened).
 */
static void
set_state(bool quiet, const char *s)
{
	if (strcmp(s, fl.state) == 0)
		return;
	snprintf(fl.state, sizeof(fl.state), "%s", s);
	tell(KK_IPC_STATE, 0, "broker", fl.state, strlen(fl.state));
	if (!quiet)
		say("%s", fl.state);
}

static void state(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
state(const char *fmt, ...)
{
	char s[sizeof(fl.state)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s, sizeof(s), fmt, ap);
	va_end(ap);
	set_state(false, s);
}

uint64_t
kd_fleet_backoff_ms(unsigned failures, uint32_t random)
{
	uint64_t delay = KD_FLEET_BACKOFF_MIN_MS;
	unsigned i;

	for (i = 0; i < failures && delay < KD_FLEET_BACKOFF_MAX_MS; i++)
		delay *= 2;
	if (delay > KD_FLEET_BACKOFF_MAX_MS)
		delay = KD_FLEET_BACKOFF_MAX_MS;
	/* anywhere in [delay / 2, delay] */
	return delay / 2 + random % (delay / 2 + 1);
}

/*
 * Exponential backoff with jitter: the fleet does not reconnect in step.
 * The wait in ms.
 */
static uint64_t
schedule_retry(void)
{
	uint64_t wait;
	uint32_t r = 0;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint32_t)kk_now_ms();
	wait = kd_fleet_backoff_ms(fl.failures, r);
	fl.next_try = kk_now_ms() + wait;
	if (fl.failures < 32)
		fl.failures++;
	return wait;
}

static void refuse_first(size_t n, const char *why);

/*
 * The session, or the attempt at one, is over: said in one line, with
 * when the next attempt comes.
 */
static void
down(const char *why)
{
	char s[sizeof(fl.state)];
	uint64_t wait;

	fl.socket_open = fl.connected = false;
	/* their acks would come on a session gone: the courier retries */
	refuse_first(fl.ndelivered, "the fleet broker's session ended");
	/*
	 * Only a session that lasted makes the next attempt a first one
	 * again.  Reset at the CONNACK, a broker that accepts and then drops
	 * every session (overloaded, a misconfigured ACL, a twin agent with
	 * our client id) was dialled twice a second, by every agent.
	 */
	if (fl.up_since != 0 && kk_now_ms() - fl.up_since >= KD_FLEET_STABLE_MS)
		fl.failures = 0;
	fl.up_since = 0;
	wait = schedule_retry();
	snprintf(s, sizeof(s), "disconnected: %s", why);
	set_state(true, s);
	say("disconnected: %s; next try in %llu.%llu s", why,
	    (unsigned long long)(wait / 1000),
	    (unsigned long long)(wait % 1000 / 100));
}

static void
lost(const char *why)
{
	bool open = fl.socket_open;

	/*
	 * Not open any more before the DISCONNECT: when it goes out at once
	 * libmosquitto calls on_disconnect, which would say it all again.
	 * A socket still shaking hands stays open until the next attempt
	 * replaces it.
	 */
	fl.socket_open = fl.connected = false;
	if (open)
		mosquitto_disconnect(fl.mosq);
	down(why);
}

/* Why a connect that took too long is given up: how far it came. */
static const char *
too_long(void)
{
	static char why[80];
	SSL *ssl = mosquitto_ssl_get(fl.mosq);

	snprintf(why, sizeof(why), "the broker does not answer: no %s in %d s",
	    !fl.tcp_up ? "TCP connection" : ssl == NULL ||
	    !SSL_is_init_finished(ssl) ? "TLS handshake" : "CONNACK",
	    CONNECT_MS / 1000);
	return why;
}

/*
 * A connect begun, never waited for: the TCP connect, the TLS handshake
 * and the CONNACK come through the poll loop (connecting_io), within
 * CONNECT_MS.  The CONNECT's properties are the session's (configure).
 */
static void
try_connect(void)
{
	int rc;

	fl.tcp_up = false;
	rc = mosquitto_connect_bind_async(fl.mosq, fl.cfg.host, fl.cfg.port,
	    KD_FLEET_KEEPALIVE, NULL);
	if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_CONN_PENDING) {
		down(rc == MOSQ_ERR_ERRNO ? strerror(errno) :
		    mosquitto_strerror(rc));
		return;
	}
	fl.socket_open = true;
	fl.connect_by = kk_now_ms() + CONNECT_MS;
	set_state(true, "connecting");
}

/* An event of the socket of a connect under way. */
static void
connecting_io(int sock, short revents)
{
	socklen_t len = sizeof(int);
	int err = 0, rc;

	if (!fl.tcp_up) {
		if (getsockopt(sock, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err != 0) {
			lost(strerror(err));
			return;
		}
		if (!(revents & POLLOUT)) {
			if (revents & (POLLERR | POLLHUP))
				lost("the connection failed");
			return;
		}
		fl.tcp_up = true;
	}
	/* the TLS handshake (loop_read drives it), then the CONNECT out */
	rc = mosquitto_loop_read(fl.mosq, 1);
	if (rc == MOSQ_ERR_SUCCESS && fl.socket_open &&
	    mosquitto_socket(fl.mosq) >= 0)
		rc = mosquitto_loop_write(fl.mosq, 1);
	/* on_connect: connected, or lost() said the broker's refusal */
	if (fl.connected || !fl.socket_open)
		return;
	/*
	 * An end of the stream during the handshake is no error to
	 * libmosquitto: it would be read again and again until the deadline.
	 */
	if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(fl.mosq) < 0 ||
	    (revents & (POLLERR | POLLHUP | POLLRDHUP)))
		lost(rc != MOSQ_ERR_SUCCESS ? mosquitto_strerror(rc) :
		    "closed by the broker");
}

/*
 * An out document published (QoS 1), its kind said in its content type
 * too: a collector passes receipts over unread by it.  Without it (no
 * memory for the property) the collector reads the document to know.
 */
static int
publish_doc(const void *doc, size_t len, const char *type)
{
	mosquitto_property *props = NULL;
	int rc;

	(void)mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE,
	    type);
	rc = mosquitto_publish_v5(fl.mosq, NULL, fl.out_topic, (int)len, doc,
	    1, false, props);
	mosquitto_property_free_all(&props);
	return rc;
}

/*
 * A receipt in an out document, published: MOSQ_ERR_SUCCESS, or why not.
 * One too large for an out document is one the broker never takes
 * (PAYLOAD_SIZE); one jansson would not take (no UTF-8 text, or no
 * memory) is dropped (MALFORMED_UTF8, which publishing a document on our
 * ASCII topic never returns).
 */
static int
publish_receipt(const void *receipt, size_t len)
{
	char *doc;
	size_t dlen;
	int rc;

	if (!fl.connected)
		return MOSQ_ERR_NO_CONN;
	if ((rc = kk_fleet_out_pack(fl.cfg.agent_id, KK_FLEET_KIND_RECEIPT,
	    fl.cfg.identity, receipt, len, &doc, &dlen)) < 0)
		return rc == -E2BIG ? MOSQ_ERR_PAYLOAD_SIZE :
		    rc == -ENOMEM ? MOSQ_ERR_NOMEM : MOSQ_ERR_MALFORMED_UTF8;
	rc = publish_doc(doc, dlen, KK_FLEET_TYPE_RECEIPT);
	free(doc);
	return rc;
}

/*
 * A receipt the broker will never take (its maximum packet size, or an
 * out document's): handed back to the parent, for the caller to forget
 * it.  The parent signs a receipt brief for the limit it was told; this
 * is one signed for a higher limit (it waited offline for a broker that
 * came back with a lower one), which the parent signs again brief and
 * sends back (published after what waits behind it), or one even brief,
 * which the parent drops (fleet.c).  One that is no text is dropped.  (A
 * QoS refused is the connection's, not the receipt's: it waits.)
 */
static bool
never_taken(int rc, const void *receipt, size_t len)
{
	if (rc == MOSQ_ERR_MALFORMED_UTF8) {
		say("a receipt that is no text, dropped");
		return true;
	}
	if (rc != MOSQ_ERR_OVERSIZE_PACKET && rc != MOSQ_ERR_PAYLOAD_SIZE)
		return false;
	say("a receipt of %zu bytes %s: back to kakurid, to be signed brief",
	    len, rc == MOSQ_ERR_PAYLOAD_SIZE ? "no out document holds" :
	    "the broker will not take (its maximum packet size)");
	/* which limit, for the parent's words */
	tell(KK_IPC_TOO_LARGE, 0, rc == MOSQ_ERR_PAYLOAD_SIZE ? "document" :
	    "broker", receipt, len);
	return true;
}

static void
flush_pending(void)
{
	size_t i;
	int rc;

	for (i = 0; i < fl.npending; i++) {
		rc = publish_receipt(fl.pending[i].receipt, fl.pending[i].len);
		/* one the broker will never take holds up none behind it */
		if (rc != MOSQ_ERR_SUCCESS &&
		    !never_taken(rc, fl.pending[i].receipt, fl.pending[i].len))
			break;
		free(fl.pending[i].receipt);
		fl.pending_bytes -= fl.pending[i].len;
	}
	memmove(fl.pending, fl.pending + i, (fl.npending - i) *
	    sizeof(fl.pending[0]));
	fl.npending -= i;
}

static void
on_connect(struct mosquitto *m, void *arg, int rc, int flags,
    const mosquitto_property *props)
{
	char *sub[2 + KK_MAX_GROUPS];
	size_t i;

	/*
	 * The broker's maximum packet size, before any command of the
	 * session reaches the parent: a receipt larger is signed brief
	 * (fleet.c), not dropped here as one the broker will never take.
	 * Read from every CONNACK, a refusal's too, and one without it
	 * leaves the last, as libmosquitto (which enforces it) does.
	 */
	(void)mosquitto_property_read_int32(props,
	    MQTT_PROP_MAXIMUM_PACKET_SIZE, &fl.packet_max, false);
	if (rc != 0) {
		lost(mosquitto_reason_string(rc));
		return;
	}
	fl.connected = true;
	fl.up_since = kk_now_ms();
	tell(KK_IPC_PACKET_MAX, 0, "broker", &fl.packet_max,
	    sizeof(fl.packet_max));
	for (i = 0; i < fl.ntopics; i++)
		sub[i] = fl.topics[i];
	sub[i++] = fl.ack_topic;
	/*
	 * A persistent session has them already; asking again is harmless.
	 * Retained messages are never sent: nobody of ours publishes one,
	 * and one would be taken again at every connect, on every agent.
	 */
	rc = mosquitto_subscribe_multiple(m, NULL, (int)i, sub, 1,
	    MQTT_SUB_OPT_SEND_RETAIN_NEVER, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		lost(mosquitto_strerror(rc));
		return;
	}
	state("%s%s", KD_FLEET_CONNECTED, (flags & 1) ? " (session resumed)" :
	    "");
	flush_pending();
}

static void
on_disconnect(struct mosquitto *m, void *arg, int rc,
    const mosquitto_property *props)
{
	if (!fl.socket_open)
		return;	/* lost(), whose DISCONNECT this is, says it */
	/*
	 * rc is either the reason code of the broker's DISCONNECT (0x80
	 * and up for an error) or libmosquitto's own error: a read that
	 * failed (an allocation, the connection lost).  Read as a reason
	 * code, MOSQ_ERR_NOMEM would say "Granted QoS 1".
	 */
	down(rc == 0 ? "closed" : rc < 0x80 ? mosquitto_strerror(rc) :
	    mosquitto_reason_string(rc));
}

/* The n oldest deliveries forgotten. */
static void
forget_delivered(size_t n)
{
	if (n > fl.ndelivered)
		n = fl.ndelivered;
	memmove(fl.delivered, fl.delivered + n, (fl.ndelivered - n) *
	    sizeof(fl.delivered[0]));
	fl.ndelivered -= n;
}

/*
 * The first n deliveries listed answered, in order: the broker's
 * refusal of one it did not take, or why for one whose ack was awaited;
 * then forgotten.
 */
static void
refuse_first(size_t n, const char *why)
{
	const struct delivery *dv;
	const char *w;
	size_t i;

	for (i = 0; i < n && i < fl.ndelivered; i++) {
		dv = &fl.delivered[i];
		w = dv->why[0] ? dv->why : why;
		tell(KK_IPC_REJECT, dv->token, "broker", w, strlen(w));
	}
	forget_delivered(n);
}

/* The refusals now first in the list, told: nothing before them waits. */
static void
refused_in_turn(void)
{
	size_t n = 0;

	while (n < fl.ndelivered && fl.delivered[n].why[0] != '\0')
		n++;
	refuse_first(n, "");
}

/*
 * The collector's ack document: to the courier as the answer to the
 * delivery of the report it names (the courier checks the ack itself).
 * The courier takes its answers in order: the deliveries before that one
 * had none -- the collector answers in order, and publishes no refusal --
 * and are told so first.  An ack that names none of them is not passed
 * on: anyone who may publish on the ack topic could otherwise have the
 * courier refuse the oldest report's ack, and every real one after it
 * would be a place off.
 */
static void
acked(const void *buf, int len)
{
	static const char none[] = "the collector did not answer it";
	char id[KK_ID_HEX + 1];
	uint8_t *body;
	size_t blen, i;
	uint32_t cl;

	if (fl.ndelivered == 0) {
		say("an ack nobody waits for, dropped");
		return;
	}
	if (len <= 0 || kk_fleet_ack_open(buf, (size_t)len, &body,
	    &blen) < 0) {
		say("an ack document that is not one, dropped");
		return;
	}
	memcpy(&cl, body, 4);
	i = fl.ndelivered;
	if (kk_fleet_envelope_id(body + 4 + cl, blen - 4 - cl, id) == 0)
		for (i = 0; i < fl.ndelivered; i++)
			if (fl.delivered[i].why[0] == '\0' &&
			    strcmp(fl.delivered[i].id, id) == 0)
				break;
	if (i == fl.ndelivered) {
		say("an ack of no report delivered, dropped");
		free(body);
		return;
	}
	refuse_first(i, none);
	tell(KK_IPC_ACK, fl.delivered[0].token, "broker", body, blen);
	free(body);
	forget_delivered(1);
	refused_in_turn();
}

/*
 * Which of ours the topic is, for the parent: "mqtt:agent", or
 * "mqtt:group#N" into buf (N: its place in fleet.groups, which kakurid
 * names: kd_fleet_via).  NULL if none.
 */
static const char *
topic_of(const char *topic, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < fl.ntopics; i++) {
		if (strcmp(topic, fl.topics[i]) != 0)
			continue;
		if (i == 0)
			return "mqtt:agent";
		snprintf(buf, len, KD_FLEET_VIA_GROUP "%zu", i - 1);
		return buf;
	}
	return NULL;
}

static void
on_message(struct mosquitto *m, void *arg,
    const struct mosquitto_message *msg, const mosquitto_property *props)
{
	char peer[48];
	const char *via;
	unsigned i;

	/* a copy the broker keeps and gives again: a replay, not ours */
	if (msg->retain) {
		say("a retained message on %s, dropped", msg->topic);
		return;
	}
	if (strcmp(msg->topic, fl.ack_topic) == 0) {
		acked(msg->payload, msg->payloadlen);
		return;
	}
	if ((via = topic_of(msg->topic, peer, sizeof(peer))) == NULL) {
		say("a message on a topic not ours, dropped");
		return;
	}
	if (msg->payloadlen <= 0 || (size_t)msg->payloadlen > KK_ENVELOPE_MAX) {
		say("a message of %d bytes on %s, dropped", msg->payloadlen,
		    msg->topic);
		return;
	}
	for (i = 0; i < INFLIGHT_SLOTS; i++)
		if (fl.inflight[i].seq == 0)
			break;
	if (i == INFLIGHT_SLOTS) {
		/* past even the slack: this one is lost, not all of them */
		say("a command on %s dropped: %u at kakurid already",
		    msg->topic, fl.ninflight);
		return;
	}
	if (++fl.seq == 0)
		fl.seq = 1;
	fl.inflight[i].seq = fl.seq;
	fl.inflight[i].since = kk_now_ms();
	fl.ninflight++;
	tell(KK_IPC_ENVELOPE, fl.seq, via, msg->payload,
	    (size_t)msg->payloadlen);
}

/* A receipt of the parent's: out it goes, in an out document, now or later. */
static void
answer(uint32_t seq, const uint8_t *body, size_t len)
{
	char *copy;
	unsigned i;
	int rc;

	for (i = 0; i < INFLIGHT_SLOTS; i++) {
		if (fl.inflight[i].seq == seq && seq != 0) {
			fl.inflight[i].seq = 0;
			fl.ninflight--;
			break;
		}
	}
	if (len == 0)
		return;		/* answered, with nothing to publish */
	rc = publish_receipt(body, len);
	if (rc == MOSQ_ERR_SUCCESS || never_taken(rc, body, len))
		return;
	if (fl.npending == PENDING_MAX ||
	    fl.pending_bytes + len > PENDING_BYTES_MAX) {
		say("offline with %zu receipts waiting (%zu bytes): one of %zu "
		    "bytes dropped", fl.npending, fl.pending_bytes, len);
		return;
	}
	if ((copy = malloc(len)) == NULL) {
		say("offline, and no memory to keep a receipt: dropped");
		return;
	}
	memcpy(copy, body, len);
	fl.pending[fl.npending++] = (struct pending){ copy, len };
	fl.pending_bytes += len;
}

/*
 * An outbox file from the courier: out as a report document; the answer
 * is the collector's ack, or at once a refusal while not connected.
 */
static void
deliver(uint32_t token, const uint8_t *body, size_t len)
{
	static const char offline[] = "the fleet broker is not connected";
	uint64_t now = kk_now_ms();
	struct delivery *dv;
	const char *why = NULL;
	char *doc = NULL, err[96];
	size_t dlen, stale = 0;
	int rc;

	/* what a batch given up left (oldest first): its acks are no one's */
	while (stale < fl.ndelivered &&
	    now - fl.delivered[stale].at >= DELIVERY_STALE_MS)
		stale++;
	if (stale > 0) {
		say("%zu deliveries of a batch the courier gave up forgotten",
		    stale);
		forget_delivered(stale);
	}
	if (!fl.connected || fl.ndelivered == DELIVERIES_MAX)
		why = offline;
	else if (kk_fleet_out_pack(fl.cfg.agent_id, KK_FLEET_KIND_REPORT,
	    fl.cfg.identity, body, len, &doc, &dlen) < 0)
		why = "too large for the broker";
	else if ((rc = publish_doc(doc, dlen, KK_FLEET_TYPE_REPORT)) !=
	    MOSQ_ERR_SUCCESS) {
		/* a broker's maximum packet size, or the session gone */
		snprintf(err, sizeof(err), "the fleet broker did not take it: "
		    "%s", mosquitto_strerror(rc));
		why = err;
	}
	free(doc);
	if (why != NULL && fl.ndelivered == DELIVERIES_MAX) {
		/* no room to keep it in its turn: all answered now */
		refuse_first(fl.ndelivered, why);
		tell(KK_IPC_REJECT, token, "broker", why, strlen(why));
		return;
	}
	dv = &fl.delivered[fl.ndelivered++];
	dv->token = token;
	dv->at = now;
	dv->id[0] = '\0';
	snprintf(dv->why, sizeof(dv->why), "%s", why != NULL ? why : "");
	/* no id, no ack will be taken for it: its answer is the timeout */
	if (why == NULL && kk_fleet_envelope_id(body, len, dv->id) < 0)
		say("a report with no id delivered: no ack will name it");
	/* refused, and nothing before it waits: told now */
	refused_in_turn();
}

/* Commands the parent never answered are forgotten, so reading resumes. */
static void
expire_inflight(uint64_t now)
{
	unsigned i;

	for (i = 0; i < INFLIGHT_SLOTS; i++) {
		if (fl.inflight[i].seq != 0 &&
		    now - fl.inflight[i].since > INFLIGHT_TIMEOUT_MS) {
			fl.inflight[i].seq = 0;
			fl.ninflight--;
		}
	}
}

static void
from_parent(void)
{
	struct kk_ipc_hdr h;
	struct pollfd p = { .fd = KK_CHILD_FD_IPC, .events = POLLIN };
	uint8_t *body;
	size_t len;
	int r, n;

	for (n = 0; n < 64 && poll(&p, 1, 0) == 1; n++) {
		r = kk_ipc_recv(KK_CHILD_FD_IPC, 1000, KK_IPC_MAX, &h, &body,
		    &len);
		if (r < 0)
			_exit(r == -EPIPE ? 0 : 3);
		/* an empty answer: nothing to publish (fleet.c) */
		if ((h.type != KK_IPC_REPLY && h.type != KK_IPC_DELIVER) ||
		    (body == NULL && h.type != KK_IPC_REPLY))
			kk_child_fail("fleet: a message it does not take");
		if (h.type == KK_IPC_REPLY)
			answer(h.conn, body, len);
		else
			deliver(h.conn, body, len);
		free(body);
	}
}

/*
 * The CONNECT's properties into the session, and nothing more.
 * libmosquitto (2.0) keeps them for every connect of the session, but
 * takes them only in mosquitto_connect_bind_v5, which then connects
 * blocking.  It stores them before it checks the keepalive, so with one
 * it refuses (below 5 s) it returns at once, and every asynchronous
 * connect sends them (as ctl/broker.c does).
 */
static int
connect_props(void)
{
	mosquitto_property *props = NULL;
	int rc;

	/* the broker keeps the session, and what it queued, while we are away */
	mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
	    KD_FLEET_SESSION);
	/* nothing larger than an envelope is ever taken from it */
	mosquitto_property_add_int32(&props, MQTT_PROP_MAXIMUM_PACKET_SIZE,
	    KK_ENVELOPE_MAX + 4096);
	rc = mosquitto_connect_bind_v5(fl.mosq, fl.cfg.host, fl.cfg.port, 1,
	    NULL, props);
	mosquitto_property_free_all(&props);
	return rc == MOSQ_ERR_INVAL ? MOSQ_ERR_SUCCESS :
	    rc == MOSQ_ERR_SUCCESS ? MOSQ_ERR_NOT_SUPPORTED : rc;
}

static void
configure(void)
{
	struct kk_tls_material m;
	SSL_CTX *ctx;
	uint8_t *msg;
	size_t len, i;
	char err[300];
	int rc;

	msg = kk_child_read_config(10000, &m, sizeof(fl.cfg), &len);
	if (msg == NULL)
		kk_child_fail("no configuration from the parent");
	memcpy(&fl.cfg, msg + len - sizeof(fl.cfg), sizeof(fl.cfg));
	fl.cfg.host[sizeof(fl.cfg.host) - 1] = '\0';
	fl.cfg.agent_id[KK_AGENT_ID_HEX] = '\0';
	fl.cfg.identity[sizeof(fl.cfg.identity) - 1] = '\0';
	if (fl.cfg.ngroups > KK_MAX_GROUPS)
		kk_child_fail("fleet: %u groups", fl.cfg.ngroups);
	ctx = kk_tls_broker_ctx(&m, fl.cfg.host, err, sizeof(err));
	kk_child_config_free(msg, len);
	if (ctx == NULL)
		kk_child_fail("TLS: %s", err);
	if (kk_fleet_agent_topic(fl.topics[0], sizeof(fl.topics[0]),
	    fl.cfg.agent_id, "cmd") < 0 || kk_fleet_agent_topic(fl.out_topic,
	    sizeof(fl.out_topic), fl.cfg.agent_id, "out") < 0 ||
	    kk_fleet_agent_topic(fl.ack_topic, sizeof(fl.ack_topic),
	    fl.cfg.agent_id, "ack") < 0)
		kk_child_fail("fleet: topic too long");
	for (i = 0; i < fl.cfg.ngroups; i++) {
		fl.cfg.groups[i][KK_GROUP_NAME_MAX] = '\0';
		if (kk_fleet_group_topic(fl.topics[1 + i], sizeof(fl.topics[0]),
		    fl.cfg.groups[i]) < 0)
			kk_child_fail("fleet: topic too long");
	}
	fl.ntopics = 1 + fl.cfg.ngroups;

	mosquitto_lib_init();
	/* the agent id is the client id: one session per agent */
	fl.mosq = mosquitto_new(fl.cfg.agent_id, false, NULL);
	if (fl.mosq == NULL)
		kk_child_fail("fleet: mosquitto_new: %s", strerror(errno));
	mosquitto_int_option(fl.mosq, MOSQ_OPT_PROTOCOL_VERSION,
	    MQTT_PROTOCOL_V5);
	mosquitto_int_option(fl.mosq, MOSQ_OPT_TCP_NODELAY, 1);
	/* our context, our checks: the library's defaults would load files */
	mosquitto_int_option(fl.mosq, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
	if (mosquitto_void_option(fl.mosq, MOSQ_OPT_SSL_CTX, ctx) !=
	    MOSQ_ERR_SUCCESS)
		kk_child_fail("fleet: cannot use the TLS context");
	mosquitto_connect_v5_callback_set(fl.mosq, on_connect);
	mosquitto_disconnect_v5_callback_set(fl.mosq, on_disconnect);
	mosquitto_message_v5_callback_set(fl.mosq, on_message);
	if ((rc = connect_props()) != MOSQ_ERR_SUCCESS)
		kk_child_fail("fleet: the CONNECT's properties: %s",
		    mosquitto_strerror(rc));
}

void
kd_fleet_main(int argc, char **argv)
{
	struct pollfd p[2];
	uint64_t now, until;
	bool connecting;
	short ev;
	int timeout, sock, rc, r;

	kk_child_enter(argc, argv, "--fleet-child", "kakurid-fleet", false);
	memset(&fl, 0, sizeof(fl));
	if (setrlimit(RLIMIT_DATA, &(struct rlimit){ DATA_MAX, DATA_MAX }) < 0)
		kk_child_fail("data limit: %s", strerror(errno));
	/*
	 * Fixed thresholds: glibc's adjusting ones would keep the freed
	 * envelopes (megabytes each) in the heap, where they still count
	 * against the limit; mapped alone, they go back when freed.
	 */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
	configure();
	if ((r = kk_child_seccomp(true)) < 0)
		kk_child_fail("seccomp: %s", strerror(-r));
	fcntl(KK_CHILD_FD_IPC, F_SETFL, fcntl(KK_CHILD_FD_IPC, F_GETFL) |
	    O_NONBLOCK);
	state("connecting");
	for (;;) {
		now = kk_now_ms();
		expire_inflight(now);
		if (fl.socket_open && !fl.connected && now >= fl.connect_by)
			lost(too_long());
		if (!fl.socket_open && now >= fl.next_try)
			try_connect();
		now = kk_now_ms();
		connecting = fl.socket_open && !fl.connected;
		sock = fl.socket_open ? mosquitto_socket(fl.mosq) : -1;
		p[0] = (struct pollfd){ .fd = KK_CHILD_FD_IPC, .events = POLLIN |
			(fl.parent.bytes > 0 ? POLLOUT : 0) };
		if (connecting) {
			/*
			 * Writable: the TCP connect is done.  Then only what
			 * the broker says: a connected socket is always
			 * writable, and libmosquitto's want_write stays set
			 * from the handshake's first try.
			 */
			ev = fl.tcp_up ? POLLIN | POLLRDHUP : POLLOUT;
		} else {
			/* no more from the broker than the parent can take */
			ev = (fl.ninflight < KD_FLEET_INFLIGHT &&
			    fl.parent.bytes < PARENT_QUEUE_MAX ? POLLIN : 0) |
			    (sock >= 0 && mosquitto_want_write(fl.mosq) ?
			    POLLOUT : 0);
		}
		p[1] = (struct pollfd){ .fd = sock, .events = ev };
		timeout = 1000;
		until = connecting ? fl.connect_by : !fl.socket_open ?
		    fl.next_try : 0;
		if (until > now && until - now < (uint64_t)timeout)
			timeout = (int)(until - now);
		else if (until != 0 && until <= now)
			timeout = 0;
		if (poll(p, 2, timeout) < 0 && errno != EINTR)
			kk_child_fail("poll: %s", strerror(errno));
		if (p[0].revents & (POLLERR | POLLHUP | POLLNVAL))
			_exit(0);	/* the parent is gone */
		if (p[0].revents & POLLIN)
			from_parent();
		if (connecting && fl.socket_open && sock >= 0 && p[1].revents)
			connecting_io(sock, p[1].revents);
		else if (connecting && fl.socket_open && sock < 0)
			lost("the connection failed");
		if (!connecting) {
			if (sock >= 0 && (p[1].revents &
			    (POLLIN | POLLERR | POLLHUP))) {
				rc = mosquitto_loop_read(fl.mosq, 1);
				if (rc != MOSQ_ERR_SUCCESS && fl.socket_open)
					lost(mosquitto_strerror(rc));
			}
			if (fl.socket_open && (p[1].revents & POLLOUT)) {
				rc = mosquitto_loop_write(fl.mosq, 1);
				if (rc != MOSQ_ERR_SUCCESS && fl.socket_open)
					lost(mosquitto_strerror(rc));
			}
		}
		if (fl.socket_open && fl.connected) {
			rc = mosquitto_loop_misc(fl.mosq);
			if (rc != MOSQ_ERR_SUCCESS && fl.socket_open)
				lost(mosquitto_strerror(rc));
		}
		if (fl.parent.bytes > 0) {
			r = kk_ipc_queue_flush(&fl.parent, KK_CHILD_FD_IPC, NULL);
			if (r < 0 && r != -EAGAIN)
				_exit(0);
		}
	}
}
