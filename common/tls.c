/*
 * TLS contexts and the agent identity behind a connection (see tls.h).
 * Only TLS 1.3, only with certificates on both sides.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "sign.h"
#include "tls.h"

#define KK_TLS_MAX_CHAIN	8	/* certificates behind the TLS one */
#define KK_TLS_MAX_CAS		64	/* in tls.client_ca */

const char *
kk_tls_error(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		snprintf(buf, len, "unknown TLS error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

static SSL_CTX *
new_ctx(const SSL_METHOD *method, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	char e[256];

	ctx = SSL_CTX_new(method);
	if (ctx == NULL) {
		snprintf(err, errlen, "SSL_CTX_new: %s", kk_tls_error(e, sizeof(e)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	/* no session tickets: every connection is authenticated in full */
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	return ctx;
}

/*
 * The certificates of a PEM text, in order, at least one and at most max.
 * NULL with err set otherwise.
 */
static STACK_OF(X509) *
pem_certs(const char *what, const char *pem, size_t len, int max, char *err,
    size_t errlen)
{
	STACK_OF(X509) *sk = NULL;
	X509 *x;
	BIO *mem = NULL;

	if (len > INT32_MAX || (mem = BIO_new_mem_buf(pem, (int)len)) == NULL ||
	    (sk = sk_X509_new_null()) == NULL) {
		snprintf(err, errlen, "%s: out of memory", what);
		goto fail;
	}
	while ((x = PEM_read_bio_X509(mem, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_num(sk) >= max || sk_X509_push(sk, x) <= 0) {
			X509_free(x);
			snprintf(err, errlen, "%s: more than %d certificates", what,
			    max);
			goto fail;
		}
	}
	/* the end of the text, or a block that is not a certificate */
	ERR_clear_error();
	if (sk_X509_num(sk) == 0) {
		snprintf(err, errlen, "%s: no PEM certificate", what);
		goto fail;
	}
	BIO_free(mem);
	return sk;
fail:
	sk_X509_pop_free(sk, X509_free);
	BIO_free(mem);
	return NULL;
}

/* The context's certificate and its key, which must match. */
static int
use_pair(SSL_CTX *ctx, X509 *cert, EVP_PKEY *key, const char *what, char *err,
    size_t errlen)
{
	char e[256];

	if (SSL_CTX_use_certificate(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "%s: %s", what, kk_tls_error(e, sizeof(e)));
		return -EINVAL;
	}
	return 0;
}

/*
 * The agent's side of a connection: its TLS key and certificate, with
 * the identity certificate that certified it as the chain.
 */
static int
use_material(SSL_CTX *ctx, const struct kk_tls_material *m, char *err,
    size_t errlen)
{
	STACK_OF(X509) *cert = NULL, *chain = NULL;
	EVP_PKEY *key = NULL, *idkey;
	char e[256];
	int i, r = -EINVAL;

	if (kk_key_parse_private(m->key, m->key_len, &key) < 0) {
		snprintf(err, errlen, "TLS key: not an Ed25519 private key");
		goto out;
	}
	if ((cert = pem_certs("TLS certificate", m->cert, m->cert_len, 1, err,
	    errlen)) == NULL ||
	    (chain = pem_certs("identity certificate", m->chain, m->chain_len,
	    KK_TLS_MAX_CHAIN, err, errlen)) == NULL)
		goto out;
	/* what the operator will check, checked here first */
	idkey = X509_get0_pubkey(sk_X509_value(chain, 0));
	if (idkey == NULL || kk_cert_check_issued(sk_X509_value(cert, 0),
	    idkey) < 0) {
		snprintf(err, errlen, "the TLS certificate is not certified by "
		    "the identity key");
		goto out;
	}
	if (use_pair(ctx, sk_X509_value(cert, 0), key, "TLS key and "
	    "certificate", err, errlen) < 0)
		goto out;
	for (i = 0; i < sk_X509_num(chain); i++) {
		if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(chain, i)) != 1) {
			snprintf(err, errlen, "identity certificate: %s",
			    kk_tls_error(e, sizeof(e)));
			goto out;
		}
	}
	r = 0;
out:
	sk_X509_pop_free(cert, X509_free);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(key);
	return r;
}

/* The CA certificates of pem into the context's store (and, for a
 * server, the list of CAs it asks client certificates of). */
static int
use_cas(SSL_CTX *ctx, const char *what, const char *pem, size_t len,
    bool server, char *err, size_t errlen)
{
	STACK_OF(X509) *cas;
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	char e[256];
	int i, r = 0;

	if ((cas = pem_certs(what, pem, len, KK_TLS_MAX_CAS, err,
	    errlen)) == NULL)
		return -EINVAL;
	for (i = 0; i < sk_X509_num(cas) && r == 0; i++) {
		if (X509_STORE_add_cert(store, sk_X509_value(cas, i)) != 1 ||
		    (server && SSL_CTX_add_client_CA(ctx,
		    sk_X509_value(cas, i)) != 1)) {
			snprintf(err, errlen, "%s: %s", what,
			    kk_tls_error(e, sizeof(e)));
			r = -EINVAL;
		}
	}
	sk_X509_pop_free(cas, X509_free);
	return r;
}

SSL_CTX *
kk_tls_server_ctx(const struct kk_tls_material *m, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	ctx = new_ctx(TLS_server_method(), err, errlen);
	if (ctx == NULL)
		return NULL;
	if (use_material(ctx, m, err, errlen) < 0 ||
	    use_cas(ctx, "client CA", m->client_ca, m->client_ca_len, true,
	    err, errlen) < 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* no certificate from the CSIRT's CA, no connection */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT | SSL_VERIFY_CLIENT_ONCE, NULL);
	SSL_CTX_set_verify_depth(ctx, 4);
	return ctx;
}

/*
 * The handshake accepts the agent's chain as it comes: the identity
 * certificate is an end-entity certificate (CA:FALSE), so no library
 * chain check fits.  kk_tls_chain_identity decides, before a byte is sent.
 */
static int
accept_for_identity_check(int ok, X509_STORE_CTX *store)
{
	return 1;
}

/* A context of method with the certificate chain, key and CA (if any) files. */
static SSL_CTX *
files_ctx(const SSL_METHOD *method, const char *cert, const char *key,
    const char *ca, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	char e[256];

	ctx = new_ctx(method, err, errlen);
	if (ctx == NULL)
		return NULL;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		snprintf(err, errlen, "%s: %s", cert, kk_tls_error(e, sizeof(e)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "%s: %s", key, kk_tls_error(e, sizeof(e)));
		goto fail;
	}
	if (ca != NULL && SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
		snprintf(err, errlen, "%s: %s", ca, kk_tls_error(e, sizeof(e)));
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *
kk_tls_client_ctx(const char *cert, const char *key, const char *ca,
    char *err, size_t errlen)
{
	SSL_CTX *ctx;

	ctx = files_ctx(TLS_client_method(), cert, key, ca, err, errlen);
	if (ctx != NULL)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER,
		    accept_for_identity_check);
	return ctx;
}

SSL_CTX *
kk_tls_collector_ctx(const char *cert, const char *key, char *err,
    size_t errlen)
{
	SSL_CTX *ctx;

	ctx = files_ctx(TLS_server_method(), cert, key, NULL, err, errlen);
	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_for_identity_check);
	/*
	 * An agent's connection waits for its next report most of the
	 * time: its record buffers (some 34 KiB) go back between reads,
	 * which is most of what 1,000 connected agents cost.
	 */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

SSL_CTX *
kk_tls_client_ctx_mem(const struct kk_tls_material *m, char *err,
    size_t errlen)
{
	SSL_CTX *ctx;

	ctx = new_ctx(TLS_client_method(), err, errlen);
	if (ctx == NULL)
		return NULL;
	if (use_material(ctx, m, err, errlen) < 0 || (m->client_ca_len > 0 &&
	    use_cas(ctx, "CA", m->client_ca, m->client_ca_len, false, err,
	    errlen) < 0)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_for_identity_check);
	return ctx;
}

int
kk_tls_verify(X509_STORE *ca, X509 *cert, STACK_OF(X509) *untrusted,
    const char **err)
{
	X509_STORE_CTX *vctx;
	int r = -EKEYREJECTED;

	*err = "out of memory";
	if ((vctx = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_CTX_init(vctx, ca, cert, untrusted) != 1)
		r = -ENOMEM;
	else if (X509_verify_cert(vctx) == 1)
		r = 0;
	else
		*err = X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(vctx));
	X509_STORE_CTX_free(vctx);
	ERR_clear_error();
	return r;
}

/* The identity certificate chains to the CA (intermediates from the peer). */
static int
check_ca(X509_STORE *ca, STACK_OF(X509) *chain, char *why, size_t whylen)
{
	STACK_OF(X509) *untrusted;
	const char *err;
	int i, r = -ENOMEM;

	if ((untrusted = sk_X509_new_null()) == NULL)
		goto out;
	for (i = 2; i < sk_X509_num(chain); i++)
		if (sk_X509_push(untrusted, sk_X509_value(chain, i)) <= 0)
			goto out;
	r = kk_tls_verify(ca, sk_X509_value(chain, 1), untrusted, &err);
	if (r == -EKEYREJECTED)
		snprintf(why, whylen, "the agent's identity certificate does not "
		    "chain to the CA: %s", err);
out:
	if (r == -ENOMEM)
		snprintf(why, whylen, "out of memory");
	sk_X509_free(untrusted);	/* the certificates are the chain's */
	return r;
}

int
kk_tls_chain_identity(STACK_OF(X509) *chain, X509_STORE *ca,
    EVP_PKEY **identity, char id[KK_AGENT_ID_HEX + 1], char *why,
    size_t whylen)
{
	EVP_PKEY *tlskey, *idkey = NULL;
	X509 *leaf;
	int r = -EKEYREJECTED;

	*identity = NULL;
	id[0] = '\0';
	if (chain == NULL || sk_X509_num(chain) < 1) {
		snprintf(why, whylen, "the agent sent no certificate");
		goto out;
	}
	if (sk_X509_num(chain) < 2) {
		snprintf(why, whylen, "the agent sent no identity certificate "
		    "behind its TLS certificate (an agent without agent-tls.key: "
		    "run kakurid --init there)");
		goto out;
	}
	leaf = sk_X509_value(chain, 0);
	tlskey = X509_get0_pubkey(leaf);
	idkey = X509_get0_pubkey(sk_X509_value(chain, 1));
	if (tlskey == NULL || idkey == NULL ||
	    kk_key_id(idkey, id) < 0) {
		snprintf(why, whylen, "the agent's identity certificate does not "
		    "carry an Ed25519 key");
		goto out;
	}
	if (EVP_PKEY_eq(tlskey, idkey) == 1) {
		snprintf(why, whylen, "the agent's TLS key is its identity key");
		goto out;
	}
	if (kk_cert_check_issued(leaf, idkey) < 0) {
		snprintf(why, whylen, "the agent's TLS certificate is not "
		    "certified by its identity key");
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notBefore(leaf)) >= 0 ||
	    X509_cmp_current_time(X509_get0_notAfter(leaf)) <= 0) {
		snprintf(why, whylen, "the agent's TLS certificate is not valid "
		    "now (run kakurid --init there for a new one)");
		goto out;
	}
	if (ca != NULL && (r = check_ca(ca, chain, why, whylen)) < 0)
		goto out;
	r = 0;
out:
	return kk_key_identity_end(r, idkey, identity, id);
}

int
kk_tls_peer_identity(SSL *ssl, bool ca, EVP_PKEY **identity,
    char id[KK_AGENT_ID_HEX + 1], char *why, size_t whylen)
{
	/* on a client, the chain as the peer sent it, its certificate first */
	return kk_tls_chain_identity(SSL_get_peer_cert_chain(ssl),
	    ca ? SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl)) : NULL,
	    identity, id, why, whylen);
}

SSL_CTX *
kk_tls_broker_ctx(const struct kk_tls_material *m, const char *ip, char *err,
    size_t errlen)
{
	STACK_OF(X509) *cert = NULL;
	EVP_PKEY *key = NULL;
	SSL_CTX *ctx;

	if ((ctx = new_ctx(TLS_client_method(), err, errlen)) == NULL)
		return NULL;
	if (kk_key_parse_private(m->key, m->key_len, &key) < 0) {
		snprintf(err, errlen, "TLS key: not an Ed25519 private key");
		goto fail;
	}
	if ((cert = pem_certs("fleet certificate", m->cert, m->cert_len, 1,
	    err, errlen)) == NULL)
		goto fail;
	if (use_pair(ctx, sk_X509_value(cert, 0), key, "TLS key and fleet "
	    "certificate", err, errlen) < 0)
		goto fail;
	if (use_cas(ctx, "broker CA", m->client_ca, m->client_ca_len, false,
	    err, errlen) < 0)
		goto fail;
	/* the library's whole chain check, and the broker's own address */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_verify_depth(ctx, 4);
	if (X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(ctx), ip) != 1) {
		snprintf(err, errlen, "broker address '%.64s': not an IP "
		    "literal", ip);
		goto fail;
	}
	sk_X509_pop_free(cert, X509_free);
	EVP_PKEY_free(key);
	return ctx;
fail:
	sk_X509_pop_free(cert, X509_free);
	EVP_PKEY_free(key);
	SSL_CTX_free(ctx);
	return NULL;
}
