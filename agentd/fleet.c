/*
 * The fleet transport in the root parent: the fleet child's row of the
 * children table (children.h, fleet.h).  The parent gives the child its
 * TLS key and fleet certificate (never the identity key), submits every
 * envelope the child passes on to the dispatcher as a signed request of
 * origin fleet, and answers with the receipt inside an out document that
 * names this agent's identity key, for the operator to check without a
 * TLS connection to us.  Isolation never depends on any of it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "children.h"
#include "courier.h"
#include "daemon.h"
#include "dispatch.h"
#include "fleet.h"
#include "log.h"
#include "netchild.h"
#include "run.h"
#include "sha256.h"
#include "wire.h"

#define FLEET_RESTART_MIN	(500ULL * 1000ULL)
#define FLEET_RESTART_MAX	(30ULL * 1000000ULL)
#define FLEET_HEALTHY		(30ULL * 1000000ULL)
#define FLEET_LOG_WINDOW	(10ULL * 1000000ULL)
#define FLEET_LOG_LINES		20
/*
 * What an out document and its MQTT packet add to a receipt, at most:
 * the identity certificate and its line breaks escaped, the envelope's
 * quotes escaped, the document's keys and agent id (127 bytes), the
 * topic, content type and headers (133), and room to spare.
 */
#define FLEET_DOC_SLACK(pemlen)	((size_t)(pemlen) + (pemlen) / 64 + 512)

struct kd_fleet {
	struct kd_child *child;
	uint8_t *cfg;			/* its TLS material, until it is sent */
	size_t cfglen;
	char state[160];		/* the child's word: connected, or why not */
	uint32_t packet_max;		/* the broker's, as the child says; 0: none */
	size_t identity_len;		/* the identity certificate's PEM */
	struct kd_fleet_sent sent;	/* handed to the child (fleet.h) */
	unsigned long asked_in_vain;	/* this child's asks of no receipt */
	bool off;
};

/*
 * The largest receipt that fits the broker's maximum packet size in an
 * out document, now (0: any, or no broker said one); a larger one is
 * signed again without its status and output (run.c), rather than
 * dropped by the child for ever.  Asked when a run finishes: an
 * evidence run outlasts a reconnect to a broker of another limit.  A
 * child taken over that says a small maximum gets brief receipts: it
 * could drop them all anyway.
 */
static size_t
receipt_max(const struct kd *d)
{
	const struct kd_fleet *fl = d->fleet;
	size_t slack;

	if (fl == NULL || fl->packet_max == 0)
		return 0;
	slack = FLEET_DOC_SLACK(fl->identity_len);
	return fl->packet_max > slack ? fl->packet_max - slack : 1;
}

_Static_assert(KD_FLEET_SENT_MAX >= 2 * KD_FLEET_PENDING_MAX,
    "a receipt the child keeps offline is kept here longer");

void
kd_fleet_sent_keep(struct kd_fleet_sent *s, const void *text, size_t len)
{
	struct kd_fleet_sent_one *o;

	if (len == 0)
		return;
	if (s->one == NULL &&
	    (s->one = calloc(KD_FLEET_SENT_MAX, sizeof(*s->one))) == NULL) {
		kk_log(LOG_ERR, KK_MID_ERROR, "fleet: no memory to keep what "
		    "was sent: a receipt the broker refuses later is dropped");
		return;
	}
	o = &s->one[s->next];
	o->len = len;
	kk_sha256(text, len, o->sum);
	s->next = (s->next + 1) % KD_FLEET_SENT_MAX;
}

bool
kd_fleet_sent_take(struct kd_fleet_sent *s, const void *text, size_t len)
{
	unsigned char sum[32];
	bool hashed = false;
	size_t i;

	for (i = 0; s->one != NULL && len > 0 && i < KD_FLEET_SENT_MAX; i++) {
		if (s->one[i].len != len)
			continue;
		if (!hashed) {
			kk_sha256(text, len, sum);
			hashed = true;
		}
		if (memcmp(s->one[i].sum, sum, sizeof(sum)) == 0) {
			s->one[i].len = 0;
			return true;
		}
	}
	return false;
}

void
kd_fleet_sent_clear(struct kd_fleet_sent *s)
{
	free(s->one);
	s->one = NULL;
	s->next = 0;
}

