/*
 * kakurictl's one voice: failures on stderr, one line each, and JSON
 * documents on stdout.
 */
#include <stdarg.h>
#include <stdio.h>

#include <jansson.h>

#include "output.h"

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
