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

/* One line of a mountinfo file, as pointers into it (not terminated). */
struct mi_line {
	unsigned long long id;
	unsigned maj, mnr;
	const char *mp;		/* mount point, still escaped (\ooo) */
	size_t mplen;
	const char *fstype;
	size_t fslen;
	const char *sopts;	/* super options, still escaped */
	size_t soptslen;
};

/*
 * "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE
 * SUPEROPTS": the kernel escapes space, tab, newline and backslash in
 * every field (\ooo), so a space always ends one.  len excludes '\n'.
 */
static bool
mi_parse(const char *line, size_t len, struct mi_line *m)
{
	const char *p = line, *end = line + len, *f[5];
	char num[24];
	size_t n;
	int i;

	memset(m, 0, sizeof(m[0]));
	/* the first five fields */
	for (i = 0; i < 5; i++) {
		f[i] = p;
		while (p < end && *p != ' ')
			p++;
		if (p == end)
			return false;
		p++;
	}
	n = (size_t)(f[1] - f[0] - 1);
	if (n == 0 || n >= sizeof(num))
		return false;
	memcpy(num, f[0], n);
	num[n] = '\0';
	if (sscanf(num, "%llu", &m->id) != 1 ||
	    sscanf(f[2], "%u:%u ", &m->maj, &m->mnr) != 2)
		return false;
	m->mp = f[4];
	m->mplen = (size_t)(p - f[4] - 1);
	/* the separator: the first field that is "-" alone */
	for (; p + 2 <= end; p++)
		if (p[-1] == ' ' && p[0] == '-' && p[1] == ' ')
			break;
	if (p + 2 > end)
		return false;
	m->fstype = p += 2;
	while (p < end && *p != ' ')
		p++;
	m->fslen = (size_t)(p - m->fstype);
	/* the source, then the super options (may be absent) */
	while (p < end && *p == ' ')
		p++;
	while (p < end && *p != ' ')
		p++;
	if (p < end)
		p++;
	m->sopts = p;
	while (p < end && *p != ' ')
		p++;
	m->soptslen = (size_t)(p - m->sopts);
	return m->fslen > 0;
}

/* The next line of text at *pos, or false at its end. */
static bool
mi_next(const char *text, size_t *pos, const char **line, size_t *len)
{
	const char *nl;

	if (text[*pos] == '\0')
		return false;
	*line = text + *pos;
	nl = strchr(*line, '\n');
	*len = nl != NULL ? (size_t)(nl - *line) : strlen(*line);
	*pos += *len + (nl != NULL);
	return true;
}

/*
 * A mountinfo field without its octal escapes (\ooo), into out.  -EINVAL
 * for a backslash that starts no escape, -ENAMETOOLONG.
 */
static int
mi_unescape(const char *in, size_t n, char *out, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (o + 1 >= len)
			return -ENAMETOOLONG;
		if (in[i] != '\\') {
			out[o++] = in[i];
			continue;
		}
		if (i + 3 >= n)
			return -EINVAL;
		if (in[i + 1] < '0' || in[i + 1] > '3' ||
		    in[i + 2] < '0' || in[i + 2] > '7' ||
		    in[i + 3] < '0' || in[i + 3] > '7')
			return -EINVAL;
		out[o++] = (char)((in[i + 1] - '0') << 6 |
		    (in[i + 2] - '0') << 3 | (in[i + 3] - '0'));
		i += 3;
	}
	out[o] = '\0';
	return 0;
}

/* A field of a mi_line into out (NUL-terminated), -ENAMETOOLONG. */
static int
mi_copy(const char *f, size_t n, char *out, size_t len)
{
	if (n == 0 || n >= len)
		return -ENAMETOOLONG;
	memcpy(out, f, n);
	out[n] = '\0';
	return 0;
}

int
kk_mountinfo_read(pid_t pid, char **text)
{
	char path[96];
	size_t tl;
	int attempt, r = -ESRCH;

	*text = NULL;
	for (attempt = 0; attempt < PROC_TRIES; attempt++) {
		if (pid <= 0)
			snprintf(path, sizeof(path), "/proc/self/mountinfo");
		else if ((r = proc_leaf(pid, attempt, "mountinfo", path,
		    sizeof(path))) < 0)
			return r;
		r = kk_read_text(path, MOUNTINFO_MAX, text, &tl);
		if (pid <= 0 || !leader_gone_error(r))
			break;
	}
	return r == -ENOENT ? -ESRCH : r;
}

/*
 * The line of the first mount in a mount table whose mount id is mnt_id,
 * or, when by_dev, whose device is maj:mnr.
 */
static int
mountinfo_find(const char *text, bool by_dev, uint64_t mnt_id, unsigned maj,
    unsigned mnr, struct mi_line *m)
{
	const char *line;
	size_t pos = 0, n;

	while (mi_next(text, &pos, &line, &n)) {
		if (!mi_parse(line, n, m))
			continue;
		if (by_dev ? m->maj == maj && m->mnr == mnr : m->id == mnt_id)
			return 0;
	}
	return -ENOENT;
}

