/*
 * Interval sets at IOC-list scale, without a kernel: ranges parsed,
 * merged and digested (agentd/nft/intervals.c), and a batch with 100,000
 * ranges per family (some 400,000 elements) built in pages and decoded
 * again by hand with libmnl: every element present exactly once and in
 * order, every element list under the 64 KiB of a nest, no message across
 * two pages, one transaction, and every message's sequence number mapped
 * back to the elements it carries.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnftnl/set.h>

#include "nft.h"
#include "readback.h"
#include "suites.h"
#include "testutil.h"

#define NRANGES		100000

static void
ranges(struct kk_nft_ranges *r, int af, const char *const *text, size_t n)
{
	size_t i;

	ck_assert_int_eq(kk_nft_ranges_init(r, af), 0);
	for (i = 0; i < n; i++)
		ck_assert_msg(kk_nft_ranges_add(r, text[i]) == 0, "%s", text[i]);
	ck_assert_int_eq(kk_nft_ranges_seal(r), 0);
}

/*
 * spec as the set tests build it: the defaults of a new policy p, one
 * interval set ip over r named name ("" for none), in mode.
 */
static void
one_ipset(struct kk_nft_spec *spec, struct kk_nft_ipset *ip,
    struct kk_nft_ranges *r, const char *name, enum kk_mode mode,
    struct kk_policy *p)
{
	ck_assert_ptr_nonnull(p);
	kk_policy_defaults(p);
	memset(ip, 0, sizeof(*ip));
	snprintf(ip->name, sizeof(ip->name), "%s", name);
	ip->ranges = r;
	memset(spec, 0, sizeof(*spec));
	spec->mode = mode;
	spec->policy = p;
	spec->ipsets = ip;
	spec->nipsets = 1;
}

