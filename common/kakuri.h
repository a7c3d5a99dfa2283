/*
 * kakuri - endpoint quarantine and first-response agent.
 *
 * Types and interfaces shared by kakurid (agentd/) and kakurictl (ctl/).
 *
 * Convention: every function that can fail returns 0 (or a non-negative
 * count) on success and a negative errno value on failure.  Modules do not
 * log; their callers do.
 */
#ifndef KAKURI_H
#define KAKURI_H

#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "sha256.h"

#define KAKURI_VERSION		"0.2.0"

/*
 * The protocol's words for an enum are listed once, as X(value, word): the
 * enum is made with KK_ENUM_VALUE and its names with KK_ENUM_WORD from
 * the same list, so no value can lose its word or take another's.
 */
#define KK_ENUM_VALUE(value, word)	value,
#define KK_ENUM_WORD(value, word)	[value] = word,
#define KK_TABLE_NAME		"kakuri"
#define KK_DEFAULT_POLICY	"/etc/kakuri/kakuri.conf"
#define KK_DEFAULT_STATE_DIR	"/var/lib/kakuri"

/* Limits: everything a peer or a policy can make us allocate is bounded. */
#define KK_FRAME_MAX		(1024 * 1024)	/* DESIGN 4: body <= 1 MiB */
/*
 * DESIGN 4: 24 MiB for authenticated peers (a CSIRT operator's mutual
 * TLS connection, root on the control socket): a block list of 100,000
 * entries and more.  Few such frames are held at once (netchild.c).
 */
#define KK_FRAME_AUTHED_MAX	(24 * 1024 * 1024)
/* root's control request: an apply of such an envelope, as a JSON string */
#define KK_CONTROL_ROOT_FRAME_MAX	(KK_FRAME_AUTHED_MAX + KK_FRAME_AUTHED_MAX / 8)
#define KK_MAX_ADDRS		64	/* management peers, DNS resolvers */
#define KK_MAX_PORTS		32	/* per port list */
#define KK_NAME_MAX		64	/* user and group names */
#define KK_TEXT_MAX		256	/* free text: reasons, contact lines */
#define KK_KEYID_HEX		64	/* a key's id: SHA-256 of the raw key, hex */
#define KK_EPISODE_HEX		32	/* 128-bit episode id, hex */
/*
 * The control socket (authz.c, control.c): connections in all, for users
 * outside staff_group together and each, for each staff member, and what
 * root keeps for itself; the time to send a request (1 s outside the
 * staff), then to take each part of the answer, and outside the staff the
 * whole answer; the size of a request.
 */
#define KK_CONTROL_MAX_CONN		64
#define KK_CONTROL_OTHER_MAX		16
#define KK_CONTROL_OTHER_PER_UID	4
#define KK_CONTROL_STAFF_MAX		40
#define KK_CONTROL_STAFF_PER_UID	8
#define KK_CONTROL_ROOT_RESERVED	8
#define KK_CONTROL_IDLE_USEC		(5ULL * 1000000ULL)
#define KK_CONTROL_OTHER_IDLE_USEC	(1ULL * 1000000ULL)
#define KK_CONTROL_REPLY_IDLE_USEC	(10ULL * 1000000ULL)
/*
 * An idle limit alone lets a slow reader of a long log stream hold his
 * slots for as long as he likes, and a few uids all of the slots outside
 * the staff (an employee's self-report is then refused as busy): outside
 * staff_group the whole answer has 30 s.  That is the most such a user
 * may count back, 10,000 lines (4 MB of 400-byte lines; 41 MB if each
 * were KK_AUDIT_LINE_MAX), at a modest 1.4 MB/s; kakurictl takes some
 * 20 MB/s.  Longer reads (all of a big log, -n 0) are the staff's, who
 * have slots of their own.
 */
#define KK_CONTROL_OTHER_ANSWER_USEC	(30ULL * 1000000ULL)
/*
 * Of the KK_CONTROL_OTHER_MAX slots, those a log stream may hold: a
 * stream lasts up to the bound above, and a few uids streaming would
 * otherwise hold every slot, for as long as they reconnect, and an
 * employee's report would be refused as busy.  The rest are for the
 * requests that are answered at once.
 */
