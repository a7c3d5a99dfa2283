/*
 * kakurid - the privileged quarantine daemon.
 *
 * It owns the nftables table "inet kakuri", keeps the quarantine state
 * (state.json) and the audit timeline, serves the local control socket,
 * and restores the table if another process tampers with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "daemon.h"
#include "log.h"
#include "netchild.h"
#include "sign.h"

static unsigned long long
now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: kakurid [-dnv] [-f policy]\n"
	    "       kakurid --restore [-v] [-f policy]\n"
	    "       kakurid --init [-f policy]\n");
	exit(2);
}

static int
mkdir_private(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (lstat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	return 0;
}

/* Resolve names from the policy; failures are not fatal but weaken nothing. */
static void
resolve_ids(struct kd *d)
{
	struct passwd *pw;
	struct group *gr;

	gr = getgrnam(d->policy->staff_group);
	d->staff_known = gr != NULL;
	d->staff_gid = gr ? gr->gr_gid : (gid_t)-1;
	if (!d->staff_known)
		kk_log(LOG_WARNING, KK_MID_POLICY,
		    "staff group '%s' does not exist: only root can press disconnect",
		    d->policy->staff_group);
	pw = getpwnam(d->policy->user);
	d->own_known = pw != NULL;
	d->own_uid = pw ? pw->pw_uid : (uid_t)-1;
	d->own_gid = pw ? pw->pw_gid : (gid_t)-1;
	if (!d->own_known)
		kk_log(LOG_WARNING, KK_MID_POLICY,
		    "user '%s' does not exist: while isolated, no outbound management connections are allowed",
		    d->policy->user);
}

void
kd_audit(struct kd *d, const char *actor, const char *action, const char *result,
    json_t *extra)
{
	int err;

	/* from the policy in force (SIGHUP may change it) */
	kk_audit_set_limits(&d->audit, (uint64_t)d->policy->audit_max_mb << 20,
	    (unsigned)d->policy->audit_keep);
	err = kk_audit_append(&d->audit, actor, action, result,
	    d->state.episode, extra);
	if (err < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "audit log %s: %s", d->audit_path,
		    strerror(-err));
	json_decref(extra);
}

static void
make_spec(struct kd *d, enum kk_mode mode, const char *episode,
    const char *name, struct kk_nft_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->mode = mode;
	spec->policy = d->policy;
	spec->own_uid_known = d->own_known;
	spec->own_uid = d->own_uid;
	spec->own_gid = d->own_gid;
	spec->table_flags = d->table_flags;
	/*
	 * A fallback is always kakurid's owner table: no other process can
	 * swap it for one of its own, as it did with the name it replaces.
	 * It vanishes with kakurid where persist is missing.
	 */
	if (strcmp(name, KK_TABLE_NAME) != 0)
		spec->table_flags |= KK_NFT_F_OWNER;
	spec->no_bridge = d->no_bridge;
	snprintf(spec->episode, sizeof(spec->episode), "%s", episode);
	snprintf(spec->name, sizeof(spec->name), "%s", name);
}

/* The name kakurid's tables have now. */
static const char *
table_name(const struct kd *d)
{
	return d->table_name[0] ? d->table_name : KK_TABLE_NAME;
}

static bool
own_name(const struct kd *d)
{
	return strcmp(table_name(d), KK_TABLE_NAME) == 0;
}

/*
 * Apply under one name.  Where the kernel lacks NFT_TABLE_F_PERSIST
 * (Linux < 6.9) the owner flag alone would take the table down with
 * kakurid, so it falls back to no flags and relies on the monitor; where
 * it has no nftables bridge family, isolation goes on without the bridge
 * table and is never reported as verified.
 */
static int
apply_named(struct kd *d, enum kk_mode mode, const char *episode,
    const char *name)
{
	struct kk_nft_spec spec;
	int err;

	make_spec(d, mode, episode, name, &spec);
	err = kk_nft_apply(&d->nft, &spec);
	if (err == -EOPNOTSUPP && d->table_flags != 0 &&
	    d->nft.err_family != NFPROTO_BRIDGE) {
		kk_log(LOG_WARNING, KK_MID_APPLY,
		    "kernel refused table flags owner+persist (%s); falling back to the tamper monitor",
		    d->nft.err);
		d->table_flags = 0;
		d->persist_supported = false;
		make_spec(d, mode, episode, name, &spec);
		err = kk_nft_apply(&d->nft, &spec);
	}
	if (err < 0 && d->nft.err_family == NFPROTO_BRIDGE &&
	    (err == -EOPNOTSUPP || err == -ENOENT || err == -EAFNOSUPPORT)) {
		kk_log(LOG_CRIT, KK_MID_APPLY,
		    "kernel refused the bridge table (%s): bridged traffic is NOT cut off; isolating without it",
		    d->nft.err);
		d->no_bridge = true;
		make_spec(d, mode, episode, name, &spec);
		err = kk_nft_apply(&d->nft, &spec);
	}
	return err;
}

#define FALLBACK_TRIES	4	/* fresh random names per apply */

/*
 * The name to try at step i: kakurid's own, kakuri_fallback, the random
 * name in use, then fresh random ones.  Another process can read a name
 * from the kernel and take it: one it holds is not tried again.
 */
static int
candidate(struct kd *d, int i, const char **name)
{
	char hex[KK_EPISODE_HEX + 1];
	int err;

	if (i == 0 || i == 1) {
		*name = i == 0 ? KK_TABLE_NAME : KK_FALLBACK_NAME;
		return 0;
	}
	if (i > 2 || d->fallback_name[0] == '\0') {
		if ((err = kk_episode_new(hex)) < 0)
			return err;
		snprintf(d->fallback_name, sizeof(d->fallback_name), "%s_%.*s",
		    KK_FALLBACK_NAME, KK_FALLBACK_HEX, hex);
	}
	*name = d->fallback_name;
	return 0;
}

/*
 * Put the tables into mode: one atomic batch, then read back.  If another
 * process holds the name (an owner table of its own: a root process can
 * swap one in, in the same transaction that deletes kakurid's table, where
 * persist is missing), the same tables go in under a fallback name at
 * once, and the batch removes kakurid's tables under its other names.
 */
static int
apply(struct kd *d, enum kk_mode mode, const char *episode)
{
	unsigned long long t0 = now_usec();
	const char *name = KK_TABLE_NAME;
	int i, err = -EPERM;

	if (d->nft.scan_incomplete) {
		kk_log(LOG_WARNING, KK_MID_APPLY,
		    "old fallback tables may be left over: %s", d->nft.err);
		d->nft.scan_incomplete = false;
	}
	for (i = 0; err == -EPERM && i < 3 + FALLBACK_TRIES; i++) {
		if ((err = candidate(d, i, &name)) < 0)
			break;
		err = apply_named(d, mode, episode, name);
		if (err == -EPERM && i == 0)
			snprintf(d->held_err, sizeof(d->held_err), "%.150s",
			    d->nft.err);
	}
	if (err == 0)
		snprintf(d->table_name, sizeof(d->table_name), "%s", name);
	if (err == 0 && own_name(d))
		d->fallback_name[0] = '\0';
	d->last_apply_usec = now_usec() - t0;
	return err;
}

static int
verify(struct kd *d)
{
	struct kk_nft_spec spec;

	make_spec(d, d->state.mode, d->state.episode, table_name(d), &spec);
	return kk_nft_verify(&d->nft, &spec);
}

static void
notify_status(struct kd *d)
{
	sd_notifyf(0, "STATUS=%s%s%s", kk_mode_name(d->state.mode),
	    d->state.episode[0] ? ", episode " : "", d->state.episode);
}

/* Queue a notification for the CSIRT collector (delivered by the outbox). */
int
kd_outbox_put(struct kd *d, const char *type, json_t *body, char id[KK_EPISODE_HEX + 1])
{
	char path[PATH_MAX + 64], since[32];
	char *text;
	int err;

	if ((err = kk_episode_new(id)) < 0)
		return err;
	kk_rfc3339(time(NULL), since, sizeof(since));
	json_object_set_new(body, "v", json_integer(1));
	json_object_set_new(body, "id", json_string(id));
	json_object_set_new(body, "type", json_string(type));
	json_object_set_new(body, "time", json_string(since));
	text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	if (text == NULL)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/%ld-%s.json", d->outbox_dir,
	    (long)time(NULL), id);
	err = kk_write_file_atomic(path, text, strlen(text), 0600);
	free(text);
	return err;
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

