/*
 * One signed command on its way through kakurid (remote.c), shared with
 * the action modules (act_*.c).  A long action (snapshot, collect)
 * defers: it returns KD_RUN_PENDING, keeps the run, and calls
 * kd_run_finish() when its worker is done; the receipt goes out then.
 */
#ifndef KK_RUN_H
#define KK_RUN_H

#include <stdbool.h>
#include <time.h>

#include <jansson.h>

#include "daemon.h"
#include "sign.h"

#define KD_RUN_PENDING	1


struct run {
	struct kd *d;
	char via[128];
	struct timespec received;
	struct timespec applied;
	struct timespec verified;
	bool have_applied;
	struct kk_command cmd;
	bool have_cmd;
	const char *result;	/* "done", "rejected", "failed" */
	const char *reason;	/* the word */
	char detail[400];
	json_t *extra;		/* status output (status action) */
	json_t *output;		/* action output (evidence actions) */
	kd_reply_fn reply;	/* NULL: the caller takes the receipt now */
	uint64_t token;
	struct run *next;	/* deferred runs */
};

void kd_run_reject(struct run *r, const char *reason, const char *detail);
void kd_run_fail(struct run *r, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void kd_run_applied(struct run *r);
/* completes a deferred run: audit, receipt, reply, free */
void kd_run_finish(struct run *r);

/* the evidence actions (DESIGN 4 args): act_*.c */
int kd_act_freeze(struct run *r);
int kd_act_thaw(struct run *r);
int kd_act_snapshot(struct run *r);
int kd_act_collect(struct run *r);
int kd_act_fetch(struct run *r);

#endif
