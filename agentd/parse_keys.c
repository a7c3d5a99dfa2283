/*
 * The policy's values (DESIGN 6), one key at a time: paths, names, text
 * shown to employees, addresses, ports, endpoints, groups, numbers and
 * words, each checked before it reaches struct kk_policy (parse_keys.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse_keys.h"

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "QNAME: 'VALUE': WHY", the value quoted as the file has it; -EINVAL */
static int
refuse_value(struct kk_cfg_loader *l, const config_setting_t *s,
    const char *qname, const char *v, const char *why)
{
	char q[KK_CFG_QUOTE_SIZE];

	kk_cfg_fail_at(l, s, "%s: '%s': %s", qname,
	    kk_cfg_quote(v, q, sizeof(q)), why);
	return -EINVAL;
}

/* "QNAME: duplicate NOUN 'VALUE'", the value quoted; -EINVAL */
static int
refuse_duplicate(struct kk_cfg_loader *l, const config_setting_t *s,
    const char *qname, const char *noun, const char *v)
{
	char q[KK_CFG_QUOTE_SIZE];

	kk_cfg_fail_at(l, s, "%s: duplicate %s '%s'", qname, noun,
	    kk_cfg_quote(v, q, sizeof(q)));
	return -EINVAL;
}

static int
check_path(struct kk_cfg_loader *l, const config_setting_t *s,
    const char *qname, const char *v, size_t size)
{
	char q[KK_CFG_QUOTE_SIZE];
	int rc = -EINVAL;

	if (*v == '\0') {
		kk_cfg_fail_at(l, s, "%s must not be empty", qname);
		goto out;
	}
	if (*v != '/') {
		kk_cfg_fail_at(l, s, "%s must be an absolute path: '%s'", qname,
		    kk_cfg_quote(v, q, sizeof(q)));
		goto out;
	}
	if (strlen(v) >= size) {
		kk_cfg_fail_at(l, s, "%s is too long (at most %zu bytes)",
		    qname, size - 1);
		goto out;
	}
	rc = kk_cfg_path_parts(l, s, qname, v);
out:
	return rc;
}

static int
check_name(struct kk_cfg_loader *l, const config_setting_t *s,
    const char *qname, const char *v)
{
	size_t i;
	char q[KK_CFG_QUOTE_SIZE];
	int rc = 0;

	for (i = 0; v[i] != '\0'; i++) {
		char c = v[i];

		if ((c >= 'a' && c <= 'z') || c == '_')
			continue;
		if (i > 0 && (is_digit(c) || c == '-'))
			continue;
		break;
	}
	if (i == 0 || v[i] != '\0' || i > NAME_LEN_MAX) {
		kk_cfg_fail_at(l, s, "%s: '%s' is not a valid name "
		    "([a-z_][a-z0-9_-]{0,31})", qname,
		    kk_cfg_quote(v, q, sizeof(q)));
		rc = -EINVAL;
	}
	return rc;
}

/* The rules are kk_text_check's (util.c), the same for every boundary. */
static const char *
text_problem(const char *v)
{
	int r = kk_text_check(v, strlen(v), NULL);

	return r < 0 ? kk_text_problem(r) : NULL;
}

/*
 * Addresses a management peer or resolver can never usefully be: the
 * unspecified address, and IPv4-mapped IPv6, which the kernel never shows
 * nftables (such packets are IPv4), so the rule would silently never match.
 */
static const char *
addr_unusable(const struct kk_addr *a)
{
	if (a->family == AF_INET && a->a.v4.s_addr == htonl(INADDR_ANY))
		return "the unspecified address is not allowed";
	if (a->family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&a->a.v6))
		return "the unspecified address is not allowed";
	if (a->family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a->a.v6))
		return "IPv4-mapped IPv6 addresses are not allowed, "
		    "write the IPv4 address";
	return NULL;
}

static int
load_endpoint(struct kk_cfg_loader *l, const config_setting_t *s,
    const char *qname, const char *v, unsigned flags, char *dst, size_t size)
{
	struct kk_addr addr;
	uint16_t port;
	const char *why;
	int rc = -EINVAL;

	if (*v == '\0' && !(flags & (KEY_REMOTE | KEY_EMPTY_OFF))) {
		kk_cfg_fail_at(l, s, "%s must not be empty", qname);
		goto out;
	}
	if (*v != '\0') {
		if (strlen(v) >= size) {
			kk_cfg_fail_at(l, s, "%s is too long", qname);
			goto out;
		}
		why = kk_endpoint_problem(v, &addr, &port);
		if (why == NULL && (flags & KEY_REMOTE))
			why = addr_unusable(&addr);
		if (why != NULL) {
			rc = refuse_value(l, s, qname, v, why);
			goto out;
		}
	}
	snprintf(dst, size, "%s", v);
	rc = 0;
out:
	return rc;
}

