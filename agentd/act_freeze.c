/*
 * freeze and thaw (DESIGN 4 args, DESIGN 7): by pid, uid or path in the
 * event loop (quick and bounded: /proc, cgroupfs and the freezer's
 * timeout), by sha256 after a worker hashed the executables.  The frozen
 * set is persisted as state_dir/frozen.json after every change.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "act.h"
#include "log.h"
#include "preserve.h"
#include "wire.h"

/* args -> selector, strictly: one selector, known keys, right types */
static int
parse_selector(struct run *r, bool thaw, struct kk_selector *sel)
{
	const char *key;
	json_t *v;
	int n = 0;
	bool have_tree = false;

	memset(sel, 0, sizeof(*sel));
	sel->tree = true;
	json_object_foreach(r->cmd.args, key, v) {
		if (strcmp(key, "pid") == 0 && json_is_integer(v) &&
		    json_integer_value(v) > 0 && json_integer_value(v) < (1 << 22)) {
			sel->kind = KK_SEL_PID;
			sel->pid = (pid_t)json_integer_value(v);
			n++;
		} else if (strcmp(key, "tree") == 0 && json_is_boolean(v)) {
			sel->tree = json_is_true(v);
			have_tree = true;
		} else if (strcmp(key, "uid") == 0 && json_is_integer(v) &&
		    json_integer_value(v) >= 0 &&
		    json_integer_value(v) < 0xffffffffLL) {
			sel->kind = KK_SEL_UID;
			sel->uid = (uid_t)json_integer_value(v);
			n++;
		} else if (strcmp(key, "exe") == 0 && json_is_string(v) &&
		    json_string_value(v)[0] == '/' &&
		    strlen(json_string_value(v)) < sizeof(sel->exe)) {
			sel->kind = KK_SEL_EXE;
			snprintf(sel->exe, sizeof(sel->exe), "%s",
			    json_string_value(v));
			n++;
		} else if (strcmp(key, "sha256") == 0 && json_is_string(v) &&
		    pv_is_hex(json_string_value(v), 64)) {
			sel->kind = KK_SEL_SHA256;
			snprintf(sel->sha256, sizeof(sel->sha256), "%s",
			    json_string_value(v));
			n++;
		} else if (thaw && strcmp(key, "all") == 0 && json_is_true(v)) {
			sel->kind = KK_SEL_ALL;
			n++;
		} else {
			kd_run_reject(r, "malformed", "args: one of pid (with "
			    "tree), uid, exe (absolute path), sha256 (64 "
			    "lowercase hex)");
			return -EINVAL;
		}
	}
	if (n != 1 || (have_tree && sel->kind != KK_SEL_PID)) {
		kd_run_reject(r, "malformed", thaw ?
		    "thaw takes exactly one selector: pid, uid, exe, sha256 or all" :
		    "freeze takes exactly one selector: pid, uid, exe or sha256");
		return -EINVAL;
	}
	return 0;
}

/* The guard: kakurid itself, and the policy's programs resolved now. */
void
pv_make_guard(struct kd *d, struct kk_freeze_guard *g,
    struct kk_protected_exe *prot)
{
	const char *paths[KK_MAX_PROTECT];
	size_t i, n = d->policy->protect_exe.n;

	memset(g, 0, sizeof(*g));
	g->self = getpid();
	for (i = 0; i < n && i < KK_MAX_PROTECT; i++)
		paths[i] = d->policy->protect_exe.path[i];
	kk_protect_resolve(paths, i, prot);
	g->protect = prot;
	g->nprotect = i;
	g->service_slice = KK_SERVICE_SLICE;
}

static json_t *
frozen_list(const struct kk_frozen *v, size_t n)
{
	json_t *a = json_array(), *o;
	size_t i;

	for (i = 0; a && i < n; i++) {
		o = json_pack("{s:i, s:i, s:o, s:s}", KW_PID, (int)v[i].pid,
		    KW_UID, (int)v[i].uid, KW_EXE, kk_json_str(v[i].exe),
		    KW_METHOD, v[i].method);
		/* its whole cgroup frozen where it is, and which */
		if (o != NULL && v[i].in_place) {
			json_object_set_new(o, KW_IN_PLACE, json_true());
			json_object_set_new(o, KW_CGROUP,
			    kk_json_str(v[i].orig_cgroup));
		}
		json_array_append_new(a, o);
	}
	return a;
}

