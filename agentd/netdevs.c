/*
 * The devices of the netdev table: see netdevs.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if_arp.h>

#include "netdevs.h"

_Static_assert(KK_NFT_IFNAME == IF_NAMESIZE, "interface name size");

struct pick {
	char name[KK_NFT_IFNAME];
	int ifindex;
};

static int
by_name(const void *a, const void *b)
{
	return strcmp(((const struct pick *)a)->name,
	    ((const struct pick *)b)->name);
}

#ifndef ARPHRD_RAWIP
#define ARPHRD_RAWIP	519	/* linux/if_arp.h: raw IP, no header */
#endif
#ifndef ARPHRD_NETLINK
#define ARPHRD_NETLINK	824
#endif
#ifndef ARPHRD_IP6GRE
#define ARPHRD_IP6GRE	823
#endif

/* The two lists: Ethernet frames, and frames that start with IP. */
enum devclass { DEV_ETHER, DEV_IP };

static bool
wanted(const struct kk_link *k, enum devclass c)
{
	if (k->missing || k->name[0] == '\0')
		return false;
	if (c == DEV_ETHER)
		return k->type == ARPHRD_ETHER;
	return k->type == ARPHRD_NONE || k->type == ARPHRD_RAWIP;
}

/*
 * Every link type but these: the two the netdev table hooks, loopback,
 * IP tunnels (what a packet socket sends on one goes out encapsulated,
 * through the output hook again) and netlink monitors (nlmon: nothing
 * leaves).  A list of what is known to be safe, so that a type nobody
 * thought of (teql's VOID, SLIP, CAN, AX.25, ...) is reported.
 */
bool
kd_netdev_uncovered(unsigned short type)
{
	switch (type) {
	case ARPHRD_ETHER:
	case ARPHRD_NONE:
	case ARPHRD_RAWIP:
	case ARPHRD_LOOPBACK:
	case ARPHRD_TUNNEL:
	case ARPHRD_TUNNEL6:
	case ARPHRD_SIT:
	case ARPHRD_IPGRE:
	case ARPHRD_IP6GRE:
	case ARPHRD_NETLINK:
		return false;
	default:
		return true;
	}
}

/* Room for KK_NFT_NETDEVS_MAX devices in a list, if it has none yet. */
static int
room(char (**name)[KK_NFT_IFNAME], int **ifindex)
{
	if (*name == NULL)
		*name = calloc(KK_NFT_NETDEVS_MAX, KK_NFT_IFNAME);
	if (*ifindex == NULL)
		*ifindex = calloc(KK_NFT_NETDEVS_MAX, sizeof(**ifindex));
	return *name && *ifindex ? 0 : -ENOMEM;
}

/* The devices of class c into name/ifindex (room for the cap): their count. */
static size_t
gather_class(const struct kk_links *l, enum devclass c, struct pick *p,
    char (*name)[KK_NFT_IFNAME], int *ifindex, bool *over)
{
	size_t i, n = 0;
	int pass;

	/* pass 0: devices of no kind (hardware); pass 1: virtual ones */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; l->known != NULL && i < l->nknown; i++) {
			const struct kk_link *k = &l->known[i];

			if (!wanted(k, c) || (k->kind[0] == '\0') != (pass == 0))
				continue;
			if (n == KK_NFT_NETDEVS_MAX) {
				*over = true;
				break;
			}
			snprintf(p[n].name, sizeof(p[n].name), "%s", k->name);
			p[n++].ifindex = k->ifindex;
		}
	}
	qsort(p, n, sizeof(*p), by_name);
	memset(name, 0, KK_NFT_NETDEVS_MAX * KK_NFT_IFNAME);
	for (i = 0; i < n; i++) {
		memcpy(name[i], p[i].name, KK_NFT_IFNAME);
		ifindex[i] = p[i].ifindex;
	}
	return n;
}

int
kd_netdevs_gather(const struct kk_links *l, struct kd_netdevs *out)
{
	struct pick *p;
	bool over = false;
	int err;

	if ((err = room(&out->name, &out->ifindex)) < 0 ||
	    (err = room(&out->ipname, &out->ipifindex)) < 0)
		return err;
	p = calloc(KK_NFT_NETDEVS_MAX, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	out->n = gather_class(l, DEV_ETHER, p, out->name, out->ifindex, &over);
	out->nip = gather_class(l, DEV_IP, p, out->ipname, out->ipifindex,
	    &over);
	out->over = over || l->untracked;
	free(p);
	return 0;
}

/* The same list: n names and indexes each. */
static bool
same_list(size_t n, char (*an)[KK_NFT_IFNAME], const int *ai,
    char (*bn)[KK_NFT_IFNAME], const int *bi)
{
	return n == 0 || (memcmp(an, bn, n * KK_NFT_IFNAME) == 0 &&
	    memcmp(ai, bi, n * sizeof(*ai)) == 0);
}

bool
kd_netdevs_same(const struct kd_netdevs *a, const struct kd_netdevs *b)
{
	return a->n == b->n && a->nip == b->nip &&
	    same_list(a->n, a->name, a->ifindex, b->name, b->ifindex) &&
	    same_list(a->nip, a->ipname, a->ipifindex, b->ipname,
	    b->ipifindex);
}

bool
kd_netdevs_has(const struct kd_netdevs *a, const char *name)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		if (strncmp(a->name[i], name, KK_NFT_IFNAME) == 0)
			return true;
	for (i = 0; i < a->nip; i++)
		if (strncmp(a->ipname[i], name, KK_NFT_IFNAME) == 0)
			return true;
	return false;
}

void
kd_netdevs_free(struct kd_netdevs *a)
{
	free(a->name);
	free(a->ifindex);
	free(a->ipname);
	free(a->ipifindex);
	memset(a, 0, sizeof(*a));
}
