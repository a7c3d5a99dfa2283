/*
 * Volatile evidence collection (agentd/collect.c) on the machine the
 * tests run on: the artifacts come in the documented RFC 3227 order,
 * each hashes to what the manifest entry says, and their content is
 * checked against what the test itself knows independently (its own
 * pid, parent, uid, executable and its SHA-256, the sockets it opened,
 * the loopback routes, "/" mounted, the running kernel).  Then the
 * bounds: a tiny size budget, a 1 ms deadline, a second collection into
 * the same directory.  The nftables dump is checked in a private network
 * namespace, on a ruleset the test loads there.
 *
 * Reading the machine is all kk_collect does; the test opens sockets on
 * loopback only and changes nftables only inside its own namespace.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "collect/collect.h"
#include "evidence.h"
#include "suites.h"
#include "testutil.h"
#include "../progutil.h"

static const char *const names[] = {
	"collect/01-routes.json",
	"collect/02-sockets.json",
	"collect/03-processes.json",
	"collect/04-users.json",
	"collect/05-kernel.json",
	"collect/06-mounts.json",
	"collect/07-nftables.json",
	"collect/08-journal.json",
	"collect/09-os-release.json",
	"collect/10-packages.json",
};
#define NNAMES	(sizeof(names) / sizeof(names[0]))

static int
open_dir(char out[PATH_MAX])
{
	int fd;

	kk_test_workdir(out);
	fd = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	return fd;
}

static json_t *
load_doc(const char *dir, const char *rel)
{
	char path[PATH_MAX];
	json_error_t je;
	json_t *d;

	kk_test_join(path, dir, rel);
	d = json_load_file(path, 0, &je);
	ck_assert_msg(d != NULL, "%s: %s", rel, je.text);
	return d;
}

static json_t *
items_of(json_t *doc)
{
	json_t *items = json_object_get(doc, "items");

	ck_assert(json_is_array(items));
	return items;
}

/* first item whose members match: key, value pairs (strings or ints) */
static json_t *
find_item(json_t *items, const char *k1, json_t *v1, const char *k2,
    json_t *v2, const char *k3, json_t *v3)
{
	json_t *it, *found = NULL;
	size_t i;

	json_array_foreach(items, i, it) {
		if (!json_equal(json_object_get(it, k1), v1))
			continue;
		if (k2 != NULL && !json_equal(json_object_get(it, k2), v2))
			continue;
		if (k3 != NULL && !json_equal(json_object_get(it, k3), v3))
			continue;
		found = it;
		break;
	}
	json_decref(v1);
	json_decref(v2);
	json_decref(v3);
	return found;
}

static const char *
str_of(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	ck_assert_msg(s != NULL, "no string \"%s\"", key);
	return s;
}

/*
 * What every collection must satisfy: the ten artifacts in order (after
 * the `first` already in the list), each file hashing to its entry, each
 * a document {"collected","source","items","truncated"} whose error and
 * truncation agree with the incomplete flag.  Returns the ten's total
 * size.
 */
static uint64_t
check_artifacts(const char *dir, const struct kk_artifacts *arts,
    size_t first)
{
	char path[PATH_MAX];
	uint64_t total = 0;
	size_t i;
	json_t *doc;

	ck_assert_uint_eq(arts->n, first + NNAMES);
	for (i = 0; i < NNAMES; i++) {
		const struct kk_artifact *a = &arts->v[first + i];
		const char *when;
		bool truncated;

		ck_assert_str_eq(a->path, names[i]);
		kk_test_join(path, dir, a->path);
		ck_assert_msg(kk_test_file_matches(path, a->size, a->sha256),
		    "%s: not %ju bytes of SHA-256 %s", a->path,
		    (uintmax_t)a->size, a->sha256);
		ck_assert_str_ne(a->method, "");
		ck_assert_int_eq(a->pid, 0);
		total += a->size;

		doc = load_doc(dir, a->path);
		when = str_of(doc, "collected");
		/* 2026-01-02T03:04:05.123456Z */
		ck_assert_uint_eq(strlen(when), 27);
		ck_assert_int_eq(when[10], 'T');
		ck_assert_int_eq(when[26], 'Z');
		ck_assert_str_eq(str_of(doc, "source"), a->method);
		items_of(doc);
		ck_assert(json_is_boolean(json_object_get(doc, "truncated")));
		truncated = json_is_true(json_object_get(doc, "truncated"));
		/* cut short, or a source failed: incomplete, and it says why */
		ck_assert_msg(a->incomplete ==
		    (json_object_get(doc, "error") != NULL),
		    "%s: incomplete %d, error %s", a->path, a->incomplete,
		    a->error);
		if (truncated)
			ck_assert(a->incomplete);
		if (a->incomplete) {
			ck_assert_str_ne(a->error, "");
			ck_assert(strncmp(str_of(doc, "error"), a->error,
			    strlen(a->error)) == 0);
		}
		json_decref(doc);
	}
	return total;
}

static int
collect(int dfd, const struct kk_collect_limits *lim,
    struct kk_artifacts *arts, char *err, size_t errlen)
{
	memset(err, 'x', errlen - 1);
	err[errlen - 1] = '\0';
	return kk_collect(dfd, lim, arts, err, errlen);
}

/* A collection of a test's own: its directory, its list, its error. */
struct run {
	char dir[PATH_MAX];
	char err[256];
	struct kk_artifacts arts;
	int dfd;
};

