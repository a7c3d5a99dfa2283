/*
 * The batch builder, without a kernel: build the batch for a mode, then
 * decode every netlink message in it and check what the kernel would get.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter_bridge.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "foreign.h"
#include "nft.h"
#include "suites.h"
#include "testutil.h"

static const char *const EPISODE = "00112233445566778899aabbccddeeff";

static struct kk_policy *pol;

static void
setup(void)
{
	pol = calloc(1, sizeof(*pol));
	ck_assert_ptr_nonnull(pol);
	kk_test_policy_base(pol);
}

static void
teardown(void)
{
	free(pol);
}

static struct kk_nft_spec
spec_for(enum kk_mode mode)
{
	struct kk_nft_spec s;

	kk_test_nft_spec(&s, pol);
	s.mode = mode;
	s.table_flags = KK_NFT_F_OWNER | KK_NFT_F_PERSIST;
	strcpy(s.episode, EPISODE);
	return s;
}

/* Element keys of one set, decoded by hand from the netlink attributes. */
struct elems {
	int n;
	uint8_t key[2 * KK_MAX_ADDRS + KK_MAX_PORTS][16];
	uint16_t len[2 * KK_MAX_ADDRS + KK_MAX_PORTS];
};

static void
decode_elems(const struct nlmsghdr *nlh, struct elems *out)
{
	const struct nlattr *a, *list, *elem, *key, *val;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) != NFTA_SET_ELEM_LIST_ELEMENTS)
			continue;
		list = a;
		mnl_attr_for_each_nested(elem, list) {
			/* libnftnl numbers list items 1..n; the kernel ignores the type */
			mnl_attr_for_each_nested(key, elem) {
				if (mnl_attr_get_type(key) != NFTA_SET_ELEM_KEY)
					continue;
				mnl_attr_for_each_nested(val, key) {
					ck_assert_uint_eq(mnl_attr_get_type(val),
					    NFTA_DATA_VALUE);
					ck_assert_int_lt(out->n,
					    2 * KK_MAX_ADDRS + KK_MAX_PORTS);
					ck_assert_uint_le(mnl_attr_get_payload_len(val),
					    16);
					out->len[out->n] =
					    mnl_attr_get_payload_len(val);
					memcpy(out->key[out->n],
					    mnl_attr_get_payload(val),
					    out->len[out->n]);
					out->n++;
				}
			}
		}
	}
}

/* Everything decoded from one batch. */
struct decoded {
	int begin, end;
	int ntables, ndeltables, nchains, nsets, nelems, nrules;
	int noack;			/* data messages without NLM_F_ACK */
	bool seq_gap;
	uint16_t first_types[3];
	uint8_t table_family[8];	/* of every NEWTABLE, in order */
	char table_name[8][KK_NFT_NAME_MAX];
	int last_del, first_create;	/* message index of each; -1 if none */
	struct nftnl_chain *chains[8];
	struct nftnl_rule *rules[KK_NFT_MAX_RULES];
	struct nftnl_set *sets[KK_NFT_MAX_SETS];
	uint32_t rule_seq[KK_NFT_MAX_RULES];
	uint32_t table_flags;
	struct elems elems[KK_NFT_MAX_SETS];	/* per set, same index */
};

static void decode_page(const char *buf, size_t len, struct decoded *d,
    int *k, uint32_t *prev_seq);

static void
decode(const struct kk_nft_batch *b, struct decoded *d)
{
	uint32_t prev_seq = 0;
	size_t i;
	int k = 0;

	memset(d, 0, sizeof(*d));
	d->last_del = d->first_create = -1;
	for (i = 0; i < b->npages; i++)
		decode_page(b->pages[i].buf, b->pages[i].len, d, &k, &prev_seq);
}

static void
decode_page(const char *buf, size_t len, struct decoded *d, int *kp,
    uint32_t *prevp)
{
	const struct nlmsghdr *nlh = (const void *)buf;
	int left = (int)len, k = *kp;
	uint32_t prev_seq = *prevp;

	for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left), k++) {
		uint16_t type = nlh->nlmsg_type;

		if (k > 0 && nlh->nlmsg_seq != prev_seq + 1)
			d->seq_gap = true;
		prev_seq = nlh->nlmsg_seq;
		if (type == NFNL_MSG_BATCH_BEGIN) {
			d->begin++;
			continue;
		}
		if (type == NFNL_MSG_BATCH_END) {
			d->end++;
			continue;
		}
		ck_assert_int_eq(NFNL_SUBSYS_ID(type), NFNL_SUBSYS_NFTABLES);
		if (!(nlh->nlmsg_flags & NLM_F_ACK))
			d->noack++;
		if (k - 1 < 3)
			d->first_types[k - 1] = NFNL_MSG_TYPE(type);
		switch (NFNL_MSG_TYPE(type)) {
		case NFT_MSG_NEWTABLE: {
			struct nftnl_table *t = KK_NFT_PARSED(table, nlh);
			const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);

			ck_assert(kk_nft_name_ours(nftnl_table_get_str(t,
			    NFTNL_TABLE_NAME)));
			ck_assert_int_lt(d->ntables, 8);
			d->table_family[d->ntables] = g->nfgen_family;
			snprintf(d->table_name[d->ntables], KK_NFT_NAME_MAX, "%s",
			    nftnl_table_get_str(t, NFTNL_TABLE_NAME));
			d->table_flags = nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS);
			if ((nlh->nlmsg_flags & NLM_F_EXCL) && d->first_create < 0)
				d->first_create = k;
			nftnl_table_free(t);
			d->ntables++;
			break;
		}
		case NFT_MSG_DELTABLE:
			d->ndeltables++;
			d->last_del = k;
			break;
		case NFT_MSG_NEWCHAIN:
			d->chains[d->nchains++] = KK_NFT_PARSED(chain, nlh);
			break;
		case NFT_MSG_NEWSET:
			d->sets[d->nsets++] = KK_NFT_PARSED(set, nlh);
			break;
		case NFT_MSG_NEWSETELEM: {
			/* attach to the set declared just before */
			ck_assert_int_gt(d->nsets, 0);
			decode_elems(nlh, &d->elems[d->nsets - 1]);
			d->nelems++;
			break;
		}
		case NFT_MSG_NEWRULE:
			d->rule_seq[d->nrules] = nlh->nlmsg_seq;
			d->rules[d->nrules++] = KK_NFT_PARSED(rule, nlh);
			break;
		default:
			ck_abort_msg("unexpected message type %u", type);
		}
	}
	ck_assert_int_eq(left, 0);
	*kp = k;
	*prevp = prev_seq;
}

static void
decoded_free(struct decoded *d)
{
	int i;

	for (i = 0; i < d->nchains; i++)
		nftnl_chain_free(d->chains[i]);
	for (i = 0; i < d->nsets; i++)
		nftnl_set_free(d->sets[i]);
	for (i = 0; i < d->nrules; i++)
		nftnl_rule_free(d->rules[i]);
}

/* A plan for the inet table of o: replace it if it exists, else create it. */
static struct kk_nft_plan
plan_for(const struct kk_nft_objects *o, bool exists)
{
	struct kk_nft_plan p;

	memset(&p, 0, sizeof(p));
	p.family = o->family;
	snprintf(p.name, sizeof(p.name), "%s",
	    nftnl_table_get_str(o->table, NFTNL_TABLE_NAME));
	p.exists = exists;
	p.o = o;
	return p;
}

static void
build(enum kk_mode mode, bool exists, struct kk_nft_spec *spec,
    struct kk_nft_objects *o, struct kk_nft_batch *b, struct decoded *d)
{
	struct kk_nft_plan p;

