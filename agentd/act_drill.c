/*
 * The drill verbs (issue 11): drill (start and stop: root locally, the
 * drill role signed), drill-history (staff), drill-event (kakurictl
 * watch: what an employee saw and did).  Who may ask is the verb
 * table's; what a drill does is drill.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "act.h"
#include "daemon.h"
#include "drill.h"
#include "drill_history.h"
#include "record.h"
#include "run.h"
#include "tally.h"
#include "wire.h"

#define HISTORY_DEFAULT		20

/* The keys a drill request may have: the local request's, or the args. */
static const char *const local_keys[] = {
	KW_CMD, KW_ACTION, KW_KIND, KW_DURATION, KW_SCENARIO, KW_ANNOUNCE,
	KW_DRILL,
};
static const char *const signed_keys[] = {
	KW_KIND, KW_DURATION, KW_SCENARIO, KW_ANNOUNCE, KW_STOP, KW_DRILL,
};

static bool
known_key(const char *key, bool local)
{
	const char *const *keys = local ? local_keys : signed_keys;
	size_t i, n = local ? sizeof(local_keys) / sizeof(local_keys[0]) :
	    sizeof(signed_keys) / sizeof(signed_keys[0]);

	for (i = 0; i < n; i++)
		if (strcmp(keys[i], key) == 0)
			return true;
	return false;
}

/* A whole number of seconds 0..max in o's key, or -1 (why says so). */
static long
seconds(json_t *o, const char *key, long max, char *why, size_t whylen)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > max) {
		snprintf(why, whylen, "%s must be a whole number of seconds "
		    "0-%ld", key, max);
		return -1;
	}
	return (long)json_integer_value(v);
}

/* The drill asked for, checked strictly: 0, or -EINVAL with why. */
static int
parse_ask(json_t *o, bool local, struct kd_drill_ask *ask, bool *stop,
    char *why, size_t whylen)
{
	const char *key, *kind, *action;
	json_t *v;
	long dur, ann;

	*stop = false;
	json_object_foreach(o, key, v) {
		if (!known_key(key, local)) {
			snprintf(why, whylen, "drill does not take \"%s\"", key);
			return -EINVAL;
		}
	}
	if (local) {
		action = json_string_value(json_object_get(o, KW_ACTION));
		if (action == NULL || (strcmp(action, "start") != 0 &&
		    strcmp(action, KW_STOP) != 0)) {
			snprintf(why, whylen, "drill needs \"action\": "
			    "\"start\" or \"stop\"");
			return -EINVAL;
		}
		*stop = strcmp(action, KW_STOP) == 0;
	} else if ((v = json_object_get(o, KW_STOP)) != NULL) {
		if (!json_is_true(v) || json_object_size(o) !=
		    (json_object_get(o, KW_DRILL) != NULL ? 2U : 1U)) {
			snprintf(why, whylen, "a signed drill stop is "
			    "args {\"stop\": true} alone, or with the "
			    "\"drill\" it stops");
			return -EINVAL;
		}
		*stop = true;
	}
	/*
	 * A stop may name its drill: one held back (by a broker, within
	 * its validity) then cannot end a later drill.
	 */
	v = json_object_get(o, KW_DRILL);
	if (v != NULL && (!*stop || !json_is_string(v) ||
	    !kk_is_hex(json_string_value(v), json_string_length(v),
	    KK_EPISODE_HEX))) {
		snprintf(why, whylen, "\"drill\" names the drill a stop "
		    "ends: its id, %d hex digits", KK_EPISODE_HEX);
		return -EINVAL;
	}
	ask->drill = v != NULL ? json_string_value(v) : NULL;
	if (*stop)
		return 0;
	kind = json_string_value(json_object_get(o, KW_KIND));
	if (json_object_get(o, KW_KIND) != NULL && (kind == NULL ||
	    (strcmp(kind, "live") != 0 && strcmp(kind, "tabletop") != 0))) {
		snprintf(why, whylen, "kind must be \"live\" or \"tabletop\"");
		return -EINVAL;
	}
	ask->kind = kind && strcmp(kind, "live") == 0 ? KD_DRILL_LIVE :
	    KD_DRILL_TABLETOP;
	if ((dur = seconds(o, KW_DURATION, 7 * 86400, why, whylen)) < 0 ||
	    (ann = seconds(o, KW_ANNOUNCE, KD_DRILL_ANNOUNCE_MAX, why,
	    whylen)) < 0)
		return -EINVAL;
	ask->duration = (unsigned)dur;
	ask->announce = (unsigned)ann;
	/* null is no scenario */
	if ((v = json_object_get(o, KW_SCENARIO)) != NULL && json_is_null(v))
		v = NULL;
	if (v != NULL && (!json_is_string(v) ||
	    kk_text_check(json_string_value(v), json_string_length(v),
	    NULL) < 0)) {
		snprintf(why, whylen, "scenario must be text (UTF-8, no "
		    "control characters)");
		return -EINVAL;
	}
	ask->scenario = json_string_value(v);
	return 0;
}

