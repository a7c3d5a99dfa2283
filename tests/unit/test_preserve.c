/*
 * What an evidence worker says is checked before root acts on it
 * (agentd/preserve_jobs.c): a worker runs on hostile input (the memory
 * and /proc of the processes it copies), so a compromised one must not
 * get the root parent to truncate or create a file outside the job's
 * directory, by a ".." in a path or by a symbolic link it made there.
 * Each test fails on the code before: root truncated ../../victim to
 * nothing, and created a file through the worker's link.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <linux/capability.h>
#include <linux/kcmp.h>
#include <linux/netlink.h>
#include <unistd.h>

#include <check.h>

#include "childproc.h"
#include "preserve.h"
#include "sandbox.h"
#include "suites.h"
#include "testutil.h"

#define PRECIOUS	"precious evidence"

struct fixture {
	char base[PATH_MAX];		/* holds the store and the victims */
	struct kd_preserve pv;
	struct job j;
};

static void
write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static off_t
size_of(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* base/evidence/EV/sub/ for a snapshot job, and base/outside/ beside it */
static void
fixture(struct fixture *f)
{
	char path[PATH_MAX + 64];

	memset(f, 0, sizeof(*f));
	kk_test_workdir(f->base);
	ck_assert_int_lt(snprintf(f->pv.evidence_dir,
	    sizeof(f->pv.evidence_dir), "%s/evidence", f->base),
	    (int)sizeof(f->pv.evidence_dir));
	ck_assert_int_eq(mkdir(f->pv.evidence_dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/EV", f->pv.evidence_dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/EV/snap-1", f->pv.evidence_dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/outside", f->base);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/victim", f->base);
	write_text(path, PRECIOUS);
	f->j.pv = &f->pv;
	f->j.kind = JOB_SNAPSHOT;
	f->j.fd = -1;
	snprintf(f->j.evid, sizeof(f->j.evid), "EV");
	snprintf(f->j.sub, sizeof(f->j.sub), "snap-1");
	ck_assert_str_eq(job_names[f->j.kind], "snapshot");
}

static void
line(struct job *j, const char *text)
{
	pv_job_line(j, text, strlen(text));
}

#define SHA0 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

START_TEST(test_artifact_path_escaping_is_refused)
{
	static const char *const bad[] = { "../../victim", "../../../victim",
		"/etc/shadow", "pid-1/../../../victim", "..", "a/..",
		"a\\\\..\\\\b", "",
		/* one spelling per file: not a second name for pid-1/core */
		"pid-1/./core", "pid-1//core", "./pid-1/core", "pid-1/core/",
		"." };
	char text[512], victim[PATH_MAX + 16];
	struct fixture f;
	size_t i;

	fixture(&f);
	snprintf(victim, sizeof(victim), "%s/victim", f.base);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f.j.bad = false;
		snprintf(text, sizeof(text), "{\"artifact\":{\"path\":\"%s\","
		    "\"sha256\":\"" SHA0 "\",\"size\":17,\"incomplete\":true}}",
		    bad[i]);
		line(&f.j, text);
		ck_assert_msg(f.j.bad, "artifact path \"%s\" taken", bad[i]);
		ck_assert_uint_eq(f.j.arts.n, 0);
	}
	/* what a full disk does with the incomplete ones: nothing to take */
	pv_release_space(&f.j);
	ck_assert_int_eq(size_of(victim), (off_t)strlen(PRECIOUS));
	/* a good one is taken */
	f.j.bad = false;
	line(&f.j, "{\"artifact\":{\"path\":\"pid-1/core\",\"sha256\":\""
	    SHA0 "\",\"size\":0}}");
	ck_assert(!f.j.bad);
	ck_assert_uint_eq(f.j.arts.n, 1);
	ck_assert_str_eq(f.j.arts.v[0].path, "snap-1/pid-1/core");
	kk_artifacts_free(&f.j.arts);
}
END_TEST

/*
 * A worker's line of more values than any it writes (an artifact with
 * all its gaps) is not given to jansson, which would spend 40 to 80
 * times its size in root: the worker is not believed.  One with all its
 * gaps is taken.
 */
START_TEST(test_line_of_many_values_is_refused)
{
	const size_t cap = (size_t)KD_JOB_GAPS_MAX * 64 + 512;
	char *text = malloc(cap), *p;
	struct fixture f;
	size_t i;

	ck_assert_ptr_nonnull(text);
	fixture(&f);
	p = text + sprintf(text, "{\"artifact\":{\"path\":\"pid-1/core\","
	    "\"sha256\":\"" SHA0 "\",\"size\":0,\"pad\":[");
	for (i = 0; i < KD_JOB_LINE_VALUES; i++)
		p += sprintf(p, "%s{}", i ? "," : "");
	strcpy(p, "]}}");
	ck_assert_uint_lt(strlen(text), cap);
	kk_test_json_count_start();
	line(&f.j, text);
	ck_assert_uint_eq(kk_test_json_count_stop(), 0);
	ck_assert(f.j.bad);
	ck_assert_uint_eq(f.j.arts.n, 0);
	/* KD_JOB_GAPS_MAX gaps: what artifact.c may write, still taken */
	f.j.bad = false;
	p = text + sprintf(text, "{\"artifact\":{\"path\":\"pid-1/core\","
	    "\"sha256\":\"" SHA0 "\",\"size\":0,\"gaps\":[");
	for (i = 0; i < KD_JOB_GAPS_MAX; i++)
		p += sprintf(p, "%s{\"offset\":%zu,\"length\":4096,"
		    "\"why\":\"EIO\"}", i ? "," : "", i * 8192);
	strcpy(p, "]}}");
	ck_assert_uint_lt(strlen(text), cap);
	line(&f.j, text);
	ck_assert(!f.j.bad);
	ck_assert_uint_eq(f.j.arts.n, 1);
	ck_assert_uint_eq(json_array_size(f.j.arts.v[0].gaps),
	    KD_JOB_GAPS_MAX);
	kk_artifacts_free(&f.j.arts);
	free(text);
}
END_TEST

START_TEST(test_begun_path_escaping_is_refused)
{
	char victim[PATH_MAX + 16];
	struct fixture f;

	fixture(&f);
	snprintf(victim, sizeof(victim), "%s/nologin", f.base);
	line(&f.j, "{\"begin\":\"../../nologin\"}");
	ck_assert(f.j.bad);
	ck_assert_str_eq(f.j.current, "");
	/* the worker dies without an end: what it began is noted */
	pv_cut_unreported(&f.j, "killed");
	ck_assert_int_eq(size_of(victim), -1);
	kk_artifacts_free(&f.j.arts);
}
END_TEST

/*
 * Through a link the worker made in its directory: pid-1 -> outside.
 * Neither the full disk's truncation nor the unfinished artifact's empty
 * file reaches outside.
 */
START_TEST(test_worker_links_are_not_followed)
{
	char link[PATH_MAX + 64], target[PATH_MAX + 16], core[PATH_MAX + 32];
	char made[PATH_MAX + 32];
	struct fixture f;

	fixture(&f);
	snprintf(target, sizeof(target), "%s/outside", f.base);
	snprintf(link, sizeof(link), "%s/EV/snap-1/pid-1",
	    f.pv.evidence_dir);
	ck_assert_int_eq(symlink(target, link), 0);
	snprintf(core, sizeof(core), "%s/core", target);
	write_text(core, PRECIOUS);
	snprintf(made, sizeof(made), "%s/maps", target);

	line(&f.j, "{\"artifact\":{\"path\":\"pid-1/core\",\"sha256\":\""
	    SHA0 "\",\"size\":17,\"incomplete\":true}}");
	ck_assert(!f.j.bad);
	pv_release_space(&f.j);
	ck_assert_int_eq(size_of(core), (off_t)strlen(PRECIOUS));

	line(&f.j, "{\"begin\":\"pid-1/maps\"}");
	ck_assert(!f.j.bad);
	pv_cut_unreported(&f.j, "killed");
	ck_assert_int_eq(size_of(made), -1);
	ck_assert_int_eq(size_of(core), (off_t)strlen(PRECIOUS));
	kk_artifacts_free(&f.j.arts);
	json_decref(f.j.errors);
}
END_TEST

/* and without a link, an unfinished artifact gets its empty file */
START_TEST(test_unstarted_artifact_is_noted)
{
	char made[PATH_MAX + 64];
	struct fixture f;

	fixture(&f);
	line(&f.j, "{\"begin\":\"pid-7/maps\"}");
	ck_assert(!f.j.bad);
	pv_cut_unreported(&f.j, "killed");
	snprintf(made, sizeof(made), "%s/EV/snap-1/pid-7/maps",
	    f.pv.evidence_dir);
	ck_assert_int_eq(size_of(made), 0);
	ck_assert_uint_eq(f.j.arts.n, 1);
	ck_assert(f.j.arts.v[0].incomplete);
	kk_artifacts_free(&f.j.arts);
}
END_TEST

/*
 * A worker's seccomp rules (sandbox.c): it keeps CAP_SYS_PTRACE to read
 * what others own, which would let one that was taken over write the
 * root parent's memory through /proc/PID/mem or ptrace(2).  In a child:
 * bit n of the exit status is check n failing.
 */
/*
 * Every call allowed but what the rules say: only they are tested (a
 * sanitizer's runtime makes calls of its own).  0, or -1.
 */
static int
confine_by_rules(const struct kk_seccomp_rules *rules)
{
	int calls[450], i;

	for (i = 0; i < (int)(sizeof(calls) / sizeof(calls[0])); i++)
		calls[i] = i;
	return kk_seccomp_install_rules(calls, sizeof(calls) /
	    sizeof(calls[0]), NULL, 0, false, rules) < 0 ? -1 : 0;
}

static int
confined_checks(const char *dir)
{
	static const unsigned reqs[] = { PTRACE_SEIZE, PTRACE_DETACH };
	struct kk_seccomp_rules rules = {
		.writes_create_only = true,
		.ptrace_limited = true,
		.ptrace_requests = reqs,
		.nptrace_requests = 2,
		.protected_pid = getppid(),
		.no_vm_read = true,
	};
	struct iovec local, remote;
	char byte;
	char path[PATH_MAX + 32];
	int fd, bad = 0;

	if (confine_by_rules(&rules) < 0)
		return 1 << 7;
	/* 0: memory of a process opened for writing */
	fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	bad |= (fd >= 0 || errno != EACCES) << 0;
	/* 1: an existing file opened for writing, 2: truncated */
	snprintf(path, sizeof(path), "%s/old", dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	bad |= (fd >= 0 || errno != EACCES) << 1;
	fd = open(path, O_RDONLY | O_TRUNC | O_CLOEXEC);
	bad |= (fd >= 0 || errno != EACCES) << 2;
	/* 3: reading it, and creating a new file, still work */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	bad |= (fd < 0) << 3;
	kk_close(fd);
	snprintf(path, sizeof(path), "%s/new", dir);
	fd = openat(AT_FDCWD, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600);
	bad |= (fd < 0) << 3;
	kk_close(fd);
	/* 1: ... but not one that a group or others (an ACL) may read */
	snprintf(path, sizeof(path), "%s/shared", dir);
	fd = openat(AT_FDCWD, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0640);
	bad |= (fd >= 0 || errno != EACCES) << 1;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0604);
	bad |= (fd >= 0 || errno != EACCES) << 1;
	/* 4: a request not in the list: refused by the filter (EPERM), not
	 * the kernel's ESRCH for a process this one does not trace */
	bad |= (ptrace(PTRACE_POKEDATA, getppid(), NULL, NULL) != -1 ||
	    errno != EPERM) << 4;
	/* 5: one in the list reaches the kernel (not tracing itself: ESRCH) */
	bad |= (ptrace(PTRACE_DETACH, getpid(), NULL, NULL) != -1 ||
	    errno != ESRCH) << 5;
	/* 6: ... but never for the parent (it could stop it) */
	bad |= (ptrace(PTRACE_SEIZE, getppid(), NULL, NULL) != -1 ||
	    errno != EPERM) << 6;
	/* 6: nor is any memory read with process_vm_readv: not the
	 * parent's (it holds the agent's key), nor its own */
	local = (struct iovec){ &byte, 1 };
	remote = (struct iovec){ &byte, 1 };
	bad |= (process_vm_readv(getppid(), &local, 1, &remote, 1, 0) != -1 ||
	    errno != EPERM) << 6;
	bad |= (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != -1 ||
	    errno != EPERM) << 6;
	return bad;
}

START_TEST(test_worker_cannot_write_memory)
{
	char dir[PATH_MAX], path[PATH_MAX + 16];
	pid_t pid;
	int st;

	kk_test_workdir(dir);
	snprintf(path, sizeof(path), "%s/old", dir);
	write_text(path, PRECIOUS);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(confined_checks(dir));
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st), "the confined child was killed "
	    "(status %#x): a rule let a call fall through", st);
	ck_assert_msg(WEXITSTATUS(st) == 0, "checks failed: %#x",
	    WEXITSTATUS(st));
	ck_assert_int_eq(size_of(path), (off_t)strlen(PRECIOUS));
}
END_TEST

