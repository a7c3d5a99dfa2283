/* Helpers the unit test files share; see testutil.h. */
#include <sys/socket.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <openssl/evp.h>

#include "../progutil.h"
#include "daemon.h"
#include "identity.h"
#include "kakuri.h"
#include "nft.h"
#include "outbox.h"
#include "sign.h"
#include "testutil.h"

char kk_test_base[PATH_MAX];

void
kk_test_base_create(void)
{
	kk_test_tmpdir(kk_test_base, "kk-ut");
}

void
kk_test_base_remove(void)
{
	kk_test_rmtree(kk_test_base);
	kk_test_base[0] = '\0';
}

void
kk_test_tmpdir(char out[PATH_MAX], const char *prefix)
{
	ck_assert_int_lt(snprintf(out, PATH_MAX, "/tmp/%s.XXXXXX", prefix),
	    PATH_MAX);
	if (mkdtemp(out) == NULL) {
		out[0] = '\0';
		ck_abort_msg("mkdtemp /tmp/%s.XXXXXX: %s", prefix,
		    strerror(errno));
	}
}

void
kk_test_rmtree(const char *dir)
{
	if (dir[0] != '\0')
		pu_rmtree(dir);
}

void
kk_test_workdir(char out[PATH_MAX])
{
	ck_assert_str_ne(kk_test_base, "");
	ck_assert_int_lt(snprintf(out, PATH_MAX, "%s/w.XXXXXX", kk_test_base),
	    PATH_MAX);
	ck_assert_ptr_nonnull(mkdtemp(out));
}

void
kk_test_join(char out[PATH_MAX], const char *dir, const char *name)
{
	ck_assert_int_lt(snprintf(out, PATH_MAX, "%s/%s", dir, name),
	    PATH_MAX);
}

void
kk_test_write(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ck_assert_msg(fd >= 0, "create %s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	ck_assert_int_eq(close(fd), 0);
}

void
kk_test_overwrite(const char *path, const void *data, size_t len)
{
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

mode_t
kk_test_file_mode(const char *path)
{
	struct stat st;

	ck_assert_msg(lstat(path, &st) == 0, "lstat %s: %s", path,
	    strerror(errno));
	ck_assert_msg(S_ISREG(st.st_mode), "%s: not a regular file", path);
	return st.st_mode & 07777;
}

char *
kk_test_read(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	ck_assert_int_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(read(fd, buf, (size_t)st.st_size), st.st_size);
	buf[st.st_size] = '\0';
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

bool
kk_test_file_matches(const char *path, uint64_t size, const char *hex)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	char got[65], *buf;
	EVP_MD_CTX *c;
	struct stat st;
	ssize_t n = -1;
	bool ok = false;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	buf = malloc(1 << 20);
	c = EVP_MD_CTX_new();
	if (buf == NULL || c == NULL || fstat(fd, &st) < 0 ||
	    (uint64_t)st.st_size != size ||
	    EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1)
		goto out;
	while ((n = read(fd, buf, 1 << 20)) > 0)
		EVP_DigestUpdate(c, buf, (size_t)n);
	if (n < 0 || EVP_DigestFinal_ex(c, md, &mdlen) != 1 || mdlen != 32)
		goto out;
	for (i = 0; i < mdlen; i++) {
		got[2 * i] = digits[md[i] >> 4];
		got[2 * i + 1] = digits[md[i] & 15];
	}
	got[64] = '\0';
	ok = strcmp(got, hex) == 0;
out:
	EVP_MD_CTX_free(c);
	free(buf);
	close(fd);
	return ok;
}

size_t
kk_test_count_entries(const char *dir, const char *mark, size_t *marked)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if (mark != NULL)
		*marked = 0;
	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		n++;
		if (mark != NULL && strstr(de->d_name, mark) != NULL)
			(*marked)++;
	}
	closedir(d);
	return n;
}

TCase *
kk_tcase(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, KK_TCASE_TIMEOUT);
	return tc;
}

Suite *
kk_suite(const char *name, const struct kk_test *tests)
{
	const struct kk_test *t;
	Suite *s = suite_create(name);
	TCase *tc = NULL;

	for (t = tests; t->tcase != NULL || t->test != NULL; t++) {
		if (t->tcase != NULL) {
			if (tc != NULL)
				suite_add_tcase(s, tc);
			tc = kk_tcase(t->tcase);
			if (t->timeout > 0)
				tcase_set_timeout(tc, t->timeout);
			if (t->flags & KK_TMPDIR)
				tcase_add_unchecked_fixture(tc,
				    kk_test_base_create, kk_test_base_remove);
			if (t->setup == NULL && t->teardown == NULL)
				continue;
			if (t->flags & KK_CHECKED)
				tcase_add_checked_fixture(tc, t->setup,
				    t->teardown);
			else
				tcase_add_unchecked_fixture(tc, t->setup,
				    t->teardown);
		} else if (tc == NULL) {
			fprintf(stderr, "suite %s: a test before its case\n",
			    name);
			abort();
		} else if (t->loop > 0)
			tcase_add_loop_test(tc, t->test, 0, t->loop);
		else
			tcase_add_test(tc, t->test);
	}
	if (tc != NULL)
		suite_add_tcase(s, tc);
	return s;
}

