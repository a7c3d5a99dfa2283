/*
 * IOC block lists (issue 12) without a kernel: a block command's args
 * normalised or refused with the entry named (agentd/blocklist.c), the
 * lists' files written and read back, a damaged one set aside (a
 * digest that holds over keys not as seal left them too); the rules
 * a list makes in every mode (nft/rules.c), decoded; and a 100,000-entry
 * list with its rules as one batch, including the change in place whose
 * new elements must come before anything is deleted.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>

#include "blocklist.h"
#include "nft.h"
#include "sha256.h"
#include "suites.h"
#include "testutil.h"

static struct kk_policy *
policy(void)
{
	struct kk_policy *p = calloc(1, sizeof(*p));

	ck_assert_ptr_nonnull(p);
	kk_test_policy_base(p);
	return p;
}

/* parse TEXT (args JSON): the error, why, and the list when it parses */
static int
parse(const char *text, struct kd_blocklist **b, char *why, size_t len)
{
	struct kk_policy *p = policy();
	json_error_t jerr;
	json_t *args = json_loads(text, 0, &jerr);
	int err;

	ck_assert_msg(args != NULL, "%s: %s", text, jerr.text);
	why[0] = '\0';
	err = kd_blocklist_parse(args, p, b, why, len);
	json_decref(args);
	free(p);
	return err;
}

static void
refused(const char *text, int want, const char *why_has)
{
	struct kd_blocklist *b = (void *)1;
	char why[160];
	int err;

	err = parse(text, &b, why, sizeof(why));
	ck_assert_msg(err == want, "%s: %d, want %d", text, err, want);
	ck_assert_msg(b == NULL, "%s: a list", text);
	ck_assert_msg(strstr(why, why_has) != NULL, "%s: why '%s' lacks '%s'",
	    text, why, why_has);
}

