/*
 * The devices the netdev table's chains hook while isolated (nft.h):
 * Ethernet ones (ingress, egress) and raw-IP ones (ingress_ip,
 * egress_ip: no link-layer header, such as a modem's wwan0, tun or
 * WireGuard), from the interface watch, and whether they changed since
 * the tables were built with them.  Pure (no sockets), so the unit tests
 * feed it a hand-made kk_links.
 */
#ifndef KD_NETDEVS_H
#define KD_NETDEVS_H

#include <stdbool.h>
#include <stddef.h>

#include "links.h"
#include "nft.h"

struct kd_netdevs {
	char (*name)[KK_NFT_IFNAME];	/* Ethernet: sorted, zero-padded */
	int *ifindex;			/* of name[i] */
	size_t n;
	char (*ipname)[KK_NFT_IFNAME];	/* raw IP: sorted, zero-padded */
	int *ipifindex;			/* of ipname[i] */
	size_t nip;
	bool over;		/* more than KK_NFT_NETDEVS_MAX: some left out */
};

/*
 * The Ethernet devices l knows now, and apart the raw-IP ones
 * (ARPHRD_NONE, ARPHRD_RAWIP: frames start with the IP header), each
 * sorted by name; not lo, nor tunnels (their packets meet the inet
 * hooks again, encapsulated), nor other link types (kd_netdev_uncovered).
 * Past KK_NFT_NETDEVS_MAX in a list, devices of no kind (physical NICs,
 * Wi-Fi, modems) go in before virtual ones (veth, bridge, macvlan, tun),
 * so that a flood of virtual devices cannot push one out.  0, or
 * -ENOMEM with out as it was.
 */
int kd_netdevs_gather(const struct kk_links *l, struct kd_netdevs *out);
/* The same devices: names and interface indexes, in both lists. */
bool kd_netdevs_same(const struct kd_netdevs *a, const struct kd_netdevs *b);
/* name is in either list */
bool kd_netdevs_has(const struct kd_netdevs *a, const char *name);
/*
 * A link type with no netdev chains of kakurid's that may carry traffic
 * off the host: any but Ethernet, raw IP, loopback, IP tunnels and
 * netlink monitors (PPP, Wi-Fi in monitor mode, InfiniBand, teql, SLIP,
 * CAN, ...).  What a packet socket sends on such a device passes every
 * hook.
 */
bool kd_netdev_uncovered(unsigned short type);
void kd_netdevs_free(struct kd_netdevs *a);

#endif
