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
    struct kk_nft_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->mode = mode;
	spec->policy = d->policy;
	spec->own_uid_known = d->own_known;
	spec->own_uid = d->own_uid;
	spec->own_gid = d->own_gid;
	spec->table_flags = d->table_flags;
	snprintf(spec->episode, sizeof(spec->episode), "%s", episode);
}

/*
 * Put the table into mode: one atomic batch, then read back.  Where the
 * kernel lacks NFT_TABLE_F_PERSIST (Linux < 6.9) the owner flag alone
 * would take the table down with kakurid, so it falls back to no flags
 * and relies on the event monitor.
 */
static int
apply(struct kd *d, enum kk_mode mode, const char *episode)
{
	struct kk_nft_table_info ti;
	struct kk_nft_spec spec;
	unsigned long long t0 = now_usec();
	int err;

	if ((err = kk_nft_table_info(&d->nft, &ti)) < 0)
		return err;
	make_spec(d, mode, episode, &spec);
	err = kk_nft_apply(&d->nft, &spec, &ti);
	if (err == -EOPNOTSUPP && d->table_flags != 0) {
		kk_log(LOG_WARNING, KK_MID_APPLY,
		    "kernel refused table flags owner+persist (%s); falling back to the tamper monitor",
		    d->nft.err);
		d->table_flags = 0;
		d->persist_supported = false;
		if ((err = kk_nft_table_info(&d->nft, &ti)) < 0)
			return err;
		make_spec(d, mode, episode, &spec);
		err = kk_nft_apply(&d->nft, &spec, &ti);
	}
	d->last_apply_usec = now_usec() - t0;
	return err;
}

static int
verify(struct kd *d)
{
	struct kk_nft_spec spec;

	make_spec(d, d->state.mode, d->state.episode, &spec);
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

json_t *
kd_status(struct kd *d)
{
	static const char *const hooks[] = { "input", "output", "forward" };
	struct kk_nft_counters cnt;
	char since[32] = "";
	json_t *o, *counters;
	int i, vr;

	vr = d->state.mode == KK_MODE_OPEN ? 0 : verify(d);
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
	    "verified", vr == 0,
	    "tamper_events", (json_int_t)d->tamper_events);
	if (o == NULL)
		return NULL;
	counters = json_object();
	if (kk_nft_counters(&d->nft, &cnt) == 0) {
		for (i = 0; i < 3; i++)
			json_object_set_new(counters, hooks[i], json_pack(
			    "{s:I, s:I}", "packets", (json_int_t)cnt.pkts[i],
			    "bytes", (json_int_t)cnt.bytes[i]));
	}
	json_object_set_new(o, "counters", counters);
	json_object_set_new(o, "agent", d->agent_id[0] ?
	    json_string(d->agent_id) : json_null());
	json_object_set_new(o, "csirt_channel", json_string(
	    d->policy->listen[0] == '\0' ? "off (agent.listen is empty)" :
	    d->child_pid > 0 ? "listening" : d->remote_ready ? "restarting" :
	    d->remote_err[0] ? d->remote_err : "off"));
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

/* A tamper alert for the CSIRT, queued in the outbox like every report. */
static void
report_tamper(struct kd *d, const char *who, const char *result)
{
	char id[KK_EPISODE_HEX + 1];
	json_t *o;

	o = json_pack("{s:s, s:s, s:s, s:s}", "episode", d->state.episode,
	    "mode", kk_mode_name(d->state.mode), "by", who, "result", result);
	if (o == NULL || kd_outbox_put(d, "tamper", o, id) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR,
		    "could not queue the tamper alert in %s", d->outbox_dir);
	json_decref(o);
}

/* Tamper monitor: another process touched the table or the ruleset. */
static int
on_nft_event(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct kd *d = userdata;
	struct kk_nft_event ev;
	unsigned long long t0 = now_usec();
	char who[64];
	int err;

	kk_nft_monitor_drain(&d->nft, &ev);
	if (!ev.touched && !ev.overrun && !ev.foreign_commit)
		return 0;
	if (ev.pid)
		snprintf(who, sizeof(who), "pid %d (%s)", (int)ev.pid, ev.comm);
	else
		snprintf(who, sizeof(who), "unknown process");
	err = verify(d);
	if (err == 0) {
		if (ev.foreign_commit && d->state.mode != KK_MODE_OPEN) {
			kk_log(LOG_NOTICE, KK_MID_TAMPER,
			    "nftables changed by %s while %s; table inet %s intact",
			    who, kk_mode_name(d->state.mode), KK_TABLE_NAME);
			kd_audit(d, who, "nftables-change", "table-intact",
			    json_pack("{s:s}", "mode", kk_mode_name(d->state.mode)));
		}
		return 0;
	}
	err = apply(d, d->state.mode, d->state.episode);
	d->tamper_events++;
	if (err < 0) {
		kk_log(LOG_CRIT, KK_MID_TAMPER,
		    "table inet %s tampered with by %s and could NOT be restored: %s",
		    KK_TABLE_NAME, who, d->nft.err);
		report_tamper(d, who, "restore-failed");
		kd_audit(d, who, "tamper", "restore-failed", json_pack("{s:s}",
		    "error", d->nft.err));
		return 0;
	}
	kk_log(LOG_ALERT, KK_MID_TAMPER,
	    "table inet %s tampered with by %s: restored to %s in %llu us",
	    KK_TABLE_NAME, who, kk_mode_name(d->state.mode), now_usec() - t0);
	report_tamper(d, who, "restored");
	kd_audit(d, who, "tamper", "restored", json_pack("{s:s, s:I}",
	    "mode", kk_mode_name(d->state.mode),
	    "restore_us", (json_int_t)(now_usec() - t0)));
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
	if (d->child_pid > 0)
		kill(d->child_pid, SIGKILL);
	else if (d->child_timer == NULL && d->remote_ready)
		kd_channel_start(d);
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

/*
 * --init: the agent's Ed25519 identity key and a self-signed certificate
 * carrying it, created only where missing; prints the agent id.
 */
static int
init_identity(const struct kk_policy *p)
{
	EVP_PKEY *k = NULL;
	char id[KK_AGENT_ID_HEX + 1], host[64] = "kakuri-agent";
	int err;

	if (access(p->key, F_OK) == 0) {
		err = kk_key_load_private(p->key, &k);
		if (err < 0) {
			fprintf(stderr, "kakurid: %s: %s\n", p->key, strerror(-err));
			return err;
		}
	} else {
		k = kk_key_generate();
		if (k == NULL || (err = kk_key_save_private(k, p->key)) < 0) {
			fprintf(stderr, "kakurid: cannot create %s: %s\n", p->key,
			    k ? strerror(-err) : "key generation failed");
			EVP_PKEY_free(k);
			return -EIO;
		}
		fprintf(stderr, "kakurid: created %s\n", p->key);
	}
	if (access(p->cert, F_OK) != 0) {
		gethostname(host, sizeof(host) - 1);
		err = kk_cert_selfsigned(k, host, 3650, p->cert);
		if (err < 0) {
			fprintf(stderr, "kakurid: cannot create %s: %s\n", p->cert,
			    strerror(-err));
			EVP_PKEY_free(k);
			return err;
		}
		fprintf(stderr, "kakurid: created %s\n", p->cert);
	}
	err = kk_key_id(k, id);
	if (err == 0)
		printf("%s\n", id);
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
	kk_nft_close(&d.nft);
	kk_audit_close(&d.audit);
	sd_event_unref(d.ev);
	free(d.policy);
	return ret;
}
