/*
 * Persisted quarantine state (common/state.c) and the small helpers in
 * common/util.c: state.json round trips, strict loading, the atomic
 * write (temp + fsync + rename), episode ids, mode names, RFC 3339 time.
 *
 * Every test works in its own directory below a private mkdtemp(3)
 * directory that the (unchecked, so it runs in the parent even when a
 * forked test fails) fixture removes.
 */
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "kakuri.h"
#include "suites.h"
#include "testutil.h"

#define EP1	"0123456789abcdef0123456789abcdef"
#define EP2	"fedcba9876543210fedcba9876543210"

static void
state_set(struct kk_state *s, enum kk_mode mode, const char *episode,
    time_t since, const char *by, const char *reason, bool drill)
{
	memset(s, 0, sizeof(*s));
	s->mode = mode;
	ck_assert_uint_lt(strlen(episode), sizeof(s->episode));
	strcpy(s->episode, episode);
	s->since = since;
	ck_assert_uint_lt(strlen(by), sizeof(s->by));
	strcpy(s->by, by);
	ck_assert_uint_lt(strlen(reason), sizeof(s->reason));
	strcpy(s->reason, reason);
	s->drill = drill;
}

static void
assert_state_eq(const struct kk_state *got, const struct kk_state *want)
{
	ck_assert_int_eq(got->mode, want->mode);
	ck_assert_str_eq(got->episode, want->episode);
	ck_assert_int_eq((long long)got->since, (long long)want->since);
	ck_assert_str_eq(got->by, want->by);
	ck_assert_str_eq(got->reason, want->reason);
	ck_assert(got->drill == want->drill);
}

/* Loads into a struct full of garbage so every field must be written. */
static int
load_dirty(const char *path, struct kk_state *s)
{
	memset(s, 0xa5, sizeof(*s));
	return kk_state_load(path, s);
}

/* A fresh directory for one test, and state.json inside it. */
static void
state_path(char dir[PATH_MAX], char path[PATH_MAX])
{
	kk_test_workdir(dir);
	kk_test_join(path, dir, "state.json");
}

/* What path holds loads, and is want. */
static void
assert_loads(const char *path, const struct kk_state *want)
{
	struct kk_state got;

	ck_assert_int_eq(load_dirty(path, &got), 0);
	assert_state_eq(&got, want);
}

/* dir has n entries and no temporary file (".tmp.") among them. */
static void
assert_no_temp(const char *dir, size_t n)
{
	size_t tmps;

	ck_assert_uint_eq(kk_test_count_entries(dir, ".tmp.", &tmps), n);
	ck_assert_uint_eq(tmps, 0);
}

/* ---- round trips ---- */

static char long_by[KK_TEXT_MAX];
static char long_reason[KK_TEXT_MAX];

static void
fill_long(void)
{
	memset(long_by, 'b', sizeof(long_by) - 1);
	long_by[sizeof(long_by) - 1] = '\0';
	memset(long_reason, 'r', sizeof(long_reason) - 1);
	long_reason[sizeof(long_reason) - 1] = '\0';
}

static const struct {
	enum kk_mode mode;
	const char *episode;
	long long since;
	const char *by;		/* NULL: KK_TEXT_MAX - 1 bytes */
	const char *reason;	/* NULL: KK_TEXT_MAX - 1 bytes */
	bool drill;
} rt_cases[] = {
	{ KK_MODE_OPEN, "", 0, "", "", false },
	{ KK_MODE_ISOLATED, EP1, 1790000000, "csirt:alice",
	    "C2 beacon seen by proxy", false },
	{ KK_MODE_EGRESS, EP2, 1, "staff:uid=1000", "popup", true },
	{ KK_MODE_ISOLATED, EP2, 4102444800LL, "root",
	    "quote \" backslash \\ braces {} \xe6\x97\xa5\xe6\x9c\xac",
	    true },
	{ KK_MODE_EGRESS, EP1, 1790000600, NULL, NULL, false },
	{ KK_MODE_OPEN, "", 1790000000, "csirt:bob", "released IR-2026-0042",
	    false },
};

