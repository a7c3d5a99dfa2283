/*
 * The frozen set: the processes kakuri froze and what thaw needs to put
 * them back, and its persistence as frozen.json.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "freezer.h"
#include "kakuri.h"
#include "sha256.h"
#include "wire.h"

int
fz_set_push(struct kk_frozen_set *s, const struct kk_frozen *f)
{
	int r;

	if ((r = kk_grow(&s->v, &s->cap, s->n, sizeof(*s->v), 16,
	    FZ_SET_MAX)) < 0)
		return r;
	s->v[s->n++] = *f;
	return 0;
}

/*
 * The members of one cgroup frozen in place, read once for all its
 * entries: a pid found there is still the process frozen there.
 */
struct members {
	char root[PATH_MAX];		/* cgroup2's mount, "" if unknown */
	char cg[PATH_MAX];		/* whose members pids holds */
	pid_t *pids;			/* sorted */
	size_t n;
};

/* Is pid in the cgroup cg (frozen, so it stays)?  m caches; NULL: ask. */
static bool
still_in(struct members *m, const char *cg, pid_t pid)
{
	char dir[PATH_MAX], now[PATH_MAX];

	if (m == NULL || m->root[0] == '\0')
		return fz_read_cgroup(pid, true, now, sizeof(now)) == 0 &&
		    strcmp(now, cg) == 0;
	if (strcmp(m->cg, cg) != 0) {
		free(m->pids);
		m->pids = NULL;
		m->n = 0;
		snprintf(m->cg, sizeof(m->cg), "%s", cg);
		if (fz_cg_dir_root(m->root, cg, dir, sizeof(dir)) == 0 &&
		    fz_group_pids(dir, &m->pids, &m->n) == 0)
			qsort(m->pids, m->n, sizeof(*m->pids), fz_cmp_pid);
	}
	return m->n > 0 && bsearch(&pid, m->pids, m->n, sizeof(pid),
	    fz_cmp_pid) != NULL;
}

/*
 * An entry frozen in place whose start time was left for later: read
 * now, while the pid is still in that cgroup (frozen there, and only root
 * can move anything into it: still the same process).  0, or -ESRCH: it
 * is gone, or was moved out (by root) and is frozen no more.
 */
static int
frozen_start(struct kk_frozen *f, struct members *m)
{
	struct pstat ps;

	if (!f->start_later)
		return 0;
	if (fz_read_pstat(f->pid, &ps) < 0 || fz_gone_state(ps.state) ||
	    !still_in(m, f->orig_cgroup, f->pid))
		return -ESRCH;
	f->start_time = ps.start;
	f->start_later = false;
	return 0;
}

int
fz_frozen_start(struct kk_frozen *f)
{
	return frozen_start(f, NULL);
}

void
kk_frozen_describe(struct kk_frozen_set *set, size_t first)
{
	struct members m = { "", "", NULL, 0 };
	struct kk_frozen *f;
	struct pstat ps;
	size_t i, j;

	if (fz_find_mount_opt(NULL, m.root, sizeof(m.root)) < 0)
		m.root[0] = '\0';
	for (i = first, j = first; i < set->n; i++) {
		f = &set->v[i];
		if (!f->described) {
			/* gone (its pid maybe reused): frozen no more */
			if (f->start_later) {
				if (frozen_start(f, &m) < 0)
					continue;
			} else if (fz_read_pstat(f->pid, &ps) < 0 ||
			    ps.start != f->start_time ||
			    fz_gone_state(ps.state))
				continue;
			if (fz_read_status(f->pid, &f->uid, NULL) < 0)
				continue;
			kk_exe_name(f->pid, f->exe, sizeof(f->exe));
			f->described = true;
		}
		if (j != i)
			set->v[j] = *f;
		j++;
	}
	set->n = j;
	free(m.pids);
}

/*
 * The pages of a fresh allocation, faulted in by one call instead of a
 * fault each on first write: a thousand entries are 8 MiB, and their
 * faults one by one took longer than the freeze they record.  Where the
 * kernel cannot (before Linux 5.14), they fault as before.
 */
static void
prefault(void *p, size_t len)
{
#ifdef MADV_POPULATE_WRITE
	uintptr_t a = (uintptr_t)p, pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = (a + pg - 1) & ~(pg - 1), end = (a + len) & ~(pg - 1);

	if (len >= (1U << 20) && end > start)
		madvise((void *)start, end - start, MADV_POPULATE_WRITE);
#else
	(void)p;
	(void)len;
#endif
}

