/*
 * Signed commands from the CSIRT (DESIGN 4), in the root parent.
 *
 * The order of the checks is the contract's: size cap, envelope, payload
 * type, signatures over the raw bytes (nothing from the payload is read
 * before a trusted key has signed it), strict parse, role and threshold,
 * agent id, time window, replay, the id persisted (fsync), execution,
 * and a receipt signed by the agent key.  Every rejection has a reason
 * word that goes into the receipt and the audit log.
 *
 * Refusals of what arrives over the network are counted rather than each
 * written down: a compromised network child (or a peer it lets through)
 * can produce them as fast as it likes -- garbage, or copies of signed
 * commands it saw -- and each would cost an fsync'd audit line and a
 * signature.  Per interval, each reason (and each signed command) is
 * audited in full the first time, the rest in one summary line when the
 * interval ends; every peer still gets its signed receipt.  The network
 * child itself is supervised in channel.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon.h"
#include "quarantine.h"
#include "record.h"
#include "dispatch.h"
#include "log.h"
#include "run.h"
#include "sign.h"
#include "signed.h"

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
receipt(struct run *r)
{
	struct kd *d = r->d;
	struct kk_envelope env;
	char rec[64], app[64] = "", ver[64] = "";
	json_t *o, *timings;
	char *payload = NULL, *text = NULL;

	ts_rfc3339(&r->received, rec, sizeof(rec));
	if (r->have_applied) {
		ts_rfc3339(&r->applied, app, sizeof(app));
		ts_rfc3339(&r->verified, ver, sizeof(ver));
	}
	timings = json_pack("{s:s, s:s?, s:s?}", "received", rec,
	    "applied", app[0] ? app : NULL, "verified", ver[0] ? ver : NULL);
	o = json_pack("{s:i, s:s*, s:s, s:s*, s:s, s:s*, s:s*, s:s, s:s*, s:o}",
	    "v", 1, "command", r->have_cmd ? r->cmd.id : NULL,
	    "agent", d->agent_id,
	    "action", r->have_cmd ? kk_action_name(r->cmd.action) : NULL,
	    "result", r->result, "reason", r->reason,
	    "detail", r->detail[0] ? r->detail : NULL,
	    "mode", kk_mode_name(d->state.mode),
	    "episode", d->state.episode[0] ? d->state.episode : NULL,
	    "timings", timings);
	if (o == NULL)
		return NULL;
	if (r->have_cmd && r->cmd.incident[0])
		json_object_set_new(o, "incident", json_string(r->cmd.incident));
	if (r->extra)
		json_object_set(o, "status", r->extra);
	if (r->output)
		json_object_set(o, "output", r->output);
	payload = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (payload == NULL)
		return NULL;
	if (kk_envelope_init(&env, KK_PT_RECEIPT, (const uint8_t *)payload,
	    strlen(payload)) == 0) {
		if (kk_envelope_sign(&env, d->agent_id, d->agent_key) == 0)
			text = kk_envelope_encode(&env);
		kk_envelope_free(&env);
	}
	free(payload);
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
	    "command", r->have_cmd ? r->cmd.id : NULL,
	    "incident", r->have_cmd && r->cmd.incident[0] ? r->cmd.incident : NULL,
	    "reason", r->have_cmd && r->cmd.reason[0] ? r->cmd.reason : NULL,
	    "detail", r->detail[0] ? r->detail : NULL);
	kd_audit(r->d, r->via, r->have_cmd ? kk_action_name(r->cmd.action) :
	    "command", result, extra);
	kk_log(strcmp(r->result, "done") == 0 ? LOG_NOTICE : LOG_WARNING,
	    strcmp(r->result, "done") == 0 ? KK_MID_APPLY : KK_MID_REFUSED,
	    "signed command %s from %s: %s%s%s%s%s%s",
	    r->have_cmd ? kk_action_name(r->cmd.action) : "?", r->via,
	    r->result, r->reason ? " (" : "", r->reason ? r->reason : "",
	    r->reason ? ")" : "", r->detail[0] ? ": " : "", r->detail);
}

void
kd_run_reject(struct run *r, const char *reason, const char *detail)
{
	r->result = "rejected";
	r->reason = reason;
	if (detail)
		snprintf(r->detail, sizeof(r->detail), "%s", detail);
}

void
kd_run_fail(struct run *r, const char *reason, const char *fmt, ...)
{
	va_list ap;

	r->result = "failed";
	r->reason = reason;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
}

#define rejected kd_run_reject

/* Actions: one entry each; later issues plug theirs in here. */
struct action_entry {
	enum kk_action action;
	int (*run)(struct run *r);
};