/*
 * Enter a quarantine mode.  Isolating is idempotent: the same or a
 * weaker request while already quarantined changes nothing (the kernel is
 * still checked).  *changed tells whether anything was applied.  A state
 * that could not be saved is a failure even when the table is in force:
 * after a reboot only state.json says what to restore.
 */
int
kd_enter_mode(struct kd *d, enum kk_mode mode, const char *by, const char *reason,
    bool *changed)
{
	struct kk_state next = d->state;
	int err;

	*changed = false;
	if (mode <= d->state.mode && d->state.mode != KK_MODE_OPEN) {
		err = verify(d);
		if (err == 0)
			return d->state_dirty ? save_state(d) : 0;
		kk_log(LOG_WARNING, KK_MID_TAMPER,
		    "table differs from state (%s): re-applying", d->nft.err);
		mode = d->state.mode;
	}
	if (d->state.mode == KK_MODE_OPEN || next.episode[0] == '\0') {
		if ((err = kk_episode_new(next.episode)) < 0)
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
	err = apply(d, next.mode, next.episode);
	if (err < 0)
		return err;
	d->state = next;
	*changed = true;
	notify_status(d);
	return save_state(d);
}

/*
 * End the quarantine named by episode: only a verified CSIRT command
 * reaches this (remote.c); the control socket never does.
 */
int
kd_release(struct kd *d, const char *episode, const char *by,
    const char *reason)
{
	struct kk_state next, prev;
	char id[KK_EPISODE_HEX + 1];
	bool was_dirty;
	json_t *o;
	int err;

	if (d->state.mode == KK_MODE_OPEN)
		return -ENOENT;
	if (strcmp(episode, d->state.episode) != 0)
		return -ESTALE;
	err = apply(d, KK_MODE_OPEN, "");
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
		if (apply(d, prev.mode, prev.episode) < 0)
			kk_log(LOG_CRIT, KK_MID_APPLY,
			    "release not saved and %s could not be restored: %s",
			    kk_mode_name(prev.mode), d->nft.err);
		snprintf(d->nft.err, sizeof(d->nft.err),
		    "not released: state.json could not be saved (%s); the quarantine stays",
		    strerror(-err));
		return err;
	}
	o = json_pack("{s:s, s:s}", "episode", episode, "by", by);
	if (o == NULL || kd_outbox_put(d, "release", o, id) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR,
		    "could not queue the release notice in %s", d->outbox_dir);
	json_decref(o);
	notify_status(d);
	return 0;
}

static json_t *
error_reply(const char *reason, const char *message)
{
	return json_pack("{s:b, s:s, s:s}", "ok", 0, "error", reason,
	    "message", message);
}

/* One tamper alert as status shows it. */
static json_t *
alert_json(const struct kd_alert *a)
{
	char since[32];

	kk_rfc3339(a->since, since, sizeof(since));
	return json_pack("{s:s, s:s, s:s, s:I}", "what", a->what,
	    "result", a->result, "since", since, "count", (json_int_t)a->count);
}