/* Room for more entries after the n there are, in one allocation. */
int
fz_set_reserve(struct kk_frozen_set *s, size_t more)
{
	struct kk_frozen *v;

	if (more > FZ_SET_MAX || s->n > FZ_SET_MAX - more)
		return -E2BIG;
	if (s->n + more <= s->cap)
		return 0;
	if ((v = realloc(s->v, (s->n + more) * sizeof(*v))) == NULL)
		return -ENOMEM;
	s->v = v;
	s->cap = s->n + more;
	prefault(v + s->n, more * sizeof(*v));
	return 0;
}

void
kk_frozen_set_free(struct kk_frozen_set *set)
{
	free(set->v);
	set->v = NULL;
	set->n = 0;
	set->cap = 0;
}

json_t *
kk_frozen_to_json(const struct kk_frozen_set *set)
{
	json_t *arr, *o;
	size_t i;

	if ((arr = json_array()) == NULL)
		return NULL;
	for (i = 0; i < set->n; i++) {
		const struct kk_frozen *f = &set->v[i];

		o = json_pack("{s:i, s:I, s:I, s:o, s:o, s:s, s:s}",
		    KW_PID, (int)f->pid,
		    KW_START_TIME, (json_int_t)f->start_time,
		    KW_UID, (json_int_t)f->uid,
		    KW_EXE, kk_json_str(f->exe),
		    KW_CGROUP, kk_json_str(f->orig_cgroup),
		    KW_GROUP, f->group,
		    KW_METHOD, f->method);
		/* the episode froze that cgroup in place: thaw it there */
		if (o != NULL && f->in_place &&
		    (json_object_set_new(o, KW_IN_PLACE, json_true()) < 0 ||
		    (f->cg_id != 0 && json_object_set_new(o, KW_CGROUP_ID,
		    json_integer((json_int_t)f->cg_id)) < 0))) {
			json_decref(o);
			o = NULL;
		}
		/*
		 * Saved before its uid and exe were read (as soon as the
		 * targets are taken): a thaw by uid or exe reads them then,
		 * not uid 0 and no exe.
		 */
		if (o != NULL && !f->described &&
		    json_object_set_new(o, KW_DESCRIBED, json_false()) < 0) {
			json_decref(o);
			o = NULL;
		}
		if (o == NULL || json_array_append_new(arr, o) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static int
get_str(json_t *o, const char *key, char *dst, size_t len)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v) || json_string_length(v) >= len ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return -EBADMSG;
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int
get_int(json_t *o, const char *key, json_int_t min, json_int_t max,
    json_int_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max)
		return -EBADMSG;
	*out = json_integer_value(v);
	return 0;
}

int
kk_frozen_from_json(json_t *arr, struct kk_frozen_set *set)
{
	struct kk_frozen f;
	json_int_t v;
	json_t *o;
	size_t i, n0 = set->n;
	bool undescribed;
	int r;

	if (!json_is_array(arr) || json_array_size(arr) > FZ_SET_MAX)
		return -EBADMSG;
	json_array_foreach(arr, i, o) {
		memset(&f, 0, sizeof(f));
		undescribed = json_object_get(o, KW_DESCRIBED) != NULL;
		if (undescribed && !json_is_false(json_object_get(o,
		    KW_DESCRIBED))) {
			r = -EBADMSG;
			goto fail;
		}
		/*
		 * exactly these seven members, each of its type, and
		 * "in_place": true for a process frozen where it was, with
		 * its cgroup's id (not in an older kakurid's file), and
		 * "described": false for one whose uid and exe were not
		 * read yet
		 */
		f.in_place = json_is_true(json_object_get(o, KW_IN_PLACE));
		if (f.in_place && json_object_get(o, KW_CGROUP_ID) != NULL) {
			if ((r = get_int(o, KW_CGROUP_ID, 1, INT64_MAX,
			    &v)) < 0)
				goto fail;
			f.cg_id = (uint64_t)v;
		}
		if (!json_is_object(o) || json_object_size(o) !=
		    (size_t)(7 + f.in_place + (f.cg_id != 0) + undescribed)) {
			r = -EBADMSG;
			goto fail;
		}
		if ((r = get_int(o, "pid", 1, INT_MAX, &v)) < 0)
			goto fail;
		f.pid = (pid_t)v;
		if ((r = get_int(o, "start_time", 0, INT64_MAX, &v)) < 0)
			goto fail;
		f.start_time = (unsigned long long)v;
		if ((r = get_int(o, "uid", 0, (json_int_t)UINT32_MAX - 1,
		    &v)) < 0)
			goto fail;
		f.uid = (uid_t)v;
		if ((r = get_str(o, "exe", f.exe, sizeof(f.exe))) < 0 ||
		    (r = get_str(o, "cgroup", f.orig_cgroup,
		    sizeof(f.orig_cgroup))) < 0 ||
		    (r = get_str(o, "group", f.group, sizeof(f.group))) < 0 ||
		    (r = get_str(o, "method", f.method,
		    sizeof(f.method))) < 0)
			goto fail;
		/* "": a group the kernel could not name (freeze.c take) */
		if ((f.orig_cgroup[0] != '\0' || f.in_place ?
		    !fz_cgpath_ok(f.orig_cgroup) : false) ||
		    !fz_group_ok(f.group) ||
		    !fz_is_method(f.method) ||
		    (f.in_place && strcmp(f.method, "cgroup2") != 0)) {
			r = -EBADMSG;
			goto fail;
		}
		/* saved before its start time was read: read at thaw */
		f.start_later = f.in_place && f.start_time == 0;
		f.described = !f.start_later && !undescribed;
		if ((r = fz_set_push(set, &f)) < 0)
			goto fail;
	}
	return 0;
fail:
	set->n = n0;	/* all or nothing */
	return r;
}

/*
 * Does the file at path (the one last saved: last) still hold text (len
 * bytes)?  Read back and compared: a write in place keeps its inode and
 * size, and its change time may keep its value too (coarse clocks).
 */
static bool
still_holds(const char *path, const struct kk_frozen_saved *last,
    const char *text, size_t len)
{
	struct stat st;
	char *back = NULL;
	bool same = false;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return false;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_dev == last->dev && st.st_ino == last->ino &&
	    st.st_size == (off_t)len && (back = malloc(len + 1)) != NULL &&
	    kk_read_upto(fd, back, len + 1) == (ssize_t)len)
		same = memcmp(back, text, len) == 0;
	free(back);
	close(fd);
	return same;
}

