/*
 * The IOC block lists in kakurid's inet table (issue 12), in every mode:
 * their interval sets and port sets, a named counter per list, and per
 * hook a rate-limited NFLOG rule before the counted drop.  Pure.
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

#include "expr.h"
#include "nft.h"
#include "objects.h"

/*
 * The interval sets of the inet table (IOC block lists), in every mode:
 * declared here, their elements put in by build.c from the ranges.
 */
#define IPSET_ID_BASE	KK_NFT_VERSIONED_ID	/* set ids above the rows' own */
#define PORTSET_ID_BASE	200	/* a block list's ports, per interval set */
#define NFLOG_SNAPLEN	128	/* the headers a "blocked" report needs */

/* The ports of a block list's interval set i, as a set of its own. */
static int
add_block_ports(struct kk_nft_objects *o, const struct kk_nft_ipset *ip,
    size_t i)
{
	struct nftnl_set *s;
	uint16_t be;
	size_t k;
	int err;

	if (ip->nports > KK_NFT_MAX_BLOCK_PORTS)
		return -E2BIG;
	if (ip->ports_name[0] == '\0' || strcmp(ip->ports_name, ip->name) == 0)
		return -EINVAL;
	if ((err = kk_nft_set_new(o, ip->ports_name, NFT_TYPE_INET_SERVICE, 2,
	    (uint32_t)(PORTSET_ID_BASE + i), 0, &s)) < 0)
		return err;
	for (k = 0; err == 0 && k < ip->nports; k++) {
		be = htons(ip->ports[k]);
		err = kk_nft_elem_add(s, &be, sizeof(be));
	}
	return err;
}

/*
 * A drill's table has none: no rule of it looks them up, kakurid's own
 * table keeps enforcing them, and a copy would double their kernel
 * memory and lengthen the drill's commit and readback (its
 * time-to-isolate).
 */
int
kk_nft_add_ipsets(struct kk_nft_objects *o, const struct kk_nft_spec *spec)
{
	const struct kk_nft_ipset *ip;
	struct nftnl_set *s;
	size_t i, k;
	int err;

	for (i = 0; !spec->drill && i < spec->nipsets; i++) {
		ip = &spec->ipsets[i];
		if (i >= KK_NFT_MAX_IPSETS || o->nsets >= KK_NFT_MAX_SETS)
			return -E2BIG;
		if (ip->name[0] == '\0' || ip->ranges == NULL ||
		    !ip->ranges->sealed ||
		    (ip->block != 0 && (ip->list == NULL || ip->nports >
		    KK_NFT_MAX_BLOCK_PORTS)))
			return -EINVAL;
		for (k = 0; k < o->nsets; k++)
			if (strcmp(nftnl_set_get_str(o->sets[k], NFTNL_SET_NAME),
			    ip->name) == 0)
				return -EEXIST;
		if ((err = kk_nft_set_new(o, ip->name, ip->ranges->af == AF_INET ?
		    NFT_TYPE_IPADDR : NFT_TYPE_IP6ADDR, ip->ranges->keylen,
		    (uint32_t)(IPSET_ID_BASE + i), NFT_SET_INTERVAL, &s)) < 0)
			return err;
		o->ranges[o->nsets - 1] = ip->ranges;
		if (ip->block != 0 && ip->nports > 0 &&
		    (err = add_block_ports(o, ip, i)) < 0)
			return err;
	}
	return 0;
}

/*
 * A block list's named counter (LIST_drops), once per list: its drops on
 * every hook and family, kept across its versions by a change in place.
 */
