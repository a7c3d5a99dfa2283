/*
 * Evidence actions in the root parent (DESIGN 4 and 7): freeze, thaw,
 * snapshot, collect and fetch.
 *
 * Nothing an attacker controls is read in the event loop.  freeze and
 * thaw by pid, uid or path are quick and bounded (/proc, cgroupfs and the
 * freezer's timeout): they run in the loop.  Everything that reads files
 * or memory of other processes runs in a forked worker: snapshot and
 * collect, and the hashing behind a sha256 selector of freeze or thaw
 * (a FUSE or network file can block a read for ever, a huge sparse one
 * for seconds).  Then the daemon keeps serving (status, disconnect,
 * isolation, other commands), and a worker that crashes or hangs on a
 * hostile target takes nothing else down.
 *
 * Every worker:
 *  - has a deadline kept by the parent: a timer SIGKILLs it, and the
 *    receipt says what was done and what was not.  A worker the kernel
 *    holds in an uninterruptible wait (a FUSE request its server read
 *    and never answers cannot even be killed) is not waited for: the job
 *    ends half a second after the kill, and the process is reaped
 *    whenever it goes;
 *  - tells what it did as it goes, one JSON line per artifact (or per
 *    hashed file), so that what was finished before a kill still counts;
 *    files it was writing when killed are cut to nothing and listed as
 *    incomplete;
 *  - is confined (sandbox.c): only its pipe and its output directory
 *    open, kakurid's unprivileged user where there is one, only the
 *    capabilities its job needs, no_new_privs, a seccomp allow-list and
 *    a lower priority than the loop.
 * The parent alone appends to the manifest and signs it, so two workers
 * never race on it.
 *
 * This file: snapshot and collect, and the evidence state of the parent
 * (its start, status and end).  preserve.h lists the others.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "act.h"
#include "hostfacts.h"
#include "identity.h"
#include "log.h"
#include "outbox.h"
#include "preserve.h"
#include "wire.h"

/* a snapshot's processes, and the physical image, fit in its list */
_Static_assert(KD_SNAPSHOT_PIDS * KD_SNAPSHOT_ARTS_PER_PID + 16 <= KK_ART_MAX,
    "a snapshot's artifacts must fit in one command's list");

/*
 * The processes in the freeze group that the saved set does not know
 * (strays.c), taken into it and saved: 0, or -1 if they are not saved.
 */
static int
adopt_strays(struct kd *d, struct kd_preserve *pv, const char *group)
{
	struct kk_protected_exe prot[KK_MAX_PROTECT];
	struct kk_freeze_guard g;
	size_t protected = 0, before = pv->frozen.n, unknown = 0, i;
	char err[PATH_MAX + 128];
	int n;

	pv_make_guard(d, &g, prot);
	n = kk_frozen_adopt_strays(&pv->fz, &g, &pv->frozen, group,
	    &protected, err, sizeof(err));
	if (err[0] != '\0')
		kk_log(LOG_ERR, KK_MID_ERROR, "freeze journal: %s: the "
		    "original cgroups of processes a kakurid that ended in a "
		    "freeze had taken are not known", err);
	if (protected > 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "freeze: the freeze group %s "
		    "holds %zu process(es) that must never be frozen, frozen "
		    "by a kakurid that ended in a freeze: left there", group,
		    protected);
	if (n < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "freeze: processes frozen by a "
		    "kakurid that ended in a freeze: %s", strerror(-n));
	if (n <= 0)
		return n < 0 ? -1 : 0;
	for (i = before; i < pv->frozen.n; i++)
		unknown += pv->frozen.v[i].orig_cgroup[0] == '\0';
	kk_log(LOG_WARNING, KK_MID_START, "freeze: %d process(es) a kakurid "
	    "that ended in a freeze had taken are known again (freeze "
	    "episode %s); %zu of them with no original cgroup known, which "
	    "a thaw keeps frozen", n, group, unknown);
	return pv_frozen_save(pv, NULL) ? 0 : -1;
}

/*
 * After an earlier kakurid that ended in a freeze (killed, a crash): the
 * groups it froze for a moment run again (they held others than the
 * targets), and the targets it had taken but not saved are known.  Not
 * with a frozen.json that did not load: saved over, it would be lost.
 */
