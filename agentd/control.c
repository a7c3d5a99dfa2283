/*
 * The local control socket (/run/kakuri/control.sock).  One request frame
 * in, one response frame out (a `log` answer is followed by the audit
 * lines in more frames), then the connection closes.  The caller's
 * identity is the kernel's (SO_PEERCRED, SO_PEERGROUPS, read at accept),
 * never what the request says.
 *
 * Every local user may connect, so nobody may jam it (issue 8): each uid
 * holds a few connections at most, users outside staff_group share a few
 * slots and must send their request within a second, staff members and
 * root have slots nobody else can take, and refusals are counted per uid
 * and summarised once per interval instead of logged one by one
 * (tally.c).  An answer is bounded between sends for everyone, and as a
 * whole for users outside staff_group: a slow reader of a long log
 * stream is cut off instead of holding his slots.
 *
 * It is a transport: a request goes to the dispatcher (dispatch.c) with
 * the caller's credentials, and the answer comes back through a reply
 * callback, at once or when a deferred action is done.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon.h"
#include "dispatch.h"
#include "events.h"
#include "ipc.h"
#include "jsonutil.h"
#include "procstat.h"
#include "quarantine.h"
#include "resolver.h"
#include "subids.h"
#include "tally.h"
#include "log.h"
#include "wire.h"

#define KK_CONTROL_MAX_GROUPS	256
#define ACCEPT_BATCH		64	/* connections taken per wake-up */

struct kk_conn {
	struct kk_control *ctl;
	int fd;
	sd_event_source *io;
	sd_event_source *timer;
	struct kk_frame_reader rd;
	uint8_t *out;
	size_t out_cap;
	size_t out_len;
	size_t out_off;
	struct ucred cred;
	unsigned long long start_time;	/* the peer's (peer_start_time) */
	uid_t owner;			/* whose slots it takes (subids.h) */
	gid_t groups[KK_CONTROL_MAX_GROUPS];
	size_t ngroups;
	enum kk_peer_class cls;
	uint64_t serial;	/* names it to a reply that comes later */
	bool waiting;		/* a worker is doing what it asked */
	bool replied;		/* the answer is set: the rest is writing it */
	uint64_t answer_end;	/* sent whole by then (usec); 0: no bound */
	struct kk_audit_tail *tail;	/* a log stream after the answer */
	bool stream_slot;	/* a log request outside the staff */
	bool big_slot;		/* reading a request over its size */
	struct kk_conn *next;
};

struct kk_control {
	struct kd *d;
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	sd_event_source *src;
	struct kk_conn *conns;
	size_t nconns;
	unsigned nclass[KK_PEER__MAX];
	unsigned nstreams;	/* stream_slot connections */
	unsigned nbig;		/* big_slot connections */
	uint64_t next_serial;
	uint8_t busy[256];	/* the answer to a connection over quota */
	size_t busy_len;
};