START_TEST(normalised)
{
	struct kd_blocklist *b;
	char why[160], buf[128];

	ck_assert_int_eq(parse("{\"set\":\"c2\",\"version\":3,\"addresses\":["
	    "\"203.0.113.0/24\",\"203.0.113.7\",\"203.0.114.0/24\","
	    "\"198.51.100.1-198.51.100.9\",\"198.51.100.5\",\"2001:db8:bad::/48\","
	    "\"2001:db8:bad:1::/64\",\"2001:db8::1\"],\"ports\":[443,80,443],"
	    "\"direction\":\"out\"}", &b, why, sizeof(why)), 0);
	ck_assert_str_eq(b->name, "c2");
	ck_assert_uint_eq(b->version, 3);
	ck_assert_uint_eq(b->dir, KK_NFT_BLOCK_OUT);
	ck_assert_uint_eq(b->entries, 8);
	/* adjacent /24s merged, the host inside dropped; the range kept whole */
	ck_assert_uint_eq(b->r[0].n, 2);
	kk_nft_ranges_format(&b->r[0], 0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "198.51.100.1-198.51.100.9");
	kk_nft_ranges_format(&b->r[0], 1, buf, sizeof(buf));
	ck_assert_str_eq(buf, "203.0.113.0-203.0.114.255");
	/* the contained /64 dropped */
	ck_assert_uint_eq(b->r[1].n, 2);
	ck_assert_uint_eq(b->nports, 2);
	ck_assert_uint_eq(b->ports[0], 80);
	ck_assert_uint_eq(b->ports[1], 443);
	ck_assert_str_eq(kd_blocklist_dir_name(b->dir), "out");
	ck_assert_int_eq(kd_blocklist_setname(b, 1, false, buf, sizeof(buf)),
	    0);
	ck_assert_str_eq(buf, "c2_v3_6");
	ck_assert_int_eq(kd_blocklist_setname(b, 1, true, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "c2_v3_Q");
	kd_blocklist_free(b);
	/* direction defaults to both */
	ck_assert_int_eq(parse("{\"set\":\"a\",\"version\":1,\"addresses\":"
	    "[\"10.0.0.0/8\"]}", &b, why, sizeof(why)), 0);
	ck_assert_uint_eq(b->dir, KK_NFT_BLOCK_OUT | KK_NFT_BLOCK_IN);
	ck_assert_uint_eq(b->r[1].n, 0);
	kd_blocklist_free(b);
}
END_TEST

#define ARGS(addrs)	"{\"set\":\"x\",\"version\":1,\"addresses\":[" addrs "]}"
/* one valid address, and the members after it */
#define WITH(more)	\
	"{\"set\":\"x\",\"version\":1,\"addresses\":[\"10.0.0.1\"]," more "}"

/* block args that are refused (-EINVAL), and what the reason must say */
static const struct {
	const char *args;
	const char *why_has;
} hostile_args[] = {
	{ ARGS("\"10.0.0.0/8\",\"0.0.0.0/0\""), "entry 1 (0.0.0.0/0): a /0" },
	{ ARGS("\"::/0\""), "entry 0 (::/0): a /0" },
	{ ARGS("\"evil.example\""),
	    "entry 0 (evil.example): not an IP address" },
	{ ARGS("\"10.0.0.1/8\""),
	    "entry 0 (10.0.0.1/8): not a CIDR with its host bits clear" },
	{ ARGS("\"10.0.0.0/33\""), "entry 0 (10.0.0.0/33)" },
	{ ARGS("\"10.0.0.0/08\""), "entry 0" },
	{ ARGS("\"10.0.0.9-10.0.0.1\""), "after its last" },
	{ ARGS("\"10.0.0.1-2001:db8::1\""), "entry 0" },
	{ ARGS("\" 10.0.0.1\""), "entry 0" },
	{ ARGS("\"\""), "entry 0" },
	{ ARGS("1"), "entry 0 is not a string" },
	{ ARGS("\"0.0.0.0/1\",\"128.0.0.0/1\""), "every IPv4 address" },
	{ ARGS("\"::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff\""),
	    "every IPv6 address" },
	/* kk_test_policy_base's peers: the CSIRT channel stays */
	{ ARGS("\"192.0.2.0/24\""), "management peer 192.0.2.10" },
	{ ARGS(""), "non-empty list" },
	{ "{\"set\":\"x\",\"version\":1}", "non-empty list" },
	{ "{\"set\":\"X\",\"version\":1,\"addresses\":[\"10.0.0.1\"]}",
	    "set must be" },
	{ "{\"set\":\"abcdefghijklmnopq\",\"version\":1,\"addresses\":"
	    "[\"10.0.0.1\"]}", "set must be" },
	{ "{\"set\":\"x\",\"version\":0,\"addresses\":[\"10.0.0.1\"]}",
	    "version" },
	{ "{\"set\":\"x\",\"version\":4294967296,\"addresses\":"
	    "[\"10.0.0.1\"]}", "version" },
	{ "{\"set\":\"x\",\"version\":\"1\",\"addresses\":[\"10.0.0.1\"]}",
	    "version" },
	{ WITH("\"direction\":\"up\""), "direction" },
	{ WITH("\"ports\":[0]"), "port 0" },
	{ WITH("\"ports\":[]"), "ports" },
	{ WITH("\"mode\":\"x\""), "unknown argument mode" },
	/* a reason goes to receipts and the audit log: no terminal escapes */
	{ ARGS("\"10.0.0.1\\u001b[2J\""), "entry 0 (10.0.0.1?[2J)" },
	{ WITH("\"m\\u0007\":1"), "unknown argument m?" },
};

START_TEST(hostile)
{
	refused(hostile_args[_i].args, -EINVAL, hostile_args[_i].why_has);
}
END_TEST

/* More entries than a list takes: refused before any is looked at. */
START_TEST(too_many_entries)
{
	struct kk_policy *p = policy();
	struct kd_blocklist *b;
	json_t *args, *a = json_array();
	char why[160];
	size_t i;

	for (i = 0; i < (size_t)KD_BLOCK_ENTRIES_MAX + 1; i++)
		json_array_append(a, json_null());
	args = json_pack("{s:s, s:i, s:o}", "set", "x", "version", 1,
	    "addresses", a);
	ck_assert_int_eq(kd_blocklist_parse(args, p, &b, why, sizeof(why)),
	    -E2BIG);
	ck_assert_ptr_null(b);
	ck_assert_ptr_nonnull(strstr(why, "at most 1000000"));
	json_decref(args);
	free(p);
}
END_TEST

static struct kd_blocklist *
list_of(const char *text)
{
	struct kd_blocklist *b;
	char why[160];

	ck_assert_msg(parse(text, &b, why, sizeof(why)) == 0, "%s", why);
	return b;
}

START_TEST(files_round_trip)
{
	struct kd_blocklists ls, back;
	struct kd_blocklist *b, *old;
	char dir[PATH_MAX], path[PATH_MAX], bad[64];
	FILE *f;

	kk_test_workdir(dir);
	memset(&ls, 0, sizeof(ls));
	memset(&back, 0, sizeof(back));
	b = list_of("{\"set\":\"zeta\",\"version\":7,\"addresses\":[\"10.1.0.0/16\","
	    "\"2001:db8:bad::/48\"],\"ports\":[25],\"direction\":\"in\"}");
	b->signed_at = 1764900000;
	ck_assert_int_eq(kd_blocklists_put(&ls, b, &old), 0);
	ck_assert_int_eq(kd_blocklist_save(dir, b), 0);
	b = list_of(ARGS("\"10.2.0.0/16\""));
	ck_assert_int_eq(kd_blocklists_put(&ls, b, &old), 0);
	ck_assert_int_eq(kd_blocklist_save(dir, b), 0);
	/* by name, and two interval sets for zeta, one for x */
	ck_assert_str_eq(ls.list[0]->name, "x");
	ck_assert_uint_eq(ls.nipsets, 3);
	ck_assert_str_eq(ls.ipsets[1].name, "zeta_v7_4");
	ck_assert_uint_eq(ls.ipsets[1].nports, 1);

	ck_assert_int_eq(kd_blocklists_load(dir, &back, bad, sizeof(bad)), 0);
	ck_assert_str_eq(bad, "");
	ck_assert_uint_eq(back.n, 2);
	b = kd_blocklists_find(&back, "zeta");
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(b->version, 7);
	ck_assert_int_eq(b->signed_at, 1764900000);
	ck_assert_uint_eq(b->dir, KK_NFT_BLOCK_IN);
	ck_assert_uint_eq(b->ports[0], 25);
	ck_assert_mem_eq(b->r[0].digest, ls.list[1]->r[0].digest, 32);
	ck_assert_mem_eq(b->r[1].digest, ls.list[1]->r[1].digest, 32);
	kd_blocklists_clear(&back);

	/* a byte changed: that list is set aside and named, the other loads */
	kk_test_join(path, dir, "zeta.list");
	f = fopen(path, "r+");
	ck_assert_ptr_nonnull(f);
	fseek(f, 40, SEEK_SET);
	fputc('X', f);
	fclose(f);
	ck_assert_int_eq(kd_blocklists_load(dir, &back, bad, sizeof(bad)), 0);
	ck_assert_str_eq(bad, "zeta");
	ck_assert_uint_eq(back.n, 1);
	ck_assert_str_eq(back.list[0]->name, "x");
	strcat(path, ".bad");
	ck_assert_int_eq(access(path, F_OK), 0);
	kd_blocklists_clear(&back);

	ck_assert_int_eq(kd_blocklist_unlink(dir, "x"), 0);
	ck_assert_int_eq(kd_blocklists_load(dir, &back, bad, sizeof(bad)), 0);
	ck_assert_uint_eq(back.n, 0);
	/* a new version in place of the old one; the old one comes back out */
	b = list_of("{\"set\":\"x\",\"version\":2,\"addresses\":[\"10.3.0.0/16\"]}");
	ck_assert_int_eq(kd_blocklists_put(&ls, b, &old), 0);
	ck_assert_ptr_nonnull(old);
	ck_assert_uint_eq(old->version, 1);
	kd_blocklist_free(old);
	ck_assert_ptr_eq(kd_blocklists_take(&ls, "x"), b);
	kd_blocklist_free(b);
	ck_assert_uint_eq(ls.n, 1);
	ck_assert_uint_eq(ls.nipsets, 2);
	kd_blocklists_clear(&ls);
}
END_TEST

/* The rules' comments of chain, in order, joined by '|'. */
static void
chain_rules(const struct kk_nft_objects *o, const char *chain, char *out,
    size_t len)
{
	char c[128];
	size_t i;

	out[0] = '\0';
	for (i = 0; i < o->nrules; i++) {
		if (strcmp(nftnl_rule_get_str(o->rules[i], NFTNL_RULE_CHAIN),
		    chain) != 0)
			continue;
		kk_nft_rule_comment(o->rules[i], c, sizeof(c));
		snprintf(out + strlen(out), len - strlen(out), "%s%s",
		    out[0] ? "|" : "", c);
	}
}

/* The names of rule i's expressions, space-separated. */
static void
rule_exprs(const struct nftnl_rule *r, char *out, size_t len)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e;

	out[0] = '\0';
	while ((e = nftnl_expr_iter_next(it)) != NULL)
		snprintf(out + strlen(out), len - strlen(out), "%s%s",
		    out[0] ? " " : "", nftnl_expr_get_str(e, NFTNL_EXPR_NAME));
	nftnl_expr_iter_destroy(it);
}

