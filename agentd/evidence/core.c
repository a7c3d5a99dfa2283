/*
 * Per-process snapshot (DESIGN 7): the process memory as an ELF core file
 * that gdb opens, the /proc files that explain it (maps, status, cmdline,
 * environ) and a copy of the executable, all under "pid-<pid>/".
 *
 * The threads are stopped with PTRACE_SEIZE + PTRACE_INTERRUPT: no signal
 * is sent, a group stop is left as it is, and it works on tasks the cgroup
 * v2 freezer holds (the ptrace trap is taken before the freezer trap, and
 * the task goes back into the freezer when detached).  All ptrace work
 * runs in a short-lived thread of its own: when a tracer thread exits the
 * kernel detaches its tracees, so a thread that never reached its stop (D
 * state, the v1 freezer) cannot stay traced by kakurid.
 *
 * Memory is read only where the page tables say a page is present or
 * swapped (PAGEMAP_SCAN, else /proc/PID/pagemap).  Reading anything else
 * would fault it in and change the evidence (and the target's RSS), so
 * those pages are left out: long runs of them end a PT_LOAD segment and
 * are not in the file at all (a mapping of terabytes would otherwise be
 * terabytes of zeros to hash), short ones are zeros.  One exception, as the
 * kernel's own dumps make it (coredump_filter bit 4): the first page of a
 * file mapped from offset 0 is always read, because its ELF header and
 * build-id are what lets gdb place the executable and its libraries; a
 * child forked long ago often has no page table entry for it.  That page
 * comes from the page cache, and only from files on a local file system
 * (a FUSE server could hold the read forever).
 *
 * Files: this one takes the snapshot (the steps, the /proc files, the
 * executable); core_threads.c stops and releases the threads, core_maps.c
 * reads the mappings, core_notes.c builds the notes (registers, process,
 * files), core_mem.c writes the core with the memory, core_proc.c reads
 * /proc for them.  snapshot.h is what they share.
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "procstat.h"
#include "snapshot.h"

#define EXE_MAX		((uint64_t)4 << 30)

static void
art_init(struct snap *sn, struct kk_artifact *a)
{
	memset(a, 0, sizeof(*a));
	a->pid = sn->pid;
	a->start_time = sn->start_time;
}

/* Appends a written file (not one that could not even be created). */
static int
art_add(struct snap *sn, struct kk_artifact *a)
{
	int err;

	a->pid = sn->pid;
	a->start_time = sn->start_time;
	if (a->sha256[0] == '\0') {
		json_decref(a->gaps);
		a->gaps = NULL;
		return 0;
	}
	if ((err = kk_artifacts_add(sn->arts, a)) < 0) {
		json_decref(a->gaps);
		a->gaps = NULL;
		snap_set_err(sn, "artifact list: %s", strerror(-err));
	}
	return err;
}

/* One buffered /proc file as pid-N/<name>. */
static int
put_file(struct snap *sn, const char *name, const char *buf, size_t len)
{
	struct kk_artifact a;
	char rel[64];
	int err, aerr;

	art_init(sn, &a);
	snprintf(rel, sizeof(rel), "pid-%d/%s", (int)sn->pid, name);
	kk_artifacts_begin(sn->arts, rel);
	err = kk_artifact_write(sn->dirfd, rel, buf, len, "procfs", &a);
	if (err == -ENOSPC)
		snap_set_err(sn, "%s: no space left on device", rel);
	else if (err < 0)
		snap_set_err(sn, "%s: %s", rel, strerror(-err));
	aerr = art_add(sn, &a);
	return err < 0 ? err : aerr;
}

/*
 * The /proc files, read while the threads were stopped: written before
 * the core, so that a core cut short (its deadline, a full disk) still
 * leaves what explains the process.
 */
static int
snap_proc_files(struct snap *sn)
{
	int err;

	if ((err = put_file(sn, "maps", sn->maps, sn->mapslen)) < 0)
		return err;
	if (sn->status != NULL &&
	    (err = put_file(sn, "status", sn->status, sn->statuslen)) < 0)
		return err;
	if (sn->cmdline != NULL &&
	    (err = put_file(sn, "cmdline", sn->cmdline, sn->cmdlinelen)) < 0)
		return err;
	if (sn->environ != NULL) {
		if ((err = put_file(sn, "environ", sn->environ,
		    sn->environlen)) < 0)
			return err;
	}
	return 0;
}

void (*kk_snap_exe_hook)(pid_t pid);

