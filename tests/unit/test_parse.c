/*
 * Policy loader (agentd/parse.c): the shipped policies, valid and hostile
 * fixtures, the checks on the file itself, and address parsing.
 *
 * Runs with the working directory tests/unit.  Fixtures are loaded with
 * KK_POLICY_SKIP_OWNER_CHECK because a checkout need not be root-owned;
 * the owner check itself is tested on copies in a private temp dir.
 */
#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "kakuri.h"
#include "suites.h"
#include "testutil.h"

#define SHIPPED		"../../policies/kakuri.conf"
#define EXAMPLES	"../../policies/examples"
#define FIX(name)	"fixtures/" name ".conf"
#define MIB		(1024 * 1024)

/* Heap-allocated like the daemon does: the struct is tens of kilobytes. */
static struct kk_policy *
policy_new(void)
{
	struct kk_policy *p = malloc(sizeof(*p));

	ck_assert_ptr_nonnull(p);
	memset(p, 0xa5, sizeof(*p));
	return p;
}

/* The policy a test loads into: new (all 0xa5) for every test. */
static struct kk_policy *policy;

static void
policy_setup(void)
{
	policy = policy_new();
}

static void
policy_teardown(void)
{
	free(policy);
	policy = NULL;
}

/* path loaded into policy, without the owner check. */
static int
load(const char *path, char *err, size_t errlen)
{
	return kk_policy_load(path, KK_POLICY_SKIP_OWNER_CHECK, policy, err,
	    errlen);
}

static void
assert_addr(const struct kk_addr *a, int family, const char *text)
{
	char buf[INET6_ADDRSTRLEN];

	ck_assert_int_eq(a->family, family);
	ck_assert_int_eq(kk_addr_format(a, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, text);
}

static void
assert_ports(const struct kk_portlist *l, const uint16_t *want, size_t n)
{
	size_t i;

	ck_assert_uint_eq(l->n, n);
	for (i = 0; i < n; i++)
		ck_assert_uint_eq(l->port[i], want[i]);
}

/* Who may do what and where the agent listens: one fixture's settings. */
struct want_agent {
	const char *staff_group;
	enum kk_mode disconnect_mode;
	const char *user;
	const char *listen;
	const char *trust;
	const char *client_ca;
};

/* staff_group, disconnect_mode, user, listen, trust, client_ca */
static const struct want_agent agent_defaults = { "kakuri", KK_MODE_ISOLATED,
	"kakuri", "[::]:7443", "/etc/kakuri/trust.conf",
	"/etc/kakuri/csirt-ca.pem" };
static const struct want_agent agent_full = { "csirt-staff", KK_MODE_EGRESS,
	"_kakuri", "198.51.100.7:9443", "/srv/kakuri/etc/trust.conf",
	"/srv/kakuri/etc/ca.pem" };

static void
assert_agent(const struct kk_policy *p, const struct want_agent *w)
{
	ck_assert_str_eq(p->staff_group, w->staff_group);
	ck_assert_int_eq(p->disconnect_mode, w->disconnect_mode);
	ck_assert_str_eq(p->user, w->user);
	ck_assert_str_eq(p->listen, w->listen);
	ck_assert_str_eq(p->trust, w->trust);
	ck_assert_str_eq(p->client_ca, w->client_ca);
}

/*
 * The built-in defaults that kk_policy_defaults(), the shipped policy and
 * the minimal example all have.
 */
static void
assert_common_defaults(const struct kk_policy *p)
{
	static const uint16_t mail[] = { 25, 465, 587, 110, 995, 143, 993 };
	static const uint16_t web[] = { 80, 443, 8080, 8443 };
	static const uint16_t udp[] = { 443 };

	assert_agent(p, &agent_defaults);
	ck_assert_uint_eq(p->dns.n, 0);
	ck_assert(p->dhcp);
	ck_assert(p->ndp);
	assert_ports(&p->mail_tcp, mail, 7);
	assert_ports(&p->web_tcp, web, 4);
	assert_ports(&p->web_udp, udp, 1);
	ck_assert_int_eq(p->protect, KK_PROTECT_AUTO);
}

/*
 * The defaults of the optional keys the shipped policy sets: no
 * collector, the default help desk, no phone or mail address.
 */
static void
assert_optional_defaults(const struct kk_policy *p)
{
	ck_assert_str_eq(p->collector, "");
	ck_assert_str_eq(p->contact_desk, "CSIRT / IT help desk");
	ck_assert_str_eq(p->contact_phone, "");
	ck_assert_str_eq(p->contact_email, "");
}

/* A private copy of src with the given mode; returns its path in dst. */
static void
copy_to_tmp(const char *src, const char *name, mode_t mode, char dst[PATH_MAX])
{
	size_t len;
	char *data;

	kk_test_join(dst, kk_test_base, name);
	data = kk_test_read(src, &len);
	kk_test_write(dst, data, len, mode);
	free(data);
}

/*
 * A checkout made under umask 002 leaves the shipped files group-writable,
 * which the loader rightly refuses; then test their content through a
 * private 0644 copy.
 */
static int
load_shipped(const char *path, const char *name, char *err, size_t errlen)
{
	char copy[PATH_MAX];
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) == 0)
		return load(path, err, errlen);
	copy_to_tmp(path, name, 0644, copy);
	return load(copy, err, errlen);
}

