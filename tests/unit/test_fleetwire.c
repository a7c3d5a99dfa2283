/*
 * The fleet transport's wire (common/fleetwire.c): topics, out documents
 * (what an agent publishes) and ack documents (what the collector
 * publishes back).  The broker is an untrusted relay: every document it
 * brings is opened here as an attacker would shape it.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "courier.h"
#include "daemon.h"
#include "fleet.h"
#include "fleetwire.h"
#include "ipc.h"
#include "report.h"
#include "sign.h"
#include "suites.h"
#include "testutil.h"
#include "wire.h"

#define ENVELOPE	"{\"payloadType\":\"x\",\"payload\":\"eA==\",\"signatures\":[]}"

/* An identity: key, self-signed certificate (PEM text), id. */
struct ident {
	EVP_PKEY *key;
	char *pem;
	char id[KK_AGENT_ID_HEX + 1];
};

static void
ident_make(struct ident *a, const char *name)
{
	char path[PATH_MAX];
	size_t len;

	kk_test_join(path, kk_test_base, name);
	ck_assert_ptr_nonnull(a->key = kk_key_generate());
	ck_assert_int_eq(kk_cert_selfsigned(a->key, "agent", 1, path), 0);
	a->pem = kk_test_read(path, &len);
	ck_assert_int_eq(kk_key_id(a->key, a->id), 0);
}

static void
ident_free(struct ident *a)
{
	EVP_PKEY_free(a->key);
	free(a->pem);
}

START_TEST(test_topics)
{
	char t[KK_FLEET_TOPIC_MAX], id[KK_AGENT_ID_HEX + 1];
	char good[KK_AGENT_ID_HEX + 1];

	memset(good, 'a', KK_AGENT_ID_HEX);
	good[KK_AGENT_ID_HEX] = '\0';
	ck_assert_int_eq(kk_fleet_agent_topic(t, sizeof(t), good, "out"), 0);
	ck_assert_str_eq(t + strlen(t) - 4, "/out");
	ck_assert_int_eq(kk_fleet_topic_agent(t, "out", id), 0);
	ck_assert_str_eq(id, good);
	/* another leaf, another level, an id that is no id: none of ours */
	ck_assert_int_eq(kk_fleet_topic_agent(t, "cmd", id), -EINVAL);
	strcat(t, "/x");
	ck_assert_int_eq(kk_fleet_topic_agent(t, "out", id), -EINVAL);
	snprintf(t, sizeof(t), "kakuri/v1/agent/%.63s/out", good);
	ck_assert_int_eq(kk_fleet_topic_agent(t, "out", id), -EINVAL);
	snprintf(t, sizeof(t), "kakuri/v1/agent/%.63sA/out", good);
	ck_assert_int_eq(kk_fleet_topic_agent(t, "out", id), -EINVAL);
	snprintf(t, sizeof(t), "kakuri/v1/agent/+/out");
	ck_assert_int_eq(kk_fleet_topic_agent(t, "out", id), -EINVAL);
	ck_assert_int_eq(kk_fleet_group_topic(t, sizeof(t), "tokyo"), 0);
	ck_assert_str_eq(t, "kakuri/v1/group/tokyo/cmd");
	ck_assert_int_eq(kk_fleet_group_topic(t, 10, "tokyo"), -ENAMETOOLONG);
}
END_TEST

START_TEST(test_out_round_trip)
{
	struct ident a;
	struct kk_fleet_out o;
	const char *why = NULL;
	char *doc;
	size_t len;

	ident_make(&a, "a.crt");
	ck_assert_int_eq(kk_fleet_out_pack(a.id, KK_FLEET_KIND_RECEIPT, a.pem,
	    ENVELOPE, strlen(ENVELOPE), &doc, &len), 0);
	ck_assert_int_eq(kk_fleet_out_open(doc, len, a.id, &o, &why), 0);
	ck_assert_str_eq(o.kind, KK_FLEET_KIND_RECEIPT);
	ck_assert_str_eq(o.agent, a.id);
	ck_assert_uint_eq(o.len, strlen(ENVELOPE));
	ck_assert(memcmp(o.envelope, ENVELOPE, o.len) == 0);
	ck_assert_int_eq(EVP_PKEY_eq(o.identity, a.key), 1);
	ck_assert_ptr_nonnull(o.cert);
	kk_fleet_out_free(&o);
	free(doc);
	ident_free(&a);
}
END_TEST

