/*
 * report: an employee's self-report (issue 10, DESIGN 7), queued durably
 * for the CSIRT before its id is given out.  Any local user may report;
 * what the employee cannot be trusted to type or would not know is added
 * here: who (uid and pid from SO_PEERCRED, never from the request, and
 * the user name), the mode and episode, the logged-in sessions and the
 * last audit entries; the host facts are in every outbox message.  With
 * "disconnect" the caller presses the button too, if allowed to.
 *
 * The user name is never looked up here (resolver.h): a name the parent
 * does not know yet is asked of the resolver child, and the report waits
 * for its answer REPORT_NAME_WAIT_USEC at most, on the loop; then it goes
 * out with the uid alone and "user_lookup": "unknown".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <systemd/sd-login.h>

#include "act.h"
#include "daemon.h"
#include "drill.h"
#include "log.h"
#include "outbox.h"
#include "record.h"
#include "report.h"
#include "resolver.h"
#include "run.h"
#include "tally.h"
#include "wire.h"

#define REPORT_TEXT_MAX		8192	/* what, why */
#define REPORT_LINE_MAX		512	/* location, contact, found_at */
#define REPORT_ATTACH_MAX	KK_REPORT_ATTACH_MAX
/* each, decoded */
#define REPORT_ATTACH_BYTES	KK_REPORT_ATTACH_BYTES
#define REPORT_RECENT		10	/* audit entries added */
#define REPORT_RECENT_BYTES	(64 * 1024)
#define REPORT_SESSIONS		32
#define REPORT_NAME_WAIT_USEC	(1000000ULL)	/* for the reporter's name */

/* the request's keys; the reporter's own fields are ignored, not trusted */
static const char *const known_keys[] = {
	KW_CMD, KW_CATEGORY, KW_FOUND_AT, KW_LOCATION, KW_WHAT, KW_WHY,
	KW_CONTACT, KW_DISCONNECT, KW_ATTACHMENTS, KW_UID, KW_PID, KW_USER,
	KW_REPORTER,
};

/* Text the CSIRT will read: UTF-8, no control characters but newlines
 * and tabs where multiline, at most max bytes. */
static const char *
text_problem(json_t *v, size_t max, bool multiline)
{
	const char *s = json_string_value(v);
	size_t len = json_string_length(v), i, start = 0, bad;

	if (!json_is_string(v))
		return "must be a string";
	if (len > max)
		return "is too long";
	for (i = 0; i <= len; i++) {
		if (i < len && !(multiline && (s[i] == '\n' || s[i] == '\t')))
			continue;
		if (kk_text_check(s + start, i - start, &bad) < 0)
			return "is not text (UTF-8 without control characters)";
		start = i + 1;
	}
	return NULL;
}

struct field {
	const char *key;
	size_t max;
	bool multiline;
	bool required;
};

static const struct field fields[] = {
	{ KW_FOUND_AT, REPORT_LINE_MAX, false, false },
	{ KW_LOCATION, REPORT_LINE_MAX, false, false },
	{ KW_WHAT, REPORT_TEXT_MAX, true, true },
	{ KW_WHY, REPORT_TEXT_MAX, true, false },
	{ KW_CONTACT, REPORT_LINE_MAX, false, false },
};

/* base64 text of exactly size bytes whose SHA-256 is sha */
static bool
attachment_data_ok(const char *b64, size_t len, json_int_t size,
    const char *sha)
{
	unsigned char *raw;
	char got[65];
	int n;
	size_t pad = 0;

	if (len == 0 || len % 4 != 0 || len / 4 * 3 > REPORT_ATTACH_BYTES + 3)
		return false;
	if ((raw = malloc(len / 4 * 3 + 1)) == NULL)
		return false;
	n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)len);
	if (b64[len - 1] == '=')
		pad = b64[len - 2] == '=' ? 2 : 1;
	if (n < 0 || (size_t)n - pad != (size_t)size) {
		free(raw);
		return false;
	}
	kk_sha256_hex(raw, (size_t)size, got);
	free(raw);
	return strcmp(got, sha) == 0;
}