/* The tamper alerts in force: the tables' incident, then interfaces that left. */
static json_t *
alerts_json(const struct kd *d)
{
	const size_t slots = sizeof(d->link_alerts) / sizeof(d->link_alerts[0]);
	json_t *a = json_array();
	size_t i, n;

	if (a == NULL)
		return NULL;
	if (d->incident.what[0])
		json_array_append_new(a, alert_json(&d->incident));
	n = d->nlink_alerts < slots ? d->nlink_alerts : slots;
	for (i = 0; i < n; i++)
		json_array_append_new(a, alert_json(&d->link_alerts[i]));
	return a;
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
 * whose traffic never meets the hooks, interfaces not followed.
 */
static bool
not_covered(const struct kd *d, char *buf, size_t len)
{
	char part[96];
	size_t i;

	buf[0] = '\0';
	if (d->state.mode == KK_MODE_OPEN)
		return false;
	if (d->no_bridge)
		append(buf, len,
		    "bridged traffic: the kernel has no nftables bridge family");
	if (d->links.known == NULL)
		append(buf, len,
		    "interfaces: the watch is off, moves go unnoticed");
	if (d->links.untracked)
		append(buf, len, "interfaces: more than can be followed");
	for (i = 0; i < d->links.nknown; i++) {
		const struct kk_link *k = &d->links.known[i];

		if (!kk_link_kind_uncovered(k->kind))
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
	return verify(d) == 0 && own_name(d) &&
	    (d->incident.what[0] == '\0' ||
	    strcmp(d->incident.result, "restored") == 0) &&
	    d->nlink_alerts == 0 && !not_covered(d, buf, sizeof(buf));
}

json_t *
kd_status(struct kd *d)
{
	static const char *const hooks[] = { "input", "output", "forward" };
	struct kk_nft_counters cnt;
	char since[32] = "", table[KK_NFT_NAME_MAX + 8], gaps[512];
	json_t *o, *counters;
	int i;
	bool verified;

	verified = quarantine_verified(d);
	if (d->state.since)
		kk_rfc3339(d->state.since, since, sizeof(since));
	o = json_pack("{s:b, s:s, s:s?, s:s?, s:s?, s:s?, s:b, s:s, s:b, s:I}",
	    "ok", 1, "mode", kk_mode_name(d->state.mode),
	    "episode", d->state.episode[0] ? d->state.episode : NULL,
	    "since", since[0] ? since : NULL,
	    "by", d->state.by[0] ? d->state.by : NULL,
	    "reason", d->state.reason[0] ? d->state.reason : NULL,
	    "drill", d->state.drill,
	    "protection", d->table_flags ? "owner+persist" : "monitor",
	    "verified", verified,
	    "tamper_events", (json_int_t)d->tamper_events);
	if (o == NULL)
		return NULL;
	snprintf(table, sizeof(table), "inet %s", table_name(d));
	json_object_set_new(o, "enforced_by", json_string(table));
	json_object_set_new(o, "tamper", alerts_json(d));
	if (d->restore_us)
		json_object_set_new(o, "restore_us",
		    json_integer((json_int_t)d->restore_us));
	if (not_covered(d, gaps, sizeof(gaps)))
		json_object_set_new(o, "not_covered", json_string(gaps));
	counters = json_object();
	if (kk_nft_counters(&d->nft, table_name(d), &cnt) == 0) {
		for (i = 0; i < 3; i++)
			json_object_set_new(counters, hooks[i], json_pack(
			    "{s:I, s:I}", "packets", (json_int_t)cnt.pkts[i],
			    "bytes", (json_int_t)cnt.bytes[i]));
	}
	json_object_set_new(o, "counters", counters);
	json_object_set_new(o, "agent", d->agent_id[0] ?
	    json_string(d->agent_id) : json_null());
	json_object_set_new(o, "csirt_channel",
	    json_string(kd_channel_state(d)));
	json_object_set_new(o, "evidence", kd_preserve_status(d));
	return o;
}

/*
 * The staff's message is checked here, at the boundary: text only (no
 * control characters, valid UTF-8), cut to KK_TEXT_MAX - 1 bytes on a
 * character boundary.  NULL with *why set when it is not text.
 */
static const char *
disconnect_message(json_t *req, char *buf, size_t len, bool *cut,
    char *why, size_t whylen)
{
	json_t *v = json_object_get(req, "message");
	size_t bad;
	int r;

	*cut = false;
	if (v == NULL || json_is_null(v))
		return "staff disconnect button";
	if (!json_is_string(v)) {
		snprintf(why, whylen, "message must be a string");
		return NULL;
	}
	r = kk_text_check(json_string_value(v), json_string_length(v), &bad);
	if (r < 0) {
		snprintf(why, whylen, "message %s (byte %zu)",
		    kk_text_problem(r), bad);
		return NULL;
	}
	*cut = kk_text_copy(buf, len, json_string_value(v),
	    json_string_length(v)) == 1;
	return buf;
}

static json_t *
do_disconnect(struct kd *d, const struct kk_cred *cred, pid_t pid,
    const char *actor, json_t *req)
{
	enum kk_mode mode = d->policy->disconnect_mode;
	char since[32] = "", report[KK_EPISODE_HEX + 1] = "";
	char text[KK_TEXT_MAX], why[96];
	const char *msg;
	bool changed, cut;
	json_t *o;
	int err;

	msg = disconnect_message(req, text, sizeof(text), &cut, why,
	    sizeof(why));
	if (msg == NULL) {
		kd_control_refused(d, cred->uid, pid, "disconnect", "malformed",
		    json_pack("{s:s}", "error", why));
		return error_reply("malformed", why);
	}
	err = kd_enter_mode(d, mode, actor, msg, &changed);
	if (err < 0) {
		const char *what = d->state_dirty ? "save-failed" : "apply-failed";

		kk_log(LOG_ERR, KK_MID_APPLY, "disconnect by %s failed: %s",
		    actor, d->nft.err[0] ? d->nft.err : strerror(-err));
		kd_audit(d, actor, "disconnect", "failed", json_pack("{s:s, s:s}",
		    "reason", what,
		    "error", d->nft.err[0] ? d->nft.err : strerror(-err)));
		return error_reply(what, d->nft.err[0] ? d->nft.err :
		    strerror(-err));
	}
	if (!json_is_string(json_object_get(req, "message")))
		msg = NULL;
	/* holding the button down: counted, not recorded press by press */
	if (!changed && !kd_control_note_repeat(d, cred->uid, "disconnect"))
		goto reply;
	kk_log(LOG_NOTICE, KK_MID_APPLY,
	    "disconnect by %s: %s, episode %s (%s; last apply+verify %llu us)",
	    actor, kk_mode_name(d->state.mode), d->state.episode,
	    changed ? "applied" : "already in force", d->last_apply_usec);
	kd_audit(d, actor, "disconnect", changed ? "applied" : "already",
	    json_pack("{s:s, s:s?, s:I}", "mode", kk_mode_name(d->state.mode),
	    "message", msg, "apply_us", (json_int_t)d->last_apply_usec));
	/* tell the CSIRT: queued durably, delivered by the outbox */
	o = json_pack("{s:s, s:s, s:s, s:s?}", "episode", d->state.episode,
	    "mode", kk_mode_name(d->state.mode), "by", actor, "message", msg);
	if (o == NULL || kd_outbox_put(d, "disconnect", o, report) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "could not queue the CSIRT notification in %s",
		    d->outbox_dir);
	json_decref(o);
reply:
	kk_rfc3339(d->state.since, since, sizeof(since));
	return json_pack("{s:b, s:s, s:s, s:s, s:b, s:b, s:s?, s:{s:s, s:s, s:s}}",
	    "ok", 1, "mode", kk_mode_name(d->state.mode),
	    "episode", d->state.episode, "since", since, "already", !changed,
	    "message_cut", cut, "report", report[0] ? report : NULL, "contact",
	    "desk", d->policy->contact_desk, "phone", d->policy->contact_phone,
	    "email", d->policy->contact_email);
}

/*
 * The tail of the audit log: the last "lines" lines (default
 * KK_LOG_DEFAULT_LINES, 0 for all) not older than "since" (seconds since
 * 1970).  The answer announces the bytes and the anchor; control.c sends
 * the lines after it, read from the end of the log in bounded chunks, so
 * the size of the log does not decide what kakurid holds in memory.
 */
static json_t *
log_reply(struct kd *d, json_t *req)
{
	json_t *jn = json_object_get(req, "lines"), *js = json_object_get(req,
	    "since");
	unsigned long lines = KK_LOG_DEFAULT_LINES;
	struct kk_audit_tail *t;
	time_t since = 0;
	json_t *o;
	int err;

	if ((jn != NULL && (!json_is_integer(jn) || json_integer_value(jn) < 0)) ||
	    (js != NULL && (!json_is_integer(js) || json_integer_value(js) < 0)))
		return error_reply("malformed",
		    "log takes \"lines\" and \"since\" as numbers >= 0");
	if (jn != NULL)
		lines = (unsigned long)json_integer_value(jn);
	if (js != NULL)
		since = (time_t)json_integer_value(js);
	if ((t = malloc(sizeof(*t))) == NULL)
		return error_reply("io", "out of memory");
	err = kk_audit_tail_open(&d->audit, lines, since, t);
	if (err < 0) {
		free(t);
		kk_log(LOG_ERR, KK_MID_ERROR, "reading %s: %s", d->audit_path,
		    strerror(-err));
		return error_reply("io", "cannot read the audit log");
	}
	o = json_pack("{s:b, s:I, s:s, s:s, s:s, s:I, s:b}", "ok", 1,
	    "stream", (json_int_t)t->bytes, "first_prev", t->first_prev,
	    "anchor", t->anchor, "head", t->head,
	    "first_line", (json_int_t)t->first_seq, "truncated", t->truncated);
	if (o == NULL || kk_control_stream(d, d->control_serial, t) < 0) {
		kk_audit_tail_close(t);
		free(t);
		json_decref(o);
		return error_reply("io", "cannot send the audit log");
	}
	return o;
}

/* A signed command from `kakurictl apply` that waited for a worker. */
static void
control_reply(struct kd *d, uint64_t serial, const char *receipt)
{
	json_t *resp;

	resp = json_pack("{s:b, s:s}", "ok", 1, "receipt", receipt);
	kk_control_reply_later(d, serial, resp);
	json_decref(resp);
}

json_t *
kd_control_request(struct kd *d, const struct kk_cred *cred, pid_t pid,
    json_t *req)
{
	const char *cmd;
	char actor[160];
	enum kk_op op;
	json_t *resp;
	int err;

	/* refusals are counted per uid (control.c): a flood is one line */
	cmd = req ? json_string_value(json_object_get(req, "cmd")) : NULL;
	if (cmd == NULL) {
		kd_control_refused(d, cred->uid, pid, "control", "malformed",
		    NULL);
		return error_reply("malformed", "request must be a JSON object with \"cmd\"");
	}
	if (kk_op_parse(cmd, &op) < 0) {
		kd_control_refused(d, cred->uid, pid, "control",
		    "unknown-command", json_pack("{s:s}", "cmd", cmd));
		return error_reply("unknown-command", "unknown command");
	}
	err = kk_authz_local(op, cred, d->staff_known, d->staff_gid);
	if (err == -EACCES) {
		kd_control_refused(d, cred->uid, pid, cmd, "signature-required",
		    NULL);
		return error_reply("signature-required",
		    "release is never possible locally: ask your CSIRT for a signed release token for this episode and hand it over with 'kakurictl apply FILE'");
	}
	if (err < 0) {
		kd_control_refused(d, cred->uid, pid, cmd, "not-authorized",
		    NULL);
		return error_reply("not-authorized", op == KK_OP_DISCONNECT ?
		    "only members of the staff group and root may press disconnect" :
		    "not authorized");
	}
	kk_control_actor(cred->uid, pid, actor, sizeof(actor));
	switch (op) {
	case KK_OP_STATUS:
		resp = kd_status(d);
		break;
	case KK_OP_LOG:
		resp = log_reply(d, req);
		break;
	case KK_OP_DISCONNECT:
		resp = do_disconnect(d, cred, pid, actor, req);
		break;
	case KK_OP_APPLY: {
		/* the signature decides, exactly as for the network */
		const char *env = json_string_value(json_object_get(req,
		    "envelope"));
		char *receipt;
		bool pending;

		if (env == NULL) {
			resp = error_reply("malformed", "apply needs \"envelope\"");
			break;
		}
		/* every envelope costs a check and an audit line: bounded per uid */
		if (!kd_control_rate_ok(d, cred->uid)) {
			kd_control_refused(d, cred->uid, pid, "apply",
			    "rate-limited", NULL);
			resp = error_reply("rate-limited",
			    "too many signed commands from this user; wait a few seconds");
			break;
		}
		receipt = kd_remote_handle(d, (const uint8_t *)env, strlen(env),
		    actor, control_reply, d->control_serial, &pending);
		if (pending) {
			/* control.c keeps the connection until the worker is done */
			resp = json_pack("{s:b}", "pending", 1);
			break;
		}
		resp = json_pack("{s:b, s:s?}", "ok", receipt != NULL,
		    "receipt", receipt);
		free(receipt);
		break;
	}
	default:
		kd_control_refused(d, cred->uid, pid, cmd, "not-available",
		    NULL);
		resp = error_reply("not-available",
		    "this command is not available in this version of kakurid");
		break;
	}
	return resp;
}

/*
 * A tamper alert for the CSIRT, queued in the outbox like every report;
 * extra's fields (borrowed, may be NULL) go into its body.
 */
static void
report_tamper(struct kd *d, const char *who, const char *result,
    const char *what, json_t *extra)
{
	char id[KK_EPISODE_HEX + 1];
	json_t *o;

	o = json_pack("{s:s, s:s, s:s, s:s, s:s?}", "episode", d->state.episode,
	    "mode", kk_mode_name(d->state.mode), "by", who, "result", result,
	    "what", what);
	if (o != NULL && extra != NULL)
		json_object_update(o, extra);
	if (o == NULL || kd_outbox_put(d, "tamper", o, id) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR,
		    "could not queue the tamper alert in %s", d->outbox_dir);
	json_decref(o);
}

#define VERIFY_PERIOD_USEC	(200ULL * 1000)	/* one GETGEN round trip */
#define RETRY_MIN_USEC		(20ULL * 1000)
#define RETRY_MAX_USEC		(1000ULL * 1000)
#define LINKS_PERIOD_USEC	(1000ULL * 1000)
#define QUIET_USEC		(5ULL * 1000 * 1000)	/* an incident ends after this long holding */
#define ALERT_BURST		5	/* alert writes per kind before the rate applies */
#define ALERT_REFILL_USEC	(60ULL * 1000 * 1000)	/* then one a minute */
#define SUMMARY_USEC		(30ULL * 1000 * 1000)	/* what was held back, summed up */
#define TIMER_ACCURACY_USEC	1000ULL

enum alert_kind { ALERT_TABLES, ALERT_INTERFACES, ALERT_NFTABLES };
static const char *const alert_kind_names[] = {
	[ALERT_TABLES] = "tables",
	[ALERT_INTERFACES] = "interfaces",
	[ALERT_NFTABLES] = "nftables-changes",
};
_Static_assert(sizeof(((struct kd *)0)->alert_rl) /
    sizeof(((struct kd *)0)->alert_rl[0]) ==
    sizeof(alert_kind_names) / sizeof(alert_kind_names[0]),
    "one rate limit per alert kind");

/*
 * May an alert of this kind be written (log, audit line, outbox report)?
 * A token bucket per kind: a burst of ALERT_BURST, then one per
 * ALERT_REFILL_USEC.  One held back is counted, by its result, for the
 * summary that summary_timer writes once per interval: a flapping
 * attacker costs a bounded number of lines and files, never one each.
 */
static bool
alert_allowed(struct kd *d, enum alert_kind kind, const char *result)
{
	struct kd_ratelimit *rl = &d->alert_rl[kind];
	const size_t nres = sizeof(rl->results) / sizeof(rl->results[0]);
	unsigned long long now = now_usec(), n;
	size_t i;

	if (rl->spent > 0 &&
	    (n = (now - rl->refilled) / ALERT_REFILL_USEC) > 0) {
		rl->spent = n >= rl->spent ? 0 : rl->spent - (unsigned)n;
		rl->refilled += n * ALERT_REFILL_USEC;
	}
	if (rl->spent == 0)
		rl->refilled = now;
	if (rl->spent < ALERT_BURST) {
		rl->spent++;
		return true;
	}
	if (rl->held_back < ULONG_MAX)
		rl->held_back++;
	/* per result; the last slot takes any result beyond the first ones */
	for (i = 0; i < nres - 1 && rl->results[i].result[0] &&
	    strcmp(rl->results[i].result, result) != 0; i++)
		;
	if (rl->results[i].result[0] == '\0' || i < nres - 1)
		snprintf(rl->results[i].result, sizeof(rl->results[i].result),
		    "%s", i < nres - 1 ? result : "other");
	if (rl->results[i].n < ULONG_MAX)
		rl->results[i].n++;
	if (d->summary_timer &&
	    sd_event_source_get_enabled(d->summary_timer, NULL) == 0) {
		sd_event_source_set_time_relative(d->summary_timer,
		    SUMMARY_USEC);
		sd_event_source_set_enabled(d->summary_timer, SD_EVENT_ONESHOT);
	}
	return false;
}

/* The alerts held back in the interval, one log line, audit line and report. */
static int
on_summary_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kd *d = userdata;
	json_t *kinds = json_object(), *counts, *extra;
	unsigned long total = 0;
	size_t k, i;

	for (k = 0; kinds && k < sizeof(d->alert_rl) / sizeof(d->alert_rl[0]); k++) {
		struct kd_ratelimit *rl = &d->alert_rl[k];

		if (rl->held_back == 0)
			continue;
		total += rl->held_back;
		counts = json_object();
		for (i = 0; counts && i < sizeof(rl->results) /
		    sizeof(rl->results[0]) && rl->results[i].result[0]; i++)
			json_object_set_new(counts, rl->results[i].result,
			    json_integer((json_int_t)rl->results[i].n));
		json_object_set_new(kinds, alert_kind_names[k], counts);
		rl->held_back = 0;
		memset(rl->results, 0, sizeof(rl->results));
	}
	if (kinds == NULL || total == 0) {
		json_decref(kinds);
		return 0;
	}
	kk_log(LOG_ALERT, KK_MID_TAMPER,
	    "%lu more tamper alert(s) in the last %llu s were not written one by one (rate limit)",
	    total, SUMMARY_USEC / 1000000);
	extra = json_pack("{s:o, s:I, s:I, s:I}", "held_back", kinds,
	    "total", (json_int_t)total,
	    "interval_s", (json_int_t)(SUMMARY_USEC / 1000000),
	    "tamper_events", (json_int_t)d->tamper_events);
	report_tamper(d, "kakurid", "alerts-held-back", NULL, extra);
	kd_audit(d, "kakurid", "tamper", "alerts-held-back", extra);
	return 0;
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

static bool
incident_holds(const struct kd *d)
{
	return strcmp(d->incident.result, "restored") == 0;
}

/*
 * The next verification: the cheap generation check while the quarantine
 * holds, retries with backoff while it does not, and the end of the quiet
 * period of an incident whose tables hold again.
 */
static void
schedule(struct kd *d)
{
	uint64_t next = VERIFY_PERIOD_USEC, now = now_usec(), quiet_end;

	if ((d->incident.what[0] && !incident_holds(d)) || !own_name(d)) {
		if (d->retry_usec == 0)
			d->retry_usec = RETRY_MIN_USEC;
		next = d->retry_usec;
		d->retry_usec = d->retry_usec * 2 > RETRY_MAX_USEC ?
		    RETRY_MAX_USEC : d->retry_usec * 2;
	} else {
		d->retry_usec = 0;
		quiet_end = d->incident.last + QUIET_USEC;
		if (d->incident.what[0] && quiet_end < now + next)
			next = quiet_end > now ? quiet_end - now : 0;
	}
	arm_earlier(d->verify_timer, next);
}

/* The audit and report fields of a tamper event of the tables. */
static json_t *
incident_extra(struct kd *d, unsigned long long restore_us)
{
	char table[KK_NFT_NAME_MAX + 8];

	snprintf(table, sizeof(table), "inet %s", table_name(d));
	return json_pack("{s:s, s:s, s:I, s:I}", "mode",
	    kk_mode_name(d->state.mode), "table", table,
	    "restore_us", (json_int_t)restore_us,
	    "count", (json_int_t)d->incident.count);
}

/*
 * A tamper event of the tables: result is "restored" (they hold again
 * under kakurid's own name), "fallback" (they are enforced from a
 * fallback name) or "restore-failed".  The first event opens the
 * incident; later ones are counted, and written again only when the
 * result changes (the result alone is the key: the error texts vary).
 */
static void
incident_event(struct kd *d, const char *who, const char *result,
    bool tampered, unsigned long long t0)
{
	unsigned long long now = now_usec(), restore_us = now - t0;
	struct kd_alert *in = &d->incident;
	bool opened = in->what[0] == '\0', changed;
	char table[KK_NFT_NAME_MAX + 8];
	json_t *extra;

	if (opened && !tampered && strcmp(result, "restored") == 0)
		return;		/* a read-back glitch, applied again: no tampering */
	if (opened) {
		in->since = time(NULL);
		in->t0 = now;
		in->count = 0;
		d->restore_max_us = 0;
	}
	changed = opened || strcmp(in->result, result) != 0;
	in->last = now;
	if (tampered && in->count < ULONG_MAX)
		in->count++;
	if (strcmp(result, "restore-failed") != 0) {
		d->restore_us = restore_us;
		if (restore_us > d->restore_max_us)
			d->restore_max_us = restore_us;
	}
	snprintf(table, sizeof(table), "inet %s", table_name(d));
	snprintf(in->result, sizeof(in->result), "%s", result);
	if (strcmp(result, "restore-failed") == 0)
		snprintf(in->what, sizeof(in->what),
		    "tables tampered with and NOT restored (retrying): %.150s",
		    d->nft.err);
	else if (strcmp(result, "fallback") == 0)
		snprintf(in->what, sizeof(in->what),
		    "%.150s: %s enforced from table %s",
		    d->held_err[0] ? d->held_err :
		    "the name kakuri is held by another process",
		    kk_mode_name(d->state.mode), table);
	else
		snprintf(in->what, sizeof(in->what),
		    "tables tampered with %lu time(s), restored in table %s; watched until they hold %llu s",
		    in->count, table, QUIET_USEC / 1000000);
	if (!changed || !alert_allowed(d, ALERT_TABLES, result))
		return;
	kk_log(strcmp(result, "restore-failed") == 0 ? LOG_CRIT : LOG_ALERT,
	    KK_MID_TAMPER, "%s (seen after a change by %s; %llu us)", in->what,
	    who, restore_us);
	extra = incident_extra(d, restore_us);
	report_tamper(d, who, result, in->what, extra);
	kd_audit(d, who, "tamper", result, extra);
}

/* The tables held for QUIET_USEC: the incident is over. */
static void
incident_close(struct kd *d)
{
	unsigned long long now = now_usec();
	json_t *extra;

	extra = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}",
	    "mode", kk_mode_name(d->state.mode), "table", "inet " KK_TABLE_NAME,
	    "count", (json_int_t)d->incident.count,
	    "duration_us", (json_int_t)(d->incident.last - d->incident.t0),
	    "restore_max_us", (json_int_t)d->restore_max_us,
	    "tamper_events", (json_int_t)d->tamper_events);
	if (alert_allowed(d, ALERT_TABLES, "incident-over")) {
		kk_log(LOG_NOTICE, KK_MID_TAMPER,
		    "tamper incident over: %lu tamper event(s) in %llu ms, slowest restore %llu us; table inet %s held %llu s",
		    d->incident.count,
		    (d->incident.last - d->incident.t0) / 1000,
		    d->restore_max_us, KK_TABLE_NAME,
		    (now - d->incident.last) / 1000000);
		report_tamper(d, "kakurid", "incident-over", NULL, extra);
		kd_audit(d, "kakurid", "tamper", "incident-over", extra);
	} else {
		json_decref(extra);
	}
	memset(&d->incident, 0, sizeof(d->incident));
}

