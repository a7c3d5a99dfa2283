/*
 * The passes of a freeze over /proc (freeze.c): every target found is
 * moved into the episode's group (or left frozen where it is, inplace.c)
 * and recorded; a pid selector walks its tree, the others match every
 * process; processes sharing memory with a target (twins) go with it.
 * A pass that takes nothing new ends the call's scanning.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "freezer.h"

/*
 * Moves one target into the group and records it.  Already frozen ones
 * count as matched; protected ones are listed as skipped.
 */
static int
take(struct fzcall *c, const struct pstat *ps, const char *exe_known,
    bool *moved, bool *descend)
{
	struct kk_frozen f;
	struct pstat again;
	struct source *sv;
	const char *why;
	char whybuf[PATH_MAX + 64];
	bool have_path, named;
	int r, pidfd;

	*descend = true;
	/* frozen in place by this call (counted then), or earlier */
	if (fz_placed(c, ps->pid))
		return 0;
	if (fz_in_set(c, ps->pid, ps->start)) {
		c->matched++;
		return 0;
	}
	if (fz_gone_state(ps->state))
		return 0;	/* exited: nothing left to freeze */
	memset(&f, 0, sizeof(f));
	if (exe_known != NULL)
		snprintf(f.exe, sizeof(f.exe), "%s", exe_known);
	else
		kk_exe_name(ps->pid, f.exe, sizeof(f.exe));
	if ((why = fz_protected_why(c->g, ps, whybuf, sizeof(whybuf),
	    descend)) != NULL) {
		fz_skip_add(c, ps->pid, f.exe, why);
		return 0;
	}
	f.pid = ps->pid;
	f.start_time = ps->start;
	if (fz_read_status(ps->pid, &f.uid, NULL) < 0) {
		c->vanished = true;
		return 0;
	}
	if ((r = fz_read_cgroup_ps(ps, c->v2, f.orig_cgroup,
	    sizeof(f.orig_cgroup))) == -ESRCH) {
		c->vanished = true;
		return 0;
	}
	/*
	 * A group the kernel cannot name, a path of PATH_MAX or more (a
	 * user nests long names in the subtree systemd delegates to him):
	 * /proc/PID/cgroup fails with ENAMETOOLONG on some kernels, which
	 * made the process unfreezable and ended the pass for every target
	 * after it; others cut the path at PATH_MAX - 1.  The move needs no
	 * name: it is moved, its group unknown, and a thaw keeps it frozen
	 * ("no original cgroup is known").  A cut path still serves to
	 * find the nearest ancestor that is root's alone, frozen below; it
	 * names no group to go back to (its last name is cut too, or it is
	 * another group).
	 */
	have_path = r == 0 && f.orig_cgroup[0] != '\0';
	named = have_path && strlen(f.orig_cgroup) < PATH_MAX - 1;
	/*
	 * Born in a freeze group (forked by a process moved in earlier) or
	 * frozen into another one: either way frozen already; the final
	 * look at the group records those of ours.
	 */
	if (have_path && fz_cg_within(c->brel, f.orig_cgroup)) {
		c->matched++;
		return 0;
	}
	/*
	 * Its group frozen first.  When all of the group are targets, it
	 * stays frozen where it is and they are recorded (inplace.c).
	 * Otherwise the target may have forked and exited before that took
	 * hold, and then what is there now is for the next pass.
	 */
	if (have_path && (sv = fz_freeze_source(c, f.orig_cgroup)) != NULL) {
		if ((r = fz_inplace_take(c, sv)) < 0)
			return fz_err(c->err, c->errlen, r, "%s: %s", sv->cg,
			    strerror(-r));
		if (r > 0)
			return 0;
		c->src_moved = true;
		if (fz_read_pstat(ps->pid, &again) < 0 ||
		    again.start != ps->start || fz_gone_state(again.state))
			return 0;
	}
	if (!named)
		f.orig_cgroup[0] = '\0';
	snprintf(f.group, sizeof(f.group), "%s", c->group);
	snprintf(f.method, sizeof(f.method), "%s", c->fz->method);
	f.described = true;
	/*
	 * Pinned before the move (a pidfd): a pid freed and reused since it
	 * was read would otherwise put a stranger into the group.
	 */
	if ((r = fz_pin(ps->pid, ps->start, &pidfd)) < 0) {
		c->vanished = c->vanished || r == -ESRCH;
		return r == -ESRCH ? 0 : fz_err(c->err, c->errlen, r,
		    "pid %d: %s", (int)ps->pid, strerror(-r));
	}
	/*
	 * Where it comes from ("-" if not known), on disk before the move:
	 * a kakurid that ends before the set is saved leaves it known to
	 * the next one.  Not written (a full disk), it is moved all the
	 * same, and said.
	 */
	if ((r = fz_journal_move(c, ps->pid, ps->start, f.orig_cgroup)) < 0 &&
	    c->journal_err[0] == '\0') {
		snprintf(c->journal_err, sizeof(c->journal_err), "pid %d: its "
		    "group %.256s not journaled: %s", (int)ps->pid,
		    f.orig_cgroup, strerror(-r));
		c->journal_err_weak = true;
	}
	/* recorded before the move, so nothing frozen is ever unrecorded */
	if ((r = fz_set_push(c->set, &f)) < 0) {
		if (pidfd >= 0)
			close(pidfd);
		return fz_err(c->err, c->errlen, r, "pid %d: %s",
		    (int)ps->pid, strerror(-r));
	}
	r = fz_move_pinned(c->procs_fd, c->fz->root, c->v2, c->brel,
	    f.orig_cgroup[0] != '\0' ? f.orig_cgroup : NULL, ps->pid, pidfd);
	if (r < 0) {
		c->set->n--;
		if (r == -ESRCH) {
			/* exited meanwhile: maybe forked to a new pid first */
			c->vanished = true;
			return 0;
		}
		return fz_err(c->err, c->errlen, r,
		    "pid %d: cannot move into %s: %s", (int)ps->pid, c->gdir,
		    strerror(-r));
	}
	c->matched++;
	*moved = true;
	return 0;
}