/* attachments: name, size, sha256, data; each checked, the hash again */
static const char *
attachments_problem(json_t *a)
{
	const char *name, *sha, *data;
	json_int_t size;
	json_t *e;
	size_t i;

	if (!json_is_array(a))
		return "attachments must be an array";
	if (json_array_size(a) > REPORT_ATTACH_MAX)
		return "too many attachments";
	json_array_foreach(a, i, e) {
		if (json_unpack(e, "{s:s, s:I, s:s, s:s !}", KW_NAME, &name,
		    KW_SIZE, &size, KW_SHA256, &sha, KW_DATA, &data) < 0)
			return "an attachment is {name, size, sha256, data}";
		if (text_problem(json_object_get(e, KW_NAME), 255, false) ||
		    strchr(name, '/') != NULL || name[0] == '\0')
			return "an attachment's name is not a file name";
		if (size < 0 || size > REPORT_ATTACH_BYTES)
			return "an attachment is too large";
		if (!kk_is_hex(sha, strlen(sha), 64) ||
		    !attachment_data_ok(data, strlen(data), size, sha))
			return "an attachment's data is not its size and sha256";
	}
	return NULL;
}

/* The request checked: NULL, or why not in one line. */
static const char *
request_problem(json_t *req, char *buf, size_t len)
{
	char shown[41];
	const char *key, *why;
	json_t *v;
	size_t i;

	json_object_foreach(req, key, v) {
		for (i = 0; i < sizeof(known_keys) / sizeof(known_keys[0]); i++)
			if (strcmp(key, known_keys[i]) == 0)
				break;
		if (i == sizeof(known_keys) / sizeof(known_keys[0])) {
			/*
			 * cut on a character's boundary: half of one is no
			 * JSON string, and the answer could not be made
			 */
			kk_text_clean(shown, sizeof(shown), key, strlen(key));
			snprintf(buf, len, "unknown field \"%s\"", shown);
			return buf;
		}
	}
	if (!kk_report_category_ok(json_string_value(json_object_get(req,
	    KW_CATEGORY))))
		return "category must be popup, mail, file, web, device, "
		    "behaviour or other";
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		v = json_object_get(req, fields[i].key);
		if (v == NULL && !fields[i].required)
			continue;
		if (v == NULL || (why = text_problem(v, fields[i].max,
		    fields[i].multiline)) != NULL) {
			snprintf(buf, len, "%s %s", fields[i].key, v == NULL ?
			    "is required" : why);
			return buf;
		}
	}
	v = json_object_get(req, KW_DISCONNECT);
	if (v != NULL && !json_is_boolean(v))
		return "disconnect must be true or false";
	v = json_object_get(req, KW_ATTACHMENTS);
	if (v != NULL && (why = attachments_problem(v)) != NULL)
		return why;
	return NULL;
}

/* Who is logged in, as logind says (none without logind). */
static json_t *
sessions(void)
{
	char **ids = NULL, *tty, *type, *seat;
	json_t *a = json_array();
	uid_t uid;
	int n, i;

	n = sd_get_sessions(&ids);
	for (i = 0; i < n && a != NULL; i++) {
		tty = type = seat = NULL;
		if (i < REPORT_SESSIONS &&
		    sd_session_get_uid(ids[i], &uid) >= 0) {
			sd_session_get_tty(ids[i], &tty);
			sd_session_get_type(ids[i], &type);
			sd_session_get_seat(ids[i], &seat);
			json_array_append_new(a, json_pack("{s:s, s:I, s:s?, "
			    "s:s?, s:s?}", KW_ID, ids[i], KW_UID,
			    (json_int_t)uid, KW_TTY, tty, KW_TYPE, type,
			    KW_SEAT, seat));
		}
		free(tty);
		free(type);
		free(seat);
		free(ids[i]);
	}
	free(ids);
	return a;
}

/* The last audit entries, as JSON objects. */
static json_t *
recent_audit(struct kd *d)
{
	struct kk_audit_tail t;
	json_t *a = json_array(), *o;
	char *buf, *line, *save = NULL;
	ssize_t n;
	size_t have = 0;

	if (a == NULL || (buf = malloc(REPORT_RECENT_BYTES + 1)) == NULL)
		return a;
	if (kk_audit_tail_open(&d->audit, REPORT_RECENT, 0, &t) == 0) {
		while (have < REPORT_RECENT_BYTES && (n = kk_audit_tail_read(&t,
		    buf + have, REPORT_RECENT_BYTES - have)) > 0)
			have += (size_t)n;
		kk_audit_tail_close(&t);
	}
	buf[have] = '\0';
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save))
		if ((o = json_loads(line, 0, NULL)) != NULL)
			json_array_append_new(a, o);
	free(buf);
	return a;
}

