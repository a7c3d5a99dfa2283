/*
 * Reading kakurid's tables back from the kernel and comparing them with
 * what they should be, as canonical texts (build.c), object for object.
 *
 * A full read-back lists every element of every set.  An IOC set of
 * 100,000 ranges is 200,000 elements, and the kernel lists an rbtree by
 * walking it from the start again for every 32 KiB of its dump: some 1.5 s
 * of kernel time per 200,000.  So checks do as little as settles them:
 *
 *  1. The ruleset generation (NFT_MSG_GETGEN) changes with every
 *     transaction committed in the namespace.  If it is the one of the
 *     last match against the same objects (the same digest of their
 *     canonical texts), nothing can have changed: no read at all.  This
 *     is what status and the verify timer cost, however large the sets.
 *  2. Otherwise the table, chains, rules and plain sets are read and
 *     compared (a few kilobytes), and the attributes of interval sets.
 *     Their elements are settled without reading them
 *       - when the table is an owner table of kakurid's own socket: no
 *         other socket can change anything in it (NFT_TABLE_F_OWNER);
 *       - right after kakurid's own commits (a version's bridge and its
 *         batch: two), when the generation is the one before them plus
 *         their number: the kernel acknowledged every element in them,
 *         and nothing else was committed since.  Only the sets those
 *         transactions wrote: a set a change in place kept is as
 *         whoever touched it last left it (kk_nft_plan_written), and is
 *         read.
 *  3. Otherwise (no owner flag: kernels without persist, protect =
 *     monitor, and someone committed something) their elements are
 *     dumped, kept compact, sorted and digested, and the digest compared
 *     with the one of the ranges committed.
 *
 * The trade-off: without the owner flag any commit in the namespace (a
 * container runtime adding its rules) costs one element dump at the next
 * check; with it, none.  A match is kept with the whole 32-bit
 * generation read before it (replies carry only its low 16 bits, which
 * 65,536 commits during a long element dump would bring round again).
 * If a commit came while the objects were read, the generation has moved
 * past the one kept, and it never comes back: no later check is settled
 * by that match.  kk_nft_check_reads() decides which step applies; it is
 * pure and unit-tested.
 *
 * Rules' canonical lines, on both sides, are remembered from one check to
 * the next under the exact bytes they were made from (memo.c): printing
 * them was most of an apply's own time.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnftnl/chain.h>
#include <libnftnl/object.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "lines.h"
#include "memo.h"
#include "nft.h"
#include "nftkind.h"
#include "nlreq.h"
#include "objects.h"
#include "readback.h"


/* Whether a table of family has a chain called kk_nft_chain_names[i]. */
static bool
chain_of_family(size_t i, int family)
{
	return (family == NFPROTO_NETDEV) == (i >= KK_NFT_INET_CHAINS);
}

int
kk_nft_seterr(struct kk_nft *n, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(n->err, sizeof(n->err), fmt, ap);
	va_end(ap);
	return err;
}

static int
table_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_table **tp = data;
	struct nftnl_table *t = nftnl_table_alloc();

	if (t == NULL)
		return MNL_CB_ERROR;
	if (nftnl_table_nlmsg_parse(nlh, t) < 0) {
		nftnl_table_free(t);
		return MNL_CB_ERROR;
	}
	if (*tp)
		nftnl_table_free(*tp);
	*tp = t;
	return MNL_CB_OK;
}

int
kk_nft_get_table(struct kk_nft *n, int family, const char *name,
    struct nftnl_table **out)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_table *q;
	struct nlmsghdr *nlh;
	int err;

	*out = NULL;
	q = nftnl_table_alloc();
	if (q == NULL)
		return -ENOMEM;
	nftnl_table_set_str(q, NFTNL_TABLE_NAME, name);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, (uint16_t)family,
	    NLM_F_ACK, ++n->seq);
	nftnl_table_nlmsg_build_payload(nlh, q);
	nftnl_table_free(q);
	err = kk_nl_request(n->nl, nlh, table_cb, out);
	if (err < 0 && *out) {
		nftnl_table_free(*out);
		*out = NULL;
	}
	return err == -ENOENT ? 0 : err;
}

