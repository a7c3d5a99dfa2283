/*
 * The check order of DESIGN 4 for one signed command (see signed.h).
 *
 * Nothing from the payload is read before a trusted key has signed the
 * raw bytes, and a payload too large to be a command is refused before
 * any signature is checked (each check costs time in proportion to it).
 * The id is recorded (durably) last, so that a command refused for any
 * other reason can still be sent again once it is fixed, and one that
 * was recorded runs at most once, even across a crash.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "signed.h"
#include "wire.h"

static int
refuse(struct kd_signed_result *out, const char *reason, const char *detail)
{
	out->reason = reason;
	snprintf(out->detail, sizeof(out->detail), "%s", detail ? detail : "");
	return -EACCES;
}

/* How many of the signers hold role a, and whether that meets its threshold. */
static bool
meets(const struct kk_trust *t, uint64_t signers, enum kk_action a,
    unsigned *have, unsigned *need)
{
	*have = kk_trust_count_role(t, signers, a);
	*need = t->threshold[a];
	return *have >= *need;
}

/* Why not every signature was tried with every key. */
static const char *
budget_detail(const struct kd_signed_input *in)
{
	if (in->named_only)
		return "the agent's budget of failed verifications is spent "
		    "(garbage signatures): send again later, or give each "
		    "signature the signer's trust.conf id";
	return "too many signatures failed under the key their keyid names "
	    "for all to be tried: give each the signer's trust.conf id";
}

/*
 * Role and thresholds; 0 or the refusal.  cut: not every signature was
 * tried (kk_trust_signers ran out of its budget), so one that was not
 * might have been the one missing, and the refusal says that instead.
 */
static int
check_roles(const struct kd_signed_input *in, struct kd_signed_result *out,
    bool cut)
{
	enum kk_action a = out->cmd.action;
	uint32_t also = in->also_needs ? in->also_needs(a) : 0;
	char why[96];
	unsigned have, need, b;

	if (!meets(in->trust, out->signers, a, &have, &need) || have == 0) {
		if (cut)
			return refuse(out, KE_SIGNATURE_BUDGET,
			    budget_detail(in));
		if (have == 0)
			return refuse(out, KE_ROLE,
			    "no signer holds this action's role");
		snprintf(why, sizeof(why), "%u of %u required signatures",
		    have, need);
		return refuse(out, KE_THRESHOLD, why);
	}
	for (b = 0; b < KK_ACT__MAX; b++)
		if ((also & (UINT32_C(1) << b)) && b != (unsigned)a &&
		    !meets(in->trust, out->signers, (enum kk_action)b, &have,
		    &need))
			return cut ? refuse(out, KE_SIGNATURE_BUDGET,
			    budget_detail(in)) : refuse(out, KE_THRESHOLD,
			    "needs the release threshold as well");
	return 0;
}

/*
 * The addressee: this agent, or a group of its policy.  A group it is not
 * in is wrong-agent as well, since the command is for other agents; the
 * detail names the group, so the CSIRT sees which one it was.
 */
static int
check_addressee(const struct kd_signed_input *in, struct kd_signed_result *out)
{
	const struct kk_grouplist *gl = in->groups;
	char why[sizeof(out->detail)];
	size_t i;

	if (out->cmd.group[0] == '\0') {
		if (strcmp(out->cmd.agent, in->agent_id) != 0)
			return refuse(out, KE_WRONG_AGENT,
			    "the command is for another agent");
		return 0;
	}
	for (i = 0; gl != NULL && i < gl->n && i < KK_MAX_GROUPS; i++)
		if (strcmp(out->cmd.group, gl->name[i]) == 0)
			return 0;
	snprintf(why, sizeof(why), "the command is for group %s, "
	    "which this agent is not in", out->cmd.group);
	return refuse(out, KE_WRONG_AGENT, why);
}

/*
 * Replay: seen before, then recorded for good; 0, -EACCES or the store's
 * error.  A store that has pruned ids up to a later exp than this one's
 * cannot tell whether it ran: it is expired by the store's clock, which
 * is not the one that was set back.
 */
static int
check_replay(const struct kd_signed_input *in, struct kd_signed_result *out)
{
	const struct kd_replay_store *rs = in->replay;
	int err;

	err = rs->seen(rs->ctx, out->cmd.id);
	if (err == 0)
		err = rs->record(rs->ctx, out->cmd.id, (time_t)out->cmd.exp);
	if (err == 1 || err == -EALREADY)
		return refuse(out, KE_REPLAY, "this command id was executed before");
	if (err == -EKEYEXPIRED)
		return refuse(out, KE_EXPIRED, "older than the replay store's "
		    "cutoff (was the clock set back?)");
	if (err < 0) {
		out->reason = KE_IO;
		snprintf(out->detail, sizeof(out->detail), "replay store: %s",
		    err == -EBADMSG ? "its cutoff file is unreadable" :
		    strerror(-err));
	}
	return err;
}

