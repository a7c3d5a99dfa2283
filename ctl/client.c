/*
 * The control socket's client side: kakurid's local control socket,
 * length-prefixed JSON frames (common/frame.c), one request per
 * connection.  kakurid decides who is asking from the connection's
 * credentials, never from anything said here.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "kakuri.h"
#include "client.h"
#include "output.h"
#include "wire.h"

#define REQUEST_TIMEOUT_MS	15000

int
ctl_send(struct ctl *c, json_t *req, int *fdp)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char *text = NULL;
	int fd = -1, err, ret = EX_UNREACHABLE;

	*fdp = -1;
	if (strlen(c->socket_path) >= sizeof(sun.sun_path)) {
		fail_line("socket path too long: %s", c->socket_path);
		return EX_USAGE;
	}
	strcpy(sun.sun_path, c->socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fail_line("agent not reachable at %s: %s", c->socket_path,
		    strerror(errno));
		goto out;
	}
	text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	/* kakurid says what it takes from whom: root's may be larger */
	err = text ? kk_frame_write_max(fd, text, strlen(text),
	    KK_CONTROL_ROOT_FRAME_MAX) : -ENOMEM;
	/*
	 * An agent that refuses the connection (busy) answers and closes at
	 * once, maybe before the request is written: read what it said.
	 */
	if (err < 0 && err != -EPIPE && err != -ECONNRESET) {
		fail_line("agent not reachable at %s: write failed",
		    c->socket_path);
		goto out;
	}
	*fdp = fd;
	fd = -1;
	ret = EX_DONE;
out:
	kk_close(fd);
	free(text);
	return ret;
}

/* A frame that should be the answer: one JSON object. */
static int
parse_answer(const uint8_t *body, size_t len, json_t **resp)
{
	json_error_t jerr;

	*resp = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES,
	    &jerr);
	if (*resp == NULL || !json_is_object(*resp)) {
		fail_line("malformed answer from the agent");
		json_decref(*resp);
		*resp = NULL;
		return EX_FAILED;
	}
	return EX_DONE;
}

int
ctl_check_ok(struct ctl *c, json_t *resp)
{
	const char *why, *msg;
	char w[64], m[1024];

	if (kk_wire_answer(resp, &why, &msg) == 1)
		return EX_DONE;
	if (c->quiet_busy && strcmp(why, KE_BUSY) == 0)
		return EX_FAILED;
	if (c->json)
		print_json(resp);
	/* one line of printable text, whatever the socket's peer wrote */
	kk_text_clean(w, sizeof(w), why, strlen(why));
	kk_text_clean(m, sizeof(m), msg, strlen(msg));
	fail_line("%s: %s", w, m);
	return EX_FAILED;
}

int
ctl_call(struct ctl *c, json_t *req, json_t **resp)
{
	uint8_t *body = NULL;
	size_t len;
	int fd = -1, err, ret;

	*resp = NULL;
	ret = ctl_send(c, req, &fd);
	json_decref(req);
	if (ret != EX_DONE)
		goto out;
	err = kk_frame_read(fd, &body, &len, KK_FRAME_MAX, REQUEST_TIMEOUT_MS);
	if (err < 0) {
		fail_line("agent not reachable at %s: %s", c->socket_path,
		    strerror(-err));
		ret = EX_UNREACHABLE;
		goto out;
	}
	if ((ret = parse_answer(body, len, resp)) == EX_DONE)
		ret = ctl_check_ok(c, *resp);
out:
	kk_close(fd);
	free(body);
	return ret;
}

/*
 * kk_frame_read takes one frame and refuses more: a stream keeps the
 * bytes read past a frame for the next call.
 */
struct ctl_stream {
	int fd;
	struct kk_frame_reader rd;
	uint8_t buf[16384];
	size_t have;
	size_t off;
};

struct ctl_stream *
ctl_stream_new(int fd)
{
	struct ctl_stream *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->fd = fd;
	kk_frame_reader_init(&s->rd, KK_FRAME_MAX);
	return s;
}

void
ctl_stream_free(struct ctl_stream *s)
{
	if (s == NULL)
		return;
	kk_close(s->fd);
	kk_frame_reader_reset(&s->rd);
	free(s);
}

int
ctl_stream_frame(struct ctl_stream *s, uint8_t **body, size_t *len)
{
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
	ssize_t n;
	int r;

	for (;;) {
		if (s->off < s->have) {
			r = kk_frame_next(&s->rd, s->buf, s->have, &s->off,
			    body, len);
			if (r < 0)
				return r;
			if (r == 1)
				return 0;
		}
		r = poll(&pfd, 1, REQUEST_TIMEOUT_MS);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -ETIMEDOUT;
		n = read(s->fd, s->buf, sizeof(s->buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		s->have = (size_t)n;
		s->off = 0;
	}
}

int
ctl_stream_answer(struct ctl *c, struct ctl_stream *s, json_t **resp)
{
	uint8_t *body;
	size_t len;
	int err, ret;

	*resp = NULL;
	if ((err = ctl_stream_frame(s, &body, &len)) < 0) {
		fail_line("agent not reachable at %s: %s", c->socket_path,
		    strerror(-err));
		return EX_UNREACHABLE;
	}
	ret = parse_answer(body, len, resp);
	free(body);
	if (ret == EX_DONE)
		ret = ctl_check_ok(c, *resp);
	return ret;
}
