/*
 * kakurictl: shared between the staff commands (kakurictl.c), the
 * CSIRT operator commands (operator.c) and evidence fetching (fetch.c).
 */
#ifndef KAKURICTL_H
#define KAKURICTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>
#include <openssl/ssl.h>

#include "sign.h"

enum { EX_DONE = 0, EX_FAILED = 1, EX_USAGE = 2, EX_UNREACHABLE = 3 };

struct ctl {
	const char *socket_path;
	bool json;
};

void fail_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* one request to kakurid's control socket; prints refusals; exit status */
int ctl_call(struct ctl *c, json_t *req, json_t **resp);

int cmd_keygen(struct ctl *c, int argc, char **argv);
int cmd_agent_id(struct ctl *c, int argc, char **argv);
int cmd_sign(struct ctl *c, int argc, char **argv);
int cmd_cosign(struct ctl *c, int argc, char **argv);
int cmd_send(struct ctl *c, int argc, char **argv);
int cmd_apply(struct ctl *c, int argc, char **argv);
int cmd_fetch(struct ctl *c, int argc, char **argv);

/* operator.c: what sign, send and fetch share */

/* One command payload (DESIGN 4) to be signed. */
struct cmd_spec {
	const char *agent;	/* agent id, 64 hex */
	const char *action;
	json_t *args;		/* an object; borrowed */
	const char *episode;	/* NULL: none */
	const char *incident;
	const char *reason;
	time_t iat;
	long ttl;		/* exp = iat + ttl */
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
/*
 * After the handshake, who the agent is: its identity key and id from the
 * chain (tls.h), authenticated by ca (have_ca) or by pin (if not NULL, it
 * must match in either mode).  EX_DONE, or EX_UNREACHABLE with err.
 */
int agent_identity(SSL *ssl, bool have_ca, const char *pin,
    EVP_PKEY **identity, char id[KK_AGENT_ID_HEX + 1], char *err,
    size_t errlen);
/* TCP to HOST:PORT ([v6]:PORT) with send/receive timeouts; fd or -1 + err */
int tcp_connect(const char *hostport, int timeout_ms, char *err,
    size_t errlen);
int ssl_write_all(SSL *ssl, const void *buf, size_t len);
/* One frame (body <= KK_FRAME_MAX, caller frees); -ECONNRESET, -E2BIG, ... */
int ssl_read_frame(SSL *ssl, uint8_t **body, size_t *len);

#endif
