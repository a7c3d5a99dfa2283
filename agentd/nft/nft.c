/*
 * Send the batch built by build.c, read the tables back and compare,
 * and watch nftables events for other processes touching them.
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
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "nft.h"
#include "nlreq.h"

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

/* One request: hand every reply message of its sequence number to cb. */
static int
dump(struct kk_nft *n, struct nlmsghdr *req, mnl_cb_t cb, void *data)
{
	return kk_nl_request(n->nl, req, cb, data);
}

/* What the kernel has under one name in one family. */
struct tstate {
	bool exists;
	int family;
	char name[KK_NFT_NAME_MAX];
	uint32_t flags;
	uint32_t owner;		/* netlink port of an owner table */
	bool held;		/* another socket's owner table: untouchable */
	bool has_mode;
	enum kk_mode mode;
	char episode[KK_EPISODE_HEX + 1];
};

static void
tstate_of(const struct kk_nft *n, const struct nftnl_table *t,
    struct tstate *ts)
{
	char comment[128];

	memset(ts, 0, sizeof(*ts));
	ts->exists = true;
	ts->family = (int)nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY);
	snprintf(ts->name, sizeof(ts->name), "%s",
	    nftnl_table_get_str(t, NFTNL_TABLE_NAME));
	ts->flags = nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS);
	if (nftnl_table_is_set(t, NFTNL_TABLE_OWNER))
		ts->owner = nftnl_table_get_u32(t, NFTNL_TABLE_OWNER);
	ts->held = (ts->flags & KK_NFT_F_OWNER) && ts->owner != n->portid;
	if (kk_nft_table_comment(t, comment, sizeof(comment)) == 0 &&
	    kk_nft_comment_parse(comment, &ts->mode, ts->episode) == 0)
		ts->has_mode = true;
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

/* The table name of family, or *out NULL if there is none. */
static int
get_table(struct kk_nft *n, int family, const char *name,
    struct nftnl_table **out)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nftnl_table *q;
	struct nlmsghdr *nlh;
	int err;

	*out = NULL;
	q = nftnl_table_alloc();
	if (q == NULL)
		return -ENOMEM;
	nftnl_table_set_str(q, NFTNL_TABLE_NAME, name);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, (uint16_t)family,
	    NLM_F_ACK, ++n->seq);
	nftnl_table_nlmsg_build_payload(nlh, q);
	nftnl_table_free(q);
	err = dump(n, nlh, table_cb, out);
	if (err < 0 && *out) {
		nftnl_table_free(*out);
		*out = NULL;
	}
	return err == -ENOENT ? 0 : err;
}

/* One targeted GETTABLE: what is under name in family. */
static int
table_state(struct kk_nft *n, int family, const char *name, struct tstate *ts)
{
	struct nftnl_table *t;
	int err;

	memset(ts, 0, sizeof(*ts));
	ts->family = family;
	snprintf(ts->name, sizeof(ts->name), "%s", name);
	if ((err = get_table(n, family, name, &t)) < 0)
		return set_err(n, err, "reading table %s %s: %s",
		    kk_nft_family_name(family), name, strerror(-err));
	if (t != NULL) {
		tstate_of(n, t, ts);
		ts->family = family;
		nftnl_table_free(t);
	}
	return 0;
}

/*
 * The random fallback names kakurid's tables may have, besides the two
 * fixed names every apply checks anyway.
 */
static bool
name_fixed(const char *name)
{
	return strcmp(name, KK_TABLE_NAME) == 0 ||
	    strcmp(name, KK_FALLBACK_NAME) == 0;
}

static void
known_add(struct kk_nft *n, const char *name)
{
	size_t i;

	if (name_fixed(name) || !kk_nft_name_ours(name))
		return;
	for (i = 0; i < n->nknown; i++)
		if (strcmp(n->known[i], name) == 0)
			return;
	/* more are left alone: each apply removes what it checked */
	if (n->nknown < KK_NFT_KNOWN_MAX)
		snprintf(n->known[n->nknown++], KK_NFT_NAME_MAX, "%s", name);
}

