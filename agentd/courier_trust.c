/*
 * Whom the courier's acks must come from (courier_trust.h): report.ca,
 * report.collector_id, and the chain of the last ack, checked once.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "courier_trust.h"
#include "kakuri.h"
#include "report.h"
#include "sign.h"

/*
 * The collector's identity from the chain the child passed on, checked
 * against report.ca or report.collector_id here.
 */
static int
collector_key(const struct kd_courier_trust *t, const struct kk_policy *policy,
    const uint8_t *pem, size_t len, EVP_PKEY **key, const char **why)
{
	STACK_OF(X509) *chain = NULL;
	char id[KK_AGENT_ID_HEX + 1];
	X509 *x;
	BIO *mem;
	bool pin;
	int r = -EKEYREJECTED;

	*why = "the collector's certificate chain is unreadable";
	if ((mem = BIO_new_mem_buf(pem, (int)len)) == NULL ||
	    (chain = sk_X509_new_null()) == NULL)
		goto out;
	while (sk_X509_num(chain) < 8 &&
	    (x = PEM_read_bio_X509(mem, NULL, NULL, NULL)) != NULL)
		if (sk_X509_push(chain, x) <= 0) {
			X509_free(x);
			goto out;
		}
	if (sk_X509_num(chain) < 1)
		goto out;
	/*
	 * Nothing to check it against (report.ca unreadable, or gone with a
	 * reload): no ack counts, fail closed, a pin or not.
	 */
	if (t->ca == NULL && (policy->report_ca[0] != '\0' ||
	    policy->collector_id[0] == '\0')) {
		*why = "report.ca not loaded and no report.collector_id, or "
		    "report.ca unreadable: the collector's ack cannot be "
		    "checked";
		goto out;
	}
	/* through the broker no address names it: only a pin can (parse.c) */
	pin = policy->collector_id[0] != '\0';
	if (!pin && policy->collector[0] == '\0') {
		*why = "acks through the broker need report.collector_id";
		goto out;
	}
	if ((r = kk_collector_identity(sk_X509_value(chain, 0), chain,
	    t->ca, pin ? NULL : policy->collector, key, id,
	    why)) < 0)
		goto out;
	if (policy->collector_id[0] != '\0' &&
	    strcmp(id, policy->collector_id) != 0) {
		*why = "the collector's key is not report.collector_id";
		EVP_PKEY_free(*key);
		*key = NULL;
		r = -EKEYREJECTED;
	}
out:
	sk_X509_pop_free(chain, X509_free);
	BIO_free(mem);
	ERR_clear_error();
	return r;
}

void
kd_courier_trust_forget(struct kd_courier_trust *t)
{
	EVP_PKEY_free(t->key);
	t->key = NULL;
	free(t->chain);
	t->chain = NULL;
	t->chainlen = 0;
}

int
kd_courier_trust_key(struct kd_courier_trust *t,
    const struct kk_policy *policy, const uint8_t *pem, size_t len,
    EVP_PKEY **key, const char **why)
{
	int r;

	if (t->key != NULL && len == t->chainlen &&
	    memcmp(pem, t->chain, len) == 0)
		return kk_key_hold(t->key, key);
	if ((r = collector_key(t, policy, pem, len, key, why)) < 0)
		return r;
	EVP_PKEY_free(t->key);
	free(t->chain);
	t->key = NULL;
	if ((t->chain = malloc(len)) != NULL && EVP_PKEY_up_ref(*key) == 1) {
		memcpy(t->chain, pem, len);
		t->chainlen = len;
		t->key = *key;
	}
	return 0;
}

int
kd_courier_trust_load(struct kd_courier_trust *t,
    const struct kk_policy *policy, char *why, size_t whylen)
{
	X509_STORE_free(t->ca);
	t->ca = NULL;
	if (policy->report_ca[0] == '\0')
		return 0;
	if ((t->ca = X509_STORE_new()) == NULL ||
	    X509_STORE_load_file(t->ca, policy->report_ca) != 1) {
		snprintf(why, whylen, "report.ca %.200s: not a readable PEM "
		    "CA file", policy->report_ca);
		X509_STORE_free(t->ca);
		t->ca = NULL;
		ERR_clear_error();
		return -EINVAL;
	}
	return 0;
}

void
kd_courier_trust_free(struct kd_courier_trust *t)
{
	kd_courier_trust_forget(t);
	X509_STORE_free(t->ca);
	t->ca = NULL;
}
