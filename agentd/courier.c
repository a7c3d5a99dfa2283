/*
 * The courier's row of the children table, and the parent's half of the
 * delivery (courier.h): what goes next, when, and whether the collector
 * really took it.  A file leaves the outbox only after an ack signed by
 * the collector's key, the key of the certificate it showed, which
 * report.collector_id pins or report.ca vouches for -- all checked here,
 * not in the child that talked to the network.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "children.h"
#include "courier.h"
#include "courier_trust.h"
#include "daemon.h"
#include "log.h"
#include "outbox.h"
#include "record.h"
#include "report.h"
#include "wire.h"

#define COURIER_RESTART_MIN	(1000000ULL)
#define COURIER_RESTART_MAX	(60ULL * 1000000ULL)
#define COURIER_HEALTHY		(30ULL * 1000000ULL)
#define COURIER_LOG_WINDOW	(60ULL * 1000000ULL)
#define COURIER_LOG_LINES	10
/* the child's answer: an ack with the collector's chain */
#define COURIER_MSG_MAX		(sizeof(struct kk_ipc_hdr) + 4 + \
				 KK_COURIER_CHAIN_MAX + KK_ACK_MAX)

struct kd_courier {
	struct kd_child *child;
	uint8_t *cfg;			/* the child's material, until sent */
	size_t cfglen;
	/* the oldest signed messages, from one look at the directory */
	struct kd_outbox_entry batch[KD_COURIER_BATCH];
	char types[KD_COURIER_BATCH][16];	/* theirs: e->type is the scan's */
	size_t nbatch, next;
	unsigned long long cursor;	/* seqs looked at by this pass */
	/*
	 * A message of this pass kept for later (no descriptor or memory
	 * to read it): a pass that ends with nothing to send tries again
	 * after the backoff, rather than at the next message queued.
	 */
	bool kept;
	char kept_why[240];		/* the first one kept, and why */
	/*
	 * The batch with the child now: sent back to back, answered in
	 * order (the collector syncs a batch once, not each report).
	 */
	bool busy;
	/*
	 * pump runs: a kick now (a look at the outbox that moved a corrupt
	 * file aside queues a tamper report, which kicks) is done after it
	 */
	bool pumping, kicked;
	uint64_t answer_usec;		/* the batch's time for its answers */
	uint32_t token;
	struct kd_courier_msg {
		struct kd_outbox_entry e;
		char type[16];
		char sha[65];
		uint32_t token;
	} win[KD_COURIER_WINDOW];
	size_t nwin, nanswered;
	size_t win_start;		/* batch[] index of its first message */
	bool win_failed;
	/*
	 * Acks of the batch refused: the first is audited in full, the
	 * rest summed up in one line when the batch ends (refused_summary).
	 */
	unsigned win_refused;
	bool late_said;			/* a late answer said, this batch */
	struct kd_child *win_child;	/* the batch went to it: it answers */
	char refused_why[240];		/* the last one's */
	json_t *win_done;		/* what of it was delivered, for the audit */
	/* acked, deleted while the next batch is on its way */
	struct kd_courier_gone {
		char name[KD_OUTBOX_NAME_MAX];
		uint64_t size;
	} gone[KD_COURIER_WINDOW];
	size_t ngone;
	/* report.ca, and the collector's key as the last chain showed it */
	struct kd_courier_trust trust;
	sd_event_source *timer;		/* backoff, or the answer's deadline */
	uint64_t backoff;		/* usec; 0 after a success */
	bool waiting;			/* the timer is a backoff */
	bool refused;			/* ... after acks were refused */
	uint64_t failed_at;		/* CLOCK_MONOTONIC usec of the last */
	unsigned long delivered;
	unsigned long failures;		/* attempts that failed, since start */
	struct {
		unsigned long n;	/* its number among the failures */
		char why[240];
	} recent[KD_COURIER_RECENT];	/* the last ones, for kakurictl outbox */
	char why[240];			/* the last failure, "" after a success */
	char logged[240];
};