START_TEST(test_roundtrip)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct kk_state want;

	fill_long();
	state_path(dir, path);
	state_set(&want, rt_cases[_i].mode, rt_cases[_i].episode,
	    (time_t)rt_cases[_i].since,
	    rt_cases[_i].by ? rt_cases[_i].by : long_by,
	    rt_cases[_i].reason ? rt_cases[_i].reason : long_reason,
	    rt_cases[_i].drill);
	ck_assert_int_eq(kk_state_save(path, &want), 0);
	assert_loads(path, &want);
}
END_TEST

/*
 * A second save over a first: it replaces every field, or it fails (a
 * text that cannot be encoded, a control character: it could not be shown
 * safely) and leaves the first alone.  No temporary file is left.
 */
static const struct {
	const char *what;
	enum kk_mode mode;
	const char *episode;
	long long since;
	const char *by, *reason;
	bool drill;
	int rc;
} resave[] = {
	{ "every field replaced", KK_MODE_OPEN, "", 0, "", "", false, 0 },
	{ "invalid UTF-8", KK_MODE_OPEN, "", 0, "root", "bad \xff\xfe utf-8",
	    false, -EILSEQ },
	{ "ESC in reason", KK_MODE_ISOLATED, EP1, 1790000000, "root",
	    "clear \x1b[2J screen", false, -EINVAL },
	{ "newline in by", KK_MODE_ISOLATED, EP1, 1790000000, "a\nb", "ok",
	    false, -EINVAL },
};

START_TEST(test_resave)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct kk_state a, b;
	int rc;

	state_path(dir, path);
	state_set(&a, KK_MODE_ISOLATED, EP1, 1790000000, "csirt:alice",
	    "a long reason that is longer than the second one", true);
	state_set(&b, resave[_i].mode, resave[_i].episode,
	    (time_t)resave[_i].since, resave[_i].by, resave[_i].reason,
	    resave[_i].drill);
	ck_assert_int_eq(kk_state_save(path, &a), 0);
	rc = kk_state_save(path, &b);
	ck_assert_msg(rc == resave[_i].rc, "%s: rc %d, want %d",
	    resave[_i].what, rc, resave[_i].rc);
	assert_loads(path, resave[_i].rc == 0 ? &b : &a);
	assert_no_temp(dir, 1);
}
END_TEST

/* state.json is root's business only. */
START_TEST(test_save_file_mode)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct kk_state s;

	state_path(dir, path);
	/* A pre-existing world-readable file must not keep its mode. */
	kk_test_write(path, "{}", 2, 0600);
	ck_assert_int_eq(chmod(path, 0666), 0);
	state_set(&s, KK_MODE_ISOLATED, EP1, 1790000000, "root", "x", false);
	ck_assert_int_eq(kk_state_save(path, &s), 0);
	ck_assert_uint_eq(kk_test_file_mode(path), 0600);
}
END_TEST

/*
 * A state written before text was checked may hold a control character
 * in reason: it still loads (losing the state would fail closed to a new
 * episode), with the character replaced.
 */
START_TEST(test_load_control_cleaned)
{
	static const char text[] = "{\"mode\":\"isolated\",\"episode\":\"" EP1
	    "\",\"by\":\"local\",\"reason\":\"line\\nbreak\"}";
	char dir[PATH_MAX], path[PATH_MAX];
	struct kk_state s;

	state_path(dir, path);
	kk_test_write(path, text, strlen(text), 0600);
	ck_assert_int_eq(load_dirty(path, &s), 0);
	ck_assert_str_eq(s.reason, "line\xef\xbf\xbd" "break");
	ck_assert_int_eq(kk_text_check(s.reason, strlen(s.reason), NULL), 0);
}
END_TEST

