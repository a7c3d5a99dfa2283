/*
 * Reports and their acks on the wire between an agent's courier and the
 * CSIRT collector (DESIGN 7), shared by kakurid (courier, ack check),
 * kakurictl collector (report check, ack signing) and kakurictl reports.
 *
 * The courier sends one outbox file, a report envelope signed by the
 * agent's identity key, as one frame; the collector answers with one
 * frame: an ack envelope signed by the collector's key (the Ed25519 key
 * of its TLS certificate) over {v, agent, id, sha256}, sha256 being that
 * of the report bytes as sent, or {"error": word, "message": text}.
 */
#ifndef KK_REPORT_H
#define KK_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "sign.h"

#define KK_PT_ACK	"application/vnd.kakuri.ack.v1+json"
/* a report as the collector takes it (a self-report with attachments) */
#define KK_REPORT_MAX		(2 * 1024 * 1024)
#define KK_ACK_MAX		4096

/*
 * The payload of a report envelope whose signature verifies with the
 * agent's identity key and which names that agent (agent_id), with a
 * 32-hex id, a seq and a DESIGN 7 type.  NULL and *why otherwise.
 */
json_t *kk_report_open(const uint8_t *buf, size_t len, EVP_PKEY *identity,
    const char *agent_id, const char **why);
/* is type one of DESIGN 7's report types? */
bool kk_report_type_ok(const char *type);
/* is c one of a self-report's categories (popup, mail, file, web, device,
 * behaviour, other)? */
bool kk_report_category_ok(const char *c);
/* The ack of (agent, id, sha256), signed by key, as envelope text. */
char *kk_ack_make(EVP_PKEY *key, const char *agent, const char *id,
    const char *sha256);
/*
 * 0 if buf is an ack signed by collector of exactly (agent, id, sha256);
 * -EBADMSG and *why if not.
 */
int kk_ack_check(const uint8_t *buf, size_t len, EVP_PKEY *collector,
    const char *agent, const char *id, const char *sha256, const char **why);
/*
 * A collector's identity: the Ed25519 key of its TLS certificate, and its
 * id (as an agent id: SHA-256 of the raw key).  With ca, the certificate
 * must chain to it (untrusted: the intermediates it came with) and, with
 * at (the collector's "ADDR:PORT"), carry ADDR as an IP address name;
 * at NULL only where a pinned id decides, which the caller checks.
 */
int kk_collector_identity(X509 *leaf, STACK_OF(X509) *untrusted,
    X509_STORE *ca, const char *at, EVP_PKEY **key,
    char id[KK_AGENT_ID_HEX + 1], const char **why);

#endif
