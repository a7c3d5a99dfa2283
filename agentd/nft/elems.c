/*
 * A set's elements for a NEWSETELEM message (elems.h): an interval set's
 * from its ranges, written as libmnl would lay them out, a small set's
 * from its libnftnl elements.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <netinet/in.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <libnftnl/set.h>

#include "elems.h"

int
kk_nft_elems_open(struct elem_src *src, const struct kk_nft_objects *o,
    size_t i)
{
	memset(src, 0, sizeof(*src));
	src->r = o->ranges[i];
	if (src->r != NULL) {
		if (!src->r->sealed)
			return -EINVAL;
		src->n = src->r->nelems;
		src->keylen = src->r->keylen;
		return 0;
	}
	src->it = nftnl_set_elems_iter_create(o->sets[i]);
	if (src->it == NULL)
		return -ENOMEM;
	while (nftnl_set_elems_iter_next(src->it) != NULL)
		src->n++;
	nftnl_set_elems_iter_destroy(src->it);
	src->it = nftnl_set_elems_iter_create(o->sets[i]);
	src->keylen = nftnl_set_get_u32(o->sets[i], NFTNL_SET_KEY_LEN);
	src->timeouts = (nftnl_set_get_u32(o->sets[i], NFTNL_SET_FLAGS) &
	    NFT_SET_TIMEOUT) != 0;
	return src->it == NULL ? -ENOMEM : 0;
}

void
kk_nft_elems_close(struct elem_src *src)
{
	if (src->it)
		nftnl_set_elems_iter_destroy(src->it);
	src->it = NULL;
}

/* The bytes one element takes in a list, as libnftnl lays it out. */
size_t
kk_nft_elem_size(const struct elem_src *src, bool end)
{
	return MNL_ATTR_HDRLEN +			/* the element's nest */
	    (end ? MNL_ATTR_HDRLEN + MNL_ALIGN(sizeof(uint32_t)) : 0) +
	    (src->timeouts ? MNL_ATTR_HDRLEN + sizeof(uint64_t) : 0) +
	    MNL_ATTR_HDRLEN +				/* NFTA_SET_ELEM_KEY */
	    MNL_ATTR_HDRLEN + MNL_ALIGN(src->keylen);	/* NFTA_DATA_VALUE */
}

bool
kk_nft_elems_end_next(const struct elem_src *src)
{
	return src->r != NULL && src->next % 2 == 1;
}

/* An attribute header at p: len bytes in all, of type. */
static uint8_t *
attr_head(uint8_t *p, uint16_t len, uint16_t type)
{
	struct nlattr *a = (struct nlattr *)p;

	a->nla_len = len;
	a->nla_type = type;
	return p + MNL_ATTR_HDRLEN;
}

/*
 * The next element of an interval set into nlh, numbered idx: the bytes
 * libmnl's nest and put calls lay out (kk_nft_elem_size()), written in one go.
 * 200,000 of them are a restore's whole batch, and six library calls
 * each were most of the time spent building it.
 */
static void
range_put(struct elem_src *src, struct nlmsghdr *nlh, uint16_t idx)
{
	uint8_t *p = mnl_nlmsg_get_payload_tail(nlh);
	uint16_t klen = (uint16_t)src->keylen;
	bool end = kk_nft_elems_end_next(src);
	uint16_t len = (uint16_t)kk_nft_elem_size(src, end);

	p = attr_head(p, len, idx | NLA_F_NESTED);
	if (end) {
		p = attr_head(p, MNL_ATTR_HDRLEN + sizeof(uint32_t),
		    NFTA_SET_ELEM_FLAGS);
		*(uint32_t *)(void *)p = htonl(NFT_SET_ELEM_INTERVAL_END);
		p += sizeof(uint32_t);
	}
	p = attr_head(p, 2 * MNL_ATTR_HDRLEN + klen,
	    NFTA_SET_ELEM_KEY | NLA_F_NESTED);
	p = attr_head(p, MNL_ATTR_HDRLEN + klen, NFTA_DATA_VALUE);
	/* keys are 4 or 16 bytes: no padding after them */
	kk_nft_ranges_elem(src->r, src->next, p, &end);
	nlh->nlmsg_len += len;
	src->next++;
}

/* The next element into nlh, numbered idx within its list. */
int
kk_nft_elems_put(struct elem_src *src, struct nlmsghdr *nlh, uint16_t idx)
{
	struct nftnl_set_elem *e;
	struct nlattr *nest, *key;
	const void *k;
	uint32_t klen = src->keylen;
	uint64_t timeout = 0;

	if (src->r != NULL) {
		range_put(src, nlh, idx);
		return 0;
	}
	e = nftnl_set_elems_iter_next(src->it);
	if (e == NULL)
		return -EINVAL;
	k = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen);
	if (klen != src->keylen)
		return -EINVAL;
	if (src->timeouts && (!nftnl_set_elem_is_set(e,
	    NFTNL_SET_ELEM_TIMEOUT) || (timeout = nftnl_set_elem_get_u64(
	    e, NFTNL_SET_ELEM_TIMEOUT)) == 0))
		return -EINVAL;
	nest = mnl_attr_nest_start(nlh, idx);
	if (src->timeouts)
		mnl_attr_put_u64(nlh, NFTA_SET_ELEM_TIMEOUT, htobe64(timeout));
	key = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
	mnl_attr_put(nlh, NFTA_DATA_VALUE, klen, k);
	mnl_attr_nest_end(nlh, key);
	mnl_attr_nest_end(nlh, nest);
	src->next++;
	return 0;
}
