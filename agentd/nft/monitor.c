/*
 * The tamper monitor: a netlink socket in the nftables event group, for
 * other processes' commits (quarantine.c acts upon them).  Every NEWGEN
 * it reads, kakurid's own too, moves the generation up to which every
 * commit was seen (n->mon_gen): send.c counts from it what the monitor
 * missed while out of the group for a batch of kakurid's own.
 */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "nft.h"
#include "nlreq.h"
#include "readback.h"

int
kk_nft_monitor_open(struct kk_nft *n)
{
	int fd, flags;

	n->mon = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (n->mon == NULL)
		return kk_nft_seterr(n, -errno, "monitor socket: %s", strerror(errno));
	if (mnl_socket_bind(n->mon, 1 << (NFNLGRP_NFTABLES - 1),
	    MNL_SOCKET_AUTOPID) < 0 || kk_nl_kernel_only(n->mon) < 0) {
		int err = -errno;

		kk_nl_close(&n->mon);
		return kk_nft_seterr(n, err, "monitor bind: %s", strerror(-err));
	}
	fd = mnl_socket_get_fd(n->mon);
	flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	n->mon_portid = mnl_socket_get_portid(n->mon);
	/*
	 * In the group already: the events of every commit after this
	 * generation reach the monitor (send.c); without it, the monitor
	 * stays in the group for our batches until a NEWGEN gives one.
	 */
	n->mon_gen_ok = kk_nft_genid_kept(n, &n->mon_gen);
	return 0;
}

int
kk_nft_monitor_fd(const struct kk_nft *n)
{
	return n->mon ? mnl_socket_get_fd(n->mon) : -1;
}

struct event_ctx {
	struct kk_nft *n;
	struct kk_nft_event *ev;
};

static int
event_cb(const struct nlmsghdr *nlh, void *data)
{
	struct event_ctx *ctx = data;
	const struct nlattr *tb[8] = { 0 };
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
	uint16_t type = NFNL_MSG_TYPE(nlh->nlmsg_type);

	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES)
		return MNL_CB_OK;
	if (kk_nl_parse(nlh, sizeof(*g), tb,
	    sizeof(tb) / sizeof(tb[0]) - 1) < 0)
		return MNL_CB_OK;
	/*
	 * Every commit's, ours too: its NEWGEN is its last event, so all
	 * commits up to its generation have reached the monitor (send.c).
	 */
	if (type == NFT_MSG_NEWGEN && tb[NFTA_GEN_ID] &&
	    mnl_attr_validate(tb[NFTA_GEN_ID], MNL_TYPE_U32) == 0) {
		uint32_t gen = ntohl(mnl_attr_get_u32(tb[NFTA_GEN_ID]));

		/*
		 * Forward only: one read late (a drain cut short) is older
		 * than the generation a batch of ours set it to.
		 */
		if (!ctx->n->mon_gen_ok ||
		    (int32_t)(gen - ctx->n->mon_gen) > 0) {
			ctx->n->mon_gen = gen;
			ctx->n->mon_gen_ok = true;
		}
	}
	/* our own changes come from our socket's port id */
	if (nlh->nlmsg_pid == ctx->n->portid)
		return MNL_CB_OK;
	if (type == NFT_MSG_NEWGEN) {
		ctx->ev->foreign_commit = true;
		/* this commit's process, not a name left by an earlier one */
		ctx->ev->pid = 0;
		ctx->ev->comm[0] = '\0';
		if (tb[NFTA_GEN_PROC_PID] &&
		    mnl_attr_validate(tb[NFTA_GEN_PROC_PID], MNL_TYPE_U32) == 0)
			ctx->ev->pid = (pid_t)ntohl(mnl_attr_get_u32(
			    tb[NFTA_GEN_PROC_PID]));
		if (tb[NFTA_GEN_PROC_NAME] &&
		    mnl_attr_validate(tb[NFTA_GEN_PROC_NAME],
		    MNL_TYPE_NUL_STRING) == 0)
			snprintf(ctx->ev->comm, sizeof(ctx->ev->comm), "%s",
			    mnl_attr_get_str(tb[NFTA_GEN_PROC_NAME]));
		return MNL_CB_OK;
	}
	/*
	 * Attribute 1 is the table name in table, chain, rule, set, element,
	 * object and flowtable messages alike.
	 */
	if ((g->nfgen_family == NFPROTO_INET ||
	    g->nfgen_family == NFPROTO_BRIDGE ||
	    g->nfgen_family == NFPROTO_NETDEV) && tb[1] &&
	    mnl_attr_validate(tb[1], MNL_TYPE_NUL_STRING) == 0 &&
	    kk_nft_name_ours(mnl_attr_get_str(tb[1])))
		ctx->ev->touched = true;
	return MNL_CB_OK;
}

/* Read what the monitor holds into ev, adding to what ev says. */
int
kk_nft_monitor_read(struct kk_nft *n, struct kk_nft_event *ev)
{
	struct event_ctx ctx = { .n = n, .ev = ev };

	if (n->mon == NULL)
		return -EBADF;
	/* events lost (overrun): the caller re-verifies */
	return kk_nl_drain(n->mon, event_cb, &ctx, &ev->overrun);
}

int
kk_nft_monitor_drain(struct kk_nft *n, struct kk_nft_event *ev)
{
	/* what was read as the monitor left the group for a batch first */
	if (n->have_held)
		*ev = n->held;
	else
		memset(ev, 0, sizeof(*ev));
	memset(&n->held, 0, sizeof(n->held));
	n->have_held = false;
	return kk_nft_monitor_read(n, ev);
}
