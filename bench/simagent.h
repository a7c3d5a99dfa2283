/*
 * fleetsim's simulated agent (issue 13): what a command does to one,
 * shared by its modes (the broker's agents, direct mutual TLS).  A command
 * goes through kd_signed_check, kakurid's own check (signature against the
 * trust file, addressee and group, time window, replay), and is answered
 * with a receipt signed by the agent's identity key, whose payload is the
 * one agentd/run.c's sign_receipt builds.  Nothing touches nftables.
 */
#ifndef KK_SIMAGENT_H
#define KK_SIMAGENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "kakuri.h"
#include "sign.h"

#define SIM_REPLAY_MAX	64	/* command ids each agent remembers */

struct simagent {
	EVP_PKEY *key;		/* its identity key */
	char id[KK_AGENT_ID_HEX + 1];
	bool isolated;
	char episode[KK_EPISODE_HEX + 1];
	char seen[SIM_REPLAY_MAX][KK_ID_HEX + 1];	/* executed command ids */
	unsigned nseen;
};

/* What every simulated agent of a process checks against, and the tally. */
struct simcheck {
	struct kk_trust trust;
	struct kk_grouplist groups;	/* the one group they are all in */
	unsigned done, refused;
	json_t *reasons;		/* refusal word -> how many */
};

/* trust file and group name: 0, or -1 with err */
int simcheck_init(struct simcheck *sc, const char *trust, const char *group,
    char *err, size_t errlen);
void simcheck_free(struct simcheck *sc);
/* " word=N" for each refusal reason, to f */
void simcheck_print_reasons(const struct simcheck *sc, FILE *f);

/* A fresh identity key and its id: 0 or -1. */
int simagent_init(struct simagent *a);
/*
 * The envelope buf as agent a receives it: checked, executed when it
 * passes, counted; the signed receipt's envelope text (free), or NULL.
 */
char *simagent_answer(struct simcheck *sc, struct simagent *a,
    const void *buf, size_t len);

/* CPU seconds this process used, user and system */
double sim_cpu_s(void);
/* the soft limit of file descriptors as high as it goes */
void sim_raise_nofile(void);

/* fleetsim direct (fleetdirect.c) */
int direct_main(int argc, char **argv, volatile sig_atomic_t *stop);

#endif
