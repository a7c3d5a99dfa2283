/*
 * The watchers of the control socket (kakurictl watch, issue 11): a
 * connection that asked for "watch" is handed over here after its first
 * answer, and gets one frame per event (wire.h) until it goes away.
 */
#ifndef KD_EVENTS_H
#define KD_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "kakuri.h"

/*
 * Watchers are counted apart from the control socket's connection slots,
 * so that one user's watchers cannot keep other users' requests out.
 * Of all of them, users outside staff_group may hold KD_WATCH_MAX -
 * KD_WATCH_STAFF_RESERVED together: 32 such uids at two each would
 * otherwise leave none for a staff member's session or root's.
 */
#define KD_WATCH_PER_UID	2
#define KD_WATCH_MAX		64
#define KD_WATCH_STAFF_RESERVED	16
/* a watcher with more than this unsent is too far behind: dropped */
#define KD_WATCH_QUEUE		(64 * 1024)

struct kd_watchers;
struct json_t;

struct kd_watchers *kd_watchers_new(sd_event *ev);
/* Ends every watcher too. */
void kd_watchers_free(struct kd_watchers *w);
/*
 * Whether uid, of class cls (kk_peer_class), may add one more watcher:
 * 0, or -EUSERS (its own limit) or -EBUSY (the limit of all, or of the
 * users outside staff_group together).
 */
int kd_watchers_room(const struct kd_watchers *w, uid_t uid,
    enum kk_peer_class cls);
/*
 * fd (taken, also on failure) becomes a watcher of uid, of class cls;
 * first (not taken) is its first frame, the answer to "watch".  0, or
 * -errno.
 */
int kd_watchers_add(struct kd_watchers *w, int fd, uid_t uid,
    enum kk_peer_class cls, struct json_t *first);
/* How many of the watchers are of users outside staff_group. */
unsigned kd_watchers_others(const struct kd_watchers *w);
/* ev (not taken) to every watcher, one frame; nothing here waits. */
void kd_watchers_emit(struct kd_watchers *w, struct json_t *ev);
/*
 * An event made for each watcher: view(arg, its uid, its owner) gives it
 * (a new reference; NULL: none for that one), so that what one user did
 * is not shown to another.
 */
void kd_watchers_emit_each(struct kd_watchers *w,
    struct json_t *(*view)(void *arg, uid_t uid, uid_t owner), void *arg);
/* How many watch now. */
unsigned kd_watchers_count(const struct kd_watchers *w);
/* The users who watch now, each once, at most max of them; how many. */
size_t kd_watchers_uids(const struct kd_watchers *w, uid_t *out, size_t max);
/*
 * One event (wire.h, "kakurictl watch") to every watcher of d (its
 * d->watchers), as one frame; ev is not taken.  A watcher too far behind
 * is dropped (it reconnects); nothing here waits.
 */
struct kd;
void kd_events_emit(struct kd *d, struct json_t *ev);

#endif
