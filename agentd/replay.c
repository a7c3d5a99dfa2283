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
 *
 * Pruning forgets the ids of commands expired by the clock, and the clock
 * can be set back: a command pruned last week would be valid again, and
 * a copy of it taken for new.  So the store also keeps its cutoff, in the
 * file CUTOFF_NAME (not an id's name, so pruning leaves it alone): the
 * highest exp of the ids it has removed, written and fsync'd before they
 * are.  A command whose exp is not above it is refused whatever the clock
 * says; every later one that ran still has its entry.
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
#include "signed.h"

#define PRUNE_SCAN_MAX	100000	/* entries looked at per call */
#define EXP_TEXT_MAX	24	/* INT64_MAX has 19 digits, plus "\n" */
#define CUTOFF_NAME	"cutoff"
#define CUTOFF_TMP	"cutoff.tmp"

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
	kk_close(dfd);
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
	kk_close(fd);
	return rc;
}

/*
 * The store's cutoff: -1 when there is none (a new store, or one that
 * has never pruned), -EBADMSG when the file is not a regular file holding
 * an exp, or another negative errno.
 */
static int
read_cutoff(int dfd, int64_t *cutoff)
{
	int rc;

	*cutoff = -1;
	rc = read_exp(dfd, CUTOFF_NAME, cutoff);
	if (rc == -ENOENT)
		rc = 0;
	else if (rc == -ELOOP)
		rc = -EBADMSG;		/* a symbolic link is not ours */
	return rc;
}

/* Replaces the cutoff with v, durably: a new file, fsync'd, renamed over. */
static int
write_cutoff(int dfd, int64_t v)
{
	char text[EXP_TEXT_MAX];
	int fd = -1, n, rc;

	if (unlinkat(dfd, CUTOFF_TMP, 0) == -1 && errno != ENOENT) {
		rc = -errno;
		goto out;
	}
	fd = openat(dfd, CUTOFF_TMP, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd == -1) {
		rc = -errno;
		goto out;
	}
	n = snprintf(text, sizeof(text), "%" PRId64 "\n", v);
	if ((rc = kk_write_all(fd, text, (size_t)n)) != 0)
		goto out;
	if (fsync(fd) == -1) {
		rc = -errno;
		goto out;
	}
	rc = close(fd) == -1 ? -errno : 0;
	fd = -1;
	if (rc != 0)
		goto out;
	if (renameat(dfd, CUTOFF_TMP, dfd, CUTOFF_NAME) == -1 ||
	    fsync(dfd) == -1) {
		rc = -errno;
		goto out;
	}
	rc = 0;
out:
	kk_close(fd);
	if (rc != 0)
		unlinkat(dfd, CUTOFF_TMP, 0);
	return rc;
}

static int
record_once(const char *dir, const char *id, time_t exp)
{
	char text[EXP_TEXT_MAX];
	bool created = false;
	int64_t cutoff;
	int dfd = -1, fd = -1, n, rc;

	if (!valid_id(id) || exp < 0) {
		rc = -EINVAL;
		goto out;
	}
	if ((rc = open_store(dir, true, &dfd)) != 0)
		goto out;
	/*
	 * Its id may have been pruned: expired, by the store's clock when
	 * not by the caller's.  A cutoff that cannot be read fails closed.
	 */
	if ((rc = read_cutoff(dfd, &cutoff)) != 0)
		goto out;
	if (exp <= cutoff) {
		rc = -EKEYEXPIRED;
		goto out;
	}
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
	kk_close(fd);
	/*
	 * Not recorded means not executed: take the entry back so that the
	 * same command can be retried rather than being refused as a replay.
	 */
	if (rc != 0 && created)
		unlinkat(dfd, id, 0);
	kk_close(dfd);
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
	kk_close(dfd);
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

static int
store_seen(void *dir, const char *id)
{
	return kk_replay_lookup(dir, id);
}

static int
store_record(void *dir, const char *id, time_t exp)
{
	return kk_replay_record(dir, id, exp);
}

/* The store in dir as the check order of a signed command uses it. */
struct kd_replay_store
kd_replay_store_disk(const char *dir)
{
	const struct kd_replay_store s = { store_seen, store_record,
		(void *)dir };

	return s;
}

/*
 * One look at up to PRUNE_SCAN_MAX entries from the start of d: *top gets
 * the highest exp below limit (-1: none), and with remove, the entries
 * whose exp is below limit and not above cutoff are removed.  Files that
 * are not named like an id are not ours and are left alone; so are
 * entries whose content cannot be read (failing closed: their id stays
 * blocked).
 */
static int
prune_scan(DIR *d, int64_t limit, int64_t cutoff, bool remove, int64_t *top,
    int *removed)
{
	struct dirent *de;
	int64_t exp = INT64_MAX;
	size_t scanned = 0;

	*top = -1;
	rewinddir(d);
	while (scanned < PRUNE_SCAN_MAX) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			return errno != 0 ? -errno : 0;
		scanned++;
		if (!valid_id(de->d_name) ||
		    read_exp(dirfd(d), de->d_name, &exp) != 0 || exp >= limit)
			continue;
		if (exp > *top)
			*top = exp;
		if (remove && exp <= cutoff &&
		    unlinkat(dirfd(d), de->d_name, 0) == 0 &&
		    *removed < INT_MAX)
			(*removed)++;
	}
	return 0;
}

/*
 * Removes the entries whose exp + skew is before now: such commands would
 * be refused as expired anyway.  Looks at no more than PRUNE_SCAN_MAX
 * entries per call (twice: see below); the next call goes on.
 *
 * The first look finds the highest exp that will go, and the cutoff is
 * raised to it (durably) before the second removes anything; it is never
 * lowered.  It is that exp and not now - skew, so that a clock that ran
 * ahead for a while and was put right refuses only the commands whose
 * ids were removed meanwhile, not every command until it catches up.
 *
 * When the cutoff file cannot be read, nothing is pruned.  When it holds
 * no exp (it was not written by this code: rename is atomic), it is
 * written again as now - skew - 1, the most that can have been pruned by
 * this clock, and -EBADMSG says so, for the caller to log: commands were
 * refused meanwhile (kk_replay_record).
 */
int
kk_replay_prune(const char *dir, time_t now, int skew)
{
	DIR *d = NULL;
	int64_t limit, cutoff, top;
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
	if ((rc = read_cutoff(dfd, &cutoff)) == -EBADMSG) {
		if ((rc = write_cutoff(dfd, limit > 0 ? limit - 1 : 0)) == 0)
			rc = -EBADMSG;
		goto out;
	}
	if (rc != 0)
		goto out;
	if ((d = fdopendir(dfd)) == NULL) {
		rc = -errno;
		goto out;
	}
	dfd = -1;		/* now owned by d */
	if ((rc = prune_scan(d, limit, cutoff, false, &top, &removed)) != 0)
		goto out;
	if (top > cutoff) {
		if ((rc = write_cutoff(dirfd(d), top)) != 0)
			goto out;
		cutoff = top;
	}
	if (top >= 0 &&
	    (rc = prune_scan(d, limit, cutoff, true, &top, &removed)) != 0)
		goto out;
	rc = removed;
out:
	if (d != NULL)
		closedir(d);
	kk_close(dfd);
	return rc;
}
