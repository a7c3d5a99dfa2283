/*
 * Interval sets of addresses (the IOC block lists of DESIGN 7): ranges
 * kept compact (two keys each, not a libnftnl object per element, which
 * would cost some 300 bytes for each of 200,000 elements), sorted and
 * merged once, then handed to build.c element by element.
 *
 * The kernel keeps an interval set of one field in an rbtree as elements:
 * the first address of each range, and the address after its last one
 * flagged NFT_SET_ELEM_INTERVAL_END (none when the range runs to the last
 * address).  Overlapping or adjacent ranges are merged first: the kernel
 * refuses overlaps, and an end and a start on the same key say nothing.
 *
 * Both sides of a verification digest the same canonical element list:
 * SHA-256 over a label, the key length, and every element (its key and
 * one byte: 1 for an interval end) in ascending order.  kakurid keeps the
 * digest of what it committed and compares the kernel's without keeping
 * 200,000 elements twice.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "sha256.h"
#include "nft.h"

#define DIGEST_LABEL	"kakuri-intervals-v1"

int
kk_nft_ranges_init(struct kk_nft_ranges *r, int af)
{
	memset(r, 0, sizeof(*r));
	if (af != AF_INET && af != AF_INET6)
		return -EAFNOSUPPORT;
	r->af = af;
	r->keylen = af == AF_INET ? 4 : 16;
	return 0;
}

void
kk_nft_ranges_free(struct kk_nft_ranges *r)
{
	if (r->keys_maplen > 0)
		kk_nft_bigbuf_free(r->keys, r->keys_maplen);
	else
		free(r->keys);
	memset(r, 0, sizeof(*r));
}

static uint8_t *
lo_of(const struct kk_nft_ranges *r, size_t i)
{
	return r->keys + 2 * r->keylen * i;
}

static uint8_t *
hi_of(const struct kk_nft_ranges *r, size_t i)
{
	return lo_of(r, i) + r->keylen;
}

int
kk_nft_ranges_add_raw(struct kk_nft_ranges *r, const uint8_t *lo,
    const uint8_t *hi)
{
	uint8_t *keys;
	size_t cap;

	if (r->keylen == 0)
		return -EINVAL;
	if (memcmp(lo, hi, r->keylen) > 0)
		return -ERANGE;
	if (r->n >= KK_NFT_RANGES_MAX)
		return -E2BIG;
	if (r->n == r->cap) {
		cap = r->cap ? 2 * r->cap : 64;
		if (cap > KK_NFT_RANGES_MAX)
			cap = KK_NFT_RANGES_MAX;
		/* past a reservation (mapped keys): on the heap from now on */
		keys = realloc(r->keys_maplen > 0 ? NULL : r->keys,
		    cap * 2 * r->keylen);
		if (keys == NULL)
			return -ENOMEM;
		if (r->keys_maplen > 0) {
			memcpy(keys, r->keys, r->n * 2 * r->keylen);
			kk_nft_bigbuf_free(r->keys, r->keys_maplen);
			r->keys_maplen = 0;
		}
		r->keys = keys;
		r->cap = cap;
	}
	memcpy(lo_of(r, r->n), lo, r->keylen);
	memcpy(hi_of(r, r->n), hi, r->keylen);
	r->n++;
	r->sealed = false;
	return 0;
}

int
kk_nft_ranges_reserve(struct kk_nft_ranges *r, size_t n)
{
	if (r->keylen == 0 || r->n != 0 || r->keys != NULL)
		return -EINVAL;
	if (n > KK_NFT_RANGES_MAX)
		return -E2BIG;
	if (n == 0)
		return 0;
	if ((r->keys = kk_nft_bigbuf_alloc(n * 2 * r->keylen,
	    &r->keys_maplen)) == NULL)
		return -ENOMEM;
	r->cap = n;
	return 0;
}

