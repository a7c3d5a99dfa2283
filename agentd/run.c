/*
 * One request's life in kakurid's parent (run.h): what it asked, how it
 * ended (done, rejected, failed, and the reason word), and its answer.
 *
 * A signed request (the CSIRT channel, kakurictl apply) is audited
 * however it ends and answered with a receipt the agent's identity key
 * signs, also for a refusal.  Refusals of what arrives over the network
 * are counted rather than each written down: a compromised network
 * child (or a peer it lets through) can produce them as fast as it
 * likes -- garbage, or copies of signed commands it saw -- and each
 * would cost an fsync'd audit line and a signature.  Per interval, each
 * reason (and each signed command) is audited in full the first time,
 * the rest in one summary line when the interval ends; every peer still
 * gets its signed receipt.
 *
 * An unsigned request (the control socket, kakurid itself) gets a JSON
 * answer: the one its handler set, or {"ok": false, "error": WORD,
 * "message": TEXT} for a refusal or failure; its handler audits what it
 * did itself.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "adopt.h"
#include "daemon.h"
#include "identity.h"
#include "log.h"
#include "outbox.h"
#include "parse_keys.h"
#include "record.h"
#include "run.h"
#include "sign.h"
#include "wire.h"

/*
 * Where requests come from; the signed ones are checked by signed.c.
 * A signed origin's refusals are summed up in the audit log as actor
 * and in the journal as said.
 */
static const struct {
	const char *name;
	bool is_signed;
	const char *actor;
	const char *said;
} origins[KD_ORIGIN__MAX] = {
	[KD_ORIGIN_LOCAL] = { "local", false, NULL, NULL },
	[KD_ORIGIN_APPLY] = { "apply", true, "local", "kakurictl apply" },
	[KD_ORIGIN_REMOTE] = { "remote", true, "tls", "signed-channel" },
	[KD_ORIGIN_FLEET] = { "fleet", true, "mqtt", "fleet broker" },
	[KD_ORIGIN_DRILL] = { "drill", false, NULL, NULL },
	[KD_ORIGIN_START] = { "start", false, NULL, NULL },
	[KD_ORIGIN_RESTORE] = { "restore", false, NULL, NULL },
};

const char *
kd_origin_name(enum kd_origin o)
{
	return (unsigned)o < KD_ORIGIN__MAX ? origins[o].name : "unknown";
}

bool
kd_origin_signed(enum kd_origin o)
{
	return (unsigned)o < KD_ORIGIN__MAX && origins[o].is_signed;
}

static void
ts_rfc3339(const struct timespec *ts, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&ts->tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(ts->tv_nsec / 1000000) % 1000);
}

/* The receipt: signed by the agent key, always, also for rejections. */
static char *
sign_receipt(struct run *r)
{
	struct kd *d = r->d;
	char rec[64], app[64] = "", ver[64] = "";
	json_t *o, *timings;
	char *payload = NULL, *text = NULL;
	EVP_PKEY *sk;

	ts_rfc3339(&r->received, rec, sizeof(rec));
	if (r->have_applied) {
		ts_rfc3339(&r->applied, app, sizeof(app));
		ts_rfc3339(&r->verified, ver, sizeof(ver));
	}
	timings = json_pack("{s:s, s:s?, s:s?}", KW_RECEIVED, rec,
	    KW_APPLIED, app[0] ? app : NULL, KW_VERIFIED, ver[0] ? ver : NULL);
	o = json_pack("{s:i, s:s*, s:s, s:s*, s:s, s:s*, s:s*, s:s, s:s*, s:o}",
	    KW_V, 1, KW_COMMAND, r->have_cmd ? r->cmd.id : NULL,
	    KW_AGENT, d->agent_id,
	    KW_ACTION, r->have_cmd ? kk_action_name(r->cmd.action) : NULL,
	    KW_RESULT, r->result, KW_REASON, r->reason,
	    KW_DETAIL, r->detail[0] ? r->detail : NULL,
	    KW_MODE, kk_mode_name(d->state.mode),
	    KW_EPISODE, d->state.episode[0] ? d->state.episode : NULL,
	    KW_TIMINGS, timings);
	if (o == NULL)
		return NULL;
	if (r->have_cmd && r->cmd.incident[0])
		json_object_set_new(o, KW_INCIDENT, json_string(r->cmd.incident));
	if (r->have_cmd && r->cmd.group[0])
		json_object_set_new(o, KW_GROUP, json_string(r->cmd.group));
	if (r->extra)
		json_object_set(o, KW_STATUS, r->extra);
	if (r->output)
		json_object_set(o, KW_OUTPUT, r->output);
	if (r->enforcers)
		json_object_set(o, KW_ENFORCERS, r->enforcers);
	payload = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (payload == NULL)
		return NULL;
	/* on failure text stays NULL: no receipt */
	if ((sk = kd_agent_signer(d)) != NULL)
		(void)kk_envelope_seal(KK_PT_RECEIPT, (const uint8_t *)payload,
		    strlen(payload), d->agent_id, sk, &text);
	EVP_PKEY_free(sk);
	free(payload);
	return text;
}

