/*
 * Drills (issue 11): the state of the one drill, its timers, its probes,
 * and its record.  See drill.h for what a drill guarantees and why.
 *
 * A drill goes announced (if it gives notice) -> running -> ending (the
 * table gone, connectivity being checked) -> done (recorded, reported).
 * Times are CLOCK_MONOTONIC microseconds from when it was asked for; the
 * record gives them in milliseconds.
 *
 * Probes are non-blocking connects in the event loop, never waited for.
 * A probe that must be blocked is made as root (the drill's drops hold
 * for everyone but kakurid's own management connections); the
 * management check is made with the file system ids of agent.user, so
 * its socket is kakurid's own (meta skuid/skgid) as the courier's is.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <jansson.h>

#include "daemon.h"
#include "drill.h"
#include "log.h"
#include "outbox.h"
#include "record.h"
#include "tables.h"
#include "wire.h"

#define PROBE_TIMEOUT_USEC	1000000ULL	/* a connect that gets no answer: blocked */
#define MGMT_PERIOD_USEC	1000000ULL	/* the management channel, checked */
#define BACK_PERIOD_USEC	100000ULL	/* after the revert: tried again */
#define BACK_MAX_USEC		5000000ULL	/* ... for at most this long */
#define NOTICE_MAX		4096		/* bytes of a record kept on disk */

enum drill_state { DS_ANNOUNCED, DS_RUNNING, DS_ENDING };
enum probe_kind { PK_BLOCK, PK_MGMT, PK_BACK };

struct probe_result {
	const char *result;	/* "blocked", "leak", "no-route"; NULL: not yet */
	char detail[64];
	double ms;		/* after the drill's start */
};

struct drill;

struct probe {
	struct drill *dr;
	enum probe_kind kind;
	size_t idx;		/* of drill.probes; the check: nprobes */
	int fd;
	sd_event_source *io, *timer;
	uint64_t t0;
	struct probe *next;
};

struct drill {
	struct kd *d;
	enum drill_state state;
	enum kd_drill_kind kind;
	char id[KK_EPISODE_HEX + 1];
	char origin[16];
	char by[KK_TEXT_MAX];
	char scenario[KD_DRILL_SCENARIO_MAX + 1];
	unsigned announce, duration;
	char file[PATH_MAX + 64];	/* its record on disk */

	uint64_t t0;		/* asked for (monotonic usec) */
	time_t asked_rt, started_rt, deadline_rt, ended_rt;
	uint64_t started, committed, verified, first_blocked, notified,
	    action, reverted, back;	/* usec after t0; 0: not (yet) */

	char end[24];		/* "deadline", "stop", "management-lost", ... */
	char failure[400];	/* why it failed, if it did */
	bool leak;
	bool leak_reported;

	/* the employees */
	uid_t notified_uids[KD_DRILL_EMPLOYEES];
	size_t nnotified;
	char action_word[16];
	uid_t action_uid;

	/* probes */
	struct probe_result probes[KK_MAX_PROBES];
	size_t nprobes, probes_left;
	struct kk_endpoint check;
	char check_text[64];
	struct probe_result mgmt;
	uint64_t mgmt_ok;	/* last reachable (usec after t0) */
	struct json_t *dns;
	uint64_t packets, bytes;	/* the drill table's drops */
	struct probe *inflight;
	bool starting;		/* a round of probes is being started */
	bool no_back;		/* kakurid exits: no connectivity check */

	sd_event_source *announce_timer, *deadline_timer, *gate_timer,
	    *mgmt_timer, *back_timer;
	uint64_t gate_ms;
	uint64_t renewed;	/* last gate renewal (monotonic usec) */
};

/* One drill at a time: kakurid's, kept here. */
static struct drill *current;
static json_t *last_done;	/* the record of the last drill that ended */

static void drill_end(struct drill *dr, const char *end);

static uint64_t
since_t0(const struct drill *dr)
{
	uint64_t now = kd_now_usec();

	/* 0 means "not yet": a time is never 0 */
	return now > dr->t0 ? now - dr->t0 : 1;
}

static void
endpoint_text(const struct kk_endpoint *ep, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN];

	if (kk_addr_format(&ep->addr, addr, sizeof(addr)) < 0)
		snprintf(addr, sizeof(addr), "?");
	snprintf(buf, len, ep->addr.family == AF_INET6 ? "[%s]:%u" : "%s:%u",
	    addr, (unsigned)ep->port);
}

static json_t *
ms_or_null(uint64_t usec)
{
	return usec ? json_real((double)usec / 1000.0) : json_null();
}

static json_t *
time_or_null(time_t t)
{
	char buf[32];

	if (t == 0 || kk_rfc3339(t, buf, sizeof(buf)) < 0)
		return json_null();
	return json_string(buf);
}

