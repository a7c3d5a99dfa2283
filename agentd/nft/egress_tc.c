/*
 * tc on the egress side of an interface.  See egress_tc.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/bpf.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include "egress_tc.h"
#include "nlreq.h"

/* enum bpf_attach_type of Linux 6.6, which Debian 12's headers lack */
#define KK_BPF_TCX_EGRESS	47

bool
kk_tc_parent_egress(uint32_t parent)
{
	/*
	 * the ingress qdisc (ffff:, or its parent ffff:fff1) and clsact's
	 * ingress (ffff:fff2); anything else may be on the way out
	 */
	return parent != TC_H_MAJ(TC_H_INGRESS) && parent != TC_H_INGRESS &&
	    parent != TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS);
}

int
kk_tc_filter_parse(const struct nlmsghdr *nlh, struct kk_tc_filter *f)
{
	const struct nlattr *tb[TCA_MAX + 1] = { 0 };
	const struct tcmsg *t = mnl_nlmsg_get_payload(nlh);

	memset(f, 0, sizeof(*f));
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*t) ||
	    kk_nl_parse(nlh, sizeof(*t), tb, TCA_MAX) < 0)
		return -EBADMSG;
	if (tb[TCA_KIND] &&
	    mnl_attr_validate(tb[TCA_KIND], MNL_TYPE_NUL_STRING) == 0)
		snprintf(f->kind, sizeof(f->kind), "%s",
		    mnl_attr_get_str(tb[TCA_KIND]));
	/* a shared block: whichever devices it is bound to, either side */
	if ((uint32_t)t->tcm_ifindex == TCM_IFINDEX_MAGIC_BLOCK) {
		f->block = t->tcm_parent;
		return 1;
	}
	if (t->tcm_ifindex <= 0)
		return -EBADMSG;
	f->ifindex = t->tcm_ifindex;
	f->parent = t->tcm_parent;
	return kk_tc_parent_egress(t->tcm_parent) ? 1 : 0;
}

static int
count_cb(const struct nlmsghdr *nlh, void *data)
{
	unsigned *n = data;

	if (nlh->nlmsg_type == RTM_NEWTFILTER)
		(*n)++;
	return MNL_CB_OK;
}

/* How many filters (and their classifiers' headers) the dump of parent lists. */
static int
filters_at(struct mnl_socket *nl, uint32_t *seq, int ifindex,
    uint32_t parent, unsigned *n)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct tcmsg *t;
	struct nlmsghdr *nlh = kk_nl_put_request(buf, RTM_GETTFILTER,
	    NLM_F_DUMP, ++*seq, sizeof(*t), (void **)&t);

	t->tcm_family = AF_UNSPEC;
	t->tcm_ifindex = ifindex;
	t->tcm_parent = parent;
	return kk_nl_request(nl, nlh, count_cb, n);
}

/* tcx egress programs on ifindex: their number, or a negative errno. */
static long
tcx_count(int ifindex)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.query.target_fd = (uint32_t)ifindex;	/* target_ifindex, since 6.6 */
	a.query.attach_type = KK_BPF_TCX_EGRESS;
	if (syscall(SYS_bpf, BPF_PROG_QUERY, &a, sizeof(a)) < 0)
		return -errno;
	return a.query.prog_cnt;
}

int
kk_tc_egress_busy(struct mnl_socket *nl, uint32_t *seq, int ifindex,
    enum kk_tcx *tcx, bool *busy)
{
	unsigned n = 0;
	long progs;
	int err;

	*busy = false;
	if ((err = filters_at(nl, seq, ifindex,
	    TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS), &n)) < 0 ||
	    (err = filters_at(nl, seq, ifindex, TC_H_UNSPEC, &n)) < 0)
		return err;
	if (*tcx != KK_TCX_ABSENT) {
		progs = tcx_count(ifindex);
		/* EINVAL: an attach type this kernel does not know */
		if (progs == -EINVAL && *tcx == KK_TCX_UNKNOWN)
			*tcx = KK_TCX_ABSENT;
		else if (progs < 0)
			return (int)progs;
		else {
			*tcx = KK_TCX_WORKS;
			n += (unsigned)progs;
		}
	}
	*busy = n > 0;
	return 0;
}
