/*
 * Audit timeline (common/audit.c): the hash chain as written, its
 * verification against changed, removed, inserted and reordered lines,
 * reopening, a torn last line, merged extra fields, and the refusal to
 * follow a symlink.  kk_sha256_hex (common/util.c) is checked against
 * the FIPS 180-2 vectors since the chain depends on it.
 *
 * Tests marked "Regression" failed against audit.c before commit 417634c;
 * the comment at each says what was wrong.
 *
 * Issue 8 (item 4): lines are capped and their text cleaned, the log
 * rotates with the chain running on across files, the tail is read from
 * the end (kk_audit_tail) and refusals are aggregated (kk_refusals).  The
 * field and rotation tests fail on the audit.c before that: it wrote any
 * line up to 16 KiB, refused longer ones and never rotated.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "kakuri.h"
#include "suites.h"
#include "testutil.h"

#define NEV		6
#define MAXLINES	256
#define FFFD		"\xef\xbf\xbd"
#define EP1		"0123456789abcdef0123456789abcdef"

/* A fresh directory for one test, and the log path inside it. */
static void
workdir(char dir[PATH_MAX], char log[PATH_MAX])
{
	kk_test_workdir(dir);
	kk_test_join(log, dir, "audit.log");
}

/* A log split into lines (without their newlines). */
struct lines {
	char *buf;
	size_t len;
	size_t n;
	size_t off[MAXLINES];
	size_t llen[MAXLINES];
};

static void
lines_split(struct lines *l)
{
	size_t i, start = 0;

	l->n = 0;
	for (i = 0; i < l->len; i++) {
		if (l->buf[i] != '\n')
			continue;
		ck_assert_uint_lt(l->n, MAXLINES);
		l->off[l->n] = start;
		l->llen[l->n] = i - start;
		l->n++;
		start = i + 1;
	}
	/* every line the module writes is terminated */
	ck_assert_uint_eq(start, l->len);
}

static void
lines_read(const char *path, struct lines *l)
{
	l->buf = kk_test_read(path, &l->len);
	lines_split(l);
}

static const char *
line(const struct lines *l, size_t i)
{
	return l->buf + l->off[i];
}

static void
line_hash(const struct lines *l, size_t i, char out[65])
{
	kk_sha256_hex(line(l, i), l->llen[i], out);
}

static json_t *
line_json(const struct lines *l, size_t i)
{
	json_error_t jerr;
	json_t *o;

	o = json_loadb(line(l, i), l->llen[i], JSON_REJECT_DUPLICATES, &jerr);
	ck_assert_msg(o != NULL, "line %zu is not JSON: %s", i + 1, jerr.text);
	ck_assert(json_is_object(o));
	return o;
}

static const char *
str_field(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	ck_assert_msg(json_is_string(v), "\"%s\" missing or not a string",
	    key);
	return json_string_value(v);
}

static long long
seq_of(const struct lines *l, size_t i)
{
	json_t *o = line_json(l, i), *v;
	long long seq;

	v = json_object_get(o, "seq");
	ck_assert(json_is_integer(v));
	seq = json_integer_value(v);
	json_decref(o);
	return seq;
}

static void
prev_of(const struct lines *l, size_t i, char out[65])
{
	json_t *o = line_json(l, i);
	const char *p = str_field(o, "prev");

	ck_assert_uint_eq(strlen(p), 64);
	strcpy(out, p);
	json_decref(o);
}

static const struct {
	const char *actor, *action, *result, *episode;
} events[NEV] = {
	{ "kakurid", "start", "ok", NULL },
	{ "uid=1000", "disconnect", "ok", EP1 },
	{ "csirt:alice", "isolate", "ok", EP1 },
	{ NULL, "tamper", "restored", EP1 },
	{ "uid=1001", "release", "refused: needs CSIRT signature", NULL },
	{ "csirt:alice", "release", "ok", EP1 },
};

static void
append_events(struct kk_audit *a, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		ck_assert_int_eq(kk_audit_append(a, events[i % NEV].actor,
		    events[i % NEV].action, events[i % NEV].result,
		    events[i % NEV].episode, NULL), 0);
}

/* A log of n events in a fresh directory; the file is read into *l. */
static void
make_log(char log[PATH_MAX], size_t n, struct lines *l)
{
	char dir[PATH_MAX];
	struct kk_audit a;

	workdir(dir, log);
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	append_events(&a, n);
	ck_assert_uint_eq(a.lines, n);
	kk_audit_close(&a);
	lines_read(log, l);
	ck_assert_uint_eq(l->n, n);
}

static void
assert_time(const char *t)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	size_t i;

	ck_assert_uint_eq(strlen(t), strlen(shape));
	for (i = 0; shape[i] != '\0'; i++) {
		if (shape[i] == 'd')
			ck_assert_msg(isdigit((unsigned char)t[i]),
			    "bad time %s", t);
		else
			ck_assert_int_eq(t[i], shape[i]);
	}
}

static int
verify_buf(const char *buf, size_t len, const char *first, size_t *bad)
{
	*bad = 12345;
	return kk_audit_verify(buf, len, first, bad);
}

/* A log of n events at log, by a kk_audit opened and closed for them. */
static void
log_events(const char *log, size_t n)
{
	struct kk_audit a;

	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	append_events(&a, n);
	kk_audit_close(&a);
}

/* Closes a and reads its log into l, which must have n lines. */
static void
close_read(struct kk_audit *a, const char *log, struct lines *l, size_t n)
{
	kk_audit_close(a);
	lines_read(log, l);
	ck_assert_uint_eq(l->n, n);
}

/* The whole of l is one chain from genesis; frees l. */
static void
assert_chain_free(struct lines *l)
{
	size_t bad;

	ck_assert_int_eq(verify_buf(l->buf, l->len, KK_AUDIT_GENESIS, &bad),
	    0);
	free(l->buf);
}

/* A log in buf that verification rejects at line want; frees buf. */
static void
assert_broken_free(char *buf, size_t len, size_t want)
{
	size_t bad;

	ck_assert_int_eq(verify_buf(buf, len, KK_AUDIT_GENESIS, &bad),
	    -EBADMSG);
	ck_assert_uint_eq(bad, want);
	free(buf);
}

/* ---- the chain as written ---- */

