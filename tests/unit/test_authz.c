/*
 * Local authorization against the table in DESIGN 3, as the verb table
 * (agentd/dispatch.c) decides it for the control socket: every operation
 * for every kind of caller, and the operation names (common/authz.c).
 *
 *   status, log, report      anyone (issue 10: no group needed to report)
 *   disconnect, outbox       root and members of the staff group
 *   release, unblock, thaw   nobody, root included (-EACCES: CSIRT only)
 *   drill                    root only
 *   apply                    anyone (the signature decides, later)
 *
 * Then the whole verb table is walked: no origin without a CSIRT
 * signature, and no caller through one, can release, unblock or thaw.
 *
 * And the control connections each kind of caller may hold (issue 8):
 * quotas per uid, the slots users outside the staff share, the reserve
 * staff and root keep.
 *
 * And the budget of failed signature verifications each signed origin
 * has (dispatch.c), its arithmetic: the refill in time, the spending,
 * when it counts as spent and when no longer.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <check.h>

#include "daemon.h"
#include "dispatch.h"
#include "kakuri.h"
#include "suites.h"
#include "testutil.h"

#define STAFF_GID	((gid_t)4711)

static const gid_t sup_with_staff[] = { 100, STAFF_GID, 27 };
static const gid_t sup_without_staff[] = { 100, 27, 4712 };
static const gid_t sup_only_staff[] = { STAFF_GID };
static const gid_t sup_root[] = { 0 };

enum who { ANYONE, STAFF, ROOT };

static const struct caller {
	const char *what;
	struct kk_cred cred;
	bool staff_known;
	enum who is;		/* the strongest row of DESIGN 3 that applies */
} callers[] = {
	{ "root",
	    { 0, 0, NULL, 0 }, true, ROOT },
	{ "root, staff group unknown",
	    { 0, 0, NULL, 0 }, false, ROOT },
	{ "root, also in staff",
	    { 0, 0, sup_with_staff, 3 }, true, ROOT },
	{ "staff by primary gid",
	    { 1000, STAFF_GID, NULL, 0 }, true, STAFF },
	{ "staff by primary gid, other groups too",
	    { 1000, STAFF_GID, sup_without_staff, 3 }, true, STAFF },
	{ "staff by supplementary group",
	    { 1001, 1001, sup_with_staff, 3 }, true, STAFF },
	{ "staff as the only supplementary group",
	    { 1001, 1001, sup_only_staff, 1 }, true, STAFF },
	{ "non-member",
	    { 1002, 1002, sup_without_staff, 3 }, true, ANYONE },
	{ "non-member, no groups",
	    { 1002, 1002, NULL, 0 }, true, ANYONE },
	{ "non-member whose uid is the staff gid",
	    { STAFF_GID, 1002, NULL, 0 }, true, ANYONE },
	{ "non-root in group root",
	    { 1003, 0, NULL, 0 }, true, ANYONE },
	{ "non-root with root as supplementary group",
	    { 1003, 1003, sup_root, 1 }, true, ANYONE },
	{ "staff unknown, gid equals staff_gid value",
	    { 1004, STAFF_GID, NULL, 0 }, false, ANYONE },
	{ "staff unknown, supplementary equals staff_gid value",
	    { 1004, 1004, sup_with_staff, 3 }, false, ANYONE },
	{ "nobody",
	    { 65534, 65534, NULL, 0 }, true, ANYONE },
};
#define NCALLERS	(sizeof(callers) / sizeof(callers[0]))

/* DESIGN 3, the "local staff" and "local root" columns. */
static int
expected(enum kk_op op, enum who is)
{
	switch (op) {
	case KK_OP_STATUS:
	case KK_OP_LOG:
	case KK_OP_APPLY:
	case KK_OP_REPORT:
	case KK_OP_DRILL_EVENT:
	case KK_OP_WATCH:
		return 0;
	case KK_OP_DISCONNECT:
	case KK_OP_OUTBOX:
	case KK_OP_DRILL_HISTORY:
		return is >= STAFF ? 0 : -EPERM;
	case KK_OP_RELEASE:
	case KK_OP_UNBLOCK:
	case KK_OP_BLOCK:
	case KK_OP_THAW:
		return -EACCES;
	case KK_OP_DRILL:
		return is == ROOT ? 0 : -EPERM;
	case KK_OP__MAX:
		break;
	}
	ck_abort_msg("no expectation for op %d", (int)op);
	return 1;
}

