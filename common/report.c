/*
 * Reports and acks between the courier and the collector (report.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "kakuri.h"
#include "report.h"
#include "tls.h"
#include "wire.h"

static const char *const categories[] = {
	"popup", "mail", "file", "web", "device", "behaviour", "other",
};

bool
kk_report_type_ok(const char *type)
{
	enum kk_report_type t;

	return kk_report_type_parse(type, &t) == 0;
}

bool
kk_report_category_ok(const char *c)
{
	return c != NULL &&
	    kk_name_find(categories, nitems(categories), c) >= 0;
}

/* The payload of a signed envelope of at most max bytes. */
static json_t *
open_signed(const uint8_t *buf, size_t len, size_t max, const char *type,
    EVP_PKEY *key, const char **why)
{
	if (len > max) {
		*why = "too large";
		return NULL;
	}
	return kk_envelope_open(buf, len, type, key, why);
}

static bool
string_is(json_t *o, const char *key, const char *want)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL && strcmp(s, want) == 0;
}

static bool
hex_member(json_t *o, const char *key, size_t n)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) && kk_is_hex(json_string_value(v),
	    json_string_length(v), n);
}

json_t *
kk_report_open(const uint8_t *buf, size_t len, EVP_PKEY *identity,
    const char *agent_id, const char **why)
{
	json_t *o, *seq;

	o = open_signed(buf, len, KK_REPORT_MAX, KK_PT_REPORT, identity, why);
	if (o == NULL)
		return NULL;
	seq = json_object_get(o, KW_SEQ);
	if (json_integer_value(json_object_get(o, KW_V)) != 1 ||
	    !json_is_integer(json_object_get(o, KW_V))) {
		*why = "unknown report version";
		goto fail;
	}
	if (!string_is(o, KW_AGENT, agent_id)) {
		*why = "the report names another agent";
		goto fail;
	}
	if (!hex_member(o, KW_ID, KK_EPISODE_HEX) || !json_is_integer(seq) ||
	    json_integer_value(seq) < 1 ||
	    !kk_report_type_ok(json_string_value(json_object_get(o, KW_TYPE))) ||
	    !json_is_string(json_object_get(o, KW_TIME)) ||
	    !json_is_object(json_object_get(o, KW_BODY))) {
		*why = "the report lacks its id, seq, type, time or body";
		goto fail;
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

char *
kk_ack_make(EVP_PKEY *key, const char *agent, const char *id,
    const char *sha256)
{
	char *payload = NULL, *out = NULL, keyid[KK_AGENT_ID_HEX + 1];
	json_t *o;

	o = json_pack("{s:i, s:s, s:s, s:s}", KW_V, 1, KW_AGENT, agent, KW_ID,
	    id, KW_SHA256, sha256);
	if (o == NULL || (payload = json_dumps(o, JSON_COMPACT)) == NULL ||
	    kk_key_id(key, keyid) < 0)
		goto out;
	/* on failure out stays NULL */
	(void)kk_envelope_seal(KK_PT_ACK, (const uint8_t *)payload,
	    strlen(payload), keyid, key, &out);
out:
	free(payload);
	json_decref(o);
	return out;
}

int
kk_ack_check(const uint8_t *buf, size_t len, EVP_PKEY *collector,
    const char *agent, const char *id, const char *sha256, const char **why)
{
	json_t *o;
	int r = -EBADMSG;

	o = open_signed(buf, len, KK_ACK_MAX, KK_PT_ACK, collector, why);
	if (o == NULL)
		return -EBADMSG;
	if (json_integer_value(json_object_get(o, KW_V)) != 1 ||
	    !string_is(o, KW_AGENT, agent) || !string_is(o, KW_ID, id) ||
	    !string_is(o, KW_SHA256, sha256))
		*why = "the ack is not of this report";
	else
		r = 0;
	json_decref(o);
	return r;
}

int
kk_collector_identity(X509 *leaf, STACK_OF(X509) *untrusted, X509_STORE *ca,
    const char *at, EVP_PKEY **key, char id[KK_AGENT_ID_HEX + 1],
    const char **why)
{
	const char *err;
	EVP_PKEY *k = NULL;
	struct kk_addr addr;
	uint16_t port;
	int r = -EKEYREJECTED;

	*key = NULL;
	id[0] = '\0';
	if (leaf == NULL || (k = X509_get0_pubkey(leaf)) == NULL ||
	    kk_key_id(k, id) < 0) {
		*why = "the collector's certificate carries no Ed25519 key";
		goto out;
	}
	if (ca != NULL && (r = kk_tls_verify(ca, leaf, untrusted,
	    &err)) < 0) {
		*why = r == -ENOMEM ? "out of memory" : "the collector's "
		    "certificate does not chain to report.ca";
		goto out;
	}
	/*
	 * A CA certifies every agent too: what makes its certificate the
	 * collector's is the collector's address in it (RFC 6125, as the
	 * broker's), or else a pin.
	 */
	r = -EKEYREJECTED;
	if (ca != NULL && at != NULL && (kk_endpoint_parse(at, &addr,
	    &port) < 0 || X509_check_ip(leaf, (const unsigned char *)&addr.a,
	    addr.family == AF_INET ? sizeof(addr.a.v4) : sizeof(addr.a.v6),
	    0) != 1)) {
		*why = "the collector's certificate does not name its address "
		    "(report.collector)";
		goto out;
	}
	r = 0;
out:
	return kk_key_identity_end(r, k, key, id);
}
