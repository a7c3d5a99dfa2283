/*
 * mounts.c's lines of a mount table, for exefile.c (the public part is
 * in evidence.h).
 */
#ifndef KK_EVIDENCE_MOUNTS_H
#define KK_EVIDENCE_MOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

#endif
