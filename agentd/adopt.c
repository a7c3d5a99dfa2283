/*
 * What kakurid and kakurid-restore share at start (adopt.h): the state
 * directory, the quarantine's enforcers in order, and adoption: the mode
 * from state.json and the kernel, the stricter one winning.  Nothing here
 * needs the daemon's event loop or libsystemd, so that the lean boot
 * restore (restore.c) makes exactly kakurid's decisions.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "adopt.h"
#include "daemon.h"
#include "log.h"
#include "outbox.h"
#include "record.h"
#include "tables.h"
#include "usb.h"
#include "wire.h"

/* In the order they are applied; released in the reverse order. */
static const struct kd_enforcer *const enforcers[] = {
	&kd_tables_enforcer,
	&kd_usb_enforcer,	/* after the network: never holds it back */
};
#define NENFORCERS	(sizeof(enforcers) / sizeof(enforcers[0]))

/*
 * What the last apply, verify or release through this list returned, per
 * enforcer: the outcome of one without its own, and a
 * failure of any.  One not reached by the last apply (an earlier one
 * failed) has no outcome of its own to show.
 */
enum reach { NOT_RUN, RAN, VERIFIED, SKIPPED };
static int last_err[NENFORCERS];
static enum reach reached[NENFORCERS];

/* a verification that does not hold is not (yet) a failure: retried */
static int
looked(size_t i, int err)
{
	last_err[i] = err;
	reached[i] = VERIFIED;
	return err;
}

static int
ran(size_t i, int err)
{
	last_err[i] = err;
	reached[i] = RAN;
	return err;
}

/* mode in force through every enforcer, in order */
int
kd_enforcers_apply(struct kd *d, enum kk_mode mode, const char *episode)
{
	size_t i;
	int err = 0;

	for (i = 0; i < NENFORCERS; i++)
		reached[i] = SKIPPED;
	for (i = 0; i < NENFORCERS && err == 0; i++)
		err = ran(i, enforcers[i]->apply(d, mode, episode));
	/*
	 * The apply read its tables back at a generation nothing moved in:
	 * the backstop check compares with that one instead of reading
	 * everything again after every mode change.
	 */
	d->gen_valid = err == 0 && d->nft.verified.valid;
	d->verified_gen = d->nft.verified.gen;
	/* other tables' chains looked at again, with the devices hooked now */
	d->foreign_valid = false;
	return err;
}

/* Each verified in order: the first error, and in *bad its enforcer's index. */
static int
verify_all(struct kd *d, size_t *bad)
{
	size_t i;
	int err = 0;

	for (i = 0; i < NENFORCERS; i++)
		if ((err = looked(i, enforcers[i]->verify(d, d->state.mode,
		    d->state.episode))) != 0)
			break;
	*bad = i;
	return err;
}

int
kd_enforcers_verify(struct kd *d)
{
	size_t bad;

	return verify_all(d, &bad);
}

int
kd_enforcers_hold(struct kd *d)
{
	size_t i, j;

	if (verify_all(d, &i) == 0)
		return 0;
	if (i == 0)
		return 1;
	/*
	 * Not a change of mode, nor tampering with the tables: what it
	 * could not do before (a refused write) or what was undone since
	 * (a device authorised again) is done again.  Its outcome says how
	 * far it got; only the network's failing fails the mode.
	 */
	kk_log(LOG_WARNING, KK_MID_TAMPER, "%s: not as %s needs it: "
	    "applied again", enforcers[i]->name, kk_mode_name(d->state.mode));
	for (j = i; j < NENFORCERS; j++)
		ran(j, enforcers[j]->apply(d, d->state.mode, d->state.episode));
	return 0;
}

static int
enforcer_release(struct kd *d, const struct kd_enforcer *e)
{
	if (e->release == NULL)
		return e->apply(d, KK_MODE_OPEN, "");
	return e->release(d);
}

/*
 * Every enforcer released, the last applied first.  One that fails
 * leaves the quarantine as it was: those already released are applied
 * again.
 */
int
kd_enforcers_release(struct kd *d)
{
	size_t i, j;
	int err = 0;

	d->gen_valid = false;
	for (i = NENFORCERS; i > 0 && err == 0; i--)
		err = ran(i - 1, enforcer_release(d, enforcers[i - 1]));
	if (err < 0)
		for (j = i + 1; j < NENFORCERS; j++)
			ran(j, enforcers[j]->apply(d, d->state.mode,
			    d->state.episode));
	return err;
}

static const char *const enforced_words[] = {
	[KD_ENF_APPLIED] = KR_APPLIED,
	[KD_ENF_DEGRADED] = KR_DEGRADED,
	[KD_ENF_FAILED] = KR_FAILED,
};

