/*
 * fakereceipt IDKEY IDCERT COMMAND COUNT RESULT: an agent's root (or a
 * hostile agent) with its identity key IDKEY, answering through the fleet
 * broker: COUNT out documents (DESIGN 9) on standard output, one a line
 * (for mosquitto_pub -l), each a receipt signed with IDKEY, in an out
 * document with the identity certificate IDCERT, for command id COMMAND
 * ("-": a refusal that names no command), saying RESULT, each with a
 * reason of its own ("forged 1", "forged 2", ...): COUNT distinct
 * receipts that all verify.  Exit 0, or 1 with the reason on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fleetwire.h"
#include "kakuri.h"
#include "sign.h"
#include "wire.h"

int
main(int argc, char **argv)
{
	EVP_PKEY *key = NULL;
	char agent[KK_AGENT_ID_HEX + 1], reason[32], *cert = NULL;
	char *payload = NULL, *env = NULL, *out = NULL;
	size_t certlen, outlen;
	json_t *p = NULL;
	int count, i, ret = 1;

	if (argc != 6) {
		fprintf(stderr, "usage: fakereceipt IDKEY IDCERT COMMAND|- "
		    "COUNT RESULT\n");
		return 2;
	}
	count = atoi(argv[4]);
	if (kk_key_load_private(argv[1], &key) < 0 ||
	    kk_key_id(key, agent) < 0 ||
	    kk_read_file(argv[2], 64 * 1024, &cert, &certlen) < 0) {
		fprintf(stderr, "fakereceipt: cannot read %s or %s\n", argv[1],
		    argv[2]);
		goto out;
	}
	for (i = 0; i < count; i++) {
		snprintf(reason, sizeof(reason), "forged %d", i + 1);
		p = json_pack("{s:i, s:s, s:s, s:s, s:s}", KW_V, 1, KW_AGENT,
		    agent, KW_ACTION, "status", KW_RESULT, argv[5], KW_REASON,
		    reason);
		if (p == NULL || (strcmp(argv[3], "-") != 0 &&
		    json_object_set_new(p, KW_COMMAND,
		    json_string(argv[3])) < 0) ||
		    (payload = json_dumps(p, JSON_COMPACT)) == NULL ||
		    kk_envelope_seal(KK_PT_RECEIPT, (const uint8_t *)payload,
		    strlen(payload), agent, key, &env) < 0 ||
		    kk_fleet_out_pack(agent, KK_FLEET_KIND_RECEIPT, cert, env,
		    strlen(env), &out, &outlen) < 0) {
			fprintf(stderr, "fakereceipt: cannot make receipt %d\n",
			    i + 1);
			goto out;
		}
		printf("%s\n", out);
		json_decref(p);
		free(payload);
		free(env);
		free(out);
		p = NULL;
		payload = env = out = NULL;
	}
	ret = fflush(stdout) == 0 ? 0 : 1;
out:
	json_decref(p);
	free(payload);
	free(env);
	free(out);
	free(cert);
	EVP_PKEY_free(key);
	return ret;
}
