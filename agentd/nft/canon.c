/*
 * kakurid's table names and comments, and the canonical one-line texts
 * of tables, chains, rules and sets that both sides of a comparison
 * share (readback.c): the attributes that define behaviour, nothing
 * volatile.  Pure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "nft.h"

const int kk_nft_families[KK_NFT_FAMILIES] = { NFPROTO_INET, NFPROTO_BRIDGE,
	NFPROTO_NETDEV };

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
	return family == NFPROTO_BRIDGE ? "bridge" :
	    family == NFPROTO_NETDEV ? "netdev" : "inet";
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
	    (family == NFPROTO_BRIDGE && mode != KK_MODE_OPEN) ||
	    (family == NFPROTO_NETDEV && mode == KK_MODE_ISOLATED);
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

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * A netdev chain's devices, sorted.  The kernel lists one device as
 * NFTA_HOOK_DEV and more as NFTA_HOOK_DEVS, and libnftnl fills both
 * fields from a dump of one: the list when there is one, else the one.
 */
static int
canon_devices(const struct nftnl_chain *c, char *buf, size_t len)
{
	const char *names[KK_NFT_NETDEVS_MAX + 1];
	const char *const *list = NULL;
	size_t n = 0, i, off = 0;
	int w;

	buf[0] = '\0';
	if (nftnl_chain_is_set(c, NFTNL_CHAIN_DEVICES))
		list = nftnl_chain_get_array(c, NFTNL_CHAIN_DEVICES);
	if (list != NULL) {
		for (i = 0; list[i] != NULL; i++) {
			if (n == KK_NFT_NETDEVS_MAX + 1)
				return -E2BIG;
			names[n++] = list[i];
		}
	} else if (nftnl_chain_is_set(c, NFTNL_CHAIN_DEV)) {
		names[n++] = nftnl_chain_get_str(c, NFTNL_CHAIN_DEV);
	}
	qsort(names, n, sizeof(names[0]), cmp_names);
	for (i = 0; i < n; i++) {
		w = snprintf(buf + off, len - off, "%s%s", i ? "," : " devices=",
		    names[i]);
		if (w < 0 || (size_t)w >= len - off)
			return -ENOBUFS;
		off += (size_t)w;
	}
	return 0;
}

int
kk_nft_canon_chain(const struct nftnl_chain *c, char *buf, size_t len)
{
	char devs[KK_NFT_NETDEVS_MAX * (KK_NFT_IFNAME + 1) + 16];
	int n;

	if ((n = canon_devices(c, devs, sizeof(devs))) < 0)
		return n;
	n = snprintf(buf, len, "chain %s type=%s hook=%u prio=%d policy=%u%s",
	    nftnl_chain_get_str(c, NFTNL_CHAIN_NAME),
	    nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE),
	    nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM),
	    nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO),
	    nftnl_chain_get_u32(c, NFTNL_CHAIN_POLICY), devs);
	return n < 0 || (size_t)n >= len ? -ENOBUFS : 0;
}

/* An expression's text; counter values change with traffic: only their presence counts. */
static void
canon_expr(struct nftnl_expr *e, char *buf, size_t len)
{
	if (strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), "counter") == 0)
		buf[0] = '\0';
	else
		nftnl_expr_snprintf(buf, len, e, NFTNL_OUTPUT_DEFAULT, 0);
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
	    kk_nft_rule_comment(r, comment, sizeof(comment)));
	if (n < 0 || (size_t)n >= len)
		return -ENOBUFS;
	off = (size_t)n;
	it = nftnl_expr_iter_create(r);
	if (it == NULL)
		return -ENOMEM;
	while ((e = nftnl_expr_iter_next(it)) != NULL) {
		const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);

		canon_expr(e, ebuf, sizeof(ebuf));
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

/* A set expression's text, appended to the walk's buffer. */
struct expr_walk {
	char *buf;
	size_t len, off;
	bool full;
};

static int
set_expr_cb(struct nftnl_expr *e, void *data)
{
	struct expr_walk *w = data;
	char ebuf[256];
	int n;

	canon_expr(e, ebuf, sizeof(ebuf));
	n = snprintf(w->buf + w->off, w->len - w->off, " [%s %s]",
	    nftnl_expr_get_str(e, NFTNL_EXPR_NAME), ebuf);
	if (n < 0 || (size_t)n >= w->len - w->off) {
		w->full = true;
		return -1;
	}
	w->off += (size_t)n;
	return 0;
}

/*
 * "set NAME ATTRIBUTES": every attribute of a set that decides what a
 * lookup in it matches, on both sides.  What kakurid never sets (data,
 * object type, timeouts, policy, size, concatenation, expressions) reads
 * back as 0 or nothing, so someone who makes a set anew with any of them
 * (an interval set in place of a plain one: a lone start element then
 * matches every address above it, yet lists as one element) makes a
 * different line.  The handle, id and user data are left out: they say
 * nothing about matching.
 */