static void pump(struct kd *d);
static void failed(struct kd *d, const char *why);
static void delivered(struct kd *d);
static void refused_summary(struct kd *d);
static void forget_acked(struct kd *d);

/*
 * A batch given up before all of it was answered (a failure, no answer,
 * the child gone, a reload): what was acked of it is deleted now and
 * the rest is sent again, from the first of it.  The names read from
 * the directory are kept (what was acked is gone, and skipped then), so
 * a collector that stays away costs no rescan.
 */
static void
rescan(struct kd *d)
{
	struct kd_courier *co = d->courier;

	delivered(d);
	refused_summary(d);
	forget_acked(d);
	co->next = co->win_start;
	co->nwin = co->nanswered = 0;
}

static int
on_timer(sd_event_source *s, uint64_t usec, void *arg)
{
	struct kd *d = arg;
	struct kd_courier *co = d->courier;

	co->waiting = false;
	if (co->busy) {
		/*
		 * No answer (the courier child, or the broker's collector): a
		 * stuck connection is not waited on, and the backoff applies.
		 */
		kd_child_kill(co->child, "no answer from the courier");
		snprintf(co->why, sizeof(co->why), "the courier did not answer "
		    "within %llu s", (unsigned long long)(co->answer_usec /
		    1000000ULL));
		failed(d, NULL);
		return 0;
	}
	pump(d);
	return 0;
}

static void
arm(struct kd *d, uint64_t usec)
{
	struct kd_courier *co = d->courier;

	if (co->timer == NULL) {
		if (sd_event_add_time_relative(d->ev, &co->timer,
		    CLOCK_MONOTONIC, usec, 100000, on_timer, d) < 0)
			co->timer = NULL;
		return;
	}
	sd_event_source_set_time(co->timer, kd_loop_now(d) + usec);
	sd_event_source_set_enabled(co->timer, SD_EVENT_ONESHOT);
}

static void
disarm(struct kd_courier *co)
{
	if (co->timer != NULL)
		sd_event_source_set_enabled(co->timer, SD_EVENT_OFF);
	co->waiting = false;
}

/*
 * A delivery that failed: tried again after the backoff, doubled each
 * time from 1 s to 5 min, with jitter (the delay is drawn from the upper
 * half) so that a fleet does not return in step.
 */
static void
failed(struct kd *d, const char *why)
{
	struct kd_courier *co = d->courier;
	bool refused = co->win_refused > 0;
	uint64_t delay, r = 0;

	co->busy = false;
	rescan(d);
	if (why != NULL)
		snprintf(co->why, sizeof(co->why), "%s", why);
	co->failures++;
	co->recent[co->failures % KD_COURIER_RECENT].n = co->failures;
	snprintf(co->recent[co->failures % KD_COURIER_RECENT].why,
	    sizeof(co->recent[0].why), "%s", co->why);
	co->backoff = co->backoff == 0 ? KD_COURIER_BACKOFF_MIN :
	    co->backoff * 2 > KD_COURIER_BACKOFF_MAX ? KD_COURIER_BACKOFF_MAX :
	    co->backoff * 2;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = kd_loop_now(d);	/* jitter only: any spread will do */
	delay = co->backoff / 2 + r % (co->backoff / 2 + 1);
	if (strcmp(co->logged, co->why) != 0) {
		snprintf(co->logged, sizeof(co->logged), "%s", co->why);
		kk_log(LOG_WARNING, KK_MID_ERROR, "courier: %s; %lu message(s) "
		    "wait, trying again", co->why, d->outbox.count);
	}
	co->waiting = true;
	co->refused = refused;
	co->failed_at = kd_loop_now(d);
	arm(d, delay);
}

static void
collect_signed(void *arg, const struct kd_outbox_entry *e)
{
	struct kd_courier *co = arg;

	if (!e->is_signed || co->nbatch == KD_COURIER_BATCH)
		return;
	/* the entry's strings live only as long as the scan's payload */
	snprintf(co->types[co->nbatch], sizeof(co->types[0]), "%s",
	    e->type ? e->type : "?");
	co->batch[co->nbatch] = *e;
	co->batch[co->nbatch].type = NULL;
	co->batch[co->nbatch++].time = NULL;
}

