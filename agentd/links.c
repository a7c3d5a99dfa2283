/*
 * Follow the network namespace's interfaces: which ones left it, and how.
 * See links.h.  Returns 0 or a negative errno; the caller logs.
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

#include "links.h"

#define RECV_BUFSZ	(MNL_SOCKET_BUFFER_SIZE * 4)
#define MAX_RECVS	1024	/* per drain or dump: bounded work per call */

struct parsed {
	int ifindex;
	const char *name;
	bool moved;
	int32_t nsid;
	bool veth;
	int peer;		/* IFLA_LINK of a veth whose peer is in this namespace */
};

struct cb_ctx {
	struct kk_links *l;
	kk_link_fn fn;
	void *data;
	bool dump;
};

static struct kk_link *
find(struct kk_links *l, int ifindex)
{
	size_t i;

	for (i = 0; i < l->nknown; i++)
		if (l->known[i].ifindex == ifindex)
			return &l->known[i];
	return NULL;
}

static struct kk_link *
upsert(struct kk_links *l, int ifindex, const char *name)
{
	struct kk_link *k = find(l, ifindex);

	if (k == NULL) {
		if (l->nknown >= KK_LINKS_MAX)
			return NULL;
		k = &l->known[l->nknown++];
		memset(k, 0, sizeof(*k));
		k->ifindex = ifindex;
	}
	if (name)
		snprintf(k->name, sizeof(k->name), "%s", name);
	k->missing = false;
	return k;
}

static void
forget(struct kk_links *l, struct kk_link *k)
{
	*k = l->known[--l->nknown];
}

static void
report(struct cb_ctx *c, enum kk_link_how how, const struct kk_link *k,
    int32_t nsid)
{
	struct kk_link_change ch = { .how = how, .ifindex = k->ifindex,
	    .nsid = nsid };

	snprintf(ch.name, sizeof(ch.name), "%s", k->name);
	c->fn(c->data, &ch);
}

static int
attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type <= IFLA_MAX)
		tb[type] = a;
	return MNL_CB_OK;
}

static int
info_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type <= IFLA_INFO_MAX)
		tb[type] = a;
	return MNL_CB_OK;
}

/* Is it a veth?  The kind is in IFLA_LINKINFO / IFLA_INFO_KIND. */
static bool
is_veth(const struct nlattr *linkinfo)
{
	const struct nlattr *tb[IFLA_INFO_MAX + 1] = { 0 };

	return linkinfo != NULL &&
	    mnl_attr_parse_nested(linkinfo, info_cb, tb) >= 0 &&
	    tb[IFLA_INFO_KIND] != NULL &&
	    mnl_attr_validate(tb[IFLA_INFO_KIND], MNL_TYPE_NUL_STRING) == 0 &&
	    strcmp(mnl_attr_get_str(tb[IFLA_INFO_KIND]), "veth") == 0;
}

static int
parse(const struct nlmsghdr *nlh, struct parsed *p)
{
	const struct nlattr *tb[IFLA_MAX + 1] = { 0 };
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);

	memset(p, 0, sizeof(*p));
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi) ||
	    mnl_attr_parse(nlh, sizeof(*ifi), attr_cb, tb) < 0)
		return -EBADMSG;
	p->ifindex = ifi->ifi_index;
	p->nsid = -1;
	if (tb[IFLA_IFNAME] &&
	    mnl_attr_validate(tb[IFLA_IFNAME], MNL_TYPE_NUL_STRING) == 0)
		p->name = mnl_attr_get_str(tb[IFLA_IFNAME]);
	if (tb[IFLA_NEW_NETNSID] &&
	    mnl_attr_validate(tb[IFLA_NEW_NETNSID], MNL_TYPE_U32) == 0) {
		p->moved = true;
		p->nsid = (int32_t)mnl_attr_get_u32(tb[IFLA_NEW_NETNSID]);
	}
	/* a peer in another namespace comes with IFLA_LINK_NETNSID */
	p->veth = is_veth(tb[IFLA_LINKINFO]);
	if (p->veth && tb[IFLA_LINK_NETNSID] == NULL && tb[IFLA_LINK] &&
	    mnl_attr_validate(tb[IFLA_LINK], MNL_TYPE_U32) == 0)
		p->peer = (int)mnl_attr_get_u32(tb[IFLA_LINK]);
	return 0;
}

