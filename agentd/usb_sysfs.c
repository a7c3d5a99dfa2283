/*
 * sysfs attributes and directories read without trusting them (never
 * through a link, never blocking, bounded), and the block devices and
 * mounts below a USB storage interface: what usb.c decides with.
 */
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "kakuri.h"
#include "usb_sysfs.h"

/*
 * An attribute of dirfd opened: never through a link, never blocking on
 * a FIFO, only a regular file (-EINVAL otherwise).  The fd or -errno.
 */
static int
kd_usb_attr_open(int dirfd, const char *name, int flags)
{
	struct stat st;
	int fd, err = 0;

	fd = openat(dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
	    O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		err = -errno;
	else if (!S_ISREG(st.st_mode))
		err = -EINVAL;
	if (err < 0) {
		close(fd);
		return err;
	}
	return fd;
}

int
kd_usb_attr_read(int dirfd, const char *name, char *buf, size_t len)
{
	ssize_t n;
	int fd, err;

	if (len < 2)
		return -EINVAL;
	if ((fd = kd_usb_attr_open(dirfd, name, O_RDONLY)) < 0)
		return fd;
	/* sysfs says 4096 for every size: read, with room for one more */
	n = kk_read_upto(fd, buf, len);
	if (n < 0) {
		err = (int)n;
		goto out;
	}
	if ((size_t)n >= len) {
		err = -EFBIG;
		goto out;
	}
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	err = (int)n;
out:
	close(fd);
	return err;
}

/* An unsigned number of base 10 or 16 up to max, the whole text: or -EBADMSG. */
int
kd_usb_parse_uint(const char *s, int base, long max)
{
	char *end;
	long v;

	/* no sign, no blank, no "0x": what sysfs writes and nothing else */
	if (!(isdigit((unsigned char)s[0]) ||
	    (base == 16 && isxdigit((unsigned char)s[0]))) ||
	    (base == 16 && strchr(s, 'x') != NULL))
		return -EBADMSG;
	errno = 0;
	v = strtol(s, &end, base);
	if (errno != 0 || *end != '\0' || end == s || v < 0 || v > max)
		return -EBADMSG;
	return (int)v;
}

int
kd_usb_attr_uint(int dirfd, const char *name, int base, long max)
{
	char buf[KD_USB_ATTR_MAX];
	int n;

	if ((n = kd_usb_attr_read(dirfd, name, buf, sizeof(buf))) < 0)
		return n;
	return kd_usb_parse_uint(buf, base, max);
}

/* value into the attribute, then read back */
int
kd_usb_attr_set(int dirfd, const char *name, int value)
{
	char text[16];
	int fd, err;

	if ((fd = kd_usb_attr_open(dirfd, name, O_WRONLY | O_TRUNC)) < 0)
		return fd;
	snprintf(text, sizeof(text), "%d\n", value);
	if ((err = kk_write_all(fd, text, strlen(text))) < 0)
		goto out;
	err = kd_usb_attr_uint(dirfd, name, 10, 1);
	if (err >= 0)
		err = err == value ? 0 : -EIO;
out:
	close(fd);
	return err;
}

int
kd_usb_probe(const char *sysfs, const char *driver, const char *name)
{
	char path[PATH_MAX], line[KD_USB_ATTR_MAX];
	int dfd, ddfd, fd, err, n;

	n = snprintf(line, sizeof(line), "%s\n", name);
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    snprintf(path, sizeof(path), "%s/bus/usb", sysfs) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	if (driver != NULL && (driver[0] == '\0' || driver[0] == '.' ||
	    strchr(driver, '/') != NULL))
		return -EINVAL;
	if ((dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	/*
	 * sysfs takes the name whatever the offset (the newline is
	 * allowed); O_APPEND lets a built tree's file keep every name.
	 */
	if (driver == NULL) {
		fd = kd_usb_attr_open(dfd, "drivers_probe", O_WRONLY | O_APPEND);
	} else if ((ddfd = openat(dfd, "drivers", O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) < 0) {
		fd = -errno;
	} else {
		fd = kd_usb_open_dir(ddfd, driver, false);
		close(ddfd);
		if (fd >= 0) {
			ddfd = fd;
			fd = kd_usb_attr_open(ddfd, "bind", O_WRONLY | O_APPEND);
			close(ddfd);
		}
	}
	close(dfd);
	if (fd < 0)
		return fd;
	err = kk_write_all(fd, line, (size_t)n);
	close(fd);
	return err;
}

/*
 * Writes that wait on a device (usb_sysfs.h): the devices, each with the
 * directory its write goes through.
 */
static pthread_mutex_t waiting_lock = PTHREAD_MUTEX_INITIALIZER;
static struct waiting {
	char dev[KD_USB_WAITING_NAME_MAX];	/* "" if free */
	int fd;				/* the interface's directory, its own */
} waiting[KD_USB_WAITING_MAX];

static struct waiting *
waiting_find(const char *dev)
{
	int i;

	for (i = 0; i < KD_USB_WAITING_MAX; i++)
		if (strcmp(waiting[i].dev, dev) == 0)
			return &waiting[i];
	return NULL;
}

int
kd_usb_waiting_take(const char *dev, int fd)
{
	struct waiting *c;
	int err = 0;

	pthread_mutex_lock(&waiting_lock);
	if (waiting_find(dev) != NULL)
		err = -EINPROGRESS;
	else if ((c = waiting_find("")) == NULL)
		err = -EBUSY;
	else {
		snprintf(c->dev, sizeof(c->dev), "%s", dev);
		c->fd = fd;
	}
	pthread_mutex_unlock(&waiting_lock);
	return err;
}

void
kd_usb_waiting_drop(const char *dev)
{
	struct waiting *c;

	pthread_mutex_lock(&waiting_lock);
	if ((c = waiting_find(dev)) != NULL) {
		close(c->fd);
		c->dev[0] = '\0';
		c->fd = -1;
	}
	pthread_mutex_unlock(&waiting_lock);
}

int
kd_usb_waiting_fd(const char *dev)
{
	struct waiting *c;
	int fd = -1;

	pthread_mutex_lock(&waiting_lock);
	if ((c = waiting_find(dev)) != NULL)
		fd = c->fd;
	pthread_mutex_unlock(&waiting_lock);
	return fd;
}

bool
kd_usb_waiting(const char *iface)
{
	char dev[KD_USB_WAITING_NAME_MAX];
	bool found;

	if (!kd_usb_device_of(iface, dev, sizeof(dev)))
		return false;
	pthread_mutex_lock(&waiting_lock);
	found = waiting_find(dev) != NULL;
	pthread_mutex_unlock(&waiting_lock);
	return found;
}

bool
kd_usb_device_of(const char *iface, char *dev, size_t len)
{
	snprintf(dev, len, "%.*s", (int)strcspn(iface, ":"), iface);
	return dev[0] != '\0';
}

int
kd_usb_open_dir(int dfd, const char *name, bool follow)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    (follow ? 0 : O_NOFOLLOW));

	return fd < 0 ? -errno : fd;
}

/*
 * fn for each entry of dfd (not . and ..), at most KD_USB_ENTRIES_MAX:
 * -E2BIG past that.  fn's negative return stops the walk.
 */
int
kd_usb_each_entry(int dfd, int (*fn)(int dfd, const char *name, void *arg),
    void *arg)
{
	struct dirent *de;
	DIR *dir;
	size_t n = 0;
	int fd, err = 0;

	if ((fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	if ((dir = fdopendir(fd)) == NULL) {
		err = -errno;
		close(fd);
		return err;
	}
	while (err == 0) {
		errno = 0;
		if ((de = readdir(dir)) == NULL) {
			err = -errno;
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (++n > KD_USB_ENTRIES_MAX) {
			err = -E2BIG;
			break;
		}
		err = fn(dfd, de->d_name, arg);
	}
	closedir(dir);
	return err;
}

/* ---- block devices and mounts below a storage interface ---- */

struct devs_walk {
	dev_t *devs;
	size_t max, n;
	const char *prefix;		/* of the names followed at this level */
	int level;
};

static int
add_dev(int fd, struct devs_walk *w)
{
	char buf[KD_USB_ATTR_MAX], *colon;
	int maj, min;

	if (kd_usb_attr_read(fd, "dev", buf, sizeof(buf)) < 0 ||
	    (colon = strchr(buf, ':')) == NULL)
		return 0;
	*colon = '\0';
	if ((maj = kd_usb_parse_uint(buf, 10, 4095)) < 0 ||
	    (min = kd_usb_parse_uint(colon + 1, 10, 1048575)) < 0)
		return 0;
	if (w->n == w->max)
		return -E2BIG;
	w->devs[w->n++] = makedev((unsigned)maj, (unsigned)min);
	return 0;
}

/*
 * The levels below an interface: host*, target*, H:C:T:L, block, the
 * disk, its partitions (named after it).  Real directories only: the
 * links of sysfs (device, subsystem, ...) lead back up, into loops.
 */
static int
walk_level(int dfd, const char *name, void *arg)
{
	struct devs_walk *w = arg, sub;
	int fd, err = 0;

	switch (w->level) {
	case 0:
		if (strncmp(name, "host", 4) != 0)
			return 0;
		break;
	case 1:
		if (strncmp(name, "target", 6) != 0)
			return 0;
		break;
	case 2:
		if (strchr(name, ':') == NULL)
			return 0;
		break;
	case 3:
		if (strcmp(name, "block") != 0)
			return 0;
		break;
	case 4:
		break;
	default:
		if (strncmp(name, w->prefix, strlen(w->prefix)) != 0 ||
		    strcmp(name, w->prefix) == 0)
			return 0;
		break;
	}
	if ((fd = kd_usb_open_dir(dfd, name, false)) < 0)
		return 0;	/* a link or a file: not followed */
	sub = *w;
	sub.level = w->level + 1;
	if (w->level >= 4) {
		err = add_dev(fd, &sub);
		if (err == 0 && w->level == 4) {
			sub.prefix = name;
			err = kd_usb_each_entry(fd, walk_level, &sub);
		}
	} else {
		err = kd_usb_each_entry(fd, walk_level, &sub);
	}
	w->n = sub.n;
	close(fd);
	return err;
}

int
kd_usb_block_devs(int ifacefd, dev_t *devs, size_t max, size_t *ndevs)
{
	struct devs_walk w = { devs, max, 0, "", 0 };
	int err;

	err = kd_usb_each_entry(ifacefd, walk_level, &w);
	*ndevs = w.n;
	return err;
}

/* "ID PARENT MAJ:MIN ROOT POINT OPTS [TAGS...] - FSTYPE SOURCE SUPEROPTS" */
static bool
parse_mount_line(char *line, struct kd_usb_mount *m)
{
	char *field[64], *save = NULL, *tok, *colon;
	size_t n = 0, dash;
	int maj, min;

	for (tok = strtok_r(line, " ", &save); tok && n < 64;
	    tok = strtok_r(NULL, " ", &save))
		field[n++] = tok;
	for (dash = 6; dash < n && strcmp(field[dash], "-") != 0; dash++)
		;
	if (n < 10 || dash + 3 >= n)
		return false;
	if ((colon = strchr(field[2], ':')) == NULL)
		return false;
	*colon = '\0';
	if ((maj = kd_usb_parse_uint(field[2], 10, 4095)) < 0 ||
	    (min = kd_usb_parse_uint(colon + 1, 10, 1048575)) < 0)
		return false;
	kk_unescape_octal(field[4]);
	if (field[4][0] != '/' || strlen(field[4]) >= sizeof(m->point))
		return false;
	snprintf(m->point, sizeof(m->point), "%s", field[4]);
	m->dev = makedev((unsigned)maj, (unsigned)min);
	m->ro = strcmp(field[dash + 3], "ro") == 0 ||
	    strncmp(field[dash + 3], "ro,", 3) == 0;
	return true;
}

int
kd_usb_mounts_on(const char *mountinfo, const dev_t *devs, size_t ndevs,
    struct kd_usb_mount **mounts, size_t *nmounts)
{
	struct kd_usb_mount m, *out = NULL;
	char *line = NULL;
	size_t cap = 0, total = 0, i, n = 0;
	ssize_t len;
	FILE *f = NULL;
	int fd, err = 0;

	*mounts = NULL;
	*nmounts = 0;
	if (ndevs == 0)
		return 0;
	/* line by line: procfs says size 0; never blocking on a FIFO */
	if ((fd = open(mountinfo, O_RDONLY | O_NONBLOCK | O_CLOEXEC |
	    O_NOCTTY)) < 0)
		return -errno;
	if ((f = fdopen(fd, "r")) == NULL) {
		err = -errno;
		close(fd);
		goto out;
	}
	while (err == 0 && (len = getline(&line, &cap, f)) > 0) {
		if ((total += (size_t)len) > KD_USB_MOUNTINFO_MAX) {
			err = -EFBIG;
			break;
		}
		line[strcspn(line, "\n")] = '\0';
		if (!parse_mount_line(line, &m))
			continue;
		for (i = 0; i < ndevs && devs[i] != m.dev; i++)
			;
		if (i == ndevs)
			continue;
		if (n == KD_USB_MOUNTS_MAX)
			err = -E2BIG;
		else if (out == NULL &&
		    (out = calloc(KD_USB_MOUNTS_MAX, sizeof(*out))) == NULL)
			err = -ENOMEM;
		else
			out[n++] = m;
	}
	if (err == 0 && ferror(f))
		err = -EIO;
out:
	if (f != NULL)
		fclose(f);
	free(line);
	if (err < 0) {
		free(out);
		return err;
	}
	*mounts = out;
	*nmounts = n;
	return 0;
}

unsigned long
kd_usb_remount_flags(unsigned long st_flag)
{
	static const struct { unsigned long st, ms; } keep[] = {
		{ ST_NOSUID, MS_NOSUID }, { ST_NODEV, MS_NODEV },
		{ ST_NOEXEC, MS_NOEXEC }, { ST_SYNCHRONOUS, MS_SYNCHRONOUS },
		{ ST_NOATIME, MS_NOATIME }, { ST_NODIRATIME, MS_NODIRATIME },
		{ ST_RELATIME, MS_RELATIME },
	};
	unsigned long flags = MS_REMOUNT | MS_RDONLY;
	size_t i;

	/*
	 * A remount sets the mount's own flags too: those not given are
	 * cleared (nosuid, nodev, noexec lost) and the kernel's default
	 * atime (relatime) is taken unless another is asked for.
	 */
	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (st_flag & keep[i].st)
			flags |= keep[i].ms;
	if (!(st_flag & (ST_NOATIME | ST_RELATIME)))
		flags |= MS_STRICTATIME;
	return flags;
}

int
kd_usb_remount_ro(const char *point, dev_t dev)
{
	struct statvfs sv;
	struct stat st;
	char self[64];
	int fd, err = 0;

	fd = open(point, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK);
	if (fd < 0)
		return -errno;
	/* the mount point may have been swapped since mountinfo was read */
	if (fstat(fd, &st) < 0 || fstatvfs(fd, &sv) < 0) {
		err = -errno;
		goto out;
	}
	if (st.st_dev != dev) {
		err = -ESTALE;
		goto out;
	}
	if (syncfs(fd) < 0) {
		err = -errno;
		goto out;
	}
	/* through the fd: the path is not looked up again */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	if (mount(NULL, self, NULL, kd_usb_remount_flags(sv.f_flag), NULL) < 0)
		err = -errno;
out:
	close(fd);
	return err;
}

/*
 * One mount's sync and remount, in a thread of its own: syncfs(2) waits,
 * and cannot be interrupted, until every dirty page reached the disk,
 * minutes on a slow stick, and kakurid's loop (the staff's button, the
 * CSIRT's commands, the tamper checks) must not wait with it.  Whoever
 * is done last (the thread, or the caller that stopped waiting) frees it.
 */
struct remount_job {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int (*work)(const char *point, dev_t dev);
	char point[PATH_MAX];
	dev_t dev;
	int err;
	bool done;
	bool abandoned;
};

static void
remount_job_free(struct remount_job *j)
{
	pthread_cond_destroy(&j->cond);
	pthread_mutex_destroy(&j->lock);
	free(j);
}

static void *
remount_thread(void *arg)
{
	struct remount_job *j = arg;
	int err = j->work(j->point, j->dev);
	bool orphan;

	pthread_mutex_lock(&j->lock);
	j->err = err;
	j->done = true;
	orphan = j->abandoned;
	pthread_cond_signal(&j->cond);
	pthread_mutex_unlock(&j->lock);
	if (orphan)
		remount_job_free(j);
	return NULL;
}

int
kd_usb_remount_ro_by(const char *point, dev_t dev, long long deadline_ms)
{
	return kd_usb_call_by(kd_usb_remount_ro, point, dev, deadline_ms);
}

int
kd_usb_call_by(int (*work)(const char *point, dev_t dev), const char *point,
    dev_t dev, long long deadline_ms)
{
	struct remount_job *j;
	pthread_condattr_t ca;
	pthread_attr_t ta;
	struct timespec ts;
	pthread_t t;
	int err, r = 0;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return -ENOMEM;
	if (snprintf(j->point, sizeof(j->point), "%s", point) >=
	    (int)sizeof(j->point)) {
		free(j);
		return -ENAMETOOLONG;
	}
	j->dev = dev;
	j->work = work;
	pthread_mutex_init(&j->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_attr_init(&ta);
	pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&t, &ta, remount_thread, j);
	pthread_attr_destroy(&ta);
	if (err != 0) {
		remount_job_free(j);
		return -err;
	}
	ts.tv_sec = deadline_ms / 1000;
	ts.tv_nsec = (long)(deadline_ms % 1000) * 1000000L;
	pthread_mutex_lock(&j->lock);
	while (!j->done && r != ETIMEDOUT)
		r = pthread_cond_timedwait(&j->cond, &j->lock, &ts);
	if (j->done) {
		err = j->err;
		pthread_mutex_unlock(&j->lock);
		remount_job_free(j);
		return err;
	}
	/*
	 * Still syncing: the thread is left to finish (the interface is
	 * cut next, and a disk that is gone ends the sync with an error)
	 * and frees the job then.
	 */
	j->abandoned = true;
	pthread_mutex_unlock(&j->lock);
	return -ETIMEDOUT;
}