/* The prefix of rule r's log expression ("" if it has none). */
static const char *
log_prefix(const struct nftnl_rule *r, char *out, size_t len)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e;

	out[0] = '\0';
	while ((e = nftnl_expr_iter_next(it)) != NULL)
		if (strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), "log") == 0)
			snprintf(out, len, "%s",
			    nftnl_expr_get_str(e, NFTNL_EXPR_LOG_PREFIX));
	nftnl_expr_iter_destroy(it);
	return out;
}

/*
 * b's file as version 1 wrote it (the keys inside the hashed text), with
 * its IPv4 keys changed as ver says: 0 not at all, 1 its first two
 * ranges swapped, 2 the second starting right after the first, 3 the
 * first ending before it starts.  Only IPv4 ranges.
 */
static void
write_v1(const char *dir, const struct kd_blocklist *b, int ver)
{
	char path[PATH_MAX], head[256], hex[70];
	unsigned char d[32], *keys, pair[8];
	size_t n, len, klen = b->r[0].n * 8;
	char *buf;
	FILE *f;
	int i;

	n = (size_t)snprintf(head, sizeof(head), "kakuri-blocklist 1\nset %s\n"
	    "version %u\ndirection both\nports -\nentries %zu\nranges4 %zu\n",
	    b->name, b->version, b->entries, b->r[0].n);
	len = n + klen + strlen("ranges6 0\n");
	buf = malloc(len + 72);
	ck_assert_ptr_nonnull(buf);
	memcpy(buf, head, n);
	keys = (unsigned char *)buf + n;
	memcpy(keys, b->r[0].keys, klen);
	memcpy(buf + n + klen, "ranges6 0\n", strlen("ranges6 0\n"));
	if (ver == 1) {
		memcpy(pair, keys, 8);
		memcpy(keys, keys + 8, 8);
		memcpy(keys + 8, pair, 8);
	} else if (ver == 2) {
		keys[8 + 1] = keys[4 + 1] + 1;	/* 10.2.0.0: adjacent */
	} else if (ver == 3) {
		keys[4 + 1] = 0;
	}
	kk_sha256(buf, len, d);
	memcpy(buf + len, "sha256 ", 7);
	for (i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", d[i]);
	memcpy(buf + len + 7, hex, 64);
	buf[len + 71] = '\n';
	kk_test_join(path, dir, "ooo.list");
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(buf, 1, len + 72, f), len + 72);
	fclose(f);
	free(buf);
}

/*
 * NAME.gone keeps when an unblock of NAME was signed: the later of two,
 * and nothing a mangled file says.
 */
