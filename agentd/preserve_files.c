/*
 * What an evidence worker leaves in its job's directory, once it is
 * through: files it did not report cut and listed as incomplete, partial
 * copies removed on a full disk, and the whole directory made root's.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "preserve.h"
#include "wire.h"

/*
 * rel (kk_artifact_rel_ok) created empty beneath dfd, its directories
 * too, no symbolic link followed on the way: an open fd, or -errno.
 */
static int
create_beneath(int dfd, const char *rel)
{
	char tmp[KK_ART_PATH_MAX], *p;
	int fd;

	if (!kk_artifact_rel_ok(rel) ||
	    snprintf(tmp, sizeof(tmp), "%s", rel) >= (int)sizeof(tmp))
		return -EINVAL;
	for (p = strchr(tmp, '/'); p != NULL; p = strchr(p + 1, '/')) {
		*p = '\0';
		fd = kk_evidence_open(dfd, tmp, O_RDONLY | O_DIRECTORY);
		if (fd < 0 && errno == ENOENT && mkdirat(dfd, tmp, 0700) == 0)
			fd = kk_evidence_open(dfd, tmp, O_RDONLY | O_DIRECTORY);
		if (fd < 0)
			return -errno;
		close(fd);
		*p = '/';
	}
	fd = kk_evidence_openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
	return fd < 0 ? -errno : fd;
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
	char path[KK_ART_PATH_MAX + 64];
	size_t k;
	int fd;

	if (j->current[0] == '\0' || pv_strf(path, sizeof(path), "%s/%s",
	    j->sub, j->current) < 0)
		return;
	for (k = 0; k < j->arts.n; k++)
		if (strcmp(j->arts.v[k].path, path) == 0)
			return;
	/*
	 * Its directories (pid-N/), then the empty file, beneath dfd and
	 * through no symbolic link: the worker made what is there.
	 */
	if ((fd = create_beneath(dfd, j->current)) < 0)
		return;
	close(fd);
	memset(&a, 0, sizeof(a));
	if (pv_strf(a.path, sizeof(a.path), "%s", path) < 0)
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
void
pv_cut_unreported(struct job *j, const char *why)
{
	char dir[PATH_MAX], path[KK_ART_PATH_MAX + 64];
	struct kk_artifact a;
	json_t *files, *f;
	size_t i, k;
	int dfd, fd;

	if (pv_strf(dir, sizeof(dir), "%s/%s/%s", j->pv->evidence_dir, j->evid,
	    j->sub) < 0 ||
	    (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW)) < 0)
		return;
	files = json_array();
	if (files != NULL)
		kk_evidence_list(dfd, "", KD_FETCH_MAX_FILES, files);
	json_array_foreach(files, i, f) {
		const char *rel = json_string_value(json_object_get(f,
		    KW_PATH));

		if (rel == NULL || pv_strf(path, sizeof(path), "%s/%s", j->sub,
		    rel) < 0)
			continue;
		for (k = 0; k < j->arts.n; k++)
			if (strcmp(j->arts.v[k].path, path) == 0)
				break;
		if (k < j->arts.n)
			continue;
		fd = kk_evidence_open(dfd, rel, O_WRONLY | O_NONBLOCK);
		if (fd < 0)
			continue;
		memset(&a, 0, sizeof(a));
		if (pv_strf(a.path, sizeof(a.path), "%s", path) < 0) {
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
void
pv_release_space(struct job *j)
{
	char dir[PATH_MAX];
	size_t i;
	int dfd, fd;

	if (pv_strf(dir, sizeof(dir), "%s/%s", j->pv->evidence_dir,
	    j->evid) < 0 || (dfd = open(dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC | O_NOFOLLOW)) < 0)
		return;
	for (i = 0; i < j->arts.n; i++) {
		struct kk_artifact *a = &j->arts.v[i];

		if (!a->incomplete || a->size == 0)
			continue;
		/* beneath the job's directory, through no link the worker made */
		fd = kk_evidence_open(dfd, a->path, O_WRONLY | O_NONBLOCK);
		if (fd < 0)
			continue;
		if (ftruncate(fd, 0) == 0) {
			kk_artifact_incomplete(a, "partial copy of %llu bytes "
			    "removed to keep the store writable",
			    (unsigned long long)a->size);
			a->size = 0;
			kk_sha256_hex("", 0, a->sha256);
		}
		close(fd);
	}
	close(dfd);
}

/* How the worker ended, in words, when it did not say so itself. */
void
pv_worker_end_words(const struct job *j, char *out, size_t len)
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

/* Entries seal_dir looks at in one job's directory, and how deep. */
#define SEAL_ENTRIES	(KK_ART_MAX + 1024)
#define SEAL_DEPTH	4

/* One entry below a job's directory made root's; the first error kept. */
static int
seal_one(const struct kk_walk_ent *e, void *arg)
{
	int *err = arg, r;

	if (e->st == NULL) {
		r = e->err;
	} else if (S_ISDIR(e->st->st_mode)) {
		/* made root's also when it was not (all) read */
		r = e->err;
		if (e->fd >= 0 && fchown(e->fd, 0, 0) < 0 && r == 0)
			r = -errno;
	} else
		r = fchownat(e->dfd, e->name, 0, 0, AT_SYMLINK_NOFOLLOW) < 0 ?
		    -errno : 0;
	if (*err == 0)
		*err = r;
	return 0;
}

/*
 * Everything below dfd made root's: 0 or the first error.  Depth and
 * entries bounded (a worker's output is); symbolic links are not
 * followed, nothing but a directory is opened (the worker cannot make
 * links, but nothing here relies on it).
 */
static int
seal_dir(int dfd)
{
	int err = 0, r;
	struct kk_walk w = {
		.max_depth = SEAL_DEPTH,
		.entries = SEAL_ENTRIES,
		.path_max = PATH_MAX,
		.visit = seal_one,
		.arg = &err,
	};

	r = kk_evidence_walk(dfd, "", &w);
	return err < 0 ? err : r;
}

/*
 * A worker's directory, once it is through, is root's: the next worker
 * runs as kakurid's user too, reads past modes (CAP_DAC_READ_SEARCH) and
 * parses what an attacker wrote (dpkg's status, the journal, maps).
 * Compromised, it could otherwise remove or replace what an earlier one
 * recorded, of any incident.  The manifest's hashes would show a file
 * replaced, but the evidence would be gone.
 */
void
pv_seal_job_dir(struct job *j)
{
	struct kd_preserve *pv = j->pv;
	char dir[PATH_MAX];
	int dfd, err;

	if (j->sub[0] == '\0' || j->evid[0] == '\0' || !pv->d->own_known)
		return;
	pv_strf(dir, sizeof(dir), "%s/%s/%s", pv->evidence_dir, j->evid,
	    j->sub);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		err = -errno;
		if (err == -ENOENT)
			return;
	} else {
		err = seal_dir(dfd);
		if (fchown(dfd, 0, 0) < 0 && err == 0)
			err = -errno;
		close(dfd);
	}
	if (err < 0)
		kk_log(LOG_WARNING, KK_MID_ERROR, "%s: not all of it made "
		    "root's after its worker: %s", dir, strerror(-err));
}