/*
 * A freeze waiting for the kernel's "frozen 1", polled from the loop
 * (kk_freeze_poll): a process held in an uninterruptible wait can keep
 * it away for the whole timeout, and the daemon serves meanwhile.
 */
struct pending_freeze {
	struct run *r;
	struct kk_freeze_op *op;
	sd_event_source *timer;
	json_t *skipped;
	json_t *twins;		/* frozen with a target: shared memory */
	json_t *extra;		/* more for the receipt's output (sha256) */
	size_t before;
	char group[KK_EPISODE_HEX + 1];
};

#define KD_FREEZE_POLL_MS	10

/*
 * The twins the freezer took (a process sharing memory with a target,
 * frozen with it), logged: nothing led to them but that.
 */
static void
twins_log(json_t *twins)
{
	json_t *o;
	size_t i;

	json_array_foreach(twins, i, o)
		kk_log(LOG_WARNING, KK_MID_APPLY, "freeze: pid %d %s: frozen "
		    "with it", (int)json_integer_value(json_object_get(o,
		    KW_PID)), json_string_value(json_object_get(o, KW_WHY)));
}

/*
 * The set on disk, if the call added to it (or an earlier call's save
 * failed), once the call has put back the groups it froze for a moment:
 * their journal is then of no more use, and a group kept frozen in place
 * is known by frozen.json.  Also as soon as the targets are taken,
 * before the kernel is waited for: a kakurid that ends meanwhile leaves
 * them known to the next one.
 */
static void
frozen_saved(struct kd_preserve *pv, size_t before, const char *group)
{
	/*
	 * Not saved, its groups are emptied even so: kept, they would have
	 * the next kakurid thaw a group frozen in place that frozen.json
	 * does not know, its targets with it, with no signature.  Those
	 * stay frozen, as before the journal.  The line naming the freeze
	 * group is kept, and the moves: the next kakurid takes the targets
	 * moved there into its set, each knowing where it came from.
	 */
	if ((pv->frozen.n != before || pv->frozen_unsaved) &&
	    !pv_frozen_save(pv, "thaw after a restart will not know these "
	    "processes")) {
		kk_freeze_journal_keep_episode(&pv->fz, group);
		return;
	}
	kk_freeze_journal_clear(&pv->fz);
	kk_freeze_moves_clear(&pv->fz);
}

/* The receipt of a freeze, whatever its end. */
static void
freeze_result(struct run *r, int e, const char *err, json_t *skipped,
    json_t *twins, size_t before, const char *group, json_t *extra)
{
	struct kd_preserve *pv = r->d->pv;
	const char *key;
	json_t *v;

	twins_log(twins);
	/* uid and exe of those frozen in place, read now that they hold */
	kk_frozen_describe(&pv->frozen, before);
	frozen_saved(pv, before, group);
	json_decref(r->output);
	r->output = json_pack("{s:s, s:s, s:o, s:o, s:I}",
	    KW_METHOD, pv->fz.method, KW_FREEZE_EPISODE, group,
	    KW_FROZEN, frozen_list(pv->frozen.v + before, pv->frozen.n - before),
	    KW_SKIPPED, skipped ? json_incref(skipped) : json_array(),
	    KW_FROZEN_TOTAL, (json_int_t)pv->frozen.n);
	/* why those were taken: they share memory with a target */
	if (r->output != NULL && json_array_size(twins) > 0)
		json_object_set(r->output, KW_SHARED_MEMORY, twins);
	json_object_foreach(extra, key, v)
		json_object_set(r->output, key, v);
	if (e == -EPERM) {
		kd_run_reject(r, "protected", err);
		return;
	}
	if (e == -ESRCH) {
		kd_run_reject(r, "no-match", err[0] ? err : "no process matches");
		return;
	}
	if (e < 0) {
		kd_run_fail(r, e == -ETIMEDOUT ? "timeout" : "freeze-failed",
		    "%s", err[0] ? err : strerror(-e));
		return;
	}
	kd_run_applied(r);
	snprintf(r->detail, sizeof(r->detail), "%zu process(es) frozen (%s)",
	    pv->frozen.n - before, pv->fz.method);
}