START_TEST(test_chain_written)
{
	char log[PATH_MAX], h[65];
	struct lines l;
	json_t *o, *v;
	size_t i;

	make_log(log, NEV, &l);
	for (i = 0; i < l.n; i++) {
		o = line_json(&l, i);
		ck_assert_uint_eq(json_object_size(o), 7);
		assert_time(str_field(o, "time"));
		v = json_object_get(o, "seq");
		ck_assert(json_is_integer(v));
		ck_assert_int_eq(json_integer_value(v), (json_int_t)i + 1);
		ck_assert_str_eq(str_field(o, "actor"),
		    events[i].actor ? events[i].actor : "");
		ck_assert_str_eq(str_field(o, "action"), events[i].action);
		ck_assert_str_eq(str_field(o, "result"),
		    events[i].result ? events[i].result : "");
		ck_assert_str_eq(str_field(o, "episode"),
		    events[i].episode ? events[i].episode : "");
		if (i == 0) {
			ck_assert_str_eq(str_field(o, "prev"),
			    KK_AUDIT_GENESIS);
		} else {
			line_hash(&l, i - 1, h);
			ck_assert_str_eq(str_field(o, "prev"), h);
		}
		json_decref(o);
	}
	free(l.buf);
}
END_TEST

/* The module's idea of the last line is the hash of the line on disk. */
START_TEST(test_chain_state)
{
	char dir[PATH_MAX], log[PATH_MAX], h[65], mine[65];
	struct kk_audit a;
	struct lines l;
	size_t i;

	workdir(dir, log);
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	ck_assert_uint_eq(a.lines, 0);
	append_events(&a, 3);
	lines_read(log, &l);
	line_hash(&l, 2, h);
	for (i = 0; i < 32; i++)
		snprintf(mine + 2 * i, 3, "%02x", a.last[i]);
	ck_assert_str_eq(mine, h);
	kk_audit_close(&a);
	ck_assert_int_eq(a.fd, -1);
	free(l.buf);
}
END_TEST

START_TEST(test_log_not_world_readable)
{
	char dir[PATH_MAX], log[PATH_MAX];

	workdir(dir, log);
	log_events(log, 1);
	ck_assert_uint_eq(kk_test_file_mode(log) & 077, 0);
}
END_TEST

START_TEST(test_append_after_close)
{
	char dir[PATH_MAX], log[PATH_MAX];
	struct kk_audit a;

	workdir(dir, log);
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	kk_audit_close(&a);
	ck_assert_int_eq(kk_audit_append(&a, "x", "y", "z", NULL, NULL),
	    -EBADF);
}
END_TEST

/* ---- verification ---- */

START_TEST(test_verify_whole)
{
	char log[PATH_MAX], first[65];
	struct lines l;
	size_t bad;

	make_log(log, NEV, &l);
	ck_assert_int_eq(verify_buf(l.buf, l.len, KK_AUDIT_GENESIS, &bad), 0);
	ck_assert_uint_eq(bad, 0);
	/* without the final newline */
	ck_assert_int_eq(verify_buf(l.buf, l.len - 1, KK_AUDIT_GENESIS,
	    &bad), 0);
	/* a tail of the log, anchored at its first line's prev */
	prev_of(&l, 2, first);
	ck_assert_int_eq(verify_buf(line(&l, 2), l.len - l.off[2], first,
	    &bad), 0);
	/* the same tail is not a whole log */
	ck_assert_int_eq(verify_buf(line(&l, 2), l.len - l.off[2],
	    KK_AUDIT_GENESIS, &bad), -EBADMSG);
	ck_assert_uint_eq(bad, 1);
	/* the empty log */
	ck_assert_int_eq(verify_buf("", 0, KK_AUDIT_GENESIS, &bad), 0);
	free(l.buf);
}
END_TEST

/* A copy of the log; *at is just after the first pat on line k (1-based). */
static char *
copy_log(const struct lines *l, size_t k, const char *pat, char **at)
{
	char *copy, *p;

	copy = malloc(l->len);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, l->buf, l->len);
	p = memmem(copy + l->off[k - 1], l->llen[k - 1], pat, strlen(pat));
	ck_assert_ptr_nonnull(p);
	*at = p + strlen(pat);
	return copy;
}

/*
 * One byte changed on line k (1-based): for the first NEV - 1 runs inside
 * the "action" value, where the line still parses and names the right
 * prev, so line k + 1 is the first bad one; for the next NEV inside prev,
 * which is caught on the line itself.
 */
START_TEST(test_verify_modified)
{
	char log[PATH_MAX], *copy, *p;
	struct lines l;
	bool prev = _i >= NEV - 1;
	size_t k = (size_t)(prev ? _i - (NEV - 1) : _i) + 1;

	make_log(log, NEV, &l);
	copy = copy_log(&l, k, prev ? "\"prev\":\"" : "\"action\":\"", &p);
	if (prev) {
		p += 17;	/* a hex digit inside the hash */
		*p = *p == '0' ? '1' : '0';
	} else {
		ck_assert(islower((unsigned char)*p));
		*p = (char)toupper((unsigned char)*p);
	}
	assert_broken_free(copy, l.len, prev ? k : k + 1);
	free(l.buf);
}
END_TEST

/*
 * Every single-byte change anywhere in lines 1..N-1 is caught, on the
 * changed line or the next one.
 */
START_TEST(test_verify_every_byte)
{
	char log[PATH_MAX], *copy;
	struct lines l;
	size_t k, j, pos, bad;

	make_log(log, 4, &l);
	copy = malloc(l.len);
	ck_assert_ptr_nonnull(copy);
	for (k = 0; k + 1 < l.n; k++) {
		for (j = 0; j < l.llen[k]; j++) {
			pos = l.off[k] + j;
			memcpy(copy, l.buf, l.len);
			copy[pos] ^= 0x01;
			ck_assert_int_eq(verify_buf(copy, l.len,
			    KK_AUDIT_GENESIS, &bad), -EBADMSG);
			ck_assert_msg(bad == k + 1 || bad == k + 2,
			    "byte %zu of line %zu: bad = %zu", j, k + 1, bad);
		}
	}
	free(copy);
	free(l.buf);
}
END_TEST

/* Builds a buffer from the lines in the order given by idx[]. */
static char *
reassemble(const struct lines *l, const size_t *idx, size_t n, size_t *len)
{
	char *out, *p;
	size_t i, total = 0;

	for (i = 0; i < n; i++)
		total += l->llen[idx[i]] + 1;
	out = malloc(total + 1);
	ck_assert_ptr_nonnull(out);
	p = out;
	for (i = 0; i < n; i++) {
		memcpy(p, line(l, idx[i]), l->llen[idx[i]]);
		p += l->llen[idx[i]];
		*p++ = '\n';
	}
	*len = total;
	return out;
}

/* Removing line k (1-based, not the last) breaks the chain at k. */
START_TEST(test_verify_deleted)
{
	char log[PATH_MAX], *buf;
	size_t k = (size_t)_i + 1, idx[NEV], n = 0, i, len;
	struct lines l;

	make_log(log, NEV, &l);
	for (i = 0; i < l.n; i++)
		if (i != k - 1)
			idx[n++] = i;
	buf = reassemble(&l, idx, n, &len);
	assert_broken_free(buf, len, k);
	free(l.buf);
}
END_TEST