static const char *
kind_name(enum kd_drill_kind k)
{
	return k == KD_DRILL_LIVE ? "live" : "tabletop";
}

static const char *
state_name(const struct drill *dr)
{
	static const char *const names[] = { "announced", "running", "ending" };

	return names[dr->state];
}

static json_t *
probe_json(const char *target, const struct probe_result *p)
{
	return json_pack("{s:s, s:s?, s:s, s:o}", KW_TARGET, target,
	    KW_RESULT, p->result, KW_DETAIL, p->detail,
	    KW_MS, p->result ? json_real(p->ms) : json_null());
}

/* The result word: what the drill proved, or why it did not. */
static const char *
result_of(const struct drill *dr)
{
	if (dr->failure[0])
		return "failed";
	if (dr->leak)
		return "leak";
	if (dr->state != DS_ENDING)
		return "running";
	if (strcmp(dr->end, "restart") == 0)
		return "aborted";
	return "ok";
}

static json_t *
record_of(const struct drill *dr)
{
	const struct kk_policy *p = dr->d->policy;
	json_t *o, *probes, *timings, *employee;
	char target[64];
	size_t i;

	probes = json_array();
	for (i = 0; i < dr->nprobes; i++) {
		endpoint_text(&p->drill_probes.ep[i], target, sizeof(target));
		json_array_append_new(probes, probe_json(target,
		    &dr->probes[i]));
	}
	timings = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
	    KW_STARTED, ms_or_null(dr->started),
	    KW_COMMITTED, ms_or_null(dr->committed),
	    KW_VERIFIED, ms_or_null(dr->verified),
	    KW_FIRST_BLOCKED, ms_or_null(dr->first_blocked),
	    KW_NOTIFIED, ms_or_null(dr->notified),
	    KW_ACTION, ms_or_null(dr->action),
	    KW_REVERTED, ms_or_null(dr->reverted),
	    KW_CONNECTIVITY_BACK, ms_or_null(dr->back));
	employee = json_pack("{s:I, s:s?, s:o, s:o}",
	    KW_NOTIFIED, (json_int_t)dr->nnotified,
	    KW_ACTION, dr->action_word[0] ? dr->action_word : NULL,
	    KW_UID, dr->action_word[0] ? json_integer(dr->action_uid) :
	    json_null(),
	    KW_ACTION_MS, dr->action_word[0] ? ms_or_null(dr->action -
	    (dr->notified && dr->notified < dr->action ? dr->notified :
	    dr->started) + 1) : json_null());
	o = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:i, s:s, s:o, s:o, s:o, "
	    "s:s?, s:s, s:s?, s:o, s:o, s:o, s:o, s:o, s:{s:I, s:I}, s:b}",
	    KW_ID, dr->id, KW_KIND, kind_name(dr->kind),
	    KW_ORIGIN, dr->origin, KW_BY, dr->by,
	    KW_SCENARIO, dr->scenario[0] ? dr->scenario : NULL,
	    KW_ANNOUNCE, (int)dr->announce,
	    KW_STATE, dr->state == DS_ENDING ? "done" : state_name(dr),
	    KW_STARTED, time_or_null(dr->started_rt),
	    KW_DEADLINE, time_or_null(dr->deadline_rt),
	    KW_ENDED, time_or_null(dr->ended_rt),
	    KW_END, dr->end[0] ? dr->end : NULL,
	    KW_RESULT, result_of(dr),
	    KW_DETAIL, dr->failure[0] ? dr->failure : NULL,
	    KW_TIMINGS_MS, timings, KW_EMPLOYEE, employee,
	    KW_PROBES, probes,
	    KW_MANAGEMENT, dr->kind == KD_DRILL_LIVE ? json_pack(
	    "{s:s, s:b, s:s, s:o}", KW_TARGET, dr->check_text,
	    KW_REACHABLE, dr->mgmt_ok != 0, KW_DETAIL, dr->mgmt.detail,
	    KW_MS, ms_or_null(dr->mgmt_ok)) : json_null(),
	    KW_DNS, dr->dns ? json_incref(dr->dns) : json_array(),
	    KW_COUNTERS, KW_PACKETS, (json_int_t)dr->packets,
	    KW_BYTES, (json_int_t)dr->bytes, KW_LEAK, dr->leak);
	return o;
}

/* The record on disk: written when the drill starts and when it ends. */
static void
record_save(struct drill *dr)
{
	json_t *o = record_of(dr);
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) :
	    NULL;
	int err = -ENOMEM;

	if (text != NULL)
		err = kk_write_file_atomic(dr->file, text, strlen(text), 0600);
	if (err < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "drill %s: saving %s: %s",
		    dr->id, dr->file, strerror(-err));
	free(text);
	json_decref(o);
}