/* j as a document on id's out topic: what opening it says */
static int
open_json(json_t *j, const char *id, const char **why)
{
	struct kk_fleet_out o;
	char *doc = json_dumps(j, JSON_COMPACT);
	int r;

	ck_assert_ptr_nonnull(doc);
	r = kk_fleet_out_open(doc, strlen(doc), id, &o, why);
	kk_fleet_out_free(&o);
	free(doc);
	return r;
}

/* What a hostile broker (or another agent) may bring on a's out topic. */
START_TEST(test_out_forged)
{
	struct ident a, b;
	struct kk_fleet_out o;
	const char *why;
	char *doc, big[64];
	size_t len;
	json_t *j;

	ident_make(&a, "forged-a.crt");
	ident_make(&b, "forged-b.crt");
	/* b's document on a's topic: the agent named is not the topic's */
	ck_assert_int_eq(kk_fleet_out_pack(b.id, KK_FLEET_KIND_RECEIPT, b.pem,
	    ENVELOPE, strlen(ENVELOPE), &doc, &len), 0);
	ck_assert_int_eq(kk_fleet_out_open(doc, len, a.id, &o, &why), -EBADMSG);
	ck_assert_str_eq(why, "out document names another agent than its topic");
	kk_fleet_out_free(&o);
	free(doc);
	/* a's id with b's certificate: the key is not the one the id names */
	ck_assert_int_eq(kk_fleet_out_pack(a.id, KK_FLEET_KIND_RECEIPT, b.pem,
	    ENVELOPE, strlen(ENVELOPE), &doc, &len), 0);
	ck_assert_int_eq(kk_fleet_out_open(doc, len, a.id, &o, &why), -EBADMSG);
	ck_assert_str_eq(why, "identity is another agent's key than the topic "
	    "names");
	kk_fleet_out_free(&o);
	free(doc);
	/* an unknown kind, an extra key, a version, no certificate at all */
	j = json_pack("{s:i, s:s, s:s, s:s, s:s}", KW_V, 1, KW_AGENT, a.id,
	    KW_KIND, "command", KW_IDENTITY, a.pem, KW_ENVELOPE, ENVELOPE);
	ck_assert_int_eq(open_json(j, a.id, &why), -EBADMSG);
	ck_assert_str_eq(why, "out document of an unknown kind");
	json_object_set_new(j, KW_KIND, json_string(KK_FLEET_KIND_REPORT));
	ck_assert_int_eq(open_json(j, a.id, &why), 0);	/* the control */
	json_object_set_new(j, "extra", json_true());
	ck_assert_int_eq(open_json(j, a.id, &why), -EBADMSG);
	json_object_del(j, "extra");
	json_object_set_new(j, KW_V, json_integer(2));
	ck_assert_int_eq(open_json(j, a.id, &why), -EBADMSG);
	json_object_set_new(j, KW_V, json_integer(1));
	json_object_set_new(j, KW_IDENTITY, json_string("not a certificate"));
	ck_assert_int_eq(open_json(j, a.id, &why), -EBADMSG);
	ck_assert_str_eq(why, "identity is not a PEM certificate");
	json_decref(j);
	/* not JSON; larger than any document may be */
	ck_assert_int_eq(kk_fleet_out_open("{\"v\":1", 6, a.id, &o, &why),
	    -EBADMSG);
	kk_fleet_out_free(&o);
	memset(big, ' ', sizeof(big));
	ck_assert_int_eq(kk_fleet_out_open(big, KK_FLEET_OUT_MAX + 1, a.id, &o,
	    &why), -EBADMSG);
	ck_assert_str_eq(why, "out document too large");
	kk_fleet_out_free(&o);
	ident_free(&a);
	ident_free(&b);
}
END_TEST

