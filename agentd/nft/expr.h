/*
 * libnftnl expressions as nft(8) compiles them, for match.c: each match
 * loads a value into register 1 and compares it; each returns 0 or a
 * negative errno (-ENOMEM).  Internal to agentd/nft/.
 */
#ifndef KK_NFT_EXPR_H
#define KK_NFT_EXPR_H

#include <stdbool.h>
#include <stdint.h>

struct nftnl_rule;

/*
 * Where a rule finds the network and the transport header: where the
 * kernel says they are (kk_expr_stack: the inet and bridge tables), or
 * at fixed offsets into the frame (the netdev table's rows: match.c also
 * matches what makes those offsets true).  Offsets below are into the
 * header; these add base and offset.
 */
struct kk_expr_at {
	uint32_t nh_base, nh_off;	/* NFT_PAYLOAD_*_HEADER, bytes into it */
	uint32_t th_base, th_off;
};
extern const struct kk_expr_at kk_expr_stack;

/* meta KEY OP value (4 bytes) / == value (1 byte) */
int kk_expr_meta(struct nftnl_rule *r, uint32_t key, uint32_t op,
    uint32_t value);
int kk_expr_meta8(struct nftnl_rule *r, uint32_t key, uint8_t value);
/* The source or destination address (IPv4 or IPv6) is in set name/id. */
int kk_expr_addr_in(struct nftnl_rule *r, const struct kk_expr_at *at,
    bool v6, bool dst, const char *set, uint32_t set_id);
/* The address at off of the network header is in prefix addr/plen. */
int kk_expr_prefix(struct nftnl_rule *r, const struct kk_expr_at *at,
    uint32_t off, const uint8_t *addr, unsigned plen);
/* The transport port at off (0 source, 2 destination) is in set / is port. */
int kk_expr_port_in(struct nftnl_rule *r, const struct kk_expr_at *at,
    uint32_t off, const char *set, uint32_t set_id);
int kk_expr_port(struct nftnl_rule *r, const struct kk_expr_at *at,
    uint32_t off, uint16_t port);
/* One byte at off of a header (base) equals value. */
int kk_expr_byte(struct nftnl_rule *r, uint32_t base, uint32_t off,
    uint8_t value);
/*
 * len bytes at off of a header (base), masked (mask NULL: all of them),
 * equal value.
 */
int kk_expr_bytes(struct nftnl_rule *r, uint32_t base, uint32_t off,
    const void *mask, const void *value, uint32_t len);
/*
 * Bytes of one header that a rule fixes, gathered so that neighbours are
 * loaded and compared at once: every expression costs the kernel a parse
 * (a walk of all its expression types by name), a commit and a dump on
 * each apply, and the header bytes a row checks are mostly a few apart.
 * The window is at most 16 bytes, what one comparison holds (struct
 * nft_data).  Bytes nobody put are masked out; all that is put must hold,
 * so the order of the puts does not matter.
 */
#define KK_EXPR_WIN_MAX	16
struct kk_expr_win {
	uint32_t base, off;	/* the header, where the window starts in it */
	uint8_t mask[KK_EXPR_WIN_MAX], value[KK_EXPR_WIN_MAX];
};
void kk_expr_win_init(struct kk_expr_win *w, uint32_t base, uint32_t off);
/*
 * len bytes at off of w's header, masked (mask NULL: all of them), equal
 * value: -ERANGE outside the window, -EINVAL against a byte put before.
 */
int kk_expr_win_put(struct kk_expr_win *w, uint32_t off, const void *mask,
    const void *value, uint32_t len);
int kk_expr_win_put_byte(struct kk_expr_win *w, uint32_t off, uint8_t value);
/* The window's bytes as one load, a mask if one is needed, one compare. */
int kk_expr_win_emit(struct nftnl_rule *r, const struct kk_expr_win *w);
/*
 * The first byte of the transport header (ICMPv6 type) in [lo, hi]; one
 * comparison where lo is hi.
 */
int kk_expr_byte_range(struct nftnl_rule *r, const struct kk_expr_at *at,
    uint8_t lo, uint8_t hi);
int kk_expr_ct_established(struct nftnl_rule *r);
/* tcp flags & (syn | ack) != syn: anything but the opening of a connection */
int kk_expr_not_syn(struct nftnl_rule *r, const struct kk_expr_at *at);
int kk_expr_counter(struct nftnl_rule *r);
/* counter name NAME: the named counter object NAME of the table */
int kk_expr_counter_named(struct nftnl_rule *r, const char *name);
/* The constant key 1 is in set name/id (a gate: it matches until the element times out). */
int kk_expr_gate(struct nftnl_rule *r, const char *set, uint32_t set_id);
int kk_expr_verdict(struct nftnl_rule *r, int verdict);
/* at most rate packets per unit seconds (burst 5) go on: limit rate N/second */
int kk_expr_limit(struct nftnl_rule *r, uint32_t rate, uint32_t unit);
/* log group G prefix P snaplen S: a copy of the packet to NFLOG */
int kk_expr_nflog(struct nftnl_rule *r, uint16_t group, const char *prefix,
    uint32_t snaplen);

#endif
