/*
 * The quarantine core: the mode state machine (open, egress, isolated),
 * the episode and state.json, adoption at start and at boot, and the
 * watch that keeps the quarantine holding.
 *
 * Its enforcers (enforcer.h) are applied in order, verified together and
 * released in the reverse order; nftables is the first.  Nothing is
 * reported done before it was read back from the kernel, and a state
 * that could not be saved is a failure even when the tables are in
 * force: after a reboot, only state.json says what to restore.
 *
 * Whether the tables hold is checked on nftables events and on a timer,
 * never on events alone (an owner table vanishes with its socket without
 * any event); a difference is restored at once and makes a tamper
 * incident (alerts.c); the interface watch (linkwatch.c) says what the
 * tables cannot cover.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <systemd/sd-daemon.h>

#include "adopt.h"
#include "alerts.h"
#include "daemon.h"
#include "events.h"
#include "drill.h"
#include "lean.h"
#include "linkwatch.h"
#include "log.h"
#include "quarantine.h"
#include "record.h"
#include "tables.h"
#include "uevent.h"
#include "wire.h"

/*
 * While the tables hold: one GETGEN round trip now and then.  Every commit
 * in the namespace reaches the monitor at once, and a lost event is an
 * overrun (ENOBUFS) that verifies at once too (on_nft_event); the timer
 * is the backstop behind both, so an idle kakurid sleeps between.  A
 * commit made while the monitor was out of the group for kakurid's own
 * batch has no event: the generation counts it, and a defer source acts
 * on it at once (verify_now, nft/send.c).  What
 * has no event at all (a squatter's owner table vanishing with its socket)
 * is the retry below, which keeps its fast backoff.
 */
#define VERIFY_PERIOD_USEC	(5ULL * 1000 * 1000)
#define VERIFY_ACCURACY_USEC	(1000ULL * 1000)
/* the tamper monitor: block lists' elements dumped at most this often */
#define DUMP_MIN_USEC		(1000ULL * 1000)
#define RETRY_MIN_USEC		(20ULL * 1000)
#define RETRY_MAX_USEC		(1000ULL * 1000)

/* The tables: what the tamper watch restores. */
static const struct kd_enforcer *const tables = &kd_tables_enforcer;

void
kd_quarantine_notify(struct kd *d)
{
	sd_notifyf(0, "STATUS=%s%s%s", kk_mode_name(d->state.mode),
	    d->state.episode[0] ? ", episode " : "", d->state.episode);
}

/*
 * state.json follows d->state.  A save that fails leaves d->state_dirty
 * set, and the next disconnect or change tries again.  The error goes
 * into d->nft.err too: that is what replies and receipts quote.
 */
static int
save_state(struct kd *d)
{
	int err;

	d->state_dirty = true;
	err = kk_state_save(d->state_path, &d->state);
	if (err < 0) {
		kk_log(LOG_ERR, KK_MID_ERROR, "saving %s: %s", d->state_path,
		    strerror(-err));
		snprintf(d->nft.err, sizeof(d->nft.err),
		    "the table is in force but state.json could not be saved: %s",
		    strerror(-err));
		return err;
	}
	d->state_dirty = false;
	return 0;
}

/* The mode as it is now, to the watchers (kakurictl watch). */
static void
emit_mode(struct kd *d)
{
	char since[32] = "";
	json_t *ev;

	if (d->state.since)
		kk_rfc3339(d->state.since, since, sizeof(since));
	ev = json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:b}", KW_EVENT, KW_MODE,
	    KW_MODE, kk_mode_name(d->state.mode),
	    KW_EPISODE, d->state.episode[0] ? d->state.episode : NULL,
	    KW_SINCE, since[0] ? since : NULL,
	    KW_BY, d->state.by[0] ? d->state.by : NULL,
	    KW_DRILL, kd_drill_running(d));
	if (ev != NULL)
		kd_events_emit(d, ev);
	json_decref(ev);
}

static void foreign_look(struct kd *d, uint32_t gen, bool gen_ok);

