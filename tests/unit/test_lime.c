/*
 * Physical RAM as LiME (agentd/lime.c) against fixtures built at test
 * time: an iomem text with "System RAM" at several depths, in no order;
 * a synthetic kcore (ELF64 core whose PT_LOAD segments carry p_paddr)
 * with a known byte at every physical address; a "crash" file read at the
 * physical address.  The images are parsed back header by header.
 */
#include <sys/stat.h>

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "evidence.h"
#include "suites.h"
#include "../progutil.h"
#include "testutil.h"

#define LIME_MAGIC	0x4C694D45U

/* the byte every source holds at physical address p */
static uint8_t
pat(uint64_t p)
{
	return (uint8_t)((p >> 12) * 31 + (p & 0xfff) * 7 + 1);
}

/*
 * RAM at the top level (twice, unsorted), under "reserved" and two
 * levels down under a PCI bus, plus lines that must be ignored.
 */
static const char iomem_text[] =
    "00000000-00000fff : Reserved\n"
    "00100000-00102fff : System RAM\n"
    "  00100000-00100fff : Kernel code\n"
    "00001000-00003fff : System RAM\n"
    "00200000-002fffff : reserved\n"
    "  00200000-00200fff : System RAM\n"
    "    00200000-00200fff : something inside\n"
    "00400000-00400fff : PCI Bus 0000:00\n"
    "  00400800-00400fff : Soft Reserved\n"
    "    00400800-00400bff : System RAM\n"
    "00500000-004fffff : System RAM\n"
    "00600000-00600fff : System RAMBLE\n"
    "this is not an iomem line\n";

static const struct kk_range want_ranges[] = {
	{ 0x1000, 0x3fff },
	{ 0x100000, 0x102fff },
	{ 0x200000, 0x200fff },
	{ 0x400800, 0x400bff },
};
#define NWANT	(sizeof(want_ranges) / sizeof(want_ranges[0]))

struct fseg {
	uint64_t paddr;
	uint64_t size;
	uint64_t off;
	int fill;	/* -1: the pattern of paddr, else this byte */
};

/*
 * The synthetic kcore: a PT_NOTE, RAM segments, one (u64)-1 segment and
 * two p_paddr 0 segments (the old kernels' "not RAM") that would paint
 * 0xee over everything if they were believed.  [0x102000, 0x102fff] of
 * the second RAM range is in no segment: a gap.
 */
static const struct fseg kcore_segs[] = {
	{ 0x1000, 0x3000, 0x1000, -1 },
	{ 0x100000, 0x2000, 0x4000, -1 },
	{ 0x200000, 0x1000, 0x6000, -1 },
	{ 0x400000, 0x1000, 0x7000, -1 },
	{ UINT64_MAX, 0x300000, 0x8000, 0xee },
	{ 0, 0x300000, 0x8000, 0xee },
	{ 0, 0x300000, 0x8000, 0xee },
};
#define NSEGS	(sizeof(kcore_segs) / sizeof(kcore_segs[0]))

static void
pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	ck_assert_int_eq(pwrite(fd, buf, len, off), (ssize_t)len);
}

static void
make_kcore(const char *path)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	uint8_t *buf;
	size_t i, k;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_CORE;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(ph);
	eh.e_phnum = NSEGS + 1;
	pwrite_all(fd, &eh, sizeof(eh), 0);
	memset(&ph, 0, sizeof(ph));
	ph.p_type = PT_NOTE;
	ph.p_offset = 0x800;
	pwrite_all(fd, &ph, sizeof(ph), sizeof(eh));
	buf = malloc(0x300000);
	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < NSEGS; i++) {
		const struct fseg *g = &kcore_segs[i];

		memset(&ph, 0, sizeof(ph));
		ph.p_type = PT_LOAD;
		ph.p_flags = PF_R | PF_W | PF_X;
		ph.p_offset = g->off;
		ph.p_vaddr = 0xffff888000000000ULL + g->off;
		ph.p_paddr = g->paddr;
		ph.p_filesz = g->size;
		ph.p_memsz = g->size;
		ph.p_align = 4096;
		pwrite_all(fd, &ph, sizeof(ph),
		    (off_t)(sizeof(eh) + (i + 1) * sizeof(ph)));
		for (k = 0; k < g->size; k++)
			buf[k] = g->fill < 0 ? pat(g->paddr + k) :
			    (uint8_t)g->fill;
		pwrite_all(fd, buf, g->size, (off_t)g->off);
	}
	free(buf);
	ck_assert_int_eq(close(fd), 0);
}

