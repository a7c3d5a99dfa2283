/*
 * Small helpers both programs use: mode names, hashing to hex.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

/*
 * SHA-256 through OpenSSL's one-shot digest functions: EVP would load
 * the whole default provider (about 2 MiB of resident memory) into a
 * daemon that mostly sleeps; the direct functions are the same code.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "kakuri.h"

static const char *const mode_names[] = {
	[KK_MODE_OPEN] = "open",
	[KK_MODE_EGRESS] = "egress",
	[KK_MODE_ISOLATED] = "isolated",
};

const char *
kk_mode_name(enum kk_mode m)
{
	if ((unsigned)m >= sizeof(mode_names) / sizeof(mode_names[0]))
		return "unknown";
	return mode_names[m];
}

int
kk_mode_parse(const char *s, enum kk_mode *out)
{
	size_t i;

	for (i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++) {
		if (strcmp(s, mode_names[i]) == 0) {
			*out = (enum kk_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

void
kk_sha256(const void *data, size_t len, unsigned char out[32])
{
	SHA256_CTX c;

	SHA256_Init(&c);
	SHA256_Update(&c, data, len);
	SHA256_Final(out, &c);
}

void
kk_sha256_hex(const void *data, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	size_t i;

	kk_sha256(data, len, md);
	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[64] = '\0';
}

int
kk_rfc3339(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL)
		return -EINVAL;
	if (strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -ENOBUFS;
	return 0;
}