#define KK_CONTROL_OTHER_STREAMS	8
#define KK_CONTROL_OTHER_FRAME_MAX	(64 * 1024)
/*
 * A self-report may carry KK_REPORT_ATTACH_MAX attachments of at most
 * KK_REPORT_ATTACH_BYTES each (kakurictl reads them as the reporter and
 * sends them base64, 4 bytes for 3), with text fields of some 40 KiB at
 * most.  Such a request is larger than what staff (1 MiB) and other users
 * (64 KiB) may send otherwise: kakurid reads one that announces more on
 * one of KK_CONTROL_BIG_MAX slots, one per user at a time (control.c), so
 * that what local users can make it hold while they send stays a few MiB.
 * KK_CONTROL_BIG_STAFF of them only members of staff_group take: users
 * outside it (malware under a few system accounts) cannot keep a staff
 * member's report, and its --disconnect, out.
 */
#define KK_REPORT_ATTACH_MAX		3
#define KK_REPORT_ATTACH_BYTES		(256 * 1024)
#define KK_CONTROL_REPORT_FRAME_MAX	(KK_REPORT_ATTACH_MAX * 4 *	\
	((KK_REPORT_ATTACH_BYTES + 2) / 3) + 128 * 1024)
#define KK_CONTROL_BIG_MAX		4
#define KK_CONTROL_BIG_STAFF		1
/*
 * Values and separators of a control request at most (kk_json_few_values):
 * a report with its attachments has under a hundred.
 */
#define KK_CONTROL_VALUES_MAX		4096
/* refusals are summarised, signed commands from one uid limited, per interval */
#define KK_REFUSAL_INTERVAL_USEC	(10ULL * 1000000ULL)
#define KK_APPLY_PER_INTERVAL		5
/* kakurictl log: lines by default, bytes per frame of the stream */
#define KK_LOG_DEFAULT_LINES		1000
/*
 * The most lines a user outside staff_group may count back from the end
 * (all of them, 0, or --since cost no counting): counting is read from
 * the end before the answer, in the root loop, so 10^9 of a 500 MiB log
 * held the staff's button for 0.4 s a request.
 */
#define KK_LOG_OTHER_LINES_MAX		10000
/*
 * A staff member's, as high as a log of the defaults' size (64 MiB) has
 * lines: malware running as a staff employee asking for 10^9 in a loop
 * held the loop 0.4 s a request, 20% of the time at the rate allowed.
 * Root counts back any number.
 */
#define KK_LOG_STAFF_LINES_MAX		250000
#define KK_LOG_FRAME			(64 * 1024)
/*
 * The latest "since" a log request may name: 9999-12-31T23:59:59Z, the
 * last second the audit log's timestamps can write.
 */
#define KK_LOG_SINCE_MAX		253402300799LL

enum kk_mode {
	KK_MODE_OPEN = 0,
	KK_MODE_EGRESS = 1,
	KK_MODE_ISOLATED = 2,
};

const char *kk_mode_name(enum kk_mode m);
int kk_mode_parse(const char *s, enum kk_mode *out);

/* DESIGN 7: what a report to the CSIRT collector tells of, its "type" */
#define KK_REPORT_TYPES(X)					\
	X(KK_REPORT_SELF, "self-report")			\
	X(KK_REPORT_DISCONNECT, "disconnect")			\
	X(KK_REPORT_ISOLATE, "isolate")				\
	X(KK_REPORT_RELEASE, "release")				\
	X(KK_REPORT_TAMPER, "tamper")				\
	X(KK_REPORT_EVIDENCE, "evidence")			\
	X(KK_REPORT_DRILL, "drill")				\
	X(KK_REPORT_BLOCKED, "blocked")				\
	X(KK_REPORT_USB, "usb")

enum kk_report_type {
	KK_REPORT_TYPES(KK_ENUM_VALUE)
	KK_REPORT__MAX
};

const char *kk_report_type_name(enum kk_report_type t);
/* 0 and *out if s (NULL too) is a report type's name; -EINVAL if not. */
int kk_report_type_parse(const char *s, enum kk_report_type *out);

