/*
 * kakurid's nftables tables (tables.c): the quarantine's first enforcer,
 * and the names they go by.
 */
#ifndef KD_TABLES_H
#define KD_TABLES_H

#include <stdbool.h>
#include <stddef.h>

#include "enforcer.h"

struct kk_nft_spec;

extern const struct kd_enforcer kd_tables_enforcer;

/* The name kakurid's tables have now: its own, or a fallback. */
const char *kd_tables_name(const struct kd *d);
/* Whether that is kakurid's own name (KK_TABLE_NAME). */
bool kd_tables_own_name(const struct kd *d);
/* What the tables of mode are under name, from the policy and the kernel's flags. */
void kd_tables_spec(struct kd *d, enum kk_mode mode, const char *episode,
    const char *name, struct kk_nft_spec *spec);
/* What the kernel refused of the tables while quarantined, in words; false if nothing. */
bool kd_tables_refused(const struct kd *d, char *buf, size_t len);
/* What the netdev table's list took (at exit). */
void kd_tables_free(struct kd *d);

#endif
