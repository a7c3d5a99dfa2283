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
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/kcmp.h>
#include <linux/landlock.h>
#include <linux/netlink.h>
#include <linux/securebits.h>
#include <linux/seccomp.h>

#include "kakuri.h"
#include "sandbox.h"

#define FDS_MAX		16	/* descriptors a child may keep */
#define FILTER_MAX	4096	/* BPF_MAXINSNS */

#if __BYTE_ORDER == __LITTLE_ENDIAN
#define ARG_LOW(i)	offsetof(struct seccomp_data, args[i])
#else
#define ARG_LOW(i)	(offsetof(struct seccomp_data, args[i]) + 4)
#endif
#if defined(__x86_64__) && !defined(__X32_SYSCALL_BIT)
#error "x86-64 without __X32_SYSCALL_BIT: the filters' ABI check needs it"
#endif
#define STMT(code, k)	((struct sock_filter)BPF_STMT(code, k))
#define JUMP(code, k, jt, jf) \
	((struct sock_filter)BPF_JUMP(code, k, jt, jf))
#define RET(k)		STMT(BPF_RET | BPF_K, k)
#define DENY(err)	RET(SECCOMP_RET_ERRNO | ((unsigned)(err) & \
	SECCOMP_RET_DATA))
#define LOAD(off)	STMT(BPF_LD | BPF_W | BPF_ABS, off)
#define LOAD_NR		LOAD(offsetof(struct seccomp_data, nr))
#define IF_NR(nr, skip)	JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)(nr), 0, skip)

/*
 * The prologue of every filter: a call of another audit arch, or of the
 * x32 ABI (same arch, numbers with __X32_SYSCALL_BIT), kills the process,
 * as its numbers would slip past the rules; then nr is loaded.  At most 6.
 */
static size_t
rule_abi(struct sock_filter *f)
{
	size_t k = 0;

	f[k++] = LOAD(offsetof(struct seccomp_data, arch));
	f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, KK_AUDIT_ARCH, 1, 0);
	f[k++] = RET(SECCOMP_RET_KILL_PROCESS);
	f[k++] = LOAD_NR;
#ifdef __X32_SYSCALL_BIT
	f[k++] = JUMP(BPF_JMP | BPF_JGE | BPF_K, __X32_SYSCALL_BIT, 0, 1);
	f[k++] = RET(SECCOMP_RET_KILL_PROCESS);
#endif
	return k;
}
#define RULE_ABI_MAX	6

/*
 * nr(pid in the first argument): returns on_pid when that pid is pid (or
 * 0 too, if zero_too: "the caller"), else otherwise.  A pid_t is 32 bits:
 * the low half of the argument is all of it.  5, or 6 with zero_too.
 */
static size_t
rule_pid_arg(struct sock_filter *f, int nr, pid_t pid, bool zero_too,
    uint32_t on_pid, uint32_t otherwise)
{
	size_t k = 0;

	f[k++] = IF_NR(nr, zero_too ? 5 : 4);
	f[k++] = LOAD(ARG_LOW(0));
	if (zero_too)
		f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0);
	f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)pid, 0, 1);
	f[k++] = RET(on_pid);
	f[k++] = RET(otherwise);
	return k;
}
#define RULE_PID_ARG_MAX	6

/* nr: returns ret.  2. */
static size_t
rule_answer(struct sock_filter *f, int nr, uint32_t ret)
{
	f[0] = IF_NR(nr, 1);
	f[1] = RET(ret);
	return 2;
}

/* not an answer: the filter goes on, with nr loaded again */
#define RULE_NEXT	UINT32_MAX

/*
 * nr(argument arg): on_eq when its low 32 bits are value, else otherwise
 * (which may be RULE_NEXT).  5.
 */
static size_t
rule_arg_eq(struct sock_filter *f, int nr, unsigned arg, uint32_t value,
    uint32_t on_eq, uint32_t otherwise)
{
	size_t k = 0;

	f[k++] = IF_NR(nr, 4);
	f[k++] = LOAD(ARG_LOW(arg));
	f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, value, 0, 1);
	f[k++] = RET(on_eq);
	f[k++] = otherwise == RULE_NEXT ? LOAD_NR : RET(otherwise);
	return k;
}

/*
 * prctl(PR_SET_PDEATHSIG, ...): EPERM, whatever else prctl may do.  A
 * child dies with kakurid (SIGKILL, set before the filter): one taken
 * over that cleared it would outlive a kakurid that was killed, holding
 * what it was given (the CSIRT's listening socket, TLS material).  Leaves
 * nr loaded.  5.
 */
