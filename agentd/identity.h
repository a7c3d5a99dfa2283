/*
 * The agent's identity and the CSIRT's trust (identity.c).
 */
#ifndef KD_IDENTITY_H
#define KD_IDENTITY_H

#include <openssl/evp.h>

struct kd;
struct kk_policy;

/*
 * kakurid --init: the identity key and certificate, the network child's
 * TLS key and certificate, each made where missing; prints the agent id.
 */
int kd_identity_init(const struct kk_policy *p);
/*
 * The identity key, trust.conf, the replay store; d->remote_ready once
 * all are there, d->remote_err says why not.
 */
int kd_identity_load(struct kd *d);
void kd_identity_free(struct kd *d);
/*
 * k's private half into a seed page of d, its public half as
 * d->agent_key; k is freed either way (OpenSSL clears what it held).
 */
int kd_identity_keep(struct kd *d, EVP_PKEY *k);
/*
 * The identity key to sign with, made for this one use from where it is
 * kept: the caller signs, then EVP_PKEY_free()s it (which clears it).
 * NULL when no key is loaded (or out of memory).
 */
EVP_PKEY *kd_agent_signer(struct kd *d);

#endif