/*
 * path loaded into policy, which it must: a shipped file (through
 * load_shipped() and a copy named name), or with name NULL a fixture.
 */
static void
loaded(const char *path, const char *name)
{
	char err[512];
	int rc;

	if (name != NULL)
		rc = load_shipped(path, name, err, sizeof(err));
	else
		rc = load(path, err, sizeof(err));
	ck_assert_msg(rc == 0, "%s: %s", path, err);
}

/* --- shipped policies --- */

START_TEST(test_shipped_default)
{
	static const uint16_t mgmt[] = { 7443, 7444 };

	loaded(SHIPPED, "shipped.conf");
	ck_assert_ptr_nonnull(strstr(policy->path, ".conf"));
	ck_assert_str_eq(policy->state_dir, "/var/lib/kakuri");
	ck_assert_str_eq(policy->control_socket, "/run/kakuri/control.sock");
	assert_common_defaults(policy);
	ck_assert_str_eq(policy->key, "/etc/kakuri/agent.key");
	ck_assert_str_eq(policy->cert, "/etc/kakuri/agent.crt");
	ck_assert_uint_eq(policy->peers.n, 2);
	assert_addr(&policy->peers.addr[0], AF_INET, "192.0.2.10");
	assert_addr(&policy->peers.addr[1], AF_INET6, "2001:db8::10");
	assert_ports(&policy->mgmt_ports, mgmt, 2);
	ck_assert_str_eq(policy->collector, "192.0.2.10:7444");
	ck_assert_str_ne(policy->contact_desk, "");
	ck_assert_str_ne(policy->contact_phone, "");
	ck_assert_str_ne(policy->contact_email, "");
}
END_TEST

START_TEST(test_shipped_direct_path)
{
	struct stat st;
	char err[512];

	/* By its path in the tree: fine unless umask 002 made it 0664. */
	ck_assert_int_eq(stat(SHIPPED, &st), 0);
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		ck_assert_int_eq(load(SHIPPED, err, sizeof(err)), -EPERM);
	} else {
		ck_assert_int_eq(load(SHIPPED, err, sizeof(err)), 0);
		ck_assert_str_eq(policy->path, SHIPPED);
	}
}
END_TEST

START_TEST(test_example_minimal)
{
	static const uint16_t mgmt[] = { 7443 };

	loaded(EXAMPLES "/minimal.conf", "minimal.conf");
	ck_assert_uint_eq(policy->peers.n, 1);
	assert_addr(&policy->peers.addr[0], AF_INET, "192.0.2.10");
	assert_ports(&policy->mgmt_ports, mgmt, 1);
	/* every optional key takes its default */
	assert_common_defaults(policy);
	assert_optional_defaults(policy);
}
END_TEST

START_TEST(test_example_egress_first)
{
	static const uint16_t mail[] = {
		25, 465, 587, 2525, 110, 995, 143, 993,
	};
	static const uint16_t web[] = { 80, 443, 3128, 8080, 8443 };

	loaded(EXAMPLES "/egress-first.conf", "egress.conf");
	ck_assert_int_eq(policy->disconnect_mode, KK_MODE_EGRESS);
	ck_assert_uint_eq(policy->peers.n, 3);
	ck_assert_int_eq(policy->peers.addr[0].family, AF_INET);
	ck_assert_int_eq(policy->peers.addr[1].family, AF_INET);
	assert_addr(&policy->peers.addr[2], AF_INET6, "2001:db8::10");
	assert_ports(&policy->mail_tcp, mail, 8);
	assert_ports(&policy->web_tcp, web, 5);
	ck_assert_uint_eq(policy->web_udp.n, 1);
	ck_assert_str_eq(policy->contact_desk, "Information Security Office");
}
END_TEST

START_TEST(test_example_pinned_dns)
{
	loaded(EXAMPLES "/pinned-dns.conf", "pinned.conf");

	ck_assert_uint_eq(policy->dns.n, 2);
	assert_addr(&policy->dns.addr[0], AF_INET, "198.51.100.53");
	assert_addr(&policy->dns.addr[1], AF_INET6, "2001:db8:53::53");
	ck_assert(!policy->dhcp);
	ck_assert(policy->ndp);
	ck_assert_str_eq(policy->listen, "198.51.100.20:7443");
	ck_assert_str_eq(policy->collector, "[2001:db8::10]:7444");
	ck_assert_int_eq(policy->disconnect_mode, KK_MODE_ISOLATED);
}
END_TEST

