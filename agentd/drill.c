/*
 * Drills (issue 11): the state of the one drill, its timers, its probes,
 * and its record.  See drill.h for what a drill guarantees and why.
 *
 * A drill goes announced (if it gives notice) -> running -> ending (the
 * table gone, connectivity being checked) -> done (recorded, reported).
 * Times are CLOCK_MONOTONIC microseconds from when it was asked for; the
 * record gives them in milliseconds.  The notice and the end run on
 * CLOCK_BOOTTIME (wall_timer): a suspend does not stretch them.
 *
 * The probes are drill_probe.c's, what it says (its record, report
 * and events) drill_record.c's, the records on disk drill_history.c's.
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
#include "tables.h"
#include "wire.h"

#include "drill_history.h"
#include "drill_int.h"
#include "probe.h"

/* One drill at a time: kakurid's, kept here. */
static struct drill *current;
static json_t *last_done;	/* the record of the last drill that ended */

static void drill_end(struct drill *dr, const char *end);
static void back_round(struct drill *dr);
static void back_round_done(struct drill *dr);
static void finish(struct drill *dr);

/* ---- timers ---- */

/*
 * kakurid did not run for the gate period (stopped, or starved): the
 * kernel has lifted the drill already; it ends, whichever timer sees it.
 */
static bool
lapsed(struct drill *dr)
{
	uint64_t now = kd_now_usec();

	if (dr->state != DS_RUNNING || !dr->live ||
	    now - dr->renewed < dr->gate_ms * 1000)
		return false;
	kk_log(LOG_WARNING, KK_MID_APPLY, "drill %s: the gate lapsed (kakurid "
	    "did not run for %llu ms): the drill ends now", dr->id,
	    (unsigned long long)((now - dr->renewed) / 1000));
	drill_end(dr, "gate-lapsed");
	return true;
}

static int
on_mgmt_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct drill *dr = userdata;
	uint64_t now = drill_since_t0(dr), last = dr->mgmt_ok ? dr->mgmt_ok :
	    dr->verified;
	struct dprobe *pr;
	bool busy = false;

	if (lapsed(dr))
		return 0;
	if (now > last && now - last >= dr->gate_ms * 1000) {
		kk_log(LOG_WARNING, KK_MID_APPLY, "drill %s: %s not reachable "
		    "for %llu s: the drill ends now", dr->id, dr->check_text,
		    (unsigned long long)(dr->gate_ms / 1000));
		drill_end(dr, "management-lost");
		return 0;
	}
	for (pr = dr->inflight; pr; pr = pr->next)
		busy |= pr->kind == PK_MGMT;
	if (!busy)
		drill_probe_start(dr, PK_MGMT, 0, &dr->check);
	sd_event_source_set_time_relative(s, MGMT_PERIOD_USEC);
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

static int
on_gate_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct drill *dr = userdata;
	struct kd *d = dr->d;
	uint64_t now = kd_now_usec();
	int err;

	if (lapsed(dr))
		return 0;
	if ((err = kk_nft_drill_refresh(&d->nft, dr->gate_ms)) < 0) {
		snprintf(dr->failure, sizeof(dr->failure), "renewing the gate: %s",
		    d->nft.err[0] ? d->nft.err : strerror(-err));
		drill_end(dr, "failed");
		return 0;
	}
	dr->renewed = now;
	sd_event_source_set_time_relative(s, dr->gate_ms * 1000 / 3);
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

static int
on_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
	drill_end(userdata, "deadline");
	return 0;
}

static int
on_back_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	back_round(userdata);
	return 0;
}

static int
timer_on(struct drill *dr, clockid_t clock, sd_event_source **src,
    uint64_t usec, sd_event_time_handler_t fn)
{
	return sd_event_add_time_relative(dr->d->ev, src, clock, usec,
	    KD_TIMER_ACCURACY_USEC, fn, dr);
}

