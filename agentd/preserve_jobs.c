/*
 * Evidence workers, seen from the parent: each one is forked with a job,
 * tells what it does one JSON line at a time, and has a deadline kept by
 * a timer; a worker killed at its deadline leaves cut and listed files,
 * and one the kernel still holds is waited for in the background.  When
 * one ends, the action that started it is told (its done callback).
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "jsonutil.h"
#include "log.h"
#include "preserve.h"
#include "wire.h"

static void
job_free(struct job *j)
{
	sd_event_source_disable_unref(j->child_src);
	sd_event_source_disable_unref(j->io_src);
	sd_event_source_disable_unref(j->timer_src);
	sd_event_source_disable_unref(j->grace_src);
	if (j->fd >= 0)
		close(j->fd);
	free(j->buf);
	kk_artifacts_free(&j->arts);
	json_decref(j->errors);
	json_decref(j->skipped);
	kk_hash_result_free(&j->hres);
	free(j);
}

/* The evidence id: the incident when it is a usable name, else the command. */
static void
evidence_id(const struct run *r, char *out, size_t len)
{
	if (r->cmd.incident[0] && kk_evidence_id_ok(r->cmd.incident))
		pv_strf(out, len, "%s", r->cmd.incident);
	else
		pv_strf(out, len, "%s", r->cmd.id);
}

size_t pv_job_output_max = KD_JOB_OUTPUT_MAX;

#define JOB_READ_LEN	65536	/* one read of a worker's pipe */

/* A worker that is not believed any more: killed, by its pid. */
static void
job_distrust(struct job *j)
{
	j->bad = true;
	if (j->pid > 0 && !j->exited)
		kill(j->pid, SIGKILL);
}

/*
 * An artifact's gaps as artifact.c makes them: at most KD_JOB_GAPS_MAX,
 * each {offset, length, why} with a short why.
 */
static bool
gaps_ok(json_t *gaps)
{
	const char *why;
	json_t *g;
	size_t i;

	if (json_array_size(gaps) > KD_JOB_GAPS_MAX)
		return false;
	json_array_foreach(gaps, i, g) {
		why = json_string_value(json_object_get(g, KW_WHY));
		if (json_object_size(g) != 3 ||
		    !json_is_integer(json_object_get(g, KW_OFFSET)) ||
		    !json_is_integer(json_object_get(g, KW_LENGTH)) ||
		    why == NULL || strlen(why) > KD_JOB_GAP_WHY_MAX)
			return false;
	}
	return true;
}

/*
 * The errors of a worker's last line: at most KD_JOB_ERRORS_MAX strings,
 * each cut to KD_JOB_ERROR_LEN and cleaned (they reach the receipt, the
 * audit log and the journal); NULL if they are anything else.
 */