	*spec = spec_for(mode);
	ck_assert_int_eq(kk_nft_objects_build(spec, NFPROTO_INET, o), 0);
	p = plan_for(o, exists);
	ck_assert_int_eq(kk_nft_batch_build(b, &p, 1, 1000), 0);
	decode(b, d);
}

static void
release(struct kk_nft_objects *o, struct kk_nft_batch *b, struct decoded *d)
{
	decoded_free(d);
	kk_nft_batch_free(b);
	kk_nft_objects_free(o);
}

static bool
rule_has_meta(const struct nftnl_rule *r, uint32_t key)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e;
	bool found = false;

	while ((e = nftnl_expr_iter_next(it)) != NULL)
		if (strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), "meta") == 0 &&
		    nftnl_expr_get_u32(e, NFTNL_EXPR_META_KEY) == key)
			found = true;
	nftnl_expr_iter_destroy(it);
	return found;
}

/*
 * find_chain and find_set: what d decoded of the chain or set called
 * name (a set as its elements), or NULL.
 */
#define FIND_NAMED(kind, KIND, type, found)				\
static const type *							\
find_##kind(const struct decoded *d, const char *name)			\
{									\
	int i;								\
									\
	for (i = 0; i < d->n##kind##s; i++)				\
		if (strcmp(nftnl_##kind##_get_str(d->kind##s[i],	\
		    NFTNL_##KIND##_NAME), name) == 0)			\
			return (found);					\
	return NULL;							\
}

FIND_NAMED(chain, CHAIN, struct nftnl_chain, d->chains[i])
FIND_NAMED(set, SET, struct elems, &d->elems[i])

static int
set_size(const struct elems *s)
{
	ck_assert_ptr_nonnull(s);
	return s->n;
}

static bool
set_has_port(const struct elems *s, uint16_t port)
{
	uint16_t be = htons(port);
	int i;

	ck_assert_ptr_nonnull(s);
	for (i = 0; i < s->n; i++)
		if (s->len[i] == 2 && memcmp(s->key[i], &be, 2) == 0)
			return true;
	return false;
}

static const char *
comment_of(const struct nftnl_rule *r, char *buf, size_t len)
{
	char canon[2048];
	char *q1, *q2;

	ck_assert_int_eq(kk_nft_canon_rule(r, canon, sizeof(canon)), 0);
	q1 = strchr(canon, '"');
	q2 = q1 ? strchr(q1 + 1, '"') : NULL;
	ck_assert_ptr_nonnull(q2);
	snprintf(buf, len, "%.*s", (int)(q2 - q1 - 1), q1 + 1);
	return buf;
}

static const struct nftnl_rule *
rule_named(const struct kk_nft_objects *o, const char *chain, const char *part)
{
	char buf[128];
	size_t i;

	for (i = 0; i < o->nrules; i++)
		if (strcmp(nftnl_rule_get_str(o->rules[i], NFTNL_RULE_CHAIN),
		    chain) == 0 &&
		    strstr(comment_of(o->rules[i], buf, sizeof(buf)), part))
			return o->rules[i];
	return NULL;
}

/* Does r load len bytes at off into the header of base? */
static bool
rule_loads_at(const struct nftnl_rule *r, uint32_t base, uint32_t off,
    uint32_t len)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e;
	bool found = false;

	while ((e = nftnl_expr_iter_next(it)) != NULL)
		if (strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), "payload") == 0 &&
		    nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_BASE) == base &&
		    nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET) == off &&
		    nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_LEN) == len)
			found = true;
	nftnl_expr_iter_destroy(it);
	return found;
}

static bool
rule_loads(const struct nftnl_rule *r, uint32_t off, uint32_t len)
{
	return rule_loads_at(r, NFT_PAYLOAD_NETWORK_HEADER, off, len);
}

/* Does r compare a register with these bytes by op? */
static bool
rule_has_cmp(const struct nftnl_rule *r, uint32_t op, const void *data,
    uint32_t len)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e;
	bool found = false;

	while ((e = nftnl_expr_iter_next(it)) != NULL) {
		const void *v;
		uint32_t vlen = 0;

		if (strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), "cmp") != 0 ||
		    nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_OP) != op)
			continue;
		v = nftnl_expr_get(e, NFTNL_EXPR_CMP_DATA, &vlen);
		if (vlen == len && memcmp(v, data, len) == 0)
			found = true;
	}
	nftnl_expr_iter_destroy(it);
	return found;
}

/* Does r compare a register with exactly these bytes (==)? */
static bool
rule_compares(const struct nftnl_rule *r, const void *data, uint32_t len)
{
	return rule_has_cmp(r, NFT_CMP_EQ, data, len);
}

START_TEST(isolated_batch_shape)
{
	struct kk_nft_spec spec;
	struct kk_nft_objects o;
	struct kk_nft_batch b;
	struct decoded d;
	const char *names[] = { "input", "output", "forward" };
	int i;

	build(KK_MODE_ISOLATED, false, &spec, &o, &b, &d);
	ck_assert_int_eq(d.begin, 1);
	ck_assert_int_eq(d.end, 1);
	ck_assert(!d.seq_gap);
	ck_assert_int_eq(d.noack, 0);
	ck_assert_int_eq(d.ntables, 1);
	ck_assert_int_eq(d.ndeltables, 0);
	ck_assert_uint_eq(d.table_flags, KK_NFT_F_OWNER | KK_NFT_F_PERSIST);
	ck_assert_int_eq(d.nchains, 3);
	ck_assert_int_eq(d.nrules, (int)o.nrules);
	for (i = 0; i < 3; i++) {
		const struct nftnl_chain *c = find_chain(&d, names[i]);

		ck_assert_ptr_nonnull(c);
		ck_assert_uint_eq(nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY),
		    NF_DROP);
		ck_assert_str_eq(nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE),
		    "filter");
		/* after conntrack, so ct state is meaningful */
		ck_assert_int_gt(nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO), -200);
	}
	ck_assert_uint_eq(nftnl_chain_get_u32(find_chain(&d, "input"),
	    NFTNL_CHAIN_HOOKNUM), NF_INET_LOCAL_IN);
	ck_assert_uint_eq(nftnl_chain_get_u32(find_chain(&d, "forward"),
	    NFTNL_CHAIN_HOOKNUM), NF_INET_FORWARD);
	ck_assert_int_eq(set_size(find_set(&d, "mgmt4")), 1);
	ck_assert_int_eq(set_size(find_set(&d, "mgmt6")), 1);
	ck_assert(set_has_port(find_set(&d, "mgmt_ports"), 7443));
	ck_assert(set_has_port(find_set(&d, "mgmt_ports"), 7444));
	ck_assert_int_eq(set_size(find_set(&d, "mgmt_ports")), 2);
	/* no DNS pinned: no DNS sets */
	ck_assert_ptr_null(find_set(&d, "dns4"));
	release(&o, &b, &d);
}
END_TEST