/* A fresh directory and an empty list. */
static void
run_start(struct run *r)
{
	r->dfd = open_dir(r->dir);
	kk_artifacts_init(&r->arts);
}

static void
run_end(struct run *r)
{
	kk_artifacts_free(&r->arts);
	close(r->dfd);
}

/* A collection into r that succeeds and passes check_artifacts; its size. */
static uint64_t
run_collect(struct run *r, const struct kk_collect_limits *lim)
{
	ck_assert_int_eq(collect(r->dfd, lim, &r->arts, r->err,
	    sizeof(r->err)), 0);
	return check_artifacts(r->dir, &r->arts, 0);
}

/* ---- order, names, hashes ------------------------------------------- */

START_TEST(artifacts_in_order_and_hashed)
{
	struct run r;
	struct kk_artifact mine;

	run_start(&r);
	/* appended after what the list already holds */
	memset(&mine, 0, sizeof(mine));
	snprintf(mine.path, sizeof(mine.path), "earlier.bin");
	ck_assert_int_eq(kk_artifacts_add(&r.arts, &mine), 0);

	/* NULL limits: the defaults (30 s, 64 MiB, 1000 entries) */
	ck_assert_int_eq(collect(r.dfd, NULL, &r.arts, r.err, sizeof(r.err)),
	    0);
	ck_assert_str_eq(r.arts.v[0].path, "earlier.bin");
	ck_assert_uint_gt(check_artifacts(r.dir, &r.arts, 1), 0);
	/* nothing left beside them: collect/ holds exactly the ten */
	{
		char sub[PATH_MAX];

		kk_test_join(sub, r.dir, "collect");
		ck_assert_uint_eq(kk_test_count_entries(sub, NULL, NULL),
		    NNAMES);
		ck_assert_uint_eq(kk_test_count_entries(r.dir, NULL, NULL), 1);
	}
	run_end(&r);
}
END_TEST

/*
 * The worker drops CAP_NET_ADMIN once the ruleset is read: the hook runs
 * after 07 is written and before 08 (the journal, text local users
 * write) is begun; one that fails stops the collection there.
 */
static int hook_dfd = -1, hook_calls, hook_ret;
static bool hook_saw7, hook_saw8;

static int
after_nftables(void)
{
	hook_calls++;
	hook_saw7 = faccessat(hook_dfd, "collect/07-nftables.json", F_OK,
	    0) == 0;
	hook_saw8 = faccessat(hook_dfd, "collect/08-journal.json", F_OK,
	    0) == 0;
	return hook_ret;
}

START_TEST(hook_between_nftables_and_journal)
{
	struct kk_collect_limits lim = { .timeout_ms = 60000,
		.after_nftables = after_nftables };
	struct run r;

	run_start(&r);
	hook_dfd = r.dfd;
	hook_calls = 0;
	hook_ret = 0;
	ck_assert_int_eq(collect(r.dfd, &lim, &r.arts, r.err, sizeof(r.err)),
	    0);
	ck_assert_int_eq(hook_calls, 1);
	ck_assert(hook_saw7);
	ck_assert(!hook_saw8);
	ck_assert_uint_eq(r.arts.n, NNAMES);
	run_end(&r);

	/* it fails: nothing after 07, and the collection says why */
	run_start(&r);
	hook_dfd = r.dfd;
	hook_calls = 0;
	hook_ret = -EPERM;
	ck_assert_int_eq(collect(r.dfd, &lim, &r.arts, r.err, sizeof(r.err)),
	    -EPERM);
	ck_assert_int_eq(hook_calls, 1);
	ck_assert_uint_eq(r.arts.n, 7);
	ck_assert_int_ne(faccessat(r.dfd, "collect/08-journal.json", F_OK, 0),
	    0);
	ck_assert_msg(strstr(r.err, "stopped after collect/07-nftables.json") !=
	    NULL, "%s", r.err);
	run_end(&r);
}
END_TEST

/*
 * kakurid's collect job in two workers: the first takes every source
 * but the ruleset (it has no CAP_NET_ADMIN), the second the ruleset
 * alone, within what the first left of the bytes; together, the same
 * files as one collection.  The hook runs only where the ruleset was
 * read.
 */
