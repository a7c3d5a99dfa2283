/*
 * The watchers: connections of kakurictl watch that get kakurid's events
 * (wire.h, "kakurictl watch").  Each is written without waiting, from a
 * queue of its own with a limit: one that does not read is dropped when
 * the queue is full, and it reconnects; kakurid never waits for it.  A
 * watcher says nothing after its request: any byte from it, or its
 * end, ends it.  There is no idle limit: a watcher waits for events.
 * Users outside staff_group share what staff and root leave them, as on
 * the control socket (authz.c), so that their watchers cannot keep a
 * staff member's session or root's from watching.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "kakuri.h"
#include "daemon.h"
#include "events.h"
#include "subids.h"

struct watcher {
	struct kd_watchers *set;
	int fd;
	uid_t uid;
	uid_t owner;		/* whose slots it takes (subids.h) */
	bool other;		/* outside staff_group: of their share */
	sd_event_source *io;
	uint8_t *q;		/* frames not yet sent: q[off..len) */
	size_t off;
	size_t len;
	struct watcher *next;
};

struct kd_watchers {
	sd_event *ev;
	struct watcher *list;
	unsigned n;
	unsigned nother;	/* of users outside staff_group */
};

struct kd_watchers *
kd_watchers_new(sd_event *ev)
{
	struct kd_watchers *w = calloc(1, sizeof(*w));

	if (w != NULL)
		w->ev = ev;
	return w;
}

static void
watcher_free(struct watcher *x)
{
	struct watcher **pp;

	for (pp = &x->set->list; *pp; pp = &(*pp)->next) {
		if (*pp == x) {
			*pp = x->next;
			break;
		}
	}
	x->set->n--;
	if (x->other)
		x->set->nother--;
	sd_event_source_disable_unref(x->io);
	close(x->fd);
	free(x->q);
	free(x);
}

void
kd_watchers_free(struct kd_watchers *w)
{
	if (w == NULL)
		return;
	while (w->list != NULL)
		watcher_free(w->list);
	free(w);
}

unsigned
kd_watchers_count(const struct kd_watchers *w)
{
	return w != NULL ? w->n : 0;
}

unsigned
kd_watchers_others(const struct kd_watchers *w)
{
	return w != NULL ? w->nother : 0;
}

size_t
kd_watchers_uids(const struct kd_watchers *w, uid_t *out, size_t max)
{
	const struct watcher *x;
	size_t n = 0, i;

	for (x = w != NULL ? w->list : NULL; x != NULL && n < max;
	    x = x->next) {
		for (i = 0; i < n && out[i] != x->uid; i++)
			;
		if (i == n)
			out[n++] = x->uid;
	}
	return n;
}

int
kd_watchers_room(const struct kd_watchers *w, uid_t uid,
    enum kk_peer_class cls)
{
	const struct watcher *x;
	uid_t owner = kd_uid_owner(uid);
	unsigned mine = 0;

	/* a user's subordinate uids share the user's slots */
	for (x = w->list; x; x = x->next)
		if (x->owner == owner)
			mine++;
	if (mine >= KD_WATCH_PER_UID)
		return -EUSERS;
	if (w->n >= KD_WATCH_MAX)
		return -EBUSY;
	/* staff and root keep a share nobody else can take */
	if (cls == KK_PEER_OTHER &&
	    w->nother >= KD_WATCH_MAX - KD_WATCH_STAFF_RESERVED)
		return -EBUSY;
	return 0;
}

/* As much of the queue as the socket takes now: 0, or -1 if x is gone. */
static int
flush(struct watcher *x)
{
	ssize_t n;

	while (x->off < x->len) {
		n = send(x->fd, x->q + x->off, x->len - x->off,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			watcher_free(x);
			return -1;
		}
		x->off += (size_t)n;
	}
	if (x->off == x->len)
		x->off = x->len = 0;
	sd_event_source_set_io_events(x->io,
	    EPOLLIN | (x->len > 0 ? EPOLLOUT : 0));
	return 0;
}