/* A corrupt state is kept aside under a new name, never over another. */
START_TEST(test_set_aside)
{
	char dir[PATH_MAX], path[PATH_MAX], kept[PATH_MAX], kept2[PATH_MAX];
	char want[PATH_MAX + 64];
	size_t len;
	char *got;

	state_path(dir, path);
	kk_test_write(path, "{ broken", 8, 0600);
	ck_assert_int_eq(kk_state_set_aside(path, 1790000000, kept,
	    sizeof(kept)), 0);
	snprintf(want, sizeof(want), "%s.corrupt-20260921T141320Z", path);
	ck_assert_str_eq(kept, want);
	ck_assert_int_eq(access(path, F_OK), -1);
	got = kk_test_read(kept, &len);
	ck_assert_str_eq(got, "{ broken");
	free(got);
	/* the same second again: a second name, the first file untouched */
	kk_test_write(path, "{ other", 7, 0600);
	ck_assert_int_eq(kk_state_set_aside(path, 1790000000, kept2,
	    sizeof(kept2)), 0);
	ck_assert_str_ne(kept2, kept);
	got = kk_test_read(kept, &len);
	ck_assert_str_eq(got, "{ broken");
	free(got);
	got = kk_test_read(kept2, &len);
	ck_assert_str_eq(got, "{ other");
	free(got);
	/* nothing to keep */
	ck_assert_int_eq(kk_state_set_aside(path, 1790000000, kept,
	    sizeof(kept)), -ENOENT);
}
END_TEST

/* The reserve is made, given back once, and made again when there is room. */
START_TEST(test_reserve)
{
	char dir[PATH_MAX], path[PATH_MAX], file[PATH_MAX];
	struct stat st;

	kk_test_workdir(dir);
	kk_test_join(path, dir, "reserve");
	kk_test_join(file, dir, "state.json");
	/* nothing registered: nothing to give back */
	ck_assert_int_eq(kk_reserve_release(), -ENOENT);
	ck_assert_int_eq(kk_reserve_init(path, 256 * 1024), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 256 * 1024);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(kk_reserve_release(), 0);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_eq(kk_reserve_release(), -ENOENT);
	/* a write that succeeds puts it back */
	ck_assert_int_eq(kk_write_file_atomic(file, "{}", 2, 0600), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 256 * 1024);
	kk_reserve_init("", 0);
}
END_TEST

/* ---- strict loading ---- */

START_TEST(test_load_missing)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct kk_state s;

	state_path(dir, path);
	ck_assert_int_eq(kk_state_load(path, &s), -ENOENT);
	kk_test_join(path, dir, "no/such/dir/state.json");
	ck_assert_int_eq(kk_state_load(path, &s), -ENOENT);
}
END_TEST

START_TEST(test_load_minimal)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct kk_state s, want;
	static const char open_min[] = "{\"mode\": \"open\"}";
	static const char iso_min[] =
	    "{\"mode\": \"isolated\", \"episode\": \"" EP1 "\"}";

	state_path(dir, path);
	kk_test_write(path, open_min, strlen(open_min), 0600);
	ck_assert_int_eq(load_dirty(path, &s), 0);
	state_set(&want, KK_MODE_OPEN, "", 0, "", "", false);
	assert_state_eq(&s, &want);

	kk_test_overwrite(path, iso_min, strlen(iso_min));
	ck_assert_int_eq(load_dirty(path, &s), 0);
	state_set(&want, KK_MODE_ISOLATED, EP1, 0, "", "", false);
	assert_state_eq(&s, &want);
}
END_TEST

