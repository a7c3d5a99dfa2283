/*
 * Confining a child process of kakurid: which file descriptors, which
 * capabilities, which identity and which system calls it keeps.  Used by
 * the network child (seccomp) and the evidence workers (all of it).
 * Conventions of kakuri.h: 0 or a negative errno, no logging.
 */
#ifndef KK_SANDBOX_H
#define KK_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/audit.h>

#if defined(__x86_64__)
#define KK_AUDIT_ARCH	AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define KK_AUDIT_ARCH	AUDIT_ARCH_AARCH64
#endif

/* A system call that is answered with an errno instead of killing. */
struct kk_seccomp_refusal {
	int nr;
	int err;
};

/*
 * Sets no_new_privs and installs a seccomp filter: the calls in allowed[]
 * run, those in refused[] fail with their errno (libraries that probe
 * must not die of it), clone(2) runs only when it makes a thread of this
 * process if threads is true (clone3, whose flags a filter cannot read,
 * then fails with ENOSYS and the C library falls back to clone), and
 * anything else kills the process, as does a call of another ABI (x32).
 * prctl(PR_SET_PDEATHSIG) fails with EPERM even where prctl(2) is
 * allowed: a child taken over could otherwise outlive kakurid.  On an architecture without a known
 * audit number only no_new_privs is set.
 */
int kk_seccomp_install(const int *allowed, size_t nallowed,
    const struct kk_seccomp_refusal *refused, size_t nrefused, bool threads);

/*
 * Narrower rules for calls allowed[] lets through, put before it: what
 * a worker that was taken over could turn against root (it keeps
 * CAP_SYS_PTRACE to read other users' processes, which would let it
 * write the root parent's memory through /proc/PID/mem or ptrace).
 */
struct kk_seccomp_rules {
	/* open(2)/openat(2) that write or truncate must create (EACCES) */
	bool writes_create_only;
	/* ptrace(2) only with these requests (EPERM); none at all if 0 */
	bool ptrace_limited;
	const unsigned *ptrace_requests;
	size_t nptrace_requests;
	/* nor ptrace(2) of this process (its parent) */
	pid_t protected_pid;
	/* process_vm_readv(2) of no process (EPERM) */
	bool no_vm_read;
	/* kcmp(2) whether two processes share their memory (KCMP_VM), and
	 * nothing else of it (EPERM) */
	bool kcmp_vm;
	/* socket(2), where the allow-list has it, only of AF_NETLINK,
	 * protocols NETLINK_ROUTE, _SOCK_DIAG, _NETFILTER (EPERM) */
	bool netlink_only;
};
int kk_seccomp_install_rules(const int *allowed, size_t nallowed,
    const struct kk_seccomp_refusal *refused, size_t nrefused, bool threads,
    const struct kk_seccomp_rules *rules);

/*
 * For a child that runs code kakuri does not choose (the resolver's NSS
 * modules), where an allow-list cannot be written: sets no_new_privs and
 * installs a filter that lets every call run but those that reach
 * another process.  kill(2), tgkill(2) and rt_(tg)sigqueueinfo(2) only
 * to self (the process's own pid: raise and pthread_kill still work);
 * prlimit(2) and the sched_set*(2) calls only of self (0 or its pid);
 * tkill(2), ptrace(2), process_vm_readv/writev(2), kcmp(2),
 * setpriority(2), ioprio_set(2) and the pidfd calls not at all (EPERM),
 * nor io_uring_setup(2): its operations would not pass this filter;
 * a call of another ABI (x32, or a foreign audit arch) kills the
 * process, as it would slip past the numbers.  Nor may it outlive
 * kakurid: its death signal cannot be cleared (prctl(PR_SET_PDEATHSIG):
 * EPERM, as in every filter of kakuri's), nor a new process made, which
 * would not inherit it (fork(2), vfork(2), clone(2) without
 * CLONE_THREAD: EPERM; threads are made as usual), nor exec (EPERM): a
 * thread's exec would leave the process without it.  Nor listen(2) or
 * accept(2) (EPERM): a port the kernel picks, which Landlock does not
 * refuse; nor change a file's mode, owner, times or extended attributes
 * (EPERM): Landlock refuses none of these, and agent.user owns an
 * evidence job's directory while it is written.
 * Its siblings run as the same user: without this, one taken over could
 * kill or stop them (the network child: the CSIRT's channel), cut their
 * limits or starve them, at will.
 */
int kk_seccomp_deny_others(pid_t self);

/*
 * Landlock's ABI version, or -ENOSYS / -EOPNOTSUPP when the kernel has no
 * Landlock or it is off.
 */
int kk_landlock_abi(void);

/*
 * Sets no_new_privs and a Landlock ruleset for a process that only reads
 * and asks: it and what it makes can no longer change the file system
 * (write a file but /dev/null, make, remove, link or rename anything;
 * truncate from ABI 3), listen on a TCP port (ABI 4), or connect to an
 * abstract Unix socket or signal a process outside its domain (ABI 6).  Reading files, executing,
 * connecting out (TCP, Unix sockets with a path) are not restricted;
 * descriptors open before keep what they were opened for.  Landlock also
 * keeps it from tracing, or reading /proc of, any process outside its
 * domain: not for the evidence workers, then, whose job that is.
 * -ENOSYS without Landlock (none in the kernel, or off).
 */
int kk_landlock_read_only(void);

/*
 * What kk_landlock_read_only cannot refuse on this kernel, one line into
 * buf, for the log; NULL when it refuses all it names.
 */
const char *kk_landlock_read_only_gaps(char *buf, size_t len);

/* What an evidence worker keeps (kk_sandbox_enter). */
struct kk_sandbox {
	const int *keep_fds;	/* renumbered 3, 4, ... in this order */
	size_t nkeep_fds;
	uint64_t caps;		/* bit n = capability n; all others go */
	bool set_ids;		/* become uid/gid (else stay who we are) */
	uid_t uid;
	gid_t gid;
	int nice;		/* added to the priority (0: unchanged) */
	pid_t parent;		/* > 0: dies (SIGKILL) when its parent does */
	const int *allowed;	/* seccomp, as kk_seccomp_install */
	size_t nallowed;
	const struct kk_seccomp_refusal *refused;
	size_t nrefused;
	bool threads;
	const struct kk_seccomp_rules *rules;	/* NULL: none */
};

/*
 * In a freshly forked child of the root parent: 0, 1 and 2 become
 * /dev/null, keep_fds become 3, 4, ... and every other descriptor is
 * closed; the identity changes if asked; every capability not in caps
 * leaves the bounding, inheritable, ambient, permitted and effective
 * sets (root's special treatment locked off with securebits); the
 * death signal is set if asked; then kk_seccomp_install.  The caller
 * checks that getppid() is still parent: the parent may have died
 * before.  On error the child is half confined: it must exit.
 */
int kk_sandbox_enter(const struct kk_sandbox *sb);
/*
 * In a confined child: capability cap leaves the permitted and effective
 * sets for good (the others stay as they were: both sets equal, none
 * inheritable, as kk_sandbox_enter left them).  0, or -errno.
 */
int kk_sandbox_drop_cap(int cap);

#endif
