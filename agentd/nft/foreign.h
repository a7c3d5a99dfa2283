/*
 * Chains of other tables that could undo the netdev table (foreign.c).
 *
 * The netdev table's chains run first on ingress and last on egress of
 * each device it hooks (KK_NFT_INGRESS_PRIO, KK_NFT_EGRESS_PRIO).  A base
 * chain of another table (root's, malware's) at the same extreme priority
 * on such a device may run before kakuri's ingress check, rewriting a
 * stranger's frame into one from the CSIRT peer, or after its egress
 * check, rewriting a frame kakuri let go to the peer into one for anybody.
 * Priority alone cannot keep it out (at equal priority the kernel runs
 * chains in the order they were registered, and kakuri's tables are put
 * in place again now and then): such chains are looked for, and reported.
 */
#ifndef KK_NFT_FOREIGN_H
#define KK_NFT_FOREIGN_H

#include <stdbool.h>
#include <stdint.h>

#include "nft.h"

#define KK_FOREIGN_SHOWN	8	/* chains kept to be named */

struct kk_foreign_chain {
	int family;
	uint32_t hook;
	int32_t prio;
	bool ingress;		/* before kakuri's ingress check; else after egress */
	uint64_t handle;
	char table[KK_NFT_NAME_MAX];
	char chain[KK_NFT_NAME_MAX];
	char dev[KK_NFT_IFNAME];	/* a hooked device it is on */
};

struct kk_foreign_chains {
	struct kk_foreign_chain v[KK_FOREIGN_SHOWN];
	size_t n;		/* all found; v holds the first KK_FOREIGN_SHOWN */
};

/*
 * Whether a base chain of another table at (family, hook, prio) runs where
 * it can undo the netdev table: an ingress hook (netdev, or inet's own)
 * at kakuri's ingress priority or before it, the netdev egress hook at
 * its egress priority or after it.
 */
bool kk_nft_chain_undoes(int family, uint32_t hook, int32_t prio);
/* Whether a chain's device (a name, or a prefix ending in '*') is dev. */
bool kk_nft_dev_matches(const char *chain_dev, const char *dev);
/*
 * The kernel's base chains that undo the netdev table named own on a
 * device hooked(dev, arg) says it hooks: each handed to each(chain, arg)
 * (if not NULL), the first KK_FOREIGN_SHOWN kept in *out.  0 or a
 * negative errno (n->err says it).
 */
int kk_nft_foreign_chains(struct kk_nft *n, const char *own,
    bool (*hooked)(const char *dev, void *arg),
    void (*each)(const struct kk_foreign_chain *f, void *arg), void *arg,
    struct kk_foreign_chains *out);

#endif
