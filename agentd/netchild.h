/*
 * The network child (privilege separation, DESIGN 4): TLS 1.3 with
 * client certificates, framing and connection limits, run as agent.user
 * with no capabilities under a seccomp allow-list.  It never decides: it
 * hands raw envelope bytes to the root parent, which verifies them itself,
 * and writes back the parent's signed receipts.
 *
 * The child is a fresh image: the parent forks and executes kakurid
 * again (kakurid --network-child), so nothing of the parent's memory --
 * the identity key above all -- is ever in the child.  It gets:
 *   fd 0	/dev/null
 *   fd 1, 2	a pipe the parent reads and logs as the child's words
 *   fd 3	the listening socket, bound once by the parent for its lifetime
 *   fd 4	the IPC socket to the parent
 * and, as the first IPC message, its TLS key and certificates as PEM text
 * (it never opens a file, and cannot open the identity key's).
 *
 * Parent and child talk over a stream socketpair with the usual 4-byte
 * length framing; each message starts with struct kk_ipc_hdr.  Neither
 * side ever blocks on the other: what the peer has not read yet waits in
 * a queue.  The parent's queue is bounded; a child that does not keep up
 * is killed and started again.
 */
#ifndef KK_NETCHILD_H
#define KK_NETCHILD_H

#include <stdint.h>
#include <sys/types.h>

#include "ipc.h"
#include "kakuri.h"

/* The network child's row of the children table (channel.c). */
#define KK_IPC_NET_MAX		(KK_FRAME_AUTHED_MAX + sizeof(struct kk_ipc_hdr))
#define KK_IPC_QUEUE_PAUSE	(4U << 20)	/* stop reading the child above this */
#define KK_IPC_QUEUE_MAX	(40U << 20)	/* 64 chunk replies fit; more: restart */
#define KK_IPC_STALL_USEC	(2ULL * 1000000ULL)	/* queued, nothing read: restart */

/* Limits a remote peer can push against. */
#define KK_NET_MAX_PREAUTH	256	/* connections still in the handshake */
#define KK_NET_MAX_PREAUTH_SRC	16	/* ... from one IPv4 address or IPv6 /64 */
#define KK_NET_MAX_AUTHED	64	/* authenticated connections */
#define KK_NET_MAX_AUTHED_SRC	8	/* ... from one IPv4 address or IPv6 /64 */
#define KK_NET_BIG_MAX		2	/* frames over 1 MiB read at once */
/*
 * ... each held until answered, and kept coming: a frame over 1 MiB that
 * brings less than this in an idle period is cut (one that trickled a
 * byte at a time held its slot for good, and the two of them every real
 * block list out with "busy").  8.5 KiB/s: any link that is not dead.
 */
#define KK_NET_BIG_WINDOW_MIN	(256U << 10)
/*
 * ... and one from a source (an IPv4 address, an IPv6 /64) at a time,
 * whole within an idle period and its size at 64 KiB/s (24 MiB: 7 min):
 * one peer cannot hold both slots, nor one for long at a crawl.
 */
#define KK_NET_BIG_PER_SRC	1
#define KK_NET_BIG_RATE_MIN	(64U << 10)
#define KK_NET_HANDSHAKE_USEC	(5ULL * 1000000ULL)
#define KK_NET_IDLE_USEC	(30ULL * 1000000ULL)
/* idle periods a command may stay with the parent (10 min) */
#define KK_NET_PARENT_WAITS	20
/* ... a frame over 1 MiB (a block list, applied in seconds) 2 min: its slot */
#define KK_NET_PARENT_WAITS_BIG	4

/*
 * Forks and executes a child (kakurid FLAG: --network-child, --courier)
 * as uid/gid with fd3 (the listener; -1: /dev/null) as its fd 3.  Returns
 * its pid, the parent's end of the IPC socket (*ipc, non-blocking) and
 * the read end of its stdout/stderr pipe (*logfd, non-blocking).
 */
int kk_child_spawn(const char *flag, int fd3, uid_t uid, gid_t gid, pid_t *pid, int *ipc,
    int *logfd, char *err, size_t errlen);
/* kakurid --network-child UID GID PPID: the child's main; never returns. */
void kk_netchild_main(int argc, char **argv) __attribute__((noreturn));

#endif
