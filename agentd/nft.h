/*
 * The nftables table "inet kakuri".
 *
 * nft_build.c turns a policy and a mode into libnftnl objects and one
 * netlink batch; it is pure (no sockets) so it is unit-tested by decoding
 * the messages it builds.  nft.c sends the batch over libmnl, maps kernel
 * errors back to the rule that caused them, reads the table back and
 * compares it, and watches nftables events for tampering.
 */
#ifndef KK_NFT_H
#define KK_NFT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "kakuri.h"

struct nftnl_table;
struct nftnl_chain;
struct nftnl_set;
struct nftnl_rule;
struct mnl_socket;

/* Table flags from linux/netfilter/nf_tables.h; PERSIST is Linux >= 6.9. */
#define KK_NFT_F_OWNER		0x2
#define KK_NFT_F_PERSIST	0x4

#define KK_NFT_MAX_CHAINS	3
#define KK_NFT_MAX_SETS		10
#define KK_NFT_MAX_RULES	64

/* What the table should be. */
struct kk_nft_spec {
	enum kk_mode mode;
	const struct kk_policy *policy;
	bool own_uid_known;		/* agent.user resolved */
	uid_t own_uid;
	gid_t own_gid;
	uint32_t table_flags;
	char episode[KK_EPISODE_HEX + 1];
};

/* The objects of a spec, used both to build the batch and to compare. */
struct kk_nft_objects {
	struct nftnl_table *table;
	struct nftnl_chain *chains[KK_NFT_MAX_CHAINS];
	size_t nchains;
	struct nftnl_set *sets[KK_NFT_MAX_SETS];
	size_t nsets;
	struct nftnl_rule *rules[KK_NFT_MAX_RULES];
	size_t nrules;
};

struct kk_nft_msgmap {
	uint32_t seq;
	char what[112];
};

struct kk_nft_batch {
	char *buf;
	size_t len;
	struct kk_nft_msgmap *map;
	size_t nmap;
	uint32_t seq_first;
	uint32_t seq_last;
};

int kk_nft_objects_build(const struct kk_nft_spec *spec,
    struct kk_nft_objects *o);
void kk_nft_objects_free(struct kk_nft_objects *o);

/*
 * One batch that replaces the table atomically: (re)declare it with
 * prev_flags so the delete cannot fail when it is absent, delete it,
 * create it anew with its chains, sets, elements and rules.
 */
int kk_nft_batch_build(struct kk_nft_batch *b, const struct kk_nft_objects *o,
    bool exists, uint32_t prev_flags, uint32_t seq);
const char *kk_nft_batch_what(const struct kk_nft_batch *b, uint32_t seq);
void kk_nft_batch_free(struct kk_nft_batch *b);

/* "kakuri mode=isolated episode=<hex>": the table's comment. */
int kk_nft_comment_format(enum kk_mode mode, const char *episode, char *buf,
    size_t len);
int kk_nft_comment_parse(const char *comment, enum kk_mode *mode,
    char episode[KK_EPISODE_HEX + 1]);
int kk_nft_table_comment(const struct nftnl_table *t, char *buf, size_t len);

/* Canonical one-line texts compared after read-back. */
int kk_nft_canon_table(const struct nftnl_table *t, char *buf, size_t len);
int kk_nft_canon_chain(const struct nftnl_chain *c, char *buf, size_t len);
int kk_nft_canon_rule(const struct nftnl_rule *r, char *buf, size_t len);
int kk_nft_canon_set(const struct nftnl_set *s, char *buf, size_t len);

/* nft.c: talking to the kernel */
struct kk_nft {
	struct mnl_socket *nl;	/* every change goes through this socket: it owns the table */
	uint32_t portid;
	uint32_t seq;
	struct mnl_socket *mon;	/* nftables event monitor */
	uint32_t mon_portid;
	char err[320];		/* last error, naming the rule when the kernel refused one */
	struct timespec committed;	/* CLOCK_REALTIME when the last batch was acked */
};

struct kk_nft_table_info {
	bool exists;
	uint32_t flags;
	bool has_mode;
	enum kk_mode mode;
	char episode[KK_EPISODE_HEX + 1];
};

struct kk_nft_counters {
	uint64_t pkts[KK_NFT_MAX_CHAINS];	/* input, output, forward */
	uint64_t bytes[KK_NFT_MAX_CHAINS];
};

struct kk_nft_event {
	bool touched;		/* a foreign process changed inet kakuri */
	bool foreign_commit;	/* a foreign process committed any nftables change */
	bool overrun;		/* events were lost: verify anyway */
	pid_t pid;		/* of the last foreign commit, 0 if unknown */
	char comm[32];
};

int kk_nft_open(struct kk_nft *n);
void kk_nft_close(struct kk_nft *n);
int kk_nft_table_info(struct kk_nft *n, struct kk_nft_table_info *ti);
/* Commit the batch, then read back and compare.  n->err explains failures. */
int kk_nft_apply(struct kk_nft *n, const struct kk_nft_spec *spec,
    const struct kk_nft_table_info *before);
/* Read back and compare with spec; -ESTALE when the kernel differs. */
int kk_nft_verify(struct kk_nft *n, const struct kk_nft_spec *spec);
int kk_nft_counters(struct kk_nft *n, struct kk_nft_counters *c);
int kk_nft_monitor_open(struct kk_nft *n);
int kk_nft_monitor_fd(const struct kk_nft *n);
int kk_nft_monitor_drain(struct kk_nft *n, struct kk_nft_event *ev);

#endif
