/*
 * Names of uids without NSS in the root parent (agentd/names.c): the
 * local password file read directly and as untrusted text, re-read only
 * when it changed, bounded; a cache of the resolver child's answers that
 * is bounded in all and per owner, forgets with a TTL and keeps negative
 * answers; a queue of lookups bounded in all and per owner; answers
 * checked for length and sense before anything of them is kept.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "names.h"
#include "suites.h"
#include "testutil.h"

#define SEC	1000000ULL

static struct kd_names n;
static char path[PATH_MAX];

/* names of a password file with text in it, read at time 0 */
static void
file_with(const char *text)
{
	char dir[PATH_MAX];

	kk_test_workdir(dir);
	kk_test_join(path, dir, "passwd");
	kk_test_write(path, text, strlen(text), 0644);
	kd_names_init(&n, path);
	ck_assert_int_eq(kd_names_refresh(&n, 0, true), 0);
}

static enum kd_name_state
get(uid_t uid, uint64_t now, char *name)
{
	return kd_names_get(&n, uid, now, name, KK_NAME_MAX);
}

/* what the resolver would answer, through the real encoding */
static int
answer(uid_t uid, enum kd_name_state st, const char *name, uint64_t now)
{
	uint8_t buf[KD_NAME_ANSWER_MAX];
	size_t len = kd_names_answer_encode(buf, uid, st, name);
	uid_t got = (uid_t)-1;
	int r;

	r = kd_names_answer(&n, buf, len, now, &got);
	if (r >= 0)
		ck_assert_uint_eq(got, uid);
	return r;
}

/* asked and answered with a name of its own, at now */
static void
known(uid_t uid, uid_t owner, uint64_t now)
{
	char name[32];

	ck_assert_int_eq(kd_names_ask(&n, uid, owner, now), 0);
	snprintf(name, sizeof(name), "u%u", (unsigned)uid);
	ck_assert_int_eq(answer(uid, KD_NAME_FOUND, name, now), KD_NAME_FOUND);
}

START_TEST(test_file_hostile_lines)
{
	char name[KK_NAME_MAX], line[400], text[2048];
	size_t off = 0;

	memset(line, 'a', 300);
	line[300] = '\0';
	off += (size_t)snprintf(text + off, sizeof(text) - off,
	    "root:x:0:0:root:/root:/bin/sh\n"
	    "alice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
	    "alice2:x:1000:1000:the same uid again:/:/bin/sh\n"
	    "bad:x:notanumber:1::/:/bin/sh\n"
	    "short:x\n"
	    "\n"
	    "+nisuser::::::\n"
	    "+\n"
	    "-blocked::::::\n"
	    "nobodyneg:x:4294967295:1::/:/bin/sh\n"
	    "ev\x1b[31mil:x:1001:1::/:/bin/sh\n"
	    "%s:x:1002:1::/:/bin/sh\n"
	    "last:x:1003:1::/:/bin/sh", line);
	file_with(text);
	ck_assert_int_eq(get(0, 0, name), KD_NAME_FOUND);
	ck_assert_str_eq(name, "root");
	/* the first line of a uid counts, as NSS files does */
	ck_assert_int_eq(get(1000, 0, name), KD_NAME_FOUND);
	ck_assert_str_eq(name, "alice");
	/* control characters are not written into the audit log */
	ck_assert_int_eq(get(1001, 0, name), KD_NAME_FOUND);
	ck_assert_ptr_null(strchr(name, '\x1b'));
	ck_assert_str_eq(name, "ev\xef\xbf\xbd[31mil");
	/* a name too long is cut, on a character boundary */
	ck_assert_int_eq(get(1002, 0, name), KD_NAME_FOUND);
	ck_assert_uint_eq(strlen(name), KK_NAME_MAX - 1);
	/* the last line, without its newline */
	ck_assert_int_eq(get(1003, 0, name), KD_NAME_FOUND);
	ck_assert_str_eq(name, "last");
	/* nothing of the broken or NIS lines */
	ck_assert_int_eq(get(4294967295U, 0, name), KD_NAME_UNKNOWN);
	ck_assert_str_eq(name, "?");
	ck_assert_uint_eq(n.nfile, 5);
	/* a uid of the file is never asked of the resolver */
	ck_assert_int_eq(kd_names_ask(&n, 1000, 1000, 0), -EALREADY);
	kd_names_free(&n);
}
END_TEST

