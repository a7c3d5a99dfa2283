/*
 * Freezing (DESIGN 7): a suspect process is put into a frozen cgroup
 * instead of being killed, stopped or traced, so its memory, its open
 * files and its children stay as the attacker left them until the
 * snapshot has been taken and a CSIRT decides.
 *
 * cgroup v2 first: kakuri owns ROOT/kakuri, one child group per freeze
 * episode.  The group is made and set frozen while it is still empty,
 * then the targets are moved in: a process migrated into a frozen group
 * is frozen on its way back to user space, and whatever it forks from
 * then on is born in the group, hence frozen as well.  Children forked
 * before the move are found by scanning again until a pass finds nothing
 * new.  Where cgroup2 cannot be used, the v1 freezer hierarchy does the
 * same with freezer.state.  Nothing here sends SIGSTOP or uses ptrace:
 * both are visible to the process and its parent (wait(2) reports a
 * stop), and a stopped task can be continued by anyone who may signal it.
 *
 * A process that forks to a new pid every few milliseconds (and lets the
 * old one exit) would outrun that: by the time its pid is written to
 * cgroup.procs it is gone.  So the cgroup a target comes from (its
 * source) is frozen first, then its targets are moved out of it, and the
 * source is put back as it was.  Other processes of the source stand
 * still for those milliseconds.  A source is left running (and the chase
 * above is all there is) when it is the root, holds kakurid, the caller
 * or pid 1, holds a protected process, or has child groups (freezing it
 * would freeze them too).  A source delegated to a user (cgroup2) is
 * not frozen itself, since its owner could thaw it or make a child group
 * to keep it from being frozen: its nearest ancestor that is root's
 * alone is, under the same rules, child groups allowed: no process
 * below it may be protected (sources.c).
 *
 * A source all of whose processes are targets (a service, a session, a
 * container: two processes at least) is not put back at all: it stays
 * frozen where it is, and nothing is moved (inplace.c).  Moving is a
 * cgroup migration per process; a thousand of them are what made a
 * freeze slower than a SIGSTOP loop.  A pid selector freezes its root's
 * group that way before it scans /proc.  Anything found in such a group
 * that is not a target (root moved it in meanwhile) makes it a source
 * like the others again, its targets moved out, frozen all along.
 *
 * Moving a process needs write access to the common ancestor of the two
 * groups; kakurid runs as root.  The original group of every process is
 * recorded so thaw can put it back, and never higher up: a group that has
 * gone is made again inside its slice (see kk_thaw).
 *
 * Protected programs (kk_protected_exe) are recognised by what they are, not by
 * a path: the file the kernel says they run, and the system service
 * cgroup they run in.  Nothing here reads an executable's content: the
 * sha256 selector is resolved by a worker (exehash.c) into the files it
 * names, and kk_freeze matches those by device and inode.
 *
 * Environment: KAKURI_FREEZER=v1 makes kk_freezer_probe use the v1
 * freezer only (tests of the fallback on hosts that have both),
 * KAKURI_FREEZER=v2 cgroup2 only.
 *
 * Files: this one is the call (the final look at the group, the entry
 * points); passes.c the passes over /proc; targets.c who is a target; sources.c the
 * source groups; inplace.c those frozen in place; thaw.c thawing;
 * frozen.c the frozen set and frozen.json; protect.c what is never
 * frozen; procfs.c and cgroupfs.c what /proc and the cgroup file system
 * say; pin.c moves a process by its pid only while a pidfd holds it.
 * freezer.h is what they share.
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

int (*fz_pass_hook)(struct fzcall *c, int pass);

static int
wait_frozen(struct fzcall *c)
{
	return fz_wait_frozen_dir(c->gdir, c->v2, &c->deadline);
}

/*
 * After "frozen 1" nothing in the group can fork any more: every process
 * in it that the set does not know yet (born in the group, or moved in
 * between a scan and its move) is recorded now, with the original group
 * of its nearest recorded ancestor, so thaw leaves nobody behind.
 * Protected programs found there (exec'd by a target meanwhile) are let
 * out again.
 */