START_TEST(gone_record)
{
	char dir[PATH_MAX], path[PATH_MAX];
	int64_t iat;
	FILE *f;

	kk_test_workdir(dir);
	ck_assert_int_eq(kd_blocklist_gone_load(dir, "c2", &iat), -ENOENT);
	ck_assert_int_eq(kd_blocklist_gone_save(dir, "c2", 1764900000), 0);
	ck_assert_int_eq(kd_blocklist_gone_load(dir, "c2", &iat), 0);
	ck_assert_int_eq(iat, 1764900000);
	/* an older unblock does not move it back */
	ck_assert_int_eq(kd_blocklist_gone_save(dir, "c2", 1764800000), 0);
	ck_assert_int_eq(kd_blocklist_gone_load(dir, "c2", &iat), 0);
	ck_assert_int_eq(iat, 1764900000);
	ck_assert_int_eq(kd_blocklist_gone_save(dir, "c2", 1764900001), 0);
	ck_assert_int_eq(kd_blocklist_gone_load(dir, "c2", &iat), 0);
	ck_assert_int_eq(iat, 1764900001);
	/* the lists' load does not take it for a list, nor sets it aside */
	{
		struct kd_blocklists ls;
		char bad[64];

		memset(&ls, 0, sizeof(ls));
		ck_assert_int_eq(kd_blocklists_load(dir, &ls, bad,
		    sizeof(bad)), 0);
		ck_assert_uint_eq(ls.n, 0);
		ck_assert_str_eq(bad, "");
		kd_blocklists_clear(&ls);
		kk_test_join(path, dir, "c2.gone");
		ck_assert_int_eq(access(path, F_OK), 0);
	}
	kk_test_join(path, dir, "c2.gone");
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("kakuri-unblocked 1\nsigned 12x\n", f);
	fclose(f);
	ck_assert_int_eq(kd_blocklist_gone_load(dir, "c2", &iat), -EBADMSG);
	ck_assert_int_eq(kd_blocklist_gone_drop(dir, "c2"), 0);
	ck_assert_int_eq(kd_blocklist_gone_load(dir, "c2", &iat), -ENOENT);
	ck_assert_int_eq(kd_blocklist_gone_drop(dir, "c2"), 0);
}
END_TEST

/*
 * A file as version 2 wrote it (no "signed" line) still loads: the list
 * is in force, its signing time not known (0: any unblock ends it, as
 * before).  Made from version 3's by taking the line out and hashing the
 * text again.
 */
START_TEST(file_v2_loads)
{
	struct kd_blocklists back;
	struct kd_blocklist *b;
	char dir[PATH_MAX], path[PATH_MAX], bad[64], hex[70], *buf, *sig,
	    *nl, *sum;
	unsigned char d[32];
	size_t len;
	FILE *f;
	int i;

	kk_test_workdir(dir);
	kk_test_join(path, dir, "old.list");
	b = list_of("{\"set\":\"old\",\"version\":3,\"addresses\":"
	    "[\"10.1.0.0/16\",\"2001:db8:bad::/48\"]}");
	b->signed_at = 1764900000;
	ck_assert_int_eq(kd_blocklist_save(dir, b), 0);
	kd_blocklist_free(b);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	buf = malloc(1 << 16);
	ck_assert_ptr_nonnull(buf);
	len = fread(buf, 1, 1 << 16, f);
	fclose(f);
	ck_assert(len > 0 && len < 1 << 16);
	ck_assert(memcmp(buf, "kakuri-blocklist 3\n", 19) == 0);
	buf[17] = '2';
	sig = memmem(buf, len, "\nsigned 1764900000\n", 19);
	ck_assert_ptr_nonnull(sig);
	nl = sig + 18;		/* the signed line's own newline */
	memmove(sig + 1, nl + 1, len - (size_t)(nl + 1 - buf));
	len -= (size_t)(nl - sig);
	sum = memmem(buf, len, "\nsha256 ", 8);
	ck_assert_ptr_nonnull(sum);
	sum++;
	kk_sha256(buf, (size_t)(sum - buf), d);
	for (i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", d[i]);
	memcpy(sum + 7, hex, 64);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
	fclose(f);
	free(buf);
	memset(&back, 0, sizeof(back));
	ck_assert_int_eq(kd_blocklists_load(dir, &back, bad, sizeof(bad)), 0);
	ck_assert_str_eq(bad, "");
	b = kd_blocklists_find(&back, "old");
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(b->version, 3);
	ck_assert_int_eq(b->signed_at, 0);
	ck_assert_uint_eq(b->r[0].n + b->r[1].n, 2);
	kd_blocklists_clear(&back);
}
END_TEST

/*
 * Keys are loaded as seal left them, not sorted or merged again: a file
 * of either version whose keys are not so is refused, even when its
 * digest holds (version 1 hashed the keys with the text); version 2's
 * keys must make the elements digest its hashed text names.
 */
START_TEST(files_keys_checked)
{
	struct kd_blocklists back;
	struct kd_blocklist *b;
	char dir[PATH_MAX], path[PATH_MAX], bad[64];
	FILE *f;
	int ver;

	kk_test_workdir(dir);
	kk_test_join(path, dir, "ooo.list");
	b = list_of("{\"set\":\"ooo\",\"version\":1,\"addresses\":"
	    "[\"10.1.0.0/16\",\"10.3.0.0/16\"]}");
	/* version 2, one byte of the last key changed */
	ck_assert_int_eq(kd_blocklist_save(dir, b), 0);
	f = fopen(path, "r+");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fseek(f, -2, SEEK_END), 0);
	fputc(0x7f, f);
	fclose(f);
	memset(&back, 0, sizeof(back));
	ck_assert_int_eq(kd_blocklists_load(dir, &back, bad, sizeof(bad)), 0);
	ck_assert_str_eq(bad, "ooo");
	ck_assert_uint_eq(back.n, 0);
	strcat(path, ".bad");
	ck_assert_int_eq(unlink(path), 0);
	path[strlen(path) - 4] = '\0';
	for (ver = 0; ver <= 3; ver++) {
		write_v1(dir, b, ver);
		memset(&back, 0, sizeof(back));
		ck_assert_int_eq(kd_blocklists_load(dir, &back, bad,
		    sizeof(bad)), 0);
		if (ver == 0) {
			/* a version 1 file still loads, as it was */
			ck_assert_str_eq(bad, "");
			ck_assert_uint_eq(back.n, 1);
			ck_assert_uint_eq(back.list[0]->r[0].n, 2);
			ck_assert_mem_eq(back.list[0]->r[0].digest,
			    b->r[0].digest, 32);
			ck_assert_int_eq(unlink(path), 0);
		} else {
			ck_assert_msg(strcmp(bad, "ooo") == 0,
			    "variant %d: bad '%s'", ver, bad);
			ck_assert_uint_eq(back.n, 0);
			strcat(path, ".bad");
			ck_assert_int_eq(unlink(path), 0);
			path[strlen(path) - 4] = '\0';
		}
		kd_blocklists_clear(&back);
	}
	kd_blocklist_free(b);
}
END_TEST

