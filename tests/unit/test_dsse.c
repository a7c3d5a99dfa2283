/*
 * Signed commands, the crypto half (common/keys.c, dsse.c, tls.c,
 * receipt.c): DSSE pre-authentication encoding vectors, Ed25519 key files
 * and their id, the self-signed certificate, the certificate the identity
 * issues for the network child's TLS key and the identity an operator
 * reads from a chain, receipts that only the identity key may sign,
 * signing and verification (every bit of a signature, payload and type
 * mutations, the wrong key) and the strict envelope parser (a matrix of
 * malformed envelopes, the size cap).
 *
 * Known answers come from outside this code: RFC 8032 section 7.1 TEST 1
 * for the key, and a signature and an envelope computed with Python's
 * cryptography package.  Files live below a private mkdtemp(3) directory
 * that the (unchecked, so it runs in the parent) fixture removes.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "kakuri.h"
#include "sign.h"
#include "wire.h"
#include "testutil.h"
#include "tls.h"

Suite *dsse_suite(void);

/* RFC 8032, 7.1 TEST 1 */
static const uint8_t rfc_seed[32] = {
	0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60,
	0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
	0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19,
	0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
};
static const uint8_t rfc_pub[32] = {
	0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7,
	0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
	0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25,
	0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
};
/* sha256sum of the 32 raw bytes above */
#define RFC_KEY_ID \
	"21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9"

/* Ed25519(rfc_seed, PAE(KK_PT_COMMAND, "{\"v\":1}")), by Python */
static const uint8_t kat_sig[64] = {
	0x28, 0x95, 0x69, 0xc1, 0xcf, 0x03, 0xe5, 0x29,
	0xb8, 0x1b, 0x7e, 0x12, 0xef, 0x2b, 0x53, 0x42,
	0x51, 0xc7, 0xb5, 0x55, 0x34, 0xfc, 0x63, 0x9e,
	0x4e, 0x71, 0x9b, 0xb7, 0x5f, 0x86, 0x6b, 0x4f,
	0xa3, 0x23, 0x92, 0xfe, 0x2e, 0xf3, 0x8b, 0x95,
	0xb4, 0x21, 0xfb, 0xa6, 0x52, 0x00, 0x20, 0x2a,
	0x01, 0xeb, 0x05, 0x62, 0x10, 0x71, 0x27, 0xb3,
	0x69, 0x20, 0x69, 0x2d, 0x9f, 0x08, 0x64, 0x03,
};
#define KAT_PAYLOAD	"{\"v\":1}"
#define KAT_JSON \
	"{\"payloadType\":\"application/vnd.kakuri.command.v1+json\"," \
	"\"payload\":\"eyJ2IjoxfQ==\",\"signatures\":[{\"keyid\":\"k1\"," \
	"\"sig\":\"KJVpwc8D5Sm4G34S7ytTQlHHtVU0/GOeTnGbt1+Ga0+jI5L+LvOLlbQh" \
	"+6ZSACAqAesFYhBxJ7NpIGktnwhkAw==\"}]}"

/* A base64 encoder of our own, so the parser is not checked by itself. */
static char *
b64(const uint8_t *in, size_t n)
{
	static const char al[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out, *o;
	size_t i;
	uint32_t v;

	out = malloc((n + 2) / 3 * 4 + 1);
	ck_assert_ptr_nonnull(out);
	o = out;
	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];
		*o++ = al[v >> 18 & 63];
		*o++ = al[v >> 12 & 63];
		*o++ = al[v >> 6 & 63];
		*o++ = al[v & 63];
	}
	if (n - i == 1) {
		v = (uint32_t)in[i] << 16;
		*o++ = al[v >> 18 & 63];
		*o++ = al[v >> 12 & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (n - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		*o++ = al[v >> 18 & 63];
		*o++ = al[v >> 12 & 63];
		*o++ = al[v >> 6 & 63];
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static void
hex(const uint8_t *in, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", in[i]);
	out[2 * n] = '\0';
}

static void
assert_lower_hex(const char *s, size_t n)
{
	size_t i;

	ck_assert_uint_eq(strlen(s), n);
	for (i = 0; i < n; i++)
		ck_assert_msg((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f'), "not lowercase hex: %s", s);
}

static EVP_PKEY *
rfc_key(void)
{
	EVP_PKEY *k;

	k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, rfc_seed,
	    sizeof(rfc_seed));
	ck_assert_ptr_nonnull(k);
	return k;
}

/* The public half only, as a verifier holds it. */
static EVP_PKEY *
public_of(EVP_PKEY *k)
{
	unsigned char raw[32];
	size_t len = sizeof(raw);
	EVP_PKEY *p;

	ck_assert_int_eq(EVP_PKEY_get_raw_public_key(k, raw, &len), 1);
	ck_assert_uint_eq(len, 32);
	p = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, len);
	ck_assert_ptr_nonnull(p);
	return p;
}

static void
assert_same_id(EVP_PKEY *a, EVP_PKEY *b)
{
	char ia[KK_AGENT_ID_HEX + 1], ib[KK_AGENT_ID_HEX + 1];

	ck_assert_int_eq(kk_key_id(a, ia), 0);
	ck_assert_int_eq(kk_key_id(b, ib), 0);
	ck_assert_str_eq(ia, ib);
}

static void
pem_write_pubkey(const char *path, EVP_PKEY *k)
{
	FILE *f;

	f = fopen(path, "wx");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_PUBKEY(f, k), 1);
	ck_assert_int_eq(fclose(f), 0);
}

static void
pem_write_privkey(const char *path, EVP_PKEY *k)
{
	FILE *f;

	f = fopen(path, "wx");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL,
	    NULL), 1);
	ck_assert_int_eq(fclose(f), 0);
}

/*
 * k, of a type kakuri does not take, written to path by write: load
 * refuses it and sets no key.
 */
static void
load_refused(const char *path, EVP_PKEY *k,
    void (*write)(const char *, EVP_PKEY *),
    int (*load)(const char *, EVP_PKEY **))
{
	EVP_PKEY *out = (EVP_PKEY *)1;

	write(path, k);
	ck_assert_int_eq(load(path, &out), -EINVAL);
	ck_assert_ptr_null(out);
}

/* What the memory BIO b holds, written to the new file path; b freed. */
static void
write_bio(const char *path, BIO *b)
{
	char *pem;
	long len;

	len = BIO_get_mem_data(b, &pem);
	ck_assert_int_ge(len, 0);
	kk_test_write(path, pem, (size_t)len, 0600);
	BIO_free(b);
}

static X509 *
read_cert(const char *path)
{
	X509 *x;
	FILE *f;

	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	ck_assert_ptr_nonnull(x);
	return x;
}

/* ---- PAE ---- */

static void
assert_pae(const char *type, const void *payload, size_t len,
    const void *want, size_t wantlen)
{
	uint8_t *out = NULL;
	size_t outlen = 12345;

	ck_assert_int_eq(kk_dsse_pae(type, payload, len, &out, &outlen), 0);
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(outlen, wantlen);
	ck_assert_mem_eq(out, want, wantlen);
	free(out);
}

START_TEST(test_pae_vectors)
{
	static const char want_nul[] = "DSSEv1 4 t/x0 5 a\0b\0c";
	char *big, *want;
	size_t i, wl;

	/* the DSSE spec's example */
	assert_pae("http://example.com/HelloWorld", "hello world", 11,
	    "DSSEv1 29 http://example.com/HelloWorld 11 hello world", 54);
	/* empty type and payload: two spaces between the zeros */
	assert_pae("", "", 0, "DSSEv1 0  0 ", 12);
	assert_pae("", NULL, 0, "DSSEv1 0  0 ", 12);
	/* NUL bytes are payload bytes, counted and copied */
	assert_pae("t/x0", "a\0b\0c", 5, want_nul, sizeof(want_nul) - 1);
	/* a payload that itself looks like PAE */
	assert_pae("a", "1 b", 3, "DSSEv1 1 a 3 1 b", 16);
	/* lengths of several digits, no leading zeros */
	big = malloc(1000);
	ck_assert_ptr_nonnull(big);
	memset(big, 'z', 1000);
	wl = strlen("DSSEv1 10 0123456789 1000 ") + 1000;
	want = malloc(wl);
	ck_assert_ptr_nonnull(want);
	memcpy(want, "DSSEv1 10 0123456789 1000 ", 26);
	for (i = 0; i < 1000; i++)
		want[26 + i] = 'z';
	assert_pae("0123456789", big, 1000, want, wl);
	free(big);
	free(want);
}
END_TEST

START_TEST(test_pae_args)
{
	uint8_t *out = (uint8_t *)"x";
	size_t outlen = 1;

	ck_assert_int_eq(kk_dsse_pae(NULL, (const uint8_t *)"a", 1, &out,
	    &outlen), -EINVAL);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(kk_dsse_pae("t", NULL, 1, &out, &outlen), -EINVAL);
	ck_assert_int_eq(kk_dsse_pae("t", (const uint8_t *)"a", 1, NULL,
	    &outlen), -EINVAL);
}
END_TEST

/* ---- keys ---- */