static void
mark_applied(struct run *r)
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

/* "csirt:INCIDENT", the incident cut on a character boundary */
static void
csirt_actor(const struct run *r, char *by, size_t len)
{
	const char *who = r->cmd.incident[0] ? r->cmd.incident : r->cmd.id;

	snprintf(by, len, "csirt:%.*s", (int)kk_text_cut(who, strlen(who),
	    180), who);
}

static int
act_isolate(struct run *r)
{
	const char *key, *m = "isolated";
	enum kk_mode mode;
	bool changed;
	json_t *v;
	char by[192];
	int err;

	json_object_foreach(r->cmd.args, key, v) {
		if (strcmp(key, "mode") != 0 || !json_is_string(v)) {
			rejected(r, "malformed", "isolate takes only args.mode");
			return -EINVAL;
		}
		m = json_string_value(v);
	}
	if (kk_mode_parse(m, &mode) < 0 || mode == KK_MODE_OPEN) {
		rejected(r, "malformed", "args.mode must be isolated or egress");
		return -EINVAL;
	}
	csirt_actor(r, by, sizeof(by));
	err = kd_enter_mode(r->d, mode, by, r->cmd.reason, &changed);
	if (err < 0) {
		r->result = "failed";
		r->reason = "apply-failed";
		snprintf(r->detail, sizeof(r->detail), "%s", r->d->nft.err);
		return err;
	}
	mark_applied(r);
	if (!changed)
		snprintf(r->detail, sizeof(r->detail), "already %s",
		    kk_mode_name(r->d->state.mode));
	return 0;
}

static int
act_release(struct run *r)
{
	char by[192];
	int err;

	if (json_object_size(r->cmd.args) != 0) {
		rejected(r, "malformed", "release takes no args");
		return -EINVAL;
	}
	csirt_actor(r, by, sizeof(by));
	err = kd_release(r->d, r->cmd.episode, by, r->cmd.reason);
	if (err == -ENOENT) {
		rejected(r, "not-quarantined", "the host is open");
		return err;
	}
	if (err == -ESTALE) {
		rejected(r, "wrong-episode",
		    "the command names another episode than the current one");
		return err;
	}
	if (err < 0) {
		r->result = "failed";
		r->reason = "apply-failed";
		snprintf(r->detail, sizeof(r->detail), "%s", r->d->nft.err);
		return err;
	}
	mark_applied(r);
	return 0;
}

static int
act_status(struct run *r)
{
	r->extra = kd_status(r->d);
	return 0;
}

static const struct action_entry actions[] = {
	{ KK_ACT_ISOLATE, act_isolate },
	{ KK_ACT_RELEASE, act_release },
	{ KK_ACT_STATUS, act_status },
	{ KK_ACT_FREEZE, kd_act_freeze },
	{ KK_ACT_THAW, kd_act_thaw },
	{ KK_ACT_SNAPSHOT, kd_act_snapshot },
	{ KK_ACT_COLLECT, kd_act_collect },
	{ KK_ACT_FETCH, kd_act_fetch },
};

/* The replay store on disk (replay.c), for the check order. */
static int
replay_seen(void *dir, const char *id)
{
	return kk_replay_lookup(dir, id);
}

static int
replay_record(void *dir, const char *id, time_t exp)
{
	return kk_replay_record(dir, id, exp);
}