/* A receipt to the child, kept for a request to sign it brief. */
static void
fleet_send_receipt(struct kd_fleet *fl, uint32_t token, const char *receipt)
{
	size_t len = receipt != NULL ? strlen(receipt) : 0;

	kd_child_send(fl->child, KK_IPC_REPLY, token, receipt, len);
	kd_fleet_sent_keep(&fl->sent, receipt, len);
}

/*
 * A receipt, to the child that asked (it puts it into an out document);
 * none (no identity key, or a refusal of nothing summed up already): an
 * empty answer, which frees the child's place for the next command.
 */
static void
fleet_answer(struct kd *d, void *opaque, uint64_t token, struct kd_answer *a)
{
	struct kd_fleet *fl = d->fleet;

	if (fl == NULL || fl->child == NULL ||
	    (uint32_t)(token >> 32) != fl->child->gen)
		return;
	fleet_send_receipt(fl, (uint32_t)token, a->receipt);
}

/*
 * The child's broker, or an out document, will not take a receipt it was
 * handed (peer says which: "broker" or "document"): signed again
 * without its status and output, sent back as an answer to no command
 * (token 0), and kept in its turn as any other; a brief one the broker
 * does not take either comes back once more, and is dropped, said.
 */
static void
fleet_too_large(struct kd *d, const char *peer, const uint8_t *body,
    size_t blen)
{
	struct kd_fleet *fl = d->fleet;
	char *brief, said[32];
	int err;

	if (!kd_fleet_sent_take(&fl->sent, body, blen)) {
		/* said at the 1st, 2nd, 4th, ...: it can ask at any rate */
		fl->asked_in_vain++;
		if ((fl->asked_in_vain & (fl->asked_in_vain - 1)) == 0)
			kk_log(LOG_WARNING, KK_MID_ERROR, "fleet child: asked "
			    "to sign brief %zu bytes that are no receipt it "
			    "holds (asked already, or too old): ignored (%lu "
			    "so far)", blen, fl->asked_in_vain);
		return;
	}
	if ((err = kd_receipt_brief(d, (const char *)body, blen, &brief,
	    said, sizeof(said))) < 0) {
		kk_log(LOG_ERR, KK_MID_ERROR, "fleet broker: a receipt of %zu "
		    "bytes is more than it takes, and %s: dropped", blen,
		    kd_receipt_brief_why(err));
		return;
	}
	if (strcmp(peer, "document") != 0)
		kk_log(LOG_WARNING, KK_MID_ERROR, "fleet broker: a receipt of "
		    "%zu bytes is more than it takes now (its maximum packet "
		    "size %u): sent without its %s", blen,
		    (unsigned)fl->packet_max, said);
	else
		kk_log(LOG_WARNING, KK_MID_ERROR, "fleet: a receipt of %zu "
		    "bytes is more than an out document holds: sent without "
		    "its %s", blen, said);
	fleet_send_receipt(fl, 0, brief);
	free(brief);
}

/*
 * The actor of a command from the broker, as the audit names it: the
 * child says which of its topics the command came on, and the parent
 * writes the name from its own policy ("mqtt:agent", "mqtt:group/G").  A
 * child taken over cannot write another origin's actor into the audit
 * ("tls:ADDR", "local:uid=0"), nor a group's name it was not given: what
 * is not one of this agent's topics is "mqtt:?".
 */
_Static_assert(KK_MAX_GROUPS <= 100, "a group's place is one or two digits");

void
kd_fleet_via(const struct kk_grouplist *groups, const char *peer, char *via,
    size_t len)
{
	static const char group[] = KD_FLEET_VIA_GROUP;
	const char *n;
	size_t nl;

	if (strcmp(peer, "mqtt:agent") == 0) {
		snprintf(via, len, "%s", peer);
		return;
	}
	if (strncmp(peer, group, sizeof(group) - 1) == 0) {
		n = peer + sizeof(group) - 1;
		nl = strlen(n);
		/* "0" to "99", no sign, space or leading zero: a place */
		if (nl >= 1 && nl <= 2 && strspn(n, "0123456789") == nl &&
		    (nl == 1 || n[0] != '0') &&
		    strtoul(n, NULL, 10) < groups->n) {
			snprintf(via, len, "mqtt:group/%s",
			    groups->name[strtoul(n, NULL, 10)]);
			return;
		}
	}
	snprintf(via, len, "mqtt:?");
}