/*
 * A receipt larger than its transport carries (the fleet broker's maximum
 * packet size), signed again without its status and output and naming
 * them and the whole one's size: the operator learns what the command
 * did, rather than nothing (a status can be asked for over TLS, evidence
 * fetched).  The enforcers stay: a degraded isolation must reach the
 * operator.  whole is a receipt of this agent's: its signature is checked
 * before its payload is read.
 */
int
kd_receipt_brief(struct kd *d, const char *whole, size_t len, char **brief,
    char *parts_said, size_t said_len)
{
	static const char *const droppable[] = { KW_STATUS, KW_OUTPUT };
	json_t *o, *parts = NULL;
	char *payload = NULL;
	const char *why;
	EVP_PKEY *sk = NULL;
	size_t i;
	int r = -ENOMEM;

	*brief = NULL;
	if (said_len > 0)
		parts_said[0] = '\0';
	o = kk_envelope_open((const uint8_t *)whole, len, KK_PT_RECEIPT,
	    d->agent_key, &why);
	if (o == NULL) {
		r = -EBADMSG;
		goto out;
	}
	if ((parts = json_array()) == NULL)
		goto out;
	for (i = 0; i < sizeof(droppable) / sizeof(droppable[0]); i++) {
		if (json_object_get(o, droppable[i]) == NULL)
			continue;
		json_object_del(o, droppable[i]);
		json_array_append_new(parts, json_string(droppable[i]));
		if (said_len > 0)
			snprintf(parts_said + strlen(parts_said), said_len -
			    strlen(parts_said), "%s%s", i > 0 &&
			    parts_said[0] ? " and " : "", droppable[i]);
	}
	if (json_array_size(parts) == 0) {
		r = -ENOENT;
		goto out;
	}
	if (json_object_set_new(o, KW_LEFT_OUT, json_pack("{s:O, s:I}",
	    KW_PARTS, parts, KW_BYTES, (json_int_t)len)) < 0 ||
	    (payload = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)) ==
	    NULL)
		goto out;
	if ((sk = kd_agent_signer(d)) == NULL) {
		r = -ENOKEY;
		goto out;
	}
	r = kk_envelope_seal(KK_PT_RECEIPT, (const uint8_t *)payload,
	    strlen(payload), d->agent_id, sk, brief);
	if (r == 0 && *brief == NULL)
		r = -ENOMEM;
out:
	EVP_PKEY_free(sk);
	free(payload);
	json_decref(parts);
	json_decref(o);
	return r;
}

const char *
kd_receipt_brief_why(int err)
{
	switch (err) {
	case -ENOENT:
		return "it has no status or output to leave out";
	case -EBADMSG:
		return "it is not a receipt this agent signed";
	case -ENOKEY:
		return "there is no identity key to sign with";
	default:
		return strerror(-err);
	}
}

