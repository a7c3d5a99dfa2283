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
 * fetch answers with the evidence directory's listing and grants the TLS
 * connection that carried it (and only that one) chunked reads of that
 * directory for a while.  The network child sees those bytes anyway: the
 * grant gives it nothing it could not read off the wire, and it cannot
 * make one without a signed fetch command.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon.h"
#include "evidence.h"
#include "log.h"
#include "run.h"
#include "sandbox.h"

#define KD_JOBS_PER_KIND	2	/* workers of one kind at once */
#define KD_JOB_LINE_MAX		(8U << 20)	/* one line of a worker */
#define KD_MAX_GRANTS		16
#define KD_GRANT_SECONDS	1800
#define KD_CHUNK_MAX		(512U * 1024)
#define KD_FETCH_MAX_FILES	4096
#define KD_RECEIPT_ARTIFACTS	256	/* listed in a receipt; the manifest has all */
#define KD_RECEIPT_UNHASHED	256	/* unhashed files listed in a receipt */
#define KD_SNAPSHOT_PIDS	1024	/* processes in one snapshot */
#define KD_HASH_FILE_MAX	((uint64_t)1 << 30)	/* larger: not hashed */
#define KD_SNAPSHOT_TIMEOUT	1800	/* seconds, when the policy says 0 */
#define KD_COLLECT_GRACE_MS	5000	/* after collect's own deadline */
#define KD_WORKER_NICE		10
#define KD_WORKER_NO_SANDBOX	4	/* exit status: not confined */
#define KD_KILL_GRACE_MS	500	/* from SIGKILL to giving up on the exit */
#define KD_STUCK_MAX		16	/* killed workers the kernel still holds */

enum job_kind { JOB_SNAPSHOT, JOB_COLLECT, JOB_HASH, JOB_KINDS };

static const char *const job_names[JOB_KINDS] = { "snapshot", "collect",
	"hash" };

/* What a worker is to do; built in the parent, read by the child. */
struct job_spec {
	enum job_kind kind;
	pid_t *pids;		/* snapshot and hash (NULL: all processes) */
	unsigned long long *starts;	/* snapshot: recorded start times */
	size_t npids;
	bool physical;
	struct kk_collect_limits lim;
	unsigned soft_ms;	/* hash: no reading after this */
};

struct job {
	struct kd_preserve *pv;
	struct run *r;
	enum job_kind kind;
	pid_t pid;
	int fd;
	sd_event_source *child_src;
	sd_event_source *io_src;
	sd_event_source *timer_src;
	sd_event_source *grace_src;	/* after the kill */
	char *buf;		/* the line being received */
	size_t len;
	size_t cap;
	bool exited;
	bool eof;
	bool killed;		/* at its deadline */
	bool stuck;		/* killed, and still not gone */
	bool bad;		/* said something that is not a line of ours */
	bool ended;		/* sent its final line */
	int status;
	unsigned deadline_ms;
	struct timespec started;
	char evid[80];
	char sub[48];		/* the command's subdirectory */
	/* snapshot and collect */
	struct kk_artifacts arts;
	json_t *errors;
	int code;
	json_t *skipped;	/* snapshot: pids not taken */
	char current[KK_ART_PATH_MAX];	/* the artifact last begun */
	/* hash: the selector it resolves */
	struct kk_hash_result hres;
	struct kk_selector sel;
	bool thaw;
	unsigned budget_ms;	/* the whole freeze, hashing included */
	struct job *next;
};

/* A killed worker that has not exited yet, waited for in the background. */
struct stuck {
	struct kd_preserve *pv;
	pid_t pid;
	sd_event_source *child_src;
	struct stuck *next;
};

struct grant {
	uint64_t token;
	char evid[80];
	time_t until;
};

struct kd_preserve {
	struct kd *d;
	struct kk_freezer fz;
	bool fz_ok;
	char fz_err[256];
	struct kk_frozen_set frozen;
	char frozen_path[PATH_MAX];
	char evidence_dir[PATH_MAX];
	char boot_id[40];
	struct job *jobs;
	unsigned njobs[JOB_KINDS];
	struct pending_freeze *pending;	/* one freeze at a time waits */
	struct stuck *stuck;
	unsigned nstuck;
	struct grant grants[KD_MAX_GRANTS];
};

struct pending_freeze;
static int list_files(int dfd, const char *rel, int depth, json_t *out);
static void pending_free(struct pending_freeze *pf);

/*
 * Bounded formatting for paths and ids; -ENAMETOOLONG rather than a
 * silently shortened name.
 */
static int strf(char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
strf(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static void
read_boot_id(char *out, size_t len)
{
	ssize_t n;
	int fd;

	snprintf(out, len, "unknown");
	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, out, len - 1);
	close(fd);
	if (n <= 0) {
		snprintf(out, len, "unknown");
		return;
	}
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

static long
ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)(t.tv_sec - t0->tv_sec) * 1000L +
	    (t.tv_nsec - t0->tv_nsec) / 1000000L;
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
	read_boot_id(pv->boot_id, sizeof(pv->boot_id));
	if (snprintf(pv->evidence_dir, sizeof(pv->evidence_dir), "%s/evidence",
	    d->policy->state_dir) >= (int)sizeof(pv->evidence_dir) ||
	    snprintf(pv->frozen_path, sizeof(pv->frozen_path), "%s/frozen.json",
	    d->policy->state_dir) >= (int)sizeof(pv->frozen_path))
		return -ENAMETOOLONG;
	if (mkdir(pv->evidence_dir, 0700) < 0 && errno != EEXIST)
		kk_log(LOG_ERR, KK_MID_ERROR, "evidence store %s: %s",
		    pv->evidence_dir, strerror(errno));
	pv->fz.timeout_ms = (unsigned)d->policy->freeze_timeout * 1000;
	if (kk_freezer_probe(&pv->fz, pv->fz_err, sizeof(pv->fz_err)) == 0)
		pv->fz_ok = true;
	else
		kk_log(LOG_WARNING, KK_MID_ERROR, "freeze unavailable: %s",
		    pv->fz_err);
	pv->fz.timeout_ms = (unsigned)d->policy->freeze_timeout * 1000;
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
	return 0;
}

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

void
kd_preserve_free(struct kd *d)
{
	struct kd_preserve *pv = d->pv;

	if (pv == NULL)
		return;
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
	/* its run is answered by kd_remote_abort_runs */
	if (pv->pending != NULL)
		pending_free(pv->pending);
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
	    "freezer", pv->fz_ok ? pv->fz.method : "unavailable",
	    "frozen", (json_int_t)pv->frozen.n,
	    "freeze_episode", pv->frozen.n ? pv->frozen.v[0].group : NULL,
	    "evidence_jobs", (json_int_t)n);
}

