/*
 * Apply a spec: plan what changes, send the batch built by build.c as
 * one transaction (send.c), and read the tables back (readback.c).  The
 * nftables events of other processes touching them: monitor.c.
 *
 * The socket that creates the table owns it (NFT_TABLE_F_OWNER): every
 * later change must come through the same socket, so kakurid keeps one
 * open for its whole life.  With NFT_TABLE_F_PERSIST the table outlives
 * the socket (kakurid's death) and a new kakurid claims it again.
 */
#include <errno.h>
#include <stdarg.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "nft.h"
#include "memo.h"
#include "nlreq.h"
#include "readback.h"
#include "send.h"

int
kk_nft_open(struct kk_nft *n)
{
	struct timeval tv = { .tv_sec = KK_NFT_RECV_TIMEOUT_MS / 1000 };
	const int one = 1;

	memset(n, 0, sizeof(*n));
	n->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (n->nl == NULL)
		return kk_nft_seterr(n, -errno, "netlink socket: %s", strerror(errno));
	/* the kernel's word only: see kk_nl_kernel_only */
	if (mnl_socket_bind(n->nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    kk_nl_kernel_only(n->nl) < 0) {
		int err = -errno;

		kk_nl_close(&n->nl);
		return kk_nft_seterr(n, err, "netlink bind: %s", strerror(-err));
	}
	/* every receive is bounded: a silent kernel must not hang kakurid */
	setsockopt(mnl_socket_get_fd(n->nl), SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv));
	/* acks without a copy of the message, with the kernel's offset */
	setsockopt(mnl_socket_get_fd(n->nl), SOL_NETLINK, NETLINK_CAP_ACK,
	    &one, sizeof(one));
	setsockopt(mnl_socket_get_fd(n->nl), SOL_NETLINK, NETLINK_EXT_ACK,
	    &one, sizeof(one));
	n->portid = mnl_socket_get_portid(n->nl);
	n->seq = (uint32_t)time(NULL);
	return 0;
}

void
kk_nft_close(struct kk_nft *n)
{
	kk_nl_close(&n->nl);
	kk_nl_close(&n->mon);
	if (n->memo != NULL) {
		kk_nft_memo_free(n->memo);
		free(n->memo);
		n->memo = NULL;
	}
}

/* What the kernel has under one name in one family. */
struct tstate {
	bool exists;
	int family;
	char name[KK_NFT_NAME_MAX];
	uint32_t flags;
	uint32_t owner;		/* netlink port of an owner table */
	bool held;		/* another socket's owner table: untouchable */
	bool has_mode;
	enum kk_mode mode;
	char episode[KK_EPISODE_HEX + 1];
	char comment[128];	/* the table's, as kk_nft_table_comment reads it */
};

static void
tstate_of(const struct kk_nft *n, const struct nftnl_table *t,
    struct tstate *ts)
{
	memset(ts, 0, sizeof(*ts));
	ts->exists = true;
	ts->family = (int)nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY);
	snprintf(ts->name, sizeof(ts->name), "%s",
	    nftnl_table_get_str(t, NFTNL_TABLE_NAME));
	ts->flags = nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS);
	if (nftnl_table_is_set(t, NFTNL_TABLE_OWNER))
		ts->owner = nftnl_table_get_u32(t, NFTNL_TABLE_OWNER);
	ts->held = (ts->flags & KK_NFT_F_OWNER) && ts->owner != n->portid;
	if (kk_nft_table_comment(t, ts->comment, sizeof(ts->comment)) == 0 &&
	    kk_nft_comment_parse(ts->comment, &ts->mode, ts->episode) == 0)
		ts->has_mode = true;
}

/* One targeted GETTABLE: what is under name in family. */
static int
table_state(struct kk_nft *n, int family, const char *name, struct tstate *ts)
{
	struct nftnl_table *t;
	int err;

	memset(ts, 0, sizeof(*ts));
	ts->family = family;
	snprintf(ts->name, sizeof(ts->name), "%s", name);
	if ((err = kk_nft_get_table(n, family, name, &t)) < 0)
		return kk_nft_seterr(n, err, "reading table %s %s: %s",
		    kk_nft_family_name(family), name, strerror(-err));
	if (t != NULL) {
		tstate_of(n, t, ts);
		ts->family = family;
		nftnl_table_free(t);
	}
	return 0;
}

