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

#include "parse_keys.h"

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
		if ((rc = kd_policy_load_key(l, k, qname, s, np)) != 0)
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
	snprintf(p->state_dir, sizeof(p->state_dir), "%s", KK_DEFAULT_STATE_DIR);
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
int
kk_policy_load(const char *path, unsigned flags, struct kk_policy *p,
    char *err, size_t errlen)
{
	return kk_policy_load_text(path, flags, p, err, errlen, NULL, NULL);
}

int
kk_policy_load_text(const char *path, unsigned flags, struct kk_policy *p,
    char *err, size_t errlen, char **text, size_t *len)
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
	if (np->report_ca[0] != '\0' && np->collector[0] == '\0' &&
	    np->collector_id[0] == '\0') {
		/*
		 * the CA certifies the agents too: without the collector's
		 * address to look for in its certificate, any agent's would
		 * pass for it (acks through the broker)
		 */
		kk_cfg_fail(&l, 0, "report.ca without report.collector cannot "
		    "tell the collector from an agent: set "
		    "report.collector_id");
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
	if (text != NULL) {
		*text = l.buf;		/* kept from kk_cfg_close */
		*len = l.len;
		l.buf = NULL;
	}
out:
	free(np);
	kk_cfg_close(&l);
	return rc;
}
