/*
 * The USB enforcer of the quarantine core (enforcer.h): usb.c's sysfs
 * work driven by the mode, the test hook's paths, and what it did logged
 * and audited.  See usb.h.
 */
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon.h"
#include "log.h"
#include "outbox.h"
#include "record.h"
#include "usb.h"
#include "wire.h"

/* ---- the enforcer ---- */

/* state_dir (under PATH_MAX) and the file name: never cut */
#define USB_STATE_PATH		(PATH_MAX + sizeof(KD_USB_STATE_FILE) + 1)

/*
 * What the cut changed, as usb.json says it or would: the release's
 * record when usb.json cannot be written or read.  One per process,
 * as the cut is.
 */
static struct kd_usb_memory usb_memory;

/* How the last apply, release or verification went (enforcer.h). */
static struct kd_outcome usb_outcome;

/* The last verification's result, reused for a moment (usb.h). */
static struct {
	unsigned long long at;	/* kd_now_usec(); 0: none to reuse */
	bool wanted;		/* the decision it was for */
	int err;
} usb_checked;

/*
 * /sys and /proc/self/mountinfo, or the test hook's tree (kakurid.8).
 * An environment variable is enough of a gate: whoever sets kakurid's
 * environment (the unit file, root) could as well preload a library.
 * A built tree is never remounted from: its device numbers may be a
 * real disk's.
 */
static void
usb_paths(struct kd *d, struct kd_usb_paths *p, char *state, size_t len)
{
	const char *root = secure_getenv(KD_USB_SYSFS_ENV);
	const char *mi = secure_getenv(KD_USB_MOUNTINFO_ENV);
	bool hook = root != NULL && root[0] == '/';

	p->sysfs = hook ? root : KD_USB_SYSFS;
	p->mountinfo = hook && mi != NULL && mi[0] == '/' ? mi :
	    KD_USB_MOUNTINFO;
	p->remount = strcmp(p->sysfs, KD_USB_SYSFS) == 0;
	snprintf(state, len, "%s/%s", d->policy->state_dir, KD_USB_STATE_FILE);
	p->state = state;
	p->mem = &usb_memory;
	/*
	 * Isolated already: a restart or the boot restore (adoption sets
	 * the mode before it applies), or a verification; a new isolation
	 * applies before the mode is set.
	 */
	p->resumed = d->state.mode == KK_MODE_ISOLATED;
}

static bool
usb_wanted(struct kd *d, enum kk_mode mode)
{
	return mode == KK_MODE_ISOLATED && d->policy->usb_storage_deauthorize;
}

/*
 * Errors logged, once while they stay the same (verify tries again
 * every few seconds): whether they are new.  last keeps what was logged.
 */
#define LOGGED_MAX	512
static bool
log_errors(char last[LOGGED_MAX], const char *what, json_t *errors, int err)
{
	char *text;
	bool fresh;

	if (err == 0) {
		last[0] = '\0';
		return false;
	}
	text = json_dumps(errors, JSON_COMPACT);
	fresh = text == NULL || strncmp(text, last, LOGGED_MAX - 1) != 0;
	if (fresh)
		kk_log(LOG_CRIT, KK_MID_APPLY,
		    "USB storage %s incomplete (%s): %s", what, strerror(-err),
		    text ? text : "out of memory");
	snprintf(last, LOGGED_MAX, "%s", text ? text : "");
	free(text);
	return fresh;
}

/*
 * The interfaces of other classes that came while isolated let in: a
 * keyboard plugged in now works.  Those let in are audited; a write that
 * fails is logged (once) and tried again at the next verification.
 */
static void
usb_admit(struct kd *d, const struct kd_usb_paths *p)
{
	static char last[LOGGED_MAX];
	json_t *admitted = NULL, *in, *failed, *e;
	size_t i;
	int err;

	err = kd_usb_admit(p, &admitted);
	in = json_array();
	failed = json_array();
	json_array_foreach(admitted, i, e)
		json_array_append(json_object_get(e, KW_ERROR) ? failed : in, e);
	log_errors(last, "admission of new interfaces", failed, err);
	if (json_array_size(in) > 0) {
		kk_log(LOG_NOTICE, KK_MID_APPLY,
		    "USB: %zu interfaces that came while isolated let in (not storage)",
		    json_array_size(in));
		kd_audit(d, "kakurid", "usb", "admit",
		    json_pack("{s:O}", KW_INTERFACES, in));
	}
	json_decref(in);
	json_decref(failed);
	json_decref(admitted);
}

