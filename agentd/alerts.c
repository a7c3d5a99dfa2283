/*
 * Tamper alerts of the quarantine: the tables' incident (opened by the
 * first tamper event, counted, written again only when its result
 * changes, over after KD_QUIET_USEC of holding), interfaces that left the
 * namespace, and foreign nftables commits.  Each is logged, audited and
 * reported to the CSIRT within a rate per kind; what the rate holds back
 * is summed up once per interval.  status lists the alerts in force.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "alerts.h"
#include "daemon.h"
#include "log.h"
#include "outbox.h"
#include "record.h"
#include "tables.h"
#include "wire.h"

#define ALERT_BURST		5	/* alert writes per kind before the rate applies */
#define ALERT_REFILL_USEC	(60ULL * 1000 * 1000)	/* then one a minute */
#define SUMMARY_USEC		(30ULL * 1000 * 1000)	/* what was held back, summed up */

static const char *const alert_kind_names[] = {
	[KD_ALERT_TABLES] = "tables",
	[KD_ALERT_INTERFACES] = "interfaces",
	[KD_ALERT_NFTABLES] = "nftables-changes",
	[KD_ALERT_NETLINK] = "netlink",
};
_Static_assert(sizeof(((struct kd *)0)->alert_rl) /
    sizeof(((struct kd *)0)->alert_rl[0]) ==
    sizeof(alert_kind_names) / sizeof(alert_kind_names[0]),
    "one rate limit per alert kind");

/* One tamper alert as status shows it. */
static json_t *
alert_json(const struct kd_alert *a)
{
	char since[32];

	kk_rfc3339(a->since, since, sizeof(since));
	return json_pack("{s:s, s:s, s:s, s:I}", KW_WHAT, a->what,
	    KW_RESULT, a->result, KW_SINCE, since,
	    KW_COUNT, (json_int_t)a->count);
}

/* The tamper alerts in force: the tables' incident, then interfaces that left. */
json_t *
kd_alerts_json(const struct kd *d)
{
	const size_t slots = sizeof(d->link_alerts) / sizeof(d->link_alerts[0]);
	json_t *a = json_array();
	size_t i, n;

	if (a == NULL)
		return NULL;
	if (d->incident.what[0])
		json_array_append_new(a, alert_json(&d->incident));
	n = d->nlink_alerts < slots ? d->nlink_alerts : slots;
	for (i = 0; i < n; i++)
		json_array_append_new(a, alert_json(&d->link_alerts[i]));
	if (d->forged.what[0])
		json_array_append_new(a, alert_json(&d->forged));
	return a;
}

/*
 * A tamper alert for the CSIRT, queued in the outbox like every report;
 * extra's fields (borrowed, may be NULL) go into its body.
 */
static void
report_tamper(struct kd *d, const char *who, const char *result,
    const char *what, json_t *extra)
{
	json_t *o;

	o = json_pack("{s:s, s:s, s:s, s:s, s:s?}",
	    KW_EPISODE, d->state.episode,
	    KW_MODE, kk_mode_name(d->state.mode), KW_BY, who, KW_RESULT, result,
	    KW_WHAT, what);
	if (o != NULL && extra != NULL)
		json_object_update(o, extra);
	kd_outbox_notify(d, KK_REPORT_TAMPER, o, "tamper alert");
}

/*
 * May an alert of this kind be written (log, audit line, outbox report)?
 * A token bucket per kind: a burst of ALERT_BURST, then one per
 * ALERT_REFILL_USEC.  One held back is counted, by its result, for the
 * summary that summary_timer writes once per interval: a flapping
 * attacker costs a bounded number of lines and files, never one each.
 */
bool
kd_alert_allowed(struct kd *d, enum kd_alert_kind kind, const char *result)
{
	struct kd_ratelimit *rl = &d->alert_rl[kind];
	const size_t nres = sizeof(rl->results) / sizeof(rl->results[0]);
	unsigned long long now = kd_now_usec(), n;
	size_t i;

	if (rl->spent > 0 &&
	    (n = (now - rl->refilled) / ALERT_REFILL_USEC) > 0) {
		rl->spent = n >= rl->spent ? 0 : rl->spent - (unsigned)n;
		rl->refilled += n * ALERT_REFILL_USEC;
	}
	if (rl->spent == 0)
		rl->refilled = now;
	if (rl->spent < ALERT_BURST) {
		rl->spent++;
		return true;
	}
	if (rl->held_back < ULONG_MAX)
		rl->held_back++;
	/* per result; the last slot takes any result beyond the first ones */
	for (i = 0; i < nres - 1 && rl->results[i].result[0] &&
	    strcmp(rl->results[i].result, result) != 0; i++)
		;
	if (rl->results[i].result[0] == '\0' || i < nres - 1)
		snprintf(rl->results[i].result, sizeof(rl->results[i].result),
		    "%s", i < nres - 1 ? result : "other");
	if (rl->results[i].n < ULONG_MAX)
		rl->results[i].n++;
	if (d->summary_timer &&
	    sd_event_source_get_enabled(d->summary_timer, NULL) == 0) {
		sd_event_source_set_time_relative(d->summary_timer,
		    SUMMARY_USEC);
		sd_event_source_set_enabled(d->summary_timer, SD_EVENT_ONESHOT);
	}
	return false;
}

