/*
 * IOC block lists: parsed, normalised, kept in force, and kept on disk
 * (see blocklist.h).
 *
 * A list is refused whole, never applied in part: the first entry that
 * is not an address, a canonical CIDR or a range is named, and so is a
 * /0 (a typo that would cut the host off everything) and a management
 * peer (a list must not cut the CSIRT's channel: isolation does that,
 * with its own exemptions).
 *
 * The file of a list holds its normalised ranges as raw keys, not its
 * text: a restore at boot checks that they are as seal left them (one
 * pass, no sort, no merge) and that they make the elements digest the
 * file's hashed text names, and never normalises them again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <jansson.h>

#include "blocklist.h"
#include "sha256.h"
#include "wire.h"

#define FILE_MAGIC	"kakuri-blocklist 3\n"
#define FILE_MAGIC_V2	"kakuri-blocklist 2\n"	/* still read: no "signed" */
#define FILE_MAGIC_V1	"kakuri-blocklist 1\n"	/* still read */
#define FILE_SUFFIX	".list"
/* the largest file: a list's ranges of both families, with its header */
#define FILE_MAX	((size_t)KK_NFT_RANGES_MAX * 2 * (4 + 16) + 4096)

bool
kd_blocklist_name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > KD_BLOCK_NAME_MAX || s[0] < 'a' || s[0] > 'z')
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

static const char *const dir_names[] = { [KK_NFT_BLOCK_OUT] = "out",
	[KK_NFT_BLOCK_IN] = "in",
	[KK_NFT_BLOCK_OUT | KK_NFT_BLOCK_IN] = "both" };

const char *
kd_blocklist_dir_name(unsigned dir)
{
	return dir > 0 && dir < 4 ? dir_names[dir] : "?";
}

static int
dir_parse(const char *s, unsigned *dir)
{
	unsigned i;

	for (i = 1; i < 4; i++)
		if (strcmp(s, dir_names[i]) == 0) {
			*dir = i;
			return 0;
		}
	return -EINVAL;
}

void
kd_blocklist_free(struct kd_blocklist *b)
{
	if (b == NULL)
		return;
	kk_nft_ranges_free(&b->r[0]);
	kk_nft_ranges_free(&b->r[1]);
	free(b);
}

static struct kd_blocklist *
blocklist_new(void)
{
	struct kd_blocklist *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	kk_nft_ranges_init(&b->r[0], AF_INET);
	kk_nft_ranges_init(&b->r[1], AF_INET6);
	return b;
}

size_t
kd_blocklist_ranges(const struct kd_blocklist *b)
{
	return b->r[0].n + b->r[1].n;
}

/*
 * NAME_vVERSION_F, F the family: 4 and 6 for the interval sets, P and Q
 * for their port sets; a letter after it for each time peers were taken
 * out (spared), so that the new sets have names of their own.  At most
 * 16 + 2 + 10 + 2 + 1 characters: within KK_NFT_NAME_MAX, the port sets'
 * too (a name one longer than the interval set's, as it was, did not fit:
 * a 16-letter list at a 10-digit version failed every table build once
 * spared).
 */