static const char *const bad_json[] = {
	/* not JSON, or not one object */
	"",
	"{",
	"not json",
	"null",
	"[]",
	"\"open\"",
	"{\"mode\": \"open\"} trailing",
	"{\"mode\": \"open\"}{\"mode\": \"isolated\"}",
	/* mode missing, wrong type or unknown */
	"{}",
	"{\"episode\": \"" EP1 "\"}",
	"{\"mode\": 1}",
	"{\"mode\": null}",
	"{\"mode\": true}",
	"{\"mode\": [\"open\"]}",
	"{\"mode\": \"\"}",
	"{\"mode\": \"OPEN\"}",
	"{\"mode\": \"quarantined\"}",
	"{\"mode\": \"isolated \"}",
	"{\"mode\": \"a-mode-name-that-is-far-too-long-to-be-one\"}",
	/* other fields with the wrong type */
	"{\"mode\": \"open\", \"since\": \"1790000000\"}",
	"{\"mode\": \"open\", \"since\": 1.5}",
	"{\"mode\": \"open\", \"since\": true}",
	"{\"mode\": \"open\", \"since\": null}",
	"{\"mode\": \"open\", \"drill\": \"false\"}",
	"{\"mode\": \"open\", \"drill\": 0}",
	"{\"mode\": \"open\", \"drill\": null}",
	"{\"mode\": \"open\", \"by\": 7}",
	"{\"mode\": \"open\", \"by\": null}",
	"{\"mode\": \"open\", \"reason\": [\"x\"]}",
	"{\"mode\": \"open\", \"reason\": {}}",
	"{\"mode\": \"open\", \"episode\": 123}",
	"{\"mode\": \"open\", \"by\": \"a\\u0000b\"}",
	/* a quarantine without a valid episode */
	"{\"mode\": \"isolated\"}",
	"{\"mode\": \"egress\"}",
	"{\"mode\": \"isolated\", \"episode\": \"\"}",
	"{\"mode\": \"egress\", \"episode\": \"\"}",
	"{\"mode\": \"isolated\", \"episode\": null}",
	"{\"mode\": \"isolated\", \"episode\": "
	    "\"0123456789abcdef0123456789abcde\"}",
	"{\"mode\": \"isolated\", \"episode\": "
	    "\"0123456789abcdef0123456789abcdef0\"}",
	"{\"mode\": \"isolated\", \"episode\": "
	    "\"0123456789ABCDEF0123456789ABCDEF\"}",
	"{\"mode\": \"egress\", \"episode\": "
	    "\"0123456789abcdefg123456789abcdef\"}",
	"{\"mode\": \"isolated\", \"episode\": "
	    "\" 123456789abcdef0123456789abcdef\"}",
	/* duplicate keys */
	"{\"mode\": \"open\", \"mode\": \"isolated\"}",
	"{\"mode\": \"isolated\", \"mode\": \"open\", \"episode\": \""
	    EP1 "\"}",
	"{\"mode\": \"isolated\", \"episode\": \"" EP1 "\", "
	    "\"episode\": \"" EP2 "\"}",
	"{\"mode\": \"open\", \"drill\": false, \"drill\": true}",
	"{\"mode\": \"open\", \"since\": 1, \"since\": 2}",
};

START_TEST(test_load_bad)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct kk_state s;

	state_path(dir, path);
	kk_test_write(path, bad_json[_i], strlen(bad_json[_i]), 0600);
	ck_assert_msg(kk_state_load(path, &s) == -EBADMSG,
	    "accepted or wrong error for: %s", bad_json[_i]);
}
END_TEST

/* by/reason up to KK_TEXT_MAX - 1 bytes load; one more is refused. */
START_TEST(test_load_text_limit)
{
	char dir[PATH_MAX], path[PATH_MAX];
	char text[KK_TEXT_MAX + 64], field[KK_TEXT_MAX + 1];
	struct kk_state s;
	int n;

	state_path(dir, path);

	memset(field, 'x', KK_TEXT_MAX - 1);
	field[KK_TEXT_MAX - 1] = '\0';
	n = snprintf(text, sizeof(text), "{\"mode\":\"open\",\"%s\":\"%s\"}",
	    _i ? "reason" : "by", field);
	ck_assert_int_lt(n, (int)sizeof(text));
	kk_test_write(path, text, (size_t)n, 0600);
	ck_assert_int_eq(load_dirty(path, &s), 0);
	ck_assert_str_eq(_i ? s.reason : s.by, field);

	memset(field, 'x', KK_TEXT_MAX);
	field[KK_TEXT_MAX] = '\0';
	n = snprintf(text, sizeof(text), "{\"mode\":\"open\",\"%s\":\"%s\"}",
	    _i ? "reason" : "by", field);
	ck_assert_int_lt(n, (int)sizeof(text));
	kk_test_overwrite(path, text, (size_t)n);
	ck_assert_int_eq(kk_state_load(path, &s), -EBADMSG);
}
END_TEST

