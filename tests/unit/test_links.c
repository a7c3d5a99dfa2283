/*
 * The interface watch without sockets: rtnetlink messages built here are
 * fed to nft/links.c as events or dump replies, and what it reports is
 * checked: moves, a veth whose peer stays, deletions, interfaces that
 * vanished from two dumps, kinds the tables cannot cover, and interfaces
 * beyond the tracked number.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/if_link.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include "links.h"
#include "netdevs.h"
#include "nlreq.h"
#include "suites.h"
#include "testutil.h"
#include "xsk.h"

#define NREPORTS	16

struct reports {
	int n;
	struct kk_link_change ch[NREPORTS];
};

static void
collect(void *data, const struct kk_link_change *ch)
{
	struct reports *r = data;

	ck_assert_int_lt(r->n, NREPORTS);
	r->ch[r->n++] = *ch;
}

/* An RTM_NEWLINK or RTM_DELLINK; nsid >= 0 adds IFLA_NEW_NETNSID. */
static struct nlmsghdr *
linkmsg(char *buf, uint16_t type, int ifindex, const char *name,
    const char *kind, int nsid, int peer)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;
	struct nlattr *info;

	nlh->nlmsg_type = type;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	if (name)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	if (kind) {
		info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
		mnl_attr_put_strz(nlh, IFLA_INFO_KIND, kind);
		mnl_attr_nest_end(nlh, info);
	}
	if (nsid >= 0)
		mnl_attr_put_u32(nlh, IFLA_NEW_NETNSID, (uint32_t)nsid);
	if (peer > 0)
		mnl_attr_put_u32(nlh, IFLA_LINK, (uint32_t)peer);
	return nlh;
}

static struct kk_links links;
static struct reports rep;
static char buf[8192];	/* MNL_SOCKET_BUFFER_SIZE is not a constant */

static void
setup(void)
{
	ck_assert_int_eq(kk_links_init(&links), 0);
	memset(&rep, 0, sizeof(rep));
}

static void
teardown(void)
{
	kk_links_close(&links);
}

static void
event(uint16_t type, int ifindex, const char *name, const char *kind,
    int nsid, int peer)
{
	kk_links_handle(&links, linkmsg(buf, type, ifindex, name, kind, nsid,
	    peer), false, collect, &rep);
}

/* One dump that lists these interfaces (ifindex 0 ends the list). */
static void
dump(const int *ifindex)
{
	char name[IF_NAMESIZE];

	kk_links_dump_begin(&links);
	for (; *ifindex; ifindex++) {
		snprintf(name, sizeof(name), "if%d", *ifindex);
		kk_links_handle(&links, linkmsg(buf, RTM_NEWLINK, *ifindex,
		    name, NULL, -1, 0), true, collect, &rep);
	}
	kk_links_dump_end(&links, collect, &rep);
}

START_TEST(moves_deletes_and_paired_veths)
{
	event(RTM_NEWLINK, 2, "eth0", NULL, -1, 0);
	event(RTM_NEWLINK, 3, "host0", "veth", -1, 4);
	event(RTM_NEWLINK, 4, "cont0", "veth", -1, 3);
	event(RTM_NEWLINK, 5, "d0", "dummy", -1, 0);
	ck_assert_int_eq(rep.n, 0);
	ck_assert_uint_eq(links.nknown, 4);

	event(RTM_DELLINK, 2, "eth0", NULL, 7, 0);
	event(RTM_DELLINK, 4, "cont0", "veth", 7, 3);
	event(RTM_DELLINK, 5, "d0", "dummy", -1, 0);
	ck_assert_int_eq(rep.n, 3);
	ck_assert_int_eq(rep.ch[0].how, KK_LINK_MOVED);
	ck_assert_str_eq(rep.ch[0].name, "eth0");
	ck_assert_int_eq(rep.ch[0].nsid, 7);
	ck_assert_int_eq(rep.ch[1].how, KK_LINK_MOVED_PAIRED);
	ck_assert_str_eq(rep.ch[1].name, "cont0");
	ck_assert_int_eq(rep.ch[2].how, KK_LINK_DELETED);
	ck_assert_uint_eq(links.nknown, 1);	/* host0 stays */
	/* a veth whose peer is not here any more is an escape */
	event(RTM_DELLINK, 3, "host0", "veth", 7, 4);
	ck_assert_int_eq(rep.ch[3].how, KK_LINK_MOVED);
}
END_TEST

