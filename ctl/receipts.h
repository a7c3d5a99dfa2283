/*
 * send --save-receipts DIR (DESIGN 5): each signed receipt envelope kept
 * as it came, the proof of what the agent said it did (receipts.c).
 */
#ifndef KAKURICTL_RECEIPTS_H
#define KAKURICTL_RECEIPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Bytes --save-receipts writes in one run, at most: agents answer with
 * what they like (up to 1 MiB a receipt over TLS, 6 MiB an out document
 * through the broker).  An honest receipt is 1 to 2 KiB: a direct send's
 * most, 4,096 targets of 64 files each, is about 512 MiB of them.
 */
#define RECEIPTS_SAVED_MAX	(1024 * 1024 * 1024)

/*
 * DIR, made 0700 if it is not there, else only if it is the caller's
 * alone (no other owner, no group or world write): its fd, or -errno
 * with err filled in.
 */
int receipts_open(const char *dir, char *err, size_t errlen);
/*
 * Whether the directory fd is the caller's alone: its owner, and no
 * group or world write (fetch -o and --save-receipts: what anyone else
 * may change there proves nothing).
 */
bool dir_is_ours(int fd);
/*
 * The verified receipt envelope (len bytes) of agent for command (NULL
 * or "": a refusal that names none) as DIR/<agent>/<command>.dsse, 0600,
 * synced; never over another file: the same bytes again are kept once,
 * other bytes get <command>.<their SHA-256, 16 digits>.dsse.  0 or
 * -errno.  Safe from several threads.
 */
int receipt_save(int dfd, const char *agent, const char *command,
    const void *env, size_t len);

#endif