/* A crash before rename leaves a stale temp file; it changes nothing. */
START_TEST(test_stale_temp_ignored)
{
	char dir[PATH_MAX], path[PATH_MAX], stale[PATH_MAX];
	struct kk_state want, other;
	static const char torn[] = "{\n  \"v\": 1,\n  \"mode\": \"op";
	size_t tmps;

	state_path(dir, path);
	state_set(&want, KK_MODE_ISOLATED, EP1, 1790000000, "csirt:alice",
	    "C2", false);
	ck_assert_int_eq(kk_state_save(path, &want), 0);

	/* a torn temp file, and a complete one that was never renamed */
	kk_test_join(stale, dir, "state.json.tmp.AbC123");
	kk_test_write(stale, torn, strlen(torn), 0600);
	state_set(&other, KK_MODE_OPEN, "", 5, "x", "y", true);
	kk_test_join(stale, dir, "state.json.tmp.XyZ789");
	ck_assert_int_eq(kk_state_save(stale, &other), 0);

	assert_loads(path, &want);

	/* the next save still works and is what loads */
	ck_assert_int_eq(kk_state_save(path, &other), 0);
	assert_loads(path, &other);
	/* and it created no temp files of its own */
	ck_assert_uint_eq(kk_test_count_entries(dir, ".tmp.", &tmps), 3);
	ck_assert_uint_eq(tmps, 2);
}
END_TEST

/* Crash before the first rename: only a temp file, so no state at all. */
START_TEST(test_stale_temp_only)
{
	char dir[PATH_MAX], path[PATH_MAX], stale[PATH_MAX];
	static const char full[] = "{\"mode\": \"isolated\", \"episode\": \""
	    EP1 "\"}";
	struct kk_state s;

	state_path(dir, path);
	kk_test_join(stale, dir, "state.json.tmp.Q1w2E3");
	kk_test_write(stale, full, strlen(full), 0600);
	ck_assert_int_eq(kk_state_load(path, &s), -ENOENT);
}
END_TEST

/* ---- kk_write_file_atomic ---- */

START_TEST(test_atomic_no_temp_left)
{
	char dir[PATH_MAX], path[PATH_MAX], *got;
	char data[64];
	size_t len;
	int i, n;

	kk_test_workdir(dir);
	kk_test_join(path, dir, "f");
	for (i = 0; i < 5; i++) {
		n = snprintf(data, sizeof(data), "version %d\n", i);
		ck_assert_int_eq(kk_write_file_atomic(path, data, (size_t)n,
		    0600), 0);
		assert_no_temp(dir, 1);
		got = kk_test_read(path, &len);
		ck_assert_uint_eq(len, (size_t)n);
		ck_assert_mem_eq(got, data, len);
		free(got);
	}
}
END_TEST

static const mode_t atomic_modes[] = { 0600, 0640, 0644, 0400, 0444, 0700 };

START_TEST(test_atomic_mode)
{
	char dir[PATH_MAX], path[PATH_MAX];

	kk_test_workdir(dir);
	kk_test_join(path, dir, "f");
	ck_assert_int_eq(kk_write_file_atomic(path, "x", 1, atomic_modes[_i]),
	    0);
	ck_assert_uint_eq(kk_test_file_mode(path), atomic_modes[_i]);

	/* replacing a file gives the new file the requested mode too */
	ck_assert_int_eq(chmod(path, 0666), 0);
	ck_assert_int_eq(kk_write_file_atomic(path, "y", 1, atomic_modes[_i]),
	    0);
	ck_assert_uint_eq(kk_test_file_mode(path), atomic_modes[_i]);
}
END_TEST

