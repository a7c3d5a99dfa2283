/*
 * Evidence actions in the root parent (DESIGN 4 and 7): freeze, thaw,
 * snapshot, collect and fetch.
 *
 * freeze and thaw are quick and bounded (the freezer's timeout): they run
 * in the event loop.  snapshot and collect copy gigabytes or walk the
 * whole system, so each runs in a forked worker: the daemon keeps serving
 * (status, disconnect, isolation, other commands) and a worker that
 * crashes on a hostile target takes nothing else down.  The worker writes
 * artifacts and hands their list back over a pipe; the parent alone
 * appends to the manifest and signs it, so two workers never race on it.
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
#include <linux/openat2.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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

#define KD_MAX_JOBS		2	/* snapshot/collect workers at once */
#define KD_JOB_OUT_MAX		(8U << 20)	/* worker's artifact list */
#define KD_MAX_GRANTS		16
#define KD_GRANT_SECONDS	1800
#define KD_CHUNK_MAX		(512U * 1024)
#define KD_FETCH_MAX_FILES	4096
#define KD_RECEIPT_ARTIFACTS	256	/* listed in a receipt; the manifest has all */

struct job {
	struct kd_preserve *pv;
	struct run *r;
	pid_t pid;
	int fd;
	sd_event_source *child_src;
	sd_event_source *io_src;
	char *buf;
	size_t len;
	size_t cap;
	bool exited;
	bool eof;
	int status;
	char evid[80];
	char sub[48];		/* the command's subdirectory */
	struct job *next;
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
	unsigned njobs;
	struct grant grants[KD_MAX_GRANTS];
};

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
	if (j->fd >= 0)
		close(j->fd);
	free(j->buf);
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
		/* our own worker, by pid */
		if (!j->exited && j->pid > 0) {
			kill(j->pid, SIGKILL);
			waitpid(j->pid, NULL, 0);
		}
		job_free(j);
	}
	kk_frozen_set_free(&pv->frozen);
	free(pv);
	d->pv = NULL;
}

json_t *
kd_preserve_status(struct kd *d)
{
	struct kd_preserve *pv = d->pv;

	if (pv == NULL)
		return json_null();
	return json_pack("{s:s, s:I, s:s?, s:I}",
	    "freezer", pv->fz_ok ? pv->fz.method : "unavailable",
	    "frozen", (json_int_t)pv->frozen.n,
	    "freeze_episode", pv->frozen.n ? pv->frozen.v[0].group : NULL,
	    "evidence_jobs", (json_int_t)pv->njobs);
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

static void
make_guard(struct kd *d, struct kk_freeze_guard *g, const char **paths)
{
	size_t i;

	memset(g, 0, sizeof(*g));
	g->self = getpid();
	for (i = 0; i < d->policy->protect_exe.n; i++)
		paths[i] = d->policy->protect_exe.path[i];
	g->protect_exe = paths;
	g->nprotect_exe = d->policy->protect_exe.n;
}

static json_t *
frozen_list(const struct kk_frozen *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < n; i++)
		json_array_append_new(a, json_pack("{s:i, s:i, s:s, s:s}",
		    "pid", (int)v[i].pid, "uid", (int)v[i].uid, "exe", v[i].exe,
		    "method", v[i].method));
	return a;
}