static size_t
rule_keep_deathsig(struct sock_filter *f)
{
	return rule_arg_eq(f, SYS_prctl, 0, PR_SET_PDEATHSIG,
	    SECCOMP_RET_ERRNO | EPERM, RULE_NEXT);
}
#define RULE_KEEP_DEATHSIG_MAX	5

/*
 * No signal to another process by way of a file descriptor: the owner
 * of a descriptor's SIGIO (fcntl F_SETOWN, F_SETOWN_EX; ioctl FIOSETOWN,
 * SIOCSPGRP), its signal (F_SETSIG) and asynchronous mode (F_SETFL with
 * O_ASYNC, FIOASYNC) are EPERM; other commands go on, nr loaded again.
 * The kernel lets a process of the same uid be that owner: a child taken
 * over would otherwise kill its siblings (all of agent.user's uid, the
 * evidence workers among them) with a readable descriptor.  At most 27.
 */
static size_t
rule_no_sigio(struct sock_filter *f, int fcntl_nr)
{
	size_t k = 0;

	f[k++] = IF_NR(fcntl_nr, 9);
	f[k++] = LOAD(ARG_LOW(1));
	f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, F_SETOWN, 5, 0);
	f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, F_SETOWN_EX, 4, 0);
	f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, F_SETSIG, 3, 0);
	f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, F_SETFL, 0, 3);
	f[k++] = LOAD(ARG_LOW(2));
	f[k++] = JUMP(BPF_JMP | BPF_JSET | BPF_K, O_ASYNC, 0, 1);
	f[k++] = DENY(EPERM);
	f[k++] = LOAD_NR;
	return k;
}

static size_t
rule_no_sigio_all(struct sock_filter *f)
{
	size_t k = 0;

	k += rule_no_sigio(f + k, SYS_fcntl);
#ifdef SYS_fcntl64
	k += rule_no_sigio(f + k, SYS_fcntl64);
#endif
	f[k++] = IF_NR(SYS_ioctl, 6);
	f[k++] = LOAD(ARG_LOW(1));
	f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, FIOSETOWN, 2, 0);
	f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, SIOCSPGRP, 1, 0);
	f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, FIOASYNC, 0, 1);
	f[k++] = DENY(EPERM);
	f[k++] = LOAD_NR;
	return k;
}
#define RULE_NO_SIGIO_MAX	27

/*
 * New threads of this process, never a new process: clone(2) runs when
 * its flags have CLONE_THREAD, else returns otherwise, as do fork(2) and
 * vfork(2); clone3(2), whose flags are in memory a filter cannot read,
 * fails with ENOSYS, and the C library falls back to clone.  Returns for
 * those calls, leaves nr loaded for others.  At most 11.
 */
static size_t
rule_threads_only(struct sock_filter *f, uint32_t otherwise)
{
	size_t k = 0;

#ifdef SYS_clone3
	k += rule_answer(f + k, SYS_clone3, SECCOMP_RET_ERRNO | ENOSYS);
#endif
	f[k++] = IF_NR(SYS_clone, 4);
	f[k++] = LOAD(ARG_LOW(0));
	f[k++] = JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 0, 1);
	f[k++] = RET(SECCOMP_RET_ALLOW);
	f[k++] = RET(otherwise);
#ifdef SYS_fork
	k += rule_answer(f + k, SYS_fork, otherwise);
	k += rule_answer(f + k, SYS_vfork, otherwise);
#endif
	return k;
}
#define RULE_THREADS_ONLY_MAX	11

/*
 * nr(flags in argument arg, the mode in arg + 1): reading without
 * truncating, or creating a new file (O_CREAT|O_EXCL) that only its
 * owner may read, else EACCES.  The mode's group and other bits are what
 * a default ACL of the directory keeps for the users it names: a worker
 * taken over would otherwise leave what it reads (CAP_DAC_READ_SEARCH:
 * the agent's key) in a directory whose ACL lets its maker read it, and
 * a file cannot be made readable afterwards (no fchmod, no xattr).  12.
 */
static size_t
rule_create_only(struct sock_filter *f, int nr, unsigned arg)
{
	size_t k = 0;

	f[k++] = IF_NR(nr, 11);
	f[k++] = LOAD(ARG_LOW(arg));
	f[k++] = STMT(BPF_ALU | BPF_AND | BPF_K, O_ACCMODE | O_TRUNC);
	f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1);
	f[k++] = RET(SECCOMP_RET_ALLOW);
	f[k++] = LOAD(ARG_LOW(arg));
	f[k++] = STMT(BPF_ALU | BPF_AND | BPF_K, O_CREAT | O_EXCL);
	f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, O_CREAT | O_EXCL, 0, 3);
	f[k++] = LOAD(ARG_LOW(arg + 1));
	f[k++] = JUMP(BPF_JMP | BPF_JSET | BPF_K, 077, 1, 0);
	f[k++] = RET(SECCOMP_RET_ALLOW);
	f[k++] = DENY(EACCES);
	return k;
}
#define RULE_CREATE_ONLY_MAX	12