/* Returns KD_RUN_PENDING when the action finishes later. */
static int
verify_and_run(struct run *r, const uint8_t *buf, size_t len)
{
	struct kd *d = r->d;
	const struct kd_replay_store store = { replay_seen, replay_record,
		d->replay_dir };
	const struct kd_signed_input in = {
		.buf = buf, .len = len, .trust = d->trust,
		.agent_id = d->agent_id, .clock_skew = d->policy->clock_skew,
		.max_lifetime = d->policy->max_lifetime,
		.also_needs = kd_verb_also_needs, .replay = &store, .now = time(NULL),
	};
	struct kd_signed_result res;
	size_t i;
	int err;

	if (!d->remote_ready) {
		rejected(r, "unavailable", d->remote_err);
		return 0;
	}
	err = kd_signed_check(&in, &res);
	if (res.have_cmd) {
		r->cmd = res.cmd;
		r->have_cmd = true;
	}
	if (err < 0) {
		r->result = err == -EACCES ? "rejected" : "failed";
		r->reason = res.reason;
		snprintf(r->detail, sizeof(r->detail), "%s", res.detail);
		return 0;
	}
	for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		if (actions[i].action == r->cmd.action) {
			r->result = "done";
			err = actions[i].run(r);
			if (err < 0 && strcmp(r->result, "done") == 0)
				r->result = "failed";
			return err == KD_RUN_PENDING ? KD_RUN_PENDING : 0;
		}
	}
	rejected(r, "unsupported-action", "this agent version cannot do that yet");
	return 0;
}

/*
 * Refusals over the network, per interval, counted by reason and command:
 * a command a CSIRT key signed is audited the first time it is refused in
 * an interval (a copy replayed again and again is counted), and what
 * names no command (nothing of the payload was trusted) is counted by
 * reason alone and shares one signed receipt.  When the table is full,
 * further refusals are only counted, under "various".
 */
#define KD_REJECT_WINDOW_USEC	(10ULL * 1000000ULL)
#define KD_REJECT_ENTRIES	64

struct kd_reject_count {
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
	char result[64];
	size_t i;

	for (i = 0; i < rj->n; i++) {
		e = &rj->r[i];
		if (e->count < 2)
			continue;
		snprintf(result, sizeof(result), "rejected: %s", e->reason);
		kd_audit(d, "tls", "command", result, json_pack("{s:s*, s:I, s:I}",
		    "command", e->command[0] ? e->command : NULL,
		    "more", (json_int_t)(e->count - 1),
		    "seconds", (json_int_t)(KD_REJECT_WINDOW_USEC / 1000000ULL)));
		kk_log(LOG_WARNING, KK_MID_REFUSED,
		    "%lu more signed-channel refusals (%s%s%s) in %llu s",
		    e->count - 1, e->reason, e->command[0] ? ", command " : "",
		    e->command, KD_REJECT_WINDOW_USEC / 1000000ULL);
	}
	rejects_reset(rj);
	return 0;
}

/* The entry of (reason, command) in this interval; NULL without memory. */
static struct kd_reject_count *
rejects_entry(struct kd *d, const char *reason, const char *command)
{
	struct kd_rejects *rj = d->rejects;
	struct kd_reject_count *e;
	uint64_t now;
	size_t i;

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
	for (i = 0; i < rj->n; i++)
		if (strcmp(rj->r[i].reason, reason) == 0 &&
		    strcmp(rj->r[i].command, command) == 0)
			return &rj->r[i];
	/* full: the last entry counts the rest */
	if (rj->n >= KD_REJECT_ENTRIES - 1) {
		reason = "various";
		command = "";
		for (i = 0; i < rj->n; i++)
			if (strcmp(rj->r[i].reason, reason) == 0 &&
			    rj->r[i].command[0] == '\0')
				return &rj->r[i];
	}
	if (rj->n == 0) {
		sd_event_now(d->ev, CLOCK_MONOTONIC, &now);
		sd_event_source_set_time(rj->timer, now + KD_REJECT_WINDOW_USEC);
		sd_event_source_set_enabled(rj->timer, SD_EVENT_ONESHOT);
	}
	e = &rj->r[rj->n++];
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

	snprintf(key, sizeof(key), "%s|%s|%s", r->detail,
	    kk_mode_name(d->state.mode), d->state.episode);
	if (e->receipt != NULL && strcmp(e->receipt_key, key) == 0)
		return strdup(e->receipt);
	text = receipt(r);
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
	json_decref(r->extra);
	json_decref(r->output);
	free(r);
}

