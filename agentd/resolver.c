/*
 * Names of local callers without NSS in the root parent (resolver.h):
 * names.c knows what the password file and the cache know; the rest is
 * asked of the resolver child, a row of the children table, and whoever
 * needs the answer soon (a self-report) may wait for it on the loop, for
 * a bounded time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "children.h"
#include "daemon.h"
#include "log.h"
#include "resolver.h"
#include "subids.h"

#define RESOLVER_RESTART_MIN	(1000000ULL)
#define RESOLVER_RESTART_MAX	(60ULL * 1000000ULL)
#define RESOLVER_HEALTHY	(120ULL * 1000000ULL)
#define RESOLVER_LOG_WINDOW	(60ULL * 1000000ULL)
#define RESOLVER_LOG_LINES	10
#define RESOLVER_MSG_MAX	(sizeof(struct kk_ipc_hdr) + KD_NAME_ANSWER_MAX)
/* what it has not read: a few hundred queries at most ever wait */
#define RESOLVER_QUEUE		(64U << 10)

struct waiter {
	struct kd_resolver *rs;
	uid_t uid;
	sd_event_source *timer;
	kd_name_fn fn;
	void *opaque;
	struct waiter *next;
};

struct kd_resolver {
	struct kd *d;
	struct kd_names names;
	struct kd_child *child;
	sd_event_source *stall;		/* no answer for KD_RESOLVER_STALL_USEC */
	struct waiter *waiters;
	size_t nwaiters;
};

static void
waiter_free(struct waiter *w)
{
	struct kd_resolver *rs = w->rs;
	struct waiter **pp;

	for (pp = &rs->waiters; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			rs->nwaiters--;
			break;
		}
	}
	sd_event_source_disable_unref(w->timer);
	free(w);
}

/* The waiters of uid (all: uid_all) told, each once, and freed. */
static void
wake(struct kd_resolver *rs, uid_t uid, bool uid_all,
    enum kd_name_state state, const char *name)
{
	struct waiter *w;
	kd_name_fn fn;
	void *opaque;
	uid_t wuid;

	/* one at a time from the head: a callback may add or wake others */
	for (;;) {
		for (w = rs->waiters; w != NULL; w = w->next)
			if (uid_all || w->uid == uid)
				break;
		if (w == NULL)
			return;
		fn = w->fn;
		opaque = w->opaque;
		wuid = w->uid;
		waiter_free(w);
		fn(rs->d, opaque, wuid, state, name);
	}
}

static int
on_wait_over(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct waiter *w = userdata;
	struct kd_resolver *rs = w->rs;
	kd_name_fn fn = w->fn;
	void *opaque = w->opaque;
	uid_t uid = w->uid;

	waiter_free(w);
	fn(rs->d, opaque, uid, KD_NAME_UNKNOWN, "?");
	return 0;
}

/* Progress (or none left): the stall timer from now, or off. */
static void
stall_arm(struct kd_resolver *rs)
{
	if (kd_names_pending(&rs->names) == 0) {
		sd_event_source_set_enabled(rs->stall, SD_EVENT_OFF);
		return;
	}
	sd_event_source_set_time(rs->stall, kd_loop_now(rs->d) +
	    KD_RESOLVER_STALL_USEC);
	sd_event_source_set_enabled(rs->stall, SD_EVENT_ONESHOT);
}

static int
on_stall(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kd_resolver *rs = userdata;
	char why[96];

	if (kd_names_pending(&rs->names) == 0)
		return 0;
	snprintf(why, sizeof(why), "answered no name lookup in %llu s",
	    KD_RESOLVER_STALL_USEC / 1000000ULL);
	/* its gone() makes what it was asked unknown */
	kd_child_kill(rs->child, why);
	return 0;
}

/* The child can take a query now. */
static bool
child_ready(const struct kd_resolver *rs)
{
	return rs->child != NULL && kd_child_running(rs->child) &&
	    !rs->child->killed && rs->child->fd >= 0;
}

enum kd_name_state
kd_name_of(struct kd *d, uid_t uid, char *name, size_t len)
{
	struct kd_resolver *rs = d->resolver;
	enum kd_name_state st;
	uint32_t q = (uint32_t)uid;
	bool idle;

	if (rs == NULL) {
		snprintf(name, len, "?");
		return KD_NAME_UNKNOWN;
	}
	st = kd_names_get(&rs->names, uid, kd_loop_now(d), name, len);
	if (st != KD_NAME_UNKNOWN || !child_ready(rs))
		return st;
	idle = kd_names_pending(&rs->names) == 0;
	if (kd_names_ask(&rs->names, uid, kd_uid_owner(uid), kd_loop_now(d)) < 0)
		return st;
	kd_child_send(rs->child, KK_IPC_NAME_QUERY, 0, &q, sizeof(q));
	if (idle)
		stall_arm(rs);
	return KD_NAME_PENDING;
}

void
kd_local_actor(struct kd *d, uid_t uid, pid_t pid, char *buf, size_t len)
{
	char name[KK_NAME_MAX], safe[KK_NAME_MAX];

	kd_name_of(d, uid, name, sizeof(name));
	kd_name_for_actor(safe, sizeof(safe), name);
	snprintf(buf, len, "local:uid=%u(%s),pid=%d", (unsigned)uid, safe,
	    (int)pid);
}

