/*
 * Ed25519 keys (DESIGN 4): generation, PEM files, the key id, the
 * agent's self-signed identity certificate and the certificate the
 * identity issues for the network child's own TLS key.
 *
 * Files are only ever created, never replaced: open(2) with O_EXCL and
 * O_NOFOLLOW, the exact mode set with fchmod(2) (whatever the umask),
 * the PEM text written from memory, then fsync(2).  A file we created but
 * could not finish is removed again.  Key files are read with a size cap;
 * only Ed25519 keys are accepted.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "kakuri.h"
#include "sign.h"

#define KK_KEYFILE_MAX		(64 * 1024)
#define KK_ED25519_LEN		32
#define KK_CN_MAX		64	/* RFC 5280 ub-common-name */
#define KK_CERT_DAYS_MAX	(100 * 366)
#define KK_CERT_BACKDATE	(5 * 60)

static bool
is_ed25519(const EVP_PKEY *k)
{
	return k != NULL && EVP_PKEY_is_a(k, "ED25519");
}

/*
 * Never prompt on the terminal for a passphrase: an encrypted key file
 * simply fails to load.
 */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/*
 * Creates path, which must not exist, holding the contents of mem.  A
 * file this call created but could not complete is unlinked again, so
 * that a retry is not refused with -EEXIST.
 */
static int
create_file(const char *path, mode_t mode, BIO *mem)
{
	char *data = NULL;
	long n;
	bool created = false;
	int fd = -1, r;

	n = BIO_get_mem_data(mem, &data);
	if (n <= 0 || data == NULL) {
		r = -EIO;
		goto out;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    mode);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	created = true;
	/* the exact mode, whatever the umask */
	if (fchmod(fd, mode) < 0) {
		r = -errno;
		goto out;
	}
	if ((r = kk_write_all(fd, data, (size_t)n)) < 0)
		goto out;
	if (fsync(fd) < 0) {
		r = -errno;
		goto out;
	}
	r = close(fd) < 0 ? -errno : 0;
	fd = -1;
out:
	kk_close(fd);
	if (r < 0 && created)
		(void)unlink(path);
	return r;
}

