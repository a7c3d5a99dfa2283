/*
 * Mount tables (/proc/PID/mountinfo) read as text: the type and device of
 * a mount by its id, its device or a path under it, an overlay's layers
 * from its options; which file system types are read.  Only the text is
 * looked at: no file system is called.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evidence.h"
#include "mounts.h"

#define MOUNTINFO_MAX	(16U << 20)

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


/*
 * "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE
 * SUPEROPTS": the kernel escapes space, tab, newline and backslash in
 * every field (\ooo), so a space always ends one.  len excludes '\n'.
 */
static bool
mi_parse(const char *line, size_t len, struct kk_mount_line *m)
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
	m->source = p;
	while (p < end && *p != ' ')
		p++;
	m->sourcelen = (size_t)(p - m->source);
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
int
kk_mi_unescape(const char *in, size_t n, char *out, size_t len)
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
int
kk_mi_copy(const char *f, size_t n, char *out, size_t len)
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
	for (attempt = 0; attempt < KK_PROC_TRIES; attempt++) {
		if (pid <= 0)
			snprintf(path, sizeof(path), "/proc/self/mountinfo");
		else if ((r = kk_proc_leaf(pid, attempt, "mountinfo", path,
		    sizeof(path))) < 0)
			return r;
		r = kk_read_text(path, MOUNTINFO_MAX, text, &tl);
		if (pid <= 0 || !kk_proc_leader_gone(r))
			break;
	}
	return r == -ENOENT ? -ESRCH : r;
}

/*
 * The line of the first mount in a mount table whose mount id is mnt_id,
 * or, when by_dev, whose device is maj:mnr.
 */
int
kk_mountinfo_find(const char *text, bool by_dev, uint64_t mnt_id, unsigned maj,
    unsigned mnr, struct kk_mount_line *m)
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

void
kk_mount_tables_init(struct kk_mount_tables *mt, pid_t pid)
{
	mt->pid = pid;
	mt->text[KK_MT_OURS] = mt->text[KK_MT_PROC] = NULL;
	mt->r[KK_MT_OURS] = 1;
	mt->r[KK_MT_PROC] = pid > 0 ? 1 : -ENOENT;
}

const char *
kk_mount_tables_get(struct kk_mount_tables *mt, int which)
{
	if (mt->r[which] == 1)
		mt->r[which] = kk_mountinfo_read(which == KK_MT_PROC ?
		    mt->pid : 0, &mt->text[which]);
	return mt->r[which] == 0 ? mt->text[which] : NULL;
}

void
kk_mount_tables_free(struct kk_mount_tables *mt)
{
	free(mt->text[KK_MT_OURS]);
	free(mt->text[KK_MT_PROC]);
	mt->text[KK_MT_OURS] = mt->text[KK_MT_PROC] = NULL;
}

int
kk_mount_tables_find(struct kk_mount_tables *mt, bool ours_first, bool by_dev,
    uint64_t mnt_id, unsigned maj, unsigned mnr, struct kk_mount_line *m)
{
	const char *text;
	int i, which;

	for (i = 0; i < 2; i++) {
		which = (i == 0) == ours_first ? KK_MT_OURS : KK_MT_PROC;
		if ((text = kk_mount_tables_get(mt, which)) != NULL &&
		    kk_mountinfo_find(text, by_dev, mnt_id, maj, mnr, m) == 0)
			return which;
	}
	return -ENOENT;
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
	if ((r = kk_mi_unescape(sopts, n, text, n + 1)) < 0)
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

/*
 * The mount of line (n bytes) if path is at or below its mount point:
 * its mount point (unescaped) and type ("(a type too long)" for one too
 * long to name, fuse.SUBTYPE: none that is read).  A mount point longer
 * than PATH_MAX holds no such path.
 */
static bool
line_over(const char *line, size_t n, const char *path,
    struct kk_mount_line *m, char mp[PATH_MAX], char type[64])
{
	if (!mi_parse(line, n, m) ||
	    kk_mi_unescape(m->mp, m->mplen, mp, PATH_MAX) < 0 ||
	    !path_under(path, mp))
		return false;
	if (kk_mi_copy(m->fstype, m->fslen, type, 64) < 0)
		snprintf(type, 64, "(a type too long)");
	return true;
}

int
kk_path_mounts_unread(const char *table, const char *path,
    const char *const *also, size_t nalso, char *fstype, size_t len)
{
	struct kk_mount_line m;
	const char *line;
	char mp[PATH_MAX], type[64];
	size_t pos = 0, n, i;
	bool ok;

	if (len == 0)
		return -ENAMETOOLONG;
	fstype[0] = '\0';
	while (mi_next(table, &pos, &line, &n)) {
		if (!line_over(line, n, path, &m, mp, type))
			continue;
		ok = kk_fstype_local(type) && strcmp(type, "overlay") != 0;
		for (i = 0; !ok && i < nalso; i++)
			ok = strcmp(type, also[i]) == 0;
		if (!ok) {
			snprintf(fstype, len, "%s", type);
			return 1;
		}
	}
	return 0;
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
	struct kk_mount_line m;
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
		if (!line_over(line, n, path, &m, mp, type) ||
		    strlen(mp) < best)
			continue;
		/*
		 * Mounts stacked on the same point: the top one is the last,
		 * but a file system mounted over the point after the overlay
		 * was made hides the one the overlay took.  Unless all of
		 * them are local, the first that is not is the answer.
		 */
		cur = strlen(mp) == best && found && !kk_fstype_local(fstype);
		if (cur)
			continue;
		if ((r = kk_mi_copy(type, strlen(type), fstype, len)) < 0)
			break;
		*maj = m.maj;
		*mnr = m.mnr;
		best = strlen(mp);
		found = true;
	}
	return found && r == 0 ? 0 : r;
}
