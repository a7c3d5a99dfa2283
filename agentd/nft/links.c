/*
 * Follow the network namespace's interfaces: which ones left it, and how,
 * and which ones are of a kind the tables cannot cover.  See links.h.
 * Returns 0 or a negative errno; the caller logs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include "kakuri.h"
#include "links.h"
#include "nlreq.h"

/* What one RTM_NEWLINK / RTM_DELLINK says. */
struct parsed {
	int ifindex;
	const char *name;
	const char *kind;
	bool moved;
	int32_t nsid;
	unsigned short type;	/* ifi_type */
	int peer;		/* IFLA_LINK of a veth whose peer is in this namespace */
	int lower;		/* IFLA_LINK, whatever the kind */
	bool lower_elsewhere;	/* IFLA_LINK_NETNSID: it is in another namespace */
	bool xdp;		/* IFLA_XDP_ATTACHED is not XDP_ATTACHED_NONE */
};

struct cb_ctx {
	struct kk_links *l;
	kk_link_fn fn;
	void *data;
	bool dump;
};

/* dumps tried when interfaces change while the kernel lists them */
#define RESCAN_TRIES	3

static const char *const uncovered_kinds[] = {
	"macvlan", "macvtap", "ipvlan", "ipvtap", "openvswitch",
};

bool
kk_link_kind_uncovered(const char *kind)
{
	return kk_name_find(uncovered_kinds, sizeof(uncovered_kinds) /
	    sizeof(uncovered_kinds[0]), kind) >= 0;
}

static struct kk_link *
find(struct kk_links *l, int ifindex)
{
	size_t i;

	for (i = 0; i < l->nknown; i++)
		if (l->known[i].ifindex == ifindex)
			return &l->known[i];
	return NULL;
}

const struct kk_link *
kk_links_find(const struct kk_links *l, int ifindex)
{
	return find((struct kk_links *)l, ifindex);
}

static void
forget(struct kk_links *l, struct kk_link *k)
{
	*k = l->known[--l->nknown];
}

static void
report(struct cb_ctx *c, enum kk_link_how how, int ifindex, const char *name,
    const char *kind, int32_t nsid)
{
	struct kk_link_change ch = { .how = how, .ifindex = ifindex,
	    .nsid = nsid };

	snprintf(ch.name, sizeof(ch.name), "%s", name ? name : "?");
	snprintf(ch.kind, sizeof(ch.kind), "%s", kind ? kind : "");
	if (c->fn)
		c->fn(c->data, &ch);
}

/*
 * A followed interface took another name.  The netdev table hooks devices
 * by name (Linux 6.16 on), so one renamed away is unhooked: renamed back
 * at once, the dump after them cannot tell, only this event can.
 */
static void
report_renamed(struct cb_ctx *c, const struct kk_link *k, const char *name)
{
	struct kk_link_change ch = { .how = KK_LINK_RENAMED,
	    .ifindex = k->ifindex, .nsid = -1 };
	uint64_t now = kk_mono_ns() / 1000;

	snprintf(ch.name, sizeof(ch.name), "%s", name);
	snprintf(ch.old_name, sizeof(ch.old_name), "%s", k->name);
	snprintf(ch.kind, sizeof(ch.kind), "%s", k->kind);
	ch.age_usec = k->since_usec == UINT64_MAX ? UINT64_MAX :
	    now > k->since_usec ? now - k->since_usec : 0;
	ch.renames = k->renames;
	if (c->fn)
		c->fn(c->data, &ch);
}

/* The interface's kind, from IFLA_LINKINFO / IFLA_INFO_KIND; NULL if none. */
static const char *
kind_of(const struct nlattr *linkinfo)
{
	const struct nlattr *tb[IFLA_INFO_MAX + 1] = { 0 };

	if (linkinfo == NULL ||
	    kk_nl_parse_nested(linkinfo, tb, IFLA_INFO_MAX) < 0 ||
	    tb[IFLA_INFO_KIND] == NULL ||
	    mnl_attr_validate(tb[IFLA_INFO_KIND], MNL_TYPE_NUL_STRING) < 0)
		return NULL;
	return mnl_attr_get_str(tb[IFLA_INFO_KIND]);
}

