/*
 * What an evidence worker says is checked before root acts on it
 * (agentd/preserve_jobs.c): a worker runs on hostile input (the memory
 * and /proc of the processes it copies), so a compromised one must not
 * get the root parent to truncate or create a file outside the job's
 * directory, by a ".." in a path or by a symbolic link it made there.
 * Each test fails on the code before: root truncated ../../victim to
 * nothing, and created a file through the worker's link.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "preserve.h"
#include "suites.h"
#include "testutil.h"

#define PRECIOUS	"precious evidence"

struct fixture {
	char base[PATH_MAX];		/* holds the store and the victims */
	struct kd_preserve pv;
	struct job j;
};

static void
write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static off_t
size_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* base/evidence/EV/sub/ for a snapshot job, and base/outside/ beside it */
static void
fixture(struct fixture *f)
{
	char path[PATH_MAX + 64];

	memset(f, 0, sizeof(*f));
	kk_test_workdir(f->base);
	ck_assert_int_lt(snprintf(f->pv.evidence_dir,
	    sizeof(f->pv.evidence_dir), "%s/evidence", f->base),
	    (int)sizeof(f->pv.evidence_dir));
	ck_assert_int_eq(mkdir(f->pv.evidence_dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/EV", f->pv.evidence_dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/EV/snap-1", f->pv.evidence_dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/outside", f->base);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/victim", f->base);
	write_text(path, PRECIOUS);
	f->j.pv = &f->pv;
	f->j.kind = JOB_SNAPSHOT;
	f->j.fd = -1;
	snprintf(f->j.evid, sizeof(f->j.evid), "EV");
	snprintf(f->j.sub, sizeof(f->j.sub), "snap-1");
	ck_assert_str_eq(job_names[f->j.kind], "snapshot");
}

static void
line(struct job *j, const char *text)
{
	pv_job_line(j, text, strlen(text));
}

#define SHA0 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

START_TEST(test_artifact_path_escaping_is_refused)
{
	static const char *const bad[] = { "../../victim", "../../../victim",
		"/etc/shadow", "pid-1/../../../victim", "..", "a/..",
		"a\\\\..\\\\b", "" };
	char text[512], victim[PATH_MAX + 16];
	struct fixture f;
	size_t i;

	fixture(&f);
	snprintf(victim, sizeof(victim), "%s/victim", f.base);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f.j.bad = false;
		snprintf(text, sizeof(text), "{\"artifact\":{\"path\":\"%s\","
		    "\"sha256\":\"" SHA0 "\",\"size\":17,\"incomplete\":true}}",
		    bad[i]);
		line(&f.j, text);
		ck_assert_msg(f.j.bad, "artifact path \"%s\" taken", bad[i]);
		ck_assert_uint_eq(f.j.arts.n, 0);
	}
	/* what a full disk does with the incomplete ones: nothing to take */
	pv_release_space(&f.j);
	ck_assert_int_eq(size_of(victim), (off_t)strlen(PRECIOUS));
	/* a good one is taken */
	f.j.bad = false;
	line(&f.j, "{\"artifact\":{\"path\":\"pid-1/core\",\"sha256\":\""
	    SHA0 "\",\"size\":0}}");
	ck_assert(!f.j.bad);
	ck_assert_uint_eq(f.j.arts.n, 1);
	ck_assert_str_eq(f.j.arts.v[0].path, "snap-1/pid-1/core");
	kk_artifacts_free(&f.j.arts);
}
END_TEST

START_TEST(test_begun_path_escaping_is_refused)
{
	char victim[PATH_MAX + 16];
	struct fixture f;

	fixture(&f);
	snprintf(victim, sizeof(victim), "%s/nologin", f.base);
	line(&f.j, "{\"begin\":\"../../nologin\"}");
	ck_assert(f.j.bad);
	ck_assert_str_eq(f.j.current, "");
	/* the worker dies without an end: what it began is noted */
	pv_cut_unreported(&f.j, "killed");
	ck_assert_int_eq(size_of(victim), -1);
	kk_artifacts_free(&f.j.arts);
}
END_TEST

/*
 * Through a link the worker made in its directory: pid-1 -> outside.
 * Neither the full disk's truncation nor the unfinished artifact's empty
 * file reaches outside.
 */
START_TEST(test_worker_links_are_not_followed)
{
	char link[PATH_MAX + 64], target[PATH_MAX + 16], core[PATH_MAX + 32];
	char made[PATH_MAX + 32];
	struct fixture f;

	fixture(&f);
	snprintf(target, sizeof(target), "%s/outside", f.base);
	snprintf(link, sizeof(link), "%s/EV/snap-1/pid-1",
	    f.pv.evidence_dir);
	ck_assert_int_eq(symlink(target, link), 0);
	snprintf(core, sizeof(core), "%s/core", target);
	write_text(core, PRECIOUS);
	snprintf(made, sizeof(made), "%s/maps", target);

	line(&f.j, "{\"artifact\":{\"path\":\"pid-1/core\",\"sha256\":\""
	    SHA0 "\",\"size\":17,\"incomplete\":true}}");
	ck_assert(!f.j.bad);
	pv_release_space(&f.j);
	ck_assert_int_eq(size_of(core), (off_t)strlen(PRECIOUS));

	line(&f.j, "{\"begin\":\"pid-1/maps\"}");
	ck_assert(!f.j.bad);
	pv_cut_unreported(&f.j, "killed");
	ck_assert_int_eq(size_of(made), -1);
	ck_assert_int_eq(size_of(core), (off_t)strlen(PRECIOUS));
	kk_artifacts_free(&f.j.arts);
	json_decref(f.j.errors);
}
END_TEST

/* and without a link, an unfinished artifact gets its empty file */
START_TEST(test_unstarted_artifact_is_noted)
{
	char made[PATH_MAX + 64];
	struct fixture f;

	fixture(&f);
	line(&f.j, "{\"begin\":\"pid-7/maps\"}");
	ck_assert(!f.j.bad);
	pv_cut_unreported(&f.j, "killed");
	snprintf(made, sizeof(made), "%s/EV/snap-1/pid-7/maps",
	    f.pv.evidence_dir);
	ck_assert_int_eq(size_of(made), 0);
	ck_assert_uint_eq(f.j.arts.n, 1);
	ck_assert(f.j.arts.v[0].incomplete);
	kk_artifacts_free(&f.j.arts);
}
END_TEST

KK_SUITE(preserve_suite, "preserve",
	KK_CASE("worker", KK_TMPDIR, 10),
	    KK_TEST(test_artifact_path_escaping_is_refused),
	    KK_TEST(test_begun_path_escaping_is_refused),
	    KK_TEST(test_worker_links_are_not_followed),
	    KK_TEST(test_unstarted_artifact_is_noted))