/* The drill's record as the answer (local) or the receipt's output. */
static void
answer(struct run *r, json_t *record)
{
	if (kd_origin_signed(r->origin))
		r->output = json_pack("{s:o?}", KW_DRILL, record);
	else
		r->answer = json_pack("{s:b, s:o?}", KW_OK, 1, KW_DRILL, record);
}

/*
 * A refusal: answered, and for a local caller also logged and audited
 * through the tally (the signed path audits its own), so that a user
 * claiming a drill response, or asking for a drill, is on record.
 */
static int
refuse(struct run *r, const char *verb, const char *reason, const char *why,
    int err)
{
	if (!kd_origin_signed(r->origin))
		kd_tally_refused(r->d, r->uid, r->pid, r->local_class, verb,
		    reason, json_pack("{s:s}", KW_ERROR, why));
	kd_run_reject(r, reason, why);
	return err;
}

int
kd_act_drill(struct run *r)
{
	struct kd *d = r->d;
	bool local = !kd_origin_signed(r->origin), stop;
	struct kd_drill_ask ask = { 0 };
	const char *reason;
	char by[192], why[256];
	json_t *record;
	int err;

	if (parse_ask(r->args, local, &ask, &stop, why, sizeof(why)) < 0)
		return refuse(r, "drill", KE_MALFORMED, why, -EINVAL);
	if (local)
		snprintf(by, sizeof(by), "%s", r->via);
	else
		kd_run_csirt_actor(r, by, sizeof(by));
	if (stop) {
		if (kd_drill_stop(d, by, ask.drill, &record) < 0)
			return refuse(r, "drill", KE_NO_DRILL, ask.drill !=
			    NULL ? "that drill is not the one running" :
			    "no drill is running", -ENOENT);
		/*
		 * Who stopped it: the drill's own end line names who started
		 * it; a signed stop is audited as the command it is
		 */
		if (local)
			kd_audit(d, by, "drill", "stopped", json_pack("{s:O?}",
			    KW_ID, json_object_get(record, KW_ID)));
		answer(r, record);
		return 0;
	}
	ask.origin = kd_origin_name(r->origin);
	ask.by = by;
	if ((err = kd_drill_start(d, &ask, &record, &reason, why,
	    sizeof(why))) < 0) {
		if (err == -EIO || err == -ENOMEM) {
			kd_run_fail(r, reason, "%s", why);
			return err;
		}
		return refuse(r, "drill", reason, why, err);
	}
	answer(r, record);
	return 0;
}

int
kd_act_drill_history(struct run *r)
{
	json_t *v = json_object_get(r->args, KW_LIMIT);
	json_int_t limit = HISTORY_DEFAULT;
	json_t *running;

	if (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > KD_DRILL_HISTORY_MAX))
		return refuse(r, "drill-history", KE_MALFORMED,
		    "limit must be 1-200", -EINVAL);
	if (v != NULL)
		limit = json_integer_value(v);
	running = kd_drill_current(r->d);
	r->answer = json_pack("{s:b, s:o, s:o?}", KW_OK, 1, KW_DRILLS,
	    kd_drill_history(r->d, (size_t)limit), KW_RUNNING, running);
	return 0;
}

int
kd_act_drill_event(struct run *r)
{
	const char *id = json_string_value(json_object_get(r->args, KW_DRILL));
	const char *what = json_string_value(json_object_get(r->args, KW_WHAT));
	int err;

	if (id == NULL || !kk_is_hex(id, strlen(id), KK_EPISODE_HEX) ||
	    what == NULL || (strcmp(what, KW_NOTIFIED) != 0 &&
	    strcmp(what, KW_REPORT) != 0 && strcmp(what, KW_DISCONNECT) != 0))
		return refuse(r, "drill-event", KE_MALFORMED, "drill-event "
		    "needs \"drill\" (its id) and \"what\": notified, report "
		    "or disconnect", -EINVAL);
	/* what the drill times is what the real button allows: staff's */
	if (strcmp(what, KW_DISCONNECT) == 0 &&
	    r->local_class == KK_PEER_OTHER)
		return refuse(r, "drill-event", KE_NOT_AUTHORIZED, "only "
		    "members of the staff group and root may press "
		    "disconnect, in a drill too", -EPERM);
	if ((err = kd_drill_employee(r->d, id, r->uid, what, true)) ==
	    -EPERM)
		return refuse(r, "drill-event", KE_NOT_AUTHORIZED, "kakurid "
		    "sent this user no notice of that drill (drill-event is "
		    "said by kakurictl watch, of a notice it was sent; "
		    "kakurictl report counts for everyone)", err);
	if (err < 0)
		return refuse(r, "drill-event", KE_NO_DRILL, "that drill is "
		    "not running", err);
	r->answer = json_pack("{s:b}", KW_OK, 1);
	return 0;
}