/*
 * The random fallback names kakurid's tables may have, besides the two
 * fixed names every apply checks anyway.
 */
static bool
name_fixed(const char *name)
{
	return strcmp(name, KK_TABLE_NAME) == 0 ||
	    strcmp(name, KK_FALLBACK_NAME) == 0;
}

static void
known_add(struct kk_nft *n, const char *name)
{
	size_t i;

	if (name_fixed(name) || !kk_nft_name_ours(name))
		return;
	for (i = 0; i < n->nknown; i++)
		if (strcmp(n->known[i], name) == 0)
			return;
	/* more are left alone: each apply removes what it checked */
	if (n->nknown < KK_NFT_KNOWN_MAX)
		snprintf(n->known[n->nknown++], KK_NFT_NAME_MAX, "%s", name);
}

/*
 * Start-up: a dump of every table, the only time kakurid reads more than
 * its own, to find fallback tables an earlier kakurid left (persistent
 * ones survive it).  Fails closed on nothing: the fixed names are read
 * with targeted requests anyway.
 */
struct scan {
	struct kk_nft *n;
	int family;
	struct kk_nft_table_info *ti;
};

static void
info_add(struct kk_nft_table_info *ti, const struct tstate *ts)
{
	if (!ts->exists || ts->family != NFPROTO_INET)
		return;
	ti->exists = true;
	/* the strictest mode any of them records: fail closed */
	if (!ts->has_mode || (ti->has_mode && ts->mode <= ti->mode))
		return;
	ti->has_mode = true;
	ti->mode = ts->mode;
	snprintf(ti->episode, sizeof(ti->episode), "%s", ts->episode);
}

static int
scan_cb(const struct nlmsghdr *nlh, void *data)
{
	struct scan *sc = data;
	struct nftnl_table *t = nftnl_table_alloc();
	struct tstate ts;
	const char *name;

	if (t == NULL)
		return MNL_CB_ERROR;
	if (nftnl_table_nlmsg_parse(nlh, t) < 0) {
		nftnl_table_free(t);
		return MNL_CB_ERROR;
	}
	name = nftnl_table_get_str(t, NFTNL_TABLE_NAME);
	if (name != NULL && strlen(name) < KK_NFT_NAME_MAX &&
	    kk_nft_name_ours(name) && !name_fixed(name) &&
	    nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY) == (uint32_t)sc->family) {
		tstate_of(sc->n, t, &ts);
		info_add(sc->ti, &ts);
		if (!ts.held)
			known_add(sc->n, name);
	}
	nftnl_table_free(t);
	return MNL_CB_OK;
}

int
kk_nft_table_info(struct kk_nft *n, struct kk_nft_table_info *ti)
{
	static const char *const fixed[] = { KK_TABLE_NAME, KK_FALLBACK_NAME };
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct scan sc = { .n = n, .ti = ti };
	struct nlmsghdr *nlh;
	struct tstate ts;
	int i, k, err;

	memset(ti, 0, sizeof(*ti));
	for (k = 0; k < 2; k++) {
		if ((err = table_state(n, NFPROTO_INET, fixed[k], &ts)) < 0)
			return err;
		info_add(ti, &ts);
	}
	for (i = 0; i < KK_NFT_FAMILIES; i++) {
		sc.family = kk_nft_families[i];
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE,
		    (uint16_t)sc.family, NLM_F_DUMP, ++n->seq);
		if ((err = kk_nl_request(n->nl, nlh, scan_cb, &sc)) < 0) {
			kk_nft_seterr(n, err, "listing %s tables for old fallbacks: %s",
			    kk_nft_family_name(sc.family), strerror(-err));
			n->scan_incomplete = true;
		}
	}
	return 0;
}

int
kk_nft_name_held(struct kk_nft *n, const char *name)
{
	struct tstate ts;
	int i, err;

	for (i = 0; i < KK_NFT_FAMILIES; i++) {
		if ((err = table_state(n, kk_nft_families[i], name, &ts)) < 0)
			return err;
		if (ts.held)
			return 1;
	}
	return 0;
}

int
kk_nft_send(struct kk_nft *n, struct kk_nft_batch *b)
{
	int err;

	n->err[0] = '\0';
	n->err_family = 0;
	n->seq = b->seq_last + 1;
	if ((err = kk_nft_send_batch(n, b)) == 0)
		clock_gettime(CLOCK_REALTIME, &n->committed);
	return err;
}

