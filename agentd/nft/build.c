/*
 * The objects of kakurid's tables (rules.c) as one netlink batch, and the
 * names and canonical texts both sides of a comparison share.  Pure: no
 * sockets, no kernel, so unit tests decode what it builds.
 *
 * Every message gets a sequence number that maps back to what it carries
 * (a rule by its comment), so a refusal of the kernel names it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

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
#include <libnftnl/udata.h>

#include "nft.h"

const int kk_nft_families[KK_NFT_FAMILIES] = { NFPROTO_INET, NFPROTO_BRIDGE };

int
kk_nft_comment_format(enum kk_mode mode, const char *episode, char *buf,
    size_t len)
{
	int n;

	if (mode == KK_MODE_OPEN || episode == NULL || episode[0] == '\0')
		n = snprintf(buf, len, "kakuri mode=%s", kk_mode_name(mode));
	else
		n = snprintf(buf, len, "kakuri mode=%s episode=%s",
		    kk_mode_name(mode), episode);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int
kk_nft_comment_parse(const char *comment, enum kk_mode *mode,
    char episode[KK_EPISODE_HEX + 1])
{
	char m[16], ep[KK_EPISODE_HEX + 2];
	int n;

	episode[0] = '\0';
	ep[0] = '\0';
	n = sscanf(comment, "kakuri mode=%15s episode=%33s", m, ep);
	if (n < 1 || kk_mode_parse(m, mode) < 0)
		return -EBADMSG;
	if (n == 2) {
		if (strlen(ep) != KK_EPISODE_HEX ||
		    strspn(ep, "0123456789abcdef") != KK_EPISODE_HEX)
			return -EBADMSG;
		strcpy(episode, ep);
	}
	return 0;
}

const char *
kk_nft_family_name(int family)
{
	return family == NFPROTO_BRIDGE ? "bridge" : "inet";
}

const char *
kk_nft_spec_name(const struct kk_nft_spec *spec)
{
	return spec->name[0] ? spec->name : KK_TABLE_NAME;
}

bool
kk_nft_wants(enum kk_mode mode, int family)
{
	return family == NFPROTO_INET ||
	    (family == NFPROTO_BRIDGE && mode != KK_MODE_OPEN);
}

bool
kk_nft_name_ours(const char *name)
{
	const size_t n = strlen(KK_FALLBACK_NAME);

	if (strcmp(name, KK_TABLE_NAME) == 0 ||
	    strcmp(name, KK_FALLBACK_NAME) == 0)
		return true;
	/* kakuri_fallback_ and exactly 8 lowercase hex digits */
	return strncmp(name, KK_FALLBACK_NAME, n) == 0 && name[n] == '_' &&
	    strlen(name + n + 1) == KK_FALLBACK_HEX &&
	    strspn(name + n + 1, "0123456789abcdef") == KK_FALLBACK_HEX;
}

/* Batch assembly: every message gets a sequence number mapped to a name. */
struct batch_ctx {
	struct kk_nft_batch *b;
	struct mnl_nlmsg_batch *mb;
	size_t cap_map;
	uint32_t seq;
};

static struct nlmsghdr *
msg_begin(struct batch_ctx *c, uint16_t type, int family, uint16_t flags,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static struct nlmsghdr *
msg_begin(struct batch_ctx *c, uint16_t type, int family, uint16_t flags,
    const char *fmt, ...)
{
	struct kk_nft_msgmap *m;
	va_list ap;

	if (c->b->nmap >= c->cap_map)
		return NULL;
	m = &c->b->map[c->b->nmap++];
	m->seq = c->seq;
	m->family = family;
	va_start(ap, fmt);
	vsnprintf(m->what, sizeof(m->what), fmt, ap);
	va_end(ap);
	return nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(c->mb), type,
	    (uint16_t)family, flags | NLM_F_ACK, c->seq++);
}

static int
msg_end(struct batch_ctx *c)
{
	return mnl_nlmsg_batch_next(c->mb) ? 0 : -ENOBUFS;
}

static const char *
rule_comment(const struct nftnl_rule *r, char *buf, size_t len)
{
	const struct nftnl_udata *attr;
	const void *data;
	uint32_t dlen = 0;

	buf[0] = '\0';
	data = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &dlen);
	if (data == NULL)
		return buf;
	nftnl_udata_for_each_data(data, dlen, attr) {
		if (nftnl_udata_type(attr) == NFTNL_UDATA_RULE_COMMENT) {
			snprintf(buf, len, "%.*s", (int)nftnl_udata_len(attr),
			    (const char *)nftnl_udata_get(attr));
			break;
		}
	}
	return buf;
}