/* The CSIRT hears of it: a "drill" report through the outbox. */
static void
report(struct drill *dr)
{
	char rid[KK_EPISODE_HEX + 1];
	json_t *o = record_of(dr);

	if (o == NULL || kd_outbox_put(dr->d, "drill", o, rid) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "drill %s report: %s", dr->id,
		    kd_outbox_error(dr->d));
	json_decref(o);
}

/* To the watchers: the drill's phase, and at its end how it went. */
static void
emit(struct drill *dr, const char *phase)
{
	json_t *ev, *rec = NULL;

	ev = json_pack("{s:s, s:s, s:{s:s, s:s, s:i, s:s?, s:o, s:o}}",
	    KW_EVENT, KW_DRILL, KW_PHASE, phase, KW_DRILL,
	    KW_ID, dr->id, KW_KIND, kind_name(dr->kind),
	    KW_ANNOUNCE, (int)dr->announce,
	    KW_SCENARIO, dr->scenario[0] ? dr->scenario : NULL,
	    KW_STARTED, time_or_null(dr->started_rt),
	    KW_DEADLINE, time_or_null(dr->deadline_rt));
	if (ev != NULL && strcmp(phase, KW_END) == 0 &&
	    (rec = record_of(dr)) != NULL)
		json_object_set_new(ev, KW_RESULT, json_pack("{s:O, s:O, s:O}",
		    KW_RESULT, json_object_get(rec, KW_RESULT),
		    KW_END, json_object_get(rec, KW_END),
		    KW_EMPLOYEE, json_object_get(rec, KW_EMPLOYEE)));
	if (ev != NULL)
		kd_events_emit(dr->d, ev);
	json_decref(rec);
	json_decref(ev);
}

/* ---- probes ---- */

/* What a connect came to. */
enum outcome {
	O_ANSWERED,	/* connected, refused, or an ICMP error: packets flowed */
	O_DROPPED,	/* EPERM on the way out: nothing left the host */
	O_NOROUTE,	/* no route: nothing left the host either */
	O_TIMEOUT,	/* no answer in PROBE_TIMEOUT_USEC */
	O_ERROR,	/* no socket */
};

static void probe_done(struct probe *pr, enum outcome o, int err);
static bool lapsed(struct drill *dr);

static void
probe_free(struct probe *pr)
{
	struct probe **pp;

	for (pp = &pr->dr->inflight; *pp; pp = &(*pp)->next)
		if (*pp == pr) {
			*pp = pr->next;
			break;
		}
	sd_event_source_disable_unref(pr->io);
	sd_event_source_disable_unref(pr->timer);
	if (pr->fd >= 0)
		close(pr->fd);
	free(pr);
}

static int
probe_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	socklen_t len = sizeof(int);
	int soerr = 0;

	/* a drill whose gate lapsed proves nothing more: it ends */
	if (lapsed(((struct probe *)userdata)->dr))
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr == EINPROGRESS)
		return 0;
	probe_done(userdata, soerr == EPERM || soerr == EACCES ? O_DROPPED :
	    O_ANSWERED, soerr);
	return 0;
}

static int
probe_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	if (lapsed(((struct probe *)userdata)->dr))
		return 0;
	probe_done(userdata, O_TIMEOUT, ETIMEDOUT);
	return 0;
}

/* The endpoint's socket address. */
static socklen_t
endpoint_sockaddr(const struct kk_endpoint *ep, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (ep->addr.family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(ep->port);
		sin->sin_addr = ep->addr.a.v4;
		return sizeof(*sin);
	}
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(ep->port);
	sin6->sin6_addr = ep->addr.a.v6;
	return sizeof(*sin6);
}

/*
 * A socket made with agent.user's file system ids is kakurid's own for
 * the rules (meta skuid/skgid look at the socket's file credentials).
 */
static int
socket_as(const struct kd *d, int family, int type, bool own)
{
	int fd, saved;

	if (own) {
		setfsgid(d->own_gid);
		setfsuid(d->own_uid);
	}
	fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	saved = errno;
	if (own) {
		setfsuid(0);
		setfsgid(0);
	}
	errno = saved;
	return fd;
}

