/*
 * Build the "inet kakuri" table (and, while isolated, "bridge kakuri") as
 * libnftnl objects and as one netlink batch.  Pure: no sockets, no kernel,
 * so unit tests decode what it builds.
 *
 * The rules are what nft(8) itself would compile for the ruleset shown in
 * kakurid(8); every rule carries a comment so `nft list table inet kakuri`
 * explains itself, and the comment doubles as the name used when the
 * kernel refuses a message of the batch.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter_bridge.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "nft.h"

/* nft(8) datatype ids, so `nft list` prints the sets' types by name. */
#define NFT_TYPE_IPADDR		7
#define NFT_TYPE_IP6ADDR	8
#define NFT_TYPE_INET_SERVICE	13

#define CT_ESTABLISHED		0x2	/* NF_CT_STATE_BIT(IP_CT_ESTABLISHED) */
#define LOOPBACK_IFINDEX	1	/* the kernel's constant, in every netns */
#define CHAIN_PRIO		(-10)	/* after conntrack (-200): ct state is known */

enum { HOOK_IN, HOOK_OUT, HOOK_FWD };
static const char *const chain_names[] = { "input", "output", "forward" };
static const unsigned chain_hooks[] = { NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT,
	NF_INET_FORWARD };

enum set_id {
	SET_MGMT4 = 1, SET_MGMT6, SET_MGMT_PORTS, SET_DNS4, SET_DNS6,
	SET_MAIL_TCP, SET_WEB_TCP, SET_WEB_UDP, SET_DHCP4, SET_DHCP6,
};
static const char *const set_names[] = {
	[SET_MGMT4] = "mgmt4", [SET_MGMT6] = "mgmt6",
	[SET_MGMT_PORTS] = "mgmt_ports", [SET_DNS4] = "dns4",
	[SET_DNS6] = "dns6", [SET_MAIL_TCP] = "mail_tcp",
	[SET_WEB_TCP] = "web_tcp", [SET_WEB_UDP] = "web_udp",
	[SET_DHCP4] = "dhcp4", [SET_DHCP6] = "dhcp6",
};

const int kk_nft_families[KK_NFT_FAMILIES] = { NFPROTO_INET, NFPROTO_BRIDGE };

/* An address prefix matched in the network header. */
struct prefix {
	uint8_t addr[16];
	uint8_t plen;		/* bits */
};
static const struct prefix bcast4 = { { 255, 255, 255, 255 }, 32 };
static const struct prefix dhcp6_agents = {	/* ff02::1:2 */
	{ 0xff, 0x02, [13] = 0x01, [15] = 0x02 }, 128 };
static const struct prefix link_local6 = { { 0xfe, 0x80 }, 10 };
static const struct prefix link_mcast6 = { { 0xff, 0x02 }, 16 };

#define ICMP6_NDP_FIRST		133	/* router solicitation */
#define ICMP6_NDP_LAST		136	/* neighbour advertisement */
#define NDP_HOPLIMIT		255	/* RFC 4861 7.1: proves the sender is on-link */
#define ICMP6_MLD_FIRST		130	/* multicast listener query */
#define ICMP6_MLD_LAST		132	/* multicast listener done */
#define ICMP6_MLD2_REPORT	143	/* MLDv2 listener report */
#define MLD_HOPLIMIT		1	/* RFC 3810 5: link-local, never routed */

/* One rule, described as what it matches; rule_new() compiles it. */
struct rule_desc {
	int chain;
	const char *comment;
	int iface;		/* 1: meta iif lo (input) / oif lo (output) */
	int nfproto;		/* NFPROTO_IPV4/IPV6 or 0 */
	int l4;			/* IPPROTO_TCP/UDP/ICMPV6 or 0 */
	enum set_id saddr, daddr;	/* address set lookups */
	const struct prefix *sprefix, *dprefix;
	uint8_t hoplimit;	/* ip6 hoplimit must be this, 0 = any */
	bool from_process;	/* the packet has a process's socket (kernel ones do not match) */
	enum set_id sport_set, dport_set;
	uint16_t sport, dport;	/* single ports (host order), 0 = any */
	uint8_t icmp6_lo, icmp6_hi;	/* icmpv6 type range, 0 = none */
	bool established;
	bool not_syn;		/* tcp flags & (syn|ack) != syn: no new connection */
	bool own_socket;	/* meta skuid/skgid == agent.user */
	bool counter;
	int verdict;		/* NF_ACCEPT or NF_DROP */
};

static void
add_expr(struct nftnl_rule *r, struct nftnl_expr *e)
{
	nftnl_rule_add_expr(r, e);
}

static int
expr_meta(struct nftnl_rule *r, uint32_t key)
{
	struct nftnl_expr *e = nftnl_expr_alloc("meta");

	if (e == NULL)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	add_expr(r, e);
	return 0;
}

static int
expr_cmp(struct nftnl_rule *r, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("cmp");

	if (e == NULL)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	add_expr(r, e);
	return 0;
}

static int
expr_payload(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("payload");

	if (e == NULL)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	add_expr(r, e);
	return 0;
}

static int
expr_lookup(struct nftnl_rule *r, enum set_id set)
{
	struct nftnl_expr *e = nftnl_expr_alloc("lookup");

	if (e == NULL)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set_names[set]);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, 0);
	add_expr(r, e);
	return 0;
}

/* reg 1 &= mask (len bytes) */
static int
expr_mask(struct nftnl_rule *r, const void *mask, uint32_t len)
{
	static const uint8_t zero[16];
	struct nftnl_expr *e = nftnl_expr_alloc("bitwise");

	if (e == NULL)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len);
	add_expr(r, e);
	return 0;
}

static int
expr_ct_established(struct nftnl_rule *r)
{
	struct nftnl_expr *e;
	uint32_t mask = CT_ESTABLISHED, zero = 0;
	int err;

	e = nftnl_expr_alloc("ct");
	if (e == NULL)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	add_expr(r, e);
	if ((err = expr_mask(r, &mask, sizeof(mask))) < 0)
		return err;
	return expr_cmp(r, NFT_CMP_NEQ, &zero, sizeof(zero));
}

/* tcp flags & (syn | ack) != syn: anything but the opening of a connection */
static int
expr_not_syn(struct nftnl_rule *r)
{
	uint8_t mask = 0x12, syn = 0x02;
	int err;

	if ((err = expr_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 13, 1)) < 0 ||
	    (err = expr_mask(r, &mask, 1)) < 0)
		return err;
	return expr_cmp(r, NFT_CMP_NEQ, &syn, 1);
}

