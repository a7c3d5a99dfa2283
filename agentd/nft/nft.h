/*
 * The nftables tables "inet kakuri" and, while isolated, "bridge kakuri"
 * (frames a bridge forwards between its ports never reach the inet hooks
 * unless br_netfilter is loaded) and "netdev kakuri": chains on the
 * ingress and egress hooks of every Ethernet device of the namespace,
 * which frames meet whatever made them: a macvlan, ipvlan or vlan device
 * made straight into another namespace on top of one of them, or an
 * AF_PACKET socket, all of which pass the inet hooks by.  The netdev
 * chains carry the isolated mode's own rows, matched on the frame's bytes
 * (rules.c): the kernel's idea of where the network header is can be
 * made up by whoever writes the frame.
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
#include <linux/netfilter.h>	/* NFPROTO_INET, NFPROTO_BRIDGE, NFPROTO_NETDEV */

struct nftnl_table;
struct nftnl_chain;
struct nftnl_set;
struct nftnl_rule;
struct nftnl_obj;
struct mnl_socket;
struct kk_nft;
struct nlmsghdr;

/* Table flags from linux/netfilter/nf_tables.h; PERSIST is Linux >= 6.9. */
#define KK_NFT_F_OWNER		0x2
#define KK_NFT_F_PERSIST	0x4

#define KK_NFT_MAX_CHAINS	7	/* input, output, forward; ingress, egress, ingress_ip, egress_ip */
/*
 * The netdev table's chains run first on ingress and last on egress: a
 * chain of another table on the same device can then neither rewrite a
 * frame before kakuri looks at it coming in nor after kakuri let it go
 * out, unless it takes the same extreme priority, which the foreign
 * hooks look reports (foreign.c).
 */
#define KK_NFT_INGRESS_PRIO	INT32_MIN
#define KK_NFT_EGRESS_PRIO	INT32_MAX
#define KK_NFT_INET_CHAINS	3	/* the inet and bridge tables': the first three */
#define KK_NFT_MAX_IPSETS	32	/* interval sets of addresses (IOC lists) */
#define KK_NFT_MAX_BLOCK_PORTS	16	/* ports of one block list */
/* a block list's port set per interval set, besides the policy's 10 */
#define KK_NFT_MAX_SETS		(10 + 2 * KK_NFT_MAX_IPSETS)
/*
 * The modes' own rules, and per interval set at most 4 hooks/directions
 * x 2 protocols (ports) x 2 (log, drop).
 */
#define KK_NFT_MAX_RULES	(64 + 16 * KK_NFT_MAX_IPSETS)
#define KK_NFT_SMALL_MAX	(2 * KK_MAX_ADDRS + KK_MAX_PORTS)	/* a plain set's elements */

#define KK_FALLBACK_NAME	"kakuri_fallback"	/* and kakuri_fallback_<hex> */
/*
 * A live drill's table (issue 11): inet only, an owner table without
 * persist (the kernel removes it with kakurid's socket), chains that
 * accept by default, and every drop gated by the one element of the set
 * KK_DRILL_GATE, which has a timeout kakurid refreshes (the kernel lifts
 * the drill when kakurid hangs).
 */
#define KK_DRILL_TABLE		"kakuri_drill"
#define KK_DRILL_GATE		"drill_gate"
#define KK_FALLBACK_HEX		8	/* hex digits of the random suffix */
#define KK_NFT_NAME_MAX		32
#define KK_NFT_KNOWN_MAX	16	/* random fallback names followed */
#define KK_NFT_FAMILIES		3	/* inet, bridge, netdev */
/*
 * Devices one netdev chain hooks: the kernel refuses the 256th
 * (NFT_NETDEVICE_MAX is 256 and it counts from one) with EFBIG.
 */
#define KK_NFT_NETDEVS_MAX	255
#define KK_NFT_IFNAME		16	/* IFNAMSIZ: <net/if.h> and <linux/if.h> clash */

