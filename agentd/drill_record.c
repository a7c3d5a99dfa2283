/*
 * What a drill says (drill.c's course): its record, as drill history
 * and the CSIRT's report give it, saved on disk and reported; its events
 * to the watchers, each one's own end; a leak, told at once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "daemon.h"
#include "events.h"
#include "drill.h"
#include "log.h"
#include "outbox.h"
#include "record.h"
#include "subids.h"
#include "wire.h"

#include "drill_history.h"
#include "drill_int.h"
#include "probe.h"

json_t *
drill_ms_or_null(uint64_t usec)
{
	return usec ? json_real((double)usec / 1000.0) : json_null();
}

static json_t *
time_or_null(time_t t)
{
	char buf[32];

	if (t == 0 || kk_rfc3339(t, buf, sizeof(buf)) < 0)
		return json_null();
	return json_string(buf);
}

const char *
drill_kind_name(bool live)
{
	return live ? "live" : "tabletop";
}

const char *
drill_state_name(const struct drill *dr)
{
	static const char *const names[] = { "announced", "running", "ending" };

	return names[dr->state];
}

static json_t *
probe_json(const char *target, const struct probe_result *p)
{
	return json_pack("{s:s, s:s?, s:s, s:o}", KW_TARGET, target,
	    KW_RESULT, p->result, KW_DETAIL, p->detail,
	    KW_MS, p->result ? json_real(p->ms) : json_null());
}

/* The result word: what the drill proved, or why it did not. */
const char *
drill_result_of(const struct drill *dr)
{
	if (dr->failure[0])
		return "failed";
	if (dr->leak)
		return "leak";
	if (dr->state != DS_ENDING)
		return "running";
	/*
	 * Cut short before it proved anything: it never began (stopped
	 * while announced), kakurid restarted or was stopped, a real
	 * quarantine came, or kakurid did not run for the gate period (the
	 * kernel lifted the drill by itself).
	 */
	if (dr->started_rt == 0 || strcmp(dr->end, "restart") == 0 ||
	    strcmp(dr->end, "shutdown") == 0 ||
	    strcmp(dr->end, KE_QUARANTINED) == 0 ||
	    strcmp(dr->end, "gate-lapsed") == 0)
		return "aborted";
	/*
	 * The CSIRT could not reach the host while it was isolated: what the
	 * drill is there to prove did not hold (the isolation, or the
	 * network, took the management channel with it).
	 */
	if (strcmp(dr->end, "management-lost") == 0)
		return "failed";
	return "ok";
}

/*
 * How long a response at `at` took: from the notice, if it came first,
 * else from the drill's start (ms, at least 1).
 */
static json_t *
response_ms(const struct drill *dr, uint64_t at)
{
	return drill_ms_or_null(at - (dr->notified && dr->notified < at ?
	    dr->notified : dr->started) + 1);
}

