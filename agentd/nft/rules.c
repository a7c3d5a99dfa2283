/*
 * The rules of each mode, as data.  Per mode and family a table names its
 * sets and chains; each chain is an ordered list of rows, and a row says
 * when it applies (a condition of the policy: DHCP, NDP, pinned DNS,
 * kakurid's own uid known), what it matches, its verdict and its comment.
 * A new kind of rule is a new row; compile() turns a row into the
 * expressions nft(8) itself would compile for the ruleset shown in
 * kakurid(8), its match through match.c.  Every rule carries its comment, so `nft list table inet
 * kakuri` explains itself and a refused message of the batch is named.
 *
 * Pure: no sockets, no kernel; build.c turns the objects into a batch.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <linux/netfilter.h>
#include <linux/netfilter_bridge.h>
#include <linux/netfilter/nf_tables.h>
#include <libnftnl/chain.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "expr.h"
#include "match.h"
#include "nft.h"
#include "objects.h"

#define CHAIN_PRIO		(-10)	/* after conntrack (-200): ct state is known */

const char *const kk_nft_chain_names[KK_NFT_MAX_CHAINS] = { "input", "output", "forward",
	"ingress", "egress", "ingress_ip", "egress_ip" };
static const unsigned chain_hooks[] = { NF_INET_LOCAL_IN, NF_INET_LOCAL_OUT,
	NF_INET_FORWARD, NF_NETDEV_INGRESS, NF_NETDEV_EGRESS,
	NF_NETDEV_INGRESS, NF_NETDEV_EGRESS };

/* The netdev chains of the raw-IP devices (KK_FRAME_IP). */
static bool
is_ip_hook(int hook)
{
	return hook == HOOK_INGRESS_IP || hook == HOOK_EGRESS_IP;
}

/* add_chain() hooks HOOK_FWD at NF_INET_FORWARD in the bridge family too */
_Static_assert(NF_BR_FORWARD == NF_INET_FORWARD, "bridge forward hook");

/* When a row (or a set) applies: every condition it names must hold. */
enum {
	IF_DHCP = 1 << 0,	/* management.dhcp */
	IF_DHCP_LISTED = 1 << 1, /* ... and management.dhcp_servers lists some */
	IF_NDP = 1 << 2,	/* management.ndp */
	IF_DNS = 1 << 3,	/* management.dns lists resolvers */
	IF_OWN_UID = 1 << 4,	/* agent.user resolved: kakurid's sockets are known */
	IF_BROKER4 = 1 << 5,	/* fleet.broker is an IPv4 address */
	IF_BROKER6 = 1 << 6,	/* fleet.broker is an IPv6 address */
	IF_LINK = 1 << 7,	/* the netdev table (frames): ARP */
	IF_STACK = 1 << 8,	/* the inet table: the socket of a packet is known */
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

struct row {
	unsigned when;		/* IF_*: all must hold */
	struct match m;
	bool counter;
	int verdict;		/* NF_ACCEPT or NF_DROP */
	const char *comment;
};

#define V4	.nfproto = NFPROTO_IPV4
#define V6	.nfproto = NFPROTO_IPV6
#define TCP	.l4 = IPPROTO_TCP
#define UDP	.l4 = IPPROTO_UDP
#define ACCEPT(c)	.verdict = NF_ACCEPT, .comment = (c)
#define DROP(c)		.counter = true, .verdict = NF_DROP, .comment = (c)

/*
 * Multicast listener discovery while isolated, with neighbour discovery:
 * switches that snoop MLD stop forwarding the solicited-node groups of a
 * host that no longer reports them (after about 260 s), and neighbour
 * discovery toward it fails.  Both ways, only as RFC 3810 sends it: from a
 * link-local address to a link-scope multicast group, hop limit 1.
 */
#define MLD_MATCH(lo, hi) { V6, .l4 = IPPROTO_ICMPV6, \
	.sprefix = &link_local6, .dprefix = &link_mcast6, \
	.hoplimit = MLD_HOPLIMIT, .icmp6_lo = (lo), .icmp6_hi = (hi), \
	.hbh = true }
#define MLD_ROWS \
	{ IF_NDP, MLD_MATCH(ICMP6_MLD_FIRST, ICMP6_MLD_LAST), ACCEPT( \
	    "MLD query, report, done: link-local -> ff02::/16, hop limit 1") }, \
	{ IF_NDP, MLD_MATCH(ICMP6_MLD2_REPORT, ICMP6_MLD2_REPORT), ACCEPT( \
	    "MLDv2 report: link-local -> ff02::/16, hop limit 1") }

