/*
 * SHA-256 in steps, one source compiled twice (see sha256.h):
 * - as common/sha256.o for kakurid and kakurictl: OpenSSL's direct
 *   functions, not EVP (the first EVP digest loads the default provider
 *   and openssl.cnf);
 * - with -DKK_SHA256_NETTLE for kakurid-restore alone: Nettle's (Debian's
 *   libnettle8, which apt's TLS library already needs), so that the boot
 *   restore links no libcrypto.  Debian builds Nettle "fat": it picks
 *   the CPU's SHA instructions at run time, as OpenSSL does, and a
 *   restore of 100,000 ranges hashes megabytes (the list files and the
 *   sets' digests): libmd's portable code took 5 times as long.
 */
#ifdef KK_SHA256_NETTLE
#include <nettle/sha2.h>
#include <nettle/version.h>

typedef struct sha256_ctx backend_ctx;
#define backend_init(c)		sha256_init(c)
#define backend_update(c, d, n)	sha256_update(c, n, d)
#if NETTLE_VERSION_MAJOR >= 4
#define backend_final(out, c)	sha256_digest(c, out)
#else
#define backend_final(out, c)	sha256_digest(c, SHA256_DIGEST_SIZE, out)
#endif
#else
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

typedef SHA256_CTX backend_ctx;
#define backend_init	SHA256_Init
#define backend_update	SHA256_Update
#define backend_final	SHA256_Final
#endif

#include "sha256.h"

_Static_assert(sizeof(backend_ctx) <= sizeof(struct kk_sha256_ctx),
    "struct kk_sha256_ctx cannot hold the library's context");

static backend_ctx *
backend_of(struct kk_sha256_ctx *c)
{
	return (backend_ctx *)(void *)c->opaque;
}

void
kk_sha256_begin(struct kk_sha256_ctx *c)
{
	backend_init(backend_of(c));
}

void
kk_sha256_add(struct kk_sha256_ctx *c, const void *data, size_t len)
{
	backend_update(backend_of(c), data, len);
}

void
kk_sha256_end(struct kk_sha256_ctx *c, unsigned char out[32])
{
	backend_final(out, backend_of(c));
}

void
kk_sha256(const void *data, size_t len, unsigned char out[32])
{
	struct kk_sha256_ctx c;

	kk_sha256_begin(&c);
	kk_sha256_add(&c, data, len);
	kk_sha256_end(&c, out);
}