/* Swapping lines k and k + 1 breaks the chain at k. */
START_TEST(test_verify_swapped)
{
	char log[PATH_MAX], *buf;
	size_t k = (size_t)_i + 1, idx[NEV], i, len;
	struct lines l;

	make_log(log, NEV, &l);
	for (i = 0; i < l.n; i++)
		idx[i] = i;
	idx[k - 1] = k;
	idx[k] = k - 1;
	buf = reassemble(&l, idx, l.n, &len);
	assert_broken_free(buf, len, k);
	free(l.buf);
}
END_TEST

/*
 * Insert a line so that it becomes line k (1-based).  A replayed copy of
 * an older line fails on itself; a forgery that links correctly to its
 * predecessor fails on the line after it.
 */
static char *
insert_line(const struct lines *l, size_t k, const char *ins, size_t *len)
{
	char *out, *p;
	size_t at = k - 1 < l->n ? l->off[k - 1] : l->len;
	size_t inslen = strlen(ins);

	out = malloc(l->len + inslen + 2);
	ck_assert_ptr_nonnull(out);
	p = out;
	memcpy(p, l->buf, at);
	p += at;
	memcpy(p, ins, inslen);
	p += inslen;
	*p++ = '\n';
	memcpy(p, l->buf + at, l->len - at);
	*len = l->len + inslen + 1;
	return out;
}

START_TEST(test_verify_inserted_copy)
{
	char log[PATH_MAX], *buf, copy[1024];
	size_t k = (size_t)_i + 1, len, src;
	struct lines l;

	make_log(log, NEV, &l);
	/* replay a line that does not link to line k - 1 */
	src = k >= 3 ? 0 : NEV - 1;
	ck_assert_uint_lt(l.llen[src], sizeof(copy));
	memcpy(copy, line(&l, src), l.llen[src]);
	copy[l.llen[src]] = '\0';
	buf = insert_line(&l, k, copy, &len);
	assert_broken_free(buf, len, k);
	free(l.buf);
}
END_TEST

START_TEST(test_verify_inserted_forgery)
{
	char log[PATH_MAX], *buf, forged[512], prev[65];
	size_t k = (size_t)_i + 1, len;
	struct lines l;

	make_log(log, NEV, &l);
	if (k == 1)
		strcpy(prev, KK_AUDIT_GENESIS);
	else
		line_hash(&l, k - 2, prev);
	ck_assert_int_lt(snprintf(forged, sizeof(forged),
	    "{\"time\":\"2026-01-01T00:00:00.000Z\",\"seq\":%zu,"
	    "\"actor\":\"mallory\",\"action\":\"release\",\"result\":\"ok\","
	    "\"episode\":\"" EP1 "\",\"prev\":\"%s\"}", k, prev),
	    (int)sizeof(forged));
	buf = insert_line(&l, k, forged, &len);
	assert_broken_free(buf, len, k + 1);
	free(l.buf);
}
END_TEST

static const char *const verify_bad[] = {
	"x\n",
	"\n",
	"[]\n",
	"{}\n",
	"{\"prev\":1}\n",
	"{\"prev\":\"" KK_AUDIT_GENESIS "0\"}\n",
	"{\"prev\":\"" KK_AUDIT_GENESIS "\",\"prev\":\"" KK_AUDIT_GENESIS
	    "\"}\n",
	"{\"prev\":\"" KK_AUDIT_GENESIS "\"",
};

/* Lines that are not chain entries at all are reported as line 1. */
START_TEST(test_verify_garbage)
{
	size_t bad;

	ck_assert_int_eq(verify_buf(verify_bad[_i], strlen(verify_bad[_i]),
	    KK_AUDIT_GENESIS, &bad), -EBADMSG);
	ck_assert_uint_eq(bad, 1);
}
END_TEST

/* A blank line in the middle of a log is named. */
START_TEST(test_verify_blank_line)
{
	char log[PATH_MAX], *buf;
	size_t len;
	struct lines l;

	make_log(log, NEV, &l);
	buf = insert_line(&l, 3, "", &len);
	assert_broken_free(buf, len, 3);
	free(l.buf);
}
END_TEST

/* ---- reopening ---- */

START_TEST(test_reopen_continues)
{
	char dir[PATH_MAX], log[PATH_MAX], h[65], p[65];
	struct kk_audit a;
	struct lines l;
	size_t round, i;

	workdir(dir, log);
	for (round = 0; round < 3; round++) {
		ck_assert_int_eq(kk_audit_open(&a, log), 0);
		ck_assert_uint_eq(a.lines, 2 * round);
		append_events(&a, 2);
		kk_audit_close(&a);
	}
	lines_read(log, &l);
	ck_assert_uint_eq(l.n, 6);
	for (i = 0; i < l.n; i++) {
		ck_assert_int_eq(seq_of(&l, i), (long long)i + 1);
		prev_of(&l, i, p);
		if (i == 0) {
			ck_assert_str_eq(p, KK_AUDIT_GENESIS);
		} else {
			line_hash(&l, i - 1, h);
			ck_assert_str_eq(p, h);
		}
	}
	assert_chain_free(&l);
}
END_TEST

/* An existing empty file starts a new chain. */
START_TEST(test_reopen_empty)
{
	char dir[PATH_MAX], log[PATH_MAX], p[65];
	struct lines l;

	workdir(dir, log);
	kk_test_write(log, "", 0, 0600);
	log_events(log, 1);
	lines_read(log, &l);
	ck_assert_uint_eq(l.n, 1);
	prev_of(&l, 0, p);
	ck_assert_str_eq(p, KK_AUDIT_GENESIS);
	ck_assert_int_eq(seq_of(&l, 0), 1);
	free(l.buf);
}
END_TEST

/* Cuts the file so that its last line keeps only `keep` bytes. */
static size_t
tear_last_line(const char *log, size_t n, size_t *torn_off)
{
	struct lines l;
	size_t keep;

	lines_read(log, &l);
	ck_assert_uint_eq(l.n, n);
	keep = l.llen[n - 1] / 2;
	*torn_off = l.off[n - 1];
	ck_assert_int_eq(truncate(log, (off_t)(l.off[n - 1] + keep)), 0);
	free(l.buf);
	return keep;
}

START_TEST(test_torn_last_line)
{
	char dir[PATH_MAX], log[PATH_MAX], h[65], p[65], *orig;
	size_t origlen, keep, torn_off, bad;
	struct lines l;

	workdir(dir, log);
	log_events(log, 4);
	orig = kk_test_read(log, &origlen);
	keep = tear_last_line(log, 4, &torn_off);

	log_events(log, 1);	/* kakurid start */

	lines_read(log, &l);
	ck_assert_uint_eq(l.n, 5);
	/* lines 1-3 untouched, the torn fragment kept as line 4 */
	ck_assert_uint_eq(l.off[3], torn_off);
	ck_assert_mem_eq(l.buf, orig, torn_off + keep);
	ck_assert_uint_eq(l.llen[3], keep);
	/* the new line links to the fragment */
	kk_sha256_hex(orig + torn_off, keep, h);
	prev_of(&l, 4, p);
	ck_assert_str_eq(p, h);
	/* verification names the torn line */
	ck_assert_int_eq(verify_buf(l.buf, l.len, KK_AUDIT_GENESIS, &bad),
	    -EBADMSG);
	ck_assert_uint_eq(bad, 4);
	/* before it and after it the chain holds */
	ck_assert_int_eq(verify_buf(l.buf, l.off[3], KK_AUDIT_GENESIS, &bad),
	    0);
	ck_assert_int_eq(verify_buf(line(&l, 4), l.len - l.off[4], h, &bad),
	    0);
	free(orig);
	free(l.buf);
}
END_TEST