/* The alerts held back in the interval, one log line, audit line and report. */
static int
on_summary_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kd *d = userdata;
	json_t *kinds = json_object(), *counts, *extra;
	unsigned long total = 0;
	size_t k, i;

	for (k = 0; kinds && k < sizeof(d->alert_rl) / sizeof(d->alert_rl[0]); k++) {
		struct kd_ratelimit *rl = &d->alert_rl[k];

		if (rl->held_back == 0)
			continue;
		total += rl->held_back;
		counts = json_object();
		for (i = 0; counts && i < sizeof(rl->results) /
		    sizeof(rl->results[0]) && rl->results[i].result[0]; i++)
			json_object_set_new(counts, rl->results[i].result,
			    json_integer((json_int_t)rl->results[i].n));
		json_object_set_new(kinds, alert_kind_names[k], counts);
		rl->held_back = 0;
		memset(rl->results, 0, sizeof(rl->results));
	}
	if (kinds == NULL || total == 0) {
		json_decref(kinds);
		return 0;
	}
	kk_log(LOG_ALERT, KK_MID_TAMPER,
	    "%lu more tamper alert(s) in the last %llu s were not written one by one (rate limit)",
	    total, SUMMARY_USEC / 1000000);
	extra = json_pack("{s:o, s:I, s:I, s:I}", KW_HELD_BACK, kinds,
	    KW_TOTAL, (json_int_t)total,
	    KW_INTERVAL_S, (json_int_t)(SUMMARY_USEC / 1000000),
	    KW_TAMPER_EVENTS, (json_int_t)d->tamper_events);
	report_tamper(d, "kakurid", "alerts-held-back", NULL, extra);
	kd_audit(d, "kakurid", "tamper", "alerts-held-back", extra);
	return 0;
}

bool
kd_incident_holds(const struct kd *d)
{
	return strcmp(d->incident.result, "restored") == 0;
}

/* The audit and report fields of a tamper event of the tables. */
static json_t *
incident_extra(struct kd *d, unsigned long long restore_us)
{
	char table[KK_NFT_NAME_MAX + 8];

	snprintf(table, sizeof(table), "inet %s", kd_tables_name(d));
	return json_pack("{s:s, s:s, s:I, s:I}", KW_MODE,
	    kk_mode_name(d->state.mode), KW_TABLE, table,
	    KW_RESTORE_US, (json_int_t)restore_us,
	    KW_COUNT, (json_int_t)d->incident.count);
}

/*
 * A tamper event of the tables: result is "restored" (they hold again
 * under kakurid's own name), "fallback" (they are enforced from a
 * fallback name) or "restore-failed".  The first event opens the
 * incident; later ones are counted, and written again only when the
 * result changes (the result alone is the key: the error texts vary).
 */
void
kd_incident_event(struct kd *d, const char *who, const char *result,
    bool tampered, unsigned long long t0)
{
	unsigned long long now = kd_now_usec(), restore_us = now - t0;
	struct kd_alert *in = &d->incident;
	bool opened = in->what[0] == '\0', changed;
	char table[KK_NFT_NAME_MAX + 8];
	json_t *extra;

	if (opened && !tampered && strcmp(result, "restored") == 0)
		return;		/* a read-back glitch, applied again: no tampering */
	if (opened) {
		in->since = time(NULL);
		in->t0 = now;
		in->count = 0;
		d->restore_max_us = 0;
	}
	changed = opened || strcmp(in->result, result) != 0;
	in->last = now;
	if (tampered && in->count < ULONG_MAX)
		in->count++;
	if (strcmp(result, "restore-failed") != 0) {
		d->restore_us = restore_us;
		if (restore_us > d->restore_max_us)
			d->restore_max_us = restore_us;
	}
	snprintf(table, sizeof(table), "inet %s", kd_tables_name(d));
	snprintf(in->result, sizeof(in->result), "%s", result);
	if (strcmp(result, "restore-failed") == 0)
		snprintf(in->what, sizeof(in->what),
		    "tables tampered with and NOT restored (retrying): %.150s",
		    d->nft.err);
	else if (strcmp(result, "fallback") == 0)
		snprintf(in->what, sizeof(in->what),
		    "%.150s: %s enforced from table %s",
		    d->held_err[0] ? d->held_err :
		    "the name kakuri is held by another process",
		    kk_mode_name(d->state.mode), table);
	else
		snprintf(in->what, sizeof(in->what),
		    "tables tampered with %lu time(s), restored in table %s; watched until they hold %llu s",
		    in->count, table, KD_QUIET_USEC / 1000000);
	if (!changed || !kd_alert_allowed(d, KD_ALERT_TABLES, result))
		return;
	kk_log(strcmp(result, "restore-failed") == 0 ? LOG_CRIT : LOG_ALERT,
	    KK_MID_TAMPER, "%s (seen after a change by %s; %llu us)", in->what,
	    who, restore_us);
	extra = incident_extra(d, restore_us);
	report_tamper(d, who, result, in->what, extra);
	kd_audit(d, who, "tamper", result, extra);
}