/* ---- selectors ---- */

static bool
is_hex(const char *s, size_t n)
{
	size_t i;

	if (strlen(s) != n)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

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
		    is_hex(json_string_value(v), 64)) {
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
static void
make_guard(struct kd *d, struct kk_freeze_guard *g,
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
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < n; i++)
		json_array_append_new(a, json_pack("{s:i, s:i, s:o, s:s}",
		    "pid", (int)v[i].pid, "uid", (int)v[i].uid, "exe",
		    kk_json_str(v[i].exe), "method", v[i].method));
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
	json_t *extra;		/* more for the receipt's output (sha256) */
	size_t before;
	char group[KK_EPISODE_HEX + 1];
};

#define KD_FREEZE_POLL_MS	10

/* The receipt of a freeze, whatever its end. */
static void
freeze_result(struct run *r, int e, const char *err, json_t *skipped,
    size_t before, const char *group, json_t *extra)
{
	struct kd_preserve *pv = r->d->pv;
	const char *key;
	json_t *v;

	if (pv->frozen.n != before &&
	    kk_frozen_save(pv->frozen_path, &pv->frozen) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "%s: could not be saved: thaw "
		    "after a restart will not know these processes",
		    pv->frozen_path);
	json_decref(r->output);
	r->output = json_pack("{s:s, s:s, s:o, s:o, s:I}",
	    "method", pv->fz.method, "freeze_episode", group,
	    "frozen", frozen_list(pv->frozen.v + before, pv->frozen.n - before),
	    "skipped", skipped ? json_incref(skipped) : json_array(),
	    "frozen_total", (json_int_t)pv->frozen.n);
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

static void
pending_free(struct pending_freeze *pf)
{
	sd_event_source_disable_unref(pf->timer);
	kk_freeze_op_free(pf->op);
	json_decref(pf->skipped);
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
	freeze_result(r, e, err, pf->skipped, pf->before, pf->group,
	    pf->extra);
	pv->pending = NULL;
	pending_free(pf);
	kd_run_finish(r);
	return 0;
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
	json_t *skipped = NULL;
	size_t before;
	int e;

	if (pv->pending != NULL) {
		json_decref(extra);
		kd_run_reject(r, "busy", "a freeze is still waiting for the "
		    "kernel; try again");
		return -EBUSY;
	}
	/* one freeze episode while anything is frozen; thaw names it */
	if (pv->frozen.n > 0)
		strf(group, sizeof(group), "%s", pv->frozen.v[0].group);
	else if ((e = kk_episode_new(group)) < 0) {
		json_decref(extra);
		kd_run_fail(r, "io", "random: %s", strerror(-e));
		return e;
	}
	make_guard(r->d, &g, prot);
	if (timeout_ms != 0)
		fz.timeout_ms = timeout_ms;
	before = pv->frozen.n;
	e = kk_freeze_begin(&fz, &g, sel, group, &pv->frozen, &skipped, &op,
	    err, sizeof(err));
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
	freeze_result(r, e, err, skipped, before, group, extra);
	json_decref(skipped);
	json_decref(extra);
	return e < 0 ? e : 0;
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

	if (pv->frozen.n == 0) {
		kd_run_reject(r, "not-frozen", "kakuri has frozen nothing");
		return -ENOENT;
	}
	if (strcmp(r->cmd.episode, pv->frozen.v[0].group) != 0) {
		kd_run_reject(r, "wrong-episode",
		    "the command names another freeze episode than the current one");
		return -ESTALE;
	}
	e = kk_thaw(&pv->fz, sel, &pv->frozen, &thawed, &gone, &kept, err,
	    sizeof(err));
	if (kk_frozen_save(pv->frozen_path, &pv->frozen) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "%s: could not be saved",
		    pv->frozen_path);
	json_decref(r->output);
	r->output = json_pack("{s:o, s:I, s:o, s:I}",
	    "thawed", frozen_list(thawed.v, thawed.n), "gone", (json_int_t)gone,
	    "kept_frozen", kept ? kept : json_array(),
	    "frozen_total", (json_int_t)pv->frozen.n);
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

static int start_job(struct run *r, struct job_spec *js, const char *prefix,
    struct job **jp);
static void arm_deadline(struct job *j);

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
	e = start_job(r, &js, "hash", &j);
	free(js.pids);
	if (e != KD_RUN_PENDING)
		return e;
	j->sel = *sel;
	j->thaw = thaw;
	j->budget_ms = budget;
	j->deadline_ms = budget / 2;
	arm_deadline(j);
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
	struct kd_preserve *pv = r->d->pv;
	struct kk_selector sel;

	if (parse_selector(r, true, &sel) < 0)
		return -EINVAL;
	if (pv->frozen.n == 0) {
		kd_run_reject(r, "not-frozen", "kakuri has frozen nothing");
		return -ENOENT;
	}
	if (strcmp(r->cmd.episode, pv->frozen.v[0].group) != 0) {
		kd_run_reject(r, "wrong-episode",
		    "the command names another freeze episode than the current one");
		return -ESTALE;
	}
	if (pv->pending != NULL) {
		kd_run_reject(r, "busy", "a freeze is still waiting for the "
		    "kernel; try again");
		return -EBUSY;
	}
	if (sel.kind == KK_SEL_SHA256)
		return start_hash(r, &sel, true);
	return do_thaw(r, &sel);
}

/* ---- workers ---- */

/* The evidence id: the incident when it is a usable name, else the command. */
static void
evidence_id(const struct run *r, char *out, size_t len)
{
	if (r->cmd.incident[0] && kk_evidence_id_ok(r->cmd.incident))
		strf(out, len, "%s", r->cmd.incident);
	else
		strf(out, len, "%s", r->cmd.id);
}

static json_t *
artifact_json(const struct kk_artifact *a)
{
	json_t *o;

	o = json_pack("{s:s, s:I, s:s, s:i, s:I, s:s, s:b, s:o}",
	    "path", a->path, "size", (json_int_t)a->size, "sha256", a->sha256,
	    "pid", (int)a->pid, "start_time", (json_int_t)a->start_time,
	    "method", a->method, "incomplete", a->incomplete,
	    "error", kk_json_str(a->error));
	if (o && a->gaps)
		json_object_set(o, "gaps", a->gaps);
	return o;
}

static int
write_full(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One JSON line to the parent (o is consumed). */
static void
put_line(int fd, json_t *o)
{
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	size_t n;

	json_decref(o);
	if (text == NULL)
		return;
	n = strlen(text);
	text[n] = '\n';		/* json_dumps leaves room for the NUL */
	write_full(fd, text, n + 1);
	free(text);
}

static void
emit_begin(const char *rel, void *arg)
{
	put_line(*(const int *)arg, json_pack("{s:o}", "begin",
	    kk_json_str(rel)));
}

static void
emit_artifact(const struct kk_artifact *a, void *arg)
{
	put_line(*(const int *)arg, json_pack("{s:o}", "artifact",
	    artifact_json(a)));
}

/*
 * The system calls a worker makes: files, memory, threads of its own,
 * ptrace of the target, time.  Collect adds netlink sockets.  No exec,
 * no fork, no mount, no identity change, no other sockets.
 */
static const int worker_calls[] = {
	SYS_read, SYS_write, SYS_pread64, SYS_pwrite64, SYS_readv,
	SYS_writev, SYS_lseek, SYS_close, SYS_openat, SYS_newfstatat,
	SYS_fstat, SYS_statx, SYS_getdents64, SYS_readlinkat, SYS_mkdirat,
	SYS_unlinkat, SYS_ftruncate, SYS_fsync, SYS_fdatasync, SYS_fcntl,
	SYS_ioctl, SYS_fstatfs, SYS_statfs, SYS_faccessat,
#ifdef SYS_faccessat2
	SYS_faccessat2,
#endif
#ifdef SYS_open
	SYS_open, SYS_stat, SYS_lstat, SYS_readlink, SYS_access,
	SYS_getdents, SYS_mkdir, SYS_unlink,
#endif
	SYS_mmap, SYS_munmap, SYS_mremap, SYS_mprotect, SYS_madvise,
	SYS_brk, SYS_futex, SYS_set_robust_list, SYS_rseq,
	SYS_rt_sigaction, SYS_rt_sigprocmask, SYS_rt_sigreturn,
	SYS_sigaltstack, SYS_exit, SYS_exit_group, SYS_getpid, SYS_gettid,
	SYS_getppid, SYS_getuid, SYS_geteuid, SYS_getgid, SYS_getegid,
	SYS_clock_gettime, SYS_clock_nanosleep, SYS_nanosleep,
	SYS_gettimeofday, SYS_getrandom, SYS_sched_yield,
	SYS_sched_getaffinity, SYS_prctl, SYS_uname, SYS_sysinfo,
	SYS_prlimit64, SYS_ptrace, SYS_wait4, SYS_waitid,
	SYS_process_vm_readv, SYS_ppoll, SYS_restart_syscall,
#ifdef SYS_poll
	SYS_poll,
#endif
};

static const int collect_calls[] = {
	SYS_socket, SYS_bind, SYS_getsockname, SYS_setsockopt,
	SYS_getsockopt, SYS_sendto, SYS_recvfrom, SYS_sendmsg, SYS_recvmsg,
};

#define CAP(c)	((uint64_t)1 << (c))

/* In the worker: confinement for the job, or exit. */
static void
worker_confine(struct kd *d, pid_t parent, int out, int dirfd,
    const struct job_spec *js)
{
	int calls[sizeof(worker_calls) / sizeof(worker_calls[0]) +
	    sizeof(collect_calls) / sizeof(collect_calls[0])];
	int keep[2] = { out, dirfd };
	struct kk_sandbox sb;
	size_t n = 0, i;

	memset(&sb, 0, sizeof(sb));
	sb.keep_fds = keep;
	sb.nkeep_fds = dirfd >= 0 ? 2 : 1;
	/* reading what others own, and tracing them */
	sb.caps = CAP(CAP_SYS_PTRACE) | CAP(CAP_DAC_READ_SEARCH);
	if (js->kind == JOB_SNAPSHOT && js->physical)
		sb.caps |= CAP(CAP_SYS_RAWIO);	/* /proc/kcore, /dev/mem */
	if (js->kind == JOB_COLLECT)
		sb.caps |= CAP(CAP_NET_ADMIN);	/* the nftables ruleset */
	/* kakurid's own unprivileged user: what it writes is only its own */
	sb.set_ids = d->own_known;
	sb.uid = d->own_uid;
	sb.gid = d->own_gid;
	sb.nice = KD_WORKER_NICE;
	for (i = 0; i < sizeof(worker_calls) / sizeof(worker_calls[0]); i++)
		calls[n++] = worker_calls[i];
	if (js->kind == JOB_COLLECT)
		for (i = 0; i < sizeof(collect_calls) /
		    sizeof(collect_calls[0]); i++)
			calls[n++] = collect_calls[i];
	sb.allowed = calls;
	sb.nallowed = n;
	sb.threads = true;	/* core.c traces from a thread of its own */
	if (kk_sandbox_enter(&sb) < 0)
		_exit(KD_WORKER_NO_SANDBOX);
	/* after the change of uid, which clears it */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != parent)
		_exit(0);	/* the parent died before the line above */
}

static int
worker_snapshot(int dirfd, const struct job_spec *js,
    struct kk_artifacts *arts, json_t *errors)
{
	struct kk_lime_src src = { "/proc/kcore", "/proc/iomem", "/dev/crash",
		"/dev/mem" };
	struct kk_artifact a;
	char err[512];
	size_t i;
	int code = 0, e;

	for (i = 0; i < js->npids; i++) {
		err[0] = '\0';
		e = kk_snapshot_process(dirfd, js->pids[i], js->starts[i], arts,
		    err, sizeof(err));
		if (e < 0) {
			/* core.c's messages name the pid already */
			json_array_append_new(errors, err[0] ?
			    kk_json_str(err) : json_sprintf("pid %d: %s",
			    (int)js->pids[i], strerror(-e)));
			if (code == 0 || e == -ENOSPC)
				code = e;
			/* a full disk stops everything that follows */
			if (e == -ENOSPC)
				break;
		}
	}
	if (js->physical && code != -ENOSPC) {
		memset(&a, 0, sizeof(a));
		err[0] = '\0';
		kk_artifacts_begin(arts, "physical/ram.lime");
		e = kk_lime_write(dirfd, "physical/ram.lime", &src, &a, err,
		    sizeof(err));
		if (a.path[0])
			kk_artifacts_add(arts, &a);
		json_decref(a.gaps);
		if (e < 0) {
			json_array_append_new(errors, json_sprintf(
			    "physical memory: %s", err[0] ? err :
			    strerror(-e)));
			if (code == 0 || e == -ENOSPC)
				code = e;
		}
	}
	return code;
}

/*
 * In the worker: confine, do the job, tell the parent as it goes.
 * Snapshot and collect send {"artifact":{...}} per file and at last
 * {"end":{"code":N,"errors":[...]}}; hash sends kk_exe_hash_scan's lines.
 */
static void __attribute__((noreturn))
worker_main(struct kd *d, pid_t parent, int out, int dirfd,
    const struct job_spec *js)
{
	struct kk_artifacts arts;
	struct kk_hash_spec hs;
	struct timespec ts;
	json_t *errors;
	char err[512];
	int code = 0, e;

	prctl(PR_SET_NAME, "kakurid-evid", 0, 0, 0);
	worker_confine(d, parent, out, dirfd, js);
	/* kk_sandbox_enter renumbered them */
	out = 3;
	dirfd = dirfd >= 0 ? 4 : -1;
	if (js->kind == JOB_HASH) {
		memset(&hs, 0, sizeof(hs));
		hs.pids = js->pids;
		hs.npids = js->npids;
		hs.max_bytes = KD_HASH_FILE_MAX;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		hs.deadline_ns = (uint64_t)ts.tv_sec * 1000000000ULL +
		    (uint64_t)ts.tv_nsec + (uint64_t)js->soft_ms * 1000000ULL;
		_exit(kk_exe_hash_scan(out, &hs) < 0 ? 1 : 0);
	}
	kk_artifacts_init(&arts);
	arts.on_add = emit_artifact;
	arts.on_begin = emit_begin;
	arts.on_add_arg = &out;
	errors = json_array();
	if (js->kind == JOB_SNAPSHOT) {
		code = worker_snapshot(dirfd, js, &arts, errors);
	} else {
		err[0] = '\0';
		e = kk_collect(dirfd, &js->lim, &arts, err, sizeof(err));
		if (e < 0) {
			json_array_append_new(errors, json_sprintf("collect: %s",
			    err[0] ? err : strerror(-e)));
			code = e;
		}
	}
	put_line(out, json_pack("{s:{s:i, s:o}}", "end", "code", code,
	    "errors", errors));
	_exit(0);
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
		    "path", arts->v[i].path, "size",
		    (json_int_t)arts->v[i].size, "sha256", arts->v[i].sha256,
		    "incomplete", arts->v[i].incomplete, "error",
		    arts->v[i].error[0] ? kk_json_str(arts->v[i].error) :
		    NULL));
	}
	return a;
}