START_TEST(test_ack_document)
{
	static const char chain[] = "-----BEGIN CERTIFICATE-----\nx\n";
	static const char ack[] = "{\"signed\":\"ack\"}";
	uint8_t *body;
	size_t len, blen;
	uint32_t cl;
	char *doc;

	ck_assert_int_eq(kk_fleet_ack_pack(chain, ack, &doc, &len), 0);
	ck_assert_int_eq(kk_fleet_ack_open(doc, len, &body, &blen), 0);
	/* the courier's answer: chain length, chain, ack */
	memcpy(&cl, body, 4);
	ck_assert_uint_eq(cl, strlen(chain));
	ck_assert_uint_eq(blen, 4 + strlen(chain) + strlen(ack));
	ck_assert(memcmp(body + 4, chain, cl) == 0);
	ck_assert(memcmp(body + 4 + cl, ack, strlen(ack)) == 0);
	free(body);
	free(doc);
	/* extra keys, a wrong version, a missing part, garbage: refused */
	ck_assert_int_eq(kk_fleet_ack_open("{\"v\":1,\"chain\":\"c\",\"ack\":"
	    "\"a\",\"x\":1}", 37, &body, &blen), -EBADMSG);
	ck_assert_ptr_null(body);
	ck_assert_int_eq(kk_fleet_ack_open("{\"v\":2,\"chain\":\"c\",\"ack\":"
	    "\"a\"}", 31, &body, &blen), -EBADMSG);
	ck_assert_int_eq(kk_fleet_ack_open("{\"v\":1,\"chain\":\"c\"}", 20,
	    &body, &blen), -EBADMSG);
	ck_assert_int_eq(kk_fleet_ack_open("\x01\x02", 2, &body, &blen),
	    -EBADMSG);
	ck_assert_int_eq(kk_fleet_ack_open(chain, KK_FLEET_ACK_MAX + 1, &body,
	    &blen), -EBADMSG);
}
END_TEST

/* an ack document with a chain of cl bytes and an ack of al, opened */
static int
ack_sized(size_t cl, size_t al)
{
	char *c = malloc(cl + 1), *a = malloc(al + 1), *doc;
	uint8_t *body = NULL;
	size_t len, blen;
	int r;

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(a);
	memset(c, 'c', cl);
	c[cl] = '\0';
	memset(a, 'a', al);
	a[al] = '\0';
	ck_assert_int_eq(kk_fleet_ack_pack(c, a, &doc, &len), 0);
	ck_assert_uint_le(len, KK_FLEET_ACK_MAX);
	r = kk_fleet_ack_open(doc, len, &body, &blen);
	free(body);
	free(doc);
	free(c);
	free(a);
	return r;
}

/*
 * Within the document's 80 KiB, a chain over the courier's 64 KiB or an
 * ack over its 4 KiB is refused here, in the fleet child: passed on, the
 * parent took the child for broken and killed it, and the commands it
 * held were lost (fails on the old code).
 */
START_TEST(test_ack_parts_bounded)
{
	ck_assert_int_eq(ack_sized(KK_FLEET_CHAIN_MAX, KK_FLEET_ACK_TEXT_MAX),
	    0);
	ck_assert_int_eq(ack_sized(KK_FLEET_CHAIN_MAX + 1, 10), -EBADMSG);
	ck_assert_int_eq(ack_sized(10, KK_FLEET_ACK_TEXT_MAX + 1), -EBADMSG);
	ck_assert_int_eq(ack_sized(70 * 1024, 10), -EBADMSG);
}
END_TEST

/* the limits the courier in the parent holds the child's answers to */
START_TEST(test_ack_limits_match)
{
	ck_assert_uint_eq(KK_FLEET_CHAIN_MAX, KK_COURIER_CHAIN_MAX);
	ck_assert_uint_eq(KK_FLEET_ACK_TEXT_MAX, KK_ACK_MAX);
}
END_TEST