START_TEST(test_atomic_replace_whole)
{
	char dir[PATH_MAX], path[PATH_MAX], *got;
	static char big[100000];
	size_t len;

	memset(big, 'L', sizeof(big));
	kk_test_workdir(dir);
	kk_test_join(path, dir, "f");
	ck_assert_int_eq(kk_write_file_atomic(path, big, sizeof(big), 0600), 0);
	got = kk_test_read(path, &len);
	ck_assert_uint_eq(len, sizeof(big));
	ck_assert_mem_eq(got, big, len);
	free(got);

	ck_assert_int_eq(kk_write_file_atomic(path, "short", 5, 0600), 0);
	got = kk_test_read(path, &len);
	ck_assert_uint_eq(len, 5);
	ck_assert_mem_eq(got, "short", 5);
	free(got);

	ck_assert_int_eq(kk_write_file_atomic(path, "", 0, 0600), 0);
	got = kk_test_read(path, &len);
	ck_assert_uint_eq(len, 0);
	free(got);
}
END_TEST

/* Bytes are written as given, NULs included. */
START_TEST(test_atomic_binary)
{
	char dir[PATH_MAX], path[PATH_MAX], *got;
	unsigned char data[512];
	size_t i, len;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)i;
	kk_test_workdir(dir);
	kk_test_join(path, dir, "f");
	ck_assert_int_eq(kk_write_file_atomic(path, data, sizeof(data), 0600),
	    0);
	got = kk_test_read(path, &len);
	ck_assert_uint_eq(len, sizeof(data));
	ck_assert_mem_eq(got, data, len);
	free(got);
}
END_TEST

START_TEST(test_atomic_no_dir)
{
	char dir[PATH_MAX], missing[PATH_MAX], path[PATH_MAX];
	struct stat st;
	size_t tmps;
	int r, e;

	kk_test_workdir(dir);
	kk_test_join(missing, dir, "nonexistent");
	kk_test_join(path, missing, "state.json");
	r = kk_write_file_atomic(path, "data", 4, 0600);
	ck_assert_int_lt(r, 0);
	ck_assert_int_eq(r, -ENOENT);
	r = lstat(missing, &st);
	e = errno;
	ck_assert_int_eq(r, -1);
	ck_assert_int_eq(e, ENOENT);
	ck_assert_uint_eq(kk_test_count_entries(dir, ".tmp.", &tmps), 0);
}
END_TEST

/* rename(2) fails (the target is a directory): the temp file goes away. */
START_TEST(test_atomic_fail_cleans_up)
{
	char dir[PATH_MAX], path[PATH_MAX], inner[PATH_MAX];
	struct stat st;
	int r;

	state_path(dir, path);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	kk_test_join(inner, path, "keep");
	kk_test_write(inner, "k", 1, 0600);
	r = kk_write_file_atomic(path, "data", 4, 0600);
	ck_assert_int_lt(r, 0);
	assert_no_temp(dir, 1);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(lstat(inner, &st), 0);
}
END_TEST

/* A name too long for the temp name is refused before anything is made. */
START_TEST(test_atomic_name_too_long)
{
	char dir[PATH_MAX], path[PATH_MAX];
	size_t tmps, n;

	kk_test_workdir(dir);
	n = (size_t)snprintf(path, sizeof(path), "%s/", dir);
	memset(path + n, 'a', sizeof(path) - n - 1);
	path[sizeof(path) - 1] = '\0';
	ck_assert_int_lt(kk_write_file_atomic(path, "x", 1, 0600), 0);
	ck_assert_uint_eq(kk_test_count_entries(dir, ".tmp.", &tmps), 0);
}
END_TEST

/* ---- episodes ---- */

static void
assert_episode(const char *e)
{
	size_t i;

	ck_assert_uint_eq(strlen(e), KK_EPISODE_HEX);
	for (i = 0; i < KK_EPISODE_HEX; i++)
		ck_assert_msg((e[i] >= '0' && e[i] <= '9') ||
		    (e[i] >= 'a' && e[i] <= 'f'), "bad char %d in %s", e[i], e);
}

