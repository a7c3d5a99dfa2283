/*
 * Volatile evidence (DESIGN 7): what the machine looks like right now,
 * one JSON artifact per source under "collect/", most volatile first.
 *
 * Order.  RFC 3227 section 2.1 lists, most volatile first: registers and
 * cache; routing table, ARP cache, process table, kernel statistics,
 * memory; temporary file systems; disk; remote logging and monitoring
 * data; physical configuration and network topology; archival media.
 * Registers and memory are core.c's and lime.c's business.  Here:
 *
 *   01-routes.json	routing table and ARP/neighbour cache (the RFC's
 *			first two; neighbour entries age out in seconds), with
 *			the links and addresses the routes refer to
 *   02-sockets.json	connection state, TCP/UDP/UNIX with their owners:
 *			changes with every connect and close, and names the
 *			processes that the process table then describes
 *   03-processes.json	process table
 *   04-users.json	logged-in users (sessions, gone when their processes go)
 *   05-kernel.json	kernel statistics: uname, modules, taint, boot id,
 *			uptime
 *   06-mounts.json	mount table, temporary file systems included
 *   07-nftables.json	packet filter ruleset: kernel state, but it changes
 *			only by administration
 *   08-journal.json	logging data, already written down by journald
 *   09-os-release.json	configuration on disk
 *   10-packages.json	installed software (dpkg), the least volatile
 *
 * Every artifact is one document
 *	{"collected": RFC 3339 time, "source": method, "items": [...],
 *	 "truncated": bool, "error": "..." (if any), "note": "..." (if any)}
 * written with kk_artifact_write_json, which hashes it on the way.
 *
 * Bounds.  Time: one deadline for the whole collection, checked between
 * artifacts, before every item and before every blocking read (netlink
 * receive timeouts follow it).  An artifact the deadline cuts keeps its
 * items and says "truncated": true, "error": "timeout after N items";
 * one that was not reached is still written, empty, with "error":
 * "timeout: not collected", so that the manifest lists every source and
 * says which are missing.  Executable hashing may use at most half of the
 * time left when it starts, so a few huge binaries cannot starve the
 * artifacts after the process table.  Size: max_bytes for all artifacts
 * together.  An artifact may use what is left, minus a floor of
 * max_bytes / 20 kept for each artifact still to come; items beyond its
 * share are dropped ("truncated": true).  The envelope around the items
 * (under 1 KiB) is always written, so the total stays below max_bytes
 * plus 1 KiB per artifact.  Every loop has a count bound as well.
 *
 * Failures of one source do not stop the others: the artifact says what
 * failed ("error") and is marked incomplete.  Only failing to write an
 * artifact is a hard error.
 *
 * Read-only: nothing is written outside dirfd.  The kernel is asked with
 * netlink dump requests, files are opened O_RDONLY | O_NONBLOCK and must
 * be regular (a FIFO planted as /etc/os-release must not hang us).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <utmpx.h>

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/gen.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <systemd/sd-journal.h>
#include <systemd/sd-login.h>

#include "evidence.h"
#include "kakuri.h"

#define DEF_TIMEOUT_MS		30000
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

struct source {
	const char *rel;
	const char *method;
	size_t max_items;
	void (*fn)(struct collector *, struct art *);
};

/* ---- small helpers -------------------------------------------------- */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static bool
expired(const struct collector *c)
{
	return now_ns() >= c->deadline;
}

/* RFC 3339, UTC, with the fraction of a second given in usec */
static void
rfc3339_usec(time_t sec, long usec, char *buf, size_t len)
{
	struct tm tm;
	char base[32];

	if (gmtime_r(&sec, &tm) == NULL ||
	    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(buf, len, "%lld", (long long)sec);
		return;
	}
	snprintf(buf, len, "%s.%06ldZ", base, usec);
}

static void
rfc3339_now(char *buf, size_t len)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	rfc3339_usec(ts.tv_sec, ts.tv_nsec / 1000, buf, len);
}

/*
 * What the machine holds is not always UTF-8 (file names, command lines,
 * log messages): kk_json_strn (artifact.c) writes such bytes as \xHH so
 * that nothing is lost and the document stays valid.
 */
/* jansson's *_set_new take ownership and tolerate NULL values */
static void
set_str(json_t *o, const char *key, const char *v)
{
	json_object_set_new(o, key, kk_json_str(v));
}

static void
set_int(json_t *o, const char *key, long long v)
{
	json_object_set_new(o, key, json_integer(v));
}

static void
set_bool(json_t *o, const char *key, bool v)
{
	json_object_set_new(o, key, json_boolean(v));
}

/*
 * Opens a file to read: regular files only, without blocking on open (a
 * FIFO in place of a file must not hang the collection).
 */
static int
open_regular(const char *path)
{
	struct stat st;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

/* At most size - 1 bytes of a procfs file, NUL-terminated: length or -errno. */
static ssize_t
read_small(int atfd, const char *path, char *buf, size_t size)
{
	size_t total = 0;
	ssize_t n;
	int fd;

	fd = openat(atfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	while (total < size - 1) {
		n = read(fd, buf + total, size - 1 - total);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			n = -errno;
			close(fd);
			buf[0] = '\0';
			return n;
		}
		if (n == 0)
			break;
		total += (size_t)n;
	}
	close(fd);
	buf[total] = '\0';
	return (ssize_t)total;
}

static void
chomp(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
}

/*
 * One line into buf (newline removed); a longer line is cut and the rest
 * skipped, so that no line can make us allocate.  1, 0 at the end.
 */
static int
read_line(FILE *f, char *buf, size_t size)
{
	size_t n;
	int ch;

	if (fgets(buf, (int)size, f) == NULL)
		return 0;
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\n') {
		buf[n - 1] = '\0';
		return 1;
	}
	while ((ch = getc(f)) != EOF && ch != '\n')
		;
	return 1;
}

static FILE *
fopen_regular(const char *path, int *err)
{
	FILE *f;
	int fd;

	if ((fd = open_regular(path)) < 0) {
		*err = fd;
		return NULL;
	}
	if ((f = fdopen(fd, "r")) == NULL) {
		*err = -errno;
		close(fd);
		return NULL;
	}
	*err = 0;
	return f;
}

static bool
parse_pid(const char *s, pid_t *pid)
{
	char *end;
	long v;

	if (*s < '1' || *s > '9')
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end != '\0' || errno != 0 || v <= 0 || v > INT_MAX)
		return false;
	*pid = (pid_t)v;
	return true;
}

/* ---- the artifact being built --------------------------------------- */

static void art_error(struct art *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void art_note(struct art *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void art_cut(struct art *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
art_error(struct art *b, const char *fmt, ...)
{
	size_t len = strlen(b->error);
	va_list ap;

	if (len + 3 >= sizeof(b->error))
		return;
	if (len > 0) {
		memcpy(b->error + len, "; ", 3);
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(b->error + len, sizeof(b->error) - len, fmt, ap);
	va_end(ap);
}

/* Not an error: something the reader should know (the first one only). */
static void
art_note(struct art *b, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	if (json_object_get(b->extra, "note") != NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_object_set_new(b->extra, "note", kk_json_str(buf));
}

static void
art_cut(struct art *b, const char *fmt, ...)
{
	va_list ap;

	if (b->cut)
		return;
	b->cut = true;
	va_start(ap, fmt);
	vsnprintf(b->why, sizeof(b->why), fmt, ap);
	va_end(ap);
}

/* Whether more items may be added; notices the deadline. */
static bool
art_alive(struct art *b)
{
	if (b->cut || b->timeout)
		return false;
	if (expired(b->c)) {
		b->timeout = true;
		return false;
	}
	return true;
}

/*
 * Appends item (taking it) if it fits the artifact's share with reserve
 * bytes more for what is added to it later.  False when it did not: the
 * caller stops.
 */
static bool
art_push(struct art *b, json_t *item, size_t reserve)
{
	size_t len;

	if (item == NULL) {
		art_error(b, "out of memory");
		return false;
	}
	if (!art_alive(b))
		goto drop;
	if (b->n >= b->max_items) {
		art_cut(b, "at most %zu items", b->max_items);
		goto drop;
	}
	/* the size this item adds to the document, the comma included */
	len = json_dumpb(item, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER |
	    JSON_ENCODE_ANY);
	if (len == 0) {
		art_error(b, "unserializable item");
		goto drop;
	}
	len += 1 + reserve;
	if (b->bytes + len > b->cap) {
		art_cut(b, "size share of %llu bytes",
		    (unsigned long long)b->share);
		goto drop;
	}
	if (json_array_append_new(b->items, item) < 0) {
		art_error(b, "out of memory");
		return false;
	}
	b->bytes += len;
	b->n++;
	return true;
drop:
	json_decref(item);
	return false;
}

/* Room for bytes more, added to items already pushed (not reserved). */
static bool
art_grow(struct art *b, size_t bytes)
{
	if (b->bytes + bytes > b->cap)
		return false;
	b->bytes += bytes;
	return true;
}

/* ---- netlink ---------------------------------------------------------- */

/* A receive never waits beyond the deadline (nor, at all, very long). */
static int
nl_rcvtimeo(struct collector *c, struct mnl_socket *nl)
{
	struct timeval tv;
	uint64_t now = now_ns(), ms;

	if (now >= c->deadline)
		return -ETIMEDOUT;
	ms = (c->deadline - now + 999999) / 1000000;
	if (ms > NL_RECV_MAX_MS)
		ms = NL_RECV_MAX_MS;
	if (ms == 0)
		ms = 1;		/* 0 would mean "forever" */
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv)) < 0)
		return -errno;
	return 0;
}

/*
 * One request on a fresh socket, every reply message to cb, until the
 * kernel says done (or acks).  A callback that wants no more returns
 * MNL_CB_STOP and the rest is dropped with the socket.
 */
static int
nl_dump(struct collector *c, int proto, struct nlmsghdr *req, mnl_cb_t cb,
    void *data)
{
	struct mnl_socket *nl;
	char *buf = NULL;
	unsigned int portid;
	uint32_t seq;
	ssize_t len;
	unsigned i;
	int ret, err = 0;

	nl = mnl_socket_open2(proto, SOCK_CLOEXEC);
	if (nl == NULL)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	seq = req->nlmsg_seq = ++c->seq;
	if ((buf = malloc(NL_BUFSZ)) == NULL) {
		err = -ENOMEM;
		goto out;
	}
	if (mnl_socket_sendto(nl, req, req->nlmsg_len) < 0) {
		err = -errno;
		goto out;
	}
	for (i = 0; i < MAX_NL_READS; i++) {
		if ((err = nl_rcvtimeo(c, nl)) < 0)
			goto out;
		len = mnl_socket_recvfrom(nl, buf, NL_BUFSZ);
		if (len < 0) {
			err = errno == EAGAIN || errno == EWOULDBLOCK ?
			    -ETIMEDOUT : -errno;
			goto out;
		}
		errno = 0;
		ret = mnl_cb_run(buf, (size_t)len, seq, portid, cb, data);
		if (ret < 0) {
			err = errno > 0 ? -errno : -EPROTO;
			goto out;
		}
		if (ret == MNL_CB_STOP)
			goto out;
	}
	err = -E2BIG;
out:
	free(buf);
	mnl_socket_close(nl);
	return err;
}

/* Records a failed dump: the deadline is a timeout, anything else an error. */
static void
nl_failed(struct art *b, const char *what, int err)
{
	if (err == -ETIMEDOUT && expired(b->c))
		b->timeout = true;
	else
		art_error(b, "%s: %s", what, strerror(-err));
}

/* What a netlink message carries, indexed by attribute type. */
#define ATTR_MAX	64
struct attrs {
	const struct nlattr *tb[ATTR_MAX];
};

static int
attr_cb(const struct nlattr *a, void *data)
{
	struct attrs *t = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type < ATTR_MAX)
		t->tb[type] = a;
	return MNL_CB_OK;
}

static bool
attr_u32(const struct nlattr *a, uint32_t *v)
{
	if (a == NULL || mnl_attr_get_payload_len(a) < sizeof(uint32_t))
		return false;
	*v = mnl_attr_get_u32(a);
	return true;
}

/* "name" of a string attribute, bounded by its payload */
static json_t *
attr_str(const struct nlattr *a)
{
	const char *p = mnl_attr_get_payload(a);
	size_t n = mnl_attr_get_payload_len(a);

	return kk_json_strn(p, strnlen(p, n));
}

static const char *
family_name(int family, char *buf, size_t len)
{
	switch (family) {
	case AF_INET:
		return "inet";
	case AF_INET6:
		return "inet6";
	case AF_UNIX:
		return "unix";
	default:
		snprintf(buf, len, "%d", family);
		return buf;
	}
}

/* An address of family from len bytes; false if it does not fit. */
static bool
fmt_addr(int family, const void *p, size_t len, char *buf, size_t size)
{
	if (family == AF_INET && len >= 4)
		return inet_ntop(AF_INET, p, buf, (socklen_t)size) != NULL;
	if (family == AF_INET6 && len >= 16)
		return inet_ntop(AF_INET6, p, buf, (socklen_t)size) != NULL;
	return false;
}

static void
set_addr(json_t *o, const char *key, int family, const struct nlattr *a)
{
	char buf[INET6_ADDRSTRLEN];

	if (a != NULL && fmt_addr(family, mnl_attr_get_payload(a),
	    mnl_attr_get_payload_len(a), buf, sizeof(buf)))
		set_str(o, key, buf);
}

static void
set_prefix(json_t *o, const char *key, int family, const struct nlattr *a,
    unsigned plen)
{
	char buf[INET6_ADDRSTRLEN + 8];

	if (a == NULL) {
		/* a route without a destination is the default route */
		snprintf(buf, sizeof(buf), "%s/%u",
		    family == AF_INET6 ? "::" : "0.0.0.0", plen);
	} else if (!fmt_addr(family, mnl_attr_get_payload(a),
	    mnl_attr_get_payload_len(a), buf, INET6_ADDRSTRLEN)) {
		return;
	} else {
		snprintf(buf + strlen(buf), 8, "/%u", plen);
	}
	set_str(o, key, buf);
}

/* link-layer addresses as aa:bb:cc:... */
static void
set_lladdr(json_t *o, const char *key, const struct nlattr *a)
{
	const unsigned char *p;
	char buf[32 * 3 + 1];
	size_t i, n;

	if (a == NULL)
		return;
	p = mnl_attr_get_payload(a);
	n = mnl_attr_get_payload_len(a);
	if (n == 0)
		return;
	if (n > 32)
		n = 32;
	for (i = 0; i < n; i++)
		snprintf(buf + 3 * i, 4, "%02x%s", p[i], i + 1 < n ? ":" : "");
	set_str(o, key, buf);
}

static struct nlmsghdr *
rt_request(char *buf, uint16_t type, uint8_t family, size_t hdrlen)
{
	struct nlmsghdr *nlh;
	uint8_t *h;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	/* ifinfomsg, ifaddrmsg, rtmsg and ndmsg all begin with the family */
	h = mnl_nlmsg_put_extra_header(nlh, hdrlen);
	h[0] = family;
	return nlh;
}

/* ---- 01 routes: rtnetlink ------------------------------------------- */

struct links {
	size_t n;
	int index[LINK_MAP_MAX];
	char name[LINK_MAP_MAX][IFNAMSIZ];
};

struct rt_ctx {
	struct art *b;
	struct links *links;
};

static const char *
link_name(const struct links *l, int index)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->index[i] == index)
			return l->name[i];
	return NULL;
}