int
kd_act_freeze(struct run *r)
{
	struct kd_preserve *pv = r->d->pv;
	struct kk_freeze_guard g;
	struct kk_selector sel;
	const char *paths[KK_MAX_PROTECT];
	char group[KK_EPISODE_HEX + 1], err[256] = "";
	json_t *skipped = NULL;
	size_t before;
	int e;

	if (parse_selector(r, false, &sel) < 0)
		return -EINVAL;
	if (!pv->fz_ok) {
		kd_run_fail(r, "no-freezer", "%s", pv->fz_err);
		return -ENOTSUP;
	}
	/* one freeze episode while anything is frozen; thaw names it */
	if (pv->frozen.n > 0)
		strf(group, sizeof(group), "%s", pv->frozen.v[0].group);
	else if ((e = kk_episode_new(group)) < 0) {
		kd_run_fail(r, "io", "random: %s", strerror(-e));
		return e;
	}
	make_guard(r->d, &g, paths);
	before = pv->frozen.n;
	e = kk_freeze(&pv->fz, &g, &sel, group, &pv->frozen, &skipped, err,
	    sizeof(err));
	if (pv->frozen.n != before &&
	    kk_frozen_save(pv->frozen_path, &pv->frozen) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "%s: could not be saved: thaw "
		    "after a restart will not know these processes",
		    pv->frozen_path);
	r->output = json_pack("{s:s, s:s, s:o, s:o, s:I}",
	    "method", pv->fz.method, "freeze_episode", group,
	    "frozen", frozen_list(pv->frozen.v + before, pv->frozen.n - before),
	    "skipped", skipped ? skipped : json_array(),
	    "frozen_total", (json_int_t)pv->frozen.n);
	if (e == -EPERM) {
		kd_run_reject(r, "protected", err);
		return e;
	}
	if (e == -ESRCH) {
		kd_run_reject(r, "no-match", err[0] ? err : "no process matches");
		return e;
	}
	if (e < 0) {
		kd_run_fail(r, e == -ETIMEDOUT ? "timeout" : "freeze-failed",
		    "%s", err[0] ? err : strerror(-e));
		return e;
	}
	kd_run_applied(r);
	snprintf(r->detail, sizeof(r->detail), "%zu process(es) frozen (%s)",
	    pv->frozen.n - before, pv->fz.method);
	return 0;
}

int
kd_act_thaw(struct run *r)
{
	struct kd_preserve *pv = r->d->pv;
	struct kk_frozen_set thawed = { 0 };
	struct kk_selector sel;
	char err[256] = "";
	size_t gone = 0;
	int e;

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
	e = kk_thaw(&pv->fz, &sel, &pv->frozen, &thawed, &gone, err,
	    sizeof(err));
	if (kk_frozen_save(pv->frozen_path, &pv->frozen) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "%s: could not be saved",
		    pv->frozen_path);
	r->output = json_pack("{s:o, s:I, s:I}",
	    "thawed", frozen_list(thawed.v, thawed.n), "gone", (json_int_t)gone,
	    "frozen_total", (json_int_t)pv->frozen.n);
	kk_frozen_set_free(&thawed);
	if (e == -ESRCH) {
		kd_run_reject(r, "no-match", err[0] ? err :
		    "no frozen process matches");
		return e;
	}
	if (e < 0) {
		kd_run_fail(r, "thaw-failed", "%s", err[0] ? err : strerror(-e));
		return e;
	}
	kd_run_applied(r);
	return 0;
}

/* ---- workers: snapshot and collect ---- */

/* The evidence id: the incident when it is a usable name, else the command. */
static void
evidence_id(const struct run *r, char *out, size_t len)
{
	if (r->cmd.incident[0] && kk_evidence_id_ok(r->cmd.incident))
		strf(out, len, "%s", r->cmd.incident);
	else
		strf(out, len, "%s", r->cmd.id);
}

/* Is pid one that must never be touched (DESIGN 8 and the policy)? */
static const char *
protected_pid(struct kd *d, pid_t pid)
{
	char path[64], buf[1024], exe[PATH_MAX], *p;
	unsigned long flags = 0;
	int ppid = 0, fd;
	ssize_t n;
	size_t k;

	if (pid == 1)
		return "pid 1";
	if (pid == getpid())
		return "kakurid itself";
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;	/* gone: the snapshot says so */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	/* fields after comm: state ppid pgrp session tty tpgid flags */
	if (p && sscanf(p + 2, "%*c %d %*d %*d %*d %*d %lu", &ppid, &flags) == 2) {
		if (flags & 0x00200000)	/* PF_KTHREAD */
			return "a kernel thread";
		if (ppid == getpid())
			return "a process of kakurid";
	}
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		for (k = 0; k < d->policy->protect_exe.n; k++)
			if (strcmp(exe, d->policy->protect_exe.path[k]) == 0)
				return "protected by the policy";
	}
	return NULL;
}

