/*
 * The audit timeline: one JSON object per line, appended and fsync'd.
 * Every line carries "prev", the SHA-256 of the previous line's bytes
 * (without its newline); the first line's prev is 64 zeros.  Changing,
 * inserting or removing a line breaks the chain at the next line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "kakuri.h"

#define KK_AUDIT_LINE_MAX	(16 * 1024)

static void
to_hex(const unsigned char *in, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

/*
 * Finds the last line and hashes it, and the last sequence number: from
 * the last line that parses, plus one for every (torn) line after it.
 */
static int
load_tail(struct kk_audit *a)
{
	struct stat st;
	char *buf = NULL;
	size_t want, end, start, e, b, after = 0;
	ssize_t n;
	json_t *o;
	int r;

	if (fstat(a->fd, &st) < 0)
		return -errno;
	if (st.st_size == 0)
		return 0;
	/* room for the longest line, its newline and the newline before it */
	want = (size_t)st.st_size > 4 * (KK_AUDIT_LINE_MAX + 2) ?
	    4 * (KK_AUDIT_LINE_MAX + 2) : (size_t)st.st_size;
	buf = malloc(want);
	if (buf == NULL)
		return -ENOMEM;
	n = pread(a->fd, buf, want, st.st_size - (off_t)want);
	if (n != (ssize_t)want) {
		r = n < 0 ? -errno : -EIO;
		goto out;
	}
	end = want;
	if (buf[end - 1] != '\n') {
		/*
		 * A torn last line (crash during write).  Keep it - it is
		 * evidence - and terminate it so the chain goes on from it;
		 * verification will name it.
		 */
		if (write(a->fd, "\n", 1) != 1) {
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

int
kk_audit_open(struct kk_audit *a, const char *path)
{
	int r;

	memset(a, 0, sizeof(*a));
	a->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (a->fd < 0)
		return -errno;
	r = load_tail(a);
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

int
kk_audit_append(struct kk_audit *a, const char *actor, const char *action,
    const char *result, const char *episode, struct json_t *extra)
{
	char when[64], prev[65];
	json_t *o = NULL;
	const char *k;
	json_t *v;
	char *line = NULL;
	size_t len;
	ssize_t n;
	int r;

	if (a->fd < 0)
		return -EBADF;
	rfc3339_now(when, sizeof(when));
	if (a->lines == 0 && memcmp(a->last, (unsigned char[32]){ 0 }, 32) == 0)
		strcpy(prev, KK_AUDIT_GENESIS);
	else
		to_hex(a->last, 32, prev);
	o = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s}", "time", when,
	    "seq", (json_int_t)(a->lines + 1), "actor", actor ? actor : "",
	    "action", action, "result", result ? result : "",
	    "episode", episode ? episode : "");
	if (o == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (extra != NULL) {
		json_object_foreach(extra, k, v) {
			if (json_object_get(o, k) == NULL && strcmp(k, "prev") != 0)
				json_object_set(o, k, v);
		}
	}
	json_object_set_new(o, "prev", json_string(prev));
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER |
	    JSON_ENSURE_ASCII);
	if (line == NULL) {
		r = -ENOMEM;
		goto out;
	}
	len = strlen(line);
	if (len > KK_AUDIT_LINE_MAX) {
		r = -E2BIG;
		goto out;
	}
	line[len] = '\n';	/* json_dumps' terminator becomes the newline */
	n = write(a->fd, line, len + 1);
	if (n != (ssize_t)len + 1) {
		r = n < 0 ? -errno : -EIO;
		goto out;
	}
	if (fdatasync(a->fd) < 0) {
		r = -errno;
		goto out;
	}
	kk_sha256(line, len, a->last);
	a->lines++;
	r = 0;
out:
	free(line);
	json_decref(o);
	return r;
}

int
kk_audit_verify(const char *buf, size_t len, const char *first_prev,
    size_t *bad)
{
	unsigned char md[32];
	char expect[65];
	const char *line = buf, *nl, *prev;
	size_t lineno = 0, linelen;
	json_t *o;

	*bad = 0;
	strcpy(expect, first_prev);
	while (line < buf + len) {
		lineno++;
		nl = memchr(line, '\n', (size_t)(buf + len - line));
		linelen = nl ? (size_t)(nl - line) : (size_t)(buf + len - line);
		o = json_loadb(line, linelen, JSON_REJECT_DUPLICATES, NULL);
		prev = o ? json_string_value(json_object_get(o, "prev")) : NULL;
		if (prev == NULL || strcmp(prev, expect) != 0) {
			json_decref(o);
			*bad = lineno;
			return -EBADMSG;
		}
		json_decref(o);
		kk_sha256(line, linelen, md);
		to_hex(md, 32, expect);
		if (nl == NULL)
			break;
		line = nl + 1;
	}
	return 0;
}