/*
 * Start-up: a dump of every table, the only time kakurid reads more than
 * its own, to find fallback tables an earlier kakurid left (persistent
 * ones survive it).  Fails closed on nothing: the fixed names are read
 * with targeted requests anyway.
 */
struct scan {
	struct kk_nft *n;
	int family;
	struct kk_nft_table_info *ti;
};

static void
info_add(struct kk_nft_table_info *ti, const struct tstate *ts)
{
	if (!ts->exists || ts->family != NFPROTO_INET)
		return;
	ti->exists = true;
	/* the strictest mode any of them records: fail closed */
	if (!ts->has_mode || (ti->has_mode && ts->mode <= ti->mode))
		return;
	ti->has_mode = true;
	ti->mode = ts->mode;
	snprintf(ti->episode, sizeof(ti->episode), "%s", ts->episode);
}

static int
scan_cb(const struct nlmsghdr *nlh, void *data)
{
	struct scan *sc = data;
	struct nftnl_table *t = nftnl_table_alloc();
	struct tstate ts;
	const char *name;

	if (t == NULL)
		return MNL_CB_ERROR;
	if (nftnl_table_nlmsg_parse(nlh, t) < 0) {
		nftnl_table_free(t);
		return MNL_CB_ERROR;
	}
	name = nftnl_table_get_str(t, NFTNL_TABLE_NAME);
	if (name != NULL && strlen(name) < KK_NFT_NAME_MAX &&
	    kk_nft_name_ours(name) && !name_fixed(name) &&
	    nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY) == (uint32_t)sc->family) {
		tstate_of(sc->n, t, &ts);
		info_add(sc->ti, &ts);
		if (!ts.held)
			known_add(sc->n, name);
	}
	nftnl_table_free(t);
	return MNL_CB_OK;
}

int
kk_nft_table_info(struct kk_nft *n, struct kk_nft_table_info *ti)
{
	static const char *const fixed[] = { KK_TABLE_NAME, KK_FALLBACK_NAME };
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct scan sc = { .n = n, .ti = ti };
	struct nlmsghdr *nlh;
	struct tstate ts;
	int i, k, err;

	memset(ti, 0, sizeof(*ti));
	for (k = 0; k < 2; k++) {
		if ((err = table_state(n, NFPROTO_INET, fixed[k], &ts)) < 0)
			return err;
		info_add(ti, &ts);
	}
	for (i = 0; i < KK_NFT_FAMILIES; i++) {
		sc.family = kk_nft_families[i];
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE,
		    (uint16_t)sc.family, NLM_F_DUMP, ++n->seq);
		if ((err = dump(n, nlh, scan_cb, &sc)) < 0) {
			set_err(n, err, "listing %s tables for old fallbacks: %s",
			    kk_nft_family_name(sc.family), strerror(-err));
			n->scan_incomplete = true;
		}
	}
	return 0;
}

int
kk_nft_name_held(struct kk_nft *n, const char *name)
{
	struct tstate ts;
	int i, err;

	for (i = 0; i < KK_NFT_FAMILIES; i++) {
		if ((err = table_state(n, kk_nft_families[i], name, &ts)) < 0)
			return err;
		if (ts.held)
			return 1;
	}
	return 0;
}

static int
gen_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_gen *g = nftnl_gen_alloc();
	uint32_t *gen = data;

	if (g == NULL)
		return MNL_CB_ERROR;
	if (nftnl_gen_nlmsg_parse(nlh, g) < 0) {
		nftnl_gen_free(g);
		return MNL_CB_ERROR;
	}
	*gen = nftnl_gen_get_u32(g, NFTNL_GEN_ID);
	nftnl_gen_free(g);
	return MNL_CB_OK;
}

