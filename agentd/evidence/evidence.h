/*
 * Evidence preservation (DESIGN 7): freeze instead of kill, copy memory
 * before anything changes it, collect volatile state, hash everything.
 *
 * Modules:
 *   artifact.c  artifacts (one evidence file each) and hashing file writers
 *   exefile.c   the executable of a process: identity, file system, safe open
 *   exehash.c   hashing every running executable (in a worker), read back
 *   freeze.c    cgroup v2 freezer (v1 freezer fallback), selectors, thaw
 *   core.c      per-process snapshot: ELF core via ptrace + pagemap, maps, ...
 *   lime.c      physical RAM as LiME v1 from /proc/kcore (or /dev/crash, /dev/mem)
 *   collect.c   volatile evidence in RFC 3227 order, as JSON artifacts
 *   evidence.c  the evidence store: manifest.jsonl, manifest.dsse
 *
 * Same conventions as kakuri.h: 0 or a negative errno; modules never log,
 * they fill an err buffer with one line that says what went wrong.
 */
#ifndef KK_EVIDENCE_H
#define KK_EVIDENCE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <jansson.h>

#include "kakuri.h"

#define KK_ART_PATH_MAX		256	/* relative path inside the evidence dir */
#define KK_ART_MAX		4096	/* artifacts per command */
#define KK_ART_GAPS_MAX		4096	/* unreadable gaps listed per artifact */

/* One evidence file: what the manifest says about it. */
struct kk_artifact {
	char path[KK_ART_PATH_MAX];	/* relative to the evidence directory */
	uint64_t size;			/* bytes in the file (holes count) */
	char sha256[65];		/* lowercase hex of the whole file */
	pid_t pid;			/* source process, 0 if none */
	unsigned long long start_time;	/* its start time (clock ticks since boot, /proc/PID/stat field 22) */
	char method[48];		/* "elf-core/ptrace+proc-mem+pagemap", "lime/kcore", "procfs", ... */
	json_t *gaps;			/* array of {"offset","length","why"} or NULL (owned) */
	bool incomplete;		/* the copy stopped early (error says why) */
	char error[320];		/* one reason or more, "; " between */
};

struct kk_artifacts {
	struct kk_artifact *v;
	size_t n;
	size_t cap;
	/*
	 * Told of every artifact as it is added (an evidence worker sends
	 * each one to the parent at once, so that what was finished before
	 * a kill at the deadline is still recorded).  Optional.
	 */
	void (*on_add)(const struct kk_artifact *a, void *arg);
	/* told of each artifact before it is started (same purpose) */
	void (*on_begin)(const char *rel, void *arg);
	void *on_add_arg;
};

/* artifact.c */
void kk_artifacts_init(struct kk_artifacts *l);
void kk_artifacts_free(struct kk_artifacts *l);
/*
 * Appends a copy of *a (the list takes ownership of a->gaps; the caller's
 * a->gaps is set to NULL).  -E2BIG beyond KK_ART_MAX.
 */
int kk_artifacts_add(struct kk_artifacts *l, struct kk_artifact *a);
/* Says that rel is being started (kk_artifacts.on_begin). */
void kk_artifacts_begin(struct kk_artifacts *l, const char *rel);
/* a->gaps += {offset, length, why}; creates the array when needed */
int kk_artifact_gap(struct kk_artifact *a, uint64_t offset, uint64_t length,
    const char *why);
/*
 * a is incomplete for one more reason: added to a->error after those it
 * has ("; " between), never over them (cut if there is no more room).
 */
