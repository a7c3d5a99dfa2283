/*
 * Source groups: the cgroups the targets come from.  One that may be is
 * frozen while its targets are moved out, then put back as it was (see
 * freeze.c), or, when all of it are targets, kept frozen where it is
 * (inplace.c).  A delegated one (cgroup2, its owner may write its
 * cgroup.freeze and make child groups in it) is held still by its
 * nearest ancestor that is root's alone, frozen for the moment instead.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "freezer.h"

static int
cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Can a process of the group cg (members pids, n of them) be protected,
 * so that each must be read before it is frozen?  Reading a thousand is
 * what a freeze should not wait for, and mostly need not: pid 1,
 * kakurid and the caller are not in cg (the caller checks), nor is a
 * kernel thread frozen by the kernel's freezer; a program the policy
 * protects is only protected in a service's cgroup below the service
 * slice; kakurid's children are in its children lists.
 */
static bool
members_to_read(struct fzcall *c, const char *cg, pid_t *pids, size_t n)
{
	const struct kk_freeze_guard *g = c->g;
	pid_t *kids = NULL;
	size_t nkids = 0, cap = 0, i;
	bool any = false;

	if (g == NULL)
		return false;
	/* cg below the slice, or (an ancestor, sources below) above it */
	if (g->nprotect > 0 && g->service_slice != NULL &&
	    (fz_cg_within(g->service_slice, cg) ||
	    fz_cg_within(cg, g->service_slice)))
		return true;
	if (g->self <= 0)
		return false;
	if (fz_children(g->self, &kids, &nkids, &cap) < 0) {
		free(kids);
		return true;	/* cannot tell: each is read */
	}
	qsort(pids, n, sizeof(*pids), cmp_pid);
	for (i = 0; i < nkids && !any; i++)
		any = bsearch(&kids[i], pids, n, sizeof(*pids),
		    cmp_pid) != NULL;
	free(kids);
	return any;
}

/* Is one of pids (n of them, in the group or subtree cg) protected? */
static bool
holds_protected(struct fzcall *c, const char *cg, pid_t *pids, size_t n)
{
	char why[PATH_MAX + 64];
	struct pstat ps;
	bool descend;
	size_t i;

	if (!members_to_read(c, cg, pids, n))
		return false;
	for (i = 0; i < n; i++)
		if (fz_member_pstat(c, pids[i], &ps) == 0 &&
		    fz_protected_why(c->g, &ps, why, sizeof(why),
		    &descend) != NULL)
			return true;
	return false;
}

/*
 * The groups a frozen cg must not be or contain: the root (it cannot be
 * frozen), the freeze groups, those of kakurid, the caller and pid 1.
 * Above: cg is an ancestor, which must not contain the freeze groups
 * either.
 */
static bool
cg_excluded(const struct fzcall *c, const char *cg, bool above)
{
	return !c->src_ok || strcmp(cg, "/") == 0 || !fz_cgpath_ok(cg) ||
	    fz_cg_within(c->brel, cg) || (above && fz_cg_within(cg, c->brel)) ||
	    fz_cg_within(cg, c->caller_cg) || fz_cg_within(cg, c->init_cg) ||
	    (c->self_cg[0] != '\0' && fz_cg_within(cg, c->self_cg));
}

/*
 * May the group cg be frozen for a moment?  Not one cg_excluded names,
 * not one with child groups (they would freeze too, unseen), not one
 * that holds a protected process.  sv->candidate says whether it may
 * also stay frozen where it is (cgroup2, nothing of it delegated,
 * FZ_INPLACE_MIN processes at least); whether all of them are targets
 * is asked only once it is frozen (inplace.c): before, it is a moving
 * picture.
 */
static bool
source_freezable(struct fzcall *c, struct source *sv, const char *dir)
{
	const char *cg = sv->cg;
	pid_t *pids = NULL;
	size_t n = 0;
	bool ok;

	if (cg_excluded(c, cg, false) || fz_has_child_groups(dir) ||
	    fz_group_pids(dir, &pids, &n) < 0)
		return false;
	ok = !holds_protected(c, cg, pids, n);
	free(pids);
	sv->candidate = ok && c->v2 && n >= FZ_INPLACE_MIN &&
	    fz_cg_root_owned(c->fz->root, cg);
	return ok;
}

