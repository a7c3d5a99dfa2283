/*
 * The courier (issue 10, DESIGN 7): the outbox delivered to the CSIRT
 * collector over mutual TLS by an unprivileged child, one row of the
 * children table.  TLS never runs as root.
 *
 * The parent (courier.c) decides everything: which file goes next (the
 * oldest signed one, in seq order), when to try (at once when a message
 * is queued, else exponential backoff with jitter from 1 s to 5 min),
 * and whether an answer is an ack: it checks the collector's identity
 * (report.collector_id or report.ca) and the ack's signature over
 * (agent, id, sha256 of the file) itself before it deletes anything.
 * The child (courier_child.c, kakurid --courier) only connects, sends
 * the bytes it is given and passes back what the collector answered
 * with the collector's certificate chain.
 */
#ifndef KD_COURIER_H
#define KD_COURIER_H

#include <stdbool.h>
#include <stdint.h>

struct kd;
struct json_t;

/* After the four PEM texts of the courier's KK_IPC_CONFIG. */
struct kk_courier_config {
	char collector[128];	/* report.collector */
	char pin[65];		/* report.collector_id, or "" (CA mode) */
};

/* KK_IPC_ACK body: u32 length of the chain PEM, the PEM, the answer. */
#define KK_COURIER_CHAIN_MAX	(64 * 1024)

/* the connection (TCP, TLS) as a whole; a collector silent this long */
#define KK_COURIER_TIMEOUT_MS	10000
#define KK_COURIER_IDLE_MS	30000	/* an idle connection is closed */
#define KD_COURIER_BACKOFF_MIN	(1000000ULL)		/* 1 s */
#define KD_COURIER_BACKOFF_MAX	(300ULL * 1000000ULL)	/* 5 min */
/*
 * The child's answers to a batch, at the latest: KD_COURIER_ANSWER_USEC,
 * and the time its bytes take at KD_COURIER_RATE_MIN (64 kbit/s, a slow
 * VPN): a batch larger than a slow link carries in a fixed time would
 * otherwise be cut off and sent again for ever, and every report behind
 * it would wait.  A link that stops is found sooner, by the child: a
 * collector that for KK_COURIER_TIMEOUT_MS neither acked a byte (TCP)
 * nor sent one.
 */
#define KD_COURIER_ANSWER_USEC	(3ULL * KK_COURIER_TIMEOUT_MS * 1000ULL + \
				 5ULL * 1000000ULL)
/*
 * What a 64 kbit/s link carries of a report: 8,000 bytes a second on the
 * wire, less TCP/IP headers and their ACKs, TLS records and the frames
 * (t-courier-slow measures about 7,300 through a tbf qdisc), less a
 * margin for a link that is shared.  8 KiB, as it was, is more than the
 * line rate: with the fixed 35 s, a batch of over about 2.3 MB (a window
 * and a large report past it) was cut off and sent again for ever.
 */
#define KD_COURIER_RATE_MIN	6000ULL			/* bytes a second */
#define KD_COURIER_BATCH	1024	/* messages read per look at the directory */
/* unreadable messages one batch steps over (set aside, or kept), at most */
#define KD_COURIER_SKIP_MAX	64
#define KD_COURIER_RECENT	8	/* failures kakurictl outbox shows */
/* one batch: sent back to back, answered in order, synced once there */
#define KD_COURIER_WINDOW	32
#define KD_COURIER_WINDOW_BYTES	(1024 * 1024)
/*
 * The child's own bound on a batch of bytes, in ms from its start to its
 * last answer: the parent's less its 5 s margin.  A collector that
 * trickles its answers to hold the courier, a byte before it would count
 * as silent, is cut by the child, which says why, before the parent gives
 * up on the child.
 */
#define KK_COURIER_BATCH_MS(bytes)	(3ULL * KK_COURIER_TIMEOUT_MS + \
	(uint64_t)(bytes) * 1000ULL / KD_COURIER_RATE_MIN)
/* the longest a batch may take: a window and one report past it */
#define KD_COURIER_ANSWER_MAX_USEC	(KD_COURIER_ANSWER_USEC + \
	(KD_COURIER_WINDOW_BYTES + KK_REPORT_MAX) * 1000000ULL / \
	KD_COURIER_RATE_MIN)

/* kakurid: started when report.collector is set (and again on reload) */
int kd_courier_start(struct kd *d);
void kd_courier_reload(struct kd *d);
void kd_courier_stop(struct kd *d);
/* a message was queued or the mode changed: try now */
void kd_courier_kick(struct kd *d);
/*
 * The transport (the fleet child) says it is connected: try now, but no
 * sooner than a second after the last failure, unless the backoff is for
 * acks that were refused, which runs out first.
 */
void kd_courier_transport_up(struct kd *d);
struct kd_child;
/*
 * The transport child c is gone (the fleet child's exit): a batch it was
 * given is failed now, not left waiting for its answers' deadline.
 */
void kd_courier_transport_gone(struct kd *d, struct kd_child *c);
struct kk_ipc_hdr;
/* An answer to a delivery from another transport (the fleet child). */
void kd_courier_answer(struct kd *d, struct kd_child *c,
    const struct kk_ipc_hdr *h, const uint8_t *body, size_t len);
/* for kakurictl outbox: what the courier does, and the last failure */
const char *kd_courier_state(struct kd *d);
/* {delivered, failures, recent: [{seq, why}]}, the last failures */
struct json_t *kd_courier_json(struct kd *d);
/* kakurid --courier UID GID PPID: the child's main; never returns */
void kd_courier_main(int argc, char **argv) __attribute__((noreturn));

#endif
