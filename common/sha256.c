/*
 * SHA-256 for kakurid and kakurictl: OpenSSL's direct functions, not
 * EVP (the first EVP digest loads the default provider and openssl.cnf).
 * See sha256.h.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "sha256.h"

_Static_assert(sizeof(SHA256_CTX) <= sizeof(struct kk_sha256_ctx),
    "struct kk_sha256_ctx cannot hold SHA256_CTX");

void
kk_sha256_begin(struct kk_sha256_ctx *c)
{
	SHA256_Init((SHA256_CTX *)(void *)c->opaque);
}

void
kk_sha256_add(struct kk_sha256_ctx *c, const void *data, size_t len)
{
	SHA256_Update((SHA256_CTX *)(void *)c->opaque, data, len);
}

void
kk_sha256_end(struct kk_sha256_ctx *c, unsigned char out[32])
{
	SHA256_Final(out, (SHA256_CTX *)(void *)c->opaque);
}

void
kk_sha256(const void *data, size_t len, unsigned char out[32])
{
	SHA256(data, len, out);
}
