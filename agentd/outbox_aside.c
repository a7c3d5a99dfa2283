/*
 * What of the outbox is no good message (outbox_aside.h): set aside,
 * left and remembered, or read again later.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "outbox.h"
#include "outbox_aside.h"

#define CORRUPT_DIR	"corrupt"

/* how many entries outbox/corrupt holds, counting up to max */
static unsigned
count_entries(int cfd, unsigned max)
{
	struct dirent *de;
	unsigned n = 0;
	DIR *dir;
	int fd;

	if ((fd = dup(cfd)) < 0)
		return max;
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return max;
	}
	while (n < max && (de = readdir(dir)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(dir);
	return n;
}

const char *
kd_outbox_move_aside(int dfd, const char *name, char *kept, size_t keptlen)
{
	const char *done = NULL;
	struct stat st;
	int cfd;

	kept[0] = '\0';
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 &&
	    errno == ENOENT)
		return NULL;
	if (mkdirat(dfd, CORRUPT_DIR, 0700) < 0 && errno != EEXIST)
		cfd = -1;
	else
		cfd = openat(dfd, CORRUPT_DIR, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC);
	if (cfd >= 0 && count_entries(cfd, KD_OUTBOX_CORRUPT_MAX) <
	    KD_OUTBOX_CORRUPT_MAX) {
		snprintf(kept, keptlen, "%s/%s-%lld", CORRUPT_DIR, name,
		    (long long)time(NULL));
		if (renameat(dfd, name, cfd, strchr(kept, '/') + 1) == 0) {
			fsync(cfd);
			done = "moved-aside";
		} else if (errno == ENOENT) {
			kk_close(cfd);
			return NULL;
		}
	}
	kk_close(cfd);
	if (done == NULL) {
		snprintf(kept, keptlen, ".%s-%s-%lld", CORRUPT_DIR, name,
		    (long long)time(NULL));
		if (renameat(dfd, name, dfd, kept) == 0)
			done = "renamed";
		else if (errno == ENOENT)
			return NULL;
		else {
			kept[0] = '\0';
			done = "left";
		}
	}
	fsync(dfd);
	return done;
}

_Static_assert(sizeof(((struct kd_outbox *)0)->left[0]) >= KD_OUTBOX_NAME_MAX,
    "a left name fits");

/* Whether name was left in place and reported already. */
static bool
left_known(const struct kd_outbox *ob, const char *name)
{
	size_t i;

	for (i = 0; i < ob->nleft; i++)
		if (strcmp(ob->left[i], name) == 0)
			return true;
	return false;
}

void
kd_outbox_left_note(struct kd_outbox *ob, const char *name)
{
	if (ob->left == NULL && (ob->left = calloc(KD_OUTBOX_LEFT_MAX,
	    sizeof(*ob->left))) == NULL)
		return;
	if (left_known(ob, name))
		return;
	if (ob->nleft < KD_OUTBOX_LEFT_MAX)
		snprintf(ob->left[ob->nleft++], sizeof(ob->left[0]), "%s",
		    name);
	if (ob->nleft == KD_OUTBOX_LEFT_MAX)
		kk_log(LOG_CRIT, KK_MID_TAMPER, "outbox: %d bad files that "
		    "can be neither moved nor renamed: no more are reported",
		    KD_OUTBOX_LEFT_MAX);
}

bool
kd_outbox_left_quiet(const struct kd_outbox *ob, const char *name)
{
	return ob->nleft >= KD_OUTBOX_LEFT_MAX || left_known(ob, name);
}

/*
 * Whether a read failed for want of something the system may have again
 * (descriptors, memory) rather than for what the file holds: such a file
 * is no corrupt message, and is read again at the next check.
 */
static bool
read_later(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOMEM ||
	    err == ENOBUFS || err == EAGAIN || err == EINTR;
}

bool
kd_outbox_read_later(int r)
{
	return r < 0 && read_later(-r);
}

void
kd_outbox_read_why(int r, char *why, size_t whylen)
{
	snprintf(why, whylen, "%s", r == -ELOOP ? "is a symbolic link" :
	    r == -EINVAL ? "is not a regular file" : r == -EFBIG ?
	    "is larger than a message may be" : strerror(-r));
}