/* The next message to deliver, oldest first; false when none waits. */
static bool
next_message(struct kd *d, struct kd_courier_msg *m)
{
	struct kd_courier *co = d->courier;
	struct kd_outbox_scan sc;

	/*
	 * The names past the cursor, 1,024 read at a time, until one of
	 * them is signed; the end of the outbox starts the next pass from
	 * the oldest.  Bounded: each look moves the cursor on.
	 */
	while (co->next >= co->nbatch) {
		co->nbatch = co->next = 0;
		sc = (struct kd_outbox_scan){ .after = co->cursor,
			.max = KD_COURIER_BATCH };
		if (kd_outbox_check(d, &sc, collect_signed, co) < 0)
			return false;
		if (co->nbatch > 0 || (sc.unchecked > 0 && sc.last > co->cursor)) {
			co->cursor = sc.last;
			continue;
		}
		co->cursor = 0;
		return false;
	}
	m->e = co->batch[co->next];
	snprintf(m->type, sizeof(m->type), "%s", co->types[co->next]);
	co->next++;
	return true;
}

/*
 * Who carries the reports: the courier child to report.collector, or,
 * without one, the fleet child through the broker (DESIGN 9) while it is
 * connected and the collector's acks can be checked (report.ca or
 * report.collector_id); NULL: nobody now.
 */
static struct kd_child *
transport(struct kd *d)
{
	if (d->policy->collector[0] != '\0')
		return d->courier->child;
	if (d->policy->report_ca[0] == '\0' &&
	    d->policy->collector_id[0] == '\0')
		return NULL;
	return d->report_via != NULL ? d->report_via(d) : NULL;
}

/* Where the reports go, for the log and the audit. */
static const char *
destination(struct kd *d)
{
	static char buf[160];

	if (d->policy->collector[0] != '\0')
		return d->policy->collector;
	snprintf(buf, sizeof(buf), "broker %s", d->policy->fleet_broker);
	return buf;
}

/*
 * Hands the child the next batch, oldest first: up to KD_COURIER_WINDOW
 * messages or KD_COURIER_WINDOW_BYTES (at least one), if it is free.  A
 * message that cannot be read now never holds the ones behind it: it is
 * set aside (outbox.c), or kept for later if only the system lacks
 * something to read it, and the next one takes its place.
 */