static int
gen_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_gen *g = nftnl_gen_alloc();
	uint32_t *gen = data;

	if (g == NULL)
		return MNL_CB_ERROR;
	if (nftnl_gen_nlmsg_parse(nlh, g) < 0) {
		nftnl_gen_free(g);
		return MNL_CB_ERROR;
	}
	*gen = nftnl_gen_get_u32(g, NFTNL_GEN_ID);
	nftnl_gen_free(g);
	return MNL_CB_OK;
}

int
kk_nft_genid(struct kk_nft *n, uint32_t *gen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	int err;

	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK,
	    ++n->seq);
	if ((err = kk_nl_request(n->nl, nlh, gen_cb, gen)) < 0)
		return kk_nft_seterr(n, err,
		    "reading the ruleset generation: %s", strerror(-err));
	return 0;
}

bool
kk_nft_genid_kept(struct kk_nft *n, uint32_t *gen)
{
	char keep[sizeof(n->err)];
	bool ok;

	memcpy(keep, n->err, sizeof(keep));
	ok = kk_nft_genid(n, gen) == 0;
	memcpy(n->err, keep, sizeof(keep));
	return ok;
}

void
kk_nft_readback_free(struct readback *rb)
{
	size_t i;

	if (rb->table)
		nftnl_table_free(rb->table);
	for (i = 0; i < rb->nchains; i++)
		nftnl_chain_free(rb->chains[i]);
	for (i = 0; i < rb->nsets; i++) {
		nftnl_set_free(rb->sets[i].s);
		kk_nft_elems_free(&rb->sets[i].elems);
	}
	for (i = 0; i < rb->nrules; i++) {
		nftnl_rule_free(rb->rules[i]);
		free(rb->rule_keys[i]);
	}
	memset(rb, 0, sizeof(*rb));
}

/* An object of the table being read back? */
static bool
readback_ours(const struct readback *rb, uint32_t family, const char *table)
{
	return family == (uint32_t)rb->family && table != NULL &&
	    strcmp(table, rb->name) == 0;
}

/*
 * Keep obj, of kind, that a request listed?  Not if it is another table's;
 * not either, overflow noted, if its list is full.
 */
static bool
readback_keep(struct readback *rb, enum kk_nft_kind_id kind, void *obj)
{
	const struct kk_nft_kind *k = &kk_nft_kinds[kind];

	if (!readback_ours(rb, k->get_u32(obj, k->family),
	    k->get_str(obj, k->table)))
		return false;
	if (kind == KK_NFT_CHAIN && rb->nchains < nitems(rb->chains))
		rb->chains[rb->nchains++] = obj;
	else if (kind == KK_NFT_SET && rb->nsets < nitems(rb->sets))
		rb->sets[rb->nsets++].s = obj;
	else if (kind == KK_NFT_RULE && rb->nrules < nitems(rb->rules))
		rb->rules[rb->nrules++] = obj;
	else {
		/* a full list (tables are read by kk_nft_get_table()) */
		rb->overflow = true;
		return false;
	}
	return true;
}

/* A request of kk_nft_read_objects() and where its replies go. */
struct listing {
	struct readback *rb;
	enum kk_nft_kind_id kind;
};

/* The memo key of the rule just kept, from the bytes the kernel sent. */
static void
rule_key(struct readback *rb, const struct nlmsghdr *nlh)
{
	size_t i = rb->nrules - 1;

	/* none (no memory, an attribute twice): its line is printed */
	if ((rb->rule_keys[i] = malloc(KK_NFT_MEMO_KEY)) != NULL &&
	    kk_nft_memo_key(nlh, KK_NFT_MEMO_HAVE, rb->rule_keys[i]) < 0) {
		free(rb->rule_keys[i]);
		rb->rule_keys[i] = NULL;
	}
}

int
kk_nft_readback_add(struct readback *rb, enum kk_nft_kind_id kind,
    const struct nlmsghdr *nlh)
{
	const struct kk_nft_kind *k = &kk_nft_kinds[kind];
	void *obj = k->alloc();

	if (obj == NULL)
		return -ENOMEM;
	/*
	 * One this libnftnl cannot read (an expression newer than it, which
	 * the kernel takes): never just left out, or a rule that accepts
	 * ahead of the drop would not be seen
	 */
	if (k->parse(nlh, obj) < 0) {
		rb->unreadable = true;
		k->free(obj);
		return 0;
	}
	if (!readback_keep(rb, kind, obj)) {
		k->free(obj);
		return 0;
	}
	if (kind == KK_NFT_RULE && rb->keys)
		rule_key(rb, nlh);
	return 0;
}