static void
fleet_message(struct kd *d, struct kd_child *c, const struct kk_ipc_hdr *h,
    const uint8_t *body, size_t blen)
{
	struct kd_fleet *fl = d->fleet;
	struct kd_req req;
	char via[96];
	size_t i;
	bool was_up;

	kd_fleet_via(&d->policy->fleet_groups, h->peer, via, sizeof(via));
	req = (struct kd_req){ .origin = KD_ORIGIN_FLEET, .actor = via,
	    .reply = fleet_answer, .token = (uint64_t)c->gen << 32 | h->conn,
	    .receipt_max = receipt_max };
	switch (h->type) {
	case KK_IPC_ENVELOPE:
		kd_submit_envelope(d, &req, body, blen);
		break;
	case KK_IPC_STATE:
		was_up = kd_fleet_courier(d) != NULL;
		/* its words, for status: printable ASCII only */
		for (i = 0; i < blen && i < sizeof(fl->state) - 1; i++)
			fl->state[i] = body[i] >= 0x20 && body[i] < 0x7f ?
			    (char)body[i] : '?';
		fl->state[i] = '\0';
		/* connected now: what waits in the outbox may go */
		if (!was_up && kd_fleet_courier(d) != NULL)
			kd_courier_transport_up(d);
		break;
	case KK_IPC_PACKET_MAX:
		/* said at each connect, before the commands of the session */
		if (blen != sizeof(fl->packet_max)) {
			kd_child_kill(c, "sent a maximum packet size of the "
			    "wrong length");
			break;
		}
		memcpy(&fl->packet_max, body, blen);
		break;
	case KK_IPC_TOO_LARGE:
		fleet_too_large(d, h->peer, body, blen);
		break;
	case KK_IPC_ACK:
	case KK_IPC_REJECT:
		/* the courier's transport: answers to its deliveries */
		kd_courier_answer(d, c, h, body, blen);
		break;
	default:
		kd_child_other(c, h, body, blen);
		break;
	}
}

static void
fleet_gone(struct kd *d, struct kd_child *c)
{
	snprintf(d->fleet->state, sizeof(d->fleet->state), "restarting");
	/* the next child says the broker's limit again, and holds no receipt */
	d->fleet->packet_max = 0;
	kd_fleet_sent_clear(&d->fleet->sent);
	d->fleet->asked_in_vain = 0;
	/* its batch of reports has no answers coming: tried again */
	kd_courier_transport_gone(d, c);
}

static int
fleet_off(struct kd *d, int r, const char *why)
{
	struct kd_fleet *fl = d->fleet;

	if (strcmp(fl->state, why) != 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "fleet broker: %s", why);
	snprintf(fl->state, sizeof(fl->state), "%s", why);
	return r;
}

/*
 * The fleet child runs with a broker and the agent's identity: it is
 * also the way reports leave (report_via), which a trust.conf that does
 * not load must not cut (the tamper alert of it among them).  Commands
 * it passes on are refused meanwhile (dispatch.c: signed commands off).
 */
static bool
fleet_wanted(const struct kd *d)
{
	return d->policy->fleet_broker[0] != '\0' && d->agent_key != NULL;
}

static int
fleet_entry(struct kd *d, struct kd_child *c, pid_t *pid, int *ipc,
    int *logfd, bool *retry)
{
	struct kd_fleet *fl = d->fleet;
	struct kd_fleet_config cfg;
	struct kk_addr addr;
	uid_t uid;
	gid_t gid;
	char err[300] = "", why[320], *pem = NULL;
	size_t i, pemlen = 0;
	int r;

	if (!fleet_wanted(d)) {
		fl->off = true;
		return fleet_off(d, -ENOKEY, "off");
	}
	fl->off = false;
	*retry = true;
	if (kd_child_user(d, &uid, &gid, why, sizeof(why)) < 0)
		return fleet_off(d, -ENOENT, why);
	memset(&cfg, 0, sizeof(cfg));
	if (kk_endpoint_parse(d->policy->fleet_broker, &addr, &cfg.port) < 0 ||
	    kk_addr_format(&addr, cfg.host, sizeof(cfg.host)) < 0)
		return fleet_off(d, -EINVAL, "fleet.broker is not ADDR:PORT");
	snprintf(cfg.agent_id, sizeof(cfg.agent_id), "%s", d->agent_id);
	cfg.ngroups = (uint32_t)d->policy->fleet_groups.n;
	for (i = 0; i < d->policy->fleet_groups.n; i++)
		snprintf(cfg.groups[i], sizeof(cfg.groups[i]), "%s",
		    d->policy->fleet_groups.name[i]);
	if ((r = kk_pem_read(d->policy->cert, &pem, &pemlen)) < 0 ||
	    pemlen >= sizeof(cfg.identity)) {
		snprintf(why, sizeof(why), "%.200s: %s", d->policy->cert,
		    r < 0 ? strerror(-r) : "too large");
		kk_pem_free(pem);
		return fleet_off(d, r < 0 ? r : -EFBIG, why);
	}
	memcpy(cfg.identity, pem, pemlen);
	kk_pem_free(pem);
	fl->identity_len = pemlen;
	if ((r = kd_fleet_material(d, cfg.host, &cfg, sizeof(cfg), &fl->cfg,
	    &fl->cfglen, err, sizeof(err))) < 0)
		return fleet_off(d, r, err);
	r = kk_child_spawn("--fleet-child", -1, uid, gid, pid,
	    ipc, logfd, err, sizeof(err));
	if (r < 0) {
		kd_tls_material_forget(&fl->cfg, &fl->cfglen);
		return fleet_off(d, r, err);
	}
	snprintf(fl->state, sizeof(fl->state), "connecting");
	kk_log(LOG_INFO, KK_MID_START, "fleet broker %s (fleet child %d, uid %u)",
	    d->policy->fleet_broker, (int)*pid, (unsigned)uid);
	return 0;
}

