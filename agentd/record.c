/*
 * What kakurid writes down for later, for every module of the parent:
 * lines of the audit timeline (common/audit.c, hash-chained).  Reports
 * for the CSIRT collector go through the outbox (outbox.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "daemon.h"
#include "log.h"
#include "record.h"
#include "wire.h"

/*
 * An audit log that did not open for writing (a volume read-only or full
 * at start, see adopt.c) is tried again, at most every AUDIT_RETRY_MS;
 * until then the one open for reading serves kakurictl log.  The records
 * in between are named in the journal (actor, action, result), not
 * chained.
 */
#define AUDIT_RETRY_MS	10000

static void
audit_reopen(struct kd *d)
{
	struct kk_audit fresh;
	uint64_t now = kk_now_ms();

	if (d->audit_path[0] == '\0' || (d->audit_tried_ms != 0 &&
	    now - d->audit_tried_ms < AUDIT_RETRY_MS))
		return;
	d->audit_tried_ms = now;
	if (kk_audit_open(&fresh, d->audit_path) < 0)
		return;
	if (fresh.readonly) {
		kk_audit_close(&fresh);
		return;
	}
	kk_audit_close(&d->audit);
	d->audit = fresh;
	kk_log(LOG_NOTICE, KK_MID_START, "audit log %s written again",
	    d->audit_path);
}

void
kd_audit(struct kd *d, const char *actor, const char *action, const char *result,
    json_t *extra)
{
	int err;

	if (d->audit.fd < 0 || d->audit.readonly)
		audit_reopen(d);
	/* from the policy in force (SIGHUP may change it) */
	kk_audit_set_limits(&d->audit, (uint64_t)d->policy->audit_max_mb << 20,
	    (unsigned)d->policy->audit_keep);
	err = kk_audit_append(&d->audit, actor, action, result,
	    d->state.episode, extra);
	if (err < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "audit log %s: %s: not written "
		    "there: %s %s %s", d->audit_path, err == -EBADF ?
		    "not open" : strerror(-err), actor, action, result);
	json_decref(extra);
}
