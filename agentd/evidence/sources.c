/*
 * Source groups: the cgroups the targets come from.  One that may be is
 * frozen while its targets are moved out, then put back as it was (see
 * freeze.c), or, when all of it are targets, kept frozen where it is
 * (inplace.c).
 */
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
	if (g->nprotect > 0 && g->service_slice != NULL &&
	    fz_cg_within(g->service_slice, cg))
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

/*
 * May the group cg be frozen for a moment?  Not the root (it cannot be),
 * not a freeze group, not one that holds kakurid, the caller or pid 1
 * (or is above them), not one with child groups (they would freeze too,
 * unseen), not one that holds a protected process.  sv->candidate says
 * whether it may also stay frozen where it is (cgroup2, nothing of it
 * delegated, FZ_INPLACE_MIN processes at least); whether all of them
 * are targets is asked only once it is frozen (inplace.c): before, it is
 * a moving picture.
 */
static bool
source_freezable(struct fzcall *c, struct source *sv, const char *dir)
{
	char why[PATH_MAX + 64];
	const char *cg = sv->cg;
	struct pstat ps;
	pid_t *pids = NULL;
	size_t n = 0, i;
	bool descend, ok = true;

	if (!c->src_ok || strcmp(cg, "/") == 0 || fz_cg_within(c->brel, cg) ||
	    !fz_cgpath_ok(cg) || fz_cg_within(cg, c->caller_cg) ||
	    fz_cg_within(cg, c->init_cg) ||
	    (c->self_cg[0] != '\0' && fz_cg_within(cg, c->self_cg)) ||
	    fz_has_child_groups(dir) || fz_group_pids(dir, &pids, &n) < 0)
		return false;
	if (members_to_read(c, cg, pids, n))
		for (i = 0; i < n && ok; i++)
			if (fz_member_pstat(c, pids[i], &ps) == 0 &&
			    fz_protected_why(c->g, &ps, why, sizeof(why),
			    &descend) != NULL)
				ok = false;
	free(pids);
	sv->candidate = ok && c->v2 && n >= FZ_INPLACE_MIN &&
	    fz_cg_root_owned(c->fz->root, cg);
	return ok;
}

/*
 * Freezes the group a target is in, once per call, if it may be and
 * nobody froze it before us.  The source when it was frozen just now:
 * the caller keeps it frozen in place (fz_inplace_take) or looks at its
 * target again (it may have forked and exited in the meantime; what
 * took its place now holds still for the next pass).
 */
struct source *
fz_freeze_source(struct fzcall *c, const char *cg)
{
	char dir[PATH_MAX];
	struct timespec dl;
	struct source *sv;
	struct stat st;
	size_t i;

	for (i = 0; i < c->nsrc; i++)
		if (strcmp(c->src[i].cg, cg) == 0)
			return NULL;
	if (c->src == NULL || c->nsrc >= FZ_SOURCES_MAX ||
	    strlen(cg) >= sizeof(sv->cg))
		return NULL;
	sv = &c->src[c->nsrc++];
	memset(sv, 0, sizeof(*sv));
	snprintf(sv->cg, sizeof(sv->cg), "%s", cg);
	if (fz_cg_dir(c->fz, cg, dir, sizeof(dir)) < 0 ||
	    !source_freezable(c, sv, dir))
		return NULL;
	/* frozen by someone else: theirs to thaw, not ours */
	if (fz_group_freezing(dir, c->v2) != 0 ||
	    fz_group_freeze(dir, c->v2, true) < 0)
		return NULL;
	sv->frozen = true;
	if (stat(dir, &st) == 0)
		sv->cg_id = (uint64_t)st.st_ino;
	/*
	 * A task that will not freeze (held in the kernel) only makes this
	 * wait, and not for long: the call runs in kakurid's event loop.
	 * Past the budget the group is frozen without waiting; it holds
	 * still a moment later.
	 */
	fz_deadline_in(&dl, FZ_SOURCE_WAIT_MS);
	if (fz_ms_left(&dl) > fz_ms_left(&c->src_wait_until))
		dl = c->src_wait_until;
	if (fz_ms_left(&dl) > 0)
		fz_wait_frozen_dir(dir, c->v2, &dl);
	return sv;
}

/*
 * Every source this call froze runs again (as it was before), but for
 * those that stay frozen in place.
 */
void
fz_sources_restore(struct fzcall *c)
{
	char dir[PATH_MAX];
	size_t i;

	for (i = 0; i < c->nsrc; i++) {
		if (!c->src[i].frozen || c->src[i].in_place)
			continue;
		if (fz_cg_dir(c->fz, c->src[i].cg, dir, sizeof(dir)) == 0)
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