static void
set_dev(json_t *o, const struct links *l, int index)
{
	const char *name = link_name(l, index);

	set_int(o, "index", index);
	if (name != NULL)
		set_str(o, "dev", name);
}

/* from linux/if.h, which clashes with net/if.h */
#define KK_IFF_LOWER_UP	0x10000

static json_t *
link_flags(unsigned flags)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{ IFF_UP, "up" }, { IFF_BROADCAST, "broadcast" },
		{ IFF_LOOPBACK, "loopback" },
		{ IFF_POINTOPOINT, "pointopoint" },
		{ IFF_RUNNING, "running" }, { IFF_NOARP, "noarp" },
		{ IFF_PROMISC, "promisc" }, { IFF_ALLMULTI, "allmulti" },
		{ IFF_MULTICAST, "multicast" }, { KK_IFF_LOWER_UP, "lower_up" },
	};
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < sizeof(names) / sizeof(names[0]); i++)
		if (flags & names[i].bit)
			json_array_append_new(a, json_string(names[i].name));
	return a;
}

static int
link_cb(const struct nlmsghdr *nlh, void *data)
{
	static const char *const oper[] = { "unknown", "notpresent", "down",
	    "lowerlayerdown", "testing", "dormant", "up" };
	struct rt_ctx *x = data;
	const struct ifinfomsg *ifi;
	struct attrs t;
	json_t *o;
	uint32_t v;

	if (nlh->nlmsg_type != RTM_NEWLINK ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return MNL_CB_OK;
	ifi = mnl_nlmsg_get_payload(nlh);
	memset(&t, 0, sizeof(t));
	if (mnl_attr_parse(nlh, sizeof(*ifi), attr_cb, &t) < 0)
		return MNL_CB_OK;
	if (t.tb[IFLA_IFNAME] != NULL && x->links->n < LINK_MAP_MAX) {
		struct links *l = x->links;
		const char *p = mnl_attr_get_payload(t.tb[IFLA_IFNAME]);
		size_t n = strnlen(p,
		    mnl_attr_get_payload_len(t.tb[IFLA_IFNAME]));

		if (n >= IFNAMSIZ)
			n = IFNAMSIZ - 1;
		l->index[l->n] = ifi->ifi_index;
		memcpy(l->name[l->n], p, n);
		l->name[l->n][n] = '\0';
		l->n++;
	}
	if ((o = json_object()) == NULL)
		return MNL_CB_STOP;
	set_str(o, "kind", "link");
	set_int(o, "index", ifi->ifi_index);
	if (t.tb[IFLA_IFNAME] != NULL)
		json_object_set_new(o, "name", attr_str(t.tb[IFLA_IFNAME]));
	set_int(o, "type", ifi->ifi_type);
	json_object_set_new(o, "flags", link_flags(ifi->ifi_flags));
	if (attr_u32(t.tb[IFLA_MTU], &v))
		set_int(o, "mtu", v);
	set_lladdr(o, "mac", t.tb[IFLA_ADDRESS]);
	if (t.tb[IFLA_OPERSTATE] != NULL &&
	    mnl_attr_get_payload_len(t.tb[IFLA_OPERSTATE]) >= 1) {
		uint8_t s = mnl_attr_get_u8(t.tb[IFLA_OPERSTATE]);

		if (s < sizeof(oper) / sizeof(oper[0]))
			set_str(o, "operstate", oper[s]);
	}
	if (attr_u32(t.tb[IFLA_MASTER], &v))
		set_int(o, "master", v);
	if (t.tb[IFLA_LINKINFO] != NULL) {
		struct attrs li;

		memset(&li, 0, sizeof(li));
		if (mnl_attr_parse_nested(t.tb[IFLA_LINKINFO], attr_cb,
		    &li) >= 0 && li.tb[IFLA_INFO_KIND] != NULL)
			json_object_set_new(o, "link_kind",
			    attr_str(li.tb[IFLA_INFO_KIND]));
	}
	return art_push(x->b, o, 0) ? MNL_CB_OK : MNL_CB_STOP;
}

static int
neigh_cb(const struct nlmsghdr *nlh, void *data)
{
	static const struct {
		unsigned bit;
		const char *name;
	} states[] = {
		{ NUD_INCOMPLETE, "incomplete" },
		{ NUD_REACHABLE, "reachable" },
		{ NUD_STALE, "stale" }, { NUD_DELAY, "delay" },
		{ NUD_PROBE, "probe" }, { NUD_FAILED, "failed" },
		{ NUD_NOARP, "noarp" }, { NUD_PERMANENT, "permanent" },
	};
	struct rt_ctx *x = data;
	const struct ndmsg *nd;
	struct attrs t;
	char fam[16], st[128];
	json_t *o;
	size_t i;

	if (nlh->nlmsg_type != RTM_NEWNEIGH ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(*nd))
		return MNL_CB_OK;
	nd = mnl_nlmsg_get_payload(nlh);
	memset(&t, 0, sizeof(t));
	if (mnl_attr_parse(nlh, sizeof(*nd), attr_cb, &t) < 0)
		return MNL_CB_OK;
	if ((o = json_object()) == NULL)
		return MNL_CB_STOP;
	set_str(o, "kind", "neighbour");
	set_str(o, "family", family_name(nd->ndm_family, fam, sizeof(fam)));
	set_dev(o, x->links, nd->ndm_ifindex);
	set_addr(o, "address", nd->ndm_family, t.tb[NDA_DST]);
	set_lladdr(o, "lladdr", t.tb[NDA_LLADDR]);
	st[0] = '\0';
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		if (nd->ndm_state & states[i].bit) {
			if (st[0] != '\0')
				strcat(st, "|");
			strcat(st, states[i].name);
		}
	}
	set_str(o, "state", st[0] ? st : "none");
	if (nd->ndm_flags & NTF_ROUTER)
		set_bool(o, "router", true);
	return art_push(x->b, o, 0) ? MNL_CB_OK : MNL_CB_STOP;
}

static void
set_table(json_t *o, uint32_t table)
{
	char buf[16];

	switch (table) {
	case RT_TABLE_MAIN:
		set_str(o, "table", "main");
		break;
	case RT_TABLE_LOCAL:
		set_str(o, "table", "local");
		break;
	case RT_TABLE_DEFAULT:
		set_str(o, "table", "default");
		break;
	default:
		snprintf(buf, sizeof(buf), "%u", table);
		set_str(o, "table", buf);
		break;
	}
}

static const char *
rt_type_name(unsigned type)
{
	static const char *const names[] = {
		"unspec", "unicast", "local", "broadcast", "anycast",
		"multicast", "blackhole", "unreachable", "prohibit", "throw",
		"nat", "xresolve",
	};

	return type < sizeof(names) / sizeof(names[0]) ? names[type] : NULL;
}

static const char *
rt_scope_name(unsigned scope)
{
	switch (scope) {
	case RT_SCOPE_UNIVERSE:
		return "global";
	case RT_SCOPE_SITE:
		return "site";
	case RT_SCOPE_LINK:
		return "link";
	case RT_SCOPE_HOST:
		return "host";
	case RT_SCOPE_NOWHERE:
		return "nowhere";
	default:
		return NULL;
	}
}

