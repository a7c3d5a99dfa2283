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
 * Reading then happens only in evidence workers, under a deadline of
 * their own and a kill timer of the parent (preserve.c).  overlayfs is
 * read like a local file system although a layer below it may not be
 * one: that case is left to the deadlines.
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

#define MOUNTINFO_MAX	(16U << 20)
#define STATX_WANT	(STATX_TYPE | STATX_MODE | STATX_INO | STATX_SIZE | \
			 STATX_MNT_ID)

/* File systems whose files are read: local disks and memory. */
static const char *const local_fs[] = {
	"ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "jfs", "reiserfs",
	"bcachefs", "nilfs2", "zfs", "tmpfs", "ramfs", "rootfs", "overlay",
	"squashfs", "erofs", "cramfs", "romfs", "iso9660", "udf", "vfat",
	"msdos", "exfat", "ntfs3", "hfs", "hfsplus", "minix", "ufs",
};

bool
kk_fstype_local(const char *fstype)
{
	return kk_name_find(local_fs, sizeof(local_fs) / sizeof(local_fs[0]),
	    fstype) >= 0;
}

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

int
kk_proc_thread_dir(pid_t pid, unsigned nth, char *out, size_t len)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int r = -ESRCH, tid;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL)
		return -ESRCH;
	while ((de = readdir(d)) != NULL) {
		if ((tid = atoi(de->d_name)) <= 0 || tid == pid || nth-- > 0)
			continue;
		if ((size_t)snprintf(out, len, "/proc/%d/task/%d", (int)pid,
		    tid) >= len)
			r = -ENAMETOOLONG;
		else
			r = 0;
		break;
	}
	closedir(d);
	return r;
}

/*
 * /proc/PID/leaf on the first attempt, then that of the process's other
 * threads, oldest first: a leader that called pthread_exit answers ENOENT
 * or EINVAL (leader_gone_error) for what belonged to its memory and name
 * spaces, and a thread that exits meanwhile ENOENT.
 */
#define PROC_TRIES	(1 + KK_PROC_THREAD_TRIES)

static int
proc_leaf(pid_t pid, int attempt, const char *leaf, char *out, size_t len)
{
	char dir[64];
	int r;

	if (attempt == 0)
		snprintf(dir, sizeof(dir), "/proc/%d", (int)pid);
	else if ((r = kk_proc_thread_dir(pid, (unsigned)attempt - 1, dir,
	    sizeof(dir))) < 0)
		return r;
	if ((size_t)snprintf(out, len, "%s/%s", dir, leaf) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* Is r what the leader's /proc file says once the leader has exited? */
static bool
leader_gone_error(int r)
{
	return r == -ENOENT || r == -EINVAL || r == -ESRCH;
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

	for (attempt = 0; attempt < PROC_TRIES; attempt++) {
		if ((r = proc_leaf(pid, attempt, "exe", path,
		    sizeof(path))) < 0)
			break;
		n = readlink(path, out, len - 1);
		r = n < 0 ? -errno : 0;
		if (!leader_gone_error(r))
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

	for (attempt = 0; attempt < PROC_TRIES; attempt++) {
		if ((r = proc_leaf(pid, attempt, "exe", path, sizeof(path))) < 0)
			return r;
		r = statx_nosync(AT_FDCWD, path, 0, info);
		if (!leader_gone_error(r))
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
 * The type of the first mount in pid's mount table (0: ours) whose mount
 * id is mnt_id, or, when by_dev, whose device is maj:mnr.
 */
static int
mountinfo_fstype(pid_t pid, bool by_dev, uint64_t mnt_id, unsigned maj,
    unsigned mnr, char *out, size_t len)
{
	char path[96], *text = NULL, *line, *next, *sep, *end;
	unsigned long long id;
	unsigned dmaj, dmnr;
	size_t n, tl;
	int r;

	int attempt;

	for (attempt = 0; attempt < PROC_TRIES; attempt++) {
		if (pid <= 0)
			snprintf(path, sizeof(path), "/proc/self/mountinfo");
		else if ((r = proc_leaf(pid, attempt, "mountinfo", path,
		    sizeof(path))) < 0)
			return r;
		r = kk_read_text(path, MOUNTINFO_MAX, &text, &tl);
		if (pid <= 0 || !leader_gone_error(r))
			break;
	}
	if (r < 0)
		return r == -ENOENT ? -ESRCH : r;
	r = -ENOENT;
	for (line = text; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT ... - FSTYPE SOURCE ..." */
		errno = 0;
		id = strtoull(line, &end, 10);
		if (end == line || *end != ' ' || errno != 0)
			continue;
		if (by_dev) {
			if (sscanf(end, " %*u %u:%u ", &dmaj, &dmnr) != 2 ||
			    dmaj != maj || dmnr != mnr)
				continue;
		} else if (id != mnt_id)
			continue;
		if ((sep = strstr(line, " - ")) == NULL)
			break;
		sep += 3;
		n = strcspn(sep, " ");
		if (n == 0 || n >= len) {
			r = -ENAMETOOLONG;
			break;
		}
		memcpy(out, sep, n);
		out[n] = '\0';
		r = 0;
		break;
	}
	free(text);
	return r;
}

int
kk_mount_fstype(pid_t pid, uint64_t mnt_id, char *out, size_t len)
{
	return mountinfo_fstype(pid, false, mnt_id, 0, 0, out, len);
}

int
kk_dev_fstype(pid_t pid, unsigned maj, unsigned mnr, char *out, size_t len)
{
	return mountinfo_fstype(pid, true, 0, maj, mnr, out, len);
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

/* NULL when info names a file that may be read, else why not (in why). */
static const char *
unreadable(pid_t pid, const struct kk_exe_info *info, char *why, size_t len)
{
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
	r = kk_mount_fstype(pid, info->mnt_id, fstype, sizeof(fstype));
	if (r < 0)
		r = kk_mount_fstype(0, info->mnt_id, fstype, sizeof(fstype));
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
	return NULL;
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
	for (attempt = 0; attempt < PROC_TRIES; attempt++) {
		if ((r = proc_leaf(pid, attempt, "exe", path, sizeof(path))) < 0)
			break;
		r = (opath = open(path, O_PATH | O_CLOEXEC)) < 0 ? -errno : 0;
		if (!leader_gone_error(r))
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
