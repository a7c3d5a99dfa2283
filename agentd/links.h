/*
 * Network interfaces leaving kakurid's network namespace.
 *
 * nftables hooks are per network namespace: an interface moved to another
 * one (`ip link set DEV netns OTHER`) carries traffic that never meets
 * kakuri's tables.  links.c follows the namespace's interfaces through
 * rtnetlink link events (a move is an RTM_DELLINK with IFLA_NEW_NETNSID)
 * and through periodic dumps, for when events were lost.  A veth moved
 * out while its peer stays (a container starting) is no escape: what the
 * other end sends still crosses this namespace through the peer.
 */
#ifndef KK_LINKS_H
#define KK_LINKS_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KK_LINKS_MAX	4096	/* interfaces followed; more are not tracked */

struct mnl_socket;

struct kk_link {
	int ifindex;
	char name[IF_NAMESIZE];
	bool seen;		/* in the dump being read */
	bool missing;		/* absent from the last dump, no event yet */
};

struct kk_links {
	struct mnl_socket *mon;	/* RTNLGRP_LINK events */
	struct mnl_socket *nl;	/* dumps */
	uint32_t portid;
	uint32_t seq;
	struct kk_link *known;
	size_t nknown;
};

enum kk_link_how {
	KK_LINK_DELETED,	/* RTM_DELLINK without a new namespace */
	KK_LINK_MOVED,		/* RTM_DELLINK with IFLA_NEW_NETNSID */
	KK_LINK_MOVED_PAIRED,	/* the same, of a veth whose peer stays here */
	KK_LINK_VANISHED,	/* missing from two dumps, no event seen */
};

struct kk_link_change {
	enum kk_link_how how;
	int ifindex;
	char name[IF_NAMESIZE];
	int32_t nsid;		/* KK_LINK_MOVED: the namespace's id here, or -1 */
};

typedef void (*kk_link_fn)(void *data, const struct kk_link_change *ch);

/* Opens both sockets and learns the namespace's interfaces. */
int kk_links_open(struct kk_links *l);
void kk_links_close(struct kk_links *l);
int kk_links_fd(const struct kk_links *l);
/* Reads the pending events; fn is called for every interface that left. */
int kk_links_drain(struct kk_links *l, kk_link_fn fn, void *data);
/*
 * Dumps the interfaces; one missing now and at the previous rescan, with
 * no event in between, is reported as KK_LINK_VANISHED.
 */
int kk_links_rescan(struct kk_links *l, kk_link_fn fn, void *data);

#endif
