/*
 * Whole groups frozen in place.  Moving each target into the quarantine
 * group is a cgroup migration per process, and that is what a freeze of
 * a thousand processes spent its time on.  When every process of a
 * source group is a target, the group, frozen already as a source
 * (sources.c), simply stays frozen where it is.  Only where that is as
 * safe as moving:
 *  - cgroup2, and nothing of the group delegated: its cgroup.freeze and,
 *    up to the root, every directory with its cgroup.procs and
 *    cgroup.threads are root's alone, so nobody else can thaw it or move
 *    a process out of it (fz_cg_root_owned), nor into it;
 *  - a source group at all: not the root, not one that holds kakurid,
 *    the caller or pid 1 (nor above them), no child groups, no protected
 *    process in it;
 *  - every process in it a target.  That is asked only once the group
 *    is frozen, when nothing in it can fork, exit or exec any more, and
 *    asked again once the call's groups are all frozen (a process moved
 *    in by root meanwhile): a group that holds one that is not a target
 *    runs again, after this call's targets in it were moved into the
 *    quarantine group, frozen all along (unplace).
 *
 * A pid selector tries this first (fz_inplace_first): the root's group
 * is frozen before /proc is scanned at all, and its members are proved
 * to descend from the root by the children lists of the frozen tree
 * (the kernel's /proc/PID/task/TID/children, exact while frozen), which
 * for a flat tree is one read for a thousand processes.  Its members
 * are recorded by pid (start time read later, kk_frozen_describe): a pid
 * frozen in a cgroup only root can move anything into is that process
 * until then.  The scan that follows skips them and only looks for
 * descendants elsewhere.  The other selectors get here through take()
 * (freeze.c), which asks every member of the frozen group.
 *
 * Each process is recorded with that group as its original cgroup and
 * in_place set; thaw (thaw.c) thaws the group where it is.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "freezer.h"

/* One process of the group, recorded as frozen in place. */
static int
record(struct fzcall *c, const struct source *sv, pid_t pid,
    unsigned long long start, bool start_later)
{
	struct kk_frozen *f;
	int r;

	/* in place, not copied from a stack entry: they are many and big */
	if ((r = kk_grow(&c->set->v, &c->set->cap, c->set->n,
	    sizeof(*c->set->v), 16, FZ_SET_MAX)) < 0)
		return r;
	f = &c->set->v[c->set->n];
	f->pid = pid;
	f->uid = 0;
	f->start_time = start;
	f->exe[0] = '\0';
	snprintf(f->orig_cgroup, sizeof(f->orig_cgroup), "%s", sv->cg);
	snprintf(f->group, sizeof(f->group), "%s", c->group);
	snprintf(f->method, sizeof(f->method), "%s", c->fz->method);
	f->in_place = true;
	f->cg_id = sv->cg_id;
	f->start_later = start_later;
	f->described = false;
	c->set->n++;
	return 0;
}

/*
 * Is ps, a member of a group frozen just now, a target?  1 yes, 0 no,
 * -1 gone.  The group may not hold still yet (a loaded machine: "frozen
 * 1" not there within the sources' wait), and a short-lived child may
 * then be read alive while its parent has exited by the time the chain
 * up to the root is: not a target, it seems, but it is gone itself by
 * then (it exited first, its parent waited for it).  What is not gone
 * is no target indeed.
 */
static int
member_target(struct fzcall *c, const struct pstat *ps)
{
	struct pstat again;
	int t;

	if ((t = fz_is_target(c, ps)) != 0)
		return t;
	if (fz_read_pstat(ps->pid, &again) < 0 || again.start != ps->start ||
	    fz_gone_state(again.state))
		return -1;
	return 0;
}

/*
 * A process of a frozen group, read now into ps: 1 a candidate; 0 frozen
 * by an earlier call (not ours here) or protected; -1 gone.
 */
