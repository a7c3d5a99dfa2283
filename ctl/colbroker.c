/*
 * kakurictl collector --broker (DESIGN 9): the reports agents publish on
 * their out topics, through the same checks, storage and acks as over
 * mutual TLS (collector.c), the acks published on each agent's ack topic
 * as ack documents with this collector's certificate chain.  One MQTT
 * session in the collector's sd-event loop, with a session of its own at
 * the broker (what is published while the collector is away waits), and
 * reconnects with backoff, every connect (the first one too) driven by the
 * loop's events: a broker that does not answer never stops the reports
 * over --listen, not even at the start.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>

#include "broker.h"
#include "collector.h"
#include "fleetwire.h"
#include "kakuri.h"
#include "output.h"
#include "report.h"
#include "tls.h"
#include "wire.h"

#define TICK_USEC		(500ULL * 1000ULL)
#define BACKOFF_MAX		60	/* ticks between reconnects, at most */
#define CONNECT_TICKS		20	/* for a reconnect's TCP, TLS, CONNACK */
#define MAX_AGENTS		100000	/* agents remembered (identity kept) */
/*
 * Refusals said one by one, at most, in a window; the rest are summed up
 * in one line when it ends.  Anyone on the broker may publish as fast as
 * it carries, and each refusal was a line of the collector's journal.
 */
#define LINES_WINDOW_USEC	(10ULL * 1000000ULL)
#define LINES_PER_WINDOW	10
/*
 * Acks this run published, remembered by what they answered: the agent
 * and its out document, byte for byte (its length, then its SHA-256).
 */
#define ACKED_MAX		4096
#define ACKED_TAIL		32
/* the one bucket of --broker-budget (colquota.c keys buckets by agent id) */
#define BUDGET_KEY	"0000000000000000000000000000000000000000000000000000000000000000"

struct acked {
	char agent[KK_AGENT_ID_HEX + 1];
	uint8_t sha[32];		/* the out document's SHA-256 */
	/* its last bytes (the envelope's signature): compared before a hash */
	uint8_t tail[ACKED_TAIL];
	char *ack;			/* the signed ack's text; NULL: free */
};

struct colbroker {
	struct collector *col;
	struct broker b;
	char *chain;			/* --cert's text: the acks' chain */
	size_t chainlen;
	sd_event_source *io, *timer;
	int fd;				/* the socket io watches, or -1 */
	enum { CB_UP, CB_DOWN, CB_CONNECTING } state;
	bool tcp_up;			/* connecting: the TCP connect done */
	unsigned ticks;			/* connecting: left until it failed */
	unsigned wait, backoff;		/* ticks until the next reconnect */
	bool ever_up;			/* connected once since the start */
	bool subscribing;		/* the SUBACK still to come */
	char url[128];			/* --broker, for what is said */
	struct col_conn **agents;	/* one per agent, its identity kept */
	size_t nagents, cap;
	unsigned long read, dropped;	/* documents, since the start */
	unsigned long passed;		/* ... said to be receipts */
	unsigned long from_memory;	/* ... acked again from acked[] */
	unsigned long unpublished;	/* acks the broker did not take */
	struct acked acked[ACKED_MAX];	/* a ring, the oldest replaced */
	/* their out documents' lengths apart: what each message scans */
	size_t acked_len[ACKED_MAX];
	size_t acked_next;
	uint64_t lines_since;		/* the window of lines said */
	unsigned lines;			/* said in it */
	unsigned long unsaid;		/* refused in it, not said */
	unsigned long unsaid_acks;	/* acks not published in it, not said */
};

/* What a line left out of a window is counted as, if anything. */
enum unsaid_what { UNSAID_NOTHING, UNSAID_DOCUMENT, UNSAID_ACK };

static void
note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A line on standard output (the journal under systemd). */
static void
vnote(const char *fmt, va_list ap)
{
	printf("broker: ");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
}

static void
note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vnote(fmt, ap);
	va_end(ap);
}

/*
 * The refusals and the acks not published of a window that were not
 * said, in a line each, once it has ended (or now, with force: at the
 * stop).
 */