static void
pump_once(struct kd *d)
{
	struct kd_courier *co = d->courier;
	struct kd_courier_msg *m;
	struct kd_child *t;
	size_t bytes = 0, len = 0;
	unsigned skipped = 0;
	char *buf = NULL, why[200];
	int r;

	if (co->busy || co->waiting || (t = transport(d)) == NULL ||
	    !kd_child_running(t))
		return;
	co->nwin = co->nanswered = 0;
	co->win_failed = false;
	co->win_refused = 0;
	co->late_said = false;
	for (;;) {
		if (co->nwin == KD_COURIER_WINDOW ||
		    bytes >= KD_COURIER_WINDOW_BYTES)
			break;
		/* a batch never spans two looks at the directory */
		if (co->nwin > 0 && co->next >= co->nbatch)
			break;
		/* each one set aside costs a tamper report, written and synced */
		if (skipped == KD_COURIER_SKIP_MAX)
			break;
		m = &co->win[co->nwin];
		if (!next_message(d, m))
			break;
		if (co->nwin == 0)	/* where a failed batch starts again */
			co->win_start = co->next - 1;
		r = kd_outbox_read(d, m->e.name, &buf, &len);
		if (r == -ENOENT)
			continue;	/* gone meanwhile (moved aside) */
		if (r < 0 && kd_outbox_read_later(r)) {
			/*
			 * No verdict on the file: it is kept, and read again
			 * by a later pass; the ones behind it go meanwhile.
			 */
			if (!co->kept)
				snprintf(co->kept_why, sizeof(co->kept_why),
				    "cannot read outbox/%s now: %s", m->e.name,
				    strerror(-r));
			co->kept = true;
			skipped++;
			continue;
		}
		if (r < 0) {
			/*
			 * Read well by the check that listed it, and no longer
			 * (made a link, no regular file, a read error): tried
			 * again it fails again, and every report behind it
			 * would wait.  Set aside as the check would have.
			 */
			if ((r = kd_outbox_set_aside(d, m->e.name, m->e.size,
			    r)) < 0 && r != -ENOENT)
				kk_log(LOG_ERR, KK_MID_ERROR, "courier: outbox/%s "
				    "is not readable and cannot be set aside: "
				    "%s", m->e.name, strerror(-r));
			skipped++;
			continue;
		}
		kk_sha256_hex(buf, len, m->sha);
		m->e.size = len;
		m->token = ++co->token;
		kd_child_send(t, KK_IPC_DELIVER, m->token, buf, len);
		free(buf);
		bytes += len;
		co->nwin++;
	}
	if (co->nwin == 0) {
		/*
		 * Nothing to send now: what was kept for later, or what lies
		 * past the unreadable ones stepped over, after the backoff.
		 */
		if (co->kept) {
			co->kept = false;
			failed(d, co->kept_why);
		} else if (skipped == KD_COURIER_SKIP_MAX) {
			snprintf(why, sizeof(why), "%u unreadable messages in a "
			    "row set aside: the next ones after the backoff",
			    skipped);
			failed(d, why);
		}
		return;
	}
	co->busy = true;
	co->win_child = t;
	co->answer_usec = KD_COURIER_ANSWER_USEC + bytes * 1000000ULL /
	    KD_COURIER_RATE_MIN;
	arm(d, co->answer_usec);
}

/*
 * pump_once, never inside itself: next_message's look at the outbox can
 * queue a tamper report (a corrupt file moved aside), and queuing kicks
 * the courier.  A second batch begun in the middle of the first would
 * fill the window the first is filling, and the child would be killed
 * for answering what was not asked.  The kick is done once this one is.
 */
static void
pump(struct kd *d)
{
	struct kd_courier *co = d->courier;

	if (co == NULL)
		return;
	if (co->pumping) {
		co->kicked = true;
		return;
	}
	co->pumping = true;
	co->kicked = false;
	pump_once(d);
	if (co->kicked)
		pump_once(d);	/* busy: the next batch takes it */
	co->pumping = co->kicked = false;
}

/* The answer to one message of the batch: an ack, checked, or why not. */
static void
acked(struct kd *d, struct kd_courier_msg *m, const uint8_t *body,
    size_t len)
{
	struct kd_courier *co = d->courier;
	EVP_PKEY *key = NULL;
	const char *why = "";
	char line[240];
	uint32_t cl;

	memcpy(&cl, body, 4);
	if (kd_courier_trust_key(&co->trust, d->policy, body + 4, cl,
	    &key, &why) < 0 ||
	    kk_ack_check(body + 4 + cl, len - 4 - cl, key, d->agent_id,
	    m->e.id, m->sha, &why) < 0) {
		/*
		 * Not deleted: tried again, and the CSIRT's log says why --
		 * once a batch in full.  The answers come from a child that
		 * talks to the network: a compromised one answers every
		 * delivery with garbage, and a line each, fsync'd, would
		 * flood the log and rotate the incident's history away.
		 */
		snprintf(line, sizeof(line), "%s for outbox/%s", why, m->e.name);
		if (co->win_refused++ == 0)
			kd_audit(d, "kakurid", "courier", "ack-refused",
			    json_pack("{s:s, s:s}", KW_FILE, m->e.name, KW_WHY,
			    why));
		snprintf(co->refused_why, sizeof(co->refused_why), "%s", why);
		EVP_PKEY_free(key);
		snprintf(co->why, sizeof(co->why), "%s", line);
		co->win_failed = true;
		return;
	}
	EVP_PKEY_free(key);
	/* a batch's acks, at most a window of them: never more kept */
	if (co->ngone == KD_COURIER_WINDOW)
		forget_acked(d);
	memcpy(co->gone[co->ngone].name, m->e.name, sizeof(m->e.name));
	co->gone[co->ngone++].size = m->e.size;
	co->delivered++;
	if (co->win_done == NULL)
		co->win_done = json_array();
	json_array_append_new(co->win_done, json_pack("{s:s, s:s, s:I}",
	    KW_REPORT, m->e.id, KW_TYPE, m->type, KW_SEQ,
	    (json_int_t)m->e.seq));
	kk_log(LOG_INFO, KK_MID_REPORT, "courier: %s report %s (seq %llu) "
	    "delivered to %s", m->type, m->e.id, m->e.seq, destination(d));
}

