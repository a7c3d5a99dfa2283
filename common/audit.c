/*
 * The audit timeline: one JSON object per line, appended and fsync'd.
 * Every line carries "prev", the SHA-256 of the previous line's bytes
 * (without its newline); the first line's prev is 64 zeros.  Changing,
 * inserting or removing a line breaks the chain at the next line.
 *
 * Anyone on the machine can make kakurid write here, so everything that
 * goes in is bounded: text fields are cleaned and cut on character
 * boundaries, lines are capped, the file is rotated at a size limit (the
 * chain runs on across files: the first line of a new file carries the
 * hash of the last line of the previous one), and refusals are counted per
 * uid and summarised instead of written one line each (kk_refusals).
 * Reading goes from the end in bounded chunks (kk_audit_tail), so the
 * memory it takes does not depend on the size of the log.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "kakuri.h"

#define TAIL_CHUNK	65536		/* bytes read at a time from the end */
/* the first line of a tail is parsed for its seq: a line of an older version may be 16 KiB */
#define FIRST_LINE_READ	(20 * 1024)
#define CAP_MEMBERS	32		/* members of one object or array kept */
#define CAP_DEPTH	4
#define CAP_KEY		64		/* bytes of a member name */
#define SUMMARY_UIDS	8		/* uids named in a refusal summary */
#define TIME_PREFIX	"{\"time\":\""