/* A move is reported even when the interface was never followed. */
START_TEST(untracked_interface_still_reported)
{
	int i;

	for (i = 0; i < KK_LINKS_MAX; i++)
		event(RTM_NEWLINK, 100 + i, "x", NULL, -1, 0);
	ck_assert_uint_eq(links.nknown, KK_LINKS_MAX);
	ck_assert(!links.untracked);
	event(RTM_NEWLINK, 99, "late0", NULL, -1, 0);
	ck_assert(links.untracked);
	ck_assert_uint_eq(links.nknown, KK_LINKS_MAX);
	event(RTM_DELLINK, 99, "late0", NULL, 3, 0);
	ck_assert_int_eq(rep.n, 1);
	ck_assert_int_eq(rep.ch[0].how, KK_LINK_MOVED);
	ck_assert_int_eq(rep.ch[0].ifindex, 99);
	ck_assert_str_eq(rep.ch[0].name, "late0");
	ck_assert_int_eq(rep.ch[0].nsid, 3);
	/* and without a name in the message */
	event(RTM_DELLINK, 98, NULL, NULL, 4, 0);
	ck_assert_int_eq(rep.n, 2);
	ck_assert_int_eq(rep.ch[1].ifindex, 98);
	ck_assert_str_eq(rep.ch[1].name, "?");
}
END_TEST

/*
 * Events were lost: an interface missing from one dump may be a race
 * with its event; missing from two dumps, it vanished.  One seen again
 * in between, or explained by an event, is not reported as vanished.
 */
START_TEST(rescan_finds_what_vanished)
{
	static const int all[] = { 1, 2, 3, 4, 0 }, some[] = { 1, 3, 0 },
	    back[] = { 1, 3, 4, 0 }, one[] = { 1, 0 };

	dump(all);
	ck_assert_int_eq(rep.n, 0);
	ck_assert_uint_eq(links.nknown, 4);
	dump(some);		/* 2 and 4 missing once */
	ck_assert_int_eq(rep.n, 0);
	dump(back);		/* 4 is back: not gone */
	ck_assert_int_eq(rep.n, 1);
	ck_assert_int_eq(rep.ch[0].how, KK_LINK_VANISHED);
	ck_assert_int_eq(rep.ch[0].ifindex, 2);
	ck_assert_str_eq(rep.ch[0].name, "if2");
	ck_assert_uint_eq(links.nknown, 3);
	dump(back);
	ck_assert_int_eq(rep.n, 1);
	dump(one);		/* 3 and 4 missing once */
	event(RTM_DELLINK, 3, "if3", NULL, 5, 0);	/* 3 explained */
	ck_assert_int_eq(rep.n, 2);
	ck_assert_int_eq(rep.ch[1].how, KK_LINK_MOVED);
	dump(one);
	ck_assert_int_eq(rep.n, 3);
	ck_assert_int_eq(rep.ch[2].how, KK_LINK_VANISHED);
	ck_assert_int_eq(rep.ch[2].ifindex, 4);
	dump(one);
	ck_assert_int_eq(rep.n, 3);
	ck_assert_uint_eq(links.nknown, 1);
}
END_TEST

