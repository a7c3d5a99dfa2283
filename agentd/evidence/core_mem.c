/*
 * The memory of the target into the core file: only the pages the page
 * tables say are there (PAGEMAP_SCAN, else /proc/PID/pagemap), read
 * through /proc/PID/mem; long runs of the rest are left out of the file
 * (plan_vma), short ones are zeros.
 *
 * Not process_vm_readv, though it copies once where the mem file copies
 * twice: a page can go between the look at the page tables and the read
 * (another process registers the range with a userfaultfd it holds, or
 * punches a hole in the shared memory behind it), and process_vm_readv's
 * fault then waits for that userfaultfd's handler, which need never
 * answer; the kernel fails a fault of the mem file's remote read at once
 * there (no retry allowed), and the page is a gap.  Copying is not what
 * bounds a snapshot: hashing is (bench/snapshot_bench: SHA-256 alone
 * takes several times what either copy takes).
 */
#include <sys/ioctl.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapshot.h"

#define HOLE_MIN	(256U << 10)	/* smaller zero runs are written out */
/* zeros a snapshot may write between runs merged past a mapping's share */
#define ZERO_BUDGET	((uint64_t)1 << 30)
#define METHOD		"elf-core/ptrace+proc-mem+pagemap"

/* PAGEMAP_SCAN's argument (see struct pm_region) */
struct pm_scan {
	uint64_t size;
	uint64_t flags;
	uint64_t start;
	uint64_t end;
	uint64_t walk_end;
	uint64_t vec;
	uint64_t vec_len;
	uint64_t max_pages;
	uint64_t category_inverted;
	uint64_t category_mask;
	uint64_t category_anyof_mask;
	uint64_t return_mask;
};

#define PM_PRESENT	(1ULL << 3)
#define PM_SWAPPED	(1ULL << 4)
#define PM_PFNZERO	(1ULL << 5)
#define PM_SCAN_IOCTL	_IOWR('f', 16, struct pm_scan)
#define PAGEMAP_PRESENT	(1ULL << 63)
#define PAGEMAP_SWAPPED	(1ULL << 62)

static const uint8_t zeros[65536];

void (*kk_snap_mem_hook)(pid_t pid, uint64_t start, uint64_t end);
void (*kk_snap_seg_hook)(pid_t pid, uint64_t start, uint64_t end);
bool kk_snap_no_scan;
bool kk_snap_no_smaps;

static int
flush_gap(struct snap *sn, struct kk_artifact *a)
{
	int err = 0;

	if (sn->gap_len > 0)
		err = kk_artifact_gap(a, sn->gap_off, sn->gap_len, sn->gap_why);
	sn->gap_len = 0;
	/* past 4096 gaps the list is full; the data is zeros either way */
	return err == -E2BIG ? 0 : err;
}

static int
add_gap(struct snap *sn, struct kk_artifact *a, uint64_t off, uint64_t len,
    const char *why)
{
	int err;

	if (sn->gap_len > 0 && sn->gap_off + sn->gap_len == off &&
	    strcmp(sn->gap_why, why) == 0) {
		sn->gap_len += len;
		return 0;
	}
	if ((err = flush_gap(sn, a)) < 0)
		return err;
	sn->gap_off = off;
	sn->gap_len = len;
	sn->gap_why = why;
	return 0;
}

/*
 * Zeros into the core: a hole when large, written out when small (a hole
 * makes the pipelined hasher drain, which costs more than a few pages).
 */
static int
put_zeros(struct kk_sink *s, uint64_t len)
{
	size_t k;
	int err;

	if (len >= HOLE_MIN)
		return kk_sink_hole(s, len);
	while (len > 0) {
		k = len > sizeof(zeros) ? sizeof(zeros) : (size_t)len;
		if ((err = kk_sink_write(s, zeros, k)) < 0)
			return err;
		len -= k;
	}
	return 0;
}

/*
 * Reads up to n (> 0) bytes at addr: the count read (0: the page at addr
 * cannot be read), or -ESRCH when the process is gone.  The mem file
 * reads nothing at all, no error, once the memory it is bound to is gone
 * (the process exited, killed under the snapshot); a page that cannot be
 * read is an error (EIO).
 */
