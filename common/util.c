/*
 * Small helpers both programs use, each written once: mode names, hex,
 * SHA-256 of memory and of a file, writing all of a buffer, closing a
 * descriptor that may be open, reading a whole file, the evidence id
 * rule, and the one check every piece of text goes through where it
 * crosses a boundary (control requests, signed command fields, the
 * policy, the audit log).
 */
#include <errno.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <linux/netlink.h>

#include "kakuri.h"
#include "sha256.h"

#define HASH_CHUNK	(1U << 16)	/* bytes of a file hashed at a time */

static const char *const mode_names[] = {
	[KK_MODE_OPEN] = "open",
	[KK_MODE_EGRESS] = "egress",
	[KK_MODE_ISOLATED] = "isolated",
};

static const char *const report_type_names[KK_REPORT__MAX] = {
	KK_REPORT_TYPES(KK_ENUM_WORD)
};

int
kk_name_find(const char *const names[], size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (names[i] != NULL && strcmp(name, names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
kk_name_at(const char *const names[], size_t n, unsigned i)
{
	if (i >= n || names[i] == NULL)
		return "unknown";
	return names[i];
}

const char *
kk_mode_name(enum kk_mode m)
{
	return kk_name_at(mode_names, nitems(mode_names), (unsigned)m);
}

int
kk_mode_parse(const char *s, enum kk_mode *out)
{
	int i = kk_name_find(mode_names, nitems(mode_names), s);

	if (i < 0)
		return -EINVAL;
	*out = (enum kk_mode)i;
	return 0;
}

const char *
kk_report_type_name(enum kk_report_type t)
{
	return kk_name_at(report_type_names, nitems(report_type_names),
	    (unsigned)t);
}

int
kk_report_type_parse(const char *s, enum kk_report_type *out)
{
	int i;

	if (s == NULL ||
	    (i = kk_name_find(report_type_names, nitems(report_type_names),
	    s)) < 0)
		return -EINVAL;
	*out = (enum kk_report_type)i;
	return 0;
}

void
kk_unescape_octal(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
			    (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

void
kk_hex(const void *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *p = in;
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * len] = '\0';
}

bool
kk_is_hex(const char *s, size_t len, size_t n)
{
	size_t i;

	if (len != n)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

void
kk_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];

	kk_sha256(data, len, md);
	kk_hex(md, sizeof(md), out);
}

uint64_t
kk_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

long long
kk_mono_ms(void)
{
	return (long long)(kk_mono_ns() / 1000000);
}

/*
 * The one loop that hashes a file, in chunks of HASH_CHUNK bytes: with
 * off >= 0 the len bytes from off (pread; a file that ends sooner is
 * -EIO), otherwise what is left to read of fd (read; more than len bytes
 * is -EFBIG).  -ETIMEDOUT once CLOCK_MONOTONIC passes deadline_ns (0:
 * none).  seen, if not NULL, is shown each chunk as it is hashed, so a
 * caller that wants more of the bytes than their hash reads them once.
 */
static int
sha256_fd(int fd, off_t off, uint64_t len, uint64_t deadline_ns,
    void (*seen)(const void *, size_t, void *), void *arg, char out[65])
{
	unsigned char md[32], *buf;
	uint64_t done = 0;
	struct kk_sha256_ctx c;
	size_t want;
	ssize_t n;
	int r = 0;

	if ((buf = malloc(HASH_CHUNK)) == NULL)
		return -ENOMEM;
	kk_sha256_begin(&c);
	for (;;) {
		if (deadline_ns != 0 && kk_mono_ns() >= deadline_ns) {
			r = -ETIMEDOUT;
			goto out;
		}
		if (off >= 0 && done == len)
			break;
		if (off >= 0) {
			want = len - done < HASH_CHUNK ? (size_t)(len - done) :
			    HASH_CHUNK;
			n = pread(fd, buf, want, off + (off_t)done);
		} else {
			n = read(fd, buf, HASH_CHUNK);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0 && off < 0)
			break;
		if (n == 0) {
			r = -EIO;
			goto out;
		}
		done += (uint64_t)n;
		if (done > len) {
			r = -EFBIG;
			goto out;
		}
		kk_sha256_add(&c, buf, (size_t)n);
		if (seen != NULL)
			seen(buf, (size_t)n, arg);
	}
	kk_sha256_end(&c, md);
	kk_hex(md, sizeof(md), out);
out:
	free(buf);
	return r;
}

int
kk_sha256_hex_range(int fd, off_t off, off_t len, char out[65])
{
	return sha256_fd(fd, off < 0 ? 0 : off, len < 0 ? 0 : (uint64_t)len,
	    0, NULL, NULL, out);
}

int
kk_fd_sha256(int fd, uint64_t max, uint64_t deadline_ns, char out[65])
{
	return sha256_fd(fd, -1, max, deadline_ns, NULL, NULL, out);
}

int
kk_fd_sha256_each(int fd, uint64_t max,
    void (*seen)(const void *, size_t, void *), void *arg, char out[65])
{
	return sha256_fd(fd, -1, max, 0, seen, arg, out);
}

/*
 * The one loop of kk_write_all and kk_pwrite_all: with off >= 0 at off
 * (pwrite), otherwise at fd's position (write).
 */
static int
write_all_at(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = off >= 0 ? pwrite(fd, p, len, off) : write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
		if (off >= 0)
			off += n;
	}
	return 0;
}

int
kk_close(int fd)
{
	int saved = errno;

	/*
	 * close's own error is of no use here: the descriptor is gone
	 * either way (Linux frees it even on EINTR), and the caller's errno
	 * still tells of what went wrong before.
	 */
	if (fd >= 0)
		(void)close(fd);
	errno = saved;
	return -1;
}

int
kk_dir_lock(const char *dir, const char *name, pid_t *holder)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char path[PATH_MAX], pid[24];
	int fd, n, r;

	*holder = 0;
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fcntl(fd, F_SETLK, &fl) < 0) {
		r = -errno;
		if (r == -EAGAIN || r == -EACCES) {
			r = -EBUSY;
			fl = (struct flock){ .l_type = F_WRLCK,
			    .l_whence = SEEK_SET };
			if (fcntl(fd, F_GETLK, &fl) == 0 &&
			    fl.l_type != F_UNLCK)
				*holder = fl.l_pid;
		}
		close(fd);
		return r;
	}
	/* for people: who holds it (the lock itself is what counts) */
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0)
		(void)kk_pwrite_all(fd, pid, (size_t)n, 0);
	return fd;
}

