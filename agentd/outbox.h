/*
 * The durable outbox (DESIGN 7, issue 10): every report for the CSIRT
 * collector, one agent-signed DSSE file per message in state_dir/outbox,
 * written durably before its id is given out (outbox.c; the signing in
 * outbox_seal.c, which kakurid-restore does not link).
 */
#ifndef KD_OUTBOX_H
#define KD_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kakuri.h"

struct kd;
struct json_t;

/* past report.max_mb: tamper alerts and quarantine notices only */
#define KD_OUTBOX_RESERVE	(1024 * 1024)
#define KD_OUTBOX_RESERVE_N	1024
/* messages below report.max_mb */
#define KD_OUTBOX_MAX_N		65536
/* blocked reports: up to the outbox filled to 1/KD_OUTBOX_BLOCKED_PART */
#define KD_OUTBOX_BLOCKED_PART	4
/*
 * Self-reports: each reporting user's share (its owner's, subids.h) is
 * 1/KD_OUTBOX_SELF_PART of report.max_mb and of KD_OUTBOX_MAX_N, and
 * only a user's first waiting report may take the last such part.
 */
#define KD_OUTBOX_SELF_PART	8
/*
 * One message file: a self-report's request is at most
 * KK_CONTROL_REPORT_FRAME_MAX (1.125 MiB), its payload about as large
 * with kakurid's facts, the signed envelope 4/3 of that.
 */
#define KD_OUTBOX_MSG_MAX	(2 * 1024 * 1024)
_Static_assert((KK_CONTROL_REPORT_FRAME_MAX + 64 * 1024) / 3 * 4 + 4096 <=
    KD_OUTBOX_MSG_MAX, "the largest self-report fits in an outbox file");
/* directory entries one scan looks at */
#define KD_OUTBOX_SCAN_MAX	(KD_OUTBOX_MAX_N + KD_OUTBOX_RESERVE_N + 1024)
/*
 * Files kept in outbox/corrupt; past it a bad file is left where it is
 * (never deleted), and reported once while KD_OUTBOX_LEFT_MAX names are
 * remembered.
 */
#define KD_OUTBOX_CORRUPT_MAX	1024
#define KD_OUTBOX_LEFT_MAX	256
/* corrupt files moved aside (and reported) by one scan */
#define KD_OUTBOX_CORRUPT_SCAN	64
/* seq numbers persisted ahead, so that most messages cost no extra write */
#define KD_OUTBOX_SEQ_BLOCK	1024
/* "<20 digits seq>-<32 hex id>.dsse" or ".pend" */
#define KD_OUTBOX_NAME_MAX	64

/*
 * The signing side, set by kakurid (outbox_seal.c) and left NULL by
 * kakurid-restore, which links no libcrypto: without it, or without the
 * identity key, a message is written unsigned (".pend") with the same
 * durability and signed by kd_outbox_check once the key is there.
 */
struct kd_outbox_seal {
	/* payload signed by the agent key, as envelope text (caller frees) */
	int (*seal)(struct kd *d, const char *payload, size_t len,
	    char **env, size_t *envlen);
	/* the payload of an envelope the agent key signed; -EBADMSG if not */
	int (*open)(struct kd *d, const char *env, size_t len,
	    struct json_t **payload);
	/* a message was queued (kakurid: the courier tries at once) */
	void (*queued)(struct kd *d);
};
extern const struct kd_outbox_seal kd_outbox_sealer;

/* one message as kd_outbox_list sees it */
struct kd_outbox_entry {
	unsigned long long seq;
	char id[KK_EPISODE_HEX + 1];
	char name[KD_OUTBOX_NAME_MAX];
	const char *type;
	const char *time;
	uint64_t size;
	bool is_signed;
};

/*
 * At start (kakurid and kakurid-restore), after the directory is made:
 * the seq counter and the totals, from the seq file and the names (no
 * content is read; stale temporary files of a crash are removed).
 */
int kd_outbox_open(struct kd *d);
/*
 * kakurid, once started: the seq block persisted now, so that the first
 * message (the CSIRT's first isolate, say) does not wait for two more
 * fsyncs.  A failure is only a delay: the first message tries again.
 */
int kd_outbox_reserve(struct kd *d);
/*
 * Messages read and checked: unsigned ones signed if the key is loaded,
 * corrupt or unreadable ones moved to outbox/corrupt, audited and
 * reported (a tamper message); totals recounted.  A ".pend" whose
 * ".dsse" exists too (a crash while it was being signed) is removed: the
 * signed copy wins.  For each good message checked (in seq order) fn is
 * called, if given.  Returns the number of messages moved aside, or a
 * negative errno.
 *
 * Bounded by sc (NULL: every message): only messages past sc->after are
 * read, the oldest sc->max of them (0: no bound); the others are counted
 * from their names and sizes alone.  Reading the names of the whole
 * outbox costs milliseconds; reading and verifying tens of thousands of
 * signatures costs seconds, so kakurid checks its outbox in slices
 * (kakurid.c) and a listing checks what it shows.
 */
struct kd_outbox_scan {
	unsigned long long after;	/* in: messages past this seq */
	unsigned long max;		/* in: read at most this many */
	unsigned long long last;	/* out: the highest seq read */
	unsigned long checked;		/* out: messages read */
	unsigned long unchecked;	/* out: past after, not read */
};
int kd_outbox_check(struct kd *d, struct kd_outbox_scan *sc,
    void (*fn)(void *arg, const struct kd_outbox_entry *e), void *arg);
/*
 * A report for the CSIRT collector of type (DESIGN 7: self-report,
 * disconnect, isolate, release, tamper, evidence, drill, blocked, usb)
 * with body (kept by the caller), on disk durably before it returns 0;
 * *id gets its id.  -ENOSPC when the outbox is full for that type, or a
 * self-report's user (body's reporter.uid, by its owner) has his share
 * waiting already; kd_outbox_error says why in one line.
 */
int kd_outbox_put(struct kd *d, enum kk_report_type type, struct json_t *body,
    char id[KK_EPISODE_HEX + 1]);
const char *kd_outbox_error(struct kd *d);
/*
 * A notice whose loss must not stop what it tells of: body (released
 * here; NULL when it could not be built) put as type, a failure logged
 * as what's.
 */
void kd_outbox_notify(struct kd *d, enum kk_report_type type,
    struct json_t *body,
    const char *what);
/* The self-reports' table freed (the files stay). */
void kd_outbox_free(struct kd *d);
/* The bytes of the message file name (caller frees). */
int kd_outbox_read(struct kd *d, const char *name, char **buf, size_t *len);
/*
 * Whether kd_outbox_read failed (r) for want of what the system may have
 * again (descriptors, memory): no verdict on the message, which is kept
 * and read again later.
 */
bool kd_outbox_read_later(int r);
/*
 * A message that kd_outbox_read could not read for any other reason (r),
 * set aside as kd_outbox_check sets a bad file aside: moved to
 * outbox/corrupt, else renamed in place, else left and remembered;
 * audited and reported once, and no longer counted (size: as the check
 * counted it).  -ENOENT if it was gone already.
 */
int kd_outbox_set_aside(struct kd *d, const char *name, uint64_t size, int r);
/* A delivered message deleted, totals updated. */
int kd_outbox_remove(struct kd *d, const char *name, uint64_t size);

#endif