/* Every example shipped, including ones added later, must load. */
START_TEST(test_examples_all_load)
{
	char err[512], name[64];
	glob_t g;
	size_t i;
	int rc;

	ck_assert_int_eq(glob(EXAMPLES "/*.conf", 0, NULL, &g), 0);
	ck_assert_uint_ge(g.gl_pathc, 3);
	for (i = 0; i < g.gl_pathc; i++) {
		snprintf(name, sizeof(name), "example-%zu.conf", i);
		rc = load_shipped(g.gl_pathv[i], name, err, sizeof(err));
		ck_assert_msg(rc == 0, "%s: %s", g.gl_pathv[i], err);
		ck_assert_uint_ge(policy->peers.n, 1);
		ck_assert_uint_ge(policy->mgmt_ports.n, 1);
	}
	globfree(&g);
}
END_TEST

/* --- valid fixtures and load semantics --- */

START_TEST(test_defaults)
{

	kk_policy_defaults(policy);
	ck_assert_str_eq(policy->path, "");
	assert_common_defaults(policy);
	ck_assert_str_eq(policy->key, "/etc/kakuri/agent.key");
	ck_assert_str_eq(policy->cert, "/etc/kakuri/agent.crt");
	ck_assert_uint_eq(policy->peers.n, 0);
	ck_assert_uint_eq(policy->mgmt_ports.n, 0);
	assert_optional_defaults(policy);
}
END_TEST

START_TEST(test_valid_full)
{
	static const uint16_t mgmt[] = { 7467, 7444, 22 };
	static const uint16_t mail[] = { 25 };
	static const uint16_t web[] = { 80, 443 };

	loaded(FIX("valid_full"), NULL);
	ck_assert_str_eq(policy->path, FIX("valid_full"));
	ck_assert_str_eq(policy->state_dir, "/srv/kakuri/state");
	ck_assert_str_eq(policy->control_socket, "/srv/kakuri/run/ctl.sock");
	assert_agent(policy, &agent_full);
	ck_assert_str_eq(policy->key, "/srv/kakuri/etc/agent.key");
	ck_assert_str_eq(policy->cert, "/srv/kakuri/etc/agent.crt");
	ck_assert_uint_eq(policy->peers.n, 3);
	assert_addr(&policy->peers.addr[0], AF_INET, "203.0.113.5");
	assert_addr(&policy->peers.addr[1], AF_INET6, "2001:db8:1::5");
	assert_addr(&policy->peers.addr[2], AF_INET, "203.0.113.6");
	assert_ports(&policy->mgmt_ports, mgmt, 3);
	ck_assert_uint_eq(policy->dns.n, 2);
	assert_addr(&policy->dns.addr[1], AF_INET6, "2001:db8:1::53");
	ck_assert(!policy->dhcp);
	ck_assert(!policy->ndp);
	assert_ports(&policy->mail_tcp, mail, 1);
	assert_ports(&policy->web_tcp, web, 2);
	ck_assert_uint_eq(policy->web_udp.n, 0);
	ck_assert_str_eq(policy->collector, "[2001:db8:1::5]:7444");
	ck_assert_str_eq(policy->contact_desk,
	    "\xe6\x83\x85\xe5\xa0\xb1\xe3\x82\xbb\xe3\x82\xad\xe3\x83\xa5"
	    "\xe3\x83\xaa\xe3\x83\x86\xe3\x82\xa3\xe5\xae\xa4 (CSIRT)");
	ck_assert_str_eq(policy->contact_phone, "+81 3 0000 0000");
	ck_assert_str_eq(policy->contact_email, "csirt@example.jp");
	ck_assert_int_eq(policy->protect, KK_PROTECT_MONITOR);
}
END_TEST

START_TEST(test_valid_sparse)
{
	loaded(FIX("valid_sparse"), NULL);

	ck_assert_uint_eq(policy->peers.n, 1);
	assert_addr(&policy->peers.addr[0], AF_INET6, "2001:db8::10");
	/* [] means: block none; left out: the default */
	ck_assert_uint_eq(policy->web_udp.n, 0);
	ck_assert_uint_eq(policy->web_tcp.n, 4);
	ck_assert_str_eq(policy->collector, "");
	ck_assert_str_eq(policy->client_ca, "/etc/kakuri/csirt-ca.pem");
	ck_assert_str_eq(policy->contact_desk, "CSIRT / IT help desk");
}
END_TEST

START_TEST(test_success_clears_err)
{
	char err[64] = "stale message";

	ck_assert_int_eq(load(FIX("valid_sparse"), err, sizeof(err)), 0);
	ck_assert_str_eq(err, "");
	/* err is optional */
	ck_assert_int_eq(load(FIX("valid_sparse"), NULL, 0), 0);
	ck_assert_int_eq(load(FIX("unknown_key"), NULL, 0), -EINVAL);
}
END_TEST

/* A reload replaces the whole policy: keys left out go back to defaults. */
START_TEST(test_reload_resets_defaults)
{
	char err[512];

	ck_assert_int_eq(load(FIX("valid_full"), err, sizeof(err)), 0);
	ck_assert_int_eq(policy->disconnect_mode, KK_MODE_EGRESS);
	ck_assert_int_eq(load(FIX("valid_sparse"), err, sizeof(err)), 0);
	ck_assert_str_eq(policy->path, FIX("valid_sparse"));
	ck_assert_int_eq(policy->disconnect_mode, KK_MODE_ISOLATED);
	ck_assert(policy->dhcp);
	ck_assert_uint_eq(policy->dns.n, 0);
	ck_assert_uint_eq(policy->mail_tcp.n, 7);
	ck_assert_str_eq(policy->staff_group, "kakuri");
	ck_assert_str_eq(policy->contact_phone, "");
	ck_assert_int_eq(policy->protect, KK_PROTECT_AUTO);
}
END_TEST

