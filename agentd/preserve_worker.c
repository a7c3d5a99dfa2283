/*
 * An evidence worker, in the child: confined (sandbox.c) to its pipe and
 * its output directory, it takes the snapshot, collects, or hashes the
 * executables, and tells the parent as it goes, one JSON line at a time.
 */
#include <errno.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "preserve.h"
#include "sandbox.h"
#include "wire.h"

static json_t *
artifact_json(const struct kk_artifact *a)
{
	json_t *o;

	o = json_pack("{s:s, s:I, s:s, s:i, s:I, s:s, s:b, s:o}",
	    KW_PATH, a->path, KW_SIZE, (json_int_t)a->size,
	    KW_SHA256, a->sha256,
	    KW_PID, (int)a->pid, KW_START_TIME, (json_int_t)a->start_time,
	    KW_METHOD, a->method, KW_INCOMPLETE, a->incomplete,
	    KW_ERROR, kk_json_str(a->error));
	if (o && a->gaps)
		json_object_set(o, KW_GAPS, a->gaps);
	return o;
}

/* One JSON line to the parent (o is consumed). */
static void
put_line(int fd, json_t *o)
{
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	size_t n;

	json_decref(o);
	if (text == NULL)
		return;
	n = strlen(text);
	text[n] = '\n';		/* json_dumps leaves room for the NUL */
	kk_write_all(fd, text, n + 1);
	free(text);
}

static void
emit_begin(const char *rel, void *arg)
{
	put_line(*(const int *)arg, json_pack("{s:o}", KW_BEGIN,
	    kk_json_str(rel)));
}

static void
emit_artifact(const struct kk_artifact *a, void *arg)
{
	put_line(*(const int *)arg, json_pack("{s:o}", KW_ARTIFACT,
	    artifact_json(a)));
}

/*
 * The system calls a worker makes: files, memory, threads of its own,
 * ptrace of the target, time.  Collect adds netlink sockets.  No exec,
 * no fork, no mount, no identity change, no other sockets.
 */
static const int worker_calls[] = {
	SYS_read, SYS_write, SYS_pread64, SYS_pwrite64, SYS_readv,
	SYS_writev, SYS_lseek, SYS_close, SYS_openat, SYS_newfstatat,
	SYS_fstat, SYS_statx, SYS_getdents64, SYS_readlinkat, SYS_mkdirat,
	SYS_unlinkat, SYS_ftruncate, SYS_fsync, SYS_fdatasync, SYS_fcntl,
	SYS_ioctl, SYS_fstatfs, SYS_statfs, SYS_faccessat,
#ifdef SYS_faccessat2
	SYS_faccessat2,
#endif
#ifdef SYS_open
	SYS_open, SYS_stat, SYS_lstat, SYS_readlink, SYS_access,
	SYS_getdents, SYS_mkdir, SYS_unlink,
#endif
	SYS_mmap, SYS_munmap, SYS_mremap, SYS_mprotect, SYS_madvise,
	SYS_brk, SYS_futex, SYS_set_robust_list, SYS_rseq,
	SYS_rt_sigaction, SYS_rt_sigprocmask, SYS_rt_sigreturn,
	SYS_sigaltstack, SYS_exit, SYS_exit_group, SYS_getpid, SYS_gettid,
	SYS_getppid, SYS_getuid, SYS_geteuid, SYS_getgid, SYS_getegid,
	SYS_clock_gettime, SYS_clock_nanosleep, SYS_nanosleep,
	SYS_gettimeofday, SYS_getrandom, SYS_sched_yield,
	SYS_sched_getaffinity, SYS_prctl, SYS_uname, SYS_sysinfo,
	SYS_prlimit64, SYS_ptrace, SYS_wait4, SYS_waitid,
	SYS_ppoll, SYS_restart_syscall,
#ifdef SYS_poll
	SYS_poll,
#endif
};

static const int collect_calls[] = {
	SYS_socket, SYS_bind, SYS_getsockname, SYS_setsockopt,
	SYS_getsockopt, SYS_sendto, SYS_recvfrom, SYS_sendmsg, SYS_recvmsg,
	/* to drop CAP_NET_ADMIN (it cannot raise what the worker lacks) */
	SYS_capget, SYS_capset,
};