/* A spec with p's policy that blocks ls's lists, logging to group 7. */
static void
spec_blocking(struct kk_nft_spec *spec, struct kk_policy *p,
    const struct kd_blocklists *ls)
{
	memset(spec, 0, sizeof(*spec));
	spec->policy = p;
	spec->ipsets = ls->ipsets;
	spec->nipsets = ls->nipsets;
	spec->log_group = 7;
	spec->log_rate = 10;
	spec->log_unit = 1;
}

START_TEST(rules_in_every_mode)
{
	static const enum kk_mode modes[] = { KK_MODE_OPEN, KK_MODE_EGRESS,
		KK_MODE_ISOLATED };
	struct kk_policy *p = policy();
	struct kd_blocklists ls;
	struct kd_blocklist *b, *old;
	struct kk_nft_spec spec;
	struct kk_nft_objects o;
	char rules[4096], ex[256];
	const char *input_head = "block c2 v9: from IPv4 tcp sport, log|"
	    "block c2 v9: from IPv4 udp sport, log|"
	    "block c2 v9: from IPv4 tcp sport, drop|"
	    "block c2 v9: from IPv4 udp sport, drop|"
	    "block c2 v9: from IPv6 tcp sport, log|";
	size_t m, i;

	memset(&ls, 0, sizeof(ls));
	b = list_of("{\"set\":\"c2\",\"version\":9,\"addresses\":[\"203.0.113.0/24\","
	    "\"2001:db8:bad::/48\"],\"ports\":[443]}");
	ck_assert_int_eq(kd_blocklists_put(&ls, b, &old), 0);
	spec_blocking(&spec, p, &ls);
	for (m = 0; m < KK_NITEMS(modes); m++) {
		spec.mode = modes[m];
		ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &o), 0);
		/* input: from the list, tcp and udp sports, log then drop */
		chain_rules(&o, "input", rules, sizeof(rules));
		ck_assert_msg(strncmp(rules, input_head, strlen(input_head)) == 0,
		    "mode %d input: %s", (int)spec.mode, rules);
		/* output: before the mode's own rules */
		chain_rules(&o, "output", rules, sizeof(rules));
		ck_assert_msg(strncmp(rules, "block c2 v9: to IPv4 tcp dport, log",
		    35) == 0, "mode %d output: %s", (int)spec.mode, rules);
		/* forward: both ways */
		chain_rules(&o, "forward", rules, sizeof(rules));
		ck_assert_ptr_nonnull(strstr(rules, "to IPv6 udp dport, drop"));
		ck_assert_ptr_nonnull(strstr(rules, "from IPv6 udp sport, drop"));
		for (i = 0; i < o.nrules; i++) {
			kk_nft_rule_comment(o.rules[i], rules, sizeof(rules));
			if (strncmp(rules, "block ", 6) != 0)
				continue;
			rule_exprs(o.rules[i], ex, sizeof(ex));
			/* the reader names the listed side by the prefix */
			if (strstr(rules, ", log"))
				ck_assert_msg(strcmp(log_prefix(o.rules[i], ex,
				    sizeof(ex)), strstr(rules, ": from ") != NULL ?
				    "kakuri:c2:in" : "kakuri:c2") == 0, "%s: prefix %s",
				    rules, ex);
			rule_exprs(o.rules[i], ex, sizeof(ex));
			if (strstr(rules, ", log"))
				ck_assert_msg(strcmp(ex, "meta cmp meta cmp payload "
				    "lookup payload lookup limit log") == 0, "%s: %s",
				    rules, ex);
			else
				ck_assert_msg(strcmp(ex, "meta cmp meta cmp payload "
				    "lookup payload lookup objref immediate") == 0,
				    "%s: %s", rules, ex);
		}
		/* the interval sets and their port sets; one named counter */
		ck_assert_uint_eq(o.nsets >= 4, 1);
		ck_assert_uint_eq(o.nobjs, 1);
		kk_nft_objects_free(&o);
	}
	/* no log rate: drops only; a drill's table: none */
	spec.mode = KK_MODE_OPEN;
	spec.log_rate = 0;
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &o), 0);
	chain_rules(&o, "output", rules, sizeof(rules));
	ck_assert_ptr_null(strstr(rules, ", log"));
	kk_nft_objects_free(&o);
	spec.mode = KK_MODE_ISOLATED;
	spec.drill = true;
	spec.gate_ms = 1000;
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &o), 0);
	for (i = 0; i < o.nrules; i++) {
		kk_nft_rule_comment(o.rules[i], rules, sizeof(rules));
		ck_assert_msg(strncmp(rules, "block ", 6) != 0, "%s", rules);
	}
	kk_nft_objects_free(&o);
	kd_blocklists_clear(&ls);
	free(p);
}
END_TEST