START_TEST(uncovered_kinds)
{
	static const char *const yes[] = { "macvlan", "macvtap", "ipvlan",
	    "ipvtap", "openvswitch" };
	static const char *const no[] = { "veth", "dummy", "bridge", "vlan",
	    "vxlan", "" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ck_assert_msg(kk_link_kind_uncovered(yes[i]), "%s", yes[i]);
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ck_assert_msg(!kk_link_kind_uncovered(no[i]), "%s", no[i]);

	event(RTM_NEWLINK, 7, "mv0", "macvlan", -1, 0);
	ck_assert_int_eq(rep.n, 1);
	ck_assert_int_eq(rep.ch[0].how, KK_LINK_UNCOVERED);
	ck_assert_str_eq(rep.ch[0].name, "mv0");
	ck_assert_str_eq(rep.ch[0].kind, "macvlan");
	/* every later RTM_NEWLINK of it (a state change) is no new report */
	event(RTM_NEWLINK, 7, "mv0", "macvlan", -1, 0);
	ck_assert_int_eq(rep.n, 1);
	ck_assert_str_eq(links.known[0].kind, "macvlan");
	event(RTM_NEWLINK, 8, "d0", "dummy", -1, 0);
	ck_assert_int_eq(rep.n, 1);
}
END_TEST

/*
 * What a link stands on (IFLA_LINK, and whether in another namespace),
 * and an XDP program attached to it (IFLA_XDP), reported once each time
 * one appears.
 */
START_TEST(lower_and_xdp)
{
	struct nlmsghdr *nlh;
	struct nlattr *x;
	int i;

	/* a macvlan on ifindex 3 here, one on ifindex 9 of namespace 4 */
	event(RTM_NEWLINK, 7, "mv0", "macvlan", -1, 3);
	ck_assert_int_eq(links.known[0].lower, 3);
	ck_assert(!links.known[0].lower_elsewhere);
	nlh = linkmsg(buf, RTM_NEWLINK, 8, "mv1", "macvlan", -1, 9);
	mnl_attr_put_u32(nlh, IFLA_LINK_NETNSID, 4);
	kk_links_handle(&links, nlh, false, collect, &rep);
	ck_assert_int_eq(links.known[1].lower, 9);
	ck_assert(links.known[1].lower_elsewhere);
	ck_assert(!links.known[1].xdp);
	rep.n = 0;
	/* XDP on mv0 twice (one report), off, on again (a second one) */
	for (i = 0; i < 4; i++) {
		nlh = linkmsg(buf, RTM_NEWLINK, 7, "mv0", "macvlan", -1, 3);
		x = mnl_attr_nest_start(nlh, IFLA_XDP);
		mnl_attr_put_u8(nlh, IFLA_XDP_ATTACHED,
		    i == 2 ? XDP_ATTACHED_NONE : XDP_ATTACHED_SKB);
		mnl_attr_nest_end(nlh, x);
		kk_links_handle(&links, nlh, false, collect, &rep);
		ck_assert_int_eq(links.known[0].xdp, i != 2);
	}
	ck_assert_int_eq(rep.n, 2);
	ck_assert_int_eq(rep.ch[0].how, KK_LINK_XDP);
	ck_assert_str_eq(rep.ch[0].name, "mv0");
	ck_assert_int_eq(rep.ch[1].how, KK_LINK_XDP);
	/* a message without IFLA_XDP says none */
	event(RTM_NEWLINK, 7, "mv0", "macvlan", -1, 3);
	ck_assert(!links.known[0].xdp);
}
END_TEST

/*
 * A reply of the netdev family's queue dump: the queue of ifindex, with
 * the empty XSK nest when bound; ifindex < 0 leaves the ifindex out.
 */
static struct nlmsghdr *
queuemsg(char *b, int ifindex, int type, bool bound)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(b);
	struct genlmsghdr *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));

	nlh->nlmsg_type = 0x14;
	g->cmd = KK_NETDEV_CMD_QUEUE_GET;
	mnl_attr_put_u32(nlh, KK_NETDEV_A_QUEUE_ID, 0);
	if (ifindex >= 0)
		mnl_attr_put_u32(nlh, KK_NETDEV_A_QUEUE_IFINDEX,
		    (uint32_t)ifindex);
	mnl_attr_put_u32(nlh, KK_NETDEV_A_QUEUE_TYPE, (uint32_t)type);
	if (bound)
		mnl_attr_nest_end(nlh, mnl_attr_nest_start(nlh,
		    KK_NETDEV_A_QUEUE_XSK));
	return nlh;
}

/* The queue dump's replies, the family's id, and the kernels that mark. */
START_TEST(xsk_replies)
{
	struct nlmsghdr *nlh;

	ck_assert_int_eq(kk_xsk_queue_bound(queuemsg(buf, 3, 0, false)), 0);
	ck_assert_int_eq(kk_xsk_queue_bound(queuemsg(buf, 3, 1, true)), 3);
	ck_assert_int_eq(kk_xsk_queue_bound(queuemsg(buf, -1, 1, true)),
	    -EBADMSG);
	ck_assert_int_eq(kk_xsk_queue_bound(queuemsg(buf, 0, 1, true)),
	    -EBADMSG);
	/* shorter than the generic netlink header */
	nlh = mnl_nlmsg_put_header(buf);
	ck_assert_int_eq(kk_xsk_queue_bound(nlh), -EBADMSG);
	/* CTRL_CMD_NEWFAMILY: the id is a u16 */
	nlh = mnl_nlmsg_put_header(buf);
	mnl_nlmsg_put_extra_header(nlh, sizeof(struct genlmsghdr));
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, "netdev");
	ck_assert_int_eq(kk_xsk_family_id(nlh), -EBADMSG);
	mnl_attr_put_u16(nlh, CTRL_ATTR_FAMILY_ID, 27);
	ck_assert_int_eq(kk_xsk_family_id(nlh), 27);
	ck_assert(!kk_xsk_release_lists("6.14.11-amd64"));
	ck_assert(!kk_xsk_release_lists("5.19.0"));
	ck_assert(!kk_xsk_release_lists("junk"));
	ck_assert(!kk_xsk_release_lists(NULL));
	ck_assert(kk_xsk_release_lists("6.15.0"));
	ck_assert(kk_xsk_release_lists("6.18.44-fc-v1045"));
	ck_assert(kk_xsk_release_lists("7.0.1"));
}
END_TEST