static void
range_is(const struct kk_nft_ranges *r, size_t i, const char *want)
{
	char buf[128];

	ck_assert_int_eq(kk_nft_ranges_format(r, i, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, want);
}

/* An address in r's family as a key, for carve and contains. */
static void
key_of(const struct kk_nft_ranges *r, const char *text, uint8_t key[16])
{
	ck_assert_msg(inet_pton(r->af, text, key) == 1, "%s", text);
}

/* Takes the one address text out of the sealed ranges r. */
static void
carve(struct kk_nft_ranges *r, const char *text)
{
	uint8_t key[16];

	key_of(r, text, key);
	ck_assert_msg(kk_nft_ranges_carve(r, key) == 0, "carve %s", text);
}

static bool
holds(const struct kk_nft_ranges *r, const char *text)
{
	uint8_t key[16];

	key_of(r, text, key);
	return kk_nft_ranges_contains(r, key);
}

/*
 * The IPv4 elements of r as the kernel would list them, backwards when
 * reversed, into e, which keeps at most max of them.
 */
static void
listed(struct kk_nft_elems *e, const struct kk_nft_ranges *r, size_t max,
    bool reversed)
{
	uint8_t key[16];
	size_t k, i;
	bool end;

	ck_assert_int_eq(kk_nft_elems_init(e, 4, max), 0);
	for (k = 0; k < r->nelems; k++) {
		i = reversed ? r->nelems - 1 - k : k;
		kk_nft_ranges_elem(r, i, key, &end);
		ck_assert_int_eq(kk_nft_elems_add(e, key,
		    end ? NFT_SET_ELEM_INTERVAL_END : 0), 0);
	}
}

START_TEST(ranges_parse_and_merge)
{
	static const char *const v4[] = {
		"10.0.0.0/30", "10.0.0.4", "10.0.0.6-10.0.0.9",	/* adjacent, gap */
		"192.0.2.0/24", "192.0.2.128/25",		/* inside */
		"198.51.100.0/31", "198.51.100.1-198.51.100.3",	/* overlap */
		"255.255.255.0/24",				/* to the end */
	};
	struct kk_nft_ranges r;
	uint8_t key[16];
	bool end;

	ranges(&r, AF_INET, v4, sizeof(v4) / sizeof(v4[0]));
	ck_assert_uint_eq(r.n, 5);
	range_is(&r, 0, "10.0.0.0-10.0.0.4");
	range_is(&r, 1, "10.0.0.6-10.0.0.9");
	range_is(&r, 2, "192.0.2.0-192.0.2.255");
	range_is(&r, 3, "198.51.100.0-198.51.100.3");
	range_is(&r, 4, "255.255.255.0-255.255.255.255");
	/* a start and an end each, but none after the last address */
	ck_assert_uint_eq(r.nelems, 9);
	kk_nft_ranges_elem(&r, 1, key, &end);
	ck_assert(end);
	ck_assert_mem_eq(key, ((uint8_t[]){ 10, 0, 0, 5 }), 4);
	kk_nft_ranges_elem(&r, 8, key, &end);
	ck_assert(!end);
	ck_assert_mem_eq(key, ((uint8_t[]){ 255, 255, 255, 0 }), 4);
	kk_nft_ranges_free(&r);

	/* refused: host bits, the other family, bad text, a range backwards */
	ck_assert_int_eq(kk_nft_ranges_init(&r, AF_INET), 0);
	ck_assert_int_eq(kk_nft_ranges_add(&r, "192.0.2.1/24"), -EINVAL);
	ck_assert_int_eq(kk_nft_ranges_add(&r, "2001:db8::1"), -EAFNOSUPPORT);
	ck_assert_int_eq(kk_nft_ranges_add(&r, "192.0.2.0/33"), -EINVAL);
	ck_assert_int_eq(kk_nft_ranges_add(&r, "192.0.2.0/024"), -EINVAL);
	ck_assert_int_eq(kk_nft_ranges_add(&r, "192.0.2.0/"), -EINVAL);
	ck_assert_int_eq(kk_nft_ranges_add(&r, "192.0.2"), -EINVAL);
	ck_assert_int_eq(kk_nft_ranges_add(&r, "example.com"), -EINVAL);
	ck_assert_int_eq(kk_nft_ranges_add(&r, "10.0.0.9-10.0.0.1"), -ERANGE);
	ck_assert_uint_eq(r.n, 0);
	ck_assert_int_eq(kk_nft_ranges_add(&r, "0.0.0.0/0"), 0);
	ck_assert_int_eq(kk_nft_ranges_seal(&r), 0);
	ck_assert_uint_eq(r.nelems, 1);
	kk_nft_ranges_free(&r);

	ck_assert_int_eq(kk_nft_ranges_init(&r, AF_INET6), 0);
	ck_assert_int_eq(kk_nft_ranges_add(&r, "2001:db8:bad::/48"), 0);
	ck_assert_int_eq(kk_nft_ranges_add(&r, "2001:db8::1-2001:db8::ff"), 0);
	ck_assert_int_eq(kk_nft_ranges_add(&r, "2001:db8:bad::1/48"), -EINVAL);
	ck_assert_int_eq(kk_nft_ranges_add(&r, "198.51.100.7"), -EAFNOSUPPORT);
	ck_assert_int_eq(kk_nft_ranges_seal(&r), 0);
	range_is(&r, 0, "2001:db8::1-2001:db8::ff");
	range_is(&r, 1, "2001:db8:bad::-2001:db8:bad:ffff:ffff:ffff:ffff:ffff");
	ck_assert_uint_eq(r.nelems, 4);
	kk_nft_ranges_free(&r);
	ck_assert_int_eq(kk_nft_ranges_init(&r, AF_UNIX), -EAFNOSUPPORT);
}
END_TEST

/* The same elements digest the same, in any order; one more or less does not. */
/*
 * Ranges as seal left them, loaded in one pass (a restore's list files):
 * the same ranges, elements and digest as sealing them; keys out of
 * order, overlapping, adjacent or reversed are refused, not repaired.
 * Room reserved (a block command's count) holds more if more come.
 */
START_TEST(load_takes_only_sealed_keys)
{
	static const char *const text[] = { "2001:db8::/48", "2001:db8:2::1",
	    "2001:db8:4::-2001:db8:4::ff", "ffff::/16" };
	struct kk_nft_ranges sealed, r;
	uint8_t *keys;
	size_t size, room;
	int bad;

	ranges(&sealed, AF_INET6, text, 4);
	ck_assert_uint_eq(sealed.n, 4);
	size = sealed.n * 2 * 16;
	kk_nft_ranges_init(&r, AF_INET6);
	ck_assert_int_eq(kk_nft_ranges_load(&r, sealed.keys, sealed.n), 0);
	ck_assert(r.sealed);
	ck_assert_uint_eq(r.n, sealed.n);
	ck_assert_uint_eq(r.nelems, sealed.nelems);
	ck_assert_uint_eq(r.nelems, 7);	/* ffff::/16 runs to the end */
	ck_assert_mem_eq(r.digest, sealed.digest, 32);
	kk_nft_ranges_free(&r);
	keys = malloc(size);
	ck_assert_ptr_nonnull(keys);
	for (bad = 1; bad <= 4; bad++) {
		memcpy(keys, sealed.keys, size);
		if (bad == 1) {		/* the first two ranges swapped */
			memcpy(keys, sealed.keys + 32, 32);
			memcpy(keys + 32, sealed.keys, 32);
		} else if (bad == 2) {	/* the second inside the first */
			keys[32 + 5] = 0x00;
			keys[48 + 5] = 0x00;
		} else if (bad == 3) {	/* the second right after the first */
			memcpy(keys + 32, keys + 16, 16);
			keys[32 + 5] = 0x01;
			memset(keys + 32 + 6, 0, 10);
		} else {		/* the third ends before it starts */
			keys[64 + 16 + 15] = 0x00;
			keys[64 + 15] = 0x01;
		}
		kk_nft_ranges_init(&r, AF_INET6);
		ck_assert_msg(kk_nft_ranges_load(&r, keys, sealed.n) == -EBADMSG,
		    "variant %d loaded", bad);
		kk_nft_ranges_free(&r);
	}
	free(keys);
	/*
	 * Room reserved for fewer than come: the rest fit all the same (on
	 * the heap); for as many: they stay where they were put.
	 */
	for (room = 2; room <= 4; room += 2) {
		kk_nft_ranges_init(&r, AF_INET6);
		ck_assert_int_eq(kk_nft_ranges_reserve(&r, room), 0);
		ck_assert_uint_gt(r.keys_maplen, 0);
		for (bad = 3; bad >= 0; bad--)
			ck_assert_int_eq(kk_nft_ranges_add(&r, text[bad]), 0);
		ck_assert(room < 4 ? r.keys_maplen == 0 : r.keys_maplen > 0);
		ck_assert_int_eq(kk_nft_ranges_seal(&r), 0);
		ck_assert_mem_eq(r.digest, sealed.digest, 32);
		kk_nft_ranges_free(&r);
	}
	/* nothing at all is sealed too; the cap holds */
	kk_nft_ranges_init(&r, AF_INET6);
	ck_assert_int_eq(kk_nft_ranges_load(&r, NULL, 0), 0);
	ck_assert(r.sealed);
	ck_assert_uint_eq(r.nelems, 0);
	kk_nft_ranges_free(&r);
	kk_nft_ranges_init(&r, AF_INET6);
	ck_assert_int_eq(kk_nft_ranges_load(&r, sealed.keys,
	    KK_NFT_RANGES_MAX + 1), -E2BIG);
	kk_nft_ranges_free(&r);
	kk_nft_ranges_free(&sealed);
}
END_TEST

START_TEST(digest_is_of_the_elements)
{
	static const char *const a[] = { "10.0.0.0/24", "10.0.2.0/24", "10.0.1.0/24" };
	static const char *const b[] = { "10.0.2.0/24", "10.0.0.0/23" };
	static const char *const c[] = { "10.0.0.0/24", "10.0.2.0/24" };
	struct kk_nft_ranges ra, rb, rc;
	struct kk_nft_elems e;
	unsigned char d[32];
	uint8_t key[16] = { 0 };
	size_t i;

	ranges(&ra, AF_INET, a, 3);
	ranges(&rb, AF_INET, b, 2);
	ranges(&rc, AF_INET, c, 2);
	ck_assert_mem_eq(ra.digest, rb.digest, 32);	/* merged: 10.0.0.0-10.0.2.255 */
	ck_assert(memcmp(ra.digest, rc.digest, 32) != 0);
	/* what the kernel lists, backwards, digests as what was committed */
	listed(&e, &rc, 16, true);
	ck_assert_int_eq(kk_nft_elems_digest(&e, d), 0);
	ck_assert_mem_eq(d, rc.digest, 32);
	/* an end flag lost is another set */
	e.rec[4] ^= 1;
	ck_assert_int_eq(kk_nft_elems_digest(&e, d), 0);
	ck_assert(memcmp(d, rc.digest, 32) != 0);
	kk_nft_elems_free(&e);
	/* more than the bound: counted as more, not kept */
	ck_assert_int_eq(kk_nft_elems_init(&e, 4, 2), 0);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(kk_nft_elems_add(&e, key, 0), 0);
	ck_assert_uint_eq(e.n, 2);
	ck_assert(e.more);
	kk_nft_elems_free(&e);
	kk_nft_ranges_free(&ra);
	kk_nft_ranges_free(&rb);
	kk_nft_ranges_free(&rc);
}
END_TEST

/*
 * For checks made once per element or message: Check records the place
 * of every assertion that passes (a message to the runner each), and
 * millions of them grew the runner by 400 MB, which every later test's
 * fork then carried.  This one speaks only when it fails.
 */
#define MUST(cond, ...)	do {						\
	if (!(cond))							\
		ck_abort_msg(__VA_ARGS__);				\
} while (0)

/*
 * NRANGES ranges that stay apart: IPv4 /30s, single addresses and ranges
 * 8 addresses apart in 10.0.0.0/8; IPv6 /64s, /128s and ranges.
 */