/* Reads a whole (regular) key file of at most KK_KEYFILE_MAX bytes. */
static int
read_small_file(const char *path, char **out, size_t *outlen)
{
	char *buf = NULL;
	size_t size, len = 0;
	ssize_t n;
	int fd, r;

	*out = NULL;
	*outlen = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if ((r = kk_fd_regular(fd, KK_KEYFILE_MAX, &size)) < 0)
		goto out;
	/* one byte more than the cap, to notice a file that grew */
	buf = OPENSSL_secure_zalloc(KK_KEYFILE_MAX + 1);
	if (buf == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if ((n = kk_read_upto(fd, buf, KK_KEYFILE_MAX + 1)) < 0) {
		r = (int)n;
		goto out;
	}
	len = (size_t)n;
	if (len > KK_KEYFILE_MAX) {
		r = -EFBIG;
		goto out;
	}
	*out = buf;
	*outlen = len;
	buf = NULL;
	r = 0;
out:
	if (buf != NULL)
		OPENSSL_secure_clear_free(buf, KK_KEYFILE_MAX + 1);
	kk_close(fd);
	return r;
}

static void
free_small_file(char *buf)
{
	if (buf != NULL)
		OPENSSL_secure_clear_free(buf, KK_KEYFILE_MAX + 1);
}

EVP_PKEY *
kk_key_generate(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
}

/*
 * k as PEM in a new file: the private key (mode 0600, built in secure
 * memory, whose buffer is cleared when freed) or the public key (0644).
 */
static int
save_pem(EVP_PKEY *k, const char *path, bool secret)
{
	BIO *mem = NULL;
	int r;

	if (!is_ed25519(k) || path == NULL) {
		r = -EINVAL;
		goto out;
	}
	mem = BIO_new(secret ? BIO_s_secmem() : BIO_s_mem());
	if (mem == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if ((secret ? PEM_write_bio_PrivateKey(mem, k, NULL, NULL, 0, NULL,
	    NULL) : PEM_write_bio_PUBKEY(mem, k)) != 1) {
		r = -EINVAL;
		goto out;
	}
	r = create_file(path, secret ? 0600 : 0644, mem);
out:
	BIO_free(mem);
	return r;
}

int
kk_key_save_private(EVP_PKEY *k, const char *path)
{
	return save_pem(k, path, true);
}

int
kk_key_save_public(EVP_PKEY *k, const char *path)
{
	return save_pem(k, path, false);
}

/* pem, len bytes, as a memory BIO for parse to read from. */
static int
pem_parse(const char *pem, size_t len, int (*parse)(BIO *, void *),
    void *out)
{
	BIO *mem = BIO_new_mem_buf(pem, (int)len);
	int r;

	if (mem == NULL)
		return -ENOMEM;
	r = parse(mem, out);
	BIO_free(mem);
	return r;
}

/* The small file at path (read_small_file), parsed by parse. */
static int
pem_file_parse(const char *path, int (*parse)(BIO *, void *), void *out)
{
	char *buf = NULL;
	size_t len;
	int r;

	if ((r = read_small_file(path, &buf, &len)) == 0)
		r = pem_parse(buf, len, parse, out);
	free_small_file(buf);
	return r;
}

static int
parse_private(BIO *mem, void *out)
{
	EVP_PKEY *k = PEM_read_bio_PrivateKey(mem, NULL, no_passphrase, NULL);

	if (!is_ed25519(k)) {
		EVP_PKEY_free(k);
		return -EINVAL;
	}
	*(EVP_PKEY **)out = k;
	return 0;
}

/* PKCS#8 v1 of an Ed25519 key: the DER before its 32-byte seed (RFC 8410) */
static const unsigned char pkcs8_ed25519[] = {
	0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65,
	0x70, 0x04, 0x22, 0x04, 0x20,
};
#define PEM_PKCS8_BEGIN	"-----BEGIN PRIVATE KEY-----"
#define PEM_PKCS8_END	"-----END PRIVATE KEY-----"
/* the base64 of those 48 bytes: 64 characters, no padding */
#define PKCS8_B64_LEN	64

int
kk_key_load_seed(const char *path, unsigned char *seed)
{
	unsigned char der[PKCS8_B64_LEN];	/* 48 bytes are decoded */
	char b64[PKCS8_B64_LEN + 1], *buf = NULL, *p, *end;
	size_t len, n = 0;
	int r;

	if ((r = read_small_file(path, &buf, &len)) < 0)
		return r;
	r = -EINVAL;
	p = buf + strspn(buf, " \t\r\n");
	if (strncmp(p, PEM_PKCS8_BEGIN, strlen(PEM_PKCS8_BEGIN)) != 0 ||
	    (end = strstr(p, PEM_PKCS8_END)) == NULL)
		goto out;
	for (p += strlen(PEM_PKCS8_BEGIN); p < end; p++) {
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			continue;
		if (n == PKCS8_B64_LEN)
			goto out;	/* longer: not the plain form */
		b64[n++] = *p;
	}
	b64[n] = '\0';
	if (n != PKCS8_B64_LEN || strspn(end + strlen(PEM_PKCS8_END),
	    " \t\r\n") != strlen(end + strlen(PEM_PKCS8_END)) ||
	    EVP_DecodeBlock(der, (unsigned char *)b64, (int)n) != 48 ||
	    memcmp(der, pkcs8_ed25519, sizeof(pkcs8_ed25519)) != 0)
		goto out;
	memcpy(seed, der + sizeof(pkcs8_ed25519), KK_ED25519_SEED);
	r = 0;
out:
	OPENSSL_cleanse(der, sizeof(der));
	OPENSSL_cleanse(b64, sizeof(b64));
	free_small_file(buf);
	return r;
}

int
kk_key_parse_private(const char *pem, size_t len, EVP_PKEY **out)
{
	if (out == NULL || pem == NULL || len > KK_KEYFILE_MAX)
		return -EINVAL;
	*out = NULL;
	return pem_parse(pem, len, parse_private, out);
}

int
kk_key_load_private(const char *path, EVP_PKEY **out)
{
	if (out == NULL || path == NULL)
		return -EINVAL;
	*out = NULL;
	return pem_file_parse(path, parse_private, out);
}

/*
 * The first PEM block decides: "PUBLIC KEY" (SubjectPublicKeyInfo) or
 * "CERTIFICATE" (X.509, we take its key).  The DER must be consumed
 * exactly.  Anything else, or a key that is not Ed25519, is -EINVAL.
 */
static int
parse_public(BIO *mem, void *out)
{
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	long derlen = 0;
	int r = -EINVAL;

	if (PEM_read_bio(mem, &name, &header, &der, &derlen) != 1 ||
	    derlen <= 0 || header == NULL || header[0] != '\0')
		goto out;
	p = der;
	if (strcmp(name, PEM_STRING_PUBLIC) == 0) {
		k = d2i_PUBKEY(NULL, &p, derlen);
	} else if (strcmp(name, PEM_STRING_X509) == 0) {
		x = d2i_X509(NULL, &p, derlen);
		if (x != NULL)
			k = X509_get_pubkey(x);
	}
	if (k == NULL || p != der + derlen || !is_ed25519(k))
		goto out;
	*(EVP_PKEY **)out = k;
	k = NULL;
	r = 0;
out:
	EVP_PKEY_free(k);
	X509_free(x);
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(der);
	return r;
}

int
kk_key_load_public(const char *path, EVP_PKEY **out)
{
	if (out == NULL || path == NULL)
		return -EINVAL;
	*out = NULL;
	return pem_file_parse(path, parse_public, out);
}

int
kk_key_id(EVP_PKEY *k, char out[KK_AGENT_ID_HEX + 1])
{
	unsigned char raw[KK_ED25519_LEN];
	size_t len = sizeof(raw);

	if (out == NULL)
		return -EINVAL;
	out[0] = '\0';
	if (!is_ed25519(k))
		return -EINVAL;
	if (EVP_PKEY_get_raw_public_key(k, raw, &len) != 1 ||
	    len != sizeof(raw))
		return -EINVAL;
	kk_sha256_hex(raw, len, out);
	return 0;
}

int
kk_key_hold(EVP_PKEY *k, EVP_PKEY **out)
{
	if (EVP_PKEY_up_ref(k) != 1)
		return -ENOMEM;
	*out = k;
	return 0;
}

int
kk_key_identity_end(int r, EVP_PKEY *k, EVP_PKEY **out,
    char id[KK_AGENT_ID_HEX + 1])
{
	if (r == 0)
		r = kk_key_hold(k, out);
	/* a refused key leaves no id behind for a caller to trust */
	if (r < 0)
		id[0] = '\0';
	return r;
}

static int
add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext;
	int r;

	ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
	if (ext == NULL)
		return -EINVAL;
	r = X509_add_ext(x, ext, -1) == 1 ? 0 : -ENOMEM;
	X509_EXTENSION_free(ext);
	return r;
}

/* A random, positive, non-zero 128-bit serial number. */
static int
set_serial(X509 *x)
{
	unsigned char rnd[16];
	BIGNUM *bn = NULL;
	int r;

	do {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
			r = -EIO;
			goto out;
		}
		BN_free(bn);
		bn = BN_bin2bn(rnd, sizeof(rnd), NULL);
		if (bn == NULL) {
			r = -ENOMEM;
			goto out;
		}
	} while (BN_is_zero(bn));
	if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	r = 0;
out:
	BN_free(bn);
	return r;
}

