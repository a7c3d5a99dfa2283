/*
 * Receipts as the operator checks them (DESIGN 4): the agent's root
 * parent signs every receipt with the identity key, so a receipt counts
 * only if that key signed it and it names that agent.  The key the TLS
 * connection was made with is the network child's and proves nothing
 * about what the parent did.
 */
#include <string.h>

#include <jansson.h>

#include "sign.h"
#include "wire.h"

json_t *
kk_receipt_open(const uint8_t *buf, size_t len, EVP_PKEY *identity,
    const char *agent_id, const char **why)
{
	struct kk_envelope env;
	json_t *o = NULL, *agent;
	size_t i;

	if (kk_envelope_parse(buf, len, &env) < 0) {
		*why = "malformed receipt";
		return NULL;
	}
	if (strcmp(env.type, KK_PT_RECEIPT) != 0) {
		*why = "not a receipt";
		goto out;
	}
	for (i = 0; i < env.nsigs; i++)
		if (kk_dsse_verify_one(&env, i, identity) == 0)
			break;
	if (i == env.nsigs) {
		*why = "receipt signature does not verify with the agent's identity key";
		goto out;
	}
	o = json_loadb((const char *)env.payload, env.payload_len,
	    JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o)) {
		*why = "malformed receipt payload";
		goto fail;
	}
	agent = json_object_get(o, KW_AGENT);
	if (!json_is_string(agent) || strcmp(json_string_value(agent),
	    agent_id) != 0) {
		*why = "receipt names another agent";
		goto fail;
	}
	goto out;
fail:
	json_decref(o);
	o = NULL;
out:
	kk_envelope_free(&env);
	return o;
}