json_t *
kd_enforcers_json(struct kd *d, bool age)
{
	struct kd_outcome out;
	json_t *list, *e;
	size_t i;

	if ((list = json_array()) == NULL)
		return NULL;
	for (i = 0; i < NENFORCERS; i++) {
		memset(&out, 0, sizeof(out));
		if (reached[i] == SKIPPED)
			continue;
		if (reached[i] == RAN && last_err[i] < 0) {
			out.result = KD_ENF_FAILED;
			snprintf(out.reason, sizeof(out.reason), "%s",
			    KE_APPLY_FAILED);
			snprintf(out.detail, sizeof(out.detail), "%s",
			    strerror(-last_err[i]));
		} else if (enforcers[i]->outcome != NULL) {
			/* its own watch (USB uevents) may have looked since */
			enforcers[i]->outcome(d, &out);
			if (reached[i] == NOT_RUN && out.at == 0)
				continue;
		} else if (reached[i] == VERIFIED && last_err[i] < 0) {
			out.result = KD_ENF_DEGRADED;
			snprintf(out.reason, sizeof(out.reason), "not-verified");
			snprintf(out.detail, sizeof(out.detail), "%s",
			    strerror(-last_err[i]));
		} else if (reached[i] == NOT_RUN) {
			continue;
		}
		e = kk_enforcer_entry(enforcers[i]->name,
		    enforced_words[out.result], out.reason, out.detail);
		if (e != NULL && age && out.at != 0)
			json_object_set_new(e, KW_AGE_MS, json_integer(
			    (json_int_t)((kd_now_usec() - out.at) / 1000)));
		json_array_append_new(list, e);
	}
	return list;
}

