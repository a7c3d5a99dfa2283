/*
 * memo.c: a rule's canonical line is kept under a digest of the exact
 * bytes it was made from, and only those bytes give it back.  A key that
 * left out a byte the text depends on would let a changed rule pass as
 * the old one.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "nft.h"		/* first: <netinet/in.h> before the kernel's headers */
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>

#include "memo.h"
#include "readback.h"
#include "suites.h"
#include "testutil.h"

/* "meta l4proto == proto VERDICT", in chain, with comment (as user data) */
static struct nftnl_rule *
rule(const char *chain, uint8_t proto, int verdict, const char *comment,
    uint64_t handle)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nftnl_expr *e;

	ck_assert_ptr_nonnull(r);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, "kakuri");
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	if (handle != 0)
		nftnl_rule_set_u64(r, NFTNL_RULE_HANDLE, handle);
	e = nftnl_expr_alloc("meta");
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_L4PROTO);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	nftnl_rule_add_expr(r, e);
	e = nftnl_expr_alloc("cmp");
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, &proto, 1);
	nftnl_rule_add_expr(r, e);
	e = nftnl_expr_alloc("immediate");
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	nftnl_rule_add_expr(r, e);
	if (comment != NULL)
		nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, comment,
		    (uint32_t)strlen(comment) + 1);
	return r;
}

/* The key of r as the kernel would list it (a GETRULE reply), or < 0. */
static int
listed_key(struct nftnl_rule *r, unsigned char *key)
{
	static char buf[16384];
	struct nlmsghdr *nlh;

	/* the kernel zeroes attributes' padding; libmnl leaves it */
	memset(buf, 0, sizeof(buf));
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWRULE, NFPROTO_INET, 0, 1);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	return kk_nft_memo_key(nlh, KK_NFT_MEMO_HAVE, key);
}

static int
key_of(const char *chain, uint8_t proto, int verdict, const char *comment,
    uint64_t handle, unsigned char *key)
{
	struct nftnl_rule *r = rule(chain, proto, verdict, comment, handle);
	int err = listed_key(r, key);

	nftnl_rule_free(r);
	return err;
}

static bool
same(const unsigned char *a, const unsigned char *b)
{
	return memcmp(a, b, KK_NFT_MEMO_KEY) == 0;
}

START_TEST(keys_are_the_bytes_the_text_is_made_of)
{
	unsigned char a[KK_NFT_MEMO_KEY], b[KK_NFT_MEMO_KEY], c[KK_NFT_MEMO_KEY];
	struct nftnl_rule *r, *other, *again;

	ck_assert_int_eq(key_of("output", 6, NF_DROP, "drop all", 0, a), 0);
	/* the handle is not part of the text: the same key */
	ck_assert_int_eq(key_of("output", 6, NF_DROP, "drop all", 77, b), 0);
	ck_assert(same(a, b));
	/* an expression's value, the verdict, the chain, the comment: another */
	ck_assert_int_eq(key_of("output", 17, NF_DROP, "drop all", 0, b), 0);
	ck_assert(!same(a, b));
	ck_assert_int_eq(key_of("output", 6, NF_ACCEPT, "drop all", 0, b), 0);
	ck_assert(!same(a, b));
	ck_assert_int_eq(key_of("input", 6, NF_DROP, "drop all", 0, b), 0);
	ck_assert(!same(a, b));
	ck_assert_int_eq(key_of("output", 6, NF_DROP, "drop alL", 0, b), 0);
	ck_assert(!same(a, b));
	/* no comment is not an empty one */
	ck_assert_int_eq(key_of("output", 6, NF_DROP, NULL, 0, a), 0);
	ck_assert_int_eq(key_of("output", 6, NF_DROP, "", 0, b), 0);
	ck_assert(!same(a, b));
	/* the side is hashed first: a wanted rule's key is never a listed one's */
	r = rule("output", 6, NF_DROP, "drop all", 0);
	ck_assert_int_eq(listed_key(r, a), 0);
	ck_assert_int_eq(kk_nft_memo_key_of(r, b), 0);
	ck_assert(!same(a, b));
	/* a wanted rule's key is the same however the room was left before */
	other = rule("forward", 17, NF_ACCEPT,
	    "a longer comment than the first rule's, to dirty the room", 0);
	again = rule("output", 6, NF_DROP, "drop all", 0);
	ck_assert_int_eq(kk_nft_memo_key_of(other, c), 0);
	ck_assert_int_eq(kk_nft_memo_key_of(again, c), 0);
	ck_assert(same(b, c));
	nftnl_rule_free(other);
	nftnl_rule_free(again);
	nftnl_rule_free(r);
}
END_TEST

START_TEST(a_repeated_attribute_gives_no_key)
{
	static char buf[16384];
	unsigned char key[KK_NFT_MEMO_KEY];
	struct nlmsghdr *nlh;

	/* two chains in one message: which the text took is not known */
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWRULE, NFPROTO_INET, 0, 1);
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, "kakuri");
	mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, "output");
	mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, "input");
	ck_assert_int_eq(kk_nft_memo_key(nlh, KK_NFT_MEMO_HAVE, key), -EINVAL);
}
END_TEST