/*
 * A list key's elements, one by one: add checks one, refuses it if the list
 * has it already and appends it; dst is the list, emptied first.  Every
 * list struct counts its elements in a size_t n, at n_off.
 */
struct list_kind {
	struct kk_cfg_list list;
	int (*add)(struct kk_cfg_loader *, const config_setting_t *,
	    const char *, void *);
	size_t n_off;
};

static int
add_addr(struct kk_cfg_loader *l, const config_setting_t *e,
    const char *qname, void *arg)
{
	struct kk_addrlist *dst = arg;
	const char *v = config_setting_get_string(e), *why;
	struct kk_addr addr;
	size_t j;

	if (kk_addr_parse(v, &addr) != 0)
		why = kk_addr_problem(v);
	else
		why = addr_unusable(&addr);
	if (why != NULL)
		return refuse_value(l, e, qname, v, why);
	for (j = 0; j < dst->n; j++) {
		if (dst->addr[j].family == addr.family &&
		    memcmp(&dst->addr[j].a, &addr.a,
		    addr.family == AF_INET ? sizeof(addr.a.v4) :
		    sizeof(addr.a.v6)) == 0)
			return refuse_duplicate(l, e, qname, "address", v);
	}
	dst->addr[dst->n++] = addr;
	return 0;
}

static int
add_port(struct kk_cfg_loader *l, const config_setting_t *e,
    const char *qname, void *arg)
{
	struct kk_portlist *dst = arg;
	long long v = config_setting_get_int64(e);
	size_t j;

	if (v < 1 || v > 65535) {
		kk_cfg_fail_at(l, e, "%s: port %lld out of range 1-65535",
		    qname, v);
		return -EINVAL;
	}
	for (j = 0; j < dst->n; j++) {
		if (dst->port[j] == v) {
			kk_cfg_fail_at(l, e, "%s: duplicate port %lld", qname,
			    v);
			return -EINVAL;
		}
	}
	dst->port[dst->n++] = (uint16_t)v;
	return 0;
}

static int
add_path(struct kk_cfg_loader *l, const config_setting_t *e,
    const char *qname, void *arg)
{
	struct kk_pathlist *dst = arg;
	const char *v = config_setting_get_string(e);
	size_t j;
	int rc;

	if ((rc = check_path(l, e, qname, v, KK_PROTECT_PATH_MAX)) != 0)
		return rc;
	for (j = 0; j < dst->n; j++)
		if (strcmp(dst->path[j], v) == 0)
			return refuse_duplicate(l, e, qname, "path", v);
	snprintf(dst->path[dst->n++], KK_PROTECT_PATH_MAX, "%s", v);
	return 0;
}

static int
add_endpoint(struct kk_cfg_loader *l, const config_setting_t *e,
    const char *qname, void *arg)
{
	struct kk_endpointlist *dst = arg;
	const char *v = config_setting_get_string(e), *why;
	struct kk_endpoint ep;

	why = kk_endpoint_problem(v, &ep.addr, &ep.port);
	if (why == NULL)
		why = addr_unusable(&ep.addr);
	if (why != NULL)
		return refuse_value(l, e, qname, v, why);
	dst->ep[dst->n++] = ep;
	return 0;
}

static int
add_group(struct kk_cfg_loader *l, const config_setting_t *e,
    const char *qname, void *arg)
{
	struct kk_grouplist *dst = arg;
	const char *v = config_setting_get_string(e), *why;
	char q[KK_CFG_QUOTE_SIZE];
	size_t j;

	why = kk_group_name_problem(v);
	for (j = 0; why == NULL && j < dst->n; j++)
		if (strcmp(dst->name[j], v) == 0)
			why = "is named twice";
	if (why != NULL) {
		kk_cfg_fail_at(l, e, "%s: '%s' %s", qname,
		    kk_cfg_quote(v, q, sizeof(q)), why);
		return -EINVAL;
	}
	snprintf(dst->name[dst->n++], sizeof(dst->name[0]), "%s", v);
	return 0;
}

