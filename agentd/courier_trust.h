/*
 * Whom the courier's acks must come from (courier.c): the collector's
 * key, taken from the certificate chain the child passed on with an ack
 * and checked against report.ca or report.collector_id here, in the
 * parent -- never in the child that talked to the network.
 */
#ifndef KD_COURIER_TRUST_H
#define KD_COURIER_TRUST_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

struct kk_policy;

struct kd_courier_trust {
	X509_STORE *ca;		/* report.ca, or NULL: pinned */
	/* the collector's key as the last chain showed it, checked */
	uint8_t *chain;
	size_t chainlen;
	EVP_PKEY *key;
};

/* report.ca (re)loaded, or none: 0, or -EINVAL and why. */
int kd_courier_trust_load(struct kd_courier_trust *t,
    const struct kk_policy *policy, char *why, size_t whylen);
/* A new policy may pin another collector: nothing checked is kept. */
void kd_courier_trust_forget(struct kd_courier_trust *t);
/*
 * The collector's key of the chain pem (len bytes) of an ack, checked
 * against policy: 0 and *key (held), or a negative errno and why.  The
 * acks of a batch, and of a kept connection, come with the same chain,
 * which is checked once.
 */
int kd_courier_trust_key(struct kd_courier_trust *t,
    const struct kk_policy *policy, const uint8_t *pem, size_t len,
    EVP_PKEY **key, const char **why);
void kd_courier_trust_free(struct kd_courier_trust *t);

#endif