/* read again when it changed, and only then; looked at once a second */
START_TEST(test_file_reread)
{
	static const char two[] = "root:x:0:0::/:/bin/sh\nbob:x:1500:1::/:/bin/sh\n";
	char name[KK_NAME_MAX], tmp[PATH_MAX + 8];

	file_with("root:x:0:0::/:/bin/sh\n");
	ck_assert_int_eq(get(1500, 0, name), KD_NAME_UNKNOWN);
	/* replaced as useradd does: a new file renamed over it */
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	kk_test_write(tmp, two, strlen(two), 0644);
	ck_assert_int_eq(rename(tmp, path), 0);
	/* not looked at again within the second */
	ck_assert_int_eq(get(1500, SEC / 2, name), KD_NAME_UNKNOWN);
	ck_assert_int_eq(get(1500, 2 * SEC, name), KD_NAME_FOUND);
	ck_assert_str_eq(name, "bob");
	/* unchanged: what was read stays (the stamp is the same) */
	ck_assert_int_eq(kd_names_refresh(&n, 4 * SEC, true), 0);
	ck_assert_uint_eq(n.nfile, 2);
	/* gone: no local names any more, nothing stale */
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(kd_names_refresh(&n, 6 * SEC, true), -ENOENT);
	ck_assert_int_eq(get(1500, 6 * SEC, name), KD_NAME_UNKNOWN);
	kd_names_free(&n);
}
END_TEST

/* a file of more entries than KD_NAMES_FILE_MAX: the rest is skipped */
START_TEST(test_file_bounded)
{
	size_t i, len = 0, cap = (KD_NAMES_FILE_MAX + 10) * 32;
	char *text = malloc(cap), name[KK_NAME_MAX];

	ck_assert_ptr_nonnull(text);
	for (i = 0; i < KD_NAMES_FILE_MAX + 10; i++)
		len += (size_t)snprintf(text + len, cap - len,
		    "u%zu:x:%zu:1::/:/bin/sh\n", i, 100000 + i);
	file_with(text);
	free(text);
	ck_assert_uint_eq(n.nfile, KD_NAMES_FILE_MAX);
	ck_assert_uint_eq(n.file_skipped, 10);
	ck_assert_int_eq(get(100000 + KD_NAMES_FILE_MAX - 1, 0, name),
	    KD_NAME_FOUND);
	ck_assert_int_eq(get(100000 + KD_NAMES_FILE_MAX, 0, name),
	    KD_NAME_UNKNOWN);
	kd_names_free(&n);
}
END_TEST