/* (Re)declare an existing table with the flags it has, then delete it. */
static int
batch_remove(struct batch_ctx *c, const struct kk_nft_plan *p)
{
	struct nftnl_table *prev = nftnl_table_alloc();
	const char *fam = kk_nft_family_name(p->family);
	struct nlmsghdr *nlh;
	int err = -ENOBUFS;

	if (prev == NULL)
		return -ENOMEM;
	nftnl_table_set_str(prev, NFTNL_TABLE_NAME, p->name);
	nftnl_table_set_u32(prev, NFTNL_TABLE_FAMILY, (uint32_t)p->family);
	nftnl_table_set_u32(prev, NFTNL_TABLE_FLAGS, p->prev_flags);
	nlh = msg_begin(c, NFT_MSG_NEWTABLE, p->family, NLM_F_CREATE,
	    "adopt existing table %s %s", fam, p->name);
	if (nlh == NULL)
		goto out;
	nftnl_table_nlmsg_build_payload(nlh, prev);
	if (msg_end(c) < 0)
		goto out;
	nlh = msg_begin(c, NFT_MSG_DELTABLE, p->family, 0,
	    "delete old table %s %s", fam, p->name);
	if (nlh == NULL)
		goto out;
	nftnl_table_nlmsg_build_payload(nlh, prev);
	err = msg_end(c);
out:
	nftnl_table_free(prev);
	return err;
}

static bool
set_empty(const struct nftnl_set *s, int *err)
{
	struct nftnl_set_elems_iter *it =
	    nftnl_set_elems_iter_create((struct nftnl_set *)s);
	bool empty;

	if (it == NULL) {
		*err = -ENOMEM;
		return true;
	}
	empty = nftnl_set_elems_iter_cur(it) == NULL;
	nftnl_set_elems_iter_destroy(it);
	return empty;
}

/* The table of o with its chains, sets, elements and rules. */
static int
batch_create(struct batch_ctx *c, const struct kk_nft_objects *o)
{
	const char *fam = kk_nft_family_name(o->family);
	const char *table = nftnl_table_get_str(o->table, NFTNL_TABLE_NAME);
	struct nlmsghdr *nlh;
	char what[96];
	size_t i;
	int err = 0;

	nlh = msg_begin(c, NFT_MSG_NEWTABLE, o->family,
	    NLM_F_CREATE | NLM_F_EXCL, "create table %s %s", fam, table);
	if (nlh == NULL)
		return -ENOBUFS;
	nftnl_table_nlmsg_build_payload(nlh, o->table);
	if (msg_end(c) < 0)
		return -ENOBUFS;
	for (i = 0; i < o->nchains; i++) {
		nlh = msg_begin(c, NFT_MSG_NEWCHAIN, o->family,
		    NLM_F_CREATE | NLM_F_EXCL, "chain %s %s %s", fam, table,
		    nftnl_chain_get_str(o->chains[i], NFTNL_CHAIN_NAME));
		if (nlh == NULL)
			return -ENOBUFS;
		nftnl_chain_nlmsg_build_payload(nlh, o->chains[i]);
		if (msg_end(c) < 0)
			return -ENOBUFS;
	}
	for (i = 0; i < o->nsets; i++) {
		const char *name = nftnl_set_get_str(o->sets[i], NFTNL_SET_NAME);

		nlh = msg_begin(c, NFT_MSG_NEWSET, o->family,
		    NLM_F_CREATE | NLM_F_EXCL, "set %s", name);
		if (nlh == NULL)
			return -ENOBUFS;
		nftnl_set_nlmsg_build_payload(nlh, o->sets[i]);
		if (msg_end(c) < 0)
			return -ENOBUFS;
		/* an empty set needs no element message */
		if (set_empty(o->sets[i], &err)) {
			if (err < 0)
				return err;
			continue;
		}
		nlh = msg_begin(c, NFT_MSG_NEWSETELEM, o->family,
		    NLM_F_CREATE | NLM_F_EXCL, "elements of set %s", name);
		if (nlh == NULL)
			return -ENOBUFS;
		nftnl_set_elems_nlmsg_build_payload(nlh, o->sets[i]);
		if (msg_end(c) < 0)
			return -ENOBUFS;
	}
	for (i = 0; i < o->nrules; i++) {
		nlh = msg_begin(c, NFT_MSG_NEWRULE, o->family,
		    NLM_F_CREATE | NLM_F_APPEND, "rule %s%s%s: %s",
		    o->family == NFPROTO_INET ? "" : fam,
		    o->family == NFPROTO_INET ? "" : " ",
		    nftnl_rule_get_str(o->rules[i], NFTNL_RULE_CHAIN),
		    rule_comment(o->rules[i], what, sizeof(what)));
		if (nlh == NULL)
			return -ENOBUFS;
		nftnl_rule_nlmsg_build_payload(nlh, o->rules[i]);
		if (msg_end(c) < 0)
			return -ENOBUFS;
	}
	return 0;
}

