/*
 * Netlink for the collection: one dump request on a fresh socket, bounded
 * by the deadline, and the attributes of what comes back.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "collect.h"

/* ---- netlink ---------------------------------------------------------- */

/* A receive never waits beyond the deadline (nor, at all, very long). */
static int
nl_rcvtimeo(struct collector *c, struct mnl_socket *nl)
{
	struct timeval tv;
	uint64_t now = col_now_ns(), ms;

	if (now >= c->deadline)
		return -ETIMEDOUT;
	ms = (c->deadline - now + 999999) / 1000000;
	if (ms > NL_RECV_MAX_MS)
		ms = NL_RECV_MAX_MS;
	if (ms == 0)
		ms = 1;		/* 0 would mean "forever" */
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv)) < 0)
		return -errno;
	return 0;
}

/*
 * One request on a fresh socket, every reply message to cb, until the
 * kernel says done (or acks).  A callback that wants no more returns
 * MNL_CB_STOP and the rest is dropped with the socket.
 */
int
col_nl_dump(struct collector *c, int proto, struct nlmsghdr *req, mnl_cb_t cb,
    void *data)
{
	struct mnl_socket *nl;
	char *buf = NULL;
	unsigned int portid;
	uint32_t seq;
	ssize_t len;
	unsigned i;
	int ret, err = 0;

	nl = mnl_socket_open2(proto, SOCK_CLOEXEC);
	if (nl == NULL)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	seq = req->nlmsg_seq = ++c->seq;
	if ((buf = malloc(NL_BUFSZ)) == NULL) {
		err = -ENOMEM;
		goto out;
	}
	if (mnl_socket_sendto(nl, req, req->nlmsg_len) < 0) {
		err = -errno;
		goto out;
	}
	for (i = 0; i < MAX_NL_READS; i++) {
		if ((err = nl_rcvtimeo(c, nl)) < 0)
			goto out;
		/* the kernel's replies only: root may send to this port id */
		len = kk_nl_recv_from_kernel(mnl_socket_get_fd(nl), buf,
		    NL_BUFSZ, 0, 1, NULL);
		/* another's passed over: wait again, within the deadline */
		if (len == -ENOMSG)
			continue;
		if (len < 0) {
			err = len == -EAGAIN || len == -EWOULDBLOCK ?
			    -ETIMEDOUT : (int)len;
			goto out;
		}
		errno = 0;
		ret = mnl_cb_run(buf, (size_t)len, seq, portid, cb, data);
		if (ret < 0) {
			err = errno > 0 ? -errno : -EPROTO;
			goto out;
		}
		if (ret == MNL_CB_STOP)
			goto out;
	}
	err = -E2BIG;
out:
	free(buf);
	mnl_socket_close(nl);
	return err;
}

/* Records a failed dump: the deadline is a timeout, anything else an error. */
void
col_nl_failed(struct art *b, const char *what, int err)
{
	if (err == -ETIMEDOUT && col_expired(b->c))
		b->timeout = true;
	else
		col_art_error(b, "%s: %s", what, strerror(-err));
}
/*
 * The fixed header, hdrlen bytes, of a message of type, its attributes in
 * t unless t is NULL; NULL for a message of another type, one cut short
 * or one whose attributes do not parse.
 */
const void *
col_nl_msg(const struct nlmsghdr *nlh, uint16_t type, size_t hdrlen,
    struct attrs *t)
{
	if (nlh->nlmsg_type != type || mnl_nlmsg_get_payload_len(nlh) < hdrlen)
		return NULL;
	if (t != NULL) {
		memset(t, 0, sizeof(*t));
		if (mnl_attr_parse(nlh, (unsigned)hdrlen, col_attr_cb, t) < 0)
			return NULL;
	}
	return mnl_nlmsg_get_payload(nlh);
}

/*
 * The callback of a dump whose messages of one type are an item each
 * (data: a struct col_nl_items): messages of other types are passed over.
 * Every rtnetlink and sock_diag header starts with its family, a byte.
 */