static int
reconcile(struct fzcall *c)
{
	struct kk_frozen f;
	struct pstat ps, anc;
	const char *why, *orig;
	char whybuf[PATH_MAX + 64];
	pid_t *pids = NULL, p;
	size_t n, i, j;
	bool descend;
	int k, r, pidfd;

	if ((r = fz_group_pids(c->gdir, &pids, &n)) < 0)
		return fz_err(c->err, c->errlen, r, "%s/cgroup.procs: %s",
		    c->gdir, strerror(-r));
	if ((r = fz_keys_build(c)) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		/*
		 * Recorded for this group: the pid alone is enough, the
		 * group holds only what was moved in or born there, and
		 * nothing in it can fork now.
		 */
		if (fz_recorded_pid(c, pids[i]) != NULL)
			continue;
		if (fz_read_pstat(pids[i], &ps) < 0 || fz_gone_state(ps.state))
			continue;
		if (fz_in_set(c, ps.pid, ps.start))
			continue;
		orig = NULL;
		p = ps.ppid;
		for (k = 0; k < FZ_CHAIN_MAX && p > 1 && orig == NULL; k++) {
			for (j = 0; j < c->set->n; j++)
				if (c->set->v[j].pid == p &&
				    strcmp(c->set->v[j].group, c->group) == 0)
					break;
			if (j < c->set->n) {
				orig = c->set->v[j].orig_cgroup;
				break;
			}
			if (fz_read_pstat(p, &anc) < 0)
				break;
			p = anc.ppid;
		}
		/* an orphan (its parent exited): where this call began */
		for (j = c->first; orig == NULL && j < c->set->n; j++)
			if (strcmp(c->set->v[j].group, c->group) == 0)
				orig = c->set->v[j].orig_cgroup;
		memset(&f, 0, sizeof(f));
		snprintf(f.orig_cgroup, sizeof(f.orig_cgroup), "%s",
		    orig != NULL ? orig : "/");
		kk_exe_name(ps.pid, f.exe, sizeof(f.exe));
		if ((why = fz_protected_why(c->g, &ps, whybuf, sizeof(whybuf),
		    &descend)) != NULL) {
			char mwhy[PATH_MAX + 64];

			/* kakurid's or pid 1's own: out again, wherever */
			if (fz_pin(ps.pid, ps.start, &pidfd) == 0 &&
			    fz_move_back_pinned(c->fz->root, c->v2, c->brel,
			    f.orig_cgroup, ps.pid, pidfd, mwhy,
			    sizeof(mwhy)) == 0)
				fz_skip_add(c, ps.pid, f.exe, why);
			continue;
		}
		f.pid = ps.pid;
		f.start_time = ps.start;
		if (fz_read_status(ps.pid, &f.uid, NULL) < 0)
			continue;
		snprintf(f.group, sizeof(f.group), "%s", c->group);
		snprintf(f.method, sizeof(f.method), "%s", c->fz->method);
		f.described = true;
		if ((r = fz_set_push(c->set, &f)) < 0) {
			fz_err(c->err, c->errlen, r, "pid %d: %s", (int)ps.pid,
			    strerror(-r));
			goto out;
		}
	}
	r = 0;
out:
	free(pids);
	return r;
}

/*
 * A freeze whose targets are moved and whose group is waiting for the
 * kernel's "frozen 1": everything kk_freeze_poll needs, owned (the
 * caller's freezer, guard and group name may be gone by then).
 */
struct kk_freeze_op {
	struct fzcall c;
	struct kk_freezer fz;
	struct kk_freeze_guard g;
	struct kk_protected_exe prot[64];
	char group[64];
	char err[512];
	size_t nmoved;
	int pass;
	bool created;
};

/*
 * Closes what the call holds; a group it made and left empty goes (also
 * when everything was frozen in place).
 */
static void
op_end(struct kk_freeze_op *op)
{
	struct fzcall *c = &op->c;

	if (c->src != NULL) {
		fz_sources_restore(c);
		free(c->src);
		c->src = NULL;
	}
	if (c->procs_fd >= 0)
		close(c->procs_fd);
	c->procs_fd = -1;
	if (c->moves_fd >= 0)
		close(c->moves_fd);
	c->moves_fd = -1;
	if (op->created)
		fz_group_remove(c->gdir, c->v2);
	free(c->keys);
	free(c->zombies);
	free(c->bypid);
	free(c->placed);
	free(c->twprev);
	free(c->twcur);
	c->twprev = c->twcur = NULL;
	c->keys = NULL;
	c->zombies = NULL;
	c->bypid = NULL;
	c->placed = NULL;
}

