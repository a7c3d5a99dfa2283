/*
 * The first steps every exec'd child of kakurid takes, whichever row of
 * the children table (children.h) started it: kakurid --network-child or
 * --courier UID GID PPID, fds 0-2 /dev/null and the parent's log pipe,
 * fd 3 the row's own (the listener, or /dev/null), fd 4 the IPC socket.
 */
#ifndef KD_CHILDPROC_H
#define KD_CHILDPROC_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc.h"

struct kk_tls_material;

#define KK_CHILD_FD_OWN		3
#define KK_CHILD_FD_IPC		4

/* A line on stderr (the parent logs it as the child's), then exit 3. */
void kk_child_fail(const char *fmt, ...)
    __attribute__((noreturn, format(printf, 1, 2)));
/*
 * One message to the parent on the blocking IPC socket, written whole; a
 * child whose parent is gone exits quietly (0), one that cannot frame it
 * fails naming who it is.
 */
void kk_child_tell(const char *who, uint32_t type, uint32_t token,
    const void *body, size_t len);
/*
 * Checks how it was started (argv, fd 4 a unix stream socket, fd 3 a
 * listening socket if listener), becomes UID/GID with no capabilities
 * (never root), dies with the parent, and names itself comm.  Fails
 * through kk_child_fail.
 */
void kk_child_enter(int argc, char **argv, const char *flag, const char *comm,
    bool listener);
/*
 * The seccomp allow-list of a child: an event loop, OpenSSL, sockets it
 * is given (and with outbound, sockets it makes and connects); never
 * opening files, executing or changing identity.
 */
int kk_child_seccomp(bool outbound);
/*
 * One whole message from a blocking IPC socket within timeout_ms (-1:
 * no limit): its header and body (caller frees; NULL for an empty one).
 * -ETIMEDOUT, -EPIPE when the parent is gone, -EBADMSG for a message
 * that is not one, -EMSGSIZE past max.
 */
int kk_ipc_recv(int fd, int timeout_ms, size_t max, struct kk_ipc_hdr *h,
    uint8_t **body, size_t *len);
/*
 * The first message from the parent, KK_IPC_CONFIG within timeout_ms:
 * struct kk_ipc_config, the PEM texts it counts (m points into the
 * message), then exactly extra bytes of the row's own at *msglen - extra.
 * NULL when none came or it does not add up.  The message holds the TLS
 * key: the caller clears it (kk_child_config_free) once m is used.
 */
uint8_t *kk_child_read_config(int timeout_ms, struct kk_tls_material *m,
    size_t extra, size_t *msglen);
void kk_child_config_free(uint8_t *msg, size_t len);
/*
 * fmt into line as printable ASCII (anything else becomes '?'): what a
 * child says to its parent, who trusts none of it beyond that.
 */
void kk_child_vline(char *line, size_t len, const char *fmt, va_list ap);

#endif