static void
conn_free(struct kk_conn *c)
{
	struct kk_control *ctl = c->ctl;
	struct kk_conn **pp;

	for (pp = &ctl->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	ctl->nconns--;
	ctl->nclass[c->cls]--;
	if (c->stream_slot)
		ctl->nstreams--;
	if (c->big_slot)
		ctl->nbig--;
	sd_event_source_disable_unref(c->io);
	sd_event_source_disable_unref(c->timer);
	if (c->fd >= 0)		/* -1: handed over to the watchers */
		close(c->fd);
	kk_frame_reader_reset(&c->rd);
	if (c->tail != NULL) {
		kk_audit_tail_close(c->tail);
		free(c->tail);
	}
	free(c->out);
	free(c);
}

/*
 * Answering: the deadline becomes an idle limit, renewed as it is taken,
 * but never past the end of the whole answer where there is one.
 */
static void
conn_rearm(struct kk_conn *c)
{
	uint64_t when = kd_loop_now(c->ctl->d) + KK_CONTROL_REPLY_IDLE_USEC;

	if (c->answer_end != 0 && c->answer_end < when)
		when = c->answer_end;
	sd_event_source_set_time(c->timer, when);
	sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
}

static int
conn_reply(struct kk_conn *c, json_t *resp)
{
	char *text;
	size_t len;
	uint64_t bound;
	uint8_t hdr[4];
	int err;

	text = json_dumps(resp, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text == NULL)
		return -ENOMEM;
	len = strlen(text);
	if ((err = kk_frame_header(hdr, len, KK_FRAME_MAX)) < 0) {
		free(text);
		return err;
	}
	free(c->out);
	c->out = malloc(len + 4);
	c->out_cap = c->out ? len + 4 : 0;
	if (c->out == NULL) {
		free(text);
		return -ENOMEM;
	}
	memcpy(c->out, hdr, 4);
	memcpy(c->out + 4, text, len);
	free(text);
	c->out_len = len + 4;
	c->out_off = 0;
	c->replied = true;
	/* from now on, the stream that follows included */
	if ((bound = kk_control_answer_max(c->cls)) != 0)
		c->answer_end = kd_loop_now(c->ctl->d) + bound;
	conn_rearm(c);
	return sd_event_source_set_io_events(c->io, EPOLLOUT);
}

/*
 * The next frame of a log stream into c->out; 0 when there is none
 * left, negative when the log cannot be read (the client sees a stream
 * shorter than announced, and says so).
 */
static int
stream_next(struct kk_conn *c)
{
	uint8_t *buf = c->out;
	ssize_t n;

	if (c->tail == NULL)
		return 0;
	if (c->out_cap < 4 + KK_LOG_FRAME) {
		if ((buf = realloc(c->out, 4 + KK_LOG_FRAME)) == NULL)
			return -ENOMEM;
		c->out = buf;
		c->out_cap = 4 + KK_LOG_FRAME;
	}
	n = kk_audit_tail_read(c->tail, buf + 4, KK_LOG_FRAME);
	if (n <= 0)
		return (int)n;
	kk_frame_header(buf, (size_t)n, KK_LOG_FRAME);
	c->out_len = 4 + (size_t)n;
	c->out_off = 0;
	return 1;
}

/* The connection that waits for the answer to request serial, or NULL. */
static struct kk_conn *
waiting_conn(struct kk_control *ctl, uint64_t serial)
{
	struct kk_conn *c;

	for (c = ctl->conns; c; c = c->next)
		if (c->serial == serial && c->waiting)
			return c;
	return NULL;
}

static void
answer(struct kk_conn *c, json_t *resp)
{
	c->waiting = false;
	if (resp == NULL || conn_reply(c, resp) < 0)
		conn_free(c);
}

/*
 * A refusal before the dispatcher: counted (tallied as `tallied`, for
 * action), and answered `word` with msg.  c may be gone after it.
 */
static void
refuse(struct kk_conn *c, const char *action, const char *tallied,
    const char *word, const char *msg)
{
	json_t *resp;

	kd_tally_refused(c->ctl->d, c->cred.uid, c->cred.pid, c->cls, action,
	    tallied, NULL);
	resp = kk_wire_error(word, msg);
	answer(c, resp);
	json_decref(resp);
}

/* A local request's answer, and the log lines that follow it, if any. */
static void
local_answer(struct kd *d, void *opaque, uint64_t serial, struct kd_answer *a)
{
	struct kk_conn *c = waiting_conn(opaque, serial);

	if (c == NULL) {
		if (a->tail != NULL) {
			kk_audit_tail_close(a->tail);
			free(a->tail);
		}
		return;
	}
	if (a->tail != NULL) {
		c->tail = a->tail;
		/* bulk: a long stream must not hold up other requests */
		sd_event_source_set_priority(c->io,
		    SD_EVENT_PRIORITY_NORMAL + 1);
	}
	answer(c, a->json);
}

/* A signed command's receipt, for kakurictl apply. */
static void
apply_answer(struct kd *d, void *opaque, uint64_t serial, struct kd_answer *a)
{
	struct kk_conn *c = waiting_conn(opaque, serial);
	json_t *resp;

	if (c == NULL)
		return;
	resp = json_pack("{s:b, s:s?}", KW_OK, a->receipt != NULL, KW_RECEIPT,
	    a->receipt);
	answer(c, resp);
	json_decref(resp);
}

/*
 * kakurictl apply: the signature decides, exactly as for the network.
 * Every envelope costs a check and an audit line: bounded per uid.
 */
static void
submit_apply(struct kk_conn *c, struct kd_req *kr, json_t *req)
{
	struct kd *d = c->ctl->d;
	const char *env = json_string_value(json_object_get(req, KW_ENVELOPE));
	json_t *resp = NULL;
	char actor[160];

	if (env == NULL) {
		resp = kk_wire_error(KE_MALFORMED, "apply needs \"envelope\"");
	} else if (!kd_tally_apply_ok(d, c->cred.uid,
	    c->cls != KK_PEER_OTHER)) {
		kd_tally_refused(d, c->cred.uid, c->cred.pid, c->cls, "apply",
		    KE_RATE_LIMITED, NULL);
		resp = kk_wire_error(KE_RATE_LIMITED,
		    "too many signed commands from this user; wait a few seconds");
	}
	if (resp != NULL) {
		answer(c, resp);
		json_decref(resp);
		return;
	}
	kd_local_actor(d, c->cred.uid, c->cred.pid, actor, sizeof(actor));
	kr->actor = actor;
	kr->origin = KD_ORIGIN_APPLY;
	kr->reply = apply_answer;
	kd_submit_envelope(d, kr, (const uint8_t *)env, strlen(env));
}

/*
 * kakurictl watch: the status now, then the connection leaves the
 * request slots for the watchers (events.c), which have limits of their
 * own.  The contact goes with it: the employee's notice names the desk.
 */
static void
submit_watch(struct kk_conn *c)
{
	struct kk_control *ctl = c->ctl;
	struct kk_policy *pol = ctl->d->policy;
	uid_t uid = c->cred.uid;
	enum kk_peer_class cls;
	const char *word;
	char msg[128];
	json_t *resp;
	int fd, err;

	if ((err = kd_watchers_room(ctl->d->watchers, uid, c->cls)) < 0) {
		word = err == -EUSERS ? KE_BUSY_UID : KE_BUSY;
		if (err == -EUSERS)
			snprintf(msg, sizeof(msg), "this user watches %d times "
			    "already: one kakurictl watch per session",
			    KD_WATCH_PER_UID);
		else if (kd_watchers_count(ctl->d->watchers) < KD_WATCH_MAX)
			snprintf(msg, sizeof(msg), "%d watchers of users "
			    "outside staff_group already; try again later",
			    KD_WATCH_MAX - KD_WATCH_STAFF_RESERVED);
		else
			snprintf(msg, sizeof(msg), "%d watchers already; try "
			    "again later", KD_WATCH_MAX);
		kd_tally_refused(ctl->d, uid, c->cred.pid, c->cls, "watch", word,
		    NULL);
		resp = kk_wire_error(word, msg);
		answer(c, resp);
		json_decref(resp);
		return;
	}
	resp = kd_quarantine_status(ctl->d);
	if (resp != NULL)
		json_object_set_new(resp, KW_CONTACT, json_pack("{s:s, s:s, s:s}",
		    KW_DESK, pol->contact_desk, KW_PHONE, pol->contact_phone,
		    KW_EMAIL, pol->contact_email));
	/* what the watcher keeps of the connection, which is freed here */
	cls = c->cls;
	fd = c->fd;
	c->fd = -1;
	conn_free(c);
	if (resp == NULL) {
		close(fd);
		return;
	}
	kd_watchers_add(ctl->d->watchers, fd, uid, cls, resp);
	json_decref(resp);
}

/*
 * A log stream outside the staff: one of KK_CONTROL_OTHER_STREAMS, or
 * refused busy (answered here, false), so that streams cannot hold all
 * the slots the employees' reports need.
 */
static bool
take_stream_slot(struct kk_conn *c)
{
	struct kk_control *ctl = c->ctl;
	char msg[128];
	json_t *resp;

	if (ctl->nstreams < KK_CONTROL_OTHER_STREAMS) {
		c->stream_slot = true;
		ctl->nstreams++;
		return true;
	}
	snprintf(msg, sizeof(msg), "%d log streams of users outside "
	    "staff_group already; try again later", KK_CONTROL_OTHER_STREAMS);
	kd_tally_refused(ctl->d, c->cred.uid, c->cred.pid, c->cls, "log",
	    KE_BUSY, NULL);
	resp = kk_wire_error(KE_BUSY, msg);
	answer(c, resp);
	json_decref(resp);
	return false;
}

/*
 * One request (freed here): to the dispatcher, which answers through the
 * callbacks above, at once or when a deferred action is done.  The
 * connection has no deadline meanwhile, and c may be gone when this
 * returns.  One request per connection: nonzero, so nothing after it is
 * read.
 */
static int
handle_frame(void *arg, uint8_t *body, size_t len)
{
	struct kk_conn *c = arg;
	struct kk_cred cred = {
		.uid = c->cred.uid, .gid = c->cred.gid,
		.groups = c->groups, .ngroups = c->ngroups,
	};
	struct kd_req kr;
	json_error_t jerr;
	json_t *req;
	const char *cmd;
	bool big = c->big_slot;
	char msg[96];

	/* read whole: a big slot is given back */
	if (c->big_slot) {
		c->big_slot = false;
		c->ctl->nbig--;
	}
	c->waiting = true;
	sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
	sd_event_source_set_io_events(c->io, 0);
	/*
	 * The dispatcher answers an unparseable request (no verb) too.  One
	 * of more values than any request has is not parsed: a staff
	 * member's 1 MiB of [{},{},...] cost 100 ms of the root loop and
	 * 74 MiB, eight connections at a time, isolations waiting behind.
	 */
	req = !kk_json_few_values((const char *)body, len,
	    KK_CONTROL_VALUES_MAX) ? NULL : json_loadb((const char *)body, len,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(req)) {
		json_decref(req);
		req = NULL;
	}
	cmd = json_string_value(json_object_get(req, KW_CMD));
	/*
	 * Only a self-report (its attachments) may be larger than the
	 * class's size (DESIGN 3's 1 MiB): anything else read on a big slot
	 * is refused as the reader would have refused it.
	 */
	if (big && (cmd == NULL || strcmp(cmd, kk_op_name(KK_OP_REPORT)) !=
	    0)) {
		snprintf(msg, sizeof(msg), "request larger than %zu KiB (only "
		    "a report with attachments may be larger)",
		    kk_control_frame_max(c->cls) / 1024);
		json_decref(req);
		free(body);
		refuse(c, "control", KE_TOO_LARGE, KE_TOO_LARGE, msg);
		return 1;
	}
	if (cmd != NULL && strcmp(cmd, kk_op_name(KK_OP_LOG)) == 0 &&
	    c->cls == KK_PEER_OTHER && !take_stream_slot(c)) {
		json_decref(req);
		free(body);
		return 1;
	}
	/* the actor (a name, if known) only for what is accepted: dispatch.c */
	kr = (struct kd_req){ .origin = KD_ORIGIN_LOCAL, .actor = NULL,
	    .cred = &cred, .pid = c->cred.pid, .start_time = c->start_time,
	    .verb = cmd, .args = req,
	    .reply = local_answer, .opaque = c->ctl, .token = c->serial };
	/* apply's row decides too; refused, the dispatcher says why */
	if (cmd != NULL && strcmp(cmd, kk_op_name(KK_OP_APPLY)) == 0 &&
	    kd_local_refusal(KK_OP_APPLY, c->cls, NULL) == NULL)
		submit_apply(c, &kr, req);
	else if (cmd != NULL && strcmp(cmd, kk_op_name(KK_OP_WATCH)) == 0 &&
	    kd_local_refusal(KK_OP_WATCH, c->cls, NULL) == NULL)
		submit_watch(c);
	else
		kd_submit(c->ctl->d, &kr);
	json_decref(req);
	free(body);
	return 1;
}

static int
conn_write(struct kk_conn *c)
{
	ssize_t n;
	int r;

	n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
	    MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		conn_free(c);
		return 0;
	}
	c->out_off += (size_t)n;
	conn_rearm(c);
	if (c->out_off < c->out_len)
		return 0;
	if ((r = stream_next(c)) <= 0)
		conn_free(c);
	return 0;
}