/*
 * The control socket's decision in the codes of DESIGN 3's table: 0, or
 * -EPERM (not this caller), or -EACCES (a CSIRT signature is required).
 */
static int
local_decision(enum kk_op op, const struct kk_cred *c, bool staff_known,
    gid_t staff_gid)
{
	const struct kd_verb *v;
	const char *why = kd_local_refusal(op, kk_peer_class(c, staff_known,
	    staff_gid), &v);

	if (why == NULL)
		return 0;
	if (strcmp(why, "signature-required") == 0)
		return -EACCES;
	ck_assert_msg(strcmp(why, "not-authorized") == 0 ||
	    strcmp(why, "unknown-command") == 0 ||
	    strcmp(why, "unavailable") == 0, "refusal word %s", why);
	return -EPERM;
}

/* One test per (operation, caller) pair. */
START_TEST(test_matrix)
{
	enum kk_op op = (enum kk_op)((size_t)_i / NCALLERS);
	const struct caller *c = &callers[(size_t)_i % NCALLERS];
	int want = expected(op, c->is), got;

	got = local_decision(op, &c->cred, c->staff_known, STAFF_GID);
	ck_assert_msg(got == want, "%s by %s: got %d, want %d",
	    kk_op_name(op), c->what, got, want);
}
END_TEST

/* The same decisions do not depend on which gid is the staff group. */
START_TEST(test_other_staff_gid)
{
	static const gid_t groups[] = { 10, 20 };
	struct kk_cred c = { 1000, 10, NULL, 0 };

	ck_assert_int_eq(local_decision(KK_OP_DISCONNECT, &c, true, 10), 0);
	ck_assert_int_eq(local_decision(KK_OP_DISCONNECT, &c, true, 11),
	    -EPERM);
	c.gid = 1000;
	c.groups = groups;
	c.ngroups = 2;
	ck_assert_int_eq(local_decision(KK_OP_OUTBOX, &c, true, 20), 0);
	/* only the first ngroups entries count */
	c.ngroups = 1;
	ck_assert_int_eq(local_decision(KK_OP_OUTBOX, &c, true, 20), -EPERM);
	/* a staff group of gid 0 makes root's group staff, not other users */
	c.gid = 0;
	c.ngroups = 0;
	ck_assert_int_eq(local_decision(KK_OP_DISCONNECT, &c, true, 0), 0);
	ck_assert_int_eq(local_decision(KK_OP_DRILL, &c, true, 0), -EPERM);
	ck_assert_int_eq(local_decision(KK_OP_RELEASE, &c, true, 0), -EACCES);
}
END_TEST

/* An operation number outside the enum is never allowed. */
START_TEST(test_unknown_op_denied)
{
	static const int bad_ops[] = { KK_OP__MAX, KK_OP__MAX + 1, 1000, -1 };
	size_t i, j;

	for (i = 0; i < sizeof(bad_ops) / sizeof(bad_ops[0]); i++)
		for (j = 0; j < NCALLERS; j++)
			ck_assert_int_lt(local_decision((enum kk_op)bad_ops[i],
			    &callers[j].cred, callers[j].staff_known,
			    STAFF_GID), 0);
}
END_TEST

/* ---- the verb table ---- */

static bool
releasing(const struct kd_verb *v)
{
	return v->action == (int)KK_ACT_RELEASE ||
	    v->action == (int)KK_ACT_UNBLOCK || v->action == (int)KK_ACT_THAW ||
	    (v->also & (UINT32_C(1) << KK_ACT_RELEASE)) != 0;
}

/*
 * Every row, every origin that carries no CSIRT signature, every class
 * of local caller: nothing that releases is accepted.  And the rows that
 * release are there (a table without them would pass vacuously).
 */
