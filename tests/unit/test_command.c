/*
 * The strict command payload and its time window (common/command.c):
 * every key missing, every key extra, every field of the wrong type or
 * shape, duplicates, trailing data, release-type actions without an
 * episode, group commands (DESIGN 9: "group" instead of "agent", exactly
 * one of the two), and the time window at its exact boundaries.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "kakuri.h"
#include "sign.h"
#include "testutil.h"

Suite *command_suite(void);

#define ID	"0123456789abcdef0123456789abcdef"
#define AGENT	"0123456789abcdef0123456789abcdef" \
		"fedcba9876543210fedcba9876543210"
#define EP	"fedcba9876543210fedcba9876543210"

struct field {
	const char *k;
	const char *v;
};

/* A valid isolate command, field by field. */
static const struct field base[] = {
	{ "v", "1" },
	{ "id", "\"" ID "\"" },
	{ "agent", "\"" AGENT "\"" },
	{ "iat", "1790000000" },
	{ "exp", "1790000600" },
	{ "action", "\"isolate\"" },
	{ "args", "{\"mode\":\"isolated\"}" },
	{ "incident", "\"IR-2026-0042\"" },
	{ "reason", "\"C2 beacon seen by proxy\"" },
};
#define NBASE	(sizeof(base) / sizeof(base[0]))

static char text[8192];

/*
 * The base command with field key replaced by val (or left out when val
 * is NULL) and extra appended inside the object.
 */
static const char *
make(const char *key, const char *val, const char *extra)
{
	size_t i, o = 0;
	const char *v;
	int n;

	text[o++] = '{';
	for (i = 0; i < NBASE; i++) {
		v = base[i].v;
		if (key != NULL && strcmp(key, base[i].k) == 0) {
			if (val == NULL)
				continue;
			v = val;
		}
		n = snprintf(text + o, sizeof(text) - o, "%s\"%s\":%s",
		    o > 1 ? "," : "", base[i].k, v);
		ck_assert_int_lt(n, (int)(sizeof(text) - o));
		o += (size_t)n;
	}
	if (extra != NULL) {
		n = snprintf(text + o, sizeof(text) - o, "%s", extra);
		ck_assert_int_lt(n, (int)(sizeof(text) - o));
		o += (size_t)n;
	}
	ck_assert_uint_lt(o + 1, sizeof(text));
	text[o++] = '}';
	text[o] = '\0';
	return text;
}

static int
parse_str(const char *s, struct kk_command *c, char *why, size_t whylen)
{
	return kk_command_parse((const uint8_t *)s, strlen(s), c, why, whylen);
}

/* Parses s, expects rc, and checks that a failure left *c cleared. */
static void
expect(const char *s, int want)
{
	struct kk_command c;
	char why[128];
	int rc;

	memset(&c, 0xa5, sizeof(c));
	rc = parse_str(s, &c, why, sizeof(why));
	ck_assert_msg(rc == want, "rc %d, want %d (why '%s') for %s", rc,
	    want, why, s);
	if (rc == 0) {
		ck_assert_ptr_nonnull(c.args);
		kk_command_free(&c);
		ck_assert_ptr_null(c.args);
	} else {
		ck_assert_ptr_null(c.args);
		ck_assert_str_ne(why, "");
	}
}

/* --- actions --- */