/* The child groups of dirs[k] join dirs (*ndirs of them, bounded). */
static int
subtree_children(char ***dirs, size_t *ndirs, size_t *cap, size_t k)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int r = 0;

	if ((d = opendir((*dirs)[k])) == NULL)
		return -errno;
	while (r == 0 && (de = readdir(d)) != NULL) {
		if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if ((r = fz_join3(path, sizeof(path), (*dirs)[k], "/",
		    de->d_name)) < 0 || (r = kk_grow(dirs, cap, *ndirs,
		    sizeof(**dirs), 16, FZ_ANCESTOR_GROUPS)) < 0)
			break;
		if (((*dirs)[*ndirs] = strdup(path)) == NULL)
			r = -ENOMEM;
		else
			(*ndirs)++;
	}
	closedir(d);
	return r;
}

/*
 * The processes of the group in dir and of every group below it, into
 * *out (*n of them).  -E2BIG past FZ_ANCESTOR_GROUPS groups or
 * FZ_ANCESTOR_PROCS processes: what is below is not known then.
 */
static int
subtree_pids(const char *dir, pid_t **out, size_t *n)
{
	char **dirs = NULL;
	pid_t *v = NULL, *p;
	size_t ndirs = 0, capdirs = 0, cap = 0, k, i, np;
	int r;

	*out = NULL;
	*n = 0;
	if ((r = kk_grow(&dirs, &capdirs, 0, sizeof(*dirs), 16,
	    FZ_ANCESTOR_GROUPS)) < 0)
		return r;
	if ((dirs[0] = strdup(dir)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	ndirs = 1;
	/* each group read once; dirs only grows, and is bounded */
	for (k = 0; k < ndirs; k++) {
		if ((r = fz_group_pids(dirs[k], &p, &np)) < 0)
			goto out;
		for (i = 0; i < np; i++) {
			if ((r = kk_grow(&v, &cap, *n, sizeof(*v), 64,
			    FZ_ANCESTOR_PROCS)) < 0)
				break;
			v[(*n)++] = p[i];
		}
		free(p);
		if (r < 0 || (r = subtree_children(&dirs, &ndirs, &capdirs,
		    k)) < 0)
			goto out;
	}
	*out = v;
	v = NULL;
	r = 0;
out:
	for (k = 0; k < ndirs; k++)
		free(dirs[k]);
	free(dirs);
	free(v);
	if (r < 0)
		*n = 0;
	return r;
}

/*
 * Is one of kakurid's children below cg?  Their groups are read: they
 * are few, while below cg there may be any number of processes.  Where
 * that cannot be told: yes.
 */
static bool
holds_kakurid_child(const struct fzcall *c, const char *cg)
{
	char kcg[PATH_MAX];
	pid_t *kids = NULL;
	size_t nkids = 0, cap = 0, i;
	bool any = false;
	int r;

	if (c->g == NULL || c->g->self <= 0)
		return false;
	if (fz_children(c->g->self, &kids, &nkids, &cap) < 0)
		any = true;
	for (i = 0; i < nkids && !any; i++) {
		r = fz_read_cgroup(kids[i], c->v2, kcg, sizeof(kcg));
		/* exited meanwhile: nowhere */
		any = r == 0 ? fz_cg_within(cg, kcg) :
		    r != -ESRCH && r != -ENOENT;
	}
	free(kids);
	return any;
}

/*
 * May the ancestor cg (dir) be frozen for a moment, for the delegated
 * groups below it?  As a source (cg_excluded, and not above the freeze
 * groups either), but its child groups are the point: no process below
 * it may be protected.  kakurid's children are looked for where they
 * are; a program the policy protects is protected only in a service's
 * cgroup below the service slice, so only an ancestor below or above
 * that slice has every process below it read, and if there are too
 * many to tell, it is not frozen.
 */
static bool
ancestor_freezable(struct fzcall *c, const char *cg, const char *dir)
{
	const struct kk_freeze_guard *g = c->g;
	pid_t *pids = NULL;
	size_t n = 0;
	bool ok;

	if (cg_excluded(c, cg, true) || holds_kakurid_child(c, cg))
		return false;
	if (g == NULL || g->nprotect == 0 || g->service_slice == NULL ||
	    !(fz_cg_within(g->service_slice, cg) ||
	    fz_cg_within(cg, g->service_slice)))
		return true;
	if (subtree_pids(dir, &pids, &n) < 0)
		return false;
	ok = !holds_protected(c, cg, pids, n);
	free(pids);
	return ok;
}

/*
 * A group frozen by this call just now: until it holds still, briefly.
 * A task that will not freeze (held in the kernel) only makes this
 * wait, and not for long: the call runs in kakurid's event loop.  Past
 * the budget the group is frozen without waiting; it holds still a
 * moment later.
 */
static void
settle(struct fzcall *c, struct source *sv, const char *dir, uint64_t cg_id)
{
	struct timespec dl;

	sv->frozen = true;
	sv->cg_id = cg_id;
	fz_deadline_in(&dl, FZ_SOURCE_WAIT_MS);
	if (fz_ms_left(&dl) > fz_ms_left(&c->src_wait_until))
		dl = c->src_wait_until;
	if (fz_ms_left(&dl) > 0)
		fz_wait_frozen_dir(dir, c->v2, &dl);
}

/*
 * The group cg (in dir) frozen by this call, if nobody froze it before
 * us (then it is theirs to thaw, not ours), and journaled first: a
 * kakurid that ends before it is put back leaves it to the next one.
 * By a descriptor of its directory, so that the inode journaled (and
 * put back by) is the group frozen.  A line that cannot be written
 * (a full disk) does not keep it from being frozen: a hopper there
 * would run on; c->journal_err says so.  Its inode: 0 if not frozen.
 */
static uint64_t
freeze_journaled(struct fzcall *c, const char *cg, const char *dir)
{
	struct stat st;
	uint64_t id = 0;
	int dfd, r;

	if (fz_group_freezing(dir, c->v2) != 0 ||
	    (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return 0;
	if (fstat(dfd, &st) < 0 || st.st_ino == 0)
		goto out;
	/* a source's note before the episode line's: it is left frozen */
	if ((r = fz_journal_add(c, cg, (uint64_t)st.st_ino)) < 0 &&
	    (c->journal_err[0] == '\0' || c->journal_err_weak)) {
		snprintf(c->journal_err, sizeof(c->journal_err), "%s: not "
		    "journaled: %s", cg, strerror(-r));
		c->journal_err_weak = false;
	}
	if (fz_group_freeze_at(dfd, c->v2, true) == 0)
		id = (uint64_t)st.st_ino;
out:
	close(dfd);
	return id;
}

/*
 * cg is delegated (cgroup2, not fz_cg_root_owned): its owner may write 0
 * to its cgroup.freeze, or have made a child group so that it is no
 * source.  Its nearest ancestor that is root's alone is frozen instead,
 * once per call: a group is frozen while any ancestor is, the owner
 * cannot thaw that one from below nor move a process out of it, and
 * the child groups freeze with it.  1 that ancestor is frozen by this
 * call (now or before), 0 not (none may be, or someone else froze it).
 *
 * Looked for from the top: the groups that are root's alone are a few
 * levels from the root, and their owner's below them may be any number
 * of levels deep, or be cut where /proc/PID/cgroup ends (4,095
 * characters, silently).  Looked for from the bottom, a group more than
 * FZ_UP_MAX levels below, or too long a path to open, was never frozen,
 * and a hopper there ran on.
 */
static int
freeze_ancestor(struct fzcall *c, const char *cg)
{
	char anc[PATH_MAX], dir[PATH_MAX];
	const char *next;
	struct source *av;
	size_t i, good = 0;
	uint64_t id;
	int k;

	for (k = 0, next = cg; k < FZ_UP_MAX; k++) {
		/* below the last slash is the group itself: no ancestor */
		if ((next = strchr(next + 1, '/')) == NULL ||
		    (size_t)(next - cg) >= sizeof(anc))
			break;
		snprintf(anc, sizeof(anc), "%.*s", (int)(next - cg), cg);
		if (!fz_cg_root_owned(c->fz->root, anc))
			break;
		good = (size_t)(next - cg);
	}
	/* the root is never frozen */
	if (good == 0)
		return 0;
	snprintf(anc, sizeof(anc), "%.*s", (int)good, cg);
	for (i = 0; i < c->nsrc; i++)
		if (c->src[i].ancestor && strcmp(c->src[i].cg, anc) == 0)
			return c->src[i].frozen;
	if (c->nsrc >= FZ_SOURCES_MAX)
		return 0;
	av = &c->src[c->nsrc++];
	memset(av, 0, sizeof(*av));
	av->ancestor = true;
	snprintf(av->cg, sizeof(av->cg), "%s", anc);
	if (fz_cg_dir(c->fz, anc, dir, sizeof(dir)) < 0 ||
	    !ancestor_freezable(c, anc, dir))
		return 0;
	if ((id = freeze_journaled(c, anc, dir)) == 0)
		return 0;
	settle(c, av, dir, id);
	return 1;
}

/*
 * Freezes the group a target is in (or, delegated, its ancestor), once
 * per call, if it may be and nobody froze it before us.  The source
 * when it (or its ancestor) was frozen by this call: the caller keeps it
 * frozen in place (fz_inplace_take) or looks at its target again (it
 * may have forked and exited in the meantime; what took its place now
 * holds still for the next pass).
 */
struct source *
fz_freeze_source(struct fzcall *c, const char *cg)
{
	char dir[PATH_MAX];
	struct source *sv;
	uint64_t id;
	size_t i;

	for (i = 0; i < c->nsrc; i++)
		if (!c->src[i].ancestor && strcmp(c->src[i].cg, cg) == 0)
			return NULL;
	if (c->src == NULL || c->nsrc >= FZ_SOURCES_MAX ||
	    strlen(cg) >= sizeof(sv->cg))
		return NULL;
	sv = &c->src[c->nsrc++];
	memset(sv, 0, sizeof(*sv));
	snprintf(sv->cg, sizeof(sv->cg), "%s", cg);
	/*
	 * Delegated: held still by its ancestor (never in place: not
	 * a candidate).  Where none may be frozen, the group itself as
	 * before, if it may be: its owner can thaw that, but a hopper
	 * that does not is held still.  Tried before the group's own path
	 * is made: one too long to open (or cut by the kernel) has an
	 * ancestor all the same.
	 */
	if (c->v2 && !fz_cg_root_owned(c->fz->root, cg) &&
	    freeze_ancestor(c, cg) > 0)
		return sv;
	if (fz_cg_dir(c->fz, cg, dir, sizeof(dir)) < 0)
		return NULL;
	if (!source_freezable(c, sv, dir))
		return NULL;
	if ((id = freeze_journaled(c, cg, dir)) == 0)
		return NULL;
	settle(c, sv, dir, id);
	return sv;
}

/*
 * Every source and ancestor this call froze runs again (as it was
 * before), but for those that stay frozen in place.  Every way out of a
 * call comes here (op_end), errors included.  The group it froze, by its
 * inode: one removed and made again at its path meanwhile is someone
 * else's, and so is its freeze.
 */
void
fz_sources_restore(struct fzcall *c)
{
	char dir[PATH_MAX];
	struct stat st;
	size_t i;

	for (i = 0; i < c->nsrc; i++) {
		if (!c->src[i].frozen || c->src[i].in_place)
			continue;
		if (fz_cg_dir(c->fz, c->src[i].cg, dir, sizeof(dir)) == 0 &&
		    (c->src[i].cg_id == 0 || (stat(dir, &st) == 0 &&
		    (uint64_t)st.st_ino == c->src[i].cg_id)))
			fz_group_freeze(dir, c->v2, false);
		c->src[i].frozen = false;
	}
}

/*
 * The groups of kakurid, of the caller and of pid 1, which no source may
 * contain.  Without them no source is frozen at all.
 */
void
fz_sources_init(struct fzcall *c)
{
	fz_deadline_in(&c->src_wait_until, FZ_SOURCES_WAIT_MS);
	c->src = calloc(FZ_SOURCES_MAX, sizeof(*c->src));
	c->src_ok = c->src != NULL &&
	    fz_read_cgroup(getpid(), c->v2, c->caller_cg,
	    sizeof(c->caller_cg)) == 0 &&
	    fz_read_cgroup(1, c->v2, c->init_cg, sizeof(c->init_cg)) == 0 &&
	    (c->g == NULL || c->g->self <= 0 ||
	    fz_read_cgroup(c->g->self, c->v2, c->self_cg,
	    sizeof(c->self_cg)) == 0);
}
