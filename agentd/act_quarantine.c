/*
 * The quarantine's verbs: status, the staff's disconnect button, and
 * isolate and release from the CSIRT; adopt at start and at boot.  What
 * they may be asked by whom is the verb table's (dispatch.c); how the
 * quarantine is done is quarantine.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "act.h"
#include "adopt.h"
#include "fleet.h"
#include "daemon.h"
#include "drill.h"
#include "log.h"
#include "outbox.h"
#include "quarantine.h"
#include "record.h"
#include "run.h"
#include "tally.h"
#include "wire.h"

/* status (DESIGN 5): the quarantine, the agent, the channel, evidence */
int
kd_act_status(struct run *r)
{
	struct kd *d = r->d;
	json_t *o, *fj;

	if ((o = kd_quarantine_status(d)) == NULL) {
		kd_run_fail(r, KE_IO, "out of memory");
		return -ENOMEM;
	}
	json_object_set_new(o, KW_AGENT, d->agent_id[0] ?
	    json_string(d->agent_id) : json_null());
	json_object_set_new(o, KW_CSIRT_CHANNEL,
	    json_string(kd_channel_state(d)));
	json_object_set_new(o, KW_EVIDENCE, kd_preserve_status(d));
	/* the fleet broker's session, if there is one (DESIGN 9) */
	if ((fj = kd_fleet_json(d)) != NULL)
		json_object_set_new(o, KW_FLEET, fj);
	/* the IOC block lists in force, each with its drop counter */
	json_object_set_new(o, KW_BLOCKLISTS, kd_blocklists_status(d));
	/* a receipt carries it as "status"; a local caller gets it whole */
	r->extra = o;
	if (!kd_origin_signed(r->origin))
		r->answer = json_incref(o);
	return 0;
}

/*
 * The staff's message is checked here, at the boundary: text only (no
 * control characters, valid UTF-8), cut to KK_TEXT_MAX - 1 bytes on a
 * character boundary.  NULL with *why set when it is not text.
 */
static const char *
disconnect_message(json_t *req, char *buf, size_t len, bool *cut,
    char *why, size_t whylen)
{
	json_t *v = json_object_get(req, KW_MESSAGE);
	size_t bad;
	int r;

	*cut = false;
	if (v == NULL || json_is_null(v))
		return "staff disconnect button";
	if (!json_is_string(v)) {
		snprintf(why, whylen, "message must be a string");
		return NULL;
	}
	r = kk_text_check(json_string_value(v), json_string_length(v), &bad);
	if (r < 0) {
		snprintf(why, whylen, "message %s (byte %zu)",
		    kk_text_problem(r), bad);
		return NULL;
	}
	*cut = kk_text_copy(buf, len, json_string_value(v),
	    json_string_length(v)) == 1;
	return buf;
}

/*
 * A press with the quarantine already in force tells the CSIRT again
 * (the employee noticed), at most KD_REPEAT_NOTICES an episode (act.h) and as a
 * plain notice: staff pressing again and again (3 recorded a uid every
 * 10 s, tally.c) must not fill the outbox, nor take the reserves kept
 * for the notices that tell of a change (tamper, isolate, release, the
 * press that isolated).
 */
bool
kd_repeat_notice_due(struct kd *d)
{
	if (strcmp(d->repeat_episode, d->state.episode) != 0) {
		snprintf(d->repeat_episode, sizeof(d->repeat_episode), "%s",
		    d->state.episode);
		d->repeat_notices = 0;
	}
	if (d->repeat_notices >= KD_REPEAT_NOTICES)
		return false;
	d->repeat_notices++;
	return true;
}

/*
 * The staff's button (DESIGN 3): isolate (or egress) now, tell the CSIRT,
 * and answer with what the employee needs (the contact).
 */