/*
 * Enter a quarantine mode.  Isolating is idempotent: the same or a
 * weaker request while already quarantined changes nothing (the kernel is
 * still checked).  *changed tells whether anything was applied.  A state
 * that could not be saved is a failure even when the table is in force:
 * after a reboot only state.json says what to restore.
 */
int
kd_enter_mode(struct kd *d, enum kk_mode mode, const char *by, const char *reason,
    const char *episode, bool *changed)
{
	struct kk_state next = d->state;
	int err;

	*changed = false;
	if (mode <= d->state.mode && d->state.mode != KK_MODE_OPEN) {
		/* the network holds: a later enforcer is put right, if need be */
		if (kd_enforcers_hold(d) == 0)
			return d->state_dirty ? save_state(d) : 0;
		kk_log(LOG_WARNING, KK_MID_TAMPER,
		    "table differs from state (%s): re-applying", d->nft.err);
		mode = d->state.mode;
	}
	if (d->state.mode == KK_MODE_OPEN || next.episode[0] == '\0') {
		/* the CSIRT's own (a campaign's, for a group), or a new one */
		if (episode != NULL && episode[0] != '\0')
			snprintf(next.episode, sizeof(next.episode), "%s",
			    episode);
		else if ((err = kk_episode_new(next.episode)) < 0)
			return err;
	}
	if (mode != d->state.mode) {
		next.mode = mode;
		next.since = time(NULL);
		/* cut on a character boundary: a split one cannot be saved */
		kk_text_clean(next.by, sizeof(next.by), by, strlen(by));
		kk_text_clean(next.reason, sizeof(next.reason), reason ?
		    reason : "", reason ? strlen(reason) : 0);
	}
	err = kd_enforcers_apply(d, next.mode, next.episode);
	if (err < 0)
		return err;
	if (d->state.mode == KK_MODE_OPEN)
		d->foreign_primed = false;
	d->state = next;
	*changed = true;
	/* a chain put there before the quarantine counts from its start */
	foreign_look(d, d->verified_gen, d->gen_valid);
	kd_quarantine_notify(d);
	err = save_state(d);
	emit_mode(d);
	return err;
}

/*
 * End the quarantine named by episode: only a verified CSIRT command
 * reaches this (the verb table, dispatch.c); the control socket never
 * does.
 */
int
kd_release(struct kd *d, const char *episode, const char *by,
    const char *reason)
{
	struct kk_state next, prev;
	bool was_dirty;
	int err;

	if (d->state.mode == KK_MODE_OPEN)
		return -ENOENT;
	if (strcmp(episode, d->state.episode) != 0)
		return -ESTALE;
	err = kd_enforcers_release(d);
	if (err < 0)
		return err;
	memset(&next, 0, sizeof(next));
	next.mode = KK_MODE_OPEN;
	next.since = time(NULL);
	kk_text_clean(next.by, sizeof(next.by), by, strlen(by));
	kk_text_clean(next.reason, sizeof(next.reason), reason ? reason : "",
	    reason ? strlen(reason) : 0);
	prev = d->state;
	was_dirty = d->state_dirty;
	d->state = next;
	if ((err = save_state(d)) < 0) {
		/*
		 * state.json still says quarantined: put the table back, so
		 * that a release is either done and saved or not done.
		 */
		d->state = prev;
		d->state_dirty = was_dirty;
		if (kd_enforcers_apply(d, prev.mode, prev.episode) < 0)
			kk_log(LOG_CRIT, KK_MID_APPLY,
			    "release not saved and %s could not be restored: %s",
			    kk_mode_name(prev.mode), d->nft.err);
		snprintf(d->nft.err, sizeof(d->nft.err),
		    "not released: state.json could not be saved (%s); the quarantine stays",
		    strerror(-err));
		return err;
	}
	kd_linkwatch_released(d);
	kd_quarantine_notify(d);
	emit_mode(d);
	return 0;
}

/* Appends "; " and text to buf if there is room for all of it. */
static void
append(char *buf, size_t len, const char *text)
{
	size_t used = strlen(buf);

	if (used + strlen(text) + 3 > len)
		return;
	snprintf(buf + used, len - used, "%s%s", used ? "; " : "", text);
}

