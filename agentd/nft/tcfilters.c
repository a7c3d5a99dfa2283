/*
 * tc on an interface.  See tcfilters.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/bpf.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include "nlreq.h"
#include "tcfilters.h"

/* enum bpf_attach_type of Linux 6.6, which Debian 12's headers lack */
#define KK_BPF_TCX_INGRESS	46
#define KK_BPF_TCX_EGRESS	47

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
	/* a shared block: whichever devices it is bound to */
	if ((uint32_t)t->tcm_ifindex == TCM_IFINDEX_MAGIC_BLOCK) {
		f->block = t->tcm_parent;
		return 0;
	}
	if (t->tcm_ifindex <= 0)
		return -EBADMSG;
	f->ifindex = t->tcm_ifindex;
	return 0;
}

void
kk_tc_qdiscs_add(struct kk_tc_qdiscs *qs, const struct nlmsghdr *nlh)
{
	const struct tcmsg *t = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type != RTM_NEWQDISC ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(*t) || t->tcm_ifindex <= 0)
		return;
	if (qs->n >= KK_TC_QDISCS_MAX) {
		qs->over = true;
		return;
	}
	qs->q[qs->n].ifindex = t->tcm_ifindex;
	qs->q[qs->n].handle = t->tcm_handle;
	qs->n++;
}

static void
parent_add(uint32_t *parent, unsigned max, unsigned *n, uint32_t p)
{
	unsigned i;

	for (i = 0; i < *n; i++)
		if (parent[i] == p)
			return;
	if (*n < max)
		parent[(*n)++] = p;
	else
		*n = max + 1;	/* the caller sees there were more */
}

unsigned
kk_tc_parents(const struct kk_tc_qdiscs *qs, int ifindex, uint32_t *parent,
    unsigned max, bool *classful)
{
	unsigned n = 0;
	size_t i;

	*classful = false;
	parent_add(parent, max, &n, TC_H_UNSPEC);	/* the root qdisc */
	for (i = 0; i < qs->n; i++) {
		uint32_t h = qs->q[i].handle;

		if (qs->q[i].ifindex != ifindex || h == 0)
			continue;
		if (TC_H_MAJ(h) == TC_H_MAJ(TC_H_INGRESS)) {
			/* the ingress qdisc, or clsact and its two sides */
			parent_add(parent, max, &n, h);
			parent_add(parent, max, &n,
			    TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS));
			parent_add(parent, max, &n,
			    TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS));
		} else {
			parent_add(parent, max, &n, TC_H_MAJ(h));
			*classful = true;
		}
	}
	return n;
}

struct reply_ctx {
	struct kk_tc_qdiscs *qs;	/* a qdisc dump */
	uint32_t *parent;		/* a class dump */
	unsigned n, max;
};

static int
qdisc_cb(const struct nlmsghdr *nlh, void *data)
{
	kk_tc_qdiscs_add(data, nlh);
	return MNL_CB_OK;
}

int
kk_tc_qdiscs_read(struct mnl_socket *nl, uint32_t *seq,
    struct kk_tc_qdiscs *qs)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct tcmsg *t;
	struct nlmsghdr *nlh;
	int err;

	memset(qs, 0, sizeof(*qs));
	if ((qs->q = calloc(KK_TC_QDISCS_MAX, sizeof(*qs->q))) == NULL)
		return -ENOMEM;
	nlh = kk_nl_put_request(buf, RTM_GETQDISC, NLM_F_DUMP, ++*seq,
	    sizeof(*t), (void **)&t);
	t->tcm_family = AF_UNSPEC;
	if ((err = kk_nl_request(nl, nlh, qdisc_cb, qs)) < 0)
		kk_tc_qdiscs_free(qs);
	return err;
}

void
kk_tc_qdiscs_free(struct kk_tc_qdiscs *qs)
{
	free(qs->q);
	memset(qs, 0, sizeof(*qs));
}