/* Whether IFLA_XDP says a program is attached, in any mode. */
static bool
xdp_attached(const struct nlattr *xdp)
{
	const struct nlattr *tb[IFLA_XDP_MAX + 1] = { 0 };

	return xdp != NULL && kk_nl_parse_nested(xdp, tb, IFLA_XDP_MAX) >= 0 &&
	    tb[IFLA_XDP_ATTACHED] != NULL &&
	    mnl_attr_validate(tb[IFLA_XDP_ATTACHED], MNL_TYPE_U8) == 0 &&
	    mnl_attr_get_u8(tb[IFLA_XDP_ATTACHED]) != XDP_ATTACHED_NONE;
}

static int
parse(const struct nlmsghdr *nlh, struct parsed *p)
{
	const struct nlattr *tb[IFLA_MAX + 1] = { 0 };
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);

	memset(p, 0, sizeof(*p));
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi) ||
	    kk_nl_parse(nlh, sizeof(*ifi), tb, IFLA_MAX) < 0)
		return -EBADMSG;
	p->ifindex = ifi->ifi_index;
	p->type = ifi->ifi_type;
	p->nsid = -1;
	if (tb[IFLA_IFNAME] &&
	    mnl_attr_validate(tb[IFLA_IFNAME], MNL_TYPE_NUL_STRING) == 0)
		p->name = mnl_attr_get_str(tb[IFLA_IFNAME]);
	if (tb[IFLA_NEW_NETNSID] &&
	    mnl_attr_validate(tb[IFLA_NEW_NETNSID], MNL_TYPE_U32) == 0) {
		p->moved = true;
		p->nsid = (int32_t)mnl_attr_get_u32(tb[IFLA_NEW_NETNSID]);
	}
	p->kind = kind_of(tb[IFLA_LINKINFO]);
	if (tb[IFLA_LINK] && mnl_attr_validate(tb[IFLA_LINK], MNL_TYPE_U32) == 0)
		p->lower = (int)mnl_attr_get_u32(tb[IFLA_LINK]);
	p->lower_elsewhere = tb[IFLA_LINK_NETNSID] != NULL;
	p->xdp = xdp_attached(tb[IFLA_XDP]);
	/* a peer in another namespace comes with IFLA_LINK_NETNSID */
	if (p->kind && strcmp(p->kind, "veth") == 0 &&
	    tb[IFLA_LINK_NETNSID] == NULL && tb[IFLA_LINK] &&
	    mnl_attr_validate(tb[IFLA_LINK], MNL_TYPE_U32) == 0)
		p->peer = (int)mnl_attr_get_u32(tb[IFLA_LINK]);
	return 0;
}

/* An interface that is (still) here. */
static void
link_new(struct cb_ctx *c, const struct parsed *p)
{
	struct kk_links *l = c->l;
	struct kk_link *k = find(l, p->ifindex);
	bool fresh = k == NULL, xdp_new = p->xdp && (k == NULL || !k->xdp);

	if (k == NULL && l->nknown < KK_LINKS_MAX) {
		k = &l->known[l->nknown++];
		memset(k, 0, sizeof(*k));
		k->ifindex = p->ifindex;
		/*
		 * Seen first in a dump (kakurid's start, lost events): how
		 * long it has been there is unknown, it is no new device.
		 */
		k->since_usec = c->dump ? UINT64_MAX : kk_mono_ns() / 1000;
	}
	if (k == NULL) {
		/* not followed: it is still reported, and status says so */
		l->untracked = true;
	} else {
		if (!fresh && p->name && k->name[0] &&
		    strncmp(k->name, p->name, sizeof(k->name)) != 0) {
			k->renames++;
			report_renamed(c, k, p->name);
		}
		if (p->name)
			snprintf(k->name, sizeof(k->name), "%s", p->name);
		if (p->kind)
			snprintf(k->kind, sizeof(k->kind), "%s", p->kind);
		k->type = p->type;
		k->lower = p->lower;
		k->lower_elsewhere = p->lower_elsewhere;
		k->xdp = p->xdp;
		k->missing = false;
		if (c->dump)
			k->seen = true;
	}
	if (fresh && p->kind && kk_link_kind_uncovered(p->kind))
		report(c, KK_LINK_UNCOVERED, p->ifindex, p->name, p->kind, -1);
	if (xdp_new)
		report(c, KK_LINK_XDP, p->ifindex, p->name, p->kind, -1);
}

