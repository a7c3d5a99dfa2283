/*
 * The verbs' handlers, one file per family (act_*.c).  Each takes the
 * run the dispatcher made, sets its result (kd_run_reject, kd_run_fail;
 * done by default) and its answer or output, and returns 0, a negative
 * errno, or KD_RUN_PENDING when it finishes later (kd_run_finish).
 */
#ifndef KD_ACT_H
#define KD_ACT_H

#include <stdbool.h>

struct run;
struct kd;
struct json_t;

/* act_quarantine.c */
int kd_act_status(struct run *r);
int kd_act_disconnect(struct run *r);
/*
 * The button pressed for r's caller (msg NULL: the button's own words):
 * the mode entered, audited, and a disconnect message queued (its id in
 * report, "" if the press was only counted).  On failure r failed.
 */
int kd_press_disconnect(struct run *r, const char *msg, bool *changed,
    char report[]);
/* Whether a press repeating the quarantine in force is told (a plain notice). */
#define KD_REPEAT_NOTICES	16
bool kd_repeat_notice_due(struct kd *d);
int kd_act_isolate(struct run *r);
int kd_act_release(struct run *r);
int kd_act_adopt(struct run *r);
/* act_log.c */
int kd_act_log(struct run *r);
/* act_outbox.c */
int kd_act_outbox(struct run *r);
/* act_report.c */
int kd_act_report(struct run *r);
/* act_freeze.c, act_evidence.c, act_fetch.c: the evidence verbs (DESIGN 4) */
int kd_act_freeze(struct run *r);
int kd_act_thaw(struct run *r);
int kd_act_snapshot(struct run *r);
int kd_act_collect(struct run *r);
int kd_act_fetch(struct run *r);
/* act_drill.c: drills (issue 11) */
int kd_act_drill(struct run *r);
int kd_act_drill_history(struct run *r);
int kd_act_drill_event(struct run *r);
/* act_block.c: IOC block lists (issue 12) */
int kd_act_block(struct run *r);
int kd_act_unblock(struct run *r);
/* status: the lists in force, each with its counted drops */
struct json_t *kd_blocklists_status(struct kd *d);
/*
 * act_log.c: may a local user read the outbox or the audit log once
 * more?  A few in ten seconds for all but root; if not, r is refused.
 */
bool kd_act_read_ok(struct run *r, const char *verb);

#endif