static const char *
rt_proto_name(unsigned proto)
{
	switch (proto) {
	case RTPROT_UNSPEC:
		return "unspec";
	case RTPROT_REDIRECT:
		return "redirect";
	case RTPROT_KERNEL:
		return "kernel";
	case RTPROT_BOOT:
		return "boot";
	case RTPROT_STATIC:
		return "static";
	case RTPROT_RA:
		return "ra";
	case RTPROT_DHCP:
		return "dhcp";
	default:
		return NULL;
	}
}

/* an attribute's name, or its number where we have no name for it */
static void
set_name_or_num(json_t *o, const char *key, const char *name, unsigned v)
{
	if (name != NULL)
		set_str(o, key, name);
	else
		set_int(o, key, v);
}

/* RTA_MULTIPATH: rtnexthop records, each followed by its own attributes */
static json_t *
nexthops(const struct nlattr *a, int family, const struct links *l)
{
	const struct rtnexthop *nh = mnl_attr_get_payload(a);
	int len = (int)mnl_attr_get_payload_len(a);
	json_t *arr = json_array();
	char buf[INET6_ADDRSTRLEN];
	unsigned i;

	for (i = 0; arr != NULL && i < 256 && RTNH_OK(nh, len); i++) {
		const struct rtattr *ra = RTNH_DATA(nh);
		int alen = nh->rtnh_len - (int)RTNH_LENGTH(0);
		json_t *o = json_object();

		if (o == NULL)
			break;
		set_dev(o, l, nh->rtnh_ifindex);
		set_int(o, "weight", nh->rtnh_hops + 1);
		for (; RTA_OK(ra, alen); ra = RTA_NEXT(ra, alen))
			if (ra->rta_type == RTA_GATEWAY && fmt_addr(family,
			    RTA_DATA(ra), RTA_PAYLOAD(ra), buf, sizeof(buf)))
				set_str(o, "gateway", buf);
		json_array_append_new(arr, o);
		len -= NLMSG_ALIGN(nh->rtnh_len);
		nh = RTNH_NEXT(nh);
	}
	return arr;
}

static int
route_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rt_ctx *x = data;
	const struct rtmsg *rt;
	struct attrs t;
	char fam[16];
	json_t *o;
	uint32_t v;

	if (nlh->nlmsg_type != RTM_NEWROUTE ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(*rt))
		return MNL_CB_OK;
	rt = mnl_nlmsg_get_payload(nlh);
	memset(&t, 0, sizeof(t));
	if (mnl_attr_parse(nlh, sizeof(*rt), attr_cb, &t) < 0)
		return MNL_CB_OK;
	if ((o = json_object()) == NULL)
		return MNL_CB_STOP;
	set_str(o, "kind", "route");
	set_str(o, "family", family_name(rt->rtm_family, fam, sizeof(fam)));
	set_table(o, attr_u32(t.tb[RTA_TABLE], &v) ? v : rt->rtm_table);
	set_name_or_num(o, "type", rt_type_name(rt->rtm_type), rt->rtm_type);
	set_prefix(o, "dst", rt->rtm_family, t.tb[RTA_DST], rt->rtm_dst_len);
	if (t.tb[RTA_SRC] != NULL)
		set_prefix(o, "src", rt->rtm_family, t.tb[RTA_SRC],
		    rt->rtm_src_len);
	set_addr(o, "gateway", rt->rtm_family, t.tb[RTA_GATEWAY]);
	if (attr_u32(t.tb[RTA_OIF], &v))
		set_dev(o, x->links, (int)v);
	set_addr(o, "prefsrc", rt->rtm_family, t.tb[RTA_PREFSRC]);
	if (attr_u32(t.tb[RTA_PRIORITY], &v))
		set_int(o, "metric", v);
	set_name_or_num(o, "protocol", rt_proto_name(rt->rtm_protocol),
	    rt->rtm_protocol);
	set_name_or_num(o, "scope", rt_scope_name(rt->rtm_scope),
	    rt->rtm_scope);
	if (t.tb[RTA_MULTIPATH] != NULL)
		json_object_set_new(o, "nexthops", nexthops(t.tb[RTA_MULTIPATH],
		    rt->rtm_family, x->links));
	return art_push(x->b, o, 0) ? MNL_CB_OK : MNL_CB_STOP;
}

static int
addr_cb(const struct nlmsghdr *nlh, void *data)
{
	struct rt_ctx *x = data;
	const struct ifaddrmsg *ifa;
	const struct nlattr *local, *peer;
	struct attrs t;
	char fam[16];
	json_t *o, *fl;
	uint32_t flags;

	if (nlh->nlmsg_type != RTM_NEWADDR ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifa))
		return MNL_CB_OK;
	ifa = mnl_nlmsg_get_payload(nlh);
	memset(&t, 0, sizeof(t));
	if (mnl_attr_parse(nlh, sizeof(*ifa), attr_cb, &t) < 0)
		return MNL_CB_OK;
	if ((o = json_object()) == NULL)
		return MNL_CB_STOP;
	/* on point-to-point links IFA_LOCAL is ours and IFA_ADDRESS the peer */
	local = t.tb[IFA_LOCAL] ? t.tb[IFA_LOCAL] : t.tb[IFA_ADDRESS];
	peer = t.tb[IFA_LOCAL] ? t.tb[IFA_ADDRESS] : NULL;
	set_str(o, "kind", "address");
	set_str(o, "family", family_name(ifa->ifa_family, fam, sizeof(fam)));
	set_dev(o, x->links, (int)ifa->ifa_index);
	if (local != NULL)
		set_prefix(o, "address", ifa->ifa_family, local,
		    ifa->ifa_prefixlen);
	if (peer != NULL && local != NULL &&
	    (mnl_attr_get_payload_len(peer) !=
	    mnl_attr_get_payload_len(local) ||
	    memcmp(mnl_attr_get_payload(peer), mnl_attr_get_payload(local),
	    mnl_attr_get_payload_len(peer)) != 0))
		set_addr(o, "peer", ifa->ifa_family, peer);
	set_name_or_num(o, "scope", rt_scope_name(ifa->ifa_scope),
	    ifa->ifa_scope);
	if (t.tb[IFA_LABEL] != NULL)
		json_object_set_new(o, "label", attr_str(t.tb[IFA_LABEL]));
	if (!attr_u32(t.tb[IFA_FLAGS], &flags))
		flags = ifa->ifa_flags;
	if ((fl = json_array()) != NULL) {
		if (flags & IFA_F_SECONDARY)
			json_array_append_new(fl, json_string("secondary"));
		if (flags & IFA_F_PERMANENT)
			json_array_append_new(fl, json_string("permanent"));
		if (flags & IFA_F_TENTATIVE)
			json_array_append_new(fl, json_string("tentative"));
		if (flags & IFA_F_DEPRECATED)
			json_array_append_new(fl, json_string("deprecated"));
		if (flags & IFA_F_DADFAILED)
			json_array_append_new(fl, json_string("dadfailed"));
	}
	json_object_set_new(o, "flags", fl);
	return art_push(x->b, o, 0) ? MNL_CB_OK : MNL_CB_STOP;
}

static void
collect_routes(struct collector *c, struct art *b)
{
	static const struct {
		uint16_t type;
		uint8_t family;
		size_t hdrlen;
		mnl_cb_t cb;
		const char *what;
	} dumps[] = {
		/* links first: the others name their devices from them */
		{ RTM_GETLINK, AF_UNSPEC, sizeof(struct ifinfomsg), link_cb,
		    "links" },
		{ RTM_GETNEIGH, AF_INET, sizeof(struct ndmsg), neigh_cb,
		    "neighbours/inet" },
		{ RTM_GETNEIGH, AF_INET6, sizeof(struct ndmsg), neigh_cb,
		    "neighbours/inet6" },
		{ RTM_GETROUTE, AF_INET, sizeof(struct rtmsg), route_cb,
		    "routes/inet" },
		{ RTM_GETROUTE, AF_INET6, sizeof(struct rtmsg), route_cb,
		    "routes/inet6" },
		{ RTM_GETADDR, AF_UNSPEC, sizeof(struct ifaddrmsg), addr_cb,
		    "addresses" },
	};
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct rt_ctx x;
	size_t i;
	int err;

	x.b = b;
	if ((x.links = calloc(1, sizeof(*x.links))) == NULL) {
		art_error(b, "out of memory");
		return;
	}
	for (i = 0; i < sizeof(dumps) / sizeof(dumps[0]) && art_alive(b);
	    i++) {
		struct nlmsghdr *nlh = rt_request(buf, dumps[i].type,
		    dumps[i].family, dumps[i].hdrlen);

		if ((err = nl_dump(c, NETLINK_ROUTE, nlh, dumps[i].cb, &x)) < 0)
			nl_failed(b, dumps[i].what, err);
	}
	free(x.links);
}

/* ---- 02 sockets: sock_diag ------------------------------------------ */

static const char *
tcp_state(unsigned s, bool tcp)
{
	static const char *const names[] = {
		"UNKNOWN", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1",
		"FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK",
		"LISTEN", "CLOSING", "NEW_SYN_RECV", "BOUND_INACTIVE",
	};

	/* a datagram or UNIX socket in TCP_CLOSE is merely not connected */
	if (s == 7 && !tcp)
		return "UNCONN";
	return s < sizeof(names) / sizeof(names[0]) ? names[s] : "UNKNOWN";
}

struct diag_ctx {
	struct art *b;
	const char *proto;
};

static int
inet_diag_cb(const struct nlmsghdr *nlh, void *data)
{
	struct diag_ctx *x = data;
	const struct inet_diag_msg *m;
	char fam[16], addr[INET6_ADDRSTRLEN];
	json_t *o;
	bool tcp = strcmp(x->proto, "tcp") == 0;

	if (nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(*m))
		return MNL_CB_OK;
	m = mnl_nlmsg_get_payload(nlh);
	if ((o = json_object()) == NULL)
		return MNL_CB_STOP;
	set_str(o, "proto", x->proto);
	set_str(o, "family", family_name(m->idiag_family, fam, sizeof(fam)));
	set_str(o, "state", tcp_state(m->idiag_state, tcp));
	if (fmt_addr(m->idiag_family, m->id.idiag_src, sizeof(m->id.idiag_src),
	    addr, sizeof(addr)))
		set_str(o, "local_addr", addr);
	set_int(o, "local_port", ntohs(m->id.idiag_sport));
	if (fmt_addr(m->idiag_family, m->id.idiag_dst, sizeof(m->id.idiag_dst),
	    addr, sizeof(addr)))
		set_str(o, "remote_addr", addr);
	set_int(o, "remote_port", ntohs(m->id.idiag_dport));
	if (m->id.idiag_if != 0)
		set_int(o, "bound_index", m->id.idiag_if);
	set_int(o, "uid", m->idiag_uid);
	set_int(o, "inode", m->idiag_inode);
	set_int(o, "rqueue", m->idiag_rqueue);
	set_int(o, "wqueue", m->idiag_wqueue);
	return art_push(x->b, o, m->idiag_inode ? OWNER_RESERVE : 0) ?
	    MNL_CB_OK : MNL_CB_STOP;
}

