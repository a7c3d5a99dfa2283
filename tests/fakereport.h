/*
 * A self-report signed as an agent signs one (DESIGN 7), for the programs
 * that play an agent before the collector: bench/collector_bench and
 * tests/integration/floodagent.
 */
#ifndef KK_FAKEREPORT_H
#define KK_FAKEREPORT_H

#include <openssl/evp.h>

/*
 * Report number seq of agent (its identity key), from host, saying what,
 * with a random id (in id): the envelope's text, to free; NULL on failure.
 */
char	*fr_signed_report(EVP_PKEY *key, const char *agent, int seq,
	    const char *host, const char *what, char id[33]);

#endif