/*
 * The acked files deleted: after the next batch went out, so that the
 * deletions (a discard on some disks) overlap its round trip.  One the
 * scan would see again is never sent: it lies behind the batch's names.
 */
static void
forget_acked(struct kd *d)
{
	struct kd_courier *co = d->courier;
	size_t i;
	int r;

	for (i = 0; i < co->ngone; i++)
		if ((r = kd_outbox_remove(d, co->gone[i].name,
		    co->gone[i].size)) < 0 && r != -ENOENT)
			kk_log(LOG_ERR, KK_MID_ERROR, "courier: outbox/%s was "
			    "delivered but cannot be deleted: %s",
			    co->gone[i].name, strerror(-r));
	co->ngone = 0;
}

/* The timeline shows what reached the CSIRT, and when: a line a batch. */
static void
delivered(struct kd *d)
{
	struct kd_courier *co = d->courier;

	if (co->win_done != NULL)
		kd_audit(d, "kakurid", "courier", "delivered", json_pack(
		    "{s:I, s:o, s:s}", KW_COUNT, (json_int_t)json_array_size(
		    co->win_done), KW_MESSAGES, co->win_done, KW_COLLECTOR,
		    destination(d)));
	co->win_done = NULL;
}

/*
 * The refused acks of the batch past the first, in one line: how many,
 * and the last one's why.
 */
static void
refused_summary(struct kd *d)
{
	struct kd_courier *co = d->courier;

	if (co->win_refused > 1)
		kd_audit(d, "kakurid", "courier", "ack-refused", json_pack(
		    "{s:I, s:I, s:s, s:s}", KW_COUNT,
		    (json_int_t)co->win_refused, KW_NOT_RECORDED,
		    (json_int_t)(co->win_refused - 1), KW_WHY, co->refused_why,
		    KW_COLLECTOR, destination(d)));
	co->win_refused = 0;
}

/* Every message of the batch answered: the next batch, or the backoff. */
static void
batch_done(struct kd *d)
{
	struct kd_courier *co = d->courier;

	disarm(co);
	co->busy = false;
	delivered(d);
	if (co->win_failed) {
		failed(d, NULL);
	} else {
		co->backoff = 0;
		co->why[0] = co->logged[0] = '\0';
		pump(d);
	}
	forget_acked(d);
}

/*
 * An answer to a message asked before the one the courier waits for (of
 * a batch given up on when its time ran out, or answered already): an
 * ack a fleet broker held past that time, or delivered twice (MQTT's
 * "at least once").  Late, not a lie: the report is sent again, or was
 * acked.  Dropped, said once a batch; the child that passed it on had
 * been killed, and the fleet commands it carries cut off for its backoff.
 */
static bool
late_answer(struct kd_courier *co, const struct kk_ipc_hdr *h)
{
	uint32_t waited = co->busy && co->nanswered < co->nwin ?
	    co->win[co->nanswered].token : co->token + 1;

	if ((h->type != KK_IPC_ACK && h->type != KK_IPC_REJECT) ||
	    h->conn == 0 || h->conn >= waited)
		return false;
	if (!co->late_said)
		kk_log(LOG_NOTICE, KK_MID_REPORT, "courier: an answer to "
		    "message %u, asked before the one awaited (%u), dropped",
		    h->conn, waited);
	co->late_said = true;
	return true;
}