int
kd_press_disconnect(struct run *r, const char *msg, bool *changed,
    char report[])
{
	struct kd *d = r->d;
	const char *actor = r->via;
	enum kk_mode mode = d->policy->disconnect_mode;
	json_t *o;
	int err;

	report[0] = '\0';
	err = kd_enter_mode(d, mode, actor, msg ? msg : "staff disconnect "
	    "button", NULL, changed);
	if (err < 0) {
		const char *what = d->state_dirty ? KE_SAVE_FAILED : KE_APPLY_FAILED;

		kk_log(LOG_ERR, KK_MID_APPLY, "disconnect by %s failed: %s",
		    actor, d->nft.err[0] ? d->nft.err : strerror(-err));
		kd_audit(d, actor, "disconnect", "failed", json_pack("{s:s, s:s}",
		    KW_REASON, what,
		    KW_ERROR, d->nft.err[0] ? d->nft.err : strerror(-err)));
		kd_run_fail(r, what, "%s", d->nft.err[0] ? d->nft.err :
		    strerror(-err));
		return err;
	}
	/*
	 * During a drill, pressing is the response the drill times; one
	 * only announced is called off (the PC is really isolated now)
	 */
	kd_drill_employee(d, NULL, r->uid, KW_DISCONNECT, false);
	kd_drill_quarantined(d, false);
	/* holding the button down: counted, not recorded press by press */
	if (!*changed && !kd_tally_repeat(d, r->uid, "disconnect"))
		return 0;
	kk_log(LOG_NOTICE, KK_MID_APPLY,
	    "disconnect by %s: %s, episode %s (%s; last apply+verify %llu us)",
	    actor, kk_mode_name(d->state.mode), d->state.episode,
	    *changed ? "applied" : "already in force", d->last_apply_usec);
	kd_audit(d, actor, "disconnect", *changed ? "applied" : "already",
	    json_pack("{s:s, s:s?, s:I, s:o*}", KW_MODE,
	    kk_mode_name(d->state.mode), KW_MESSAGE, msg, KW_APPLY_US,
	    (json_int_t)d->last_apply_usec, KW_ENFORCERS,
	    kd_enforcers_json(d, false)));
	/* tell the CSIRT: queued durably, delivered by the outbox */
	if (!*changed && !kd_repeat_notice_due(d))
		return 0;
	o = json_pack("{s:s, s:s, s:s, s:s?}", KW_EPISODE, d->state.episode,
	    KW_MODE, kk_mode_name(d->state.mode), KW_BY, actor,
	    KW_MESSAGE, msg);
	/* "again": a plain notice (outbox.c), and the CSIRT reads it so */
	if (o != NULL && !*changed)
		json_object_set_new(o, KW_AGAIN, json_true());
	/* the pid of by, and its start time: the process for good */
	if (o != NULL && r->start_time != 0)
		json_object_set_new(o, KW_BY_START_TIME,
		    json_integer((json_int_t)r->start_time));
	if (o == NULL || kd_outbox_put(d, KK_REPORT_DISCONNECT, o, report) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "CSIRT notification: %s",
		    kd_outbox_error(d));
	json_decref(o);
	return 0;
}

int
kd_act_disconnect(struct run *r)
{
	struct kd *d = r->d;
	json_t *req = r->args;
	char since[32] = "", report[KK_EPISODE_HEX + 1] = "";
	char text[KK_TEXT_MAX], why[96];
	const char *msg;
	bool changed, cut;
	int err;

	msg = disconnect_message(req, text, sizeof(text), &cut, why,
	    sizeof(why));
	if (msg == NULL) {
		kd_tally_refused(d, r->uid, r->pid, r->local_class, "disconnect", KE_MALFORMED,
		    json_pack("{s:s}", KW_ERROR, why));
		kd_run_reject(r, KE_MALFORMED, why);
		return -EINVAL;
	}
	if (!json_is_string(json_object_get(req, KW_MESSAGE)))
		msg = NULL;
	if ((err = kd_press_disconnect(r, msg, &changed, report)) < 0)
		return err;
	kk_rfc3339(d->state.since, since, sizeof(since));
	r->answer = json_pack("{s:b, s:s, s:s, s:s, s:b, s:b, s:s?, s:{s:s, s:s, s:s}}",
	    KW_OK, 1, KW_MODE, kk_mode_name(d->state.mode),
	    KW_EPISODE, d->state.episode, KW_SINCE, since, KW_ALREADY, !changed,
	    KW_MESSAGE_CUT, cut, KW_REPORT, report[0] ? report : NULL,
	    KW_CONTACT, KW_DESK, d->policy->contact_desk,
	    KW_PHONE, d->policy->contact_phone,
	    KW_EMAIL, d->policy->contact_email);
	if (r->answer != NULL)
		json_object_set_new(r->answer, KW_ENFORCERS,
		    kd_enforcers_json(d, false));
	return 0;
}