#define NDP	V6, .l4 = IPPROTO_ICMPV6, .icmp6_lo = ICMP6_NDP_FIRST, \
	.icmp6_hi = ICMP6_NDP_LAST

/*
 * The management channel of one family (fam V4 or V6, set its addresses,
 * name "IPv4" or "IPv6"), from the CSIRT peer's side (input) and toward
 * it (output).  The answers to kakurid's own connections (the courier's
 * to the collector) are not "ct state established" for the same reason
 * as the replies below: a session opened before the isolation, and quiet
 * since, has no conntrack entry yet (nothing tracked connections in open
 * mode), and the first packet the peer sends would count as new and be
 * dropped until kakurid's keep-alive went out.  A packet that is not a
 * bare SYN cannot open a connection to this host.
 */
#define MGMT_INPUT(fam, set, name) \
	{ 0, { fam, TCP, .saddr = (set), .dport_set = SET_MGMT_PORTS }, \
	    ACCEPT("CSIRT peer -> management port (" name ")") }, \
	{ IF_OWN_UID, { fam, TCP, .saddr = (set), \
	    .sport_set = SET_MGMT_PORTS, .not_syn = true }, \
	    ACCEPT("replies to kakurid's own management connections (" \
	    name ")") }
#define MGMT_OUTPUT(fam, set, name) \
	{ 0, { fam, TCP, .daddr = (set), .sport_set = SET_MGMT_PORTS, \
	    .not_syn = true }, ACCEPT("replies to the CSIRT peer (" name ")") }, \
	{ IF_OWN_UID, { fam, TCP, .daddr = (set), \
	    .dport_set = SET_MGMT_PORTS, .own_socket = true }, \
	    ACCEPT("kakurid's own connections to the CSIRT (" name ")") }

/*
 * Path MTU discovery on the management channel: behind a hop with a
 * smaller MTU (a VPN, PPPoE), TCP learns the path's from the "too big"
 * errors of the router before it, and the CSIRT's session hangs without
 * them as soon as it carries a full segment (an evidence upload, a
 * report), and so would the fleet broker's.  Only errors quoting a
 * segment to a CSIRT peer on a management port or from one, or to the
 * broker; the kernel takes nothing else from them than a lower MTU for
 * the quoted socket's route.  What a raw socket here could read in them,
 * a packet socket reads anyway in any frame that arrives, before any
 * hook.  Not so in a namespace whose device is stacked on one of this
 * host's: the netdev table, stateless, lets such an error through to it
 * too, a way in (not out) for root there (kakurid.8, BUGS).
 */
#define PTB_INPUT(fam, proto, broker, name) \
	{ 0, { fam, .l4 = (proto), .ptb = PTB_TO_PORT }, ACCEPT(name \
	    " too big, quoting a segment to a CSIRT peer's management port") }, \
	{ 0, { fam, .l4 = (proto), .ptb = PTB_FROM_PORT }, ACCEPT(name \
	    " too big, quoting a reply from a management port to a CSIRT peer") }, \
	{ IF_OWN_UID | (broker), { fam, .l4 = (proto), \
	    .ptb = PTB_TO_BROKER }, ACCEPT(name \
	    " too big, quoting a segment to the fleet broker") }

/*
 * The fleet broker (DESIGN 9) is an untrusted relay, not a CSIRT peer:
 * it is reached only by kakurid's own session to its address and port,
 * and nothing it sends can open a connection to this host.  Were it a
 * management peer, whoever holds its address could connect to any local
 * listener on a management port (one kakurid does not use, bound by
 * anyone) while the host is isolated.  Its replies are "not a bare SYN"
 * for the reason given above (a session older than the isolation).
 */
#define BROKER_INPUT(fam, cond, name) \
	{ IF_OWN_UID | (cond), { fam, TCP, .broker = BROKER_FROM, \
	    .not_syn = true }, \
	    ACCEPT("fleet broker's replies to kakurid's session (" name ")") }
#define BROKER_OUTPUT(fam, cond, name) \
	{ IF_OWN_UID | (cond), { fam, TCP, .broker = BROKER_TO, \
	    .own_socket = true }, \
	    ACCEPT("kakurid's own session to the fleet broker (" name ")") }

/* DNS goes over UDP and TCP alike: a row for each, the same otherwise. */
#define DNS_ROWS(comment, ...) \
	{ IF_DNS, { UDP, __VA_ARGS__ }, ACCEPT(comment) }, \
	{ IF_DNS, { TCP, __VA_ARGS__ }, ACCEPT(comment) }