static void
freeze_recover(struct kd *d, struct kd_preserve *pv, bool set_loaded)
{
	char err[PATH_MAX + 128], episode[64];
	const char *group;
	int n;

	if (!pv->fz_ok)
		return;
	n = kk_freeze_journal_recover(&pv->fz, &pv->frozen, episode,
	    sizeof(episode), err, sizeof(err));
	if (n > 0)
		kk_log(LOG_WARNING, KK_MID_START, "freeze: %d group(s) a "
		    "freeze had frozen for a moment when kakurid ended run "
		    "again", n);
	if (err[0] != '\0')
		kk_log(LOG_ERR, KK_MID_ERROR, "freeze journal: %s: groups it "
		    "names may stay frozen", err);
	/* one episode while anything is frozen: the set's, if any */
	group = pv->frozen.n > 0 ? pv->frozen.v[0].group : episode;
	if (!set_loaded || (episode[0] != '\0' && strcmp(episode,
	    group) != 0))
		kk_log(LOG_ERR, KK_MID_ERROR, "freeze: the freeze group %s "
		    "may hold processes a kakurid that ended in a freeze had "
		    "taken: not looked at (%s)", episode[0] ? episode : group,
		    set_loaded ? "another episode is frozen" :
		    "frozen.json did not load");
	/*
	 * The journal's groups are thawed; it is emptied once the strays of
	 * the episode it names are saved, and their moves with it.  Not
	 * when they are not: the next start looks again (it thaws only a
	 * group that is still the one frozen, by its inode).
	 */
	if (!set_loaded) {
		/* the moves file kept for whoever looks */
		kk_freeze_journal_clear(&pv->fz);
		return;
	}
	/* a freeze group is named as an episode is: kakurid's own */
	if (kk_is_hex(group, strlen(group), KK_EPISODE_HEX) &&
	    adopt_strays(d, pv, group) < 0)
		return;
	kk_freeze_journal_clear(&pv->fz);
	kk_freeze_moves_clear(&pv->fz);
}

int
kd_preserve_init(struct kd *d)
{
	struct kd_preserve *pv;
	int err;

	pv = calloc(1, sizeof(*pv));
	if (pv == NULL)
		return -ENOMEM;
	pv->d = d;
	d->pv = pv;
	snprintf(pv->boot_id, sizeof(pv->boot_id), "%s",
	    kd_boot_id()[0] != '\0' ? kd_boot_id() : "unknown");
	if (snprintf(pv->evidence_dir, sizeof(pv->evidence_dir), "%s/evidence",
	    d->policy->state_dir) >= (int)sizeof(pv->evidence_dir) ||
	    snprintf(pv->frozen_path, sizeof(pv->frozen_path), "%s/frozen.json",
	    d->policy->state_dir) >= (int)sizeof(pv->frozen_path))
		return -ENAMETOOLONG;
	if (mkdir(pv->evidence_dir, 0700) < 0 && errno != EEXIST)
		kk_log(LOG_ERR, KK_MID_ERROR, "evidence store %s: %s",
		    pv->evidence_dir, strerror(errno));
	kk_exe_prepare();	/* before any worker: they make no memfd */
	pv->fz.timeout_ms = (unsigned)d->policy->freeze_timeout * 1000;
	if (kk_freezer_probe(&pv->fz, pv->fz_err, sizeof(pv->fz_err)) == 0)
		pv->fz_ok = true;
	else
		kk_log(LOG_WARNING, KK_MID_ERROR, "freeze unavailable: %s",
		    pv->fz_err);
	if (snprintf(pv->fz.journal, sizeof(pv->fz.journal),
	    "%s/freeze-sources", d->policy->state_dir) >=
	    (int)sizeof(pv->fz.journal)) {
		kk_log(LOG_ERR, KK_MID_ERROR, "freeze journal: the path is too "
		    "long: a freeze's sources are not journaled");
		pv->fz.journal[0] = '\0';
	}
	/* what an earlier kakurid froze stays frozen and thawable */
	err = kk_frozen_load(pv->frozen_path, &pv->frozen);
	if (err < 0 && err != -ENOENT)
		kk_log(LOG_ERR, KK_MID_ERROR, "%s: %s: frozen processes from "
		    "before the restart are not known", pv->frozen_path,
		    strerror(-err));
	else if (pv->frozen.n > 0)
		kk_log(LOG_NOTICE, KK_MID_START,
		    "%zu process(es) frozen by kakuri (freeze episode %s)",
		    pv->frozen.n, pv->frozen.v[0].group);
	freeze_recover(d, pv, err == 0 || err == -ENOENT);
	return 0;
}

