/* A self-report signed as an agent signs one (fakereport.h). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "kakuri.h"
#include "sign.h"
#include "wire.h"
#include "fakereport.h"

char *
fr_signed_report(EVP_PKEY *key, const char *agent, int seq, const char *host,
    const char *what, char id[33])
{
	struct kk_envelope env;
	unsigned char rnd[16];
	char when[40], *payload, *out = NULL;
	json_t *o;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return NULL;
	kk_hex(rnd, sizeof(rnd), id);
	kk_rfc3339(time(NULL), when, sizeof(when));
	o = json_pack("{s:i, s:s, s:s, s:i, s:s, s:s, s:{s:s}, s:{s:s, s:s}}",
	    KW_V, 1, KW_ID, id, KW_AGENT, agent, KW_SEQ, seq, KW_TIME, when,
	    KW_TYPE, "self-report", KW_HOST, KW_HOSTNAME, host,
	    KW_BODY, KW_CATEGORY, "other", KW_WHAT, what);
	payload = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (payload != NULL && kk_envelope_init(&env, KK_PT_REPORT,
	    (const uint8_t *)payload, strlen(payload)) == 0) {
		if (kk_envelope_sign(&env, agent, key) == 0)
			out = kk_envelope_encode(&env);
		kk_envelope_free(&env);
	}
	free(payload);
	return out;
}