/* SIGHUP with a broken file must keep the policy in force, byte for byte. */
START_TEST(test_failed_load_keeps_policy)
{
	static const char *const broken[] = {
		FIX("unknown_key"), FIX("port_duplicate"), FIX("port_wrap"),
		FIX("syntax_error"), FIX("include"), FIX("hostname_peer"),
		FIX("contact_escape"), FIX("missing_management"),
		"fixtures/does_not_exist.conf",
	};
	struct kk_policy *saved = policy_new();
	char err[512];
	size_t i;

	ck_assert_int_eq(load(FIX("valid_full"), err, sizeof(err)), 0);
	memcpy(saved, policy, sizeof(*policy));
	for (i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		ck_assert_int_lt(load(broken[i], err, sizeof(err)), 0);
		ck_assert_msg(memcmp(policy, saved, sizeof(*policy)) == 0,
		    "%s changed the policy", broken[i]);
	}
	free(saved);
}
END_TEST

/* --- hostile fixtures --- */

static const struct hostile {
	const char *file;
	int rc;
	int line;		/* 0: the message names no line */
	const char *msg;
} hostile[] = {
	{ FIX("unknown_section"), -EINVAL, 12,
	    "unknown section 'logging'" },
	{ FIX("unknown_key"), -EINVAL, 5,
	    "unknown key 'agent.stat_dir'" },
	{ FIX("wrong_type"), -EINVAL, 11,
	    "management.dhcp must be a boolean" },
	{ FIX("wrong_type_port"), -EINVAL, 10,
	    "management.ports must be an array of integers" },
	{ FIX("float_port"), -EINVAL, 10,
	    "management.ports must be an array of integers" },
	{ FIX("missing_required"), -EINVAL, 3,
	    "missing required key 'agent.control_socket'" },
	{ FIX("missing_management"), -EINVAL, 0,
	    "missing required section 'management'" },
	{ FIX("missing_ports"), -EINVAL, 7,
	    "missing required key 'management.ports'" },
	{ FIX("section_not_group"), -EINVAL, 7,
	    "management must be a group" },
	{ FIX("empty_peers"), -EINVAL, 9,
	    "management.peers must not be empty" },
	{ FIX("hostname_peer"), -EINVAL, 11,
	    "host names are not allowed" },
	{ FIX("dns_last_element"), -EINVAL, 14,
	    "management.dns: 'resolver.example.org': not an IP literal" },
	{ FIX("peer_prefix"), -EINVAL, 9,
	    "prefix lengths are not allowed" },
	{ FIX("peer_scope"), -EINVAL, 9,
	    "scope ids are not allowed" },
	{ FIX("peer_duplicate"), -EINVAL, 10,
	    "duplicate address" },
	{ FIX("peer_mapped"), -EINVAL, 9,
	    "IPv4-mapped" },
	{ FIX("dns_unspecified"), -EINVAL, 11,
	    "management.dns: '0.0.0.0': the unspecified address" },
	{ FIX("too_many_peers"), -EINVAL, 9,
	    "too many addresses (at most 64)" },
	{ FIX("port_zero"), -EINVAL, 10,
	    "port 0 out of range 1-65535" },
	{ FIX("port_70000"), -EINVAL, 10,
	    "port 70000 out of range 1-65535" },
	{ FIX("port_negative"), -EINVAL, 10,
	    "port -1 out of range" },
	{ FIX("port_last_element"), -EINVAL, 12,
	    "port 70000 out of range" },
	{ FIX("port_wrap"), -EINVAL, 11,
	    "integer 4294967377 out of range" },
	{ FIX("port_duplicate"), -EINVAL, 15,
	    "egress.web_tcp: duplicate port 80" },
	{ FIX("too_many_ports"), -EINVAL, 14,
	    "too many ports (at most 32)" },
	{ FIX("relative_path"), -EINVAL, 4,
	    "agent.state_dir must be an absolute path" },
	{ FIX("dotdot_path"), -EINVAL, 6,
	    "agent.trust must not contain '..'" },
	{ FIX("empty_path"), -EINVAL, 5,
	    "agent.control_socket must not be empty" },
	{ FIX("bad_disconnect_mode"), -EINVAL, 6,
	    "agent.disconnect_mode must be \"isolated\" or \"egress\"" },
	{ FIX("bad_user"), -EINVAL, 6,
	    "agent.user: 'Root' is not a valid name" },
	{ FIX("long_group"), -EINVAL, 6,
	    "is not a valid name" },
	{ FIX("listen_hostname"), -EINVAL, 6,
	    "host names are not allowed" },
	{ FIX("listen_v6_unbracketed"), -EINVAL, 6,
	    "must be in brackets" },
	{ FIX("listen_bad_port"), -EINVAL, 6,
	    "port must be a number 1-65535" },
	{ FIX("collector_unspecified"), -EINVAL, 14,
	    "report.collector: '0.0.0.0:7444': the unspecified address" },
	{ FIX("bad_protect"), -EINVAL, 14,
	    "nftables.protect must be \"auto\" or \"monitor\"" },
	{ FIX("contact_escape"), -EINVAL, 14,
	    "contact.desk contains a control character" },
	{ FIX("contact_c1"), -EINVAL, 14,
	    "contact.email contains a control character" },
	{ FIX("contact_bidi"), -EINVAL, 14,
	    "contact.desk contains a control character" },
	{ FIX("contact_bad_utf8"), -EINVAL, 14,
	    "contact.phone is not valid UTF-8" },
	{ FIX("contact_too_long"), -EINVAL, 14,
	    "contact.desk is too long (at most 255 bytes)" },
	{ FIX("include"), -EINVAL, 12,
	    "@include is not allowed" },
	{ FIX("include_indented"), -EINVAL, 14,
	    "@include is not allowed" },
	{ FIX("syntax_error"), -EINVAL, 11,
	    "syntax error" },
	{ FIX("duplicate_key"), -EINVAL, 6,
	    "duplicate setting name" },
	{ FIX("audit_keep_zero"), -EINVAL, 14,
	    "audit.keep must be 1-16" },
	{ FIX("audit_keep_many"), -EINVAL, 14,
	    "audit.keep must be 1-16" },
	{ FIX("audit_max_mb_zero"), -EINVAL, 14,
	    "audit.max_mb must be 1-" },
	{ FIX("fleet_plain"), -EINVAL, 14,
	    "fleet.broker must be \"\" or \"mqtts://ADDR:PORT\"" },
	{ FIX("fleet_no_ca"), -EINVAL, 0,
	    "fleet.broker needs fleet.ca and fleet.cert" },
	{ FIX("report_ca_broker"), -EINVAL, 0,
	    "report.ca without report.collector cannot tell the collector "
	    "from an agent: set report.collector_id" },
	{ FIX("fleet_hostname"), -EINVAL, 14,
	    "fleet.broker: 'broker.example.org:8883': not an IP literal" },
	{ FIX("fleet_wildcard_group"), -EINVAL, 14,
	    "fleet.groups: '#' must start with a-z or 0-9" },
	{ FIX("fleet_group_twice"), -EINVAL, 14,
	    "fleet.groups: 'tokyo' is named twice" },
};

