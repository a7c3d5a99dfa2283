/*
 * Policy loading (DESIGN 6).
 *
 * The policy decides which hosts stay reachable while a machine is cut off
 * the network, so a mistake in it can strand a host or leave it open.  The
 * loader therefore fails closed at every step: the file must be a root-owned
 * regular file nobody else can write, libconfig's @include is refused (both
 * in cfgfile.c), every key must be known and of the right type, and every
 * value is checked before anything reaches the caller's struct kk_policy.
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

#include "kakuri.h"
#include "cfgfile.h"

#ifndef nitems
#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
#endif

#define NAME_LEN_MAX		32	/* [a-z_][a-z0-9_-]{0,31} */

enum key_kind {
	KEY_PATH,		/* absolute path */
	KEY_NAME,		/* user or group name */
	KEY_TEXT,		/* UTF-8 shown on an employee's terminal */
	KEY_BOOL,
	KEY_ENDPOINT,		/* "ADDR:PORT", ADDR an IP literal */
	KEY_ADDRS,		/* list of IP literals */
	KEY_PORTS,		/* list of port numbers */
	KEY_MODE,		/* "isolated" or "egress" */
	KEY_PROTECT,		/* "auto" or "monitor" */
	KEY_SECONDS,		/* integer 0..KK_SECONDS_MAX */
	KEY_PATHS,		/* list of absolute paths */
	KEY_MIB,		/* integer 1..KK_MIB_MAX */
	KEY_KEEP,		/* integer 1..KK_AUDIT_KEEP_MAX */
	KEY_KEYID,		/* 64 lowercase hex: a pinned key's id */
	KEY_ENDPOINTS,		/* list of "ADDR:PORT" */
	KEY_GATE,		/* integer KK_GATE_MIN..KK_GATE_MAX */
	KEY_USB_STORAGE,	/* "deauthorize" or "keep" */
	KEY_LOG_GROUP,		/* integer 0..65535: an NFLOG group */
	KEY_INTERVAL,		/* integer 1..3600 seconds */
	KEY_RATE,		/* "N/second" or "N/minute", N 0..KK_RATE_MAX */
	KEY_BROKER,		/* "mqtts://ADDR:PORT", ADDR an IP literal */
	KEY_GROUPS,		/* list of fleet group names */
};

#define KEY_REQUIRED	0x1	/* must be present */
#define KEY_NONEMPTY	0x2	/* lists: at least one element */
#define KEY_REMOTE	0x4	/* endpoint we connect to: "" turns it off,
				   and it must name one host */
#define KEY_EMPTY_OFF	0x8	/* endpoint we listen on: "" turns it off */
#define KK_SECONDS_MAX	(7 * 86400)
#define KK_RATE_MAX	10000		/* blocklists.log_rate: packets */
#define KK_MIB_MAX	(1024 * 1024)
#define KK_GATE_MIN	1		/* drill.gate: refreshed every third of it */
#define KK_GATE_MAX	300

struct key_spec {
	const char *name;
	enum key_kind kind;
	unsigned flags;
	size_t off;		/* destination in struct kk_policy */
	size_t size;		/* of the destination, for strings */
};

struct section_spec {
	const char *name;
	bool required;
	const struct key_spec *keys;
	size_t nkeys;
};

#define FIELD(f)	offsetof(struct kk_policy, f), \
			sizeof(((struct kk_policy *)NULL)->f)

static const struct key_spec agent_keys[] = {
	{ "state_dir", KEY_PATH, KEY_REQUIRED, FIELD(state_dir) },
	{ "control_socket", KEY_PATH, KEY_REQUIRED, FIELD(control_socket) },
	{ "staff_group", KEY_NAME, 0, FIELD(staff_group) },
	{ "disconnect_mode", KEY_MODE, 0, FIELD(disconnect_mode) },
	{ "user", KEY_NAME, 0, FIELD(user) },
	{ "listen", KEY_ENDPOINT, KEY_EMPTY_OFF, FIELD(listen) },
	{ "key", KEY_PATH, 0, FIELD(key) },
	{ "cert", KEY_PATH, 0, FIELD(cert) },
	{ "tls_key", KEY_PATH, 0, FIELD(tls_key) },
	{ "tls_cert", KEY_PATH, 0, FIELD(tls_cert) },
	{ "trust", KEY_PATH, 0, FIELD(trust) },
};