START_TEST(test_key_files)
{
	char dir[PATH_MAX], priv[PATH_MAX], pub[PATH_MAX], crt[PATH_MAX];
	char id[KK_AGENT_ID_HEX + 1], id2[KK_AGENT_ID_HEX + 1];
	char *before, *after;
	size_t blen, alen;
	EVP_PKEY *k, *lpriv = NULL, *lpub = NULL, *lcrt = NULL;
	struct kk_envelope env;
	mode_t old;

	kk_test_workdir(dir);
	kk_test_join(priv, dir, "agent.key");
	kk_test_join(pub, dir, "agent.pub");
	kk_test_join(crt, dir, "agent.crt");
	k = kk_key_generate();
	ck_assert_ptr_nonnull(k);
	ck_assert(EVP_PKEY_is_a(k, "ED25519"));

	/* the exact modes, whatever the umask */
	old = umask(0);
	ck_assert_int_eq(kk_key_save_private(k, priv), 0);
	umask(077);
	ck_assert_int_eq(kk_key_save_public(k, pub), 0);
	ck_assert_int_eq(kk_cert_selfsigned(k, "agent-1", 30, crt), 0);
	umask(old);
	ck_assert_uint_eq(kk_test_file_mode(priv), 0600);
	ck_assert_uint_eq(kk_test_file_mode(pub), 0644);
	ck_assert_uint_eq(kk_test_file_mode(crt), 0644);

	before = kk_test_read(priv, &blen);
	ck_assert_ptr_eq(strstr(before, "-----BEGIN PRIVATE KEY-----\n"),
	    before);
	free(before);
	before = kk_test_read(pub, &blen);
	ck_assert_ptr_eq(strstr(before, "-----BEGIN PUBLIC KEY-----\n"),
	    before);
	free(before);
	before = kk_test_read(crt, &blen);
	ck_assert_ptr_eq(strstr(before, "-----BEGIN CERTIFICATE-----\n"),
	    before);
	free(before);

	/* never replaced; the old file stays as it was */
	before = kk_test_read(priv, &blen);
	ck_assert_int_eq(kk_key_save_private(k, priv), -EEXIST);
	ck_assert_int_eq(kk_key_save_private(k, pub), -EEXIST);
	ck_assert_int_eq(kk_key_save_public(k, pub), -EEXIST);
	ck_assert_int_eq(kk_cert_selfsigned(k, "agent-1", 30, crt), -EEXIST);
	after = kk_test_read(priv, &alen);
	ck_assert_uint_eq(alen, blen);
	ck_assert_mem_eq(after, before, blen);
	ck_assert_uint_eq(kk_test_file_mode(priv), 0600);
	free(before);
	free(after);

	ck_assert_int_eq(kk_key_load_private(priv, &lpriv), 0);
	ck_assert_int_eq(kk_key_load_public(pub, &lpub), 0);
	ck_assert_int_eq(kk_key_load_public(crt, &lcrt), 0);
	ck_assert_int_eq(kk_key_id(k, id), 0);
	assert_lower_hex(id, KK_AGENT_ID_HEX);
	ck_assert_int_eq(kk_key_id(lpub, id2), 0);
	ck_assert_str_eq(id2, id);
	ck_assert_int_eq(kk_key_id(lcrt, id2), 0);
	ck_assert_str_eq(id2, id);
	ck_assert_int_eq(kk_key_id(lpriv, id2), 0);
	ck_assert_str_eq(id2, id);
	ck_assert_int_eq(EVP_PKEY_eq(lpriv, k), 1);

	/* the loaded private key signs, the certificate's key verifies */
	ck_assert_int_eq(kk_envelope_init(&env, KK_PT_RECEIPT,
	    (const uint8_t *)"{}", 2), 0);
	ck_assert_int_eq(kk_envelope_sign(&env, id, lpriv), 0);
	ck_assert_int_eq(kk_dsse_verify_one(&env, 0, lcrt), 0);
	ck_assert_int_eq(kk_dsse_verify_one(&env, 0, lpub), 0);
	/* a public key cannot sign */
	ck_assert_int_ne(kk_envelope_sign(&env, id, lpub), 0);
	ck_assert_uint_eq(env.nsigs, 1);
	kk_envelope_free(&env);

	/* the seed, decoded without OpenSSL's PEM decoder, is the key's */
	{
		unsigned char seed[KK_ED25519_SEED], want[KK_ED25519_SEED];
		size_t wl = sizeof(want);
		char bad[PATH_MAX + 8], *text;

		ck_assert_int_eq(kk_key_load_seed(priv, seed), 0);
		ck_assert_int_eq(EVP_PKEY_get_raw_private_key(k, want, &wl), 1);
		ck_assert_mem_eq(seed, want, sizeof(seed));
		/* anything but the plain PKCS#8 form: -EINVAL */
		ck_assert_int_eq(kk_key_load_seed(pub, seed), -EINVAL);
		ck_assert_int_eq(kk_key_load_seed(crt, seed), -EINVAL);
		text = kk_test_read(priv, &blen);
		snprintf(bad, sizeof(bad), "%s.bad", priv);
		/* another algorithm's OID (X25519: 0x6e for 0x70) */
		ck_assert_ptr_nonnull(strstr(text, "MC4CAQAwBQYDK2VwBCIEI"));
		memcpy(strstr(text, "MC4CAQAwBQYDK2Vw"), "MC4CAQAwBQYDK2Vu", 16);
		kk_test_write(bad, text, blen, 0600);
		ck_assert_int_eq(kk_key_load_seed(bad, seed), -EINVAL);
		/* cut short */
		unlink(bad);
		kk_test_write(bad, text, 40, 0600);
		ck_assert_int_eq(kk_key_load_seed(bad, seed), -EINVAL);
		free(text);
	}

	/* a private key file is not a public key file */
	EVP_PKEY_free(lpub);
	lpub = (EVP_PKEY *)1;
	ck_assert_int_eq(kk_key_load_public(priv, &lpub), -EINVAL);
	ck_assert_ptr_null(lpub);
	ck_assert_int_eq(kk_key_load_private(pub, &lpub), -EINVAL);
	ck_assert_ptr_null(lpub);

	EVP_PKEY_free(lcrt);
	EVP_PKEY_free(lpriv);
	EVP_PKEY_free(k);
}
END_TEST

/* A test key (made for this test alone), as kakurid --init writes one. */
static const char seed_test_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIGek04pekEMSAAemJi+iI50XyscgF97+FVgxxje4eVRA\n"
    "-----END PRIVATE KEY-----\n";

/*
 * Does a writable mapping of this process, other than the page skip,
 * hold the len bytes at s?  Read through /proc/self/mem, so that a
 * sanitizer's poisoned bytes are read as any others; mappings over 1 GiB
 * (a sanitizer's shadow) are passed over.
 */
static bool
self_mem_has(const unsigned char *s, size_t len, const void *skip)
{
	static unsigned char buf[1 << 20];
	unsigned long a, b, off, n;
	char line[512], perms[8];
	bool found = false;
	ssize_t got;
	FILE *f;
	int fd;

	f = fopen("/proc/self/maps", "re");
	fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fd, 0);
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%lx-%lx %7s", &a, &b, perms) != 3 ||
		    perms[0] != 'r' || perms[1] != 'w' || b - a > (1UL << 30) ||
		    a == (unsigned long)(uintptr_t)skip ||
		    a == (unsigned long)(uintptr_t)buf)
			continue;
		/* chunks that overlap by len - 1: nothing falls between */
		for (off = a; !found && off < b; off += n - (len - 1)) {
			n = b - off < sizeof(buf) ? b - off : sizeof(buf);
			got = pread(fd, buf, n, (off_t)off);
			if (got < (ssize_t)len)
				break;
			found = memmem(buf, (size_t)got, s, len) != NULL;
			if (n < sizeof(buf))
				break;
		}
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	fclose(f);
	return found;
}

/*
 * kk_key_load_seed leaves the seed nowhere but where it was asked to put
 * it (kakurid's secret page): no freed buffer of a decoder holds it.  The
 * scan is shown to work on a copy made on purpose.
 */
START_TEST(test_key_seed_leaves_no_copy)
{
	char dir[PATH_MAX], path[PATH_MAX];
	unsigned char *page, *copy;

	kk_test_workdir(dir);
	kk_test_join(path, dir, "agent.key");
	kk_test_write(path, seed_test_pem, strlen(seed_test_pem), 0600);
	/* shared: never merged with a neighbour, so the skip is exact */
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED |
	    MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(page, MAP_FAILED);
	ck_assert_int_eq(kk_key_load_seed(path, page), 0);
	ck_assert_msg(!self_mem_has(page, KK_ED25519_SEED, page),
	    "a copy of the seed is left in this process's memory");
	/* the control: a copy on the heap is found */
	copy = malloc(KK_ED25519_SEED);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, page, KK_ED25519_SEED);
	ck_assert(self_mem_has(page, KK_ED25519_SEED, page));
	OPENSSL_cleanse(copy, KK_ED25519_SEED);
	free(copy);
	OPENSSL_cleanse(page, 4096);
	munmap(page, 4096);
}
END_TEST

START_TEST(test_key_no_follow)
{
	char dir[PATH_MAX], link[PATH_MAX], target[PATH_MAX];
	EVP_PKEY *k;

	kk_test_workdir(dir);
	kk_test_join(link, dir, "link");
	kk_test_join(target, dir, "target");
	ck_assert_int_eq(symlink(target, link), 0);
	k = kk_key_generate();
	ck_assert_ptr_nonnull(k);
	/* a dangling symlink is not followed to create its target */
	ck_assert_int_eq(kk_key_save_private(k, link), -EEXIST);
	ck_assert_int_eq(kk_key_save_public(k, link), -EEXIST);
	ck_assert_int_eq(kk_cert_selfsigned(k, "x", 1, link), -EEXIST);
	ck_assert_int_eq(access(target, F_OK), -1);
	ck_assert_int_eq(errno, ENOENT);
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(test_key_distinct)
{
	char a[KK_AGENT_ID_HEX + 1], b[KK_AGENT_ID_HEX + 1];
	EVP_PKEY *k1, *k2;

	k1 = kk_key_generate();
	k2 = kk_key_generate();
	ck_assert_ptr_nonnull(k1);
	ck_assert_ptr_nonnull(k2);
	ck_assert_int_eq(kk_key_id(k1, a), 0);
	ck_assert_int_eq(kk_key_id(k2, b), 0);
	ck_assert_str_ne(a, b);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}
END_TEST

START_TEST(test_key_id_kat)
{
	char id[KK_AGENT_ID_HEX + 1], want[KK_AGENT_ID_HEX + 1];
	unsigned char raw[32], md[32];
	unsigned int mdlen = 0;
	size_t len = sizeof(raw);
	EVP_PKEY *k, *p;

	k = rfc_key();
	ck_assert_int_eq(EVP_PKEY_get_raw_public_key(k, raw, &len), 1);
	ck_assert_uint_eq(len, 32);
	ck_assert_mem_eq(raw, rfc_pub, 32);
	/* SHA-256 computed here, independently of util.c */
	ck_assert_int_eq(EVP_Digest(raw, len, md, &mdlen, EVP_sha256(), NULL),
	    1);
	ck_assert_uint_eq(mdlen, 32);
	hex(md, 32, want);
	ck_assert_str_eq(want, RFC_KEY_ID);
	memset(id, 'X', sizeof(id));
	ck_assert_int_eq(kk_key_id(k, id), 0);
	ck_assert_str_eq(id, want);
	/* the public half alone has the same id */
	p = public_of(k);
	memset(id, 'X', sizeof(id));
	ck_assert_int_eq(kk_key_id(p, id), 0);
	ck_assert_str_eq(id, RFC_KEY_ID);
	EVP_PKEY_free(p);
	EVP_PKEY_free(k);
}
END_TEST

/* EC P-256, X25519 (also 32 raw bytes) and Ed448 are all refused. */
START_TEST(test_key_refuse_other_types)
{
	char dir[PATH_MAX], path[PATH_MAX], id[KK_AGENT_ID_HEX + 1];
	char name[32];
	EVP_PKEY *others[3], *out, *ed;
	struct kk_envelope env;
	X509_NAME *xname;
	X509 *x;
	FILE *f;
	size_t i;

	kk_test_workdir(dir);
	others[0] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	others[1] = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	others[2] = EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
	ed = kk_key_generate();
	ck_assert_ptr_nonnull(ed);
	ck_assert_int_eq(kk_envelope_init(&env, KK_PT_COMMAND,
	    (const uint8_t *)"{}", 2), 0);
	ck_assert_int_eq(kk_envelope_sign(&env, "", ed), 0);
	for (i = 0; i < 3; i++) {
		ck_assert_ptr_nonnull(others[i]);
		snprintf(name, sizeof(name), "o%zu.pub", i);
		kk_test_join(path, dir, name);
		load_refused(path, others[i], pem_write_pubkey,
		    kk_key_load_public);
		snprintf(name, sizeof(name), "o%zu.key", i);
		kk_test_join(path, dir, name);
		load_refused(path, others[i], pem_write_privkey,
		    kk_key_load_private);
		ck_assert_int_eq(kk_key_id(others[i], id), -EINVAL);
		snprintf(name, sizeof(name), "o%zu.save", i);
		kk_test_join(path, dir, name);
		ck_assert_int_eq(kk_key_save_public(others[i], path), -EINVAL);
		ck_assert_int_eq(kk_key_save_private(others[i], path),
		    -EINVAL);
		ck_assert_int_eq(kk_cert_selfsigned(others[i], "x", 1, path),
		    -EINVAL);
		ck_assert_int_eq(access(path, F_OK), -1);
		ck_assert_int_eq(kk_envelope_sign(&env, "", others[i]),
		    -EINVAL);
		ck_assert_int_eq(kk_dsse_verify_one(&env, 0, others[i]),
		    -EBADMSG);
	}
	ck_assert_uint_eq(env.nsigs, 1);

	/* an EC certificate, made here, is refused too */
	x = X509_new();
	xname = X509_NAME_new();
	ck_assert_ptr_nonnull(x);
	ck_assert_ptr_nonnull(xname);
	ck_assert_int_eq(X509_set_version(x, X509_VERSION_3), 1);
	ck_assert_int_eq(ASN1_INTEGER_set(X509_get_serialNumber(x), 7), 1);
	ck_assert_int_eq(X509_NAME_add_entry_by_txt(xname, "CN", MBSTRING_ASC,
	    (const unsigned char *)"ec", -1, -1, 0), 1);
	ck_assert_int_eq(X509_set_subject_name(x, xname), 1);
	ck_assert_int_eq(X509_set_issuer_name(x, xname), 1);
	ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	ck_assert_int_eq(X509_set_pubkey(x, others[0]), 1);
	ck_assert_int_gt(X509_sign(x, others[0], EVP_sha256()), 0);
	kk_test_join(path, dir, "ec.crt");
	f = fopen(path, "wx");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_X509(f, x), 1);
	ck_assert_int_eq(fclose(f), 0);
	out = (EVP_PKEY *)1;
	ck_assert_int_eq(kk_key_load_public(path, &out), -EINVAL);
	ck_assert_ptr_null(out);

	X509_NAME_free(xname);
	X509_free(x);
	kk_envelope_free(&env);
	for (i = 0; i < 3; i++)
		EVP_PKEY_free(others[i]);
	EVP_PKEY_free(ed);
}
END_TEST