/* One {"artifact":{...}} of the worker, its path under the subdir. */
static int
take_artifact(struct job *j, json_t *v)
{
	struct kk_artifact a;
	const char *p = json_string_value(json_object_get(v, "path"));
	const char *h = json_string_value(json_object_get(v, "sha256"));

	if (p == NULL || h == NULL || !is_hex(h, 64))
		return -EBADMSG;
	memset(&a, 0, sizeof(a));
	if (strf(a.path, sizeof(a.path), "%s/%s", j->sub, p) < 0)
		return -EBADMSG;
	snprintf(a.sha256, sizeof(a.sha256), "%s", h);
	a.size = (uint64_t)json_integer_value(json_object_get(v, "size"));
	a.pid = (pid_t)json_integer_value(json_object_get(v, "pid"));
	a.start_time = (unsigned long long)json_integer_value(
	    json_object_get(v, "start_time"));
	snprintf(a.method, sizeof(a.method), "%s",
	    json_string_value(json_object_get(v, "method")) ?: "");
	a.incomplete = json_is_true(json_object_get(v, "incomplete"));
	snprintf(a.error, sizeof(a.error), "%s",
	    json_string_value(json_object_get(v, "error")) ?: "");
	if (json_is_array(json_object_get(v, "gaps")))
		a.gaps = json_incref(json_object_get(v, "gaps"));
	if (kk_artifacts_add(&j->arts, &a) < 0) {
		json_decref(a.gaps);
		return -E2BIG;
	}
	return 0;
}

