/*
 * Framing (common/frame.c): 4-byte big-endian length + body, body
 * 1..max bytes.  The header codec, the incremental reader fed in every
 * possible way, its limits (checked before any allocation), and the
 * blocking kk_frame_read/kk_frame_write pair over a socketpair.
 *
 * Peers that must write more than a socket buffer holds run in a forked
 * child that only writes and _exit()s.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "kakuri.h"
#include "suites.h"
#include "testutil.h"

#define TIMEOUT_MS	100

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint8_t *
pattern(size_t len, unsigned seed)
{
	uint8_t *p = malloc(len ? len : 1);
	size_t i;

	ck_assert_ptr_nonnull(p);
	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 131 + seed * 7 + (i >> 8));
	return p;
}

/* A body of len pattern bytes and its frame: header and body in one buffer. */
struct sample {
	uint8_t *body, *frame;
	size_t len, flen;
};

static void
sample_make(struct sample *s, size_t len, unsigned seed)
{
	s->body = pattern(len, seed);
	s->len = len;
	s->flen = len + 4;
	s->frame = malloc(s->flen);
	ck_assert_ptr_nonnull(s->frame);
	ck_assert_int_eq(kk_frame_header(s->frame, len, KK_FRAME_MAX), 0);
	memcpy(s->frame + 4, s->body, len);
}

static void
sample_free(struct sample *s)
{
	free(s->body);
	free(s->frame);
}

static void
pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
}

static void
unpair(int sv[2])
{
	close(sv[0]);
	close(sv[1]);
}

/* kk_frame_read(fd, max, timeout_ms) fails with err and hands nothing. */
static void
read_fails(int fd, size_t max, int timeout_ms, int err)
{
	uint8_t *got = NULL;
	size_t glen;

	ck_assert_int_eq(kk_frame_read(fd, &got, &glen, max, timeout_ms),
	    err);
	ck_assert_ptr_null(got);
}

/* kk_frame_read(fd, max, timeout_ms) reads the len bytes of want. */
static void
read_eq(int fd, size_t max, int timeout_ms, const void *want, size_t len)
{
	uint8_t *got = NULL;
	size_t glen;

	ck_assert_int_eq(kk_frame_read(fd, &got, &glen, max, timeout_ms), 0);
	ck_assert_uint_eq(glen, len);
	ck_assert_mem_eq(got, want, len);
	free(got);
}

static void
write_raw(int fd, const void *data, size_t len)
{
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
}

/* len raw bytes from the peer make a read (up to KK_FRAME_MAX) fail: err */
static void
raw_read_fails(const void *data, size_t len, int timeout_ms, int err)
{
	int sv[2];

	pair(sv);
	write_raw(sv[1], data, len);
	read_fails(sv[0], KK_FRAME_MAX, timeout_ms, err);
	unpair(sv);
}

/* Nothing waiting on fd. */
static void
assert_empty(int fd)
{
	uint8_t b;
	ssize_t n;
	int e;

	n = recv(fd, &b, 1, MSG_DONTWAIT);
	e = errno;
	ck_assert_int_eq(n, -1);
	ck_assert_int_eq(e, EAGAIN);
}

/* ---- header ---- */

static const size_t hdr_lens[] = { 1, 255, 256, 65535, 65536,
    KK_FRAME_MAX - 1, KK_FRAME_MAX };

/*
 * Feeds n bytes at p to r: it must say done (1: a whole frame) or
 * not yet (0), having used want_used of them.
 */
static void
feed_eq(struct kk_frame_reader *r, const uint8_t *p, size_t n, int done,
    size_t want_used)
{
	size_t used = 99;

	ck_assert_int_eq(kk_frame_feed(r, p, n, &used), done);
	ck_assert_uint_eq(used, want_used);
}

/* r holds no frame, not even part of a header, and keeps its max. */
static void
reader_is_clean(const struct kk_frame_reader *r, size_t max)
{
	ck_assert_ptr_null(r->body);
	ck_assert_uint_eq(r->hdr_have, 0);
	ck_assert_uint_eq(r->max, max);
}