static int
snap_exe(struct snap *sn)
{
	struct kk_exe_info info;
	struct kk_artifact a;
	char rel[64], src[64], why[200];
	unsigned long long st;
	int err, fd;

	art_init(sn, &a);
	snprintf(rel, sizeof(rel), "pid-%d/exe", (int)sn->pid);
	snprintf(src, sizeof(src), "/proc/%d/exe", (int)sn->pid);
	/*
	 * Only from a local file system: a FUSE or network server could
	 * keep us waiting for ever.  What is not copied is an empty
	 * artifact that says why, so the manifest tells the examiner.
	 */
	kk_artifacts_begin(sn->arts, rel);
	if (kk_snap_exe_hook != NULL)
		kk_snap_exe_hook(sn->pid);
	err = kk_exe_open(sn->pid, &info, &fd, why, sizeof(why));
	/*
	 * Its threads run again by now: the process may have exited and its
	 * pid gone to another (a sibling can kill it and cycle pids while
	 * the core is written), whose executable this would be.  The start
	 * time after the open says the open was of it.
	 */
	if (err == 0 && (kk_proc_start_time(sn->pid, &st) < 0 ||
	    st != sn->start_time)) {
		close(fd);
		err = -EPERM;
		snprintf(why, sizeof(why), "the process exited before its "
		    "executable was opened (its pid is another's)");
	}
	if (err == -EPERM) {
		err = kk_artifact_write(sn->dirfd, rel, "", 0, "procfs", &a);
		a.incomplete = true;
		snprintf(a.error, sizeof(a.error), "not copied: %.180s", why);
	} else if (err == 0) {
		err = kk_artifact_copy_fd(sn->dirfd, rel, fd, src, EXE_MAX,
		    "procfs", &a);
		close(fd);
	} else if (err == -ESRCH) {
		err = -ENOENT;
	}
	if (art_add(sn, &a) < 0 && err == 0)
		err = -ENOMEM;
	/* no executable to copy (it can vanish with its mount): not fatal */
	if (err == -ENOENT)
		return 0;
	if (err == -ENOSPC)
		snap_set_err(sn, "%s: no space left on device", rel);
	else if (err < 0)
		snap_set_err(sn, "exe: %s", a.error[0] ? a.error :
		    strerror(-err));
	return err;
}

/*
 * Where the memory of the process is (sn->mmdir, sn->mm_tid), and its
 * pagemap and mem opened (sn->pmfd, sn->memfd: both bound to the memory
 * when opened).  A zombie has none left to take; a leader that called
 * pthread_exit looks like one (Z), but while its other threads run, so do
 * the process and its memory: what the leader's /proc says of it is gone
 * with the leader (empty maps and mem), the threads' is not.  Memory is
 * read only through the mem file, never by a thread's number
 * (process_vm_readv): a thread's number is free the moment it exits,
 * and process_vm_readv waits for a userfaultfd's handler, which need
 * never answer, on a page gone since the page tables were read (a range
 * registered late, a hole punched in shared memory); a read of the mem
 * file fails that page at once (core_mem.c).
 */