START_TEST(test_action_names)
{
	static const char *const names[] = { "isolate", "release", "status",
	    "freeze", "thaw", "snapshot", "collect", "fetch", "drill",
	    "unblock", "block" };
	enum kk_action a;
	size_t i;

	ck_assert_uint_eq(sizeof(names) / sizeof(names[0]), KK_ACT__MAX);
	for (i = 0; i < KK_ACT__MAX; i++) {
		ck_assert_str_eq(kk_action_name((enum kk_action)i), names[i]);
		ck_assert_int_eq(kk_action_parse(names[i], &a), 0);
		ck_assert_int_eq(a, (int)i);
	}
	ck_assert_int_eq(kk_action_parse("Isolate", &a), -ENOENT);
	ck_assert_int_eq(kk_action_parse("", &a), -ENOENT);
	ck_assert_int_eq(kk_action_parse("isolate ", &a), -ENOENT);
	ck_assert_int_eq(kk_action_parse(NULL, &a), -EINVAL);
	ck_assert_str_eq(kk_action_name(KK_ACT__MAX), "unknown");
	ck_assert_str_eq(kk_action_name((enum kk_action)-1), "unknown");
}
END_TEST

/* --- valid commands --- */

START_TEST(test_valid)
{
	struct kk_command c;
	char why[128] = "stale";
	json_t *mode;

	ck_assert_int_eq(parse_str(make(NULL, NULL, NULL), &c, why,
	    sizeof(why)), 0);
	ck_assert_str_eq(why, "");
	ck_assert_str_eq(c.id, ID);
	ck_assert_str_eq(c.agent, AGENT);
	ck_assert_int_eq(c.iat, 1790000000);
	ck_assert_int_eq(c.exp, 1790000600);
	ck_assert_int_eq(c.action, KK_ACT_ISOLATE);
	ck_assert_str_eq(c.incident, "IR-2026-0042");
	ck_assert_str_eq(c.reason, "C2 beacon seen by proxy");
	ck_assert_str_eq(c.episode, "");
	/* args outlives the parsed document */
	ck_assert(json_is_object(c.args));
	mode = json_object_get(c.args, "mode");
	ck_assert_str_eq(json_string_value(mode), "isolated");
	kk_command_free(&c);
	ck_assert_ptr_null(c.args);
	kk_command_free(&c);		/* twice is harmless */
	kk_command_free(NULL);
}
END_TEST

START_TEST(test_valid_variants)
{
	/* key order does not matter, whitespace around the object is fine */
	expect("\n {\"reason\":\"r\",\"incident\":\"i\",\"args\":{},"
	    "\"action\":\"status\",\"exp\":5,\"iat\":5,\"agent\":\"" AGENT
	    "\",\"id\":\"" ID "\",\"v\":1}\r\n\t ", 0);
	/* optional episode on any action */
	expect(make(NULL, NULL, ",\"episode\":\"" EP "\""), 0);
	/* empty free text is allowed; UTF-8 is */
	expect(make("reason", "\"\"", NULL), 0);
	expect(make("reason", "\"\xe9\x9a\x94\xe9\x9b\xa2 \\u00e9\"", NULL),
	    0);
	/* limits exactly */
	expect(make("args", "{\"a\":{\"b\":{\"c\":{\"d\":1}}}}", NULL), 0);
	expect(make("args", "{\"a\":[[[1]]]}", NULL), 0);
	expect(make("args", "{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,"
	    "\"f\":1,\"g\":1,\"h\":1,\"i\":1,\"j\":1,\"k\":1,\"l\":1,"
	    "\"m\":1,\"n\":1,\"o\":1,\"p\":1}", NULL), 0);
	/* exp == iat */
	expect(make("exp", "1790000000", NULL), 0);
}
END_TEST

START_TEST(test_text_limits)
{
	char val[KK_TEXT_MAX + 8];
	struct kk_command c;
	char why[128];

	/* KK_TEXT_MAX - 1 bytes fit, KK_TEXT_MAX do not */
	memset(val, 'x', sizeof(val));
	val[0] = '"';
	val[KK_TEXT_MAX] = '"';
	val[KK_TEXT_MAX + 1] = '\0';
	ck_assert_int_eq(parse_str(make("reason", val, NULL), &c, why,
	    sizeof(why)), 0);
	ck_assert_uint_eq(strlen(c.reason), KK_TEXT_MAX - 1);
	kk_command_free(&c);
	val[KK_TEXT_MAX] = 'x';
	val[KK_TEXT_MAX + 1] = '"';
	val[KK_TEXT_MAX + 2] = '\0';
	expect(make("reason", val, NULL), -EBADMSG);
	expect(make("incident", val, NULL), -EBADMSG);
}
END_TEST