/*
 * A snapshot worker's kcmp(2) rule: KCMP_VM, which says whether two
 * processes share their memory, reaches the kernel (the twin check asks
 * it); every other type is refused (EPERM), although here the call
 * itself is allowed (confine_by_rules).  In a child: bit n of the exit
 * status is check n failing.
 */
static int
confined_kcmp(void)
{
	struct kk_seccomp_rules rules = { .kcmp_vm = true };
	long r;
	int bad = 0;

	if (confine_by_rules(&rules) < 0)
		return 1 << 7;
	/* 0: this process and itself share their memory: 0 */
	bad |= (syscall(SYS_kcmp, getpid(), getpid(), KCMP_VM, 0UL, 0UL) !=
	    0) << 0;
	/* 1: this process and its parent do not (1 or 2 by their order) */
	r = syscall(SYS_kcmp, getpid(), getppid(), KCMP_VM, 0UL, 0UL);
	bad |= (r != 1 && r != 2) << 1;
	/* 2: its own descriptor 0 against itself, which the kernel would
	 * answer 0: refused by the rule */
	r = syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, 0UL, 0UL);
	bad |= (r != -1 || errno != EPERM) << 2;
	/* 3: nor are namespaces or I/O contexts compared */
	r = syscall(SYS_kcmp, getpid(), getppid(), KCMP_IO, 0UL, 0UL);
	bad |= (r != -1 || errno != EPERM) << 3;
	return bad;
}