int
kk_write_all(int fd, const void *buf, size_t len)
{
	return write_all_at(fd, buf, len, -1);
}

int
kk_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	return off < 0 ? -EINVAL : write_all_at(fd, buf, len, off);
}

ssize_t
kk_nl_recv_from_kernel(int fd, void *buf, size_t len, int flags,
    unsigned max, unsigned long *passed)
{
	struct sockaddr_nl from;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = { .msg_name = &from, .msg_iov = &iov,
	    .msg_iovlen = 1 };
	ssize_t n;
	unsigned i;

	for (i = 0; i < max; i++) {
		mh.msg_namelen = sizeof(from);
		n = recvmsg(fd, &mh, flags);
		if (n < 0)
			return -errno;
		if (mh.msg_namelen == sizeof(from) &&
		    from.nl_family == AF_NETLINK && from.nl_pid == 0)
			return n;
		if (passed && *passed < (unsigned long)-1)
			(*passed)++;
	}
	return -ENOMSG;
}

ssize_t
kk_read_upto(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, p + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int
kk_rfc3339(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL)
		return -EINVAL;
	if (strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -ENOBUFS;
	return 0;
}

/*
 * Text.  Strict UTF-8 (no overlong forms, no surrogates, nothing above
 * U+10FFFF) without control characters: C0 and NUL, DEL and C1
 * (U+0080..U+009F, where U+009B is CSI on some terminals), line and
 * paragraph separators, and the bidirectional overrides and isolates that
 * can make printed text read differently from what it says.  Text that is
 * too long is cut on a character boundary, never inside a character: a
 * cut character is invalid UTF-8, which json_pack refuses, and a state
 * that cannot be written is a state that is lost.
 */

/* Length of the valid character at s (1-4), or 0; its code point in *cp. */
static size_t
utf8_char(const unsigned char *s, size_t avail, uint32_t *cp)
{
	size_t n, i;
	uint32_t c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n > avail)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

static bool
is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 ||
	    cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069);
}

int
kk_text_check(const char *s, size_t len, size_t *bad)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, n;
	uint32_t cp;
	int r = 0;

	while (i < len) {
		if ((n = utf8_char(u + i, len - i, &cp)) == 0) {
			r = -EILSEQ;
			break;
		}
		if (is_control(cp)) {
			r = -EINVAL;
			break;
		}
		i += n;
	}
	if (bad != NULL)
		*bad = i;
	return r;
}