static json_t *
artifact_json(const struct kk_artifact *a)
{
	json_t *o;

	o = json_pack("{s:s, s:I, s:s, s:i, s:I, s:s, s:b, s:s}",
	    "path", a->path, "size", (json_int_t)a->size, "sha256", a->sha256,
	    "pid", (int)a->pid, "start_time", (json_int_t)a->start_time,
	    "method", a->method, "incomplete", a->incomplete,
	    "error", a->error);
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

enum job_kind { JOB_SNAPSHOT, JOB_COLLECT };

struct job_spec {
	enum job_kind kind;
	pid_t pids[1024];
	size_t npids;
	bool physical;
	struct kk_collect_limits lim;
};

/* In the worker: do the job, write {"artifacts":[...],"errors":[...],"code":N}. */
static void __attribute__((noreturn))
worker_main(int out, int dirfd, const struct job_spec *js)
{
	struct kk_artifacts arts;
	struct kk_lime_src src = { "/proc/kcore", "/proc/iomem", "/dev/crash",
		"/dev/mem" };
	struct kk_artifact a;
	json_t *o, *list, *errors;
	char err[512], *text;
	size_t i;
	int code = 0, e;

	prctl(PR_SET_NAME, "kakurid-evid", 0, 0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	kk_artifacts_init(&arts);
	errors = json_array();
	if (js->kind == JOB_SNAPSHOT) {
		for (i = 0; i < js->npids; i++) {
			err[0] = '\0';
			e = kk_snapshot_process(dirfd, js->pids[i], &arts, err,
			    sizeof(err));
			if (e < 0) {
				/* core.c's messages name the pid already */
				json_array_append_new(errors, err[0] ?
				    json_string(err) : json_sprintf("pid %d: %s",
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
			e = kk_lime_write(dirfd, "physical/ram.lime", &src, &a,
			    err, sizeof(err));
			if (a.path[0])
				kk_artifacts_add(&arts, &a);
			json_decref(a.gaps);
			if (e < 0) {
				json_array_append_new(errors, json_sprintf(
				    "physical memory: %s", err[0] ? err :
				    strerror(-e)));
				if (code == 0 || e == -ENOSPC)
					code = e;
			}
		}
	} else {
		err[0] = '\0';
		e = kk_collect(dirfd, &js->lim, &arts, err, sizeof(err));
		if (e < 0) {
			json_array_append_new(errors, json_sprintf("collect: %s",
			    err[0] ? err : strerror(-e)));
			code = e;
		}
	}
	list = json_array();
	for (i = 0; i < arts.n; i++)
		json_array_append_new(list, artifact_json(&arts.v[i]));
	o = json_pack("{s:o, s:o, s:i}", "artifacts", list, "errors", errors,
	    "code", code);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (text)
		write_full(out, text, strlen(text));
	_exit(text ? 0 : 1);
}

static json_t *
receipt_artifacts(const struct kk_artifacts *arts, uint64_t *bytes)
{
	json_t *a = json_array();
	size_t i;

	*bytes = 0;
	for (i = 0; i < arts->n; i++) {
		*bytes += arts->v[i].size;
		if (i < KD_RECEIPT_ARTIFACTS)
			json_array_append_new(a, json_pack("{s:s, s:I, s:s, s:b, s:s?}",
			    "path", arts->v[i].path, "size",
			    (json_int_t)arts->v[i].size, "sha256", arts->v[i].sha256,
			    "incomplete", arts->v[i].incomplete, "error",
			    arts->v[i].error[0] ? arts->v[i].error : NULL));
	}
	return a;
}

/* The worker's list back into artifacts, paths under the command's subdir. */
static int
parse_worker(struct job *j, struct kk_artifacts *arts, json_t **errors,
    int *code)
{
	json_t *o, *list, *v;
	size_t i;

	*errors = NULL;
	*code = 0;
	o = json_loadb(j->buf ? j->buf : "", j->len, 0, NULL);
	list = json_object_get(o, "artifacts");
	if (!json_is_array(list)) {
		json_decref(o);
		return -EBADMSG;
	}
	*code = (int)json_integer_value(json_object_get(o, "code"));
	*errors = json_incref(json_object_get(o, "errors"));
	json_array_foreach(list, i, v) {
		struct kk_artifact a;
		const char *p = json_string_value(json_object_get(v, "path"));
		const char *h = json_string_value(json_object_get(v, "sha256"));

		if (p == NULL || h == NULL || !is_hex(h, 64))
			continue;
		memset(&a, 0, sizeof(a));
		snprintf(a.path, sizeof(a.path), "%s/%s", j->sub, p);
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
		if (kk_artifacts_add(arts, &a) < 0) {
			json_decref(a.gaps);
			break;
		}
	}
	json_decref(o);
	return 0;
}

/*
 * A full disk: the partial copies are truncated so the manifest and the
 * audit log can still be written; the manifest says what happened.
 */
static void
release_space(struct job *j, struct kk_artifacts *arts)
{
	char path[PATH_MAX];
	size_t i;
	int fd;

	for (i = 0; i < arts->n; i++) {
		struct kk_artifact *a = &arts->v[i];

		if (!a->incomplete)
			continue;
		strf(path, sizeof(path), "%s/%s/%s", j->pv->evidence_dir,
		    j->evid, a->path);
		fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
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

static void
job_done(struct job *j)
{
	struct kd_preserve *pv = j->pv;
	struct kd *d = pv->d;
	struct run *r = j->r;
	struct kk_artifacts arts;
	struct kk_manifest_ctx mc;
	struct job **pp;
	json_t *errors = NULL;
	char dir[PATH_MAX], err[300] = "";
	uint64_t bytes = 0;
	int code = 0, dfd, e;

	for (pp = &pv->jobs; *pp; pp = &(*pp)->next) {
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	}
	pv->njobs--;
	kk_artifacts_init(&arts);
	if (parse_worker(j, &arts, &errors, &code) < 0) {
		kd_run_fail(r, "worker-failed", "evidence worker %d %s %d",
		    (int)j->pid, WIFSIGNALED(j->status) ? "killed by signal" :
		    "exited with", WIFSIGNALED(j->status) ? WTERMSIG(j->status) :
		    WEXITSTATUS(j->status));
		goto out;
	}
	if (code == -ENOSPC)
		release_space(j, &arts);
	strf(dir, sizeof(dir), "%s/%s", pv->evidence_dir, j->evid);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	memset(&mc, 0, sizeof(mc));
	mc.command = r->cmd.id;
	mc.boot_id = pv->boot_id;
	mc.agent_version = KAKURI_VERSION;
	mc.agent_id = d->agent_id;
	e = dfd < 0 ? -errno : kk_manifest_append(dfd, &mc, &arts, d->agent_key,
	    d->agent_id, err, sizeof(err));
	if (dfd >= 0)
		close(dfd);
	r->output = json_pack("{s:s, s:s, s:o, s:I, s:I, s:o}",
	    "evidence", j->evid, "dir", j->sub,
	    "artifacts", receipt_artifacts(&arts, &bytes),
	    "count", (json_int_t)arts.n, "bytes", (json_int_t)bytes,
	    "errors", errors ? json_incref(errors) : json_array());
	if (e < 0) {
		kd_run_fail(r, e == -ENOSPC ? "no-space" : "io",
		    "manifest not written: %s", err[0] ? err : strerror(-e));
		kk_log(LOG_ERR, KK_MID_ERROR, "evidence %s: %s", j->evid,
		    r->detail);
	} else if (code < 0) {
		kd_run_fail(r, code == -ENOSPC ? "no-space" : code == -ESRCH ?
		    "vanished" : "incomplete", "%s",
		    json_string_value(json_array_get(errors, 0)) ?:
		    strerror(-code));
	} else {
		kd_run_applied(r);
		snprintf(r->detail, sizeof(r->detail), "%zu artifact(s), %llu "
		    "bytes in evidence/%s/%s", arts.n, (unsigned long long)bytes,
		    j->evid, j->sub);
	}
out:
	json_decref(errors);
	kk_artifacts_free(&arts);
	job_free(j);
	kd_run_finish(r);
}

static void
job_read(struct job *j)
{
	char buf[65536];
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
		if (j->len + (size_t)n > KD_JOB_OUT_MAX) {
			/* a worker gone wrong: its list is not trusted */
			j->len = 0;
			j->eof = true;
			kill(j->pid, SIGKILL);
			return;
		}
		if (j->len + (size_t)n + 1 > j->cap) {
			size_t cap = (j->len + (size_t)n + 1) * 2;
			char *b = realloc(j->buf, cap);

			if (b == NULL)
				return;
			j->buf = b;
			j->cap = cap;
		}
		memcpy(j->buf + j->len, buf, (size_t)n);
		j->len += (size_t)n;
	}
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
start_job(struct run *r, const struct job_spec *js, const char *prefix)
{
	struct kd_preserve *pv = r->d->pv;
	struct job *j;
	char dir[PATH_MAX];
	int p[2] = { -1, -1 }, dfd = -1, e;
	pid_t pid;

	if (r->reply == NULL) {
		kd_run_reject(r, "unavailable", "this path cannot wait for a worker");
		return -EINVAL;
	}
	if (pv->njobs >= KD_MAX_JOBS) {
		kd_run_reject(r, "busy", "evidence workers are busy; try again");
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
	evidence_id(r, j->evid, sizeof(j->evid));
	snprintf(j->sub, sizeof(j->sub), "%s-%.8s", prefix, r->cmd.id);
	strf(dir, sizeof(dir), "%s/%s", pv->evidence_dir, j->evid);
	if ((mkdir(dir, 0700) < 0 && errno != EEXIST) ||
	    (strf(dir, sizeof(dir), "%s/%s/%s", pv->evidence_dir, j->evid,
	    j->sub), mkdir(dir, 0700) < 0)) {
		e = -errno;
		kd_run_fail(r, e == -ENOSPC ? "no-space" : "io", "%s: %s", dir,
		    strerror(-e));
		goto fail;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || pipe2(p, O_CLOEXEC) < 0) {
		e = -errno;
		kd_run_fail(r, "io", "%s: %s", dir, strerror(-e));
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
		close(p[0]);
		worker_main(p[1], dfd, js);
	}
	close(p[1]);
	p[1] = -1;
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
	pv->njobs++;
	kk_log(LOG_INFO, KK_MID_APPLY, "%s %s: worker %d writing evidence/%s/%s",
	    kk_action_name(r->cmd.action), r->cmd.id, (int)pid, j->evid, j->sub);
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

int
kd_act_snapshot(struct run *r)
{
	struct kd_preserve *pv = r->d->pv;
	struct job_spec *js;
	const char *key, *why;
	json_t *v;
	bool frozen = false, any = false;
	size_t i;
	int e;

	js = calloc(1, sizeof(*js));
	if (js == NULL)
		return -ENOMEM;
	js->kind = JOB_SNAPSHOT;
	json_object_foreach(r->cmd.args, key, v) {
		if (strcmp(key, "pid") == 0 && json_is_integer(v) &&
		    json_integer_value(v) > 0 && json_integer_value(v) < (1 << 22)) {
			js->pids[js->npids++] = (pid_t)json_integer_value(v);
			any = true;
		} else if (strcmp(key, "frozen") == 0 && json_is_boolean(v)) {
			frozen = json_is_true(v);
			any = any || frozen;
		} else if (strcmp(key, "physical") == 0 && json_is_boolean(v)) {
			js->physical = json_is_true(v);
			any = any || js->physical;
		} else {
			kd_run_reject(r, "malformed", "snapshot takes pid or "
			    "frozen: true, and physical: bool");
			e = -EINVAL;
			goto out;
		}
	}
	if (!any || (frozen && js->npids > 0)) {
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
		for (i = 0; i < pv->frozen.n && js->npids < 1024; i++)
			js->pids[js->npids++] = pv->frozen.v[i].pid;
	}
	for (i = 0; i < js->npids; i++) {
		if ((why = protected_pid(r->d, js->pids[i])) != NULL) {
			char t[200];

			snprintf(t, sizeof(t), "pid %d is %s", (int)js->pids[i],
			    why);
			kd_run_reject(r, "protected", t);
			e = -EPERM;
			goto out;
		}
	}
	e = start_job(r, js, "snapshot");
out:
	free(js);
	return e;
}

int
kd_act_collect(struct run *r)
{
	struct job_spec *js;
	int e;

	if (json_object_size(r->cmd.args) != 0) {
		kd_run_reject(r, "malformed", "collect takes no args");
		return -EINVAL;
	}
	js = calloc(1, sizeof(*js));
	if (js == NULL)
		return -ENOMEM;
	js->kind = JOB_COLLECT;
	js->lim.timeout_ms = (unsigned)r->d->policy->collect_timeout * 1000;
	js->lim.max_bytes = (uint64_t)r->d->policy->collect_max_mb << 20;
	js->lim.journal_entries = 1000;
	e = start_job(r, js, "collect");
	free(js);
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
