/*
 * Local authorization (DESIGN 3, "who may do what").  Isolating is the
 * safe direction and any member of the staff group may do it; releasing is
 * not, and nobody on the machine - root included - may release without a
 * CSIRT signature.  Pure decisions, no I/O, so they are unit-tested.
 */
#include <errno.h>
#include <string.h>

#include "kakuri.h"

static const char *const op_names[KK_OP__MAX] = {
	[KK_OP_STATUS] = "status",
	[KK_OP_LOG] = "log",
	[KK_OP_DISCONNECT] = "disconnect",
	[KK_OP_REPORT] = "report",
	[KK_OP_RELEASE] = "release",
	[KK_OP_UNBLOCK] = "unblock",
	[KK_OP_THAW] = "thaw",
	[KK_OP_DRILL] = "drill",
	[KK_OP_APPLY] = "apply",
};

int
kk_op_parse(const char *name, enum kk_op *out)
{
	int i;

	for (i = 0; i < KK_OP__MAX; i++) {
		if (strcmp(name, op_names[i]) == 0) {
			*out = (enum kk_op)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *
kk_op_name(enum kk_op op)
{
	if ((unsigned)op >= KK_OP__MAX)
		return "unknown";
	return op_names[op];
}

static bool
in_staff(const struct kk_cred *c, bool staff_known, gid_t staff_gid)
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

int
kk_authz_local(enum kk_op op, const struct kk_cred *c, bool staff_known,
    gid_t staff_gid)
{
	switch (op) {
	case KK_OP_STATUS:
	case KK_OP_LOG:
		return 0;
	case KK_OP_DISCONNECT:
	case KK_OP_REPORT:
		if (c->uid == 0 || in_staff(c, staff_known, staff_gid))
			return 0;
		return -EPERM;
	case KK_OP_DRILL:
		return c->uid == 0 ? 0 : -EPERM;
	case KK_OP_APPLY:
		/*
		 * Anyone may hand over a signed command: the signature, not
		 * the caller, is what authorizes it; kakurid verifies it.
		 */
		return 0;
	case KK_OP_RELEASE:
	case KK_OP_UNBLOCK:
	case KK_OP_THAW:
		return -EACCES;
	case KK_OP__MAX:
		break;
	}
	return -EPERM;
}