/*
 * A collect worker's socket(2) rule: netlink of the three protocols its
 * dumps use reaches the kernel; every other domain or protocol is
 * refused (EPERM), although here the call itself is allowed
 * (confine_by_rules): a worker taken over carries nothing off.  In a
 * child: bit n of the exit status is check n failing.
 */
static int
confined_sockets(void)
{
	static const int ok[] = { NETLINK_ROUTE, NETLINK_SOCK_DIAG,
	    NETLINK_NETFILTER };
	struct kk_seccomp_rules rules = { .netlink_only = true };
	int calls[450], n = 0, bad = 0, fd, nr;
	size_t i;

	/*
	 * Every call but those whose numbers are the three protocols: a
	 * rule that left the protocol where the call's number belongs
	 * would not find socket(2) in the list, and the child is killed.
	 */
	for (nr = 0; nr < 450; nr++)
		if (nr != NETLINK_ROUTE && nr != NETLINK_SOCK_DIAG &&
		    nr != NETLINK_NETFILTER)
			calls[n++] = nr;
	if (kk_seccomp_install_rules(calls, (size_t)n, NULL, 0, false,
	    &rules) < 0)
		return 1 << 7;
	/* 0: the dumps' netlink protocols reach the kernel (which may
	 * lack one: anything but the filter's EPERM) */
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, ok[i]);
		bad |= (fd < 0 && errno == EPERM) << 0;
		kk_close(fd);
	}
	/* 1: UDP and TCP, over IPv4 and IPv6 */
	bad |= (socket(AF_INET, SOCK_DGRAM, 0) != -1 || errno != EPERM) << 1;
	bad |= (socket(AF_INET6, SOCK_STREAM, 0) != -1 || errno != EPERM) << 1;
	/* 2: a local socket (a daemon's, to hand it on), a packet socket */
	bad |= (socket(AF_UNIX, SOCK_STREAM, 0) != -1 || errno != EPERM) << 2;
	bad |= (socket(AF_PACKET, SOCK_RAW, 0) != -1 || errno != EPERM) << 2;
	/* 3: another netlink protocol (uevents, audit) */
	bad |= (socket(AF_NETLINK, SOCK_RAW, NETLINK_KOBJECT_UEVENT) != -1 ||
	    errno != EPERM) << 3;
	bad |= (socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT) != -1 ||
	    errno != EPERM) << 3;
	return bad;
}

/* Whether this process has capability cap in its effective set. */
static bool
has_cap(int cap)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2] = { { 0 } };

	if (syscall(SYS_capget, &h, d) < 0)
		return false;
	return (d[cap / 32].effective >> (cap % 32)) & 1;
}

/*
 * Collect drops CAP_NET_ADMIN once the ruleset is read (preserve_worker.c):
 * what needs it is refused after, the other capabilities stay.  As root,
 * in a child: bit n of the exit status is check n failing.
 */
static int
dropped_net_admin(void)
{
	int bad = 0, fd, size = 1 << 20;

	/* 6: root to begin with (CI is): the check would prove nothing */
	if (!has_cap(CAP_NET_ADMIN) || !has_cap(CAP_DAC_READ_SEARCH))
		return 1 << 6;
	/* 0: before, a forced receive buffer (CAP_NET_ADMIN) is taken */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bad |= (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size,
	    sizeof(size)) != 0) << 0;
	/* 1: the drop */
	bad |= (kk_sandbox_drop_cap(CAP_NET_ADMIN) != 0) << 1;
	/* 2: after, refused, and not in the effective set */
	bad |= (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size,
	    sizeof(size)) != -1 || errno != EPERM) << 2;
	bad |= has_cap(CAP_NET_ADMIN) << 2;
	/* 3: the others stay */
	bad |= !has_cap(CAP_DAC_READ_SEARCH) << 3;
	/* 4: and it cannot be taken back */
	{
		struct __user_cap_header_struct h = {
			.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
		struct __user_cap_data_struct d[2] = { { 0 } };

		syscall(SYS_capget, &h, d);
		d[CAP_NET_ADMIN / 32].effective |= 1u << (CAP_NET_ADMIN % 32);
		d[CAP_NET_ADMIN / 32].permitted |= 1u << (CAP_NET_ADMIN % 32);
		bad |= (syscall(SYS_capset, &h, d) != -1) << 4;
		bad |= has_cap(CAP_NET_ADMIN) << 4;
	}
	close(fd);
	return bad;
}

