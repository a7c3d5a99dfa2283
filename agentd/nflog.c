/*
 * Who tried (issue 12, item 2): the block lists' log rules copy a few
 * packets a second (blocklists.log_rate) to NFLOG group
 * blocklists.log_group with the prefix "kakuri:<list>"; kakurid reads
 * them here, over nfnetlink_log with libmnl in the parent's event loop,
 * and sums them per list by (direction, the listed host's address, the
 * destination port, protocol, uid): the rules of packets from the
 * listed addresses add ":in" to the prefix, so that the report names the
 * listed host, not this one.  Once
 * every blocklists.report_interval seconds, each list that had hits gets
 * one "blocked" report in the outbox.
 *
 * Memory is bounded: at most NFLOG_TUPLES_MAX distinct tuples per list
 * and interval; packets beyond them are only counted (dropped_hits).  The
 * counter of the drop rule stays exact however few packets are logged:
 * the log rule comes before it (nft/rules.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <jansson.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <systemd/sd-event.h>

#include "daemon.h"
#include "log.h"
#include "nflog.h"
#include "nlreq.h"
#include "outbox.h"
#include "wire.h"

#define NFLOG_TUPLES_MAX	256	/* distinct tuples per list and interval */
#define NFLOG_COPY		128	/* bytes of each packet: its headers */
#define NFLOG_BUF		(64 * 1024)

struct hit {
	struct kd_nflog_tuple t;
	uint64_t count;
	time_t first, last;
};

struct tally {
	char list[KD_BLOCK_NAME_MAX + 1];
	struct hit hits[NFLOG_TUPLES_MAX];
	size_t n;
	uint64_t logged;	/* packets seen, in tuples or not */
	uint64_t dropped;	/* beyond NFLOG_TUPLES_MAX */
	time_t from;
};

struct kd_nflog {
	struct mnl_socket *nl;
	sd_event_source *io, *timer;
	uint16_t group;
	/* the lists with hits since the last report, each made at its first */
	struct tally *t[KD_BLOCK_LISTS_MAX];
	size_t nt;
	unsigned long reports;
};

static int
config(struct mnl_socket *nl, uint16_t group, uint8_t cmd, bool mode)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *g;
	ssize_t n;
	struct nfulnl_msg_config_cmd c = { .command = cmd };
	struct nfulnl_msg_config_mode m = {
		.copy_range = htonl(NFLOG_COPY), .copy_mode = NFULNL_COPY_PACKET,
	};

	nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = AF_UNSPEC;
	g->version = NFNETLINK_V0;
	g->res_id = htons(group);
	if (mode)
		mnl_attr_put(nlh, NFULA_CFG_MODE, sizeof(m), &m);
	else
		mnl_attr_put(nlh, NFULA_CFG_CMD, sizeof(c), &c);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	/* the kernel's acknowledgement, and nothing a process slipped in */
	if ((n = kk_nl_recv(mnl_socket_get_fd(nl), buf, sizeof(buf),
	    KK_NL_BUDGET_MS)) < 0)
		return (int)n;
	return mnl_cb_run(buf, (size_t)n, 0, 0, NULL, NULL) < 0 ? -errno : 0;
}

static struct tally *
tally_of(struct kd_nflog *nf, const char *list, size_t len)
{
	size_t i;

	for (i = 0; i < nf->nt; i++)
		if (strlen(nf->t[i]->list) == len &&
		    memcmp(nf->t[i]->list, list, len) == 0)
			return nf->t[i];
	/* a list's first hit since the last report makes its tally */
	if (nf->nt >= KD_BLOCK_LISTS_MAX || len > KD_BLOCK_NAME_MAX ||
	    (nf->t[nf->nt] = calloc(1, sizeof(struct tally))) == NULL)
		return NULL;
	memcpy(nf->t[nf->nt]->list, list, len);
	return nf->t[nf->nt++];
}

/* The tallies reported, or dropped with the socket: none is kept idle. */
static void
tallies_free(struct kd_nflog *nf)
{
	while (nf->nt > 0)
		free(nf->t[--nf->nt]);
}

