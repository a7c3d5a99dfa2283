/*
 * Whose uid is it (agentd/subids.c): /etc/subuid's ranges map a
 * subordinate uid to its owner, so that the per-user limits of the
 * control socket count a user with 65,536 uids as one user.  The file is
 * read as untrusted text: hostile and broken lines are skipped and
 * counted, never trusted, and overlapping ranges still answer; a range
 * whose owner NSS does not know is one user (its first uid).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "daemon.h"
#include "subids.h"
#include "tally.h"
#include "suites.h"
#include "testutil.h"

static int
parse(const char *text, size_t *skipped)
{
	return kd_subids_parse(text, strlen(text), skipped);
}

struct owned {
	uid_t uid, owner;
};

static void
expect_owners(const struct owned *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		ck_assert_msg(kd_uid_owner(t[i].uid) == t[i].owner,
		    "uid %u: owner %u, not %u", (unsigned)t[i].uid,
		    (unsigned)kd_uid_owner(t[i].uid), (unsigned)t[i].owner);
}

START_TEST(test_owner_of_a_range)
{
	size_t skipped = 9;

	/* root is uid 0 everywhere: a name NSS always knows */
	ck_assert_int_eq(parse("root:100000:65536\n1000:300000:10", &skipped),
	    2);
	static const struct owned t[] = {
		{ 100000, 0 }, { 165535, 0 }, { 165536, 165536 },
		{ 99999, 99999 },
		/* a numeric owner, and the last line without its newline */
		{ 300009, 1000 }, { 300010, 300010 }, { 1000, 1000 },
	};

	ck_assert_uint_eq(skipped, 0);
	expect_owners(t, KK_NITEMS(t));
	kd_subids_free();
	ck_assert_uint_eq(kd_uid_owner(100000), 100000);
}
END_TEST

START_TEST(test_hostile_lines)
{
	static const struct owned t[] = {
		{ 400005, 1001 }, { 200000, 200000 }, { 9000, 9000 },
		{ 4294967294U, 4294967294U },
		/* a name NSS does not know: one user still, its first uid */
		{ 5000, 5000 }, { 5004, 5000 }, { 5005, 5005 },
	};
	char longname[400];
	char *text;
	size_t skipped = 0;

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ck_assert_int_ge(asprintf(&text,
	    "# a comment\r\n"
	    "\n"
	    "1000:200000:0\n"			/* an empty range */
	    "1000:4294967290:100\n"		/* past the last uid */
	    "1000:4294967295:1\n"		/* (uid_t)-1 */
	    "no-such-user-kk:5000:5\n"		/* unknown to NSS: kept */
	    ":6000:5\n"				/* no owner */
	    "1000::5\n1000:7000:\n1000:-1:5\n1000:7000:5x\n"
	    "1000:8000\n"			/* two fields */
	    "1000:99999999999:5\n"		/* too many digits */
	    "%s:9000:5\n"			/* a name too long */
	    "1001:400000:10\r\n",		/* and one good one */
	    longname), 0);
	ck_assert_int_eq(parse(text, &skipped), 2);
	ck_assert_uint_eq(skipped, 11);
	ck_assert_uint_eq(kd_subids_unnamed(), 1);
	expect_owners(t, KK_NITEMS(t));
	free(text);
	kd_subids_free();
}
END_TEST

/* overlapping ranges: the one that starts last, even under a wide one */
START_TEST(test_overlaps)
{
	static const struct owned t[] = {
		{ 500000, 1000 }, { 500060, 1002 }, { 500105, 1001 },
		{ 500120, 1002 }, { 500500, 1000 }, { 501000, 501000 },
	};

	ck_assert_int_eq(parse("1000:500000:1000\n1001:500100:10\n"
	    "1002:500050:100\n", NULL), 3);
	expect_owners(t, KK_NITEMS(t));
	kd_subids_free();
}
END_TEST

/* bounded: ranges past KD_SUBIDS_MAX are skipped and counted */
START_TEST(test_bounded)
{
	size_t i, len = 0, skipped = 0, cap = (KD_SUBIDS_MAX + 2) * 24;
	char *text = malloc(cap);

	ck_assert_ptr_nonnull(text);
	for (i = 0; i < KD_SUBIDS_MAX + 2; i++)
		len += (size_t)snprintf(text + len, cap - len, "1000:%zu:1\n",
		    1000000 + i);
	ck_assert_int_eq(kd_subids_parse(text, len, &skipped), KD_SUBIDS_MAX);
	ck_assert_uint_eq(skipped, 2);
	ck_assert_uint_eq(kd_uid_owner(1000000 + KD_SUBIDS_MAX - 1), 1000);
	ck_assert_uint_eq(kd_uid_owner(1000000 + KD_SUBIDS_MAX),
	    1000000 + KD_SUBIDS_MAX);
	free(text);
	kd_subids_free();
}
END_TEST

