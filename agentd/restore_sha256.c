/*
 * SHA-256 for kakurid-restore alone: libmd's (Debian's libmd0, the BSD
 * message digest functions), so that the boot restore links no
 * libcrypto.  Never linked with common/sha256.c.  See sha256.h.
 */
#include <sys/types.h>

#include <sha2.h>

#include "sha256.h"

_Static_assert(sizeof(SHA2_CTX) <= sizeof(struct kk_sha256_ctx),
    "struct kk_sha256_ctx cannot hold SHA2_CTX");

void
kk_sha256_begin(struct kk_sha256_ctx *c)
{
	SHA256Init((SHA2_CTX *)(void *)c->opaque);
}

void
kk_sha256_add(struct kk_sha256_ctx *c, const void *data, size_t len)
{
	SHA256Update((SHA2_CTX *)(void *)c->opaque, data, len);
}

void
kk_sha256_end(struct kk_sha256_ctx *c, unsigned char out[32])
{
	SHA256Final(out, (SHA2_CTX *)(void *)c->opaque);
}

void
kk_sha256(const void *data, size_t len, unsigned char out[32])
{
	struct kk_sha256_ctx c;

	kk_sha256_begin(&c);
	kk_sha256_add(&c, data, len);
	kk_sha256_end(&c, out);
}
