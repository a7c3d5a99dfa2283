/*
 * Thawing: every process back to the cgroup it came from, and never
 * higher up (a group that has gone is made again inside its slice).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "freezer.h"
#include "wire.h"

/*
 * The top of orig's slice: the deepest ".slice" group above orig (a
 * systemd unit's slice holds its limits), else orig's parent.  Thaw never
 * puts a process above it.
 */
static void
slice_top(const char *orig, char *out, size_t len)
{
	const char *p, *end = NULL;
	size_t k;

	for (p = orig; *p == '/'; p += k) {
		p++;
		k = strcspn(p, "/");
		if (p[k] == '/' && k > 6 &&
		    strncmp(p + k - 6, ".slice", 6) == 0)
			end = p + k;
	}
	if (end == NULL)
		end = strrchr(orig, '/');
	if (end == NULL || end == orig)
		snprintf(out, len, "/");
	else
		snprintf(out, len, "%.*s", (int)(end - orig), orig);
}

/*
 * mkdir of every missing group from the existing ancestor exist down to
 * cg, and pid moved into cg.
 */
static int
remake_move(const char *root, const char *exist, const char *cg, pid_t pid)
{
	char path[PATH_MAX];
	const char *p;
	size_t k;

	for (p = cg + (strcmp(exist, "/") == 0 ? 0 : strlen(exist));
	    *p == '/'; p += k) {
		k = strcspn(p + 1, "/") + 1;
		if (snprintf(path, sizeof(path), "%s%.*s",
		    strcmp(root, "/") == 0 ? "" : root, (int)(p + k - cg),
		    cg) >= (int)sizeof(path))
			return -ENAMETOOLONG;
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return -errno;
	}
	return fz_move_to(root, cg, pid);
}

/*
 * Back to where it came from, and never higher up.  A group systemd
 * removed meanwhile (an empty scope) is made again below its nearest
 * existing ancestor, as long as that is inside orig's slice (so the
 * slice's limits still hold); a group that no longer takes processes
 * (v2: controllers enabled below it) gets a leaf of ours inside it.
 * Otherwise -ENOENT / the move's error, with why: the process stays
 * frozen.
 */
int
fz_move_back(const char *root, const char *brel, const char *orig, pid_t pid,
    char *why, size_t whylen)
{
	char top[PATH_MAX], cur[PATH_MAX], leaf[PATH_MAX], dir[PATH_MAX];
	struct stat st;
	char *slash;
	int i, r;

	if (fz_cg_within(brel, orig) || !fz_cgpath_ok(orig)) {
		snprintf(why, whylen, "no original cgroup is known");
		return -EINVAL;
	}
	r = fz_move_to(root, orig, pid);
	if (r == 0 || r == -ESRCH)
		return r;
	if (r == -EBUSY || r == -EOPNOTSUPP || r == -ENOTSUP) {
		/* it exists and refuses: a leaf of its own inside it */
		if (fz_join(leaf, sizeof(leaf), strcmp(orig, "/") == 0 ? "" :
		    orig, "/" FZ_THAWED_LEAF) < 0 ||
		    (r = remake_move(root, orig, leaf, pid)) < 0) {
			snprintf(why, whylen, "%s takes no processes and no "
			    "leaf could be made in it: %s", orig,
			    strerror(-r));
			return r;
		}
		return 0;
	}
	if (r != -ENOENT) {
		snprintf(why, whylen, "moving into %s: %s", orig,
		    strerror(-r));
		return r;
	}
	/* gone: the nearest ancestor that exists, not above the slice */
	slice_top(orig, top, sizeof(top));
	snprintf(cur, sizeof(cur), "%s", orig);
	for (i = 0; i < FZ_UP_MAX; i++) {
		if ((slash = strrchr(cur, '/')) == NULL)
			break;
		if (slash == cur)
			cur[1] = '\0';
		else
			*slash = '\0';
		if (!fz_cg_within(top, cur))
			break;		/* climbed out of the slice */
		if (fz_cg_dir_root(root, cur, dir, sizeof(dir)) == 0 &&
		    stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) {
			if ((r = remake_move(root, cur, orig, pid)) < 0) {
				snprintf(why, whylen, "%s is gone and could "
				    "not be made again: %s", orig,
				    strerror(-r));
				return r;
			}
			return 0;
		}
	}
	snprintf(why, whylen, "%s is gone, and so is its slice %s", orig, top);
	return -ENOENT;
}