int
col_nl_items_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct col_nl_items *d = data;
	const unsigned char *hdr;
	struct attrs t;
	json_t *o;
	size_t reserve;

	if ((hdr = col_nl_msg(nlh, d->type, d->hdrlen, &t)) == NULL)
		return MNL_CB_OK;
	if (d->with_family)
		o = col_item_family(d->key, d->value, hdr[0]);
	else if ((o = json_object()) != NULL)
		col_set_str(o, d->key, d->value);
	if (o == NULL)
		return MNL_CB_STOP;
	reserve = d->fill(o, hdr, &t, d->arg);
	return col_art_push(d->b, o, reserve) ? MNL_CB_OK : MNL_CB_STOP;
}

int
col_attr_cb(const struct nlattr *a, void *data)
{
	struct attrs *t = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type < ATTR_MAX)
		t->tb[type] = a;
	return MNL_CB_OK;
}

bool
col_attr_u32(const struct nlattr *a, uint32_t *v)
{
	if (a == NULL || mnl_attr_get_payload_len(a) < sizeof(uint32_t))
		return false;
	*v = mnl_attr_get_u32(a);
	return true;
}

/* "name" of a string attribute, bounded by its payload */
json_t *
col_attr_str(const struct nlattr *a)
{
	const char *p = mnl_attr_get_payload(a);
	size_t n = mnl_attr_get_payload_len(a);

	return kk_json_strn(p, strnlen(p, n));
}

/* An address of family from len bytes; false if it does not fit. */
bool
col_fmt_addr(int family, const void *p, size_t len, char *buf, size_t size)
{
	if (family == AF_INET && len >= 4)
		return inet_ntop(AF_INET, p, buf, (socklen_t)size) != NULL;
	if (family == AF_INET6 && len >= 16)
		return inet_ntop(AF_INET6, p, buf, (socklen_t)size) != NULL;
	return false;
}

void
col_set_addr(json_t *o, const char *key, int family, const struct nlattr *a)
{
	char buf[INET6_ADDRSTRLEN];

	if (a != NULL && col_fmt_addr(family, mnl_attr_get_payload(a),
	    mnl_attr_get_payload_len(a), buf, sizeof(buf)))
		col_set_str(o, key, buf);
}

void
col_set_prefix(json_t *o, const char *key, int family, const struct nlattr *a,
    unsigned plen)
{
	char buf[INET6_ADDRSTRLEN + 8];

	if (a == NULL) {
		/* a route without a destination is the default route */
		snprintf(buf, sizeof(buf), "%s/%u",
		    family == AF_INET6 ? "::" : "0.0.0.0", plen);
	} else if (!col_fmt_addr(family, mnl_attr_get_payload(a),
	    mnl_attr_get_payload_len(a), buf, INET6_ADDRSTRLEN)) {
		return;
	} else {
		snprintf(buf + strlen(buf), 8, "/%u", plen);
	}
	col_set_str(o, key, buf);
}

/* link-layer addresses as aa:bb:cc:... */
void
col_set_lladdr(json_t *o, const char *key, const struct nlattr *a)
{
	const unsigned char *p;
	char buf[32 * 3 + 1];
	size_t i, n;

	if (a == NULL)
		return;
	p = mnl_attr_get_payload(a);
	n = mnl_attr_get_payload_len(a);
	if (n == 0)
		return;
	if (n > 32)
		n = 32;
	for (i = 0; i < n; i++)
		snprintf(buf + 3 * i, 4, "%02x%s", p[i], i + 1 < n ? ":" : "");
	col_set_str(o, key, buf);
}

struct nlmsghdr *
col_rt_request(char *buf, uint16_t type, uint8_t family, size_t hdrlen)
{
	struct nlmsghdr *nlh;
	uint8_t *h;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	/* ifinfomsg, ifaddrmsg, rtmsg and ndmsg all begin with the family */
	h = mnl_nlmsg_put_extra_header(nlh, hdrlen);
	h[0] = family;
	return nlh;
}
