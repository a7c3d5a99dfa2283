/*
 * The rulesets kakurid builds, for a range of policies, modes, families
 * and batch plans, against a golden file recorded before the rules became
 * tables of rows (fixtures/nft_rulesets.golden): the batch is decoded with
 * libnftnl, message by message, into canonical text, and the text must be
 * the same, line for line.  The SHA-256 of each batch's bytes is part of
 * the text, so the messages are the same down to the byte.
 *
 * KK_NFT_GOLDEN_WRITE=1 rewrites the golden file instead of comparing
 * (only when a change of the ruleset is meant; say why in the commit).
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
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

#include "expr.h"
#include "match.h"
#include "nft.h"
#include "objects.h"
#include "suites.h"
#include "testutil.h"

#define GOLDEN	"fixtures/nft_rulesets.golden"

static const char *const EPISODE = "00112233445566778899aabbccddeeff";

/* The policies of the golden file; "base" is kk_test_policy_base. */
static void
pol_bare(struct kk_policy *p)
{
	kk_test_policy_base(p);
	p->dhcp = false;
	p->ndp = false;
}

static void
pol_services(struct kk_policy *p)
{
	kk_test_policy_base(p);
	kk_test_addr_add(&p->dns, "192.0.2.53");
	kk_test_addr_add(&p->dns, "2001:db8::53");
	kk_test_addr_add(&p->dns, "198.51.100.53");
	kk_test_addr_add(&p->dhcp_servers, "192.0.2.67");
	kk_test_addr_add(&p->dhcp_servers, "2001:db8::67");
}

static void
pol_v6_dhcp_no_ndp(struct kk_policy *p)
{
	kk_policy_defaults(p);
	kk_test_addr_add(&p->peers, "2001:db8::10");
	kk_test_addr_add(&p->peers, "fe80::1");
	p->mgmt_ports.port[0] = 443;
	p->mgmt_ports.n = 1;
	p->dhcp = true;
	p->ndp = false;
	kk_test_addr_add(&p->dhcp_servers, "192.0.2.67");
	kk_test_addr_add(&p->dns, "2001:db8::53");
	p->mail_tcp.n = 1;
	p->web_udp.n = 0;
}

static void
pol_servers_no_dhcp(struct kk_policy *p)
{
	kk_test_policy_base(p);
	p->dhcp = false;
	kk_test_addr_add(&p->dhcp_servers, "192.0.2.67");
	kk_test_addr_add(&p->dns, "2001:db8::53");
}

static void
pol_max(struct kk_policy *p)
{
	char s[64];
	size_t i;

	kk_test_policy_base(p);
	p->peers.n = 0;
	for (i = 0; i < KK_MAX_ADDRS; i++) {
		if (i % 2)
			snprintf(s, sizeof(s), "2001:db8:%zx::%zx", i, i + 1);
		else
			snprintf(s, sizeof(s), "198.51.100.%zu", i + 1);
		kk_test_addr_add(&p->peers, s);
	}
	for (i = 0; i < KK_MAX_PORTS; i++)
		p->mgmt_ports.port[i] = (uint16_t)(7000 + 3 * i);
	p->mgmt_ports.n = KK_MAX_PORTS;
	p->dns = p->peers;
	p->dhcp_servers = p->peers;
}

/* a fleet broker that is not a management peer: rows of its own */
static void
pol_fleet4(struct kk_policy *p)
{
	kk_test_policy_base(p);
	snprintf(p->fleet_broker, sizeof(p->fleet_broker), "198.51.100.99:8883");
}

static void
pol_fleet6(struct kk_policy *p)
{
	kk_test_policy_base(p);
	snprintf(p->fleet_broker, sizeof(p->fleet_broker),
	    "[2001:db8::99]:443");
}

static const struct golden_policy {
	const char *name;
	void (*make)(struct kk_policy *);
} policies[] = {
	{ "base", kk_test_policy_base },
	{ "bare", pol_bare },
	{ "services", pol_services },
	{ "v6-dhcp-no-ndp", pol_v6_dhcp_no_ndp },
	{ "servers-no-dhcp", pol_servers_no_dhcp },
	{ "max", pol_max },
	{ "fleet4", pol_fleet4 },
	{ "fleet6", pol_fleet6 },
};

/* The specs of the golden file, per policy. */
static const struct golden_spec {
	const char *name;
	enum kk_mode mode;
	bool own_uid_known;
	uint32_t flags;
	const char *table;
	bool no_bridge;
	bool netdevs;		/* two Ethernet devices: the netdev table */
	bool ipdevs;		/* and a raw-IP one (a modem) */
} specs[] = {
	{ "open", KK_MODE_OPEN, true, KK_NFT_F_OWNER | KK_NFT_F_PERSIST, "", false, false, false },
	{ "egress", KK_MODE_EGRESS, true, KK_NFT_F_OWNER | KK_NFT_F_PERSIST, "", false, false, false },
	{ "isolated", KK_MODE_ISOLATED, true, KK_NFT_F_OWNER | KK_NFT_F_PERSIST, "", false, false, false },
	{ "isolated-no-uid", KK_MODE_ISOLATED, false, 0, "", false, false, false },
	{ "isolated-fallback", KK_MODE_ISOLATED, true, KK_NFT_F_OWNER,
	    "kakuri_fallback_0badcafe", false, false, false },
	{ "egress-no-bridge", KK_MODE_EGRESS, true, 0, "", true, false, false },
	{ "isolated-netdev", KK_MODE_ISOLATED, true,
	    KK_NFT_F_OWNER | KK_NFT_F_PERSIST, "", false, true, false },
	{ "egress-netdev", KK_MODE_EGRESS, true, 0, "", false, true, false },
	{ "isolated-netdev-ip", KK_MODE_ISOLATED, true,
	    KK_NFT_F_OWNER | KK_NFT_F_PERSIST, "", false, true, true },
};

static const char two_devs[2][KK_NFT_IFNAME] = { "eth0", "wlan0" };
static const char modem_dev[1][KK_NFT_IFNAME] = { "wwan0" };
static const char *const ethernet[] = { "eth0", "wlan0", NULL };
static const char *const modem_names[] = { "wwan0", NULL };

/* One line per message of the batch, decoded with libnftnl. */
static void
text_table(FILE *f, const struct nlmsghdr *nlh)
{
	struct nftnl_table *t = KK_NFT_PARSED(table, nlh);
	char buf[512];

	ck_assert_int_eq(kk_nft_canon_table(t, buf, sizeof(buf)), 0);
	fprintf(f, " %s", buf);
	nftnl_table_free(t);
}

/*
 * text_chain and text_rule: the table and family a chain or rule names,
 * and its canonical form.
 */