/*
 * Takes the twins found among cand (fz_twins): each is a target, and
 * why is noted.  *moved counts those moved; the candidates' indexes
 * found are in idx (ntaken of them, idx may be NULL), and in desc
 * whether their trees are to be walked (not a protected one's).
 */
static int
take_twins(struct fzcall *c, const struct pstat *cand, size_t ncand,
    size_t *nmoved, size_t *idx, bool *desc, size_t *ntaken)
{
	struct twin *tw = NULL;
	size_t ntw = 0, i;
	bool moved, descend;
	int r;

	*ntaken = 0;
	if ((r = fz_twins(c, cand, ncand, &tw, &ntw)) < 0)
		return fz_err(c->err, c->errlen, r, "%s", strerror(-r));
	for (i = 0; i < ntw; i++) {
		moved = false;
		if ((r = take(c, &tw[i].ps, NULL, &moved, &descend)) < 0)
			goto out;
		if (moved)
			(*nmoved)++;
		if (moved || fz_placed(c, tw[i].ps.pid))
			fz_twin_note(c, tw[i].ps.pid, tw[i].of);
		if (idx != NULL) {
			desc[*ntaken] = descend;
			idx[(*ntaken)++] = tw[i].idx;
		}
	}
	r = 0;
out:
	free(tw);
	return r;
}

/*
 * One pass over the tree under the selector's pid, parents first.  What
 * is frozen in place is not read again: only its children elsewhere are
 * looked for.  Once the tree is walked, the processes that share memory
 * with what it took are targets too (fz_twins), and their trees.
 */
