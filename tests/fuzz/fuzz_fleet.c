/*
 * libFuzzer: what a hostile broker can put on the topics kakuri reads
 * (common/fleetwire.c): out documents on an agent's out topic (the
 * operator's and the collector's side), ack documents on its ack topic
 * (the agent's side), the id the fleet child reads from an ack's
 * envelope, unverified, to match it to a delivery, and topic names.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleetwire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char id[] =
	    "aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11";
	char agent[KK_AGENT_ID_HEX + 1], rid[KK_ID_HEX + 1], *topic;
	struct kk_fleet_out o;
	const char *why;
	uint8_t *body;
	size_t blen;

	if (kk_fleet_out_open(data, size, id, &o, &why) == 0 &&
	    (o.identity == NULL || o.envelope == NULL))
		abort();
	kk_fleet_out_free(&o);
	if (kk_fleet_ack_open(data, size, &body, &blen) == 0) {
		if (blen < 4)
			abort();
		free(body);
	}
	/* an id, when there is one: 1 to KK_ID_HEX lowercase hex digits */
	if (kk_fleet_envelope_id(data, size, rid) == 0 &&
	    (rid[0] == '\0' || strlen(rid) > KK_ID_HEX ||
	    strspn(rid, "0123456789abcdef") != strlen(rid)))
		abort();
	if ((topic = malloc(size + 1)) != NULL) {
		memcpy(topic, data, size);
		topic[size] = '\0';
		if (kk_fleet_topic_agent(topic, "out", agent) == 0 &&
		    strlen(agent) != KK_AGENT_ID_HEX)
			abort();
		free(topic);
	}
	return 0;
}