static bool
block_rule(const struct nftnl_rule *r)
{
	char c[128];

	return strncmp(kk_nft_rule_comment(r, c, sizeof(c)), "block ", 6) == 0;
}

/* 100,000 entries, half IPv4 /27s, half IPv6 /64s, as args JSON */
static char *
big_args(const char *set, unsigned version)
{
	size_t cap = 5 * 1024 * 1024, off;
	char *s = malloc(cap);
	unsigned i, a;

	ck_assert_ptr_nonnull(s);
	off = (size_t)snprintf(s, cap, "{\"set\":\"%s\",\"version\":%u,"
	    "\"addresses\":[", set, version);
	for (i = 0; i < 50000; i++) {
		a = (11u << 24) + i * 64;
		off += (size_t)snprintf(s + off, cap - off, "%s\"%u.%u.%u.%u/27\","
		    "\"2001:db8:%x:%x::/64\"", i ? "," : "", a >> 24,
		    (a >> 16) & 255, (a >> 8) & 255, a & 255, 256 + i / 32768,
		    2 * (i % 32768));
	}
	snprintf(s + off, cap - off, "]}");
	return s;
}

/*
 * The first transaction of a version swap: the new sets and o's rules
 * for the chains there, each at the head of its chain (no
 * NLM_F_APPEND), last first; nothing deleted, nothing flushed.
 */
static void
bridge_batch(const struct kk_nft_plan *in_place, const struct kk_nft_objects *o)
{
	struct kk_nft_plan plan = *in_place;
	struct kk_nft_batch bt;
	const struct nlmsghdr *nlh;
	size_t i, rules = 0, output_rules = 0, newsets = 0, last_set = 0;
	size_t first_rule = 0;

	for (i = 0; i < o->nrules; i++)
		output_rules += strcmp(nftnl_rule_get_str(o->rules[i],
		    NFTNL_RULE_CHAIN), "output") == 0;
	plan.bridge = true;
	ck_assert_int_eq(kk_nft_batch_build(&bt, &plan, 1, 1), 0);
	for (i = 0; i < bt.nmap; i++) {
		const struct kk_nft_msgmap *m = &bt.map[i];

		ck_assert_msg(strncmp(m->what, "delete", 6) != 0 &&
		    strncmp(m->what, "flush", 5) != 0, "%s", m->what);
		if (strncmp(m->what, "set big_", 8) == 0) {
			newsets++;
			last_set = i;
		}
		if (strncmp(m->what, "rule ", 5) == 0) {
			nlh = (const struct nlmsghdr *)(bt.pages[m->page].buf +
			    m->off);
			ck_assert_msg(!(nlh->nlmsg_flags & NLM_F_APPEND), "%s",
			    m->what);
			if (rules++ == 0)
				first_rule = i;
		}
	}
	ck_assert_uint_eq(newsets, 2);
	ck_assert_uint_eq(rules, output_rules);
	ck_assert_uint_gt(first_rule, last_set);
	kk_nft_batch_free(&bt);
}

/*
 * A 100k list and its rules as one batch: decoded, every message acked
 * and mapped; changed in place, a new version's elements all come before
 * the first deletion, and a version the kernel holds is not sent again.
 */