/*
 * Batches are built in pages, as nftables' own src/mnl.c does, and sent
 * in one sendmsg (one transaction, all pages): a message never spans two
 * pages, and a page holds KK_NFT_PAGE_SIZE and whatever the last message
 * needs beyond it.  A set's elements go in as many NEWSETELEM messages as
 * it takes to keep each element list (a nest, whose length is 16 bits)
 * under KK_NFT_ELEMS_MAX.
 */
#define KK_NFT_PAGE_SIZE	(128 * 1024)
#define KK_NFT_MSG_MAX		(128 * 1024)	/* one message, at most */
#define KK_NFT_ELEMS_MAX	(60 * 1024)	/* one message's element list */
#define KK_NFT_PAGES_MAX	1024		/* IOV_MAX: one sendmsg */
#define KK_NFT_RANGES_MAX	1000000		/* ranges of one interval set */

/*
 * Buffers of KK_NFT_BIGBUF_MIN and more in transparent huge pages where
 * the kernel allows it (bigbuf.c), smaller ones in small pages; zeroed.
 * maplen: what to free.  NULL when memory is out.
 */
#define KK_NFT_BIGBUF_MIN	((size_t)1 << 20)
void *kk_nft_bigbuf_alloc(size_t len, size_t *maplen);
void kk_nft_bigbuf_free(void *p, size_t maplen);

/*
 * An interval set of addresses (an IOC block list): ranges of one family,
 * sorted and merged by kk_nft_ranges_seal(), which also makes the digest
 * of the elements the kernel will hold (see intervals.c).
 */
struct kk_nft_ranges {
	int af;			/* AF_INET or AF_INET6 */
	uint32_t keylen;	/* 4 or 16 */
	uint8_t *keys;		/* n ranges: first and last address, network order */
	size_t n, cap;
	size_t keys_maplen;	/* keys from kk_nft_bigbuf_alloc (load), not malloc */
	bool sealed;
	size_t nelems;		/* kernel elements: a start, and an end unless last */
	unsigned char digest[32];	/* SHA-256 of the canonical element list */
};

int kk_nft_ranges_init(struct kk_nft_ranges *r, int af);
void kk_nft_ranges_free(struct kk_nft_ranges *r);
/*
 * "192.0.2.7", "203.0.113.0/24" (host bits clear), "10.0.0.1-10.0.0.9",
 * IPv6 alike.  -EINVAL for bad text, -EAFNOSUPPORT for an address of the
 * other family, -E2BIG past KK_NFT_RANGES_MAX.
 */
int kk_nft_ranges_add(struct kk_nft_ranges *r, const char *text);
int kk_nft_ranges_add_raw(struct kk_nft_ranges *r, const uint8_t *lo,
    const uint8_t *hi);
/*
 * Room for n ranges in an empty r, in huge pages when it is megabytes
 * (kk_nft_bigbuf_alloc): a list of 100,000 written once into memory
 * faulted in by the page is milliseconds of page faults.  More than n
 * still fit (on the heap).
 */
int kk_nft_ranges_reserve(struct kk_nft_ranges *r, size_t n);
/* Sort, merge overlapping and adjacent ranges, count elements, digest. */
int kk_nft_ranges_seal(struct kk_nft_ranges *r);
/*
 * An empty r given n ranges as seal leaves them (keys: 2n keys, each
 * range's first and last address), sealed with one pass and one copy:
 * -EBADMSG, r's keys to free, unless they ascend, neither overlap nor
 * touch, and each first address is at most its last.
 */
int kk_nft_ranges_load(struct kk_nft_ranges *r, const uint8_t *keys,
    size_t n);
/* Element i < nelems as the kernel holds it: its key, and whether it ends a range. */
void kk_nft_ranges_elem(const struct kk_nft_ranges *r, size_t i,
    uint8_t key[16], bool *end);