int
kk_nft_genid(struct kk_nft *n, uint32_t *gen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	int err;

	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, NLM_F_ACK,
	    ++n->seq);
	if ((err = dump(n, nlh, gen_cb, gen)) < 0)
		return set_err(n, err, "reading the ruleset generation: %s",
		    strerror(-err));
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

			/* acks of this batch only: not leftovers of a request */
			if (nlh->nlmsg_type != NLMSG_ERROR ||
			    nlh->nlmsg_seq < b->seq_first ||
			    nlh->nlmsg_seq > b->seq_last)
				continue;
			e = mnl_nlmsg_get_payload(nlh);
			acked++;
			if (e->error != 0 && first_err == 0) {
				first_err = e->error;
				n->err_family = kk_nft_batch_family(b,
				    nlh->nlmsg_seq);
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
	int family;
	const char *name;
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

/* An object of the table being read back? */
static bool
readback_ours(const struct readback *rb, uint32_t family, const char *table)
{
	return family == (uint32_t)rb->family && table != NULL &&
	    strcmp(table, rb->name) == 0;
}

static int
chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct readback *rb = data;
	struct nftnl_chain *c = nftnl_chain_alloc();

	if (c == NULL)
		return MNL_CB_ERROR;
	if (nftnl_chain_nlmsg_parse(nlh, c) < 0 ||
	    !readback_ours(rb, nftnl_chain_get_u32(c, NFTNL_CHAIN_FAMILY),
	    nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE))) {
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
	    !readback_ours(rb, nftnl_set_get_u32(s, NFTNL_SET_FAMILY),
	    nftnl_set_get_str(s, NFTNL_SET_TABLE))) {
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
	    !readback_ours(rb, nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY),
	    nftnl_rule_get_str(r, NFTNL_RULE_TABLE))) {
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
read_back(struct kk_nft *n, int family, const char *name, struct readback *rb,
    bool with_sets)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	uint16_t fam = (uint16_t)family;
	size_t i;
	int err;

	memset(rb, 0, sizeof(*rb));
	rb->family = family;
	rb->name = name;
	if ((err = get_table(n, family, name, &rb->table)) < 0 ||
	    rb->table == NULL)
		return err;

	/*
	 * The chains kakurid makes, each by name: a dump would list every
	 * chain of the family.  Others in the table show in its use count.
	 */
	for (i = 0; i < KK_NFT_MAX_CHAINS; i++) {
		struct nftnl_chain *q = nftnl_chain_alloc();

		if (q == NULL)
			return -ENOMEM;
		nftnl_chain_set_str(q, NFTNL_CHAIN_TABLE, name);
		nftnl_chain_set_str(q, NFTNL_CHAIN_NAME, chain_order[i]);
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETCHAIN, fam,
		    NLM_F_ACK, ++n->seq);
		nftnl_chain_nlmsg_build_payload(nlh, q);
		nftnl_chain_free(q);
		if ((err = dump(n, nlh, chain_cb, rb)) < 0 && err != -ENOENT)
			return err;
	}

	if (with_sets) {
		struct nftnl_set *q = nftnl_set_alloc();

		if (q == NULL)
			return -ENOMEM;
		nftnl_set_set_str(q, NFTNL_SET_TABLE, name);
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSET, fam,
		    NLM_F_DUMP, ++n->seq);
		nftnl_set_nlmsg_build_payload(nlh, q);
		nftnl_set_free(q);
		if ((err = dump(n, nlh, set_cb, rb)) < 0)
			return err;
		for (i = 0; i < rb->nsets; i++) {
			nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM,
			    fam, NLM_F_DUMP, ++n->seq);
			nftnl_set_elems_nlmsg_build_payload(nlh, rb->sets[i]);
			if ((err = dump(n, nlh, elem_cb, rb->sets[i])) < 0)
				return err;
		}
	}

	{
		struct nftnl_rule *q = nftnl_rule_alloc();

		if (q == NULL)
			return -ENOMEM;
		nftnl_rule_set_str(q, NFTNL_RULE_TABLE, name);
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, fam,
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
		return set_err(n, -ESTALE, "table %s %s is missing",
		    kk_nft_family_name(rb->family), rb->name);
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
			    "kernel differs in %s %s {%.60s}: want \"...%.80s\" have \"...%.80s\"",
			    kk_nft_family_name(rb->family), rb->name,
			    want[i], want[i] + d, have[i] + d);
			goto out;
		}
	}
	if (nwant != nhave) {
		err = set_err(n, -ESTALE,
		    "kernel has %zu objects in %s %s, want %zu", nhave,
		    kk_nft_family_name(rb->family), rb->name, nwant);
		goto out;
	}
	/* chains, sets and stateful objects of other names count here */
	if (nftnl_table_is_set(rb->table, NFTNL_TABLE_USE) &&
	    nftnl_table_get_u32(rb->table, NFTNL_TABLE_USE) !=
	    o->nchains + o->nsets) {
		err = set_err(n, -ESTALE,
		    "kernel has %u chains, sets or objects in %s %s, want %zu",
		    nftnl_table_get_u32(rb->table, NFTNL_TABLE_USE),
		    kk_nft_family_name(rb->family), rb->name,
		    o->nchains + o->nsets);
		goto out;
	}
	err = 0;