/* A queue dump of ifindex list (0 ends it), every queue bound. */
static void
xsk_dump(const int *ifindex)
{
	kk_links_xsk_begin(&links);
	for (; *ifindex; ifindex++)
		kk_links_xsk_mark(&links, *ifindex);
	kk_links_xsk_end(&links, collect, &rep);
}

/* A socket bound is reported once, and again after it was gone. */
START_TEST(xsk_bound_reported_once)
{
	static const int none[] = { 0 }, two[] = { 2, 2, 0 },
	    both[] = { 3, 2, 99, 0 };

	event(RTM_NEWLINK, 2, "eth0", NULL, -1, 0);
	event(RTM_NEWLINK, 3, "wwan0", NULL, -1, 0);
	xsk_dump(none);
	ck_assert_int_eq(rep.n, 0);
	/* two queues of eth0 (RX and TX): one report */
	xsk_dump(two);
	ck_assert_int_eq(rep.n, 1);
	ck_assert_int_eq(rep.ch[0].how, KK_LINK_XSK);
	ck_assert_str_eq(rep.ch[0].name, "eth0");
	ck_assert(links.known[0].xsk);
	ck_assert(!links.known[1].xsk);
	/* still bound: nothing new; wwan0 too (ifindex 99 is not followed) */
	xsk_dump(both);
	ck_assert_int_eq(rep.n, 2);
	ck_assert_str_eq(rep.ch[1].name, "wwan0");
	xsk_dump(none);
	ck_assert(!links.known[0].xsk && !links.known[1].xsk);
	ck_assert_int_eq(rep.n, 2);
	xsk_dump(two);
	ck_assert_int_eq(rep.n, 3);
	ck_assert_str_eq(rep.ch[2].name, "eth0");
}
END_TEST

/*
 * A rename is reported with the name before and how many there were:
 * away and back, as events, is two reports though the dump after them
 * sees nothing changed.
 */
START_TEST(renames_reported)
{
	static const int two[] = { 2, 0 };

	event(RTM_NEWLINK, 2, "wwan0", NULL, -1, 0);
	event(RTM_NEWLINK, 2, "wwan0", NULL, -1, 0);
	ck_assert_int_eq(rep.n, 0);
	event(RTM_NEWLINK, 2, "x", NULL, -1, 0);
	event(RTM_NEWLINK, 2, "wwan0", NULL, -1, 0);
	ck_assert_int_eq(rep.n, 2);
	ck_assert_int_eq(rep.ch[0].how, KK_LINK_RENAMED);
	ck_assert_str_eq(rep.ch[0].old_name, "wwan0");
	ck_assert_str_eq(rep.ch[0].name, "x");
	ck_assert_uint_eq(rep.ch[0].renames, 1);
	ck_assert_str_eq(rep.ch[1].old_name, "x");
	ck_assert_str_eq(rep.ch[1].name, "wwan0");
	ck_assert_uint_eq(rep.ch[1].renames, 2);
	ck_assert_uint_lt(rep.ch[1].age_usec, 60ULL * 1000 * 1000);
	/* a rename that only a dump sees (its event lost) is reported too */
	dump(two);
	ck_assert_int_eq(rep.n, 3);
	ck_assert_str_eq(rep.ch[2].old_name, "wwan0");
	ck_assert_str_eq(rep.ch[2].name, "if2");
	/* a message without a name is no rename */
	event(RTM_NEWLINK, 2, NULL, NULL, -1, 0);
	ck_assert_int_eq(rep.n, 3);
	/* one first found in a dump was not seen appearing: no age */
	kk_links_dump_begin(&links);
	kk_links_handle(&links, linkmsg(buf, RTM_NEWLINK, 5, "eth5", NULL,
	    -1, 0), true, collect, &rep);
	kk_links_dump_end(&links, collect, &rep);
	event(RTM_NEWLINK, 5, "enp5", NULL, -1, 0);
	ck_assert_int_eq(rep.n, 4);
	ck_assert_uint_eq(rep.ch[3].renames, 1);
	ck_assert_uint_eq(rep.ch[3].age_usec, UINT64_MAX);
}
END_TEST

