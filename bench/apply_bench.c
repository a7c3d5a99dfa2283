/*
 * apply_bench POLICY RUNS: time kakuri's isolation apply (one batch,
 * commit, read back and compare) RUNS times in the current network
 * namespace, and print the samples in microseconds, one per line.
 * bench/run runs it inside a throw-away namespace next to `nft -f`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kakuri.h"
#include "nft.h"
#include "../tests/progutil.h"

int
main(int argc, char **argv)
{
	static struct kk_policy p;
	struct kk_nft_spec spec;
	struct kk_nft n;
	char err[512];
	long long t0;
	int i, runs;

	if (argc != 3) {
		fprintf(stderr, "usage: apply_bench POLICY RUNS\n");
		return 2;
	}
	runs = atoi(argv[2]);
	if (runs <= 0 || runs > 100000)
		return 2;
	if (kk_policy_load(argv[1], KK_POLICY_SKIP_OWNER_CHECK, &p, err,
	    sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (kk_nft_open(&n) < 0) {
		fprintf(stderr, "%s\n", n.err);
		return 1;
	}
	memset(&spec, 0, sizeof(spec));
	spec.mode = KK_MODE_ISOLATED;
	spec.policy = &p;
	spec.own_uid_known = true;
	spec.own_uid = 65534;
	spec.own_gid = 65534;
	spec.table_flags = 0;	/* same table nft -f can replace */
	strcpy(spec.episode, "00112233445566778899aabbccddeeff");
	for (i = 0; i < runs; i++) {
		t0 = pu_now_us();
		if (kk_nft_apply(&n, &spec) < 0) {
			fprintf(stderr, "apply: %s\n", n.err);
			return 1;
		}
		printf("%lld\n", pu_now_us() - t0);
	}
	kk_nft_close(&n);
	return 0;
}
