/*
 * Text at the boundary (common/util.c): kk_text_check, kk_text_cut,
 * kk_text_copy and kk_text_clean.  Every request, signed command field,
 * policy text and audit field goes through them, so a cut inside a UTF-8
 * character or a control character let through here is a state that
 * cannot be saved or a line that rewrites an operator's terminal.
 *
 * Regression (issue 8, item 5): the disconnect message was cut with
 * snprintf at 255 bytes and the incident at 180, splitting a 3-byte
 * character; json_pack then refused the state and state.json kept "open".
 * test_cut_japanese fails on a byte cut like that.
 *
 * kk_json_few_values (common/jsonutil.c), the look before a control
 * request is parsed: the structure outside strings counts, what is in
 * them (brackets, commas, escaped quotes) does not.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "jsonutil.h"

#include "kakuri.h"
#include "suites.h"
#include "testutil.h"

#define A_JA	"\xe3\x81\x82"		/* U+3042 HIRAGANA LETTER A */
#define FFFD	"\xef\xbf\xbd"

static const struct {
	const char *s;
	size_t len;
	int want;
	size_t bad;
} checks[] = {
	{ "", 0, 0, 0 },
	{ "plain ASCII, punctuation: ~!@#$%^&*()", 37, 0, 37 },
	{ A_JA A_JA "x", 7, 0, 7 },
	{ "\xf0\x9f\x98\x80", 4, 0, 4 },		/* U+1F600, 4 bytes */
	{ "\xc2\xa0", 2, 0, 2 },			/* U+00A0, right after C1 */
	{ "ab\x80", 3, -EILSEQ, 2 },			/* lone continuation */
	{ "ab\xe3\x81", 4, -EILSEQ, 2 },		/* truncated character */
	{ "\xc0\x80", 2, -EILSEQ, 0 },			/* overlong NUL */
	{ "\xe0\x80\x80", 3, -EILSEQ, 0 },		/* overlong */
	{ "\xf0\x80\x80\x80", 4, -EILSEQ, 0 },		/* overlong */
	{ "\xed\xa0\x80", 3, -EILSEQ, 0 },		/* surrogate D800 */
	{ "\xf4\x90\x80\x80", 4, -EILSEQ, 0 },		/* above U+10FFFF */
	{ "\xf5\x80\x80\x80", 4, -EILSEQ, 0 },
	{ "\xff", 1, -EILSEQ, 0 },
	{ "a\nb", 3, -EINVAL, 1 },
	{ "a\tb", 3, -EINVAL, 1 },
	{ "\x1b[2J", 4, -EINVAL, 0 },
	{ "x\x7f", 2, -EINVAL, 1 },
	{ "x\0y", 3, -EINVAL, 1 },			/* NUL inside the length */
	{ "\xc2\x80", 2, -EINVAL, 0 },			/* C1 */
	{ "\xc2\x9b", 2, -EINVAL, 0 },			/* CSI */
	{ A_JA "\xe2\x80\xa8", 6, -EINVAL, 3 },		/* LINE SEPARATOR */
	{ "\xe2\x80\xae", 3, -EINVAL, 0 },		/* RIGHT-TO-LEFT OVERRIDE */
	{ "\xe2\x81\xa6", 3, -EINVAL, 0 },		/* LEFT-TO-RIGHT ISOLATE */
};

START_TEST(test_check)
{
	size_t bad = 12345;

	ck_assert_int_eq(kk_text_check(checks[_i].s, checks[_i].len, &bad),
	    checks[_i].want);
	ck_assert_uint_eq(bad, checks[_i].bad);
	/* the NULL offset pointer is allowed */
	ck_assert_int_eq(kk_text_check(checks[_i].s, checks[_i].len, NULL),
	    checks[_i].want);
}
END_TEST

START_TEST(test_problem_words)
{
	ck_assert_str_eq(kk_text_problem(-EILSEQ), "is not valid UTF-8");
	ck_assert_str_eq(kk_text_problem(-EINVAL),
	    "contains a control character");
}
END_TEST

/* n ASCII bytes, then k three-byte characters. */
static char *
japanese(size_t shift, size_t k, size_t *len)
{
	char *s = malloc(shift + 3 * k + 1);
	size_t i;

	ck_assert_ptr_nonnull(s);
	memset(s, 'x', shift);
	for (i = 0; i < k; i++)
		memcpy(s + shift + 3 * i, A_JA, 3);
	*len = shift + 3 * k;
	s[*len] = '\0';
	return s;
}