/* A foreign nftables commit while quarantined that left the tables intact. */
static void
nftables_changed(struct kd *d, const char *who)
{
	if (!alert_allowed(d, ALERT_NFTABLES, "table-intact"))
		return;
	kk_log(LOG_NOTICE, KK_MID_TAMPER,
	    "nftables changed by %s while %s; table inet %s intact",
	    who, kk_mode_name(d->state.mode), KK_TABLE_NAME);
	kd_audit(d, who, "nftables-change", "table-intact",
	    json_pack("{s:s}", "mode", kk_mode_name(d->state.mode)));
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
	unsigned long long t0 = now_usec();
	uint32_t gen = 0;
	bool gen_ok = kk_nft_genid(&d->nft, &gen) == 0, tampered;
	int err;

	err = verify(d);
	if (err == 0 && own_name(d)) {
		d->verified_gen = gen;
		d->gen_valid = gen_ok;
		if (d->incident.what[0] && !incident_holds(d))
			incident_event(d, who, "restored", false, t0);
		else if (d->incident.what[0] &&
		    now_usec() >= d->incident.last + QUIET_USEC)
			incident_close(d);
		else if (foreign_commit && d->state.mode != KK_MODE_OPEN)
			nftables_changed(d, who);
		goto out;
	}
	/* on a fallback that holds: nothing to do until the own name is free */
	if (err == 0 && kk_nft_name_held(&d->nft, KK_TABLE_NAME) != 0) {
		if (d->incident.what[0] == '\0')	/* so since start-up */
			incident_event(d, who, "fallback", false, t0);
		goto out;
	}
	/*
	 * Only a difference is tampering; a read-back that failed (netlink
	 * error, no memory) is applied again, and counts nothing.
	 */
	tampered = err == -ESTALE;
	if (tampered && d->tamper_events < ULONG_MAX)
		d->tamper_events++;
	else if (err < 0 && alert_allowed(d, ALERT_TABLES, "read-back-failed"))
		kk_log(LOG_WARNING, KK_MID_TAMPER,
		    "could not read the tables back (%s): applying them again",
		    d->nft.err);
	err = apply(d, d->state.mode, d->state.episode);
	incident_event(d, who, err < 0 ? "restore-failed" : own_name(d) ?
	    "restored" : "fallback", tampered, t0);
out:
	schedule(d);
}

