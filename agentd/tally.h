/*
 * Per-uid counts of the local side (tally.c): refusals, repeated
 * presses, signed commands handed over; summed up once per interval.
 */
#ifndef KD_TALLY_H
#define KD_TALLY_H

#include <stdbool.h>
#include <sys/types.h>

struct kd;
struct json_t;

int kd_tally_open(struct kd *d);
/* The interval's summary written, then nothing counted any more. */
void kd_tally_close(struct kd *d);
/*
 * A refused request: logged and audited in full for the first few of a
 * uid in an interval, counted for the interval's summary otherwise.
 * cls (enum kk_peer_class): outside staff_group, its lines in full are
 * drawn from a budget of all uids too.  Consumes extra.
 */
void kd_tally_refused(struct kd *d, uid_t uid, pid_t pid, int cls,
    const char *action, const char *reason, struct json_t *extra);
/*
 * A press that changed nothing: true when it is to be recorded (audit,
 * CSIRT notice) one by one, false past the first few of its uid.
 */
bool kd_tally_repeat(struct kd *d, uid_t uid, const char *action);
/*
 * Whether uid may hand over one more signed command in its interval,
 * counted per owner (subids.h).  The table of owners counted has room
 * for RATE_UIDS; past it, a new owner takes the place of the one whose
 * window began first, so that no owner is refused for another's count.
 * staff is kept for the callers; it no longer changes the count.
 */
bool kd_tally_apply_ok(struct kd *d, uid_t uid, bool staff);
/*
 * Whether uid may queue one more self-report: a few per ten minutes, so
 * that nobody fills the outbox the CSIRT's other messages need (root is
 * not counted).
 */
#define KD_REPORT_INTERVAL_USEC	(600ULL * 1000000ULL)
#define KD_REPORTS_PER_INTERVAL	10
bool kd_tally_report_ok(struct kd *d, uid_t uid, bool staff);
/*
 * Whether uid may have the outbox listed or the audit log read once more
 * in ten seconds: each reads, and the outbox verifies, up to report.max_mb
 * in the daemon's loop (root is not counted).
 */
#define KD_READS_PER_INTERVAL	5
bool kd_tally_read_ok(struct kd *d, uid_t uid);

#endif
