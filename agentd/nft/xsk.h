/*
 * AF_XDP sockets bound to the namespace's interfaces.
 *
 * An AF_XDP socket hands the frames of its TX ring to the driver through
 * dev_direct_xmit(), which runs no netfilter egress hook, and needs no
 * XDP program to do so: root can send past every table kakuri owns.
 * nftables cannot stop it; kakurid can say so.  The kernel's listing of
 * such sockets (sock_diag, CONFIG_XDP_SOCKETS_DIAG) is often not built,
 * but since Linux 6.15 the "netdev" generic netlink family's queue dump
 * marks every queue an AF_XDP socket is bound to (NETDEV_A_QUEUE_XSK),
 * in copy mode as in zero-copy mode.  The kernel announces no bind, so
 * the interface watch asks with each of its dumps.
 */
#ifndef KK_XSK_H
#define KK_XSK_H

#include <stdbool.h>
#include <stdint.h>

struct mnl_socket;
struct nlmsghdr;

enum kk_xsk_listing {
	KK_XSK_UNLISTED,	/* this kernel cannot say (or the socket failed) */
	KK_XSK_LISTED,		/* queue dumps say which queues have one */
};

struct kk_xsk {
	struct mnl_socket *nl;	/* NETLINK_GENERIC */
	uint16_t family;	/* the "netdev" family's id */
	uint32_t seq;
	enum kk_xsk_listing listing;
	char why[96];		/* KK_XSK_UNLISTED: what is missing */
};

/* Called once per queue with an AF_XDP socket bound, with its interface. */
typedef void (*kk_xsk_fn)(void *data, int ifindex);

/*
 * Learns whether the kernel can list AF_XDP sockets, and opens the socket
 * that asks.  0 and KK_XSK_LISTED, or a negative errno with why saying
 * what is missing (the listing stays KK_XSK_UNLISTED).  Whether the
 * kernel has AF_XDP at all cannot be asked: kakurid.service restricts
 * its own address families, AF_XDP not among them.
 */
int kk_xsk_open(struct kk_xsk *x);
void kk_xsk_close(struct kk_xsk *x);
/*
 * One queue dump of the namespace's interfaces: fn for every queue with a
 * bound AF_XDP socket.  0, or a negative errno (nothing is known then).
 */
int kk_xsk_scan(struct kk_xsk *x, kk_xsk_fn fn, void *data);

/*
 * The socket-free half, for kk_xsk_scan and the unit tests: one reply of
 * the queue dump.  The queue's ifindex when an AF_XDP socket is bound to
 * it, 0 when none is, -EBADMSG when it does not parse.
 */
int kk_xsk_queue_bound(const struct nlmsghdr *nlh);
/* The family id from a CTRL_CMD_GETFAMILY reply, or -EBADMSG. */
int kk_xsk_family_id(const struct nlmsghdr *nlh);
/* Whether a kernel of this release (uname -r) marks AF_XDP queues. */
bool kk_xsk_release_lists(const char *release);

/* NETDEV_* of <linux/netdev.h>, which Debian 12's headers do not have */
#define KK_NETDEV_FAMILY_NAME	"netdev"
#define KK_NETDEV_CMD_QUEUE_GET	10
#define KK_NETDEV_A_QUEUE_ID	1
#define KK_NETDEV_A_QUEUE_IFINDEX	2
#define KK_NETDEV_A_QUEUE_TYPE	3
#define KK_NETDEV_A_QUEUE_XSK	7
#define KK_NETDEV_A_QUEUE_MAX	KK_NETDEV_A_QUEUE_XSK

#endif
