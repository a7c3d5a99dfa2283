/*
 * The block device under a "local" file system.  A file system's type
 * says nothing of the device it sits on: an ext4 image on a loop device
 * whose backing file is on a FUSE or network mount (a desktop user sets
 * one up with udisks; root malware with losetup), or on nbd, reads
 * through that server, and a read there waits as long as the server
 * likes, in the kernel, killed or not.  Enough such evidence workers and
 * every snapshot, collect and hash job is refused.
 *
 * So the device is followed down through sysfs, never opened: a
 * partition to its disk, a mapper or md device to each of its slaves, a
 * loop device to the mount its backing file is on (a path as the kernel
 * names it, looked up in the process's mount table and in ours: both
 * must be local, and that mount's device is followed in turn).
 * Network and user-space block devices (nbd, rbd, ublk) are never
 * local; nor is what cannot be followed (too deep, too many slaves, a
 * device sysfs does not know).
 *
 * Not followed: a btrfs or other file system with devices of its own
 * (its files carry an anonymous device number, 0:N, judged by type).
 */
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evidence.h"

#define BD_DEPTH	4	/* devices followed down, one under another */
#define BD_SLAVES	16	/* slaves looked at per device */
/*
 * devices remembered, not loops (their answer is per process): only
 * evidence workers ask, each for one job, so a device made again under
 * the same number later is never answered from here
 */
#define BD_CACHE	8

/* user-space and network block devices: a read waits for their server */
static const char *const remote_prefix[] = { "nbd", "rbd", "ublkb" };

struct bd_walk {
	pid_t pid;
	char *ptable;		/* pid's mount table, read when a loop asks */
	char *stable;		/* ours */
	bool tables_read;
	bool loop_seen;		/* the answer depends on pid's mounts */
	char *why;
	size_t whylen;
};

static struct {
	unsigned maj, mnr;
	bool local;
	char why[160];
} cache[BD_CACHE];
static size_t ncache, cache_next;