static int
canon_set_head(const struct nftnl_set *s, char *buf, size_t len)
{
	struct expr_walk w = { .buf = buf, .len = len };
	const uint8_t *field = NULL;
	uint32_t nfield = 0, i;
	int n;

	if (nftnl_set_is_set(s, NFTNL_SET_DESC_CONCAT))
		field = nftnl_set_get_data(s, NFTNL_SET_DESC_CONCAT, &nfield);
	n = snprintf(buf, len, "set %s type=%u keylen=%u flags=0x%x "
	    "data=%u/%u obj=%u timeout=%llu gc=%u policy=%u size=%u fields=",
	    nftnl_set_get_str(s, NFTNL_SET_NAME),
	    nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE),
	    nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN),
	    nftnl_set_get_u32(s, NFTNL_SET_FLAGS),
	    nftnl_set_get_u32(s, NFTNL_SET_DATA_TYPE),
	    nftnl_set_get_u32(s, NFTNL_SET_DATA_LEN),
	    nftnl_set_get_u32(s, NFTNL_SET_OBJ_TYPE),
	    (unsigned long long)nftnl_set_get_u64(s, NFTNL_SET_TIMEOUT),
	    nftnl_set_get_u32(s, NFTNL_SET_GC_INTERVAL),
	    nftnl_set_get_u32(s, NFTNL_SET_POLICY),
	    nftnl_set_get_u32(s, NFTNL_SET_DESC_SIZE));
	if (n < 0 || (size_t)n >= len)
		return -ENOBUFS;
	w.off = (size_t)n;
	for (i = 0; field != NULL && i < nfield; i++) {
		n = snprintf(buf + w.off, len - w.off, "%s%u", i ? "," : "",
		    field[i]);
		if (n < 0 || (size_t)n >= len - w.off)
			return -ENOBUFS;
		w.off += (size_t)n;
	}
	n = snprintf(buf + w.off, len - w.off, " exprs:");
	if (n < 0 || (size_t)n >= len - w.off)
		return -ENOBUFS;
	w.off += (size_t)n;
	nftnl_set_expr_foreach(s, set_expr_cb, &w);
	return w.full ? -ENOBUFS : (int)w.off;
}

int
kk_nft_canon_ipset(const struct nftnl_set *s, size_t nelems,
    const unsigned char digest[32], char *buf, size_t len)
{
	size_t off;
	int n, i;

	if ((n = canon_set_head(s, buf, len)) < 0)
		return n;
	off = (size_t)n;
	n = snprintf(buf + off, len - off, " elements: %zu sha256 ", nelems);
	if (n < 0 || (size_t)n >= len - off || len - off - (size_t)n < 65)
		return -ENOBUFS;
	off += (size_t)n;
	for (i = 0; i < 32; i++, off += 2)
		sprintf(buf + off, "%02x", digest[i]);
	return 0;
}

/* The elements of a libnftnl set, compact (at most max, then e->more). */
int
kk_nft_elems_of(const struct nftnl_set *s, size_t max, struct kk_nft_elems *e)
{
	struct nftnl_set_elems_iter *it;
	struct nftnl_set_elem *el;
	const void *key;
	uint32_t klen = 0;
	int err;

	if ((err = kk_nft_elems_init(e, nftnl_set_get_u32(s,
	    NFTNL_SET_KEY_LEN), max)) < 0)
		return err;
	it = nftnl_set_elems_iter_create((struct nftnl_set *)s);
	if (it == NULL)
		return -ENOMEM;
	while (err == 0 && (el = nftnl_set_elems_iter_next(it)) != NULL) {
		key = nftnl_set_elem_get(el, NFTNL_SET_ELEM_KEY, &klen);
		err = klen == e->keylen ? kk_nft_elems_add(e, key,
		    nftnl_set_elem_is_set(el, NFTNL_SET_ELEM_FLAGS) ?
		    nftnl_set_elem_get_u32(el, NFTNL_SET_ELEM_FLAGS) : 0) :
		    -EINVAL;
	}
	nftnl_set_elems_iter_destroy(it);
	if (err < 0)
		kk_nft_elems_free(e);
	return err;
}

int
kk_nft_canon_elems(const struct nftnl_set *s, struct kk_nft_elems *e,
    char *buf, size_t len)
{
	const size_t rlen = e->keylen + 1;
	size_t off, i, k;
	int n;

	kk_nft_elems_sort(e);
	if ((n = canon_set_head(s, buf, len)) < 0)
		return n;
	off = (size_t)n;
	n = snprintf(buf + off, len - off, " elements:");
	if (n < 0 || (size_t)n >= len - off)
		return -ENOBUFS;
	off += (size_t)n;
	for (i = 0; i < e->n; i++) {
		const uint8_t *r = e->rec + i * rlen;

		if (off + 2 * e->keylen + 6 >= len)
			return -ENOBUFS;
		buf[off++] = ' ';
		for (k = 0; k < e->keylen; k++, off += 2)
			sprintf(buf + off, "%02x", r[k]);
		/*
		 * An element's flags are part of it: an interval end "-",
		 * others (catch-all, what else the kernel listed with it)
		 * in hex.  None in a plain set of kakurid's.
		 */
		if (r[e->keylen] == KK_NFT_ELEM_END)
			buf[off++] = '-';
		else if (r[e->keylen] != 0)
			off += (size_t)sprintf(buf + off, "/%02x",
			    r[e->keylen]);
	}
	n = snprintf(buf + off, len - off, "%s", e->more ? " and more" : "");
	return n < 0 || (size_t)n >= len - off ? -ENOBUFS : 0;
}

int
kk_nft_canon_set(const struct nftnl_set *s, char *buf, size_t len)
{
	struct kk_nft_elems e;
	int err;

	if ((err = kk_nft_elems_of(s, KK_NFT_SMALL_MAX, &e)) < 0)
		return err;
	err = kk_nft_canon_elems(s, &e, buf, len);
	kk_nft_elems_free(&e);
	return err;
}

const char *
kk_nft_rule_comment(const struct nftnl_rule *r, char *buf, size_t len)
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