/*
 * What the tables cannot cover while quarantined, in words; false if
 * nothing: bridged traffic without a bridge table, interfaces of kinds
 * whose traffic never meets the inet hooks (unless the netdev table
 * hooks every device they can stack on), interfaces not followed.
 */
static bool
not_covered(const struct kd *d, char *buf, size_t len)
{
	char part[160], refused[256];
	size_t i;

	buf[0] = '\0';
	if (d->state.mode == KK_MODE_OPEN)
		return false;
	if (kd_tables_refused(d, refused, sizeof(refused)))
		append(buf, len, refused);
	if (d->state.mode == KK_MODE_ISOLATED && d->netdevs.over)
		append(buf, len,
		    "Ethernet or raw-IP devices: more than the netdev table hooks");
	if (d->links.known == NULL)
		append(buf, len,
		    "interfaces: the watch is off, moves go unnoticed");
	if (d->links.untracked)
		append(buf, len, "interfaces: more than can be followed");
	for (i = 0; i < d->links.nknown; i++) {
		const struct kk_link *k = &d->links.known[i];

		if (k->missing)
			continue;
		if (k->xdp) {
			snprintf(part, sizeof(part),
			    "interface %s: an XDP program is attached, what it sends back or redirects passes every hook",
			    k->name);
			append(buf, len, part);
		}
		if (k->xsk) {
			snprintf(part, sizeof(part),
			    "interface %s: an AF_XDP socket is bound to it, what it sends passes every hook",
			    k->name);
			append(buf, len, part);
		}
		if (k->tc) {
			snprintf(part, sizeof(part),
			    "interface %s: tc on it can redirect frames past every egress hook, or rewrite them after it",
			    k->name);
			append(buf, len, part);
		}
	}
	for (i = 0; i < d->foreign.n && i < KK_FOREIGN_SHOWN; i++) {
		const struct kk_foreign_chain *f = &d->foreign.v[i];

		snprintf(part, sizeof(part),
		    "interface %s: nftables chain %s %s %s can rewrite frames %s kakuri's check",
		    f->dev, kk_nft_family_name(f->family), f->table, f->chain,
		    f->ingress ? "before" : "after");
		append(buf, len, part);
	}
	if (d->foreign.n > KK_FOREIGN_SHOWN) {
		snprintf(part, sizeof(part), "%zu more such nftables chains",
		    d->foreign.n - KK_FOREIGN_SHOWN);
		append(buf, len, part);
	}
	if (d->monitor_deaf)
		append(buf, len,
		    "nftables events: the tamper monitor cannot join them, only the periodic check finds tampering");
	if (d->links.tc_err < 0)
		append(buf, len,
		    "tc: the look failed, a filter goes unnoticed");
	if (d->links.xsk_err < 0)
		append(buf, len,
		    "AF_XDP sockets: the queue dump failed, a bound one goes unnoticed");
	for (i = 0; d->state.mode == KK_MODE_ISOLATED && i < d->links.nknown;
	    i++) {
		const struct kk_link *k = &d->links.known[i];

		if (k->missing || !kd_netdev_uncovered(k->type))
			continue;
		snprintf(part, sizeof(part),
		    "interface %s (link type %u): no netdev chains, a packet socket sends past every hook",
		    k->name, (unsigned)k->type);
		append(buf, len, part);
	}
	for (i = 0; i < d->links.nknown; i++) {
		const struct kk_link *k = &d->links.known[i];

		if (!kk_link_kind_uncovered(k->kind) ||
		    kd_stacked_covered(d, k))
			continue;
		snprintf(part, sizeof(part),
		    "interface %s (%s): its siblings' traffic bypasses the tables",
		    k->name, k->kind);
		append(buf, len, part);
	}
	return buf[0] != '\0';
}

/*
 * Verified: the kernel's tables read back as they should be, under
 * kakurid's own name, with no tamper alert in force that says otherwise
 * (an incident whose tables were restored is still listed until it is
 * over) and nothing the tables cannot cover.
 */
static bool
quarantine_verified(struct kd *d)
{
	char buf[512];

	if (d->state.mode == KK_MODE_OPEN)
		return true;
	return kd_enforcers_verify(d) == 0 && kd_tables_own_name(d) &&
	    (d->incident.what[0] == '\0' ||
	    strcmp(d->incident.result, "restored") == 0) &&
	    d->nlink_alerts == 0 && d->forged.what[0] == '\0' &&
	    !not_covered(d, buf, sizeof(buf));
}

