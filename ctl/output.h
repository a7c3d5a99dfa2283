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
/* o's member key if it is a string, else dflt */
const char *str_or(json_t *o, const char *key, const char *dflt);
/* how a receipt's line begins: "ACTION COMMAND: RESULT[ REASON]" */
void print_receipt_head(json_t *rec, const char *no_action);

#endif