/* An RTM_NEWTFILTER of kind on ifindex at parent (a block's, ifindex -1). */
static struct nlmsghdr *
filtermsg(char *b, int ifindex, uint32_t parent, const char *kind)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(b);
	struct tcmsg *t = mnl_nlmsg_put_extra_header(nlh, sizeof(*t));

	nlh->nlmsg_type = RTM_NEWTFILTER;
	t->tcm_family = AF_UNSPEC;
	t->tcm_ifindex = ifindex;
	t->tcm_parent = parent;
	if (kind)
		mnl_attr_put_strz(nlh, TCA_KIND, kind);
	return nlh;
}

/* What a filter event says. */
START_TEST(tc_filters_parsed)
{
	struct kk_tc_filter f;

	ck_assert_int_eq(kk_tc_filter_parse(filtermsg(buf, 1,
	    TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS), "u32"), &f), 0);
	ck_assert_int_eq(f.ifindex, 1);
	ck_assert_str_eq(f.kind, "u32");
	/* ingress counts too: a redirect from there skips egress hooks */
	ck_assert_int_eq(kk_tc_filter_parse(filtermsg(buf, 4,
	    TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS), "bpf"), &f), 0);
	ck_assert_int_eq(f.ifindex, 4);
	/* a shared block: ifindex says so, the parent is its index */
	ck_assert_int_eq(kk_tc_filter_parse(filtermsg(buf, -1, 7, NULL), &f),
	    0);
	ck_assert_int_eq(f.ifindex, 0);
	ck_assert_uint_eq(f.block, 7);
	ck_assert_str_eq(f.kind, "");
	ck_assert_int_eq(kk_tc_filter_parse(filtermsg(buf, 0, 0, "u32"), &f),
	    -EBADMSG);
	ck_assert_int_eq(kk_tc_filter_parse(mnl_nlmsg_put_header(buf), &f),
	    -EBADMSG);
}
END_TEST

/* An RTM_NEWQDISC of ifindex with handle. */
static const struct nlmsghdr *
qdiscmsg(char *b, int ifindex, uint32_t handle)
{
	struct nlmsghdr *nlh = filtermsg(b, ifindex, TC_H_ROOT, "x");
	struct tcmsg *t = mnl_nlmsg_get_payload(nlh);

	nlh->nlmsg_type = RTM_NEWQDISC;
	t->tcm_handle = handle;
	return nlh;
}

/*
 * Where filters can sit: the root always; clsact's two sides; a qdisc of
 * its own handle (htb 1:, a child 20:), whose classes are then asked for.
 */
START_TEST(tc_parents_of_qdiscs)
{
	static struct kk_tc_qdisc q[KK_TC_QDISCS_MAX];
	struct kk_tc_qdiscs qs = { .q = q };
	uint32_t p[8];
	bool classful;
	unsigned n, i;

	kk_tc_qdiscs_add(&qs, qdiscmsg(buf, 2, 0));		/* noqueue 0: */
	kk_tc_qdiscs_add(&qs, qdiscmsg(buf, 3, 0xffff0000U));	/* clsact */
	kk_tc_qdiscs_add(&qs, qdiscmsg(buf, 3, 0));
	kk_tc_qdiscs_add(&qs, qdiscmsg(buf, 4, 0x00010000U));	/* htb 1: */
	kk_tc_qdiscs_add(&qs, qdiscmsg(buf, 4, 0x00200000U));	/* child 20: */
	ck_assert_uint_eq(qs.n, 5);
	n = kk_tc_parents(&qs, 2, p, 8, &classful);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(p[0], TC_H_UNSPEC);
	ck_assert(!classful);
	n = kk_tc_parents(&qs, 3, p, 8, &classful);
	ck_assert_uint_eq(n, 4);
	ck_assert(!classful);
	for (i = 0; i < n && p[i] != TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS);
	    i++)
		;
	ck_assert_uint_lt(i, n);
	for (i = 0; i < n && p[i] != TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS);
	    i++)
		;
	ck_assert_uint_lt(i, n);
	n = kk_tc_parents(&qs, 4, p, 8, &classful);
	ck_assert_uint_eq(n, 3);
	ck_assert(classful);
	ck_assert_uint_eq(p[1], 0x00010000U);
	ck_assert_uint_eq(p[2], 0x00200000U);
	/* past max: the caller sees more than it asked for */
	ck_assert_uint_gt(kk_tc_parents(&qs, 4, p, 2, &classful), 2);
	/* an interface with none: the root only */
	ck_assert_uint_eq(kk_tc_parents(&qs, 9, p, 8, &classful), 1);
}
END_TEST

