/*
 * What kakurid and kakurid-restore share at start (adopt.c).
 */
#ifndef KD_ADOPT_H
#define KD_ADOPT_H

#include <stdbool.h>

#include "kakuri.h"

struct kd;

/*
 * state_dir made private: state.json, audit.log, outbox/, the reserve.
 * What failed is logged.
 */
int kd_state_dir_open(struct kd *d);

/*
 * A boot restore's policy: the file at path, or, when that does not load,
 * the copy kakurid last ran with (KD_POLICY_GOOD in $STATE_DIRECTORY,
 * which systemd sets, or the default state directory), so that the
 * quarantine is restored all the same.  0, 1 for the copy (both logged),
 * or -1 with path's error in err.
 */
int kd_restore_policy(const char *path, struct kk_policy *p, char *err,
    size_t errlen);

/*
 * The policy's management peers taken out of the block lists in force
 * (kd_blocklists_spare), logged and audited as actor: a list never cuts
 * the CSIRT channel, whatever policy came after it.  The count, or a
 * negative errno.
 */
int kd_blocklists_keep_channel(struct kd *d, const char *actor);
/* mode in force through every enforcer, in order */
int kd_enforcers_apply(struct kd *d, enum kk_mode mode, const char *episode);
/* every enforcer holds d->state's mode */
int kd_enforcers_verify(struct kd *d);
/*
 * The same mode asked for again: every enforcer verified in order, and
 * if the network's holds but a later one's (the USB cut) does not, that
 * one and those after it applied again.  0: all holds (again); 1: the
 * network's own does not verify, the caller applies the mode whole.
 */
int kd_enforcers_hold(struct kd *d);
/*
 * Every enforcer released, the last applied first; one that fails leaves
 * the quarantine as it was.
 */
int kd_enforcers_release(struct kd *d);
/*
 * How each enforcer's last apply, verify or release through the list
 * went: wire.h's KW_ENFORCERS entries, those not reached left out.  age:
 * with age_ms, how old the look is (status).
 */
struct json_t *kd_enforcers_json(struct kd *d, bool age);
/* How many did not do all their part; buf says which, in words. */
size_t kd_enforcers_degraded(struct kd *d, char *buf, size_t len);

/*
 * The mode from state.json and the kernel's table (the stricter wins; a
 * state file that does not load means isolated with a new episode, the
 * file kept aside and the CSIRT alerted), applied through the enforcers,
 * and saved when it changed.  restore: at boot rather than at start.
 */
int kd_adopt(struct kd *d, bool restore);

#endif
