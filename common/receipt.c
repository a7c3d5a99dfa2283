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

/* the words receipt readers have always said */
static const char *const open_words[KK_OPEN_NFAILS] = {
	[KK_OPEN_NOT_DSSE] = "malformed receipt",
	[KK_OPEN_OTHER_TYPE] = "not a receipt",
	[KK_OPEN_UNSIGNED] = "receipt signature does not verify with the "
	    "agent's identity key",
	[KK_OPEN_TOO_MANY_VALUES] = "too many values in the receipt payload",
	[KK_OPEN_MALFORMED] = "malformed receipt payload",
};

json_t *
kk_receipt_open(const uint8_t *buf, size_t len, EVP_PKEY *identity,
    const char *agent_id, const char **why)
{
	enum kk_open_fail fail;
	json_t *o, *agent, *group;

	o = kk_envelope_open_code(buf, len, KK_PT_RECEIPT, identity, &fail,
	    NULL);
	if (o == NULL) {
		*why = open_words[fail];
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
