/*
 * libFuzzer: hostile policy and trust files.  Each input is written to a
 * private temporary file and loaded the way kakurid loads it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "kakuri.h"
#include "sign.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kk_policy p;
	static struct kk_trust t;
	char err[512];
	FILE *f;
	int fd;

	if (path[0] == '\0') {
		snprintf(path, sizeof(path), "/tmp/kakuri-fuzz-%d.conf",
		    (int)getpid());
	}
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		return 0;
	f = fdopen(fd, "w");
	if (f == NULL) {
		close(fd);
		return 0;
	}
	fwrite(data, 1, size, f);
	fclose(f);
#ifdef FUZZ_TRUST
	if (kk_trust_load(path, KK_POLICY_SKIP_OWNER_CHECK, &t, err,
	    sizeof(err)) == 0)
		kk_trust_free(&t);
	(void)p;
#else
	kk_policy_load(path, KK_POLICY_SKIP_OWNER_CHECK, &p, err, sizeof(err));
	(void)t;
#endif
	unlink(path);
	return 0;
}