/*
 * fz_move_back of a pinned process: back to ORIG, its group before it
 * was frozen (thaw.c), and the pin closed.  A stranger that got the pid
 * of a process reaped meanwhile is put back into its parent's group, or
 * left where the write put it, but never into the root group.
 * 0: moved; -ESRCH: the process has exited; else fz_move_back's error.
 */
int
fz_move_back_pinned(const char *root, bool v2, const char *brel,
    const char *orig, pid_t pid, int pidfd, char *why, size_t whylen)
{
	return fz_unpin_after_move(fz_move_back(root, brel, orig, pid, why,
	    whylen), pidfd, root, v2, orig, NULL, pid);
}

#define T_ALIVE		0x01	/* same pid, same start time, not a zombie */
#define T_MATCH		0x02	/* named by the selector */
#define T_DONE		0x04	/* moved back */
#define T_SEEN		0x08	/* its cgroup frozen in place looked at */

/* A freeze group some entries of the set share. */
struct tgroup {
	char group[sizeof(((struct kk_frozen *)0)->group)];
	char method[sizeof(((struct kk_frozen *)0)->method)];
	char root[PATH_MAX];
	char brel[PATH_MAX];
	char grel[PATH_MAX];	/* brel/GROUP, as /proc/PID/cgroup says */
	char gdir[PATH_MAX];
	int err;		/* hierarchy not found */
	bool touched;
};

struct tgroups {
	struct tgroup *v;
	size_t n;
	size_t cap;
};

/*
 * The hierarchy of an entry: the probed one, or, for an entry frozen with
 * the other method (before a reboot or a change of KAKURI_FREEZER), the
 * mount found again.
 */
static struct tgroup *
tgroup_get(struct tgroups *gs, const struct kk_freezer *fz,
    const struct kk_frozen *e)
{
	struct tgroup *g;
	char base[PATH_MAX];
	size_t i;
	int r;

	for (i = 0; i < gs->n; i++)
		if (strcmp(gs->v[i].group, e->group) == 0 &&
		    strcmp(gs->v[i].method, e->method) == 0)
			return &gs->v[i];
	if (kk_grow(&gs->v, &gs->cap, gs->n, sizeof(*gs->v), 4,
	    FZ_SET_MAX) < 0)
		return NULL;
	g = &gs->v[gs->n++];
	memset(g, 0, sizeof(*g));
	snprintf(g->group, sizeof(g->group), "%s", e->group);
	snprintf(g->method, sizeof(g->method), "%s", e->method);
	if (strcmp(e->method, fz->method) == 0) {
		snprintf(g->root, sizeof(g->root), "%s", fz->root);
		snprintf(base, sizeof(base), "%s", fz->base);
		r = fz_base_rel(fz, g->brel, sizeof(g->brel));
	} else {
		r = fz_find_mount(strcmp(e->method, "freezer-v1") == 0, g->root,
		    sizeof(g->root));
		if (r == 0 &&
		    (r = fz_base_of(g->root, base, sizeof(base))) == 0)
			snprintf(g->brel, sizeof(g->brel), "/kakuri");
	}
	if (r == 0 && (!fz_group_ok(e->group) ||
	    fz_join3(g->gdir, sizeof(g->gdir), base, "/", e->group) < 0 ||
	    fz_join3(g->grel, sizeof(g->grel), g->brel, "/", e->group) < 0))
		r = -EINVAL;
	g->err = r;
	return g;
}

static bool
thaw_match(const struct kk_selector *sel, const struct kk_frozen *e,
    unsigned char st)
{
	struct kk_exe_info info;
	char exe[PATH_MAX];
	uid_t uid;

	switch (sel->kind) {
	case KK_SEL_ALL:
		return true;
	case KK_SEL_PID:
		return e->pid == sel->pid;
	case KK_SEL_UID:
		/* not described yet: what it is now, frozen since */
		if (!e->described)
			return (st & T_ALIVE) &&
			    fz_read_status(e->pid, &uid, NULL) == 0 &&
			    uid == sel->uid;
		return e->uid == sel->uid;
	case KK_SEL_EXE:
		if (!e->described) {
			kk_exe_name(e->pid, exe, sizeof(exe));
			return (st & T_ALIVE) && fz_exe_is(exe, sel->exe);
		}
		return fz_exe_is(e->exe, sel->exe);
	case KK_SEL_FILES:
		/* what it executes now: the recorded path may name another file */
		return (st & T_ALIVE) && kk_exe_stat(e->pid, &info) == 0 &&
		    fz_file_listed(sel, &info.id);
	default:
		return false;
	}
}

