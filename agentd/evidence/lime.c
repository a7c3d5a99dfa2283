/*
 * Physical RAM as a LiME v1 image (DESIGN 7), the format Volatility and
 * the LiME module write: for every range of RAM a 32-byte header
 *
 *	u32 magic 0x4C694D45 ("EMiL" on disk), u32 version 1,
 *	u64 first address, u64 last address (inclusive), 8 bytes zero
 *
 * followed by the bytes of the range.  The ranges are the "System RAM"
 * entries of /proc/iomem at any depth (RAM can sit under a "reserved" or
 * a "Soft Reserved" parent).  The bytes come from /proc/kcore: its
 * PT_LOAD segments carry the physical address of the direct map in
 * p_paddr, so no kernel module and no virtual-to-physical arithmetic is
 * needed.  Without kcore, /dev/crash and then /dev/mem are read at the
 * physical address.  What cannot be read is written as zeros and listed
 * as a gap, never silently.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <elf.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evidence.h"

#define LIME_MAGIC	0x4C694D45U
#define LIME_VERSION	1U
#define PAGE		4096U		/* retry and gap granularity */
#define IOMEM_MAX	(16U << 20)
#define RANGES_MAX	65536
#define SEGS_MAX	65536
#define RANGE_MAX	((uint64_t)1 << 52)	/* 4 PiB: beyond any machine */

struct lime_hdr {
	uint32_t magic;
	uint32_t version;
	uint64_t s_addr;
	uint64_t e_addr;
	uint8_t reserved[8];
};

struct seg {
	uint64_t paddr;
	uint64_t size;
	uint64_t offset;	/* in the kcore file */
};

struct src {
	int fd;
	bool kcore;		/* else read at the physical address */
	struct seg *segs;	/* kcore: by paddr, ascending */
	size_t nsegs;
	const char *method;
};

/* ---- iomem ------------------------------------------------------- */

/*
 * A hex number of at most 16 digits, nothing else (strtoull would take
 * signs, "0x" and overflow).
 */