#define TEXT_IN_TABLE(kind, KIND)					\
static void								\
text_##kind(FILE *f, const struct nlmsghdr *nlh)			\
{									\
	struct nftnl_##kind *o = KK_NFT_PARSED(kind, nlh);		\
	char buf[2048];							\
									\
	ck_assert_int_eq(kk_nft_canon_##kind(o, buf, sizeof(buf)), 0);	\
	fprintf(f, " table=%s family=%u %s",				\
	    nftnl_##kind##_get_str(o, NFTNL_##KIND##_TABLE),		\
	    nftnl_##kind##_get_u32(o, NFTNL_##KIND##_FAMILY), buf);	\
	nftnl_##kind##_free(o);						\
}

TEXT_IN_TABLE(chain, CHAIN)
TEXT_IN_TABLE(rule, RULE)

static void
text_set(FILE *f, const struct nlmsghdr *nlh)
{
	struct nftnl_set *s = KK_NFT_PARSED(set, nlh);

	fprintf(f, " table=%s set %s family=%u id=%u flags=0x%x type=%u keylen=%u",
	    nftnl_set_get_str(s, NFTNL_SET_TABLE),
	    nftnl_set_get_str(s, NFTNL_SET_NAME),
	    nftnl_set_get_u32(s, NFTNL_SET_FAMILY),
	    nftnl_set_get_u32(s, NFTNL_SET_ID),
	    nftnl_set_get_u32(s, NFTNL_SET_FLAGS),
	    nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE),
	    nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN));
	nftnl_set_free(s);
}

/*
 * Elements by hand with libmnl: libnftnl numbers the items of the list
 * 1..n when it builds one (the kernel ignores the type) but its parser
 * takes only NFTA_LIST_ELEM.
 */
static void
text_elems(FILE *f, const struct nlmsghdr *nlh)
{
	const struct nlattr *a, *el, *x, *v;
	unsigned i;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		switch (mnl_attr_get_type(a)) {
		case NFTA_SET_ELEM_LIST_TABLE:
			fprintf(f, " table=%s", mnl_attr_get_str(a));
			break;
		case NFTA_SET_ELEM_LIST_SET:
			fprintf(f, " set %s", mnl_attr_get_str(a));
			break;
		case NFTA_SET_ELEM_LIST_SET_ID:
			fprintf(f, " id=%u", ntohl(mnl_attr_get_u32(a)));
			break;
		case NFTA_SET_ELEM_LIST_ELEMENTS:
			fputc(':', f);
			mnl_attr_for_each_nested(el, a) {
				fprintf(f, " %u=", mnl_attr_get_type(el));
				mnl_attr_for_each_nested(x, el) {
					if (mnl_attr_get_type(x) ==
					    NFTA_SET_ELEM_FLAGS) {
						fprintf(f, "f%x,", ntohl(
						    mnl_attr_get_u32(x)));
						continue;
					}
					ck_assert_uint_eq(mnl_attr_get_type(x),
					    NFTA_SET_ELEM_KEY);
					mnl_attr_for_each_nested(v, x) {
						const uint8_t *k =
						    mnl_attr_get_payload(v);

						for (i = 0; i <
						    mnl_attr_get_payload_len(v);
						    i++)
							fprintf(f, "%02x", k[i]);
					}
				}
			}
			break;
		default:
			ck_abort_msg("unexpected element list attribute %u",
			    mnl_attr_get_type(a));
		}
	}
}

/* The text of each kind of nftables message a batch may carry. */
typedef void text_fn(FILE *, const struct nlmsghdr *);

static const struct {
	uint16_t type;		/* NFT_MSG_* */
	text_fn *text;
} msg_texts[] = {
	{ NFT_MSG_NEWTABLE, text_table },
	{ NFT_MSG_DELTABLE, text_table },
	{ NFT_MSG_NEWCHAIN, text_chain },
	{ NFT_MSG_NEWSET, text_set },
	{ NFT_MSG_NEWSETELEM, text_elems },
	{ NFT_MSG_NEWRULE, text_rule },
};

static text_fn *
msg_text(uint16_t nlmsg_type)
{
	int i;

	for (i = 0; i < KK_NITEMS(msg_texts); i++)
		if (msg_texts[i].type == NFNL_MSG_TYPE(nlmsg_type))
			return msg_texts[i].text;
	ck_abort_msg("unexpected message 0x%x", nlmsg_type);
	return NULL;
}

static void
text_msgs(FILE *f, const void *buf, size_t len, uint32_t seq0)
{
	const struct nlmsghdr *nlh = buf;
	int left = (int)len;

	for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
		const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);

		fprintf(f, "  +%u type=0x%x flags=0x%x family=%u",
		    nlh->nlmsg_seq - seq0, nlh->nlmsg_type, nlh->nlmsg_flags,
		    g->nfgen_family);
		if (NFNL_SUBSYS_ID(nlh->nlmsg_type) == NFNL_SUBSYS_NFTABLES)
			msg_text(nlh->nlmsg_type)(f, nlh);
		fputc('\n', f);
	}
	ck_assert_int_eq(left, 0);
}

/* The batch's bytes, as the kernel would get them, and their digest. */
static void
text_batch(FILE *f, const struct kk_nft_batch *b)
{
	char *all, hex[65];
	size_t i, off = 0;

	all = malloc(b->len);
	ck_assert_ptr_nonnull(all);
	for (i = 0; i < b->npages; i++) {
		memcpy(all + off, b->pages[i].buf, b->pages[i].len);
		off += b->pages[i].len;
	}
	ck_assert_uint_eq(off, b->len);
	kk_sha256_hex(all, b->len, hex);
	fprintf(f, " batch %zu bytes sha256 %s\n", b->len, hex);
	text_msgs(f, all, b->len, b->seq_first);
	free(all);
}

static void
text_case(FILE *f, const struct golden_policy *gp, const struct golden_spec *gs,
    struct kk_policy *p)
{
	struct kk_nft_objects o[KK_NFT_FAMILIES];
	struct kk_nft_plan plan[KK_NFT_FAMILIES + 1];
	struct kk_nft_spec spec;
	struct kk_nft_batch b;
	size_t no = 0, np = 0, i;
	int err;

	kk_test_nft_spec(&spec, p);
	spec.mode = gs->mode;
	spec.own_uid_known = gs->own_uid_known;
	spec.table_flags = gs->flags;
	spec.no_bridge = gs->no_bridge;
	if (gs->netdevs) {
		spec.netdevs = two_devs;
		spec.nnetdevs = 2;
	}
	if (gs->ipdevs) {
		spec.ipdevs = modem_dev;
		spec.nipdevs = 1;
	}
	if (gs->mode != KK_MODE_OPEN)
		strcpy(spec.episode, EPISODE);
	snprintf(spec.name, sizeof(spec.name), "%s", gs->table);
	for (i = 0; i < KK_NFT_FAMILIES; i++) {
		err = kk_nft_objects_build(&spec, kk_nft_families[i], &o[no]);
		if (err == -ENOENT)
			continue;
		ck_assert_int_eq(err, 0);
		no++;
	}
	/* a fallback that goes, the tables that exist replaced, the rest made */
	memset(plan, 0, sizeof(plan));
	plan[np].family = NFPROTO_INET;
	snprintf(plan[np].name, sizeof(plan[np].name), "%s", KK_FALLBACK_NAME);
	plan[np].exists = true;
	plan[np].prev_flags = KK_NFT_F_OWNER;
	np++;
	for (i = 0; i < no; i++, np++) {
		plan[np].family = o[i].family;
		snprintf(plan[np].name, sizeof(plan[np].name), "%s",
		    kk_nft_spec_name(&spec));
		plan[np].exists = i == 0;
		plan[np].prev_flags = gs->flags;
		plan[np].o = &o[i];
	}
	ck_assert_int_eq(kk_nft_batch_build(&b, plan, np, 7000), 0);
	fprintf(f, "case %s %s:", gp->name, gs->name);
	text_batch(f, &b);
	kk_nft_batch_free(&b);
	for (i = 0; i < no; i++)
		kk_nft_objects_free(&o[i]);
}