/*
 * isolated: DESIGN 3.  Only loopback, the management channel (both
 * directions, outbound only from kakurid's own uid/gid), and optionally
 * DHCP, NDP and pinned DNS; the chains' policy is drop, and the final
 * counted drop makes the blocked packets visible in `kakurictl status`.
 * There is no "ct state established accept": connections made before the
 * isolation die with it.
 *
 * DHCP: requests only to the broadcast address (255.255.255.255,
 * ff02::1:2) or to the servers the policy lists, never to any host on
 * port 67/547; answers only to the broadcast address, from a listed
 * server or, for DHCPv6, from a link-local address (on-link servers and
 * relays answer from theirs; nothing routed can have one).  Clients that
 * send and receive through packet sockets (most do for discovery) never
 * pass these hooks; unicast renewals go to the lease's server, which must
 * be listed.
 *
 * Neighbour discovery: on-link only.  Incoming messages must carry hop
 * limit 255, which no routed packet can.  Outgoing ones from processes
 * only to link-local or link-scope multicast addresses; the kernel's own
 * (address resolution and unreachability detection, to on-link neighbours
 * by construction) also to global addresses.  Nothing can carry data to
 * or from a host further away.
 */
/*
 * What meets only the netdev table, which must let it through.  ARP:
 * without it no IPv4 peer is reachable.  EAPOL: 802.1X and Wi-Fi key
 * exchanges (a WPA group rekey every hour or so) go over packet sockets
 * with many drivers, and a link that cannot rekey drops the management
 * channel.  LACP: a bond of 802.3ad drops its ports without it.  All
 * reach on-link neighbours only.
 */
#define LINK_ROWS \
	{ IF_LINK, { .arp = true }, \
	    ACCEPT("ARP for IPv4 over Ethernet (on-link neighbours)") }, \
	{ IF_LINK, { .ethertype = 0x888e }, \
	    ACCEPT("EAPOL: 802.1X and Wi-Fi keys of this link") }, \
	{ IF_LINK, { .ethertype = 0x8809 }, \
	    ACCEPT("slow protocols: LACP keeps bonds up") }, \
	/* \
	 * On a raw-IP device, the rows read the frame where the network \
	 * header is; a device that does have a link-layer header (a driver \
	 * of its own, a tap made NONE with TUNSETLINK) would put that \
	 * elsewhere, under bytes a packet socket's writer chose \
	 */ \
	{ IF_LINK, { .ll_header = true }, \
	    DROP("raw-IP device: a frame with a link-layer header") }

static const struct row isolated_input[] = {
	{ 0, { .loopback = true }, ACCEPT("loopback") },
	LINK_ROWS,
	MGMT_INPUT(V4, SET_MGMT4, "IPv4"),
	MGMT_INPUT(V6, SET_MGMT6, "IPv6"),
	PTB_INPUT(V4, IPPROTO_ICMP, IF_BROKER4, "ICMP"),
	PTB_INPUT(V6, IPPROTO_ICMPV6, IF_BROKER6, "ICMPv6"),
	BROKER_INPUT(V4, IF_BROKER4, "IPv4"),
	BROKER_INPUT(V6, IF_BROKER6, "IPv6"),
	{ IF_DHCP, { V4, UDP, .dprefix = &bcast4, .sport = 67, .dport = 68 },
	    ACCEPT("DHCPv4 server -> client (broadcast)") },
	{ IF_DHCP, { V6, UDP, .sprefix = &link_local6, .sport = 547,
	    .dport = 546 },
	    ACCEPT("DHCPv6 server or relay (link-local) -> client") },
	{ IF_DHCP_LISTED, { V4, UDP, .saddr = SET_DHCP4, .sport = 67,
	    .dport = 68 }, ACCEPT("DHCPv4 server of the policy -> client") },
	{ IF_DHCP_LISTED, { V6, UDP, .saddr = SET_DHCP6, .sport = 547,
	    .dport = 546 }, ACCEPT("DHCPv6 server of the policy -> client") },
	{ IF_NDP, { NDP, .hoplimit = NDP_HOPLIMIT },
	    ACCEPT("ICMPv6 neighbour discovery, hop limit 255 (on-link)") },
	MLD_ROWS,
	DNS_ROWS("answers from pinned DNS resolvers", V4, .saddr = SET_DNS4,
	    .sport = 53, .established = true),
	DNS_ROWS("answers from pinned DNS resolvers", V6, .saddr = SET_DNS6,
	    .sport = 53, .established = true),
	{ 0, { 0 }, DROP("isolated: drop everything else") },
};