/* One address of r's family, strictly (inet_pton). */
static int
parse_addr(const struct kk_nft_ranges *r, const char *s, size_t len,
    uint8_t out[16])
{
	char buf[INET6_ADDRSTRLEN];

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(r->af, buf, out) == 1)
		return 0;
	/* an address of the other family is not a typo: say which */
	return inet_pton(r->af == AF_INET ? AF_INET6 : AF_INET, buf,
	    (uint8_t[16]){ 0 }) == 1 ? -EAFNOSUPPORT : -EINVAL;
}

/* "/len": 0..keylen*8, decimal, nothing else. */
static int
parse_plen(const struct kk_nft_ranges *r, const char *s, unsigned *plen)
{
	unsigned v = 0;
	size_t i;

	if (s[0] == '\0' || strlen(s) > 3)
		return -EINVAL;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = 10 * v + (unsigned)(s[i] - '0');
	}
	if (v > 8 * r->keylen || (s[0] == '0' && s[1] != '\0'))
		return -EINVAL;
	*plen = v;
	return 0;
}

int
kk_nft_ranges_add(struct kk_nft_ranges *r, const char *text)
{
	uint8_t lo[16], hi[16];
	const char *sep;
	unsigned plen, i;
	int err;

	if ((sep = strchr(text, '/')) != NULL) {
		if ((err = parse_addr(r, text, (size_t)(sep - text), lo)) < 0 ||
		    (err = parse_plen(r, sep + 1, &plen)) < 0)
			return err;
		/* host bits set: a typo in an IOC list must not widen it silently */
		memcpy(hi, lo, r->keylen);
		for (i = plen; i < 8 * r->keylen; i++) {
			if (lo[i / 8] & (0x80 >> (i % 8)))
				return -EINVAL;
			hi[i / 8] |= (uint8_t)(0x80 >> (i % 8));
		}
	} else if ((sep = strchr(text, '-')) != NULL) {
		if ((err = parse_addr(r, text, (size_t)(sep - text), lo)) < 0 ||
		    (err = parse_addr(r, sep + 1, strlen(sep + 1), hi)) < 0)
			return err;
	} else {
		if ((err = parse_addr(r, text, strlen(text), lo)) < 0)
			return err;
		memcpy(hi, lo, r->keylen);
	}
	return kk_nft_ranges_add_raw(r, lo, hi);
}

static int
cmp_range(const void *a, const void *b, void *keylen)
{
	return memcmp(a, b, *(const uint32_t *)keylen);
}

/* key += 1; false when it wraps (key was the last address) */
static bool
key_next(uint8_t *key, uint32_t len)
{
	uint32_t i;

	for (i = len; i-- > 0;)
		if (++key[i] != 0)
			return true;
	return false;
}

/* Does range b start at or before the address after a's end? */
static bool
touches(const struct kk_nft_ranges *r, const uint8_t *a_hi, const uint8_t *b_lo)
{
	uint8_t next[16];

	memcpy(next, a_hi, r->keylen);
	if (!key_next(next, r->keylen))
		return true;	/* a runs to the end: b is inside it */
	return memcmp(b_lo, next, r->keylen) <= 0;
}

/*
 * The element list's digest, fed in blocks: two calls per element of
 * 200,000 cost more than the hashing.
 */
static int
digest_elems(const struct kk_nft_ranges *r, unsigned char out[32])
{
	struct kk_sha256_ctx c;
	uint8_t block[4096], klen = (uint8_t)r->keylen;
	size_t i, used = 0, step = r->keylen + 1;
	bool is_end;

	kk_sha256_begin(&c);
	kk_sha256_add(&c, DIGEST_LABEL, sizeof(DIGEST_LABEL));
	kk_sha256_add(&c, &klen, 1);
	for (i = 0; i < r->nelems; i++) {
		if (used + step > sizeof(block)) {
			kk_sha256_add(&c, block, used);
			used = 0;
		}
		kk_nft_ranges_elem(r, i, block + used, &is_end);
		block[used + r->keylen] = is_end;
		used += step;
	}
	kk_sha256_add(&c, block, used);
	kk_sha256_end(&c, out);
	return 0;
}

