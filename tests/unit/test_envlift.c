/*
 * The envelope parser's lift (common/dsse.c): a long base64 payload is
 * taken out of the text before jansson reads it.  Held to the parse of
 * the text as it came (kk_envelope_parse_as_is): the same result, the
 * same bytes, for signed envelopes, for texts built to confuse the lift
 * (the run elsewhere, the placeholder spelled by the sender, escapes,
 * duplicates, trailing data) and for a few hundred mutations around the
 * run's edges; and shown to be taken, by what jansson allocates.  The
 * one difference: a text longer than KK_DSSE_DOC_MAX whose payload could
 * not be lifted is refused unread (jansson would spend 40 to 80 times a
 * hostile text's size on it), where the parse as it came may take it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "kakuri.h"
#include "sign.h"
#include "suites.h"
#include "testutil.h"

#define TYPE		"application/vnd.kakuri.command+json"
#define BIG		(120 * 1024)	/* its base64 is longer than the lift's minimum */

/* a signed envelope of a BIG-byte payload, as text (caller frees) */
static char *
signed_text(uint8_t **payload)
{
	struct kk_envelope env;
	EVP_PKEY *k = kk_key_generate();
	char *text;
	size_t i;

	ck_assert_ptr_nonnull(k);
	*payload = malloc(BIG);
	ck_assert_ptr_nonnull(*payload);
	for (i = 0; i < BIG; i++)
		(*payload)[i] = (uint8_t)(i * 131 + (i >> 9));
	ck_assert_int_eq(kk_envelope_init(&env, TYPE, *payload, BIG), 0);
	ck_assert_int_eq(kk_envelope_sign(&env, "csirt-1", k), 0);
	text = kk_envelope_encode(&env);
	ck_assert_ptr_nonnull(text);
	kk_envelope_free(&env);
	EVP_PKEY_free(k);
	return text;
}

/*
 * Both parses of text: the same result, and the same envelope if one;
 * or, for a long text the lift did not take, refused here (*unlifted
 * set, if given).  kk_envelope_parse's result.
 */
static int
both_ways(const char *text, size_t len, bool *unlifted)
{
	struct kk_envelope a, b;
	int ra, rb;
	size_t i;

	ra = kk_envelope_parse((const uint8_t *)text, len, &a);
	rb = kk_envelope_parse_as_is((const uint8_t *)text, len, &b);
	if (unlifted != NULL)
		*unlifted = ra != rb;
	if (ra != rb) {
		ck_assert_msg(unlifted != NULL, "%d as it came, %d lifted",
		    rb, ra);
		ck_assert_int_eq(ra, -EBADMSG);
		ck_assert_int_eq(rb, 0);
		ck_assert_uint_gt(len, KK_DSSE_DOC_MAX);
		kk_envelope_free(&b);
	}
	if (ra == 0) {
		ck_assert_str_eq(a.type, b.type);
		ck_assert_uint_eq(a.payload_len, b.payload_len);
		ck_assert_int_eq(memcmp(a.payload, b.payload, a.payload_len), 0);
		ck_assert_uint_eq(a.nsigs, b.nsigs);
		for (i = 0; i < a.nsigs; i++) {
			ck_assert_str_eq(a.sigs[i].keyid, b.sigs[i].keyid);
			ck_assert_uint_eq(a.sigs[i].siglen, b.sigs[i].siglen);
			ck_assert_int_eq(memcmp(a.sigs[i].sig, b.sigs[i].sig,
			    a.sigs[i].siglen), 0);
		}
		kk_envelope_free(&a);
		kk_envelope_free(&b);
	}
	return ra;
}

/* both parses of text: the same result, and the same envelope if one */
static int
same_both_ways(const char *text, size_t len)
{
	return both_ways(text, len, NULL);
}

