/*
 * trust.conf and distinct-key counting (agentd/trust.c).
 *
 * trust.conf names public key files by absolute path, so the key files
 * and most trust.conf files are made at test time in a private mkdtemp(3)
 * directory (removed by an unchecked fixture).  fixtures/trust/ holds
 * only files that fail before any key is opened; they are loaded with
 * KK_POLICY_SKIP_OWNER_CHECK because a checkout need not be root-owned.
 */
#include <sys/stat.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "kakuri.h"
#include "sign.h"
#include "testutil.h"

Suite *trust_suite(void);

#define FIX(name)	"fixtures/trust/" name ".conf"
#define ALL_ROLES	((1u << KK_ACT__MAX) - 1)
#define BIT(a)		(1u << (a))

/* dir/name: a new Ed25519 key, its public half saved; the caller frees. */
static EVP_PKEY *
new_key(const char *dir, const char *name)
{
	char p[PATH_MAX];
	EVP_PKEY *k;

	k = kk_key_generate();
	ck_assert_ptr_nonnull(k);
	kk_test_join(p, dir, name);
	ck_assert_int_eq(kk_key_save_public(k, p), 0);
	return k;
}

/* A fresh directory d with two new keys, saved as d/na and d/nb. */
static void
two_keys(char d[PATH_MAX], const char *na, EVP_PKEY **a, const char *nb,
    EVP_PKEY **b)
{
	kk_test_workdir(d);
	*a = new_key(d, na);
	*b = new_key(d, nb);
}

/* dir/name: the public half of a key of another type (RSA, EC). */
static void
foreign_key(const char *dir, const char *name, EVP_PKEY *k)
{
	char p[PATH_MAX];
	FILE *f;

	ck_assert_ptr_nonnull(k);
	kk_test_join(p, dir, name);
	f = fopen(p, "wx");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_PUBKEY(f, k), 1);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(p, 0644), 0);
	EVP_PKEY_free(k);
}

