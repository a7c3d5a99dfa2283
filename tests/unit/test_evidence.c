/*
 * The evidence store's building blocks (agentd/artifact.c, evidence.c):
 * files hashed on the way in (inline and pipelined, holes hashed as
 * zeros and left sparse, bytes read straight into the sink's buffers), a write that fails leaves an artifact marked
 * incomplete, and the manifest is appended, signed and verifiable with
 * the agent key alone.
 */
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/loop.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "daemon.h"
#include "evidence.h"
#include "kakuri.h"
#include "preserve.h"
#include "sign.h"
#include "testutil.h"
#include "wire.h"

Suite *evidence_suite(void);

static int
open_dir(char out[PATH_MAX])
{
	int fd;

	kk_test_workdir(out);
	fd = open(out, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(fd, 0);
	return fd;
}

/* SHA-256 of a file read back independently */
static void
file_hash(const char *dir, const char *rel, char out[65], size_t *len)
{
	char path[PATH_MAX];
	char *buf;

	kk_test_join(path, dir, rel);
	buf = kk_test_read(path, len);
	kk_sha256_hex(buf, *len, out);
	free(buf);
}

START_TEST(sink_hash_matches_file)
{
	char dir[PATH_MAX], h[65];
	struct kk_artifact a;
	size_t len;
	int dfd = open_dir(dir);

	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(kk_artifact_write(dfd, "sub/dir/a.txt", "hello\n", 6,
	    "test", &a), 0);
	file_hash(dir, "sub/dir/a.txt", h, &len);
	ck_assert_uint_eq(len, 6);
	ck_assert_uint_eq(a.size, 6);
	ck_assert_str_eq(a.sha256, h);
	ck_assert_str_eq(a.path, "sub/dir/a.txt");
	ck_assert_str_eq(a.method, "test");
	ck_assert(!a.incomplete);
	/* never overwrites evidence */
	ck_assert_int_eq(kk_artifact_write(dfd, "sub/dir/a.txt", "x", 1, "t", &a),
	    -EEXIST);
	close(dfd);
}
END_TEST

START_TEST(sink_refuses_escaping_paths)
{
	char dir[PATH_MAX];
	struct kk_sink *s;
	int dfd = open_dir(dir);

	ck_assert_int_eq(kk_sink_open(dfd, "../x", &s), -EINVAL);
	ck_assert_int_eq(kk_sink_open(dfd, "a/../../x", &s), -EINVAL);
	ck_assert_int_eq(kk_sink_open(dfd, "/etc/x", &s), -EINVAL);
	ck_assert_int_eq(kk_sink_open(dfd, "", &s), -EINVAL);
	ck_assert_int_eq(kk_sink_open(dfd, "a\nb", &s), -EINVAL);
	close(dfd);
}
END_TEST

/* holes are zeros in the hash and unallocated on disk; pipelined == inline */
START_TEST(sink_holes_and_pipeline)
{
	char dir[PATH_MAX], h1[65], h2[65];
	struct kk_artifact a1, a2;
	struct kk_sink *s;
	struct stat st;
	char path[PATH_MAX];
	uint8_t *blk;
	size_t len, i;
	int dfd = open_dir(dir), pass;

	blk = malloc(3 << 20);
	ck_assert_ptr_nonnull(blk);
	for (i = 0; i < (3U << 20); i++)
		blk[i] = (uint8_t)(i * 131 + (i >> 12));
	for (pass = 0; pass < 2; pass++) {
		struct kk_artifact *a = pass ? &a2 : &a1;

		memset(a, 0, sizeof(*a));
		ck_assert_int_eq((pass ? kk_sink_open_pipelined :
		    kk_sink_open)(dfd, pass ? "p.bin" : "i.bin", &s), 0);
		ck_assert_int_eq(kk_sink_write(s, blk, 3 << 20), 0);
		ck_assert_int_eq(kk_sink_hole(s, 64ULL << 20), 0);
		ck_assert_int_eq(kk_sink_write(s, blk, 100), 0);
		ck_assert_int_eq(kk_sink_hole(s, 8192), 0);	/* trailing */
		ck_assert_uint_eq(kk_sink_offset(s), (3U << 20) + (64ULL << 20) +
		    100 + 8192);
		ck_assert_int_eq(kk_sink_close(s, a, 0), 0);
	}
	file_hash(dir, "i.bin", h1, &len);
	ck_assert_uint_eq(len, (3U << 20) + (64ULL << 20) + 100 + 8192);
	ck_assert_str_eq(a1.sha256, h1);
	file_hash(dir, "p.bin", h2, &len);
	ck_assert_str_eq(a2.sha256, h2);
	ck_assert_str_eq(h1, h2);
	ck_assert_uint_eq(a2.size, len);
	kk_test_join(path, dir, "p.bin");
	ck_assert_int_eq(stat(path, &st), 0);
	/* the 64 MiB hole is not allocated */
	ck_assert_int_lt((long long)st.st_blocks * 512, 16LL << 20);
	free(blk);
	close(dfd);
}
END_TEST

/*
 * Bytes read straight into the sink (kk_sink_space, kk_sink_commit) in
 * pieces that straddle its buffers and go round its ring several times,
 * between ordinary writes and holes: the file and its hash are the same
 * as when the same bytes are written with kk_sink_write, pipelined or
 * not; a commit of more than the room given is refused and writes
 * nothing.
 */
START_TEST(sink_space_commit_is_a_write)
{
	static const size_t piece[] = { 1, 4095, 300000, 1 << 20, 77777,
	    3 << 20, 12345 };
	char dir[PATH_MAX], h[65], rel[16];
	struct kk_artifact a[3];
	struct kk_sink *s;
	const size_t total = 9U << 20, hole_at = (5U << 20) + 3;
	uint8_t *src, *dst;
	size_t len, off, room, k, i;
	int dfd = open_dir(dir), pass;

	src = malloc(total);
	ck_assert_ptr_nonnull(src);
	for (i = 0; i < total; i++)
		src[i] = (uint8_t)(i * 167 + (i >> 11));
	/* 0: kk_sink_write inline; 1, 2: space and commit, inline, piped */
	for (pass = 0; pass < 3; pass++) {
		memset(&a[pass], 0, sizeof(a[pass]));
		snprintf(rel, sizeof(rel), "sc%d.bin", pass);
		ck_assert_int_eq((pass == 2 ? kk_sink_open_pipelined :
		    kk_sink_open)(dfd, rel, &s), 0);
		ck_assert_int_eq(kk_sink_write(s, "ELF", 3), 0);
		for (off = 0, i = 0; off < total; i++) {
			k = piece[i % (sizeof(piece) / sizeof(piece[0]))];
			if (k > total - off)
				k = total - off;
			/* the hole stands at the same offset in every pass */
			if (off < hole_at && k > hole_at - off)
				k = hole_at - off;
			if (pass == 0) {
				ck_assert_int_eq(kk_sink_write(s, src + off, k),
				    0);
				off += k;
			} else {
				dst = kk_sink_space(s, &room);
				ck_assert_ptr_nonnull(dst);
				ck_assert_uint_gt(room, 0);
				if (k > room)
					k = room;
				memcpy(dst, src + off, k);
				ck_assert_int_eq(kk_sink_commit(s, k), 0);
				off += k;
			}
			if (off == hole_at)
				ck_assert_int_eq(kk_sink_hole(s, 1 << 20), 0);
		}
		if (pass > 0) {
			ck_assert_ptr_nonnull(kk_sink_space(s, &room));
			ck_assert_int_eq(kk_sink_commit(s, room + 1), -EINVAL);
		}
		ck_assert_uint_eq(kk_sink_offset(s), 3 + total + (1 << 20));
		ck_assert_int_eq(kk_sink_close(s, &a[pass], 0), 0);
		file_hash(dir, rel, h, &len);
		ck_assert_uint_eq(len, 3 + total + (1 << 20));
		ck_assert_str_eq(a[pass].sha256, h);
		ck_assert(!a[pass].incomplete);
	}
	ck_assert_str_eq(a[1].sha256, a[0].sha256);
	ck_assert_str_eq(a[2].sha256, a[0].sha256);
	free(src);
	close(dfd);
}
END_TEST

/* A write the file system refuses (here: RLIMIT_FSIZE) -> incomplete. */
START_TEST(sink_error_marks_incomplete)
{
	char dir[PATH_MAX], h[65];
	struct rlimit rl = { 4096, 4096 };
	struct kk_artifact a;
	struct kk_sink *s;
	uint8_t buf[16384];
	size_t len;
	int dfd = open_dir(dir), e;

	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	memset(buf, 'z', sizeof(buf));
	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(kk_sink_open_pipelined(dfd, "big", &s), 0);
	e = kk_sink_write(s, buf, sizeof(buf));
	ck_assert_int_eq(e, -EFBIG);
	ck_assert_int_eq(kk_sink_close(s, &a, e), -EFBIG);
	ck_assert(a.incomplete);
	ck_assert(a.error[0] != '\0');
	/* what is on disk is what the size says */
	file_hash(dir, "big", h, &len);
	ck_assert_uint_le(len, 4096);
	close(dfd);
}
END_TEST

/*
 * Each reason an artifact is incomplete is kept: one more is added after
 * those it has, never over them (a core's later notes overwrote the
 * earlier ones), and a long one is cut at the field's end.
 */
START_TEST(incomplete_reasons_kept)
{
	struct kk_artifact a;
	char longer[2 * sizeof(a.error)];

	memset(&a, 0, sizeof(a));
	kk_artifact_incomplete(&a, "first %d", 1);
	ck_assert(a.incomplete);
	ck_assert_str_eq(a.error, "first 1");
	kk_artifact_incomplete(&a, "second");
	ck_assert_str_eq(a.error, "first 1; second");
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	kk_artifact_incomplete(&a, "%s", longer);
	ck_assert_uint_eq(strlen(a.error), sizeof(a.error) - 1);
	ck_assert_msg(strncmp(a.error, "first 1; second; xxx", 20) == 0,
	    "%s", a.error);
	/* full: nothing more fits, nothing is written past it */
	kk_artifact_incomplete(&a, "third");
	ck_assert_uint_eq(strlen(a.error), sizeof(a.error) - 1);
	ck_assert(strstr(a.error, "third") == NULL);
	/* room for "; " and one character: added, cut; for less: none */
	a.error[sizeof(a.error) - 4] = '\0';
	kk_artifact_incomplete(&a, "abc");
	ck_assert_str_eq(a.error + sizeof(a.error) - 4, "; a");
	a.error[sizeof(a.error) - 3] = '\0';
	kk_artifact_incomplete(&a, "abc");
	ck_assert_uint_eq(strlen(a.error), sizeof(a.error) - 3);
}
END_TEST

START_TEST(copy_path_caps_and_says_so)
{
	char dir[PATH_MAX], src[PATH_MAX], h[65];
	struct kk_artifact a;
	size_t len;
	int dfd = open_dir(dir);

	kk_test_join(src, dir, "source");
	kk_test_write(src, "0123456789", 10, 0600);
	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(kk_artifact_copy_path(dfd, "copy", src, 100, "procfs",
	    &a), 0);
	file_hash(dir, "copy", h, &len);
	ck_assert_str_eq(a.sha256, h);
	ck_assert_uint_eq(a.size, 10);
	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(kk_artifact_copy_path(dfd, "cut", src, 4, "procfs",
	    &a), -EFBIG);
	ck_assert(a.incomplete);
	ck_assert_uint_eq(a.size, 4);
	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(kk_artifact_copy_path(dfd, "gone", "/nonexistent/x",
	    4, "procfs", &a), -ENOENT);
	ck_assert(a.incomplete);
	close(dfd);
}
END_TEST

START_TEST(artifact_list_and_gaps)
{
	struct kk_artifacts l;
	struct kk_artifact a;
	size_t i;

	kk_artifacts_init(&l);
	for (i = 0; i < KK_ART_MAX; i++) {
		memset(&a, 0, sizeof(a));
		if (i == 0) {
			ck_assert_int_eq(kk_artifact_gap(&a, 4096, 8192, "EIO"), 0);
			ck_assert_int_eq(kk_artifact_gap(&a, 1 << 20, 4096, NULL), 0);
		}
		ck_assert_int_eq(kk_artifacts_add(&l, &a), 0);
		ck_assert_ptr_null(a.gaps);	/* ownership moved */
	}
	ck_assert_int_eq(kk_artifacts_add(&l, &a), -E2BIG);
	ck_assert_uint_eq(json_array_size(l.v[0].gaps), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(
	    json_array_get(l.v[0].gaps, 0), "length")), 8192);
	kk_artifacts_free(&l);
}
END_TEST

