/*
 * The mappings of the target (maps, smaps) and where each one goes in
 * the core file.
 */
#include <ctype.h>
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

#define MAX_VMAS	(1U << 20)

/* a MADV_DONTDUMP mapping is kept up to this size, see plan_vmas */
#define DONTDUMP_KEEP	((uint64_t)256 << 20)

int
snap_parse_maps(struct snap *sn)
{
	const char *p = sn->maps, *eol, *end = sn->maps + sn->mapslen;
	size_t cap = 0;
	int err;

	while (p < end) {
		unsigned long long s, e, off, ino;
		char perms[8], head[256];
		unsigned maj, mnr;
		int pos = 0;
		size_t hl;
		struct vma *v;

		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		if (sn->nv >= MAX_VMAS)
			return -E2BIG;
		/*
		 * The fields before the path, from a copy of the line's
		 * start: sscanf takes the length of the string it is given,
		 * and given p it would run to the end of the text at every
		 * line (65,530 mappings: some 10^11 bytes, the snapshot's
		 * whole deadline).  The kernel pads them to 73 columns.
		 */
		hl = (size_t)(eol - p) < sizeof(head) - 1 ? (size_t)(eol - p) :
		    sizeof(head) - 1;
		memcpy(head, p, hl);
		head[hl] = '\0';
		if (sscanf(head, "%llx-%llx %7s %llx %x:%x %llu %n", &s, &e,
		    perms, &off, &maj, &mnr, &ino, &pos) != 7 || pos <= 0 ||
		    (size_t)pos > hl || s >= e || strlen(perms) < 3)
			return -EBADMSG;
		if ((err = kk_grow(&sn->v, &cap, sn->nv, sizeof(*sn->v), 256,
		    MAX_VMAS)) < 0)
			return err;
		v = &sn->v[sn->nv++];
		memset(v, 0, sizeof(*v));
		v->start = s;
		v->end = e;
		v->pgoff = off;
		v->dev_major = maj;
		v->dev_minor = mnr;
		if (p + pos < eol) {
			v->path = (size_t)(p + pos - sn->maps);
			v->pathlen = (size_t)(eol - (p + pos));
		}
		if (perms[0] == 'r')
			v->pflags |= PF_R;
		if (perms[1] == 'w')
			v->pflags |= PF_W;
		if (perms[2] == 'x')
			v->pflags |= PF_X;
		p = eol + 1;
	}
	return 0;
}

static bool
vma_is(const struct snap *sn, const struct vma *v, const char *name)
{
	size_t l = strlen(name);

	return v->pathlen == l && memcmp(sn->maps + v->path, name, l) == 0;
}

bool
snap_vma_file(const struct snap *sn, const struct vma *v)
{
	return v->pathlen > 0 && sn->maps[v->path] == '/';
}

/*
 * smaps says what maps does not: VmFlags (dd, io, pf, ht) and whether a
 * mapping has any resident or swapped page at all (then its page tables
 * need no scan).  Matched to the maps entries by start address; anything
 * that does not match stays unknown, which only costs a scan.
 */