START_TEST(batch_100k_with_rules)
{
	struct kk_policy *p = policy();
	struct kd_blocklists ls;
	struct kd_blocklist *b, *old;
	struct kk_nft_spec spec;
	struct kk_nft_objects o;
	struct kk_nft_plan plan;
	struct kk_nft_names keep;
	struct kk_nft_batch bt;
	char *text;
	size_t i, rules, elems, newsets, last_elem, first_del;
	int pass;

	memset(&ls, 0, sizeof(ls));
	text = big_args("big", 2);
	b = list_of(text);
	free(text);
	ck_assert_uint_eq(b->entries, 100000);
	ck_assert_uint_eq(b->r[0].n + b->r[1].n, 100000);
	ck_assert_int_eq(kd_blocklists_put(&ls, b, &old), 0);
	spec_blocking(&spec, p, &ls);
	spec.mode = KK_MODE_EGRESS;
	ck_assert_int_eq(kk_nft_objects_build(&spec, NFPROTO_INET, &o), 0);
	/* per family: input 1 + output 1 + forward 2, each log and drop */
	for (i = 0, rules = 0; i < o.nrules; i++)
		rules += block_rule(o.rules[i]);
	ck_assert_uint_eq(rules, 2 * 4 * 2);
	for (pass = 0; pass < 3; pass++) {
		memset(&plan, 0, sizeof(plan));
		plan.family = NFPROTO_INET;
		strcpy(plan.name, KK_TABLE_NAME);
		plan.exists = pass > 0;
		plan.o = &o;
		memset(&keep, 0, sizeof(keep));
		/* pass 1: version 1 in the kernel; pass 2: this version */
		strcpy(keep.chains[keep.nchains++], "output");
		strcpy(keep.sets[keep.nsets++], "mgmt4");
		strcpy(keep.sets[keep.nsets++], pass == 2 ? "big_v2_4" :
		    "big_v1_4");
		if (pass > 0)
			plan.keep = &keep;
		ck_assert_int_eq(kk_nft_batch_build(&bt, &plan, 1, 1), 0);
		rules = elems = newsets = 0;
		last_elem = first_del = 0;
		for (i = 0; i < bt.nmap; i++) {
			const struct kk_nft_msgmap *m = &bt.map[i];

			if (strncmp(m->what, "rule ", 5) == 0)
				rules++;
			if (m->count > 0)
				elems += m->count;
			/* the list's, not the small sets' declared again after */
			if (m->count > 0 && strncmp(m->set, "big_", 4) == 0)
				last_elem = i;
			if (strncmp(m->what, "set big_", 8) == 0)
				newsets++;
			if (first_del == 0 && (strncmp(m->what, "delete", 6) == 0 ||
			    strncmp(m->what, "flush", 5) == 0))
				first_del = i;
		}
		ck_assert_uint_eq(rules, o.nrules);
		if (pass == 2) {
			/* big_v2_4 kept: of the list, only the IPv6 set's go */
			ck_assert_uint_ge(elems, b->r[1].nelems);
			ck_assert_uint_lt(elems, b->r[1].nelems + 100);
			ck_assert_uint_eq(newsets, 1);
		} else {
			ck_assert_uint_ge(elems, b->r[0].nelems + b->r[1].nelems);
			ck_assert_uint_eq(newsets, 2);
		}
		if (pass > 0)
			ck_assert_msg(first_del > last_elem || pass == 2,
			    "pass %d: a deletion (message %zu) before the last "
			    "new elements (message %zu)", pass, first_del,
			    last_elem);
		if (pass == 1) {
			/* the old version's set and the chains: after every element */
			ck_assert_uint_gt(first_del, 0);
		}
		/* a set of this version not in the kernel: two transactions */
		ck_assert_int_eq(kk_nft_plan_new_version(&plan), pass > 0);
		kk_nft_batch_free(&bt);
		if (pass == 1)
			bridge_batch(&plan, &o);
	}
	kk_nft_objects_free(&o);
	kd_blocklists_clear(&ls);
	free(p);
}
END_TEST


/*
 * What every mode needs of the link and of the host (loopback, neighbour
 * discovery, DHCP's broadcast): a list holding any of it is refused, since
 * the block rules come ahead of the mode's own accepts.  Before, ff00::/8
 * and fe80::/10 (a bogon feed's entries) were taken, and neighbour
 * discovery to the router, the way to the CSIRT, was dropped.
 */
static const struct {
	const char *args, *word;	/* word: in why; NULL: taken */
} link_cases[] = {
	{ ARGS("\"ff00::/8\""), "multicast ff00::/8" },
	{ ARGS("\"ff02::1:ff00:0/104\""), "multicast ff00::/8" },
	{ ARGS("\"fe80::/10\""), "link-local fe80::/10" },
	{ ARGS("\"febf:ffff::/32\""), "link-local fe80::/10" },
	{ ARGS("\"fe00::-fe80::\""), "link-local fe80::/10" },
	{ ARGS("\"::1\""), "loopback ::1" },
	{ ARGS("\"127.0.0.0/8\""), "loopback 127.0.0.0/8" },
	{ ARGS("\"126.0.0.0-127.0.0.0\""), "loopback 127.0.0.0/8" },
	{ ARGS("\"255.255.255.255\""), "255.255.255.255 (DHCP)" },
	{ ARGS("\"240.0.0.0/4\""), "255.255.255.255 (DHCP)" },
	/* next to them, not in them: taken */
	{ ARGS("\"fe7f:ffff::/32\", \"fec0::/10\", \"fe00::/9\""), NULL },
	{ ARGS("\"::2/127\", \"::\""), NULL },
	{ ARGS("\"126.0.0.0/8\", \"128.0.0.0/8\", \"255.255.255.254\""), NULL },
	{ ARGS("\"fd00::/8\", \"fe00::/9\", \"feff::/16\""), NULL },
};

START_TEST(link_scope_refused)
{
	struct kd_blocklist *b = NULL;
	char why[200];
	int err;

	err = parse(link_cases[_i].args, &b, why, sizeof(why));
	if (link_cases[_i].word == NULL) {
		ck_assert_msg(err == 0, "%s: %s", link_cases[_i].args, why);
		kd_blocklist_free(b);
		return;
	}
	ck_assert_msg(err == -EINVAL && b == NULL, "%s taken",
	    link_cases[_i].args);
	ck_assert_msg(strstr(why, link_cases[_i].word) != NULL, "%s: %s",
	    link_cases[_i].args, why);
}
END_TEST

