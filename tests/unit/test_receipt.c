/*
 * Brief receipts (agentd/run.c kd_receipt_brief): a receipt of this
 * agent's signed again without its status and output, which kakurictl's
 * own receipt check (common/receipt.c) takes; and nothing signed for text
 * that is not one of this agent's receipts, whatever it says; and the
 * receipts the fleet child may hand back (agentd/fleet.c): only those it
 * was handed, each once.  The child may be an attacker's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "daemon.h"
#include "fleet.h"
#include "identity.h"
#include "run.h"
#include "sign.h"
#include "suites.h"
#include "testutil.h"
#include "wire.h"

static struct kd d;

/*
 * In the test's own process: the identity's seed page is not inherited
 * across fork (identity.c), and Check forks after an unchecked fixture.
 */
static void
setup(void)
{
	memset(&d, 0, sizeof(d));
	ck_assert_int_eq(kd_identity_keep(&d, kk_key_generate()), 0);
	ck_assert_ptr_nonnull(d.agent_key);
	ck_assert_int_eq(kk_key_id(d.agent_key, d.agent_id), 0);
}

static void
teardown(void)
{
	kd_identity_free(&d);
}

/* payload (JSON text) sealed as type by key, the agent's id as its hint */
static char *
seal(const char *type, const char *payload, EVP_PKEY *key)
{
	char *text = NULL;

	ck_assert_int_eq(kk_envelope_seal(type, (const uint8_t *)payload,
	    strlen(payload), d.agent_id, key, &text), 0);
	return text;
}

/* kd_receipt_brief of whole, the parts said in said[32] */
static int
brief_of(const char *whole, char **brief, char *said)
{
	return kd_receipt_brief(&d, whole, strlen(whole), brief, said, 32);
}

static char *
receipt_with(const char *members, EVP_PKEY *key)
{
	char payload[512];

	snprintf(payload, sizeof(payload), "{\"v\":1,\"command\":"
	    "\"0123456789abcdef0123456789abcdef\",\"agent\":\"%s\","
	    "\"action\":\"status\",\"result\":\"done\",\"mode\":\"open\","
	    "\"timings\":{\"received\":\"2026-12-07T00:00:00.000Z\"}%s}",
	    d.agent_id, members);
	return seal(KK_PT_RECEIPT, payload, key);
}

START_TEST(test_brief_checks_as_kakurictl_does)
{
	EVP_PKEY *sk;
	char *whole, *brief, said[32];
	const char *why = NULL;
	json_t *o, *lo;

	setup();
	sk = kd_agent_signer(&d);
	whole = receipt_with(",\"status\":{\"mode\":\"open\"},"
	    "\"output\":{\"files\":[\"/var/lib/kakuri/evidence/0123456789ab"
	    "cdef0123456789abcdef/collect.tar\"]},"
	    "\"enforcers\":[{\"name\":\"nftables\"}]", sk);
	ck_assert_int_eq(brief_of(whole, &brief, said), 0);
	ck_assert_str_eq(said, "status and output");
	o = kk_receipt_open((const uint8_t *)brief, strlen(brief), d.agent_key,
	    d.agent_id, &why);
	ck_assert_msg(o != NULL, "kakurictl's check: %s", why);
	ck_assert_ptr_null(json_object_get(o, KW_STATUS));
	ck_assert_ptr_null(json_object_get(o, KW_OUTPUT));
	/* what a degraded isolation shows stays, and the rest */
	ck_assert_ptr_nonnull(json_object_get(o, KW_ENFORCERS));
	ck_assert_str_eq(json_string_value(json_object_get(o, KW_COMMAND)),
	    "0123456789abcdef0123456789abcdef");
	lo = json_object_get(o, KW_LEFT_OUT);
	ck_assert_ptr_nonnull(lo);
	ck_assert_int_eq(json_integer_value(json_object_get(lo, KW_BYTES)),
	    (json_int_t)strlen(whole));
	ck_assert_uint_eq(json_array_size(json_object_get(lo, KW_PARTS)), 2);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(lo,
	    KW_PARTS), 0)), KW_STATUS);
	ck_assert_uint_lt(strlen(brief), strlen(whole));
	json_decref(o);
	free(brief);
	free(whole);
	/* only an output: it alone is named */
	whole = receipt_with(",\"output\":{\"files\":[]}", sk);
	ck_assert_int_eq(brief_of(whole, &brief, said), 0);
	ck_assert_str_eq(said, "output");
	free(brief);
	free(whole);
	EVP_PKEY_free(sk);
	teardown();
}
END_TEST

