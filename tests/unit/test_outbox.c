/*
 * The durable outbox (agentd/outbox.c, issue 10 item 3): messages are
 * agent-signed DSSE envelopes carrying DESIGN 7's payload, seq increases
 * across a reopen, a full outbox refuses a self-report and takes a
 * tamper alert, corrupt files and hostile entries are moved aside and
 * reported, never followed; a self-report never takes the disk's reserve.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "act.h"
#include "alerts.h"
#include "daemon.h"
#include "identity.h"
#include "outbox.h"
#include "subids.h"
#include "sign.h"
#include "wire.h"
#include "suites.h"
#include "testutil.h"
#include "../progutil.h"

static struct kd d;
static struct kk_policy policy;
static char work[PATH_MAX];

static void
setup_kd(bool with_key)
{
	kk_test_workdir(work);
	memset(&d, 0, sizeof(d));
	kk_policy_defaults(&policy);
	snprintf(policy.state_dir, sizeof(policy.state_dir), "%s", work);
	d.policy = &policy;
	kk_test_outbox_kd(&d, work, with_key);
}

static void
teardown_kd(void)
{
	kk_audit_close(&d.audit);
	kd_identity_free(&d);
	kd_outbox_free(&d);
}

/* the path of the message with this id, or "" */
static void
find_message(const char *id, char out[PATH_MAX])
{
	struct dirent *de;
	DIR *dir;

	out[0] = '\0';
	ck_assert_ptr_nonnull(dir = opendir(d.outbox_dir));
	while ((de = readdir(dir)) != NULL)
		if (strstr(de->d_name, id) != NULL)
			kk_test_join(out, d.outbox_dir, de->d_name);
	closedir(dir);
}

/* again: the body says it repeats a notice (a plain one, outbox.c) */
static int
put_as(enum kk_report_type type, const char *k, const char *v, char id[33],
    bool again)
{
	json_t *body = json_pack("{s:s}", k, v);
	int r;

	if (again)
		json_object_set_new(body, KW_AGAIN, json_true());
	r = kd_outbox_put(&d, type, body, id);
	json_decref(body);
	return r;
}

static int
put(enum kk_report_type type, const char *k, const char *v, char id[33])
{
	return put_as(type, k, v, id, false);
}

/* the payload of the message at path, verified with key */
static json_t *
open_message(const char *path, EVP_PKEY *key)
{
	struct kk_envelope env;
	json_t *p;
	char *buf;
	size_t len;

	ck_assert_ptr_nonnull(buf = kk_test_read(path, &len));
	ck_assert_int_eq(kk_envelope_parse((uint8_t *)buf, len, &env), 0);
	ck_assert_str_eq(env.type, KK_PT_REPORT);
	ck_assert_uint_eq(env.nsigs, 1);
	ck_assert_int_eq(kk_dsse_verify_one(&env, 0, key), 0);
	p = json_loadb((char *)env.payload, env.payload_len, 0, NULL);
	ck_assert_ptr_nonnull(p);
	kk_envelope_free(&env);
	free(buf);
	return p;
}

static bool
audit_has(const char *what)
{
	char *buf;
	size_t len;
	bool r;

	buf = kk_test_read(d.audit_path, &len);
	r = buf != NULL && strstr(buf, what) != NULL;
	free(buf);
	return r;
}

START_TEST(test_signed_payload)
{
	char id[33], path[PATH_MAX];
	json_t *p, *h;

	setup_kd(true);
	ck_assert_int_eq(put(KK_REPORT_DISCONNECT, KW_MODE, "isolated", id), 0);
	ck_assert_uint_eq(strlen(id), 32);
	find_message(id, path);
	ck_assert_ptr_nonnull(strstr(path, ".dsse"));
	ck_assert_int_eq(kk_test_file_mode(path), 0600);
	p = open_message(path, d.agent_key);
	ck_assert_int_eq(json_integer_value(json_object_get(p, KW_V)), 1);
	ck_assert_str_eq(json_string_value(json_object_get(p, KW_ID)), id);
	ck_assert_str_eq(json_string_value(json_object_get(p, KW_AGENT)),
	    d.agent_id);
	ck_assert_int_eq(json_integer_value(json_object_get(p, KW_SEQ)), 1);
	ck_assert_str_eq(json_string_value(json_object_get(p, KW_TYPE)),
	    "disconnect");
	ck_assert_ptr_nonnull(json_string_value(json_object_get(p, KW_TIME)));
	ck_assert_str_eq(json_string_value(json_object_get(p, KW_EPISODE)),
	    d.state.episode);
	h = json_object_get(p, KW_HOST);
	ck_assert(json_is_string(json_object_get(h, KW_HOSTNAME)));
	ck_assert(json_is_array(json_object_get(h, KW_ADDRESSES)));
	ck_assert(json_string_length(json_object_get(h, KW_BOOT_ID)) > 0);
	ck_assert(json_string_length(json_object_get(h, KW_OS)) > 0);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(p,
	    KW_BODY), KW_MODE)), "isolated");
	json_decref(p);
	/* a type outside DESIGN 7 is no message */
	ck_assert_int_eq(put(KK_REPORT__MAX, KW_MODE, "x", id), -EINVAL);
	ck_assert_str_eq(id, "");
	teardown_kd();
}
END_TEST