json_t *
drill_record_of(const struct drill *dr)
{
	json_t *o, *probes, *timings, *employee, *responses;
	char target[64];
	size_t i;

	probes = json_array();
	for (i = 0; i < dr->nprobes; i++) {
		kd_endpoint_text(&dr->targets.ep[i], target, sizeof(target));
		json_array_append_new(probes, probe_json(target,
		    &dr->probes[i]));
	}
	timings = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
	    KW_STARTED, drill_ms_or_null(dr->started),
	    KW_COMMITTED, drill_ms_or_null(dr->committed),
	    KW_VERIFIED, drill_ms_or_null(dr->verified),
	    KW_FIRST_BLOCKED, drill_ms_or_null(dr->first_blocked),
	    KW_NOTIFIED, drill_ms_or_null(dr->notified),
	    KW_ACTION, drill_ms_or_null(dr->action),
	    KW_REVERTED, drill_ms_or_null(dr->reverted),
	    KW_CONNECTIVITY_BACK, drill_ms_or_null(dr->back));
	responses = json_array();
	for (i = 0; i < dr->nresponses; i++)
		json_array_append_new(responses, json_pack("{s:I, s:s, s:o, "
		    "s:b}", KW_UID, (json_int_t)dr->responses[i].uid,
		    KW_ACTION, dr->responses[i].word, KW_MS,
		    drill_ms_or_null(dr->responses[i].at), KW_NOTIFIED,
		    dr->responses[i].notified));
	employee = json_pack("{s:o, s:I, s:s?, s:o, s:o}",
	    KW_RESPONSES, responses,
	    KW_NOTIFIED, (json_int_t)dr->nnotified,
	    KW_ACTION, dr->action_word[0] ? dr->action_word : NULL,
	    KW_UID, dr->action_word[0] ? json_integer(dr->action_uid) :
	    json_null(),
	    KW_ACTION_MS, dr->action_word[0] ? response_ms(dr, dr->action) :
	    json_null());
	o = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:i, s:s, s:o, s:o, s:o, s:o, "
	    "s:s?, s:s, s:s?, s:o, s:o, s:o, s:o, s:o, s:{s:I, s:I}, s:b}",
	    KW_ID, dr->id, KW_KIND, drill_kind_name(dr->live),
	    KW_ORIGIN, dr->origin, KW_BY, dr->by,
	    KW_SCENARIO, dr->scenario[0] ? dr->scenario : NULL,
	    KW_ANNOUNCE, (int)dr->announce,
	    KW_STATE, dr->state == DS_ENDING ? "done" : drill_state_name(dr),
	    KW_RECEIVED, time_or_null(dr->asked_rt),
	    KW_STARTED, time_or_null(dr->started_rt),
	    KW_DEADLINE, time_or_null(dr->deadline_rt),
	    KW_ENDED, time_or_null(dr->ended_rt),
	    KW_END, dr->end[0] ? dr->end : NULL,
	    KW_RESULT, drill_result_of(dr),
	    KW_DETAIL, dr->failure[0] ? dr->failure : NULL,
	    KW_TIMINGS_MS, timings, KW_EMPLOYEE, employee,
	    KW_PROBES, probes,
	    KW_MANAGEMENT, dr->live ? json_pack(
	    "{s:s, s:b, s:s, s:o}", KW_TARGET, dr->check_text,
	    KW_REACHABLE, dr->mgmt_ok != 0, KW_DETAIL, dr->mgmt.detail,
	    KW_MS, drill_ms_or_null(dr->mgmt_ok)) : json_null(),
	    KW_DNS, dr->dns ? json_incref(dr->dns) : json_array(),
	    KW_COUNTERS, KW_PACKETS, (json_int_t)dr->packets,
	    KW_BYTES, (json_int_t)dr->bytes, KW_LEAK, dr->leak);
	return o;
}

static void
record_write(struct drill *dr, const json_t *o)
{
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) :
	    NULL;
	int err = -ENOMEM;

	if (text != NULL)
		err = kk_write_file_atomic(dr->file, text, strlen(text), 0600);
	if (err < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "drill %s: saving %s: %s",
		    dr->id, dr->file, strerror(-err));
	free(text);
}

/* The record on disk: written when the drill starts and when it ends. */
void
drill_record_save(struct drill *dr)
{
	json_t *o = drill_record_of(dr);

	record_write(dr, o);
	json_decref(o);
}

/*
 * The record saved, and the CSIRT told of it: a "drill" report through
 * the outbox.  Returns that record (NULL without memory).
 */
json_t *
drill_save_and_report(struct drill *dr)
{
	char rid[KK_EPISODE_HEX + 1];
	json_t *o = drill_record_of(dr);

	record_write(dr, o);
	if (o == NULL || kd_outbox_put(dr->d, KK_REPORT_DRILL, o, rid) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "drill %s report: %s", dr->id,
		    kd_outbox_error(dr->d));
	return o;
}

/*
 * Whom the drill's notice was sent to: the users of the watchers its
 * start was just emitted to, as their owners (subids.h, as every table
 * of the employees' here).  Only they may say they were notified; a
 * user who was sent nothing cannot claim it (kd_drill_employee).
 */
