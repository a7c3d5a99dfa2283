/*
 * The batch builder, without a kernel: build the batch for a mode, then
 * decode every netlink message in it and check what the kernel would get.
 */
#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

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
	kk_policy_defaults(pol);
	ck_assert_int_eq(kk_addr_parse("192.0.2.10", &pol->peers.addr[0]), 0);
	ck_assert_int_eq(kk_addr_parse("2001:db8::10", &pol->peers.addr[1]), 0);
	pol->peers.n = 2;
	pol->mgmt_ports.port[0] = 7443;
	pol->mgmt_ports.port[1] = 7444;
	pol->mgmt_ports.n = 2;
	pol->dhcp = true;
	pol->ndp = true;
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

	memset(&s, 0, sizeof(s));
	s.mode = mode;
	s.policy = pol;
	s.own_uid_known = true;
	s.own_uid = 991;
	s.own_gid = 992;
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
	struct nftnl_chain *chains[8];
	struct nftnl_rule *rules[KK_NFT_MAX_RULES];
	struct nftnl_set *sets[KK_NFT_MAX_SETS];
	uint32_t rule_seq[KK_NFT_MAX_RULES];
	uint32_t table_flags;
	struct elems elems[KK_NFT_MAX_SETS];	/* per set, same index */
};

static void
decode(const struct kk_nft_batch *b, struct decoded *d)
{
	const struct nlmsghdr *nlh = (const void *)b->buf;
	int left = (int)b->len, k = 0;
	uint32_t prev_seq = 0;

	memset(d, 0, sizeof(*d));
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
			struct nftnl_table *t = nftnl_table_alloc();

			ck_assert_int_ge(nftnl_table_nlmsg_parse(nlh, t), 0);
			ck_assert_str_eq(nftnl_table_get_str(t, NFTNL_TABLE_NAME),
			    "kakuri");
			d->table_flags = nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS);
			nftnl_table_free(t);
			d->ntables++;
			break;
		}
		case NFT_MSG_DELTABLE:
			d->ndeltables++;
			break;
		case NFT_MSG_NEWCHAIN:
			d->chains[d->nchains] = nftnl_chain_alloc();
			ck_assert_int_ge(nftnl_chain_nlmsg_parse(nlh,
			    d->chains[d->nchains]), 0);
			d->nchains++;
			break;
		case NFT_MSG_NEWSET:
			d->sets[d->nsets] = nftnl_set_alloc();
			ck_assert_int_ge(nftnl_set_nlmsg_parse(nlh,
			    d->sets[d->nsets]), 0);
			d->nsets++;
			break;
		case NFT_MSG_NEWSETELEM: {
			/* attach to the set declared just before */
			ck_assert_int_gt(d->nsets, 0);
			decode_elems(nlh, &d->elems[d->nsets - 1]);
			d->nelems++;
			break;
		}
		case NFT_MSG_NEWRULE:
			d->rules[d->nrules] = nftnl_rule_alloc();
			ck_assert_int_ge(nftnl_rule_nlmsg_parse(nlh,
			    d->rules[d->nrules]), 0);
			d->rule_seq[d->nrules] = nlh->nlmsg_seq;
			d->nrules++;
			break;
		default:
			ck_abort_msg("unexpected message type %u", type);
		}
	}
	ck_assert_int_eq(left, 0);
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

static void
build(enum kk_mode mode, bool exists, struct kk_nft_spec *spec,
    struct kk_nft_objects *o, struct kk_nft_batch *b, struct decoded *d)
{
	*spec = spec_for(mode);
	ck_assert_int_eq(kk_nft_objects_build(spec, o), 0);
	ck_assert_int_eq(kk_nft_batch_build(b, o, exists, 0, 1000), 0);
	decode(b, d);
}

static void
release(struct kk_nft_objects *o, struct kk_nft_batch *b, struct decoded *d)
{
	decoded_free(d);
	kk_nft_batch_free(b);
	kk_nft_objects_free(o);
}

static int
count_exprs(const struct nftnl_rule *r, const char *name)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e;
	int n = 0;

	while ((e = nftnl_expr_iter_next(it)) != NULL)
		if (name == NULL ||
		    strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), name) == 0)
			n++;
	nftnl_expr_iter_destroy(it);
	return n;
}

/* The verdict of the rule's last expression. */
static int
rule_verdict(const struct nftnl_rule *r)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e, *last = NULL;
	int v;

	while ((e = nftnl_expr_iter_next(it)) != NULL)
		last = e;
	ck_assert_ptr_nonnull(last);
	ck_assert_str_eq(nftnl_expr_get_str(last, NFTNL_EXPR_NAME), "immediate");
	v = (int)nftnl_expr_get_u32(last, NFTNL_EXPR_IMM_VERDICT);
	nftnl_expr_iter_destroy(it);
	return v;
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

static const struct nftnl_chain *
find_chain(const struct decoded *d, const char *name)
{
	int i;

	for (i = 0; i < d->nchains; i++)
		if (strcmp(nftnl_chain_get_str(d->chains[i], NFTNL_CHAIN_NAME),
		    name) == 0)
			return d->chains[i];
	return NULL;
}

