/*
 * The dispatcher: the verb table (DESIGN 3 and 4), and the one path
 * every request takes through it (see dispatch.h).
 *
 * Transports (control.c, channel.c, kakurid.c for start and --restore)
 * submit requests here and get their answers through a callback; the
 * verbs' handlers (act_*.c) below never call back up.  A
 * signed request is checked first (signed.c: the DESIGN 4 order, the id
 * recorded before anything runs), then goes the same way as the others:
 * its row decides, then its handler runs.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "act.h"
#include "daemon.h"
#include "dispatch.h"
#include "log.h"
#include "resolver.h"
#include "run.h"
#include "signed.h"
#include "tally.h"
#include "wire.h"

#define LOCAL	KD_FROM(KD_ORIGIN_LOCAL)
/* Origins whose requests carry a CSIRT signature, checked by signed.c. */
#define SIGNED	(KD_FROM(KD_ORIGIN_APPLY) | KD_FROM(KD_ORIGIN_REMOTE) | \
		    KD_FROM(KD_ORIGIN_FLEET))
#define ANYONE	(KD_CLASS(KK_PEER_ROOT) | KD_CLASS(KK_PEER_STAFF) | \
		    KD_CLASS(KK_PEER_OTHER))
#define STAFF	(KD_CLASS(KK_PEER_ROOT) | KD_CLASS(KK_PEER_STAFF))
#define ROOT	KD_CLASS(KK_PEER_ROOT)
#define RELEASE_TOO	(UINT32_C(1) << KK_ACT_RELEASE)

/*
 * Who may do what (DESIGN 3), and what each signed action needs (DESIGN
 * 4).  Isolating is the safe direction, releasing is not: release, thaw
 * and unblock are accepted from signed origins only, with the release
 * threshold besides their own; locally there is the staff's disconnect
 * button.  fetch only over the channel that can carry its chunks.  A row
 * without a handler is a verb of a later version.
 */
static const struct kd_verb verbs[] = {
	{ .name = "status", .origins = LOCAL | SIGNED, .local = ANYONE,
	    .action = KK_ACT_STATUS, .run = kd_act_status },
	{ .name = "log", .origins = LOCAL, .local = ANYONE,
	    .action = KD_NO_ACTION, .run = kd_act_log },
	/* the outbox holds employees' reports: not for every local user */
	{ .name = "outbox", .origins = LOCAL, .local = STAFF,
	    .action = KD_NO_ACTION, .run = kd_act_outbox,
	    .denied = "only members of the staff group and root may read "
	    "the outbox" },
	/*
	 * anyone may hand over a signed command: the signature decides, not
	 * the caller; control.c submits the envelope as origin apply
	 */
	{ .name = "apply", .origins = LOCAL, .local = ANYONE,
	    .action = KD_NO_ACTION },
	{ .name = "disconnect", .origins = LOCAL, .local = STAFF,
	    .action = KD_NO_ACTION, .run = kd_act_disconnect,
	    .denied = "only members of the staff group and root may press "
	    "disconnect" },
	/* any local user may report (issue 10); pressing with it is staff's */
	{ .name = "report", .origins = LOCAL, .local = ANYONE,
	    .action = KD_NO_ACTION, .run = kd_act_report },
	{ .name = "isolate", .origins = SIGNED, .action = KK_ACT_ISOLATE,
	    .run = kd_act_isolate },
	{ .name = "release", .origins = SIGNED, .action = KK_ACT_RELEASE,
	    .also = RELEASE_TOO, .run = kd_act_release },
	{ .name = "freeze", .origins = SIGNED, .action = KK_ACT_FREEZE,
	    .run = kd_act_freeze },
	{ .name = "thaw", .origins = SIGNED, .action = KK_ACT_THAW,
	    .also = RELEASE_TOO, .run = kd_act_thaw },
	{ .name = "snapshot", .origins = SIGNED, .action = KK_ACT_SNAPSHOT,
	    .run = kd_act_snapshot },
	{ .name = "collect", .origins = SIGNED, .action = KK_ACT_COLLECT,
	    .run = kd_act_collect },
	{ .name = "fetch", .origins = KD_FROM(KD_ORIGIN_REMOTE),
	    .action = KK_ACT_FETCH, .run = kd_act_fetch },
	/* drills (issue 11): started and stopped by root or the drill role */
	{ .name = "drill", .origins = LOCAL | SIGNED, .local = ROOT,
	    .action = KK_ACT_DRILL, .run = kd_act_drill,
	    .denied = "only root may start or stop a drill locally" },
	{ .name = "drill-history", .origins = LOCAL, .local = STAFF,
	    .action = KD_NO_ACTION, .run = kd_act_drill_history,
	    .denied = "only members of the staff group and root may read "
	    "the drill history" },
	/* kakurictl watch: what an employee saw and did during a drill */
	{ .name = "drill-event", .origins = LOCAL, .local = ANYONE,
	    .action = KD_NO_ACTION, .run = kd_act_drill_event },
	/* kakurictl watch: control.c keeps the connection for the events */
	{ .name = "watch", .origins = LOCAL, .local = ANYONE,
	    .action = KD_NO_ACTION },
	/* IOC block lists (issue 12): signed only; ending one is a release */
	{ .name = "block", .origins = SIGNED, .action = KK_ACT_BLOCK,
	    .run = kd_act_block },
	{ .name = "unblock", .origins = SIGNED, .action = KK_ACT_UNBLOCK,
	    .also = RELEASE_TOO, .run = kd_act_unblock },
	/* what state.json and the kernel say, in force: at start and at boot */
	{ .name = "adopt", .origins = KD_FROM(KD_ORIGIN_START) |
	    KD_FROM(KD_ORIGIN_RESTORE), .action = KD_NO_ACTION,
	    .run = kd_act_adopt },
};