/* r's ranges sorted and merged: its elements counted and digested. */
static int
seal_done(struct kk_nft_ranges *r)
{
	uint8_t next[16];

	r->nelems = 2 * r->n;
	if (r->n > 0) {
		memcpy(next, hi_of(r, r->n - 1), r->keylen);
		if (!key_next(next, r->keylen))
			r->nelems--;	/* the last range has no end element */
	}
	r->sealed = digest_elems(r, r->digest) == 0;
	return r->sealed ? 0 : -ENOMEM;
}

int
kk_nft_ranges_seal(struct kk_nft_ranges *r)
{
	size_t i, k;

	if (r->keylen == 0)
		return -EINVAL;
	/* an empty list has no keys at all (NULL): nothing to sort */
	if (r->n > 1)
		qsort_r(r->keys, r->n, 2 * r->keylen, cmp_range, &r->keylen);
	/* merge into the first of each run of overlapping or adjacent ranges */
	for (i = 0, k = 0; i < r->n; i++) {
		if (k > 0 && touches(r, hi_of(r, k - 1), lo_of(r, i))) {
			if (memcmp(hi_of(r, i), hi_of(r, k - 1), r->keylen) > 0)
				memcpy(hi_of(r, k - 1), hi_of(r, i), r->keylen);
			continue;
		}
		if (k != i)
			memmove(lo_of(r, k), lo_of(r, i), 2 * r->keylen);
		k++;
	}
	r->n = k;
	return seal_done(r);
}

int
kk_nft_ranges_load(struct kk_nft_ranges *r, const uint8_t *keys, size_t n)
{
	size_t i;

	if (r->keylen == 0 || r->n != 0)
		return -EINVAL;
	if (n > KK_NFT_RANGES_MAX)
		return -E2BIG;
	if (n == 0)
		return seal_done(r);
	/* huge pages for a large list: its keys are written once, here */
	if ((r->keys = kk_nft_bigbuf_alloc(n * 2 * r->keylen,
	    &r->keys_maplen)) == NULL)
		return -ENOMEM;
	memcpy(r->keys, keys, n * 2 * r->keylen);
	r->n = r->cap = n;
	/* exactly what seal leaves, or nothing: no sort, no merge, one pass */
	for (i = 0; i < n; i++)
		if (memcmp(lo_of(r, i), hi_of(r, i), r->keylen) > 0 ||
		    (i > 0 && touches(r, hi_of(r, i - 1), lo_of(r, i))))
			return -EBADMSG;
	return seal_done(r);
}

void
kk_nft_ranges_elem(const struct kk_nft_ranges *r, size_t i, uint8_t key[16],
    bool *end)
{
	*end = i % 2 == 1;
	if (!*end) {
		memcpy(key, lo_of(r, i / 2), r->keylen);
		return;
	}
	memcpy(key, hi_of(r, i / 2), r->keylen);
	key_next(key, r->keylen);
}

int
kk_nft_ranges_format(const struct kk_nft_ranges *r, size_t i, char *buf,
    size_t len)
{
	char lo[INET6_ADDRSTRLEN], hi[INET6_ADDRSTRLEN];
	int n;

	if (i >= r->n || inet_ntop(r->af, lo_of(r, i), lo, sizeof(lo)) == NULL ||
	    inet_ntop(r->af, hi_of(r, i), hi, sizeof(hi)) == NULL)
		return -EINVAL;
	if (memcmp(lo_of(r, i), hi_of(r, i), r->keylen) == 0)
		n = snprintf(buf, len, "%s", lo);
	else
		n = snprintf(buf, len, "%s-%s", lo, hi);
	return n < 0 || (size_t)n >= len ? -ENOBUFS : 0;
}

/* The kernel's elements, from GETSETELEM dump replies. */

int
kk_nft_elems_init(struct kk_nft_elems *e, uint32_t keylen, size_t max)
{
	memset(e, 0, sizeof(*e));
	if (keylen == 0 || keylen > 16)
		return -EINVAL;
	e->keylen = keylen;
	e->max = max;
	return 0;
}

