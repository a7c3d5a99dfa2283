/*
 * memscan PID HEX: whether the writable memory of process PID (its rw
 * mappings, read through /proc/PID/mem) holds the bytes HEX (at least 16
 * of them).  Exit 0 found, 1 not found, 2 an error.  The shell's
 * dd | od | grep did the same at some MB/s: seconds for a kakurid, which
 * a test that holds a worker stopped meanwhile cannot spend.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK		(1U << 20)
#define PATTERN_MAX	256

static int
unhex(const char *hex, unsigned char *out, size_t max)
{
	size_t n = strlen(hex), i;
	unsigned v;

	if (n % 2 != 0 || n / 2 > max || n / 2 < 16)
		return -1;
	for (i = 0; i < n / 2; i++) {
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	return (int)(n / 2);
}

/* [start, end) read in chunks that overlap by plen - 1: 1 if found */
static int
scan(int mem, unsigned long start, unsigned long end, unsigned char *buf,
    const unsigned char *pat, size_t plen)
{
	unsigned long at = start;
	ssize_t got;

	while (at < end) {
		size_t want = end - at > CHUNK ? CHUNK : end - at;

		got = pread(mem, buf, want, (off_t)at);
		if (got <= 0) {
			at = (at | 4095) + 1;	/* an unreadable page: the next */
			continue;
		}
		if ((size_t)got >= plen && memmem(buf, (size_t)got, pat, plen))
			return 1;
		if ((size_t)got < plen || at + (size_t)got >= end)
			at += (size_t)got;
		else
			at += (size_t)got - (plen - 1);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	unsigned char pat[PATTERN_MAX], *buf;
	char path[64], line[512], perms[8];
	unsigned long start, end;
	int plen, mem, found = 0;
	FILE *maps;

	if (argc != 3 || (plen = unhex(argv[2], pat, sizeof(pat))) < 0) {
		fprintf(stderr, "usage: memscan PID HEX (16 to %d bytes)\n",
		    PATTERN_MAX);
		return 2;
	}
	snprintf(path, sizeof(path), "/proc/%s/maps", argv[1]);
	if ((maps = fopen(path, "re")) == NULL) {
		perror(path);
		return 2;
	}
	snprintf(path, sizeof(path), "/proc/%s/mem", argv[1]);
	if ((mem = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    (buf = malloc(CHUNK)) == NULL) {
		perror(path);
		return 2;
	}
	while (!found && fgets(line, sizeof(line), maps) != NULL) {
		if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) != 3 ||
		    perms[0] != 'r' || perms[1] != 'w')
			continue;
		found = scan(mem, start, end, buf, pat, (size_t)plen);
	}
	fclose(maps);
	close(mem);
	free(buf);
	return found ? 0 : 1;
}