static int
class_cb(const struct nlmsghdr *nlh, void *data)
{
	struct reply_ctx *c = data;
	const struct tcmsg *t = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type == RTM_NEWTCLASS &&
	    mnl_nlmsg_get_payload_len(nlh) >= sizeof(*t) && t->tcm_handle)
		parent_add(c->parent, c->max, &c->n, t->tcm_handle);
	return MNL_CB_OK;
}

static int
count_cb(const struct nlmsghdr *nlh, void *data)
{
	unsigned *n = data;

	if (nlh->nlmsg_type == RTM_NEWTFILTER)
		(*n)++;
	return MNL_CB_OK;
}

/* A dump of type for ifindex at parent into cb. */
static int
dump(struct mnl_socket *nl, uint32_t *seq, uint16_t type, int ifindex,
    uint32_t parent, mnl_cb_t cb, void *data)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct tcmsg *t;
	struct nlmsghdr *nlh = kk_nl_put_request(buf, type, NLM_F_DUMP,
	    ++*seq, sizeof(*t), (void **)&t);

	t->tcm_family = AF_UNSPEC;
	t->tcm_ifindex = ifindex;
	t->tcm_parent = parent;
	return kk_nl_request(nl, nlh, cb, data);
}

/* tcx programs on ifindex, attach type at: their number, or -errno. */
static long
tcx_count(int ifindex, uint32_t at)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.query.target_fd = (uint32_t)ifindex;	/* target_ifindex, since 6.6 */
	a.query.attach_type = at;
	if (syscall(SYS_bpf, BPF_PROG_QUERY, &a, sizeof(a)) < 0)
		return -errno;
	return a.query.prog_cnt;
}

/* tcx programs either way: *n grows, or a negative errno. */
static int
tcx_busy(int ifindex, enum kk_tcx *tcx, unsigned *n)
{
	static const uint32_t at[] = { KK_BPF_TCX_INGRESS, KK_BPF_TCX_EGRESS };
	long progs;
	size_t i;

	for (i = 0; *tcx != KK_TCX_ABSENT && i < 2; i++) {
		progs = tcx_count(ifindex, at[i]);
		/*
		 * EINVAL: attach types this kernel does not know; EPERM,
		 * ENOSYS: bpf(2) refused to kakurid (a unit's filter)
		 */
		if ((progs == -EINVAL || progs == -EPERM || progs == -ENOSYS) &&
		    *tcx == KK_TCX_UNKNOWN) {
			*tcx = KK_TCX_ABSENT;
			break;
		}
		if (progs < 0)
			return (int)progs;
		*tcx = KK_TCX_WORKS;
		*n += (unsigned)progs;
	}
	return 0;
}

int
kk_tc_busy(struct mnl_socket *nl, uint32_t *seq,
    const struct kk_tc_qdiscs *qs, int ifindex, enum kk_tcx *tcx, bool *busy)
{
	struct reply_ctx c = { .max = KK_TC_PARENTS_MAX };
	uint32_t parent[KK_TC_PARENTS_MAX];
	unsigned i, n = 0;
	bool classful;
	int err;

	*busy = false;
	c.parent = parent;
	c.n = kk_tc_parents(qs, ifindex, parent, c.max, &classful);
	/* the classes of a qdisc of its own (htb, prio...): filters sit there too */
	if (classful && c.n <= c.max &&
	    (err = dump(nl, seq, RTM_GETTCLASS, ifindex, 0, class_cb, &c)) < 0)
		return err;
	if (c.n > c.max || qs->over)
		return -E2BIG;
	for (i = 0; i < c.n && n == 0; i++)
		if ((err = dump(nl, seq, RTM_GETTFILTER, ifindex, parent[i],
		    count_cb, &n)) < 0)
			return err;
	if (n == 0 && (err = tcx_busy(ifindex, tcx, &n)) < 0)
		return err;
	*busy = n > 0;
	return 0;
}
