/*
 * What nft.c takes from readback.c: errors into n->err, the targeted
 * table request, and the verification of the kernel's tables against
 * objects (see readback.c for its three steps).  Internal to agentd/nft/.
 */
#ifndef KK_NFT_READBACK_H
#define KK_NFT_READBACK_H

#include "nft.h"
#include "nftkind.h"

struct nlmsghdr;

/* Writes n->err and returns err. */
int kk_nft_seterr(struct kk_nft *n, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sends a batch built by build.c and collects its acks (nft.c). */
int kk_nft_send(struct kk_nft *n, struct kk_nft_batch *b);
/* The table name of family, or *out NULL if there is none. */
int kk_nft_get_table(struct kk_nft *n, int family, const char *name,
    struct nftnl_table **out);
/*
 * Does the kernel hold the tables o[0..no) under name?  0, or -ESTALE
 * when it differs (n->err says where), or another negative errno when the
 * kernel could not be read.  how: see readback.c.
 */
enum kk_nft_check {
	KK_NFT_CHECK_CHEAP,	/* as little as settles it (status, timers, events) */
	KK_NFT_CHECK_COMMITTED,	/* after our commit; gen_before: the generation before it, or 0 */
	KK_NFT_CHECK_FULL,	/* every element read back */
};
int kk_nft_check(struct kk_nft *n, const struct kk_nft_objects *o, size_t no,
    const char *name, enum kk_nft_check how, uint32_t gen_before);

/*
 * The sets of one kk_nft_objects that an apply wrote: declared and
 * filled anew by its transactions, by index in o->sets.  Only these can
 * be settled by the generation after it (readback.c, step 2): a set a
 * change in place kept is as whoever last touched it left it.
 */
struct kk_nft_written {
	bool set[KK_NFT_MAX_SETS];
};
/* Pure: marks in w the sets of p->o that p's batch writes (also a bridge's). */
void kk_nft_plan_written(const struct kk_nft_plan *p, struct kk_nft_written *w);
/*
 * kk_nft_check(KK_NFT_CHECK_COMMITTED) after an apply of commits
 * transactions (a bridge and the batch: 2), gen_before read before the
 * first; w[i]: what they wrote of o[i].
 */
int kk_nft_check_applied(struct kk_nft *n, const struct kk_nft_objects *o,
    size_t no, const char *name, uint32_t gen_before, uint32_t commits,
    const struct kk_nft_written *w);

/* What a check knows before it reads anything. */
struct kk_nft_gens {
	bool gen_ok;		/* the generation could be read: gen */
	uint32_t gen;
	bool verified_valid;	/* the last match: its generation, and */
	uint32_t verified_gen;
	bool same_objects;	/* whether it was of the same objects (digest) */
	uint32_t gen_before;	/* COMMITTED: the generation before our commits */
	uint32_t commits;	/* COMMITTED: how many transactions we sent since */
};

/* What a check reads (readback.c, steps 1 to 3). */
enum kk_nft_reads {
	KK_NFT_READ_NOTHING,	/* the last match still holds */
	KK_NFT_READ_SETTLED,	/* all but the elements of interval sets our commits wrote: they were the last */
	KK_NFT_READ_OWNED,	/* those too, unless the table is an owner table of ours */
	KK_NFT_READ_ALL,	/* every element */
};
/* Pure: decided from the generations alone. */
enum kk_nft_reads kk_nft_check_reads(enum kk_nft_check how,
    const struct kk_nft_gens *g);

/*
 * Pure: whether a dump of elements at now (usec) waits, the last one
 * having been at last (0: none yet), at most one per min (0: never waits).
 */
bool kk_nft_dump_waits(uint64_t now, uint64_t last, uint64_t min);

/* A set as read back: its attributes and what its elements came to. */
struct rset {
	struct nftnl_set *s;
	bool wanted;		/* a set of this name is wanted: elements read */
	bool interval;		/* wanted as an interval set: count and digest */
	size_t nelems;
	unsigned char digest[32];
	struct kk_nft_elems elems;	/* a plain set's keys */
};

/* Read-back: the kernel's table, chains, sets and rules. */
struct readback {
	int family;
	const char *name;
	struct nftnl_table *table;
	struct nftnl_chain *chains[KK_NFT_MAX_CHAINS + 8];
	size_t nchains;
	struct rset sets[KK_NFT_MAX_SETS + 8];
	size_t nsets;
	struct nftnl_rule *rules[KK_NFT_MAX_RULES + 32];
	/* each rule's memo key, of the bytes the kernel sent (memo.c), or NULL */
	unsigned char *rule_keys[KK_NFT_MAX_RULES + 32];
	size_t nrules;
	bool overflow;
	bool unreadable;	/* an object libnftnl could not parse */
	bool keys;		/* rules' memo keys are made (a check's, with a memo) */
};

/*
 * The table name of family as the kernel has it into rb (rb->table NULL
 * if there is none).  With o: also its sets and the elements of those o
 * wants; interval sets are settled without reading them when settled
 * (all of them), or when owned and the table is an owner table of this
 * socket.
 */
int kk_nft_read_back(struct kk_nft *n, int family, const char *name,
    struct readback *rb, const struct kk_nft_objects *o, bool owned,
    bool settled);
/* The objects of kind in rb's table: the one called name, or all (NULL). */
int kk_nft_read_objects(struct kk_nft *n, struct readback *rb,
    enum kk_nft_kind_id kind, const char *name);
/*
 * One object of kind as the kernel listed it (nlh), into rb: kept if it
 * is of rb's table, or noted unreadable if libnftnl cannot parse it.
 * -ENOMEM, else 0.
 */
int kk_nft_readback_add(struct readback *rb, enum kk_nft_kind_id kind,
    const struct nlmsghdr *nlh);
void kk_nft_readback_free(struct readback *rb);

#endif
