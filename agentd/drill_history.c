/*
 * Drill records (issue 11): state_dir/drills/, one JSON file per drill
 * named by when it was asked for, so that a listing is in order; the
 * history kakurictl shows, and the records a killed kakurid left open.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <jansson.h>

#include "daemon.h"
#include "drill_history.h"
#include "log.h"
#include "outbox.h"
#include "record.h"
#include "wire.h"

static char drills_dir[PATH_MAX - 256];	/* room for a record's name */

const char *
kd_drill_dir(void)
{
	return drills_dir;
}

int
kd_drill_dir_open(struct kd *d)
{
	if ((size_t)snprintf(drills_dir, sizeof(drills_dir), "%s/drills",
	    d->policy->state_dir) >= sizeof(drills_dir))
		return -ENAMETOOLONG;
	if (mkdir(drills_dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * Newest first: by the number a name starts with (milliseconds since the
 * epoch, 13 digits until the year 2286, more after it: a longer number is
 * the newer one), then by the name.
 */
static int
by_name_desc(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	size_t nx = strspn(x, "0123456789"), ny = strspn(y, "0123456789");

	if (nx != ny)
		return nx < ny ? 1 : -1;
	return -strcmp(x, y);
}

/*
 * The record files' names, newest first; *n of them.  All of them are
 * read (up to KD_DRILL_NAMES_MAX, far past what kd_drill_prune leaves),
 * as readdir's order is no order: the newest may come last.
 */
static char **
record_names(size_t *n)
{
	char **names = NULL, **grown;
	struct dirent *de;
	size_t cap = 0, len;
	DIR *dir;

	*n = 0;
	if ((dir = opendir(drills_dir)) == NULL)
		return NULL;
	while ((de = readdir(dir)) != NULL && *n < KD_DRILL_NAMES_MAX) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len < 6 ||
		    strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 32;
			if ((grown = realloc(names, cap * sizeof(*names))) == NULL)
				break;
			names = grown;
		}
		if ((names[*n] = strdup(de->d_name)) == NULL)
			break;
		(*n)++;
	}
	closedir(dir);
	if (names != NULL)
		qsort(names, *n, sizeof(*names), by_name_desc);
	return names;
}

static void
names_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static json_t *
record_load(const char *name)
{
	char path[PATH_MAX + 64], *text = NULL;
	size_t len;
	json_t *o = NULL;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", drills_dir, name) <
	    sizeof(path) && kk_read_file(path, 1 << 20, &text, &len) == 0)
		o = json_loadb(text, len, 0, NULL);
	free(text);
	if (!json_is_object(o)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

long long
kd_drill_stamp(long long now_ms)
{
	size_t n;
	char **names = record_names(&n), *end;
	long long newest;

	if (n > 0) {
		newest = strtoll(names[0], &end, 10);
		if (*end == '-' && newest >= now_ms && newest < LLONG_MAX)
			now_ms = newest + 1;
	}
	names_free(names, n);
	return now_ms;
}

void
kd_drill_prune(const char *keep)
{
	char path[PATH_MAX + 64];
	const char *base = keep ? strrchr(keep, '/') : NULL;
	size_t i, n;
	char **names = record_names(&n);

	base = base ? base + 1 : keep;
	for (i = KD_DRILL_HISTORY_MAX; i < n; i++) {
		/* by name order: a clock set back puts it behind the others */
		if (base != NULL && strcmp(names[i], base) == 0)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", drills_dir,
		    names[i]) < sizeof(path))
			unlink(path);
	}
	names_free(names, n);
}

json_t *
kd_drill_history(struct kd *d, size_t limit)
{
	json_t *list = json_array(), *o;
	size_t i, n;
	char **names = record_names(&n);

	(void)d;
	for (i = 0; i < n && json_array_size(list) < limit; i++)
		if ((o = record_load(names[i])) != NULL)
			json_array_append_new(list, o);
	names_free(names, n);
	return list;
}

/*
 * A record left "running" or "announced" by a kakurid that died: the
 * kernel removed its table with the process; it is closed as aborted and
 * reported, never resumed.  Then the oldest records beyond the
 * history's length go.
 */
void
kd_drill_close_leftovers(struct kd *d)
{
	char path[PATH_MAX + 64], *text;
	const char *st;
	size_t i, n;
	char **names = record_names(&n);
	json_t *o;
	char rid[KK_EPISODE_HEX + 1], ended[32];

	/*
	 * Records are looked at before any goes: one a clock set back named
	 * behind 200 others is closed and reported, then pruned.  New ones
	 * are named after the newest (kd_drill_stamp), so twice the history
	 * is enough: a directory of thousands is not read whole at start.
	 */
	for (i = 0; i < n && i < 2 * KD_DRILL_HISTORY_MAX; i++) {
		snprintf(path, sizeof(path), "%s/%s", drills_dir, names[i]);
		if ((o = record_load(names[i])) == NULL)
			continue;
		st = json_string_value(json_object_get(o, KW_STATE));
		if (st != NULL && strcmp(st, "done") != 0) {
			kk_rfc3339(time(NULL), ended, sizeof(ended));
			json_object_set_new(o, KW_STATE, json_string("done"));
			json_object_set_new(o, KW_END, json_string("restart"));
			json_object_set_new(o, KW_RESULT, json_string("aborted"));
			json_object_set_new(o, KW_ENDED, json_string(ended));
			text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
			if (text != NULL)
				kk_write_file_atomic(path, text, strlen(text),
				    0600);
			free(text);
			kk_log(LOG_WARNING, KK_MID_START, "drill %s was cut "
			    "short by a restart of kakurid: recorded as aborted, "
			    "not resumed", json_string_value(json_object_get(o,
			    KW_ID)));
			kd_audit(d, "kakurid", "drill", "aborted", json_pack(
			    "{s:O, s:s}", KW_ID, json_object_get(o, KW_ID),
			    KW_END, "restart"));
			if (kd_outbox_put(d, KK_REPORT_DRILL, o, rid) < 0)
				kk_log(LOG_ERR, KK_MID_ERROR, "drill report: %s",
				    kd_outbox_error(d));
		}
		json_decref(o);
	}
	names_free(names, n);
	kd_drill_prune(NULL);
}