/*
 * Regression (common/audit.c, load_tail()): a torn last line does not
 * parse; a->lines used to stay 0 and the next event was written with
 * "seq":1 again, so the timeline had duplicate sequence numbers.
 */
START_TEST(test_torn_last_line_seq)
{
	char dir[PATH_MAX], log[PATH_MAX];
	size_t torn_off;
	struct lines l;

	workdir(dir, log);
	log_events(log, 4);
	tear_last_line(log, 4, &torn_off);

	log_events(log, 1);	/* kakurid start */
	lines_read(log, &l);
	ck_assert_uint_eq(l.n, 5);
	ck_assert_int_eq(seq_of(&l, 2), 3);
	ck_assert_msg(seq_of(&l, 4) > 3,
	    "seq restarts at %lld after a torn last line", seq_of(&l, 4));
	free(l.buf);
}
END_TEST

/* Only the final newline is missing: the line is whole, nothing is lost. */
START_TEST(test_torn_newline_only)
{
	char dir[PATH_MAX], log[PATH_MAX];
	struct kk_audit a;
	struct lines l;
	size_t len, i;
	char *buf;

	workdir(dir, log);
	log_events(log, 3);
	buf = kk_test_read(log, &len);
	ck_assert_int_eq(truncate(log, (off_t)len - 1), 0);
	free(buf);

	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	ck_assert_uint_eq(a.lines, 3);
	append_events(&a, 1);
	close_read(&a, log, &l, 4);
	for (i = 0; i < l.n; i++)
		ck_assert_int_eq(seq_of(&l, i), (long long)i + 1);
	assert_chain_free(&l);
}
END_TEST

/* ---- extra fields ---- */

START_TEST(test_extra_merged)
{
	char dir[PATH_MAX], log[PATH_MAX], h[65];
	struct kk_audit a;
	struct lines l;
	json_t *extra, *o;

	workdir(dir, log);
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	append_events(&a, 1);
	extra = json_pack("{s:i, s:s, s:s, s:i, s:s, s:s, s:s}",
	    "pid", 4242, "reason", "C2 beacon",
	    "prev", KK_AUDIT_GENESIS, "seq", 999,
	    "action", "forged", "time", "1970-01-01T00:00:00.000Z",
	    "actor", "mallory");
	ck_assert_ptr_nonnull(extra);
	ck_assert_int_eq(kk_audit_append(&a, "uid=1000", "disconnect", "ok",
	    EP1, extra), 0);
	/* the caller still owns extra, unchanged */
	ck_assert_uint_eq(json_object_size(extra), 7);
	ck_assert_int_eq(json_integer_value(json_object_get(extra, "seq")),
	    999);
	json_decref(extra);

	close_read(&a, log, &l, 2);
	o = line_json(&l, 1);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "pid")), 4242);
	ck_assert_str_eq(str_field(o, "reason"), "C2 beacon");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "seq")), 2);
	line_hash(&l, 0, h);
	ck_assert_str_eq(str_field(o, "prev"), h);
	ck_assert_str_eq(str_field(o, "action"), "disconnect");
	ck_assert_str_eq(str_field(o, "actor"), "uid=1000");
	ck_assert_str_ne(str_field(o, "time"), "1970-01-01T00:00:00.000Z");
	ck_assert_uint_eq(json_object_size(o), 9);
	json_decref(o);
	assert_chain_free(&l);
}
END_TEST

/* Whatever the strings hold, an event stays one line and the chain holds. */
START_TEST(test_hostile_strings)
{
	char dir[PATH_MAX], log[PATH_MAX];
	struct kk_audit a;
	struct lines l;
	json_t *extra, *o;

	workdir(dir, log);
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	extra = json_pack("{s:s}", "note", "line\nbreak\r\"}\n{\"prev\":\"");
	ck_assert_ptr_nonnull(extra);
	ck_assert_int_eq(kk_audit_append(&a, "a\nb", "report",
	    "popup \xe6\x97\xa5\xe6\x9c\xac \u202e", NULL, extra), 0);
	json_decref(extra);
	append_events(&a, 1);
	close_read(&a, log, &l, 2);
	o = line_json(&l, 0);
	/* control characters are replaced, not escaped: kakurictl prints them */
	ck_assert_str_eq(str_field(o, "actor"), "a" FFFD "b");
	ck_assert_str_eq(str_field(o, "note"),
	    "line" FFFD "break" FFFD "\"}" FFFD "{\"prev\":\"");
	ck_assert_str_eq(str_field(o, "result"),
	    "popup \xe6\x97\xa5\xe6\x9c\xac " FFFD);
	json_decref(o);
	assert_chain_free(&l);
}
END_TEST

/* ---- size limits ---- */

static char *
repeat(const char *unit, size_t n)
{
	size_t ul = strlen(unit), i;
	char *s = malloc(ul * n + 1);

	ck_assert_ptr_nonnull(s);
	for (i = 0; i < n; i++)
		memcpy(s + i * ul, unit, ul);
	s[ul * n] = '\0';
	return s;
}

/*
 * A 16 KiB field (it used to be written whole, and a longer one refused):
 * cut to KK_AUDIT_FIELD_MAX bytes on a character boundary, the line under
 * KK_AUDIT_LINE_MAX, and the chain goes on.
 */
START_TEST(test_field_cut)
{
	static const char *const units[] = { "p", "\xe3\x81\x82",
		"x\xe3\x81\x82", "xy\xe3\x81\x82", "\xff" };
	char dir[PATH_MAX], log[PATH_MAX];
	const char *v;
	struct kk_audit a;
	struct lines l;
	json_t *extra, *o;
	char *big;
	size_t vl;

	workdir(dir, log);
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	append_events(&a, 1);
	big = repeat(units[_i], 16 * 1024 / strlen(units[_i]));
	extra = json_object();
	/* jansson refuses invalid UTF-8 in a JSON string: give it to actor */
	if (_i < 4)
		json_object_set_new(extra, "message", json_string(big));
	ck_assert_int_eq(kk_audit_append(&a, _i < 4 ? "uid=1" : big, "report",
	    "ok", NULL, extra), 0);
	json_decref(extra);
	append_events(&a, 1);
	close_read(&a, log, &l, 3);
	ck_assert_uint_le(l.llen[1], KK_AUDIT_LINE_MAX);
	o = line_json(&l, 1);
	v = str_field(o, _i < 4 ? "message" : "actor");
	vl = strlen(v);
	ck_assert_uint_le(vl, KK_AUDIT_FIELD_MAX);
	ck_assert_uint_ge(vl, KK_AUDIT_FIELD_MAX - 3);
	ck_assert_int_eq(kk_text_check(v, vl, NULL), 0);
	if (_i < 4)
		ck_assert(strncmp(v, big, vl) == 0);
	json_decref(o);
	assert_chain_free(&l);
	free(big);
}
END_TEST