static int
rotated_name(const char *path, unsigned n, char *buf, size_t len)
{
	if (snprintf(buf, len, "%s.%u", path, n) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * Finds the last line of fd and hashes it, and the last sequence number:
 * from the last line that parses, plus one for every (torn) line after
 * it.  With repair, a torn last line is terminated (it is evidence: kept,
 * and the chain goes on from it; verification names it).
 */
static int
load_tail(struct kk_audit *a, int fd, bool repair)
{
	struct stat st;
	char *buf = NULL;
	size_t want, end, start, e, b, after = 0;
	ssize_t n;
	json_t *o;
	int r;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size == 0)
		return 0;
	/* room for the longest line (16 KiB in older versions), its newline and the one before */
	want = (size_t)st.st_size > 4 * (FIRST_LINE_READ + 2) ?
	    4 * (FIRST_LINE_READ + 2) : (size_t)st.st_size;
	buf = malloc(want);
	if (buf == NULL)
		return -ENOMEM;
	n = pread(fd, buf, want, st.st_size - (off_t)want);
	if (n != (ssize_t)want) {
		r = n < 0 ? -errno : -EIO;
		goto out;
	}
	end = want;
	if (buf[end - 1] != '\n') {
		if (repair && write(fd, "\n", 1) != 1) {
			r = -errno;
			goto out;
		}
	} else {
		end--;
	}
	start = end;
	while (start > 0 && buf[start - 1] != '\n')
		start--;
	if (start == 0 && want < (size_t)st.st_size) {
		r = -EFBIG;
		goto out;
	}
	kk_sha256(buf + start, end - start, a->last);
	/* walk back to the last line that carries a sequence number */
	e = end;
	b = start;
	for (;;) {
		o = json_loadb(buf + b, e - b, 0, NULL);
		if (o != NULL && json_is_integer(json_object_get(o, "seq"))) {
			a->lines = (unsigned long)json_integer_value(
			    json_object_get(o, "seq")) + after;
			json_decref(o);
			break;
		}
		json_decref(o);
		after++;
		if (b == 0) {
			/* nothing parses in the tail: count from what we saw */
			a->lines = after;
			break;
		}
		e = b - 1;
		b = e;
		while (b > 0 && buf[b - 1] != '\n')
			b--;
	}
	r = 0;
out:
	free(buf);
	return r;
}

/* An empty current file after a rotation: the chain goes on from PATH.1. */
static int
continue_from_rotated(struct kk_audit *a)
{
	char name[PATH_MAX + 16];
	int fd, r;

	if ((r = rotated_name(a->path, 1, name, sizeof(name))) < 0)
		return r;
	fd = open(name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	r = load_tail(a, fd, false);
	close(fd);
	return r;
}

int
kk_audit_open(struct kk_audit *a, const char *path)
{
	char fresh[PATH_MAX + 16];
	struct stat st;
	int r;

	memset(a, 0, sizeof(*a));
	a->fd = -1;
	if (strlen(path) >= sizeof(a->path) ||
	    snprintf(fresh, sizeof(fresh), "%s.new", path) >= (int)sizeof(fresh))
		return -ENAMETOOLONG;
	strcpy(a->path, path);
	/* a rotation that stopped half-way leaves an empty PATH.new */
	unlink(fresh);
	a->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (a->fd < 0)
		return -errno;
	if (fstat(a->fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	r = st.st_size > 0 ? load_tail(a, a->fd, true) :
	    continue_from_rotated(a);
	if (r == 0 && fstat(a->fd, &st) < 0)
		r = -errno;
	a->size = st.st_size;
out:
	if (r < 0) {
		close(a->fd);
		a->fd = -1;
	}
	return r;
}

void
kk_audit_close(struct kk_audit *a)
{
	if (a->fd >= 0)
		close(a->fd);
	a->fd = -1;
}

void
kk_audit_set_limits(struct kk_audit *a, uint64_t max_bytes, unsigned keep)
{
	a->max_bytes = max_bytes;
	a->keep = keep > KK_AUDIT_KEEP_MAX ? KK_AUDIT_KEEP_MAX : keep;
}

static void
rfc3339_now(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000) % 1000);
}

/* Text as it may go into a line: cleaned, at most max bytes. */
static json_t *
cap_text(const char *s, size_t len, size_t max)
{
	char buf[KK_AUDIT_FIELD_MAX + 1];
	size_t n;

	if (len <= max && kk_text_check(s, len, NULL) == 0)
		return json_stringn(s, len);
	if (max > KK_AUDIT_FIELD_MAX)
		max = KK_AUDIT_FIELD_MAX;
	n = kk_text_clean(buf, max + 1, s, len);
	return json_stringn(buf, n);
}

/* A copy of v with every string capped and every container bounded. */
static json_t *
capped(json_t *v, size_t max, int depth)
{
	const char *k;
	json_t *out, *e;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return cap_text(json_string_value(v), json_string_length(v),
		    max);
	case JSON_OBJECT:
		if (depth >= CAP_DEPTH || (out = json_object()) == NULL)
			return json_string("...");
		i = 0;
		json_object_foreach(v, k, e) {
			if (i++ == CAP_MEMBERS)
				break;
			if (strlen(k) <= CAP_KEY)
				json_object_set_new(out, k, capped(e, max,
				    depth + 1));
		}
		return out;
	case JSON_ARRAY:
		if (depth >= CAP_DEPTH || (out = json_array()) == NULL)
			return json_string("...");
		json_array_foreach(v, i, e) {
			if (i == CAP_MEMBERS)
				break;
			json_array_append_new(out, capped(e, max, depth + 1));
		}
		return out;
	default:
		return json_incref(v);
	}
}

static void
set_text(json_t *o, const char *key, const char *s, size_t max)
{
	json_object_set_new(o, key, cap_text(s ? s : "", s ? strlen(s) : 0,
	    max));
}

/*
 * One line, at most KK_AUDIT_LINE_MAX bytes: with fields cut to
 * KK_AUDIT_FIELD_MAX bytes, else to 64, else without the extra fields.
 * The buffer has room for the newline.
 */
static char *
format_line(const struct kk_audit *a, const char *actor, const char *action,
    const char *result, const char *episode, json_t *extra, size_t *lenp)
{
	char when[64], prev[65];
	const char *k;
	json_t *o, *v;
	char *line = NULL;
	size_t max, i;
	int pass;

	rfc3339_now(when, sizeof(when));
	if (a->lines == 0 && memcmp(a->last, (unsigned char[32]){ 0 }, 32) == 0)
		strcpy(prev, KK_AUDIT_GENESIS);
	else
		kk_hex(a->last, 32, prev);
	for (pass = 0; pass < 3 && line == NULL; pass++) {
		max = pass == 0 ? KK_AUDIT_FIELD_MAX : 64;
		if ((o = json_object()) == NULL)
			return NULL;
		json_object_set_new(o, "time", json_string(when));
		json_object_set_new(o, "seq", json_integer(
		    (json_int_t)(a->lines + 1)));
		set_text(o, "actor", actor, max);
		set_text(o, "action", action, max);
		set_text(o, "result", result, max);
		set_text(o, "episode", episode, max);
		if (extra != NULL && pass < 2) {
			i = 0;
			json_object_foreach(extra, k, v) {
				if (json_object_get(o, k) != NULL ||
				    strcmp(k, "prev") == 0 || strlen(k) > CAP_KEY)
					continue;
				if (i++ == CAP_MEMBERS)
					break;
				json_object_set_new(o, k, capped(v, max, 1));
			}
		} else if (json_object_size(extra) > 0) {
			json_object_set_new(o, "cut", json_true());
		}
		json_object_set_new(o, "prev", json_string(prev));
		line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER |
		    JSON_ENSURE_ASCII);
		json_decref(o);
		if (line != NULL && strlen(line) > KK_AUDIT_LINE_MAX) {
			free(line);
			line = NULL;
		}
	}
	if (line != NULL)
		*lenp = strlen(line);
	return line;
}