/* The tables held for KD_QUIET_USEC: the incident is over. */
void
kd_incident_close(struct kd *d)
{
	unsigned long long now = kd_now_usec();
	json_t *extra;

	extra = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}",
	    KW_MODE, kk_mode_name(d->state.mode),
	    KW_TABLE, "inet " KK_TABLE_NAME,
	    KW_COUNT, (json_int_t)d->incident.count,
	    KW_DURATION_US, (json_int_t)(d->incident.last - d->incident.t0),
	    KW_RESTORE_MAX_US, (json_int_t)d->restore_max_us,
	    KW_TAMPER_EVENTS, (json_int_t)d->tamper_events);
	if (kd_alert_allowed(d, KD_ALERT_TABLES, "incident-over")) {
		kk_log(LOG_NOTICE, KK_MID_TAMPER,
		    "tamper incident over: %lu tamper event(s) in %llu ms, slowest restore %llu us; table inet %s held %llu s",
		    d->incident.count,
		    (d->incident.last - d->incident.t0) / 1000,
		    d->restore_max_us, KK_TABLE_NAME,
		    (now - d->incident.last) / 1000000);
		report_tamper(d, "kakurid", "incident-over", NULL, extra);
		kd_audit(d, "kakurid", "tamper", "incident-over", extra);
	} else {
		json_decref(extra);
	}
	memset(&d->incident, 0, sizeof(d->incident));
}

/* A foreign nftables commit while quarantined that left the tables intact. */
void
kd_nftables_changed(struct kd *d, const char *who)
{
	if (!kd_alert_allowed(d, KD_ALERT_NFTABLES, "table-intact"))
		return;
	kk_log(LOG_NOTICE, KK_MID_TAMPER,
	    "nftables changed by %s while %s; table inet %s intact",
	    who, kk_mode_name(d->state.mode), KK_TABLE_NAME);
	kd_audit(d, who, "nftables-change", "table-intact",
	    json_pack("{s:s}", KW_MODE, kk_mode_name(d->state.mode)));
}

/*
 * An interface alert: what status lists (the last few) always, the log,
 * audit line and report within the rate.
 */
void
kd_link_alert(struct kd *d, const char *who, const char *result,
    const char *what, json_t *extra)
{
	const size_t slots = sizeof(d->link_alerts) / sizeof(d->link_alerts[0]);
	struct kd_alert *a = &d->link_alerts[d->nlink_alerts % slots];

	if (strcmp(result, "interface-not-covered") != 0) {
		memset(a, 0, sizeof(*a));
		a->since = time(NULL);
		a->t0 = a->last = kd_now_usec();
		a->count = 1;
		snprintf(a->result, sizeof(a->result), "%s", result);
		snprintf(a->what, sizeof(a->what), "%s", what);
		if (d->nlink_alerts < ULONG_MAX)
			d->nlink_alerts++;
	}
	if (!kd_alert_allowed(d, KD_ALERT_INTERFACES, result)) {
		json_decref(extra);
		return;
	}
	kk_log(LOG_ALERT, KK_MID_TAMPER, "%s while %s", what,
	    kk_mode_name(d->state.mode));
	report_tamper(d, who, result, what, extra);
	kd_audit(d, who, "tamper", result, extra);
}

void
kd_forged_alert(struct kd *d, unsigned long n)
{
	struct kd_alert *a = &d->forged;
	const char *result = "netlink-forged";
	json_t *extra;

	if (a->what[0] == '\0') {
		a->since = time(NULL);
		a->t0 = kd_now_usec();
		snprintf(a->result, sizeof(a->result), "%s", result);
	}
	a->last = kd_now_usec();
	a->count = a->count + n < a->count ? ULONG_MAX : a->count + n;
	snprintf(a->what, sizeof(a->what),
	    "%lu netlink message(s) sent by a process, not the kernel, to kakurid's sockets: passed over (forged interface, tc or nftables news)",
	    a->count);
	if (!kd_alert_allowed(d, KD_ALERT_NETLINK, result))
		return;
	extra = json_pack("{s:I}", KW_COUNT, (json_int_t)a->count);
	kk_log(LOG_ALERT, KK_MID_TAMPER, "%s while %s", a->what,
	    kk_mode_name(d->state.mode));
	report_tamper(d, "netlink", result, a->what, extra);
	/* extra is the audit's now */
	kd_audit(d, "netlink", "tamper", result, extra);
}

int
kd_alerts_start(struct kd *d)
{
	int err;

	if ((err = sd_event_add_time_relative(d->ev, &d->summary_timer,
	    CLOCK_MONOTONIC, SUMMARY_USEC, KD_TIMER_ACCURACY_USEC,
	    on_summary_timer, d)) < 0)
		return err;
	return sd_event_source_set_enabled(d->summary_timer, SD_EVENT_OFF);
}

void
kd_alerts_stop(struct kd *d)
{
	d->summary_timer = sd_event_source_disable_unref(d->summary_timer);
}