void
snap_apply_smaps(struct snap *sn, char *text)
{
	struct vma *cur = NULL;
	unsigned long long rss = 0, swap = 0, huge = 0;
	bool seen_rss = false;
	size_t j = 0;
	char *line, *save = NULL;

	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		unsigned long long s, e, val;
		char perms[8];

		/* entry headers are maps lines (lowercase hex); keys: words */
		if ((isdigit((unsigned char)line[0]) ||
		    (line[0] >= 'a' && line[0] <= 'f')) &&
		    sscanf(line, "%llx-%llx %7s", &s, &e, perms) == 3) {
			if (cur != NULL && seen_rss)
				cur->empty = rss == 0 && swap == 0 &&
				    huge == 0 && !cur->hugetlb;
			cur = NULL;
			rss = swap = huge = 0;
			seen_rss = false;
			while (j < sn->nv && sn->v[j].start < s)
				j++;
			if (j < sn->nv && sn->v[j].start == s &&
			    sn->v[j].end == e) {
				cur = &sn->v[j];
				cur->smaps = true;
			}
			continue;
		}
		if (cur == NULL)
			continue;
		if (sscanf(line, "Rss: %llu", &val) == 1) {
			rss = val;
			seen_rss = true;
		} else if (sscanf(line, "Swap: %llu", &val) == 1)
			swap = val;
		else if (sscanf(line, "Private_Hugetlb: %llu", &val) == 1 ||
		    sscanf(line, "Shared_Hugetlb: %llu", &val) == 1)
			huge += val;
		else if (strncmp(line, "VmFlags:", 8) == 0) {
			char *f, *fs = NULL;

			for (f = strtok_r(line + 8, " ", &fs); f != NULL;
			    f = strtok_r(NULL, " ", &fs)) {
				if (strcmp(f, "dd") == 0)
					cur->dontdump = true;
				else if (strcmp(f, "io") == 0 ||
				    strcmp(f, "pf") == 0)
					cur->io = true;
				else if (strcmp(f, "ht") == 0)
					cur->hugetlb = true;
				else if (strcmp(f, "um") == 0 ||
				    strcmp(f, "uw") == 0 ||
				    strcmp(f, "ui") == 0)
					cur->uffd = true;
			}
		}
	}
	if (cur != NULL && seen_rss)
		cur->empty = rss == 0 && swap == 0 && huge == 0 &&
		    !cur->hugetlb;
}

/*
 * Is the file system of device maj:mnr one whose pages may be read (a
 * local disk or memory, an overlay over such layers, on a block device
 * that reads through no server: kk_dev_readable)?  Looked up in the
 * target's mount table, else in ours; a device in neither, or past
 * HEADER_DEVS of them, is not read.
 */
static bool
dev_local(struct snap *sn, unsigned maj, unsigned mnr)
{
	char why[256];
	bool local;
	size_t i;

	for (i = 0; i < sn->nhdev; i++)
		if (sn->hdev[i].major == maj && sn->hdev[i].minor == mnr)
			return sn->hdev[i].local;
	if (sn->nhdev == HEADER_DEVS)
		return false;
	local = kk_dev_readable(sn->pid, maj, mnr, why, sizeof(why));
	sn->hdev[sn->nhdev].major = maj;
	sn->hdev[sn->nhdev].minor = mnr;
	sn->hdev[sn->nhdev].local = local;
	sn->nhdev++;
	return local;
}

/*
 * Which mappings may carry data in the core (core_mem.c then splits them
 * into segments by what is resident).  Unreadable ones (no 'r', the
 * vvar pages, VM_IO / VM_PFNMAP) get p_filesz 0 as the kernel gives them.
 * MADV_DONTDUMP is honoured only for large mappings: sanitizer shadows and
 * address-space reserves are terabytes of holes whose SHA-256 alone would
 * take hours, while a small region hidden that way is exactly what an
 * investigator wants to see.
 */
void
snap_plan_vmas(struct snap *sn)
{
	size_t i;

	for (i = 0; i < sn->nv; i++) {
		struct vma *v = &sn->v[i];
		uint64_t size = v->end - v->start;
		bool could;

		v->filesz = size;
		if (!(v->pflags & PF_R) || v->io ||
		    vma_is(sn, v, "[vvar]") || vma_is(sn, v, "[vvar_vclock]") ||
		    (v->dontdump && size > DONTDUMP_KEEP))
			v->filesz = 0;
		/*
		 * Not of a userfaultfd's range, nor of one smaps did not
		 * say is not: a header page not resident there is handed
		 * to the process's handler, which need never answer, and
		 * the read waits for it to the deadline (pages that are
		 * resident are read without a fault).  Without smaps, one
		 * not resident is missing, and the core says so
		 * (core_mem.c, headers_dropped).
		 */
		could = v->filesz >= (uint64_t)sn->pgsz && v->pgoff == 0 &&
		    !(v->smaps && v->uffd) && snap_vma_file(sn, v) &&
		    dev_local(sn, v->dev_major, v->dev_minor);
		v->header = could && v->smaps;
		v->header_unknown = could && !v->smaps;
	}
}
