/*
 * Processes that are never frozen or snapshotted: pid 1, kernel threads,
 * kakurid and its children, the caller, and the programs the policy
 * protects (that very file, running in a system service's cgroup).
 */
#include <sys/stat.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "freezer.h"

void
kk_protect_resolve(const char *const *paths, size_t n,
    struct kk_protected_exe *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].path = paths[i];
		/* a path that names nothing protects nothing */
		out[i].resolved = paths[i] != NULL &&
		    kk_path_id(paths[i], &out[i].id) == 0;
	}
}

/*
 * Is cg (a cgroup path) a system service's own: a ".service" unit
 * somewhere below slice (nested slices allowed, nothing else between),
 * and every directory from the unit's down to cg owned by root, that is
 * not delegated to a user?  The unit's name goes to unit.
 */
static bool
service_cgroup(const char *slice, const char *cg, const char *v1opt,
    char *unit, size_t unitlen)
{
	char root[PATH_MAX], dir[PATH_MAX];
	const char *p, *unit_end = NULL;
	struct stat st;
	size_t n = strlen(slice), k;

	if (n == 0 || strncmp(cg, slice, n) != 0 || cg[n] != '/' ||
	    !fz_cgpath_ok(cg))
		return false;
	for (p = cg + n; *p == '/'; p += k) {
		p++;
		k = strcspn(p, "/");
		if (k > 8 && strncmp(p + k - 8, ".service", 8) == 0) {
			unit_end = p + k;
			snprintf(unit, unitlen, "%.*s", (int)k, p);
			break;
		}
		if (!(k > 6 && strncmp(p + k - 6, ".slice", 6) == 0))
			return false;
	}
	if (unit_end == NULL ||
	    fz_find_mount_opt(v1opt, root, sizeof(root)) < 0)
		return false;
	/* the unit's directory, then each one below it down to cg */
	for (p = unit_end;; p += strcspn(p + 1, "/") + 1) {
		if (snprintf(dir, sizeof(dir), "%s%.*s",
		    strcmp(root, "/") == 0 ? "" : root, (int)(p - cg), cg) >=
		    (int)sizeof(dir))
			return false;
		if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode) ||
		    st.st_uid != 0)
			return false;
		if (*p == '\0')
			break;
	}
	return true;
}

/*
 * Why ps must not be frozen, or NULL; the policy's reason is written to
 * why.  *descend says whether its children may still be (a protected
 * program's children are not protected; kakurid's family and kernel
 * threads are left alone whole).
 */
const char *
fz_protected_why(const struct kk_freeze_guard *g, const struct pstat *ps,
    char *why, size_t whylen, bool *descend)
{
	struct kk_exe_info info;
	char cg[PATH_MAX], unit[256];
	const char *v1opt = NULL;
	size_t i;

	*descend = false;
	if (ps->pid == 1)
		return "pid 1";
	/* set on every kernel thread, kthreadd (pid 2) included */
	if (ps->flags & PF_KTHREAD)
		return "a kernel thread";
	if (g != NULL && g->self > 0 && ps->pid == g->self)
		return "kakurid itself";
	/* freezing ourselves would never return */
	if (ps->pid == getpid())
		return "the freezing process itself";
	if (g != NULL && g->self > 0 && ps->ppid == g->self)
		return "a process of kakurid";
	*descend = true;
	if (g == NULL || g->nprotect == 0 || g->service_slice == NULL ||
	    kk_exe_stat(ps->pid, &info) < 0)
		return NULL;
	for (i = 0; i < g->nprotect; i++) {
		if (!g->protect[i].resolved ||
		    g->protect[i].id.dev != info.id.dev ||
		    g->protect[i].id.ino != info.id.ino)
			continue;
		/* the systemd hierarchy: cgroup2, else v1's name=systemd */
		if (fz_read_cgroup_opt_ps(ps, NULL, cg, sizeof(cg)) < 0) {
			v1opt = "name=systemd";
			if (fz_read_cgroup_opt_ps(ps, v1opt, cg,
			    sizeof(cg)) < 0)
				return NULL;
		}
		if (!service_cgroup(g->service_slice, cg, v1opt, unit,
		    sizeof(unit)))
			return NULL;
		snprintf(why, whylen, "protected by the policy (%s, in %s)",
		    g->protect[i].path, unit);
		return why;
	}
	return NULL;
}

const char *
kk_protected(const struct kk_freeze_guard *g, pid_t pid, char *why,
    size_t whylen)
{
	struct pstat ps;
	const char *w;
	bool descend;

	if (pid <= 0 || fz_read_pstat(pid, &ps) < 0 || fz_gone_state(ps.state))
		return NULL;	/* nothing there to protect */
	w = fz_protected_why(g, &ps, why, whylen, &descend);
	if (w != NULL && w != why)
		snprintf(why, whylen, "%s", w);
	return w != NULL ? why : NULL;
}