struct kk_addr {
	int family;			/* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} a;
};

struct kk_portlist {
	uint16_t port[KK_MAX_PORTS];
	size_t n;
};

struct kk_addrlist {
	struct kk_addr addr[KK_MAX_ADDRS];
	size_t n;
};

/* "ADDR:PORT" endpoints: drill.probes */
#define KK_MAX_PROBES		16
struct kk_endpointlist {
	struct kk_endpoint {
		struct kk_addr addr;
		uint16_t port;
	} ep[KK_MAX_PROBES];
	size_t n;
};

#define KK_BROKER_SCHEME	"mqtts://"	/* fleet.broker: TLS only */
#define KK_MAX_GROUPS		16	/* fleet.groups entries */
#define KK_GROUP_NAME_MAX	64	/* a fleet group's name, bytes */
struct kk_grouplist {
	char name[KK_MAX_GROUPS][KK_GROUP_NAME_MAX + 1];
	size_t n;
};

#define KK_MAX_PROTECT		32	/* evidence.protect entries */
#define KK_PROTECT_PATH_MAX	256

struct kk_pathlist {
	char path[KK_MAX_PROTECT][KK_PROTECT_PATH_MAX];
	size_t n;
};

/* How the table is protected against other processes (policy nftables.protect). */
enum kk_protect {
	KK_PROTECT_AUTO = 0,	/* owner+persist flags if the kernel has them, monitor always */
	KK_PROTECT_MONITOR = 1,	/* no table flags: netlink monitor restores on tampering */
};

struct kk_policy {
	char path[PATH_MAX];		/* the file it was loaded from */

	/* agent { } */
	char state_dir[PATH_MAX];
	char control_socket[PATH_MAX];
	char staff_group[KK_NAME_MAX];
	enum kk_mode disconnect_mode;	/* KK_MODE_ISOLATED or KK_MODE_EGRESS */
	char user[KK_NAME_MAX];
	char listen[128];
	char key[PATH_MAX];
	char cert[PATH_MAX];
	char tls_key[PATH_MAX];		/* the network child's own TLS key ... */
	char tls_cert[PATH_MAX];	/* ... certified by key; beside it by default */
	char trust[PATH_MAX];

	/* tls { } */
	char client_ca[PATH_MAX];

	/* management { } */
	struct kk_addrlist peers;
	struct kk_portlist mgmt_ports;
	struct kk_addrlist dns;
	bool dhcp;
	bool ndp;
	struct kk_addrlist dhcp_servers;	/* DHCP servers reached by unicast while isolated */

	/* egress { } */
	struct kk_portlist mail_tcp;
	struct kk_portlist web_tcp;
	struct kk_portlist web_udp;

	/* blocklists { } (issue 12): the block lists' NFLOG rules */
	int block_log_group;		/* NFLOG group kakurid reads */
	int block_log_rate;		/* packets logged per block_log_unit; 0: none */
	int block_log_unit;		/* seconds: 1 or 60 */
	int block_report_interval;	/* seconds between "blocked" reports */

	/* report { } */
	char collector[128];		/* "ADDR:PORT"; "": no courier */
	char collector_id[KK_KEYID_HEX + 1];	/* pinned collector key, or ... */
	char report_ca[PATH_MAX];	/* ... a CA its certificate chains to */
	char report_location[KK_TEXT_MAX];	/* where this PC is, for reports */
	int report_max_mb;		/* MiB of outbox (tamper alerts: a reserve past it) */

	/* contact { }: shown to the employee after a disconnect */
	char contact_desk[KK_TEXT_MAX];
	char contact_phone[KK_TEXT_MAX];
	char contact_email[KK_TEXT_MAX];

	/* nftables { } */
	enum kk_protect protect;

	/* commands { } */
	int clock_skew;			/* seconds of clock difference tolerated */
	int max_lifetime;		/* longest exp - iat accepted */

	/* evidence { } */
	struct kk_pathlist protect_exe;	/* never frozen or snapshotted */
	int freeze_timeout;		/* seconds to wait for "frozen" */
	int collect_timeout;		/* seconds for a whole collect */
	int collect_max_mb;		/* MiB of collect output */
	int snapshot_timeout;		/* seconds a snapshot worker may run */

	/* drill { } (issue 11) */
	struct kk_endpointlist drill_probes;	/* must be unreachable while live */
	char drill_check[128];		/* the management endpoint a live drill
					   must still reach; "": report.collector */
	int drill_max_duration;		/* seconds a drill may last */
	int drill_gate;			/* seconds: the kernel lifts a hung drill */

	/* fleet { } (issue 13, DESIGN 9): the broker kakurid dials out to */
	char fleet_broker[128];		/* "ADDR:PORT" of "mqtts://ADDR:PORT"; "": none */
	char fleet_ca[PATH_MAX];	/* the CA the broker's certificate chains to */
	char fleet_cert[PATH_MAX];	/* agent.tls_key's certificate from that CA */
	struct kk_grouplist fleet_groups;	/* the groups this agent is in */

	/* audit { } */
	int audit_max_mb;		/* rotate audit.log past this */
	int audit_keep;			/* rotated files kept */

