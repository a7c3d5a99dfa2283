/*
 * Whose uid is it (subids.c): a user with a range of subordinate uids in
 * /etc/subuid (newuidmap, rootless containers) can connect to kakurid as
 * thousands of uids.  The per-uid limits (control slots, watchers, the
 * rates of reports and signed commands handed over, refusal lines) count
 * such a uid as the range's owner, so that one user is one user.
 * Authorization never looks here: staff and root are what the kernel
 * says the peer is.
 */
#ifndef KD_SUBIDS_H
#define KD_SUBIDS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define KD_SUBUID_PATH		"/etc/subuid"
#define KD_SUBIDS_MAX		65536		/* ranges kept */
#define KD_SUBIDS_FILE_MAX	(4 * 1024 * 1024)

/*
 * The ranges of path (KD_SUBUID_PATH), in place of those loaded before:
 * 0 (a missing file: none), or a negative errno with the old ranges kept.
 * *skipped: lines that name no valid range.
 */
int kd_subids_load(const char *path, size_t *skipped);
/* The parse alone, for tests: text of len bytes; the number of ranges. */
int kd_subids_parse(const char *text, size_t len, size_t *skipped);
/* Ranges of the last parse whose owner NSS did not know: owned by their start. */
size_t kd_subids_unnamed(void);
/*
 * kd_subids_load, what it skipped and could not name logged; without
 * nss, names are not looked up (the owners of the ranges in force kept).
 */
int kd_subids_reload(const char *path, bool nss);
/*
 * Loaded again if path changed since (stat), looked at once in
 * KD_SUBIDS_LOOK_MS at most; true when it was read again.
 */
#define KD_SUBIDS_LOOK_MS	1000
bool kd_subids_refresh(const char *path);
/* The owner of uid if it is in a subordinate range, else uid. */
uid_t kd_uid_owner(uid_t uid);
void kd_subids_free(void);

#endif