static int
unix_diag_cb(const struct nlmsghdr *nlh, void *data)
{
	struct diag_ctx *x = data;
	const struct unix_diag_msg *m;
	struct attrs t;
	json_t *o;
	uint32_t v;

	if (nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(*m))
		return MNL_CB_OK;
	m = mnl_nlmsg_get_payload(nlh);
	memset(&t, 0, sizeof(t));
	if (mnl_attr_parse(nlh, sizeof(*m), attr_cb, &t) < 0)
		return MNL_CB_OK;
	if ((o = json_object()) == NULL)
		return MNL_CB_STOP;
	set_str(o, "proto", "unix");
	switch (m->udiag_type) {
	case SOCK_STREAM:
		set_str(o, "type", "stream");
		break;
	case SOCK_DGRAM:
		set_str(o, "type", "dgram");
		break;
	case SOCK_SEQPACKET:
		set_str(o, "type", "seqpacket");
		break;
	default:
		set_int(o, "type", m->udiag_type);
		break;
	}
	set_str(o, "state", tcp_state(m->udiag_state, false));
	if (t.tb[UNIX_DIAG_NAME] != NULL) {
		const char *p = mnl_attr_get_payload(t.tb[UNIX_DIAG_NAME]);
		size_t n = mnl_attr_get_payload_len(t.tb[UNIX_DIAG_NAME]);
		char name[sizeof(((struct sockaddr_un *)0)->sun_path) + 2];

		if (n > sizeof(name) - 2)
			n = sizeof(name) - 2;
		if (n > 0 && p[0] == '\0') {
			/* abstract: shown with '@', as ss(8) does */
			name[0] = '@';
			memcpy(name + 1, p + 1, n - 1);
			json_object_set_new(o, "path", kk_json_strn(name, n));
		} else if (n > 0) {
			json_object_set_new(o, "path",
			    kk_json_strn(p, strnlen(p, n)));
		}
	}
	set_int(o, "inode", m->udiag_ino);
	if (attr_u32(t.tb[UNIX_DIAG_PEER], &v))
		set_int(o, "peer", v);
	if (attr_u32(t.tb[UNIX_DIAG_UID], &v))
		set_int(o, "uid", v);
	if (t.tb[UNIX_DIAG_RQLEN] != NULL &&
	    mnl_attr_get_payload_len(t.tb[UNIX_DIAG_RQLEN]) >=
	    sizeof(struct unix_diag_rqlen)) {
		const struct unix_diag_rqlen *q =
		    mnl_attr_get_payload(t.tb[UNIX_DIAG_RQLEN]);

		set_int(o, "rqueue", q->udiag_rqueue);
		set_int(o, "wqueue", q->udiag_wqueue);
	}
	return art_push(x->b, o, OWNER_RESERVE) ? MNL_CB_OK : MNL_CB_STOP;
}

struct owner {
	uint64_t ino;
	pid_t pid;
};

static int
owner_cmp(const void *a, const void *b)
{
	const struct owner *x = a, *y = b;

	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/*
 * Which processes hold which sockets: every /proc/PID/fd/N that reads
 * "socket:[INODE]".  Bounded in processes, fds read and sockets kept.
 * Returns how far it got (a note when not to the end).
 */
static int
scan_owners(struct collector *c, struct owner **out, size_t *nout,
    size_t *denied, char *why, size_t whylen)
{
	struct owner *v = NULL, *nv;
	size_t n = 0, cap = 0, nfds = 0, nprocs = 0;
	struct dirent *de, *fe;
	DIR *proc, *fdd;
	char path[64], target[64];
	pid_t pid;
	ssize_t len;
	int err = 0;

	*out = NULL;
	*nout = 0;
	*denied = 0;
	if ((proc = opendir("/proc")) == NULL)
		return -errno;
	while ((de = readdir(proc)) != NULL && why[0] == '\0') {
		if (!parse_pid(de->d_name, &pid))
			continue;
		if (++nprocs > MAX_PROCS) {
			snprintf(why, whylen, "owners: more than %d processes",
			    MAX_PROCS);
			break;
		}
		if (expired(c)) {
			snprintf(why, whylen, "owners: timeout");
			break;
		}
		snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
		if ((fdd = opendir(path)) == NULL) {
			/* gone, or kept from us (LSM, user namespace) */
			if (errno == EACCES || errno == EPERM)
				(*denied)++;
			continue;
		}
		while ((fe = readdir(fdd)) != NULL) {
			if (fe->d_name[0] == '.')
				continue;
			if (++nfds > MAX_FDS) {
				snprintf(why, whylen,
				    "owners: more than %u fds", MAX_FDS);
				break;
			}
			len = readlinkat(dirfd(fdd), fe->d_name, target,
			    sizeof(target) - 1);
			if (len < 0 && (errno == EACCES || errno == EPERM)) {
				(*denied)++;
				break;
			}
			if (len <= 8)
				continue;
			target[len] = '\0';
			if (strncmp(target, "socket:[", 8) != 0)
				continue;
			if (n == MAX_OWNERS) {
				snprintf(why, whylen,
				    "owners: more than %d socket fds",
				    MAX_OWNERS);
				break;
			}
			if (n == cap) {
				cap = cap ? cap * 2 : 1024;
				nv = realloc(v, cap * sizeof(*v));
				if (nv == NULL) {
					err = -ENOMEM;
					closedir(fdd);
					goto out;
				}
				v = nv;
			}
			v[n].ino = strtoull(target + 8, NULL, 10);
			v[n].pid = pid;
			n++;
		}
		closedir(fdd);
	}
	if (n > 0)
		qsort(v, n, sizeof(*v), owner_cmp);
	*out = v;
	*nout = n;
	v = NULL;
out:
	free(v);
	closedir(proc);
	return err;
}

/* Adds "pid" (the lowest) and, for shared sockets, "pids" to each item. */
static void
set_owners(struct art *b, const struct owner *v, size_t n)
{
	json_t *item, *pids;
	size_t i, lo, hi, mid, k;
	uint64_t ino;
	bool pids_cut = false;

	json_array_foreach(b->items, i, item) {
		ino = (uint64_t)json_integer_value(json_object_get(item,
		    "inode"));
		if (ino == 0)
			continue;
		lo = 0;
		hi = n;
		while (lo < hi) {
			mid = lo + (hi - lo) / 2;
			if (v[mid].ino < ino)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == n || v[lo].ino != ino)
			continue;
		/* room for "pid" was reserved when the item was pushed */
		set_int(item, "pid", v[lo].pid);
		if (lo + 1 == n || v[lo + 1].ino != ino)
			continue;
		/* shared (inherited, passed): the others, if room is left */
		if ((pids = json_array()) == NULL)
			continue;
		for (k = lo; k < n && v[k].ino == ino &&
		    k - lo < MAX_OWNER_PIDS; k++)
			if (k == lo || v[k].pid != v[k - 1].pid)
				json_array_append_new(pids,
				    json_integer(v[k].pid));
		if (art_grow(b, json_dumpb(pids, NULL, 0, JSON_COMPACT) + 8))
			json_object_set_new(item, "pids", pids);
		else {
			json_decref(pids);
			pids_cut = true;
		}
	}
	if (pids_cut)
		art_note(b, "some \"pids\" lists left out (size share)");
}

static void
collect_sockets(struct collector *c, struct art *b)
{
	static const struct {
		uint8_t family;
		uint8_t proto;
		const char *name;
		const char *what;
	} inet[] = {
		{ AF_INET, IPPROTO_TCP, "tcp", "tcp/inet" },
		{ AF_INET6, IPPROTO_TCP, "tcp", "tcp/inet6" },
		{ AF_INET, IPPROTO_UDP, "udp", "udp/inet" },
		{ AF_INET6, IPPROTO_UDP, "udp", "udp/inet6" },
	};
	char buf[MNL_SOCKET_BUFFER_SIZE], why[96];
	struct nlmsghdr *nlh;
	struct diag_ctx x;
	struct owner *own = NULL;
	size_t i, nown = 0, denied = 0;
	int err;

	x.b = b;
	/* the sockets first, they change fastest; their owners after */
	for (i = 0; i < sizeof(inet) / sizeof(inet[0]) && art_alive(b); i++) {
		struct inet_diag_req_v2 *req;

		nlh = mnl_nlmsg_put_header(buf);
		nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
		nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
		req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
		req->sdiag_family = inet[i].family;
		req->sdiag_protocol = inet[i].proto;
		req->idiag_states = ~0U;
		x.proto = inet[i].name;
		if ((err = nl_dump(c, NETLINK_SOCK_DIAG, nlh, inet_diag_cb,
		    &x)) < 0)
			nl_failed(b, inet[i].what, err);
	}
	if (art_alive(b)) {
		struct unix_diag_req *req;

		nlh = mnl_nlmsg_put_header(buf);
		nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
		nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
		req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
		req->sdiag_family = AF_UNIX;
		req->udiag_states = ~0U;
		req->udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER |
		    UDIAG_SHOW_RQLEN | UDIAG_SHOW_UID;
		x.proto = "unix";
		if ((err = nl_dump(c, NETLINK_SOCK_DIAG, nlh, unix_diag_cb,
		    &x)) < 0)
			nl_failed(b, "unix", err);
	}
	if (b->n == 0)
		return;
	why[0] = '\0';
	if ((err = scan_owners(c, &own, &nown, &denied, why, sizeof(why))) < 0)
		art_error(b, "owners: %s", strerror(-err));
	else if (why[0] != '\0')
		art_error(b, "%s", why);
	if (denied > 0)
		art_note(b, "fd tables of %zu processes not readable: their "
		    "sockets show no owner", denied);
	set_owners(b, own, nown);
	free(own);
}

/* ---- 03 processes: procfs ------------------------------------------- */

struct pstat {
	char comm[64];
	char state;
	long ppid;
	long threads;
	unsigned long long start;
};

/*
 * /proc/PID/stat: the comm may hold spaces and ')', so count from the
 * last ')'.
 */
static int
parse_stat(char *buf, struct pstat *ps)
{
	char *lp = strchr(buf, '('), *rp = strrchr(buf, ')');
	char *tok, *save = NULL;
	size_t n;
	int field;

	if (lp == NULL || rp == NULL || rp < lp)
		return -EBADMSG;
	n = (size_t)(rp - lp - 1);
	if (n >= sizeof(ps->comm))
		n = sizeof(ps->comm) - 1;
	memcpy(ps->comm, lp + 1, n);
	ps->comm[n] = '\0';
	for (field = 3, tok = strtok_r(rp + 1, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save), field++) {
		switch (field) {
		case 3:
			ps->state = tok[0];
			break;
		case 4:
			ps->ppid = strtol(tok, NULL, 10);
			break;
		case 20:
			ps->threads = strtol(tok, NULL, 10);
			break;
		case 22:
			ps->start = strtoull(tok, NULL, 10);
			return 0;
		default:
			break;
		}
	}
	return -EBADMSG;
}

/* "Uid:\treal\teffective\tsaved\tfs" and the same for Gid */
static void
set_ids(json_t *o, const char *status)
{
	const char *p;
	unsigned long r, e;

	if ((p = strstr(status, "\nUid:")) != NULL &&
	    sscanf(p + 5, "%lu %lu", &r, &e) == 2) {
		set_int(o, "uid", (long long)r);
		set_int(o, "euid", (long long)e);
	}
	if ((p = strstr(status, "\nGid:")) != NULL &&
	    sscanf(p + 5, "%lu %lu", &r, &e) == 2) {
		set_int(o, "gid", (long long)r);
		set_int(o, "egid", (long long)e);
	}
}

/* The unified hierarchy's line ("0::/path"), else the first one. */
static void
set_cgroup(json_t *o, char *text)
{
	char *line, *save = NULL, *first = NULL, *p;

	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "0::", 3) == 0) {
			set_str(o, "cgroup", line + 3);
			return;
		}
		if (first == NULL)
			first = line;
	}
	if (first != NULL && (p = strchr(first, ':')) != NULL &&
	    (p = strchr(p + 1, ':')) != NULL)
		set_str(o, "cgroup", p + 1);
}

