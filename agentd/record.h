/*
 * The audit timeline and the CSIRT outbox, as kakurid's modules write
 * them (record.c).
 */
#ifndef KD_RECORD_H
#define KD_RECORD_H

#include "kakuri.h"

struct kd;
struct json_t;

/* One audit line (actor, action, result, extra fields); consumes extra. */
void kd_audit(struct kd *d, const char *actor, const char *action,
    const char *result, struct json_t *extra);
/*
 * A report for the CSIRT collector of type (DESIGN 7), queued durably in
 * the outbox; *id gets its id.  body (kept by the caller) gets the
 * envelope fields.
 */
int kd_outbox_put(struct kd *d, const char *type, struct json_t *body,
    char id[KK_EPISODE_HEX + 1]);

#endif
