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
 * One file of this folder per source: net.c (01), sockets.c (02),
 * proc.c (03), users.c (04), sys.c (05, 06, 09), nft.c (07), journal.c
 * (08), pkg.c (10); they share util.c and netlink.c.  This file is the
 * driver: the order, the bounds and the artifact being built.
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
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collect.h"

/* ---- the artifact being built --------------------------------------- */

void
col_art_error(struct art *b, const char *fmt, ...)
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
void
col_art_note(struct art *b, const char *fmt, ...)
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

void
col_art_cut(struct art *b, const char *fmt, ...)
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
bool
col_art_alive(struct art *b)
{
	if (b->cut || b->timeout)
		return false;
	if (col_expired(b->c)) {
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
bool
col_art_push(struct art *b, json_t *item, size_t reserve)
{
	size_t len;

	if (item == NULL) {
		col_art_error(b, "out of memory");
		return false;
	}
	if (!col_art_alive(b))
		goto drop;
	if (b->n >= b->max_items) {
		col_art_cut(b, "at most %zu items", b->max_items);
		goto drop;
	}
	/* the size this item adds to the document, the comma included */
	len = json_dumpb(item, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER |
	    JSON_ENCODE_ANY);
	if (len == 0) {
		col_art_error(b, "unserializable item");
		goto drop;
	}
	len += 1 + reserve;
	if (b->bytes + len > b->cap) {
		col_art_cut(b, "size share of %llu bytes",
		    (unsigned long long)b->share);
		goto drop;
	}
	if (json_array_append_new(b->items, item) < 0) {
		col_art_error(b, "out of memory");
		return false;
	}
	b->bytes += len;
	b->n++;
	return true;
drop:
	json_decref(item);
	return false;
}

/*
 * The next line of f into buf while the artifact takes items and at most
 * max lines have been read (*nlines counts them): reading one more cuts
 * the artifact ("at most MAX what").
 */
bool
col_art_line(struct art *b, FILE *f, char *buf, size_t size,
    unsigned *nlines, unsigned max, const char *what)
{
	if (!col_art_alive(b) || !col_read_line(f, buf, size))
		return false;
	if (++*nlines > max) {
		col_art_cut(b, "at most %u %s", max, what);
		return false;
	}
	return true;
}

/* Room for bytes more, added to items already pushed (not reserved). */
bool
col_art_grow(struct art *b, size_t bytes)
{
	if (b->bytes + bytes > b->cap)
		return false;
	b->bytes += bytes;
	return true;
}

/* ---- the collection ------------------------------------------------- */

struct source {
	const char *rel;
	const char *method;
	size_t max_items;
	void (*fn)(struct collector *, struct art *);
};

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
	while (col_read_line(f, line, sizeof(line)))
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
	c->deadline = col_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	c->max_bytes = lim && lim->max_bytes ? lim->max_bytes : DEF_MAX_BYTES;
	c->journal_entries = lim && lim->journal_entries ?
	    lim->journal_entries : DEF_JOURNAL;
	if (c->journal_entries > MAX_JOURNAL)
		c->journal_entries = MAX_JOURNAL;
	c->nft_text = lim ? lim->nft_ruleset_text : NULL;
	c->part = lim ? lim->part : KK_COLLECT_ALL;
	c->seq = (uint32_t)time(NULL);
	c->btime = boot_time();
	c->hz = sysconf(_SC_CLK_TCK);
	if (c->hz <= 0)
		c->hz = 100;
}

/* Is source i one this collection takes (c->part)? */
static bool
in_part(const struct collector *c, size_t i)
{
	bool nft = sources[i].fn == collect_nftables;

	switch (c->part) {
	case KK_COLLECT_NO_NFT:
		return !nft;
	case KK_COLLECT_NFT_ONLY:
		return nft;
	default:
		return true;
	}
}

/*
 * What artifact i may take: what is left, minus a floor kept for each
 * artifact still to come (if there is that much left; else an equal part).
 */
static uint64_t
share_of(const struct collector *c, size_t i)
{
	uint64_t left = 0;
	uint64_t floor_each = c->max_bytes / (2 * NSOURCES);
	size_t k;

	for (k = i + 1; k < NSOURCES; k++)
		left += in_part(c, k);
	/* the ruleset comes after all of these, by the next worker */
	if (c->part == KK_COLLECT_NO_NFT)
		left++;
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
	col_rfc3339_now(b->collected, sizeof(b->collected));
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
		/*
		 * Right after the ruleset, however it went (even an
		 * artifact that could not begin): fail closed, no more text
		 * of others' read with what the hook takes away
		 */
		if (i > 0 && sources[i - 1].fn == collect_nftables &&
		    in_part(&c, i - 1) && lim != NULL &&
		    lim->after_nftables != NULL &&
		    (r = lim->after_nftables()) < 0) {
			snprintf(err, errlen, "stopped after %s: %s",
			    sources[i - 1].rel, strerror(-r));
			return r;
		}
		if (!in_part(&c, i))
			continue;
		if ((r = art_init(&b, &c, &sources[i], share_of(&c, i))) < 0) {
			if (ret == 0) {
				ret = r;
				snprintf(err, errlen, "%s: %s", sources[i].rel,
				    strerror(-r));
			}
			continue;
		}
		/* one not reached in time is still written, saying so */
		if (col_art_alive(&b)) {
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
			    "incomplete, first %s: %s", nbad, arts->n - first,
			    bad->path, bad->error);
	}
	return ret;
}