/* the seq of every message, in name order */
static size_t
seqs_in_name_order(long long *out, size_t max)
{
	struct dirent **list;
	size_t k = 0;
	int n, i;
	char path[PATH_MAX];
	json_t *p;

	n = scandir(d.outbox_dir, &list, NULL, alphasort);
	ck_assert_int_ge(n, 0);
	for (i = 0; i < n; i++) {
		if (strstr(list[i]->d_name, ".dsse") != NULL && k < max) {
			kk_test_join(path, d.outbox_dir, list[i]->d_name);
			p = open_message(path, d.agent_key);
			out[k++] = json_integer_value(json_object_get(p, KW_SEQ));
			json_decref(p);
		}
		free(list[i]);
	}
	free(list);
	return k;
}

START_TEST(test_seq_reopen)
{
	long long seq[16];
	char id[33], path[PATH_MAX];
	size_t n, i;

	setup_kd(true);
	for (i = 0; i < 11; i++)
		ck_assert_int_eq(put(i % 2 ? KK_REPORT_TAMPER :
		    KK_REPORT_ISOLATE, KW_WHAT, "x", id), 0);
	/* a restart: the counter from disk */
	memset(&d.outbox, 0, sizeof(d.outbox));
	d.outbox.sealer = &kd_outbox_sealer;
	ck_assert_int_eq(kd_outbox_open(&d), 0);
	ck_assert_uint_eq(d.outbox.count, 11);
	ck_assert_int_eq(put(KK_REPORT_RELEASE, KW_WHAT, "y", id), 0);
	n = seqs_in_name_order(seq, 16);
	ck_assert_uint_eq(n, 12);
	for (i = 1; i < n; i++)
		ck_assert_int_gt(seq[i], seq[i - 1]);
	/* delivered and gone (the courier's job later): seq still goes on */
	kk_test_rmtree(d.outbox_dir);
	ck_assert_int_eq(mkdir(d.outbox_dir, 0700), 0);
	kk_test_join(path, work, "outbox/seq");
	kk_test_write(path, "5000\n", 5, 0600);
	memset(&d.outbox, 0, sizeof(d.outbox));
	d.outbox.sealer = &kd_outbox_sealer;
	ck_assert_int_eq(kd_outbox_open(&d), 0);
	ck_assert_int_eq(put(KK_REPORT_RELEASE, KW_WHAT, "z", id), 0);
	n = seqs_in_name_order(seq, 16);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_gt(seq[0], 5000);
	teardown_kd();
}
END_TEST

/* outbox/seq as a number, or -1 */
static long long
seq_file(void)
{
	char path[PATH_MAX], *text;
	long long v;
	size_t len;

	kk_test_join(path, work, "outbox/seq");
	if (access(path, F_OK) != 0)
		return -1;
	text = kk_test_read(path, &len);
	v = strtoll(text, NULL, 10);
	free(text);
	return v;
}

/*
 * kd_outbox_reserve (kakurid, once started) persists the block, so the
 * first message does not write outbox/seq; a restart with nothing sent
 * still never gives a reserved number again.
 */
START_TEST(test_seq_reserved_ahead)
{
	char id[33], path[PATH_MAX];
	long long seq[4], hi;
	struct stat before, after;

	setup_kd(true);
	ck_assert_int_eq(seq_file(), -1);
	ck_assert_int_eq(kd_outbox_reserve(&d), 0);
	hi = seq_file();
	ck_assert_int_eq(hi, KD_OUTBOX_SEQ_BLOCK);
	kk_test_join(path, work, "outbox/seq");
	ck_assert_int_eq(stat(path, &before), 0);
	/* again, and the first message: the file is not written again */
	ck_assert_int_eq(kd_outbox_reserve(&d), 0);
	ck_assert_int_eq(put(KK_REPORT_ISOLATE, KW_WHAT, "x", id), 0);
	ck_assert_int_eq(stat(path, &after), 0);
	ck_assert_uint_eq(after.st_ino, before.st_ino);
	ck_assert_int_eq(seq_file(), hi);
	ck_assert_uint_eq(seqs_in_name_order(seq, 4), 1);
	ck_assert_int_eq(seq[0], 1);
	/* a restart that sent nothing: the next block starts past hi */
	memset(&d.outbox, 0, sizeof(d.outbox));
	d.outbox.sealer = &kd_outbox_sealer;
	ck_assert_int_eq(kd_outbox_open(&d), 0);
	ck_assert_int_eq(kd_outbox_reserve(&d), 0);
	ck_assert_int_eq(seq_file(), hi + KD_OUTBOX_SEQ_BLOCK);
	ck_assert_int_eq(put(KK_REPORT_RELEASE, KW_WHAT, "y", id), 0);
	ck_assert_uint_eq(seqs_in_name_order(seq, 4), 2);
	ck_assert_int_eq(seq[1], hi + 1);
	teardown_kd();
}
END_TEST

/*
 * The outbox filled with reports of type to its last bytes: of 200 KiB,
 * 20 KiB, 2 KiB, 200 bytes and 1 byte, each until the next is refused.
 */
static void
fill_outbox(enum kk_report_type type)
{
	char id[33], *big;
	size_t size = 200 * 1024;
	int i, r = 0;

	ck_assert_ptr_nonnull(big = malloc(size + 1));
	for (;; size = size >= 2000 ? size / 10 : 1) {
		memset(big, 'a', size);
		big[size] = '\0';
		for (i = 0; i < 2000 && (r = put(type, KW_WHAT, big, id)) == 0;
		    i++)
			;
		ck_assert_int_eq(r, -ENOSPC);
		if (size == 1)
			break;
	}
	free(big);
}

