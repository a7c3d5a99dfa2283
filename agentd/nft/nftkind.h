/*
 * libnftnl's four object types (table, chain, set, rule) by what they
 * share: allocation, parsing a reply, building a request, the attributes
 * of family, table and name, and the text form.  libnftnl has the same
 * calls for each type, differing only in the type they name; code that
 * reads the ruleset over netlink (readback.c, evidence collection) picks
 * a row of kk_nft_kinds instead of writing one callback per type.
 *
 * A table in a header, not a .c file, so that the evidence programs need
 * not link the nftables module.  The calls are kept through void pointers:
 * libnftnl's objects are opaque and only ever passed back to it, and the
 * casts are all in KK_NFT_KIND below.
 */
#ifndef KK_NFTKIND_H
#define KK_NFTKIND_H

#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

enum kk_nft_kind_id { KK_NFT_TABLE, KK_NFT_CHAIN, KK_NFT_SET, KK_NFT_RULE };

struct kk_nft_kind {
	const char *what;		/* "table", "chain", "set", "rule" */
	uint16_t get;			/* NFT_MSG_GET...: the request that lists it */
	void *(*alloc)(void);
	void (*free)(const void *obj);
	int (*parse)(const struct nlmsghdr *nlh, void *obj);
	void (*build)(struct nlmsghdr *nlh, void *obj);
	int (*set_str)(void *obj, uint16_t attr, const char *str);
	uint32_t (*get_u32)(const void *obj, uint16_t attr);
	const char *(*get_str)(const void *obj, uint16_t attr);
	int (*snprintf)(char *buf, size_t size, const void *obj, uint32_t type,
	    uint32_t flags);
	uint16_t family;		/* attribute: its family */
	uint16_t table;			/* its table's name (a table's own) */
	int name;			/* its name, or -1: rules have none */
};

#define KK_NFT_KIND(type, TYPE, table_attr, name_attr) {		\
	.what = #type,							\
	.get = NFT_MSG_GET##TYPE,					\
	.alloc = (void *(*)(void))nftnl_##type##_alloc,			\
	.free = (void (*)(const void *))nftnl_##type##_free,		\
	.parse = (int (*)(const struct nlmsghdr *, void *))		\
	    nftnl_##type##_nlmsg_parse,					\
	.build = (void (*)(struct nlmsghdr *, void *))			\
	    nftnl_##type##_nlmsg_build_payload,				\
	.set_str = (int (*)(void *, uint16_t, const char *))		\
	    nftnl_##type##_set_str,					\
	.get_u32 = (uint32_t (*)(const void *, uint16_t))		\
	    nftnl_##type##_get_u32,					\
	.get_str = (const char *(*)(const void *, uint16_t))		\
	    nftnl_##type##_get_str,					\
	.snprintf = (int (*)(char *, size_t, const void *, uint32_t,	\
	    uint32_t))nftnl_##type##_snprintf,				\
	.family = NFTNL_##TYPE##_FAMILY,				\
	.table = (table_attr),						\
	.name = (name_attr),						\
}

static const struct kk_nft_kind kk_nft_kinds[] = {
	[KK_NFT_TABLE] = KK_NFT_KIND(table, TABLE, NFTNL_TABLE_NAME,
	    NFTNL_TABLE_NAME),
	[KK_NFT_CHAIN] = KK_NFT_KIND(chain, CHAIN, NFTNL_CHAIN_TABLE,
	    NFTNL_CHAIN_NAME),
	[KK_NFT_SET] = KK_NFT_KIND(set, SET, NFTNL_SET_TABLE, NFTNL_SET_NAME),
	[KK_NFT_RULE] = KK_NFT_KIND(rule, RULE, NFTNL_RULE_TABLE, -1),
};

#undef KK_NFT_KIND

#endif