/* Whether a sealed r holds addr (keylen bytes, network order). */
bool kk_nft_ranges_contains(const struct kk_nft_ranges *r, const uint8_t *addr);
/* Whether a sealed r holds any address from first to last (keylen bytes). */
bool kk_nft_ranges_overlap(const struct kk_nft_ranges *r, const uint8_t *first,
    const uint8_t *last);
/*
 * addr taken out of a sealed r: the range that held it split around it,
 * shrunk or gone, and r sealed again (a new digest).  0, also when no
 * range holds addr; a negative errno with r as it was.
 */
int kk_nft_ranges_carve(struct kk_nft_ranges *r, const uint8_t *addr);
/* Whether a sealed r is one range over every address of its family. */
bool kk_nft_ranges_everything(const struct kk_nft_ranges *r);
/* Range i as text: "ADDR" or "FIRST-LAST". */
int kk_nft_ranges_format(const struct kk_nft_ranges *r, size_t i, char *buf,
    size_t len);

/* The elements of a set as the kernel lists them, kept compact. */
struct kk_nft_elems {
	uint32_t keylen;
	uint8_t *rec;		/* n records: key, then its flags (KK_NFT_ELEM_*) */
	size_t n, cap;
	size_t max;		/* kept at most; more sets more */
	bool more;
};

/*
 * An element record's flags: the kernel's NFT_SET_ELEM_INTERVAL_END and
 * NFT_SET_ELEM_CATCHALL as they are, any other flag, or a data, object,
 * closing key or expression listed with the element, as EXTRA.
 * Elements of kakurid's sets have at most END.
 */
#define KK_NFT_ELEM_END		0x01
#define KK_NFT_ELEM_CATCHALL	0x02
#define KK_NFT_ELEM_EXTRA	0x80
/* for kk_nft_elems_add(): the element came with more than key and flags */
#define KK_NFT_ELEM_F_EXTRA	0x80000000u

int kk_nft_elems_init(struct kk_nft_elems *e, uint32_t keylen, size_t max);
void kk_nft_elems_free(struct kk_nft_elems *e);
int kk_nft_elems_add(struct kk_nft_elems *e, const void *key, uint32_t flags);
/* The elements of a libnftnl set (a plain set of the rules). */
int kk_nft_elems_of(const struct nftnl_set *s, size_t max,
    struct kk_nft_elems *e);
void kk_nft_elems_sort(struct kk_nft_elems *e);
/* The elements of one NEWSETELEM message (a dump reply, or a batch's). */
int kk_nft_elems_parse(struct kk_nft_elems *e, const struct nlmsghdr *nlh);
/* Sorts them and digests them as kk_nft_ranges_seal() digests its own. */
int kk_nft_elems_digest(struct kk_nft_elems *e, unsigned char out[32]);

/* What a block list's rules drop: packets to its addresses, from them. */
#define KK_NFT_BLOCK_OUT	0x1	/* output and forward: daddr */
#define KK_NFT_BLOCK_IN		0x2	/* input and forward: saddr */
#define KK_NFT_BLOCK_PREFIX	"kakuri:"	/* an NFLOG prefix: "kakuri:" + list */
/*
 * A "from them" rule's prefix ends with this after the list: the report
 * names the listed host by the packet's source there, not its
 * destination (this host, or the one it forwards to).
 */
#define KK_NFT_BLOCK_IN_SUFFIX	":in"
#define KK_NFT_DROPS_SUFFIX	"_drops"	/* a list's named counter: list + it */

/*
 * An interval set of the inet table.  With block set, it is an IOC block
 * list's (issue 12): in every mode, before the mode's own rules, each
 * hook it applies to has a rate-limited NFLOG rule (log_group of the
 * spec, prefix KK_NFT_BLOCK_PREFIX + list, + KK_NFT_BLOCK_IN_SUFFIX on
 * the rules of packets from its addresses) and a counted drop, matching
 * the addresses and, with ports, TCP and UDP to (out) or from (in) those
 * ports only.
 */
