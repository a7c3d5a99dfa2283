/*
 * kakurictl's one voice: failures on stderr, one line each, and JSON
 * documents on stdout.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "kakuri.h"
#include "output.h"
#include "wire.h"

void
fail_line(const char *fmt, ...)
{
	va_list ap;

	fputs("kakurictl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * Every character past ASCII as a \u escape of its code point: text
 * from agents and users (a report's) must not reach the operator's
 * terminal as C1 controls (U+009B starts an escape sequence) or bidi
 * overrides; jq and any JSON reader read them back as they were.
 */
void
print_json(json_t *o)
{
	if (o == NULL)
		return;
	json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
	    JSON_ENSURE_ASCII);
	putchar('\n');
}

void
print_json_compact(json_t *o)
{
	json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER |
	    JSON_ENSURE_ASCII);
}

const char *
str_or(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : dflt;
}

const char *
ctl_text(json_t *o, const char *key, const char *dflt, char *buf, size_t len)
{
	const char *s = str_or(o, key, dflt);

	kk_text_clean(buf, len, s, strlen(s));
	return buf;
}

const char *
ctl_name(json_t *o, const char *key, const char *dflt, char *buf, size_t len)
{
	const char *s = str_or(o, key, dflt);

	kk_text_ascii(buf, len, s, strlen(s));
	return buf;
}

/* o's member key if it is an id of n hex digits, else dflt or "?" */
static void
id_of(json_t *o, const char *key, size_t n, const char *dflt, char *buf,
    size_t len)
{
	const char *s = json_string_value(json_object_get(o, key));

	if (s == NULL)
		s = dflt;
	else if (!kk_is_hex(s, strlen(s), n))
		s = "?";
	snprintf(buf, len, "%s", s);
}

void
receipt_text(json_t *rec, const char *no_action, struct receipt_text *t)
{
	ctl_text(rec, KW_ACTION, no_action, t->action, sizeof(t->action));
	id_of(rec, KW_COMMAND, KK_ID_HEX, "-", t->command,
	    sizeof(t->command));
	ctl_text(rec, KW_RESULT, "?", t->result, sizeof(t->result));
	ctl_text(rec, KW_REASON, "", t->reason, sizeof(t->reason));
	ctl_text(rec, KW_MODE, "?", t->mode, sizeof(t->mode));
	id_of(rec, KW_EPISODE, KK_EPISODE_HEX, "-", t->episode,
	    sizeof(t->episode));
}

void
print_receipt_head(json_t *rec, const char *no_action)
{
	struct receipt_text t;

	receipt_text(rec, no_action, &t);
	printf("%s %s: %s%s%s", t.action, t.command, t.result,
	    t.reason[0] ? " " : "", t.reason);
}

void
print_receipt_line(const char *who, json_t *rec)
{
	struct receipt_text t;

	receipt_text(rec, "-", &t);
	printf("%s %s %s: %s%s%s mode=%s episode=%s\n", who, t.action,
	    t.command, t.result, t.reason[0] ? " " : "", t.reason, t.mode,
	    t.episode);
	print_receipt_left_out(who, rec);
}

/*
 * A brief receipt (wire.h: KW_LEFT_OUT): the agent signed it again
 * without parts too large for the transport.  Its own line, so that the
 * operator does not take the missing status or output for none; only
 * the words this version knows are printed.
 */
void
print_receipt_left_out(const char *who, json_t *rec)
{
	json_t *lo = json_object_get(rec, KW_LEFT_OUT), *p;
	bool status = false, output = false;
	size_t i;

	if (!json_is_object(lo))
		return;
	json_array_foreach(json_object_get(lo, KW_PARTS), i, p) {
		status = status || (json_is_string(p) &&
		    strcmp(json_string_value(p), KW_STATUS) == 0);
		output = output || (json_is_string(p) &&
		    strcmp(json_string_value(p), KW_OUTPUT) == 0);
	}
	printf("%s left out: %s%s%s (the whole receipt, %lld bytes, is more "
	    "than the transport takes)\n", who, status ? "status" : "",
	    status && output ? " and " : "", output ? "output" :
	    status ? "" : "?", (long long)json_integer_value(
	    json_object_get(lo, KW_BYTES)));
}

/* o's string member key, cleaned and cut to len - 1 bytes, set in t */
static void
short_text(json_t *t, json_t *o, const char *key, size_t len)
{
	char text[256];

	if (json_is_string(json_object_get(o, key)))
		json_object_set_new(t, key, json_string(ctl_text(o, key, "",
		    text, len < sizeof(text) ? len : sizeof(text))));
}

json_t *
receipt_short(json_t *rec)
{
	static const char *const words[] = { KW_ACTION, KW_COMMAND,
		KW_RESULT, KW_REASON, KW_MODE, KW_EPISODE };
	json_t *t, *list, *e, *o;
	const char *res;
	size_t i;

	if ((t = json_object()) == NULL)
		return NULL;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		short_text(t, rec, words[i], 256);
	/*
	 * Cut off with the rest, a degraded isolate (its USB cut failed)
	 * was counted as a whole one: the operator must see it.
	 */
	list = json_array();
	json_array_foreach(json_object_get(rec, KW_ENFORCERS), i, e) {
		res = json_string_value(json_object_get(e, KW_RESULT));
		if (res == NULL || strcmp(res, KR_APPLIED) == 0)
			continue;
		if (json_array_size(list) == RECEIPT_SHORT_ENFORCERS)
			break;
		if ((o = json_object()) == NULL)
			continue;
		/* kk_receipt_degraded's cuts (wire.c), and the NUL */
		short_text(o, e, KW_NAME, 24 + 1);
		short_text(o, e, KW_RESULT, 16 + 1);
		short_text(o, e, KW_REASON, 32 + 1);
		short_text(o, e, KW_DETAIL, 200 + 1);
		json_array_append_new(list, o);
	}
	if (json_array_size(list) > 0)
		json_object_set_new(t, KW_ENFORCERS, list);
	else
		json_decref(list);
	json_object_set_new(t, KW_TRUNCATED, json_true());
	return t;
}

bool
print_receipt_degraded(const char *who, json_t *rec, bool print)
{
	const char *result = json_string_value(json_object_get(rec, KW_RESULT));
	struct receipt_text t;
	char what[512];

	/* only what is done is degraded: a failure says so itself */
	if (result == NULL || strcmp(result, KR_DONE) != 0 ||
	    kk_receipt_degraded(rec, what, sizeof(what)) == 0)
		return false;
	if (!print)
		return true;
	receipt_text(rec, "-", &t);
	printf("%s degraded: %s\n", who, what);
	/* stdout may go to a file: the operator sees it on the terminal too */
	fail_line("%s: %s %s, but not all of it: %s", who, t.action, t.result,
	    what);
	return true;
}