const struct kd_verb *
kd_verb_table(size_t *n)
{
	*n = sizeof(verbs) / sizeof(verbs[0]);
	return verbs;
}

const struct kd_verb *
kd_verb_find(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	return NULL;
}

const struct kd_verb *
kd_verb_of_action(enum kk_action a)
{
	size_t i;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].action != KD_NO_ACTION &&
		    verbs[i].action == (int)a)
			return &verbs[i];
	return NULL;
}

uint32_t
kd_verb_also_needs(enum kk_action a)
{
	const struct kd_verb *v = kd_verb_of_action(a);

	return v != NULL ? v->also : 0;
}

const char *
kd_verb_origin_refusal(enum kk_action a, int origin)
{
	const struct kd_verb *v = kd_verb_of_action(a);

	/* an action without a row is refused after, as unsupported */
	return v != NULL ? kd_verb_refusal(v, (enum kd_origin)origin,
	    KK_PEER__MAX) : NULL;
}

enum kk_peer_class
kd_peer_class(const struct kd *d, const struct kk_cred *c)
{
	enum kk_peer_class cls = kk_peer_class(c, d->staff_known,
	    d->staff_gid);

	/*
	 * agent.user is what kakurid's children run as, its group their
	 * gid, and the shipped policy makes that group staff_group: a
	 * compromised child (the courier's TLS, an NSS module of the
	 * resolver) would be staff.  Nothing of kakuri's is staff as it.
	 */
	if (cls == KK_PEER_STAFF && d->own_known && d->own_uid != 0 &&
	    c->uid == d->own_uid)
		cls = KK_PEER_OTHER;
	return cls;
}

const char *
kd_local_refusal(enum kk_op op, enum kk_peer_class cls,
    const struct kd_verb **verb)
{
	const struct kd_verb *v = NULL;

	if ((unsigned)op < KK_OP__MAX)
		v = kd_verb_find(kk_op_name(op));
	if (verb != NULL)
		*verb = v;
	if (v == NULL)
		return KE_UNKNOWN_COMMAND;
	return kd_verb_refusal(v, KD_ORIGIN_LOCAL, cls);
}