/* An executable to hash, found in pass one. */
struct exe_ref {
	dev_t dev;
	ino_t ino;
	off_t size;
	pid_t pid;
	size_t item;		/* index in the items */
};

static int
exe_cmp(const void *a, const void *b)
{
	const struct exe_ref *x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static json_t *
proc_item(struct collector *c, pid_t pid, struct exe_ref *ref, bool *hash)
{
	char path[64], exe[PATH_MAX], *buf;
	struct kk_exe_info info;
	struct pstat ps;
	json_t *o = NULL;
	ssize_t n;

	*hash = false;
	/* status and cgroup files can be long (supplementary groups) */
	if ((buf = malloc(16384)) == NULL)
		return NULL;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small(AT_FDCWD, path, buf, 16384) <= 0)
		goto out;	/* gone */
	memset(&ps, 0, sizeof(ps));
	if (parse_stat(buf, &ps) < 0)
		goto out;
	if ((o = json_object()) == NULL)
		goto out;
	set_int(o, "pid", pid);
	set_int(o, "ppid", ps.ppid);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (read_small(AT_FDCWD, path, buf + 1, 16383) > 0) {
		buf[0] = '\n';
		set_ids(o, buf);
	}
	json_object_set_new(o, "comm", kk_json_str(ps.comm));
	json_object_set_new(o, "state", kk_json_strn(&ps.state, 1));
	set_int(o, "threads", ps.threads);
	set_int(o, "start_time", (long long)ps.start);
	if (c->btime > 0) {
		unsigned long long hz = (unsigned long long)c->hz;
		time_t sec = c->btime + (time_t)(ps.start / hz);
		long usec = (long)(ps.start % hz) * (1000000L / c->hz);
		char when[48];

		rfc3339_usec(sec, usec, when, sizeof(when));
		set_str(o, "started", when);
	}
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		set_str(o, "exe", exe);
		if (n > 10 && strcmp(exe + n - 10, " (deleted)") == 0)
			set_bool(o, "exe_deleted", true);
		/*
		 * The file itself, wherever it is (other mount ns, deleted),
		 * as the kernel holds it: no file system is asked (exefile.c).
		 */
		if (kk_exe_stat(pid, &info) == 0) {
			json_object_set_new(o, "exe_sha256", json_null());
			ref->dev = info.id.dev;
			ref->ino = info.id.ino;
			ref->size = (off_t)info.size;
			ref->pid = pid;
			*hash = true;
		}
	} else {
		/* kernel threads have none; anything else is worth saying */
		int e = errno;

		json_object_set_new(o, "exe", json_null());
		if (e != ENOENT)
			set_str(o, "exe_error", strerror(e));
	}
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((n = read_small(AT_FDCWD, path, buf, CMDLINE_MAX + 2)) > 0) {
		ssize_t i;
		bool cut = n > CMDLINE_MAX;

		if (cut)
			n = CMDLINE_MAX;
		/* arguments are NUL-separated: spaces read better */
		for (i = 0; i < n; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		while (n > 0 && buf[n - 1] == ' ')
			n--;
		json_object_set_new(o, "cmdline", kk_json_strn(buf, (size_t)n));
		if (cut)
			set_bool(o, "cmdline_cut", true);
	}
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if (read_small(AT_FDCWD, path, buf, 16384) > 0)
		set_cgroup(o, buf);
out:
	free(buf);
	return o;
}

/*
 * Pass two: each distinct executable (device, inode) hashed once, through
 * /proc/PID/exe of a process that still runs it, and only where that may
 * be read (a regular file on a local file system, exefile.c): a FUSE or
 * network file could keep the worker waiting for ever.
 */
static void
hash_exes(struct collector *c, struct art *b, struct exe_ref *v, size_t n)
{
	struct kk_exe_info info;
	char hexs[65], why[256];
	size_t i, j, k, skipped = 0;
	uint64_t now = now_ns(), deadline;
	int fd, err;

	if (n == 0)
		return;
	/* at most half the time left, so later artifacts still get theirs */
	deadline = now + (c->deadline > now ? (c->deadline - now) / 2 : 0);
	qsort(v, n, sizeof(*v), exe_cmp);
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && v[j].dev == v[i].dev &&
		    v[j].ino == v[i].ino; j++)
			;
		why[0] = '\0';
		if ((uint64_t)v[i].size > HASH_FILE_MAX) {
			snprintf(why, sizeof(why), "larger than 256 MiB");
		} else if (now_ns() >= deadline) {
			snprintf(why, sizeof(why), "not hashed: time budget");
			skipped += j - i;
		} else {
			err = -ESRCH;
			fd = -1;
			snprintf(why, sizeof(why), "gone before hashing");
			for (k = i; k < j && fd < 0 && err != -EPERM; k++) {
				err = kk_exe_open(v[k].pid, &info, &fd, why,
				    sizeof(why));
				/* it may run another file by now */
				if (err == 0 && (info.id.dev != v[i].dev ||
				    info.id.ino != v[i].ino)) {
					close(fd);
					fd = -1;
					snprintf(why, sizeof(why),
					    "gone before hashing");
				}
			}
			if (fd >= 0) {
				err = kk_fd_sha256(fd, HASH_FILE_MAX, deadline,
				    hexs);
				close(fd);
				why[0] = '\0';
				if (err == -ETIMEDOUT) {
					snprintf(why, sizeof(why),
					    "not hashed: time budget");
					skipped += j - i;
				} else if (err == -EFBIG) {
					snprintf(why, sizeof(why),
					    "larger than 256 MiB");
				} else if (err < 0) {
					snprintf(why, sizeof(why), "%s",
					    strerror(-err));
				}
			}
		}
		for (k = i; k < j; k++) {
			json_t *item = json_array_get(b->items, v[k].item);

			/* HASH_RESERVE covers either member */
			if (why[0] == '\0')
				set_str(item, "exe_sha256", hexs);
			else
				json_object_set_new(item, "exe_hash_error",
				    kk_json_strn(why, strnlen(why,
				    HASH_WHY_MAX)));
		}
	}
	if (skipped > 0)
		art_error(b, "%zu executables not hashed (time budget)",
		    skipped);
}

static void
collect_processes(struct collector *c, struct art *b)
{
	struct exe_ref *refs = NULL, *nr, ref;
	size_t nref = 0, capref = 0, nseen = 0;
	struct dirent *de;
	json_t *item;
	DIR *proc;
	pid_t pid;
	bool hash;

	if ((proc = opendir("/proc")) == NULL) {
		art_error(b, "/proc: %s", strerror(errno));
		return;
	}
	/* pass one, quick: the table as it is now */
	while (art_alive(b) && (de = readdir(proc)) != NULL) {
		if (!parse_pid(de->d_name, &pid))
			continue;
		if (++nseen > MAX_PROCS) {
			art_cut(b, "at most %d processes", MAX_PROCS);
			break;
		}
		if ((item = proc_item(c, pid, &ref, &hash)) == NULL)
			continue;	/* exited meanwhile */
		if (!art_push(b, item, hash ? HASH_RESERVE : 0))
			break;
		if (!hash)
			continue;
		if (nref == capref) {
			capref = capref ? capref * 2 : 256;
			nr = realloc(refs, capref * sizeof(*refs));
			if (nr == NULL) {
				art_error(b, "out of memory");
				break;
			}
			refs = nr;
		}
		ref.item = b->n - 1;
		refs[nref++] = ref;
	}
	closedir(proc);
	/* pass two, slow: the executables */
	hash_exes(c, b, refs, nref);
	free(refs);
}

/* ---- 04 users: utmp and logind -------------------------------------- */

static void
set_fixed(json_t *o, const char *key, const char *p, size_t max)
{
	size_t n = strnlen(p, max);

	if (n > 0)
		json_object_set_new(o, key, kk_json_strn(p, n));
}

static void
collect_utmp(struct art *b)
{
	struct utmpx u;
	char when[48], addr[INET6_ADDRSTRLEN];
	ssize_t n;
	json_t *o;
	unsigned i;
	int fd;

	/*
	 * Read as a file rather than with getutxent(3): no hidden static
	 * state shared with the rest of the process, no lock waits, bounded.
	 * The record layout is the one getutxent itself reads.
	 */
	if ((fd = open_regular(_PATH_UTMPX)) < 0) {
		if (fd == -ENOENT)
			art_note(b, "no %s", _PATH_UTMPX);
		else
			art_error(b, "%s: %s", _PATH_UTMPX, strerror(-fd));
		return;
	}
	for (i = 0; i < MAX_UTMP && art_alive(b); i++) {
		n = read(fd, &u, sizeof(u));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			art_error(b, "%s: %s", _PATH_UTMPX, strerror(errno));
			break;
		}
		if ((size_t)n < sizeof(u))
			break;
		if (u.ut_type != USER_PROCESS)
			continue;
		if ((o = json_object()) == NULL)
			break;
		set_str(o, "source", "utmp");
		set_fixed(o, "user", u.ut_user, sizeof(u.ut_user));
		set_fixed(o, "line", u.ut_line, sizeof(u.ut_line));
		set_fixed(o, "host", u.ut_host, sizeof(u.ut_host));
		set_int(o, "pid", u.ut_pid);
		rfc3339_usec((time_t)u.ut_tv.tv_sec, (long)u.ut_tv.tv_usec,
		    when, sizeof(when));
		set_str(o, "login", when);
		if (u.ut_addr_v6[1] == 0 && u.ut_addr_v6[2] == 0 &&
		    u.ut_addr_v6[3] == 0) {
			if (u.ut_addr_v6[0] != 0 && inet_ntop(AF_INET,
			    u.ut_addr_v6, addr, sizeof(addr)) != NULL)
				set_str(o, "address", addr);
		} else if (inet_ntop(AF_INET6, u.ut_addr_v6, addr,
		    sizeof(addr)) != NULL) {
			set_str(o, "address", addr);
		}
		if (!art_push(b, o, 0))
			break;
	}
	close(fd);
}

/* one sd_session_get_* string: set if there, freed either way */
static void
set_sd(json_t *o, const char *key, int r, char *s)
{
	if (r >= 0 && s != NULL && s[0] != '\0')
		set_str(o, key, s);
	free(s);
}

