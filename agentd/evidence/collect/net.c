/*
 * 01-routes.json: the routing table and the neighbour (ARP/NDP) cache,
 * with the links and addresses the routes refer to (rtnetlink).
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "collect.h"

/* ---- 01 routes: rtnetlink ------------------------------------------- */

struct links {
	size_t n;
	int index[LINK_MAP_MAX];
	char name[LINK_MAP_MAX][IFNAMSIZ];
};

static const char *
link_name(const struct links *l, int index)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->index[i] == index)
			return l->name[i];
	return NULL;
}

static void
set_dev(json_t *o, const struct links *l, int index)
{
	const char *name = link_name(l, index);

	col_set_int(o, "index", index);
	if (name != NULL)
		col_set_str(o, "dev", name);
}

/* from linux/if.h, which clashes with net/if.h */
#define KK_IFF_LOWER_UP	0x10000

static json_t *
link_flags(unsigned flags)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{ IFF_UP, "up" }, { IFF_BROADCAST, "broadcast" },
		{ IFF_LOOPBACK, "loopback" },
		{ IFF_POINTOPOINT, "pointopoint" },
		{ IFF_RUNNING, "running" }, { IFF_NOARP, "noarp" },
		{ IFF_PROMISC, "promisc" }, { IFF_ALLMULTI, "allmulti" },
		{ IFF_MULTICAST, "multicast" }, { KK_IFF_LOWER_UP, "lower_up" },
	};
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < sizeof(names) / sizeof(names[0]); i++)
		if (flags & names[i].bit)
			json_array_append_new(a, json_string(names[i].name));
	return a;
}

static size_t
link_fill(json_t *o, const void *hdr, const struct attrs *t, void *arg)
{
	static const char *const oper[] = { "unknown", "notpresent", "down",
	    "lowerlayerdown", "testing", "dormant", "up" };
	struct links *l = arg;
	const struct ifinfomsg *ifi = hdr;
	uint32_t v;

	if (t->tb[IFLA_IFNAME] != NULL && l->n < LINK_MAP_MAX) {
		const char *p = mnl_attr_get_payload(t->tb[IFLA_IFNAME]);
		size_t n = strnlen(p,
		    mnl_attr_get_payload_len(t->tb[IFLA_IFNAME]));

		if (n >= IFNAMSIZ)
			n = IFNAMSIZ - 1;
		l->index[l->n] = ifi->ifi_index;
		memcpy(l->name[l->n], p, n);
		l->name[l->n][n] = '\0';
		l->n++;
	}
	col_set_int(o, "index", ifi->ifi_index);
	if (t->tb[IFLA_IFNAME] != NULL)
		json_object_set_new(o, "name",
		    col_attr_str(t->tb[IFLA_IFNAME]));
	col_set_int(o, "type", ifi->ifi_type);
	json_object_set_new(o, "flags", link_flags(ifi->ifi_flags));
	if (col_attr_u32(t->tb[IFLA_MTU], &v))
		col_set_int(o, "mtu", v);
	col_set_lladdr(o, "mac", t->tb[IFLA_ADDRESS]);
	if (t->tb[IFLA_OPERSTATE] != NULL &&
	    mnl_attr_get_payload_len(t->tb[IFLA_OPERSTATE]) >= 1) {
		uint8_t s = mnl_attr_get_u8(t->tb[IFLA_OPERSTATE]);

		if (s < sizeof(oper) / sizeof(oper[0]))
			col_set_str(o, "operstate", oper[s]);
	}
	if (col_attr_u32(t->tb[IFLA_MASTER], &v))
		col_set_int(o, "master", v);
	if (t->tb[IFLA_LINKINFO] != NULL) {
		struct attrs li;

		memset(&li, 0, sizeof(li));
		if (mnl_attr_parse_nested(t->tb[IFLA_LINKINFO], col_attr_cb,
		    &li) >= 0 && li.tb[IFLA_INFO_KIND] != NULL)
			json_object_set_new(o, "link_kind",
			    col_attr_str(li.tb[IFLA_INFO_KIND]));
	}
	return 0;
}

static size_t
neigh_fill(json_t *o, const void *hdr, const struct attrs *t, void *arg)
{
	static const struct {
		unsigned bit;
		const char *name;
	} states[] = {
		{ NUD_INCOMPLETE, "incomplete" },
		{ NUD_REACHABLE, "reachable" },
		{ NUD_STALE, "stale" }, { NUD_DELAY, "delay" },
		{ NUD_PROBE, "probe" }, { NUD_FAILED, "failed" },
		{ NUD_NOARP, "noarp" }, { NUD_PERMANENT, "permanent" },
	};
	const struct links *l = arg;
	const struct ndmsg *nd = hdr;
	char st[128];
	size_t i;

	set_dev(o, l, nd->ndm_ifindex);
	col_set_addr(o, "address", nd->ndm_family, t->tb[NDA_DST]);
	col_set_lladdr(o, "lladdr", t->tb[NDA_LLADDR]);
	st[0] = '\0';
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		if (nd->ndm_state & states[i].bit) {
			if (st[0] != '\0')
				strcat(st, "|");
			strcat(st, states[i].name);
		}
	}
	col_set_str(o, "state", st[0] ? st : "none");
	if (nd->ndm_flags & NTF_ROUTER)
		col_set_bool(o, "router", true);
	return 0;
}

