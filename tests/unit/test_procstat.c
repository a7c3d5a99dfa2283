/*
 * /proc/PID/stat parsed once (common/procstat.c): the command name may
 * hold what a field holds, fields must be numbers, and a short or cut
 * line is refused rather than read as zeros.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "procstat.h"
#include "suites.h"
#include "testutil.h"

/*
 * The line of a sleeping process named comm, with fields up to n (field k
 * is 10 k; tpgid -1, nice -5), parsed into st.
 */
static int
parsed(const char *comm, int n, struct kk_pstat *st)
{
	char line[1024];
	int k, at;

	at = snprintf(line, sizeof(line), "4242 (%s) S", comm);
	for (k = 4; k <= n && at < (int)sizeof(line); k++)
		at += snprintf(line + at, sizeof(line) - (size_t)at, " %d",
		    k == KK_PSTAT_NICE ? -5 : k == 8 ? -1 : k * 10);
	snprintf(line + at, sizeof(line) - (size_t)at, "\n");
	return kk_pstat_parse(line, st);
}

START_TEST(test_pstat_fields)
{
	struct kk_pstat st;

	ck_assert_int_eq(parsed("bash", KK_PSTAT_LAST, &st), 0);
	ck_assert_str_eq(st.comm, "bash");
	ck_assert_int_eq(st.state, 'S');
	ck_assert_int_eq(st.last, KK_PSTAT_LAST);
	ck_assert_uint_eq(st.f[KK_PSTAT_PPID], 40);
	ck_assert_uint_eq(st.f[KK_PSTAT_FLAGS], 90);
	ck_assert_uint_eq(st.f[KK_PSTAT_START], 220);
	ck_assert_uint_eq(st.f[KK_PSTAT_ARG_END], 490);
	ck_assert_uint_eq(st.f[KK_PSTAT_ENV_END], 510);
	ck_assert_int_eq((long long)st.f[KK_PSTAT_NICE], -5);
	ck_assert_int_eq((long long)st.f[8], -1);
	/* a kernel before 3.5: 44 fields, no argument area */
	ck_assert_int_eq(parsed("old", 44, &st), 0);
	ck_assert_int_eq(st.last, 44);
	ck_assert_uint_eq(st.f[KK_PSTAT_ARG_START], 0);
	/* fields a later kernel adds are passed over */
	ck_assert_int_eq(parsed("new", KK_PSTAT_LAST + 3, &st), 0);
	ck_assert_int_eq(st.last, KK_PSTAT_LAST);
}
END_TEST

/* A process names itself to look like other fields (a zombie of init's). */
#define POSING	"x) Z 1 1 1 0 -1 4194560 9 9"

START_TEST(test_pstat_hostile_comm)
{
	struct kk_pstat st;

	ck_assert_int_eq(parsed(POSING, KK_PSTAT_LAST, &st), 0);
	ck_assert_int_eq(st.state, 'S');
	ck_assert_uint_eq(st.f[KK_PSTAT_PPID], 40);
	ck_assert_str_eq(st.comm, POSING);
	ck_assert_int_eq(parsed("a\nb (c)", KK_PSTAT_LAST, &st), 0);
	ck_assert_str_eq(st.comm, "a\nb (c)");
	ck_assert_uint_eq(st.f[KK_PSTAT_START], 220);
	/* a name longer than the kernel's is cut, not overflowed */
	ck_assert_int_eq(parsed("0123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789", KK_PSTAT_LAST, &st), 0);
	ck_assert_uint_eq(strlen(st.comm), sizeof(st.comm) - 1);
	ck_assert_uint_eq(st.f[KK_PSTAT_PPID], 40);
}
END_TEST

START_TEST(test_pstat_refused)
{
	static const char *const bad[] = {
		"",
		"4242 bash S 1 2 3\n",			/* no parentheses */
		"4242 (bash)S 1\n",			/* nothing between */
		"4242 (bash) \n",			/* no state */
		"4242 (bash) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18\n",
		"4242 (bash) S 1 2 3 x 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19\n",
		"4242 (bash) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 9x\n",
		"4242 (bash) S 1  2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19\n",
		"4242 (bash) S +1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19\n",
		"4242 (bash) S 99999999999999999999999 2 3 4 5 6 7 8 9 10 11 12 "
		    "13 14 15 16 17 18 19\n",
	};
	struct kk_pstat st;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(kk_pstat_parse(bad[i], &st) == -EBADMSG,
		    "line %zu taken", i);
		ck_assert_uint_eq(st.f[KK_PSTAT_PPID], 0);
	}
	/* the shortest line taken: through field 22 */
	ck_assert_int_eq(kk_pstat_parse("1 (a) S 1 2 3 4 5 6 7 8 9 10 11 12 13 "
	    "14 15 16 17 18 19", &st), 0);
	ck_assert_uint_eq(st.f[KK_PSTAT_START], 19);
}
END_TEST

START_TEST(test_pstat_read_self)
{
	struct kk_pstat st;

	ck_assert_int_eq(kk_pstat_read(getpid(), 0, &st), 0);
	ck_assert_int_eq((pid_t)st.f[KK_PSTAT_PPID], getppid());
	ck_assert_int_eq(st.state, 'R');
	ck_assert_uint_gt(st.f[KK_PSTAT_START], 0);
	ck_assert_int_ge(st.last, KK_PSTAT_ENV_END);
	ck_assert_int_eq(kk_pstat_read(getpid(), getpid(), &st), 0);
	ck_assert_int_eq((pid_t)st.f[KK_PSTAT_PPID], getppid());
	/* a pid above pid_max is never there */
	ck_assert_int_eq(kk_pstat_read(1 << 23, 0, &st), -ESRCH);
	ck_assert_int_eq(kk_pstat_read(getpid(), 1 << 23, &st), -ESRCH);
}
END_TEST

KK_SUITE(procstat_suite, "procstat",
	KK_CASE("parse", 0, 0),
	    KK_TEST(test_pstat_fields),
	    KK_TEST(test_pstat_hostile_comm),
	    KK_TEST(test_pstat_refused),
	KK_CASE("read", 0, 0),
	    KK_TEST(test_pstat_read_self))