const char *
kd_verb_refusal(const struct kd_verb *v, enum kd_origin o,
    enum kk_peer_class cls)
{
	if ((unsigned)o >= KD_ORIGIN__MAX)
		return KE_UNAVAILABLE;
	if (!(v->origins & KD_FROM(o)))
		return !kd_origin_signed(o) && (v->origins & SIGNED) ?
		    KE_SIGNATURE_REQUIRED : KE_UNAVAILABLE;
	if (o == KD_ORIGIN_LOCAL && ((unsigned)cls >= KK_PEER__MAX ||
	    !(v->local & KD_CLASS(cls))))
		return KE_NOT_AUTHORIZED;
	return NULL;
}

/*
 * What a refused request is told, in words a person can act on.  A local
 * refusal is also counted per uid (tally.c): a flood is one line.
 */
static void
refuse(struct run *r, const char *name, const char *why,
    const struct kk_cred *cred)
{
	const struct kd_verb *v = r->verb;
	char msg[256];

	if (strcmp(why, KE_SIGNATURE_REQUIRED) == 0 && (v->also & RELEASE_TOO))
		snprintf(msg, sizeof(msg), "%s is never possible locally: ask "
		    "your CSIRT for a signed %s token for this episode and hand "
		    "it over with 'kakurictl apply FILE'", v->name, v->name);
	else if (strcmp(why, KE_SIGNATURE_REQUIRED) == 0)
		snprintf(msg, sizeof(msg), "%s needs a CSIRT signature: hand a "
		    "signed command over with 'kakurictl apply FILE'", v->name);
	else if (strcmp(why, KE_NOT_AUTHORIZED) == 0)
		snprintf(msg, sizeof(msg), "%s", v->denied ? v->denied :
		    "not authorized");
	else if (v->origins == KD_FROM(KD_ORIGIN_REMOTE))
		snprintf(msg, sizeof(msg), "%s works over the CSIRT channel only",
		    v->name);
	else
		snprintf(msg, sizeof(msg), "%s is not accepted from %s requests",
		    v->name, kd_origin_name(r->origin));
	kd_run_reject(r, why, msg);
	if (r->origin == KD_ORIGIN_LOCAL)
		kd_tally_refused(r->d, cred->uid, r->pid, r->local_class, name,
		    why, NULL);
}

/* The verb asked for: its row decides, then its handler runs. */
static void
dispatch(struct run *r, const char *name, const struct kk_cred *cred)
{
	struct kd *d = r->d;
	bool local = r->origin == KD_ORIGIN_LOCAL;
	const char *why;
	int err;

	r->local_class = local ? (int)kd_peer_class(d, cred) : KK_PEER__MAX;
	if (name == NULL || (r->verb = kd_verb_find(name)) == NULL) {
		kd_run_reject(r, local ? (name ? KE_UNKNOWN_COMMAND :
		    KE_MALFORMED) : KE_UNKNOWN_ACTION, name ? "unknown command" :
		    "request must be a JSON object with \"cmd\"");
		if (local)
			kd_tally_refused(d, cred->uid, r->pid, r->local_class,
			    "control", r->reason, name ? json_pack("{s:s}", KW_CMD, name) :
			    NULL);
		goto done;
	}
	why = kd_verb_refusal(r->verb, r->origin, r->local_class);
	if (why != NULL) {
		refuse(r, name, why, cred);
		goto done;
	}
	if (r->verb->run == NULL) {
		if (local) {
			kd_run_reject(r, KE_NOT_AVAILABLE, "this command is "
			    "not available in this version of kakurid");
			kd_tally_refused(d, cred->uid, r->pid, r->local_class,
			    name, r->reason, NULL);
		} else {
			kd_run_reject(r, KE_UNSUPPORTED_ACTION,
			    "this agent version cannot do that yet");
		}
		goto done;
	}
	/*
	 * the actor of a local request, once it is accepted: the name known
	 * now, never waited for (resolver.h)
	 */
	if (local && r->via[0] == '\0')
		kd_local_actor(d, cred->uid, r->pid, r->via, sizeof(r->via));
	r->result = KR_DONE;
	err = r->verb->run(r);
	if (err < 0 && strcmp(r->result, KR_DONE) == 0)
		r->result = KR_FAILED;
	if (err == KD_RUN_PENDING) {
		/* its worker calls kd_run_finish */
		r->next = d->runs;
		d->runs = r;
		return;
	}
done:
	kd_run_finish(r);
}

