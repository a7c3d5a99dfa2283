/*
 * Canonical rule lines remembered by a digest of the exact bytes they
 * were made from (memo.c).  Internal to agentd/nft/.
 */
#ifndef KK_NFT_MEMO_H
#define KK_NFT_MEMO_H

#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>

struct nftnl_rule;

#define KK_NFT_MEMO_KEY	32	/* SHA-256 */

struct kk_nft_memo_entry {
	unsigned char key[KK_NFT_MEMO_KEY];
	char *line;
};

/*
 * Two turns of entries: those found or made since the last check began
 * (now), and those of the check before (last).  A turn drops what the
 * last check did not use, so it holds about the rules of two checks.
 */
struct kk_nft_memo {
	struct kk_nft_memo_entry *now, *last;
	size_t nnow, nlast, capnow, caplast;
};

/* at most this many lines a turn; more are made but not kept */
#define KK_NFT_MEMO_MAX		512

/* Which side a key was made on: made from different objects, never mixed. */
enum kk_nft_memo_side {
	KK_NFT_MEMO_WANT = 'W',	/* a rule kakurid builds (nftnl's payload) */
	KK_NFT_MEMO_HAVE = 'H',	/* a rule as the kernel listed it */
};

/*
 * A rule message's key: SHA-256 of the side, then its chain, expression
 * and user data attributes as they are in nlh (headers included: their
 * concatenation is unambiguous; one absent is a zero-length header).  0,
 * or -EINVAL when nlh has one of them twice.
 */
int kk_nft_memo_key(const struct nlmsghdr *nlh, enum kk_nft_memo_side side,
    unsigned char key[KK_NFT_MEMO_KEY]);
/* The key of a rule kakurid built, made from the payload nftnl writes. */
int kk_nft_memo_key_of(const struct nftnl_rule *r,
    unsigned char key[KK_NFT_MEMO_KEY]);
/* A new check begins: what the one before did not use goes. */
void kk_nft_memo_turn(struct kk_nft_memo *m);
/* The line remembered for key, or NULL; valid until the next turn. */
const char *kk_nft_memo_find(struct kk_nft_memo *m,
    const unsigned char key[KK_NFT_MEMO_KEY]);
/* Remember line for key (not if the turn is full or memory short). */
void kk_nft_memo_keep(struct kk_nft_memo *m,
    const unsigned char key[KK_NFT_MEMO_KEY], const char *line);
void kk_nft_memo_free(struct kk_nft_memo *m);

#endif