void
kd_preserve_free(struct kd *d)
{
	struct kd_preserve *pv = d->pv;

	if (pv == NULL)
		return;
	pv_jobs_free(pv);
	/* its run is answered by kd_runs_abort */
	if (pv->pending != NULL)
		pv_pending_free(pv->pending);
	kk_frozen_set_free(&pv->frozen);
	free(pv);
	d->pv = NULL;
}

json_t *
kd_preserve_status(struct kd *d)
{
	struct kd_preserve *pv = d->pv;
	unsigned i, n = 0;

	if (pv == NULL)
		return json_null();
	for (i = 0; i < JOB_KINDS; i++)
		n += pv->njobs[i];
	return json_pack("{s:s, s:I, s:s?, s:I}",
	    KW_FREEZER, pv->fz_ok ? pv->fz.method : "unavailable",
	    KW_FROZEN, (json_int_t)pv->frozen.n,
	    KW_FREEZE_EPISODE, pv->frozen.n ? pv->frozen.v[0].group : NULL,
	    KW_EVIDENCE_JOBS, (json_int_t)n);
}

static json_t *
receipt_artifacts(const struct kk_artifacts *arts, uint64_t *bytes)
{
	json_t *a = json_array();
	size_t i;

	*bytes = 0;
	for (i = 0; i < arts->n; i++) {
		*bytes += arts->v[i].size;
		if (i >= KD_RECEIPT_ARTIFACTS)
			continue;
		json_array_append_new(a, json_pack("{s:s, s:I, s:s, s:b, s:o?}",
		    KW_PATH, arts->v[i].path, KW_SIZE,
		    (json_int_t)arts->v[i].size, KW_SHA256, arts->v[i].sha256,
		    KW_INCOMPLETE, arts->v[i].incomplete, KW_ERROR,
		    arts->v[i].error[0] ? kk_json_str(arts->v[i].error) :
		    NULL));
	}
	return a;
}

/* snapshot and collect: the manifest, the receipt. */
static int
evidence_done(struct job *j)
{
	struct kd_preserve *pv = j->pv;
	struct kd *d = pv->d;
	struct run *r = j->r;
	struct kk_manifest_ctx mc;
	char dir[PATH_MAX], err[300] = "", how[160], sha[65] = "";
	uint64_t bytes = 0;
	EVP_PKEY *sk;
	json_t *o;
	int dfd, e;

	if (j->bad) {
		pv_worker_end_words(j, how, sizeof(how));
		kd_run_fail(r, KE_WORKER_FAILED, "the evidence worker %d sent "
		    "something that is not its report (%s): nothing of it is "
		    "recorded", (int)j->pid, how);
		return 0;
	}
	if (j->errors == NULL)
		j->errors = json_array();
	if (!j->ended) {
		pv_worker_end_words(j, how, sizeof(how));
		json_array_append_new(j->errors, json_string(how));
		/* a full disk said before stays said: space is released */
		if (j->code != -ENOSPC)
			j->code = j->killed ? -ETIMEDOUT : -EIO;
		pv_cut_unreported(j, how);
	}
	if (j->code == -ENOSPC)
		pv_release_space(j);
	pv_strf(dir, sizeof(dir), "%s/%s", pv->evidence_dir, j->evid);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	memset(&mc, 0, sizeof(mc));
	mc.command = r->cmd.id;
	mc.evidence = j->evid;
	mc.boot_id = pv->boot_id;
	mc.agent_version = KAKURI_VERSION;
	mc.agent_id = d->agent_id;
	mc.sha256 = sha;
	sk = kd_agent_signer(d);
	e = dfd < 0 ? -errno : kk_manifest_append(dfd, &mc, &j->arts,
	    sk, d->agent_id, err, sizeof(err));
	EVP_PKEY_free(sk);
	kk_close(dfd);
	r->output = json_pack("{s:s, s:s, s:o, s:I, s:I, s:O}",
	    KW_EVIDENCE, j->evid, KW_DIR, j->sub,
	    KW_ARTIFACTS, receipt_artifacts(&j->arts, &bytes),
	    KW_COUNT, (json_int_t)j->arts.n, KW_BYTES, (json_int_t)bytes,
	    KW_ERRORS, j->errors);
	if (j->skipped != NULL)
		json_object_set(r->output, KW_SKIPPED, j->skipped);
	if (e < 0) {
		kd_run_fail(r, e == -ENOSPC ? KE_NO_SPACE : KE_IO,
		    "manifest not written: %s", err[0] ? err : strerror(-e));
		kk_log(LOG_ERR, KK_MID_ERROR, "evidence %s: %s", j->evid,
		    r->detail);
	} else if (j->code < 0) {
		kd_run_fail(r, j->code == -ENOSPC ? KE_NO_SPACE :
		    j->code == -ESRCH ? "vanished" : j->code == -ETIMEDOUT ?
		    KE_TIMEOUT : "incomplete", "%s",
		    json_string_value(json_array_get(j->errors, 0)) ?:
		    strerror(-j->code));
	} else if (j->left_out > 0) {
		kd_run_fail(r, "incomplete", "%zu frozen processes over the "
		    "%d one snapshot takes were not taken (the first %d "
		    "under skipped)", j->left_out, KD_SNAPSHOT_PIDS,
		    KD_SNAPSHOT_LEFT_LISTED);
	} else {
		kd_run_applied(r);
		snprintf(r->detail, sizeof(r->detail), "%zu artifact(s), %llu "
		    "bytes in evidence/%s/%s", j->arts.n,
		    (unsigned long long)bytes, j->evid, j->sub);
	}
	/* the manifest is signed: the CSIRT hears the evidence is there */
	if (e >= 0) {
		o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s}",
		    KW_EVIDENCE, j->evid, KW_DIR, j->sub,
		    KW_MANIFEST, "manifest.jsonl", KW_SHA256, sha,
		    KW_COUNT, (json_int_t)j->arts.n, KW_BYTES, (json_int_t)bytes,
		    KW_ORIGIN, kd_origin_name(r->origin),
		    KW_RESULT, j->code >= 0 && j->left_out == 0 ? "complete" :
		    "incomplete");
		kd_outbox_notify(d, KK_REPORT_EVIDENCE, o, "evidence notice");
	}
	return 0;
}