/* One complete line from a worker. */
static void
job_line(struct job *j, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *o, *v;

	if (len == 0)
		return;
	if (j->kind == JOB_HASH) {
		if (kk_hash_result_line(&j->hres, line, len) < 0)
			j->bad = true;
		return;
	}
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if ((v = json_object_get(o, "artifact")) != NULL) {
		if (take_artifact(j, v) < 0)
			j->bad = true;
	} else if (json_is_string(v = json_object_get(o, "begin"))) {
		if (strf(j->current, sizeof(j->current), "%s",
		    json_string_value(v)) < 0)
			j->bad = true;
	} else if ((v = json_object_get(o, "end")) != NULL &&
	    json_is_array(json_object_get(v, "errors"))) {
		j->code = (int)json_integer_value(json_object_get(v, "code"));
		json_decref(j->errors);
		j->errors = json_incref(json_object_get(v, "errors"));
		j->ended = true;
	} else {
		j->bad = true;
	}
	json_decref(o);
}

static void
job_read(struct job *j)
{
	char buf[65536], *nl, *b;
	size_t off, cap;
	ssize_t n;

	for (;;) {
		n = read(j->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return;		/* EAGAIN */
		if (n == 0) {
			j->eof = true;
			return;
		}
		if (j->len + (size_t)n + 1 > j->cap) {
			cap = (j->len + (size_t)n + 1) * 2;
			if ((b = realloc(j->buf, cap)) == NULL) {
				j->bad = true;
				kill(j->pid, SIGKILL);
				return;
			}
			j->buf = b;
			j->cap = cap;
		}
		memcpy(j->buf + j->len, buf, (size_t)n);
		j->len += (size_t)n;
		/* every whole line now; the rest waits for its end */
		for (off = 0; (nl = memchr(j->buf + off, '\n', j->len - off)) !=
		    NULL; off = (size_t)(nl - j->buf) + 1)
			job_line(j, j->buf + off, (size_t)(nl - j->buf) - off);
		memmove(j->buf, j->buf + off, j->len - off);
		j->len -= off;
		if (j->len > KD_JOB_LINE_MAX) {
			/* a worker gone wrong: what it says is not trusted */
			j->bad = true;
			j->len = 0;
			kill(j->pid, SIGKILL);
			return;
		}
	}
}

/*
 * The artifact the worker said it began and never finished, when no file
 * of it exists (it was held before it could make one: opening a file
 * that does not answer): listed as incomplete, with an empty file, so
 * the manifest says what is missing and why.
 */
static void
note_unstarted(struct job *j, int dfd, const char *why)
{
	struct kk_artifact a;
	char path[KK_ART_PATH_MAX + 64], *p;
	size_t k;
	int fd;

	if (j->current[0] == '\0' || strf(path, sizeof(path), "%s/%s", j->sub,
	    j->current) < 0)
		return;
	for (k = 0; k < j->arts.n; k++)
		if (strcmp(j->arts.v[k].path, path) == 0)
			return;
	/* its directory (pid-N/), then the empty file */
	for (p = strchr(j->current, '/'); p != NULL; p = strchr(p + 1, '/')) {
		*p = '\0';
		mkdirat(dfd, j->current, 0700);
		*p = '/';
	}
	fd = openat(dfd, j->current, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (fd < 0)
		return;
	close(fd);
	memset(&a, 0, sizeof(a));
	if (strf(a.path, sizeof(a.path), "%s", path) < 0)
		return;
	snprintf(a.method, sizeof(a.method), "unfinished");
	a.incomplete = true;
	snprintf(a.error, sizeof(a.error), "not copied: %.150s before any of "
	    "it could be read", why);
	kk_sha256_hex("", 0, a.sha256);
	kk_artifacts_add(&j->arts, &a);
}

/*
 * A worker that stopped before it was through (killed at its deadline,
 * or crashed) may leave files it was writing: each one not reported is
 * cut to nothing (its bytes were never hashed, and a partial file must
 * not pass for evidence) and listed as incomplete.
 */
static void
cut_unreported(struct job *j, const char *why)
{
	char dir[PATH_MAX], path[KK_ART_PATH_MAX + 64];
	struct kk_artifact a;
	json_t *files, *f;
	size_t i, k;
	int dfd, fd;

	if (strf(dir, sizeof(dir), "%s/%s/%s", j->pv->evidence_dir, j->evid,
	    j->sub) < 0 ||
	    (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW)) < 0)
		return;
	files = json_array();
	if (files != NULL)
		list_files(dfd, "", 0, files);
	json_array_foreach(files, i, f) {
		const char *rel = json_string_value(json_object_get(f, "path"));

		if (rel == NULL || strf(path, sizeof(path), "%s/%s", j->sub,
		    rel) < 0)
			continue;
		for (k = 0; k < j->arts.n; k++)
			if (strcmp(j->arts.v[k].path, path) == 0)
				break;
		if (k < j->arts.n)
			continue;
		fd = openat(dfd, rel, O_WRONLY | O_CLOEXEC | O_NOFOLLOW |
		    O_NONBLOCK);
		if (fd < 0)
			continue;
		memset(&a, 0, sizeof(a));
		if (strf(a.path, sizeof(a.path), "%s", path) < 0) {
			close(fd);
			continue;
		}
		snprintf(a.method, sizeof(a.method), "unfinished");
		a.incomplete = true;
		snprintf(a.error, sizeof(a.error), "%.120s while this was "
		    "written; %s", why, ftruncate(fd, 0) == 0 ?
		    "the partial copy was removed" :
		    "the partial copy is left");
		kk_sha256_hex("", 0, a.sha256);
		close(fd);
		if (kk_artifacts_add(&j->arts, &a) < 0)
			break;
	}
	json_decref(files);
	note_unstarted(j, dfd, why);
	close(dfd);
}

/*
 * A full disk: the partial copies are truncated so the manifest and the
 * audit log can still be written; the manifest says what happened.
 */
static void
release_space(struct job *j)
{
	char path[PATH_MAX];
	size_t i;
	int fd;

	for (i = 0; i < j->arts.n; i++) {
		struct kk_artifact *a = &j->arts.v[i];

		if (!a->incomplete || a->size == 0)
			continue;
		strf(path, sizeof(path), "%s/%s/%s", j->pv->evidence_dir,
		    j->evid, a->path);
		fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0)
			continue;
		if (ftruncate(fd, 0) == 0) {
			size_t l = strlen(a->error);

			snprintf(a->error + l, sizeof(a->error) - l,
			    "; partial copy of %llu bytes removed to keep the "
			    "store writable", (unsigned long long)a->size);
			a->size = 0;
			kk_sha256_hex("", 0, a->sha256);
		}
		close(fd);
	}
}