/* Many fields, each under the field cap: the line still stays under its cap. */
START_TEST(test_line_capped)
{
	char dir[PATH_MAX], log[PATH_MAX], key[16];
	struct kk_audit a;
	struct lines l;
	json_t *extra, *o;
	char *val;
	size_t i;

	workdir(dir, log);
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	val = repeat("\xe3\x81\x82", 150);	/* 450 bytes, 900 escaped */
	extra = json_object();
	for (i = 0; i < 40; i++) {
		snprintf(key, sizeof(key), "f%zu", i);
		json_object_set_new(extra, key, json_string(val));
	}
	json_object_set_new(extra, "nested", json_pack("[[[[[[1]]]]]]"));
	ck_assert_int_eq(kk_audit_append(&a, "uid=1", "x", "ok", NULL, extra),
	    0);
	json_decref(extra);
	free(val);
	append_events(&a, 1);
	close_read(&a, log, &l, 2);
	ck_assert_uint_le(l.llen[0], KK_AUDIT_LINE_MAX);
	o = line_json(&l, 0);
	ck_assert_str_eq(str_field(o, "action"), "x");
	json_decref(o);
	assert_chain_free(&l);
}
END_TEST

/*
 * Regression (common/audit.c, load_tail(): `want` and the -EFBIG test):
 * a log written by an older version may end in a line of 16 KiB; the
 * daemon must still reopen it and go on from it.
 */
START_TEST(test_reopen_long_line)
{
	char dir[PATH_MAX], log[PATH_MAX], h[65], mine[65];
	struct kk_audit a;
	struct lines l;
	char *line, *pad;
	size_t i;
	int n;

	workdir(dir, log);
	pad = repeat("p", 16 * 1024 - 150 + (size_t)_i);
	line = malloc(16 * 1024 + 64);
	ck_assert_ptr_nonnull(line);
	n = snprintf(line, 16 * 1024 + 64, "{\"time\":\"2026-01-01T00:00:00.000Z\","
	    "\"seq\":1,\"actor\":\"\",\"action\":\"pad\",\"result\":\"\","
	    "\"episode\":\"\",\"pad\":\"%s\",\"prev\":\"%s\"}\n", pad,
	    KK_AUDIT_GENESIS);
	ck_assert_int_gt(n, 16 * 1024 - 10);
	kk_test_write(log, line, (size_t)n, 0600);
	kk_sha256_hex(line, (size_t)n - 1, h);
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	ck_assert_uint_eq(a.lines, 1);
	for (i = 0; i < 32; i++)
		snprintf(mine + 2 * i, 3, "%02x", a.last[i]);
	ck_assert_str_eq(mine, h);
	append_events(&a, 1);
	kk_audit_close(&a);
	lines_read(log, &l);
	assert_chain_free(&l);
	free(line);
	free(pad);
}
END_TEST

/* ---- rotation ---- */

/* path, path.1 ... path.keep concatenated, oldest first. */
static void
read_rotated(const char *log, unsigned keep, struct lines *l,
    size_t *files)
{
	char name[PATH_MAX + 16];
	char *part;
	size_t len, total = 0;
	unsigned i;

	l->buf = calloc(1, 1);
	*files = 0;
	for (i = keep + 1; i > 0; i--) {
		if (i == 1)
			snprintf(name, sizeof(name), "%s", log);
		else
			snprintf(name, sizeof(name), "%s.%u", log, i - 1);
		if (access(name, F_OK) != 0)
			continue;
		(*files)++;
		part = kk_test_read(name, &len);
		l->buf = realloc(l->buf, total + len + 1);
		ck_assert_ptr_nonnull(l->buf);
		memcpy(l->buf + total, part, len);
		total += len;
		free(part);
	}
	l->len = total;
	lines_split(l);
}

START_TEST(test_rotate_chain)
{
	char dir[PATH_MAX], log[PATH_MAX], name[PATH_MAX + 16], first[65];
	char h[65];
	struct kk_audit a;
	struct lines l, cur;
	struct stat st;
	size_t files, bad, i;
	json_t *o;

	workdir(dir, log);
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	kk_audit_set_limits(&a, 2000, 2);
	append_events(&a, 60);
	kk_audit_close(&a);
	/* at most keep rotated files, none past them, each near the limit */
	snprintf(name, sizeof(name), "%s.3", log);
	ck_assert_int_eq(access(name, F_OK), -1);
	for (i = 1; i <= 2; i++) {
		snprintf(name, sizeof(name), "%s.%zu", log, i);
		ck_assert_int_eq(stat(name, &st), 0);
		ck_assert_int_le(st.st_size, 2000);
		ck_assert_int_gt(st.st_size, 1000);
	}
	read_rotated(log, 2, &l, &files);
	ck_assert_uint_eq(files, 3);
	/* one chain through the files, from the oldest kept line */
	prev_of(&l, 0, first);
	ck_assert_int_eq(verify_buf(l.buf, l.len, first, &bad), 0);
	/* sequence numbers run on: the last one counts every line */
	ck_assert_int_eq(seq_of(&l, l.n - 1), (long long)a.lines);
	for (i = 1; i < l.n; i++)
		ck_assert_int_eq(seq_of(&l, i), seq_of(&l, i - 1) + 1);
	/* the current file starts with the mark, chained to audit.log.1 */
	lines_read(log, &cur);
	o = line_json(&cur, 0);
	ck_assert_str_eq(str_field(o, "action"), "audit-rotate");
	ck_assert_str_eq(str_field(o, "from"), "audit.log.1");
	for (i = 0; i < l.n && strncmp(line(&l, i), line(&cur, 0),
	    cur.llen[0]) != 0; i++)
		;
	ck_assert_uint_lt(i, l.n);
	ck_assert_uint_gt(i, 0);
	line_hash(&l, i - 1, h);
	ck_assert_str_eq(str_field(o, "prev"), h);
	json_decref(o);
	free(cur.buf);
	free(l.buf);
}
END_TEST