/*
 * The word for what an apply or release left undone, from its first
 * error: the receipt's enforcer reason.
 */
static const char *
reason_word(int err)
{
	switch (err) {
	case -ETIMEDOUT:
		return "sync-timeout";	/* KD_USB_QUIESCE_MS spent */
	case -EDEADLK:
		return "device-held";	/* a write the device holds up */
	case -E2BIG:
		return "over-limits";	/* more than kakurid follows */
	case -ENODATA:
		return "no-record";	/* what was changed is not known */
	default:
		break;
	}
	/* cut all the same, but what to restore is in memory only */
	if (usb_memory.unsaved)
		return "state-unsaved";
	if (err == -EACCES || err == -EPERM || err == -EROFS)
		return "write-refused";
	return "incomplete";
}

/* The outcome of an apply or release that returned err with errors. */
static void
set_outcome(int err, json_t *errors)
{
	char *p = usb_outcome.detail, part[160];
	size_t len = sizeof(usb_outcome.detail), i;
	const char *what, *why;
	json_t *e;

	memset(&usb_outcome, 0, sizeof(usb_outcome));
	usb_outcome.at = kd_now_usec();
	if (err == 0)
		return;
	usb_outcome.result = KD_ENF_DEGRADED;
	snprintf(usb_outcome.reason, sizeof(usb_outcome.reason), "%s",
	    reason_word(err));
	/* what was not done, and why: as many errors as fit, whole */
	json_array_foreach(errors, i, e) {
		what = json_string_value(json_object_get(e, KW_WHAT));
		why = json_string_value(json_object_get(e, KW_ERROR));
		snprintf(part, sizeof(part), "%s%s: %s", i ? "; " : "",
		    what ? what : "?", why ? why : "?");
		if (strlen(p) + strlen(part) + 1 > len)
			break;
		strcat(p, part);
	}
	if (p[0] == '\0')
		snprintf(p, len, "%s", strerror(-err));
}

static void
usb_outcome_get(struct kd *d, struct kd_outcome *out)
{
	(void)d;
	*out = usb_outcome;
}

/*
 * mode in force; was_cut: a quarantine with the cut in force is left (a
 * release), so that with no record of it the kernel's defaults come back.
 */
static int
usb_run(struct kd *d, enum kk_mode mode, const char *episode, bool was_cut)
{
	struct kd_usb_paths p;
	char state[USB_STATE_PATH], id[KK_EPISODE_HEX + 1];
	const char *what;
	static char last[LOGGED_MAX];
	json_t *rec = NULL;
	bool fresh;
	int err;

	usb_paths(d, &p, state, sizeof(state));
	if (usb_wanted(d, mode)) {
		what = "deauthorize";
		err = kd_usb_deauthorize(&p, &rec);
	} else {
		what = "restore";
		err = kd_usb_restore(&p, was_cut, &rec);
	}
	fresh = log_errors(last, what, json_object_get(rec, KW_ERRORS), err);
	set_outcome(err, json_object_get(rec, KW_ERRORS));
	/* the sysfs changed: nothing looked at before says how it is now */
	usb_checked.at = 0;
	if (usb_wanted(d, mode))
		usb_admit(d, &p);
	/* the same failure again: nothing new to write down */
	if (rec == NULL || (!fresh &&
	    json_array_size(json_object_get(rec, KW_HUBS)) == 0 &&
	    json_array_size(json_object_get(rec, KW_INTERFACES)) == 0)) {
		json_decref(rec);
		return 0;
	}
	kk_log(LOG_NOTICE, KK_MID_APPLY,
	    "USB storage %s: %zu root hubs, %zu interfaces, %zu mounts%s",
	    what, json_array_size(json_object_get(rec, KW_HUBS)),
	    json_array_size(json_object_get(rec, KW_INTERFACES)),
	    json_array_size(json_object_get(rec, KW_MOUNTS)),
	    err < 0 ? " (with errors)" : "");
	kd_audit(d, "kakurid", "usb", what, json_pack("{s:O, s:O, s:O, s:O}",
	    KW_HUBS, json_object_get(rec, KW_HUBS),
	    KW_INTERFACES, json_object_get(rec, KW_INTERFACES),
	    KW_MOUNTS, json_object_get(rec, KW_MOUNTS),
	    KW_ERRORS, json_object_get(rec, KW_ERRORS)));
	/* the CSIRT hears of the media that were present when it cut them */
	if (usb_wanted(d, mode)) {
		json_object_set_new(rec, KW_EPISODE, json_string(episode));
		json_object_set_new(rec, KW_STORAGE, json_string(what));
		if (kd_outbox_put(d, KK_REPORT_USB, rec, id) < 0)
			kk_log(LOG_ERR, KK_MID_ERROR, "usb report: %s",
			    kd_outbox_error(d));
	}
	json_decref(rec);
	/*
	 * Never a reason to hold back the network's isolation: a failure
	 * (usb.json not written included) is in the log, the audit and
	 * the report above, and verify says the cut does not hold (status:
	 * verified false) until it does.  An error here would make the
	 * quarantine core leave the mode uncommitted with the tables in
	 * force, and their verification would then put the network back
	 * open; at a release, it would hold the network isolated for a
	 * USB record.
	 */
	return 0;
}