const char *
kk_text_problem(int err)
{
	return err == -EILSEQ ? "is not valid UTF-8" :
	    err == -EINVAL ? "contains a control character" :
	    err == -E2BIG ? "is too long" : "is not text";
}

size_t
kk_text_cut(const char *s, size_t len, size_t max)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n;

	if (len <= max)
		return len;
	/* back over continuation bytes to the start of the cut character */
	for (n = max; n > 0 && (u[n] & 0xc0) == 0x80; n--)
		;
	return n;
}

int
kk_text_copy(char *dst, size_t size, const char *s, size_t len)
{
	size_t n;
	int r;

	if (size == 0)
		return -ENOBUFS;
	dst[0] = '\0';
	if ((r = kk_text_check(s, len, NULL)) < 0)
		return r;
	n = kk_text_cut(s, len, size - 1);
	memcpy(dst, s, n);
	dst[n] = '\0';
	return n < len ? 1 : 0;
}

size_t
kk_text_clean(char *dst, size_t size, const char *s, size_t len)
{
	static const char repl[] = "\xef\xbf\xbd";	/* U+FFFD */
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0, n;
	uint32_t cp;

	if (size == 0)
		return 0;
	while (i < len) {
		n = utf8_char(u + i, len - i, &cp);
		if (n == 0 || is_control(cp)) {
			if (o + 3 > size - 1)
				break;
			memcpy(dst + o, repl, 3);
			o += 3;
			i += n ? n : 1;
			continue;
		}
		if (o + n > size - 1)
			break;
		memcpy(dst + o, s + i, n);
		o += n;
		i += n;
	}
	dst[o] = '\0';
	return o;
}

size_t
kk_text_ascii(char *dst, size_t size, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i, o = 0;

	if (size == 0)
		return 0;
	for (i = 0; i < len; i++) {
		if (u[i] > 0x20 && u[i] < 0x7f && u[i] != '\\') {
			if (o + 1 > size - 1)
				break;
			dst[o++] = (char)u[i];
			continue;
		}
		if (o + 4 > size - 1)
			break;
		dst[o++] = '\\';
		dst[o++] = 'x';
		kk_hex(u + i, 1, dst + o);	/* its NUL fits: o + 2 < size */
		o += 2;
	}
	dst[o] = '\0';
	return o;
}

/*
 * The explanation ends up in receipts and in the audit log, and may quote
 * the payload (a key name, jansson's "near '...'"): keep it printable
 * ASCII so that it is one safe line and valid UTF-8 wherever it goes.
 */
void
kk_explain(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;
	char *p;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	for (p = why; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
}

/*
 * Whole files in memory, with a cap: signed command files, manifests.
 * Only regular files: a FIFO or a device named by mistake must not hang
 * or flood the caller.
 */
int
kk_fd_regular(int fd, uint64_t max, size_t *size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	*size = (size_t)st.st_size;
	return 0;
}

int
kk_read_fd(int fd, size_t max, char **out, size_t *len)
{
	char *buf = NULL;
	size_t size, got = 0;
	ssize_t n;
	int r = 0;

	*out = NULL;
	*len = 0;
	if ((r = kk_fd_regular(fd, max, &size)) < 0)
		goto out;
	buf = malloc(size + 1);
	if (buf == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if ((n = kk_read_upto(fd, buf, size)) < 0 || (size_t)n < size) {
		r = n < 0 ? (int)n : -EIO;
		goto out;
	}
	got = (size_t)n;
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
out:
	free(buf);
	return r;
}

int
kk_read_file(const char *path, size_t max, char **out, size_t *len)
{
	int fd, r;

	*out = NULL;
	*len = 0;
	/* O_NONBLOCK: opening a FIFO in place of a file must not hang us */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = kk_read_fd(fd, max, out, len);
	close(fd);
	return r;
}

bool
kk_evidence_id_ok(const char *id)
{
	size_t i, n = strlen(id);

	if (n == 0 || n > KK_EVIDENCE_ID_MAX || strcmp(id, ".") == 0 ||
	    strcmp(id, "..") == 0)
		return false;
	for (i = 0; i < n; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

const char *
kk_group_name_problem(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0)
		return "is empty";
	if (n > KK_GROUP_NAME_MAX)
		return "is longer than 64 bytes";
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return "must start with a-z or 0-9";
	for (i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
		    s[i] == '_' || s[i] == '-'))
			return "may hold only a-z, 0-9, '.', '_' and '-'";
	return NULL;
}

uint64_t
kk_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