static bool
parse_hex(const char **pp, const char *end, uint64_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;
	int n = 0, d;

	for (; p < end; p++, n++) {
		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			break;
		if (n >= 16)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	if (n == 0)
		return false;
	*pp = p;
	*out = v;
	return true;
}

/* "System RAM", or "System RAM (kmem)" and the like: RAM all the same */
static bool
is_ram(const char *name, size_t len)
{
	static const char ram[] = "System RAM";
	size_t rl = sizeof(ram) - 1;

	if (len < rl || memcmp(name, ram, rl) != 0)
		return false;
	return len == rl || (len > rl + 1 && name[rl] == ' ' &&
	    name[rl + 1] == '(');
}

static int
range_cmp(const void *a, const void *b)
{
	const struct kk_range *x = a, *y = b;

	return KK_CMP(x->start, y->start) ?: KK_CMP(x->end, y->end);
}

int
kk_iomem_ram(const char *iomem, struct kk_range **out, size_t *n)
{
	struct kk_range *v = NULL;
	size_t nr = 0, cap = 0, len = 0, i, k, parsed = 0;
	char *text = NULL;
	const char *p, *end, *eol;
	int err;

	*out = NULL;
	*n = 0;
	if ((err = kk_read_text(iomem, IOMEM_MAX, &text, &len)) < 0)
		return err;
	end = text + len;
	for (p = text; p < end; p = eol + 1) {
		uint64_t s, e;
		const char *name, *ne;

		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		/* nesting is leading spaces; the depth does not matter */
		while (p < eol && (*p == ' ' || *p == '\t'))
			p++;
		if (!parse_hex(&p, eol, &s) || p >= eol || *p++ != '-' ||
		    !parse_hex(&p, eol, &e))
			continue;
		while (p < eol && *p == ' ')
			p++;
		if (p >= eol || *p++ != ':')
			continue;
		while (p < eol && *p == ' ')
			p++;
		name = p;
		ne = eol;
		while (ne > name && (ne[-1] == ' ' || ne[-1] == '\r' ||
		    ne[-1] == '\t'))
			ne--;
		if (!is_ram(name, (size_t)(ne - name)) || s > e)
			continue;
		parsed++;
		/* without CAP_SYS_ADMIN every address reads as zero */
		if (s == 0 && e == 0)
			continue;
		if ((err = kk_grow(&v, &cap, nr, sizeof(*v), 64,
		    RANGES_MAX)) < 0)
			goto out;
		v[nr].start = s;
		v[nr].end = e;
		nr++;
	}
	if (nr == 0 && parsed > 0) {
		err = -EPERM;	/* hidden addresses: not an empty machine */
		goto out;
	}
	if (nr > 1)
		qsort(v, nr, sizeof(*v), range_cmp);
	/* merge overlapping and adjacent ranges (a nested duplicate, say) */
	for (i = 0, k = 0; i < nr; i++) {
		if (k > 0 && (v[i].start <= v[k - 1].end ||
		    v[i].start - 1 == v[k - 1].end)) {
			if (v[i].end > v[k - 1].end)
				v[k - 1].end = v[i].end;
			continue;
		}
		v[k++] = v[i];
	}
	*out = v;
	*n = k;
	v = NULL;
	err = 0;
out:
	free(v);
	free(text);
	return err;
}

/* ---- sources ----------------------------------------------------- */

static int
seg_cmp(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;

	return KK_CMP(x->paddr, y->paddr) ?: KK_CMP(x->offset, y->offset);
}

static int
pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t n;

	if (off > (uint64_t)INT64_MAX)
		return -EINVAL;
	n = pread(fd, buf, len, (off_t)off);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

/*
 * The PT_LOAD segments of an ELF64 core that name a physical address.
 * p_paddr (u64)-1 marks segments that are not RAM (vmalloc, modules);
 * older kernels wrote 0 there instead, so 0 is trusted only when a
 * single segment carries it.
 */
static int
kcore_segments(int fd, struct src *s)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	Elf64_Shdr sh;
	uint64_t phnum, i;
	size_t zeros = 0, k;
	int err;

	if ((err = pread_all(fd, &eh, sizeof(eh), 0)) < 0)
		return err == -EIO ? -ENOEXEC : err;
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_type != ET_CORE ||
	    eh.e_phentsize != sizeof(Elf64_Phdr))
		return -ENOEXEC;
	phnum = eh.e_phnum;
	if (phnum == PN_XNUM) {
		/* extended numbering: the count is in section 0's sh_info */
		if (eh.e_shoff == 0 || pread_all(fd, &sh, sizeof(sh),
		    eh.e_shoff) < 0)
			return -ENOEXEC;
		phnum = sh.sh_info;
	}
	if (phnum > SEGS_MAX)
		return -E2BIG;
	if ((s->segs = calloc(phnum ? phnum : 1, sizeof(*s->segs))) == NULL)
		return -ENOMEM;
	for (i = 0; i < phnum; i++) {
		if (eh.e_phoff > UINT64_MAX - (i + 1) * sizeof(ph) ||
		    pread_all(fd, &ph, sizeof(ph), eh.e_phoff +
		    i * sizeof(ph)) < 0)
			return -ENOEXEC;
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0 ||
		    ph.p_paddr == UINT64_MAX ||
		    ph.p_paddr > UINT64_MAX - ph.p_memsz ||
		    ph.p_offset > (uint64_t)INT64_MAX - ph.p_memsz)
			continue;
		if (ph.p_paddr == 0)
			zeros++;
		s->segs[s->nsegs].paddr = ph.p_paddr;
		s->segs[s->nsegs].size = ph.p_memsz;
		s->segs[s->nsegs].offset = ph.p_offset;
		s->nsegs++;
	}
	if (zeros > 1) {
		for (i = 0, k = 0; i < s->nsegs; i++)
			if (s->segs[i].paddr != 0)
				s->segs[k++] = s->segs[i];
		s->nsegs = k;
	}
	if (s->nsegs == 0)
		return -ENOEXEC;
	qsort(s->segs, s->nsegs, sizeof(*s->segs), seg_cmp);
	return 0;
}

static void
errtext(char *buf, size_t len, const char *path, int err)
{
	snprintf(buf, len, "%s: %s", path, err == -ENOEXEC ?
	    "no physical addresses in its PT_LOAD segments" : strerror(-err));
}