static void
probe_start(struct drill *dr, enum probe_kind kind, size_t idx,
    const struct kk_endpoint *ep)
{
	struct sockaddr_storage ss;
	socklen_t sl = endpoint_sockaddr(ep, &ss);
	struct probe *pr;

	if ((pr = calloc(1, sizeof(*pr))) == NULL)
		return;
	pr->dr = dr;
	pr->kind = kind;
	pr->idx = idx;
	pr->t0 = kd_now_usec();
	pr->next = dr->inflight;
	dr->inflight = pr;
	pr->fd = socket_as(dr->d, ep->addr.family, SOCK_STREAM,
	    kind == PK_MGMT && dr->d->own_known);
	if (pr->fd < 0) {
		probe_done(pr, O_ERROR, errno);
		return;
	}
	if (connect(pr->fd, (struct sockaddr *)&ss, sl) == 0) {
		probe_done(pr, O_ANSWERED, 0);
		return;
	}
	switch (errno) {
	case EINPROGRESS:
		break;
	case EPERM:
	case EACCES:
		probe_done(pr, O_DROPPED, errno);
		return;
	case ENETUNREACH:
	case EHOSTUNREACH:
		probe_done(pr, O_NOROUTE, errno);
		return;
	default:
		probe_done(pr, O_ANSWERED, errno);
		return;
	}
	if (sd_event_add_io(dr->d->ev, &pr->io, pr->fd, EPOLLOUT, probe_io,
	    pr) < 0 || sd_event_add_time_relative(dr->d->ev, &pr->timer,
	    CLOCK_MONOTONIC, PROBE_TIMEOUT_USEC, KD_TIMER_ACCURACY_USEC,
	    probe_timeout, pr) < 0)
		probe_done(pr, O_ERROR, ENOMEM);
}

static void
leak_found(struct drill *dr, const char *what)
{
	if (dr->leak_reported)
		return;
	dr->leak = true;
	dr->leak_reported = true;
	kk_log(LOG_CRIT, KK_MID_APPLY, "drill %s: isolation did not hold: %s "
	    "got through", dr->id, what);
	kd_audit(dr->d, dr->by, "drill", "leak", json_pack("{s:s, s:s}",
	    KW_ID, dr->id, KW_TARGET, what));
	/* the CSIRT is told at once, not at the drill's end */
	report(dr);
}

static void back_round(struct drill *dr);
static void back_round_done(struct drill *dr);
static void finish(struct drill *dr);

/* A probe that must be blocked: what it proved. */
static void
block_result(struct drill *dr, size_t idx, enum outcome o, int err,
    uint64_t at)
{
	static const char *const words[] = {
		[O_ANSWERED] = "leak", [O_DROPPED] = "blocked",
		[O_NOROUTE] = "no-route", [O_TIMEOUT] = "blocked",
		[O_ERROR] = "error",
	};
	struct probe_result *res = &dr->probes[idx];
	char target[64];

	res->result = words[o];
	res->ms = (double)at / 1000.0;
	snprintf(res->detail, sizeof(res->detail), "%s", err ? strerror(err) :
	    "connected");
	if ((o == O_DROPPED || o == O_TIMEOUT) && dr->first_blocked == 0)
		dr->first_blocked = at;
	if (o == O_ANSWERED) {
		endpoint_text(&dr->d->policy->drill_probes.ep[idx], target,
		    sizeof(target));
		leak_found(dr, target);
	}
	if (dr->probes_left > 0 && --dr->probes_left == 0)
		record_save(dr);
}

static void
probe_done(struct probe *pr, enum outcome o, int err)
{
	struct drill *dr = pr->dr;
	enum probe_kind kind = pr->kind;
	uint64_t at = since_t0(dr);

	switch (kind) {
	case PK_BLOCK:
		block_result(dr, pr->idx, o, err, at);
		break;
	case PK_MGMT:
		/* reachable: it took the connection */
		if (o == O_ANSWERED && err == 0)
			dr->mgmt_ok = at;
		snprintf(dr->mgmt.detail, sizeof(dr->mgmt.detail), "%s",
		    err ? strerror(err) : "connected");
		break;
	case PK_BACK:
		/* an answer of any kind: the network is back */
		if (o == O_ANSWERED && dr->back == 0)
			dr->back = at;
		break;
	}
	probe_free(pr);
	if (kind == PK_BACK && !dr->starting && dr->inflight == NULL)
		back_round_done(dr);
}

/*
 * DNS only to pinned resolvers: a query to a pinned one leaves, one to
 * another address (each probe's, port 53) is dropped on the way out.
 */
