/*
 * A table as canonical lines (canon.c), in one stable order, on either
 * side of a check: what kakurid wants of it, what the kernel listed of
 * it (readback.c compares the two).  A rule's line may come from the
 * memo (memo.c) instead of being printed again.
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
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#include "sha256.h"
#include "lines.h"
#include "memo.h"
#include "nft.h"
#include "nftkind.h"
#include "objects.h"

#define CANON_MAX	2048
/* a netdev chain's line names up to KK_NFT_NETDEVS_MAX devices */
#define CANON_CHAIN_MAX	(CANON_MAX + KK_NFT_NETDEVS_MAX * KK_NFT_IFNAME)

void
kk_nft_lines_free(struct lines *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l->room);
	memset(l, 0, sizeof(*l));
}

/* Room for a line of up to len bytes, for the caller to fill. */
static char *
lines_room(struct lines *l, size_t len)
{
	char *r;

	if (len > l->roomlen) {
		if ((r = realloc(l->room, len)) == NULL)
			return NULL;
		l->room = r;
		l->roomlen = len;
	}
	l->room[0] = '\0';
	return l->room;
}

/* A copy of line at the end of l. */
static int
lines_add(struct lines *l, const char *line)
{
	char **v;

	if (l->n == l->cap) {
		v = realloc(l->v, (l->cap ? 2 * l->cap : 32) * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		l->v = v;
		l->cap = l->cap ? 2 * l->cap : 32;
	}
	if ((l->v[l->n] = strdup(line)) == NULL)
		return -ENOMEM;
	l->n++;
	return 0;
}

/* The line written in the room, at the end of l; err passed through. */
static int
lines_keep(struct lines *l, int err)
{
	return err < 0 ? err : lines_add(l, l->room);
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(((const struct setline *)a)->name,
	    ((const struct setline *)b)->name);
}

static int
set_line(struct lines *l, const struct setline *sl)
{
	size_t len = CANON_MAX;
	char *buf;

	if (sl->elems != NULL)
		len += sl->elems->n * (2 * sl->elems->keylen + 2);
	if ((buf = lines_room(l, len)) == NULL)
		return -ENOMEM;
	if (sl->interval)
		return lines_keep(l, kk_nft_canon_ipset(sl->s, sl->nelems,
		    sl->digest, buf, len));
	if (sl->elems != NULL)
		return lines_keep(l, kk_nft_canon_elems(sl->s, sl->elems, buf,
		    len));
	snprintf(buf, len, "set %s, not kakurid's", sl->name);
	return lines_keep(l, 0);
}

/* A line of l: the canonical text of obj, a table, chain or rule. */
static int
canon_line(struct lines *l, enum kk_nft_kind_id kind, const void *obj)
{
	const size_t len = kind == KK_NFT_CHAIN ? CANON_CHAIN_MAX : CANON_MAX;
	char *buf;

	if ((buf = lines_room(l, len)) == NULL)
		return -ENOMEM;
	switch (kind) {
	case KK_NFT_TABLE:
		return lines_keep(l, kk_nft_canon_table(obj, buf, CANON_MAX));
	case KK_NFT_CHAIN:
		return lines_keep(l, kk_nft_canon_chain(obj, buf, len));
	case KK_NFT_RULE:
		return lines_keep(l, kk_nft_canon_rule(obj, buf, CANON_MAX));
	case KK_NFT_SET:
		break;		/* set_line() */
	}
	return -EINVAL;
}

/* The line of rule r, the i-th of its side. */
static int
rule_line(struct lines *l, const struct rule_src *src,
    const struct nftnl_rule *r, size_t i)
{
	unsigned char want_key[KK_NFT_MEMO_KEY];
	const unsigned char *key = NULL;
	const char *line;
	int err;

	if (src->memo != NULL && src->keys != NULL)
		key = src->keys[i];
	else if (src->memo != NULL && kk_nft_memo_key_of(r, want_key) == 0)
		key = want_key;
	if (key != NULL && (line = kk_nft_memo_find(src->memo, key)) != NULL)
		return lines_add(l, line);
	if ((err = canon_line(l, KK_NFT_RULE, r)) < 0)
		return err;
	if (key != NULL)
		kk_nft_memo_keep(src->memo, key, l->v[l->n - 1]);
	return 0;
}

/*
 * The lines of list[0..n), the chains or the rules (kind) of a table, in
 * hook order: those (in) the chain kk_nft_chain_names[0] first, and so on.
 */
static int
hook_lines(struct lines *l, enum kk_nft_kind_id kind, const void *list,
    size_t n, const struct rule_src *src)
{
	const char *chain;
	const void *obj;
	size_t c, i;
	int err;

	for (c = 0; c < KK_NFT_MAX_CHAINS; c++) {
		for (i = 0; i < n; i++) {
			if (kind == KK_NFT_CHAIN) {
				obj = ((struct nftnl_chain *const *)list)[i];
				chain = nftnl_chain_get_str(obj,
				    NFTNL_CHAIN_NAME);
			} else {
				obj = ((struct nftnl_rule *const *)list)[i];
				chain = nftnl_rule_get_str(obj,
				    NFTNL_RULE_CHAIN);
			}
			if (strcmp(chain, kk_nft_chain_names[c]) != 0)
				continue;
			err = kind == KK_NFT_RULE ? rule_line(l, src, obj, i) :
			    canon_line(l, kind, obj);
			if (err < 0)
				return err;
		}
	}
	return 0;
}

/*
 * Table, chains in hook order, sets by name, rules in kernel (=
 * insertion) order per chain; chains or rules with names kakurid never
 * makes count as "unexpected object".
 */
int
kk_nft_table_lines(struct lines *l, struct nftnl_table *t,
    struct nftnl_chain *const *chains, size_t nchains,
    struct setline *sets, size_t nsets,
    struct nftnl_rule *const *rules, size_t nrules,
    const struct rule_src *src)
{
	size_t total = 1 + nchains + nsets + nrules, first = l->n, i;
	char *buf;
	int err;

	if ((err = canon_line(l, KK_NFT_TABLE, t)) < 0 ||
	    (err = hook_lines(l, KK_NFT_CHAIN, chains, nchains, src)) < 0)
		return err;
	qsort(sets, nsets, sizeof(sets[0]), by_name);
	for (i = 0; i < nsets; i++)
		if ((err = set_line(l, &sets[i])) < 0)
			return err;
	if ((err = hook_lines(l, KK_NFT_RULE, rules, nrules, src)) < 0)
		return err;
	while (l->n < first + total) {
		if ((buf = lines_room(l, CANON_MAX)) == NULL)
			return -ENOMEM;
		strcpy(buf, "unexpected object");
		if ((err = lines_keep(l, 0)) < 0)
			return err;
	}
	return 0;
}

/* The canonical lines of what o wants. */
int
kk_nft_want_lines(struct lines *l, const struct kk_nft_objects *o,
    struct kk_nft_memo *memo)
{
	const struct rule_src src = { .memo = memo };
	struct setline sl[KK_NFT_MAX_SETS];
	struct kk_nft_elems e[KK_NFT_MAX_SETS];
	size_t i;
	int err = 0;

	memset(e, 0, sizeof(e));
	for (i = 0; i < o->nsets; i++) {
		memset(&sl[i], 0, sizeof(sl[i]));
		sl[i].s = o->sets[i];
		sl[i].name = nftnl_set_get_str(o->sets[i], NFTNL_SET_NAME);
		if (o->ranges[i] != NULL) {
			sl[i].interval = true;
			sl[i].nelems = o->ranges[i]->nelems;
			sl[i].digest = o->ranges[i]->digest;
		} else if ((err = kk_nft_elems_of(o->sets[i], KK_NFT_SMALL_MAX,
		    &e[i])) < 0) {
			goto out;
		} else {
			sl[i].elems = &e[i];
		}
	}
	err = kk_nft_table_lines(l, o->table, o->chains, o->nchains, sl, o->nsets,
	    o->rules, o->nrules, &src);
out:
	for (i = 0; i < o->nsets; i++)
		kk_nft_elems_free(&e[i]);
	return err;
}

int
kk_nft_digest_lines(const struct lines *l, unsigned char out[32])
{
	struct kk_sha256_ctx c;
	size_t i;

	kk_sha256_begin(&c);
	for (i = 0; i < l->n; i++)
		kk_sha256_add(&c, l->v[i], strlen(l->v[i]) + 1);
	kk_sha256_end(&c, out);
	return 0;
}
