/*
 * The freezer (freeze.c) in files: what they share.  Internal to
 * agentd/evidence/; the interface is evidence.h.
 */
#ifndef KK_FREEZER_H
#define KK_FREEZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#include "evidence.h"

#define PF_KTHREAD		0x00200000	/* include/linux/sched.h */
#define PF_FORKNOEXEC		0x00000040	/* forked, has not exec'd */
#define PF_EXITING		0x00000004	/* in exit: its mm going or gone */
#define FZ_TWIN_ROUNDS		64	/* looks for twins per pass */
#define FZ_TIMEOUT_MS		5000	/* default wait for "frozen 1" */
#define FZ_BOOT_ID_LEN		36	/* a boot id's characters */
#define FZ_PASSES_MAX		1000	/* re-scans for children forked meanwhile */
#define FZ_SCAN_MAX		(1 << 20)	/* /proc entries looked at per scan */
#define FZ_SET_MAX		(1 << 20)	/* processes in a frozen set */
#define FZ_SKIP_MAX		4096	/* entries in *skipped and *twins */
#define FZ_CHAIN_MAX		64	/* ppid steps to a recorded ancestor */
#define FZ_MOUNTINFO_LINES	100000
#define FZ_PROCS_FILE_MAX	(16 << 20)	/* bytes of one cgroup.procs */
#define FZ_JSON_MAX		(256 << 20)	/* frozen.json */
#define FZ_UP_MAX		256	/* ancestors tried when moving back */
#define FZ_SOURCES_MAX		64	/* source groups frozen per call */
#define FZ_SOURCE_WAIT_MS	100	/* for one source group to be frozen */
#define FZ_SOURCES_WAIT_MS	300	/* for all of them, per call */
/* below an ancestor of a delegated source in or above the service slice */
#define FZ_ANCESTOR_GROUPS	256	/* groups */
#define FZ_ANCESTOR_PROCS	4096	/* processes */
/*
 * Processes a group holds at least to be frozen in place: one alone is
 * moved, as it always was (one migration costs what the freeze of its
 * group costs, and it then sits in kakuri's own group).
 */
#define FZ_INPLACE_MIN		2
#define FZ_VANISHED_PASSES	8	/* passes after targets that exited */
#define FZ_VANISHED_MS		100	/* and at most this long */
#define FZ_DIRENT_BUF		512	/* bytes of /proc listed at once */
#define FZ_ZOMBIES_MAX		4096	/* zombies remembered per call */
#define FZ_THAWED_LEAF		"kakuri-thawed"
#define FZ_DELETED		" (deleted)"

/* fz_read_pstat's state of a process whose leader exited, threads live */
#define FZ_STATE_LEADER_GONE	'l'

/* What /proc/PID/stat says about one process. */
struct pstat {
	pid_t pid;
	pid_t ppid;
	char state;
	unsigned long flags;
	unsigned long long start;
};

struct ptab {
	struct pstat *v;
	size_t n;
	size_t cap;
};

/* (pid, start time) of the entries of a frozen set, sorted: lookups. */
struct pidkey {
	pid_t pid;
	unsigned long long start;
	size_t idx;		/* in the set */
};

/* A cgroup targets came from, and whether this call froze it. */
struct source {
	char cg[PATH_MAX];		/* as /proc/PID/cgroup names it */
	bool frozen;			/* by us: put back at the end */
	bool candidate;			/* may stay frozen where it is */
	bool in_place;			/* kept frozen: its members recorded */
	/*
	 * Not a source: the nearest ancestor that is root's alone of
	 * delegated sources, frozen for them (sources.c); never in place.
	 */
	bool ancestor;
	uint64_t cg_id;			/* its directory's inode, when frozen */
};