struct kk_nft_ipset {
	char name[KK_NFT_NAME_MAX];
	char ports_name[KK_NFT_NAME_MAX];	/* its port set's, when nports */
	const struct kk_nft_ranges *ranges;	/* sealed */
	unsigned block;			/* KK_NFT_BLOCK_* bits; 0: no rules */
	const char *list;		/* the block list's name */
	uint32_t version;
	const uint16_t *ports;		/* host order; none: every protocol */
	size_t nports;
};

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
	/*
	 * The devices the netdev table's chains hook (isolated, not a
	 * drill); none: no netdev table.  Sorted, no duplicates.
	 */
	const char (*netdevs)[KK_NFT_IFNAME];
	size_t nnetdevs;
	/*
	 * The same for devices whose frames start with the IP header (no
	 * link-layer header: a modem's raw IP, tun, WireGuard): the
	 * chains ingress_ip and egress_ip, on network-header offsets.
	 */
	const char (*ipdevs)[KK_NFT_IFNAME];
	size_t nipdevs;
	const struct kk_nft_ipset *ipsets;	/* in the inet table, in every mode */
	size_t nipsets;
	/*
	 * Every chain drops by default: the first of two steps when a table
	 * holding block lists is made anew (nft.c).
	 */
	bool hold;
	/* block lists' NFLOG rules: group, packets per log_unit s (0: none) */
	uint16_t log_group;
	uint32_t log_rate;
	uint32_t log_unit;
	/* a live drill's table (KK_DRILL_TABLE): mode isolated, gated drops */
	bool drill;
	uint64_t gate_ms;		/* the gate element's timeout */
};

/* The objects of one table of a spec, to build the batch and to compare. */
struct kk_nft_objects {
	int family;			/* NFPROTO_INET, _BRIDGE or _NETDEV */
	struct nftnl_table *table;
	struct nftnl_chain *chains[KK_NFT_MAX_CHAINS];
	size_t nchains;
	struct nftnl_set *sets[KK_NFT_MAX_SETS];
	/* an interval set's elements; its nftnl_set has none */
	const struct kk_nft_ranges *ranges[KK_NFT_MAX_SETS];
	size_t nsets;
	struct nftnl_rule *rules[KK_NFT_MAX_RULES];
	size_t nrules;
	/* named counters: a block list's drops (stateful objects) */
	struct nftnl_obj *objs[KK_NFT_MAX_IPSETS];
	size_t nobjs;
};

/* What one message of a batch carries, found by its sequence number. */
struct kk_nft_msgmap {
	uint32_t seq;
	int family;
	uint32_t page, off;	/* where it is in the batch */
	/* NEWSETELEM: elements first..first+count-1 of set; else count 0 */
	size_t first, count;
	const struct kk_nft_ranges *ranges;	/* of an interval set */
	char set[KK_NFT_NAME_MAX];	/* NEWSETELEM: the set's name */
	char what[112];
};

struct kk_nft_page {
	char *buf;		/* room for KK_NFT_PAGE_SIZE + KK_NFT_MSG_MAX */
	size_t len;
};

/* Memory the pages of a batch are cut from, one after the other. */
struct kk_nft_arena {
	char *buf;
	size_t len;		/* as mapped (kk_nft_bigbuf_alloc) */
};

struct kk_nft_batch {
	struct kk_nft_page *pages;
	struct kk_nft_arena *arenas;
	size_t narenas;
	size_t npages;
	size_t len;		/* of all pages */
	struct kk_nft_msgmap *map;
	size_t nmap, cap_map;
	uint32_t seq_first;	/* the batch begin */
	uint32_t seq_last;	/* the last message before the batch end */
};

extern const int kk_nft_families[KK_NFT_FAMILIES];
const char *kk_nft_family_name(int family);
/* The spec's table name. */
const char *kk_nft_spec_name(const struct kk_nft_spec *spec);
/*
 * kakurid keeps an inet table in every mode, a bridge table while
 * quarantined, a netdev table while isolated.
 */