/* checks() in a child of its own: it exits with 0 if every check held */
static void
in_child(int (*checks)(void))
{
	pid_t pid;
	int st;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(checks());
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st), "the confined child was killed "
	    "(status %#x)", st);
	ck_assert_msg(WEXITSTATUS(st) == 0, "checks failed: %#x",
	    WEXITSTATUS(st));
}

START_TEST(test_worker_kcmp_vm_only)
{
	in_child(confined_kcmp);
}
END_TEST

START_TEST(test_worker_sockets_netlink_only)
{
	in_child(confined_sockets);
}
END_TEST

START_TEST(test_collect_drops_net_admin)
{
	in_child(dropped_net_admin);
}
END_TEST

/*
 * The resolver child's filter of denials (kk_seccomp_deny_others): every
 * call runs but those that reach another process.  Signal 0 and reads
 * only, so that a filter that let one through harms nothing here.  In a
 * child: bit n of the exit status is check n failing.
 */
static int
denied_checks(void)
{
	pid_t self = getpid(), other = getppid();
	struct iovec local, remote;
	struct sched_param sp;
	struct rlimit lim;
	siginfo_t si;
	char byte = 0;
	int bad = 0, fd, prio;

	if (kk_seccomp_deny_others(self) < 0)
		return 1 << 7;
	/* 0: signals to itself still go (raise, pthread_kill) */
	bad |= (kill(self, 0) != 0 || syscall(SYS_tgkill, self, self, 0) !=
	    0) << 0;
	/* 1: to another process of any kind, or its group, not */
	bad |= (kill(other, 0) != -1 || errno != EPERM) << 1;
	bad |= (kill(0, 0) != -1 || errno != EPERM) << 1;
	bad |= (syscall(SYS_tgkill, other, other, 0) != -1 ||
	    errno != EPERM) << 1;
	memset(&si, 0, sizeof(si));
	si.si_code = SI_QUEUE;
	bad |= (syscall(SYS_rt_sigqueueinfo, other, 0, &si) != -1 ||
	    errno != EPERM) << 1;
	/* 2: tkill names a thread of anyone: not at all */
	bad |= (syscall(SYS_tkill, self, 0) != -1 || errno != EPERM) << 2;
	/* 3: tracing, reading another's memory, comparing with it */
	bad |= (ptrace(PTRACE_PEEKDATA, other, NULL, NULL) != -1 ||
	    errno != EPERM) << 3;
	local = (struct iovec){ &byte, 1 };
	remote = (struct iovec){ &byte, 1 };
	bad |= (process_vm_readv(other, &local, 1, &remote, 1, 0) != -1 ||
	    errno != EPERM) << 3;
	bad |= (syscall(SYS_kcmp, self, other, KCMP_VM, 0UL, 0UL) != -1 ||
	    errno != EPERM) << 3;
#ifdef SYS_pidfd_open
	/* 4: nor a pidfd, to signal it by */
	bad |= (syscall(SYS_pidfd_open, other, 0) != -1 || errno != EPERM) << 4;
#endif
#ifdef SYS_io_uring_setup
	/* 4: nor a ring, whose operations the filter would not see (a NULL
	 * params: the kernel's answer would be EFAULT) */
	bad |= (syscall(SYS_io_uring_setup, 1, NULL) != -1 ||
	    errno != EPERM) << 4;
#endif
	/* 5: what an NSS module does still works, its own limits too */
	fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
	bad |= (fd < 0) << 5;
	kk_close(fd);
	bad |= (prlimit(0, RLIMIT_NOFILE, NULL, &lim) != 0 ||
	    prlimit(self, RLIMIT_NOFILE, NULL, &lim) != 0) << 5;
	/* 6: another's limits, scheduling or priority: not even to read, as
	 * prlimit could set them (values as they are, to change nothing) */
	bad |= (prlimit(other, RLIMIT_NOFILE, NULL, &lim) != -1 ||
	    errno != EPERM) << 6;
	memset(&sp, 0, sizeof(sp));
	bad |= (sched_getparam(other, &sp) != 0 ||
	    sched_setparam(other, &sp) != -1 || errno != EPERM) << 6;
	errno = 0;
	prio = getpriority(PRIO_PROCESS, (id_t)other);
	bad |= (errno != 0 || setpriority(PRIO_PROCESS, (id_t)other, prio) !=
	    -1 || errno != EPERM) << 6;
	return bad;
}

static void *
thread_echo(void *arg)
{
	return arg;
}

/*
 * ... nor makes a new process (which would not inherit its death signal,
 * and so outlive kakurid), while it still makes threads.
 */
static int
denied_new_process(void)
{
	static int mark;
	void *back = NULL;
	pthread_t t;
	pid_t p;
#ifdef SYS_fork
	long r;
#endif
	int bad = 0;

	if (kk_seccomp_deny_others(getpid()) < 0)
		return 1 << 7;
	/* 0: fork(2), as the C library makes it (clone without CLONE_THREAD) */
	if ((p = fork()) == 0)
		_exit(0);
	if (p > 0)
		waitpid(p, NULL, 0);
	bad |= (p != -1 || errno != EPERM) << 0;
#ifdef SYS_fork
	/* 1: the old calls too */
	if ((r = syscall(SYS_fork)) == 0)
		_exit(0);
	if (r > 0)
		waitpid((pid_t)r, NULL, 0);
	bad |= (r != -1 || errno != EPERM) << 1;
#endif
	/* 3: nor an exec (of a thread, it would drop the death signal):
	 * refused before the kernel would say ENOENT */
	{
		char *const none[] = { NULL };

		bad |= (execve("/nonexistent/kk-test", none, none) != -1 ||
		    errno != EPERM) << 3;
	}
	/* 2: a thread is still made, and runs */
	bad |= (pthread_create(&t, NULL, thread_echo, &mark) != 0 ||
	    pthread_join(t, &back) != 0 || back != &mark) << 2;
	return bad;
}

