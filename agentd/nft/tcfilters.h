/*
 * tc on an interface: a way around every hook kakuri owns.
 *
 * The kernel runs a device's netfilter egress hook first and its tc
 * egress (filters of the clsact qdisc's egress, of the root qdisc, of its
 * classes and child qdiscs; tcx programs) after it, in __dev_queue_xmit().
 * What a tc filter or program then does to a frame (rewrite it, or
 * redirect it to another device) no table sees.  On the way in, tc
 * ingress runs before the netdev table's ingress chain, and the kernel
 * keeps the "skip egress" mark on a frame while tc ingress runs: a
 * redirect from there to another device's egress skips that device's
 * egress hook too.  With a filter on lo's egress or ingress that
 * redirects to the NIC, root sends a packet socket's frames out of an
 * isolated host unfiltered.  nftables cannot stop it; kakurid can say
 * so.  Filters come with rtnetlink events (RTNLGRP_TC); tcx programs come
 * with none, and are asked for (BPF_PROG_QUERY, Linux 6.6 on).  kakurid
 * cannot tell what a filter does, so every filter counts.
 */
#ifndef KK_TCFILTERS_H
#define KK_TCFILTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mnl_socket;
struct nlmsghdr;

#define KK_TC_KIND_MAX		16
#define KK_TC_QDISCS_MAX	8192	/* of the namespace, per look */
#define KK_TC_PARENTS_MAX	256	/* qdiscs and classes of one interface */

/* What one RTM_NEWTFILTER says. */
struct kk_tc_filter {
	int ifindex;		/* 0: a shared block's (block says which) */
	uint32_t block;
	char kind[KK_TC_KIND_MAX];	/* TCA_KIND: "u32", "bpf"... */
};

/* One RTM_NEWTFILTER, event or reply: 0 (f filled in) or -EBADMSG. */
int kk_tc_filter_parse(const struct nlmsghdr *nlh, struct kk_tc_filter *f);

/* The namespace's qdiscs, from one dump (RTM_GETQDISC lists them all). */
struct kk_tc_qdisc {
	int ifindex;
	uint32_t handle;
};
struct kk_tc_qdiscs {
	struct kk_tc_qdisc *q;
	size_t n;
	bool over;		/* more than KK_TC_QDISCS_MAX */
};

int kk_tc_qdiscs_read(struct mnl_socket *nl, uint32_t *seq,
    struct kk_tc_qdiscs *qs);
void kk_tc_qdiscs_free(struct kk_tc_qdiscs *qs);

/*
 * The socket-free half, for the unit tests: one RTM_NEWQDISC into qs
 * (allocated by the caller, KK_TC_QDISCS_MAX entries); and where filters
 * of ifindex can sit, given its qdiscs: the root (0), each qdisc of its
 * own handle, the ingress qdisc and clsact's two sides.  Returns how many
 * went into parent (at most max); *classful when a qdisc of its own
 * handle may have classes to ask for.
 */
void kk_tc_qdiscs_add(struct kk_tc_qdiscs *qs, const struct nlmsghdr *nlh);
unsigned kk_tc_parents(const struct kk_tc_qdiscs *qs, int ifindex,
    uint32_t *parent, unsigned max, bool *classful);

/* The tcx query: unknown until asked, then works or not (older kernel). */
enum kk_tcx {
	KK_TCX_UNKNOWN,
	KK_TCX_WORKS,
	KK_TCX_ABSENT,
};

/*
 * Is anything of tc on ifindex: a filter wherever one can sit (its
 * classes asked for on nl), or a tcx program either way?  *tcx is updated
 * when the kernel says it has no tcx.  0 and *busy, or a negative errno
 * (nothing is known then; -E2BIG: more qdiscs and classes than looked at).
 */
int kk_tc_busy(struct mnl_socket *nl, uint32_t *seq,
    const struct kk_tc_qdiscs *qs, int ifindex, enum kk_tcx *tcx, bool *busy);

#endif