/* a name, a "none" and an "unknown": each forgotten after its TTL */
START_TEST(test_cache_ttl)
{
	char name[KK_NAME_MAX];

	file_with("root:x:0:0::/:/bin/sh\n");
	ck_assert_int_eq(get(5000, 0, name), KD_NAME_UNKNOWN);
	ck_assert_int_eq(kd_names_ask(&n, 5000, 5000, 0), 0);
	ck_assert_int_eq(get(5000, 0, name), KD_NAME_PENDING);
	ck_assert_str_eq(name, "?");
	/* asked once: the same uid again is not asked again */
	ck_assert_int_eq(kd_names_ask(&n, 5000, 5000, 0), -EALREADY);
	ck_assert_int_eq(answer(5000, KD_NAME_FOUND, "carol", SEC),
	    KD_NAME_FOUND);
	ck_assert_int_eq(get(5000, 2 * SEC, name), KD_NAME_FOUND);
	ck_assert_str_eq(name, "carol");
	ck_assert_int_eq(kd_names_ask(&n, 5000, 5000, 2 * SEC), -EALREADY);
	ck_assert_int_eq(get(5000, SEC + KD_NAMES_FOUND_TTL_USEC, name),
	    KD_NAME_UNKNOWN);
	ck_assert_int_eq(kd_names_ask(&n, 5000, 5000,
	    SEC + KD_NAMES_FOUND_TTL_USEC), 0);

	/* negative: no such user, remembered for its shorter TTL */
	ck_assert_int_eq(kd_names_ask(&n, 5001, 5001, 0), 0);
	ck_assert_int_eq(answer(5001, KD_NAME_NONE, NULL, 0), KD_NAME_NONE);
	ck_assert_int_eq(get(5001, KD_NAMES_NONE_TTL_USEC - 1, name),
	    KD_NAME_NONE);
	ck_assert_str_eq(name, "?");
	ck_assert_int_eq(kd_names_ask(&n, 5001, 5001, SEC), -EALREADY);
	ck_assert_int_eq(get(5001, KD_NAMES_NONE_TTL_USEC, name),
	    KD_NAME_UNKNOWN);

	/* the resolver died: pending is unknown, asked again only later */
	ck_assert_int_eq(kd_names_ask(&n, 5002, 5002, 0), 0);
	kd_names_fail_pending(&n, 0);
	ck_assert_uint_eq(kd_names_pending(&n), 0);	/* 5000's too */
	ck_assert_int_eq(get(5002, 0, name), KD_NAME_UNKNOWN);
	ck_assert_int_eq(kd_names_ask(&n, 5002, 5002, SEC), -EALREADY);
	ck_assert_int_eq(kd_names_ask(&n, 5002, 5002,
	    KD_NAMES_UNKNOWN_TTL_USEC), 0);
	/* and its late answer, if any, is not taken for the new one's */
	kd_names_fail_pending(&n, 0);
	ck_assert_int_eq(answer(5002, KD_NAME_FOUND, "late", 0), -ESRCH);
	kd_names_free(&n);
}
END_TEST

/* a thousand uids of a thousand owners: the cache stays at its size */
START_TEST(test_cache_bounded_lru)
{
	char name[KK_NAME_MAX];
	uid_t u;

	file_with("root:x:0:0::/:/bin/sh\n");
	known(7000, 7000, 0);
	for (u = 0; u < 1000; u++) {
		known(10000 + u, 10000 + u, SEC + u);
		/* one user keeps coming back: recently used, kept */
		ck_assert_int_eq(get(7000, SEC + u, name), KD_NAME_FOUND);
		ck_assert_uint_le(n.ncache, KD_NAMES_CACHE);
	}
	ck_assert_uint_eq(n.ncache, KD_NAMES_CACHE);
	ck_assert_str_eq(name, "u7000");
	/* the least recently used went first; the last ones are there */
	ck_assert_int_eq(get(10000, 2000 * SEC, name), KD_NAME_UNKNOWN);
	ck_assert_int_eq(get(10999, SEC + 999, name), KD_NAME_FOUND);
	ck_assert_int_eq(get(10999 - KD_NAMES_CACHE + 2, SEC + 999, name),
	    KD_NAME_FOUND);
	ck_assert_int_eq(get(10999 - KD_NAMES_CACHE + 1, SEC + 999, name),
	    KD_NAME_UNKNOWN);
	kd_names_free(&n);
}
END_TEST

/* one owner's many uids (subids.h) evict only his own */
START_TEST(test_cache_per_owner)
{
	char name[KK_NAME_MAX];
	size_t i, his = 0;
	uid_t u;

	file_with("root:x:0:0::/:/bin/sh\n");
	known(4242, 4242, 0);
	known(4343, 4343, 0);
	for (u = 0; u < 5000; u++)
		known(200000 + u, 1000, SEC + u);
	for (i = 0; i < n.ncache; i++)
		his += n.cache[i].owner == 1000;
	ck_assert_uint_eq(his, KD_NAMES_CACHE_OWNER);
	/* the others' names were never used since, and are still there */
	ck_assert_int_eq(get(4242, 6000 * SEC / 1000, name), KD_NAME_FOUND);
	ck_assert_int_eq(get(4343, 6000 * SEC / 1000, name), KD_NAME_FOUND);
	kd_names_free(&n);
}
END_TEST

