/*
 * The outbox's signing side (outbox.h): a report payload signed by the
 * agent's identity key as a DSSE envelope, and an envelope opened again
 * with it.  Apart from outbox.c because kakurid-restore links no
 * libcrypto: it writes its messages unsigned and kakurid signs them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "courier.h"
#include "daemon.h"
#include "identity.h"
#include "outbox.h"
#include "sign.h"

static int
seal(struct kd *d, const char *payload, size_t len, char **out,
    size_t *outlen)
{
	EVP_PKEY *sk;
	int err;

	*out = NULL;
	if ((sk = kd_agent_signer(d)) == NULL)
		return d->agent_seed == NULL ? -ENOKEY : -ENOMEM;
	if ((err = kk_envelope_seal(KK_PT_REPORT, (const uint8_t *)payload,
	    len, d->agent_id, sk, out)) == 0)
		*outlen = strlen(*out);
	EVP_PKEY_free(sk);
	return err;
}

/*
 * The payload of env if the agent key signed it; without the key loaded
 * (kakurid before --init) a well-formed envelope is taken unverified:
 * nothing is sent unverified, the courier needs the key too.
 */
static int
open_env(struct kd *d, const char *buf, size_t len, json_t **out)
{
	struct kk_envelope env;
	json_error_t jerr;
	size_t i;
	int err, v = -EBADMSG;

	*out = NULL;
	/* out of memory is no verdict on the file: -ENOMEM, read it later */
	if ((err = kk_envelope_parse((const uint8_t *)buf, len, &env)) < 0)
		return err == -E2BIG || err == -ENOMEM ? err : -EBADMSG;
	err = -EBADMSG;
	if (strcmp(env.type, KK_PT_REPORT) != 0)
		goto out;
	if (d->agent_key != NULL) {
		for (i = 0; i < env.nsigs && v != 0 && v != -ENOMEM; i++)
			v = kk_dsse_verify_one(&env, i, d->agent_key);
		if (v != 0) {
			err = v == -ENOMEM ? v : -EBADMSG;
			goto out;
		}
	}
	*out = json_loadb((const char *)env.payload, env.payload_len,
	    JSON_REJECT_DUPLICATES, &jerr);
	if (*out != NULL)
		err = 0;
	else if (json_error_code(&jerr) == json_error_out_of_memory)
		err = -ENOMEM;
out:
	kk_envelope_free(&env);
	return err;
}

const struct kd_outbox_seal kd_outbox_sealer = {
	.seal = seal,
	.open = open_env,
	.queued = kd_courier_kick,
};
