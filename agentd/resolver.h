/*
 * Names of local callers for the root parent (resolver.c), which never
 * calls NSS for them: what /etc/passwd and the cache know now (names.h),
 * and for the rest a lookup by the resolver child, a row of the children
 * table (kakurid --names UID GID PPID): an exec'd image as agent.user
 * without capabilities that takes uids and answers each with a name,
 * "none" or "unknown".  A directory that hangs holds up the child alone;
 * a child that answers nothing for KD_RESOLVER_STALL_USEC is killed and
 * started again with the row's backoff, and what it was asked is
 * unknown.  The next request of that user then has the name.
 */
#ifndef KD_RESOLVER_H
#define KD_RESOLVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "names.h"

struct kd;

/*
 * A child that answers nothing for this long is stalled: longer than a
 * directory's usual timeouts (nss_ldap's 30 s bind limit), so that a slow
 * answer still comes; the parent never waits for it meanwhile.
 */
#define KD_RESOLVER_STALL_USEC	(60ULL * 1000000ULL)
/* reports waiting for a name at once; more go out without it */
#define KD_RESOLVER_WAITERS	64

/* The module; the child row is started if agent.user is known (not root). */
int kd_resolver_start(struct kd *d);
/* agent.user may be another one now: the child starts again. */
void kd_resolver_reload(struct kd *d);
/* Every waiter answered (unknown), the child killed, all freed. */
void kd_resolver_stop(struct kd *d);
/*
 * What is known of uid now, never waiting: the state and, if found, the
 * name ("?" otherwise).  Unknown: a lookup is started if there is room,
 * and the state is then KD_NAME_PENDING.
 */
enum kd_name_state kd_name_of(struct kd *d, uid_t uid, char *name,
    size_t len);
/* "local:uid=N(name),pid=P", name "?" while it is not known (kd_name_of) */
void kd_local_actor(struct kd *d, uid_t uid, pid_t pid, char *buf,
    size_t len);

/*
 * Called once: the lookup of uid answered (found, none), or it is
 * unknown (the child failed, the time ran out, kakurid stops).
 */
typedef void (*kd_name_fn)(struct kd *d, void *opaque, uid_t uid,
    enum kd_name_state state, const char *name);
/*
 * Waits for the pending lookup of uid for usec at most, without blocking:
 * 0 when fn will be called (on the loop, never from in here); -ESRCH when
 * no lookup of uid is pending, -EBUSY with KD_RESOLVER_WAITERS waiting,
 * -ENOMEM: the caller goes on without the name.
 */
int kd_name_wait(struct kd *d, uid_t uid, uint64_t usec, kd_name_fn fn,
    void *opaque);

/* kakurid --names UID GID PPID: the resolver child's main; never returns. */
void kd_resolver_main(int argc, char **argv) __attribute__((noreturn));

#endif