/* the lookups waiting: bounded in all and per owner; pending never evicted */
START_TEST(test_queue_bounded)
{
	char name[KK_NAME_MAX];
	uid_t u;

	file_with("root:x:0:0::/:/bin/sh\n");
	for (u = 0; u < KD_NAMES_QUEUE_OWNER; u++)
		ck_assert_int_eq(kd_names_ask(&n, 300000 + u, 1000, 0), 0);
	ck_assert_int_eq(kd_names_ask(&n, 300000 + u, 1000, 0), -EBUSY);
	/* another owner still gets his lookup */
	ck_assert_int_eq(kd_names_ask(&n, 4242, 4242, 0), 0);
	for (u = 0; kd_names_pending(&n) < KD_NAMES_QUEUE; u++)
		ck_assert_int_eq(kd_names_ask(&n, 50000 + u, 50000 + u, 0), 0);
	ck_assert_int_eq(kd_names_ask(&n, 60000, 60000, 0), -EBUSY);
	ck_assert_uint_eq(kd_names_pending(&n), KD_NAMES_QUEUE);
	/* an answer makes room */
	ck_assert_int_eq(answer(4242, KD_NAME_FOUND, "dave", 0), KD_NAME_FOUND);
	ck_assert_int_eq(kd_names_ask(&n, 60000, 60000, 0), 0);
	/* a full cache of answered names never pushes out what is pending */
	for (u = 0; u < 2 * KD_NAMES_CACHE; u++) {
		if (kd_names_ask(&n, 70000 + u, 70000 + u, SEC) == 0)
			ck_assert_int_eq(answer(70000 + u, KD_NAME_NONE, NULL,
			    SEC), KD_NAME_NONE);
	}
	ck_assert_uint_eq(kd_names_pending(&n), KD_NAMES_QUEUE);
	ck_assert_int_eq(get(300000, SEC, name), KD_NAME_PENDING);
	ck_assert_uint_le(n.ncache, KD_NAMES_CACHE);
	kd_names_free(&n);
}
END_TEST