static ssize_t
mem_read(struct snap *sn, uint64_t addr, void *buf, size_t n)
{
	ssize_t got;
	int tries;

	if (n == 0 || sn->memfd < 0 || addr > (uint64_t)INT64_MAX)
		return 0;
	for (tries = 0; tries < 8; tries++) {
		got = pread(sn->memfd, buf, n, (off_t)addr);
		if (got > 0)
			return got;
		if (got == 0)
			return -ESRCH;
		if (errno != EINTR)
			break;
	}
	return errno == ESRCH ? -ESRCH : 0;
}

/* Copies [start, end), which the page tables say is there, to the core. */
static int
copy_run(struct snap *sn, struct kk_sink *s, struct kk_artifact *a,
    uint64_t start, uint64_t end)
{
	uint64_t addr = start, pend, pg = (uint64_t)sn->pgsz;
	/* a read per sink buffer filled, or per page that fails */
	uint64_t guard = 2 * ((end - start) / pg) + 2;
	ssize_t got;
	size_t n;
	void *dst;
	int err;

	while (addr < end && guard-- > 0) {
		/*
		 * Read straight into the buffer the hasher takes next: the
		 * pages are copied once into memory and once into the file.
		 */
		if ((dst = kk_sink_space(s, &n)) == NULL)
			return -ENOMEM;
		if (n > end - addr)
			n = (size_t)(end - addr);
		if ((got = mem_read(sn, addr, dst, n)) < 0)
			return (int)got;
		if (got > 0) {
			if ((err = kk_sink_commit(s, (size_t)got)) < 0)
				return err;
			addr += (uint64_t)got;
		}
		if ((size_t)got == n)
			continue;
		/* the page at addr failed: zeros, listed as a gap */
		pend = (addr & ~(pg - 1)) + pg;
		if (pend > end)
			pend = end;
		if ((err = add_gap(sn, a, kk_sink_offset(s), pend - addr,
		    "unreadable")) < 0 || (err = put_zeros(s, pend - addr)) < 0)
			return err;
		addr = pend;
	}
	return addr >= end ? 0 : -EIO;
}

/*
 * The present (or swapped) runs of pages in [pos, end), ascending, into
 * sn->runs; *done is how far the page tables were looked at.
 */
static int
present_runs(struct snap *sn, uint64_t pos, uint64_t end, uint64_t *done)
{
	struct runs *r = &sn->runs;
	uint64_t pg = (uint64_t)sn->pgsz, wend, a;
	size_t i, want, nent;
	ssize_t got;
	int n;

	r->n = 0;
	if (sn->use_scan) {
		struct pm_scan arg;

		memset(&arg, 0, sizeof(arg));
		arg.size = sizeof(arg);
		arg.start = pos;
		arg.end = end;
		arg.vec = (uint64_t)(uintptr_t)sn->scanvec;
		arg.vec_len = SCAN_VEC;
		arg.category_anyof_mask = PM_PRESENT | PM_SWAPPED;
		arg.return_mask = PM_PRESENT | PM_SWAPPED | PM_PFNZERO;
		n = ioctl(sn->pmfd, PM_SCAN_IOCTL, &arg);
		if (n >= 0) {
			uint64_t last = pos;

			for (i = 0; i < (size_t)n && i < SCAN_VEC; i++) {
				struct pm_region *g = &sn->scanvec[i];

				if (g->start < last || g->end > end ||
				    g->start >= g->end)
					continue;
				r->v[r->n].start = g->start;
				r->v[r->n].end = g->end;
				r->v[r->n].zero = (g->categories &
				    (PM_PFNZERO | PM_SWAPPED)) == PM_PFNZERO;
				r->n++;
				last = g->end;
			}
			/*
			 * walk_end says how far the kernel looked (less than
			 * end when the vector filled up); distrust odd values.
			 */
			wend = arg.walk_end;
			if (wend <= pos || wend > end)
				wend = (size_t)n < SCAN_VEC ? end : last;
			if (wend < last)
				wend = last;
			*done = wend;
			return 0;
		}
		/* the memory is gone (the process exited) */
		if (errno == ESRCH)
			return -ESRCH;
		/* older kernel: read the pagemap entries instead */
		sn->use_scan = false;
	}
	nent = (size_t)((end - pos) / pg);
	if (nent > PM_CHUNK)
		nent = PM_CHUNK;
	want = nent * sizeof(uint64_t);
	got = pread(sn->pmfd, sn->pm, want, (off_t)((pos / pg) *
	    sizeof(uint64_t)));
	if (got < 0)
		return errno == ESRCH ? -ESRCH : -errno;
	/* nothing at all, no error: the memory it is bound to is gone */
	if (got == 0 && want > 0)
		return -ESRCH;
	/* entries past what came back count as absent */
	for (i = 0; i < nent; i++) {
		uint64_t e = (size_t)got >= (i + 1) * sizeof(uint64_t) ?
		    sn->pm[i] : 0;

		if (!(e & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED)))
			continue;
		a = pos + i * pg;
		if (r->n > 0 && r->v[r->n - 1].end == a)
			r->v[r->n - 1].end = a + pg;
		else if (r->n < SCAN_VEC) {
			r->v[r->n].start = a;
			r->v[r->n].end = a + pg;
			r->v[r->n].zero = false;
			r->n++;
		} else {
			/* the run list is full: stop here, go on next time */
			*done = a;
			return 0;
		}
	}
	*done = pos + nent * pg;
	return 0;
}