/* The quarantine's fields of status (DESIGN 5). */
json_t *
kd_quarantine_status(struct kd *d)
{
	static const char *const hooks[KK_NFT_MAX_CHAINS] = { "input",
	    "output", "forward", "ingress", "egress" };
	struct kk_nft_counters cnt;
	char since[32] = "", table[KK_NFT_NAME_MAX + 8], gaps[512];
	json_t *o, *counters;
	int i;
	bool verified;

	verified = quarantine_verified(d);
	if (d->state.since)
		kk_rfc3339(d->state.since, since, sizeof(since));
	o = json_pack("{s:b, s:s, s:s?, s:s?, s:s?, s:s?, s:b, s:s, s:b, s:I}",
	    KW_OK, 1, KW_MODE, kk_mode_name(d->state.mode),
	    KW_EPISODE, d->state.episode[0] ? d->state.episode : NULL,
	    KW_SINCE, since[0] ? since : NULL,
	    KW_BY, d->state.by[0] ? d->state.by : NULL,
	    KW_REASON, d->state.reason[0] ? d->state.reason : NULL,
	    KW_DRILL, kd_drill_running(d),
	    KW_PROTECTION, d->table_flags ? "owner+persist" : "monitor",
	    KW_VERIFIED, verified,
	    KW_TAMPER_EVENTS, (json_int_t)d->tamper_events);
	if (o == NULL)
		return NULL;
	/* other processes' commits told by the generation alone (send.c) */
	json_object_set_new(o, KW_COMMITS_UNSEEN,
	    json_integer((json_int_t)d->nft.commits_unseen));
	snprintf(table, sizeof(table), "inet %s", kd_tables_name(d));
	json_object_set_new(o, KW_ENFORCED_BY, json_string(table));
	json_object_set_new(o, KW_TAMPER, kd_alerts_json(d));
	if (d->restore_us)
		json_object_set_new(o, KW_RESTORE_US,
		    json_integer((json_int_t)d->restore_us));
	if (not_covered(d, gaps, sizeof(gaps)))
		json_object_set_new(o, KW_NOT_COVERED, json_string(gaps));
	counters = json_object();
	if (kk_nft_counters(&d->nft, kd_tables_name(d), &cnt) == 0) {
		/*
		 * ingress, egress: the netdev table's, where it is; its
		 * raw-IP devices' chains count with the Ethernet ones
		 */
		for (i = 0; i < 2; i++) {
			cnt.pkts[3 + i] += cnt.pkts[5 + i];
			cnt.bytes[3 + i] += cnt.bytes[5 + i];
		}
		for (i = 0; i < (d->state.mode == KK_MODE_ISOLATED &&
		    d->netdevs.n + d->netdevs.nip > 0 &&
		    !d->netdev_unsupported && !d->netdev_failed ? 5 : 3); i++)
			json_object_set_new(counters, hooks[i], json_pack(
			    "{s:I, s:I}", KW_PACKETS, (json_int_t)cnt.pkts[i],
			    KW_BYTES, (json_int_t)cnt.bytes[i]));
	}
	json_object_set_new(o, KW_COUNTERS, counters);
	/* as verified just now (the USB look may be up to a second old) */
	json_object_set_new(o, KW_ENFORCERS, kd_enforcers_json(d, true));
	return o;
}

/*
 * Arm a oneshot timer to fire in usec, unless it already fires sooner:
 * frequent events must never push a check back for good.
 */
static void
arm_earlier(sd_event_source *t, uint64_t usec)
{
	uint64_t now, at;
	int on = 0;

	if (t == NULL || sd_event_now(sd_event_source_get_event(t),
	    CLOCK_MONOTONIC, &now) < 0)
		return;
	if (sd_event_source_get_enabled(t, &on) >= 0 && on != SD_EVENT_OFF &&
	    sd_event_source_get_time(t, &at) >= 0 && at <= now + usec)
		return;
	sd_event_source_set_time(t, now + usec);
	sd_event_source_set_enabled(t, SD_EVENT_ONESHOT);
}

