/*
 * nftset POLICY SETFILE...: the nftables module of kakurid with interval
 * sets, for t-bigset and bench/run (no user-visible block command exists
 * yet).  Each SETFILE holds one address, CIDR or range a line; its set is
 * named after the file (base name up to the first dot), its family is the
 * one of its first line.  The table is "inet kakuri" in mode open, holding
 * those sets.
 *
 * Commands on stdin, one answer line each on stdout:
 *   commit [owner]   apply (batch, commit, full read-back):
 *                    "ok USEC" or "error TEXT"
 *   verify [full|defer[=MS]]  "ok USEC cheap=N full=N dumps=N", "stale TEXT" or
 *                    "error TEXT"; the counters are kakurid's: checks
 *                    settled by the generation alone, tables read back,
 *                    interval sets whose elements were read (full: all);
 *                    defer: as the tamper monitor checks, "deferred TEXT
 *                    dumps=N" when elements were dumped less than a
 *                    second (MS) ago and all else matches
 *   overlap NAME     an extra set NAME whose range 2500 of 3000 overlaps
 *                    range 2499 (the merge bypassed): the kernel must
 *                    refuse it, and the error must name the element
 *   quit
 * Run it in a throw-away network namespace only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include "kakuri.h"
#include "nft.h"
#include "../nftprog.h"
#include "../progutil.h"

#define MAX_FILES	8

/* One set from a file: "NAME" from "DIR/NAME.txt". */
static int
load(const char *path, struct kk_nft_ipset *ip, struct kk_nft_ranges *r)
{
	char line[256], *p;
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	unsigned lineno = 0;
	FILE *f;
	int err = 0;

	snprintf(ip->name, sizeof(ip->name), "%.*s", (int)strcspn(base, "."),
	    base);
	ip->ranges = r;
	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "nftset: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	while (err == 0 && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		line[strcspn(line, " \t\r\n#")] = '\0';
		if (line[0] == '\0')
			continue;
		if (r->keylen == 0 && (err = kk_nft_ranges_init(r,
		    strchr(line, ':') ? AF_INET6 : AF_INET)) < 0)
			break;
		p = line;
		err = kk_nft_ranges_add(r, p);
		if (err < 0)
			fprintf(stderr, "nftset: %s:%u: %s: %s\n", path, lineno,
			    p, strerror(-err));
	}
	fclose(f);
	if (err == 0 && r->keylen == 0)
		err = kk_nft_ranges_init(r, AF_INET);
	return err < 0 ? err : kk_nft_ranges_seal(r);
}

/* 3000 ranges 8 apart, the 2500th moved into the 2499th after the merge. */
static int
overlapping(struct kk_nft_ranges *r)
{
	uint8_t lo[4], hi[4];
	uint32_t a;
	size_t i;
	int err;

	if ((err = kk_nft_ranges_init(r, AF_INET)) < 0)
		return err;
	for (i = 0; i < 3000; i++) {
		a = htonl(0xc6336400u + 8u * (uint32_t)i);	/* 198.51.100.0 + */
		memcpy(lo, &a, 4);
		a = htonl(0xc6336400u + 8u * (uint32_t)i + 3);
		memcpy(hi, &a, 4);
		if ((err = kk_nft_ranges_add_raw(r, lo, hi)) < 0)
			return err;
	}
	if ((err = kk_nft_ranges_seal(r)) < 0)
		return err;
	/* range 2500 (0-based 2499) now starts inside range 2499 (2498) */
	r->keys[2 * 4 * 2499 + 3] -= 6;
	return 0;
}

int
main(int argc, char **argv)
{
	static struct kk_policy p;
	static struct kk_nft_ranges r[MAX_FILES + 1];
	struct kk_nft_ipset ip[MAX_FILES + 1];
	struct kk_nft_spec spec;
	struct kk_nft n;
	char cmd[128], arg[64];
	long long t0;
	int i, rc;

	if (argc < 3 || argc - 2 > MAX_FILES) {
		fprintf(stderr, "usage: nftset POLICY SETFILE...\n");
		return 2;
	}
	if (np_start("nftset", argv[1], &p, &n, &spec, KK_MODE_OPEN) < 0)
		return 1;
	memset(ip, 0, sizeof(ip));
	for (i = 2; i < argc; i++)
		if (load(argv[i], &ip[i - 2], &r[i - 2]) < 0)
			return 1;
	spec.ipsets = ip;
	spec.nipsets = (size_t)(argc - 2);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(cmd, sizeof(cmd), stdin) != NULL) {
		arg[0] = '\0';
		if (sscanf(cmd, "%*s %63s", arg) < 1)
			arg[0] = '\0';
		t0 = pu_now_us();
		if (strncmp(cmd, "commit", 6) == 0) {
			spec.table_flags = strcmp(arg, "owner") == 0 ?
			    KK_NFT_F_OWNER : 0;
			rc = kk_nft_apply(&n, &spec);
			if (rc < 0)
				printf("error %s\n", n.err);
			else
				printf("ok %lld\n", pu_now_us() - t0);
		} else if (strncmp(cmd, "verify", 6) == 0) {
			/* defer[=MS]: as the tamper monitor checks (one dump a second) */
			n.defer_usec = strncmp(arg, "defer", 5) != 0 ? 0 :
			    arg[5] == '=' ? 1000 * strtoull(arg + 6, NULL, 10) :
			    1000000;
			rc = strcmp(arg, "full") == 0 ?
			    kk_nft_verify_full(&n, &spec) :
			    kk_nft_verify(&n, &spec);
			n.defer_usec = 0;
			if (rc == -EINPROGRESS)
				printf("deferred %s dumps=%lu\n", n.err,
				    n.stats.elem_dumps);
			else if (rc == 0)
				printf("ok %lld cheap=%lu full=%lu dumps=%lu\n",
				    pu_now_us() - t0, n.stats.cheap,
				    n.stats.full, n.stats.elem_dumps);
			else
				printf("%s %s\n", rc == -ESTALE ? "stale" :
				    "error", n.err);
		} else if (strncmp(cmd, "overlap", 7) == 0 && arg[0] &&
		    spec.nipsets <= MAX_FILES) {
			snprintf(ip[spec.nipsets].name, KK_NFT_NAME_MAX, "%s",
			    arg);
			ip[spec.nipsets].ranges = &r[spec.nipsets];
			if (overlapping(&r[spec.nipsets]) < 0) {
				printf("error no memory\n");
				continue;
			}
			spec.nipsets++;
			printf("ok\n");
		} else if (strncmp(cmd, "quit", 4) == 0) {
			break;
		} else {
			printf("error unknown command\n");
		}
	}
	kk_nft_close(&n);
	for (i = 0; i <= MAX_FILES; i++)
		kk_nft_ranges_free(&r[i]);
	return 0;
}