int
kk_nft_batch_build(struct kk_nft_batch *b, const struct kk_nft_plan *plan,
    size_t nplan, uint32_t seq)
{
	struct batch_ctx c = { .b = b, .seq = seq };
	size_t i, bufsize = 16384, nobj = 8;
	int err = -ENOBUFS;

	memset(b, 0, sizeof(*b));
	/* generous: a rule is < 512 bytes, a set element < 64 */
	for (i = 0; i < nplan; i++) {
		const struct kk_nft_objects *o = plan[i].o;

		bufsize += 1024;
		nobj += 2;
		if (o == NULL)
			continue;
		bufsize += 1024 * (o->nrules + o->nsets + o->nchains) +
		    64 * 2 * KK_MAX_ADDRS * 3 + 64 * 4 * KK_MAX_PORTS;
		nobj += o->nrules + 2 * o->nsets + o->nchains + 1;
	}
	c.cap_map = nobj;
	b->buf = calloc(1, bufsize);
	b->map = calloc(c.cap_map, sizeof(*b->map));
	if (b->buf == NULL || b->map == NULL) {
		err = -ENOMEM;
		goto fail;
	}
	c.mb = mnl_nlmsg_batch_start(b->buf, bufsize);
	if (c.mb == NULL) {
		err = -ENOMEM;
		goto fail;
	}
	b->seq_first = seq;
	nftnl_batch_begin(mnl_nlmsg_batch_current(c.mb), c.seq++);
	if (msg_end(&c) < 0)
		goto fail;
	/* every old table goes first, so the new ones swap in atomically */
	for (i = 0; i < nplan; i++)
		if (plan[i].exists && (err = batch_remove(&c, &plan[i])) < 0)
			goto fail;
	for (i = 0; i < nplan; i++)
		if (plan[i].o && (err = batch_create(&c, plan[i].o)) < 0)
			goto fail;
	err = -ENOBUFS;
	b->seq_last = c.seq - 1;
	nftnl_batch_end(mnl_nlmsg_batch_current(c.mb), c.seq++);
	if (msg_end(&c) < 0)
		goto fail;
	b->len = mnl_nlmsg_batch_size(c.mb);
	mnl_nlmsg_batch_stop(c.mb);
	return 0;
fail:
	if (c.mb)
		mnl_nlmsg_batch_stop(c.mb);
	kk_nft_batch_free(b);
	return err;
}

const char *
kk_nft_batch_what(const struct kk_nft_batch *b, uint32_t seq)
{
	size_t i;

	for (i = 0; i < b->nmap; i++)
		if (b->map[i].seq == seq)
			return b->map[i].what;
	return "batch";
}

int
kk_nft_batch_family(const struct kk_nft_batch *b, uint32_t seq)
{
	size_t i;

	for (i = 0; i < b->nmap; i++)
		if (b->map[i].seq == seq)
			return b->map[i].family;
	return 0;
}

void
kk_nft_batch_free(struct kk_nft_batch *b)
{
	free(b->buf);
	free(b->map);
	memset(b, 0, sizeof(*b));
}

/* Canonical texts: the attributes that define behaviour, nothing volatile. */

int
kk_nft_table_comment(const struct nftnl_table *t, char *buf, size_t len)
{
	const struct nftnl_udata *attr;
	const void *data;
	uint32_t dlen = 0;

	buf[0] = '\0';
	if (!nftnl_table_is_set(t, NFTNL_TABLE_USERDATA))
		return -ENOENT;
	data = nftnl_table_get_data(t, NFTNL_TABLE_USERDATA, &dlen);
	nftnl_udata_for_each_data(data, dlen, attr) {
		if (nftnl_udata_type(attr) == NFTNL_UDATA_TABLE_COMMENT) {
			snprintf(buf, len, "%.*s", (int)nftnl_udata_len(attr),
			    (const char *)nftnl_udata_get(attr));
			/* the kernel keeps the NUL nft(8) puts in; drop it */
			return 0;
		}
	}
	return -ENOENT;
}

