/*
 * libFuzzer: the frame reader fed in chunks whose sizes come from the
 * input itself, as a peer could split its bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "kakuri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kk_frame_reader rd;
	size_t off = 0, used, chunk, len;
	uint8_t *body;
	int r, i;

	kk_frame_reader_init(&rd, 4096);
	for (i = 0; off < size && i < 10000; i++) {
		chunk = 1 + data[off] % 64;
		if (chunk > size - off)
			chunk = size - off;
		r = kk_frame_feed(&rd, data + off, chunk, &used);
		if (used > chunk)
			abort();
		off += used ? used : chunk;
		if (r < 0)
			break;
		if (r == 1) {
			body = kk_frame_take(&rd, &len);
			if (len == 0 || len > 4096)
				abort();
			free(body);
		}
	}
	kk_frame_reader_reset(&rd);
	return 0;
}
