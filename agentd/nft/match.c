/*
 * A row's match as expressions (match.h).  Pure: no sockets, no kernel.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <libnftnl/rule.h>

#include "kakuri.h"
#include "expr.h"
#include "match.h"
#include "nft.h"
#include "objects.h"

#define LOOPBACK_IFINDEX	1	/* the kernel's constant, in every netns */

/*
 * The netdev table's rows find their headers in the frame itself.  On an
 * Ethernet device: an Ethernet header (14 bytes), then IPv4 without
 * options (the transport header at 34) or IPv6 without extension headers
 * (at 54), or with one hop-by-hop header of 8 bytes (MLD's router alert:
 * at 62).  Nothing there trusts where the kernel thinks the network
 * header is: whoever writes a frame through an AF_PACKET socket chooses
 * that.  On a device without a link-layer header (raw IP: its header
 * length is 0), the frame starts with the IP header, and the network
 * header is the frame's start whoever wrote it: the same rows at offsets
 * 14 bytes lower, the IP version in the first byte standing for the
 * Ethernet type.  compile_frame() matches what makes these offsets true.
 */
#define ETH_HDR_LEN		14
#define ETH_TYPE_OFF		12
struct frame {
	uint32_t base;		/* NFT_PAYLOAD_LL_HEADER or _NETWORK_HEADER */
	uint32_t l3;		/* where the IP header starts */
	bool ether;		/* an Ethernet header says what follows */
	struct kk_expr_at v4, v6, v6_hbh;
};
#define FRAME(base, l3, ether) { (base), (l3), (ether), \
	{ (base), (l3), (base), (l3) + 20 }, \
	{ (base), (l3), (base), (l3) + 40 }, \
	{ (base), (l3), (base), (l3) + 40 + 8 } }
static const struct frame frame_ether =
    FRAME(NFT_PAYLOAD_LL_HEADER, ETH_HDR_LEN, true);
static const struct frame frame_ip =
    FRAME(NFT_PAYLOAD_NETWORK_HEADER, 0, false);

const struct set_def kk_nft_set_defs[KK_NFT_SET_DEFS] = {
	[SET_MGMT4] = { "mgmt4", NFT_TYPE_IPADDR, 4, SRC_PEERS, AF_INET },
	[SET_MGMT6] = { "mgmt6", NFT_TYPE_IP6ADDR, 16, SRC_PEERS, AF_INET6 },
	[SET_MGMT_PORTS] = { "mgmt_ports", NFT_TYPE_INET_SERVICE, 2,
	    SRC_MGMT_PORTS, 0 },
	[SET_DNS4] = { "dns4", NFT_TYPE_IPADDR, 4, SRC_DNS, AF_INET },
	[SET_DNS6] = { "dns6", NFT_TYPE_IP6ADDR, 16, SRC_DNS, AF_INET6 },
	[SET_MAIL_TCP] = { "mail_tcp", NFT_TYPE_INET_SERVICE, 2,
	    SRC_MAIL_TCP, 0 },
	[SET_WEB_TCP] = { "web_tcp", NFT_TYPE_INET_SERVICE, 2, SRC_WEB_TCP, 0 },
	[SET_WEB_UDP] = { "web_udp", NFT_TYPE_INET_SERVICE, 2, SRC_WEB_UDP, 0 },
	[SET_DHCP4] = { "dhcp4", NFT_TYPE_IPADDR, 4, SRC_DHCP_SERVERS, AF_INET },
	[SET_DHCP6] = { "dhcp6", NFT_TYPE_IP6ADDR, 16, SRC_DHCP_SERVERS,
	    AF_INET6 },
};

/* The fleet broker's address and port, if the policy names one. */
bool
kk_nft_broker_of(const struct kk_policy *p, struct kk_addr *addr, uint16_t *port)
{
	return p->fleet_broker[0] != '\0' &&
	    kk_endpoint_parse(p->fleet_broker, addr, port) == 0;
}

/*
 * ip/ip6 saddr|daddr BROKER tcp sport|dport PORT: the broker's side, to
 * it (to) or from it, of IPv6 (v6) or IPv4, in the headers at reads.
 */