/* The objects of every table spec wants, in family order. */
static int
build_all(struct kk_nft *n, const struct kk_nft_spec *spec,
    struct kk_nft_objects o[KK_NFT_FAMILIES], size_t *no)
{
	int i, err;

	*no = 0;
	for (i = 0; i < KK_NFT_FAMILIES; i++) {
		err = kk_nft_objects_build(spec, kk_nft_families[i], &o[*no]);
		if (err == -ENOENT)
			continue;
		if (err < 0)
			return kk_nft_seterr(n, err, "building table: %s",
			    strerror(-err));
		(*no)++;
	}
	return 0;
}

static void
free_all(struct kk_nft_objects *o, size_t no)
{
	size_t i;

	for (i = 0; i < no; i++)
		kk_nft_objects_free(&o[i]);
}

static int
verify(struct kk_nft *n, const struct kk_nft_spec *spec, enum kk_nft_check how)
{
	struct kk_nft_objects o[KK_NFT_FAMILIES];
	size_t no;
	int err;

	if ((err = build_all(n, spec, o, &no)) == 0)
		err = kk_nft_check(n, o, no, kk_nft_spec_name(spec), how, 0);
	free_all(o, no);
	return err;
}

int
kk_nft_verify(struct kk_nft *n, const struct kk_nft_spec *spec)
{
	return verify(n, spec, KK_NFT_CHECK_CHEAP);
}

int
kk_nft_verify_full(struct kk_nft *n, const struct kk_nft_spec *spec)
{
	return verify(n, spec, KK_NFT_CHECK_FULL);
}

/* Whether any of the tables o[0..no) holds interval sets (block lists). */
static bool
has_ranges(const struct kk_nft_objects *o, size_t no)
{
	size_t i, k;

	for (i = 0; i < no; i++)
		for (k = 0; k < o[i].nsets; k++)
			if (o[i].ranges[k] != NULL)
				return true;
	return false;
}

/*
 * Whether p's inet table can change in place (build.c): it is there under
 * the name wanted, with the comment (mode, episode) and the flags wanted,
 * and block lists are wanted in it.  Anything else is made anew.  A table
 * without block lists wanted is made anew even when it holds some: the
 * window in place avoids (build.c) is one where a block list's elements
 * are not found while the transaction is prepared, and a block list that
 * is not wanted blocks nothing after it either way.  So a re-apply
 * without block lists reads nothing more than the table's state.
 */
static bool
inplace(struct kk_nft *n, const struct kk_nft_plan *p,
    const struct tstate *ts, struct kk_nft_names *keep)
{
	char comment[128];

	if (p->o == NULL || !p->exists || p->family != NFPROTO_INET ||
	    nftnl_table_get_u32(p->o->table, NFTNL_TABLE_FLAGS) !=
	    p->prev_flags)
		return false;
	/* another mode or episode (an isolate, a release): made anew */
	kk_nft_table_comment(p->o->table, comment, sizeof(comment));
	if (strcmp(comment, ts->comment) != 0)
		return false;
	if (!has_ranges(p->o, 1))
		return false;
	/* the names, and the comment again: the table as it is now */
	if (kk_nft_table_names(n, p->family, p->name, keep) < 0)
		return false;
	return strcmp(comment, keep->comment) == 0;
}

/*
 * What the batch does: spec's tables replace whatever is under its name,
 * and every other table of kakurid's names that kakurid may touch goes.
 * Each name is read with a targeted request (never a dump of every table
 * in the namespace): the spec's, the two fixed ones, and the random
 * fallback names kakurid knows of.
 */