static const struct key_spec tls_keys[] = {
	{ "client_ca", KEY_PATH, 0, FIELD(client_ca) },
};

/* Without peers and ports an isolation would strand the host. */
static const struct key_spec management_keys[] = {
	{ "peers", KEY_ADDRS, KEY_REQUIRED | KEY_NONEMPTY, FIELD(peers) },
	{ "ports", KEY_PORTS, KEY_REQUIRED | KEY_NONEMPTY, FIELD(mgmt_ports) },
	{ "dns", KEY_ADDRS, 0, FIELD(dns) },
	{ "dhcp", KEY_BOOL, 0, FIELD(dhcp) },
	{ "ndp", KEY_BOOL, 0, FIELD(ndp) },
	{ "dhcp_servers", KEY_ADDRS, 0, FIELD(dhcp_servers) },
};

static const struct key_spec egress_keys[] = {
	{ "mail_tcp", KEY_PORTS, 0, FIELD(mail_tcp) },
	{ "web_tcp", KEY_PORTS, 0, FIELD(web_tcp) },
	{ "web_udp", KEY_PORTS, 0, FIELD(web_udp) },
};

/* block lists (issue 12): who tried, sampled through NFLOG */
static const struct key_spec blocklists_keys[] = {
	{ "log_group", KEY_LOG_GROUP, 0, FIELD(block_log_group) },
	{ "log_rate", KEY_RATE, 0, FIELD(block_log_rate) },
	{ "report_interval", KEY_INTERVAL, 0, FIELD(block_report_interval) },
};

static const struct key_spec report_keys[] = {
	{ "collector", KEY_ENDPOINT, KEY_REMOTE, FIELD(collector) },
	{ "collector_id", KEY_KEYID, 0, FIELD(collector_id) },
	{ "ca", KEY_PATH, 0, FIELD(report_ca) },
	{ "location", KEY_TEXT, 0, FIELD(report_location) },
	{ "max_mb", KEY_MIB, 0, FIELD(report_max_mb) },
};

static const struct key_spec contact_keys[] = {
	{ "desk", KEY_TEXT, 0, FIELD(contact_desk) },
	{ "phone", KEY_TEXT, 0, FIELD(contact_phone) },
	{ "email", KEY_TEXT, 0, FIELD(contact_email) },
};

static const struct key_spec nftables_keys[] = {
	{ "protect", KEY_PROTECT, 0, FIELD(protect) },
};

/* Signed commands: clock tolerance and the longest validity accepted. */
static const struct key_spec commands_keys[] = {
	{ "clock_skew", KEY_SECONDS, 0, FIELD(clock_skew) },
	{ "max_lifetime", KEY_SECONDS, 0, FIELD(max_lifetime) },
};

/* Evidence: what is never frozen, and how long and how much collect may take. */
static const struct key_spec evidence_keys[] = {
	{ "protect", KEY_PATHS, 0, FIELD(protect_exe) },
	{ "freeze_timeout", KEY_SECONDS, 0, FIELD(freeze_timeout) },
	{ "collect_timeout", KEY_SECONDS, 0, FIELD(collect_timeout) },
	{ "collect_max_mb", KEY_MIB, 0, FIELD(collect_max_mb) },
	{ "snapshot_timeout", KEY_SECONDS, 0, FIELD(snapshot_timeout) },
};

/*
 * Drills: the addresses a live drill must find unreachable, the
 * management endpoint it must still reach, how long one may last, and
 * how long the kernel keeps a drill's isolation without kakurid
 * refreshing it.
 */
static const struct key_spec drill_keys[] = {
	{ "probes", KEY_ENDPOINTS, 0, FIELD(drill_probes) },
	{ "check", KEY_ENDPOINT, KEY_REMOTE, FIELD(drill_check) },
	{ "max_duration", KEY_SECONDS, 0, FIELD(drill_max_duration) },
	{ "gate", KEY_GATE, 0, FIELD(drill_gate) },
};

/* The audit log: rotated past max_mb, keep rotated files kept. */
static const struct key_spec audit_keys[] = {
	{ "max_mb", KEY_MIB, 0, FIELD(audit_max_mb) },
	{ "keep", KEY_KEEP, 0, FIELD(audit_keep) },
};