/* Everything up to the wait for "frozen 1". */
static int
freeze_begin(struct kk_freeze_op *op, const struct kk_selector *sel,
    struct kk_frozen_set *set, json_t **skipped, json_t **twins)
{
	struct fzcall *c = &op->c;
	const struct kk_freezer *fz = &op->fz;
	const struct kk_freeze_guard *g = &op->g;
	const char *group = op->group;
	char *err = op->err;
	size_t errlen = sizeof(op->err);
	struct ptab t = { 0 };
	struct timespec extra_until;
	struct pstat root;
	char path[PATH_MAX], whybuf[PATH_MAX + 64];
	const char *why;
	size_t nmoved = 0;
	bool descend;
	pid_t tgid;
	int pass, extra = 0, r;

	c->fz = fz;
	c->g = g;
	c->sel = sel;
	c->group = group;
	c->set = set;
	c->first = set->n;
	c->procs_fd = -1;
	c->moves_fd = -1;
	c->err = err;
	c->errlen = errlen;
	if (skipped != NULL) {
		if (*skipped == NULL && (*skipped = json_array()) == NULL) {
			r = -ENOMEM;
			goto out;
		}
		c->skipped = *skipped;
	}
	if (twins != NULL) {
		if (*twins == NULL && (*twins = json_array()) == NULL) {
			r = -ENOMEM;
			goto out;
		}
		c->twins = *twins;
	}
	if (!fz_is_method(fz->method)) {
		r = fz_err(err, errlen, -ENOTSUP, "no freezer (probe first)");
		goto out;
	}
	c->v2 = strcmp(fz->method, "cgroup2") == 0;
	if (group == NULL || !fz_group_ok(group)) {
		r = fz_err(err, errlen, -EINVAL, "bad freeze group id");
		goto out;
	}
	if (fz_base_rel(fz, c->brel, sizeof(c->brel)) < 0) {
		r = fz_err(err, errlen, -EINVAL, "%s is not below %s",
		    fz->base, fz->root);
		goto out;
	}
	if (fz_join3(c->gdir, sizeof(c->gdir), fz->base, "/", group) < 0) {
		r = fz_err(err, errlen, -ENAMETOOLONG, "%s: path too long",
		    fz->base);
		goto out;
	}

	switch (sel->kind) {
	case KK_SEL_PID:
		/*
		 * Named explicitly: a protected process is refused, not
		 * skipped, before anything is created.
		 */
		if (sel->pid <= 0 || fz_read_pstat(sel->pid, &root) < 0 ||
		    fz_gone_state(root.state)) {
			r = fz_err(err, errlen, -ESRCH, "no process %d",
			    (int)sel->pid);
			goto out;
		}
		/* a thread id names its process; cgroup.procs moves it whole */
		if (fz_read_status(sel->pid, NULL, &tgid) == 0 &&
		    tgid != sel->pid && tgid > 0) {
			r = fz_err(err, errlen, -EINVAL,
			    "%d is a thread of process %d", (int)sel->pid,
			    (int)tgid);
			goto out;
		}
		c->root_start = root.start;
		if ((why = fz_protected_why(g, &root, whybuf, sizeof(whybuf),
		    &descend)) != NULL) {
			r = fz_err(err, errlen, -EPERM,
			    "pid %d is protected (%s)", (int)sel->pid, why);
			goto out;
		}
		break;
	case KK_SEL_UID:
	case KK_SEL_EXE:
	case KK_SEL_FILES:
		if (sel->kind == KK_SEL_EXE && sel->exe[0] != '/') {
			r = fz_err(err, errlen, -EINVAL,
			    "exe selector: an absolute path is needed");
			goto out;
		}
		if (sel->kind == KK_SEL_FILES && sel->nfiles > 0 &&
		    sel->files == NULL) {
			r = fz_err(err, errlen, -EINVAL, "files selector: "
			    "no list");
			goto out;
		}
		break;
	case KK_SEL_SHA256:
		/* reading executables is a worker's job (exehash.c) */
		r = fz_err(err, errlen, -EINVAL, "sha256 selector: resolve "
		    "it to files first");
		goto out;
	default:
		r = fz_err(err, errlen, -EINVAL,
		    "this selector can only thaw");
		goto out;
	}