int
kd_act_snapshot(struct run *r)
{
	struct kd_preserve *pv = r->d->pv;
	struct kk_protected_exe prot[KK_MAX_PROTECT];
	struct kk_freeze_guard g;
	struct job_spec js;
	struct job *j = NULL;
	unsigned long long st;
	const char *key;
	json_t *v, *skipped = NULL;
	char why[PATH_MAX + 64];
	bool frozen = false, any = false;
	size_t i, left_out = 0;
	int e;

	memset(&js, 0, sizeof(js));
	js.kind = JOB_SNAPSHOT;
	js.pids = calloc(KD_SNAPSHOT_PIDS, sizeof(*js.pids));
	js.starts = calloc(KD_SNAPSHOT_PIDS, sizeof(*js.starts));
	skipped = json_array();
	if (js.pids == NULL || js.starts == NULL || skipped == NULL) {
		kd_run_fail(r, KE_IO, "out of memory");
		e = -ENOMEM;
		goto out;
	}
	json_object_foreach(r->cmd.args, key, v) {
		if (strcmp(key, "pid") == 0 && json_is_integer(v) &&
		    json_integer_value(v) > 0 && json_integer_value(v) < (1 << 22)) {
			js.pids[js.npids++] = (pid_t)json_integer_value(v);
			any = true;
		} else if (strcmp(key, "frozen") == 0 && json_is_boolean(v)) {
			frozen = json_is_true(v);
			any = any || frozen;
		} else if (strcmp(key, "physical") == 0 && json_is_boolean(v)) {
			js.physical = json_is_true(v);
			any = any || js.physical;
		} else {
			kd_run_reject(r, KE_MALFORMED, "snapshot takes pid or "
			    "frozen: true, and physical: bool");
			e = -EINVAL;
			goto out;
		}
	}
	if (!any || (frozen && js.npids > 0)) {
		kd_run_reject(r, KE_MALFORMED, "snapshot needs one of pid, "
		    "frozen: true or physical: true");
		e = -EINVAL;
		goto out;
	}
	if (frozen) {
		if (pv->frozen.n == 0) {
			kd_run_reject(r, KE_NOT_FROZEN, "kakuri has frozen nothing");
			e = -ENOENT;
			goto out;
		}
		/*
		 * Only the processes that were frozen: a pid whose start
		 * time changed belongs to someone else now (the worker
		 * checks again, against the same start time).  Those over
		 * what one snapshot takes are named too, and the snapshot
		 * is not done: malware that started a thousand decoys
		 * first would otherwise have its own process dropped
		 * without a word.
		 */
		for (i = 0; i < pv->frozen.n; i++) {
			const struct kk_frozen *f = &pv->frozen.v[i];

			if (js.npids == KD_SNAPSHOT_PIDS) {
				if (left_out++ < KD_SNAPSHOT_LEFT_LISTED)
					json_array_append_new(skipped,
					    json_pack("{s:i, s:s}", KW_PID,
					    (int)f->pid, KW_WHY, "over what one "
					    "snapshot takes: snapshot it by "
					    "pid"));
				continue;
			}
			if (kk_proc_start_time(f->pid, &st) < 0 ||
			    st != f->start_time) {
				json_array_append_new(skipped, json_pack(
				    "{s:i, s:s}", KW_PID, (int)f->pid, KW_WHY,
				    "gone, or its pid now belongs to another "
				    "process (start time changed)"));
				continue;
			}
			js.starts[js.npids] = f->start_time;
			js.pids[js.npids++] = f->pid;
		}
		if (js.npids == 0 && !js.physical) {
			r->output = json_pack("{s:O}", KW_SKIPPED, skipped);
			kd_run_reject(r, "vanished", "none of the frozen "
			    "processes is there any more");
			e = -ESRCH;
			goto out;
		}
	}
	pv_make_guard(r->d, &g, prot);
	for (i = 0; i < js.npids; i++) {
		/*
		 * A pid named by the command: the process the check below
		 * is of, by its start time, is the one the worker takes
		 * (core.c refuses another that got its pid meanwhile).
		 * None running: no start time to hold the worker to, which
		 * would take whatever gets the pid next -- a protected
		 * service, a child of kakurid's -- unchecked.
		 */
		if (js.starts[i] == 0 &&
		    (e = kk_proc_start_time(js.pids[i], &st)) < 0) {
			char t[96];

			if (e == -ENOENT || e == -ESRCH) {
				snprintf(t, sizeof(t), "pid %d is not running",
				    (int)js.pids[i]);
				kd_run_reject(r, "vanished", t);
			} else {
				snprintf(t, sizeof(t), "pid %d: its start "
				    "time cannot be read: %s", (int)js.pids[i],
				    strerror(-e));
				kd_run_fail(r, KE_IO, "%s", t);
			}
			goto out;
		}
		if (js.starts[i] == 0)
			js.starts[i] = st;
		if (kk_protected(&g, js.pids[i], why, sizeof(why)) != NULL) {
			char t[PATH_MAX + 100];

			snprintf(t, sizeof(t), "pid %d is %s", (int)js.pids[i],
			    why);
			kd_run_reject(r, KE_PROTECTED, t);
			e = -EPERM;
			goto out;
		}
	}
	e = pv_start_job(r, &js, "snapshot", evidence_done, &j);
	if (e == KD_RUN_PENDING) {
		j->deadline_ms = (unsigned)(r->d->policy->snapshot_timeout >
		    0 ? r->d->policy->snapshot_timeout : KD_SNAPSHOT_TIMEOUT) *
		    1000;
		if (json_array_size(skipped) > 0)
			j->skipped = json_incref(skipped);
		j->left_out = left_out;
		pv_arm_deadline(j);
	}
out:
	json_decref(skipped);
	free(js.pids);
	free(js.starts);
	return e;
}