static void
said_unsaid(struct colbroker *cb, uint64_t now, bool force)
{
	if (!force && now - cb->lines_since < LINES_WINDOW_USEC)
		return;
	if (cb->unsaid > 0)
		note("%lu more documents refused or dropped in %llu s, not said "
		    "one by one", cb->unsaid, (unsigned long long)((now -
		    cb->lines_since) / 1000000));
	if (cb->unsaid_acks > 0)
		note("%lu more acks not published in %llu s, not said one by "
		    "one", cb->unsaid_acks, (unsigned long long)((now -
		    cb->lines_since) / 1000000));
	cb->lines_since = now;
	cb->lines = 0;
	cb->unsaid = 0;
	cb->unsaid_acks = 0;
}

/*
 * Whether a line may be said now; if not, a document's (refused or
 * dropped) or an ack's (not published) is counted for the window's
 * lines, another is left out.
 */
static bool
line_allowed(struct colbroker *cb, enum unsaid_what what)
{
	said_unsaid(cb, col_now_usec(cb->col), false);
	if (cb->lines < LINES_PER_WINDOW) {
		cb->lines++;
		return true;
	}
	if (what == UNSAID_DOCUMENT)
		cb->unsaid++;
	else if (what == UNSAID_ACK)
		cb->unsaid_acks++;
	return false;
}

/* A stand-in connection's lines (collector.c's say): a refused report's. */
static bool
stand_in_may_say(struct col_conn *cn)
{
	return line_allowed(cn->col->broker, UNSAID_DOCUMENT);
}