/*
 * Replies to the CSIRT peer are not "ct state established": a management
 * connection that was open before the isolation (the one that carried the
 * isolate command) may have no conntrack entry yet, and its first packet
 * after would count as new.  Refusing SYNs keeps anything on this host
 * from opening a connection.
 */
static const struct row isolated_output[] = {
	{ 0, { .loopback = true }, ACCEPT("loopback") },
	LINK_ROWS,
	MGMT_OUTPUT(V4, SET_MGMT4, "IPv4"),
	MGMT_OUTPUT(V6, SET_MGMT6, "IPv6"),
	BROKER_OUTPUT(V4, IF_BROKER4, "IPv4"),
	BROKER_OUTPUT(V6, IF_BROKER6, "IPv6"),
	{ IF_DHCP, { V4, UDP, .dprefix = &bcast4, .sport = 68, .dport = 67 },
	    ACCEPT("DHCPv4 client -> broadcast") },
	{ IF_DHCP, { V6, UDP, .dprefix = &dhcp6_agents, .sport = 546,
	    .dport = 547 },
	    ACCEPT("DHCPv6 client -> all DHCP agents (ff02::1:2)") },
	{ IF_DHCP_LISTED, { V4, UDP, .daddr = SET_DHCP4, .sport = 68,
	    .dport = 67 }, ACCEPT("DHCPv4 client -> server of the policy") },
	{ IF_DHCP_LISTED, { V6, UDP, .daddr = SET_DHCP6, .sport = 546,
	    .dport = 547 }, ACCEPT("DHCPv6 client -> server of the policy") },
	{ IF_NDP, { NDP, .dprefix = &link_local6, .hoplimit = NDP_HOPLIMIT },
	    ACCEPT("neighbour discovery to link-local addresses") },
	{ IF_NDP, { NDP, .dprefix = &link_mcast6, .hoplimit = NDP_HOPLIMIT },
	    ACCEPT("neighbour discovery to link-scope multicast") },
	/*
	 * Only the inet table knows a packet's socket: in the netdev table
	 * a process of another namespace has none this one can see, and
	 * would pass for the kernel.  There, neighbour discovery to other
	 * addresses goes only to the peers and resolvers, which is where
	 * this host's own resolves them when they are on-link.
	 */
	{ IF_NDP | IF_STACK, { NDP, .from_process = true },
	    DROP("neighbour discovery from processes to other addresses") },
	{ IF_NDP | IF_STACK, { NDP, .hoplimit = NDP_HOPLIMIT },
	    ACCEPT("the kernel's neighbour discovery (on-link neighbours)") },
	{ IF_NDP | IF_LINK, { NDP, .daddr = SET_MGMT6,
	    .hoplimit = NDP_HOPLIMIT },
	    ACCEPT("neighbour discovery to an on-link CSIRT peer") },
	{ IF_NDP | IF_DNS | IF_LINK, { NDP, .daddr = SET_DNS6,
	    .hoplimit = NDP_HOPLIMIT },
	    ACCEPT("neighbour discovery to an on-link pinned resolver") },
	MLD_ROWS,
	DNS_ROWS("queries to pinned DNS resolvers", V4, .daddr = SET_DNS4,
	    .dport = 53),
	DNS_ROWS("queries to pinned DNS resolvers", V6, .daddr = SET_DNS6,
	    .dport = 53),
	{ 0, { 0 }, DROP("isolated: drop everything else") },
};

/* forward: containers and VMs behind this host are cut off too */
static const struct row isolated_forward[] = {
	{ 0, { 0 }, DROP("isolated: drop all forwarded traffic") },
};

/*
 * isolated, bridge family: frames a bridge on this host forwards between
 * its ports (virtual machines, containers on a bridge) pass the inet hooks
 * only when br_netfilter is loaded and enabled; this chain drops them in
 * any case.  Traffic of the host itself over a bridge is not forwarded and
 * meets the inet table.
 */
static const struct row isolated_bridged[] = {
	{ 0, { 0 }, DROP("isolated: drop all bridged traffic") },
};

/*
 * egress: graded containment.  Mail and web leaving this host (and
 * forwarded from containers behind it) are dropped, established
 * connections included; the management channel stays exempt even when
 * a management port is also a web port.  The bridge family gets the same
 * drops for frames a bridge forwards between its ports (containers and
 * virtual machines on a bridge), which meet the inet forward hook only
 * where br_netfilter is loaded; the kernel finds the transport header of
 * IPv4 and IPv6 frames there too.
 */
