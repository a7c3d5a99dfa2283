/*
 * mklog FILE MIB START [append]: writes MIB MiB of audit lines chained as
 * kakurid chains them (each "prev" the SHA-256 of the line before), one
 * second apart from START (seconds since 1970), so that a test gets a
 * 500 MiB log in a second instead of hours of requests.  With "append" the
 * chain and the sequence go on from the last line already in FILE.
 * Prints the number of lines written and the time of the last one.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_LEN	1024
#define BUF_SIZE	(1 << 20)

static void
hex(const unsigned char *md, char out[65])
{
	static const char digits[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 32; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[64] = '\0';
}

/* prev and seq from the last line of fd */
static int
continue_from(int fd, char prev[65], unsigned long long *seq)
{
	char buf[64 * 1024];
	unsigned char md[32];
	struct stat st;
	size_t want, end, start;
	const char *p;

	if (fstat(fd, &st) < 0 || st.st_size == 0)
		return -1;
	want = (size_t)st.st_size < sizeof(buf) ? (size_t)st.st_size :
	    sizeof(buf);
	if (pread(fd, buf, want, st.st_size - (off_t)want) != (ssize_t)want)
		return -1;
	end = want;
	if (buf[end - 1] == '\n')
		end--;
	for (start = end; start > 0 && buf[start - 1] != '\n'; start--)
		;
	SHA256((unsigned char *)buf + start, end - start, md);
	hex(md, prev);
	buf[end] = '\0';
	if ((p = strstr(buf + start, "\"seq\":")) == NULL)
		return -1;
	*seq = strtoull(p + 6, NULL, 10);
	return 0;
}

int
main(int argc, char **argv)
{
	char prev[65], line[LINE_MAX_LEN], when[32], pad[200];
	unsigned char md[32];
	unsigned long long seq = 0, lines = 0, target, size;
	struct stat st;
	char *buf;
	size_t have = 0;
	time_t t;
	struct tm tm;
	int fd, n;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: mklog FILE MIB START [append]\n");
		return 2;
	}
	target = strtoull(argv[2], NULL, 10) << 20;
	t = (time_t)strtoll(argv[3], NULL, 10);
	if (target == 0 || target > (4ULL << 30)) {
		fprintf(stderr, "mklog: MIB must be 1..4096\n");
		return 2;
	}
	fd = open(argv[1], O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	strcpy(prev, "0000000000000000000000000000000000000000000000000000000000000000");
	if (argc == 5 && strcmp(argv[4], "append") == 0 &&
	    continue_from(fd, prev, &seq) < 0) {
		fprintf(stderr, "mklog: %s: no last line to go on from\n", argv[1]);
		return 1;
	}
	memset(pad, 'f', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	if ((buf = malloc(BUF_SIZE)) == NULL)
		return 1;
	if (fstat(fd, &st) < 0) {
		perror(argv[1]);
		return 1;
	}
	size = (unsigned long long)st.st_size;
	while (size + have < target) {
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
		n = snprintf(line, sizeof(line), "{\"time\":\"%s\",\"seq\":%llu,"
		    "\"actor\":\"mklog\",\"action\":\"filler\",\"result\":\"ok\","
		    "\"episode\":\"\",\"pad\":\"%s\",\"prev\":\"%s\"}", when,
		    ++seq, pad, prev);
		SHA256((unsigned char *)line, (size_t)n, md);
		hex(md, prev);
		line[n++] = '\n';
		memcpy(buf + have, line, (size_t)n);
		have += (size_t)n;
		lines++;
		t++;
		if (have > BUF_SIZE - LINE_MAX_LEN) {
			if (write(fd, buf, have) != (ssize_t)have) {
				perror("write");
				return 1;
			}
			size += have;
			have = 0;
		}
	}
	if (have > 0 && write(fd, buf, have) != (ssize_t)have) {
		perror("write");
		return 1;
	}
	close(fd);
	printf("%llu %lld\n", lines, (long long)(t - 1));
	return 0;
}