/* Reopened, or after a crash between the renames: the chain goes on. */
START_TEST(test_rotate_reopen)
{
	char dir[PATH_MAX], log[PATH_MAX], name[PATH_MAX + 16], first[65];
	struct kk_audit a;
	struct lines l;
	size_t files, bad;
	unsigned long lines;
	int i;

	workdir(dir, log);
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	kk_audit_set_limits(&a, 1500, 3);
	append_events(&a, 20);
	lines = a.lines;
	kk_audit_close(&a);
	if (_i == 1) {
		/* crashed after PATH -> PATH.1, before the fresh PATH */
		snprintf(name, sizeof(name), "%s.4", log);
		ck_assert_int_eq(access(name, F_OK), -1);
		for (i = 3; i >= 1; i--) {
			char from[PATH_MAX + 16], to[PATH_MAX + 16];

			snprintf(from, sizeof(from), "%s.%d", log, i);
			snprintf(to, sizeof(to), "%s.%d", log, i + 1);
			if (i < 3)
				rename(from, to);
			else
				unlink(from);
		}
		snprintf(name, sizeof(name), "%s.1", log);
		ck_assert_int_eq(rename(log, name), 0);
		snprintf(name, sizeof(name), "%s.new", log);
		kk_test_write(name, "", 0, 0600);
	}
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	ck_assert_uint_eq(a.lines, lines);
	kk_audit_set_limits(&a, 1500, 3);
	append_events(&a, 3);
	kk_audit_close(&a);
	snprintf(name, sizeof(name), "%s.new", log);
	ck_assert_int_eq(access(name, F_OK), -1);
	read_rotated(log, 3, &l, &files);
	prev_of(&l, 0, first);
	ck_assert_int_eq(verify_buf(l.buf, l.len, first, &bad), 0);
	ck_assert_int_eq(seq_of(&l, l.n - 1), (long long)lines + 3);
	free(l.buf);
}
END_TEST

/* ---- the tail ---- */

/* The whole tail as one buffer. */
static char *
tail_slurp(struct kk_audit_tail *t, size_t *len)
{
	char *buf = malloc(t->bytes + 1);
	size_t have = 0;
	ssize_t n;

	ck_assert_ptr_nonnull(buf);
	/* small reads, as the control socket makes them */
	while ((n = kk_audit_tail_read(t, buf + have, 100)) > 0)
		have += (size_t)n;
	ck_assert_int_eq(n, 0);
	ck_assert_uint_eq(have, t->bytes);
	buf[have] = '\0';
	*len = have;
	return buf;
}

static void
head_of(const struct kk_audit *a, char out[65])
{
	size_t i;

	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", a->last[i]);
}

START_TEST(test_tail_lines)
{
	static const unsigned long want[] = { 10, 1, 0, 100, 500 };
	char dir[PATH_MAX], log[PATH_MAX], h[65];
	struct kk_audit a;
	struct kk_audit_tail t;
	struct lines l;
	size_t len, bad, n = want[_i] == 0 || want[_i] > 100 ? 100 : want[_i];
	char *buf;

	workdir(dir, log);
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	append_events(&a, 100);
	lines_read(log, &l);
	ck_assert_int_eq(kk_audit_tail_open(&a, want[_i], 0, &t), 0);
	buf = tail_slurp(&t, &len);
	ck_assert_uint_eq(len, l.len - l.off[100 - n]);
	ck_assert(memcmp(buf, l.buf + l.off[100 - n], len) == 0);
	ck_assert_uint_eq(t.first_seq, 100 - n + 1);
	if (n == 100) {
		ck_assert_str_eq(t.anchor, "genesis");
		ck_assert_str_eq(t.first_prev, KK_AUDIT_GENESIS);
		ck_assert(!t.truncated);
	} else {
		ck_assert_str_eq(t.anchor, "line");
		line_hash(&l, 100 - n - 1, h);
		ck_assert_str_eq(t.first_prev, h);
		ck_assert(t.truncated);
	}
	ck_assert_int_eq(verify_buf(buf, len, t.first_prev, &bad), 0);
	head_of(&a, h);
	ck_assert_str_eq(t.head, h);
	kk_audit_tail_close(&t);
	kk_audit_close(&a);
	free(buf);
	free(l.buf);
}
END_TEST

/* A tail across rotated files verifies as one chain up to head. */
START_TEST(test_tail_rotated)
{
	static const unsigned long want[] = { 0, 3, 10, 1000 };
	char dir[PATH_MAX], log[PATH_MAX], h[65], lasth[65];
	struct kk_audit a;
	struct kk_audit_tail t;
	struct lines all, got;
	size_t len, bad, files, n;

	workdir(dir, log);
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	kk_audit_set_limits(&a, 1500, 3);
	append_events(&a, 80);
	read_rotated(log, 3, &all, &files);
	ck_assert_uint_eq(files, 4);
	ck_assert_int_eq(kk_audit_tail_open(&a, want[_i], 0, &t), 0);
	got.buf = tail_slurp(&t, &len);
	got.len = len;
	lines_split(&got);
	n = want[_i] == 0 || want[_i] > all.n ? all.n : want[_i];
	ck_assert_uint_gt(all.n, 10);
	ck_assert_uint_eq(got.n, n);
	/* the tail is the end of everything that is kept */
	ck_assert(memcmp(got.buf, all.buf + all.len - len, len) == 0);
	ck_assert_int_eq(verify_buf(got.buf, len, t.first_prev, &bad), 0);
	line_hash(&got, got.n - 1, lasth);
	head_of(&a, h);
	ck_assert_str_eq(lasth, h);
	/* the oldest files are gone: the first kept line anchors itself */
	ck_assert_str_eq(t.anchor, n == all.n ? "rotated" : "line");
	ck_assert(t.truncated);
	ck_assert_uint_eq(t.first_seq, a.lines - got.n + 1);
	kk_audit_tail_close(&t);
	kk_audit_close(&a);
	free(got.buf);
	free(all.buf);
}
END_TEST

/* A log written by hand, line i at 2026-03-01 + i * step s, chained like kakurid's. */
#define T_MARCH	1772323200	/* 2026-03-01T00:00:00Z */
static void
timed_log(const char *log, size_t n, long step, size_t *offs)
{
	char line[256], when[32], prev[65] = KK_AUDIT_GENESIS;
	size_t i, total = 0;
	struct tm tm;
	time_t t;
	int len;
	FILE *f = fopen(log, "w");

	ck_assert_ptr_nonnull(f);
	for (i = 0; i < n; i++) {
		t = T_MARCH + (time_t)i * step;
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
		len = snprintf(line, sizeof(line), "{\"time\":\"%s\",\"seq\":%zu,"
		    "\"actor\":\"\",\"action\":\"t\",\"result\":\"\","
		    "\"episode\":\"\",\"prev\":\"%s\"}", when, i + 1, prev);
		if (offs != NULL)
			offs[i] = total;
		fprintf(f, "%s\n", line);
		total += (size_t)len + 1;
		kk_sha256_hex(line, (size_t)len, prev);
	}
	fclose(f);
	chmod(log, 0600);
}