size_t
kd_enforcers_degraded(struct kd *d, char *buf, size_t len)
{
	json_t *rec;
	size_t n;

	rec = json_pack("{s:o}", KW_ENFORCERS, kd_enforcers_json(d, false));
	n = kk_receipt_degraded(rec, buf, len);
	json_decref(rec);
	return n;
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

/*
 * One kakurid on a state directory, daemon or boot restore.  A second
 * one (an admin's test run beside the service, a unit started twice)
 * would take the control socket's name, and remove it when it ends: the
 * employee's disconnect button and reports would then find no kakurid,
 * while the first one still enforces.  It would also append to the audit
 * log, whose hash chain only one writer can keep.  So it is refused, by
 * name.  A lock file that cannot be made (a volume gone read-only, a full
 * one) does not stop a start: isolating comes first, and said.
 */
static int
state_dir_lock(const char *dir)
{
	pid_t holder;
	int fd;

	fd = kk_dir_lock(dir, KD_LOCK_FILE, &holder);
	if (fd == -EBUSY) {
		if (holder > 0)
			kk_log(LOG_ERR, KK_MID_ERROR, "state directory %s: "
			    "kakurid (pid %ld) runs on it already: not "
			    "started", dir, (long)holder);
		else
			kk_log(LOG_ERR, KK_MID_ERROR, "state directory %s: "
			    "another kakurid runs on it already: not started",
			    dir);
		return fd;
	}
	if (fd < 0)
		kk_log(LOG_WARNING, KK_MID_ERROR, "state directory %s: no "
		    "lock (%s/%s: %s): a second kakurid on it would not be "
		    "refused", dir, dir, KD_LOCK_FILE, strerror(-fd));
	/* held until this process ends: never closed */
	return 0;
}

/*
 * The block lists in force (issue 12), for the tables at start and at
 * boot.  A list whose file does not load is set aside and named: the
 * others still hold.
 */
static int
blocklists_open(struct kd *d)
{
	char bad[256];
	size_t i, ranges = 0;
	int err;

	if (snprintf(d->blocklist_dir, sizeof(d->blocklist_dir), "%s/%s",
	    d->policy->state_dir, KD_BLOCK_DIR) >=
	    (int)sizeof(d->blocklist_dir))
		return -ENAMETOOLONG;
	if ((err = mkdir_private(d->blocklist_dir)) < 0)
		return err;
	kd_blocklists_clear(&d->blocklists);
	if ((err = kd_blocklists_load(d->blocklist_dir, &d->blocklists, bad,
	    sizeof(bad))) < 0)
		return err;
	/* saved under another policy: its peers may be in them */
	kd_blocklists_keep_channel(d, "kakurid");
	for (i = 0; i < d->blocklists.n; i++)
		ranges += kd_blocklist_ranges(d->blocklists.list[i]);
	if (d->blocklists.n > 0)
		kk_log(LOG_INFO, KK_MID_START, "%zu block lists, %zu ranges",
		    d->blocklists.n, ranges);
	if (bad[0] != '\0') {
		kk_log(LOG_CRIT, KK_MID_TAMPER, "block lists that do not load "
		    "(kept as NAME.list.bad in %s): %s", d->blocklist_dir, bad);
		kd_audit(d, "kakurid", "blocklist-load", "corrupt",
		    json_pack("{s:s}", KW_SET, bad));
		/* a list no longer in force: the CSIRT must know, as of state */
		kd_outbox_notify(d, KK_REPORT_TAMPER, json_pack("{s:s, s:s}",
		    KW_RESULT, "blocklist-unreadable", KW_SET, bad),
		    "tamper alert");
	}
	return 0;
}

int
kd_blocklists_keep_channel(struct kd *d, const char *actor)
{
	char spared[512];
	int n;

	n = kd_blocklists_spare(&d->blocklists, d->policy, spared,
	    sizeof(spared));
	if (n < 0) {
		kk_log(LOG_CRIT, KK_MID_POLICY, "block lists: the management "
		    "peers cannot be taken out of them (%s): the CSIRT channel "
		    "may be cut", strerror(-n));
		kd_audit(d, actor, "blocklist-spare", "failed", json_pack(
		    "{s:s}", KW_ERROR, strerror(-n)));
	} else if (n > 0) {
		kk_log(LOG_WARNING, KK_MID_POLICY, "block lists that hold "
		    "management peers: the peers taken out, so that the CSIRT "
		    "channel stays open: %s", spared);
		kd_audit(d, actor, "blocklist-spare", "spared", json_pack(
		    "{s:s}", KW_SET, spared));
	}
	return n;
}

/*
 * state.json, the audit log, the outbox and the reserve, made private.
 * A volume that cannot be written (remounted read-only after disk errors,
 * full, failing) must not keep the state that can still be read from
 * being enforced, at boot or by kakurid: what does not open is said and
 * runs degraded.  The audit goes to the journal until its file can be
 * written again (record.c), the outbox is opened again for the next report, the
 * block lists that loaded are in force.  Only a state_dir that can never
 * work (a name too long, not a directory) stops the start.
 */
static int
state_dir_open(struct kd *d)
{
	const char *dir = d->policy->state_dir;
	char reserve[PATH_MAX];
	int err;

	if (snprintf(d->state_path, sizeof(d->state_path), "%s/state.json",
	    dir) >= (int)sizeof(d->state_path) ||
	    snprintf(d->audit_path, sizeof(d->audit_path), "%s/audit.log",
	    dir) >= (int)sizeof(d->audit_path) ||
	    snprintf(d->outbox_dir, sizeof(d->outbox_dir), "%s/outbox",
	    dir) >= (int)sizeof(d->outbox_dir) ||
	    snprintf(reserve, sizeof(reserve), "%s/reserve", dir) >=
	    (int)sizeof(reserve))
		return -ENAMETOOLONG;
	if ((err = mkdir_private(dir)) == -ENOTDIR)
		return err;
	if (err < 0)
		kk_log(LOG_CRIT, KK_MID_ERROR, "state directory %s: %s: "
		    "nothing can be saved", dir, strerror(-err));
	else if ((err = state_dir_lock(dir)) < 0)
		return err;
	if ((err = mkdir_private(d->outbox_dir)) < 0 ||
	    (err = kd_outbox_open(d)) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "outbox %s: %s: opened again "
		    "for the next report", d->outbox_dir, strerror(-err));
	/* room for state, replay ids and notices when the volume fills up */
	if ((err = kk_reserve_init(reserve, KK_RESERVE_BYTES)) < 0)
		kk_log(LOG_WARNING, KK_MID_ERROR,
		    "cannot set %d MiB aside in %s: %s", KK_RESERVE_BYTES >> 20,
		    reserve, strerror(-err));
	if ((err = kk_audit_open(&d->audit, d->audit_path)) < 0 ||
	    d->audit.readonly)
		kk_log(LOG_CRIT, KK_MID_ERROR, "audit log %s: %s: its records "
		    "go to the journal until it can be written", d->audit_path,
		    strerror(err < 0 ? -err : EROFS));
	if ((err = blocklists_open(d)) < 0)
		kk_log(LOG_CRIT, KK_MID_ERROR, "block lists in %s: %s: only "
		    "those loaded are in force", d->blocklist_dir,
		    strerror(-err));
	return 0;
}

int
kd_restore_policy(const char *path, struct kk_policy *p, char *err,
    size_t errlen)
{
	const char *dir = getenv("STATE_DIRECTORY");
	char good[PATH_MAX], why[512];
	size_t n;

	if (kk_policy_load(path, 0, p, err, errlen) == 0)
		return 0;
	/* systemd's list of StateDirectory= paths: the first one */
	if (dir == NULL || dir[0] != '/')
		dir = KK_DEFAULT_STATE_DIR;
	n = strcspn(dir, ":");
	while (n > 1 && dir[n - 1] == '/')
		n--;
	if ((size_t)snprintf(good, sizeof(good), "%.*s/%s", (int)n, dir,
	    KD_POLICY_GOOD) >= sizeof(good) ||
	    kk_policy_load(good, 0, p, why, sizeof(why)) < 0)
		return -1;
	/*
	 * Only the copy of the policy whose state it is: one left in
	 * another directory (a state_dir moved since) would restore a
	 * state.json that is not the host's.
	 */
	if (strncmp(p->state_dir, dir, n) != 0 || (p->state_dir[n] != '\0' &&
	    strcmp(p->state_dir + n, "/") != 0))
		return -1;
	kk_log(LOG_CRIT, KK_MID_POLICY, "%s; restoring the quarantine with "
	    "the policy kakurid last ran with, %s", err, good);
	return 1;
}

int
kd_state_dir_open(struct kd *d)
{
	int err;

	/* -EBUSY: state_dir_lock has said who holds it */
	if ((err = state_dir_open(d)) < 0 && err != -EBUSY)
		kk_log(LOG_ERR, KK_MID_ERROR, "state directory %s: %s",
		    d->policy->state_dir, strerror(-err));
	return err;
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
	    "{s:s, s:s?}", KW_ERROR, load_err == -EBADMSG ? "corrupt" :
	    strerror(-load_err), KW_KEPT, kept[0] ? kept : NULL));
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
	json_t *o;

	o = json_pack("{s:s, s:s, s:s, s:s, s:s?}", KW_EPISODE, d->state.episode,
	    KW_MODE, kk_mode_name(d->state.mode), KW_BY, "kakurid",
	    KW_RESULT, "state-unreadable", KW_KEPT, kept[0] ? kept : NULL);
	kd_outbox_notify(d, KK_REPORT_TAMPER, o, "tamper alert");
}