/* How the worker ended, in words, when it did not say so itself. */
static void
worker_end_words(const struct job *j, char *out, size_t len)
{
	if (j->stuck)
		snprintf(out, len, "the %s worker was stopped at its deadline "
		    "(%u ms), held in the kernel by a file that does not "
		    "answer", job_names[j->kind], j->deadline_ms);
	else if (j->killed)
		snprintf(out, len, "the %s worker was stopped at its deadline "
		    "(%u ms)", job_names[j->kind], j->deadline_ms);
	else if (WIFSIGNALED(j->status))
		snprintf(out, len, "the %s worker was killed by signal %d",
		    job_names[j->kind], WTERMSIG(j->status));
	else if (WEXITSTATUS(j->status) == KD_WORKER_NO_SANDBOX)
		snprintf(out, len, "the %s worker could not confine itself",
		    job_names[j->kind]);
	else
		snprintf(out, len, "the %s worker exited with %d before it "
		    "was through", job_names[j->kind], WEXITSTATUS(j->status));
}

/* snapshot and collect: the manifest, the receipt. */
static void
evidence_done(struct job *j)
{
	struct kd_preserve *pv = j->pv;
	struct kd *d = pv->d;
	struct run *r = j->r;
	struct kk_manifest_ctx mc;
	char dir[PATH_MAX], err[300] = "", how[160];
	uint64_t bytes = 0;
	int dfd, e;

	if (j->bad) {
		worker_end_words(j, how, sizeof(how));
		kd_run_fail(r, "worker-failed", "the evidence worker %d sent "
		    "something that is not its report (%s): nothing of it is "
		    "recorded", (int)j->pid, how);
		return;
	}
	if (j->errors == NULL)
		j->errors = json_array();
	if (!j->ended) {
		worker_end_words(j, how, sizeof(how));
		json_array_append_new(j->errors, json_string(how));
		j->code = j->killed ? -ETIMEDOUT : -EIO;
		cut_unreported(j, how);
	}
	if (j->code == -ENOSPC)
		release_space(j);
	strf(dir, sizeof(dir), "%s/%s", pv->evidence_dir, j->evid);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	memset(&mc, 0, sizeof(mc));
	mc.command = r->cmd.id;
	mc.boot_id = pv->boot_id;
	mc.agent_version = KAKURI_VERSION;
	mc.agent_id = d->agent_id;
	e = dfd < 0 ? -errno : kk_manifest_append(dfd, &mc, &j->arts,
	    d->agent_key, d->agent_id, err, sizeof(err));
	if (dfd >= 0)
		close(dfd);
	r->output = json_pack("{s:s, s:s, s:o, s:I, s:I, s:O}",
	    "evidence", j->evid, "dir", j->sub,
	    "artifacts", receipt_artifacts(&j->arts, &bytes),
	    "count", (json_int_t)j->arts.n, "bytes", (json_int_t)bytes,
	    "errors", j->errors);
	if (j->skipped != NULL)
		json_object_set(r->output, "skipped", j->skipped);
	if (e < 0) {
		kd_run_fail(r, e == -ENOSPC ? "no-space" : "io",
		    "manifest not written: %s", err[0] ? err : strerror(-e));
		kk_log(LOG_ERR, KK_MID_ERROR, "evidence %s: %s", j->evid,
		    r->detail);
	} else if (j->code < 0) {
		kd_run_fail(r, j->code == -ENOSPC ? "no-space" :
		    j->code == -ESRCH ? "vanished" : j->code == -ETIMEDOUT ?
		    "timeout" : "incomplete", "%s",
		    json_string_value(json_array_get(j->errors, 0)) ?:
		    strerror(-j->code));
	} else {
		kd_run_applied(r);
		snprintf(r->detail, sizeof(r->detail), "%zu artifact(s), %llu "
		    "bytes in evidence/%s/%s", j->arts.n,
		    (unsigned long long)bytes, j->evid, j->sub);
	}
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
		worker_end_words(j, how, sizeof(how));
		kd_run_fail(r, "worker-failed", "the hashing worker %d sent "
		    "something else than its lines (%s)", (int)j->pid, how);
		return 0;
	}
	worker_end_words(j, how, sizeof(how));
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
	extra = json_pack("{s:I, s:I, s:o}", "hashed", (json_int_t)hashed,
	    "not_hashed", (json_int_t)unhashed, "unhashed",
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
		left = (long)j->budget_ms - ms_since(&j->started);
		e = do_freeze(r, &sel, left > 1000 ? (unsigned)left : 1000,
		    extra);
	}