START_TEST(test_tail_since)
{
	char dir[PATH_MAX], log[PATH_MAX];
	struct kk_audit a;
	struct kk_audit_tail t;
	size_t offs[10], len, bad;
	time_t since = T_MARCH + 6 * 3600;
	char *buf;

	workdir(dir, log);
	timed_log(log, 10, 3600, offs);
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	/* 06:00 and later: lines 7..10 */
	ck_assert_int_eq(kk_audit_tail_open(&a, 0, since, &t), 0);
	buf = tail_slurp(&t, &len);
	ck_assert_uint_eq(t.first_seq, 7);
	ck_assert_uint_eq(len, (size_t)a.size - offs[6]);
	ck_assert_int_eq(verify_buf(buf, len, t.first_prev, &bad), 0);
	free(buf);
	kk_audit_tail_close(&t);
	/* and at most 2 of them */
	ck_assert_int_eq(kk_audit_tail_open(&a, 2, since, &t), 0);
	buf = tail_slurp(&t, &len);
	ck_assert_uint_eq(t.first_seq, 9);
	free(buf);
	kk_audit_tail_close(&t);
	/* after the last line: nothing, anchored at the end */
	since += 86400;
	ck_assert_int_eq(kk_audit_tail_open(&a, 0, since, &t), 0);
	ck_assert_uint_eq(t.bytes, 0);
	kk_audit_tail_close(&t);
	kk_audit_close(&a);
}
END_TEST

/*
 * --since alone over a log larger than a read: found by bisection, at
 * every kind of place (the first line, the middle, the last, after it).
 */
START_TEST(test_tail_since_bisect)
{
	static const long at[] = { 0, 1, 2, 1234, 2499, 2500, 4998, 4999,
		5000, 9999 };
	char dir[PATH_MAX], log[PATH_MAX];
	struct kk_audit a;
	struct kk_audit_tail t;
	size_t len, bad;
	char *buf;
	size_t i;

	workdir(dir, log);
	timed_log(log, 5000, 1, NULL);
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	ck_assert_int_gt(a.size, 4 * 65536);
	for (i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		ck_assert_int_eq(kk_audit_tail_open(&a, 0, T_MARCH + at[i], &t),
		    0);
		buf = tail_slurp(&t, &len);
		if (at[i] >= 5000) {
			ck_assert_uint_eq(len, 0);
		} else {
			ck_assert_msg(t.first_seq == (unsigned long long)at[i] + 1,
			    "since +%ld: first line %llu", at[i], t.first_seq);
			ck_assert_int_eq(verify_buf(buf, len, t.first_prev,
			    &bad), 0);
			ck_assert_str_eq(t.anchor, at[i] == 0 ? "genesis" :
			    "line");
		}
		free(buf);
		kk_audit_tail_close(&t);
	}
	kk_audit_close(&a);
}
END_TEST

START_TEST(test_tail_empty)
{
	char dir[PATH_MAX], log[PATH_MAX];
	struct kk_audit a;
	struct kk_audit_tail t;

	workdir(dir, log);
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	kk_audit_set_limits(&a, 1500, 3);
	ck_assert_int_eq(kk_audit_tail_open(&a, 10, 0, &t), 0);
	ck_assert_uint_eq(t.bytes, 0);
	ck_assert_str_eq(t.anchor, "genesis");
	ck_assert_str_eq(t.head, KK_AUDIT_GENESIS);
	kk_audit_tail_close(&t);
	kk_audit_close(&a);
}
END_TEST

/* ---- refusals ---- */

START_TEST(test_refusals_budget)
{
	struct kk_refusals r;
	json_t *o, *u;
	int i, full = 0;

	kk_refusals_init(&r);
	for (i = 0; i < 1000; i++)
		full += kk_refusals_note(&r, 65534, i % 2 ? "busy" :
		    "malformed", true);
	ck_assert_int_eq(full, KK_REFUSAL_DETAILED);
	/* another uid has a budget of its own */
	ck_assert(kk_refusals_note(&r, 1000, "not-authorized", true));
	o = kk_refusals_summary(&r);
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "refused")), 1001);
	ck_assert_int_eq(json_integer_value(json_object_get(o,
	    "not_recorded")), 1000 - KK_REFUSAL_DETAILED);
	u = json_array_get(json_object_get(o, "uids"), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(u, "uid")), 65534);
	ck_assert_int_eq(json_integer_value(json_object_get(u, "count")), 1000);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(u,
	    "reasons"), "busy")), 500);
	json_decref(o);
	/* a fresh interval, a fresh budget; nothing to summarise */
	ck_assert(kk_refusals_note(&r, 65534, "busy", true));
	ck_assert_ptr_null(kk_refusals_summary(&r));
}
END_TEST

/* Many uids: the table is bounded, and so is the summary line. */
START_TEST(test_refusals_many_uids)
{
	char dir[PATH_MAX], log[PATH_MAX];
	struct kk_refusals r;
	struct kk_audit a;
	struct lines l;
	json_t *o;
	uid_t uid;

	kk_refusals_init(&r);
	for (uid = 1000; uid < 1200; uid++) {
		kk_refusals_note(&r, uid, "a", true);
		kk_refusals_note(&r, uid, "b", true);
		kk_refusals_note(&r, uid, "c", true);
		kk_refusals_note(&r, uid, "d", true);
	}
	o = kk_refusals_summary(&r);
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "refused")), 800);
	ck_assert_uint_le(json_array_size(json_object_get(o, "uids")), 8);
	ck_assert_int_gt(json_integer_value(json_object_get(o, "other_uids")),
	    0);
	workdir(dir, log);
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	ck_assert_int_eq(kk_audit_append(&a, "kakurid", "refusals", "summary",
	    NULL, o), 0);
	kk_audit_close(&a);
	json_decref(o);
	lines_read(log, &l);
	o = line_json(&l, 0);
	ck_assert_ptr_null(json_object_get(o, "cut"));
	ck_assert_ptr_nonnull(json_object_get(o, "uids"));
	json_decref(o);
	free(l.buf);
}
END_TEST

/*
 * All uids together: a user with subordinate uids records no more lines
 * in full than KK_REFUSAL_DETAILED_ALL an interval (32 uids wrote 96).
 */
