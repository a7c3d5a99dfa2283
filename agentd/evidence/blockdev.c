/*
 * The block device under a "local" file system.  A file system's type
 * says nothing of the device it sits on: an ext4 image on a loop device
 * whose backing file is on a FUSE or network mount (a desktop user sets
 * one up with udisks; root malware with losetup), or on nbd, reads
 * through that server, and a read there waits as long as the server
 * likes, in the kernel, killed or not.  Enough such evidence workers and
 * every snapshot, collect and hash job is refused.
 *
 * So the device is followed down through sysfs: a partition to its disk,
 * a mapper or md device to each of its slaves.  A loop device's backing
 * file: first by the path sysfs shows, which must not be on a mount
 * that is not local in our mount table or the process's; then, as a
 * path is text (a mount detached or of another namespace makes it name a
 * local file), the device is asked for that file's device and inode
 * (LOOP_GET_STATUS64, on the node opened read-only).  That asks the
 * file's own file system for the inode's attributes: for a file on FUSE
 * the path did not show (detached, of another namespace), its server,
 * who may not answer; a read of the file would wait there all the same.
 * That device must be a mount of a local type, no overlay, in our mount
 * table or the process's, and is followed in turn (a block device node as
 * backing file: that device).
 * Network and user-space block devices (nbd, rbd, ublk) are never local;
 * nor is what cannot be followed (too deep, too many devices, a device
 * sysfs does not know, a loop device that cannot be asked).
 *
 * A file system with devices of its own carries an anonymous device
 * number (0:N): btrfs is followed through /sys/fs/btrfs (the one with a
 * device of the name its mount's source gives, else every btrfs's
 * devices, as the number does not say which one); erofs and bcachefs,
 * which may read from a file or a daemon, are not read; others (tmpfs,
 * an overlay, judged by its layers elsewhere) are judged by type.
 */
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/loop.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evidence.h"
#include "mounts.h"

#define BD_DEPTH	8	/* devices followed down, one under another */
#define BD_NODES	64	/* devices looked at per question */
#define BD_SLAVES	16	/* slaves per device, btrfs devices per fs */
#define BD_BTRFS	16	/* btrfs file systems */
/*
 * Devices remembered, not one with a loop device in its stack (bound to
 * another file at any time): only evidence workers ask, each for one
 * job, so a device made again under the same number later is not
 * answered from here.
 */
#define BD_CACHE	8

/* user-space and network block devices: a read waits for their server */
static const char *const remote_prefix[] = { "nbd", "rbd", "ublkb" };
/* anonymous-device file systems that may read from a file or a daemon */
static const char *const unfollowed_fs[] = { "erofs", "bcachefs" };

struct bd_walk {
	struct kk_mount_tables *mt;	/* read once per question */
	pid_t pid;
	unsigned nodes;
	bool loop_seen;		/* a loop device: not remembered */
	char *why;
	size_t whylen;
};

static struct {
	unsigned maj, mnr;
	bool local;
	char why[160];
} cache[BD_CACHE];
static size_t ncache, cache_next;

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

