/*
 * The evidence actions of the parent, in files: what they share.
 *
 *   act_evidence.c   snapshot and collect, the evidence state (init, status)
 *   act_freeze.c     freeze and thaw (in the loop; by sha256 after a worker)
 *   act_fetch.c      fetch: the listing, grants, chunks
 *   preserve_jobs.c  evidence workers, seen from the parent: start, lines,
 *                    deadlines, kill, what they leave behind
 *   preserve_worker.c  the worker itself: confinement, the job, its lines
 *   preserve.c       small helpers they share
 *
 * Internal to these files; the entry points are in daemon.h and run.h.
 */
#ifndef KD_PRESERVE_H
#define KD_PRESERVE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>
#include <systemd/sd-event.h>

#include "daemon.h"
#include "evidence.h"
#include "run.h"

struct pending_freeze;

#define KD_JOBS_PER_KIND	2	/* workers of one kind at once */

#define KD_JOB_LINE_MAX		(8U << 20)	/* one line of a worker */

#define KD_MAX_GRANTS		16

#define KD_GRANT_SECONDS	1800

#define KD_CHUNK_MAX		(512U * 1024)
/* a chunk request, {"chunk": {path, offset, length}}, at most */
#define KD_CHUNK_REQ_MAX	(PATH_MAX + 256)

#define KD_FETCH_MAX_FILES	4096

#define KD_RECEIPT_ARTIFACTS	256	/* listed in a receipt; the manifest has all */

#define KD_RECEIPT_UNHASHED	256	/* unhashed files listed in a receipt */

/*
 * Processes in one snapshot: each leaves six artifacts (core, exe, maps,
 * status, cmdline, environ), and a command's list holds KK_ART_MAX.  At
 * 1,024, pids past about 680 failed one by one for want of room.
 */
#define KD_SNAPSHOT_PIDS	512
#define KD_SNAPSHOT_ARTS_PER_PID	6
/* frozen ones over it, named in the receipt (a count says how many) */
#define KD_SNAPSHOT_LEFT_LISTED	64

#define KD_HASH_FILE_MAX	((uint64_t)1 << 30)	/* larger: not hashed */

#define KD_SNAPSHOT_TIMEOUT	1800	/* seconds, when the policy says 0 */

#define KD_COLLECT_GRACE_MS	5000	/* after collect's own deadline */

#define KD_WORKER_NICE		10

#define KD_WORKER_NO_SANDBOX	4	/* exit status: not confined */

#define KD_KILL_GRACE_MS	500	/* from SIGKILL to giving up on the exit */

/*
 * What the parent takes from one worker, a worker being what parses the
 * attacker's files (maps, the journal, dpkg's status): a worker that
 * says more, or says it otherwise, is killed and not believed.  Reads
 * per wake-up of the loop, so that a worker that keeps its pipe full
 * cannot keep the loop from the disconnect button and the deadlines;
 * bytes in all; gaps per artifact (as artifact.c makes them); the gaps
 * kept in all (past them an artifact's are left out, its error saying
 * so); the errors of its last line and each one's length.
 */
#define KD_JOB_READS_PER_WAKE	4
#define KD_JOB_OUTPUT_MAX	(256U << 20)
#define KD_JOB_GAPS_MAX		KK_ART_GAPS_MAX
/*
 * Values and separators (kk_json_few_values) of a worker's line at most:
 * an artifact with all its gaps (7 each) has fewer.  A worker's 8 MiB of
 * [{},{},...] would cost jansson in root 40 to 80 times that.
 */
#define KD_JOB_LINE_VALUES	(KD_JOB_GAPS_MAX * 8 + 4096)
#define KD_JOB_GAPS_TOTAL	65536
#define KD_JOB_GAP_WHY_MAX	200
#define KD_JOB_ERRORS_MAX	(KD_SNAPSHOT_PIDS + 8)
#define KD_JOB_ERROR_LEN	1024

#define KD_STUCK_MAX		16	/* killed workers the kernel still holds */

enum job_kind { JOB_SNAPSHOT, JOB_COLLECT, JOB_HASH, JOB_KINDS };

static const char *const job_names[JOB_KINDS] = { "snapshot", "collect",
	"hash" };

/* What a worker is to do; built in the parent, read by the child. */
struct job_spec {
	enum job_kind kind;
	pid_t *pids;		/* snapshot and hash (NULL: all processes) */
	unsigned long long *starts;	/* snapshot: recorded start times */
	size_t npids;
	bool physical;
	struct kk_collect_limits lim;
	unsigned soft_ms;	/* hash: no reading after this */
};