/*
 * ... nor listens (a port the kernel picks, unbound: Landlock does not
 * see it), nor changes a file's mode, owner, times or attributes (nor
 * does Landlock): on a file of its own, made before the filter.
 */
static char denied_file[PATH_MAX];

static int
denied_ports_and_marks(void)
{
	int bad = 0, fd, s;

	if ((fd = open(denied_file, O_RDONLY | O_CLOEXEC)) < 0 ||
	    kk_seccomp_deny_others(getpid()) < 0)
		return 1 << 7;
	/* 0: listen without bind, accept (which never waits here) */
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	bad |= (s < 0 || listen(s, 1) != -1 || errno != EPERM) << 0;
	bad |= (accept4(s, NULL, NULL, SOCK_CLOEXEC) != -1 ||
	    errno != EPERM) << 0;
	kk_close(s);
	/* 1: the mode, by path and by descriptor */
	bad |= (chmod(denied_file, 0) != -1 || errno != EPERM) << 1;
	bad |= (fchmod(fd, 0) != -1 || errno != EPERM) << 1;
	bad |= (fchmodat(AT_FDCWD, denied_file, 0, 0) != -1 ||
	    errno != EPERM) << 1;
	/* 2: the owner (to itself: allowed but for the filter) */
	bad |= (fchown(fd, getuid(), getgid()) != -1 || errno != EPERM) << 2;
	bad |= (fchownat(AT_FDCWD, denied_file, getuid(), getgid(), 0) !=
	    -1 || errno != EPERM) << 2;
	/* 3: the times */
	bad |= (utimensat(AT_FDCWD, denied_file, NULL, 0) != -1 ||
	    errno != EPERM) << 3;
	bad |= (futimens(fd, NULL) != -1 || errno != EPERM) << 3;
	/* 4: extended attributes */
	bad |= (fsetxattr(fd, "user.kk", "x", 1, 0) != -1 ||
	    errno != EPERM) << 4;
	bad |= (removexattr(denied_file, "user.kk") != -1 ||
	    errno != EPERM) << 4;
	/* 5: reading it, as a module reads its files, still works */
	bad |= (fstat(fd, &(struct stat){ 0 }) != 0) << 5;
	close(fd);
	return bad;
}

/*
 * A descriptor's SIGIO aimed at another process (the parent here, which
 * no signal reaches: nothing is ever written to the pipe): its owner,
 * its signal and its asynchronous mode are refused by every filter, by
 * fcntl(2) and, where a filter allows ioctl(2), by ioctl; what the
 * children do with fcntl still runs.  A taken-over child of agent.user's
 * uid would otherwise kill its siblings: the kernel lets one owner be
 * any process of the same uid.  Bit n of the result is check n failing.
 */
static int
sigio_refused(int (*confine)(void), bool ioctls)
{
	struct f_owner_ex ex = { F_OWNER_PID, getppid() };
	int fds[2], bad = 0, fl, pid = getppid(), one = 1;

	if (pipe2(fds, O_CLOEXEC) != 0 || (fl = fcntl(fds[0], F_GETFL)) < 0 ||
	    confine() < 0)
		return 1 << 7;
	/* 0: the owner */
	bad |= (fcntl(fds[0], F_SETOWN, pid) != -1 || errno != EPERM) << 0;
	bad |= (fcntl(fds[0], F_SETOWN_EX, &ex) != -1 || errno != EPERM) << 0;
	/* 1: the signal, the asynchronous mode */
	bad |= (fcntl(fds[0], F_SETSIG, SIGKILL) != -1 || errno != EPERM) << 1;
	bad |= (fcntl(fds[0], F_SETFL, fl | O_ASYNC) != -1 ||
	    errno != EPERM) << 1;
	/* 2: the same by ioctl */
	if (ioctls) {
		bad |= (ioctl(fds[0], FIOSETOWN, &pid) != -1 ||
		    errno != EPERM) << 2;
		bad |= (ioctl(fds[0], SIOCSPGRP, &pid) != -1 ||
		    errno != EPERM) << 2;
		bad |= (ioctl(fds[0], FIOASYNC, &one) != -1 ||
		    errno != EPERM) << 2;
	}
	/* 3: non-blocking, close-on-exec, no owner: as before */
	bad |= (fcntl(fds[0], F_SETFL, fl | O_NONBLOCK) != 0 ||
	    fcntl(fds[0], F_SETFD, FD_CLOEXEC) != 0 ||
	    fcntl(fds[0], F_GETOWN) != 0 ||
	    (fcntl(fds[0], F_GETFL) & O_ASYNC) != 0) << 3;
	close(fds[0]);
	close(fds[1]);
	return bad;
}

static int
allow_list_all(void)
{
	struct kk_seccomp_rules none = { 0 };

	return confine_by_rules(&none);
}

static int
deny_list(void)
{
	return kk_seccomp_deny_others(getpid());
}

static int
child_list(void)
{
	return kk_child_seccomp(true);
}

static int
sigio_allow_list(void)
{
	return sigio_refused(allow_list_all, true);
}

static int
sigio_deny_list(void)
{
	return sigio_refused(deny_list, true);
}

/*
 * The network child's, the courier's, the fleet child's: no ioctl(2).
 * Its exit is the system call itself: the sanitizers' _exit(2) (a leak
 * check) makes calls the children's list does not have.
 */
static int
sigio_child_list(void)
{
	syscall(SYS_exit_group, sigio_refused(child_list, false));
	return 1 << 7;
}

START_TEST(test_no_sigio_to_another_process)
{
	in_child(sigio_allow_list);
	in_child(sigio_deny_list);
	in_child(sigio_child_list);
}
END_TEST

