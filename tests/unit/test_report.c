/*
 * Reports and acks between the courier and the collector (common/report.c):
 * an ack counts only if the collector's key signed exactly (agent, id,
 * sha256); a report only if the agent's identity key signed it, it names
 * that agent and carries DESIGN 7's fields; the collector is the key of
 * its certificate, pinned or chained to a CA.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "report.h"
#include "sign.h"
#include "wire.h"
#include "suites.h"
#include "testutil.h"

#define AGENT_A	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define AGENT_B	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define ID_1	"0123456789abcdef0123456789abcdef"
#define SHA_1	"1111111111111111111111111111111111111111111111111111111111111111"

static EVP_PKEY *
key(void)
{
	EVP_PKEY *k = kk_key_generate();

	ck_assert_ptr_nonnull(k);
	return k;
}

/* one ack of (agent, id, sha) by k, checked against the expected one */
static int
ack_check(EVP_PKEY *signer, EVP_PKEY *checker, const char *agent,
    const char *id, const char *sha)
{
	char *ack = kk_ack_make(signer, agent, id, sha);
	const char *why = NULL;
	int r;

	ck_assert_ptr_nonnull(ack);
	r = kk_ack_check((const uint8_t *)ack, strlen(ack), checker, AGENT_A,
	    ID_1, SHA_1, &why);
	if (r < 0)
		ck_assert_ptr_nonnull(why);
	free(ack);
	return r;
}

START_TEST(ack_only_of_this_report)
{
	EVP_PKEY *col = key(), *other = key();

	ck_assert_int_eq(ack_check(col, col, AGENT_A, ID_1, SHA_1), 0);
	/* another agent, report, content, or signer: not this ack */
	ck_assert_int_eq(ack_check(col, col, AGENT_B, ID_1, SHA_1),
	    -EBADMSG);
	ck_assert_int_eq(ack_check(col, col, AGENT_A,
	    "1123456789abcdef0123456789abcdef", SHA_1), -EBADMSG);
	ck_assert_int_eq(ack_check(col, col, AGENT_A, ID_1,
	    "2111111111111111111111111111111111111111111111111111111111111111"),
	    -EBADMSG);
	ck_assert_int_eq(ack_check(other, col, AGENT_A, ID_1, SHA_1), -EBADMSG);
	EVP_PKEY_free(col);
	EVP_PKEY_free(other);
}
END_TEST

/* an envelope of type over payload, signed by k, as text */
static char *
envelope(EVP_PKEY *k, const char *type, json_t *payload)
{
	struct kk_envelope env;
	char *p = json_dumps(payload, JSON_COMPACT), *out;

	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(kk_envelope_init(&env, type, (const uint8_t *)p,
	    strlen(p)), 0);
	ck_assert_int_eq(kk_envelope_sign(&env, "k", k), 0);
	out = kk_envelope_encode(&env);
	ck_assert_ptr_nonnull(out);
	kk_envelope_free(&env);
	free(p);
	json_decref(payload);
	return out;
}

START_TEST(ack_of_another_type_or_shape)
{
	EVP_PKEY *col = key();
	const char *why;
	char *env;

	/* a receipt with the ack's fields is not an ack */
	env = envelope(col, KK_PT_RECEIPT, json_pack("{s:i, s:s, s:s, s:s}",
	    KW_V, 1, KW_AGENT, AGENT_A, KW_ID, ID_1, KW_SHA256, SHA_1));
	ck_assert_int_eq(kk_ack_check((const uint8_t *)env, strlen(env), col,
	    AGENT_A, ID_1, SHA_1, &why), -EBADMSG);
	free(env);
	/* version 2 is not understood */
	env = envelope(col, KK_PT_ACK, json_pack("{s:i, s:s, s:s, s:s}",
	    KW_V, 2, KW_AGENT, AGENT_A, KW_ID, ID_1, KW_SHA256, SHA_1));
	ck_assert_int_eq(kk_ack_check((const uint8_t *)env, strlen(env), col,
	    AGENT_A, ID_1, SHA_1, &why), -EBADMSG);
	free(env);
	ck_assert_int_eq(kk_ack_check((const uint8_t *)"{", 1, col, AGENT_A,
	    ID_1, SHA_1, &why), -EBADMSG);
	EVP_PKEY_free(col);
}
END_TEST