/* an envelope of payload p, signed by key (whose, nobody checks here) */
static char *
envelope_of(EVP_PKEY *key, const char *p)
{
	char keyid[KK_AGENT_ID_HEX + 1], *text = NULL;

	ck_assert_int_eq(kk_key_id(key, keyid), 0);
	ck_assert_int_eq(kk_envelope_seal(KK_PT_ACK, (const uint8_t *)p,
	    strlen(p), keyid, key, &text), 0);
	ck_assert_ptr_nonnull(text);
	return text;
}

/*
 * The id an ack (or a report) names, which the fleet child matches its
 * deliveries by; nothing else is taken from it.
 */
START_TEST(test_envelope_id)
{
	static const char *const bad[] = {
		"{\"v\":1}", "{\"id\":1}", "{\"id\":\"\"}",
		"{\"id\":\"ABCDEF\"}", "{\"id\":\"../../x\"}",
		"{\"id\":\"0123456789abcdef0123456789abcdef0\"}", "[]",
		"not json",
	};
	EVP_PKEY *key = kk_key_generate();
	char id[KK_ID_HEX + 1], *env;
	size_t i;

	ck_assert_ptr_nonnull(key);
	env = envelope_of(key, "{\"v\":1,\"agent\":\"a\",\"id\":"
	    "\"0123456789abcdef0123456789abcdef\",\"sha256\":\"00\"}");
	ck_assert_int_eq(kk_fleet_envelope_id(env, strlen(env), id), 0);
	ck_assert_str_eq(id, "0123456789abcdef0123456789abcdef");
	free(env);
	for (i = 0; i < nitems(bad); i++) {
		env = envelope_of(key, bad[i]);
		ck_assert_msg(kk_fleet_envelope_id(env, strlen(env), id) ==
		    -EBADMSG && id[0] == '\0', "%s", bad[i]);
		free(env);
	}
	ck_assert_int_eq(kk_fleet_envelope_id("{}", 2, id), -EBADMSG);
	ck_assert_int_eq(kk_fleet_envelope_id("\x01", 1, id), -EBADMSG);
	EVP_PKEY_free(key);
}
END_TEST

/* The fleet child's reconnect backoff: doubling, capped, jittered. */
START_TEST(test_backoff)
{
	uint64_t lo, hi, prev_hi = 0;
	unsigned f;

	for (f = 0; f < 40; f++) {
		lo = kd_fleet_backoff_ms(f, 0);		/* half the delay */
		hi = kd_fleet_backoff_ms(f, (uint32_t)lo);	/* all of it */
		ck_assert_uint_ge(lo, KD_FLEET_BACKOFF_MIN_MS / 2);
		ck_assert_uint_le(hi, KD_FLEET_BACKOFF_MAX_MS);
		ck_assert_uint_ge(hi, prev_hi);		/* never shorter */
		ck_assert_uint_eq(lo * 2, hi);		/* jitter: half the range */
		prev_hi = hi;
	}
	ck_assert_uint_eq(kd_fleet_backoff_ms(0, 0), KD_FLEET_BACKOFF_MIN_MS / 2);
	ck_assert_uint_eq(kd_fleet_backoff_ms(1, 0), KD_FLEET_BACKOFF_MIN_MS);
	ck_assert_uint_eq(kd_fleet_backoff_ms(39, 0), KD_FLEET_BACKOFF_MAX_MS / 2);
	/* two agents with other random numbers wait differently */
	ck_assert_uint_ne(kd_fleet_backoff_ms(5, 1), kd_fleet_backoff_ms(5, 999));
}
END_TEST

/*
 * The audit's actor of a command from the broker is the parent's words:
 * a fleet child taken over names one of its topics, and no other origin.
 */