static char *
golden_text(size_t *len)
{
	struct kk_policy *p = calloc(1, sizeof(*p));
	char *text = NULL;
	FILE *f;
	size_t i, k;

	ck_assert_ptr_nonnull(p);
	f = open_memstream(&text, len);
	ck_assert_ptr_nonnull(f);
	for (i = 0; i < sizeof(policies) / sizeof(policies[0]); i++) {
		for (k = 0; k < sizeof(specs) / sizeof(specs[0]); k++) {
			memset(p, 0, sizeof(*p));
			policies[i].make(p);
			text_case(f, &policies[i], &specs[k], p);
		}
	}
	fclose(f);
	free(p);
	return text;
}

/* The first line where a and b differ, for the failure message. */
static void
first_difference(const char *a, const char *b, int *line, char *wa, char *wb,
    size_t len)
{
	const char *ea, *eb;

	*line = 1;
	for (;;) {
		ea = strchr(a, '\n');
		eb = strchr(b, '\n');
		if (ea == NULL || eb == NULL || ea - a != eb - b ||
		    memcmp(a, b, (size_t)(ea - a)) != 0)
			break;
		a = ea + 1;
		b = eb + 1;
		(*line)++;
	}
	snprintf(wa, len, "%.*s", ea ? (int)(ea - a) : (int)strlen(a), a);
	snprintf(wb, len, "%.*s", eb ? (int)(eb - b) : (int)strlen(b), b);
}

START_TEST(rulesets_match_golden)
{
	char *have, *want, wa[512], wb[512];
	size_t hlen, wlen;
	int line;

	have = golden_text(&hlen);
	if (getenv("KK_NFT_GOLDEN_WRITE")) {
		kk_test_overwrite(GOLDEN, have, hlen);
		free(have);
		return;
	}
	want = kk_test_read(GOLDEN, &wlen);
	/* the golden file covers every policy and spec, not a few */
	ck_assert_int_gt((int)wlen, 100000);
	if (hlen != wlen || memcmp(have, want, hlen) != 0) {
		first_difference(want, have, &line, wa, wb, sizeof(wa));
		ck_abort_msg("ruleset differs from %s at line %d:\nwant %s\nhave %s",
		    GOLDEN, line, wa, wb);
	}
	free(have);
	free(want);
}
END_TEST

/*
 * The netdev table's rules read only the frame's own bytes: a payload
 * expression based on the network or transport header (where the
 * kernel believes they are, which whoever writes a frame through an
 * AF_PACKET socket chooses) or a conntrack or nfproto match (which
 * mean nothing before the inet hooks) would let a crafted frame pass.
 * On a raw-IP device (the chains *_ip) the frame starts with the IP
 * header, which is where the network header is: that base, and never
 * the transport header's; the link layer's only in the guard that
 * drops a frame which has a link-layer header there.
 */
#define LL_GUARD	"raw-IP device: a frame with a link-layer header"
static void
netdev_rules_read_frame_only(const struct kk_nft_objects *o)
{
	struct nftnl_expr_iter *it;
	struct nftnl_expr *e;
	const char *name, *chain;
	char comment[128];
	uint32_t base;
	size_t i;

	for (i = 0; i < o->nrules; i++) {
		chain = nftnl_rule_get_str(o->rules[i], NFTNL_RULE_CHAIN);
		base = strstr(chain, "_ip") != NULL &&
		    strcmp(kk_nft_rule_comment(o->rules[i], comment,
		    sizeof(comment)), LL_GUARD) != 0 ?
		    NFT_PAYLOAD_NETWORK_HEADER : NFT_PAYLOAD_LL_HEADER;
		it = nftnl_expr_iter_create(o->rules[i]);
		ck_assert_ptr_nonnull(it);
		while ((e = nftnl_expr_iter_next(it)) != NULL) {
			name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
			ck_assert_str_ne(name, "ct");
			if (strcmp(name, "payload") == 0)
				ck_assert_uint_eq(nftnl_expr_get_u32(e,
				    NFTNL_EXPR_PAYLOAD_BASE), base);
			if (strcmp(name, "meta") == 0) {
				uint32_t key = nftnl_expr_get_u32(e,
				    NFTNL_EXPR_META_KEY);

				ck_assert_uint_ne(key, NFT_META_NFPROTO);
				ck_assert_uint_ne(key, NFT_META_L4PROTO);
				ck_assert_uint_ne(key, NFT_META_IIF);
				ck_assert_uint_ne(key, NFT_META_OIF);
			}
		}
		nftnl_expr_iter_destroy(it);
	}
}

/* The index of o's first rule of chain at or after i; o->nrules if none. */
static size_t
next_in(const struct kk_nft_objects *o, const char *chain, size_t i)
{
	while (i < o->nrules && strcmp(nftnl_rule_get_str(o->rules[i],
	    NFTNL_RULE_CHAIN), chain) != 0)
		i++;
	return i;
}

/* The rules of o's chain, by name. */
static size_t
rules_in(const struct kk_nft_objects *o, const char *chain)
{
	size_t i, n = 0;

	for (i = next_in(o, chain, 0); i < o->nrules;
	    i = next_in(o, chain, i + 1))
		n++;
	return n;
}

/* Whether o's chain has a rule whose comment starts with prefix. */
static bool
has_rule(const struct kk_nft_objects *o, const char *chain,
    const char *prefix)
{
	char comment[128];
	size_t i;

	for (i = next_in(o, chain, 0); i < o->nrules;
	    i = next_in(o, chain, i + 1))
		if (strncmp(kk_nft_rule_comment(o->rules[i], comment,
		    sizeof(comment)), prefix, strlen(prefix)) == 0)
			return true;
	return false;
}

/* Whether the first rule of o's chain has this comment. */
static bool
first_rule_is(const struct kk_nft_objects *o, const char *chain,
    const char *comment)
{
	char c[128];
	size_t i = next_in(o, chain, 0);

	return i < o->nrules && strcmp(kk_nft_rule_comment(o->rules[i], c,
	    sizeof(c)), comment) == 0;
}

/*
 * check(spec, inet, nd) for each policy of the golden file, isolated on
 * two Ethernet devices (and a modem): its inet and netdev tables, whose
 * rules read only frames, freed after each.
 */
static void
each_isolated(bool modem, void (*check)(struct kk_nft_spec *,
    struct kk_nft_objects *, struct kk_nft_objects *))
{
	struct kk_policy *p = calloc(1, sizeof(*p));
	struct kk_nft_objects inet, nd;
	struct kk_nft_spec spec;
	size_t i;

	ck_assert_ptr_nonnull(p);
	for (i = 0; i < sizeof(policies) / sizeof(policies[0]); i++) {
		memset(p, 0, sizeof(*p));
		policies[i].make(p);
		kk_test_nft_spec(&spec, p);
		spec.mode = KK_MODE_ISOLATED;
		strcpy(spec.episode, EPISODE);
		spec.netdevs = two_devs;
		spec.nnetdevs = 2;
		if (modem) {
			spec.ipdevs = modem_dev;
			spec.nipdevs = 1;
		}
		ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_NETDEV,
		    &nd), 0);
		ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET,
		    &inet), 0);
		netdev_rules_read_frame_only(&nd);
		check(&spec, &inet, &nd);
		kk_nft_objects_free(&nd);
		kk_nft_objects_free(&inet);
	}
	free(p);
}