int
kk_nft_add_counters(struct kk_nft_objects *o, const struct kk_nft_spec *spec)
{
	char name[KK_NFT_NAME_MAX + 8];
	struct nftnl_obj *c;
	size_t i, k;

	for (i = 0; !spec->drill && i < spec->nipsets; i++) {
		if (spec->ipsets[i].block == 0)
			continue;
		snprintf(name, sizeof(name), "%s" KK_NFT_DROPS_SUFFIX,
		    spec->ipsets[i].list);
		if (strlen(name) >= KK_NFT_NAME_MAX)
			return -ENAMETOOLONG;
		for (k = 0; k < o->nobjs; k++)
			if (strcmp(nftnl_obj_get_str(o->objs[k], NFTNL_OBJ_NAME),
			    name) == 0)
				break;
		if (k < o->nobjs)
			continue;
		if (o->nobjs >= KK_NFT_MAX_IPSETS)
			return -E2BIG;
		if ((c = nftnl_obj_alloc()) == NULL)
			return -ENOMEM;
		nftnl_obj_set_str(c, NFTNL_OBJ_TABLE,
		    nftnl_table_get_str(o->table, NFTNL_TABLE_NAME));
		nftnl_obj_set_str(c, NFTNL_OBJ_NAME, name);
		nftnl_obj_set_u32(c, NFTNL_OBJ_FAMILY, (uint32_t)o->family);
		nftnl_obj_set_u32(c, NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
		o->objs[o->nobjs++] = c;
	}
	return 0;
}

/* Whether spec has block rules (a drill's table has none: it is not kakurid's own). */
bool
kk_nft_blocks(const struct kk_nft_spec *spec)
{
	size_t i;

	for (i = 0; !spec->drill && i < spec->nipsets; i++)
		if (spec->ipsets[i].block != 0)
			return true;
	return false;
}

/*
 * One rule of a block list's interval set i on hook: the packet's
 * address (destination going out, source coming in) in the set, with
 * ports TCP or UDP (l4) to or from one of them; then either a limited
 * copy to NFLOG, or the counted drop.
 */
static int
compile_block(struct kk_nft_objects *o, int hook, bool dst, int l4,
    bool log, size_t i, const struct kk_nft_spec *spec)
{
	const struct kk_nft_ipset *ip = &spec->ipsets[i];
	const bool v6 = ip->ranges->af == AF_INET6;
	struct nftnl_rule *r;
	char comment[96], prefix[KK_NFT_NAME_MAX + 8];
	char counter[KK_NFT_NAME_MAX + 8];
	int n, err;

	snprintf(comment, sizeof(comment), "block %s v%u: %s %s%s%s, %s",
	    ip->list, ip->version, dst ? "to" : "from", v6 ? "IPv6" : "IPv4",
	    l4 == IPPROTO_TCP ? " tcp" : l4 == IPPROTO_UDP ? " udp" : "",
	    l4 ? (dst ? " dport" : " sport") : "", log ? "log" : "drop");
	/*
	 * The reader (nflog.c) must know which side is the listed host: a
	 * prefix cut short would lose the suffix that says so.
	 */
	n = snprintf(prefix, sizeof(prefix), "%s%s%s", KK_NFT_BLOCK_PREFIX,
	    ip->list, dst ? "" : KK_NFT_BLOCK_IN_SUFFIX);
	if (n < 0 || (size_t)n >= sizeof(prefix))
		return -ENAMETOOLONG;
	if ((r = kk_nft_rule_new(o, hook, comment, &err)) == NULL)
		return err;
	if ((err = kk_expr_meta8(r, NFT_META_NFPROTO, v6 ? NFPROTO_IPV6 :
	    NFPROTO_IPV4)) < 0 ||
	    (l4 && (err = kk_expr_meta8(r, NFT_META_L4PROTO,
	    (uint8_t)l4)) < 0) ||
	    (err = kk_expr_addr_in(r, &kk_expr_stack, v6, dst, ip->name,
	    (uint32_t)(IPSET_ID_BASE + i))) < 0 ||
	    (l4 && (err = kk_expr_port_in(r, &kk_expr_stack, dst ? 2 : 0,
	    ip->ports_name,
	    (uint32_t)(PORTSET_ID_BASE + i))) < 0))
		goto fail;
	if (log)
		err = kk_expr_limit(r, spec->log_rate, spec->log_unit);
	if (err == 0 && log)
		err = kk_expr_nflog(r, spec->log_group, prefix, NFLOG_SNAPLEN);
	snprintf(counter, sizeof(counter), "%s" KK_NFT_DROPS_SUFFIX, ip->list);
	if (err == 0 && !log && (err = kk_expr_counter_named(r,
	    counter)) == 0)
		err = kk_expr_verdict(r, NF_DROP);
fail:
	return kk_nft_rule_done(o, r, err);
}

/*
 * The block lists' rules on hook, before the mode's own: an IOC list
 * holds in every mode, and the log rule comes before the drop so that
 * the counter counts every packet however few are logged.
 */
int
kk_nft_block_rules(struct kk_nft_objects *o, int hook,
    const struct kk_nft_spec *spec)
{
	static const int any[] = { 0 }, tcp_udp[] = { IPPROTO_TCP,
		IPPROTO_UDP };
	const struct kk_nft_ipset *ip;
	const int *l4;
	size_t i, k, nl4;
	int dir, pass, err;

	for (i = 0; !spec->drill && i < spec->nipsets; i++) {
		ip = &spec->ipsets[i];
		l4 = ip->nports > 0 ? tcp_udp : any;
		nl4 = ip->nports > 0 ? 2 : 1;
		for (dir = 0; dir < 2; dir++) {
			/* dir 0: to the addresses (out), 1: from them (in) */
			if (!(ip->block & (dir == 0 ? KK_NFT_BLOCK_OUT :
			    KK_NFT_BLOCK_IN)) ||
			    hook == (dir == 0 ? HOOK_IN : HOOK_OUT))
				continue;
			for (pass = spec->log_rate > 0 ? 0 : 1; pass < 2; pass++)
				for (k = 0; k < nl4; k++)
					if ((err = compile_block(o, hook,
					    dir == 0, l4[k], pass == 0, i,
					    spec)) < 0)
						return err;
		}
	}
	return 0;
}