static json_t *
clean_errors(json_t *errors)
{
	char text[KD_JOB_ERROR_LEN];
	json_t *out, *e;
	size_t i;

	if (!json_is_array(errors) ||
	    json_array_size(errors) > KD_JOB_ERRORS_MAX ||
	    (out = json_array()) == NULL)
		return NULL;
	json_array_foreach(errors, i, e) {
		if (!json_is_string(e)) {
			json_decref(out);
			return NULL;
		}
		kk_text_clean(text, sizeof(text), json_string_value(e),
		    json_string_length(e));
		if (json_array_append_new(out, json_string(text)) < 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* One {"artifact":{...}} of the worker, its path under the subdir. */
/*
 * of an artifact's error, left for the parent's notes after the worker's:
 * a copy emptied (about 80 bytes) and gaps not listed (about 64)
 */
#define WORKER_NOTES_ROOM	160

static int
take_artifact(struct job *j, json_t *v)
{
	struct kk_artifact a;
	const char *p = json_string_value(json_object_get(v, KW_PATH));
	const char *h = json_string_value(json_object_get(v, KW_SHA256));
	const char *err;

	/* a path of the worker's: below its directory, or nothing of it */
	if (p == NULL || h == NULL || !pv_is_hex(h, 64) ||
	    !kk_artifact_rel_ok(p))
		return -EBADMSG;
	memset(&a, 0, sizeof(a));
	if (pv_strf(a.path, sizeof(a.path), "%s/%s", j->sub, p) < 0)
		return -EBADMSG;
	snprintf(a.sha256, sizeof(a.sha256), "%s", h);
	a.size = (uint64_t)json_integer_value(json_object_get(v, KW_SIZE));
	a.pid = (pid_t)json_integer_value(json_object_get(v, KW_PID));
	a.start_time = (unsigned long long)json_integer_value(
	    json_object_get(v, KW_START_TIME));
	snprintf(a.method, sizeof(a.method), "%s",
	    json_string_value(json_object_get(v, KW_METHOD)) ?: "");
	a.incomplete = json_is_true(json_object_get(v, KW_INCOMPLETE));
	/*
	 * The worker's words, cleaned (no control character to escape six
	 * bytes wide in a receipt) and cut so that the parent's own notes
	 * after them (a copy emptied, gaps not listed) still fit.
	 */
	if ((err = json_string_value(json_object_get(v, KW_ERROR))) != NULL)
		kk_text_clean(a.error, sizeof(a.error) - WORKER_NOTES_ROOM, err,
		    strlen(err));
	if (json_object_get(v, KW_GAPS) != NULL) {
		if (!json_is_array(json_object_get(v, KW_GAPS)) ||
		    !gaps_ok(json_object_get(v, KW_GAPS)))
			return -EBADMSG;
		/*
		 * Past KD_JOB_GAPS_TOTAL in the command (512 processes of
		 * 4,096 each could be two million), the gaps of the rest are
		 * not kept, and each such artifact says so after what the
		 * worker said.  Its file is whole: not made incomplete,
		 * which a full disk would empty (pv_release_space).
		 */
		if (j->gaps + json_array_size(json_object_get(v, KW_GAPS)) >
		    KD_JOB_GAPS_TOTAL) {
			kk_artifact_note(&a, "its unreadable gaps are not "
			    "listed: over %d in this command",
			    KD_JOB_GAPS_TOTAL);
		} else {
			j->gaps += json_array_size(json_object_get(v,
			    KW_GAPS));
			a.gaps = json_incref(json_object_get(v, KW_GAPS));
		}
	}
	if (kk_artifacts_add(&j->arts, &a) < 0) {
		json_decref(a.gaps);
		return -E2BIG;
	}
	return 0;
}

/* One complete line from a worker (the tests feed it too). */
void
pv_job_line(struct job *j, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *o, *v, *errors;
	int code;

	if (len == 0)
		return;
	if (j->kind == JOB_HASH) {
		if (kk_hash_result_line(&j->hres, line, len) < 0)
			job_distrust(j);
		return;
	}
	if (!kk_json_few_values(line, len, KD_JOB_LINE_VALUES)) {
		job_distrust(j);
		return;
	}
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if ((v = json_object_get(o, KW_ARTIFACT)) != NULL) {
		if (take_artifact(j, v) < 0)
			job_distrust(j);
	} else if (json_is_string(v = json_object_get(o, KW_BEGIN))) {
		if (!kk_artifact_rel_ok(json_string_value(v)) ||
		    pv_strf(j->current, sizeof(j->current), "%s",
		    json_string_value(v)) < 0) {
			j->current[0] = '\0';
			job_distrust(j);
		}
	} else if (!j->ended && (v = json_object_get(o, KW_END)) != NULL &&
	    (errors = clean_errors(json_object_get(v, KW_ERRORS))) != NULL) {
		code = (int)json_integer_value(json_object_get(v, KW_CODE));
		/* collect's second worker: after the first's, which stay */
		if (j->errors != NULL) {
			json_array_extend(j->errors, errors);
			json_decref(errors);
		} else
			j->errors = errors;
		if (j->code == 0 || code == -ENOSPC)
			j->code = code;
		j->ended = true;
	} else {
		job_distrust(j);
	}
	json_decref(o);
}

/*
 * What the worker wrote, KD_JOB_READS_PER_WAKE reads at most: the loop
 * calls again while there is more (level-triggered).  1 when it stopped
 * there, 0 when there was nothing more (or the end, or a worker not
 * believed).
 */
int
pv_job_read(struct job *j)
{
	char buf[JOB_READ_LEN], *nl, *b;
	size_t off, cap;
	ssize_t n;
	int reads;

	for (reads = 0; reads < KD_JOB_READS_PER_WAKE; ) {
		n = read(j->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		reads++;
		if (n < 0)
			return 0;	/* EAGAIN */
		if (n == 0) {
			j->eof = true;
			return 0;
		}
		j->received += (size_t)n;
		if (j->received > pv_job_output_max) {
			/* past any worker of ours: what it says is not trusted */
			j->len = 0;
			job_distrust(j);
			return 0;
		}
		if (j->len + (size_t)n + 1 > j->cap) {
			cap = (j->len + (size_t)n + 1) * 2;
			if ((b = realloc(j->buf, cap)) == NULL) {
				job_distrust(j);
				return 0;
			}
			j->buf = b;
			j->cap = cap;
		}
		memcpy(j->buf + j->len, buf, (size_t)n);
		j->len += (size_t)n;
		/* every whole line now; the rest waits for its end */
		for (off = 0; (nl = memchr(j->buf + off, '\n', j->len - off)) !=
		    NULL; off = (size_t)(nl - j->buf) + 1)
			if (!j->bad)	/* no more work for one not believed */
				pv_job_line(j, j->buf + off,
				    (size_t)(nl - j->buf) - off);
		memmove(j->buf, j->buf + off, j->len - off);
		j->len -= off;
		if (j->len > KD_JOB_LINE_MAX) {
			/* a worker gone wrong: what it says is not trusted */
			j->len = 0;
			job_distrust(j);
			return 0;
		}
	}
	return 1;
}

static int job_fork(struct job *j, int dfd, const struct job_spec *js,
    char *err, size_t errlen);

#define NFT_DIR		"collect"
#define NFT_FILE	"07-nftables.json"
#define NFT_ARTIFACT	NFT_DIR "/" NFT_FILE

/* collect's ruleset, not read: why, in the job's errors, and code. */
static void
nft_not_read(struct job *j, const char *why, int code)
{
	if (j->errors == NULL)
		j->errors = json_array();
	json_array_append_new(j->errors, json_sprintf("collect: the nftables "
	    "ruleset was not read: %s", why));
	if (j->code == 0)
		j->code = code;
}

/*
 * collect's second worker, once the first is through: the nftables
 * ruleset, with CAP_NET_ADMIN, which the first never had while it read
 * what local users write.  Within what the first left of the job's time
 * and bytes, in the same directory (sealed once both are through).
 * true: it runs, the job goes on.  false: the job ends (the first was not
 * through, or this one could not start: its errors say so).
 */
static bool
job_nft_worker(struct job *j)
{
	struct job_spec js;
	char dir[PATH_MAX], err[160] = "", why[256];
	char nft[KK_ART_PATH_MAX];
	uint64_t used = 0;
	long elapsed;
	size_t i;
	int dfd, cfd, e;

	j->nft_next = false;
	/* not believed, or not through: its end says why (evidence_done) */
	if (j->bad || !j->ended)
		return false;
	if (j->killed || j->stuck || j->code == -ENOSPC) {
		nft_not_read(j, j->code == -ENOSPC ? "no space left" :
		    "the first worker was stopped at its deadline",
		    j->code == -ENOSPC ? -ENOSPC : -ETIMEDOUT);
		return false;
	}
	pv_strf(nft, sizeof(nft), "%s/%s", j->sub, NFT_ARTIFACT);
	for (i = 0; i < j->arts.n; i++) {
		/* the second's file, reported by the first: not believed */
		if (strcmp(j->arts.v[i].path, nft) == 0) {
			j->bad = true;
			return false;
		}
		used += j->arts.v[i].size;
	}
	memset(&js, 0, sizeof(js));
	js.kind = JOB_COLLECT;
	js.lim = j->lim;
	js.lim.part = KK_COLLECT_NFT_ONLY;
	/* 0 would be the default: 1 makes the artifact say it was cut */
	js.lim.max_bytes = used < j->lim.max_bytes ? j->lim.max_bytes - used :
	    1;
	/* what the first left (kd_act_collect gives no 0, the default) */
	elapsed = pv_ms_since(&j->started);
	js.lim.timeout_ms = elapsed >= 0 && (unsigned long)elapsed <
	    j->lim.timeout_ms ? j->lim.timeout_ms - (unsigned)elapsed : 1;
	/* the first worker's ends */
	sd_event_source_disable_unref(j->child_src);
	sd_event_source_disable_unref(j->io_src);
	j->child_src = j->io_src = NULL;
	kk_close(j->fd);
	j->fd = -1;
	j->len = 0;
	j->received = 0;
	j->exited = j->eof = j->ended = false;
	j->status = 0;
	j->current[0] = '\0';
	e = pv_strf(dir, sizeof(dir), "%s/%s/%s", j->pv->evidence_dir,
	    j->evid, j->sub);
	if (e == 0 && (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW)) < 0)
		e = -errno;
	if (e == 0) {
		/*
		 * A file there by that name is the first's, unreported (it is
		 * gone, nothing races this): the second makes its own.  Its
		 * directory opened beneath, through no link the first made.
		 * One that cannot be removed (a directory) makes the second's
		 * create fail, which it reports.
		 */
		if ((cfd = kk_evidence_openat(dfd, NFT_DIR, O_RDONLY |
		    O_DIRECTORY, 0)) >= 0) {
			(void)unlinkat(cfd, NFT_FILE, 0);
			close(cfd);
		}
		e = job_fork(j, dfd, &js, err, sizeof(err));
		close(dfd);
	}
	if (e < 0) {
		snprintf(why, sizeof(why), "its worker did not start (%s)",
		    err[0] ? err : strerror(-e));
		/* the event sources are gone: the job ends here */
		j->exited = j->eof = j->ended = true;
		nft_not_read(j, why, -EIO);
		return false;
	}
	kk_log(LOG_INFO, KK_MID_APPLY, "%s %s: collect worker %d for the "
	    "nftables ruleset", kk_action_name(j->r->cmd.action),
	    j->r->cmd.id, (int)j->pid);
	return true;
}

static void
job_done(struct job *j)
{
	struct kd_preserve *pv = j->pv;
	struct run *r = j->r;
	struct job **pp;
	bool pending = false;

	if (j->len > 0 && !j->bad)	/* a last line without its newline */
		pv_job_line(j, j->buf, j->len);
	j->len = 0;
	if (j->nft_next && job_nft_worker(j))
		return;
	for (pp = &pv->jobs; *pp; pp = &(*pp)->next) {
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	}
	pv->njobs[j->kind]--;
	pv_seal_job_dir(j);
	pending = j->done(j) == KD_RUN_PENDING;
	job_free(j);
	/* a freeze that now waits for the kernel finishes the run itself */
	if (!pending)
		kd_run_finish(r);
}

static int
on_job_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct job *j = userdata;

	pv_job_read(j);
	if (j->eof)
		sd_event_source_set_enabled(s, SD_EVENT_OFF);
	if (j->eof && j->exited)
		job_done(j);
	return 0;
}

/*
 * The rest in the pipe of a worker that is gone, until it is empty: a
 * pipe holds what pipe-max-size lets it, and the worker's output in all
 * is bounded (pv_job_output_max), so the rounds are too.
 */
static void
job_drain(struct job *j)
{
	size_t i, rounds = pv_job_output_max / (KD_JOB_READS_PER_WAKE *
	    JOB_READ_LEN) + 2;

	for (i = 0; i < rounds && pv_job_read(j) == 1; i++)
		;
}

static int
on_job_exit(sd_event_source *s, const siginfo_t *si, void *userdata)
{
	struct job *j = userdata;

	j->exited = true;
	j->status = si->si_code == CLD_EXITED ? W_EXITCODE(si->si_status, 0) :
	    si->si_status;
	/* whatever the worker wrote is in the pipe: read it all now */
	job_drain(j);
	j->eof = true;
	job_done(j);
	return 0;
}

static int
on_stuck_exit(sd_event_source *s, const siginfo_t *si, void *userdata)
{
	struct stuck *k = userdata, **pp;
	struct kd_preserve *pv = k->pv;

	for (pp = &pv->stuck; *pp; pp = &(*pp)->next) {
		if (*pp == k) {
			*pp = k->next;
			break;
		}
	}
	pv->nstuck--;
	sd_event_source_disable_unref(k->child_src);
	free(k);
	return 0;
}

/*
 * Killed, and still there half a second later: the kernel holds it (an
 * uninterruptible wait).  The job ends now with what the worker sent;
 * its exit is waited for in the background.
 */
static int
on_job_grace(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct job *j = userdata;
	struct stuck *k;

	if (j->exited)
		return 0;
	j->stuck = true;
	job_drain(j);
	j->eof = true;
	sd_event_source_disable_unref(j->child_src);
	j->child_src = NULL;
	if ((k = calloc(1, sizeof(*k))) != NULL) {
		k->pv = j->pv;
		k->pid = j->pid;
		if (sd_event_add_child(j->pv->d->ev, &k->child_src, j->pid,
		    WEXITED, on_stuck_exit, k) < 0) {
			free(k);
		} else {
			k->next = j->pv->stuck;
			j->pv->stuck = k;
			j->pv->nstuck++;
		}
	}
	kk_log(LOG_WARNING, KK_MID_ERROR, "%s %s: the %s worker %d is held "
	    "by the kernel after SIGKILL; the command ends without it",
	    kk_action_name(j->r->cmd.action), j->r->cmd.id,
	    job_names[j->kind], (int)j->pid);
	job_done(j);
	return 0;
}

/* The deadline: the worker is killed; its exit (or the grace) ends the job. */
static int
on_job_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct job *j = userdata;

	if (!j->exited && j->pid > 0) {
		j->killed = true;
		kill(j->pid, SIGKILL);
		kk_log(LOG_WARNING, KK_MID_ERROR, "%s %s: the %s worker %d "
		    "did not finish in %u ms and was stopped",
		    kk_action_name(j->r->cmd.action), j->r->cmd.id,
		    job_names[j->kind], (int)j->pid, j->deadline_ms);
		if (sd_event_add_time_relative(j->pv->d->ev, &j->grace_src,
		    CLOCK_MONOTONIC, KD_KILL_GRACE_MS * 1000ULL, 0,
		    on_job_grace, j) < 0)
			kk_log(LOG_ERR, KK_MID_ERROR, "no grace timer: the "
			    "command waits for the worker's exit");
	}
	return 0;
}

/* The output directory evidence/EVID/PREFIX-ID, the worker's to write. */
static int
make_job_dir(struct run *r, struct job *j, const char *prefix)
{
	struct kd_preserve *pv = r->d->pv;
	char dir[PATH_MAX];
	int dfd, e;

	evidence_id(r, j->evid, sizeof(j->evid));
	snprintf(j->sub, sizeof(j->sub), "%s-%.8s", prefix, r->cmd.id);
	pv_strf(dir, sizeof(dir), "%s/%s", pv->evidence_dir, j->evid);
	if ((mkdir(dir, 0700) < 0 && errno != EEXIST) ||
	    (pv_strf(dir, sizeof(dir), "%s/%s/%s", pv->evidence_dir, j->evid,
	    j->sub), mkdir(dir, 0700) < 0)) {
		e = -errno;
		kd_run_fail(r, e == -ENOSPC ? KE_NO_SPACE : KE_IO, "%s: %s",
		    dir, strerror(-e));
		return e;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* the worker runs as kakurid's user and writes only here */
	if (dfd >= 0 && r->d->own_known &&
	    fchown(dfd, r->d->own_uid, r->d->own_gid) < 0) {
		e = -errno;
		close(dfd);
		kd_run_fail(r, KE_IO, "%s: chown: %s", dir, strerror(-e));
		return e;
	}
	if (dfd < 0) {
		e = -errno;
		kd_run_fail(r, KE_IO, "%s: %s", dir, strerror(-e));
		return e;
	}
	return dfd;
}

int
pv_start_job(struct run *r, struct job_spec *js, const char *prefix,
    int (*done)(struct job *), struct job **jp)
{
	struct kd_preserve *pv = r->d->pv;
	char err[160];
	struct job *j;
	int dfd = -1;

	*jp = NULL;
	if (r->reply == NULL) {
		kd_run_reject(r, KE_UNAVAILABLE, "this path cannot wait for a worker");
		return -EINVAL;
	}
	if (pv->njobs[js->kind] >= KD_JOBS_PER_KIND) {
		kd_run_reject(r, KE_BUSY, "evidence workers are busy; try again");
		return -EBUSY;
	}
	if (pv->nstuck >= KD_STUCK_MAX) {
		kd_run_reject(r, KE_BUSY, "too many evidence workers are held "
		    "by the kernel (a file system that does not answer)");
		return -EBUSY;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		kd_run_fail(r, KE_IO, "out of memory");
		return -ENOMEM;
	}
	j->fd = -1;
	j->pv = pv;
	j->r = r;
	j->kind = js->kind;
	j->done = done;
	kk_artifacts_init(&j->arts);
	clock_gettime(CLOCK_MONOTONIC, &j->started);
	if (js->kind != JOB_HASH && (dfd = make_job_dir(r, j, prefix)) < 0)
		goto fail;
	if (job_fork(j, dfd, js, err, sizeof(err)) < 0) {
		kd_run_fail(r, KE_IO, "%s", err);
		goto fail;
	}
	if (dfd >= 0)
		close(dfd);
	dfd = -1;
	/* collect: this worker all but the ruleset, the next that alone */
	if (js->kind == JOB_COLLECT && js->lim.part == KK_COLLECT_NO_NFT) {
		j->nft_next = true;
		j->lim = js->lim;
	}
	j->next = pv->jobs;
	pv->jobs = j;
	pv->njobs[j->kind]++;
	kk_log(LOG_INFO, KK_MID_APPLY, "%s %s: %s worker %d%s%s%s%s",
	    kk_action_name(r->cmd.action), r->cmd.id, job_names[j->kind],
	    (int)j->pid, j->sub[0] ? " writing evidence/" : "", j->evid,
	    j->sub[0] ? "/" : "", j->sub);
	*jp = j;
	return KD_RUN_PENDING;
fail:
	if (dfd >= 0)
		close(dfd);
	job_free(j);
	return -EIO;
}

/*
 * j's worker forked for js, writing beneath dfd (-1: none), and watched:
 * 0, or -errno with err saying what failed.
 */
static int
job_fork(struct job *j, int dfd, const struct job_spec *js, char *err,
    size_t errlen)
{
	struct kd *d = j->r->d;
	pid_t pid, parent = getpid();
	int p[2], e;

	if (pipe2(p, O_CLOEXEC) < 0) {
		e = -errno;
		snprintf(err, errlen, "pipe: %s", strerror(-e));
		return e;
	}
	pid = fork();
	if (pid < 0) {
		e = -errno;
		close(p[0]);
		close(p[1]);
		snprintf(err, errlen, "fork: %s", strerror(-e));
		return e;
	}
	if (pid == 0) {
		sigset_t all;

		/* the worker dies with SIGTERM like any process */
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		pv_worker_main(d, parent, p[1], dfd, js);
	}
	close(p[1]);
	j->pid = pid;
	j->fd = p[0];
	fcntl(j->fd, F_SETFL, O_NONBLOCK);
	if ((e = sd_event_add_io(d->ev, &j->io_src, j->fd, EPOLLIN,
	    on_job_io, j)) < 0 ||
	    (e = sd_event_add_child(d->ev, &j->child_src, pid, WEXITED,
	    on_job_exit, j)) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		sd_event_source_disable_unref(j->io_src);
		j->io_src = NULL;
		close(j->fd);
		j->fd = -1;
		j->pid = 0;
		snprintf(err, errlen, "event loop: %s", strerror(-e));
		return e;
	}
	return 0;
}

/*
 * The parent's deadline for j, from now (j->deadline_ms).  Without a
 * timer there is no deadline, and then the worker does not run at all.
 */
void
pv_arm_deadline(struct job *j)
{
	int e;

	e = sd_event_add_time_relative(j->pv->d->ev, &j->timer_src,
	    CLOCK_MONOTONIC, (uint64_t)j->deadline_ms * 1000ULL, 0,
	    on_job_deadline, j);
	if (e < 0) {
		kk_log(LOG_ERR, KK_MID_ERROR, "%s %s: no deadline timer (%s): "
		    "the worker is stopped", kk_action_name(j->r->cmd.action),
		    j->r->cmd.id, strerror(-e));
		j->killed = true;
		kill(j->pid, SIGKILL);
	}
}

/* kakurid's end: every worker killed (by pid) and forgotten. */
void
pv_jobs_free(struct kd_preserve *pv)
{
	while (pv->jobs) {
		struct job *j = pv->jobs;

		pv->jobs = j->next;
		/* our own worker, by pid; one the kernel holds is not waited for */
		if (!j->exited && j->pid > 0) {
			kill(j->pid, SIGKILL);
			waitpid(j->pid, NULL, WNOHANG);
		}
		job_free(j);
	}
	while (pv->stuck) {
		struct stuck *k = pv->stuck;

		pv->stuck = k->next;
		kill(k->pid, SIGKILL);
		waitpid(k->pid, NULL, WNOHANG);
		sd_event_source_disable_unref(k->child_src);
		free(k);
	}
}
