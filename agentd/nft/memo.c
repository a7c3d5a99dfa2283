/*
 * Canonical rule lines remembered by the exact bytes they were made from.
 *
 * Every check renders each rule of both sides as text (canon.c), and
 * nftnl's expression printer is most of an apply's own time: a row of
 * fifteen matches is fifteen formatted prints, twice.  The text of a
 * rule the kernel listed is a function of three of its attributes as
 * the kernel sent them (its chain, its expressions, its user data: what
 * the text is made of); the text of a rule kakurid built is a function
 * of the payload nftnl writes for it, which is what the kernel is sent.
 * So a line is kept under those bytes, and the same bytes again give it
 * back without printing: a rule that differs in any byte (a counter
 * that counted, an expression changed) is printed anew.  The two sides
 * never share a key (the side is its first byte).
 *
 * Bounded: two turns of at most KK_NFT_MEMO_MAX lines; each check is a
 * turn, and what it did not use is gone at the next.
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

/* the attributes a rule's canonical text is made of, in key order */
static const uint16_t key_attrs[] = { NFTA_RULE_CHAIN, NFTA_RULE_EXPRESSIONS,
	NFTA_RULE_USERDATA };

int
kk_nft_memo_key(const struct nlmsghdr *nlh, enum kk_nft_memo_side side,
    unsigned char *key, size_t cap)
{
	const struct nlattr *found[sizeof(key_attrs) / sizeof(key_attrs[0])];
	const struct nlattr *a;
	size_t i, off = 1, len;

	memset(found, 0, sizeof(found));
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		for (i = 0; i < sizeof(key_attrs) / sizeof(key_attrs[0]); i++) {
			if (mnl_attr_get_type(a) != key_attrs[i])
				continue;
			/* twice the same attribute: no key, printed as ever */
			if (found[i] != NULL)
				return -EINVAL;
			found[i] = a;
		}
	}
	if (cap < 1)
		return -ENOBUFS;
	key[0] = (unsigned char)side;
	for (i = 0; i < sizeof(key_attrs) / sizeof(key_attrs[0]); i++) {
		if (found[i] == NULL) {
			/* absent is not empty: a zero-length header stands for it */
			if (cap - off < 2)
				return -ENOBUFS;
			key[off++] = 0;
			key[off++] = 0;
			continue;
		}
		len = found[i]->nla_len;
		if (len > cap - off)
			return -ENOBUFS;
		memcpy(key + off, found[i], len);
		off += len;
	}
	return (int)off;
}

int
kk_nft_memo_key_of(const struct nftnl_rule *r, unsigned char *key, size_t cap)
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
	return kk_nft_memo_key(nlh, KK_NFT_MEMO_WANT, key, cap);
}

static uint32_t
fnv1a(const unsigned char *p, size_t len)
{
	uint32_t h = 2166136261u;

	while (len-- > 0)
		h = (h ^ *p++) * 16777619u;
	return h;
}

static void
entries_free(struct kk_nft_memo_entry *e, size_t n)
{
	size_t i;

	for (i = 0; e != NULL && i < n; i++)
		free(e[i].key);
}

void
kk_nft_memo_turn(struct kk_nft_memo *m)
{
	struct kk_nft_memo_entry *e = m->last;

	entries_free(m->last, m->nlast);
	m->last = m->now;
	m->nlast = m->nnow;
	m->now = e;		/* the array is used again, emptied */
	m->nnow = 0;
}

static struct kk_nft_memo_entry *
lookup(struct kk_nft_memo_entry *e, size_t n, uint32_t hash,
    const unsigned char *key, size_t keylen)
{
	size_t i;

	for (i = 0; e != NULL && i < n; i++)
		if (e[i].key != NULL && e[i].hash == hash &&
		    e[i].keylen == keylen && memcmp(e[i].key, key, keylen) == 0)
			return &e[i];
	return NULL;
}

/* Room for one more entry this turn, or NULL. */
static struct kk_nft_memo_entry *
now_room(struct kk_nft_memo *m)
{
	if (m->nnow >= KK_NFT_MEMO_MAX)
		return NULL;
	if (m->now == NULL &&
	    (m->now = calloc(KK_NFT_MEMO_MAX, sizeof(*m->now))) == NULL)
		return NULL;
	return &m->now[m->nnow];
}

const char *
kk_nft_memo_find(struct kk_nft_memo *m, const unsigned char *key,
    size_t keylen)
{
	uint32_t hash = fnv1a(key, keylen);
	struct kk_nft_memo_entry *e, *to;

	if ((e = lookup(m->now, m->nnow, hash, key, keylen)) != NULL)
		return e->line;
	if ((e = lookup(m->last, m->nlast, hash, key, keylen)) == NULL)
		return NULL;
	/* used again: it moves to this turn (the last one's copy is emptied) */
	if ((to = now_room(m)) != NULL) {
		*to = *e;
		e->key = NULL;
		m->nnow++;
		return to->line;
	}
	return e->line;
}

void
kk_nft_memo_keep(struct kk_nft_memo *m, const unsigned char *key,
    size_t keylen, const char *line)
{
	struct kk_nft_memo_entry *e;
	size_t linelen = strlen(line) + 1;
	char *l;

	if (keylen > KK_NFT_MEMO_KEY_MAX || (e = now_room(m)) == NULL ||
	    (e->key = malloc(keylen + linelen)) == NULL)
		return;
	memcpy(e->key, key, keylen);
	l = (char *)e->key + keylen;
	memcpy(l, line, linelen);
	e->line = l;
	e->keylen = keylen;
	e->hash = fnv1a(key, keylen);
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