static int
make_plan(struct kk_nft *n, const struct kk_nft_spec *spec,
    const struct kk_nft_objects *o, size_t no, struct kk_nft_plan *plan,
    size_t *np, struct kk_nft_names *keep)
{
	const char *name = kk_nft_spec_name(spec);
	const char *names[KK_NFT_KNOWN_MAX + 3];
	const struct kk_nft_objects *want;
	struct kk_nft_plan *p;
	struct tstate ts;
	size_t nnames = 0, i, k;
	int f, err;

	names[nnames++] = name;
	if (strcmp(name, KK_TABLE_NAME) != 0)
		names[nnames++] = KK_TABLE_NAME;
	if (strcmp(name, KK_FALLBACK_NAME) != 0)
		names[nnames++] = KK_FALLBACK_NAME;
	for (i = 0; i < n->nknown; i++)
		if (strcmp(n->known[i], name) != 0)
			names[nnames++] = n->known[i];
	*np = 0;
	for (i = 0; i < nnames; i++) {
		for (f = 0; f < KK_NFT_FAMILIES; f++) {
			if ((err = table_state(n, kk_nft_families[f], names[i],
			    &ts)) < 0)
				return err;
			want = NULL;
			for (k = 0; i == 0 && k < no; k++)
				if (o[k].family == kk_nft_families[f])
					want = &o[k];
			if (want != NULL && ts.held)
				return kk_nft_seterr(n, -EPERM,
				    "table %s %s is held by another process (netlink port %u)",
				    kk_nft_family_name(ts.family), name, ts.owner);
			if (ts.held || (!ts.exists && want == NULL))
				continue;
			p = &plan[(*np)++];
			memset(p, 0, sizeof(*p));
			p->family = ts.family;
			snprintf(p->name, sizeof(p->name), "%s", names[i]);
			p->exists = ts.exists;
			p->prev_flags = ts.flags;
			p->o = want;
			if (keep != NULL && inplace(n, p, &ts, keep))
				p->keep = keep;
		}
	}
	return 0;
}

/*
 * Whether the batch deletes an inet table and makes it anew with block
 * lists in it: while the kernel prepares it (the elements take seconds
 * at 100k), the old table's set lookups no longer match (see build.c).
 */
static bool
window(const struct kk_nft_plan *plan, size_t np)
{
	size_t i;

	for (i = 0; i < np; i++)
		if (plan[i].family == NFPROTO_INET && plan[i].exists &&
		    plan[i].keep == NULL && plan[i].o != NULL &&
		    has_ranges(plan[i].o, 1))
			return true;
	return false;
}

/*
 * The first transaction of a version swap, when a table changed in place
 * brings a new version's sets; then the plan again, from what the kernel
 * holds now.
 */
static int
bridge(struct kk_nft *n, const struct kk_nft_spec *spec,
    const struct kk_nft_objects *o, size_t no, struct kk_nft_plan *plan,
    size_t *np, struct kk_nft_names *keep)
{
	struct kk_nft_plan first[KK_NFT_FAMILIES];
	struct kk_nft_batch b;
	size_t i, nfirst = 0;
	int err;

	/* only the tables changed in place with a new version: nothing else */
	for (i = 0; i < *np && nfirst < KK_NFT_FAMILIES; i++) {
		if (!kk_nft_plan_new_version(&plan[i]))
			continue;
		first[nfirst] = plan[i];
		first[nfirst++].bridge = true;
	}
	if (nfirst == 0)
		return 0;
	err = kk_nft_batch_build(&b, first, nfirst, n->seq + 1);
	if (err < 0)
		return kk_nft_seterr(n, err, "building batch: %s",
		    strerror(-err));
	n->seq = b.seq_last + 1;
	err = kk_nft_send_batch(n, &b);
	kk_nft_batch_free(&b);
	if (err < 0)
		return err;
	return make_plan(n, spec, o, no, plan, np, keep);
}

/* One batch for spec, or -EAGAIN when it would open a window and may not. */
static int
apply_once(struct kk_nft *n, const struct kk_nft_spec *spec,
    struct kk_nft_names *keep, bool may_open, bool *kept)
{
	struct kk_nft_objects o[KK_NFT_FAMILIES];
	struct kk_nft_plan plan[KK_NFT_FAMILIES * (KK_NFT_KNOWN_MAX + 3)];
	struct kk_nft_batch b;
	size_t no = 0, np, i;
	struct kk_nft_written written[KK_NFT_FAMILIES];
	struct kk_nft_plan first;
	enum kk_nft_check how;
	uint32_t gen_before = 0, commits = 1;
	int err;

