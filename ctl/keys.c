/*
 * Keys: an operator's signing key pair (keygen), and the agent id of a
 * key or certificate (agent-id), to pin an agent or to name it in a
 * command.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "kakuri.h"
#include "commands.h"
#include "output.h"
#include "sign.h"

int
cmd_keygen(struct ctl *c, int argc, char **argv)
{
	char priv[PATH_MAX], pub[PATH_MAX], id[KK_AGENT_ID_HEX + 1];
	EVP_PKEY *k;
	int r;

	if (argc != 2)
		return EX_USAGE;
	if (snprintf(priv, sizeof(priv), "%s.key", argv[1]) >= (int)sizeof(priv) ||
	    snprintf(pub, sizeof(pub), "%s.pub", argv[1]) >= (int)sizeof(pub))
		return EX_USAGE;
	k = kk_key_generate();
	if (k == NULL) {
		fail_line("key generation failed");
		return EX_FAILED;
	}
	if ((r = kk_key_save_private(k, priv)) < 0) {
		fail_line("%s: %s", priv, strerror(-r));
		EVP_PKEY_free(k);
		return EX_FAILED;
	}
	if ((r = kk_key_save_public(k, pub)) < 0) {
		fail_line("%s: %s", pub, strerror(-r));
		EVP_PKEY_free(k);
		return EX_FAILED;
	}
	kk_key_id(k, id);
	EVP_PKEY_free(k);
	printf("%s %s (key id %s)\n", priv, pub, id);
	return EX_DONE;
}

int
cmd_agent_id(struct ctl *c, int argc, char **argv)
{
	char id[KK_AGENT_ID_HEX + 1];
	EVP_PKEY *k = NULL;
	int r;

	if (argc != 2)
		return EX_USAGE;
	r = kk_key_load_public(argv[1], &k);
	if (r < 0)
		r = kk_key_load_private(argv[1], &k);
	if (r < 0) {
		fail_line("%s: not an Ed25519 public key, certificate or private key",
		    argv[1]);
		return EX_FAILED;
	}
	kk_key_id(k, id);
	EVP_PKEY_free(k);
	printf("%s\n", id);
	return EX_DONE;
}