START_TEST(test_table_no_unsigned_release)
{
	static const char *const must[] = { "release", "unblock", "thaw" };
	const struct kd_verb *t, *v;
	size_t n, i, nrel = 0, checks = 0;
	int o, cls;

	t = kd_verb_table(&n);
	ck_assert_uint_gt(n, 0);
	for (i = 0; i < sizeof(must) / sizeof(must[0]); i++) {
		v = kd_verb_find(must[i]);
		ck_assert_msg(v != NULL, "no row for %s", must[i]);
		ck_assert_msg(releasing(v), "%s does not need the release "
		    "threshold", must[i]);
	}
	for (i = 0; i < n; i++) {
		v = &t[i];
		if (!releasing(v))
			continue;
		nrel++;
		for (o = 0; o < KD_ORIGIN__MAX; o++) {
			if (kd_origin_signed((enum kd_origin)o))
				continue;
			ck_assert_msg(!(v->origins & KD_FROM(o)),
			    "%s is accepted from %s", v->name,
			    kd_origin_name((enum kd_origin)o));
			for (cls = 0; cls < KK_PEER__MAX; cls++) {
				ck_assert_msg(kd_verb_refusal(v,
				    (enum kd_origin)o,
				    (enum kk_peer_class)cls) != NULL,
				    "%s from %s by class %d", v->name,
				    kd_origin_name((enum kd_origin)o), cls);
				checks++;
			}
		}
		/* a local caller, root included, is told to get a signature */
		ck_assert_str_eq(kd_verb_refusal(v, KD_ORIGIN_LOCAL,
		    KK_PEER_ROOT), "signature-required");
		/* and the verb is there for the signed origins */
		ck_assert(v->origins & KD_FROM(KD_ORIGIN_REMOTE));
	}
	ck_assert_uint_ge(nrel, 3);
	ck_assert_uint_gt(checks, 0);
}
END_TEST

/* Every control operation has its row, and row names are distinct. */
START_TEST(test_table_covers_local_ops)
{
	const struct kd_verb *t;
	size_t n, i, j;
	int op;

	for (op = 0; op < KK_OP__MAX; op++)
		ck_assert_msg(kd_verb_find(kk_op_name((enum kk_op)op)) != NULL,
		    "no row for %s", kk_op_name((enum kk_op)op));
	t = kd_verb_table(&n);
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			ck_assert_str_ne(t[i].name, t[j].name);
	/* out of range: no row, never allowed */
	ck_assert_str_eq(kd_local_refusal(KK_OP__MAX, KK_PEER_ROOT, NULL),
	    "unknown-command");
	ck_assert_str_eq(kd_verb_refusal(kd_verb_find("status"),
	    KD_ORIGIN__MAX, KK_PEER_ROOT), "unavailable");
}
END_TEST

/*
 * A signed command finds its row by its action's wire name
 * (kk_action_name, common/command.c): every action has one, under that
 * name, and no row claims an action under another name.
 */
START_TEST(test_table_rows_of_actions)
{
	const struct kd_verb *t, *v;
	size_t n, i;
	int a;

	for (a = 0; a < KK_ACT__MAX; a++) {
		v = kd_verb_find(kk_action_name((enum kk_action)a));
		ck_assert_msg(v != NULL, "no row for %s",
		    kk_action_name((enum kk_action)a));
		ck_assert_int_eq(v->action, a);
		ck_assert_ptr_eq(kd_verb_of_action((enum kk_action)a), v);
	}
	t = kd_verb_table(&n);
	for (i = 0; i < n; i++)
		if (t[i].action != KD_NO_ACTION)
			ck_assert_str_eq(t[i].name,
			    kk_action_name((enum kk_action)t[i].action));
}
END_TEST

/* ---- names ---- */

/*
 * The names on the wire, as DESIGN 3 spells them, in the order of enum
 * kk_op: the one expectation here that does not come from common/authz.c.
 */
static const char wire_names[] =
    "status log disconnect report release unblock thaw drill apply outbox "
    "drill-history drill-event watch block";

