/*
 * The DESIGN 4 check order of a signed command, as a pure function:
 * bytes, trust, policy, a replay store and the clock go in; a verified
 * command and its signers, or the reason word of the refusal, come out.
 * No event loop, no globals, no logging: kakurid's dispatcher calls it
 * for the CSIRT channel and for kakurictl apply alike, and the unit tests
 * call it for every reason word and boundary.
 */
#ifndef KD_SIGNED_H
#define KD_SIGNED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "sign.h"

/* Where the ids of executed commands are kept (replay.c on disk). */
struct kd_replay_store {
	/* 1 if id was executed before, 0 if not, a negative errno */
	int (*seen)(void *ctx, const char *id);
	/*
	 * durable before it returns 0; -EALREADY if seen; -EKEYEXPIRED if
	 * exp is below what the store has pruned; a negative errno
	 */
	int (*record)(void *ctx, const char *id, time_t exp);
	void *ctx;
};

/*
 * The store on disk in dir (replay.c: kk_replay_lookup, kk_replay_record),
 * kakurid's; dir must outlive it.
 */
struct kd_replay_store kd_replay_store_disk(const char *dir);

struct kd_signed_input {
	const uint8_t *buf;		/* the envelope as it came */
	size_t len;
	const struct kk_trust *trust;
	const char *agent_id;		/* this agent's */
	/* policy fleet.groups: the groups it is in (NULL: none) */
	const struct kk_grouplist *groups;
	int clock_skew;			/* policy: seconds tolerated */
	int max_lifetime;		/* policy: longest exp - iat */
	/*
	 * The roles besides its own whose threshold an action needs, as
	 * bits (1 << enum kk_action): the verb table says (thaw and
	 * unblock need release's).  NULL: none.
	 */
	uint32_t (*also_needs)(enum kk_action a);
	/*
	 * Whether the verb table takes the action from origin (enum
	 * kd_origin): NULL, or the refusal word.  Asked before the replay
	 * store, so that a command handed in where its verb is not taken
	 * (a fetch through kakurictl apply) does not spend its id on the
	 * CSIRT's channel.  NULL: every origin takes every action.
	 */
	const char *(*origin_refusal)(enum kk_action a, int origin);
	int origin;
	const struct kd_replay_store *replay;
	time_t now;
	/*
	 * Signatures are tried with the keys they name only (the caller's
	 * budget of failed verifications is spent: kk_trust_signers).
	 */
	bool named_only;
};

struct kd_signed_result {
	struct kk_command cmd;		/* once have_cmd: kd_signed_result_free */
	bool have_cmd;			/* parsed (also in some refusals) */
	uint64_t signers;		/* bit i: trust key i signed */
	unsigned failures;		/* failed verifications it cost */
	size_t payload_len;		/* ... each of which read this much */
	const char *reason;		/* the word, NULL when verified */
	char detail[160];
};

/*
 * The checks, in order: size cap, envelope, payload type, payload size,
 * signatures over the raw bytes, strict parse, role, threshold (its own
 * and those also_needs names), agent id (or, for a group command, one of
 * groups), time window, replay, and the id recorded.  A group command's
 * id is recorded in this agent's store like any other: every agent of
 * the group runs it once.  0: verified and recorded.  -EACCES: refused, out->reason
 * says why.  Another negative errno: the replay store failed (reason
 * "io"); the command was not recorded and must not run.
 */
int kd_signed_check(const struct kd_signed_input *in,
    struct kd_signed_result *out);
void kd_signed_result_free(struct kd_signed_result *out);

#endif