/*
 * The tuple of a packet (its network header first): -EBADMSG if it is
 * shorter than its IP header.  The address is the listed host's: the
 * source of a packet from it (t->in), else the destination.  The port
 * (always the destination port) only where the transport header is in
 * the copy: not in a later fragment, nor behind IPv6 extension headers.
 */
static int
tuple_of(const uint8_t *p, size_t len, struct kd_nflog_tuple *t)
{
	size_t l4;

	if (len >= 1 && p[0] >> 4 == 4) {
		l4 = (size_t)(p[0] & 0xf) * 4;
		if (len < 20 || l4 < 20 || len < l4)
			return -EBADMSG;
		t->af = AF_INET;
		memcpy(t->addr, p + (t->in ? 12 : 16), 4);
		t->proto = p[9];
		if (((p[6] & 0x1f) << 8 | p[7]) != 0)
			return 0;	/* a later fragment: no ports in it */
	} else if (len >= 1 && p[0] >> 4 == 6) {
		if (len < 40)
			return -EBADMSG;
		t->af = AF_INET6;
		memcpy(t->addr, p + (t->in ? 8 : 24), 16);
		t->proto = p[6];
		l4 = 40;
	} else {
		return -EBADMSG;
	}
	if ((t->proto == IPPROTO_TCP || t->proto == IPPROTO_UDP) &&
	    len >= l4 + 4)
		t->port = (uint16_t)(p[l4 + 2] << 8 | p[l4 + 3]);
	return 0;
}

static void
count(struct tally *t, const struct kd_nflog_tuple *k, time_t now)
{
	struct hit *x;
	size_t i;

	if (t->logged++ == 0)
		t->from = now;
	for (i = 0; i < t->n; i++) {
		x = &t->hits[i];
		if (x->t.af == k->af && x->t.in == k->in &&
		    x->t.port == k->port &&
		    x->t.proto == k->proto && x->t.has_uid == k->has_uid &&
		    x->t.uid == k->uid && memcmp(x->t.addr, k->addr, 16) == 0) {
			x->count++;
			x->last = now;
			return;
		}
	}
	if (t->n >= NFLOG_TUPLES_MAX) {
		t->dropped++;
		return;
	}
	x = &t->hits[t->n++];
	x->t = *k;
	x->count = 1;
	x->first = x->last = now;
}

struct attrs {
	const struct nlattr *prefix, *payload, *uid;
};

/*
 * The attributes after the nfgenmsg: -EBADMSG if one is cut short
 * (libmnl's walk stops there without saying so).
 */
static int
attrs_of(const struct nlmsghdr *nlh, struct attrs *at)
{
	const struct nlattr *a;
	const char *tail = mnl_nlmsg_get_payload_tail(nlh);

	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(struct nfgenmsg))
		return -EBADMSG;
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		switch (mnl_attr_get_type(a)) {
		case NFULA_PREFIX:
			at->prefix = a;
			break;
		case NFULA_PAYLOAD:
			at->payload = a;
			break;
		case NFULA_UID:
			at->uid = a;
			break;
		}
	}
	/* what is left is less than an attribute header: padding */
	return tail - (const char *)a >= (ptrdiff_t)MNL_ATTR_HDRLEN ?
	    -EBADMSG : 0;
}

