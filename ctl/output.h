/*
 * kakurictl's one voice: a failure is one line "kakurictl: ..." on
 * stderr (DESIGN 5), a JSON answer one document on stdout.
 */
#ifndef KAKURICTL_OUTPUT_H
#define KAKURICTL_OUTPUT_H

#include <jansson.h>

void fail_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* o (if not NULL) as an indented JSON document, keys in their order */
void print_json(json_t *o);

#endif