/* e stays frozen, and says why: in *kept, and as the call's error. */
static void
stays(const struct kk_frozen *e, const char *why, json_t **kept, int *r,
    char *err, size_t errlen)
{
	if (kept != NULL && *kept != NULL)
		json_array_append_new(*kept, json_pack("{s:i, s:o, s:o, s:s}",
		    KW_PID, (int)e->pid, KW_EXE, kk_json_str(e->exe), KW_CGROUP,
		    kk_json_str(e->orig_cgroup), KW_WHY, why));
	if (*r == 0 || *r == -ESRCH)
		*r = fz_err(err, errlen, -EAGAIN, "pid %d stays frozen: %s",
		    (int)e->pid, why);
}

/* Does a cgroup frozen in place still hold one of ours that stays? */
static bool
held_in_place(const struct kk_frozen_set *set, const unsigned char *st,
    const char *cg)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		if (set->v[i].in_place && (st[i] & T_ALIVE) &&
		    !(st[i] & T_DONE) &&
		    strcmp(set->v[i].orig_cgroup, cg) == 0)
			return true;
	return false;
}

/* Entry i frozen in place in the same cgroup, and episode, as entry k. */
static bool
same_place(const struct kk_frozen_set *set, size_t i, size_t k)
{
	return set->v[i].in_place &&
	    strcmp(set->v[i].orig_cgroup, set->v[k].orig_cgroup) == 0 &&
	    strcmp(set->v[i].group, set->v[k].group) == 0;
}

/* The quarantine group of g, made again (frozen) if it is gone. */
static int
group_ready(const struct tgroup *g)
{
	char base[PATH_MAX], *slash;

	snprintf(base, sizeof(base), "%s", g->gdir);
	if ((slash = strrchr(base, '/')) != NULL)
		*slash = '\0';
	if ((mkdir(base, 0755) < 0 && errno != EEXIST) ||
	    (mkdir(g->gdir, 0755) < 0 && errno != EEXIST))
		return -errno;
	return fz_group_freeze(g->gdir, true, true);
}

/*
 * The cgroup of set->v[first], frozen in place: thawed where it is, once
 * none of the set's processes in it is to stay frozen.  Those that are
 * (alive, not named by this thaw) are moved into the quarantine group
 * first, frozen as they were (from one frozen group into another), and
 * are thawed from there later like any other.  Its entries are marked
 * T_SEEN; those thawed T_DONE.
 */