static void
dns_checks(struct drill *dr)
{
	static const uint8_t query[] = {	/* ". IN NS", id 0x6b6b */
		0x6b, 0x6b, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0,
		0x00, 0x00, 0x02, 0x00, 0x01,
	};
	const struct kk_policy *p = dr->d->policy;
	struct kk_endpoint ep;
	struct sockaddr_storage ss;
	socklen_t sl;
	char target[64];
	const char *res;
	size_t i, n = p->dns.n + p->drill_probes.n;
	int fd, e;

	dr->dns = json_array();
	for (i = 0; i < n && dr->dns; i++) {
		bool pinned = i < p->dns.n;

		ep.addr = pinned ? p->dns.addr[i] :
		    p->drill_probes.ep[i - p->dns.n].addr;
		ep.port = 53;
		sl = endpoint_sockaddr(&ep, &ss);
		endpoint_text(&ep, target, sizeof(target));
		fd = socket_as(dr->d, ep.addr.family, SOCK_DGRAM, false);
		e = fd < 0 ? errno : sendto(fd, query, sizeof(query), 0,
		    (struct sockaddr *)&ss, sl) < 0 ? errno : 0;
		if (fd >= 0)
			close(fd);
		if (e == EPERM || e == EACCES) {
			res = "blocked";
			/* a datagram is refused at once: the first proof */
			if (!pinned && dr->first_blocked == 0)
				dr->first_blocked = since_t0(dr);
		}
		else if (e != 0)
			res = "error";
		else
			res = pinned ? "allowed" : "leak";
		/* a pinned resolver blocked is no leak, only worth seeing */
		json_array_append_new(dr->dns, json_pack("{s:s, s:s, s:s}",
		    KW_TARGET, target, KW_RESULT, res,
		    KW_DETAIL, e ? strerror(e) : "sent"));
		if (!pinned && strcmp(res, "leak") == 0)
			leak_found(dr, target);
	}
}

/* The endpoint the management check dials. */
static void
check_endpoint(struct drill *dr)
{
	const struct kk_policy *p = dr->d->policy;
	const char *text = p->drill_check[0] ? p->drill_check : p->collector;

	if (text[0] == '\0' || kk_endpoint_parse(text, &dr->check.addr,
	    &dr->check.port) < 0) {
		dr->check.addr = p->peers.addr[0];
		dr->check.port = p->mgmt_ports.port[0];
	}
	endpoint_text(&dr->check, dr->check_text, sizeof(dr->check_text));
}

/* ---- timers ---- */

/*
 * kakurid did not run for the gate period (stopped, or starved): the
 * kernel has lifted the drill already; it ends, whichever timer sees it.
 */
static bool
lapsed(struct drill *dr)
{
	uint64_t now = kd_now_usec();

	if (dr->state != DS_RUNNING || dr->kind != KD_DRILL_LIVE ||
	    now - dr->renewed < dr->gate_ms * 1000)
		return false;
	kk_log(LOG_WARNING, KK_MID_APPLY, "drill %s: the gate lapsed (kakurid "
	    "did not run for %llu ms): the drill ends now", dr->id,
	    (unsigned long long)((now - dr->renewed) / 1000));
	drill_end(dr, "gate-lapsed");
	return true;
}

static int
on_mgmt_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct drill *dr = userdata;
	uint64_t now = since_t0(dr), last = dr->mgmt_ok ? dr->mgmt_ok :
	    dr->verified;
	struct probe *pr;
	bool busy = false;

	if (lapsed(dr))
		return 0;
	if (now > last && now - last >= dr->gate_ms * 1000) {
		kk_log(LOG_WARNING, KK_MID_APPLY, "drill %s: %s not reachable "
		    "for %llu s: the drill ends now", dr->id, dr->check_text,
		    (unsigned long long)(dr->gate_ms / 1000));
		drill_end(dr, "management-lost");
		return 0;
	}
	for (pr = dr->inflight; pr; pr = pr->next)
		busy |= pr->kind == PK_MGMT;
	if (!busy)
		probe_start(dr, PK_MGMT, 0, &dr->check);
	sd_event_source_set_time_relative(s, MGMT_PERIOD_USEC);
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

static int
on_gate_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct drill *dr = userdata;
	struct kd *d = dr->d;
	uint64_t now = kd_now_usec();
	int err;

	if (lapsed(dr))
		return 0;
	if ((err = kk_nft_drill_refresh(&d->nft, dr->gate_ms)) < 0) {
		snprintf(dr->failure, sizeof(dr->failure), "renewing the gate: %s",
		    d->nft.err[0] ? d->nft.err : strerror(-err));
		drill_end(dr, "failed");
		return 0;
	}
	dr->renewed = now;
	sd_event_source_set_time_relative(s, dr->gate_ms * 1000 / 3);
	sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
	return 0;
}

static int
on_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
	drill_end(userdata, "deadline");
	return 0;
}

static int
on_back_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	back_round(userdata);
	return 0;
}

static int
timer(struct drill *dr, sd_event_source **src, uint64_t usec,
    sd_event_time_handler_t fn)
{
	return sd_event_add_time_relative(dr->d->ev, src, CLOCK_MONOTONIC,
	    usec, KD_TIMER_ACCURACY_USEC, fn, dr);
}

/* ---- the drill's course ---- */