/* answers are untrusted: length, state, name and uid checked */
START_TEST(test_answer_checked)
{
	uint8_t buf[KD_NAME_ANSWER_MAX + 8];
	struct kd_name_answer a = { 8000, KD_NAME_FOUND };
	char name[KK_NAME_MAX], longname[KD_NAME_ANSWER_NAME_MAX + 1];
	uid_t got;

	file_with("root:x:0:0::/:/bin/sh\n");
	ck_assert_int_eq(kd_names_ask(&n, 8000, 8000, 0), 0);
	memcpy(buf, &a, sizeof(a));
	/* short of a header, found without a name, past the longest */
	ck_assert_int_eq(kd_names_answer(&n, buf, sizeof(a) - 1, 0, &got),
	    -EBADMSG);
	ck_assert_int_eq(kd_names_answer(&n, buf, sizeof(a), 0, &got),
	    -EBADMSG);
	memset(buf + sizeof(a), 'x', KD_NAME_ANSWER_NAME_MAX + 1);
	ck_assert_int_eq(kd_names_answer(&n, buf, KD_NAME_ANSWER_MAX + 1, 0,
	    &got), -EBADMSG);
	/* a NUL inside the name */
	memcpy(buf + sizeof(a), "ab\0cd", 5);
	ck_assert_int_eq(kd_names_answer(&n, buf, sizeof(a) + 5, 0, &got),
	    -EBADMSG);
	/* "none" or "unknown" with a name, a state that is none of them */
	a.state = KD_NAME_NONE;
	memcpy(buf, &a, sizeof(a));
	ck_assert_int_eq(kd_names_answer(&n, buf, sizeof(a) + 2, 0, &got),
	    -EBADMSG);
	a.state = KD_NAME_PENDING;
	memcpy(buf, &a, sizeof(a));
	ck_assert_int_eq(kd_names_answer(&n, buf, sizeof(a), 0, &got),
	    -EBADMSG);
	a.state = 77;
	memcpy(buf, &a, sizeof(a));
	ck_assert_int_eq(kd_names_answer(&n, buf, sizeof(a), 0, &got),
	    -EBADMSG);
	/* nothing of them was kept */
	ck_assert_int_eq(get(8000, 0, name), KD_NAME_PENDING);
	/* a uid nobody asked for */
	ck_assert_int_eq(answer(8001, KD_NAME_FOUND, "mallory", 0), -ESRCH);
	ck_assert_int_eq(get(8001, 0, name), KD_NAME_UNKNOWN);
	/* the right one: control characters cleaned, cut to KK_NAME_MAX */
	memset(longname, 'z', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	longname[0] = '\n';
	ck_assert_int_eq(answer(8000, KD_NAME_FOUND, longname, 0),
	    KD_NAME_FOUND);
	ck_assert_int_eq(get(8000, 0, name), KD_NAME_FOUND);
	ck_assert_uint_eq(strlen(name), KK_NAME_MAX - 1);
	ck_assert_ptr_null(strchr(name, '\n'));
	/* answered once: the same answer again was not asked for */
	ck_assert_int_eq(answer(8000, KD_NAME_FOUND, "eve", 0), -ESRCH);
	ck_assert_int_eq(get(8000, 0, name), KD_NAME_FOUND);
	ck_assert_ptr_null(strstr(name, "eve"));
	/* "unknown": remembered as unknown, for its short TTL */
	ck_assert_int_eq(kd_names_ask(&n, 8002, 8002, 0), 0);
	ck_assert_int_eq(answer(8002, KD_NAME_UNKNOWN, NULL, 0),
	    KD_NAME_UNKNOWN);
	ck_assert_int_eq(kd_names_ask(&n, 8002, 8002, SEC), -EALREADY);
	kd_names_free(&n);
}
END_TEST

/* A directory's name cannot pose as another caller in the audit's actor. */
START_TEST(test_name_for_actor)
{
	/* a name and what the actor says: kept, then the attacks (the
	 * actor's own punctuation, spaces, quotes) */
	static const char *const cases[][2] = {
		{ "alice", "alice" },
		{ "svc.backup-01@corp$", "svc.backup-01@corp$" },
		{ "CORP\\tanaka", "CORP\\tanaka" },
		{ "\xe7\x94\xb0\xe4\xb8\xad", "\xe7\x94\xb0\xe4\xb8\xad" },
		{ "", "" },
		{ "root),pid=1", "root??pid?1" },
		{ "a b:c\"d'e(f", "a?b?c?d?e?f" },
	};
	char out[KK_NAME_MAX], small[6];
	size_t i;

	for (i = 0; i < nitems(cases); i++) {
		kd_name_for_actor(out, sizeof(out), cases[i][0]);
		ck_assert_str_eq(out, cases[i][1]);
	}
	kd_name_for_actor(small, sizeof(small), "abcdefgh");
	ck_assert_str_eq(small, "abcde");
}
END_TEST

KK_SUITE(names_suite, "names",
	KK_CASE("actor", 0, 10), KK_TEST(test_name_for_actor),
	KK_CASE("file", KK_TMPDIR, 30),
	    KK_TEST(test_file_hostile_lines), KK_TEST(test_file_reread),
	    KK_TEST(test_file_bounded),
	KK_CASE("cache", KK_TMPDIR, 30),
	    KK_TEST(test_cache_ttl), KK_TEST(test_cache_bounded_lru),
	    KK_TEST(test_cache_per_owner), KK_TEST(test_queue_bounded),
	    KK_TEST(test_answer_checked))