/* A small sysfs file's text (NUL-terminated): its length, or -errno. */
static ssize_t
read_text(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	n = kk_read_upto(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return n;
	buf[n] = '\0';
	return n;
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

/*
 * The device in sysdir: its name (uevent's DEVNAME, letters, digits and
 * '-' only), whether it is a partition, and its number ("dev").
 */
static int
dev_info(const char *sysdir, char *name, size_t len, bool *partition,
    dev_t *dev)
{
	char path[PATH_MAX], text[1024], type[32];
	unsigned maj, mnr;
	size_t i;

	if (snprintf(path, sizeof(path), "%s/uevent", sysdir) >=
	    (int)sizeof(path) || read_text(path, text, sizeof(text)) < 0 ||
	    uevent_value(text, "DEVNAME", name, len) < 0 || name[0] == '\0')
		return -ENOENT;
	for (i = 0; name[i] != '\0'; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '-'))
			return -EINVAL;
	*partition = uevent_value(text, "DEVTYPE", type, sizeof(type)) == 0 &&
	    strcmp(type, "partition") == 0;
	if (snprintf(path, sizeof(path), "%s/dev", sysdir) >=
	    (int)sizeof(path) || read_text(path, text, sizeof(text)) < 0 ||
	    sscanf(text, "%u:%u", &maj, &mnr) != 2)
		return -ENOENT;
	*dev = makedev(maj, mnr);
	return 0;
}

static int walk(struct bd_walk *w, const char *fstype, unsigned maj,
    unsigned mnr, int depth);

/*
 * The type of the mount of device dev (and its source, escapes undone,
 * if source is not NULL): in our mount table, else in the process's (a
 * mount of its own namespace).  0, or -ENOENT.
 */
static int
mount_type(struct bd_walk *w, dev_t dev, char *fstype, size_t len,
    char *source, size_t slen)
{
	struct kk_mount_line m;

	if (kk_mount_tables_find(w->mt, true, true, 0, major(dev), minor(dev),
	    &m) < 0 || kk_mi_copy(m.fstype, m.fslen, fstype, len) < 0 ||
	    (source != NULL && kk_mi_unescape(m.source, m.sourcelen, source,
	    slen) < 0))
		return -ENOENT;
	return 0;
}

/*
 * The path the loop device in sysdir shows for its backing file, under
 * a mount that is not local (or an overlay) in our mount table or the
 * process's, any of them (one mounted over another hides it, not the
 * file): 0 (not local, said).  1 if none is.  Asking the device would ask
 * the file's own file system for its inode (a FUSE server may never
 * answer), so this comes first; a path is text, which a mount detached or
 * of another namespace makes name a local file, hence the asking after.
 * A path of a file no longer named (" (deleted)") is not looked up, nor
 * is one the process's table, from a chroot, writes from another root.
 * A block device node (on devtmpfs, answered from memory) is asked.
 */
static int
loop_path_local(struct bd_walk *w, const char *sysdir, const char *name)
{
	static const char *const nodes[] = { "devtmpfs" };
	static const char deleted[] = " (deleted)";
	char path[PATH_MAX], backing[PATH_MAX], fstype[64];
	const char *table;
	size_t dl = sizeof(deleted) - 1;
	ssize_t n;
	int i, r = 1;

	if (snprintf(path, sizeof(path), "%s/loop/backing_file", sysdir) >=
	    (int)sizeof(path) || (n = read_text(path, backing,
	    sizeof(backing))) <= 1 || backing[0] != '/' ||
	    backing[n - 1] != '\n' || memchr(backing, '\n', (size_t)n - 1) !=
	    NULL)
		return not_local(w, "on %s, whose backing file's path cannot "
		    "be read", name);
	backing[--n] = '\0';
	if ((size_t)n > dl && strcmp(backing + n - dl, deleted) == 0)
		return not_local(w, "on %s, whose backing file is no longer "
		    "named (its path cannot be looked up)", name);
	if (w->pid > 0 && !kk_proc_at_ns_root(w->pid) &&
	    !kk_proc_same_ns(w->pid, "mnt"))
		return not_local(w, "on %s, of a process in a chroot of "
		    "another mount namespace (its mount table does not place "
		    "the backing file)", name);
	for (i = 0; i < 2 && r; i++) {
		/* ours, and the process's if there is one */
		if (i == KK_MT_PROC && w->pid <= 0)
			break;
		if ((table = kk_mount_tables_get(w->mt, i)) == NULL)
			r = not_local(w, "on %s, and a mount table cannot be "
			    "read", name);
		else if (kk_path_mounts_unread(table, backing, nodes, 1,
		    fstype, sizeof(fstype)) == 1)
			r = not_local(w, "on %s, whose backing file's path is "
			    "under a %s mount (FUSE, network and special file "
			    "systems are not read)", name, fstype);
	}
	return r;
}

/*
 * The loop device name (number disk, in sysdir): its backing file, by its
 * path and then asked of the device itself, on a local mount whose device
 * is local in turn.  1 local.  The node is looked for in /dev, else in
 * pid 1's (kakurid's service has a /dev of its own, without block
 * devices).
 */
static int
loop_local(struct bd_walk *w, const char *sysdir, const char *name,
    dev_t disk, int depth)
{
	struct loop_info64 li;
	struct stat st;
	char path[96], fstype[64];
	int fd, r;

	/* bound to another file at any time: never remembered */
	w->loop_seen = true;
	if (!loop_path_local(w, sysdir, name))
		return 0;
	snprintf(path, sizeof(path), "/dev/%s", name);
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		snprintf(path, sizeof(path), "/proc/1/root/dev/%s", name);
		fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC |
		    O_NOFOLLOW);
	}
	if (fd < 0)
		return not_local(w, "on %s, which cannot be asked for its "
		    "backing file (%s)", name, strerror(errno));
	memset(&li, 0, sizeof(li));
	r = fstat(fd, &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == disk &&
	    ioctl(fd, LOOP_GET_STATUS64, &li) == 0;
	close(fd);
	if (!r)
		return not_local(w, "on %s, whose backing file is not known",
		    name);
	/* a block device node as backing file: that device */
	if (li.lo_rdevice != 0)
		return walk(w, "", major(li.lo_rdevice), minor(li.lo_rdevice),
		    depth + 1);
	if (mount_type(w, (dev_t)li.lo_device, fstype, sizeof(fstype), NULL,
	    0) < 0)
		return not_local(w, "on %s, whose backing file is on a mount "
		    "that is in no mount table looked at (detached, or of "
		    "another namespace)", name);
	if (!kk_fstype_local(fstype) || strcmp(fstype, "overlay") == 0)
		return not_local(w, "on %s, whose backing file is on a %s file "
		    "system (FUSE, network and special file systems are not "
		    "read)", name, fstype);
	return walk(w, fstype, major(li.lo_device), minor(li.lo_device),
	    depth + 1);
}

