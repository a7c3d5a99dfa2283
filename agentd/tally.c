/*
 * What one local user did in an interval, counted per uid (issue 8):
 * refused requests (the first few of a uid recorded in full, the rest
 * summed up once per interval), presses of the disconnect button that
 * changed nothing, and signed commands handed over with kakurictl apply
 * (a few per interval: each costs a check and an audit line).  So a
 * local flood costs a bounded number of lines, whoever sends it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon.h"
#include "log.h"
#include "record.h"
#include "resolver.h"
#include "subids.h"
#include "tally.h"
#include "wire.h"

/*
 * owners counted at once (16 bytes each): 32 were reset by 32 others'
 * one request each, and the one who spent his count had a new one
 */
#define RATE_UIDS		256

struct kd_tally {
	struct kd *d;
	/* refusals of this interval, and its summary timer */
	struct kk_refusals refusals;
	/* staff presses that changed nothing (already quarantined) */
	struct kk_refusals repeats;
	sd_event_source *summary;
	uint64_t interval;	/* its length: longer while a flood goes on */
	uint64_t started;	/* when this one started */
	uint64_t ended;		/* when the last one ended */
	/* presses that changed nothing, summed up every interval */
	sd_event_source *repeats_timer;
	/* signed commands handed over, self-reports, per owner in its window */
	struct kd_rate {
		/*
		 * Counted per owner (subids.h): a user's subordinate uids are
		 * the user.  Each owner's window starts at its first request;
		 * a new owner takes the place of the one whose window began
		 * first (over already, or the next to be).  The owners past a
		 * full table (RATE_UIDS at once: a busy terminal server)
		 * shared one count, which one user could spend for all those
		 * after him; now the memory stays bounded and every refusal is
		 * the refused owner's own count.
		 */
		struct {
			uid_t uid;
			unsigned n;
			uint64_t since;
		} uids[RATE_UIDS];
		size_t n;
		uint64_t every;		/* the interval */
		unsigned max;		/* per owner in an interval */
	} applies, reports, reads;
};

/* A one-shot timer of tl's, armed in usec unless it is already. */
static void
arm(struct kd_tally *tl, sd_event_source **src, uint64_t usec,
    sd_event_time_handler_t fn)
{
	int enabled = SD_EVENT_OFF;

	if (*src != NULL)
		sd_event_source_get_enabled(*src, &enabled);
	if (enabled != SD_EVENT_OFF)
		return;
	if (*src == NULL)
		sd_event_add_time_relative(tl->d->ev, src, CLOCK_MONOTONIC, usec,
		    0, fn, tl);
	else if (sd_event_source_set_time_relative(*src, usec) >= 0)
		sd_event_source_set_enabled(*src, SD_EVENT_ONESHOT);
}

/*
 * Presses that changed nothing: one line with the counts per uid, every
 * KK_REFUSAL_INTERVAL_USEC (staff and root press it: no flood of others
 * lengthens their interval).
 */
static int
on_repeats(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kd_tally *tl = userdata;
	json_t *sum;

	if ((sum = kk_refusals_summary(&tl->repeats)) == NULL)
		return 0;
	json_object_set(sum, KW_PRESSED, json_object_get(sum, KW_REFUSED));
	json_object_del(sum, KW_REFUSED);
	kk_log(LOG_NOTICE, KK_MID_CONTROL,
	    "control: %lld presses while already quarantined not logged one by one",
	    (long long)json_integer_value(json_object_get(sum,
	    KW_NOT_RECORDED)));
	kd_audit(tl->d, "kakurid", "control-repeats", "summary", sum);
	return 0;
}

/*
 * The refusals' interval is over (s NULL: cut short by a stop): one line
 * for everything that was only counted, and the next interval's length.
 */
static int
on_summary(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kd_tally *tl = userdata;
	unsigned long long secs = tl->interval / 1000000ULL;
	char who[256] = "";
	size_t i, off = 0;
	uint64_t now = kd_loop_now(tl->d);
	json_t *sum, *u;

	if (s == NULL && now > tl->started)
		secs = (now - tl->started + 999999ULL) / 1000000ULL;
	sum = kk_refusals_summary(&tl->refusals);
	tl->interval = kk_refusal_interval_next(tl->interval, sum != NULL);
	tl->ended = now;
	if (sum == NULL)
		return 0;
	json_array_foreach(json_object_get(sum, KW_UIDS), i, u) {
		if (off < sizeof(who))
			off += (size_t)snprintf(who + off, sizeof(who) - off,
			    "%suid %lld: %lld", i ? ", " : "",
			    (long long)json_integer_value(json_object_get(u, KW_UID)),
			    (long long)json_integer_value(json_object_get(u,
			    KW_COUNT)));
	}
	kk_log(LOG_WARNING, KK_MID_REFUSED,
	    "control: %lld requests refused in %llu s, %lld of them not logged one by one (%s)",
	    (long long)json_integer_value(json_object_get(sum, KW_REFUSED)),
	    secs, (long long)json_integer_value(json_object_get(sum,
		KW_NOT_RECORDED)),
	    who);
	json_object_set_new(sum, KW_INTERVAL_S, json_integer((json_int_t)secs));
	kd_audit(tl->d, "kakurid", "control-refusals", "summary", sum);
	return 0;
}

