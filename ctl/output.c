/*
 * kakurictl's one voice: failures on stderr, one line each, and JSON
 * documents on stdout.
 */
#include <stdarg.h>
#include <stdio.h>

#include <jansson.h>

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

void
print_json(json_t *o)
{
	if (o == NULL)
		return;
	json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
}

const char *
str_or(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : dflt;
}

void
print_receipt_head(json_t *rec, const char *no_action)
{
	printf("%s %s: %s%s%s", str_or(rec, KW_ACTION, no_action),
	    str_or(rec, KW_COMMAND, "-"), str_or(rec, KW_RESULT, "?"),
	    json_is_string(json_object_get(rec, KW_REASON)) ? " " : "",
	    str_or(rec, KW_REASON, ""));
}
