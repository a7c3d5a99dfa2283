/*
 * The objects of kakurid's tables (rules.c) as one netlink batch: made
 * anew, changed in place, or the first of two transactions of a block
 * list's new version.  Pure: no sockets, no kernel, so unit tests decode
 * what it builds.  The names and canonical texts are canon.c's.
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
#include <libnftnl/object.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "elems.h"
#include "nft.h"

/*
 * Batch assembly: messages go into pages (a message never spans two); each
 * gets a sequence number mapped to what it carries.
 */
struct batch_ctx {
	struct kk_nft_batch *b;
	uint32_t seq;
	struct nlmsghdr *cur;	/* the message being built */
};

/*
 * The first arena holds one page, as much as most batches need; a batch
 * of a large set's elements goes on in arenas of megabytes (huge pages).
 */
#define ARENA_FIRST	(KK_NFT_PAGE_SIZE + KK_NFT_MSG_MAX)
#define ARENA_NEXT	((size_t)4 << 20)

/*
 * The first arena of the last batch, kept for the next one and zeroed
 * again where it was used: a burst of batches (commands one after the
 * other, a drill's gate, a restore after tampering) does not map, fault
 * in and unmap it each time.  kakurid is one thread; kakurid's lean
 * settle gives it back (kk_nft_batch_cache_drop), so an idle kakurid
 * holds none.
 */
static struct kk_nft_arena arena_kept;

static void batch_release(struct kk_nft_batch *b, bool keep);

void
kk_nft_batch_cache_drop(void)
{
	kk_nft_bigbuf_free(arena_kept.buf, arena_kept.len);
	memset(&arena_kept, 0, sizeof(arena_kept));
}

/* Room for a new page: after the last page's bytes, or a new arena. */
static char *
page_room(struct kk_nft_batch *b)
{
	struct kk_nft_arena *a, *arenas;
	const struct kk_nft_page *last;
	size_t used = 0, len;

	if (b->narenas > 0) {
		a = &b->arenas[b->narenas - 1];
		last = &b->pages[b->npages - 1];
		if (last->buf >= a->buf && last->buf < a->buf + a->len)
			used = (size_t)(last->buf - a->buf) + last->len;
		if (a->len - used >= KK_NFT_PAGE_SIZE + KK_NFT_MSG_MAX)
			return a->buf + used;
	}
	arenas = realloc(b->arenas, (b->narenas + 1) * sizeof(*arenas));
	if (arenas == NULL)
		return NULL;
	b->arenas = arenas;
	a = &arenas[b->narenas];
	len = b->narenas == 0 ? ARENA_FIRST : ARENA_NEXT;
	/* zeroed: libmnl and libnftnl leave attribute padding as they find it */
	if (b->narenas == 0 && arena_kept.buf != NULL) {
		*a = arena_kept;
		memset(&arena_kept, 0, sizeof(arena_kept));
	} else if ((a->buf = kk_nft_bigbuf_alloc(len, &a->len)) == NULL)
		return NULL;
	b->narenas++;
	return a->buf;
}

static struct kk_nft_page *
page_cur(struct batch_ctx *c)
{
	struct kk_nft_batch *b = c->b;
	struct kk_nft_page *pages;
	char *room;

	if (b->npages > 0 && b->pages[b->npages - 1].len < KK_NFT_PAGE_SIZE)
		return &b->pages[b->npages - 1];
	if (b->npages >= KK_NFT_PAGES_MAX)
		return NULL;
	pages = realloc(b->pages, (b->npages + 1) * sizeof(*pages));
	if (pages == NULL)
		return NULL;
	b->pages = pages;
	if ((room = page_room(b)) == NULL)
		return NULL;
	pages[b->npages].len = 0;
	pages[b->npages].buf = room;
	return &pages[b->npages++];
}

static struct kk_nft_msgmap *
map_add(struct batch_ctx *c)
{
	struct kk_nft_batch *b = c->b;
	struct kk_nft_msgmap *map;
	size_t cap;

	if (b->nmap == b->cap_map) {
		cap = b->cap_map ? 2 * b->cap_map : 64;
		map = realloc(b->map, cap * sizeof(*map));
		if (map == NULL)
			return NULL;
		b->map = map;
		b->cap_map = cap;
	}
	map = &b->map[b->nmap++];
	memset(map, 0, sizeof(*map));
	return map;
}

