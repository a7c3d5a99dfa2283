/*
 * The executable file of a process, looked at without trusting it.
 *
 * kakurid must never wait on a file an attacker controls: a FUSE server
 * can leave a request unanswered for ever, an NFS or SMB server can be
 * gone, a 4 GiB sparse file takes seconds to read.  Hence:
 *
 *  - The identity of the file (device, inode) comes from statx(2) of the
 *    kernel's link /proc/PID/exe with AT_STATX_DONT_SYNC: the kernel
 *    answers from the inode the process holds.  FUSE and NFS honour
 *    DONT_SYNC and ask no server, and nothing but the link is looked up
 *    (the magic link jumps straight to the file, no path is walked).
 *  - The file system type comes from the mount table the kernel writes
 *    for the process (/proc/PID/mountinfo, found by the mount id statx
 *    gives), not from fstatfs(2): FUSE sends STATFS to its server, and
 *    open(2) sends it OPEN.
 *  - Only a regular file on a local disk or memory file system is opened
 *    for reading (an allow-list: a type this file does not know is not
 *    read).  Everything else is reported as not read, with the reason.
 *  - The file is pinned with an O_PATH open first (which calls nothing of
 *    the file system) and reopened through /proc/self/fd: a process that
 *    executes another file between the check and the open cannot swap a
 *    FUSE file in.
 *
 *  - overlayfs is local only if every layer below it is: opening an
 *    overlay file opens the file of a layer, and a layer on FUSE asks its
 *    server (ovl_open -> fuse_open), who may never answer; that open
 *    cannot be interrupted, and a worker killed in it stays in the kernel.
 *    The layers are read from the overlay's super options in the mount
 *    table and each placed on the mount whose mount point is the longest
 *    prefix of its path (overlay_unreadable); an overlay whose layers are
 *    not all found on local file systems, that lies on another overlay,
 *    or whose layers only a table of another user namespace than ours
 *    could show (a container's or a chroot's root), is not read.  Those
 *    paths are strings the mounter gave: a layer reached through a
 *    symbolic link, or whose mount was detached (umount -l) or covered
 *    by another after the overlay was made, is placed on the wrong
 *    mount; that case is left to the deadlines.
 *
 * Reading then happens only in evidence workers, under a deadline of
 * their own and a kill timer of the parent (preserve.c).
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evidence.h"
#include "mounts.h"

#define STATX_WANT	(STATX_TYPE | STATX_MODE | STATX_INO | STATX_SIZE | \
			 STATX_MNT_ID)

static void
fill_info(const struct statx *sx, struct kk_exe_info *info)
{
	memset(info, 0, sizeof(*info));
	info->id.dev = makedev(sx->stx_dev_major, sx->stx_dev_minor);
	info->id.ino = sx->stx_ino;
	info->have_ino = (sx->stx_mask & STATX_INO) != 0;
	info->size = (sx->stx_mask & STATX_SIZE) ? sx->stx_size : 0;
	info->mode = sx->stx_mode;
	info->mnt_id = sx->stx_mnt_id;
	info->have_mnt = (sx->stx_mask & STATX_MNT_ID) != 0;
}

static int
statx_nosync(int dirfd, const char *path, int flags, struct kk_exe_info *info)
{
	struct statx sx;

	memset(&sx, 0, sizeof(sx));
	if (statx(dirfd, path, flags | AT_STATX_DONT_SYNC, STATX_WANT, &sx) < 0)
		return -errno;
	fill_info(&sx, info);
	return info->have_ino ? 0 : -ENODATA;
}

/*
 * readlink of /proc/PID/exe; "" for kernel threads and exited processes.
 * A process whose leader has exited is read through another thread.
 */
int
kk_exe_name(pid_t pid, char *out, size_t len)
{
	char path[96];
	ssize_t n = -1;
	int attempt, r = -ESRCH;

	for (attempt = 0; attempt < KK_PROC_TRIES; attempt++) {
		if ((r = kk_proc_leaf(pid, attempt, "exe", path,
		    sizeof(path))) < 0)
			break;
		n = readlink(path, out, len - 1);
		r = n < 0 ? -errno : 0;
		if (!kk_proc_leader_gone(r))
			break;
	}
	out[n > 0 ? n : 0] = '\0';
	return r == -ENOENT ? -ESRCH : r;
}

int
kk_exe_stat(pid_t pid, struct kk_exe_info *info)
{
	char path[96];
	int attempt, r = -ESRCH;

	for (attempt = 0; attempt < KK_PROC_TRIES; attempt++) {
		if ((r = kk_proc_leaf(pid, attempt, "exe", path, sizeof(path))) < 0)
			return r;
		r = statx_nosync(AT_FDCWD, path, 0, info);
		if (!kk_proc_leader_gone(r))
			break;
	}
	/* a kernel thread has no executable; a process that exited neither */
	return r == -ENOENT ? -ESRCH : r;
}