static json_t *
report_payload(const char *agent, const char *type)
{
	return json_pack("{s:i, s:s, s:s, s:i, s:s, s:s, s:{}, s:{}}", KW_V, 1,
	    KW_ID, ID_1, KW_AGENT, agent, KW_SEQ, 7, KW_TIME,
	    "2026-11-30T10:00:00Z", KW_TYPE, type, KW_HOST, KW_BODY);
}

/* kk_report_open of a report by signer, checked with checker as agent */
static bool
report_ok(EVP_PKEY *signer, EVP_PKEY *checker, const char *agent,
    json_t *payload, const char *type)
{
	char *env = envelope(signer, type, payload);
	const char *why = NULL;
	json_t *p;

	p = kk_report_open((const uint8_t *)env, strlen(env), checker, agent,
	    &why);
	free(env);
	if (p == NULL)
		ck_assert_ptr_nonnull(why);
	json_decref(p);
	return p != NULL;
}

START_TEST(report_by_its_agent_only)
{
	EVP_PKEY *ag = key(), *other = key();
	json_t *p;

	ck_assert(report_ok(ag, ag, AGENT_A, report_payload(AGENT_A,
	    "self-report"), KK_PT_REPORT));
	/* signed by another key, naming another agent, or not a report */
	ck_assert(!report_ok(other, ag, AGENT_A, report_payload(AGENT_A,
	    "disconnect"), KK_PT_REPORT));
	ck_assert(!report_ok(ag, ag, AGENT_A, report_payload(AGENT_B,
	    "disconnect"), KK_PT_REPORT));
	ck_assert(!report_ok(ag, ag, AGENT_A, report_payload(AGENT_A,
	    "disconnect"), KK_PT_COMMAND));
	/* DESIGN 7's types only, and its fields */
	ck_assert(!report_ok(ag, ag, AGENT_A, report_payload(AGENT_A,
	    "shutdown"), KK_PT_REPORT));
	p = report_payload(AGENT_A, "tamper");
	json_object_del(p, KW_SEQ);
	ck_assert(!report_ok(ag, ag, AGENT_A, p, KK_PT_REPORT));
	p = report_payload(AGENT_A, "tamper");
	json_object_set_new(p, KW_ID, json_string("../../etc/passwd"));
	ck_assert(!report_ok(ag, ag, AGENT_A, p, KK_PT_REPORT));
	EVP_PKEY_free(ag);
	EVP_PKEY_free(other);
}
END_TEST

START_TEST(report_size_is_capped)
{
	EVP_PKEY *ag = key();
	const char *why = NULL;
	size_t len = KK_REPORT_MAX + 1;
	char *big = malloc(len);

	ck_assert_ptr_nonnull(big);
	memset(big, ' ', len);
	ck_assert_ptr_null(kk_report_open((const uint8_t *)big, len, ag,
	    AGENT_A, &why));
	ck_assert_str_eq(why, "too large");
	free(big);
	EVP_PKEY_free(ag);
}
END_TEST

/* x again, naming names (subjectAltName), self-signed by key */
static X509 *
with_ip_names(X509 *x, EVP_PKEY *key, const char *names)
{
	X509_EXTENSION *ext;

	ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, names);
	ck_assert_ptr_nonnull(ext);
	ck_assert_int_eq(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
	ck_assert_int_gt(X509_sign(x, key, NULL), 0);
	return x;
}