/*
 * A filter event is reported once per interface until a look finds it
 * clear; a shared block's always.
 */
START_TEST(tc_events_reported)
{
	uint32_t egress = TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS);

	event(RTM_NEWLINK, 1, "lo", NULL, -1, 0);
	event(RTM_NEWLINK, 2, "eth0", NULL, -1, 0);
	kk_links_handle(&links, filtermsg(buf, 1, egress, "u32"), false,
	    collect, &rep);
	kk_links_handle(&links, filtermsg(buf, 1, egress, "bpf"), false,
	    collect, &rep);
	ck_assert_int_eq(rep.n, 1);
	ck_assert_int_eq(rep.ch[0].how, KK_LINK_TC);
	ck_assert_str_eq(rep.ch[0].name, "lo");
	ck_assert_str_eq(rep.ch[0].kind, "u32");
	ck_assert(links.known[0].tc);
	/* a look finds lo clear, then busy again: a second report */
	kk_links_tc_set(&links, 1, false, "", collect, &rep);
	ck_assert(!links.known[0].tc);
	kk_links_tc_set(&links, 1, true, "", collect, &rep);
	kk_links_tc_set(&links, 1, true, "", collect, &rep);
	ck_assert_int_eq(rep.n, 2);
	/* a filter on an interface not followed: nothing to name */
	kk_links_handle(&links, filtermsg(buf, 99, egress, "u32"), false,
	    collect, &rep);
	ck_assert_int_eq(rep.n, 2);
	kk_links_handle(&links, filtermsg(buf, -1, 3, "u32"), false, collect,
	    &rep);
	ck_assert_int_eq(rep.n, 3);
	ck_assert_str_eq(rep.ch[2].name, "block3");
	ck_assert_int_eq(rep.ch[2].ifindex, 0);
}
END_TEST

/* What kk_nl_request handed to the callback. */
struct seen {
	int n;
	int other_seq;		/* messages of another sequence number */
	uint32_t seq;
	bool lo;		/* ifindex 1 was among them */
	int fail_at;		/* fail on this message (1-based), 0 never */
};

static int
seen_cb(const struct nlmsghdr *nlh, void *data)
{
	struct seen *s = data;
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);

	s->n++;
	if (nlh->nlmsg_seq != s->seq)
		s->other_seq++;
	if (nlh->nlmsg_type == RTM_NEWLINK && ifi->ifi_index == 1)
		s->lo = true;
	return s->n == s->fail_at ? MNL_CB_ERROR : MNL_CB_OK;
}

static struct nlmsghdr *
getlink(char *b, uint32_t seq, int ifindex, uint16_t flags)
{
	struct ifinfomsg *ifi;
	struct nlmsghdr *nlh = kk_nl_put_request(b, RTM_GETLINK, flags, seq,
	    sizeof(*ifi), (void **)&ifi);

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	return nlh;
}

/* An RTM_GETLINK of seq (flags, ifindex) through kk_nl_request, into s. */
static int
ask(struct mnl_socket *nl, uint32_t seq, int ifindex, uint16_t flags,
    int fail_at, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	s->seq = seq;
	s->fail_at = fail_at;
	return kk_nl_request(nl, getlink(buf, seq, ifindex, flags), seen_cb,
	    s);
}

START_TEST(request_skips_leftovers)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
	struct nlmsghdr *nlh;
	struct seen s;

	ck_assert_ptr_nonnull(nl);
	ck_assert_int_ge(mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID), 0);
	/* an earlier request whose reply and ack nobody read */
	nlh = getlink(buf, 1, 1, NLM_F_ACK);
	ck_assert_int_ge(mnl_socket_sendto(nl, nlh, nlh->nlmsg_len), 0);
	ck_assert_int_eq(ask(nl, 2, 0, NLM_F_DUMP, 0, &s), 0);
	ck_assert_int_gt(s.n, 0);
	ck_assert_int_eq(s.other_seq, 0);
	ck_assert(s.lo);
	/* the kernel's refusal is the answer */
	ck_assert_int_eq(ask(nl, 3, 0x7ffffff0, NLM_F_ACK, 0, &s), -ENODEV);
	ck_assert_int_eq(s.n, 0);
	/* a callback that fails: reported, and the socket still answers */
	ck_assert_int_eq(ask(nl, 4, 0, NLM_F_DUMP, 1, &s), -EBADMSG);
	ck_assert_int_eq(s.n, 1);
	ck_assert_int_eq(ask(nl, 5, 1, NLM_F_ACK, 0, &s), 0);
	ck_assert_int_eq(s.n, 1);
	ck_assert(s.lo);
	mnl_socket_close(nl);
}
END_TEST

