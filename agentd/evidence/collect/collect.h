/*
 * The volatile evidence collection (collect.c), one file per source:
 * what they share.  Internal to agentd/evidence/collect/.
 */
#ifndef KK_COLLECT_H
#define KK_COLLECT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>
#include <libmnl/libmnl.h>

#include "evidence.h"
#include "kakuri.h"

#define DEF_TIMEOUT_MS		KK_COLLECT_DEF_TIMEOUT_MS
#define DEF_MAX_BYTES		(64ULL << 20)
#define DEF_JOURNAL		1000
#define MAX_JOURNAL		100000

/* {"collected",...,"error"} around the items */
#define ENVELOPE_RESERVE	1024
/*
 * "exe_sha256": null becomes 64 hex digits, or "exe_hash_error" with a
 * reason of at most HASH_WHY_MAX bytes
 */
#define HASH_WHY_MAX		160
#define HASH_RESERVE		(HASH_WHY_MAX + 32)
#define OWNER_RESERVE		16	/* ,"pid":4194304 */

#define MAX_PROCS		65536
#define MAX_SOCKETS		100000
#define MAX_FDS			(1U << 20)	/* fd links read for owners */
#define MAX_OWNERS		262144		/* socket fds remembered */
#define MAX_OWNER_PIDS		16		/* "pids" of a shared socket */
#define MAX_NET_ITEMS		200000		/* links, routes, ... */
#define LINK_MAP_MAX		4096		/* index -> name map */
#define MAX_NL_READS		65536		/* receives per dump */
#define MAX_UTMP		4096
#define MAX_SESSIONS		4096
#define MAX_MODULES		65536
#define MAX_MOUNTS		65536
#define MAX_NFT_OBJECTS		100000
#define MAX_NFT_SETS		4096
#define MAX_NFT_ELEM_MSGS	1024		/* element messages per set */
#define MAX_OS_RELEASE		256
#define MAX_PACKAGES		262144
#define MAX_LINES		(1U << 22)

#define CMDLINE_MAX		4096
#define MESSAGE_MAX		2048
#define TEXT_LINE		8192		/* longest text line kept */
#define NFT_TEXT_MAX		65536
#define HASH_FILE_MAX		(256ULL << 20)
#define NL_BUFSZ		65536
#define NL_RECV_MAX_MS		5000		/* silent kernel: an error */

struct collector {
	int dirfd;
	uint64_t deadline;		/* CLOCK_MONOTONIC, ns */
	uint64_t max_bytes;
	uint64_t used;			/* bytes of artifacts written */
	unsigned journal_entries;
	const char *nft_text;
	enum kk_collect_part part;
	uint32_t seq;
	time_t btime;			/* boot time, for process start times */
	long hz;
};

/* One artifact being built. */
struct art {
	struct collector *c;
	const char *method;
	char collected[40];
	json_t *items;
	json_t *extra;			/* more envelope members: "note", ... */
	uint64_t bytes;			/* items serialized, commas, reserves */
	uint64_t cap;			/* what the items may take */
	uint64_t share;			/* what the whole artifact may take */
	size_t n;
	size_t max_items;
	bool started;
	bool cut;			/* size share or item bound reached */
	bool timeout;
	char why[96];			/* why cut */
	char error[400];		/* source failures, "; " separated */
};

/* What a netlink message carries, indexed by attribute type. */
#define ATTR_MAX	64
struct attrs {
	const struct nlattr *tb[ATTR_MAX];
};

/* util.c: the deadline, times, JSON members, files read without blocking */
uint64_t col_now_ns(void);
bool col_expired(const struct collector *c);
void col_rfc3339_usec(time_t sec, long usec, char *buf, size_t len);
void col_rfc3339_now(char *buf, size_t len);
void col_set_str(json_t *o, const char *key, const char *v);
void col_set_int(json_t *o, const char *key, long long v);
void col_set_bool(json_t *o, const char *key, bool v);
void col_set_name_or_num(json_t *o, const char *key, const char *name,
    unsigned v);
json_t *col_item_family(const char *key, const char *v, int family);
int col_open_regular(const char *path);
ssize_t col_read_small(int atfd, const char *path, char *buf, size_t size);
void col_chomp(char *s);
int col_read_line(FILE *f, char *buf, size_t size);
FILE *col_fopen_regular(const char *path, int *err);
bool col_parse_pid(const char *s, pid_t *pid);

/* collect.c: the artifact being built */
void col_art_error(struct art *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void col_art_note(struct art *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void col_art_cut(struct art *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
bool col_art_alive(struct art *b);
bool col_art_push(struct art *b, json_t *item, size_t reserve);
bool col_art_grow(struct art *b, size_t bytes);
bool col_art_line(struct art *b, FILE *f, char *buf, size_t size,
    unsigned *nlines, unsigned max, const char *what);

/*
 * A dump whose messages of type are one item each (col_nl_items_cb): the
 * member naming the item ("kind": "route"), with the header's "family"
 * or not, and fill, which adds what the message says and returns the
 * bytes the item may still grow by once pushed (its owner).
 */
struct col_nl_items {
	struct art *b;
	uint16_t type;
	size_t hdrlen;
	const char *key;
	const char *value;
	bool with_family;
	size_t (*fill)(json_t *o, const void *hdr, const struct attrs *t,
	    void *arg);
	void *arg;
};

/* netlink.c: dump requests and the attributes of their answers */
int col_nl_dump(struct collector *c, int proto, struct nlmsghdr *req,
    mnl_cb_t cb, void *data);
void col_nl_failed(struct art *b, const char *what, int err);
int col_attr_cb(const struct nlattr *a, void *data);
const void *col_nl_msg(const struct nlmsghdr *nlh, uint16_t type,
    size_t hdrlen, struct attrs *t);
int col_nl_items_cb(const struct nlmsghdr *nlh, void *data);
bool col_attr_u32(const struct nlattr *a, uint32_t *v);
json_t *col_attr_str(const struct nlattr *a);
const char *col_family_name(int family, char *buf, size_t len);
bool col_fmt_addr(int family, const void *p, size_t len, char *buf,
    size_t size);
void col_set_addr(json_t *o, const char *key, int family,
    const struct nlattr *a);
void col_set_prefix(json_t *o, const char *key, int family,
    const struct nlattr *a, unsigned plen);
void col_set_lladdr(json_t *o, const char *key, const struct nlattr *a);
struct nlmsghdr *col_rt_request(char *buf, uint16_t type, uint8_t family,
    size_t hdrlen);

/* the sources, most volatile first */
void collect_routes(struct collector *c, struct art *b);	/* net.c */
void collect_sockets(struct collector *c, struct art *b);	/* sockets.c */
void collect_processes(struct collector *c, struct art *b);	/* proc.c */
void collect_users(struct collector *c, struct art *b);	/* users.c */
void collect_kernel(struct collector *c, struct art *b);	/* sys.c */
/* sys.c: a line of /proc/modules, of mountinfo, as an item (NULL: short) */
json_t *col_module_item(char *line);
json_t *col_mount_item(char *line);
void collect_mounts(struct collector *c, struct art *b);	/* sys.c */
void collect_nftables(struct collector *c, struct art *b);	/* nft.c */
void collect_journal(struct collector *c, struct art *b);	/* journal.c */
void collect_os_release(struct collector *c, struct art *b);	/* sys.c */
void collect_packages(struct collector *c, struct art *b);	/* pkg.c */

#endif