static void
collect_logind(struct art *b)
{
	char **ids = NULL, *s;
	json_t *o;
	uid_t uid;
	int r, i;

	r = sd_get_sessions(&ids);
	if (r < 0) {
		if (r == -ENOENT)
			art_note(b, "no logind sessions directory");
		else
			art_error(b, "sd_get_sessions: %s", strerror(-r));
		return;
	}
	for (i = 0; ids != NULL && ids[i] != NULL; i++) {
		if (i >= MAX_SESSIONS || !art_alive(b) ||
		    (o = json_object()) == NULL) {
			if (i >= MAX_SESSIONS)
				art_cut(b, "at most %d sessions", MAX_SESSIONS);
			continue;	/* still free them all */
		}
		set_str(o, "source", "logind");
		set_str(o, "session", ids[i]);
		if (sd_session_get_uid(ids[i], &uid) >= 0)
			set_int(o, "uid", uid);
		s = NULL;
		r = sd_session_get_state(ids[i], &s);
		set_sd(o, "state", r, s);
		s = NULL;
		r = sd_session_get_type(ids[i], &s);
		set_sd(o, "type", r, s);
		s = NULL;
		r = sd_session_get_class(ids[i], &s);
		set_sd(o, "class", r, s);
		s = NULL;
		r = sd_session_get_tty(ids[i], &s);
		set_sd(o, "tty", r, s);
		s = NULL;
		r = sd_session_get_seat(ids[i], &s);
		set_sd(o, "seat", r, s);
		s = NULL;
		r = sd_session_get_service(ids[i], &s);
		set_sd(o, "service", r, s);
		s = NULL;
		r = sd_session_get_remote_host(ids[i], &s);
		set_sd(o, "remote_host", r, s);
		s = NULL;
		r = sd_session_get_remote_user(ids[i], &s);
		set_sd(o, "remote_user", r, s);
		set_bool(o, "remote", sd_session_is_remote(ids[i]) > 0);
		art_push(b, o, 0);
	}
	for (i = 0; ids != NULL && ids[i] != NULL; i++)
		free(ids[i]);
	free(ids);
}

static void
collect_users(struct collector *c, struct art *b)
{
	collect_utmp(b);
	collect_logind(b);
}

/* ---- 05 kernel: uname, boot, modules -------------------------------- */

static void
collect_kernel(struct collector *c, struct art *b)
{
	struct utsname u;
	char buf[4096], line[TEXT_LINE], when[48];
	unsigned nmod = 0;
	json_t *o;
	FILE *f;
	int err;

	if ((o = json_object()) != NULL) {
		set_str(o, "kind", "uname");
		if (uname(&u) == 0) {
			set_str(o, "sysname", u.sysname);
			set_str(o, "nodename", u.nodename);
			set_str(o, "release", u.release);
			set_str(o, "version", u.version);
			set_str(o, "machine", u.machine);
		} else {
			art_error(b, "uname: %s", strerror(errno));
		}
		if (!art_push(b, o, 0))
			return;
	}
	if ((o = json_object()) != NULL) {
		set_str(o, "kind", "boot");
		if (read_small(AT_FDCWD, "/proc/sys/kernel/random/boot_id", buf,
		    sizeof(buf)) > 0) {
			chomp(buf);
			set_str(o, "boot_id", buf);
		}
		if (c->btime > 0) {
			rfc3339_usec(c->btime, 0, when, sizeof(when));
			set_str(o, "booted", when);
		}
		if (read_small(AT_FDCWD, "/proc/uptime", buf, sizeof(buf)) > 0)
			json_object_set_new(o, "uptime_s",
			    json_real(strtod(buf, NULL)));
		if (read_small(AT_FDCWD, "/proc/sys/kernel/tainted", buf,
		    sizeof(buf)) > 0)
			set_int(o, "tainted", strtoll(buf, NULL, 10));
		if (read_small(AT_FDCWD, "/proc/sys/kernel/modules_disabled",
		    buf, sizeof(buf)) > 0)
			set_int(o, "modules_disabled", strtoll(buf, NULL, 10));
		if (read_small(AT_FDCWD, "/proc/loadavg", buf,
		    sizeof(buf)) > 0) {
			chomp(buf);
			set_str(o, "loadavg", buf);
		}
		if (read_small(AT_FDCWD, "/proc/cmdline", buf,
		    sizeof(buf)) > 0) {
			chomp(buf);
			set_str(o, "cmdline", buf);
		}
		if (!art_push(b, o, 0))
			return;
	}
	/* "name size refcount deps state address [taint]" */
	if ((f = fopen("/proc/modules", "re")) == NULL) {
		/* a kernel without modules has no /proc/modules */
		err = errno;
		if (err == ENOENT)
			art_note(b, "no /proc/modules (no module support)");
		else
			art_error(b, "/proc/modules: %s", strerror(err));
		return;
	}
	while (art_alive(b) && read_line(f, line, sizeof(line))) {
		char *fld[7], *save = NULL, *p;
		int k = 0;
		size_t dl;

		if (++nmod > MAX_MODULES) {
			art_cut(b, "at most %d modules", MAX_MODULES);
			break;
		}
		for (p = strtok_r(line, " ", &save); p != NULL && k < 7;
		    p = strtok_r(NULL, " ", &save))
			fld[k++] = p;
		if (k < 5 || (o = json_object()) == NULL)
			continue;
		set_str(o, "kind", "module");
		set_str(o, "name", fld[0]);
		set_int(o, "size", strtoll(fld[1], NULL, 10));
		set_int(o, "refcount", strtoll(fld[2], NULL, 10));
		dl = strlen(fld[3]);
		if (dl > 0 && fld[3][dl - 1] == ',')
			fld[3][dl - 1] = '\0';
		set_str(o, "used_by", strcmp(fld[3], "-") == 0 ? "" : fld[3]);
		set_str(o, "state", fld[4]);
		if (k > 5)
			set_str(o, "address", fld[5]);
		if (k > 6)
			set_str(o, "taint", fld[6]);
		if (!art_push(b, o, 0))
			break;
	}
	fclose(f);
}

/* ---- 06 mounts: mountinfo ------------------------------------------- */

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static void
unescape_octal(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
			    (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

static void
collect_mounts(struct collector *c, struct art *b)
{
	char line[TEXT_LINE];
	unsigned nlines = 0;
	json_t *o;
	FILE *f;

	/*
	 * 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw
	 * (id parent dev root mountpoint options [optional...] - fstype
	 * source superoptions)
	 */
	if ((f = fopen("/proc/self/mountinfo", "re")) == NULL) {
		art_error(b, "/proc/self/mountinfo: %s", strerror(errno));
		return;
	}
	json_object_set_new(b->extra, "path",
	    json_string("/proc/self/mountinfo"));
	while (art_alive(b) && read_line(f, line, sizeof(line))) {
		char *fld[6], *tail[3], *save = NULL, *p;
		char opt[512];
		int k = 0, t = 0;
		bool dash = false;

		if (++nlines > MAX_MOUNTS) {
			art_cut(b, "at most %d mounts", MAX_MOUNTS);
			break;
		}
		opt[0] = '\0';
		for (p = strtok_r(line, " ", &save); p != NULL;
		    p = strtok_r(NULL, " ", &save)) {
			if (k < 6)
				fld[k++] = p;
			else if (!dash && strcmp(p, "-") == 0)
				dash = true;
			else if (!dash) {
				size_t ol = strlen(opt);

				snprintf(opt + ol, sizeof(opt) - ol, "%s%s",
				    ol ? " " : "", p);
			} else if (t < 3)
				tail[t++] = p;
		}
		if (k < 6 || t < 2 || (o = json_object()) == NULL)
			continue;
		set_int(o, "id", strtoll(fld[0], NULL, 10));
		set_int(o, "parent", strtoll(fld[1], NULL, 10));
		set_str(o, "dev", fld[2]);
		unescape_octal(fld[3]);
		set_str(o, "root", fld[3]);
		unescape_octal(fld[4]);
		set_str(o, "mount_point", fld[4]);
		set_str(o, "options", fld[5]);
		if (opt[0] != '\0')
			set_str(o, "propagation", opt);
		set_str(o, "fstype", tail[0]);
		unescape_octal(tail[1]);
		set_str(o, "source", tail[1]);
		if (t > 2)
			set_str(o, "super_options", tail[2]);
		if (!art_push(b, o, 0))
			break;
	}
	fclose(f);
}

/* ---- 07 nftables: libnftnl ------------------------------------------ */

enum nft_kind { NK_TABLE, NK_CHAIN, NK_SET, NK_RULE };

struct nft_ctx {
	struct art *b;
	struct nftnl_set **sets;
	size_t nsets;
	struct nftnl_set *cur;		/* whose elements are being dumped */
	unsigned elem_msgs;
	uint32_t gen;
	bool have_gen;
	bool sets_cut;
	bool elems_cut;
};

static const char *
nf_family(uint32_t f)
{
	switch (f) {
	case NFPROTO_INET:
		return "inet";
	case NFPROTO_IPV4:
		return "ip";
	case NFPROTO_ARP:
		return "arp";
	case NFPROTO_NETDEV:
		return "netdev";
	case NFPROTO_BRIDGE:
		return "bridge";
	case NFPROTO_IPV6:
		return "ip6";
	default:
		return "unknown";
	}
}

/* An object in libnftnl's own text form, bounded by NFT_TEXT_MAX. */
static json_t *
nft_text(enum nft_kind kind, const void *obj, bool *cut)
{
	size_t size = 4096;
	json_t *s = NULL;
	char *buf;
	int n = -1;

	*cut = false;
	for (;;) {
		if ((buf = malloc(size)) == NULL)
			return NULL;
		switch (kind) {
		case NK_TABLE:
			n = nftnl_table_snprintf(buf, size, obj,
			    NFTNL_OUTPUT_DEFAULT, 0);
			break;
		case NK_CHAIN:
			n = nftnl_chain_snprintf(buf, size, obj,
			    NFTNL_OUTPUT_DEFAULT, 0);
			break;
		case NK_SET:
			n = nftnl_set_snprintf(buf, size, obj,
			    NFTNL_OUTPUT_DEFAULT, 0);
			break;
		case NK_RULE:
			n = nftnl_rule_snprintf(buf, size, obj,
			    NFTNL_OUTPUT_DEFAULT, 0);
			break;
		}
		if (n < 0) {
			free(buf);
			return NULL;
		}
		if ((size_t)n < size - 1 || size >= NFT_TEXT_MAX)
			break;
		free(buf);
		size *= 4;
	}
	if ((size_t)n >= size) {
		n = (int)size - 1;
		*cut = true;
	}
	buf[n] = '\0';
	s = kk_json_str(buf);
	free(buf);
	return s;
}

static void
set_nft_text(json_t *o, enum nft_kind kind, const void *obj)
{
	bool cut;

	json_object_set_new(o, "text", nft_text(kind, obj, &cut));
	if (cut)
		set_bool(o, "text_cut", true);
}

static int
nft_gen_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_ctx *x = data;
	struct nftnl_gen *g = nftnl_gen_alloc();

	if (g == NULL)
		return MNL_CB_OK;
	if (nftnl_gen_nlmsg_parse(nlh, g) >= 0 &&
	    nftnl_gen_is_set(g, NFTNL_GEN_ID)) {
		x->gen = nftnl_gen_get_u32(g, NFTNL_GEN_ID);
		x->have_gen = true;
	}
	nftnl_gen_free(g);
	return MNL_CB_OK;
}

static int
nft_table_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_ctx *x = data;
	struct nftnl_table *t = nftnl_table_alloc();
	json_t *o;

	if (t == NULL)
		return MNL_CB_STOP;
	if (nftnl_table_nlmsg_parse(nlh, t) < 0 ||
	    (o = json_object()) == NULL) {
		nftnl_table_free(t);
		return MNL_CB_OK;
	}
	set_str(o, "kind", "table");
	set_str(o, "family", nf_family(nftnl_table_get_u32(t,
	    NFTNL_TABLE_FAMILY)));
	set_str(o, "name", nftnl_table_get_str(t, NFTNL_TABLE_NAME));
	set_int(o, "flags", nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS));
	set_nft_text(o, NK_TABLE, t);
	nftnl_table_free(t);
	return art_push(x->b, o, 0) ? MNL_CB_OK : MNL_CB_STOP;
}