#define EGRESS_DROPS \
	{ 0, { TCP, .dport_set = SET_MAIL_TCP }, \
	    DROP("egress: block mail (TCP)") }, \
	{ 0, { TCP, .dport_set = SET_WEB_TCP }, \
	    DROP("egress: block web (TCP)") }, \
	{ 0, { UDP, .dport_set = SET_WEB_UDP }, \
	    DROP("egress: block web (UDP, QUIC)") }

static const struct row egress_output[] = {
	{ 0, { V4, TCP, .daddr = SET_MGMT4, .dport_set = SET_MGMT_PORTS },
	    ACCEPT("management channel stays open (IPv4)") },
	{ 0, { V6, TCP, .daddr = SET_MGMT6, .dport_set = SET_MGMT_PORTS },
	    ACCEPT("management channel stays open (IPv6)") },
	{ IF_BROKER4, { V4, TCP, .broker = BROKER_TO },
	    ACCEPT("fleet broker stays reachable (IPv4)") },
	{ IF_BROKER6, { V6, TCP, .broker = BROKER_TO },
	    ACCEPT("fleet broker stays reachable (IPv6)") },
	EGRESS_DROPS,
};

static const struct row egress_forward[] = {
	EGRESS_DROPS,
};

#undef V4
#undef V6
#undef TCP
#undef UDP
#undef ACCEPT
#undef DROP
#undef NDP
#undef MGMT_INPUT
#undef MGMT_OUTPUT
#undef PTB_INPUT
#undef BROKER_INPUT
#undef BROKER_OUTPUT
#undef DNS_ROWS
#undef LINK_ROWS

struct set_row {
	unsigned when;
	enum set_id id;
};

struct chain_def {
	int hook;
	int policy;		/* NF_DROP or NF_ACCEPT */
	const struct row *rows;
	size_t nrows;
};

#define ROWS(a)		(a), sizeof(a) / sizeof((a)[0])

static const struct set_row isolated_sets[] = {
	{ 0, SET_MGMT4 }, { 0, SET_MGMT6 }, { 0, SET_MGMT_PORTS },
	{ IF_DNS, SET_DNS4 }, { IF_DNS, SET_DNS6 },
	{ IF_DHCP_LISTED, SET_DHCP4 }, { IF_DHCP_LISTED, SET_DHCP6 },
};
static const struct set_row egress_sets[] = {
	{ 0, SET_MGMT4 }, { 0, SET_MGMT6 }, { 0, SET_MGMT_PORTS },
	{ 0, SET_MAIL_TCP }, { 0, SET_WEB_TCP }, { 0, SET_WEB_UDP },
};
static const struct set_row egress_bridged_sets[] = {
	{ 0, SET_MAIL_TCP }, { 0, SET_WEB_TCP }, { 0, SET_WEB_UDP },
};

/* Per mode and family: its sets, then its chains with their rows, in order. */
static const struct table_def {
	enum kk_mode mode;
	int family;
	const struct set_row *sets;
	size_t nsets;
	struct chain_def chains[KK_NFT_MAX_CHAINS];
	size_t nchains;
} table_defs[] = {
	{ KK_MODE_EGRESS, NFPROTO_INET, ROWS(egress_sets), {
		{ HOOK_OUT, NF_ACCEPT, ROWS(egress_output) },
		{ HOOK_FWD, NF_ACCEPT, ROWS(egress_forward) },
	    }, 2 },
	{ KK_MODE_EGRESS, NFPROTO_BRIDGE, ROWS(egress_bridged_sets), {
		{ HOOK_FWD, NF_ACCEPT, ROWS(egress_forward) },
	    }, 1 },
	{ KK_MODE_ISOLATED, NFPROTO_INET, ROWS(isolated_sets), {
		{ HOOK_IN, NF_DROP, ROWS(isolated_input) },
		{ HOOK_OUT, NF_DROP, ROWS(isolated_output) },
		{ HOOK_FWD, NF_DROP, ROWS(isolated_forward) },
	    }, 3 },
	{ KK_MODE_ISOLATED, NFPROTO_BRIDGE, NULL, 0, {
		{ HOOK_FWD, NF_DROP, ROWS(isolated_bridged) },
	    }, 1 },
	/*
	 * The same rows again for every frame of the Ethernet devices,
	 * whatever made it (nft.h): stateless, compiled on the frame's
	 * bytes (match.c), without loopback (no chain on lo).  What
	 * needs conntrack ("answers" from the pinned resolvers) holds only
	 * in the inet table; here such a row is by address and port.
	 */
	{ KK_MODE_ISOLATED, NFPROTO_NETDEV, ROWS(isolated_sets), {
		{ HOOK_INGRESS, NF_DROP, ROWS(isolated_input) },
		{ HOOK_EGRESS, NF_DROP, ROWS(isolated_output) },
		{ HOOK_INGRESS_IP, NF_DROP, ROWS(isolated_input) },
		{ HOOK_EGRESS_IP, NF_DROP, ROWS(isolated_output) },
	    }, 4 },
};