/* Tamper monitor: another process touched the tables or the ruleset. */
static int
on_nft_event(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct kd *d = userdata;
	struct kk_nft_event ev;
	char who[64];

	kk_nft_monitor_drain(&d->nft, &ev);
	if (!ev.touched && !ev.overrun && !ev.foreign_commit)
		return 0;
	if (ev.pid)
		snprintf(who, sizeof(who), "pid %d (%s)", (int)ev.pid, ev.comm);
	else
		snprintf(who, sizeof(who), "unknown process");
	enforce(d, who, ev.foreign_commit);
	return 0;
}

/*
 * An interface alert: what status lists (the last few) always, the log,
 * audit line and report within the rate.
 */
static void
link_alert(struct kd *d, const char *who, const char *result,
    const char *what, json_t *extra)
{
	const size_t slots = sizeof(d->link_alerts) / sizeof(d->link_alerts[0]);
	struct kd_alert *a = &d->link_alerts[d->nlink_alerts % slots];

	if (strcmp(result, "interface-not-covered") != 0) {
		memset(a, 0, sizeof(*a));
		a->since = time(NULL);
		a->t0 = a->last = now_usec();
		a->count = 1;
		snprintf(a->result, sizeof(a->result), "%s", result);
		snprintf(a->what, sizeof(a->what), "%s", what);
		if (d->nlink_alerts < ULONG_MAX)
			d->nlink_alerts++;
	}
	if (!alert_allowed(d, ALERT_INTERFACES, result)) {
		json_decref(extra);
		return;
	}
	kk_log(LOG_ALERT, KK_MID_TAMPER, "%s while %s", what,
	    kk_mode_name(d->state.mode));
	report_tamper(d, who, result, what, extra);
	kd_audit(d, who, "tamper", result, extra);
}