static void
drill_free(struct drill *dr)
{
	while (dr->inflight)
		probe_free(dr->inflight);
	sd_event_source_disable_unref(dr->announce_timer);
	sd_event_source_disable_unref(dr->deadline_timer);
	sd_event_source_disable_unref(dr->gate_timer);
	sd_event_source_disable_unref(dr->mgmt_timer);
	sd_event_source_disable_unref(dr->back_timer);
	json_decref(dr->dns);
	if (current == dr)
		current = NULL;
	free(dr);
}

static int
apply_live(struct drill *dr)
{
	struct kd *d = dr->d;
	struct kk_nft_spec spec;
	size_t i;
	int err;

	kd_tables_spec(d, KK_MODE_ISOLATED, dr->id, KK_DRILL_TABLE, &spec);
	spec.drill = true;
	spec.gate_ms = dr->gate_ms;
	/* never persist: the kernel removes it with kakurid's socket */
	spec.table_flags = KK_NFT_F_OWNER;
	err = kk_nft_drill_apply(&d->nft, &spec);
	dr->committed = since_t0(dr);
	if (err < 0) {
		snprintf(dr->failure, sizeof(dr->failure), "%s", d->nft.err[0] ?
		    d->nft.err : strerror(-err));
		return err;
	}
	dr->verified = since_t0(dr);
	dr->renewed = kd_now_usec();
	dr->nprobes = dr->probes_left = d->policy->drill_probes.n;
	for (i = 0; i < dr->nprobes; i++)
		probe_start(dr, PK_BLOCK, i, &d->policy->drill_probes.ep[i]);
	dns_checks(dr);
	probe_start(dr, PK_MGMT, 0, &dr->check);
	if (timer(dr, &dr->gate_timer, dr->gate_ms * 1000 / 3,
	    on_gate_timer) < 0 || timer(dr, &dr->mgmt_timer,
	    MGMT_PERIOD_USEC, on_mgmt_timer) < 0)
		return -ENOMEM;
	return 0;
}

static void
begin(struct drill *dr)
{
	struct kd *d = dr->d;

	dr->state = DS_RUNNING;
	dr->started = since_t0(dr);
	dr->started_rt = time(NULL);
	dr->deadline_rt = dr->started_rt + (time_t)dr->duration;
	if (timer(dr, &dr->deadline_timer, (uint64_t)dr->duration * 1000000,
	    on_deadline) < 0) {
		snprintf(dr->failure, sizeof(dr->failure), "out of memory");
		drill_end(dr, "failed");
		return;
	}
	if (dr->kind == KD_DRILL_LIVE && apply_live(dr) < 0) {
		kk_log(LOG_ERR, KK_MID_APPLY, "drill %s could not start: %s",
		    dr->id, dr->failure);
		drill_end(dr, "failed");
		return;
	}
	kk_log(LOG_NOTICE, KK_MID_APPLY, "drill %s (%s) started by %s for %u s%s",
	    dr->id, kind_name(dr->kind), dr->by, dr->duration,
	    dr->kind == KD_DRILL_LIVE ? ": isolated through table inet "
	    KK_DRILL_TABLE : "");
	kd_audit(d, dr->by, "drill", "started", json_pack("{s:s, s:s, s:i, "
	    "s:s?}", KW_ID, dr->id, KW_KIND, kind_name(dr->kind),
	    KW_DURATION, (int)dr->duration,
	    KW_SCENARIO, dr->scenario[0] ? dr->scenario : NULL));
	record_save(dr);
	emit(dr, "start");
}

static int
on_announce(sd_event_source *s, uint64_t usec, void *userdata)
{
	begin(userdata);
	return 0;
}

/*
 * After the revert: rounds of probes (the drill's, and the management
 * peer as anyone may reach it now) until the network answers again, or
 * for BACK_MAX_USEC.
 */
static void
back_round(struct drill *dr)
{
	const struct kk_policy *p = dr->d->policy;
	size_t i;

	dr->starting = true;
	for (i = 0; i < p->drill_probes.n; i++)
		probe_start(dr, PK_BACK, i, &p->drill_probes.ep[i]);
	probe_start(dr, PK_BACK, i, &dr->check);
	dr->starting = false;
	if (dr->inflight == NULL)
		back_round_done(dr);
}

static void
back_round_done(struct drill *dr)
{
	sd_event_source_disable_unref(dr->back_timer);
	dr->back_timer = NULL;
	if (dr->back != 0 || since_t0(dr) - dr->reverted >= BACK_MAX_USEC ||
	    timer(dr, &dr->back_timer, BACK_PERIOD_USEC, on_back_timer) < 0)
		finish(dr);
}