out:
	free(ids);
	return e == KD_RUN_PENDING ? e : 0;
}

static void
job_done(struct job *j)
{
	struct kd_preserve *pv = j->pv;
	struct run *r = j->r;
	struct job **pp;
	bool pending = false;

	for (pp = &pv->jobs; *pp; pp = &(*pp)->next) {
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	}
	pv->njobs[j->kind]--;
	if (j->len > 0)		/* a last line without its newline */
		job_line(j, j->buf, j->len);
	if (j->kind == JOB_HASH)
		pending = hash_done(j) == KD_RUN_PENDING;
	else
		evidence_done(j);
	job_free(j);
	/* a freeze that now waits for the kernel finishes the run itself */
	if (!pending)
		kd_run_finish(r);
}

static int
on_job_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct job *j = userdata;

	job_read(j);
	if (j->eof)
		sd_event_source_set_enabled(s, SD_EVENT_OFF);
	if (j->eof && j->exited)
		job_done(j);
	return 0;
}

static int
on_job_exit(sd_event_source *s, const siginfo_t *si, void *userdata)
{
	struct job *j = userdata;

	j->exited = true;
	j->status = si->si_code == CLD_EXITED ? W_EXITCODE(si->si_status, 0) :
	    si->si_status;
	/* whatever the worker wrote is in the pipe: read it all now */
	job_read(j);
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
	job_read(j);
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
	strf(dir, sizeof(dir), "%s/%s", pv->evidence_dir, j->evid);
	if ((mkdir(dir, 0700) < 0 && errno != EEXIST) ||
	    (strf(dir, sizeof(dir), "%s/%s/%s", pv->evidence_dir, j->evid,
	    j->sub), mkdir(dir, 0700) < 0)) {
		e = -errno;
		kd_run_fail(r, e == -ENOSPC ? "no-space" : "io", "%s: %s", dir,
		    strerror(-e));
		return e;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* the worker runs as kakurid's user and writes only here */
	if (dfd >= 0 && r->d->own_known &&
	    fchown(dfd, r->d->own_uid, r->d->own_gid) < 0) {
		e = -errno;
		close(dfd);
		kd_run_fail(r, "io", "%s: chown: %s", dir, strerror(-e));
		return e;
	}
	if (dfd < 0) {
		e = -errno;
		kd_run_fail(r, "io", "%s: %s", dir, strerror(-e));
		return e;
	}
	return dfd;
}

static int
start_job(struct run *r, struct job_spec *js, const char *prefix,
    struct job **jp)
{
	struct kd_preserve *pv = r->d->pv;
	struct job *j;
	int p[2] = { -1, -1 }, dfd = -1, e;
	pid_t pid, parent = getpid();

	*jp = NULL;
	if (r->reply == NULL) {
		kd_run_reject(r, "unavailable", "this path cannot wait for a worker");
		return -EINVAL;
	}
	if (pv->njobs[js->kind] >= KD_JOBS_PER_KIND) {
		kd_run_reject(r, "busy", "evidence workers are busy; try again");
		return -EBUSY;
	}
	if (pv->nstuck >= KD_STUCK_MAX) {
		kd_run_reject(r, "busy", "too many evidence workers are held "
		    "by the kernel (a file system that does not answer)");
		return -EBUSY;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		kd_run_fail(r, "io", "out of memory");
		return -ENOMEM;
	}
	j->fd = -1;
	j->pv = pv;
	j->r = r;
	j->kind = js->kind;
	kk_artifacts_init(&j->arts);
	clock_gettime(CLOCK_MONOTONIC, &j->started);
	if (js->kind != JOB_HASH && (dfd = make_job_dir(r, j, prefix)) < 0)
		goto fail;
	if (pipe2(p, O_CLOEXEC) < 0) {
		e = -errno;
		kd_run_fail(r, "io", "pipe: %s", strerror(-e));
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		e = -errno;
		kd_run_fail(r, "io", "fork: %s", strerror(-e));
		goto fail;
	}
	if (pid == 0) {
		sigset_t all;

		/* the worker dies with SIGTERM like any process */
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		worker_main(r->d, parent, p[1], dfd, js);
	}
	close(p[1]);
	p[1] = -1;
	if (dfd >= 0)
		close(dfd);
	dfd = -1;
	j->pid = pid;
	j->fd = p[0];
	fcntl(j->fd, F_SETFL, O_NONBLOCK);
	if ((e = sd_event_add_io(r->d->ev, &j->io_src, j->fd, EPOLLIN,
	    on_job_io, j)) < 0 ||
	    (e = sd_event_add_child(r->d->ev, &j->child_src, pid, WEXITED,
	    on_job_exit, j)) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		kd_run_fail(r, "io", "event loop: %s", strerror(-e));
		goto fail;
	}
	j->next = pv->jobs;
	pv->jobs = j;
	pv->njobs[j->kind]++;
	kk_log(LOG_INFO, KK_MID_APPLY, "%s %s: %s worker %d%s%s%s%s",
	    kk_action_name(r->cmd.action), r->cmd.id, job_names[j->kind],
	    (int)pid, j->sub[0] ? " writing evidence/" : "", j->evid,
	    j->sub[0] ? "/" : "", j->sub);
	*jp = j;
	return KD_RUN_PENDING;
fail:
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	if (dfd >= 0)
		close(dfd);
	j->fd = -1;
	job_free(j);
	return -EIO;
}

/*
 * The parent's deadline for j, from now (j->deadline_ms).  Without a
 * timer there is no deadline, and then the worker does not run at all.
 */
static void
arm_deadline(struct job *j)
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
	size_t i;
	int e;

	memset(&js, 0, sizeof(js));
	js.kind = JOB_SNAPSHOT;
	js.pids = calloc(KD_SNAPSHOT_PIDS, sizeof(*js.pids));
	js.starts = calloc(KD_SNAPSHOT_PIDS, sizeof(*js.starts));
	skipped = json_array();
	if (js.pids == NULL || js.starts == NULL || skipped == NULL) {
		kd_run_fail(r, "io", "out of memory");
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
			kd_run_reject(r, "malformed", "snapshot takes pid or "
			    "frozen: true, and physical: bool");
			e = -EINVAL;
			goto out;
		}
	}
	if (!any || (frozen && js.npids > 0)) {
		kd_run_reject(r, "malformed", "snapshot needs one of pid, "
		    "frozen: true or physical: true");
		e = -EINVAL;
		goto out;
	}
	if (frozen) {
		if (pv->frozen.n == 0) {
			kd_run_reject(r, "not-frozen", "kakuri has frozen nothing");
			e = -ENOENT;
			goto out;
		}
		/*
		 * Only the processes that were frozen: a pid whose start
		 * time changed belongs to someone else now (the worker
		 * checks again, against the same start time).
		 */
		for (i = 0; i < pv->frozen.n && js.npids < KD_SNAPSHOT_PIDS;
		    i++) {
			const struct kk_frozen *f = &pv->frozen.v[i];

			if (kk_proc_start_time(f->pid, &st) < 0 ||
			    st != f->start_time) {
				json_array_append_new(skipped, json_pack(
				    "{s:i, s:s}", "pid", (int)f->pid, "why",
				    "gone, or its pid now belongs to another "
				    "process (start time changed)"));
				continue;
			}
			js.starts[js.npids] = f->start_time;
			js.pids[js.npids++] = f->pid;
		}
		if (js.npids == 0 && !js.physical) {
			r->output = json_pack("{s:O}", "skipped", skipped);
			kd_run_reject(r, "vanished", "none of the frozen "
			    "processes is there any more");
			e = -ESRCH;
			goto out;
		}
	}
	make_guard(r->d, &g, prot);
	for (i = 0; i < js.npids; i++) {
		if (kk_protected(&g, js.pids[i], why, sizeof(why)) != NULL) {
			char t[PATH_MAX + 100];

			snprintf(t, sizeof(t), "pid %d is %s", (int)js.pids[i],
			    why);
			kd_run_reject(r, "protected", t);
			e = -EPERM;
			goto out;
		}
	}
	e = start_job(r, &js, "snapshot", &j);
	if (e == KD_RUN_PENDING) {
		j->deadline_ms = (unsigned)(r->d->policy->snapshot_timeout >
		    0 ? r->d->policy->snapshot_timeout : KD_SNAPSHOT_TIMEOUT) *
		    1000;
		if (json_array_size(skipped) > 0)
			j->skipped = json_incref(skipped);
		arm_deadline(j);
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
		kd_run_reject(r, "malformed", "collect takes no args");
		return -EINVAL;
	}
	memset(&js, 0, sizeof(js));
	js.kind = JOB_COLLECT;
	js.lim.timeout_ms = (unsigned)r->d->policy->collect_timeout * 1000;
	js.lim.max_bytes = (uint64_t)r->d->policy->collect_max_mb << 20;
	js.lim.journal_entries = 1000;
	e = start_job(r, &js, "collect", &j);
	if (e == KD_RUN_PENDING) {
		/* collect stops itself at its timeout; this is the backstop */
		j->deadline_ms = js.lim.timeout_ms + KD_COLLECT_GRACE_MS +
		    js.lim.timeout_ms / 10;
		arm_deadline(j);
	}
	return e;
}

