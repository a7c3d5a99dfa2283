/*
 * The command payload (DESIGN 4) and its time window.
 *
 * The payload is parsed only after the signature threshold has been met,
 * but it is still treated as hostile: a signer's tool can have a bug, and
 * whatever is accepted here ends up in nftables rules, in the audit log
 * and on an employee's terminal.  So the parser is strict: an object with
 * exactly the known keys, each of exactly the right type and shape, no
 * duplicate keys, nothing after the object.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "kakuri.h"
#include "jsonutil.h"
#include "sign.h"
#include "wire.h"

#define ARGS_MAX_MEMBERS	16
#define ARGS_MAX_DEPTH		4	/* args itself is depth 1 */

static const char *const action_names[KK_ACT__MAX] = {
	KK_ACTIONS(KK_ENUM_WORD)
};

/* Top-level keys; bit i of the "seen" mask is keys[i]. */
enum {
	K_V, K_ID, K_AGENT, K_IAT, K_EXP, K_ACTION, K_ARGS, K_INCIDENT,
	K_REASON, K_EPISODE, K_GROUP, K__MAX
};
static const char *const top_keys[K__MAX] = {
	[K_V] = KW_V,
	[K_ID] = KW_ID,
	[K_AGENT] = KW_AGENT,
	[K_IAT] = KW_IAT,
	[K_EXP] = KW_EXP,
	[K_ACTION] = KW_ACTION,
	[K_ARGS] = KW_ARGS,
	[K_INCIDENT] = KW_INCIDENT,
	[K_REASON] = KW_REASON,
	[K_EPISODE] = KW_EPISODE,
	[K_GROUP] = KW_GROUP,
};
/* agent and group: exactly one of the two, checked on its own */
#define K_ADDRESS	((1u << K_AGENT) | (1u << K_GROUP))
#define K_REQUIRED	((1u << K__MAX) - 1 - (1u << K_EPISODE) - K_ADDRESS)

int
kk_action_parse(const char *name, enum kk_action *out)
{
	int i;

	if (name == NULL || out == NULL)
		return -EINVAL;
	if ((i = kk_name_find(action_names, nitems(action_names), name)) < 0)
		return -ENOENT;
	*out = (enum kk_action)i;
	return 0;
}

const char *
kk_action_name(enum kk_action a)
{
	return kk_name_at(action_names, nitems(action_names), (unsigned)a);
}

/*
 * A string member copied into dst (size bytes, so at most size - 1
 * bytes of text).  jansson has already checked UTF-8, and without
 * JSON_ALLOW_NUL it refuses \u0000, but the length is checked anyway,
 * and the text rules are kk_text_check's, as for every boundary.
 */
static int
get_text(json_t *v, const char *key, char *dst, size_t size, char *why,
    size_t whylen)
{
	const char *s;
	size_t len;
	int rc = -EBADMSG;

	if (!json_is_string(v)) {
		kk_explain(why, whylen, "%s must be a string", key);
		goto out;
	}
	s = json_string_value(v);
	len = json_string_length(v);
	if (len >= size || strlen(s) != len) {
		kk_explain(why, whylen, "%s is too long (at most %zu bytes)",
		    key, size - 1);
		goto out;
	}
	if ((rc = kk_text_check(s, len, NULL)) < 0) {
		kk_explain(why, whylen, "%s %s", key, kk_text_problem(rc));
		rc = -EBADMSG;
		goto out;
	}
	memcpy(dst, s, len + 1);
	rc = 0;
out:
	return rc;
}

static int
get_hex(json_t *v, const char *key, size_t n, char *dst, char *why,
    size_t whylen)
{
	int rc = -EBADMSG;

	if (!json_is_string(v) ||
	    !kk_is_hex(json_string_value(v), json_string_length(v), n)) {
		kk_explain(why, whylen, "%s must be %zu lowercase hex digits",
		    key, n);
		goto out;
	}
	memcpy(dst, json_string_value(v), n + 1);
	rc = 0;
out:
	return rc;
}

/*
 * A fleet group's name (DESIGN 9): one MQTT topic level, so that the
 * name that picks the agents is the name of the topic it came on.
 */
static int
get_group(json_t *v, char dst[KK_GROUP_NAME_MAX + 1], char *why,
    size_t whylen)
{
	const char *s, *problem;
	int rc = -EBADMSG;

	if (!json_is_string(v)) {
		kk_explain(why, whylen, "group must be a string");
		goto out;
	}
	s = json_string_value(v);
	if (json_string_length(v) != strlen(s) ||
	    json_string_length(v) > KK_GROUP_NAME_MAX)
		problem = "is longer than 64 bytes";
	else
		problem = kk_group_name_problem(s);
	if (problem != NULL) {
		kk_explain(why, whylen, "group %s", problem);
		goto out;
	}
	memcpy(dst, s, json_string_length(v) + 1);
	rc = 0;
out:
	return rc;
}

