/*
 * Send the batch built by nft_build.c, read the table back and compare,
 * and watch nftables events for other processes touching the table.
 *
 * The socket that creates the table owns it (NFT_TABLE_F_OWNER): every
 * later change must come through the same socket, so kakurid keeps one
 * open for its whole life.  With NFT_TABLE_F_PERSIST the table outlives
 * the socket (kakurid's death) and a new kakurid claims it again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "nft.h"

#define RECV_TIMEOUT_MS	2000
#define RECV_BUFSZ	(MNL_SOCKET_BUFFER_SIZE * 4)

static const char *const chain_order[KK_NFT_MAX_CHAINS] = {
	"input", "output", "forward",
};

static int
set_err(struct kk_nft *n, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
set_err(struct kk_nft *n, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(n->err, sizeof(n->err), fmt, ap);
	va_end(ap);
	return err;
}

int
kk_nft_open(struct kk_nft *n)
{
	struct timeval tv = { .tv_sec = RECV_TIMEOUT_MS / 1000 };

	memset(n, 0, sizeof(*n));
	n->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (n->nl == NULL)
		return set_err(n, -errno, "netlink socket: %s", strerror(errno));
	if (mnl_socket_bind(n->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int err = -errno;

		mnl_socket_close(n->nl);
		n->nl = NULL;
		return set_err(n, err, "netlink bind: %s", strerror(-err));
	}
	/* every receive is bounded: a silent kernel must not hang kakurid */
	setsockopt(mnl_socket_get_fd(n->nl), SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv));
	n->portid = mnl_socket_get_portid(n->nl);
	n->seq = (uint32_t)time(NULL);
	return 0;
}

void
kk_nft_close(struct kk_nft *n)
{
	if (n->nl)
		mnl_socket_close(n->nl);
	if (n->mon)
		mnl_socket_close(n->mon);
	n->nl = NULL;
	n->mon = NULL;
}

/* Dumps: send one request, hand every reply message to cb. */
static int
dump(struct kk_nft *n, struct nlmsghdr *req, mnl_cb_t cb, void *data)
{
	char *buf;
	uint32_t seq = req->nlmsg_seq;
	ssize_t len;
	int ret, i;

	if (mnl_socket_sendto(n->nl, req, req->nlmsg_len) < 0)
		return -errno;
	buf = malloc(RECV_BUFSZ);
	if (buf == NULL)
		return -ENOMEM;
	/* bounded: a dump of our one table is a handful of messages */
	for (i = 0; i < 4096; i++) {
		len = mnl_socket_recvfrom(n->nl, buf, RECV_BUFSZ);
		if (len < 0) {
			ret = errno == EAGAIN ? -ETIMEDOUT : -errno;
			goto out;
		}
		ret = mnl_cb_run(buf, (size_t)len, seq, n->portid, cb, data);
		if (ret < 0) {
			ret = -errno;
			goto out;
		}
		if (ret == MNL_CB_STOP) {
			ret = 0;
			goto out;
		}
	}
	ret = -E2BIG;
out:
	free(buf);
	return ret;
}

static int
table_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_table **tp = data;
	struct nftnl_table *t = nftnl_table_alloc();

	if (t == NULL)
		return MNL_CB_ERROR;
	if (nftnl_table_nlmsg_parse(nlh, t) < 0) {
		nftnl_table_free(t);
		return MNL_CB_ERROR;
	}
	if (*tp)
		nftnl_table_free(*tp);
	*tp = t;
	return MNL_CB_OK;
}

static int
get_table(struct kk_nft *n, struct nftnl_table **out)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_table *q;
	struct nlmsghdr *nlh;
	int err;

	*out = NULL;
	q = nftnl_table_alloc();
	if (q == NULL)
		return -ENOMEM;
	nftnl_table_set_str(q, NFTNL_TABLE_NAME, KK_TABLE_NAME);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, NFPROTO_INET,
	    NLM_F_ACK, ++n->seq);
	nftnl_table_nlmsg_build_payload(nlh, q);
	nftnl_table_free(q);
	err = dump(n, nlh, table_cb, out);
	if (err == -ENOENT) {
		if (*out)
			nftnl_table_free(*out);
		*out = NULL;
		return 0;
	}
	return err;
}

