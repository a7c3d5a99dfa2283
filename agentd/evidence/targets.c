/*
 * Who is a target: a selector matched against a process, the processes
 * a call has recorded (sorted keys for lookups), what the last scan of
 * /proc saw, and what is listed as skipped.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <jansson.h>
#include <linux/kcmp.h>

#include "freezer.h"
#include "wire.h"

/* the two lists together hold FZ_SKIP_MAX entries at most */
static bool
notes_full(const struct fzcall *c)
{
	return json_array_size(c->skipped) + json_array_size(c->twins) >=
	    FZ_SKIP_MAX;
}

/* is pid in a (an array of objects with a pid) */
static bool
listed(json_t *a, pid_t pid)
{
	size_t i;

	for (i = 0; i < json_array_size(a); i++)
		if (json_integer_value(json_object_get(json_array_get(a, i),
		    KW_PID)) == pid)
			return true;
	return false;
}

void
fz_skip_add(struct fzcall *c, pid_t pid, const char *exe, const char *why)
{
	json_t *o;

	if (c->skipped == NULL || notes_full(c))
		return;
	/* every pass sees it again; one frozen as a twin is not skipped */
	if (listed(c->skipped, pid) || listed(c->twins, pid))
		return;
	o = json_pack("{s:i, s:o, s:s}", KW_PID, (int)pid, KW_EXE,
	    kk_json_str(exe), KW_WHY, why);
	if (o != NULL)
		json_array_append_new(c->skipped, o);
}

