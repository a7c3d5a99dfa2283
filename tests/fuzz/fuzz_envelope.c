/*
 * libFuzzer: the bytes a CSIRT peer (or anyone reaching the port) sends.
 * The envelope parser first, then - as if the signatures had verified -
 * the strict command payload parser on what the envelope carried, and on
 * the raw bytes too.
 */
#include <stddef.h>
#include <stdint.h>

#include "sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kk_envelope env;
	struct kk_command cmd;
	char why[160];

	if (kk_envelope_parse(data, size, &env) == 0) {
		if (kk_command_parse(env.payload, env.payload_len, &cmd, why,
		    sizeof(why)) == 0)
			kk_command_free(&cmd);
		kk_envelope_free(&env);
	}
	if (kk_command_parse(data, size, &cmd, why, sizeof(why)) == 0)
		kk_command_free(&cmd);
	return 0;
}
