/*
 * The NFLOG parser (agentd/nflog.c, kd_nflog_parse): nfnetlink_log
 * messages built here with libmnl as the kernel sends them for the
 * block lists' log rules, and malformed ones it must refuse.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <check.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>

#include "blocklist.h"
#include "nflog.h"
#include "suites.h"
#include "testutil.h"

#define DST4		"192.0.2.66"
#define DST6		"2001:db8::66"
#define SRC4		"198.51.100.7"
#define SRC6		"2001:db8:2::7"

/* the packets a log rule copies: their network header first */
enum packet {
	V4_TCP,		/* to DST4:443 */
	V6_UDP,		/* to [DST6]:53 */
	V4_HEADER_ONLY,	/* TCP, the copy ends with the IP header */
	V4_FRAGMENT,	/* a later fragment: no ports in it */
	V4_SHORT,	/* 19 bytes */
	V6_SHORT,	/* 39 bytes */
	V4_IHL_4,	/* a header length below the minimum */
	V5,		/* no IP version kakurid knows */
	NO_PAYLOAD,
};

static size_t
packet(enum packet kind, uint8_t *p)
{
	memset(p, 0, 64);
	switch (kind) {
	case V4_TCP:
	case V4_HEADER_ONLY:
	case V4_FRAGMENT:
	case V4_SHORT:
	case V4_IHL_4:
		p[0] = kind == V4_IHL_4 ? 0x44 : 0x45;
		p[9] = IPPROTO_TCP;
		inet_pton(AF_INET, SRC4, p + 12);
		inet_pton(AF_INET, DST4, p + 16);
		p[20] = 40000 >> 8;	/* a passing source port */
		p[21] = 40000 & 0xff;
		p[22] = 443 >> 8;
		p[23] = 443 & 0xff;
		if (kind == V4_FRAGMENT)
			p[7] = 185;	/* offset 1480 */
		return kind == V4_HEADER_ONLY ? 20 : kind == V4_SHORT ? 19 : 40;
	case V6_UDP:
	case V6_SHORT:
		p[0] = 0x60;
		p[6] = IPPROTO_UDP;
		inet_pton(AF_INET6, SRC6, p + 8);
		inet_pton(AF_INET6, DST6, p + 24);
		p[40] = 40000 >> 8;
		p[41] = 40000 & 0xff;
		p[42] = 0;
		p[43] = 53;
		return kind == V6_SHORT ? 39 : 48;
	case V5:
		p[0] = 0x50;
		return 40;
	case NO_PAYLOAD:
		break;
	}
	return 0;
}

#define CUT_UID_SHORT	1	/* NFULA_UID of two bytes */
#define CUT_LAST_ATTR	2	/* the message ends inside its last attribute (a gid) */
#define OTHER_TYPE	4	/* NFULNL_MSG_CONFIG, not a packet */

/* An NFULNL_MSG_PACKET message: prefix (NULL: none), uid (< 0: none). */
static struct nlmsghdr *
message(char *buf, const char *prefix, long uid, enum packet kind, int how)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *g;
	uint8_t p[64];
	size_t len = packet(kind, p);

	nlh->nlmsg_type = NFNL_SUBSYS_ULOG << 8 |
	    (how & OTHER_TYPE ? NFULNL_MSG_CONFIG : NFULNL_MSG_PACKET);
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = kind == V6_UDP ? AF_INET6 : AF_INET;
	g->version = NFNETLINK_V0;
	if (prefix != NULL)
		mnl_attr_put_strz(nlh, NFULA_PREFIX, prefix);
	if (how & CUT_UID_SHORT)
		mnl_attr_put_u16(nlh, NFULA_UID, 1000);
	else if (uid >= 0)
		mnl_attr_put_u32(nlh, NFULA_UID, htonl((uint32_t)uid));
	if (kind != NO_PAYLOAD)
		mnl_attr_put(nlh, NFULA_PAYLOAD, len, p);
	if (how & CUT_LAST_ATTR) {
		mnl_attr_put_u32(nlh, NFULA_GID, htonl(100));
		nlh->nlmsg_len -= 4;
	}
	return nlh;
}