/*
 * Inside a rule for one call: argument arg is one of v[0..n), or EPERM.
 * On a match the filter goes on after these n + 2 instructions.
 */
static size_t
rule_arg_in(struct sock_filter *f, unsigned arg, const unsigned *v, size_t n)
{
	size_t k = 0, i;

	f[k++] = LOAD(ARG_LOW(arg));
	for (i = 0; i < n; i++)
		f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, v[i],
		    (unsigned char)(n - i), 0);
	f[k++] = DENY(EPERM);
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
	size_t k = 0;

	f[k++] = IF_NR(SYS_ptrace, (unsigned char)(n + 6));
	k += rule_arg_in(f + k, 0, req, n);
	f[k++] = LOAD(ARG_LOW(1));
	f[k++] = JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)keep, 0, 1);
	f[k++] = DENY(EPERM);
	f[k++] = RET(SECCOMP_RET_ALLOW);
	return k;
}
#define RULE_PTRACE_MAX(n)	((n) + 7)

/*
 * kcmp(pid1, pid2, type, ...): only type KCMP_VM, which says whether two
 * processes share their memory and nothing about what is in it; other
 * types (files, file descriptors, I/O, namespaces) EPERM.  5.
 */
static size_t
rule_kcmp_vm(struct sock_filter *f)
{
	return rule_arg_eq(f, SYS_kcmp, 2, KCMP_VM, SECCOMP_RET_ALLOW,
	    SECCOMP_RET_ERRNO | EPERM);
}
#define RULE_KCMP_VM_MAX	5

/*
 * socket(domain, type, protocol): only AF_NETLINK, and of it only the
 * route, socket-diagnostics and netfilter protocols, else EPERM.  A
 * collect worker taken over (it parses what local users write: the
 * journal, package lists) reads what CAP_DAC_READ_SEARCH reads, the
 * agent's key too; an IP socket would carry it off, to a management
 * peer's address even while isolated (it runs as kakurid's user).
 * Leaves nr loaded.  10.
 */
static size_t
rule_socket_netlink(struct sock_filter *f)
{
	static const unsigned domain[] = { AF_NETLINK };
	static const unsigned protocols[] = { NETLINK_ROUTE,
		NETLINK_SOCK_DIAG, NETLINK_NETFILTER };
	size_t k = 0;

	f[k++] = IF_NR(SYS_socket, nitems(domain) + 2 +
	    nitems(protocols) + 2 + 1);
	k += rule_arg_in(f + k, 0, domain, nitems(domain));
	k += rule_arg_in(f + k, 2, protocols, nitems(protocols));
	/* one of them: on to the allow-list, which must name socket(2) */
	f[k++] = LOAD_NR;
	return k;
}
#define RULE_SOCKET_NETLINK_MAX	10