/* fleet { }: the broker is kept without its scheme, the groups in order. */
START_TEST(test_fleet_keys)
{
	char err[512];

	ck_assert_msg(load(FIX("fleet_valid"), err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_str_eq(policy->fleet_broker, "[2001:db8::10]:8883");
	ck_assert_str_eq(policy->fleet_ca, "/etc/kakuri/broker-ca.pem");
	ck_assert_str_eq(policy->fleet_cert, "/var/lib/kakuri/agent-fleet.crt");
	/*
	 * the broker is an untrusted relay, never a management peer: what
	 * the policy lists stays as listed (the rules give kakurid's own
	 * session to it a row of its own)
	 */
	ck_assert_uint_eq(policy->peers.n, 1);
	ck_assert_int_eq(policy->peers.addr[0].family, AF_INET);
	ck_assert_uint_eq(policy->mgmt_ports.n, 1);
	ck_assert_uint_eq(policy->mgmt_ports.port[0], 7443);
	ck_assert_uint_eq(policy->fleet_groups.n, 2);
	ck_assert_str_eq(policy->fleet_groups.name[0], "tokyo");
	ck_assert_str_eq(policy->fleet_groups.name[1], "finance-2");
	ck_assert_msg(load(FIX("valid_sparse"), err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_str_eq(policy->fleet_broker, "");
	ck_assert_uint_eq(policy->fleet_groups.n, 0);
}
END_TEST

/* audit { }: the rotation of the audit log, and its defaults. */
START_TEST(test_audit_keys)
{
	char err[512];

	ck_assert_msg(load(FIX("audit_valid"), err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_int_eq(policy->audit_max_mb, 1);
	ck_assert_int_eq(policy->audit_keep, 16);
	ck_assert_msg(load(FIX("valid_sparse"), err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_int_eq(policy->audit_max_mb, 64);
	ck_assert_int_eq(policy->audit_keep, 4);
}
END_TEST

START_TEST(test_hostile)
{
	const struct hostile *h = &hostile[_i];
	char err[512], prefix[PATH_MAX + 32];
	int rc;

	rc = load(h->file, err, sizeof(err));
	ck_assert_msg(rc == h->rc, "%s: rc %d, want %d (%s)", h->file, rc,
	    h->rc, err);
	if (h->line > 0)
		snprintf(prefix, sizeof(prefix), "%s:%d: ", h->file, h->line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", h->file);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
	    "got '%s', want prefix '%s'", err, prefix);
	ck_assert_msg(strstr(err + strlen(prefix), h->msg) != NULL,
	    "got '%s', want '%s'", err, h->msg);
	ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

/* --- the file itself --- */

START_TEST(test_symlink_refused)
{
	char target[PATH_MAX], link[PATH_MAX], want[PATH_MAX + 64], err[512];

	copy_to_tmp(FIX("valid_sparse"), "target.conf", 0644, target);
	kk_test_join(link, kk_test_base, "link.conf");
	ck_assert_int_eq(symlink(target, link), 0);
	ck_assert_int_eq(load(target, err, sizeof(err)), 0);
	ck_assert_int_eq(load(link, err, sizeof(err)), -ELOOP);
	snprintf(want, sizeof(want), "%s: refused: is a symbolic link", link);
	ck_assert_str_eq(err, want);
}
END_TEST

static const mode_t writable_modes[] = { 0666, 0664, 0620, 0602 };

START_TEST(test_writable_refused)
{
	char path[PATH_MAX], name[32], want[PATH_MAX + 64], err[512];
	mode_t mode = writable_modes[_i];

	snprintf(name, sizeof(name), "mode-%04o.conf", (unsigned)mode);
	copy_to_tmp(FIX("valid_sparse"), name, mode, path);
	/* the owner check is skipped, the mode check never is */
	ck_assert_int_eq(load(path, err, sizeof(err)), -EPERM);
	snprintf(want, sizeof(want),
	    "%s: refused: group- or world-writable (mode %04o)", path,
	    (unsigned)mode);
	ck_assert_str_eq(err, want);
	ck_assert_int_eq(kk_policy_load(path, 0, policy, err, sizeof(err)),
	    -EPERM);
}
END_TEST

START_TEST(test_owner_refused)
{
	char path[PATH_MAX], want[PATH_MAX + 64], err[512];
	uid_t owner = geteuid();

	copy_to_tmp(FIX("valid_sparse"), "owned.conf", 0644, path);
	if (owner == 0) {
		ck_assert_int_eq(chown(path, 65534, 65534), 0);
		owner = 65534;
	}
	ck_assert_int_eq(kk_policy_load(path, 0, policy, err, sizeof(err)),
	    -EPERM);
	snprintf(want, sizeof(want), "%s: refused: owned by uid %u, not root",
	    path, (unsigned)owner);
	ck_assert_str_eq(err, want);
	/* the flag skips exactly this check */
	ck_assert_int_eq(load(path, err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_owner_root_accepted)
{
	char path[PATH_MAX], err[512];
	int rc;

	copy_to_tmp(FIX("valid_sparse"), "root.conf", 0600, path);
	rc = kk_policy_load(path, 0, policy, err, sizeof(err));
	if (geteuid() == 0)
		ck_assert_msg(rc == 0, "%s", err);
	else
		ck_assert_int_eq(rc, -EPERM);
}
END_TEST

/* Valid content padded with comment lines to exactly len bytes. */
static char *
padded_policy(size_t len)
{
	size_t have;
	char *src, *buf;

	src = kk_test_read(FIX("valid_sparse"), &have);
	ck_assert_uint_lt(have + 2, len);
	buf = malloc(len);
	ck_assert_ptr_nonnull(buf);
	memcpy(buf, src, have);
	buf[have] = '#';
	memset(buf + have + 1, 'x', len - have - 2);
	buf[len - 1] = '\n';
	free(src);
	return buf;
}

START_TEST(test_size_limit)
{
	char path[PATH_MAX], want[PATH_MAX + 64], err[512];
	char *buf;

	buf = padded_policy(MIB);
	kk_test_join(path, kk_test_base, "exactly-1mib.conf");
	kk_test_write(path, buf, MIB, 0644);
	ck_assert_int_eq(load(path, err, sizeof(err)), 0);
	free(buf);

	buf = padded_policy(MIB + 1);
	kk_test_join(path, kk_test_base, "over-1mib.conf");
	kk_test_write(path, buf, MIB + 1, 0644);
	ck_assert_int_eq(load(path, err, sizeof(err)), -EFBIG);
	snprintf(want, sizeof(want), "%s: refused: larger than 1048576 bytes",
	    path);
	ck_assert_str_eq(err, want);
	free(buf);
}
END_TEST

START_TEST(test_nonexistent)
{
	char err[512];

	ck_assert_int_eq(load("fixtures/does_not_exist.conf", err,
	    sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, "fixtures/does_not_exist.conf: cannot open: "
	    "No such file or directory");
}
END_TEST

START_TEST(test_not_regular)
{
	char fifo[PATH_MAX], err[512];

	ck_assert_int_eq(load("fixtures", err, sizeof(err)), -EPERM);
	ck_assert_str_eq(err, "fixtures: refused: not a regular file");

	/* a FIFO must be refused, not block the daemon on open() */
	kk_test_join(fifo, kk_test_base, "fifo.conf");
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_eq(load(fifo, err, sizeof(err)), -EPERM);
	ck_assert_ptr_nonnull(strstr(err, "refused: not a regular file"));
}
END_TEST

START_TEST(test_nul_byte)
{
	static const char text[] =
	    "agent:\n{\n  state_dir = \"/var/lib/kakuri\";\0 junk\n";
	char path[PATH_MAX], err[512];

	kk_test_join(path, kk_test_base, "nul.conf");
	kk_test_write(path, text, sizeof(text) - 1, 0644);
	ck_assert_int_eq(load(path, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, ".conf:3: NUL byte"));
}
END_TEST

START_TEST(test_empty_file)
{
	char path[PATH_MAX], want[PATH_MAX + 64], err[512];

	kk_test_join(path, kk_test_base, "empty.conf");
	kk_test_write(path, "", 0, 0644);
	ck_assert_int_eq(load(path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s: missing required section 'agent'",
	    path);
	ck_assert_str_eq(err, want);
}
END_TEST

/* The path is echoed; it must not break the one-line rule. */
START_TEST(test_err_one_line)
{
	char err[512], tiny[16];

	ck_assert_int_eq(load("fixtures/no\nsuch\x1b.conf", err,
	    sizeof(err)), -ENOENT);
	ck_assert_ptr_null(strchr(err, '\n'));
	ck_assert_ptr_null(strchr(err, '\x1b'));
	ck_assert_ptr_nonnull(strstr(err, "fixtures/no?such?.conf: cannot"));

	/* a short buffer is truncated, never overrun */
	memset(tiny, 'Z', sizeof(tiny));
	ck_assert_int_eq(load(FIX("unknown_key"), tiny, 8), -EINVAL);
	ck_assert_uint_eq(strlen(tiny), 7);
	ck_assert_int_eq(tiny[8], 'Z');
}
END_TEST

/* --- addresses --- */

/* --- the network child's TLS key (agent.tls_key, agent.tls_cert) --- */

/* A policy file below kk_test_base with these agent settings. */
static void
agent_policy(const char *name, const char *agent, char path[PATH_MAX])
{
	char text[2048];
	int n;

	n = snprintf(text, sizeof(text), "agent: { state_dir = \"/var/lib/k\"; "
	    "control_socket = \"/run/k.sock\"; %s };\n"
	    "management: { peers = [ \"192.0.2.10\" ]; ports = [ 7443 ]; };\n",
	    agent);
	ck_assert_int_lt(n, (int)sizeof(text));
	kk_test_join(path, kk_test_base, name);
	kk_test_write(path, text, (size_t)n, 0600);
}

/* agent settings, and the TLS key and certificate they make */
static const struct tls_paths {
	const char *agent, *key, *cert;
} tls_paths[] = {
	/* not given: beside agent.key, wherever that is */
	{ "key = \"/srv/k/id.key\"; cert = \"/srv/c/id.crt\";",
	    "/srv/k/agent-tls.key", "/srv/k/agent-tls.crt" },
	{ "", "/etc/kakuri/agent-tls.key", "/etc/kakuri/agent-tls.crt" },
	/* given */
	{ "tls_key = \"/a/t.key\"; tls_cert = \"/b/t.crt\";",
	    "/a/t.key", "/b/t.crt" },
};

/* agent settings refused for the TLS key or certificate, and why */
static const struct tls_refused {
	const char *agent, *why;	/* why: NULL, not checked */
} tls_refused[] = {
	{ "key = \"/k/a.key\"; tls_key = \"/k/a.key\";",
	    "identity key stays in the root parent" },
	{ "tls_cert = \"/etc/kakuri/agent.crt\";", NULL },
	{ "tls_key = \"agent-tls.key\";", NULL },
};

START_TEST(test_tls_key_paths)
{
	char path[PATH_MAX], name[32], err[512];
	size_t i;

	kk_policy_defaults(policy);
	ck_assert_str_eq(policy->tls_key, "/etc/kakuri/agent-tls.key");
	ck_assert_str_eq(policy->tls_cert, "/etc/kakuri/agent-tls.crt");
	for (i = 0; i < sizeof(tls_paths) / sizeof(tls_paths[0]); i++) {
		snprintf(name, sizeof(name), "tls-%zu.conf", i);
		agent_policy(name, tls_paths[i].agent, path);
		ck_assert_msg(load(path, err, sizeof(err)) == 0, "%s", err);
		ck_assert_str_eq(policy->tls_key, tls_paths[i].key);
		ck_assert_str_eq(policy->tls_cert, tls_paths[i].cert);
	}
	for (i = 0; i < sizeof(tls_refused) / sizeof(tls_refused[0]); i++) {
		snprintf(name, sizeof(name), "tls-refused-%zu.conf", i);
		agent_policy(name, tls_refused[i].agent, path);
		ck_assert_msg(load(path, err, sizeof(err)) == -EINVAL,
		    "%s: %s", tls_refused[i].agent, err);
		if (tls_refused[i].why != NULL)
			ck_assert_ptr_nonnull(strstr(err, tls_refused[i].why));
	}
}
END_TEST

/* Any spelling goes in, the canonical one (RFC 5952) comes out. */
static const struct good_addr {
	const char *in;
	int family;
	const char *out;
} good_addrs[] = {
	{ "192.0.2.10", AF_INET, "192.0.2.10" },
	{ "255.255.255.255", AF_INET, "255.255.255.255" },
	{ "2001:0DB8:0000::0010", AF_INET6, "2001:db8::10" },
	{ "::1", AF_INET6, "::1" },
	{ "fe80::1:2:3:4", AF_INET6, "fe80::1:2:3:4" },
};

START_TEST(test_addr_canonical)
{
	const struct good_addr *g = &good_addrs[_i];
	struct kk_addr a;
	char buf[INET6_ADDRSTRLEN];

	ck_assert_int_eq(kk_addr_parse(g->in, &a), 0);
	ck_assert_int_eq(a.family, g->family);
	ck_assert_int_eq(kk_addr_format(&a, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, g->out);
}
END_TEST

/* The bytes parsed, in network order. */
START_TEST(test_addr_bytes)
{
	static const uint8_t v6[16] = {
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
	};
	struct kk_addr a;

	ck_assert_int_eq(kk_addr_parse("192.0.2.10", &a), 0);
	ck_assert_uint_eq(a.a.v4.s_addr, htonl(0xc000020a));
	ck_assert_int_eq(kk_addr_parse("2001:0DB8:0000::0010", &a), 0);
	ck_assert_mem_eq(a.a.v6.s6_addr, v6, 16);
}
END_TEST

static const char *const bad_addrs[] = {
	"", "192.0.2", "192.0.2.256", "192.0.2.10/32", "010.0.0.1",
	"0x7f.0.0.1", " 192.0.2.10", "192.0.2.10 ", "192.0.2.10:7443",
	"2001:db8::/32", "fe80::1%eth0", "[2001:db8::1]", "1::2::3",
	"1:2:3:4:5:6:7:8:9", "csirt.example.org", "localhost",
};

START_TEST(test_addr_rejects)
{
	struct kk_addr a;

	memset(&a, 0x5a, sizeof(a));
	a.family = 12345;
	ck_assert_int_eq(kk_addr_parse(bad_addrs[_i], &a), -EINVAL);
	/* the output is untouched on failure */
	ck_assert_int_eq(a.family, 12345);
}
END_TEST

START_TEST(test_addr_format_errors)
{
	struct kk_addr a;
	char buf[INET6_ADDRSTRLEN];

	ck_assert_int_eq(kk_addr_parse(NULL, &a), -EINVAL);
	ck_assert_int_eq(kk_addr_parse("192.0.2.10", NULL), -EINVAL);
	ck_assert_int_eq(kk_addr_parse("192.0.2.10", &a), 0);
	ck_assert_int_eq(kk_addr_format(&a, buf, 10), -ENOSPC);
	ck_assert_int_eq(kk_addr_format(&a, buf, 11), 0);
	ck_assert_str_eq(buf, "192.0.2.10");
	ck_assert_int_eq(kk_addr_format(&a, buf, 0), -EINVAL);
	ck_assert_int_eq(kk_addr_format(NULL, buf, sizeof(buf)), -EINVAL);
	a.family = AF_UNIX;
	ck_assert_int_eq(kk_addr_format(&a, buf, sizeof(buf)), -EAFNOSUPPORT);
}
END_TEST

/* A case whose tests load into policy (policy_setup around each one). */
#define PARSE_CASE(name, flags, timeout)				\
	KK_CASE_FIXTURE(name, (flags) | KK_CHECKED, timeout, policy_setup, \
	    policy_teardown)

KK_SUITE(parse_suite, "parse",
	PARSE_CASE("shipped", KK_TMPDIR, 0), KK_TEST(test_shipped_default),
	    KK_TEST(test_shipped_direct_path),
	    KK_TEST(test_example_minimal),
	    KK_TEST(test_example_egress_first),
	    KK_TEST(test_example_pinned_dns),
	    KK_TEST(test_examples_all_load),
	PARSE_CASE("valid", 0, 0), KK_TEST(test_defaults),
	    KK_TEST(test_valid_full), KK_TEST(test_valid_sparse),
	    KK_TEST(test_success_clears_err),
	    KK_TEST(test_reload_resets_defaults),
	    KK_TEST(test_failed_load_keeps_policy),
	PARSE_CASE("hostile", 0, 0),
	    KK_LOOP(test_hostile, KK_NITEMS(hostile)),
	    KK_TEST(test_audit_keys),
	    KK_TEST(test_fleet_keys),
	PARSE_CASE("file", KK_TMPDIR, 20), KK_TEST(test_symlink_refused),
	    KK_LOOP(test_writable_refused, KK_NITEMS(writable_modes)),
	    KK_TEST(test_owner_refused),
	    KK_TEST(test_owner_root_accepted), KK_TEST(test_size_limit),
	    KK_TEST(test_nonexistent), KK_TEST(test_not_regular),
	    KK_TEST(test_nul_byte), KK_TEST(test_empty_file),
	    KK_TEST(test_err_one_line), KK_TEST(test_tls_key_paths),
	KK_CASE("addr", 0, 0),
	    KK_LOOP(test_addr_canonical, KK_NITEMS(good_addrs)),
	    KK_TEST(test_addr_bytes),
	    KK_LOOP(test_addr_rejects, KK_NITEMS(bad_addrs)),
	    KK_TEST(test_addr_format_errors))