/* The receipt of a run that is over; NULL without an agent key. */
static char *
run_complete(struct run *r)
{
	struct kd_reject_count *e;
	struct kd *d = r->d;
	char *text;

	/* from the network: refusals counted per reason and interval */
	if (strncmp(r->via, "tls:", 4) == 0 && strcmp(r->result,
	    "rejected") == 0 && (e = rejects_entry(d, r->reason ? r->reason :
	    "rejected", r->have_cmd ? r->cmd.id : "")) != NULL) {
		if (e->count++ == 0)
			finish_audit(r);
		/* a receipt names its command: only those without share one */
		text = d->agent_key == NULL ? NULL : r->have_cmd ? receipt(r) :
		    cached_receipt(r, e);
	} else {
		finish_audit(r);
		text = d->agent_key ? receipt(r) : NULL;
	}
	/* expired ids need not be kept: pruned at most once a minute */
	if (d->remote_ready && time(NULL) - d->replay_pruned >= 60) {
		d->replay_pruned = time(NULL);
		kk_replay_prune(d->replay_dir, time(NULL), d->policy->clock_skew);
	}
	return text;
}

void
kd_run_finish(struct run *r)
{
	struct kd *d = r->d;
	struct run **pp;
	char *text;

	for (pp = &d->runs; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	text = run_complete(r);
	if (r->reply && text)
		r->reply(d, r->token, text);
	free(text);
	run_free(r);
}

char *
kd_remote_handle(struct kd *d, const uint8_t *buf, size_t len, const char *via,
    kd_reply_fn later, uint64_t token, bool *pending)
{
	struct run *r;
	char *text;

	if (pending)
		*pending = false;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->d = d;
	snprintf(r->via, sizeof(r->via), "%s", via);
	r->result = "rejected";
	r->reply = later;
	r->token = token;
	clock_gettime(CLOCK_REALTIME, &r->received);
	if (verify_and_run(r, buf, len) == KD_RUN_PENDING) {
		if (later != NULL && pending != NULL) {
			/* the action's worker calls kd_run_finish */
			r->next = d->runs;
			d->runs = r;
			*pending = true;
			return NULL;
		}
	}
	text = run_complete(r);
	run_free(r);
	return text;
}

/* At exit: deferred runs are answered as failed (their workers are gone). */
void
kd_remote_abort_runs(struct kd *d)
{
	while (d->runs) {
		struct run *r = d->runs;

		kd_run_fail(r, "aborted", "kakurid is stopping");
		kd_run_finish(r);
	}
}

char *
kd_remote_reject(struct kd *d, const char *reason, const char *via)
{
	struct run r;

	memset(&r, 0, sizeof(r));
	r.d = d;
	snprintf(r.via, sizeof(r.via), "%s", via);
	clock_gettime(CLOCK_REALTIME, &r.received);
	rejected(&r, reason, "refused by the network child");
	return run_complete(&r);
}

int
kd_remote_init(struct kd *d)
{
	struct kk_trust *t = NULL;
	char err[512] = "";
	int r;

	if (snprintf(d->replay_dir, sizeof(d->replay_dir), "%s/replay",
	    d->policy->state_dir) >= (int)sizeof(d->replay_dir))
		return -ENAMETOOLONG;
	if (mkdir(d->replay_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(d->remote_err, sizeof(d->remote_err), "%.200s: %s",
		    d->replay_dir, strerror(errno));
		return -errno;
	}
	if (d->agent_key == NULL) {
		r = kk_key_load_private(d->policy->key, &d->agent_key);
		if (r < 0) {
			snprintf(d->remote_err, sizeof(d->remote_err),
			    "agent key %.160s: %s (run kakurid --init)",
			    d->policy->key, strerror(-r));
			return r;
		}
		kk_key_id(d->agent_key, d->agent_id);
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	r = kk_trust_load(d->policy->trust, 0, t, err, sizeof(err));
	if (r < 0) {
		/* a broken new trust.conf leaves the one in force in place */
		if (!d->remote_ready)
			snprintf(d->remote_err, sizeof(d->remote_err), "%s", err);
		else
			kk_log(LOG_ERR, KK_MID_POLICY,
			    "trust reload refused, the old keys stay: %s", err);
		free(t);
		return r;
	}
	if (d->trust) {
		kk_trust_free(d->trust);
		free(d->trust);
	}
	d->trust = t;
	d->remote_ready = true;
	d->remote_err[0] = '\0';
	return 0;
}

void
kd_remote_free(struct kd *d)
{
	if (d->trust) {
		kk_trust_free(d->trust);
		free(d->trust);
		d->trust = NULL;
	}
	EVP_PKEY_free(d->agent_key);
	d->agent_key = NULL;
	if (d->rejects) {
		rejects_reset(d->rejects);
		sd_event_source_disable_unref(d->rejects->timer);
		free(d->rejects);
		d->rejects = NULL;
	}
}