/* a key whose first bytes are i and the rest c */
static void
key_n(unsigned char key[KK_NFT_MEMO_KEY], int i, unsigned char c)
{
	memset(key, c, KK_NFT_MEMO_KEY);
	memcpy(key, &i, sizeof(i));
}

START_TEST(lines_last_one_unused_check)
{
	struct kk_nft_memo m = { 0 };
	unsigned char k1[KK_NFT_MEMO_KEY], k2[KK_NFT_MEMO_KEY];

	key_n(k1, 1, 0);
	key_n(k2, 1, 0);
	k2[KK_NFT_MEMO_KEY - 1] = 1;	/* the last byte counts too */
	kk_nft_memo_turn(&m);
	ck_assert_ptr_null(kk_nft_memo_find(&m, k1));
	kk_nft_memo_keep(&m, k1, "rule one");
	ck_assert_ptr_null(kk_nft_memo_find(&m, k2));
	kk_nft_memo_keep(&m, k2, "rule two");
	ck_assert_str_eq(kk_nft_memo_find(&m, k1), "rule one");
	ck_assert_str_eq(kk_nft_memo_find(&m, k2), "rule two");
	/* the next check uses k1 only: k2 is gone at the one after */
	kk_nft_memo_turn(&m);
	ck_assert_str_eq(kk_nft_memo_find(&m, k1), "rule one");
	kk_nft_memo_turn(&m);
	ck_assert_ptr_null(kk_nft_memo_find(&m, k2));
	ck_assert_str_eq(kk_nft_memo_find(&m, k1), "rule one");
	/* two checks without it: k1 too */
	kk_nft_memo_turn(&m);
	kk_nft_memo_turn(&m);
	ck_assert_ptr_null(kk_nft_memo_find(&m, k1));
	kk_nft_memo_free(&m);
}
END_TEST

START_TEST(lines_are_bounded)
{
	struct kk_nft_memo m = { 0 };
	unsigned char k[KK_NFT_MEMO_KEY];
	char line[32];
	int i;

	kk_nft_memo_turn(&m);
	for (i = 0; i <= KK_NFT_MEMO_MAX; i++) {
		key_n(k, i, 0xaa);
		snprintf(line, sizeof(line), "line %d", i);
		kk_nft_memo_keep(&m, k, line);
	}
	ck_assert_uint_eq(m.nnow, KK_NFT_MEMO_MAX);
	key_n(k, KK_NFT_MEMO_MAX - 1, 0xaa);
	ck_assert_str_eq(kk_nft_memo_find(&m, k), "line 511");
	key_n(k, KK_NFT_MEMO_MAX, 0xaa);
	ck_assert_ptr_null(kk_nft_memo_find(&m, k));
	/* a full turn: what the last one kept is still found */
	kk_nft_memo_turn(&m);
	key_n(k, 7, 0xaa);
	ck_assert_str_eq(kk_nft_memo_find(&m, k), "line 7");
	kk_nft_memo_free(&m);
}
END_TEST

/*
 * A rule of kakurid's table that this libnftnl cannot read (an expression
 * newer than it, which the kernel takes) is noted, never left out: a
 * check that dropped it would not see an accept ahead of the drop.
 */
START_TEST(readback_notes_a_rule_it_cannot_read)
{
	static char buf[16384];
	static struct readback rb;
	struct nftnl_rule *r;
	struct nlmsghdr *nlh;
	struct nlattr *list, *elem;

	memset(&rb, 0, sizeof(rb));
	rb.family = NFPROTO_INET;
	rb.name = "kakuri";
	/* one it reads: kept */
	memset(buf, 0, sizeof(buf));
	r = rule("output", 6, NF_DROP, "drop all", 5);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWRULE, NFPROTO_INET, 0, 1);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	nftnl_rule_free(r);
	ck_assert_int_eq(kk_nft_readback_add(&rb, KK_NFT_RULE, nlh), 0);
	ck_assert_uint_eq(rb.nrules, 1);
	ck_assert(!rb.unreadable);
	/* one with an expression it does not know */
	memset(buf, 0, sizeof(buf));
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWRULE, NFPROTO_INET, 0, 2);
	mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, "kakuri");
	mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, "output");
	mnl_attr_put_u64(nlh, NFTA_RULE_HANDLE, htobe64(6));
	list = mnl_attr_nest_start(nlh, NFTA_RULE_EXPRESSIONS);
	elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
	mnl_attr_put_strz(nlh, NFTA_EXPR_NAME, "newer_than_libnftnl");
	mnl_attr_nest_end(nlh, elem);
	mnl_attr_nest_end(nlh, list);
	ck_assert_int_eq(kk_nft_readback_add(&rb, KK_NFT_RULE, nlh), 0);
	ck_assert_uint_eq(rb.nrules, 1);
	ck_assert(rb.unreadable);
	kk_nft_readback_free(&rb);
}
END_TEST

KK_SUITE(nft_memo_suite, "nft_memo",
	KK_CASE("memo", 0, 0),
	    KK_TEST(keys_are_the_bytes_the_text_is_made_of),
	    KK_TEST(a_repeated_attribute_gives_no_key),
	    KK_TEST(lines_last_one_unused_check),
	    KK_TEST(lines_are_bounded),
	    KK_TEST(readback_notes_a_rule_it_cannot_read))