/* Recorded, audited, reported, announced; then forgotten. */
static void
finish(struct drill *dr)
{
	struct kd *d = dr->d;

	record_save(dr);
	report(dr);
	json_decref(last_done);
	last_done = record_of(dr);
	kd_audit(d, dr->by, "drill", result_of(dr), json_pack("{s:s, s:s, "
	    "s:s, s:o, s:o}", KW_ID, dr->id, KW_KIND, kind_name(dr->kind),
	    KW_END, dr->end, KW_REVERTED, ms_or_null(dr->reverted),
	    KW_CONNECTIVITY_BACK, ms_or_null(dr->back)));
	kk_log(LOG_NOTICE, KK_MID_APPLY, "drill %s ended (%s): %s", dr->id,
	    dr->end, result_of(dr));
	emit(dr, KW_END);
	drill_free(dr);
}

/*
 * The drill ends: its table goes now (a real isolation in the main
 * table is not touched and stays), then connectivity is checked.
 */
static void
drill_end(struct drill *dr, const char *end)
{
	struct kd *d = dr->d;
	struct kk_nft_counters c;
	int err, i;

	if (dr->state == DS_ENDING)
		return;
	snprintf(dr->end, sizeof(dr->end), "%s", end);
	dr->ended_rt = time(NULL);
	sd_event_source_disable_unref(dr->announce_timer);
	sd_event_source_disable_unref(dr->deadline_timer);
	sd_event_source_disable_unref(dr->gate_timer);
	sd_event_source_disable_unref(dr->mgmt_timer);
	dr->announce_timer = dr->deadline_timer = dr->gate_timer =
	    dr->mgmt_timer = NULL;
	while (dr->inflight)
		probe_free(dr->inflight);
	dr->state = DS_ENDING;
	if (dr->kind == KD_DRILL_LIVE && dr->committed) {
		if (kk_nft_counters(&d->nft, KK_DRILL_TABLE, &c) == 0)
			for (i = 0; i < KK_NFT_MAX_CHAINS; i++) {
				dr->packets += c.pkts[i];
				dr->bytes += c.bytes[i];
			}
		err = kk_nft_drill_remove(&d->nft);
		dr->reverted = since_t0(dr);
		if (err < 0) {
			/* the gate lapses in any case: the kernel lifts it then */
			kk_log(LOG_ERR, KK_MID_APPLY, "drill %s: removing its "
			    "table: %s (its gate lapses within %llu s)", dr->id,
			    d->nft.err, (unsigned long long)(dr->gate_ms / 1000));
			snprintf(dr->failure, sizeof(dr->failure),
			    "removing the table: %s", d->nft.err);
		}
		if (!dr->no_back) {
			back_round(dr);
			return;
		}
	}
	finish(dr);
}

