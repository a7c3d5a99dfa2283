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

#include "kakuri.h"
#include "sign.h"

enum kd_origin {
	KD_ORIGIN_LOCAL,	/* the control socket: the kernel says who */
	KD_ORIGIN_APPLY,	/* kakurictl apply: a signed command, locally */
	KD_ORIGIN_REMOTE,	/* the CSIRT channel, through the network child */
	KD_ORIGIN_FLEET,	/* the fleet transport (DESIGN 9), signed */
	KD_ORIGIN_DRILL,	/* the drill timer */
	KD_ORIGIN_START,	/* kakurid itself, starting */
	KD_ORIGIN_RESTORE,	/* kakurid --restore, at boot */
	KD_ORIGIN__MAX,
};

#define KD_FROM(o)	(UINT32_C(1) << (o))
/* a local caller's class (enum kk_peer_class) in a row's local column */
#define KD_CLASS(c)	(UINT32_C(1) << (c))
#define KD_NO_ACTION	(-1)

struct run;

/* One row of the verb table. */
struct kd_verb {
	const char *name;	/* as requests and commands name it */
	uint32_t origins;	/* KD_FROM() bits: where it is accepted from */
	uint32_t local;		/* KD_CLASS() bits: who may, from KD_ORIGIN_LOCAL */
	int action;		/* its signed action, the role it needs, or KD_NO_ACTION */
	uint32_t also;		/* roles (1 << kk_action) whose threshold it needs too */
	const char *denied;	/* what a local caller not allowed is told */
};

const char *kd_origin_name(enum kd_origin o);
/* Whether requests of the origin carry a CSIRT signature. */
bool kd_origin_signed(enum kd_origin o);

/* The whole table, for the unit test that walks it. */
const struct kd_verb *kd_verb_table(size_t *n);
/* The row of name, or NULL. */
const struct kd_verb *kd_verb_find(const char *name);
/* The row of a signed action, or NULL. */
const struct kd_verb *kd_verb_of_action(enum kk_action a);
/* The roles besides its own whose threshold action a needs (signed.c). */
uint32_t kd_verb_also_needs(enum kk_action a);
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
 * verb's row, origin KD_ORIGIN_LOCAL, the caller's class): NULL if it may,
 * else the refusal word; "unknown-command" for an operation without a row.
 * The row, if any, in *verb (its denied text says why to the caller).
 */
const char *kd_local_refusal(enum kk_op op, const struct kk_cred *c,
    bool staff_known, gid_t staff_gid, const struct kd_verb **verb);

#endif