static int
member_read(struct fzcall *c, pid_t pid, struct pstat *ps)
{
	char why[PATH_MAX + 64];
	bool descend;

	if (fz_read_pstat(pid, ps) < 0 || fz_gone_state(ps->state))
		return -1;
	if (fz_in_set(c, ps->pid, ps->start) ||
	    fz_protected_why(c->g, ps, why, sizeof(why), &descend) != NULL)
		return 0;
	return 1;
}

/*
 * A member of a frozen group, read now: 1 a target, recorded; 0 not one
 * (or protected, or recorded elsewhere), nothing recorded; -1 gone; < -1
 * an error.
 */
static int
take_member(struct fzcall *c, const struct source *sv, pid_t pid)
{
	struct pstat ps;
	int r;

	if ((r = member_read(c, pid, &ps)) != 1)
		return r;
	if ((r = member_target(c, &ps)) != 1)
		return r;
	if ((r = record(c, sv, ps.pid, ps.start, false)) < 0)
		return r;
	return 1;
}

/* sv and its members (recorded from first on) are kept in place. */
static int
keep(struct fzcall *c, struct source *sv, size_t first)
{
	int r;

	if ((r = fz_placed_add(c, first)) < 0 || (r = fz_keys_build(c)) < 0) {
		c->set->n = first;
		return r;
	}
	c->matched += c->set->n - first;
	sv->in_place = true;
	return 1;
}

/*
 * sv was frozen just now (take): if every member is a target, each is
 * recorded and it stays frozen where it is.  1 in place; 0 not (an
 * ordinary source, nothing recorded); a negative errno (nothing
 * recorded either).
 */
int
fz_inplace_take(struct fzcall *c, struct source *sv)
{
	char dir[PATH_MAX];
	pid_t *pids = NULL;
	size_t n = 0, i, first = c->set->n;
	int r = 0, t;

	/* an ancestor (or a delegated group) is frozen for a moment only */
	if (!sv->candidate || sv->ancestor ||
	    fz_cg_dir(c->fz, sv->cg, dir, sizeof(dir)) < 0 ||
	    fz_group_pids(dir, &pids, &n) < 0)
		return 0;
	for (i = 0; i < n; i++) {
		if ((t = take_member(c, sv, pids[i])) == 0 || t < -1) {
			r = t;
			goto undo;
		}
	}
	free(pids);
	if (c->set->n == first)
		return 0;	/* all gone: nothing to keep frozen */
	return keep(c, sv, first);
undo:
	c->set->n = first;
	free(pids);
	return r;
}

/*
 * Which members (pids, sorted) of the frozen group descend from the
 * root, by the children lists down from it: covered[i].  Stops once all
 * are; a member below one that is not (its parent elsewhere) stays
 * uncovered.  -ENOTSUP without children lists.
 */
static int
cover_tree(const pid_t *pids, size_t n, pid_t root, bool *covered)
{
	pid_t *q = NULL, *kids = NULL, *hit;
	size_t nq = 0, head = 0, nkids = 0, capkids = 0, ncov = 0, i;
	int r = 0;

	if ((q = calloc(n, sizeof(*q))) == NULL)
		return -ENOMEM;
	if ((hit = bsearch(&root, pids, n, sizeof(*pids), fz_cmp_pid)) != NULL) {
		covered[hit - pids] = true;
		q[nq++] = root;
		ncov++;
	}
	while (head < nq && ncov < n) {
		nkids = 0;
		if ((r = fz_children(q[head++], &kids, &nkids,
		    &capkids)) < 0) {
			if (r == -ESRCH)
				continue;	/* killed meanwhile */
			break;
		}
		for (i = 0; i < nkids; i++) {
			hit = bsearch(&kids[i], pids, n, sizeof(*pids),
			    fz_cmp_pid);
			if (hit == NULL || covered[hit - pids])
				continue;	/* elsewhere: the scan's */
			covered[hit - pids] = true;
			q[nq++] = *hit;
			ncov++;
		}
	}
	free(kids);
	free(q);
	return r;
}

