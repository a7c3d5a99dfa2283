/*
 * The libnftnl objects of a table as rules.c and blockrules.c make them:
 * a rule with its comment, a set, an element.  Pure.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <libnftnl/chain.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "nft.h"
#include "objects.h"

static int
rule_set_comment(struct nftnl_rule *r, const char *comment)
{
	struct nftnl_udata_buf *u;

	u = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
	if (u == NULL)
		return -ENOMEM;
	if (!nftnl_udata_put_strz(u, NFTNL_UDATA_RULE_COMMENT, comment)) {
		nftnl_udata_buf_free(u);
		return -E2BIG;
	}
	nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(u),
	    nftnl_udata_buf_len(u));
	nftnl_udata_buf_free(u);
	return 0;
}

/* A rule of o's table on hook with its comment, or NULL and *err. */
struct nftnl_rule *
kk_nft_rule_new(const struct kk_nft_objects *o, int hook, const char *comment,
    int *err)
{
	struct nftnl_rule *r;

	*err = -E2BIG;
	if (o->nrules >= KK_NFT_MAX_RULES)
		return NULL;
	*err = -ENOMEM;
	if ((r = nftnl_rule_alloc()) == NULL)
		return NULL;
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE,
	    nftnl_table_get_str(o->table, NFTNL_TABLE_NAME));
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, kk_nft_chain_names[hook]);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, (uint32_t)o->family);
	if ((*err = rule_set_comment(r, comment)) < 0) {
		nftnl_rule_free(r);
		return NULL;
	}
	return r;
}

/* r in o, once its expressions went in (err 0), or freed. */
int
kk_nft_rule_done(struct kk_nft_objects *o, struct nftnl_rule *r, int err)
{
	if (err < 0) {
		nftnl_rule_free(r);
		return err;
	}
	o->rules[o->nrules++] = r;
	return 0;
}

int
kk_nft_elem_add(struct nftnl_set *s, const void *key, uint32_t len)
{
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();

	if (e == NULL)
		return -ENOMEM;
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, len);
	nftnl_set_elem_add(s, e);
	return 0;
}

/* An empty set of o's table, appended to o->sets. */
int
kk_nft_set_new(struct kk_nft_objects *o, const char *name, uint32_t type,
    uint32_t keylen, uint32_t id, uint32_t flags, struct nftnl_set **sp)
{
	struct nftnl_set *s;

	if (o->nsets >= KK_NFT_MAX_SETS)
		return -E2BIG;
	s = nftnl_set_alloc();
	if (s == NULL)
		return -ENOMEM;
	nftnl_set_set_str(s, NFTNL_SET_TABLE,
	    nftnl_table_get_str(o->table, NFTNL_TABLE_NAME));
	nftnl_set_set_str(s, NFTNL_SET_NAME, name);
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, (uint32_t)o->family);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, type);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, keylen);
	nftnl_set_set_u32(s, NFTNL_SET_ID, id);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, flags);
	o->sets[o->nsets++] = s;
	*sp = s;
	return 0;
}