#define CAP(c)	((uint64_t)1 << (c))

/* what core_threads.c and core_notes.c ask of ptrace, and nothing else */
static const unsigned snapshot_ptrace[] = {
	PTRACE_SEIZE, PTRACE_INTERRUPT, PTRACE_GETREGSET, PTRACE_DETACH,
	PTRACE_GETEVENTMSG,
};

/* In the worker: confinement for the job, or exit. */
static void
worker_confine(struct kd *d, pid_t parent, int out, int dirfd,
    const struct job_spec *js)
{
	int calls[sizeof(worker_calls) / sizeof(worker_calls[0]) +
	    sizeof(collect_calls) / sizeof(collect_calls[0])];
	int keep[2] = { out, dirfd };
	/*
	 * CAP_SYS_PTRACE reads what others own, and would write root's
	 * memory too: through /proc/PID/mem opened for writing (no file is
	 * opened for writing that is not new) or ptrace(2) (only a snapshot
	 * traces, with the requests it needs, and never kakurid: it could
	 * stop it).
	 */
	struct kk_seccomp_rules rules = {
		.writes_create_only = true,
		.ptrace_limited = true,
		.ptrace_requests = js->kind == JOB_SNAPSHOT ? snapshot_ptrace :
		    NULL,
		.nptrace_requests = js->kind == JOB_SNAPSHOT ?
		    sizeof(snapshot_ptrace) / sizeof(snapshot_ptrace[0]) : 0,
		/* kakurid, single-threaded, holds the agent's key */
		.protected_pid = parent,
		/*
		 * a snapshot reads through /proc/PID/mem, whose faults never
		 * wait on a userfaultfd (core_mem.c)
		 */
		.no_vm_read = true,
		/* the twin check, exact */
		.kcmp_vm = js->kind == JOB_SNAPSHOT,
		/* collect's sockets are netlink dumps (the only worker
		 * whose allow-list has socket(2)) */
		.netlink_only = js->kind == JOB_COLLECT,
	};
	struct kk_sandbox sb;
	size_t n = 0, i;

	memset(&sb, 0, sizeof(sb));
	sb.keep_fds = keep;
	sb.nkeep_fds = dirfd >= 0 ? 2 : 1;
	/* reading what others own, and tracing them */
	sb.caps = CAP(CAP_SYS_PTRACE) | CAP(CAP_DAC_READ_SEARCH);
	if (js->kind == JOB_SNAPSHOT && js->physical)
		sb.caps |= CAP(CAP_SYS_RAWIO);	/* /proc/kcore, /dev/mem */
	/*
	 * the nftables ruleset; not for the sources of text local users
	 * write, which the first of collect's two workers reads
	 */
	if (js->kind == JOB_COLLECT && js->lim.part != KK_COLLECT_NO_NFT)
		sb.caps |= CAP(CAP_NET_ADMIN);
	/* kakurid's own unprivileged user: what it writes is only its own */
	sb.set_ids = d->own_known;
	sb.uid = d->own_uid;
	sb.gid = d->own_gid;
	sb.nice = KD_WORKER_NICE;
	sb.parent = parent;
	for (i = 0; i < sizeof(worker_calls) / sizeof(worker_calls[0]); i++)
		calls[n++] = worker_calls[i];
	if (js->kind == JOB_COLLECT)
		for (i = 0; i < sizeof(collect_calls) /
		    sizeof(collect_calls[0]); i++)
			calls[n++] = collect_calls[i];
	sb.allowed = calls;
	sb.nallowed = n;
	sb.threads = true;	/* core.c traces from a thread of its own */
	sb.rules = &rules;
	if (kk_sandbox_enter(&sb) < 0)
		_exit(KD_WORKER_NO_SANDBOX);
	if (rules.kcmp_vm)
		kk_snapshot_kcmp_filtered_ok();
	if (getppid() != parent)
		_exit(0);	/* it died before the death signal was set */
}