static int
object_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct listing *l = data;

	return kk_nft_readback_add(l->rb, l->kind, nlh) < 0 ? MNL_CB_ERROR :
	    MNL_CB_OK;
}

/*
 * Reads the objects of kind in the table read back into rb: the one
 * called name, or all of them when name is NULL.
 */
int
kk_nft_read_objects(struct kk_nft *n, struct readback *rb,
    enum kk_nft_kind_id kind, const char *name)
{
	const struct kk_nft_kind *k = &kk_nft_kinds[kind];
	struct listing l = { .rb = rb, .kind = kind };
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	void *q = k->alloc();

	if (q == NULL)
		return -ENOMEM;
	k->set_str(q, k->table, rb->name);
	if (name != NULL)
		k->set_str(q, (uint16_t)k->name, name);
	nlh = nftnl_nlmsg_build_hdr(buf, k->get, (uint16_t)rb->family,
	    name != NULL ? NLM_F_ACK : NLM_F_DUMP, ++n->seq);
	k->build(nlh, q);
	k->free(q);
	return kk_nl_request(n->nl, nlh, object_cb, &l);
}

static int
elem_cb(const struct nlmsghdr *nlh, void *data)
{
	return kk_nft_elems_parse(data, nlh) < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

/* The wanted set of this name in o, or -1. */
static long
want_set(const struct kk_nft_objects *o, const char *name)
{
	size_t i;

	for (i = 0; o && name && i < o->nsets; i++)
		if (strcmp(nftnl_set_get_str(o->sets[i], NFTNL_SET_NAME),
		    name) == 0)
			return (long)i;
	return -1;
}

static uint64_t
mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

bool
kk_nft_dump_waits(uint64_t now, uint64_t last, uint64_t min)
{
	return min != 0 && last != 0 && now >= last && now - last < min;
}

/*
 * The elements of a wanted set, kept compact and bounded by what is
 * wanted (one more is enough to tell a difference): no one can make
 * kakurid hold a million elements someone added.
 */
static int
read_elems(struct kk_nft *n, struct readback *rb, struct rset *rs,
    const struct kk_nft_objects *o, size_t w, bool settle)
{
	const struct kk_nft_ranges *r = o->ranges[w];
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	size_t max;
	int err;

	rs->wanted = true;
	rs->interval = r != NULL;
	if (r != NULL && settle) {
		rs->nelems = r->nelems;
		memcpy(rs->digest, r->digest, sizeof(rs->digest));
		return 0;
	}
	max = r != NULL ? r->nelems + 1 : KK_NFT_SMALL_MAX + 1;
	if ((err = kk_nft_elems_init(&rs->elems,
	    nftnl_set_get_u32(rs->s, NFTNL_SET_KEY_LEN), max)) < 0)
		return err;
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM,
	    (uint16_t)rb->family, NLM_F_DUMP, ++n->seq);
	nftnl_set_elems_nlmsg_build_payload(nlh, rs->s);
	if ((err = kk_nl_request(n->nl, nlh, elem_cb, &rs->elems)) < 0)
		return err;
	if (r == NULL)
		return 0;
	n->stats.elem_dumps++;
	n->elem_dump_usec = mono_usec();
	rs->nelems = rs->elems.n + (rs->elems.more ? 1 : 0);
	err = kk_nft_elems_digest(&rs->elems, rs->digest);
	kk_nft_elems_free(&rs->elems);
	return err;
}

/* Is t an owner table of this socket?  Then no one else changed it. */
static bool
owned_here(const struct kk_nft *n, const struct nftnl_table *t)
{
	return t != NULL &&
	    (nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS) & KK_NFT_F_OWNER) &&
	    nftnl_table_is_set(t, NFTNL_TABLE_OWNER) &&
	    nftnl_table_get_u32(t, NFTNL_TABLE_OWNER) == n->portid;
}