/* Where the next message goes; NULL when the batch is full or memory is out. */
static void *
msg_room(struct batch_ctx *c)
{
	struct kk_nft_page *p = page_cur(c);

	return p ? p->buf + p->len : NULL;
}

static struct nlmsghdr *
msg_begin(struct batch_ctx *c, uint16_t type, int family, uint16_t flags,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static struct nlmsghdr *
msg_begin(struct batch_ctx *c, uint16_t type, int family, uint16_t flags,
    const char *fmt, ...)
{
	struct kk_nft_msgmap *m;
	void *room = msg_room(c);
	va_list ap;

	if (room == NULL || (m = map_add(c)) == NULL)
		return NULL;
	m->seq = c->seq;
	m->family = family;
	m->page = (uint32_t)(c->b->npages - 1);
	m->off = (uint32_t)c->b->pages[m->page].len;
	va_start(ap, fmt);
	vsnprintf(m->what, sizeof(m->what), fmt, ap);
	va_end(ap);
	c->cur = nftnl_nlmsg_build_hdr(room, type, (uint16_t)family,
	    flags | NLM_F_ACK, c->seq++);
	return c->cur;
}

/* The message at the end of the current page is complete. */
static int
msg_end(struct batch_ctx *c, struct nlmsghdr *nlh)
{
	struct kk_nft_page *p = &c->b->pages[c->b->npages - 1];
	size_t len = NLMSG_ALIGN(nlh->nlmsg_len);

	/* the room was KK_NFT_MSG_MAX; nothing kakurid builds comes close */
	if (len > KK_NFT_MSG_MAX)
		abort();
	p->len += len;
	c->b->len += len;
	c->cur = NULL;
	return 0;
}

/* (Re)declare an existing table with the flags it has, then delete it. */
/* A NEWTABLE of p's table with the flags it has: claims an orphaned one. */
static int
batch_claim(struct batch_ctx *c, const struct kk_nft_plan *p,
    struct nftnl_table *prev)
{
	struct nlmsghdr *nlh;

	nftnl_table_set_str(prev, NFTNL_TABLE_NAME, p->name);
	nftnl_table_set_u32(prev, NFTNL_TABLE_FAMILY, (uint32_t)p->family);
	nftnl_table_set_u32(prev, NFTNL_TABLE_FLAGS, p->prev_flags);
	nlh = msg_begin(c, NFT_MSG_NEWTABLE, p->family, NLM_F_CREATE,
	    "adopt existing table %s %s", kk_nft_family_name(p->family),
	    p->name);
	if (nlh == NULL)
		return -ENOBUFS;
	nftnl_table_nlmsg_build_payload(nlh, prev);
	return msg_end(c, nlh);
}

/* (Re)declare an existing table with the flags it has, then delete it. */
static int
batch_remove(struct batch_ctx *c, const struct kk_nft_plan *p)
{
	struct nftnl_table *prev = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	int err;

	if (prev == NULL)
		return -ENOMEM;
	if ((err = batch_claim(c, p, prev)) < 0)
		goto out;
	err = -ENOBUFS;
	nlh = msg_begin(c, NFT_MSG_DELTABLE, p->family, 0,
	    "delete old table %s %s", kk_nft_family_name(p->family), p->name);
	if (nlh == NULL)
		goto out;
	nftnl_table_nlmsg_build_payload(nlh, prev);
	err = msg_end(c, nlh);
out:
	nftnl_table_free(prev);
	return err;
}

/*
 * One NEWSETELEM message with as many of the next elements as fit in
 * KK_NFT_ELEMS_MAX: the nest's length is 16 bits, and the kernel takes
 * the list whole.
 */
static int
batch_elem_msg(struct batch_ctx *c, const struct kk_nft_objects *o, size_t i,
    struct elem_src *src)
{
	const struct nftnl_set *s = o->sets[i];
	const char *name = nftnl_set_get_str(s, NFTNL_SET_NAME);
	struct kk_nft_msgmap *m;
	struct nlmsghdr *nlh;
	struct nlattr *list;
	size_t used = MNL_ATTR_HDRLEN, first = src->next;	/* the list's own header */
	uint16_t idx = 0;
	int err;

	nlh = msg_begin(c, NFT_MSG_NEWSETELEM, o->family,
	    NLM_F_CREATE | NLM_F_EXCL, "elements of set %s", name);
	if (nlh == NULL)
		return -ENOBUFS;
	m = &c->b->map[c->b->nmap - 1];
	/* what libnftnl puts first, in its order */
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, name);
	mnl_attr_put_u32(nlh, NFTA_SET_ELEM_LIST_SET_ID,
	    htonl(nftnl_set_get_u32(s, NFTNL_SET_ID)));
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE,
	    nftnl_set_get_str(s, NFTNL_SET_TABLE));
	list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	while (src->next < src->n &&
	    used + kk_nft_elem_size(src, kk_nft_elems_end_next(src)) <= KK_NFT_ELEMS_MAX) {
		used += kk_nft_elem_size(src, kk_nft_elems_end_next(src));
		if ((err = kk_nft_elems_put(src, nlh, ++idx)) < 0)
			return err;
	}
	mnl_attr_nest_end(nlh, list);
	m->first = first;
	m->count = src->next - first;
	m->ranges = src->r;
	snprintf(m->set, sizeof(m->set), "%s", name);
	if (m->count < src->n)
		snprintf(m->what, sizeof(m->what),
		    "elements %zu-%zu of %zu of set %s", first + 1, src->next,
		    src->n, name);
	return msg_end(c, nlh);
}