/* The address at off is in p: load only the bytes the prefix covers, as nft does. */
static int
expr_prefix(struct nftnl_rule *r, uint32_t off, const struct prefix *p)
{
	uint8_t mask[16];
	uint32_t len = (p->plen + 7u) / 8u;
	int err;

	if ((err = expr_payload(r, NFT_PAYLOAD_NETWORK_HEADER, off, len)) < 0)
		return err;
	if (p->plen % 8) {
		memset(mask, 0xff, len);
		mask[len - 1] = (uint8_t)(0xff << (8 - p->plen % 8));
		if ((err = expr_mask(r, mask, len)) < 0)
			return err;
	}
	return expr_cmp(r, NFT_CMP_EQ, p->addr, len);
}

static int
expr_verdict(struct nftnl_rule *r, int verdict)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	if (e == NULL)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	add_expr(r, e);
	return 0;
}

static int
expr_counter(struct nftnl_rule *r)
{
	struct nftnl_expr *e = nftnl_expr_alloc("counter");

	if (e == NULL)
		return -ENOMEM;
	add_expr(r, e);
	return 0;
}

static int
set_comment(struct nftnl_rule *r, const char *comment)
{
	struct nftnl_udata_buf *u;

	u = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
	if (u == NULL)
		return -ENOMEM;
	if (!nftnl_udata_put_strz(u, NFTNL_UDATA_RULE_COMMENT, comment)) {
		nftnl_udata_buf_free(u);
		return -E2BIG;
	}
	nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(u),
	    nftnl_udata_buf_len(u));
	nftnl_udata_buf_free(u);
	return 0;
}

static int
match_port_set(struct nftnl_rule *r, uint32_t off, enum set_id set)
{
	int err = expr_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, off, 2);

	return err < 0 ? err : expr_lookup(r, set);
}

static int
match_port(struct nftnl_rule *r, uint32_t off, uint16_t port)
{
	uint16_t be = htons(port);
	int err = expr_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, off, 2);

	return err < 0 ? err : expr_cmp(r, NFT_CMP_EQ, &be, sizeof(be));
}

static int
compile(const struct rule_desc *d, const struct kk_nft_objects *o,
    const struct kk_nft_spec *spec, struct nftnl_rule **out)
{
	struct nftnl_rule *r;
	uint32_t u32;
	uint8_t u8;
	bool v6 = d->nfproto == NFPROTO_IPV6;
	int err;

	r = nftnl_rule_alloc();
	if (r == NULL)
		return -ENOMEM;
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE,
	    nftnl_table_get_str(o->table, NFTNL_TABLE_NAME));
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain_names[d->chain]);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, (uint32_t)o->family);
	if ((err = set_comment(r, d->comment)) < 0)
		goto fail;
	if (d->iface) {
		u32 = LOOPBACK_IFINDEX;
		if ((err = expr_meta(r, d->chain == HOOK_OUT ? NFT_META_OIF :
		    NFT_META_IIF)) < 0 ||
		    (err = expr_cmp(r, NFT_CMP_EQ, &u32, sizeof(u32))) < 0)
			goto fail;
	}
	if (d->nfproto) {
		u8 = (uint8_t)d->nfproto;
		if ((err = expr_meta(r, NFT_META_NFPROTO)) < 0 ||
		    (err = expr_cmp(r, NFT_CMP_EQ, &u8, 1)) < 0)
			goto fail;
	}
	if (d->l4) {
		u8 = (uint8_t)d->l4;
		if ((err = expr_meta(r, NFT_META_L4PROTO)) < 0 ||
		    (err = expr_cmp(r, NFT_CMP_EQ, &u8, 1)) < 0)
			goto fail;
	}
	if (d->saddr) {
		if ((err = expr_payload(r, NFT_PAYLOAD_NETWORK_HEADER,
		    v6 ? 8 : 12, v6 ? 16 : 4)) < 0 ||
		    (err = expr_lookup(r, d->saddr)) < 0)
			goto fail;
	}
	if (d->daddr) {
		if ((err = expr_payload(r, NFT_PAYLOAD_NETWORK_HEADER,
		    v6 ? 24 : 16, v6 ? 16 : 4)) < 0 ||
		    (err = expr_lookup(r, d->daddr)) < 0)
			goto fail;
	}
	if (d->sprefix && (err = expr_prefix(r, v6 ? 8 : 12, d->sprefix)) < 0)
		goto fail;
	if (d->dprefix && (err = expr_prefix(r, v6 ? 24 : 16, d->dprefix)) < 0)
		goto fail;
	if (d->sport_set && (err = match_port_set(r, 0, d->sport_set)) < 0)
		goto fail;
	if (d->dport_set && (err = match_port_set(r, 2, d->dport_set)) < 0)
		goto fail;
	if (d->sport && (err = match_port(r, 0, d->sport)) < 0)
		goto fail;
	if (d->dport && (err = match_port(r, 2, d->dport)) < 0)
		goto fail;
	if (d->icmp6_lo) {
		if ((err = expr_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 0,
		    1)) < 0 ||
		    (err = expr_cmp(r, NFT_CMP_GTE, &d->icmp6_lo, 1)) < 0 ||
		    (err = expr_cmp(r, NFT_CMP_LTE, &d->icmp6_hi, 1)) < 0)
			goto fail;
	}
	if (d->hoplimit) {
		if ((err = expr_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 7, 1)) < 0 ||
		    (err = expr_cmp(r, NFT_CMP_EQ, &d->hoplimit, 1)) < 0)
			goto fail;
	}
	if (d->from_process) {
		/* meta skuid fails (no match) for the kernel's own sockets */
		u32 = 0;
		if ((err = expr_meta(r, NFT_META_SKUID)) < 0 ||
		    (err = expr_cmp(r, NFT_CMP_GTE, &u32, sizeof(u32))) < 0)
			goto fail;
	}
	if (d->established && (err = expr_ct_established(r)) < 0)
		goto fail;
	if (d->not_syn && (err = expr_not_syn(r)) < 0)
		goto fail;
	if (d->own_socket) {
		if ((err = expr_meta(r, NFT_META_SKUID)) < 0 ||
		    (err = expr_cmp(r, NFT_CMP_EQ, &spec->own_uid, 4)) < 0 ||
		    (err = expr_meta(r, NFT_META_SKGID)) < 0 ||
		    (err = expr_cmp(r, NFT_CMP_EQ, &spec->own_gid, 4)) < 0)
			goto fail;
	}
	if (d->counter && (err = expr_counter(r)) < 0)
		goto fail;
	if ((err = expr_verdict(r, d->verdict)) < 0)
		goto fail;
	*out = r;
	return 0;
fail:
	nftnl_rule_free(r);
	return err;
}

static int
add_rule(struct kk_nft_objects *o, const struct kk_nft_spec *spec,
    const struct rule_desc *d)
{
	int err;

	if (o->nrules >= KK_NFT_MAX_RULES)
		return -E2BIG;
	err = compile(d, o, spec, &o->rules[o->nrules]);
	if (err == 0)
		o->nrules++;
	return err;
}