/* One frame (header and body) onto x's queue: -ENOBUFS when it is full. */
static int
enqueue(struct watcher *x, const uint8_t *frame, size_t flen)
{
	uint8_t *q;

	if (x->off > 0) {
		memmove(x->q, x->q + x->off, x->len - x->off);
		x->len -= x->off;
		x->off = 0;
	}
	if (x->len + flen > KD_WATCH_QUEUE)
		return -ENOBUFS;
	if ((q = realloc(x->q, x->len + flen)) == NULL)
		return -ENOMEM;
	x->q = q;
	memcpy(x->q + x->len, frame, flen);
	x->len += flen;
	return 0;
}

static int
watcher_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct watcher *x = userdata;
	uint8_t b;
	ssize_t n;

	if (revents & EPOLLIN) {
		n = recv(fd, &b, 1, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		/* a byte or the end: either ends a watcher */
		watcher_free(x);
		return 0;
	}
	if (revents & (EPOLLHUP | EPOLLERR)) {
		watcher_free(x);
		return 0;
	}
	flush(x);
	return 0;
}

/* o as one frame, header included (caller frees); NULL if it cannot be. */
static uint8_t *
frame_of(json_t *o, size_t *flen)
{
	char *text;
	uint8_t *f = NULL;
	size_t len;

	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text == NULL)
		return NULL;
	len = strlen(text);
	if (len + 4 <= KD_WATCH_QUEUE && (f = malloc(len + 4)) != NULL) {
		kk_frame_header(f, len, KK_FRAME_MAX);
		memcpy(f + 4, text, len);
		*flen = len + 4;
	}
	free(text);
	return f;
}

int
kd_watchers_add(struct kd_watchers *w, int fd, uid_t uid,
    enum kk_peer_class cls, json_t *first)
{
	struct watcher *x;
	uint8_t *f;
	size_t flen = 0;
	int err;

	if ((err = kd_watchers_room(w, uid, cls)) < 0) {
		close(fd);
		return err;
	}
	if ((x = calloc(1, sizeof(*x))) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	x->set = w;
	x->fd = fd;
	x->uid = uid;
	x->owner = kd_uid_owner(uid);
	x->other = cls == KK_PEER_OTHER;
	x->next = w->list;
	w->list = x;
	w->n++;
	if (x->other)
		w->nother++;
	f = frame_of(first, &flen);
	err = f != NULL ? enqueue(x, f, flen) : -ENOMEM;
	free(f);
	if (err == 0)
		err = sd_event_add_io(w->ev, &x->io, fd, EPOLLIN, watcher_io,
		    x);
	if (err < 0) {
		watcher_free(x);
		return err;
	}
	flush(x);
	return 0;
}

/* One frame to x; may free x. */
static void
deliver(struct watcher *x, const uint8_t *f, size_t flen)
{
	/* too far behind: it reconnects and starts from the status */
	if (enqueue(x, f, flen) < 0)
		watcher_free(x);
	else
		flush(x);
}

void
kd_watchers_emit(struct kd_watchers *w, json_t *ev)
{
	struct watcher *x, *next;
	uint8_t *f;
	size_t flen;

	if (w == NULL || w->list == NULL || ev == NULL)
		return;
	if ((f = frame_of(ev, &flen)) == NULL)
		return;
	for (x = w->list; x; x = next) {
		next = x->next;
		deliver(x, f, flen);
	}
	free(f);
}

void
kd_watchers_emit_each(struct kd_watchers *w,
    json_t *(*view)(void *arg, uid_t uid, uid_t owner), void *arg)
{
	struct watcher *x, *next;
	json_t *ev;
	uint8_t *f;
	size_t flen;

	if (w == NULL)
		return;
	for (x = w->list; x; x = next) {
		next = x->next;
		if ((ev = view(arg, x->uid, x->owner)) == NULL)
			continue;
		f = frame_of(ev, &flen);
		json_decref(ev);
		if (f != NULL)
			deliver(x, f, flen);
		free(f);
	}
}

void
kd_events_emit(struct kd *d, struct json_t *ev)
{
	if (d->watchers != NULL)
		kd_watchers_emit(d->watchers, ev);
}
