/*
 * What a parent and its child say to each other (ipc.c): stream socket,
 * the usual 4-byte length framing, and each message a struct kk_ipc_hdr
 * then its body.  Neither side ever blocks on the other: what the peer
 * has not read yet waits in a queue, written as far as the socket takes
 * it.  The children table (children.h) and the network child use it.
 */
#ifndef KK_IPC_H
#define KK_IPC_H

#include <stddef.h>
#include <stdint.h>

#include "kakuri.h"

enum kk_ipc_type {
	KK_IPC_ENVELOPE = 1,	/* child -> parent: raw envelope bytes */
	KK_IPC_REJECT = 2,	/* child -> parent: a frame refused (body: reason word) */
	KK_IPC_LOG = 3,		/* child -> parent: a line for the log (untrusted text) */
	KK_IPC_REPLY = 4,	/* parent -> child: receipt for the connection */
	KK_IPC_CONFIG = 5,	/* parent -> child, first: struct kk_ipc_config + PEM */
	KK_IPC_CHUNK = 6,	/* child -> parent: a chunk request (kk_frame_is_chunk) */
	KK_IPC_DELIVER = 7,	/* parent -> courier: one outbox file to deliver */
	KK_IPC_ACK = 8,		/* courier -> parent: the collector's answer */
	KK_IPC_STATE = 9,	/* fleet child -> parent: connected, or why not */
	KK_IPC_NAME_QUERY = 10,	/* parent -> resolver: a uid (uint32_t) */
	KK_IPC_NAME_ANSWER = 11, /* resolver -> parent: struct kd_name_answer + name */
	KK_IPC_PACKET_MAX = 12,	/* fleet child -> parent: uint32_t, the broker's
				   maximum packet size (0: none said) */
	KK_IPC_TOO_LARGE = 13,	/* fleet child -> parent: a receipt it was sent
				   that the broker will not take (fleet.c) */
};

struct kk_ipc_hdr {
	uint32_t type;		/* enum kk_ipc_type */
	uint32_t conn;		/* the child's connection number */
	char peer[48];		/* the child's view of the peer address, for logs */
};

/* KK_IPC_CONFIG body: the four lengths, then the four PEM texts in order. */
enum kk_ipc_pem {
	KK_PEM_TLS_KEY,		/* agent-tls.key */
	KK_PEM_TLS_CERT,	/* agent-tls.crt */
	KK_PEM_CHAIN,		/* agent.crt: the identity certificate */
	KK_PEM_CLIENT_CA,	/* tls.client_ca */
	KK_PEM__MAX,
};

struct kk_ipc_config {
	uint32_t len[KK_PEM__MAX];
};

/* the largest message: an envelope of an authenticated peer (24 MiB) */
#define KK_IPC_MAX		(KK_FRAME_AUTHED_MAX + sizeof(struct kk_ipc_hdr))

/* Messages not yet written to a non-blocking socket, oldest first. */
struct kk_ipc_msg;
struct kk_ipc_queue {
	struct kk_ipc_msg *head, *tail;
	size_t bytes;			/* not yet written */
};

/* Appends one framed message (a copy of body). 0, -EMSGSIZE or -ENOMEM. */
int kk_ipc_queue_add(struct kk_ipc_queue *q, uint32_t type, uint32_t conn,
    const char *peer, const void *body, size_t len);
/*
 * Writes what fd takes now, without blocking: 0 when the queue is empty,
 * -EAGAIN when some is left, another negative errno when fd broke.
 * *written (if not NULL) gets the bytes written.
 */
int kk_ipc_queue_flush(struct kk_ipc_queue *q, int fd, size_t *written);
void kk_ipc_queue_clear(struct kk_ipc_queue *q);

/*
 * The reading side, never waiting either: one read of non-blocking fd
 * (up to KK_IPC_READ_CHUNK bytes), each frame it completes handed to fn
 * as kk_frame_feed_each does (fn returns 0 to go on, > 0 to stop, and
 * that is returned; bytes after a stop are dropped).  0 as well when
 * there was nothing to read; -EPIPE when the peer closed or the read
 * failed; the framing's negative errno when it broke.  The control
 * socket's requests are read so too.
 */
#define KK_IPC_READ_CHUNK	65536
int kk_ipc_read_frames(int fd, struct kk_frame_reader *rd,
    int (*fn)(void *arg, uint8_t *body, size_t len), void *arg);

#endif