static int
add_chain(struct kk_nft_objects *o, int hook, int policy)
{
	struct nftnl_chain *c = nftnl_chain_alloc();

	if (c == NULL)
		return -ENOMEM;
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE,
	    nftnl_table_get_str(o->table, NFTNL_TABLE_NAME));
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, chain_names[hook]);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, (uint32_t)o->family);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, chain_hooks[hook]);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, CHAIN_PRIO);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, (uint32_t)policy);
	o->chains[o->nchains++] = c;
	return 0;
}

static struct nftnl_set *
set_new(struct kk_nft_objects *o, enum set_id id, uint32_t type, uint32_t len)
{
	struct nftnl_set *s = nftnl_set_alloc();

	if (s == NULL)
		return NULL;
	nftnl_set_set_str(s, NFTNL_SET_TABLE,
	    nftnl_table_get_str(o->table, NFTNL_TABLE_NAME));
	nftnl_set_set_str(s, NFTNL_SET_NAME, set_names[id]);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, (uint32_t)o->family);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, type);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, len);
	nftnl_set_set_u32(s, NFTNL_SET_ID, id);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, 0);
	o->sets[o->nsets++] = s;
	return s;
}

static int
elem_add(struct nftnl_set *s, const void *key, uint32_t len)
{
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();

	if (e == NULL)
		return -ENOMEM;
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, len);
	nftnl_set_elem_add(s, e);
	return 0;
}

static int
add_addr_sets(struct kk_nft_objects *o, const struct kk_addrlist *l,
    enum set_id id4, enum set_id id6)
{
	struct nftnl_set *s4, *s6;
	size_t i;
	int err;

	s4 = set_new(o, id4, NFT_TYPE_IPADDR, 4);
	if (s4 == NULL)
		return -ENOMEM;
	s6 = set_new(o, id6, NFT_TYPE_IP6ADDR, 16);
	if (s6 == NULL)
		return -ENOMEM;
	for (i = 0; i < l->n; i++) {
		if (l->addr[i].family == AF_INET)
			err = elem_add(s4, &l->addr[i].a.v4, 4);
		else
			err = elem_add(s6, &l->addr[i].a.v6, 16);
		if (err < 0)
			return err;
	}
	return 0;
}

static int
add_port_set(struct kk_nft_objects *o, const struct kk_portlist *l,
    enum set_id id)
{
	struct nftnl_set *s;
	uint16_t be;
	size_t i;
	int err;

	s = set_new(o, id, NFT_TYPE_INET_SERVICE, 2);
	if (s == NULL)
		return -ENOMEM;
	for (i = 0; i < l->n; i++) {
		be = htons(l->port[i]);
		if ((err = elem_add(s, &be, 2)) < 0)
			return err;
	}
	return 0;
}

static int
add_rules(struct kk_nft_objects *o, const struct kk_nft_spec *spec,
    const struct rule_desc *d, size_t n)
{
	size_t i;
	int err;

	for (i = 0; i < n; i++)
		if ((err = add_rule(o, spec, &d[i])) < 0)
			return err;
	return 0;
}

/*
 * DHCP while isolated: requests only to the broadcast address
 * (255.255.255.255, ff02::1:2) or to the servers the policy lists, never
 * to any host on port 67/547; answers only to the broadcast address, from
 * a listed server or, for DHCPv6, from a link-local address (on-link
 * servers and relays answer from theirs; nothing routed can have one).
 * Clients that send and receive through packet sockets (most do for
 * discovery) never pass these hooks; unicast renewals go to the lease's
 * server, which must be listed.
 */
static int
add_dhcp_rules(struct kk_nft_objects *o, const struct kk_nft_spec *spec,
    int chain)
{
	const bool in = chain == HOOK_IN;
	const struct rule_desc any[] = {
		{ .chain = chain, .nfproto = NFPROTO_IPV4, .l4 = IPPROTO_UDP,
		    .sport = in ? 67 : 68, .dport = in ? 68 : 67,
		    .dprefix = &bcast4, .verdict = NF_ACCEPT,
		    .comment = in ? "DHCPv4 server -> client (broadcast)" :
		    "DHCPv4 client -> broadcast" },
		{ .chain = chain, .nfproto = NFPROTO_IPV6, .l4 = IPPROTO_UDP,
		    .sport = in ? 547 : 546, .dport = in ? 546 : 547,
		    .sprefix = in ? &link_local6 : NULL,
		    .dprefix = in ? NULL : &dhcp6_agents, .verdict = NF_ACCEPT,
		    .comment = in ? "DHCPv6 server or relay (link-local) -> client" :
		    "DHCPv6 client -> all DHCP agents (ff02::1:2)" },
	};
	const struct rule_desc listed[] = {
		{ .chain = chain, .nfproto = NFPROTO_IPV4, .l4 = IPPROTO_UDP,
		    .sport = in ? 67 : 68, .dport = in ? 68 : 67,
		    .saddr = in ? SET_DHCP4 : 0, .daddr = in ? 0 : SET_DHCP4,
		    .verdict = NF_ACCEPT,
		    .comment = in ? "DHCPv4 server of the policy -> client" :
		    "DHCPv4 client -> server of the policy" },
		{ .chain = chain, .nfproto = NFPROTO_IPV6, .l4 = IPPROTO_UDP,
		    .sport = in ? 547 : 546, .dport = in ? 546 : 547,
		    .saddr = in ? SET_DHCP6 : 0, .daddr = in ? 0 : SET_DHCP6,
		    .verdict = NF_ACCEPT,
		    .comment = in ? "DHCPv6 server of the policy -> client" :
		    "DHCPv6 client -> server of the policy" },
	};
	int err;

	if ((err = add_rules(o, spec, any, sizeof(any) / sizeof(any[0]))) < 0)
		return err;
	if (spec->policy->dhcp_servers.n == 0)
		return 0;
	return add_rules(o, spec, listed, sizeof(listed) / sizeof(listed[0]));
}

/*
 * Multicast listener discovery while isolated, with neighbour discovery:
 * switches that snoop MLD stop forwarding the solicited-node groups of a
 * host that no longer reports them (after about 260 s), and neighbour
 * discovery toward it fails.  Both ways, only as RFC 3810 sends it: from a
 * link-local address to a link-scope multicast group, hop limit 1.
 */
