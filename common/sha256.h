/*
 * SHA-256 in steps, behind one interface with two implementations chosen
 * at build time from the one common/sha256.c: OpenSSL's in kakurid and
 * kakurictl, Nettle's (-DKK_SHA256_NETTLE) in kakurid-restore, which links
 * no libcrypto so that boot does not bind its relocations for a few
 * kilobytes of hashing.  t-crash holds the two equal: the audit chain the
 * restore writes is verified by kakurid's code.
 */
#ifndef KK_SHA256_H
#define KK_SHA256_H

#include <stddef.h>

/* room for either library's context (OpenSSL's: 112 bytes, Nettle's: 112) */
struct kk_sha256_ctx {
	_Alignas(16) unsigned char opaque[256];
};

void kk_sha256_begin(struct kk_sha256_ctx *c);
void kk_sha256_add(struct kk_sha256_ctx *c, const void *data, size_t len);
void kk_sha256_end(struct kk_sha256_ctx *c, unsigned char out[32]);
/* the whole of data at once */
void kk_sha256(const void *data, size_t len, unsigned char out[32]);

#endif