/* max is the element limit, whatever the doubling would give */
START_TEST(grow_stops_at_max)
{
	int *v = NULL;
	size_t cap = 0, n;

	for (n = 0; n < 5; n++) {
		ck_assert_int_eq(kk_grow(&v, &cap, n, sizeof(*v), 4, 5), 0);
		ck_assert_uint_gt(cap, n);
		ck_assert_uint_le(cap, 5);
		v[n] = (int)n;
	}
	ck_assert_uint_eq(cap, 5);
	ck_assert_int_eq(kk_grow(&v, &cap, n, sizeof(*v), 4, 5), -E2BIG);
	ck_assert_uint_eq(cap, 5);
	ck_assert_int_eq(v[4], 4);
	free(v);
}
END_TEST

START_TEST(start_time_of_self)
{
	unsigned long long st = 0, mine = 0;
	char buf[1024], *p;
	ssize_t n;
	int i, fd;

	ck_assert_int_eq(kk_proc_start_time(getpid(), &st), 0);
	/* procfs files have no size: read it here, not with kk_test_read */
	fd = open("/proc/self/stat", O_RDONLY);
	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	ck_assert_ptr_nonnull(p);
	/* field 22, counted independently with strtok */
	p = strtok(p + 2, " ");
	for (i = 3; i < 22 && p; i++)
		p = strtok(NULL, " ");
	ck_assert_ptr_nonnull(p);
	mine = strtoull(p, NULL, 10);
	ck_assert_uint_eq(st, mine);
	ck_assert_uint_gt(st, 0);
	ck_assert_int_eq(kk_proc_start_time(0x3fffff, &st), -ESRCH);
}
END_TEST