static int
add_mld_rules(struct kk_nft_objects *o, const struct kk_nft_spec *spec,
    int chain)
{
#define MLD(...) { .chain = chain, .nfproto = NFPROTO_IPV6, \
	.l4 = IPPROTO_ICMPV6, .sprefix = &link_local6, .dprefix = &link_mcast6, \
	.hoplimit = MLD_HOPLIMIT, .verdict = NF_ACCEPT, __VA_ARGS__ }
	const struct rule_desc d[] = {
		MLD(.icmp6_lo = ICMP6_MLD_FIRST, .icmp6_hi = ICMP6_MLD_LAST,
		    .comment = "MLD query, report, done: link-local -> ff02::/16, hop limit 1"),
		MLD(.icmp6_lo = ICMP6_MLD2_REPORT, .icmp6_hi = ICMP6_MLD2_REPORT,
		    .comment = "MLDv2 report: link-local -> ff02::/16, hop limit 1"),
	};
#undef MLD

	return add_rules(o, spec, d, sizeof(d) / sizeof(d[0]));
}

/*
 * ICMPv6 neighbour discovery while isolated: on-link only.  Incoming
 * messages must carry hop limit 255, which no routed packet can.  Outgoing
 * ones from processes only to link-local or link-scope multicast
 * addresses; the kernel's own (address resolution and unreachability
 * detection, to on-link neighbours by construction) also to global
 * addresses.  Nothing can carry data to or from a host further away.
 */
static int
add_ndp_rules(struct kk_nft_objects *o, const struct kk_nft_spec *spec,
    int chain)
{
#define NDP(...) { .nfproto = NFPROTO_IPV6, .l4 = IPPROTO_ICMPV6, \
	.icmp6_lo = ICMP6_NDP_FIRST, .icmp6_hi = ICMP6_NDP_LAST, __VA_ARGS__ }
	static const struct rule_desc in[] = {
		NDP(.chain = HOOK_IN, .hoplimit = NDP_HOPLIMIT,
		    .verdict = NF_ACCEPT,
		    .comment = "ICMPv6 neighbour discovery, hop limit 255 (on-link)"),
	};
	static const struct rule_desc out[] = {
		NDP(.chain = HOOK_OUT, .hoplimit = NDP_HOPLIMIT,
		    .dprefix = &link_local6, .verdict = NF_ACCEPT,
		    .comment = "neighbour discovery to link-local addresses"),
		NDP(.chain = HOOK_OUT, .hoplimit = NDP_HOPLIMIT,
		    .dprefix = &link_mcast6, .verdict = NF_ACCEPT,
		    .comment = "neighbour discovery to link-scope multicast"),
		NDP(.chain = HOOK_OUT, .from_process = true, .counter = true,
		    .verdict = NF_DROP,
		    .comment = "neighbour discovery from processes to other addresses"),
		NDP(.chain = HOOK_OUT, .hoplimit = NDP_HOPLIMIT,
		    .verdict = NF_ACCEPT,
		    .comment = "the kernel's neighbour discovery (on-link neighbours)"),
	};
#undef NDP
	int err;

	if (chain == HOOK_IN)
		err = add_rules(o, spec, in, sizeof(in) / sizeof(in[0]));
	else
		err = add_rules(o, spec, out, sizeof(out) / sizeof(out[0]));
	return err < 0 ? err : add_mld_rules(o, spec, chain);
}

/*
 * isolated: DESIGN 3.  Only loopback, the management channel (both
 * directions, outbound only from kakurid's own uid/gid), and optionally
 * DHCP, NDP and pinned DNS; the chains' policy is drop, and the final
 * counted drop makes the blocked packets visible in `kakurictl status`.
 * There is no "ct state established accept": connections made before the
 * isolation die with it.
 */
static int
build_isolated(struct kk_nft_objects *o, const struct kk_nft_spec *spec)
{
	const struct kk_policy *p = spec->policy;
	static const int fam[2] = { NFPROTO_IPV4, NFPROTO_IPV6 };
	static const enum set_id mgmt[2] = { SET_MGMT4, SET_MGMT6 };
	static const enum set_id dns[2] = { SET_DNS4, SET_DNS6 };
	static const int dnsl4[2] = { IPPROTO_UDP, IPPROTO_TCP };
	int i, j, err;

	for (i = HOOK_IN; i <= HOOK_FWD; i++)
		if ((err = add_chain(o, i, NF_DROP)) < 0)
			return err;
	if ((err = add_addr_sets(o, &p->peers, SET_MGMT4, SET_MGMT6)) < 0 ||
	    (err = add_port_set(o, &p->mgmt_ports, SET_MGMT_PORTS)) < 0)
		return err;
	if (p->dns.n > 0 &&
	    (err = add_addr_sets(o, &p->dns, SET_DNS4, SET_DNS6)) < 0)
		return err;
	if (p->dhcp && p->dhcp_servers.n > 0 && (err = add_addr_sets(o,
	    &p->dhcp_servers, SET_DHCP4, SET_DHCP6)) < 0)
		return err;

	/* input */
	{
		struct rule_desc d = { .chain = HOOK_IN, .iface = 1,
		    .verdict = NF_ACCEPT, .comment = "loopback" };
		if ((err = add_rule(o, spec, &d)) < 0)
			return err;
	}
	for (i = 0; i < 2; i++) {
		struct rule_desc in = { .chain = HOOK_IN, .nfproto = fam[i],
		    .l4 = IPPROTO_TCP, .saddr = mgmt[i],
		    .dport_set = SET_MGMT_PORTS, .verdict = NF_ACCEPT,
		    .comment = i ? "CSIRT peer -> management port (IPv6)" :
		    "CSIRT peer -> management port (IPv4)" };
		struct rule_desc rep = { .chain = HOOK_IN, .nfproto = fam[i],
		    .l4 = IPPROTO_TCP, .saddr = mgmt[i],
		    .sport_set = SET_MGMT_PORTS, .established = true,
		    .verdict = NF_ACCEPT,
		    .comment = i ? "replies to kakurid's own management connections (IPv6)" :
		    "replies to kakurid's own management connections (IPv4)" };
		if ((err = add_rule(o, spec, &in)) < 0 ||
		    (spec->own_uid_known && (err = add_rule(o, spec, &rep)) < 0))
			return err;
	}
	if ((p->dhcp && (err = add_dhcp_rules(o, spec, HOOK_IN)) < 0) ||
	    (p->ndp && (err = add_ndp_rules(o, spec, HOOK_IN)) < 0))
		return err;
	if (p->dns.n > 0) {
		for (i = 0; i < 2; i++) {
			for (j = 0; j < 2; j++) {
				struct rule_desc d = { .chain = HOOK_IN,
				    .nfproto = fam[i], .l4 = dnsl4[j],
				    .saddr = dns[i], .sport = 53,
				    .established = true, .verdict = NF_ACCEPT,
				    .comment = "answers from pinned DNS resolvers" };
				if ((err = add_rule(o, spec, &d)) < 0)
					return err;
			}
		}
	}
	{
		struct rule_desc d = { .chain = HOOK_IN, .counter = true,
		    .verdict = NF_DROP,
		    .comment = "isolated: drop everything else" };
		if ((err = add_rule(o, spec, &d)) < 0)
			return err;
	}

	/* output */
	{
		struct rule_desc d = { .chain = HOOK_OUT, .iface = 1,
		    .verdict = NF_ACCEPT, .comment = "loopback" };
		if ((err = add_rule(o, spec, &d)) < 0)
			return err;
	}
	for (i = 0; i < 2; i++) {
		/*
		 * Not "ct state established": a management connection that
		 * was open before the isolation (the one that carried the
		 * isolate command) may have no conntrack entry yet, and its
		 * first packet after would count as new.  Refusing SYNs
		 * keeps anything on this host from opening a connection.
		 */
		struct rule_desc rep = { .chain = HOOK_OUT, .nfproto = fam[i],
		    .l4 = IPPROTO_TCP, .daddr = mgmt[i],
		    .sport_set = SET_MGMT_PORTS, .not_syn = true,
		    .verdict = NF_ACCEPT,
		    .comment = i ? "replies to the CSIRT peer (IPv6)" :
		    "replies to the CSIRT peer (IPv4)" };
		struct rule_desc own = { .chain = HOOK_OUT, .nfproto = fam[i],
		    .l4 = IPPROTO_TCP, .daddr = mgmt[i],
		    .dport_set = SET_MGMT_PORTS, .own_socket = true,
		    .verdict = NF_ACCEPT,
		    .comment = i ? "kakurid's own connections to the CSIRT (IPv6)" :
		    "kakurid's own connections to the CSIRT (IPv4)" };
		if ((err = add_rule(o, spec, &rep)) < 0 ||
		    (spec->own_uid_known && (err = add_rule(o, spec, &own)) < 0))
			return err;
	}
	if ((p->dhcp && (err = add_dhcp_rules(o, spec, HOOK_OUT)) < 0) ||
	    (p->ndp && (err = add_ndp_rules(o, spec, HOOK_OUT)) < 0))
		return err;
	if (p->dns.n > 0) {
		for (i = 0; i < 2; i++) {
			for (j = 0; j < 2; j++) {
				struct rule_desc d = { .chain = HOOK_OUT,
				    .nfproto = fam[i], .l4 = dnsl4[j],
				    .daddr = dns[i], .dport = 53,
				    .verdict = NF_ACCEPT,
				    .comment = "queries to pinned DNS resolvers" };
				if ((err = add_rule(o, spec, &d)) < 0)
					return err;
			}
		}
	}
	{
		struct rule_desc d = { .chain = HOOK_OUT, .counter = true,
		    .verdict = NF_DROP,
		    .comment = "isolated: drop everything else" };
		if ((err = add_rule(o, spec, &d)) < 0)
			return err;
	}

	/* forward: containers and VMs behind this host are cut off too */
	{
		struct rule_desc d = { .chain = HOOK_FWD, .counter = true,
		    .verdict = NF_DROP,
		    .comment = "isolated: drop all forwarded traffic" };
		if ((err = add_rule(o, spec, &d)) < 0)
			return err;
	}
	return 0;
}