/* The conditions that hold for spec's table of family. */
static unsigned
conditions(const struct kk_nft_spec *spec, int family)
{
	const struct kk_policy *p = spec->policy;
	struct kk_addr broker;
	uint16_t port;
	unsigned held = 0;

	held |= family == NFPROTO_NETDEV ? IF_LINK : IF_STACK;
	if (p->dhcp)
		held |= IF_DHCP;
	if (p->dhcp && p->dhcp_servers.n > 0)
		held |= IF_DHCP_LISTED;
	if (p->ndp)
		held |= IF_NDP;
	if (p->dns.n > 0)
		held |= IF_DNS;
	if (spec->own_uid_known)
		held |= IF_OWN_UID;
	if (kk_nft_broker_of(p, &broker, &port))
		held |= broker.family == AF_INET6 ? IF_BROKER6 : IF_BROKER4;
	return held;
}

/* One row of a chain as a rule of o's table. */
static int
compile(struct kk_nft_objects *o, int hook, const struct row *row,
    const struct kk_nft_spec *spec)
{
	struct nftnl_rule *r;
	int err;

	if ((r = kk_nft_rule_new(o, hook, row->comment, &err)) == NULL)
		return err;
	/* a drill's drops hold only while kakurid renews the gate */
	if (spec->drill && row->verdict == NF_DROP &&
	    (err = kk_expr_gate(r, KK_DRILL_GATE, GATE_SET_ID)) < 0)
		goto fail;
	if ((err = kk_nft_match_compile(r, &row->m, hook, spec,
	    o->family != NFPROTO_NETDEV ? KK_FRAME_STACK :
	    is_ip_hook(hook) ? KK_FRAME_IP : KK_FRAME_ETHER)) < 0)
		goto fail;
	if (row->counter && (err = kk_expr_counter(r)) < 0)
		goto fail;
	err = kk_expr_verdict(r, row->verdict);
fail:
	return kk_nft_rule_done(o, r, err);
}

/* A netdev chain's devices: spec's Ethernet or raw-IP ones, in order. */
static size_t
devices_of(const struct kk_nft_spec *spec, int hook,
    const char (**devs)[KK_NFT_IFNAME])
{
	*devs = is_ip_hook(hook) ? spec->ipdevs : spec->netdevs;
	return is_ip_hook(hook) ? spec->nipdevs : spec->nnetdevs;
}

static int
set_devices(struct nftnl_chain *c, int hook, const struct kk_nft_spec *spec)
{
	const char *names[KK_NFT_NETDEVS_MAX + 1];
	const char (*devs)[KK_NFT_IFNAME];
	size_t i, n = devices_of(spec, hook, &devs);

	if (n == 0 || n > KK_NFT_NETDEVS_MAX)
		return -EINVAL;
	for (i = 0; i < n; i++)
		names[i] = devs[i];
	names[i] = NULL;
	return nftnl_chain_set_array(c, NFTNL_CHAIN_DEVICES, names);
}

/* Whether cd is a chain of spec's table: a netdev one hooks devices. */
static bool
chain_present(const struct kk_nft_objects *o, const struct chain_def *cd,
    const struct kk_nft_spec *spec)
{
	const char (*devs)[KK_NFT_IFNAME];

	return o->family != NFPROTO_NETDEV ||
	    devices_of(spec, cd->hook, &devs) > 0;
}

static int
add_chain(struct kk_nft_objects *o, const struct chain_def *cd,
    const struct kk_nft_spec *spec)
{
	struct nftnl_chain *c;

	if (o->nchains >= KK_NFT_MAX_CHAINS)
		return -E2BIG;
	c = nftnl_chain_alloc();
	if (c == NULL)
		return -ENOMEM;
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE,
	    nftnl_table_get_str(o->table, NFTNL_TABLE_NAME));
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, kk_nft_chain_names[cd->hook]);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, (uint32_t)o->family);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, chain_hooks[cd->hook]);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, o->family != NFPROTO_NETDEV ?
	    CHAIN_PRIO : chain_hooks[cd->hook] == NF_NETDEV_INGRESS ?
	    KK_NFT_INGRESS_PRIO : KK_NFT_EGRESS_PRIO);
	if (o->family == NFPROTO_NETDEV && set_devices(c, cd->hook, spec) < 0) {
		nftnl_chain_free(c);
		return -ENOMEM;
	}
	/* a drill's chains accept: only its gated drops drop */
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, spec->drill ? NF_ACCEPT :
	    spec->hold ? NF_DROP : (uint32_t)cd->policy);
	o->chains[o->nchains++] = c;
	return 0;
}