static int
cmp_key(const void *a, const void *b)
{
	const struct pidkey *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

int
fz_keys_build(struct fzcall *c)
{
	struct pidkey *k;
	size_t i;

	free(c->keys);
	c->keys = NULL;
	c->nkeys = 0;
	if (c->set->n == 0)
		return 0;
	if ((k = calloc(c->set->n, sizeof(*k))) == NULL)
		return -ENOMEM;
	for (i = 0; i < c->set->n; i++) {
		k[i].pid = c->set->v[i].pid;
		k[i].start = c->set->v[i].start_time;
		k[i].idx = i;
	}
	qsort(k, c->set->n, sizeof(*k), cmp_key);
	c->keys = k;
	c->nkeys = c->set->n;
	return 0;
}

/*
 * Where (pid, start) is in the set, SIZE_MAX if it is not.  The sorted
 * keys cover the set as it was when they were built; what was added
 * since is looked at too.
 */
static size_t
set_index(const struct fzcall *c, pid_t pid, unsigned long long start)
{
	struct pidkey k = { pid, start, 0 }, *hit;
	size_t i;

	if (c->nkeys > 0 && (hit = bsearch(&k, c->keys, c->nkeys, sizeof(k),
	    cmp_key)) != NULL)
		return hit->idx;
	for (i = c->nkeys; i < c->set->n; i++)
		if (c->set->v[i].pid == pid &&
		    c->set->v[i].start_time == start)
			return i;
	return SIZE_MAX;
}

/* Is (pid, start) frozen already? */
bool
fz_in_set(const struct fzcall *c, pid_t pid, unsigned long long start)
{
	return set_index(c, pid, start) != SIZE_MAX;
}

static int
cmp_key_pid(const void *a, const void *b)
{
	const struct pidkey *x = a, *y = b;

	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/*
 * The entry of this call's group with pid, among the sorted keys: in a
 * frozen group the pid alone is enough (nothing in it can fork), which
 * spares reading its start time.
 */
const struct kk_frozen *
fz_recorded_pid(const struct fzcall *c, pid_t pid)
{
	struct pidkey key = { pid, 0, 0 }, *hit;
	const struct kk_frozen *f;

	hit = c->nkeys > 0 ? bsearch(&key, c->keys, c->nkeys, sizeof(key),
	    cmp_key_pid) : NULL;
	if (hit == NULL)
		return NULL;
	f = &c->set->v[hit->idx];
	return strcmp(f->group, c->group) == 0 ? f : NULL;
}

/*
 * Does ps match a uid, exe or files selector?  1 yes, 0 no, -1 it exited
 * before that could be told (a pass after this one looks again).  The
 * executable it runs is in exe then.
 */
int
fz_selected(struct fzcall *c, const struct pstat *ps, char *exe,
    size_t exelen)
{
	const struct kk_selector *sel = c->sel;
	struct kk_exe_info info;
	struct pstat now;
	uid_t uid;
	int r;

	exe[0] = '\0';
	switch (sel->kind) {
	case KK_SEL_UID:
		if ((r = fz_read_status(ps->pid, &uid, NULL)) < 0)
			return r == -ESRCH ? -1 : 0;
		if (uid != sel->uid)
			return 0;
		kk_exe_name(ps->pid, exe, exelen);
		return 1;
	case KK_SEL_EXE:
		kk_exe_name(ps->pid, exe, exelen);
		if (exe[0] == '\0' && fz_read_pstat(ps->pid, &now) < 0)
			return -1;
		return fz_exe_is(exe, sel->exe) ? 1 : 0;
	case KK_SEL_FILES:
		if ((r = kk_exe_stat(ps->pid, &info)) < 0)
			return r == -ESRCH && fz_read_pstat(ps->pid, &now) < 0 ?
			    -1 : 0;
		if (!fz_file_listed(sel, &info.id))
			return 0;
		kk_exe_name(ps->pid, exe, exelen);
		return 1;
	default:
		return 0;
	}
}

static int
cmp_pstat_pid(const void *a, const void *b)
{
	const struct pstat *x = a, *y = b;

	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/*
 * What the scan of /proc a pass made (t) saw, by pid: a group's members
 * that were there then need no second read.
 */
int
fz_scan_index(struct fzcall *c, const struct ptab *t)
{
	struct pstat *v = NULL;

	free(c->bypid);
	c->bypid = NULL;
	c->nbypid = 0;
	if (t->n > 0) {
		if ((v = calloc(t->n, sizeof(*v))) == NULL)
			return -ENOMEM;
		memcpy(v, t->v, t->n * sizeof(*v));
		qsort(v, t->n, sizeof(*v), cmp_pstat_pid);
	}
	c->bypid = v;
	c->nbypid = t->n;
	return 0;
}

/* pid as the last scan saw it, else as /proc says now. */
int
fz_member_pstat(const struct fzcall *c, pid_t pid, struct pstat *ps)
{
	const struct pstat *hit;
	struct pstat key;

	key.pid = pid;
	hit = c->nbypid > 0 ? bsearch(&key, c->bypid, c->nbypid,
	    sizeof(key), cmp_pstat_pid) : NULL;
	if (hit == NULL)
		return fz_read_pstat(pid, ps);
	*ps = *hit;
	return 0;
}

/*
 * Is ps a target of this call's selector?  The pid selector: its
 * process, and with tree whatever descends from it: parents that lead to
 * it or to a process this call recorded, never through pid 1 or
 * kakurid (whose family is left alone whole); the others: fz_selected.
 * 1 yes, 0 no, -1 it is gone.
 */
int
fz_is_target(struct fzcall *c, const struct pstat *ps)
{
	const struct kk_selector *sel = c->sel;
	char exe[PATH_MAX];
	struct pstat p;
	size_t i;
	int k;

	if (fz_gone_state(ps->state))
		return -1;
	if (sel->kind != KK_SEL_PID)
		return fz_selected(c, ps, exe, sizeof(exe));
	if (ps->pid == sel->pid)
		return ps->start == c->root_start;
	if (!sel->tree)
		return 0;
	p = *ps;
	for (k = 0; k < FZ_CHAIN_MAX; k++) {
		if (p.ppid <= 1 || (c->g != NULL && c->g->self > 0 &&
		    p.ppid == c->g->self))
			return 0;
		/* frozen in place by this call (the pid holds): below */
		if (fz_placed(c, p.ppid))
			return 1;
		if (fz_member_pstat(c, p.ppid, &p) < 0)
			return 0;	/* an orphan now: not below the root */
		if (p.pid == sel->pid)
			return p.start == c->root_start;
		/* recorded by this call: below the root */
		if ((i = set_index(c, p.pid, p.start)) != SIZE_MAX &&
		    i >= c->first)
			return 1;
	}
	return 0;
}

/* Is pid one of this call's frozen in place? */
bool
fz_placed(const struct fzcall *c, pid_t pid)
{
	return c->nplaced > 0 && bsearch(&pid, c->placed, c->nplaced,
	    sizeof(pid), fz_cmp_pid) != NULL;
}

/* The entries from first on, frozen in place, join c->placed. */
int
fz_placed_add(struct fzcall *c, size_t first)
{
	size_t i;
	int r;

	for (i = first; i < c->set->n; i++) {
		if (!c->set->v[i].in_place)
			continue;
		if ((r = kk_grow(&c->placed, &c->capplaced, c->nplaced,
		    sizeof(*c->placed), 256, FZ_SCAN_MAX)) < 0)
			return r;
		c->placed[c->nplaced++] = c->set->v[i].pid;
	}
	qsort(c->placed, c->nplaced, sizeof(*c->placed), fz_cmp_pid);
	return 0;
}

/*
 * Twins.  clone(CLONE_VM) without CLONE_THREAD makes a process of its
 * own that runs on the memory (the mm) of the one that made it; with
 * CLONE_PARENT it is not even its child.  No pid, tree or ppid chain
 * leads to it, and frozen without it the target's memory is written on
 * (secrets scrubbed, state kept alive, a snapshot rewritten as it is
 * taken).  So a process that shares its mm with a target is a target.
 *
 * Only a process that has not exec'd since it was forked can be one (an
 * exec gives it an mm of its own): PF_FORKNOEXEC, which it cannot clear
 * but by giving the memory up.  Those few (subshells, workers of a
 * server) are the candidates, compared by kcmp(KCMP_VM), exact and
 * race-free, with this call's targets: the candidates are put in kcmp's
 * order (meant for sorting), and each target is looked up among them,
 * a few kcmp calls each.  A call gone wrong (a process exited meanwhile)
 * falls back to comparing with each in turn.
 *
 * Targets frozen in place are not compared: all of their group are
 * targets, and a twin is born in the group of the one that made it and
 * cannot leave a group whose cgroup.procs up to the root are root's; a
 * twin in the group is not a target of the selector, so the group is
 * not kept in place, and its targets are moved and compared.
 */
/* 0 same mm, 1 a's below b's, 2 above, < 0 gone or cannot say */
static int
mm_cmp(pid_t a, pid_t b)
{
	long r = syscall(SYS_kcmp, a, b, KCMP_VM, 0UL, 0UL);

	return r < 0 ? -errno : r >= 0 && r <= 2 ? (int)r : -ENOTSUP;
}

/*
 * Whether ps has a memory of its own to compare: not in exit.  kcmp
 * compares mm pointers, and every task past exit_mm has none: two of
 * them are "the same", so an exiting process anywhere on the host was
 * a twin of a target that had exited (a zombie its frozen parent does
 * not reap), and it and its children were frozen.
 */
static bool
has_mm(const struct pstat *ps)
{
	return !fz_gone_state(ps->state) && !(ps->flags & PF_EXITING);
}

/* Can ps be a twin?  Alive, a user's, never exec'd since its fork. */
bool
fz_twin_candidate(const struct fzcall *c, const struct pstat *ps)
{
	return has_mm(ps) && !(ps->flags & PF_KTHREAD) &&
	    (ps->flags & PF_FORKNOEXEC) && !fz_placed(c, ps->pid) &&
	    !fz_in_set(c, ps->pid, ps->start);
}

/*
 * The candidates (indexes into cand), in kcmp's order, by binary
 * insertion: each takes log2(n) calls.  A candidate kcmp cannot place
 * (one of the two exited, or the kernel gives no order) is left in
 * loose, compared with each target in turn.
 */
static void
mm_order(const struct pstat *cand, size_t n, size_t *ord, size_t *nord,
    size_t *loose, size_t *nloose)
{
	size_t i, lo, hi, mid;
	int r;

	*nord = *nloose = 0;
	for (i = 0; i < n; i++) {
		lo = 0;
		hi = *nord;
		r = 0;
		while (lo < hi) {
			mid = lo + (hi - lo) / 2;
			if ((r = mm_cmp(cand[i].pid, cand[ord[mid]].pid)) < 0)
				break;
			if (r == 1)
				hi = mid;
			else
				lo = mid + 1;
		}
		if (r < 0) {
			loose[(*nloose)++] = i;
			continue;
		}
		memmove(&ord[lo + 1], &ord[lo], (*nord - lo) * sizeof(*ord));
		ord[lo] = i;
		(*nord)++;
	}
}

/*
 * Marks in hit[] (the target's pid) the ordered candidates that share
 * pid's mm: a binary search, then its equal neighbours.  false when kcmp
 * failed on the way: the caller compares with each.
 */
static bool
mm_lookup(pid_t pid, const struct pstat *cand, const size_t *ord,
    size_t nord, pid_t *hit)
{
	size_t lo = 0, hi = nord, mid, k;
	int r;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((r = mm_cmp(pid, cand[ord[mid]].pid)) < 0)
			return r == -ESRCH && mm_cmp(pid, pid) < 0;
		if (r == 0) {
			for (k = mid; k < nord &&
			    mm_cmp(pid, cand[ord[k]].pid) == 0; k++)
				hit[ord[k]] = pid;
			for (k = mid; k > 0 &&
			    mm_cmp(pid, cand[ord[k - 1]].pid) == 0; k--)
				hit[ord[k - 1]] = pid;
			return true;
		}
		if (r == 1)
			hi = mid;
		else
			lo = mid + 1;
	}
	return true;
}

/*
 * Which of the candidates (fz_twin_candidate, read by this pass) share
 * their mm with one of this call's targets (from c->tw_lo on), those
 * frozen in place but the pid selector's root: *out, *nout of them.  At most ncand of them;
 * a target that exited since (its pid maybe another's now) is not
 * compared.
 */
/*
 * A new pass: this pass's candidates become the last pass's, sorted.
 * Without room to keep them, every candidate counts as new.
 */
void
fz_twins_pass(struct fzcall *c)
{
	free(c->twprev);
	c->twprev = c->twcur;
	c->ntwprev = c->ntwcur;
	c->twcur = NULL;
	c->ntwcur = c->captwcur = 0;
	if (c->ntwprev > 0)
		qsort(c->twprev, c->ntwprev, sizeof(*c->twprev), cmp_key);
}

int
fz_twins(struct fzcall *c, const struct pstat *cand, size_t ncand,
    struct twin **out, size_t *nout)
{
	const struct kk_frozen *f;
	struct pidkey key;
	struct pstat now;
	size_t *ord = NULL, *loose = NULL, *fresh = NULL, nord, nloose;
	size_t nfresh = 0, i, j;
	pid_t *hit = NULL;
	int r = 0;

	*out = NULL;
	*nout = 0;
	if (ncand == 0 || c->set->n == c->first)
		return 0;
	if ((ord = calloc(ncand, sizeof(*ord))) == NULL ||
	    (loose = calloc(ncand, sizeof(*loose))) == NULL ||
	    (fresh = calloc(ncand, sizeof(*fresh))) == NULL ||
	    (hit = calloc(ncand, sizeof(*hit))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	/* those the last pass did not have; this pass's, for the next */
	for (i = 0; i < ncand; i++) {
		key.pid = cand[i].pid;
		key.start = cand[i].start;
		key.idx = 0;
		if (c->ntwprev == 0 || bsearch(&key, c->twprev, c->ntwprev,
		    sizeof(key), cmp_key) == NULL)
			fresh[nfresh++] = i;
		if (kk_grow(&c->twcur, &c->captwcur, c->ntwcur,
		    sizeof(*c->twcur), 64, FZ_SCAN_MAX) == 0)
			c->twcur[c->ntwcur++] = key;
	}
	mm_order(cand, ncand, ord, &nord, loose, &nloose);
	for (i = c->tw_lo > c->first ? c->tw_lo : c->first; i < c->set->n;
	    i++) {
		f = &c->set->v[i];
		if (strcmp(f->group, c->group) != 0 || f->start_later ||
		    (f->in_place && !(c->sel != NULL &&
		    c->sel->kind == KK_SEL_PID && f->pid == c->sel->pid)))
			continue;
		/* its second pass: the new ones, if that is fewer calls */
		if (i < c->tw_mid && nfresh < 8) {
			for (j = 0; j < nfresh; j++)
				if (mm_cmp(f->pid, cand[fresh[j]].pid) == 0)
					hit[fresh[j]] = f->pid;
			continue;
		}
		if (!mm_lookup(f->pid, cand, ord, nord, hit))
			for (j = 0; j < nord; j++)
				if (mm_cmp(f->pid, cand[ord[j]].pid) == 0)
					hit[ord[j]] = f->pid;
		for (j = 0; j < nloose; j++)
			if (mm_cmp(f->pid, cand[loose[j]].pid) == 0)
				hit[loose[j]] = f->pid;
	}
	if ((*out = calloc(ncand, sizeof(**out))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < ncand; i++) {
		if (hit[i] == 0)
			continue;
		/* still the target that was recorded, not a pid reused */
		for (j = c->first; j < c->set->n; j++)
			if (c->set->v[j].pid == hit[i])
				break;
		if (j == c->set->n || fz_read_pstat(hit[i], &now) < 0 ||
		    now.start != c->set->v[j].start_time || !has_mm(&now))
			continue;
		/*
		 * Neither in exit now, so neither was at the kcmp (exit is
		 * for good): the same mm, not two that had none.
		 */
		if (fz_read_pstat(cand[i].pid, &now) < 0 ||
		    now.start != cand[i].start || !has_mm(&now))
			continue;
		(*out)[*nout].ps = cand[i];
		(*out)[*nout].idx = i;
		(*out)[(*nout)++].of = hit[i];
	}
out:
	free(ord);
	free(loose);
	free(fresh);
	free(hit);
	return r;
}

/*
 * Why a twin was taken, for the receipt: {pid, twin_of, why} in
 * *twins, a list of its own: it was frozen, not skipped.
 */
void
fz_twin_note(struct fzcall *c, pid_t pid, pid_t of)
{
	char why[96];
	json_t *o;

	if (c->twins == NULL || notes_full(c))
		return;
	snprintf(why, sizeof(why), "shares memory with pid %d", (int)of);
	o = json_pack("{s:i, s:i, s:s}", KW_PID, (int)pid, KW_TWIN_OF,
	    (int)of, KW_WHY, why);
	if (o != NULL)
		json_array_append_new(c->twins, o);
}
