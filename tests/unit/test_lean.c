/*
 * An idle kakurid gives back what it does not use (agentd/lean.c): the
 * clean pages of a private read-only file mapping are unmapped, and a page
 * of such a mapping that was written (a debugger's breakpoint: an
 * anonymous copy-on-write page) keeps what was written.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <check.h>

#include "lean.h"
#include "suites.h"
#include "testutil.h"

#define NPAGES	64

/* Whether the page at p is in this process's page tables. */
static int
present(const void *p)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &e, sizeof(e),
	    (off_t)((uintptr_t)p / (uintptr_t)page * sizeof(e))), sizeof(e));
	close(fd);
	return (e >> 63) & 1;
}

START_TEST(test_settle_drops_clean_keeps_written)
{
	long page = sysconf(_SC_PAGESIZE);
	char path[PATH_MAX + 16], *buf, *map;
	int fd, mem, i, still = 0;
	volatile char sink = 0;

	snprintf(path, sizeof(path), "%s/lib.so", kk_test_base);
	buf = malloc((size_t)page * NPAGES);
	ck_assert_ptr_nonnull(buf);
	memset(buf, 'f', (size_t)page * NPAGES);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, (size_t)page * NPAGES),
	    page * NPAGES);
	map = mmap(NULL, (size_t)page * NPAGES, PROT_READ, MAP_PRIVATE, fd, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	for (i = 0; i < NPAGES; i++)
		sink += map[i * page];
	/* a breakpoint's way into read-only code: a forced write */
	mem = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(mem, 0);
	ck_assert_int_eq(pwrite(mem, "B", 1, (off_t)(uintptr_t)(map + 5 * page)),
	    1);
	close(mem);
	ck_assert_int_eq(map[5 * page], 'B');
	for (i = 0; i < NPAGES; i++)
		ck_assert_msg(present(map + i * page), "page %d not resident", i);

	kd_lean_settle();

	ck_assert_msg(map[5 * page] == 'B',
	    "the written page was dropped: it reads the file's byte again");
	ck_assert(present(map + 5 * page));
	for (i = 0; i < NPAGES; i++)
		if (i != 5 && present(map + i * page))
			still++;
	ck_assert_msg(still == 0, "%d clean pages still mapped", still);
	/* and they read back from the file as before */
	ck_assert_int_eq(map[7 * page], 'f');
	munmap(map, (size_t)page * NPAGES);
	close(fd);
	free(buf);
}
END_TEST

/*
 * A deep call: 64 KiB of its frame written; the frame's lowest address.
 * alloca, not an array: ASan may put a fixed array on its "fake stack".
 */
static __attribute__((noinline)) uintptr_t
deep(void)
{
	volatile char *a = __builtin_alloca(64 * 1024);
	size_t i;

	for (i = 0; i < 64 * 1024; i += 512)
		a[i] = 1;
	return (uintptr_t)a;
}

/* The [stack] mapping, as /proc/self/maps has it. */
static void
stack_mapping(uintptr_t *lo, uintptr_t *hi)
{
	char line[512];
	unsigned long a, b;
	FILE *f = fopen("/proc/self/maps", "re");

	*lo = *hi = 0;
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, " [stack]\n") != NULL &&
		    sscanf(line, "%lx-%lx", &a, &b) == 2)
			*lo = a, *hi = b;
	fclose(f);
	ck_assert_msg(*hi != 0, "no [stack] in /proc/self/maps");
}

START_TEST(test_settle_drops_the_stack_below)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), low, lo, hi;
	volatile char mine[4096];
	size_t i;

	for (i = 0; i < sizeof(mine); i++)
		mine[i] = (char)i;
	low = deep() & ~(page - 1);
	stack_mapping(&lo, &hi);
	ck_assert_msg(low >= lo && low < hi, "the deep frame (%#lx) is not "
	    "on the [stack] mapping (%#lx-%#lx)", (unsigned long)low,
	    (unsigned long)lo, (unsigned long)hi);
	ck_assert(present((void *)low));

	kd_lean_settle();

	ck_assert_msg(!present((void *)low), "the deep frame's lowest page "
	    "is still resident");
	/* what lives in the frames above is untouched */
	for (i = 0; i < sizeof(mine); i++)
		ck_assert_int_eq(mine[i], (char)i);
	/* and the stack goes as deep again */
	ck_assert_uint_eq(deep() & ~(page - 1), low);
	ck_assert(present((void *)low));
}
END_TEST

KK_SUITE(lean_suite, "lean",
	KK_CASE("settle", KK_TMPDIR, 0),
	    KK_TEST(test_settle_drops_clean_keeps_written),
	    KK_TEST(test_settle_drops_the_stack_below))