/* A JSON integer (not a real, not a string) greater than zero. */
static int
get_time(json_t *v, const char *key, int64_t *out, char *why, size_t whylen)
{
	int rc = -EBADMSG;

	if (!json_is_integer(v)) {
		kk_explain(why, whylen, "%s must be an integer", key);
		goto out;
	}
	if (json_integer_value(v) <= 0) {
		kk_explain(why, whylen, "%s must be positive", key);
		goto out;
	}
	*out = (int64_t)json_integer_value(v);
	rc = 0;
out:
	return rc;
}

/* Whether v nests no deeper than max levels (a scalar is level 0). */
static bool
depth_ok(json_t *v, int max)
{
	const char *k;
	json_t *e;
	size_t i;

	if (!json_is_object(v) && !json_is_array(v))
		return true;
	if (max <= 0)
		return false;
	if (json_is_object(v)) {
		json_object_foreach(v, k, e)
			if (!depth_ok(e, max - 1))
				return false;
	} else {
		json_array_foreach(v, i, e)
			if (!depth_ok(e, max - 1))
				return false;
	}
	return true;
}

/*
 * What ends an isolation names it.  unblock does not: block lists are in
 * force in every mode and outlive episodes (it may name the version it
 * ends instead, see agentd/blocklist.c).
 */
static bool
needs_episode(enum kk_action a)
{
	return a == KK_ACT_RELEASE || a == KK_ACT_THAW;
}

/*
 * On success *c holds the command (free it with kk_command_free); on
 * failure *c is cleared, so kk_command_free on it is harmless.  Every
 * well-formed field is checked before the action name is looked up, so
 * -ENOENT means "a valid command for an action this agent does not know".
 */
int
kk_command_parse(const uint8_t *payload, size_t len, struct kk_command *c,
    char *why, size_t whylen)
{
	struct kk_command nc;
	json_error_t jerr;
	json_t *root = NULL, *v[K__MAX] = { NULL };
	const char *key, *aname;
	json_t *val;
	unsigned seen = 0;
	size_t i;
	int rc = -EBADMSG;

	memset(&nc, 0, sizeof(nc));
	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (c == NULL) {
		rc = -EINVAL;
		kk_explain(why, whylen, "no command");
		goto out;
	}
	if (payload == NULL || len == 0) {
		kk_explain(why, whylen, "empty payload");
		goto out;
	}
	if (len > KK_ENVELOPE_MAX) {
		kk_explain(why, whylen, "payload too large");
		goto out;
	}
	/*
	 * Without JSON_DECODE_ANY the top level must be an object or an
	 * array; without JSON_DISABLE_EOF_CHECK anything but whitespace
	 * after it is an error; without JSON_ALLOW_NUL "\u0000" is refused.
	 */
	root = json_loadb((const char *)payload, len, JSON_REJECT_DUPLICATES,
	    &jerr);
	if (root == NULL) {
		kk_explain(why, whylen, "not valid JSON: %s", jerr.text);
		goto out;
	}
	if (!json_is_object(root)) {
		kk_explain(why, whylen, "not a JSON object");
		goto out;
	}

	json_object_foreach(root, key, val) {
		for (i = 0; i < K__MAX; i++)
			if (strcmp(key, top_keys[i]) == 0)
				break;
		if (i == K__MAX) {
			kk_explain(why, whylen, "unknown key '%.32s'", key);
			goto out;
		}
		v[i] = val;
		seen |= 1u << i;
	}
	if ((seen & K_REQUIRED) != K_REQUIRED) {
		for (i = 0; i < K__MAX; i++)
			if ((K_REQUIRED & (1u << i)) && !(seen & (1u << i)))
				break;
		kk_explain(why, whylen, "missing key '%s'",
		    i < K__MAX ? top_keys[i] : "?");
		goto out;
	}
	/* one addressee: an agent that is both could be picked twice */
	if ((seen & K_ADDRESS) == 0) {
		kk_explain(why, whylen, "missing key 'agent' (or 'group')");
		goto out;
	}
	if ((seen & K_ADDRESS) == K_ADDRESS) {
		kk_explain(why, whylen, "both agent and group: a command names "
		    "one of them");
		goto out;
	}

	if (!json_is_integer(v[K_V]) || json_integer_value(v[K_V]) != 1) {
		kk_explain(why, whylen, "v must be the integer 1");
		goto out;
	}
	if ((rc = get_hex(v[K_ID], "id", KK_ID_HEX, nc.id, why, whylen)) != 0)
		goto out;
	if (v[K_AGENT] != NULL && (rc = get_hex(v[K_AGENT], "agent",
	    KK_AGENT_ID_HEX, nc.agent, why, whylen)) != 0)
		goto out;
	if (v[K_GROUP] != NULL && (rc = get_group(v[K_GROUP], nc.group, why,
	    whylen)) != 0)
		goto out;
	if ((rc = get_time(v[K_IAT], "iat", &nc.iat, why, whylen)) != 0)
		goto out;
	if ((rc = get_time(v[K_EXP], "exp", &nc.exp, why, whylen)) != 0)
		goto out;
	rc = -EBADMSG;
	if (nc.exp < nc.iat) {
		kk_explain(why, whylen, "exp is before iat");
		goto out;
	}
	if (!json_is_string(v[K_ACTION])) {
		kk_explain(why, whylen, "action must be a string");
		goto out;
	}
	aname = json_string_value(v[K_ACTION]);
	if (!json_is_object(v[K_ARGS])) {
		kk_explain(why, whylen, "args must be an object");
		goto out;
	}
	if (json_object_size(v[K_ARGS]) > ARGS_MAX_MEMBERS) {
		kk_explain(why, whylen,
		    "args has too many members (at most %d)", ARGS_MAX_MEMBERS);
		goto out;
	}
	if (!depth_ok(v[K_ARGS], ARGS_MAX_DEPTH)) {
		kk_explain(why, whylen, "args nested too deeply (at most %d)",
		    ARGS_MAX_DEPTH);
		goto out;
	}
	if ((rc = get_text(v[K_INCIDENT], "incident", nc.incident,
	    sizeof(nc.incident), why, whylen)) != 0)
		goto out;
	if ((rc = get_text(v[K_REASON], "reason", nc.reason,
	    sizeof(nc.reason), why, whylen)) != 0)
		goto out;
	if (v[K_EPISODE] != NULL && (rc = get_hex(v[K_EPISODE], "episode",
	    KK_EPISODE_HEX, nc.episode, why, whylen)) != 0)
		goto out;

	if (json_string_length(v[K_ACTION]) != strlen(aname) ||
	    kk_action_parse(aname, &nc.action) != 0) {
		rc = -ENOENT;
		kk_explain(why, whylen, "unknown action");
		goto out;
	}
	if (needs_episode(nc.action) && nc.episode[0] == '\0') {
		rc = -EBADMSG;
		kk_explain(why, whylen, "%s needs episode",
		    kk_action_name(nc.action));
		goto out;
	}

	nc.args = json_incref(v[K_ARGS]);
	*c = nc;
	rc = 0;
out:
	if (rc != 0 && c != NULL)
		memset(c, 0, sizeof(*c));
	json_decref(root);
	return rc;
}