static void
fleet_started(struct kd *d, struct kd_child *c)
{
	kd_child_send(c, KK_IPC_CONFIG, 0, d->fleet->cfg, d->fleet->cfglen);
	kd_tls_material_forget(&d->fleet->cfg, &d->fleet->cfglen);
}

static const struct kd_child_kind fleet_kind = {
	.name = "fleet child",
	.entry = fleet_entry,
	.started = fleet_started,
	.message = fleet_message,
	.gone = fleet_gone,
	.backoff = { FLEET_RESTART_MIN, FLEET_RESTART_MAX, FLEET_HEALTHY },
	.log = { FLEET_LOG_LINES, FLEET_LOG_WINDOW },
};

int
kd_fleet_start(struct kd *d)
{
	struct kd_fleet *fl;

	if (!fleet_wanted(d))
		return 0;
	if (d->fleet == NULL) {
		if ((fl = calloc(1, sizeof(*fl))) == NULL)
			return -ENOMEM;
		if ((fl->child = kd_child_new(d, &fleet_kind, fl)) == NULL) {
			free(fl);
			return -ENOMEM;
		}
		d->fleet = fl;
	}
	kd_child_start(d->fleet->child);
	return 0;
}

int
kd_fleet_reload(struct kd *d)
{
	if (d->fleet == NULL)
		return kd_fleet_start(d);
	if (!fleet_wanted(d)) {
		kd_child_halt(d->fleet->child);
		snprintf(d->fleet->state, sizeof(d->fleet->state), "off");
		return 0;
	}
	if (kd_child_running(d->fleet->child))
		kd_child_restart(d->fleet->child);
	else
		kd_child_start(d->fleet->child);
	return 0;
}

struct kd_child *
kd_fleet_courier(struct kd *d)
{
	struct kd_fleet *fl = d->fleet;

	if (fl == NULL || !kd_child_running(fl->child) ||
	    strncmp(fl->state, KD_FLEET_CONNECTED,
	    strlen(KD_FLEET_CONNECTED)) != 0)
		return NULL;
	return fl->child;
}

json_t *
kd_fleet_json(struct kd *d)
{
	json_t *o;

	if (d->policy->fleet_broker[0] == '\0')
		return NULL;
	o = json_pack("{s:s, s:s}", KW_BROKER, d->policy->fleet_broker,
	    KW_STATE, d->fleet != NULL ? d->fleet->state : d->agent_key != NULL ?
	    "starting" : "off (no identity key)");
	/* a receipt larger than it allows goes brief (run.c) */
	if (o != NULL && d->fleet != NULL && d->fleet->packet_max != 0)
		json_object_set_new(o, KW_PACKET_MAX,
		    json_integer((json_int_t)d->fleet->packet_max));
	return o;
}

void
kd_fleet_stop(struct kd *d)
{
	struct kd_fleet *fl = d->fleet;

	if (fl == NULL)
		return;
	kd_child_free(fl->child);
	kd_tls_material_forget(&fl->cfg, &fl->cfglen);
	kd_fleet_sent_clear(&fl->sent);
	free(fl);
	d->fleet = NULL;
}
