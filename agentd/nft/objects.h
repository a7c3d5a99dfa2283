/*
 * Inside agentd/nft/: the table's objects as rules.c (the rows of each
 * mode) and blockrules.c (the IOC block lists) make them (objects.c).
 */
#ifndef KK_NFT_OBJECTS_H
#define KK_NFT_OBJECTS_H

#include <stdbool.h>
#include <stdint.h>

#include "nft.h"

/* nft(8) datatype ids, so `nft list` prints the sets' types by name. */
#define NFT_TYPE_IPADDR		7
#define NFT_TYPE_IP6ADDR	8
#define NFT_TYPE_INET_SERVICE	13
#define NFT_TYPE_MARK		19	/* the drill gate's key: a constant */

/*
 * The base chains, as kk_nft_chain_names names them: the inet and bridge
 * tables' (KK_NFT_INET_CHAINS), then the netdev table's.
 */
enum { HOOK_IN, HOOK_OUT, HOOK_FWD, HOOK_INGRESS, HOOK_EGRESS,
    HOOK_INGRESS_IP, HOOK_EGRESS_IP };
extern const char *const kk_nft_chain_names[KK_NFT_MAX_CHAINS];

/* A rule of o's table on hook with its comment, or NULL and *err. */
struct nftnl_rule *kk_nft_rule_new(const struct kk_nft_objects *o, int hook,
    const char *comment, int *err);
/* r in o, once its expressions went in (err 0), or freed. */
int kk_nft_rule_done(struct kk_nft_objects *o, struct nftnl_rule *r, int err);
/* An empty set of o's table, appended to o->sets. */
int kk_nft_set_new(struct kk_nft_objects *o, const char *name, uint32_t type,
    uint32_t keylen, uint32_t id, uint32_t flags, struct nftnl_set **sp);
int kk_nft_elem_add(struct nftnl_set *s, const void *key, uint32_t len);

/* blockrules.c: the block lists' sets, counters and rules */
int kk_nft_add_ipsets(struct kk_nft_objects *o, const struct kk_nft_spec *spec);
int kk_nft_add_counters(struct kk_nft_objects *o,
    const struct kk_nft_spec *spec);
/* whether spec has block lists whose rules go in */
bool kk_nft_blocks(const struct kk_nft_spec *spec);
int kk_nft_block_rules(struct kk_nft_objects *o, int hook,
    const struct kk_nft_spec *spec);

#endif
