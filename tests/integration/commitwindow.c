/*
 * commitwindow.so: another process's nftables commit inside kakurid's own
 * batch (LD_PRELOAD into kakurid).  While kakurid commits a batch its
 * tamper monitor is out of the nftables event group (agentd/nft/send.c).
 * When it leaves the group (setsockopt NETLINK_DROP_MEMBERSHIP of
 * NFNLGRP_NFTABLES) and the file named by $COMMITWINDOW exists, the file
 * is removed and table ip kk_window is committed on a netlink socket of
 * this library's own, before kakurid's batch is sent: the monitor gets no
 * event of it.  t-tamper-window asks for one such commit and checks that
 * kakurid tells it all the same.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnftnl/common.h>
#include <libnftnl/table.h>

#define WINDOW_TABLE	"kk_window"

/* the table, as its own batch; one ack read (the kernel sends it at once) */
static void
commit_table(void)
{
	static char buf[8192];
	struct mnl_nlmsg_batch *batch;
	struct nftnl_table *t;
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	uint32_t seq = (uint32_t)time(NULL);

	if ((nl = mnl_socket_open(NETLINK_NETFILTER)) == NULL)
		return;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    (t = nftnl_table_alloc()) == NULL) {
		mnl_socket_close(nl);
		return;
	}
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, WINDOW_TABLE);
	batch = mnl_nlmsg_batch_start(buf, sizeof(buf));
	nftnl_batch_begin(mnl_nlmsg_batch_current(batch), seq++);
	mnl_nlmsg_batch_next(batch);
	nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(batch),
	    NFT_MSG_NEWTABLE, NFPROTO_IPV4, NLM_F_CREATE | NLM_F_ACK, seq++);
	nftnl_table_nlmsg_build_payload(nlh, t);
	mnl_nlmsg_batch_next(batch);
	nftnl_batch_end(mnl_nlmsg_batch_current(batch), seq++);
	mnl_nlmsg_batch_next(batch);
	if (mnl_socket_sendto(nl, mnl_nlmsg_batch_head(batch),
	    mnl_nlmsg_batch_size(batch)) >= 0)
		(void)mnl_socket_recvfrom(nl, buf, sizeof(buf));
	mnl_nlmsg_batch_stop(batch);
	nftnl_table_free(t);
	mnl_socket_close(nl);
}

int
setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	static int (*real_setsockopt)(int, int, int, const void *, socklen_t);
	const char *window = getenv("COMMITWINDOW");
	int r;

	if (real_setsockopt == NULL && (real_setsockopt = (int (*)(int, int,
	    int, const void *, socklen_t))dlsym(RTLD_NEXT, "setsockopt")) ==
	    NULL)
		abort();
	r = real_setsockopt(fd, level, name, val, len);
	if (r == 0 && level == SOL_NETLINK && name == NETLINK_DROP_MEMBERSHIP &&
	    len == sizeof(int) && *(const int *)val == NFNLGRP_NFTABLES &&
	    window != NULL && unlink(window) == 0)
		commit_table();
	return r;
}