START_TEST(evidence_ids)
{
	ck_assert(kk_evidence_id_ok("IR-2026-0042"));
	ck_assert(kk_evidence_id_ok("0123456789abcdef0123456789abcdef"));
	ck_assert(kk_evidence_id_ok("a.b_c-d"));
	ck_assert(!kk_evidence_id_ok(""));
	ck_assert(!kk_evidence_id_ok("."));
	ck_assert(!kk_evidence_id_ok(".."));
	ck_assert(!kk_evidence_id_ok("a/b"));
	ck_assert(!kk_evidence_id_ok("IR 1"));
	ck_assert(!kk_evidence_id_ok("x\n"));
	ck_assert(!kk_evidence_id_ok(
	    "01234567890123456789012345678901234567890123456789012345678901234"));
}
END_TEST

/* Reads manifest.dsse and checks it against manifest.jsonl and the key. */
static void
check_manifest(const char *dir, EVP_PKEY *key, const char *agent,
    size_t want_entries)
{
	struct kk_envelope env;
	char path[PATH_MAX], h[65], *buf, *m;
	size_t len, mlen;
	json_t *o;

	kk_test_join(path, dir, "manifest.dsse");
	buf = kk_test_read(path, &len);
	ck_assert_int_eq(kk_envelope_parse((uint8_t *)buf, len - 1, &env), 0);
	ck_assert_str_eq(env.type, KK_PT_MANIFEST);
	ck_assert_int_eq(kk_dsse_verify_one(&env, 0, key), 0);
	o = json_loadb((char *)env.payload, env.payload_len, 0, NULL);
	ck_assert_ptr_nonnull(o);
	kk_test_join(path, dir, "manifest.jsonl");
	m = kk_test_read(path, &mlen);
	kk_sha256_hex(m, mlen, h);
	ck_assert_str_eq(json_string_value(json_object_get(o, "sha256")), h);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "size")),
	    (json_int_t)mlen);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "entries")),
	    (json_int_t)want_entries);
	ck_assert_str_eq(json_string_value(json_object_get(o, "agent")), agent);
	json_decref(o);
	kk_envelope_free(&env);
	free(buf);
	free(m);
}

START_TEST(manifest_append_and_sign)
{
	char dir[PATH_MAX], agent[65], err[256] = "", path[PATH_MAX], *m;
	char sha[65] = "", want[65];
	struct kk_manifest_ctx mc = {
		.command = "0123456789abcdef0123456789abcdef",
		.evidence = "IR-1", .boot_id = "boot-1",
		.agent_version = "test", .sha256 = sha };
	struct kk_artifacts l;
	struct kk_artifact a;
	struct kk_envelope env;
	EVP_PKEY *key = kk_key_generate(), *other = kk_key_generate();
	json_t *line;
	size_t len;
	int dfd = open_dir(dir);

	ck_assert_ptr_nonnull(key);
	kk_key_id(key, agent);
	mc.agent_id = agent;
	kk_artifacts_init(&l);
	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(kk_artifact_write(dfd, "one", "1", 1, "test", &a), 0);
	a.pid = 42;
	a.start_time = 777;
	kk_artifact_gap(&a, 0, 4096, "EIO");
	ck_assert_int_eq(kk_artifacts_add(&l, &a), 0);
	memset(&a, 0, sizeof(a));
	ck_assert_int_eq(kk_artifact_write(dfd, "two", "22", 2, "test", &a), 0);
	ck_assert_int_eq(kk_artifacts_add(&l, &a), 0);
	ck_assert_int_eq(kk_manifest_append(dfd, &mc, &l, key, agent, err,
	    sizeof(err)), 0);
	check_manifest(dir, key, agent, 2);
	/* a second command appends, and the signature covers both */
	ck_assert_int_eq(kk_manifest_append(dfd, &mc, &l, key, agent, err,
	    sizeof(err)), 0);
	check_manifest(dir, key, agent, 4);
	kk_test_join(path, dir, "manifest.jsonl");
	m = kk_test_read(path, &len);
	/* the hash handed back (the outbox's evidence message) is the file's */
	kk_sha256_hex(m, len, want);
	ck_assert_str_eq(sha, want);
	line = json_loadb(m, strcspn(m, "\n"), 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(line, "path")), "one");
	ck_assert_int_eq(json_integer_value(json_object_get(line, "pid")), 42);
	ck_assert_int_eq(json_integer_value(json_object_get(line, "start_time")),
	    777);
	ck_assert_str_eq(json_string_value(json_object_get(line, "boot_id")),
	    "boot-1");
	ck_assert_uint_eq(json_array_size(json_object_get(line, "gaps")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(line, "sha256")),
	    l.v[0].sha256);
	json_decref(line);
	/*
	 * What cannot be signed (no key: as an error of the key or of
	 * memory) is taken back out: the manifest is the bytes the last
	 * signature covers, and still verifies (before: 2 lines more that
	 * no signature covered, and every later append failed too)
	 */
	ck_assert_int_lt(kk_manifest_append(dfd, &mc, &l, NULL, agent, err,
	    sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "signing the manifest"));
	{
		size_t len2;
		char *m2 = kk_test_read(path, &len2);

		ck_assert_uint_eq(len2, len);
		ck_assert(memcmp(m2, m, len) == 0);
		free(m2);
	}
	check_manifest(dir, key, agent, 4);
	ck_assert_int_eq(kk_manifest_append(dfd, &mc, &l, key, agent, err,
	    sizeof(err)), 0);
	check_manifest(dir, key, agent, 6);
	free(m);
	/* another key does not verify it */
	kk_test_join(path, dir, "manifest.dsse");
	m = kk_test_read(path, &len);
	ck_assert_int_eq(kk_envelope_parse((uint8_t *)m, len - 1, &env), 0);
	ck_assert_int_eq(kk_dsse_verify_one(&env, 0, other), -EBADMSG);
	/* the evidence id is signed in: a set cannot pass for another */
	line = json_loadb((const char *)env.payload, env.payload_len, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(line, "evidence")),
	    "IR-1");
	json_decref(line);
	kk_envelope_free(&env);
	free(m);
	kk_artifacts_free(&l);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	close(dfd);
}
END_TEST