/*
 * A pid selector: the root's group frozen and kept in place before the
 * passes, when all of it descends from the root (only the root, without
 * tree).  1 in place; 0 not (the group, if frozen, is an ordinary
 * source); a negative errno.
 */
int
fz_inplace_first(struct fzcall *c)
{
	char cg[PATH_MAX], dir[PATH_MAX], why[PATH_MAX + 64];
	struct source *sv;
	struct pstat ps;
	pid_t *pids = NULL, root = c->sel->pid;
	bool *covered = NULL, descend;
	size_t n = 0, i, first = c->set->n;
	int r = 0, t;

	if (!c->v2 || c->sel->kind != KK_SEL_PID ||
	    fz_read_cgroup(root, true, cg, sizeof(cg)) < 0 ||
	    fz_cg_within(c->brel, cg) ||
	    (sv = fz_freeze_source(c, cg)) == NULL || !sv->candidate)
		return 0;
	/* still the root, and in that group: frozen with it */
	if (fz_read_pstat(root, &ps) < 0 || ps.start != c->root_start ||
	    fz_gone_state(ps.state) ||
	    fz_cg_dir(c->fz, cg, dir, sizeof(dir)) < 0 ||
	    fz_group_pids(dir, &pids, &n) < 0 || n == 0)
		goto out;
	qsort(pids, n, sizeof(*pids), fz_cmp_pid);
	/* room for all at once: an entry is 8 KiB, copied per doubling */
	if ((r = fz_set_reserve(c->set, n)) < 0)
		goto out;
	if ((covered = calloc(n, sizeof(*covered))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (c->sel->tree && (r = cover_tree(pids, n, root, covered)) < 0 &&
	    r != -ENOTSUP)
		goto out;
	r = 0;
	for (i = 0; i < n; i++) {
		if (pids[i] == root) {
			if ((r = record(c, sv, root, c->root_start,
			    false)) < 0)
				goto undo;
			continue;
		}
		if (covered[i]) {
			if ((r = record(c, sv, pids[i], 0, true)) < 0)
				goto undo;
			continue;
		}
		/* not found below the root: read and asked */
		if (fz_read_pstat(pids[i], &ps) < 0 || fz_gone_state(ps.state))
			continue;
		if (fz_protected_why(c->g, &ps, why, sizeof(why),
		    &descend) != NULL || (t = member_target(c, &ps)) == 0)
			goto undo;	/* r 0: not in place */
		if (t < 0)
			continue;
		if ((r = record(c, sv, ps.pid, ps.start, false)) < 0)
			goto undo;
	}
	r = keep(c, sv, first);
	goto out;
undo:
	c->set->n = first;
out:
	free(covered);
	free(pids);
	return r;
}

/*
 * Until every group kept in place is frozen, or the deadline (wait);
 * without wait one look, -EAGAIN while one is not.  late names the group
 * that was not frozen.
 */
int
fz_inplace_wait(struct fzcall *c, bool wait, char *late, size_t len)
{
	char dir[PATH_MAX];
	size_t i;
	int r;

	for (i = 0; i < c->nsrc; i++) {
		if (!c->src[i].in_place ||
		    fz_cg_dir(c->fz, c->src[i].cg, dir, sizeof(dir)) < 0)
			continue;
		r = fz_wait_frozen_dir(dir, c->v2, wait ? &c->deadline : NULL);
		if (r == -ENOENT)
			continue;	/* gone, and its processes with it */
		if (r < 0) {
			snprintf(late, len, "%s", dir);
			return r;
		}
	}
	return 0;
}

/*
 * A group kept in place holds a process that is not a target after all
 * (root moved it in, or it became a protected program): this call's
 * targets in it are moved into the quarantine group (from one frozen
 * group into another: they stay frozen), then the group runs again, so
 * that process is never left frozen.  A target that cannot be moved is
 * dropped from the set and runs with its group: that is reported, as
 * any target that could not be moved (-EIO, its pid in err).
 */
static int
unplace(struct fzcall *c, struct source *sv, const char *dir)
{
	struct kk_frozen *f;
	struct pstat ps;
	size_t i, j;
	pid_t lost = 0;
	int r, pidfd;

	for (i = c->first, j = c->first; i < c->set->n; i++) {
		f = &c->set->v[i];
		if (f->in_place && strcmp(f->orig_cgroup, sv->cg) == 0) {
			/* frozen: its start time holds still to be read */
			if (fz_read_pstat(f->pid, &ps) < 0 ||
			    fz_gone_state(ps.state))
				continue;
			f->start_time = ps.start;
			f->start_later = false;
			if ((r = fz_pin(f->pid, ps.start, &pidfd)) == 0)
				r = fz_move_pinned(c->procs_fd, c->fz->root,
				    c->v2, c->brel, sv->cg, f->pid, pidfd);
			if (r < 0) {
				if (r != -ESRCH)
					lost = f->pid;
				continue;
			}
			f->in_place = false;
		}
		if (j != i)
			c->set->v[j] = *f;
		j++;
	}
	c->set->n = j;
	fz_group_freeze(dir, c->v2, false);
	sv->in_place = false;
	sv->frozen = false;
	if (lost != 0)
		return fz_err(c->err, c->errlen, -EIO, "%s holds a process "
		    "that is not a target, and pid %d could not be moved out "
		    "of it: not frozen", sv->cg, (int)lost);
	return 0;
}

/*
 * A process found in a group kept in place at the final look, not
 * recorded yet: 1 born there of one of this call's processes in it
 * (forked before the group was frozen; frozen with its parent, as
 * reconcile does for the quarantine group), recorded; 0 anything else
 * (moved in by root, or protected); -1 gone; < -1 an error.  The
 * selector is not looked at: it may be gone by now (kk_freeze_poll).
 */
static int
take_born(struct fzcall *c, const struct source *sv, pid_t pid)
{
	struct pstat ps;
	int r;

	if ((r = member_read(c, pid, &ps)) != 1)
		return r;
	if (!fz_placed(c, ps.ppid))
		return 0;
	if ((r = record(c, sv, ps.pid, ps.start, false)) < 0 ||
	    (r = fz_placed_add(c, c->set->n - 1)) < 0)
		return r;
	return 1;
}

/*
 * Once frozen (or at the timeout): whatever is in a group kept in place
 * and not recorded yet, born there of a recorded process, is recorded
 * (its own children after it), so thaw leaves nobody behind; anything
 * else gives the group up (unplace): no process that is not a target is
 * left frozen with it.
 */
int
fz_inplace_reconcile(struct fzcall *c)
{
	char dir[PATH_MAX];
	struct source *sv;
	pid_t *pids;
	size_t n, i, k, left;
	bool progress;
	int r = 0, t;

	for (k = 0; k < c->nsrc && r == 0; k++) {
		sv = &c->src[k];
		if (!sv->in_place ||
		    fz_cg_dir(c->fz, sv->cg, dir, sizeof(dir)) < 0 ||
		    fz_group_pids(dir, &pids, &n) < 0)
			continue;
		if ((r = fz_keys_build(c)) < 0) {
			free(pids);
			return fz_err(c->err, c->errlen, r, "%s",
			    strerror(-r));
		}
		/* parents first, in as many sweeps as generations */
		do {
			progress = false;
			for (i = 0, left = 0; i < n; i++) {
				/* frozen: nothing in it forks, the pid holds */
				if (pids[i] == 0 || fz_placed(c, pids[i]))
					continue;
				if ((t = take_born(c, sv, pids[i])) < -1) {
					free(pids);
					return fz_err(c->err, c->errlen, t,
					    "pid %d: %s", (int)pids[i],
					    strerror(-t));
				}
				if (t != 0) {
					pids[i] = 0;	/* taken, or gone */
					progress = true;
				} else
					left++;
			}
		} while (left > 0 && progress);
		free(pids);
		if (left > 0)
			r = unplace(c, sv, dir);
	}
	return r;
}