/*
 * A file changed while kakurid runs is read again at a peer's connection
 * without NSS (a directory out of reach must not hold up the loop): a
 * line that stood before keeps the owner NSS gave it, a new named one is
 * its own user, a new numeric one its owner's.
 */
START_TEST(test_refresh_without_nss)
{
	char dir[PATH_MAX], path[PATH_MAX];
	size_t skipped = 9;
	FILE *f;

	kk_test_workdir(dir);
	kk_test_join(path, dir, "subuid");
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("root:100000:65536\n", f);
	fclose(f);
	ck_assert_int_eq(kd_subids_load(path, &skipped), 0);
	ck_assert_uint_eq(kd_uid_owner(100005), 0);
	/* unchanged: not read again */
	ck_assert(!kd_subids_refresh(path));
	ck_assert_ptr_nonnull(f = fopen(path, "a"));
	fputs("root:300000:10\n1000:400000:10\n", f);
	fclose(f);
	/* the look of a second ago: a fresh process looks at once */
	ck_assert(kd_subids_refresh(path) ||
	    (sleep(KD_SUBIDS_LOOK_MS / 1000 + 1), kd_subids_refresh(path)));
	ck_assert_uint_eq(kd_uid_owner(100005), 0);
	ck_assert_uint_eq(kd_uid_owner(300005), 300000);
	ck_assert_uint_eq(kd_uid_owner(400005), 1000);
	ck_assert_uint_eq(kd_subids_unnamed(), 1);
	/* a reload asks NSS again */
	ck_assert_int_eq(kd_subids_reload(path, true), 0);
	ck_assert_uint_eq(kd_uid_owner(300005), 0);
	/* a range given to another user (userdel, useradd) is not his */
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("daemon:100000:65536\n", f);
	fclose(f);
	sleep(KD_SUBIDS_LOOK_MS / 1000 + 1);
	ck_assert(kd_subids_refresh(path));
	ck_assert_uint_eq(kd_uid_owner(100005), 100000);
	kd_subids_free();
}
END_TEST

/* no file: no ranges, and a file kept from before is replaced by none */
START_TEST(test_missing_file)
{
	size_t skipped = 7;

	ck_assert_int_eq(parse("1000:600000:10\n", NULL), 1);
	ck_assert_int_eq(kd_subids_load("/nonexistent/kakuri/subuid",
	    &skipped), 0);
	ck_assert_uint_eq(skipped, 0);
	ck_assert_uint_eq(kd_uid_owner(600001), 600001);
}
END_TEST

/*
 * The report rate's table held 32 owners; the owners past it shared
 * one count of 10, so that a 33rd user (malware during a phishing wave
 * on a terminal server) spent it and every later reporter was refused,
 * "too many reports from this user".  Now a new owner takes the place
 * of the one whose window began first: each refusal is one's own count.
 */
START_TEST(test_report_rate_past_full_table)
{
	struct kd d;
	uid_t u;
	int i;

	memset(&d, 0, sizeof(d));
	ck_assert_int_ge(sd_event_new(&d.ev), 0);
	ck_assert_int_eq(kd_tally_open(&d), 0);
	for (u = 2000; u < 2032; u++)
		ck_assert(kd_tally_report_ok(&d, u, false));
	/* owner 33 spends his ten, and is refused the eleventh */
	for (i = 0; i < KD_REPORTS_PER_INTERVAL; i++)
		ck_assert(kd_tally_report_ok(&d, 3033, false));
	ck_assert(!kd_tally_report_ok(&d, 3033, false));
	/* owner 34 was refused for 33's count */
	ck_assert_msg(kd_tally_report_ok(&d, 3034, false),
	    "owner 34 refused for another's count");
	/* a subordinate uid is its owner: his count, not a new one */
	ck_assert_int_eq(parse("3035:400000:100\n", NULL), 1);
	for (i = 0; i < KD_REPORTS_PER_INTERVAL; i++)
		ck_assert(kd_tally_report_ok(&d, 400000 + (uid_t)i, false));
	ck_assert(!kd_tally_report_ok(&d, 3035, false));
	/*
	 * 40 more owners, one request each, did not push 33's spent count
	 * out of the table (a table of 32 did: a new count of ten for him)
	 */
	for (u = 5000; u < 5040; u++)
		ck_assert(kd_tally_report_ok(&d, u, false));
	ck_assert_msg(!kd_tally_report_ok(&d, 3033, false),
	    "owner 33's spent count was forgotten");
	kd_subids_free();
	free(d.tally);	/* kd_tally_close writes the summary to d's audit */
	sd_event_unref(d.ev);
}
END_TEST

KK_SUITE(subids_suite, "subids",
	KK_CASE("subids", KK_TMPDIR, 0),
	    KK_TEST(test_owner_of_a_range), KK_TEST(test_hostile_lines),
	    KK_TEST(test_overlaps), KK_TEST(test_bounded),
	    KK_TEST(test_missing_file),
	    KK_TEST(test_refresh_without_nss),
	KK_CASE("per owner", 0, 0),
	    KK_TEST(test_report_rate_past_full_table))