int
kd_act_collect(struct run *r)
{
	struct job_spec js;
	struct job *j = NULL;
	int e;

	if (json_object_size(r->cmd.args) != 0) {
		kd_run_reject(r, KE_MALFORMED, "collect takes no args");
		return -EINVAL;
	}
	memset(&js, 0, sizeof(js));
	js.kind = JOB_COLLECT;
	/* 0: the collector's own, which the deadline below must know */
	js.lim.timeout_ms = r->d->policy->collect_timeout > 0 ?
	    (unsigned)r->d->policy->collect_timeout * 1000 :
	    KK_COLLECT_DEF_TIMEOUT_MS;
	js.lim.max_bytes = (uint64_t)r->d->policy->collect_max_mb << 20;
	js.lim.journal_entries = 1000;
	/* the ruleset by a second worker, the only one with CAP_NET_ADMIN */
	js.lim.part = KK_COLLECT_NO_NFT;
	e = pv_start_job(r, &js, "collect", evidence_done, &j);
	if (e == KD_RUN_PENDING) {
		/* collect stops itself at its timeout; this is the backstop */
		j->deadline_ms = js.lim.timeout_ms + KD_COLLECT_GRACE_MS +
		    js.lim.timeout_ms / 10;
		pv_arm_deadline(j);
	}
	return e;
}