START_TEST(test_header_roundtrip)
{
	struct kk_frame_reader r;
	size_t len = hdr_lens[_i];
	uint8_t hdr[4];

	memset(hdr, 0xee, sizeof(hdr));
	ck_assert_int_eq(kk_frame_header(hdr, len, KK_FRAME_MAX), 0);
	ck_assert_uint_eq(hdr[0], (len >> 24) & 0xff);
	ck_assert_uint_eq(hdr[1], (len >> 16) & 0xff);
	ck_assert_uint_eq(hdr[2], (len >> 8) & 0xff);
	ck_assert_uint_eq(hdr[3], len & 0xff);

	kk_frame_reader_init(&r, KK_FRAME_MAX);
	feed_eq(&r, hdr, 4, 0, 4);
	ck_assert_uint_eq(r.body_len, len);
	ck_assert_ptr_nonnull(r.body);
	kk_frame_reader_reset(&r);
	reader_is_clean(&r, KK_FRAME_MAX);
}
END_TEST

START_TEST(test_header_known_bytes)
{
	uint8_t hdr[4];

	ck_assert_int_eq(kk_frame_header(hdr, 1, KK_FRAME_MAX), 0);
	ck_assert_mem_eq(hdr, "\x00\x00\x00\x01", 4);
	ck_assert_int_eq(kk_frame_header(hdr, 65536, KK_FRAME_MAX), 0);
	ck_assert_mem_eq(hdr, "\x00\x01\x00\x00", 4);
	ck_assert_int_eq(kk_frame_header(hdr, KK_FRAME_MAX, KK_FRAME_MAX), 0);
	ck_assert_mem_eq(hdr, "\x00\x10\x00\x00", 4);
	ck_assert_int_eq(kk_frame_header(hdr, 0x01020304, 0x01020304), 0);
	ck_assert_mem_eq(hdr, "\x01\x02\x03\x04", 4);
}
END_TEST

START_TEST(test_header_limits)
{
	uint8_t hdr[4] = { 0xaa, 0xbb, 0xcc, 0xdd };

	ck_assert_int_eq(kk_frame_header(hdr, 0, KK_FRAME_MAX), -EBADMSG);
	ck_assert_int_eq(kk_frame_header(hdr, KK_FRAME_MAX + 1, KK_FRAME_MAX),
	    -EMSGSIZE);
	ck_assert_int_eq(kk_frame_header(hdr, 17, 16), -EMSGSIZE);
	ck_assert_int_eq(kk_frame_header(hdr, SIZE_MAX, KK_FRAME_MAX),
	    -EMSGSIZE);
	/* a refused header leaves the buffer alone */
	ck_assert_mem_eq(hdr, "\xaa\xbb\xcc\xdd", 4);
	ck_assert_int_eq(kk_frame_header(hdr, 16, 16), 0);
}
END_TEST

/*
 * Regression (common/frame.c, kk_frame_header()): a length that does not
 * fit in 32 bits used to be accepted when max allowed it and silently
 * truncated (2^32 encoded as 00 00 00 00, a zero-length frame; 2^32 + 5
 * as 5), desynchronising the stream.
 */
START_TEST(test_header_over_32bit)
{
#if SIZE_MAX > UINT32_MAX
	uint8_t hdr[4] = { 0xee, 0xee, 0xee, 0xee };

	ck_assert_msg(kk_frame_header(hdr, (size_t)UINT32_MAX + 1, SIZE_MAX) ==
	    -EMSGSIZE, "2^32 encoded as %02x%02x%02x%02x",
	    hdr[0], hdr[1], hdr[2], hdr[3]);
	ck_assert_int_eq(kk_frame_header(hdr, (size_t)UINT32_MAX + 6,
	    SIZE_MAX), -EMSGSIZE);
#else
	ck_assert_uint_eq(sizeof(size_t), 4);
#endif
}
END_TEST

/* ---- incremental reader ---- */

/* The frame the reader holds is len bytes, those of want. */
static void
take_eq(struct kk_frame_reader *r, const void *want, size_t len)
{
	uint8_t *got;
	size_t glen = 0;

	got = kk_frame_take(r, &glen);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(glen, len);
	ck_assert_mem_eq(got, want, len);
	free(got);
}

