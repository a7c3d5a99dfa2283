/*
 * Network interfaces of kakurid's network namespace that its tables cannot
 * cover: those that leave the namespace, and those of kinds whose traffic
 * never meets the namespace's hooks.
 *
 * nftables hooks are per network namespace: an interface moved to another
 * one (`ip link set DEV netns OTHER`) carries traffic that never meets
 * kakuri's tables.  links.c follows the namespace's interfaces through
 * rtnetlink link events (a move is an RTM_DELLINK with IFLA_NEW_NETNSID)
 * and through periodic dumps, for when events were lost.  A veth moved
 * out while its peer stays (a container starting) is no escape: what the
 * other end sends still crosses this namespace through the peer.
 *
 * A macvlan, macvtap, ipvlan or ipvtap device hands the frames of its
 * siblings on the same lower device (in other namespaces: containers)
 * straight to that device, and an Open vSwitch datapath forwards frames
 * between its ports: neither meets this namespace's hooks.  Their kind
 * (IFLA_LINKINFO / IFLA_INFO_KIND) is recorded so kakurid can say so.
 */
#ifndef KK_LINKS_H
#define KK_LINKS_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcfilters.h"
#include "xsk.h"

#define KK_LINKS_MAX	4096	/* interfaces followed; more are not tracked */
#define KK_LINK_KIND_MAX	16

struct mnl_socket;
struct nlmsghdr;

struct kk_link {
	int ifindex;
	char name[IF_NAMESIZE];
	char kind[KK_LINK_KIND_MAX];	/* IFLA_INFO_KIND, "" if none */
	unsigned short type;	/* ifi_type: ARPHRD_* */
	int lower;		/* IFLA_LINK: the device it is stacked on, 0 if none */
	bool lower_elsewhere;	/* ... in another namespace (IFLA_LINK_NETNSID) */
	bool xdp;		/* an XDP program is attached (IFLA_XDP) */
	bool xsk;		/* an AF_XDP socket is bound to one of its queues */
	bool xsk_seen;		/* ... in the queue dump being read */
	bool tc;		/* tc on it: a filter or a tcx program */
	uint64_t since_usec;	/* CLOCK_MONOTONIC of its RTM_NEWLINK event,
				   UINT64_MAX when first seen in a dump */
	unsigned renames;	/* names it took since */
	bool seen;		/* in the dump being read */
	bool missing;		/* absent from the last dump, no event yet */
};

struct kk_links {
	struct mnl_socket *mon;	/* RTNLGRP_LINK events */
	struct mnl_socket *nl;	/* dumps */
	uint32_t seq;
	struct kk_xsk xsk;	/* AF_XDP sockets, with the watch */
	int xsk_err;		/* the last queue dump's failure, 0 if none */
	enum kk_tcx tcx;	/* whether tcx programs can be asked for */
	int tc_err;		/* the last tc look's failure, 0 if none */
	struct kk_link *known;
	size_t nknown;
	bool untracked;		/* the last dump or an event had one more than KK_LINKS_MAX */
};

enum kk_link_how {
	KK_LINK_DELETED,	/* RTM_DELLINK without a new namespace */
	KK_LINK_MOVED,		/* RTM_DELLINK with IFLA_NEW_NETNSID */
	KK_LINK_MOVED_PAIRED,	/* the same, of a veth whose peer stays here */
	KK_LINK_VANISHED,	/* missing from two dumps, no event seen */
	KK_LINK_UNCOVERED,	/* a new interface of a kind the tables cannot cover */
	KK_LINK_XDP,		/* an XDP program attached to an interface */
	KK_LINK_XSK,		/* an AF_XDP socket bound to an interface */
	KK_LINK_RENAMED,	/* an interface followed took another name */
	KK_LINK_TC,		/* tc on an interface (or a shared block) */
};

struct kk_link_change {
	enum kk_link_how how;
	int ifindex;
	char name[IF_NAMESIZE];
	char kind[KK_LINK_KIND_MAX];
	int32_t nsid;		/* KK_LINK_MOVED: the namespace's id here, or -1 */
	char old_name[IF_NAMESIZE];	/* KK_LINK_RENAMED: the name before */
	uint64_t age_usec;	/* KK_LINK_RENAMED: since it appeared (UINT64_MAX:
				   found in a dump, not seen appearing) */
	unsigned renames;	/* KK_LINK_RENAMED: this one included */
};

typedef void (*kk_link_fn)(void *data, const struct kk_link_change *ch);

/* Opens both sockets and learns the namespace's interfaces. */
int kk_links_open(struct kk_links *l);
/*
 * Learns the namespace's interfaces with one dump, and keeps no socket
 * open: for the boot restore, which follows nothing afterwards (the
 * netdev table's devices).  kk_links_close frees the table.  All or
 * nothing, as kk_links_open.
 */
int kk_links_read(struct kk_links *l);
void kk_links_close(struct kk_links *l);
int kk_links_fd(const struct kk_links *l);
/*
 * Test only (KAKURID_TEST_LINKS_RCVBUF): the event socket's receive
 * buffer, made small so that a test can lose events deterministically.
 */
int kk_links_set_rcvbuf(struct kk_links *l, int bytes);
/*
 * Reads the pending events; fn is called for every change it reports.
 * 1 when events were lost (ENOBUFS): only a rescan can tell what they said.
 */
int kk_links_drain(struct kk_links *l, kk_link_fn fn, void *data);
/* An interface was missing from the last dump: the next one decides. */
bool kk_links_pending(const struct kk_links *l);
/*
 * Dumps the interfaces; one missing now and at the previous rescan, with
 * no event in between, is reported as KK_LINK_VANISHED.  -EAGAIN when
 * interfaces changed under every one of a few dumps (NLM_F_DUMP_INTR):
 * those listed are kept, and none is taken for gone.  With the watch,
 * the queues are dumped too: an AF_XDP socket newly bound is reported as
 * KK_LINK_XSK (a failed queue dump is kept in xsk_err, not returned),
 * and every interface is looked at for tc: one newly busy
 * is reported as KK_LINK_TC (failures in tc_err).  A filter added is an
 * event too (RTNLGRP_TC), reported at once.
 */
int kk_links_rescan(struct kk_links *l, kk_link_fn fn, void *data);

/* The interface l follows with this index, or NULL. */
const struct kk_link *kk_links_find(const struct kk_links *l, int ifindex);
/* Is an interface of this kind one whose traffic the tables cannot cover? */
bool kk_link_kind_uncovered(const char *kind);

/*
 * The socket-free half, for kk_links_drain/rescan and the unit tests:
 * kk_links_init allocates the table; kk_links_handle takes one rtnetlink
 * message (an event, or a reply of a dump between kk_links_dump_begin and
 * kk_links_dump_end).
 */
int kk_links_init(struct kk_links *l);
void kk_links_handle(struct kk_links *l, const struct nlmsghdr *nlh,
    bool dump, kk_link_fn fn, void *data);
void kk_links_dump_begin(struct kk_links *l);
void kk_links_dump_end(struct kk_links *l, kk_link_fn fn, void *data);
/* A queue dump: every queue with a socket is marked, then the end reports. */
void kk_links_xsk_begin(struct kk_links *l);
void kk_links_xsk_mark(void *links, int ifindex);
void kk_links_xsk_end(struct kk_links *l, kk_link_fn fn, void *data);
/*
 * The tc look's result for one interface (or an event's, with the
 * filter's kind): reported when newly busy.
 */
void kk_links_tc_set(struct kk_links *l, int ifindex, bool busy,
    const char *kind, kk_link_fn fn, void *data);

#endif