/*
 * Appends line (len bytes, the buffer one longer) with its newline.  A
 * write that fails half-way is cut back: a torn line would break the
 * chain for every line after it.  A line that is written but whose sync
 * fails is in the file, so the chain goes on from it.
 */
static int
write_line(struct kk_audit *a, char *line, size_t len)
{
	ssize_t n;
	int r = 0;

	line[len] = '\n';
	n = write(a->fd, line, len + 1);
	if (n != (ssize_t)len + 1) {
		r = n < 0 ? -errno : -ENOSPC;
		if (n != 0 && ftruncate(a->fd, a->size) < 0)
			r = -errno;
		return r;
	}
	if (fdatasync(a->fd) < 0)
		r = -errno;
	kk_sha256(line, len, a->last);
	a->lines++;
	a->size += (off_t)len + 1;
	return r;
}

/*
 * PATH -> PATH.1 -> ... -> PATH.keep (the oldest goes), and a fresh PATH.
 * The fresh file is made first, so that a failure leaves the old one in
 * use; a crash in between leaves no PATH, and kk_audit_open goes on from
 * PATH.1.
 */
static int
rotate(struct kk_audit *a)
{
	char from[PATH_MAX + 16], to[PATH_MAX + 16], fresh[PATH_MAX + 16];
	unsigned i;
	int fd, r;

	if (snprintf(fresh, sizeof(fresh), "%s.new", a->path) >=
	    (int)sizeof(fresh))
		return -ENAMETOOLONG;
	unlink(fresh);
	fd = open(fresh, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	/* files past keep (a smaller keep than before) go */
	for (i = a->keep + 1; i <= KK_AUDIT_KEEP_MAX; i++)
		if (rotated_name(a->path, i, from, sizeof(from)) == 0)
			unlink(from);
	for (i = a->keep; i > 1; i--) {
		if ((r = rotated_name(a->path, i - 1, from, sizeof(from))) < 0 ||
		    (r = rotated_name(a->path, i, to, sizeof(to))) < 0)
			goto fail;
		if (rename(from, to) < 0 && errno != ENOENT) {
			r = -errno;
			goto fail;
		}
	}
	if ((r = rotated_name(a->path, 1, to, sizeof(to))) < 0)
		goto fail;
	if (rename(a->path, to) < 0) {
		r = -errno;
		goto fail;
	}
	if (rename(fresh, a->path) < 0) {
		r = -errno;
		rename(to, a->path);
		goto fail;
	}
	kk_fsync_dir_of(a->path);
	close(a->fd);
	a->fd = fd;
	a->size = 0;
	return 0;
fail:
	close(fd);
	unlink(fresh);
	return r;
}

/* The first line of a new file says where the chain came from. */
static void
write_rotation_mark(struct kk_audit *a)
{
	const char *base = strrchr(a->path, '/');
	char name[PATH_MAX + 16];
	size_t len;
	json_t *o;
	char *line;

	snprintf(name, sizeof(name), "%s.1", base ? base + 1 : a->path);
	o = json_pack("{s:s, s:I}", "from", name, "last_seq",
	    (json_int_t)a->lines);
	line = format_line(a, "kakurid", "audit-rotate", "continued", NULL, o,
	    &len);
	json_decref(o);
	if (line != NULL)
		write_line(a, line, len);
	free(line);
}

int
kk_audit_append(struct kk_audit *a, const char *actor, const char *action,
    const char *result, const char *episode, struct json_t *extra)
{
	char *line;
	size_t len;
	int r;

	if (a->fd < 0)
		return -EBADF;
	line = format_line(a, actor, action, result, episode, extra, &len);
	if (line == NULL)
		return -ENOMEM;
	if (a->max_bytes > 0 && a->keep > 0 && a->size > 0 &&
	    (uint64_t)a->size + len + 1 > a->max_bytes && rotate(a) == 0) {
		write_rotation_mark(a);
		/* prev and seq changed with the mark */
		free(line);
		line = format_line(a, actor, action, result, episode, extra,
		    &len);
		if (line == NULL)
			return -ENOMEM;
	}
	r = write_line(a, line, len);
	free(line);
	return r;
}

void
kk_audit_chain_init(struct kk_audit_chain *c, const char *first_prev)
{
	snprintf(c->expect, sizeof(c->expect), "%s", first_prev);
}

int
kk_audit_chain_line(struct kk_audit_chain *c, const char *line, size_t len)
{
	unsigned char md[32];
	const char *prev;
	json_t *o;
	bool ok;

	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	prev = o ? json_string_value(json_object_get(o, "prev")) : NULL;
	ok = prev != NULL && strcmp(prev, c->expect) == 0;
	json_decref(o);
	/* the next line is checked against this one, whatever it holds */
	kk_sha256(line, len, md);
	kk_hex(md, 32, c->expect);
	return ok ? 0 : -EBADMSG;
}

int
kk_audit_verify(const char *buf, size_t len, const char *first_prev,
    size_t *bad)
{
	struct kk_audit_chain c;
	const char *line = buf, *nl;
	size_t lineno = 0, linelen;

	*bad = 0;
	kk_audit_chain_init(&c, first_prev);
	while (line < buf + len) {
		lineno++;
		nl = memchr(line, '\n', (size_t)(buf + len - line));
		linelen = nl ? (size_t)(nl - line) : (size_t)(buf + len - line);
		if (kk_audit_chain_line(&c, line, linelen) < 0) {
			*bad = lineno;
			return -EBADMSG;
		}
		if (nl == NULL)
			break;
		line = nl + 1;
	}
	return 0;
}

/* ---- the tail, read from the end ---- */

enum verdict { TAKE, TAKE_LAST, STOP_BEFORE };

struct scan {
	int fd;
	char *buf;			/* TAIL_CHUNK bytes */
	off_t buf_off;			/* file offset of buf[0] */
	size_t buf_len;
	unsigned long left;		/* lines still wanted */
	bool limit;
	const char *since;		/* "YYYY-MM-DDTHH:MM:SS" or NULL */
};

/*
 * Whether the line at off is older than since.  Lines time-stamped at
 * the start as kakurid writes them are compared as text (RFC 3339 in UTC
 * sorts as time); other lines are not taken for old.
 */
static bool
line_older(const struct scan *s, off_t off)
{
	char head[sizeof(TIME_PREFIX) - 1 + 19];
	const char *p;
	ssize_t n;

	if (off >= s->buf_off &&
	    off + (off_t)sizeof(head) <= s->buf_off + (off_t)s->buf_len) {
		p = s->buf + (off - s->buf_off);
	} else {
		n = pread(s->fd, head, sizeof(head), off);
		if (n != (ssize_t)sizeof(head))
			return false;
		p = head;
	}
	return memcmp(p, TIME_PREFIX, sizeof(TIME_PREFIX) - 1) == 0 &&
	    memcmp(p + sizeof(TIME_PREFIX) - 1, s->since, 19) < 0;
}

static enum verdict
judge(struct scan *s, off_t line_off)
{
	if (s->since != NULL && line_older(s, line_off))
		return STOP_BEFORE;
	if (s->limit && --s->left == 0)
		return TAKE_LAST;
	return TAKE;
}

/* The first line start in [off, top), or top; off > 0. */
static off_t
next_line_start(struct scan *s, off_t off, off_t top, int *err)
{
	off_t pos = off - 1;
	size_t len;
	char *nl;
	ssize_t n;

	while (pos < top - 1) {
		len = top - pos > TAIL_CHUNK ? TAIL_CHUNK : (size_t)(top - pos);
		n = pread(s->fd, s->buf, len, pos);
		if (n != (ssize_t)len) {
			*err = n < 0 ? -errno : -EIO;
			return top;
		}
		if ((nl = memchr(s->buf, '\n', len)) != NULL)
			return pos + (nl - s->buf) + 1 < top ?
			    pos + (nl - s->buf) + 1 : top;
		pos += (off_t)len;
	}
	return top;
}

/*
 * --since without a number of lines: the first line not older than since,
 * found by bisection (the log is in time order), so that the time it
 * takes does not grow with the log.  The line at 0 is older.  Keeps the
 * smallest line start known not to be older (ans) and a window (lo, top)
 * with no line start in [top, ans).
 */
static off_t
first_not_older(struct scan *s, off_t end, int *err)
{
	off_t lo = 0, top = end, ans = end, mid, p;
	size_t i;
	ssize_t n;

	while (top - lo > TAIL_CHUNK && *err == 0) {
		mid = lo + (top - lo) / 2;
		p = next_line_start(s, mid, top, err);
		s->buf_len = 0;
		if (p >= top)
			top = mid;
		else if (line_older(s, p))
			lo = p;
		else
			ans = top = p;
	}
	if (*err != 0)
		return -1;
	/* the rest in one read */
	s->buf_off = lo;
	s->buf_len = (size_t)(top - lo);
	n = pread(s->fd, s->buf, s->buf_len, lo);
	if (n != (ssize_t)s->buf_len) {
		*err = n < 0 ? -errno : -EIO;
		return -1;
	}
	for (i = 0; i + 1 < s->buf_len; i++)
		if (s->buf[i] == '\n' && !line_older(s, lo + (off_t)i + 1))
			return lo + (off_t)i + 1;
	return ans;
}

/*
 * Walks the lines of [0, end) from the last one back, each judged; the
 * offset where the tail starts in this file, or -1 when all of the file
 * belongs to it (go on with the older file), or a negative errno in *err.
 * Without a number of lines nothing needs counting: the whole file, or
 * the bisection for since.
 */
static off_t
scan_file(struct scan *s, off_t end, int *err)
{
	off_t pos, newer = end;
	enum verdict v;
	size_t i;
	ssize_t n;

	*err = 0;
	if (end == 0)
		return -1;
	if (!s->limit) {
		s->buf_len = 0;
		if (s->since == NULL || !line_older(s, 0))
			return -1;
		return first_not_older(s, end, err);
	}
	/* the last byte is the newline of the last line: not a line start */
	pos = end - 1;
	while (pos > 0) {
		s->buf_len = pos > TAIL_CHUNK ? TAIL_CHUNK : (size_t)pos;
		s->buf_off = pos - (off_t)s->buf_len;
		n = pread(s->fd, s->buf, s->buf_len, s->buf_off);
		if (n != (ssize_t)s->buf_len) {
			*err = n < 0 ? -errno : -EIO;
			return -1;
		}
		for (i = s->buf_len; i > 0; i--) {
			if (s->buf[i - 1] != '\n')
				continue;
			v = judge(s, s->buf_off + (off_t)i);
			if (v == STOP_BEFORE)
				return newer;
			newer = s->buf_off + (off_t)i;
			if (v == TAKE_LAST)
				return newer;
		}
		pos = s->buf_off;
	}
	s->buf_len = 0;
	v = judge(s, 0);
	if (v == STOP_BEFORE)
		return newer;
	return v == TAKE_LAST ? 0 : -1;
}

/* Where the line that ends just before off (off - 1 is its newline) starts. */
static int
line_start_before(int fd, off_t off, char *buf, off_t *start)
{
	off_t pos = off - 1;
	size_t len, i;
	ssize_t n;

	while (pos > 0) {
		len = pos > TAIL_CHUNK ? TAIL_CHUNK : (size_t)pos;
		n = pread(fd, buf, len, pos - (off_t)len);
		if (n != (ssize_t)len)
			return n < 0 ? -errno : -EIO;
		for (i = len; i > 0; i--) {
			if (buf[i - 1] == '\n') {
				*start = pos - (off_t)len + (off_t)i;
				return 0;
			}
		}
		pos -= (off_t)len;
	}
	*start = 0;
	return 0;
}

/* The hash of the last line of fd (end bytes long). */
static int
hash_last_line(int fd, off_t end, char *buf, char out[65])
{
	char c;
	off_t start;
	int r;

	if (end == 0)
		return -ENODATA;
	if (pread(fd, &c, 1, end - 1) != 1)
		return -EIO;
	if (c != '\n')		/* torn: hashed as it is */
		end++;
	if ((r = line_start_before(fd, end - 1, buf, &start)) < 0)
		return r;
	return kk_sha256_hex_range(fd, start, end - 1 - start, out);
}

/* seq and prev of the line at off (a prefix of FIRST_LINE_READ bytes). */
static void
first_line_fields(int fd, off_t off, off_t end, unsigned long long *seq,
    char prev[65])
{
	char *buf;
	const char *nl;
	json_t *o;
	ssize_t n;
	size_t len;

	*seq = 0;
	prev[0] = '\0';
	len = end - off > FIRST_LINE_READ ? FIRST_LINE_READ : (size_t)(end - off);
	if (len == 0 || (buf = malloc(len)) == NULL)
		return;
	n = pread(fd, buf, len, off);
	if (n > 0) {
		nl = memchr(buf, '\n', (size_t)n);
		o = json_loadb(buf, nl ? (size_t)(nl - buf) : (size_t)n, 0, NULL);
		if (json_is_integer(json_object_get(o, "seq")) &&
		    json_integer_value(json_object_get(o, "seq")) > 0)
			*seq = (unsigned long long)json_integer_value(
			    json_object_get(o, "seq"));
		if (json_is_string(json_object_get(o, "prev")) &&
		    json_string_length(json_object_get(o, "prev")) == 64)
			strcpy(prev, json_string_value(json_object_get(o,
			    "prev")));
		json_decref(o);
	}
	free(buf);
}

static int
open_rotated(const struct kk_audit *a, unsigned n, off_t *end)
{
	char name[PATH_MAX + 16];
	struct stat st;
	int fd;

	if (rotated_name(a->path, n, name, sizeof(name)) < 0)
		return -ENAMETOOLONG;
	fd = open(name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EIO;
	}
	*end = st.st_size;
	return fd;
}

/*
 * The current file, by its name: what is on disk is what is shown.  The
 * file kakurid writes ends at a->size, where head is; a file put in its
 * place ends where it ends, and its last line will not match head.
 */
static int
open_current(const struct kk_audit *a, int *fd, off_t *end)
{
	struct stat st, mine;

	*fd = open(a->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (*fd < 0)
		return -errno;
	if (fstat(*fd, &st) < 0 || fstat(a->fd, &mine) < 0)
		return -errno;
	*end = st.st_dev == mine.st_dev && st.st_ino == mine.st_ino &&
	    a->size <= st.st_size ? a->size : st.st_size;
	return 0;
}

/* first_prev and anchor for a tail starting at off of file f (0 = current). */
static int
anchor_tail(const struct kk_audit *a, struct kk_audit_tail *t, int fds[],
    off_t ends[], size_t f, off_t off, char *buf)
{
	unsigned long long seq;
	off_t start, oend;
	char prev[65];
	int ofd, r;

	if (off > 0) {
		t->anchor = "line";
		if ((r = line_start_before(fds[f], off, buf, &start)) < 0)
			return r;
		return kk_sha256_hex_range(fds[f], start, off - 1 - start,
		    t->first_prev);
	}
	if (f < a->keep && (ofd = open_rotated(a, (unsigned)f + 1, &oend)) >= 0) {
		r = hash_last_line(ofd, oend, buf, t->first_prev);
		close(ofd);
		if (r != -ENODATA) {
			t->anchor = "line";
			return r;
		}
	}
	/* the oldest line there is: the beginning, or older files are gone */
	first_line_fields(fds[f], 0, ends[f], &seq, prev);
	if (seq <= 1 || prev[0] == '\0') {
		t->anchor = "genesis";
		strcpy(t->first_prev, KK_AUDIT_GENESIS);
	} else {
		t->anchor = "rotated";
		strcpy(t->first_prev, prev);
	}
	return 0;
}

int
kk_audit_tail_open(const struct kk_audit *a, unsigned long max_lines,
    time_t since, struct kk_audit_tail *t)
{
	int fds[KK_AUDIT_KEEP_MAX + 1];
	off_t ends[KK_AUDIT_KEEP_MAX + 1], off = -1;
	char since_text[32];
	struct scan s;
	struct tm tm;
	char prev[65];
	size_t f, nf = 0, i, start = 0;
	int r = 0;

	memset(t, 0, sizeof(*t));
	for (i = 0; i <= KK_AUDIT_KEEP_MAX; i++)
		fds[i] = t->fd[i] = -1;
	memset(&s, 0, sizeof(s));
	s.left = max_lines;
	s.limit = max_lines > 0;
	if (since > 0) {
		if (gmtime_r(&since, &tm) == NULL || strftime(since_text,
		    sizeof(since_text), "%Y-%m-%dT%H:%M:%S", &tm) != 19)
			return -EINVAL;
		s.since = since_text;
	}
	if ((s.buf = malloc(TAIL_CHUNK)) == NULL)
		return -ENOMEM;
	for (f = 0; f <= a->keep && f <= KK_AUDIT_KEEP_MAX; f++) {
		if (f == 0) {
			if ((r = open_current(a, &fds[0], &ends[0])) < 0)
				goto out;
		} else if ((fds[f] = open_rotated(a, (unsigned)f,
		    &ends[f])) < 0) {
			r = fds[f];
			fds[f] = -1;
			if (r == -ENOENT)
				r = 0;
			if (r < 0)
				goto out;
			break;
		}
		nf = f + 1;
		s.fd = fds[f];
		off = scan_file(&s, ends[f], &r);
		if (r < 0)
			goto out;
		if (off >= 0)
			break;
	}
	start = off >= 0 ? f : nf - 1;
	if (off < 0)
		off = 0;
	/* nothing of this file is wanted: the tail starts in the newer one */
	while (off == ends[start] && start > 0) {
		start--;
		off = 0;
	}
	if ((r = anchor_tail(a, t, fds, ends, start, off, s.buf)) < 0)
		goto out;
	t->truncated = strcmp(t->anchor, "genesis") != 0;
	first_line_fields(fds[start], off, ends[start], &t->first_seq, prev);
	if (a->lines == 0 && memcmp(a->last, (unsigned char[32]){ 0 }, 32) == 0)
		strcpy(t->head, KK_AUDIT_GENESIS);
	else
		kk_hex(a->last, 32, t->head);
	/* oldest first */
	for (i = 0; i <= start; i++) {
		t->fd[i] = fds[start - i];
		t->end[i] = ends[start - i];
		t->pos[i] = i == 0 ? off : 0;
		t->bytes += (uint64_t)(t->end[i] - t->pos[i]);
		fds[start - i] = -1;
	}
	t->nfiles = start + 1;
out:
	for (i = 0; i <= KK_AUDIT_KEEP_MAX; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(s.buf);
	if (r < 0)
		kk_audit_tail_close(t);
	return r;
}

ssize_t
kk_audit_tail_read(struct kk_audit_tail *t, void *buf, size_t len)
{
	ssize_t n;
	size_t want;

	while (t->cur < t->nfiles && t->pos[t->cur] >= t->end[t->cur])
		t->cur++;
	if (t->cur == t->nfiles)
		return 0;
	want = (size_t)(t->end[t->cur] - t->pos[t->cur]);
	if (want > len)
		want = len;
	n = pread(t->fd[t->cur], buf, want, t->pos[t->cur]);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -EIO;	/* the file got shorter: not what head says */
	t->pos[t->cur] += n;
	return n;
}

void
kk_audit_tail_close(struct kk_audit_tail *t)
{
	size_t i;

	for (i = 0; i <= KK_AUDIT_KEEP_MAX; i++) {
		if (t->fd[i] >= 0)
			close(t->fd[i]);
		t->fd[i] = -1;
	}
	t->nfiles = 0;
}

/* ---- refusals ---- */

void
kk_refusals_init(struct kk_refusals *r)
{
	memset(r, 0, sizeof(*r));
}

bool
kk_refusals_note(struct kk_refusals *r, uid_t uid, const char *reason)
{
	struct kk_refusal_uid *u = NULL;
	size_t i;

	r->total++;
	for (i = 0; i < r->n && u == NULL; i++)
		if (r->u[i].uid == uid)
			u = &r->u[i];
	if (u == NULL && r->n < KK_REFUSAL_UIDS) {
		u = &r->u[r->n++];
		u->uid = uid;
	}
	if (u == NULL) {
		r->other_uids++;
		r->suppressed++;
		return false;
	}
	u->count++;
	for (i = 0; i < KK_REFUSAL_REASONS; i++) {
		if (u->reason[i] == NULL)
			u->reason[i] = reason;
		if (strcmp(u->reason[i], reason) == 0) {
			u->by_reason[i]++;
			break;
		}
	}
	if (u->detailed < KK_REFUSAL_DETAILED) {
		u->detailed++;
		return true;
	}
	r->suppressed++;
	return false;
}

static int
by_count(const void *x, const void *y)
{
	const struct kk_refusal_uid *a = x, *b = y;

	return a->count < b->count ? 1 : a->count > b->count ? -1 : 0;
}

json_t *
kk_refusals_summary(struct kk_refusals *r)
{
	struct kk_refusal_uid *u;
	unsigned long more = 0;
	json_t *o = NULL, *uids, *reasons;
	size_t i, j;

	if (r->suppressed == 0)
		goto out;
	qsort(r->u, r->n, sizeof(r->u[0]), by_count);
	if ((uids = json_array()) == NULL)
		goto out;
	for (i = 0; i < r->n; i++) {
		u = &r->u[i];
		if (i >= SUMMARY_UIDS) {
			more += u->count;
			continue;
		}
		reasons = json_object();
		for (j = 0; j < KK_REFUSAL_REASONS && u->reason[j]; j++)
			json_object_set_new(reasons, u->reason[j],
			    json_integer((json_int_t)u->by_reason[j]));
		json_array_append_new(uids, json_pack("{s:I, s:I, s:o}",
		    "uid", (json_int_t)u->uid, "count", (json_int_t)u->count,
		    "reasons", reasons));
	}
	o = json_pack("{s:I, s:I, s:o}", "refused", (json_int_t)r->total,
	    "not_recorded", (json_int_t)r->suppressed, "uids", uids);
	if (o != NULL && more + r->other_uids > 0)
		json_object_set_new(o, "other_uids",
		    json_integer((json_int_t)(more + r->other_uids)));
out:
	kk_refusals_init(r);
	return o;
}