START_TEST(test_feed_byte_by_byte)
{
	struct kk_frame_reader r;
	struct sample s;
	size_t i;

	sample_make(&s, 300, 1);
	kk_frame_reader_init(&r, KK_FRAME_MAX);
	ck_assert(!kk_frame_partial(&r));
	for (i = 0; i < s.flen; i++) {
		feed_eq(&r, s.frame + i, 1, i + 1 == s.flen ? 1 : 0, 1);
		/* begun from its first header byte to its last body byte */
		ck_assert(kk_frame_partial(&r) == (i + 1 < s.flen));
	}
	take_eq(&r, s.body, s.len);
	/* take resets the reader for the next frame */
	reader_is_clean(&r, KK_FRAME_MAX);
	ck_assert(!kk_frame_partial(&r));
	sample_free(&s);
}
END_TEST

/* Every split of a frame into two pieces assembles the same body. */
START_TEST(test_feed_every_split)
{
	struct kk_frame_reader r;
	struct sample s;
	size_t cut;

	sample_make(&s, 40, 2);
	for (cut = 0; cut <= s.flen; cut++) {
		kk_frame_reader_init(&r, 64);
		feed_eq(&r, s.frame, cut, cut == s.flen ? 1 : 0, cut);
		if (cut < s.flen)
			feed_eq(&r, s.frame + cut, s.flen - cut, 1,
			    s.flen - cut);
		take_eq(&r, s.body, s.len);
	}
	sample_free(&s);
}
END_TEST

START_TEST(test_feed_back_to_back)
{
	struct kk_frame_reader r;
	struct sample a, b;
	uint8_t *buf;

	sample_make(&a, 10, 3);
	sample_make(&b, 1000, 4);
	buf = malloc(a.flen + b.flen);
	ck_assert_ptr_nonnull(buf);
	memcpy(buf, a.frame, a.flen);
	memcpy(buf + a.flen, b.frame, b.flen);

	kk_frame_reader_init(&r, KK_FRAME_MAX);
	/* the first frame is done, the second not touched */
	feed_eq(&r, buf, a.flen + b.flen, 1, a.flen);
	take_eq(&r, a.body, a.len);
	feed_eq(&r, buf + a.flen, b.flen, 1, b.flen);
	take_eq(&r, b.body, b.len);
	free(buf);
	sample_free(&a);
	sample_free(&b);
}
END_TEST

/* kk_frame_next hands frame by frame out of one read buffer. */
START_TEST(test_next_in_buffer)
{
	struct kk_frame_reader r;
	struct sample a, b;
	uint8_t *buf, *got;
	size_t off = 0, glen, have;

	sample_make(&a, 10, 5);
	sample_make(&b, 300, 6);
	have = a.flen + b.flen;
	buf = malloc(have);
	ck_assert_ptr_nonnull(buf);
	memcpy(buf, a.frame, a.flen);
	memcpy(buf + a.flen, b.frame, b.flen);
	kk_frame_reader_init(&r, KK_FRAME_MAX);

	/* b's first 7 bytes arrive with a: a whole, b not yet */
	ck_assert_int_eq(kk_frame_next(&r, buf, a.flen + 7, &off, &got,
	    &glen), 1);
	ck_assert_uint_eq(off, a.flen);
	ck_assert_uint_eq(glen, a.len);
	ck_assert_mem_eq(got, a.body, a.len);
	free(got);
	got = NULL;
	ck_assert_int_eq(kk_frame_next(&r, buf, a.flen + 7, &off, &got,
	    &glen), 0);
	ck_assert_uint_eq(off, a.flen + 7);
	ck_assert_ptr_null(got);
	/* the rest of b */
	ck_assert_int_eq(kk_frame_next(&r, buf, have, &off, &got, &glen), 1);
	ck_assert_uint_eq(off, have);
	ck_assert_uint_eq(glen, b.len);
	ck_assert_mem_eq(got, b.body, b.len);
	free(got);
	reader_is_clean(&r, KK_FRAME_MAX);

	/* a broken length is kk_frame_feed's error */
	memset(buf, 0, 4);
	off = 0;
	got = NULL;
	ck_assert_int_eq(kk_frame_next(&r, buf, have, &off, &got, &glen),
	    -EBADMSG);
	ck_assert_ptr_null(got);
	kk_frame_reader_reset(&r);
	free(buf);
	sample_free(&a);
	sample_free(&b);
}
END_TEST