/* A run's receipt over its transport's limit now: brief, or NULL. */
static char *
brief_receipt(struct run *r, const char *whole)
{
	size_t len = strlen(whole), max;
	char *text, said[32];
	int err;

	/* the transport's limit as it is now, not at the command's arrival */
	max = r->receipt_max != NULL ? r->receipt_max(r->d) : 0;
	if (max == 0 || len <= max || !r->have_cmd ||
	    (r->extra == NULL && r->output == NULL))
		return NULL;
	if ((err = kd_receipt_brief(r->d, whole, len, &text, said,
	    sizeof(said))) < 0) {
		kk_log(LOG_ERR, KK_MID_ERROR, "signed command %s from %s: its "
		    "receipt of %zu bytes is more than the transport takes "
		    "(%zu), and cannot be signed brief: %s",
		    kk_action_name(r->cmd.action), r->via, len, max,
		    kd_receipt_brief_why(err));
		return NULL;
	}
	kk_log(LOG_WARNING, KK_MID_ERROR, "signed command %s from %s: its "
	    "receipt of %zu bytes is more than the transport takes (%zu): "
	    "sent without its %s", kk_action_name(r->cmd.action), r->via,
	    len, max, said);
	return text;
}

static void
finish_audit(struct run *r)
{
	json_t *extra;
	char result[64];

	snprintf(result, sizeof(result), "%s%s%s", r->result,
	    r->reason ? ": " : "", r->reason ? r->reason : "");
	extra = json_pack("{s:s*, s:s*, s:s*, s:s*}",
	    KW_COMMAND, r->have_cmd ? r->cmd.id : NULL,
	    KW_INCIDENT, r->have_cmd && r->cmd.incident[0] ? r->cmd.incident : NULL,
	    KW_REASON, r->have_cmd && r->cmd.reason[0] ? r->cmd.reason : NULL,
	    KW_DETAIL, r->detail[0] ? r->detail : NULL);
	if (extra != NULL && r->enforcers != NULL)
		json_object_set(extra, KW_ENFORCERS, r->enforcers);
	kd_audit(r->d, r->via, r->have_cmd ? kk_action_name(r->cmd.action) :
	    "command", result, extra);
	kk_log(strcmp(r->result, KR_DONE) == 0 ? LOG_NOTICE : LOG_WARNING,
	    strcmp(r->result, KR_DONE) == 0 ? KK_MID_APPLY : KK_MID_REFUSED,
	    "signed command %s from %s: %s%s%s%s%s%s",
	    r->have_cmd ? kk_action_name(r->cmd.action) : "?", r->via,
	    r->result, r->reason ? " (" : "", r->reason ? r->reason : "",
	    r->reason ? ")" : "", r->detail[0] ? ": " : "", r->detail);
}

void
kd_run_reject(struct run *r, const char *reason, const char *detail)
{
	r->result = KR_REJECTED;
	r->reason = reason;
	if (detail)
		snprintf(r->detail, sizeof(r->detail), "%s", detail);
}

void
kd_run_fail(struct run *r, const char *reason, const char *fmt, ...)
{
	va_list ap;

	r->result = KR_FAILED;
	r->reason = reason;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
}

void
kd_run_committed(struct run *r)
{
	r->applied = r->d->nft.committed;
	clock_gettime(CLOCK_REALTIME, &r->verified);
	r->have_applied = true;
}

void
kd_run_applied(struct run *r)
{
	clock_gettime(CLOCK_REALTIME, &r->applied);
	r->verified = r->applied;
	r->have_applied = true;
}

void
kd_run_enforcers(struct run *r)
{
	char what[sizeof(r->detail)];
	size_t used;

	json_decref(r->enforcers);
	r->enforcers = kd_enforcers_json(r->d, false);
	if (strcmp(r->result, KR_DONE) != 0 ||
	    kd_enforcers_degraded(r->d, what, sizeof(what)) == 0)
		return;
	/* the network's part is done; the rest said in words too */
	r->reason = KR_DEGRADED;
	used = strlen(r->detail);
	snprintf(r->detail + used, sizeof(r->detail) - used, "%s%s",
	    used ? "; " : "", what);
}