static int
compile_broker(struct nftnl_rule *r, const struct kk_expr_at *at, bool to,
    bool v6, const struct kk_policy *p)
{
	struct kk_addr a;
	uint16_t port;
	int err;

	/* rows of one family apply only to a broker of that family */
	if (!kk_nft_broker_of(p, &a, &port) || (a.family == AF_INET6) != v6)
		return -EINVAL;
	if (v6)
		err = kk_expr_prefix(r, at, to ? 24 : 8, (const uint8_t *)&a.a,
		    128);
	else
		err = kk_expr_prefix(r, at, to ? 16 : 12, (const uint8_t *)&a.a,
		    32);
	return err < 0 ? err : kk_expr_port(r, at, to ? 2 : 0, port);
}

/*
 * A "too big" error (enum ptb_match) quoting a management flow: the type
 * and code, then the quoted header read as at reads a packet's -- IPv4
 * without options or IPv6 without extension headers, carrying TCP, its
 * destination a CSIRT peer and a port a management port, or the fleet
 * broker's address and port.  Its source is not matched: a router cannot
 * be told from anyone else, and what the kernel does with one (lower the
 * path MTU of the quoted socket's route, if that socket exists) is all it
 * can do.
 */
static int
compile_ptb(struct nftnl_rule *r, const struct kk_expr_at *at,
    const struct match *m, const struct kk_policy *p)
{
	/* ICMPv6's code is 0, and ignored (RFC 4443, 3.2): the type alone */
	static const uint8_t head4[2] = { 3, 4 }, head6[1] = { 2 };
	static const uint8_t version_mask = 0xf0, version6 = 0x60;
	const bool v6 = m->nfproto == NFPROTO_IPV6;
	const uint32_t b = at->th_base, q = at->th_off + 8;
	const struct kk_expr_at quoted = { b, q, b, q + (v6 ? 40 : 20) };
	const enum set_id peers = v6 ? SET_MGMT6 : SET_MGMT4;
	struct kk_expr_win w;
	int err;

	if (m->l4 != (v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP) ||
	    m->broker != BROKER_NONE)
		return -EINVAL;
	/*
	 * ICMPv6's type to the quoted next header is one window (15
	 * bytes); ICMP's type and code stand apart from the quoted
	 * header's version to protocol (10 bytes), 18 bytes in all.
	 */
	kk_expr_win_init(&w, b, v6 ? at->th_off : q);
	if (v6)
		err = kk_expr_win_put(&w, at->th_off, NULL, head6, 1);
	else
		err = kk_expr_bytes(r, b, at->th_off, NULL, head4, 2);
	if (err == 0)
		err = v6 ? kk_expr_win_put(&w, q, &version_mask, &version6, 1) :
		    kk_expr_win_put_byte(&w, q, 0x45);
	if (err < 0 || (err = kk_expr_win_put_byte(&w, q + (v6 ? 6 : 9),
	    IPPROTO_TCP)) < 0 || (err = kk_expr_win_emit(r, &w)) < 0)
		return err;
	if (m->ptb == PTB_TO_BROKER)
		return compile_broker(r, &quoted, true, v6, p);
	if ((err = kk_expr_addr_in(r, &quoted, v6, true,
	    kk_nft_set_defs[peers].name, peers)) < 0)
		return err;
	return kk_expr_port_in(r, &quoted, m->ptb == PTB_TO_PORT ? 2 : 0,
	    kk_nft_set_defs[SET_MGMT_PORTS].name, SET_MGMT_PORTS);
}

/* A row's fixed ports, 0 for none: both, where both, one compare. */
static int
compile_ports(struct nftnl_rule *r, const struct kk_expr_at *at,
    uint16_t sport, uint16_t dport)
{
	const uint16_t be[2] = { htons(sport), htons(dport) };
	struct kk_expr_win w;
	int err = 0;

	kk_expr_win_init(&w, at->th_base, at->th_off);
	if (sport)
		err = kk_expr_win_put(&w, at->th_off, NULL, &be[0], 2);
	if (err == 0 && dport)
		err = kk_expr_win_put(&w, at->th_off + 2, NULL, &be[1], 2);
	return err < 0 ? err : kk_expr_win_emit(r, &w);
}

/*
 * A netdev row's frame (see struct frame): its type (the Ethernet type,
 * or the IP version on a raw-IP device), and with a transport protocol,
 * the headers that put it where f's offsets say; an IPv6 row's hop
 * limit too.  An IPv4 fragment other than the whole datagram does not
 * match: where its ports would be is data.  The bytes from the Ethernet
 * type (or the IP header's start) to the IPv6 hop limit or the IPv4
 * protocol are one window, compared at once; so are an IPv6 hop-by-hop
 * header's two (kk_expr_win).
 */