int
kd_blocklist_setname(const struct kd_blocklist *b, int i, bool ports,
    char *buf, size_t len)
{
	static const char fam[2][2] = { { '4', 'P' }, { '6', 'Q' } };
	int n = b->spared == 0 ? snprintf(buf, len, "%s_v%u_%c", b->name,
	    b->version, fam[i != 0][ports]) : snprintf(buf, len,
	    "%s_v%u_%c%c", b->name, b->version, fam[i != 0][ports],
	    'a' + (int)((b->spared - 1) % 26));

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int
cmp_port(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

static int
ports_parse(const json_t *v, struct kd_blocklist *b, char *why, size_t len)
{
	json_int_t p;
	size_t i, k;
	json_t *e;

	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > KK_NFT_MAX_BLOCK_PORTS) {
		kk_explain(why, len, "ports must be a list of 1 to %d port "
		    "numbers", KK_NFT_MAX_BLOCK_PORTS);
		return -EINVAL;
	}
	json_array_foreach(v, i, e) {
		p = json_is_integer(e) ? json_integer_value(e) : 0;
		if (p < 1 || p > 65535) {
			kk_explain(why, len, "port %zu is not a port number",
			    i);
			return -EINVAL;
		}
		b->ports[b->nports++] = (uint16_t)p;
	}
	qsort(b->ports, b->nports, sizeof(b->ports[0]), cmp_port);
	for (i = 1, k = 1; i < b->nports; i++)
		if (b->ports[i] != b->ports[k - 1])
			b->ports[k++] = b->ports[i];
	b->nports = k;
	return 0;
}

/* One entry, into the ranges of its family; why names it on failure. */
static int
entry_add(struct kd_blocklist *b, size_t i, const char *s, char *why,
    size_t len)
{
	const char *slash = strrchr(s, '/');
	int err;

	if (slash != NULL && strcmp(slash, "/0") == 0) {
		kk_explain(why, len, "entry %zu (%.64s): a /0 blocks "
		    "everything", i, s);
		return -EINVAL;
	}
	/*
	 * Only IPv6 text has a colon: the family is known before parsing,
	 * and an IPv6 entry is not parsed three times (as IPv4, to tell
	 * the family, as IPv6).
	 */
	err = kk_nft_ranges_add(&b->r[strchr(s, ':') != NULL ? 1 : 0], s);
	if (err == -E2BIG) {
		kk_explain(why, len, "more than %d ranges of one family",
		    KK_NFT_RANGES_MAX);
		return err;
	}
	if (err == -ERANGE)
		kk_explain(why, len, "entry %zu (%.64s): its first address is "
		    "after its last", i, s);
	else if (err < 0 && slash != NULL)
		kk_explain(why, len, "entry %zu (%.64s): not a CIDR with its "
		    "host bits clear", i, s);
	else if (err < 0)
		kk_explain(why, len, "entry %zu (%.64s): not an IP address, "
		    "CIDR or range", i, s);
	return err == -ENOMEM ? err : err < 0 ? -EINVAL : 0;
}

static int
addresses_parse(const json_t *v, struct kd_blocklist *b, char *why,
    size_t len)
{
	size_t i, n6 = 0;
	json_t *e;
	int err;

	if (!json_is_array(v) || json_array_size(v) == 0) {
		kk_explain(why, len, "addresses must be a non-empty list "
		    "(unblock removes a list)");
		return -EINVAL;
	}
	if (json_array_size(v) > KD_BLOCK_ENTRIES_MAX) {
		kk_explain(why, len, "%zu entries: at most %d in one list",
		    json_array_size(v), KD_BLOCK_ENTRIES_MAX);
		return -E2BIG;
	}
	/* each family's room at once: the entries written once, in place */
	json_array_foreach(v, i, e)
		if (json_is_string(e) && strchr(json_string_value(e), ':'))
			n6++;
	if ((err = kk_nft_ranges_reserve(&b->r[0], json_array_size(v) -
	    n6)) < 0 || (err = kk_nft_ranges_reserve(&b->r[1], n6)) < 0)
		return err == -ENOMEM ? err : -E2BIG;
	json_array_foreach(v, i, e) {
		if (!json_is_string(e)) {
			kk_explain(why, len, "entry %zu is not a string", i);
			return -EINVAL;
		}
		if ((err = entry_add(b, i, json_string_value(e), why, len)) < 0)
			return err;
	}
	b->entries = json_array_size(v);
	return 0;
}

/*
 * The addresses no block list may hold, slot i from 0 until false: the
 * management peers, then the fleet broker (fleet.broker), which is not a
 * peer but may be an agent's only channel, the unblock included, then the
 * report collector (report.collector), the way the CSIRT hears of a block
 * and of tampering.  *a is NULL for a slot without an address (none set,
 * or a name); the broker's and the collector's are written into *tmp.
 */
static bool
channel_addr(const struct kk_policy *p, size_t i, struct kk_addr *tmp,
    const struct kk_addr **a, const char **what)
{
	const char *ep;
	uint16_t port;

	*a = NULL;
	if (p == NULL || i > p->peers.n + 1)
		return false;
	if (i < p->peers.n) {
		*a = &p->peers.addr[i];
		*what = "management peer";
		return true;
	}
	ep = i == p->peers.n ? p->fleet_broker : p->collector;
	*what = i == p->peers.n ? "the fleet broker" : "the report collector";
	if (ep[0] != '\0' && kk_endpoint_parse(ep, tmp, &port) == 0)
		*a = tmp;
	return true;
}

/*
 * What every mode needs of the link and of the host itself, which the
 * block rules, ahead of the mode's own, would drop: loopback, neighbour
 * discovery (to and from link-local and multicast addresses; the way to
 * every peer past a router) and DHCP's broadcast.  A list holding any of
 * them would cut the CSIRT channel, or the host's own services, in a way
 * no address check of the peers sees.
 */
static const struct {
	int af;
	const char *first, *last, *what;
} link_scope[] = {
	{ AF_INET, "127.0.0.0", "127.255.255.255", "loopback 127.0.0.0/8" },
	{ AF_INET, "255.255.255.255", "255.255.255.255",
	    "the broadcast address 255.255.255.255 (DHCP)" },
	{ AF_INET6, "::1", "::1", "loopback ::1" },
	{ AF_INET6, "fe80::", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    "link-local fe80::/10 (neighbour discovery)" },
	{ AF_INET6, "ff00::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    "multicast ff00::/8 (neighbour discovery)" },
};

/* Sealed, and neither a whole family nor a channel address in it. */
static int
seal_check(struct kd_blocklist *b, const struct kk_policy *p, char *why,
    size_t len)
{
	uint8_t first[16], last[16];
	char text[INET6_ADDRSTRLEN];
	struct kk_addr tmp;
	const struct kk_addr *a;
	const char *what;
	size_t i;
	int k, err;

	for (k = 0; k < 2; k++) {
		if ((err = kk_nft_ranges_seal(&b->r[k])) < 0)
			return err;
		if (kk_nft_ranges_everything(&b->r[k])) {
			kk_explain(why, len, "the entries cover every IPv%d "
			    "address", k == 0 ? 4 : 6);
			return -EINVAL;
		}
	}
	for (i = 0; i < sizeof(link_scope) / sizeof(link_scope[0]); i++) {
		k = link_scope[i].af == AF_INET ? 0 : 1;
		if (inet_pton(link_scope[i].af, link_scope[i].first, first) !=
		    1 || inet_pton(link_scope[i].af, link_scope[i].last,
		    last) != 1)
			return -EINVAL;
		if (!kk_nft_ranges_overlap(&b->r[k], first, last))
			continue;
		kk_explain(why, len, "the list holds addresses of %s: every "
		    "mode needs them, the CSIRT channel too",
		    link_scope[i].what);
		return -EINVAL;
	}
	for (i = 0; channel_addr(p, i, &tmp, &a, &what); i++) {
		if (a == NULL)
			continue;
		k = a->family == AF_INET ? 0 : 1;
		if (!kk_nft_ranges_contains(&b->r[k], (const uint8_t *)&a->a))
			continue;
		inet_ntop(a->family, &a->a, text, sizeof(text));
		kk_explain(why, len, "the list holds %s %s: it would cut the "
		    "CSIRT channel", what, text);
		return -EINVAL;
	}
	return 0;
}

int
kd_blocklist_parse(const json_t *args, const struct kk_policy *p,
    struct kd_blocklist **out, char *why, size_t whylen)
{
	struct kd_blocklist *b;
	const char *key;
	json_int_t ver;
	json_t *v;
	int err = -EINVAL;

	*out = NULL;
	if ((b = blocklist_new()) == NULL)
		return -ENOMEM;
	b->dir = KK_NFT_BLOCK_OUT | KK_NFT_BLOCK_IN;
	if (!json_is_object(args)) {
		kk_explain(why, whylen, "args must be an object");
		goto fail;
	}
	json_object_foreach((json_t *)args, key, v) {
		if (strcmp(key, KW_SET) != 0 && strcmp(key, KW_VERSION) != 0 &&
		    strcmp(key, KW_ADDRESSES) != 0 &&
		    strcmp(key, KW_PORTS) != 0 &&
		    strcmp(key, KW_DIRECTION) != 0) {
			kk_explain(why, whylen, "unknown argument %.32s", key);
			goto fail;
		}
	}
	v = json_object_get(args, KW_SET);
	if (!json_is_string(v) || !kd_blocklist_name_ok(json_string_value(v),
	    json_string_length(v))) {
		kk_explain(why, whylen, "set must be a name of 1 to %d of a-z, "
		    "0-9, _ (a letter first)", KD_BLOCK_NAME_MAX);
		goto fail;
	}
	snprintf(b->name, sizeof(b->name), "%s", json_string_value(v));
	v = json_object_get(args, KW_VERSION);
	ver = json_is_integer(v) ? json_integer_value(v) : 0;
	if (ver < 1 || ver > UINT32_MAX) {
		kk_explain(why, whylen, "version must be an integer 1..%u",
		    UINT32_MAX);
		goto fail;
	}
	b->version = (uint32_t)ver;
	v = json_object_get(args, KW_DIRECTION);
	if (v != NULL && (!json_is_string(v) ||
	    dir_parse(json_string_value(v), &b->dir) < 0)) {
		kk_explain(why, whylen, "direction must be out, in or both");
		goto fail;
	}
	if ((v = json_object_get(args, KW_PORTS)) != NULL &&
	    (err = ports_parse(v, b, why, whylen)) < 0)
		goto fail;
	if ((err = addresses_parse(json_object_get(args, KW_ADDRESSES), b,
	    why, whylen)) < 0 || (err = seal_check(b, p, why, whylen)) < 0)
		goto fail;
	*out = b;
	return 0;
fail:
	kd_blocklist_free(b);
	return err < 0 ? err : -EINVAL;
}

/* --- the lists in force --- */

static void
index_ipsets(struct kd_blocklists *ls)
{
	struct kk_nft_ipset *ip;
	struct kd_blocklist *b;
	size_t i;
	int k;

	ls->nipsets = 0;
	for (i = 0; i < ls->n; i++) {
		b = ls->list[i];
		for (k = 0; k < 2; k++) {
			if (b->r[k].n == 0)
				continue;
			ip = &ls->ipsets[ls->nipsets++];
			memset(ip, 0, sizeof(*ip));
			if (kd_blocklist_setname(b, k, false, ip->name,
			    sizeof(ip->name)) < 0 || kd_blocklist_setname(b, k,
			    true, ip->ports_name, sizeof(ip->ports_name)) < 0)
				ip->name[0] = '\0';	/* the build refuses it */
			ip->ranges = &b->r[k];
			ip->block = b->dir;
			ip->list = b->name;
			ip->version = b->version;
			ip->ports = b->ports;
			ip->nports = b->nports;
		}
	}
}

int
kd_blocklists_spare(struct kd_blocklists *ls, const struct kk_policy *p,
    char *spared, size_t len)
{
	char text[INET6_ADDRSTRLEN];
	struct kk_addr tmp;
	const struct kk_addr *a;
	const char *what;
	struct kd_blocklist *b;
	size_t i, j, off = 0;
	int k, n = 0, err = 0;
	bool carved;

	if (len > 0)
		spared[0] = '\0';
	for (i = 0; i < ls->n; i++) {
		b = ls->list[i];
		carved = false;
		for (j = 0; channel_addr(p, j, &tmp, &a, &what); j++) {
			if (a == NULL)
				continue;
			k = a->family == AF_INET ? 0 : 1;
			if (!kk_nft_ranges_contains(&b->r[k],
			    (const uint8_t *)&a->a))
				continue;
			if ((err = kk_nft_ranges_carve(&b->r[k],
			    (const uint8_t *)&a->a)) < 0)
				break;
			carved = true;
			inet_ntop(a->family, &a->a, text, sizeof(text));
			if (off < len)
				off += (size_t)snprintf(spared + off, len - off,
				    "%s%s: %s", n > 0 ? ", " : "", b->name, text);
			n++;
		}
		/*
		 * Other elements under the same name: a set of a new name, so
		 * that a change in place fills it anew (build.c keeps a set
		 * it finds under the name it wants, elements and all).
		 */
		if (carved)
			b->spared++;
		if (err < 0)
			break;
	}
	if (n > 0)
		index_ipsets(ls);
	return err < 0 ? err : n;
}

struct kd_blocklist *
kd_blocklists_find(const struct kd_blocklists *ls, const char *name)
{
	size_t i;

	for (i = 0; i < ls->n; i++)
		if (strcmp(ls->list[i]->name, name) == 0)
			return ls->list[i];
	return NULL;
}

int
kd_blocklists_put(struct kd_blocklists *ls, struct kd_blocklist *b,
    struct kd_blocklist **old)
{
	size_t i, total = kd_blocklist_ranges(b), at = ls->n;

	*old = NULL;
	for (i = 0; i < ls->n; i++) {
		if (strcmp(ls->list[i]->name, b->name) == 0)
			at = i;
		else
			total += kd_blocklist_ranges(ls->list[i]);
	}
	if (at == ls->n && ls->n >= KD_BLOCK_LISTS_MAX)
		return -ENOSPC;
	if (total > KD_BLOCK_RANGES_TOTAL)
		return -E2BIG;
	if (at < ls->n)
		*old = ls->list[at];
	else
		ls->n++;
	ls->list[at] = b;
	/* by name, so that the tables come out the same whatever the order */
	for (i = at; i > 0 && strcmp(ls->list[i - 1]->name,
	    ls->list[i]->name) > 0; i--) {
		ls->list[i] = ls->list[i - 1];
		ls->list[i - 1] = b;
	}
	for (; i + 1 < ls->n && strcmp(ls->list[i]->name,
	    ls->list[i + 1]->name) > 0; i++) {
		ls->list[i] = ls->list[i + 1];
		ls->list[i + 1] = b;
	}
	index_ipsets(ls);
	return 0;
}

struct kd_blocklist *
kd_blocklists_take(struct kd_blocklists *ls, const char *name)
{
	struct kd_blocklist *b;
	size_t i;

	for (i = 0; i < ls->n; i++)
		if (strcmp(ls->list[i]->name, name) == 0)
			break;
	if (i == ls->n)
		return NULL;
	b = ls->list[i];
	memmove(&ls->list[i], &ls->list[i + 1],
	    (ls->n - i - 1) * sizeof(ls->list[0]));
	ls->n--;
	index_ipsets(ls);
	return b;
}

void
kd_blocklists_clear(struct kd_blocklists *ls)
{
	size_t i;

	for (i = 0; i < ls->n; i++)
		kd_blocklist_free(ls->list[i]);
	memset(ls, 0, sizeof(*ls));
}

/* --- files --- */

/* dir/name + suffix (FILE_SUFFIX, GONE_SUFFIX) */
static int
named_path(const char *dir, const char *name, const char *suffix, char *buf,
    size_t len)
{
	int n = snprintf(buf, len, "%s/%s%s", dir, name, suffix);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int
file_path(const char *dir, const char *name, char *buf, size_t len)
{
	return named_path(dir, name, FILE_SUFFIX, buf, len);
}

/* dir/name + suffix gone, and dir synced; 0 when it was not there */
static int
unlink_named(const char *dir, const char *name, const char *suffix)
{
	char path[PATH_MAX];
	int err;

	if ((err = named_path(dir, name, suffix, path, sizeof(path))) < 0)
		return err;
	if (unlink(path) < 0)
		return errno == ENOENT ? 0 : -errno;
	return kk_fsync_dir_of(path);
}

static void
hex_of(const unsigned char d[32], char out[65])
{
	int i;

	for (i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/*
 * The file: text lines, the last the SHA-256 of all before it, then the
 * keys of both families as seal left them, unhashed: the elements
 * lines hold the digest of the elements they make (intervals.c), which a
 * load computes anyway, so the keys are hashed once, not twice.
 *
 *	kakuri-blocklist 3
 *	set NAME / version N / direction D / ports P|- / entries N
 *	signed IAT (the block command's; version 2 has no such line)
 *	ranges4 N / ranges6 N / elements4 HEX / elements6 HEX
 *	sha256 HEX
 *	KEYS4 KEYS6
 */
int
kd_blocklist_save(const char *dir, const struct kd_blocklist *b)
{
	char path[PATH_MAX], head[640], hex[2][65], sum[65],
	    ports[KK_NFT_MAX_BLOCK_PORTS * 6 + 2] = "-";
	unsigned char digest[32];
	size_t i, off = 0, size, maplen;
	uint8_t *buf;
	int k, n, err;

	if ((err = file_path(dir, b->name, path, sizeof(path))) < 0)
		return err;
	for (i = 0; i < b->nports; i++)
		off += (size_t)snprintf(ports + off, sizeof(ports) - off,
		    "%s%u", i ? "," : "", b->ports[i]);
	hex_of(b->r[0].digest, hex[0]);
	hex_of(b->r[1].digest, hex[1]);
	n = snprintf(head, sizeof(head), FILE_MAGIC "set %s\nversion %u\n"
	    "direction %s\nports %s\nentries %zu\nsigned %lld\n"
	    "ranges4 %zu\nranges6 %zu\nelements4 %s\nelements6 %s\n", b->name,
	    b->version, kd_blocklist_dir_name(b->dir), ports, b->entries,
	    (long long)(b->signed_at > 0 ? b->signed_at : 0), b->r[0].n,
	    b->r[1].n, hex[0], hex[1]);
	if (n < 0 || (size_t)n + 72 >= sizeof(head))
		return -ENOBUFS;
	kk_sha256(head, (size_t)n, digest);
	hex_of(digest, sum);
	n += snprintf(head + n, sizeof(head) - (size_t)n, "sha256 %s\n", sum);
	size = (size_t)n + b->r[0].n * 8 + b->r[1].n * 32;
	if ((buf = kk_nft_bigbuf_alloc(size, &maplen)) == NULL)
		return -ENOMEM;
	memcpy(buf, head, (size_t)n);
	off = (size_t)n;
	for (k = 0; k < 2; k++) {
		/* a family without ranges has no keys (NULL) */
		if (b->r[k].n > 0)
			memcpy(buf + off, b->r[k].keys, b->r[k].n * 2 *
			    b->r[k].keylen);
		off += b->r[k].n * 2 * b->r[k].keylen;
	}
	err = kk_write_file_atomic(path, buf, off, 0600);
	kk_nft_bigbuf_free(buf, maplen);
	return err;
}

int
kd_blocklist_unlink(const char *dir, const char *name)
{
	return unlink_named(dir, name, FILE_SUFFIX);
}

#define GONE_SUFFIX	".gone"
#define GONE_MAGIC	"kakuri-unblocked 1\nsigned "

static int
gone_path(const char *dir, const char *name, char *buf, size_t len)
{
	return named_path(dir, name, GONE_SUFFIX, buf, len);
}

int
kd_blocklist_gone_load(const char *dir, const char *name, int64_t *iat)
{
	char path[PATH_MAX], *text = NULL, *end;
	size_t len, m = strlen(GONE_MAGIC);
	long long v;
	int err;

	*iat = 0;
	if ((err = gone_path(dir, name, path, sizeof(path))) < 0 ||
	    (err = kk_read_file(path, 128, &text, &len)) < 0)
		return err;
	err = -EBADMSG;
	if (len > m && memcmp(text, GONE_MAGIC, m) == 0 && text[len - 1] ==
	    '\n' && text[m] >= '0' && text[m] <= '9') {
		text[len - 1] = '\0';
		errno = 0;
		v = strtoll(text + m, &end, 10);
		if (errno == 0 && *end == '\0' && v > 0) {
			*iat = v;
			err = 0;
		}
	}
	free(text);
	return err;
}

int
kd_blocklist_gone_save(const char *dir, const char *name, int64_t iat)
{
	char path[PATH_MAX], text[64];
	int64_t was;
	int err, n;

	if ((err = gone_path(dir, name, path, sizeof(path))) < 0)
		return err;
	if (kd_blocklist_gone_load(dir, name, &was) == 0 && was > iat)
		iat = was;
	n = snprintf(text, sizeof(text), GONE_MAGIC "%lld\n", (long long)iat);
	return kk_write_file_atomic(path, text, (size_t)n, 0600);
}

int
kd_blocklist_gone_drop(const char *dir, const char *name)
{
	return unlink_named(dir, name, GONE_SUFFIX);
}

/* One "KEY VALUE\n" line at *pos; value in val (NUL-terminated). */
static int
line(const char *buf, size_t len, size_t *pos, const char *key, char *val,
    size_t vlen)
{
	size_t klen = strlen(key), i;

	if (len - *pos < klen + 2 || memcmp(buf + *pos, key, klen) != 0 ||
	    buf[*pos + klen] != ' ')
		return -EBADMSG;
	*pos += klen + 1;
	for (i = 0; *pos < len && buf[*pos] != '\n'; (*pos)++, i++) {
		if (i + 1 >= vlen)
			return -EBADMSG;
		val[i] = buf[*pos];
	}
	if (*pos >= len)
		return -EBADMSG;
	val[i] = '\0';
	(*pos)++;
	return 0;
}

static int
number(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return -EBADMSG;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno != 0 || *end != '\0' || *out > max ? -EBADMSG : 0;
}

static int
ports_load(struct kd_blocklist *b, char *s)
{
	unsigned long long p;
	char *tok, *save = NULL;

	if (strcmp(s, "-") == 0)
		return 0;
	for (tok = strtok_r(s, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		if (b->nports >= KK_NFT_MAX_BLOCK_PORTS ||
		    number(tok, 65535, &p) < 0 || p == 0)
			return -EBADMSG;
		b->ports[b->nports++] = (uint16_t)p;
	}
	return 0;
}

/* n ranges of r's family at *pos, as seal left them when it was saved. */
static int
ranges_load(struct kk_nft_ranges *r, const char *buf, size_t len, size_t *pos,
    unsigned long long n)
{
	int err;

	if (n > KK_NFT_RANGES_MAX || (len - *pos) / (2 * r->keylen) < n)
		return -EBADMSG;
	if ((err = kk_nft_ranges_load(r, (const uint8_t *)buf + *pos,
	    (size_t)n)) < 0)
		return err == -ENOMEM ? err : -EBADMSG;
	*pos += (size_t)n * 2 * r->keylen;
	return 0;
}

/*
 * The lines every version of the file begins with, after the magic, and
 * version 3's signed line (signed).
 */
static int
head_load(const char *buf, size_t end, size_t *pos, const char *name,
    bool with_signed, struct kd_blocklist *b)
{
	unsigned long long v;
	char val[128];

	if (line(buf, end, pos, "set", val, sizeof(val)) < 0 ||
	    !kd_blocklist_name_ok(val, strlen(val)) || strcmp(val, name) != 0)
		return -EBADMSG;
	memcpy(b->name, val, strlen(val) + 1);	/* checked: short enough */
	if (line(buf, end, pos, "version", val, sizeof(val)) < 0 ||
	    number(val, UINT32_MAX, &v) < 0 || v == 0)
		return -EBADMSG;
	b->version = (uint32_t)v;
	if (line(buf, end, pos, "direction", val, sizeof(val)) < 0 ||
	    dir_parse(val, &b->dir) < 0 ||
	    line(buf, end, pos, "ports", val, sizeof(val)) < 0 ||
	    ports_load(b, val) < 0 ||
	    line(buf, end, pos, "entries", val, sizeof(val)) < 0 ||
	    number(val, KD_BLOCK_ENTRIES_MAX, &v) < 0)
		return -EBADMSG;
	b->entries = (size_t)v;
	if (with_signed && (line(buf, end, pos, "signed", val,
	    sizeof(val)) < 0 || number(val, INT64_MAX, &v) < 0))
		return -EBADMSG;
	b->signed_at = with_signed ? (int64_t)v : 0;
	return 0;
}

/* Does buf[pos..) begin with the line "sha256 " + hex of buf[0..pos)? */
static bool
sum_ok(const char *buf, size_t len, size_t pos)
{
	unsigned char digest[32];
	char hex[65];

	if (len - pos < 72 || memcmp(buf + pos, "sha256 ", 7) != 0 ||
	    buf[pos + 71] != '\n')
		return false;
	kk_sha256(buf, pos, digest);
	hex_of(digest, hex);
	return memcmp(buf + pos + 7, hex, 64) == 0;
}

/* Version 1: the keys inside the hashed text, after their count. */
static int
decode_v1(const char *buf, size_t len, struct kd_blocklist *b, size_t pos)
{
	unsigned long long v;
	char val[128];
	size_t end = len - 72;
	int k, err;

	if (len < pos + 72 || !sum_ok(buf, len, end))
		return -EBADMSG;
	for (k = 0; k < 2; k++)
		if (line(buf, end, &pos, k == 0 ? "ranges4" : "ranges6", val,
		    sizeof(val)) < 0 || number(val, KK_NFT_RANGES_MAX, &v) < 0 ||
		    (err = ranges_load(&b->r[k], buf, end, &pos, v)) < 0)
			return err == -ENOMEM ? err : -EBADMSG;
	return pos == end ? 0 : -EBADMSG;
}

/* Version 2 (see kd_blocklist_save). */
static int
decode_v2(const char *buf, size_t len, struct kd_blocklist *b, size_t pos)
{
	static const char *const counts[2] = { "ranges4", "ranges6" };
	static const char *const sums[2] = { "elements4", "elements6" };
	unsigned long long n[2];
	char val[128], want[2][65], hex[65];
	int k, err;

	for (k = 0; k < 2; k++)
		if (line(buf, len, &pos, counts[k], val, sizeof(val)) < 0 ||
		    number(val, KK_NFT_RANGES_MAX, &n[k]) < 0)
			return -EBADMSG;
	for (k = 0; k < 2; k++)
		if (line(buf, len, &pos, sums[k], want[k],
		    sizeof(want[k])) < 0 || strlen(want[k]) != 64)
			return -EBADMSG;
	/* the counts are bounded: the keys' size cannot wrap */
	if (!sum_ok(buf, len, pos) || len - pos - 72 != n[0] * 8 + n[1] * 32)
		return -EBADMSG;
	pos += 72;
	for (k = 0; k < 2; k++) {
		if ((err = ranges_load(&b->r[k], buf, len, &pos, n[k])) < 0)
			return err;
		/* the keys make the elements the hashed text names */
		hex_of(b->r[k].digest, hex);
		if (memcmp(hex, want[k], 64) != 0)
			return -EBADMSG;
	}
	return pos == len ? 0 : -EBADMSG;
}

/* A list's file, whole and as it was written. */
static int
blocklist_decode(const char *buf, size_t len, const char *name,
    struct kd_blocklist **out)
{
	struct kd_blocklist *b;
	size_t pos = sizeof(FILE_MAGIC) - 1;
	bool v1, v2;
	int err;

	*out = NULL;
	if (len < pos)
		return -EBADMSG;
	v1 = memcmp(buf, FILE_MAGIC_V1, pos) == 0;
	v2 = memcmp(buf, FILE_MAGIC_V2, pos) == 0;
	if (!v1 && !v2 && memcmp(buf, FILE_MAGIC, pos) != 0)
		return -EBADMSG;
	if ((b = blocklist_new()) == NULL)
		return -ENOMEM;
	if ((err = head_load(buf, len, &pos, name, !v1 && !v2, b)) == 0)
		err = v1 ? decode_v1(buf, len, b, pos) :
		    decode_v2(buf, len, b, pos);
	if (err < 0) {
		kd_blocklist_free(b);
		return err == -ENOMEM ? err : -EBADMSG;
	}
	*out = b;
	return 0;
}

static void
note_bad(char *bad, size_t len, const char *name)
{
	size_t n = strlen(bad);

	if (len > n)
		snprintf(bad + n, len - n, "%s%s", n ? "," : "", name);
}

/*
 * A list's file, whole, in a buffer of its own (kk_nft_bigbuf_alloc): a
 * 100k list's megabytes land in huge pages, not in page faults.
 */
static int
read_list(const char *path, char **out, size_t *len, size_t *maplen)
{
	size_t size = 0;
	ssize_t got;
	int fd, err;

	*out = NULL;
	*len = 0;
	/* O_NONBLOCK: a FIFO in place of the file must not hang a restore */
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0)
		return -errno;
	if ((err = kk_fd_regular(fd, FILE_MAX, &size)) == 0 &&
	    (*out = kk_nft_bigbuf_alloc(size > 0 ? size : 1, maplen)) == NULL)
		err = -ENOMEM;
	if (err == 0 && (got = kk_read_upto(fd, *out, size)) != (ssize_t)size)
		err = got < 0 ? (int)got : -EIO;
	close(fd);
	if (err < 0 && *out != NULL) {
		kk_nft_bigbuf_free(*out, *maplen);
		*out = NULL;
	}
	*len = size;
	return err;
}

/* The file of one list, into ls; a file that does not load is set aside. */
static int
load_one(const char *dir, const char *name, struct kd_blocklists *ls,
    char *bad, size_t badlen)
{
	char path[PATH_MAX], aside[PATH_MAX + 8];
	struct kd_blocklist *b, *old;
	size_t len, maplen;
	char *buf;
	int err;

	if ((err = file_path(dir, name, path, sizeof(path))) < 0)
		return err;
	if ((err = read_list(path, &buf, &len, &maplen)) == 0) {
		err = blocklist_decode(buf, len, name, &b);
		kk_nft_bigbuf_free(buf, maplen);
	}
	if (err == 0 && (err = kd_blocklists_put(ls, b, &old)) < 0)
		kd_blocklist_free(b);
	if (err == 0) {
		kd_blocklist_free(old);
		return 0;
	}
	if (err == -ENOMEM)
		return err;
	note_bad(bad, badlen, name);
	snprintf(aside, sizeof(aside), "%s.bad", path);
	if (rename(path, aside) == 0)
		kk_fsync_dir_of(path);
	return 0;
}

int
kd_blocklists_load(const char *dir, struct kd_blocklists *ls, char *bad,
    size_t badlen)
{
	char name[KD_BLOCK_NAME_MAX + 1];
	struct dirent *de;
	size_t n;
	DIR *dp;
	int err = 0;

	if (badlen > 0)
		bad[0] = '\0';
	if ((dp = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : -errno;
	while (err == 0 && (de = readdir(dp)) != NULL) {
		n = strlen(de->d_name);
		if (n <= strlen(FILE_SUFFIX) || strcmp(de->d_name + n -
		    strlen(FILE_SUFFIX), FILE_SUFFIX) != 0)
			continue;
		n -= strlen(FILE_SUFFIX);
		if (n >= sizeof(name)) {
			note_bad(bad, badlen, de->d_name);
			continue;
		}
		memcpy(name, de->d_name, n);
		name[n] = '\0';
		err = load_one(dir, name, ls, bad, badlen);
	}
	closedir(dp);
	return err;
}
