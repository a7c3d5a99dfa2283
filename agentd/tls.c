/*
 * TLS contexts.  Only TLS 1.3, only with certificates on both sides; the
 * agent's certificate carries its Ed25519 identity key, so an operator can
 * pin the agent by its id instead of by a CA.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "sign.h"
#include "tls.h"

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
base_ctx(const SSL_METHOD *method, const char *cert, const char *key,
    char *err, size_t errlen)
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
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		snprintf(err, errlen, "%s: %s", cert, kk_tls_error(e, sizeof(e)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "%s: %s", key, kk_tls_error(e, sizeof(e)));
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *
kk_tls_server_ctx(const char *cert, const char *key, const char *client_ca,
    char *err, size_t errlen)
{
	STACK_OF(X509_NAME) *names;
	SSL_CTX *ctx;
	char e[256];

	ctx = base_ctx(TLS_server_method(), cert, key, err, errlen);
	if (ctx == NULL)
		return NULL;
	if (SSL_CTX_load_verify_locations(ctx, client_ca, NULL) != 1) {
		snprintf(err, errlen, "%s: %s", client_ca,
		    kk_tls_error(e, sizeof(e)));
		goto fail;
	}
	names = SSL_load_client_CA_file(client_ca);
	if (names != NULL)
		SSL_CTX_set_client_CA_list(ctx, names);
	/* no certificate from the CSIRT's CA, no connection */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT | SSL_VERIFY_CLIENT_ONCE, NULL);
	SSL_CTX_set_verify_depth(ctx, 4);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* Pinned mode: the chain is not checked here; the caller checks the id. */
static int
accept_for_pin(int ok, X509_STORE_CTX *store)
{
	return 1;
}

SSL_CTX *
kk_tls_client_ctx(const char *cert, const char *key, const char *ca,
    char *err, size_t errlen)
{
	SSL_CTX *ctx;
	char e[256];

	ctx = base_ctx(TLS_client_method(), cert, key, err, errlen);
	if (ctx == NULL)
		return NULL;
	if (ca != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
			snprintf(err, errlen, "%s: %s", ca,
			    kk_tls_error(e, sizeof(e)));
			SSL_CTX_free(ctx);
			return NULL;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_for_pin);
	}
	return ctx;
}

int
kk_tls_peer_id(SSL *ssl, char out[65])
{
	X509 *peer = SSL_get1_peer_certificate(ssl);
	EVP_PKEY *k;
	int r;

	if (peer == NULL)
		return -ENOKEY;
	k = X509_get0_pubkey(peer);
	r = k ? kk_key_id(k, out) : -ENOKEY;
	X509_free(peer);
	return r;
}