static int
snap_find_memory(struct snap *sn)
{
	unsigned long long threads;
	const char *v;
	char path[96];
	unsigned nth = 0;
	int err;

	snprintf(sn->mmdir, sizeof(sn->mmdir), "/proc/%d", (int)sn->pid);
	sn->mm_tid = sn->pid;
	v = kk_status_field(sn->status, "State");
	if (v != NULL && (*v == 'Z' || *v == 'X')) {
		if (kk_status_num(sn->status, "Threads", 0, &threads) < 0 ||
		    threads <= 1) {
			snap_set_err(sn, "the process exited");
			return -ESRCH;
		}
		sn->leader_gone = true;
	}
	for (;;) {
		/* a thread that exits meanwhile: the next one */
		if (sn->leader_gone) {
			if (nth >= KK_PROC_THREAD_TRIES ||
			    kk_proc_thread_dir(sn->pid, nth++, sn->mmdir,
			    sizeof(sn->mmdir)) < 0) {
				snap_set_err(sn, "the process exited");
				return -ESRCH;
			}
			sn->mm_tid = (pid_t)atoi(strrchr(sn->mmdir, '/') + 1);
		}
		snprintf(path, sizeof(path), "%s/pagemap", sn->mmdir);
		if ((sn->pmfd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
			err = errno == ENOENT ? -ESRCH : -errno;
			if (sn->leader_gone && err == -ESRCH)
				continue;
			snap_set_err(sn, "pagemap: %s", strerror(-err));
			return err;
		}
		snprintf(path, sizeof(path), "%s/mem", sn->mmdir);
		sn->memfd = open(path, O_RDONLY | O_CLOEXEC);
		if (sn->memfd >= 0)
			return 0;
		err = errno == ENOENT ? -ESRCH : -errno;
		close(sn->pmfd);
		sn->pmfd = -1;
		if (!sn->leader_gone || err != -ESRCH) {
			snap_set_err(sn, "mem: %s", strerror(-err));
			return err;
		}
	}
}

/*
 * Once the threads are stopped, a process whose leader exited names its
 * maps and the rest through one of its stopped threads: the one picked
 * before may have exited meanwhile.
 */
static void
snap_memory_of_stopped(struct snap *sn)
{
	size_t i;

	if (!sn->leader_gone)
		return;
	for (i = 0; i < sn->nt; i++)
		if (sn->t[i].state == T_STOPPED && !sn->t[i].other &&
		    sn->t[i].tid != sn->pid) {
			sn->mm_tid = sn->t[i].tid;
			snprintf(sn->mmdir, sizeof(sn->mmdir),
			    "/proc/%d/task/%d", (int)sn->pid, (int)sn->mm_tid);
			return;
		}
}

/*
 * Does a process whose leader exited still run?  Its mem file reads
 * nothing once its memory is gone (a killed process), not an error, so a
 * core read through it must ask afterwards.
 */
static bool
snap_leader_gone_runs(const struct snap *sn)
{
	unsigned long long st;
	unsigned long long threads;
	char path[64], *buf = NULL;
	size_t len;
	bool runs;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)sn->pid);
	if (kk_proc_start_time(sn->pid, &st) < 0 || st != sn->start_time ||
	    kk_read_text(path, SMALL_MAX, &buf, &len) < 0)
		return false;
	runs = kk_status_num(buf, "Threads", 0, &threads) == 0 && threads > 1;
	free(buf);
	return runs;
}

/* Does the process run on (its memory may have gone by an exec)? */
static bool
snap_still_runs(const struct snap *sn)
{
	struct kk_pstat ps;

	if (sn->leader_gone)
		return snap_leader_gone_runs(sn);
	return kk_pstat_read(sn->pid, 0, &ps) == 0 &&
	    ps.f[KK_PSTAT_START] == sn->start_time && ps.state != 'Z' &&
	    ps.state != 'X';
}