/*
 * isolated, bridge family: frames a bridge on this host forwards between
 * its ports (virtual machines, containers on a bridge) pass the inet hooks
 * only when br_netfilter is loaded and enabled; this chain drops them in
 * any case.  Traffic of the host itself over a bridge is not forwarded and
 * meets the inet table.
 */
static int
build_bridge(struct kk_nft_objects *o, const struct kk_nft_spec *spec)
{
	struct rule_desc d = { .chain = HOOK_FWD, .counter = true,
	    .verdict = NF_DROP, .comment = "isolated: drop all bridged traffic" };
	int err;

	/* add_chain() hooks HOOK_FWD at NF_INET_FORWARD */
	_Static_assert(NF_BR_FORWARD == NF_INET_FORWARD, "bridge forward hook");

	if ((err = add_chain(o, HOOK_FWD, NF_DROP)) < 0)
		return err;
	return add_rule(o, spec, &d);
}

/* The egress port sets, and their counted drops in one hook. */
static int
add_egress_sets(struct kk_nft_objects *o, const struct kk_policy *p)
{
	int err;

	if ((err = add_port_set(o, &p->mail_tcp, SET_MAIL_TCP)) < 0 ||
	    (err = add_port_set(o, &p->web_tcp, SET_WEB_TCP)) < 0)
		return err;
	return add_port_set(o, &p->web_udp, SET_WEB_UDP);
}

static int
add_egress_drops(struct kk_nft_objects *o, const struct kk_nft_spec *spec,
    int hook)
{
	const struct rule_desc d[] = {
		{ .chain = hook, .l4 = IPPROTO_TCP, .dport_set = SET_MAIL_TCP,
		    .counter = true, .verdict = NF_DROP,
		    .comment = "egress: block mail (TCP)" },
		{ .chain = hook, .l4 = IPPROTO_TCP, .dport_set = SET_WEB_TCP,
		    .counter = true, .verdict = NF_DROP,
		    .comment = "egress: block web (TCP)" },
		{ .chain = hook, .l4 = IPPROTO_UDP, .dport_set = SET_WEB_UDP,
		    .counter = true, .verdict = NF_DROP,
		    .comment = "egress: block web (UDP, QUIC)" },
	};

	return add_rules(o, spec, d, sizeof(d) / sizeof(d[0]));
}

/*
 * egress, bridge family: the same drops for frames a bridge forwards
 * between its ports (containers and virtual machines on a bridge), which
 * meet the inet forward hook only where br_netfilter is loaded.  The
 * kernel finds the transport header of IPv4 and IPv6 frames here too.
 */
static int
build_bridge_egress(struct kk_nft_objects *o, const struct kk_nft_spec *spec)
{
	int err;

	if ((err = add_chain(o, HOOK_FWD, NF_ACCEPT)) < 0 ||
	    (err = add_egress_sets(o, spec->policy)) < 0)
		return err;
	return add_egress_drops(o, spec, HOOK_FWD);
}

/*
 * egress: graded containment.  Mail and web leaving this host (and
 * forwarded from containers behind it) are dropped, established
 * connections included; the management channel stays exempt even when
 * a management port is also a web port.
 */