/* USB mass storage while isolated (agentd/usb.c): cut, or kept. */
static const struct key_spec usb_keys[] = {
	{ "storage", KEY_USB_STORAGE, 0, FIELD(usb_storage_deauthorize) },
};

/*
 * The fleet broker kakurid dials out to (DESIGN 9): always TLS, to an IP
 * literal (so that isolation can keep it open), authenticated by ca.
 */
static const struct key_spec fleet_keys[] = {
	{ "broker", KEY_BROKER, 0, FIELD(fleet_broker) },
	{ "ca", KEY_PATH, 0, FIELD(fleet_ca) },
	{ "cert", KEY_PATH, 0, FIELD(fleet_cert) },
	{ "groups", KEY_GROUPS, 0, FIELD(fleet_groups) },
};

static const struct section_spec sections[] = {
	{ "agent",	true,	agent_keys,	 nitems(agent_keys) },
	{ "tls",	false,	tls_keys,	 nitems(tls_keys) },
	{ "management",	true,	management_keys, nitems(management_keys) },
	{ "egress",	false,	egress_keys,	 nitems(egress_keys) },
	{ "report",	false,	report_keys,	 nitems(report_keys) },
	{ "contact",	false,	contact_keys,	 nitems(contact_keys) },
	{ "nftables",	false,	nftables_keys,	 nitems(nftables_keys) },
	{ "commands",	false,	commands_keys,	 nitems(commands_keys) },
	{ "evidence",	false,	evidence_keys,	 nitems(evidence_keys) },
	{ "drill",	false,	drill_keys,	 nitems(drill_keys) },
	{ "blocklists",	false,	blocklists_keys, nitems(blocklists_keys) },
	{ "audit",	false,	audit_keys,	 nitems(audit_keys) },
	{ "usb",	false,	usb_keys,	 nitems(usb_keys) },
	{ "fleet",	false,	fleet_keys,	 nitems(fleet_keys) },
};

static const struct kk_cfg_type policy_file = {
	.noun = "policy",
	.max = 1024 * 1024,
	.size_last = false,
};

/* kk_cfg_read refuses longer paths, so np->path never truncates one. */
_Static_assert(sizeof(((struct kk_policy *)NULL)->path) >= PATH_MAX,
    "kk_policy.path shorter than the paths kk_cfg_read accepts");

static const uint16_t default_mail_tcp[] = { 25, 465, 587, 110, 995, 143, 993 };
static const uint16_t default_web_tcp[] = { 80, 443, 8080, 8443 };
static const uint16_t default_web_udp[] = { 443 };

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
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
	char q[KK_CFG_QUOTE_SIZE];
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
			kk_cfg_fail_at(l, s, "%s: '%s': %s", qname,
			    kk_cfg_quote(v, q, sizeof(q)), why);
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
 * has it already and appends it; dst is the list, emptied first.
 */
struct list_kind {
	struct kk_cfg_list list;
	int (*add)(struct kk_cfg_loader *, const config_setting_t *,
	    const char *, void *);
};