/*
 * An interface that left: reported from the message itself, so one that
 * was never followed (more than KK_LINKS_MAX) is reported too.
 */
static void
link_gone(struct cb_ctx *c, const struct parsed *p)
{
	struct kk_link *k = find(c->l, p->ifindex);
	enum kk_link_how how;

	if (!p->moved)
		how = KK_LINK_DELETED;
	else if (p->peer > 0 && p->peer != p->ifindex && find(c->l, p->peer))
		how = KK_LINK_MOVED_PAIRED;
	else
		how = KK_LINK_MOVED;
	report(c, how, p->ifindex, p->name ? p->name : k ? k->name : NULL,
	    p->kind ? p->kind : k ? k->kind : NULL, p->nsid);
	if (k)
		forget(c->l, k);
}

void
kk_links_tc_set(struct kk_links *l, int ifindex, bool busy, const char *kind,
    kk_link_fn fn, void *data)
{
	struct cb_ctx c = { .l = l, .fn = fn, .data = data };
	struct kk_link *k = find(l, ifindex);
	bool fresh;

	if (k == NULL)
		return;
	fresh = busy && !k->tc;
	k->tc = busy;
	if (fresh)
		report(&c, KK_LINK_TC, k->ifindex, k->name, kind, -1);
}

/* A tc filter added: reported unless already known. */
static void
tc_event(struct cb_ctx *c, const struct nlmsghdr *nlh)
{
	struct kk_tc_filter f;
	char block[IF_NAMESIZE];

	if (kk_tc_filter_parse(nlh, &f) < 0)
		return;
	if (f.ifindex == 0) {
		snprintf(block, sizeof(block), "block%u", f.block);
		report(c, KK_LINK_TC, 0, block, f.kind, -1);
		return;
	}
	kk_links_tc_set(c->l, f.ifindex, true, f.kind, c->fn, c->data);
}

static int
link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct cb_ctx *c = data;
	struct parsed p;

	if (nlh->nlmsg_type == RTM_NEWTFILTER) {
		tc_event(c, nlh);
		return MNL_CB_OK;
	}
	if ((nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK) ||
	    parse(nlh, &p) < 0)
		return MNL_CB_OK;
	if (nlh->nlmsg_type == RTM_NEWLINK)
		link_new(c, &p);
	else
		link_gone(c, &p);
	return MNL_CB_OK;
}

void
kk_links_handle(struct kk_links *l, const struct nlmsghdr *nlh, bool dump,
    kk_link_fn fn, void *data)
{
	struct cb_ctx c = { .l = l, .fn = fn, .data = data, .dump = dump };

	link_cb(nlh, &c);
}

void
kk_links_dump_begin(struct kk_links *l)
{
	size_t k;

	for (k = 0; k < l->nknown; k++)
		l->known[k].seen = false;
	l->untracked = false;
}

void
kk_links_dump_end(struct kk_links *l, kk_link_fn fn, void *data)
{
	struct cb_ctx c = { .l = l, .fn = fn, .data = data };
	size_t k;

	/* gone without an event: once may be a race with the event, twice is not */
	for (k = 0; k < l->nknown;) {
		struct kk_link *kl = &l->known[k];

		if (kl->seen) {
			k++;
		} else if (!kl->missing) {
			kl->missing = true;
			k++;
		} else {
			report(&c, KK_LINK_VANISHED, kl->ifindex, kl->name,
			    kl->kind, -1);
			forget(l, kl);	/* the last one moves to k */
		}
	}
}