static int
build_egress(struct kk_nft_objects *o, const struct kk_nft_spec *spec)
{
	const struct kk_policy *p = spec->policy;
	static const int fam[2] = { NFPROTO_IPV4, NFPROTO_IPV6 };
	static const enum set_id mgmt[2] = { SET_MGMT4, SET_MGMT6 };
	int hook, i, err;

	if ((err = add_chain(o, HOOK_OUT, NF_ACCEPT)) < 0 ||
	    (err = add_chain(o, HOOK_FWD, NF_ACCEPT)) < 0)
		return err;
	if ((err = add_addr_sets(o, &p->peers, SET_MGMT4, SET_MGMT6)) < 0 ||
	    (err = add_port_set(o, &p->mgmt_ports, SET_MGMT_PORTS)) < 0 ||
	    (err = add_egress_sets(o, p)) < 0)
		return err;
	for (i = 0; i < 2; i++) {
		struct rule_desc d = { .chain = HOOK_OUT, .nfproto = fam[i],
		    .l4 = IPPROTO_TCP, .daddr = mgmt[i],
		    .dport_set = SET_MGMT_PORTS, .verdict = NF_ACCEPT,
		    .comment = i ? "management channel stays open (IPv6)" :
		    "management channel stays open (IPv4)" };
		if ((err = add_rule(o, spec, &d)) < 0)
			return err;
	}
	for (hook = HOOK_OUT; hook <= HOOK_FWD; hook++)
		if ((err = add_egress_drops(o, spec, hook)) < 0)
			return err;
	return 0;
}

int
kk_nft_comment_format(enum kk_mode mode, const char *episode, char *buf,
    size_t len)
{
	int n;

	if (mode == KK_MODE_OPEN || episode == NULL || episode[0] == '\0')
		n = snprintf(buf, len, "kakuri mode=%s", kk_mode_name(mode));
	else
		n = snprintf(buf, len, "kakuri mode=%s episode=%s",
		    kk_mode_name(mode), episode);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int
kk_nft_comment_parse(const char *comment, enum kk_mode *mode,
    char episode[KK_EPISODE_HEX + 1])
{
	char m[16], ep[KK_EPISODE_HEX + 2];
	int n;

	episode[0] = '\0';
	ep[0] = '\0';
	n = sscanf(comment, "kakuri mode=%15s episode=%33s", m, ep);
	if (n < 1 || kk_mode_parse(m, mode) < 0)
		return -EBADMSG;
	if (n == 2) {
		if (strlen(ep) != KK_EPISODE_HEX ||
		    strspn(ep, "0123456789abcdef") != KK_EPISODE_HEX)
			return -EBADMSG;
		strcpy(episode, ep);
	}
	return 0;
}

const char *
kk_nft_family_name(int family)
{
	return family == NFPROTO_BRIDGE ? "bridge" : "inet";
}

const char *
kk_nft_spec_name(const struct kk_nft_spec *spec)
{
	return spec->name[0] ? spec->name : KK_TABLE_NAME;
}

bool
kk_nft_wants(enum kk_mode mode, int family)
{
	return family == NFPROTO_INET ||
	    (family == NFPROTO_BRIDGE && mode != KK_MODE_OPEN);
}

bool
kk_nft_name_ours(const char *name)
{
	const size_t n = strlen(KK_FALLBACK_NAME);

	if (strcmp(name, KK_TABLE_NAME) == 0 ||
	    strcmp(name, KK_FALLBACK_NAME) == 0)
		return true;
	/* kakuri_fallback_ and exactly 8 lowercase hex digits */
	return strncmp(name, KK_FALLBACK_NAME, n) == 0 && name[n] == '_' &&
	    strlen(name + n + 1) == KK_FALLBACK_HEX &&
	    strspn(name + n + 1, "0123456789abcdef") == KK_FALLBACK_HEX;
}

int
kk_nft_objects_build(const struct kk_nft_spec *spec, int family,
    struct kk_nft_objects *o)
{
	struct nftnl_udata_buf *u = NULL;
	char comment[128];
	int err;

	memset(o, 0, sizeof(*o));
	if (!kk_nft_wants(spec->mode, family) ||
	    (family == NFPROTO_BRIDGE && spec->no_bridge))
		return -ENOENT;
	o->family = family;
	o->table = nftnl_table_alloc();
	if (o->table == NULL)
		return -ENOMEM;
	nftnl_table_set_str(o->table, NFTNL_TABLE_NAME, kk_nft_spec_name(spec));
	nftnl_table_set_u32(o->table, NFTNL_TABLE_FAMILY, (uint32_t)family);
	nftnl_table_set_u32(o->table, NFTNL_TABLE_FLAGS, spec->table_flags);
	if ((err = kk_nft_comment_format(spec->mode, spec->episode, comment,
	    sizeof(comment))) < 0)
		goto fail;
	u = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
	if (u == NULL) {
		err = -ENOMEM;
		goto fail;
	}
	nftnl_udata_put_strz(u, NFTNL_UDATA_TABLE_COMMENT, comment);
	nftnl_table_set_data(o->table, NFTNL_TABLE_USERDATA,
	    nftnl_udata_buf_data(u), nftnl_udata_buf_len(u));
	nftnl_udata_buf_free(u);

	switch (spec->mode) {
	case KK_MODE_OPEN:
		err = 0;
		break;
	case KK_MODE_EGRESS:
		err = family == NFPROTO_BRIDGE ? build_bridge_egress(o, spec) :
		    build_egress(o, spec);
		break;
	case KK_MODE_ISOLATED:
		err = family == NFPROTO_BRIDGE ? build_bridge(o, spec) :
		    build_isolated(o, spec);
		break;
	default:
		err = -EINVAL;
	}
	if (err == 0)
		return 0;
fail:
	kk_nft_objects_free(o);
	return err;
}

void
kk_nft_objects_free(struct kk_nft_objects *o)
{
	size_t i;

	if (o->table)
		nftnl_table_free(o->table);
	for (i = 0; i < o->nchains; i++)
		nftnl_chain_free(o->chains[i]);
	for (i = 0; i < o->nsets; i++)
		nftnl_set_free(o->sets[i]);
	for (i = 0; i < o->nrules; i++)
		nftnl_rule_free(o->rules[i]);
	memset(o, 0, sizeof(*o));
}

/* Batch assembly: every message gets a sequence number mapped to a name. */
struct batch_ctx {
	struct kk_nft_batch *b;
	struct mnl_nlmsg_batch *mb;
	size_t cap_map;
	uint32_t seq;
};

static struct nlmsghdr *
msg_begin(struct batch_ctx *c, uint16_t type, int family, uint16_t flags,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static struct nlmsghdr *
msg_begin(struct batch_ctx *c, uint16_t type, int family, uint16_t flags,
    const char *fmt, ...)
{
	struct kk_nft_msgmap *m;
	va_list ap;

	if (c->b->nmap >= c->cap_map)
		return NULL;
	m = &c->b->map[c->b->nmap++];
	m->seq = c->seq;
	m->family = family;
	va_start(ap, fmt);
	vsnprintf(m->what, sizeof(m->what), fmt, ap);
	va_end(ap);
	return nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(c->mb), type,
	    (uint16_t)family, flags | NLM_F_ACK, c->seq++);
}

static int
msg_end(struct batch_ctx *c)
{
	return mnl_nlmsg_batch_next(c->mb) ? 0 : -ENOBUFS;
}

static const char *
rule_comment(const struct nftnl_rule *r, char *buf, size_t len)
{
	const struct nftnl_udata *attr;
	const void *data;
	uint32_t dlen = 0;

	buf[0] = '\0';
	data = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &dlen);
	if (data == NULL)
		return buf;
	nftnl_udata_for_each_data(data, dlen, attr) {
		if (nftnl_udata_type(attr) == NFTNL_UDATA_RULE_COMMENT) {
			snprintf(buf, len, "%.*s", (int)nftnl_udata_len(attr),
			    (const char *)nftnl_udata_get(attr));
			break;
		}
	}
	return buf;
}