void
kk_test_addr_add(struct kk_addrlist *l, const char *s)
{
	ck_assert_uint_lt(l->n, KK_MAX_ADDRS);
	ck_assert_int_eq(kk_addr_parse(s, &l->addr[l->n]), 0);
	l->n++;
}

void
kk_test_policy_base(struct kk_policy *p)
{
	kk_policy_defaults(p);
	kk_test_addr_add(&p->peers, "192.0.2.10");
	kk_test_addr_add(&p->peers, "2001:db8::10");
	p->mgmt_ports.port[0] = 7443;
	p->mgmt_ports.port[1] = 7444;
	p->mgmt_ports.n = 2;
	p->dhcp = true;
	p->ndp = true;
}

void
kk_test_nft_spec(struct kk_nft_spec *s, struct kk_policy *p)
{
	memset(s, 0, sizeof(*s));
	s->policy = p;
	s->own_uid_known = true;
	s->own_uid = 991;
	s->own_gid = 992;
}

static size_t json_counted;

static void *
counting_malloc(size_t n)
{
	json_counted += n;
	return malloc(n);
}

void
kk_test_json_count_start(void)
{
	json_counted = 0;
	json_set_alloc_funcs(counting_malloc, free);
}

size_t
kk_test_json_count_stop(void)
{
	json_set_alloc_funcs(malloc, free);
	return json_counted;
}

int
kk_test_child_fork(void (*run)(int ipc, int logfd), pid_t *pid, int *ipc,
    int *logfd)
{
	int sv[2], lp[2], r;
	pid_t p;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if (pipe2(lp, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail_sv;
	}
	if ((p = fork()) < 0) {
		r = -errno;
		close(lp[0]);
		close(lp[1]);
		goto fail_sv;
	}
	if (p == 0) {
		close(sv[0]);
		close(lp[0]);
		run(sv[1], lp[1]);
		_exit(0);
	}
	close(sv[1]);
	close(lp[1]);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(lp[0], F_SETFL, O_NONBLOCK);
	*pid = p;
	*ipc = sv[0];
	*logfd = lp[0];
	return 0;
fail_sv:
	close(sv[0]);
	close(sv[1]);
	return r;
}

void
kk_test_outbox_kd(struct kd *d, const char *work, bool with_key)
{
	kk_test_join(d->outbox_dir, work, "outbox");
	ck_assert_int_eq(mkdir(d->outbox_dir, 0700), 0);
	kk_test_join(d->audit_path, work, "audit.log");
	ck_assert_int_eq(kk_audit_open(&d->audit, d->audit_path), 0);
	snprintf(d->state.episode, sizeof(d->state.episode),
	    "0123456789abcdef0123456789abcdef");
	d->outbox.sealer = &kd_outbox_sealer;
	if (with_key) {
		ck_assert_int_eq(kd_identity_keep(d, kk_key_generate()), 0);
		ck_assert_ptr_nonnull(d->agent_key);
		ck_assert_int_eq(kk_key_id(d->agent_key, d->agent_id), 0);
	}
	ck_assert_int_eq(kd_outbox_open(d), 0);
}

int
kk_test_exprs(const struct nftnl_rule *r, const char *name)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e;
	int n = 0;

	ck_assert_ptr_nonnull(it);
	while ((e = nftnl_expr_iter_next(it)) != NULL)
		if (name == NULL ||
		    strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), name) == 0)
			n++;
	nftnl_expr_iter_destroy(it);
	return n;
}

int
kk_test_verdict(const struct nftnl_rule *r)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e, *last = NULL;
	int v;

	ck_assert_ptr_nonnull(it);
	while ((e = nftnl_expr_iter_next(it)) != NULL)
		last = e;
	ck_assert_ptr_nonnull(last);
	ck_assert_str_eq(nftnl_expr_get_str(last, NFTNL_EXPR_NAME),
	    "immediate");
	v = (int)nftnl_expr_get_u32(last, NFTNL_EXPR_IMM_VERDICT);
	nftnl_expr_iter_destroy(it);
	return v;
}