int
kd_drill_start(struct kd *d, const struct kd_drill_ask *ask, json_t **record,
    const char **reason, char *why, size_t whylen)
{
	const struct kk_policy *p = d->policy;
	struct timespec ts;
	struct drill *dr;
	int err;

	*record = NULL;
	*reason = KE_DRILL_RUNNING;
	if (current != NULL) {
		snprintf(why, whylen, "drill %s is %s; stop it first", current->id,
		    state_name(current));
		return -EBUSY;
	}
	*reason = KE_QUARANTINED;
	if (d->state.mode != KK_MODE_OPEN) {
		snprintf(why, whylen, "this PC is really %s (episode %s): no "
		    "drill while it is", kk_mode_name(d->state.mode),
		    d->state.episode);
		return -EBUSY;
	}
	*reason = KE_MALFORMED;
	if (ask->duration > (unsigned)p->drill_max_duration) {
		snprintf(why, whylen, "duration %u s is longer than "
		    "drill.max_duration (%d s)", ask->duration,
		    p->drill_max_duration);
		return -EINVAL;
	}
	if (ask->announce > KD_DRILL_ANNOUNCE_MAX) {
		snprintf(why, whylen, "announce must be 0-%d seconds",
		    KD_DRILL_ANNOUNCE_MAX);
		return -EINVAL;
	}
	if (ask->scenario && strlen(ask->scenario) > KD_DRILL_SCENARIO_MAX) {
		snprintf(why, whylen, "scenario is longer than %d bytes",
		    KD_DRILL_SCENARIO_MAX);
		return -EINVAL;
	}
	*reason = KE_NOT_AVAILABLE;
	if (ask->kind == KD_DRILL_LIVE && !d->own_known) {
		snprintf(why, whylen, "a live drill needs agent.user: its "
		    "management check must be kakurid's own connection");
		return -EPERM;
	}
	*reason = KE_IO;
	if ((dr = calloc(1, sizeof(*dr))) == NULL) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	dr->d = d;
	dr->t0 = kd_now_usec();
	dr->asked_rt = time(NULL);
	dr->kind = ask->kind;
	dr->duration = ask->duration ? ask->duration :
	    (unsigned)p->drill_max_duration;
	dr->announce = ask->announce;
	dr->gate_ms = (uint64_t)p->drill_gate * 1000;
	snprintf(dr->origin, sizeof(dr->origin), "%s", ask->origin);
	kk_text_clean(dr->by, sizeof(dr->by), ask->by, strlen(ask->by));
	if (ask->scenario)
		kk_text_clean(dr->scenario, sizeof(dr->scenario),
		    ask->scenario, strlen(ask->scenario));
	if ((err = kk_episode_new(dr->id)) < 0) {
		snprintf(why, whylen, "no random id: %s", strerror(-err));
		free(dr);
		return err;
	}
	/* named by when it was asked for, in ms: the listing's order */
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(dr->file, sizeof(dr->file), "%s/%013lld-%s.json", kd_drill_dir(),
	    (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, dr->id);
	check_endpoint(dr);
	current = dr;
	if (dr->announce > 0) {
		dr->state = DS_ANNOUNCED;
		if (timer(dr, &dr->announce_timer, (uint64_t)dr->announce *
		    1000000, on_announce) < 0) {
			drill_free(dr);
			snprintf(why, whylen, "out of memory");
			return -ENOMEM;
		}
		record_save(dr);
		emit(dr, "announce");
		kd_audit(d, dr->by, "drill", "announced", json_pack(
		    "{s:s, s:s, s:i}", KW_ID, dr->id, KW_KIND,
		    kind_name(dr->kind), KW_ANNOUNCE, (int)dr->announce));
	} else {
		begin(dr);
	}
	if (current != dr) {
		/* it failed at once: its record says why */
		*reason = KE_APPLY_FAILED;
		snprintf(why, whylen, "the drill could not start; see "
		    "'kakurictl drill history'");
		return -EIO;
	}
	*record = record_of(dr);
	return 0;
}

int
kd_drill_stop(struct kd *d, const char *by, json_t **record)
{
	struct drill *dr = current;

	*record = NULL;
	if (dr == NULL)
		return -ENOENT;
	kk_log(LOG_NOTICE, KK_MID_APPLY, "drill %s stopped by %s", dr->id, by);
	drill_end(dr, "stop");
	/* still checking connectivity, or done and recorded */
	*record = current == dr ? record_of(dr) : json_incref(last_done);
	return 0;
}

int
kd_drill_employee(struct kd *d, const char *drill, uid_t uid,
    const char *what)
{
	struct drill *dr = current;
	size_t i;

	if (dr == NULL || dr->state != DS_RUNNING ||
	    (drill != NULL && strcmp(drill, dr->id) != 0))
		return -ENOENT;
	if (strcmp(what, KW_NOTIFIED) == 0) {
		for (i = 0; i < dr->nnotified; i++)
			if (dr->notified_uids[i] == uid)
				return 0;
		if (dr->nnotified >= KD_DRILL_EMPLOYEES)
			return 0;
		dr->notified_uids[dr->nnotified++] = uid;
		if (dr->notified == 0)
			dr->notified = since_t0(dr);
		/* on disk at once: a killed kakurid's record keeps it */
		record_save(dr);
		return 0;
	}
	if (strcmp(what, KW_REPORT) != 0 && strcmp(what, KW_DISCONNECT) != 0)
		return -EINVAL;
	/* the first response is the one timed */
	if (dr->action_word[0] == '\0') {
		dr->action = since_t0(dr);
		dr->action_uid = uid;
		snprintf(dr->action_word, sizeof(dr->action_word), "%s", what);
		kd_audit(d, "", "drill", "employee", json_pack("{s:s, s:s, s:I}",
		    KW_ID, dr->id, KW_ACTION, what, KW_UID, (json_int_t)uid));
		record_save(dr);
	}
	return 0;
}

bool
kd_drill_running(const struct kd *d)
{
	(void)d;
	return current != NULL && current->state == DS_RUNNING;
}

json_t *
kd_drill_current(struct kd *d)
{
	(void)d;
	return current ? record_of(current) : NULL;
}

int
kd_drill_init(struct kd *d)
{
	int err;

	if ((err = kd_drill_dir_open(d)) < 0)
		return err;
	/* a drill is never put back: whatever table is left goes */
	if ((err = kk_nft_drill_remove(&d->nft)) < 0)
		kk_log(LOG_WARNING, KK_MID_START, "drill table: %s", d->nft.err);
	kd_drill_close_leftovers(d);
	return 0;
}

void
kd_drill_free(struct kd *d)
{
	struct drill *dr = current;

	if (dr != NULL) {
		/* no connectivity check: the loop is ending */
		dr->no_back = true;
		drill_end(dr, "shutdown");
	}
	json_decref(last_done);
	last_done = NULL;
}