int
kk_frozen_save(const char *path, const struct kk_frozen_set *set,
    struct kk_frozen_saved *last)
{
	unsigned char digest[sizeof(last->sha256)];
	struct stat st;
	json_t *arr;
	char *text;
	size_t len;
	int r;

	if ((arr = kk_frozen_to_json(set)) == NULL)
		return -ENOMEM;
	text = kk_json_line(arr, JSON_COMPACT, &len);
	json_decref(arr);
	if (text == NULL)
		return -ENOMEM;
	/*
	 * What the file holds already is not written (and flushed) again:
	 * the text this process last saved there (and flushed), and the
	 * file still holds it.
	 */
	kk_sha256(text, len, digest);
	if (last != NULL && last->known &&
	    memcmp(digest, last->sha256, sizeof(digest)) == 0 &&
	    still_holds(path, last, text, len)) {
		free(text);
		return 0;
	}
	/*
	 * temp file, fsync, rename, fsync of the directory (state.c); what
	 * is frozen is state, which thaw needs after a restart: the reserve
	 */
	r = kk_write_file_vital(path, text, len, 0600);
	free(text);
	if (last != NULL) {
		last->known = r == 0 && stat(path, &st) == 0;
		if (last->known) {
			memcpy(last->sha256, digest, sizeof(digest));
			last->dev = st.st_dev;
			last->ino = st.st_ino;
		}
	}
	return r;
}

int
kk_frozen_load(const char *path, struct kk_frozen_set *set)
{
	struct kk_frozen_set tmp = { 0 };
	json_error_t jerr;
	json_t *arr = NULL;
	struct stat st;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > FZ_JSON_MAX) {
		r = -EBADMSG;
		goto out;
	}
	if ((arr = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		r = -EBADMSG;
		goto out;
	}
	if ((r = kk_frozen_from_json(arr, &tmp)) < 0)
		goto out;
	/* replaces what the set held */
	kk_frozen_set_free(set);
	*set = tmp;
	tmp.v = NULL;
	r = 0;
out:
	kk_frozen_set_free(&tmp);
	json_decref(arr);
	close(fd);
	return r;
}