/* --- strictness matrix --- */

START_TEST(test_missing_key)
{
	expect(make(base[_i].k, NULL, NULL), -EBADMSG);
}
END_TEST

struct bad {
	const char *key;	/* field replaced, NULL for none */
	const char *val;	/* its new value, NULL to leave it out */
	const char *extra;	/* appended inside the object */
	int rc;
};

/* field key set to val, or extra appended: a malformed command */
#define MALFORMED(key, val)	{ (key), (val), NULL, -EBADMSG }
#define MALFORMED_EXTRA(extra)	{ NULL, NULL, (extra), -EBADMSG }

static const struct bad bads[] = {
	/* extra keys */
	MALFORMED_EXTRA(",\"x\":1"),
	MALFORMED_EXTRA(",\"V\":1"),
	MALFORMED_EXTRA(",\"episodes\":\"" EP "\""),
	MALFORMED_EXTRA(",\"\":1"),
	MALFORMED_EXTRA(",\"v \":1"),
	MALFORMED_EXTRA(",\"x\\u0000\":1"),
	/* duplicate keys */
	MALFORMED_EXTRA(",\"v\":1"),
	MALFORMED_EXTRA(",\"id\":\"" ID "\""),
	MALFORMED_EXTRA(",\"action\":\"status\""),
	MALFORMED_EXTRA(",\"episode\":\"" EP "\",\"episode\":\"" EP "\""),
	/* v */
	MALFORMED("v", "2"),
	MALFORMED("v", "0"),
	MALFORMED("v", "-1"),
	MALFORMED("v", "1.0"),
	MALFORMED("v", "\"1\""),
	MALFORMED("v", "true"),
	MALFORMED("v", "null"),
	MALFORMED("v", "[1]"),
	/* id */
	MALFORMED("id", "\"0123456789ABCDEF0123456789abcdef\""),
	MALFORMED("id", "\"0123456789abcdef0123456789abcde\""),
	MALFORMED("id", "\"0123456789abcdef0123456789abcdef0\""),
	MALFORMED("id", "\"0123456789abcdef0123456789abcdeg\""),
	MALFORMED("id", "\"../../../../../../../../../../x\""),
	MALFORMED("id", "\"\""),
	MALFORMED("id", "1"),
	MALFORMED("id", "null"),
	MALFORMED("id", "\"0123456789abcdef0123456789abcde\\u0000\""),
	/* agent */
	MALFORMED("agent", "\"" ID "\""),
	MALFORMED("agent", "\"" AGENT "0\""),
	MALFORMED("agent", "\"0123456789abcdef0123456789abcdef"
	    "fedcba9876543210fedcba987654321\""),
	MALFORMED("agent", "\"0123456789ABCDEF0123456789abcdef"
	    "fedcba9876543210fedcba9876543210\""),
	MALFORMED("agent", "{}"),
	/* iat, exp */
	MALFORMED("iat", "\"1790000000\""),
	MALFORMED("iat", "1790000000.0"),
	MALFORMED("iat", "1.79e9"),
	MALFORMED("iat", "0"),
	MALFORMED("iat", "-1790000000"),
	MALFORMED("iat", "null"),
	MALFORMED("iat", "true"),
	MALFORMED("iat", "99999999999999999999"),
	MALFORMED("exp", "\"1790000600\""),
	MALFORMED("exp", "1790000600.5"),
	MALFORMED("exp", "1789999999"),
	MALFORMED("exp", "[]"),
	/* action */
	{ "action", "\"nuke\"", NULL, -ENOENT },
	{ "action", "\"Isolate\"", NULL, -ENOENT },
	{ "action", "\"\"", NULL, -ENOENT },
	MALFORMED("action", "\"isolate\\u0000x\""),
	MALFORMED("action", "1"),
	MALFORMED("action", "null"),
	MALFORMED("action", "[\"isolate\"]"),
	/* args */
	MALFORMED("args", "[]"),
	MALFORMED("args", "null"),
	MALFORMED("args", "\"\""),
	MALFORMED("args", "1"),
	MALFORMED("args", "{\"a\":{\"b\":{\"c\":{\"d\":{}}}}}"),
	MALFORMED("args", "{\"a\":[[[[1]]]]}"),
	MALFORMED("args", "{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,"
	    "\"g\":1,\"h\":1,\"i\":1,\"j\":1,\"k\":1,\"l\":1,\"m\":1,"
	    "\"n\":1,\"o\":1,\"p\":1,\"q\":1}"),
	MALFORMED("args", "{\"a\":1,\"a\":2}"),
	/* incident, reason */
	MALFORMED("incident", "1"),
	MALFORMED("incident", "null"),
	MALFORMED("incident", "[\"x\"]"),
	MALFORMED("incident", "\"IR\\n42\""),
	MALFORMED("reason", "\"a\\u0001b\""),
	MALFORMED("reason", "\"a\\u001bb\""),
	MALFORMED("reason", "\"a\\u007fb\""),
	MALFORMED("reason", "\"a\\tb\""),
	MALFORMED("reason", "\"a\\rb\""),
	MALFORMED("reason", "\"a\\u0000b\""),
	MALFORMED("reason", "\"\xff\""),
	MALFORMED("reason", "\"\xc0\xaf\""),
	MALFORMED("reason", "\"\\ud800\""),
	MALFORMED("reason", "false"),
	/* episode */
	MALFORMED_EXTRA(",\"episode\":\"FEDCBA9876543210FEDCBA9876543210\""),
	MALFORMED_EXTRA(",\"episode\":\"fedcba987654321\""),
	MALFORMED_EXTRA(",\"episode\":\"\""),
	MALFORMED_EXTRA(",\"episode\":null"),
	MALFORMED_EXTRA(",\"episode\":1"),
	/* release-type actions without an episode */
	MALFORMED("action", "\"release\""),
	MALFORMED("action", "\"thaw\""),
};