/* The drill's own rounds (gate, checks): the time the host is awake. */
static int
timer(struct drill *dr, sd_event_source **src, uint64_t usec,
    sd_event_time_handler_t fn)
{
	return timer_on(dr, CLOCK_MONOTONIC, src, usec, fn);
}

/*
 * What the employee was told (the notice, the end of the drill): time
 * that passes while a laptop sleeps too, or a drill of an hour would keep
 * it cut off for an hour of awake time after a night's suspend.
 */
static int
wall_timer(struct drill *dr, sd_event_source **src, uint64_t usec,
    sd_event_time_handler_t fn)
{
	return timer_on(dr, CLOCK_BOOTTIME, src, usec, fn);
}

/* ---- the drill's course ---- */

/* Its timers off and its probes gone: nothing of it fires any more. */
static void
quiet(struct drill *dr)
{
	sd_event_source **timers[] = { &dr->announce_timer,
		&dr->deadline_timer, &dr->gate_timer, &dr->mgmt_timer,
		&dr->back_timer };
	size_t i;

	for (i = 0; i < sizeof(timers) / sizeof(timers[0]); i++)
		*timers[i] = sd_event_source_disable_unref(*timers[i]);
	drill_probes_cancel(dr);
}

static void
drill_free(struct drill *dr)
{
	quiet(dr);
	json_decref(dr->dns);
	if (current == dr)
		current = NULL;
	free(dr);
}

static int
apply_live(struct drill *dr)
{
	struct kd *d = dr->d;
	struct kk_nft_spec spec;
	size_t i;
	int err;

	kd_tables_spec(d, KK_MODE_ISOLATED, dr->id, KK_DRILL_TABLE, &spec);
	spec.drill = true;
	/* kakurid's own table keeps the block lists: no copy of them here */
	spec.ipsets = NULL;
	spec.nipsets = 0;
	spec.gate_ms = dr->gate_ms;
	/* never persist: the kernel removes it with kakurid's socket */
	spec.table_flags = KK_NFT_F_OWNER;
	err = kk_nft_drill_apply(&d->nft, &spec);
	dr->committed = drill_since_t0(dr);
	if (err < 0) {
		snprintf(dr->failure, sizeof(dr->failure), "%s", d->nft.err[0] ?
		    d->nft.err : strerror(-err));
		return err;
	}
	dr->verified = drill_since_t0(dr);
	dr->renewed = kd_now_usec();
	dr->nprobes = dr->probes_left = dr->targets.n;
	for (i = 0; i < dr->nprobes; i++)
		drill_probe_start(dr, PK_BLOCK, i, &dr->targets.ep[i]);
	drill_dns_checks(dr);
	drill_probe_start(dr, PK_MGMT, 0, &dr->check);
	if (timer(dr, &dr->gate_timer, dr->gate_ms * 1000 / 3,
	    on_gate_timer) < 0 || timer(dr, &dr->mgmt_timer,
	    MGMT_PERIOD_USEC, on_mgmt_timer) < 0)
		return -ENOMEM;
	return 0;
}

static void
begin(struct drill *dr)
{
	struct kd *d = dr->d;

	/* really quarantined during its announcement: no drill then */
	if (d->state.mode != KK_MODE_OPEN) {
		kk_log(LOG_NOTICE, KK_MID_APPLY, "drill %s called off: this PC "
		    "is really %s", dr->id, kk_mode_name(d->state.mode));
		drill_end(dr, KE_QUARANTINED);
		return;
	}
	dr->state = DS_RUNNING;
	dr->started = drill_since_t0(dr);
	dr->started_rt = time(NULL);
	dr->deadline_rt = dr->started_rt + (time_t)dr->duration;
	if (wall_timer(dr, &dr->deadline_timer, (uint64_t)dr->duration *
	    1000000, on_deadline) < 0) {
		snprintf(dr->failure, sizeof(dr->failure), "out of memory");
		drill_end(dr, "failed");
		return;
	}
	if (dr->live && apply_live(dr) < 0) {
		kk_log(LOG_ERR, KK_MID_APPLY, "drill %s could not start: %s",
		    dr->id, dr->failure);
		drill_end(dr, "failed");
		return;
	}
	kk_log(LOG_NOTICE, KK_MID_APPLY, "drill %s (%s) started by %s for %u s%s",
	    dr->id, drill_kind_name(dr->live), dr->by, dr->duration,
	    dr->live ? ": isolated through table inet "
	    KK_DRILL_TABLE : "");
	kd_audit(d, dr->by, "drill", "started", json_pack("{s:s, s:s, s:i, "
	    "s:s?}", KW_ID, dr->id, KW_KIND, drill_kind_name(dr->live),
	    KW_DURATION, (int)dr->duration,
	    KW_SCENARIO, dr->scenario[0] ? dr->scenario : NULL));
	drill_record_save(dr);
	drill_emit(dr, "start");
}