static int
compile_frame(struct nftnl_rule *r, const struct match *m,
    const struct frame *f, const struct kk_expr_at **at)
{
	static const uint8_t frag_mask[2] = { 0x3f, 0xff }, zero2[2];
	/* type 0x0806; hardware 1, protocol 0x0800, lengths 6 and 4 */
	static const uint8_t arp_head[8] = { 0x08, 0x06, 0x00, 0x01, 0x08,
	    0x00, 0x06, 0x04 };
	/* an opcode below 4: request (1), reply (2); no other ARP */
	static const uint8_t arp_code_mask[2] = { 0xff, 0xfc }, arp_code[2];
	static const uint8_t version_mask = 0xf0, zero;
	const bool v6 = m->nfproto == NFPROTO_IPV6;
	const uint8_t l4 = (uint8_t)m->l4, version = v6 ? 0x60 : 0x40;
	struct kk_expr_win head, hbh;
	uint16_t type;
	int err = 0;

	*at = v6 ? (m->hbh ? &f->v6_hbh : &f->v6) : &f->v4;
	/*
	 * A hop limit (IPv6's alone: the caller checks) is put in the
	 * window below: not on these.
	 */
	if (((m->arp || m->ethertype) && !f->ether) || (m->hoplimit &&
	    (m->arp || m->ethertype || m->ll_header)))
		return -EINVAL;
	/*
	 * Any byte of a link-layer header, masked to nothing: the load
	 * fails (no match) where there is none, as on a raw-IP device.
	 */
	if (m->ll_header)
		return f->ether ? -EINVAL : kk_expr_bytes(r,
		    NFT_PAYLOAD_LL_HEADER, 0, &zero, &zero, 1);
	kk_expr_win_init(&head, f->base, f->ether ? ETH_TYPE_OFF : f->l3);
	kk_expr_win_init(&hbh, f->base, f->l3 + 40);
	if (m->arp) {
		/* Ethernet, IPv4, lengths 6 and 4; a request or a reply */
		if ((err = kk_expr_win_put(&head, ETH_TYPE_OFF, NULL, arp_head,
		    sizeof(arp_head))) < 0 ||
		    (err = kk_expr_win_put(&head, ETH_HDR_LEN + 6,
		    arp_code_mask, arp_code, sizeof(arp_code))) < 0)
			return err;
		return kk_expr_win_emit(r, &head);
	}
	if (m->ethertype) {
		type = htons(m->ethertype);
		return kk_expr_bytes(r, f->base, ETH_TYPE_OFF, NULL, &type,
		    sizeof(type));
	}
	if (m->nfproto == 0)
		return m->l4 || m->saddr || m->daddr || m->sprefix ||
		    m->dprefix || m->broker != BROKER_NONE ? -EINVAL : 0;
	type = htons(v6 ? 0x86dd : 0x0800);
	if (f->ether)
		err = kk_expr_win_put(&head, ETH_TYPE_OFF, NULL, &type,
		    sizeof(type));
	else if (v6 || m->l4 == 0)	/* IPv4 with l4: 0x45 says it */
		err = kk_expr_win_put(&head, f->l3, &version_mask, &version,
		    1);
	if (err == 0 && m->l4 != 0 && !v6 &&
	    (err = kk_expr_win_put_byte(&head, f->l3, 0x45)) == 0 &&
	    (err = kk_expr_win_put(&head, f->l3 + 6, frag_mask, zero2,
	    2)) == 0)
		err = kk_expr_win_put_byte(&head, f->l3 + 9, l4);
	/* IPv6: next header l4, or hop-by-hop (0), 8 bytes long, then l4 */
	if (err == 0 && m->l4 != 0 && v6)
		err = kk_expr_win_put_byte(&head, f->l3 + 6, m->hbh ? 0 : l4);
	if (err == 0 && m->l4 != 0 && v6 && m->hbh &&
	    (err = kk_expr_win_put_byte(&hbh, f->l3 + 40, l4)) == 0)
		err = kk_expr_win_put_byte(&hbh, f->l3 + 41, 0);
	if (err == 0 && m->hoplimit)
		err = kk_expr_win_put_byte(&head, f->l3 + 7, m->hoplimit);
	if (err == 0)
		err = kk_expr_win_emit(r, &head);
	return err < 0 ? err : kk_expr_win_emit(r, &hbh);
}