START_TEST(isolated_every_chain_ends_in_counted_drop)
{
	struct kk_nft_spec spec;
	struct kk_nft_objects o;
	struct kk_nft_batch b;
	struct decoded d;
	const char *last[3] = { NULL, NULL, NULL };
	const char *names[] = { "input", "output", "forward" };
	const struct nftnl_rule *lastr[3] = { NULL, NULL, NULL };
	int i, k;

	build(KK_MODE_ISOLATED, false, &spec, &o, &b, &d);
	for (i = 0; i < d.nrules; i++) {
		const char *chain = nftnl_rule_get_str(d.rules[i],
		    NFTNL_RULE_CHAIN);

		for (k = 0; k < 3; k++)
			if (strcmp(chain, names[k]) == 0) {
				last[k] = chain;
				lastr[k] = d.rules[i];
			}
	}
	for (k = 0; k < 3; k++) {
		ck_assert_ptr_nonnull(last[k]);
		ck_assert_int_eq(kk_test_verdict(lastr[k]), NF_DROP);
		ck_assert_int_eq(kk_test_exprs(lastr[k], "counter"), 1);
	}
	/* the forward chain accepts nothing at all */
	for (i = 0; i < d.nrules; i++)
		if (strcmp(nftnl_rule_get_str(d.rules[i], NFTNL_RULE_CHAIN),
		    "forward") == 0)
			ck_assert_int_eq(kk_test_verdict(d.rules[i]), NF_DROP);
	release(&o, &b, &d);
}
END_TEST

/*
 * Fail closed: no accept rule is unconditional, and none accepts by
 * "ct state" alone (connections made before isolation must die).
 */
START_TEST(isolated_no_unconditional_accept)
{
	struct kk_nft_spec spec;
	struct kk_nft_objects o;
	struct kk_nft_batch b;
	struct decoded d;
	int i, n, ct;

	build(KK_MODE_ISOLATED, false, &spec, &o, &b, &d);
	for (i = 0; i < d.nrules; i++) {
		if (kk_test_verdict(d.rules[i]) != NF_ACCEPT)
			continue;
		n = kk_test_exprs(d.rules[i], NULL);
		ct = kk_test_exprs(d.rules[i], "ct");
		ck_assert_msg(n >= 3, "rule %d accepts unconditionally", i);
		/* a ct match always comes with an address set lookup */
		if (ct > 0)
			ck_assert_int_ge(kk_test_exprs(d.rules[i], "lookup"),
			    1);
	}
	release(&o, &b, &d);
}
END_TEST

START_TEST(isolated_own_socket_match)
{
	struct kk_nft_spec spec;
	struct kk_nft_objects o;
	struct kk_nft_batch b;
	struct decoded d;
	int i, own = 0;

	build(KK_MODE_ISOLATED, false, &spec, &o, &b, &d);
	for (i = 0; i < d.nrules; i++) {
		if (!rule_has_meta(d.rules[i], NFT_META_SKUID))
			continue;
		/* the only other socket match drops processes' NDP */
		if (kk_test_verdict(d.rules[i]) == NF_DROP)
			continue;
		ck_assert(rule_has_meta(d.rules[i], NFT_META_SKGID));
		ck_assert_str_eq(nftnl_rule_get_str(d.rules[i],
		    NFTNL_RULE_CHAIN), "output");
		own++;
	}
	ck_assert_int_eq(own, 2);	/* IPv4 and IPv6 */
	release(&o, &b, &d);

	/* without a resolvable agent.user there is no outbound exception */
	spec = spec_for(KK_MODE_ISOLATED);
	spec.own_uid_known = false;
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &o), 0);
	for (i = 0; i < (int)o.nrules; i++)
		ck_assert(!rule_has_meta(o.rules[i], NFT_META_SKUID) ||
		    kk_test_verdict(o.rules[i]) == NF_DROP);
	kk_nft_objects_free(&o);
}
END_TEST

/* Does r accept, and load and compare addr (a broker's) anywhere? */
static bool
rule_accepts_addr(const struct nftnl_rule *r, const struct kk_addr *a)
{
	return kk_test_verdict(r) == NF_ACCEPT && rule_compares(r, &a->a,
	    a->family == AF_INET6 ? 16 : 4);
}

/*
 * The broker of the policy at path (not a management peer) while
 * isolated: neither its address nor its port joins the management sets,
 * so it cannot connect to any local port; the one input row that names
 * it takes only its replies (from its port, never a bare SYN), the one
 * output row only kakurid's own socket to its port.  In egress it stays
 * reachable.  Through the parser: the policy is what kakurid loads.
 */
static void
assert_broker_outbound_only(const char *path, const char *broker)
{
	struct kk_nft_spec spec;
	struct kk_nft_objects o;
	struct kk_nft_batch b;
	struct decoded d;
	struct kk_addr a;
	const struct elems *m4, *m6;
	const uint16_t port = htons(8883);
	const uint8_t syn = 0x02;
	char err[512], name[16];
	uint8_t icmp;
	int i, k, in = 0, out = 0, ptb = 0;

	ck_assert_int_eq(kk_addr_parse(broker, &a), 0);
	icmp = a.family == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
	ck_assert_msg(kk_policy_load(path, KK_POLICY_SKIP_OWNER_CHECK, pol,
	    err, sizeof(err)) == 0, "%s", err);
	build(KK_MODE_ISOLATED, false, &spec, &o, &b, &d);
	m4 = find_set(&d, "mgmt4");
	m6 = find_set(&d, "mgmt6");
	ck_assert_ptr_nonnull(m4);
	ck_assert_ptr_nonnull(m6);
	for (i = 0; i < m4->n; i++)
		ck_assert(m4->len[i] != 4 || memcmp(m4->key[i], &a.a, 4) != 0);
	for (i = 0; i < m6->n; i++)
		ck_assert(m6->len[i] != 16 ||
		    memcmp(m6->key[i], &a.a, 16) != 0);
	ck_assert(!set_has_port(find_set(&d, "mgmt_ports"), 8883));
	ck_assert(set_has_port(find_set(&d, "mgmt_ports"), 7443));
	for (i = 0; i < d.nrules; i++) {
		const struct nftnl_rule *r = d.rules[i];
		const char *chain = nftnl_rule_get_str(r, NFTNL_RULE_CHAIN);

		if (!rule_accepts_addr(r, &a))
			continue;
		ck_assert(rule_compares(r, &port, sizeof(port)));
		if (rule_compares(r, &icmp, 1)) {
			/* a "too big" error quoting a segment to it */
			ck_assert_str_eq(chain, "input");
			ck_assert(rule_loads_at(r, NFT_PAYLOAD_TRANSPORT_HEADER,
			    a.family == AF_INET6 ? 32 : 24,
			    a.family == AF_INET6 ? 16 : 4));
			ck_assert(!rule_loads(r, a.family == AF_INET6 ? 8 : 12,
			    a.family == AF_INET6 ? 16 : 4));
			ptb++;
		} else if (strcmp(chain, "input") == 0) {
			/* from the broker: its address and port, no SYN */
			ck_assert(rule_loads(r, a.family == AF_INET6 ? 8 : 12,
			    a.family == AF_INET6 ? 16 : 4));
			ck_assert(rule_has_cmp(r, NFT_CMP_NEQ, &syn, 1));
			ck_assert(!rule_has_meta(r, NFT_META_SKUID));
			in++;
		} else {
			ck_assert_str_eq(chain, "output");
			ck_assert(rule_loads(r, a.family == AF_INET6 ? 24 : 16,
			    a.family == AF_INET6 ? 16 : 4));
			ck_assert(rule_has_meta(r, NFT_META_SKUID));
			ck_assert(rule_has_meta(r, NFT_META_SKGID));
			out++;
		}
	}
	ck_assert_int_eq(in, 1);
	ck_assert_int_eq(out, 1);
	ck_assert_int_eq(ptb, 1);
	/* the sets a broker needs are none: the isolated table's 3 */
	for (k = 0; k < d.nsets; k++) {
		snprintf(name, sizeof(name), "%s",
		    nftnl_set_get_str(d.sets[k], NFTNL_SET_NAME));
		ck_assert_msg(strncmp(name, "mgmt", 4) == 0, "set %s", name);
	}
	release(&o, &b, &d);

	/* without kakurid's uid there is no session to let through */
	spec = spec_for(KK_MODE_ISOLATED);
	spec.own_uid_known = false;
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &o), 0);
	for (i = 0; i < (int)o.nrules; i++)
		ck_assert(!rule_accepts_addr(o.rules[i], &a));
	kk_nft_objects_free(&o);

	/* egress: the broker is reached on its port, web port or not */
	build(KK_MODE_EGRESS, false, &spec, &o, &b, &d);
	for (i = 0, out = 0; i < d.nrules; i++) {
		if (!rule_accepts_addr(d.rules[i], &a))
			continue;
		ck_assert_str_eq(nftnl_rule_get_str(d.rules[i],
		    NFTNL_RULE_CHAIN), "output");
		ck_assert(rule_compares(d.rules[i], &port, sizeof(port)));
		out++;
	}
	ck_assert_int_eq(out, 1);
	release(&o, &b, &d);
}