int
kk_nft_table_info(struct kk_nft *n, struct kk_nft_table_info *ti)
{
	struct nftnl_table *t = NULL;
	char comment[128];
	int err;

	memset(ti, 0, sizeof(*ti));
	err = get_table(n, &t);
	if (err < 0)
		return set_err(n, err, "reading table inet %s: %s",
		    KK_TABLE_NAME, strerror(-err));
	if (t == NULL)
		return 0;
	ti->exists = true;
	ti->flags = nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS);
	if (kk_nft_table_comment(t, comment, sizeof(comment)) == 0 &&
	    kk_nft_comment_parse(comment, &ti->mode, ti->episode) == 0)
		ti->has_mode = true;
	nftnl_table_free(t);
	return 0;
}

/*
 * Send the batch and collect one ack per message.  A refused message is
 * named by its sequence number, which the batch maps back to its rule.
 */
static int
send_batch(struct kk_nft *n, const struct kk_nft_batch *b)
{
	char *buf;
	struct pollfd pfd;
	uint32_t acked = 0, nmsgs = b->seq_last - b->seq_first;
	int err = 0, first_err = 0, fd, i;
	ssize_t len;

	if (mnl_socket_sendto(n->nl, b->buf, b->len) < 0)
		return set_err(n, -errno, "sending batch: %s", strerror(errno));
	buf = malloc(RECV_BUFSZ);
	if (buf == NULL)
		return -ENOMEM;
	fd = mnl_socket_get_fd(n->nl);
	pfd.fd = fd;
	pfd.events = POLLIN;
	for (i = 0; i < 4096 && acked < nmsgs; i++) {
		struct nlmsghdr *nlh;
		int left;

		/* after a refusal, only drain what the kernel already sent */
		if (poll(&pfd, 1, first_err ? 50 : RECV_TIMEOUT_MS) <= 0)
			break;
		len = recv(fd, buf, RECV_BUFSZ, 0);
		if (len < 0) {
			err = -errno;
			break;
		}
		left = (int)len;
		for (nlh = (struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, left);
		    nlh = mnl_nlmsg_next(nlh, &left)) {
			struct nlmsgerr *e;

			if (nlh->nlmsg_type != NLMSG_ERROR)
				continue;
			e = mnl_nlmsg_get_payload(nlh);
			acked++;
			if (e->error != 0 && first_err == 0) {
				first_err = e->error;
				set_err(n, e->error, "kernel refused %s: %s",
				    kk_nft_batch_what(b, nlh->nlmsg_seq),
				    strerror(-e->error));
			}
		}
	}
	free(buf);
	if (first_err)
		return first_err;
	if (err < 0)
		return set_err(n, err, "reading batch acks: %s", strerror(-err));
	if (acked < nmsgs)
		return set_err(n, -ETIMEDOUT,
		    "kernel acknowledged %u of %u messages", acked, nmsgs);
	return 0;
}

/* Read-back: the kernel's table, chains, sets (with elements) and rules. */
struct readback {
	struct nftnl_table *table;
	struct nftnl_chain *chains[KK_NFT_MAX_CHAINS + 8];
	size_t nchains;
	struct nftnl_set *sets[KK_NFT_MAX_SETS + 8];
	size_t nsets;
	struct nftnl_rule *rules[KK_NFT_MAX_RULES + 32];
	size_t nrules;
	bool overflow;
};

static void
readback_free(struct readback *rb)
{
	size_t i;

	if (rb->table)
		nftnl_table_free(rb->table);
	for (i = 0; i < rb->nchains; i++)
		nftnl_chain_free(rb->chains[i]);
	for (i = 0; i < rb->nsets; i++)
		nftnl_set_free(rb->sets[i]);
	for (i = 0; i < rb->nrules; i++)
		nftnl_rule_free(rb->rules[i]);
	memset(rb, 0, sizeof(*rb));
}