	fz_deadline_in(&c->deadline, fz->timeout_ms != 0 ? fz->timeout_ms :
	    FZ_TIMEOUT_MS);
	/* our subtree may have been removed since the probe, even now */
	for (pass = 0; pass < 3; pass++) {
		if (mkdir(fz->base, 0755) < 0 && errno != EEXIST) {
			r = fz_err(err, errlen, -errno, "mkdir %s: %s",
			    fz->base, strerror(errno));
			goto out;
		}
		if (mkdir(c->gdir, 0755) == 0) {
			op->created = true;
			break;
		}
		if (errno == EEXIST)
			break;
		if (errno != ENOENT || pass == 2) {
			r = fz_err(err, errlen, -errno, "mkdir %s: %s",
			    c->gdir, strerror(errno));
			goto out;
		}
	}
	/*
	 * Journaled before anything is moved: a kakurid that ends while it
	 * takes them finds them there at start (strays.c).  Not written, a
	 * freeze goes on all the same.
	 */
	if (fz_journal_episode(c) < 0) {
		snprintf(c->journal_err, sizeof(c->journal_err), "the freeze "
		    "group %s: not journaled", c->group);
		c->journal_err_weak = true;
	}
	/* frozen while empty: whatever is moved in freezes on arrival */
	if ((r = fz_join(path, sizeof(path), c->gdir, c->v2 ? "/cgroup.freeze" :
	    "/freezer.state")) < 0 ||
	    (r = fz_write_str(path, c->v2 ? "1" : "FROZEN")) < 0) {
		fz_err(err, errlen, r, "%s: %s", path, strerror(-r));
		goto out;
	}
	if ((r = fz_join(path, sizeof(path), c->gdir, "/cgroup.procs")) < 0)
		goto out;
	if ((c->procs_fd = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
		r = fz_err(err, errlen, -errno, "%s: %s", path,
		    strerror(errno));
		goto out;
	}

	fz_sources_init(c);
	/* a pid's own group first, frozen where it is if it may be */
	if ((r = fz_inplace_first(c)) < 0) {
		fz_err(err, errlen, r, "%s", strerror(-r));
		goto out;
	}

	/*
	 * Until a pass moves nobody and freezes no source: a child forked
	 * before its parent was moved stays where it was born and is found
	 * by the next pass; one forked after is born in the group; one
	 * whose source froze under it is found, holding still, next time.
	 */
	c->tw_lo = c->tw_mid = c->first;
	for (pass = 0; pass < FZ_PASSES_MAX; pass++) {
		if (fz_pass_hook != NULL && (r = fz_pass_hook(c, pass)) < 0) {
			fz_err(err, errlen, r, "pass %d: %s", pass,
			    strerror(-r));
			goto out;
		}
		c->tw_lo = c->tw_mid;
		c->tw_mid = set->n;
		fz_twins_pass(c);
		if ((r = fz_keys_build(c)) < 0) {
			fz_err(err, errlen, r, "%s", strerror(-r));
			goto out;
		}
		c->src_moved = false;
		c->vanished = false;
		r = sel->kind == KK_SEL_PID ? fz_pass_tree(c, &t, &nmoved) :
		    fz_pass_match(c, &nmoved);
		if (r < 0)
			goto out;
		/*
		 * A target that exited while it was taken may have forked
		 * first (to a new pid): a few passes more look for it.  So
		 * do they when nothing matched yet: /proc is not listed
		 * atomically, and a process that forks and exits while a
		 * pass goes by (a hopper whose new pid is below the old
		 * one) is in none of its entries.
		 */
		if (nmoved == 0 && !c->src_moved) {
			if ((!c->vanished && (c->matched > 0 ||
			    set->n > c->first)) || extra >= FZ_VANISHED_PASSES)
				break;
			if (extra++ == 0)
				fz_deadline_in(&extra_until, FZ_VANISHED_MS);
			else if (fz_ms_left(&extra_until) == 0)
				break;
		}
		if (fz_ms_left(&c->deadline) == 0)
			break;
	}
	/* the others in those groups run again at once */
	fz_sources_restore(c);
	if (c->matched == 0 && set->n == c->first) {
		r = fz_err(err, errlen, -ESRCH, "no process to freeze%s",
		    c->skipped != NULL && json_array_size(c->skipped) > 0 ?
		    " (only protected ones matched)" : "");
		goto out;
	}
	op->nmoved = nmoved;
	op->pass = pass;
	free(t.v);
	return 0;
out:
	free(t.v);
	return r;
}

/*
 * The rest, once the group is frozen or the time is up: -EAGAIN while
 * neither (wait: wait for it instead).
 */
static int
freeze_finish(struct kk_freeze_op *op, bool wait)
{
	struct fzcall *c = &op->c;
	char *err = op->err, late[PATH_MAX];
	size_t errlen = sizeof(op->err);
	int r, rw;

	if (wait)
		rw = wait_frozen(c);
	else
		rw = fz_wait_frozen_dir(c->gdir, c->v2, NULL);
	snprintf(late, sizeof(late), "%s", c->gdir);
	/* and the groups frozen in place */
	if (rw == 0 || rw == -EAGAIN)
		if ((r = fz_inplace_wait(c, wait, late, sizeof(late))) < 0 &&
		    rw == 0)
			rw = r;
	if (rw == -EAGAIN && !wait && fz_ms_left(&c->deadline) == 0)
		rw = -ETIMEDOUT;
	if (rw == -EAGAIN)
		return rw;
	/* also after a timeout: thaw must know everybody in the groups */
	if ((r = reconcile(c)) < 0 || (r = fz_inplace_reconcile(c)) < 0)
		return r;
	if (op->nmoved != 0)
		return fz_err(err, errlen, -ETIMEDOUT,
		    "%s: new processes still appearing after %d passes",
		    c->gdir, op->pass);
	if (rw == -ETIMEDOUT)
		return fz_err(err, errlen, rw, "%s: not frozen after %u ms",
		    late, op->fz.timeout_ms != 0 ? op->fz.timeout_ms :
		    FZ_TIMEOUT_MS);
	if (rw < 0)
		return fz_err(err, errlen, rw, "%s: %s", late, strerror(-rw));
	return 0;
}

static struct kk_freeze_op *
op_new(const struct kk_freezer *fz, const struct kk_freeze_guard *g,
    const char *group, char *err, size_t errlen)
{
	struct kk_freeze_op *op;
	size_t n = g != NULL ? g->nprotect : 0;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (n > sizeof(op->prot) / sizeof(op->prot[0]) ||
	    (group != NULL && strlen(group) >= sizeof(op->group)) ||
	    (op = calloc(1, sizeof(*op))) == NULL)
		return NULL;
	op->fz = *fz;
	if (g != NULL) {
		op->g = *g;
		if (n > 0)
			memcpy(op->prot, g->protect, n * sizeof(op->prot[0]));
		op->g.protect = op->prot;
	}
	snprintf(op->group, sizeof(op->group), "%s", group != NULL ? group :
	    "");
	op->c.procs_fd = -1;
	op->c.moves_fd = -1;
	return op;
}

static int
op_done(struct kk_freeze_op *op, int r, char *err, size_t errlen)
{
	op_end(op);
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", op->err);
	free(op);
	return r;
}

int
kk_freeze_begin(const struct kk_freezer *fz, const struct kk_freeze_guard *g,
    const struct kk_selector *sel, const char *group,
    struct kk_frozen_set *set, json_t **skipped, json_t **twins,
    struct kk_freeze_op **opp, char *err, size_t errlen)
{
	struct kk_freeze_op *op;
	int r;

