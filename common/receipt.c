/*
 * Receipts as the operator checks them (DESIGN 4): the agent's root
 * parent signs every receipt with the identity key, so a receipt counts
 * only if that key signed it and it names that agent.  The key the TLS
 * connection was made with is the network child's and proves nothing
 * about what the parent did.  A receipt for a group command (DESIGN 9)
 * names the agent that ran it all the same, and the group besides: the
 * agent is who answered, the group why it took the command.
 */
#include <string.h>

#include <jansson.h>

#include "sign.h"
#include "wire.h"

json_t *
kk_receipt_open(const uint8_t *buf, size_t len, EVP_PKEY *identity,
    const char *agent_id, const char **why)
{
	json_t *o, *agent, *group;

	o = kk_envelope_open(buf, len, KK_PT_RECEIPT, identity, why);
	if (o == NULL) {
		/* the words receipt readers have always said */
		*why = strcmp(*why, "wrong payload type") == 0 ? "not a receipt" :
		    strcmp(*why, "the signature does not verify") == 0 ?
		    "receipt signature does not verify with the agent's "
		    "identity key" : strcmp(*why, "malformed payload") == 0 ?
		    "malformed receipt payload" :
		    strcmp(*why, "too many values in the payload") == 0 ?
		    "too many values in the receipt payload" :
		    "malformed receipt";
		return NULL;
	}
	agent = json_object_get(o, KW_AGENT);
	if (!json_is_string(agent) || strcmp(json_string_value(agent),
	    agent_id) != 0) {
		*why = "receipt names another agent";
		json_decref(o);
		return NULL;
	}
	group = json_object_get(o, KW_GROUP);
	if (group != NULL && (!json_is_string(group) ||
	    kk_group_name_problem(json_string_value(group)) != NULL)) {
		*why = "malformed receipt";
		json_decref(o);
		return NULL;
	}
	return o;
}
