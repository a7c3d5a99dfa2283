/* The start the nftables test program and bench share; see nftprog.h. */
#include <stdio.h>
#include <string.h>

#include "nftprog.h"

int
np_start(const char *prog, const char *policy, struct kk_policy *p,
    struct kk_nft *n, struct kk_nft_spec *spec, enum kk_mode mode)
{
	char err[512];

	if (kk_policy_load(policy, KK_POLICY_SKIP_OWNER_CHECK, p, err,
	    sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return -1;
	}
	/* as the daemon's handle: rules' lines kept from check to check */
	if (kk_nft_open(n) < 0 || kk_nft_remember_lines(n) < 0) {
		fprintf(stderr, "%s: %s\n", prog, n->err);
		return -1;
	}
	memset(spec, 0, sizeof(*spec));
	spec->mode = mode;
	spec->policy = p;
	return 0;
}