/* no_new_privs, then the k instructions of f as this process's filter */
static int
install(struct sock_filter *f, size_t k)
{
	struct sock_fprog prog = { .len = (unsigned short)k, .filter = f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -errno;
	return 0;
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
#ifdef SYS_io_uring_setup
		/* its operations never pass through this filter */
		SYS_io_uring_setup,
#endif
		/*
		 * a thread's exec takes the process over without the death
		 * signal, which only the first thread had
		 */
		SYS_execve, SYS_execveat,
		/*
		 * a port the kernel picks: listen(2) without bind(2), which
		 * Landlock does not see; a lookup serves nobody
		 */
		SYS_listen, SYS_accept, SYS_accept4,
		/*
		 * what Landlock does not see either: the mode, owner, times
		 * and extended attributes of agent.user's own files (an
		 * evidence job's directory, while it is written)
		 */
		SYS_fchmod, SYS_fchmodat, SYS_fchown, SYS_fchownat,
		SYS_utimensat,
#ifdef SYS_chmod	/* the old calls, where the architecture has them */
		SYS_chmod, SYS_chown, SYS_lchown,
		SYS_utime, SYS_utimes, SYS_futimesat,
#endif
#ifdef SYS_fchmodat2
		SYS_fchmodat2,
#endif
		SYS_setxattr, SYS_lsetxattr, SYS_fsetxattr,
		SYS_removexattr, SYS_lremovexattr, SYS_fremovexattr,
#ifdef SYS_setxattrat
		SYS_setxattrat, SYS_removexattrat,
#endif
	};
	const uint32_t eperm = SECCOMP_RET_ERRNO | EPERM;
	struct sock_filter f[RULE_ABI_MAX + RULE_KEEP_DEATHSIG_MAX +
	    RULE_NO_SIGIO_MAX +
	    RULE_THREADS_ONLY_MAX + RULE_PID_ARG_MAX * (nitems(to_self) +
	    nitems(self_or_zero)) + 2 * nitems(never) + 1];
	size_t i, k = 0;

	k += rule_abi(f + k);
	/* what outlives kakurid: a process that cleared its death signal, or
	 * a new one, which does not inherit it */
	k += rule_keep_deathsig(f + k);
	/* nor by a descriptor's SIGIO */
	k += rule_no_sigio_all(f + k);
	k += rule_threads_only(f + k, eperm);
	for (i = 0; i < nitems(to_self); i++)
		k += rule_pid_arg(f + k, to_self[i], self, false,
		    SECCOMP_RET_ALLOW, eperm);
	for (i = 0; i < nitems(self_or_zero); i++)
		k += rule_pid_arg(f + k, self_or_zero[i], self, true,
		    SECCOMP_RET_ALLOW, eperm);
	for (i = 0; i < nitems(never); i++)
		k += rule_answer(f + k, never[i], eperm);
	f[k++] = RET(SECCOMP_RET_ALLOW);
	return install(f, k);
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
	size_t i, k = 0, n;
	int r;

	/* at most: the prologue, the rules, allowed, refused, threads, kill */
	n = RULE_ABI_MAX + RULE_KEEP_DEATHSIG_MAX + RULE_NO_SIGIO_MAX +
	    2 * nallowed +
	    2 * nrefused + (threads ? RULE_THREADS_ONLY_MAX : 0) + 1;
	if (rules != NULL)
		n += 2 * RULE_CREATE_ONLY_MAX +
		    RULE_PTRACE_MAX(rules->nptrace_requests) +
		    2 /* no_vm_read */ + RULE_KCMP_VM_MAX +
		    RULE_SOCKET_NETLINK_MAX;
	if (n > FILTER_MAX || (rules != NULL &&
	    rules->nptrace_requests > 200))
		return -E2BIG;
	if ((f = calloc(n, sizeof(*f))) == NULL)
		return -ENOMEM;
	/* each rule returns, or leaves nr loaded as it found it */
	k += rule_abi(f + k);
	k += rule_keep_deathsig(f + k);
	k += rule_no_sigio_all(f + k);
	/*
	 * Before allowed[]: no list names clone today, but one that did
	 * must still not let a new process out (it would not inherit the
	 * death signal).
	 */
	if (threads)
		k += rule_threads_only(f + k, SECCOMP_RET_KILL_PROCESS);
	if (rules != NULL && rules->writes_create_only) {
		k += rule_create_only(f + k, SYS_openat, 2);
#ifdef SYS_open
		k += rule_create_only(f + k, SYS_open, 1);
#endif
	}
	if (rules != NULL && rules->ptrace_limited)
		k += rule_ptrace(f + k, rules->ptrace_requests,
		    rules->nptrace_requests, rules->protected_pid);
	if (rules != NULL && rules->no_vm_read)
		k += rule_answer(f + k, SYS_process_vm_readv,
		    SECCOMP_RET_ERRNO | EPERM);
	if (rules != NULL && rules->kcmp_vm)
		k += rule_kcmp_vm(f + k);
	if (rules != NULL && rules->netlink_only)
		k += rule_socket_netlink(f + k);
	for (i = 0; i < nallowed; i++)
		k += rule_answer(f + k, allowed[i], SECCOMP_RET_ALLOW);
	for (i = 0; i < nrefused; i++)
		k += rule_answer(f + k, refused[i].nr, SECCOMP_RET_ERRNO |
		    ((unsigned)refused[i].err & SECCOMP_RET_DATA));
	f[k++] = RET(SECCOMP_RET_KILL_PROCESS);
	r = install(f, k);
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

/*
 * Landlock, for a child that only reads and asks (the resolver).  The
 * system's header may be older than the kernel: what came after ABI 2 is
 * named here, and the ruleset's attributes are laid out as ABI 6 has them
 * (a kernel takes the first ABI-many of them).
 */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE	(1ULL << 14)
#endif
#define KK_LANDLOCK_NET_BIND_TCP	(1ULL << 0)	/* ABI 4 */
#define KK_LANDLOCK_SCOPE_ABSTRACT_UNIX	(1ULL << 0)	/* ABI 6 */
#define KK_LANDLOCK_SCOPE_SIGNAL	(1ULL << 1)	/* ABI 6 */
/* the first ABI that can refuse each: the ruleset and what is said */
#define LL_ABI_TRUNCATE	3
#define LL_ABI_NET	4
#define LL_ABI_SCOPE	6

struct kk_landlock_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;	/* ABI 4 */
	uint64_t scoped;		/* ABI 6 */
};

