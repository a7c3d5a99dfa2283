/*
 * The Ethernet devices the netdev table's chains hook while isolated
 * (nft.h): which ones, from the interface watch, and whether they
 * changed since the tables were built with them.  Pure (no sockets), so
 * the unit tests feed it a hand-made kk_links.
 */
#ifndef KD_NETDEVS_H
#define KD_NETDEVS_H

#include <stdbool.h>
#include <stddef.h>

#include "links.h"
#include "nft.h"

struct kd_netdevs {
	char (*name)[KK_NFT_IFNAME];	/* sorted, zero-padded */
	int *ifindex;			/* of name[i] */
	size_t n;
	bool over;		/* more than KK_NFT_NETDEVS_MAX: some left out */
};

/*
 * The Ethernet devices l knows now (not lo, tun or WireGuard: no
 * Ethernet header), sorted by name.  Past KK_NFT_NETDEVS_MAX, devices of
 * no kind (physical NICs, Wi-Fi) go in before virtual ones (veth,
 * bridge, macvlan), so that a flood of virtual devices cannot push a NIC
 * out.  0, or -ENOMEM with out as it was.
 */
int kd_netdevs_gather(const struct kk_links *l, struct kd_netdevs *out);
/* The same devices: names and interface indexes. */
bool kd_netdevs_same(const struct kd_netdevs *a, const struct kd_netdevs *b);
bool kd_netdevs_has(const struct kd_netdevs *a, const char *name);
void kd_netdevs_free(struct kd_netdevs *a);

#endif