/*
 * Builds, signs and writes a certificate for key: self-signed when issuer
 * is NULL, otherwise issued under issuer's subject name and signed with
 * signer (the issuer's key).
 */
static int
make_cert(EVP_PKEY *key, const char *cn, int days, X509 *issuer,
    EVP_PKEY *signer, const char *path)
{
	X509V3_CTX ctx;
	X509_NAME *name = NULL;
	X509 *x = NULL;
	BIO *mem = NULL;
	size_t cnlen;
	int r;

	if (!is_ed25519(key) || !is_ed25519(signer) || cn == NULL ||
	    path == NULL || days <= 0 || days > KK_CERT_DAYS_MAX) {
		r = -EINVAL;
		goto out;
	}
	cnlen = strlen(cn);
	if (cnlen == 0 || cnlen > KK_CN_MAX) {
		r = -EINVAL;
		goto out;
	}
	x = X509_new();
	name = X509_NAME_new();
	mem = BIO_new(BIO_s_mem());
	if (x == NULL || name == NULL || mem == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (X509_set_version(x, X509_VERSION_3) != 1) {
		r = -ENOMEM;
		goto out;
	}
	r = set_serial(x);
	if (r < 0)
		goto out;
	/* UTF-8; invalid UTF-8 in cn is refused here */
	if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
	    (const unsigned char *)cn, (int)cnlen, -1, 0) != 1) {
		r = -EINVAL;
		goto out;
	}
	if (X509_set_subject_name(x, name) != 1 ||
	    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) :
	    name) != 1) {
		r = -ENOMEM;
		goto out;
	}
	if (X509_gmtime_adj(X509_getm_notBefore(x), -KK_CERT_BACKDATE) ==
	    NULL || X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) ==
	    NULL) {
		r = -EOVERFLOW;
		goto out;
	}
	if (X509_set_pubkey(x, key) != 1) {
		r = -EINVAL;
		goto out;
	}
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	if ((r = add_ext(x, &ctx, NID_basic_constraints,
	    "critical,CA:FALSE")) < 0 ||
	    (r = add_ext(x, &ctx, NID_key_usage,
	    "critical,digitalSignature")) < 0 ||
	    (r = add_ext(x, &ctx, NID_ext_key_usage,
	    "serverAuth,clientAuth")) < 0 ||
	    (r = add_ext(x, &ctx, NID_subject_key_identifier, "hash")) < 0)
		goto out;
	/* the issuer's key id, where its certificate has one */
	if (issuer != NULL && X509_get0_subject_key_id(issuer) != NULL &&
	    (r = add_ext(x, &ctx, NID_authority_key_identifier, "keyid")) < 0)
		goto out;
	/* Ed25519 signs the message itself: no digest */
	if (X509_sign(x, signer, NULL) <= 0) {
		r = -EINVAL;
		goto out;
	}
	if (PEM_write_bio_X509(mem, x) != 1) {
		r = -ENOMEM;
		goto out;
	}
	r = create_file(path, 0644, mem);
