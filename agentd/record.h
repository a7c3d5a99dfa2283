/*
 * The audit timeline, as kakurid's modules write it (record.c); the
 * CSIRT outbox is outbox.c's.
 */
#ifndef KD_RECORD_H
#define KD_RECORD_H

#include "kakuri.h"

struct kd;
struct json_t;

/* One audit line (actor, action, result, extra fields); consumes extra. */
void kd_audit(struct kd *d, const char *actor, const char *action,
    const char *result, struct json_t *extra);

#endif
