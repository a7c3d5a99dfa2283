/*
 * Buffers of megabytes (a 100k block list's keys, its batch) in
 * transparent huge pages where the kernel has them (madvise mode).
 *
 * The first touch of a fresh 4 KiB page is a page fault, and the keys and
 * the batch of 100,000 ranges are some 1,800 pages, each written once:
 * measured on a virtual machine of the kind kakuri runs on, 26 ms of
 * faults for 6 MiB against under 1 ms in 2 MiB pages.  Small buffers
 * stay in small pages: a huge page is 2 MiB cleared at its first touch.
 */
#include <stdint.h>
#include <sys/mman.h>

#include "nft.h"

#define HUGE_PAGE	((size_t)2 << 20)

void *
kk_nft_bigbuf_alloc(size_t len, size_t *maplen)
{
	uint8_t *p, *at;
	size_t want;

	if (len < KK_NFT_BIGBUF_MIN) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		*maplen = len;
		return p == MAP_FAILED ? NULL : p;
	}
	/* whole huge pages at a huge page boundary: the slack goes back */
	want = (len + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
	p = mmap(NULL, want + HUGE_PAGE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	at = (uint8_t *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1));
	if (at > p)
		munmap(p, (size_t)(at - p));
	if (p + HUGE_PAGE > at)
		munmap(at + want, (size_t)(p + HUGE_PAGE - at));
	/* refused (THP off, an old kernel): small pages, as before */
	madvise(at, want, MADV_HUGEPAGE);
	*maplen = want;
	return at;
}

void
kk_nft_bigbuf_free(void *p, size_t maplen)
{
	if (p != NULL && maplen > 0)
		munmap(p, maplen);
}