/*
 * nd's chains k and k + 1: ingress (named so) and egress, both dropping
 * by default, on the devices want names (NULL-terminated), in order.
 */
static void
assert_chain_pair(const struct kk_nft_objects *nd, size_t k,
    const char *ingress, const char *const *want)
{
	const char *const *devs;
	size_t i, c;

	ck_assert_uint_gt(nd->nchains, k + 1);
	ck_assert_str_eq(nftnl_chain_get_str(nd->chains[k], NFTNL_CHAIN_NAME),
	    ingress);
	ck_assert_uint_eq(nftnl_chain_get_u32(nd->chains[k],
	    NFTNL_CHAIN_HOOKNUM), NF_NETDEV_INGRESS);
	ck_assert_uint_eq(nftnl_chain_get_u32(nd->chains[k + 1],
	    NFTNL_CHAIN_HOOKNUM), NF_NETDEV_EGRESS);
	/* first in, last out: another table's chain cannot undo them */
	ck_assert_int_eq(nftnl_chain_get_s32(nd->chains[k], NFTNL_CHAIN_PRIO),
	    INT32_MIN);
	ck_assert_int_eq(nftnl_chain_get_s32(nd->chains[k + 1],
	    NFTNL_CHAIN_PRIO), INT32_MAX);
	for (c = k; c < k + 2; c++) {
		ck_assert_uint_eq(nftnl_chain_get_u32(nd->chains[c],
		    NFTNL_CHAIN_POLICY), NF_DROP);
		devs = nftnl_chain_get_array(nd->chains[c], NFTNL_CHAIN_DEVICES);
		ck_assert_ptr_nonnull(devs);
		for (i = 0; want[i] != NULL; i++)
			ck_assert_str_eq(devs[i], want[i]);
		ck_assert_ptr_null(devs[i]);
	}
}

static void
frames_only(struct kk_nft_spec *spec, struct kk_nft_objects *inet,
    struct kk_nft_objects *nd)
{
	/* ingress, egress: both drop by default, on both devices */
	ck_assert_uint_eq(nd->nchains, 2);
	assert_chain_pair(nd, 0, "ingress", ethernet);
	/* input's rows less loopback, plus ARP, EAPOL, LACP */
	ck_assert_uint_eq(rules_in(nd, "ingress"), rules_in(inet, "input") + 2);
	ck_assert(has_rule(nd, "egress", "EAPOL"));
	/*
	 * what trusts the packet's socket stays in the inet table: a
	 * process of another namespace would pass for the kernel
	 */
	ck_assert(!has_rule(nd, "egress", "the kernel's neighbour"));
	ck_assert(!has_rule(nd, "egress", "neighbour discovery from"));
	ck_assert_int_eq(has_rule(nd, "egress",
	    "neighbour discovery to an on-link CSIRT peer"), spec->policy->ndp);
	ck_assert_int_eq(has_rule(inet, "output", "the kernel's neighbour"),
	    spec->policy->ndp);
}

START_TEST(netdev_table_frames_only)
{
	each_isolated(false, frames_only);
}
END_TEST

/* No devices, a drill, another mode: no netdev table. */
START_TEST(netdev_table_only_isolated)
{
	struct kk_policy *p = calloc(1, sizeof(*p));
	struct kk_nft_objects nd;
	struct kk_nft_spec spec;

	ck_assert_ptr_nonnull(p);
	kk_test_policy_base(p);
	memset(&spec, 0, sizeof(spec));
	spec.mode = KK_MODE_ISOLATED;
	spec.policy = p;
	strcpy(spec.episode, EPISODE);
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_NETDEV, &nd),
	    -ENOENT);
	spec.netdevs = two_devs;
	spec.nnetdevs = 2;
	spec.mode = KK_MODE_EGRESS;
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_NETDEV, &nd),
	    -ENOENT);
	spec.mode = KK_MODE_ISOLATED;
	spec.drill = true;
	spec.gate_ms = 1000;
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_NETDEV, &nd),
	    -ENOENT);
	free(p);
}
END_TEST

/*
 * Raw-IP devices (a modem's wwan0, tun) get chains of their own, with the
 * same rows on network-header offsets: no Ethernet rows there, none of
 * the Ethernet chains' link-layer bytes; a host with only such a device
 * has a netdev table of those two chains.
 */
static void
raw_ip(struct kk_nft_spec *spec, struct kk_nft_objects *inet,
    struct kk_nft_objects *nd)
{
	ck_assert_uint_eq(nd->nchains, 4);
	assert_chain_pair(nd, 2, "ingress_ip", modem_names);
	/* the Ethernet chains keep their devices, not the modem */
	assert_chain_pair(nd, 0, "ingress", ethernet);
	/*
	 * input's rows less loopback; no ARP, EAPOL or LACP; first, the
	 * guard against a frame with a link-layer header
	 */
	ck_assert_uint_eq(rules_in(nd, "ingress_ip"), rules_in(inet, "input"));
	ck_assert_uint_eq(rules_in(nd, "egress_ip") + 2,
	    rules_in(nd, "egress"));
	ck_assert(first_rule_is(nd, "ingress_ip", LL_GUARD));
	ck_assert(first_rule_is(nd, "egress_ip", LL_GUARD));
	ck_assert(!has_rule(nd, "ingress", LL_GUARD));
	ck_assert(!has_rule(inet, "input", LL_GUARD));
	ck_assert(!has_rule(nd, "egress_ip", "EAPOL"));
	ck_assert(!has_rule(nd, "ingress_ip", "ARP"));
	ck_assert(!has_rule(nd, "egress_ip", "the kernel's neighbour"));
	kk_nft_objects_free(nd);
	/* only a modem: its two chains */
	spec->nnetdevs = 0;
	ck_assert_int_eq(kk_nft_objects_build(spec, NFPROTO_NETDEV, nd), 0);
	ck_assert_uint_eq(nd->nchains, 2);
	ck_assert_str_eq(nftnl_chain_get_str(nd->chains[0], NFTNL_CHAIN_NAME),
	    "ingress_ip");
	ck_assert_uint_eq(rules_in(nd, "ingress"), 0);
	ck_assert_uint_gt(rules_in(nd, "egress_ip"), 0);
}

START_TEST(netdev_table_raw_ip)
{
	each_isolated(true, raw_ip);
}
END_TEST

/*
 * A netdev rule run on a frame, as the kernel runs it: payload loads
 * from the frame (a load past its end: no match), masks, comparisons,
 * and lookups that hit (the sets are not what these tests are about),
 * as does a comparison of a socket's owner (meta).  Anything else in a
 * netdev row fails the test.  base: where the frame starts (the
 * link-layer header, or the network header on a raw-IP device); a load
 * from another header fails the test.
 */
