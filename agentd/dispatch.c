/*
 * The dispatcher: the verb table (DESIGN 3 and 4), and the one path
 * every request takes through it.  See dispatch.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dispatch.h"

/* Origins whose requests carry a CSIRT signature, checked by signed.c. */
#define SIGNED	(KD_FROM(KD_ORIGIN_APPLY) | KD_FROM(KD_ORIGIN_REMOTE) | \
		    KD_FROM(KD_ORIGIN_FLEET))
#define ANYONE	(KD_CLASS(KK_PEER_ROOT) | KD_CLASS(KK_PEER_STAFF) | \
		    KD_CLASS(KK_PEER_OTHER))
#define STAFF	(KD_CLASS(KK_PEER_ROOT) | KD_CLASS(KK_PEER_STAFF))
#define ROOT	KD_CLASS(KK_PEER_ROOT)
#define RELEASE_TOO	(UINT32_C(1) << KK_ACT_RELEASE)

static const struct {
	const char *name;
	bool is_signed;
} origins[KD_ORIGIN__MAX] = {
	[KD_ORIGIN_LOCAL] = { "local", false },
	[KD_ORIGIN_APPLY] = { "apply", true },
	[KD_ORIGIN_REMOTE] = { "remote", true },
	[KD_ORIGIN_FLEET] = { "fleet", true },
	[KD_ORIGIN_DRILL] = { "drill", false },
	[KD_ORIGIN_START] = { "start", false },
	[KD_ORIGIN_RESTORE] = { "restore", false },
};

/*
 * Isolating is the safe direction, releasing is not (DESIGN 3): release,
 * thaw and unblock come from signed origins only, with the release
 * threshold; fetch only over the channel that can carry its chunks.
 */
static const struct kd_verb verbs[] = {
	{ "status", KD_FROM(KD_ORIGIN_LOCAL) | SIGNED, ANYONE,
	    KK_ACT_STATUS, 0, NULL },
	{ "log", KD_FROM(KD_ORIGIN_LOCAL), ANYONE, KD_NO_ACTION, 0, NULL },
	/*
	 * anyone may hand over a signed command: the signature decides, not
	 * the caller; the envelope then takes the signed path (origin apply)
	 */
	{ "apply", KD_FROM(KD_ORIGIN_LOCAL), ANYONE, KD_NO_ACTION, 0, NULL },
	{ "disconnect", KD_FROM(KD_ORIGIN_LOCAL), STAFF, KD_NO_ACTION, 0,
	    "only members of the staff group and root may press disconnect" },
	{ "report", KD_FROM(KD_ORIGIN_LOCAL), STAFF, KD_NO_ACTION, 0, NULL },
	{ "isolate", SIGNED, 0, KK_ACT_ISOLATE, 0, NULL },
	{ "release", SIGNED, 0, KK_ACT_RELEASE, RELEASE_TOO, NULL },
	{ "freeze", SIGNED, 0, KK_ACT_FREEZE, 0, NULL },
	{ "thaw", SIGNED, 0, KK_ACT_THAW, RELEASE_TOO, NULL },
	{ "snapshot", SIGNED, 0, KK_ACT_SNAPSHOT, 0, NULL },
	{ "collect", SIGNED, 0, KK_ACT_COLLECT, 0, NULL },
	{ "fetch", KD_FROM(KD_ORIGIN_REMOTE), 0, KK_ACT_FETCH, 0, NULL },
	{ "drill", KD_FROM(KD_ORIGIN_LOCAL) | SIGNED, ROOT, KK_ACT_DRILL, 0,
	    NULL },
	{ "unblock", SIGNED, 0, KK_ACT_UNBLOCK, RELEASE_TOO, NULL },
	/* what state.json and the kernel say, applied: at start and at boot */
	{ "adopt", KD_FROM(KD_ORIGIN_START) | KD_FROM(KD_ORIGIN_RESTORE), 0,
	    KD_NO_ACTION, 0, NULL },
};

const char *
kd_origin_name(enum kd_origin o)
{
	return (unsigned)o < KD_ORIGIN__MAX ? origins[o].name : "unknown";
}

bool
kd_origin_signed(enum kd_origin o)
{
	return (unsigned)o < KD_ORIGIN__MAX && origins[o].is_signed;
}

const struct kd_verb *
kd_verb_table(size_t *n)
{
	*n = sizeof(verbs) / sizeof(verbs[0]);
	return verbs;
}

const struct kd_verb *
kd_verb_find(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	return NULL;
}

const struct kd_verb *
kd_verb_of_action(enum kk_action a)
{
	size_t i;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].action != KD_NO_ACTION &&
		    verbs[i].action == (int)a)
			return &verbs[i];
	return NULL;
}

uint32_t
kd_verb_also_needs(enum kk_action a)
{
	const struct kd_verb *v = kd_verb_of_action(a);

	return v != NULL ? v->also : 0;
}

const char *
kd_local_refusal(enum kk_op op, const struct kk_cred *c, bool staff_known,
    gid_t staff_gid, const struct kd_verb **verb)
{
	const struct kd_verb *v = NULL;

	if ((unsigned)op < KK_OP__MAX)
		v = kd_verb_find(kk_op_name(op));
	if (verb != NULL)
		*verb = v;
	if (v == NULL)
		return "unknown-command";
	return kd_verb_refusal(v, KD_ORIGIN_LOCAL, kk_peer_class(c,
	    staff_known, staff_gid));
}

const char *
kd_verb_refusal(const struct kd_verb *v, enum kd_origin o,
    enum kk_peer_class cls)
{
	if ((unsigned)o >= KD_ORIGIN__MAX)
		return "unavailable";
	if (!(v->origins & KD_FROM(o)))
		return !kd_origin_signed(o) && (v->origins & SIGNED) ?
		    "signature-required" : "unavailable";
	if (o == KD_ORIGIN_LOCAL && ((unsigned)cls >= KK_PEER__MAX ||
	    !(v->local & KD_CLASS(cls))))
		return "not-authorized";
	return NULL;
}