static void
thaw_in_place(struct tgroup *g, struct kk_frozen_set *set, unsigned char *st,
    size_t first, json_t **kept, int *r, char *err, size_t errlen)
{
	char cg[PATH_MAX], dir[PATH_MAX], cur[PATH_MAX], path[PATH_MAX + 16];
	char why[PATH_MAX + 128] = "";
	size_t i, nthaw = 0, nkeep = 0;
	struct stat sb;
	bool *mine;
	int e, procs = -1, pidfd;

	/* the entries moved out below are in place no more: mark first */
	if ((mine = calloc(set->n, sizeof(*mine))) == NULL) {
		stays(&set->v[first], "out of memory", kept, r, err, errlen);
		st[first] |= T_SEEN;
		return;
	}
	snprintf(cg, sizeof(cg), "%s", set->v[first].orig_cgroup);
	for (i = first; i < set->n; i++) {
		if (!same_place(set, i, first))
			continue;
		mine[i] = true;
		st[i] |= T_SEEN;
		if (!(st[i] & T_ALIVE))
			continue;
		if (st[i] & T_MATCH)
			nthaw++;
		else
			nkeep++;
	}
	if (nthaw == 0 && nkeep > 0)
		goto out;	/* none of it named: it stays as it is */
	if (g->err < 0)
		snprintf(why, sizeof(why), "no %s hierarchy to thaw %s in",
		    g->method, cg);
	else if (nkeep > 0 && (e = group_ready(g)) < 0)
		snprintf(why, sizeof(why), "%s: %s", g->gdir, strerror(-e));
	/* what stays frozen goes into the freeze group, each pinned */
	if (why[0] == '\0' && nkeep > 0 &&
	    ((e = fz_join(path, sizeof(path), g->gdir, "/cgroup.procs")) < 0 ||
	    (procs = open(path, O_WRONLY | O_CLOEXEC)) < 0))
		snprintf(why, sizeof(why), "%s/cgroup.procs: %s", g->gdir,
		    strerror(e < 0 ? -e : errno));
	for (i = first; why[0] == '\0' && nkeep > 0 && i < set->n; i++) {
		if (!mine[i] || !(st[i] & T_ALIVE) || (st[i] & T_MATCH))
			continue;
		e = fz_pin(set->v[i].pid, set->v[i].start_time, &pidfd);
		if (e == 0)
			e = fz_move_pinned(procs, g->root, true, g->grel, cg,
			    set->v[i].pid, pidfd);
		if (e < 0 && e != -ESRCH)
			snprintf(why, sizeof(why), "%s is frozen in place "
			    "and pid %d, which stays frozen, could not be "
			    "moved out of it: %s", cg, (int)set->v[i].pid,
			    strerror(-e));
		else
			set->v[i].in_place = false;
		g->touched = true;
	}
	if (why[0] == '\0' && (fz_cg_within(g->brel, cg) ||
	    fz_cg_dir_root(g->root, cg, dir, sizeof(dir)) < 0))
		snprintf(why, sizeof(why), "%s is not a cgroup to thaw", cg);
	/*
	 * Only the cgroup that was frozen: one made again under its name
	 * (the unit restarted, then frozen by an admin or systemd) is not
	 * ours to thaw, least of all once none of ours is left in it.
	 */
	if (why[0] == '\0' && set->v[first].cg_id != 0 &&
	    stat(dir, &sb) == 0 && (uint64_t)sb.st_ino != set->v[first].cg_id)
		snprintf(why, sizeof(why), "%s is not the cgroup that was "
		    "frozen (made again since): left as it is", cg);
	if (why[0] == '\0' && (e = fz_group_freeze(dir, true, false)) < 0 &&
	    e != -ENOENT)
		snprintf(why, sizeof(why), "thawing %s: %s", cg, strerror(-e));
	for (i = first; i < set->n; i++) {
		if (!mine[i] || !(st[i] & T_ALIVE) || !(st[i] & T_MATCH))
			continue;
		/* moved elsewhere by someone else meanwhile: not ours */
		if (why[0] == '\0' || (fz_read_cgroup(set->v[i].pid, true, cur,
		    sizeof(cur)) == 0 && strcmp(cur, cg) != 0))
			st[i] |= T_DONE;
		else
			stays(&set->v[i], why, kept, r, err, errlen);
	}
out:
	kk_close(procs);
	free(mine);
}

