/*
 * Framing shared by the control socket and the CSIRT channel: a 4-byte
 * big-endian length followed by that many bytes of body (DESIGN 4).  The
 * incremental reader never allocates more than the announced length, and
 * the length is checked against the limit before anything is allocated.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kakuri.h"

void
kk_frame_reader_init(struct kk_frame_reader *r, size_t max)
{
	memset(r, 0, sizeof(*r));
	r->max = max;
}

/* Ready for the next frame, its limit and hook kept. */
static void
reader_again(struct kk_frame_reader *r)
{
	int (*over)(void *, size_t) = r->over;
	void *arg = r->over_arg;

	kk_frame_reader_init(r, r->max);
	r->over = over;
	r->over_arg = arg;
}

void
kk_frame_reader_reset(struct kk_frame_reader *r)
{
	free(r->body);
	reader_again(r);
}

bool
kk_frame_partial(const struct kk_frame_reader *r)
{
	return r->hdr_have > 0 &&
	    (r->hdr_have < 4 || r->body_have < r->body_len);
}

int
kk_frame_header(uint8_t hdr[4], size_t len, size_t max)
{
	if (len == 0)
		return -EBADMSG;
	if (len > max || len > UINT32_MAX)
		return -EMSGSIZE;
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	return 0;
}

int
kk_frame_feed(struct kk_frame_reader *r, const uint8_t *data, size_t len,
    size_t *used)
{
	size_t take, off = 0;
	uint32_t n;
	int e;

	*used = 0;
	if (r->hdr_have < 4) {
		take = 4 - r->hdr_have;
		if (take > len)
			take = len;
		memcpy(r->hdr + r->hdr_have, data, take);
		r->hdr_have += take;
		off += take;
		*used = off;
		if (r->hdr_have < 4)
			return 0;
		n = (uint32_t)r->hdr[0] << 24 | (uint32_t)r->hdr[1] << 16 |
		    (uint32_t)r->hdr[2] << 8 | r->hdr[3];
		if (n == 0)
			return -EBADMSG;
		if (n > r->max && (e = r->over != NULL ?
		    r->over(r->over_arg, n) : -EMSGSIZE) < 0)
			return e;
		r->body = malloc(n);
		if (r->body == NULL)
			return -ENOMEM;
		r->body_len = n;
		r->body_have = 0;
	}
	take = r->body_len - r->body_have;
	if (take > len - off)
		take = len - off;
	memcpy(r->body + r->body_have, data + off, take);
	r->body_have += take;
	off += take;
	*used = off;
	return r->body_have == r->body_len ? 1 : 0;
}

uint8_t *
kk_frame_take(struct kk_frame_reader *r, size_t *len)
{
	uint8_t *body = r->body;

	*len = r->body_len;
	r->body = NULL;
	reader_again(r);
	return body;
}

int
kk_frame_next(struct kk_frame_reader *r, const uint8_t *buf, size_t have,
    size_t *off, uint8_t **body, size_t *len)
{
	size_t used;
	int ret;

	/* one feed is enough: it stops only at a frame's end or buf's */
	ret = kk_frame_feed(r, buf + *off, have - *off, &used);
	*off += used;
	if (ret == 1)
		*body = kk_frame_take(r, len);
	return ret;
}

int
kk_frame_feed_each(struct kk_frame_reader *r, const uint8_t *data, size_t len,
    size_t *used, int (*fn)(void *arg, uint8_t *body, size_t len), void *arg)
{
	size_t n, off = 0, blen;
	uint8_t *body;
	int ret = 0;

	while (off < len && ret == 0) {
		ret = kk_frame_feed(r, data + off, len - off, &n);
		off += n;
		if (ret == 1) {
			body = kk_frame_take(r, &blen);
			ret = fn(arg, body, blen);
		}
	}
	if (used != NULL)
		*used = off;
	return ret;
}

int
kk_frame_write(int fd, const void *body, size_t len)
{
	return kk_frame_write_max(fd, body, len, KK_FRAME_MAX);
}

int
kk_frame_write_max(int fd, const void *body, size_t len, size_t max)
{
	uint8_t hdr[4];
	int r;

	r = kk_frame_header(hdr, len, max);
	if (r < 0)
		return r;
	r = kk_write_all(fd, hdr, sizeof(hdr));
	if (r < 0)
		return r;
	return kk_write_all(fd, body, len);
}

/*
 * What a poll or read that returned n means to the loop around it: 1 go
 * on, 0 try again (a signal came), or the error: -errno, or none when
 * nothing came.
 */
static int
io_step(ssize_t n, int none)
{
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	return n == 0 ? none : 1;
}

/* Blocking read of one frame, bounded by timeout_ms in total (< 0: none). */
int
kk_frame_read(int fd, uint8_t **body, size_t *len, size_t max, int timeout_ms)
{
	struct kk_frame_reader rd;
	uint8_t buf[16384];
	long long deadline = kk_mono_ms() + timeout_ms;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t used, off;
	ssize_t n;
	int r, wait;

	kk_frame_reader_init(&rd, max);
	for (;;) {
		if (timeout_ms >= 0) {
			wait = (int)(deadline - kk_mono_ms());
			r = wait <= 0 ? -ETIMEDOUT :
			    io_step(poll(&pfd, 1, wait), -ETIMEDOUT);
			if (r == 0)
				continue;
			if (r < 0)
				goto out;
		}
		n = read(fd, buf, sizeof(buf));
		if ((r = io_step(n, -ECONNRESET)) == 0)
			continue;
		if (r < 0)
			goto out;
		/* One frame per call: a peer that sends more is a protocol error. */
		off = 0;
		while (off < (size_t)n) {
			r = kk_frame_feed(&rd, buf + off, (size_t)n - off, &used);
			off += used;
			if (r < 0)
				goto out;
			if (r == 1) {
				if (off != (size_t)n) {
					r = -EPROTO;
					goto out;
				}
				*body = kk_frame_take(&rd, len);
				return 0;
			}
		}
	}
out:
	kk_frame_reader_reset(&rd);
	return r;
}

bool
kk_frame_is_chunk(const uint8_t *body, size_t len)
{
	static const char prefix[] = "{\"chunk\"";

	return len > sizeof(prefix) - 1 &&
	    memcmp(body, prefix, sizeof(prefix) - 1) == 0;
}