START_TEST(test_episode_new)
{
	char e[16][KK_EPISODE_HEX + 1];
	size_t i, j;

	for (i = 0; i < 16; i++) {
		memset(e[i], 'Z', sizeof(e[i]));
		ck_assert_int_eq(kk_episode_new(e[i]), 0);
		ck_assert_int_eq(e[i][KK_EPISODE_HEX], '\0');
		assert_episode(e[i]);
	}
	for (i = 0; i < 16; i++)
		for (j = i + 1; j < 16; j++)
			ck_assert_str_ne(e[i], e[j]);
}
END_TEST

/* A new episode is one that kk_state_load accepts for a quarantine. */
START_TEST(test_episode_loads)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct kk_state want;

	state_path(dir, path);
	state_set(&want, KK_MODE_EGRESS, "", 1790000000, "root", "r", false);
	ck_assert_int_eq(kk_episode_new(want.episode), 0);
	ck_assert_int_eq(kk_state_save(path, &want), 0);
	assert_loads(path, &want);
}
END_TEST

/* ---- util.c ---- */

START_TEST(test_mode_names)
{
	static const struct {
		enum kk_mode m;
		const char *name;
	} t[] = {
		{ KK_MODE_OPEN, "open" },
		{ KK_MODE_EGRESS, "egress" },
		{ KK_MODE_ISOLATED, "isolated" },
	};
	static const char *const bad[] = { "", "Open", "ISOLATED", "isolate",
	    "egress ", "unknown", "closed" };
	enum kk_mode m;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_str_eq(kk_mode_name(t[i].m), t[i].name);
		m = (enum kk_mode)99;
		ck_assert_int_eq(kk_mode_parse(t[i].name, &m), 0);
		ck_assert_int_eq(m, t[i].m);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = KK_MODE_ISOLATED;
		ck_assert_int_eq(kk_mode_parse(bad[i], &m), -EINVAL);
		ck_assert_int_eq(m, KK_MODE_ISOLATED);
	}
	ck_assert_str_eq(kk_mode_name((enum kk_mode)3), "unknown");
	ck_assert_str_eq(kk_mode_name((enum kk_mode)-1), "unknown");
}
END_TEST