START_TEST(two_parts_make_one_collection)
{
	struct kk_collect_limits lim = { .timeout_ms = 60000,
	    .max_bytes = 8 << 20, .after_nftables = after_nftables,
	    .nft_ruleset_text = "table inet t {\n}\n" };
	struct run r;
	uint64_t used;
	size_t i;

	run_start(&r);
	hook_dfd = r.dfd;
	hook_calls = 0;
	hook_ret = 0;
	lim.part = KK_COLLECT_NO_NFT;
	ck_assert_int_eq(collect(r.dfd, &lim, &r.arts, r.err, sizeof(r.err)),
	    0);
	ck_assert_uint_eq(r.arts.n, NNAMES - 1);
	ck_assert_int_eq(hook_calls, 0);
	for (i = 0; i < r.arts.n; i++)
		ck_assert_ptr_null(strstr(r.arts.v[i].path, "07-nftables"));
	ck_assert_int_ne(faccessat(r.dfd, "collect/07-nftables.json", F_OK, 0),
	    0);
	ck_assert_int_eq(faccessat(r.dfd, "collect/10-packages.json", F_OK, 0),
	    0);
	lim.part = KK_COLLECT_NFT_ONLY;
	ck_assert_int_eq(collect(r.dfd, &lim, &r.arts, r.err, sizeof(r.err)),
	    0);
	ck_assert_uint_eq(r.arts.n, NNAMES);
	ck_assert_str_eq(r.arts.v[NNAMES - 1].path,
	    "collect/07-nftables.json");
	ck_assert(!r.arts.v[NNAMES - 1].incomplete);
	ck_assert_int_eq(hook_calls, 1);
	run_end(&r);

	/*
	 * a budget too small for all: the first leaves the ruleset the
	 * floor every source is kept (a twentieth of it)
	 */
	run_start(&r);
	lim.max_bytes = 64 << 10;
	lim.part = KK_COLLECT_NO_NFT;
	lim.after_nftables = NULL;
	ck_assert_int_eq(collect(r.dfd, &lim, &r.arts, r.err, sizeof(r.err)),
	    0);
	for (i = 0, used = 0; i < r.arts.n; i++)
		used += r.arts.v[i].size;
	ck_assert_msg(used <= lim.max_bytes - lim.max_bytes / 20,
	    "the first part took %ju of %ju bytes", (uintmax_t)used,
	    (uintmax_t)lim.max_bytes);
	run_end(&r);
	lim.part = KK_COLLECT_NFT_ONLY;

	/* the second alone, past its share of one byte: cut, and says so */
	run_start(&r);
	lim.max_bytes = 1;
	lim.after_nftables = NULL;
	ck_assert_int_eq(collect(r.dfd, &lim, &r.arts, r.err, sizeof(r.err)),
	    0);
	ck_assert_uint_eq(r.arts.n, 1);
	ck_assert(r.arts.v[0].incomplete);
	run_end(&r);
}
END_TEST

/* ---- the process table ---------------------------------------------- */

/* CapEff of /proc/self/status, "" when 0 */
static const char *
cap_eff_of_self(void)
{
	static char out[17];
	char line[256];
	FILE *f;

	out[0] = '\0';
	f = fopen("/proc/self/status", "re");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "CapEff:\t", 8) == 0 &&
		    strtoull(line + 8, NULL, 16) != 0)
			snprintf(out, sizeof(out), "%.16s", line + 8);
	fclose(f);
	return out;
}

START_TEST(process_table_has_self)
{
	struct kk_collect_limits lim = { .timeout_ms = 60000 };
	struct run r;
	unsigned long long start;
	char exe[PATH_MAX];
	json_t *doc, *me, *parent;
	struct stat st;
	ssize_t n;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ck_assert_int_gt(n, 0);
	exe[n] = '\0';
	ck_assert_int_eq(stat("/proc/self/exe", &st), 0);
	ck_assert_int_eq(kk_proc_start_time(getpid(), &start), 0);

	run_start(&r);
	run_collect(&r, &lim);
	ck_assert(!r.arts.v[2].incomplete);

	doc = load_doc(r.dir, "collect/03-processes.json");
	ck_assert_str_eq(str_of(doc, "source"), "procfs");
	me = find_item(items_of(doc), "pid", json_integer(getpid()), NULL, NULL,
	    NULL, NULL);
	ck_assert_ptr_nonnull(me);
	ck_assert_int_eq(json_integer_value(json_object_get(me, "ppid")),
	    getppid());
	ck_assert_int_eq(json_integer_value(json_object_get(me, "uid")),
	    getuid());
	ck_assert_int_eq(json_integer_value(json_object_get(me, "euid")),
	    geteuid());
	ck_assert_int_eq(json_integer_value(json_object_get(me, "gid")),
	    getgid());
	ck_assert_str_eq(str_of(me, "exe"), exe);
	ck_assert(kk_test_file_matches("/proc/self/exe", (uint64_t)st.st_size,
	    str_of(me, "exe_sha256")));
	ck_assert_uint_eq((unsigned long long)json_integer_value(
	    json_object_get(me, "start_time")), start);
	ck_assert_uint_eq(strlen(str_of(me, "started")), 27);
	ck_assert_str_eq(str_of(me, "state"), "R");
	ck_assert_ptr_nonnull(strstr(str_of(me, "cmdline"), "unit-tests"));
	ck_assert_ptr_nonnull(strstr(str_of(me, "comm"), "unit-tests"));
	ck_assert_ptr_nonnull(json_object_get(me, "cgroup"));
	/* its effective capabilities, as its status says, when any */
	ck_assert_str_eq(json_string_value(json_object_get(me, "cap_eff")) ?:
	    "", cap_eff_of_self());
	/* our parent is in the table too (the same executable under Check) */
	parent = find_item(items_of(doc), "pid", json_integer(getppid()), NULL,
	    NULL, NULL, NULL);
	ck_assert_ptr_nonnull(parent);
	/* kernel threads have no executable and are no error */
	ck_assert_ptr_nonnull(find_item(items_of(doc), "pid", json_integer(2),
	    "exe", json_null(), NULL, NULL));
	json_decref(doc);
	run_end(&r);
}
END_TEST

/*
 * Children whose arguments collect reads: "sh -c 'sleep 60; :'
 * kakuri-argv-test", on the pages exec left (present), and a fork of
 * ours that maps a memfd over every page of its argument area.  The
 * kernel reads arguments from anonymous memory only: the memfd is never
 * read, as a FUSE file mapped there would not be (nor waited for).  The
 * fork does it on a stack of its own (its frames may share the page with
 * the arguments) and never returns to the old one.
 */
static int argv_pipe = -1;
static unsigned long argv_lo, argv_hi;