int
kd_nflog_parse(const struct nlmsghdr *nlh, struct kd_nflog_packet *pk)
{
	const size_t pre = strlen(KK_NFT_BLOCK_PREFIX);
	const size_t suf = strlen(KK_NFT_BLOCK_IN_SUFFIX);
	struct attrs at = { 0 };
	const char *prefix;
	size_t plen;

	memset(pk, 0, sizeof(*pk));
	if ((nlh->nlmsg_type & 0xff) != NFULNL_MSG_PACKET ||
	    (nlh->nlmsg_type >> 8) != NFNL_SUBSYS_ULOG)
		return -ENOENT;
	if (attrs_of(nlh, &at) < 0)
		return -EBADMSG;
	if (at.prefix == NULL)
		return -ENOENT;
	prefix = mnl_attr_get_payload(at.prefix);
	plen = strnlen(prefix, mnl_attr_get_payload_len(at.prefix));
	if (plen < pre || memcmp(prefix, KK_NFT_BLOCK_PREFIX, pre) != 0)
		return -ENOENT;		/* another rule's log */
	pk->list = prefix + pre;
	pk->list_len = plen - pre;
	/* a "from them" rule's: the listed host is the packet's source */
	if (pk->list_len >= suf && memcmp(pk->list + pk->list_len - suf,
	    KK_NFT_BLOCK_IN_SUFFIX, suf) == 0) {
		pk->list_len -= suf;
		pk->tuple.in = true;
	}
	if (!kd_blocklist_name_ok(pk->list, pk->list_len) ||
	    at.payload == NULL || (at.uid != NULL &&
	    mnl_attr_validate(at.uid, MNL_TYPE_U32) < 0))
		return -EBADMSG;
	if (at.uid != NULL) {
		pk->tuple.uid = ntohl(mnl_attr_get_u32(at.uid));
		pk->tuple.has_uid = true;
	}
	return tuple_of(mnl_attr_get_payload(at.payload),
	    mnl_attr_get_payload_len(at.payload), &pk->tuple);
}

/* One logged packet of a block list, counted. */
static int
packet_cb(const struct nlmsghdr *nlh, void *data)
{
	struct kd_nflog *nf = data;
	struct kd_nflog_packet pk;
	struct tally *t;

	if (kd_nflog_parse(nlh, &pk) == 0 &&
	    (t = tally_of(nf, pk.list, pk.list_len)) != NULL)
		count(t, &pk.tuple, time(NULL));
	return MNL_CB_OK;
}

static int
on_readable(sd_event_source *s, int fd, uint32_t revents, void *arg)
{
	struct kd *d = arg;
	struct kd_nflog *nf = d->nflog;
	static char buf[NFLOG_BUF];
	ssize_t n;
	int i;

	(void)s;
	(void)fd;
	(void)revents;
	/* a bounded batch per wake-up: the loop has other work */
	for (i = 0; i < 64; i++) {
		n = kk_nl_recv_kernel(mnl_socket_get_fd(nf->nl), buf,
		    sizeof(buf));
		if (n == -ENOMSG)
			continue;	/* a flood of others': the kernel's next */
		if (n <= 0)
			break;
		mnl_cb_run(buf, (size_t)n, 0, 0, packet_cb, nf);
	}
	return 0;
}

static json_t *
hits_json(const struct tally *t)
{
	char addr[INET6_ADDRSTRLEN], first[40], last[40];
	json_t *a = json_array(), *o;
	size_t i;

	for (i = 0; a != NULL && i < t->n; i++) {
		const struct hit *h = &t->hits[i];

		inet_ntop(h->t.af, h->t.addr, addr, sizeof(addr));
		kk_rfc3339(h->first, first, sizeof(first));
		kk_rfc3339(h->last, last, sizeof(last));
		/*
		 * The listed host under the name of its side of the packet:
		 * "destination" going out (as before), "source" coming in.
		 */
		o = json_pack("{s:s, s:s, s:i, s:i, s:I, s:s, s:s}",
		    KW_DIRECTION, h->t.in ? "in" : "out",
		    h->t.in ? KW_SOURCE : KW_DESTINATION, addr, KW_PORT,
		    h->t.port, KW_PROTOCOL, h->t.proto, KW_COUNT,
		    (json_int_t)h->count, KW_FIRST_SEEN, first, KW_LAST_SEEN,
		    last);
		if (o != NULL && h->t.has_uid)
			json_object_set_new(o, KW_UID, json_integer(h->t.uid));
		json_array_append_new(a, o);
	}
	return a;
}