static void
limited(struct colbroker *cb, enum unsaid_what what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A line on standard output within the limit (line_allowed). */
static void
limited(struct colbroker *cb, enum unsaid_what what, const char *fmt, ...)
{
	va_list ap;

	if (!line_allowed(cb, what))
		return;
	va_start(ap, fmt);
	vnote(fmt, ap);
	va_end(ap);
}

/* What the broker path read and did not store, charged to its budget. */
static void
spent(struct colbroker *cb, size_t len)
{
	int r;

	/* this cannot fail but for memory */
	if ((r = col_quota_charge(cb->col->broker_budget, BUDGET_KEY, len,
	    col_now_usec(cb->col))) < 0)
		note("not charged to the broker's budget: %s", strerror(-r));
}

/*
 * Whether a document in agent id's name is looked at at all: not if the
 * agent is denied, or with --agents not listed.  Dropped and counted if
 * not.
 */
static bool
welcome(struct colbroker *cb, const char *id)
{
	struct collector *col = cb->col;

	if (col_agent_in(col->denied, col->ndenied, id)) {
		if (col->denied_said++ == 0)
			note("%.16s: agent denied (--deny): what comes in its "
			    "name is dropped unread", id);
		else
			cb->unsaid++;
		goto drop;
	}
	/* its document must name the agent of its topic (kk_fleet_out_open) */
	if (col->ca == NULL && !col_agent_listed(col, id)) {
		limited(cb, UNSAID_DOCUMENT, "%.16s: not an agent of ours: "
		    "not listed in --agents; dropped unread", id);
		goto drop;
	}
	return true;
drop:
	cb->dropped++;
	return false;
}

/*
 * Whether a document of len bytes in agent id's name fits, checked and
 * not charged: its agent's share through the broker (share), or what
 * was read in vain may still spend of --broker-budget.  Before anything
 * of it is read (or, for the share, hashed).  If not, it is dropped and
 * counted, the first in an hour said; a report dropped stays in its
 * agent's outbox, sent again later.
 */
static bool
within(struct colbroker *cb, bool share, const char *id, size_t len)
{
	struct collector *col = cb->col;
	uint64_t wait;
	bool first;
	int r;

	r = col_quota_check(share ? col->broker_quota : col->broker_budget,
	    share ? id : BUDGET_KEY, len, col_now_usec(col), &wait, &first);
	if (r == 0)
		return true;
	cb->dropped++;
	if (r != -EDQUOT)
		limited(cb, UNSAID_DOCUMENT, "%.16s: dropped unread: %s", id,
		    r == -EUSERS ? "too many agents stored within the hour" :
		    strerror(-r));
	else if (!first)
		cb->unsaid++;
	else if (share)
		fprintf(stderr, "collector: mqtt:%.16s: over its quota "
		    "(--agent-quota) through the broker: what comes in its name "
		    "there is dropped unread for %llu s at least; a compromised "
		    "host, or a forger?\n", id,
		    (unsigned long long)(wait / 1000000 + 1));
	else
		note("what was read through the broker in vain (refused, acked "
		    "again, or receipts not said to be) spent its budget "
		    "(--broker-budget, %lld MiB an hour): documents are dropped "
		    "unread for %llu s at least, and agents send theirs again "
		    "later; reports over TLS are taken meanwhile",
		    col->broker_budget_mib,
		    (unsigned long long)(wait / 1000000 + 1));
	return false;
}

/*
 * A signed ack published on agent id's ack topic, with --cert's chain:
 * the packed document's size (what it held), or 0 if it could not be made.
 */
static size_t
publish_ack(struct colbroker *cb, const char *id, const char *ack)
{
	char topic[KK_FLEET_TOPIC_MAX], err[200], *pack;
	size_t plen;

	if (kk_fleet_ack_pack(cb->chain, ack, &pack, &plen) < 0) {
		cb->unpublished++;
		limited(cb, UNSAID_ACK, "%.16s: the ack not published: no "
		    "memory to make it", id);
		return 0;
	}
	kk_fleet_agent_topic(topic, sizeof(topic), id, "ack");
	if (broker_publish(&cb->b, topic, pack, plen, 0, err, sizeof(err)) !=
	    EX_DONE) {
		cb->unpublished++;
		limited(cb, UNSAID_ACK, "%.16s: the ack not published: %s",
		    id, err);
	}
	free(pack);
	return plen;
}

/* The last bytes of doc (len of them), zeros before if it is shorter. */
static void
tail_of(const void *doc, size_t len, uint8_t tail[ACKED_TAIL])
{
	size_t n = len < ACKED_TAIL ? len : ACKED_TAIL;

	memset(tail, 0, ACKED_TAIL);
	memcpy(tail + ACKED_TAIL - n, (const uint8_t *)doc + len - n, n);
}

/*
 * The same out document again (a courier's retries queued at the broker
 * while the collector was away, or anyone replaying what the out topics
 * carried): acked again from what this run published, with nothing read,
 * verified, written or synced again.  The report is on disk: its ack was
 * made after a sync.  Every copy is answered (a courier whose ack was
 * lost, or refused, waits for the answer to each delivery in turn), and
 * each answer costs its agent's share through the broker what the ack
 * is, 4 KiB at least: acks held for a broker that never confirms them
 * are bounded as the agent's reports are.  Hashed only when an ack of
 * the same agent answered a document of that length and those last
 * bytes (its envelope's signature); a hash that does not match was read
 * in vain, and spends the budget.  true if it was answered so.
 */
static bool
acked_again(struct colbroker *cb, const char *id, const void *doc,
    size_t len)
{
	uint8_t sha[32], tail[ACKED_TAIL];
	bool hashed = false;
	struct acked *a;
	size_t i, plen;

	tail_of(doc, len, tail);
	for (i = 0; i < ACKED_MAX; i++) {
		if (cb->acked_len[i] != len)
			continue;
		a = &cb->acked[i];
		if (a->ack == NULL || strcmp(a->agent, id) != 0 ||
		    memcmp(a->tail, tail, sizeof(tail)) != 0)
			continue;
		if (!hashed) {
			kk_sha256(doc, len, sha);
			hashed = true;
		}
		if (memcmp(a->sha, sha, sizeof(sha)) != 0)
			continue;
		cb->from_memory++;
		if ((plen = publish_ack(cb, id, a->ack)) > 0)
			(void)col_quota_charge(cb->col->broker_quota, id, plen,
			    col_now_usec(cb->col));
		return true;
	}
	if (hashed)
		spent(cb, len);
	return false;
}

/* An ack published for agent id's out document doc: remembered. */
static void
remember_ack(struct colbroker *cb, const char *id, const void *doc,
    size_t len, const char *ack)
{
	struct acked *a = &cb->acked[cb->acked_next];
	char *copy;

	if ((copy = strdup(ack)) == NULL)
		return;
	free(a->ack);
	a->ack = copy;
	snprintf(a->agent, sizeof(a->agent), "%s", id);
	cb->acked_len[cb->acked_next] = len;
	kk_sha256(doc, len, a->sha);
	tail_of(doc, len, a->tail);
	cb->acked_next = (cb->acked_next + 1) % ACKED_MAX;
}

/* The agent's stand-in connection: who it is, what it was answered. */
static struct col_conn *
agent_conn(struct colbroker *cb, const char *id, EVP_PKEY *identity)
{
	struct col_conn *cn, **v;
	size_t i, cap;

	for (i = 0; i < cb->nagents; i++)
		if (strcmp(cb->agents[i]->agent, id) == 0)
			return cb->agents[i];
	if (cb->nagents == MAX_AGENTS)
		return NULL;
	if (cb->nagents == cb->cap) {
		cap = cb->cap ? 2 * cb->cap : 64;
		if ((v = reallocarray(cb->agents, cap, sizeof(*v))) == NULL)
			return NULL;
		cb->agents = v;
		cb->cap = cap;
	}
	if ((cn = calloc(1, sizeof(*cn))) == NULL ||
	    EVP_PKEY_up_ref(identity) != 1) {
		free(cn);
		return NULL;
	}
	cn->col = cb->col;
	cn->quota = cb->col->broker_quota;
	cn->fd = -1;
	cn->authed = true;
	cn->may_say = stand_in_may_say;
	cn->identity = identity;
	snprintf(cn->agent, sizeof(cn->agent), "%s", id);
	snprintf(cn->peer, sizeof(cn->peer), "mqtt:%.16s", id);
	cb->agents[cb->nagents++] = cn;
	return cn;
}

/*
 * The answers col_report framed for the out document doc: the acks out
 * on the agent's ack topic, and remembered.
 */
static void
send_answers(struct colbroker *cb, struct col_conn *cn, const void *doc,
    size_t doclen)
{
	size_t off = 0, len;
	uint32_t n;
	char *text;

	/* stored, directories and index on disk before anything is acked */
	if (cn->dirty && !col_batch_synced(cb->col, cn)) {
		limited(cb, UNSAID_NOTHING, "syncfs failed: nothing acked");
		goto out;
	}
	cn->dirty = false;
	while (off + 4 <= cn->out_len) {
		memcpy(&n, cn->out + off, 4);
		len = be32toh(n);
		if (len > cn->out_len - off - 4)
			break;
		text = strndup((const char *)cn->out + off + 4, len);
		off += 4 + len;
		/*
		 * An error answer (or "{}", for want of memory): the agent's
		 * courier tries again later.  Only a signed ack goes out.
		 */
		if (text == NULL || strstr(text, "\"" KW_ERROR "\"") != NULL ||
		    strstr(text, "\"" KW_SIGNATURES "\"") == NULL) {
			free(text);
			continue;
		}
		(void)publish_ack(cb, cn->agent, text);
		remember_ack(cb, cn->agent, doc, doclen, text);
		free(text);
	}
out:
	/*
	 * A sync that failed unlinked what it did not take (col_sync), and
	 * the stand-in is never closed as a TLS connection would be: the
	 * next report begins a batch of its own, never one that failed.
	 */
	cn->dirty = false;
	free(cn->out);
	cn->out = NULL;
	cn->out_len = cn->out_off = 0;
	cn->nanswers = 0;
	cn->closing = false;
}

/* One message of an out topic: a report, checked and stored, or nothing. */
static void
on_out(void *arg, const struct mosquitto_message *m)
{
	struct colbroker *cb = arg;
	struct collector *col = cb->col;
	size_t len = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
	struct kk_fleet_out o;
	struct col_conn *cn;
	char id[KK_AGENT_ID_HEX + 1];
	unsigned long acked_before = col->acked;
	const char *why;

	if (kk_fleet_topic_agent(m->topic, "out", id) < 0)
		return;
	/*
	 * Said to be a receipt (the operators'): passed over unread, at no
	 * cost.  A report said to be one is passed over as well, unacked, and
	 * stays in its agent's outbox: nothing is gained by the lie.
	 */
	if (cb->b.content_type != NULL &&
	    strcmp(cb->b.content_type, KK_FLEET_TYPE_RECEIPT) == 0) {
		cb->passed++;
		return;
	}
	if (!welcome(cb, id) || !within(cb, true, id, len) ||
	    acked_again(cb, id, m->payload, len) || !within(cb, false, id, len))
		return;
	cb->read++;
	if (kk_fleet_out_open(m->payload, len, id, &o, &why) < 0) {
		col->refused++;
		spent(cb, len);
		limited(cb, UNSAID_DOCUMENT, "%.16s: %s", id, why);
		goto out;
	}
	/* a receipt not said to be one (an older agent's): read in vain */
	if (strcmp(o.kind, KK_FLEET_KIND_REPORT) != 0) {
		spent(cb, len);
		goto out;
	}
	/* an agent of ours: by the CA (a listed one was admitted) */
	if (col->ca != NULL && kk_tls_verify(col->ca, o.cert, NULL,
	    &why) < 0) {
		col->refused++;
		spent(cb, len);
		limited(cb, UNSAID_DOCUMENT, "%.16s: not an agent of ours: %s",
		    id, why);
		goto out;
	}
	/* only through the broker can it be larger (a frame holds no more) */
	if (o.len > KK_REPORT_MAX) {
		col->refused++;
		spent(cb, len);
		limited(cb, UNSAID_DOCUMENT, "%.16s: a report is 2 MiB at most",
		    id);
		goto out;
	}
	if ((cn = agent_conn(cb, id, o.identity)) == NULL) {
		spent(cb, len);
		limited(cb, UNSAID_DOCUMENT, "%.16s: out of memory", id);
		goto out;
	}
	/*
	 * Refused for what it is, or acked again (a report this run has not
	 * acked through the broker: acked_again knows the others): read in
	 * vain.  Anyone who read the out topics can publish stored reports
	 * again, and each costs a signature check and a sync as a new one.
	 */
	if (!col_report(cn, o.envelope, o.len) || col->acked != acked_before)
		spent(cb, len);
	send_answers(cb, cn, m->payload, len);
out:
	kk_fleet_out_free(&o);
}

static int on_io(sd_event_source *s, int fd, uint32_t events, void *arg);

/* Not watched: before libmosquitto closes the socket, or after it did. */
static void
unwatch(struct colbroker *cb)
{
	cb->io = sd_event_source_disable_unref(cb->io);
	cb->fd = -1;
}

/*
 * The socket watched for what the session needs now.  While connecting:
 * for the TCP connect to finish (writable), then only for the broker's
 * TLS and CONNACK (a connected socket is always writable: watching that
 * would spin the loop until the broker answers).
 */
static void
watch_socket(struct colbroker *cb)
{
	int fd = cb->state == CB_DOWN ? -1 : mosquitto_socket(cb->b.mosq);
	uint32_t ev;

	if (cb->state == CB_CONNECTING)
		ev = EPOLLIN | EPOLLRDHUP | (cb->tcp_up ? 0 : EPOLLOUT);
	else
		ev = EPOLLIN | (mosquitto_want_write(cb->b.mosq) ? EPOLLOUT :
		    0);
	if (fd != cb->fd || fd < 0)
		unwatch(cb);
	if (fd < 0)
		return;
	if (cb->io != NULL) {
		sd_event_source_set_io_events(cb->io, ev);
		return;
	}
	if (sd_event_add_io(cb->col->ev, &cb->io, fd, ev, on_io, cb) < 0)
		return;
	cb->fd = fd;
}

/* The session broke: a new one at the next tick. */
static void
went_down(struct colbroker *cb, const char *why)
{
	unwatch(cb);
	cb->state = CB_DOWN;
	cb->b.connected = false;
	cb->subscribing = false;
	cb->wait = 0;
	note("connection lost: %s", why);
}

/* A reconnect that did not get the session: the next after a backoff. */
static void
attempt_failed(struct colbroker *cb, const char *why)
{
	unwatch(cb);
	cb->state = CB_DOWN;
	cb->b.connected = false;
	cb->backoff = cb->backoff ? 2 * cb->backoff : 1;
	if (cb->backoff > BACKOFF_MAX)
		cb->backoff = BACKOFF_MAX;
	cb->wait = cb->backoff;
	note("%s failed: %s; again in %u ms", cb->ever_up ? "reconnect" :
	    "connect", why,
	    (cb->wait + 1) * (unsigned)(TICK_USEC / 1000));
}

/*
 * A reconnect, never blocking the loop that also serves --listen: the
 * TCP connect, the TLS handshake and the CONNACK all come as events,
 * within CONNECT_TICKS.  libmosquitto's blocking reconnect waited in
 * connect(2) for as long as the kernel retried a SYN nobody answered
 * (two minutes), and nothing was stored or acked meanwhile.
 */
static void
start_attempt(struct colbroker *cb)
{
	int rc;

	unwatch(cb);	/* the old socket is closed by the reconnect */
	cb->b.connected = false;
	cb->b.refused = 0;
	cb->tcp_up = false;
	/* the CONNECT's properties are the session's (broker_start) */
	rc = mosquitto_reconnect_async(cb->b.mosq);
	if (rc != MOSQ_ERR_SUCCESS) {
		attempt_failed(cb, rc == MOSQ_ERR_ERRNO ? strerror(errno) :
		    mosquitto_strerror(rc));
		return;
	}
	cb->state = CB_CONNECTING;
	cb->ticks = CONNECT_TICKS;
	watch_socket(cb);
}

/*
 * Connected: our subscription asked for (again: a broker that kept no
 * sessions, or restarted without them, would send us nothing), its SUBACK
 * read in on_io.
 */
static void
came_up(struct colbroker *cb)
{
	static char sub[] = "kakuri/v1/agent/+/out";
	char *subs[1] = { sub };
	int rc;

	cb->state = CB_UP;
	cb->backoff = 0;
	note("%s%s", cb->ever_up ? "reconnected" : "connected",
	    cb->b.resumed ? " (session resumed)" : "");
	cb->ever_up = true;
	cb->b.subacks = 1;
	cb->subscribing = true;
	rc = mosquitto_subscribe_multiple(cb->b.mosq, NULL, 1, subs, 1,
	    MQTT_SUB_OPT_SEND_RETAIN_NEVER, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		cb->subscribing = false;
		note("subscribe: %s", mosquitto_strerror(rc));
	}
}

/* The SUBACK, once: said, or the broker's refusal said. */
static void
check_suback(struct colbroker *cb)
{
	if (!cb->subscribing || cb->b.subacks != 0)
		return;
	cb->subscribing = false;
	if (cb->b.refused != 0)
		note("subscribe: the broker refused: %s",
		    mosquitto_reason_string(cb->b.refused));
	else
		note("subscribed at %s", cb->url);
}

/* An event of the socket of a (re)connect under way. */
static void
connecting_io(struct colbroker *cb, int fd, uint32_t events)
{
	socklen_t len = sizeof(int);
	int err = 0, rc;

	if (!cb->tcp_up) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err != 0) {
			attempt_failed(cb, strerror(err));
			return;
		}
		if (!(events & EPOLLOUT))
			return;
		cb->tcp_up = true;
	}
	/* the TLS handshake (loop_read drives it), then the CONNECT out */
	rc = mosquitto_loop_read(cb->b.mosq, 1);
	if (rc == MOSQ_ERR_SUCCESS && mosquitto_socket(cb->b.mosq) >= 0)
		rc = mosquitto_loop_write(cb->b.mosq, 1);
	if (cb->b.connected) {
		came_up(cb);
		return;
	}
	/* an end of the stream with no CONNACK would be read again and again */
	if (rc != MOSQ_ERR_SUCCESS || cb->b.refused != 0 ||
	    mosquitto_socket(cb->b.mosq) < 0 ||
	    (events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)))
		attempt_failed(cb, cb->b.refused != 0 ?
		    mosquitto_reason_string(cb->b.refused) :
		    rc != MOSQ_ERR_SUCCESS ? mosquitto_strerror(rc) :
		    "closed by the broker");
}