START_TEST(test_key_load_bad_files)
{
	char dir[PATH_MAX], path[PATH_MAX], *pem, *big;
	unsigned char *der = NULL;
	EVP_PKEY *k, *out;
	size_t pemlen;
	BIO *b;
	int derlen;

	kk_test_workdir(dir);
	k = kk_key_generate();
	ck_assert_ptr_nonnull(k);

	kk_test_join(path, dir, "missing.pub");
	out = (EVP_PKEY *)1;
	ck_assert_int_eq(kk_key_load_public(path, &out), -ENOENT);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(kk_key_load_private(path, &out), -ENOENT);

	kk_test_join(path, dir, "empty");
	kk_test_write(path, "", 0, 0600);
	ck_assert_int_eq(kk_key_load_public(path, &out), -EINVAL);
	ck_assert_int_eq(kk_key_load_private(path, &out), -EINVAL);

	kk_test_join(path, dir, "garbage");
	kk_test_write(path, "hello\n", 6, 0600);
	ck_assert_int_eq(kk_key_load_public(path, &out), -EINVAL);
	ck_assert_int_eq(kk_key_load_private(path, &out), -EINVAL);

	/* a directory is not a key file */
	ck_assert_int_eq(kk_key_load_public(dir, &out), -EINVAL);
	ck_assert_ptr_null(out);

	/* DER with one byte too many inside a well-formed PEM block */
	derlen = i2d_PUBKEY(k, &der);
	ck_assert_int_gt(derlen, 0);
	big = malloc((size_t)derlen + 1);
	ck_assert_ptr_nonnull(big);
	memcpy(big, der, (size_t)derlen);
	big[derlen] = 0;
	b = BIO_new(BIO_s_mem());
	ck_assert_ptr_nonnull(b);
	ck_assert_int_gt(PEM_write_bio(b, "PUBLIC KEY", "",
	    (unsigned char *)big, derlen + 1), 0);
	kk_test_join(path, dir, "trailing.pub");
	write_bio(path, b);
	ck_assert_int_eq(kk_key_load_public(path, &out), -EINVAL);
	ck_assert_ptr_null(out);
	/* the same DER, exact: accepted (so the rejection above is the byte) */
	b = BIO_new(BIO_s_mem());
	ck_assert_ptr_nonnull(b);
	ck_assert_int_gt(PEM_write_bio(b, "PUBLIC KEY", "",
	    (unsigned char *)big, derlen), 0);
	kk_test_join(path, dir, "exact.pub");
	write_bio(path, b);
	ck_assert_int_eq(kk_key_load_public(path, &out), 0);
	assert_same_id(out, k);
	EVP_PKEY_free(out);
	free(big);
	OPENSSL_free(der);

	/* the 64 KiB cap: a valid key padded to exactly 64 KiB, then +1 */
	kk_test_join(path, dir, "ok.pub");
	ck_assert_int_eq(kk_key_save_public(k, path), 0);
	pem = kk_test_read(path, &pemlen);
	big = malloc(64 * 1024 + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, '\n', 64 * 1024 + 1);
	memcpy(big, pem, pemlen);
	kk_test_join(path, dir, "cap.pub");
	kk_test_write(path, big, 64 * 1024, 0600);
	ck_assert_int_eq(kk_key_load_public(path, &out), 0);
	EVP_PKEY_free(out);
	kk_test_join(path, dir, "over.pub");
	kk_test_write(path, big, 64 * 1024 + 1, 0600);
	ck_assert_int_eq(kk_key_load_public(path, &out), -EFBIG);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(kk_key_load_private(path, &out), -EFBIG);
	free(big);
	free(pem);

	/* an encrypted private key fails without asking for a passphrase */
	b = BIO_new(BIO_s_mem());
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(PEM_write_bio_PKCS8PrivateKey(b, k,
	    EVP_aes_256_cbc(), "pw", 2, NULL, NULL), 1);
	kk_test_join(path, dir, "enc.key");
	write_bio(path, b);
	ck_assert_int_eq(kk_key_load_private(path, &out), -EINVAL);
	ck_assert_ptr_null(out);

	EVP_PKEY_free(k);
}
END_TEST

static time_t
asn1_to_time(const ASN1_TIME *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	ck_assert_int_eq(ASN1_TIME_to_tm(t, &tm), 1);
	return timegm(&tm);
}

START_TEST(test_cert_contents)
{
	char dir[PATH_MAX], c1[PATH_MAX], c2[PATH_MAX], cn[128];
	const ASN1_OCTET_STRING *skid;
	BIGNUM *s1, *s2;
	EVP_PKEY *k, *p;
	X509 *x, *y;
	time_t t0, t1, nb, na;
	int loc;

	kk_test_workdir(dir);
	kk_test_join(c1, dir, "c1.crt");
	kk_test_join(c2, dir, "c2.crt");
	k = kk_key_generate();
	ck_assert_ptr_nonnull(k);
	t0 = time(NULL);
	ck_assert_int_eq(kk_cert_selfsigned(k, "host-7.example", 90, c1), 0);
	t1 = time(NULL);
	ck_assert_int_eq(kk_cert_selfsigned(k, "host-7.example", 90, c2), 0);
	x = read_cert(c1);
	y = read_cert(c2);

	ck_assert_int_eq(X509_get_version(x), X509_VERSION_3);
	ck_assert_int_eq(X509_NAME_get_text_by_NID(X509_get_subject_name(x),
	    NID_commonName, cn, sizeof(cn)), 14);
	ck_assert_str_eq(cn, "host-7.example");
	ck_assert_int_eq(X509_NAME_entry_count(X509_get_subject_name(x)), 1);
	ck_assert_int_eq(X509_NAME_cmp(X509_get_subject_name(x),
	    X509_get_issuer_name(x)), 0);
	ck_assert_int_eq(X509_get_signature_nid(x), NID_ED25519);
	p = public_of(k);
	ck_assert_int_eq(X509_verify(x, p), 1);

	/* notBefore = now - 5 min, notAfter = now + days, bracketed */
	nb = asn1_to_time(X509_get0_notBefore(x));
	na = asn1_to_time(X509_get0_notAfter(x));
	ck_assert_int_ge((long long)nb, (long long)t0 - 300);
	ck_assert_int_le((long long)nb, (long long)t1 - 300);
	ck_assert_int_ge((long long)na, (long long)t0 + 90LL * 86400);
	ck_assert_int_le((long long)na, (long long)t1 + 90LL * 86400);

	/* extensions */
	ck_assert_uint_eq(X509_get_extension_flags(x) & EXFLAG_CA, 0);
	ck_assert_uint_ne(X509_get_extension_flags(x) & EXFLAG_BCONS, 0);
	loc = X509_get_ext_by_NID(x, NID_basic_constraints, -1);
	ck_assert_int_ge(loc, 0);
	ck_assert_int_eq(X509_EXTENSION_get_critical(X509_get_ext(x, loc)), 1);
	loc = X509_get_ext_by_NID(x, NID_key_usage, -1);
	ck_assert_int_ge(loc, 0);
	ck_assert_int_eq(X509_EXTENSION_get_critical(X509_get_ext(x, loc)), 1);
	ck_assert_uint_eq(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	ck_assert_uint_eq(X509_get_extended_key_usage(x),
	    XKU_SSL_SERVER | XKU_SSL_CLIENT);
	skid = X509_get0_subject_key_id(x);
	ck_assert_ptr_nonnull(skid);
	ck_assert_int_gt(ASN1_STRING_length(skid), 0);
	ck_assert_int_eq(X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0), 1);
	ck_assert_int_eq(X509_check_purpose(x, X509_PURPOSE_SSL_CLIENT, 0), 1);

	/* serials: positive, at most 128 bits, different every time */
	s1 = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	s2 = ASN1_INTEGER_to_BN(X509_get0_serialNumber(y), NULL);
	ck_assert_ptr_nonnull(s1);
	ck_assert_ptr_nonnull(s2);
	ck_assert_int_eq(BN_is_negative(s1), 0);
	ck_assert_int_eq(BN_is_zero(s1), 0);
	ck_assert_int_le(BN_num_bits(s1), 128);
	ck_assert_int_ne(BN_cmp(s1, s2), 0);

	/* bad arguments */
	kk_test_join(c1, dir, "bad.crt");
	ck_assert_int_eq(kk_cert_selfsigned(k, "x", 0, c1), -EINVAL);
	ck_assert_int_eq(kk_cert_selfsigned(k, "", 1, c1), -EINVAL);
	ck_assert_int_eq(kk_cert_selfsigned(k, NULL, 1, c1), -EINVAL);
	ck_assert_int_eq(access(c1, F_OK), -1);

	BN_free(s1);
	BN_free(s2);
	X509_free(x);
	X509_free(y);
	EVP_PKEY_free(p);
	EVP_PKEY_free(k);
}
END_TEST

/* ---- the network child's TLS certificate and the identity behind it ---- */

/*
 * A certificate for subject under issuer (NULL: self-signed), signed by
 * signer, valid from now + from to now + to seconds; a CA if ca.
 */
