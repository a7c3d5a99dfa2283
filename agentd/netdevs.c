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

static bool
wanted(const struct kk_link *k)
{
	return k->type == ARPHRD_ETHER && !k->missing && k->name[0] != '\0';
}

/* Room for KK_NFT_NETDEVS_MAX devices in a, if it has none yet. */
static int
room(struct kd_netdevs *a)
{
	if (a->name == NULL)
		a->name = calloc(KK_NFT_NETDEVS_MAX, KK_NFT_IFNAME);
	if (a->ifindex == NULL)
		a->ifindex = calloc(KK_NFT_NETDEVS_MAX, sizeof(*a->ifindex));
	return a->name && a->ifindex ? 0 : -ENOMEM;
}

int
kd_netdevs_gather(const struct kk_links *l, struct kd_netdevs *out)
{
	struct pick *p;
	size_t i, n = 0;
	bool over = false;
	int pass, err;

	if ((err = room(out)) < 0)
		return err;
	p = calloc(KK_NFT_NETDEVS_MAX, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	/* pass 0: devices of no kind (hardware); pass 1: virtual ones */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; l->known != NULL && i < l->nknown; i++) {
			const struct kk_link *k = &l->known[i];

			if (!wanted(k) || (k->kind[0] == '\0') != (pass == 0))
				continue;
			if (n == KK_NFT_NETDEVS_MAX) {
				over = true;
				break;
			}
			snprintf(p[n].name, sizeof(p[n].name), "%s", k->name);
			p[n++].ifindex = k->ifindex;
		}
	}
	qsort(p, n, sizeof(*p), by_name);
	memset(out->name, 0, KK_NFT_NETDEVS_MAX * KK_NFT_IFNAME);
	for (i = 0; i < n; i++) {
		memcpy(out->name[i], p[i].name, KK_NFT_IFNAME);
		out->ifindex[i] = p[i].ifindex;
	}
	out->n = n;
	out->over = over || l->untracked;
	free(p);
	return 0;
}

bool
kd_netdevs_same(const struct kd_netdevs *a, const struct kd_netdevs *b)
{
	if (a->n != b->n)
		return false;
	if (a->n == 0)
		return true;
	return memcmp(a->name, b->name, a->n * KK_NFT_IFNAME) == 0 &&
	    memcmp(a->ifindex, b->ifindex, a->n * sizeof(*a->ifindex)) == 0;
}

bool
kd_netdevs_has(const struct kd_netdevs *a, const char *name)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		if (strncmp(a->name[i], name, KK_NFT_IFNAME) == 0)
			return true;
	return false;
}

void
kd_netdevs_free(struct kd_netdevs *a)
{
	free(a->name);
	free(a->ifindex);
	memset(a, 0, sizeof(*a));
}
