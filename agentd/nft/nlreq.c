/*
 * One netlink request and its replies: see nlreq.h.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netlink.h>

#include "kakuri.h"
#include "nlreq.h"

#define RECV_BUFSZ	(MNL_SOCKET_BUFFER_SIZE * 4)
unsigned long kk_nl_forged;

int
kk_nl_kernel_only(struct mnl_socket *nl)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

	return connect(mnl_socket_get_fd(nl), (struct sockaddr *)&kernel,
	    sizeof(kernel)) < 0 ? -errno : 0;
}

ssize_t
kk_nl_recv_kernel(int fd, void *buf, size_t len)
{
	return kk_nl_recv_from_kernel(fd, buf, len, MSG_DONTWAIT,
	    KK_NL_PASSED_MAX, &kk_nl_forged);
}

/*
 * One message of the reply: 1 when it ends the request, 0 to go on.
 * *err keeps the first failure.
 */
static int
reply_msg(const struct nlmsghdr *nlh, mnl_cb_t cb, void *data, int *err)
{
	const void *payload = mnl_nlmsg_get_payload(nlh);
	size_t plen = mnl_nlmsg_get_payload_len(nlh);

	switch (nlh->nlmsg_type) {
	case NLMSG_NOOP:
	case NLMSG_OVERRUN:
		return 0;
	case NLMSG_DONE:
		/* a dump that failed says so in NLMSG_DONE's payload */
		if (plen >= sizeof(int) && *(const int *)payload < 0 &&
		    *err == 0)
			*err = *(const int *)payload;
		return 1;
	case NLMSG_ERROR:
		if (plen < sizeof(struct nlmsgerr)) {
			if (*err == 0)
				*err = -EBADMSG;
		} else if (((const struct nlmsgerr *)payload)->error < 0 &&
		    *err == 0) {
			*err = ((const struct nlmsgerr *)payload)->error;
		}
		return 1;
	default:
		if (*err == 0 && cb(nlh, data) <= MNL_CB_ERROR)
			*err = -EBADMSG;
		return 0;
	}
}

ssize_t
kk_nl_recv(int fd, void *buf, size_t len, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;
	int r;

	n = kk_nl_recv_kernel(fd, buf, len);
	if (n == -EAGAIN) {
		if ((r = poll(&pfd, 1, timeout_ms)) <= 0)
			return r == 0 ? -ETIMEDOUT : -errno;
		n = kk_nl_recv_kernel(fd, buf, len);
	}
	/* only others' so far: the caller asks again, within its time */
	return n == -ENOMSG ? -EAGAIN : n;
}

int
kk_nl_request(struct mnl_socket *nl, const struct nlmsghdr *req,
    mnl_cb_t cb, void *data)
{
	bool intr;

	return kk_nl_request_intr(nl, req, cb, data, &intr);
}

int
kk_nl_request_intr(struct mnl_socket *nl, const struct nlmsghdr *req,
    mnl_cb_t cb, void *data, bool *intr)
{
	const uint32_t seq = req->nlmsg_seq;
	const long long end = kk_mono_ms() + KK_NL_TOTAL_MS;
	long long deadline = kk_mono_ms() + KK_NL_BUDGET_MS;
	const int fd = mnl_socket_get_fd(nl);
	const struct nlmsghdr *nlh;
	char *buf;
	long long left;
	ssize_t len;
	int err = 0, n;
	bool done = false;

	*intr = false;
	if (mnl_socket_sendto(nl, req, req->nlmsg_len) < 0)
		return -errno;
	buf = malloc(RECV_BUFSZ);
	if (buf == NULL)
		return -ENOMEM;
	while (!done) {
		left = deadline - kk_mono_ms();
		if (left <= 0) {
			err = err ? err : -ETIMEDOUT;
			break;
		}
		len = kk_nl_recv(fd, buf, RECV_BUFSZ, (int)left);
		if (len == -EINTR || len == -EAGAIN)
			continue;
		if (len < 0) {
			err = err ? err : (int)len;
			break;
		}
		n = (int)len;
		for (nlh = (const struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, n);
		    nlh = mnl_nlmsg_next(nlh, &n)) {
			/* leftovers of an earlier request that was cut short */
			if (nlh->nlmsg_seq != seq)
				continue;
			/* a reply: the kernel is not silent */
			deadline = kk_mono_ms() + KK_NL_BUDGET_MS;
			if (deadline > end)
				deadline = end;
			if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
				*intr = true;
			if (reply_msg(nlh, cb, data, &err)) {
				done = true;
				break;
			}
		}
	}
	free(buf);
	return err;
}

int
kk_nl_drain(struct mnl_socket *nl, mnl_cb_t cb, void *data, bool *lost)
{
	char *buf;
	ssize_t len;
	int i, err = 0;

	buf = malloc(RECV_BUFSZ);
	if (buf == NULL)
		return -ENOMEM;
	for (i = 0; i < KK_NL_DRAIN_MAX; i++) {
		len = kk_nl_recv_kernel(mnl_socket_get_fd(nl), buf,
		    RECV_BUFSZ);
		if (len < 0) {
			if (len == -ENOBUFS) {
				*lost = true;
				continue;
			}
			/* a flood of others' is no empty socket: read on */
			if (len == -ENOMSG)
				continue;
			if (len != -EAGAIN && len != -EINTR)
				err = (int)len;
			break;
		}
		mnl_cb_run(buf, (size_t)len, 0, 0, cb, data);
	}
	free(buf);
	return err;
}

struct nlmsghdr *
kk_nl_put_request(char *buf, uint16_t type, uint16_t flags, uint32_t seq,
    size_t hdrlen, void **hdr)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq;
	*hdr = mnl_nlmsg_put_extra_header(nlh, hdrlen);
	return nlh;
}

void
kk_nl_close(struct mnl_socket **nl)
{
	if (*nl != NULL)
		mnl_socket_close(*nl);
	*nl = NULL;
}

/* An attribute table being filled: tb[0..max]. */
struct attr_table {
	const struct nlattr **tb;
	uint16_t max;
};

static int
attr_cb(const struct nlattr *a, void *data)
{
	const struct attr_table *t = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type <= t->max)
		t->tb[type] = a;
	return MNL_CB_OK;
}

int
kk_nl_parse(const struct nlmsghdr *nlh, size_t hdrlen,
    const struct nlattr **tb, uint16_t max)
{
	struct attr_table t = { .tb = tb, .max = max };

	return mnl_attr_parse(nlh, (unsigned)hdrlen, attr_cb, &t);
}

int
kk_nl_parse_nested(const struct nlattr *nest, const struct nlattr **tb,
    uint16_t max)
{
	struct attr_table t = { .tb = tb, .max = max };

	return mnl_attr_parse_nested(nest, attr_cb, &t);
}