static const struct elems *
find_set(const struct decoded *d, const char *name)
{
	int i;

	for (i = 0; i < d->nsets; i++)
		if (strcmp(nftnl_set_get_str(d->sets[i], NFTNL_SET_NAME),
		    name) == 0)
			return &d->elems[i];
	return NULL;
}

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
		ck_assert_int_eq(rule_verdict(lastr[k]), NF_DROP);
		ck_assert_int_eq(count_exprs(lastr[k], "counter"), 1);
	}
	/* the forward chain accepts nothing at all */
	for (i = 0; i < d.nrules; i++)
		if (strcmp(nftnl_rule_get_str(d.rules[i], NFTNL_RULE_CHAIN),
		    "forward") == 0)
			ck_assert_int_eq(rule_verdict(d.rules[i]), NF_DROP);
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
		if (rule_verdict(d.rules[i]) != NF_ACCEPT)
			continue;
		n = count_exprs(d.rules[i], NULL);
		ct = count_exprs(d.rules[i], "ct");
		ck_assert_msg(n >= 3, "rule %d accepts unconditionally", i);
		/* a ct match always comes with an address set lookup */
		if (ct > 0)
			ck_assert_int_ge(count_exprs(d.rules[i], "lookup"), 1);
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
	for (i = 0; i < d.nrules; i++)
		if (rule_has_meta(d.rules[i], NFT_META_SKUID)) {
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
	ck_assert_int_eq(kk_nft_objects_build(&spec, &o), 0);
	for (i = 0; i < (int)o.nrules; i++)
		ck_assert(!rule_has_meta(o.rules[i], NFT_META_SKUID));
	kk_nft_objects_free(&o);
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
	ck_assert_int_eq(kk_nft_objects_build(&spec, &with), 0);
	for (i = 0; i < with.nrules; i++) {
		if (strstr(comment_of(with.rules[i], buf, sizeof(buf)),
		    "neighbour discovery"))
			ndp = true;
	}
	ck_assert(ndp);
	pol->dhcp = false;
	pol->ndp = false;
	ck_assert_int_eq(kk_nft_objects_build(&spec, &without), 0);
	/* two DHCP and one NDP rule per direction are gone */
	ck_assert_uint_eq(with.nrules - without.nrules, 6);
	for (i = 0; i < without.nrules; i++) {
		comment_of(without.rules[i], buf, sizeof(buf));
		ck_assert(strstr(buf, "DHCP") == NULL);
		ck_assert(strstr(buf, "neighbour") == NULL);
	}
	kk_nft_objects_free(&with);
	kk_nft_objects_free(&without);

	/* pinned DNS adds its sets and rules */
	ck_assert_int_eq(kk_addr_parse("192.0.2.53", &pol->dns.addr[0]), 0);
	pol->dns.n = 1;
	ck_assert_int_eq(kk_nft_objects_build(&spec, &with), 0);
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
		if (rule_verdict(d.rules[i]) == NF_DROP) {
			drops++;
			ck_assert_int_eq(count_exprs(d.rules[i], "counter"), 1);
			ck_assert_int_eq(count_exprs(d.rules[i], "lookup"), 1);
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

START_TEST(canonical_forms_detect_changes)
{
	struct kk_nft_spec spec = spec_for(KK_MODE_ISOLATED);
	struct kk_nft_objects a, b;
	char x[2048], y[2048];
	size_t i;

	ck_assert_int_eq(kk_nft_objects_build(&spec, &a), 0);
	ck_assert_int_eq(kk_nft_objects_build(&spec, &b), 0);
	for (i = 0; i < a.nrules; i++) {
		ck_assert_int_eq(kk_nft_canon_rule(a.rules[i], x, sizeof(x)), 0);
		ck_assert_int_eq(kk_nft_canon_rule(b.rules[i], y, sizeof(y)), 0);
		ck_assert_str_eq(x, y);
	}
	kk_nft_objects_free(&b);
	/* another peer changes a set's elements */
	ck_assert_int_eq(kk_addr_parse("192.0.2.11", &pol->peers.addr[0]), 0);
	ck_assert_int_eq(kk_nft_objects_build(&spec, &b), 0);
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
	ck_assert_int_eq(kk_nft_objects_build(&spec, &b), 0);
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
	ck_assert_int_eq(kk_nft_objects_build(&spec, &o), 0);
	ck_assert_int_eq(kk_nft_batch_build(&b, &o, true, 0, 1), 0);
	decode(&b, &d);
	ck_assert_int_eq(set_size(find_set(&d, "mgmt4")), KK_MAX_ADDRS / 2);
	ck_assert_int_eq(set_size(find_set(&d, "mgmt_ports")), KK_MAX_PORTS);
	release(&o, &b, &d);
}
END_TEST

Suite *
nft_build_suite(void)
{
	Suite *s = suite_create("nft_build");
	TCase *tc = kk_tcase("batch");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, isolated_batch_shape);
	tcase_add_test(tc, isolated_every_chain_ends_in_counted_drop);
	tcase_add_test(tc, isolated_no_unconditional_accept);
	tcase_add_test(tc, isolated_own_socket_match);
	tcase_add_test(tc, isolated_optional_services);
	tcase_add_test(tc, egress_blocks_mail_and_web_only);
	tcase_add_test(tc, open_is_an_empty_table);
	tcase_add_test(tc, replace_is_one_transaction);
	tcase_add_test(tc, sequence_numbers_name_rules);
	tcase_add_test(tc, comment_round_trip);
	tcase_add_test(tc, canonical_forms_detect_changes);
	tcase_add_test(tc, limits_are_enforced);
	suite_add_tcase(s, tc);
	return s;
}