/* (Re)declare an existing table with the flags it has, then delete it. */
static int
batch_remove(struct batch_ctx *c, const struct kk_nft_plan *p)
{
	struct nftnl_table *prev = nftnl_table_alloc();
	const char *fam = kk_nft_family_name(p->family);
	struct nlmsghdr *nlh;
	int err = -ENOBUFS;

	if (prev == NULL)
		return -ENOMEM;
	nftnl_table_set_str(prev, NFTNL_TABLE_NAME, p->name);
	nftnl_table_set_u32(prev, NFTNL_TABLE_FAMILY, (uint32_t)p->family);
	nftnl_table_set_u32(prev, NFTNL_TABLE_FLAGS, p->prev_flags);
	nlh = msg_begin(c, NFT_MSG_NEWTABLE, p->family, NLM_F_CREATE,
	    "adopt existing table %s %s", fam, p->name);
	if (nlh == NULL)
		goto out;
	nftnl_table_nlmsg_build_payload(nlh, prev);
	if (msg_end(c) < 0)
		goto out;
	nlh = msg_begin(c, NFT_MSG_DELTABLE, p->family, 0,
	    "delete old table %s %s", fam, p->name);
	if (nlh == NULL)
		goto out;
	nftnl_table_nlmsg_build_payload(nlh, prev);
	err = msg_end(c);
out:
	nftnl_table_free(prev);
	return err;
}

static bool
set_empty(const struct nftnl_set *s, int *err)
{
	struct nftnl_set_elems_iter *it =
	    nftnl_set_elems_iter_create((struct nftnl_set *)s);
	bool empty;

	if (it == NULL) {
		*err = -ENOMEM;
		return true;
	}
	empty = nftnl_set_elems_iter_cur(it) == NULL;
	nftnl_set_elems_iter_destroy(it);
	return empty;
}

/* The table of o with its chains, sets, elements and rules. */
static int
batch_create(struct batch_ctx *c, const struct kk_nft_objects *o)
{
	const char *fam = kk_nft_family_name(o->family);
	const char *table = nftnl_table_get_str(o->table, NFTNL_TABLE_NAME);
	struct nlmsghdr *nlh;
	char what[96];
	size_t i;
	int err = 0;

	nlh = msg_begin(c, NFT_MSG_NEWTABLE, o->family,
	    NLM_F_CREATE | NLM_F_EXCL, "create table %s %s", fam, table);
	if (nlh == NULL)
		return -ENOBUFS;
	nftnl_table_nlmsg_build_payload(nlh, o->table);
	if (msg_end(c) < 0)
		return -ENOBUFS;
	for (i = 0; i < o->nchains; i++) {
		nlh = msg_begin(c, NFT_MSG_NEWCHAIN, o->family,
		    NLM_F_CREATE | NLM_F_EXCL, "chain %s %s %s", fam, table,
		    nftnl_chain_get_str(o->chains[i], NFTNL_CHAIN_NAME));
		if (nlh == NULL)
			return -ENOBUFS;
		nftnl_chain_nlmsg_build_payload(nlh, o->chains[i]);
		if (msg_end(c) < 0)
			return -ENOBUFS;
	}
	for (i = 0; i < o->nsets; i++) {
		const char *name = nftnl_set_get_str(o->sets[i], NFTNL_SET_NAME);

		nlh = msg_begin(c, NFT_MSG_NEWSET, o->family,
		    NLM_F_CREATE | NLM_F_EXCL, "set %s", name);
		if (nlh == NULL)
			return -ENOBUFS;
		nftnl_set_nlmsg_build_payload(nlh, o->sets[i]);
		if (msg_end(c) < 0)
			return -ENOBUFS;
		/* an empty set needs no element message */
		if (set_empty(o->sets[i], &err)) {
			if (err < 0)
				return err;
			continue;
		}
		nlh = msg_begin(c, NFT_MSG_NEWSETELEM, o->family,
		    NLM_F_CREATE | NLM_F_EXCL, "elements of set %s", name);
		if (nlh == NULL)
			return -ENOBUFS;
		nftnl_set_elems_nlmsg_build_payload(nlh, o->sets[i]);
		if (msg_end(c) < 0)
			return -ENOBUFS;
	}
	for (i = 0; i < o->nrules; i++) {
		nlh = msg_begin(c, NFT_MSG_NEWRULE, o->family,
		    NLM_F_CREATE | NLM_F_APPEND, "rule %s%s%s: %s",
		    o->family == NFPROTO_INET ? "" : fam,
		    o->family == NFPROTO_INET ? "" : " ",
		    nftnl_rule_get_str(o->rules[i], NFTNL_RULE_CHAIN),
		    rule_comment(o->rules[i], what, sizeof(what)));
		if (nlh == NULL)
			return -ENOBUFS;
		nftnl_rule_nlmsg_build_payload(nlh, o->rules[i]);
		if (msg_end(c) < 0)
			return -ENOBUFS;
	}
	return 0;
}

int
kk_nft_batch_build(struct kk_nft_batch *b, const struct kk_nft_plan *plan,
    size_t nplan, uint32_t seq)
{
	struct batch_ctx c = { .b = b, .seq = seq };
	size_t i, bufsize = 16384, nobj = 8;
	int err = -ENOBUFS;

	memset(b, 0, sizeof(*b));
	/* generous: a rule is < 512 bytes, a set element < 64 */
	for (i = 0; i < nplan; i++) {
		const struct kk_nft_objects *o = plan[i].o;

		bufsize += 1024;
		nobj += 2;
		if (o == NULL)
			continue;
		bufsize += 1024 * (o->nrules + o->nsets + o->nchains) +
		    64 * 2 * KK_MAX_ADDRS * 3 + 64 * 4 * KK_MAX_PORTS;
		nobj += o->nrules + 2 * o->nsets + o->nchains + 1;
	}
	c.cap_map = nobj;
	b->buf = calloc(1, bufsize);
	b->map = calloc(c.cap_map, sizeof(*b->map));
	if (b->buf == NULL || b->map == NULL) {
		err = -ENOMEM;
		goto fail;
	}
	c.mb = mnl_nlmsg_batch_start(b->buf, bufsize);
	if (c.mb == NULL) {
		err = -ENOMEM;
		goto fail;
	}
	b->seq_first = seq;
	nftnl_batch_begin(mnl_nlmsg_batch_current(c.mb), c.seq++);
	if (msg_end(&c) < 0)
		goto fail;
	/* every old table goes first, so the new ones swap in atomically */
	for (i = 0; i < nplan; i++)
		if (plan[i].exists && (err = batch_remove(&c, &plan[i])) < 0)
			goto fail;
	for (i = 0; i < nplan; i++)
		if (plan[i].o && (err = batch_create(&c, plan[i].o)) < 0)
			goto fail;
	err = -ENOBUFS;
	b->seq_last = c.seq - 1;
	nftnl_batch_end(mnl_nlmsg_batch_current(c.mb), c.seq++);
	if (msg_end(&c) < 0)
		goto fail;
	b->len = mnl_nlmsg_batch_size(c.mb);
	mnl_nlmsg_batch_stop(c.mb);
	return 0;
fail:
	if (c.mb)
		mnl_nlmsg_batch_stop(c.mb);
	kk_nft_batch_free(b);
	return err;
}