void
pv_pending_free(struct pending_freeze *pf)
{
	sd_event_source_disable_unref(pf->timer);
	kk_freeze_op_free(pf->op);
	json_decref(pf->skipped);
	json_decref(pf->twins);
	json_decref(pf->extra);
	free(pf);
}

static int
on_freeze_poll(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct pending_freeze *pf = userdata;
	struct kd_preserve *pv = pf->r->d->pv;
	struct run *r = pf->r;
	char err[512] = "";
	int e;

	e = kk_freeze_poll(pf->op, err, sizeof(err));
	if (e == -EAGAIN) {
		sd_event_source_set_time_relative(s, KD_FREEZE_POLL_MS * 1000);
		sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
		return 0;
	}
	pf->op = NULL;		/* freed by the poll that ended it */
	freeze_result(r, e, err, pf->skipped, pf->twins, pf->before,
	    pf->group, pf->extra);
	pv->pending = NULL;
	pv_pending_free(pf);
	kd_run_finish(r);
	return 0;
}

/* -EBUSY (and the run refused) while a freeze waits for the kernel. */
static int
freeze_pending(struct run *r)
{
	if (r->d->pv->pending == NULL)
		return 0;
	kd_run_reject(r, "busy", "a freeze is still waiting for the kernel; "
	    "try again");
	return -EBUSY;
}

/*
 * The freeze itself, within timeout_ms (0: the policy's): the targets
 * are moved now, and the receipt goes out once the kernel says the group
 * is frozen (KD_RUN_PENDING) or the time is up.  extra (consumed) goes
 * into the receipt's output too.
 */
static int
do_freeze(struct run *r, const struct kk_selector *sel, unsigned timeout_ms,
    json_t *extra)
{
	struct kd_preserve *pv = r->d->pv;
	struct kk_protected_exe prot[KK_MAX_PROTECT];
	struct pending_freeze *pf = NULL;
	struct kk_freeze_guard g;
	struct kk_freezer fz = pv->fz;
	struct kk_freeze_op *op = NULL;
	char group[KK_EPISODE_HEX + 1], err[512] = "";
	json_t *skipped = NULL, *twins = NULL;
	size_t before;
	int e;

	if ((e = freeze_pending(r)) < 0) {
		json_decref(extra);
		return e;
	}
	/* one freeze episode while anything is frozen; thaw names it */
	if (pv->frozen.n > 0)
		pv_strf(group, sizeof(group), "%s", pv->frozen.v[0].group);
	else if ((e = kk_episode_new(group)) < 0) {
		json_decref(extra);
		kd_run_fail(r, "io", "random: %s", strerror(-e));
		return e;
	}
	pv_make_guard(r->d, &g, prot);
	if (timeout_ms != 0)
		fz.timeout_ms = timeout_ms;
	before = pv->frozen.n;
	e = kk_freeze_begin(&fz, &g, sel, group, &pv->frozen, &skipped, &twins,
	    &op, err, sizeof(err));
	if (e == 0) {
		if (kk_freeze_op_note(op)[0] != '\0')
			kk_log(LOG_WARNING, KK_MID_ERROR, "freeze: %s: a "
			    "kakurid ended in this freeze would leave it frozen",
			    kk_freeze_op_note(op));
		frozen_saved(pv, before, group);
	}
	/* a path that cannot wait: the kernel is waited for here */
	while (e == 0 && r->reply == NULL &&
	    (e = kk_freeze_poll(op, err, sizeof(err))) == -EAGAIN)
		usleep(KD_FREEZE_POLL_MS * 1000);
	if (e == 0 && r->reply != NULL) {
		if ((pf = calloc(1, sizeof(*pf))) != NULL &&
		    sd_event_add_time_relative(r->d->ev, &pf->timer,
		    CLOCK_MONOTONIC, 0, 0, on_freeze_poll, pf) >= 0) {
			pf->r = r;
			pf->op = op;
			pf->skipped = skipped;
			pf->twins = twins;
			pf->extra = extra;
			pf->before = before;
			snprintf(pf->group, sizeof(pf->group), "%s", group);
			pv->pending = pf;
			return KD_RUN_PENDING;
		}
		free(pf);
		/* no timer: the kernel is waited for here after all */
		while ((e = kk_freeze_poll(op, err, sizeof(err))) == -EAGAIN)
			usleep(KD_FREEZE_POLL_MS * 1000);
	}
	freeze_result(r, e, err, skipped, twins, before, group, extra);
	json_decref(skipped);
	json_decref(twins);
	json_decref(extra);
	return e < 0 ? e : 0;
}