	*opp = NULL;
	if ((op = op_new(fz, g, group, err, errlen)) == NULL) {
		if (group == NULL || !fz_group_ok(group))
			return fz_err(err, errlen, -EINVAL,
			    "bad freeze group id");
		return fz_err(err, errlen, -ENOMEM, "out of memory");
	}
	if ((r = freeze_begin(op, sel, set, skipped, twins)) < 0)
		return op_done(op, r, err, errlen);
	/* the selector is not looked at again */
	op->c.sel = NULL;
	*opp = op;
	return 0;
}

int
kk_freeze_poll(struct kk_freeze_op *op, char *err, size_t errlen)
{
	int r = freeze_finish(op, false);

	return r == -EAGAIN ? r : op_done(op, r, err, errlen);
}

const char *
kk_freeze_op_note(const struct kk_freeze_op *op)
{
	return op->c.journal_err;
}

void
kk_freeze_op_free(struct kk_freeze_op *op)
{
	if (op != NULL)
		op_done(op, 0, NULL, 0);
}

int
kk_freeze(const struct kk_freezer *fz, const struct kk_freeze_guard *g,
    const struct kk_selector *sel, const char *group,
    struct kk_frozen_set *set, json_t **skipped, json_t **twins, char *err,
    size_t errlen)
{
	struct kk_freeze_op *op;
	int r;

	if ((r = kk_freeze_begin(fz, g, sel, group, set, skipped, twins, &op,
	    err, errlen)) < 0)
		return r;
	return op_done(op, freeze_finish(op, true), err, errlen);
}
