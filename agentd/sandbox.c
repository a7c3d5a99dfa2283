/*
 * Confinement of kakurid's children (see sandbox.h).
 *
 * A child forked by the root parent starts with everything the parent
 * has: every capability, the audit log, the netlink socket that owns the
 * nftables table, the control connections, the epoll instance, and the
 * parent's memory.  What such a child works on can be hostile (a process
 * being snapshotted, a file being hashed, a peer on the network), so it
 * keeps only what its job needs:
 *
 *  - file descriptors: the ones named, renumbered from 3; 0-2 are
 *    /dev/null, so nothing written "to stderr" lands in a file;
 *  - identity: an unprivileged uid where one is given, so files it may
 *    write are only those that uid may write (root with no capabilities
 *    still owns /etc);
 *  - capabilities: the named ones, in every set; the bounding set and
 *    SECBIT_NOROOT make sure an exec could not give any back;
 *  - system calls: an allow-list; no_new_privs.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/kcmp.h>
#include <linux/securebits.h>
#include <linux/seccomp.h>

#include "sandbox.h"

#define FDS_MAX		16	/* descriptors a child may keep */
#define FILTER_MAX	4096	/* BPF_MAXINSNS */

#if __BYTE_ORDER == __LITTLE_ENDIAN
#define ARG_LOW(i)	offsetof(struct seccomp_data, args[i])
#else
#define ARG_LOW(i)	(offsetof(struct seccomp_data, args[i]) + 4)
#endif
#define ARG0_LOW	ARG_LOW(0)
#if defined(__x86_64__) && !defined(__X32_SYSCALL_BIT)
#error "x86-64 without __X32_SYSCALL_BIT: kk_seccomp_deny_others needs it"
#endif
#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define STMT(code, k)	((struct sock_filter)BPF_STMT(code, k))
#define JUMP(code, k, jt, jf) \
	((struct sock_filter)BPF_JUMP(code, k, jt, jf))

/*
 * nr(flags in argument arg): reading without truncating, or creating a
 * new file (O_CREAT|O_EXCL), else EACCES.  10 instructions.
 */
static size_t
rule_create_only(struct sock_filter *f, int nr, unsigned arg)
{
	size_t k = 0;

	f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 9);
	f[k++] = STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LOW(arg));
	f[k++] = STMT(BPF_ALU | BPF_AND | BPF_K, O_ACCMODE | O_TRUNC);
	f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1);
	f[k++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[k++] = STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LOW(arg));
	f[k++] = STMT(BPF_ALU | BPF_AND | BPF_K, O_CREAT | O_EXCL);
	f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, O_CREAT | O_EXCL, 0, 1);
	f[k++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f[k++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES);
	return k;
}

/*
 * ptrace(request, pid, ...): one of req[], and not of pid keep (0: any
 * pid), else EPERM.  n + 7 instructions.
 */
static size_t
rule_ptrace(struct sock_filter *f, const unsigned *req, size_t n,
    pid_t keep)
{
	size_t k = 0, i;

	f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ptrace, 0,
	    (unsigned char)(n + 6));
	f[k++] = STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LOW(0));
	for (i = 0; i < n; i++)
		f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, req[i],
		    (unsigned char)(n - i), 0);
	f[k++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
	f[k++] = STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LOW(1));
	f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)keep, 0, 1);
	f[k++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
	f[k++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	return k;
}

/*
 * kcmp(pid1, pid2, type, ...): only type KCMP_VM, which says whether two
 * processes share their memory and nothing about what is in it; other
 * types (files, file descriptors, I/O, namespaces) EPERM.  5.
 */
static size_t
rule_kcmp_vm(struct sock_filter *f)
{
	size_t k = 0;

	f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_kcmp, 0, 4);
	f[k++] = STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LOW(2));
	f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, KCMP_VM, 1, 0);
	f[k++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
	f[k++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	return k;
}

/* process_vm_readv(pid, ...): not of pid keep, else EPERM.  5. */
static size_t
rule_vm_read(struct sock_filter *f, pid_t keep)
{
	size_t k = 0;

	f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_process_vm_readv, 0, 4);
	f[k++] = STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LOW(0));
	f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)keep, 0, 1);
	f[k++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
	f[k++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	return k;
}

int
kk_seccomp_deny_others(pid_t self)
{
#ifdef KK_AUDIT_ARCH
	/* signals: to self only */
	static const int to_self[] = {
		SYS_kill, SYS_tgkill, SYS_rt_sigqueueinfo,
		SYS_rt_tgsigqueueinfo,
	};
	/*
	 * limits and scheduling: of self (0 or its pid) only; another's could
	 * be cut to no descriptors or SCHED_IDLE without a signal
	 */
	static const int self_or_zero[] = {
		SYS_prlimit64, SYS_sched_setaffinity, SYS_sched_setscheduler,
		SYS_sched_setparam,
#ifdef SYS_sched_setattr
		SYS_sched_setattr,
#endif
	};
	/* reaching into another process, or a pid-less way to signal one */
	static const int never[] = {
		SYS_tkill, SYS_ptrace, SYS_process_vm_readv,
		SYS_process_vm_writev, SYS_kcmp,
		/* their "who" may be a process group or a user */
		SYS_setpriority, SYS_ioprio_set,
#ifdef SYS_pidfd_open
		SYS_pidfd_open,
#endif
#ifdef SYS_pidfd_send_signal
		SYS_pidfd_send_signal,
#endif
#ifdef SYS_pidfd_getfd
		SYS_pidfd_getfd,
#endif
	};
	struct sock_filter f[8 + 5 * NELEM(to_self) + 6 * NELEM(self_or_zero) +
	    2 * NELEM(never)];
	struct sock_fprog prog;
	size_t i, k = 0;

	f[k++] = STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, arch));
	f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, KK_AUDIT_ARCH, 1, 0);
	f[k++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	f[k++] = STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, nr));