START_TEST(isolated_broker_is_not_a_peer)
{
	assert_broker_outbound_only("fixtures/fleet_broker_v4.conf",
	    "198.51.100.99");
	assert_broker_outbound_only("fixtures/fleet_valid.conf",
	    "2001:db8::10");
}
END_TEST

START_TEST(isolated_optional_services)
{
	struct kk_nft_spec spec;
	struct kk_nft_objects with, without;
	size_t i;
	bool ndp = false;
	char buf[128];

	spec = spec_for(KK_MODE_ISOLATED);
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &with), 0);
	for (i = 0; i < with.nrules; i++) {
		if (strstr(comment_of(with.rules[i], buf, sizeof(buf)),
		    "neighbour discovery"))
			ndp = true;
	}
	ck_assert(ndp);
	pol->dhcp = false;
	pol->ndp = false;
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &without), 0);
	/*
	 * DHCPv4 and DHCPv6 to or from the broadcast addresses, in and out,
	 * NDP in (one rule) and out (link-local, multicast, the processes'
	 * drop, the kernel's own), and MLD in and out (two rules each) are
	 * gone
	 */
	ck_assert_uint_eq(with.nrules - without.nrules, 4 + 1 + 4 + 4);
	for (i = 0; i < without.nrules; i++) {
		comment_of(without.rules[i], buf, sizeof(buf));
		ck_assert(strstr(buf, "DHCP") == NULL);
		ck_assert(strstr(buf, "neighbour") == NULL);
		ck_assert(strstr(buf, "MLD") == NULL);
	}
	kk_nft_objects_free(&with);
	kk_nft_objects_free(&without);

	/* pinned DNS adds its sets and rules */
	kk_test_addr_add(&pol->dns, "192.0.2.53");
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &with), 0);
	ck_assert_uint_eq(with.nsets, 5);
	kk_nft_objects_free(&with);
}
END_TEST

START_TEST(egress_blocks_mail_and_web_only)
{
	struct kk_nft_spec spec;
	struct kk_nft_objects o;
	struct kk_nft_batch b;
	struct decoded d;
	const struct elems *mail, *web, *quic;
	int i, drops = 0;

	build(KK_MODE_EGRESS, false, &spec, &o, &b, &d);
	ck_assert_int_eq(d.nchains, 2);
	ck_assert_ptr_null(find_chain(&d, "input"));
	ck_assert_uint_eq(nftnl_chain_get_u32(find_chain(&d, "output"),
	    NFTNL_CHAIN_POLICY), NF_ACCEPT);
	ck_assert_uint_eq(nftnl_chain_get_u32(find_chain(&d, "forward"),
	    NFTNL_CHAIN_POLICY), NF_ACCEPT);
	mail = find_set(&d, "mail_tcp");
	web = find_set(&d, "web_tcp");
	quic = find_set(&d, "web_udp");
	ck_assert_ptr_nonnull(mail);
	ck_assert_ptr_nonnull(web);
	ck_assert_ptr_nonnull(quic);
	ck_assert_int_eq(set_size(mail), (int)pol->mail_tcp.n);
	ck_assert(set_has_port(mail, 25));
	ck_assert(set_has_port(mail, 587));
	ck_assert(set_has_port(web, 443));
	ck_assert(!set_has_port(web, 22));
	ck_assert(set_has_port(quic, 443));
	for (i = 0; i < d.nrules; i++) {
		if (kk_test_verdict(d.rules[i]) == NF_DROP) {
			drops++;
			ck_assert_int_eq(kk_test_exprs(d.rules[i], "counter"),
			    1);
			ck_assert_int_eq(kk_test_exprs(d.rules[i], "lookup"),
			    1);
		}
	}
	ck_assert_int_eq(drops, 6);	/* mail, web, quic in output and forward */
	release(&o, &b, &d);
}
END_TEST

START_TEST(open_is_an_empty_table)
{
	struct kk_nft_spec spec;
	struct kk_nft_objects o;
	struct kk_nft_batch b;
	struct decoded d;
	char comment[128];

	build(KK_MODE_OPEN, false, &spec, &o, &b, &d);
	ck_assert_int_eq(d.ntables, 1);
	ck_assert_int_eq(d.nchains + d.nsets + d.nrules, 0);
	ck_assert_int_eq(kk_nft_table_comment(o.table, comment,
	    sizeof(comment)), 0);
	ck_assert_str_eq(comment, "kakuri mode=open");
	release(&o, &b, &d);
}
END_TEST

START_TEST(replace_is_one_transaction)
{
	struct kk_nft_spec spec;
	struct kk_nft_objects o;
	struct kk_nft_batch b;
	struct decoded d;

	build(KK_MODE_ISOLATED, true, &spec, &o, &b, &d);
	ck_assert_int_eq(d.begin, 1);
	ck_assert_int_eq(d.end, 1);
	/* declare (adopt), delete, create: all inside the same batch */
	ck_assert_uint_eq(d.first_types[0], NFT_MSG_NEWTABLE);
	ck_assert_uint_eq(d.first_types[1], NFT_MSG_DELTABLE);
	ck_assert_uint_eq(d.first_types[2], NFT_MSG_NEWTABLE);
	ck_assert_int_eq(d.ndeltables, 1);
	ck_assert_int_eq(d.ntables, 2);
	release(&o, &b, &d);
}
END_TEST

START_TEST(sequence_numbers_name_rules)
{
	struct kk_nft_spec spec;
	struct kk_nft_objects o;
	struct kk_nft_batch b;
	struct decoded d;
	char comment[128];
	int i;

	build(KK_MODE_ISOLATED, false, &spec, &o, &b, &d);
	ck_assert_uint_eq(b.seq_first, 1000);
	for (i = 0; i < d.nrules; i++) {
		const char *what = kk_nft_batch_what(&b, d.rule_seq[i]);

		comment_of(d.rules[i], comment, sizeof(comment));
		ck_assert_msg(strstr(what, comment) != NULL,
		    "seq %u maps to '%s', rule is '%s'", d.rule_seq[i], what,
		    comment);
		ck_assert(strstr(what, nftnl_rule_get_str(d.rules[i],
		    NFTNL_RULE_CHAIN)) != NULL);
	}
	ck_assert_str_eq(kk_nft_batch_what(&b, 5), "batch");
	release(&o, &b, &d);
}
END_TEST