/*
 * The frame reader's over hook: a request of staff or another user that
 * announces more than its class may send, and at most
 * KK_CONTROL_REPORT_FRAME_MAX (a self-report with its attachments), is
 * read on a big slot: KK_CONTROL_BIG_MAX of them, one per owner at a
 * time, KK_CONTROL_BIG_STAFF of them kept for staff, taken before its
 * body is allocated.  0, -EBUSY (no slot now) or -EMSGSIZE.
 */
static int
big_slot_take(void *arg, size_t len)
{
	struct kk_conn *c = arg;
	struct kk_control *ctl = c->ctl;
	struct kk_conn *o;
	unsigned others = 0;

	if (len > KK_CONTROL_REPORT_FRAME_MAX || c->big_slot)
		return -EMSGSIZE;
	if (ctl->nbig >= KK_CONTROL_BIG_MAX)
		return -EBUSY;
	for (o = ctl->conns; o != NULL; o = o->next) {
		if (!o->big_slot)
			continue;
		if (o->owner == c->owner)
			return -EBUSY;
		if (o->cls == KK_PEER_OTHER)
			others++;
	}
	if (c->cls == KK_PEER_OTHER &&
	    others >= KK_CONTROL_BIG_MAX - KK_CONTROL_BIG_STAFF)
		return -EBUSY;
	c->big_slot = true;
	ctl->nbig++;
	return 0;
}

