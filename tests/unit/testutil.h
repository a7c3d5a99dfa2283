/*
 * Helpers the unit test files share: a private temporary directory per
 * test case, fresh directories and paths below it, and whole files
 * written and read back.  They check with ck_assert, so a failure fails
 * the test that called them.
 */
#ifndef KK_TESTUTIL_H
#define KK_TESTUTIL_H
#include <sys/types.h>

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <check.h>

/*
 * Every test case gets a timeout of its own (Check's default is 4 s, too
 * short for a sanitizer build on a busy machine).  A suite may raise it
 * with tcase_set_timeout; `make unit-asan` multiplies all of them
 * (CK_TIMEOUT_MULTIPLIER) because ASan runs several times slower.
 */
#define KK_TCASE_TIMEOUT	60
TCase	*kk_tcase(const char *name);

/*
 * A suite built from one table.  A KK_CASE row starts a test case: its
 * name, flags (KK_TMPDIR: kk_test_base is made for it) and timeout in
 * seconds (0: KK_TCASE_TIMEOUT); KK_CASE_FIXTURE adds setup and teardown,
 * an unchecked fixture, or a checked one (around every test) when flags
 * has KK_CHECKED.  The KK_TEST and KK_LOOP rows after it are its tests; a
 * loop test runs with _i from 0 to n - 1.  KK_SUITE defines the suite
 * function from the rows and ends the table (KK_END) itself:
 *
 *	KK_SUITE(audit_suite, "audit",
 *		KK_CASE("verify", KK_TMPDIR, 30), KK_TEST(test_verify_whole),
 *		    KK_LOOP(test_verify_cut, 5),
 *		KK_CASE("sha256", 0, 0), KK_TEST(test_sha256_kat))
 *
 * The table is local to the suite function: a test's TTest pointer is no
 * constant.
 */
struct kk_test {
	const char		*tcase;
	const TTest		*test;
	int			 loop;
	unsigned int		 flags;
	int			 timeout;
	SFun			 setup;
	SFun			 teardown;
};

#define KK_TMPDIR	0x1
#define KK_CHECKED	0x2

#define KK_CASE_FIXTURE(name, flags, timeout, setup, teardown)		\
	{ (name), NULL, 0, (flags), (timeout), (setup), (teardown) }
#define KK_CASE(name, flags, timeout)					\
	KK_CASE_FIXTURE(name, flags, timeout, NULL, NULL)
#define KK_LOOP(t, n)	{ NULL, (t), (n), 0, 0, NULL, NULL }
#define KK_TEST(t)	KK_LOOP(t, 0)
#define KK_END		{ NULL, NULL, 0, 0, 0, NULL, NULL }

/* how many rows a table has, as a loop test's n */
#define KK_NITEMS(a)	((int)(sizeof(a) / sizeof((a)[0])))

Suite	*kk_suite(const char *name, const struct kk_test *tests);

#define KK_SUITE(fn, name, ...)						\
Suite *									\
fn(void)								\
{									\
	const struct kk_test tests[] = { __VA_ARGS__, KK_END };		\
									\
	return kk_suite((name), tests);					\
}

/*
 * The test case's private mkdtemp(3) directory.  Made and removed by an
 * unchecked fixture, so the removal runs in the parent even when a forked
 * test fails:
 *	tcase_add_unchecked_fixture(tc, kk_test_base_create,
 *	    kk_test_base_remove);
 */
extern char kk_test_base[PATH_MAX];

void	kk_test_base_create(void);
void	kk_test_base_remove(void);

/* mkdtemp(3) of /tmp/<prefix>.XXXXXX into out; out is "" if that fails. */
void	kk_test_tmpdir(char out[PATH_MAX], const char *prefix);
/* Removes dir and everything below it, following no link; "" is a no-op. */
void	kk_test_rmtree(const char *dir);
/* A fresh, empty directory below kk_test_base for one test. */
void	kk_test_workdir(char out[PATH_MAX]);
void	kk_test_join(char out[PATH_MAX], const char *dir, const char *name);

/* Writes len bytes to a new file (it must not exist) with exactly mode. */
void	kk_test_write(const char *path, const void *data, size_t len,
	    mode_t mode);
/* Replaces the content of path, creating it (0600) if it does not exist. */
void	kk_test_overwrite(const char *path, const void *data, size_t len);
/* The permission bits of path, which must be a regular file (lstat). */
mode_t	kk_test_file_mode(const char *path);
/* The whole file in a NUL-terminated heap buffer; the caller frees. */
char	*kk_test_read(const char *path, size_t *len);
/*
 * Has the file at path this size and this SHA-256 (lowercase hex)?  For
 * helper children, which must not ck_assert: it asserts nothing.
 */
bool	kk_test_file_matches(const char *path, uint64_t size, const char *hex);
/*
 * Entries in dir, without . and ..; when mark is not NULL, *marked counts
 * those whose name contains it.
 */
size_t	kk_test_count_entries(const char *dir, const char *mark,
	    size_t *marked);

/*
 * A new libnftnl object of kind (table, chain, set or rule) parsed from
 * the netlink message nlh, which must parse; the caller frees it.  The
 * caller includes the libnftnl header of kind.
 */
#define KK_NFT_PARSED(kind, nlh) __extension__ ({			\
	struct nftnl_##kind *parsed_ = nftnl_##kind##_alloc();		\
									\
	ck_assert_ptr_nonnull(parsed_);					\
	ck_assert_int_ge(nftnl_##kind##_nlmsg_parse((nlh), parsed_), 0);	\
	parsed_;							\
})

/*
 * The expressions of the rule r named name (NULL: all of them); the
 * verdict r ends with, which must be an immediate's.
 */
struct nftnl_rule;
int	kk_test_exprs(const struct nftnl_rule *r, const char *name);
int	kk_test_verdict(const struct nftnl_rule *r);

/*
 * What jansson allocates, in bytes, from kk_test_json_count_start to
 * kk_test_json_count_stop (which puts malloc back): a parse that must
 * not read a text shows so by allocating next to nothing.
 */
void	kk_test_json_count_start(void);
size_t	kk_test_json_count_stop(void);

/* Parses s into the next free address of l. */
struct kk_addrlist;
void	kk_test_addr_add(struct kk_addrlist *l, const char *s);
/*
 * The policy the nftables tests build on: the defaults, peers 192.0.2.10
 * and 2001:db8::10, management ports 7443 and 7444, DHCP and NDP on.
 */
struct kk_policy;
void	kk_test_policy_base(struct kk_policy *p);
/*
 * The spec the nftables tests start from: all zero (mode open) but for
 * the policy p and the agent's own uid 991 and gid 992, known (the
 * golden file's owner rules match on them).
 */
struct kk_nft_spec;
void	kk_test_nft_spec(struct kk_nft_spec *s, struct kk_policy *p);

/*
 * d's outbox in work/outbox, opened, with its audit log in
 * work/audit.log, an episode, the real sealer and, with_key, an agent key
 * of its own: what the outbox and courier tests start from.
 */
struct kd;
void	kk_test_outbox_kd(struct kd *d, const char *work, bool with_key);

/*
 * A fake child for a row of the children table (agentd/children.h): as
 * a kind's entry returns one, forked, with *ipc (a socket) and *logfd (a
 * pipe) non-blocking on the parent's side; in the child run(ipc, logfd)
 * must not return.  0, or a negative errno with nothing left open.
 */
int	kk_test_child_fork(void (*run)(int ipc, int logfd), pid_t *pid,
	    int *ipc, int *logfd);

#endif