static int
on_announce(sd_event_source *s, uint64_t usec, void *userdata)
{
	begin(userdata);
	return 0;
}

/*
 * After the revert: rounds of probes (the drill's, and the management
 * peer as anyone may reach it now) until the network answers again, or
 * for BACK_MAX_USEC.
 */
static void
back_round(struct drill *dr)
{
	size_t i;

	dr->starting = true;
	for (i = 0; i < dr->targets.n; i++)
		drill_probe_start(dr, PK_BACK, i, &dr->targets.ep[i]);
	drill_probe_start(dr, PK_BACK, i, &dr->check);
	dr->starting = false;
	if (dr->inflight == NULL)
		back_round_done(dr);
}

static void
back_round_done(struct drill *dr)
{
	sd_event_source_disable_unref(dr->back_timer);
	dr->back_timer = NULL;
	if (dr->back != 0 || drill_since_t0(dr) - dr->reverted >= BACK_MAX_USEC ||
	    timer(dr, &dr->back_timer, BACK_PERIOD_USEC, on_back_timer) < 0)
		finish(dr);
}

/* What the probes (drill_probe.c) tell the drill's course. */
static bool
heard(struct drill *dr, enum probe_event ev, const char *target)
{
	switch (ev) {
	case PE_ANSWER:
		/* a drill whose gate lapsed proves nothing more: it ends */
		return !lapsed(dr);
	case PE_LEAK:
		drill_leak_found(dr, target);
		break;
	case PE_BLOCKED_ALL:
		drill_record_save(dr);
		break;
	case PE_BACK_ROUND:
		back_round_done(dr);
		break;
	}
	return true;
}

/* Recorded, audited, reported, announced; then forgotten. */
static void
finish(struct drill *dr)
{
	struct kd *d = dr->d;

	json_decref(last_done);
	last_done = drill_save_and_report(dr);
	/* a kakurid that runs for years of daily drills keeps 200 of them */
	kd_drill_prune(dr->file);
	kd_audit(d, dr->by, "drill", drill_result_of(dr), json_pack("{s:s, s:s, "
	    "s:s, s:o, s:o}", KW_ID, dr->id, KW_KIND, drill_kind_name(dr->live),
	    KW_END, dr->end, KW_REVERTED, drill_ms_or_null(dr->reverted),
	    KW_CONNECTIVITY_BACK, drill_ms_or_null(dr->back)));
	kk_log(LOG_NOTICE, KK_MID_APPLY, "drill %s ended (%s): %s", dr->id,
	    dr->end, drill_result_of(dr));
	drill_emit(dr, KW_END);
	drill_free(dr);
}

/*
 * The drill ends: its table goes now (a real isolation in the main
 * table is not touched and stays), then connectivity is checked.
 */