/* Where, when the reporter did not say: the host and the policy's text. */
static json_t *
default_location(struct kd *d)
{
	char host[256] = "", text[256 + KK_TEXT_MAX + 4];

	gethostname(host, sizeof(host) - 1);
	snprintf(text, sizeof(text), "%s%s%s", host,
	    d->policy->report_location[0] ? ", " : "",
	    d->policy->report_location);
	return json_string(text);
}

/* what a report waiting for its reporter's name is still to do */
struct report_wait {
	struct run *r;
	bool pressed;
	const char *refused;
};

static const char *
lookup_word(enum kd_name_state st)
{
	return st == KD_NAME_FOUND ? "found" : st == KD_NAME_NONE ? "none" :
	    "unknown";
}

/*
 * The report made and queued: the reporter's name as known (st, name),
 * and whether the caller pressed the button too (or was refused it).
 */
static int
report_queue(struct run *r, bool pressed, const char *refused,
    enum kd_name_state st, const char *name)
{
	struct kd *d = r->d;
	json_t *req = r->args, *body = NULL, *v;
	char id[KK_EPISODE_HEX + 1];
	const char *key, *drill = kd_drill_running_id(d);
	size_t i;
	int err;

	body = json_object();
	if (body == NULL)
		goto nomem;
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		key = fields[i].key;
		if ((v = json_object_get(req, key)) != NULL &&
		    strcmp(key, KW_CONTACT) != 0)
			json_object_set(body, key, v);
	}
	json_object_set(body, KW_CATEGORY, json_object_get(req, KW_CATEGORY));
	if (json_object_get(req, KW_LOCATION) == NULL)
		json_object_set_new(body, KW_LOCATION, default_location(d));
	json_object_set_new(body, KW_REPORTER, json_pack("{s:I, s:I, s:s, "
	    "s:s, s:O?}", KW_UID, (json_int_t)r->uid, KW_PID, (json_int_t)r->pid,
	    KW_USER, st == KD_NAME_FOUND ? name : "?", KW_USER_LOOKUP,
	    lookup_word(st), KW_CONTACT, json_object_get(req, KW_CONTACT)));
	/* with the pid, the process for good: the pid is reused later */
	if (r->start_time != 0)
		json_object_set_new(json_object_get(body, KW_REPORTER),
		    KW_START_TIME, json_integer((json_int_t)r->start_time));
	json_object_set_new(body, KW_DISCONNECTED, json_boolean(pressed ||
	    d->state.mode != KK_MODE_OPEN));
	json_object_set_new(body, KW_MODE, json_string(kk_mode_name(
	    d->state.mode)));
	if (d->state.episode[0] != '\0')
		json_object_set_new(body, KW_EPISODE,
		    json_string(d->state.episode));
	/*
	 * Made while a drill runs: the CSIRT reads it with that drill in
	 * mind (the employee may be answering the drill, or reporting what
	 * is real: both are worth knowing).
	 */
	if (drill != NULL)
		json_object_set_new(body, KW_DRILL, json_string(drill));
	if ((v = json_object_get(req, KW_ATTACHMENTS)) != NULL)
		json_object_set(body, KW_ATTACHMENTS, v);
	json_object_set_new(body, KW_SESSIONS, sessions());
	json_object_set_new(body, KW_RECENT, recent_audit(d));
	if ((err = kd_outbox_put(d, KK_REPORT_SELF, body, id)) < 0) {
		kd_audit(d, r->via, "report", "refused", json_pack("{s:s}",
		    KW_ERROR, kd_outbox_error(d)));
		kd_run_fail(r, err == -ENOSPC ? KE_NO_SPACE : KE_IO, "%s",
		    kd_outbox_error(d));
		json_decref(body);
		return err;
	}
	json_decref(body);
	/* during a drill, reporting is the response the drill times */
	kd_drill_employee(d, NULL, r->uid, KW_REPORT, false);
	kk_log(LOG_NOTICE, KK_MID_REPORT, "self-report %s by %s (%s)%s", id,
	    r->via, json_string_value(json_object_get(req, KW_CATEGORY)),
	    pressed ? ", disconnected" : "");
	kd_audit(d, r->via, "report", "queued", json_pack("{s:s, s:s, s:b}",
	    KW_REPORT, id, KW_CATEGORY, json_string_value(json_object_get(req,
	    KW_CATEGORY)), KW_DISCONNECTED, pressed));
	r->answer = json_pack("{s:b, s:s, s:b, s:s, s:s?, s:s?, s:{s:s, s:s, "
	    "s:s}}", KW_OK, 1, KW_REPORT, id, KW_DISCONNECTED, pressed,
	    KW_MODE, kk_mode_name(d->state.mode), KW_EPISODE,
	    d->state.episode[0] ? d->state.episode : NULL, KW_REFUSED, refused,
	    KW_CONTACT, KW_DESK, d->policy->contact_desk,
	    KW_PHONE, d->policy->contact_phone,
	    KW_EMAIL, d->policy->contact_email);
	return 0;