void
kk_command_free(struct kk_command *c)
{
	if (c == NULL)
		return;
	json_decref(c->args);
	c->args = NULL;
}

/*
 * iat - skew <= now <= exp + skew, and exp - iat <= max_life.  The
 * lifetime is a property of the command itself, so it is checked first.
 * The arithmetic is done with overflow checks: iat and exp come from the
 * payload and can be as large as an int64_t.
 */
int
kk_command_check_time(const struct kk_command *c, time_t now, int skew,
    int max_life, const char **reason)
{
	const char *r = KE_MALFORMED;
	int64_t life, lo, hi;
	int rc = -EINVAL;

	if (c == NULL || skew < 0 || max_life < 0)
		goto out;
	rc = -EKEYREJECTED;
	r = KE_LIFETIME;
	if (__builtin_sub_overflow(c->exp, c->iat, &life) || life < 0 ||
	    life > max_life)
		goto out;
	r = KE_NOT_YET_VALID;
	if (__builtin_sub_overflow(c->iat, (int64_t)skew, &lo) ||
	    (int64_t)now < lo)
		goto out;
	rc = -EKEYEXPIRED;
	r = KE_EXPIRED;
	if (!__builtin_add_overflow(c->exp, (int64_t)skew, &hi) &&
	    (int64_t)now > hi)
		goto out;
	r = NULL;
	rc = 0;
out:
	if (reason != NULL)
		*reason = r;
	return rc;
}

int
kk_command_parse_untrusted(const uint8_t *payload, size_t len,
    struct kk_command *c, char *why, size_t whylen)
{
	if (!kk_json_few_values((const char *)payload, len,
	    len > KK_COMMAND_MAX ? len / 8 : KK_PAYLOAD_VALUES_MAX)) {
		/* left as kk_command_parse leaves it */
		memset(c, 0, sizeof(*c));
		snprintf(why, whylen, "more values than a command has");
		return -E2BIG;
	}
	return kk_command_parse(payload, len, c, why, whylen);
}
