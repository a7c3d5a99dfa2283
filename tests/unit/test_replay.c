/*
 * The replay store (agentd/replay.c): record once, refuse the second
 * time, survive a restart (it is only files), prune what has expired and
 * nothing else, and refuse hostile ids before touching the file system.
 *
 * Every test works in its own directory below a private mkdtemp(3)
 * directory that the unchecked fixture removes.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "kakuri.h"
#include "sign.h"
#include "testutil.h"

Suite *replay_suite(void);

#define ID1	"0123456789abcdef0123456789abcdef"
#define ID2	"fedcba9876543210fedcba9876543210"
#define ID3	"00000000000000000000000000000003"
#define ID4	"00000000000000000000000000000004"

/* A fresh store path (not yet created) below a fresh directory. */
static void
store(char out[PATH_MAX])
{
	char w[PATH_MAX];

	kk_test_workdir(w);
	kk_test_join(out, w, "replay");
}

/* dir/name: a new file holding text. */
static void
plant(const char *dir, const char *name, const char *text)
{
	char p[PATH_MAX];

	kk_test_join(p, dir, name);
	kk_test_write(p, text, strlen(text), 0600);
}

static bool
exists(const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	kk_test_join(p, dir, name);
	return lstat(p, &st) == 0;
}

START_TEST(test_record_once)
{
	char dir[PATH_MAX], p[PATH_MAX], buf[64];
	struct stat st;
	ssize_t n;
	int fd;

	store(dir);
	ck_assert(!kk_replay_seen(dir, ID1));	/* no store yet */
	ck_assert_int_eq(kk_replay_record(dir, ID1, 1790000600), 0);
	/* the store was created private */
	ck_assert_int_eq(lstat(dir, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0700);
	ck_assert(kk_replay_seen(dir, ID1));
	ck_assert(!kk_replay_seen(dir, ID2));
	ck_assert_int_eq(kk_replay_record(dir, ID1, 1790000600), -EALREADY);
	ck_assert_int_eq(kk_replay_record(dir, ID1, 1), -EALREADY);
	ck_assert_int_eq(kk_replay_record(dir, ID2, 1790000601), 0);
	ck_assert_int_eq(kk_replay_record(dir, ID2, 1790000601), -EALREADY);

	/* one file per id, holding exp in decimal */
	kk_test_join(p, dir, ID1);
	ck_assert_uint_eq(kk_test_file_mode(p), 0600);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, sizeof(buf) - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	close(fd);
	ck_assert_str_eq(buf, "1790000600\n");
	ck_assert_uint_eq(kk_test_count_entries(dir, NULL, NULL), 2);
}
END_TEST

/* An existing store (made by the caller) is used as it is. */
START_TEST(test_existing_store)
{
	char dir[PATH_MAX];

	store(dir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert(!kk_replay_seen(dir, ID1));
	ck_assert_int_eq(kk_replay_record(dir, ID1, 100), 0);
	ck_assert(kk_replay_seen(dir, ID1));
}
END_TEST

/*
 * A restart: a new process with no state of its own sees what the old one
 * recorded, and cannot record it again.
 */
START_TEST(test_restart)
{
	char dir[PATH_MAX];
	pid_t pid;
	int status;

	store(dir);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(kk_replay_record(dir, ID1, 1790000600) == 0 ? 0 : 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(kk_replay_seen(dir, ID1) &&
		    kk_replay_record(dir, ID1, 1790000600) == -EALREADY &&
		    kk_replay_record(dir, ID2, 1790000600) == 0 ? 0 : 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert(kk_replay_seen(dir, ID2));
}
END_TEST

static const char *const hostile_ids[] = {
	"../x",
	"..",
	".",
	"",
	"/etc/passwd",
	"0123456789abcdef0123456789abcde",		/* 31 */
	"0123456789abcdef0123456789abcdef0",		/* 33 */
	"0123456789ABCDEF0123456789abcdef",		/* uppercase */
	"0123456789abcdef0123456789abcde/",
	"../3456789abcdef0123456789abcdef",
	"0123456789abcdef0123456789abcde\n",
	"0123456789abcdef 123456789abcdef",
	"0123456789abcdef0123456789abcdeg",
};

/* Refused before the file system is touched: the store is not even made. */
START_TEST(test_hostile_id)
{
	const char *id = hostile_ids[_i];
	char dir[PATH_MAX], outside[PATH_MAX];
	struct stat st;

	store(dir);
	ck_assert_int_eq(kk_replay_record(dir, id, 1790000600), -EINVAL);
	ck_assert_int_eq(lstat(dir, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	/* fails closed: an id that cannot be looked up counts as seen */
	ck_assert(kk_replay_seen(dir, id));
	ck_assert_int_eq(lstat(dir, &st), -1);

	/* and with the store present, nothing lands next to it */
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(kk_replay_record(dir, id, 1790000600), -EINVAL);
	ck_assert_uint_eq(kk_test_count_entries(dir, NULL, NULL), 0);
	kk_test_join(outside, dir, "..");
	ck_assert_uint_eq(kk_test_count_entries(outside, NULL, NULL), 1);
}
END_TEST

START_TEST(test_bad_args)
{
	char dir[PATH_MAX];

	store(dir);
	ck_assert_int_eq(kk_replay_record(dir, NULL, 1), -EINVAL);
	ck_assert_int_eq(kk_replay_record(NULL, ID1, 1), -EINVAL);
	ck_assert_int_eq(kk_replay_record("", ID1, 1), -EINVAL);
	ck_assert_int_eq(kk_replay_record(dir, ID1, -1), -EINVAL);
	ck_assert(kk_replay_seen(dir, NULL));
	ck_assert(kk_replay_seen(NULL, ID1));
	ck_assert_int_eq(kk_replay_prune(dir, 100, -1), -EINVAL);
	ck_assert_int_eq(kk_replay_prune(NULL, 100, 0), -EINVAL);
}
END_TEST

/* A store that is a symbolic link, or that others can write, is refused. */
START_TEST(test_unsafe_store)
{
	char dir[PATH_MAX], real[PATH_MAX];
	int rc;

	store(dir);
	ck_assert_int_lt(snprintf(real, sizeof(real), "%s.real", dir),
	    (int)sizeof(real));
	ck_assert_int_eq(mkdir(real, 0700), 0);
	ck_assert_int_eq(symlink(real, dir), 0);
	/* O_NOFOLLOW | O_DIRECTORY: Linux says ENOTDIR, others ELOOP */
	rc = kk_replay_record(dir, ID1, 100);
	ck_assert(rc == -ENOTDIR || rc == -ELOOP);
	ck_assert_uint_eq(kk_test_count_entries(real, NULL, NULL), 0);
	ck_assert(kk_replay_seen(dir, ID1));		/* fails closed */
	ck_assert_int_lt(kk_replay_prune(dir, 100, 0), 0);

	ck_assert_int_eq(chmod(real, 0770), 0);
	ck_assert_int_eq(kk_replay_record(real, ID1, 100), -EPERM);
	ck_assert_int_eq(chmod(real, 0703), 0);
	ck_assert_int_eq(kk_replay_record(real, ID1, 100), -EPERM);
	ck_assert_int_eq(chmod(real, 0700), 0);
	ck_assert_int_eq(chown(real, 1, 1), 0);
	ck_assert_int_eq(kk_replay_record(real, ID1, 100), -EPERM);
	ck_assert_int_eq(chown(real, 0, 0), 0);
	ck_assert_int_eq(kk_replay_record(real, ID1, 100), 0);

	/* a plain file where the store should be */
	store(dir);
	kk_test_write(dir, "x", 1, 0600);
	ck_assert_int_eq(kk_replay_record(dir, ID1, 100), -ENOTDIR);
}
END_TEST

/* Something planted under an id's name blocks the id; it is not followed. */
START_TEST(test_planted_entry)
{
	char dir[PATH_MAX], p[PATH_MAX], target[PATH_MAX];
	struct stat st;

	store(dir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	kk_test_join(target, kk_test_base, "target");
	unlink(target);
	kk_test_join(p, dir, ID1);
	ck_assert_int_eq(symlink(target, p), 0);
	ck_assert_int_eq(kk_replay_record(dir, ID1, 100), -EALREADY);
	ck_assert_int_eq(lstat(target, &st), -1);
	ck_assert(kk_replay_seen(dir, ID1));
}
END_TEST

START_TEST(test_prune)
{
	char dir[PATH_MAX], p[PATH_MAX], target[PATH_MAX];

	store(dir);
	/* no store yet */
	ck_assert_int_eq(kk_replay_prune(dir, 1000, 0), 0);
	ck_assert_int_eq(kk_replay_record(dir, ID1, 100), 0);
	ck_assert_int_eq(kk_replay_record(dir, ID2, 200), 0);
	ck_assert_int_eq(kk_replay_record(dir, ID3, 300), 0);
	ck_assert_int_eq(kk_replay_record(dir, ID4, 400), 0);

	/* not ours: left alone whatever their age */
	plant(dir, "README", "1\n");
	plant(dir, "0123456789ABCDEF0123456789ABCDEF", "1\n");
	plant(dir, "0123456789abcdef0123456789abcdef0", "1\n");
	plant(dir, ID1 ".tmp", "1\n");
	kk_test_join(p, dir, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	ck_assert_int_eq(mkdir(p, 0700), 0);
	/* ours by name but unreadable content: kept (fails closed) */
	plant(dir, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "soon\n");
	plant(dir, "cccccccccccccccccccccccccccccccc", "");
	plant(dir, "dddddddddddddddddddddddddddddddd",
	    "99999999999999999999\n");
	plant(dir, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "-5\n");
	/* a symbolic link with an id's name is not followed */
	kk_test_join(target, kk_test_base, "old-target");
	unlink(target);
	kk_test_write(target, "1\n", 2, 0600);
	kk_test_join(p, dir, "ffffffffffffffffffffffffffffffff");
	ck_assert_int_eq(symlink(target, p), 0);

	/* exp < now - skew goes: 250 - 50 = 200, so only exp 100 */
	ck_assert_int_eq(kk_replay_prune(dir, 250, 50), 1);
	ck_assert(!exists(dir, ID1));
	ck_assert(exists(dir, ID2));	/* exp == now - skew stays */
	ck_assert(kk_replay_seen(dir, ID2));
	/* 201 - 0: exp 200 goes */
	ck_assert_int_eq(kk_replay_prune(dir, 201, 0), 1);
	ck_assert(!exists(dir, ID2));
	ck_assert(exists(dir, ID3));
	ck_assert(exists(dir, ID4));
	ck_assert_int_eq(kk_replay_prune(dir, 201, 0), 0);

	/* a pruned id can be recorded again (it would be expired anyway) */
	ck_assert(!kk_replay_seen(dir, ID1));
	ck_assert_int_eq(kk_replay_record(dir, ID1, 1000), 0);

	/* everything of ours is old now; the rest survives */
	ck_assert_int_eq(kk_replay_prune(dir, 100000, 0), 3);
	ck_assert(exists(dir, "README"));
	ck_assert(exists(dir, "0123456789ABCDEF0123456789ABCDEF"));
	ck_assert(exists(dir, "0123456789abcdef0123456789abcdef0"));
	ck_assert(exists(dir, ID1 ".tmp"));
	ck_assert(exists(dir, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	ck_assert(exists(dir, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"));
	ck_assert(exists(dir, "cccccccccccccccccccccccccccccccc"));
	ck_assert(exists(dir, "dddddddddddddddddddddddddddddddd"));
	ck_assert(exists(dir, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"));
	ck_assert(exists(dir, "ffffffffffffffffffffffffffffffff"));
	ck_assert(exists(kk_test_base, "old-target"));
	/* ... and the cutoff (exp 1000, the highest pruned) */
	ck_assert_uint_eq(kk_test_count_entries(dir, NULL, NULL), 11);
	ck_assert(exists(dir, "cutoff"));
}
END_TEST

/* now - skew near the bottom of time_t does not wrap around. */
START_TEST(test_prune_extremes)
{
	char dir[PATH_MAX];

	store(dir);
	ck_assert_int_eq(kk_replay_record(dir, ID1, 0), 0);
	ck_assert_int_eq(kk_replay_record(dir, ID2, INT64_MAX), 0);
	ck_assert_int_eq(kk_replay_prune(dir, INT64_MIN + 1, 60), 0);
	ck_assert_int_eq(kk_replay_prune(dir, 0, 0), 0);
	ck_assert_int_eq(kk_replay_prune(dir, INT64_MAX, 0), 1);
	ck_assert(kk_replay_seen(dir, ID2));
	ck_assert(!kk_replay_seen(dir, ID1));
}
END_TEST

/* One call looks at no more than 100000 entries; the next goes on. */
START_TEST(test_prune_bounded)
{
	char dir[PATH_MAX], name[KK_ID_HEX + 1];
	int dfd, fd, i, total = 100000 + 50, first, second;

	store(dir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);
	for (i = 0; i < total; i++) {
		snprintf(name, sizeof(name), "%032x", i);
		fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, "5", 1), 1);
		close(fd);
	}
	close(dfd);
	first = kk_replay_prune(dir, 1000, 0);
	ck_assert_int_gt(first, 0);
	ck_assert_int_le(first, 100000);
	second = kk_replay_prune(dir, 1000, 0);
	ck_assert_int_ge(second, 0);
	ck_assert_int_le(second, 100000);
	ck_assert_int_eq(first + second, total);
	/* the cutoff alone */
	ck_assert_uint_eq(kk_test_count_entries(dir, NULL, NULL), 1);
}
END_TEST

/* The cutoff file's content (at most 63 bytes), "" when there is none. */
static const char *
cutoff_text(const char *dir)
{
	static char text[64];
	char p[PATH_MAX];
	ssize_t n;
	int fd;

	text[0] = '\0';
	kk_test_join(p, dir, "cutoff");
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) == -1)
		return text;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	return text;
}

#define WEEK	(7 * 86400)
#define T	1790000000	/* the clock when the store prunes */
#define MONTH_AGO	"1787408000\n"	/* T - 30 days */

/*
 * The clock set back after a prune: the pruned command is valid by the
 * clock again, but its exp is not above the store's cutoff (the highest
 * exp it pruned), so it is refused (-EKEYEXPIRED), however far back the
 * clock went and across restarts (the cutoff is a file).  On the old
 * code it was recorded and would run a second time.
 */
START_TEST(test_clock_set_back)
{
	char dir[PATH_MAX];
	const int64_t exp = T - 30 * 86400;	/* a month before T */

	store(dir);
	ck_assert_int_eq(kk_replay_record(dir, ID1, exp), 0);
	ck_assert_int_eq(kk_replay_record(dir, ID2, T - WEEK), 0);
	ck_assert_int_eq(kk_replay_prune(dir, T, WEEK), 1);
	ck_assert(!kk_replay_seen(dir, ID1));		/* forgotten */
	ck_assert(kk_replay_seen(dir, ID2));	/* exp == T - WEEK */

	/* now the clock says exp - 60: ID1 is valid again, and refused */
	ck_assert_int_eq(kk_replay_record(dir, ID1, exp), -EKEYEXPIRED);
	ck_assert(!kk_replay_seen(dir, ID1));
	ck_assert_str_eq(cutoff_text(dir), MONTH_AGO);
	/* so is any command as old or older */
	ck_assert_int_eq(kk_replay_record(dir, ID3, exp), -EKEYEXPIRED);
	ck_assert_int_eq(kk_replay_record(dir, ID3, 0), -EKEYEXPIRED);
	ck_assert(!kk_replay_seen(dir, ID3));
	/* a later one was not pruned: the store judges it as ever */
	ck_assert_int_eq(kk_replay_record(dir, ID3, exp + 1), 0);
	ck_assert_int_eq(kk_replay_record(dir, ID2, T - WEEK), -EALREADY);

	/* a prune by the clock set back lowers nothing */
	ck_assert_int_eq(kk_replay_prune(dir, exp - 60, WEEK), 0);
	ck_assert_str_eq(cutoff_text(dir), MONTH_AGO);
	ck_assert_int_eq(kk_replay_record(dir, ID1, exp), -EKEYEXPIRED);
	/* a later one raises it to what it removes, before it does */
	ck_assert_int_eq(kk_replay_prune(dir, T + 10, WEEK), 2);
	ck_assert_str_eq(cutoff_text(dir), "1789395200\n");
	ck_assert_int_eq(kk_replay_record(dir, ID2, T - WEEK), -EKEYEXPIRED);
	ck_assert_uint_eq(kk_test_count_entries(dir, NULL, NULL), 1);
	/* with nothing to remove, it is not written */
	ck_assert_int_eq(kk_replay_prune(dir, T + 20, WEEK), 0);
	ck_assert_str_eq(cutoff_text(dir), "1789395200\n");
}
END_TEST

/*
 * A clock that ran years ahead and was put right: the ids pruned
 * meanwhile stay refused, and nothing else is (the cutoff is the highest
 * exp pruned, not the clock's now - skew).
 */
START_TEST(test_clock_ran_ahead)
{
	char dir[PATH_MAX];

	store(dir);
	ck_assert_int_eq(kk_replay_record(dir, ID1, T + 600), 0);
	ck_assert_int_eq(kk_replay_record(dir, ID2, T + 300), 0);
	ck_assert_int_eq(kk_replay_prune(dir, T + 10 * 365 * 86400, WEEK), 2);
	ck_assert_str_eq(cutoff_text(dir), "1790000600\n");
	/* back at T + 60 */
	ck_assert_int_eq(kk_replay_record(dir, ID1, T + 600), -EKEYEXPIRED);
	ck_assert_int_eq(kk_replay_record(dir, ID2, T + 300), -EKEYEXPIRED);
	ck_assert_int_eq(kk_replay_record(dir, ID3, T + 601), 0);
}
END_TEST

/*
 * A store without a cutoff (new, or written by an older kakurid) takes
 * any exp; one whose cutoff is not a file holding an exp takes none
 * (-EBADMSG: the caller refuses, io) until a prune writes it again from
 * the clock and says so; one that cannot write it prunes nothing.
 */
START_TEST(test_cutoff_damaged)
{
	static const char *const bad[] = { "", "soon\n", "-5\n", "1 2\n",
	    "99999999999999999999\n", "12345678901234567890123456789\n" };
	char dir[PATH_MAX], p[PATH_MAX], target[PATH_MAX];
	struct stat st;
	size_t i;

	store(dir);
	ck_assert_int_eq(kk_replay_record(dir, ID1, 0), 0);	/* none */
	ck_assert(!exists(dir, "cutoff"));
	kk_test_join(p, dir, "cutoff");
	for (i = 0; i < KK_NITEMS(bad); i++) {
		unlink(p);
		plant(dir, "cutoff", bad[i]);
		ck_assert_msg(kk_replay_record(dir, ID2, T) == -EBADMSG,
		    "cutoff '%s' taken", bad[i]);
		ck_assert(!kk_replay_seen(dir, ID2));
		/* now - skew - 1: the most this clock can have pruned */
		ck_assert_int_eq(kk_replay_prune(dir, T, WEEK), -EBADMSG);
		ck_assert_str_eq(cutoff_text(dir), "1789395199\n");
		ck_assert(kk_replay_seen(dir, ID1));	/* nothing pruned */
		ck_assert_int_eq(kk_replay_record(dir, ID2, T - WEEK - 1),
		    -EKEYEXPIRED);
	}
	ck_assert_int_eq(kk_replay_record(dir, ID2, T), 0);

	/* a symbolic link is not followed, and is replaced, not written */
	kk_test_join(target, kk_test_base, "cutoff-target");
	unlink(target);
	kk_test_write(target, "5\n", 2, 0600);
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_int_eq(symlink(target, p), 0);
	ck_assert_int_eq(kk_replay_record(dir, ID3, T), -EBADMSG);
	ck_assert_int_eq(kk_replay_prune(dir, T, WEEK), -EBADMSG);
	ck_assert_int_eq(lstat(p, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_str_eq(cutoff_text(dir), "1789395199\n");
	ck_assert_int_eq(stat(target, &st), 0);
	ck_assert_int_eq(st.st_size, 2);

	/* a directory in its way: it cannot be written, nothing goes */
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	ck_assert_int_lt(kk_replay_prune(dir, T + 100 * WEEK, WEEK), 0);
	ck_assert(kk_replay_seen(dir, ID1));
	ck_assert_int_eq(kk_replay_record(dir, ID3, T), -EBADMSG);
	ck_assert_int_eq(rmdir(p), 0);
	/* ... nor a directory where it is written first */
	kk_test_join(p, dir, "cutoff.tmp");
	ck_assert_int_eq(mkdir(p, 0700), 0);
	ck_assert_int_lt(kk_replay_prune(dir, T + 100 * WEEK, WEEK), 0);
	ck_assert(kk_replay_seen(dir, ID1));
	ck_assert(!exists(dir, "cutoff"));
	ck_assert_int_eq(rmdir(p), 0);
	ck_assert_int_eq(kk_replay_prune(dir, T + 100 * WEEK, WEEK), 2);
	ck_assert(!exists(dir, "cutoff.tmp"));
	ck_assert_str_eq(cutoff_text(dir), "1790000000\n");
}
END_TEST

KK_SUITE(replay_suite, "replay",
	KK_CASE("store", KK_TMPDIR, 0), KK_TEST(test_record_once),
	    KK_TEST(test_existing_store), KK_TEST(test_restart),
	    KK_LOOP(test_hostile_id, KK_NITEMS(hostile_ids)),
	    KK_TEST(test_bad_args), KK_TEST(test_unsafe_store),
	    KK_TEST(test_planted_entry),
	KK_CASE("prune", KK_TMPDIR, 120), KK_TEST(test_prune),
	    KK_TEST(test_prune_extremes), KK_TEST(test_prune_bounded),
	    KK_TEST(test_clock_set_back), KK_TEST(test_clock_ran_ahead),
	    KK_TEST(test_cutoff_damaged))