/*
 * A chunk request larger than a path and two numbers is refused before
 * jansson reads it (1 MiB of empty arrays would cost it tens of MiB),
 * and before the grant is looked at; a small one is read.
 */
START_TEST(chunk_request_is_capped)
{
	static const char head[] = "{\"chunk\":";
	struct kd d;
	size_t len = 1024 * 1024, outlen = 0, i;
	uint8_t *body, *out;

	memset(&d, 0, sizeof(d));
	body = malloc(len);
	ck_assert_ptr_nonnull(body);
	memcpy(body, head, sizeof(head) - 1);
	body[sizeof(head) - 1] = '[';
	for (i = sizeof(head); i + 3 <= len; i += 3)
		memcpy(body + i, "[],", 3);
	len = i;
	kk_test_json_count_start();
	out = kd_fetch_chunk(&d, 1, body, len, &outlen);
	/* what it allocated is the answer's, not the request's */
	ck_assert_uint_lt(kk_test_json_count_stop(), 4096);
	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(memmem(out, outlen, KE_TOO_LARGE,
	    strlen(KE_TOO_LARGE)));
	free(out);
	/* at the cap it is read: no evidence here, so unavailable */
	memset(body, ' ', KD_CHUNK_REQ_MAX);
	len = (size_t)snprintf((char *)body, 200, "{\"chunk\":{\"path\":"
	    "\"a\",\"offset\":0,\"length\":1}}");
	body[len] = ' ';
	out = kd_fetch_chunk(&d, 1, body, KD_CHUNK_REQ_MAX, &outlen);
	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(memmem(out, outlen, KE_UNAVAILABLE,
	    strlen(KE_UNAVAILABLE)));
	free(out);
	free(body);
}
END_TEST

/* With no memory for a chunk's answer: a fixed line, an io error. */
START_TEST(chunk_no_memory_line)
{
	const size_t n = strlen(kd_fetch_no_memory);
	const char *word, *msg;
	json_error_t jerr;
	json_t *o;

	ck_assert_uint_gt(n, 1);
	ck_assert_int_eq(kd_fetch_no_memory[n - 1], '\n');
	ck_assert_ptr_null(memchr(kd_fetch_no_memory, '\n', n - 1));
	o = json_loadb(kd_fetch_no_memory, n, JSON_REJECT_DUPLICATES, &jerr);
	ck_assert_msg(o != NULL, "%s", jerr.text);
	ck_assert_int_eq(kk_wire_answer(o, &word, &msg), 0);
	ck_assert_str_eq(word, KE_IO);
	json_decref(o);
}
END_TEST

/*
 * One grant a connection: a second fetch on it takes its own slot again,
 * even with an ended one before it in the table.  With two, a chunk
 * request was served from whichever came last in the table: the older
 * fetch's evidence, while the client believed it read the newer.
 */
START_TEST(grant_one_per_connection)
{
	static struct kd_preserve pv;
	struct grant *g;
	time_t now = 1000000;
	size_t i;

	memset(&pv, 0, sizeof(pv));
	g = kd_grant_slot(&pv, 7, now);
	ck_assert_ptr_eq(g, &pv.grants[0]);
	g->token = 7;
	g->until = now + 10;
	g = kd_grant_slot(&pv, 9, now);
	ck_assert_ptr_eq(g, &pv.grants[1]);
	g->token = 9;
	g->until = now + 100;
	/* connection 7's has ended; 9 fetches again: its own, not 7's */
	ck_assert_ptr_eq(kd_grant_slot(&pv, 9, now + 20), &pv.grants[1]);
	/* another connection: the ended one */
	ck_assert_ptr_eq(kd_grant_slot(&pv, 11, now + 20), &pv.grants[0]);
	/* every one taken and running: the one that ends first */
	for (i = 0; i < KD_MAX_GRANTS; i++) {
		pv.grants[i].token = 100 + i;
		pv.grants[i].until = now + 1000 + (time_t)i;
	}
	pv.grants[5].until = now + 500;
	ck_assert_ptr_eq(kd_grant_slot(&pv, 12, now), &pv.grants[5]);
}
END_TEST

/* kk_ovl_layers: the paths, joined by spaces, or the error's number. */
static const char *
layers_of(const char *sopts, char *out, size_t outlen)
{
	char buf[512];
	const char *l;
	size_t n, i;
	int r;

	out[0] = '\0';
	if ((r = kk_ovl_layers(sopts, buf, sizeof(buf), &n)) < 0) {
		snprintf(out, outlen, "%d", r);
		return out;
	}
	for (i = 0, l = buf; i < n; i++, l += strlen(l) + 1)
		snprintf(out + strlen(out), outlen - strlen(out), "%s[%.100s]",
		    i > 0 ? " " : "", l);
	return out;
}

