/*
 * IOC block lists (issue 12, DESIGN 7): what a signed `block` carries,
 * normalised into interval sets (nft/intervals.c), the lists in force,
 * and their files under state_dir/blocklists/.  Pure but for the files:
 * no sockets, no logging (callers log).  kakurid-restore links it too.
 */
#ifndef KD_BLOCKLIST_H
#define KD_BLOCKLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nft.h"

struct json_t;

#define KD_BLOCK_LISTS_MAX	8		/* lists in force at once */
#define KD_BLOCK_NAME_MAX	16		/* [a-z][a-z0-9_]* */
#define KD_BLOCK_ENTRIES_MAX	1000000		/* entries of one block command */
#define KD_BLOCK_RANGES_TOTAL	2000000		/* all lists, after merging */
#define KD_BLOCK_DIR		"blocklists"	/* under state_dir */

struct kd_blocklist {
	char name[KD_BLOCK_NAME_MAX + 1];
	uint32_t version;
	unsigned dir;			/* KK_NFT_BLOCK_OUT / _IN bits */
	uint16_t ports[KK_NFT_MAX_BLOCK_PORTS];	/* host order, sorted */
	size_t nports;
	size_t entries;			/* as the command gave them */
	unsigned spared;		/* times peers were taken out (spare) */
	int64_t signed_at;		/* its command's iat; 0: not known */
	struct kk_nft_ranges r[2];	/* IPv4, IPv6; sealed */
};

/* The lists in force, and the interval sets of the tables they make. */
struct kd_blocklists {
	struct kd_blocklist *list[KD_BLOCK_LISTS_MAX];	/* by name */
	size_t n;
	struct kk_nft_ipset ipsets[2 * KD_BLOCK_LISTS_MAX];
	size_t nipsets;
};

/*
 * args of a block command: {set, version, addresses, ports?, direction?}
 * (direction "out", "in" or "both", the default).  Every entry an
 * address, a CIDR with its host bits clear or a range FIRST-LAST, of
 * either family; overlapping, adjacent, contained and repeated entries
 * are merged.  Refused, with the entry named in why: text that is none
 * of these, a /0 or anything covering a whole family, and a list that
 * would cut the management channel (a peer of the policy in it).
 * -EINVAL (malformed) or -E2BIG (too many entries), -ENOMEM.
 */
int kd_blocklist_parse(const struct json_t *args, const struct kk_policy *p,
    struct kd_blocklist **out, char *why, size_t whylen);
void kd_blocklist_free(struct kd_blocklist *b);
/*
 * The nftables name of its interval set of family i (0 IPv4, 1 IPv6), or
 * of that set's port set.
 */
int kd_blocklist_setname(const struct kd_blocklist *b, int i, bool ports,
    char *buf, size_t len);
const char *kd_blocklist_dir_name(unsigned dir);
/* the direction of a name kd_blocklist_dir_name gives: 0 or -EINVAL */
int kd_blocklist_dir_parse(const char *s, unsigned *dir);
/* an empty list of both families, or NULL without memory */
struct kd_blocklist *kd_blocklist_new(void);
/* Whether s (n bytes) is a list's name: [a-z][a-z0-9_]*, 1 to 16 of them. */
bool kd_blocklist_name_ok(const char *s, size_t n);
size_t kd_blocklist_ranges(const struct kd_blocklist *b);

struct kd_blocklist *kd_blocklists_find(const struct kd_blocklists *ls,
    const char *name);
/*
 * b in force in place of its namesake (*old, NULL if none, the caller's
 * to free or to put back): -ENOSPC past KD_BLOCK_LISTS_MAX lists, -E2BIG
 * past KD_BLOCK_RANGES_TOTAL ranges.
 */
int kd_blocklists_put(struct kd_blocklists *ls, struct kd_blocklist *b,
    struct kd_blocklist **old);
/* The list named name out of force (the caller frees it), or NULL. */
struct kd_blocklist *kd_blocklists_take(struct kd_blocklists *ls,
    const char *name);
void kd_blocklists_clear(struct kd_blocklists *ls);
/*
 * Every management peer of p, and its fleet broker, taken out of the
 * lists in force: a block command that holds one is refused
 * (kd_blocklist_parse), but a policy changed since, or a list saved
 * before, must not cut the CSIRT channel either.  How many were taken out, "LIST: ADDR, ..." in spared; or a
 * negative errno (the lists as they were).
 */
int kd_blocklists_spare(struct kd_blocklists *ls, const struct kk_policy *p,
    char *spared, size_t len);

/*
 * Files: dir/NAME.list, written atomically (temp, fsync, rename, fsync of
 * dir): the normalised ranges as raw keys, with digests that cover every
 * byte (blocklist_file.c).  load reads every one; a file that does not load
 * (a digest that does not hold, keys not as seal leaves them) is renamed
 * NAME.list.bad and named in bad (with a comma between names), the
 * others load.
 */
int kd_blocklist_save(const char *dir, const struct kd_blocklist *b);
int kd_blocklist_unlink(const char *dir, const char *name);
/*
 * NAME.gone: when the unblock that ended a list of that name was signed
 * (iat), so that a block signed before it, still valid, cannot bring an
 * old list back.  save keeps the later of what is there and iat; load
 * gives -ENOENT when there is none; drop removes it.
 */
int kd_blocklist_gone_save(const char *dir, const char *name, int64_t iat);
int kd_blocklist_gone_load(const char *dir, const char *name, int64_t *iat);
int kd_blocklist_gone_drop(const char *dir, const char *name);
int kd_blocklists_load(const char *dir, struct kd_blocklists *ls, char *bad,
    size_t badlen);

#endif
