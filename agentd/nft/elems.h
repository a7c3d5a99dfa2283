/*
 * The elements of a set, one after another, as a NEWSETELEM message's
 * list lays them out (elems.c): build.c splits them across messages.
 */
#ifndef KK_NFT_ELEMS_H
#define KK_NFT_ELEMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>
#include <libnftnl/set.h>

#include "nft.h"

/*
 * The elements of one set, in order: an interval set's from its ranges,
 * a small set's from its libnftnl elements.
 */
struct elem_src {
	const struct kk_nft_ranges *r;
	struct nftnl_set_elems_iter *it;
	size_t n;		/* elements in all */
	size_t next;		/* the next one to put */
	uint32_t keylen;
	bool timeouts;		/* a set with timeouts: each element has its own */
};

int kk_nft_elems_open(struct elem_src *src, const struct kk_nft_objects *o,
    size_t i);
void kk_nft_elems_close(struct elem_src *src);
/* the bytes one element takes in a list; end: an interval's end */
size_t kk_nft_elem_size(const struct elem_src *src, bool end);
/* is the next element an interval's end? */
bool kk_nft_elems_end_next(const struct elem_src *src);
/* the next element into nlh, numbered idx within its list */
int kk_nft_elems_put(struct elem_src *src, struct nlmsghdr *nlh, uint16_t idx);

#endif