START_TEST(ovl_options_parsed)
{
	static const struct {
		const char *sopts;
		const char *want;
	} c[] = {
		/* as Linux 6.18 shows them */
		{ "rw,lowerdir=/l,upperdir=/u,workdir=/w,uuid=on",
		    "[/l] [/u]" },
		{ "rw,lowerdir=/a:/b:/c,upperdir=/u,workdir=/w",
		    "[/a] [/b] [/c] [/u]" },
		/* a space, ':' and ',' in paths: \040, \134: and \134\054 */
		{ "rw,lowerdir=/t/l\\0401:/t/l\\134:3::/t/l\\134\\0542,"
		    "upperdir=/t/u,workdir=/t/w,uuid=on",
		    "[/t/l 1] [/t/l:3] [/t/l,2] [/t/u]" },
		/* data-only layers after "::" */
		{ "ro,lowerdir=/a::/d1::/d2", "[/a] [/d1] [/d2]" },
		/* no upperdir: a read-only overlay */
		{ "ro,lowerdir=/a:/b", "[/a] [/b]" },
		/* one option per layer (fsconfig) */
		{ "rw,lowerdir+=/a,lowerdir+=/b,datadir+=/d,upperdir=/u,"
		    "workdir=/w", "[/a] [/b] [/d] [/u]" },
		/* a backslash in a path, and in another option's value */
		{ "rw,xino=a\\134\\054b,lowerdir=/x\\134\\134y", "[/x\\y]" },
		/* no lower layer, nothing, garbage */
		{ "rw,upperdir=/u,workdir=/w", "-61" },
		{ "", "-61" },
		{ "rw,lowerdir=", "-22" },
		{ "rw,lowerdir=/a:", "-22" },
		{ "rw,lowerdir=:/a", "-22" },
		{ "rw,lowerdir=/a:::/b", "-22" },
		{ "rw,lowerdir=relative/path", "-22" },
		{ "rw,lowerdir=/a,upperdir=,workdir=/w", "-22" },
		{ "rw,lowerdir=/a\\134", "-22" },
		{ "rw,lowerdir=/a\\9", "-22" },
		{ "rw,lowerdir=/a\\04", "-22" },
	};
	char out[512], buf[8];
	size_t i, n;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		ck_assert_msg(strcmp(layers_of(c[i].sopts, out, sizeof(out)),
		    c[i].want) == 0, "%s: %s, not %s", c[i].sopts, out,
		    c[i].want);
	/* a buffer too small is said, not overrun */
	ck_assert_int_eq(kk_ovl_layers("lowerdir=/abcdefgh", buf,
	    sizeof(buf), &n), -ENAMETOOLONG);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(kk_ovl_layers("lowerdir=/abcde", buf, sizeof(buf),
	    &n), 0);
	ck_assert_str_eq(buf, "/abcde");
}
END_TEST

START_TEST(path_mount_longest_prefix)
{
	static const char table[] =
	    "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
	    "40 27 0:40 / /tmp rw - tmpfs tmpfs rw\n"
	    "41 40 0:41 / /tmp/fuse rw,nosuid - fuse.kakuritest k rw,"
	    "user_id=0\n"
	    "42 40 0:42 / /tmp/ovl rw - overlay x rw,lowerdir=/tmp/fuse\n"
	    "43 40 0:43 / /tmp/a\\040b rw - nfs4 srv:/x rw\n"
	    "50 40 0:50 / /tmp/nf rw - nfs srv:/y rw\n"
	    "44 27 0:44 / /srv rw - tmpfs tmpfs rw\n"
	    "45 27 0:45 / /srv rw - fuse.sshfs s rw\n"
	    "46 27 0:46 / /srv rw - tmpfs tmpfs rw\n"
	    "47 27 0:47 / /home rw - fuse f rw\n"
	    "48 47 0:48 / /home rw - xfs /dev/x rw\n"
	    /* a type past the 63 characters kept of one: /long/x below */
	    "51 27 0:51 / /long rw - fuse.a-subtype-of-seventy-characters-"
	    "or-so-named-by-its-user-xxxxxxxxx s rw\n"
	    "52 27 0:5 / /dev rw - devtmpfs udev rw\n"
	    "53 40 0:53 / /tmp/fuse/d rw - tmpfs t rw\n"
	    "garbage line\n"
	    "49 27 0:49 / /mnt rw - ext4";
	static const struct {
		const char *path;
		const char *want;
	} c[] = {
		{ "/tmp/fuse/layer", "fuse.kakuritest" },
		{ "/tmp/fuse", "fuse.kakuritest" },	/* the mount point */
		{ "/tmp/fuse/", "fuse.kakuritest" },
		{ "/tmp/fu", "tmpfs" },	/* not a component prefix */
		{ "/tmp/fusex/l", "tmpfs" },
		{ "/tmp/fu/se", "tmpfs" },
		{ "/tmp/nfs/layer", "tmpfs" },	/* /tmp/nf is no prefix */
		{ "/tmp/nf/layer", "nfs" },
		{ "/var/lib/x", "ext4" },	/* under / */
		{ "/", "ext4" },
		{ "/tmp/ovl/l", "overlay" },
		{ "/tmp/a b/c", "nfs4" },	/* an escaped mount point */
		{ "/tmp/a\\040b/c", "tmpfs" },
		/* stacked: the one that is not local, wherever it is */
		{ "/srv/l", "fuse.sshfs" },
		{ "/home/u", "fuse" },
		{ "/mnt/x", "ext4" },	/* a line without its end */
		/* a type too long to name: none that is read */
		{ "/long/x", "(a type too long)" },
	};
	char fstype[64];
	unsigned maj, mnr;
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		ck_assert_msg(kk_path_mount(table, c[i].path, fstype,
		    sizeof(fstype)) == 0, "%s: not found", c[i].path);
		ck_assert_msg(strcmp(fstype, c[i].want) == 0, "%s: %s, not %s",
		    c[i].path, fstype, c[i].want);
	}
	/* a table without "/" holds no relative or outside path */
	ck_assert_int_eq(kk_path_mount("40 1 0:40 / /tmp rw - tmpfs t rw\n",
	    "/etc/x", fstype, sizeof(fstype)), -ENOENT);
	ck_assert_int_eq(kk_path_mount(table, "relative", fstype,
	    sizeof(fstype)), -ENOENT);
	ck_assert_int_eq(kk_path_mount("", "/x", fstype, sizeof(fstype)),
	    -ENOENT);
	ck_assert(!kk_fstype_local("fuse.kakuritest"));
	ck_assert(kk_fstype_local("overlay"));
	/*
	 * Any mount at or above a path that is not read: a local one
	 * mounted over part of a FUSE one hides it, not what lies below.
	 */
	{
		static const char *const nodes[] = { "devtmpfs" };

		ck_assert_int_eq(kk_path_mounts_unread(table, "/var/lib/x",
		    NULL, 0, fstype, sizeof(fstype)), 0);
		ck_assert_int_eq(kk_path_mounts_unread(table,
		    "/tmp/fuse/d/img", NULL, 0, fstype, sizeof(fstype)), 1);
		ck_assert_str_eq(fstype, "fuse.kakuritest");
		ck_assert_int_eq(kk_path_mounts_unread(table, "/tmp/ovl/l",
		    NULL, 0, fstype, sizeof(fstype)), 1);
		ck_assert_str_eq(fstype, "overlay");
		ck_assert_int_eq(kk_path_mounts_unread(table, "/dev/sdb",
		    NULL, 0, fstype, sizeof(fstype)), 1);
		ck_assert_int_eq(kk_path_mounts_unread(table, "/dev/sdb",
		    nodes, 1, fstype, sizeof(fstype)), 0);
		ck_assert_int_eq(kk_path_mounts_unread(table, "/long/x", NULL,
		    0, fstype, sizeof(fstype)), 1);
	}
	/* and the device of the mount found */
	ck_assert_int_eq(kk_path_mount_dev(table, "/var/lib/x", fstype,
	    sizeof(fstype), &maj, &mnr), 0);
	ck_assert(maj == 254 && mnr == 0);
	ck_assert_int_eq(kk_path_mount_dev(table, "/tmp/fuse/l", fstype,
	    sizeof(fstype), &maj, &mnr), 0);
	ck_assert(maj == 0 && mnr == 41);
}
END_TEST