START_TEST(test_bad)
{
	const struct bad *b = &bads[_i];

	expect(make(b->key, b->val, b->extra), b->rc);
}
END_TEST

/* --- group commands (DESIGN 9) --- */

/* The base command with "group": val (JSON) instead of "agent". */
static const char *
make_group(const char *val)
{
	char extra[256];
	int n;

	n = snprintf(extra, sizeof(extra), ",\"group\":%s", val);
	ck_assert_int_lt(n, (int)sizeof(extra));
	return make("agent", NULL, extra);
}

START_TEST(test_group_valid)
{
	char name[KK_GROUP_NAME_MAX + 3];
	struct kk_command c;
	char why[128] = "stale";

	ck_assert_int_eq(parse_str(make_group("\"tokyo\""), &c, why,
	    sizeof(why)), 0);
	ck_assert_str_eq(why, "");
	ck_assert_str_eq(c.group, "tokyo");
	ck_assert_str_eq(c.agent, "");
	ck_assert_str_eq(c.id, ID);
	ck_assert_int_eq(c.action, KK_ACT_ISOLATE);
	kk_command_free(&c);
	/* an agent command names no group */
	ck_assert_int_eq(parse_str(make(NULL, NULL, NULL), &c, why,
	    sizeof(why)), 0);
	ck_assert_str_eq(c.group, "");
	kk_command_free(&c);
	/* KK_GROUP_NAME_MAX bytes exactly, every kind of byte allowed */
	memset(name, 'a', sizeof(name));
	name[0] = '"';
	memcpy(name + 1, "0.t_k-", 6);
	name[KK_GROUP_NAME_MAX + 1] = '"';
	name[KK_GROUP_NAME_MAX + 2] = '\0';
	ck_assert_int_eq(parse_str(make_group(name), &c, why, sizeof(why)), 0);
	ck_assert_uint_eq(strlen(c.group), KK_GROUP_NAME_MAX);
	kk_command_free(&c);
	/* a release for a group carries its episode like any other */
	expect(make("agent", NULL, ",\"group\":\"osaka\",\"episode\":\"" EP
	    "\""), 0);
}
END_TEST