/* "csirt:INCIDENT", the incident cut on a character boundary */
void
kd_run_csirt_actor(const struct run *r, char *by, size_t len)
{
	const char *who = r->cmd.incident[0] ? r->cmd.incident : r->cmd.id;

	snprintf(by, len, "csirt:%.*s", (int)kk_text_cut(who, strlen(who),
	    180), who);
}

struct run *
kd_run_new(struct kd *d, enum kd_origin origin, const char *actor,
    kd_reply_fn reply, void *opaque, uint64_t token)
{
	struct run *r;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->d = d;
	r->origin = origin;
	snprintf(r->via, sizeof(r->via), "%s", actor);
	r->result = KR_REJECTED;
	r->reply = reply;
	r->opaque = opaque;
	r->token = token;
	clock_gettime(CLOCK_REALTIME, &r->received);
	return r;
}

/*
 * Refusals over the network, per interval, counted by reason and command:
 * a command a CSIRT key signed is audited the first time it is refused in
 * an interval (a copy replayed again and again is counted), and what
 * names no command (nothing of the payload was trusted) is counted by
 * reason alone and shares one signed receipt.  Each of the three signed
 * origins has a share of the table: past it, or when the table is full,
 * its further refusals are only counted, under "various" -- so that
 * `kakurictl apply`, which any local user may run, cannot take the
 * entries the CSIRT's own refusals over the network are audited by.
 */
#define KD_REJECT_WINDOW_USEC	(10ULL * 1000000ULL)
#define KD_REJECT_ENTRIES	64
/* the last three entries count the rest, one an origin */
#define KD_REJECT_SHARE		((KD_REJECT_ENTRIES - 3) / 3)

struct kd_reject_count {
	enum kd_origin origin;		/* REMOTE, FLEET or APPLY: counted apart */
	char reason[32];
	char command[KK_ID_HEX + 1];	/* "" for refusals that name none */
	unsigned long count;		/* this interval */
	char *receipt;			/* cached, for refusals without a command */
	char receipt_key[sizeof(((struct run *)NULL)->detail) + 96];
};

struct kd_rejects {
	sd_event_source *timer;		/* the end of the interval */
	struct kd_reject_count r[KD_REJECT_ENTRIES];
	size_t n;
};

static void
rejects_reset(struct kd_rejects *rj)
{
	size_t i;

	for (i = 0; i < rj->n; i++)
		free(rj->r[i].receipt);
	memset(rj->r, 0, sizeof(rj->r));
	rj->n = 0;
}

/* The interval is over: one summary line for each entry not all audited. */
static int
on_rejects_window(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kd *d = userdata;
	struct kd_rejects *rj = d->rejects;
	struct kd_reject_count *e;
	enum kd_origin o;
	char result[64];
	size_t i;

	for (i = 0; i < rj->n; i++) {
		e = &rj->r[i];
		if (e->count < 2)
			continue;
		/* only signed origins are summed up; any other as the channel */
		o = (unsigned)e->origin < KD_ORIGIN__MAX &&
		    origins[e->origin].actor != NULL ? e->origin :
		    KD_ORIGIN_REMOTE;
		snprintf(result, sizeof(result), "rejected: %s", e->reason);
		kd_audit(d, origins[o].actor, "command", result, json_pack("{s:s*, s:I, s:I}",
		    KW_COMMAND, e->command[0] ? e->command : NULL,
		    KW_MORE, (json_int_t)(e->count - 1),
		    KW_SECONDS, (json_int_t)(KD_REJECT_WINDOW_USEC / 1000000ULL)));
		kk_log(LOG_WARNING, KK_MID_REFUSED,
		    "%lu more %s refusals (%s%s%s) in %llu s", e->count - 1,
		    origins[o].said, e->reason, e->command[0] ? ", command " : "",
		    e->command, KD_REJECT_WINDOW_USEC / 1000000ULL);
	}
	rejects_reset(rj);
	return 0;
}