static void
argv_hide(void)
{
	int fd;
	char c = 'n';

	fd = memfd_create("kakuri-argv", MFD_CLOEXEC);
	if (fd >= 0 && ftruncate(fd, (off_t)(argv_hi - argv_lo)) == 0 &&
	    mmap((void *)argv_lo, argv_hi - argv_lo, PROT_READ,
	    MAP_SHARED | MAP_FIXED, fd, 0) != MAP_FAILED)
		c = 'y';
	if (write(argv_pipe, &c, 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

static pid_t
argv_child(bool hidden)
{
	unsigned long pg = (unsigned long)sysconf(_SC_PAGESIZE);
	int p[2], st;
	pid_t pid;
	char c = 'n';

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(pu_arg_area(false, &argv_lo, &argv_hi), 0);
	argv_lo &= ~(pg - 1);
	argv_hi = (argv_hi + pg - 1) & ~(pg - 1);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		if (!hidden) {
			dup2(p[1], 1);
			execl("/bin/sh", "sh", "-c", "echo y; sleep 60; :",
			    "kakuri-argv-test", (char *)NULL);
			_exit(127);
		}
		argv_pipe = p[1];
		pu_on_own_stack(argv_hide);
		_exit(1);
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1 || c != 'y') {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		ck_abort_msg("the %s child did not start", hidden ? "hidden" :
		    "plain");
	}
	close(p[0]);
	return pid;
}

START_TEST(process_arguments_cut_where_unreadable)
{
	struct kk_collect_limits lim = { .timeout_ms = 60000 };
	unsigned long start, end;
	pid_t plain, hidden;
	json_t *doc, *o;
	struct run r;
	int st;

	ck_assert_int_eq(pu_arg_area(false, &start, &end), 0);
	plain = argv_child(false);
	hidden = argv_child(true);

	run_start(&r);
	run_collect(&r, &lim);
	doc = load_doc(r.dir, "collect/03-processes.json");

	/* present anonymous pages: as ever, and nothing more */
	o = find_item(items_of(doc), "pid", json_integer(plain), NULL, NULL,
	    NULL, NULL);
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(str_of(o, "cmdline"),
	    "sh -c echo y; sleep 60; : kakuri-argv-test");
	ck_assert_ptr_null(json_object_get(o, "cmdline_incomplete"));
	ck_assert_ptr_null(json_object_get(o, "cmdline_area"));
	ck_assert_ptr_null(json_object_get(o, "cmdline_cut"));

	/* none of it read (not waited for either): no cmdline, and said */
	o = find_item(items_of(doc), "pid", json_integer(hidden), NULL, NULL,
	    NULL, NULL);
	ck_assert_ptr_nonnull(o);
	ck_assert_ptr_null(json_object_get(o, "cmdline"));
	ck_assert(json_is_true(json_object_get(o, "cmdline_incomplete")));
	ck_assert_int_eq(json_integer_value(json_object_get(o,
	    "cmdline_area")), (json_int_t)(end - start));

	/* ours, read whole, says nothing of it */
	o = find_item(items_of(doc), "pid", json_integer(getpid()), NULL,
	    NULL, NULL, NULL);
	ck_assert_ptr_nonnull(o);
	ck_assert_ptr_null(json_object_get(o, "cmdline_incomplete"));

	json_decref(doc);
	run_end(&r);
	kill(plain, SIGKILL);
	kill(hidden, SIGKILL);
	waitpid(plain, &st, 0);
	waitpid(hidden, &st, 0);
}
END_TEST

/* ---- sockets ---------------------------------------------------------- */

struct sock {
	int fd;
	int family;
	int type;
	int port;
	unsigned long ino;
};

/* bound (and listening, for streams) on the loopback address of family */
static bool
loopback_socket(int family, int type, struct sock *s)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct stat st;

	memset(&ss, 0, sizeof(ss));
	s->family = family;
	s->type = type;
	s->fd = socket(family, type | SOCK_CLOEXEC, 0);
	if (s->fd < 0 && family == AF_INET6)
		return false;	/* no IPv6 here */
	ck_assert_int_ge(s->fd, 0);
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_loopback;
		sl = sizeof(*in6);
	}
	if (bind(s->fd, (struct sockaddr *)&ss, sl) < 0) {
		ck_assert_int_eq(family, AF_INET6);
		close(s->fd);
		s->fd = -1;
		return false;
	}
	if (type == SOCK_STREAM)
		ck_assert_int_eq(listen(s->fd, 4), 0);
	sl = sizeof(ss);
	ck_assert_int_eq(getsockname(s->fd, (struct sockaddr *)&ss, &sl), 0);
	s->port = ntohs(family == AF_INET ?
	    ((struct sockaddr_in *)&ss)->sin_port :
	    ((struct sockaddr_in6 *)&ss)->sin6_port);
	/* the socket's inode, as sock_diag reports it */
	ck_assert_int_eq(fstat(s->fd, &st), 0);
	s->ino = (unsigned long)st.st_ino;
	return true;
}

static void
assert_owned(json_t *it, unsigned long ino)
{
	ck_assert_ptr_nonnull(it);
	ck_assert_int_eq(json_integer_value(json_object_get(it, "inode")),
	    (long long)ino);
	ck_assert_int_eq(json_integer_value(json_object_get(it, "pid")),
	    getpid());
	ck_assert_int_eq(json_integer_value(json_object_get(it, "uid")),
	    getuid());
}