static bool
frame_matches(struct nftnl_rule *r, uint32_t base, const uint8_t *frame,
    size_t len)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	uint8_t reg[KK_EXPR_WIN_MAX];
	const uint8_t *data, *mask;
	struct nftnl_expr *e;
	const char *name;
	uint32_t off, n, op, i;
	bool match = true, meta = false;
	int c;

	ck_assert_ptr_nonnull(it);
	memset(reg, 0, sizeof(reg));
	while (match && (e = nftnl_expr_iter_next(it)) != NULL) {
		name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
		if (strcmp(name, "meta") == 0) {
			/* a socket's owner: what an egress row may ask */
			n = nftnl_expr_get_u32(e, NFTNL_EXPR_META_KEY);
			ck_assert(n == NFT_META_SKUID || n == NFT_META_SKGID);
			meta = true;
		} else if (strcmp(name, "cmp") == 0 && meta) {
			meta = false;
		} else if (strcmp(name, "payload") == 0) {
			meta = false;
			ck_assert_uint_eq(nftnl_expr_get_u32(e,
			    NFTNL_EXPR_PAYLOAD_BASE), base);
			off = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET);
			n = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_LEN);
			ck_assert_uint_le(n, sizeof(reg));
			memset(reg, 0, sizeof(reg));
			if (off + n > len)
				match = false;
			else
				memcpy(reg, frame + off, n);
		} else if (strcmp(name, "bitwise") == 0) {
			mask = nftnl_expr_get(e, NFTNL_EXPR_BITWISE_MASK, &n);
			ck_assert_uint_le(n, sizeof(reg));
			for (i = 0; i < n; i++)
				reg[i] &= mask[i];
			/* a mask alone: nothing flipped */
			data = nftnl_expr_get(e, NFTNL_EXPR_BITWISE_XOR, &n);
			for (i = 0; i < n; i++)
				ck_assert_uint_eq(data[i], 0);
		} else if (strcmp(name, "cmp") == 0) {
			data = nftnl_expr_get(e, NFTNL_EXPR_CMP_DATA, &n);
			op = nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_OP);
			c = memcmp(reg, data, n);
			match = op == NFT_CMP_EQ ? c == 0 : op == NFT_CMP_NEQ ?
			    c != 0 : op == NFT_CMP_GTE ? c >= 0 :
			    op == NFT_CMP_LTE ? c <= 0 : false;
			ck_assert(op == NFT_CMP_EQ || op == NFT_CMP_NEQ ||
			    ((op == NFT_CMP_GTE || op == NFT_CMP_LTE) &&
			    n == 1));
		} else {
			ck_assert_msg(strcmp(name, "lookup") == 0 ||
			    strcmp(name, "immediate") == 0 ||
			    strcmp(name, "counter") == 0,
			    "a netdev row with a %s expression", name);
		}
	}
	nftnl_expr_iter_destroy(it);
	return match;
}

/*
 * m compiled for frame (a netdev row of ingress): nexprs expressions,
 * and it matches fr (flen bytes from base) as it is.
 */
static struct nftnl_rule *
compiled(const struct match *m, enum kk_frame frame, unsigned nexprs,
    uint32_t base, const uint8_t *fr, size_t flen)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct kk_nft_spec spec;
	struct kk_policy *p = calloc(1, sizeof(*p));

	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_nonnull(p);
	kk_test_nft_spec(&spec, p);
	ck_assert_int_eq(kk_nft_match_compile(r, m, HOOK_INGRESS, &spec,
	    frame), 0);
	ck_assert_int_eq(kk_test_exprs(r, NULL), (int)nexprs);
	ck_assert(frame_matches(r, base, fr, flen));
	free(p);
	return r;
}

/*
 * r on frame (len bytes from base) with byte i set to v: whether it
 * matches is want; what names the change where it is not.
 */
static void
byte_decides(struct nftnl_rule *r, uint32_t base, const uint8_t *frame,
    size_t len, size_t i, uint8_t v, bool want, const char *what)
{
	uint8_t f[256];
	char c[128];

	ck_assert_uint_le(len, sizeof(f));
	ck_assert_uint_lt(i, len);
	memcpy(f, frame, len);
	f[i] = v;
	ck_assert_msg(frame_matches(r, base, f, len) == want,
	    "\"%s\" byte %zu = %#x (%s): %s",
	    kk_nft_rule_comment(r, c, sizeof(c)), i, v, what,
	    want ? "no match" : "a match");
}

/* in a test of r on the Ethernet frame fr, flen bytes long */
#define CHANGED(i, v, want)	byte_decides(r, NFT_PAYLOAD_LL_HEADER, fr, \
	flen, (i), (v), (want), "")

/* Ethernet, IPv4 (no options, not a fragment), UDP 67 -> 68 */
static const uint8_t dhcp4_frame[42] = {
	[12] = 0x08, 0x00, 0x45, 0x00, 0x00, 0x1c, 0x12, 0x34, 0x40, 0x00,
	    0x40, 0x11, 0x00, 0x00, 192, 0, 2, 1, 255, 255, 255, 255,
	    0x00, 67, 0x00, 68, 0x00, 0x08, 0x00, 0x00,
};

/*
 * The bytes a netdev row fixes in a frame's headers are compared a
 * window at a time (kk_expr_win): what each byte says still decides.
 */
START_TEST(frame_window_ipv4)
{
	const struct match m = { .nfproto = NFPROTO_IPV4, .l4 = IPPROTO_UDP,
	    .sport = 67, .dport = 68 };
	const uint8_t *fr = dhcp4_frame;
	const size_t flen = sizeof(dhcp4_frame);
	struct nftnl_rule *r;

	/* type, 0x45, fragment, protocol: one load, mask and compare */
	r = compiled(&m, KK_FRAME_ETHER, 5, NFT_PAYLOAD_LL_HEADER, fr, flen);
	CHANGED(12, 0x86, false);	/* not IPv4 */
	CHANGED(13, 0x01, false);
	CHANGED(14, 0x46, false);	/* options: the ports are elsewhere */
	CHANGED(14, 0x65, false);
	CHANGED(20, 0x20, false);	/* more fragments */
	CHANGED(21, 0x01, false);	/* a later fragment */
	CHANGED(20, 0x01, false);
	CHANGED(20, 0x00, true);	/* DF clear: still whole */
	CHANGED(20, 0x80, true);	/* the reserved bit: not a fragment */
	CHANGED(15, 0xff, true);	/* TOS, length, id, TTL: anything */
	CHANGED(22, 0x01, true);
	CHANGED(23, 0x06, false);	/* TCP */
	CHANGED(35, 68, false);		/* source port */
	CHANGED(37, 67, false);		/* destination port */
	/* cut before the ports end: the load fails */
	ck_assert(!frame_matches(r, NFT_PAYLOAD_LL_HEADER, dhcp4_frame, 37));
	nftnl_rule_free(r);
	/* a raw-IP device: the same from the frame's first byte */
	r = compiled(&m, KK_FRAME_IP, 5, NFT_PAYLOAD_NETWORK_HEADER, fr + 14,
	    flen - 14);
	byte_decides(r, NFT_PAYLOAD_NETWORK_HEADER, fr + 14, flen - 14, 6,
	    0x20, false, "more fragments");
	byte_decides(r, NFT_PAYLOAD_NETWORK_HEADER, fr + 14, flen - 14, 9,
	    0x06, false, "TCP");
	nftnl_rule_free(r);
}
END_TEST