int
kk_path_id(const char *path, struct kk_file_id *id)
{
	struct kk_exe_info info;
	int r;

	if ((r = statx_nosync(AT_FDCWD, path, 0, &info)) < 0)
		return r;
	*id = info.id;
	return 0;
}

/*
 * The device of the kernel's internal shmem mount, which holds every file
 * memfd_create(2) makes.  A program run from one (fexecve: "fileless"
 * malware) has its executable there, on a mount that is in no mount
 * table; it is memory, with no server to wait on, so it is read.  The
 * device is learnt from a memfd of our own by kk_exe_prepare, in the
 * parent before evidence workers are forked (their filters allow no
 * memfd_create); not learnt, such a file is not read.
 */
static dev_t shm_dev;
static bool shm_dev_learnt;

void
kk_exe_prepare(void)
{
	struct stat st;
	int fd;

	if (shm_dev_learnt)
		return;
	shm_dev_learnt = true;
	if ((fd = memfd_create("kakuri-shm-dev", MFD_CLOEXEC)) < 0)
		return;
	if (fstat(fd, &st) == 0)
		shm_dev = st.st_dev;
	close(fd);
}

/*
 * Why an executable on overlay mount mnt_id may not be read, or NULL.
 * Opening an overlay file opens the file of a layer below it, and a layer
 * on FUSE asks its server (ovl_open), who may never answer.  The layers
 * are learnt from the mount tables only: the overlay's super options in
 * the process's mountinfo name them, and each is placed on the mount
 * whose mount point is the longest prefix of its path.  Those paths are
 * the mounter's: when the process's root is the overlay (a container),
 * is no namespace's root (a chroot) or a layer falls on an overlay in its
 * table, ours (the host's) is asked, if the process is in our user
 * namespace; otherwise the overlay may be a user's own, and is not read.
 */
static const char *
overlay_unreadable(struct kk_mount_tables *mt, uint64_t mnt_id, char *why,
    size_t len)
{
	struct kk_mount_line m;
	char *sopts = NULL, *layers = NULL;
	char fstype[64], mp[8], dwhy[256];
	const char *res = why, *l, *table, *ptext, *stext;
	pid_t pid = mt->pid;
	size_t i, n = 0, bl;
	unsigned maj, mnr;
	bool root, own;
	int r;

	snprintf(why, len, "on an overlay whose layers are not known");
	if ((ptext = kk_mount_tables_get(mt, KK_MT_PROC)) == NULL ||
	    (stext = kk_mount_tables_get(mt, KK_MT_OURS)) == NULL ||
	    (r = kk_mount_tables_find(mt, false, false, mnt_id, 0, 0,
	    &m)) < 0)
		goto out;
	own = kk_proc_same_ns(pid, "user");
	table = r == KK_MT_PROC ? ptext : stext;
	/* its root is the overlay, or a chroot: its table lacks the layers */
	root = kk_mi_unescape(m.mp, m.mplen, mp, sizeof(mp)) == 0 &&
	    strcmp(mp, "/") == 0;
	if (root || !kk_proc_at_ns_root(pid))
		table = stext;
	if (table == stext && !own) {
		snprintf(why, len, "on an overlay whose layers are not known "
		    "(mounted in another user namespace)");
		goto out;
	}
	bl = m.soptslen + 2;
	if ((sopts = malloc(m.soptslen + 1)) == NULL ||
	    (layers = malloc(bl)) == NULL)
		goto out;
	memcpy(sopts, m.sopts, m.soptslen);
	sopts[m.soptslen] = '\0';
	if ((r = kk_ovl_layers(sopts, layers, bl, &n)) < 0) {
		snprintf(why, len, "on an overlay whose layers are not known "
		    "(%s)", r == -ENODATA ? "no lowerdir in its options" :
		    "its options cannot be read");
		goto out;
	}
	for (i = 0, l = layers; i < n; i++, l += strlen(l) + 1) {
		r = kk_path_mount_dev(table, l, fstype, sizeof(fstype), &maj,
		    &mnr);
		if (r == 0 && table == ptext && own &&
		    strcmp(fstype, "overlay") == 0)
			r = kk_path_mount_dev(stext, l, fstype, sizeof(fstype),
			    &maj, &mnr);
		if (r < 0)
			goto out;
		if (strcmp(fstype, "overlay") == 0) {
			snprintf(why, len, "on an overlay over an overlay "
			    "(its layers are not looked for further)");
			goto out;
		}
		if (!kk_fstype_local(fstype)) {
			snprintf(why, len, "on an overlay over a %s file "
			    "system (FUSE, network and special file systems "
			    "are not read)", fstype);
			goto out;
		}
		/* a local type on a device that reads through a server */
		if (!kk_blockdev_local_in(mt, fstype, maj, mnr, dwhy,
		    sizeof(dwhy))) {
			snprintf(why, len, "on an overlay whose layer is %s",
			    dwhy);
			goto out;
		}
	}
	res = NULL;
	why[0] = '\0';
out:
	free(layers);
	free(sopts);
	return res;
}

