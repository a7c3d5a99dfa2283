/*
 * A built batch read by sequence number (build.c maps every message it
 * builds): what a message carries, its family, and the element or the
 * object a refusal of the kernel points at, for the error kakurid
 * reports (nft.c).
 */
#include <stdio.h>
#include <arpa/inet.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "nft.h"

const struct kk_nft_msgmap *
kk_nft_batch_msg(const struct kk_nft_batch *b, uint32_t seq)
{
	/* one map entry per sequence number from seq_first + 1, in order */
	if (seq <= b->seq_first || seq > b->seq_last ||
	    seq - b->seq_first - 1 >= b->nmap)
		return NULL;
	return &b->map[seq - b->seq_first - 1];
}

const char *
kk_nft_batch_what(const struct kk_nft_batch *b, uint32_t seq)
{
	const struct kk_nft_msgmap *m = kk_nft_batch_msg(b, seq);

	return m ? m->what : "batch";
}

int
kk_nft_batch_family(const struct kk_nft_batch *b, uint32_t seq)
{
	const struct kk_nft_msgmap *m = kk_nft_batch_msg(b, seq);

	return m ? m->family : 0;
}

/* Which element of m's list holds offset off of its message; -1 if none. */
static long
elem_at(const struct kk_nft_batch *b, const struct kk_nft_msgmap *m,
    uint32_t off)
{
	const struct nlmsghdr *nlh =
	    (const void *)(b->pages[m->page].buf + m->off);
	const struct nlattr *a, *el;
	long k;

	if (off >= nlh->nlmsg_len)
		return -1;
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) != NFTA_SET_ELEM_LIST_ELEMENTS)
			continue;
		k = 0;
		mnl_attr_for_each_nested(el, a) {
			if (off >= (uint32_t)((const char *)el -
			    (const char *)nlh) &&
			    off < (uint32_t)((const char *)el - (const char *)nlh) +
			    el->nla_len)
				return k;
			k++;
		}
	}
	return -1;
}

void
kk_nft_batch_locate(const struct kk_nft_batch *b, uint32_t seq, uint32_t off,
    char *buf, size_t len)
{
	const struct kk_nft_msgmap *m = kk_nft_batch_msg(b, seq);
	char range[2 * INET6_ADDRSTRLEN + 2] = "";
	long k;

	if (m == NULL) {
		snprintf(buf, len, "batch");
		return;
	}
	k = m->count ? elem_at(b, m, off) : -1;
	if (k < 0) {
		snprintf(buf, len, "%s", m->what);
		return;
	}
	if (m->ranges)
		kk_nft_ranges_format(m->ranges, (m->first + (size_t)k) / 2, range,
		    sizeof(range));
	snprintf(buf, len, "element %zu of set %s%s%s%s",
	    m->first + (size_t)k + 1, m->set, range[0] ? " (range " : "", range,
	    range[0] ? ")" : "");
}