#ifdef __X32_SYSCALL_BIT
	f[k++] = JUMP(BPF_JMP | BPF_JGE | BPF_K, __X32_SYSCALL_BIT, 0, 1);
	f[k++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
#endif
	for (i = 0; i < NELEM(to_self); i++) {
		/* the first argument is a pid_t: its low 32 bits are all */
		f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)to_self[i],
		    0, 4);
		f[k++] = STMT(BPF_LD | BPF_W | BPF_ABS, ARG0_LOW);
		f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)self, 0, 1);
		f[k++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
		f[k++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
	}
	for (i = 0; i < NELEM(self_or_zero); i++) {
		f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K,
		    (unsigned)self_or_zero[i], 0, 5);
		f[k++] = STMT(BPF_LD | BPF_W | BPF_ABS, ARG0_LOW);
		f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0);
		f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)self, 0, 1);
		f[k++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
		f[k++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
	}
	for (i = 0; i < NELEM(never); i++) {
		f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)never[i],
		    0, 1);
		f[k++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
	}
	f[k++] = STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	prog.len = (unsigned short)k;
	prog.filter = f;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -errno;
	return 0;
#else
	(void)self;
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0;
#endif
}

int
kk_seccomp_install(const int *allowed, size_t nallowed,
    const struct kk_seccomp_refusal *refused, size_t nrefused, bool threads)
{
	return kk_seccomp_install_rules(allowed, nallowed, refused, nrefused,
	    threads, NULL);
}

int
kk_seccomp_install_rules(const int *allowed, size_t nallowed,
    const struct kk_seccomp_refusal *refused, size_t nrefused, bool threads,
    const struct kk_seccomp_rules *rules)
{
#ifdef KK_AUDIT_ARCH
	struct sock_filter *f;
	struct sock_fprog prog;
	size_t i, k = 0, n;
	int r;

	/* at most: arch check, rules, allowed, refused, threads, kill */
	n = 4 + 2 * nallowed + 2 * nrefused + (threads ? 7 : 0) + 1;
	if (rules != NULL)
		n += 20 + rules->nptrace_requests + 7 + 5 + 5;
	if (n > FILTER_MAX || (rules != NULL &&
	    rules->nptrace_requests > 200))
		return -E2BIG;
	if ((f = calloc(n, sizeof(*f))) == NULL)
		return -ENOMEM;
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, arch));
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
	    KK_AUDIT_ARCH, 1, 0);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
	    SECCOMP_RET_KILL_PROCESS);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, nr));
	/* each rule returns, or leaves nr loaded as it found it */
	if (rules != NULL && rules->writes_create_only) {
		k += rule_create_only(f + k, SYS_openat, 2);
#ifdef SYS_open
		k += rule_create_only(f + k, SYS_open, 1);
#endif
	}
	if (rules != NULL && rules->ptrace_limited)
		k += rule_ptrace(f + k, rules->ptrace_requests,
		    rules->nptrace_requests, rules->protected_pid);
	if (rules != NULL && rules->protected_pid > 0)
		k += rule_vm_read(f + k, rules->protected_pid);
	if (rules != NULL && rules->kcmp_vm)
		k += rule_kcmp_vm(f + k);
	for (i = 0; i < nallowed; i++) {
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ |
		    BPF_K, (unsigned)allowed[i], 0, 1);
		f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
		    SECCOMP_RET_ALLOW);
	}
	for (i = 0; i < nrefused; i++) {
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ |
		    BPF_K, (unsigned)refused[i].nr, 0, 1);
		f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
		    SECCOMP_RET_ERRNO | ((unsigned)refused[i].err &
		    SECCOMP_RET_DATA));
	}
	if (threads) {
#ifdef SYS_clone3
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ |
		    BPF_K, SYS_clone3, 0, 1);
		f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
		    SECCOMP_RET_ERRNO | ENOSYS);