static void
courier_message(struct kd *d, struct kd_child *c, const struct kk_ipc_hdr *h,
    const uint8_t *body, size_t len)
{
	struct kd_courier *co = d->courier;
	struct kd_courier_msg *m;
	uint32_t cl;
	size_t i;

	if (h->type == KK_IPC_LOG) {
		kd_child_words(c, h->peer, (const char *)body, len);
		return;
	}
	/*
	 * Only the child the batch went to answers it: with both
	 * report.collector and fleet.broker set, the fleet child's answers
	 * would otherwise fail the courier's batches one by one.
	 */
	if (co->busy && c != co->win_child) {
		kd_child_kill(c, "answered a delivery it was not given");
		return;
	}
	m = co->busy && co->nanswered < co->nwin ? &co->win[co->nanswered] :
	    NULL;
	if (m == NULL || h->conn != m->token ||
	    (h->type != KK_IPC_ACK && h->type != KK_IPC_REJECT) ||
	    (h->type == KK_IPC_ACK && (len < 4 || (memcpy(&cl, body, 4),
	    cl > len - 4) || cl > KK_COURIER_CHAIN_MAX))) {
		if (late_answer(co, h))
			return;
		/* nothing was asked of it, or not in this order: not trusted */
		kd_child_kill(c, "answered what was not asked");
		co->busy = false;
		rescan(d);
		return;
	}
	co->nanswered++;
	if (h->type == KK_IPC_ACK) {
		acked(d, m, body, len);
	} else if (!co->win_failed) {
		/* its one line of why, printable only */
		for (i = 0; i < len && i < sizeof(co->why) - 1; i++)
			co->why[i] = body[i] >= 0x20 && body[i] < 0x7f ?
			    (char)body[i] : '?';
		co->why[i] = '\0';
		co->win_failed = true;
	}
	if (co->nanswered == co->nwin)
		batch_done(d);
}

void
kd_courier_answer(struct kd *d, struct kd_child *c, const struct kk_ipc_hdr *h,
    const uint8_t *body, size_t len)
{
	if (d->courier != NULL)
		courier_message(d, c, h, body, len);
	else
		kd_child_kill(c, "answered what was not asked");
}

static void
courier_gone(struct kd *d, struct kd_child *c)
{
	struct kd_courier *co = d->courier;

	if (co->busy)
		failed(d, co->why[0] ? NULL : "the courier died");
	else
		rescan(d);
}

static void
courier_started(struct kd *d, struct kd_child *c)
{
	struct kd_courier *co = d->courier;

	kd_child_send(c, KK_IPC_CONFIG, 0, co->cfg, co->cfglen);
	kd_tls_material_forget(&co->cfg, &co->cfglen);
	co->nbatch = co->next = 0;
	co->cursor = 0;
	co->kept = false;	/* the new pass reads every message */
	pump(d);
}

static int
courier_off(struct kd *d, int r, const char *why)
{
	struct kd_courier *co = d->courier;

	snprintf(co->why, sizeof(co->why), "%s", why);
	if (strcmp(co->logged, co->why) != 0) {
		snprintf(co->logged, sizeof(co->logged), "%s", co->why);
		kk_log(LOG_ERR, KK_MID_ERROR, "courier off: %s", why);
	}
	return r;
}