/* the payload's base64 in text: [*start, *end) */
static void
run_of(const char *text, size_t *start, size_t *end)
{
	const char *p = strstr(text, "\"payload\":");

	ck_assert_ptr_nonnull(p);
	p = strchr(p + 10, '"');
	ck_assert_ptr_nonnull(p);
	*start = (size_t)(p + 1 - text);
	*end = (size_t)(strchr(p + 1, '"') - text);
	ck_assert_uint_gt(*end - *start, 64 * 1024);
}

/* text with [from, to) replaced by with (caller frees) */
static char *
splice(const char *text, size_t from, size_t to, const char *with)
{
	size_t len = strlen(text), wl = strlen(with);
	char *out = malloc(len - (to - from) + wl + 1);

	ck_assert_ptr_nonnull(out);
	memcpy(out, text, from);
	memcpy(out + from, with, wl);
	memcpy(out + from + wl, text + to, len - to + 1);
	return out;
}

START_TEST(test_lifted_signed)
{
	uint8_t *payload;
	char *text = signed_text(&payload);
	struct kk_envelope env;
	size_t len = strlen(text), as_is;

	ck_assert_int_eq(same_both_ways(text, len), 0);
	ck_assert_int_eq(kk_envelope_parse((const uint8_t *)text, len, &env), 0);
	ck_assert_uint_eq(env.payload_len, BIG);
	ck_assert_int_eq(memcmp(env.payload, payload, BIG), 0);
	kk_envelope_free(&env);

	/*
	 * Taken: jansson holds the payload's text (once at least) only when
	 * it reads it; lifted, it allocates a few hundred bytes.
	 */
	kk_test_json_count_start();
	ck_assert_int_eq(kk_envelope_parse_as_is((const uint8_t *)text, len,
	    &env), 0);
	kk_envelope_free(&env);
	as_is = kk_test_json_count_stop();
	kk_test_json_count_start();
	ck_assert_int_eq(kk_envelope_parse((const uint8_t *)text, len, &env), 0);
	kk_envelope_free(&env);
	ck_assert_uint_ge(as_is, len);
	ck_assert_uint_lt(kk_test_json_count_stop(), 4096);
	free(text);
	free(payload);
}
END_TEST

/* texts built to make the lift take the wrong run, or to hide one */
static const struct confuse {
	const char *what;
	const char *from;	/* replace the payload's run by ... */
	int result;		/* the result of both parses */
	bool unlifted;		/* as it came: 0; lifted: too long unread */
} confusers[] = {
	{ "the placeholder spelled by the sender, short payload",
	    "kakuri-lifted-payload", -EBADMSG, false },
	{ "an escaped first character", "\\u0041RUN", -EBADMSG, false },
	{ "an escaped slash inside (no lift: too long to read; decodes as "
	    "it came)", "RUN\\/AAA", -EBADMSG, true },
	{ "the run and the placeholder", "RUN\",\"x\":\"kakuri-lifted-payload",
	    -EBADMSG, false },
	{ "the run twice, the payload duplicated", "RUN\",\"payload\":\"RUN",
	    -EBADMSG, false },
	{ "the run unquoted", "\"RUN\"", -EBADMSG, false },
	{ "the run with a control character", "RUN\t", -EBADMSG, false },
	{ "the run cut short of its padding", "RUNA", -EBADMSG, false },
	{ "the run unchanged", "RUN", 0, false },
};

/* with: "RUN" stands for the payload's run */
static char *
expand(const char *with, const char *run, size_t runlen)
{
	const char *p;
	size_t n = 0, wl = strlen(with);
	char *out = malloc(wl + 2 * runlen + 1);

	ck_assert_ptr_nonnull(out);
	while (*with != '\0') {
		if ((p = strstr(with, "RUN")) == NULL)
			p = with + strlen(with);
		memcpy(out + n, with, (size_t)(p - with));
		n += (size_t)(p - with);
		with = p;
		if (*with != '\0') {
			memcpy(out + n, run, runlen);
			n += runlen;
			with += 3;
		}
	}
	out[n] = '\0';
	(void)wl;
	return out;
}