/* Ethernet, IPv6 hop limit 1, hop-by-hop (8 bytes), ICMPv6 143 */
static const uint8_t mld_frame[14 + 40 + 8 + 8] = {
	[12] = 0x86, 0xdd, 0x60, 0, 0, 0, 0x00, 0x10, 0x00, 0x01,
	[22] = 0xfe, 0x80, [38] = 0xff, 0x02, [53] = 0x16,
	[54] = 58, 0, 5, 2, 0, 0, 1, 0,
	[62] = 143, 0,
};

START_TEST(frame_window_ipv6_hbh)
{
	const struct match m = { .nfproto = NFPROTO_IPV6,
	    .l4 = IPPROTO_ICMPV6, .hbh = true, .hoplimit = 1,
	    .icmp6_lo = 143, .icmp6_hi = 143 };
	const uint8_t *fr = mld_frame;
	const size_t flen = sizeof(mld_frame);
	struct nftnl_rule *r;

	/*
	 * type, next header, hop limit at once (3); the hop-by-hop
	 * header's next header and length (2); the ICMPv6 type (2)
	 */
	r = compiled(&m, KK_FRAME_ETHER, 7, NFT_PAYLOAD_LL_HEADER, fr, flen);
	CHANGED(13, 0x00, false);
	CHANGED(20, 58, false);		/* no hop-by-hop header */
	CHANGED(21, 2, false);		/* hop limit */
	CHANGED(21, 255, false);
	CHANGED(54, 6, false);		/* TCP after it */
	CHANGED(55, 1, false);		/* 16 bytes long: ICMPv6 elsewhere */
	CHANGED(62, 130, false);	/* a query, not a v2 report */
	CHANGED(15, 0xff, true);	/* flow label */
	CHANGED(56, 0xff, true);	/* the options */
	nftnl_rule_free(r);
}
END_TEST

/* Ethernet, IPv6, ICMPv6 too big quoting IPv6 and TCP */
static const uint8_t ptb6_frame[14 + 40 + 8 + 40 + 20] = {
	[12] = 0x86, 0xdd, 0x60, [20] = 58, 255,
	[54] = 2, 0, [62] = 0x60, [68] = 6, 64,
	[102] = 0x12, 0x34, 0x13, 0x1d,
};

START_TEST(frame_window_ptb6)
{
	const struct match m = { .nfproto = NFPROTO_IPV6,
	    .l4 = IPPROTO_ICMPV6, .ptb = PTB_TO_PORT };
	const uint8_t *fr = ptb6_frame;
	const size_t flen = sizeof(ptb6_frame);
	struct nftnl_rule *r;

	/* frame (3); type to quoted next header (3); two lookups (4) */
	r = compiled(&m, KK_FRAME_ETHER, 10, NFT_PAYLOAD_LL_HEADER, fr, flen);
	CHANGED(54, 1, false);		/* destination unreachable */
	CHANGED(55, 9, true);		/* the code: ignored */
	CHANGED(62, 0x45, false);	/* quoting IPv4 */
	CHANGED(62, 0x6f, true);	/* traffic class */
	CHANGED(68, 17, false);		/* quoting UDP */
	CHANGED(20, 6, false);		/* not ICMPv6 */
	nftnl_rule_free(r);
}
END_TEST

/*
 * A raw-IP device's IPv6 row: the version nibble, next header and hop
 * limit from the frame's first byte, one window.
 */
START_TEST(frame_window_raw_ipv6)
{
	static const uint8_t nd[40 + 24] = { 0x60, [6] = 58, 255,
	    [40] = 135 };
	const struct match m = { .nfproto = NFPROTO_IPV6,
	    .l4 = IPPROTO_ICMPV6, .icmp6_lo = 133, .icmp6_hi = 137,
	    .hoplimit = 255 };
	struct nftnl_rule *r;
	size_t i;
	/* byte, value, still a match */
	static const struct { uint8_t i, v; bool want; } cases[] = {
		{ 0, 0x45, false }, { 0, 0x6f, true }, { 6, 6, false },
		{ 7, 64, false }, { 40, 132, false }, { 40, 137, true },
		{ 40, 138, false }, { 5, 0xff, true },
	};

	/* window (3), ICMPv6 type range (3) */
	r = compiled(&m, KK_FRAME_IP, 6, NFT_PAYLOAD_NETWORK_HEADER, nd,
	    sizeof(nd));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		byte_decides(r, NFT_PAYLOAD_NETWORK_HEADER, nd, sizeof(nd),
		    cases[i].i, cases[i].v, cases[i].want, "raw IPv6");
	nftnl_rule_free(r);
}
END_TEST

/* A hop limit only where there is an IPv6 header to hold it. */
START_TEST(hoplimit_only_ipv6)
{
	static const struct match bad[] = {
		{ .nfproto = NFPROTO_IPV4, .l4 = IPPROTO_UDP, .hoplimit = 1 },
		{ .hoplimit = 1 },
		{ .arp = true, .hoplimit = 1 },
		{ .arp = true, .nfproto = NFPROTO_IPV6, .hoplimit = 1 },
		{ .ethertype = 0x888e, .nfproto = NFPROTO_IPV6,
		    .hoplimit = 1 },
	};
	static const enum kk_frame frames[] = { KK_FRAME_STACK,
	    KK_FRAME_ETHER, KK_FRAME_IP };
	struct kk_policy *p = calloc(1, sizeof(*p));
	struct kk_nft_spec spec;
	struct nftnl_rule *r;
	size_t i, k;

	ck_assert_ptr_nonnull(p);
	kk_test_nft_spec(&spec, p);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		for (k = 0; k < 3; k++) {
			r = nftnl_rule_alloc();
			ck_assert_ptr_nonnull(r);
			ck_assert_msg(kk_nft_match_compile(r, &bad[i],
			    HOOK_INGRESS, &spec, frames[k]) == -EINVAL,
			    "match %zu, frame %zu", i, k);
			nftnl_rule_free(r);
		}
	/* a raw-IP row with a link-layer guard and a hop limit */
	r = nftnl_rule_alloc();
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(kk_nft_match_compile(r, &(const struct match){
	    .ll_header = true, .nfproto = NFPROTO_IPV6, .hoplimit = 1 },
	    HOOK_INGRESS, &spec, KK_FRAME_IP), -EINVAL);
	/* frame bytes where there is no frame: it would match everything */
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(kk_nft_match_compile(r, &(const struct match){
		    .ll_header = i == 0, .arp = i == 1,
		    .ethertype = i == 2 ? 0x888e : 0 }, HOOK_IN, &spec,
		    KK_FRAME_STACK), -EINVAL);
	nftnl_rule_free(r);
	free(p);
}
END_TEST

/*
 * A frame that r's comparisons take (the bytes they fix; the first of a
 * range; a byte unlike the one a "not" names), built from r itself;
 * fixed: which bits of it r reads.
 */