START_TEST(test_full)
{
	char id[33], *big;
	int i, r = 0;

	setup_kd(true);
	policy.report_max_mb = 1;
	fill_outbox(KK_REPORT_EVIDENCE);
	ck_assert_ptr_nonnull(big = malloc(200 * 1024 + 1));
	memset(big, 'a', 200);
	big[200] = '\0';
	ck_assert_int_eq(put(KK_REPORT_SELF, KW_WHAT, big, id), -ENOSPC);
	ck_assert_str_eq(id, "");
	ck_assert_ptr_nonnull(strstr(kd_outbox_error(&d), "full"));
	ck_assert_ptr_nonnull(strstr(kd_outbox_error(&d), "self-report"));
	ck_assert(audit_has("refused-full"));
	/* the reserve: tamper alerts still get in, and it is bounded */
	ck_assert_int_eq(put(KK_REPORT_TAMPER, KW_WHAT, "table deleted", id),
	    0);
	ck_assert_uint_eq(strlen(id), 32);
	memset(big, 'a', 200 * 1024);
	big[200 * 1024] = '\0';
	for (i = 0; i < 20 &&
	    (r = put(KK_REPORT_TAMPER, KW_WHAT, big, id)) == 0; i++)
		;
	ck_assert_int_eq(r, -ENOSPC);
	ck_assert_uint_le(d.outbox.bytes, (1 << 20) + KD_OUTBOX_RESERVE);
	free(big);
	teardown_kd();
}
END_TEST

/*
 * Blocked reports (made by traffic: anyone who connects to a listed
 * address) fill the outbox only to a quarter of report.max_mb: an
 * employee's self-report still gets in after a flood of them.
 */
START_TEST(test_blocked_fill_a_quarter)
{
	char id[33], *big;
	int i, r = 0;

	setup_kd(true);
	policy.report_max_mb = 1;
	big = malloc(20 * 1024 + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, 'b', 20 * 1024);
	big[20 * 1024] = '\0';
	for (i = 0; i < 200 && (r = put(KK_REPORT_BLOCKED, KW_WHAT, big,
	    id)) == 0; i++)
		;
	ck_assert_int_eq(r, -ENOSPC);
	ck_assert_uint_le(d.outbox.bytes, (1 << 20) / 4);
	ck_assert_uint_gt(d.outbox.bytes, (1 << 20) / 8);
	/* the rest is the others' */
	for (i = 0; i < 20; i++)
		ck_assert_int_eq(put(KK_REPORT_SELF, KW_WHAT, big, id), 0);
	free(big);
	teardown_kd();
}
END_TEST

/* how many tamper messages report a corrupt outbox file */
static int
corrupt_reports(void)
{
	struct dirent *de;
	char path[PATH_MAX];
	int n = 0;
	json_t *p, *b;
	DIR *dir;

	ck_assert_ptr_nonnull(dir = opendir(d.outbox_dir));
	while ((de = readdir(dir)) != NULL) {
		/* messages only: hostile names are left where they are */
		if (strlen(de->d_name) != 58 || de->d_name[19] == 'X' ||
		    strstr(de->d_name, ".dsse") == NULL ||
		    strstr(de->d_name, "00000000000000000099") != NULL ||
		    strstr(de->d_name, "-ffffffff") != NULL)	/* left */
			continue;
		kk_test_join(path, d.outbox_dir, de->d_name);
		p = open_message(path, d.agent_key);
		b = json_object_get(p, KW_BODY);
		if (strcmp(json_string_value(json_object_get(p, KW_TYPE)),
		    "tamper") == 0 && json_string_value(json_object_get(b,
		    KW_RESULT)) != NULL && strcmp(json_string_value(
		    json_object_get(b, KW_RESULT)), "outbox-corrupt") == 0)
			n++;
		json_decref(p);
	}
	closedir(dir);
	return n;
}