static int
conn_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct kk_conn *c = userdata;
	char msg[128];
	int r;

	if (c->replied)
		return conn_write(c);
	/*
	 * A request handed over and not yet answered is the connection's
	 * only one: nothing after it is read, or a second request would
	 * run on the slot of the first.  Its io events are off, so only a
	 * hangup or an error wakes it here: the client is gone, and the
	 * answer, when it comes, finds no connection (waiting_conn).
	 */
	if (c->waiting) {
		if (revents & (EPOLLHUP | EPOLLERR))
			conn_free(c);
		return 0;
	}
	r = kk_ipc_read_frames(fd, &c->rd, handle_frame, c);
	if (r == -EPIPE) {
		conn_free(c);
		return 0;
	}
	if (r == -EBUSY) {
		refuse(c, "control", KE_BUSY, KE_BUSY, "other large requests "
		    "(reports with attachments) are being read; try again");
	} else if (r < 0) {
		/* root's limit is larger than a report's: no exception to name */
		if (r != -EMSGSIZE)
			snprintf(msg, sizeof(msg), "bad frame");
		else if (kk_control_frame_max(c->cls) >=
		    KK_CONTROL_REPORT_FRAME_MAX)
			snprintf(msg, sizeof(msg), "request larger than %zu "
			    "KiB", kk_control_frame_max(c->cls) / 1024);
		else
			snprintf(msg, sizeof(msg), "request larger than %zu "
			    "KiB (a report with attachments: %zu KiB)",
			    kk_control_frame_max(c->cls) / 1024,
			    (size_t)KK_CONTROL_REPORT_FRAME_MAX / 1024);
		refuse(c, "control", r == -EMSGSIZE ? KE_TOO_LARGE :
		    KE_BAD_FRAME, r == -EMSGSIZE ? KE_TOO_LARGE : KE_MALFORMED,
		    msg);
	}
	return 0;
}

