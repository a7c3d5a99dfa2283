/*
 * Audit timeline (agentd/audit.c): the hash chain as written, its
 * verification against changed, removed, inserted and reordered lines,
 * reopening, a torn last line, merged extra fields, and the refusal to
 * follow a symlink.  kk_sha256_hex (agentd/util.c) is checked against
 * the FIPS 180-2 vectors since the chain depends on it.
 *
 * Tests marked "Regression" failed against audit.c before commit 417634c;
 * the comment at each says what was wrong.
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

/* Same value as the private limit in audit.c. */
#define AUDIT_LINE_MAX	(16 * 1024)
#define NEV		6
#define MAXLINES	64
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
	struct kk_audit a;
	struct stat st;

	workdir(dir, log);
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	append_events(&a, 1);
	kk_audit_close(&a);
	ck_assert_int_eq(lstat(log, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 077, 0);
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
 * Change one byte inside the "action" value of line k (1-based): the line
 * still parses and names the right prev, so line k + 1 is the first bad one.
 */
START_TEST(test_verify_modified)
{
	char log[PATH_MAX], *copy, *p;
	struct lines l;
	size_t k = (size_t)_i + 1, bad;

	make_log(log, NEV, &l);
	copy = copy_log(&l, k, "\"action\":\"", &p);
	ck_assert(islower((unsigned char)*p));
	*p = (char)toupper((unsigned char)*p);
	ck_assert_int_eq(verify_buf(copy, l.len, KK_AUDIT_GENESIS, &bad),
	    -EBADMSG);
	ck_assert_uint_eq(bad, k + 1);
	free(copy);
	free(l.buf);
}
END_TEST

/* A changed prev is caught on the line itself. */
START_TEST(test_verify_modified_prev)
{
	char log[PATH_MAX], *copy, *p;
	struct lines l;
	size_t k = (size_t)_i + 1, bad;

	make_log(log, NEV, &l);
	copy = copy_log(&l, k, "\"prev\":\"", &p);
	p += 17;		/* a hex digit inside the hash */
	*p = *p == '0' ? '1' : '0';
	ck_assert_int_eq(verify_buf(copy, l.len, KK_AUDIT_GENESIS, &bad),
	    -EBADMSG);
	ck_assert_uint_eq(bad, k);
	free(copy);
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
	size_t k = (size_t)_i + 1, idx[NEV], n = 0, i, len, bad;
	struct lines l;

	make_log(log, NEV, &l);
	for (i = 0; i < l.n; i++)
		if (i != k - 1)
			idx[n++] = i;
	buf = reassemble(&l, idx, n, &len);
	ck_assert_int_eq(verify_buf(buf, len, KK_AUDIT_GENESIS, &bad),
	    -EBADMSG);
	ck_assert_uint_eq(bad, k);
	free(buf);
	free(l.buf);
}
END_TEST

/* Swapping lines k and k + 1 breaks the chain at k. */
START_TEST(test_verify_swapped)
{
	char log[PATH_MAX], *buf;
	size_t k = (size_t)_i + 1, idx[NEV], i, len, bad;
	struct lines l;

	make_log(log, NEV, &l);
	for (i = 0; i < l.n; i++)
		idx[i] = i;
	idx[k - 1] = k;
	idx[k] = k - 1;
	buf = reassemble(&l, idx, l.n, &len);
	ck_assert_int_eq(verify_buf(buf, len, KK_AUDIT_GENESIS, &bad),
	    -EBADMSG);
	ck_assert_uint_eq(bad, k);
	free(buf);
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
	size_t k = (size_t)_i + 1, len, bad, src;
	struct lines l;

	make_log(log, NEV, &l);
	/* replay a line that does not link to line k - 1 */
	src = k >= 3 ? 0 : NEV - 1;
	ck_assert_uint_lt(l.llen[src], sizeof(copy));
	memcpy(copy, line(&l, src), l.llen[src]);
	copy[l.llen[src]] = '\0';
	buf = insert_line(&l, k, copy, &len);
	ck_assert_int_eq(verify_buf(buf, len, KK_AUDIT_GENESIS, &bad),
	    -EBADMSG);
	ck_assert_uint_eq(bad, k);
	free(buf);
	free(l.buf);
}
END_TEST

START_TEST(test_verify_inserted_forgery)
{
	char log[PATH_MAX], *buf, forged[512], prev[65];
	size_t k = (size_t)_i + 1, len, bad;
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
	ck_assert_int_eq(verify_buf(buf, len, KK_AUDIT_GENESIS, &bad),
	    -EBADMSG);
	ck_assert_uint_eq(bad, k + 1);
	free(buf);
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
	size_t len, bad;
	struct lines l;

	make_log(log, NEV, &l);
	buf = insert_line(&l, 3, "", &len);
	ck_assert_int_eq(verify_buf(buf, len, KK_AUDIT_GENESIS, &bad),
	    -EBADMSG);
	ck_assert_uint_eq(bad, 3);
	free(buf);
	free(l.buf);
}
END_TEST

/* ---- reopening ---- */

START_TEST(test_reopen_continues)
{
	char dir[PATH_MAX], log[PATH_MAX], h[65], p[65];
	struct kk_audit a;
	struct lines l;
	size_t bad, round, i;

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
	ck_assert_int_eq(verify_buf(l.buf, l.len, KK_AUDIT_GENESIS, &bad), 0);
	free(l.buf);
}
END_TEST

/* An existing empty file starts a new chain. */
START_TEST(test_reopen_empty)
{
	char dir[PATH_MAX], log[PATH_MAX], p[65];
	struct kk_audit a;
	struct lines l;

	workdir(dir, log);
	kk_test_write(log, "", 0, 0600);
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	append_events(&a, 1);
	kk_audit_close(&a);
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
	struct kk_audit a;
	struct lines l;

	workdir(dir, log);
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	append_events(&a, 4);
	kk_audit_close(&a);
	orig = kk_test_read(log, &origlen);
	keep = tear_last_line(log, 4, &torn_off);

	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	ck_assert_int_eq(kk_audit_append(&a, "kakurid", "start", "ok", NULL,
	    NULL), 0);
	kk_audit_close(&a);

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
 * Regression (agentd/audit.c, load_tail()): a torn last line does not
 * parse; a->lines used to stay 0 and the next event was written with
 * "seq":1 again, so the timeline had duplicate sequence numbers.
 */
START_TEST(test_torn_last_line_seq)
{
	char dir[PATH_MAX], log[PATH_MAX];
	size_t torn_off;
	struct kk_audit a;
	struct lines l;

	workdir(dir, log);
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	append_events(&a, 4);
	kk_audit_close(&a);
	tear_last_line(log, 4, &torn_off);

	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	ck_assert_int_eq(kk_audit_append(&a, "kakurid", "start", "ok", NULL,
	    NULL), 0);
	kk_audit_close(&a);
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
	size_t len, bad, i;
	char *buf;

	workdir(dir, log);
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	append_events(&a, 3);
	kk_audit_close(&a);
	buf = kk_test_read(log, &len);
	ck_assert_int_eq(truncate(log, (off_t)len - 1), 0);
	free(buf);

	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	ck_assert_uint_eq(a.lines, 3);
	append_events(&a, 1);
	kk_audit_close(&a);
	lines_read(log, &l);
	ck_assert_uint_eq(l.n, 4);
	for (i = 0; i < l.n; i++)
		ck_assert_int_eq(seq_of(&l, i), (long long)i + 1);
	ck_assert_int_eq(verify_buf(l.buf, l.len, KK_AUDIT_GENESIS, &bad), 0);
	free(l.buf);
}
END_TEST

/* ---- extra fields ---- */

START_TEST(test_extra_merged)
{
	char dir[PATH_MAX], log[PATH_MAX], h[65];
	struct kk_audit a;
	struct lines l;
	json_t *extra, *o;
	size_t bad;

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
	kk_audit_close(&a);

	lines_read(log, &l);
	ck_assert_uint_eq(l.n, 2);
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
	ck_assert_int_eq(verify_buf(l.buf, l.len, KK_AUDIT_GENESIS, &bad), 0);
	free(l.buf);
}
END_TEST

/* Whatever the strings hold, an event stays one line and the chain holds. */
START_TEST(test_hostile_strings)
{
	char dir[PATH_MAX], log[PATH_MAX];
	struct kk_audit a;
	struct lines l;
	json_t *extra, *o;
	size_t bad;

	workdir(dir, log);
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	extra = json_pack("{s:s}", "note", "line\nbreak\r\"}\n{\"prev\":\"");
	ck_assert_ptr_nonnull(extra);
	ck_assert_int_eq(kk_audit_append(&a, "a\nb", "report",
	    "popup \xe6\x97\xa5\xe6\x9c\xac \u202e", NULL, extra), 0);
	json_decref(extra);
	append_events(&a, 1);
	kk_audit_close(&a);
	lines_read(log, &l);
	ck_assert_uint_eq(l.n, 2);
	o = line_json(&l, 0);
	ck_assert_str_eq(str_field(o, "actor"), "a\nb");
	ck_assert_str_eq(str_field(o, "note"), "line\nbreak\r\"}\n{\"prev\":\"");
	json_decref(o);
	ck_assert_int_eq(verify_buf(l.buf, l.len, KK_AUDIT_GENESIS, &bad), 0);
	free(l.buf);
}
END_TEST

/* ---- size limit ---- */

/* Appends one event whose line is exactly `want` bytes long. */
static int
append_sized(struct kk_audit *a, const char *log, size_t want)
{
	struct lines l;
	size_t before, have;
	json_t *extra;
	char *pad;
	int r;

	/* measure the line with an empty pad in a scratch log */
	{
		char sdir[PATH_MAX], slog[PATH_MAX];
		struct kk_audit s;

		workdir(sdir, slog);
		ck_assert_int_eq(kk_audit_open(&s, slog), 0);
		/* same seq digits and prev length as the real line */
		s.lines = a->lines;
		memset(s.last, 0x5a, sizeof(s.last));
		extra = json_pack("{s:s}", "pad", "");
		ck_assert_int_eq(kk_audit_append(&s, "kakurid", "pad", "ok",
		    NULL, extra), 0);
		json_decref(extra);
		kk_audit_close(&s);
		lines_read(slog, &l);
		ck_assert_uint_eq(l.n, 1);
		have = l.llen[0];
		free(l.buf);
	}
	ck_assert_uint_ge(want, have);
	pad = malloc(want - have + 1);
	ck_assert_ptr_nonnull(pad);
	memset(pad, 'p', want - have);
	pad[want - have] = '\0';
	extra = json_pack("{s:s}", "pad", pad);
	ck_assert_ptr_nonnull(extra);
	free(pad);
	lines_read(log, &l);
	before = l.len;
	free(l.buf);
	r = kk_audit_append(a, "kakurid", "pad", "ok", NULL, extra);
	json_decref(extra);
	lines_read(log, &l);
	if (r == 0) {
		/* precondition of the tests below: the length is exact */
		ck_assert_uint_eq(l.off[l.n - 1], before);
		ck_assert_uint_eq(l.llen[l.n - 1], want);
	} else {
		ck_assert_uint_eq(l.len, before);
	}
	free(l.buf);
	return r;
}

/* A line over the limit is refused and nothing is written. */
START_TEST(test_line_too_long)
{
	char dir[PATH_MAX], log[PATH_MAX];
	struct kk_audit a;
	struct lines l;
	size_t bad;

	workdir(dir, log);
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	append_events(&a, 1);
	ck_assert_int_eq(append_sized(&a, log, AUDIT_LINE_MAX + 1), -E2BIG);
	ck_assert_uint_eq(a.lines, 1);
	append_events(&a, 1);
	kk_audit_close(&a);
	lines_read(log, &l);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_int_eq(seq_of(&l, 1), 2);
	ck_assert_int_eq(verify_buf(l.buf, l.len, KK_AUDIT_GENESIS, &bad), 0);
	free(l.buf);
}
END_TEST

/* One byte under the limit: written, and the log reopens. */
START_TEST(test_line_under_max_reopens)
{
	char dir[PATH_MAX], log[PATH_MAX];
	struct kk_audit a;
	struct lines l;
	size_t bad;

	workdir(dir, log);
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	if (_i)
		append_events(&a, 1);
	ck_assert_int_eq(append_sized(&a, log, AUDIT_LINE_MAX - 1), 0);
	kk_audit_close(&a);
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	ck_assert_uint_eq(a.lines, (unsigned long)_i + 1);
	append_events(&a, 1);
	kk_audit_close(&a);
	lines_read(log, &l);
	ck_assert_int_eq(verify_buf(l.buf, l.len, KK_AUDIT_GENESIS, &bad), 0);
	free(l.buf);
}
END_TEST

/*
 * Regression (agentd/audit.c, load_tail(): `want` and the -EFBIG test):
 * append accepts a line of exactly KK_AUDIT_LINE_MAX bytes, but load_tail
 * used to read only KK_AUDIT_LINE_MAX + 1 bytes, saw no newline before
 * that line and failed kk_audit_open with -EFBIG: the daemon could not
 * reopen its own audit log.
 */
START_TEST(test_line_at_max_reopens)
{
	char dir[PATH_MAX], log[PATH_MAX];
	struct kk_audit a;
	struct lines l;
	size_t bad;
	int r;

	workdir(dir, log);
	ck_assert_int_eq(kk_audit_open(&a, log), 0);
	if (_i)
		append_events(&a, 1);
	ck_assert_int_eq(append_sized(&a, log, AUDIT_LINE_MAX), 0);
	kk_audit_close(&a);
	r = kk_audit_open(&a, log);
	ck_assert_msg(r == 0,
	    "a log ending in a %d-byte line (accepted by append) does "
	    "not reopen: %d", AUDIT_LINE_MAX, r);
	ck_assert_uint_eq(a.lines, (unsigned long)_i + 1);
	append_events(&a, 1);
	kk_audit_close(&a);
	lines_read(log, &l);
	ck_assert_int_eq(verify_buf(l.buf, l.len, KK_AUDIT_GENESIS, &bad), 0);
	free(l.buf);
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

Suite *
audit_suite(void)
{
	Suite *s;
	TCase *tc;

	s = suite_create("audit");

	tc = kk_tcase("chain");
	tcase_add_unchecked_fixture(tc, kk_test_base_create,
	    kk_test_base_remove);
	tcase_add_test(tc, test_chain_written);
	tcase_add_test(tc, test_chain_state);
	tcase_add_test(tc, test_log_not_world_readable);
	tcase_add_test(tc, test_append_after_close);
	tcase_add_test(tc, test_extra_merged);
	tcase_add_test(tc, test_hostile_strings);
	suite_add_tcase(s, tc);

	tc = kk_tcase("verify");
	tcase_add_unchecked_fixture(tc, kk_test_base_create,
	    kk_test_base_remove);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_verify_whole);
	tcase_add_loop_test(tc, test_verify_modified, 0, NEV - 1);
	tcase_add_loop_test(tc, test_verify_modified_prev, 0, NEV);
	tcase_add_test(tc, test_verify_every_byte);
	tcase_add_loop_test(tc, test_verify_deleted, 0, NEV - 1);
	tcase_add_loop_test(tc, test_verify_swapped, 0, NEV - 1);
	tcase_add_loop_test(tc, test_verify_inserted_copy, 0, NEV);
	tcase_add_loop_test(tc, test_verify_inserted_forgery, 0, NEV);
	tcase_add_loop_test(tc, test_verify_garbage, 0,
	    (int)(sizeof(verify_bad) / sizeof(verify_bad[0])));
	tcase_add_test(tc, test_verify_blank_line);
	suite_add_tcase(s, tc);

	tc = kk_tcase("reopen");
	tcase_add_unchecked_fixture(tc, kk_test_base_create,
	    kk_test_base_remove);
	tcase_add_test(tc, test_reopen_continues);
	tcase_add_test(tc, test_reopen_empty);
	tcase_add_test(tc, test_torn_last_line);
	tcase_add_test(tc, test_torn_last_line_seq);
	tcase_add_test(tc, test_torn_newline_only);
	tcase_add_test(tc, test_line_too_long);
	tcase_add_loop_test(tc, test_line_under_max_reopens, 0, 2);
	tcase_add_loop_test(tc, test_line_at_max_reopens, 0, 2);
	tcase_add_test(tc, test_symlink_refused);
	suite_add_tcase(s, tc);

	tc = kk_tcase("sha256");
	tcase_add_test(tc, test_sha256_kat);
	suite_add_tcase(s, tc);

	return s;
}
