/*
 * Whole files in memory, with a cap: signed command files (apply, cosign,
 * send) and a fetched directory's manifest (verify.c).  Only regular
 * files: a FIFO or a device named by mistake must not hang or flood us.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"

int
read_fd(int fd, size_t max, char **out, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	ssize_t n;
	int r = 0;

	*out = NULL;
	*len = 0;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		r = -EFBIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		r = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			goto out;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
out:
	free(buf);
	return r;
}

int
read_file(const char *path, size_t max, char **out, size_t *len)
{
	int fd, r;

	*out = NULL;
	*len = 0;
	/* O_NONBLOCK: opening a FIFO in place of a file must not hang us */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = read_fd(fd, max, out, len);
	close(fd);
	return r;
}