START_TEST(test_group_too_long)
{
	char name[KK_GROUP_NAME_MAX + 4];

	memset(name, 'a', sizeof(name));
	name[0] = '"';
	name[KK_GROUP_NAME_MAX + 2] = '"';
	name[KK_GROUP_NAME_MAX + 3] = '\0';
	expect(make_group(name), -EBADMSG);
}
END_TEST

/* Either key, never both, never neither; and the why says which. */
START_TEST(test_group_one_addressee)
{
	struct kk_command c;
	char why[128];

	ck_assert_int_eq(parse_str(make(NULL, NULL, ",\"group\":\"tokyo\""),
	    &c, why, sizeof(why)), -EBADMSG);
	ck_assert_str_eq(why, "both agent and group: a command names one of "
	    "them");
	ck_assert_int_eq(parse_str(make("agent", NULL, NULL), &c, why,
	    sizeof(why)), -EBADMSG);
	ck_assert_str_eq(why, "missing key 'agent' (or 'group')");
	/* a group named twice is a duplicate key */
	expect(make("agent", NULL, ",\"group\":\"tokyo\",\"group\":\"osaka\""),
	    -EBADMSG);
}
END_TEST

/* Names that are not one MQTT topic level, or not a string at all. */
static const char *const bad_groups[] = {
	"\"\"", "\"Tokyo\"", "\"-tokyo\"", "\".tokyo\"", "\"_tokyo\"",
	"\"tokyo/osaka\"", "\"tokyo+\"", "\"#\"", "\"+\"", "\"to kyo\"",
	"\"tokyo\\u0000x\"", "\"tokyo\\n\"", "\"\xe6\x9d\xb1\xe4\xba\xac\"",
	"\"tokyo*\"", "1", "null", "true", "[\"tokyo\"]", "{}",
};

START_TEST(test_group_bad_name)
{
	expect(make_group(bad_groups[_i]), -EBADMSG);
}
END_TEST

START_TEST(test_release_episode)
{
	struct kk_command c;
	char why[128];

	ck_assert_int_eq(parse_str(make("action", "\"release\"", NULL), &c,
	    why, sizeof(why)), -EBADMSG);
	ck_assert_str_eq(why, "release needs episode");
	ck_assert_int_eq(parse_str(make("action", "\"thaw\"", NULL), &c,
	    why, sizeof(why)), -EBADMSG);
	ck_assert_str_eq(why, "thaw needs episode");

	ck_assert_int_eq(parse_str(make("action", "\"release\"",
	    ",\"episode\":\"" EP "\""), &c, why, sizeof(why)), 0);
	ck_assert_int_eq(c.action, KK_ACT_RELEASE);
	ck_assert_str_eq(c.episode, EP);
	kk_command_free(&c);
	expect(make("action", "\"thaw\"", ",\"episode\":\"" EP "\""), 0);
	expect(make("action", "\"unblock\"", ",\"episode\":\"" EP "\""), 0);
	/* block lists outlive episodes: unblock names its set instead */
	expect(make("action", "\"unblock\"", NULL), 0);
}
END_TEST