	n->err[0] = '\0';
	n->err_family = 0;
	memset(o, 0, sizeof(o));
	if ((err = build_all(n, spec, o, &no)) < 0 ||
	    (err = make_plan(n, spec, o, no, plan, &np, keep)) < 0)
		goto out;
	for (i = 0, *kept = false; i < np; i++)
		*kept = *kept || plan[i].keep != NULL;
	if (!may_open && window(plan, np)) {
		err = -EAGAIN;
		goto out;
	}
	/*
	 * The generation before our commits settles the interval sets they
	 * write, and only those (readback.c, step 2); without it their
	 * elements are read back.  0 is never a generation.
	 */
	how = KK_NFT_CHECK_COMMITTED;
	if (has_ranges(o, no) && kk_nft_genid(n, &gen_before) < 0)
		how = KK_NFT_CHECK_FULL;
	memset(written, 0, sizeof(written));
	for (i = 0; i < np; i++) {
		if (plan[i].o == NULL || !kk_nft_plan_new_version(&plan[i]))
			continue;
		first = plan[i];
		first.bridge = true;
		kk_nft_plan_written(&first, &written[plan[i].o - o]);
		commits = 2;
	}
	/* a new version: its rules hold before the old sets go (build.c) */
	if ((err = bridge(n, spec, o, no, plan, &np, keep)) < 0)
		goto out;
	for (i = 0; i < np; i++)
		if (plan[i].o != NULL)
			kk_nft_plan_written(&plan[i], &written[plan[i].o - o]);
	err = kk_nft_batch_build(&b, plan, np, n->seq + 1);
	if (err < 0) {
		kk_nft_seterr(n, err, "building batch: %s", strerror(-err));
		goto out;
	}
	n->seq = b.seq_last + 1;
	err = kk_nft_send_batch(n, &b);
	kk_nft_batch_free(&b);
	if (err < 0)
		goto out;
	clock_gettime(CLOCK_REALTIME, &n->committed);
	/* the batch removed every other table of kakurid's it could */
	n->nknown = 0;
	known_add(n, kk_nft_spec_name(spec));
	/* nothing is reported done until the kernel shows it */
	err = how == KK_NFT_CHECK_COMMITTED ? kk_nft_check_applied(n, o, no,
	    kk_nft_spec_name(spec), gen_before, commits, written) :
	    kk_nft_check(n, o, no, kk_nft_spec_name(spec), how, gen_before);
out:
	free_all(o, no);
	return err;
}

/*
 * In place where it can be (build.c).  Where the table must be made anew
 * with block lists in it (a change of mode: its comment says the mode),
 * two steps: first anew with every chain dropping by default, so that
 * nothing gets through while the kernel prepares it, then in place as
 * spec says.  Between the two the host is cut off for as long as the
 * first takes: fail closed, never open.  A change in place that does not
 * read back as the spec (a kept set the kernel holds otherwise:
 * tampering), or that the kernel refuses for what another put in the
 * table (anew_after), is done again the same way, from scratch.
 */
static int
apply_held(struct kk_nft *n, const struct kk_nft_spec *spec,
    struct kk_nft_names *keep, bool *kept)
{
	struct kk_nft_spec held = *spec;
	int err;

	held.hold = true;
	if ((err = apply_once(n, &held, NULL, true, kept)) < 0)
		return err;
	return apply_once(n, spec, keep, true, kept);
}

/*
 * Whether a change in place that failed with err is to be made again from
 * scratch: it did not read back as spec (-ESTALE), or the kernel refused
 * it for what is in the table and not kakurid's -- a chain of another's
 * bound to one of its sets (-EBUSY), a base chain made again on another
 * hook or priority (-EEXIST), an object gone meanwhile (-ENOENT).  Root
 * that did that had the restore refused for good, the host open.  Not
 * when the bridge or netdev table was refused (no family, a device gone):
 * the caller leaves those out and tries again.
 */
static bool
anew_after(const struct kk_nft *n, int err)
{
	if (err == -ESTALE)
		return true;
	if (n->err_family == NFPROTO_BRIDGE || n->err_family == NFPROTO_NETDEV)
		return false;
	return err == -EBUSY || err == -EEXIST || err == -ENOENT ||
	    err == -ENOTEMPTY;
}

int
kk_nft_apply(struct kk_nft *n, const struct kk_nft_spec *spec)
{
	struct kk_nft_names *keep = calloc(1, sizeof(*keep));
	bool kept = false;
	int err;

	err = apply_once(n, spec, keep, spec->hold, &kept);
	if (err == -EAGAIN)
		err = apply_held(n, spec, keep, &kept);
	else if (kept && anew_after(n, err))
		err = apply_held(n, spec, NULL, &kept);
	free(keep);
	return err;
}