static size_t
seg_limit(const struct snap *sn)
{
	return sn->nv + SEGS_EXTRA;
}

static int
seg_add(struct snap *sn, const struct vma *v, uint64_t vaddr,
    uint64_t filesz, uint64_t memsz, bool header)
{
	struct seg *g;
	int err;

	if ((err = kk_grow(&sn->seg, &sn->segcap, sn->nseg, sizeof(*sn->seg),
	    256, seg_limit(sn))) < 0)
		return err;
	g = &sn->seg[sn->nseg++];
	g->vaddr = vaddr;
	g->filesz = filesz;
	g->memsz = memsz;
	g->off = 0;
	g->pflags = v->pflags;
	g->header = header;
	return 0;
}

/* One segment of v, or only counted (sn->counting). */
static int
emit(struct snap *sn, const struct vma *v, size_t *n, uint64_t vaddr,
    uint64_t filesz, uint64_t memsz, bool header)
{
	(*n)++;
	return sn->counting ? 0 : seg_add(sn, v, vaddr, filesz, memsz,
	    header);
}

/*
 * The segments of one mapping, which together cover it exactly: each
 * starts at a resident run and ends where absent pages for SEG_SPLIT or
 * more begin (p_filesz); its p_memsz reaches to the next one, and what
 * lies between reads as zero, which is what an untouched anonymous page
 * is.  A mapping's holes are thereby not in the file at all: a process
 * that maps terabytes and touches a page at each end costs two pages of
 * core, not terabytes of zeros to hash.  Pages of the shared zero page
 * count as absent.  Small gaps inside a segment are written as zeros.
 *
 * At most allow segments (plan_segments' share); past that, the runs left
 * join the segment before them, zeros between, while sn->zero_left lasts,
 * and the rest of the mapping is left out (segs_short).  *used: how many
 * it took (sn->counting: how many it would take, without a limit).
 */
