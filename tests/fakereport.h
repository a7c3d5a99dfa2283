/*
 * An agent's credentials and a self-report signed as an agent signs one
 * (DESIGN 7), for the programs that play an agent before the collector:
 * bench/collector_bench and tests/integration/floodagent.
 */
#ifndef KK_FAKEREPORT_H
#define KK_FAKEREPORT_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>

/*
 * The agent a program plays: a TLS client context presenting chain with
 * tlskey into *tls, the identity key at idkey into *key and its id into
 * agent (KK_AGENT_ID_HEX + 1 bytes).  0; -1 with why in err, nothing
 * kept.
 */
int	fr_agent_load(const char *chain, const char *tlskey, const char *idkey,
	    SSL_CTX **tls, EVP_PKEY **key, char *agent, char *err,
	    size_t errlen);

/*
 * Report number seq of agent (its identity key), from host, saying what,
 * with a random id (in id): the envelope's text, to free; NULL on failure.
 */
char	*fr_signed_report(EVP_PKEY *key, const char *agent, int seq,
	    const char *host, const char *what, char id[33]);

#endif