START_TEST(test_confusers)
{
	const struct confuse *c = &confusers[_i];
	bool unlifted;
	uint8_t *payload;
	char *text = signed_text(&payload), *run, *with, *doc;
	size_t s, e;

	run_of(text, &s, &e);
	run = strndup(text + s, e - s);
	ck_assert_ptr_nonnull(run);
	with = expand(c->from, run, e - s);
	doc = splice(text, s, e, with);
	ck_assert_msg(both_ways(doc, strlen(doc), &unlifted) == c->result,
	    "%s: not %d", c->what, c->result);
	ck_assert_msg(unlifted == c->unlifted, "%s: unlifted %d", c->what,
	    unlifted);
	free(doc);
	free(with);
	free(run);
	free(text);
	free(payload);
}
END_TEST

/* the run in another member than the payload: a signature, the type */
START_TEST(test_run_elsewhere)
{
	uint8_t *payload;
	char *text = signed_text(&payload), *run, *doc, *doc2;
	const char *sig;
	size_t s, e, ss, se;
	bool unlifted;

	run_of(text, &s, &e);
	run = strndup(text + s, e - s);
	ck_assert_ptr_nonnull(run);
	/* a short payload, the long run as the signature */
	sig = strstr(text, "\"sig\":\"");
	ck_assert_ptr_nonnull(sig);
	ss = (size_t)(sig + 7 - text);
	se = (size_t)(strchr(sig + 7, '"') - text);
	doc = splice(text, ss, se, run);
	doc2 = splice(doc, s, e, "AAAA");
	ck_assert_int_eq(same_both_ways(doc2, strlen(doc2)), -EBADMSG);
	free(doc2);
	free(doc);
	/* ... and as the payload type */
	doc = splice(text, s, e, "AAAA");
	sig = strstr(doc, TYPE);
	ck_assert_ptr_nonnull(sig);
	ss = (size_t)(sig - doc);
	doc2 = splice(doc, ss, ss + strlen(TYPE), run);
	ck_assert_int_eq(same_both_ways(doc2, strlen(doc2)), -EBADMSG);
	free(doc2);
	free(doc);
	/*
	 * the placeholder as a key id: the lift is not taken; the text
	 * parses as it came, and is too long to be read unlifted
	 */
	sig = strstr(text, "csirt-1");
	ck_assert_ptr_nonnull(sig);
	ss = (size_t)(sig - text);
	doc = splice(text, ss, ss + 7, "kakuri-lifted-payload");
	ck_assert_int_eq(both_ways(doc, strlen(doc), &unlifted), -EBADMSG);
	ck_assert(unlifted);
	free(doc);
	free(run);
	free(text);
	free(payload);
}
END_TEST

/*
 * Mutations where the lift decides: a byte changed, dropped or doubled
 * at the run's edges and at the envelope's structure, or a quote or a
 * backslash put anywhere.  A fixed xorshift: the same cases every run.
 */
START_TEST(test_mutations)
{
	static const char marks[] = "\"\\=A/{}[],: \t\x01\x80";
	uint8_t *payload;
	char *text = signed_text(&payload), *doc;
	size_t s, e, len = strlen(text), at, i;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	bool unlifted;
	int ok = 0;

	run_of(text, &s, &e);
	doc = malloc(len + 2);
	ck_assert_ptr_nonnull(doc);
	for (i = 0; i < 300; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		switch (x % 4) {
		case 0:		/* near the run's start */
			at = s - 24 + (size_t)(x >> 8) % 48;
			break;
		case 1:		/* near its end */
			at = e - 24 + (size_t)(x >> 8) % 48;
			break;
		case 2:		/* in the envelope around it */
			at = (size_t)(x >> 8) % s;
			break;
		default:	/* anywhere */
			at = (size_t)(x >> 8) % len;
			break;
		}
		memcpy(doc, text, len + 1);
		switch ((x >> 40) % 3) {
		case 0:
			doc[at] = marks[(x >> 44) % (sizeof(marks) - 1)];
			break;
		case 1:
			memmove(doc + at, doc + at + 1, len - at);
			break;
		default:
			memmove(doc + at + 1, doc + at, len - at + 1);
			break;
		}
		if (both_ways(doc, strlen(doc), &unlifted) == 0)
			ok++;
	}
	/* some mutations leave a valid envelope (a changed base64 letter) */
	ck_assert_int_gt(ok, 0);
	ck_assert_int_lt(ok, 300);
	free(doc);
	free(text);
	free(payload);
}
END_TEST