/* A one-byte body and a body of exactly max. */
START_TEST(test_feed_bounds)
{
	struct kk_frame_reader r;
	uint8_t f[4 + 16];

	kk_frame_reader_init(&r, 16);
	put_be32(f, 1);
	f[4] = 0x7f;
	feed_eq(&r, f, 5, 1, 5);
	take_eq(&r, "\x7f", 1);

	put_be32(f, 16);
	memset(f + 4, 'm', 16);
	feed_eq(&r, f, sizeof(f), 1, sizeof(f));
	take_eq(&r, f + 4, 16);
}
END_TEST

static const struct {
	uint32_t len;
	size_t max;
} oversize[] = {
	{ 0xffffffffu, KK_FRAME_MAX },
	{ KK_FRAME_MAX + 1, KK_FRAME_MAX },
	{ 0x80000000u, KK_FRAME_MAX },
	{ 17, 16 },
	{ 2, 1 },
};

/* Refused from the header alone, before anything is allocated. */
START_TEST(test_feed_oversize)
{
	struct kk_frame_reader r;
	uint8_t f[4 + 8];
	size_t used;

	put_be32(f, oversize[_i].len);
	memset(f + 4, 'x', 8);
	kk_frame_reader_init(&r, oversize[_i].max);
	ck_assert_int_eq(kk_frame_feed(&r, f, sizeof(f), &used), -EMSGSIZE);
	ck_assert_uint_le(used, 4);
	ck_assert_ptr_null(r.body);

	/* the same, with the header trickling in */
	kk_frame_reader_init(&r, oversize[_i].max);
	ck_assert_int_eq(kk_frame_feed(&r, f, 3, &used), 0);
	ck_assert_ptr_null(r.body);
	ck_assert_int_eq(kk_frame_feed(&r, f + 3, 1, &used), -EMSGSIZE);
	ck_assert_ptr_null(r.body);
}
END_TEST

START_TEST(test_feed_zero_length)
{
	struct kk_frame_reader r;
	uint8_t f[6] = { 0, 0, 0, 0, 'a', 'b' };
	size_t used;

	kk_frame_reader_init(&r, KK_FRAME_MAX);
	ck_assert_int_eq(kk_frame_feed(&r, f, sizeof(f), &used), -EBADMSG);
	ck_assert_uint_le(used, 4);
	ck_assert_ptr_null(r.body);
}
END_TEST

/* Reset in the middle of a frame discards it; the next frame is clean. */
START_TEST(test_feed_reset_midframe)
{
	struct kk_frame_reader r;
	struct sample s;

	sample_make(&s, 50, 5);
	kk_frame_reader_init(&r, KK_FRAME_MAX);
	feed_eq(&r, s.frame, 20, 0, 20);
	ck_assert_ptr_nonnull(r.body);
	kk_frame_reader_reset(&r);
	reader_is_clean(&r, KK_FRAME_MAX);
	feed_eq(&r, s.frame, s.flen, 1, s.flen);
	take_eq(&r, s.body, s.len);
	sample_free(&s);
}
END_TEST

/* ---- kk_frame_write / kk_frame_read ---- */

static const size_t rw_lens[] = { 1, 2, 255, 16383, 16384, 16385, 65536,
    KK_FRAME_MAX };

/* Forks a child that writes body as one frame on fd and exits. */
static pid_t
writer(int fd, const uint8_t *body, size_t len)
{
	pid_t pid;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(kk_frame_write(fd, body, len) == 0 ? 0 : 1);
	return pid;
}

static void
reap(pid_t pid)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}

START_TEST(test_rw_roundtrip)
{
	size_t len = rw_lens[_i];
	uint8_t *body;
	int sv[2];
	pid_t pid;

	body = pattern(len, (unsigned)_i);
	pair(sv);
	pid = writer(sv[1], body, len);
	read_eq(sv[0], KK_FRAME_MAX, 10000, body, len);
	reap(pid);

	/* the same with no timeout */
	pid = writer(sv[1], body, len);
	read_eq(sv[0], KK_FRAME_MAX, -1, body, len);
	reap(pid);
	assert_empty(sv[0]);
	unpair(sv);
	free(body);
}
END_TEST

