/*
 * The start that bench/apply_bench.c and tests/integration/nftset.c
 * share: a policy loaded without the owner check, nftables opened, and a
 * spec for the mode with that policy.  Errors go to stderr under prog.
 */
#ifndef KK_NFTPROG_H
#define KK_NFTPROG_H
#include "kakuri.h"
#include "nft.h"

/* 0, or -1 when the policy does not load or nftables does not open. */
int	np_start(const char *prog, const char *policy, struct kk_policy *p,
	    struct kk_nft *n, struct kk_nft_spec *spec, enum kk_mode mode);

#endif