/*
 * The table name of family as the kernel has it.  With o: also its sets
 * and the elements of those o wants; an interval set is settled without
 * reading it when all are, when written says our commits wrote it, or
 * when owned and the table is an owner table of this socket.
 */
static int
read_back(struct kk_nft *n, int family, const char *name,
    struct readback *rb, const struct kk_nft_objects *o, bool owned,
    bool all, const struct kk_nft_written *written, bool *defer)
{
	size_t i;
	long w;
	bool owner, settle;
	int err;

	memset(rb, 0, sizeof(*rb));
	rb->family = family;
	rb->name = name;
	/* a check's rules (o): keys for the memo, if the handle keeps one */
	rb->keys = o != NULL && n->memo != NULL;
	if ((err = kk_nft_get_table(n, family, name, &rb->table)) < 0 ||
	    rb->table == NULL)
		return err;

	/*
	 * The chains kakurid makes, each by name: a dump would list every
	 * chain of the family.  Others in the table show in its use count.
	 */
	for (i = 0; i < KK_NFT_MAX_CHAINS; i++)
		if (chain_of_family(i, family) &&
		    (err = kk_nft_read_objects(n, rb, KK_NFT_CHAIN,
		    kk_nft_chain_names[i])) < 0 && err != -ENOENT)
			return err;

	if (o != NULL) {
		if ((err = kk_nft_read_objects(n, rb, KK_NFT_SET, NULL)) < 0)
			return err;
		owner = owned && owned_here(n, rb->table);
		for (i = 0; i < rb->nsets; i++) {
			w = want_set(o, nftnl_set_get_str(rb->sets[i].s,
			    NFTNL_SET_NAME));
			/* a set no one wants differs anyway: never read its elements */
			if (w < 0)
				continue;
			settle = all || owner || (written != NULL &&
			    written->set[w]);
			/*
			 * a dump that waits: taken as committed for now, and
			 * the whole check is not a match (-EINPROGRESS)
			 */
			if (!settle && defer != NULL && *defer &&
			    o->ranges[w] != NULL) {
				settle = true;
				defer[1] = true;
			}
			if ((err = read_elems(n, rb, &rb->sets[i], o,
			    (size_t)w, settle)) < 0)
				return err;
		}
	}

	if ((err = kk_nft_read_objects(n, rb, KK_NFT_RULE, NULL)) < 0)
		return err;
	return rb->overflow ? -E2BIG : 0;
}

int
kk_nft_read_back(struct kk_nft *n, int family, const char *name,
    struct readback *rb, const struct kk_nft_objects *o, bool owned,
    bool settled)
{
	return read_back(n, family, name, rb, o, owned, settled, NULL, NULL);
}

/*
 * A set of a block list's version (build.c): a change in place keeps
 * one the kernel holds by name, and writes every other set anew (the
 * others it deletes first).
 */
static bool
versioned(const struct nftnl_set *s)
{
	return nftnl_set_get_u32(s, NFTNL_SET_ID) >= KK_NFT_VERSIONED_ID;
}

static bool
kept_version(const struct kk_nft_plan *p, const struct nftnl_set *s)
{
	const char *name = nftnl_set_get_str(s, NFTNL_SET_NAME);
	size_t k;

	if (!versioned(s))
		return false;
	for (k = 0; k < p->keep->nsets; k++)
		if (strcmp(p->keep->sets[k], name) == 0)
			return true;
	return false;
}

void
kk_nft_plan_written(const struct kk_nft_plan *p, struct kk_nft_written *w)
{
	const struct nftnl_set *s;
	size_t i;
	bool kept;

	for (i = 0; p->o != NULL && i < p->o->nsets; i++) {
		s = p->o->sets[i];
		kept = p->keep != NULL && kept_version(p, s);
		/* made anew: every set; in place: all but those kept; a bridge: new versions */
		if (p->keep == NULL || (!p->bridge && !kept) ||
		    (p->bridge && !kept && versioned(s)))
			w->set[i] = true;
	}
}

