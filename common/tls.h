/*
 * TLS 1.3 with mutual authentication (DESIGN 4), for kakurid's network
 * child (server) and kakurictl send and fetch (client).
 *
 * The agent's side of a connection is two certificates: the network
 * child's own TLS certificate, and behind it in the chain the identity
 * certificate (agent.crt) whose Ed25519 key signed it.  The identity key
 * itself never leaves kakurid's root parent; it signs receipts and
 * manifests, and the agent id is its hash.  An operator authenticates the
 * identity (pinned id, or a CA that certified agent.crt) and then checks
 * that the identity certified the TLS key the connection was made with.
 */
#ifndef KK_TLS_H
#define KK_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "sign.h"

/* What the network child gets from the parent: PEM text, never files. */
struct kk_tls_material {
	const char *key;		/* agent-tls.key */
	size_t key_len;
	const char *cert;		/* agent-tls.crt */
	size_t cert_len;
	const char *chain;		/* agent.crt (and what follows it there) */
	size_t chain_len;
	const char *client_ca;		/* tls.client_ca */
	size_t client_ca_len;
};

/*
 * Server: TLS 1.3 only, the TLS key and certificate with the identity
 * certificate as chain, client certificates chaining to client_ca required.
 */
/*
 * A client of the fleet broker (DESIGN 9): TLS 1.3, m's key with the
 * certificate the broker's CA gave it (m->cert, no chain), the broker
 * checked by the library against m->client_ca (the broker's CA) and its
 * certificate against the IP literal ip: a plain chain check, since the
 * broker is an ordinary TLS server and no agent of ours.
 */
SSL_CTX *kk_tls_broker_ctx(const struct kk_tls_material *m, const char *ip,
    char *err, size_t errlen);
SSL_CTX *kk_tls_server_ctx(const struct kk_tls_material *m, char *err,
    size_t errlen);
/*
 * Client: TLS 1.3 only, our certificate and key.  The handshake does not
 * decide whom we talk to: kk_tls_peer_identity does, after it, with ca
 * (kept in the context's store) or against a pinned id.
 */
SSL_CTX *kk_tls_client_ctx(const char *cert, const char *key, const char *ca,
    char *err, size_t errlen);
/*
 * The collector's server (kakurictl collector): TLS 1.3 only, our
 * certificate and key; a client certificate is required, but the
 * handshake takes any chain: kk_tls_chain_identity decides, after it.
 */
SSL_CTX *kk_tls_collector_ctx(const char *cert, const char *key, char *err,
    size_t errlen);
/*
 * Client with the agent's material (kakurid's courier): m->client_ca, if
 * not empty, is the CA the server's certificate is checked against
 * (after the handshake, as kk_tls_client_ctx).
 */
SSL_CTX *kk_tls_client_ctx_mem(const struct kk_tls_material *m, char *err,
    size_t errlen);
/*
 * The agent identity behind a chain as a client receives it: chain[0] the
 * TLS certificate, chain[1] the identity certificate, further ones
 * intermediates.  The identity key must be Ed25519, differ from the TLS
 * key and have signed the TLS certificate, which must be within its
 * validity; with ca (CA mode) the identity certificate must also chain to
 * it.  On success *identity (caller frees) and id; on failure why says
 * what is wrong.  -EKEYREJECTED for a chain that does not hold.
 */
int kk_tls_chain_identity(STACK_OF(X509) *chain, X509_STORE *ca,
    EVP_PKEY **identity, char id[KK_AGENT_ID_HEX + 1], char *why,
    size_t whylen);
/* The same for the peer of a client connection (ca: CA mode). */
int kk_tls_peer_identity(SSL *ssl, bool ca, EVP_PKEY **identity,
    char id[KK_AGENT_ID_HEX + 1], char *why, size_t whylen);
/*
 * cert chains to ca (untrusted: intermediates that came with it): 0,
 * -EKEYREJECTED with *err OpenSSL's reason, or -ENOMEM.
 */
int kk_tls_verify(X509_STORE *ca, X509 *cert, STACK_OF(X509) *untrusted,
    const char **err);
/* The last OpenSSL error as text. */
const char *kk_tls_error(char *buf, size_t len);

#endif