static int
courier_entry(struct kd *d, struct kd_child *c, pid_t *pid, int *ipc,
    int *logfd, bool *retry)
{
	struct kd_courier *co = d->courier;
	struct kk_courier_config where;
	uid_t uid;
	gid_t gid;
	char err[300];
	int r;

	kd_courier_trust_forget(&co->trust);
	if (d->policy->collector[0] == '\0') {
		/* through the broker, if any: the acks are checked here */
		if (d->policy->fleet_broker[0] != '\0' &&
		    (r = kd_courier_trust_load(&co->trust, d->policy, err,
		    sizeof(err))) < 0)
			return courier_off(d, r, err);
		co->why[0] = '\0';
		return -ENOKEY;
	}
	*retry = true;
	if (d->agent_key == NULL)
		return courier_off(d, -ENOKEY, "no agent identity key (run "
		    "kakurid --init)");
	if (kd_child_user(d, &uid, &gid, err, sizeof(err)) < 0)
		return courier_off(d, -ENOENT, err);
	memset(&where, 0, sizeof(where));
	snprintf(where.collector, sizeof(where.collector), "%s",
	    d->policy->collector);
	snprintf(where.pin, sizeof(where.pin), "%s", d->policy->collector_id);
	if ((r = kd_courier_trust_load(&co->trust, d->policy, err,
	    sizeof(err))) < 0 ||
	    (r = kd_tls_material(d, d->policy->report_ca, false, &where,
	    sizeof(where), &co->cfg, &co->cfglen, err, sizeof(err))) < 0)
		return courier_off(d, r, err);
	r = kk_child_spawn("--courier", -1, uid, gid, pid, ipc,
	    logfd, err, sizeof(err));
	if (r < 0) {
		kd_tls_material_forget(&co->cfg, &co->cfglen);
		return courier_off(d, r, err);
	}
	kk_log(LOG_INFO, KK_MID_START, "courier for %s (child %d, uid %u)",
	    d->policy->collector, (int)*pid, (unsigned)uid);
	return 0;
}

static const struct kd_child_kind courier_kind = {
	.name = "courier",
	.entry = courier_entry,
	.started = courier_started,
	.message = courier_message,
	.gone = courier_gone,
	.backoff = { COURIER_RESTART_MIN, COURIER_RESTART_MAX, COURIER_HEALTHY },
	.log = { COURIER_LOG_LINES, COURIER_LOG_WINDOW },
	/* it reads the next batch once this one is sent: as long as that may take */
	.queue = { KK_IPC_MAX, 2 * KK_IPC_MAX, KD_COURIER_ANSWER_MAX_USEC },
	.msg_max = COURIER_MSG_MAX,
};

int
kd_courier_start(struct kd *d)
{
	struct kd_courier *co;

	if (d->courier == NULL) {
		if ((co = calloc(1, sizeof(*co))) == NULL)
			return -ENOMEM;
		d->courier = co;
		if ((co->child = kd_child_new(d, &courier_kind, co)) == NULL) {
			free(co);
			d->courier = NULL;
			return -ENOMEM;
		}
	}
	kd_child_start(d->courier->child);
	return 0;
}

void
kd_courier_reload(struct kd *d)
{
	struct kd_courier *co = d->courier;
	char err[300];

	if (co == NULL) {
		kd_courier_start(d);
		return;
	}
	co->backoff = 0;
	disarm(co);
	if (co->busy) {
		co->busy = false;
		rescan(d);
	}
	if (d->policy->collector[0] != '\0') {
		kd_child_restart(co->child);	/* its entry reads the policy */
		return;
	}
	/*
	 * Through the broker (or nowhere): no child starts, so the new
	 * report.ca and pin are taken here, and nothing checked is kept.
	 */
	kd_child_halt(co->child);
	kd_courier_trust_forget(&co->trust);
	if (kd_courier_trust_load(&co->trust, d->policy, err,
	    sizeof(err)) < 0)
		courier_off(d, -EINVAL, err);
}

void
kd_courier_kick(struct kd *d)
{
	struct kd_courier *co = d->courier;

	if (co == NULL || co->busy)
		return;
	/*
	 * Acks refused: the backoff holds, as for "connected" (a collector
	 * answering garbage would otherwise get a batch, read and hashed
	 * again, per message queued); the message goes when it ends.
	 */
	if (co->waiting && co->refused)
		return;
	/* a new message is tried now; the backoff level stays */
	disarm(co);
	pump(d);
}