static void
shown_to_watchers(struct drill *dr)
{
	uid_t now[KD_WATCH_MAX], owner;
	size_t n, i, j;

	n = kd_watchers_uids(dr->d->watchers, now, KD_WATCH_MAX);
	for (i = 0; i < n; i++) {
		owner = kd_uid_owner(now[i]);
		for (j = 0; j < dr->nshown && dr->shown_uids[j] != owner; j++)
			;
		if (j == dr->nshown && dr->nshown < KD_WATCH_MAX)
			dr->shown_uids[dr->nshown++] = owner;
	}
}

/*
 * The end as one user's watcher sees it: how the drill went, and his own
 * response (what and how fast), or only that someone else responded.
 * Who else responded, and when, is the CSIRT's (drill-history, the
 * report): on a machine several employees use, it is not theirs.
 */
struct end_view {
	const struct drill *dr;
	json_t *ev;
};

static json_t *
end_for(void *arg, uid_t uid, uid_t owner)
{
	const struct end_view *v = arg;
	const struct drill *dr = v->dr;
	json_t *ev, *res, *emp = NULL;
	size_t i;

	for (i = 0; i < dr->nresponses && emp == NULL; i++) {
		if (dr->responses[i].uid != owner)
			continue;
		emp = json_pack("{s:s, s:I, s:o}", KW_ACTION,
		    dr->responses[i].word, KW_UID, (json_int_t)uid,
		    KW_ACTION_MS, response_ms(dr, dr->responses[i].at));
	}
	if (emp == NULL)
		emp = dr->nresponses > 0 ? json_pack("{s:b}", KW_OTHER, 1) :
		    json_object();
	ev = json_deep_copy(v->ev);
	res = json_object_get(ev, KW_RESULT);
	if (res == NULL || emp == NULL) {
		json_decref(emp);
		json_decref(ev);
		return NULL;
	}
	/* emp is taken, set or not */
	if (json_object_set_new(res, KW_EMPLOYEE, emp) < 0) {
		json_decref(ev);
		return NULL;
	}
	return ev;
}

/* To the watchers: the drill's phase, and at its end how it went. */
void
drill_emit(struct drill *dr, const char *phase)
{
	json_t *ev, *rec = NULL;
	struct end_view view;

	ev = json_pack("{s:s, s:s, s:{s:s, s:s, s:i, s:s?, s:o, s:o}}",
	    KW_EVENT, KW_DRILL, KW_PHASE, phase, KW_DRILL,
	    KW_ID, dr->id, KW_KIND, drill_kind_name(dr->live),
	    KW_ANNOUNCE, (int)dr->announce,
	    KW_SCENARIO, dr->scenario[0] ? dr->scenario : NULL,
	    KW_STARTED, time_or_null(dr->started_rt),
	    KW_DEADLINE, time_or_null(dr->deadline_rt));
	if (ev != NULL && strcmp(phase, KW_END) == 0 &&
	    (rec = drill_record_of(dr)) != NULL) {
		/* each watcher's own response goes in by end_for */
		json_object_set_new(ev, KW_RESULT, json_pack("{s:O, s:O}",
		    KW_RESULT, json_object_get(rec, KW_RESULT), KW_END,
		    json_object_get(rec, KW_END)));
		view = (struct end_view){ .dr = dr, .ev = ev };
		kd_watchers_emit_each(dr->d->watchers, end_for, &view);
	} else if (ev != NULL) {
		kd_events_emit(dr->d, ev);
		/* the start is the notice a watcher says it showed */
		if (strcmp(phase, "start") == 0)
			shown_to_watchers(dr);
	}
	json_decref(rec);
	json_decref(ev);
}

void
drill_leak_found(struct drill *dr, const char *what)
{
	if (dr->leak_reported)
		return;
	dr->leak = true;
	dr->leak_reported = true;
	kk_log(LOG_CRIT, KK_MID_APPLY, "drill %s: isolation did not hold: %s "
	    "got through", dr->id, what);
	kd_audit(dr->d, dr->by, "drill", "leak", json_pack("{s:s, s:s}",
	    KW_ID, dr->id, KW_TARGET, what));
	/*
	 * The CSIRT is told at once, not at the drill's end; the record on
	 * disk says so too, so that a restart before the end closes it with
	 * its leak (kakurictl reports --drills keeps the leak of a drill)
	 */
	json_decref(drill_save_and_report(dr));
}
