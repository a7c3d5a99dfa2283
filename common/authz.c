/*
 * Local callers (DESIGN 3, "who may do what"): the control operations'
 * names, who is root, staff or other, and the control connections each
 * may hold.  What each of them may ask for is the verb table's to say
 * (agentd/dispatch.c).  Pure decisions, no I/O, so they are unit-tested.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "kakuri.h"

static const char *const op_names[KK_OP__MAX] = { KK_OPS(KK_ENUM_WORD) };

int
kk_op_parse(const char *name, enum kk_op *out)
{
	int i = kk_name_find(op_names, KK_OP__MAX, name);

	if (i < 0)
		return -EINVAL;
	*out = (enum kk_op)i;
	return 0;
}

const char *
kk_op_name(enum kk_op op)
{
	return kk_name_at(op_names, KK_OP__MAX, (unsigned)op);
}

bool
kk_cred_is_staff(const struct kk_cred *c, bool staff_known, gid_t staff_gid)
{
	size_t i;

	if (!staff_known)
		return false;
	if (c->gid == staff_gid)
		return true;
	for (i = 0; i < c->ngroups; i++)
		if (c->groups[i] == staff_gid)
			return true;
	return false;
}

/*
 * Control connections (issue 8): the socket is open to every local user,
 * so what one of them can hold is bounded, and the staff's button does
 * not queue behind them.  Users outside staff_group share a few slots (a
 * few each) and must send their request within a second; staff members
 * have slots of their own, and root a reserve nobody else can take.  An
 * answer to a user outside staff_group is bounded as a whole too, not
 * only between sends, or a slow reader of a long log stream would hold
 * his slots for good.
 */
enum kk_peer_class
kk_peer_class(const struct kk_cred *c, bool staff_known, gid_t staff_gid)
{
	if (c->uid == 0)
		return KK_PEER_ROOT;
	if (kk_cred_is_staff(c, staff_known, staff_gid))
		return KK_PEER_STAFF;
	return KK_PEER_OTHER;
}

static const struct {
	unsigned class_max;	/* connections of the class together */
	unsigned per_uid;	/* of one uid in the class */
	uint64_t deadline;	/* usec to send the request */
	size_t frame_max;	/* bytes of the request */
	uint64_t answer_max;	/* usec for the whole answer; 0: none */
} peer_limits[KK_PEER__MAX] = {
	[KK_PEER_ROOT] = { KK_CONTROL_MAX_CONN, KK_CONTROL_MAX_CONN,
	    KK_CONTROL_IDLE_USEC, KK_CONTROL_ROOT_FRAME_MAX, 0 },
	[KK_PEER_STAFF] = { KK_CONTROL_STAFF_MAX, KK_CONTROL_STAFF_PER_UID,
	    KK_CONTROL_IDLE_USEC, KK_FRAME_MAX, 0 },
	[KK_PEER_OTHER] = { KK_CONTROL_OTHER_MAX, KK_CONTROL_OTHER_PER_UID,
	    KK_CONTROL_OTHER_IDLE_USEC, KK_CONTROL_OTHER_FRAME_MAX,
	    KK_CONTROL_OTHER_ANSWER_USEC },
};

int
kk_control_admit(enum kk_peer_class cls, unsigned uid_open,
    const unsigned class_open[KK_PEER__MAX], unsigned total_open)
{
	if ((unsigned)cls >= KK_PEER__MAX)
		return -EINVAL;
	if (uid_open >= peer_limits[cls].per_uid)
		return -EUSERS;
	if (class_open[cls] >= peer_limits[cls].class_max ||
	    total_open >= KK_CONTROL_MAX_CONN)
		return -EBUSY;
	/* staff and others together leave root its reserve */
	if (cls != KK_PEER_ROOT && class_open[KK_PEER_STAFF] +
	    class_open[KK_PEER_OTHER] >= KK_CONTROL_MAX_CONN -
	    KK_CONTROL_ROOT_RESERVED)
		return -EBUSY;
	return 0;
}

uint64_t
kk_control_deadline(enum kk_peer_class cls)
{
	return (unsigned)cls < KK_PEER__MAX ? peer_limits[cls].deadline :
	    KK_CONTROL_OTHER_IDLE_USEC;
}

size_t
kk_control_frame_max(enum kk_peer_class cls)
{
	return (unsigned)cls < KK_PEER__MAX ? peer_limits[cls].frame_max :
	    KK_CONTROL_OTHER_FRAME_MAX;
}

/*
 * Staff and root have slots of their own: a long read of theirs holds
 * only those, so the idle limit alone bounds it.
 */
uint64_t
kk_control_answer_max(enum kk_peer_class cls)
{
	return (unsigned)cls < KK_PEER__MAX ? peer_limits[cls].answer_max :
	    KK_CONTROL_OTHER_ANSWER_USEC;
}