START_TEST(collector_is_its_certificate_key)
{
	EVP_PKEY *col = key(), *got = NULL;
	X509 *x = NULL;
	X509_STORE *ca;
	char path[PATH_MAX], id[KK_AGENT_ID_HEX + 1], want[KK_AGENT_ID_HEX + 1];
	const char *why = NULL;

	kk_test_join(path, kk_test_base, "collector.crt");
	ck_assert_int_eq(kk_cert_selfsigned(col, "collector", 2, path), 0);
	ck_assert_int_eq(kk_cert_load(path, &x), 0);
	ck_assert_int_eq(kk_key_id(col, want), 0);
	/* pinned: the id of the certificate's key */
	ck_assert_int_eq(kk_collector_identity(x, NULL, NULL, NULL, &got, id,
	    &why), 0);
	ck_assert_str_eq(id, want);
	ck_assert_int_eq(EVP_PKEY_eq(got, col), 1);
	EVP_PKEY_free(got);
	/* CA mode: a certificate the CA did not issue is refused */
	ca = X509_STORE_new();
	ck_assert_ptr_nonnull(ca);
	ck_assert_int_eq(kk_collector_identity(x, NULL, ca, NULL, &got, id,
	    &why), -EKEYREJECTED);
	ck_assert_ptr_null(got);
	ck_assert_str_eq(id, "");
	/* ... and one the store trusts is taken where a pin decides */
	ck_assert_int_eq(X509_STORE_add_cert(ca, x), 1);
	ck_assert_int_eq(kk_collector_identity(x, NULL, ca, NULL, &got, id,
	    &why), 0);
	EVP_PKEY_free(got);
	/*
	 * A CA alone: the store trusts the certificate (as it would any
	 * agent's of that CA), but it does not name the collector's address
	 */
	ck_assert_int_eq(kk_collector_identity(x, NULL, ca, "192.0.2.10:7444",
	    &got, id, &why), -EKEYREJECTED);
	ck_assert_ptr_null(got);
	ck_assert_str_eq(why, "the collector's certificate does not name its "
	    "address (report.collector)");
	X509_STORE_free(ca);
	/* one that names 192.0.2.10 and 2001:db8::10 is that collector only */
	x = with_ip_names(x, col, "IP:192.0.2.10,IP:2001:db8::10");
	ca = X509_STORE_new();
	ck_assert_ptr_nonnull(ca);
	ck_assert_int_eq(X509_STORE_add_cert(ca, x), 1);
	ck_assert_int_eq(kk_collector_identity(x, NULL, ca, "192.0.2.10:7444",
	    &got, id, &why), 0);
	ck_assert_str_eq(id, want);
	EVP_PKEY_free(got);
	ck_assert_int_eq(kk_collector_identity(x, NULL, ca,
	    "[2001:db8::10]:7444", &got, id, &why), 0);
	EVP_PKEY_free(got);
	ck_assert_int_eq(kk_collector_identity(x, NULL, ca, "192.0.2.11:7444",
	    &got, id, &why), -EKEYREJECTED);
	ck_assert_int_eq(kk_collector_identity(x, NULL, ca, "[2001:db8::1]:7444",
	    &got, id, &why), -EKEYREJECTED);
	ck_assert_int_eq(kk_collector_identity(x, NULL, ca, "not an address",
	    &got, id, &why), -EKEYREJECTED);
	ck_assert_ptr_null(got);
	X509_STORE_free(ca);
	X509_free(x);
	EVP_PKEY_free(col);
}
END_TEST

/*
 * DESIGN 7's report types, one table for the agent's outbox and the
 * collector's checks: each name parses back to its type, and nothing
 * else is a type (case, spaces, a verb that is not a report, NULL).
 */
START_TEST(report_types_are_design_7s)
{
	static const char *const names[KK_REPORT__MAX] = {
		"self-report", "disconnect", "isolate", "release", "tamper",
		"evidence", "drill", "blocked", "usb",
	};
	static const char *const bad[] = { "", "gossip", "Tamper", "usb ",
	    "status", "freeze", "self_report" };
	enum kk_report_type t;
	size_t i;

	for (i = 0; i < KK_REPORT__MAX; i++) {
		ck_assert_str_eq(kk_report_type_name((enum kk_report_type)i),
		    names[i]);
		t = KK_REPORT__MAX;
		ck_assert_int_eq(kk_report_type_parse(names[i], &t), 0);
		ck_assert_int_eq(t, i);
		ck_assert(kk_report_type_ok(names[i]));
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = KK_REPORT_USB;
		ck_assert_int_eq(kk_report_type_parse(bad[i], &t), -EINVAL);
		ck_assert_int_eq(t, KK_REPORT_USB);
		ck_assert(!kk_report_type_ok(bad[i]));
	}
	ck_assert_int_eq(kk_report_type_parse(NULL, &t), -EINVAL);
	ck_assert(!kk_report_type_ok(NULL));
	ck_assert_str_eq(kk_report_type_name(KK_REPORT__MAX), "unknown");
	ck_assert(kk_report_category_ok("popup"));
	ck_assert(!kk_report_category_ok("Popup"));
	ck_assert(!kk_report_category_ok(NULL));
}
END_TEST

KK_SUITE(report_suite, "report",
	KK_CASE("report", KK_TMPDIR, 0), KK_TEST(ack_only_of_this_report),
	    KK_TEST(ack_of_another_type_or_shape),
	    KK_TEST(report_by_its_agent_only),
	    KK_TEST(report_size_is_capped),
	    KK_TEST(collector_is_its_certificate_key),
	    KK_TEST(report_types_are_design_7s))