/* One kk_freeze call. */
struct fzcall {
	const struct kk_freezer *fz;
	const struct kk_freeze_guard *g;
	const struct kk_selector *sel;
	const char *group;
	bool v2;
	char gdir[PATH_MAX];		/* ROOT/kakuri/GROUP */
	char brel[PATH_MAX];		/* /kakuri, as /proc/PID/cgroup says */
	unsigned long long root_start;	/* pid selector: its start time */
	int procs_fd;			/* GDIR/cgroup.procs, open for writing */
	int moves_fd;			/* the journal's moves file; -1, -2 */
	struct kk_frozen_set *set;
	size_t first;			/* set->n on entry */
	struct pidkey *keys;		/* the set, sorted, rebuilt every pass */
	size_t nkeys;
	json_t *skipped;
	json_t *twins;			/* {pid, twin_of, why}: frozen with */
	struct source *src;		/* FZ_SOURCES_MAX of them */
	size_t nsrc;
	bool src_moved;			/* a pass froze a source: look again */
	bool vanished;			/* a target exited while taken */
	struct pidkey *zombies;		/* seen in this call */
	size_t nzombies;
	size_t capzombies;
	bool src_ok;			/* the groups below were read */
	struct timespec src_wait_until;	/* waiting for sources ends */
	char self_cg[PATH_MAX];		/* kakurid's group */
	char caller_cg[PATH_MAX];	/* ours (unit tests: the test's) */
	char init_cg[PATH_MAX];		/* pid 1's */
	struct timespec deadline;
	size_t matched;			/* targets seen, frozen now or earlier */
	/* the last scan of /proc, by pid */
	struct pstat *bypid;
	size_t nbypid;
	/*
	 * Targets compared for twins: those recorded from tw_lo on.  One
	 * is compared in the pass that took it and in the next (a twin it
	 * made between that pass's scan and its freeze); frozen, it makes
	 * no more.
	 */
	size_t tw_lo;
	size_t tw_mid;			/* set->n when this pass began */
	/*
	 * The candidates of the pass before (sorted) and of this one: in
	 * its second pass a target is only compared with those that are
	 * new, the others it was compared with already.
	 */
	struct pidkey *twprev;
	size_t ntwprev;
	struct pidkey *twcur;
	size_t ntwcur;
	size_t captwcur;
	/* this call's processes frozen in place (inplace.c), sorted */
	pid_t *placed;
	size_t nplaced;
	size_t capplaced;
	char *err;
	size_t errlen;
	/*
	 * A source frozen although its journal line could not be written
	 * (the first such, why): a restart in this call would leave it.
	 * Else the episode's line, or a target's move, not written: a
	 * restart would leave those taken frozen, or their group unknown.
	 */
	char journal_err[PATH_MAX + 64];
	bool journal_err_weak;		/* the episode's or a move's */
};

/*
 * /proc, listed a few entries at a time (readdir(3) takes 32 KiB in one
 * go): an entry is looked at right after the kernel listed it, and a
 * process forked meanwhile, with a higher pid, still comes up later in
 * the same listing.
 */
struct proclist {
	int fd;
	/* the kernel's records are 8-byte aligned within the buffer */
	char buf[FZ_DIRENT_BUF] __attribute__((aligned(8)));
	size_t len;
	size_t off;
};

