/*
 * The one path of every request into kakurid's parent (dispatch.c).
 *
 * A request has an origin (the control socket, kakurictl apply, the
 * CSIRT channel, kakurid itself at start or --restore, later the drill
 * timer and the fleet transport), an actor, a verb, its arguments and a
 * reply callback.  The verb table says which origins each verb is
 * accepted from, which local callers may ask for it, and which signed
 * role and thresholds it needs; nothing else decides.  Release, unblock
 * and thaw are accepted from signed origins only because their rows say
 * so.
 */
#ifndef KD_DISPATCH_H
#define KD_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "kakuri.h"
#include "run.h"
#include "sign.h"

/*
 * The one path: the verb's row decides whether the request is accepted
 * from its origin and its caller, then the verb's handler runs.  The
 * answer comes through req->reply, at once or when a deferred action is
 * done.
 */
void kd_submit(struct kd *d, const struct kd_req *req);
/*
 * A signed command as it came (req->verb and req->args unused): checked
 * in the DESIGN 4 order (signed.c), then submitted as the verb its
 * action names, with its args.
 */
void kd_submit_envelope(struct kd *d, const struct kd_req *req,
    const uint8_t *buf, size_t len);
/* A signed request refused before it could be read (the network child's word). */
void kd_submit_refused(struct kd *d, const struct kd_req *req,
    const char *reason, const char *detail);

/*
 * The budget of failed signature verifications of one signed origin
 * (struct kd_verify_fails, daemon.h), its arithmetic alone:
 * kd_verify_fails_at refills it for the time from its last refill to now
 * (CLOCK_MONOTONIC us), PER_S a second in whole failures, up to BURST;
 * it is spent once fewer than KK_TRUST_FAIL_BUDGET are left (an
 * envelope's worst case), and stays so until refilled to half of BURST.
 * It says whether that changed now.  kd_verify_fails_take spends cost
 * (never below 0); kd_verify_fails_cost weighs failures that each read a
 * payload of payload_len (a unit each KK_COMMAND_MAX, one at least).
 */
#define KD_VERIFY_FAILS_PER_S	256
#define KD_VERIFY_FAILS_BURST	(8 * KK_TRUST_FAIL_BUDGET)
struct kd_verify_fails;
enum kd_budget_turn {
	KD_BUDGET_SAME,
	KD_BUDGET_SPENT,
	KD_BUDGET_REFILLED,
};
enum kd_budget_turn kd_verify_fails_at(struct kd_verify_fails *v,
    uint64_t now);
void kd_verify_fails_take(struct kd_verify_fails *v, uint64_t cost);
uint64_t kd_verify_fails_cost(unsigned failures, size_t payload_len);

/* The whole table, for the unit test that walks it. */
const struct kd_verb *kd_verb_table(size_t *n);
/* The row of name, or NULL. */
const struct kd_verb *kd_verb_find(const char *name);
/* The row of a signed action, or NULL. */
const struct kd_verb *kd_verb_of_action(enum kk_action a);
/* The roles besides its own whose threshold action a needs (signed.c). */
uint32_t kd_verb_also_needs(enum kk_action a);
/*
 * A local caller's class: kk_peer_class, but agent.user (the children's
 * user) is never staff, whatever its groups.
 */
struct kd;
enum kk_peer_class kd_peer_class(const struct kd *d, const struct kk_cred *c);
/* The verb table's refusal of action a from origin (enum kd_origin), or NULL. */
const char *kd_verb_origin_refusal(enum kk_action a, int origin);
/*
 * Whether v is accepted from origin o (and, from KD_ORIGIN_LOCAL, from a
 * caller of class cls): NULL if so, else the refusal word:
 * "signature-required" (only a signed origin may), "not-authorized" (not
 * this caller), "unavailable" (not through this origin).
 */
const char *kd_verb_refusal(const struct kd_verb *v, enum kd_origin o,
    enum kk_peer_class cls);

/*
 * The control socket's decision for an operation of a local caller (the
 * verb's row, origin KD_ORIGIN_LOCAL, the caller's class as
 * kd_peer_class says it): NULL if it may, else the refusal word;
 * "unknown-command" for an operation without a row.  The row, if any, in
 * *verb (its denied text says why to the caller).
 */
const char *kd_local_refusal(enum kk_op op, enum kk_peer_class cls,
    const struct kd_verb **verb);

#endif