/* NULL when info names a file that may be read, else why not (in why). */
static const char *
unreadable_in(struct kk_mount_tables *mt, const struct kk_exe_info *info,
    char *why, size_t len)
{
	struct kk_mount_line m;
	char fstype[64];
	int r;

	if (!S_ISREG(info->mode)) {
		snprintf(why, len, "not a regular file");
		return why;
	}
	if (shm_dev != 0 && info->id.dev == (uint64_t)shm_dev)
		return NULL;	/* a memfd */
	if (!info->have_mnt) {
		snprintf(why, len, "its file system is not known (no mount "
		    "id)");
		return why;
	}
	/* the process's own mount table, else ours */
	r = kk_mount_tables_find(mt, false, false, info->mnt_id, 0, 0, &m);
	if (r >= 0)
		r = kk_mi_copy(m.fstype, m.fslen, fstype, sizeof(fstype));
	else if (mt->r[KK_MT_OURS] < 0)
		r = mt->r[KK_MT_OURS];
	if (r < 0) {
		snprintf(why, len, "its file system is not known (mount %llu "
		    "is in no mount table: %s)",
		    (unsigned long long)info->mnt_id, strerror(-r));
		return why;
	}
	if (!kk_fstype_local(fstype)) {
		snprintf(why, len, "on a %s file system (FUSE, network and "
		    "special file systems are not read)", fstype);
		return why;
	}
	if (strcmp(fstype, "overlay") == 0)
		return overlay_unreadable(mt, info->mnt_id, why, len);
	/* a local type on a device that reads through a server */
	if (!kk_blockdev_local_in(mt, fstype, major(info->id.dev),
	    minor(info->id.dev), why, len))
		return why;
	return NULL;
}

static const char *
unreadable(pid_t pid, const struct kk_exe_info *info, char *why, size_t len)
{
	struct kk_mount_tables mt;
	const char *res;

	kk_mount_tables_init(&mt, pid);
	res = unreadable_in(&mt, info, why, len);
	kk_mount_tables_free(&mt);
	return res;
}

bool
kk_dev_readable(pid_t pid, unsigned maj, unsigned mnr, char *why,
    size_t len)
{
	struct kk_mount_tables mt;
	struct kk_mount_line m;
	char fstype[64];
	bool ok = false;

	snprintf(why, len, "its file system is not known");
	kk_mount_tables_init(&mt, pid);
	/* the process's own mount table, else ours */
	if (kk_mount_tables_find(&mt, false, true, 0, maj, mnr, &m) < 0 ||
	    kk_mi_copy(m.fstype, m.fslen, fstype, sizeof(fstype)) < 0)
		goto out;
	if (!kk_fstype_local(fstype))
		snprintf(why, len, "on a %s file system (FUSE, network and "
		    "special file systems are not read)", fstype);
	else if (strcmp(fstype, "overlay") == 0)
		ok = overlay_unreadable(&mt, m.id, why, len) == NULL;
	else
		ok = kk_blockdev_local_in(&mt, fstype, maj, mnr, why, len);
out:
	kk_mount_tables_free(&mt);
	return ok;
}

int
kk_exe_check(pid_t pid, struct kk_exe_info *info, char *why, size_t whylen)
{
	int r;

	why[0] = '\0';
	if ((r = kk_exe_stat(pid, info)) < 0) {
		snprintf(why, whylen, "%s", r == -ESRCH ? "no executable" :
		    strerror(-r));
		return r;
	}
	return unreadable(pid, info, why, whylen) != NULL ? -EPERM : 0;
}

int
kk_exe_open(pid_t pid, struct kk_exe_info *info, int *fdp, char *why,
    size_t whylen)
{
	struct stat st;
	char path[96];
	int opath = -1, fd = -1, attempt, r = -ESRCH;

	*fdp = -1;
	why[0] = '\0';
	/* O_PATH: the file is pinned, and its file system not called */
	for (attempt = 0; attempt < KK_PROC_TRIES; attempt++) {
		if ((r = kk_proc_leaf(pid, attempt, "exe", path, sizeof(path))) < 0)
			break;
		r = (opath = open(path, O_PATH | O_CLOEXEC)) < 0 ? -errno : 0;
		if (!kk_proc_leader_gone(r))
			break;
	}
	if (r < 0) {
		r = r == -ENOENT ? -ESRCH : r;
		snprintf(why, whylen, "%s", r == -ESRCH ? "no executable" :
		    strerror(-r));
		return r;
	}
	if ((r = statx_nosync(opath, "", AT_EMPTY_PATH, info)) < 0) {
		snprintf(why, whylen, "statx: %s", strerror(-r));
		goto out;
	}
	if (unreadable(pid, info, why, whylen) != NULL) {
		r = -EPERM;
		goto out;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", opath);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		snprintf(why, whylen, "open: %s", strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_dev != info->id.dev ||
	    (uint64_t)st.st_ino != info->id.ino) {
		r = -ESTALE;
		snprintf(why, whylen, "the file changed while it was opened");
		close(fd);
		goto out;
	}
	*fdp = fd;
	r = 0;
out:
	close(opath);
	return r;
}