START_TEST(comment_round_trip)
{
	enum kk_mode m;
	char buf[128], ep[KK_EPISODE_HEX + 1];

	ck_assert_int_eq(kk_nft_comment_format(KK_MODE_ISOLATED, EPISODE, buf,
	    sizeof(buf)), 0);
	ck_assert_int_eq(kk_nft_comment_parse(buf, &m, ep), 0);
	ck_assert_int_eq(m, KK_MODE_ISOLATED);
	ck_assert_str_eq(ep, EPISODE);
	ck_assert_int_eq(kk_nft_comment_parse("kakuri mode=open", &m, ep), 0);
	ck_assert_int_eq(m, KK_MODE_OPEN);
	ck_assert_str_eq(ep, "");
	ck_assert_int_lt(kk_nft_comment_parse("kakuri mode=closed", &m, ep), 0);
	ck_assert_int_lt(kk_nft_comment_parse(
	    "kakuri mode=isolated episode=XYZ", &m, ep), 0);
	ck_assert_int_lt(kk_nft_comment_parse(
	    "kakuri mode=isolated episode=00112233445566778899aabbccddeeff00",
	    &m, ep), 0);
	ck_assert_int_lt(kk_nft_comment_parse("something else", &m, ep), 0);
}
END_TEST

/* a and b have the same rules, in the same order, by canonical form. */
static void
assert_same_rules(const struct kk_nft_objects *a,
    const struct kk_nft_objects *b)
{
	char x[2048], y[2048];
	size_t i;

	ck_assert_uint_eq(a->nrules, b->nrules);
	for (i = 0; i < a->nrules; i++) {
		ck_assert_int_eq(kk_nft_canon_rule(a->rules[i], x, sizeof(x)),
		    0);
		ck_assert_int_eq(kk_nft_canon_rule(b->rules[i], y, sizeof(y)),
		    0);
		ck_assert_msg(strcmp(x, y) == 0, "rule %zu: %s, then %s", i, x,
		    y);
	}
}

START_TEST(canonical_forms_detect_changes)
{
	struct kk_nft_spec spec = spec_for(KK_MODE_ISOLATED);
	struct kk_nft_objects a, b;
	char x[2048], y[2048];
	size_t i;

	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &a), 0);
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &b), 0);
	assert_same_rules(&a, &b);
	kk_nft_objects_free(&b);
	/* another peer changes a set's elements */
	ck_assert_int_eq(kk_addr_parse("192.0.2.11", &pol->peers.addr[0]), 0);
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &b), 0);
	ck_assert_int_eq(kk_nft_canon_set(a.sets[0], x, sizeof(x)), 0);
	ck_assert_int_eq(kk_nft_canon_set(b.sets[0], y, sizeof(y)), 0);
	ck_assert_str_ne(x, y);
	ck_assert(strstr(x, "c000020a") != NULL);	/* 192.0.2.10 */
	/* every element is part of the canonical form */
	ck_assert_int_eq(kk_nft_canon_set(a.sets[2], x, sizeof(x)), 0);
	ck_assert_msg(strstr(x, " 1d13 1d14") != NULL, "%s", x);
	kk_nft_objects_free(&b);
	/* another uid changes the own-socket rule */
	spec.own_uid = 12345;
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &b), 0);
	{
		bool differs = false;

		for (i = 0; i < a.nrules; i++) {
			kk_nft_canon_rule(a.rules[i], x, sizeof(x));
			kk_nft_canon_rule(b.rules[i], y, sizeof(y));
			if (strcmp(x, y) != 0)
				differs = true;
		}
		ck_assert(differs);
	}
	/* and table flags are part of the table's canonical form */
	ck_assert_int_eq(kk_nft_canon_table(a.table, x, sizeof(x)), 0);
	nftnl_table_set_u32(b.table, NFTNL_TABLE_FLAGS, 0);
	ck_assert_int_eq(kk_nft_canon_table(b.table, y, sizeof(y)), 0);
	ck_assert_str_ne(x, y);
	kk_nft_objects_free(&a);
	kk_nft_objects_free(&b);
}
END_TEST

START_TEST(limits_are_enforced)
{
	struct kk_nft_spec spec = spec_for(KK_MODE_ISOLATED);
	struct kk_nft_objects o;
	struct kk_nft_batch b;
	struct decoded d;
	size_t i;

	/* the largest policy the parser accepts still builds */
	for (i = 0; i < KK_MAX_ADDRS; i++) {
		pol->peers.addr[i].family = i % 2 ? AF_INET6 : AF_INET;
		memset(&pol->peers.addr[i].a, 0, sizeof(pol->peers.addr[i].a));
		pol->peers.addr[i].a.v6.s6_addr[0] = 0x20;
		pol->peers.addr[i].a.v6.s6_addr[15] = (uint8_t)i;
		if (!(i % 2))
			pol->peers.addr[i].a.v4.s_addr = htonl(0xc0000200 + i);
	}
	pol->peers.n = KK_MAX_ADDRS;
	for (i = 0; i < KK_MAX_PORTS; i++)
		pol->mgmt_ports.port[i] = (uint16_t)(7000 + i);
	pol->mgmt_ports.n = KK_MAX_PORTS;
	memcpy(&pol->dns, &pol->peers, sizeof(pol->dns));
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &o), 0);
	{
		struct kk_nft_plan p = plan_for(&o, true);

		ck_assert_int_eq(kk_nft_batch_build(&b, &p, 1, 1), 0);
	}
	decode(&b, &d);
	ck_assert_int_eq(set_size(find_set(&d, "mgmt4")), KK_MAX_ADDRS / 2);
	ck_assert_int_eq(set_size(find_set(&d, "mgmt_ports")), KK_MAX_PORTS);
	release(&o, &b, &d);
}
END_TEST

/* A batch's bytes, its pages one after the other. */
static uint8_t *
batch_bytes(const struct kk_nft_batch *b, size_t *len)
{
	uint8_t *out = malloc(b->len);
	size_t i, at = 0;

	ck_assert_ptr_nonnull(out);
	for (i = 0; i < b->npages; i++) {
		ck_assert_uint_le(at + b->pages[i].len, b->len);
		memcpy(out + at, b->pages[i].buf, b->pages[i].len);
		at += b->pages[i].len;
	}
	*len = at;
	return out;
}

/*
 * The first arena is kept from one batch to the next (build.c): a batch
 * built in the arena another, larger batch used is byte for byte the one
 * built in fresh memory, attribute padding included.
 */
START_TEST(kept_arena_builds_the_same_bytes)
{
	struct kk_nft_spec spec;
	struct kk_nft_objects o, big;
	struct kk_nft_batch b;
	struct decoded d;
	uint8_t *fresh, *again;
	size_t fresh_len, again_len, i;
	const char *arena;

	kk_nft_batch_cache_drop();
	build(KK_MODE_ISOLATED, true, &spec, &o, &b, &d);
	fresh = batch_bytes(&b, &fresh_len);
	release(&o, &b, &d);

	/* a larger batch, other bytes everywhere, in the kept arena */
	for (i = 0; i < KK_MAX_ADDRS; i++) {
		pol->peers.addr[i].family = AF_INET6;
		memset(&pol->peers.addr[i].a, 0xa5, sizeof(pol->peers.addr[i].a));
		pol->peers.addr[i].a.v6.s6_addr[15] = (uint8_t)i;
	}
	pol->peers.n = KK_MAX_ADDRS;
	spec = spec_for(KK_MODE_ISOLATED);
	spec.own_uid = 0x5a5a5a;
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &big), 0);
	{
		struct kk_nft_plan p = plan_for(&big, true);

		ck_assert_int_eq(kk_nft_batch_build(&b, &p, 1, 77), 0);
	}
	ck_assert_uint_gt(b.len, fresh_len);
	arena = b.pages[0].buf;
	kk_nft_batch_free(&b);
	kk_nft_objects_free(&big);

	/* the first batch again, from the same policy */
	memset(pol, 0, sizeof(*pol));
	kk_test_policy_base(pol);
	build(KK_MODE_ISOLATED, true, &spec, &o, &b, &d);
	ck_assert_ptr_eq(b.pages[0].buf, arena);
	again = batch_bytes(&b, &again_len);
	ck_assert_uint_eq(again_len, fresh_len);
	ck_assert(memcmp(again, fresh, fresh_len) == 0);
	release(&o, &b, &d);
	kk_nft_batch_cache_drop();
	free(fresh);
	free(again);
}
END_TEST

