/*
 * TLS 1.3 with mutual authentication (DESIGN 4), for kakurid's network
 * child (server) and kakurictl send (client).
 */
#ifndef KK_TLS_H
#define KK_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

/* Server: TLS 1.3 only, client certificates chaining to client_ca required. */
SSL_CTX *kk_tls_server_ctx(const char *cert, const char *key,
    const char *client_ca, char *err, size_t errlen);
/*
 * Client: TLS 1.3 only, our certificate and key.  With ca the server's
 * chain is verified against it; without, only a pinned agent id can
 * authenticate the server (kk_tls_peer_id after the handshake).
 */
SSL_CTX *kk_tls_client_ctx(const char *cert, const char *key, const char *ca,
    char *err, size_t errlen);
/* The peer certificate's key as an agent id (hex SHA-256 of the raw key). */
int kk_tls_peer_id(SSL *ssl, char out[65]);
/* The last OpenSSL error as text. */
const char *kk_tls_error(char *buf, size_t len);

#endif
