/*
 * /proc/PID/stat and status parsed once (common/procstat.c): the command
 * name may hold what a field holds, fields must be numbers, and a short
 * or cut line is refused rather than read as zeros.
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
	ck_assert_int_eq(kk_pstat_read(KK_PROC_SELF, 0, &st), 0);
	ck_assert_int_eq((pid_t)st.f[KK_PSTAT_PPID], getppid());
	/* a pid above pid_max is never there; 0 or -1 is not this process */
	ck_assert_int_eq(kk_pstat_read(1 << 23, 0, &st), -ESRCH);
	ck_assert_int_eq(kk_pstat_read(0, 0, &st), -ESRCH);
	ck_assert_int_eq(kk_pstat_read(-1, 0, &st), -ESRCH);
	ck_assert_int_eq(kk_pstat_read(getpid(), 1 << 23, &st), -ESRCH);
}
END_TEST

/*
 * A status value starts past the blanks after its key: the state letter
 * of a thread on its way out ('X', 'Z') is what tells it gone from a
 * ptrace refusal.  A key counts only at the start of a line.
 */
START_TEST(test_status_field)
{
	const char *text = "Name:\tTracerPid:\t7\nState:\tX (dead)\n"
	    "Threads:  \t7\nTracerPidx:\t1\nTracerPid:\t0\nEmpty:\n";

	ck_assert_str_eq(kk_status_field(text, "State"), "X (dead)\n"
	    "Threads:  \t7\nTracerPidx:\t1\nTracerPid:\t0\nEmpty:\n");
	ck_assert_int_eq(*kk_status_field(text, "Threads"), '7');
	/* not the one a command name holds, nor the longer key */
	ck_assert_int_eq(*kk_status_field(text, "TracerPid"), '0');
	ck_assert_int_eq(*kk_status_field(text, "Empty"), '\n');
	ck_assert_ptr_null(kk_status_field(text, "Tracer"));
	ck_assert_ptr_null(kk_status_field(text, "Name:"));
	ck_assert_ptr_null(kk_status_field("", "State"));
}
END_TEST

START_TEST(test_status_num)
{
	const char *text = "Name:\tUid:\t5 5\nUid:\t1000\t1001\t1002\t1003\n"
	    "Gid: 7 8\nTgid:\t-1\nPPid:\t 12x\nNStgid:\t99999999999999999999\n"
	    "Seccomp:\t2\nEmpty:\t\nLast:\t42";
	static const struct {
		const char *key;
		unsigned int idx;
		int rc;
		unsigned long long v;	/* 0 for a refusal */
	} reads[] = {
		{ "Uid", 0, 0, 1000 }, { "Uid", 1, 0, 1001 },
		{ "Uid", 3, 0, 1003 }, { "Gid", 1, 0, 8 },
		{ "Seccomp", 0, 0, 2 }, { "Last", 0, 0, 42 },
		{ "Uid", 4, -EBADMSG, 0 },	/* there are four */
		{ "Tgid", 0, -EBADMSG, 0 },	/* a sign */
		{ "PPid", 0, -EBADMSG, 0 },	/* "12x" */
		{ "NStgid", 0, -EBADMSG, 0 },	/* overflow */
		{ "Empty", 0, -EBADMSG, 0 },
		{ "Threads", 0, -ENOENT, 0 },
	};
	unsigned long long v;
	size_t i;

	for (i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
		v = 9;
		ck_assert_msg(kk_status_num(text, reads[i].key, reads[i].idx,
		    &v) == reads[i].rc && v == reads[i].v, "%s[%u]: %llu",
		    reads[i].key, reads[i].idx, v);
	}
}
END_TEST

START_TEST(test_status_read_self)
{
	unsigned long long v;
	char buf[4096];

	ck_assert_int_gt(kk_status_read(getpid(), 0, buf, sizeof(buf)), 0);
	ck_assert_int_eq(kk_status_num(buf, "Tgid", 0, &v), 0);
	ck_assert_uint_eq(v, (unsigned long long)getpid());
	ck_assert_int_eq(kk_status_num(buf, "Uid", 1, &v), 0);
	ck_assert_uint_eq(v, (unsigned long long)geteuid());
	/* this process, through /proc/self */
	ck_assert_int_gt(kk_status_read(KK_PROC_SELF, 0, buf, sizeof(buf)), 0);
	ck_assert_int_eq(kk_status_num(buf, "Tgid", 0, &v), 0);
	ck_assert_uint_eq(v, (unsigned long long)getpid());
	ck_assert_int_gt(kk_status_read(getpid(), getpid(), buf, sizeof(buf)), 0);
	ck_assert_int_eq(kk_status_num(buf, "Pid", 0, &v), 0);
	ck_assert_uint_eq(v, (unsigned long long)getpid());
	/* cut to what fits, still a string */
	ck_assert_int_eq(kk_status_read(getpid(), 0, buf, 8), 7);
	ck_assert_str_eq(buf, "Name:\tu");
	ck_assert_int_eq(kk_status_read(1 << 23, 0, buf, sizeof(buf)), -ESRCH);
	/* 0 and negative numbers name no process, not this one */
	ck_assert_int_eq(kk_status_read(0, 0, buf, sizeof(buf)), -ESRCH);
	ck_assert_int_eq(kk_status_read(-1, 0, buf, sizeof(buf)), -ESRCH);
	ck_assert_int_eq(kk_status_read(getpid(), -1, buf, sizeof(buf)), -ESRCH);
	ck_assert_int_eq(kk_status_read(getpid(), 0, buf, 1), -EINVAL);
}
END_TEST

KK_SUITE(procstat_suite, "procstat",
	KK_CASE("parse", 0, 0),
	    KK_TEST(test_pstat_fields),
	    KK_TEST(test_pstat_hostile_comm),
	    KK_TEST(test_pstat_refused),
	KK_CASE("status", 0, 0),
	    KK_TEST(test_status_field),
	    KK_TEST(test_status_num),
	KK_CASE("read", 0, 0),
	    KK_TEST(test_pstat_read_self),
	    KK_TEST(test_status_read_self))