/* kcore, else crash, else mem: the first that opens (and parses). */
static int
open_source(const struct kk_lime_src *ls, struct src *s, char *err,
    size_t errlen)
{
	const char *kcore = ls->kcore ? ls->kcore : "/proc/kcore";
	const char *crash = ls->crash ? ls->crash : "/dev/crash";
	const char *mem = ls->mem ? ls->mem : "/dev/mem";
	char e1[160], e2[160], e3[160];
	int fd, r;

	if ((fd = open(kcore, O_RDONLY | O_CLOEXEC)) < 0)
		errtext(e1, sizeof(e1), kcore, -errno);
	else if ((r = kcore_segments(fd, s)) < 0) {
		errtext(e1, sizeof(e1), kcore, r);
		close(fd);
		free(s->segs);
		s->segs = NULL;
		s->nsegs = 0;
	} else {
		s->fd = fd;
		s->kcore = true;
		s->method = "lime/kcore";
		return 0;
	}
	if ((fd = open(crash, O_RDONLY | O_CLOEXEC)) >= 0) {
		s->fd = fd;
		s->method = "lime/crash";
		return 0;
	}
	errtext(e2, sizeof(e2), crash, -errno);
	if ((fd = open(mem, O_RDONLY | O_CLOEXEC)) >= 0) {
		s->fd = fd;
		s->method = "lime/mem";
		return 0;
	}
	errtext(e3, sizeof(e3), mem, -errno);
	snprintf(err, errlen, "no physical memory source: %s, %s, %s", e1, e2,
	    e3);
	return -ENOENT;
}

/* ---- copying ----------------------------------------------------- */

struct copy {
	struct kk_sink *sink;
	struct kk_artifact *a;
	struct src *src;
	uint64_t gap_off;	/* gap being coalesced */
	uint64_t gap_len;
	const char *gap_why;
};

static int
flush_gap(struct copy *c)
{
	int err = 0;

	if (c->gap_len > 0)
		err = kk_artifact_gap(c->a, c->gap_off, c->gap_len, c->gap_why);
	c->gap_len = 0;
	return err == -E2BIG ? 0 : err;	/* the list is full, data is zero */
}

/* len zero bytes at the current offset, listed as a gap */
static int
zero_gap(struct copy *c, uint64_t len, const char *why)
{
	uint64_t off = kk_sink_offset(c->sink);
	int err;

	if (c->gap_len > 0 && c->gap_off + c->gap_len == off &&
	    strcmp(c->gap_why, why) == 0)
		c->gap_len += len;
	else {
		if ((err = flush_gap(c)) < 0)
			return err;
		c->gap_off = off;
		c->gap_len = len;
		c->gap_why = why;
	}
	return kk_sink_hole(c->sink, len);
}

static ssize_t
read_some(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t n = -1;
	int tries;

	if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off)
		return -EINVAL;
	for (tries = 0; tries < 8; tries++) {
		n = pread(fd, buf, len, (off_t)off);
		if (n >= 0 || errno != EINTR)
			break;
	}
	return n < 0 ? -errno : n;
}

/*
 * Copies len bytes found at file offset off; what cannot be read is
 * retried page by page and the rest becomes a gap.
 */
static int
copy_bytes(struct copy *c, uint64_t off, uint64_t len)
{
	/* a read per sink buffer filled, or per page that fails */
	uint64_t guard = 2 * (len / PAGE) + 4;
	size_t n, k;
	ssize_t got;
	void *dst;
	int err;

	while (len > 0 && guard-- > 0) {
		/* straight into the buffer the hasher takes next */
		if ((dst = kk_sink_space(c->sink, &n)) == NULL)
			return -ENOMEM;
		if (n > len)
			n = (size_t)len;
		got = read_some(c->src->fd, dst, n, off);
		if (got > 0) {
			if ((err = kk_sink_commit(c->sink, (size_t)got)) < 0)
				return err;
			off += (uint64_t)got;
			len -= (uint64_t)got;
			continue;
		}
		/* nothing at off: one page (to the next boundary) is lost */
		k = PAGE - (size_t)(off % PAGE);
		if (k > len)
			k = (size_t)len;
		if ((err = zero_gap(c, k, got == 0 ? "end of source" :
		    got == -EFAULT ? "EFAULT" : got == -EIO ? "EIO" :
		    "unreadable")) < 0)
			return err;
		off += k;
		len -= k;
	}
	return len == 0 ? 0 : -EIO;
}