static void
drill_end(struct drill *dr, const char *end)
{
	struct kd *d = dr->d;
	struct kk_nft_counters c;
	int err, i;

	if (dr->state == DS_ENDING)
		return;
	snprintf(dr->end, sizeof(dr->end), "%s", end);
	dr->ended_rt = time(NULL);
	quiet(dr);
	dr->state = DS_ENDING;
	if (dr->live && dr->committed) {
		if (kk_nft_counters(&d->nft, KK_DRILL_TABLE, &c) == 0)
			for (i = 0; i < KK_NFT_MAX_CHAINS; i++) {
				dr->packets += c.pkts[i];
				dr->bytes += c.bytes[i];
			}
		err = kk_nft_drill_remove(&d->nft);
		dr->reverted = drill_since_t0(dr);
		if (err < 0) {
			/* the gate lapses in any case: the kernel lifts it then */
			kk_log(LOG_ERR, KK_MID_APPLY, "drill %s: removing its "
			    "table: %s (its gate lapses within %llu s)", dr->id,
			    d->nft.err, (unsigned long long)(dr->gate_ms / 1000));
			snprintf(dr->failure, sizeof(dr->failure),
			    "removing the table: %s", d->nft.err);
		}
		if (!dr->no_back) {
			back_round(dr);
			return;
		}
	}
	finish(dr);
}