START_TEST(test_resolver_reaches_no_other_process)
{
	struct stat st;

	in_child(denied_checks);
	in_child(denied_new_process);
	kk_test_workdir(denied_file);
	strncat(denied_file, "/own", sizeof(denied_file) - strlen(denied_file)
	    - 1);
	write_text(denied_file, PRECIOUS);
	ck_assert_int_eq(chmod(denied_file, 0640), 0);
	in_child(denied_ports_and_marks);
	ck_assert_int_eq(stat(denied_file, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0640);
}
END_TEST

/*
 * Every child dies with kakurid (PR_SET_PDEATHSIG, set before its
 * filter); one taken over that cleared it would outlive a kakurid that
 * was killed, with the sockets and keys it was given.  No filter lets
 * that be cleared or changed, even where prctl(2) is allowed; prctl's
 * other uses still work.  Bit n of the result is check n failing.
 */
static int
deathsig_kept(void)
{
	char name[16];
	int sig = 0, bad = 0;

	/* 0: neither cleared nor changed to a signal that can be caught */
	bad |= (prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0) != -1 ||
	    errno != EPERM) << 0;
	bad |= (prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0) != -1 ||
	    errno != EPERM) << 0;
	/* 1: it is still SIGKILL */
	bad |= (prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0) != 0 ||
	    sig != SIGKILL) << 1;
	/* 2: a thread's name is still set, and read */
	bad |= (prctl(PR_SET_NAME, "kk-test", 0, 0, 0) != 0 ||
	    prctl(PR_GET_NAME, name, 0, 0, 0) != 0 ||
	    strcmp(name, "kk-test") != 0) << 2;
	return bad;
}

/* an allow-list filter that allows prctl(2) (kk_child_seccomp's do) */
static int
deathsig_allow_list(void)
{
	struct kk_seccomp_rules none = { 0 };

	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 ||
	    confine_by_rules(&none) < 0)
		return 1 << 7;
	return deathsig_kept();
}

/* the resolver's filter of denials */
static int
deathsig_deny_list(void)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 ||
	    kk_seccomp_deny_others(getpid()) < 0)
		return 1 << 7;
	return deathsig_kept();
}

/*
 * An evidence worker (kk_sandbox_enter with a parent): the death signal
 * is set by the sandbox itself, after the change of identity that would
 * clear it and before the filter that keeps it.
 */
static int
deathsig_sandbox(void)
{
	int calls[450], i;
	struct kk_sandbox sb;

	for (i = 0; i < (int)(sizeof(calls) / sizeof(calls[0])); i++)
		calls[i] = i;
	memset(&sb, 0, sizeof(sb));
	sb.allowed = calls;
	sb.nallowed = sizeof(calls) / sizeof(calls[0]);
	sb.parent = getppid();
	if (prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0) != 0 ||
	    kk_sandbox_enter(&sb) < 0)
		return 1 << 7;
	return deathsig_kept();
}

/*
 * Landlock (kk_landlock_read_only): the resolver writes nothing, so a
 * module taken over can neither fill a disk nor plant a file where
 * agent.user may write.  landlock_dir has a file "old".  Bit n of the
 * result is check n failing.
 */
static char landlock_dir[PATH_MAX];
/* an abstract socket the test listens on, outside the child's domain */
static struct sockaddr_un landlock_abstract;
static socklen_t landlock_abstract_len;