/* Where in the policy each source's list is. */
static const size_t source_off[] = {
	[SRC_PEERS] = offsetof(struct kk_policy, peers),
	[SRC_DNS] = offsetof(struct kk_policy, dns),
	[SRC_DHCP_SERVERS] = offsetof(struct kk_policy, dhcp_servers),
	[SRC_MGMT_PORTS] = offsetof(struct kk_policy, mgmt_ports),
	[SRC_MAIL_TCP] = offsetof(struct kk_policy, mail_tcp),
	[SRC_WEB_TCP] = offsetof(struct kk_policy, web_tcp),
	[SRC_WEB_UDP] = offsetof(struct kk_policy, web_udp),
};

/* The elements of a set: the policy's addresses of one family, or ports. */
static int
set_fill(struct nftnl_set *s, const struct set_def *sd,
    const struct kk_policy *p)
{
	const void *list = (const char *)p + source_off[sd->src];
	const struct kk_addrlist *al = sd->af != 0 ? list : NULL;
	const struct kk_portlist *pl = sd->af == 0 ? list : NULL;
	uint16_t be;
	size_t i;
	int err = 0;

	for (i = 0; err == 0 && al && i < al->n; i++) {
		if (al->addr[i].family != sd->af)
			continue;
		err = kk_nft_elem_add(s, &al->addr[i].a, sd->keylen);
	}
	for (i = 0; err == 0 && pl && i < pl->n; i++) {
		be = htons(pl->port[i]);
		err = kk_nft_elem_add(s, &be, sizeof(be));
	}
	return err;
}

static int
add_set(struct kk_nft_objects *o, enum set_id id, const struct kk_policy *p)
{
	const struct set_def *sd = &kk_nft_set_defs[id];
	struct nftnl_set *s;
	int err;

	if ((err = kk_nft_set_new(o, sd->name, sd->type, sd->keylen, id, 0, &s)) < 0)
		return err;
	return set_fill(s, sd, p);
}

/* The sets of td that hold for spec. */
static int
build_sets(struct kk_nft_objects *o, const struct table_def *td,
    const struct kk_nft_spec *spec)
{
	const unsigned held = conditions(spec, o->family);
	size_t i;
	int err;

	for (i = 0; td != NULL && i < td->nsets; i++) {
		if ((td->sets[i].when & ~held) != 0)
			continue;
		if ((err = add_set(o, td->sets[i].id, spec->policy)) < 0)
			return err;
	}
	return 0;
}

/* The rows of td's chains that hold for spec, in chain order. */
static int
build_rows(struct kk_nft_objects *o, const struct table_def *td,
    const struct kk_nft_spec *spec)
{
	const unsigned held = conditions(spec, o->family);
	const struct chain_def *cd;
	size_t i, k;
	int err;

	for (i = 0; td != NULL && i < td->nchains; i++) {
		cd = &td->chains[i];
		for (k = 0; chain_present(o, cd, spec) && k < cd->nrows; k++) {
			/*
			 * no chain on lo in the netdev table; no Ethernet
			 * header on a raw-IP device (ARP, EAPOL, LACP), and
			 * the guard against one only there
			 */
			if ((cd->rows[k].when & ~held) != 0 ||
			    (o->family == NFPROTO_NETDEV &&
			    cd->rows[k].m.loopback) ||
			    (is_ip_hook(cd->hook) && (cd->rows[k].m.arp ||
			    cd->rows[k].m.ethertype)) ||
			    (!is_ip_hook(cd->hook) && cd->rows[k].m.ll_header))
				continue;
			if ((err = compile(o, cd->hook, &cd->rows[k], spec)) < 0)
				return err;
		}
	}
	return 0;
}