/* a /dev/crash stand-in: the pattern at its physical offsets, up to 0x201000 */
static void
make_crash(const char *path)
{
	static const struct kk_range have[] = {
		{ 0x1000, 0x3fff }, { 0x100000, 0x102fff },
		{ 0x200000, 0x200fff },
	};
	uint8_t *buf;
	size_t i;
	uint64_t a;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	buf = malloc(0x3000);
	ck_assert_ptr_nonnull(buf);
	for (i = 0; i < sizeof(have) / sizeof(have[0]); i++) {
		for (a = have[i].start; a <= have[i].end; a++)
			buf[a - have[i].start] = pat(a);
		pwrite_all(fd, buf, have[i].end - have[i].start + 1,
		    (off_t)have[i].start);
	}
	free(buf);
	ck_assert_int_eq(close(fd), 0);
}

struct fixture {
	char dir[PATH_MAX];
	char iomem[PATH_MAX];
	char kcore[PATH_MAX];
	char crash[PATH_MAX];
	char mem[PATH_MAX];
	char out[PATH_MAX];
	int outfd;
};

static void
fixture(struct fixture *f, bool kcore, bool crash)
{
	kk_test_workdir(f->dir);
	kk_test_join(f->iomem, f->dir, "iomem");
	kk_test_join(f->kcore, f->dir, "kcore");
	kk_test_join(f->crash, f->dir, "crash");
	kk_test_join(f->mem, f->dir, "mem");
	kk_test_join(f->out, f->dir, "out");
	kk_test_write(f->iomem, iomem_text, sizeof(iomem_text) - 1, 0600);
	if (kcore)
		make_kcore(f->kcore);
	if (crash)
		make_crash(f->crash);
	ck_assert_int_eq(mkdir(f->out, 0700), 0);
	f->outfd = open(f->out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(f->outfd, 0);
}

/* The fixture's files as the image's sources, each under its own name. */
static void
fixture_src(const struct fixture *f, struct kk_lime_src *src)
{
	src->kcore = f->kcore;
	src->iomem = f->iomem;
	src->crash = f->crash;
	src->mem = f->mem;
}

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/*
 * Walks the image: exact headers, ascending ranges, the pattern where a
 * source had it, zeros where the test says "missing".
 */
static void
check_image(const char *path, const struct kk_range *missing, size_t nmiss)
{
	uint8_t *d;
	size_t len, off = 0, i, m;
	uint64_t a;

	d = (uint8_t *)kk_test_read(path, &len);
	for (i = 0; i < NWANT; i++) {
		ck_assert_uint_le(off + 32, len);
		ck_assert_uint_eq(le32(d + off), LIME_MAGIC);
		ck_assert_int_eq(memcmp(d + off, "EMiL", 4), 0);
		ck_assert_uint_eq(le32(d + off + 4), 1);
		ck_assert_uint_eq(le64(d + off + 8), want_ranges[i].start);
		ck_assert_uint_eq(le64(d + off + 16), want_ranges[i].end);
		for (m = 0; m < 8; m++)
			ck_assert_uint_eq(d[off + 24 + m], 0);
		off += 32;
		for (a = want_ranges[i].start; a <= want_ranges[i].end; a++) {
			bool miss = false;

			for (m = 0; m < nmiss; m++)
				if (a >= missing[m].start &&
				    a <= missing[m].end)
					miss = true;
			ck_assert_msg(d[off] == (miss ? 0 : pat(a)),
			    "byte at physical %#llx: %#x",
			    (unsigned long long)a, d[off]);
			off++;
		}
	}
	ck_assert_uint_eq(off, len);
	free(d);
}

static void
check_gap(json_t *gaps, size_t idx, uint64_t offset, uint64_t length)
{
	json_t *g = json_array_get(gaps, idx);

	ck_assert_ptr_nonnull(g);
	ck_assert_int_eq(json_integer_value(json_object_get(g, "offset")),
	    (json_int_t)offset);
	ck_assert_int_eq(json_integer_value(json_object_get(g, "length")),
	    (json_int_t)length);
	ck_assert_ptr_nonnull(json_string_value(json_object_get(g, "why")));
}

/* file offset of physical address p in an image of want_ranges */
static uint64_t
image_offset(uint64_t p)
{
	uint64_t off = 0;
	size_t i;

	for (i = 0; i < NWANT; i++) {
		off += 32;
		if (p >= want_ranges[i].start && p <= want_ranges[i].end)
			return off + (p - want_ranges[i].start);
		off += want_ranges[i].end - want_ranges[i].start + 1;
	}
	ck_abort_msg("%#llx is not RAM", (unsigned long long)p);
	return 0;
}

/* ---- iomem ---- */

START_TEST(iomem_nested_sorted_merged)
{
	struct kk_range *r;
	char dir[PATH_MAX], path[PATH_MAX];
	size_t n, i;

	kk_test_workdir(dir);
	kk_test_join(path, dir, "iomem");
	kk_test_write(path, iomem_text, sizeof(iomem_text) - 1, 0600);
	ck_assert_int_eq(kk_iomem_ram(path, &r, &n), 0);
	ck_assert_uint_eq(n, NWANT);
	for (i = 0; i < n; i++) {
		ck_assert_uint_eq(r[i].start, want_ranges[i].start);
		ck_assert_uint_eq(r[i].end, want_ranges[i].end);
	}
	free(r);
}
END_TEST

START_TEST(iomem_overlaps_merge)
{
	static const char text[] =
	    "00002000-00002fff : System RAM\n"
	    "00001000-00001fff : System RAM\n"
	    "  00001800-00002800 : System RAM\n"
	    "00010000-0001ffff : System RAM (kmem)\n"
	    "00030000-0003ffff : System RAM\r\n";
	struct kk_range *r;
	char dir[PATH_MAX], path[PATH_MAX];
	size_t n;

	kk_test_workdir(dir);
	kk_test_join(path, dir, "iomem");
	kk_test_write(path, text, sizeof(text) - 1, 0600);
	ck_assert_int_eq(kk_iomem_ram(path, &r, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(r[0].start, 0x1000);
	ck_assert_uint_eq(r[0].end, 0x2fff);
	ck_assert_uint_eq(r[1].start, 0x10000);
	ck_assert_uint_eq(r[2].end, 0x3ffff);
	free(r);
}
END_TEST

START_TEST(iomem_hostile)
{
	static const char *texts[] = {
		"",
		"\n\n\n",
		"garbage\n-\n:\n - : System RAM\n",
		"ffffffffffffffffff-0 : System RAM\n",
		"1-ffffffffffffffffffffffff : System RAM\n",
		"+1-2 : System RAM\n0x1-0x2 : System RAM\n-1-2 : System RAM\n",
		"2-1 : System RAM\n",
		"1-2 System RAM\n1-2 :: System RAM\n1-2 : System\n",
		("ffffffffffffffff-ffffffffffffffff : System RAM\n"
		    "0-fffffffffffffffe : System RAM\n"),
	};
	char dir[PATH_MAX], path[PATH_MAX];
	struct kk_range *r;
	char *big;
	size_t n, i, k;
	int fd, e;

	kk_test_workdir(dir);
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		kk_test_join(path, dir, "iomem");
		kk_test_overwrite(path, texts[i], strlen(texts[i]));
		r = NULL;
		e = kk_iomem_ram(path, &r, &n);
		ck_assert_msg(e == 0 || e == -EPERM, "text %zu: %d", i, e);
		/* nothing parsed must still be a valid, ascending list */
		for (k = 0; e == 0 && k < n; k++) {
			ck_assert_uint_le(r[k].start, r[k].end);
			if (k > 0)
				ck_assert_uint_gt(r[k].start, r[k - 1].end);
		}
		free(r);
	}
	/* the last one merges into the whole 64-bit space, no overflow */
	kk_test_overwrite(path, texts[8], strlen(texts[8]));
	ck_assert_int_eq(kk_iomem_ram(path, &r, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(r[0].start, 0);
	ck_assert_uint_eq(r[0].end, UINT64_MAX);
	free(r);

	/* binary noise and one line of a megabyte */
	big = malloc(1 << 20);
	ck_assert_ptr_nonnull(big);
	for (k = 0; k < (1 << 20); k++)
		big[k] = (char)(k * 2654435761U >> 13);
	kk_test_overwrite(path, big, 1 << 20);
	ck_assert_int_ge(kk_iomem_ram(path, &r, &n), -EPERM);
	free(r);
	memset(big, '1', 1 << 20);
	kk_test_overwrite(path, big, 1 << 20);
	ck_assert_int_eq(kk_iomem_ram(path, &r, &n), 0);
	ck_assert_uint_eq(n, 0);
	free(r);
	free(big);

	/* what an unprivileged reader sees: every address zero */
	kk_test_overwrite(path, "00000000-00000000 : System RAM\n", 31);
	ck_assert_int_eq(kk_iomem_ram(path, &r, &n), -EPERM);

	kk_test_join(path, dir, "missing");
	ck_assert_int_eq(kk_iomem_ram(path, &r, &n), -ENOENT);

	/* a directory is not an iomem file */
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_lt(kk_iomem_ram(dir, &r, &n), 0);
}
END_TEST

/* ---- images ---- */

/*
 * An image from each source in turn: from kcore, and from the crash file
 * when kcore is missing or garbage; each leaves one gap, where its source
 * has nothing for a range of RAM.
 */
static const struct image {
	const char *what;
	bool kcore;
	const char *bad_kcore;	/* written over kcore; NULL: left alone */
	const char *name, *method;
	struct kk_range missing;	/* the uncovered range: zeros, a gap */
} images[] = {
	{ "from kcore", true, NULL, "ram/mem.lime", "lime/kcore",
	    { 0x102000, 0x102fff } },
	/* the crash file ends before the last range */
	{ "no kcore: from crash", false, NULL, "mem.lime", "lime/crash",
	    { 0x400800, 0x400bff } },
	{ "garbage kcore: from crash", false, "\177ELF but not really",
	    "mem.lime", "lime/crash", { 0x400800, 0x400bff } },
};

START_TEST(lime_images)
{
	const struct image *im = &images[_i];
	struct fixture f;
	struct kk_lime_src src;
	struct kk_artifact a;
	char err[256], path[PATH_MAX];

	fixture(&f, im->kcore, true);
	if (im->bad_kcore != NULL)
		kk_test_write(f.kcore, im->bad_kcore, strlen(im->bad_kcore),
		    0600);
	fixture_src(&f, &src);
	ck_assert_msg(kk_lime_write(f.outfd, im->name, &src, &a, err,
	    sizeof(err)) == 0, "%s: %s", im->what, err);
	ck_assert_str_eq(err, "");
	ck_assert_str_eq(a.path, im->name);
	ck_assert_str_eq(a.method, im->method);
	ck_assert(!a.incomplete);
	ck_assert_int_eq(a.pid, 0);

	kk_test_join(path, f.out, im->name);
	check_image(path, &im->missing, 1);
	ck_assert(kk_test_file_matches(path, a.size, a.sha256));
	ck_assert_ptr_nonnull(a.gaps);
	ck_assert_uint_eq(json_array_size(a.gaps), 1);
	check_gap(a.gaps, 0, image_offset(im->missing.start),
	    im->missing.end - im->missing.start + 1);
	json_decref(a.gaps);
	close(f.outfd);
}
END_TEST

START_TEST(lime_mem_last)
{
	struct fixture f;
	struct kk_lime_src src;
	struct kk_artifact a;
	char err[256];

	fixture(&f, false, true);
	/* the crash fixture under the name of mem: the last resort */
	src.kcore = f.kcore;
	src.iomem = f.iomem;
	src.crash = f.kcore;
	src.mem = f.crash;
	ck_assert_int_eq(kk_lime_write(f.outfd, "mem.lime", &src, &a, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(a.method, "lime/mem");
	json_decref(a.gaps);
	close(f.outfd);
}
END_TEST

START_TEST(lime_no_source)
{
	struct fixture f;
	struct kk_lime_src src;
	struct kk_artifact a;
	char err[512], path[PATH_MAX];

	fixture(&f, false, false);
	fixture_src(&f, &src);
	ck_assert_int_eq(kk_lime_write(f.outfd, "mem.lime", &src, &a, err,
	    sizeof(err)), -ENOENT);
	ck_assert_msg(strstr(err, "no physical memory source") != NULL, "%s",
	    err);
	ck_assert_ptr_nonnull(strstr(err, f.kcore));
	ck_assert_ptr_nonnull(strstr(err, f.crash));
	ck_assert_ptr_nonnull(strstr(err, f.mem));
	/* nothing is left behind */
	kk_test_join(path, f.out, "mem.lime");
	ck_assert_int_eq(access(path, F_OK), -1);
	close(f.outfd);
}
END_TEST

START_TEST(lime_no_ram)
{
	struct fixture f;
	struct kk_lime_src src;
	struct kk_artifact a;
	char err[256];

	fixture(&f, true, false);
	kk_test_overwrite(f.iomem, "00000000-00000fff : Reserved\n", 29);
	fixture_src(&f, &src);
	ck_assert_int_eq(kk_lime_write(f.outfd, "mem.lime", &src, &a, err,
	    sizeof(err)), -ENODATA);
	ck_assert_ptr_nonnull(strstr(err, "no System RAM"));
	close(f.outfd);
}
END_TEST

/* What lime_disk_full's child writes: an image of src into dir. */
struct full_lime {
	const char *dir;
	const struct kk_lime_src *src;
};

/*
 * In the child, on the small tmpfs: -ENOSPC with "no space left", the
 * image marked incomplete, and kept exactly as far as it was hashed.
 * It must not ck_assert: its exit status says what went wrong.
 */
static int
lime_onto_full_disk(int dfd, void *arg)
{
	const struct full_lime *fl = arg;
	struct kk_artifact a;
	char err[256], path[PATH_MAX + 16];

	if (kk_lime_write(dfd, "mem.lime", fl->src, &a, err,
	    sizeof(err)) != -ENOSPC)
		return 3;
	if (strstr(err, "no space left") == NULL)
		return 4;
	if (!a.incomplete || strcmp(a.path, "mem.lime") != 0 ||
	    a.size > 8192 || strlen(a.sha256) != 64)
		return 5;
	snprintf(path, sizeof(path), "%s/mem.lime", fl->dir);
	if (!kk_test_file_matches(path, a.size, a.sha256))
		return 6;
	json_decref(a.gaps);
	return 0;
}

/*
 * A full disk: the image is kept as far as it got, marked incomplete,
 * and -ENOSPC comes back.  Needs a small tmpfs, mounted in a private
 * mount namespace of a child so nothing outlives the test.
 */
START_TEST(lime_disk_full)
{
	struct fixture f;
	struct kk_lime_src src;
	char small[PATH_MAX];
	struct full_lime fl = { .dir = small, .src = &src };
	int st;

	fixture(&f, true, true);
	kk_test_join(small, f.dir, "small");
	ck_assert_int_eq(mkdir(small, 0700), 0);
	fixture_src(&f, &src);
	st = pu_in_small_tmpfs(small, "8k", lime_onto_full_disk, &fl);
	close(f.outfd);
	/* without mount namespaces here there is nothing to test */
	ck_assert_msg(st == 0 || st == PU_NO_NAMESPACE, "child: %d", st);
}
END_TEST

KK_SUITE(lime_suite, "lime",
	KK_CASE("lime", KK_TMPDIR, 30),
	    KK_TEST(iomem_nested_sorted_merged),
	    KK_TEST(iomem_overlaps_merge), KK_TEST(iomem_hostile),
	    KK_LOOP(lime_images, KK_NITEMS(images)),
	    KK_TEST(lime_mem_last),
	    KK_TEST(lime_no_source), KK_TEST(lime_no_ram),
	    KK_TEST(lime_disk_full))
