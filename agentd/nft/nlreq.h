/*
 * One netlink request and its replies, for nft.c (nfnetlink) and links.c
 * (rtnetlink): both ask the kernel questions on a socket of their own and
 * must not be confused by what an earlier, cut-short request left behind.
 */
#ifndef KK_NLREQ_H
#define KK_NLREQ_H

#include <stdbool.h>
#include <sys/types.h>

#include <libmnl/libmnl.h>

/*
 * A silent kernel must not hang kakurid: a request ends when no reply of
 * it came for KK_NL_BUDGET_MS, and after KK_NL_TOTAL_MS in any case (the
 * dump of a 200,000-element set takes seconds of kernel time, in
 * replies that keep coming).
 */
#define KK_NL_BUDGET_MS		2000
#define KK_NL_TOTAL_MS		30000

/*
 * One datagram from fd into buf.  The kernel answers a request within the
 * send and makes each next part of a dump within the receive before, so
 * what is there is read at once; only when nothing is does it wait, at
 * most timeout_ms.  The length, -ETIMEDOUT, or a negative errno (-EAGAIN
 * or -EINTR: try again).
 */
ssize_t kk_nl_recv(int fd, void *buf, size_t len, int timeout_ms);

/*
 * Sends req on nl and hands every reply carrying req's sequence number to
 * cb, until the kernel ends the request (NLMSG_DONE, or the acknowledgement
 * NLMSG_ERROR); replies to other sequence numbers (leftovers of an earlier
 * request) are skipped.  After cb fails, the rest of the replies are read
 * and dropped, so the socket is clean for the next request.  Returns 0,
 * the kernel's negative errno, -EBADMSG when cb failed, or -ETIMEDOUT.
 */
int kk_nl_request(struct mnl_socket *nl, const struct nlmsghdr *req,
    mnl_cb_t cb, void *data);
/*
 * The same; *intr says whether the kernel flagged any reply of a dump,
 * NLMSG_DONE included, NLM_F_DUMP_INTR (what it lists changed meanwhile).
 */
int kk_nl_request_intr(struct mnl_socket *nl, const struct nlmsghdr *req,
    mnl_cb_t cb, void *data, bool *intr);

/*
 * Reads what is pending on an event (multicast) socket, without waiting,
 * and hands every message to cb; bounded to KK_NL_DRAIN_MAX reads per
 * call.  *lost is set when the kernel dropped events (ENOBUFS): the
 * caller must look again by itself.  Returns 0 or a negative errno.
 */
#define KK_NL_DRAIN_MAX		1024
int kk_nl_drain(struct mnl_socket *nl, mnl_cb_t cb, void *data, bool *lost);

/*
 * Root may send to any netlink socket's port id (they are listed in
 * /proc/net/netlink), and to rtnetlink's and nftables' multicast groups:
 * a forged RTM_DELLINK, or a forged NLMSG_DONE ending a dump, would blind
 * kakurid.  Every read takes only what the kernel sent (nl_pid 0), and
 * kk_nl_kernel_only connects a socket to the kernel, so that the kernel
 * refuses a process's unicast to it (ECONNREFUSED); its multicast still
 * arrives.  kk_nl_forged counts what was passed over.
 */
extern unsigned long kk_nl_forged;
int kk_nl_kernel_only(struct mnl_socket *nl);
/*
 * One datagram from the kernel into buf without waiting: its length, or
 * a negative errno (-EAGAIN: none there; -ENOMSG: KK_NL_PASSED_MAX
 * others' passed over, more may be there).
 */
#define KK_NL_PASSED_MAX	64
ssize_t kk_nl_recv_kernel(int fd, void *buf, size_t len);

/*
 * A request of type into buf: NLM_F_REQUEST | flags, seq, and its fixed
 * header of hdrlen bytes (zeroed) at *hdr.
 */
struct nlmsghdr *kk_nl_put_request(char *buf, uint16_t type, uint16_t flags,
    uint32_t seq, size_t hdrlen, void **hdr);

/* Closes *nl if it is open, and forgets it. */
void kk_nl_close(struct mnl_socket **nl);

/*
 * The attributes of a message after its fixed header of hdrlen bytes, or
 * nested in nest, into tb[type] for every type up to max (tb holds max +
 * 1, zeroed by the caller); others are passed over.  Returns what
 * mnl_attr_parse() does: < 0 when they do not parse.
 */
int kk_nl_parse(const struct nlmsghdr *nlh, size_t hdrlen,
    const struct nlattr **tb, uint16_t max);
int kk_nl_parse_nested(const struct nlattr *nest, const struct nlattr **tb,
    uint16_t max);

#endif
