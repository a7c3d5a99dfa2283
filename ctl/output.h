/*
 * kakurictl's one voice: a failure is one line "kakurictl: ..." on
 * stderr (DESIGN 5), a JSON answer one document on stdout.
 */
#ifndef KAKURICTL_OUTPUT_H
#define KAKURICTL_OUTPUT_H

#include <stdbool.h>

#include <jansson.h>

#include "kakuri.h"
#include "sign.h"

void fail_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* o (if not NULL) as an indented JSON document, keys in their order */
void print_json(json_t *o);
/* o on one line, no newline after it, as print_json escapes it */
void print_json_compact(json_t *o);
/* o's member key if it is a string, else dflt */
const char *str_or(json_t *o, const char *key, const char *dflt);
/*
 * o's member key if it is a string, else dflt, as it may go to a
 * terminal: what kakurid and the agents send comes from records and
 * files, and an escape sequence in one must not reach the screen
 * (kk_text_clean).  Returns buf.
 */
const char *ctl_text(json_t *o, const char *key, const char *dflt, char *buf,
    size_t len);
/*
 * The same for a name an agent gives itself (its hostname): printable
 * ASCII, every other byte \xHH (kk_text_ascii), so that no lookalike
 * passes for another PC's.  Returns buf.
 */
const char *ctl_name(json_t *o, const char *key, const char *dflt, char *buf,
    size_t len);
/*
 * A receipt's words for a terminal.  An agent wrote them, and an
 * infected PC's root owns its agent: every string is cleaned (no control
 * character, escape or line break, so that no receipt prints a line of
 * its own or hides the ones after it) and cut; the command and episode
 * must be ids (hex), else "?".
 */
struct receipt_text {
	char action[24];
	char command[KK_ID_HEX + 1];
	char result[24];
	char reason[160];	/* "" if none */
	char mode[16];
	char episode[KK_EPISODE_HEX + 1];
};
void receipt_text(json_t *rec, const char *no_action,
    struct receipt_text *t);
/* how a receipt's line begins: "ACTION COMMAND: RESULT[ REASON]" */
void print_receipt_head(json_t *rec, const char *no_action);
/* a receipt's whole line: "WHO ACTION COMMAND: RESULT[ REASON] mode=M
 * episode=E" */
void print_receipt_line(const char *who, json_t *rec);
/* WHO left out: ... -- a brief receipt's own line; nothing for a whole one */
void print_receipt_left_out(const char *who, json_t *rec);
/*
 * Whether a receipt says an enforcer did not do all its part (the USB
 * cut of an isolate the network part of which is done); if print, the
 * line "WHO degraded: WHAT" after the receipt's, and WHAT on stderr.
 */
bool print_receipt_degraded(const char *who, json_t *rec, bool print);
/*
 * What is kept of a receipt too large to keep whole: the words a line
 * shows and its enforcers that did not do all their part (the first
 * RECEIPT_SHORT_ENFORCERS), each string cleaned and cut, marked
 * truncated.  A new object (NULL without memory); rec is not taken.
 */
#define RECEIPT_SHORT_ENFORCERS	8
json_t *receipt_short(json_t *rec);

#endif
