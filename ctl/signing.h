/*
 * sign.c: a command payload built, checked and signed - for sign, and for
 * the fetch commands fetch.c signs in-process.
 */
#ifndef KAKURICTL_SIGNING_H
#define KAKURICTL_SIGNING_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ctl.h"
#include "sign.h"

/* One command payload (DESIGN 4) to be signed. */
struct cmd_spec {
	const char *agent;	/* agent id, 64 hex; or NULL and ... */
	const char *group;	/* ... a fleet group (DESIGN 9) */
	const char *action;
	json_t *args;		/* an object; borrowed */
	const char *episode;	/* NULL: none */
	const char *incident;
	const char *reason;
	time_t iat;
	long long ttl;		/* exp = iat + ttl */
};

/* "alice" for ".../alice.key": the default keyid hint */
const char *key_hint(const char *path, char *buf, size_t len);
/*
 * Builds the payload with a fresh id, checks it with the agent's strict
 * parser and signs it.  EX_DONE with *text (the envelope JSON, caller
 * frees) and id; EX_USAGE (the agent would refuse it) or EX_FAILED with
 * why filled in.
 */
int sign_command(const struct cmd_spec *s, EVP_PKEY *key, const char *keyid,
    char id[KK_ID_HEX + 1], char **text, char *why, size_t whylen);

#endif
