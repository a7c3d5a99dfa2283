/*
 * Drill records on disk (drill_history.c): state_dir/drills/, one JSON
 * file per drill, named by when it was asked for.
 */
#ifndef KD_DRILL_HISTORY_H
#define KD_DRILL_HISTORY_H

#include <stddef.h>

struct kd;
struct json_t;

#define KD_DRILL_HISTORY_MAX	200	/* records kept, and listed at most */
#define KD_DRILL_NAMES_MAX	65536	/* names read to find the newest */

/* state_dir/drills, made if missing; and its path */
int kd_drill_dir_open(struct kd *d);
const char *kd_drill_dir(void);
/* The newest records, at most limit, newest first. */
struct json_t *kd_drill_history(struct kd *d, size_t limit);
/*
 * Records left running by a killed kakurid: closed as aborted, reported;
 * the directory pruned.
 */
void kd_drill_close_leftovers(struct kd *d);
/*
 * The records past the newest KD_DRILL_HISTORY_MAX go (each drill's end),
 * but keep (a record's path, or NULL), the one just written.
 */
void kd_drill_prune(const char *keep);
/*
 * A new record's name, in ms: now, or just after the newest record's when
 * the clock was set back (or was ahead once), so that the names, and the
 * history, stay in the order the drills were asked for.
 */
long long kd_drill_stamp(long long now_ms);

#endif
