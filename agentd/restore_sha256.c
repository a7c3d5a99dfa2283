/*
 * OpenSSL's SHA256_Init/Update/Final, for kakurid-restore alone, over the
 * SHA-256 of agentd/nft/sha256.c: the code it shares with kakurid (the
 * audit chain in common/util.c, the nftables digests) calls these, and the
 * restore links no libcrypto (see restore.c).  Never linked where
 * libcrypto is: it would stand in for libcrypto's own.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "sha256.h"

/* OpenSSL's context, as its header lays it out, holds ours */
_Static_assert(sizeof(SHA256_CTX) >= sizeof(struct kk_sha256),
    "SHA256_CTX cannot hold struct kk_sha256");
_Static_assert(_Alignof(SHA256_CTX) >= _Alignof(struct kk_sha256),
    "SHA256_CTX is less aligned than struct kk_sha256");

int
SHA256_Init(SHA256_CTX *c)
{
	kk_sha256_init((struct kk_sha256 *)(void *)c);
	return 1;
}

int
SHA256_Update(SHA256_CTX *c, const void *data, size_t len)
{
	kk_sha256_update((struct kk_sha256 *)(void *)c, data, len);
	return 1;
}

int
SHA256_Final(unsigned char *md, SHA256_CTX *c)
{
	kk_sha256_final((struct kk_sha256 *)(void *)c, md);
	return 1;
}