static int
snap_run(struct snap *sn)
{
	struct kk_artifact a;
	char path[96], *smaps = NULL;
	unsigned long long st2, tgid, tracer;
	size_t smapslen, i;
	char words[64];
	int err, cerr;
	pid_t tid;

	sn->pgsz = sysconf(_SC_PAGESIZE);
	sn->clk_tck = sysconf(_SC_CLK_TCK);
	if (sn->pgsz <= 0 || (sn->pgsz & (sn->pgsz - 1)) != 0)
		sn->pgsz = 4096;
	if (sn->clk_tck <= 0)
		sn->clk_tck = 100;
	sn->pmfd = sn->memfd = -1;

	if ((err = kk_proc_start_time(sn->pid, &sn->start_time)) < 0) {
		snap_set_err(sn, "%s", err == -ESRCH ? "no such process" :
		    strerror(-err));
		goto out;
	}
	/* the pid was recorded for another process: not a word of it */
	if (sn->want_start != 0 && sn->start_time != sn->want_start) {
		err = -ESRCH;
		snap_set_err(sn, "not the process recorded (started at %llu, "
		    "not %llu): its pid was reused", sn->start_time,
		    sn->want_start);
		goto out;
	}
	if ((err = snap_read_pidfile(sn, "status", SMALL_MAX, &sn->status,
	    &sn->statuslen)) < 0) {
		snap_set_err(sn, "status: %s", strerror(-err));
		goto out;
	}
	if ((err = kk_status_num(sn->status, "Tgid", 0, &tgid)) < 0 ||
	    tgid != (unsigned long long)sn->pid) {
		snap_set_err(sn, "not a process id (a thread of %lld)",
		    err < 0 ? -1LL : (long long)tgid);
		err = -EINVAL;
		goto out;
	}
	if ((err = snap_find_memory(sn)) < 0)
		goto out;
	sn->use_scan = !kk_snap_no_scan;
	sn->scanvec = calloc(SCAN_VEC, sizeof(*sn->scanvec));
	sn->pm = calloc(PM_CHUNK, sizeof(*sn->pm));
	if (sn->scanvec == NULL || sn->pm == NULL) {
		err = -ENOMEM;
		snap_set_err(sn, "%s", strerror(ENOMEM));
		goto out;
	}

	if ((err = snap_stop_threads(sn)) < 0) {
		snap_set_err(sn, "stopping threads: %s", strerror(-err));
		goto out;
	}
	snap_memory_of_stopped(sn);
	/*
	 * Refused, and no other tracer to explain it: ptrace is not allowed
	 * at all (and process_vm_readv would not be either).
	 */
	if (sn->seize_err != 0) {
		bool any = false;

		for (i = 0; i < sn->nt; i++)
			if (sn->t[i].state == T_STOPPED)
				any = true;
		if (!any && (kk_status_num(sn->status, "TracerPid", 0,
		    &tracer) < 0 || tracer == 0)) {
			err = sn->seize_err;
			snap_set_err(sn, "ptrace: %s", strerror(-err));
			goto out;
		}
	}
	/*
	 * A thread that refused (another tracer holds it) runs on: it may
	 * remap the memory while it is read, even onto a FUSE file whose
	 * server never answers, and hold the worker to its deadline.  Its
	 * memory is read only when the cgroup freezer holds it: freeze,
	 * then snapshot, as the guides say.
	 */
	if (sn->seize_err != 0 && (tid = snap_refused_running(sn)) != 0) {
		err = -EBUSY;
		snap_set_err(sn, "ptrace refused for thread %d (%s) and it is "
		    "not frozen: the memory is not read while it runs; freeze "
		    "the process first", (int)tid, snap_tracer_words(sn, tid,
		    words, sizeof(words)));
		goto out;
	}
	/* a pid reused while we looked is not the process asked for */
	if (kk_proc_start_time(sn->pid, &st2) < 0 || st2 != sn->start_time) {
		err = -ESRCH;
		snap_set_err(sn, "the process exited");
		goto out;
	}

	/*
	 * Everything that describes the memory, read while it holds still.
	 * maps up to MAPS_MAX, its whole lines: a process may map a file of
	 * a 4,000-character path 16,000 times, and its core must still be
	 * taken, of the mappings listed before (core_mem.c says so).
	 */
	if ((err = snap_read_pidfile_head(sn, "maps", MAPS_MAX, &sn->maps,
	    &sn->mapslen, &sn->maps_cut)) < 0) {
		snap_set_err(sn, "maps: %s", strerror(-err));
		goto out;
	}
	if (sn->maps_cut) {
		char *nl = memrchr(sn->maps, '\n', sn->mapslen);

		sn->mapslen = nl != NULL ? (size_t)(nl - sn->maps) + 1 : 0;
		sn->maps[sn->mapslen] = '\0';
	}
	if ((err = snap_parse_maps(sn)) < 0) {
		snap_set_err(sn, "maps: %s", strerror(-err));
		goto out;
	}
	/* smaps is maps and more: past MAPS_MAX when maps was cut */
	if (!sn->maps_cut && !kk_snap_no_smaps && snap_read_pidfile(sn,
	    "smaps", MAPS_MAX, &smaps, &smapslen) == 0)
		snap_apply_smaps(sn, smaps);
	free(smaps);
	free(sn->status);
	sn->status = NULL;
	/*
	 * The arguments, as environ, when they can be had: a process may
	 * point its argument area at more than SMALL_MAX of memory
	 * (PR_SET_MM_MAP needs no privilege when the executable stays),
	 * and that must not keep its core from being taken.
	 */
	if ((err = snap_read_pidfile(sn, "status", SMALL_MAX, &sn->status,
	    &sn->statuslen)) < 0 ||
	    (err = snap_read_pidfile(sn, "cmdline", SMALL_MAX, &sn->cmdline,
	    &sn->cmdlinelen)) == -ESRCH) {
		snap_set_err(sn, "reading /proc: %s", strerror(-err));
		goto out;
	}
	if (err < 0) {
		free(sn->cmdline);
		sn->cmdline = NULL;
		sn->cmdlinelen = 0;
	}
	sn->environ_err = snap_read_pidfile(sn, "environ", SMALL_MAX,
	    &sn->environ, &sn->environlen);
	if ((err = snap_build_notes(sn)) < 0) {
		snap_set_err(sn, "core notes: %s", strerror(-err));
		goto out;
	}

	if ((err = snap_proc_files(sn)) < 0)
		goto out;
	art_init(sn, &a);
	snprintf(path, sizeof(path), "pid-%d/core", (int)sn->pid);
	kk_artifacts_begin(sn->arts, path);
	err = snap_shared_mark(sn, &a, snap_write_core(sn, &a));
	if (err == 0 && sn->leader_gone && !snap_leader_gone_runs(sn)) {
		kk_artifact_incomplete(&a, "the process exited during the "
		    "snapshot: what was read after is missing");
		err = -ESRCH;
	}
	/*
	 * Not held (ptrace refused: another tracer), memory is read by pid
	 * number: one that exited and whose pid another process got during
	 * the copy gave the rest of the core.  Held, the pid cannot change.
	 */
	if (err == 0 && sn->seize_err != 0 && !sn->leader_gone &&
	    (kk_proc_start_time(sn->pid, &st2) < 0 ||
	    st2 != sn->start_time)) {
		kk_artifact_incomplete(&a, "the process, not held (ptrace "
		    "refused), exited during the snapshot: what was read may "
		    "be another's");
		err = -ESRCH;
	}
	/* and still frozen now: let out meanwhile, it could have run */
	if (err == 0 && sn->seize_err != 0 &&
	    (tid = snap_refused_running(sn)) != 0) {
		kk_artifact_incomplete(&a, "thread %d, not held (ptrace "
		    "refused), left the freezer during the copy: the memory "
		    "may have changed while it was read", (int)tid);
	}
	snap_detach_threads(sn);
	cerr = art_add(sn, &a);
	if (err == -ENOSPC) {
		snap_set_err(sn, "core: no space left on device after %llu "
		    "bytes", (unsigned long long)a.size);
		goto out;
	}
	if (err == -ESRCH) {
		/* a thread that was not stopped may have run an exec */
		snap_set_err(sn, "%s", snap_still_runs(sn) ? "the process's "
		    "memory was replaced during the snapshot (an exec by a "
		    "thread that was not stopped)" : "the process exited "
		    "during the snapshot");
		goto out;
	}
	if (err < 0) {
		snap_set_err(sn, "core: %s", a.error[0] ? a.error :
		    strerror(-err));
		goto out;
	}
	if ((err = cerr) < 0)
		goto out;

	if ((err = snap_exe(sn)) < 0)
		goto out;
	/* the registers part: an incomplete core is an error to report */
	if (sn->over_threads) {
		err = -E2BIG;
		snap_set_err(sn, "over %zu threads: %zu were not stopped",
		    sn->nt, sn->unstopped);
	} else if (sn->unstopped > 0) {
		err = -ETIMEDOUT;
		snap_set_err(sn, "%zu threads did not stop within %d ms",
		    sn->unstopped, STOP_TIMEOUT_MS);
	} else if (sn->seize_err != 0) {
		err = sn->seize_err;
		snap_set_err(sn, "ptrace refused (traced by another process?): "
		    "registers missing");
	}
out:
	snap_detach_threads(sn);
	kk_close(sn->pmfd);
	kk_close(sn->memfd);
	free(sn->t);
	free(sn->tidx);
	free(sn->v);
	free(sn->maps);
	free(sn->status);
	free(sn->cmdline);
	free(sn->environ);
	free(sn->notes);
	free(sn->scanvec);
	free(sn->pm);
	return err;
}

