/*
 * Strays: processes frozen in one of kakuri's freeze groups that the
 * saved set does not know.  A kakurid that ends while a freeze takes its
 * targets (the passes over /proc, before the set is saved) leaves those
 * moved so far there: frozen, and out of reach of status, snapshot and
 * thaw.  At start they are taken into the set (kk_frozen_adopt_strays):
 * counted, snapshot-able, and thawable: each back to the group the
 * journal's moves file says it came from (journal.c), one born in the
 * freeze group to its parent's.  A thaw keeps frozen one whose original
 * cgroup is not known that way rather than guess one.  Only
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

/*
 * The entry of the process pid (started at start, 0: any) in group, or
 * NULL.  An entry frozen in place before its start time was read
 * matches by pid.
 */
static const struct kk_frozen *
entry_of(const struct kk_frozen_set *set, pid_t pid, unsigned long long start,
    const char *group)
{
	const struct kk_frozen *f;
	size_t i;

	for (i = 0; i < set->n; i++) {
		f = &set->v[i];
		if (f->pid == pid && strcmp(f->group, group) == 0 &&
		    (start == 0 || f->start_later || f->start_time == start))
			return f;
	}
	return NULL;
}

/*
 * pid is a process in the group (cgroup path want) now, read as ps: its
 * stat, then its cgroup, then its stat again with the same start time.
 * A pid freed and reused between the listing and the look is another
 * process, outside the group: never taken for a stray.
 */
static bool
member_now(const struct kk_freezer *fz, pid_t pid, const char *want,
    struct pstat *ps)
{
	struct pstat again;
	char cg[PATH_MAX];

	return fz_read_pstat(pid, ps) == 0 && !fz_gone_state(ps->state) &&
	    fz_read_cgroup(pid, strcmp(fz->method, "cgroup2") == 0, cg,
	    sizeof(cg)) == 0 && strcmp(cg, want) == 0 &&
	    fz_read_pstat(pid, &again) == 0 && again.start == ps->start;
}

/*
 * The strays adopted from set->v[first] on that no moves line names
 * (lined[i - first] false: born in the freeze group, forked by a known
 * process before the group held): their parent's original cgroup, if the
 * set knows it.  Again while that gives more (a child may be listed
 * before its parent), FZ_CHAIN_MAX rounds at most.  One that has a line
 * was moved by a freeze: its group is the line's, or not known.
 */
static void
orig_of_parents(struct kk_frozen_set *set, size_t first, const bool *lined,
    const char *group)
{
	const struct kk_frozen *parent;
	struct kk_frozen *f;
	struct pstat ps, pps;
	size_t i;
	int round;
	bool more = true;

	for (round = 0; more && round < FZ_CHAIN_MAX; round++) {
		more = false;
		for (i = first; i < set->n; i++) {
			f = &set->v[i];
			if (lined[i - first] || f->orig_cgroup[0] != '\0' ||
			    fz_read_pstat(f->pid, &ps) < 0 ||
			    ps.start != f->start_time ||
			    fz_read_pstat(ps.ppid, &pps) < 0 ||
			    (parent = entry_of(set, ps.ppid, pps.start,
			    group)) == NULL || parent->orig_cgroup[0] == '\0')
				continue;
			snprintf(f->orig_cgroup, sizeof(f->orig_cgroup), "%s",
			    parent->orig_cgroup);
			more = true;
		}
	}
}

static int
adopt_group(const struct kk_freezer *fz, const struct kk_freeze_guard *g,
    const struct fz_moves *mv, const char *gdir, const char *want,
    const char *group, struct kk_frozen_set *set, size_t *protected)
{
	struct kk_frozen f;
	struct pstat ps;
	char why[PATH_MAX + 64];
	pid_t *pids = NULL;
	size_t n, i, n0 = set->n;
	bool descend, *lined;
	int r = 0, k = 0;

	if ((r = fz_group_pids(gdir, &pids, &n)) < 0)
		return r;
	if ((lined = calloc(n + 1, sizeof(*lined))) == NULL) {
		free(pids);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		if (!member_now(fz, pids[i], want, &ps) ||
		    entry_of(set, ps.pid, ps.start, group) != NULL)
			continue;
		if (fz_protected_why(g, &ps, why, sizeof(why), &descend) !=
		    NULL) {
			(*protected)++;
			continue;
		}
		memset(&f, 0, sizeof(f));
		f.pid = ps.pid;
		f.start_time = ps.start;
		if (fz_read_status(ps.pid, &f.uid, NULL) < 0)
			continue;
		kk_exe_name(ps.pid, f.exe, sizeof(f.exe));
		lined[k] = fz_moves_orig(fz, mv, ps.pid, ps.start,
		    f.orig_cgroup) != -ENOENT;
		snprintf(f.group, sizeof(f.group), "%s", group);
		snprintf(f.method, sizeof(f.method), "%s", fz->method);
		f.described = true;
		if ((r = fz_set_push(set, &f)) < 0) {
			set->n = n0;	/* all or nothing */
			break;
		}
		k++;
	}
	free(pids);
	if (r >= 0)
		orig_of_parents(set, n0, lined, group);
	free(lined);
	return r < 0 ? r : k;
}

int
kk_frozen_adopt_strays(const struct kk_freezer *fz,
    const struct kk_freeze_guard *g, struct kk_frozen_set *set,
    const char *group, size_t *protected, char *err, size_t errlen)
{
	char gdir[PATH_MAX], brel[PATH_MAX], want[PATH_MAX];
	struct fz_moves mv;
	int r;

	*protected = 0;
	if (errlen > 0)
		err[0] = '\0';
	if (fz->method[0] == '\0' || group == NULL || !fz_group_ok(group) ||
	    fz_base_rel(fz, brel, sizeof(brel)) < 0 ||
	    snprintf(want, sizeof(want), "%s/%s", brel, group) >=
	    (int)sizeof(want) ||
	    snprintf(gdir, sizeof(gdir), "%s/%s", fz->base, group) >=
	    (int)sizeof(gdir))
		return 0;
	/*
	 * Unread (too big, no memory): their groups are not known, and the
	 * file is kept aside for whoever looks, not emptied.
	 */
	if ((r = fz_moves_read(fz, &mv)) < 0) {
		fz_err(err, errlen, r, "the moves file: %s (kept as "
		    "%s.moves.unread)", strerror(-r), fz->journal);
		fz_moves_aside(fz);
		memset(&mv, 0, sizeof(mv));
	}
	r = adopt_group(fz, g, &mv, gdir, want, group, set, protected);
	fz_moves_free(&mv);
	return r == -ENOENT ? 0 : r;
}
