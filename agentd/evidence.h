/*
 * Evidence preservation (DESIGN 7): freeze instead of kill, copy memory
 * before anything changes it, collect volatile state, hash everything.
 *
 * Modules:
 *   artifact.c  artifacts (one evidence file each) and hashing file writers
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
#include <sys/types.h>

#include <jansson.h>

#define KK_ART_PATH_MAX		256	/* relative path inside the evidence dir */
#define KK_ART_MAX		4096	/* artifacts per command */

/* One evidence file: what the manifest says about it. */
struct kk_artifact {
	char path[KK_ART_PATH_MAX];	/* relative to the evidence directory */
	uint64_t size;			/* bytes in the file (holes count) */
	char sha256[65];		/* lowercase hex of the whole file */
	pid_t pid;			/* source process, 0 if none */
	unsigned long long start_time;	/* its start time (clock ticks since boot, /proc/PID/stat field 22) */
	char method[48];		/* "elf-core/ptrace+process_vm_readv", "lime/kcore", "procfs", ... */
	json_t *gaps;			/* array of {"offset","length","why"} or NULL (owned) */
	bool incomplete;		/* the copy stopped early (error says why) */
	char error[200];
};

struct kk_artifacts {
	struct kk_artifact *v;
	size_t n;
	size_t cap;
};

/* artifact.c */
void kk_artifacts_init(struct kk_artifacts *l);
void kk_artifacts_free(struct kk_artifacts *l);
/*
 * Appends a copy of *a (the list takes ownership of a->gaps; the caller's
 * a->gaps is set to NULL).  -E2BIG beyond KK_ART_MAX.
 */
int kk_artifacts_add(struct kk_artifacts *l, struct kk_artifact *a);
/* a->gaps += {offset, length, why}; creates the array when needed */
int kk_artifact_gap(struct kk_artifact *a, uint64_t offset, uint64_t length,
    const char *why);

/*
 * A file being written into the evidence dir while its SHA-256 is computed
 * on the way.  Holes (kk_sink_hole) are hashed as zeros and left sparse.
 * Writes are all-or-error: -ENOSPC etc. come back as they are.
 */
struct kk_sink;
/* creates rel (and its parent directories) under dirfd, O_EXCL, mode 0600 */
int kk_sink_open(int dirfd, const char *rel, struct kk_sink **out);
int kk_sink_write(struct kk_sink *s, const void *buf, size_t len);
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
/* Copies a file (e.g. /proc/PID/maps, /proc/PID/exe) up to max bytes. */
int kk_artifact_copy_path(int dirfd, const char *rel, const char *src,
    uint64_t max, const char *method, struct kk_artifact *a);
/* json_dumps(o) to rel (compact, one trailing newline) */
int kk_artifact_write_json(int dirfd, const char *rel, json_t *o,
    const char *method, struct kk_artifact *a);

/*
 * A whole file read into a NUL-terminated buffer (for /proc, whose files
 * have no size): -E2BIG past max bytes.  The caller frees *out.
 */
int kk_read_text(const char *path, size_t max, char **out, size_t *outlen);

/* Process start time (field 22 of /proc/PID/stat); 0 and -errno if gone. */
int kk_proc_start_time(pid_t pid, unsigned long long *out);

/* freeze.c ------------------------------------------------------------ */

enum kk_sel_kind {
	KK_SEL_PID,		/* pid (and descendants unless !tree) */
	KK_SEL_UID,		/* every process of uid */
	KK_SEL_EXE,		/* every process whose /proc/PID/exe is this path */
	KK_SEL_SHA256,		/* every process whose executable hashes to this */
	KK_SEL_ALL,		/* thaw only: everything kakuri froze */
};

struct kk_selector {
	enum kk_sel_kind kind;
	pid_t pid;
	bool tree;
	uid_t uid;
	char exe[PATH_MAX];
	char sha256[65];	/* lowercase hex */
};

/* Processes that are never frozen, beyond pid 1 and kernel threads. */
struct kk_freeze_guard {
	pid_t self;			/* kakurid: itself and its children */
	const char *const *protect_exe;	/* absolute paths from the policy */
	size_t nprotect_exe;
};

/* One frozen process, with what thaw needs to put it back. */
struct kk_frozen {
	pid_t pid;
	unsigned long long start_time;	/* pid reuse guard */
	uid_t uid;
	char exe[PATH_MAX];
	char orig_cgroup[PATH_MAX];	/* path relative to the hierarchy root */
	char group[64];			/* the freeze group (quarantine cgroup) id */
	char method[16];		/* "cgroup2" or "freezer-v1" */
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
 * none appear, then "frozen 1" awaited).  Appends each process to *set.
 * A selector that names a protected process explicitly (pid selector) is
 * refused with -EPERM; the uid/exe/sha256 selectors skip protected
 * processes and list them in *skipped (array of {pid, exe, why}) if given.
 * -ESRCH if nothing matched; -ETIMEDOUT if "frozen 1" never came (the
 * processes stay in the frozen group and in *set).
 */
int kk_freeze(const struct kk_freezer *fz, const struct kk_freeze_guard *g,
    const struct kk_selector *sel, const char *group,
    struct kk_frozen_set *set, json_t **skipped, char *err, size_t errlen);
/*
 * Thaws what sel names among *set (KK_SEL_ALL: all): each process whose
 * start time still matches is moved back to its original cgroup; entries
 * are removed from *set and appended to *thawed; empty groups are thawed
 * and removed.  Processes that are gone are dropped from *set and counted
 * in *gone.
 */
int kk_thaw(const struct kk_freezer *fz, const struct kk_selector *sel,
    struct kk_frozen_set *set, struct kk_frozen_set *thawed, size_t *gone,
    char *err, size_t errlen);
void kk_frozen_set_free(struct kk_frozen_set *set);
json_t *kk_frozen_to_json(const struct kk_frozen_set *set);
int kk_frozen_from_json(json_t *arr, struct kk_frozen_set *set);
/* Persisted as state_dir/frozen.json (temp + fsync + rename). */
int kk_frozen_save(const char *path, const struct kk_frozen_set *set);
int kk_frozen_load(const char *path, struct kk_frozen_set *set);
/* SHA-256 of an executable file, lowercase hex */
int kk_file_sha256(const char *path, char out[65]);

/* core.c -------------------------------------------------------------- */

/*
 * Snapshot of one process into dirfd under "pid-<pid>/": core (ELF core
 * that gdb opens), maps, status, cmdline, environ, exe (a copy).  Works on
 * frozen and running processes alike (PTRACE_SEIZE + PTRACE_INTERRUPT,
 * never a plain attach or a signal).  Pages the process never touched
 * (pagemap) stay holes and are not faulted in.  Every file written is
 * appended to *arts, also when incomplete.  Returns 0, or the first error
 * (-ESRCH: the process vanished, -ENOSPC: disk full, ...).
 */
int kk_snapshot_process(int dirfd, pid_t pid, struct kk_artifacts *arts,
    char *err, size_t errlen);

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

struct kk_collect_limits {
	unsigned timeout_ms;		/* whole collection */
	uint64_t max_bytes;		/* all artifacts together */
	unsigned journal_entries;	/* most recent entries */
	const char *nft_ruleset_text;	/* optional, if the caller has it */
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
	const char *boot_id;
	const char *agent_version;
	const char *agent_id;
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
/* Evidence ids: incident or command id, [A-Za-z0-9._-], 1..64, not "." / ".." */
bool kk_evidence_id_ok(const char *id);

#endif
