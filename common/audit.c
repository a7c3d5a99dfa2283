/*
 * The audit timeline: one JSON object per line, appended and fsync'd.
 * Every line carries "prev", the SHA-256 of the previous line's bytes
 * (without its newline); the first line's prev is 64 zeros.  Changing,
 * inserting or removing a line breaks the chain at the next line.
 *
 * Anyone on the machine can make kakurid write here, so everything that
 * goes in is bounded: text fields are cleaned and cut on character
 * boundaries, lines are capped, and the file is rotated at a size limit
 * (the chain runs on across files: the first line of a new file carries
 * the hash of the last line of the previous one).
 *
 * The log in three files:
 *	audit.c		writing: open, append, rotate; checking a chain
 *	audit_tail.c	reading the tail from the end (kk_audit_tail)
 *	refusals.c	refusals counted per uid and summarised (kk_refusals)
 * with audit.h for what the first two share.
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
#include "audit.h"
#include "wire.h"

#define CAP_MEMBERS	32		/* members of one object or array kept */
#define CAP_DEPTH	4
#define CAP_KEY		64		/* bytes of a member name */

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
		if (o != NULL && json_is_integer(json_object_get(o, KW_SEQ))) {
			a->lines = (unsigned long)json_integer_value(
			    json_object_get(o, KW_SEQ)) + after;
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

	if ((r = kk_audit_rotated_name(a->path, 1, name, sizeof(name))) < 0)
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
	/*
	 * A volume remounted read-only (after disk errors): the log is
	 * still read (kakurictl log, the chain's head), nothing appended.
	 */
	if (a->fd < 0 && errno == EROFS) {
		a->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		a->readonly = a->fd >= 0;
	}
	if (a->fd < 0)
		return -errno;
	if (fstat(a->fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	r = st.st_size > 0 ? load_tail(a, a->fd, !a->readonly) :
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
	a->fd = kk_close(a->fd);
}

void
kk_audit_set_limits(struct kk_audit *a, uint64_t max_bytes, unsigned keep)
{
	a->max_bytes = max_bytes;
	a->keep = keep > KK_AUDIT_KEEP_MAX ? KK_AUDIT_KEEP_MAX : keep;
}

int
kk_audit_rotated_name(const char *path, unsigned n, char *buf, size_t len)
{
	if (snprintf(buf, len, "%s.%u", path, n) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

/* The hash the next line carries as prev: of the last line, or genesis. */
void
kk_audit_head(const struct kk_audit *a, char out[65])
{
	if (a->lines == 0 && memcmp(a->last, (unsigned char[32]){ 0 }, 32) == 0)
		strcpy(out, KK_AUDIT_GENESIS);
	else
		kk_hex(a->last, 32, out);
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
	kk_audit_head(a, prev);
	for (pass = 0; pass < 3 && line == NULL; pass++) {
		max = pass == 0 ? KK_AUDIT_FIELD_MAX : 64;
		if ((o = json_object()) == NULL)
			return NULL;
		json_object_set_new(o, KW_TIME, json_string(when));
		json_object_set_new(o, KW_SEQ, json_integer(
		    (json_int_t)(a->lines + 1)));
		set_text(o, KW_ACTOR, actor, max);
		set_text(o, KW_ACTION, action, max);
		set_text(o, KW_RESULT, result, max);
		set_text(o, KW_EPISODE, episode, max);
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
			json_object_set_new(o, KW_CUT, json_true());
		}
		json_object_set_new(o, KW_PREV, json_string(prev));
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
		if (kk_audit_rotated_name(a->path, i, from, sizeof(from)) == 0)
			unlink(from);
	for (i = a->keep; i > 1; i--) {
		if ((r = kk_audit_rotated_name(a->path, i - 1, from,
		    sizeof(from))) < 0 ||
		    (r = kk_audit_rotated_name(a->path, i, to, sizeof(to))) < 0)
			goto fail;
		if (rename(from, to) < 0 && errno != ENOENT) {
			r = -errno;
			goto fail;
		}
	}
	if ((r = kk_audit_rotated_name(a->path, 1, to, sizeof(to))) < 0)
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
	o = json_pack("{s:s, s:I}", KW_FROM, name, KW_LAST_SEQ,
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
	if (a->readonly)
		return -EROFS;
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
	prev = o ? json_string_value(json_object_get(o, KW_PREV)) : NULL;
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