/* Named counter i of o (o->objs). */
static int
batch_obj(struct batch_ctx *c, const struct kk_nft_objects *o, size_t i)
{
	struct nlmsghdr *nlh;

	nlh = msg_begin(c, NFT_MSG_NEWOBJ, o->family,
	    NLM_F_CREATE | NLM_F_EXCL, "counter %s",
	    nftnl_obj_get_str(o->objs[i], NFTNL_OBJ_NAME));
	if (nlh == NULL)
		return -ENOBUFS;
	nftnl_obj_nlmsg_build_payload(nlh, o->objs[i]);
	return msg_end(c, nlh);
}

/* The rules of o, in order, appended. */
static int
batch_rules(struct batch_ctx *c, const struct kk_nft_objects *o)
{
	const char *fam = kk_nft_family_name(o->family);
	struct nlmsghdr *nlh;
	char what[96];
	size_t i;

	for (i = 0; i < o->nrules; i++) {
		nlh = msg_begin(c, NFT_MSG_NEWRULE, o->family,
		    NLM_F_CREATE | NLM_F_APPEND, "rule %s%s%s: %s",
		    o->family == NFPROTO_INET ? "" : fam,
		    o->family == NFPROTO_INET ? "" : " ",
		    nftnl_rule_get_str(o->rules[i], NFTNL_RULE_CHAIN),
		    kk_nft_rule_comment(o->rules[i], what, sizeof(what)));
		if (nlh == NULL)
			return -ENOBUFS;
		nftnl_rule_nlmsg_build_payload(nlh, o->rules[i]);
		msg_end(c, nlh);
	}
	return 0;
}

/* Set i of o declared, with its elements. */
static int
batch_set(struct batch_ctx *c, const struct kk_nft_objects *o, size_t i)
{
	struct elem_src src;
	struct nlmsghdr *nlh;
	int err;

	nlh = msg_begin(c, NFT_MSG_NEWSET, o->family,
	    NLM_F_CREATE | NLM_F_EXCL, "set %s",
	    nftnl_set_get_str(o->sets[i], NFTNL_SET_NAME));
	if (nlh == NULL)
		return -ENOBUFS;
	nftnl_set_nlmsg_build_payload(nlh, o->sets[i]);
	msg_end(c, nlh);
	/* an empty set needs no element message */
	if ((err = kk_nft_elems_open(&src, o, i)) < 0)
		return err;
	while (err == 0 && src.next < src.n)
		err = batch_elem_msg(c, o, i, &src);
	kk_nft_elems_close(&src);
	return err;
}

