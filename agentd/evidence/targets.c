/*
 * Who is a target: a selector matched against a process, the processes
 * a call has recorded (sorted keys for lookups), what the last scan of
 * /proc saw, and what is listed as skipped.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "freezer.h"
#include "wire.h"

void
fz_skip_add(struct fzcall *c, pid_t pid, const char *exe, const char *why)
{
	json_t *o;
	size_t i;

	if (c->skipped == NULL || json_array_size(c->skipped) >= FZ_SKIP_MAX)
		return;
	/* every pass sees it again */
	for (i = 0; i < json_array_size(c->skipped); i++) {
		o = json_array_get(c->skipped, i);
		if (json_integer_value(json_object_get(o, KW_PID)) == pid)
			return;
	}
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
