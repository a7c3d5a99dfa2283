/*
 * The persisted quarantine state, /var/lib/kakuri/state.json.  Written
 * atomically (temp file in the same directory, fsync, rename, fsync of the
 * directory) so a crash or power cut leaves either the old or the new
 * state, never a torn one.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <jansson.h>

#include "kakuri.h"
#include "wire.h"

#define KK_STATE_MAX	(64 * 1024)

int
kk_episode_new(char out[KK_EPISODE_HEX + 1])
{
	unsigned char rnd[KK_EPISODE_HEX / 2];
	ssize_t n;

	n = getrandom(rnd, sizeof(rnd), 0);
	if (n != (ssize_t)sizeof(rnd))
		return n < 0 ? -errno : -EIO;
	kk_hex(rnd, sizeof(rnd), out);
	return 0;
}

int
kk_fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd, r = 0;

	if (strlen(path) >= sizeof(dir))
		return -ENAMETOOLONG;
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

/*
 * The reserve: disk space in state_dir set aside for the writes that must
 * not fail (state.json, replay ids, the CSIRT's priority notices).
 * Whoever can fill the volume (a noisy audit log, /var/tmp on the same
 * file system) could otherwise stop a signed release from being
 * recorded.  When one of those writes (kk_write_file_vital) hits ENOSPC
 * the reserve file is removed and the write tried once more; the reserve
 * is made again when there is room for it twice over.  Any other write
 * (kk_write_file_atomic) never takes it: a local user who fills the disk
 * and then sends a self-report would otherwise hand the reserve to his
 * filler, and the next isolation could not be recorded.
 * One per process: kakurid registers it at start.
 */
static char reserve_path[PATH_MAX];
static off_t reserve_size;

int
kk_reserve_ensure(void)
{
	char dir[PATH_MAX], *slash;
	struct statvfs vfs;
	struct stat st;
	int fd, r;

	if (reserve_path[0] == '\0')
		return -ENOENT;
	if (lstat(reserve_path, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size >= reserve_size)
		return 0;
	strcpy(dir, reserve_path);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	if (statvfs(slash ? dir : ".", &vfs) == 0 &&
	    (uint64_t)vfs.f_bavail * vfs.f_frsize < 2 * (uint64_t)reserve_size)
		return -ENOSPC;
	fd = open(reserve_path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd < 0)
		return -errno;
	/* glibc writes the blocks where the file system cannot allocate them */
	r = -posix_fallocate(fd, 0, reserve_size);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r < 0)
		unlink(reserve_path);
	return r;
}

int
kk_reserve_init(const char *path, off_t size)
{
	if (strlen(path) >= sizeof(reserve_path))
		return -ENAMETOOLONG;
	strcpy(reserve_path, path);
	reserve_size = size;
	return kk_reserve_ensure();
}

int
kk_reserve_release(void)
{
	if (reserve_path[0] == '\0')
		return -ENOENT;
	return unlink(reserve_path) < 0 ? -errno : 0;
}

static int
write_file_once(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	int fd = -1, r;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) < 0) {
		r = -errno;
		goto fail;
	}
	if ((r = kk_write_all(fd, data, len)) < 0)
		goto fail;
	if (fsync(fd) < 0) {
		r = -errno;
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = -errno;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		r = -errno;
		goto fail;
	}
	return kk_fsync_dir_of(path);
fail:
	kk_close(fd);
	unlink(tmp);
	return r;
}

static int
write_file_atomic(const char *path, const void *data, size_t len,
    mode_t mode, bool vital)
{
	int r;

	r = write_file_once(path, data, len, mode);
	if (r == -ENOSPC && vital && kk_reserve_release() == 0)
		r = write_file_once(path, data, len, mode);
	else if (r == 0)
		kk_reserve_ensure();
	return r;
}

int
kk_write_file_atomic(const char *path, const void *data, size_t len,
    mode_t mode)
{
	return write_file_atomic(path, data, len, mode, false);
}

int
kk_write_file_vital(const char *path, const void *data, size_t len,
    mode_t mode)
{
	return write_file_atomic(path, data, len, mode, true);
}

static int
copy_str(json_t *o, const char *key, char *dst, size_t dstlen, bool required)
{
	json_t *v = json_object_get(o, key);
	const char *s;

	if (v == NULL)
		return required ? -EBADMSG : 0;
	if (!json_is_string(v))
		return -EBADMSG;
	s = json_string_value(v);
	if (json_string_length(v) >= dstlen)
		return -EBADMSG;
	/*
	 * jansson checked UTF-8.  A control character (written by an older
	 * version) is not a reason to lose the state: it is replaced.
	 */
	kk_text_clean(dst, dstlen, s, json_string_length(v));
	return 0;
}

