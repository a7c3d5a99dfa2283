/*
 * 07-nftables.json: the packet filter ruleset as the kernel holds it
 * (libnftnl), or as the caller gave it in text.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "collect.h"
#include "nftkind.h"

/* ---- 07 nftables: libnftnl ------------------------------------------ */

struct nft_ctx {
	struct art *b;
	enum kk_nft_kind_id kind;	/* of the objects being dumped */
	struct nftnl_set **sets;
	size_t nsets;
	struct nftnl_set *cur;		/* whose elements are being dumped */
	unsigned elem_msgs;
	uint32_t gen;
	bool have_gen;
	bool sets_cut;
	bool elems_cut;
};

static const char *
nf_family(uint32_t f)
{
	switch (f) {
	case NFPROTO_INET:
		return "inet";
	case NFPROTO_IPV4:
		return "ip";
	case NFPROTO_ARP:
		return "arp";
	case NFPROTO_NETDEV:
		return "netdev";
	case NFPROTO_BRIDGE:
		return "bridge";
	case NFPROTO_IPV6:
		return "ip6";
	default:
		return "unknown";
	}
}

/* An object in libnftnl's own text form, bounded by NFT_TEXT_MAX. */
static json_t *
nft_text(const struct kk_nft_kind *k, const void *obj, bool *cut)
{
	size_t size = 4096;
	json_t *s = NULL;
	char *buf;
	int n;

	*cut = false;
	for (;;) {
		if ((buf = malloc(size)) == NULL)
			return NULL;
		n = k->snprintf(buf, size, obj, NFTNL_OUTPUT_DEFAULT, 0);
		if (n < 0) {
			free(buf);
			return NULL;
		}
		if ((size_t)n < size - 1 || size >= NFT_TEXT_MAX)
			break;
		free(buf);
		size *= 4;
	}
	if ((size_t)n >= size) {
		n = (int)size - 1;
		*cut = true;
	}
	buf[n] = '\0';
	s = kk_json_str(buf);
	free(buf);
	return s;
}

/*
 * An item's object: its kind, family, table and name; a table's flags, a
 * rule's chain and handle.
 */
static json_t *
nft_item(enum kk_nft_kind_id kind, const void *obj)
{
	const struct kk_nft_kind *k = &kk_nft_kinds[kind];
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	col_set_str(o, "kind", k->what);
	col_set_str(o, "family", nf_family(k->get_u32(obj, k->family)));
	if (kind != KK_NFT_TABLE)
		col_set_str(o, "table", k->get_str(obj, k->table));
	if (k->name >= 0)
		col_set_str(o, "name", k->get_str(obj, (uint16_t)k->name));
	if (kind == KK_NFT_TABLE)
		col_set_int(o, "flags", nftnl_table_get_u32(obj,
		    NFTNL_TABLE_FLAGS));
	if (kind == KK_NFT_RULE) {
		col_set_str(o, "chain", nftnl_rule_get_str(obj,
		    NFTNL_RULE_CHAIN));
		col_set_int(o, "handle", (long long)nftnl_rule_get_u64(obj,
		    NFTNL_RULE_HANDLE));
	}
	return o;
}

/* The item with its text to the artifact: MNL_CB_STOP once it is full. */
static int
nft_item_push(struct art *b, json_t *o, enum kk_nft_kind_id kind,
    const void *obj)
{
	bool cut;

	json_object_set_new(o, "text", nft_text(&kk_nft_kinds[kind], obj,
	    &cut));
	if (cut)
		col_set_bool(o, "text_cut", true);
	return col_art_push(b, o, 0) ? MNL_CB_OK : MNL_CB_STOP;
}

static int
nft_gen_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_ctx *x = data;
	struct nftnl_gen *g = nftnl_gen_alloc();

	if (g == NULL)
		return MNL_CB_OK;
	if (nftnl_gen_nlmsg_parse(nlh, g) >= 0 &&
	    nftnl_gen_is_set(g, NFTNL_GEN_ID)) {
		x->gen = nftnl_gen_get_u32(g, NFTNL_GEN_ID);
		x->have_gen = true;
	}
	nftnl_gen_free(g);
	return MNL_CB_OK;
}

/* A table, chain or rule (x->kind), straight to the artifact. */
static int
nft_object_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_ctx *x = data;
	const struct kk_nft_kind *k = &kk_nft_kinds[x->kind];
	void *obj = k->alloc();
	json_t *o;
	int r = MNL_CB_OK;

	if (obj == NULL)
		return MNL_CB_STOP;
	if (k->parse(nlh, obj) >= 0 && (o = nft_item(x->kind, obj)) != NULL)
		r = nft_item_push(x->b, o, x->kind, obj);
	k->free(obj);
	return r;
}

/* Sets are kept until their elements have been fetched. */
static int
nft_set_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_ctx *x = data;
	struct nftnl_set *s;

	if (x->nsets == MAX_NFT_SETS) {
		x->sets_cut = true;
		return MNL_CB_OK;
	}
	if ((s = nftnl_set_alloc()) == NULL)
		return MNL_CB_STOP;
	if (nftnl_set_nlmsg_parse(nlh, s) < 0) {
		nftnl_set_free(s);
		return MNL_CB_OK;
	}
	x->sets[x->nsets++] = s;
	return MNL_CB_OK;
}