START_TEST(test_unknown_action)
{
	struct kk_command c;
	char why[128];

	ck_assert_int_eq(parse_str(make("action", "\"self-destruct\"", NULL),
	    &c, why, sizeof(why)), -ENOENT);
	ck_assert_str_eq(why, "unknown action");
	/* a malformed command is malformed, whatever its action */
	ck_assert_int_eq(parse_str(make("action", "\"self-destruct\"",
	    ",\"x\":1"), &c, why, sizeof(why)), -EBADMSG);
}
END_TEST

START_TEST(test_framing)
{
	struct kk_command c;
	char why[128], buf[8192];
	size_t n;

	/* trailing data */
	snprintf(buf, sizeof(buf), "%sx", make(NULL, NULL, NULL));
	expect(buf, -EBADMSG);
	snprintf(buf, sizeof(buf), "%s{}", make(NULL, NULL, NULL));
	expect(buf, -EBADMSG);
	snprintf(buf, sizeof(buf), "%s,", make(NULL, NULL, NULL));
	expect(buf, -EBADMSG);
	/* a NUL byte after the object, inside the length */
	snprintf(buf, sizeof(buf), "%s", make(NULL, NULL, NULL));
	n = strlen(buf);
	ck_assert_int_eq(kk_command_parse((const uint8_t *)buf, n + 1, &c,
	    why, sizeof(why)), -EBADMSG);
	/* the length is honoured: one byte short is a truncated object */
	ck_assert_int_eq(kk_command_parse((const uint8_t *)buf, n - 1, &c,
	    why, sizeof(why)), -EBADMSG);
	/* other top levels */
	snprintf(buf, sizeof(buf), "[%s]", make(NULL, NULL, NULL));
	expect(buf, -EBADMSG);
	expect("[]", -EBADMSG);
	expect("1", -EBADMSG);
	expect("\"isolate\"", -EBADMSG);
	expect("null", -EBADMSG);
	expect("{}", -EBADMSG);
	expect("   ", -EBADMSG);
	/* empty */
	ck_assert_int_eq(kk_command_parse((const uint8_t *)"", 0, &c, why,
	    sizeof(why)), -EBADMSG);
	ck_assert_str_ne(why, "");
	ck_assert_int_eq(kk_command_parse(NULL, 0, &c, why, sizeof(why)),
	    -EBADMSG);
	/* no room for why is fine */
	ck_assert_int_eq(kk_command_parse((const uint8_t *)"[]", 2, &c, NULL,
	    0), -EBADMSG);
	ck_assert_int_eq(kk_command_parse((const uint8_t *)"[]", 2, NULL, why,
	    sizeof(why)), -EINVAL);
}
END_TEST

/* The explanation may quote the payload; it stays one printable line. */
START_TEST(test_why_printable)
{
	struct kk_command c;
	char why[128];
	size_t i;

	ck_assert_int_eq(parse_str(make(NULL, NULL,
	    ",\"\\u001b[2J\\n\xe9\x9a\x94\":1"), &c, why, sizeof(why)),
	    -EBADMSG);
	ck_assert_str_ne(why, "");
	for (i = 0; why[i] != '\0'; i++)
		ck_assert((unsigned char)why[i] >= 0x20 &&
		    (unsigned char)why[i] < 0x7f);
	ck_assert_int_eq(parse_str("{\"\x01\x02\x1b", &c, why, sizeof(why)),
	    -EBADMSG);
	for (i = 0; why[i] != '\0'; i++)
		ck_assert((unsigned char)why[i] >= 0x20 &&
		    (unsigned char)why[i] < 0x7f);
	/* a short buffer truncates */
	ck_assert_int_eq(parse_str("[]", &c, why, 4), -EBADMSG);
	ck_assert_uint_le(strlen(why), 3);
}
END_TEST

/* --- time window --- */

/*
 * A command valid from iat to exp, checked at now with skew and
 * max_life: rc, and the reason word (NULL: accepted).
 */