/* The table of o with its chains, sets, elements and rules. */
static int
batch_create(struct batch_ctx *c, const struct kk_nft_objects *o)
{
	const char *fam = kk_nft_family_name(o->family);
	const char *table = nftnl_table_get_str(o->table, NFTNL_TABLE_NAME);
	struct nlmsghdr *nlh;
	size_t i;
	int err = 0;

	nlh = msg_begin(c, NFT_MSG_NEWTABLE, o->family,
	    NLM_F_CREATE | NLM_F_EXCL, "create table %s %s", fam, table);
	if (nlh == NULL)
		return -ENOBUFS;
	nftnl_table_nlmsg_build_payload(nlh, o->table);
	msg_end(c, nlh);
	for (i = 0; i < o->nchains; i++) {
		nlh = msg_begin(c, NFT_MSG_NEWCHAIN, o->family,
		    NLM_F_CREATE | NLM_F_EXCL, "chain %s %s %s", fam, table,
		    nftnl_chain_get_str(o->chains[i], NFTNL_CHAIN_NAME));
		if (nlh == NULL)
			return -ENOBUFS;
		nftnl_chain_nlmsg_build_payload(nlh, o->chains[i]);
		msg_end(c, nlh);
	}
	for (i = 0; i < o->nsets; i++)
		if ((err = batch_set(c, o, i)) < 0)
			return err;
	for (i = 0; i < o->nobjs; i++)
		if ((err = batch_obj(c, o, i)) < 0)
			return err;
	return batch_rules(c, o);
}