void kk_artifact_incomplete(struct kk_artifact *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The same, for a note that leaves the artifact whole (its gaps unlisted). */
void kk_artifact_note(struct kk_artifact *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * A file being written into the evidence dir while its SHA-256 is computed
 * on the way.  Holes (kk_sink_hole) are hashed as zeros and left sparse.
 * Writes are all-or-error: -ENOSPC etc. come back as they are.
 */
struct kk_sink;
/* creates rel (and its parent directories) under dirfd, O_EXCL, mode 0600 */
int kk_sink_open(int dirfd, const char *rel, struct kk_sink **out);
int kk_sink_write(struct kk_sink *s, const void *buf, size_t len);
/*
 * Writing without a copy: kk_sink_space says where the next bytes can be
 * read into (at most *room of them; NULL: out of memory), and
 * kk_sink_commit(s, len) writes len bytes from there, as kk_sink_write
 * would.  Nothing else may touch the sink in between.
 */
void *kk_sink_space(struct kk_sink *s, size_t *room);
int kk_sink_commit(struct kk_sink *s, size_t len);
/* len zero bytes, as a hole in the file */
int kk_sink_hole(struct kk_sink *s, uint64_t len);
uint64_t kk_sink_offset(const struct kk_sink *s);
/*
 * Finishes: sets the file size (for trailing holes), fsyncs, fills
 * a->path, a->size and a->sha256, frees s.  With error != 0 the file is
 * kept as far as it got, a->incomplete is set and a->error says why.
 * Returns the first error seen (write or finish).
 */
int kk_sink_close(struct kk_sink *s, struct kk_artifact *a, int error);
/*
 * Hashing in a second thread (pipeline), for large copies: the writer
 * hands off buffers and goes on reading while the previous one is hashed.
 * kk_sink_open_pipelined is kk_sink_open with that enabled.
 */
int kk_sink_open_pipelined(int dirfd, const char *rel, struct kk_sink **out);

/* Whole small files: write buf as rel, fill *a (method given). */
int kk_artifact_write(int dirfd, const char *rel, const void *buf, size_t len,
    const char *method, struct kk_artifact *a);
/* Copies a file (e.g. /proc/PID/maps) up to max bytes. */
int kk_artifact_copy_path(int dirfd, const char *rel, const char *src,
    uint64_t max, const char *method, struct kk_artifact *a);
/* The same from an open file (read from where it stands). */
int kk_artifact_copy_fd(int dirfd, const char *rel, int fd, const char *src,
    uint64_t max, const char *method, struct kk_artifact *a);
/* json_dumps(o) to rel (compact, one trailing newline) */
int kk_artifact_write_json(int dirfd, const char *rel, json_t *o,
    const char *method, struct kk_artifact *a);
/*
 * o as one line: json_dumps(o, flags) and a newline, NUL-terminated; *len
 * counts the newline, not the NUL.  NULL when memory ran out.  o stays
 * the caller's.
 */
char *kk_json_line(const json_t *o, size_t flags, size_t *len);
/* Writes o to fd as such a line and lets go of o (NULL: -ENOMEM). */
int kk_json_put_line(int fd, json_t *o, size_t flags);

/*
 * A whole file read into a NUL-terminated buffer (for /proc, whose files
 * have no size): -E2BIG past max bytes.  The caller frees *out.
 */
int kk_read_text(const char *path, size_t max, char **out, size_t *outlen);
/*
 * The same, but past about max bytes what was read (cut at no particular
 * place) and *cut set, not -E2BIG.
 */
int kk_read_text_head(const char *path, size_t max, char **out,
    size_t *outlen, bool *cut);

/* Process start time (field 22 of /proc/PID/stat); 0 and -errno if gone. */
int kk_proc_start_time(pid_t pid, unsigned long long *out);

/*
 * Room for element n of a growing array: vp is the address of the array
 * pointer, *cap its elements of size bytes.  When n == *cap it doubles
 * (first: the first size); -E2BIG when n is max (no more than max
 * elements, whatever *cap is), -ENOMEM (the array is left as it was).
 */
int kk_grow(void *vp, size_t *cap, size_t n, size_t size, size_t first,
    size_t max);

/*
 * A JSON string of n bytes; bytes that are not printable ASCII or valid
 * UTF-8 (file names and command lines need not be) are written as \xHH.
 */
json_t *kk_json_strn(const char *p, size_t n);
json_t *kk_json_str(const char *s);

/* exefile.c ----------------------------------------------------------- */

/* A file, as the kernel knows it. */
struct kk_file_id {
	uint64_t dev;		/* st_dev */
	uint64_t ino;
};

/* What statx says about the executable of a process, asking no server. */
struct kk_exe_info {
	struct kk_file_id id;
	uint64_t size;
	uint64_t mnt_id;
	mode_t mode;
	bool have_ino;
	bool have_mnt;
};

/*
 * statx of /proc/PID/exe with AT_STATX_DONT_SYNC: the file the process
 * runs, without a round trip to its file system.  -ESRCH for a kernel
 * thread or a process that is gone.  Safe in the event loop.
 */
int kk_exe_stat(pid_t pid, struct kk_exe_info *info);
/* The same for a path (the policy's, in our own mount namespace). */
int kk_path_id(const char *path, struct kk_file_id *id);
/*
 * "/proc/PID/task/TID" of the nth oldest thread of pid but its leader
 * (from 0): what answers for a process whose leader called pthread_exit
 * while its other threads run (exe, mem, maps, mountinfo of /proc/PID are
 * gone with the leader's memory).  -ESRCH when there is no such thread.
 * Callers try up to KK_PROC_THREAD_TRIES of them: one may exit meanwhile.
 */
#define KK_PROC_THREAD_TRIES	8
int kk_proc_thread_dir(pid_t pid, unsigned nth, char *out, size_t len);
/*
 * procleaf.c: /proc/PID/leaf on attempt 0, then that of the process's
 * other threads, oldest first (attempts up to KK_PROC_TRIES): a leader
 * that called pthread_exit answers what kk_proc_leader_gone says for
 * what belonged to its memory and name spaces, and a thread that exits
 * meanwhile ENOENT.
 */
#define KK_PROC_TRIES	(1 + KK_PROC_THREAD_TRIES)
int kk_proc_leaf(pid_t pid, int attempt, const char *leaf, char *out,
    size_t len);
bool kk_proc_leader_gone(int r);
/* procleaf.c: readlink of /proc/PID/leaf (another thread's if need be) */
int kk_proc_readlink(pid_t pid, const char *leaf, char *out, size_t len);
/* procleaf.c: is pid in our namespace of kind ("user", "mnt")? */
bool kk_proc_same_ns(pid_t pid, const char *kind);
/*
 * procleaf.c: is pid's root its mount namespace's?  The kernel leaves
 * the mounts a chroot does not reach out of its mountinfo, and writes
 * the others' mount points from its root.
 */
bool kk_proc_at_ns_root(pid_t pid);
/*
 * readlink of pid's exe (through kk_proc_thread_dir if need be); "" and
 * -ESRCH when it has none (a kernel thread, gone), or another -errno.
 */
int kk_exe_name(pid_t pid, char *out, size_t len);
/* A local disk or memory file system, whose files may be read. */
bool kk_fstype_local(const char *fstype);
/*
 * The layers of an overlay mount from its super options as mountinfo
 * shows them (sopts: octal escapes still in it): the paths of lowerdir
 * (':' and "::" between them), upperdir, lowerdir+ and datadir+, without
 * their escapes, one after the other in buf, each ended by a NUL, and
 * their number in *n.  -ENODATA without a lower layer, -EINVAL for a path
 * that is empty, relative or cannot be read, -ENAMETOOLONG when buf (len
 * bytes; strlen(sopts) + 2 always do) is too small.
 */
int kk_ovl_layers(const char *sopts, char *buf, size_t len, size_t *n);
/*
 * The type of the mount that holds path in a mount table (the text of a
 * mountinfo file): the one whose mount point is the longest prefix of
 * path, component by component.  Of mounts stacked on that point, the
 * last, or the first that is not local if any is not.  -ENOENT.  Only the
 * text is looked at: no file system is called.
 */
int kk_path_mount(const char *table, const char *path, char *fstype,
    size_t len);
/* The same, and that mount's device (maj:mnr, 0:N for none). */
int kk_path_mount_dev(const char *table, const char *path, char *fstype,
    size_t len, unsigned *maj, unsigned *mnr);
/*
 * Is any mount at or above path in table (a mount over another hides
 * it, not what lies below) of a type that is not read, or an overlay,
 * but for the types also names?  1 (its type in fstype), 0 none.
 */
int kk_path_mounts_unread(const char *table, const char *path,
    const char *const *also, size_t nalso, char *fstype, size_t len);
/* The mount table of pid (0: ours), read whole; the caller frees. */
int kk_mountinfo_read(pid_t pid, char **text);
/*
 * May files of a file system of type fstype on device maj:mnr be read
 * without waiting on a server (blockdev.c)?  Followed down through
 * sysfs: a partition to its disk, a mapper or md device to its slaves, a
 * loop device to its backing file's device (asked of the loop device),
 * whose mount must be of a local type in our mount table or pid's; nbd,
 * rbd and ublk are never local.  0:N (no block device): a btrfs by every
 * btrfs's devices, erofs and bcachefs not, others by their type.  false
 * with why when not.
 */
bool kk_blockdev_local(pid_t pid, const char *fstype, unsigned maj,
    unsigned mnr, char *why, size_t whylen);
/* The same, with the tables (mounts.h) of the question being asked. */
struct kk_mount_tables;
bool kk_blockdev_local_in(struct kk_mount_tables *mt, const char *fstype,
    unsigned maj, unsigned mnr, char *why, size_t whylen);
/*
 * May the files of device maj:mnr (a maps line's) be read: its mount in
 * pid's table (else ours) of a local type, an overlay over local layers,
 * on a local device.  false with why when not.
 */
bool kk_dev_readable(pid_t pid, unsigned maj, unsigned mnr, char *why,
    size_t len);
/*
 * Learns what kk_exe_open needs to read an executable run from a memfd
 * (memfd_create); once, in the parent, before any worker is forked.
 */
void kk_exe_prepare(void);
/*
 * Would kk_exe_open read pid's executable?  0 yes; -EPERM with why when
 * it would not (its file system, its type); -ESRCH.  Asks no server.
 */
int kk_exe_check(pid_t pid, struct kk_exe_info *info, char *why,
    size_t whylen);
/*
 * Opens the executable of pid for reading if, and only if, it is a
 * regular file on a local file system (checked before anything of that
 * file system is called): *fd, info filled.  -EPERM with why when it is
 * not to be read, -ESRCH when there is none.  Workers only: reading may
 * still take long.
 */
int kk_exe_open(pid_t pid, struct kk_exe_info *info, int *fd, char *why,
    size_t whylen);
/* The SHA-256 of what is left of fd: kk_fd_sha256 (common/util.c). */

/* exehash.c ----------------------------------------------------------- */

struct kk_hash_spec {
	const pid_t *pids;	/* only the executables of these; NULL: all */
	size_t npids;
	uint64_t max_bytes;	/* larger files are not read */
	uint64_t deadline_ns;	/* CLOCK_MONOTONIC; no reading after it */
};
/* Hashes the executables spec names, as JSON lines written to fd. */
int kk_exe_hash_scan(int fd, const struct kk_hash_spec *spec);

/* One executable in a scan, as the parent learns of it. */
struct kk_hash_file {
	struct kk_file_id id;
	uint64_t size;
	char *exe;		/* the path /proc/PID/exe named */
	json_t *pids;		/* up to 64 of its processes */
	size_t npids;		/* how many there were */
	char sha256[65];	/* "" unless hashed */
	char *why;		/* why it was not hashed */
	bool begun;		/* the worker started reading it */
	bool done;
};

struct kk_hash_result {
	struct kk_hash_file *v;
	size_t n;
	size_t cap;
	bool ended;		/* the worker said it was through */
};
/* One line of kk_exe_hash_scan's output; -EBADMSG if it is not one. */
int kk_hash_result_line(struct kk_hash_result *res, const char *line,
    size_t len);
/* The worker is gone: the file it was reading, and those it never reached. */
void kk_hash_result_close(struct kk_hash_result *res, const char *why_reading,
    const char *why_pending);
/* The files whose hash is sha (hex, either case); caller frees *ids. */
int kk_hash_result_match(const struct kk_hash_result *res, const char *sha,
    struct kk_file_id **ids, size_t *n);
/* [{exe, size, pids, npids, why}] for the files not hashed, at most max. */
json_t *kk_hash_result_unhashed(const struct kk_hash_result *res, size_t max);
size_t kk_hash_result_count(const struct kk_hash_result *res, bool hashed);
void kk_hash_result_free(struct kk_hash_result *res);

/* freeze.c ------------------------------------------------------------ */

enum kk_sel_kind {
	KK_SEL_PID,		/* pid (and descendants unless !tree) */
	KK_SEL_UID,		/* every process of uid */
	KK_SEL_EXE,		/* every process whose /proc/PID/exe is this path */
	KK_SEL_SHA256,		/* by hash: a worker resolves it to files */
	KK_SEL_FILES,		/* every process running one of files[] */
	KK_SEL_ALL,		/* thaw only: everything kakuri froze */
};

struct kk_selector {
	enum kk_sel_kind kind;
	pid_t pid;
	bool tree;
	uid_t uid;
	char exe[PATH_MAX];
	char sha256[65];	/* lowercase hex */
	const struct kk_file_id *files;	/* KK_SEL_FILES (device, inode) */
	size_t nfiles;
};

/*
 * A program the policy protects (evidence.protect).  A process counts as
 * that program only if it runs the very file the path named when the
 * guard was made (device and inode, read through the kernel's
 * /proc/PID/exe: no other mount namespace, copy, bind mount or path trick
 * matches) and it runs in the cgroup of a system service (see
 * kk_freeze_guard.service_slice): the same binary started by a user, with
 * LD_PRELOAD or anything else, is not the service.
 */
struct kk_protected_exe {
	const char *path;		/* as the policy names it */
	struct kk_file_id id;
	bool resolved;			/* the path named a file */
};

/* Processes that are never frozen, beyond pid 1 and kernel threads. */
struct kk_freeze_guard {
	pid_t self;			/* kakurid: itself and its children */
	const struct kk_protected_exe *protect;
	size_t nprotect;
	/*
	 * Where system services run, as a cgroup path: a protected
	 * program's process must be in a ".service" unit's cgroup below it
	 * (or below such a cgroup), every directory from that unit down
	 * owned by root (not delegated to a user).  "/system.slice" in
	 * kakurid; NULL protects nothing by policy.
	 */
	const char *service_slice;
};

#define KK_SERVICE_SLICE	"/system.slice"

/* Resolves the policy's paths now, in our own mount namespace. */
void kk_protect_resolve(const char *const *paths, size_t n,
    struct kk_protected_exe *out);
/*
 * Why pid must never be frozen or snapshotted (pid 1, a kernel thread,
 * kakurid or one of its children, the caller, a protected service), in
 * why; NULL when it may be.  Reads only /proc and cgroupfs.
 */
const char *kk_protected(const struct kk_freeze_guard *g, pid_t pid,
    char *why, size_t whylen);

/* One frozen process, with what thaw needs to put it back. */
struct kk_frozen {
	pid_t pid;
	unsigned long long start_time;	/* pid reuse guard */
	uid_t uid;
	char exe[PATH_MAX];
	char orig_cgroup[PATH_MAX];	/* path relative to the hierarchy root */
	char group[64];			/* the freeze group (quarantine cgroup) id */
	char method[16];		/* "cgroup2" or "freezer-v1" */
	/*
	 * Frozen where it was: its whole cgroup (orig_cgroup), all of it
	 * targets, was frozen in place instead of being moved; thaw thaws
	 * that cgroup.
	 */
	bool in_place;
	/*
	 * That cgroup's id (its directory's inode, never reused within a
	 * boot), 0 if not known (a state file of an older kakurid): thaw
	 * thaws that cgroup, not one made again under the same name.
	 */
	uint64_t cg_id;
	/*
	 * Frozen in place, its start time not read yet (0 until then): the
	 * pid, frozen in a cgroup only root may move anything into, is
	 * enough until kk_frozen_describe (or kk_thaw) reads it.
	 */
	bool start_later;
	bool described;			/* uid and exe are read */
};

struct kk_frozen_set {
	struct kk_frozen *v;
	size_t n;
	size_t cap;
};

struct kk_freezer {
	char method[16];		/* "cgroup2", "freezer-v1", "" if none */
	char root[PATH_MAX];		/* mount point of that hierarchy */
	char base[PATH_MAX];		/* root + "/kakuri": our subtree */
	unsigned timeout_ms;		/* wait for "frozen 1"; default 5000 */
	/*
	 * The freeze journal (journal.c), "" for none: the source groups
	 * a call froze for a moment, on disk before each is frozen.
	 */
	char journal[PATH_MAX];
	/* this boot's id, read by the probe ("" if not): in each line */
	char boot_id[40];
};

/*
 * Finds a usable freezer: cgroup2 (from /proc/self/mountinfo, a directory
 * can be made and has cgroup.freeze), else the v1 freezer hierarchy.
 * -ENOTSUP with err explaining when neither works.
 */
int kk_freezer_probe(struct kk_freezer *fz, char *err, size_t errlen);
/*
 * Freezes what sel names into the quarantine group `group` (created frozen
 * while still empty, targets moved in, re-scanned for new children until
 * none appear, then "frozen 1" awaited).  The cgroup a target comes from
 * is frozen before the target is moved (unless it holds kakurid, the
 * caller, pid 1, a protected process or child groups), so that a process
 * that forks to a new pid faster than /proc can be scanned holds still;
 * it is put back as it was before the call returns.  When every process
 * of that cgroup is a target (FZ_INPLACE_MIN of them at least, asked
 * once it is frozen, and again at the end) and nothing of it is
 * delegated (cgroup2; its cgroup.freeze and, up to the root,
 * cgroup.procs and cgroup.threads root's alone), it stays frozen where
 * it is instead, and its processes are recorded in_place, not moved; one
 * that is not a target found there at the end makes it an ordinary
 * source again (its targets moved, it runs).  Appends each process to
 * *set; the uid and exe (some start times too) of those frozen in place
 * are read by kk_frozen_describe.
 * A selector that names a protected process explicitly (pid selector) is
 * refused with -EPERM; the uid/exe/files selectors skip protected
 * processes and list them in *skipped (array of {pid, exe, why}) if
 * given.  A process that shares its memory with a target (clone(2) with
 * CLONE_VM, not a thread of it: a twin) is frozen with it, and listed in
 * *twins (array of {pid, twin_of, why}) if given; the two lists hold
 * 4096 entries together.  KK_SEL_SHA256 is -EINVAL: a worker resolves it
 * to KK_SEL_FILES first (exehash.c).  -ESRCH if nothing matched;
 * -ETIMEDOUT if "frozen 1" never came (the processes stay in the frozen
 * group and in *set).
 */
int kk_freeze(const struct kk_freezer *fz, const struct kk_freeze_guard *g,
    const struct kk_selector *sel, const char *group,
    struct kk_frozen_set *set, json_t **skipped, json_t **twins, char *err,
    size_t errlen);
/*
 * kk_freeze without blocking on the kernel (an event loop's way): the
 * targets are moved and 0 returned with *op; then kk_freeze_poll until it
 * no longer says -EAGAIN ("frozen 1" not yet, time left), its result
 * being kk_freeze's (op is freed then).  A process in an uninterruptible
 * wait (a file that does not answer) can keep "frozen 1" away for the
 * whole timeout; the loop serves meanwhile.  set, *skipped and *twins
 * must stay until the end; kk_freeze_op_free drops an op that is not
 * polled to its end (the processes stay in the frozen group).
 */
struct kk_freeze_op;
int kk_freeze_begin(const struct kk_freezer *fz,
    const struct kk_freeze_guard *g, const struct kk_selector *sel,
    const char *group, struct kk_frozen_set *set, json_t **skipped,
    json_t **twins, struct kk_freeze_op **op, char *err, size_t errlen);
int kk_freeze_poll(struct kk_freeze_op *op, char *err, size_t errlen);
void kk_freeze_op_free(struct kk_freeze_op *op);
/*
 * "" or, after kk_freeze_begin, why a source group it froze for a moment
 * is not in the freeze journal (kk_freezer.journal): it was frozen all
 * the same, and a kakurid that ended in the call would leave it frozen.
 */
const char *kk_freeze_op_note(const struct kk_freeze_op *op);
/*
 * Thaws what sel names among *set (KK_SEL_ALL: all): each process whose
 * start time still matches is moved back to its original cgroup; entries
 * are removed from *set and appended to *thawed; empty groups are thawed
 * and removed.  Processes that are gone are dropped from *set and counted
 * in *gone.  A cgroup frozen in place is thawed in place once none of the
 * set's processes in it is to stay frozen; those that are (a thaw by pid
 * of some of it) are first moved into the quarantine group, frozen as
 * they were.
 *
 * Never above where it came from: when the original cgroup is gone, it is
 * made again (mkdir) below its nearest ancestor that still exists, as
 * long as that ancestor is inside the original's slice (the deepest
 * ".slice" in its path; without one, the original's parent); when it
 * exists but takes no processes any more (v2: controllers enabled below
 * it), a leaf "kakuri-thawed" is made inside it.  What cannot be put back
 * so stays frozen, stays in *set, and is listed in *kept (array of {pid,
 * exe, cgroup, why}) if given; the call then returns -EAGAIN.
 */
int kk_thaw(const struct kk_freezer *fz, const struct kk_selector *sel,
    struct kk_frozen_set *set, struct kk_frozen_set *thawed, size_t *gone,
    json_t **kept, char *err, size_t errlen);
void kk_frozen_set_free(struct kk_frozen_set *set);
/*
 * The uid and exe (and start time, start_later) of the entries from
 * first on that a freeze recorded without them (frozen in place: read
 * once frozen, not while the freeze is under way); entries whose process
 * is gone by then, or no longer in its cgroup, are dropped.  Call it
 * before the set is saved or shown.
 */
void kk_frozen_describe(struct kk_frozen_set *set, size_t first);
json_t *kk_frozen_to_json(const struct kk_frozen_set *set);
int kk_frozen_from_json(json_t *arr, struct kk_frozen_set *set);
/*
 * After a kakurid that ended in a freeze call: the source groups its
 * journal names thawed, by their inode and within the same boot, but
 * those set (the saved frozen set) knows as frozen in place; the freeze
 * group the call took its targets into in episode ("" if none).  The
 * caller empties the journal (kk_freeze_journal_clear) once that
 * episode's strays are saved.  How many were thawed, or a negative
 * errno; err names a journal or line that could not be read (also with
 * a count); one that cannot be read is kept aside as JOURNAL.unread.
 */
int kk_freeze_journal_recover(const struct kk_freezer *fz,
    const struct kk_frozen_set *set, char *episode, size_t episodelen,
    char *err, size_t errlen);
/*
 * The processes frozen in the freeze group `group` that set does not
 * know (a kakurid ended while a freeze took them) taken into set, each
 * with the original cgroup its line in the journal's moves file names;
 * one with no line (born in the group) gets its parent's if that is in
 * set; else it is unknown, and a thaw keeps such a one frozen.  Those g
 * says must never be frozen are left where they are, counted in
 * *protected.  How many, or a negative errno (set as it was).  A moves
 * file that cannot be read is kept aside as MOVES.unread, and err says
 * so ("" else).
 */
int kk_frozen_adopt_strays(const struct kk_freezer *fz,
    const struct kk_freeze_guard *g, struct kk_frozen_set *set,
    const char *group, size_t *protected, char *err, size_t errlen);
/*
 * Once a call has returned and its set is saved, and at start once the
 * journal was read: the journal emptied (a group it names is not thawed
 * again by a later start).
 */
void kk_freeze_journal_clear(const struct kk_freezer *fz);
/*
 * The same after a call whose set could not be saved, but for the line
 * naming its freeze group: the next kakurid still takes the targets
 * moved there into its set (kk_frozen_adopt_strays), each with the
 * group its move names, as the moves file is kept too.
 */
void kk_freeze_journal_keep_episode(const struct kk_freezer *fz,
    const char *group);
/* Once the targets a call moved are in a saved set: the moves file. */
void kk_freeze_moves_clear(const struct kk_freezer *fz);
/* What a process last saved as frozen.json: kk_frozen_save. */
struct kk_frozen_saved {
	bool known;
	unsigned char sha256[32];	/* of its text */
	dev_t dev;			/* the file written */
	ino_t ino;
};

/*
 * Persisted as state_dir/frozen.json (temp + fsync + rename).  With last
 * (zeroed before the first save), a set that would be written as this
 * process last saved it, and as the file still holds it (read back), is
 * not written again; last is updated.
 */
int kk_frozen_save(const char *path, const struct kk_frozen_set *set,
    struct kk_frozen_saved *last);
int kk_frozen_load(const char *path, struct kk_frozen_set *set);

/* core.c -------------------------------------------------------------- */

/*
 * Snapshot of one process into dirfd under "pid-<pid>/": core (ELF core
 * that gdb opens), maps, status, cmdline, environ, exe (a copy).  Works on
 * frozen and running processes alike (PTRACE_SEIZE + PTRACE_INTERRUPT,
 * never a plain attach or a signal).  Pages the process never touched
 * (pagemap) stay holes and are not faulted in.  Every file written is
 * appended to *arts, also when incomplete.  start_time, when not 0, is
 * the start time recorded for pid (a freeze): a process that started at
 * another time is a pid reused by someone else, and is -ESRCH untouched.
 * The executable is copied only from a local file system (exefile.c),
 * and only while pid is still the process (its start time after the
 * open); otherwise pid-N/exe is an empty artifact whose error says why.
 * Returns 0, or the first error (-ESRCH: the process vanished, -ENOSPC:
 * disk full, ...).
 */
int kk_snapshot_process(int dirfd, pid_t pid, unsigned long long start_time,
    struct kk_artifacts *arts, char *err, size_t errlen);
/* Called just before the executable is opened: set by the unit tests only. */
extern void (*kk_snap_exe_hook)(pid_t pid);
/*
 * Called once the page tables said [start, end) is there, just before it
 * is read: set by the unit tests only.
 */
extern void (*kk_snap_mem_hook)(pid_t pid, uint64_t start, uint64_t end);
/* Called before a segment's page tables are read: the unit tests only. */
extern void (*kk_snap_seg_hook)(pid_t pid, uint64_t start, uint64_t end);
/* The pagemap file, not PAGEMAP_SCAN (as before Linux 6.7): the tests. */
extern bool kk_snap_no_scan;
/* smaps taken for unreadable (as past its size limit): the tests. */
extern bool kk_snap_no_smaps;
/* threads one snapshot holds at most (65,536; a test lowers it) */
extern size_t kk_snap_max_threads;

/*
 * Said by a process whose seccomp filter lets kcmp(2) of KCMP_VM through
 * (an evidence worker's, kk_seccomp_rules.kcmp_vm): the twin check then
 * asks the kernel, as it does without a filter, instead of comparing
 * /proc figures that a forked child can make its own look like.
 */
void kk_snapshot_kcmp_filtered_ok(void);

/* lime.c -------------------------------------------------------------- */

struct kk_lime_src {
	const char *kcore;	/* "/proc/kcore" (tests: fixtures) */
	const char *iomem;	/* "/proc/iomem" */
	const char *crash;	/* "/dev/crash" */
	const char *mem;	/* "/dev/mem" */
};
/*
 * Physical RAM as LiME v1 ("EMiL", version 1, one header per range,
 * inclusive end addresses, ascending) into dirfd/rel.  The ranges are the
 * "System RAM" entries of iomem (nested ones included); their bytes come
 * from kcore's PT_LOAD segments by physical address, else crash, else mem.
 * Unreadable pieces are zero-filled and listed as gaps.  -ENOENT with err
 * when no source can be read.
 */
int kk_lime_write(int dirfd, const char *rel, const struct kk_lime_src *src,
    struct kk_artifact *a, char *err, size_t errlen);
/* The "System RAM" ranges of an iomem file, ascending, inclusive ends. */
struct kk_range {
	uint64_t start;
	uint64_t end;		/* inclusive */
};
int kk_iomem_ram(const char *iomem, struct kk_range **out, size_t *n);

/* collect.c ----------------------------------------------------------- */

/*
 * Which sources: all, or all but the nftables ruleset and that alone.
 * kakurid's collect job takes them in two workers: the first, with no
 * CAP_NET_ADMIN, reads every source of text local users write (process
 * table, sessions, mounts, journal); the second reads only the ruleset
 * (from the kernel), which needs CAP_NET_ADMIN.
 */
/* a collection's time when none is given (timeout_ms 0) */
#define KK_COLLECT_DEF_TIMEOUT_MS	30000

enum kk_collect_part {
	KK_COLLECT_ALL,
	KK_COLLECT_NO_NFT,
	KK_COLLECT_NFT_ONLY,
};
struct kk_collect_limits {
	unsigned timeout_ms;		/* whole collection */
	uint64_t max_bytes;		/* all artifacts together */
	unsigned journal_entries;	/* most recent entries */
	const char *nft_ruleset_text;	/* optional, if the caller has it */
	enum kk_collect_part part;
	/*
	 * Optional: called once the ruleset is read (07), before the
	 * sources local users write (the journal, package lists).  Below
	 * 0: nothing more is collected, and the collection fails.
	 */
	int (*after_nftables)(void);
};
/*
 * Volatile evidence in RFC 3227 order (most volatile first) as JSON
 * artifacts under dirfd/"collect/": NN-name.json.  Read-only; bounded in
 * time and size (an artifact cut short is marked incomplete).  Appends
 * to *arts.
 */
int kk_collect(int dirfd, const struct kk_collect_limits *lim,
    struct kk_artifacts *arts, char *err, size_t errlen);

/* evidence.c ---------------------------------------------------------- */

struct kk_manifest_ctx {
	const char *command;		/* the command id */
	const char *evidence;		/* the evidence id: signed in */
	const char *boot_id;
	const char *agent_version;
	const char *agent_id;
	char *sha256;	/* if set (65 bytes): gets manifest.jsonl's SHA-256 */
};
/*
 * Appends one JSON line per artifact to dir/manifest.jsonl (fsync), then
 * re-signs the whole file as dir/manifest.dsse (payload type
 * KK_PT_MANIFEST, payload = manifest.jsonl bytes), atomically.
 */
struct evp_pkey_st;
int kk_manifest_append(int dirfd, const struct kk_manifest_ctx *ctx,
    const struct kk_artifacts *arts, struct evp_pkey_st *key,
    const char *keyid, char *err, size_t errlen);
/* Evidence ids: kk_evidence_id_ok (common/util.c, kakurictl checks them too) */
/*
 * openat2 of path below dfd: no "..", no symbolic or magic links, no
 * other mount (RESOLVE_BENEATH and friends); flags | O_NOFOLLOW.
 */
int kk_evidence_open(int dfd, const char *path, int flags);
/* ... and with O_CREAT, the new file's mode */
int kk_evidence_openat(int dfd, const char *path, int flags, mode_t mode);
/*
 * Whether rel may name an artifact below a job's directory: relative, no
 * ".." component, no control character or backslash, shorter than
 * KK_ART_PATH_MAX.  A worker's word is checked with it before root acts
 * on the path.
 */
bool kk_artifact_rel_ok(const char *rel);
/*
 * The regular files below dfd/rel ("" for dfd itself) as {path, size},
 * paths relative to dfd, at most 6 directories deep; -E2BIG once out
 * holds max of them (or 4 * max + 1024 entries of any kind were looked
 * at).  Names with ".tmp" (files being written) are left out.
 */
int kk_evidence_list(int dfd, const char *rel, size_t max, json_t *out);

/*
 * One entry met by kk_evidence_walk.  st is lstat's (NULL: err says why
 * it could not be had, -ENAMETOOLONG: its path would not fit path_max,
 * and path is NULL).  A directory is met after its contents, open (fd,
 * no link followed, not on another mount), also when the walk stopped
 * in them; err then says why it was not read: it could not be opened
 * (fd -1), or -ELOOP, it is max_depth deep.
 */
struct kk_walk_ent {
	int dfd;			/* the directory it is in */
	const char *name;		/* in dfd */
	const char *path;		/* rel/.../name */
	int depth;			/* 0: an entry of rel itself */
	const struct stat *st;
	int fd;				/* a directory, else -1 */
	int err;
};
struct kk_walk {
	int max_depth;			/* directories read below rel */
	size_t entries;			/* looked at in all, then -E2BIG */
	size_t path_max;		/* of an entry's path, with its NUL */
	const char *pass_over;		/* names with it left alone, or NULL */
	/* 0 to go on, or a negative errno that ends the walk */
	int (*visit)(const struct kk_walk_ent *e, void *arg);
	void *arg;
};
/*
 * Every entry below dfd/rel ("" for dfd itself), depth first, in the
 * order the directories list them, met by w->visit: what a worker wrote,
 * which may hold links, fifos, devices and deep or wide trees.  Nothing
 * but a directory is opened, and a directory only through openat2
 * without links (kk_evidence_openat) and O_NONBLOCK; every entry is
 * lstat'ed.  Entries named with pass_over, and those whose path does not
 * fit path_max, are not descended into.  0, or what ended it: -E2BIG
 * when there was more than entries entries, or visit's error.
 */
int kk_evidence_walk(int dfd, const char *rel, const struct kk_walk *w);

#endif
