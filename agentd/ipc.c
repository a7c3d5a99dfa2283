/*
 * The IPC queue both sides of a child's socket use (netchild.h): framed
 * typed messages not yet written to a non-blocking socket, written with
 * writev as far as the socket takes them, never waited for; and the
 * frames read back from such a socket.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ipc.h"

#define KK_IPC_IOV		32

struct kk_ipc_msg {
	struct kk_ipc_msg *next;
	size_t len;
	size_t off;			/* written already */
	uint8_t data[];			/* length prefix, header, body */
};

int
kk_ipc_queue_add(struct kk_ipc_queue *q, uint32_t type, uint32_t conn,
    const char *peer, const void *body, size_t len)
{
	struct kk_ipc_hdr h;
	struct kk_ipc_msg *m;
	size_t total = sizeof(h) + len;
	int r;

	if (len > KK_IPC_MAX - sizeof(h))
		return -EMSGSIZE;
	m = malloc(sizeof(*m) + 4 + total);
	if (m == NULL)
		return -ENOMEM;
	if ((r = kk_frame_header(m->data, total, KK_IPC_MAX)) < 0) {
		free(m);
		return r;
	}
	memset(&h, 0, sizeof(h));
	h.type = type;
	h.conn = conn;
	if (peer)
		snprintf(h.peer, sizeof(h.peer), "%s", peer);
	memcpy(m->data + 4, &h, sizeof(h));
	if (len)
		memcpy(m->data + 4 + sizeof(h), body, len);
	m->len = 4 + total;
	m->off = 0;
	m->next = NULL;
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	q->bytes += m->len;
	return 0;
}

static void
msg_pop(struct kk_ipc_queue *q)
{
	struct kk_ipc_msg *m = q->head;

	q->head = m->next;
	if (q->head == NULL)
		q->tail = NULL;
	/* a config message carries the TLS key */
	OPENSSL_cleanse(m->data, m->len);
	free(m);
}

int
kk_ipc_queue_flush(struct kk_ipc_queue *q, int fd, size_t *written)
{
	struct iovec iov[KK_IPC_IOV];
	struct msghdr mh;
	struct kk_ipc_msg *m;
	size_t n, done = 0;
	ssize_t w;
	int i, r = 0;

	while (q->head) {
		for (i = 0, m = q->head; m && i < KK_IPC_IOV; m = m->next, i++)
			iov[i] = (struct iovec){ m->data + m->off,
			    m->len - m->off };
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)i;
		/* never blocks, never raises SIGPIPE */
		w = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			r = errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN :
			    -errno;
			goto out;
		}
		done += (size_t)w;
		q->bytes -= (size_t)w;
		for (n = (size_t)w; n > 0 && q->head; ) {
			m = q->head;
			if (n < m->len - m->off) {
				m->off += n;
				break;
			}
			n -= m->len - m->off;
			msg_pop(q);
		}
	}
out:
	if (written)
		*written = done;
	return r;
}

void
kk_ipc_queue_clear(struct kk_ipc_queue *q)
{
	while (q->head)
		msg_pop(q);
	q->bytes = 0;
}

int
kk_ipc_read_frames(int fd, struct kk_frame_reader *rd,
    int (*fn)(void *arg, uint8_t *body, size_t len), void *arg)
{
	uint8_t buf[KK_IPC_READ_CHUNK];
	ssize_t n;

	n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0)
		return -EPIPE;
	return kk_frame_feed_each(rd, buf, (size_t)n, NULL, fn, arg);
}