START_TEST(test_nothing_to_leave_out)
{
	EVP_PKEY *sk;
	char *whole, *brief, said[32];

	setup();
	sk = kd_agent_signer(&d);
	/* a brief one: nothing is signed */
	whole = receipt_with(",\"left_out\":{\"parts\":[\"status\"],"
	    "\"bytes\":9}", sk);
	ck_assert_int_eq(brief_of(whole, &brief, said), -ENOENT);
	ck_assert_ptr_null(brief);
	ck_assert_str_eq(said, "");
	free(whole);
	/* one with its enforcers and neither part: nothing either */
	whole = receipt_with(",\"enforcers\":[{\"name\":\"nftables\"}]", sk);
	ck_assert_int_eq(brief_of(whole, &brief, said), -ENOENT);
	ck_assert_ptr_null(brief);
	free(whole);
	EVP_PKEY_free(sk);
	teardown();
}
END_TEST

START_TEST(test_signs_nothing_not_its_own)
{
	EVP_PKEY *sk, *other = kk_key_generate();
	char *text, *brief, said[32], *forged;

	setup();
	sk = kd_agent_signer(&d);
	/* another key's receipt naming this agent: not signed again */
	text = receipt_with(",\"status\":{}", other);
	ck_assert_int_eq(brief_of(text, &brief, said), -EBADMSG);
	ck_assert_ptr_null(brief);
	free(text);
	/* this agent's signature on another payload type: not a receipt */
	text = seal(KK_PT_COMMAND, "{\"status\":{}}", sk);
	ck_assert_int_eq(brief_of(text, &brief, said), -EBADMSG);
	ck_assert_ptr_null(brief);
	free(text);
	/* its own receipt with a byte of the payload changed */
	text = receipt_with(",\"status\":{\"mode\":\"isolated\"}", sk);
	forged = strstr(text, "\"payload\":\"");
	ck_assert_ptr_nonnull(forged);
	forged += strlen("\"payload\":\"") + 8;
	*forged = *forged == 'A' ? 'B' : 'A';
	ck_assert_int_eq(brief_of(text, &brief, said), -EBADMSG);
	ck_assert_ptr_null(brief);
	free(text);
	/* not an envelope; nothing at all */
	ck_assert_int_eq(brief_of("{\"status\":{}}", &brief, said), -EBADMSG);
	ck_assert_int_eq(brief_of("", &brief, said), -EBADMSG);
	ck_assert_ptr_null(brief);
	EVP_PKEY_free(other);
	EVP_PKEY_free(sk);
	teardown();
}
END_TEST

/* the i-th receipt text of a run of them */
static void
nth(char *buf, size_t len, unsigned i)
{
	snprintf(buf, len, "{\"receipt\":%u}", i);
}

START_TEST(test_sent_only_what_was_handed_once)
{
	struct kd_fleet_sent s = { NULL, 0 };
	char text[64];
	unsigned i;

	nth(text, sizeof(text), 0);
	/* nothing handed yet: nothing to take */
	ck_assert(!kd_fleet_sent_take(&s, text, strlen(text)));
	for (i = 0; i < KD_FLEET_SENT_MAX + 44; i++) {
		nth(text, sizeof(text), i);
		kd_fleet_sent_keep(&s, text, strlen(text));
	}
	/* the oldest 44 are forgotten, the newest KD_FLEET_SENT_MAX kept */
	for (i = 0; i < 44; i++) {
		nth(text, sizeof(text), i);
		ck_assert_msg(!kd_fleet_sent_take(&s, text, strlen(text)),
		    "receipt %u, older than the last %u", i, KD_FLEET_SENT_MAX);
	}
	for (i = 44; i < KD_FLEET_SENT_MAX + 44; i++) {
		nth(text, sizeof(text), i);
		ck_assert_msg(kd_fleet_sent_take(&s, text, strlen(text)),
		    "receipt %u", i);
		/* once: asked again, it is not there */
		ck_assert(!kd_fleet_sent_take(&s, text, strlen(text)));
	}
	/*
	 * a text never handed (of the same length), one a byte longer, one
	 * a byte shorter; nothing of no length is kept or taken
	 */
	nth(text, sizeof(text), 100);
	kd_fleet_sent_keep(&s, text, strlen(text));
	ck_assert(!kd_fleet_sent_take(&s, "{\"receipt\":101}", 15));
	ck_assert(!kd_fleet_sent_take(&s, text, strlen(text) + 1));
	ck_assert(!kd_fleet_sent_take(&s, text, strlen(text) - 1));
	kd_fleet_sent_keep(&s, "", 0);
	ck_assert(!kd_fleet_sent_take(&s, "", 0));
	ck_assert(kd_fleet_sent_take(&s, "{\"receipt\":100}", 15));
	kd_fleet_sent_clear(&s);
	ck_assert_ptr_null(s.one);
	ck_assert(!kd_fleet_sent_take(&s, "{\"receipt\":100}", 15));
}
END_TEST

KK_SUITE(receipt_suite, "receipt",
	KK_CASE("brief", 0, 10),
	    KK_TEST(test_brief_checks_as_kakurictl_does),
	    KK_TEST(test_nothing_to_leave_out),
	    KK_TEST(test_signs_nothing_not_its_own),
	KK_CASE("fleet", 0, 10), KK_TEST(test_sent_only_what_was_handed_once))
