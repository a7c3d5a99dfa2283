/*
 * One way the quarantine is enforced: nftables tables (tables.c), USB
 * storage deauthorised (usb_enforcer.c).  The quarantine core
 * (quarantine.c) applies its enforcers in order, verifies them all, and
 * releases them in the reverse order.  Each reads back what it did
 * before it answers.
 *
 * Only the network decides whether an isolation is done: an enforcer
 * after it never fails the mode (that would hold the network open, or
 * roll it back, for the sake of a USB record: fail closed).  What such
 * an enforcer could not do is its outcome instead, which the receipt,
 * the audit and status carry (adopt.c: kd_enforcers_json), so that the
 * CSIRT is not told "done" for a cut that is only partly there.
 */
#ifndef KD_ENFORCER_H
#define KD_ENFORCER_H

#include "kakuri.h"

struct kd;

/* How an enforcer's part went (wire.h: KR_APPLIED, KR_DEGRADED, KR_FAILED). */
enum kd_enforced {
	KD_ENF_APPLIED,		/* all of it holds */
	KD_ENF_DEGRADED,	/* done as far as it could be; reason says what not */
	KD_ENF_FAILED,		/* not done: its apply or release failed */
};

struct kd_outcome {
	enum kd_enforced result;
	char reason[32];	/* a word: "write-refused", "sync-timeout", ... */
	char detail[320];	/* what was not done, and why; "" if nothing */
	/* kd_now_usec() of the look it comes from; 0: unknown */
	unsigned long long at;
};

struct kd_enforcer {
	const char *name;
	/* mode in force for episode, read back: 0 or a negative errno */
	int (*apply)(struct kd *d, enum kk_mode mode, const char *episode);
	/* 0 if the kernel holds what mode needs, -ESTALE if it differs */
	int (*verify)(struct kd *d, enum kk_mode mode, const char *episode);
	/*
	 * nothing of it in force any more; NULL: apply(d, KK_MODE_OPEN, ""),
	 * for an enforcer whose open mode holds nothing
	 */
	int (*release)(struct kd *d);
	/*
	 * How its last apply, verify or release went, for one that answers
	 * 0 for a part done only partly; NULL: its return value says it all.
	 */
	void (*outcome)(struct kd *d, struct kd_outcome *out);
};

#endif