/* s is in items, ours, with its protocol, address, port and state. */
static void
assert_inet_listed(json_t *items, const struct sock *s)
{
	bool v4 = s->family == AF_INET, stream = s->type == SOCK_STREAM;
	json_t *it;

	it = find_item(items, "proto", json_string(stream ? "tcp" : "udp"),
	    "local_port", json_integer(s->port), "local_addr",
	    json_string(v4 ? "127.0.0.1" : "::1"));
	assert_owned(it, s->ino);
	ck_assert_str_eq(str_of(it, "family"), v4 ? "inet" : "inet6");
	ck_assert_str_eq(str_of(it, "state"), stream ? "LISTEN" : "UNCONN");
}

START_TEST(sockets_have_ours_with_owner)
{
	struct kk_collect_limits lim = { .timeout_ms = 60000 };
	struct run r;
	struct sock s[4];
	struct sockaddr_un un;
	struct stat st;
	char upath[PATH_MAX], abstract[64];
	json_t *doc, *items, *it;
	bool v6;
	int ufd, afd;
	size_t i;

	run_start(&r);
	ck_assert(loopback_socket(AF_INET, SOCK_STREAM, &s[0]));
	ck_assert(loopback_socket(AF_INET, SOCK_DGRAM, &s[1]));
	v6 = loopback_socket(AF_INET6, SOCK_STREAM, &s[2]) &&
	    loopback_socket(AF_INET6, SOCK_DGRAM, &s[3]);

	/* a UNIX listener on a path, and an abstract datagram socket */
	kk_test_join(upath, r.dir, "kk.sock");
	ufd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(ufd, 0);
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	ck_assert_uint_lt(strlen(upath), sizeof(un.sun_path));
	strcpy(un.sun_path, upath);
	ck_assert_int_eq(bind(ufd, (struct sockaddr *)&un, sizeof(un)), 0);
	ck_assert_int_eq(listen(ufd, 4), 0);
	afd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(afd, 0);
	snprintf(abstract, sizeof(abstract), "kk-collect-test-%d",
	    (int)getpid());
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	memcpy(un.sun_path + 1, abstract, strlen(abstract));
	ck_assert_int_eq(bind(afd, (struct sockaddr *)&un,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
	    strlen(abstract))), 0);

	run_collect(&r, &lim);
	doc = load_doc(r.dir, "collect/02-sockets.json");
	ck_assert_str_eq(str_of(doc, "source"), "sock_diag");
	ck_assert_msg(json_object_get(doc, "error") == NULL, "%s",
	    json_string_value(json_object_get(doc, "error")));
	items = items_of(doc);

	for (i = 0; i < (v6 ? 4 : 2); i++)
		assert_inet_listed(items, &s[i]);
	ck_assert_int_eq(fstat(ufd, &st), 0);
	it = find_item(items, "proto", json_string("unix"), "path",
	    json_string(upath), NULL, NULL);
	assert_owned(it, (unsigned long)st.st_ino);
	ck_assert_str_eq(str_of(it, "type"), "stream");
	ck_assert_str_eq(str_of(it, "state"), "LISTEN");
	{
		char at[80];

		snprintf(at, sizeof(at), "@%s", abstract);
		ck_assert_int_eq(fstat(afd, &st), 0);
		it = find_item(items, "proto", json_string("unix"), "path",
		    json_string(at), NULL, NULL);
		assert_owned(it, (unsigned long)st.st_ino);
		ck_assert_str_eq(str_of(it, "type"), "dgram");
	}

	json_decref(doc);
	for (i = 0; i < 4; i++)
		if (i < 2 || v6)
			close(s[i].fd);
	close(ufd);
	close(afd);
	run_end(&r);
}
END_TEST

/* ---- routes, kernel, mounts, the files -------------------------------- */