static int
on_io(sd_event_source *s, int fd, uint32_t events, void *arg)
{
	struct colbroker *cb = arg;
	int rc = MOSQ_ERR_SUCCESS;

	if (cb->state == CB_CONNECTING) {
		connecting_io(cb, fd, events);
		watch_socket(cb);
		return 0;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		rc = mosquitto_loop_read(cb->b.mosq, 64);
	if (rc == MOSQ_ERR_SUCCESS && (events & EPOLLOUT))
		rc = mosquitto_loop_write(cb->b.mosq, 64);
	if (rc != MOSQ_ERR_SUCCESS || !cb->b.connected)
		went_down(cb, rc != MOSQ_ERR_SUCCESS ? mosquitto_strerror(rc) :
		    "disconnected");
	else
		check_suback(cb);
	watch_socket(cb);
	return 0;
}

/* Keep-alive, a reconnect's deadline, and a reconnect with backoff. */
static int
on_tick(sd_event_source *s, uint64_t usec, void *arg)
{
	struct colbroker *cb = arg;
	int rc;

	sd_event_source_set_time(s, usec + TICK_USEC);
	said_unsaid(cb, col_now_usec(cb->col), false);
	switch (cb->state) {
	case CB_UP:
		rc = mosquitto_loop_misc(cb->b.mosq);
		if (rc != MOSQ_ERR_SUCCESS || !cb->b.connected)
			went_down(cb, rc != MOSQ_ERR_SUCCESS ?
			    mosquitto_strerror(rc) : "disconnected");
		break;
	case CB_CONNECTING:
		if (--cb->ticks == 0)
			attempt_failed(cb, cb->tcp_up ? "no CONNACK in time" :
			    "the broker does not answer");
		break;
	case CB_DOWN:
		if (cb->wait > 0)
			cb->wait--;
		else
			start_attempt(cb);
		break;
	}
	watch_socket(cb);
	return 0;
}

int
colbroker_start(struct collector *col, const char *url, const char *ca,
    const char *cert, const char *key)
{
	struct colbroker *cb;
	char err[300], client[80], id[KK_AGENT_ID_HEX + 1];
	int r;

	if ((cb = calloc(1, sizeof(*cb))) == NULL)
		return EX_FAILED;
	col->broker = cb;
	cb->col = col;
	cb->fd = -1;
	snprintf(cb->url, sizeof(cb->url), "%s", url);
	if ((r = kk_read_file(cert, KK_FLEET_ACK_MAX / 2, &cb->chain,
	    &cb->chainlen)) < 0) {
		fail_line("%s: %s", cert, strerror(-r));
		return EX_FAILED;
	}
	/* one session per collector key: its reports wait for it */
	kk_key_id(col->key, id);
	snprintf(client, sizeof(client), "kakuri-collector-%.32s", id);
	/*
	 * Never waited for: the connect is the loop's, like a reconnect, and
	 * --listen serves from the start.  A broker that does not answer
	 * (SYNs dropped) held the start for two minutes, then the collector
	 * exited, and reports sent to it directly had nobody to take them.
	 */
	/*
	 * No more than an out document (and room for the headers): a
	 * frame's 24 MiB spent --broker-budget four times as fast, on what
	 * is refused unread anyway
	 */
	cb->b.packet_max = KK_FLEET_OUT_MAX + 4096;
	r = broker_start(&cb->b, url, ca, cert, key, client, err, sizeof(err));
	/* bad options, certificates or keys: said now, not retried */
	if (r != EX_DONE && r != EX_UNREACHABLE) {
		fail_line("%s", err);
		return r;
	}
	cb->b.message = on_out;
	cb->b.arg = cb;
	if (sd_event_add_time_relative(col->ev, &cb->timer, CLOCK_MONOTONIC,
	    TICK_USEC, 0, on_tick, cb) < 0 ||
	    sd_event_source_set_enabled(cb->timer, SD_EVENT_ON) < 0) {
		fail_line("cannot set up the broker's timer");
		return EX_FAILED;
	}
	if (r == EX_DONE) {
		cb->state = CB_CONNECTING;
		cb->ticks = CONNECT_TICKS;
		note("connecting to %s; reports over TLS are taken meanwhile",
		    url);
	} else {
		cb->state = CB_DOWN;
		note("cannot connect to %s now (%s); tried again in the "
		    "background, reports over TLS are taken meanwhile", url, err);
	}
	watch_socket(cb);
	return EX_DONE;
}

void
colbroker_stop(struct collector *col)
{
	struct colbroker *cb = col->broker;
	size_t i;

	if (cb == NULL)
		return;
	if (cb->ever_up) {
		said_unsaid(cb, col_now_usec(col), true);
		note("%lu documents read, %lu dropped unread, %lu receipts "
		    "passed over, %lu acked again from memory, %lu acks not "
		    "published", cb->read, cb->dropped, cb->passed,
		    cb->from_memory, cb->unpublished);
	}
	for (i = 0; i < ACKED_MAX; i++)
		free(cb->acked[i].ack);
	sd_event_source_disable_unref(cb->io);
	sd_event_source_disable_unref(cb->timer);
	broker_close(&cb->b);
	for (i = 0; i < cb->nagents; i++) {
		EVP_PKEY_free(cb->agents[i]->identity);
		free(cb->agents[i]->out);
		free(cb->agents[i]);
	}
	free(cb->agents);
	free(cb->chain);
	free(cb);
	col->broker = NULL;
}