static int
link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct cb_ctx *c = data;
	enum kk_link_how how;
	struct kk_link *k;
	struct parsed p;

	if ((nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK) ||
	    parse(nlh, &p) < 0)
		return MNL_CB_OK;
	if (nlh->nlmsg_type == RTM_NEWLINK) {
		k = upsert(c->l, p.ifindex, p.name);
		if (k && c->dump)
			k->seen = true;
		return MNL_CB_OK;
	}
	k = find(c->l, p.ifindex);
	if (k == NULL)
		k = upsert(c->l, p.ifindex, p.name);
	if (k == NULL)
		return MNL_CB_OK;
	if (p.name)
		snprintf(k->name, sizeof(k->name), "%s", p.name);
	if (!p.moved)
		how = KK_LINK_DELETED;
	else if (p.peer > 0 && p.peer != p.ifindex && find(c->l, p.peer))
		how = KK_LINK_MOVED_PAIRED;
	else
		how = KK_LINK_MOVED;
	report(c, how, k, p.nsid);
	forget(c->l, k);
	return MNL_CB_OK;
}

static struct mnl_socket *
open_socket(unsigned groups, int flags)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE,
	    SOCK_CLOEXEC | flags);

	if (nl == NULL)
		return NULL;
	if (mnl_socket_bind(nl, groups, MNL_SOCKET_AUTOPID) < 0) {
		int err = errno;

		mnl_socket_close(nl);
		errno = err;
		return NULL;
	}
	return nl;
}

int
kk_links_open(struct kk_links *l)
{
	struct timeval tv = { .tv_sec = 2 };
	int err;

	memset(l, 0, sizeof(*l));
	l->known = calloc(KK_LINKS_MAX, sizeof(*l->known));
	if (l->known == NULL)
		return -ENOMEM;
	l->mon = open_socket(RTMGRP_LINK, SOCK_NONBLOCK);
	l->nl = open_socket(0, 0);
	if (l->mon == NULL || l->nl == NULL) {
		err = -errno;
		kk_links_close(l);
		return err;
	}
	/* a silent kernel must not hang the caller */
	setsockopt(mnl_socket_get_fd(l->nl), SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv));
	l->portid = mnl_socket_get_portid(l->nl);
	l->seq = 1;
	return kk_links_rescan(l, NULL, NULL);
}

void
kk_links_close(struct kk_links *l)
{
	if (l->mon)
		mnl_socket_close(l->mon);
	if (l->nl)
		mnl_socket_close(l->nl);
	free(l->known);
	memset(l, 0, sizeof(*l));
}

int
kk_links_fd(const struct kk_links *l)
{
	return l->mon ? mnl_socket_get_fd(l->mon) : -1;
}

static void
ignore(void *data, const struct kk_link_change *ch)
{
}

int
kk_links_drain(struct kk_links *l, kk_link_fn fn, void *data)
{
	struct cb_ctx c = { .l = l, .fn = fn ? fn : ignore, .data = data };
	char *buf;
	ssize_t len;
	int i, err = 0;

	if (l->mon == NULL)
		return -EBADF;
	buf = malloc(RECV_BUFSZ);
	if (buf == NULL)
		return -ENOMEM;
	for (i = 0; i < MAX_RECVS; i++) {
		len = recv(mnl_socket_get_fd(l->mon), buf, RECV_BUFSZ,
		    MSG_DONTWAIT);
		if (len < 0) {
			/* lost events: the next rescans find what left */
			if (errno == ENOBUFS)
				continue;
			if (errno != EAGAIN && errno != EINTR)
				err = -errno;
			break;
		}
		mnl_cb_run(buf, (size_t)len, 0, 0, link_cb, &c);
	}
	free(buf);
	return err;
}

int
kk_links_rescan(struct kk_links *l, kk_link_fn fn, void *data)
{
	struct cb_ctx c = { .l = l, .fn = fn ? fn : ignore, .data = data,
	    .dump = true };
	char *buf;
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	uint32_t seq = ++l->seq;
	ssize_t len;
	size_t k;
	int i, ret = 0;

	buf = malloc(RECV_BUFSZ);
	if (buf == NULL)
		return -ENOMEM;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	for (k = 0; k < l->nknown; k++)
		l->known[k].seen = false;
	if (mnl_socket_sendto(l->nl, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	for (i = 0; i < MAX_RECVS; i++) {
		len = mnl_socket_recvfrom(l->nl, buf, RECV_BUFSZ);
		if (len < 0) {
			ret = errno == EAGAIN ? -ETIMEDOUT : -errno;
			goto out;
		}
		ret = mnl_cb_run(buf, (size_t)len, seq, l->portid, link_cb, &c);
		if (ret < 0) {
			ret = -errno;
			goto out;
		}
		if (ret == MNL_CB_STOP)
			break;
	}
	if (i == MAX_RECVS) {
		ret = -E2BIG;
		goto out;
	}
	ret = 0;
	/* gone without an event: once may be a race with the event, twice is not */
	for (k = 0; k < l->nknown;) {
		struct kk_link *kl = &l->known[k];

		if (kl->seen) {
			k++;
		} else if (!kl->missing) {
			kl->missing = true;
			k++;
		} else {
			report(&c, KK_LINK_VANISHED, kl, -1);
			forget(l, kl);	/* the last one moves to k */
		}
	}
out:
	free(buf);
	return ret;
}