static int
usb_apply(struct kd *d, enum kk_mode mode, const char *episode)
{
	return usb_run(d, mode, episode, false);
}

/*
 * Re-applied where it differs (a storage interface authorised again, or
 * one that came while isolated and is not recorded yet); interfaces of
 * other classes that came meanwhile let in.  The uevent watch and the
 * verify timer (uevent.c) force a look; status and an isolate while
 * isolated may get the last one's result, which bounds the sysfs scans
 * any local user can cause by asking status in a loop.
 */
int
kd_usb_verify_at(struct kd *d, unsigned long long now, bool force)
{
	struct kd_usb_paths p;
	char state[USB_STATE_PATH], why[sizeof(usb_outcome.detail)];
	enum kk_mode mode = d->state.mode;
	bool wanted = usb_wanted(d, mode);
	int err;

	if (!force && usb_checked.at != 0 && usb_checked.wanted == wanted &&
	    now >= usb_checked.at &&
	    now - usb_checked.at < KD_USB_CHECK_REUSE_USEC)
		return usb_checked.err;
	usb_paths(d, &p, state, sizeof(state));
	err = kd_usb_check(&p, wanted, why, sizeof(why));
	memset(&usb_outcome, 0, sizeof(usb_outcome));
	if (err == -ESTALE) {
		usb_apply(d, mode, d->state.episode);
		err = kd_usb_check(&p, wanted, why, sizeof(why));
	} else if (wanted) {
		usb_admit(d, &p);
	}
	/* the apply's words, if it just said what it could not do */
	if (err < 0 && usb_outcome.result != KD_ENF_DEGRADED) {
		usb_outcome.result = KD_ENF_DEGRADED;
		snprintf(usb_outcome.reason, sizeof(usb_outcome.reason),
		    "not-verified");
		snprintf(usb_outcome.detail, sizeof(usb_outcome.detail), "%s",
		    why[0] ? why : strerror(-err));
	} else if (err == 0) {
		memset(&usb_outcome, 0, sizeof(usb_outcome));
	}
	usb_outcome.at = now;
	usb_checked.at = now;
	usb_checked.wanted = wanted;
	usb_checked.err = err;
	return err;
}

static int
usb_verify(struct kd *d, enum kk_mode mode, const char *episode)
{
	(void)mode;
	(void)episode;
	return kd_usb_verify_at(d, kd_now_usec(), false);
}

static int
usb_release(struct kd *d)
{
	return usb_run(d, KK_MODE_OPEN, "", usb_wanted(d, d->state.mode));
}

const struct kd_enforcer kd_usb_enforcer = {
	.name = "usb",
	.apply = usb_apply,
	.verify = usb_verify,
	.release = usb_release,
	.outcome = usb_outcome_get,
};