/*
 * A process's forged reply, sent to the request socket's port id as
 * root malware would: passed over and counted, and the request still
 * ends with the kernel's own answer; once the socket is connected to
 * the kernel, the kernel refuses the forger outright.
 */
START_TEST(forged_replies_passed_over)
{
	struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
	struct mnl_socket *forger = mnl_socket_open(NETLINK_ROUTE);
	struct sockaddr_nl to = { .nl_family = AF_NETLINK };
	struct nlmsghdr *nlh;
	unsigned long before = kk_nl_forged;
	struct seen s;

	ck_assert_ptr_nonnull(nl);
	ck_assert_ptr_nonnull(forger);
	ck_assert_int_ge(mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID), 0);
	ck_assert_int_ge(mnl_socket_bind(forger, 0, MNL_SOCKET_AUTOPID), 0);
	to.nl_pid = mnl_socket_get_portid(nl);
	/* a done that would end a dump of sequence 7 at once, empty */
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = NLMSG_DONE;
	nlh->nlmsg_seq = 7;
	nlh->nlmsg_pid = to.nl_pid;
	mnl_nlmsg_put_extra_header(nlh, sizeof(int));
	ck_assert_int_eq(sendto(mnl_socket_get_fd(forger), nlh,
	    nlh->nlmsg_len, 0, (struct sockaddr *)&to, sizeof(to)),
	    (ssize_t)nlh->nlmsg_len);
	ck_assert_int_eq(ask(nl, 7, 0, NLM_F_DUMP, 0, &s), 0);
	ck_assert_int_gt(s.n, 0);
	ck_assert(s.lo);
	ck_assert_uint_eq(kk_nl_forged, before + 1);
	/* connected to the kernel: the forger is refused */
	ck_assert_int_eq(kk_nl_kernel_only(nl), 0);
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = NLMSG_DONE;
	errno = 0;
	ck_assert_int_lt(sendto(mnl_socket_get_fd(forger), nlh,
	    nlh->nlmsg_len, 0, (struct sockaddr *)&to, sizeof(to)), 0);
	ck_assert_int_eq(errno, ECONNREFUSED);
	ck_assert_int_eq(ask(nl, 8, 1, NLM_F_ACK, 0, &s), 0);
	ck_assert(s.lo);
	mnl_socket_close(forger);
	mnl_socket_close(nl);
}
END_TEST

/* A link of l, as the watch records it. */
static void
put_link(struct kk_links *l, int ifindex, const char *name, const char *kind,
    unsigned short type)
{
	struct kk_link *k = &l->known[l->nknown++];

	memset(k, 0, sizeof(*k));
	k->ifindex = ifindex;
	snprintf(k->name, sizeof(k->name), "%s", name);
	snprintf(k->kind, sizeof(k->kind), "%s", kind);
	k->type = type;
}

/*
 * The netdev table's devices: Ethernet ones, and apart raw-IP ones (a
 * modem, tun, WireGuard), each sorted by name; not lo, a tunnel or PPP
 * (which status names instead); a device gone and back under its name
 * with a new index is a change.
 */