static const struct list_kind list_kinds[] = {
	[KEY_ADDRS] = { { "strings", CONFIG_TYPE_STRING, "addresses",
	    KK_MAX_ADDRS }, add_addr, offsetof(struct kk_addrlist, n) },
	[KEY_PORTS] = { { "integers", CONFIG_TYPE_INT, "ports",
	    KK_MAX_PORTS }, add_port, offsetof(struct kk_portlist, n) },
	[KEY_PATHS] = { { "strings", CONFIG_TYPE_STRING, "paths",
	    KK_MAX_PROTECT }, add_path, offsetof(struct kk_pathlist, n) },
	[KEY_ENDPOINTS] = { { "strings", CONFIG_TYPE_STRING, "endpoints",
	    KK_MAX_PROBES }, add_endpoint,
	    offsetof(struct kk_endpointlist, n) },
	[KEY_GROUPS] = { { "strings", CONFIG_TYPE_STRING, "groups",
	    KK_MAX_GROUPS }, add_group, offsetof(struct kk_grouplist, n) },
};

static int
load_list(struct kk_cfg_loader *l, const config_setting_t *s,
    const char *qname, const struct list_kind *lk, bool nonempty, void *dst)
{
	const config_setting_t *e;
	size_t i, n;
	int rc;

	if ((rc = kk_cfg_list_len(l, s, qname, &lk->list, nonempty, &n)) != 0)
		return rc;
	*(size_t *)(void *)((char *)dst + lk->n_off) = 0;
	for (i = 0; i < n; i++) {
		if ((e = kk_cfg_list_elem(l, s, i, qname, &lk->list)) == NULL)
			return -EINVAL;
		if ((rc = lk->add(l, e, qname, dst)) != 0)
			return rc;
	}
	return 0;
}

/* KEY_MODE and KEY_PROTECT: one of two words. */
struct choice {
	const char *word[2];
	int value[2];
};

static const struct choice choices[] = {
	[KEY_MODE] = { { "isolated", "egress" },
	    { KK_MODE_ISOLATED, KK_MODE_EGRESS } },
	[KEY_PROTECT] = { { "auto", "monitor" },
	    { KK_PROTECT_AUTO, KK_PROTECT_MONITOR } },
	[KEY_USB_STORAGE] = { { "deauthorize", "keep" }, { 1, 0 } },
};

static int
load_choice(struct kk_cfg_loader *l, const config_setting_t *s,
    const char *qname, const char *v, const struct choice *c, int *dst)
{
	char q[KK_CFG_QUOTE_SIZE];
	size_t i;

	for (i = 0; i < nitems(c->word); i++) {
		if (strcmp(v, c->word[i]) == 0) {
			*dst = c->value[i];
			return 0;
		}
	}
	kk_cfg_fail_at(l, s, "%s must be \"%s\" or \"%s\", not '%s'", qname,
	    c->word[0], c->word[1], kk_cfg_quote(v, q, sizeof(q)));
	return -EINVAL;
}

/* Integer keys: the range, and the unit the messages name. */
struct int_kind {
	int min, max;
	const char *unit;	/* "QNAME must be MIN-MAX<unit>" */
	const char *not_int;	/* for a non-integer; NULL: the range's */
};

static const struct int_kind int_kinds[] = {
	[KEY_SECONDS] = { 0, KK_SECONDS_MAX, " seconds",
	    "must be a number of seconds" },
	[KEY_MIB] = { 1, KK_MIB_MAX, " (MiB)", NULL },
	[KEY_KEEP] = { 1, KK_AUDIT_KEEP_MAX, " (files)", NULL },
	[KEY_GATE] = { KK_GATE_MIN, KK_GATE_MAX, " seconds", NULL },
	[KEY_LOG_GROUP] = { 0, 65535, " (an NFLOG group)", NULL },
	[KEY_INTERVAL] = { 1, 3600, " seconds", NULL },
};

/* KEY_RATE: "N/second" or "N/minute" into the rate and, after it, its unit */
static int
load_rate(struct kk_cfg_loader *l, const config_setting_t *s,
    const char *qname, const char *v, struct kk_policy *np)
{
	unsigned long n;
	char *end;

	errno = 0;
	n = is_digit(v[0]) ? strtoul(v, &end, 10) : ULONG_MAX;
	if (n > KK_RATE_MAX || errno != 0 || (strcmp(end, "/second") != 0 &&
	    strcmp(end, "/minute") != 0)) {
		kk_cfg_fail_at(l, s, "%s must be \"N/second\" or \"N/minute\" "
		    "with N 0-%d", qname, KK_RATE_MAX);
		return -EINVAL;
	}
	np->block_log_rate = (int)n;
	np->block_log_unit = strcmp(end, "/second") == 0 ? 1 : 60;
	return 0;
}