/* whether outbox/.corrupt-NAME-TIME is there: name renamed in place */
static bool
renamed_in_place(const char *name)
{
	char prefix[128];
	struct dirent *de;
	bool found = false;
	DIR *dir;

	snprintf(prefix, sizeof(prefix), ".corrupt-%s-", name);
	ck_assert_ptr_nonnull(dir = opendir(d.outbox_dir));
	while ((de = readdir(dir)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			found = true;
	closedir(dir);
	return found;
}

/* outbox/name (its path in path): a file of text where a message would be. */
static void
plant(char path[PATH_MAX], const char *name, const char *text)
{
	kk_test_join(path, d.outbox_dir, name);
	kk_test_write(path, text, strlen(text), 0600);
}

/* A scan moves n entries aside, into outbox/corrupt (its path in cdir). */
static void
expect_moved(int n, char cdir[PATH_MAX])
{
	ck_assert_int_eq(kd_outbox_check(&d, NULL, NULL, NULL), n);
	kk_test_join(cdir, d.outbox_dir, "corrupt");
	ck_assert_uint_eq(kk_test_count_entries(cdir, NULL, NULL), (size_t)n);
}

START_TEST(test_corrupt)
{
	char id[33], path[PATH_MAX], cdir[PATH_MAX], good[PATH_MAX];
	EVP_PKEY *saved;
	unsigned char *saved_seed;
	size_t marked;

	setup_kd(true);
	ck_assert_int_eq(put(KK_REPORT_DISCONNECT, KW_MODE, "isolated", id), 0);
	find_message(id, good);
	/* garbage under a message's name */
	plant(path,
	    "00000000000000000099-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.dsse",
	    "{\"payload\":");
	/* well formed, but signed by another key */
	saved = d.agent_key;
	saved_seed = d.agent_seed;
	d.agent_key = NULL;
	d.agent_seed = NULL;
	ck_assert_int_eq(kd_identity_keep(&d, kk_key_generate()), 0);
	ck_assert_int_eq(put(KK_REPORT_TAMPER, KW_WHAT, "forged", id), 0);
	kd_identity_free(&d);
	d.agent_key = saved;
	d.agent_seed = saved_seed;
	/* the payload does not match its name */
	plant(path,
	    "00000000000000000098-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.pend",
	    "{\"v\":1}");
	expect_moved(3, cdir);
	ck_assert_int_eq(corrupt_reports(), 3);
	ck_assert(audit_has("outbox-corrupt"));
	/* the good one stays, and a second look finds nothing more */
	ck_assert_int_eq(access(good, F_OK), 0);
	ck_assert_int_eq(kd_outbox_check(&d, NULL, NULL, NULL), 0);
	ck_assert_uint_eq(kk_test_count_entries(d.outbox_dir, ".dsse",
	    &marked), 6);	/* seq, corrupt, 1 good + 3 reports */
	ck_assert_uint_eq(marked, 4);
	teardown_kd();
}
END_TEST

START_TEST(test_hostile)
{
	char id[33], path[PATH_MAX], outside[PATH_MAX], target[PATH_MAX];
	char cdir[PATH_MAX], odd[PATH_MAX];
	struct stat st;

	setup_kd(true);
	kk_test_join(outside, work, "outside");
	ck_assert_int_eq(mkdir(outside, 0700), 0);
	kk_test_join(target, outside, "secret");
	kk_test_write(target, "secret", 6, 0600);
	/* a link named like a message, to a file outside */
	kk_test_join(path, d.outbox_dir,
	    "00000000000000000007-cccccccccccccccccccccccccccccccc.dsse");
	ck_assert_int_eq(symlink(target, path), 0);
	/* a FIFO named like one: must not hang the scan */
	kk_test_join(path, d.outbox_dir,
	    "00000000000000000008-dddddddddddddddddddddddddddddddd.pend");
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	/* names that are no message: left alone, never read */
	kk_test_join(odd, d.outbox_dir, "notes\n.dsse");
	ck_assert_int_eq(symlink(target, odd), 0);
	plant(path,
	    "0000000000000000000X-eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.dsse",
	    "junk");
	expect_moved(2, cdir);
	/* the link moved as a link; its target is untouched */
	ck_assert_int_eq(lstat(target, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(st.st_size, 6);
	ck_assert_int_eq(lstat(odd, &st), 0);
	ck_assert(S_ISLNK(st.st_mode));
	ck_assert_int_eq(corrupt_reports(), 2);

	/* outbox/corrupt swapped for a link to outside: nothing lands there */
	kk_test_rmtree(cdir);
	ck_assert_int_eq(symlink(outside, cdir), 0);
	plant(path,
	    "00000000000000000009-ffffffffffffffffffffffffffffffff.dsse",
	    "junk");
	ck_assert_int_eq(kd_outbox_check(&d, NULL, NULL, NULL), 1);
	ck_assert_uint_eq(kk_test_count_entries(outside, NULL, NULL), 1);
	/* nowhere to move it: renamed in place, never deleted, told once */
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert(renamed_in_place(
	    "00000000000000000009-ffffffffffffffffffffffffffffffff.dsse"));
	ck_assert_int_eq(corrupt_reports(), 3);
	ck_assert_int_eq(kd_outbox_check(&d, NULL, NULL, NULL), 0);
	ck_assert_int_eq(corrupt_reports(), 3);
	/* the seq file a link: not followed, seq goes on from the names */
	kk_test_join(path, d.outbox_dir, "seq");
	unlink(path);
	ck_assert_int_eq(symlink(target, path), 0);
	kd_outbox_free(&d);
	memset(&d.outbox, 0, sizeof(d.outbox));
	d.outbox.sealer = &kd_outbox_sealer;
	ck_assert_int_eq(kd_outbox_open(&d), 0);
	ck_assert_uint_ge(d.outbox.seq, 3);
	/* and is replaced, not written through */
	ck_assert_int_eq(put(KK_REPORT_TAMPER, KW_WHAT, "x", id), 0);
	ck_assert_int_eq(lstat(target, &st), 0);
	ck_assert_int_eq(st.st_size, 6);
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	teardown_kd();
}
END_TEST

START_TEST(test_pending_signed_later)
{
	char id[33], path[PATH_MAX];
	json_t *p;

	setup_kd(false);
	ck_assert_int_eq(put(KK_REPORT_TAMPER, KW_WHAT, "at boot", id), 0);
	find_message(id, path);
	ck_assert_ptr_nonnull(strstr(path, ".pend"));
	ck_assert_uint_eq(d.outbox.pending, 1);
	/* the key is loaded: signed, the unsigned file gone */
	ck_assert_int_eq(kd_identity_keep(&d, kk_key_generate()), 0);
	ck_assert_int_eq(kk_key_id(d.agent_key, d.agent_id), 0);
	ck_assert_int_eq(kd_outbox_check(&d, NULL, NULL, NULL), 0);
	ck_assert_uint_eq(d.outbox.pending, 0);
	find_message(id, path);
	ck_assert_ptr_nonnull(strstr(path, ".dsse"));
	p = open_message(path, d.agent_key);
	ck_assert_str_eq(json_string_value(json_object_get(p, KW_AGENT)),
	    d.agent_id);
	ck_assert_str_eq(json_string_value(json_object_get(p, KW_ID)), id);
	json_decref(p);
	teardown_kd();
}
END_TEST

/* a crash between signing a .pend and removing it: the .dsse wins, once */
START_TEST(test_pend_and_dsse)
{
	char id[33], path[PATH_MAX], pend[PATH_MAX], *buf;
	size_t len;

	setup_kd(false);
	ck_assert_int_eq(put(KK_REPORT_TAMPER, KW_WHAT, "at boot", id), 0);
	find_message(id, pend);
	ck_assert_int_eq(kk_read_file(pend, 1 << 20, &buf, &len), 0);
	ck_assert_int_eq(kd_identity_keep(&d, kk_key_generate()), 0);
	ck_assert_int_eq(kk_key_id(d.agent_key, d.agent_id), 0);
	ck_assert_int_eq(kd_outbox_check(&d, NULL, NULL, NULL), 0);
	/* the unsigned file back beside the signed one */
	kk_test_write(pend, buf, len, 0600);
	find_message(id, path);
	memset(&d.outbox, 0, sizeof(d.outbox));
	d.outbox.sealer = &kd_outbox_sealer;
	ck_assert_int_eq(kd_outbox_open(&d), 0);
	ck_assert_uint_eq(d.outbox.count, 1);
	ck_assert_uint_eq(d.outbox.pending, 0);
	ck_assert_int_eq(access(pend, F_OK), -1);
	/* and in a check */
	kk_test_write(pend, buf, len, 0600);
	ck_assert_int_eq(kd_outbox_check(&d, NULL, NULL, NULL), 0);
	ck_assert_uint_eq(d.outbox.count, 1);
	ck_assert_uint_eq(d.outbox.pending, 0);
	ck_assert_uint_eq(d.outbox.corrupt, 0);
	ck_assert_int_eq(access(pend, F_OK), -1);
	find_message(id, path);
	ck_assert_ptr_nonnull(strstr(path, ".dsse"));
	free(buf);
	teardown_kd();
}
END_TEST

struct seen {
	unsigned long n;
	unsigned long long last;
	bool ordered;
};

static void
seen(void *arg, const struct kd_outbox_entry *e)
{
	struct seen *s = arg;

	if (e->seq <= s->last)
		s->ordered = false;
	s->last = e->seq;
	s->n++;
}

/* a check reads at most sc.max messages, oldest first; slices cover all */
START_TEST(test_bounded)
{
	struct kd_outbox_scan sc = { 0, 4, 0, 0, 0 };
	struct seen sn = { 0, 0, true };
	char id[33], path[PATH_MAX];
	unsigned long slices = 1;
	int i, moved;

	setup_kd(true);
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(put(KK_REPORT_ISOLATE, KW_MODE, "isolated",
		    id), 0);
	/* the newest corrupt: not found by a first slice */
	find_message(id, path);
	ck_assert_int_eq(unlink(path), 0);
	kk_test_write(path, "junk", 4, 0600);
	ck_assert_int_eq(kd_outbox_check(&d, &sc, seen, &sn), 0);
	ck_assert_uint_eq(sc.checked, 4);
	ck_assert_uint_eq(sc.unchecked, 6);
	ck_assert_uint_eq(sn.n, 4);
	ck_assert(sn.ordered);
	ck_assert_uint_eq(sc.last, sn.last);
	ck_assert_uint_eq(d.outbox.count, 10);
	moved = 0;
	while (sc.unchecked > 0) {
		sc.after = sc.last;
		moved += kd_outbox_check(&d, &sc, seen, &sn);
		slices++;
	}
	ck_assert_uint_eq(slices, 3);
	ck_assert_int_eq(moved, 1);
	ck_assert_uint_eq(sn.n, 9);
	ck_assert(sn.ordered);
	/* nine left and the tamper report of the corrupt one */
	ck_assert_uint_eq(d.outbox.count, 10);
	teardown_kd();
}
END_TEST

/*
 * In a child with no file descriptor to spare but the one for the
 * outbox directory: every message fails to open (EMFILE).  No ck_assert
 * here: the exit status says what went wrong (0: nothing).
 */
static int
check_without_descriptors(const char paths[][PATH_MAX], int n)
{
	struct rlimit rl = { 64, 64 };
	int i, fd = -1, last = -1;

	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 3;
	for (i = 0; i < 64 && (fd = dup(0)) >= 0; i++)
		last = fd;
	if (fd >= 0 || errno != EMFILE || last < 0)
		return 4;
	close(last);		/* the outbox directory's */
	/* nothing is moved aside: a file that cannot be opened now is kept */
	if (kd_outbox_check(&d, NULL, NULL, NULL) != 0)
		return 5;
	for (i = 0; i < n; i++)
		if (access(paths[i], F_OK) != 0)
			return 6;
	/* and counted as its name says */
	if (d.outbox.count != (unsigned long)n)
		return 7;
	return 0;
}

/* Out of descriptors is no verdict on a message: it is kept, not corrupt. */
START_TEST(test_unreadable_now_is_not_corrupt)
{
	char id[33], paths[3][PATH_MAX], cdir[PATH_MAX];
	int i, st;
	pid_t pid;

	/* no key: its seed's secret memory is not the forked child's */
	setup_kd(false);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(put(KK_REPORT_ISOLATE, KW_MODE, "isolated",
		    id), 0);
		find_message(id, paths[i]);
	}
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(check_without_descriptors(paths, 3));
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: %d",
	    WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	/* with descriptors again, all three are good messages */
	kk_test_join(cdir, d.outbox_dir, "corrupt");
	ck_assert_int_eq(access(cdir, F_OK), -1);
	ck_assert_int_eq(kd_outbox_check(&d, NULL, NULL, NULL), 0);
	ck_assert_uint_eq(d.outbox.count, 3);
	teardown_kd();
}
END_TEST

/*
 * In a child with a small tmpfs over the state directory (dfd): a local
 * user's filler has taken all the space but the reserve.  No ck_assert
 * here: the exit status says what went wrong (0: nothing).
 */
static int
reserve_on_full_disk(int dfd, void *arg)
{
	char path[PATH_MAX], reserve[PATH_MAX], id[33], *chunk;
	struct stat st;
	ssize_t n = 1;
	int fd, i;

	(void)dfd;
	(void)arg;
	/* the outbox again, on the small disk */
	kk_audit_close(&d.audit);
	if (mkdir(d.outbox_dir, 0700) < 0 ||
	    kk_audit_open(&d.audit, d.audit_path) < 0)
		return 3;
	memset(&d.outbox, 0, sizeof(d.outbox));
	d.outbox.sealer = &kd_outbox_sealer;
	if (kd_outbox_open(&d) < 0)
		return 4;
	kk_test_join(reserve, work, "reserve");
	if (kk_reserve_init(reserve, KK_RESERVE_BYTES) < 0)
		return 5;
	/* the filler takes everything else */
	kk_test_join(path, work, "filler");
	if ((fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) < 0 ||
	    (chunk = calloc(1, 65536)) == NULL)
		return 6;
	for (i = 0; i < 4096 && n > 0; i++)
		n = write(fd, chunk, 65536);
	free(chunk);
	close(fd);
	if (n > 0)
		return 7;
	/* a self-report meets a full disk, and the reserve stays */
	if (put(KK_REPORT_SELF, KW_WHAT, "a popup", id) != -ENOSPC)
		return 8;
	if (stat(reserve, &st) < 0 || st.st_size < KK_RESERVE_BYTES)
		return 9;
	/*
	 * nor does a disconnect press that repeats one in force (a plain
	 * notice): staff pressing again and again took the reserve, and the
	 * CSIRT's next state or replay id met the full disk
	 */
	if (put_as(KK_REPORT_DISCONNECT, KW_MODE, "isolated", id, true) !=
	    -ENOSPC)
		return 13;
	if (stat(reserve, &st) < 0 || st.st_size < KK_RESERVE_BYTES)
		return 14;
	/* the CSIRT's isolation is recorded: the state takes the reserve */
	kk_test_join(path, work, "state.json");
	if (kk_state_save(path, &d.state) != 0)
		return 10;
	if (stat(reserve, &st) == 0)
		return 11;
	/* and its notice gets in */
	if (put(KK_REPORT_ISOLATE, KW_MODE, "isolated", id) != 0)
		return 12;
	return 0;
}

/*
 * The outbox's room past report.max_mb is for the notices that tell of a
 * change: a disconnect press repeating one in force (a plain notice) is
 * refused where the press that isolated still gets in.
 */
START_TEST(test_plain_no_outbox_reserve)
{
	char id[33];

	setup_kd(true);
	policy.report_max_mb = 1;
	fill_outbox(KK_REPORT_DRILL);
	ck_assert_int_eq(put_as(KK_REPORT_DISCONNECT, KW_MODE, "isolated", id,
	    true), -ENOSPC);
	ck_assert_int_eq(put(KK_REPORT_DISCONNECT, KW_MODE, "isolated", id),
	    0);
	teardown_kd();
}
END_TEST

/* Presses repeating a quarantine in force: told KD_REPEAT_NOTICES times an episode. */
START_TEST(test_repeat_notices_per_episode)
{
	int i, told = 0;

	setup_kd(false);
	snprintf(d.state.episode, sizeof(d.state.episode), "%032x", 1);
	for (i = 0; i < 1000; i++)
		told += kd_repeat_notice_due(&d);
	ck_assert_int_eq(told, KD_REPEAT_NOTICES);
	/* a new episode is told again */
	snprintf(d.state.episode, sizeof(d.state.episode), "%032x", 2);
	ck_assert(kd_repeat_notice_due(&d));
	teardown_kd();
}
END_TEST

/* The disk's reserve is for the CSIRT's writes, not a local user's. */
START_TEST(test_reserve_not_for_self_reports)
{
	int st;

	/* no key: its seed's secret memory is not the forked child's */
	setup_kd(false);
	st = pu_in_small_tmpfs(work, "8m", reserve_on_full_disk, NULL);
	ck_assert_msg(st == 0, "child: %d (%d: no mount namespace here)", st,
	    PU_NO_NAMESPACE);
	teardown_kd();
}
END_TEST

/* a self-report of uid, size bytes of text: its message's name in name */
static int
put_self(uid_t uid, const char *what, char id[33], char name[PATH_MAX])
{
	json_t *body = json_pack("{s:s, s:{s:I}}", KW_WHAT, what, KW_REPORTER,
	    KW_UID, (json_int_t)uid);
	int r;

	r = kd_outbox_put(&d, KK_REPORT_SELF, body, id);
	json_decref(body);
	if (r == 0 && name != NULL) {
		find_message(id, name);
		snprintf(name, PATH_MAX, "%s", strrchr(name, '/') + 1);
	}
	return r;
}

/*
 * One user's self-reports fill no more than his share of the outbox:
 * while the collector is away, the rate alone (10 per 10 min) let one
 * user fill it in hours, and every other employee's report was refused
 * "the outbox is full".  His subordinate uids are him; his share is his
 * again once the collector took his reports, and after a restart his
 * waiting reports still count.
 */
START_TEST(test_self_share)
{
	char id[33], name[PATH_MAX], first[PATH_MAX], why[256], *big;
	struct stat st;
	int i, r = 0, ok = 0;

	setup_kd(true);
	ck_assert_int_eq(kd_subids_parse("5001:300000:10\n", 15, NULL), 1);
	policy.report_max_mb = 1;
	ck_assert_ptr_nonnull(big = malloc(60 * 1024 + 1));
	memset(big, 'a', 60 * 1024);
	big[60 * 1024] = '\0';
	/* user A (5001), as his own uid and a subordinate one */
	for (i = 0; i < 40 && (r = put_self(i % 2 ? 300003 : 5001, big, id,
	    i == 0 ? first : name)) == 0; i++)
		ok++;
	ck_assert_int_eq(r, -ENOSPC);
	ck_assert_int_ge(ok, 1);
	snprintf(why, sizeof(why), "%s", kd_outbox_error(&d));
	/* user B still gets in, and so does C */
	ck_assert_int_eq(put_self(5002, big, id, NULL), 0);
	ck_assert_int_eq(put_self(5003, "a popup", id, NULL), 0);
	ck_assert_msg(strstr(why, "share") != NULL, "%s", why);
	ck_assert(audit_has("refused-share"));
	/* A held his share, not the outbox */
	ck_assert_uint_le(d.outbox.bytes, (1 << 20) / KD_OUTBOX_SELF_PART +
	    2 * 64 * 1024 + 1024);
	/* a restart: A's waiting reports are his still */
	kd_outbox_free(&d);
	memset(&d.outbox, 0, sizeof(d.outbox));
	d.outbox.sealer = &kd_outbox_sealer;
	ck_assert_int_eq(kd_outbox_open(&d), 0);
	ck_assert_int_ge(kd_outbox_check(&d, NULL, NULL, NULL), 0);
	ck_assert_int_eq(put_self(300001, big, id, NULL), -ENOSPC);
	/* the collector took his first: room for one more of his */
	kk_test_join(name, d.outbox_dir, first);
	ck_assert_int_eq(stat(name, &st), 0);
	ck_assert_int_eq(kd_outbox_remove(&d, first, (uint64_t)st.st_size), 0);
	ck_assert_int_eq(put_self(5001, big, id, NULL), 0);
	ck_assert_int_eq(put_self(5001, big, id, NULL), -ENOSPC);
	/* root is held to no share, as to no rate */
	ck_assert_int_eq(put_self(0, big, id, NULL), 0);
	kd_subids_free();
	free(big);
	teardown_kd();
}
END_TEST

/*
 * The agent key replaced (kakurid --init after a suspected compromise)
 * while 300 self-reports wait: none verifies any more.  Each is moved
 * aside, none deleted: they may be the only copy of what employees
 * reported.  Before, past 256 in outbox/corrupt, they were deleted.
 */
START_TEST(test_rekey_keeps_reports)
{
	char id[33], cdir[PATH_MAX];
	int i, r, rounds = 0;

	setup_kd(true);
	for (i = 0; i < 300; i++)
		ck_assert_int_eq(put_self(5001 + (uid_t)(i % 7), "a popup",
		    id, NULL), 0);
	kd_identity_free(&d);
	ck_assert_int_eq(kd_identity_keep(&d, kk_key_generate()), 0);
	while ((r = kd_outbox_check(&d, NULL, NULL, NULL)) > 0 &&
	    rounds++ < 50)
		;
	ck_assert_int_eq(r, 0);
	kk_test_join(cdir, d.outbox_dir, "corrupt");
	ck_assert_uint_eq(kk_test_count_entries(cdir, NULL, NULL), 300);
	teardown_kd();
}
END_TEST

/*
 * outbox/corrupt full: a bad file stays where it is (never deleted),
 * reported once, not at every check.
 */
START_TEST(test_corrupt_full_left)
{
	char path[PATH_MAX], cdir[PATH_MAX], name[PATH_MAX + 16];
	int i;

	setup_kd(true);
	kk_test_join(cdir, d.outbox_dir, "corrupt");
	ck_assert_int_eq(mkdir(cdir, 0700), 0);
	for (i = 0; i < KD_OUTBOX_CORRUPT_MAX; i++) {
		snprintf(name, sizeof(name), "%s/old-%d", cdir, i);
		kk_test_write(name, "x", 1, 0600);
	}
	plant(path, "00000000000000000097-abababababababababababababababab.dsse",
	    "junk");
	ck_assert_int_eq(kd_outbox_check(&d, NULL, NULL, NULL), 1);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert(renamed_in_place(
	    "00000000000000000097-abababababababababababababababab.dsse"));
	ck_assert(audit_has("outbox-corrupt"));
	ck_assert_int_eq(corrupt_reports(), 1);
	/* out of every scan: not read, nor reported, again */
	ck_assert_int_eq(kd_outbox_check(&d, NULL, NULL, NULL), 0);
	ck_assert_int_eq(kd_outbox_check(&d, NULL, NULL, NULL), 0);
	ck_assert_int_eq(corrupt_reports(), 1);
	ck_assert_uint_eq(kk_test_count_entries(cdir, NULL, NULL),
	    KD_OUTBOX_CORRUPT_MAX);
	teardown_kd();
}
END_TEST

/*
 * The tamper report of the first bad file wakes the courier, whose own
 * check (nested here, as kd_courier_kick runs it) moves the others
 * first: each is reported once, none as "left".  Before, the outer check
 * found them gone and reported them again, as left.
 */
static void
check_again(struct kd *dd)
{
	static int depth;

	if (depth++ == 0)
		kd_outbox_check(dd, NULL, NULL, NULL);
	depth--;
}

START_TEST(test_nested_check_once)
{
	static struct kd_outbox_seal s;
	char path[PATH_MAX], name[80], *log;
	size_t len;
	int i;

	setup_kd(true);
	s = kd_outbox_sealer;
	s.queued = check_again;
	d.outbox.sealer = &s;
	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "0000000000000000009%d-"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa%d.dsse", i, i);
		plant(path, name, "junk");
	}
	ck_assert_int_ge(kd_outbox_check(&d, NULL, NULL, NULL), 1);
	ck_assert_int_eq(corrupt_reports(), 3);
	ck_assert_ptr_nonnull(log = kk_test_read(d.audit_path, &len));
	ck_assert_msg(strstr(log, "\"left\"") == NULL, "%s", log);
	free(log);
	kk_test_join(path, d.outbox_dir, "corrupt");
	ck_assert_uint_eq(kk_test_count_entries(path, NULL, NULL), 3);
	teardown_kd();
}
END_TEST

/*
 * A message the courier can no longer read, set aside as a check sets a
 * bad file aside: with outbox/corrupt full, renamed in place, reported
 * once and no longer counted; a second time it is gone already, and
 * what is no message's name is never touched.
 */
START_TEST(test_set_aside_unread)
{
	char id[33], path[PATH_MAX], cdir[PATH_MAX], name[PATH_MAX + 16];
	const char *base;
	struct stat st;
	int i;

	setup_kd(true);
	ck_assert_int_eq(put(KK_REPORT_ISOLATE, KW_MODE, "isolated", id), 0);
	find_message(id, path);
	base = strrchr(path, '/') + 1;
	ck_assert_int_eq(stat(path, &st), 0);
	kk_test_join(cdir, d.outbox_dir, "corrupt");
	ck_assert_int_eq(mkdir(cdir, 0700), 0);
	for (i = 0; i < KD_OUTBOX_CORRUPT_MAX; i++) {
		snprintf(name, sizeof(name), "%s/old-%d", cdir, i);
		kk_test_write(name, "x", 1, 0600);
	}
	ck_assert_uint_eq(d.outbox.count, 1);
	ck_assert_int_eq(kd_outbox_set_aside(&d, base, (uint64_t)st.st_size,
	    -EIO), 0);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert(renamed_in_place(base));
	ck_assert(audit_has(strerror(EIO)));
	ck_assert_int_eq(corrupt_reports(), 1);
	ck_assert_uint_eq(d.outbox.corrupt, 1);
	ck_assert_uint_eq(d.outbox.count, 1);	/* its tamper report */
	ck_assert_int_eq(kd_outbox_set_aside(&d, base, (uint64_t)st.st_size,
	    -EIO), -ENOENT);
	ck_assert_int_eq(kd_outbox_set_aside(&d, "seq", 0, -EIO), -EINVAL);
	ck_assert_int_eq(corrupt_reports(), 1);
	ck_assert_uint_eq(d.outbox.count, 1);
	ck_assert_int_eq(kd_outbox_check(&d, NULL, NULL, NULL), 0);
	ck_assert_uint_eq(d.outbox.count, 1);
	teardown_kd();
}
END_TEST

/* occurrences of needle in the file at path */
static size_t
count_in(const char *path, const char *needle)
{
	size_t len, n = 0;
	char *text = kk_test_read(path, &len), *p;

	for (p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	free(text);
	return n;
}

/*
 * Forged netlink messages (alerts.c): a tamper alert that counts them
 * all, in the audit log and the outbox, each time within the alert
 * rate; what the alert carries is freed once (ASan tells a second).
 */
START_TEST(test_forged_alert)
{
	setup_kd(true);
	d.state.mode = KK_MODE_ISOLATED;
	kd_forged_alert(&d, 3);
	kd_forged_alert(&d, 2);
	ck_assert_uint_eq(count_in(d.audit_path, "netlink-forged"), 2);
	ck_assert_uint_eq(count_in(d.audit_path, "\"count\":3"), 1);
	ck_assert_uint_eq(count_in(d.audit_path, "\"count\":5"), 1);
	ck_assert_uint_eq(d.outbox.count, 2);
	ck_assert_uint_eq(d.forged.count, 5);
	teardown_kd();
}
END_TEST

KK_SUITE(outbox_suite, "outbox",
	KK_CASE("outbox", KK_TMPDIR, 60),
	    KK_TEST(test_signed_payload), KK_TEST(test_seq_reopen),
	    KK_TEST(test_seq_reserved_ahead),
	    KK_TEST(test_full), KK_TEST(test_corrupt),
	    KK_TEST(test_hostile), KK_TEST(test_pending_signed_later),
	    KK_TEST(test_pend_and_dsse), KK_TEST(test_bounded),
	    KK_TEST(test_reserve_not_for_self_reports),
	    KK_TEST(test_plain_no_outbox_reserve),
	    KK_TEST(test_repeat_notices_per_episode),
	    KK_TEST(test_blocked_fill_a_quarter),
	    KK_TEST(test_unreadable_now_is_not_corrupt),
	    KK_TEST(test_self_share),
	    KK_TEST(test_rekey_keeps_reports), KK_TEST(test_corrupt_full_left),
	    KK_TEST(test_nested_check_once), KK_TEST(test_set_aside_unread),
	    KK_TEST(test_forged_alert))
