/*
 * One connection to an agent's CSIRT channel (DESIGN 4), as send, fetch
 * and the fleet commands make it: TCP, TLS 1.3 with the
 * operator's client certificate (common/tls.c), the agent's identity
 * behind the TLS chain authenticated by a CA or a pinned agent id,
 * frames, and receipts checked against that identity (common/receipt.c).
 * Every step ends by a deadline (below).  Nothing here prints: errors
 * come back as text for the caller to say.
 */
#ifndef KAKURICTL_AGENTCONN_H
#define KAKURICTL_AGENTCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/ssl.h>

#include "ctl.h"
#include "sign.h"

/* What every connection of a run shares. */
struct agentconn_cfg {
	SSL_CTX *tls;		/* kk_tls_client_ctx: our certificate, the CA */
	bool have_ca;		/* CA mode: the identity must chain to it */
	/*
	 * The connection as a whole (TCP, TLS, identity), then each
	 * exchange as a whole (a request and its answer), not each read
	 * or write: a peer that trickles its bytes still ends by it.
	 */
	int timeout_ms;
	/*
	 * If not 0, a step also ends when the peer has neither acked our
	 * bytes nor sent any for this long: a stopped link is found before
	 * a long deadline, a slow one is not.
	 */
	int idle_ms;
	/* agentconn.end: 0, or when the whole session ends (kk_mono_ms) */
	long long end;
	/*
	 * The peer is a collector (report.h), not an agent: its identity is
	 * the key of its own TLS certificate (kakurid's courier).
	 */
	bool collector;
	/*
	 * Frames we send; 0: KK_FRAME_MAX.  What we read is at most
	 * KK_FRAME_MAX whatever this says: no agent or collector answers
	 * more (DESIGN 4), and one that does is not to be believed for up
	 * to 24 MiB (a signed block list is big only on the way out).
	 */
	size_t send_max;
};

struct agentconn {
	int fd;
	SSL *ssl;
	EVP_PKEY *identity;		/* the agent's identity key */
	char id[KK_AGENT_ID_HEX + 1];	/* its agent id */
	size_t send_max;
	int timeout_ms, idle_ms;
	/*
	 * kk_mono_ms when the step under way ends: every wait of every
	 * read and write is cut there (the socket never blocks).
	 */
	long long deadline;
	/*
	 * 0, or kk_mono_ms when the whole session ends (fetch --max-time):
	 * no step's deadline passes it.  A peer that answers each step
	 * just in time would otherwise keep a session for as long as it
	 * has bytes to send.
	 */
	long long end;
	/* the last receipt agentconn_command verified: its envelope */
	uint8_t *receipt;
	size_t receipt_len;
	/* read and not yet framed: the answers of a batch come together */
	uint8_t rbuf[16384];
	size_t rbuf_len, rbuf_off;
};

/*
 * TCP to addr (HOST:PORT, [v6]:PORT), the handshake, then who answered:
 * the identity behind the chain, authenticated by the CA (have_ca) or by
 * pin (if not NULL it must match in CA mode too).  EX_DONE; else
 * EX_UNREACHABLE (or EX_FAILED for lack of memory) with err filled in.
 * ac->ssl is NULL when not even the TCP connection was made.  Either way
 * agentconn_close follows.
 */
int agentconn_open(struct agentconn *ac, const struct agentconn_cfg *cfg,
    const char *addr, const char *pin, char *err, size_t errlen);
void agentconn_close(struct agentconn *ac);
/*
 * Deadlines: agentconn_open ends within cfg->timeout_ms of its start.
 * agentconn_send starts an exchange: it and the agentconn_recv calls
 * after it end within cfg->timeout_ms of its start.  A caller whose steps
 * need other bounds (the courier's batch) sets ac->deadline itself, or
 * ms from now with agentconn_within, and sends with agentconn_write,
 * which keeps it.  Past the deadline a step fails with -ETIMEDOUT.
 * Neither passes ac->end, when it is set.
 */
void agentconn_within(struct agentconn *ac, long long ms);
/*
 * One frame out, header and body in one TLS record, by ac->deadline:
 * 0, -ETIMEDOUT, or another -errno.
 */
int agentconn_write(struct agentconn *ac, const void *body, size_t len);
/* agentconn_within(timeout_ms), then agentconn_write. */
int agentconn_send(struct agentconn *ac, const void *body, size_t len);
/*
 * One frame in (body <= KK_FRAME_MAX, caller frees) by ac->deadline: 0,
 * -ETIMEDOUT, -ECONNRESET (closed or a TLS error), -EMSGSIZE (a frame
 * announced over KK_FRAME_MAX, refused at its header), or another -errno.
 */
int agentconn_recv(struct agentconn *ac, uint8_t **body, size_t *len);
/*
 * One signed command and its receipt: EX_DONE with *receipt (the
 * payload, caller decrefs) when a signature of the agent's identity key
 * verifies, the receipt names this agent and, if command_id is given and
 * the receipt names a command, that command; EX_FAILED with *why if not;
 * EX_UNREACHABLE when no receipt came back in time.  A receipt that
 * names no command is a refusal of a command that could not be read: one
 * that says done (or says no result) is not believed.  The result word
 * inside is the caller's to judge.
 */
int agentconn_command(struct agentconn *ac, const void *envelope, size_t len,
    const char *command_id, json_t **receipt, const char **why);

#endif