START_TEST(routes_kernel_mounts_files)
{
	struct kk_collect_limits lim = { .timeout_ms = 60000,
	    .journal_entries = 5 };
	struct run r;
	struct utsname u;
	char bootid[64];
	json_t *doc, *items, *it;
	size_t n;

	run_start(&r);
	run_collect(&r, &lim);

	/* routing table: the kernel's own local route for 127.0.0.1 on lo */
	doc = load_doc(r.dir, "collect/01-routes.json");
	ck_assert_str_eq(str_of(doc, "source"), "rtnetlink");
	items = items_of(doc);
	it = find_item(items, "kind", json_string("route"), "dst",
	    json_string("127.0.0.1/32"), "table", json_string("local"));
	ck_assert_ptr_nonnull(it);
	ck_assert_str_eq(str_of(it, "type"), "local");
	ck_assert_str_eq(str_of(it, "dev"), "lo");
	ck_assert_str_eq(str_of(it, "scope"), "host");
	it = find_item(items, "kind", json_string("link"), "name",
	    json_string("lo"), NULL, NULL);
	ck_assert_ptr_nonnull(it);
	ck_assert_ptr_nonnull(find_item(items, "kind", json_string("address"),
	    "address", json_string("127.0.0.1/8"), "dev", json_string("lo")));
	json_decref(doc);

	/* kernel: the release running, this boot */
	ck_assert_int_eq(uname(&u), 0);
	doc = load_doc(r.dir, "collect/05-kernel.json");
	items = items_of(doc);
	it = find_item(items, "kind", json_string("uname"), NULL, NULL, NULL,
	    NULL);
	ck_assert_ptr_nonnull(it);
	ck_assert_str_eq(str_of(it, "release"), u.release);
	ck_assert_str_eq(str_of(it, "machine"), u.machine);
	it = find_item(items, "kind", json_string("boot"), NULL, NULL, NULL,
	    NULL);
	ck_assert_ptr_nonnull(it);
	{
		/* procfs files say size 0: read, not kk_test_read */
		FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

		ck_assert_ptr_nonnull(f);
		ck_assert_ptr_nonnull(fgets(bootid, sizeof(bootid), f));
		fclose(f);
		bootid[strcspn(bootid, "\n")] = '\0';
		ck_assert_uint_eq(strlen(bootid), 36);
	}
	ck_assert_str_eq(str_of(it, "boot_id"), bootid);
	ck_assert(json_is_integer(json_object_get(it, "tainted")));
	json_decref(doc);

	/* mounts: "/" is there */
	doc = load_doc(r.dir, "collect/06-mounts.json");
	it = find_item(items_of(doc), "mount_point", json_string("/"), NULL,
	    NULL, NULL, NULL);
	ck_assert_ptr_nonnull(it);
	ck_assert_str_ne(str_of(it, "fstype"), "");
	json_decref(doc);

	/* os-release: the ID the file says */
	doc = load_doc(r.dir, "collect/09-os-release.json");
	if (access("/etc/os-release", R_OK) == 0 ||
	    access("/usr/lib/os-release", R_OK) == 0) {
		ck_assert_ptr_nonnull(find_item(items_of(doc), "key",
		    json_string("ID"), NULL, NULL, NULL, NULL));
		ck_assert(!r.arts.v[8].incomplete);
	} else {
		ck_assert(r.arts.v[8].incomplete);
	}
	json_decref(doc);

	/* packages: dpkg itself is installed wherever dpkg is */
	doc = load_doc(r.dir, "collect/10-packages.json");
	if (access("/var/lib/dpkg/status", R_OK) == 0) {
		it = find_item(items_of(doc), "package", json_string("dpkg"),
		    NULL, NULL, NULL, NULL);
		ck_assert_ptr_nonnull(it);
		ck_assert_str_ne(str_of(it, "version"), "");
		ck_assert_str_eq(str_of(it, "status"), "install ok installed");
	} else {
		ck_assert_ptr_nonnull(strstr(str_of(doc, "error"),
		    "no dpkg database"));
	}
	json_decref(doc);

	/* journal: at most what was asked; none is a note, not an error */
	doc = load_doc(r.dir, "collect/08-journal.json");
	ck_assert_str_eq(str_of(doc, "source"), "sd-journal");
	n = json_array_size(items_of(doc));
	ck_assert_uint_le(n, 5);
	if (n == 0)
		ck_assert_ptr_nonnull(json_object_get(doc, "note"));
	else
		ck_assert_ptr_nonnull(json_object_get(json_array_get(
		    items_of(doc), 0), "__REALTIME_TIMESTAMP"));
	json_decref(doc);

	/* users: a document either way (no utmp in containers) */
	doc = load_doc(r.dir, "collect/04-users.json");
	items_of(doc);
	json_decref(doc);

	run_end(&r);
}
END_TEST

/* ---- nftables --------------------------------------------------------- */

START_TEST(nft_text_from_caller)
{
	struct kk_collect_limits lim = { .timeout_ms = 60000,
	    .nft_ruleset_text = "table inet t {\n\tchain c {\n\t}\n}\n" };
	struct run r;
	json_t *doc, *items;

	run_start(&r);
	run_collect(&r, &lim);
	ck_assert_str_eq(r.arts.v[6].method, "caller");
	doc = load_doc(r.dir, "collect/07-nftables.json");
	items = items_of(doc);
	ck_assert_uint_eq(json_array_size(items), 4);
	ck_assert_str_eq(json_string_value(json_array_get(items, 0)),
	    "table inet t {");
	ck_assert_str_eq(json_string_value(json_array_get(items, 1)),
	    "\tchain c {");
	ck_assert_str_eq(json_string_value(json_array_get(items, 3)), "}");
	json_decref(doc);
	run_end(&r);
}
END_TEST

static const char ruleset[] =
	"table inet kktest {\n"
	"\tset bad { type ipv4_addr; elements = { 192.0.2.7, 198.51.100.9 } }\n"
	"\tchain input {\n"
	"\t\ttype filter hook input priority 0; policy accept;\n"
	"\t\tip saddr @bad counter drop\n"
	"\t}\n"
	"}\n";

/*
 * In a child, in a network namespace of its own: load a ruleset with nft
 * and collect.  Exit 0 when collected, 77 when this cannot be set up.
 */