#endif
		/* clone(flags, ...): a thread, never a new process */
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ |
		    BPF_K, SYS_clone, 0, 3);
		f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    ARG0_LOW);
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET |
		    BPF_K, CLONE_THREAD, 0, 1);
		f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
		    SECCOMP_RET_ALLOW);
		/* the clone that was not a thread falls through to the kill */
		f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
		    SECCOMP_RET_KILL_PROCESS);
	}
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
	    SECCOMP_RET_KILL_PROCESS);
	prog.len = (unsigned short)k;
	prog.filter = f;
	r = 0;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		r = -errno;
	free(f);
	return r;
#else
	(void)allowed;
	(void)nallowed;
	(void)refused;
	(void)nrefused;
	(void)threads;
	(void)rules;
	/* unknown architecture: no-new-privs and the rest still hold */
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0;
#endif
}

/* 0-2 to /dev/null, keep[] to 3.., everything else closed. */
static int
settle_fds(const int *keep, size_t n)
{
	int tmp[FDS_MAX], nul, i, r = 0;

	if (n > FDS_MAX)
		return -E2BIG;
	if ((nul = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
		return -errno;
	/* out of the way first: a kept fd may sit where another goes */
	for (i = 0; i < (int)n; i++) {
		tmp[i] = fcntl(keep[i], F_DUPFD_CLOEXEC, 3 + FDS_MAX + 1);
		if (tmp[i] < 0) {
			r = -errno;
			goto out;
		}
	}
	for (i = 0; i < 3; i++)
		if (dup2(nul, i) < 0) {
			r = -errno;
			goto out;
		}
	for (i = 0; i < (int)n; i++)
		if (dup3(tmp[i], 3 + i, 0) < 0) {
			r = -errno;
			goto out;
		}
	if (close_range(3 + (unsigned)n, ~0U, 0) < 0)
		r = -errno;
	return r;
out:
	close(nul);
	return r;
}

static int
capset_to(uint64_t caps)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2] = { { 0 } };

	d[0].effective = d[0].permitted = (uint32_t)caps;
	d[1].effective = d[1].permitted = (uint32_t)(caps >> 32);
	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	/* what the kernel holds now is what was asked, nothing more */
	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	if ((((uint64_t)d[1].effective << 32) | d[0].effective) != caps ||
	    (((uint64_t)d[1].permitted << 32) | d[0].permitted) != caps ||
	    d[0].inheritable != 0 || d[1].inheritable != 0)
		return -EPERM;
	return 0;
}

int
kk_sandbox_enter(const struct kk_sandbox *sb)
{
	int cap, r;

	if ((r = settle_fds(sb->keep_fds, sb->nkeep_fds)) < 0)
		return r;
	if (sb->nice != 0 && setpriority(PRIO_PROCESS, 0, sb->nice) < 0)
		return -errno;
	/*
	 * Root's automatic capabilities off for good (an exec, were it
	 * allowed, gives nothing), and capabilities kept across the change
	 * of uid below.
	 */
	if (prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS | SECBIT_NOROOT |
	    SECBIT_NOROOT_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
	    SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED, 0, 0, 0) < 0)
		return -errno;
	for (cap = 0; cap < 64; cap++) {
		if (sb->caps & ((uint64_t)1 << cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL)
				break;		/* past the last capability */
			return -errno;
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return -errno;
	if (sb->set_ids && (setgroups(0, NULL) < 0 ||
	    setresgid(sb->gid, sb->gid, sb->gid) < 0 ||
	    setresuid(sb->uid, sb->uid, sb->uid) < 0))
		return -errno;
	if ((r = capset_to(sb->caps)) < 0)
		return r;
	/* its memory (a copy of the parent's) is nobody's to read */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -errno;
	return kk_seccomp_install_rules(sb->allowed, sb->nallowed, sb->refused,
	    sb->nrefused, sb->threads, sb->rules);
}