/* The _i-th word of wire_names into out; false when there is none. */
static bool
wire_name(int i, char *out, size_t len)
{
	const char *p = wire_names;
	size_t n;

	for (;;) {
		n = strcspn(p, " ");
		if (i-- == 0)
			break;
		if (p[n] == '\0')
			return false;
		p += n + 1;
	}
	if (n == 0 || n >= len)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

START_TEST(test_op_names)
{
	enum kk_op op = (enum kk_op)_i, got;
	char want[32];

	ck_assert_msg(wire_name(_i, want, sizeof(want)), "op %d has no wire "
	    "name", _i);
	ck_assert_str_eq(kk_op_name(op), want);
	got = KK_OP__MAX;
	ck_assert_int_eq(kk_op_parse(want, &got), 0);
	ck_assert_int_eq(got, op);
	/* and no wire name beyond the last operation */
	if (_i == KK_OP__MAX - 1)
		ck_assert(!wire_name(_i + 1, want, sizeof(want)));
}
END_TEST

START_TEST(test_op_names_distinct)
{
	int i, j;

	for (i = 0; i < KK_OP__MAX; i++)
		for (j = i + 1; j < KK_OP__MAX; j++)
			ck_assert_str_ne(kk_op_name((enum kk_op)i),
			    kk_op_name((enum kk_op)j));
}
END_TEST

static const char *const bad_names[] = {
	"", "STATUS", "Status", "status ", " status", "status\n", "stat",
	"statuses", "isolate", "rel", "releases", "unknown", "disconnect\t",
	"apply-all", "drill;", "log\xc2\xa0", "thaw\x01",
};

START_TEST(test_op_parse_rejects)
{
	enum kk_op got = KK_OP_DRILL;

	ck_assert_int_eq(kk_op_parse(bad_names[_i], &got), -EINVAL);
	ck_assert_int_eq(got, KK_OP_DRILL);
}
END_TEST

START_TEST(test_op_name_out_of_range)
{
	enum kk_op got = KK_OP_DRILL;

	ck_assert_str_eq(kk_op_name(KK_OP__MAX), "unknown");
	ck_assert_str_eq(kk_op_name((enum kk_op)1000), "unknown");
	ck_assert_str_eq(kk_op_name((enum kk_op)-1), "unknown");
	/* and that name does not parse back into an operation */
	ck_assert_int_eq(kk_op_parse(kk_op_name(KK_OP__MAX), &got), -EINVAL);
	ck_assert_int_eq(got, KK_OP_DRILL);
}
END_TEST

/* ---- control connections (issue 8, item 3) ---- */

/* The class of each caller is the row of DESIGN 3 it gets. */
START_TEST(test_peer_class)
{
	const struct caller *c = &callers[_i];
	enum kk_peer_class want = c->is == ROOT ? KK_PEER_ROOT :
	    c->is == STAFF ? KK_PEER_STAFF : KK_PEER_OTHER;

	ck_assert_msg(kk_peer_class(&c->cred, c->staff_known, STAFF_GID) ==
	    want, "%s", c->what);
}
END_TEST

/* How many connections of one class and uid get in, everything else empty. */
static unsigned
fill_one_uid(enum kk_peer_class cls)
{
	unsigned open[KK_PEER__MAX] = { 0 }, n = 0;

	while (n < 1000 && kk_control_admit(cls, n, open, n) == 0) {
		open[cls]++;
		n++;
	}
	return n;
}

START_TEST(test_admit_per_uid)
{
	unsigned open[KK_PEER__MAX] = { 0 };

	ck_assert_uint_eq(fill_one_uid(KK_PEER_OTHER), KK_CONTROL_OTHER_PER_UID);
	ck_assert_uint_eq(fill_one_uid(KK_PEER_STAFF), KK_CONTROL_STAFF_PER_UID);
	ck_assert_uint_eq(fill_one_uid(KK_PEER_ROOT), KK_CONTROL_MAX_CONN);
	/* the uid's quota, not the class's, is what says no */
	open[KK_PEER_OTHER] = KK_CONTROL_OTHER_PER_UID;
	ck_assert_int_eq(kk_control_admit(KK_PEER_OTHER,
	    KK_CONTROL_OTHER_PER_UID, open, KK_CONTROL_OTHER_PER_UID), -EUSERS);
	ck_assert_int_eq(kk_control_admit(KK_PEER__MAX, 0, open, 0), -EINVAL);
}
END_TEST

/*
 * Many users outside the staff take every slot they can: staff members
 * and root still get in, up to their own limits, and root keeps a reserve
 * that the staff cannot take either.
 */
START_TEST(test_admit_reserved)
{
	unsigned open[KK_PEER__MAX] = { 0 }, total = 0, uid_open;
	uid_t uid;

	for (uid = 1000; uid < 1100; uid++)
		for (uid_open = 0; kk_control_admit(KK_PEER_OTHER, uid_open,
		    open, total) == 0; uid_open++) {
			open[KK_PEER_OTHER]++;
			total++;
		}
	ck_assert_uint_eq(open[KK_PEER_OTHER], KK_CONTROL_OTHER_MAX);
	ck_assert_int_eq(kk_control_admit(KK_PEER_OTHER, 0, open, total),
	    -EBUSY);
	/* staff members, each up to its quota, until the staff's share is used */
	for (uid = 2000; uid < 2100; uid++)
		for (uid_open = 0; kk_control_admit(KK_PEER_STAFF, uid_open,
		    open, total) == 0; uid_open++) {
			open[KK_PEER_STAFF]++;
			total++;
		}
	ck_assert_uint_ge(open[KK_PEER_STAFF], KK_CONTROL_STAFF_PER_UID * 2);
	ck_assert_int_eq(kk_control_admit(KK_PEER_STAFF, 0, open, total),
	    -EBUSY);
	/* root still has its reserve */
	ck_assert_uint_le(total, KK_CONTROL_MAX_CONN - KK_CONTROL_ROOT_RESERVED);
	for (uid_open = 0; kk_control_admit(KK_PEER_ROOT, uid_open, open,
	    total) == 0; uid_open++) {
		open[KK_PEER_ROOT]++;
		total++;
	}
	ck_assert_uint_ge(open[KK_PEER_ROOT], KK_CONTROL_ROOT_RESERVED);
	ck_assert_uint_eq(total, KK_CONTROL_MAX_CONN);
}
END_TEST

START_TEST(test_deadlines)
{
	ck_assert_uint_lt(kk_control_deadline(KK_PEER_OTHER),
	    kk_control_deadline(KK_PEER_STAFF));
	ck_assert_uint_le(kk_control_deadline(KK_PEER_OTHER), 1000000);
	ck_assert_uint_eq(kk_control_deadline(KK_PEER_ROOT),
	    kk_control_deadline(KK_PEER_STAFF));
	ck_assert_uint_lt(kk_control_frame_max(KK_PEER_OTHER),
	    kk_control_frame_max(KK_PEER_STAFF));
	ck_assert_uint_eq(kk_control_frame_max(KK_PEER_STAFF), KK_FRAME_MAX);
	/* root may hand over a signed block list of 24 MiB */
	ck_assert_uint_ge(kk_control_frame_max(KK_PEER_ROOT),
	    KK_FRAME_AUTHED_MAX);
}
END_TEST

/*
 * The whole answer: bounded outside the staff, longer than one idle
 * limit (a reader that keeps up is never cut by it), and not bounded
 * for staff and root, whose slots are their own; a class out of range
 * gets the strictest.
 */
START_TEST(test_answer_max)
{
	ck_assert_uint_eq(kk_control_answer_max(KK_PEER_OTHER),
	    KK_CONTROL_OTHER_ANSWER_USEC);
	ck_assert_uint_gt(kk_control_answer_max(KK_PEER_OTHER),
	    KK_CONTROL_REPLY_IDLE_USEC);
	ck_assert_uint_le(kk_control_answer_max(KK_PEER_OTHER),
	    60ULL * 1000000ULL);
	ck_assert_uint_eq(kk_control_answer_max(KK_PEER_STAFF), 0);
	ck_assert_uint_eq(kk_control_answer_max(KK_PEER_ROOT), 0);
	ck_assert_uint_eq(kk_control_answer_max(KK_PEER__MAX),
	    KK_CONTROL_OTHER_ANSWER_USEC);
}
END_TEST

#define SEC	1000000ULL
#define BURST	KD_VERIFY_FAILS_BURST
#define PER_S	KD_VERIFY_FAILS_PER_S

/* A budget first looked at is full; spending is clamped at nothing. */
START_TEST(test_budget_starts_full)
{
	struct kd_verify_fails v = { 0 };

	ck_assert_int_eq(kd_verify_fails_at(&v, 5 * SEC), KD_BUDGET_SAME);
	ck_assert_uint_eq(v.left, BURST);
	ck_assert(!v.spent);
	kd_verify_fails_take(&v, 10);
	ck_assert_uint_eq(v.left, BURST - 10);
	kd_verify_fails_take(&v, UINT64_MAX);
	ck_assert_uint_eq(v.left, 0);
}
END_TEST

/*
 * Spent once fewer than an envelope's worst case are left, and so until
 * refilled to half: 256 a second, in whole failures, the rest of the time
 * kept for later; never above the burst, however long the wait.
 */
START_TEST(test_budget_spends_and_refills)
{
	struct kd_verify_fails v = { 0 };
	uint64_t t = 100 * SEC;

	kd_verify_fails_at(&v, t);
	kd_verify_fails_take(&v, BURST - KK_TRUST_FAIL_BUDGET);
	ck_assert_int_eq(kd_verify_fails_at(&v, t), KD_BUDGET_SAME);
	ck_assert(!v.spent);	/* exactly an envelope's worst case left */
	kd_verify_fails_take(&v, 1);
	ck_assert_int_eq(kd_verify_fails_at(&v, t), KD_BUDGET_SPENT);
	ck_assert(v.spent);
	ck_assert_int_eq(kd_verify_fails_at(&v, t), KD_BUDGET_SAME);
	/* 1/256 s less one microsecond: not a whole failure yet */
	ck_assert_int_eq(kd_verify_fails_at(&v, t + SEC / PER_S - 1),
	    KD_BUDGET_SAME);
	ck_assert_uint_eq(v.left, KK_TRUST_FAIL_BUDGET - 1);
	/* ... the microsecond after: one, the time before it not lost */
	kd_verify_fails_at(&v, t + SEC / PER_S + 1);
	ck_assert_uint_eq(v.left, KK_TRUST_FAIL_BUDGET);
	/* above the worst case again, still spent: until half the burst */
	ck_assert(v.spent);
	t += SEC / PER_S + 1;
	ck_assert_int_eq(kd_verify_fails_at(&v, t + SEC), KD_BUDGET_SAME);
	ck_assert_uint_eq(v.left, KK_TRUST_FAIL_BUDGET + PER_S);
	ck_assert(v.spent);
	/* half the burst: no longer spent */
	ck_assert_int_eq(kd_verify_fails_at(&v, t + 60 * SEC),
	    KD_BUDGET_REFILLED);
	ck_assert(!v.spent);
	ck_assert_uint_eq(v.left, BURST);	/* a minute refills it all */
	/* a day later: the burst, no more */
	kd_verify_fails_at(&v, t + 86400 * SEC);
	ck_assert_uint_eq(v.left, BURST);
	/* a clock that went back refills nothing and breaks nothing */
	kd_verify_fails_take(&v, 100);
	ck_assert_int_eq(kd_verify_fails_at(&v, t), KD_BUDGET_SAME);
	ck_assert_uint_eq(v.left, BURST - 100);
}
END_TEST

/* Each failure weighs one unit, and one per 64 KiB of a larger payload. */
START_TEST(test_budget_cost)
{
	ck_assert_uint_eq(kd_verify_fails_cost(0, 0), 0);
	ck_assert_uint_eq(kd_verify_fails_cost(16, 100), 16);
	ck_assert_uint_eq(kd_verify_fails_cost(1, KK_COMMAND_MAX), 1);
	ck_assert_uint_eq(kd_verify_fails_cost(1, KK_COMMAND_MAX + 1), 2);
	ck_assert_uint_eq(kd_verify_fails_cost(2, 16 * 1024 * 1024),
	    2 * (16 * 1024 * 1024 / KK_COMMAND_MAX));
	/* an envelope's worst: every failure allowed, the largest payload */
	ck_assert_uint_eq(kd_verify_fails_cost(KK_TRUST_FAIL_BUDGET,
	    KK_BLOCK_PAYLOAD_MAX), (uint64_t)KK_TRUST_FAIL_BUDGET *
	    ((KK_BLOCK_PAYLOAD_MAX + KK_COMMAND_MAX - 1) / KK_COMMAND_MAX));
}
END_TEST

KK_SUITE(authz_suite, "authz",
	KK_CASE("matrix", 0, 0),
	    KK_LOOP(test_matrix, (int)(KK_OP__MAX * NCALLERS)),
	    KK_TEST(test_other_staff_gid),
	    KK_TEST(test_unknown_op_denied),
	KK_CASE("verb table", 0, 0),
	    KK_TEST(test_table_no_unsigned_release),
	    KK_TEST(test_table_covers_local_ops),
	    KK_TEST(test_table_rows_of_actions),
	KK_CASE("names", 0, 0), KK_LOOP(test_op_names, KK_OP__MAX),
	    KK_TEST(test_op_names_distinct),
	    KK_LOOP(test_op_parse_rejects, KK_NITEMS(bad_names)),
	    KK_TEST(test_op_name_out_of_range),
	KK_CASE("connections", 0, 0),
	    KK_LOOP(test_peer_class, (int)NCALLERS),
	    KK_TEST(test_admit_per_uid), KK_TEST(test_admit_reserved),
	    KK_TEST(test_deadlines), KK_TEST(test_answer_max),
	KK_CASE("signature budget", 0, 0),
	    KK_TEST(test_budget_starts_full),
	    KK_TEST(test_budget_spends_and_refills),
	    KK_TEST(test_budget_cost))
