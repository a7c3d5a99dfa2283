/*
 * The nftables tables "inet kakuri" and, while isolated, "bridge kakuri"
 * (frames a bridge forwards between its ports never reach the inet hooks
 * unless br_netfilter is loaded).
 *
 * rules.c turns a policy and a mode into libnftnl objects, from tables of
 * rows per mode (expr.c compiles a row's matches); build.c turns the
 * objects into one netlink batch.  Both are pure (no sockets), so they are
 * unit-tested by decoding the messages they build.  nft.c sends the batch
 * over libmnl, maps kernel errors back to the rule that caused them, reads
 * the tables back and compares them, and watches nftables events for
 * tampering.
 *
 * When another process holds the name (an owner table of its own, which
 * no other socket can change), the same tables are built under a fallback
 * name: kakurid's tables are "kakuri" or "kakuri_fallback[_<hex>]".
 */
#ifndef KK_NFT_H
#define KK_NFT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "kakuri.h"		/* first: <netinet/in.h> before the kernel's headers */
#include <linux/netfilter.h>	/* NFPROTO_INET, NFPROTO_BRIDGE */

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

#define KK_FALLBACK_NAME	"kakuri_fallback"	/* and kakuri_fallback_<hex> */
#define KK_FALLBACK_HEX		8	/* hex digits of the random suffix */
#define KK_NFT_NAME_MAX		32
#define KK_NFT_KNOWN_MAX	16	/* random fallback names followed */
#define KK_NFT_FAMILIES		2	/* inet, bridge */

/* What the table should be. */
struct kk_nft_spec {
	enum kk_mode mode;
	const struct kk_policy *policy;
	bool own_uid_known;		/* agent.user resolved */
	uid_t own_uid;
	gid_t own_gid;
	uint32_t table_flags;
	char episode[KK_EPISODE_HEX + 1];
	char name[KK_NFT_NAME_MAX];	/* table name; "" is KK_TABLE_NAME */
	bool no_bridge;			/* the kernel has no bridge family */
};

/* The objects of one table of a spec, to build the batch and to compare. */
struct kk_nft_objects {
	int family;			/* NFPROTO_INET or NFPROTO_BRIDGE */
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
	int family;
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

extern const int kk_nft_families[KK_NFT_FAMILIES];
const char *kk_nft_family_name(int family);
/* The spec's table name. */
const char *kk_nft_spec_name(const struct kk_nft_spec *spec);
/* kakurid keeps an inet table in every mode, a bridge table while quarantined. */
bool kk_nft_wants(enum kk_mode mode, int family);
/* A name kakurid may use: KK_TABLE_NAME or a fallback name. */
bool kk_nft_name_ours(const char *name);
int kk_nft_objects_build(const struct kk_nft_spec *spec, int family,
    struct kk_nft_objects *o);
void kk_nft_objects_free(struct kk_nft_objects *o);

/* What one batch does to one table. */
struct kk_nft_plan {
	int family;
	char name[KK_NFT_NAME_MAX];
	bool exists;		/* in the kernel: re-declared and deleted first */
	uint32_t prev_flags;	/* its flags, so the re-declaration claims it */
	const struct kk_nft_objects *o;	/* NULL: only delete it */
};

/*
 * One batch for all the plans: every table that exists is (re)declared
 * with prev_flags (claims an orphaned persistent table), deleted, and the
 * ones with objects are created anew with their chains, sets, elements and
 * rules.  The kernel applies all of it or nothing.
 */
int kk_nft_batch_build(struct kk_nft_batch *b, const struct kk_nft_plan *plan,
    size_t nplan, uint32_t seq);
const char *kk_nft_batch_what(const struct kk_nft_batch *b, uint32_t seq);
int kk_nft_batch_family(const struct kk_nft_batch *b, uint32_t seq);
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
	int err_family;		/* of the message the kernel refused, 0 if none */
	struct timespec committed;	/* CLOCK_REALTIME when the last batch was acked */
	/*
	 * Random fallback names kakurid's tables may have (found at start,
	 * or made since): every apply reads them, with the two fixed names,
	 * by targeted requests and removes what it does not use.
	 */
	char known[KK_NFT_KNOWN_MAX][KK_NFT_NAME_MAX];
	size_t nknown;
	bool scan_incomplete;	/* the start-up scan failed: err says why */
};

/* The strictest mode any inet table of kakurid's names records. */
struct kk_nft_table_info {
	bool exists;		/* some table of kakurid's names exists */
	bool has_mode;
	enum kk_mode mode;
	char episode[KK_EPISODE_HEX + 1];
};

struct kk_nft_counters {
	uint64_t pkts[KK_NFT_MAX_CHAINS];	/* input, output, forward + bridged */
	uint64_t bytes[KK_NFT_MAX_CHAINS];
};

struct kk_nft_event {
	bool touched;		/* a foreign process changed a table of kakurid's names */
	bool foreign_commit;	/* a foreign process committed any nftables change */
	bool overrun;		/* events were lost: verify anyway */
	pid_t pid;		/* of the last foreign commit, 0 if unknown */
	char comm[32];
};

int kk_nft_open(struct kk_nft *n);
void kk_nft_close(struct kk_nft *n);
/*
 * Start-up: what kakurid's tables record, and the fallback tables an
 * earlier kakurid left (the one dump of every table kakurid makes).
 */
int kk_nft_table_info(struct kk_nft *n, struct kk_nft_table_info *ti);
/*
 * Make the kernel hold spec's tables under spec's name, removing
 * kakurid's tables under its other names in the same batch; then read
 * back and compare.  -EPERM when another process holds the name.
 * n->err explains failures.
 */
int kk_nft_apply(struct kk_nft *n, const struct kk_nft_spec *spec);
/* Read back and compare with spec; -ESTALE when the kernel differs. */
int kk_nft_verify(struct kk_nft *n, const struct kk_nft_spec *spec);
/* 1 when another process's owner table holds name (in any family), else 0. */
int kk_nft_name_held(struct kk_nft *n, const char *name);
/* The ruleset generation: it changes with every committed transaction. */
int kk_nft_genid(struct kk_nft *n, uint32_t *gen);
int kk_nft_counters(struct kk_nft *n, const char *name,
    struct kk_nft_counters *c);
int kk_nft_monitor_open(struct kk_nft *n);
int kk_nft_monitor_fd(const struct kk_nft *n);
int kk_nft_monitor_drain(struct kk_nft *n, struct kk_nft_event *ev);

#endif
