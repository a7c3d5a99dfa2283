/*
 * A drill's probes (probe.c makes the connections) and what each proves:
 * the targets that must be blocked, the management channel that must
 * stay open, DNS only to the pinned resolvers, and after the revert
 * whether the network answers again.  The drill's course is drill.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon.h"
#include "drill.h"
#include "wire.h"

#include "drill_int.h"
#include "probe.h"

/* A probe that must be blocked: what it proved. */
static void
block_result(struct drill *dr, size_t idx, enum kd_probe_outcome o, int err,
    uint64_t at)
{
	static const char *const words[] = {
		[KD_PROBE_ANSWERED] = "leak", [KD_PROBE_DROPPED] = "blocked",
		[KD_PROBE_NOROUTE] = "no-route", [KD_PROBE_TIMEOUT] = "blocked",
		[KD_PROBE_ERROR] = "error",
	};
	struct probe_result *res = &dr->probes[idx];
	char target[64];

	res->result = words[o];
	res->ms = (double)at / 1000.0;
	snprintf(res->detail, sizeof(res->detail), "%s", err ? strerror(err) :
	    "connected");
	if ((o == KD_PROBE_DROPPED || o == KD_PROBE_TIMEOUT) &&
	    dr->first_blocked == 0)
		dr->first_blocked = at;
	if (o == KD_PROBE_ANSWERED) {
		kd_endpoint_text(&dr->targets.ep[idx], target, sizeof(target));
		dr->heard(dr, PE_LEAK, target);
	}
	if (dr->probes_left > 0 && --dr->probes_left == 0)
		dr->heard(dr, PE_BLOCKED_ALL, NULL);
}

static void
dprobe_unlink(struct dprobe *pr)
{
	struct dprobe **pp;

	for (pp = &pr->dr->inflight; *pp; pp = &(*pp)->next)
		if (*pp == pr) {
			*pp = pr->next;
			break;
		}
}

/* One of the drill's probes came to o (the probe itself is gone). */
static void
probe_done(void *arg, enum kd_probe_outcome o, int err)
{
	struct dprobe *pr = arg;
	struct drill *dr = pr->dr;
	enum probe_kind kind = pr->kind;
	uint64_t at = drill_since_t0(dr);

	dprobe_unlink(pr);
	/* the drill has ended meanwhile (its gate lapsed): nothing to prove */
	if (!dr->heard(dr, PE_ANSWER, NULL)) {
		free(pr);
		return;
	}
	switch (kind) {
	case PK_BLOCK:
		block_result(dr, pr->idx, o, err, at);
		break;
	case PK_MGMT:
		/* reachable: it took the connection */
		if (o == KD_PROBE_ANSWERED && err == 0)
			dr->mgmt_ok = at;
		snprintf(dr->mgmt.detail, sizeof(dr->mgmt.detail), "%s",
		    err ? strerror(err) : "connected");
		break;
	case PK_BACK:
		/* an answer of any kind: the network is back */
		if (o == KD_PROBE_ANSWERED && dr->back == 0)
			dr->back = at;
		break;
	}
	free(pr);
	if (kind == PK_BACK && !dr->starting && dr->inflight == NULL)
		dr->heard(dr, PE_BACK_ROUND, NULL);
}

/*
 * A probe of the drill: made as root, except the management check, made
 * as agent.user so that the drill's rules see kakurid's own connection.
 */
void
drill_probe_start(struct drill *dr, enum probe_kind kind, size_t idx,
    const struct kk_endpoint *ep)
{
	const struct kd_probe_ids own = { dr->d->own_uid, dr->d->own_gid };
	struct kd_probe *kp;
	struct dprobe *pr;

	if ((pr = calloc(1, sizeof(*pr))) == NULL)
		return;
	pr->dr = dr;
	pr->kind = kind;
	pr->idx = idx;
	pr->next = dr->inflight;
	dr->inflight = pr;
	kp = kd_probe_connect(dr->d->ev, ep, kind == PK_MGMT &&
	    dr->d->own_known ? &own : NULL, PROBE_TIMEOUT_USEC, probe_done, pr);
	/* NULL: the outcome was known at once, and pr is gone with it */
	if (kp != NULL)
		pr->p = kp;
}

void
drill_probes_cancel(struct drill *dr)
{
	struct dprobe *pr;

	while ((pr = dr->inflight) != NULL) {
		dr->inflight = pr->next;
		kd_probe_cancel(pr->p);
		free(pr);
	}
}

/*
 * DNS only to pinned resolvers: a query to a pinned one leaves, one to
 * another address (each probe's, port 53) is dropped on the way out.
 */
void
drill_dns_checks(struct drill *dr)
{
	static const uint8_t query[] = {	/* ". IN NS", id 0x6b6b */
		0x6b, 0x6b, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0,
		0x00, 0x00, 0x02, 0x00, 0x01,
	};
	const struct kk_policy *p = dr->d->policy;
	struct kk_endpoint ep;
	char target[64];
	const char *res;
	size_t i, n = p->dns.n + dr->targets.n;
	int e;

	dr->dns = json_array();
	for (i = 0; i < n && dr->dns; i++) {
		bool pinned = i < p->dns.n;

		ep.addr = pinned ? p->dns.addr[i] :
		    dr->targets.ep[i - p->dns.n].addr;
		ep.port = 53;
		kd_endpoint_text(&ep, target, sizeof(target));
		e = -kd_probe_datagram(&ep, query, sizeof(query));
		if (e == EPERM || e == EACCES) {
			res = "blocked";
			/* a datagram is refused at once: the first proof */
			if (!pinned && dr->first_blocked == 0)
				dr->first_blocked = drill_since_t0(dr);
		} else if (e != 0) {
			res = "error";
		} else {
			res = pinned ? "allowed" : "leak";
		}
		/* a pinned resolver blocked is no leak, only worth seeing */
		json_array_append_new(dr->dns, json_pack("{s:s, s:s, s:s}",
		    KW_TARGET, target, KW_RESULT, res,
		    KW_DETAIL, e ? strerror(e) : "sent"));
		if (!pinned && strcmp(res, "leak") == 0)
			dr->heard(dr, PE_LEAK, target);
	}
}

/* The endpoint the management check dials. */
void
drill_check_endpoint(struct drill *dr)
{
	const struct kk_policy *p = dr->d->policy;
	const char *text = p->drill_check[0] ? p->drill_check : p->collector;

	if (text[0] == '\0' || kk_endpoint_parse(text, &dr->check.addr,
	    &dr->check.port) < 0) {
		dr->check.addr = p->peers.addr[0];
		dr->check.port = p->mgmt_ports.port[0];
	}
	kd_endpoint_text(&dr->check, dr->check_text, sizeof(dr->check_text));
}
