/*
 * The counted drops of kakurid's tables and the names of what a table
 * holds, read from the kernel with the read-back of readback.c: what
 * status, the blocked reports and a change in place (nft.c) ask for.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>

#include "nft.h"
#include "nftkind.h"
#include "nlreq.h"
#include "objects.h"
#include "readback.h"

/* The counted drops of one table, added to c per hook. */
static int
add_counters(struct kk_nft *n, int family, const char *name,
    struct kk_nft_counters *c)
{
	struct readback rb;
	size_t i, k;
	int err;

	err = kk_nft_read_back(n, family, name, &rb, NULL, false, false);
	if (err < 0)
		goto out;
	for (i = 0; i < rb.nrules; i++) {
		const char *chain = nftnl_rule_get_str(rb.rules[i],
		    NFTNL_RULE_CHAIN);
		struct nftnl_expr_iter *it;
		struct nftnl_expr *e;

		for (k = 0; k < KK_NFT_MAX_CHAINS; k++)
			if (strcmp(chain, kk_nft_chain_names[k]) == 0)
				break;
		if (k == KK_NFT_MAX_CHAINS)
			continue;
		it = nftnl_expr_iter_create(rb.rules[i]);
		if (it == NULL) {
			err = -ENOMEM;
			goto out;
		}
		while ((e = nftnl_expr_iter_next(it)) != NULL) {
			if (strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME),
			    "counter") != 0)
				continue;
			c->pkts[k] += nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS);
			c->bytes[k] += nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_BYTES);
		}
		nftnl_expr_iter_destroy(it);
	}
out:
	kk_nft_readback_free(&rb);
	return err;
}

int
kk_nft_counters(struct kk_nft *n, const char *name, struct kk_nft_counters *c)
{
	int i, err = 0;

	memset(c, 0, sizeof(*c));
	for (i = 0; err == 0 && i < KK_NFT_FAMILIES; i++)
		err = add_counters(n, kk_nft_families[i], name, c);
	return err;
}

/* The named counters of a table, as a GETOBJ dump hands them over. */
struct counters_dump {
	const char *table;
	struct kk_nft_block_count *c;	/* by name: their values */
	size_t nc;
	struct kk_nft_names *names;	/* or their names */
	bool overflow;
};

static int
counter_cb(const struct nlmsghdr *nlh, void *data)
{
	struct counters_dump *cd = data;
	struct nftnl_obj *obj = nftnl_obj_alloc();
	char want[KK_NFT_NAME_MAX + 8];
	const char *name;
	size_t i;

	if (obj == NULL)
		return MNL_CB_ERROR;
	if (nftnl_obj_nlmsg_parse(nlh, obj) < 0 ||
	    nftnl_obj_get_u32(obj, NFTNL_OBJ_TYPE) != NFT_OBJECT_COUNTER ||
	    strcmp(nftnl_obj_get_str(obj, NFTNL_OBJ_TABLE), cd->table) != 0)
		goto out;
	name = nftnl_obj_get_str(obj, NFTNL_OBJ_NAME);
	for (i = 0; i < cd->nc; i++) {
		snprintf(want, sizeof(want), "%s" KK_NFT_DROPS_SUFFIX,
		    cd->c[i].list);
		if (strcmp(want, name) != 0)
			continue;
		cd->c[i].pkts = nftnl_obj_get_u64(obj, NFTNL_OBJ_CTR_PKTS);
		cd->c[i].bytes = nftnl_obj_get_u64(obj, NFTNL_OBJ_CTR_BYTES);
	}
	if (cd->names != NULL && cd->names->ncounters <
	    nitems(cd->names->counters))
		snprintf(cd->names->counters[cd->names->ncounters++],
		    KK_NFT_NAME_MAX, "%s", name);
	else if (cd->names != NULL)
		cd->overflow = true;
out:
	nftnl_obj_free(obj);
	return MNL_CB_OK;
}

static int
read_counters(struct kk_nft *n, int family, struct counters_dump *cd)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_obj *q = nftnl_obj_alloc();
	struct nlmsghdr *nlh;

	if (q == NULL)
		return -ENOMEM;
	nftnl_obj_set_str(q, NFTNL_OBJ_TABLE, cd->table);
	nftnl_obj_set_u32(q, NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETOBJ, (uint16_t)family,
	    NLM_F_DUMP, ++n->seq);
	nftnl_obj_nlmsg_build_payload(nlh, q);
	nftnl_obj_free(q);
	return kk_nl_request(n->nl, nlh, counter_cb, cd);
}

int
kk_nft_block_counters(struct kk_nft *n, const char *name,
    struct kk_nft_block_count *c, size_t nc)
{
	struct counters_dump cd = { .table = name, .c = c, .nc = nc };
	size_t i;

	for (i = 0; i < nc; i++)
		c[i].pkts = c[i].bytes = 0;
	return read_counters(n, NFPROTO_INET, &cd);
}

int
kk_nft_table_names(struct kk_nft *n, int family, const char *name,
    struct kk_nft_names *out)
{
	struct counters_dump cd = { 0 };
	struct readback rb;
	size_t i;
	int err;

	memset(out, 0, sizeof(*out));
	err = kk_nft_read_back(n, family, name, &rb, NULL, false, false);
	if (err == 0 && rb.table == NULL)
		err = -ENOENT;
	if (err == 0)
		err = kk_nft_read_objects(n, &rb, KK_NFT_SET, NULL);
	if (err == 0 && (rb.overflow || rb.nchains > nitems(out->chains) ||
	    rb.nsets > nitems(out->sets)))
		err = -E2BIG;
	if (err < 0)
		goto out;
	cd.table = name;
	cd.names = out;
	if ((err = read_counters(n, family, &cd)) < 0 || cd.overflow) {
		err = err < 0 ? err : -E2BIG;
		goto out;
	}
	kk_nft_table_comment(rb.table, out->comment, sizeof(out->comment));
	for (i = 0; i < rb.nchains; i++)
		snprintf(out->chains[out->nchains++], KK_NFT_NAME_MAX, "%s",
		    nftnl_chain_get_str(rb.chains[i], NFTNL_CHAIN_NAME));
	for (i = 0; i < rb.nsets; i++)
		snprintf(out->sets[out->nsets++], KK_NFT_NAME_MAX, "%s",
		    nftnl_set_get_str(rb.sets[i].s, NFTNL_SET_NAME));
out:
	kk_nft_readback_free(&rb);
	return err;
}