static int
landlock_checks(void)
{
	char path[PATH_MAX + 32];
	int fd, bad = 0;

	if (kk_landlock_read_only() < 0)
		return 1 << 7;
	/* 0: no new file, directory or link */
	snprintf(path, sizeof(path), "%s/planted", landlock_dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	bad |= (fd >= 0 || errno != EACCES) << 0;
	kk_close(fd);
	snprintf(path, sizeof(path), "%s/dir", landlock_dir);
	bad |= (mkdir(path, 0700) != -1 || errno != EACCES) << 0;
	bad |= (symlinkat("/etc/passwd", AT_FDCWD, path) != -1 ||
	    errno != EACCES) << 0;
	/* 1: an existing file is not written, truncated or removed */
	snprintf(path, sizeof(path), "%s/old", landlock_dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	bad |= (fd >= 0 || errno != EACCES) << 1;
	kk_close(fd);
	if (kk_landlock_abi() >= 3)
		bad |= (truncate(path, 0) != -1 || errno != EACCES) << 1;
	bad |= (unlink(path) != -1 || errno != EACCES) << 1;
	/* 2: but it is read, as NSS modules read their files */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	bad |= (fd < 0) << 2;
	kk_close(fd);
	/* 3: what was open for writing before still writes, and /dev/null
	 * is opened for writing, as libraries do */
	bad |= (write(2, "", 0) != 0) << 3;
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	bad |= (fd < 0 || write(fd, "x", 1) != 1) << 3;
	kk_close(fd);
	/* 4: no TCP port to listen on (ABI 4), no abstract socket of
	 * another's (ABI 6) nor a signal to one, while a socket is made */
	if (kk_landlock_abi() >= 4) {
		struct sockaddr_in in = { .sin_family = AF_INET,
			.sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bad |= (fd < 0 || bind(fd, (struct sockaddr *)&in,
		    sizeof(in)) != -1 || errno != EACCES) << 4;
		kk_close(fd);
	}
	if (kk_landlock_abi() >= 6) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bad |= (fd < 0 || connect(fd, (struct sockaddr *)&landlock_abstract,
		    landlock_abstract_len) != -1 || errno != EPERM) << 5;
		kk_close(fd);
		bad |= (kill(getppid(), 0) != -1 || errno != EPERM) << 5;
	}
	return bad;
}

START_TEST(test_resolver_writes_nothing)
{
	char path[PATH_MAX + 16];
	int abi = kk_landlock_abi(), lsock, n;

	/* not skipped: a kernel without it is said, and fails here */
	ck_assert_msg(abi >= 1, "this kernel has no Landlock (%s): the "
	    "resolver would write anywhere agent.user may", strerror(-abi));
	kk_test_workdir(landlock_dir);
	snprintf(path, sizeof(path), "%s/old", landlock_dir);
	write_text(path, PRECIOUS);
	/* one the child would reach but for its domain */
	lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(lsock, 0);
	landlock_abstract.sun_family = AF_UNIX;
	n = snprintf(landlock_abstract.sun_path + 1,
	    sizeof(landlock_abstract.sun_path) - 1, "kk-test-%d", (int)getpid());
	landlock_abstract_len = (socklen_t)(offsetof(struct sockaddr_un,
	    sun_path) + 1 + (size_t)n);
	ck_assert_int_eq(bind(lsock, (struct sockaddr *)&landlock_abstract,
	    landlock_abstract_len), 0);
	ck_assert_int_eq(listen(lsock, 4), 0);
	in_child(landlock_checks);
	close(lsock);
	ck_assert_int_eq(size_of(path), (off_t)strlen(PRECIOUS));
	/* what kakurid says at start: nothing where all is refused */
	{
		char why[160];
		const char *gaps = kk_landlock_read_only_gaps(why,
		    sizeof(why));

		if (abi >= 6)
			ck_assert_ptr_null(gaps);
		else
			ck_assert(gaps != NULL && strstr(gaps, "abstract"));
	}
}
END_TEST

START_TEST(test_children_keep_their_death_signal)
{
	in_child(deathsig_allow_list);
	in_child(deathsig_deny_list);
	/* securebits and capabilities are root's to set: CI runs as root */
	if (geteuid() == 0)
		in_child(deathsig_sandbox);
	else
		fprintf(stderr, "preserve: not root: the evidence worker's "
		    "death signal (kk_sandbox_enter) is not tried\n");
}
END_TEST

#ifdef __X32_SYSCALL_BIT
/* A call of the x32 ABI has other numbers: it kills, not slips past. */
START_TEST(test_resolver_x32_call_kills)
{
	pid_t pid;
	int st;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (kk_seccomp_deny_others(getpid()) < 0)
			_exit(2);
		syscall(__X32_SYSCALL_BIT | SYS_kill, getppid(), 0);
		_exit(1);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS,
	    "the x32 call was not killed (status %#x)", st);
}
END_TEST
#define X32_TESTS	KK_TEST(test_resolver_x32_call_kills),
#else
#define X32_TESTS	/* no other ABI shares this one's audit arch */
#endif

/* an artifact line with n gaps, the why of each why */
static char *
gaps_line(const char *path, size_t n, const char *why)
{
	size_t cap = 256 + n * (64 + strlen(why)), i;
	char *t = malloc(cap), *p;

	ck_assert_ptr_nonnull(t);
	p = t + sprintf(t, "{\"artifact\":{\"path\":\"%s\",\"sha256\":\""
	    SHA0 "\",\"size\":0,\"gaps\":[", path);
	for (i = 0; i < n; i++)
		p += sprintf(p, "%s{\"offset\":%zu,\"length\":4096,"
		    "\"why\":\"%s\"}", i ? "," : "", i * 8192, why);
	strcpy(p, "]}}");
	return t;
}

/*
 * A compromised worker (it parses the attacker's files) says what it
 * likes: the parent keeps its gaps only as artifact.c makes them, at
 * most 4,096 an artifact and 65,536 in all; more, or other shapes, and
 * the worker is not believed.
 */
START_TEST(test_worker_gaps_bounded)
{
	static const char *const shapes[] = {
		"[{\"offset\":1,\"length\":2,\"why\":\"x\",\"more\":1}]",
		"[{\"offset\":\"1\",\"length\":2,\"why\":\"x\"}]",
		"[{\"offset\":1,\"length\":2}]",
		"[1]",
		"{\"offset\":1}",
	};
	char why[KD_JOB_GAP_WHY_MAX + 2], text[512], *t;
	struct fixture f;
	size_t i;

	fixture(&f);
	/* 4,096 pass, 4,097 do not */
	t = gaps_line("pid-1/core", KD_JOB_GAPS_MAX, "unreadable");
	line(&f.j, t);
	free(t);
	ck_assert(!f.j.bad);
	ck_assert_uint_eq(f.j.arts.n, 1);
	t = gaps_line("pid-2/core", KD_JOB_GAPS_MAX + 1, "unreadable");
	line(&f.j, t);
	free(t);
	ck_assert(f.j.bad);
	ck_assert_uint_eq(f.j.arts.n, 1);
	/* a why of 201 characters */
	f.j.bad = false;
	memset(why, 'w', sizeof(why) - 1);
	why[sizeof(why) - 1] = '\0';
	t = gaps_line("pid-3/core", 1, why);
	line(&f.j, t);
	free(t);
	ck_assert(f.j.bad);
	/* other shapes */
	for (i = 0; i < KK_NITEMS(shapes); i++) {
		f.j.bad = false;
		snprintf(text, sizeof(text), "{\"artifact\":{\"path\":"
		    "\"pid-4/core\",\"sha256\":\"" SHA0 "\",\"size\":0,"
		    "\"gaps\":%s}}", shapes[i]);
		line(&f.j, text);
		ck_assert_msg(f.j.bad, "gaps %s taken", shapes[i]);
	}
	ck_assert_uint_eq(f.j.arts.n, 1);
	/*
	 * 65,536 kept in all (512 processes could have two million): 15
	 * more of 4,096 keep theirs; the 17th is taken, its gaps left out
	 * and said to be, and not made incomplete (its file is whole, and
	 * a full disk empties what is incomplete)
	 */
	f.j.bad = false;
	for (i = 0; i < KD_JOB_GAPS_TOTAL / KD_JOB_GAPS_MAX; i++) {
		snprintf(text, sizeof(text), "pid-%zu/core", 10 + i);
		t = gaps_line(text, KD_JOB_GAPS_MAX, "unreadable");
		line(&f.j, t);
		free(t);
		ck_assert_msg(!f.j.bad, "artifact %zu", i);
	}
	ck_assert_uint_eq(f.j.arts.n, KD_JOB_GAPS_TOTAL / KD_JOB_GAPS_MAX + 1);
	ck_assert(!f.j.arts.v[f.j.arts.n - 2].incomplete);
	ck_assert_uint_eq(json_array_size(f.j.arts.v[f.j.arts.n - 2].gaps),
	    KD_JOB_GAPS_MAX);
	ck_assert(!f.j.arts.v[f.j.arts.n - 1].incomplete);
	ck_assert_ptr_null(f.j.arts.v[f.j.arts.n - 1].gaps);
	ck_assert_ptr_nonnull(strstr(f.j.arts.v[f.j.arts.n - 1].error,
	    "gaps are not listed"));
	kk_artifacts_free(&f.j.arts);
}
END_TEST

/*
 * Its last line's errors reach the receipt, the audit log and the
 * journal: strings only, at most KD_JOB_ERRORS_MAX, cleaned and cut.
 */
START_TEST(test_worker_errors_cleaned)
{
	struct fixture f;
	const char *e;
	char *t, *p;
	size_t i;

	fixture(&f);
	line(&f.j, "{\"end\":{\"code\":-5,\"errors\":[\"pid 7: \\u001b[2J"
	    "gone\\nFAKE audit line\"]}}");
	ck_assert(!f.j.bad);
	ck_assert(f.j.ended);
	e = json_string_value(json_array_get(f.j.errors, 0));
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_null(strchr(e, '\x1b'));
	ck_assert_ptr_null(strchr(e, '\n'));
	ck_assert_ptr_nonnull(strstr(e, "gone"));
	/* a second last line of the same worker is not one of ours */
	line(&f.j, "{\"end\":{\"code\":0,\"errors\":[\"again\"]}}");
	ck_assert(f.j.bad);
	ck_assert_uint_eq(json_array_size(f.j.errors), 1);
	ck_assert_int_eq(f.j.code, -5);
	/*
	 * the next worker of the job (collect's second): its errors after
	 * the first's, the first's code kept
	 */
	f.j.bad = f.j.ended = false;
	line(&f.j, "{\"end\":{\"code\":-2,\"errors\":[\"second\"]}}");
	ck_assert(!f.j.bad);
	ck_assert_uint_eq(json_array_size(f.j.errors), 2);
	ck_assert_str_eq(json_string_value(json_array_get(f.j.errors, 1)),
	    "second");
	ck_assert_int_eq(f.j.code, -5);
	json_decref(f.j.errors);
	f.j.errors = NULL;
	f.j.ended = false;
	/* long: cut */
	t = malloc(8192);
	ck_assert_ptr_nonnull(t);
	p = t + sprintf(t, "{\"end\":{\"code\":-5,\"errors\":[\"");
	memset(p, 'e', 5000);
	strcpy(p + 5000, "\"]}}");
	line(&f.j, t);
	ck_assert(!f.j.bad);
	ck_assert_uint_lt(strlen(json_string_value(json_array_get(f.j.errors,
	    0))), KD_JOB_ERROR_LEN);
	free(t);
	f.j.ended = false;
	/* not a string; too many */
	line(&f.j, "{\"end\":{\"code\":-5,\"errors\":[{\"x\":1}]}}");
	ck_assert(f.j.bad);
	f.j.bad = false;
	t = malloc(16 * (KD_JOB_ERRORS_MAX + 2) + 64);
	ck_assert_ptr_nonnull(t);
	p = t + sprintf(t, "{\"end\":{\"code\":-5,\"errors\":[");
	for (i = 0; i <= KD_JOB_ERRORS_MAX; i++)
		p += sprintf(p, "%s\"e%zu\"", i ? "," : "", i);
	strcpy(p, "]}}");
	line(&f.j, t);
	free(t);
	ck_assert(f.j.bad);
	json_decref(f.j.errors);
}
END_TEST

/*
 * A worker that keeps its pipe full: each wake-up of the loop reads at
 * most KD_JOB_READS_PER_WAKE times (the loop serves the rest between),
 * and past its output in all the worker is not believed (here lowered to
 * 512 KiB; no pid, so nothing is killed).
 */
START_TEST(test_worker_output_bounded)
{
	static const char one[] = "{\"begin\":\"pid-1/core\"}\n";
	size_t saved = pv_job_output_max, n, total = 0, chunk = 1 << 16;
	int p[2], left = 0, before, rounds;
	struct fixture f;
	char *buf;

	fixture(&f);
	ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	ck_assert_int_ge(fcntl(p[1], F_SETPIPE_SZ, 1 << 20), 1 << 20);
	buf = malloc(chunk);
	ck_assert_ptr_nonnull(buf);
	for (n = 0; n + sizeof(one) - 1 <= chunk; n += sizeof(one) - 1)
		memcpy(buf + n, one, sizeof(one) - 1);
	/* 1 MiB of whole lines, less what does not fit a chunk */
	while (total + n <= (1 << 20) && write(p[1], buf, n) == (ssize_t)n)
		total += n;
	ck_assert_uint_gt(total, 900 << 10);
	f.j.fd = p[0];
	pv_job_output_max = 512 << 10;
	ck_assert_int_eq(ioctl(p[0], FIONREAD, &before), 0);
	pv_job_read(&f.j);
	ck_assert_int_eq(ioctl(p[0], FIONREAD, &left), 0);
	ck_assert_int_le(before - left, KD_JOB_READS_PER_WAKE * 65536);
	ck_assert_int_gt(left, 0);
	ck_assert(!f.j.bad && !f.j.eof);
	ck_assert_str_eq(f.j.current, "pid-1/core");
	for (rounds = 0; rounds < 64 && !f.j.bad; rounds++)
		pv_job_read(&f.j);
	ck_assert(f.j.bad);
	ck_assert_uint_gt(f.j.received, 512 << 10);
	ck_assert_uint_le(f.j.received, (512 << 10) + 65536);
	pv_job_output_max = saved;
	close(p[0]);
	close(p[1]);
	free(buf);
	free(f.j.buf);
}
END_TEST

KK_SUITE(preserve_suite, "preserve",
	KK_CASE("worker", KK_TMPDIR, 10),
	    KK_TEST(test_artifact_path_escaping_is_refused),
	    KK_TEST(test_begun_path_escaping_is_refused),
	    KK_TEST(test_line_of_many_values_is_refused),
	    KK_TEST(test_worker_gaps_bounded),
	    KK_TEST(test_worker_errors_cleaned),
	    KK_TEST(test_worker_output_bounded),
	    KK_TEST(test_worker_links_are_not_followed),
	    KK_TEST(test_unstarted_artifact_is_noted),
	    KK_TEST(test_worker_cannot_write_memory),
	    KK_TEST(test_worker_kcmp_vm_only),
	    KK_TEST(test_worker_sockets_netlink_only),
	    KK_TEST(test_collect_drops_net_admin),
	    X32_TESTS
	    KK_TEST(test_resolver_reaches_no_other_process),
	    KK_TEST(test_no_sigio_to_another_process),
	    KK_TEST(test_children_keep_their_death_signal),
	    KK_TEST(test_resolver_writes_nothing))