static int
plan_vma(struct snap *sn, const struct vma *v, size_t allow, size_t *used)
{
	uint64_t pg = (uint64_t)sn->pgsz, pos = v->start, done = 0, guard;
	uint64_t rs = v->start, re = v->start;	/* the segment being grown */
	bool open = false, header = false;
	size_t i, *n = used;
	int err = 0;

	*n = 0;
	if (v->filesz == 0)
		return emit(sn, v, n, v->start, 0, v->end - v->start, false);
	if (v->header) {
		re = pos = v->start + pg;
		open = header = true;
	}
	if (v->smaps && v->empty)
		pos = v->end;
	guard = (v->end - v->start) / pg + 2;
	while (pos < v->end && guard-- > 0) {
		if ((err = present_runs(sn, pos, v->end, &done)) < 0)
			return err;
		if (done <= pos || done > v->end)
			return -EIO;	/* no progress: never loop */
		for (i = 0; i < sn->runs.n; i++) {
			uint64_t s = sn->runs.v[i].start;
			uint64_t e = sn->runs.v[i].end;

			if (sn->runs.v[i].zero || s < pos || e > done || s >= e)
				continue;
			if (open && s - re < SEG_SPLIT) {
				re = e;
				continue;
			}
			/* what this run closes, and room for the last */
			if (!sn->counting && *n + (open || s > v->start) + 1 >
			    allow) {
				if (open && s - re <= sn->zero_left) {
					sn->zero_left -= s - re;
					re = e;
					continue;
				}
				sn->segs_short++;
				goto last;
			}
			if (open)
				err = emit(sn, v, n, rs, re - rs, s - rs,
				    header);
			else if (s > v->start)
				err = emit(sn, v, n, v->start, 0,
				    s - v->start, false);
			if (err < 0)
				return err;
			rs = s;
			re = e;
			open = true;
			header = false;
		}
		pos = done;
	}
	if (pos < v->end)
		return -EIO;
last:
	if (!open)
		return emit(sn, v, n, v->start, 0, v->end - v->start, false);
	return emit(sn, v, n, rs, re - rs, v->end - rs, header);
}