bool kk_nft_wants(enum kk_mode mode, int family);
/* A name kakurid may use: KK_TABLE_NAME or a fallback name. */
bool kk_nft_name_ours(const char *name);
int kk_nft_objects_build(const struct kk_nft_spec *spec, int family,
    struct kk_nft_objects *o);
void kk_nft_objects_free(struct kk_nft_objects *o);

/*
 * What a table in the kernel holds by name (kk_nft_table_names), for a
 * change in place: its comment (mode and episode), chains and sets.
 */
struct kk_nft_names {
	char comment[128];
	char chains[KK_NFT_MAX_CHAINS + 8][KK_NFT_NAME_MAX];
	size_t nchains;
	char sets[KK_NFT_MAX_SETS + 8][KK_NFT_NAME_MAX];
	size_t nsets;
	char counters[KK_NFT_MAX_IPSETS + 8][KK_NFT_NAME_MAX];
	size_t ncounters;
};
int kk_nft_table_names(struct kk_nft *n, int family, const char *name,
    struct kk_nft_names *out);

/* Set ids from here on are a block list's version's: their contents never change. */
#define KK_NFT_VERSIONED_ID	100

/* What one batch does to one table. */
struct kk_nft_plan {
	int family;
	char name[KK_NFT_NAME_MAX];
	bool exists;		/* in the kernel: re-declared and deleted first */
	uint32_t prev_flags;	/* its flags, so the re-declaration claims it */
	const struct kk_nft_objects *o;	/* NULL: only delete it */
	/*
	 * Changed in place rather than deleted and created anew: the table
	 * holds these, with the same comment and flags as o's.  A block
	 * list's sets that are there already stay; new ones are filled
	 * before anything is deleted (see build.c).
	 */
	const struct kk_nft_names *keep;
	/*
	 * With keep: only the first of two transactions of a version swap
	 * (see build.c): the new versions' sets and counters, and o's rules
	 * put in front of the rules of the chains that are there.
	 */
	bool bridge;
};

/*
 * One batch for all the plans: every table that exists is (re)declared
 * with prev_flags (claims an orphaned persistent table), deleted, and the
 * ones with objects are created anew with their chains, sets, elements and
 * rules.  The kernel applies all of it or nothing.
 */
int kk_nft_batch_build(struct kk_nft_batch *b, const struct kk_nft_plan *plan,
    size_t nplan, uint32_t seq);
/* A drill gate renewed for gate_ms (KK_DRILL_GATE of table), as one batch. */
int kk_nft_batch_gate(struct kk_nft_batch *b, const char *table,
    uint64_t gate_ms, uint32_t seq);
/* Whether p changes its table in place and brings a new version's sets. */
bool kk_nft_plan_new_version(const struct kk_nft_plan *p);
/* The map entry of seq, or NULL (the batch begin and end have none). */
const struct kk_nft_msgmap *kk_nft_batch_msg(const struct kk_nft_batch *b,
    uint32_t seq);
const char *kk_nft_batch_what(const struct kk_nft_batch *b, uint32_t seq);
int kk_nft_batch_family(const struct kk_nft_batch *b, uint32_t seq);
/*
 * What the kernel refused at offset off of message seq (the extended ack's
 * NLMSGERR_ATTR_OFFS): for elements, which one ("element 12 of set blk4,
 * in range 198.51.100.0-198.51.100.255"), else what the message carries.
 */
void kk_nft_batch_locate(const struct kk_nft_batch *b, uint32_t seq,
    uint32_t off, char *buf, size_t len);
void kk_nft_batch_free(struct kk_nft_batch *b);
/* The first arena kept for the next batch, given back (kakurid idle). */
void kk_nft_batch_cache_drop(void);

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
/* A plain set with the elements e (sorted here). */
int kk_nft_canon_elems(const struct nftnl_set *s, struct kk_nft_elems *e,
    char *buf, size_t len);