static void
big_ranges(struct kk_nft_ranges *r, int af)
{
	char text[96];
	size_t i;
	uint32_t a;

	ck_assert_int_eq(kk_nft_ranges_init(r, af), 0);
	for (i = 0; i < NRANGES; i++) {
		a = 0x0a000000u + 8u * (uint32_t)i;
		if (af == AF_INET && i % 3 == 0)
			snprintf(text, sizeof(text), "%u.%u.%u.%u/30", a >> 24,
			    (a >> 16) & 255, (a >> 8) & 255, a & 255);
		else if (af == AF_INET && i % 3 == 1)
			snprintf(text, sizeof(text), "%u.%u.%u.%u", a >> 24,
			    (a >> 16) & 255, (a >> 8) & 255, a & 255);
		else if (af == AF_INET)
			snprintf(text, sizeof(text), "%u.%u.%u.%u-%u.%u.%u.%u",
			    a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255,
			    a >> 24, (a >> 16) & 255, (a >> 8) & 255,
			    (a & 255) + 5);
		else if (i % 3 == 0)
			snprintf(text, sizeof(text), "2001:db8:%zx:%zx::/64",
			    i >> 12, (i & 0xfff) * 2);
		else if (i % 3 == 1)
			snprintf(text, sizeof(text), "2001:db8:%zx:%zx::1",
			    i >> 12, (i & 0xfff) * 2);
		else
			snprintf(text, sizeof(text),
			    "2001:db8:%zx:%zx::10-2001:db8:%zx:%zx::1:0",
			    i >> 12, (i & 0xfff) * 2, i >> 12, (i & 0xfff) * 2);
		MUST(kk_nft_ranges_add(r, text) == 0, "%s", text);
	}
	ck_assert_int_eq(kk_nft_ranges_seal(r), 0);
	ck_assert_uint_eq(r->n, NRANGES);	/* none merged */
	ck_assert_uint_eq(r->nelems, 2 * NRANGES);
}

/* What one NEWSETELEM message carries, decoded by hand. */
struct elem_msg {
	char set[KK_NFT_NAME_MAX];
	size_t count;
	uint16_t list_len;	/* the element list's nest */
};

/* Checks each element against the next one the set should have. */
struct expect {
	const struct kk_nft_ranges *r;
	size_t next;
	const char *name;
};

static void
decode_elem_msg(const struct nlmsghdr *nlh, struct elem_msg *m,
    struct expect *ex, size_t nex)
{
	const struct nlattr *a, *el, *x, *v;
	struct expect *cur = NULL;
	uint8_t want[16];
	uint16_t idx = 0;
	size_t i;
	bool end;

	memset(m, 0, sizeof(*m));
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		switch (mnl_attr_get_type(a)) {
		case NFTA_SET_ELEM_LIST_SET:
			snprintf(m->set, sizeof(m->set), "%s",
			    mnl_attr_get_str(a));
			for (i = 0; i < nex; i++)
				if (strcmp(ex[i].name, m->set) == 0)
					cur = &ex[i];
			MUST(cur != NULL, "a message for set %s", m->set);
			break;
		case NFTA_SET_ELEM_LIST_ELEMENTS:
			MUST(cur != NULL, "elements before their set");
			m->list_len = a->nla_len;
			mnl_attr_for_each_nested(el, a) {
				bool flagged = false;
				const uint8_t *key = NULL;

				/* numbered 1..n within the message, as libnftnl does */
				++idx;
				MUST(mnl_attr_get_type(el) == idx,
				    "element numbered %u, not %u",
				    (unsigned)mnl_attr_get_type(el), (unsigned)idx);
				mnl_attr_for_each_nested(x, el) {
					if (mnl_attr_get_type(x) ==
					    NFTA_SET_ELEM_FLAGS) {
						MUST(ntohl(mnl_attr_get_u32(x)) ==
						    NFT_SET_ELEM_INTERVAL_END,
						    "element flags %#x",
						    ntohl(mnl_attr_get_u32(x)));
						flagged = true;
						continue;
					}
					MUST(mnl_attr_get_type(x) ==
					    NFTA_SET_ELEM_KEY, "attribute %u",
					    (unsigned)mnl_attr_get_type(x));
					mnl_attr_for_each_nested(v, x) {
						MUST(mnl_attr_get_payload_len(v) ==
						    cur->r->keylen, "key of %u bytes",
						    (unsigned)
						    mnl_attr_get_payload_len(v));
						key = mnl_attr_get_payload(v);
					}
				}
				/* every element once, in order: the next wanted */
				MUST(cur->next < cur->r->nelems,
				    "set %s: more than %zu elements", cur->name,
				    cur->r->nelems);
				kk_nft_ranges_elem(cur->r, cur->next, want, &end);
				MUST(key != NULL, "set %s element %zu has no key",
				    cur->name, cur->next);
				MUST(memcmp(key, want, cur->r->keylen) == 0,
				    "set %s element %zu differs", cur->name,
				    cur->next);
				MUST(flagged == end, "set %s element %zu: "
				    "interval end flag %d, wanted %d", cur->name,
				    cur->next, flagged, end);
				cur->next++;
				m->count++;
			}
			break;
		default:
			break;
		}
	}
}

