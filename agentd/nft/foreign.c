/*
 * Chains of other tables that could undo the netdev table.  See foreign.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>

#include "foreign.h"
#include "nlreq.h"
#include "readback.h"

bool
kk_nft_chain_undoes(int family, uint32_t hook, int32_t prio)
{
	if ((family == NFPROTO_NETDEV && hook == NF_NETDEV_INGRESS) ||
	    (family == NFPROTO_INET && hook == NF_INET_INGRESS))
		return prio <= KK_NFT_INGRESS_PRIO;
	if (family == NFPROTO_NETDEV && hook == NF_NETDEV_EGRESS)
		return prio >= KK_NFT_EGRESS_PRIO;
	return false;
}

bool
kk_nft_dev_matches(const char *chain_dev, const char *dev)
{
	size_t n = strnlen(chain_dev, KK_NFT_IFNAME);

	/* Linux 6.16 and later hook every device whose name starts so */
	if (n > 0 && chain_dev[n - 1] == '*')
		return strncmp(chain_dev, dev, n - 1) == 0;
	return strncmp(chain_dev, dev, KK_NFT_IFNAME) == 0;
}

struct look {
	const char *own;
	bool (*hooked)(const char *dev, void *arg);
	void (*each)(const struct kk_foreign_chain *f, void *arg);
	void *arg;
	struct kk_foreign_chains *out;
};

/* The first of c's devices that a hooked device is, or NULL. */
static const char *
hooked_device(const struct nftnl_chain *c, const struct look *lk)
{
	const char *const *devs;
	const char *dev;
	size_t i;

	if (nftnl_chain_is_set(c, NFTNL_CHAIN_DEV) &&
	    (dev = nftnl_chain_get_str(c, NFTNL_CHAIN_DEV)) != NULL &&
	    lk->hooked(dev, lk->arg))
		return dev;
	if (!nftnl_chain_is_set(c, NFTNL_CHAIN_DEVICES) ||
	    (devs = nftnl_chain_get(c, NFTNL_CHAIN_DEVICES)) == NULL)
		return NULL;
	/* the kernel lists at most 256 devices a chain */
	for (i = 0; i < 256 && devs[i] != NULL; i++)
		if (lk->hooked(devs[i], lk->arg))
			return devs[i];
	return NULL;
}

static int
chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct look *lk = data;
	struct kk_foreign_chain one, *f = &one;
	struct nftnl_chain *c;
	const char *table, *name, *dev;
	int family, rc = MNL_CB_ERROR;

	if ((c = nftnl_chain_alloc()) == NULL ||
	    nftnl_chain_nlmsg_parse(nlh, c) < 0)
		goto out;
	rc = MNL_CB_OK;
	family = (int)nftnl_chain_get_u32(c, NFTNL_CHAIN_FAMILY);
	table = nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE);
	name = nftnl_chain_get_str(c, NFTNL_CHAIN_NAME);
	if (table == NULL || name == NULL ||
	    !nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM) ||
	    (family == NFPROTO_NETDEV && strcmp(table, lk->own) == 0) ||
	    !kk_nft_chain_undoes(family, nftnl_chain_get_u32(c,
	    NFTNL_CHAIN_HOOKNUM), nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO)) ||
	    (dev = hooked_device(c, lk)) == NULL)
		goto out;
	memset(f, 0, sizeof(*f));
	f->family = family;
	f->hook = nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM);
	f->prio = nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO);
	f->ingress = !(family == NFPROTO_NETDEV && f->hook == NF_NETDEV_EGRESS);
	f->handle = nftnl_chain_get_u64(c, NFTNL_CHAIN_HANDLE);
	snprintf(f->table, sizeof(f->table), "%s", table);
	snprintf(f->chain, sizeof(f->chain), "%s", name);
	snprintf(f->dev, sizeof(f->dev), "%s", dev);
	if (lk->out->n < KK_FOREIGN_SHOWN)
		lk->out->v[lk->out->n] = *f;
	lk->out->n++;
	if (lk->each != NULL)
		lk->each(f, lk->arg);
out:
	if (c != NULL)
		nftnl_chain_free(c);
	return rc;
}

int
kk_nft_foreign_chains(struct kk_nft *n, const char *own,
    bool (*hooked)(const char *dev, void *arg),
    void (*each)(const struct kk_foreign_chain *f, void *arg), void *arg,
    struct kk_foreign_chains *out)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct look lk = { own, hooked, each, arg, out };
	struct nlmsghdr *nlh;
	int err;

	memset(out, 0, sizeof(*out));
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN, NFPROTO_UNSPEC,
	    NLM_F_DUMP, ++n->seq);
	if ((err = kk_nl_request(n->nl, nlh, chain_cb, &lk)) < 0)
		return kk_nft_seterr(n, err, "listing the chains of other "
		    "tables: %s", strerror(-err));
	return 0;
}