int fz_err(char *err, size_t errlen, int e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* journal.c: before the group cg (inode cg_id) is frozen by call c */
int fz_journal_add(struct fzcall *c, const char *cg, uint64_t cg_id);
/* journal.c: before the target pid is moved out of its group cg */
int fz_journal_move(struct fzcall *c, pid_t pid, unsigned long long start,
    const char *cg);
/*
 * journal.c: the moves file's lines of this boot, read at start: where
 * each target a call took before it was saved came from (strays.c)
 */
struct fz_move {
	pid_t pid;
	unsigned long long start;
	const char *hex;		/* into fz_moves.text */
	size_t hexlen;
};
struct fz_moves {
	char *text;
	struct fz_move *v;		/* sorted by pid, then start */
	size_t n;
};
int fz_moves_read(const struct kk_freezer *fz, struct fz_moves *m);
int fz_moves_orig(const struct kk_freezer *fz, const struct fz_moves *m,
    pid_t pid, unsigned long long start, char cg[PATH_MAX]);
void fz_moves_free(struct fz_moves *m);
/* journal.c: the moves file kept aside as MOVES.unread (not read) */
int fz_moves_aside(const struct kk_freezer *fz);
/* journal.c: before the first target is moved, the call's freeze group */
int fz_journal_episode(struct fzcall *c);
/* fz_group_freeze on the group whose directory dfd is open */
int fz_group_freeze_at(int dfd, bool v2, bool frozen);

/* cgroupfs.c */
int fz_write_fd_str(int fd, const char *s);
int fz_write_str(const char *path, const char *s);
ssize_t fz_read_small(const char *path, char *buf, size_t len);
int fz_join(char *out, size_t len, const char *a, const char *b);
int fz_join3(char *out, size_t len, const char *a, const char *b,
    const char *c);
void fz_now(struct timespec *ts);
void fz_deadline_in(struct timespec *d, unsigned ms);
long fz_ms_left(const struct timespec *d);
void fz_sleep_ms(long ms);
bool fz_group_ok(const char *s);
bool fz_cgpath_ok(const char *s);
bool fz_is_method(const char *m);
bool fz_has_opt(const char *opts, const char *opt);
int fz_find_mount_opt(const char *v1opt, char *out, size_t outlen);
int fz_find_mount(bool v1, char *out, size_t outlen);
int fz_base_of(const char *root, char *out, size_t len);
int fz_base_rel(const struct kk_freezer *fz, char *out, size_t len);
bool fz_cg_within(const char *top, const char *cg);
int fz_cg_dir_root(const char *root, const char *cg, char *out, size_t len);
int fz_cg_dir(const struct kk_freezer *fz, const char *cg, char *out,
    size_t len);
bool fz_has_child_groups(const char *dir);
int fz_wait_frozen_dir(const char *gdir, bool v2,
    const struct timespec *deadline);
int fz_group_pids(const char *gdir, pid_t **out, size_t *n);
int fz_move_to(const char *root, const char *cg, pid_t pid);
void fz_group_remove(const char *gdir, bool v2);

bool fz_cg_root_owned(const char *root, const char *cg);
int fz_group_freeze(const char *dir, bool v2, bool frozen);
int fz_group_freezing(const char *dir, bool v2);

/* pin.c */
int fz_pin(pid_t pid, unsigned long long start, int *pidfd);
int fz_move_pinned(int procs_fd, const char *root, bool v2, const char *grel,
    const char *fallback, pid_t pid, int pidfd);
int fz_unpin_after_move(int r, int pidfd, const char *root, bool v2,
    const char *grel, const char *fallback, pid_t pid);
int fz_move_back_pinned(const char *root, bool v2, const char *brel,
    const char *orig, pid_t pid, int pidfd, char *why, size_t whylen);

/* procfs.c */
bool fz_exe_is(const char *exe, const char *path);
int fz_read_pstat(pid_t pid, struct pstat *ps);
bool fz_gone_state(char s);
int fz_read_status(pid_t pid, uid_t *uid, pid_t *tgid);
int fz_read_cgroup_opt(pid_t pid, const char *v1opt, char *out, size_t len);
int fz_read_cgroup(pid_t pid, bool v2, char *out, size_t len);
int fz_read_task_cgroup(pid_t pid, pid_t tid, bool v2, char *out,
    size_t len);
int fz_read_cgroup_opt_ps(const struct pstat *ps, const char *v1opt,
    char *out, size_t len);
int fz_read_cgroup_ps(const struct pstat *ps, bool v2, char *out,
    size_t len);
int fz_scan_proc(struct ptab *t);
int fz_scan_proc_except(struct ptab *t, const pid_t *skip, size_t nskip);
int fz_children(pid_t pid, pid_t **v, size_t *n, size_t *cap);
/* qsort and bsearch of pids */
int fz_cmp_pid(const void *a, const void *b);
int fz_cmp_ppid(const void *a, const void *b);
size_t fz_first_child(const struct ptab *t, pid_t ppid);
int fz_proclist_open(struct proclist *pl);
pid_t fz_proclist_next(struct proclist *pl);
bool fz_file_listed(const struct kk_selector *sel,
    const struct kk_file_id *id);

/* protect.c */
const char *fz_protected_why(const struct kk_freeze_guard *g,
    const struct pstat *ps, char *why, size_t whylen, bool *descend);

/* frozen.c */
int fz_set_push(struct kk_frozen_set *s, const struct kk_frozen *f);
int fz_frozen_start(struct kk_frozen *f);
int fz_set_reserve(struct kk_frozen_set *s, size_t more);

/* targets.c */
void fz_skip_add(struct fzcall *c, pid_t pid, const char *exe,
    const char *why);
int fz_keys_build(struct fzcall *c);
bool fz_in_set(const struct fzcall *c, pid_t pid, unsigned long long start);
const struct kk_frozen *fz_recorded_pid(const struct fzcall *c, pid_t pid);
int fz_selected(struct fzcall *c, const struct pstat *ps, char *exe,
    size_t exelen);
int fz_scan_index(struct fzcall *c, const struct ptab *t);
int fz_member_pstat(const struct fzcall *c, pid_t pid, struct pstat *ps);
int fz_is_target(struct fzcall *c, const struct pstat *ps);
bool fz_twin_candidate(const struct fzcall *c, const struct pstat *ps);

/*
 * A process sharing its memory with a target (a twin, targets.c): who,
 * and the target it shares with.
 */
struct twin {
	struct pstat ps;
	pid_t of;
	size_t idx;			/* in the candidates */
};
int fz_twins(struct fzcall *c, const struct pstat *cand, size_t ncand,
    struct twin **out, size_t *nout);
void fz_twins_pass(struct fzcall *c);
void fz_twin_note(struct fzcall *c, pid_t pid, pid_t of);

/* sources.c */
void fz_sources_init(struct fzcall *c);
struct source *fz_freeze_source(struct fzcall *c, const char *cg);
void fz_sources_restore(struct fzcall *c);

/*
 * freeze.c: when set, called before each pass, while the call's sources
 * are frozen; an error ends the call there, as any error would.  Set by
 * the unit tests only (what happens then, and on the way out); NULL in
 * kakurid.
 */
extern int (*fz_pass_hook)(struct fzcall *c, int pass);

/* passes.c: one pass, a pid selector's tree or every process matched */
int fz_pass_tree(struct fzcall *c, struct ptab *t, size_t *nmoved);
int fz_pass_match(struct fzcall *c, size_t *nmoved);

/* inplace.c */
bool fz_placed(const struct fzcall *c, pid_t pid);
/* the entries of c->set from first on, frozen in place, join c->placed */
int fz_placed_add(struct fzcall *c, size_t first);
int fz_inplace_first(struct fzcall *c);
int fz_inplace_take(struct fzcall *c, struct source *sv);
int fz_inplace_wait(struct fzcall *c, bool wait, char *late, size_t len);
int fz_inplace_reconcile(struct fzcall *c);

/* thaw.c */
int fz_move_back(const char *root, const char *brel, const char *orig,
    pid_t pid, char *why, size_t whylen);

#endif