START_TEST(batch_of_100k_ranges_decodes)
{
	struct kk_nft_ranges r4, r6;
	struct kk_nft_ipset ips[2];
	struct kk_policy *p;
	struct kk_nft_spec spec;
	struct kk_nft_objects o;
	struct kk_nft_plan plan;
	struct kk_nft_batch b;
	struct kk_nft_elems e4, e6;
	struct expect ex[2];
	struct elem_msg m;
	unsigned char d[32];
	size_t i, nelemmsgs = 0, begins = 0, ends = 0, total = 0;
	uint32_t seq = 0;
	bool first = true;

	big_ranges(&r4, AF_INET);
	big_ranges(&r6, AF_INET6);
	p = calloc(1, sizeof(*p));
	ck_assert_ptr_nonnull(p);
	kk_policy_defaults(p);
	memset(ips, 0, sizeof(ips));
	strcpy(ips[0].name, "ioc4");
	ips[0].ranges = &r4;
	strcpy(ips[1].name, "ioc6");
	ips[1].ranges = &r6;
	memset(&spec, 0, sizeof(spec));
	spec.mode = KK_MODE_OPEN;
	spec.policy = p;
	spec.ipsets = ips;
	spec.nipsets = 2;
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &o), 0);
	ck_assert_uint_eq(o.nsets, 2);
	ck_assert_uint_eq(nftnl_set_get_u32(o.sets[0], NFTNL_SET_FLAGS),
	    NFT_SET_INTERVAL);
	memset(&plan, 0, sizeof(plan));
	plan.family = NFPROTO_INET;
	strcpy(plan.name, KK_TABLE_NAME);
	plan.exists = true;
	plan.o = &o;
	ck_assert_int_eq(kk_nft_batch_build(&b, &plan, 1, 1), 0);
	/* paged: several pages, all of them within their size, in one batch */
	ck_assert_uint_gt(b.npages, 8);
	ck_assert_uint_le(b.npages, KK_NFT_PAGES_MAX);

	memset(ex, 0, sizeof(ex));
	ex[0] = (struct expect){ .r = &r4, .name = "ioc4" };
	ex[1] = (struct expect){ .r = &r6, .name = "ioc6" };
	ck_assert_int_eq(kk_nft_elems_init(&e4, 4, 2 * NRANGES + 1), 0);
	ck_assert_int_eq(kk_nft_elems_init(&e6, 16, 2 * NRANGES + 1), 0);
	for (i = 0; i < b.npages; i++) {
		const struct nlmsghdr *nlh = (const void *)b.pages[i].buf;
		int left = (int)b.pages[i].len;

		MUST(b.pages[i].len <= KK_NFT_PAGE_SIZE + KK_NFT_MSG_MAX,
		    "page %zu of %zu bytes", i, b.pages[i].len);
		total += b.pages[i].len;
		for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
			const struct kk_nft_msgmap *map;

			/* one sequence number after the other, across pages */
			MUST(first || nlh->nlmsg_seq == seq + 1,
			    "sequence %u after %u", nlh->nlmsg_seq, seq);
			first = false;
			seq = nlh->nlmsg_seq;
			MUST(nlh->nlmsg_len <= KK_NFT_MSG_MAX,
			    "message of %u bytes", nlh->nlmsg_len);
			if (nlh->nlmsg_type == NFNL_MSG_BATCH_BEGIN) {
				begins++;
				continue;
			}
			if (nlh->nlmsg_type == NFNL_MSG_BATCH_END) {
				ends++;
				continue;
			}
			MUST(nlh->nlmsg_flags & NLM_F_ACK, "message %u: no ack",
			    nlh->nlmsg_seq);
			if (NFNL_MSG_TYPE(nlh->nlmsg_type) != NFT_MSG_NEWSETELEM)
				continue;
			decode_elem_msg(nlh, &m, ex, 2);
			nelemmsgs++;
			/* the nest's 16-bit length: under 64 KiB, with room */
			MUST(m.count > 0, "message %u: no element",
			    nlh->nlmsg_seq);
			MUST(m.list_len <= KK_NFT_ELEMS_MAX,
			    "message %u: element list of %u bytes",
			    nlh->nlmsg_seq, (unsigned)m.list_len);
			/* the sequence number names the set and its elements */
			map = kk_nft_batch_msg(&b, nlh->nlmsg_seq);
			MUST(map != NULL, "message %u: not mapped",
			    nlh->nlmsg_seq);
			MUST(strcmp(map->set, m.set) == 0 &&
			    map->count == m.count &&
			    strstr(map->what, m.set) != NULL,
			    "message %u: mapped to %s (%zu), carries %s (%zu)",
			    nlh->nlmsg_seq, map->what, map->count, m.set,
			    m.count);
			/* and libmnl parsing as the read-back does gets them too */
			MUST(kk_nft_elems_parse(strcmp(m.set, "ioc4") ? &e6 : &e4,
			    nlh) == 0, "message %u: read-back parse failed",
			    nlh->nlmsg_seq);
		}
		/* no message spans two pages */
		MUST(left == 0, "page %zu: %d bytes past its last message",
		    i, left);
	}
	ck_assert_uint_lt(KK_NFT_ELEMS_MAX, 65536);
	ck_assert_uint_eq(total, b.len);
	ck_assert_uint_eq(begins, 1);
	ck_assert_uint_eq(ends, 1);
	ck_assert_uint_eq(seq, b.seq_last + 1);
	/* every element exactly once: all of them, in order, none more */
	ck_assert_uint_eq(ex[0].next, r4.nelems);
	ck_assert_uint_eq(ex[1].next, r6.nelems);
	ck_assert_uint_gt(nelemmsgs, 2 * NRANGES * 20 / KK_NFT_ELEMS_MAX);
	ck_assert_uint_eq(e4.n, 2 * NRANGES);
	ck_assert(!e4.more);
	ck_assert_int_eq(kk_nft_elems_digest(&e4, d), 0);
	ck_assert_mem_eq(d, r4.digest, 32);
	ck_assert_int_eq(kk_nft_elems_digest(&e6, d), 0);
	ck_assert_mem_eq(d, r6.digest, 32);
	kk_nft_elems_free(&e4);
	kk_nft_elems_free(&e6);
	kk_nft_batch_free(&b);
	kk_nft_objects_free(&o);
	kk_nft_ranges_free(&r4);
	kk_nft_ranges_free(&r6);
	free(p);
}
END_TEST

/*
 * The kernel's extended ack gives the offset of the element it refused in
 * the message: the batch turns it into the element and its range.
 */
START_TEST(refused_element_is_named)
{
	static const char *const v4[] = { "192.0.2.0/24", "198.51.100.7",
		"203.0.113.10-203.0.113.20" };
	struct kk_nft_ranges r;
	struct kk_nft_ipset ip;
	struct kk_policy *p = calloc(1, sizeof(*p));
	struct kk_nft_spec spec;
	struct kk_nft_objects o;
	struct kk_nft_plan plan;
	struct kk_nft_batch b;
	const struct kk_nft_msgmap *m = NULL;
	const struct nlmsghdr *nlh;
	const struct nlattr *a, *el;
	char buf[256];
	size_t i;
	int k = 0;

	ranges(&r, AF_INET, v4, 3);
	one_ipset(&spec, &ip, &r, "blk4", KK_MODE_OPEN, p);
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &o), 0);
	memset(&plan, 0, sizeof(plan));
	plan.family = NFPROTO_INET;
	strcpy(plan.name, KK_TABLE_NAME);
	plan.o = &o;
	ck_assert_int_eq(kk_nft_batch_build(&b, &plan, 1, 40), 0);
	for (i = 0; i < b.nmap; i++)
		if (b.map[i].count > 0)
			m = &b.map[i];
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->count, 6);
	nlh = (const void *)(b.pages[m->page].buf + m->off);
	ck_assert_uint_eq(nlh->nlmsg_seq, m->seq);
	/* the fourth element: the end of 198.51.100.7 */
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) != NFTA_SET_ELEM_LIST_ELEMENTS)
			continue;
		mnl_attr_for_each_nested(el, a)
			if (++k == 4)
				break;
		ck_assert_int_eq(k, 4);
		kk_nft_batch_locate(&b, m->seq, (uint32_t)((const char *)el -
		    (const char *)nlh) + 4, buf, sizeof(buf));
	}
	ck_assert_str_eq(buf, "element 4 of set blk4 (range 198.51.100.7)");
	/* an offset outside the list: the message as a whole */
	kk_nft_batch_locate(&b, m->seq, 0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "elements of set blk4");
	kk_nft_batch_locate(&b, 39, 0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "batch");
	kk_nft_batch_free(&b);
	kk_nft_objects_free(&o);
	kk_nft_ranges_free(&r);
	free(p);
}
END_TEST