static void
on_link_change(void *data, const struct kk_link_change *ch)
{
	struct kd *d = data;
	char who[IF_NAMESIZE + 16], what[256];

	if (d->state.mode == KK_MODE_OPEN) {
		if (ch->how == KK_LINK_MOVED)
			kk_log(LOG_INFO, KK_MID_TAMPER,
			    "interface %s (ifindex %d) moved to another network namespace while open: no alert",
			    ch->name, ch->ifindex);
		return;
	}
	snprintf(who, sizeof(who), "interface %s", ch->name);
	switch (ch->how) {
	case KK_LINK_DELETED:
	case KK_LINK_MOVED_PAIRED:
		kk_log(LOG_NOTICE, KK_MID_TAMPER,
		    "interface %s (ifindex %d) %s while %s", ch->name,
		    ch->ifindex, ch->how == KK_LINK_DELETED ? "deleted" :
		    "moved to another namespace; its veth peer stays here",
		    kk_mode_name(d->state.mode));
		return;
	case KK_LINK_MOVED:
		snprintf(what, sizeof(what),
		    "interface %s (ifindex %d) moved to another network namespace (netnsid %d): its traffic no longer meets kakuri's tables",
		    ch->name, ch->ifindex, (int)ch->nsid);
		link_alert(d, who, "interface-moved", what, json_pack(
		    "{s:s, s:i, s:i}", "interface", ch->name, "ifindex",
		    ch->ifindex, "netnsid", (int)ch->nsid));
		return;
	case KK_LINK_UNCOVERED:
		snprintf(what, sizeof(what),
		    "interface %s (%s, ifindex %d) appeared: traffic of its siblings on the same device bypasses kakuri's tables",
		    ch->name, ch->kind, ch->ifindex);
		link_alert(d, who, "interface-not-covered", what, json_pack(
		    "{s:s, s:s, s:i}", "interface", ch->name, "kind", ch->kind,
		    "ifindex", ch->ifindex));
		return;
	case KK_LINK_VANISHED:
		return;		/* summed up by on_links_timer() */
	}
}

/* Interfaces gone without an event (events were lost): one alert per rescan. */
struct vanished {
	struct kd *d;
	unsigned n;
	char names[160];
};

static void
on_link_rescanned(void *data, const struct kk_link_change *ch)
{
	struct vanished *v = data;
	size_t len = strlen(v->names);

	if (ch->how != KK_LINK_VANISHED) {
		on_link_change(v->d, ch);
		return;
	}
	v->n++;
	if (len + strlen(ch->name) + 5 < sizeof(v->names))
		snprintf(v->names + len, sizeof(v->names) - len, "%s%s",
		    len ? " " : "", ch->name);
	else if (len + 4 < sizeof(v->names) && strstr(v->names, "...") == NULL)
		strcat(v->names, " ...");
}

static int
on_links_event(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct kd *d = userdata;
	int err;

	if ((err = kk_links_drain(&d->links, on_link_change, d)) < 0)
		kk_log(LOG_WARNING, KK_MID_ERROR, "interface events: %s",
		    strerror(-err));
	return 0;
}

/*
 * The periodic half of the interface watch, for events that were lost:
 * its own timer, so that nothing else (nftables events re-arming the
 * verification) can keep it from running.
 */
static int
on_links_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kd *d = userdata;
	struct vanished v = { .d = d };
	char what[256];
	int err;

	sd_event_source_set_time(s, usec + LINKS_PERIOD_USEC);
	if (d->state.mode == KK_MODE_OPEN && d->nlink_alerts) {
		memset(d->link_alerts, 0, sizeof(d->link_alerts));
		d->nlink_alerts = 0;
	}
	/* events first: one may explain an interface the dump misses */
	if ((err = kk_links_drain(&d->links, on_link_change, d)) < 0 ||
	    (err = kk_links_rescan(&d->links, on_link_rescanned, &v)) < 0)
		kk_log(LOG_WARNING, KK_MID_ERROR, "interface rescan: %s",
		    strerror(-err));
	if (v.n == 0 || d->state.mode == KK_MODE_OPEN)
		return 0;
	snprintf(what, sizeof(what),
	    "%u interface(s) left the network namespace with no event seen (moved or deleted): %s",
	    v.n, v.names);
	link_alert(d, "kernel", "interface-vanished", what, json_pack(
	    "{s:s, s:i}", "interfaces", v.names, "count", (int)v.n));
	return 0;
}

static int
on_verify_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kd *d = userdata;
	uint32_t gen;

	if ((d->incident.what[0] && (!incident_holds(d) ||
	    now_usec() >= d->incident.last + QUIET_USEC)) || !own_name(d) ||
	    !d->gen_valid || kk_nft_genid(&d->nft, &gen) < 0 ||
	    gen != d->verified_gen)
		enforce(d, "periodic verification", false);
	else
		schedule(d);
	return 0;
}

/*
 * The watch beside the nftables events: the verify timer, the interface
 * watch (events and the rescan timer) and the alert summary timer.  Only
 * the verify timer is required; without the interface watch, status says
 * what goes unnoticed (not_covered).
 */
static int
watch_start(struct kd *d)
{
	const char *rcvbuf = getenv("KAKURID_TEST_LINKS_RCVBUF");
	int err;

	if ((err = sd_event_add_time_relative(d->ev, &d->verify_timer,
	    CLOCK_MONOTONIC, RETRY_MIN_USEC, TIMER_ACCURACY_USEC,
	    on_verify_timer, d)) < 0 ||
	    (err = sd_event_add_time_relative(d->ev, &d->summary_timer,
	    CLOCK_MONOTONIC, SUMMARY_USEC, TIMER_ACCURACY_USEC,
	    on_summary_timer, d)) < 0 ||
	    (err = sd_event_source_set_enabled(d->summary_timer,
	    SD_EVENT_OFF)) < 0) {
		kk_log(LOG_ERR, KK_MID_ERROR, "verify timer: %s",
		    strerror(-err));
		return err;
	}
	if ((err = kk_links_open(&d->links)) < 0)
		goto links_off;
	/* test only: a tiny buffer, so that a test loses events for sure */
	if (rcvbuf != NULL) {
		kk_log(LOG_WARNING, KK_MID_START,
		    "KAKURID_TEST_LINKS_RCVBUF=%s: interface events buffer made small (for tests only)",
		    rcvbuf);
		if ((err = kk_links_set_rcvbuf(&d->links, atoi(rcvbuf))) < 0)
			goto links_off;
	}
	if ((err = sd_event_add_io(d->ev, &d->links_src, kk_links_fd(&d->links),
	    EPOLLIN, on_links_event, d)) < 0 ||
	    (err = sd_event_add_time_relative(d->ev, &d->links_timer,
	    CLOCK_MONOTONIC, LINKS_PERIOD_USEC, TIMER_ACCURACY_USEC,
	    on_links_timer, d)) < 0 ||
	    (err = sd_event_source_set_enabled(d->links_timer, SD_EVENT_ON)) < 0)
		goto links_off;
	return 0;
links_off:
	kk_log(LOG_ERR, KK_MID_ERROR,
	    "interface watch: %s: an interface moved to another namespace goes unnoticed",
	    strerror(-err));
	d->links_src = sd_event_source_disable_unref(d->links_src);
	d->links_timer = sd_event_source_disable_unref(d->links_timer);
	kk_links_close(&d->links);
	return 0;
}

static int
on_sighup(sd_event_source *s, const struct signalfd_siginfo *si,
    void *userdata)
{
	struct kd *d = userdata;
	struct kk_policy *next, *old = d->policy;
	char err[512] = "";
	int r;

	next = calloc(1, sizeof(*next));
	if (next == NULL)
		return 0;
	r = kk_policy_load(d->policy_path, 0, next, err, sizeof(err));
	if (r < 0) {
		kk_log(LOG_ERR, KK_MID_POLICY,
		    "reload refused, the old policy stays in force: %s", err);
		kd_audit(d, "signal:SIGHUP", "policy-reload", "refused",
		    json_pack("{s:s}", "error", err));
		free(next);
		return 0;
	}
	d->policy = next;
	resolve_ids(d);
	/* the new policy's table replaces the old one in one batch */
	r = apply(d, d->state.mode, d->state.episode);
	if (r < 0) {
		kk_log(LOG_ERR, KK_MID_POLICY,
		    "reload: new policy could not be applied (%s); keeping the old one",
		    d->nft.err);
		kd_audit(d, "signal:SIGHUP", "policy-reload", "refused",
		    json_pack("{s:s}", "error", d->nft.err));
		d->policy = old;
		resolve_ids(d);
		free(next);
		return 0;
	}
	free(old);
	/* trust.conf too; the network child restarts with the new settings */
	kd_remote_init(d);
	kd_channel_reload(d);
	kk_log(LOG_NOTICE, KK_MID_POLICY, "policy %s reloaded, %s re-applied",
	    d->policy_path, kk_mode_name(d->state.mode));
	kd_audit(d, "signal:SIGHUP", "policy-reload", "applied",
	    json_pack("{s:s}", "mode", kk_mode_name(d->state.mode)));
	return 0;
}