/*
 * A thaw names the freeze episode it ends (its signers saw that one):
 * checked when it arrives, and again when a sha256 selector's hashing
 * is done.  0, or a negative errno with the run rejected.
 */
static int
thaw_episode_ok(struct run *r)
{
	struct kd_preserve *pv = r->d->pv;

	if (pv->frozen.n == 0) {
		kd_run_reject(r, "not-frozen", "kakuri has frozen nothing");
		return -ENOENT;
	}
	if (strcmp(r->cmd.episode, pv->frozen.v[0].group) != 0) {
		kd_run_reject(r, "wrong-episode",
		    "the command names another freeze episode than the current "
		    "one");
		return -ESTALE;
	}
	return 0;
}

static int
do_thaw(struct run *r, const struct kk_selector *sel)
{
	struct kd_preserve *pv = r->d->pv;
	struct kk_frozen_set thawed = { 0 };
	json_t *kept = NULL;
	char err[2 * PATH_MAX] = "";
	size_t gone = 0;
	int e;

	if ((e = thaw_episode_ok(r)) < 0)
		return e;
	/*
	 * Asked again here: a thaw by hash comes back after its worker, and
	 * a freeze may have started meanwhile; the set must not shrink
	 * under it.
	 */
	if ((e = freeze_pending(r)) < 0)
		return e;
	e = kk_thaw(&pv->fz, sel, &pv->frozen, &thawed, &gone, &kept, err,
	    sizeof(err));
	pv_frozen_save(pv, NULL);
	json_decref(r->output);
	r->output = json_pack("{s:o, s:I, s:o, s:I}",
	    KW_THAWED, frozen_list(thawed.v, thawed.n), KW_GONE, (json_int_t)gone,
	    KW_KEPT_FROZEN, kept ? kept : json_array(),
	    KW_FROZEN_TOTAL, (json_int_t)pv->frozen.n);
	kk_frozen_set_free(&thawed);
	if (e == -ESRCH) {
		kd_run_reject(r, "no-match", err[0] ? err :
		    "no frozen process matches");
		return e;
	}
	if (e == -EAGAIN) {
		/* the rest is thawed; these stay frozen rather than escape */
		kd_run_fail(r, "thaw-incomplete", "%s", err);
		return e;
	}
	if (e < 0) {
		kd_run_fail(r, "thaw-failed", "%s", err[0] ? err : strerror(-e));
		return e;
	}
	kd_run_applied(r);
	return 0;
}

/*
 * freeze or thaw by sha256: on the files whose hash matched.  Returns
 * KD_RUN_PENDING when the freeze still waits for the kernel.
 */