/* A drill's gate: one element, key 1, that times out unless renewed. */
static int
add_gate(struct kk_nft_objects *o, const struct kk_nft_spec *spec)
{
	struct nftnl_set_elem *e;
	struct nftnl_set *s;
	const uint32_t one = htonl(1);
	int err;

	if (spec->gate_ms == 0)
		return -EINVAL;
	if ((err = kk_nft_set_new(o, KK_DRILL_GATE, NFT_TYPE_MARK, sizeof(one),
	    GATE_SET_ID, NFT_SET_TIMEOUT, &s)) < 0)
		return err;
	if ((e = nftnl_set_elem_alloc()) == NULL)
		return -ENOMEM;
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &one, sizeof(one));
	nftnl_set_elem_set_u64(e, NFTNL_SET_ELEM_TIMEOUT, spec->gate_ms);
	nftnl_set_elem_add(s, e);
	return 0;
}

static int
table_set_comment(struct nftnl_table *t, const struct kk_nft_spec *spec)
{
	struct nftnl_udata_buf *u;
	char comment[128];
	int err;

	if ((err = kk_nft_comment_format(spec->mode, spec->episode, comment,
	    sizeof(comment))) < 0)
		return err;
	u = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
	if (u == NULL)
		return -ENOMEM;
	nftnl_udata_put_strz(u, NFTNL_UDATA_TABLE_COMMENT, comment);
	nftnl_table_set_data(t, NFTNL_TABLE_USERDATA, nftnl_udata_buf_data(u),
	    nftnl_udata_buf_len(u));
	nftnl_udata_buf_free(u);
	return 0;
}

/* Whether td (a mode's table, or none) has a chain on hook. */
static bool
has_chain(const struct table_def *td, int hook)
{
	size_t i;

	for (i = 0; td != NULL && i < td->nchains; i++)
		if (td->chains[i].hook == hook)
			return true;
	return false;
}

int
kk_nft_objects_build(const struct kk_nft_spec *spec, int family,
    struct kk_nft_objects *o)
{
	const struct table_def *td = NULL;
	size_t i;
	int h, err;

	memset(o, 0, sizeof(*o));
	if (!kk_nft_wants(spec->mode, family) ||
	    (family == NFPROTO_BRIDGE && (spec->no_bridge || spec->drill)) ||
	    (family == NFPROTO_NETDEV && ((spec->nnetdevs == 0 &&
	    spec->nipdevs == 0) || spec->drill)))
		return -ENOENT;
	if (spec->drill && spec->mode != KK_MODE_ISOLATED)
		return -EINVAL;
	if (spec->mode != KK_MODE_OPEN && spec->mode != KK_MODE_EGRESS &&
	    spec->mode != KK_MODE_ISOLATED)
		return -EINVAL;
	o->family = family;
	o->table = nftnl_table_alloc();
	if (o->table == NULL)
		return -ENOMEM;
	nftnl_table_set_str(o->table, NFTNL_TABLE_NAME, kk_nft_spec_name(spec));
	nftnl_table_set_u32(o->table, NFTNL_TABLE_FAMILY, (uint32_t)family);
	nftnl_table_set_u32(o->table, NFTNL_TABLE_FLAGS, spec->table_flags);
	if ((err = table_set_comment(o->table, spec)) < 0 ||
	    (spec->drill && (err = add_gate(o, spec)) < 0))
		goto fail;
	/* open: the table alone, empty, but for block lists */
	for (i = 0; i < sizeof(table_defs) / sizeof(table_defs[0]); i++)
		if (table_defs[i].mode == spec->mode &&
		    table_defs[i].family == family)
			td = &table_defs[i];
	if ((err = build_sets(o, td, spec)) < 0 ||
	    (family == NFPROTO_INET && ((err = kk_nft_add_ipsets(o, spec)) < 0 ||
	    (err = kk_nft_add_counters(o, spec)) < 0)))
		goto fail;
	for (i = 0; td != NULL && i < td->nchains; i++)
		if (chain_present(o, &td->chains[i], spec) &&
		    (err = add_chain(o, &td->chains[i], spec)) < 0)
			goto fail;
	/* block lists need every hook; chains a mode lacks accept the rest */
	for (h = 0; family == NFPROTO_INET && kk_nft_blocks(spec) &&
	    h < KK_NFT_INET_CHAINS; h++) {
		const struct chain_def accept = { h, NF_ACCEPT, NULL, 0 };

		if (has_chain(td, h))
			continue;
		if ((err = add_chain(o, &accept, spec)) < 0)
			goto fail;
	}
	for (h = 0; family == NFPROTO_INET && h < KK_NFT_INET_CHAINS; h++)
		if ((err = kk_nft_block_rules(o, h, spec)) < 0)
			goto fail;
	if ((err = build_rows(o, td, spec)) < 0)
		goto fail;
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
	for (i = 0; i < o->nobjs; i++)
		nftnl_obj_free(o->objs[i]);
	memset(o, 0, sizeof(*o));
}