/*
 * A free loop device bound to ffd, read-only, with autoclear (it goes
 * when its last user does, whatever the test's end): its fd, name in dev;
 * -1 and errno.  Another may take the free one first: asked again.
 */
static int
loop_attach(int ffd, char dev[64])
{
	struct loop_config lc;
	int ctl, lfd = -1, nr, tries, e = EBUSY;

	if ((ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC)) < 0)
		return -1;
	memset(&lc, 0, sizeof(lc));
	lc.fd = (unsigned)ffd;
	lc.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
	for (tries = 0; tries < 20 && e == EBUSY; tries++) {
		if ((nr = ioctl(ctl, LOOP_CTL_GET_FREE)) < 0) {
			e = errno;
			break;
		}
		snprintf(dev, 64, "/dev/loop%d", nr);
		if ((lfd = open(dev, O_RDONLY | O_CLOEXEC)) < 0) {
			e = errno;
			break;
		}
		if (ioctl(lfd, LOOP_CONFIGURE, &lc) == 0) {
			close(ctl);
			return lfd;
		}
		e = errno;
		close(lfd);
		lfd = -1;
	}
	close(ctl);
	errno = e;
	return -1;
}

/*
 * A file system's device followed down through sysfs: a loop device to
 * its backing file's device, asked of the loop device (a real one, over
 * a file here; and over a file whose mount was detached, which its path
 * would have placed on a local one), a device sysfs does not know is not
 * read, nor an erofs.
 */
START_TEST(blockdev_followed)
{
	char why[256], dir[PATH_MAX], img[PATH_MAX], dev[64], fstype[64];
	char *table = NULL;
	struct stat st, ist;
	int lfd, ffd, status;
	bool want;
	pid_t p;

	/* no block device (tmpfs, FUSE): its type says; not an erofs */
	ck_assert(kk_blockdev_local(0, "tmpfs", 0, 41, why, sizeof(why)));
	ck_assert(!kk_blockdev_local(0, "erofs", 0, 41, why, sizeof(why)));
	ck_assert_msg(strstr(why, "erofs") != NULL, "%s", why);
	/* a device sysfs does not know: not read, and said, twice */
	ck_assert(!kk_blockdev_local(0, "ext4", 4095, 1048575, why,
	    sizeof(why)));
	ck_assert_msg(strstr(why, "4095:1048575, which is not known") !=
	    NULL, "%s", why);
	ck_assert(!kk_blockdev_local(0, "ext4", 4095, 1048575, why,
	    sizeof(why)));
	ck_assert_msg(strstr(why, "4095:1048575, which is not known") !=
	    NULL, "%s", why);

	kk_test_workdir(dir);
	kk_test_join(img, dir, "img");
	ck_assert_int_ge(ffd = open(img, O_RDWR | O_CREAT | O_CLOEXEC, 0600),
	    0);
	ck_assert_int_eq(ftruncate(ffd, 1 << 20), 0);
	ck_assert_int_eq(fstat(ffd, &ist), 0);
	ck_assert_msg((lfd = loop_attach(ffd, dev)) >= 0, "a loop device: %s "
	    "(loop devices and LOOP_CONFIGURE, Linux 5.8, are needed)",
	    strerror(errno));
	ck_assert_int_eq(fstat(lfd, &st), 0);
	/*
	 * Local as its backing file's own device is (this test's directory
	 * is on the machine's disk, or on what CI runs it on).
	 */
	ck_assert_int_eq(kk_mountinfo_read(0, &table), 0);
	ck_assert_int_eq(kk_path_mount(table, img, fstype, sizeof(fstype)),
	    0);
	want = kk_fstype_local(fstype) && strcmp(fstype, "overlay") != 0 &&
	    kk_blockdev_local(0, fstype, major(ist.st_dev), minor(ist.st_dev),
	    why, sizeof(why));
	ck_assert_msg(kk_blockdev_local(getpid(), "ext4", major(st.st_rdev),
	    minor(st.st_rdev), why, sizeof(why)) == want, "%s on %s: %s",
	    dev, fstype, why);
	if (!want)
		ck_assert_msg(strstr(why, dev + 5) != NULL, "%s", why);
	free(table);
	close(lfd);
	close(ffd);

	/*
	 * Over a file of a tmpfs mounted in a namespace of a child's own: the
	 * child's table shows it (local); then detached, the path the loop
	 * device shows ("/img") is under a local mount everywhere, its device
	 * is in no mount table (not local).
	 */
	kk_test_join(img, dir, "t");
	ck_assert_int_eq(mkdir(img, 0700), 0);
	if ((p = fork()) == 0) {
		char w[256];
		bool root_local;
		int f, l;

		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount("kk-test", img, "tmpfs", 0, "size=2m") < 0)
			_exit(10);
		strcat(img, "/img");
		if ((f = open(img, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0 ||
		    ftruncate(f, 1 << 20) < 0)
			_exit(11);
		img[strlen(img) - 4] = '\0';
		if ((l = loop_attach(f, dev)) < 0 || fstat(l, &st) < 0)
			_exit(12);
		if (!kk_blockdev_local(getpid(), "ext4", major(st.st_rdev),
		    minor(st.st_rdev), w, sizeof(w)))
			_exit(13);
		if (umount2(img, MNT_DETACH) < 0)
			_exit(14);
		root_local = kk_mountinfo_read(0, &table) == 0 &&
		    kk_path_mounts_unread(table, "/img", NULL, 0, fstype,
		    sizeof(fstype)) == 0;
		if (kk_blockdev_local(getpid(), "ext4", major(st.st_rdev),
		    minor(st.st_rdev), w, sizeof(w)))
			_exit(15);
		/*
		 * "/img" is under "/" in every table: asked, its device is
		 * in none; where "/" is itself no local mount (CI in a
		 * container), the path says so first
		 */
		_exit(strstr(w, root_local ? "in no mount table" :
		    "path is under a") != NULL ? 0 : 16);
	}
	ck_assert_int_gt(p, 0);
	ck_assert_int_eq(waitpid(p, &status, 0), p);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "a loop over a tmpfs file: %#x (10-12: set up, 13: attached, not "
	    "local; 14: detach; 15: detached, local; 16: not said why)",
	    status);
}
END_TEST

