/*
 * The freeze journal: the source groups a freeze freezes for a moment
 * (sources.c), on disk before each is frozen.  A kakurid that ends
 * between that and their restore (killed, a crash) would otherwise
 * leave them frozen, and with them every process in them that was no
 * target, for good: nobody knows of them.  The next kakurid thaws them
 * at start (kk_freeze_journal_recover), each by its inode and within
 * the same boot (a group's inode is not reused within one), but not
 * one the saved frozen set knows as frozen in place.  The caller
 * removes the journal once the call's set is saved
 * (kk_freeze_journal_clear).
 *
 * The file (kk_freezer.journal): one JSON object a line, {boot_id,
 * cgroup, cgroup_id}, appended and flushed before the group is frozen.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "freezer.h"
#include "kakuri.h"
#include "wire.h"

#define FZ_BOOT_ID_LEN		36
/* FZ_SOURCES_MAX records of a path each, and their keys */
#define FZ_JOURNAL_MAX		(FZ_SOURCES_MAX * (PATH_MAX + 256))

/* This boot's id: 0, or a negative errno. */
static int
boot_id(char out[FZ_BOOT_ID_LEN + 1])
{
	char buf[64];
	ssize_t n;

	n = fz_read_small("/proc/sys/kernel/random/boot_id", buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	if (n < FZ_BOOT_ID_LEN)
		return -EBADMSG;
	memcpy(out, buf, FZ_BOOT_ID_LEN);
	out[FZ_BOOT_ID_LEN] = '\0';
	return 0;
}

static json_t *
record(const char *boot, const char *cg, uint64_t cg_id)
{
	return json_pack("{s:s, s:s, s:I}", KW_BOOT_ID, boot, KW_CGROUP, cg,
	    KW_CGROUP_ID, (json_int_t)cg_id);
}

/*
 * Before the group cg (its inode cg_id) is frozen: its record appended,
 * and on the disk (one flush; the directory's too, once, when the file
 * is made).  0 (also without a journal), or a negative errno.
 */
int
fz_journal_add(struct fzcall *c, const char *cg, uint64_t cg_id)
{
	char boot[FZ_BOOT_ID_LEN + 1], *text = NULL;
	const char *path = c->fz->journal;
	json_t *o = NULL;
	bool made = false;
	size_t len;
	int fd = -1, r;

	if (path[0] == '\0')
		return 0;
	if ((r = boot_id(boot)) < 0)
		return r;
	r = -ENOMEM;
	if ((o = record(boot, cg, cg_id)) == NULL ||
	    (text = kk_json_line(o, JSON_COMPACT, &len)) == NULL)
		goto out;
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW)) < 0 &&
	    errno == ENOENT) {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL |
		    O_CLOEXEC | O_NOFOLLOW, 0600);
		made = fd >= 0;
	}
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if ((r = kk_write_all(fd, text, len)) < 0)
		goto out;
	if (fdatasync(fd) < 0 || (made && kk_fsync_dir_of(path) < 0)) {
		r = -errno;
		goto out;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(text);
	json_decref(o);
	return r;
}

/*
 * Is the group cg (inode cg_id) one the set knows as frozen in place?
 * By its inode, or by its path where the set has none (an older
 * kakurid's file).
 */
static bool
kept_in_place(const struct kk_frozen_set *set, const char *cg,
    uint64_t cg_id)
{
	const struct kk_frozen *f;
	size_t i;

	for (i = 0; i < set->n; i++) {
		f = &set->v[i];
		if (f->in_place && (f->cg_id == cg_id ||
		    (f->cg_id == 0 && strcmp(f->orig_cgroup, cg) == 0)))
			return true;
	}
	return false;
}

/* One record: 1 thawed, 0 not ours to thaw any more, or -EBADMSG. */
static int
recover_one(const struct kk_freezer *fz, const struct kk_frozen_set *set,
    const char *boot, json_t *o)
{
	json_t *b = json_object_get(o, KW_BOOT_ID);
	json_t *cg = json_object_get(o, KW_CGROUP);
	json_t *id = json_object_get(o, KW_CGROUP_ID);
	char dir[PATH_MAX], brel[PATH_MAX];
	struct stat st;

	/* a source is never the root, nor kakuri's own freeze groups */
	if (!json_is_object(o) || json_object_size(o) != 3 ||
	    !json_is_string(b) || !json_is_string(cg) ||
	    strlen(json_string_value(cg)) != json_string_length(cg) ||
	    !fz_cgpath_ok(json_string_value(cg)) ||
	    strcmp(json_string_value(cg), "/") == 0 ||
	    fz_base_rel(fz, brel, sizeof(brel)) < 0 ||
	    fz_cg_within(brel, json_string_value(cg)) ||
	    !json_is_integer(id) || json_integer_value(id) <= 0)
		return -EBADMSG;
	/* another boot: its groups are gone, an inode may be reused */
	if (strcmp(json_string_value(b), boot) != 0 ||
	    kept_in_place(set, json_string_value(cg),
	    (uint64_t)json_integer_value(id)))
		return 0;
	/* the group this kakurid froze, not one made again at its path */
	if (fz_cg_dir(fz, json_string_value(cg), dir, sizeof(dir)) < 0 ||
	    stat(dir, &st) < 0 ||
	    (uint64_t)st.st_ino != (uint64_t)json_integer_value(id))
		return 0;
	return fz_group_freeze(dir, strcmp(fz->method, "cgroup2") == 0,
	    false) == 0;
}

/*
 * The journal's text, line by line: what can be read is thawed, the rest
 * named in err (a torn last line).  How many were thawed.
 */
static int
recover_lines(const struct kk_freezer *fz, const struct kk_frozen_set *set,
    const char *text, size_t len, char *err, size_t errlen)
{
	char boot[FZ_BOOT_ID_LEN + 1];
	const char *line, *nl, *end = text + len;
	json_t *o;
	size_t i;
	int k, n = 0;

	if (len == 0)
		return 0;
	if ((k = boot_id(boot)) < 0)
		return fz_err(err, errlen, k, "boot id: %s", strerror(-k));
	for (i = 1, line = text; line < end; i++, line = nl + 1) {
		if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
			nl = end;
		o = json_loadb(line, (size_t)(nl - line),
		    JSON_REJECT_DUPLICATES, NULL);
		k = recover_one(fz, set, boot, o);
		json_decref(o);
		if (k < 0)
			fz_err(err, errlen, k, "%s: line %zu is malformed",
			    fz->journal, i);
		else
			n += k;
	}
	return n;
}

int
kk_freeze_journal_recover(const struct kk_freezer *fz,
    const struct kk_frozen_set *set, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len;
	int r;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (fz->journal[0] == '\0' || fz->method[0] == '\0')
		return 0;
	r = kk_read_file(fz->journal, FZ_JOURNAL_MAX, &text, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		fz_err(err, errlen, r, "%s: %s", fz->journal, strerror(-r));
	else
		r = recover_lines(fz, set, text, len, err, errlen);
	free(text);
	kk_freeze_journal_clear(fz);
	return r;
}

/*
 * Emptied, not removed: the file stays, so a record is one flush, not
 * two.  Not flushed: a journal of another boot is passed over, and a
 * crash leaves what was written to the file.  Read once: one that could
 * not be read is not read again.
 */
void
kk_freeze_journal_clear(const struct kk_freezer *fz)
{
	int fd;

	if (fz->journal[0] == '\0')
		return;
	fd = open(fz->journal, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK);
	if (fd >= 0)
		close(fd);
	else if (errno != ENOENT)
		unlink(fz->journal);
}