/* A run for req; without memory, req is answered with nothing. */
static struct run *
run_for(struct kd *d, const struct kd_req *req)
{
	struct kd_answer none = { NULL, NULL, NULL };
	struct run *r;

	r = kd_run_new(d, req->origin, req->actor ? req->actor : "",
	    req->reply, req->opaque, req->token);
	if (r == NULL) {
		req->reply(d, req->opaque, req->token, &none);
		return NULL;
	}
	r->pid = req->pid;
	r->start_time = req->start_time;
	r->receipt_max = req->receipt_max;
	if (req->cred != NULL)
		r->uid = req->cred->uid;
	return r;
}

void
kd_submit(struct kd *d, const struct kd_req *req)
{
	struct run *r;

	if ((r = run_for(d, req)) == NULL)
		return;
	r->args = json_incref(req->args);
	dispatch(r, req->verb, req->cred);
}

/*
 * Failed signature verifications, a budget in time for the envelopes of
 * each signed origin (the CSIRT channel, the fleet broker, kakurictl
 * apply: a flood through one spends none of another's).  An honest
 * signature whose keyid names its signer costs one verification that
 * succeeds; a failure is a signature made by no key it names
 * (kk_trust_signers tries the others, 128 failures at most an envelope,
 * some 8 ms of the parent's time), weighed by the payload each reads (a
 * block list's up to 16 MiB: a 64 KiB unit each).  A network or fleet
 * child taken over, a hostile broker or a peer with a certificate of the
 * CSIRT CA can send envelopes of garbage signatures as fast as it likes:
 * once the budget is spent, signatures are tried with the keys they name
 * only (two failures at most an envelope, as for a block list) until it
 * has refilled to half.  Honest commands whose keyids name their signers
 * still verify meanwhile; one whose keyids do not is refused
 * (signature-budget), to be sent again.
 */
#define VERIFY_FAILS_SAID_USEC	(60ULL * 1000000)	/* a line at most */

_Static_assert(KD_ORIGIN_APPLY < 4 && KD_ORIGIN_REMOTE < 4 &&
    KD_ORIGIN_FLEET < 4, "a budget for each signed origin");

enum kd_budget_turn
kd_verify_fails_at(struct kd_verify_fails *v, uint64_t now)
{
	uint64_t add;

	if (v->at == 0) {
		v->at = now;
		v->left = KD_VERIFY_FAILS_BURST;
	}
	/* a clock that went back (it does not) refills nothing */
	add = now > v->at ? (now - v->at) * KD_VERIFY_FAILS_PER_S / 1000000 :
	    0;
	if (add > 0) {
		/* whole failures only: the rest of the time counts later */
		v->at += add * 1000000 / KD_VERIFY_FAILS_PER_S;
		v->left = add >= KD_VERIFY_FAILS_BURST - v->left ?
		    KD_VERIFY_FAILS_BURST : v->left + (unsigned)add;
	}
	if (!v->spent && v->left < KK_TRUST_FAIL_BUDGET) {
		v->spent = true;
		return KD_BUDGET_SPENT;
	}
	if (v->spent && v->left >= KD_VERIFY_FAILS_BURST / 2) {
		v->spent = false;
		return KD_BUDGET_REFILLED;
	}
	return KD_BUDGET_SAME;
}

void
kd_verify_fails_take(struct kd_verify_fails *v, uint64_t cost)
{
	v->left -= cost < v->left ? (unsigned)cost : v->left;
}