int
kk_nft_match_compile(struct nftnl_rule *r, const struct match *m, int hook,
    const struct kk_nft_spec *spec, enum kk_frame frame)
{
	const bool v6 = m->nfproto == NFPROTO_IPV6;
	const bool ll = frame != KK_FRAME_STACK;
	const struct kk_expr_at *at = &kk_expr_stack;
	int err = 0;

	/* the IPv6 hop limit; IPv4's TTL is elsewhere, and never matched */
	if (m->hoplimit && m->nfproto != NFPROTO_IPV6)
		return -EINVAL;
	if (ll)
		err = compile_frame(r, m, frame == KK_FRAME_IP ? &frame_ip :
		    &frame_ether, &at);
	/* frame bytes with no frame: a row that would match everything */
	if (err == 0 && (m->arp || m->ethertype || m->ll_header) && !ll)
		err = -EINVAL;
	if (err == 0 && m->loopback)
		err = ll ? -EINVAL : kk_expr_meta(r, hook == HOOK_OUT ?
		    NFT_META_OIF : NFT_META_IIF, NFT_CMP_EQ, LOOPBACK_IFINDEX);
	if (err == 0 && m->nfproto && !ll)
		err = kk_expr_meta8(r, NFT_META_NFPROTO, (uint8_t)m->nfproto);
	if (err == 0 && m->l4 && !ll)
		err = kk_expr_meta8(r, NFT_META_L4PROTO, (uint8_t)m->l4);
	if (err == 0 && m->saddr)
		err = kk_expr_addr_in(r, at, v6, false,
		    kk_nft_set_defs[m->saddr].name, m->saddr);
	if (err == 0 && m->daddr)
		err = kk_expr_addr_in(r, at, v6, true, kk_nft_set_defs[m->daddr].name,
		    m->daddr);
	if (err == 0 && m->broker != BROKER_NONE)
		err = compile_broker(r, at, m->broker == BROKER_TO, v6,
		    spec->policy);
	if (err == 0 && m->sprefix)
		err = kk_expr_prefix(r, at, v6 ? 8 : 12, m->sprefix->addr,
		    m->sprefix->plen);
	if (err == 0 && m->dprefix)
		err = kk_expr_prefix(r, at, v6 ? 24 : 16, m->dprefix->addr,
		    m->dprefix->plen);
	if (err == 0 && m->sport_set)
		err = kk_expr_port_in(r, at, 0, kk_nft_set_defs[m->sport_set].name,
		    m->sport_set);
	if (err == 0 && m->dport_set)
		err = kk_expr_port_in(r, at, 2, kk_nft_set_defs[m->dport_set].name,
		    m->dport_set);
	if (err == 0)
		err = compile_ports(r, at, m->sport, m->dport);
	if (err == 0 && m->icmp6_lo)
		err = kk_expr_byte_range(r, at, m->icmp6_lo, m->icmp6_hi);
	if (err == 0 && m->ptb != PTB_NONE)
		err = compile_ptb(r, at, m, spec->policy);
	/* a netdev row's hop limit is in its frame's window */
	if (err == 0 && m->hoplimit && !ll)
		err = kk_expr_byte(r, at->nh_base, at->nh_off + 7,
		    m->hoplimit);
	/* meta skuid fails (no match) for the kernel's own sockets */
	if (err == 0 && m->from_process)
		err = kk_expr_meta(r, NFT_META_SKUID, NFT_CMP_GTE, 0);
	/* no conntrack before the inet hooks: the inet table checks it */
	if (err == 0 && m->established && !ll)
		err = kk_expr_ct_established(r);
	if (err == 0 && m->not_syn)
		err = kk_expr_not_syn(r, at);
	if (err == 0 && m->own_socket &&
	    (err = kk_expr_meta(r, NFT_META_SKUID, NFT_CMP_EQ,
	    (uint32_t)spec->own_uid)) == 0)
		err = kk_expr_meta(r, NFT_META_SKGID, NFT_CMP_EQ,
		    (uint32_t)spec->own_gid);
	return err;
}