void
kd_courier_transport_up(struct kd *d)
{
	struct kd_courier *co = d->courier;

	/*
	 * A backoff because the transport was down ends when it is up
	 * again.  One because acks were refused does not: the transport
	 * says when it is up, and one that says so in a loop and answers
	 * each delivery with garbage would have a batch sent, and its
	 * refusals audited, as fast as it likes.
	 */
	uint64_t now = kd_loop_now(d), at, set;

	if (co == NULL || (co->waiting && co->refused))
		return;
	/*
	 * Nor one that says so in a loop and has each batch refused (a
	 * REJECT: "not delivered"): a batch a second at most, each one up
	 * to a MiB of the outbox read and hashed again.  The backoff's own
	 * timer stays if it comes sooner.
	 */
	if (co->waiting && now - co->failed_at < KD_COURIER_BACKOFF_MIN) {
		at = co->failed_at + KD_COURIER_BACKOFF_MIN;
		if (co->timer == NULL || sd_event_source_get_time(co->timer,
		    &set) < 0 || set > at)
			arm(d, at - now);
		return;
	}
	kd_courier_kick(d);
}

void
kd_courier_transport_gone(struct kd *d, struct kd_child *c)
{
	struct kd_courier *co = d->courier;

	if (co != NULL && co->busy && co->win_child == c) {
		disarm(co);
		failed(d, "the fleet child died");
	}
}

const char *
kd_courier_state(struct kd *d)
{
	static char buf[320];
	struct kd_courier *co = d->courier;

	if (d->policy->collector[0] == '\0' &&
	    d->policy->fleet_broker[0] == '\0')
		return "no collector configured (report.collector in the "
		    "policy is empty): the messages stay here";
	if (d->policy->collector[0] == '\0' && co != NULL &&
	    transport(d) == NULL) {
		snprintf(buf, sizeof(buf), "through the fleet broker, %s",
		    d->policy->report_ca[0] == '\0' &&
		    d->policy->collector_id[0] == '\0' ? "but no report.ca or "
		    "report.collector_id to check the collector's acks: the "
		    "messages stay here" : "which is not connected now");
		return buf;
	}
	if (co == NULL || (d->policy->collector[0] != '\0' &&
	    !kd_child_running(co->child))) {
		snprintf(buf, sizeof(buf), "courier not running%s%.240s",
		    co && co->why[0] ? ": " : "", co ? co->why : "");
		return buf;
	}
	if (co->busy)
		return "being delivered";
	if (co->why[0] != '\0') {
		snprintf(buf, sizeof(buf), "retrying: %.240s", co->why);
		return buf;
	}
	return "delivering in order";
}

json_t *
kd_courier_json(struct kd *d)
{
	struct kd_courier *co = d->courier;
	json_t *recent = json_array(), *o;
	unsigned long n;

	if (co == NULL)
		return json_pack("{s:I, s:I, s:o}", KW_DELIVERED, 0,
		    KW_FAILURES, 0, KW_RECENT, recent);
	/* oldest first */
	for (n = co->failures > KD_COURIER_RECENT ? co->failures -
	    KD_COURIER_RECENT + 1 : 1; n <= co->failures && recent; n++)
		json_array_append_new(recent, json_pack("{s:I, s:s}", KW_SEQ,
		    (json_int_t)n, KW_WHY, co->recent[n % KD_COURIER_RECENT].why));
	o = json_pack("{s:I, s:I, s:o*}", KW_DELIVERED,
	    (json_int_t)co->delivered, KW_FAILURES, (json_int_t)co->failures,
	    KW_RECENT, recent);
	return o;
}

void
kd_courier_stop(struct kd *d)
{
	struct kd_courier *co = d->courier;

	if (co == NULL)
		return;
	kd_child_free(co->child);
	kd_tls_material_forget(&co->cfg, &co->cfglen);
	kd_courier_trust_free(&co->trust);
	json_decref(co->win_done);
	sd_event_source_unref(co->timer);
	free(co);
	d->courier = NULL;
}