/*
 * What jansson is given is bounded, not only the bytes: 24 MiB of empty
 * signatures, arrays or numbers (about 2 GiB and 10 s of jansson's as
 * they come) is refused unread, with next to nothing allocated; an
 * envelope whose payload is too short to lift parses with up to
 * KK_DSSE_DOC_MAX of other text, not with more.
 */
START_TEST(test_hostile_shapes)
{
	static const char *const fill[] = { "{}", "[]", "0" };
	static const char head[] = "{\"payloadType\":\"t\",\"payload\":\"\","
	    "\"signatures\":[";
	struct kk_envelope env;
	uint8_t *payload;
	char *text = signed_text(&payload), *buf, *small;
	size_t n = KK_ENVELOPE_MAX - 16, at, i, len, tail;

	buf = malloc(n + 1);
	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < sizeof(fill) / sizeof(fill[0]); i++) {
		memcpy(buf, head, sizeof(head) - 1);
		for (at = sizeof(head) - 1; at + strlen(fill[i]) + 3 < n;
		    at += strlen(fill[i]) + 1) {
			memcpy(buf + at, fill[i], strlen(fill[i]));
			buf[at + strlen(fill[i])] = ',';
		}
		memcpy(buf + at, "0]}", 3);
		kk_test_json_count_start();
		ck_assert_int_eq(kk_envelope_parse((const uint8_t *)buf,
		    at + 3, &env), -EBADMSG);
		ck_assert_uint_lt(kk_test_json_count_stop(), 4096);
	}
	free(buf);

	/*
	 * A payload too short to lift (dsse.c lifts runs of 64 KiB and
	 * more) with blanks: read up to 64 KiB + KK_DSSE_DOC_MAX of text...
	 */
	at = (size_t)(strstr(text, "\"signatures\"") - text);
	tail = strlen(text) - at;
	small = malloc(128 * 1024);
	ck_assert_ptr_nonnull(small);
	n = (size_t)snprintf(small, 200, "{\"payloadType\":\"t\","
	    "\"payload\":\"AAAA\",");
	len = 64 * 1024 + KK_DSSE_DOC_MAX - 1024;
	memset(small + n, ' ', len - n - tail);
	memcpy(small + len - tail, text + at, tail);
	ck_assert_int_eq(kk_envelope_parse((const uint8_t *)small, len, &env),
	    0);
	ck_assert_uint_eq(env.payload_len, 3);
	kk_envelope_free(&env);
	/* ... and refused unread past it (as it came, it parses) */
	len = 64 * 1024 + KK_DSSE_DOC_MAX + 1024;
	memset(small + n, ' ', len - n - tail);
	memcpy(small + len - tail, text + at, tail);
	ck_assert_int_eq(kk_envelope_parse((const uint8_t *)small, len, &env),
	    -EBADMSG);
	ck_assert_int_eq(kk_envelope_parse_as_is((const uint8_t *)small, len,
	    &env), 0);
	kk_envelope_free(&env);
	free(small);
	free(text);
	free(payload);
}
END_TEST

KK_SUITE(envlift_suite, "envlift",
	KK_CASE("lift", 0, 60), KK_TEST(test_lifted_signed),
	    KK_LOOP(test_confusers, KK_NITEMS(confusers)),
	    KK_TEST(test_run_elsewhere), KK_TEST(test_mutations),
	    KK_TEST(test_hostile_shapes))
