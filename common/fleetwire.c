/*
 * The fleet transport's topics and out documents (fleetwire.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "fleetwire.h"
#include "jsonutil.h"
#include "wire.h"

#define TOPIC_ROOT	"kakuri/v1/"

static int
topic(char *buf, size_t len, const char *kind, const char *name,
    const char *leaf)
{
	int n = snprintf(buf, len, TOPIC_ROOT "%s/%s/%s", kind, name, leaf);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int
kk_fleet_agent_topic(char *buf, size_t len, const char *id, const char *leaf)
{
	return topic(buf, len, "agent", id, leaf);
}

int
kk_fleet_group_topic(char *buf, size_t len, const char *group)
{
	return topic(buf, len, "group", group, "cmd");
}

int
kk_fleet_topic_agent(const char *t, const char *leaf,
    char id[KK_AGENT_ID_HEX + 1])
{
	static const char head[] = TOPIC_ROOT "agent/";
	size_t hl = sizeof(head) - 1;

	if (strncmp(t, head, hl) != 0 || !kk_is_hex(t + hl, KK_AGENT_ID_HEX,
	    KK_AGENT_ID_HEX) || t[hl + KK_AGENT_ID_HEX] != '/' ||
	    strcmp(t + hl + KK_AGENT_ID_HEX + 1, leaf) != 0)
		return -EINVAL;
	memcpy(id, t + hl, KK_AGENT_ID_HEX);
	id[KK_AGENT_ID_HEX] = '\0';
	return 0;
}

int
kk_fleet_out_pack(const char *id, const char *kind, const char *identity,
    const void *envelope, size_t len, char **out, size_t *outlen)
{
	json_t *o;
	int r = -ENOMEM;

	*out = NULL;
	o = json_pack("{s:i, s:s, s:s, s:s, s:s%}", KW_V, 1, KW_AGENT, id,
	    KW_KIND, kind, KW_IDENTITY, identity, KW_ENVELOPE, envelope, len);
	if (o == NULL)
		return -EINVAL;	/* not UTF-8: not an envelope of ours */
	if ((*out = json_dumps(o, JSON_COMPACT)) != NULL) {
		*outlen = strlen(*out);
		r = *outlen <= KK_FLEET_OUT_MAX ? 0 : -E2BIG;
	}
	if (r < 0) {
		free(*out);
		*out = NULL;
	}
	json_decref(o);
	return r;
}

/* The identity certificate's key, if its id is id; NULL with *why if not. */
static EVP_PKEY *
identity_of(const char *pem, const char *id, X509 **cert, const char **why)
{
	char have[KK_AGENT_ID_HEX + 1];
	EVP_PKEY *k;
	BIO *mem;

	*why = "identity is not a PEM certificate";
	if (strlen(pem) >= KK_FLEET_IDENTITY_MAX ||
	    (mem = BIO_new_mem_buf(pem, -1)) == NULL)
		return NULL;
	*cert = PEM_read_bio_X509(mem, NULL, NULL, NULL);
	BIO_free(mem);
	if (*cert == NULL)
		return NULL;
	k = X509_get0_pubkey(*cert);
	if (k == NULL || EVP_PKEY_id(k) != EVP_PKEY_ED25519 ||
	    kk_key_id(k, have) < 0) {
		*why = "identity is not an Ed25519 key's certificate";
		return NULL;
	}
	if (strcmp(have, id) != 0) {
		*why = "identity is another agent's key than the topic names";
		return NULL;
	}
	if (EVP_PKEY_up_ref(k) != 1)
		return NULL;
	return k;
}

int
kk_fleet_out_open(const void *buf, size_t len, const char *id,
    struct kk_fleet_out *o, const char **why)
{
	const char *agent, *kind, *identity, *env;
	size_t envlen;
	json_t *doc;
	int v, r = -EBADMSG;