/* An interval set: its attributes, element count and digest, not its elements. */
int kk_nft_canon_ipset(const struct nftnl_set *s, size_t nelems,
    const unsigned char digest[32], char *buf, size_t len);

/* nft.c: talking to the kernel */
struct kk_nft_memo;

/* What the tamper monitor read (kk_nft_monitor_drain). */
struct kk_nft_event {
	bool touched;		/* a foreign process changed a table of kakurid's names */
	bool foreign_commit;	/* a foreign process committed any nftables change */
	bool overrun;		/* events were lost: verify anyway */
	pid_t pid;		/* of the last foreign commit, 0 if unknown */
	char comm[32];
};

struct kk_nft {
	struct mnl_socket *nl;	/* every change goes through this socket: it owns the table */
	uint32_t portid;
	uint32_t seq;
	struct mnl_socket *mon;	/* nftables event monitor */
	uint32_t mon_portid;
	/*
	 * What the monitor could not see while it was out of the group for
	 * one of our batches (send.c): other processes' commits told by the
	 * generation alone, and whether that could not be told (a
	 * generation unread, a batch of unknown outcome, the group not
	 * rejoined: mon_out).  kk_nft_events_missed() takes them; on_missed,
	 * if set, is called as soon as there are commits (or held events,
	 * below).  commits_unseen counts all such commits since start.
	 */
	unsigned missed_commits;
	bool missed_unsure;
	bool mon_out;
	int mon_errno;		/* why the last rejoin failed */
	unsigned long commits_unseen;
	void (*on_missed)(void *arg);
	void *on_missed_arg;
	/*
	 * The generation up to which every commit's events reached the
	 * monitor: the last NEWGEN it read (kakurid's own too: a commit's
	 * NEWGEN comes after all its other events), or the one read as it
	 * joined the group, or the one read after a batch of ours.  And
	 * what it read as it left the group for a batch, held for the next
	 * kk_nft_monitor_drain (on_missed has it taken).
	 */
	uint32_t mon_gen;
	bool mon_gen_ok;
	struct kk_nft_event held;
	bool have_held;
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
	/*
	 * The last full match of the kernel's tables (readback.c): the
	 * ruleset generation it held for, and the digest of the canonical
	 * texts matched.  Socket buffers as sized for the largest batch.
	 */
	struct {
		bool valid;
		uint32_t gen;
		unsigned char digest[32];
	} verified;
	struct kk_nft_stats {
		unsigned long cheap;	/* settled by the generation alone */
		unsigned long full;	/* tables read back */
		unsigned long elem_dumps;	/* interval sets' elements read */
		unsigned long deferred;	/* checks whose element dumps waited */
		/* the last batch, sent to its last ack: the kernel's share */
		unsigned long long batch_usec;
	} stats;
	int sndbuf, rcvbuf;
	/*
	 * Set by the caller of a cheap check (the tamper monitor): when
	 * it would dump block lists' elements within defer_usec of the
	 * last dump (elem_dump_usec, CLOCK_MONOTONIC), everything else is
	 * checked now and it returns -EINPROGRESS: the caller checks again
	 * once defer_usec has passed.  0: never deferred.
	 */
	uint64_t defer_usec;
	uint64_t elem_dump_usec;
	struct kk_nft_memo *memo;	/* rules' canonical lines (memo.c) */
};

/* The strictest mode any inet table of kakurid's names records. */
struct kk_nft_table_info {
	bool exists;		/* some table of kakurid's names exists */
	bool has_mode;
	enum kk_mode mode;
	char episode[KK_EPISODE_HEX + 1];
};

struct kk_nft_counters {
	uint64_t pkts[KK_NFT_MAX_CHAINS];	/* input, output, forward + bridged; ingress, egress */
	uint64_t bytes[KK_NFT_MAX_CHAINS];
};

int kk_nft_open(struct kk_nft *n);
/*
 * Rules' canonical lines are remembered from one check to the next (a
 * handle that checks again and again: the daemon's; memo.c).  -ENOMEM,
 * and lines are printed every time.
 */