static int
nft_chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_ctx *x = data;
	struct nftnl_chain *ch = nftnl_chain_alloc();
	json_t *o;

	if (ch == NULL)
		return MNL_CB_STOP;
	if (nftnl_chain_nlmsg_parse(nlh, ch) < 0 ||
	    (o = json_object()) == NULL) {
		nftnl_chain_free(ch);
		return MNL_CB_OK;
	}
	set_str(o, "kind", "chain");
	set_str(o, "family", nf_family(nftnl_chain_get_u32(ch,
	    NFTNL_CHAIN_FAMILY)));
	set_str(o, "table", nftnl_chain_get_str(ch, NFTNL_CHAIN_TABLE));
	set_str(o, "name", nftnl_chain_get_str(ch, NFTNL_CHAIN_NAME));
	set_nft_text(o, NK_CHAIN, ch);
	nftnl_chain_free(ch);
	return art_push(x->b, o, 0) ? MNL_CB_OK : MNL_CB_STOP;
}

/* Sets are kept until their elements have been fetched. */
static int
nft_set_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_ctx *x = data;
	struct nftnl_set *s;

	if (x->nsets == MAX_NFT_SETS) {
		x->sets_cut = true;
		return MNL_CB_OK;
	}
	if ((s = nftnl_set_alloc()) == NULL)
		return MNL_CB_STOP;
	if (nftnl_set_nlmsg_parse(nlh, s) < 0) {
		nftnl_set_free(s);
		return MNL_CB_OK;
	}
	x->sets[x->nsets++] = s;
	return MNL_CB_OK;
}

static int
nft_elem_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_ctx *x = data;

	/* a set of millions of elements is kept to its first messages */
	if (++x->elem_msgs > MAX_NFT_ELEM_MSGS) {
		x->elems_cut = true;
		return MNL_CB_STOP;
	}
	nftnl_set_elems_nlmsg_parse(nlh, x->cur);
	return MNL_CB_OK;
}

static int
count_elem(struct nftnl_set_elem *e, void *data)
{
	(*(size_t *)data)++;
	return 0;
}

static int
nft_rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_ctx *x = data;
	struct nftnl_rule *r = nftnl_rule_alloc();
	json_t *o;

	if (r == NULL)
		return MNL_CB_STOP;
	if (nftnl_rule_nlmsg_parse(nlh, r) < 0 ||
	    (o = json_object()) == NULL) {
		nftnl_rule_free(r);
		return MNL_CB_OK;
	}
	set_str(o, "kind", "rule");
	set_str(o, "family", nf_family(nftnl_rule_get_u32(r,
	    NFTNL_RULE_FAMILY)));
	set_str(o, "table", nftnl_rule_get_str(r, NFTNL_RULE_TABLE));
	set_str(o, "chain", nftnl_rule_get_str(r, NFTNL_RULE_CHAIN));
	set_int(o, "handle", (long long)nftnl_rule_get_u64(r,
	    NFTNL_RULE_HANDLE));
	set_nft_text(o, NK_RULE, r);
	nftnl_rule_free(r);
	return art_push(x->b, o, 0) ? MNL_CB_OK : MNL_CB_STOP;
}

/* The ruleset text the caller already has, one item per line. */
static void
nft_from_text(struct art *b, const char *text)
{
	const char *p = text, *nl;
	size_t n;

	b->method = "caller";
	while (*p != '\0' && art_alive(b)) {
		nl = strchr(p, '\n');
		n = nl ? (size_t)(nl - p) : strlen(p);
		if (!art_push(b, kk_json_strn(p, n), 0))
			break;
		p += n;
		if (*p == '\n')
			p++;
	}
}

static void
collect_nftables(struct collector *c, struct art *b)
{
	static const struct {
		uint16_t type;
		mnl_cb_t cb;
		const char *what;
	} dumps[] = {
		{ NFT_MSG_GETTABLE, nft_table_cb, "tables" },
		{ NFT_MSG_GETCHAIN, nft_chain_cb, "chains" },
		{ NFT_MSG_GETSET, nft_set_cb, "sets" },
		{ NFT_MSG_GETRULE, nft_rule_cb, "rules" },
	};
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct nft_ctx x;
	uint32_t gen0 = 0;
	bool have_gen0;
	size_t i, k, nelem;
	int err;

	if (c->nft_text != NULL) {
		nft_from_text(b, c->nft_text);
		return;
	}
	memset(&x, 0, sizeof(x));
	x.b = b;
	if ((x.sets = calloc(MAX_NFT_SETS, sizeof(*x.sets))) == NULL) {
		art_error(b, "out of memory");
		return;
	}
	/* the generation before and after says whether it changed meanwhile */
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, NFPROTO_UNSPEC,
	    NLM_F_ACK, 0);
	if ((err = nl_dump(c, NETLINK_NETFILTER, nlh, nft_gen_cb, &x)) < 0) {
		nl_failed(b, "generation", err);
		goto out;
	}
	have_gen0 = x.have_gen;
	gen0 = x.gen;
	for (i = 0; i < sizeof(dumps) / sizeof(dumps[0]) && art_alive(b);
	    i++) {
		nlh = nftnl_nlmsg_build_hdr(buf, dumps[i].type, NFPROTO_UNSPEC,
		    NLM_F_DUMP, 0);
		if ((err = nl_dump(c, NETLINK_NETFILTER, nlh, dumps[i].cb,
		    &x)) < 0)
			nl_failed(b, dumps[i].what, err);
		if (dumps[i].type != NFT_MSG_GETSET)
			continue;
		/* each set with its elements, then let it go */
		for (k = 0; k < x.nsets; k++) {
			struct nftnl_set *s = x.sets[k];
			json_t *o;

			if (art_alive(b)) {
				nlh = nftnl_nlmsg_build_hdr(buf,
				    NFT_MSG_GETSETELEM,
				    (uint16_t)nftnl_set_get_u32(s,
				    NFTNL_SET_FAMILY), NLM_F_DUMP, 0);
				nftnl_set_elems_nlmsg_build_payload(nlh, s);
				x.cur = s;
				x.elem_msgs = 0;
				err = nl_dump(c, NETLINK_NETFILTER, nlh,
				    nft_elem_cb, &x);
				if (err < 0)
					nl_failed(b, "set elements", err);
				if ((o = json_object()) != NULL) {
					set_str(o, "kind", "set");
					set_str(o, "family", nf_family(
					    nftnl_set_get_u32(s,
					    NFTNL_SET_FAMILY)));
					set_str(o, "table", nftnl_set_get_str(s,
					    NFTNL_SET_TABLE));
					set_str(o, "name", nftnl_set_get_str(s,
					    NFTNL_SET_NAME));
					nelem = 0;
					nftnl_set_elem_foreach(s, count_elem,
					    &nelem);
					set_int(o, "elements",
					    (long long)nelem);
					set_nft_text(o, NK_SET, s);
					art_push(b, o, 0);
				}
			}
			nftnl_set_free(s);
			x.sets[k] = NULL;
		}
		x.nsets = 0;
	}
	if (x.sets_cut)
		art_cut(b, "at most %d sets", MAX_NFT_SETS);
	if (x.elems_cut)
		art_note(b, "elements of large sets cut after %d messages",
		    MAX_NFT_ELEM_MSGS);
	if (have_gen0) {
		set_int(b->extra, "generation", gen0);
		x.have_gen = false;
		nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN,
		    NFPROTO_UNSPEC, NLM_F_ACK, 0);
		if (nl_dump(c, NETLINK_NETFILTER, nlh, nft_gen_cb, &x) == 0 &&
		    x.have_gen && x.gen != gen0)
			art_note(b, "ruleset changed during the dump "
			    "(generation %u to %u)", gen0, x.gen);
	}
out:
	for (k = 0; k < x.nsets; k++)
		nftnl_set_free(x.sets[k]);
	free(x.sets);
}

/* ---- 08 journal: sd-journal ----------------------------------------- */

static json_t *
journal_entry(sd_journal *j)
{
	static const char *const fields[] = {
		"_PID", "_COMM", "SYSLOG_IDENTIFIER", "PRIORITY", "MESSAGE",
	};
	const void *d;
	char when[48];
	uint64_t usec;
	size_t len, fl, i;
	json_t *o;

	if ((o = json_object()) == NULL)
		return NULL;
	if (sd_journal_get_realtime_usec(j, &usec) >= 0) {
		set_int(o, "__REALTIME_TIMESTAMP", (long long)usec);
		rfc3339_usec((time_t)(usec / 1000000), (long)(usec % 1000000),
		    when, sizeof(when));
		set_str(o, "time", when);
	}
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		fl = strlen(fields[i]);
		if (sd_journal_get_data(j, fields[i], &d, &len) < 0 ||
		    len <= fl || ((const char *)d)[fl] != '=')
			continue;
		/* "FIELD=value" */
		len -= fl + 1;
		if (len > MESSAGE_MAX) {
			len = MESSAGE_MAX;
			set_bool(o, "cut", true);
		}
		json_object_set_new(o, fields[i],
		    kk_json_strn((const char *)d + fl + 1, len));
	}
	return o;
}

static void
collect_journal(struct collector *c, struct art *b)
{
	sd_journal *j = NULL;
	json_t *chrono;
	unsigned n;
	size_t i;
	int r;

	r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
	if (r < 0) {
		art_error(b, "sd_journal_open: %s", strerror(-r));
		return;
	}
	/* big fields are not decompressed beyond what we keep */
	sd_journal_set_data_threshold(j, MESSAGE_MAX + 64);
	if ((r = sd_journal_seek_tail(j)) < 0) {
		art_error(b, "sd_journal_seek_tail: %s", strerror(-r));
		goto out;
	}
	for (n = 0; n < c->journal_entries && art_alive(b); n++) {
		r = sd_journal_previous(j);
		if (r < 0) {
			art_error(b, "sd_journal_previous: %s", strerror(-r));
			break;
		}
		if (r == 0)
			break;
		if (!art_push(b, journal_entry(j), 0))
			break;
	}
	if (b->n == 0 && b->error[0] == '\0' && !b->timeout) {
		/* containers often have no journal: say so, it is no failure */
		if (access("/var/log/journal", F_OK) < 0 &&
		    access("/run/log/journal", F_OK) < 0)
			art_note(b, "no journal on this system "
			    "(neither /var/log/journal nor /run/log/journal)");
		else
			art_note(b, "the journal has no entries");
	}
	/* read newest first (they survive a cut); kept oldest first */
	if (b->n > 1 && (chrono = json_array()) != NULL) {
		for (i = json_array_size(b->items); i > 0; i--)
			json_array_append(chrono, json_array_get(b->items,
			    i - 1));
		if (json_array_size(chrono) == json_array_size(b->items)) {
			json_decref(b->items);
			b->items = chrono;
		} else {
			json_decref(chrono);
		}
	}
out:
	sd_journal_close(j);
}

/* ---- 09 os-release -------------------------------------------------- */

/* Shell-like value: "..." or '...' with \-escapes, or bare. */
static void
os_release_value(char *v)
{
	char *w = v, q = 0;

	if (*v == '"' || *v == '\'')
		q = *v++;
	for (; *v != '\0' && *v != q; v++) {
		if (*v == '\\' && q != '\'' && v[1] != '\0')
			v++;
		*w++ = *v;
	}
	*w = '\0';
}