const char *
kk_nft_batch_what(const struct kk_nft_batch *b, uint32_t seq)
{
	size_t i;

	for (i = 0; i < b->nmap; i++)
		if (b->map[i].seq == seq)
			return b->map[i].what;
	return "batch";
}

int
kk_nft_batch_family(const struct kk_nft_batch *b, uint32_t seq)
{
	size_t i;

	for (i = 0; i < b->nmap; i++)
		if (b->map[i].seq == seq)
			return b->map[i].family;
	return 0;
}

void
kk_nft_batch_free(struct kk_nft_batch *b)
{
	free(b->buf);
	free(b->map);
	memset(b, 0, sizeof(*b));
}

/* Canonical texts: the attributes that define behaviour, nothing volatile. */

int
kk_nft_table_comment(const struct nftnl_table *t, char *buf, size_t len)
{
	const struct nftnl_udata *attr;
	const void *data;
	uint32_t dlen = 0;

	buf[0] = '\0';
	if (!nftnl_table_is_set(t, NFTNL_TABLE_USERDATA))
		return -ENOENT;
	data = nftnl_table_get_data(t, NFTNL_TABLE_USERDATA, &dlen);
	nftnl_udata_for_each_data(data, dlen, attr) {
		if (nftnl_udata_type(attr) == NFTNL_UDATA_TABLE_COMMENT) {
			snprintf(buf, len, "%.*s", (int)nftnl_udata_len(attr),
			    (const char *)nftnl_udata_get(attr));
			/* the kernel keeps the NUL nft(8) puts in; drop it */
			return 0;
		}
	}
	return -ENOENT;
}

int
kk_nft_canon_table(const struct nftnl_table *t, char *buf, size_t len)
{
	char comment[128];
	int n;

	kk_nft_table_comment(t, comment, sizeof(comment));
	n = snprintf(buf, len, "table %s %s flags=0x%x comment=\"%s\"",
	    kk_nft_family_name((int)nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY)),
	    nftnl_table_get_str(t, NFTNL_TABLE_NAME),
	    nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS), comment);
	return n < 0 || (size_t)n >= len ? -ENOBUFS : 0;
}

int
kk_nft_canon_chain(const struct nftnl_chain *c, char *buf, size_t len)
{
	int n;

	n = snprintf(buf, len, "chain %s type=%s hook=%u prio=%d policy=%u",
	    nftnl_chain_get_str(c, NFTNL_CHAIN_NAME),
	    nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE),
	    nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM),
	    nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO),
	    nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY));
	return n < 0 || (size_t)n >= len ? -ENOBUFS : 0;
}

int
kk_nft_canon_rule(const struct nftnl_rule *r, char *buf, size_t len)
{
	struct nftnl_expr_iter *it;
	struct nftnl_expr *e;
	char comment[96], ebuf[256];
	size_t off;
	int n;

	n = snprintf(buf, len, "rule %s \"%s\":",
	    nftnl_rule_get_str(r, NFTNL_RULE_CHAIN),
	    rule_comment(r, comment, sizeof(comment)));
	if (n < 0 || (size_t)n >= len)
		return -ENOBUFS;
	off = (size_t)n;
	it = nftnl_expr_iter_create(r);
	if (it == NULL)
		return -ENOMEM;
	while ((e = nftnl_expr_iter_next(it)) != NULL) {
		const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

		/* counter values change with traffic: only their presence counts */
		if (strcmp(name, "counter") == 0)
			strcpy(ebuf, "");
		else
			nftnl_expr_snprintf(ebuf, sizeof(ebuf), e,
			    NFTNL_OUTPUT_DEFAULT, 0);
		n = snprintf(buf + off, len - off, " [%s %s]", name, ebuf);
		if (n < 0 || (size_t)n >= len - off) {
			nftnl_expr_iter_destroy(it);
			return -ENOBUFS;
		}
		off += (size_t)n;
	}
	nftnl_expr_iter_destroy(it);
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
kk_nft_canon_set(const struct nftnl_set *s, char *buf, size_t len)
{
	struct nftnl_set_elems_iter *it;
	struct nftnl_set_elem *e;
	char *keys[2 * KK_MAX_ADDRS + KK_MAX_PORTS];
	size_t nkeys = 0, off, i;
	int n, err = 0;

	n = snprintf(buf, len, "set %s type=%u keylen=%u elements:",
	    nftnl_set_get_str(s, NFTNL_SET_NAME),
	    nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE),
	    nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN));
	if (n < 0 || (size_t)n >= len)
		return -ENOBUFS;
	off = (size_t)n;
	it = nftnl_set_elems_iter_create(s);
	if (it == NULL)
		return -ENOMEM;
	while ((e = nftnl_set_elems_iter_next(it)) != NULL) {
		const uint8_t *k;
		uint32_t klen = 0;

		if (nkeys >= sizeof(keys) / sizeof(keys[0])) {
			err = -E2BIG;
			break;
		}
		k = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen);
		keys[nkeys] = malloc(2 * klen + 1);
		if (keys[nkeys] == NULL) {
			err = -ENOMEM;
			break;
		}
		for (i = 0; i < klen; i++)
			sprintf(keys[nkeys] + 2 * i, "%02x", k[i]);
		keys[nkeys][2 * klen] = '\0';
		nkeys++;
	}
	nftnl_set_elems_iter_destroy(it);
	qsort(keys, nkeys, sizeof(keys[0]), cmp_str);
	for (i = 0; i < nkeys; i++) {
		if (err == 0) {
			n = snprintf(buf + off, len - off, " %s", keys[i]);
			if (n < 0 || (size_t)n >= len - off)
				err = -ENOBUFS;
			else
				off += (size_t)n;
		}
		free(keys[i]);
	}
	return err;
}