int kk_nft_remember_lines(struct kk_nft *n);
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
/*
 * Read back and compare with spec; -ESTALE when the kernel differs.  Reads
 * only what the ruleset generation and the owner flag do not settle (see
 * readback.c); kk_nft_verify_full reads every element.
 */
int kk_nft_verify(struct kk_nft *n, const struct kk_nft_spec *spec);
int kk_nft_verify_full(struct kk_nft *n, const struct kk_nft_spec *spec);
/* 1 when another process's owner table holds name (in any family), else 0. */
int kk_nft_name_held(struct kk_nft *n, const char *name);
/* The ruleset generation: it changes with every committed transaction. */
int kk_nft_genid(struct kk_nft *n, uint32_t *gen);
/* The same, n->err left as it was (a batch's own error, say); whether read. */
bool kk_nft_genid_kept(struct kk_nft *n, uint32_t *gen);
int kk_nft_counters(struct kk_nft *n, const char *name,
    struct kk_nft_counters *c);
/* A rule's comment ("" if none), in buf. */
const char *kk_nft_rule_comment(const struct nftnl_rule *r, char *buf,
    size_t len);
/* The counted drops of one block list (its named counter, LIST_drops). */
struct kk_nft_block_count {
	const char *list;	/* in: the list's name */
	uint64_t pkts, bytes;	/* out: since its rules went in */
};
int kk_nft_block_counters(struct kk_nft *n, const char *name,
    struct kk_nft_block_count *c, size_t nc);
/*
 * drill.c: a live drill's table (spec->drill, name KK_DRILL_TABLE),
 * committed alone and read back; the gate's element renewed for
 * gate_ms; the table gone.  None touches kakurid's other tables.
 */
int kk_nft_drill_apply(struct kk_nft *n, const struct kk_nft_spec *spec);
int kk_nft_drill_verify(struct kk_nft *n, const struct kk_nft_spec *spec);
int kk_nft_drill_refresh(struct kk_nft *n, uint64_t gate_ms);
int kk_nft_drill_remove(struct kk_nft *n);
/* 1 if the drill table exists, 0 if not, or a negative errno */
int kk_nft_drill_exists(struct kk_nft *n);

int kk_nft_monitor_open(struct kk_nft *n);
int kk_nft_monitor_fd(const struct kk_nft *n);
/* What the monitor read: held events first, then the socket's. */
int kk_nft_monitor_drain(struct kk_nft *n, struct kk_nft_event *ev);
/* The socket's alone, added to ev (send.c's, as it leaves the group). */
int kk_nft_monitor_read(struct kk_nft *n, struct kk_nft_event *ev);
/*
 * send.c: what the monitor missed while out of the group for our batches
 * (struct kk_nft), taken: the commits of other processes, and whether
 * more could not be told.  A monitor left out of the group by a failed
 * rejoin tries again here: deaf if it is still out (deaf_errno says
 * why), and deaf to every event until a later call rejoins.
 */
struct kk_nft_missed {
	unsigned commits;
	bool unsure;
	bool deaf;
	int deaf_errno;
};
void kk_nft_events_missed(struct kk_nft *n, struct kk_nft_missed *m);
/*
 * The pure count behind it: how many commits besides our batch's the
 * generation moved by from gen_before to gen_after (it skips 0 as it
 * wraps), given what became of the batch: committed (every message
 * acknowledged; the kernel skips one that changed nothing), refused (the
 * kernel answered an error: nothing was committed) or unknown (the
 * answers could not all be read: taken as committed if the generation
 * moved, and the caller is unsure).  -1 if it cannot be told: a
 * generation unread.
 */
enum kk_nft_outcome {
	KK_NFT_COMMITTED,
	KK_NFT_REFUSED,
	KK_NFT_UNKNOWN,
};
long kk_nft_commits_besides(bool gens_ok, uint32_t gen_before,
    uint32_t gen_after, enum kk_nft_outcome outcome);

#endif