void
kk_links_xsk_begin(struct kk_links *l)
{
	size_t k;

	for (k = 0; k < l->nknown; k++)
		l->known[k].xsk_seen = false;
}

void
kk_links_xsk_mark(void *links, int ifindex)
{
	struct kk_link *k = find(links, ifindex);

	if (k)
		k->xsk_seen = true;
}

void
kk_links_xsk_end(struct kk_links *l, kk_link_fn fn, void *data)
{
	struct cb_ctx c = { .l = l, .fn = fn, .data = data };
	size_t i;

	for (i = 0; i < l->nknown; i++) {
		struct kk_link *k = &l->known[i];
		bool fresh = k->xsk_seen && !k->xsk;

		k->xsk = k->xsk_seen;
		if (fresh)
			report(&c, KK_LINK_XSK, k->ifindex, k->name, k->kind,
			    -1);
	}
}

/*
 * Every interface, for tc: one qdisc dump for all, then for each a filter
 * dump per place a filter can sit (and a class dump where it has a qdisc
 * of its own) and two bpf(2) calls.  What the events missed (or what was
 * there before kakurid) shows here; what went away is forgotten here.
 */
static void
tc_rescan(struct kk_links *l, kk_link_fn fn, void *data)
{
	struct kk_tc_qdiscs qs;
	size_t k;
	bool busy;
	int err;

	if ((l->tc_err = kk_tc_qdiscs_read(l->nl, &l->seq, &qs)) < 0)
		return;
	for (k = 0; k < l->nknown; k++) {
		if (l->known[k].missing)
			continue;
		if ((err = kk_tc_busy(l->nl, &l->seq, &qs,
		    l->known[k].ifindex, &l->tcx, &busy)) < 0) {
			/* gone meanwhile is no failure: the events say so */
			if (err != -ENODEV)
				l->tc_err = err;
			continue;
		}
		kk_links_tc_set(l, l->known[k].ifindex, busy, "", fn, data);
	}
	kk_tc_qdiscs_free(&qs);
}

/* The queues, after the interfaces: which ones an AF_XDP socket is bound to. */
static void
xsk_rescan(struct kk_links *l, kk_link_fn fn, void *data)
{
	size_t k;

	if (l->xsk.listing != KK_XSK_LISTED)
		return;
	kk_links_xsk_begin(l);
	if ((l->xsk_err = kk_xsk_scan(&l->xsk, kk_links_xsk_mark, l)) == 0) {
		kk_links_xsk_end(l, fn, data);
		return;
	}
	/* a failed dump says nothing: what the last one said stands */
	for (k = 0; k < l->nknown; k++)
		l->known[k].xsk_seen = l->known[k].xsk;
}

/*
 * The looks after a link dump, with the watch only: AF_XDP sockets and
 * tc, which come with no event (tc filters with one that may be lost).
 */
static void
looks(struct kk_links *l, kk_link_fn fn, void *data)
{
	if (l->mon == NULL)
		return;
	xsk_rescan(l, fn, data);
	tc_rescan(l, fn, data);
}

int
kk_links_init(struct kk_links *l)
{
	memset(l, 0, sizeof(*l));
	l->known = calloc(KK_LINKS_MAX, sizeof(*l->known));
	return l->known ? 0 : -ENOMEM;
}

static struct mnl_socket *
open_socket(unsigned groups, int flags)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE,
	    SOCK_CLOEXEC | flags);

	if (nl == NULL)
		return NULL;
	/* the kernel's word only: see kk_nl_kernel_only */
	if (mnl_socket_bind(nl, groups, MNL_SOCKET_AUTOPID) < 0 ||
	    kk_nl_kernel_only(nl) < 0) {
		int err = errno;

		mnl_socket_close(nl);
		errno = err;
		return NULL;
	}
	return nl;
}