int
kd_drill_start(struct kd *d, const struct kd_drill_ask *ask, json_t **record,
    const char **reason, char *why, size_t whylen)
{
	const struct kk_policy *p = d->policy;
	struct timespec ts;
	struct drill *dr;
	int err;

	*record = NULL;
	*reason = KE_DRILL_RUNNING;
	if (current != NULL) {
		snprintf(why, whylen, "drill %s is %s; stop it first", current->id,
		    drill_state_name(current));
		return -EBUSY;
	}
	*reason = KE_QUARANTINED;
	if (d->state.mode != KK_MODE_OPEN) {
		snprintf(why, whylen, "this PC is really %s (episode %s): no "
		    "drill while it is", kk_mode_name(d->state.mode),
		    d->state.episode);
		return -EBUSY;
	}
	*reason = KE_MALFORMED;
	if (ask->duration > (unsigned)p->drill_max_duration) {
		snprintf(why, whylen, "duration %u s is longer than "
		    "drill.max_duration (%d s)", ask->duration,
		    p->drill_max_duration);
		return -EINVAL;
	}
	if (ask->announce > KD_DRILL_ANNOUNCE_MAX) {
		snprintf(why, whylen, "announce must be 0-%d seconds",
		    KD_DRILL_ANNOUNCE_MAX);
		return -EINVAL;
	}
	if (ask->scenario && strlen(ask->scenario) > KD_DRILL_SCENARIO_MAX) {
		snprintf(why, whylen, "scenario is longer than %d bytes",
		    KD_DRILL_SCENARIO_MAX);
		return -EINVAL;
	}
	*reason = KE_NOT_AVAILABLE;
	if (ask->kind == KD_DRILL_LIVE && !d->own_known) {
		snprintf(why, whylen, "a live drill needs agent.user: its "
		    "management check must be kakurid's own connection");
		return -EPERM;
	}
	*reason = KE_IO;
	if ((dr = calloc(1, sizeof(*dr))) == NULL) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	dr->d = d;
	dr->heard = heard;
	dr->t0 = kd_now_usec();
	dr->asked_rt = time(NULL);
	dr->live = ask->kind == KD_DRILL_LIVE;
	dr->duration = ask->duration ? ask->duration :
	    (unsigned)p->drill_max_duration;
	dr->announce = ask->announce;
	dr->gate_ms = (uint64_t)p->drill_gate * 1000;
	snprintf(dr->origin, sizeof(dr->origin), "%s", ask->origin);
	kk_text_clean(dr->by, sizeof(dr->by), ask->by, strlen(ask->by));
	if (ask->scenario)
		kk_text_clean(dr->scenario, sizeof(dr->scenario),
		    ask->scenario, strlen(ask->scenario));
	if ((err = kk_episode_new(dr->id)) < 0) {
		snprintf(why, whylen, "no random id: %s", strerror(-err));
		free(dr);
		return err;
	}
	/* named by when it was asked for, in ms: the listing's order */
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(dr->file, sizeof(dr->file), "%s/%013lld-%s.json", kd_drill_dir(),
	    kd_drill_stamp((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000),
	    dr->id);
	drill_check_endpoint(dr);
	/* a reload during the drill changes nothing of it */
	dr->targets = p->drill_probes;
	current = dr;
	if (dr->announce > 0) {
		dr->state = DS_ANNOUNCED;
		if (wall_timer(dr, &dr->announce_timer, (uint64_t)dr->announce *
		    1000000, on_announce) < 0) {
			drill_free(dr);
			snprintf(why, whylen, "out of memory");
			return -ENOMEM;
		}
		drill_record_save(dr);
		drill_emit(dr, "announce");
		kd_audit(d, dr->by, "drill", "announced", json_pack(
		    "{s:s, s:s, s:i}", KW_ID, dr->id, KW_KIND,
		    drill_kind_name(dr->live), KW_ANNOUNCE, (int)dr->announce));
	} else {
		begin(dr);
	}
	if (current != dr) {
		/* it failed at once: its record says why */
		*reason = KE_APPLY_FAILED;
		snprintf(why, whylen, "the drill could not start; see "
		    "'kakurictl drill history'");
		return -EIO;
	}
	*record = drill_record_of(dr);
	return 0;
}

int
kd_drill_stop(struct kd *d, const char *by, const char *drill,
    json_t **record)
{
	struct drill *dr = current;

	*record = NULL;
	if (dr == NULL || (drill != NULL && strcmp(drill, dr->id) != 0))
		return -ENOENT;
	kk_log(LOG_NOTICE, KK_MID_APPLY, "drill %s stopped by %s", dr->id, by);
	drill_end(dr, "stop");
	/* still checking connectivity, or done and recorded */
	*record = current == dr ? drill_record_of(dr) : json_incref(last_done);
	return 0;
}

/* Was the drill's start sent to one of uid's watchers? */
static bool
shown_to(const struct drill *dr, uid_t uid)
{
	size_t i;

	for (i = 0; i < dr->nshown; i++)
		if (dr->shown_uids[i] == uid)
			return true;
	return false;
}

int
kd_drill_employee(struct kd *d, const char *drill, uid_t uid,
    const char *what, bool via_notice)
{
	struct drill *dr = current;
	bool notified = false;
	uint64_t at;
	size_t i;

	if (dr == NULL || dr->state != DS_RUNNING ||
	    (drill != NULL && strcmp(drill, dr->id) != 0))
		return -ENOENT;
	/*
	 * One user is one employee, whichever of his subordinate uids
	 * (newuidmap, podman) he answers as: keyed by uid, one user filled
	 * the table (KD_DRILL_EMPLOYEES) before the real responders.  The
	 * audit line of the report or press names the uid itself.
	 */
	uid = kd_uid_owner(uid);
	/*
	 * What the notice says (shown) or its buttons say (report,
	 * disconnect) comes only from a user it was sent to: anyone else
	 * would claim a response without making it, and could fill the
	 * table before the real responders.  The real report and button
	 * (not via_notice) count for every user.
	 */
	if ((via_notice || strcmp(what, KW_NOTIFIED) == 0) &&
	    !shown_to(dr, uid))
		return -EPERM;
	if (strcmp(what, KW_NOTIFIED) == 0) {
		for (i = 0; i < dr->nnotified; i++)
			if (dr->notified_uids[i] == uid)
				return 0;
		if (dr->nnotified >= KD_DRILL_EMPLOYEES)
			return 0;
		dr->notified_uids[dr->nnotified++] = uid;
		if (dr->notified == 0)
			dr->notified = drill_since_t0(dr);
		/* on disk at once: a killed kakurid's record keeps it */
		drill_record_save(dr);
		return 0;
	}
	if (strcmp(what, KW_REPORT) != 0 && strcmp(what, KW_DISCONNECT) != 0)
		return -EINVAL;
	/* each user's first response is recorded, up to the table's size */
	for (i = 0; i < dr->nresponses; i++)
		if (dr->responses[i].uid == uid)
			return 0;
	if (dr->nresponses >= KD_DRILL_EMPLOYEES)
		return 0;
	for (i = 0; i < dr->nnotified && !notified; i++)
		notified = dr->notified_uids[i] == uid;
	at = drill_since_t0(dr);
	dr->responses[dr->nresponses].uid = uid;
	snprintf(dr->responses[dr->nresponses].word,
	    sizeof(dr->responses[0].word), "%s", what);
	dr->responses[dr->nresponses].at = at;
	dr->responses[dr->nresponses].notified = notified;
	dr->nresponses++;
	/*
	 * The one timed is the first of a user the drill was shown to; any
	 * local user may answer too (kakurictl report), and the first of
	 * those stands only until someone who was told answers.
	 */
	if (dr->action_word[0] == '\0' || (notified && !dr->action_notified)) {
		dr->action = at;
		dr->action_uid = uid;
		dr->action_notified = notified;
		snprintf(dr->action_word, sizeof(dr->action_word), "%s", what);
	}
	kd_audit(d, "", "drill", "employee", json_pack("{s:s, s:s, s:I, s:b}",
	    KW_ID, dr->id, KW_ACTION, what, KW_UID, (json_int_t)uid,
	    KW_NOTIFIED, notified));
	drill_record_save(dr);
	return 0;
}

bool
kd_drill_running(const struct kd *d)
{
	(void)d;
	return current != NULL && current->state == DS_RUNNING;
}

const char *
kd_drill_running_id(const struct kd *d)
{
	return kd_drill_running(d) ? current->id : NULL;
}

json_t *
kd_drill_current(struct kd *d)
{
	(void)d;
	return current ? drill_record_of(current) : NULL;
}

/*
 * Before, a drill running when the CSIRT isolated went on to its
 * deadline and was recorded "ok", its probes and its "connectivity back"
 * measuring the real isolation, its notice "the drill is over" while the
 * PC stayed isolated; and one announced began if a release came before
 * its start, isolating the PC again right after an incident.  Its table
 * goes at once (the real one holds), and the network is not waited for:
 * the real isolation keeps it away.
 */
void
kd_drill_quarantined(struct kd *d, bool running_too)
{
	struct drill *dr = current;

	if (dr == NULL || dr->d != d || dr->state == DS_ENDING ||
	    (dr->state == DS_RUNNING && !running_too))
		return;
	kk_log(LOG_NOTICE, KK_MID_APPLY, "drill %s called off: this PC is "
	    "really %s", dr->id, kk_mode_name(d->state.mode));
	dr->no_back = true;
	drill_end(dr, KE_QUARANTINED);
}

int
kd_drill_init(struct kd *d)
{
	int err;

	if ((err = kd_drill_dir_open(d)) < 0)
		return err;
	/* a drill is never put back: whatever table is left goes */
	if ((err = kk_nft_drill_remove(&d->nft)) < 0)
		kk_log(LOG_WARNING, KK_MID_START, "drill table: %s", d->nft.err);
	kd_drill_close_leftovers(d);
	return 0;
}

void
kd_drill_free(struct kd *d)
{
	struct drill *dr = current;

	if (dr != NULL) {
		/* no connectivity check: the loop is ending */
		dr->no_back = true;
		/*
		 * Ended already, its table gone, connectivity being checked:
		 * it is finished as it ended (the end, the result, the
		 * report), not left "running" for the next start to close
		 * as aborted by a restart.
		 */
		if (dr->state == DS_ENDING) {
			quiet(dr);
			finish(dr);
		} else {
			drill_end(dr, "shutdown");
		}
	}
	json_decref(last_done);
	last_done = NULL;
}