static bool
name_in(const char (*names)[KK_NFT_NAME_MAX], size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

static bool
versioned(const struct nftnl_set *s)
{
	return nftnl_set_get_u32(s, NFTNL_SET_ID) >= KK_NFT_VERSIONED_ID;
}

/*
 * The names a change in place compares with what the table holds: a
 * block list version's set (NULL for any other set: those are never
 * deleted by name), a named counter, a chain.
 */
static const char *
version_set_name(void *s)
{
	return versioned(s) ? nftnl_set_get_str(s, NFTNL_SET_NAME) : NULL;
}

static const char *
counter_name(void *obj)
{
	return nftnl_obj_get_str(obj, NFTNL_OBJ_NAME);
}

static const char *
chain_name(void *chain)
{
	return nftnl_chain_get_str(chain, NFTNL_CHAIN_NAME);
}

/* Whether one of the n objects wanted is called name, as name_of says. */
static bool
wanted(void *const *objs, size_t n, const char *(*name_of)(void *),
    const char *name)
{
	const char *have;
	size_t i;

	for (i = 0; i < n; i++)
		if ((have = name_of(objs[i])) != NULL && strcmp(have, name) == 0)
			return true;
	return false;
}

/* A chain or set of p's table deleted by name; a chain's rules, flushed. */
static int
batch_del(struct batch_ctx *c, const struct kk_nft_plan *p, uint16_t type,
    const char *name)
{
	struct nlmsghdr *nlh;

	nlh = msg_begin(c, type, p->family, 0, "%s %s",
	    type == NFT_MSG_DELSET ? "delete set" : type == NFT_MSG_DELCHAIN ?
	    "delete chain" : type == NFT_MSG_DELOBJ ? "delete counter" :
	    "flush chain", name);
	if (nlh == NULL)
		return -ENOBUFS;
	/* NFTA_{SET,CHAIN,RULE,OBJ}_TABLE are all 1 */
	mnl_attr_put_strz(nlh, NFTA_SET_TABLE, p->name);
	mnl_attr_put_strz(nlh, type == NFT_MSG_DELSET ? NFTA_SET_NAME :
	    type == NFT_MSG_DELCHAIN ? NFTA_CHAIN_NAME : type == NFT_MSG_DELOBJ ?
	    NFTA_OBJ_NAME : NFTA_RULE_CHAIN, name);
	if (type == NFT_MSG_DELOBJ)
		mnl_attr_put_u32(nlh, NFTA_OBJ_TYPE, htonl(NFT_OBJECT_COUNTER));
	return msg_end(c, nlh);
}

/* Whether o's set i is a block list version the kernel does not hold yet. */
static bool
new_version_set(const struct kk_nft_plan *p, size_t i)
{
	const struct nftnl_set *s = p->o->sets[i];

	return versioned(s) && !name_in(p->keep->sets, p->keep->nsets,
	    nftnl_set_get_str(s, NFTNL_SET_NAME));
}

/*
 * Those of the kernel's names (held) that none of the wanted objects has,
 * as name_of says, deleted with type.
 */
static int
batch_del_unwanted(struct batch_ctx *c, const struct kk_nft_plan *p,
    uint16_t type, const char (*held)[KK_NFT_NAME_MAX], size_t nheld,
    void *const *objs, size_t nobjs, const char *(*name_of)(void *))
{
	size_t i;
	int err = 0;

	for (i = 0; err == 0 && i < nheld; i++)
		if (!wanted(objs, nobjs, name_of, held[i]))
			err = batch_del(c, p, type, held[i]);
	return err;
}

/*
 * p's table claimed, and the sets of o's block list versions that the
 * kernel does not hold yet (p->keep) declared and filled.
 */
static int
batch_new_sets(struct batch_ctx *c, const struct kk_nft_plan *p)
{
	struct nftnl_table *prev = nftnl_table_alloc();
	size_t i;
	int err;

	if (prev == NULL)
		return -ENOMEM;
	err = batch_claim(c, p, prev);
	nftnl_table_free(prev);
	for (i = 0; err == 0 && i < p->o->nsets; i++)
		if (new_version_set(p, i))
			err = batch_set(c, p->o, i);
	return err;
}

/* The counters o names that the kernel does not hold yet (p->keep). */
static int
batch_new_counters(struct batch_ctx *c, const struct kk_nft_plan *p)
{
	const struct kk_nft_objects *o = p->o;
	const struct kk_nft_names *k = p->keep;
	size_t i;
	int err = 0;

	for (i = 0; err == 0 && i < o->nobjs; i++)
		if (!name_in(k->counters, k->ncounters,
		    nftnl_obj_get_str(o->objs[i], NFTNL_OBJ_NAME)))
			err = batch_obj(c, o, i);
	return err;
}

/*
 * p's table changed in place (the same comment and flags: the mode and
 * the episode are the same, a block list changed).  While a transaction
 * is being prepared, the kernel no longer finds elements in a set it
 * deletes (Linux 6.18: deleting the table and creating it anew lets
 * packets to a 100k block list through for seconds), so what takes time,
 * a new version's elements, goes in first, while the old rules and sets
 * hold; only then are the chains flushed, what is no longer wanted
 * deleted and the rest declared again, in a few small messages.  A
 * version's sets that the kernel holds already stay as they are.
 */
static int
batch_inplace(struct batch_ctx *c, const struct kk_nft_plan *p)
{
	const struct kk_nft_objects *o = p->o;
	const struct kk_nft_names *k = p->keep;
	struct nlmsghdr *nlh;
	const char *name;
	size_t i;
	int err;

	/* new versions' sets, filled while the old ones still hold */
	err = batch_new_sets(c, p);
	for (i = 0; err == 0 && i < k->nchains; i++)
		err = batch_del(c, p, NFT_MSG_DELRULE, k->chains[i]);
	if (err == 0)
		err = batch_del_unwanted(c, p, NFT_MSG_DELSET, k->sets, k->nsets,
		    (void *const *)o->sets, o->nsets, version_set_name);
	if (err == 0)
		err = batch_del_unwanted(c, p, NFT_MSG_DELOBJ, k->counters,
		    k->ncounters, (void *const *)o->objs, o->nobjs, counter_name);
	if (err == 0)
		err = batch_del_unwanted(c, p, NFT_MSG_DELCHAIN, k->chains,
		    k->nchains, (void *const *)o->chains, o->nchains, chain_name);
	for (i = 0; err == 0 && i < o->nchains; i++) {
		name = nftnl_chain_get_str(o->chains[i], NFTNL_CHAIN_NAME);
		/* an existing chain is updated (its policy), a new one created */
		nlh = msg_begin(c, NFT_MSG_NEWCHAIN, o->family, NLM_F_CREATE |
		    (name_in(k->chains, k->nchains, name) ? 0 : NLM_F_EXCL),
		    "chain %s %s", p->name, name);
		if (nlh == NULL)
			return -ENOBUFS;
		nftnl_chain_nlmsg_build_payload(nlh, o->chains[i]);
		err = msg_end(c, nlh);
	}
	for (i = 0; err == 0 && i < o->nsets; i++)
		if (!versioned(o->sets[i]))
			err = batch_set(c, o, i);
	/* a list's counter stays: its count goes on across versions */
	if (err == 0)
		err = batch_new_counters(c, p);
	return err < 0 ? err : batch_rules(c, o);
}

/*
 * The first of two transactions when a new version's sets come in: the
 * kernel stops finding elements in a set while a transaction that
 * deletes it is prepared (see batch_inplace), so the old version's rules
 * cannot be what holds then.  This one adds the new sets and counters
 * and puts o's rules in front of those in the chains there now (each
 * inserted at the head, last first); from its commit on, the new rules
 * hold whatever the next transaction does to the old ones.  Between the
 * two, both versions are blocked.
 */
static int
batch_bridge(struct batch_ctx *c, const struct kk_nft_plan *p)
{
	const struct kk_nft_objects *o = p->o;
	const struct kk_nft_names *k = p->keep;
	struct nlmsghdr *nlh;
	char what[96];
	size_t i;
	int err;

	if ((err = batch_new_sets(c, p)) == 0)
		err = batch_new_counters(c, p);
	for (i = o->nrules; err == 0 && i-- > 0;) {
		if (!name_in(k->chains, k->nchains, nftnl_rule_get_str(
		    o->rules[i], NFTNL_RULE_CHAIN)))
			continue;
		/* no NLM_F_APPEND: at the head of the chain */
		nlh = msg_begin(c, NFT_MSG_NEWRULE, o->family, NLM_F_CREATE,
		    "rule %s (ahead of the old version's): %s",
		    nftnl_rule_get_str(o->rules[i], NFTNL_RULE_CHAIN),
		    kk_nft_rule_comment(o->rules[i], what, sizeof(what)));
		if (nlh == NULL)
			return -ENOBUFS;
		nftnl_rule_nlmsg_build_payload(nlh, o->rules[i]);
		err = msg_end(c, nlh);
	}
	return err;
}

bool
kk_nft_plan_new_version(const struct kk_nft_plan *p)
{
	size_t i;

	for (i = 0; p->o != NULL && p->keep != NULL && i < p->o->nsets; i++)
		if (new_version_set(p, i))
			return true;
	return false;
}

/* The batch begin or end: no map entry, nothing the kernel acknowledges. */
static int
batch_mark(struct batch_ctx *c, bool begin)
{
	void *room = msg_room(c);
	struct nlmsghdr *nlh;

	if (room == NULL)
		return -ENOBUFS;
	nlh = begin ? nftnl_batch_begin(room, c->seq++) :
	    nftnl_batch_end(room, c->seq++);
	return msg_end(c, nlh);
}

/* b emptied and begun with sequence number seq; c builds it. */
static int
batch_open(struct batch_ctx *c, struct kk_nft_batch *b, uint32_t seq)
{
	memset(c, 0, sizeof(*c));
	c->b = b;
	c->seq = seq;
	memset(b, 0, sizeof(*b));
	b->seq_first = seq;
	return batch_mark(c, true);
}

/*
 * c's batch ended, when what went into it succeeded (err 0), or freed:
 * a caller that sees an error has no batch to free.
 */
static int
batch_close(struct batch_ctx *c, int err)
{
	if (err >= 0) {
		c->b->seq_last = c->seq - 1;
		err = batch_mark(c, false);
	}
	if (err < 0) {
		batch_release(c->b, false);
		return err;
	}
	return 0;
}

int
kk_nft_batch_build(struct kk_nft_batch *b, const struct kk_nft_plan *plan,
    size_t nplan, uint32_t seq)
{
	struct batch_ctx c;
	size_t i;
	int err;

	if ((err = batch_open(&c, b, seq)) < 0)
		goto out;
	/*
	 * every old table goes first, so the new ones swap in atomically;
	 * one changed in place does it in its own order
	 */
	for (i = 0; i < nplan; i++)
		if (plan[i].exists && plan[i].keep == NULL &&
		    (err = batch_remove(&c, &plan[i])) < 0)
			goto out;
	for (i = 0; i < nplan; i++) {
		if (plan[i].o && plan[i].keep != NULL && plan[i].bridge)
			err = batch_bridge(&c, &plan[i]);
		else if (plan[i].o && plan[i].keep != NULL)
			err = batch_inplace(&c, &plan[i]);
		else if (plan[i].o)
			err = batch_create(&c, plan[i].o);
		if (err < 0)
			goto out;
	}
out:
	return batch_close(&c, err);
}

/*
 * A drill gate's element, key 1, deleted (timeout 0) or added with a
 * timeout, as one message of the batch.
 */
static int
gate_elem_msg(struct batch_ctx *c, uint16_t type, const char *table,
    uint64_t timeout_ms)
{
	const uint32_t one = htonl(1);
	struct nlattr *list, *nest, *key;
	struct nlmsghdr *nlh;

	nlh = msg_begin(c, type, NFPROTO_INET, type == NFT_MSG_NEWSETELEM ?
	    NLM_F_CREATE : 0, "%s the drill gate of %s", type ==
	    NFT_MSG_NEWSETELEM ? "renewing" : "replacing", table);
	if (nlh == NULL)
		return -ENOBUFS;
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, KK_DRILL_GATE);
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table);
	list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	nest = mnl_attr_nest_start(nlh, 1);
	key = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
	mnl_attr_put(nlh, NFTA_DATA_VALUE, sizeof(one), &one);
	mnl_attr_nest_end(nlh, key);
	if (timeout_ms)
		mnl_attr_put_u64(nlh, NFTA_SET_ELEM_TIMEOUT,
		    htobe64(timeout_ms));
	mnl_attr_nest_end(nlh, nest);
	mnl_attr_nest_end(nlh, list);
	return msg_end(c, nlh);
}