void
kk_nft_elems_free(struct kk_nft_elems *e)
{
	free(e->rec);
	memset(e, 0, sizeof(*e));
}

int
kk_nft_elems_add(struct kk_nft_elems *e, const void *key, uint32_t flags)
{
	const size_t rlen = e->keylen + 1;
	uint8_t *rec;
	size_t cap;

	if (e->n >= e->max) {
		e->more = true;	/* more than we want: a difference, not kept */
		return 0;
	}
	if (e->n == e->cap) {
		cap = e->cap ? 2 * e->cap : 256;
		if (cap > e->max)
			cap = e->max;
		rec = realloc(e->rec, cap * rlen);
		if (rec == NULL)
			return -ENOMEM;
		e->rec = rec;
		e->cap = cap;
	}
	memcpy(e->rec + e->n * rlen, key, e->keylen);
	/* the flags are part of the element: both sides compare them */
	e->rec[e->n * rlen + e->keylen] =
	    ((flags & NFT_SET_ELEM_INTERVAL_END) ? KK_NFT_ELEM_END : 0) |
	    ((flags & NFT_SET_ELEM_CATCHALL) ? KK_NFT_ELEM_CATCHALL : 0) |
	    ((flags & ~(uint32_t)(NFT_SET_ELEM_INTERVAL_END |
	    NFT_SET_ELEM_CATCHALL)) ? KK_NFT_ELEM_EXTRA : 0);
	e->n++;
	return 0;
}

/* One element nest: its key and flags. */
static int
elem_parse(struct kk_nft_elems *e, const struct nlattr *el)
{
	static const uint8_t none[16];
	const struct nlattr *a, *v, *key = NULL;
	uint32_t flags = 0, extra = 0;

	mnl_attr_for_each_nested(a, el) {
		switch (mnl_attr_get_type(a)) {
		case NFTA_SET_ELEM_FLAGS:
			if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
				return -EBADMSG;
			flags = ntohl(mnl_attr_get_u32(a));
			break;
		case NFTA_SET_ELEM_KEY:
			mnl_attr_for_each_nested(v, a)
				if (mnl_attr_get_type(v) == NFTA_DATA_VALUE)
					key = v;
			break;
		case NFTA_SET_ELEM_DATA:
		case NFTA_SET_ELEM_EXPR:
		case NFTA_SET_ELEM_OBJREF:
		case NFTA_SET_ELEM_KEY_END:
		case NFTA_SET_ELEM_EXPRESSIONS:
			/* changes what a lookup does: kakurid's have none */
			extra = KK_NFT_ELEM_F_EXTRA;
			break;
		default:
			break;
		}
	}
	/* a catch-all element has no key: it matches every key */
	if (key == NULL && (flags & NFT_SET_ELEM_CATCHALL))
		return kk_nft_elems_add(e, none, flags | extra);
	if (key == NULL || mnl_attr_get_payload_len(key) != e->keylen)
		return -EBADMSG;
	return kk_nft_elems_add(e, mnl_attr_get_payload(key), flags | extra);
}

int
kk_nft_elems_parse(struct kk_nft_elems *e, const struct nlmsghdr *nlh)
{
	const struct nlattr *a, *el;
	int err;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nfgenmsg))
		return -EBADMSG;
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) != NFTA_SET_ELEM_LIST_ELEMENTS)
			continue;
		mnl_attr_for_each_nested(el, a)
			if ((err = elem_parse(e, el)) < 0)
				return err;
	}
	return 0;
}

static int
cmp_rec(const void *a, const void *b, void *rlen)
{
	return memcmp(a, b, *(const size_t *)rlen);
}

/* the kernel lists an rbtree from its last element down */
void
kk_nft_elems_sort(struct kk_nft_elems *e)
{
	size_t rlen = e->keylen + 1;

	if (e->n > 1)
		qsort_r(e->rec, e->n, rlen, cmp_rec, &rlen);
}