static void *
snap_thread(void *arg)
{
	struct snap *sn = arg;

	sn->ret = snap_run(sn);
	return NULL;
}

int
kk_snapshot_process(int dirfd, pid_t pid, unsigned long long start_time,
    struct kk_artifacts *arts, char *err, size_t errlen)
{
	struct snap *sn;
	pthread_t thr;
	int ret, r;

	if (errlen > 0)
		err[0] = '\0';
#ifndef CORE_MACHINE
	(void)dirfd;
	(void)arts;
	if (errlen > 0)
		snprintf(err, errlen, "pid %d: no ELF core writer for this "
		    "architecture", (int)pid);
	return -ENOTSUP;
#else
	if (pid <= 0 || pid == getpid()) {
		if (errlen > 0)
			snprintf(err, errlen, "pid %d: cannot snapshot that "
			    "process", (int)pid);
		return pid <= 0 ? -ESRCH : -EINVAL;
	}
	if ((sn = calloc(1, sizeof(*sn))) == NULL)
		return -ENOMEM;
	sn->pid = pid;
	sn->want_start = start_time;
	sn->dirfd = dirfd;
	sn->arts = arts;
	sn->err = err;
	sn->errlen = errlen;
	/* the tracer thread: its exit detaches whatever it still traces */
	if ((r = pthread_create(&thr, NULL, snap_thread, sn)) != 0) {
		if (errlen > 0)
			snprintf(err, errlen, "pid %d: thread: %s", (int)pid,
			    strerror(r));
		free(sn);
		return -r;
	}
	pthread_join(thr, NULL);
	ret = sn->ret;
	free(sn);
	return ret;
#endif
}