/* The entry of (reason, command) in this interval; NULL without memory. */
static struct kd_reject_count *
rejects_entry(struct kd *d, enum kd_origin origin, const char *reason,
    const char *command)
{
	struct kd_rejects *rj = d->rejects;
	struct kd_reject_count *e;
	uint64_t now;
	size_t i, mine = 0;

	if (rj == NULL) {
		rj = calloc(1, sizeof(*rj));
		if (rj == NULL)
			return NULL;
		if (d->ev == NULL || sd_event_add_time(d->ev, &rj->timer,
		    CLOCK_MONOTONIC, 0, 0, on_rejects_window, d) < 0) {
			free(rj);
			return NULL;
		}
		sd_event_source_set_enabled(rj->timer, SD_EVENT_OFF);
		d->rejects = rj;
	}
	for (i = 0; i < rj->n; i++) {
		if (rj->r[i].origin != origin)
			continue;
		if (strcmp(rj->r[i].reason, reason) == 0 &&
		    strcmp(rj->r[i].command, command) == 0)
			return &rj->r[i];
		mine++;
	}
	if (rj->n >= KD_REJECT_ENTRIES - 3 || mine >= KD_REJECT_SHARE) {
		reason = "various";
		command = "";
		for (i = 0; i < rj->n; i++)
			if (rj->r[i].origin == origin &&
			    strcmp(rj->r[i].reason, reason) == 0 &&
			    rj->r[i].command[0] == '\0')
				return &rj->r[i];
	}
	if (rj->n == KD_REJECT_ENTRIES)
		return NULL;	/* only three origins come: not reached */
	if (rj->n == 0) {
		sd_event_now(d->ev, CLOCK_MONOTONIC, &now);
		sd_event_source_set_time(rj->timer, now + KD_REJECT_WINDOW_USEC);
		sd_event_source_set_enabled(rj->timer, SD_EVENT_ONESHOT);
	}
	e = &rj->r[rj->n++];
	e->origin = origin;
	snprintf(e->reason, sizeof(e->reason), "%s", reason);
	snprintf(e->command, sizeof(e->command), "%s", command);
	return e;
}

/*
 * The receipt of a refusal that names no command: what it says depends
 * only on the reason, its detail and the mode, so one signature serves
 * the interval (its received time is the first one's).
 */
static char *
cached_receipt(struct run *r, struct kd_reject_count *e)
{
	struct kd *d = r->d;
	char key[sizeof(e->receipt_key)];
	char *text;

	/*
	 * The reason too: the "various" entry of a full interval holds
	 * refusals of every reason, and a receipt for busy named malformed.
	 */
	snprintf(key, sizeof(key), "%s|%s|%s|%s", r->reason, r->detail,
	    kk_mode_name(d->state.mode), d->state.episode);
	if (e->receipt != NULL && strcmp(e->receipt_key, key) == 0)
		return strdup(e->receipt);
	text = sign_receipt(r);
	if (text != NULL) {
		free(e->receipt);
		e->receipt = strdup(text);
		memcpy(e->receipt_key, key, sizeof(key));
	}
	return text;
}

static void
run_free(struct run *r)
{
	if (r->have_cmd)
		kk_command_free(&r->cmd);
	json_decref(r->args);
	json_decref(r->extra);
	json_decref(r->output);
	json_decref(r->enforcers);
	json_decref(r->answer);
	json_decref(r->notice);
	if (r->tail != NULL) {
		kk_audit_tail_close(r->tail);
		free(r->tail);
	}
	free(r);
}

/*
 * Prunes the replay store.  Its cutoff (replay.c) unreadable means that
 * commands could not be recorded meanwhile (io): say so, and that it is
 * now set from the clock.
 */
static void
prune_replay(struct kd *d)
{
	int n = kk_replay_prune(d->replay_dir, time(NULL), KK_SECONDS_MAX);

	if (n == -EBADMSG)
		kk_log(LOG_WARNING, KK_MID_ERROR, "replay store %s: its cutoff "
		    "file was unreadable (signed commands were refused, io); "
		    "written again from the clock", d->replay_dir);
	else if (n < 0)
		kk_log(LOG_WARNING, KK_MID_ERROR, "replay store %s: cannot "
		    "prune: %s", d->replay_dir, strerror(-n));
}

