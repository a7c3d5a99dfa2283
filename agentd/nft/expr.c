/*
 * libnftnl expressions as nft(8) compiles them: see expr.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include <linux/netfilter/nf_tables.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>

#include "expr.h"

#define CT_ESTABLISHED		0x2	/* NF_CT_STATE_BIT(IP_CT_ESTABLISHED) */

const struct kk_expr_at kk_expr_stack = {
	NFT_PAYLOAD_NETWORK_HEADER, 0, NFT_PAYLOAD_TRANSPORT_HEADER, 0,
};

static int
expr_add(struct nftnl_rule *r, struct nftnl_expr *e)
{
	if (e == NULL)
		return -ENOMEM;
	nftnl_rule_add_expr(r, e);
	return 0;
}

static int
expr_load_meta(struct nftnl_rule *r, uint32_t key)
{
	struct nftnl_expr *e = nftnl_expr_alloc("meta");

	if (e != NULL) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	}
	return expr_add(r, e);
}

static int
expr_cmp(struct nftnl_rule *r, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("cmp");

	if (e != NULL) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
		nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	}
	return expr_add(r, e);
}

static int
expr_payload(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("payload");

	if (e != NULL) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	}
	return expr_add(r, e);
}

static int
expr_lookup(struct nftnl_rule *r, const char *set, uint32_t set_id)
{
	struct nftnl_expr *e = nftnl_expr_alloc("lookup");

	if (e != NULL) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
		nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, 0);
	}
	return expr_add(r, e);
}

/* reg 1 &= mask (len bytes) */
static int
expr_mask(struct nftnl_rule *r, const void *mask, uint32_t len)
{
	static const uint8_t zero[16];
	struct nftnl_expr *e = nftnl_expr_alloc("bitwise");

	if (e != NULL) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len);
	}
	return expr_add(r, e);
}

int
kk_expr_meta(struct nftnl_rule *r, uint32_t key, uint32_t op, uint32_t value)
{
	int err = expr_load_meta(r, key);

	return err < 0 ? err : expr_cmp(r, op, &value, sizeof(value));
}

int
kk_expr_meta8(struct nftnl_rule *r, uint32_t key, uint8_t value)
{
	int err = expr_load_meta(r, key);

	return err < 0 ? err : expr_cmp(r, NFT_CMP_EQ, &value, 1);
}

int
kk_expr_addr_in(struct nftnl_rule *r, const struct kk_expr_at *at, bool v6,
    bool dst, const char *set, uint32_t set_id)
{
	int err = expr_payload(r, at->nh_base,
	    at->nh_off + (v6 ? (dst ? 24 : 8) : (dst ? 16 : 12)), v6 ? 16 : 4);

	return err < 0 ? err : expr_lookup(r, set, set_id);
}

/* Load only the bytes the prefix covers, and mask a partial last one, as nft does. */
int
kk_expr_prefix(struct nftnl_rule *r, const struct kk_expr_at *at, uint32_t off,
    const uint8_t *addr, unsigned plen)
{
	uint8_t mask[16];
	uint32_t len = (plen + 7u) / 8u;
	int err;

	if (len == 0 || len > sizeof(mask))
		return -EINVAL;
	if ((err = expr_payload(r, at->nh_base, at->nh_off + off, len)) < 0)
		return err;
	if (plen % 8) {
		memset(mask, 0xff, len);
		mask[len - 1] = (uint8_t)(0xff << (8 - plen % 8));
		if ((err = expr_mask(r, mask, len)) < 0)
			return err;
	}
	return expr_cmp(r, NFT_CMP_EQ, addr, len);
}

int
kk_expr_port_in(struct nftnl_rule *r, const struct kk_expr_at *at,
    uint32_t off, const char *set, uint32_t set_id)
{
	int err = expr_payload(r, at->th_base, at->th_off + off, 2);

	return err < 0 ? err : expr_lookup(r, set, set_id);
}

int
kk_expr_port(struct nftnl_rule *r, const struct kk_expr_at *at, uint32_t off,
    uint16_t port)
{
	uint16_t be = htons(port);
	int err = expr_payload(r, at->th_base, at->th_off + off, 2);

	return err < 0 ? err : expr_cmp(r, NFT_CMP_EQ, &be, sizeof(be));
}

int
kk_expr_byte(struct nftnl_rule *r, uint32_t base, uint32_t off, uint8_t value)
{
	int err = expr_payload(r, base, off, 1);

	return err < 0 ? err : expr_cmp(r, NFT_CMP_EQ, &value, 1);
}

int
kk_expr_bytes(struct nftnl_rule *r, uint32_t base, uint32_t off,
    const void *mask, const void *value, uint32_t len)
{
	int err;

	if ((err = expr_payload(r, base, off, len)) < 0 ||
	    (mask != NULL && (err = expr_mask(r, mask, len)) < 0))
		return err;
	return expr_cmp(r, NFT_CMP_EQ, value, len);
}

void
kk_expr_win_init(struct kk_expr_win *w, uint32_t base, uint32_t off)
{
	memset(w, 0, sizeof(*w));
	w->base = base;
	w->off = off;
}