uint64_t
kd_verify_fails_cost(unsigned failures, size_t payload_len)
{
	/* each failure read the payload: a unit each 64 KiB, one at least */
	return (uint64_t)failures * (payload_len <= KK_COMMAND_MAX ? 1 :
	    (payload_len + KK_COMMAND_MAX - 1) / KK_COMMAND_MAX);
}

/*
 * Whether v's budget is spent, now.  Its spending is said a minute apart
 * at most, and each time said, its end.
 */
static bool
verify_fails_spent(struct kd_verify_fails *v, const char *origin)
{
	uint64_t now = kd_now_usec();

	if (kd_verify_fails_at(v, now) == KD_BUDGET_REFILLED) {
		if (v->told)
			kk_log(LOG_NOTICE, KK_MID_REFUSED, "signed commands "
			    "(%s): the budget of failed signature "
			    "verifications has refilled", origin);
		v->told = false;
	}
	/* spent, and nothing said of it within the minute: said now */
	if (v->spent && !v->told && (v->said_at == 0 ||
	    now - v->said_at >= VERIFY_FAILS_SAID_USEC)) {
		v->said_at = now;
		v->told = true;
		kk_log(LOG_WARNING, KK_MID_REFUSED, "signed commands (%s): the "
		    "budget of %u failed signature verifications is spent: "
		    "each signature is tried with the key it names only, until "
		    "it has refilled (%u a second)", origin,
		    KD_VERIFY_FAILS_BURST, KD_VERIFY_FAILS_PER_S);
	}
	return v->spent;
}

void
kd_submit_envelope(struct kd *d, const struct kd_req *req, const uint8_t *buf,
    size_t len)
{
	const struct kd_replay_store store =
	    kd_replay_store_disk(d->replay_dir);
	struct kd_signed_input in = {
		.buf = buf, .len = len, .trust = d->trust,
		.agent_id = d->agent_id, .clock_skew = d->policy->clock_skew,
		.max_lifetime = d->policy->max_lifetime,
		.groups = &d->policy->fleet_groups,
		.also_needs = kd_verb_also_needs,
		.origin_refusal = kd_verb_origin_refusal, .origin = req->origin,
		.replay = &store,
		.now = time(NULL),
	};
	struct kd_signed_result res;
	struct kd_verify_fails *v;
	struct run *r;
	int err;

	if ((r = run_for(d, req)) == NULL)
		return;
	if (!kd_origin_signed(r->origin) || !d->remote_ready) {
		kd_run_reject(r, KE_UNAVAILABLE, d->remote_err);
		kd_run_finish(r);
		return;
	}
	/* a signed origin, or none: the named keys only, uncounted */
	v = (unsigned)r->origin < sizeof(d->verify_fails) /
	    sizeof(d->verify_fails[0]) ? &d->verify_fails[r->origin] : NULL;
	in.named_only = v == NULL ||
	    verify_fails_spent(v, kd_origin_name(r->origin));
	err = kd_signed_check(&in, &res);
	if (v != NULL)
		kd_verify_fails_take(v, kd_verify_fails_cost(res.failures,
		    res.payload_len));
	if (res.have_cmd) {
		r->cmd = res.cmd;
		r->have_cmd = true;
		r->args = json_incref(r->cmd.args);
	}
	if (err < 0) {
		r->result = err == -EACCES ? KR_REJECTED : KR_FAILED;
		r->reason = res.reason;
		snprintf(r->detail, sizeof(r->detail), "%s", res.detail);
		kd_run_finish(r);
		return;
	}
	dispatch(r, kk_action_name(r->cmd.action), NULL);
}

void
kd_submit_refused(struct kd *d, const struct kd_req *req, const char *reason,
    const char *detail)
{
	struct run *r;

	if ((r = run_for(d, req)) == NULL)
		return;
	kd_run_reject(r, reason, detail);
	kd_run_finish(r);
}