static int
hash_done(struct job *j)
{
	struct run *r = j->r;
	struct kk_selector sel = j->sel;
	struct kk_file_id *ids = NULL;
	char how[160];
	size_t n = 0, hashed, unhashed;
	long left;
	json_t *extra;
	int e = 0;

	if (j->bad) {
		pv_worker_end_words(j, how, sizeof(how));
		kd_run_fail(r, "worker-failed", "the hashing worker %d sent "
		    "something else than its lines (%s)", (int)j->pid, how);
		return 0;
	}
	pv_worker_end_words(j, how, sizeof(how));
	if (!j->hres.ended)
		kk_hash_result_close(&j->hres, j->killed ?
		    "still being read when the hashing deadline came (the "
		    "worker was stopped)" : how,
		    "not hashed: the deadline came first");
	if (kk_hash_result_match(&j->hres, j->sel.sha256, &ids, &n) < 0) {
		kd_run_fail(r, "io", "out of memory");
		return 0;
	}
	hashed = kk_hash_result_count(&j->hres, true);
	unhashed = kk_hash_result_count(&j->hres, false);
	extra = json_pack("{s:I, s:I, s:o}", KW_HASHED, (json_int_t)hashed,
	    KW_NOT_HASHED, (json_int_t)unhashed, KW_UNHASHED,
	    kk_hash_result_unhashed(&j->hres, KD_RECEIPT_UNHASHED));
	if (n == 0) {
		r->output = extra;
		kd_run_reject(r, "no-match", unhashed > 0 ?
		    "no running executable has that hash; some could not be "
		    "hashed (see unhashed)" :
		    "no running executable has that hash");
		goto out;
	}
	sel.kind = KK_SEL_FILES;
	sel.files = ids;
	sel.nfiles = n;
	if (j->thaw) {
		do_thaw(r, &sel);
		if (r->output != NULL)
			json_object_update(r->output, extra);
		json_decref(extra);
	} else {
		/* what is left of the freeze timeout, and a second at least */
		left = (long)j->budget_ms - pv_ms_since(&j->started);
		e = do_freeze(r, &sel, left > 1000 ? (unsigned)left : 1000,
		    extra);
	}
out:
	free(ids);
	return e == KD_RUN_PENDING ? e : 0;
}

/*
 * freeze or thaw by sha256: a worker hashes the executables (all of them,
 * or those of the frozen processes), and the freeze or thaw runs on the
 * files that matched when it is done (hash_done).  It gets half of the
 * freeze timeout; the freeze itself what is left.
 */
static int
start_hash(struct run *r, const struct kk_selector *sel, bool thaw)
{
	struct kd_preserve *pv = r->d->pv;
	struct job_spec js;
	struct job *j;
	unsigned budget = pv->fz.timeout_ms != 0 ? pv->fz.timeout_ms : 5000;
	size_t i;
	int e;

	memset(&js, 0, sizeof(js));
	js.kind = JOB_HASH;
	/* the worker stops reading in time to report; the timer: backstop */
	js.soft_ms = budget / 2 - budget / 10;
	if (thaw) {
		if ((js.pids = calloc(pv->frozen.n + 1, sizeof(*js.pids))) ==
		    NULL) {
			kd_run_fail(r, "io", "out of memory");
			return -ENOMEM;
		}
		for (i = 0; i < pv->frozen.n; i++)
			js.pids[i] = pv->frozen.v[i].pid;
		js.npids = pv->frozen.n;
	}
	e = pv_start_job(r, &js, "hash", hash_done, &j);
	free(js.pids);
	if (e != KD_RUN_PENDING)
		return e;
	j->sel = *sel;
	j->thaw = thaw;
	j->budget_ms = budget;
	j->deadline_ms = budget / 2;
	pv_arm_deadline(j);
	return e;
}

int
kd_act_freeze(struct run *r)
{
	struct kd_preserve *pv = r->d->pv;
	struct kk_selector sel;

	if (parse_selector(r, false, &sel) < 0)
		return -EINVAL;
	if (!pv->fz_ok) {
		kd_run_fail(r, "no-freezer", "%s", pv->fz_err);
		return -ENOTSUP;
	}
	if (sel.kind == KK_SEL_SHA256)
		return start_hash(r, &sel, false);
	return do_freeze(r, &sel, 0, NULL);
}

int
kd_act_thaw(struct run *r)
{
	struct kk_selector sel;
	int e;

	if (parse_selector(r, true, &sel) < 0)
		return -EINVAL;
	if ((e = thaw_episode_ok(r)) < 0 || (e = freeze_pending(r)) < 0)
		return e;
	if (sel.kind == KK_SEL_SHA256)
		return start_hash(r, &sel, true);
	return do_thaw(r, &sel);
}