/* Interval sets only in the inet table, under names of their own. */
START_TEST(ipsets_are_checked)
{
	static const char *const v4[] = { "192.0.2.0/24" };
	struct kk_policy *p = calloc(1, sizeof(*p));
	struct kk_nft_ranges r, unsealed;
	struct kk_nft_ipset ip;
	struct kk_nft_spec spec;
	struct kk_nft_objects o;

	ranges(&r, AF_INET, v4, 1);
	one_ipset(&spec, &ip, &r, "", KK_MODE_EGRESS, p);
	/* no name; the name of a set of the rules */
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &o), -EINVAL);
	strcpy(ip.name, "mail_tcp");
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &o), -EEXIST);
	strcpy(ip.name, "ioc");
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &o), 0);
	ck_assert_ptr_eq(o.ranges[o.nsets - 1], &r);
	kk_nft_objects_free(&o);
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_BRIDGE, &o), 0);
	ck_assert_uint_eq(o.nsets, 3);	/* the bridge's egress sets only */
	kk_nft_objects_free(&o);
	/* ranges not sealed are not sorted, merged or digested */
	ck_assert_int_eq(kk_nft_ranges_init(&unsealed, AF_INET), 0);
	ck_assert_int_eq(kk_nft_ranges_add(&unsealed, "192.0.2.1"), 0);
	ip.ranges = &unsealed;
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &o), -EINVAL);
	kk_nft_ranges_free(&unsealed);
	kk_nft_ranges_free(&r);
	free(p);
}
END_TEST

/* The index of o's set called name, o->nsets when it has none. */
static size_t
set_index(const struct kk_nft_objects *o, const char *name)
{
	size_t i;

	for (i = 0; i < o->nsets; i++)
		if (strcmp(nftnl_set_get_str(o->sets[i], NFTNL_SET_NAME),
		    name) == 0)
			break;
	return i;
}

/* Whether o has a set called name. */
static bool
has_set(const struct kk_nft_objects *o, const char *name)
{
	return set_index(o, name) < o->nsets;
}

/* The set called name of o (the test fails if there is none). */
static size_t
set_named(const struct kk_nft_objects *o, const char *name)
{
	size_t k = set_index(o, name);

	if (k == o->nsets)
		ck_abort_msg("no set %s", name);
	return k;
}

/*
 * A live drill's table has no copy of the block lists: no interval set,
 * no port set, no counter, no block rule; only its gate and the sets its
 * isolated rows look up.  kakurid's own table (the same spec, no drill)
 * has them all.
 */
START_TEST(drill_has_no_ipsets)
{
	static const char *const v4[] = { "198.51.100.0/24" };
	static const uint16_t ports[] = { 443 };
	struct kk_policy *p = calloc(1, sizeof(*p));
	struct kk_nft_ranges r;
	struct kk_nft_ipset ip;
	struct kk_nft_spec spec;
	struct kk_nft_objects own, drill;
	char c[128];
	size_t i;

	ranges(&r, AF_INET, v4, 1);
	one_ipset(&spec, &ip, &r, "ioc_v1_4", KK_MODE_ISOLATED, p);
	ip.block = KK_NFT_BLOCK_OUT | KK_NFT_BLOCK_IN;
	ip.list = "ioc";
	ip.version = 1;
	ip.ports = ports;
	ip.nports = 1;
	snprintf(ip.ports_name, sizeof(ip.ports_name), "ioc_v1_P");
	spec.log_group = 7;
	spec.log_rate = 10;
	spec.log_unit = 1;
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &own), 0);
	ck_assert(has_set(&own, "ioc_v1_4") && has_set(&own, "ioc_v1_P"));
	ck_assert_uint_eq(own.nobjs, 1);	/* ioc_drops */
	spec.drill = true;
	spec.gate_ms = 1000;
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &drill), 0);
	ck_assert(has_set(&drill, KK_DRILL_GATE));
	ck_assert_msg(!has_set(&drill, "ioc_v1_4") &&
	    !has_set(&drill, "ioc_v1_P"), "a drill's table has an IOC set");
	for (i = 0; i < drill.nsets; i++)
		ck_assert_msg(drill.ranges[i] == NULL, "set %s has ranges",
		    nftnl_set_get_str(drill.sets[i], NFTNL_SET_NAME));
	ck_assert_uint_eq(drill.nobjs, 0);
	for (i = 0; i < drill.nrules; i++)
		ck_assert_msg(strncmp(kk_nft_rule_comment(drill.rules[i], c,
		    sizeof(c)), "block ", 6) != 0, "%s", c);
	/* the rows' own sets, the gate instead of the list's two */
	ck_assert_uint_eq(drill.nsets, own.nsets - 2 + 1);
	kk_nft_objects_free(&drill);
	kk_nft_objects_free(&own);
	kk_nft_ranges_free(&r);
	free(p);
}
END_TEST

/*
 * Tampering that keeps the size: one element swapped for another, or a
 * change and a second one that brings the count back.  The count alone
 * would miss them; the digest of the elements does not, for interval sets
 * (dumped and digested) as for plain sets (listed in full).
 */
START_TEST(swaps_change_the_digest)
{
	static const char *const want[] = { "10.0.0.0/30", "10.0.0.8", "10.0.0.16-10.0.0.21" };
	static const char *const swap[] = { "10.0.0.0/30", "10.0.0.9", "10.0.0.16-10.0.0.21" };
	static const char *const two[] = { "10.0.0.0/30", "10.0.0.8", "10.0.0.16-10.0.0.22" };
	struct kk_nft_ranges rw, rs, rt;
	struct kk_nft_elems e;
	unsigned char d[32];

	ranges(&rw, AF_INET, want, 3);
	ranges(&rs, AF_INET, swap, 3);
	ranges(&rt, AF_INET, two, 3);
	ck_assert_uint_eq(rs.nelems, rw.nelems);
	ck_assert_uint_eq(rt.nelems, rw.nelems);
	ck_assert(memcmp(rs.digest, rw.digest, 32) != 0);
	ck_assert(memcmp(rt.digest, rw.digest, 32) != 0);
	/* as the kernel would list the swapped set: the same count, another digest */
	listed(&e, &rs, rw.nelems + 1, false);
	ck_assert_uint_eq(e.n, rw.nelems);
	ck_assert(!e.more);
	ck_assert_int_eq(kk_nft_elems_digest(&e, d), 0);
	ck_assert_mem_eq(d, rs.digest, 32);
	ck_assert(memcmp(d, rw.digest, 32) != 0);
	kk_nft_elems_free(&e);
	kk_nft_ranges_free(&rw);
	kk_nft_ranges_free(&rs);
	kk_nft_ranges_free(&rt);
}
END_TEST

