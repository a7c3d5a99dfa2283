/* An agent's credentials and a signed self-report (fakereport.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "kakuri.h"
#include "sign.h"
#include "tls.h"
#include "wire.h"
#include "fakereport.h"

int
fr_agent_load(const char *chain, const char *tlskey, const char *idkey,
    SSL_CTX **tls, EVP_PKEY **key, char *agent, char *err, size_t errlen)
{
	*key = NULL;
	*tls = kk_tls_client_ctx(chain, tlskey, NULL, err, errlen);
	if (*tls == NULL)
		return -1;
	if (kk_key_load_private(idkey, key) < 0 || kk_key_id(*key, agent) < 0) {
		snprintf(err, errlen, "identity key");
		EVP_PKEY_free(*key);
		*key = NULL;
		SSL_CTX_free(*tls);
		*tls = NULL;
		return -1;
	}
	return 0;
}

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