START_TEST(test_parse)
{
	static const struct {
		const char *what, *prefix;
		long uid;
		enum packet kind;
		int how, rc, af, proto, port;
	} rows[] = {
		{ "IPv4 TCP with uid", "kakuri:c2", 1001, V4_TCP, 0, 0,
		    AF_INET, IPPROTO_TCP, 443 },
		{ "IPv6 UDP without uid", "kakuri:c2", -1, V6_UDP, 0, 0,
		    AF_INET6, IPPROTO_UDP, 53 },
		{ "uid 0 is a uid", "kakuri:c2", 0, V6_UDP, 0, 0,
		    AF_INET6, IPPROTO_UDP, 53 },
		{ "the copy ends with the IP header", "kakuri:c2", -1,
		    V4_HEADER_ONLY, 0, 0, AF_INET, IPPROTO_TCP, 0 },
		{ "a later fragment", "kakuri:c2", -1, V4_FRAGMENT, 0, 0,
		    AF_INET, IPPROTO_TCP, 0 },
		{ "IPv4 payload shorter than its header", "kakuri:c2", -1,
		    V4_SHORT, 0, -EBADMSG, 0, 0, 0 },
		{ "IPv6 payload shorter than its header", "kakuri:c2", -1,
		    V6_SHORT, 0, -EBADMSG, 0, 0, 0 },
		{ "an IPv4 header length of 16", "kakuri:c2", -1, V4_IHL_4, 0,
		    -EBADMSG, 0, 0, 0 },
		{ "IP version 5", "kakuri:c2", -1, V5, 0, -EBADMSG, 0, 0, 0 },
		{ "no payload", "kakuri:c2", -1, NO_PAYLOAD, 0, -EBADMSG,
		    0, 0, 0 },
		{ "a uid of two bytes", "kakuri:c2", -1, V4_TCP, CUT_UID_SHORT,
		    -EBADMSG, 0, 0, 0 },
		{ "attributes cut short", "kakuri:c2", 1001, V4_TCP,
		    CUT_LAST_ATTR, -EBADMSG, 0, 0, 0 },
		{ "another rule's prefix", "ssh-drop:", 1001, V4_TCP, 0,
		    -ENOENT, 0, 0, 0 },
		{ "a prefix like kakuri's", "kakur", 1001, V4_TCP, 0, -ENOENT,
		    0, 0, 0 },
		{ "no prefix", NULL, 1001, V4_TCP, 0, -ENOENT, 0, 0, 0 },
		{ "no list name", "kakuri:", 1001, V4_TCP, 0, -EBADMSG,
		    0, 0, 0 },
		{ "a list name longer than any list's", "kakuri:abcdefghijklmnopq",
		    1001, V4_TCP, 0, -EBADMSG, 0, 0, 0 },
		{ "from the list: the port tried", "kakuri:c2:in", -1, V4_TCP,
		    0, 0, AF_INET, IPPROTO_TCP, 443 },
		{ "from the list, IPv6", "kakuri:c2:in", -1, V6_UDP, 0, 0,
		    AF_INET6, IPPROTO_UDP, 53 },
		{ "no list name before :in", "kakuri::in", -1, V4_TCP, 0,
		    -EBADMSG, 0, 0, 0 },
		{ "a list name that is not a name", "kakuri:c2:out", -1, V4_TCP,
		    0, -EBADMSG, 0, 0, 0 },
		{ "a list name with a capital", "kakuri:C2", -1, V4_TCP, 0,
		    -EBADMSG, 0, 0, 0 },
		{ "not a packet", "kakuri:c2", 1001, V4_TCP, OTHER_TYPE,
		    -ENOENT, 0, 0, 0 },
	};
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct kd_nflog_packet pk;
	struct nlmsghdr *nlh;
	size_t i;
	int rc;

	ck_assert_int_eq(strlen("abcdefghijklmnopq"), KD_BLOCK_NAME_MAX + 1);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		nlh = message(buf, rows[i].prefix, rows[i].uid, rows[i].kind,
		    rows[i].how);
		rc = kd_nflog_parse(nlh, &pk);
		ck_assert_msg(rc == rows[i].rc, "%s: %d", rows[i].what, rc);
		if (rc < 0)
			continue;
		ck_assert_msg(pk.tuple.af == rows[i].af &&
		    pk.tuple.proto == rows[i].proto &&
		    pk.tuple.port == rows[i].port, "%s: af %d proto %d port %d",
		    rows[i].what, pk.tuple.af, pk.tuple.proto, pk.tuple.port);
		ck_assert_msg(pk.tuple.has_uid == (rows[i].uid >= 0) &&
		    (rows[i].uid < 0 || pk.tuple.uid == (uint32_t)rows[i].uid),
		    "%s: uid", rows[i].what);
		ck_assert_msg(pk.list_len == 2 && memcmp(pk.list, "c2", 2) == 0,
		    "%s: list", rows[i].what);
	}
}
END_TEST

/*
 * The listed host's address: the destination going to it, the source
 * coming from it (":in"), never this host's; and the longest list name
 * there can be.
 */
START_TEST(test_addresses)
{
	char buf[MNL_SOCKET_BUFFER_SIZE], text[INET6_ADDRSTRLEN];
	struct kd_nflog_packet pk;

	ck_assert_int_eq(kd_nflog_parse(message(buf, "kakuri:c2", 7, V4_TCP, 0),
	    &pk), 0);
	ck_assert_str_eq(inet_ntop(AF_INET, pk.tuple.addr, text, sizeof(text)),
	    DST4);
	ck_assert(!pk.tuple.in);
	ck_assert_int_eq(kd_nflog_parse(message(buf, "kakuri:c2:in", -1,
	    V4_TCP, 0), &pk), 0);
	ck_assert_str_eq(inet_ntop(AF_INET, pk.tuple.addr, text, sizeof(text)),
	    SRC4);
	ck_assert(pk.tuple.in);
	ck_assert_uint_eq(pk.tuple.port, 443);	/* ours it tried, not its own */
	ck_assert_uint_eq(pk.list_len, 2);
	ck_assert(memcmp(pk.list, "c2", 2) == 0);
	ck_assert_int_eq(kd_nflog_parse(message(buf,
	    "kakuri:abcdefghijklmnop:in", -1, V6_UDP, 0), &pk), 0);
	ck_assert_str_eq(inet_ntop(AF_INET6, pk.tuple.addr, text,
	    sizeof(text)), SRC6);
	ck_assert(pk.tuple.in);
	ck_assert_uint_eq(pk.list_len, KD_BLOCK_NAME_MAX);
	ck_assert_int_eq(kd_nflog_parse(message(buf, "kakuri:abcdefghijklmnop",
	    -1, V6_UDP, 0), &pk), 0);
	ck_assert_str_eq(inet_ntop(AF_INET6, pk.tuple.addr, text,
	    sizeof(text)), DST6);
	ck_assert_uint_eq(pk.list_len, KD_BLOCK_NAME_MAX);
	ck_assert(memcmp(pk.list, "abcdefghijklmnop", KD_BLOCK_NAME_MAX) == 0);
}
END_TEST

KK_SUITE(nflog_suite, "nflog",
	KK_CASE("parse", 0, 0), KK_TEST(test_parse), KK_TEST(test_addresses))