/*
 * The interfaces there are now, and with watch the event socket that
 * follows them: all or nothing, a caller that sees the error has no
 * socket open.
 */
static int
links_start(struct kk_links *l, bool watch)
{
	int err;

	if ((err = kk_links_init(l)) < 0)
		return err;
	if (watch) {
		/* links, and tc filters added (RTM_NEWTFILTER) */
		l->mon = open_socket(RTMGRP_LINK | RTMGRP_TC, SOCK_NONBLOCK);
		/* a kernel that cannot list them: x->why says so, no failure */
		kk_xsk_open(&l->xsk);
	}
	l->nl = open_socket(0, 0);
	if ((watch && l->mon == NULL) || l->nl == NULL) {
		err = -errno;
		goto fail;
	}
	l->seq = 1;
	/*
	 * A dump cut by changes every time: the interfaces it listed are
	 * there (and the events, where watched, say the rest).
	 */
	if ((err = kk_links_rescan(l, NULL, NULL)) < 0 && err != -EAGAIN)
		goto fail;
	return 0;
fail:
	kk_links_close(l);
	return err;
}

int
kk_links_open(struct kk_links *l)
{
	return links_start(l, true);
}

int
kk_links_read(struct kk_links *l)
{
	int err;

	if ((err = links_start(l, false)) == 0)
		kk_nl_close(&l->nl);
	return err;
}

void
kk_links_close(struct kk_links *l)
{
	kk_nl_close(&l->mon);
	kk_nl_close(&l->nl);
	kk_xsk_close(&l->xsk);
	free(l->known);
	memset(l, 0, sizeof(*l));
}

int
kk_links_fd(const struct kk_links *l)
{
	return l->mon ? mnl_socket_get_fd(l->mon) : -1;
}

int
kk_links_set_rcvbuf(struct kk_links *l, int bytes)
{
	if (l->mon == NULL)
		return -EBADF;
	if (setsockopt(mnl_socket_get_fd(l->mon), SOL_SOCKET, SO_RCVBUF,
	    &bytes, sizeof(bytes)) < 0)
		return -errno;
	return 0;
}

int
kk_links_drain(struct kk_links *l, kk_link_fn fn, void *data)
{
	struct cb_ctx c = { .l = l, .fn = fn, .data = data };
	bool lost = false;
	int err;

	if (l->mon == NULL)
		return -EBADF;
	/* lost events: the caller rescans now, the rescans find what left */
	err = kk_nl_drain(l->mon, link_cb, &c, &lost);
	return err < 0 ? err : lost ? 1 : 0;
}

bool
kk_links_pending(const struct kk_links *l)
{
	size_t k;

	for (k = 0; k < l->nknown; k++)
		if (l->known[k].missing)
			return true;
	return false;
}

int
kk_links_rescan(struct kk_links *l, kk_link_fn fn, void *data)
{
	struct cb_ctx c = { .l = l, .fn = fn, .data = data, .dump = true };
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	int tries, err;
	bool intr;

	if (l->nl == NULL)
		return -EBADF;
	for (tries = 0; tries < RESCAN_TRIES; tries++) {
		nlh = kk_nl_put_request(buf, RTM_GETLINK, NLM_F_DUMP, ++l->seq,
		    sizeof(*ifi), (void **)&ifi);
		ifi->ifi_family = AF_UNSPEC;
		kk_links_dump_begin(l);
		/* a dump cut short says nothing about what is missing from it */
		if ((err = kk_nl_request_intr(l->nl, nlh, link_cb, &c,
		    &intr)) < 0)
			return err;
		if (!intr) {
			kk_links_dump_end(l, fn, data);
			looks(l, fn, data);
			return 0;
		}
	}
	/*
	 * Interfaces changed under every try (NLM_F_DUMP_INTR): what the
	 * dumps listed stands, and nothing is taken for gone, which would
	 * unhook a device from the netdev table.  The queues and tc are
	 * looked at all the same: a flood of link changes must not hide a
	 * socket or a filter.
	 */
	looks(l, fn, data);
	return -EAGAIN;
}