/*
 * The next verification: the cheap generation check while the quarantine
 * holds, retries with backoff while it does not, and the end of the quiet
 * period of an incident whose tables hold again.
 */
static void
schedule(struct kd *d)
{
	uint64_t next = VERIFY_PERIOD_USEC, now = kd_now_usec(), quiet_end;

	if ((d->incident.what[0] && !kd_incident_holds(d)) || !kd_tables_own_name(d)) {
		if (d->retry_usec == 0)
			d->retry_usec = RETRY_MIN_USEC;
		next = d->retry_usec;
		d->retry_usec = d->retry_usec * 2 > RETRY_MAX_USEC ?
		    RETRY_MAX_USEC : d->retry_usec * 2;
	} else {
		d->retry_usec = 0;
		quiet_end = d->incident.last + KD_QUIET_USEC;
		if (d->incident.what[0] && quiet_end < now + next)
			next = quiet_end > now ? quiet_end - now : 0;
	}
	/* the backstop alone may wait for another wakeup, not a retry */
	sd_event_source_set_time_accuracy(d->verify_timer,
	    next == VERIFY_PERIOD_USEC ? VERIFY_ACCURACY_USEC :
	    KD_TIMER_ACCURACY_USEC);
	arm_earlier(d->verify_timer, next);
}

/* Whether a chain's device (maybe a prefix "eth*") is one the netdev table hooks. */
static bool
netdev_hooked(const char *chain_dev, void *arg)
{
	const struct kd_netdevs *nd = &((struct kd *)arg)->netdevs;
	size_t i;

	for (i = 0; i < nd->n; i++)
		if (kk_nft_dev_matches(chain_dev, nd->name[i]))
			return true;
	for (i = 0; i < nd->nip; i++)
		if (kk_nft_dev_matches(chain_dev, nd->ipname[i]))
			return true;
	return false;
}

/* A chain's fingerprint: alerted once an episode. */
static uint64_t
foreign_print(const struct kk_foreign_chain *f)
{
	uint64_t h = 1469598103934665603ULL;
	char key[128];
	size_t i, n;

	n = (size_t)snprintf(key, sizeof(key), "%d %s %s %llu", f->family,
	    f->table, f->chain, (unsigned long long)f->handle);
	for (i = 0; i < n && i < sizeof(key); i++)
		h = (h ^ (unsigned char)key[i]) * 1099511628211ULL;
	return h;
}

static bool
foreign_told(struct kd *d, const struct kk_foreign_chain *f)
{
	uint64_t h = foreign_print(f);
	size_t i;

	for (i = 0; i < d->nforeign_told; i++)
		if (d->foreign_told[i] == h)
			return true;
	if (d->nforeign_told < sizeof(d->foreign_told) /
	    sizeof(d->foreign_told[0]))
		d->foreign_told[d->nforeign_told++] = h;
	return false;
}

/*
 * One chain of another table where it can undo the netdev table: there
 * before the quarantine (or kakurid), named in not_covered only; come
 * meanwhile, an alert (interface-nft), once.
 */
static void
foreign_one(const struct kk_foreign_chain *f, void *arg)
{
	struct kd *d = arg;
	char what[256];

	if (foreign_told(d, f) || !d->foreign_primed)
		return;
	snprintf(what, sizeof(what), "nftables chain %s %s %s on %s "
	    "(priority %d): %s", kk_nft_family_name(f->family), f->table,
	    f->chain, f->dev, (int)f->prio, f->ingress ? "it runs before "
	    "kakuri's ingress check, and can rewrite what that check sees" :
	    "it runs after kakuri's egress check, and can rewrite what that "
	    "check let through");
	kd_link_alert(d, "nftables", "interface-nft", what, json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:i}", KW_FAMILY,
	    kk_nft_family_name(f->family), KW_TABLE, f->table, KW_CHAIN,
	    f->chain, KW_INTERFACE, f->dev, KW_HOOK, f->ingress ? "ingress" :
	    "egress", KW_PRIORITY, (int)f->prio));
}