/*
 * The rule of chain whose comment has part: it loads len bytes at off of
 * the network header and compares them with want.
 */
static const struct nftnl_rule *
rule_matching(const struct kk_nft_objects *o, const char *chain,
    const char *part, uint32_t off, const void *want, uint32_t len)
{
	const struct nftnl_rule *r = rule_named(o, chain, part);

	ck_assert_msg(r != NULL, "no rule \"%s\" in %s", part, chain);
	ck_assert_msg(rule_loads(r, off, len) && rule_compares(r, want, len),
	    "%s: another match", part);
	return r;
}

/*
 * DHCP while isolated: never "any address on port 67": to and from the
 * broadcast addresses, DHCPv6 answers from link-local addresses, and the
 * policy's servers only when it lists some.
 */
START_TEST(isolated_dhcp_only_broadcast_or_listed)
{
	static const uint8_t bcast[4] = { 255, 255, 255, 255 };
	static const uint8_t agents[16] = { 0xff, 0x02, [13] = 1, [15] = 2 };
	static const uint8_t ll[2] = { 0xfe, 0x80 };
	struct kk_nft_spec spec = spec_for(KK_MODE_ISOLATED);
	struct kk_nft_objects o;
	const struct nftnl_rule *r;
	char buf[128];
	size_t i;
	int ndhcp = 0;

	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &o), 0);
	rule_matching(&o, "output", "DHCPv4 client -> broadcast", 16, bcast, 4);
	rule_matching(&o, "input", "DHCPv4 server -> client (broadcast)", 16,
	    bcast, 4);
	rule_matching(&o, "output", "DHCPv6 client -> all DHCP agents", 24,
	    agents, 16);
	r = rule_matching(&o, "input", "DHCPv6 server or relay (link-local)", 8,
	    ll, 2);
	ck_assert_int_eq(kk_test_exprs(r, "bitwise"), 1);	/* fe80::/10 */
	/* no servers listed: no set, no rule for them */
	ck_assert_ptr_null(rule_named(&o, "output", "of the policy"));
	for (i = 0; i < o.nsets; i++)
		ck_assert(strncmp(nftnl_set_get_str(o.sets[i], NFTNL_SET_NAME),
		    "dhcp", 4) != 0);
	/* every DHCP rule pins an address, not only the ports */
	for (i = 0; i < o.nrules; i++) {
		if (strstr(comment_of(o.rules[i], buf, sizeof(buf)), "DHCP") == NULL)
			continue;
		ndhcp++;
		/* the address, then both ports at once (one 4-byte load) */
		ck_assert_msg(kk_test_exprs(o.rules[i], "payload") >= 2 &&
		    rule_loads_at(o.rules[i], NFT_PAYLOAD_TRANSPORT_HEADER, 0,
		    4), "%s: ports only", buf);
	}
	ck_assert_int_eq(ndhcp, 4);
	kk_nft_objects_free(&o);

	/* listed servers: their own sets and rules, both directions */
	kk_test_addr_add(&pol->dhcp_servers, "192.0.2.67");
	kk_test_addr_add(&pol->dhcp_servers, "2001:db8::67");
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &o), 0);
	for (i = 0; i < 2; i++) {
		const char *chain = i ? "input" : "output";

		r = rule_named(&o, chain, "DHCPv4 client -> server of the policy");
		if (i)
			r = rule_named(&o, chain, "DHCPv4 server of the policy");
		ck_assert_ptr_nonnull(r);
		ck_assert_int_eq(kk_test_exprs(r, "lookup"), 1);
		ck_assert(rule_loads(r, i ? 12 : 16, 4));
	}
	ck_assert_ptr_nonnull(rule_named(&o, "input", "DHCPv6 server of the policy"));
	ck_assert_ptr_nonnull(rule_named(&o, "output", "DHCPv6 client -> server of the policy"));
	kk_nft_objects_free(&o);
	{
		struct kk_nft_batch b;
		struct decoded d;

		build(KK_MODE_ISOLATED, false, &spec, &o, &b, &d);
		ck_assert_int_eq(set_size(find_set(&d, "dhcp4")), 1);
		ck_assert_int_eq(set_size(find_set(&d, "dhcp6")), 1);
		release(&o, &b, &d);
	}
}
END_TEST

/*
 * Neighbour discovery while isolated is on-link only: in, hop limit 255;
 * out, from processes only to link-local or link-scope multicast
 * addresses (a drop for the rest before the kernel's own is accepted).
 */
START_TEST(isolated_ndp_on_link_only)
{
	static const uint8_t hop255 = 255;
	static const uint8_t ll[2] = { 0xfe, 0x80 }, mc[2] = { 0xff, 0x02 };
	struct kk_nft_spec spec = spec_for(KK_MODE_ISOLATED);
	struct kk_nft_objects o;
	const struct nftnl_rule *r;
	char buf[128];
	size_t i;
	int drop_at = -1, kernel_at = -1, k = 0;

	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &o), 0);
	r = rule_named(&o, "input", "neighbour discovery");
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(kk_test_verdict(r), NF_ACCEPT);
	ck_assert(rule_loads(r, 7, 1) && rule_compares(r, &hop255, 1));
	r = rule_named(&o, "output", "to link-local addresses");
	ck_assert_ptr_nonnull(r);
	ck_assert(rule_loads(r, 24, 2) && rule_compares(r, ll, 2));
	ck_assert(rule_loads(r, 7, 1) && rule_compares(r, &hop255, 1));
	r = rule_named(&o, "output", "to link-scope multicast");
	ck_assert_ptr_nonnull(r);
	ck_assert(rule_loads(r, 24, 2) && rule_compares(r, mc, 2));
	for (i = 0; i < o.nrules; i++) {
		const struct nftnl_rule *x = o.rules[i];

		if (strcmp(nftnl_rule_get_str(x, NFTNL_RULE_CHAIN), "output") != 0)
			continue;
		k++;
		comment_of(x, buf, sizeof(buf));
		if (strstr(buf, "from processes")) {
			drop_at = k;
			ck_assert_int_eq(kk_test_verdict(x), NF_DROP);
			ck_assert(rule_has_meta(x, NFT_META_SKUID));
		}
		if (strstr(buf, "the kernel's neighbour discovery")) {
			kernel_at = k;
			ck_assert_int_eq(kk_test_verdict(x), NF_ACCEPT);
			ck_assert(rule_compares(x, &hop255, 1));
		}
	}
	ck_assert_int_gt(drop_at, 0);
	ck_assert_int_gt(kernel_at, drop_at);
	kk_nft_objects_free(&o);
}
END_TEST

