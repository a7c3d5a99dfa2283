/*
 * The replay store (DESIGN 4): the ids of commands already executed, one
 * file per id in state_dir/replay, named by the 32-hex id and holding the
 * command's exp in decimal.  A command is executed only after its file
 * has been created with O_EXCL and both the file and the directory have
 * been fsync'd, so a command can run at most once even across a crash or
 * a restart: the store is nothing but files.
 *
 * Ids come from signed payloads but are still validated before they are
 * used as a file name, so nothing can make the store open "../x".
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kakuri.h"
#include "sign.h"

#define PRUNE_SCAN_MAX	100000	/* entries looked at per call */
#define EXP_TEXT_MAX	24	/* INT64_MAX has 19 digits, plus "\n" */

static bool
valid_id(const char *id)
{
	return id != NULL && kk_is_hex(id, strlen(id), KK_ID_HEX);
}

/*
 * Opens the store.  A directory someone else could write to is refused:
 * deleting an entry would allow a replay, planting one would block a
 * command.  With create, a missing directory is made (0700).
 */
static int
open_store(const char *dir, bool create, int *dfdp)
{
	struct stat st;
	int dfd = -1, rc;

	if (dir == NULL || *dir == '\0') {
		rc = -EINVAL;
		goto out;
	}
	for (;;) {
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (dfd != -1 || errno != ENOENT || !create)
			break;
		if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
			rc = -errno;
			goto out;
		}
		create = false;		/* one attempt, then report */
	}
	if (dfd == -1) {
		rc = -errno;
		goto out;
	}
	if (fstat(dfd, &st) == -1) {
		rc = -errno;
		goto out;
	}
	if (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		rc = -EPERM;
		goto out;
	}
	*dfdp = dfd;
	dfd = -1;
	rc = 0;
out:
	if (dfd != -1)
		close(dfd);
	return rc;
}

/*
 * The store for reading: 1 with *dfdp open, 0 when there is none yet (a
 * store that does not exist has seen nothing), or a negative errno.
 */
static int
open_existing(const char *dir, int *dfdp)
{
	int rc = open_store(dir, false, dfdp);

	if (rc == -ENOENT)
		return 0;
	return rc < 0 ? rc : 1;
}

static int
record_once(const char *dir, const char *id, time_t exp)
{
	char text[EXP_TEXT_MAX];
	bool created = false;
	int dfd = -1, fd = -1, n, rc;

	if (!valid_id(id) || exp < 0) {
		rc = -EINVAL;
		goto out;
	}
	if ((rc = open_store(dir, true, &dfd)) != 0)
		goto out;
	fd = openat(dfd, id, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1) {
		rc = errno == EEXIST ? -EALREADY : -errno;
		goto out;
	}
	created = true;
	n = snprintf(text, sizeof(text), "%" PRId64 "\n", (int64_t)exp);
	if ((rc = kk_write_all(fd, text, (size_t)n)) != 0)
		goto out;
	if (fsync(fd) == -1) {
		rc = -errno;
		goto out;
	}
	if (close(fd) == -1) {
		fd = -1;
		rc = -errno;
		goto out;
	}
	fd = -1;
	if (fsync(dfd) == -1) {
		rc = -errno;
		goto out;
	}
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	/*
	 * Not recorded means not executed: take the entry back so that the
	 * same command can be retried rather than being refused as a replay.
	 */
	if (rc != 0 && created)
		unlinkat(dfd, id, 0);
	if (dfd != -1)
		close(dfd);
	return rc;
}

/* A full volume gives back the reserve (state.c) once: a release must be recordable. */
int
kk_replay_record(const char *dir, const char *id, time_t exp)
{
	int rc;

	rc = record_once(dir, id, exp);
	if (rc == -ENOSPC && kk_reserve_release() == 0)
		rc = record_once(dir, id, exp);
	return rc;
}

/*
 * Whether id has been recorded: 1 if it has, 0 if not (a store that does
 * not exist yet has seen nothing), or a negative errno when the store
 * cannot be read or id is not valid.
 */
int
kk_replay_lookup(const char *dir, const char *id)
{
	struct stat st;
	int dfd = -1, rc;

	if (!valid_id(id)) {
		rc = -EINVAL;
		goto out;
	}
	if ((rc = open_existing(dir, &dfd)) <= 0)
		goto out;
	if (fstatat(dfd, id, &st, AT_SYMLINK_NOFOLLOW) == 0)
		rc = 1;
	else
		rc = errno == ENOENT ? 0 : -errno;
out:
	if (dfd != -1)
		close(dfd);
	return rc;
}

/*
 * Whether id has been recorded.  Fails closed: an id that is not valid, or
 * a store that cannot be read, counts as seen.
 */
bool
kk_replay_seen(const char *dir, const char *id)
{
	return kk_replay_lookup(dir, id) != 0;
}

/* The exp stored in one entry: decimal digits, optionally a newline. */
static int
read_exp(int dfd, const char *name, int64_t *out)
{
	char text[EXP_TEXT_MAX + 1];
	struct stat st;
	int64_t v = 0;
	ssize_t n;
	size_t i;
	int fd, rc = -EBADMSG;

	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC);
	if (fd == -1) {
		rc = -errno;
		goto out;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		goto out;
	do
		n = read(fd, text, sizeof(text) - 1);
	while (n == -1 && errno == EINTR);
	if (n <= 0)
		goto out;
	if (text[n - 1] == '\n')
		n--;
	if (n == 0 || n > 19)
		goto out;
	for (i = 0; i < (size_t)n; i++) {
		if (text[i] < '0' || text[i] > '9')
			goto out;
		if (v > (INT64_MAX - (text[i] - '0')) / 10)
			goto out;
		v = v * 10 + (text[i] - '0');
	}
	*out = v;
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	return rc;
}

/*
 * Removes the entries whose exp + skew is before now: such commands would
 * be refused as expired anyway.  Files that are not named like an id are
 * not ours and are left alone; so are entries whose content cannot be
 * read (failing closed: their id stays blocked).  Looks at no more than
 * PRUNE_SCAN_MAX entries per call; the next call goes on.
 */
int
kk_replay_prune(const char *dir, time_t now, int skew)
{
	struct dirent *de;
	DIR *d = NULL;
	int64_t exp = INT64_MAX, limit;
	size_t scanned = 0;
	int dfd = -1, removed = 0, rc;

	if (skew < 0) {
		rc = -EINVAL;
		goto out;
	}
	if ((rc = open_existing(dir, &dfd)) <= 0)
		goto out;
	if (__builtin_sub_overflow((int64_t)now, (int64_t)skew, &limit)) {
		rc = 0;		/* nothing is that old */
		goto out;
	}
	if ((d = fdopendir(dfd)) == NULL) {
		rc = -errno;
		goto out;
	}
	dfd = -1;		/* now owned by d */
	while (scanned < PRUNE_SCAN_MAX) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno != 0) {
				rc = -errno;
				goto out;
			}
			break;
		}
		scanned++;
		if (!valid_id(de->d_name))
			continue;
		if (read_exp(dirfd(d), de->d_name, &exp) != 0)
			continue;
		if (exp >= limit)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0 &&
		    removed < INT_MAX)
			removed++;
	}
	rc = removed;
out:
	if (d != NULL)
		closedir(d);
	if (dfd != -1)
		close(dfd);
	return rc;
}
