/*
 * commitwindow.so: another process's nftables commit inside kakurid's own
 * batch (LD_PRELOAD into kakurid).  While kakurid commits a batch its
 * tamper monitor is out of the nftables event group (agentd/nft/send.c).
 * The file named by $COMMITWINDOW asks for one commit, at one edge of
 * that window: "leave" when the monitor has left the group (setsockopt
 * NETLINK_DROP_MEMBERSHIP of NFNLGRP_NFTABLES), before kakurid's batch is
 * sent; "rejoin" when it is about to join again, after kakurid's batch
 * was committed.  The file is removed and table ip kk_window_leave or
 * kk_window_rejoin committed on a netlink socket of this library's own:
 * no event of it reaches the monitor.  t-tamper-window asks for both and
 * checks that kakurid tells them all the same.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnftnl/common.h>
#include <libnftnl/table.h>

/* the table, as its own batch; one ack read (the kernel sends it at once) */
static void
commit_table(const char *name)
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
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
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

/* whether $COMMITWINDOW asks for a commit where; it is taken if so */
static int
asked(const char *where)
{
	const char *window = getenv("COMMITWINDOW");
	char buf[16] = "";
	ssize_t n;
	int fd;

	if (window == NULL || (fd = open(window, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[strcspn(buf, "\n")] = '\0';
	return strcmp(buf, where) == 0 && unlink(window) == 0;
}

int
setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	static int (*real_setsockopt)(int, int, int, const void *, socklen_t);
	int ours, r;

	if (real_setsockopt == NULL && (real_setsockopt = (int (*)(int, int,
	    int, const void *, socklen_t))dlsym(RTLD_NEXT, "setsockopt")) ==
	    NULL)
		abort();
	ours = level == SOL_NETLINK && len == sizeof(int) &&
	    *(const int *)val == NFNLGRP_NFTABLES;
	if (ours && name == NETLINK_ADD_MEMBERSHIP && asked("rejoin"))
		commit_table("kk_window_rejoin");
	r = real_setsockopt(fd, level, name, val, len);
	if (ours && r == 0 && name == NETLINK_DROP_MEMBERSHIP && asked("leave"))
		commit_table("kk_window_leave");
	return r;
}
