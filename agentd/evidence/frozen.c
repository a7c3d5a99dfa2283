/*
 * The frozen set: the processes kakuri froze and what thaw needs to put
 * them back, and its persistence as frozen.json.
 */
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
		    "pid", (int)f->pid,
		    "start_time", (json_int_t)f->start_time,
		    "uid", (json_int_t)f->uid,
		    "exe", kk_json_str(f->exe),
		    "cgroup", kk_json_str(f->orig_cgroup),
		    "group", f->group,
		    "method", f->method);
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
	int r;

	if (!json_is_array(arr) || json_array_size(arr) > FZ_SET_MAX)
		return -EBADMSG;
	json_array_foreach(arr, i, o) {
		memset(&f, 0, sizeof(f));
		/* exactly these seven members, each of its type */
		if (!json_is_object(o) || json_object_size(o) != 7) {
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
		if (!fz_cgpath_ok(f.orig_cgroup) || !fz_group_ok(f.group) ||
		    !fz_is_method(f.method)) {
			r = -EBADMSG;
			goto fail;
		}
		if ((r = fz_set_push(set, &f)) < 0)
			goto fail;
	}
	return 0;
fail:
	set->n = n0;	/* all or nothing */
	return r;
}

int
kk_frozen_save(const char *path, const struct kk_frozen_set *set)
{
	json_t *arr;
	char *text = NULL, *nl;
	size_t len;
	int r;

	if ((arr = kk_frozen_to_json(set)) == NULL)
		return -ENOMEM;
	text = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	if (text == NULL)
		return -ENOMEM;
	len = strlen(text);
	if ((nl = realloc(text, len + 2)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	text = nl;
	memcpy(text + len, "\n", 2);
	/* temp file, fsync, rename, fsync of the directory (state.c) */
	r = kk_write_file_atomic(path, text, len + 1, 0600);
out:
	free(text);
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