static void
frame_for(struct nftnl_rule *r, uint8_t *f, uint8_t *fixed, size_t len)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	uint8_t mask[KK_EXPR_WIN_MAX];
	const uint8_t *data, *m;
	struct nftnl_expr *e;
	const char *name;
	uint32_t off = 0, n, op, i;
	bool loaded = false;

	ck_assert_ptr_nonnull(it);
	memset(f, 0, len);
	memset(fixed, 0, len);
	while ((e = nftnl_expr_iter_next(it)) != NULL) {
		name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
		if (strcmp(name, "payload") == 0) {
			off = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET);
			n = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_LEN);
			ck_assert_uint_le(off + n, len);
			memset(mask, 0xff, sizeof(mask));
			loaded = true;
		} else if (strcmp(name, "meta") == 0) {
			loaded = false;
		} else if (strcmp(name, "bitwise") == 0 && loaded) {
			m = nftnl_expr_get(e, NFTNL_EXPR_BITWISE_MASK, &n);
			memcpy(mask, m, n);
		} else if (strcmp(name, "cmp") == 0 && loaded) {
			data = nftnl_expr_get(e, NFTNL_EXPR_CMP_DATA, &n);
			op = nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_OP);
			for (i = 0; i < n && op == NFT_CMP_EQ; i++)
				f[off + i] = (uint8_t)((f[off + i] & ~mask[i]) |
				    (data[i] & mask[i]));
			if (op == NFT_CMP_GTE)
				f[off] = data[0];
			if (op == NFT_CMP_NEQ && n == 1 &&
			    (f[off] & mask[0]) == data[0])
				f[off] = (uint8_t)((f[off] & ~mask[0]) |
				    (~data[0] & mask[0]));
			for (i = 0; i < n; i++)
				fixed[off + i] |= mask[i];
		}
	}
	nftnl_expr_iter_destroy(it);
}

/* Does r load from any header but base (the raw-IP chains' guard)? */
static bool
loads_elsewhere(struct nftnl_rule *r, uint32_t base)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e;
	bool other = false;

	ck_assert_ptr_nonnull(it);
	while ((e = nftnl_expr_iter_next(it)) != NULL)
		if (strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME),
		    "payload") == 0 && nftnl_expr_get_u32(e,
		    NFTNL_EXPR_PAYLOAD_BASE) != base)
			other = true;
	nftnl_expr_iter_destroy(it);
	return other;
}

#define GUARD_FRAME	160
/* rows checked: IPv4 and IPv6 on Ethernet [0] and raw IP [1]; tagged */
static unsigned guard_v4[2], guard_v6[2], guard_vlan;

/* in guards_hold: r on its frame f with byte i set to v */
#define SAYS(i, v, want, what)	byte_decides(r, base, f, sizeof(f), (i), \
	(v), (want), (what))

/*
 * Every accepting row of nd's chains, with a frame it takes: not with an
 * IPv4 header with options or a fragment of a datagram, not with an IPv6
 * fragment header where its transport header would be, not tagged
 * (802.1Q) where it reads an Ethernet type; whatever the sets hold.
 */
static void
guards_hold(struct kk_nft_spec *spec, struct kk_nft_objects *inet,
    struct kk_nft_objects *nd)
{
	uint8_t f[GUARD_FRAME], fixed[GUARD_FRAME];
	struct nftnl_rule *r;
	uint32_t base, l3;
	const char *chain;
	char c[128];
	bool ether;
	size_t i;

	(void)spec;
	(void)inet;
	for (i = 0; i < nd->nrules; i++) {
		r = nd->rules[i];
		chain = nftnl_rule_get_str(r, NFTNL_RULE_CHAIN);
		ether = strstr(chain, "_ip") == NULL;
		base = ether ? NFT_PAYLOAD_LL_HEADER :
		    NFT_PAYLOAD_NETWORK_HEADER;
		l3 = ether ? 14 : 0;
		if (kk_test_verdict(r) != NF_ACCEPT)
			continue;
		/* only the raw-IP chains' guard (a drop) reads elsewhere */
		ck_assert(!loads_elsewhere(r, base));
		frame_for(r, f, fixed, sizeof(f));
		ck_assert_msg(frame_matches(r, base, f, sizeof(f)),
		    "\"%s\": the frame made for it does not match",
		    kk_nft_rule_comment(r, c, sizeof(c)));
		if (ether && fixed[12] == 0xff && fixed[13] == 0xff) {
			SAYS(12, 0x81, false, "a VLAN tag");
			guard_vlan++;
		}
		/* IPv4 with a transport protocol */
		if (f[l3] == 0x45 && fixed[l3] == 0xff && fixed[l3 + 9]) {
			/* the fragment's bits, all of them, and no flag */
			ck_assert_uint_eq(fixed[l3 + 6], 0x3f);
			ck_assert_uint_eq(fixed[l3 + 7], 0xff);
			SAYS(l3, 0x46, false, "IPv4 options");
			SAYS(l3 + 6, f[l3 + 6] | 0x20, false,
			    "a first fragment");
			SAYS(l3 + 7, 1, false, "a later fragment");
			/* what TCP sends: DF; and any TOS, id or TTL */
			SAYS(l3 + 6, f[l3 + 6] | 0x40, true, "DF");
			SAYS(l3 + 1, 0xb8, true, "a TOS");
			SAYS(l3 + 4, 0x5a, true, "an id");
			SAYS(l3 + 8, 1, true, "a TTL");
			guard_v4[!ether]++;
		}
		/* IPv6 with a transport protocol, or a hop-by-hop header */
		if ((ether ? f[12] == 0x86 && f[13] == 0xdd :
		    (f[l3] >> 4) == 6) && fixed[l3 + 6] == 0xff) {
			SAYS(f[l3 + 6] == 0 ? l3 + 40 : l3 + 6, 44, false,
			    "a fragment header");
			SAYS(l3 + 1, 0x0f, true, "a flow label");
			guard_v6[!ether]++;
		}
	}
}

START_TEST(netdev_guards_every_row)
{
	memset(guard_v4, 0, sizeof(guard_v4));
	memset(guard_v6, 0, sizeof(guard_v6));
	guard_vlan = 0;
	each_isolated(true, guards_hold);
	/*
	 * the golden policies' rows on Ethernet and on raw IP, both ways:
	 * not a check of none
	 */
	ck_assert_uint_ge(guard_v4[0], 50);
	ck_assert_uint_ge(guard_v4[1], 50);
	ck_assert_uint_ge(guard_v6[0], 50);
	ck_assert_uint_ge(guard_v6[1], 50);
	ck_assert_uint_ge(guard_vlan, 100);
}
END_TEST

/* ARP: Ethernet and IPv4, lengths 6 and 4, request or reply */
START_TEST(frame_window_arp)
{
	static const uint8_t arp[42] = { [12] = 0x08, 0x06, 0x00, 0x01, 0x08,
	    0x00, 0x06, 0x04, 0x00, 0x01 };
	const struct match m = { .arp = true };
	const uint8_t *fr = arp;
	const size_t flen = sizeof(arp);
	struct nftnl_rule *r;

	r = compiled(&m, KK_FRAME_ETHER, 3, NFT_PAYLOAD_LL_HEADER, fr, flen);
	CHANGED(21, 2, true);		/* a reply */
	CHANGED(21, 4, false);		/* RARP reply: not below 4 */
	CHANGED(21, 8, false);		/* inverse ARP */
	CHANGED(20, 1, false);		/* opcode 257 */
	CHANGED(19, 16, false);		/* protocol length 16 */
	CHANGED(15, 6, false);		/* hardware 6 (IEEE 802) */
	nftnl_rule_free(r);
}
END_TEST

