/*
 * mounts.c's lines of a mount table, for exefile.c and blockdev.c (the
 * public part is in evidence.h).
 */
#ifndef KK_EVIDENCE_MOUNTS_H
#define KK_EVIDENCE_MOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One line of a mountinfo file, as pointers into it (not terminated). */
struct kk_mount_line {
	unsigned long long id;
	unsigned maj, mnr;
	const char *mp;		/* mount point, still escaped (\ooo) */
	size_t mplen;
	const char *fstype;
	size_t fslen;
	const char *source;	/* still escaped */
	size_t sourcelen;
	const char *sopts;	/* super options, still escaped */
	size_t soptslen;
};

/*
 * The line of the first mount in a mount table whose mount id is mnt_id,
 * or, when by_dev, whose device is maj:mnr: 0, or -ENOENT.
 */
int kk_mountinfo_find(const char *text, bool by_dev, uint64_t mnt_id,
    unsigned maj, unsigned mnr, struct kk_mount_line *m);
/* A field's octal escapes undone into out (len bytes): 0, or -errno. */
int kk_mi_unescape(const char *in, size_t n, char *out, size_t len);
/* A field of a line into out (NUL-terminated), -ENAMETOOLONG. */
int kk_mi_copy(const char *f, size_t n, char *out, size_t len);

/*
 * The two mount tables one question about a process's file looks at,
 * ours and the process's, each read once, when first asked for: a
 * question walks several mounts and devices, and a table may be
 * megabytes of text.
 */
struct kk_mount_tables {
	pid_t pid;		/* 0: ours only */
	char *text[2];		/* KK_MT_OURS, KK_MT_PROC */
	int r[2];		/* 1 not read yet, 0 read, -errno */
};
#define KK_MT_OURS	0
#define KK_MT_PROC	1
void kk_mount_tables_init(struct kk_mount_tables *mt, pid_t pid);
/* Table which's text, or NULL: not readable, or no process's (pid 0). */
const char *kk_mount_tables_get(struct kk_mount_tables *mt, int which);
void kk_mount_tables_free(struct kk_mount_tables *mt);
/*
 * The first mount whose id is mnt_id, or, when by_dev, whose device is
 * maj:mnr, in the process's table, else ours (ours first when
 * ours_first): the table it is in (KK_MT_*), or -ENOENT.
 */
int kk_mount_tables_find(struct kk_mount_tables *mt, bool ours_first,
    bool by_dev, uint64_t mnt_id, unsigned maj, unsigned mnr,
    struct kk_mount_line *m);

#endif
