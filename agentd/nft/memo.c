/*
 * Canonical rule lines remembered by a digest of the exact bytes they
 * were made from.
 *
 * Every check renders each rule of both sides as text (canon.c), and
 * nftnl's expression printer is most of an apply's own time: a row of
 * fifteen matches is fifteen formatted prints, twice.  The text of a
 * rule the kernel listed is a function of three of its attributes as
 * the kernel sent them (its chain, its expressions, its user data: what
 * the text is made of); the text of a rule kakurid built is a function
 * of the payload nftnl writes for it, which is what the kernel is sent.
 * So a line is kept under the SHA-256 of those bytes, and the same bytes
 * again give it back without printing: a rule that differs in any byte
 * (a counter that counted, an expression changed) is printed anew.  The
 * digest is SHA-256, not a cheaper hash: whoever writes the kernel's
 * rules chooses those bytes, and must not find others that collide with
 * a rule kakurid wants.  The two sides never share a key (the side is
 * hashed first).
 *
 * Bounded, and small (the root parent's idle RSS counts every page):
 * two turns of at most KK_NFT_MEMO_MAX lines, each check a turn, and
 * what a check did not use is gone at the next.  Only a handle that
 * checks again and again keeps one (kk_nft_remember_lines: the daemon).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>

#include "memo.h"
#include "nft.h"
#include "sha256.h"

/* the attributes a rule's canonical text is made of, in key order */
static const uint16_t key_attrs[] = { NFTA_RULE_CHAIN, NFTA_RULE_EXPRESSIONS,
	NFTA_RULE_USERDATA };
#define NKEY_ATTRS	(sizeof(key_attrs) / sizeof(key_attrs[0]))

int
kk_nft_memo_key(const struct nlmsghdr *nlh, enum kk_nft_memo_side side,
    unsigned char key[KK_NFT_MEMO_KEY])
{
	static const unsigned char absent[4];
	const struct nlattr *found[NKEY_ATTRS];
	const struct nlattr *a;
	const unsigned char s = (unsigned char)side;
	struct kk_sha256_ctx c;
	size_t i;

	memset(found, 0, sizeof(found));
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		for (i = 0; i < NKEY_ATTRS; i++) {
			if (mnl_attr_get_type(a) != key_attrs[i])
				continue;
			/* twice the same attribute: no key, printed as ever */
			if (found[i] != NULL)
				return -EINVAL;
			found[i] = a;
		}
	}
	kk_sha256_begin(&c);
	kk_sha256_add(&c, &s, 1);
	for (i = 0; i < NKEY_ATTRS; i++) {
		/* absent is not empty: a zero-length header stands for it */
		if (found[i] == NULL)
			kk_sha256_add(&c, absent, sizeof(absent));
		else
			kk_sha256_add(&c, found[i], found[i]->nla_len);
	}
	kk_sha256_end(&c, key);
	return 0;
}

int
kk_nft_memo_key_of(const struct nftnl_rule *r,
    unsigned char key[KK_NFT_MEMO_KEY])
{
	/*
	 * nftnl writes a payload without a bound: this is the room the
	 * batch builder gives the same rule (build.c, which stops the
	 * daemon rather than go past it), so what was sent fits here.
	 */
	static char buf[KK_NFT_MSG_MAX];
	static size_t used;	/* what the longest rule so far wrote */
	struct nlmsghdr *nlh;

	/*
	 * libmnl leaves attributes' padding as it finds it: the same rule
	 * must give the same bytes (the kernel zeroes its own)
	 */
	memset(buf, 0, used);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWRULE, 0, 0, 0);
	/* nftnl's prototype is not const; it only reads the rule */
	nftnl_rule_nlmsg_build_payload(nlh, (struct nftnl_rule *)r);
	if (nlh->nlmsg_len > sizeof(buf))
		abort();
	if (nlh->nlmsg_len > used)
		used = nlh->nlmsg_len;
	return kk_nft_memo_key(nlh, KK_NFT_MEMO_WANT, key);
}

int
kk_nft_remember_lines(struct kk_nft *n)
{
	if (n->memo == NULL && (n->memo = calloc(1, sizeof(*n->memo))) == NULL)
		return -ENOMEM;
	return 0;
}

static void
entries_free(struct kk_nft_memo_entry *e, size_t n)
{
	size_t i;

	for (i = 0; e != NULL && i < n; i++)
		free(e[i].line);
}

void
kk_nft_memo_turn(struct kk_nft_memo *m)
{
	struct kk_nft_memo_entry *e = m->last;
	size_t cap = m->caplast;

	entries_free(m->last, m->nlast);
	m->last = m->now;
	m->nlast = m->nnow;
	m->caplast = m->capnow;
	m->now = e;		/* the array is used again, emptied */
	m->capnow = cap;
	m->nnow = 0;
}

static struct kk_nft_memo_entry *
lookup(struct kk_nft_memo_entry *e, size_t n,
    const unsigned char key[KK_NFT_MEMO_KEY])
{
	size_t i;

	for (i = 0; e != NULL && i < n; i++)
		if (e[i].line != NULL &&
		    memcmp(e[i].key, key, KK_NFT_MEMO_KEY) == 0)
			return &e[i];
	return NULL;
}

/* Room for one more entry this turn (grown as needed), or NULL. */
static struct kk_nft_memo_entry *
now_room(struct kk_nft_memo *m)
{
	struct kk_nft_memo_entry *e;
	size_t cap;

	if (m->nnow == m->capnow) {
		if (m->capnow >= KK_NFT_MEMO_MAX)
			return NULL;
		cap = m->capnow ? 2 * m->capnow : 64;
		if (cap > KK_NFT_MEMO_MAX)
			cap = KK_NFT_MEMO_MAX;
		if ((e = realloc(m->now, cap * sizeof(*e))) == NULL)
			return NULL;
		m->now = e;
		m->capnow = cap;
	}
	return &m->now[m->nnow];
}

const char *
kk_nft_memo_find(struct kk_nft_memo *m,
    const unsigned char key[KK_NFT_MEMO_KEY])
{
	struct kk_nft_memo_entry *e, *to;

	if ((e = lookup(m->now, m->nnow, key)) != NULL)
		return e->line;
	if ((e = lookup(m->last, m->nlast, key)) == NULL)
		return NULL;
	/* used again: it moves to this turn (the last one's copy is emptied) */
	if ((to = now_room(m)) != NULL) {
		*to = *e;
		e->line = NULL;
		m->nnow++;
		return to->line;
	}
	return e->line;
}

void
kk_nft_memo_keep(struct kk_nft_memo *m,
    const unsigned char key[KK_NFT_MEMO_KEY], const char *line)
{
	struct kk_nft_memo_entry *e;

	if ((e = now_room(m)) == NULL || (e->line = strdup(line)) == NULL)
		return;
	memcpy(e->key, key, KK_NFT_MEMO_KEY);
	m->nnow++;
}

void
kk_nft_memo_free(struct kk_nft_memo *m)
{
	entries_free(m->now, m->nnow);
	entries_free(m->last, m->nlast);
	free(m->now);
	free(m->last);
	memset(m, 0, sizeof(*m));
}
