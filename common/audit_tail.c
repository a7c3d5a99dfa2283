/*
 * The tail of the audit timeline (kk_audit_tail), read from the end in
 * bounded chunks across the rotated files, so that the memory it takes
 * does not depend on the size of the log: the last N lines, or the lines
 * since a time (found by bisection, the log being in time order), with
 * what anchors the first of them to the chain (the hash of the line
 * before it, genesis, or its own prev when older files were rotated
 * away).  The writer is audit.c.
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

#define TAIL_CHUNK	65536		/* bytes read at a time from the end */
#define TIME_PREFIX	"{\"time\":\""

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
		if (json_is_integer(json_object_get(o, KW_SEQ)) &&
		    json_integer_value(json_object_get(o, KW_SEQ)) > 0)
			*seq = (unsigned long long)json_integer_value(
			    json_object_get(o, KW_SEQ));
		if (json_is_string(json_object_get(o, KW_PREV)) &&
		    json_string_length(json_object_get(o, KW_PREV)) == 64)
			strcpy(prev, json_string_value(json_object_get(o,
			    KW_PREV)));
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

	if (kk_audit_rotated_name(a->path, n, name, sizeof(name)) < 0)
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
	kk_audit_head(a, t->head);
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
		kk_close(fds[i]);
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
		t->fd[i] = kk_close(t->fd[i]);
	}
	t->nfiles = 0;
}