/* A plain set (the rules' own) is compared by its listed elements. */
START_TEST(plain_set_swap_is_seen)
{
	struct kk_policy *p = calloc(1, sizeof(*p));
	struct kk_nft_spec spec;
	struct kk_nft_objects o;
	struct kk_nft_elems e;
	char a[4096], b[4096];
	size_t s;

	ck_assert_ptr_nonnull(p);
	kk_policy_defaults(p);
	p->mail_tcp.port[0] = 25;
	p->mail_tcp.port[1] = 587;
	p->mail_tcp.n = 2;
	memset(&spec, 0, sizeof(spec));
	spec.mode = KK_MODE_EGRESS;
	spec.policy = p;
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &o), 0);
	s = set_named(&o, "mail_tcp");
	ck_assert_int_eq(kk_nft_elems_of(o.sets[s], KK_NFT_SMALL_MAX, &e), 0);
	ck_assert_uint_gt(e.n, 0);
	ck_assert_int_eq(kk_nft_canon_elems(o.sets[s], &e, a, sizeof(a)), 0);
	/* the last byte of one key changed: the same count, another line */
	e.rec[(e.n - 1) * (e.keylen + 1) + e.keylen - 1] ^= 0x01;
	ck_assert_int_eq(kk_nft_canon_elems(o.sets[s], &e, b, sizeof(b)), 0);
	ck_assert_str_ne(a, b);
	kk_nft_elems_free(&e);
	kk_nft_objects_free(&o);
	free(p);
}
END_TEST

/* A set as a read-back lists s: its name, key and flags (no elements). */
static struct nftnl_set *
listed_set(const struct nftnl_set *s, uint32_t flags)
{
	struct nftnl_set *l = nftnl_set_alloc();

	ck_assert_ptr_nonnull(l);
	nftnl_set_set_str(l, NFTNL_SET_TABLE,
	    nftnl_set_get_str(s, NFTNL_SET_TABLE));
	nftnl_set_set_str(l, NFTNL_SET_NAME, nftnl_set_get_str(s, NFTNL_SET_NAME));
	nftnl_set_set_u32(l, NFTNL_SET_KEY_TYPE,
	    nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE));
	nftnl_set_set_u32(l, NFTNL_SET_KEY_LEN,
	    nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN));
	nftnl_set_set_u32(l, NFTNL_SET_FLAGS, flags);
	nftnl_set_set_u64(l, NFTNL_SET_HANDLE, 42);
	return l;
}

/*
 * A small set made anew by someone else with other attributes, holding
 * what lists as the same elements.  The review's case: dns4 recreated
 * with "flags interval" and one interval start without an end
 * (10.0.0.53): the kernel then matches every address from 10.0.0.53 up,
 * yet dumps one element with flags 0, as in kakurid's plain set.  Its
 * canonical line must differ, as must one with a timeout, a size, a
 * policy or an element flagged otherwise.
 */
START_TEST(small_set_attributes_are_compared)
{
	struct kk_policy *p = calloc(1, sizeof(*p));
	struct kk_nft_spec spec;
	struct kk_nft_objects o;
	struct kk_nft_elems want, have;
	struct nftnl_set *s, *evil;
	const uint32_t key = htonl(0x0a000035);	/* 10.0.0.53 */
	char a[4096], b[4096];

	ck_assert_ptr_nonnull(p);
	kk_policy_defaults(p);
	kk_test_addr_add(&p->peers, "192.0.2.10");
	p->mgmt_ports.port[0] = 7443;
	p->mgmt_ports.n = 1;
	kk_test_addr_add(&p->dns, "10.0.0.53");
	memset(&spec, 0, sizeof(spec));
	spec.mode = KK_MODE_ISOLATED;
	spec.policy = p;
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &o), 0);
	s = o.sets[set_named(&o, "dns4")];
	ck_assert_uint_eq(nftnl_set_get_u32(s, NFTNL_SET_FLAGS), 0);
	ck_assert_int_eq(kk_nft_elems_of(s, KK_NFT_SMALL_MAX, &want), 0);
	ck_assert_uint_eq(want.n, 1);
	ck_assert_int_eq(kk_nft_canon_elems(s, &want, a, sizeof(a)), 0);

	/* the kernel's dns4 as a read-back has it: the same but for its flags */
	evil = listed_set(s, NFT_SET_INTERVAL);
	ck_assert_int_eq(kk_nft_elems_init(&have, 4, KK_NFT_SMALL_MAX + 1), 0);
	ck_assert_int_eq(kk_nft_elems_add(&have, &key, 0), 0);
	ck_assert_int_eq(kk_nft_canon_elems(evil, &have, b, sizeof(b)), 0);
	ck_assert_msg(strcmp(a, b) != 0, "an interval set with a lone start "
	    "element canonicalises as the plain set: %s", b);
	/* the same set as kakurid made it: the same line */
	nftnl_set_free(evil);
	evil = listed_set(s, 0);
	ck_assert_int_eq(kk_nft_canon_elems(evil, &have, b, sizeof(b)), 0);
	ck_assert_str_eq(a, b);

	/* the other attributes that change what a lookup matches */
	nftnl_set_free(evil);
	evil = listed_set(s, NFT_SET_TIMEOUT);
	nftnl_set_set_u64(evil, NFTNL_SET_TIMEOUT, 1000);
	ck_assert_int_eq(kk_nft_canon_elems(evil, &have, b, sizeof(b)), 0);
	ck_assert_str_ne(a, b);
	nftnl_set_free(evil);
	evil = listed_set(s, 0);
	nftnl_set_set_u32(evil, NFTNL_SET_DESC_SIZE, 1);
	ck_assert_int_eq(kk_nft_canon_elems(evil, &have, b, sizeof(b)), 0);
	ck_assert_str_ne(a, b);
	nftnl_set_free(evil);
	evil = listed_set(s, 0);
	nftnl_set_set_u32(evil, NFTNL_SET_POLICY, NFT_SET_POL_MEMORY);
	ck_assert_int_eq(kk_nft_canon_elems(evil, &have, b, sizeof(b)), 0);
	ck_assert_str_ne(a, b);
	nftnl_set_free(evil);

	/* an element is its key and its flags: an interval end is another */
	kk_nft_elems_free(&have);
	ck_assert_int_eq(kk_nft_elems_init(&have, 4, KK_NFT_SMALL_MAX + 1), 0);
	ck_assert_int_eq(kk_nft_elems_add(&have, &key,
	    NFT_SET_ELEM_INTERVAL_END), 0);
	ck_assert_int_eq(kk_nft_canon_elems(s, &have, b, sizeof(b)), 0);
	ck_assert_str_ne(a, b);
	kk_nft_elems_free(&have);
	kk_nft_elems_free(&want);
	kk_nft_objects_free(&o);
	free(p);
}
END_TEST

/* One NEWSETELEM message of set "dns4" with one element: flags, key or not, extra. */
static struct nlmsghdr *
elem_msg(char *buf, uint32_t flags, const uint32_t *key, bool with_data)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;
	struct nlattr *list, *el, *k;

	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = NFPROTO_INET;
	mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, "dns4");
	list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
	el = mnl_attr_nest_start(nlh, 1);
	if (flags != 0)
		mnl_attr_put_u32(nlh, NFTA_SET_ELEM_FLAGS, htonl(flags));
	if (key != NULL) {
		k = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
		mnl_attr_put(nlh, NFTA_DATA_VALUE, sizeof(*key), key);
		mnl_attr_nest_end(nlh, k);
	}
	if (with_data) {
		k = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_DATA);
		mnl_attr_put(nlh, NFTA_DATA_VALUE, sizeof(*key), key);
		mnl_attr_nest_end(nlh, k);
	}
	mnl_attr_nest_end(nlh, el);
	mnl_attr_nest_end(nlh, list);
	return nlh;
}