int
kd_name_wait(struct kd *d, uid_t uid, uint64_t usec, kd_name_fn fn,
    void *opaque)
{
	struct kd_resolver *rs = d->resolver;
	char name[KK_NAME_MAX];
	struct waiter *w;

	if (rs == NULL || kd_names_get(&rs->names, uid, kd_loop_now(d), name,
	    sizeof(name)) != KD_NAME_PENDING)
		return -ESRCH;
	if (rs->nwaiters >= KD_RESOLVER_WAITERS)
		return -EBUSY;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return -ENOMEM;
	w->rs = rs;
	w->uid = uid;
	w->fn = fn;
	w->opaque = opaque;
	if (sd_event_add_time_relative(d->ev, &w->timer, CLOCK_MONOTONIC,
	    usec, 0, on_wait_over, w) < 0) {
		free(w);
		return -ENOMEM;
	}
	w->next = rs->waiters;
	rs->waiters = w;
	rs->nwaiters++;
	return 0;
}

static void
resolver_message(struct kd *d, struct kd_child *c, const struct kk_ipc_hdr *h,
    const uint8_t *body, size_t len)
{
	struct kd_resolver *rs = d->resolver;
	char name[KK_NAME_MAX];
	uid_t uid;
	int st;

	if (h->type != KK_IPC_NAME_ANSWER) {
		kd_child_other(c, h, body, len);
		return;
	}
	st = kd_names_answer(&rs->names, body, len, kd_loop_now(d), &uid);
	if (st < 0) {
		/* nothing was asked of it, or not an answer: not trusted */
		kd_child_kill(c, st == -ESRCH ? "answered what was not asked" :
		    "sent a malformed answer");
		return;
	}
	stall_arm(rs);
	kd_names_get(&rs->names, uid, kd_loop_now(d), name, sizeof(name));
	wake(rs, uid, false, (enum kd_name_state)st, name);
}

static void
resolver_gone(struct kd *d, struct kd_child *c)
{
	struct kd_resolver *rs = d->resolver;

	kd_names_fail_pending(&rs->names, kd_loop_now(d));
	sd_event_source_set_enabled(rs->stall, SD_EVENT_OFF);
	wake(rs, 0, true, KD_NAME_UNKNOWN, "?");
}

static int
resolver_entry(struct kd *d, struct kd_child *c, pid_t *pid, int *ipc,
    int *logfd, bool *retry)
{
	char err[300];
	int r;

	/* resolve_ids found agent.user at start or reload: no NSS here */
	if (!d->own_known || d->own_uid == 0) {
		kk_log(LOG_WARNING, KK_MID_START, "names: agent.user '%s' %s: "
		    "users not in /etc/passwd are named \"?\"", d->policy->user,
		    d->own_known ? "is root" : "does not exist");
		return -ENOENT;
	}
	*retry = true;
	r = kk_child_spawn("--names", -1, d->own_uid, d->own_gid, pid, ipc,
	    logfd, err, sizeof(err));
	if (r < 0) {
		kk_log(LOG_ERR, KK_MID_ERROR, "names: %s", err);
		return r;
	}
	kk_log(LOG_INFO, KK_MID_START, "names: resolver child %d, uid %u",
	    (int)*pid, (unsigned)d->own_uid);
	return 0;
}

static const struct kd_child_kind resolver_kind = {
	.name = "resolver",
	.entry = resolver_entry,
	.message = resolver_message,
	.gone = resolver_gone,
	.backoff = { RESOLVER_RESTART_MIN, RESOLVER_RESTART_MAX,
	    RESOLVER_HEALTHY },
	.log = { RESOLVER_LOG_LINES, RESOLVER_LOG_WINDOW },
	/* it reads a query when the one before is answered: the stall decides */
	.queue = { RESOLVER_QUEUE, 2 * RESOLVER_QUEUE, KD_RESOLVER_STALL_USEC },
	.msg_max = RESOLVER_MSG_MAX,
};

int
kd_resolver_start(struct kd *d)
{
	struct kd_resolver *rs;

	if ((rs = calloc(1, sizeof(*rs))) == NULL)
		return -ENOMEM;
	rs->d = d;
	kd_names_init(&rs->names, KD_PASSWD_PATH);
	if (sd_event_add_time(d->ev, &rs->stall, CLOCK_MONOTONIC, 0, 0,
	    on_stall, rs) < 0 ||
	    (rs->child = kd_child_new(d, &resolver_kind, rs)) == NULL) {
		sd_event_source_disable_unref(rs->stall);
		free(rs);
		return -ENOMEM;
	}
	sd_event_source_set_enabled(rs->stall, SD_EVENT_OFF);
	d->resolver = rs;
	(void)kd_names_refresh(&rs->names, kd_loop_now(d), true);
	kd_child_start(rs->child);
	return 0;
}

void
kd_resolver_reload(struct kd *d)
{
	if (d->resolver != NULL)
		kd_child_restart(d->resolver->child);
}

void
kd_resolver_stop(struct kd *d)
{
	struct kd_resolver *rs = d->resolver;

	if (rs == NULL)
		return;
	/* nothing that waits is lost: it goes on without the name */
	wake(rs, 0, true, KD_NAME_UNKNOWN, "?");
	kd_child_free(rs->child);
	sd_event_source_disable_unref(rs->stall);
	kd_names_free(&rs->names);
	free(rs);
	d->resolver = NULL;
}