/* One "blocked" report per list that had hits since the last one. */
static void
report_hits(struct kd *d)
{
	struct kd_nflog *nf = d->nflog;
	const struct kd_blocklist *b;
	char id[KK_EPISODE_HEX + 1], from[40], to[40];
	struct tally *t;
	json_t *body;
	size_t i;

	for (i = 0; i < nf->nt; i++) {
		t = nf->t[i];
		if (t->logged == 0)
			continue;
		b = kd_blocklists_find(&d->blocklists, t->list);
		kk_rfc3339(t->from, from, sizeof(from));
		kk_rfc3339(time(NULL), to, sizeof(to));
		body = json_pack("{s:s, s:I, s:s, s:s, s:o, s:I, s:I}",
		    KW_SET, t->list, KW_VERSION, (json_int_t)(b ? b->version : 0),
		    KW_FROM, from, KW_TO, to, KW_HITS, hits_json(t),
		    KW_DROPPED_HITS, (json_int_t)t->dropped,
		    KW_LOGGED, (json_int_t)t->logged);
		if (body == NULL ||
		    kd_outbox_put(d, KK_REPORT_BLOCKED, body, id) < 0)
			kk_log(LOG_ERR, KK_MID_ERROR, "blocked report of %s: %s",
			    t->list, body ? kd_outbox_error(d) : "no memory");
		else
			nf->reports++;
		json_decref(body);
	}
	tallies_free(nf);
}

static int
on_timer(sd_event_source *s, uint64_t usec, void *arg)
{
	struct kd *d = arg;

	report_hits(d);
	sd_event_source_set_time(s, usec + (uint64_t)
	    d->policy->block_report_interval * 1000000);
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

/* What start made, whole or in part. */
static void
nflog_free(struct kd_nflog *nf)
{
	nf->io = sd_event_source_disable_unref(nf->io);
	nf->timer = sd_event_source_disable_unref(nf->timer);
	if (nf->nl != NULL)
		mnl_socket_close(nf->nl);
	tallies_free(nf);
	free(nf);
}

int
kd_nflog_start(struct kd *d)
{
	const struct kk_policy *p = d->policy;
	struct kd_nflog *nf;
	uint64_t now;
	int err;

	if (p->block_log_rate == 0)
		return 0;
	if ((nf = calloc(1, sizeof(*nf))) == NULL)
		return -ENOMEM;
	nf->group = (uint16_t)p->block_log_group;
	nf->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC |
	    SOCK_NONBLOCK);
	/* packets come as unicast: only the kernel's may (kk_nl_kernel_only) */
	if (nf->nl == NULL || mnl_socket_bind(nf->nl, 0,
	    MNL_SOCKET_AUTOPID) < 0 || kk_nl_kernel_only(nf->nl) < 0) {
		err = -errno;
		goto fail;
	}
	/* blocking for the configuration's acks, then not */
	if ((err = config(nf->nl, nf->group, NFULNL_CFG_CMD_BIND, false)) < 0 ||
	    (err = config(nf->nl, nf->group, 0, true)) < 0)
		goto fail;
	if ((err = sd_event_add_io(d->ev, &nf->io, mnl_socket_get_fd(nf->nl),
	    EPOLLIN, on_readable, d)) < 0 ||
	    (err = sd_event_now(d->ev, CLOCK_MONOTONIC, &now)) < 0 ||
	    (err = sd_event_add_time(d->ev, &nf->timer, CLOCK_MONOTONIC,
	    now + (uint64_t)p->block_report_interval * 1000000, 1000000,
	    on_timer, d)) < 0 ||
	    (err = sd_event_source_set_enabled(nf->timer,
	    SD_EVENT_ONESHOT)) < 0)
		goto fail;
	d->nflog = nf;
	return 0;
fail:
	nflog_free(nf);
	return err;
}

void
kd_nflog_stop(struct kd *d)
{
	struct kd_nflog *nf = d->nflog;

	if (nf == NULL)
		return;
	nflog_free(nf);
	d->nflog = NULL;
}

void
kd_nflog_reload(struct kd *d)
{
	const struct kk_policy *p = d->policy;
	struct kd_nflog *nf = d->nflog;
	int err;

	/* the same group, logging still: the socket is the right one */
	if ((nf == NULL && p->block_log_rate == 0) || (nf != NULL &&
	    p->block_log_rate != 0 && nf->group == p->block_log_group))
		return;
	/* what the old group counted is reported, then read the new one */
	if (nf != NULL)
		report_hits(d);
	kd_nflog_stop(d);
	if ((err = kd_nflog_start(d)) < 0)
		kk_log(LOG_ERR, KK_MID_POLICY, "blocklists: NFLOG group %d "
		    "cannot be read (%s): no blocked reports", p->block_log_group,
		    strerror(-err));
}