/*
 * Each device listed in dir (entries linking to block devices, each
 * with its "dev"), local: 1.  A directory that is not there lists none.
 */
static int
listed_local(struct bd_walk *w, const char *dir, const char *name, int depth)
{
	char path[PATH_MAX], dev[32];
	struct dirent *e;
	unsigned maj, mnr;
	size_t k = 0;
	DIR *d;
	int r = 1;

	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 1 : not_local(w, "on %s, whose "
		    "devices cannot be listed (%s)", name, strerror(errno));
	while (r && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (++k > BD_SLAVES) {
			r = not_local(w, "on %s, over more devices than are "
			    "followed", name);
			break;
		}
		if (snprintf(path, sizeof(path), "%s/%s/dev", dir,
		    e->d_name) >= (int)sizeof(path) ||
		    read_text(path, dev, sizeof(dev)) <= 0 ||
		    sscanf(dev, "%u:%u", &maj, &mnr) != 2) {
			r = not_local(w, "on %s, over %s, a device that is not "
			    "known", name, e->d_name);
			break;
		}
		r = walk(w, "", maj, mnr, depth + 1);
	}
	closedir(d);
	return r;
}

/*
 * The devices of the btrfs mounted from device source (as the mount
 * table names it: the kernel's name of one of its devices) local: 1.
 * A 0:N number does not say which btrfs it is; the one whose devices
 * hold a device of that name is, else every btrfs's devices are asked.
 */
static int
btrfs_local(struct bd_walk *w, const char *source, int depth)
{
	char path[PATH_MAX], fsids[BD_BTRFS][40];
	const char *base = strrchr(source, '/');
	struct dirent *e;
	size_t k = 0, i;
	DIR *d;
	int r = 1;

	base = base != NULL ? base + 1 : source;
	if ((d = opendir("/sys/fs/btrfs")) == NULL)
		return not_local(w, "on a btrfs whose devices cannot be listed "
		    "(%s)", strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || strcmp(e->d_name, "features") == 0 ||
		    strlen(e->d_name) >= sizeof(fsids[0]))
			continue;
		if (k == BD_BTRFS) {
			closedir(d);
			return not_local(w, "on a btrfs, of more than are "
			    "followed");
		}
		snprintf(fsids[k++], sizeof(fsids[0]), "%s", e->d_name);
	}
	closedir(d);
	/* the one holding that device, if one does */
	for (i = 0; base[0] != '\0' && i < k; i++) {
		snprintf(path, sizeof(path), "/sys/fs/btrfs/%s/devices/%s",
		    fsids[i], base);
		if (faccessat(AT_FDCWD, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
			snprintf(path, sizeof(path), "/sys/fs/btrfs/%s/devices",
			    fsids[i]);
			return listed_local(w, path, "a btrfs", depth);
		}
	}
	for (i = 0; r && i < k; i++) {
		snprintf(path, sizeof(path), "/sys/fs/btrfs/%s/devices",
		    fsids[i]);
		r = listed_local(w, path, "a btrfs", depth);
	}
	return r;
}