int
kk_expr_win_put(struct kk_expr_win *w, uint32_t off, const void *mask,
    const void *value, uint32_t len)
{
	const uint8_t *m = mask, *v = value;
	uint32_t i, j;
	uint8_t bm;

	if (off < w->off || len > KK_EXPR_WIN_MAX ||
	    off - w->off > KK_EXPR_WIN_MAX - len)
		return -ERANGE;
	for (i = 0; i < len; i++) {
		j = off - w->off + i;
		bm = m != NULL ? m[i] : 0xff;
		/* a bit both puts fix must be the same in both */
		if ((w->value[j] ^ v[i]) & w->mask[j] & bm)
			return -EINVAL;
	}
	for (i = 0; i < len; i++) {
		j = off - w->off + i;
		bm = m != NULL ? m[i] : 0xff;
		w->mask[j] |= bm;
		w->value[j] |= v[i] & bm;
	}
	return 0;
}

int
kk_expr_win_put_byte(struct kk_expr_win *w, uint32_t off, uint8_t value)
{
	return kk_expr_win_put(w, off, NULL, &value, 1);
}

int
kk_expr_win_emit(struct nftnl_rule *r, const struct kk_expr_win *w)
{
	uint32_t first = 0, end = KK_EXPR_WIN_MAX, i;
	bool masked = false;

	while (first < end && w->mask[first] == 0)
		first++;
	while (end > first && w->mask[end - 1] == 0)
		end--;
	if (first == end)
		return 0;
	for (i = first; i < end; i++)
		masked |= w->mask[i] != 0xff;
	return kk_expr_bytes(r, w->base, w->off + first,
	    masked ? w->mask + first : NULL, w->value + first, end - first);
}

int
kk_expr_byte_range(struct nftnl_rule *r, const struct kk_expr_at *at,
    uint8_t lo, uint8_t hi)
{
	int err;

	if (lo == hi)
		return kk_expr_byte(r, at->th_base, at->th_off, lo);
	if ((err = expr_payload(r, at->th_base, at->th_off, 1)) < 0 ||
	    (err = expr_cmp(r, NFT_CMP_GTE, &lo, 1)) < 0)
		return err;
	return expr_cmp(r, NFT_CMP_LTE, &hi, 1);
}

int
kk_expr_ct_established(struct nftnl_rule *r)
{
	struct nftnl_expr *e = nftnl_expr_alloc("ct");
	uint32_t mask = CT_ESTABLISHED, zero = 0;
	int err;

	if (e != NULL) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	}
	if ((err = expr_add(r, e)) < 0 ||
	    (err = expr_mask(r, &mask, sizeof(mask))) < 0)
		return err;
	return expr_cmp(r, NFT_CMP_NEQ, &zero, sizeof(zero));
}

int
kk_expr_not_syn(struct nftnl_rule *r, const struct kk_expr_at *at)
{
	uint8_t mask = 0x12, syn = 0x02;
	int err;

	if ((err = expr_payload(r, at->th_base, at->th_off + 13, 1)) < 0 ||
	    (err = expr_mask(r, &mask, 1)) < 0)
		return err;
	return expr_cmp(r, NFT_CMP_NEQ, &syn, 1);
}

int
kk_expr_counter(struct nftnl_rule *r)
{
	return expr_add(r, nftnl_expr_alloc("counter"));
}

int
kk_expr_counter_named(struct nftnl_rule *r, const char *name)
{
	struct nftnl_expr *e = nftnl_expr_alloc("objref");

	if (e != NULL) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_OBJREF_IMM_TYPE,
		    NFT_OBJECT_COUNTER);
		nftnl_expr_set_str(e, NFTNL_EXPR_OBJREF_IMM_NAME, name);
	}
	return expr_add(r, e);
}

int
kk_expr_verdict(struct nftnl_rule *r, int verdict)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	if (e != NULL) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	}
	return expr_add(r, e);
}

int
kk_expr_gate(struct nftnl_rule *r, const char *set, uint32_t set_id)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");
	const uint32_t one = htonl(1);
	int err;

	if (e != NULL) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
		nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, &one, sizeof(one));
	}
	if ((err = expr_add(r, e)) < 0)
		return err;
	return expr_lookup(r, set, set_id);
}

int
kk_expr_limit(struct nftnl_rule *r, uint32_t rate, uint32_t unit)
{
	struct nftnl_expr *e = nftnl_expr_alloc("limit");

	if (e != NULL) {
		nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_RATE, rate);
		nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_UNIT, unit ? unit : 1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_BURST, 5);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_FLAGS, 0);
	}
	return expr_add(r, e);
}

int
kk_expr_nflog(struct nftnl_rule *r, uint16_t group, const char *prefix,
    uint32_t snaplen)
{
	struct nftnl_expr *e = nftnl_expr_alloc("log");

	if (e != NULL) {
		nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_GROUP, group);
		nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, prefix);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOG_SNAPLEN, snaplen);
	}
	return expr_add(r, e);
}