static int
on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si,
    void *userdata)
{
	struct kd *d = userdata;

	kk_log(LOG_NOTICE, KK_MID_STOP, "stopping on signal %u; %s stays in force",
	    si->ssi_signo, kk_mode_name(d->state.mode));
	sd_notify(0, "STOPPING=1");
	sd_event_exit(d->ev, 0);
	return 0;
}

/*
 * A state.json that does not load (unparseable, invalid, unreadable) says
 * nothing about what the host should be: fail closed.  The host comes up
 * isolated with a new episode (a release stockpiled for an old one must
 * not fit), the file is kept aside as evidence, and the CSIRT is alerted.
 */
static void
state_unreadable(struct kd *d, int load_err, struct kk_state *st,
    char *kept, size_t keptlen)
{
	int err;

	kept[0] = '\0';
	if (load_err != -ENOENT &&
	    (err = kk_state_set_aside(d->state_path, time(NULL), kept,
	    keptlen)) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "cannot keep %s aside: %s",
		    d->state_path, strerror(-err));
	kk_log(LOG_CRIT, KK_MID_TAMPER,
	    "%s cannot be loaded (%s): failing closed to isolated%s%s",
	    d->state_path, load_err == -EBADMSG ? "corrupt" :
	    strerror(-load_err), kept[0] ? "; kept as " : "", kept);
	kd_audit(d, "kakurid", "state-load", "corrupt", json_pack(
	    "{s:s, s:s?}", "error", load_err == -EBADMSG ? "corrupt" :
	    strerror(-load_err), "kept", kept[0] ? kept : NULL));
	memset(st, 0, sizeof(*st));
	st->mode = KK_MODE_ISOLATED;
	st->since = time(NULL);
	snprintf(st->by, sizeof(st->by), "kakurid (state file unreadable)");
	snprintf(st->reason, sizeof(st->reason),
	    "state.json could not be loaded: failed closed");
}

static void
alert_state_unreadable(struct kd *d, const char *kept)
{
	char id[KK_EPISODE_HEX + 1];
	json_t *o;

	o = json_pack("{s:s, s:s, s:s, s:s, s:s?}", "episode", d->state.episode,
	    "mode", kk_mode_name(d->state.mode), "by", "kakurid",
	    "result", "state-unreadable", "kept", kept[0] ? kept : NULL);
	if (o == NULL || kd_outbox_put(d, "tamper", o, id) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR,
		    "could not queue the tamper alert in %s", d->outbox_dir);
	json_decref(o);
}

/*
 * Decide the mode at start from state.json and the kernel's table, and
 * re-apply it.  When they disagree the stricter one wins: fail closed.
 * A state file that does not load means isolated (state_unreadable).
 */
static int
adopt(struct kd *d, bool restore)
{
	struct kk_nft_table_info ti;
	struct kk_state st;
	const char *source = "state";
	char kept[PATH_MAX + 64] = "";
	bool unreadable;
	int err;

	memset(&st, 0, sizeof(st));
	err = kk_state_load(d->state_path, &st);
	unreadable = err < 0 && err != -ENOENT;
	if (unreadable) {
		state_unreadable(d, err, &st, kept, sizeof(kept));
		source = "fail-closed";
	}
	if ((err = kk_nft_table_info(&d->nft, &ti)) < 0) {
		kk_log(LOG_ERR, KK_MID_ERROR, "%s", d->nft.err);
		return err;
	}
	if (!unreadable && ti.exists && ti.has_mode && ti.mode > st.mode) {
		st.mode = ti.mode;
		snprintf(st.episode, sizeof(st.episode), "%s", ti.episode);
		snprintf(st.by, sizeof(st.by), "kernel table (state file behind)");
		st.since = time(NULL);
		source = "kernel";
	}
	if (st.mode != KK_MODE_OPEN && st.episode[0] == '\0' &&
	    (err = kk_episode_new(st.episode)) < 0)
		return err;
	if (st.mode == KK_MODE_OPEN)
		st.episode[0] = '\0';
	d->state = st;
	err = apply(d, st.mode, st.episode);
	if (err < 0) {
		kk_log(LOG_CRIT, KK_MID_APPLY, "could not apply %s: %s",
		    kk_mode_name(st.mode), d->nft.err);
		kd_audit(d, "kakurid", restore ? "restore" : "start", "apply-failed",
		    json_pack("{s:s, s:s}", "mode", kk_mode_name(st.mode),
		    "error", d->nft.err));
		return err;
	}
	save_state(d);
	if (unreadable)
		alert_state_unreadable(d, kept);
	kk_log(LOG_NOTICE, KK_MID_START,
	    "%s: %s%s%s (from %s; table %s, protection %s) applied and verified in %llu us",
	    restore ? "restore" : "start", kk_mode_name(st.mode),
	    st.episode[0] ? ", episode " : "", st.episode, source,
	    ti.exists ? "re-adopted" : "created",
	    d->table_flags ? "owner+persist" : "monitor", d->last_apply_usec);
	kd_audit(d, "kakurid", restore ? "restore" : "start", "applied",
	    json_pack("{s:s, s:s, s:b, s:s, s:I}", "mode", kk_mode_name(st.mode),
	    "source", source, "readopted", ti.exists,
	    "protection", d->table_flags ? "owner+persist" : "monitor",
	    "apply_us", (json_int_t)d->last_apply_usec));
	return 0;
}

static int
setup_paths(struct kd *d)
{
	const char *dir = d->policy->state_dir;
	char reserve[PATH_MAX];
	int err;

	if (snprintf(d->state_path, sizeof(d->state_path), "%s/state.json",
	    dir) >= (int)sizeof(d->state_path) ||
	    snprintf(d->audit_path, sizeof(d->audit_path), "%s/audit.log",
	    dir) >= (int)sizeof(d->audit_path) ||
	    snprintf(d->outbox_dir, sizeof(d->outbox_dir), "%s/outbox",
	    dir) >= (int)sizeof(d->outbox_dir))
		return -ENAMETOOLONG;
	if ((err = mkdir_private(dir)) < 0 ||
	    (err = mkdir_private(d->outbox_dir)) < 0)
		return err;
	/* room for state, replay ids and notices when the volume fills up */
	if (snprintf(reserve, sizeof(reserve), "%s/reserve", dir) >=
	    (int)sizeof(reserve))
		return -ENAMETOOLONG;
	if ((err = kk_reserve_init(reserve, KK_RESERVE_BYTES)) < 0)
		kk_log(LOG_WARNING, KK_MID_ERROR,
		    "cannot set %d MiB aside in %s: %s", KK_RESERVE_BYTES >> 20,
		    reserve, strerror(-err));
	if ((err = kk_audit_open(&d->audit, d->audit_path)) < 0)
		return err;
	kk_audit_set_limits(&d->audit, (uint64_t)d->policy->audit_max_mb << 20,
	    (unsigned)d->policy->audit_keep);
	return 0;
}

/* --init: an Ed25519 key file, loaded if it exists, else created (0600). */
static int
init_key(const char *path, EVP_PKEY **out)
{
	EVP_PKEY *k = NULL;
	int err;

	*out = NULL;
	if (access(path, F_OK) == 0) {
		if ((err = kk_key_load_private(path, &k)) < 0) {
			fprintf(stderr, "kakurid: %s: %s\n", path, strerror(-err));
			return err;
		}
	} else {
		k = kk_key_generate();
		if (k == NULL || (err = kk_key_save_private(k, path)) < 0) {
			fprintf(stderr, "kakurid: cannot create %s: %s\n", path,
			    k ? strerror(-err) : "key generation failed");
			EVP_PKEY_free(k);
			return -EIO;
		}
		fprintf(stderr, "kakurid: created %s\n", path);
	}
	*out = k;
	return 0;
}

