/*
 * A fleet's drills summed up (kakurictl reports DIR --drills, issue 11):
 * the drill records the collector stored (wire.h, "Drills"), per host
 * and overall.  Pure computation over JSON, no files and no output, so
 * that the figures a CSIRT reports upwards are unit-tested; also the
 * reading of one record that drill history shares (kind, time to
 * isolate, leak targets).
 */
#ifndef KAKURICTL_DRILLSUM_H
#define KAKURICTL_DRILLSUM_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* The words of a drill record (wire.h, "Drills"): values, not keys. */
#define DRILL_LIVE		"live"
#define DRILL_TABLETOP		"tabletop"
#define DRILL_RESULT_LEAK	"leak"
#define DRILL_ACTION_REPORT	"report"

/* An employee who reported within this of the notice counts as in time. */
#define DRILL_REPORT_IN_TIME_MS	(5 * 60 * 1000)
/* Distinct leaking probe targets kept per host and overall. */
#define DRILL_LEAK_TARGETS_MAX	16

struct drillsum;

struct drillsum *drillsum_new(void);
void drillsum_free(struct drillsum *s);
/*
 * One drill record (rec, not taken) of the host agent (an agent id) named
 * hostname (may be NULL or "").  A drill is counted once: a later record
 * of the same id on the same host takes the place of the earlier one,
 * unless that one said the drill was done and this one does not.  0, or
 * -ENOMEM.
 */
int drillsum_add(struct drillsum *s, const char *agent, const char *hostname,
    json_t *rec);
/*
 * The summary: {overall: STATS, hosts: [{agent, hostname, STATS...}]},
 * hosts by hostname, then agent.  STATS: count, live, tabletop,
 * isolate_ms {median, worst} (null without a live drill that says it),
 * leaks, leak_targets [TEXT], notified, reported_in_time, share (null
 * when nobody was notified), revert_ms {median} (null without one).
 * NULL if out of memory.
 */
json_t *drillsum_json(struct drillsum *s);

/* The milliseconds a record's timings_ms names, or -1 when it does not. */
double drill_timing(json_t *rec, const char *key);
/* Did isolation fail to hold: result "leak", or a leak named? */
bool drill_leaked(json_t *rec);
/*
 * What got through in a leaked drill: the record's leak as a target
 * text, an object's target, or an array of either, and the targets of
 * its probes and dns checks whose result is "leak".  A new array of
 * distinct strings (maybe empty); NULL if out of memory.
 */
json_t *drill_leak_targets(json_t *rec);
/* ms for a person: "0.42 ms", "850 ms", "12.3 s", "10 min 05 s". */
const char *drill_ms_text(double ms, char *buf, size_t len);

#endif
