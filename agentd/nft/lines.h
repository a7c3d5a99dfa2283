/*
 * What readback.c takes from lines.c: a table as canonical lines, on
 * either side of a check.  Internal to agentd/nft/.
 */
#ifndef KK_NFT_LINES_H
#define KK_NFT_LINES_H

#include <stdbool.h>
#include <stddef.h>

struct kk_nft_elems;
struct kk_nft_memo;
struct kk_nft_objects;
struct nftnl_chain;
struct nftnl_rule;
struct nftnl_set;
struct nftnl_table;

/*
 * Canonical texts, in a stable order, of either side.  A line is written
 * in room (as long as the longest a line of its kind can be) and kept at
 * its own length: a rule's text is a tenth of CANON_MAX, and kakurid's
 * first check after a quiet spell would otherwise make some 300 KiB of
 * fresh heap resident, a page fault each 4 KiB.
 */
struct lines {
	char **v;
	size_t n, cap;
	char *room;
	size_t roomlen;
};

void kk_nft_lines_free(struct lines *l);
/* Appends the lines of what o wants to l. */
int kk_nft_want_lines(struct lines *l, const struct kk_nft_objects *o,
    struct kk_nft_memo *memo);

/* A set's line, on either side. */
struct setline {
	const struct nftnl_set *s;
	const char *name;
	bool interval;
	size_t nelems;
	const unsigned char *digest;
	struct kk_nft_elems *elems;	/* a plain set's; NULL for one no one wants */
};

/*
 * Where a side's rule lines may come from besides printing: the memo
 * (memo.c), under the kernel's bytes of each rule (keys, for the rules
 * read back) or under the payload built from it (keys NULL: wanted).
 */
struct rule_src {
	struct kk_nft_memo *memo;	/* NULL: every line printed */
	unsigned char *const *keys;
};

/*
 * Appends a table's lines: the table, its chains in hook order, its sets
 * by name (sorted in place), its rules in kernel (= insertion) order per
 * chain; chains or rules of names kakurid never makes count as
 * "unexpected object".
 */
int kk_nft_table_lines(struct lines *l, struct nftnl_table *t,
    struct nftnl_chain *const *chains, size_t nchains,
    struct setline *sets, size_t nsets,
    struct nftnl_rule *const *rules, size_t nrules,
    const struct rule_src *src);
/* SHA-256 of all of l's lines. */
int kk_nft_digest_lines(const struct lines *l, unsigned char out[32]);

#endif