/*
 * A payload over KK_COMMAND_MAX can only be a block list: one of its
 * signers must hold the block role before it is parsed, and parsed, it
 * must be one.  Parsed first, a key of any other role (status automation)
 * could have the root parent build millions of values out of 16 MiB
 * before the refusal.  With one block signer it is parsed, so that a
 * list short of its threshold is refused naming its command, as a small
 * one is.  0 or the refusal: too-large (the word a large payload of
 * another action always got), or the signature budget's when not every
 * signature was tried.
 */
static int
check_large(const struct kd_signed_input *in, struct kd_signed_result *out,
    bool cut)
{
	if (out->have_cmd) {
		if (out->cmd.action == KK_ACT_BLOCK)
			return 0;
		return refuse(out, KE_TOO_LARGE, "command payload over 64 KiB "
		    "(only block may be larger)");
	}
	if (kk_trust_count_role(in->trust, out->signers, KK_ACT_BLOCK) > 0)
		return 0;
	if (cut)
		return refuse(out, KE_SIGNATURE_BUDGET, budget_detail(in));
	return refuse(out, KE_TOO_LARGE, "command payload over 64 KiB, and no "
	    "signer holds the block role (only block may be larger)");
}

int
kd_signed_check(const struct kd_signed_input *in, struct kd_signed_result *out)
{
	struct kk_envelope env;
	const char *why_time;
	char why[160] = "";
	bool cut;
	int err;

	memset(out, 0, sizeof(*out));
	memset(&env, 0, sizeof(env));
	if (in->len > KK_ENVELOPE_MAX)
		return refuse(out, KE_TOO_LARGE, "envelope over 24 MiB");
	err = kk_envelope_parse(in->buf, in->len, &env);
	if (err == -E2BIG)
		return refuse(out, KE_TOO_LARGE, "envelope over 24 MiB");
	if (err < 0)
		return refuse(out, KE_MALFORMED, "not a DSSE envelope");
	if (strcmp(env.type, KK_PT_COMMAND) != 0) {
		err = refuse(out, KE_PAYLOAD_TYPE,
		    "not a command payload type");
		goto out;
	}
	/* only a block list may be larger than KK_COMMAND_MAX: check_large */
	if (env.payload_len > KK_BLOCK_PAYLOAD_MAX) {
		err = refuse(out, KE_TOO_LARGE, "command payload over 16 MiB");
		goto out;
	}
	/*
	 * A cut check still names real signers: the envelope is refused
	 * for it only when they are not enough (check_roles).
	 */
	out->payload_len = env.payload_len;
	err = kk_trust_signers(in->trust, &env, in->named_only, &out->signers,
	    &out->failures);
	cut = err == -EDQUOT;
	if ((err < 0 && !cut) || out->signers == 0) {
		err = cut ? refuse(out, KE_SIGNATURE_BUDGET,
		    budget_detail(in)) :
		    refuse(out, KE_BAD_SIGNATURE,
		    "no signature by a trusted key");
		goto out;
	}
	if (env.payload_len > KK_COMMAND_MAX &&
	    (err = check_large(in, out, cut)) < 0)
		goto out;
	/* bounded in values too: a command has few */
	err = kk_command_parse_untrusted(env.payload, env.payload_len,
	    &out->cmd, why, sizeof(why));
	if (err < 0) {
		err = refuse(out, err == -ENOENT ? KE_UNKNOWN_ACTION :
		    KE_MALFORMED, why);
		goto out;
	}
	out->have_cmd = true;
	if (env.payload_len > KK_COMMAND_MAX &&
	    (err = check_large(in, out, cut)) < 0)
		goto out;
	if ((err = check_roles(in, out, cut)) < 0)
		goto out;
	if ((err = check_addressee(in, out)) < 0)
		goto out;
	if (kk_command_check_time(&out->cmd, in->now, in->clock_skew,
	    in->max_lifetime, &why_time) < 0) {
		err = refuse(out, why_time, NULL);
		goto out;
	}
	if (in->origin_refusal != NULL && (why_time = in->origin_refusal(
	    out->cmd.action, in->origin)) != NULL) {
		err = refuse(out, why_time, "not taken from where it came; "
		    "its id is not spent");
		goto out;
	}
	err = check_replay(in, out);
out:
	kk_envelope_free(&env);
	return err;
}

void
kd_signed_result_free(struct kd_signed_result *out)
{
	if (out->have_cmd)
		kk_command_free(&out->cmd);
	out->have_cmd = false;
}