/* The window itself: its bounds, contradictions, and what it emits. */
START_TEST(expr_window)
{
	static const uint8_t v4 = 0x40, vmask = 0xf0, two[2] = { 1, 2 };
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nftnl_expr_iter *it;
	struct nftnl_expr *e;
	struct kk_expr_win w;
	const uint8_t *data;
	uint32_t n;

	ck_assert_ptr_nonnull(r);
	kk_expr_win_init(&w, NFT_PAYLOAD_LL_HEADER, 12);
	ck_assert_int_eq(kk_expr_win_put_byte(&w, 11, 1), -ERANGE);
	ck_assert_int_eq(kk_expr_win_put(&w, 27, NULL, two, 2), -ERANGE);
	ck_assert_int_eq(kk_expr_win_put(&w, 12, NULL, two, 17), -ERANGE);
	ck_assert_int_eq(kk_expr_win_put(&w, UINT32_MAX, NULL, two, 2),
	    -ERANGE);
	/* nothing put: nothing emitted */
	ck_assert_int_eq(kk_expr_win_emit(r, &w), 0);
	it = nftnl_expr_iter_create(r);
	ck_assert_ptr_null(nftnl_expr_iter_next(it));
	nftnl_expr_iter_destroy(it);
	/* a version nibble, then the whole byte that agrees with it */
	ck_assert_int_eq(kk_expr_win_put(&w, 14, &vmask, &v4, 1), 0);
	ck_assert_int_eq(kk_expr_win_put_byte(&w, 14, 0x45), 0);
	ck_assert_int_eq(kk_expr_win_put_byte(&w, 14, 0x46), -EINVAL);
	ck_assert_int_eq(kk_expr_win_put(&w, 14, &vmask, &two[1], 1),
	    -EINVAL);
	ck_assert_int_eq(kk_expr_win_put(&w, 26, NULL, two, 2), 0);
	/* the last byte a window holds */
	ck_assert_int_eq(kk_expr_win_emit(r, &w), 0);
	it = nftnl_expr_iter_create(r);
	/* 14..27 whole bytes at each end, masked between: 3 expressions */
	e = nftnl_expr_iter_next(it);
	ck_assert_uint_eq(nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_BASE),
	    NFT_PAYLOAD_LL_HEADER);
	ck_assert_uint_eq(nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET), 14);
	ck_assert_uint_eq(nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_LEN), 14);
	data = nftnl_expr_get(nftnl_expr_iter_next(it),
	    NFTNL_EXPR_BITWISE_MASK, &n);
	ck_assert_uint_eq(n, 14);
	ck_assert_uint_eq(data[0], 0xff);
	ck_assert_uint_eq(data[1], 0);
	ck_assert_uint_eq(data[13], 0xff);
	data = nftnl_expr_get(nftnl_expr_iter_next(it), NFTNL_EXPR_CMP_DATA,
	    &n);
	ck_assert_uint_eq(n, 14);
	ck_assert_uint_eq(data[0], 0x45);
	ck_assert_uint_eq(data[12], 1);
	ck_assert_uint_eq(data[13], 2);
	ck_assert_ptr_null(nftnl_expr_iter_next(it));
	nftnl_expr_iter_destroy(it);
	nftnl_rule_free(r);
	/* whole bytes only: no mask */
	r = nftnl_rule_alloc();
	ck_assert_ptr_nonnull(r);
	kk_expr_win_init(&w, NFT_PAYLOAD_LL_HEADER, 12);
	ck_assert_int_eq(kk_expr_win_put(&w, 12, NULL, two, 2), 0);
	ck_assert_int_eq(kk_expr_win_emit(r, &w), 0);
	it = nftnl_expr_iter_create(r);
	ck_assert_str_eq(nftnl_expr_get_str(nftnl_expr_iter_next(it),
	    NFTNL_EXPR_NAME), "payload");
	ck_assert_str_eq(nftnl_expr_get_str(nftnl_expr_iter_next(it),
	    NFTNL_EXPR_NAME), "cmp");
	ck_assert_ptr_null(nftnl_expr_iter_next(it));
	nftnl_expr_iter_destroy(it);
	nftnl_rule_free(r);
}
END_TEST

/*
 * A chain's devices are part of what verification compares, in any
 * order, whether the kernel lists one (NFTA_HOOK_DEV) or more.
 */
START_TEST(canon_chain_devices)
{
	struct nftnl_chain *a = nftnl_chain_alloc(), *b = nftnl_chain_alloc();
	const char *ab[] = { "wlan0", "eth0", NULL }, *one[] = { "eth0", NULL };
	char ta[512], tb[512];

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	nftnl_chain_set_str(a, NFTNL_CHAIN_NAME, "egress");
	nftnl_chain_set_str(a, NFTNL_CHAIN_TYPE, "filter");
	nftnl_chain_set_str(b, NFTNL_CHAIN_NAME, "egress");
	nftnl_chain_set_str(b, NFTNL_CHAIN_TYPE, "filter");
	ck_assert_int_eq(nftnl_chain_set_array(a, NFTNL_CHAIN_DEVICES, ab), 0);
	ck_assert_int_eq(nftnl_chain_set_array(b, NFTNL_CHAIN_DEVICES, one), 0);
	ck_assert_int_eq(kk_nft_canon_chain(a, ta, sizeof(ta)), 0);
	ck_assert_int_eq(kk_nft_canon_chain(b, tb, sizeof(tb)), 0);
	ck_assert_ptr_nonnull(strstr(ta, " devices=eth0,wlan0"));
	ck_assert_str_ne(ta, tb);
	/* one device, as the kernel lists it */
	nftnl_chain_free(b);
	b = nftnl_chain_alloc();
	ck_assert_ptr_nonnull(b);
	nftnl_chain_set_str(b, NFTNL_CHAIN_NAME, "egress");
	nftnl_chain_set_str(b, NFTNL_CHAIN_TYPE, "filter");
	nftnl_chain_set_str(b, NFTNL_CHAIN_DEV, "eth0");
	ck_assert_int_eq(kk_nft_canon_chain(b, tb, sizeof(tb)), 0);
	ck_assert_ptr_nonnull(strstr(tb, " devices=eth0"));
	ck_assert_ptr_null(strstr(tb, "wlan0"));
	/*
	 * libnftnl fills both fields from a dump of a chain on one device:
	 * still the one device, as kakurid builds it (a host with one NIC)
	 */
	ck_assert_int_eq(nftnl_chain_set_array(b, NFTNL_CHAIN_DEVICES, one), 0);
	ck_assert_int_eq(kk_nft_canon_chain(b, ta, sizeof(ta)), 0);
	ck_assert_str_eq(ta, tb);
	nftnl_chain_free(a);
	nftnl_chain_free(b);
}
END_TEST

KK_SUITE(nft_rules_suite, "nft_rules",
	KK_CASE("golden", 0, 0),
	    KK_TEST(rulesets_match_golden),
	KK_CASE("netdev", 0, 0),
	    KK_TEST(netdev_table_frames_only),
	    KK_TEST(netdev_table_only_isolated),
	    KK_TEST(netdev_table_raw_ip),
	    KK_TEST(canon_chain_devices),
	KK_CASE("windows", 0, 0),
	    KK_TEST(expr_window),
	    KK_TEST(frame_window_ipv4),
	    KK_TEST(frame_window_ipv6_hbh),
	    KK_TEST(frame_window_ptb6),
	    KK_TEST(frame_window_raw_ipv6),
	    KK_TEST(hoplimit_only_ipv6),
	    KK_TEST(netdev_guards_every_row),
	    KK_TEST(frame_window_arp))
