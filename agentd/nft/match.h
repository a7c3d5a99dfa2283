/*
 * What a row of the rules matches (rules.c), and how it becomes
 * expressions (match.c) that match what nft(8)'s would, the header bytes
 * a row fixes a few apart compared at once (expr.h: kk_expr_win): in the
 * inet and bridge tables on the headers the kernel parsed, in the netdev
 * table on the frame's own bytes.  Private to agentd/nft.
 */
#ifndef KK_NFT_MATCH_H
#define KK_NFT_MATCH_H

#include <stdbool.h>
#include <stdint.h>

struct nftnl_rule;
struct kk_addr;
struct kk_policy;
struct kk_nft_spec;

/* What a set holds, from the policy. */
enum source {
	SRC_PEERS, SRC_DNS, SRC_DHCP_SERVERS,		/* addresses */
	SRC_MGMT_PORTS, SRC_MAIL_TCP, SRC_WEB_TCP, SRC_WEB_UDP,	/* ports */
};

/* Set ids number the sets in the batch; lookups name them by id too. */
enum set_id {
	SET_MGMT4 = 1, SET_MGMT6, SET_MGMT_PORTS, SET_DNS4, SET_DNS6,
	SET_MAIL_TCP, SET_WEB_TCP, SET_WEB_UDP, SET_DHCP4, SET_DHCP6,
};
#define KK_NFT_SET_DEFS	(SET_DHCP6 + 1)
#define GATE_SET_ID	99	/* a drill's gate, below the interval sets' ids */

struct set_def {
	const char *name;
	uint32_t type;
	uint32_t keylen;
	enum source src;
	int af;			/* of the addresses taken from src; 0: ports */
};
/* the sets rows look up, by id: name, key type and where elements come from */
extern const struct set_def kk_nft_set_defs[KK_NFT_SET_DEFS];

/* A row's match on the fleet broker's address and port (fleet.broker). */
enum broker_match {
	BROKER_NONE,
	BROKER_TO,		/* daddr == broker, dport == its port */
	BROKER_FROM,		/* saddr == broker, sport == its port */
};

/*
 * A row's match on an ICMP "fragmentation needed" or ICMPv6 "packet too
 * big" that quotes a TCP segment sent to a CSIRT peer (its address in the
 * family's management set) -- to one of its management ports (a
 * connection of this host's) or from one (a reply to the peer's) -- or
 * sent to the fleet broker's address and port.
 */
enum ptb_match {
	PTB_NONE,
	PTB_TO_PORT,		/* the quoted dport is a management port */
	PTB_FROM_PORT,		/* the quoted sport is one */
	PTB_TO_BROKER,		/* the quoted daddr and dport: fleet.broker */
};

/* An address prefix matched in the network header. */
struct prefix {
	uint8_t addr[16];
	uint8_t plen;		/* bits */
};

/*
 * What a row matches; compile() emits the expressions in this order, but
 * for a netdev row's frame bytes (and hop limit), which come first.
 */
struct match {
	bool arp;		/* an ARP frame for IPv4 (netdev rows only) */
	uint16_t ethertype;	/* a frame of this type (netdev rows only) */
	bool loopback;		/* meta iif lo (input) / oif lo (output) */
	int nfproto;		/* NFPROTO_IPV4/IPV6 or 0 */
	int l4;			/* IPPROTO_TCP/UDP/ICMP/ICMPV6 or 0 */
	enum set_id saddr, daddr;	/* address set lookups */
	const struct prefix *sprefix, *dprefix;
	enum broker_match broker;	/* after the address sets */
	enum set_id sport_set, dport_set;
	uint16_t sport, dport;	/* single ports (host order), 0 = any */
	uint8_t icmp6_lo, icmp6_hi;	/* icmpv6 type range, 0 = none */
	enum ptb_match ptb;	/* l4 ICMP (IPv4) or ICMPv6 (IPv6) */
	uint8_t hoplimit;	/* ip6 hoplimit must be this, 0 = any */
	bool hbh;		/* IPv6 with a hop-by-hop header (netdev rows: where l4 is) */
	bool ll_header;		/* the frame has a link-layer header (raw-IP chains only) */
	bool from_process;	/* the packet has a process's socket (kernel ones do not match) */
	bool established;
	bool not_syn;		/* tcp flags & (syn|ack) != syn: no new connection */
	bool own_socket;	/* meta skuid/skgid == agent.user */
};

/* The fleet broker's address and port, if the policy names one. */
bool kk_nft_broker_of(const struct kk_policy *p, struct kk_addr *addr,
    uint16_t *port);
/* Where a rule finds the headers (match.c: struct frame). */
enum kk_frame {
	KK_FRAME_STACK,		/* inet, bridge: where the kernel parsed them */
	KK_FRAME_ETHER,		/* netdev: in the frame, after an Ethernet header */
	KK_FRAME_IP,		/* netdev: in the frame, which starts with IP */
};
/*
 * The expressions of m, in the order of struct match, for a rule of
 * hook; in the netdev table (frame not KK_FRAME_STACK) on the frame's
 * bytes and without conntrack.  0 or a negative errno (-EINVAL: m
 * cannot be compiled so, as a hop limit on a row that is not IPv6).
 */
int kk_nft_match_compile(struct nftnl_rule *r, const struct match *m,
    int hook, const struct kk_nft_spec *spec, enum kk_frame frame);

#endif