/*
 * Elements as a dump lists them: a catch-all element (no key: it matches
 * every key) and one that carries data are elements of their own, never
 * the plain element with the same key.
 */
START_TEST(listed_element_flags_count)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	const uint32_t key = htonl(0x0a000035);
	struct kk_nft_elems e;

	ck_assert_int_eq(kk_nft_elems_init(&e, 4, 8), 0);
	ck_assert_int_eq(kk_nft_elems_parse(&e, elem_msg(buf, 0, &key,
	    false)), 0);
	ck_assert_int_eq(kk_nft_elems_parse(&e, elem_msg(buf,
	    NFT_SET_ELEM_CATCHALL, NULL, false)), 0);
	ck_assert_int_eq(kk_nft_elems_parse(&e, elem_msg(buf, 0, &key,
	    true)), 0);
	ck_assert_uint_eq(e.n, 3);
	ck_assert_uint_eq(e.rec[4], 0);
	ck_assert_uint_eq(e.rec[5 + 4], KK_NFT_ELEM_CATCHALL);
	ck_assert_uint_eq(e.rec[10 + 4], KK_NFT_ELEM_EXTRA);
	kk_nft_elems_free(&e);
}
END_TEST

/*
 * Which sets one apply writes, so that only those are settled by the
 * generation after it: a change in place keeps a block list's version
 * the kernel holds (its elements as whoever touched them last left
 * them: read back), writes the rest anew; a table made anew writes
 * every set; a version's bridge only the new version's.
 */
START_TEST(settled_sets_are_the_written_ones)
{
	static const char *const v4[] = { "10.0.0.0/30", "10.0.0.8" };
	struct kk_policy *p = calloc(1, sizeof(*p));
	struct kk_nft_ipset ip[2];
	struct kk_nft_ranges r;
	struct kk_nft_spec spec;
	struct kk_nft_objects o;
	struct kk_nft_names *keep = calloc(1, sizeof(*keep));
	struct kk_nft_plan plan;
	struct kk_nft_written w;
	size_t old4, new4, ports, k;

	ck_assert_ptr_nonnull(keep);
	ranges(&r, AF_INET, v4, 2);
	one_ipset(&spec, &ip[0], &r, "ioc4v1", KK_MODE_ISOLATED, p);
	kk_test_addr_add(&p->peers, "192.0.2.10");
	p->mgmt_ports.port[0] = 7443;
	p->mgmt_ports.n = 1;
	ip[1] = ip[0];
	snprintf(ip[1].name, sizeof(ip[1].name), "ioc4v2");
	spec.nipsets = 2;
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &o), 0);
	old4 = set_named(&o, "ioc4v1");
	new4 = set_named(&o, "ioc4v2");
	ck_assert_uint_gt(o.nsets, 2);
	ports = old4 == 0 ? 1 : 0;	/* some set of the rows' own */
	ck_assert_uint_ne(ports, new4);
	/* the kernel holds ioc4v1 and a rows' set by those names */
	snprintf(keep->sets[keep->nsets++], KK_NFT_NAME_MAX, "ioc4v1");
	snprintf(keep->sets[keep->nsets++], KK_NFT_NAME_MAX, "%s",
	    nftnl_set_get_str(o.sets[ports], NFTNL_SET_NAME));

	memset(&plan, 0, sizeof(plan));
	plan.family = NFPROTO_INET;
	plan.o = &o;
	/* made anew: every set written */
	memset(&w, 0, sizeof(w));
	kk_nft_plan_written(&plan, &w);
	for (k = 0; k < o.nsets; k++)
		ck_assert_msg(w.set[k], "set %zu written anew", k);
	/* in place: the version the kernel holds is kept, not written */
	plan.exists = true;
	plan.keep = keep;
	memset(&w, 0, sizeof(w));
	kk_nft_plan_written(&plan, &w);
	ck_assert_msg(!w.set[old4], "a kept version is never settled");
	ck_assert(w.set[new4]);
	ck_assert(w.set[ports]);	/* deleted and made anew */
	/* a bridge writes only the new version */
	plan.bridge = true;
	memset(&w, 0, sizeof(w));
	kk_nft_plan_written(&plan, &w);
	for (k = 0; k < o.nsets; k++)
		ck_assert_msg(w.set[k] == (k == new4), "bridge, set %zu", k);
	kk_nft_objects_free(&o);
	kk_nft_ranges_free(&r);
	free(keep);
	free(p);
}
END_TEST

/*
 * The tamper monitor dumps block lists' elements at most once per min:
 * within it a dump waits, after it (or with none yet, or min 0) not.
 */
START_TEST(element_dumps_wait_a_second)
{
	const uint64_t s = 1000000;

	ck_assert(!kk_nft_dump_waits(5 * s, 0, s));	/* none yet */
	ck_assert(kk_nft_dump_waits(5 * s, 5 * s, s));
	ck_assert(kk_nft_dump_waits(5 * s + s - 1, 5 * s, s));
	ck_assert(!kk_nft_dump_waits(6 * s, 5 * s, s));
	ck_assert(!kk_nft_dump_waits(5 * s, 5 * s, 0));	/* never (status, timer) */
	ck_assert(!kk_nft_dump_waits(4 * s, 5 * s, s));	/* a clock that went back */
}
END_TEST