out:
	BIO_free(mem);
	X509_NAME_free(name);
	X509_free(x);
	return r;
}

int
kk_cert_selfsigned(EVP_PKEY *k, const char *cn, int days, const char *path)
{
	return make_cert(k, cn, days, NULL, k, path);
}

int
kk_cert_issue(EVP_PKEY *key, const char *cn, int days, X509 *issuer,
    EVP_PKEY *issuer_key, const char *path)
{
	EVP_PKEY *ipub;

	if (issuer == NULL || (ipub = X509_get0_pubkey(issuer)) == NULL ||
	    EVP_PKEY_eq(ipub, issuer_key) != 1 || EVP_PKEY_eq(key,
	    issuer_key) == 1)
		return -EINVAL;
	return make_cert(key, cn, days, issuer, issuer_key, path);
}

int
kk_cert_check_issued(X509 *cert, EVP_PKEY *issuer_key)
{
	if (cert == NULL || !is_ed25519(issuer_key))
		return -EINVAL;
	ERR_set_mark();
	if (X509_verify(cert, issuer_key) == 1) {
		ERR_pop_to_mark();
		return 0;
	}
	ERR_pop_to_mark();
	return -EBADMSG;
}

int
kk_pem_read(const char *path, char **out, size_t *len)
{
	return read_small_file(path, out, len);
}

void
kk_pem_free(char *buf)
{
	free_small_file(buf);
}

static int
parse_cert(BIO *mem, void *out)
{
	X509 *x = PEM_read_bio_X509(mem, NULL, no_passphrase, NULL);

	if (x == NULL)
		return -EINVAL;
	*(X509 **)out = x;
	return 0;
}

int
kk_cert_load(const char *path, X509 **out)
{
	if (out == NULL || path == NULL)
		return -EINVAL;
	*out = NULL;
	return pem_file_parse(path, parse_cert, out);
}