/* ---- kk_evidence_walk: what a (compromised) worker may have left ---- */

#define WALK_SEEN	64

/* What a walk met: each entry's path (or "!" + name), kind and fd. */
struct walk_seen {
	size_t n;
	char path[WALK_SEEN][PATH_MAX];
	mode_t type[WALK_SEEN];		/* 0: no lstat */
	int err[WALK_SEEN];
	bool fd[WALK_SEEN];		/* met with a directory open */
};

static int
walk_note(const struct kk_walk_ent *e, void *arg)
{
	struct walk_seen *w = arg;
	struct stat st;

	ck_assert_uint_lt(w->n, WALK_SEEN);
	snprintf(w->path[w->n], PATH_MAX, "%s%s", e->path ? "" : "!",
	    e->path ? e->path : e->name);
	w->type[w->n] = e->st != NULL ? (e->st->st_mode & S_IFMT) : 0;
	w->err[w->n] = e->err;
	w->fd[w->n] = e->fd >= 0;
	/* the fd given is the directory met, not what a link names */
	if (e->fd >= 0) {
		ck_assert_int_eq(fstat(e->fd, &st), 0);
		ck_assert_int_eq(st.st_ino, e->st->st_ino);
	}
	w->n++;
	return 0;
}

/* index of path among those met, or -1 */
static int
walk_found(const struct walk_seen *w, const char *path)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (strcmp(w->path[i], path) == 0)
			return (int)i;
	return -1;
}

static void
mkdir_in(const char *dir, const char *rel)
{
	char path[PATH_MAX];

	kk_test_join(path, dir, rel);
	ck_assert_msg(mkdir(path, 0700) == 0, "%s: %s", path, strerror(errno));
}

static void
file_in(const char *dir, const char *rel)
{
	char path[PATH_MAX];

	kk_test_join(path, dir, rel);
	kk_test_write(path, "evidence", 8, 0600);
}

/*
 * Links are met as links, never followed, to a directory or a file
 * outside; a fifo is met without being opened (the walk would block on
 * it); names with pass_over are left alone, and what is below them.
 */
START_TEST(walk_links_and_fifos)
{
	char dir[PATH_MAX], top[PATH_MAX], out[PATH_MAX], path[PATH_MAX];
	struct walk_seen *w = calloc(1, sizeof(*w));
	struct kk_walk walk = {
		.max_depth = 6, .entries = 100, .path_max = PATH_MAX,
		.pass_over = ".tmp", .visit = walk_note, .arg = w,
	};
	json_t *files;
	int dfd, i;

	ck_assert_ptr_nonnull(w);
	kk_test_workdir(dir);
	kk_test_join(top, dir, "top");
	kk_test_join(out, dir, "outside");
	mkdir_in(dir, "top");
	mkdir_in(dir, "outside");
	file_in(out, "secret");
	file_in(top, "a");
	mkdir_in(top, "sub");
	file_in(top, "sub/b");
	kk_test_join(path, top, "dlink");
	ck_assert_int_eq(symlink(out, path), 0);
	kk_test_join(path, top, "sub/flink");
	ck_assert_int_eq(symlink("../../outside/secret", path), 0);
	kk_test_join(path, top, "fifo");
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	file_in(top, "x.tmp");
	mkdir_in(top, "d.tmp");
	file_in(top, "d.tmp/c");
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);

	ck_assert_int_eq(kk_evidence_walk(dfd, "top", &walk), 0);
	ck_assert_uint_eq(w->n, 6);
	ck_assert_int_eq(w->type[walk_found(w, "top/a")], S_IFREG);
	ck_assert_int_eq(w->type[walk_found(w, "top/sub/b")], S_IFREG);
	ck_assert_int_eq(w->type[walk_found(w, "top/dlink")], S_IFLNK);
	ck_assert_int_eq(w->type[walk_found(w, "top/sub/flink")], S_IFLNK);
	ck_assert_int_eq(w->type[walk_found(w, "top/fifo")], S_IFIFO);
	i = walk_found(w, "top/sub");
	ck_assert_int_eq(w->type[i], S_IFDIR);
	ck_assert(w->fd[i] && w->err[i] == 0);
	/* a directory after what is in it */
	ck_assert_int_gt(i, walk_found(w, "top/sub/b"));
	ck_assert_int_eq(walk_found(w, "top/dlink/secret"), -1);
	ck_assert(!w->fd[walk_found(w, "top/dlink")]);
	ck_assert(!w->fd[walk_found(w, "top/fifo")]);

	/* the top itself a link: refused, not followed */
	kk_test_join(path, dir, "toplink");
	ck_assert_int_eq(symlink("top", path), 0);
	w->n = 0;
	ck_assert_int_lt(kk_evidence_walk(dfd, "toplink", &walk), 0);
	ck_assert_uint_eq(w->n, 0);

	/* the listing: the two regular files, nothing else */
	files = json_array();
	ck_assert_int_eq(kk_evidence_list(dfd, "top", 10, files), 0);
	ck_assert_uint_eq(json_array_size(files), 2);
	for (i = 0; i < 2; i++) {
		const char *p = json_string_value(json_object_get(
		    json_array_get(files, i), "path"));

		ck_assert_msg(strcmp(p, "top/a") == 0 ||
		    strcmp(p, "top/sub/b") == 0, "%s listed", p);
		ck_assert_int_eq(json_integer_value(json_object_get(
		    json_array_get(files, i), "size")), 8);
	}
	json_decref(files);
	close(dfd);
	free(w);
}
END_TEST

