/*
 * The network child (privilege separation, DESIGN 4): TLS 1.3 with
 * client certificates, framing and connection limits, run as agent.user
 * with no capabilities under a seccomp allow-list.  It never decides: it
 * hands raw envelope bytes to the root parent, which verifies them itself,
 * and writes back the parent's signed receipts.
 *
 * Parent and child talk over a stream socketpair with the usual 4-byte
 * length framing; each message starts with struct kk_ipc_hdr.
 */
#ifndef KK_NETCHILD_H
#define KK_NETCHILD_H

#include <stdint.h>
#include <sys/types.h>

#include "kakuri.h"

enum kk_ipc_type {
	KK_IPC_ENVELOPE = 1,	/* child -> parent: raw envelope bytes */
	KK_IPC_REJECT = 2,	/* child -> parent: a frame refused (body: reason word) */
	KK_IPC_LOG = 3,		/* child -> parent: a line for the log (untrusted text) */
	KK_IPC_REPLY = 4,	/* parent -> child: receipt for the connection */
};

struct kk_ipc_hdr {
	uint32_t type;
	uint32_t conn;		/* the child's connection number */
	char peer[48];		/* the child's view of the peer address, for logs */
};

#define KK_IPC_MAX		(KK_FRAME_MAX + sizeof(struct kk_ipc_hdr))

/* Limits a remote peer can push against. */
#define KK_NET_MAX_PREAUTH	256	/* connections still in the handshake */
#define KK_NET_MAX_AUTHED	64	/* authenticated connections */
#define KK_NET_HANDSHAKE_USEC	(5ULL * 1000000ULL)
#define KK_NET_IDLE_USEC	(30ULL * 1000000ULL)

struct kk_netchild_cfg {
	const char *listen;		/* "ADDR:PORT" */
	const char *cert;
	const char *key;
	const char *client_ca;
	uid_t uid;
	gid_t gid;
};

/*
 * Binds the listener (as root), forks the child, returns its pid and the
 * parent's end of the socketpair in *fd.  err explains failures.
 */
int kk_netchild_start(const struct kk_netchild_cfg *cfg, pid_t *pid, int *fd,
    char *err, size_t errlen);
/* One IPC message, blocking. */
int kk_ipc_send(int fd, uint32_t type, uint32_t conn, const char *peer,
    const void *body, size_t len);

#endif