static int
conn_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kk_conn *c = userdata;

	/*
	 * A request that never came is a refusal, and so is an answer not
	 * taken whole in time (the client sees a stream shorter than
	 * announced); a client that stopped reading is not.
	 */
	if (!c->replied)
		kd_tally_refused(c->ctl->d, c->cred.uid, c->cred.pid, c->cls,
		    "control", KE_TIMEOUT, NULL);
	else if (c->answer_end != 0 && usec >= c->answer_end)
		kd_tally_refused(c->ctl->d, c->cred.uid, c->cred.pid, c->cls,
		    c->tail != NULL ? "log" : "control", KE_TIMEOUT, NULL);
	conn_free(c);
	return 0;
}

/* Over quota: a short answer if the socket takes it at once, and close. */
static void
refuse_busy(struct kk_control *ctl, int cfd, const struct ucred *cred,
    int cls, int why)
{
	ssize_t n;

	n = send(cfd, ctl->busy, ctl->busy_len, MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)n;
	close(cfd);
	kd_tally_refused(ctl->d, cred->uid, cred->pid, cls, "connect",
	    why == -EUSERS ? KE_BUSY_UID : KE_BUSY, NULL);
}

/* The connections of owner's uids (its own and its subordinate ones). */
static unsigned
open_of_owner(const struct kk_control *ctl, uid_t owner,
    enum kk_peer_class cls)
{
	const struct kk_conn *c;
	unsigned n = 0;

