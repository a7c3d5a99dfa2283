/*
 * send --save-receipts DIR: each signed receipt envelope as it came.
 *
 * A receipt is the agent's signed word on what it did with a command:
 * what the CSIRT keeps to judge later whether an agent lied (a root
 * kit's "done" for an isolation that never happened), re-verifiable
 * with the agent's key by anyone.  Kept as DIR/<agent>/<command>.dsse;
 * nothing is ever written over: the same receipt twice is one file,
 * another one for the same command (a replay refused, a second send)
 * is kept beside it under its hash.  The directory must be the
 * operator's alone, as fetch's: a proof anyone may edit proves nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kakuri.h"
#include "receipts.h"
#include "sign.h"

bool
dir_is_ours(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && st.st_uid == geteuid() &&
	    (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

int
receipts_open(const char *dir, char *err, size_t errlen)
{
	int fd;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -errno;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -errno;
	}
	if (!dir_is_ours(fd)) {
		snprintf(err, errlen, "%s: not yours alone (another owner, or "
		    "group or world writable): a receipt kept there could be "
		    "changed", dir);
		close(fd);
		return -EPERM;
	}
	return fd;
}

/* Whether the file name at dfd holds exactly env. */
static bool
same_as(int dfd, const char *name, const void *env, size_t len)
{
	char *old = NULL;
	size_t oldlen;
	bool same;
	int fd;

	if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return false;
	same = kk_read_fd(fd, len + 1, &old, &oldlen) == 0 &&
	    oldlen == len && memcmp(old, env, len) == 0;
	free(old);
	close(fd);
	return same;
}

/* env as a new file name at dfd: 0, -EEXIST if name is there, -errno */
static int
write_new(int dfd, const char *name, const void *env, size_t len)
{
	int fd, r = 0;

	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if ((r = kk_write_all(fd, env, len)) == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0)
		unlinkat(dfd, name, 0);
	return r;
}

int
receipt_save(int dfd, const char *agent, const char *command,
    const void *env, size_t len)
{
	char name[KK_ID_HEX + 32], sha[65];
	int adfd, r;

	/* names from verified receipts, checked again: they become paths */
	if (!kk_is_hex(agent, strlen(agent), KK_AGENT_ID_HEX) ||
	    (command != NULL && command[0] != '\0' &&
	    !kk_is_hex(command, strlen(command), KK_ID_HEX)))
		return -EINVAL;
	if (mkdirat(dfd, agent, 0700) < 0 && errno != EEXIST)
		return -errno;
	adfd = openat(dfd, agent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (adfd < 0)
		return -errno;
	if (command == NULL || command[0] == '\0')
		command = "refused";
	snprintf(name, sizeof(name), "%s.dsse", command);
	r = write_new(adfd, name, env, len);
	if (r == -EEXIST && !same_as(adfd, name, env, len)) {
		kk_sha256_hex(env, len, sha);
		snprintf(name, sizeof(name), "%s.%.16s.dsse", command, sha);
		r = write_new(adfd, name, env, len);
	}
	if (r == -EEXIST)
		r = 0;		/* these very bytes are kept already */
	if (r == 0 && fsync(adfd) < 0)
		r = -errno;
	close(adfd);
	return r;
}