/* ---- fetch ---- */

static int
open_beneath(int dfd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
		    RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};

	return (int)syscall(SYS_openat2, dfd, path, &how, sizeof(how));
}

/* Regular files under dir, relative paths, bounded in depth and count. */
static int
list_files(int dfd, const char *rel, int depth, json_t *out)
{
	struct dirent *de;
	struct stat st;
	char path[KK_ART_PATH_MAX];
	DIR *dir;
	int fd, e = 0;

	if (depth > 6)
		return 0;
	fd = rel[0] ? open_beneath(dfd, rel, O_RDONLY | O_DIRECTORY) :
	    dup(dfd);
	if (fd < 0)
		return -errno;
	dir = fdopendir(fd);
	if (dir == NULL) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (strstr(de->d_name, ".tmp") != NULL)
			continue;
		if (snprintf(path, sizeof(path), "%s%s%s", rel, rel[0] ? "/" : "",
		    de->d_name) >= (int)sizeof(path))
			continue;
		if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if ((e = list_files(dfd, path, depth + 1, out)) < 0)
				break;
		} else if (S_ISREG(st.st_mode)) {
			if (json_array_size(out) >= KD_FETCH_MAX_FILES) {
				e = -E2BIG;
				break;
			}
			json_array_append_new(out, json_pack("{s:s, s:I}", "path",
			    path, "size", (json_int_t)st.st_size));
		}
	}
	closedir(dir);
	return e;
}