/* The receipt of a signed run that is over; NULL without an agent key. */
static char *
run_receipt(struct run *r)
{
	struct kd_reject_count *e;
	struct kd *d = r->d;
	char *text;

	/*
	 * From the network, and from kakurictl apply (any local user, a few
	 * a second: one audit line each would rotate the incident's history
	 * out of the log in weeks): refusals counted per reason and interval.
	 */
	if ((r->origin == KD_ORIGIN_REMOTE || r->origin == KD_ORIGIN_FLEET ||
	    r->origin == KD_ORIGIN_APPLY) &&
	    strcmp(r->result, KR_REJECTED) == 0 && (e = rejects_entry(d,
	    r->origin, r->reason ? r->reason : "rejected", r->have_cmd ?
	    r->cmd.id : "")) != NULL) {
		if (e->count++ == 0)
			finish_audit(r);
		/*
		 * A receipt names its command: only those without share one.
		 * Through the broker, such a one goes once an interval: a
		 * message of garbage on a group's topic made every agent of
		 * the group sign and publish a receipt that says nothing of
		 * any command, and a flood of them N times as many.
		 */
		text = d->agent_key == NULL ? NULL : r->have_cmd ? sign_receipt(r) :
		    r->origin == KD_ORIGIN_FLEET && e->count > 1 ? NULL :
		    cached_receipt(r, e);
	} else {
		finish_audit(r);
		text = d->agent_key ? sign_receipt(r) : NULL;
	}
	/*
	 * Expired ids need not be kept: pruned at most once a minute, by the
	 * monotonic clock (by the wall clock, one set back would stop the
	 * pruning, and the repair of a damaged cutoff, until it caught up).
	 * Kept for the largest clock_skew a policy may give, not this one's:
	 * a reload that raised it made a command pruned under the old skew
	 * valid again, and a replay of it was taken for new.
	 */
	if (d->remote_ready && (d->replay_pruned_ms == 0 ||
	    kk_now_ms() - d->replay_pruned_ms >= 60000)) {
		d->replay_pruned_ms = kk_now_ms();
		prune_replay(d);
	}
	return text;
}

/* An unsigned run's answer: its handler's, or the result in words. */
static json_t *
run_answer(struct run *r)
{
	if (r->answer != NULL)
		return json_incref(r->answer);
	if (strcmp(r->result, KR_DONE) == 0)
		return json_pack("{s:b}", KW_OK, 1);
	return kk_wire_error(r->reason ? r->reason : r->result, r->detail);
}

void
kd_run_finish(struct run *r)
{
	struct kd_answer a = { NULL, NULL, NULL };
	struct kd *d = r->d;
	struct run **pp;
	char *text = NULL, *brief;

	for (pp = &d->runs; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	if (kd_origin_signed(r->origin)) {
		text = run_receipt(r);
		if (text != NULL && (brief = brief_receipt(r, text)) != NULL) {
			free(text);
			text = brief;
		}
		a.receipt = text;
	} else {
		a.json = run_answer(r);
		a.tail = r->tail;
		r->tail = NULL;
	}
	r->reply(d, r->opaque, r->token, &a);
	json_decref(a.json);
	free(text);
	if (r->notice != NULL) {
		char what[32];

		snprintf(what, sizeof(what), "%s notice",
		    kk_report_type_name(r->notice_type));
		kd_outbox_notify(d, r->notice_type, r->notice, what);
		r->notice = NULL;
	}
	run_free(r);
}

void
kd_runs_abort(struct kd *d)
{
	while (d->runs) {
		struct run *r = d->runs;

		kd_run_fail(r, "aborted", "kakurid is stopping");
		kd_run_finish(r);
	}
}

void
kd_runs_free(struct kd *d)
{
	if (d->rejects) {
		rejects_reset(d->rejects);
		sd_event_source_disable_unref(d->rejects->timer);
		free(d->rejects);
		d->rejects = NULL;
	}
}