static int
cmp_need(const void *a, const void *b)
{
	const size_t *x = a, *y = b;

	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/*
 * Each mapping's share of seg_limit() when all of them would take more:
 * the smallest needs are met in full, and what is left is split evenly
 * among the larger ones, so that no mapping (a library, the stack, a
 * small region that holds the secret) goes without its data because an
 * earlier one was cut into a quarter of a million pieces.  need[i] is
 * replaced by the share.
 */
static int
fair_shares(struct snap *sn, size_t *need)
{
	size_t (*by)[2], i, left, total = 0, share;

	for (i = 0; i < sn->nv; i++)
		total += need[i];
	if (total <= seg_limit(sn))
		return 0;
	if ((by = calloc(sn->nv, sizeof(*by))) == NULL)
		return -ENOMEM;
	for (i = 0; i < sn->nv; i++) {
		by[i][0] = need[i];
		by[i][1] = i;
	}
	qsort(by, sn->nv, sizeof(*by), cmp_need);
	left = seg_limit(sn);
	for (i = 0; i < sn->nv; i++) {
		share = left / (sn->nv - i);
		if (share > by[i][0])
			share = by[i][0];
		if (share < 1)
			share = 1;
		need[by[i][1]] = share;
		left -= share < left ? share : left;
	}
	free(by);
	return 0;
}

/*
 * Every mapping into segments, read from the page tables while the
 * threads are stopped.  One walk plans them all; only when that runs
 * past seg_limit() are they counted and planned again, each within its
 * share (fair_shares).  The file offsets follow from data_off.
 */
static int
plan_segments(struct snap *sn)
{
	size_t *need, i, used;
	int err = 0;

	snap_plan_vmas(sn);
	sn->zero_left = ZERO_BUDGET;
	for (i = 0; i < sn->nv && err == 0; i++)
		err = plan_vma(sn, &sn->v[i], SIZE_MAX, &used);
	if (err != -E2BIG)
		return err;
	sn->nseg = 0;
	err = 0;
	if ((need = calloc(sn->nv ? sn->nv : 1, sizeof(*need))) == NULL)
		return -ENOMEM;
	sn->counting = true;
	for (i = 0; i < sn->nv && err == 0; i++)
		err = plan_vma(sn, &sn->v[i], SIZE_MAX, &need[i]);
	sn->counting = false;
	if (err == 0)
		err = fair_shares(sn, need);
	sn->zero_left = ZERO_BUDGET;
	for (i = 0; i < sn->nv && err == 0; i++)
		err = plan_vma(sn, &sn->v[i], need[i], &used);
	free(need);
	return err;
}

/* The data of one segment: the resident runs, zeros between them. */
static int
dump_seg(struct snap *sn, struct kk_sink *s, struct kk_artifact *a,
    const struct seg *g)
{
	uint64_t pos = g->vaddr, end = g->vaddr + g->filesz, done = 0, guard;
	uint64_t pg = (uint64_t)sn->pgsz;
	size_t i;
	int err;

	if (g->filesz == 0)
		return 0;
	if (kk_snap_seg_hook != NULL)
		kk_snap_seg_hook(sn->pid, pos, end);
	if (g->header) {
		if ((err = copy_run(sn, s, a, pos, pos + pg)) < 0)
			return err;
		pos += pg;
	}
	guard = g->filesz / pg + 2;
	while (pos < end && guard-- > 0) {
		if ((err = present_runs(sn, pos, end, &done)) < 0)
			return err;
		if (done <= pos || done > end)
			return -EIO;	/* no progress: never loop */
		for (i = 0; i < sn->runs.n; i++) {
			uint64_t rs = sn->runs.v[i].start;
			uint64_t re = sn->runs.v[i].end;

			if (rs < pos || re > done || rs >= re)
				continue;
			if ((err = put_zeros(s, rs - pos)) < 0)
				return err;
			if (sn->runs.v[i].zero)
				err = put_zeros(s, re - rs);
			else {
				if (kk_snap_mem_hook != NULL)
					kk_snap_mem_hook(sn->pid, rs, re);
				err = copy_run(sn, s, a, rs, re);
			}
			if (err < 0)
				return err;
			pos = re;
		}
		if ((err = put_zeros(s, done - pos)) < 0)
			return err;
		pos = done;
	}
	return pos == end ? 0 : -EIO;
}

static void
put_headers(struct snap *sn, uint8_t *hdr, size_t phnum, bool extnum,
    uint64_t shoff)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	size_t i;

	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_ident[EI_OSABI] = ELFOSABI_NONE;
	eh.e_type = ET_CORE;
#ifdef CORE_MACHINE
	eh.e_machine = CORE_MACHINE;
#endif
	eh.e_version = EV_CURRENT;
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(ph);
	eh.e_phnum = extnum ? PN_XNUM : (Elf64_Half)phnum;
	if (extnum) {
		eh.e_shoff = shoff;
		eh.e_shentsize = sizeof(Elf64_Shdr);
		eh.e_shnum = 1;
		eh.e_shstrndx = SHN_UNDEF;
	}
	memcpy(hdr, &eh, sizeof(eh));
	hdr += sizeof(eh);

	memset(&ph, 0, sizeof(ph));
	ph.p_type = PT_NOTE;
	ph.p_offset = sizeof(eh) + phnum * sizeof(ph);
	ph.p_filesz = sn->nlen;
	ph.p_align = 4;
	memcpy(hdr, &ph, sizeof(ph));
	hdr += sizeof(ph);
	for (i = 0; i < sn->nseg; i++) {
		const struct seg *g = &sn->seg[i];

		memset(&ph, 0, sizeof(ph));
		ph.p_type = PT_LOAD;
		ph.p_flags = g->pflags;
		ph.p_offset = g->off;
		ph.p_vaddr = g->vaddr;
		ph.p_filesz = g->filesz;
		ph.p_memsz = g->memsz;
		ph.p_align = (uint64_t)sn->pgsz;
		memcpy(hdr, &ph, sizeof(ph));
		hdr += sizeof(ph);
	}
}

/*
 * How many mappings' first pages (ELF headers, build ids) are missing: a
 * header smaps could not vouch for (header_unknown) is read only if
 * resident, and one that was not is a segment of no data at its start.
 */
static size_t
headers_dropped(const struct snap *sn)
{
	size_t i, j = 0, n = 0;

	for (i = 0; i < sn->nv; i++) {
		if (!sn->v[i].header_unknown)
			continue;
		while (j < sn->nseg && sn->seg[j].vaddr < sn->v[i].start)
			j++;
		if (j < sn->nseg && sn->seg[j].vaddr == sn->v[i].start &&
		    sn->seg[j].filesz == 0)
			n++;
	}
	return n;
}

/*
 * The core file: ELF header, PT_NOTE + the PT_LOAD segments of every
 * mapping, the notes, then the data of the segments from the next page
 * boundary on.
 */