/* Frames written one after the other are read one per call. */
START_TEST(test_rw_sequence)
{
	char msg[32];
	int sv[2], i, n;

	pair(sv);
	for (i = 0; i < 5; i++) {
		n = snprintf(msg, sizeof(msg), "{\"op\":\"status\",\"n\":%d}",
		    i);
		ck_assert_int_eq(kk_frame_write(sv[1], msg, (size_t)n), 0);
		read_eq(sv[0], 1024, TIMEOUT_MS * 10, msg, (size_t)n);
	}
	unpair(sv);
}
END_TEST

/* kk_frame_write refuses what it may not send, and sends nothing. */
START_TEST(test_write_limits)
{
	uint8_t *big;
	int sv[2];

	pair(sv);
	ck_assert_int_eq(kk_frame_write(sv[1], "", 0), -EBADMSG);
	assert_empty(sv[0]);
	big = pattern(KK_FRAME_MAX + 1, 9);
	ck_assert_int_eq(kk_frame_write(sv[1], big, KK_FRAME_MAX + 1),
	    -EMSGSIZE);
	assert_empty(sv[0]);
	free(big);
	unpair(sv);
}
END_TEST

START_TEST(test_write_closed_peer)
{
	void (*old)(int);
	int sv[2], r;

	old = signal(SIGPIPE, SIG_IGN);
	pair(sv);
	close(sv[0]);
	r = kk_frame_write(sv[1], "abc", 3);
	signal(SIGPIPE, old);
	ck_assert_int_eq(r, -EPIPE);
	close(sv[1]);
}
END_TEST

/* A partial header (loop 0) or a partial body (loop 1), then silence. */
START_TEST(test_read_timeout)
{
	uint8_t f[8] = { 0, 0, 0, 8, 'a', 'b', 'c', 'd' };

	raw_read_fails(f, _i ? 6 : 2, TIMEOUT_MS, -ETIMEDOUT);
}
END_TEST

/* Nothing at all within the timeout. */
START_TEST(test_read_timeout_idle)
{
	int sv[2];

	pair(sv);
	read_fails(sv[0], KK_FRAME_MAX, TIMEOUT_MS, -ETIMEDOUT);
	unpair(sv);
}
END_TEST

/* Peer closes mid-frame: inside the header, after it, inside the body. */
START_TEST(test_read_peer_closes)
{
	static const size_t cut[] = { 1, 3, 4, 10 };
	uint8_t f[4 + 100];
	int sv[2];

	put_be32(f, 100);
	memset(f + 4, 'z', 100);
	pair(sv);
	write_raw(sv[1], f, cut[_i]);
	close(sv[1]);
	read_fails(sv[0], KK_FRAME_MAX, TIMEOUT_MS * 10, -ECONNRESET);
	close(sv[0]);
}
END_TEST

/* The max argument is the limit, not KK_FRAME_MAX. */
START_TEST(test_read_over_max)
{
	uint8_t body[100];
	int sv[2];

	memset(body, 'q', sizeof(body));
	pair(sv);
	ck_assert_int_eq(kk_frame_write(sv[1], body, sizeof(body)), 0);
	read_fails(sv[0], sizeof(body) - 1, TIMEOUT_MS * 10, -EMSGSIZE);
	unpair(sv);

	pair(sv);
	ck_assert_int_eq(kk_frame_write(sv[1], body, sizeof(body)), 0);
	read_eq(sv[0], sizeof(body), TIMEOUT_MS * 10, body, sizeof(body));
	unpair(sv);
}
END_TEST

/* An oversized or zero length prefix from the peer. */
START_TEST(test_read_bad_prefix)
{
	uint8_t f[4];

	put_be32(f, 0xffffffffu);
	raw_read_fails(f, 4, TIMEOUT_MS * 10, -EMSGSIZE);
	put_be32(f, 0);
	raw_read_fails(f, 4, TIMEOUT_MS * 10, -EBADMSG);
}
END_TEST

/* Bytes after a complete frame in the same read: a protocol error. */
START_TEST(test_read_trailing)
{
	uint8_t buf[64];
	size_t n;

	ck_assert_int_eq(kk_frame_header(buf, 5, KK_FRAME_MAX), 0);
	memcpy(buf + 4, "hello", 5);
	if (_i == 0) {
		/* a second whole frame */
		ck_assert_int_eq(kk_frame_header(buf + 9, 5, KK_FRAME_MAX), 0);
		memcpy(buf + 13, "world", 5);
		n = 18;
	} else {
		/* a single stray byte */
		buf[9] = '\n';
		n = 10;
	}
	raw_read_fails(buf, n, TIMEOUT_MS * 10, -EPROTO);
}
END_TEST