static void
collect_os_release(struct collector *c, struct art *b)
{
	static const char *const paths[] = { "/etc/os-release",
	    "/usr/lib/os-release" };
	char line[TEXT_LINE], *eq, *k;
	unsigned nlines = 0;
	const char *path = NULL;
	FILE *f = NULL;
	json_t *o;
	size_t i;
	int err = -ENOENT;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]) && f == NULL; i++)
		if ((f = fopen_regular(paths[i], &err)) != NULL)
			path = paths[i];
	if (f == NULL) {
		art_error(b, "%s: %s", paths[0], strerror(-err));
		return;
	}
	json_object_set_new(b->extra, "path", json_string(path));
	while (art_alive(b) && read_line(f, line, sizeof(line))) {
		if (++nlines > MAX_OS_RELEASE) {
			art_cut(b, "at most %d lines", MAX_OS_RELEASE);
			break;
		}
		for (k = line; *k == ' ' || *k == '\t'; k++)
			;
		if (*k == '#' || (eq = strchr(k, '=')) == NULL)
			continue;
		*eq = '\0';
		os_release_value(eq + 1);
		if ((o = json_object()) == NULL)
			break;
		set_str(o, "key", k);
		set_str(o, "value", eq + 1);
		if (!art_push(b, o, 0))
			break;
	}
	fclose(f);
}

/* ---- 10 packages: dpkg status --------------------------------------- */

struct pkg {
	char name[256];
	char version[256];
	char arch[64];
	char status[128];
};

/* Anything with files on disk: not "not-installed", not "config-files". */
static bool
pkg_present(const char *status)
{
	const char *s = strrchr(status, ' ');

	s = s ? s + 1 : status;
	return s[0] != '\0' && strcmp(s, "not-installed") != 0 &&
	    strcmp(s, "config-files") != 0;
}

static bool
pkg_flush(struct art *b, struct pkg *p)
{
	json_t *o;
	bool ok = true;

	if (p->name[0] != '\0' && pkg_present(p->status)) {
		if ((o = json_object()) == NULL)
			return false;
		set_str(o, "package", p->name);
		set_str(o, "version", p->version);
		set_str(o, "arch", p->arch);
		set_str(o, "status", p->status);
		ok = art_push(b, o, 0);
	}
	memset(p, 0, sizeof(*p));
	return ok;
}

static void
pkg_field(char *dst, size_t size, const char *v)
{
	size_t n;

	while (*v == ' ')
		v++;
	/* longer values are cut: a field of ours, not the package's */
	n = strnlen(v, size - 1);
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static void
collect_packages(struct collector *c, struct art *b)
{
	static const char path[] = "/var/lib/dpkg/status";
	char line[TEXT_LINE];
	unsigned nlines = 0;
	struct pkg p;
	FILE *f;
	int err;

	if ((f = fopen_regular(path, &err)) == NULL) {
		art_error(b, "%s: %s", path, err == -ENOENT ?
		    "no dpkg database" : strerror(-err));
		return;
	}
	json_object_set_new(b->extra, "path", json_string(path));
	memset(&p, 0, sizeof(p));
	while (art_alive(b) && read_line(f, line, sizeof(line))) {
		if (++nlines > MAX_LINES) {
			art_cut(b, "at most %u lines", MAX_LINES);
			break;
		}
		if (line[0] == '\0') {
			if (!pkg_flush(b, &p))
				break;
		} else if (strncmp(line, "Package:", 8) == 0) {
			pkg_field(p.name, sizeof(p.name), line + 8);
		} else if (strncmp(line, "Version:", 8) == 0) {
			pkg_field(p.version, sizeof(p.version), line + 8);
		} else if (strncmp(line, "Architecture:", 13) == 0) {
			pkg_field(p.arch, sizeof(p.arch), line + 13);
		} else if (strncmp(line, "Status:", 7) == 0) {
			pkg_field(p.status, sizeof(p.status), line + 7);
		}
	}
	if (!b->cut && !b->timeout)
		pkg_flush(b, &p);
	fclose(f);
}

/* ---- the collection ------------------------------------------------- */

static const struct source sources[] = {
	{ "collect/01-routes.json", "rtnetlink", MAX_NET_ITEMS,
	    collect_routes },
	{ "collect/02-sockets.json", "sock_diag", MAX_SOCKETS,
	    collect_sockets },
	{ "collect/03-processes.json", "procfs", MAX_PROCS,
	    collect_processes },
	{ "collect/04-users.json", "utmp+sd-login", MAX_UTMP + MAX_SESSIONS,
	    collect_users },
	{ "collect/05-kernel.json", "procfs", MAX_MODULES + 2,
	    collect_kernel },
	{ "collect/06-mounts.json", "procfs", MAX_MOUNTS, collect_mounts },
	{ "collect/07-nftables.json", "libnftnl", MAX_NFT_OBJECTS,
	    collect_nftables },
	{ "collect/08-journal.json", "sd-journal", MAX_JOURNAL,
	    collect_journal },
	{ "collect/09-os-release.json", "os-release", MAX_OS_RELEASE,
	    collect_os_release },
	{ "collect/10-packages.json", "dpkg-status", MAX_PACKAGES,
	    collect_packages },
};
#define NSOURCES	(sizeof(sources) / sizeof(sources[0]))

static time_t
boot_time(void)
{
	char line[256];
	time_t t = 0;
	FILE *f;

	if ((f = fopen("/proc/stat", "re")) == NULL)
		return 0;
	while (read_line(f, line, sizeof(line)))
		if (strncmp(line, "btime ", 6) == 0) {
			t = (time_t)strtoll(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return t;
}

static void
collector_init(struct collector *c, int dirfd,
    const struct kk_collect_limits *lim)
{
	unsigned timeout_ms = lim && lim->timeout_ms ? lim->timeout_ms :
	    DEF_TIMEOUT_MS;

	memset(c, 0, sizeof(*c));
	c->dirfd = dirfd;
	c->deadline = now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	c->max_bytes = lim && lim->max_bytes ? lim->max_bytes : DEF_MAX_BYTES;
	c->journal_entries = lim && lim->journal_entries ?
	    lim->journal_entries : DEF_JOURNAL;
	if (c->journal_entries > MAX_JOURNAL)
		c->journal_entries = MAX_JOURNAL;
	c->nft_text = lim ? lim->nft_ruleset_text : NULL;
	c->seq = (uint32_t)time(NULL);
	c->btime = boot_time();
	c->hz = sysconf(_SC_CLK_TCK);
	if (c->hz <= 0)
		c->hz = 100;
}

/*
 * What artifact i may take: what is left, minus a floor kept for each
 * artifact still to come (if there is that much left; else an equal part).
 */
static uint64_t
share_of(const struct collector *c, size_t i)
{
	uint64_t left = NSOURCES - i - 1;
	uint64_t floor_each = c->max_bytes / (2 * NSOURCES);
	uint64_t remaining = c->max_bytes > c->used ?
	    c->max_bytes - c->used : 0;
	uint64_t reserve = left * floor_each;

	return remaining > reserve ? remaining - reserve :
	    remaining / (left + 1);
}

static int
art_init(struct art *b, struct collector *c, const struct source *src,
    uint64_t share)
{
	memset(b, 0, sizeof(*b));
	b->c = c;
	b->method = src->method;
	b->max_items = src->max_items;
	b->share = share;
	b->cap = share > ENVELOPE_RESERVE ? share - ENVELOPE_RESERVE : 0;
	rfc3339_now(b->collected, sizeof(b->collected));
	b->items = json_array();
	b->extra = json_object();
	if (b->items == NULL || b->extra == NULL) {
		json_decref(b->items);
		json_decref(b->extra);
		return -ENOMEM;
	}
	return 0;
}

static void
art_free(struct art *b)
{
	json_decref(b->items);
	json_decref(b->extra);
	b->items = b->extra = NULL;
}

/*
 * Writes the artifact and appends it to arts.  The error that makes it
 * incomplete goes into the document and into the artifact.  Returns a
 * hard error (writing, appending) only.
 */
static int
art_write(struct art *b, const char *rel, struct kk_artifacts *arts)
{
	struct kk_artifact a;
	char msg[600];
	size_t len = 0;
	json_t *doc;
	int err;

	msg[0] = '\0';
	if (!b->started)
		len += (size_t)snprintf(msg, sizeof(msg),
		    "timeout: not collected");
	else if (b->timeout)
		len += (size_t)snprintf(msg, sizeof(msg),
		    "timeout after %zu items", b->n);
	else if (b->cut)
		len += (size_t)snprintf(msg, sizeof(msg),
		    "truncated at %zu items: %s", b->n, b->why);
	if (b->error[0] != '\0' && len < sizeof(msg))
		snprintf(msg + len, sizeof(msg) - len, "%s%s", len ? "; " : "",
		    b->error);

	if ((doc = json_object()) == NULL)
		return -ENOMEM;
	json_object_set_new(doc, "collected", json_string(b->collected));
	json_object_set_new(doc, "source", json_string(b->method));
	json_object_set(doc, "items", b->items);
	json_object_set_new(doc, "truncated", json_boolean(b->cut ||
	    b->timeout));
	if (msg[0] != '\0')
		json_object_set_new(doc, "error", kk_json_str(msg));
	json_object_update(doc, b->extra);
	if (json_object_get(doc, "items") == NULL) {
		json_decref(doc);
		return -ENOMEM;
	}

	memset(&a, 0, sizeof(a));
	err = kk_artifact_write_json(b->c->dirfd, rel, doc, b->method, &a);
	json_decref(doc);
	/* a failed write already says why; else ours */
	if (msg[0] != '\0' && !a.incomplete) {
		a.incomplete = true;
		snprintf(a.error, sizeof(a.error), "%s", msg);
	}
	b->c->used += a.size;
	/* the file exists (maybe partly): the manifest must name it */
	if (a.sha256[0] != '\0') {
		int e2 = kk_artifacts_add(arts, &a);

		if (err == 0)
			err = e2;
	}
	json_decref(a.gaps);
	return err;
}

int
kk_collect(int dirfd, const struct kk_collect_limits *lim,
    struct kk_artifacts *arts, char *err, size_t errlen)
{
	struct collector c;
	struct art b;
	size_t i, first = arts->n, nbad = 0;
	int r, ret = 0;

	if (errlen > 0)
		err[0] = '\0';
	collector_init(&c, dirfd, lim);
	for (i = 0; i < NSOURCES; i++) {
		if ((r = art_init(&b, &c, &sources[i], share_of(&c, i))) < 0) {
			if (ret == 0) {
				ret = r;
				snprintf(err, errlen, "%s: %s", sources[i].rel,
				    strerror(-r));
			}
			continue;
		}
		/* one not reached in time is still written, saying so */
		if (art_alive(&b)) {
			b.started = true;
			sources[i].fn(&c, &b);
		}
		r = art_write(&b, sources[i].rel, arts);
		art_free(&b);
		if (r < 0 && ret == 0) {
			ret = r;
			snprintf(err, errlen, "%s: %s", sources[i].rel,
			    strerror(-r));
		}
	}
	if (ret == 0) {
		/* success, but the caller may want to log what is missing */
		const struct kk_artifact *bad = NULL;

		for (i = first; i < arts->n; i++)
			if (arts->v[i].incomplete) {
				if (bad == NULL)
					bad = &arts->v[i];
				nbad++;
			}
		if (bad != NULL)
			snprintf(err, errlen, "%zu of %zu artifacts "
			    "incomplete, first %s: %s", nbad, NSOURCES,
			    bad->path, bad->error);
	}
	return ret;
}