static int
write_core(struct snap *sn, struct kk_artifact *a)
{
	struct kk_sink *s = NULL;
	char rel[64];
	size_t phnum, hlen, i, dropped;
	uint64_t data_off, shoff;
	bool extnum;
	uint8_t *hdr = NULL;
	int err;

	snprintf(rel, sizeof(rel), "pid-%d/core", (int)sn->pid);
	if ((err = plan_segments(sn)) < 0) {
		snap_set_err(sn, "%s: reading the page tables: %s", rel,
		    strerror(-err));
		return err;
	}
	phnum = sn->nseg + 1;
	extnum = phnum >= PN_XNUM;
	hlen = sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr);
	data_off = ((uint64_t)(hlen + sn->nlen) + (uint64_t)sn->pgsz - 1) &
	    ~((uint64_t)sn->pgsz - 1);
	shoff = data_off;
	for (i = 0; i < sn->nseg; i++) {
		sn->seg[i].off = shoff;
		shoff += sn->seg[i].filesz;
	}

	if ((err = kk_sink_open_pipelined(sn->dirfd, rel, &s)) < 0) {
		snap_set_err(sn, "%s: %s", rel, strerror(-err));
		return err;
	}
	snprintf(a->method, sizeof(a->method), "%s", METHOD);
	if ((hdr = calloc(1, hlen)) == NULL) {
		err = -ENOMEM;
		goto close;
	}
	put_headers(sn, hdr, phnum, extnum, shoff);
	if ((err = kk_sink_write(s, hdr, hlen)) < 0 ||
	    (err = kk_sink_write(s, sn->notes, sn->nlen)) < 0 ||
	    (err = put_zeros(s, data_off - (hlen + sn->nlen))) < 0)
		goto close;
	for (i = 0; i < sn->nseg; i++) {
		if ((err = dump_seg(sn, s, a, &sn->seg[i])) < 0)
			goto close;
		if (kk_sink_offset(s) != sn->seg[i].off + sn->seg[i].filesz) {
			err = -EIO;	/* a bug, not the target: say so */
			snap_set_err(sn, "core: segment %zu written at the "
			    "wrong offset", i);
			goto close;
		}
	}
	if (extnum) {
		Elf64_Shdr sh;

		memset(&sh, 0, sizeof(sh));
		sh.sh_type = SHT_NULL;
		sh.sh_size = 1;
		sh.sh_link = SHN_UNDEF;
		sh.sh_info = (Elf64_Word)phnum;
		err = kk_sink_write(s, &sh, sizeof(sh));
	}
close:
	if (err == 0)
		err = flush_gap(sn, a);
	else
		(void)flush_gap(sn, a);
	/* registers of threads that never stopped are missing */
	if (err == 0 && sn->over_threads)
		kk_artifact_incomplete(a, "over %zu threads: %zu ran on, their "
		    "registers are missing", sn->nt, sn->unstopped);
	else if (err == 0 && sn->unstopped > 0)
		kk_artifact_incomplete(a, "%zu threads did not stop within %d "
		    "ms: their registers are missing", sn->unstopped,
		    STOP_TIMEOUT_MS);
	/* each of these besides: every reason is said */
	if (err == 0 && sn->maps_cut)
		kk_artifact_incomplete(a, "maps over %u MiB: the mappings "
		    "listed after are missing", MAPS_MAX >> 20);
	if (err == 0 && sn->segs_short > 0)
		kk_artifact_incomplete(a, "over %zu segments: the later pages "
		    "of %zu mappings are missing", seg_limit(sn),
		    sn->segs_short);
	if (err == 0 && sn->seize_err != 0)
		kk_artifact_incomplete(a, "ptrace refused (%s): registers are "
		    "missing", strerror(-sn->seize_err));
	/* after any of those (maps cut is when smaps is not read) */
	if (err == 0 && (dropped = headers_dropped(sn)) > 0)
		kk_artifact_incomplete(a, "smaps did not describe them: the "
		    "first page of %zu file mappings (ELF headers, build ids) "
		    "was not resident and is missing", dropped);
	err = kk_sink_close(s, a, err);
	free(hdr);
	return err;
}

int
snap_write_core(struct snap *sn, struct kk_artifact *a)
{
	int err = write_core(sn, a);

	/* the plan is this core's alone */
	free(sn->seg);
	sn->seg = NULL;
	sn->nseg = sn->segcap = 0;
	return err;
}
