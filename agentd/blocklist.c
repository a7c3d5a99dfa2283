/*
 * IOC block lists: parsed, normalised, kept in force, and kept on disk
 * (see blocklist.h).
 *
 * A list is refused whole, never applied in part: the first entry that
 * is not an address, a canonical CIDR or a range is named, and so is a
 * /0 (a typo that would cut the host off everything) and a management
 * peer (a list must not cut the CSIRT's channel: isolation does that,
 * with its own exemptions).  Their files are blocklist_file.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <jansson.h>

#include "blocklist.h"
#include "wire.h"

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

int
kd_blocklist_dir_parse(const char *s, unsigned *dir)
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

struct kd_blocklist *
kd_blocklist_new(void)
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
	if ((b = kd_blocklist_new()) == NULL)
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
	    kd_blocklist_dir_parse(json_string_value(v), &b->dir) < 0)) {
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