START_TEST(test_refusals_budget_of_all)
{
	struct kk_refusals r;
	json_t *o;
	uid_t uid;
	int full = 0;

	kk_refusals_init(&r);
	for (uid = 100000; uid < 100000 + KK_REFUSAL_UIDS; uid++) {
		full += kk_refusals_note(&r, uid, "malformed", true);
		full += kk_refusals_note(&r, uid, "malformed", true);
		full += kk_refusals_note(&r, uid, "busy", true);
	}
	ck_assert_int_eq(full, KK_REFUSAL_DETAILED_ALL);
	ck_assert(KK_REFUSAL_DETAILED_ALL < KK_REFUSAL_UIDS *
	    KK_REFUSAL_DETAILED);
	ck_assert(!kk_refusals_note(&r, 4242424, "busy", true));
	/*
	 * Root and staff keep lines of their own, whatever the others did:
	 * the budget of all and the uids' table are not theirs to fill.
	 */
	for (uid = 0; uid < 3; uid++) {
		ck_assert(kk_refusals_note(&r, 0, "busy", false));
		ck_assert(kk_refusals_note(&r, 4242, "busy", false));
	}
	ck_assert(!kk_refusals_note(&r, 0, "busy", false));
	o = kk_refusals_summary(&r);
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "refused")),
	    3 * KK_REFUSAL_UIDS + 1 + 7);
	ck_assert_int_eq(json_integer_value(json_object_get(o,
	    "not_recorded")), 3 * KK_REFUSAL_UIDS + 1 -
	    KK_REFUSAL_DETAILED_ALL + 1);
	json_decref(o);
	/* the next interval has the whole budget again */
	ck_assert(kk_refusals_note(&r, 100000 + KK_REFUSAL_UIDS - 1, "busy", true));
	kk_refusals_init(&r);
}
END_TEST

/*
 * A flood kept up: each interval twice the one before, up to ten
 * minutes; a quiet one starts again at the first length.
 */
START_TEST(test_refusal_interval_backs_off)
{
	uint64_t iv = KK_REFUSAL_INTERVAL_USEC, seen[16];
	int i;

	for (i = 0; i < 16; i++) {
		seen[i] = iv;
		iv = kk_refusal_interval_next(iv, true);
	}
	ck_assert_uint_eq(seen[0], KK_REFUSAL_INTERVAL_USEC);
	ck_assert_uint_eq(seen[1], 2 * KK_REFUSAL_INTERVAL_USEC);
	ck_assert_uint_eq(seen[2], 4 * KK_REFUSAL_INTERVAL_USEC);
	for (i = 1; i < 16; i++)
		ck_assert(seen[i] >= seen[i - 1] &&
		    seen[i] <= KK_REFUSAL_INTERVAL_MAX_USEC);
	ck_assert_uint_eq(seen[15], KK_REFUSAL_INTERVAL_MAX_USEC);
	/* what that flood writes a day, in lines: a few hundred */
	ck_assert_uint_le(86400ULL * 1000000ULL / KK_REFUSAL_INTERVAL_MAX_USEC *
	    (KK_REFUSAL_DETAILED_ALL + 2), 4000);
	ck_assert_uint_eq(kk_refusal_interval_next(iv, false),
	    KK_REFUSAL_INTERVAL_USEC);
	ck_assert_uint_eq(kk_refusal_interval_next(0, true),
	    KK_REFUSAL_INTERVAL_USEC);
}
END_TEST

/* ---- the file itself ---- */

START_TEST(test_symlink_refused)
{
	char dir[PATH_MAX], log[PATH_MAX], target[PATH_MAX], *buf;
	struct kk_audit a;
	struct stat st;
	size_t len;

	workdir(dir, log);
	kk_test_join(target, dir, "target");
	kk_test_write(target, "precious\n", 9, 0600);
	ck_assert_int_eq(symlink(target, log), 0);
	ck_assert_int_eq(kk_audit_open(&a, log), -ELOOP);
	buf = kk_test_read(target, &len);
	ck_assert_uint_eq(len, 9);
	ck_assert_mem_eq(buf, "precious\n", 9);
	free(buf);

	/* a dangling link creates nothing */
	ck_assert_int_eq(unlink(target), 0);
	ck_assert_int_lt(kk_audit_open(&a, log), 0);
	ck_assert_int_eq(lstat(target, &st), -1);
}
END_TEST

/* ---- kk_sha256_hex ---- */

START_TEST(test_sha256_kat)
{
	char out[65], *mil;

	kk_sha256_hex("abc", 3, out);
	ck_assert_str_eq(out, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
	kk_sha256_hex("", 0, out);
	ck_assert_str_eq(out, "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855");
	kk_sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	    56, out);
	ck_assert_str_eq(out, "248d6a61d20638b8e5c026930c3e6039"
	    "a33ce45964ff2167f6ecedd419db06c1");
	mil = malloc(1000000);
	ck_assert_ptr_nonnull(mil);
	memset(mil, 'a', 1000000);
	kk_sha256_hex(mil, 1000000, out);
	ck_assert_str_eq(out, "cdc76e5c9914fb9281a1c7e284d73e67"
	    "f1809a48a497200e046d39ccc7112cd0");
	free(mil);
}
END_TEST

KK_SUITE(audit_suite, "audit",
	KK_CASE("chain", KK_TMPDIR, 0), KK_TEST(test_chain_written),
	    KK_TEST(test_chain_state),
	    KK_TEST(test_log_not_world_readable),
	    KK_TEST(test_append_after_close),
	    KK_TEST(test_extra_merged), KK_TEST(test_hostile_strings),
	KK_CASE("verify", KK_TMPDIR, 30), KK_TEST(test_verify_whole),
	    KK_LOOP(test_verify_modified, 2 * NEV - 1),
	    KK_TEST(test_verify_every_byte),
	    KK_LOOP(test_verify_deleted, NEV - 1),
	    KK_LOOP(test_verify_swapped, NEV - 1),
	    KK_LOOP(test_verify_inserted_copy, NEV),
	    KK_LOOP(test_verify_inserted_forgery, NEV),
	    KK_LOOP(test_verify_garbage, KK_NITEMS(verify_bad)),
	    KK_TEST(test_verify_blank_line),
	KK_CASE("reopen", KK_TMPDIR, 0), KK_TEST(test_reopen_continues),
	    KK_TEST(test_reopen_empty), KK_TEST(test_torn_last_line),
	    KK_TEST(test_torn_last_line_seq),
	    KK_TEST(test_torn_newline_only),
	    KK_LOOP(test_reopen_long_line, 2),
	    KK_TEST(test_symlink_refused),
	KK_CASE("limits", KK_TMPDIR, 0), KK_LOOP(test_field_cut, 5),
	    KK_TEST(test_line_capped), KK_TEST(test_rotate_chain),
	    KK_LOOP(test_rotate_reopen, 2),
	KK_CASE("tail", KK_TMPDIR, 0), KK_LOOP(test_tail_lines, 5),
	    KK_LOOP(test_tail_rotated, 4), KK_TEST(test_tail_since),
	    KK_TEST(test_tail_since_bisect), KK_TEST(test_tail_empty),
	KK_CASE("refusals", KK_TMPDIR, 0),
	    KK_TEST(test_refusals_budget),
	    KK_TEST(test_refusals_many_uids),
	    KK_TEST(test_refusals_budget_of_all),
	    KK_TEST(test_refusal_interval_backs_off),
	KK_CASE("sha256", 0, 0), KK_TEST(test_sha256_kat))