START_TEST(netdevs_ethernet_sorted)
{
	struct kk_links l;
	struct kd_netdevs a = { 0 }, b = { 0 };

	ck_assert_int_eq(kk_links_init(&l), 0);
	put_link(&l, 1, "lo", "", 772);		/* ARPHRD_LOOPBACK */
	put_link(&l, 5, "wlan0", "", 1);	/* ARPHRD_ETHER */
	put_link(&l, 3, "eth0", "", 1);
	put_link(&l, 9, "wg0", "wireguard", 65534);	/* ARPHRD_NONE */
	put_link(&l, 7, "veth1", "veth", 1);
	put_link(&l, 12, "wwan0", "", 519);	/* ARPHRD_RAWIP */
	put_link(&l, 13, "ppp0", "", 512);	/* ARPHRD_PPP */
	put_link(&l, 14, "tunl0", "ipip", 768);	/* ARPHRD_TUNNEL */
	ck_assert_int_eq(kd_netdevs_gather(&l, &a), 0);
	ck_assert_uint_eq(a.n, 3);
	ck_assert_str_eq(a.name[0], "eth0");
	ck_assert_str_eq(a.name[1], "veth1");
	ck_assert_str_eq(a.name[2], "wlan0");
	ck_assert_int_eq(a.ifindex[2], 5);
	ck_assert_uint_eq(a.nip, 2);
	ck_assert_str_eq(a.ipname[0], "wg0");
	ck_assert_str_eq(a.ipname[1], "wwan0");
	ck_assert_int_eq(a.ipifindex[1], 12);
	ck_assert(!a.over);
	ck_assert(kd_netdevs_has(&a, "veth1"));
	ck_assert(kd_netdevs_has(&a, "wwan0"));
	ck_assert(!kd_netdevs_has(&a, "ppp0"));
	ck_assert(!kd_netdevs_has(&a, "tunl0"));
	ck_assert(!kd_netdevs_has(&a, "lo"));
	ck_assert(kd_netdev_uncovered(512));		/* PPP */
	ck_assert(kd_netdev_uncovered(0xffff));		/* teql (VOID) */
	ck_assert(kd_netdev_uncovered(256));		/* SLIP */
	ck_assert(kd_netdev_uncovered(803));		/* Wi-Fi monitor */
	ck_assert(!kd_netdev_uncovered(768));		/* ipip */
	ck_assert(!kd_netdev_uncovered(1));
	ck_assert(!kd_netdev_uncovered(519));
	ck_assert(!kd_netdev_uncovered(65534));
	ck_assert(!kd_netdev_uncovered(772));		/* lo */
	ck_assert_int_eq(kd_netdevs_gather(&l, &b), 0);
	ck_assert(kd_netdevs_same(&a, &b));
	/* eth0 gone and made again: the same name, a new index */
	l.known[2].ifindex = 11;
	ck_assert_int_eq(kd_netdevs_gather(&l, &b), 0);
	ck_assert(!kd_netdevs_same(&a, &b));
	/* missing from the last dump: not hooked (the kernel may refuse it) */
	l.known[2].missing = true;
	ck_assert_int_eq(kd_netdevs_gather(&l, &b), 0);
	ck_assert_uint_eq(b.n, 2);
	/* the modem gone and back: a change of the raw-IP list alone */
	l.known[2].missing = false;
	l.known[2].ifindex = 3;
	ck_assert_int_eq(kd_netdevs_gather(&l, &b), 0);
	ck_assert(kd_netdevs_same(&a, &b));
	l.known[5].ifindex = 15;
	ck_assert_int_eq(kd_netdevs_gather(&l, &b), 0);
	ck_assert(!kd_netdevs_same(&a, &b));
	kd_netdevs_free(&a);
	kd_netdevs_free(&b);
	kk_links_close(&l);
}
END_TEST

/*
 * Past what one chain hooks, NICs (no kind) go in first: a flood of
 * virtual devices made before the isolation cannot push one out.
 */
START_TEST(netdevs_cap_keeps_hardware)
{
	struct kk_links l;
	struct kd_netdevs a = { 0 };
	char name[16];
	int i;

	ck_assert_int_eq(kk_links_init(&l), 0);
	for (i = 0; i < KK_NFT_NETDEVS_MAX + 20; i++) {
		snprintf(name, sizeof(name), "aa%d", i);
		put_link(&l, 100 + i, name, "veth", 1);
	}
	put_link(&l, 2, "zz-nic", "", 1);
	ck_assert_int_eq(kd_netdevs_gather(&l, &a), 0);
	ck_assert_uint_eq(a.n, KK_NFT_NETDEVS_MAX);
	ck_assert(a.over);
	ck_assert(kd_netdevs_has(&a, "zz-nic"));
	kd_netdevs_free(&a);
	kk_links_close(&l);
}
END_TEST

KK_SUITE(links_suite, "links",
	KK_CASE_FIXTURE("links", KK_CHECKED, 0, setup, teardown),
	    KK_TEST(moves_deletes_and_paired_veths),
	    KK_TEST(untracked_interface_still_reported),
	    KK_TEST(rescan_finds_what_vanished),
	    KK_TEST(uncovered_kinds),
	    KK_TEST(lower_and_xdp),
	    KK_TEST(xsk_bound_reported_once),
	    KK_TEST(renames_reported),
	    KK_TEST(tc_events_reported),
	KK_CASE("xsk", 0, 0), KK_TEST(xsk_replies),
	KK_CASE("tc", 0, 0), KK_TEST(tc_filters_parsed),
	    KK_TEST(tc_parents_of_qdiscs),
	KK_CASE("nlreq", 0, 0), KK_TEST(request_skips_leftovers),
	    KK_TEST(forged_replies_passed_over),
	KK_CASE("netdevs", 0, 0),
	    KK_TEST(netdevs_ethernet_sorted),
	    KK_TEST(netdevs_cap_keeps_hardware))