static void
set_table(json_t *o, uint32_t table)
{
	char buf[16];

	switch (table) {
	case RT_TABLE_MAIN:
		col_set_str(o, "table", "main");
		break;
	case RT_TABLE_LOCAL:
		col_set_str(o, "table", "local");
		break;
	case RT_TABLE_DEFAULT:
		col_set_str(o, "table", "default");
		break;
	default:
		snprintf(buf, sizeof(buf), "%u", table);
		col_set_str(o, "table", buf);
		break;
	}
}

static const char *
rt_type_name(unsigned type)
{
	static const char *const names[] = {
		"unspec", "unicast", "local", "broadcast", "anycast",
		"multicast", "blackhole", "unreachable", "prohibit", "throw",
		"nat", "xresolve",
	};

	return type < sizeof(names) / sizeof(names[0]) ? names[type] : NULL;
}

static const char *
rt_scope_name(unsigned scope)
{
	switch (scope) {
	case RT_SCOPE_UNIVERSE:
		return "global";
	case RT_SCOPE_SITE:
		return "site";
	case RT_SCOPE_LINK:
		return "link";
	case RT_SCOPE_HOST:
		return "host";
	case RT_SCOPE_NOWHERE:
		return "nowhere";
	default:
		return NULL;
	}
}

static const char *
rt_proto_name(unsigned proto)
{
	switch (proto) {
	case RTPROT_UNSPEC:
		return "unspec";
	case RTPROT_REDIRECT:
		return "redirect";
	case RTPROT_KERNEL:
		return "kernel";
	case RTPROT_BOOT:
		return "boot";
	case RTPROT_STATIC:
		return "static";
	case RTPROT_RA:
		return "ra";
	case RTPROT_DHCP:
		return "dhcp";
	default:
		return NULL;
	}
}

/* RTA_MULTIPATH: rtnexthop records, each followed by its own attributes */
static json_t *
nexthops(const struct nlattr *a, int family, const struct links *l)
{
	const struct rtnexthop *nh = mnl_attr_get_payload(a);
	int len = (int)mnl_attr_get_payload_len(a);
	json_t *arr = json_array();
	char buf[INET6_ADDRSTRLEN];
	unsigned i;

	for (i = 0; arr != NULL && i < 256 && RTNH_OK(nh, len); i++) {
		const struct rtattr *ra = RTNH_DATA(nh);
		int alen = nh->rtnh_len - (int)RTNH_LENGTH(0);
		json_t *o = json_object();

		if (o == NULL)
			break;
		set_dev(o, l, nh->rtnh_ifindex);
		col_set_int(o, "weight", nh->rtnh_hops + 1);
		for (; RTA_OK(ra, alen); ra = RTA_NEXT(ra, alen))
			if (ra->rta_type == RTA_GATEWAY && col_fmt_addr(family,
			    RTA_DATA(ra), RTA_PAYLOAD(ra), buf, sizeof(buf)))
				col_set_str(o, "gateway", buf);
		json_array_append_new(arr, o);
		len -= NLMSG_ALIGN(nh->rtnh_len);
		nh = RTNH_NEXT(nh);
	}
	return arr;
}

static size_t
route_fill(json_t *o, const void *hdr, const struct attrs *t, void *arg)
{
	const struct links *l = arg;
	const struct rtmsg *rt = hdr;
	uint32_t v;

	set_table(o, col_attr_u32(t->tb[RTA_TABLE], &v) ? v : rt->rtm_table);
	col_set_name_or_num(o, "type", rt_type_name(rt->rtm_type),
	    rt->rtm_type);
	col_set_prefix(o, "dst", rt->rtm_family, t->tb[RTA_DST],
	    rt->rtm_dst_len);
	if (t->tb[RTA_SRC] != NULL)
		col_set_prefix(o, "src", rt->rtm_family, t->tb[RTA_SRC],
		    rt->rtm_src_len);
	col_set_addr(o, "gateway", rt->rtm_family, t->tb[RTA_GATEWAY]);
	if (col_attr_u32(t->tb[RTA_OIF], &v))
		set_dev(o, l, (int)v);
	col_set_addr(o, "prefsrc", rt->rtm_family, t->tb[RTA_PREFSRC]);
	if (col_attr_u32(t->tb[RTA_PRIORITY], &v))
		col_set_int(o, "metric", v);
	col_set_name_or_num(o, "protocol", rt_proto_name(rt->rtm_protocol),
	    rt->rtm_protocol);
	col_set_name_or_num(o, "scope", rt_scope_name(rt->rtm_scope),
	    rt->rtm_scope);
	if (t->tb[RTA_MULTIPATH] != NULL)
		json_object_set_new(o, "nexthops",
		    nexthops(t->tb[RTA_MULTIPATH], rt->rtm_family, l));
	return 0;
}

