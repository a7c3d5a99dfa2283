/*
 * A drill's probes (issue 11): non-blocking connects in kakurid's event
 * loop, never waited for, and datagrams for DNS.  A probe that must be
 * blocked is made as root (the drill's drops hold for everyone but
 * kakurid's own management connections); the management check is made
 * with the file system ids of agent.user, so its socket is kakurid's own
 * (meta skuid/skgid) as the courier's is.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/fsuid.h>
#include <sys/socket.h>

#include <jansson.h>

#include "daemon.h"
#include "drill_int.h"
#include "wire.h"

void
kd_drill_endpoint_text(const struct kk_endpoint *ep, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN];

	if (kk_addr_format(&ep->addr, addr, sizeof(addr)) < 0)
		snprintf(addr, sizeof(addr), "?");
	snprintf(buf, len, ep->addr.family == AF_INET6 ? "[%s]:%u" : "%s:%u",
	    addr, (unsigned)ep->port);
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

void
kd_probe_free(struct probe *pr)
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
	if (kd_drill_lapsed(((struct probe *)userdata)->dr))
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
	if (kd_drill_lapsed(((struct probe *)userdata)->dr))
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

void
kd_probe_start(struct drill *dr, enum probe_kind kind, size_t idx,
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
		kd_drill_endpoint_text(&dr->targets.ep[idx], target,
		    sizeof(target));
		kd_drill_leak(dr, target);
	}
	if (dr->probes_left > 0 && --dr->probes_left == 0)
		kd_drill_record_save(dr);
}

static void
probe_done(struct probe *pr, enum outcome o, int err)
{
	struct drill *dr = pr->dr;
	enum probe_kind kind = pr->kind;
	uint64_t at = kd_drill_since(dr);

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
	kd_probe_free(pr);
	if (kind == PK_BACK && !dr->starting && dr->inflight == NULL)
		kd_drill_back_round_done(dr);
}

/*
 * DNS only to pinned resolvers: a query to a pinned one leaves, one to
 * another address (each probe's, port 53) is dropped on the way out.
 */
void
kd_drill_dns_checks(struct drill *dr)
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
	size_t i, n = p->dns.n + dr->targets.n;
	int fd, e;

	dr->dns = json_array();
	for (i = 0; i < n && dr->dns; i++) {
		bool pinned = i < p->dns.n;

		ep.addr = pinned ? p->dns.addr[i] :
		    dr->targets.ep[i - p->dns.n].addr;
		ep.port = 53;
		sl = endpoint_sockaddr(&ep, &ss);
		kd_drill_endpoint_text(&ep, target, sizeof(target));
		fd = socket_as(dr->d, ep.addr.family, SOCK_DGRAM, false);
		e = fd < 0 ? errno : sendto(fd, query, sizeof(query), 0,
		    (struct sockaddr *)&ss, sl) < 0 ? errno : 0;
		if (fd >= 0)
			close(fd);
		if (e == EPERM || e == EACCES) {
			res = "blocked";
			/* a datagram is refused at once: the first proof */
			if (!pinned && dr->first_blocked == 0)
				dr->first_blocked = kd_drill_since(dr);
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
			kd_drill_leak(dr, target);
	}
}

/* The endpoint the management check dials. */
void
kd_drill_check_endpoint(struct drill *dr)
{
	const struct kk_policy *p = dr->d->policy;
	const char *text = p->drill_check[0] ? p->drill_check : p->collector;

	if (text[0] == '\0' || kk_endpoint_parse(text, &dr->check.addr,
	    &dr->check.port) < 0) {
		dr->check.addr = p->peers.addr[0];
		dr->check.port = p->mgmt_ports.port[0];
	}
	kd_drill_endpoint_text(&dr->check, dr->check_text, sizeof(dr->check_text));
}