/* The first line of a sysfs file (no newline): its length, or -errno. */
static ssize_t
read_line(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return -errno;
	n = kk_read_upto(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return n;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return (ssize_t)strlen(buf);
}

/* KEY=value of a uevent file's text into out: 0, or -ENOENT. */
static int
uevent_value(const char *text, const char *key, char *out, size_t len)
{
	size_t k = strlen(key), n;
	const char *p = text;

	while (*p != '\0') {
		n = strcspn(p, "\n");
		if (n > k && strncmp(p, key, k) == 0 && p[k] == '=') {
			if (n - k - 1 >= len)
				return -ENAMETOOLONG;
			memcpy(out, p + k + 1, n - k - 1);
			out[n - k - 1] = '\0';
			return 0;
		}
		p += n;
		if (*p == '\n')
			p++;
	}
	return -ENOENT;
}

/* The device's name in sysdir (its uevent's DEVNAME), and a partition? */
static int
dev_name(const char *sysdir, char *name, size_t len, bool *partition)
{
	char path[PATH_MAX], text[1024], type[32];
	int fd;
	ssize_t n;

	if (snprintf(path, sizeof(path), "%s/uevent", sysdir) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	n = kk_read_upto(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0)
		return (int)n;
	text[n] = '\0';
	*partition = uevent_value(text, "DEVTYPE", type, sizeof(type)) == 0 &&
	    strcmp(type, "partition") == 0;
	return uevent_value(text, "DEVNAME", name, len);
}

/* why, said: 0 (not local) */
static int __attribute__((format(printf, 2, 3)))
not_local(struct bd_walk *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->why, w->whylen, fmt, ap);
	va_end(ap);
	return 0;
}

static int walk(struct bd_walk *w, unsigned maj, unsigned mnr, int depth);

/*
 * A loop device's backing file (in sysdir/loop/backing_file): on a local
 * mount in both tables, and that mount's device local in turn.  1 local.
 */
static int
loop_local(struct bd_walk *w, const char *sysdir, const char *name,
    int depth)
{
	char path[PATH_MAX], backing[PATH_MAX], fstype[64];
	const char *tables[2];
	unsigned maj, mnr;
	ssize_t n;
	int i;

	w->loop_seen = true;
	if (snprintf(path, sizeof(path), "%s/loop/backing_file", sysdir) >=
	    (int)sizeof(path))
		return not_local(w, "on %s, whose backing file is not known",
		    name);
	if ((n = read_line(path, backing, sizeof(backing))) == -ENOENT)
		return 1;	/* no file: nothing is mounted from it */
	if (n <= 0 || backing[0] != '/')
		return not_local(w, "on %s, whose backing file is not known",
		    name);
	if (!w->tables_read) {
		w->tables_read = true;
		if (w->pid > 0 && kk_mountinfo_read(w->pid, &w->ptable) < 0)
			w->ptable = NULL;
		if (kk_mountinfo_read(0, &w->stable) < 0)
			w->stable = NULL;
	}
	tables[0] = w->ptable;
	tables[1] = w->stable;
	if (tables[1] == NULL)
		return not_local(w, "on %s, whose backing file's mount is "
		    "not known", name);
	for (i = 0; i < 2; i++) {
		if (tables[i] == NULL)
			continue;
		if (kk_path_mount_dev(tables[i], backing, fstype,
		    sizeof(fstype), &maj, &mnr) < 0)
			return not_local(w, "on %s, whose backing file's "
			    "mount is not known", name);
		if (!kk_fstype_local(fstype) ||
		    strcmp(fstype, "overlay") == 0)
			return not_local(w, "on %s, whose backing file is on a "
			    "%s file system (FUSE, network and special file "
			    "systems are not read)", name, fstype);
		if (maj != 0 && !walk(w, maj, mnr, depth + 1))
			return 0;
	}
	return 1;
}

/* Each slave of the device in sysdir local: 1. */
static int
slaves_local(struct bd_walk *w, const char *sysdir, const char *name,
    int depth)
{
	char path[PATH_MAX], dev[32];
	struct dirent *e;
	unsigned maj, mnr;
	size_t k = 0;
	DIR *d;
	int r = 1;

	if (snprintf(path, sizeof(path), "%s/slaves", sysdir) >=
	    (int)sizeof(path) || (d = opendir(path)) == NULL)
		return 1;	/* none */
	while (r && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (++k > BD_SLAVES) {
			r = not_local(w, "on %s, over more devices than are "
			    "followed", name);
			break;
		}
		if (snprintf(path, sizeof(path), "%s/slaves/%s/dev", sysdir,
		    e->d_name) >= (int)sizeof(path) ||
		    read_line(path, dev, sizeof(dev)) <= 0 ||
		    sscanf(dev, "%u:%u", &maj, &mnr) != 2) {
			r = not_local(w, "on %s, over %s, a device that is not "
			    "known", name, e->d_name);
			break;
		}
		r = walk(w, maj, mnr, depth + 1);
	}
	closedir(d);
	return r;
}

/* 1 the device maj:mnr is local, 0 not (w->why says why). */
static int
walk(struct bd_walk *w, unsigned maj, unsigned mnr, int depth)
{
	char sysdir[96], name[64];
	bool partition;
	size_t i;

	if (maj == 0)
		return 1;	/* no block device: the type says */
	if (depth >= BD_DEPTH)
		return not_local(w, "on a stack of block devices deeper than "
		    "is followed");
	snprintf(sysdir, sizeof(sysdir), "/sys/dev/block/%u:%u", maj, mnr);
	if (dev_name(sysdir, name, sizeof(name), &partition) < 0) {
		return not_local(w, "on block device %u:%u, which is not "
		    "known", maj, mnr);
	}
	/* a partition's disk: the loop, its slaves */
	if (partition) {
		strncat(sysdir, "/..", sizeof(sysdir) - strlen(sysdir) - 1);
		if (dev_name(sysdir, name, sizeof(name), &partition) < 0)
			return not_local(w, "on a partition of a disk that is "
			    "not known");
	}
	for (i = 0; i < sizeof(remote_prefix) / sizeof(remote_prefix[0]); i++)
		if (strncmp(name, remote_prefix[i],
		    strlen(remote_prefix[i])) == 0)
			return not_local(w, "on %s, a network or user-space "
			    "block device", name);
	if (strncmp(name, "loop", 4) == 0 &&
	    !loop_local(w, sysdir, name, depth))
		return 0;
	return slaves_local(w, sysdir, name, depth);
}

bool
kk_blockdev_local(pid_t pid, unsigned maj, unsigned mnr, char *why,
    size_t whylen)
{
	struct bd_walk w = { .pid = pid, .why = why, .whylen = whylen };
	size_t i;
	int r;

	if (whylen > 0)
		why[0] = '\0';
	if (maj == 0)
		return true;
	for (i = 0; i < ncache; i++)
		if (cache[i].maj == maj && cache[i].mnr == mnr) {
			snprintf(why, whylen, "%s", cache[i].why);
			return cache[i].local;
		}
	r = walk(&w, maj, mnr, 0);
	free(w.ptable);
	free(w.stable);
	/* a loop's answer is pid's mount table's: not kept */
	if (!w.loop_seen) {
		cache[cache_next].maj = maj;
		cache[cache_next].mnr = mnr;
		cache[cache_next].local = r == 1;
		snprintf(cache[cache_next].why, sizeof(cache[cache_next].why),
		    "%s", r == 1 ? "" : why);
		cache_next = (cache_next + 1) % BD_CACHE;
		if (ncache < BD_CACHE)
			ncache++;
	}
	return r == 1;
}