	memset(o, 0, sizeof(*o));
	*why = "not an out document";
	if (len > KK_FLEET_OUT_MAX) {
		*why = "out document too large";
		return r;
	}
	/*
	 * Anyone on the broker may publish it: text of small values costs
	 * jansson 40 to 80 times its size before anything is checked.  Five
	 * members, the envelope one string: a few values, however long.
	 */
	if (!kk_json_few_values(buf, len, KK_FLEET_OUT_VALUES)) {
		*why = "out document of too many values";
		return r;
	}
	doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	if (json_unpack(doc, "{s:i, s:s, s:s, s:s, s:s%!}", KW_V, &v,
	    KW_AGENT, &agent, KW_KIND, &kind, KW_IDENTITY, &identity,
	    KW_ENVELOPE, &env, &envlen) != 0 || v != 1)
		goto out;
	if (strcmp(agent, id) != 0) {
		*why = "out document names another agent than its topic";
		goto out;
	}
	if (strcmp(kind, KK_FLEET_KIND_RECEIPT) != 0 &&
	    strcmp(kind, KK_FLEET_KIND_REPORT) != 0) {
		*why = "out document of an unknown kind";
		goto out;
	}
	if ((o->identity = identity_of(identity, id, &o->cert, why)) == NULL)
		goto out;
	if ((o->envelope = malloc(envlen ? envlen : 1)) == NULL) {
		*why = "out of memory";
		r = -ENOMEM;
		goto out;
	}
	memcpy(o->envelope, env, envlen);
	o->len = envlen;
	snprintf(o->agent, sizeof(o->agent), "%s", agent);
	snprintf(o->kind, sizeof(o->kind), "%s", kind);
	r = 0;
out:
	json_decref(doc);
	return r;
}

void
kk_fleet_out_free(struct kk_fleet_out *o)
{
	EVP_PKEY_free(o->identity);
	X509_free(o->cert);
	free(o->envelope);
	memset(o, 0, sizeof(*o));
}

int
kk_fleet_ack_pack(const char *chain, const char *ack, char **out,
    size_t *outlen)
{
	json_t *o = json_pack("{s:i, s:s, s:s}", KW_V, 1, KW_CHAIN, chain,
	    KW_ACK, ack);

	*out = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (*out == NULL)
		return -ENOMEM;
	*outlen = strlen(*out);
	return 0;
}

int
kk_fleet_ack_open(const void *buf, size_t len, uint8_t **body,
    size_t *bodylen)
{
	const char *chain, *ack;
	size_t cl, al;
	uint32_t c32;
	json_t *doc;
	int v, r = -EBADMSG;

	*body = NULL;
	if (len > KK_FLEET_ACK_MAX)
		return r;
	doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
	if (json_unpack(doc, "{s:i, s:s%, s:s%!}", KW_V, &v, KW_CHAIN, &chain,
	    &cl, KW_ACK, &ack, &al) != 0 || v != 1 ||
	    cl > KK_FLEET_CHAIN_MAX || al > KK_FLEET_ACK_TEXT_MAX)
		goto out;
	if ((*body = malloc(4 + cl + al)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	c32 = (uint32_t)cl;
	memcpy(*body, &c32, 4);
	memcpy(*body + 4, chain, cl);
	memcpy(*body + 4 + cl, ack, al);
	*bodylen = 4 + cl + al;
	r = 0;
out:
	json_decref(doc);
	return r;
}

int
kk_fleet_envelope_id(const void *env, size_t len, char id[KK_ID_HEX + 1])
{
	struct kk_envelope e;
	const char *s;
	size_t n;
	json_t *p;
	int r = -EBADMSG;

	id[0] = '\0';
	if (kk_envelope_parse(env, len, &e) < 0)
		return r;
	p = json_loadb((const char *)e.payload, e.payload_len, 0, NULL);
	s = json_string_value(json_object_get(p, KW_ID));
	n = s != NULL ? strlen(s) : 0;
	if (n > 0 && n <= KK_ID_HEX && kk_is_hex(s, n, n)) {
		memcpy(id, s, n + 1);
		r = 0;
	}
	json_decref(p);
	kk_envelope_free(&e);
	return r;
}