static int
have_lines(struct lines *l, struct readback *rb, struct kk_nft_memo *memo)
{
	const struct rule_src src = { .memo = memo, .keys = rb->rule_keys };
	struct setline sl[KK_NFT_MAX_SETS + 8];
	size_t i;

	for (i = 0; i < rb->nsets; i++) {
		struct rset *rs = &rb->sets[i];

		memset(&sl[i], 0, sizeof(sl[i]));
		sl[i].s = rs->s;
		sl[i].name = nftnl_set_get_str(rs->s, NFTNL_SET_NAME);
		sl[i].interval = rs->interval;
		sl[i].nelems = rs->nelems;
		sl[i].digest = rs->digest;
		sl[i].elems = rs->wanted && !rs->interval ? &rs->elems : NULL;
	}
	return kk_nft_table_lines(l, rb->table, rb->chains, rb->nchains, sl,
	    rb->nsets, rb->rules, rb->nrules, &src);
}

/* Compare o's lines want[first..first+count) with the kernel's. */
static int
compare(struct kk_nft *n, const struct kk_nft_objects *o,
    const struct lines *want, size_t first, size_t count, struct readback *rb)
{
	struct lines have = { 0 };
	char *const *w = want->v + first;
	size_t i, d;
	int err;

	if (rb->table == NULL)
		return kk_nft_seterr(n, -ESTALE, "table %s %s is missing",
		    kk_nft_family_name(rb->family), rb->name);
	if ((err = have_lines(&have, rb, n->memo)) < 0) {
		kk_nft_seterr(n, err, "comparing table: %s", strerror(-err));
		goto out;
	}
	for (i = 0; i < count && i < have.n; i++) {
		if (strcmp(w[i], have.v[i]) == 0)
			continue;
		/* name the object and show where it starts to differ */
		for (d = 0; w[i][d] && w[i][d] == have.v[i][d]; d++)
			;
		d = d > 24 ? d - 24 : 0;
		err = kk_nft_seterr(n, -ESTALE,
		    "kernel differs in %s %s {%.60s}: want \"...%.80s\" have \"...%.80s\"",
		    kk_nft_family_name(rb->family), rb->name, w[i], w[i] + d,
		    have.v[i] + d);
		goto out;
	}
	if (count != have.n) {
		err = kk_nft_seterr(n, -ESTALE,
		    "kernel has %zu objects in %s %s, want %zu", have.n,
		    kk_nft_family_name(rb->family), rb->name, count);
		goto out;
	}
	/* chains, sets and stateful objects of other names count here */
	if (nftnl_table_is_set(rb->table, NFTNL_TABLE_USE) &&
	    nftnl_table_get_u32(rb->table, NFTNL_TABLE_USE) !=
	    o->nchains + o->nsets + o->nobjs) {
		err = kk_nft_seterr(n, -ESTALE,
		    "kernel has %u chains, sets or objects in %s %s, want %zu",
		    nftnl_table_get_u32(rb->table, NFTNL_TABLE_USE),
		    kk_nft_family_name(rb->family), rb->name,
		    o->nchains + o->nsets + o->nobjs);
		goto out;
	}
	err = 0;
out:
	kk_nft_lines_free(&have);
	return err;
}

enum kk_nft_reads
kk_nft_check_reads(enum kk_nft_check how, const struct kk_nft_gens *g)
{
	bool same = g->verified_valid && g->same_objects;

	if (how == KK_NFT_CHECK_FULL)
		return KK_NFT_READ_ALL;
	/* 1: nothing was committed since the last match of the same objects */
	if (how == KK_NFT_CHECK_CHEAP && same && g->gen_ok &&
	    g->gen == g->verified_gen)
		return KK_NFT_READ_NOTHING;
	/*
	 * 2: right after our commits, when the generation is the one before
	 * them plus their number (0 is never a generation: none was read)
	 */
	if (how == KK_NFT_CHECK_COMMITTED && g->gen_ok && g->gen_before != 0 &&
	    g->commits != 0 && g->gen == g->gen_before + g->commits)
		return KK_NFT_READ_SETTLED;
	/* an owner table of our socket holds what we last committed */
	if (how == KK_NFT_CHECK_COMMITTED || (how == KK_NFT_CHECK_CHEAP && same))
		return KK_NFT_READ_OWNED;
	/* 3: else the elements are read */
	return KK_NFT_READ_ALL;
}