/* The first refusal of an interval starts it. */
static void
summary_arm(struct kd_tally *tl)
{
	int enabled = SD_EVENT_OFF;
	uint64_t now = 0;

	if (tl->summary != NULL)
		sd_event_source_get_enabled(tl->summary, &enabled);
	if (enabled != SD_EVENT_OFF)
		return;
	/* quiet for as long as the next interval would last: the flood is over */
	now = kd_loop_now(tl->d);
	if (now - tl->ended >= tl->interval)
		tl->interval = KK_REFUSAL_INTERVAL_USEC;
	tl->started = now;
	arm(tl, &tl->summary, tl->interval, on_summary);
}

/*
 * A press that changed nothing (already quarantined): true when it is
 * recorded (audit, CSIRT notice) one by one; past the first few of a uid
 * in an interval it is only counted, so a staff member holding the button
 * down costs a bounded number of lines and outbox files.
 */
bool
kd_tally_repeat(struct kd *d, uid_t uid, const char *action)
{
	struct kd_tally *tl = d->tally;
	bool full;

	if (tl == NULL)
		return true;
	full = kk_refusals_note(&tl->repeats, kd_uid_owner(uid), action,
	    false);
	arm(tl, &tl->repeats_timer, KK_REFUSAL_INTERVAL_USEC, on_repeats);
	return full;
}

void
kd_tally_refused(struct kd *d, uid_t uid, pid_t pid, int cls,
    const char *action, const char *reason, json_t *extra)
{
	struct kd_tally *tl = d->tally;
	char actor[160], result[64];

	if (tl == NULL || kk_refusals_note(&tl->refusals, kd_uid_owner(uid),
	    reason, cls == KK_PEER_OTHER)) {
		kd_local_actor(d, uid, pid, actor, sizeof(actor));
		kk_log(LOG_WARNING, KK_MID_REFUSED, "control: %s: %s refused (%s)",
		    actor, action, reason);
		snprintf(result, sizeof(result), "refused: %s", reason);
		kd_audit(d, actor, action, result, extra);
	} else {
		json_decref(extra);
	}
	if (tl != NULL)
		summary_arm(tl);
}

/*
 * One more of uid's in its owner's window?  Root is not counted.  staff
 * no longer counts apart: with no shared count, nobody spends staff's.
 */
static bool
rate_ok(struct kd *d, struct kd_rate *rt, uid_t uid, bool staff)
{
	uint64_t now = 0;
	size_t i, slot;

	(void)staff;
	if (uid == 0)
		return true;
	uid = kd_uid_owner(uid);	/* a user's subordinate uids are the user */
	now = kd_loop_now(d);
	for (i = 0; i < rt->n; i++) {
		if (rt->uids[i].uid != uid)
			continue;
		if (now - rt->uids[i].since >= rt->every) {
			rt->uids[i].since = now;
			rt->uids[i].n = 0;
		}
		return ++rt->uids[i].n <= rt->max;
	}
	if (rt->n < RATE_UIDS) {
		slot = rt->n++;
	} else {
		/* the window that began first: over already, or the next */
		for (slot = 0, i = 1; i < rt->n; i++)
			if (rt->uids[i].since < rt->uids[slot].since)
				slot = i;
	}
	rt->uids[slot].uid = uid;
	rt->uids[slot].n = 1;
	rt->uids[slot].since = now;
	return true;
}

bool
kd_tally_apply_ok(struct kd *d, uid_t uid, bool staff)
{
	return d->tally == NULL || rate_ok(d, &d->tally->applies, uid, staff);
}

bool
kd_tally_report_ok(struct kd *d, uid_t uid, bool staff)
{
	return d->tally == NULL || rate_ok(d, &d->tally->reports, uid, staff);
}

bool
kd_tally_read_ok(struct kd *d, uid_t uid)
{
	return d->tally == NULL || rate_ok(d, &d->tally->reads, uid, false);
}

int
kd_tally_open(struct kd *d)
{
	struct kd_tally *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return -ENOMEM;
	t->d = d;
	kk_refusals_init(&t->refusals);
	kk_refusals_init(&t->repeats);
	t->interval = KK_REFUSAL_INTERVAL_USEC;
	t->applies.every = KK_REFUSAL_INTERVAL_USEC;
	t->applies.max = KK_APPLY_PER_INTERVAL;
	t->reports.every = KD_REPORT_INTERVAL_USEC;
	t->reports.max = KD_REPORTS_PER_INTERVAL;
	t->reads.every = KK_REFUSAL_INTERVAL_USEC;
	t->reads.max = KD_READS_PER_INTERVAL;
	d->tally = t;
	return 0;
}

void
kd_tally_close(struct kd *d)
{
	struct kd_tally *t = d->tally;

	if (t == NULL)
		return;
	/* what the interval counted is not lost at a stop */
	on_repeats(NULL, 0, t);
	on_summary(NULL, 0, t);
	sd_event_source_disable_unref(t->repeats_timer);
	sd_event_source_disable_unref(t->summary);
	free(t);
	d->tally = NULL;
}