	for (c = ctl->conns; c; c = c->next)
		if (c->owner == owner && c->cls == cls)
			n++;
	return n;
}

/*
 * The peer's supplementary groups, as the kernel says (SO_PEERGROUPS).
 * A member of more than KK_CONTROL_MAX_GROUPS groups is read whole once
 * (the kernel says how many; NGROUPS_MAX at most), and of those only the
 * one that decides anything is kept: staff_group.
 */
static void
peer_groups(struct kk_conn *c, int cfd, bool staff_known, gid_t staff_gid)
{
	socklen_t len = sizeof(c->groups);
	gid_t *all;
	size_t i, n;

	c->ngroups = 0;
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERGROUPS, c->groups, &len) == 0) {
		c->ngroups = len / sizeof(gid_t);
		return;
	}
	if (errno != ERANGE || !staff_known || len <= sizeof(c->groups) ||
	    len > NGROUPS_MAX * sizeof(gid_t) || (all = malloc(len)) == NULL)
		return;
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERGROUPS, all, &len) == 0) {
		n = len / sizeof(gid_t);
		for (i = 0; i < n && c->ngroups == 0; i++)
			if (all[i] == staff_gid)
				c->groups[c->ngroups++] = staff_gid;
	}
	free(all);
}

#ifndef SO_PEERPIDFD
/* Linux 6.5: 77, but where socket options are numbered apart */
#if defined(__hppa__) || defined(__sparc__)
#error "SO_PEERPIDFD: build against Linux 6.5 headers or later"
#endif
#define SO_PEERPIDFD	77
#endif

/*
 * The connecting process's start time (clock ticks after boot, field 22
 * of /proc/PID/stat): with its pid, it names that process for good, where
 * the pid alone names whichever has it later (a pid is reused once its
 * process is reaped, and a peer can pass its socket on and exit).  Read
 * through the kernel's pidfd of the peer (SO_PEERPIDFD): it counts only
 * if that process was still running after the read.  0 if not, or on a
 * kernel without SO_PEERPIDFD.
 */
static unsigned long long
peer_start_time(int cfd, pid_t pid)
{
	unsigned long long start = 0;
	struct pollfd pfd = { .events = POLLIN };
	socklen_t len = sizeof(pfd.fd);
	struct kk_pstat ps;

	pfd.fd = -1;
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERPIDFD, &pfd.fd, &len) < 0 ||
	    pfd.fd < 0)
		return 0;
	/*
	 * A pidfd is readable once its process has exited.  The leader's
	 * own task file: the process's stat sums every thread's, which a
	 * peer of many thousand threads would make costly at each connect.
	 */
	if (kk_pstat_read(pid, pid, &ps) == 0 && poll(&pfd, 1, 0) == 0)
		start = ps.f[KK_PSTAT_START];
	close(pfd.fd);
	return start;
}

/* One accepted connection: who it is, whether it may stay. */
static void
admit(struct kk_control *ctl, int cfd)
{
	struct kk_cred kc;
	struct kk_conn *c;
	socklen_t len;
	int r;

	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(cfd);
		return;
	}
	c->fd = cfd;
	len = sizeof(c->cred);
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0) {
		close(cfd);
		free(c);
		return;
	}
	peer_groups(c, cfd, ctl->d->staff_known, ctl->d->staff_gid);
	kc = (struct kk_cred){ .uid = c->cred.uid, .gid = c->cred.gid,
	    .groups = c->groups, .ngroups = c->ngroups };
	c->cls = kd_peer_class(ctl->d, &kc);
	/* a range added since (useradd): its uids are its user's now */
	if (c->cred.uid != 0)
		kd_subids_refresh(KD_SUBUID_PATH);
	c->owner = kd_uid_owner(c->cred.uid);
	r = kk_control_admit(c->cls, open_of_owner(ctl, c->owner, c->cls),
	    ctl->nclass, (unsigned)ctl->nconns);
	if (r < 0) {
		refuse_busy(ctl, cfd, &c->cred, c->cls, r);
		free(c);
		return;
	}
	/* only for a connection admitted: a refused one costs no /proc read */
	c->start_time = peer_start_time(cfd, c->cred.pid);
	c->ctl = ctl;
	c->serial = ++ctl->next_serial;
	kk_frame_reader_init(&c->rd, kk_control_frame_max(c->cls));
	/* root's limit is larger than a report: no slot needed */
	if (c->cls != KK_PEER_ROOT) {
		c->rd.over = big_slot_take;
		c->rd.over_arg = c;
	}
	c->next = ctl->conns;
	ctl->conns = c;
	ctl->nconns++;
	ctl->nclass[c->cls]++;
	if (sd_event_add_io(ctl->d->ev, &c->io, cfd, EPOLLIN, conn_io, c) < 0 ||
	    sd_event_add_time_relative(ctl->d->ev, &c->timer, CLOCK_MONOTONIC,
	    kk_control_deadline(c->cls), 0, conn_timeout, c) < 0)
		conn_free(c);
}