/*
 * 1 the device maj:mnr (of a file system of type fstype, "" if not
 * known) is local, 0 not (w->why says why).
 */
static int
walk(struct bd_walk *w, const char *fstype, unsigned maj, unsigned mnr,
    int depth)
{
	char sysdir[96], path[PATH_MAX], name[64];
	bool partition;
	dev_t disk;
	size_t i;

	if (depth >= BD_DEPTH || ++w->nodes > BD_NODES)
		return not_local(w, "on a stack of block devices deeper or "
		    "wider than is followed");
	if (maj == 0) {
		for (i = 0; i < sizeof(unfollowed_fs) /
		    sizeof(unfollowed_fs[0]); i++)
			if (strcmp(fstype, unfollowed_fs[i]) == 0)
				return not_local(w, "on a %s file system, "
				    "whose devices are not followed", fstype);
		if (strcmp(fstype, "btrfs") == 0) {
			/* its source: in our table, else the process's */
			if (mount_type(w, makedev(maj, mnr), name,
			    sizeof(name), path, sizeof(path)) < 0)
				path[0] = '\0';
			return btrfs_local(w, path, depth);
		}
		return 1;	/* no block device: the type says */
	}
	snprintf(sysdir, sizeof(sysdir), "/sys/dev/block/%u:%u", maj, mnr);
	if (dev_info(sysdir, name, sizeof(name), &partition, &disk) < 0)
		return not_local(w, "on block device %u:%u, which is not "
		    "known", maj, mnr);
	/* a partition's disk: the loop, its slaves */
	if (partition) {
		strncat(sysdir, "/..", sizeof(sysdir) - strlen(sysdir) - 1);
		if (dev_info(sysdir, name, sizeof(name), &partition,
		    &disk) < 0)
			return not_local(w, "on a partition of a disk that is "
			    "not known");
	}
	for (i = 0; i < sizeof(remote_prefix) / sizeof(remote_prefix[0]); i++)
		if (strncmp(name, remote_prefix[i],
		    strlen(remote_prefix[i])) == 0)
			return not_local(w, "on %s, a network or user-space "
			    "block device", name);
	if (strncmp(name, "loop", 4) == 0 &&
	    !loop_local(w, sysdir, name, disk, depth))
		return 0;
	snprintf(path, sizeof(path), "%s/slaves", sysdir);
	return listed_local(w, path, name, depth);
}

bool
kk_blockdev_local_in(struct kk_mount_tables *mt, const char *fstype,
    unsigned maj, unsigned mnr, char *why, size_t whylen)
{
	struct bd_walk w = { .mt = mt, .pid = mt->pid, .why = why,
	    .whylen = whylen };
	size_t i;
	int r;

	if (whylen > 0)
		why[0] = '\0';
	for (i = 0; maj != 0 && i < ncache; i++)
		if (cache[i].maj == maj && cache[i].mnr == mnr) {
			snprintf(why, whylen, "%s", cache[i].why);
			return cache[i].local;
		}
	r = walk(&w, fstype != NULL ? fstype : "", maj, mnr, 0);
	/* a loop's answer changes with what it is bound to: not kept */
	if (maj != 0 && !w.loop_seen) {
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

bool
kk_blockdev_local(pid_t pid, const char *fstype, unsigned maj, unsigned mnr,
    char *why, size_t whylen)
{
	struct kk_mount_tables mt;
	bool local;

	kk_mount_tables_init(&mt, pid);
	local = kk_blockdev_local_in(&mt, fstype, maj, mnr, why, whylen);
	kk_mount_tables_free(&mt);
	return local;
}