nomem:
	kd_run_fail(r, KE_IO, "out of memory");
	return -ENOMEM;
}

/* The name came, or the wait is over: the report goes out now. */
static void
report_named(struct kd *d, void *opaque, uid_t uid, enum kd_name_state st,
    const char *name)
{
	struct report_wait *w = opaque;
	struct run *r = w->r;

	/* the audit line names the reporter too, now that the name is known */
	if (st == KD_NAME_FOUND)
		kd_local_actor(d, r->uid, r->pid, r->via, sizeof(r->via));
	if (report_queue(r, w->pressed, w->refused, st, name) < 0 &&
	    strcmp(r->result, KR_DONE) == 0)
		r->result = KR_FAILED;
	free(w);
	kd_run_finish(r);
}

int
kd_act_report(struct run *r)
{
	struct kd *d = r->d;
	json_t *req = r->args;
	char why[160], press[KK_EPISODE_HEX + 1] = "";
	char name[KK_NAME_MAX];
	const char *problem, *refused = NULL;
	struct report_wait *w;
	enum kd_name_state st;
	bool changed = false, pressed = false;
	int err;

	if ((problem = request_problem(req, why, sizeof(why))) != NULL) {
		kd_tally_refused(d, r->uid, r->pid, r->local_class, "report", KE_MALFORMED,
		    json_pack("{s:s}", KW_ERROR, problem));
		kd_run_reject(r, KE_MALFORMED, problem);
		return -EINVAL;
	}
	/*
	 * Pressing first: cutting the network is the urgent half, and no
	 * quota of reports stands in its way (the button has its own).
	 */
	if (json_is_true(json_object_get(req, KW_DISCONNECT))) {
		if (r->local_class == KK_PEER_OTHER)
			refused = "only members of the staff group and root may "
			    "press disconnect";
		else if ((err = kd_press_disconnect(r, "self-report",
		    &changed, press)) < 0)
			return err;
		else
			pressed = true;
	}
	if (!kd_tally_report_ok(d, r->uid, r->local_class != KK_PEER_OTHER)) {
		kd_tally_refused(d, r->uid, r->pid, r->local_class, "report", KE_RATE_LIMITED,
		    NULL);
		kd_run_reject(r, KE_RATE_LIMITED, pressed ? "disconnected; "
		    "but too many reports from this user in ten minutes, this "
		    "one was not queued: call the CSIRT desk" : "too many "
		    "reports from this user in ten minutes: call the CSIRT "
		    "desk");
		return -EBUSY;
	}
	/* a name being looked up is worth a second, never more */
	st = kd_name_of(d, r->uid, name, sizeof(name));
	if (st == KD_NAME_PENDING && (w = calloc(1, sizeof(*w))) != NULL) {
		*w = (struct report_wait){ r, pressed, refused };
		if (kd_name_wait(d, r->uid, REPORT_NAME_WAIT_USEC,
		    report_named, w) == 0)
			return KD_RUN_PENDING;
		free(w);
	}
	return report_queue(r, pressed, refused, st, name);
}
