/*
 * libFuzzer: the bytes a CSIRT peer (or anyone reaching the port) sends.
 * The envelope parser first, then - as if the signatures had verified -
 * the strict command payload parser on what the envelope carried, and on
 * the raw bytes too.  The envelope parser lifts a long payload out of the
 * text before jansson reads it (dsse.c; this build lifts runs of 16
 * bytes and more): it must give what the parse of the text as it came
 * gives, or the fuzzer stops.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kk_envelope env, as_is;
	struct kk_command cmd;
	char why[160];
	int r, r2;

	r = kk_envelope_parse(data, size, &env);
	r2 = kk_envelope_parse_as_is(data, size, &as_is);
	/* the same, but what is too long to give jansson unlifted */
	if (r2 != r && !(r == -EBADMSG && r2 == 0 && size > KK_DSSE_DOC_MAX))
		abort();
	if (r2 == 0 && r != 0)
		kk_envelope_free(&as_is);
	if (r == 0) {
		if (as_is.payload_len != env.payload_len ||
		    memcmp(as_is.payload, env.payload, env.payload_len) != 0 ||
		    as_is.nsigs != env.nsigs ||
		    strcmp(as_is.type, env.type) != 0)
			abort();
		kk_envelope_free(&as_is);
	}
	if (r == 0) {
		if (kk_command_parse(env.payload, env.payload_len, &cmd, why,
		    sizeof(why)) == 0)
			kk_command_free(&cmd);
		kk_envelope_free(&env);
	}
	if (kk_command_parse(data, size, &cmd, why, sizeof(why)) == 0)
		kk_command_free(&cmd);
	return 0;
}