/*
 * Every limit around 255 bytes, the text shifted by 0, 1 and 2 ASCII
 * bytes: the cut is on a character boundary, as long as it can be, and
 * what is left is valid text that jansson accepts.
 */
START_TEST(test_cut_japanese)
{
	size_t shift = (size_t)_i, len, max, n;
	char *s = japanese(shift, 90, &len);
	json_t *j;

	for (max = 0; max <= len + 2; max++) {
		n = kk_text_cut(s, len, max);
		ck_assert_uint_le(n, max);
		ck_assert_uint_le(n, len);
		if (max >= len)
			ck_assert_uint_eq(n, len);
		/* maximal: at most the bytes of one character are given up */
		ck_assert_uint_ge(n + 2, max < len ? max : len);
		ck_assert_msg(kk_text_check(s, n, NULL) == 0,
		    "cut at %zu of %zu (shift %zu) splits a character", n,
		    len, shift);
		j = json_stringn(s, n);
		ck_assert_ptr_nonnull(j);
		json_decref(j);
	}
	free(s);
}
END_TEST

START_TEST(test_cut_four_byte)
{
	static const char s[] = "\xf0\x9f\x98\x80\xf0\x9f\x98\x80";

	ck_assert_uint_eq(kk_text_cut(s, 8, 7), 4);
	ck_assert_uint_eq(kk_text_cut(s, 8, 5), 4);
	ck_assert_uint_eq(kk_text_cut(s, 8, 4), 4);
	ck_assert_uint_eq(kk_text_cut(s, 8, 3), 0);
	ck_assert_uint_eq(kk_text_cut(s, 8, 0), 0);
}
END_TEST

/* The disconnect message and the state's reason field: KK_TEXT_MAX. */
START_TEST(test_copy_limits)
{
	char dst[KK_TEXT_MAX];
	size_t shift, k, len;
	char *s;
	int r;

	for (shift = 0; shift < 3; shift++) {
		for (k = 80; k <= 90; k++) {
			s = japanese(shift, k, &len);
			r = kk_text_copy(dst, sizeof(dst), s, len);
			ck_assert_int_eq(r, len > KK_TEXT_MAX - 1 ? 1 : 0);
			ck_assert_uint_le(strlen(dst), KK_TEXT_MAX - 1);
			ck_assert_int_eq(kk_text_check(dst, strlen(dst), NULL), 0);
			ck_assert(strncmp(dst, s, strlen(dst)) == 0);
			if (r == 0)
				ck_assert_str_eq(dst, s);
			free(s);
		}
	}
}
END_TEST

START_TEST(test_copy_refuses)
{
	char dst[16] = "old";

	ck_assert_int_eq(kk_text_copy(dst, sizeof(dst), "a\x1b" "b", 3),
	    -EINVAL);
	ck_assert_str_eq(dst, "");
	strcpy(dst, "old");
	ck_assert_int_eq(kk_text_copy(dst, sizeof(dst), "a\xe3\x81", 3),
	    -EILSEQ);
	ck_assert_str_eq(dst, "");
	ck_assert_int_eq(kk_text_copy(dst, 0, "a", 1), -ENOBUFS);
}
END_TEST

START_TEST(test_clean)
{
	char dst[64];
	size_t n;

	n = kk_text_clean(dst, sizeof(dst), "a\nb\xff" A_JA "\x1b", 8);
	ck_assert_str_eq(dst, "a" FFFD "b" FFFD A_JA FFFD);
	ck_assert_uint_eq(n, strlen(dst));
	/* a character that does not fit is left out whole */
	n = kk_text_clean(dst, 6, "ab" A_JA A_JA, 8);
	ck_assert_str_eq(dst, "ab" A_JA);
	ck_assert_uint_eq(n, 5);
	n = kk_text_clean(dst, 3, "\xff\xff", 2);
	ck_assert_str_eq(dst, "");
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(kk_text_clean(dst, 0, "a", 1), 0);
}
END_TEST

/*
 * A name in ASCII: "pc-001" in fullwidth letters, or with a zero-width
 * space, a space or a backslash, does not read as "pc-001".
 */