/*
 * Chains of other tables where they can undo the netdev table (foreign.h),
 * looked for at each generation of the ruleset while quarantined, every
 * one of them (foreign_one); those there named in not_covered, as tc is
 * (linkwatch.c).
 */
static void
foreign_look(struct kd *d, uint32_t gen, bool gen_ok)
{
	int err;

	if (d->state.mode == KK_MODE_OPEN || d->netdevs.n + d->netdevs.nip == 0) {
		d->foreign.n = 0;
		d->foreign_valid = false;
		return;
	}
	if (d->foreign_valid && gen_ok && gen == d->foreign_gen)
		return;
	err = kk_nft_foreign_chains(&d->nft, kd_tables_name(d), netdev_hooked,
	    foreign_one, d, &d->foreign);
	d->foreign_valid = err == 0 && gen_ok;
	d->foreign_gen = gen;
	if (err < 0) {
		if (kd_alert_allowed(d, KD_ALERT_TABLES, "foreign-look-failed"))
			kk_log(LOG_WARNING, KK_MID_TAMPER, "%s", d->nft.err);
		return;
	}
	d->foreign_primed = true;
}

/*
 * Make the quarantine hold.  Read the kernel back; restore what differs
 * (from a fallback name when another process holds kakurid's own); take
 * the own name back once it is free again.  Called on nftables events and
 * by the verify timer: an owner table vanishes with its socket without
 * any event, so events alone are never enough.
 */
static void
enforce(struct kd *d, const char *who, bool foreign_commit)
{
	unsigned long long t0 = kd_now_usec();
	uint32_t gen = 0;
	bool gen_ok = kk_nft_genid(&d->nft, &gen) == 0, tampered;
	int err;

	err = tables->verify(d, d->state.mode, d->state.episode);
	if (err == -EINPROGRESS) {
		/*
		 * All but the block lists' elements match, and they were
		 * dumped less than DUMP_MIN_USEC ago: the timer reads them
		 * then, never later, whatever comes in between (no match is
		 * kept, so it does not take the generation for settled).
		 */
		d->gen_valid = false;
		if (foreign_commit && d->state.mode != KK_MODE_OPEN)
			kd_nftables_changed(d, who);
		sd_event_source_set_time_accuracy(d->verify_timer,
		    KD_TIMER_ACCURACY_USEC);
		arm_earlier(d->verify_timer, DUMP_MIN_USEC);
		return;
	}
	if (err == 0 && kd_tables_own_name(d)) {
		d->verified_gen = gen;
		d->gen_valid = gen_ok;
		foreign_look(d, gen, gen_ok);
		if (d->incident.what[0] && !kd_incident_holds(d)) {
			kd_incident_event(d, who, "restored", false, t0);
			goto out;
		}
		if (d->incident.what[0] &&
		    kd_now_usec() >= d->incident.last + KD_QUIET_USEC)
			kd_incident_close(d);
		/* the commit that woke this check, the incident over or not */
		if (foreign_commit && d->state.mode != KK_MODE_OPEN)
			kd_nftables_changed(d, who);
		goto out;
	}
	/* on a fallback that holds: nothing to do until the own name is free */
	if (err == 0 && kk_nft_name_held(&d->nft, KK_TABLE_NAME) != 0) {
		if (d->incident.what[0] == '\0')	/* so since start-up */
			kd_incident_event(d, who, "fallback", false, t0);
		goto out;
	}
	/*
	 * Only a difference is tampering; a read-back that failed (netlink
	 * error, no memory) is applied again, and counts nothing.
	 */
	tampered = err == -ESTALE;
	if (tampered && d->tamper_events < ULONG_MAX)
		d->tamper_events++;
	else if (err < 0 && kd_alert_allowed(d, KD_ALERT_TABLES, "read-back-failed"))
		kk_log(LOG_WARNING, KK_MID_TAMPER,
		    "could not read the tables back (%s): applying them again",
		    d->nft.err);
	err = tables->apply(d, d->state.mode, d->state.episode);
	kd_incident_event(d, who, err < 0 ? "restore-failed" : kd_tables_own_name(d) ?
	    "restored" : "fallback", tampered, t0);
out:
	schedule(d);
}

