/*
 * What of the outbox is no good message (outbox.c): a file that does not
 * read or check, moved out of the way and remembered when it cannot be;
 * one that could not be read for want of descriptors or memory is no
 * verdict (kd_outbox_read_later, outbox.h).
 */
#ifndef KD_OUTBOX_ASIDE_H
#define KD_OUTBOX_ASIDE_H

#include <stdbool.h>
#include <stddef.h>

struct kd_outbox;

/*
 * name (of directory dfd) out of the way: moved to outbox/corrupt as
 * NAME-TIME (a symbolic link moves as the link); when corrupt/ cannot be
 * made or holds KD_OUTBOX_CORRUPT_MAX already, renamed in place to
 * .corrupt-NAME-TIME, a name no scan reads.  Never deleted: a report
 * signed by a key since replaced is not a good message either, and may
 * be the only copy of what an employee reported.  "moved-aside",
 * "renamed", or "left" (kept: its new name, "" if left); NULL when it is
 * gone already (a check of the courier's, between, moved it).
 */
const char *kd_outbox_move_aside(int dfd, const char *name, char *kept,
    size_t keptlen);
/*
 * name left in place: remembered, so that it is reported once.  Past
 * KD_OUTBOX_LEFT_MAX (a volume where nothing can be renamed) no bad file
 * is reported again: one critical line says so, rather than a tamper
 * report per file at every check.
 */
void kd_outbox_left_note(struct kd_outbox *ob, const char *name);
/* Whether a bad file is to be kept quiet: left and told already. */
bool kd_outbox_left_quiet(const struct kd_outbox *ob, const char *name);
/* Why a message did not open or read (r: a negative errno), in a line. */
void kd_outbox_read_why(int r, char *why, size_t whylen);

#endif
