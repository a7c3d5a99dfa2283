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

void
kd_audit(struct kd *d, const char *actor, const char *action, const char *result,
    json_t *extra)
{
	int err;

	/* from the policy in force (SIGHUP may change it) */
	kk_audit_set_limits(&d->audit, (uint64_t)d->policy->audit_max_mb << 20,
	    (unsigned)d->policy->audit_keep);
	err = kk_audit_append(&d->audit, actor, action, result,
	    d->state.episode, extra);
	if (err < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "audit log %s: %s", d->audit_path,
		    strerror(-err));
	json_decref(extra);
}