/*
 * The over hook: asked once per frame over max, with the whole announced
 * length even when the header came in parts; what it admits is read,
 * what it refuses is refused with its error; it stays across frames.
 */
static size_t over_seen[4];
static int over_calls;

static int
over_upto16(void *arg, size_t len)
{
	(void)arg;
	if (over_calls < 4)
		over_seen[over_calls] = len;
	over_calls++;
	return len <= 16 ? 0 : -EBUSY;
}

START_TEST(test_feed_over_hook)
{
	struct kk_frame_reader r;
	uint8_t f[4 + 12] = { 0, 0, 0, 12, 'a', 'b', 'c', 'd', 'e', 'f', 'g',
		'h', 'i', 'j', 'k', 'l' };
	uint8_t big[4] = { 0, 0, 0, 20 }, *body;
	size_t used, len;

	over_calls = 0;
	kk_frame_reader_init(&r, 8);
	r.over = over_upto16;
	ck_assert_int_eq(kk_frame_feed(&r, f, 2, &used), 0);
	ck_assert_int_eq(over_calls, 0);
	ck_assert_int_eq(kk_frame_feed(&r, f + 2, sizeof(f) - 2, &used), 1);
	ck_assert_int_eq(over_calls, 1);
	ck_assert_uint_eq(over_seen[0], 12);
	body = kk_frame_take(&r, &len);
	ck_assert_uint_eq(len, 12);
	ck_assert_int_eq(memcmp(body, "abcdefghijkl", 12), 0);
	free(body);
	ck_assert_ptr_eq(r.over, over_upto16);
	ck_assert_uint_eq(r.max, 8);
	/* within max: not asked */
	ck_assert_int_eq(kk_frame_feed(&r, (const uint8_t *)"\0\0\0\2hi", 6,
	    &used), 1);
	ck_assert_int_eq(over_calls, 1);
	free(kk_frame_take(&r, &len));
	/* refused by the hook: its error, nothing allocated */
	ck_assert_int_eq(kk_frame_feed(&r, big, 4, &used), -EBUSY);
	ck_assert_ptr_null(r.body);
	ck_assert_int_eq(over_calls, 2);
	kk_frame_reader_reset(&r);
	ck_assert_ptr_eq(r.over, over_upto16);
	/* without a hook: -EMSGSIZE as before */
	r.over = NULL;
	ck_assert_int_eq(kk_frame_feed(&r, big, 4, &used), -EMSGSIZE);
	kk_frame_reader_reset(&r);
}
END_TEST

KK_SUITE(frame_suite, "frame",
	KK_CASE("header", 0, 0),
	    KK_LOOP(test_header_roundtrip, KK_NITEMS(hdr_lens)),
	    KK_TEST(test_header_known_bytes),
	    KK_TEST(test_header_limits),
	    KK_TEST(test_header_over_32bit),
	KK_CASE("reader", 0, 0), KK_TEST(test_feed_byte_by_byte),
	    KK_TEST(test_feed_every_split),
	    KK_TEST(test_feed_back_to_back), KK_TEST(test_feed_bounds),
	    KK_TEST(test_feed_over_hook),
	    KK_LOOP(test_feed_oversize, KK_NITEMS(oversize)),
	    KK_TEST(test_feed_zero_length),
	    KK_TEST(test_feed_reset_midframe), KK_TEST(test_next_in_buffer),
	KK_CASE("io", 0, 30),
	    KK_LOOP(test_rw_roundtrip, KK_NITEMS(rw_lens)),
	    KK_TEST(test_rw_sequence), KK_TEST(test_write_limits),
	    KK_TEST(test_write_closed_peer),
	    KK_LOOP(test_read_timeout, 2),
	    KK_TEST(test_read_timeout_idle),
	    KK_LOOP(test_read_peer_closes, 4),
	    KK_TEST(test_read_over_max), KK_TEST(test_read_bad_prefix),
	    KK_LOOP(test_read_trailing, 2))