static int
ctl_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct kk_control *ctl = userdata;
	int cfd, i;

	/* a batch per wake-up, so a flood of connects drains fast */
	for (i = 0; i < ACCEPT_BATCH; i++) {
		cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0)
			break;
		admit(ctl, cfd);
	}
	return 0;
}

static int
make_busy_frame(struct kk_control *ctl)
{
	json_t *o;
	char *text;
	size_t len;
	int r = -ENOBUFS;

	o = kk_wire_error(KE_BUSY, "too many connections from this user or "
	    "from users outside the staff group; try again");
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (text == NULL)
		return -ENOMEM;
	len = strlen(text);
	if (len + 4 <= sizeof(ctl->busy)) {
		kk_frame_header(ctl->busy, len, KK_FRAME_MAX);
		memcpy(ctl->busy + 4, text, len);
		ctl->busy_len = len + 4;
		r = 0;
	}
	free(text);
	return r;
}

int
kk_control_open(struct kd *d, const char *path)
{
	struct kk_control *ctl;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t mask;
	int err;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	ctl = calloc(1, sizeof(*ctl));
	if (ctl == NULL)
		return -ENOMEM;
	ctl->d = d;
	ctl->fd = -1;
	if ((err = make_busy_frame(ctl)) < 0) {
		free(ctl);
		return err;
	}
	if ((ctl->d->watchers = kd_watchers_new(d->ev)) == NULL) {
		err = -ENOMEM;
		goto fail;
	}
	strcpy(sun.sun_path, path);
	strcpy(ctl->path, path);
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl->fd < 0) {
		err = -errno;
		goto fail;
	}
	/* replace a stale socket from a previous run, but nothing else */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			err = -EEXIST;
			goto fail;
		}
		unlink(path);
	}
	/*
	 * Any local user may ask for status; SO_PEERCRED decides the rest.
	 * The socket is made 0666 by the umask around its bind, not by a
	 * chmod of its name after it: in a directory others may write to, a
	 * link put in its place meanwhile would take the mode elsewhere.
	 */
	mask = umask(0111);
	err = bind(ctl->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ?
	    -errno : 0;
	umask(mask);
	if (err < 0)
		goto fail;
	/* a long backlog: connects wait in it while a flood is drained */
	if (listen(ctl->fd, 4096) < 0) {
		err = -errno;
		goto fail;
	}
	err = sd_event_add_io(d->ev, &ctl->src, ctl->fd, EPOLLIN, ctl_accept,
	    ctl);
	if (err < 0)
		goto fail;
	d->control = ctl;
	return 0;
fail:
	kk_close(ctl->fd);
	kd_watchers_free(d->watchers);
	d->watchers = NULL;
	free(ctl);
	return err;
}

void
kk_control_close(struct kd *d)
{
	struct kk_control *ctl = d->control;

	if (ctl == NULL)
		return;
	while (ctl->conns)
		conn_free(ctl->conns);
	kd_watchers_free(d->watchers);
	d->watchers = NULL;
	sd_event_source_disable_unref(ctl->src);
	close(ctl->fd);
	unlink(ctl->path);
	free(ctl);
	d->control = NULL;
}