int
kk_landlock_abi(void)
{
#ifdef SYS_landlock_create_ruleset
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);

	return abi < 0 ? -errno : (int)abi;
#else
	return -ENOSYS;
#endif
}

int
kk_landlock_read_only(void)
{
#ifdef SYS_landlock_create_ruleset
	struct kk_landlock_attr attr;
	struct landlock_path_beneath_attr null;
	size_t size = sizeof(attr.handled_access_fs);
	int abi, fd, r = 0;

	/* no Landlock, or off: one answer, which the caller may take */
	if ((abi = kk_landlock_abi()) < 0)
		return -ENOSYS;
	memset(&attr, 0, sizeof(attr));
	/* changing the file system: writing, making, removing, renaming */
	attr.handled_access_fs = LANDLOCK_ACCESS_FS_WRITE_FILE |
	    LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
	    LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |
	    LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |
	    LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
	    LANDLOCK_ACCESS_FS_MAKE_SYM;
	if (abi >= 2)
		attr.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= LL_ABI_TRUNCATE)
		attr.handled_access_fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
	/* a TCP port of its own: a way in from the network */
	if (abi >= LL_ABI_NET) {
		attr.handled_access_net = KK_LANDLOCK_NET_BIND_TCP;
		size = offsetof(struct kk_landlock_attr, scoped);
	}
	/* abstract sockets and signals of processes not in its domain */
	if (abi >= LL_ABI_SCOPE) {
		attr.scoped = KK_LANDLOCK_SCOPE_ABSTRACT_UNIX |
		    KK_LANDLOCK_SCOPE_SIGNAL;
		size = sizeof(attr);
	}
	fd = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
	if (fd < 0)
		return -errno;
	/*
	 * One rule: /dev/null may be opened for writing, as libraries do
	 * (nothing is kept there).  Else nothing of it anywhere.
	 */
	memset(&null, 0, sizeof(null));
	null.allowed_access = LANDLOCK_ACCESS_FS_WRITE_FILE;
	if ((null.parent_fd = open("/dev/null", O_PATH | O_CLOEXEC)) < 0 ||
	    syscall(SYS_landlock_add_rule, fd, LANDLOCK_RULE_PATH_BENEATH,
	    &null, 0) < 0) {
		r = -errno;
		goto out;
	}
	/* without CAP_SYS_ADMIN, a ruleset needs no_new_privs first */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_landlock_restrict_self, fd, 0) < 0)
		r = -errno;
out:
	if (null.parent_fd >= 0)
		close(null.parent_fd);
	close(fd);
	return r;
#else
	return -ENOSYS;
#endif
}

const char *
kk_landlock_read_only_gaps(char *buf, size_t len)
{
	int abi = kk_landlock_abi();

	if (abi >= LL_ABI_SCOPE)
		return NULL;
	/* listening is its seccomp filter's to refuse, on every kernel */
	if (abi < 0)
		snprintf(buf, len, "no Landlock (%s): it may write wherever "
		    "its user may, and reach abstract sockets", strerror(-abi));
	else
		snprintf(buf, len, "Landlock ABI %d: it may still%s reach "
		    "abstract sockets", abi, abi < LL_ABI_TRUNCATE ?
		    " truncate files, and" : "");
	return buf;
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
kk_sandbox_drop_cap(int cap)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2] = { { 0 } };
	uint64_t permitted;

	if (cap < 0 || cap > 63)
		return -EINVAL;
	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	permitted = ((uint64_t)d[1].permitted << 32) | d[0].permitted;
	return capset_to(permitted & ~((uint64_t)1 << cap));
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
	/*
	 * after the change of uid, which clears it, and before the filter,
	 * which keeps it from being cleared again
	 */
	if (sb->parent > 0 && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return -errno;
	/* its memory (a copy of the parent's) is nobody's to read */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -errno;
	return kk_seccomp_install_rules(sb->allowed, sb->nallowed, sb->refused,
	    sb->nrefused, sb->threads, sb->rules);
}