static const struct time_case {
	const char *what;
	int64_t iat, exp, now;
	int skew, max_life;
	int rc;
	const char *reason;
} times[] = {
	{ "inside", 1000000, 1000600, 1000300, 30, 600, 0, NULL },
	{ "at iat - skew", 1000000, 1000600, 1000000 - 30, 30, 600, 0, NULL },
	{ "at exp + skew", 1000000, 1000600, 1000600 + 30, 30, 600, 0, NULL },
	{ "a second before iat - skew", 1000000, 1000600, 1000000 - 31, 30,
	    600, -EKEYREJECTED, "not-yet-valid" },
	{ "a second after exp + skew", 1000000, 1000600, 1000600 + 31, 30,
	    600, -EKEYEXPIRED, "expired" },
	{ "no skew, at iat", 1000000, 1000600, 1000000, 0, 600, 0, NULL },
	{ "no skew, before iat", 1000000, 1000600, 999999, 0, 600,
	    -EKEYREJECTED, "not-yet-valid" },
	{ "no skew, at exp", 1000000, 1000600, 1000600, 0, 600, 0, NULL },
	{ "no skew, after exp", 1000000, 1000600, 1000601, 0, 600,
	    -EKEYEXPIRED, "expired" },
	{ "far before", 1000000, 1000600, 0, 30, 600, -EKEYREJECTED,
	    "not-yet-valid" },
	{ "far after", 1000000, 1000600, 2000000000, 30, 600, -EKEYEXPIRED,
	    "expired" },
	/* the lifetime exp - iat against max_life */
	{ "lifetime == max", 1000000, 1000600, 1000000, 30, 600, 0, NULL },
	{ "lifetime a second over", 1000000, 1000600, 1000000, 30, 599,
	    -EKEYREJECTED, "lifetime" },
	/* judged even while the command is in its window */
	{ "a year's lifetime", 1000000, 1000000 + 86400 * 365, 1000001, 30,
	    3600, -EKEYREJECTED, "lifetime" },
	/* and before the other checks */
	{ "a year's lifetime, not yet valid", 1000000,
	    1000000 + 86400 * 365, 1, 30, 3600, -EKEYREJECTED, "lifetime" },
	{ "zero lifetime, max 0", 1000000, 1000000, 1000000, 0, 0, 0, NULL },
	/* exp before iat (a hand-made struct) is no lifetime at all */
	{ "exp before iat", 1000600, 1000000, 1000300, 30, 600,
	    -EKEYREJECTED, "lifetime" },
	/* no overflow at the edges of int64_t */
	{ "iat near INT64_MAX", INT64_MAX - 10, INT64_MAX, 1790000000, 60, 600,
	    -EKEYREJECTED, "not-yet-valid" },
	{ "now INT64_MAX", INT64_MAX - 10, INT64_MAX, INT64_MAX, 60, 600, 0,
	    NULL },
	{ "iat near INT64_MIN", INT64_MIN + 5, INT64_MAX, 0, 60, 600,
	    -EKEYREJECTED, "lifetime" },
	/* iat - skew overflows: refused, not wrapped around */
	{ "both near INT64_MIN", INT64_MIN + 5, INT64_MIN + 5, 0, 60, 600,
	    -EKEYREJECTED, "not-yet-valid" },
	{ "skew INT32_MAX", 1, 1, INT64_MAX, INT32_MAX, 600, -EKEYEXPIRED,
	    "expired" },
};

START_TEST(test_time)
{
	const struct time_case *t = &times[_i];
	struct kk_command c;
	const char *r = "stale";
	int rc;

	memset(&c, 0, sizeof(c));
	c.iat = t->iat;
	c.exp = t->exp;
	rc = kk_command_check_time(&c, (time_t)t->now, t->skew, t->max_life,
	    &r);
	ck_assert_msg(rc == t->rc, "%s: rc %d, want %d", t->what, rc, t->rc);
	if (t->reason == NULL)
		ck_assert_msg(r == NULL, "%s: reason %s", t->what, r);
	else
		ck_assert_msg(r != NULL && strcmp(r, t->reason) == 0,
		    "%s: reason %s, want %s", t->what, r ? r : "(none)",
		    t->reason);
}
END_TEST