struct job {
	struct kd_preserve *pv;
	struct run *r;
	enum job_kind kind;
	pid_t pid;
	int fd;
	sd_event_source *child_src;
	sd_event_source *io_src;
	sd_event_source *timer_src;
	sd_event_source *grace_src;	/* after the kill */
	char *buf;		/* the line being received */
	size_t len;
	size_t cap;
	size_t received;	/* bytes in all (KD_JOB_OUTPUT_MAX) */
	size_t gaps;		/* in all its artifacts (KD_JOB_GAPS_TOTAL) */
	bool exited;
	bool eof;
	bool killed;		/* at its deadline */
	bool stuck;		/* killed, and still not gone */
	bool bad;		/* said something that is not a line of ours */
	bool ended;		/* sent its final line */
	int status;
	unsigned deadline_ms;
	struct timespec started;
	char evid[80];
	char sub[48];		/* the command's subdirectory */
	/* snapshot and collect */
	struct kk_artifacts arts;
	json_t *errors;
	int code;
	json_t *skipped;	/* snapshot: pids not taken */
	size_t left_out;	/* snapshot: frozen ones over KD_SNAPSHOT_PIDS */
	char current[KK_ART_PATH_MAX];	/* the artifact last begun */
	/* collect: the ruleset's worker still to come, and its limits */
	bool nft_next;
	struct kk_collect_limits lim;
	/* hash: the selector it resolves */
	struct kk_hash_result hres;
	struct kk_selector sel;
	bool thaw;
	unsigned budget_ms;	/* the whole freeze, hashing included */
	/* told when the job has ended; KD_RUN_PENDING: it finishes the run */
	int (*done)(struct job *j);
	struct job *next;
};

/* A killed worker that has not exited yet, waited for in the background. */
struct stuck {
	struct kd_preserve *pv;
	pid_t pid;
	sd_event_source *child_src;
	struct stuck *next;
};

struct grant {
	uint64_t token;
	char evid[80];
	time_t until;
};

struct kd_preserve {
	struct kd *d;
	struct kk_freezer fz;
	bool fz_ok;
	char fz_err[256];
	struct kk_frozen_set frozen;
	char frozen_path[PATH_MAX];
	struct kk_frozen_saved frozen_saved;	/* what was saved last */
	/* a freeze's save failed: the next call saves even adding nothing */
	bool frozen_unsaved;
	char evidence_dir[PATH_MAX];
	char boot_id[40];
	struct job *jobs;
	unsigned njobs[JOB_KINDS];
	struct pending_freeze *pending;	/* one freeze at a time waits */
	struct stuck *stuck;
	unsigned nstuck;
	struct grant grants[KD_MAX_GRANTS];
};

/*
 * act_fetch.c: the grant a fetch on connection token takes: its own, one
 * a connection (a second fetch replaces the first: with two, chunks were
 * read from the older while the client believed it read the newer), else
 * a free one, else the one that ends first.
 */
struct grant *kd_grant_slot(struct kd_preserve *pv, uint64_t token,
    time_t now);

/* preserve.c */
int pv_strf(char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
long pv_ms_since(const struct timespec *t0);
bool pv_frozen_save(struct kd_preserve *pv, const char *why);
/* kk_is_hex (common/util.c) by its older name, for its callers here */
#define pv_is_hex(s, n)	kk_is_hex(s, strlen(s), n)

/* act_freeze.c */
void pv_make_guard(struct kd *d, struct kk_freeze_guard *g,
    struct kk_protected_exe *prot);
void pv_pending_free(struct pending_freeze *pf);

/* preserve_jobs.c */
/*
 * Forks a worker for js (output under evidence/EVID/PREFIX-ID unless it
 * hashes); done is called with the job when it has ended, and says
 * KD_RUN_PENDING if it finishes the run itself later.  KD_RUN_PENDING,
 * or a negative errno with the run failed or rejected.
 */
int pv_start_job(struct run *r, struct job_spec *js, const char *prefix,
    int (*done)(struct job *), struct job **jp);
void pv_arm_deadline(struct job *j);
void pv_jobs_free(struct kd_preserve *pv);
/* One line of a worker's report, checked (the tests feed it too). */
void pv_job_line(struct job *j, const char *line, size_t len);
int pv_job_read(struct job *j);
/* KD_JOB_OUTPUT_MAX, lowered by the tests */
extern size_t pv_job_output_max;

/* preserve_files.c: what a worker leaves, once it is through */
void pv_cut_unreported(struct job *j, const char *why);
void pv_release_space(struct job *j);
void pv_worker_end_words(const struct job *j, char *out, size_t len);
/* the job's directory made root's: no later worker changes it */
void pv_seal_job_dir(struct job *j);

/* preserve_worker.c */
void pv_worker_main(struct kd *d, pid_t parent, int out, int dirfd,
    const struct job_spec *js) __attribute__((noreturn));

#endif