static int
chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct readback *rb = data;
	struct nftnl_chain *c = nftnl_chain_alloc();

	if (c == NULL)
		return MNL_CB_ERROR;
	if (nftnl_chain_nlmsg_parse(nlh, c) < 0 ||
	    nftnl_chain_get_u32(c, NFTNL_CHAIN_FAMILY) != NFPROTO_INET ||
	    strcmp(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE),
	    KK_TABLE_NAME) != 0) {
		nftnl_chain_free(c);
		return MNL_CB_OK;
	}
	if (rb->nchains >= sizeof(rb->chains) / sizeof(rb->chains[0])) {
		rb->overflow = true;
		nftnl_chain_free(c);
		return MNL_CB_OK;
	}
	rb->chains[rb->nchains++] = c;
	return MNL_CB_OK;
}

static int
set_cb(const struct nlmsghdr *nlh, void *data)
{
	struct readback *rb = data;
	struct nftnl_set *s = nftnl_set_alloc();

	if (s == NULL)
		return MNL_CB_ERROR;
	if (nftnl_set_nlmsg_parse(nlh, s) < 0 ||
	    strcmp(nftnl_set_get_str(s, NFTNL_SET_TABLE), KK_TABLE_NAME) != 0) {
		nftnl_set_free(s);
		return MNL_CB_OK;
	}
	if (rb->nsets >= sizeof(rb->sets) / sizeof(rb->sets[0])) {
		rb->overflow = true;
		nftnl_set_free(s);
		return MNL_CB_OK;
	}
	rb->sets[rb->nsets++] = s;
	return MNL_CB_OK;
}

static int
elem_cb(const struct nlmsghdr *nlh, void *data)
{
	return nftnl_set_elems_nlmsg_parse(nlh, data) < 0 ? MNL_CB_ERROR :
	    MNL_CB_OK;
}

static int
rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct readback *rb = data;
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (r == NULL)
		return MNL_CB_ERROR;
	if (nftnl_rule_nlmsg_parse(nlh, r) < 0 ||
	    strcmp(nftnl_rule_get_str(r, NFTNL_RULE_TABLE), KK_TABLE_NAME) != 0) {
		nftnl_rule_free(r);
		return MNL_CB_OK;
	}
	if (rb->nrules >= sizeof(rb->rules) / sizeof(rb->rules[0])) {
		rb->overflow = true;
		nftnl_rule_free(r);
		return MNL_CB_OK;
	}
	rb->rules[rb->nrules++] = r;
	return MNL_CB_OK;
}

static int
read_back(struct kk_nft *n, struct readback *rb, bool with_sets)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	size_t i;
	int err;

	memset(rb, 0, sizeof(*rb));
	if ((err = get_table(n, &rb->table)) < 0 || rb->table == NULL)
		return err;

	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN, NFPROTO_INET,
	    NLM_F_DUMP, ++n->seq);
	if ((err = dump(n, nlh, chain_cb, rb)) < 0)
		return err;

	if (with_sets) {
		struct nftnl_set *q = nftnl_set_alloc();

		if (q == NULL)
			return -ENOMEM;
		nftnl_set_set_str(q, NFTNL_SET_TABLE, KK_TABLE_NAME);
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSET, NFPROTO_INET,
		    NLM_F_DUMP, ++n->seq);
		nftnl_set_nlmsg_build_payload(nlh, q);
		nftnl_set_free(q);
		if ((err = dump(n, nlh, set_cb, rb)) < 0)
			return err;
		for (i = 0; i < rb->nsets; i++) {
			nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM,
			    NFPROTO_INET, NLM_F_DUMP, ++n->seq);
			nftnl_set_elems_nlmsg_build_payload(nlh, rb->sets[i]);
			if ((err = dump(n, nlh, elem_cb, rb->sets[i])) < 0)
				return err;
		}
	}

	{
		struct nftnl_rule *q = nftnl_rule_alloc();

		if (q == NULL)
			return -ENOMEM;
		nftnl_rule_set_str(q, NFTNL_RULE_TABLE, KK_TABLE_NAME);
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, NFPROTO_INET,
		    NLM_F_DUMP, ++n->seq);
		nftnl_rule_nlmsg_build_payload(nlh, q);
		nftnl_rule_free(q);
		if ((err = dump(n, nlh, rule_cb, rb)) < 0)
			return err;
	}
	return rb->overflow ? -E2BIG : 0;
}

