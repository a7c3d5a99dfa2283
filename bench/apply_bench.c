/*
 * apply_bench POLICY RUNS [DEV...]: time kakuri's isolation apply (one
 * batch, commit, read back and compare) RUNS times in the current network
 * namespace, and print the samples in microseconds, one per line.  The
 * DEVs are the Ethernet devices the netdev table hooks, as kakurid finds
 * them (sorted).  bench/run runs it inside a throw-away namespace next to
 * `nft -f`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/nftprog.h"
#include "../tests/progutil.h"

int
main(int argc, char **argv)
{
	static struct kk_policy p;
	static char devs[KK_NFT_NETDEVS_MAX][KK_NFT_IFNAME];
	struct kk_nft_spec spec;
	struct kk_nft n;
	long long t0;
	int i, runs;

	if (argc < 3 || argc - 3 > KK_NFT_NETDEVS_MAX) {
		fprintf(stderr, "usage: apply_bench POLICY RUNS [DEV...]\n");
		return 2;
	}
	runs = atoi(argv[2]);
	if (runs <= 0 || runs > 100000)
		return 2;
	if (np_start("apply_bench", argv[1], &p, &n, &spec,
	    KK_MODE_ISOLATED) < 0)
		return 1;
	spec.own_uid_known = true;
	spec.own_uid = 65534;
	spec.own_gid = 65534;
	spec.table_flags = 0;	/* same table nft -f can replace */
	strcpy(spec.episode, "00112233445566778899aabbccddeeff");
	for (i = 3; i < argc; i++)
		snprintf(devs[i - 3], sizeof(devs[0]), "%s", argv[i]);
	spec.netdevs = (const char (*)[KK_NFT_IFNAME])devs;
	spec.nnetdevs = (size_t)(argc - 3);
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