START_TEST(test_rfc3339)
{
	char buf[64];

	ck_assert_int_eq(kk_rfc3339(0, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "1970-01-01T00:00:00Z");
	ck_assert_int_eq(kk_rfc3339(1790000000, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "2026-09-21T14:13:20Z");
	ck_assert_int_eq(kk_rfc3339((time_t)4102444800LL, buf, sizeof(buf)),
	    0);
	ck_assert_str_eq(buf, "2100-01-01T00:00:00Z");
	/* 20 chars + NUL needed */
	ck_assert_int_eq(kk_rfc3339(0, buf, 21), 0);
	ck_assert_int_eq(kk_rfc3339(0, buf, 20), -ENOBUFS);
}
END_TEST

/*
 * kk_close: a descriptor that is open is closed and -1 comes back, so
 * `fd = kk_close(fd);` makes a second call a no-op; errno is what it was
 * before, in both cases, so a cleanup path does not overwrite the error
 * it is cleaning up after.
 */
/*
 * kk_dir_lock: one holder at a time, named; gone with its process, and
 * not kept by a process it forked that lives on (an evidence worker the
 * kernel holds must not keep the next kakurid out).
 */
START_TEST(test_dir_lock)
{
	char dir[PATH_MAX], path[PATH_MAX], want[32], *text;
	int ready[2], hold[2], fd, st;
	pid_t a, holder;
	size_t len;
	char c;

	kk_test_workdir(dir);
	kk_test_join(path, dir, "x.lock");
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(hold), 0);
	a = fork();
	ck_assert_int_ge(a, 0);
	if (a == 0) {
		alarm(20);
		close(ready[0]);
		close(hold[1]);
		if (kk_dir_lock(dir, "x.lock", &holder) < 0)
			_exit(1);
		/* a child of the holder that outlives it */
		if (fork() == 0) {
			close(ready[1]);
			/* until the test ends */
			_exit(read(hold[0], &c, 1) < 0);
		}
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		_exit(read(hold[0], &c, 1) < 0);
	}
	close(ready[1]);
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	ck_assert_int_eq(kk_dir_lock(dir, "x.lock", &holder), -EBUSY);
	ck_assert_int_eq(holder, a);
	snprintf(want, sizeof(want), "%ld\n", (long)a);
	text = kk_test_read(path, &len);
	ck_assert_str_eq(text, want);
	free(text);
	ck_assert_int_eq(kk_test_file_mode(path), 0600);
	/* the holder ends; its child still runs (it keeps hold[0] open) */
	kill(a, SIGKILL);
	ck_assert_int_eq(waitpid(a, &st, 0), a);
	fd = kk_dir_lock(dir, "x.lock", &holder);
	ck_assert_int_ge(fd, 0);
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	text = kk_test_read(path, &len);
	ck_assert_str_eq(text, want);
	free(text);
	close(hold[1]);			/* the grandchild's read ends */
	close(hold[0]);
	close(ready[0]);
	close(fd);
	/* no lock through a link, nor past PATH_MAX */
	kk_test_join(path, dir, "link.lock");
	ck_assert_int_eq(symlink("x.lock", path), 0);
	ck_assert_int_eq(kk_dir_lock(dir, "link.lock", &holder), -ELOOP);
	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	ck_assert_int_eq(kk_dir_lock(dir, path, &holder), -ENAMETOOLONG);
}
END_TEST

START_TEST(test_close)
{
	int fd;

	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	errno = ENOSPC;
	fd = kk_close(fd);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(errno, ENOSPC);
	/* already closed: nothing is closed and errno is still ENOSPC */
	ck_assert_int_eq(kk_close(fd), -1);
	ck_assert_int_eq(errno, ENOSPC);
	/* an fd that was closed by kk_close is really gone */
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(kk_close(dup(fd)), -1);
	ck_assert_int_eq(fcntl(fd, F_GETFD), FD_CLOEXEC);
	errno = 0;
	ck_assert_int_eq(kk_close(fd), -1);
	ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
	ck_assert_int_eq(errno, EBADF);
	/* close(2) fails (EBADF on the stale number): errno is kept */
	errno = ENOSPC;
	ck_assert_int_eq(kk_close(fd), -1);
	ck_assert_int_eq(errno, ENOSPC);
}
END_TEST

KK_SUITE(state_suite, "state",
	KK_CASE("state", KK_TMPDIR, 0),
	    KK_LOOP(test_roundtrip, KK_NITEMS(rt_cases)),
	    KK_LOOP(test_resave, KK_NITEMS(resave)),
	    KK_TEST(test_save_file_mode),
	    KK_TEST(test_load_control_cleaned), KK_TEST(test_set_aside),
	    KK_TEST(test_reserve), KK_TEST(test_load_missing),
	    KK_TEST(test_load_minimal),
	    KK_LOOP(test_load_bad, KK_NITEMS(bad_json)),
	    KK_LOOP(test_load_text_limit, 2),
	    KK_TEST(test_stale_temp_ignored),
	    KK_TEST(test_stale_temp_only), KK_TEST(test_dir_lock),
	KK_CASE("atomic", KK_TMPDIR, 0),
	    KK_TEST(test_atomic_no_temp_left),
	    KK_LOOP(test_atomic_mode, KK_NITEMS(atomic_modes)),
	    KK_TEST(test_atomic_replace_whole),
	    KK_TEST(test_atomic_binary), KK_TEST(test_atomic_no_dir),
	    KK_TEST(test_atomic_fail_cleans_up),
	    KK_TEST(test_atomic_name_too_long),
	KK_CASE("episode", KK_TMPDIR, 0), KK_TEST(test_episode_new),
	    KK_TEST(test_episode_loads),
	KK_CASE("util", 0, 0), KK_TEST(test_mode_names),
	    KK_TEST(test_rfc3339), KK_TEST(test_close))