static int
add_addr(struct kk_cfg_loader *l, const config_setting_t *e,
    const char *qname, void *arg)
{
	struct kk_addrlist *dst = arg;
	const char *v = config_setting_get_string(e), *why;
	struct kk_addr addr;
	char q[KK_CFG_QUOTE_SIZE];
	size_t j;

	if (kk_addr_parse(v, &addr) != 0)
		why = kk_addr_problem(v);
	else
		why = addr_unusable(&addr);
	if (why != NULL) {
		kk_cfg_fail_at(l, e, "%s: '%s': %s", qname,
		    kk_cfg_quote(v, q, sizeof(q)), why);
		return -EINVAL;
	}
	for (j = 0; j < dst->n; j++) {
		if (dst->addr[j].family == addr.family &&
		    memcmp(&dst->addr[j].a, &addr.a,
		    addr.family == AF_INET ? sizeof(addr.a.v4) :
		    sizeof(addr.a.v6)) == 0) {
			kk_cfg_fail_at(l, e, "%s: duplicate address '%s'",
			    qname, kk_cfg_quote(v, q, sizeof(q)));
			return -EINVAL;
		}
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
	char q[KK_CFG_QUOTE_SIZE];
	size_t j;
	int rc;

	if ((rc = check_path(l, e, qname, v, KK_PROTECT_PATH_MAX)) != 0)
		return rc;
	for (j = 0; j < dst->n; j++) {
		if (strcmp(dst->path[j], v) == 0) {
			kk_cfg_fail_at(l, e, "%s: duplicate path '%s'", qname,
			    kk_cfg_quote(v, q, sizeof(q)));
			return -EINVAL;
		}
	}
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
	char q[KK_CFG_QUOTE_SIZE];

	why = kk_endpoint_problem(v, &ep.addr, &ep.port);
	if (why == NULL)
		why = addr_unusable(&ep.addr);
	if (why != NULL) {
		kk_cfg_fail_at(l, e, "%s: '%s': %s", qname,
		    kk_cfg_quote(v, q, sizeof(q)), why);
		return -EINVAL;
	}
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
	    KK_MAX_ADDRS }, add_addr },
	[KEY_PORTS] = { { "integers", CONFIG_TYPE_INT, "ports",
	    KK_MAX_PORTS }, add_port },
	[KEY_PATHS] = { { "strings", CONFIG_TYPE_STRING, "paths",
	    KK_MAX_PROTECT }, add_path },
	[KEY_ENDPOINTS] = { { "strings", CONFIG_TYPE_STRING, "endpoints",
	    KK_MAX_PROBES }, add_endpoint },
	[KEY_GROUPS] = { { "strings", CONFIG_TYPE_STRING, "groups",
	    KK_MAX_GROUPS }, add_group },
};

static int
load_list(struct kk_cfg_loader *l, const config_setting_t *s,
    const char *qname, const struct list_kind *lk, bool nonempty,
    size_t *np, void *dst)
{
	const config_setting_t *e;
	size_t i, n;
	int rc;

	if ((rc = kk_cfg_list_len(l, s, qname, &lk->list, nonempty, &n)) != 0)
		return rc;
	*np = 0;
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

static int
load_key(struct kk_cfg_loader *l, const struct key_spec *k, const char *qname,
    const config_setting_t *s, struct kk_policy *np)
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
		rc = load_list(l, s, qname, &list_kinds[k->kind],
		    k->flags & KEY_NONEMPTY,
		    &((struct kk_addrlist *)(void *)dst)->n, dst);
		break;
	case KEY_PORTS:
		rc = load_list(l, s, qname, &list_kinds[k->kind],
		    k->flags & KEY_NONEMPTY,
		    &((struct kk_portlist *)(void *)dst)->n, dst);
		break;
	case KEY_PATHS:
		rc = load_list(l, s, qname, &list_kinds[k->kind], false,
		    &((struct kk_pathlist *)(void *)dst)->n, dst);
		break;
	case KEY_ENDPOINTS:
		rc = load_list(l, s, qname, &list_kinds[k->kind], false,
		    &((struct kk_endpointlist *)(void *)dst)->n, dst);
		break;
	case KEY_GROUPS:
		rc = load_list(l, s, qname, &list_kinds[k->kind], false,
		    &((struct kk_grouplist *)(void *)dst)->n, dst);
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

static int
load_section(struct kk_cfg_loader *l, const struct section_spec *sec,
    const config_setting_t *group, struct kk_policy *np)
{
	const config_setting_t *s;
	const struct key_spec *k;
	char qname[96];
	size_t i, j, n;
	int rc = 0;

	n = (size_t)config_setting_length(group);
	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(group, (unsigned)i);
		snprintf(qname, sizeof(qname), "%s.%s", sec->name,
		    config_setting_name(s));
		for (j = 0, k = NULL; j < sec->nkeys; j++) {
			if (strcmp(sec->keys[j].name,
			    config_setting_name(s)) == 0) {
				k = &sec->keys[j];
				break;
			}
		}
		if (k == NULL) {
			kk_cfg_fail_at(l, s, "unknown key '%s'", qname);
			rc = -EINVAL;
			goto out;
		}
		if ((rc = load_key(l, k, qname, s, np)) != 0)
			goto out;
	}

	/* After the walk, so that a misspelt key is reported as such. */
	for (j = 0; j < sec->nkeys; j++) {
		k = &sec->keys[j];
		if ((k->flags & KEY_REQUIRED) &&
		    config_setting_get_member(group, k->name) == NULL) {
			kk_cfg_fail_at(l, group, "missing required key '%s.%s'",
			    sec->name, k->name);
			rc = -EINVAL;
			goto out;
		}
	}
out:
	return rc;
}

