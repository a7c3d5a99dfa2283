/*
 * The self-reports waiting in the outbox, each with its reporter's owner
 * (outbox_self.c), for outbox.c.
 */
#ifndef KD_OUTBOX_SELF_H
#define KD_OUTBOX_SELF_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

struct kd;
struct kd_outbox;

/* Room for one more entry (-ENOSPC, -ENOMEM), made before a write. */
int kd_outbox_self_grow(struct kd_outbox *ob);
/* seq's entry set to owner and size (added if new and there is room). */
void kd_outbox_self_note(struct kd_outbox *ob, unsigned long long seq,
    uid_t owner, uint64_t size);
void kd_outbox_self_drop(struct kd_outbox *ob, unsigned long long seq);
/*
 * A check's name pass: unsee all, seq seen for each message named, then
 * prune drops the entries not seen.
 */
void kd_outbox_self_unsee(struct kd_outbox *ob);
void kd_outbox_self_seen(struct kd_outbox *ob, unsigned long long seq);
void kd_outbox_self_prune(struct kd_outbox *ob);
/* The owner of a self-report's reporter; false for none or root. */
bool kd_outbox_self_owner(json_t *body, uid_t *owner);
/* Has owner room for len more bytes?  Else refused, said and audited. */
bool kd_outbox_self_room(struct kd *d, uid_t owner, uint64_t len,
    uint64_t limit, unsigned long nmax);

#endif
