/*
 * Source groups: the cgroups the targets come from.  One that may be is
 * frozen while its targets are moved out, then put back as it was (see
 * freeze.c).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "freezer.h"

/*
 * May the group cg be frozen for a moment?  Not the root (it cannot be),
 * not a freeze group, not one that holds kakurid, the caller or pid 1
 * (or is above them), not one with child groups (they would freeze too,
 * unseen), not one that holds a protected process.
 */
static bool
source_freezable(struct fzcall *c, const char *cg, const char *dir)
{
	char why[PATH_MAX + 64];
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
	for (i = 0; i < n && ok; i++)
		if (fz_read_pstat(pids[i], &ps) == 0 &&
		    fz_protected_why(c->g, &ps, why, sizeof(why),
		    &descend) != NULL)
			ok = false;
	free(pids);
	return ok;
}

/*
 * Freezes the group a target is in, once per call, if it may be and
 * nobody froze it before us.  True when it was frozen just now: the
 * caller looks at its target again (it may have forked and exited in
 * the meantime; what took its place now holds still for the next pass).
 */
bool
fz_freeze_source(struct fzcall *c, const char *cg)
{
	char dir[PATH_MAX], ctl[PATH_MAX], buf[32];
	struct timespec dl;
	struct source *sv;
	size_t i;

	for (i = 0; i < c->nsrc; i++)
		if (strcmp(c->src[i].cg, cg) == 0)
			return false;
	if (c->src == NULL || c->nsrc >= FZ_SOURCES_MAX ||
	    strlen(cg) >= sizeof(sv->cg))
		return false;
	sv = &c->src[c->nsrc++];
	snprintf(sv->cg, sizeof(sv->cg), "%s", cg);
	sv->frozen = false;
	if (fz_cg_dir(c->fz, cg, dir, sizeof(dir)) < 0 ||
	    fz_join(ctl, sizeof(ctl), dir, c->v2 ? "/cgroup.freeze" :
	    "/freezer.state") < 0 || !source_freezable(c, cg, dir))
		return false;
	/* frozen by someone else: theirs to thaw, not ours */
	if (fz_read_small(ctl, buf, sizeof(buf)) < 0 ||
	    strncmp(buf, c->v2 ? "0" : "THAWED", c->v2 ? 1 : 6) != 0)
		return false;
	if (fz_write_str(ctl, c->v2 ? "1" : "FROZEN") < 0)
		return false;
	sv->frozen = true;
	c->src_moved = true;
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
	return true;
}

/* Every source this call froze runs again (as it was before). */
void
fz_sources_restore(struct fzcall *c)
{
	char dir[PATH_MAX], ctl[PATH_MAX];
	size_t i;

	for (i = 0; i < c->nsrc; i++) {
		if (!c->src[i].frozen)
			continue;
		if (fz_cg_dir(c->fz, c->src[i].cg, dir, sizeof(dir)) == 0 &&
		    fz_join(ctl, sizeof(ctl), dir, c->v2 ? "/cgroup.freeze" :
		    "/freezer.state") == 0)
			fz_write_str(ctl, c->v2 ? "0" : "THAWED");
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