static int
nft_elem_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_ctx *x = data;

	/* a set of millions of elements is kept to its first messages */
	if (++x->elem_msgs > MAX_NFT_ELEM_MSGS) {
		x->elems_cut = true;
		return MNL_CB_STOP;
	}
	nftnl_set_elems_nlmsg_parse(nlh, x->cur);
	return MNL_CB_OK;
}

static int
count_elem(struct nftnl_set_elem *e, void *data)
{
	(*(size_t *)data)++;
	return 0;
}

/* The ruleset text the caller already has, one item per line. */
static void
nft_from_text(struct art *b, const char *text)
{
	const char *p = text, *nl;
	size_t n;

	b->method = "caller";
	while (*p != '\0' && col_art_alive(b)) {
		nl = strchr(p, '\n');
		n = nl ? (size_t)(nl - p) : strlen(p);
		if (!col_art_push(b, kk_json_strn(p, n), 0))
			break;
		p += n;
		if (*p == '\n')
			p++;
	}
}

/* The ruleset generation into x, x->have_gen if the kernel said it. */
static int
nft_read_gen(struct collector *c, struct nft_ctx *x)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;

	x->have_gen = false;
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, NFPROTO_UNSPEC,
	    NLM_F_ACK, 0);
	return col_nl_dump(c, NETLINK_NETFILTER, nlh, nft_gen_cb, x);
}

/* Each set x kept, with its elements, to the artifact; then let it go. */
static void
nft_sets_push(struct collector *c, struct nft_ctx *x)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	size_t k, nelem;
	json_t *o;
	int err;

	for (k = 0; k < x->nsets; k++) {
		struct nftnl_set *s = x->sets[k];

		if (col_art_alive(x->b)) {
			nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM,
			    (uint16_t)nftnl_set_get_u32(s, NFTNL_SET_FAMILY),
			    NLM_F_DUMP, 0);
			nftnl_set_elems_nlmsg_build_payload(nlh, s);
			x->cur = s;
			x->elem_msgs = 0;
			err = col_nl_dump(c, NETLINK_NETFILTER, nlh,
			    nft_elem_cb, x);
			if (err < 0)
				col_nl_failed(x->b, "set elements", err);
			if ((o = nft_item(KK_NFT_SET, s)) != NULL) {
				nelem = 0;
				nftnl_set_elem_foreach(s, count_elem, &nelem);
				col_set_int(o, "elements", (long long)nelem);
				nft_item_push(x->b, o, KK_NFT_SET, s);
			}
		}
		nftnl_set_free(s);
		x->sets[k] = NULL;
	}
	x->nsets = 0;
}

void
collect_nftables(struct collector *c, struct art *b)
{
	static const struct {
		enum kk_nft_kind_id kind;
		mnl_cb_t cb;
		const char *what;
	} dumps[] = {
		{ KK_NFT_TABLE, nft_object_cb, "tables" },
		{ KK_NFT_CHAIN, nft_object_cb, "chains" },
		{ KK_NFT_SET, nft_set_cb, "sets" },
		{ KK_NFT_RULE, nft_object_cb, "rules" },
	};
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct nft_ctx x;
	uint32_t gen0 = 0;
	bool have_gen0;
	size_t i, k;
	int err;

	if (c->nft_text != NULL) {
		nft_from_text(b, c->nft_text);
		return;
	}
	memset(&x, 0, sizeof(x));
	x.b = b;
	if ((x.sets = calloc(MAX_NFT_SETS, sizeof(*x.sets))) == NULL) {
		col_art_error(b, "out of memory");
		return;
	}
	/* the generation before and after says whether it changed meanwhile */
	if ((err = nft_read_gen(c, &x)) < 0) {
		col_nl_failed(b, "generation", err);
		goto out;
	}
	have_gen0 = x.have_gen;
	gen0 = x.gen;
	for (i = 0; i < sizeof(dumps) / sizeof(dumps[0]) && col_art_alive(b);
	    i++) {
		x.kind = dumps[i].kind;
		nlh = nftnl_nlmsg_build_hdr(buf, kk_nft_kinds[x.kind].get,
		    NFPROTO_UNSPEC, NLM_F_DUMP, 0);
		if ((err = col_nl_dump(c, NETLINK_NETFILTER, nlh, dumps[i].cb,
		    &x)) < 0)
			col_nl_failed(b, dumps[i].what, err);
		if (x.kind == KK_NFT_SET)
			nft_sets_push(c, &x);
	}
	if (x.sets_cut)
		col_art_cut(b, "at most %d sets", MAX_NFT_SETS);
	if (x.elems_cut)
		col_art_note(b, "elements of large sets cut after %d messages",
		    MAX_NFT_ELEM_MSGS);
	if (have_gen0) {
		col_set_int(b->extra, "generation", gen0);
		if (nft_read_gen(c, &x) == 0 && x.have_gen && x.gen != gen0)
			col_art_note(b, "ruleset changed during the dump "
			    "(generation %u to %u)", gen0, x.gen);
	}
out:
	for (k = 0; k < x.nsets; k++)
		nftnl_set_free(x.sets[k]);
	free(x.sets);
}
