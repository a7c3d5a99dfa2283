/*
 * The fleet transport's wire (DESIGN 9), written once for the agent's
 * fleet child, kakurictl send --broker / collector --broker and the
 * fleet benchmark's simulated agents.
 *
 * Topics:
 *   kakuri/v1/agent/<agent id>/cmd	signed command envelopes, as signed
 *   kakuri/v1/group/<group>/cmd	signed group commands, as signed
 *   kakuri/v1/agent/<agent id>/out	what the agent publishes: one "out"
 *					document per message (below)
 *   kakuri/v1/agent/<agent id>/ack	the collector's signed acks
 *
 * An out document is a JSON object {v: 1, agent, kind, identity,
 * envelope}: kind "receipt" or "report", identity the agent's identity
 * certificate (PEM: agent.cert, self-signed or from the CSIRT's CA),
 * envelope the signed DSSE text as the direct channel carries it.  The
 * broker is an untrusted relay: the reader takes the identity only if the
 * id of its key is the topic's agent id (the id is the SHA-256 of the
 * key, so that is a proof), then checks the envelope's signature with it
 * as for a direct connection; a collector in CA mode also checks the
 * certificate against its CA.
 *
 * An ack document, from the collector on an agent's ack topic, is {v: 1,
 * chain, ack}: chain the collector's certificate chain (PEM, its own
 * first) and ack its signed ack as over a direct connection; the agent
 * checks both exactly as it checks what its courier brings back.
 */
#ifndef KK_FLEETWIRE_H
#define KK_FLEETWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "kakuri.h"
#include "sign.h"

#define KK_FLEET_TOPIC_MAX	160	/* bytes of a topic of ours, NUL included */
#define KK_FLEET_OUT_MAX	(KK_ENVELOPE_MAX / 4)	/* one out document */
/* its structure ({ [ , : outside strings) at most: it has five members */
#define KK_FLEET_OUT_VALUES	32
#define KK_FLEET_IDENTITY_MAX	4096	/* the identity certificate's PEM */
#define KK_FLEET_ACK_MAX	(80 * 1024)	/* an ack document */
/*
 * ... of which the chain and the ack at most: what the courier takes
 * (KK_COURIER_CHAIN_MAX, courier.h; KK_ACK_MAX, report.h): the fleet
 * child passes on nothing the parent would take for a broken child
 */
#define KK_FLEET_CHAIN_MAX	(64 * 1024)
#define KK_FLEET_ACK_TEXT_MAX	4096

#define KK_FLEET_KIND_RECEIPT	"receipt"
#define KK_FLEET_KIND_REPORT	"report"
/*
 * An out document's kind, said by its publisher in MQTT 5's content type
 * as well, so that a collector can pass receipts over unread (they are
 * the operators'): a word to skip by, never to trust a document by.
 */
#define KK_FLEET_TYPE_RECEIPT	"application/vnd.kakuri.receipt+json"
#define KK_FLEET_TYPE_REPORT	"application/vnd.kakuri.report+json"

/* "kakuri/v1/agent/<id>/<leaf>": 0, or -ENAMETOOLONG */
int kk_fleet_agent_topic(char *buf, size_t len, const char *id,
    const char *leaf);
/* "kakuri/v1/group/<group>/cmd": 0, or -ENAMETOOLONG */
int kk_fleet_group_topic(char *buf, size_t len, const char *group);
/*
 * The agent id of "kakuri/v1/agent/<id>/<leaf>" into id, if the topic is
 * that exactly (64 lowercase hex digits); else -EINVAL.
 */
int kk_fleet_topic_agent(const char *topic, const char *leaf,
    char id[KK_AGENT_ID_HEX + 1]);

/*
 * An out document of kind for the agent id with its identity PEM around
 * envelope (len bytes): malloc'd text in *out (*outlen bytes), 0 or a
 * negative errno.
 */
int kk_fleet_out_pack(const char *id, const char *kind, const char *identity,
    const void *envelope, size_t len, char **out, size_t *outlen);

/* An out document, opened. */
struct kk_fleet_out {
	char agent[KK_AGENT_ID_HEX + 1];
	char kind[16];
	EVP_PKEY *identity;		/* its id is agent's */
	X509 *cert;			/* the identity certificate it came in */
	uint8_t *envelope;		/* the signed text, as sent */
	size_t len;
};
/*
 * buf (len bytes) from the out topic of agent id: the document's agent
 * must be id and its identity key must have that id.  0, or -EBADMSG
 * with *why.  kk_fleet_out_free in both cases.
 */
int kk_fleet_out_open(const void *buf, size_t len, const char *id,
    struct kk_fleet_out *o, const char **why);
void kk_fleet_out_free(struct kk_fleet_out *o);

/* An ack document of chain (PEM) and ack: malloc'd text, 0 or -errno. */
int kk_fleet_ack_pack(const char *chain, const char *ack, char **out,
    size_t *outlen);
/*
 * An ack document's parts as the courier's answer body: a 4-byte chain
 * length, the chain, the ack (malloc'd in *body).  0, or -EBADMSG (not
 * one, or a chain or ack over their limits).
 */
int kk_fleet_ack_open(const void *buf, size_t len, uint8_t **body,
    size_t *bodylen);
/*
 * The "id" of what a DSSE envelope (len bytes) signs -- a report, the
 * ack of one -- read WITHOUT checking any signature: only to tell which
 * delivery an ack document answers (the courier checks the ack itself).
 * 0, or -EBADMSG if it has none of 1 to KK_ID_HEX lowercase hex digits.
 */
int kk_fleet_envelope_id(const void *env, size_t len,
    char id[KK_ID_HEX + 1]);

#endif