static const char *conf(const char *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Writes dir/trust.conf (mode 0644) from fmt, where every "@" is
 * replaced by dir, so that key paths can be written "@/alice.pub".
 */
static const char *
conf(const char *dir, const char *fmt, ...)
{
	static char path[PATH_MAX];
	char text[65536], out[65536 * 2];
	size_t i, o = 0, dl = strlen(dir);
	va_list ap;

	va_start(ap, fmt);
	ck_assert_int_lt(vsnprintf(text, sizeof(text), fmt, ap),
	    (int)sizeof(text));
	va_end(ap);
	for (i = 0; text[i] != '\0'; i++) {
		ck_assert_uint_lt(o + dl + 1, sizeof(out));
		if (text[i] == '@' && (i == 0 || text[i - 1] == '"')) {
			memcpy(out + o, dir, dl);
			o += dl;
		} else {
			out[o++] = text[i];
		}
	}
	kk_test_join(path, dir, "trust.conf");
	unlink(path);
	kk_test_write(path, out, o, 0644);
	return path;
}

static int
load(const char *path, struct kk_trust *t, char *err, size_t errlen)
{
	return kk_trust_load(path, 0, t, err, errlen);
}

static void
expect_ok(const char *path, unsigned flags)
{
	struct kk_trust t;
	char err[512];

	ck_assert_msg(kk_trust_load(path, flags, &t, err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_str_eq(err, "");
	kk_trust_free(&t);
}

/*
 * Expects a failure with rc (0: any negative errno), and an error
 * "PATH:LINE: " (or "PATH: " for line 0) that contains want.
 */
static void
expect_fail(const char *path, unsigned flags, int rc, unsigned line,
    const char *want)
{
	struct kk_trust t;
	char err[512], prefix[PATH_MAX + 32];
	int got;

	memset(&t, 0x5a, sizeof(t));
	got = kk_trust_load(path, flags, &t, err, sizeof(err));
	if (rc == 0)
		ck_assert_msg(got < 0, "%s: rc %d, want < 0", path, got);
	else
		ck_assert_msg(got == rc, "%s: rc %d, want %d (%s)", path, got,
		    rc, err);
	if (line > 0)
		snprintf(prefix, sizeof(prefix), "%s:%u: ", path, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", path);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
	    "'%s' does not start with '%s'", err, prefix);
	ck_assert_msg(strstr(err, want) != NULL, "'%s' lacks '%s'", err,
	    want);
	ck_assert_ptr_null(strchr(err, '\n'));
	/* untouched on failure */
	ck_assert_uint_eq(t.nkeys, 0x5a5a5a5a5a5a5a5aULL);
}

/* --- loading --- */

/*
 * Keys a and b, saved as a.pub and b.pub in a fresh directory, and t
 * loaded from a trust.conf of text there (see conf()); it must load.
 */
static void
load_two(struct kk_trust *t, EVP_PKEY **a, EVP_PKEY **b, const char *text)
{
	char d[PATH_MAX], err[512] = "stale";

	two_keys(d, "a.pub", a, "b.pub", b);
	ck_assert_msg(load(conf(d, "%s", text), t, err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_str_eq(err, "");
}

/* 63 characters, the longest key id */
#define LONG_ID	"b23456789012345678901234567890123456789012345678901" \
		"234567890123"

/* trust.conf files with keys a.pub and b.pub that load, and what they hold. */
static const struct valid {
	const char *text;
	const char *id[2];
	uint32_t roles[2];
	unsigned threshold[KK_ACT__MAX];	/* 0: the default, 1 */
} valids[] = {
	{ "# CSIRT signing keys\n"
	  "keys = (\n"
	  "  { id = \"alice\"; public_key = \"@/a.pub\";\n"
	  "    roles = [ \"isolate\", \"release\", \"status\", \"freeze\",\n"
	  "      \"snapshot\", \"collect\", \"fetch\" ]; },\n"
	  "  { id = \"bob\";   public_key = \"@/b.pub\";"
	  "   roles = [ \"release\" ]; }\n"
	  ");\n"
	  "thresholds = { release = 2; };\n",
	  { "alice", "bob" },
	  { BIT(KK_ACT_ISOLATE) | BIT(KK_ACT_RELEASE) | BIT(KK_ACT_STATUS) |
	    BIT(KK_ACT_FREEZE) | BIT(KK_ACT_SNAPSHOT) | BIT(KK_ACT_COLLECT) |
	    BIT(KK_ACT_FETCH), BIT(KK_ACT_RELEASE) },
	  { [KK_ACT_RELEASE] = 2 } },
	/* every action as a role and as a threshold; key ids of every kind */
	{ "keys = ( { id = \"csirt.oncall@example-1_A\";"
	  " public_key = \"@/a.pub\"; roles = [ \"isolate\", \"release\","
	  " \"status\", \"freeze\", \"thaw\", \"snapshot\", \"collect\","
	  " \"fetch\", \"drill\", \"unblock\", \"block\" ]; },\n"
	  " { id = \"" LONG_ID "\"; public_key = \"@/b.pub\";"
	  " roles = ( \"release\", \"thaw\", \"unblock\" ); } );\n"
	  "thresholds = { isolate = 1; release = 2; status = 1; freeze = 1;"
	  " thaw = 2; snapshot = 1; collect = 1; fetch = 1; drill = 1;"
	  " unblock = 2L; block = 1; };\n",
	  { "csirt.oncall@example-1_A", LONG_ID },
	  { ALL_ROLES,
	    BIT(KK_ACT_RELEASE) | BIT(KK_ACT_THAW) | BIT(KK_ACT_UNBLOCK) },
	  { [KK_ACT_RELEASE] = 2, [KK_ACT_THAW] = 2, [KK_ACT_UNBLOCK] = 2 } },
};

START_TEST(test_valid)
{
	const struct valid *v = &valids[_i];
	struct kk_trust t;
	EVP_PKEY *a, *b;
	unsigned want;
	size_t i;

	load_two(&t, &a, &b, v->text);
	ck_assert_uint_eq(t.nkeys, 2);
	for (i = 0; i < 2; i++) {
		ck_assert_str_eq(t.keys[i].id, v->id[i]);
		ck_assert_uint_eq(t.keys[i].roles, v->roles[i]);
	}
	ck_assert_int_eq(EVP_PKEY_eq(t.keys[0].pub, a), 1);
	ck_assert_int_eq(EVP_PKEY_eq(t.keys[1].pub, b), 1);
	for (i = 0; i < KK_ACT__MAX; i++) {
		want = v->threshold[i] != 0 ? v->threshold[i] : 1;
		ck_assert_uint_eq(t.threshold[i], want);
	}
	kk_trust_free(&t);
	ck_assert_uint_eq(t.nkeys, 0);
	/* a freed trust fails closed: no count can meet its thresholds */
	for (i = 0; i < KK_ACT__MAX; i++)
		ck_assert_uint_gt(t.threshold[i], KK_TRUST_MAX_KEYS);
	kk_trust_free(&t);		/* twice is harmless */
	kk_trust_free(NULL);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
}
END_TEST

/* A failed load leaves the previous trust as it was; a good one clears err. */
START_TEST(test_failure_keeps_trust)
{
	struct kk_trust t, copy;
	EVP_PKEY *a;
	char d[PATH_MAX], err[512];
	const char *path;

	kk_test_workdir(d);
	a = new_key(d, "a.pub");
	path = conf(d, "keys = ( { id = \"a\"; public_key = \"@/a.pub\";"
	    " roles = [ \"isolate\" ]; } );\n");
	ck_assert_int_eq(load(path, &t, err, sizeof(err)), 0);
	memcpy(&copy, &t, sizeof(t));
	path = conf(d, "keys = ( { id = \"a\"; public_key = \"@/a.pub\";"
	    " roles = [ \"isolate\" ]; } );\n"
	    "thresholds = { isolate = 2; };\n");
	ck_assert_int_eq(load(path, &t, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(memcmp(&copy, &t, sizeof(t)), 0);
	kk_trust_free(&t);
	EVP_PKEY_free(a);
}
END_TEST

START_TEST(test_max_keys)
{
	struct kk_trust t;
	char d[PATH_MAX], name[32], err[512];
	static char text[32768];
	const char *path;
	size_t o = 0;
	int i, n = KK_TRUST_MAX_KEYS + 1;

	kk_test_workdir(d);
	o += (size_t)snprintf(text + o, sizeof(text) - o, "keys = (\n");
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "k%d.pub", i);
		EVP_PKEY_free(new_key(d, name));
		o += (size_t)snprintf(text + o, sizeof(text) - o,
		    "%s{ id = \"k%d\"; public_key = \"@/k%d.pub\";"
		    " roles = [ \"release\" ]; }\n", i == 0 ? "  " : ", ", i,
		    i);
		ck_assert_uint_lt(o, sizeof(text));
	}
	snprintf(text + o, sizeof(text) - o, ");\n");
	path = conf(d, "%s", text);
	expect_fail(path, 0, -EINVAL, 1, "too many keys (at most 64)");

	/* 64 is fine, and a threshold of 64 can be met */
	text[0] = '\0';
	o = (size_t)snprintf(text, sizeof(text), "keys = (\n");
	for (i = 0; i < KK_TRUST_MAX_KEYS; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
		    "%s{ id = \"k%d\"; public_key = \"@/k%d.pub\";"
		    " roles = [ \"release\" ]; }\n", i == 0 ? "  " : ", ", i,
		    i);
	snprintf(text + o, sizeof(text) - o,
	    ");\nthresholds = { release = 64; };\n");
	path = conf(d, "%s", text);
	ck_assert_int_eq(load(path, &t, err, sizeof(err)), 0);
	ck_assert_uint_eq(t.nkeys, KK_TRUST_MAX_KEYS);
	ck_assert_uint_eq(t.threshold[KK_ACT_RELEASE], 64);
	kk_trust_free(&t);
}
END_TEST

/* Fixtures that fail before any key file is opened. */
struct hostile {
	const char *file;
	unsigned line;		/* 0: a message without a line */
	const char *want;
};

static const struct hostile hostiles[] = {
	{ FIX("include"), 2, "@include is not allowed" },
	{ FIX("include_indented"), 4, "@include is not allowed" },
	{ FIX("syntax_error"), 2, "syntax error" },
	{ FIX("unknown_top"), 4, "unknown key 'default_threshold'" },
	{ FIX("missing_keys"), 0, "missing required key 'keys'" },
	{ FIX("keys_empty"), 1, "keys must not be empty" },
	{ FIX("keys_not_list"), 1, "keys must be a list" },
	{ FIX("keys_group"), 1, "keys must be a list" },
	{ FIX("key_not_group"), 1, "keys[0] must be a group" },
	{ FIX("threshold_overflow"), 5, "integer 4294967297 out of range" },
	{ FIX("key_unknown_field"), 3, "unknown key 'keys[0].expires'" },
	{ FIX("key_missing_roles"), 2, "missing required key 'keys[0].roles'" },
	{ FIX("key_missing_public_key"), 2,
	    "missing required key 'keys[0].public_key'" },
	{ FIX("key_missing_id"), 2, "missing required key 'keys[0].id'" },
	{ FIX("bad_id"), 2, "'../alice' is not a valid key id" },
	{ FIX("empty_id"), 2, "'' is not a valid key id" },
	{ FIX("long_id"), 2, "is not a valid key id" },
	{ FIX("id_not_string"), 2, "keys[0].id must be a string" },
	{ FIX("relative_key"), 2, "must be an absolute path" },
	{ FIX("dotdot_key"), 2, "must not contain '..'" },
	{ FIX("unknown_role"), 6, "alice.roles: unknown role 'reboot'" },
	{ FIX("duplicate_role"), 2, "duplicate role 'isolate'" },
	{ FIX("empty_roles"), 2, "alice.roles must not be empty" },
	{ FIX("roles_not_list"), 2, "must be an array of action names" },
	{ FIX("role_not_string"), 2, "must be an array of action names" },
	{ FIX("duplicate_setting"), 2, "duplicate" },
};

START_TEST(test_hostile)
{
	const struct hostile *h = &hostiles[_i];

	expect_fail(h->file, KK_POLICY_SKIP_OWNER_CHECK, -EINVAL, h->line,
	    h->want);
}
END_TEST

/* Alice's key a.pub with the isolate role: lines 1-3 of a trust.conf. */
#define ALICE_ISOLATE	"keys = (\n" \
			"  { id = \"alice\"; public_key = \"@/a.pub\";" \
			" roles = [ \"isolate\" ]; }\n);\n"

/*
 * Semantic errors that need real key files: a.pub and b.pub, and
 * a-again.pub, a's public key again under another file name.
 */
static const struct semantic {
	const char *text;
	unsigned line;
	const char *want;
} semantics[] = {
	/* duplicate id */
	{ "keys = (\n"
	  "  { id = \"alice\"; public_key = \"@/a.pub\";"
	  " roles = [ \"isolate\" ]; },\n"
	  "  { id = \"alice\"; public_key = \"@/b.pub\";"
	  " roles = [ \"isolate\" ]; }\n);\n",
	  3, "duplicate key id 'alice'" },
	/* the same public key twice, under another file name */
	{ "keys = (\n"
	  "  { id = \"alice\"; public_key = \"@/a.pub\";"
	  " roles = [ \"release\" ]; },\n"
	  "  { id = \"mallory\"; public_key = \"@/a-again.pub\";"
	  " roles = [ \"release\" ]; }\n);\n",
	  3, "the same public key as key 'alice'" },
	/* the same file twice is the same key too */
	{ "keys = (\n"
	  "  { id = \"alice\"; public_key = \"@/a.pub\";"
	  " roles = [ \"release\" ]; },\n"
	  "  { id = \"alice2\"; public_key = \"@/a.pub\";"
	  " roles = [ \"release\" ]; }\n);\n",
	  3, "the same public key" },
	/* thresholds */
	{ "keys = (\n"
	  "  { id = \"alice\"; public_key = \"@/a.pub\";"
	  " roles = [ \"isolate\", \"release\" ]; },\n"
	  "  { id = \"bob\"; public_key = \"@/b.pub\";"
	  " roles = [ \"isolate\" ]; }\n);\n"
	  "thresholds = { isolate = 2; release = 2; };\n",
	  5, "thresholds.release = 2 can never be met: 1 key holds the role" },
	{ ALICE_ISOLATE "thresholds = { drill = 1; };\n",
	  4, "0 keys hold the role" },
	{ ALICE_ISOLATE "thresholds = {\n  isolate = 0;\n};\n",
	  5, "thresholds.isolate: 0 out of range" },
	{ ALICE_ISOLATE "thresholds = { isolate = -1; };\n",
	  4, "out of range 1-64" },
	{ ALICE_ISOLATE "thresholds = { isolate = 65; };\n",
	  4, "out of range 1-64" },
	{ ALICE_ISOLATE "thresholds = { isolate = \"1\"; };\n",
	  4, "thresholds.isolate must be an integer" },
	{ ALICE_ISOLATE "thresholds = { isolate = 1.0; };\n",
	  4, "must be an integer" },
	{ ALICE_ISOLATE "thresholds = { reboot = 1; };\n",
	  4, "unknown key 'thresholds.reboot'" },
	{ ALICE_ISOLATE "thresholds = ( 1 );\n",
	  4, "thresholds must be a group" },
	/* written before the keys: still judged against them */
	{ "thresholds = { release = 2; };\n"
	  "keys = (\n"
	  "  { id = \"alice\"; public_key = \"@/a.pub\";"
	  " roles = [ \"release\" ]; }\n);\n",
	  1, "can never be met" },
};

START_TEST(test_semantic)
{
	const struct semantic *s = &semantics[_i];
	EVP_PKEY *a, *b;
	char d[PATH_MAX], p[PATH_MAX];

	two_keys(d, "a.pub", &a, "b.pub", &b);
	kk_test_join(p, d, "a-again.pub");
	ck_assert_int_eq(kk_key_save_public(a, p), 0);
	expect_fail(conf(d, "%s", s->text), 0, -EINVAL, s->line, s->want);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
}
END_TEST

/* A key line for one key file, for the tests below. */
#define ONE_KEY(file)	"keys = (\n  { id = \"alice\";\n" \
			"    public_key = \"@/" file "\";" \
			" roles = [ \"isolate\" ]; }\n);\n"

START_TEST(test_key_files)
{
	EVP_PKEY *a;
	char d[PATH_MAX], p[PATH_MAX], q[PATH_MAX];
	const char *path;

	kk_test_workdir(d);
	a = new_key(d, "a.pub");
	path = conf(d, ONE_KEY("a.pub"));
	expect_ok(path, 0);

	/* missing */
	path = conf(d, ONE_KEY("nope.pub"));
	expect_fail(path, 0, -ENOENT, 3, "cannot open: No such file");
	/* a directory */
	kk_test_join(p, d, "dir.pub");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	path = conf(d, ONE_KEY("dir.pub"));
	expect_fail(path, 0, -EPERM, 3, "refused: not a regular file");
	/* not a key at all */
	kk_test_join(p, d, "junk.pub");
	kk_test_write(p, "hello\n", 6, 0644);
	path = conf(d, ONE_KEY("junk.pub"));
	expect_fail(path, 0, 0, 3, "not an Ed25519 public key");
	/* a private key is not a public key file */
	kk_test_join(p, d, "a.key");
	ck_assert_int_eq(kk_key_save_private(a, p), 0);
	ck_assert_int_eq(chmod(p, 0644), 0);
	path = conf(d, ONE_KEY("a.key"));
	expect_fail(path, 0, 0, 3, "not an Ed25519 public key");

	/* RSA, EC and X25519 keys are refused */
	foreign_key(d, "rsa.pub", EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
	    (size_t)2048));
	path = conf(d, ONE_KEY("rsa.pub"));
	expect_fail(path, 0, 0, 3, "not an Ed25519 public key");
	foreign_key(d, "ec.pub", EVP_PKEY_Q_keygen(NULL, NULL, "EC",
	    "P-256"));
	path = conf(d, ONE_KEY("ec.pub"));
	expect_fail(path, 0, 0, 3, "not an Ed25519 public key");
	foreign_key(d, "x25519.pub", EVP_PKEY_Q_keygen(NULL, NULL, "X25519"));
	path = conf(d, ONE_KEY("x25519.pub"));
	expect_fail(path, 0, 0, 3, "not an Ed25519 public key");

	/* whoever can rewrite the key file could sign as alice */
	kk_test_join(p, d, "a.pub");
	ck_assert_int_eq(chmod(p, 0664), 0);
	path = conf(d, ONE_KEY("a.pub"));
	expect_fail(path, 0, -EPERM, 3, "group- or world-writable");
	ck_assert_int_eq(chmod(p, 0646), 0);
	expect_fail(path, 0, -EPERM, 3, "group- or world-writable");
	ck_assert_int_eq(chmod(p, 0644), 0);
	ck_assert_int_eq(chown(p, 1, 1), 0);
	expect_fail(path, 0, -EPERM, 3, "owned by uid 1, not root");
	expect_ok(path, KK_POLICY_SKIP_OWNER_CHECK);
	ck_assert_int_eq(chown(p, 0, 0), 0);
	expect_ok(path, 0);
	/* a symbolic link is refused, as for trust.conf */
	kk_test_join(q, d, "link.pub");
	ck_assert_int_eq(symlink(p, q), 0);
	path = conf(d, ONE_KEY("link.pub"));
	expect_fail(path, 0, -ELOOP, 3, "refused: is a symbolic link");

	EVP_PKEY_free(a);
}
END_TEST

/* trust.conf itself: the same file rules as the policy. */
START_TEST(test_trust_file)
{
	struct kk_trust t;
	EVP_PKEY *a;
	char d[PATH_MAX], p[PATH_MAX], big[8192], err[512];
	const char *path;
	size_t n;
	int fd;

	kk_test_workdir(d);
	a = new_key(d, "a.pub");
	path = conf(d, ONE_KEY("a.pub"));
	expect_ok(path, 0);

	ck_assert_int_eq(chmod(path, 0664), 0);
	expect_fail(path, 0, -EPERM, 0,
	    "refused: group- or world-writable (mode 0664)");
	ck_assert_int_eq(chmod(path, 0666), 0);
	expect_fail(path, 0, -EPERM, 0, "group- or world-writable");
	ck_assert_int_eq(chmod(path, 0602), 0);
	expect_fail(path, 0, -EPERM, 0, "group- or world-writable");
	ck_assert_int_eq(chmod(path, 0600), 0);
	expect_ok(path, 0);
	ck_assert_int_eq(chown(path, 1, 1), 0);
	expect_fail(path, 0, -EPERM, 0, "refused: owned by uid 1, not root");
	expect_ok(path, KK_POLICY_SKIP_OWNER_CHECK);
	ck_assert_int_eq(chown(path, 0, 0), 0);

	/* a symbolic link, a directory, nothing */
	kk_test_join(p, d, "link.conf");
	ck_assert_int_eq(symlink(path, p), 0);
	expect_fail(p, 0, -ELOOP, 0, "refused: is a symbolic link");
	expect_fail(d, 0, -EPERM, 0, "refused: not a regular file");
	kk_test_join(p, d, "nope.conf");
	expect_fail(p, 0, -ENOENT, 0, "cannot open: No such file");

	/* a NUL byte would hide the rest of the file from libconfig */
	kk_test_join(p, d, "nul.conf");
	kk_test_write(p, "keys = ( );\0\n@include \"x\"\n", 26, 0644);
	expect_fail(p, 0, -EINVAL, 1, "NUL byte");

	/* over 1 MiB */
	kk_test_join(p, d, "big.conf");
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	memset(big, '#', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	for (n = 0; n <= 1024 * 1024; n += sizeof(big))
		ck_assert_int_eq(write(fd, big, sizeof(big)),
		    (ssize_t)sizeof(big));
	close(fd);
	expect_fail(p, 0, -EFBIG, 0, "refused: larger than 1048576 bytes");

	/* a hostile path is printed safely, on one line */
	ck_assert_int_eq(kk_trust_load("/nonexistent/a\nb\x1b[2J", 0, &t, err,
	    sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, "/nonexistent/a?b?[2J: cannot open: "
	    "No such file or directory");
	EVP_PKEY_free(a);
}
END_TEST

START_TEST(test_bad_args)
{
	struct kk_trust t;
	char err[512];

	ck_assert_int_eq(kk_trust_load(NULL, 0, &t, err, sizeof(err)),
	    -EINVAL);
	ck_assert_str_eq(err, "(null): no trust file given");
	ck_assert_int_eq(kk_trust_load(FIX("include"), 0, NULL, err,
	    sizeof(err)), -EINVAL);
	/* no error buffer is fine */
	ck_assert_int_eq(kk_trust_load(FIX("include"),
	    KK_POLICY_SKIP_OWNER_CHECK, &t, NULL, 0), -EINVAL);
	ck_assert_int_eq(kk_trust_load(FIX("include"),
	    KK_POLICY_SKIP_OWNER_CHECK, &t, err, 1), -EINVAL);
	ck_assert_str_eq(err, "");
}
END_TEST

/* --- distinct-key counting --- */

#define PAYLOAD	"{\"v\":1}"

/*
 * alice: isolate, status; bob: isolate, release; carol: release.
 * mallory has a key pair but is not in trust.conf.
 */
struct world {
	struct kk_trust t;
	EVP_PKEY *alice, *bob, *carol, *mallory;
};

static void
world_make(struct world *w)
{
	char d[PATH_MAX], err[512];
	const char *path;

	kk_test_workdir(d);
	w->alice = new_key(d, "alice.pub");
	w->bob = new_key(d, "bob.pub");
	w->carol = new_key(d, "carol.pub");
	w->mallory = new_key(d, "mallory.pub");
	path = conf(d, "keys = (\n"
	    "  { id = \"alice\"; public_key = \"@/alice.pub\";"
	    " roles = [ \"isolate\", \"status\" ]; },\n"
	    "  { id = \"bob\"; public_key = \"@/bob.pub\";"
	    " roles = [ \"isolate\", \"release\" ]; },\n"
	    "  { id = \"carol\"; public_key = \"@/carol.pub\";"
	    " roles = [ \"release\" ]; }\n);\n"
	    "thresholds = { release = 2; };\n");
	ck_assert_msg(load(path, &w->t, err, sizeof(err)) == 0, "%s", err);
}

static void
world_free(struct world *w)
{
	kk_trust_free(&w->t);
	EVP_PKEY_free(w->alice);
	EVP_PKEY_free(w->bob);
	EVP_PKEY_free(w->carol);
	EVP_PKEY_free(w->mallory);
}

static void
env_new(struct kk_envelope *env)
{
	ck_assert_int_eq(kk_envelope_init(env, KK_PT_COMMAND,
	    (const uint8_t *)PAYLOAD, strlen(PAYLOAD)), 0);
}

static void
sign(struct kk_envelope *env, const char *keyid, EVP_PKEY *k)
{
	ck_assert_int_eq(kk_envelope_sign(env, keyid, k), 0);
}

static uint64_t
signers(const struct kk_trust *t, const struct kk_envelope *env)
{
	uint64_t s = 0xdead;

	ck_assert_int_eq(kk_trust_signers(t, env, false, &s, NULL), 0);
	return s;
}

/* The keys of a world by index, and the keys that hold each role. */
enum { ALICE, BOB, CAROL, MALLORY };

static EVP_PKEY *
world_key(const struct world *w, int who)
{
	EVP_PKEY *const k[] = { w->alice, w->bob, w->carol, w->mallory };

	return k[who];
}

/* Signatures, each by a key under a keyid that is only a hint. */
static const struct signing {
	const char *what;
	struct {
		const char *keyid;	/* NULL: the end */
		int key;
	} sig[4];
	uint64_t signers;	/* bit i: key i of trust.conf */
} signings[] = {
	{ "alice twice", { { "alice", ALICE }, { "alice", ALICE } }, 1 },
	{ "bob and carol", { { "bob", BOB }, { "carol", CAROL } }, 6 },
	{ "all three", { { "alice", ALICE }, { "bob", BOB },
	    { "carol", CAROL } }, 7 },
	{ "carol alone", { { "carol", CAROL } }, 4 },
	/* keyid is a hint: wrong, unknown or empty, it never decides */
	{ "names swapped", { { "carol", BOB }, { "bob", CAROL } }, 6 },
	{ "unknown and empty names", { { "nobody", ALICE }, { "", BOB } },
	    3 },
	/* mallory claiming to be alice, or bob */
	{ "mallory", { { "alice", MALLORY }, { "bob", MALLORY },
	    { "mallory", MALLORY } }, 0 },
	/* mallory's signatures do not spoil a real one */
	{ "mallory, then alice", { { "alice", MALLORY }, { "bob", MALLORY },
	    { "mallory", MALLORY }, { "alice", ALICE } }, 1 },
	{ "none", { { NULL, 0 } }, 0 },
};

/*
 * Who signed, and for every action as many as hold its role: alice
 * (isolate, status), bob (isolate, release), carol (release).
 */
START_TEST(test_signings)
{
	static const uint64_t holders[KK_ACT__MAX] = {
		[KK_ACT_ISOLATE] = 3, [KK_ACT_STATUS] = 1,
		[KK_ACT_RELEASE] = 6,
	};
	const struct signing *c = &signings[_i];
	struct kk_envelope env;
	struct world w;
	uint64_t s;
	size_t i;

	world_make(&w);
	env_new(&env);
	for (i = 0; i < 4 && c->sig[i].keyid != NULL; i++)
		sign(&env, c->sig[i].keyid, world_key(&w, c->sig[i].key));
	s = signers(&w.t, &env);
	ck_assert_msg(s == c->signers, "%s: signers %#llx, want %#llx",
	    c->what, (unsigned long long)s, (unsigned long long)c->signers);
	for (i = 0; i < KK_ACT__MAX; i++)
		ck_assert_msg(kk_trust_count_role(&w.t, s, i) ==
		    (unsigned)__builtin_popcountll(s & holders[i]),
		    "%s: action %zu counts %u", c->what, i,
		    kk_trust_count_role(&w.t, s, i));
	kk_envelope_free(&env);
	world_free(&w);
}
END_TEST

/*
 * A payload larger than KK_COMMAND_MAX (a block list: every verification
 * hashes all of it): a signature counts under the key its keyid names
 * only, never under another trusted key (test_budget_big_payload: and
 * after two that fail none is tried).  A small one keeps the keyid a hint.
 */
START_TEST(test_large_payload_keyid_decides)
{
	struct kk_envelope env;
	struct world w;
	uint8_t *big;
	size_t n = KK_COMMAND_MAX + 1;
	int i;

	world_make(&w);
	big = malloc(n);
	ck_assert_ptr_nonnull(big);
	memset(big, 'x', n);
	ck_assert_int_eq(kk_envelope_init(&env, KK_PT_COMMAND, big, n), 0);
	sign(&env, "bob", w.carol);		/* carol under bob's name */
	sign(&env, "nobody", w.alice);		/* alice under no name */
	sign(&env, "bob", w.bob);		/* bob, after a wrong "bob" */
	ck_assert_uint_eq(signers(&w.t, &env), 1u << 1);
	kk_envelope_free(&env);
	/* sixteen of bob's own, one counted */
	ck_assert_int_eq(kk_envelope_init(&env, KK_PT_COMMAND, big, n), 0);
	for (i = 0; i < KK_DSSE_MAX_SIGS; i++)
		sign(&env, "bob", w.bob);
	ck_assert_uint_eq(signers(&w.t, &env), 1u << 1);
	kk_envelope_free(&env);
	/* the same three on a payload of KK_COMMAND_MAX: all counted */
	ck_assert_int_eq(kk_envelope_init(&env, KK_PT_COMMAND, big, n - 1), 0);
	sign(&env, "bob", w.carol);
	sign(&env, "nobody", w.alice);
	sign(&env, "bob", w.bob);
	ck_assert_uint_eq(signers(&w.t, &env), 7);
	kk_envelope_free(&env);
	free(big);
	world_free(&w);
}
END_TEST

/* bob signing the release sixteen times is still one person */
START_TEST(test_one_key_many)
{
	struct kk_envelope env;
	struct world w;
	uint64_t s;
	int i;

	world_make(&w);
	env_new(&env);
	for (i = 0; i < KK_DSSE_MAX_SIGS; i++)
		sign(&env, i % 2 ? "bob" : "carol", w.bob);
	s = signers(&w.t, &env);
	ck_assert_uint_eq(s, 1u << 1);
	ck_assert_uint_eq(kk_trust_count_role(&w.t, s, KK_ACT_RELEASE), 1);
	ck_assert_uint_lt(kk_trust_count_role(&w.t, s, KK_ACT_RELEASE),
	    w.t.threshold[KK_ACT_RELEASE]);
	kk_envelope_free(&env);

	/* two people meet it */
	env_new(&env);
	sign(&env, "bob", w.bob);
	sign(&env, "carol", w.carol);
	ck_assert_uint_ge(kk_trust_count_role(&w.t, signers(&w.t, &env),
	    KK_ACT_RELEASE), w.t.threshold[KK_ACT_RELEASE]);
	kk_envelope_free(&env);
	world_free(&w);
}
END_TEST

/* A keyid without its NUL, and signatures that are garbage or cut. */
START_TEST(test_bad_sigs)
{
	struct kk_envelope env;
	struct world w;

	world_make(&w);
	env_new(&env);
	sign(&env, "alice", w.carol);
	memset(env.sigs[0].keyid, 'a', sizeof(env.sigs[0].keyid));
	ck_assert_uint_eq(signers(&w.t, &env), 1u << 2);
	kk_envelope_free(&env);

	env_new(&env);
	sign(&env, "alice", w.alice);
	env.sigs[0].sig[0] ^= 1;
	sign(&env, "bob", w.bob);
	env.sigs[1].siglen = 63;
	ck_assert_uint_eq(signers(&w.t, &env), 0);
	kk_envelope_free(&env);
	world_free(&w);
}
END_TEST

/* Bits beyond the keys, and unknown actions, count nothing. */
START_TEST(test_role_bits)
{
	struct world w;

	world_make(&w);
	ck_assert_uint_eq(kk_trust_count_role(&w.t, ~UINT64_C(0),
	    KK_ACT_RELEASE), 2);
	ck_assert_uint_eq(kk_trust_count_role(&w.t, UINT64_C(1) << 63,
	    KK_ACT_RELEASE), 0);
	ck_assert_uint_eq(kk_trust_count_role(&w.t, ~UINT64_C(0),
	    KK_ACT__MAX), 0);
	ck_assert_uint_eq(kk_trust_count_role(NULL, 1, KK_ACT_RELEASE), 0);
	world_free(&w);
}
END_TEST

START_TEST(test_tampered)
{
	struct kk_envelope env;
	struct world w;

	world_make(&w);
	env_new(&env);
	sign(&env, "alice", w.alice);
	sign(&env, "bob", w.bob);
	ck_assert_uint_eq(signers(&w.t, &env), 3);
	env.payload[env.payload_len - 2] ^= 1;	/* "v":1 -> "v":0 */
	ck_assert_uint_eq(signers(&w.t, &env), 0);
	env.payload[env.payload_len - 2] ^= 1;
	ck_assert_uint_eq(signers(&w.t, &env), 3);
	env.payload_len--;
	ck_assert_uint_eq(signers(&w.t, &env), 0);
	env.payload_len++;
	/* the payload type is signed too */
	memcpy(env.type, KK_PT_RECEIPT, sizeof(KK_PT_RECEIPT));
	ck_assert_uint_eq(signers(&w.t, &env), 0);
	kk_envelope_free(&env);
	world_free(&w);
}
END_TEST

/* The last of 64 keys lands on bit 63. */
START_TEST(test_key_63)
{
	static char text[32768];
	struct kk_envelope env;
	struct kk_trust t;
	EVP_PKEY *last = NULL;
	char d[PATH_MAX], name[32], err[512];
	const char *path;
	uint64_t s;
	size_t o;
	int i;

	kk_test_workdir(d);
	o = (size_t)snprintf(text, sizeof(text), "keys = (\n");
	for (i = 0; i < KK_TRUST_MAX_KEYS; i++) {
		snprintf(name, sizeof(name), "k%d.pub", i);
		if (i == KK_TRUST_MAX_KEYS - 1)
			last = new_key(d, name);
		else
			EVP_PKEY_free(new_key(d, name));
		o += (size_t)snprintf(text + o, sizeof(text) - o,
		    "%s{ id = \"k%d\"; public_key = \"@/k%d.pub\";"
		    " roles = [ \"%s\" ]; }\n", i == 0 ? "  " : ", ", i, i,
		    i % 2 ? "release" : "isolate");
	}
	snprintf(text + o, sizeof(text) - o, ");\n");
	path = conf(d, "%s", text);
	ck_assert_msg(load(path, &t, err, sizeof(err)) == 0, "%s", err);
	env_new(&env);
	sign(&env, "k0", last);
	s = signers(&t, &env);
	ck_assert(s == UINT64_C(1) << 63);
	ck_assert_uint_eq(kk_trust_count_role(&t, s, KK_ACT_RELEASE), 1);
	ck_assert_uint_eq(kk_trust_count_role(&t, s, KK_ACT_ISOLATE), 0);
	kk_envelope_free(&env);
	kk_trust_free(&t);
	EVP_PKEY_free(last);
}
END_TEST

/* --- what an envelope costs: KK_TRUST_FAIL_BUDGET --- */

/*
 * Ed25519 verifications, counted.  This binary's EVP_DigestVerify comes
 * before libcrypto's, so that kk_dsse_verify_one calls it, and it passes
 * every call on to libcrypto's.  Counting below trust.c needs no hook in
 * it, and counts the code before the budget the same way.
 */
static unsigned long verifications;

typedef int verify_fn(EVP_MD_CTX *, const unsigned char *, size_t,
    const unsigned char *, size_t);

int
EVP_DigestVerify(EVP_MD_CTX *ctx, const unsigned char *sig, size_t siglen,
    const unsigned char *tbs, size_t tbslen)
{
	static verify_fn *real;

	if (real == NULL)
		real = (verify_fn *)dlsym(RTLD_NEXT, "EVP_DigestVerify");
	if (real == NULL)
		abort();
	verifications++;
	return real(ctx, sig, siglen, tbs, tbslen);
}

/*
 * The largest trust: KK_TRUST_MAX_KEYS keys k0..k63 in memory, their
 * private halves kept for signing, and as many untrusted keys x0..x15.
 */
struct crowd {
	struct kk_trust t;
	EVP_PKEY *key[KK_TRUST_MAX_KEYS];
	EVP_PKEY *stranger[KK_DSSE_MAX_SIGS];
	uint8_t *payload;	/* KK_COMMAND_MAX bytes: the most verified */
};

static void
crowd_make(struct crowd *c)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < KK_TRUST_MAX_KEYS; i++) {
		c->key[i] = kk_key_generate();
		ck_assert_ptr_nonnull(c->key[i]);
		snprintf(c->t.keys[i].id, sizeof(c->t.keys[i].id), "k%zu", i);
		c->t.keys[i].pub = c->key[i];
		c->t.keys[i].roles = BIT(KK_ACT_ISOLATE);
	}
	c->t.nkeys = KK_TRUST_MAX_KEYS;
	for (i = 0; i < KK_DSSE_MAX_SIGS; i++) {
		c->stranger[i] = kk_key_generate();
		ck_assert_ptr_nonnull(c->stranger[i]);
	}
	c->payload = malloc(KK_COMMAND_MAX);
	ck_assert_ptr_nonnull(c->payload);
	memset(c->payload, 'x', KK_COMMAND_MAX);
}

static void
crowd_free(struct crowd *c)
{
	size_t i;

	for (i = 0; i < KK_TRUST_MAX_KEYS; i++)
		EVP_PKEY_free(c->key[i]);
	for (i = 0; i < KK_DSSE_MAX_SIGS; i++)
		EVP_PKEY_free(c->stranger[i]);
	free(c->payload);
}

static void
crowd_env(struct crowd *c, struct kk_envelope *env)
{
	ck_assert_int_eq(kk_envelope_init(env, KK_PT_COMMAND, c->payload,
	    KK_COMMAND_MAX), 0);
}

/* kk_trust_signers on env: its return, *s, and verifications the count. */
static int
crowd_signers(struct crowd *c, const struct kk_envelope *env, uint64_t *s)
{
	verifications = 0;
	return kk_trust_signers(&c->t, env, false, s, NULL);
}

/* How the sixteen garbage signatures name themselves. */
static const char *const garbage_keyids[] = {
	"none", "unknown", "trusted", "one key",
};

/*
 * Sixteen signatures by keys not in trust.conf, against 64 keys, on a
 * payload of 64 KiB: at most KK_TRUST_FAIL_BUDGET verifications, not 16
 * x 64 = 1,024, whatever the keyids say; none counts, and the caller is
 * told that not all were tried.
 */
START_TEST(test_budget_garbage)
{
	struct kk_envelope env;
	struct crowd c;
	char keyid[16];
	uint64_t s = 5;
	size_t i;
	int rc;

	crowd_make(&c);
	crowd_env(&c, &env);
	for (i = 0; i < KK_DSSE_MAX_SIGS; i++) {
		switch (_i) {
		case 0:
			keyid[0] = '\0';
			break;
		case 1:
			snprintf(keyid, sizeof(keyid), "x%zu", i);
			break;
		case 2:
			snprintf(keyid, sizeof(keyid), "k%zu", i * 4);
			break;
		default:
			snprintf(keyid, sizeof(keyid), "k63");
			break;
		}
		sign(&env, keyid, c.stranger[i]);
	}
	rc = crowd_signers(&c, &env, &s);
	ck_assert_msg(verifications <= KK_TRUST_FAIL_BUDGET,
	    "keyids %s: %lu verifications, budget %d", garbage_keyids[_i],
	    verifications, KK_TRUST_FAIL_BUDGET);
	/* the counter counts: every key was tried at least once */
	ck_assert_uint_ge(verifications, KK_TRUST_MAX_KEYS);
	ck_assert_int_eq(rc, -EDQUOT);
	ck_assert_uint_eq(s, 0);
	kk_envelope_free(&env);

	/* one garbage signature sixteen times is tried once */
	crowd_env(&c, &env);
	for (i = 0; i < KK_DSSE_MAX_SIGS; i++)
		sign(&env, i % 2 ? "k1" : "", c.stranger[0]);
	ck_assert_int_eq(crowd_signers(&c, &env, &s), 0);
	ck_assert_uint_eq(s, 0);
	ck_assert_uint_le(verifications, KK_TRUST_MAX_KEYS + 1);
	kk_envelope_free(&env);
	crowd_free(&c);
}
END_TEST

/* Honest signatures against 64 keys, each named how it may be. */
static const struct honest {
	const char *what;
	struct {
		int key;		/* -1: the end */
		const char *keyid;	/* NULL: the key's own id */
	} sig[3];
	int rc;
	uint64_t must, may;	/* signers: all of must, none outside may */
	unsigned long most;	/* verifications at most */
} honests[] = {
	{ "their own keyids", { { 62, NULL }, { 63, NULL }, { -1, NULL } },
	    0, 3ull << 62, 3ull << 62, 2 },
	/* the last keys, so that every other key is tried before them */
	{ "no keyid, and a wrong one", { { 63, "" }, { 62, "k0" },
	    { -1, NULL } }, 0, 3ull << 62, 3ull << 62,
	    KK_TRUST_FAIL_BUDGET + 2 },
	{ "keyids swapped", { { 63, "k62" }, { 62, "k63" }, { -1, NULL } },
	    0, 3ull << 62, 3ull << 62, KK_TRUST_FAIL_BUDGET + 2 },
	{ "no keyid, unknown keyid", { { 63, "" }, { 62, "alice" },
	    { -1, NULL } }, 0, 3ull << 62, 3ull << 62,
	    KK_TRUST_FAIL_BUDGET + 2 },
	/* past the budget: what was found is real, and the caller is told */
	{ "three without a keyid", { { 63, "" }, { 62, "" }, { 61, "" } },
	    -EDQUOT, 3ull << 62, 7ull << 61, KK_TRUST_FAIL_BUDGET + 3 },
};

/*
 * An envelope whose signers name themselves, or give no keyid or a wrong
 * one, still verifies; one with garbage besides keeps its real signers.
 */
START_TEST(test_budget_honest)
{
	const struct honest *h = &honests[_i];
	struct kk_envelope env;
	struct crowd c;
	uint64_t s;
	size_t i;
	int rc;

	crowd_make(&c);
	crowd_env(&c, &env);
	for (i = 0; i < 3 && h->sig[i].key >= 0; i++)
		sign(&env, h->sig[i].keyid != NULL ? h->sig[i].keyid :
		    c.t.keys[h->sig[i].key].id, c.key[h->sig[i].key]);
	rc = crowd_signers(&c, &env, &s);
	ck_assert_msg(rc == h->rc, "%s: rc %d", h->what, rc);
	ck_assert_msg((s & h->must) == h->must && (s & ~h->may) == 0,
	    "%s: signers %#llx", h->what, (unsigned long long)s);
	ck_assert_msg(verifications <= h->most, "%s: %lu verifications",
	    h->what, verifications);
	kk_envelope_free(&env);

	/* fifteen garbage signatures after one good one: it still counts */
	if (_i == 0) {
		crowd_env(&c, &env);
		sign(&env, "k40", c.key[40]);
		for (i = 1; i < KK_DSSE_MAX_SIGS; i++)
			sign(&env, "", c.stranger[i]);
		ck_assert_int_eq(crowd_signers(&c, &env, &s), -EDQUOT);
		ck_assert_uint_eq(s, UINT64_C(1) << 40);
		ck_assert_uint_le(verifications, KK_TRUST_FAIL_BUDGET + 1);
		kk_envelope_free(&env);
	}
	crowd_free(&c);
}
END_TEST

/*
 * named_only (the parent's budget of failures in time is spent): sixteen
 * garbage signatures, each naming a trusted key, cost KK_TRUST_BIG_FAILS
 * verifications, and the failures are said; signatures that name no key
 * cost none, and the caller is told they were not tried with the others;
 * honest signers that name themselves all count, for one verification
 * each; one that names another key does not, and the caller is told.
 */
START_TEST(test_budget_named_only)
{
	struct kk_envelope env;
	struct crowd c;
	unsigned failed = 99;
	uint64_t s = 5;
	char keyid[16];
	size_t i;

	crowd_make(&c);
	crowd_env(&c, &env);
	for (i = 0; i < KK_DSSE_MAX_SIGS; i++) {
		snprintf(keyid, sizeof(keyid), "k%zu", i);
		sign(&env, keyid, c.stranger[i]);
	}
	verifications = 0;
	ck_assert_int_eq(kk_trust_signers(&c.t, &env, true, &s, &failed),
	    -EDQUOT);
	ck_assert_uint_eq(s, 0);
	ck_assert_uint_eq(verifications, KK_TRUST_BIG_FAILS);
	ck_assert_uint_eq(failed, KK_TRUST_BIG_FAILS);
	/* the same with the budget: KK_TRUST_FAIL_BUDGET, not 16 x 64 */
	verifications = 0;
	ck_assert_int_eq(kk_trust_signers(&c.t, &env, false, &s, &failed),
	    -EDQUOT);
	ck_assert_uint_eq(failed, KK_TRUST_FAIL_BUDGET);
	ck_assert_uint_eq(verifications, KK_TRUST_FAIL_BUDGET);
	kk_envelope_free(&env);

	/* naming no key: none tried, and not all tried */
	crowd_env(&c, &env);
	for (i = 0; i < KK_DSSE_MAX_SIGS; i++)
		sign(&env, "", c.stranger[i]);
	verifications = 0;
	ck_assert_int_eq(kk_trust_signers(&c.t, &env, true, &s, &failed),
	    -EDQUOT);
	ck_assert_uint_eq(verifications, 0);
	ck_assert_uint_eq(failed, 0);
	kk_envelope_free(&env);

	/* sixteen honest signers naming themselves: all, one try each */
	crowd_env(&c, &env);
	for (i = 0; i < KK_DSSE_MAX_SIGS; i++)
		sign(&env, c.t.keys[i].id, c.key[i]);
	verifications = 0;
	ck_assert_int_eq(kk_trust_signers(&c.t, &env, true, &s, &failed), 0);
	ck_assert_uint_eq(s, (UINT64_C(1) << KK_DSSE_MAX_SIGS) - 1);
	ck_assert_uint_eq(verifications, KK_DSSE_MAX_SIGS);
	ck_assert_uint_eq(failed, 0);
	kk_envelope_free(&env);

	/* one naming itself, one naming another key: the first counts */
	crowd_env(&c, &env);
	sign(&env, "k7", c.key[7]);
	sign(&env, "k9", c.key[8]);
	verifications = 0;
	ck_assert_int_eq(kk_trust_signers(&c.t, &env, true, &s, &failed),
	    -EDQUOT);
	ck_assert_uint_eq(s, UINT64_C(1) << 7);
	ck_assert_uint_eq(failed, 1);
	/* with the budget: both */
	ck_assert_int_eq(kk_trust_signers(&c.t, &env, false, &s, &failed), 0);
	ck_assert_uint_eq(s, UINT64_C(1) << 7 | UINT64_C(1) << 8);
	kk_envelope_free(&env);
	crowd_free(&c);
}
END_TEST

/*
 * A block list's payload (over KK_COMMAND_MAX, 1 MiB here): sixteen
 * garbage signatures, each naming another trusted key, cost
 * KK_TRUST_BIG_FAILS verifications of all of it, not sixteen; honest
 * signers that name themselves still all count, before garbage or after
 * one failure.
 */
START_TEST(test_budget_big_payload)
{
	const size_t big = 1024 * 1024;
	struct kk_envelope env;
	struct crowd c;
	uint8_t *payload;
	char keyid[16];
	uint64_t s = 5;
	size_t i;

	crowd_make(&c);
	payload = malloc(big);
	ck_assert_ptr_nonnull(payload);
	memset(payload, 'x', big);
	ck_assert_int_eq(kk_envelope_init(&env, KK_PT_COMMAND, payload, big),
	    0);
	for (i = 0; i < KK_DSSE_MAX_SIGS; i++) {
		snprintf(keyid, sizeof(keyid), "k%zu", i);
		sign(&env, keyid, c.stranger[i]);
	}
	ck_assert_int_eq(crowd_signers(&c, &env, &s), -EDQUOT);
	ck_assert_uint_eq(s, 0);
	ck_assert_uint_eq(verifications, KK_TRUST_BIG_FAILS);
	kk_envelope_free(&env);

	/* sixteen honest signers: every one verified, every one counts */
	ck_assert_int_eq(kk_envelope_init(&env, KK_PT_COMMAND, payload, big),
	    0);
	for (i = 0; i < KK_DSSE_MAX_SIGS; i++)
		sign(&env, c.t.keys[i].id, c.key[i]);
	ck_assert_int_eq(crowd_signers(&c, &env, &s), 0);
	ck_assert_uint_eq(s, 0xffff);
	ck_assert_uint_eq(verifications, KK_DSSE_MAX_SIGS);
	kk_envelope_free(&env);

	/* one garbage signature first: the two honest ones after it count */
	ck_assert_int_eq(kk_envelope_init(&env, KK_PT_COMMAND, payload, big),
	    0);
	sign(&env, "k5", c.stranger[0]);
	sign(&env, c.t.keys[6].id, c.key[6]);
	sign(&env, c.t.keys[7].id, c.key[7]);
	ck_assert_int_eq(crowd_signers(&c, &env, &s), 0);
	ck_assert_uint_eq(s, 3u << 6);
	kk_envelope_free(&env);
	free(payload);
	crowd_free(&c);
}
END_TEST

START_TEST(test_signers_args)
{
	struct kk_envelope env;
	struct world w;
	uint64_t s = 5;

	world_make(&w);
	env_new(&env);
	ck_assert_int_eq(kk_trust_signers(NULL, &env, false, &s, NULL),
	    -EINVAL);
	ck_assert_uint_eq(s, 0);
	ck_assert_int_eq(kk_trust_signers(&w.t, NULL, false, &s, NULL),
	    -EINVAL);
	ck_assert_int_eq(kk_trust_signers(&w.t, &env, false, NULL, NULL),
	    -EINVAL);
	env.nsigs = KK_DSSE_MAX_SIGS + 1;
	s = 5;
	ck_assert_int_eq(kk_trust_signers(&w.t, &env, false, &s, NULL),
	    -EINVAL);
	ck_assert_uint_eq(s, 0);
	env.nsigs = 0;
	kk_envelope_free(&env);
	world_free(&w);
}
END_TEST

KK_SUITE(trust_suite, "trust",
	KK_CASE("load", KK_TMPDIR, 60),
	    KK_LOOP(test_valid, KK_NITEMS(valids)),
	    KK_TEST(test_failure_keeps_trust),
	    KK_TEST(test_max_keys),
	    KK_LOOP(test_hostile, KK_NITEMS(hostiles)),
	    KK_LOOP(test_semantic, KK_NITEMS(semantics)),
	    KK_TEST(test_key_files),
	    KK_TEST(test_trust_file), KK_TEST(test_bad_args),
	KK_CASE("signers", KK_TMPDIR, 60),
	    KK_LOOP(test_signings, KK_NITEMS(signings)),
	    KK_TEST(test_one_key_many),
	    KK_TEST(test_large_payload_keyid_decides), KK_TEST(test_bad_sigs),
	    KK_TEST(test_role_bits), KK_TEST(test_tampered),
	    KK_TEST(test_key_63),
	    KK_TEST(test_signers_args),
	KK_CASE("budget", 0, 120),
	    KK_LOOP(test_budget_garbage, KK_NITEMS(garbage_keyids)),
	    KK_LOOP(test_budget_honest, KK_NITEMS(honests)),
	    KK_TEST(test_budget_named_only), KK_TEST(test_budget_big_payload))
