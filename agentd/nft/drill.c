/*
 * A live drill's table (issue 11, DESIGN 7): "inet kakuri_drill", beside
 * kakurid's own tables and never touching them.
 *
 * Every guarantee that a drill cannot strand a host is the kernel's: the
 * table is an owner table without persist, so it goes with kakurid's
 * netlink socket when kakurid dies; its chains accept by default and
 * each drop first looks up the one element of the gate set, whose
 * timeout kakurid renews, so a kakurid that hangs stops renewing it and
 * the drops stop matching.  The objects come from rules.c (the isolated
 * rows, spec->drill); the batches from build.c.
 */
#include <errno.h>
#include <string.h>

#include <libnftnl/table.h>

#include "nft.h"
#include "readback.h"

static int
drill_objects(struct kk_nft *n, const struct kk_nft_spec *spec,
    struct kk_nft_objects *o)
{
	int err;

	if (!spec->drill || strcmp(kk_nft_spec_name(spec), KK_DRILL_TABLE) != 0)
		return kk_nft_seterr(n, -EINVAL, "not a drill's table");
	if ((err = kk_nft_objects_build(spec, NFPROTO_INET, o)) < 0)
		return kk_nft_seterr(n, err, "building the drill table: %s",
		    strerror(-err));
	return 0;
}

/* The drill table as the kernel has it (*t NULL: none). */
static int
drill_table(struct kk_nft *n, struct nftnl_table **t)
{
	int err;

	if ((err = kk_nft_get_table(n, NFPROTO_INET, KK_DRILL_TABLE, t)) < 0)
		return kk_nft_seterr(n, err, "reading table inet %s: %s",
		    KK_DRILL_TABLE, strerror(-err));
	return 0;
}

/*
 * The drill table read back whole.  The main tables' last match (what
 * their cheap checks rest on) is kept: this check is not of them.
 */
static int
check(struct kk_nft *n, const struct kk_nft_objects *o)
{
	__typeof__(n->verified) kept = n->verified;
	int err;

	err = kk_nft_check(n, o, 1, KK_DRILL_TABLE, KK_NFT_CHECK_FULL, 0);
	n->verified = kept;
	return err;
}

int
kk_nft_drill_apply(struct kk_nft *n, const struct kk_nft_spec *spec)
{
	struct kk_nft_objects o;
	struct kk_nft_plan plan;
	struct kk_nft_batch b;
	struct nftnl_table *t = NULL;
	int err;

	memset(&o, 0, sizeof(o));
	if ((err = drill_objects(n, spec, &o)) < 0)
		return err;
	if ((err = drill_table(n, &t)) < 0)
		goto out;
	memset(&plan, 0, sizeof(plan));
	plan.family = NFPROTO_INET;
	snprintf(plan.name, sizeof(plan.name), "%s", KK_DRILL_TABLE);
	plan.exists = t != NULL;
	plan.prev_flags = t ? nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS) : 0;
	plan.o = &o;
	if ((err = kk_nft_batch_build(&b, &plan, 1, n->seq + 1)) < 0) {
		kk_nft_seterr(n, err, "building batch: %s", strerror(-err));
		goto out;
	}
	err = kk_nft_send(n, &b);
	kk_nft_batch_free(&b);
	if (err == 0)
		err = check(n, &o);
out:
	if (t != NULL)
		nftnl_table_free(t);
	kk_nft_objects_free(&o);
	return err;
}

int
kk_nft_drill_verify(struct kk_nft *n, const struct kk_nft_spec *spec)
{
	struct kk_nft_objects o;
	int err;

	if ((err = drill_objects(n, spec, &o)) < 0)
		return err;
	err = check(n, &o);
	kk_nft_objects_free(&o);
	return err;
}

int
kk_nft_drill_refresh(struct kk_nft *n, uint64_t gate_ms)
{
	struct kk_nft_batch b;
	int err;

	if ((err = kk_nft_batch_gate(&b, KK_DRILL_TABLE, gate_ms,
	    n->seq + 1)) < 0)
		return kk_nft_seterr(n, err, "building the gate batch: %s",
		    strerror(-err));
	err = kk_nft_send(n, &b);
	kk_nft_batch_free(&b);
	return err;
}

int
kk_nft_drill_exists(struct kk_nft *n)
{
	struct nftnl_table *t = NULL;
	int err;

	if ((err = drill_table(n, &t)) < 0 || t == NULL)
		return err;
	nftnl_table_free(t);
	return 1;
}

int
kk_nft_drill_remove(struct kk_nft *n)
{
	struct kk_nft_plan plan;
	struct kk_nft_batch b;
	struct nftnl_table *t = NULL;
	int err;

	if ((err = drill_table(n, &t)) < 0 || t == NULL)
		return err;
	memset(&plan, 0, sizeof(plan));
	plan.family = NFPROTO_INET;
	snprintf(plan.name, sizeof(plan.name), "%s", KK_DRILL_TABLE);
	plan.exists = true;
	plan.prev_flags = nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS);
	nftnl_table_free(t);
	if ((err = kk_nft_batch_build(&b, &plan, 1, n->seq + 1)) < 0)
		return kk_nft_seterr(n, err, "building batch: %s",
		    strerror(-err));
	err = kk_nft_send(n, &b);
	kk_nft_batch_free(&b);
	return err;
}