static void
nft_child(int dfd, const char *dir)
{
	struct kk_collect_limits lim = { .timeout_ms = 60000 };
	struct kk_artifacts arts;
	char path[PATH_MAX], err[256];
	pid_t pid;
	int r, st;

	if (unshare(CLONE_NEWNET) < 0)
		_exit(77);
	kk_test_join(path, dir, "ruleset.nft");
	kk_test_write(path, ruleset, sizeof(ruleset) - 1, 0600);
	/* nft -f PATH, by argv: no shell */
	pid = fork();
	if (pid < 0)
		_exit(77);
	if (pid == 0) {
		char *argv[] = { "nft", "-f", path, NULL };

		execvp("nft", argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		_exit(77);
	kk_artifacts_init(&arts);
	r = kk_collect(dfd, &lim, &arts, err, sizeof(err));
	kk_artifacts_free(&arts);
	_exit(r == 0 ? 0 : 1);
}

START_TEST(nft_ruleset_in_own_netns)
{
	char dir[PATH_MAX];
	json_t *doc, *items, *it;
	pid_t pid;
	int dfd = open_dir(dir), status;

	/* make check installs nftables: its absence is a failure, not a skip */
	ck_assert_msg(access("/usr/sbin/nft", X_OK) == 0 ||
	    access("/sbin/nft", X_OK) == 0, "nft is not installed");
	/* a child of our own: the namespace never reaches the test runner */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		nft_child(dfd, dir);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_msg(WEXITSTATUS(status) != 77, "cannot load a ruleset with nft "
	    "in a network namespace of our own (no namespaces or no nf_tables)");
	ck_assert_int_eq(WEXITSTATUS(status), 0);

	doc = load_doc(dir, "collect/07-nftables.json");
	ck_assert_str_eq(str_of(doc, "source"), "libnftnl");
	ck_assert_msg(json_object_get(doc, "error") == NULL, "%s",
	    json_string_value(json_object_get(doc, "error")));
	ck_assert(json_is_integer(json_object_get(doc, "generation")));
	items = items_of(doc);
	/* a fresh namespace holds exactly what we loaded */
	ck_assert_uint_eq(json_array_size(items), 4);
	it = find_item(items, "kind", json_string("table"), "name",
	    json_string("kktest"), "family", json_string("inet"));
	ck_assert_ptr_nonnull(it);
	ck_assert_ptr_nonnull(strstr(str_of(it, "text"), "kktest"));
	it = find_item(items, "kind", json_string("chain"), "name",
	    json_string("input"), "table", json_string("kktest"));
	ck_assert_ptr_nonnull(it);
	ck_assert_ptr_nonnull(strstr(str_of(it, "text"), "input"));
	it = find_item(items, "kind", json_string("set"), "name",
	    json_string("bad"), NULL, NULL);
	ck_assert_ptr_nonnull(it);
	ck_assert_int_eq(json_integer_value(json_object_get(it, "elements")),
	    2);
	it = find_item(items, "kind", json_string("rule"), "chain",
	    json_string("input"), NULL, NULL);
	ck_assert_ptr_nonnull(it);
	/* libnftnl's expression form: the lookup in set "bad" and the drop */
	ck_assert_ptr_nonnull(strstr(str_of(it, "text"), "lookup"));
	ck_assert_ptr_nonnull(strstr(str_of(it, "text"), "bad"));
	ck_assert_ptr_nonnull(strstr(str_of(it, "text"), "drop"));
	json_decref(doc);

	/* and the routing table of that namespace: only lo, and it is down */
	doc = load_doc(dir, "collect/01-routes.json");
	items = items_of(doc);
	ck_assert_ptr_nonnull(find_item(items, "kind", json_string("link"),
	    "name", json_string("lo"), NULL, NULL));
	ck_assert_ptr_null(find_item(items, "kind", json_string("link"),
	    "index", json_integer(2), NULL, NULL));
	ck_assert_ptr_null(find_item(items, "kind", json_string("route"),
	    "family", json_string("inet"), NULL, NULL));
	json_decref(doc);
	close(dfd);
}
END_TEST

/* ---- bounds ----------------------------------------------------------- */

START_TEST(tiny_size_budget_truncates)
{
	static const char *const big[] = {
		"collect/01-routes.json", "collect/03-processes.json",
		"collect/05-kernel.json", "collect/06-mounts.json",
	};
	struct kk_collect_limits lim = { .timeout_ms = 60000, .max_bytes = 1 };
	struct run r;
	json_t *doc;
	uint64_t total;
	size_t i, k;

	run_start(&r);
	total = run_collect(&r, &lim);
	/* only the envelopes: under 1 KiB each */
	for (i = 0; i < r.arts.n; i++)
		ck_assert_uint_lt(r.arts.v[i].size, 1024);
	ck_assert_uint_lt(total, NNAMES * 1024);
	/* these always have something to say, and said none of it */
	for (k = 0; k < sizeof(big) / sizeof(big[0]); k++) {
		for (i = 0; i < r.arts.n; i++)
			if (strcmp(r.arts.v[i].path, big[k]) == 0)
				break;
		ck_assert_uint_lt(i, r.arts.n);
		ck_assert(r.arts.v[i].incomplete);
		ck_assert_ptr_nonnull(strstr(r.arts.v[i].error,
		    "truncated at 0 items"));
		doc = load_doc(r.dir, big[k]);
		ck_assert(json_is_true(json_object_get(doc, "truncated")));
		ck_assert_uint_eq(json_array_size(items_of(doc)), 0);
		json_decref(doc);
	}
	/* and the caller hears about it */
	ck_assert_ptr_nonnull(strstr(r.err, "artifacts incomplete"));
	run_end(&r);

	/*
	 * 48 KiB: each artifact keeps what fits its share, the total stays
	 * under the budget plus the envelopes
	 */
	lim.max_bytes = 48 * 1024;
	run_start(&r);
	total = run_collect(&r, &lim);
	ck_assert_uint_le(total, lim.max_bytes + NNAMES * 1024);
	for (i = 0; i < r.arts.n; i++) {
		doc = load_doc(r.dir, r.arts.v[i].path);
		if (json_is_true(json_object_get(doc, "truncated")))
			ck_assert_ptr_nonnull(strstr(r.arts.v[i].error,
			    "size share"));
		json_decref(doc);
	}
	run_end(&r);
}
END_TEST

START_TEST(one_millisecond_deadline)
{
	struct kk_collect_limits lim = { .timeout_ms = 1 };
	struct run r;
	json_t *doc;
	size_t i, timed_out = 0;

	/*
	 * no timing assertion here: what the deadline cut is what counts;
	 * every source is listed, each a valid document
	 */
	run_start(&r);
	run_collect(&r, &lim);
	for (i = 0; i < r.arts.n; i++) {
		if (strncmp(r.arts.v[i].error, "timeout", 7) != 0)
			continue;
		timed_out++;
		doc = load_doc(r.dir, r.arts.v[i].path);
		ck_assert(json_is_true(json_object_get(doc, "truncated")));
		json_decref(doc);
	}
	ck_assert_uint_gt(timed_out, 0);
	/* the least volatile is never reached in a millisecond */
	ck_assert_str_eq(r.arts.v[NNAMES - 1].error, "timeout: not collected");
	doc = load_doc(r.dir, r.arts.v[NNAMES - 1].path);
	ck_assert_uint_eq(json_array_size(items_of(doc)), 0);
	json_decref(doc);
	ck_assert_ptr_nonnull(strstr(r.err, "timeout"));
	run_end(&r);
}
END_TEST

START_TEST(second_collection_is_a_hard_error)
{
	struct kk_collect_limits lim = { .timeout_ms = 60000 };
	struct run r;

	run_start(&r);
	run_collect(&r, &lim);
	/* evidence is never overwritten, no file claimed that is not ours */
	ck_assert_int_eq(collect(r.dfd, &lim, &r.arts, r.err, sizeof(r.err)),
	    -EEXIST);
	ck_assert_ptr_nonnull(strstr(r.err, "collect/01-routes.json"));
	ck_assert_uint_eq(r.arts.n, NNAMES);
	check_artifacts(r.dir, &r.arts, 0);
	run_end(&r);
}
END_TEST

/*
 * The /proc/modules and mountinfo line formats, fed as text: a machine
 * without modules (like the one these tests may run on) never reads the
 * first, and hostile mount points are not easy to make.
 */
START_TEST(module_and_mount_lines)
{
	char mod[] = "nf_tables 368640 5 nft_chain_nat,nft_compat, Live "
	    "0xffffffffc0a00000 (E)";
	char mod_unused[] = "dummy 16384 0 - Loading 0x0";
	char mod_short[] = "nf_tables 368640 5 -";
	char mnt[] = "36 35 98:0 /root\\040dir /mnt/a\\012b rw,noatime "
	    "master:1 shared:2 - ext4 /dev/my\\134disk rw,errors=remount-ro";
	char mnt_short[] = "36 35 98:0 / /mnt rw - ext4";
	json_t *o;

	o = col_module_item(mod);
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(json_string_value(json_object_get(o, "name")),
	    "nf_tables");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "size")),
	    368640);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "refcount")),
	    5);
	/* the kernel's trailing comma is not part of the list */
	ck_assert_str_eq(json_string_value(json_object_get(o, "used_by")),
	    "nft_chain_nat,nft_compat");
	ck_assert_str_eq(json_string_value(json_object_get(o, "state")),
	    "Live");
	ck_assert_str_eq(json_string_value(json_object_get(o, "address")),
	    "0xffffffffc0a00000");
	ck_assert_str_eq(json_string_value(json_object_get(o, "taint")),
	    "(E)");
	json_decref(o);
	o = col_module_item(mod_unused);
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(json_string_value(json_object_get(o, "used_by")), "");
	ck_assert_ptr_null(json_object_get(o, "taint"));
	json_decref(o);
	ck_assert_ptr_null(col_module_item(mod_short));

	o = col_mount_item(mnt);
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "id")), 36);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "parent")), 35);
	ck_assert_str_eq(json_string_value(json_object_get(o, "dev")), "98:0");
	/* mountinfo's octal escapes undone: a space, a newline, a backslash */
	ck_assert_str_eq(json_string_value(json_object_get(o, "root")),
	    "/root dir");
	ck_assert_str_eq(json_string_value(json_object_get(o,
	    "mount_point")), "/mnt/a\nb");
	ck_assert_str_eq(json_string_value(json_object_get(o,
	    "propagation")), "master:1 shared:2");
	ck_assert_str_eq(json_string_value(json_object_get(o, "fstype")),
	    "ext4");
	ck_assert_str_eq(json_string_value(json_object_get(o, "source")),
	    "/dev/my\\disk");
	ck_assert_str_eq(json_string_value(json_object_get(o,
	    "super_options")), "rw,errors=remount-ro");
	json_decref(o);
	ck_assert_ptr_null(col_mount_item(mnt_short));
}
END_TEST

KK_SUITE(collect_suite, "collect",
	/* executables of the whole machine are hashed; ASan is slow */
	KK_CASE("collect", KK_TMPDIR, 120),
	    KK_TEST(artifacts_in_order_and_hashed),
	    KK_TEST(hook_between_nftables_and_journal),
	    KK_TEST(two_parts_make_one_collection),
	    KK_TEST(process_table_has_self),
	    KK_TEST(process_arguments_cut_where_unreadable),
	    KK_TEST(sockets_have_ours_with_owner),
	    KK_TEST(routes_kernel_mounts_files),
	    KK_TEST(nft_text_from_caller),
	    KK_TEST(nft_ruleset_in_own_netns),
	    KK_TEST(tiny_size_budget_truncates),
	    KK_TEST(one_millisecond_deadline),
	    KK_TEST(second_collection_is_a_hard_error),
	    KK_TEST(module_and_mount_lines))
