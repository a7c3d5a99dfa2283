/*
 * The agent's identity and the CSIRT's trust (identity.c).
 */
#ifndef KD_IDENTITY_H
#define KD_IDENTITY_H

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

#endif