/* Canonical texts, in a stable order, of either side. */
#define CANON_MAX	2048

static int
canon_list(char ***out, size_t *nout, struct nftnl_table *t,
    struct nftnl_chain *const *chains, size_t nchains,
    struct nftnl_set *const *sets, size_t nsets,
    struct nftnl_rule *const *rules, size_t nrules)
{
	size_t total = 1 + nchains + nsets + nrules, k = 0, i, c;
	char **v;
	int err = 0;

	v = calloc(total, sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	for (i = 0; i < total; i++) {
		v[i] = malloc(CANON_MAX);
		if (v[i] == NULL) {
			err = -ENOMEM;
			goto out;
		}
	}
	if ((err = kk_nft_canon_table(t, v[k++], CANON_MAX)) < 0)
		goto out;
	/* chains in hook order, rules in kernel (= insertion) order per chain */
	for (c = 0; c < KK_NFT_MAX_CHAINS; c++) {
		for (i = 0; i < nchains; i++) {
			if (strcmp(nftnl_chain_get_str(chains[i],
			    NFTNL_CHAIN_NAME), chain_order[c]) != 0)
				continue;
			if ((err = kk_nft_canon_chain(chains[i], v[k++],
			    CANON_MAX)) < 0)
				goto out;
		}
	}
	for (i = 0; i < nsets; i++)
		if ((err = kk_nft_canon_set(sets[i], v[k++], CANON_MAX)) < 0)
			goto out;
	for (c = 0; c < KK_NFT_MAX_CHAINS; c++) {
		for (i = 0; i < nrules; i++) {
			if (strcmp(nftnl_rule_get_str(rules[i], NFTNL_RULE_CHAIN),
			    chain_order[c]) != 0)
				continue;
			if ((err = kk_nft_canon_rule(rules[i], v[k++],
			    CANON_MAX)) < 0)
				goto out;
		}
	}
	/* chains or rules with names we never create still count */
	while (k < total)
		strcpy(v[k++], "unexpected object");
out:
	if (err < 0) {
		for (i = 0; i < total; i++)
			free(v[i]);
		free(v);
		return err;
	}
	*out = v;
	*nout = total;
	return 0;
}

static void
canon_free(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int
by_name(const void *a, const void *b)
{
	const struct nftnl_set *const *x = a, *const *y = b;

	return strcmp(nftnl_set_get_str(*x, NFTNL_SET_NAME),
	    nftnl_set_get_str(*y, NFTNL_SET_NAME));
}

static int
compare(struct kk_nft *n, const struct kk_nft_objects *o, struct readback *rb)
{
	char **want = NULL, **have = NULL;
	struct nftnl_set *wsets[KK_NFT_MAX_SETS];
	size_t nwant = 0, nhave = 0, i;
	int err;

	if (rb->table == NULL)
		return set_err(n, -ESTALE, "table inet %s is missing",
		    KK_TABLE_NAME);
	memcpy(wsets, o->sets, o->nsets * sizeof(wsets[0]));
	qsort(wsets, o->nsets, sizeof(wsets[0]), by_name);
	qsort(rb->sets, rb->nsets, sizeof(rb->sets[0]), by_name);
	if ((err = canon_list(&want, &nwant, o->table, o->chains, o->nchains,
	    wsets, o->nsets, o->rules, o->nrules)) < 0 ||
	    (err = canon_list(&have, &nhave, rb->table, rb->chains,
	    rb->nchains, rb->sets, rb->nsets, rb->rules, rb->nrules)) < 0) {
		set_err(n, err, "comparing table: %s", strerror(-err));
		goto out;
	}
	for (i = 0; i < nwant && i < nhave; i++) {
		if (strcmp(want[i], have[i]) != 0) {
			size_t d = 0;

			/* name the object and show where it starts to differ */
			while (want[i][d] && want[i][d] == have[i][d])
				d++;
			d = d > 24 ? d - 24 : 0;
			err = set_err(n, -ESTALE,
			    "kernel differs in {%.60s}: want \"...%.80s\" have \"...%.80s\"",
			    want[i], want[i] + d, have[i] + d);
			goto out;
		}
	}
	if (nwant != nhave) {
		err = set_err(n, -ESTALE, "kernel has %zu objects, want %zu",
		    nhave, nwant);
		goto out;
	}
	err = 0;
out:
	canon_free(want, nwant);
	canon_free(have, nhave);
	return err;
}

int
kk_nft_verify(struct kk_nft *n, const struct kk_nft_spec *spec)
{
	struct kk_nft_objects o;
	struct readback rb;
	int err;

	if ((err = kk_nft_objects_build(spec, &o)) < 0)
		return set_err(n, err, "building table: %s", strerror(-err));
	err = read_back(n, &rb, true);
	if (err < 0)
		set_err(n, err, "reading back table: %s", strerror(-err));
	else
		err = compare(n, &o, &rb);
	readback_free(&rb);
	kk_nft_objects_free(&o);
	return err;
}

int
kk_nft_apply(struct kk_nft *n, const struct kk_nft_spec *spec,
    const struct kk_nft_table_info *before)
{
	struct kk_nft_objects o;
	struct kk_nft_batch b;
	struct readback rb;
	int err;

	n->err[0] = '\0';
	if ((err = kk_nft_objects_build(spec, &o)) < 0)
		return set_err(n, err, "building table: %s", strerror(-err));
	err = kk_nft_batch_build(&b, &o, before->exists, before->flags,
	    n->seq + 1);
	if (err < 0) {
		set_err(n, err, "building batch: %s", strerror(-err));
		goto out_objects;
	}
	n->seq = b.seq_last + 1;
	err = send_batch(n, &b);
	kk_nft_batch_free(&b);
	if (err < 0)
		goto out_objects;
	clock_gettime(CLOCK_REALTIME, &n->committed);
	/* nothing is reported done until the kernel shows it */
	err = read_back(n, &rb, true);
	if (err < 0)
		set_err(n, err, "reading back table: %s", strerror(-err));
	else
		err = compare(n, &o, &rb);
	readback_free(&rb);
out_objects:
	kk_nft_objects_free(&o);
	return err;
}

int
kk_nft_counters(struct kk_nft *n, struct kk_nft_counters *c)
{
	struct readback rb;
	size_t i, k;
	int err;

	memset(c, 0, sizeof(*c));
	err = read_back(n, &rb, false);
	if (err < 0)
		goto out;
	for (i = 0; i < rb.nrules; i++) {
		const char *chain = nftnl_rule_get_str(rb.rules[i],
		    NFTNL_RULE_CHAIN);
		struct nftnl_expr_iter *it;
		struct nftnl_expr *e;

		for (k = 0; k < KK_NFT_MAX_CHAINS; k++)
			if (strcmp(chain, chain_order[k]) == 0)
				break;
		if (k == KK_NFT_MAX_CHAINS)
			continue;
		it = nftnl_expr_iter_create(rb.rules[i]);
		if (it == NULL) {
			err = -ENOMEM;
			goto out;
		}
		while ((e = nftnl_expr_iter_next(it)) != NULL) {
			if (strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME),
			    "counter") != 0)
				continue;
			c->pkts[k] += nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS);
			c->bytes[k] += nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_BYTES);
		}
		nftnl_expr_iter_destroy(it);
	}