static bool monitor_take(struct kd *d, const struct kk_nft_missed *missed);

/* Tamper monitor: another process touched the tables or the ruleset. */
static int
on_nft_event(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	monitor_take(userdata, NULL);
	return 0;
}

/*
 * What the monitor read, held as it left the group for a batch of ours
 * (send.c) or waiting on its socket, and what it missed while out of the
 * group (missed, or NULL): acted upon, in one check.  Commits it missed
 * are told as by a process unknown (their events, which name the
 * process, may never have reached it); a batch after which it cannot tell
 * what it missed is checked as after a change, no commit claimed.
 * Whether anything was acted upon.
 */
static bool
monitor_take(struct kd *d, const struct kk_nft_missed *missed)
{
	struct kk_nft_event ev;
	char who[96];

	kk_nft_monitor_drain(&d->nft, &ev);
	if (missed != NULL && missed->commits)
		ev.foreign_commit = true;
	if (missed != NULL && missed->unsure)
		ev.overrun = true;
	if (!ev.touched && !ev.overrun && !ev.foreign_commit)
		return false;
	if (missed != NULL && missed->commits)
		snprintf(who, sizeof(who), "a process unknown (committed while "
		    "kakurid's own batch was)");
	else if (ev.pid)
		snprintf(who, sizeof(who), "pid %d (%s)", (int)ev.pid, ev.comm);
	else
		snprintf(who, sizeof(who), "unknown process");
	/*
	 * Every foreign commit would otherwise dump every block list's
	 * elements (some 1.5 s per 200,000) while the loop waits: at most
	 * one dump per DUMP_MIN_USEC, the rest of the tables at once.
	 */
	d->nft.defer_usec = DUMP_MIN_USEC;
	enforce(d, who, ev.foreign_commit);
	d->nft.defer_usec = 0;
	return true;
}

/*
 * What the monitor missed (kk_nft_events_missed); a monitor that could
 * not join its group again after a batch of ours hears no event, and
 * only the verify timer sees tampering meanwhile: said once as it goes
 * deaf, once as it hears again, in the log and the audit.
 */
static void
events_missed(struct kd *d, struct kk_nft_missed *missed)
{
	kk_nft_events_missed(&d->nft, missed);
	if (missed->deaf == d->monitor_deaf)
		return;
	d->monitor_deaf = missed->deaf;
	if (missed->deaf) {
		kk_log(LOG_ERR, KK_MID_ERROR,
		    "tamper monitor: cannot join the nftables events again (%s): tampering is seen only by the periodic check until it does",
		    strerror(missed->deaf_errno));
		kd_audit(d, "kakurid", "tamper-monitor", "deaf",
		    json_pack("{s:s}", KW_ERROR,
		    strerror(missed->deaf_errno)));
	} else {
		kk_log(LOG_NOTICE, KK_MID_TAMPER,
		    "tamper monitor: hearing the nftables events again");
		kd_audit(d, "kakurid", "tamper-monitor", "hearing", NULL);
	}
}

/* After a batch of ours whose monitor missed something (send.c): at once. */
static int
on_verify_soon(sd_event_source *s, void *userdata)
{
	struct kd *d = userdata;
	struct kk_nft_missed missed;

	events_missed(d, &missed);
	monitor_take(d, &missed);
	return 0;
}

static int
on_verify_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kd *d = userdata;
	long faults = kd_lean_faults();
	struct kk_nft_missed missed;
	uint32_t gen;

	/* USB has no generation to compare: its own check, rate-limited */
	kd_usb_watch_tick(d);
	/*
	 * What a batch's monitor held or missed, if the soon check has not
	 * taken it: checked as after an event, enforce() scheduling the next.
	 */
	events_missed(d, &missed);
	if ((d->nft.have_held || missed.commits || missed.unsure) &&
	    monitor_take(d, &missed))
		return 0;
	if ((d->incident.what[0] &&
	    (!kd_incident_holds(d) ||
	    kd_now_usec() >= d->incident.last + KD_QUIET_USEC)) || !kd_tables_own_name(d) ||
	    !d->gen_valid || kk_nft_genid(&d->nft, &gen) < 0 ||
	    gen != d->verified_gen)
		enforce(d, "periodic verification", false);
	else {
		/* a look put off (a failed dump, a mode just entered) */
		foreign_look(d, gen, true);
		schedule(d);
		/* nothing to restore: an idle check, no settle after it */
		kd_lean_idle_work(faults);
	}
	return 0;
}