static bool
same_state(const struct kk_state *a, const struct kk_state *b)
{
	return a->mode == b->mode && a->since == b->since &&
	    a->drill == b->drill && strcmp(a->episode, b->episode) == 0 &&
	    strcmp(a->by, b->by) == 0 && strcmp(a->reason, b->reason) == 0;
}

/*
 * Decide the mode at start from state.json and the kernel's table, and
 * re-apply it.  When they disagree the stricter one wins: fail closed.
 * A state file that does not load means isolated (state_unreadable).
 */
int
kd_adopt(struct kd *d, bool restore)
{
	struct kk_nft_table_info ti;
	struct kk_state st, loaded;
	const char *source = "state";
	char kept[PATH_MAX + 64] = "";
	bool unreadable;
	int err;

	memset(&st, 0, sizeof(st));
	err = kk_state_load(d->state_path, &st);
	loaded = st;
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
	err = kd_enforcers_apply(d, st.mode, st.episode);
	if (err < 0) {
		kk_log(LOG_CRIT, KK_MID_APPLY, "could not apply %s: %s",
		    kk_mode_name(st.mode), d->nft.err);
		kd_audit(d, "kakurid", restore ? "restore" : "start", "apply-failed",
		    json_pack("{s:s, s:s}", KW_MODE, kk_mode_name(st.mode),
		    KW_ERROR, d->nft.err));
		return err;
	}
	/* what it says already is not written (and synced) again */
	if ((unreadable || !same_state(&loaded, &st)) &&
	    (err = kk_state_save(d->state_path, &d->state)) < 0) {
		kk_log(LOG_ERR, KK_MID_ERROR, "saving %s: %s", d->state_path,
		    strerror(-err));
		d->state_dirty = true;
	}
	if (unreadable)
		alert_state_unreadable(d, kept);
	kk_log(LOG_NOTICE, KK_MID_START,
	    "%s: %s%s%s (from %s; table %s, protection %s) applied and verified in %llu us",
	    restore ? "restore" : "start", kk_mode_name(st.mode),
	    st.episode[0] ? ", episode " : "", st.episode, source,
	    ti.exists ? "re-adopted" : "created",
	    d->table_flags ? "owner+persist" : "monitor", d->last_apply_usec);
	kd_audit(d, "kakurid", restore ? "restore" : "start", "applied",
	    json_pack("{s:s, s:s, s:b, s:s, s:I}", KW_MODE, kk_mode_name(st.mode),
	    KW_SOURCE, source, KW_READOPTED, ti.exists,
	    KW_PROTECTION, d->table_flags ? "owner+persist" : "monitor",
	    KW_APPLY_US, (json_int_t)d->last_apply_usec));
	return 0;
}