out:
	readback_free(&rb);
	return err;
}

int
kk_nft_monitor_open(struct kk_nft *n)
{
	int fd, flags;

	n->mon = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (n->mon == NULL)
		return set_err(n, -errno, "monitor socket: %s", strerror(errno));
	if (mnl_socket_bind(n->mon, 1 << (NFNLGRP_NFTABLES - 1),
	    MNL_SOCKET_AUTOPID) < 0) {
		int err = -errno;

		mnl_socket_close(n->mon);
		n->mon = NULL;
		return set_err(n, err, "monitor bind: %s", strerror(-err));
	}
	fd = mnl_socket_get_fd(n->mon);
	flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	n->mon_portid = mnl_socket_get_portid(n->mon);
	return 0;
}

int
kk_nft_monitor_fd(const struct kk_nft *n)
{
	return n->mon ? mnl_socket_get_fd(n->mon) : -1;
}

struct event_ctx {
	struct kk_nft *n;
	struct kk_nft_event *ev;
};

static int
attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (type < 8)
		tb[type] = attr;
	return MNL_CB_OK;
}

static int
event_cb(const struct nlmsghdr *nlh, void *data)
{
	struct event_ctx *ctx = data;
	const struct nlattr *tb[8] = { 0 };
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
	uint16_t type = NFNL_MSG_TYPE(nlh->nlmsg_type);

	if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES)
		return MNL_CB_OK;
	/* our own changes come from our socket's port id */
	if (nlh->nlmsg_pid == ctx->n->portid)
		return MNL_CB_OK;
	if (mnl_attr_parse(nlh, sizeof(*g), attr_cb, tb) < 0)
		return MNL_CB_OK;
	if (type == NFT_MSG_NEWGEN) {
		ctx->ev->foreign_commit = true;
		if (tb[NFTA_GEN_PROC_PID] &&
		    mnl_attr_validate(tb[NFTA_GEN_PROC_PID], MNL_TYPE_U32) == 0)
			ctx->ev->pid = (pid_t)ntohl(mnl_attr_get_u32(
			    tb[NFTA_GEN_PROC_PID]));
		if (tb[NFTA_GEN_PROC_NAME] &&
		    mnl_attr_validate(tb[NFTA_GEN_PROC_NAME],
		    MNL_TYPE_NUL_STRING) == 0)
			snprintf(ctx->ev->comm, sizeof(ctx->ev->comm), "%s",
			    mnl_attr_get_str(tb[NFTA_GEN_PROC_NAME]));
		return MNL_CB_OK;
	}
	/*
	 * Attribute 1 is the table name in table, chain, rule, set, element,
	 * object and flowtable messages alike.
	 */
	if (g->nfgen_family == NFPROTO_INET && tb[1] &&
	    mnl_attr_validate(tb[1], MNL_TYPE_NUL_STRING) == 0 &&
	    strcmp(mnl_attr_get_str(tb[1]), KK_TABLE_NAME) == 0)
		ctx->ev->touched = true;
	return MNL_CB_OK;
}

int
kk_nft_monitor_drain(struct kk_nft *n, struct kk_nft_event *ev)
{
	struct event_ctx ctx = { .n = n, .ev = ev };
	char *buf;
	ssize_t len;
	int i, err = 0;

	memset(ev, 0, sizeof(*ev));
	if (n->mon == NULL)
		return -EBADF;
	buf = malloc(RECV_BUFSZ);
	if (buf == NULL)
		return -ENOMEM;
	for (i = 0; i < 1024; i++) {
		len = recv(mnl_socket_get_fd(n->mon), buf, RECV_BUFSZ,
		    MSG_DONTWAIT);
		if (len < 0) {
			if (errno == ENOBUFS) {
				/* events were lost: the caller re-verifies */
				ev->overrun = true;
				continue;
			}
			if (errno != EAGAIN && errno != EINTR)
				err = -errno;
			break;
		}
		mnl_cb_run(buf, (size_t)len, 0, 0, event_cb, &ctx);
	}
	free(buf);
	return err;
}