int
kk_thaw(const struct kk_freezer *fz, const struct kk_selector *sel,
    struct kk_frozen_set *set, struct kk_frozen_set *thawed, size_t *gone,
    json_t **kept, char *err, size_t errlen)
{
	struct tgroups gs = { 0 };
	struct pstat *ps = NULL;
	unsigned char *st = NULL;
	struct tgroup *g;
	char cur[PATH_MAX], why[2 * PATH_MAX + 128];
	size_t i, j, k, n = set->n, ngone = 0, nmatch = 0;
	bool changed;
	int r = 0, e, pidfd;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (sel->kind == KK_SEL_PID && sel->pid <= 0) {
		r = fz_err(err, errlen, -EINVAL, "bad pid %d", (int)sel->pid);
		goto out;
	}
	if (sel->kind == KK_SEL_SHA256) {
		r = fz_err(err, errlen, -EINVAL, "sha256 selector: resolve "
		    "it to files first");
		goto out;
	}
	if (kept != NULL && *kept == NULL && (*kept = json_array()) == NULL) {
		r = fz_err(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	if (n == 0) {
		r = sel->kind == KK_SEL_ALL ? 0 : fz_err(err, errlen, -ESRCH,
		    "nothing is frozen");
		goto out;
	}
	ps = calloc(n, sizeof(*ps));
	st = calloc(n, 1);
	if (ps == NULL || st == NULL) {
		r = fz_err(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	/*
	 * A pid now used by another process is not ours to move.  Frozen in
	 * place and its start time not read yet: read now (or it is gone).
	 */
	for (i = 0; i < n; i++)
		if (fz_frozen_start(&set->v[i]) == 0 &&
		    fz_read_pstat(set->v[i].pid, &ps[i]) == 0 &&
		    ps[i].start == set->v[i].start_time &&
		    !fz_gone_state(ps[i].state))
			st[i] |= T_ALIVE;
	for (i = 0; i < n; i++)
		if (thaw_match(sel, &set->v[i], st[i]))
			st[i] |= T_MATCH;
	/* descendants: recorded entries whose parent is matched, repeatedly */
	if (sel->kind == KK_SEL_PID && sel->tree) {
		for (k = 0, changed = true; changed && k < n; k++) {
			changed = false;
			for (i = 0; i < n; i++) {
				if ((st[i] & T_MATCH) || !(st[i] & T_ALIVE))
					continue;
				if (ps[i].ppid == sel->pid)
					j = 0;
				else
					for (j = 0; j < n; j++)
						if ((st[j] & T_MATCH) &&
						    (st[j] & T_ALIVE) &&
						    set->v[j].pid == ps[i].ppid)
							break;
				if (ps[i].ppid == sel->pid || j < n) {
					st[i] |= T_MATCH;
					changed = true;
				}
			}
		}
	}
	for (i = 0; i < n; i++) {
		if (st[i] & T_MATCH)
			nmatch++;
		if (tgroup_get(&gs, fz, &set->v[i]) == NULL) {
			r = fz_err(err, errlen, -ENOMEM, "out of memory");
			goto out;
		}
	}
	if (nmatch == 0) {
		r = fz_err(err, errlen, -ESRCH, "no frozen process matches");
		/* the dead are still dropped below */
	}

	/* the cgroups frozen in place, each once */
	for (i = 0; i < n; i++)
		if (set->v[i].in_place && !(st[i] & T_SEEN) &&
		    (g = tgroup_get(&gs, fz, &set->v[i])) != NULL)
			thaw_in_place(g, set, st, i, kept, &r, err, errlen);

	/*
	 * Leaving the frozen group thaws a task, with either method (v1:
	 * the freezer's attach thaws a task arriving in a group that is not
	 * freezing).  The group itself stays frozen until it is empty: were
	 * it thawed first, its members would run, and fork into it, before
	 * they are moved out.
	 */
	for (i = 0; i < n; i++) {
		if (!(st[i] & T_MATCH) || !(st[i] & T_ALIVE) ||
		    set->v[i].in_place)
			continue;
		g = tgroup_get(&gs, fz, &set->v[i]);
		if (g->err < 0) {
			if (r == 0 || r == -ESRCH)
				r = fz_err(err, errlen, g->err,
				    "pid %d: no %s hierarchy to thaw it in",
				    (int)set->v[i].pid, set->v[i].method);
			continue;
		}
		/*
		 * Moved out of the group by someone else meanwhile: not
		 * frozen by us any more, and not ours to move.
		 */
		if (fz_read_cgroup_ps(&ps[i],
		    strcmp(g->method, "cgroup2") == 0, cur, sizeof(cur)) == 0 &&
		    strcmp(cur, g->grel) != 0) {
			st[i] |= T_DONE;
			continue;
		}
		/* back into a cgroup that stays frozen: not thawed at all */
		if (held_in_place(set, st, set->v[i].orig_cgroup)) {
			snprintf(why, sizeof(why), "%s stays frozen in place",
			    set->v[i].orig_cgroup);
			stays(&set->v[i], why, kept, &r, err, errlen);
			continue;
		}
		/* by its pid number: pinned, so that no stranger moves */
		e = fz_pin(set->v[i].pid, set->v[i].start_time, &pidfd);
		if (e == 0)
			e = fz_move_back_pinned(g->root,
			    strcmp(g->method, "cgroup2") == 0, g->brel,
			    set->v[i].orig_cgroup, set->v[i].pid, pidfd, why,
			    sizeof(why));
		if (e == -ESRCH) {
			st[i] &= (unsigned char)~T_ALIVE;	/* just exited */
			continue;
		}
		if (e < 0) {
			stays(&set->v[i], why, kept, &r, err, errlen);
			continue;
		}
		st[i] |= T_DONE;
		g->touched = true;
	}

	/* what stays frozen stays in the set, in its order */
	for (i = 0, j = 0; i < n; i++) {
		if (st[i] & T_DONE) {
			if (thawed != NULL &&
			    fz_set_push(thawed, &set->v[i]) < 0 &&
			    (r == 0 || r == -ESRCH))
				r = fz_err(err, errlen, -ENOMEM,
				    "out of memory (thawed list)");
			continue;
		}
		if (!(st[i] & T_ALIVE)) {
			ngone++;
			if ((g = tgroup_get(&gs, fz, &set->v[i])) != NULL)
				g->touched = true;
			continue;
		}
		if (j != i)
			set->v[j] = set->v[i];
		j++;
	}
	set->n = j;

	for (i = 0; i < gs.n; i++)
		if (gs.v[i].touched && gs.v[i].err == 0)
			fz_group_remove(gs.v[i].gdir,
			    strcmp(gs.v[i].method, "cgroup2") == 0);
out:
	if (gone != NULL)
		*gone = ngone;
	free(gs.v);
	free(ps);
	free(st);
	return r;
}
