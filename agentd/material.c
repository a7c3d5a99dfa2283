/*
 * The TLS material a child of kakurid gets as its first message
 * (netchild.h, KK_IPC_CONFIG): the child's TLS key and certificate, the
 * identity certificate as chain and a CA, as PEM text, checked here with
 * the code the child runs so that the reason lands in the parent's log.
 * The identity key itself never leaves the parent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/conf.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "children.h"
#include "daemon.h"
#include "netchild.h"
#include "sign.h"
#include "tls.h"

/* Whom the child's TLS material is for. */
enum peer_kind {
	PEER_CLIENTS,		/* the CSIRT's, the network child serving */
	PEER_SERVER,		/* the collector's, the courier dialing */
	PEER_BROKER,		/* the fleet broker (DESIGN 9) */
};

/* The same Ed25519 key, read raw: the two may come from two contexts. */
static bool
same_public_key(const EVP_PKEY *a, const EVP_PKEY *b)
{
	unsigned char ra[64], rb[64];
	size_t la = sizeof(ra), lb = sizeof(rb);

	return a != NULL && b != NULL && EVP_PKEY_is_a(a, "ED25519") &&
	    EVP_PKEY_is_a(b, "ED25519") &&
	    EVP_PKEY_get_raw_public_key(a, ra, &la) == 1 &&
	    EVP_PKEY_get_raw_public_key(b, rb, &lb) == 1 && la == lb &&
	    CRYPTO_memcmp(ra, rb, la) == 0;
}

static int
material(struct kd *d, const char *const path[KK_PEM__MAX],
    enum peer_kind peer, const char *broker_ip, const void *extra,
    size_t extralen, uint8_t **out, size_t *outlen, char *why, size_t whylen)
{
	char *pem[KK_PEM__MAX] = { NULL }, err[300];
	size_t len[KK_PEM__MAX] = { 0 }, total = extralen, pos;
	struct kk_tls_material m;
	struct kk_ipc_config cfg;
	OSSL_LIB_CTX *scratch, *was = NULL;
	char *cnf;
	EVP_PKEY *idpub = NULL;
	X509 *idcert = NULL;
	SSL_CTX *ctx = NULL;
	uint8_t *body = NULL;
	int i, r;

	/* a copy left by a start that failed halfway: wiped, not leaked */
	kd_tls_material_forget(out, outlen);
	/*
	 * Checked in a library context of its own, freed afterwards: an
	 * SSL_CTX fills the context it is made in with every algorithm TLS
	 * looks up, some 150 KiB the parent, which never speaks TLS itself,
	 * would otherwise keep for good.
	 */
	if ((scratch = OSSL_LIB_CTX_new()) == NULL) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	/*
	 * with the system's openssl.cnf, as the children's default context
	 * loads it: the same providers and properties (FIPS) judge it here
	 */
	if ((cnf = CONF_get1_default_config_file()) != NULL) {
		(void)OSSL_LIB_CTX_load_config(scratch, cnf);
		OPENSSL_free(cnf);
		ERR_clear_error();	/* none, as for the default context */
	}
	was = OSSL_LIB_CTX_set0_default(scratch);
	for (i = 0; i < KK_PEM__MAX; i++) {
		if (path[i] == NULL || path[i][0] == '\0')
			continue;	/* no CA: a pinned peer */
		if ((r = kk_pem_read(path[i], &pem[i], &len[i])) < 0) {
			snprintf(why, whylen, "%.200s: %s%s", path[i],
			    strerror(-r), i <= KK_PEM_TLS_CERT ? " (run kakurid "
			    "--init to make the children's TLS key)" : "");
			goto out;
		}
		total += len[i];
	}
	m = (struct kk_tls_material){ pem[0], len[0], pem[1], len[1], pem[2],
		len[2], pem[3], len[3] };
	ctx = peer == PEER_CLIENTS ? kk_tls_server_ctx(&m, err, sizeof(err)) :
	    peer == PEER_SERVER ? kk_tls_client_ctx_mem(&m, err, sizeof(err)) :
	    kk_tls_broker_ctx(&m, broker_ip, err, sizeof(err));
	if (ctx == NULL) {
		snprintf(why, whylen, "%s%s", err, peer != PEER_BROKER ?
		    " (run kakurid --init)" : "");
		r = -EINVAL;
		goto out;
	}
	/* the chain the child shows must be the identity that signs here */
	if (peer != PEER_BROKER && (kk_cert_load(d->policy->cert, &idcert) < 0 ||
	    (idpub = X509_get0_pubkey(idcert)) == NULL ||
	    !same_public_key(idpub, d->agent_key))) {
		snprintf(why, whylen, "%.200s does not carry the identity key "
		    "%.200s", d->policy->cert, d->policy->key);
		r = -EINVAL;
		goto out;
	}
	if ((body = malloc(sizeof(cfg) + total)) == NULL) {
		snprintf(why, whylen, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	pos = sizeof(cfg);
	for (i = 0; i < KK_PEM__MAX; i++) {
		cfg.len[i] = (uint32_t)len[i];
		if (len[i] > 0)
			memcpy(body + pos, pem[i], len[i]);
		pos += len[i];
	}
	memcpy(body, &cfg, sizeof(cfg));
	if (extralen > 0)
		memcpy(body + pos, extra, extralen);
	*out = body;
	*outlen = pos + extralen;
	r = 0;
out:
	for (i = 0; i < KK_PEM__MAX; i++)
		kk_pem_free(pem[i]);
	X509_free(idcert);
	SSL_CTX_free(ctx);
	OSSL_LIB_CTX_set0_default(was);
	OSSL_LIB_CTX_free(scratch);
	return r;
}

int
kd_tls_material(struct kd *d, const char *ca_path, bool server,
    const void *extra, size_t extralen, uint8_t **out, size_t *outlen,
    char *why, size_t whylen)
{
	const char *path[KK_PEM__MAX] = { d->policy->tls_key,
		d->policy->tls_cert, d->policy->cert, ca_path };

	return material(d, path, server ? PEER_CLIENTS : PEER_SERVER, NULL,
	    extra, extralen, out, outlen, why, whylen);
}

int
kd_fleet_material(struct kd *d, const char *broker_ip, const void *extra,
    size_t extralen, uint8_t **out, size_t *outlen, char *why, size_t whylen)
{
	const char *path[KK_PEM__MAX] = { d->policy->tls_key,
		d->policy->fleet_cert, NULL, d->policy->fleet_ca };

	return material(d, path, PEER_BROKER, broker_ip, extra, extralen, out,
	    outlen, why, whylen);
}

void
kd_tls_material_forget(uint8_t **cfg, size_t *len)
{
	if (*cfg != NULL) {
		OPENSSL_cleanse(*cfg, *len);
		free(*cfg);
	}
	*cfg = NULL;
	*len = 0;
}