/* a check of kind CHECK, with the generations g, reads WANT */
#define READS(check, g, want)						\
	ck_assert_int_eq(kk_nft_check_reads(KK_NFT_CHECK_##check, &(g)),	\
	    KK_NFT_READ_##want)

/*
 * What a check reads, from the generations alone.  The generation only
 * grows: any commit since the last match, one or many, makes a check read
 * the tables again; only an owner table of kakurid's own socket, or
 * kakurid's own commit being the very last, spares the elements.
 */
START_TEST(check_reads_follow_the_generation)
{
	struct kk_nft_gens g, m;

	memset(&m, 0, sizeof(m));
	m.gen_ok = true;
	m.gen = 1000;
	m.verified_valid = true;
	m.verified_gen = 1000;
	m.same_objects = true;
	/* status, the timer: nothing committed since the last match */
	READS(CHEAP, m, NOTHING);
	/* a change, and a change and a second change: read again */
	g = m; g.gen = 1001;
	READS(CHEAP, g, OWNED);
	g.gen = 1002;
	READS(CHEAP, g, OWNED);
	/* 65,536 commits later: the same low 16 bits, not the same generation */
	g.gen = 1000 + 65536;
	READS(CHEAP, g, OWNED);
	/* round the 32 bits */
	g = m; g.verified_gen = UINT32_MAX; g.gen = 1;
	READS(CHEAP, g, OWNED);
	/* the generation unknown, no match yet, or other objects wanted */
	g = m; g.gen_ok = false;
	READS(CHEAP, g, OWNED);
	g = m; g.verified_valid = false;
	READS(CHEAP, g, ALL);
	g = m; g.same_objects = false;
	READS(CHEAP, g, ALL);
	/* full: always every element */
	READS(FULL, m, ALL);
	/* after our commit: settled only if ours was the only one */
	g = m; g.verified_valid = false; g.gen_before = 999; g.gen = 1000;
	g.commits = 1;
	READS(COMMITTED, g, SETTLED);
	/* a bridge and its batch: two of ours, and only those */
	g.commits = 2;
	READS(COMMITTED, g, OWNED);
	g.gen = 1001;
	READS(COMMITTED, g, SETTLED);
	g.gen = 1002;
	READS(COMMITTED, g, OWNED);
	g.gen = 1000; g.commits = 1;
	g.gen = 1001;	/* someone else's before or after ours */
	READS(COMMITTED, g, OWNED);
	g.gen = 1000; g.gen_before = 0;	/* not read before the commit */
	READS(COMMITTED, g, OWNED);
	g.gen_before = 999; g.gen_ok = false;
	READS(COMMITTED, g, OWNED);
	/* a commit never settles itself from a stale match */
	g = m;
	READS(COMMITTED, g, OWNED);
}
END_TEST

/*
 * While our batch is committed the monitor is out of the group (send.c):
 * the commits of other processes then are counted by the generation
 * alone.  Our batch moves it by one, a batch the kernel refused by none;
 * one of unknown outcome by one if it moved at all (and one that changed
 * nothing by none: the kernel skips it).  A generation not read cannot be
 * told: -1.
 */
#define BESIDES(ok, a, b, o, want)					\
	ck_assert_int_eq(kk_nft_commits_besides(ok, a, b, KK_NFT_##o), want)

START_TEST(commits_besides_ours_are_counted)
{
	/* ours alone; refused, nothing at all */
	BESIDES(true, 1000, 1001, COMMITTED, 0);
	BESIDES(true, 1000, 1000, REFUSED, 0);
	/* another's before, during or after ours: one, two */
	BESIDES(true, 1000, 1002, COMMITTED, 1);
	BESIDES(true, 1000, 1003, COMMITTED, 2);
	/* another's while ours was refused */
	BESIDES(true, 1000, 1001, REFUSED, 1);
	/* ours changed nothing: the kernel skipped it, nothing besides */
	BESIDES(true, 1000, 1000, COMMITTED, 0);
	/* unknown: ours if it moved */
	BESIDES(true, 1000, 1000, UNKNOWN, 0);
	BESIDES(true, 1000, 1001, UNKNOWN, 0);
	BESIDES(true, 1000, 1002, UNKNOWN, 1);
	/* the generation skips 0 as it wraps */
	BESIDES(true, UINT32_MAX, 1, COMMITTED, 0);
	BESIDES(true, UINT32_MAX, 2, COMMITTED, 1);
	BESIDES(true, UINT32_MAX - 1, 1, COMMITTED, 1);
	BESIDES(true, UINT32_MAX, UINT32_MAX, REFUSED, 0);
	BESIDES(true, UINT32_MAX, 1, REFUSED, 1);
	/* not read: cannot be told */
	BESIDES(false, 1000, 1001, COMMITTED, -1);
	BESIDES(false, 1000, 1000, REFUSED, -1);
	BESIDES(false, 1000, 1001, UNKNOWN, -1);
}
END_TEST

/*
 * An address taken out of sealed ranges (a management peer inside a
 * block list): the range that held it split, shrunk at either end or
 * gone, the rest and the digest as if the list had been sent without it;
 * the same from keys loaded whole (a list file); an address held by no
 * range changes nothing.
 */
START_TEST(carve_takes_one_address_out)
{
	static const char *const v4[] = { "192.0.2.0/24", "198.51.100.7",
	    "203.0.113.0/24" };
	static const char *const without[] = { "192.0.2.0-192.0.2.9",
	    "192.0.2.11-192.0.2.255", "203.0.113.1-203.0.113.254" };
	static const char *const v6[] = { "2001:db8::/32" };
	struct kk_nft_ranges r, w, l;

	ranges(&r, AF_INET, v4, sizeof(v4) / sizeof(v4[0]));
	carve(&r, "192.0.2.10");		/* inside: split */
	carve(&r, "198.51.100.7");		/* all of it: gone */
	carve(&r, "203.0.113.0");		/* either end: shrunk */
	carve(&r, "203.0.113.255");
	carve(&r, "10.9.9.9");			/* held by none */
	ck_assert(r.sealed);
	ck_assert_uint_eq(r.n, 3);
	range_is(&r, 0, "192.0.2.0-192.0.2.9");
	range_is(&r, 1, "192.0.2.11-192.0.2.255");
	range_is(&r, 2, "203.0.113.1-203.0.113.254");
	ck_assert(!holds(&r, "192.0.2.10"));
	ck_assert(holds(&r, "192.0.2.11"));
	/* as if sent without them: the same elements and digest */
	ranges(&w, AF_INET, without, sizeof(without) / sizeof(without[0]));
	ck_assert_uint_eq(r.nelems, w.nelems);
	ck_assert_mem_eq(r.digest, w.digest, sizeof(r.digest));
	/* keys loaded whole, as from a list file (mapped, not malloc'd) */
	ck_assert_int_eq(kk_nft_ranges_init(&l, AF_INET), 0);
	ck_assert_int_eq(kk_nft_ranges_load(&l, w.keys, w.n), 0);
	carve(&l, "192.0.2.200");
	ck_assert_uint_eq(l.n, 4);
	range_is(&l, 1, "192.0.2.11-192.0.2.199");
	range_is(&l, 2, "192.0.2.201-192.0.2.255");
	kk_nft_ranges_free(&l);
	kk_nft_ranges_free(&w);
	kk_nft_ranges_free(&r);
	/* IPv6 */
	ranges(&r, AF_INET6, v6, 1);
	carve(&r, "2001:db8::10");
	ck_assert_uint_eq(r.n, 2);
	range_is(&r, 0, "2001:db8::-2001:db8::f");
	range_is(&r, 1, "2001:db8::11-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff");
	kk_nft_ranges_free(&r);
}
END_TEST

KK_SUITE(nft_sets_suite, "nft_sets",
	KK_CASE("intervals", 0, 0),
	    KK_TEST(ranges_parse_and_merge),
	    KK_TEST(load_takes_only_sealed_keys),
	    KK_TEST(digest_is_of_the_elements),
	    KK_TEST(batch_of_100k_ranges_decodes),
	    KK_TEST(refused_element_is_named),
	    KK_TEST(ipsets_are_checked),
	    KK_TEST(drill_has_no_ipsets),
	    KK_TEST(swaps_change_the_digest),
	    KK_TEST(plain_set_swap_is_seen),
	    KK_TEST(small_set_attributes_are_compared),
	    KK_TEST(listed_element_flags_count),
	    KK_TEST(check_reads_follow_the_generation),
	    KK_TEST(commits_besides_ours_are_counted),
	    KK_TEST(settled_sets_are_the_written_ones),
	    KK_TEST(element_dumps_wait_a_second),
	    KK_TEST(carve_takes_one_address_out))