int
kk_state_load(const char *path, struct kk_state *s)
{
	struct kk_state st;
	json_error_t jerr;
	json_t *root = NULL, *v;
	char mode[32];
	int r;

	memset(&st, 0, sizeof(st));
	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		r = access(path, F_OK) == 0 ? -EBADMSG : -ENOENT;
		goto out;
	}
	if (!json_is_object(root)) {
		r = -EBADMSG;
		goto out;
	}
	if ((r = copy_str(root, KW_MODE, mode, sizeof(mode), true)) < 0)
		goto out;
	if (kk_mode_parse(mode, &st.mode) < 0) {
		r = -EBADMSG;
		goto out;
	}
	if ((r = copy_str(root, KW_EPISODE, st.episode, sizeof(st.episode),
	    false)) < 0)
		goto out;
	if ((r = copy_str(root, KW_BY, st.by, sizeof(st.by), false)) < 0)
		goto out;
	if ((r = copy_str(root, KW_REASON, st.reason, sizeof(st.reason),
	    false)) < 0)
		goto out;
	v = json_object_get(root, KW_SINCE);
	if (v != NULL && !json_is_integer(v)) {
		r = -EBADMSG;
		goto out;
	}
	st.since = v != NULL ? (time_t)json_integer_value(v) : 0;
	v = json_object_get(root, KW_DRILL);
	if (v != NULL && !json_is_boolean(v)) {
		r = -EBADMSG;
		goto out;
	}
	st.drill = v != NULL && json_is_true(v);
	/* A quarantine always names its episode; an open host has none. */
	if (st.mode != KK_MODE_OPEN && !kk_is_hex(st.episode,
	    strlen(st.episode), KK_EPISODE_HEX)) {
		r = -EBADMSG;
		goto out;
	}
	*s = st;
	r = 0;
out:
	json_decref(root);
	return r;
}

int
kk_state_save(const char *path, const struct kk_state *s)
{
	json_t *root;
	char *text = NULL;
	int r;

	/* never write what kk_state_load would refuse at the next start */
	if (s->mode != KK_MODE_OPEN && !kk_is_hex(s->episode,
	    strlen(s->episode), KK_EPISODE_HEX))
		return -EINVAL;
	if ((r = kk_text_check(s->by, strlen(s->by), NULL)) < 0 ||
	    (r = kk_text_check(s->reason, strlen(s->reason), NULL)) < 0)
		return r;
	root = json_pack("{s:i, s:s, s:s, s:I, s:s, s:s, s:b}",
	    KW_V, 1, KW_MODE, kk_mode_name(s->mode), KW_EPISODE, s->episode,
	    KW_SINCE, (json_int_t)s->since, KW_BY, s->by, KW_REASON, s->reason,
	    KW_DRILL, s->drill);
	if (root == NULL)
		return -ENOMEM;
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (text == NULL)
		return -ENOMEM;
	if (strlen(text) > KK_STATE_MAX) {
		r = -E2BIG;
		goto out;
	}
	r = kk_write_file_vital(path, text, strlen(text), 0600);
out:
	free(text);
	return r;
}

/*
 * Keeps a state file that could not be loaded as evidence, renamed to
 * PATH.corrupt-<UTC time> (-2, -3, ... when that name is taken; never
 * replacing a file).  The name it got is written to kept.
 */
int
kk_state_set_aside(const char *path, time_t now, char *kept, size_t keptlen)
{
	char stamp[32], name[PATH_MAX];
	struct tm tm;
	int i, r = -EEXIST;

	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0)
		return -EINVAL;
	for (i = 1; i <= 16 && r == -EEXIST; i++) {
		if ((i == 1 ? snprintf(name, sizeof(name), "%s.corrupt-%s",
		    path, stamp) : snprintf(name, sizeof(name),
		    "%s.corrupt-%s-%d", path, stamp, i)) >= (int)sizeof(name))
			return -ENAMETOOLONG;
		r = renameat2(AT_FDCWD, path, AT_FDCWD, name,
		    RENAME_NOREPLACE) < 0 ? -errno : 0;
	}
	if (r < 0)
		return r;
	if (kept != NULL && keptlen > 0)
		snprintf(kept, keptlen, "%s", name);
	return kk_fsync_dir_of(path);
}