/* o is a bridge table of one chain, forward, with this policy. */
static void
bridge_forward_only(const struct kk_nft_objects *o, uint32_t policy)
{
	ck_assert_int_eq(o->family, NFPROTO_BRIDGE);
	ck_assert_uint_eq(nftnl_table_get_u32(o->table, NFTNL_TABLE_FAMILY),
	    NFPROTO_BRIDGE);
	ck_assert_uint_eq(o->nchains, 1);
	ck_assert_str_eq(nftnl_chain_get_str(o->chains[0], NFTNL_CHAIN_NAME),
	    "forward");
	ck_assert_uint_eq(nftnl_chain_get_u32(o->chains[0],
	    NFTNL_CHAIN_HOOKNUM), NF_BR_FORWARD);
	ck_assert_uint_eq(nftnl_chain_get_u32(o->chains[0], NFTNL_CHAIN_POLICY),
	    policy);
}

START_TEST(bridge_table_while_isolated)
{
	struct kk_nft_spec spec = spec_for(KK_MODE_ISOLATED);
	struct kk_nft_objects o;

	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_BRIDGE, &o), 0);
	bridge_forward_only(&o, NF_DROP);
	ck_assert_uint_eq(o.nrules, 1);
	ck_assert_uint_eq(nftnl_rule_get_u32(o.rules[0], NFTNL_RULE_FAMILY),
	    NFPROTO_BRIDGE);
	ck_assert_int_eq(kk_test_verdict(o.rules[0]), NF_DROP);
	ck_assert_int_eq(kk_test_exprs(o.rules[0], "counter"), 1);
	ck_assert_uint_eq(o.nsets, 0);
	kk_nft_objects_free(&o);
	/* no bridge table while open, nor where the kernel has none */
	spec.mode = KK_MODE_OPEN;
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_BRIDGE, &o), -ENOENT);
	spec.mode = KK_MODE_ISOLATED;
	spec.no_bridge = true;
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_BRIDGE, &o), -ENOENT);
	spec.mode = KK_MODE_EGRESS;
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_BRIDGE, &o), -ENOENT);
	ck_assert(kk_nft_wants(KK_MODE_OPEN, NFPROTO_INET));
	ck_assert(!kk_nft_wants(KK_MODE_OPEN, NFPROTO_BRIDGE));
	ck_assert(kk_nft_wants(KK_MODE_EGRESS, NFPROTO_BRIDGE));
}
END_TEST

/*
 * egress covers bridged frames as the inet table covers forwarded ones:
 * the bridge table's forward chain drops mail and web, the same rules as
 * inet kakuri's forward chain, and lets the rest pass.
 */
START_TEST(bridge_table_in_egress)
{
	struct kk_nft_spec spec = spec_for(KK_MODE_EGRESS);
	struct kk_nft_objects br, in;
	char x[2048], y[2048];
	size_t i, k = 0;

	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_BRIDGE, &br), 0);
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &in), 0);
	bridge_forward_only(&br, NF_ACCEPT);
	ck_assert_uint_eq(br.nsets, 3);
	ck_assert_uint_eq(br.nrules, 3);
	for (i = 0; i < in.nrules; i++) {
		if (strcmp(nftnl_rule_get_str(in.rules[i], NFTNL_RULE_CHAIN),
		    "forward") != 0)
			continue;
		ck_assert_uint_lt(k, br.nrules);
		ck_assert_int_eq(kk_test_verdict(br.rules[k]), NF_DROP);
		ck_assert_uint_eq(nftnl_rule_get_u32(br.rules[k],
		    NFTNL_RULE_FAMILY), NFPROTO_BRIDGE);
		ck_assert_int_eq(kk_nft_canon_rule(in.rules[i], x, sizeof(x)), 0);
		ck_assert_int_eq(kk_nft_canon_rule(br.rules[k], y, sizeof(y)), 0);
		ck_assert_str_eq(x, y);
		k++;
	}
	ck_assert_uint_eq(k, 3);
	/* the canonical table line names its family */
	ck_assert_int_eq(kk_nft_canon_table(br.table, x, sizeof(x)), 0);
	ck_assert_msg(strncmp(x, "table bridge kakuri ", 20) == 0, "%s", x);
	ck_assert_int_eq(kk_nft_canon_table(in.table, y, sizeof(y)), 0);
	ck_assert_msg(strncmp(y, "table inet kakuri ", 18) == 0, "%s", y);
	kk_nft_objects_free(&br);
	kk_nft_objects_free(&in);
}
END_TEST

/*
 * MLD while isolated (with NDP): queries, reports and done messages both
 * ways, but only from link-local sources to link-scope multicast groups
 * with hop limit 1.
 */
START_TEST(isolated_mld_link_local_only)
{
	static const uint8_t hop1 = 1, ll[2] = { 0xfe, 0x80 },
	    mc[2] = { 0xff, 0x02 }, lo = 130, hi = 132, v2 = 143;
	static const char *const chains[] = { "input", "output" };
	struct kk_nft_spec spec = spec_for(KK_MODE_ISOLATED);
	struct kk_nft_objects o;
	const struct nftnl_rule *r;
	size_t c;

	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &o), 0);
	for (c = 0; c < 2; c++) {
		r = rule_named(&o, chains[c], "MLD query, report, done");
		ck_assert_ptr_nonnull(r);
		ck_assert_int_eq(kk_test_verdict(r), NF_ACCEPT);
		ck_assert(rule_loads(r, 8, 2) && rule_compares(r, ll, 2));
		/* fe80::/10 */
		ck_assert_int_eq(kk_test_exprs(r, "bitwise"), 1);
		ck_assert(rule_loads(r, 24, 2) && rule_compares(r, mc, 2));
		ck_assert(rule_loads(r, 7, 1) && rule_compares(r, &hop1, 1));
		ck_assert(rule_has_meta(r, NFT_META_L4PROTO));
		ck_assert(rule_has_cmp(r, NFT_CMP_GTE, &lo, 1));
		ck_assert(rule_has_cmp(r, NFT_CMP_LTE, &hi, 1));
		r = rule_named(&o, chains[c], "MLDv2 report");
		ck_assert_ptr_nonnull(r);
		ck_assert(rule_loads(r, 8, 2) && rule_compares(r, ll, 2));
		ck_assert(rule_loads(r, 24, 2) && rule_compares(r, mc, 2));
		ck_assert(rule_loads(r, 7, 1) && rule_compares(r, &hop1, 1));
		/* one type: one comparison, not a range of one */
		ck_assert(rule_compares(r, &v2, 1));
		ck_assert(!rule_has_cmp(r, NFT_CMP_GTE, &v2, 1));
	}
	kk_nft_objects_free(&o);
	/* without NDP, no MLD either */
	pol->ndp = false;
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &o), 0);
	ck_assert_ptr_null(rule_named(&o, "input", "MLD"));
	ck_assert_ptr_null(rule_named(&o, "output", "MLD"));
	kk_nft_objects_free(&o);
}
END_TEST

/*
 * One batch takes the fallback away and puts the inet and bridge tables
 * in: every delete comes before every create, all between one begin and
 * one end, each message in its table's family.
 */
