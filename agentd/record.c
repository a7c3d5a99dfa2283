/*
 * What kakurid writes down for later, for every module of the parent:
 * lines of the audit timeline (common/audit.c, hash-chained) and reports
 * for the CSIRT collector, queued durably in the outbox.
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

/* Queue a notification for the CSIRT collector (delivered by the outbox). */
int
kd_outbox_put(struct kd *d, const char *type, json_t *body, char id[KK_EPISODE_HEX + 1])
{
	char path[PATH_MAX + 64], since[32];
	char *text;
	int err;

	if ((err = kk_episode_new(id)) < 0)
		return err;
	kk_rfc3339(time(NULL), since, sizeof(since));
	json_object_set_new(body, KW_V, json_integer(1));
	json_object_set_new(body, KW_ID, json_string(id));
	json_object_set_new(body, KW_TYPE, json_string(type));
	json_object_set_new(body, KW_TIME, json_string(since));
	text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/%ld-%s.json", d->outbox_dir,
	    (long)time(NULL), id);
	err = kk_write_file_atomic(path, text, strlen(text), 0600);
	free(text);
	return err;
}