static X509 *
mkcert(EVP_PKEY *subject, const char *cn, X509 *issuer, EVP_PKEY *signer,
    bool ca, long from, long to)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	X509 *x = X509_new();

	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(X509_set_version(x, X509_VERSION_3), 1);
	ck_assert_int_eq(ASN1_INTEGER_set(X509_get_serialNumber(x), 7), 1);
	ck_assert_int_eq(X509_NAME_add_entry_by_txt(X509_get_subject_name(x),
	    "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0), 1);
	ck_assert_int_eq(X509_set_issuer_name(x, issuer ?
	    X509_get_subject_name(issuer) : X509_get_subject_name(x)), 1);
	ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notBefore(x), from));
	ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notAfter(x), to));
	ck_assert_int_eq(X509_set_pubkey(x, subject), 1);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_nconf_nid(NULL, &ctx, NID_basic_constraints,
	    ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	ck_assert_ptr_nonnull(ext);
	ck_assert_int_eq(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
	if (ca) {
		ext = X509V3_EXT_nconf_nid(NULL, &ctx, NID_key_usage,
		    "critical,keyCertSign,cRLSign");
		ck_assert_ptr_nonnull(ext);
		ck_assert_int_eq(X509_add_ext(x, ext, -1), 1);
		X509_EXTENSION_free(ext);
	}
	ck_assert_int_gt(X509_sign(x, signer, NULL), 0);
	return x;
}

/* The chain a client receives: the TLS certificate first. */
static STACK_OF(X509) *
chain_of(X509 *leaf, X509 *identity, X509 *more)
{
	STACK_OF(X509) *sk = sk_X509_new_null();

	ck_assert_ptr_nonnull(sk);
	if (leaf)
		ck_assert_int_gt(sk_X509_push(sk, leaf), 0);
	if (identity)
		ck_assert_int_gt(sk_X509_push(sk, identity), 0);
	if (more)
		ck_assert_int_gt(sk_X509_push(sk, more), 0);
	return sk;
}

/* kk_tls_chain_identity: 0 and the id, or the refusal's words in why */
static int
chain_check(X509 *leaf, X509 *identity, X509 *more, X509_STORE *ca,
    char id[KK_AGENT_ID_HEX + 1], char *why, size_t whylen)
{
	STACK_OF(X509) *sk = chain_of(leaf, identity, more);
	EVP_PKEY *k = NULL;
	int r;

	why[0] = '\0';
	r = kk_tls_chain_identity(sk, ca, &k, id, why, whylen);
	if (r == 0)
		ck_assert_ptr_nonnull(k);
	else
		ck_assert_ptr_null(k);
	EVP_PKEY_free(k);
	sk_X509_free(sk);
	return r;
}

START_TEST(test_tls_cert_issue)
{
	char dir[PATH_MAX], idc[PATH_MAX], tlsc[PATH_MAX], bad[PATH_MAX];
	EVP_PKEY *id, *tls, *other;
	X509 *idcert = NULL, *x = NULL;
	char cn[64];

	kk_test_workdir(dir);
	kk_test_join(idc, dir, "agent.crt");
	kk_test_join(tlsc, dir, "agent-tls.crt");
	kk_test_join(bad, dir, "bad.crt");
	id = kk_key_generate();
	tls = kk_key_generate();
	other = kk_key_generate();
	ck_assert_int_eq(kk_cert_selfsigned(id, "host-7", 30, idc), 0);
	ck_assert_int_eq(kk_cert_load(idc, &idcert), 0);
	ck_assert_int_eq(kk_cert_issue(tls, "kakurid network child", 30, idcert,
	    id, tlsc), 0);
	ck_assert_int_eq(kk_cert_load(tlsc, &x), 0);
	/* the TLS key's certificate, signed by the identity key and only it */
	ck_assert_int_eq(EVP_PKEY_eq(X509_get0_pubkey(x), tls), 1);
	ck_assert_int_eq(kk_cert_check_issued(x, id), 0);
	ck_assert_int_eq(kk_cert_check_issued(x, tls), -EBADMSG);
	ck_assert_int_eq(kk_cert_check_issued(x, other), -EBADMSG);
	ck_assert_int_eq(X509_NAME_cmp(X509_get_issuer_name(x),
	    X509_get_subject_name(idcert)), 0);
	ck_assert_int_eq(X509_NAME_get_text_by_NID(X509_get_subject_name(x),
	    NID_commonName, cn, sizeof(cn)), 21);
	ck_assert_uint_eq(X509_get_extension_flags(x) & EXFLAG_CA, 0);
	ck_assert_uint_eq(X509_get_extended_key_usage(x),
	    XKU_SSL_SERVER | XKU_SSL_CLIENT);
	ck_assert_int_eq(access(tlsc, F_OK), 0);
	ck_assert_uint_eq(kk_test_file_mode(tlsc), 0644);
	/* never replaced */
	ck_assert_int_eq(kk_cert_issue(tls, "x", 30, idcert, id, tlsc), -EEXIST);
	/* the identity key never certifies itself, and the key must fit */
	ck_assert_int_eq(kk_cert_issue(id, "x", 30, idcert, id, bad), -EINVAL);
	ck_assert_int_eq(kk_cert_issue(tls, "x", 30, idcert, other, bad),
	    -EINVAL);
	ck_assert_int_eq(kk_cert_issue(tls, "x", 30, NULL, id, bad), -EINVAL);
	ck_assert_int_eq(access(bad, F_OK), -1);
	X509_free(x);
	ck_assert_int_eq(kk_cert_load(bad, &x), -ENOENT);
	ck_assert_ptr_null(x);
	X509_free(idcert);
	EVP_PKEY_free(id);
	EVP_PKEY_free(tls);
	EVP_PKEY_free(other);
}
END_TEST

START_TEST(test_chain_identity)
{
	char id[KK_AGENT_ID_HEX + 1], want[KK_AGENT_ID_HEX + 1], why[256];
	EVP_PKEY *k = kk_key_generate(), *t = kk_key_generate();
	EVP_PKEY *o = kk_key_generate(), *cak = kk_key_generate();
	EVP_PKEY *rogk = kk_key_generate();
	X509 *self, *leaf, *forged, *old, *ca, *rogue, *caid, *rogid, *idleaf;
	X509_STORE *store = X509_STORE_new();

	ck_assert_int_eq(kk_key_id(k, want), 0);
	self = mkcert(k, "agent", NULL, k, false, -60, 86400);
	leaf = mkcert(t, "kakurid network child", self, k, false, -60, 86400);
	forged = mkcert(t, "kakurid network child", self, o, false, -60, 86400);
	old = mkcert(t, "kakurid network child", self, k, false, -7200, -3600);
	idleaf = mkcert(k, "kakurid network child", self, k, false, -60, 86400);
	ca = mkcert(cak, "csirt-ca", NULL, cak, true, -60, 86400);
	rogue = mkcert(rogk, "rogue-ca", NULL, rogk, true, -60, 86400);
	caid = mkcert(k, "agent", ca, cak, false, -60, 86400);
	rogid = mkcert(k, "agent", rogue, rogk, false, -60, 86400);
	ck_assert_ptr_nonnull(store);
	ck_assert_int_eq(X509_STORE_add_cert(store, ca), 1);

	/* pinned mode: the TLS certificate certified by the identity */
	ck_assert_int_eq(chain_check(leaf, self, NULL, NULL, id, why,
	    sizeof(why)), 0);
	ck_assert_str_eq(id, want);
	/* the identity certificate alone: an agent whose child holds the key */
	ck_assert_int_eq(chain_check(self, NULL, NULL, NULL, id, why,
	    sizeof(why)), -EKEYREJECTED);
	ck_assert_str_eq(id, "");
	ck_assert_ptr_nonnull(strstr(why, "kakurid --init"));
	ck_assert_int_eq(chain_check(NULL, NULL, NULL, NULL, id, why,
	    sizeof(why)), -EKEYREJECTED);
	/* a TLS certificate some other key signed proves nothing */
	ck_assert_int_eq(chain_check(forged, self, NULL, NULL, id, why,
	    sizeof(why)), -EKEYREJECTED);
	ck_assert_ptr_nonnull(strstr(why, "not certified"));
	/* the identity key as TLS key */
	ck_assert_int_eq(chain_check(idleaf, self, NULL, NULL, id, why,
	    sizeof(why)), -EKEYREJECTED);
	ck_assert_ptr_nonnull(strstr(why, "identity key"));
	/* an expired TLS certificate */
	ck_assert_int_eq(chain_check(old, self, NULL, NULL, id, why,
	    sizeof(why)), -EKEYREJECTED);
	ck_assert_ptr_nonnull(strstr(why, "not valid now"));
	/* a CA-issued identity certificate, pinned by its id */
	ck_assert_int_eq(chain_check(leaf, caid, NULL, NULL, id, why,
	    sizeof(why)), 0);
	ck_assert_str_eq(id, want);

	/* CA mode: the identity certificate must chain to the CA */
	ck_assert_int_eq(chain_check(leaf, caid, NULL, store, id, why,
	    sizeof(why)), 0);
	ck_assert_str_eq(id, want);
	ck_assert_int_eq(chain_check(leaf, self, NULL, store, id, why,
	    sizeof(why)), -EKEYREJECTED);
	ck_assert_ptr_nonnull(strstr(why, "does not chain to the CA"));
	ck_assert_int_eq(chain_check(leaf, rogid, rogue, store, id, why,
	    sizeof(why)), -EKEYREJECTED);
	/* the CA's own certificate as "identity" does not make a TLS key valid */
	ck_assert_int_eq(chain_check(forged, caid, NULL, store, id, why,
	    sizeof(why)), -EKEYREJECTED);

	X509_STORE_free(store);
	X509_free(self);
	X509_free(leaf);
	X509_free(forged);
	X509_free(old);
	X509_free(idleaf);
	X509_free(ca);
	X509_free(rogue);
	X509_free(caid);
	X509_free(rogid);
	EVP_PKEY_free(k);
	EVP_PKEY_free(t);
	EVP_PKEY_free(o);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(rogk);
}
END_TEST

/* A receipt naming agent, signed by key; the envelope's JSON (caller frees). */
static char *
make_receipt(const char *agent, EVP_PKEY *key)
{
	struct kk_envelope env;
	char payload[256], *text;

	snprintf(payload, sizeof(payload),
	    "{\"v\":1,\"command\":\"%032d\",\"agent\":\"%s\",\"action\":\"isolate\","
	    "\"result\":\"done\",\"mode\":\"isolated\"}", 1, agent);
	ck_assert_int_eq(kk_envelope_init(&env, KK_PT_RECEIPT,
	    (const uint8_t *)payload, strlen(payload)), 0);
	ck_assert_int_eq(kk_envelope_sign(&env, agent, key), 0);
	text = kk_envelope_encode(&env);
	ck_assert_ptr_nonnull(text);
	kk_envelope_free(&env);
	return text;
}

/*
 * A receipt's enforcers, as kakurictl shows them: an old receipt has
 * none (nothing degraded), an applied one says nothing, a degraded one
 * its name, word and detail; what the agent wrote is cleaned of line
 * breaks and escapes (a root-owned agent must not print lines of its
 * own on the operator's terminal) and cut.
 */
START_TEST(test_receipt_enforcers)
{
	char buf[128], big[600];
	json_t *rec;

	rec = json_pack("{s:s}", KW_RESULT, KR_DONE);
	ck_assert_int_eq(kk_receipt_degraded(rec, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");
	json_object_set_new(rec, KW_ENFORCERS, json_pack("[o, o]",
	    kk_enforcer_entry("nftables", KR_APPLIED, NULL, ""),
	    kk_enforcer_entry("usb", KR_APPLIED, "", NULL)));
	ck_assert_int_eq(kk_receipt_degraded(rec, buf, sizeof(buf)), 0);
	ck_assert_ptr_null(json_object_get(json_array_get(json_object_get(rec,
	    KW_ENFORCERS), 1), KW_REASON));
	json_array_set_new(json_object_get(rec, KW_ENFORCERS), 1,
	    kk_enforcer_entry("usb", KR_DEGRADED, "write-refused",
	    "1-1:1.0 authorized:\n\033[2J Permission denied"));
	ck_assert_int_eq(kk_receipt_degraded(rec, buf, sizeof(buf)), 1);
	ck_assert_ptr_nonnull(strstr(buf, "usb degraded write-refused: 1-1:1.0"));
	ck_assert_ptr_null(strchr(buf, '\n'));
	ck_assert_ptr_null(strchr(buf, '\033'));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	json_array_append_new(json_object_get(rec, KW_ENFORCERS),
	    kk_enforcer_entry("other", KR_FAILED, "apply-failed", big));
	ck_assert_int_eq(kk_receipt_degraded(rec, buf, sizeof(buf)), 2);
	ck_assert_uint_lt(strlen(buf), sizeof(buf));
	ck_assert_int_eq(kk_receipt_degraded(rec, NULL, 0), 2);
	json_decref(rec);
}
END_TEST

/*
 * A compromised network child holds the TLS key: a receipt it signs
 * ("done" for an isolate the parent never saw) must not count.
 */
START_TEST(test_receipt_identity_only)
{
	char aid[KK_AGENT_ID_HEX + 1], oid[KK_AGENT_ID_HEX + 1], *text;
	EVP_PKEY *k = kk_key_generate(), *t = kk_key_generate();
	EVP_PKEY *o = kk_key_generate(), *pub = public_of(k);
	const char *why = NULL;
	json_t *rec;

	ck_assert_int_eq(kk_key_id(k, aid), 0);
	ck_assert_int_eq(kk_key_id(o, oid), 0);
	/* signed by the TLS key: refused */
	text = make_receipt(aid, t);
	rec = kk_receipt_open((const uint8_t *)text, strlen(text), pub, aid,
	    &why);
	ck_assert_ptr_null(rec);
	ck_assert_ptr_nonnull(strstr(why, "identity key"));
	free(text);
	/* signed by the identity key: the payload */
	text = make_receipt(aid, k);
	rec = kk_receipt_open((const uint8_t *)text, strlen(text), pub, aid,
	    &why);
	ck_assert_ptr_nonnull(rec);
	ck_assert_str_eq(json_string_value(json_object_get(rec, "result")),
	    "done");
	json_decref(rec);
	/* ... but for another agent than the one we talk to: refused */
	rec = kk_receipt_open((const uint8_t *)text, strlen(text), pub, oid,
	    &why);
	ck_assert_ptr_null(rec);
	ck_assert_str_eq(why, "receipt names another agent");
	free(text);
	/* an identity key signing a receipt that names someone else */
	text = make_receipt(oid, k);
	ck_assert_ptr_null(kk_receipt_open((const uint8_t *)text, strlen(text),
	    pub, aid, &why));
	free(text);
	/* not a receipt at all */
	ck_assert_ptr_null(kk_receipt_open((const uint8_t *)"{}", 2, pub, aid,
	    &why));
	EVP_PKEY_free(pub);
	EVP_PKEY_free(k);
	EVP_PKEY_free(t);
	EVP_PKEY_free(o);
}
END_TEST

/* A receipt of agent signed by key with output as its listing. */
static char *
make_receipt_listing(const char *agent, EVP_PKEY *key, size_t nfiles,
    const char *item)
{
	size_t cap = 256 + nfiles * (strlen(item) + 1), i;
	char *payload = malloc(cap), *text, *p;

	ck_assert_ptr_nonnull(payload);
	p = payload + snprintf(payload, cap,
	    "{\"v\":1,\"command\":\"%032d\",\"agent\":\"%s\","
	    "\"action\":\"fetch\",\"result\":\"done\",\"output\":[", 1,
	    agent);
	for (i = 0; i < nfiles; i++)
		p += sprintf(p, "%s%s", i ? "," : "", item);
	strcpy(p, "]}");
	ck_assert_int_eq(kk_envelope_seal(KK_PT_RECEIPT,
	    (const uint8_t *)payload, strlen(payload), agent, key, &text), 0);
	free(payload);
	return text;
}

/*
 * Root on an agent signs what it likes: a receipt of a few hundred KiB of
 * [{},{},...] would cost kakurictl 40 to 80 times that in jansson, per
 * receipt and per target.  Values are counted before the parse; a fetch
 * receipt listing 4,096 files (the agent's own limit) still passes.
 */
START_TEST(test_receipt_values_counted)
{
	char aid[KK_AGENT_ID_HEX + 1], *text;
	EVP_PKEY *k = kk_key_generate(), *pub = public_of(k);
	EVP_PKEY *other = kk_key_generate();
	const char *why = NULL;
	json_t *rec;

	ck_assert_int_eq(kk_key_id(k, aid), 0);
	text = make_receipt_listing(aid, k, 4096,
	    "{\"path\":\"snapshot-1/pid-1234/mem.lime\",\"size\":1073741824}");
	rec = kk_receipt_open((const uint8_t *)text, strlen(text), pub, aid,
	    &why);
	ck_assert_ptr_nonnull(rec);
	ck_assert_uint_eq(json_array_size(json_object_get(rec, "output")),
	    4096);
	json_decref(rec);
	free(text);
	/* 2 separators each: 32,768 pass (with the receipt's own), one more not */
	text = make_receipt_listing(aid, k, KK_PAYLOAD_VALUES_MAX / 2, "{}");
	rec = kk_receipt_open((const uint8_t *)text, strlen(text), pub, aid,
	    &why);
	ck_assert_ptr_null(rec);
	ck_assert_str_eq(why, "too many values in the receipt payload");
	free(text);
	text = make_receipt_listing(aid, k, KK_PAYLOAD_VALUES_MAX / 2 - 16,
	    "{}");
	rec = kk_receipt_open((const uint8_t *)text, strlen(text), pub, aid,
	    &why);
	ck_assert_ptr_nonnull(rec);
	json_decref(rec);
	free(text);
	/* the count is of the verified payload: a forged one says so first */
	text = make_receipt_listing(aid, other, 100000, "{}");
	rec = kk_receipt_open((const uint8_t *)text, strlen(text), pub, aid,
	    &why);
	ck_assert_ptr_null(rec);
	ck_assert_ptr_nonnull(strstr(why, "does not verify"));
	free(text);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
}
END_TEST

/* ---- sign and verify ---- */

START_TEST(test_sign_kat)
{
	struct kk_envelope env;
	EVP_PKEY *k, *p;
	char *text;

	k = rfc_key();
	ck_assert_int_eq(kk_envelope_init(&env, KK_PT_COMMAND,
	    (const uint8_t *)KAT_PAYLOAD, strlen(KAT_PAYLOAD)), 0);
	ck_assert_int_eq(kk_envelope_sign(&env, "k1", k), 0);
	ck_assert_uint_eq(env.nsigs, 1);
	ck_assert_uint_eq(env.sigs[0].siglen, 64);
	ck_assert_mem_eq(env.sigs[0].sig, kat_sig, 64);
	ck_assert_str_eq(env.sigs[0].keyid, "k1");
	text = kk_envelope_encode(&env);
	ck_assert_ptr_nonnull(text);
	ck_assert_str_eq(text, KAT_JSON);
	free(text);
	kk_envelope_free(&env);

	/* and the other way: the foreign envelope parses and verifies */
	ck_assert_int_eq(kk_envelope_parse((const uint8_t *)KAT_JSON,
	    strlen(KAT_JSON), &env), 0);
	ck_assert_str_eq(env.type, KK_PT_COMMAND);
	ck_assert_uint_eq(env.payload_len, strlen(KAT_PAYLOAD));
	ck_assert_mem_eq(env.payload, KAT_PAYLOAD, env.payload_len);
	ck_assert_mem_eq(env.sigs[0].sig, kat_sig, 64);
	p = public_of(k);
	ck_assert_int_eq(kk_dsse_verify_one(&env, 0, p), 0);
	kk_envelope_free(&env);
	EVP_PKEY_free(p);
	EVP_PKEY_free(k);
}
END_TEST

static EVP_PKEY *
signed_env(struct kk_envelope *env, const char *type, const void *payload,
    size_t len)
{
	EVP_PKEY *k;

	k = kk_key_generate();
	ck_assert_ptr_nonnull(k);
	ck_assert_int_eq(kk_envelope_init(env, type, payload, len), 0);
	ck_assert_int_eq(kk_envelope_sign(env, "alice", k), 0);
	ck_assert_uint_eq(env->nsigs, 1);
	ck_assert_int_eq(kk_dsse_verify_one(env, 0, k), 0);
	return k;
}

START_TEST(test_sig_bitflips)
{
	static const char payload[] = "{\"v\":1,\"action\":\"isolate\"}";
	struct kk_envelope env;
	EVP_PKEY *k;
	size_t bit;

	k = signed_env(&env, KK_PT_COMMAND, payload, sizeof(payload) - 1);
	ERR_clear_error();
	for (bit = 0; bit < 512; bit++) {
		env.sigs[0].sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		ck_assert_msg(kk_dsse_verify_one(&env, 0, k) == -EBADMSG,
		    "flipped signature bit %zu verified", bit);
		env.sigs[0].sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	/* failed verifications leave no stale OpenSSL errors behind */
	ck_assert_uint_eq(ERR_peek_error(), 0);
	ck_assert_int_eq(kk_dsse_verify_one(&env, 0, k), 0);
	/* a wrong signature length never verifies */
	env.sigs[0].siglen = 63;
	ck_assert_int_eq(kk_dsse_verify_one(&env, 0, k), -EBADMSG);
	env.sigs[0].siglen = 64;
	kk_envelope_free(&env);
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(test_payload_mutations)
{
	static const char payload[] =
	    "{\"v\":1,\"id\":\"0123456789abcdef0123456789abcdef\"}";
	const size_t n = sizeof(payload) - 1;
	const size_t pos[] = { 0, 1, 7, n / 2, n - 2, n - 1 };
	struct kk_envelope env;
	uint8_t *p;
	EVP_PKEY *k, *other;
	size_t i, b;

	k = signed_env(&env, KK_PT_COMMAND, payload, n);
	for (i = 0; i < sizeof(pos) / sizeof(pos[0]); i++) {
		for (b = 0; b < 8; b += 3) {
			env.payload[pos[i]] ^= (uint8_t)(1u << b);
			ck_assert_msg(kk_dsse_verify_one(&env, 0, k) ==
			    -EBADMSG, "payload byte %zu bit %zu", pos[i], b);
			env.payload[pos[i]] ^= (uint8_t)(1u << b);
		}
	}
	ck_assert_int_eq(kk_dsse_verify_one(&env, 0, k), 0);

	/* truncated */
	env.payload_len = n - 1;
	ck_assert_int_eq(kk_dsse_verify_one(&env, 0, k), -EBADMSG);
	env.payload_len = 0;
	ck_assert_int_eq(kk_dsse_verify_one(&env, 0, k), -EBADMSG);
	env.payload_len = n;
	/* one byte appended */
	p = realloc(env.payload, n + 1);
	ck_assert_ptr_nonnull(p);
	env.payload = p;
	env.payload[n] = '\n';
	env.payload_len = n + 1;
	ck_assert_int_eq(kk_dsse_verify_one(&env, 0, k), -EBADMSG);
	env.payload[n] = '\0';
	ck_assert_int_eq(kk_dsse_verify_one(&env, 0, k), -EBADMSG);
	env.payload_len = n;
	ck_assert_int_eq(kk_dsse_verify_one(&env, 0, k), 0);

	/* another payload type */
	strcpy(env.type, KK_PT_RECEIPT);
	ck_assert_int_eq(kk_dsse_verify_one(&env, 0, k), -EBADMSG);
	strcpy(env.type, "Application/vnd.kakuri.command.v1+json");
	ck_assert_int_eq(kk_dsse_verify_one(&env, 0, k), -EBADMSG);
	strcpy(env.type, KK_PT_COMMAND " ");
	ck_assert_int_eq(kk_dsse_verify_one(&env, 0, k), -EBADMSG);
	strcpy(env.type, "");
	ck_assert_int_eq(kk_dsse_verify_one(&env, 0, k), -EBADMSG);
	strcpy(env.type, KK_PT_COMMAND);
	ck_assert_int_eq(kk_dsse_verify_one(&env, 0, k), 0);

	/* the wrong key */
	other = kk_key_generate();
	ck_assert_ptr_nonnull(other);
	ck_assert_int_eq(kk_dsse_verify_one(&env, 0, other), -EBADMSG);
	EVP_PKEY_free(other);

	/* out of range */
	ck_assert_int_ne(kk_dsse_verify_one(&env, 1, k), 0);
	ck_assert_int_ne(kk_dsse_verify_one(&env, KK_DSSE_MAX_SIGS, k), 0);
	ck_assert_int_ne(kk_dsse_verify_one(&env, 0, NULL), 0);
	kk_envelope_free(&env);
	EVP_PKEY_free(k);
}
END_TEST

/* PAE's lengths keep the type/payload boundary from moving. */
START_TEST(test_boundary_shift)
{
	/* "ab" + "cd" signed; the same bytes split elsewhere */
	static const struct {
		const char *type, *payload;
	} moves[] = { { "a", "bcd" }, { "ab ", "d" } };
	struct kk_envelope env, moved;
	EVP_PKEY *k;
	size_t i;

	k = signed_env(&env, "ab", "cd", 2);
	for (i = 0; i < sizeof(moves) / sizeof(moves[0]); i++) {
		ck_assert_int_eq(kk_envelope_init(&moved, moves[i].type,
		    (const uint8_t *)moves[i].payload,
		    strlen(moves[i].payload)), 0);
		moved.sigs[0] = env.sigs[0];
		moved.nsigs = 1;
		ck_assert_int_eq(kk_dsse_verify_one(&moved, 0, k), -EBADMSG);
		kk_envelope_free(&moved);
	}
	kk_envelope_free(&env);
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(test_sign_appends)
{
	struct kk_envelope env;
	EVP_PKEY *k, *bob;
	size_t i;

	k = signed_env(&env, KK_PT_COMMAND, "{}", 2);
	/* the same key twice: two signatures, both verify */
	ck_assert_int_eq(kk_envelope_sign(&env, "alice-again", k), 0);
	ck_assert_uint_eq(env.nsigs, 2);
	ck_assert_str_eq(env.sigs[0].keyid, "alice");
	ck_assert_str_eq(env.sigs[1].keyid, "alice-again");
	ck_assert_int_eq(kk_dsse_verify_one(&env, 0, k), 0);
	ck_assert_int_eq(kk_dsse_verify_one(&env, 1, k), 0);
	/* a second key: only its own signature verifies with it */
	bob = kk_key_generate();
	ck_assert_ptr_nonnull(bob);
	ck_assert_int_eq(kk_envelope_sign(&env, NULL, bob), 0);
	ck_assert_uint_eq(env.nsigs, 3);
	ck_assert_str_eq(env.sigs[2].keyid, "");
	ck_assert_int_eq(kk_dsse_verify_one(&env, 2, bob), 0);
	ck_assert_int_eq(kk_dsse_verify_one(&env, 2, k), -EBADMSG);
	ck_assert_int_eq(kk_dsse_verify_one(&env, 0, bob), -EBADMSG);
	/* up to KK_DSSE_MAX_SIGS, then refused without changes */
	for (i = env.nsigs; i < KK_DSSE_MAX_SIGS; i++)
		ck_assert_int_eq(kk_envelope_sign(&env, "x", bob), 0);
	ck_assert_uint_eq(env.nsigs, KK_DSSE_MAX_SIGS);
	ck_assert_int_eq(kk_envelope_sign(&env, "x", bob), -ENOSPC);
	ck_assert_uint_eq(env.nsigs, KK_DSSE_MAX_SIGS);
	for (i = 0; i < KK_DSSE_MAX_SIGS; i++)
		ck_assert_int_eq(kk_dsse_verify_one(&env, i, i < 2 ? k : bob),
		    0);
	kk_envelope_free(&env);
	EVP_PKEY_free(bob);
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(test_sign_keyid_rules)
{
	char keyid[KK_KEYID_MAX + 1];
	struct kk_envelope env;
	EVP_PKEY *k;

	k = signed_env(&env, KK_PT_COMMAND, "{}", 2);
	memset(keyid, 'k', sizeof(keyid));
	keyid[KK_KEYID_MAX] = '\0';
	ck_assert_int_eq(kk_envelope_sign(&env, keyid, k), -EINVAL);
	ck_assert_int_eq(kk_envelope_sign(&env, "a\nb", k), -EINVAL);
	ck_assert_uint_eq(env.nsigs, 1);
	keyid[KK_KEYID_MAX - 1] = '\0';
	ck_assert_int_eq(kk_envelope_sign(&env, keyid, k), 0);
	ck_assert_uint_eq(env.nsigs, 2);
	ck_assert_str_eq(env.sigs[1].keyid, keyid);
	ck_assert_int_eq(kk_envelope_sign(&env, "", NULL), -EINVAL);
	ck_assert_uint_eq(env.nsigs, 2);
	kk_envelope_free(&env);
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(test_init_and_free)
{
	char type[130];
	uint8_t buf[4] = { 1, 0, 2, 0 };
	struct kk_envelope env;

	ck_assert_int_eq(kk_envelope_init(&env, KK_PT_REPORT, buf, 4), 0);
	ck_assert_str_eq(env.type, KK_PT_REPORT);
	ck_assert_uint_eq(env.payload_len, 4);
	ck_assert_uint_eq(env.nsigs, 0);
	ck_assert_ptr_ne(env.payload, buf);
	buf[0] = 9;	/* a copy: the caller's buffer is not kept */
	ck_assert_uint_eq(env.payload[0], 1);
	ck_assert_uint_eq(env.payload[2], 2);
	kk_envelope_free(&env);
	ck_assert_ptr_null(env.payload);
	ck_assert_uint_eq(env.payload_len, 0);
	ck_assert_uint_eq(env.nsigs, 0);
	ck_assert_uint_eq(env.type[0], 0);
	kk_envelope_free(&env);	/* twice is harmless */
	kk_envelope_free(NULL);

	/* an empty payload is a payload */
	ck_assert_int_eq(kk_envelope_init(&env, KK_PT_REPORT, NULL, 0), 0);
	ck_assert_uint_eq(env.payload_len, 0);
	kk_envelope_free(&env);

	memset(type, 't', sizeof(type));
	type[128] = '\0';
	ck_assert_int_eq(kk_envelope_init(&env, type, buf, 4), -EINVAL);
	ck_assert_ptr_null(env.payload);
	type[127] = '\0';
	ck_assert_int_eq(kk_envelope_init(&env, type, buf, 4), 0);
	ck_assert_str_eq(env.type, type);
	kk_envelope_free(&env);
	ck_assert_int_eq(kk_envelope_init(&env, "a\tb", buf, 4), -EINVAL);
	ck_assert_int_eq(kk_envelope_init(&env, NULL, buf, 4), -EINVAL);
	ck_assert_int_eq(kk_envelope_init(&env, "t", NULL, 4), -EINVAL);
	/* nothing to encode without a signature */
	ck_assert_int_eq(kk_envelope_init(&env, "t", buf, 4), 0);
	ck_assert_ptr_null(kk_envelope_encode(&env));
	kk_envelope_free(&env);
}
END_TEST

START_TEST(test_seal)
{
	static const char payload[] = "{\"v\":1,\"id\":\"x\"}";
	struct kk_envelope env, back;
	char *text, *by_hand;
	EVP_PKEY *k, *pub;

	k = signed_env(&env, KK_PT_MANIFEST, payload, sizeof(payload) - 1);
	by_hand = kk_envelope_encode(&env);
	ck_assert_ptr_nonnull(by_hand);
	/* Ed25519 is deterministic: the same text as the three steps */
	ck_assert_int_eq(kk_envelope_seal(KK_PT_MANIFEST, (const uint8_t *)payload,
	    sizeof(payload) - 1, "alice", k, &text), 0);
	ck_assert_str_eq(text, by_hand);
	ck_assert_int_eq(kk_envelope_parse((uint8_t *)text, strlen(text),
	    &back), 0);
	ck_assert_str_eq(back.type, KK_PT_MANIFEST);
	ck_assert_uint_eq(back.nsigs, 1);
	ck_assert_str_eq(back.sigs[0].keyid, "alice");
	ck_assert_int_eq(kk_dsse_verify_one(&back, 0, k), 0);
	kk_envelope_free(&back);
	free(text);

	/* each failing step: an error and no text */
	text = by_hand;
	ck_assert_int_eq(kk_envelope_seal("a\tb", (const uint8_t *)payload,
	    4, "alice", k, &text), -EINVAL);
	ck_assert_ptr_null(text);
	text = by_hand;
	ck_assert_int_eq(kk_envelope_seal(KK_PT_MANIFEST, (const uint8_t *)payload,
	    KK_ENVELOPE_MAX + 1, "alice", k, &text), -E2BIG);
	ck_assert_ptr_null(text);
	pub = public_of(k);
	text = by_hand;
	ck_assert_int_eq(kk_envelope_seal(KK_PT_MANIFEST, (const uint8_t *)payload,
	    4, "alice", pub, &text), -EINVAL);
	ck_assert_ptr_null(text);
	ck_assert_int_eq(kk_envelope_seal(KK_PT_MANIFEST, (const uint8_t *)payload,
	    4, "alice", k, NULL), -EINVAL);
	ERR_clear_error();
	kk_envelope_free(&env);
	free(by_hand);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(test_roundtrip)
{
	static const uint8_t payload[] = { 'a', 0, '"', '\\', 0xff, 0, '\n' };
	struct kk_envelope env, back;
	char *text, *text2;
	EVP_PKEY *k1, *k2;
	size_t i;

	k1 = signed_env(&env, KK_PT_MANIFEST, payload, sizeof(payload));
	k2 = kk_key_generate();
	ck_assert_ptr_nonnull(k2);
	ck_assert_int_eq(kk_envelope_sign(&env, "bob \"b\" é", k2), 0);
	text = kk_envelope_encode(&env);
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_eq(strstr(text, "{\"payloadType\":\"" KK_PT_MANIFEST
	    "\",\"payload\":\""), text);
	ck_assert_ptr_nonnull(strstr(text, "\",\"signatures\":[{\"keyid\":"
	    "\"alice\",\"sig\":\""));
	ck_assert_ptr_null(strchr(text, '\n'));

	memset(&back, 0xa5, sizeof(back));
	ck_assert_int_eq(kk_envelope_parse((const uint8_t *)text, strlen(text),
	    &back), 0);
	ck_assert_str_eq(back.type, env.type);
	ck_assert_uint_eq(back.payload_len, sizeof(payload));
	ck_assert_mem_eq(back.payload, payload, sizeof(payload));
	ck_assert_uint_eq(back.nsigs, 2);
	for (i = 0; i < 2; i++) {
		ck_assert_str_eq(back.sigs[i].keyid, env.sigs[i].keyid);
		ck_assert_uint_eq(back.sigs[i].siglen, 64);
		ck_assert_mem_eq(back.sigs[i].sig, env.sigs[i].sig, 64);
	}
	ck_assert_int_eq(kk_dsse_verify_one(&back, 0, k1), 0);
	ck_assert_int_eq(kk_dsse_verify_one(&back, 1, k2), 0);
	ck_assert_int_eq(kk_dsse_verify_one(&back, 1, k1), -EBADMSG);
	text2 = kk_envelope_encode(&back);
	ck_assert_ptr_nonnull(text2);
	ck_assert_str_eq(text2, text);
	free(text);
	free(text2);
	kk_envelope_free(&back);
	kk_envelope_free(&env);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}
END_TEST

/* ---- the strict parser ---- */

#define PT	"\"payloadType\":\"" KK_PT_COMMAND "\""
#define PL	"\"payload\":\"aGVsbG8=\""
#define SIG1	"{\"keyid\":\"k\",\"sig\":\"@SIG@\"}"	/* one good signature */
#define SG_(x)	"\"signatures\":[" x "]"
#define SG	SG_(SIG1)
#define ENV	"{" PT "," PL "," SG "}"
/*
 * ENV with another payload (its base64 as written), payloadType or list
 * of signatures
 */
#define ENV_PL(b64)	"{" PT ",\"payload\":\"" b64 "\"," SG "}"
#define ENV_PT(t)	"{\"payloadType\":\"" t "\"," PL "," SG "}"
#define ENV_SG(x)	"{" PT "," PL "," SG_(x) "}"
/* ENV whose one signature (keyid k) is the string s */
#define ENV_SIG(s)	ENV_SG("{\"keyid\":\"k\",\"sig\":\"" s "\"}")

/* 64-byte signatures and their malformed cousins, made by our own b64 */
static char *tok_sig, *tok_s63, *tok_s65, *tok_snc, *tok_snp;

static void
tokens_make(void)
{
	static const char al[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t s[65];
	size_t i;

	for (i = 0; i < sizeof(s); i++)
		s[i] = (uint8_t)(i * 37 + 11);
	tok_sig = b64(s, 64);
	tok_s63 = b64(s, 63);
	tok_s65 = b64(s, 65);
	ck_assert_uint_eq(strlen(tok_sig), 88);
	ck_assert_str_eq(tok_sig + 86, "==");
	/* the last data character with unused (must be zero) bits set */
	tok_snc = strdup(tok_sig);
	ck_assert_ptr_nonnull(tok_snc);
	tok_snc[85] = al[(strchr(al, tok_snc[85]) - al) ^ 1];
	/* no padding */
	tok_snp = strndup(tok_sig, 86);
	ck_assert_ptr_nonnull(tok_snp);
}

static void
tokens_free(void)
{
	free(tok_sig);
	free(tok_s63);
	free(tok_s65);
	free(tok_snc);
	free(tok_snp);
}

/* tmpl with @SIG@ and friends replaced. */
static char *
expand(const char *tmpl)
{
	static const struct {
		const char *tok;
		char **val;
	} subst[] = {
		{ "@SIG@", &tok_sig }, { "@S63@", &tok_s63 },
		{ "@S65@", &tok_s65 }, { "@SNC@", &tok_snc },
		{ "@SNP@", &tok_snp },
	};
	char *out, *o;
	const char *t;
	size_t i, n;

	out = malloc(strlen(tmpl) * 20 + 1);
	ck_assert_ptr_nonnull(out);
	for (t = tmpl, o = out; *t != '\0';) {
		for (i = 0; i < sizeof(subst) / sizeof(subst[0]); i++) {
			n = strlen(subst[i].tok);
			if (strncmp(t, subst[i].tok, n) == 0)
				break;
		}
		if (i < sizeof(subst) / sizeof(subst[0])) {
			strcpy(o, *subst[i].val);
			o += strlen(o);
			t += strlen(subst[i].tok);
		} else {
			*o++ = *t++;
		}
	}
	*o = '\0';
	return out;
}

struct pcase {
	const char *name;
	const char *json;
	const char *payload;	/* expected, when accepted */
};

static const struct pcase accepted[] = {
	{ "base", ENV, "hello" },
	{ "whitespace around", " \n\t\r" ENV " \n\t\r", "hello" },
	{ "other key order", "{" SG "," PL "," PT "}", "hello" },
	{ "sig keys reversed", ENV_SG("{\"sig\":\"@SIG@\","
	    "\"keyid\":\"k\"}"), "hello" },
	{ "empty payload", ENV_PL(""), "" },
	{ "no padding needed", ENV_PL("aGVsbG8h"), "hello!" },
	{ "two padding", ENV_PL("aGVsbA=="), "hell" },
	{ "empty keyid", ENV_SG("{\"keyid\":\"\",\"sig\":"
	    "\"@SIG@\"}"), "hello" },
	{ "two signatures", ENV_SG("{\"keyid\":\"a\",\"sig\":"
	    "\"@SIG@\"},{\"keyid\":\"a\",\"sig\":\"@SIG@\"}"), "hello" },
	{ "unicode type", "{\"payloadType\":\"t\\u00e9\xe2\x82\xac\"," PL ","
	    SG "}", "hello" },
};

static const struct pcase rejected[] = {
	{ "empty", "", NULL },
	{ "blank", "   ", NULL },
	{ "not json", "hello", NULL },
	{ "truncated", "{" PT "," PL "," SG, NULL },
	{ "array", "[]", NULL },
	{ "array of envelope", "[" ENV "]", NULL },
	{ "string", "\"" ENV "\"", NULL },
	{ "null", "null", NULL },
	{ "number", "42", NULL },
	{ "empty object", "{}", NULL },
	{ "missing payloadType", "{" PL "," SG "}", NULL },
	{ "missing payload", "{" PT "," SG "}", NULL },
	{ "missing signatures", "{" PT "," PL "}", NULL },
	{ "misspelt key", "{\"payloadtype\":\"t\"," PL "," SG "}", NULL },
	{ "extra key", "{" PT "," PL "," SG ",\"x\":1}", NULL },
	{ "extra null key", "{" PT "," PL "," SG ",\"payloadType2\":null}",
	    NULL },
	{ "duplicate payloadType", "{" PT "," PT "," PL "," SG "}", NULL },
	{ "duplicate payloadType, other value", "{\"payloadType\":\"x\","
	    PT "," PL "," SG "}", NULL },
	{ "duplicate payload", "{" PT "," PL ",\"payload\":\"\"," SG "}",
	    NULL },
	{ "duplicate signatures", "{" PT "," PL "," SG "," SG "}", NULL },
	{ "duplicate keyid", ENV_SG("{\"keyid\":\"a\","
	    "\"keyid\":\"b\",\"sig\":\"@SIG@\"}"), NULL },
	{ "duplicate sig", ENV_SG("{\"keyid\":\"a\","
	    "\"sig\":\"@SIG@\",\"sig\":\"@SIG@\"}"), NULL },
	{ "payloadType number", "{\"payloadType\":1," PL "," SG "}", NULL },
	{ "payloadType null", "{\"payloadType\":null," PL "," SG "}", NULL },
	{ "payloadType array", "{\"payloadType\":[\"t\"]," PL "," SG "}",
	    NULL },
	{ "payloadType object", "{\"payloadType\":{}," PL "," SG "}", NULL },
	{ "payload number", "{" PT ",\"payload\":1," SG "}", NULL },
	{ "payload true", "{" PT ",\"payload\":true," SG "}", NULL },
	{ "payload null", "{" PT ",\"payload\":null," SG "}", NULL },
	{ "payload object", "{" PT ",\"payload\":{\"v\":1}," SG "}", NULL },
	{ "signatures object", "{" PT "," PL ",\"signatures\":" SIG1 "}", NULL },
	{ "signatures string", "{" PT "," PL ",\"signatures\":\"x\"}", NULL },
	{ "signatures null", "{" PT "," PL ",\"signatures\":null}", NULL },
	{ "signature string", ENV_SG("\"@SIG@\""), NULL },
	{ "signature array", ENV_SG("[\"k\",\"@SIG@\"]"), NULL },
	{ "signature null", ENV_SG("null"), NULL },
	{ "second signature bad", ENV_SG(SIG1 ",1"), NULL },
	{ "keyid number", ENV_SG("{\"keyid\":1,\"sig\":\"@SIG@\"}"), NULL },
	{ "keyid null", ENV_SG("{\"keyid\":null,\"sig\":\"@SIG@\"}"), NULL },
	{ "sig number", ENV_SG("{\"keyid\":\"k\",\"sig\":1}"), NULL },
	{ "sig array", ENV_SG("{\"keyid\":\"k\",\"sig\":[\"@SIG@\"]}"), NULL },
	{ "sig missing", ENV_SG("{\"keyid\":\"k\"}"), NULL },
	{ "keyid missing", ENV_SG("{\"sig\":\"@SIG@\"}"), NULL },
	{ "signature empty object", ENV_SG("{}"), NULL },
	{ "signature extra key", ENV_SG("{\"keyid\":\"k\","
	    "\"sig\":\"@SIG@\",\"alg\":\"ed25519\"}"), NULL },
	{ "zero signatures", ENV_SG(""), NULL },
	{ "sig empty", ENV_SIG(""), NULL },
	{ "sig 63 bytes", ENV_SIG("@S63@"), NULL },
	{ "sig 65 bytes", ENV_SIG("@S65@"), NULL },
	{ "sig padding bits set", ENV_SIG("@SNC@"), NULL },
	{ "sig without padding", ENV_SIG("@SNP@"), NULL },
	{ "sig with newline", ENV_SIG("@SNP@\\n=="), NULL },
	{ "sig hex", ENV_SIG(
	    "0000000000000000000000000000000000000000000000000000000000000000"
	    "0000000000000000000000000000000000000000000000000000000000000000"),
	    NULL },
	{ "payload not base64", ENV_PL("hello world!"), NULL },
	{ "payload bad char", ENV_PL("aGVsbG8%"), NULL },
	{ "payload missing padding", ENV_PL("aGVsbG8"), NULL },
	{ "payload missing both padding", ENV_PL("aGVsbA"), NULL },
	{ "payload one of two padding", ENV_PL("aGVsbA="), NULL },
	{ "payload extra padding", ENV_PL("aGVsbG8=="), NULL },
	{ "payload padding group", ENV_PL("aGVsbG8====="), NULL },
	{ "payload YR==", ENV_PL("YR=="), NULL },
	{ "payload padding bits, one =", ENV_PL("aGVsbG9="), NULL },
	{ "payload three padding", ENV_PL("a==="), NULL },
	{ "payload all padding", ENV_PL("===="), NULL },
	{ "payload padding inside", ENV_PL("YQ==YQ=="), NULL },
	{ "payload padding middle of group", ENV_PL("aG=sbG8="), NULL },
	{ "payload url-safe alphabet", ENV_PL("-_8="), NULL },
	{ "payload leading space", ENV_PL(" aGVsbG8="), NULL },
	{ "payload trailing space", ENV_PL("aGVsbG8= "), NULL },
	{ "payload inner space", ENV_PL("aGVs bG8="), NULL },
	{ "payload newline", ENV_PL("aGVs\\nbG8="), NULL },
	{ "payload trailing newline", ENV_PL("aGVsbG8=\\n"), NULL },
	{ "payload trailing CR", ENV_PL("aGVsbG8=\\r"), NULL },
	{ "payload NUL escape", ENV_PL("aGVsbG8=\\u0000"), NULL },
	{ "payloadType C0", ENV_PT("a\\u0001b"), NULL },
	{ "payloadType newline", ENV_PT("a\\nb"), NULL },
	{ "payloadType tab", ENV_PT("a\\tb"), NULL },
	{ "payloadType ESC", ENV_PT("a\\u001b[31m"), NULL },
	{ "payloadType DEL", ENV_PT("a\\u007f"), NULL },
	{ "payloadType C1 NEL", ENV_PT("a\\u0085"), NULL },
	{ "payloadType NUL", ENV_PT("a\\u0000b"), NULL },
	{ "payloadType raw newline", ENV_PT("a\nb"), NULL },
	{ "payloadType invalid UTF-8", ENV_PT("a\xff"), NULL },
	{ "payloadType lone surrogate", ENV_PT("a\\ud800"), NULL },
	{ "keyid control", ENV_SG("{\"keyid\":\"k\\u0007\","
	    "\"sig\":\"@SIG@\"}"), NULL },
	{ "trailing garbage", ENV "x", NULL },
	{ "trailing object", ENV "{}", NULL },
	{ "trailing bracket", ENV "]", NULL },
	{ "trailing comma", ENV ",", NULL },
	{ "trailing string", ENV " \"\"", NULL },
	{ "trailing number", ENV "\n0", NULL },
	{ "comment", "/* c */" ENV, NULL },
	{ "single quotes", "{'payloadType':'t'," PL "," SG "}", NULL },
	{ "trailing comma in object", "{" PT "," PL "," SG ",}", NULL },
	{ "BOM", "\xef\xbb\xbf" ENV, NULL },
};

static void
assert_zeroed(const struct kk_envelope *env)
{
	ck_assert_ptr_null(env->payload);
	ck_assert_uint_eq(env->payload_len, 0);
	ck_assert_uint_eq(env->nsigs, 0);
	ck_assert_uint_eq(env->type[0], 0);
}

static int
parse_text(const char *text, struct kk_envelope *env)
{
	memset(env, 0xa5, sizeof(*env));
	return kk_envelope_parse((const uint8_t *)text, strlen(text), env);
}

START_TEST(test_parse_accepted)
{
	const struct pcase *c = &accepted[_i];
	struct kk_envelope env;
	char *text;
	size_t i;

	text = expand(c->json);
	ck_assert_msg(parse_text(text, &env) == 0, "rejected: %s", c->name);
	ck_assert_uint_eq(env.payload_len, strlen(c->payload));
	ck_assert_mem_eq(env.payload, c->payload, env.payload_len);
	ck_assert_uint_ge(env.nsigs, 1);
	ck_assert_uint_eq(env.sigs[0].siglen, 64);
	for (i = 0; i < 64; i++)
		ck_assert_uint_eq(env.sigs[0].sig[i], (uint8_t)(i * 37 + 11));
	kk_envelope_free(&env);
	free(text);
}
END_TEST

START_TEST(test_parse_rejected)
{
	const struct pcase *c = &rejected[_i];
	struct kk_envelope env;
	char *text;

	text = expand(c->json);
	ck_assert_msg(parse_text(text, &env) == -EBADMSG, "accepted: %s",
	    c->name);
	assert_zeroed(&env);
	free(text);
}
END_TEST

/* Counts and lengths at their limits, and one past. */
START_TEST(test_parse_limits)
{
	char *text, *sigs, *p, *keyid, *type;
	struct kk_envelope env;
	size_t n, i;

	sigs = malloc(20 * 120);
	ck_assert_ptr_nonnull(sigs);
	text = malloc(20 * 120 + 512);
	ck_assert_ptr_nonnull(text);
	for (n = KK_DSSE_MAX_SIGS; n <= KK_DSSE_MAX_SIGS + 1; n++) {
		p = sigs;
		for (i = 0; i < n; i++)
			p += sprintf(p, "%s{\"keyid\":\"k%zu\",\"sig\":\"%s\"}",
			    i > 0 ? "," : "", i, tok_sig);
		sprintf(text, "{" PT "," PL ",\"signatures\":[%s]}", sigs);
		if (n == KK_DSSE_MAX_SIGS) {
			ck_assert_int_eq(parse_text(text, &env), 0);
			ck_assert_uint_eq(env.nsigs, KK_DSSE_MAX_SIGS);
			ck_assert_str_eq(env.sigs[15].keyid, "k15");
			kk_envelope_free(&env);
		} else {
			ck_assert_int_eq(parse_text(text, &env), -EBADMSG);
			assert_zeroed(&env);
		}
	}

	keyid = malloc(KK_KEYID_MAX + 1);
	ck_assert_ptr_nonnull(keyid);
	memset(keyid, 'k', KK_KEYID_MAX);
	keyid[KK_KEYID_MAX - 1] = '\0';
	sprintf(text, "{" PT "," PL ",\"signatures\":[{\"keyid\":\"%s\","
	    "\"sig\":\"%s\"}]}", keyid, tok_sig);
	ck_assert_int_eq(parse_text(text, &env), 0);
	ck_assert_str_eq(env.sigs[0].keyid, keyid);
	kk_envelope_free(&env);
	keyid[KK_KEYID_MAX - 1] = 'k';
	keyid[KK_KEYID_MAX] = '\0';
	sprintf(text, "{" PT "," PL ",\"signatures\":[{\"keyid\":\"%s\","
	    "\"sig\":\"%s\"}]}", keyid, tok_sig);
	ck_assert_int_eq(parse_text(text, &env), -EBADMSG);
	assert_zeroed(&env);

	type = malloc(129);
	ck_assert_ptr_nonnull(type);
	memset(type, 't', 128);
	type[127] = '\0';
	sprintf(text, "{\"payloadType\":\"%s\"," PL ",\"signatures\":[{"
	    "\"keyid\":\"\",\"sig\":\"%s\"}]}", type, tok_sig);
	ck_assert_int_eq(parse_text(text, &env), 0);
	ck_assert_str_eq(env.type, type);
	kk_envelope_free(&env);
	type[127] = 't';
	type[128] = '\0';
	sprintf(text, "{\"payloadType\":\"%s\"," PL ",\"signatures\":[{"
	    "\"keyid\":\"\",\"sig\":\"%s\"}]}", type, tok_sig);
	ck_assert_int_eq(parse_text(text, &env), -EBADMSG);
	assert_zeroed(&env);

	free(type);
	free(keyid);
	free(text);
	free(sigs);
}
END_TEST

/* Raw NUL bytes: after the object, and inside it. */
START_TEST(test_parse_nul_bytes)
{
	struct kk_envelope env;
	char *text, *buf;
	size_t n;

	text = expand(ENV);
	n = strlen(text);
	buf = malloc(n + 1);
	ck_assert_ptr_nonnull(buf);
	memcpy(buf, text, n);
	buf[n] = '\0';
	ck_assert_int_eq(kk_envelope_parse((uint8_t *)buf, n, &env), 0);
	kk_envelope_free(&env);
	ck_assert_int_eq(kk_envelope_parse((uint8_t *)buf, n + 1, &env),
	    -EBADMSG);
	assert_zeroed(&env);
	/* a NUL inside the payload string */
	memcpy(buf, text, n);
	buf[strstr(text, "aGVsbG8=") - text + 4] = '\0';
	ck_assert_int_eq(kk_envelope_parse((uint8_t *)buf, n, &env), -EBADMSG);
	assert_zeroed(&env);
	/* and one in the middle, between members */
	memcpy(buf, text, n);
	buf[strchr(text, ',') - text] = '\0';
	ck_assert_int_eq(kk_envelope_parse((uint8_t *)buf, n, &env), -EBADMSG);
	free(buf);
	free(text);
}
END_TEST

START_TEST(test_parse_size_cap)
{
	struct kk_envelope env;
	char *text;
	uint8_t *buf;
	size_t n;

	buf = malloc(KK_ENVELOPE_MAX + 1);
	ck_assert_ptr_nonnull(buf);

	/* spaces only: too large before it is malformed */
	memset(buf, ' ', KK_ENVELOPE_MAX + 1);
	memset(&env, 0xa5, sizeof(env));
	ck_assert_int_eq(kk_envelope_parse(buf, KK_ENVELOPE_MAX + 1, &env),
	    -E2BIG);
	assert_zeroed(&env);
	ck_assert_int_eq(kk_envelope_parse(buf, SIZE_MAX, &env), -E2BIG);

	/*
	 * a valid envelope padded to exactly the cap: refused unread (too
	 * long for jansson with no payload to lift out), +1 too large
	 */
	text = expand(ENV);
	n = strlen(text);
	memcpy(buf, text, n);
	ck_assert_int_eq(kk_envelope_parse(buf, KK_DSSE_DOC_MAX, &env), 0);
	kk_envelope_free(&env);
	ck_assert_int_eq(kk_envelope_parse(buf, KK_ENVELOPE_MAX, &env),
	    -EBADMSG);
	assert_zeroed(&env);
	ck_assert_int_eq(kk_envelope_parse(buf, KK_ENVELOPE_MAX + 1, &env),
	    -E2BIG);
	assert_zeroed(&env);
	free(text);

	/* deep nesting inside the cap fails cleanly */
	memset(buf, '[', KK_ENVELOPE_MAX);
	ck_assert_int_eq(kk_envelope_parse(buf, KK_ENVELOPE_MAX, &env),
	    -EBADMSG);
	memcpy(buf, "{" PT ",\"payload\":", strlen("{" PT ",\"payload\":"));
	ck_assert_int_eq(kk_envelope_parse(buf, KK_ENVELOPE_MAX, &env),
	    -EBADMSG);
	free(buf);
}
END_TEST

/* The largest payload whose envelope fits: signed, encoded, parsed. */
START_TEST(test_parse_big_payload)
{
	struct kk_envelope env, back;
	EVP_PKEY *k;
	uint8_t *payload;
	char *text;
	size_t n, i;

	n = 700 * 1024;
	payload = malloc(n);
	ck_assert_ptr_nonnull(payload);
	for (i = 0; i < n; i++)
		payload[i] = (uint8_t)(i * 131 + 7);
	k = signed_env(&env, KK_PT_REPORT, payload, n);
	text = kk_envelope_encode(&env);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_le(strlen(text), KK_ENVELOPE_MAX);
	ck_assert_int_eq(kk_envelope_parse((uint8_t *)text, strlen(text),
	    &back), 0);
	ck_assert_uint_eq(back.payload_len, n);
	ck_assert_mem_eq(back.payload, payload, n);
	ck_assert_int_eq(kk_dsse_verify_one(&back, 0, k), 0);
	back.payload[n - 1] ^= 0x80;
	ck_assert_int_eq(kk_dsse_verify_one(&back, 0, k), -EBADMSG);
	kk_envelope_free(&back);
	kk_envelope_free(&env);
	free(text);
	free(payload);
	EVP_PKEY_free(k);
}
END_TEST

/*
 * Every reason kk_envelope_open_code gives, one envelope each, in the
 * order it checks: the readers (receipts, manifests) map the code, so a
 * code out of place would put the wrong words on a refusal.
 */
START_TEST(test_open_codes)
{
	EVP_PKEY *k = kk_key_generate(), *pub = public_of(k);
	EVP_PKEY *other = kk_key_generate();
	static const struct {
		const char *type, *payload;
		bool other_key;
		int fail;	/* -1: opens */
	} cases[] = {
		{ KK_PT_RECEIPT, "{\"v\":1}", false, -1 },
		{ KK_PT_COMMAND, "{\"v\":1}", false, KK_OPEN_OTHER_TYPE },
		{ KK_PT_RECEIPT, "{\"v\":1}", true, KK_OPEN_UNSIGNED },
		{ KK_PT_RECEIPT, "[1]", false, KK_OPEN_MALFORMED },
		{ KK_PT_RECEIPT, "{\"v\":", false, KK_OPEN_MALFORMED },
	};
	enum kk_open_fail fail;
	char got[KK_DSSE_TYPE_MAX], *text, *big, *p;
	const char *why;
	json_t *o;
	size_t i;

	for (i = 0; i < KK_NITEMS(cases); i++) {
		ck_assert_int_eq(kk_envelope_seal(cases[i].type,
		    (const uint8_t *)cases[i].payload, strlen(cases[i].payload),
		    "k", cases[i].other_key ? other : k, &text), 0);
		fail = KK_OPEN_NFAILS;
		memset(got, 'x', sizeof(got));
		o = kk_envelope_open_code((const uint8_t *)text, strlen(text),
		    KK_PT_RECEIPT, pub, &fail, got);
		if (cases[i].fail < 0) {
			ck_assert_ptr_nonnull(o);
			ck_assert_int_eq(fail, KK_OPEN_NFAILS);
		} else {
			ck_assert_msg(o == NULL, "case %zu opened", i);
			ck_assert_int_eq(fail, cases[i].fail);
		}
		/* the type it was, for the reader's own line */
		if (fail == KK_OPEN_OTHER_TYPE)
			ck_assert_str_eq(got, KK_PT_COMMAND);
		/* the general words */
		why = NULL;
		json_decref(kk_envelope_open((const uint8_t *)text,
		    strlen(text), KK_PT_RECEIPT, pub, &why));
		ck_assert((why == NULL) == (cases[i].fail < 0));
		json_decref(o);
		free(text);
	}
	/* not an envelope at all; no type given back */
	o = kk_envelope_open_code((const uint8_t *)"{}", 2, KK_PT_RECEIPT, pub,
	    &fail, NULL);
	ck_assert_ptr_null(o);
	ck_assert_int_eq(fail, KK_OPEN_NOT_DSSE);
	/* too many values, counted before the parse */
	big = malloc(KK_PAYLOAD_VALUES_MAX * 2 + 16);
	ck_assert_ptr_nonnull(big);
	p = big;
	*p++ = '[';
	/* '[' and 65,536 commas: one separator over */
	for (i = 0; i <= KK_PAYLOAD_VALUES_MAX; i++) {
		*p++ = i ? ',' : '0';
		if (i)
			*p++ = '0';
	}
	strcpy(p, "]");
	ck_assert_int_eq(kk_envelope_seal(KK_PT_RECEIPT, (const uint8_t *)big,
	    strlen(big), "k", k, &text), 0);
	o = kk_envelope_open_code((const uint8_t *)text, strlen(text),
	    KK_PT_RECEIPT, pub, &fail, NULL);
	ck_assert_ptr_null(o);
	ck_assert_int_eq(fail, KK_OPEN_TOO_MANY_VALUES);
	free(text);
	free(big);
	EVP_PKEY_free(k);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(other);
}
END_TEST

KK_SUITE(dsse_suite, "dsse",
	KK_CASE("pae", 0, 0), KK_TEST(test_pae_vectors),
	    KK_TEST(test_pae_args),
	KK_CASE("keys", KK_TMPDIR, 0), KK_TEST(test_key_files),
	    KK_TEST(test_key_no_follow),
	    KK_TEST(test_key_seed_leaves_no_copy), KK_TEST(test_key_distinct),
	    KK_TEST(test_key_id_kat),
	    KK_TEST(test_key_refuse_other_types),
	    KK_TEST(test_key_load_bad_files),
	    KK_TEST(test_cert_contents), KK_TEST(test_tls_cert_issue),
	KK_CASE("tls-identity", 0, 0), KK_TEST(test_chain_identity),
	    KK_TEST(test_receipt_identity_only),
	    KK_TEST(test_receipt_values_counted),
	    KK_TEST(test_receipt_enforcers),
	KK_CASE("sign", 0, 0), KK_TEST(test_sign_kat),
	    KK_TEST(test_sig_bitflips), KK_TEST(test_payload_mutations),
	    KK_TEST(test_boundary_shift), KK_TEST(test_sign_appends),
	    KK_TEST(test_sign_keyid_rules), KK_TEST(test_init_and_free),
	    KK_TEST(test_roundtrip), KK_TEST(test_seal),
	    KK_TEST(test_open_codes),
	KK_CASE_FIXTURE("parse", 0, 0, tokens_make, tokens_free),
	    KK_LOOP(test_parse_accepted, KK_NITEMS(accepted)),
	    KK_LOOP(test_parse_rejected, KK_NITEMS(rejected)),
	    KK_TEST(test_parse_limits), KK_TEST(test_parse_nul_bytes),
	    KK_TEST(test_parse_size_cap),
	    KK_TEST(test_parse_big_payload))
