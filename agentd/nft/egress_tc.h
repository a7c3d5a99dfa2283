/*
 * tc on the egress side of an interface: past every hook kakuri owns.
 *
 * The kernel runs a device's netfilter egress hook first and its tc
 * egress (filters of the clsact qdisc's egress or of the root qdisc, tcx
 * programs) after it, in __dev_queue_xmit().  What a tc filter or
 * program then does to a frame (rewrite it, or redirect it to another
 * device, whose egress hook a redirect from there skips) no table sees:
 * with a filter on lo's egress that redirects to the NIC, root sends a
 * packet socket's frames out of an isolated host unfiltered.  nftables
 * cannot stop it; kakurid can say so.  Filters come with rtnetlink
 * events (RTNLGRP_TC); tcx programs come with none, and are asked for
 * (BPF_PROG_QUERY, Linux 6.6 on).  Ingress filters are not counted: they
 * run before the netdev table's ingress chain, and a frame they redirect
 * to a device's egress meets that device's egress hook.
 */
#ifndef KK_EGRESS_TC_H
#define KK_EGRESS_TC_H

#include <stdbool.h>
#include <stdint.h>

struct mnl_socket;
struct nlmsghdr;

#define KK_TC_KIND_MAX	16

/* What one RTM_NEWTFILTER says. */
struct kk_tc_filter {
	int ifindex;		/* 0: a shared block's (block says which) */
	uint32_t block;
	uint32_t parent;
	char kind[KK_TC_KIND_MAX];	/* TCA_KIND: "u32", "bpf"... */
};

/* Does a filter at this parent run after the egress hook (not ingress)? */
bool kk_tc_parent_egress(uint32_t parent);
/*
 * One RTM_NEWTFILTER, event or reply: 1 when the filter is on the egress
 * side (f filled in), 0 when it is not (ingress), -EBADMSG.
 */
int kk_tc_filter_parse(const struct nlmsghdr *nlh, struct kk_tc_filter *f);

/* The tcx query: unknown until asked, then works or not (older kernel). */
enum kk_tcx {
	KK_TCX_UNKNOWN,
	KK_TCX_WORKS,
	KK_TCX_ABSENT,
};

/*
 * Is anything of tc on ifindex's egress side: a filter of the clsact
 * qdisc's egress or of the root qdisc (dumped on nl, of rtnetlink), or a
 * tcx egress program?  *tcx is updated when the kernel says it has no
 * tcx.  0 and *busy, or a negative errno (nothing is known then).
 * Filters attached to classes of a classful qdisc are not dumped here:
 * only their events say so.
 */
int kk_tc_egress_busy(struct mnl_socket *nl, uint32_t *seq, int ifindex,
    enum kk_tcx *tcx, bool *busy);

#endif