int
kk_nft_canon_table(const struct nftnl_table *t, char *buf, size_t len)
{
	char comment[128];
	int n;

	kk_nft_table_comment(t, comment, sizeof(comment));
	n = snprintf(buf, len, "table %s %s flags=0x%x comment=\"%s\"",
	    kk_nft_family_name((int)nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY)),
	    nftnl_table_get_str(t, NFTNL_TABLE_NAME),
	    nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS), comment);
	return n < 0 || (size_t)n >= len ? -ENOBUFS : 0;
}

int
kk_nft_canon_chain(const struct nftnl_chain *c, char *buf, size_t len)
{
	int n;

	n = snprintf(buf, len, "chain %s type=%s hook=%u prio=%d policy=%u",
	    nftnl_chain_get_str(c, NFTNL_CHAIN_NAME),
	    nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE),
	    nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM),
	    nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO),
	    nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY));
	return n < 0 || (size_t)n >= len ? -ENOBUFS : 0;
}

int
kk_nft_canon_rule(const struct nftnl_rule *r, char *buf, size_t len)
{
	struct nftnl_expr_iter *it;
	struct nftnl_expr *e;
	char comment[96], ebuf[256];
	size_t off;
	int n;

	n = snprintf(buf, len, "rule %s \"%s\":",
	    nftnl_rule_get_str(r, NFTNL_RULE_CHAIN),
	    rule_comment(r, comment, sizeof(comment)));
	if (n < 0 || (size_t)n >= len)
		return -ENOBUFS;
	off = (size_t)n;
	it = nftnl_expr_iter_create(r);
	if (it == NULL)
		return -ENOMEM;
	while ((e = nftnl_expr_iter_next(it)) != NULL) {
		const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

		/* counter values change with traffic: only their presence counts */
		if (strcmp(name, "counter") == 0)
			strcpy(ebuf, "");
		else
			nftnl_expr_snprintf(ebuf, sizeof(ebuf), e,
			    NFTNL_OUTPUT_DEFAULT, 0);
		n = snprintf(buf + off, len - off, " [%s %s]", name, ebuf);
		if (n < 0 || (size_t)n >= len - off) {
			nftnl_expr_iter_destroy(it);
			return -ENOBUFS;
		}
		off += (size_t)n;
	}
	nftnl_expr_iter_destroy(it);
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
kk_nft_canon_set(const struct nftnl_set *s, char *buf, size_t len)
{
	struct nftnl_set_elems_iter *it;
	struct nftnl_set_elem *e;
	char *keys[2 * KK_MAX_ADDRS + KK_MAX_PORTS];
	size_t nkeys = 0, off, i;
	int n, err = 0;

	n = snprintf(buf, len, "set %s type=%u keylen=%u elements:",
	    nftnl_set_get_str(s, NFTNL_SET_NAME),
	    nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE),
	    nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN));
	if (n < 0 || (size_t)n >= len)
		return -ENOBUFS;
	off = (size_t)n;
	it = nftnl_set_elems_iter_create(s);
	if (it == NULL)
		return -ENOMEM;
	while ((e = nftnl_set_elems_iter_next(it)) != NULL) {
		const uint8_t *k;
		uint32_t klen = 0;

		if (nkeys >= sizeof(keys) / sizeof(keys[0])) {
			err = -E2BIG;
			break;
		}
		k = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen);
		keys[nkeys] = malloc(2 * klen + 1);
		if (keys[nkeys] == NULL) {
			err = -ENOMEM;
			break;
		}
		for (i = 0; i < klen; i++)
			sprintf(keys[nkeys] + 2 * i, "%02x", k[i]);
		keys[nkeys][2 * klen] = '\0';
		nkeys++;
	}
	nftnl_set_elems_iter_destroy(it);
	qsort(keys, nkeys, sizeof(keys[0]), cmp_str);
	for (i = 0; i < nkeys; i++) {
		if (err == 0) {
			n = snprintf(buf + off, len - off, " %s", keys[i]);
			if (n < 0 || (size_t)n >= len - off)
				err = -ENOBUFS;
			else
				off += (size_t)n;
		}
		free(keys[i]);
	}
	return err;
}