/*
 * Depth: a directory max_depth deep is met (open, -ELOOP) but not read.
 * Entries: one more than allowed ends the walk with -E2BIG, and the
 * directories it was in are still met, open.  A path longer than
 * path_max is met by name only, nothing below it.
 */
START_TEST(walk_limits)
{
	char dir[PATH_MAX], rel[PATH_MAX], name[32], longname[201];
	struct walk_seen *w = calloc(1, sizeof(*w));
	struct kk_walk walk = {
		.max_depth = 3, .entries = 100, .path_max = PATH_MAX,
		.visit = walk_note, .arg = w,
	};
	json_t *files;
	int dfd, i;

	ck_assert_ptr_nonnull(w);
	dfd = open_dir(dir);
	/* d0/f, d0/d1/f, ... d0/.../d9/f */
	rel[0] = '\0';
	for (i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "%sd%d", i ? "/" : "", i);
		strcat(rel, name);
		mkdir_in(dir, rel);
		snprintf(name, sizeof(name), "%s/f", rel);
		file_in(dir, name);
	}
	ck_assert_int_eq(kk_evidence_walk(dfd, "", &walk), 0);
	/* d0, d0/f, d0/d1, d0/d1/f, d0/d1/d2, d0/d1/d2/f, and d3 */
	ck_assert_uint_eq(w->n, 7);
	i = walk_found(w, "d0/d1/d2/d3");
	ck_assert_int_ge(i, 0);
	ck_assert(w->fd[i] && w->err[i] == -ELOOP);
	ck_assert_int_eq(walk_found(w, "d0/d1/d2/d3/f"), -1);
	/* the listing: 6 deep, not a file below */
	files = json_array();
	ck_assert_int_eq(kk_evidence_list(dfd, "", 100, files), 0);
	ck_assert_uint_eq(json_array_size(files), 6);
	json_decref(files);

	/* 20 files in p/s */
	mkdir_in(dir, "p");
	mkdir_in(dir, "p/s");
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "p/s/f%d", i);
		file_in(dir, name);
	}
	w->n = 0;
	walk.entries = 21;
	ck_assert_int_eq(kk_evidence_walk(dfd, "p/s", &walk), 0);
	ck_assert_uint_eq(w->n, 20);
	w->n = 0;
	walk.entries = 20;
	ck_assert_int_eq(kk_evidence_walk(dfd, "p/s", &walk), 0);
	ck_assert_uint_eq(w->n, 20);
	w->n = 0;
	walk.entries = 19;
	ck_assert_int_eq(kk_evidence_walk(dfd, "p/s", &walk), -E2BIG);
	ck_assert_uint_eq(w->n, 19);
	/* stopped inside s (s and 4 files): s is met after them, open */
	w->n = 0;
	walk.entries = 5;
	ck_assert_int_eq(kk_evidence_walk(dfd, "p", &walk), -E2BIG);
	ck_assert_uint_eq(w->n, 5);
	ck_assert_str_eq(w->path[4], "p/s");
	ck_assert(w->fd[4] && w->err[4] == 0);
	/* the listing stops too: -E2BIG once out holds max files */
	files = json_array();
	ck_assert_int_eq(kk_evidence_list(dfd, "p/s", 5, files), -E2BIG);
	ck_assert_uint_eq(json_array_size(files), 5);
	json_decref(files);

	/* a path too long: met by name only, nothing below it */
	memset(longname, 'n', 200);
	longname[200] = '\0';
	mkdir_in(dir, longname);
	snprintf(rel, sizeof(rel), "%s/f", longname);
	file_in(dir, rel);
	w->n = 0;
	walk.entries = 100;
	walk.path_max = 64;
	ck_assert_int_eq(kk_evidence_walk(dfd, "", &walk), 0);
	snprintf(rel, sizeof(rel), "!%s", longname);
	i = walk_found(w, rel);
	ck_assert_int_ge(i, 0);
	ck_assert_int_eq(w->err[i], -ENAMETOOLONG);
	ck_assert_int_eq(w->type[i], 0);
	ck_assert_int_eq(walk_found(w, "!f"), -1);
	close(dfd);
	free(w);
}
END_TEST

KK_SUITE(evidence_suite, "evidence",
	KK_CASE("store", KK_TMPDIR, 60),
	    KK_TEST(sink_hash_matches_file),
	    KK_TEST(sink_refuses_escaping_paths),
	    KK_TEST(sink_holes_and_pipeline),
	    KK_TEST(sink_space_commit_is_a_write),
	    KK_TEST(sink_error_marks_incomplete),
	    KK_TEST(incomplete_reasons_kept),
	    KK_TEST(copy_path_caps_and_says_so),
	    KK_TEST(artifact_list_and_gaps), KK_TEST(grow_stops_at_max),
	    KK_TEST(start_time_of_self), KK_TEST(evidence_ids),
	    KK_TEST(manifest_append_and_sign),
	    KK_TEST(chunk_request_is_capped), KK_TEST(chunk_no_memory_line),
	    KK_TEST(grant_one_per_connection),
	KK_CASE("walk", KK_TMPDIR, 60),
	    KK_TEST(walk_links_and_fifos), KK_TEST(walk_limits),
	KK_CASE("exefile", KK_TMPDIR, 0),
	    KK_TEST(ovl_options_parsed), KK_TEST(path_mount_longest_prefix),
	    KK_TEST(blockdev_followed))