/*
 * The type of the first mount in pid's mount table (0: ours) whose mount
 * id is mnt_id, or, when by_dev, whose device is maj:mnr.
 */
static int
mountinfo_fstype(pid_t pid, bool by_dev, uint64_t mnt_id, unsigned maj,
    unsigned mnr, char *out, size_t len)
{
	struct mi_line m;
	char *text;
	int r;

	if ((r = kk_mountinfo_read(pid, &text)) < 0)
		return r;
	if ((r = mountinfo_find(text, by_dev, mnt_id, maj, mnr, &m)) == 0)
		r = mi_copy(m.fstype, m.fslen, out, len);
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

/* Is key=... the option at p (up to end)? */
static bool
opt_is(const char *p, const char *end, const char *key)
{
	size_t n = strlen(key);

	return (size_t)(end - p) > n && memcmp(p, key, n) == 0 && p[n] == '=';
}

int
kk_ovl_layers(const char *sopts, char *buf, size_t len, size_t *nlayers)
{
	const char *p, *end, *q;
	char *text;
	size_t n = strlen(sopts), w = 0, start = 0;
	bool list, path, lower = false;
	int r;

	*nlayers = 0;
	if (len < 2)
		return -ENAMETOOLONG;
	if ((text = malloc(n + 1)) == NULL)
		return -ENOMEM;
	if ((r = mi_unescape(sopts, n, text, n + 1)) < 0)
		goto out;
	end = text + strlen(text);
	/*
	 * Options are separated by ',', the paths of lowerdir by ':' and its
	 * data-only layers by "::"; overlayfs puts a backslash before a ',',
	 * ':' or '\' that belongs to a path.  Every character is looked at
	 * once: the loops are bounded by the text.
	 */
	for (p = text; p < end; p = q + 1) {
		list = opt_is(p, end, "lowerdir");
		path = list || opt_is(p, end, "upperdir") ||
		    opt_is(p, end, "lowerdir+") || opt_is(p, end, "datadir+");
		lower = lower || list || opt_is(p, end, "lowerdir+");
		for (q = p; q < end && *q != '=' && *q != ','; q++)
			;
		if (!path) {
			/* another option, whose value is no layer */
			for (; q < end && *q != ','; q++)
				if (*q == '\\' && q + 1 < end)
					q++;
			continue;
		}
		for (q++; ; q++) {
			if (q == end || *q == ',' || (list && *q == ':')) {
				/* a path ends: it must be absolute */
				if (w == start || buf[start] != '/') {
					r = -EINVAL;
					goto out;
				}
				buf[w++] = '\0';
				start = w;
				(*nlayers)++;
				/* "::": data-only layers follow */
				if (list && q + 1 < end && q[0] == ':' &&
				    q[1] == ':')
					q++;
				if (q == end || *q == ',')
					break;
				continue;
			}
			if (*q == '\\' && ++q == end) {
				r = -EINVAL;
				goto out;
			}
			/* room for it, its NUL and the list's */
			if (w + 2 >= len) {
				r = -ENAMETOOLONG;
				goto out;
			}
			buf[w++] = *q;
		}
		if (q == end)
			break;
	}
	r = lower ? 0 : -ENODATA;
out:
	buf[r < 0 ? 0 : w] = '\0';
	if (r < 0)
		*nlayers = 0;
	free(text);
	return r;
}

/* Is path at or below the mount point mp, component by component? */
static bool
path_under(const char *path, const char *mp)
{
	size_t n = strlen(mp);

	if (strcmp(mp, "/") == 0)
		return path[0] == '/';
	return strncmp(path, mp, n) == 0 && (path[n] == '\0' ||
	    path[n] == '/');
}

int
kk_path_mount(const char *table, const char *path, char *fstype, size_t len)
{
	unsigned maj, mnr;

	return kk_path_mount_dev(table, path, fstype, len, &maj, &mnr);
}

int
kk_path_mount_dev(const char *table, const char *path, char *fstype,
    size_t len, unsigned *maj, unsigned *mnr)
{
	struct mi_line m;
	const char *line;
	char mp[PATH_MAX], type[64];
	size_t pos = 0, n, best = 0;
	bool found = false, cur;
	int r = -ENOENT;

	*maj = *mnr = 0;
	if (len == 0)
		return -ENAMETOOLONG;
	fstype[0] = '\0';
	while (mi_next(table, &pos, &line, &n)) {
		/* a mount point longer than PATH_MAX holds no such path */
		if (!mi_parse(line, n, &m) ||
		    mi_unescape(m.mp, m.mplen, mp, sizeof(mp)) < 0 ||
		    !path_under(path, mp) || strlen(mp) < best)
			continue;
		/* a type too long to name (fuse.SUBTYPE) is none we read */
		if (mi_copy(m.fstype, m.fslen, type, sizeof(type)) < 0)
			snprintf(type, sizeof(type), "(a type too long)");
		/*
		 * Mounts stacked on the same point: the top one is the last,
		 * but a file system mounted over the point after the overlay
		 * was made hides the one the overlay took.  Unless all of
		 * them are local, the first that is not is the answer.
		 */
		cur = strlen(mp) == best && found && !kk_fstype_local(fstype);
		if (cur)
			continue;
		if ((r = mi_copy(type, strlen(type), fstype, len)) < 0)
			break;
		*maj = m.maj;
		*mnr = m.mnr;
		best = strlen(mp);
		found = true;
	}
	return found && r == 0 ? 0 : r;
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

/* readlink of /proc/PID/leaf (another thread's once the leader is gone). */
static int
proc_readlink(pid_t pid, const char *leaf, char *out, size_t len)
{
	char path[96];
	ssize_t n = -1;
	int attempt, r = -ESRCH;

	out[0] = '\0';
	for (attempt = 0; attempt < PROC_TRIES; attempt++) {
		if ((r = proc_leaf(pid, attempt, leaf, path, sizeof(path))) < 0)
			return r;
		n = readlink(path, out, len - 1);
		r = n < 0 ? -errno : 0;
		if (!leader_gone_error(r))
			break;
	}
	if (r < 0)
		return r;
	out[n] = '\0';
	return 0;
}

/*
 * Is pid in our user namespace?  A user may mount FUSE and overlays in a
 * namespace of his own; those mounts, and the paths their options name,
 * are in no table of ours, so ours says nothing of them.
 */
static bool
same_userns(pid_t pid)
{
	char theirs[64], ours[64];
	ssize_t n;

	n = readlink("/proc/self/ns/user", ours, sizeof(ours) - 1);
	if (n <= 0)
		return false;
	ours[n] = '\0';
	return proc_readlink(pid, "ns/user", theirs, sizeof(theirs)) == 0 &&
	    strcmp(theirs, ours) == 0;
}

/*
 * Is pid's root the root of its mount namespace?  The kernel leaves the
 * mounts a chroot does not reach out of the process's mountinfo, and
 * writes the others' mount points from its root.
 */
static bool
at_ns_root(pid_t pid)
{
	char root[PATH_MAX];

	return proc_readlink(pid, "root", root, sizeof(root)) == 0 &&
	    strcmp(root, "/") == 0;
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
overlay_unreadable(pid_t pid, uint64_t mnt_id, char *why, size_t len)
{
	struct mi_line m;
	char *ptext = NULL, *stext = NULL, *sopts = NULL, *layers = NULL;
	char fstype[64], mp[8], dwhy[256];
	const char *res = why, *l, *table;
	size_t i, n = 0, bl;
	unsigned maj, mnr;
	bool root, own;
	int r;

	snprintf(why, len, "on an overlay whose layers are not known");
	if (kk_mountinfo_read(pid, &ptext) < 0 ||
	    kk_mountinfo_read(0, &stext) < 0)
		goto out;
	own = same_userns(pid);
	table = ptext;
	if (mountinfo_find(ptext, false, mnt_id, 0, 0, &m) < 0) {
		table = stext;
		if (mountinfo_find(stext, false, mnt_id, 0, 0, &m) < 0)
			goto out;
	}
	/* its root is the overlay, or a chroot: its table lacks the layers */
	root = mi_unescape(m.mp, m.mplen, mp, sizeof(mp)) == 0 &&
	    strcmp(mp, "/") == 0;
	if (root || !at_ns_root(pid))
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
		if (!kk_blockdev_local(pid, fstype, maj, mnr, dwhy,
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
	free(stext);
	free(ptext);
	return res;
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
	if (strcmp(fstype, "overlay") == 0)
		return overlay_unreadable(pid, info->mnt_id, why, len);
	/* a local type on a device that reads through a server */
	if (!kk_blockdev_local(pid, fstype, major(info->id.dev),
	    minor(info->id.dev), why, len))
		return why;
	return NULL;
}

bool
kk_dev_readable(pid_t pid, unsigned maj, unsigned mnr, char *why,
    size_t len)
{
	struct mi_line m;
	char *text = NULL, fstype[64];
	uint64_t id = 0;
	pid_t in = pid;
	bool ok = false;

	snprintf(why, len, "its file system is not known");
	/* the process's own mount table, else ours */
	if (kk_mountinfo_read(pid, &text) < 0 ||
	    mountinfo_find(text, true, 0, maj, mnr, &m) < 0) {
		free(text);
		text = NULL;
		in = 0;
		if (kk_mountinfo_read(0, &text) < 0 ||
		    mountinfo_find(text, true, 0, maj, mnr, &m) < 0)
			goto out;
	}
	if (mi_copy(m.fstype, m.fslen, fstype, sizeof(fstype)) < 0)
		goto out;
	id = m.id;
	if (!kk_fstype_local(fstype))
		snprintf(why, len, "on a %s file system (FUSE, network and "
		    "special file systems are not read)", fstype);
	else if (strcmp(fstype, "overlay") == 0)
		ok = in == pid && overlay_unreadable(pid, id, why, len) ==
		    NULL;
	else
		ok = kk_blockdev_local(pid, fstype, maj, mnr, why, len);
out:
	free(text);
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