int
kk_nft_elems_digest(struct kk_nft_elems *e, unsigned char out[32])
{
	struct kk_sha256_ctx c;
	size_t rlen = e->keylen + 1;
	uint8_t klen = (uint8_t)e->keylen;

	kk_nft_elems_sort(e);
	kk_sha256_begin(&c);
	kk_sha256_add(&c, DIGEST_LABEL, sizeof(DIGEST_LABEL));
	kk_sha256_add(&c, &klen, 1);
	if (e->n > 0)
		kk_sha256_add(&c, e->rec, e->n * rlen);
	kk_sha256_end(&c, out);
	return 0;
}

/*
 * The sealed ranges are sorted and disjoint: the number of those that
 * start at or before key (the last of them is index - 1).
 */
static size_t
starting_by(const struct kk_nft_ranges *r, const uint8_t *key)
{
	size_t lo = 0, hi = r->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (memcmp(lo_of(r, mid), key, r->keylen) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The sealed range that holds addr: its index + 1, or 0 if none does. */
static size_t
range_of(const struct kk_nft_ranges *r, const uint8_t *addr)
{
	size_t lo;

	if (!r->sealed)
		return 0;
	lo = starting_by(r, addr);
	return lo > 0 && memcmp(addr, hi_of(r, lo - 1), r->keylen) <= 0 ?
	    lo : 0;
}

bool
kk_nft_ranges_contains(const struct kk_nft_ranges *r, const uint8_t *addr)
{
	return range_of(r, addr) != 0;
}

bool
kk_nft_ranges_overlap(const struct kk_nft_ranges *r, const uint8_t *first,
    const uint8_t *last)
{
	size_t lo;

	if (!r->sealed)
		return false;
	/* the last range starting at or before last ends at first or after */
	lo = starting_by(r, last);
	return lo > 0 && memcmp(hi_of(r, lo - 1), first, r->keylen) >= 0;
}

/* key - 1 (big-endian); false if key was 0 */
static bool
key_prev(uint8_t *key, uint32_t len)
{
	uint32_t i;

	for (i = len; i-- > 0;)
		if (key[i]-- != 0)
			return true;
	return false;
}

int
kk_nft_ranges_carve(struct kk_nft_ranges *r, const uint8_t *addr)
{
	uint8_t lo[16], hi[16], below[16], above[16];
	size_t i;
	int err;

	if ((i = range_of(r, addr)) == 0)
		return 0;
	i--;
	if (r->n >= KK_NFT_RANGES_MAX)
		return -E2BIG;
	memcpy(lo, lo_of(r, i), r->keylen);
	memcpy(hi, hi_of(r, i), r->keylen);
	memcpy(below, addr, r->keylen);
	memcpy(above, addr, r->keylen);
	/* what was below addr, and what was above it, stays: added first */
	if (memcmp(addr, lo, r->keylen) > 0 && key_prev(below, r->keylen) &&
	    (err = kk_nft_ranges_add_raw(r, lo, below)) < 0)
		goto fail;
	if (memcmp(addr, hi, r->keylen) < 0 && key_next(above, r->keylen) &&
	    (err = kk_nft_ranges_add_raw(r, above, hi)) < 0)
		goto fail;
	/* then the range that held addr goes */
	memmove(lo_of(r, i), lo_of(r, i + 1), (r->n - i - 1) * 2 * r->keylen);
	r->n--;
	return kk_nft_ranges_seal(r);
fail:
	/* a piece added lies inside range i: merged back, as it was */
	kk_nft_ranges_seal(r);
	return err;
}

bool
kk_nft_ranges_everything(const struct kk_nft_ranges *r)
{
	static const uint8_t zero[16], ones[16] = { 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff };

	return r->sealed && r->n == 1 &&
	    memcmp(lo_of(r, 0), zero, r->keylen) == 0 &&
	    memcmp(hi_of(r, 0), ones, r->keylen) == 0;
}