int
kd_act_fetch(struct run *r)
{
	struct kd_preserve *pv = r->d->pv;
	const char *id;
	char dir[PATH_MAX];
	json_t *files;
	struct grant *g = NULL;
	time_t now = time(NULL);
	size_t i;
	int dfd, e;

	id = json_string_value(json_object_get(r->cmd.args, "id"));
	if (id == NULL || json_object_size(r->cmd.args) != 1 ||
	    !kk_evidence_id_ok(id)) {
		kd_run_reject(r, "malformed", "fetch takes args.id, an evidence id");
		return -EINVAL;
	}
	if (strncmp(r->via, "tls:", 4) != 0) {
		kd_run_reject(r, "unavailable", "fetch works over the CSIRT channel only");
		return -EINVAL;
	}
	strf(dir, sizeof(dir), "%s/%s", pv->evidence_dir, id);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0) {
		kd_run_reject(r, "no-evidence", "no evidence with that id");
		return -ENOENT;
	}
	files = json_array();
	e = list_files(dfd, "", 0, files);
	close(dfd);
	if (e < 0) {
		json_decref(files);
		kd_run_fail(r, "io", "listing evidence/%s: %s", id, strerror(-e));
		return e;
	}
	/* the listing travels in the receipt: base64 in a 1 MiB frame */
	{
		char *t = json_dumps(files, JSON_COMPACT);
		size_t n = t ? strlen(t) : SIZE_MAX;

		free(t);
		if (n > 640U * 1024) {
			json_decref(files);
			kd_run_fail(r, "too-large", "evidence/%s lists too many "
			    "files for one receipt", id);
			return -E2BIG;
		}
	}
	/* the connection that carried the command may read this directory */
	for (i = 0; i < KD_MAX_GRANTS; i++) {
		if (pv->grants[i].until < now || pv->grants[i].token == r->token) {
			g = &pv->grants[i];
			break;
		}
		if (g == NULL || pv->grants[i].until < g->until)
			g = &pv->grants[i];
	}
	g->token = r->token;
	snprintf(g->evid, sizeof(g->evid), "%s", id);
	g->until = now + KD_GRANT_SECONDS;
	if ((time_t)r->cmd.exp + r->d->policy->clock_skew < g->until)
		g->until = (time_t)r->cmd.exp + r->d->policy->clock_skew;
	r->output = json_pack("{s:s, s:o}", "evidence", id, "files", files);
	kd_run_applied(r);
	return 0;
}

void
kd_fetch_forget(struct kd *d)
{
	if (d->pv)
		memset(d->pv->grants, 0, sizeof(d->pv->grants));
}

static uint8_t *
chunk_error(const char *word, const char *msg, size_t *outlen)
{
	char *text;
	json_t *o;
	size_t n;

	o = json_pack("{s:b, s:s, s:s}", "ok", 0, "error", word, "message", msg);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (text == NULL)
		return NULL;
	n = strlen(text);
	text[n] = '\n';		/* json_dumps leaves room for the NUL */
	*outlen = n + 1;
	return (uint8_t *)text;
}

/*
 * {"chunk":{"path":P,"offset":O,"length":L}} on a connection holding a
 * grant -> header line + raw bytes.  NULL: not a chunk request.
 */
uint8_t *
kd_fetch_chunk(struct kd *d, uint64_t token, const uint8_t *body, size_t len,
    size_t *outlen)
{
	struct kd_preserve *pv = d->pv;
	json_error_t jerr;
	json_t *o, *c;
	const char *path;
	json_int_t off, want;
	struct grant *g = NULL;
	struct stat st;
	char dir[PATH_MAX], *hdr = NULL;
	uint8_t *out = NULL;
	time_t now = time(NULL);
	size_t i, hlen;
	ssize_t n = 0;
	int dfd = -1, fd = -1;

	if (pv == NULL || len < 9 || memcmp(body, "{\"chunk\"", 8) != 0)
		return NULL;
	o = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
	c = json_object_get(o, "chunk");
	if (json_object_size(o) != 1 || json_object_size(c) != 3 ||
	    !json_is_string(json_object_get(c, "path")) ||
	    !json_is_integer(json_object_get(c, "offset")) ||
	    !json_is_integer(json_object_get(c, "length"))) {
		out = chunk_error("malformed", "chunk: path, offset, length", outlen);
		goto out;
	}
	path = json_string_value(json_object_get(c, "path"));
	off = json_integer_value(json_object_get(c, "offset"));
	want = json_integer_value(json_object_get(c, "length"));
	if (off < 0 || want < 1 || want > KD_CHUNK_MAX || path[0] == '\0' ||
	    path[0] == '/') {
		out = chunk_error("malformed", "bad offset, length or path", outlen);
		goto out;
	}
	for (i = 0; i < KD_MAX_GRANTS; i++)
		if (pv->grants[i].token == token && pv->grants[i].until >= now)
			g = &pv->grants[i];
	if (g == NULL) {
		out = chunk_error("no-grant", "send a signed fetch command first",
		    outlen);
		goto out;
	}
	strf(dir, sizeof(dir), "%s/%s", pv->evidence_dir, g->evid);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	fd = dfd < 0 ? -1 : open_beneath(dfd, path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		out = chunk_error("no-file", "no such file in this evidence", outlen);
		goto out;
	}
	if (off > st.st_size)
		off = st.st_size;
	if (want > st.st_size - off)
		want = st.st_size - off;
	{
		json_t *h = json_pack("{s:b, s:s, s:I, s:I, s:b}", "ok", 1,
		    "path", path, "offset", off, "length", want,
		    "eof", off + want >= st.st_size);

		hdr = h ? json_dumps(h, JSON_COMPACT) : NULL;
		json_decref(h);
	}
	if (hdr == NULL)
		goto out;
	hlen = strlen(hdr);
	out = malloc(hlen + 1 + (size_t)want);
	if (out == NULL)
		goto out;
	memcpy(out, hdr, hlen);
	out[hlen] = '\n';
	while (n < want) {
		ssize_t k = pread(fd, out + hlen + 1 + n, (size_t)(want - n),
		    off + n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += k;
	}
	if (n != want) {
		free(out);
		out = chunk_error("io", "the file changed or could not be read",
		    outlen);
		goto out;
	}
	*outlen = hlen + 1 + (size_t)want;
out:
	free(hdr);
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	json_decref(o);
	return out;
}