static size_t
addr_fill(json_t *o, const void *hdr, const struct attrs *t, void *arg)
{
	const struct links *l = arg;
	const struct ifaddrmsg *ifa = hdr;
	const struct nlattr *local, *peer;
	json_t *fl;
	uint32_t flags;

	/* on point-to-point links IFA_LOCAL is ours and IFA_ADDRESS the peer */
	local = t->tb[IFA_LOCAL] ? t->tb[IFA_LOCAL] : t->tb[IFA_ADDRESS];
	peer = t->tb[IFA_LOCAL] ? t->tb[IFA_ADDRESS] : NULL;
	set_dev(o, l, (int)ifa->ifa_index);
	if (local != NULL)
		col_set_prefix(o, "address", ifa->ifa_family, local,
		    ifa->ifa_prefixlen);
	if (peer != NULL && local != NULL &&
	    (mnl_attr_get_payload_len(peer) !=
	    mnl_attr_get_payload_len(local) ||
	    memcmp(mnl_attr_get_payload(peer), mnl_attr_get_payload(local),
	    mnl_attr_get_payload_len(peer)) != 0))
		col_set_addr(o, "peer", ifa->ifa_family, peer);
	col_set_name_or_num(o, "scope", rt_scope_name(ifa->ifa_scope),
	    ifa->ifa_scope);
	if (t->tb[IFA_LABEL] != NULL)
		json_object_set_new(o, "label", col_attr_str(t->tb[IFA_LABEL]));
	if (!col_attr_u32(t->tb[IFA_FLAGS], &flags))
		flags = ifa->ifa_flags;
	if ((fl = json_array()) != NULL) {
		if (flags & IFA_F_SECONDARY)
			json_array_append_new(fl, json_string("secondary"));
		if (flags & IFA_F_PERMANENT)
			json_array_append_new(fl, json_string("permanent"));
		if (flags & IFA_F_TENTATIVE)
			json_array_append_new(fl, json_string("tentative"));
		if (flags & IFA_F_DEPRECATED)
			json_array_append_new(fl, json_string("deprecated"));
		if (flags & IFA_F_DADFAILED)
			json_array_append_new(fl, json_string("dadfailed"));
	}
	json_object_set_new(o, "flags", fl);
	return 0;
}

void
collect_routes(struct collector *c, struct art *b)
{
	static const struct {
		uint16_t type;
		uint8_t family;
		uint16_t item_type;
		size_t hdrlen;
		const char *kind;
		bool with_family;
		size_t (*fill)(json_t *, const void *, const struct attrs *,
		    void *);
		const char *what;
	} dumps[] = {
		/* links first: the others name their devices from them */
		{ RTM_GETLINK, AF_UNSPEC, RTM_NEWLINK,
		    sizeof(struct ifinfomsg), "link", false, link_fill,
		    "links" },
		{ RTM_GETNEIGH, AF_INET, RTM_NEWNEIGH, sizeof(struct ndmsg),
		    "neighbour", true, neigh_fill, "neighbours/inet" },
		{ RTM_GETNEIGH, AF_INET6, RTM_NEWNEIGH, sizeof(struct ndmsg),
		    "neighbour", true, neigh_fill, "neighbours/inet6" },
		{ RTM_GETROUTE, AF_INET, RTM_NEWROUTE, sizeof(struct rtmsg),
		    "route", true, route_fill, "routes/inet" },
		{ RTM_GETROUTE, AF_INET6, RTM_NEWROUTE, sizeof(struct rtmsg),
		    "route", true, route_fill, "routes/inet6" },
		{ RTM_GETADDR, AF_UNSPEC, RTM_NEWADDR,
		    sizeof(struct ifaddrmsg), "address", true, addr_fill,
		    "addresses" },
	};
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct col_nl_items items = { .b = b, .key = "kind" };
	struct links *links;
	size_t i;
	int err;

	if ((links = calloc(1, sizeof(*links))) == NULL) {
		col_art_error(b, "out of memory");
		return;
	}
	items.arg = links;
	for (i = 0; i < sizeof(dumps) / sizeof(dumps[0]) && col_art_alive(b);
	    i++) {
		struct nlmsghdr *nlh = col_rt_request(buf, dumps[i].type,
		    dumps[i].family, dumps[i].hdrlen);

		items.type = dumps[i].item_type;
		items.hdrlen = dumps[i].hdrlen;
		items.value = dumps[i].kind;
		items.with_family = dumps[i].with_family;
		items.fill = dumps[i].fill;
		if ((err = col_nl_dump(c, NETLINK_ROUTE, nlh, col_nl_items_cb,
		    &items)) < 0)
			col_nl_failed(b, dumps[i].what, err);
	}
	free(links);
}