out:
	canon_free(want, nwant);
	canon_free(have, nhave);
	return err;
}

/* Read back every table of spec and compare; stops at the first difference. */
static int
verify_objects(struct kk_nft *n, const struct kk_nft_objects *o, size_t no,
    const char *name)
{
	struct readback rb;
	size_t i;
	int err = 0;

	for (i = 0; err == 0 && i < no; i++) {
		err = read_back(n, o[i].family, name, &rb, true);
		if (err == -E2BIG)
			err = set_err(n, -ESTALE,
			    "table %s %s has more objects than kakurid made",
			    kk_nft_family_name(o[i].family), name);
		else if (err < 0)
			set_err(n, err, "reading back table %s %s: %s",
			    kk_nft_family_name(o[i].family), name,
			    strerror(-err));
		else
			err = compare(n, &o[i], &rb);
		readback_free(&rb);
	}
	return err;
}

/* The objects of every table spec wants, in family order. */
static int
build_all(struct kk_nft *n, const struct kk_nft_spec *spec,
    struct kk_nft_objects o[KK_NFT_FAMILIES], size_t *no)
{
	int i, err;

	*no = 0;
	for (i = 0; i < KK_NFT_FAMILIES; i++) {
		err = kk_nft_objects_build(spec, kk_nft_families[i], &o[*no]);
		if (err == -ENOENT)
			continue;
		if (err < 0)
			return set_err(n, err, "building table: %s",
			    strerror(-err));
		(*no)++;
	}
	return 0;
}

static void
free_all(struct kk_nft_objects *o, size_t no)
{
	size_t i;

	for (i = 0; i < no; i++)
		kk_nft_objects_free(&o[i]);
}

int
kk_nft_verify(struct kk_nft *n, const struct kk_nft_spec *spec)
{
	struct kk_nft_objects o[KK_NFT_FAMILIES];
	size_t no;
	int err;

	if ((err = build_all(n, spec, o, &no)) == 0)
		err = verify_objects(n, o, no, kk_nft_spec_name(spec));
	free_all(o, no);
	return err;
}

/*
 * What the batch does: spec's tables replace whatever is under its name,
 * and every other table of kakurid's names that kakurid may touch goes.
 * Each name is read with a targeted request (never a dump of every table
 * in the namespace): the spec's, the two fixed ones, and the random
 * fallback names kakurid knows of.
 */