START_TEST(test_ascii_names)
{
	char dst[64];
	size_t n;

	n = kk_text_ascii(dst, sizeof(dst), "pc-001.example", 14);
	ck_assert_str_eq(dst, "pc-001.example");
	ck_assert_uint_eq(n, 14);
	/* U+FF50 U+FF43: fullwidth p and c */
	kk_text_ascii(dst, sizeof(dst), "\xef\xbd\x90\xef\xbd\x83-001", 10);
	ck_assert_str_eq(dst, "\\xef\\xbd\\x90\\xef\\xbd\\x83-001");
	/* U+200B zero width space, a space, a backslash, a line break */
	kk_text_ascii(dst, sizeof(dst), "pc\xe2\x80\x8b-1 \\\n", 10);
	ck_assert_str_eq(dst, "pc\\xe2\\x80\\x8b-1\\x20\\x5c\\x0a");
	/* an escape that does not fit is left out whole */
	n = kk_text_ascii(dst, 6, "ab\xff", 3);
	ck_assert_str_eq(dst, "ab");
	ck_assert_uint_eq(n, 2);
	n = kk_text_ascii(dst, 7, "ab\xff", 3);
	ck_assert_str_eq(dst, "ab\\xff");
	ck_assert_uint_eq(kk_text_ascii(dst, 0, "a", 1), 0);
}
END_TEST

/* Whatever the bytes, what comes out of clean passes check and fits. */
START_TEST(test_clean_any_bytes)
{
	uint32_t x = 0x9e3779b9u;
	char src[300], dst[100];
	size_t i, round, len, n;

	for (round = 0; round < 2000; round++) {
		len = round % sizeof(src);
		for (i = 0; i < len; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			/* lean towards bytes that form or break sequences */
			src[i] = (char)((x & 3) == 0 ? 0xe3 : (x & 3) == 1 ?
			    0x80 | (x >> 8 & 0x3f) : x >> 8);
		}
		n = kk_text_clean(dst, sizeof(dst), src, len);
		ck_assert_uint_lt(n, sizeof(dst));
		ck_assert_uint_eq(strlen(dst), n);
		ck_assert_int_eq(kk_text_check(dst, n, NULL), 0);
	}
}
END_TEST

static const struct {
	const char *text;
	size_t max;
	bool ok;
} shapes[] = {
	{ "{\"cmd\":\"status\"}", 2, true },	/* { : */
	{ "{\"cmd\":\"status\"}", 1, false },
	{ "[{},{},{}]", 6, true },		/* [ { , { , { */
	{ "[{},{},{}]", 5, false },
	/* inside a string: nothing counts, an escaped quote ends nothing */
	{ "{\"what\":\"[{},{},{},{}] \\\" ,,,: [\"}", 2, true },
	/* an escaped backslash before the closing quote */
	{ "{\"a\":\"x\\\\\",\"b\":[1,2]}", 6, true },
	{ "{\"a\":\"x\\\\\",\"b\":[1,2]}", 5, false },
	{ "", 0, true },
	/* a string never closed: what follows its quote is string */
	{ "\"[[[[", 0, true },
};

START_TEST(test_few_values)
{
	ck_assert_msg(kk_json_few_values(shapes[_i].text,
	    strlen(shapes[_i].text), shapes[_i].max) == shapes[_i].ok,
	    "%s at most %zu: not %s", shapes[_i].text, shapes[_i].max,
	    shapes[_i].ok ? "ok" : "refused");
}
END_TEST

/* 1 MiB of [{},{},...]: refused at 4096, a 1 MiB string is not */
START_TEST(test_few_values_large)
{
	size_t n = 1 << 20, i;
	char *t = malloc(n);

	ck_assert_ptr_nonnull(t);
	t[0] = '[';
	for (i = 1; i + 3 < n; i += 3)
		memcpy(t + i, "{},", 3);
	for (; i < n; i++)
		t[i] = ' ';
	ck_assert(!kk_json_few_values(t, n, 4096));
	memset(t, 'x', n);
	t[0] = '"';
	t[n - 1] = '"';
	memcpy(t + 1, "[{},{},", 7);
	ck_assert(kk_json_few_values(t, n, 0));
	free(t);
}
END_TEST

KK_SUITE(text_suite, "text",
	KK_CASE("check", 0, 0), KK_LOOP(test_check, KK_NITEMS(checks)),
	    KK_TEST(test_problem_words),
	KK_CASE("cut", 0, 0), KK_LOOP(test_cut_japanese, 3),
	    KK_TEST(test_cut_four_byte), KK_TEST(test_copy_limits),
	    KK_TEST(test_copy_refuses),
	KK_CASE("clean", 0, 0), KK_TEST(test_clean),
	    KK_TEST(test_clean_any_bytes), KK_TEST(test_ascii_names),
	KK_CASE("few_values", 0, 0), KK_LOOP(test_few_values, KK_NITEMS(shapes)),
	    KK_TEST(test_few_values_large))