START_TEST(batch_swaps_tables_atomically)
{
	struct kk_nft_spec spec = spec_for(KK_MODE_ISOLATED);
	struct kk_nft_objects inet, bridge;
	struct kk_nft_plan plan[3];
	struct kk_nft_batch b;
	struct decoded d;
	size_t i;
	bool bridge_chain = false;

	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &inet), 0);
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_BRIDGE, &bridge), 0);
	memset(plan, 0, sizeof(plan));
	plan[0].family = NFPROTO_INET;
	snprintf(plan[0].name, sizeof(plan[0].name), "%s", KK_FALLBACK_NAME);
	plan[0].exists = true;
	plan[1] = plan_for(&inet, true);
	plan[2] = plan_for(&bridge, false);
	ck_assert_int_eq(kk_nft_batch_build(&b, plan, 3, 500), 0);
	decode(&b, &d);
	ck_assert_int_eq(d.begin, 1);
	ck_assert_int_eq(d.end, 1);
	ck_assert(!d.seq_gap);
	ck_assert_int_eq(d.ndeltables, 2);
	ck_assert_int_eq(d.ntables, 4);		/* 2 re-declared, 2 created */
	ck_assert_int_lt(d.last_del, d.first_create);
	ck_assert_str_eq(d.table_name[0], KK_FALLBACK_NAME);
	ck_assert_str_eq(d.table_name[2], KK_TABLE_NAME);
	ck_assert_uint_eq(d.table_family[2], NFPROTO_INET);
	ck_assert_str_eq(d.table_name[3], KK_TABLE_NAME);
	ck_assert_uint_eq(d.table_family[3], NFPROTO_BRIDGE);
	ck_assert_int_eq(d.nrules, (int)(inet.nrules + bridge.nrules));
	for (i = 0; i < b.nmap; i++)
		if (strstr(b.map[i].what, "chain bridge kakuri forward")) {
			bridge_chain = true;
			ck_assert_int_eq(kk_nft_batch_family(&b, b.map[i].seq),
			    NFPROTO_BRIDGE);
		}
	ck_assert(bridge_chain);
	decoded_free(&d);
	kk_nft_batch_free(&b);
	kk_nft_objects_free(&inet);
	kk_nft_objects_free(&bridge);
}
END_TEST

/* Under a fallback name the tables are the same, object for object. */
START_TEST(fallback_name_builds_same_rules)
{
	struct kk_nft_spec spec = spec_for(KK_MODE_ISOLATED);
	struct kk_nft_objects a, f;
	size_t i;

	ck_assert_str_eq(kk_nft_spec_name(&spec), KK_TABLE_NAME);
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &a), 0);
	snprintf(spec.name, sizeof(spec.name), "%s_0badcafe", KK_FALLBACK_NAME);
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &f), 0);
	ck_assert_str_eq(nftnl_table_get_str(f.table, NFTNL_TABLE_NAME),
	    "kakuri_fallback_0badcafe");
	ck_assert_uint_eq(a.nsets, f.nsets);
	for (i = 0; i < f.nchains; i++)
		ck_assert_str_eq(nftnl_chain_get_str(f.chains[i],
		    NFTNL_CHAIN_TABLE), spec.name);
	for (i = 0; i < f.nsets; i++)
		ck_assert_str_eq(nftnl_set_get_str(f.sets[i], NFTNL_SET_TABLE),
		    spec.name);
	for (i = 0; i < f.nrules; i++)
		ck_assert_str_eq(nftnl_rule_get_str(f.rules[i],
		    NFTNL_RULE_TABLE), spec.name);
	assert_same_rules(&a, &f);
	kk_nft_objects_free(&a);
	kk_nft_objects_free(&f);
}
END_TEST

/* Only the names kakurid makes: exact, or _ and 8 lowercase hex. */
static const char *const names_ours[] = {
	"kakuri", "kakuri_fallback", "kakuri_fallback_0badcafe",
};
static const char *const names_not_ours[] = {
	"kakuri2", "decoy", "", "kakuri_fallbackX", "kakuri_fallback_",
	"kakuri_fallback_0badcaf", "kakuri_fallback_0badcafe0",
	"kakuri_fallback_0BADCAFE", "kakuri_fallback_0badcafg",
	"kakuri_fallback-0badcafe",
};

START_TEST(table_names_ours)
{
	size_t i;

	for (i = 0; i < sizeof(names_ours) / sizeof(names_ours[0]); i++)
		ck_assert_msg(kk_nft_name_ours(names_ours[i]),
		    "\"%s\" is not ours", names_ours[i]);
	for (i = 0; i < sizeof(names_not_ours) / sizeof(names_not_ours[0]);
	    i++)
		ck_assert_msg(!kk_nft_name_ours(names_not_ours[i]),
		    "\"%s\" is taken for ours", names_not_ours[i]);
}
END_TEST

/*
 * Chains of other tables that could undo the netdev table (foreign.c):
 * an ingress hook (netdev's, or inet's own) at kakuri's ingress priority,
 * the netdev egress hook at its egress priority; nothing else.
 */
START_TEST(foreign_chains_that_undo)
{
	static const struct {
		int family;
		uint32_t hook;
		int32_t prio;
		bool undoes;
	} t[] = {
		{ NFPROTO_NETDEV, NF_NETDEV_INGRESS, INT32_MIN, true },
		{ NFPROTO_NETDEV, NF_NETDEV_INGRESS, INT32_MIN + 1, false },
		{ NFPROTO_NETDEV, NF_NETDEV_INGRESS, -100, false },
		{ NFPROTO_INET, NF_INET_INGRESS, INT32_MIN, true },
		{ NFPROTO_INET, NF_INET_INGRESS, 0, false },
		{ NFPROTO_NETDEV, NF_NETDEV_EGRESS, INT32_MAX, true },
		{ NFPROTO_NETDEV, NF_NETDEV_EGRESS, INT32_MAX - 1, false },
		{ NFPROTO_NETDEV, NF_NETDEV_EGRESS, 100, false },
		/* other hooks meet the netdev table's check after or before */
		{ NFPROTO_INET, NF_INET_LOCAL_OUT, INT32_MAX, false },
		{ NFPROTO_IPV4, NF_INET_PRE_ROUTING, INT32_MIN, false },
		{ NFPROTO_BRIDGE, NF_BR_PRE_ROUTING, INT32_MIN, false },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(kk_nft_chain_undoes(t[i].family, t[i].hook,
		    t[i].prio) == t[i].undoes, "row %zu", i);
	ck_assert(kk_nft_dev_matches("eth0", "eth0"));
	ck_assert(!kk_nft_dev_matches("eth0", "eth1"));
	ck_assert(!kk_nft_dev_matches("eth", "eth0"));
	ck_assert(kk_nft_dev_matches("eth*", "eth0"));
	ck_assert(kk_nft_dev_matches("*", "wlan0"));
	ck_assert(!kk_nft_dev_matches("wl*", "eth0"));
}
END_TEST

KK_SUITE(nft_build_suite, "nft_build",
	KK_CASE_FIXTURE("batch", KK_CHECKED, 0, setup, teardown),
	    KK_TEST(isolated_batch_shape),
	    KK_TEST(isolated_every_chain_ends_in_counted_drop),
	    KK_TEST(isolated_no_unconditional_accept),
	    KK_TEST(isolated_own_socket_match),
	    KK_TEST(isolated_broker_is_not_a_peer),
	    KK_TEST(isolated_optional_services),
	    KK_TEST(egress_blocks_mail_and_web_only),
	    KK_TEST(open_is_an_empty_table),
	    KK_TEST(replace_is_one_transaction),
	    KK_TEST(sequence_numbers_name_rules),
	    KK_TEST(comment_round_trip),
	    KK_TEST(canonical_forms_detect_changes),
	    KK_TEST(limits_are_enforced),
	    KK_TEST(isolated_dhcp_only_broadcast_or_listed),
	    KK_TEST(isolated_ndp_on_link_only),
	    KK_TEST(bridge_table_while_isolated),
	    KK_TEST(bridge_table_in_egress),
	    KK_TEST(isolated_mld_link_local_only),
	    KK_TEST(batch_swaps_tables_atomically),
	    KK_TEST(fallback_name_builds_same_rules),
	    KK_TEST(table_names_ours),
	    KK_TEST(kept_arena_builds_the_same_bytes),
	    KK_TEST(foreign_chains_that_undo))