int
fz_pass_tree(struct fzcall *c, struct ptab *t, size_t *nmoved)
{
	struct pstat *q = NULL, *cand = NULL, root;
	size_t head = 0, tail = 0, i, k, ncand, ntaken, round;
	size_t *cidx = NULL, *taken = NULL;
	bool moved, descend, *seen = NULL, *desc = NULL;
	int r;

	*nmoved = 0;
	if ((r = fz_scan_proc_except(t, c->placed, c->nplaced)) < 0)
		return fz_err(c->err, c->errlen, r, "/proc: %s", strerror(-r));
	/* a group's members are looked up in it (sources.c, inplace.c) */
	if ((r = fz_scan_index(c, t)) < 0)
		return fz_err(c->err, c->errlen, r, "%s", strerror(-r));
	qsort(t->v, t->n, sizeof(*t->v), fz_cmp_ppid);
	/*
	 * each process is queued at most once: the table has it once, or
	 * it is one of those in place (the root may be both)
	 */
	if ((q = calloc(t->n + c->nplaced + 1, sizeof(*q))) == NULL ||
	    (seen = calloc(t->n + 1, sizeof(*seen))) == NULL ||
	    (cand = calloc(t->n + 1, sizeof(*cand))) == NULL ||
	    (cidx = calloc(t->n + 1, sizeof(*cidx))) == NULL ||
	    (taken = calloc(t->n + 1, sizeof(*taken))) == NULL ||
	    (desc = calloc(t->n + 1, sizeof(*desc))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	/* the root is gone (its pid maybe reused): what is left is frozen */
	if (fz_read_pstat(c->sel->pid, &root) < 0 ||
	    root.start != c->root_start) {
		r = 0;
		goto out;
	}
	q[tail++] = root;
	for (i = 0; i < c->nplaced; i++) {
		if (c->placed[i] == root.pid)
			continue;
		memset(&q[tail], 0, sizeof(q[tail]));
		q[tail++].pid = c->placed[i];
	}
	/* every entry of t is queued or a candidate once: bounded */
	for (round = 0; round < FZ_TWIN_ROUNDS; round++) {
		while (head < tail) {
			struct pstat p = q[head++];

			moved = false;
			if ((r = take(c, &p, NULL, &moved, &descend)) < 0)
				goto out;
			if (moved)
				(*nmoved)++;
			if (!descend || !c->sel->tree)
				continue;
			for (i = fz_first_child(t, p.pid); i < t->n &&
			    t->v[i].ppid == p.pid &&
			    tail <= t->n + c->nplaced; i++) {
				if (seen[i])
					continue;
				seen[i] = true;
				q[tail++] = t->v[i];
			}
		}
		/* whatever was not walked, if it may share memory */
		for (i = 0, ncand = 0; i < t->n; i++) {
			if (seen[i] || t->v[i].pid == c->sel->pid ||
			    !fz_twin_candidate(c, &t->v[i]))
				continue;
			cidx[ncand] = i;
			cand[ncand++] = t->v[i];
		}
		if ((r = take_twins(c, cand, ncand, nmoved, taken, desc,
		    &ntaken)) < 0)
			goto out;
		if (ntaken == 0)
			break;
		/* their children are below a target now */
		for (k = 0; k < ntaken; k++) {
			i = cidx[taken[k]];
			seen[i] = true;
			if (!desc[k] || !c->sel->tree)
				continue;
			for (i = fz_first_child(t, cand[taken[k]].pid);
			    i < t->n && t->v[i].ppid == cand[taken[k]].pid &&
			    tail <= t->n + c->nplaced; i++) {
				if (seen[i])
					continue;
				seen[i] = true;
				q[tail++] = t->v[i];
			}
		}
	}
	r = 0;
out:
	free(q);
	free(seen);
	free(cand);
	free(cidx);
	free(taken);
	free(desc);
	return r;
}

/*
 * Is ps a zombie this call has not seen before?  One that stays a zombie
 * (its parent does not reap it) has forked nothing since: only its first
 * sighting asks for another pass.
 */
static bool
zombie_new(struct fzcall *c, const struct pstat *ps)
{
	size_t i;

	for (i = 0; i < c->nzombies; i++)
		if (c->zombies[i].pid == ps->pid &&
		    c->zombies[i].start == ps->start)
			return false;
	if (kk_grow(&c->zombies, &c->capzombies, c->nzombies,
	    sizeof(*c->zombies), 16, FZ_ZOMBIES_MAX) < 0)
		return false;
	c->zombies[c->nzombies].pid = ps->pid;
	c->zombies[c->nzombies].start = ps->start;
	c->nzombies++;
	return true;
}

/*
 * One pass over every process for a uid, exe or files selector, each
 * looked at and taken as /proc lists it: a process that changes its pid
 * every millisecond is alive for the few system calls between its entry
 * and its cgroup being frozen (take), not for a whole scan.
 */
int
fz_pass_match(struct fzcall *c, size_t *nmoved)
{
	struct proclist pl;
	char exe[PATH_MAX];
	struct pstat ps, *cand = NULL;
	size_t i, ncand = 0, capcand = 0, ntaken;
	bool moved, descend;
	pid_t pid;
	int m, r;

	*nmoved = 0;
	if ((r = fz_proclist_open(&pl)) < 0)
		return fz_err(c->err, c->errlen, r, "/proc: %s",
		    strerror(-r));
	for (i = 0; i < FZ_SCAN_MAX + 1024 && (pid = fz_proclist_next(&pl)) > 0;
	    i++) {
		/*
		 * Gone (or exiting) before anything was read: it may have
		 * been a target that forked to a new pid after this part of
		 * /proc was listed, or below the listing's cursor if pids
		 * wrapped around; a pass after this one looks again.
		 */
		if (fz_read_pstat(pid, &ps) < 0 ||
		    (fz_gone_state(ps.state) && zombie_new(c, &ps))) {
			c->vanished = true;
			continue;
		}
		if (fz_gone_state(ps.state))
			continue;	/* a zombie seen before: long dead */
		/* not a user's process, and far too many to list */
		if (ps.flags & PF_KTHREAD)
			continue;
		if ((m = fz_selected(c, &ps, exe, sizeof(exe))) < 0)
			c->vanished = true;
		/*
		 * One that may share memory with a target (the targets are
		 * known once the pass is through): a twin that setuid'd is
		 * not the uid's
		 */
		if (m == 0 && fz_twin_candidate(c, &ps) &&
		    kk_grow(&cand, &capcand, ncand, sizeof(*cand), 64,
		    FZ_SCAN_MAX) == 0)
			cand[ncand++] = ps;
		if (m <= 0)
			continue;
		moved = false;
		if ((r = take(c, &ps, exe, &moved, &descend)) < 0)
			break;
		if (moved)
			(*nmoved)++;
	}
	close(pl.fd);
	if (r == 0)
		r = take_twins(c, cand, ncand, nmoved, NULL, NULL, &ntaken);
	free(cand);
	return r;
}