/*
 * The monitor missed something while out of the group for a batch of ours
 * (send.c): told at once, as an event would have been, by a defer source
 * that runs when this turn of the loop is over.
 */
static void
verify_now(void *arg)
{
	struct kd *d = arg;

	/* before it is made (adoption): the verify timer's first run */
	if (d->verify_soon != NULL)
		sd_event_source_set_enabled(d->verify_soon, SD_EVENT_ONESHOT);
}

/* err of an nftables call, with its message (d->nft.err) logged if it failed */
static int
nft_logged(struct kd *d, int err)
{
	if (err < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "%s", d->nft.err);
	return err;
}

/*
 * The watch: the tamper monitor (nftables events), the verify timer, the
 * alert summaries and the interface watch.  Only the first two are
 * required; without the interface watch, status says what goes
 * unnoticed (not_covered).  The monitor is opened before adoption, so
 * that tampering during start-up is seen too.
 */
int
kd_quarantine_monitor(struct kd *d)
{
	int err;

	if ((err = nft_logged(d, kk_nft_monitor_open(&d->nft))) < 0)
		return err;
	d->nft.on_missed = verify_now;
	d->nft.on_missed_arg = d;
	if ((err = sd_event_add_io(d->ev, &d->mon_src,
	    kk_nft_monitor_fd(&d->nft), EPOLLIN, on_nft_event, d)) < 0)
		return err;
	/* before adoption too: its apply hooks the netdev table's devices */
	kd_linkwatch_start(d);
	return 0;
}

int
kd_quarantine_watch(struct kd *d)
{
	int err;

	if ((err = sd_event_add_time_relative(d->ev, &d->verify_timer,
	    CLOCK_MONOTONIC, RETRY_MIN_USEC, KD_TIMER_ACCURACY_USEC,
	    on_verify_timer, d)) < 0 ||
	    (err = sd_event_add_defer(d->ev, &d->verify_soon, on_verify_soon,
	    d)) < 0 ||
	    (err = sd_event_source_set_enabled(d->verify_soon,
	    SD_EVENT_OFF)) < 0 ||
	    (err = kd_alerts_start(d)) < 0) {
		kk_log(LOG_ERR, KK_MID_ERROR, "verify timer: %s",
		    strerror(-err));
		return err;
	}
	kd_uevent_start(d);
	return 0;
}

/* At start and at boot: adopt.c, through this core's enforcers. */
int
kd_quarantine_adopt(struct kd *d, bool restore)
{
	return kd_adopt(d, restore);
}

/*
 * The nftables connection, and the table flags the policy asks for:
 * owner+persist where the kernel has them (apply falls back otherwise).
 */
int
kd_quarantine_open(struct kd *d)
{
	int err;

	if ((err = nft_logged(d, kk_nft_open(&d->nft))) < 0)
		return err;
	/* checked again and again: rules' lines are kept (no memory: printed) */
	(void)kk_nft_remember_lines(&d->nft);
	d->table_flags = d->policy->protect == KK_PROTECT_AUTO ?
	    KK_NFT_F_OWNER | KK_NFT_F_PERSIST : 0;
	d->persist_supported = d->table_flags != 0;
	return 0;
}

/* SIGHUP: the new policy's tables replace the old ones in one batch. */
int
kd_quarantine_reapply(struct kd *d)
{
	return kd_enforcers_apply(d, d->state.mode, d->state.episode);
}

void
kd_quarantine_close(struct kd *d)
{
	d->mon_src = sd_event_source_disable_unref(d->mon_src);
	d->verify_timer = sd_event_source_disable_unref(d->verify_timer);
	d->verify_soon = sd_event_source_disable_unref(d->verify_soon);
	kd_alerts_stop(d);
	kd_linkwatch_stop(d);
	kd_uevent_stop(d);
	kd_tables_free(d);
	kk_nft_close(&d->nft);
}
