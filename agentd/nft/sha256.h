/*
 * SHA-256 (FIPS 180-4) of its own, for kakurid-restore: the boot restore
 * hashes a few kilobytes (its canonical tables, one audit line) and
 * should not load libcrypto for it (4,000 relocations bound at start).
 * kakurid itself uses OpenSSL's; the unit tests hold the two equal.
 */
#ifndef KK_SHA256_H
#define KK_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* 32-bit fields only: it fits in OpenSSL's SHA256_CTX (restore_sha256.c) */
struct kk_sha256 {
	uint32_t h[8];
	uint32_t bytes[2];	/* hashed so far: low, high */
	unsigned char buf[64];
	uint32_t nbuf;
};

void kk_sha256_init(struct kk_sha256 *c);
void kk_sha256_update(struct kk_sha256 *c, const void *data, size_t len);
void kk_sha256_final(struct kk_sha256 *c, unsigned char out[32]);

#endif
