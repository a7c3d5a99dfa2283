/*
 * The quarantine core (quarantine.c): the mode state machine, adoption
 * at start and at boot, its enforcers in order, and the watch that
 * restores what another process changes.
 */
#ifndef KD_QUARANTINE_H
#define KD_QUARANTINE_H

#include <stdbool.h>

#include "kakuri.h"

struct kd;
struct json_t;

/* The nftables connection and the table flags the policy asks for. */
int kd_quarantine_open(struct kd *d);
/* The tamper monitor, before adoption: tampering at start is seen too. */
int kd_quarantine_monitor(struct kd *d);
/*
 * The mode from state.json and the kernel (the stricter wins; a state
 * file that does not load means isolated), applied and saved.  restore:
 * kakurid --restore at boot rather than the daemon starting.
 */
int kd_quarantine_adopt(struct kd *d, bool restore);
/* The verify timer, the alert summaries, the interface watch. */
int kd_quarantine_watch(struct kd *d);
/* SIGHUP: the new policy in force in the current mode. */
int kd_quarantine_reapply(struct kd *d);
void kd_quarantine_close(struct kd *d);

/*
 * Enter a quarantine mode.  Isolating is idempotent: the same or a
 * weaker request while quarantined changes nothing (the kernel is still
 * checked); *changed says whether anything was applied.  A state that
 * could not be saved is a failure.  d->nft.err says what failed.  From
 * open, the quarantine's episode is episode when given (a signed isolate
 * that names one), else a new random one.
 */
int kd_enter_mode(struct kd *d, enum kk_mode mode, const char *by,
    const char *reason, const char *episode, bool *changed);
/*
 * End the quarantine named by episode: -ENOENT when open, -ESTALE for
 * another episode.  Done and saved, or not done.
 */
int kd_release(struct kd *d, const char *episode, const char *by,
    const char *reason);
/* The quarantine's fields of status. */
struct json_t *kd_quarantine_status(struct kd *d);
/* The mode for systemd (STATUS=). */
void kd_quarantine_notify(struct kd *d);

#endif