/* --init: cert exists, loads, and carries key; says what is wrong if not. */
static int
init_check_cert(const char *path, EVP_PKEY *key, X509 **out)
{
	EVP_PKEY *pub;
	X509 *x = NULL;
	int err;

	if ((err = kk_cert_load(path, &x)) < 0) {
		fprintf(stderr, "kakurid: %s: %s\n", path, err == -EINVAL ?
		    "not a PEM certificate" : strerror(-err));
		return err;
	}
	pub = X509_get0_pubkey(x);
	if (pub == NULL || EVP_PKEY_eq(pub, key) != 1) {
		fprintf(stderr, "kakurid: %s does not carry the key of its key "
		    "file\n", path);
		X509_free(x);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

/*
 * --init (DESIGN 2): the agent's Ed25519 identity key and a self-signed
 * certificate carrying it, then the network child's own TLS key and a
 * certificate for it that the identity key signs, each created only where
 * missing (an install from before the TLS key gets just that).  Prints
 * the agent id.
 */
static int
init_identity(const struct kk_policy *p)
{
	EVP_PKEY *k = NULL, *tk = NULL;
	X509 *idcert = NULL, *tlscert = NULL;
	char id[KK_AGENT_ID_HEX + 1], host[64] = "kakuri-agent";
	int err;

	gethostname(host, sizeof(host) - 1);
	if ((err = init_key(p->key, &k)) < 0)
		goto out;
	if (access(p->cert, F_OK) != 0) {
		err = kk_cert_selfsigned(k, host, 3650, p->cert);
		if (err < 0) {
			fprintf(stderr, "kakurid: cannot create %s: %s\n", p->cert,
			    strerror(-err));
			goto out;
		}
		fprintf(stderr, "kakurid: created %s\n", p->cert);
	}
	if ((err = init_check_cert(p->cert, k, &idcert)) < 0 ||
	    (err = init_key(p->tls_key, &tk)) < 0)
		goto out;
	if (EVP_PKEY_eq(k, tk) == 1) {
		fprintf(stderr, "kakurid: %s holds the identity key; the network "
		    "child needs a key of its own\n", p->tls_key);
		err = -EINVAL;
		goto out;
	}
	if (access(p->tls_cert, F_OK) != 0) {
		/* a subject of its own: it is not the identity certificate */
		err = kk_cert_issue(tk, "kakurid network child", 3650, idcert,
		    k, p->tls_cert);
		if (err < 0) {
			fprintf(stderr, "kakurid: cannot create %s: %s\n",
			    p->tls_cert, strerror(-err));
			goto out;
		}
		fprintf(stderr, "kakurid: created %s (certified by %s)\n",
		    p->tls_cert, p->key);
	}
	if ((err = init_check_cert(p->tls_cert, tk, &tlscert)) < 0)
		goto out;
	if ((err = kk_cert_check_issued(tlscert, k)) < 0) {
		fprintf(stderr, "kakurid: %s is not certified by the identity key "
		    "%s; remove it and run kakurid --init again\n", p->tls_cert,
		    p->key);
		goto out;
	}
	err = kk_key_id(k, id);
	if (err == 0)
		printf("%s\n", id);
out:
	X509_free(idcert);
	X509_free(tlscert);
	EVP_PKEY_free(tk);
	EVP_PKEY_free(k);
	return err;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "restore", no_argument, NULL, 'R' },
		{ "init", no_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct kd d;
	const char *path = KK_DEFAULT_POLICY;
	bool check_only = false, restore = false, init = false;
	int verbose = 0, ch, err, ret = 1;
	char errbuf[512] = "";
	sigset_t mask;

	/* the network child: kakurid executed again by itself (netchild.h) */
	if (argc > 1 && strcmp(argv[1], "--network-child") == 0)
		kk_netchild_main(argc, argv);
	memset(&d, 0, sizeof(d));
	d.audit.fd = -1;
	while ((ch = getopt_long(argc, argv, "df:nvh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			d.foreground = 1;
			break;
		case 'f':
			path = optarg;
			break;
		case 'n':
			check_only = true;
			break;
		case 'v':
			verbose++;
			break;
		case 'R':
			restore = true;
			break;
		case 'I':
			init = true;
			break;
		case 'V':
			printf("kakurid %s\n", KAKURI_VERSION);
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	kk_log_init(d.foreground || restore || check_only, verbose);

	d.policy = calloc(1, sizeof(*d.policy));
	if (d.policy == NULL)
		return 1;
	snprintf(d.policy_path, sizeof(d.policy_path), "%s", path);
	if (kk_policy_load(path, 0, d.policy, errbuf, sizeof(errbuf)) < 0) {
		fprintf(stderr, "%s\n", errbuf);
		if (!check_only)
			kk_log(LOG_ERR, KK_MID_POLICY, "%s", errbuf);
		goto out;
	}
	if (check_only) {
		printf("policy OK\n");
		ret = 0;
		goto out;
	}
	if (init) {
		ret = init_identity(d.policy) < 0 ? 1 : 0;
		goto out;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "kakurid: must run as root (CAP_NET_ADMIN)\n");
		goto out;
	}
	umask(0077);
	resolve_ids(&d);
	if ((err = setup_paths(&d)) < 0) {
		kk_log(LOG_ERR, KK_MID_ERROR, "state directory %s: %s",
		    d.policy->state_dir, strerror(-err));
		goto out;
	}
	if ((err = kk_nft_open(&d.nft)) < 0) {
		kk_log(LOG_ERR, KK_MID_ERROR, "%s", d.nft.err);
		goto out;
	}
	d.table_flags = d.policy->protect == KK_PROTECT_AUTO ?
	    KK_NFT_F_OWNER | KK_NFT_F_PERSIST : 0;
	d.persist_supported = d.table_flags != 0;

	if (restore) {
		/*
		 * Boot: the flags hand the table over to the kernel (persist)
		 * when this process exits; kakurid.service claims it later.
		 */
		ret = adopt(&d, true) < 0 ? 1 : 0;
		goto out;
	}

	if ((err = sd_event_default(&d.ev)) < 0) {
		kk_log(LOG_ERR, KK_MID_ERROR, "sd-event: %s", strerror(-err));
		goto out;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sd_event_add_signal(d.ev, NULL, SIGTERM, on_exit_signal, &d);
	sd_event_add_signal(d.ev, NULL, SIGINT, on_exit_signal, &d);
	sd_event_add_signal(d.ev, NULL, SIGHUP, on_sighup, &d);
	sd_event_set_watchdog(d.ev, 1);

	/* watch first, so tampering during start-up is seen too */
	if ((err = kk_nft_monitor_open(&d.nft)) < 0) {
		kk_log(LOG_ERR, KK_MID_ERROR, "%s", d.nft.err);
		goto out;
	}
	if (sd_event_add_io(d.ev, &d.mon_src, kk_nft_monitor_fd(&d.nft),
	    EPOLLIN, on_nft_event, &d) < 0)
		goto out;
	if (adopt(&d, false) < 0)
		goto out;
	/* never on events alone: a timer verifies, and retries with backoff */
	if (watch_start(&d) < 0)
		goto out;
	if ((err = kk_control_open(&d, d.policy->control_socket)) < 0) {
		kk_log(LOG_ERR, KK_MID_ERROR, "control socket %s: %s",
		    d.policy->control_socket, strerror(-err));
		goto out;
	}
	/* evidence: the freezer, what was frozen before a restart */
	if ((err = kd_preserve_init(&d)) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "evidence: %s", strerror(-err));
	/* the CSIRT channel is optional: isolation never waits for it */
	d.child_fd = -1;
	if (kd_remote_init(&d) < 0 || kd_channel_start(&d) < 0)
		kk_log(LOG_WARNING, KK_MID_START,
		    "signed commands are off: %s", d.remote_err[0] ?
		    d.remote_err : "the network child did not start");
	else if (d.agent_id[0])
		kk_log(LOG_INFO, KK_MID_START, "agent id %s", d.agent_id);
	notify_status(&d);
	sd_notify(0, "READY=1");
	err = sd_event_loop(d.ev);
	ret = err < 0 ? 1 : 0;
out:
	kd_channel_stop(&d);
	kd_preserve_free(&d);
	kd_remote_abort_runs(&d);
	kd_remote_free(&d);
	kk_control_close(&d);
	sd_event_source_disable_unref(d.mon_src);
	sd_event_source_disable_unref(d.verify_timer);
	sd_event_source_disable_unref(d.summary_timer);
	sd_event_source_disable_unref(d.links_src);
	sd_event_source_disable_unref(d.links_timer);
	kk_links_close(&d.links);
	kk_nft_close(&d.nft);
	kk_audit_close(&d.audit);
	sd_event_unref(d.ev);
	free(d.policy);
	return ret;
}