	/* usb { }: "deauthorize" (true) or "keep" USB storage while isolated */
	bool usb_storage_deauthorize;
};

/* The number of elements of an array (BSD's nitems). */
#ifndef nitems
#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
#endif

/* parse.c */
#define KK_POLICY_SKIP_OWNER_CHECK	0x1	/* unit tests on fixtures only */
void kk_policy_defaults(struct kk_policy *p);
/*
 * Load and validate a policy.  On failure returns a negative errno and
 * writes one line "FILE:LINE: message" (or "FILE: message") into err.
 */
int kk_policy_load(const char *path, unsigned flags, struct kk_policy *p,
    char *err, size_t errlen);
/* The same, and the bytes it took the policy from (the caller frees). */
int kk_policy_load_text(const char *path, unsigned flags, struct kk_policy *p,
    char *err, size_t errlen, char **text, size_t *len);

/* addr.c: IP literals and endpoints */
int kk_addr_parse(const char *s, struct kk_addr *out);
int kk_addr_format(const struct kk_addr *a, char *buf, size_t len);
/* "ADDR:PORT", ADDR an IPv4 literal or "[IPv6 literal]" */
int kk_endpoint_parse(const char *s, struct kk_addr *addr, uint16_t *port);
/*
 * A fleet group's name: 1-64 of [a-z0-9._-], starting with a letter or
 * digit, so that it is one MQTT topic level (no '/', '+', '#').  NULL
 * when valid, else why not.
 */
const char *kk_group_name_problem(const char *s);
/* CLOCK_MONOTONIC in milliseconds */
uint64_t kk_now_ms(void);
/* Why s is not an address kk_addr_parse takes, in words for a message. */
const char *kk_addr_problem(const char *s);
/* kk_endpoint_parse, but NULL when valid and otherwise why not. */
const char *kk_endpoint_problem(const char *s, struct kk_addr *addr,
    uint16_t *port);

/*
 * listen.c: a listening socket for "ADDR:PORT" (ADDR an IP literal, "[::]"
 * takes IPv4 too), non-blocking and close-on-exec.  err explains failures.
 */
int kk_tcp_listen(const char *addrport, int *fd, char *err, size_t errlen);
/* a peer's address as "ADDR:PORT" or "[ADDR]:PORT", for logs */
struct sockaddr_storage;
void kk_sockaddr_text(const struct sockaddr_storage *ss, char *buf,
    size_t len);
/*
 * Where a peer comes from, for limits per source: an IPv4 address (also
 * one that came over an IPv6 socket) or an IPv6 /64, what one host has.
 */
struct kk_source {
	uint8_t family;			/* 4 or 6; 0: neither */
	uint8_t a[8];
};
void kk_sockaddr_source(const struct sockaddr_storage *ss,
    struct kk_source *src);
bool kk_source_eq(const struct kk_source *a, const struct kk_source *b);

/* frame.c: 4-byte big-endian length + body, body 1..max bytes. */
struct kk_frame_reader {
	uint8_t hdr[4];
	size_t hdr_have;
	uint8_t *body;
	size_t body_len;
	size_t body_have;
	size_t max;
	/*
	 * A frame announcing more than max: read all the same if over
	 * (when set) returns 0 for its length, refused with over's negative
	 * errno otherwise (-EMSGSIZE without it).  Kept across frames.
	 */
	int (*over)(void *arg, size_t len);
	void *over_arg;
};
void kk_frame_reader_init(struct kk_frame_reader *r, size_t max);
void kk_frame_reader_reset(struct kk_frame_reader *r);
/* Has a frame begun that is not whole yet? */
bool kk_frame_partial(const struct kk_frame_reader *r);
/*
 * Feed bytes.  Returns 1 when a frame is complete (take it with
 * kk_frame_take), 0 when more bytes are needed, -EMSGSIZE for a length
 * over the limit (or the over hook's error), -EBADMSG for a zero length.
 * *used tells how many bytes of data were consumed.
 */
int kk_frame_feed(struct kk_frame_reader *r, const uint8_t *data, size_t len,
    size_t *used);
/* Hands the completed body to the caller (who frees it) and resets. */
uint8_t *kk_frame_take(struct kk_frame_reader *r, size_t *len);
/*
 * Feeds buf from *off to have, a read buffer that may hold more than one
 * frame: 1 with the completed body taken (*body, *len; caller frees) and
 * *off just past it, so what follows stays for the next call; 0 with
 * *off == have when more bytes are needed; or kk_frame_feed's negative
 * errno.
 */
int kk_frame_next(struct kk_frame_reader *r, const uint8_t *buf, size_t have,
    size_t *off, uint8_t **body, size_t *len);
/*
 * Feeds len bytes of data and hands each frame they complete to
 * fn(arg, body, body_len), which owns body.  Stops after a frame for which
 * fn returns nonzero, and returns that; returns kk_frame_feed's negative
 * errno when the framing breaks, else 0.  *used (if not NULL) gets the
 * bytes consumed.
 */
int kk_frame_feed_each(struct kk_frame_reader *r, const uint8_t *data,
    size_t len, size_t *used, int (*fn)(void *arg, uint8_t *body, size_t len),
    void *arg);
int kk_frame_header(uint8_t hdr[4], size_t len, size_t max);
int kk_frame_write(int fd, const void *body, size_t len);
/* the same with a larger limit (the reader decides what it takes) */
int kk_frame_write_max(int fd, const void *body, size_t len, size_t max);
/*
 * Whether a frame's body is a chunk request ({"chunk":{...}}, DESIGN 4)
 * rather than a signed envelope: it only routes (the network child tells
 * the two apart for the parent), the parent checks the request itself.
 */
bool kk_frame_is_chunk(const uint8_t *body, size_t len);
int kk_frame_read(int fd, uint8_t **body, size_t *len, size_t max,
    int timeout_ms);

/* authz.c: who may do what on the local control socket (DESIGN 3). */
#define KK_OPS(X)						\
	X(KK_OP_STATUS, "status")				\
	X(KK_OP_LOG, "log")					\
	X(KK_OP_DISCONNECT, "disconnect")			\
	X(KK_OP_REPORT, "report")				\
	X(KK_OP_RELEASE, "release")				\
	X(KK_OP_UNBLOCK, "unblock")				\
	X(KK_OP_THAW, "thaw")					\
	X(KK_OP_DRILL, "drill")					\
	X(KK_OP_APPLY, "apply")					\
	X(KK_OP_OUTBOX, "outbox")				\
	X(KK_OP_DRILL_HISTORY, "drill-history")			\
	X(KK_OP_DRILL_EVENT, "drill-event")			\
	X(KK_OP_WATCH, "watch")					\
	X(KK_OP_BLOCK, "block")

enum kk_op {
	KK_OPS(KK_ENUM_VALUE)
	KK_OP__MAX,
};
struct kk_cred {
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t ngroups;
};
int kk_op_parse(const char *name, enum kk_op *out);
const char *kk_op_name(enum kk_op op);
bool kk_cred_is_staff(const struct kk_cred *c, bool staff_known,
    gid_t staff_gid);
enum kk_peer_class {
	KK_PEER_ROOT,
	KK_PEER_STAFF,
	KK_PEER_OTHER,
	KK_PEER__MAX,
};
enum kk_peer_class kk_peer_class(const struct kk_cred *c, bool staff_known,
    gid_t staff_gid);
/*
 * Whether one more connection of class cls may be accepted, given what is
 * open: 0, -EUSERS (its uid's quota is used) or -EBUSY (its class's).
 */
int kk_control_admit(enum kk_peer_class cls, unsigned uid_open,
    const unsigned class_open[KK_PEER__MAX], unsigned total_open);
uint64_t kk_control_deadline(enum kk_peer_class cls);
/* usec to send the whole answer, stream included; 0: no bound but idle */
uint64_t kk_control_answer_max(enum kk_peer_class cls);
size_t kk_control_frame_max(enum kk_peer_class cls);

/* state.c: the persisted quarantine state (state.json). */
struct kk_state {
	enum kk_mode mode;
	char episode[KK_EPISODE_HEX + 1];	/* "" while open */
	time_t since;
	char by[KK_TEXT_MAX];
	char reason[KK_TEXT_MAX];
	bool drill;
};
int kk_state_load(const char *path, struct kk_state *s);
int kk_state_save(const char *path, const struct kk_state *s);
int kk_episode_new(char out[KK_EPISODE_HEX + 1]);
int kk_state_set_aside(const char *path, time_t now, char *kept,
    size_t keptlen);
/* temp file, fsync, rename, fsync of the directory; never the reserve */
int kk_write_file_atomic(const char *path, const void *data, size_t len,
    mode_t mode);
/* the same for a write that must not fail: it may take the reserve */
int kk_write_file_vital(const char *path, const void *data, size_t len,
    mode_t mode);
/* fsync of the directory path is in (after a rename or a create there) */
int kk_fsync_dir_of(const char *path);
/*
 * Disk space kept for the writes that must not fail: kk_write_file_vital
 * and kk_replay_record give the reserve file back and try again once when
 * they hit ENOSPC.  kk_reserve_init registers (and makes) it; without it
 * they behave as before.
 */
#define KK_RESERVE_BYTES	(2 * 1024 * 1024)
int kk_reserve_init(const char *path, off_t size);
int kk_reserve_ensure(void);
int kk_reserve_release(void);

/*
 * audit.c: append-only, hash-chained timeline.  Lines are capped (text
 * fields cut on character boundaries); past max_bytes the file is rotated
 * (PATH -> PATH.1 -> ... PATH.keep) and the chain goes on in the new file
 * from the last hash of the previous one.
 */
#define KK_AUDIT_LINE_MAX	4096	/* bytes of one line, newline excluded */
#define KK_AUDIT_FIELD_MAX	512	/* bytes of one text field before escaping */
#define KK_AUDIT_KEEP_MAX	16	/* rotated files kept, at most */
struct kk_audit {
	int fd;
	unsigned char last[32];		/* SHA-256 of the last line */
	unsigned long lines;
	off_t size;			/* of the current file */
	uint64_t max_bytes;		/* rotate beyond this; 0: never */
	unsigned keep;			/* PATH.1 .. PATH.keep */
	bool readonly;			/* its volume is: read, not written */
	char path[PATH_MAX];
};
#define KK_AUDIT_GENESIS \
	"0000000000000000000000000000000000000000000000000000000000000000"
/* On a read-only volume: 0, a->readonly, read and never appended (-EROFS). */
int kk_audit_open(struct kk_audit *a, const char *path);
void kk_audit_close(struct kk_audit *a);
void kk_audit_set_limits(struct kk_audit *a, uint64_t max_bytes,
    unsigned keep);
/*
 * Appends one event; extra (may be NULL, not consumed) is a JSON object
 * merged in.  Strings are cleaned (kk_text_clean) and cut to
 * KK_AUDIT_FIELD_MAX bytes; a line still over KK_AUDIT_LINE_MAX loses its
 * extra fields ("cut": true).  A failed write leaves the file as it was.
 */
struct json_t;
int kk_audit_append(struct kk_audit *a, const char *actor, const char *action,
    const char *result, const char *episode, struct json_t *extra);
/*
 * Verifies a chain held in memory (lines separated by '\n').  first_prev is
 * the expected "prev" of the first line (KK_AUDIT_GENESIS for a whole log).
 * Returns 0, or -EBADMSG with *bad set to the 1-based number of the first
 * line whose "prev" does not match (or that does not parse).
 */
int kk_audit_verify(const char *buf, size_t len, const char *first_prev,
    size_t *bad);
/* The same, one line at a time (a stream): 0 or -EBADMSG for this line. */
struct kk_audit_chain {
	char expect[65];
};
void kk_audit_chain_init(struct kk_audit_chain *c, const char *first_prev);
int kk_audit_chain_line(struct kk_audit_chain *c, const char *line,
    size_t len);

/*
 * The tail of the timeline, read from the end in bounded chunks across
 * the rotated files: the last max_lines lines (0: no limit) not older than
 * since (0: no limit).  Memory does not depend on the size of the log.
 * first_prev anchors the first line: the hash of the line before it, or
 * KK_AUDIT_GENESIS at the very beginning; when older files were rotated
 * away, the first line's own "prev" (anchor "rotated").  head is the hash
 * of the last line, as the writer holds it.
 */
struct kk_audit_tail {
	int fd[KK_AUDIT_KEEP_MAX + 1];	/* oldest first */
	off_t pos[KK_AUDIT_KEEP_MAX + 1];
	off_t end[KK_AUDIT_KEEP_MAX + 1];
	size_t nfiles;
	size_t cur;
	uint64_t bytes;			/* in all */
	char first_prev[65];
	char head[65];
	const char *anchor;		/* "genesis", "line" or "rotated" */
	unsigned long long first_seq;	/* 0: not known */
	bool truncated;			/* older lines were left out */
};
int kk_audit_tail_open(const struct kk_audit *a, unsigned long max_lines,
    time_t since, struct kk_audit_tail *t);
/* Up to len bytes of the tail; 0 at its end. */
ssize_t kk_audit_tail_read(struct kk_audit_tail *t, void *buf, size_t len);
void kk_audit_tail_close(struct kk_audit_tail *t);

/*
 * Refusals (a request that was not allowed, not understood, or not even
 * accepted) counted per uid and interval: the first few of each uid are
 * recorded one by one, the rest only counted, and the interval ends in one
 * summary.  So a flood costs a bounded number of lines per uid.
 */
#define KK_REFUSAL_UIDS		32	/* uids counted one by one */
#define KK_REFUSAL_UIDS_KEPT	4	/* ... of them kept for root and staff */
#define KK_REFUSAL_REASONS	8	/* reason words per uid */
#define KK_REFUSAL_DETAILED	3	/* recorded in full, per uid and interval */
/*
 * ... and of all the uids outside staff_group together: a user with a
 * range of subordinate uids (thousands) would otherwise write
 * KK_REFUSAL_UIDS times as many.
 */
#define KK_REFUSAL_DETAILED_ALL	12
struct kk_refusal_uid {
	uid_t uid;
	unsigned long count;
	unsigned long detailed;
	const char *reason[KK_REFUSAL_REASONS];	/* static strings */
	unsigned long by_reason[KK_REFUSAL_REASONS];
};
struct kk_refusals {
	struct kk_refusal_uid u[KK_REFUSAL_UIDS];
	size_t n;
	unsigned long other_uids;	/* refusals of uids past the table */
	unsigned long total;
	unsigned long suppressed;	/* counted, not recorded in full */
	unsigned long detailed;		/* recorded in full, all uids */
};
void kk_refusals_init(struct kk_refusals *r);
/*
 * Counts one; true when this one should be recorded in full.  shared:
 * it draws on the budget of all uids too (users outside staff_group;
 * root's and staff's refusals keep theirs, a flood does not hide them).
 */
bool kk_refusals_note(struct kk_refusals *r, uid_t uid, const char *reason,
    bool shared);
/*
 * The interval's summary ({"refused": N, "not_recorded": M, "uids":
 * [{"uid", "count", "reasons": {...}}...]}) and a fresh interval; NULL
 * when nothing went unrecorded (every refusal has its own line).
 */
struct json_t *kk_refusals_summary(struct kk_refusals *r);
/*
 * The interval after one of cur microseconds: while intervals end with
 * refusals only counted (flooded), each is twice as long as the one
 * before, up to KK_REFUSAL_INTERVAL_MAX_USEC; a quiet one starts again at
 * KK_REFUSAL_INTERVAL_USEC.  So a flood kept up for days writes a few
 * lines every ten minutes, and cannot rotate the history out of the log.
 */
#define KK_REFUSAL_INTERVAL_MAX_USEC	(600ULL * 1000000ULL)
uint64_t kk_refusal_interval_next(uint64_t cur, bool flooded);

/* util.c: the small helpers both programs use, each written once */
/*
 * -1, 0 or 1 as a is below, equal to or above b: a qsort comparator's
 * answer, chained with ?: for more keys than one.
 */
#define KK_CMP(a, b)	(((a) > (b)) - ((a) < (b)))
/* A table of names indexed by an enum: the index of name, or -1. */
int kk_name_find(const char *const names[], size_t n, const char *name);
/* names[i], or "unknown" past the end of the table or for a hole in it. */
const char *kk_name_at(const char *const names[], size_t n, unsigned i);
/*
 * The \ooo escapes of /proc/self/mountinfo (\040 a space, \011 a tab,
 * \012 a newline, \134 a backslash) undone in place.
 */
void kk_unescape_octal(char *s);
/* in as lowercase hex into out (2 * len + 1 bytes, NUL-terminated) */
void kk_hex(const void *in, size_t len, char *out);
/* whether s (len bytes) is exactly n lowercase hex digits */
bool kk_is_hex(const char *s, size_t len, size_t n);
void kk_sha256_hex(const void *data, size_t len, char out[65]);
/* SHA-256 of len bytes of fd from off, in bounded chunks. */
int kk_sha256_hex_range(int fd, off_t off, off_t len, char out[65]);
/*
 * SHA-256 of what is left to read of fd, lowercase hex: -EFBIG past max
 * bytes, -ETIMEDOUT once CLOCK_MONOTONIC passes deadline_ns (0: none).
 */
int kk_fd_sha256(int fd, uint64_t max, uint64_t deadline_ns, char out[65]);
/*
 * The same without a deadline, with seen shown each chunk as it is
 * hashed (arg passed on): what is hashed is read only once.
 */
int kk_fd_sha256_each(int fd, uint64_t max,
    void (*seen)(const void *, size_t, void *), void *arg, char out[65]);
/* CLOCK_MONOTONIC in nanoseconds: the clock of every deadline_ns */
uint64_t kk_mono_ns(void);
/* CLOCK_MONOTONIC in milliseconds, signed for deadline arithmetic */
long long kk_mono_ms(void);
/*
 * Closes fd if it is open (>= 0), errno kept as it was, and returns -1:
 * `fd = kk_close(fd);` in a cleanup path leaves no number to close twice.
 * Only close(2) is called, so it may be used after fork and in a signal
 * handler.
 */
int kk_close(int fd);
/*
 * One process at a time on a directory: a POSIX write lock on dir/name
 * (made 0600 if missing; the pid written in it is for people).  The open
 * fd (O_CLOEXEC) holds it until this process ends: a process's record
 * locks are not inherited by fork, so a worker that outlives its parent
 * (held by the kernel) never keeps the next one out.  Returns the fd,
 * -EBUSY with the holder's pid in *holder (0 if it is in another pid
 * namespace) while another process holds it, or another -errno: a file
 * that cannot be made (a read-only disk) is the caller's to weigh.
 */
int kk_dir_lock(const char *dir, const char *name, pid_t *holder);
/* All of buf to fd, across short writes and EINTR (a write of 0 is -EIO). */
int kk_write_all(int fd, const void *buf, size_t len);
/* The same at offset off (>= 0, else -EINVAL) of fd, its position unmoved. */
int kk_pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* Up to len bytes of fd, fewer only at end of file: how many, or -errno. */
ssize_t kk_read_upto(int fd, void *buf, size_t len);
/*
 * One datagram of netlink socket fd that the kernel sent (nl_pid 0), with
 * recvmsg flags: its length, or a negative errno; -ENOMSG when max others
 * came and were passed over (*passed counts them if not NULL), so that a
 * caller with a deadline looks at it again.  Root may send to any netlink
 * socket: its forged replies or events must not be taken for the kernel's.
 */
ssize_t kk_nl_recv_from_kernel(int fd, void *buf, size_t len, int flags,
    unsigned max, unsigned long *passed);
/*
 * The size of fd if it is a regular file of at most max bytes: 0,
 * -EINVAL (not a regular file), -EFBIG or fstat's error.
 */
int kk_fd_regular(int fd, uint64_t max, size_t *size);
/*
 * A whole regular file of at most max bytes in memory, NUL-terminated
 * (caller frees): 0, -EINVAL (not a regular file), -EFBIG (larger than
 * max) or another negative errno.  kk_read_file opens path without
 * blocking on a FIFO.
 */
int kk_read_fd(int fd, size_t max, char **out, size_t *len);
int kk_read_file(const char *path, size_t max, char **out, size_t *len);
/*
 * An evidence id (an incident or command id naming a folder of the
 * store): 1-KK_EVIDENCE_ID_MAX of [A-Za-z0-9._-], not "." or "..".
 */
#define KK_EVIDENCE_ID_MAX	64
bool kk_evidence_id_ok(const char *id);

/* util.c */
int kk_rfc3339(time_t t, char *buf, size_t len);
/*
 * Text at a boundary: strict UTF-8 without NUL or control characters.
 * kk_text_check returns 0, -EILSEQ (not UTF-8) or -EINVAL (a control
 * character), with the offset of the first bad byte in *bad (may be NULL);
 * kk_text_problem words such an error for a message ("is not valid UTF-8").
 */
int kk_text_check(const char *s, size_t len, size_t *bad);
const char *kk_text_problem(int err);
/* The longest prefix of s, at most max bytes, that ends on a character boundary. */
size_t kk_text_cut(const char *s, size_t len, size_t max);
/*
 * Checks s and copies it into dst (size bytes, NUL included), cut on a
 * character boundary.  0, 1 when it was cut, or kk_text_check's error (dst
 * is then "").
 */
int kk_text_copy(char *dst, size_t size, const char *s, size_t len);
/*
 * For recording what others sent (audit, journal): copies s into dst with
 * every invalid byte and control character replaced by U+FFFD, cut on a
 * character boundary; returns the length written.  Never fails.
 */
size_t kk_text_clean(char *dst, size_t size, const char *s, size_t len);
/*
 * For a name that must read as what it is (an agent's hostname): copies
 * s into dst with every byte that is not printable ASCII, space and
 * backslash included, written as \xHH, so that "pc-001" in fullwidth
 * letters or with a zero-width space does not pass for "pc-001".  Cut
 * before an escape that does not fit; returns the length written.
 */
size_t kk_text_ascii(char *dst, size_t size, const char *s, size_t len);
/*
 * A refusal's reason for a receipt or the audit log: formatted into why
 * (whylen bytes; nothing when why is NULL), every byte that is not
 * printable ASCII made '?'.
 */
void kk_explain(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