/*
 * An isolate or release done: the CSIRT hears of it through the outbox
 * whichever way it came (the CSIRT channel, kakurictl apply, the fleet, a
 * drill).  The staff's button queues its own "disconnect" message.  The
 * notice is written when the run is answered (kd_run_finish), once the
 * receipt is handed to the network or fleet child: the outbox's fsyncs
 * are not in the CSIRT's wait (kakurictl apply's is written by the event
 * loop, after them).
 */
static void
notify_csirt(struct run *r, enum kk_report_type type, const char *episode,
    const char *by)
{
	json_decref(r->notice);
	r->notice_type = type;
	r->notice = json_pack("{s:s, s:s, s:s, s:s, s:s?}",
	    KW_MODE, kk_mode_name(r->d->state.mode), KW_EPISODE, episode,
	    KW_BY, by, KW_ORIGIN, kd_origin_name(r->origin),
	    KW_REASON, r->cmd.reason[0] ? r->cmd.reason : NULL);
	if (r->notice == NULL)
		kk_log(LOG_ERR, KK_MID_ERROR, "%s notice: out of memory",
		    kk_report_type_name(type));
}

int
kd_act_isolate(struct run *r)
{
	const char *key, *m = "isolated";
	enum kk_mode mode;
	bool changed;
	json_t *v;
	char by[192];
	int err;

	json_object_foreach(r->args, key, v) {
		if (strcmp(key, "mode") != 0 || !json_is_string(v)) {
			kd_run_reject(r, KE_MALFORMED, "isolate takes only args.mode");
			return -EINVAL;
		}
		m = json_string_value(v);
	}
	if (kk_mode_parse(m, &mode) < 0 || mode == KK_MODE_OPEN) {
		kd_run_reject(r, KE_MALFORMED, "args.mode must be isolated or egress");
		return -EINVAL;
	}
	kd_run_csirt_actor(r, by, sizeof(by));
	/*
	 * An isolate that names an episode opens that one: a group isolate
	 * and its group release then name the same episode on every host.
	 */
	err = kd_enter_mode(r->d, mode, by, r->cmd.reason, r->cmd.episode,
	    &changed);
	if (err < 0) {
		kd_run_fail(r, KE_APPLY_FAILED, "%s", r->d->nft.err);
		kd_run_enforcers(r);
		return err;
	}
	kd_run_committed(r);
	/* a real incident: a drill announced or running is called off */
	kd_drill_quarantined(r->d, true);
	if (!changed)
		snprintf(r->detail, sizeof(r->detail), "already %s",
		    kk_mode_name(r->d->state.mode));
	else
		notify_csirt(r, KK_REPORT_ISOLATE, r->d->state.episode, by);
	/* the network's isolation holds; whether the USB cut does, too */
	kd_run_enforcers(r);
	return 0;
}

int
kd_act_release(struct run *r)
{
	char by[192], episode[KK_EPISODE_HEX + 1];
	int err;

	if (json_object_size(r->args) != 0) {
		kd_run_reject(r, KE_MALFORMED, "release takes no args");
		return -EINVAL;
	}
	kd_run_csirt_actor(r, by, sizeof(by));
	snprintf(episode, sizeof(episode), "%s", r->d->state.episode);
	err = kd_release(r->d, r->cmd.episode, by, r->cmd.reason);
	if (err == -ENOENT) {
		kd_run_reject(r, KE_NOT_QUARANTINED, "the host is open");
		return err;
	}
	if (err == -ESTALE) {
		kd_run_reject(r, KE_WRONG_EPISODE,
		    "the command names another episode than the current one");
		return err;
	}
	if (err < 0) {
		kd_run_fail(r, KE_APPLY_FAILED, "%s", r->d->nft.err);
		kd_run_enforcers(r);
		return err;
	}
	kd_run_committed(r);
	notify_csirt(r, KK_REPORT_RELEASE, episode, by);
	/* open; whether all the USB cut changed was put back */
	kd_run_enforcers(r);
	return 0;
}

/* At start and at boot: what state.json and the kernel say, in force. */
int
kd_act_adopt(struct run *r)
{
	int err;

	err = kd_quarantine_adopt(r->d, r->origin == KD_ORIGIN_RESTORE);
	if (err < 0)
		kd_run_fail(r, KE_APPLY_FAILED, "%s", r->d->nft.err[0] ?
		    r->d->nft.err : strerror(-err));
	return err;
}