/*
 * The fleet broker (no management peer: it may not connect in, but it may
 * be an agent's only channel) and the report collector (how the CSIRT
 * hears of a block and of tampering): a list holding either is refused,
 * one in force is carved around it, as around a peer.
 */
static const struct {
	const char *broker, *collector;
	const char *why;	/* in the refusal */
	int n;			/* addresses carved */
	const char *spared;
} channel_cases[] = {
	{ "198.51.100.7:8883", "", "the fleet broker 198.51.100.7", 1,
	    "x: 198.51.100.7" },
	{ "", "198.51.100.20:7444", "the report collector 198.51.100.20", 1,
	    "x: 198.51.100.20" },
	{ "198.51.100.7:8883", "198.51.100.20:7444",
	    "the fleet broker 198.51.100.7", 2,
	    "x: 198.51.100.7, x: 198.51.100.20" },
};

START_TEST(channel_spared)
{
	struct kk_policy *p = policy();
	struct kd_blocklists ls;
	struct kd_blocklist *b, *old = NULL;
	json_t *args;
	char why[160], spared[256];

	snprintf(p->fleet_broker, sizeof(p->fleet_broker), "%s",
	    channel_cases[_i].broker);
	snprintf(p->collector, sizeof(p->collector), "%s",
	    channel_cases[_i].collector);
	args = json_loads(ARGS("\"198.51.100.0/24\""), 0, NULL);
	ck_assert_ptr_nonnull(args);
	b = (void *)1;
	ck_assert_int_eq(kd_blocklist_parse(args, p, &b, why, sizeof(why)),
	    -EINVAL);
	ck_assert_ptr_null(b);
	ck_assert_msg(strstr(why, channel_cases[_i].why) != NULL, "%s", why);
	json_decref(args);
	/* saved before the policy named it: carved once in force */
	memset(&ls, 0, sizeof(ls));
	b = list_of(ARGS("\"198.51.100.0/24\""));
	ck_assert_int_eq(kd_blocklists_put(&ls, b, &old), 0);
	ck_assert_int_eq(kd_blocklists_spare(&ls, p, spared, sizeof(spared)),
	    channel_cases[_i].n);
	ck_assert_str_eq(spared, channel_cases[_i].spared);
	kd_blocklists_clear(&ls);
	free(p);
}
END_TEST

/*
 * The longest names: a 16-letter list at a 10-digit version, with ports,
 * in force when the policy gains a peer inside it (spared): its sets'
 * names, the port set's too, fit, and the tables build in every mode.
 * The port set was named one letter longer than the interval set: 32 of
 * 31, and every table build failed from then on (the isolate as well).
 */
START_TEST(longest_names_spared)
{
	static const enum kk_mode modes[] = {
		KK_MODE_OPEN, KK_MODE_EGRESS, KK_MODE_ISOLATED
	};
	struct kk_policy *p = policy();
	struct kd_blocklists ls;
	struct kd_blocklist *b, *old = NULL;
	struct kk_nft_spec spec;
	struct kk_nft_objects o;
	char spared[256];
	size_t m;
	int err;

	memset(&ls, 0, sizeof(ls));
	b = list_of("{\"set\":\"abcdefghijklmnop\",\"version\":4294967295,"
	    "\"addresses\":[\"198.51.100.0/24\", \"2001:db8:bad::/48\"],"
	    "\"ports\":[443]}");
	ck_assert_int_eq(kd_blocklists_put(&ls, b, &old), 0);
	kk_test_addr_add(&p->peers, "198.51.100.7");
	ck_assert_int_eq(kd_blocklists_spare(&ls, p, spared, sizeof(spared)),
	    1);
	ck_assert_uint_eq(ls.nipsets, 2);
	ck_assert_str_eq(ls.ipsets[0].name, "abcdefghijklmnop_v4294967295_4a");
	ck_assert_str_eq(ls.ipsets[0].ports_name,
	    "abcdefghijklmnop_v4294967295_Pa");
	ck_assert_str_eq(ls.ipsets[1].ports_name,
	    "abcdefghijklmnop_v4294967295_Qa");
	for (m = 0; m < KK_NITEMS(modes); m++) {
		spec_blocking(&spec, p, &ls);
		spec.mode = modes[m];
		err = kk_nft_objects_build(&spec, NFPROTO_INET, &o);
		ck_assert_msg(err == 0, "mode %d: %s", (int)modes[m],
		    strerror(-err));
		kk_nft_objects_free(&o);
	}
	kd_blocklists_clear(&ls);
	free(p);
}
END_TEST

KK_SUITE(blocklist_suite, "blocklist",
	KK_CASE("lists", KK_TMPDIR, 0),
	    KK_TEST(normalised),
	    KK_LOOP(hostile, KK_NITEMS(hostile_args)),
	    KK_TEST(too_many_entries),
	    KK_TEST(files_round_trip),
	    KK_TEST(files_keys_checked),
	    KK_TEST(file_v2_loads),
	    KK_TEST(gone_record),
	    KK_TEST(rules_in_every_mode),
	    KK_TEST(longest_names_spared),
	    KK_LOOP(link_scope_refused, KK_NITEMS(link_cases)),
	    KK_LOOP(channel_spared, KK_NITEMS(channel_cases)),
	KK_CASE("scale", 0, 120),
	    KK_TEST(batch_100k_with_rules))
