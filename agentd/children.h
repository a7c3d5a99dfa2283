/*
 * kakurid's long-lived unprivileged children (children.c), as a table:
 * each kind is a row (name, entry, message handler, restart backoff,
 * queue limits), and the supervision is the same for every row.  The
 * network child (channel.c) is the first row; a later courier is another.
 *
 * A child is started by its row's entry (fork, confine, exec: the child
 * is a fresh image that holds nothing of the parent's memory), talks to
 * the parent over a stream socket in length-framed typed messages
 * (struct kk_ipc_hdr, netchild.h) and says what it has to say on a
 * stdout/stderr pipe.  The parent never waits for a child: what a child
 * has not read yet waits in a bounded queue, a child that stops reading
 * or breaks the framing is killed, and a child that dies is started again
 * with backoff.
 */
#ifndef KD_CHILDREN_H
#define KD_CHILDREN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "kakuri.h"
#include "netchild.h"

struct passwd;

struct kd;
struct kd_child;

#define KD_CHILD_LINE	200	/* bytes of one line of a child's words */

/* One row of the children table. */
/* Restarts: the first retry, doubling up to most; healthy resets it. */
struct kd_child_backoff {
	uint64_t first_usec, most_usec, healthy_usec;
};

/* Its replies, queued to it: a row that leaves it zero has the defaults. */
struct kd_child_queue {
	size_t pause;			/* above this: stop reading it */
	size_t max;			/* above this: killed, started again */
	uint64_t stall_usec;		/* queued and nothing read: killed */
};

/* Its words (stdout and stderr) into the journal: lines per window. */
struct kd_child_log {
	unsigned lines;
	uint64_t window_usec;
};

struct kd_child_kind {
	/* "network child", in logs; in audit with dashes: "network-child" */
	const char *name;
	/*
	 * Starts one: 0 with *pid, *ipc and *logfd (both non-blocking), or a
	 * negative errno.  why says what is wrong; off: the configuration
	 * says no child now (tried again only on reload or with backoff when
	 * retry is set).
	 */
	int (*entry)(struct kd *d, struct kd_child *c, pid_t *pid, int *ipc,
	    int *logfd, bool *retry);
	/* it runs: what it must read first (its configuration) */
	void (*started)(struct kd *d, struct kd_child *c);
	/* one message from it; h is checked for length, not for sense */
	void (*message)(struct kd *d, struct kd_child *c,
	    const struct kk_ipc_hdr *h, const uint8_t *body, size_t len);
	/* it is gone: what belonged to it is forgotten (may be NULL) */
	void (*gone)(struct kd *d, struct kd_child *c);
	struct kd_child_backoff backoff;
	struct kd_child_log log;
	/* zero: KK_IPC_QUEUE_PAUSE, KK_IPC_QUEUE_MAX, KK_IPC_STALL_USEC */
	struct kd_child_queue queue;
	size_t msg_max;			/* one message from it; 0: KK_IPC_MAX */
};

/* One child of a kind, as the parent sees it. */
struct kd_child {
	const struct kd_child_kind *kind;
	struct kd_child_queue queue;	/* the kind's, or the defaults */
	struct kd *d;
	pid_t pid;			/* 0: none running */
	int fd;				/* the IPC socket; -1 */
	int log_fd;			/* its stdout and stderr; -1 */
	sd_event_source *io, *log_io, *exit_src, *restart, *stall;
	struct kk_frame_reader rd;
	struct kk_ipc_queue out;	/* to the child, not yet written */
	uint64_t started;		/* CLOCK_MONOTONIC usec */
	unsigned restarts;		/* failures in a row: the backoff */
	uint32_t gen;			/* bumped per child: stale replies go nowhere */
	bool killed;			/* SIGKILL sent: nothing more to it */
	bool reload;			/* restart at once, not with backoff */
	bool stopped;			/* not to be started again */
	char line[KD_CHILD_LINE + 1];	/* a line of its words, still open */
	size_t line_len;
	uint64_t log_window;		/* end of the rate window */
	unsigned log_lines;
	unsigned long log_dropped;
	void *data;			/* the kind's own */
};

/* A child of kind, not started yet (kd_child_start). NULL without memory. */
struct kd_child *kd_child_new(struct kd *d, const struct kd_child_kind *kind,
    void *data);
/* Starts it now unless it runs or a retry is waiting. */
int kd_child_start(struct kd_child *c);
/*
 * Another one with the settings of now: the running one is killed and
 * the next starts at once; a retry that was waiting happens now.
 */
void kd_child_restart(struct kd_child *c);
/* The running one is killed; none is started again until kd_child_start. */
void kd_child_halt(struct kd_child *c);
/* Kills it, forgets it, frees c. */
void kd_child_free(struct kd_child *c);
/* Tried again with the backoff (an entry that failed, for instance). */
void kd_child_retry_later(struct kd_child *c);
bool kd_child_running(const struct kd_child *c);
bool kd_child_waiting(const struct kd_child *c);
/*
 * One message to it: queued and written as far as the socket takes it
 * now; a child too far behind is killed (and started again).
 */
void kd_child_send(struct kd_child *c, uint32_t type, uint32_t conn,
    const void *body, size_t len);
/* Kills it for why (logged); it is started again with backoff. */
void kd_child_kill(struct kd_child *c, const char *why);
/* Its words (untrusted text): printable ASCII, labelled, rate-limited. */
/*
 * A message its row does not take itself: its words (KK_IPC_LOG) are
 * logged, anything else kills it (a type the parent never takes from it:
 * nothing more of it is trusted).
 */
void kd_child_other(struct kd_child *c, const struct kk_ipc_hdr *h,
    const uint8_t *body, size_t len);
void kd_child_words(struct kd_child *c, const char *peer, const char *text,
    size_t len);
/*
 * The user a child runs as (agent.user, as found at start or the last
 * reload): 0 and its ids; -ENOENT, with why, if there was none of that
 * name or it is root: no child runs as root.
 */
int kd_child_user(struct kd *d, uid_t *uid, gid_t *gid, char *why,
    size_t whylen);

/*
 * A child's TLS material (material.c) as its KK_IPC_CONFIG body: the
 * four PEM texts of struct kk_ipc_config (the CA at ca_path, none if it
 * is empty) and extra bytes after them, checked as a server's (the
 * network child) or a client's (the courier) context.  why says what is
 * wrong.  The body holds the TLS key: kd_tls_material_forget wipes it.
 */
int kd_tls_material(struct kd *d, const char *ca_path, bool server,
    const void *extra, size_t extralen, uint8_t **out, size_t *outlen,
    char *why, size_t whylen);
/*
 * The same for the fleet child (DESIGN 9): agent.tls_key with fleet.cert
 * (from the broker's CA, no chain) and fleet.ca, checked as a client of
 * the broker at broker_ip.
 */
int kd_fleet_material(struct kd *d, const char *broker_ip, const void *extra,
    size_t extralen, uint8_t **out, size_t *outlen, char *why, size_t whylen);
void kd_tls_material_forget(uint8_t **cfg, size_t *len);

#endif