int
kk_nft_batch_gate(struct kk_nft_batch *b, const char *table,
    uint64_t gate_ms, uint32_t seq)
{
	struct batch_ctx c;
	int err;

	/* out and in again in one transaction: never a moment without it */
	if ((err = batch_open(&c, b, seq)) == 0 &&
	    (err = gate_elem_msg(&c, NFT_MSG_DELSETELEM, table, 0)) == 0)
		err = gate_elem_msg(&c, NFT_MSG_NEWSETELEM, table, gate_ms);
	return batch_close(&c, err);
}

/* How much of arena a the batch's pages used: all of it is zero again. */
static void
arena_keep(const struct kk_nft_batch *b, const struct kk_nft_arena *a)
{
	size_t i, used = 0, end;

	for (i = 0; i < b->npages; i++)
		if (b->pages[i].buf >= a->buf &&
		    b->pages[i].buf < a->buf + a->len) {
			end = (size_t)(b->pages[i].buf - a->buf) +
			    b->pages[i].len;
			if (end > used)
				used = end;
		}
	memset(a->buf, 0, used);
	arena_kept = *a;
}

/*
 * keep: every message of b was finished (a batch a build returned), so
 * no byte past a page's length was written and its first arena can be
 * kept; a build that failed may have left a message half written.
 */
static void
batch_release(struct kk_nft_batch *b, bool keep)
{
	size_t i;

	for (i = 0; i < b->narenas; i++)
		if (i == 0 && keep && arena_kept.buf == NULL &&
		    b->arenas[0].len == ARENA_FIRST)
			arena_keep(b, &b->arenas[0]);
		else
			kk_nft_bigbuf_free(b->arenas[i].buf,
			    b->arenas[i].len);
	free(b->arenas);
	free(b->pages);
	free(b->map);
	memset(b, 0, sizeof(*b));
}

void
kk_nft_batch_free(struct kk_nft_batch *b)
{
	batch_release(b, true);
}