START_TEST(test_time_bad_args)
{
	struct kk_command c;
	const char *r = NULL;

	memset(&c, 0, sizeof(c));
	c.iat = 1;
	c.exp = 1;
	ck_assert_int_eq(kk_command_check_time(&c, 1, -1, 600, &r), -EINVAL);
	ck_assert_int_eq(kk_command_check_time(&c, 1, 0, -1, &r), -EINVAL);
	ck_assert_int_eq(kk_command_check_time(NULL, 1, 0, 0, &r), -EINVAL);
	ck_assert_int_eq(kk_command_check_time(&c, 1, 0, 0, NULL), 0);
}
END_TEST

/* A parsed command goes straight into the window check. */
START_TEST(test_parse_then_time)
{
	struct kk_command c;
	const char *r;
	char why[128];

	ck_assert_int_eq(parse_str(make(NULL, NULL, NULL), &c, why,
	    sizeof(why)), 0);
	ck_assert_int_eq(kk_command_check_time(&c, 1790000300, 60, 600, &r),
	    0);
	ck_assert_int_eq(kk_command_check_time(&c, 1790000300, 60, 300, &r),
	    -EKEYREJECTED);
	ck_assert_str_eq(r, "lifetime");
	kk_command_free(&c);
}
END_TEST

/*
 * An unverified payload (cosign, fleet send): one of more values than a
 * command has is refused before jansson sees it; a real command parses.
 */
START_TEST(test_untrusted_values)
{
	struct kk_command c;
	char why[128];
	const char *good = make(NULL, NULL, NULL);
	size_t n = 32768 * 3 + 64, i;
	char *bomb = malloc(n);

	ck_assert_int_eq(kk_command_parse_untrusted((const uint8_t *)good,
	    strlen(good), &c, why, sizeof(why)), 0);
	ck_assert_int_eq(c.action, KK_ACT_ISOLATE);
	kk_command_free(&c);
	/* {"args":[{},{},...]}: 96 KiB, over KK_COMMAND_MAX, of more than a value per 8 bytes */
	ck_assert_ptr_nonnull(bomb);
	i = (size_t)snprintf(bomb, n, "{\"args\":[");
	while (i + 4 < 32768 * 3)
		i += (size_t)snprintf(bomb + i, n - i, "{},");
	bomb[i - 1] = ']';
	bomb[i++] = '}';
	bomb[i] = '\0';
	ck_assert_int_eq(kk_command_parse_untrusted((const uint8_t *)bomb, i,
	    &c, why, sizeof(why)), -E2BIG);
	ck_assert_str_eq(why, "more values than a command has");
	free(bomb);
}
END_TEST

KK_SUITE(command_suite, "command",
	KK_CASE("valid", 0, 0), KK_TEST(test_action_names),
	    KK_TEST(test_valid), KK_TEST(test_valid_variants),
	    KK_TEST(test_text_limits),
	KK_CASE("strict", 0, 0), KK_LOOP(test_missing_key, (int)NBASE),
	    KK_LOOP(test_bad, KK_NITEMS(bads)),
	    KK_TEST(test_release_episode), KK_TEST(test_unknown_action),
	    KK_TEST(test_framing), KK_TEST(test_why_printable),
	    KK_TEST(test_untrusted_values),
	KK_CASE("group", 0, 0), KK_TEST(test_group_valid),
	    KK_TEST(test_group_too_long), KK_TEST(test_group_one_addressee),
	    KK_LOOP(test_group_bad_name, KK_NITEMS(bad_groups)),
	KK_CASE("time", 0, 0), KK_LOOP(test_time, KK_NITEMS(times)),
	    KK_TEST(test_time_bad_args), KK_TEST(test_parse_then_time))