START_TEST(test_fleet_via)
{
	static const char *const forged[] = { "tls:192.0.2.1",
		"local:uid=0(root),pid=1", "mqtt:group#3", "mqtt:group#99",
		"mqtt:group#", "mqtt:group#01", "mqtt:group#-1", "mqtt:group#1x",
		"mqtt:group# 1", "mqtt:group/ops", "mqtt:agent2", "" };
	struct kk_grouplist g = { .n = 3 };
	char via[96];
	size_t i;

	snprintf(g.name[0], sizeof(g.name[0]), "ops");
	snprintf(g.name[1], sizeof(g.name[1]), "%s",
	    "finance-tokyo-head-office-floor-12-east-wing-and-annex-bldg");
	snprintf(g.name[2], sizeof(g.name[2]), "lab");
	kd_fleet_via(&g, "mqtt:agent", via, sizeof(via));
	ck_assert_str_eq(via, "mqtt:agent");
	kd_fleet_via(&g, KD_FLEET_VIA_GROUP "0", via, sizeof(via));
	ck_assert_str_eq(via, "mqtt:group/ops");
	/* a long name: all of it, which the child's header could not hold */
	kd_fleet_via(&g, KD_FLEET_VIA_GROUP "1", via, sizeof(via));
	ck_assert_str_eq(via, "mqtt:group/finance-tokyo-head-office-floor-12-"
	    "east-wing-and-annex-bldg");
	kd_fleet_via(&g, KD_FLEET_VIA_GROUP "2", via, sizeof(via));
	ck_assert_str_eq(via, "mqtt:group/lab");
	/* the attacks: another origin's actor, a group not ours, a name */
	for (i = 0; i < nitems(forged); i++) {
		kd_fleet_via(&g, forged[i], via, sizeof(via));
		ck_assert_msg(strcmp(via, "mqtt:?") == 0, "%s: %s", forged[i],
		    via);
	}
}
END_TEST

/* The network child's word for its peer: an address and port, or "?". */
START_TEST(test_channel_via)
{
	static const char *const forged[] = { "mqtt:agent", "local:uid=0",
		"192.0.2.1", "192.0.2.1:", "192.0.2.1:65536", "192.0.2.1:7x",
		"host.example:443", "192.0.2.1 (root):1", ":443",
		"192.0.2.1:123456", "",
		/* an IPv6 address is bracketed: fd00:5::1:7443 is an address */
		"fd00:5::1:7443", "::ffff:192.0.2.7:1", "[192.0.2.1]:1",
		"[fd00::1]", "[fd00::1]:", "[fd00::1]:0", "[fd00::1]7443",
		"[fd00::1]:7443]" };
	char via[96];
	size_t i;

	kd_channel_via("192.0.2.1:50312", via, sizeof(via));
	ck_assert_str_eq(via, "tls:192.0.2.1:50312");
	kd_channel_via("[fd00:5::1]:7443", via, sizeof(via));
	ck_assert_str_eq(via, "tls:[fd00:5::1]:7443");
	kd_channel_via("[::ffff:192.0.2.7]:1", via, sizeof(via));
	ck_assert_str_eq(via, "tls:[::ffff:192.0.2.7]:1");
	/* the longest peer the child writes (39 + 8) fits its 48 bytes */
	kd_channel_via("[fd00:1234:5678:9abc:def0:1234:5678:9abc]:65535", via,
	    sizeof(via));
	ck_assert_str_eq(via, "tls:[fd00:1234:5678:9abc:def0:1234:5678:9abc]:65535");
	ck_assert_uint_eq(strlen("[fd00:1234:5678:9abc:def0:1234:5678:9abc]:65535"),
	    sizeof(((struct kk_ipc_hdr *)0)->peer) - 1);
	for (i = 0; i < nitems(forged); i++) {
		kd_channel_via(forged[i], via, sizeof(via));
		ck_assert_msg(strcmp(via, "tls:?") == 0, "%s: %s", forged[i],
		    via);
	}
}
END_TEST

KK_SUITE(fleetwire_suite, "fleetwire",
	KK_CASE("backoff", 0, 10), KK_TEST(test_backoff),
	    KK_TEST(test_fleet_via), KK_TEST(test_channel_via),
	KK_CASE("topics", 0, 10), KK_TEST(test_topics),
	KK_CASE("out", KK_TMPDIR, 20), KK_TEST(test_out_round_trip),
	    KK_TEST(test_out_forged),
	KK_CASE("ack", 0, 10), KK_TEST(test_ack_document),
	    KK_TEST(test_ack_parts_bounded), KK_TEST(test_ack_limits_match),
	    KK_TEST(test_envelope_id))