static int
load_int(struct kk_cfg_loader *l, const config_setting_t *s,
    const char *qname, const struct int_kind *ik, int *dst)
{
	int v = config_setting_get_int(s);

	if (config_setting_type(s) != CONFIG_TYPE_INT && ik->not_int != NULL) {
		kk_cfg_fail_at(l, s, "%s %s", qname, ik->not_int);
		return -EINVAL;
	}
	if (config_setting_type(s) != CONFIG_TYPE_INT || v < ik->min ||
	    v > ik->max) {
		kk_cfg_fail_at(l, s, "%s must be %d-%d%s", qname, ik->min,
		    ik->max, ik->unit);
		return -EINVAL;
	}
	*dst = v;
	return 0;
}

int
kd_policy_load_key(struct kk_cfg_loader *l, const struct key_spec *k,
    const char *qname, const config_setting_t *s, struct kk_policy *np)
{
	char *dst = (char *)np + k->off;
	const char *v, *why;
	int c, rc;

	switch (k->kind) {
	case KEY_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
			kk_cfg_fail_at(l, s, "%s must be a boolean", qname);
			rc = -EINVAL;
			goto out;
		}
		*(bool *)(void *)dst = config_setting_get_bool(s) != 0;
		rc = 0;
		break;
	case KEY_ADDRS:
	case KEY_PORTS:
	case KEY_PATHS:
	case KEY_ENDPOINTS:
	case KEY_GROUPS:
		rc = load_list(l, s, qname, &list_kinds[k->kind],
		    k->flags & KEY_NONEMPTY, dst);
		break;
	case KEY_SECONDS:
	case KEY_GATE:
	case KEY_LOG_GROUP:
	case KEY_INTERVAL:
	case KEY_MIB:
	case KEY_KEEP:
		rc = load_int(l, s, qname, &int_kinds[k->kind],
		    (int *)(void *)dst);
		break;
	default:
		if ((rc = kk_cfg_string(l, s, qname, &v)) != 0)
			goto out;
		rc = -EINVAL;
		switch (k->kind) {
		case KEY_PATH:
			if ((rc = check_path(l, s, qname, v, k->size)) != 0)
				goto out;
			snprintf(dst, k->size, "%s", v);
			break;
		case KEY_NAME:
			if ((rc = check_name(l, s, qname, v)) != 0)
				goto out;
			snprintf(dst, k->size, "%s", v);
			break;
		case KEY_TEXT:
			if (strlen(v) >= k->size) {
				kk_cfg_fail_at(l, s, "%s is too long (at most "
				    "%zu bytes)", qname, k->size - 1);
				goto out;
			}
			if ((why = text_problem(v)) != NULL) {
				kk_cfg_fail_at(l, s, "%s %s", qname, why);
				goto out;
			}
			snprintf(dst, k->size, "%s", v);
			rc = 0;
			break;
		case KEY_RATE:
			rc = load_rate(l, s, qname, v, np);
			break;
		case KEY_KEYID:
			if (!kk_is_hex(v, strlen(v), KK_KEYID_HEX)) {
				kk_cfg_fail_at(l, s, "%s must be %d lowercase hex "
				    "digits (kakurictl agent-id CERT)", qname,
				    KK_KEYID_HEX);
				goto out;
			}
			snprintf(dst, k->size, "%s", v);
			rc = 0;
			break;
		case KEY_ENDPOINT:
			rc = load_endpoint(l, s, qname, v, k->flags, dst,
			    k->size);
			break;
		case KEY_BROKER:
			if (*v != '\0' && strncmp(v, KK_BROKER_SCHEME,
			    strlen(KK_BROKER_SCHEME)) != 0) {
				kk_cfg_fail_at(l, s, "%s must be \"\" or "
				    "\"" KK_BROKER_SCHEME "ADDR:PORT\" (the "
				    "broker is reached over TLS only)", qname);
				goto out;
			}
			if (*v != '\0')
				v += strlen(KK_BROKER_SCHEME);
			rc = load_endpoint(l, s, qname, v, KEY_REMOTE, dst,
			    k->size);
			break;
		case KEY_MODE:
			if ((rc = load_choice(l, s, qname, v,
			    &choices[k->kind], &c)) == 0)
				*(enum kk_mode *)(void *)dst = c;
			break;
		case KEY_PROTECT:
			if ((rc = load_choice(l, s, qname, v,
			    &choices[k->kind], &c)) == 0)
				*(enum kk_protect *)(void *)dst = c;
			break;
		case KEY_USB_STORAGE:
			if ((rc = load_choice(l, s, qname, v,
			    &choices[k->kind], &c)) == 0)
				*(bool *)(void *)dst = c != 0;
			break;
		default:
			kk_cfg_fail_at(l, s, "%s: internal error", qname);
			break;
		}
		break;
	}
out:
	return rc;
}
