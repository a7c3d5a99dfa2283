/*
 * One way the quarantine is enforced: nftables tables now (tables.c),
 * USB storage deauthorised later.  The quarantine core (quarantine.c)
 * applies its enforcers in order, verifies them all, and releases them
 * in the reverse order.  Each reads back what it did before it answers.
 */
#ifndef KD_ENFORCER_H
#define KD_ENFORCER_H

#include "kakuri.h"

struct kd;

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
};

#endif