static int
make_plan(struct kk_nft *n, const struct kk_nft_spec *spec,
    const struct kk_nft_objects *o, size_t no, struct kk_nft_plan *plan,
    size_t *np)
{
	const char *name = kk_nft_spec_name(spec);
	const char *names[KK_NFT_KNOWN_MAX + 3];
	const struct kk_nft_objects *want;
	struct kk_nft_plan *p;
	struct tstate ts;
	size_t nnames = 0, i, k;
	int f, err;

	names[nnames++] = name;
	if (strcmp(name, KK_TABLE_NAME) != 0)
		names[nnames++] = KK_TABLE_NAME;
	if (strcmp(name, KK_FALLBACK_NAME) != 0)
		names[nnames++] = KK_FALLBACK_NAME;
	for (i = 0; i < n->nknown; i++)
		if (strcmp(n->known[i], name) != 0)
			names[nnames++] = n->known[i];
	*np = 0;
	for (i = 0; i < nnames; i++) {
		for (f = 0; f < KK_NFT_FAMILIES; f++) {
			if ((err = table_state(n, kk_nft_families[f], names[i],
			    &ts)) < 0)
				return err;
			want = NULL;
			for (k = 0; i == 0 && k < no; k++)
				if (o[k].family == kk_nft_families[f])
					want = &o[k];
			if (want != NULL && ts.held)
				return set_err(n, -EPERM,
				    "table %s %s is held by another process (netlink port %u)",
				    kk_nft_family_name(ts.family), name, ts.owner);
			if (ts.held || (!ts.exists && want == NULL))
				continue;
			p = &plan[(*np)++];
			memset(p, 0, sizeof(*p));
			p->family = ts.family;
			snprintf(p->name, sizeof(p->name), "%s", names[i]);
			p->exists = ts.exists;
			p->prev_flags = ts.flags;
			p->o = want;
		}
	}
	return 0;
}

int
kk_nft_apply(struct kk_nft *n, const struct kk_nft_spec *spec)
{
	struct kk_nft_objects o[KK_NFT_FAMILIES];
	struct kk_nft_plan plan[KK_NFT_FAMILIES * (KK_NFT_KNOWN_MAX + 3)];
	struct kk_nft_batch b;
	size_t no = 0, np;
	int err;

	n->err[0] = '\0';
	n->err_family = 0;
	memset(o, 0, sizeof(o));
	if ((err = build_all(n, spec, o, &no)) < 0 ||
	    (err = make_plan(n, spec, o, no, plan, &np)) < 0)
		goto out;
	err = kk_nft_batch_build(&b, plan, np, n->seq + 1);
	if (err < 0) {
		set_err(n, err, "building batch: %s", strerror(-err));
		goto out;
	}
	n->seq = b.seq_last + 1;
	err = send_batch(n, &b);
	kk_nft_batch_free(&b);
	if (err < 0)
		goto out;
	clock_gettime(CLOCK_REALTIME, &n->committed);
	/* the batch removed every other table of kakurid's it could */
	n->nknown = 0;
	known_add(n, kk_nft_spec_name(spec));
	/* nothing is reported done until the kernel shows it */
	err = verify_objects(n, o, no, kk_nft_spec_name(spec));
out:
	free_all(o, no);
	return err;
}

/* The counted drops of one table, added to c per hook. */
static int
add_counters(struct kk_nft *n, int family, const char *name,
    struct kk_nft_counters *c)
{
	struct readback rb;
	size_t i, k;
	int err;

	err = read_back(n, family, name, &rb, false);
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
kk_nft_counters(struct kk_nft *n, const char *name, struct kk_nft_counters *c)
{
	int i, err = 0;

	memset(c, 0, sizeof(*c));
	for (i = 0; err == 0 && i < KK_NFT_FAMILIES; i++)
		err = add_counters(n, kk_nft_families[i], name, c);
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
	if ((g->nfgen_family == NFPROTO_INET ||
	    g->nfgen_family == NFPROTO_BRIDGE) && tb[1] &&
	    mnl_attr_validate(tb[1], MNL_TYPE_NUL_STRING) == 0 &&
	    kk_nft_name_ours(mnl_attr_get_str(tb[1])))
		ctx->ev->touched = true;
	return MNL_CB_OK;
}

int
kk_nft_monitor_drain(struct kk_nft *n, struct kk_nft_event *ev)
{
	struct event_ctx ctx = { .n = n, .ev = ev };

	memset(ev, 0, sizeof(*ev));
	if (n->mon == NULL)
		return -EBADF;
	/* events lost (overrun): the caller re-verifies */
	return kk_nl_drain(n->mon, event_cb, &ctx, &ev->overrun);
}
