/*
 * Strays: processes frozen in one of kakuri's freeze groups that the
 * saved set does not know.  A kakurid that ends while a freeze takes its
 * targets (the passes over /proc, before the set is saved) leaves those
 * moved so far there: frozen, and out of reach of status, snapshot and
 * thaw.  At start they are taken into the set (kk_frozen_adopt_strays):
 * counted, snapshot-able, and listed by a thaw, which keeps frozen one
 * whose original cgroup it does not know rather than guess one.  Only
 * from the group this kakurid's own state names (the saved set's, or the
 * freeze journal's episode line): kakuri's subtree of the cgroup
 * hierarchy is shared by every kakurid on the host (tests run several).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "freezer.h"

/* The entry of pid in group, or NULL. */
static const struct kk_frozen *
entry_of(const struct kk_frozen_set *set, pid_t pid, const char *group)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		if (set->v[i].pid == pid && strcmp(set->v[i].group, group) == 0)
			return &set->v[i];
	return NULL;
}

/*
 * The strays of the group in gdir (named group) into set: how many, or
 * a negative errno.  One born there of a known process (it forked before
 * the group held) goes back where its parent does, as reconcile() has
 * it at the end of a freeze; any other's original cgroup is not known.
 */
static int
adopt_group(const struct kk_freezer *fz, const char *gdir, const char *group,
    struct kk_frozen_set *set)
{
	const struct kk_frozen *parent;
	struct kk_frozen f;
	struct pstat ps;
	pid_t *pids = NULL;
	size_t n, i;
	int r, k = 0;

	if ((r = fz_group_pids(gdir, &pids, &n)) < 0)
		return r;
	for (i = 0; i < n; i++) {
		if (entry_of(set, pids[i], group) != NULL ||
		    fz_read_pstat(pids[i], &ps) < 0 || fz_gone_state(ps.state))
			continue;
		memset(&f, 0, sizeof(f));
		f.pid = ps.pid;
		f.start_time = ps.start;
		if (fz_read_status(ps.pid, &f.uid, NULL) < 0)
			continue;
		kk_exe_name(ps.pid, f.exe, sizeof(f.exe));
		if ((parent = entry_of(set, ps.ppid, group)) != NULL)
			snprintf(f.orig_cgroup, sizeof(f.orig_cgroup), "%s",
			    parent->orig_cgroup);
		snprintf(f.group, sizeof(f.group), "%s", group);
		snprintf(f.method, sizeof(f.method), "%s", fz->method);
		f.described = true;
		if ((r = fz_set_push(set, &f)) < 0)
			break;
		k++;
	}
	free(pids);
	return r < 0 ? r : k;
}

int
kk_frozen_adopt_strays(const struct kk_freezer *fz, struct kk_frozen_set *set,
    const char *group)
{
	char gdir[PATH_MAX];
	int r;

	if (fz->method[0] == '\0' || group == NULL || !fz_group_ok(group) ||
	    snprintf(gdir, sizeof(gdir), "%s/%s", fz->base, group) >=
	    (int)sizeof(gdir))
		return 0;
	r = adopt_group(fz, gdir, group, set);
	return r == -ENOENT ? 0 : r;
}