/*
 * Collect, once the nftables ruleset is read: CAP_NET_ADMIN goes before
 * anything else is read (kakurid's second collect worker reads nothing
 * more; a collection of every source reads the journal and the package
 * lists after it, text local users write).  A worker taken over by such
 * text could otherwise change links, routes and tables, or leave what it
 * read where a local process picks it up.
 */
static int
drop_net_admin(void)
{
	return kk_sandbox_drop_cap(CAP_NET_ADMIN);
}

static int
worker_snapshot(int dirfd, const struct job_spec *js,
    struct kk_artifacts *arts, json_t *errors)
{
	struct kk_lime_src src = { "/proc/kcore", "/proc/iomem", "/dev/crash",
		"/dev/mem" };
	struct kk_artifact a;
	char err[512];
	size_t i;
	int code = 0, e;

	for (i = 0; i < js->npids; i++) {
		err[0] = '\0';
		e = kk_snapshot_process(dirfd, js->pids[i], js->starts[i], arts,
		    err, sizeof(err));
		if (e < 0) {
			/* core.c's messages name the pid already */
			json_array_append_new(errors, err[0] ?
			    kk_json_str(err) : json_sprintf("pid %d: %s",
			    (int)js->pids[i], strerror(-e)));
			if (code == 0 || e == -ENOSPC)
				code = e;
			/* a full disk stops everything that follows */
			if (e == -ENOSPC)
				break;
		}
	}
	if (js->physical && code != -ENOSPC) {
		memset(&a, 0, sizeof(a));
		err[0] = '\0';
		kk_artifacts_begin(arts, "physical/ram.lime");
		e = kk_lime_write(dirfd, "physical/ram.lime", &src, &a, err,
		    sizeof(err));
		if (a.path[0])
			kk_artifacts_add(arts, &a);
		json_decref(a.gaps);
		if (e < 0) {
			json_array_append_new(errors, json_sprintf(
			    "physical memory: %s", err[0] ? err :
			    strerror(-e)));
			if (code == 0 || e == -ENOSPC)
				code = e;
		}
	}
	return code;
}

/*
 * In the worker: confine, do the job, tell the parent as it goes.
 * Snapshot and collect send {"artifact":{...}} per file and at last
 * {"end":{"code":N,"errors":[...]}}; hash sends kk_exe_hash_scan's lines.
 */
void __attribute__((noreturn))
pv_worker_main(struct kd *d, pid_t parent, int out, int dirfd,
    const struct job_spec *js)
{
	struct kk_artifacts arts;
	struct kk_hash_spec hs;
	struct timespec ts;
	json_t *errors;
	char err[512];
	int code = 0, e;

	prctl(PR_SET_NAME, "kakurid-evid", 0, 0, 0);
	worker_confine(d, parent, out, dirfd, js);
	/* kk_sandbox_enter renumbered them */
	out = 3;
	dirfd = dirfd >= 0 ? 4 : -1;
	if (js->kind == JOB_HASH) {
		memset(&hs, 0, sizeof(hs));
		hs.pids = js->pids;
		hs.npids = js->npids;
		hs.max_bytes = KD_HASH_FILE_MAX;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		hs.deadline_ns = (uint64_t)ts.tv_sec * 1000000000ULL +
		    (uint64_t)ts.tv_nsec + (uint64_t)js->soft_ms * 1000000ULL;
		_exit(kk_exe_hash_scan(out, &hs) < 0 ? 1 : 0);
	}
	kk_artifacts_init(&arts);
	arts.on_add = emit_artifact;
	arts.on_begin = emit_begin;
	arts.on_add_arg = &out;
	errors = json_array();
	if (js->kind == JOB_SNAPSHOT) {
		code = worker_snapshot(dirfd, js, &arts, errors);
	} else {
		struct kk_collect_limits lim = js->lim;

		lim.after_nftables = drop_net_admin;
		err[0] = '\0';
		e = kk_collect(dirfd, &lim, &arts, err, sizeof(err));
		if (e < 0) {
			json_array_append_new(errors, json_sprintf("collect: %s",
			    err[0] ? err : strerror(-e)));
			code = e;
		}
	}
	put_line(out, json_pack("{s:{s:i, s:o}}", KW_END, KW_CODE, code,
	    KW_ERRORS, errors));
	_exit(0);
}
