/*
 * AF_XDP sockets bound to the namespace's interfaces, from the "netdev"
 * generic netlink family's queue dump.  See xsk.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>

#include "kakuri.h"
#include "nlreq.h"
#include "xsk.h"

struct scan_ctx {
	kk_xsk_fn fn;
	void *data;
};

bool
kk_xsk_release_lists(const char *release)
{
	unsigned major = 0, minor = 0;

	/* NETDEV_A_QUEUE_XSK came with 6.15 */
	if (release == NULL || sscanf(release, "%u.%u", &major, &minor) != 2)
		return false;
	return major > 6 || (major == 6 && minor >= 15);
}

int
kk_xsk_family_id(const struct nlmsghdr *nlh)
{
	const struct nlattr *tb[CTRL_ATTR_MAX + 1] = { 0 };

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct genlmsghdr) ||
	    kk_nl_parse(nlh, sizeof(struct genlmsghdr), tb, CTRL_ATTR_MAX) < 0 ||
	    tb[CTRL_ATTR_FAMILY_ID] == NULL ||
	    mnl_attr_validate(tb[CTRL_ATTR_FAMILY_ID], MNL_TYPE_U16) < 0)
		return -EBADMSG;
	return mnl_attr_get_u16(tb[CTRL_ATTR_FAMILY_ID]);
}

int
kk_xsk_queue_bound(const struct nlmsghdr *nlh)
{
	const struct nlattr *tb[KK_NETDEV_A_QUEUE_MAX + 1] = { 0 };
	int ifindex;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct genlmsghdr) ||
	    kk_nl_parse(nlh, sizeof(struct genlmsghdr), tb,
	    KK_NETDEV_A_QUEUE_MAX) < 0 ||
	    tb[KK_NETDEV_A_QUEUE_IFINDEX] == NULL ||
	    mnl_attr_validate(tb[KK_NETDEV_A_QUEUE_IFINDEX], MNL_TYPE_U32) < 0)
		return -EBADMSG;
	ifindex = (int)mnl_attr_get_u32(tb[KK_NETDEV_A_QUEUE_IFINDEX]);
	if (ifindex <= 0)
		return -EBADMSG;
	/* an empty nest: its presence is the whole message */
	return tb[KK_NETDEV_A_QUEUE_XSK] != NULL ? ifindex : 0;
}

static int
family_cb(const struct nlmsghdr *nlh, void *data)
{
	int *id = data;

	*id = kk_xsk_family_id(nlh);
	return *id < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

static int
queue_cb(const struct nlmsghdr *nlh, void *data)
{
	struct scan_ctx *c = data;
	int ifindex = kk_xsk_queue_bound(nlh);

	if (ifindex < 0)
		return MNL_CB_ERROR;
	if (ifindex > 0 && c->fn)
		c->fn(c->data, ifindex);
	return MNL_CB_OK;
}

static struct nlmsghdr *
genl_header(char *buf, uint16_t type, uint8_t cmd, uint16_t flags,
    uint32_t seq)
{
	struct genlmsghdr *g;
	struct nlmsghdr *nlh = kk_nl_put_request(buf, type, flags, seq,
	    sizeof(*g), (void **)&g);

	g->cmd = cmd;
	g->version = 1;
	return nlh;
}

int
kk_xsk_open(struct kk_xsk *x)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct utsname u = { .release = "" };
	int err, id = -1;

	memset(x, 0, sizeof(*x));
	x->listing = KK_XSK_UNLISTED;
	if (uname(&u) < 0 || !kk_xsk_release_lists(u.release)) {
		snprintf(x->why, sizeof(x->why),
		    "Linux %.32s does not mark AF_XDP queues (6.15 does)",
		    u.release);
		return -EOPNOTSUPP;
	}
	x->nl = mnl_socket_open2(NETLINK_GENERIC, SOCK_CLOEXEC);
	if (x->nl == NULL || mnl_socket_bind(x->nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    kk_nl_kernel_only(x->nl) < 0) {
		err = -errno;
		goto fail;
	}
	x->seq = 1;
	/* the acknowledgement ends the request: no dump, no NLMSG_DONE */
	nlh = genl_header(buf, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, NLM_F_ACK,
	    ++x->seq);
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, KK_NETDEV_FAMILY_NAME);
	if ((err = kk_nl_request(x->nl, nlh, family_cb, &id)) < 0)
		goto fail;
	if (id <= 0) {
		err = -EBADMSG;
		goto fail;
	}
	x->family = (uint16_t)id;
	x->listing = KK_XSK_LISTED;
	return 0;
fail:
	snprintf(x->why, sizeof(x->why), "the netdev netlink family: %s",
	    strerror(-err));
	kk_nl_close(&x->nl);
	return err;
}

void
kk_xsk_close(struct kk_xsk *x)
{
	kk_nl_close(&x->nl);
	x->listing = KK_XSK_UNLISTED;
}

int
kk_xsk_scan(struct kk_xsk *x, kk_xsk_fn fn, void *data)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct scan_ctx c = { .fn = fn, .data = data };

	if (x->nl == NULL || x->listing != KK_XSK_LISTED)
		return -EBADF;
	return kk_nl_request(x->nl, genl_header(buf, x->family,
	    KK_NETDEV_CMD_QUEUE_GET, NLM_F_DUMP, ++x->seq), queue_cb, &c);
}