static int
load_root(struct kk_cfg_loader *l, const config_setting_t *root,
    struct kk_policy *np)
{
	const struct section_spec *sec;
	const config_setting_t *s;
	const char *name;
	size_t i, j, n;
	int rc = 0;

	n = (size_t)config_setting_length(root);
	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(root, (unsigned)i);
		name = config_setting_name(s);
		for (j = 0, sec = NULL; j < nitems(sections); j++) {
			if (strcmp(sections[j].name, name) == 0) {
				sec = &sections[j];
				break;
			}
		}
		if (sec == NULL) {
			kk_cfg_fail_at(l, s, "unknown section '%s'", name);
			rc = -EINVAL;
			goto out;
		}
		if (!config_setting_is_group(s)) {
			kk_cfg_fail_at(l, s, "%s must be a group: %s: { ... };",
			    name, name);
			rc = -EINVAL;
			goto out;
		}
		if ((rc = load_section(l, sec, s, np)) != 0)
			goto out;
	}
	for (j = 0; j < nitems(sections); j++) {
		if (sections[j].required &&
		    config_setting_get_member(root, sections[j].name) == NULL) {
			kk_cfg_fail(l, 0, "missing required section '%s'",
			    sections[j].name);
			rc = -EINVAL;
			goto out;
		}
	}
out:
	return rc;
}

/*
 * agent.tls_key and agent.tls_cert not given: agent-tls.key and
 * agent-tls.crt in the directory of agent.key (DESIGN 2).
 */
static void
default_tls_paths(struct kk_policy *p)
{
	const char *slash = strrchr(p->key, '/');
	int dirlen = slash ? (int)(slash - p->key) : 0;

	if (p->tls_key[0] == '\0')
		snprintf(p->tls_key, sizeof(p->tls_key), "%.*s/agent-tls.key",
		    dirlen, p->key);
	if (p->tls_cert[0] == '\0')
		snprintf(p->tls_cert, sizeof(p->tls_cert), "%.*s/agent-tls.crt",
		    dirlen, p->key);
}

void
kk_policy_defaults(struct kk_policy *p)
{
	memset(p, 0, sizeof(*p));
	/* Required in a file; DESIGN 2 paths for callers without one. */
	snprintf(p->state_dir, sizeof(p->state_dir), "/var/lib/kakuri");
	snprintf(p->control_socket, sizeof(p->control_socket),
	    "/run/kakuri/control.sock");
	snprintf(p->staff_group, sizeof(p->staff_group), "kakuri");
	p->disconnect_mode = KK_MODE_ISOLATED;
	snprintf(p->user, sizeof(p->user), "kakuri");
	snprintf(p->listen, sizeof(p->listen), "[::]:7443");
	snprintf(p->key, sizeof(p->key), "/etc/kakuri/agent.key");
	snprintf(p->cert, sizeof(p->cert), "/etc/kakuri/agent.crt");
	default_tls_paths(p);
	snprintf(p->trust, sizeof(p->trust), "/etc/kakuri/trust.conf");
	snprintf(p->client_ca, sizeof(p->client_ca),
	    "/etc/kakuri/csirt-ca.pem");
	p->dhcp = true;
	p->ndp = true;
	memcpy(p->mail_tcp.port, default_mail_tcp, sizeof(default_mail_tcp));
	p->mail_tcp.n = nitems(default_mail_tcp);
	memcpy(p->web_tcp.port, default_web_tcp, sizeof(default_web_tcp));
	p->web_tcp.n = nitems(default_web_tcp);
	memcpy(p->web_udp.port, default_web_udp, sizeof(default_web_udp));
	p->web_udp.n = nitems(default_web_udp);
	snprintf(p->contact_desk, sizeof(p->contact_desk),
	    "CSIRT / IT help desk");
	p->protect = KK_PROTECT_AUTO;
	p->clock_skew = 120;
	p->max_lifetime = 3600;
	p->freeze_timeout = 5;
	p->collect_timeout = 60;
	p->collect_max_mb = 256;
	p->snapshot_timeout = 1800;
	p->audit_max_mb = 64;
	p->report_max_mb = 64;
	p->audit_keep = 4;
	p->drill_max_duration = 3600;
	p->drill_gate = 10;
	p->block_log_group = 7;
	p->block_log_rate = 10;
	p->block_log_unit = 1;
	p->block_report_interval = 60;
}