/* One RAM range [start, end] (inclusive), its bytes after its header. */
static int
copy_range(struct copy *c, uint64_t start, uint64_t end)
{
	const struct src *s = c->src;
	uint64_t addr = start, stop, take;
	size_t i, guard;
	int err;

	if (!s->kcore) {
		/* /dev/crash, /dev/mem: the file offset is the address */
		if (end == UINT64_MAX)
			return -ERANGE;
		return copy_bytes(c, start, end - start + 1);
	}
	/* every segment can start or end a piece, plus the holes between */
	guard = 2 * s->nsegs + 2;
	while (addr <= end && guard-- > 0) {
		const struct seg *hit = NULL;
		uint64_t next = UINT64_MAX;

		for (i = 0; i < s->nsegs; i++) {
			const struct seg *g = &s->segs[i];

			if (g->paddr <= addr && addr - g->paddr < g->size) {
				hit = g;
				break;
			}
			if (g->paddr > addr && g->paddr < next)
				next = g->paddr;
		}
		if (hit != NULL) {
			stop = hit->paddr + hit->size - 1;
			if (stop > end)
				stop = end;
			take = stop - addr + 1;
			err = copy_bytes(c, hit->offset + (addr - hit->paddr),
			    take);
		} else {
			/* not in any segment: zeros up to the next one */
			stop = next != UINT64_MAX && next - 1 < end ?
			    next - 1 : end;
			take = stop - addr + 1;
			err = zero_gap(c, take, "not in kcore");
		}
		if (err < 0)
			return err;
		if (stop == UINT64_MAX)
			return 0;
		addr = stop + 1;
	}
	return addr > end ? 0 : -EIO;
}

int
kk_lime_write(int dirfd, const char *rel, const struct kk_lime_src *ls,
    struct kk_artifact *a, char *err, size_t errlen)
{
	struct src s = { .fd = -1 };
	struct copy c;
	struct kk_range *r = NULL;
	struct kk_sink *sink = NULL;
	const char *iomem = ls->iomem ? ls->iomem : "/proc/iomem";
	size_t nr = 0, i;
	int ret;

	memset(a, 0, sizeof(*a));
	memset(&c, 0, sizeof(c));
	if (errlen > 0)
		err[0] = '\0';
	if ((ret = kk_iomem_ram(iomem, &r, &nr)) < 0) {
		snprintf(err, errlen, "%s: %s", iomem, ret == -EPERM ?
		    "addresses hidden (needs CAP_SYS_ADMIN)" : strerror(-ret));
		goto out;
	}
	if (nr == 0) {
		ret = -ENODATA;
		snprintf(err, errlen, "%s: no System RAM", iomem);
		goto out;
	}
	for (i = 0; i < nr; i++)
		if (r[i].end - r[i].start >= RANGE_MAX) {
			ret = -ERANGE;
			snprintf(err, errlen, "%s: implausible RAM range "
			    "%llx-%llx", iomem, (unsigned long long)r[i].start,
			    (unsigned long long)r[i].end);
			goto out;
		}
	if ((ret = open_source(ls, &s, err, errlen)) < 0)
		goto out;
	if ((ret = kk_sink_open_pipelined(dirfd, rel, &sink)) < 0) {
		snprintf(err, errlen, "%s: %s", rel, strerror(-ret));
		goto out;
	}
	snprintf(a->method, sizeof(a->method), "%s", s.method);
	c.sink = sink;
	c.a = a;
	c.src = &s;
	for (i = 0; i < nr; i++) {
		struct lime_hdr h;

		memset(&h, 0, sizeof(h));
		h.magic = htole32(LIME_MAGIC);
		h.version = htole32(LIME_VERSION);
		h.s_addr = htole64(r[i].start);
		h.e_addr = htole64(r[i].end);
		if ((ret = kk_sink_write(sink, &h, sizeof(h))) < 0 ||
		    (ret = copy_range(&c, r[i].start, r[i].end)) < 0)
			break;
	}
	if (ret == 0)
		ret = flush_gap(&c);
	else
		(void)flush_gap(&c);
	ret = kk_sink_close(sink, a, ret);
	if (ret == -ENOSPC)
		snprintf(err, errlen, "%s: no space left on device after %llu "
		    "bytes", rel, (unsigned long long)a->size);
	else if (ret < 0)
		snprintf(err, errlen, "%s: %s", rel, a->error[0] ? a->error :
		    strerror(-ret));
out:
	kk_close(s.fd);
	free(s.segs);
	free(r);
	return ret;
}