static int
check(struct kk_nft *n, const struct kk_nft_objects *o, size_t no,
    const char *name, enum kk_nft_check how, uint32_t gen_before,
    uint32_t commits, const struct kk_nft_written *written)
{
	struct lines want = { 0 };
	struct readback rb;
	struct kk_nft_gens g = { .gen_before = gen_before, .commits = commits };
	size_t first[KK_NFT_FAMILIES + 1], i;
	unsigned char digest[32];
	enum kk_nft_reads reads;
	/* [0]: dumps wait (the monitor, too soon after the last); [1]: one did */
	bool defer[2] = { false, false };
	int err = 0;

	/* a turn of the memo: what the check before did not use goes */
	if (n->memo != NULL)
		kk_nft_memo_turn(n->memo);
	for (i = 0; err == 0 && i < no; i++) {
		first[i] = want.n;
		err = kk_nft_want_lines(&want, &o[i], n->memo);
	}
	first[no] = want.n;
	if (err == 0)
		err = kk_nft_digest_lines(&want, digest);
	if (err < 0) {
		kk_nft_seterr(n, err, "building the canonical table: %s",
		    strerror(-err));
		goto out;
	}
	g.gen_ok = kk_nft_genid(n, &g.gen) == 0;
	g.verified_valid = n->verified.valid;
	g.verified_gen = n->verified.gen;
	g.same_objects = memcmp(n->verified.digest, digest,
	    sizeof(digest)) == 0;
	if ((reads = kk_nft_check_reads(how, &g)) == KK_NFT_READ_NOTHING) {
		n->stats.cheap++;
		goto out;
	}
	n->stats.full++;
	n->verified.valid = false;
	defer[0] = how == KK_NFT_CHECK_CHEAP &&
	    kk_nft_dump_waits(mono_usec(), n->elem_dump_usec, n->defer_usec);
	for (i = 0; err == 0 && i < no; i++) {
		/* settled: only what our commits wrote, never a set they kept */
		err = read_back(n, o[i].family, name, &rb, &o[i],
		    reads != KK_NFT_READ_ALL, false,
		    reads == KK_NFT_READ_SETTLED && written != NULL ?
		    &written[i] : NULL, defer);
		if (err == -E2BIG)
			err = kk_nft_seterr(n, -ESTALE,
			    "table %s %s has more objects than kakurid made",
			    kk_nft_family_name(o[i].family), name);
		else if (err == 0 && rb.unreadable)
			err = kk_nft_seterr(n, -ESTALE,
			    "table %s %s has an object libnftnl cannot read",
			    kk_nft_family_name(o[i].family), name);
		else if (err < 0)
			kk_nft_seterr(n, err, "reading back table %s %s: %s",
			    kk_nft_family_name(o[i].family), name,
			    strerror(-err));
		else
			err = compare(n, &o[i], &want, first[i],
			    first[i + 1] - first[i], &rb);
		kk_nft_readback_free(&rb);
	}
	/*
	 * A match holds for the generation read before it.  Nothing needs
	 * reading again after: the generation only ever grows, so if a
	 * commit came in while the objects were read (what was read may be
	 * newer than gen), the generation is no longer gen and no later
	 * check takes this match for it (kk_nft_check_reads, step 1).
	 */
	if (err == 0 && defer[1]) {
		/* all but the block lists' elements match: no match yet */
		n->stats.deferred++;
		err = kk_nft_seterr(n, -EINPROGRESS,
		    "block lists' elements not read yet (one dump per %llu ms)",
		    (unsigned long long)n->defer_usec / 1000);
		goto out;
	}
	if (err == 0 && g.gen_ok) {
		n->verified.valid = true;
		n->verified.gen = g.gen;
		memcpy(n->verified.digest, digest, sizeof(digest));
	}
out:
	kk_nft_lines_free(&want);
	return err;
}

int
kk_nft_check(struct kk_nft *n, const struct kk_nft_objects *o, size_t no,
    const char *name, enum kk_nft_check how, uint32_t gen_before)
{
	/* nothing known written: nothing settled by the generation */
	return check(n, o, no, name, how, gen_before, 1, NULL);
}

int
kk_nft_check_applied(struct kk_nft *n, const struct kk_nft_objects *o,
    size_t no, const char *name, uint32_t gen_before, uint32_t commits,
    const struct kk_nft_written *w)
{
	return check(n, o, no, name, KK_NFT_CHECK_COMMITTED, gen_before,
	    commits, w);
}