/*
 * The new policy is built in a scratch copy and handed over only when all
 * of it is valid, so a reload with a broken file keeps the old policy.
 */
/*
 * While isolated the broker stays reachable (DESIGN 9): its address is a
 * management peer and its port a management port, as if the policy said
 * so; the table's own rows let only kakurid's uid connect out to them.
 */
static int
broker_is_management(struct kk_cfg_loader *l, struct kk_policy *np)
{
	struct kk_addr addr;
	uint16_t port;
	size_t i;

	if (np->fleet_broker[0] == '\0' ||
	    kk_endpoint_parse(np->fleet_broker, &addr, &port) < 0)
		return 0;
	for (i = 0; i < np->peers.n; i++)
		if (memcmp(&np->peers.addr[i], &addr, sizeof(addr)) == 0)
			break;
	if (i == np->peers.n) {
		if (np->peers.n == KK_MAX_ADDRS)
			goto full;
		np->peers.addr[np->peers.n++] = addr;
	}
	for (i = 0; i < np->mgmt_ports.n; i++)
		if (np->mgmt_ports.port[i] == port)
			return 0;
	if (np->mgmt_ports.n == KK_MAX_PORTS)
		goto full;
	np->mgmt_ports.port[np->mgmt_ports.n++] = port;
	return 0;
full:
	kk_cfg_fail(l, 0, "fleet.broker does not fit into management.peers "
	    "and management.ports (too many entries)");
	return -EINVAL;
}

int
kk_policy_load(const char *path, unsigned flags, struct kk_policy *p,
    char *err, size_t errlen)
{
	struct kk_cfg_loader l;
	struct kk_policy *np = NULL;
	const config_setting_t *root;
	int rc;

	/* Nowhere to put the policy is refused like no policy at all. */
	np = kk_cfg_begin(&l, path, p != NULL, flags, err, errlen,
	    &policy_file, sizeof(*np), &rc);
	if (np == NULL)
		goto out;
	kk_policy_defaults(np);
	snprintf(np->path, sizeof(np->path), "%s", path);
	/* derived from agent.key once the file has said where that is */
	np->tls_key[0] = np->tls_cert[0] = '\0';

	if ((rc = kk_cfg_parse(&l, &root)) != 0)
		goto out;
	if ((rc = load_root(&l, root, np)) != 0)
		goto out;
	default_tls_paths(np);
	if (np->collector[0] != '\0' && np->collector_id[0] == '\0' &&
	    np->report_ca[0] == '\0') {
		/* reports never go to a collector nobody authenticated */
		kk_cfg_fail(&l, 0, "report.collector needs report.collector_id "
		    "or report.ca");
		rc = -EINVAL;
		goto out;
	}
	if (np->fleet_broker[0] != '\0' && (np->fleet_ca[0] == '\0' ||
	    np->fleet_cert[0] == '\0')) {
		/* the broker relays commands: never one nobody authenticated */
		kk_cfg_fail(&l, 0, "fleet.broker needs fleet.ca and fleet.cert");
		rc = -EINVAL;
		goto out;
	}
	if ((rc = broker_is_management(&l, np)) != 0)
		goto out;
	if (strcmp(np->tls_key, np->key) == 0 ||
	    strcmp(np->tls_cert, np->cert) == 0) {
		kk_cfg_fail(&l, 0, "agent.tls_key and agent.tls_cert must be "
		    "other files than agent.key and agent.cert: the identity key "
		    "stays in the root parent");
		rc = -EINVAL;
		goto out;
	}

	memcpy(p, np, sizeof(*p));
	rc = 0;
out:
	free(np);
	kk_cfg_close(&l);
	return rc;
}
