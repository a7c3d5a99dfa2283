/*
 * Small helpers of the collection: the deadline, RFC 3339 times, JSON
 * members, and files opened without blocking (regular files only).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collect.h"

#include <sys/stat.h>

/* ---- small helpers -------------------------------------------------- */

uint64_t
col_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

bool
col_expired(const struct collector *c)
{
	return col_now_ns() >= c->deadline;
}

/* RFC 3339, UTC, with the fraction of a second given in usec */
void
col_rfc3339_usec(time_t sec, long usec, char *buf, size_t len)
{
	struct tm tm;
	char base[32];

	if (gmtime_r(&sec, &tm) == NULL ||
	    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(buf, len, "%lld", (long long)sec);
		return;
	}
	snprintf(buf, len, "%s.%06ldZ", base, usec);
}

void
col_rfc3339_now(char *buf, size_t len)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	col_rfc3339_usec(ts.tv_sec, ts.tv_nsec / 1000, buf, len);
}

/*
 * What the machine holds is not always UTF-8 (file names, command lines,
 * log messages): kk_json_strn (artifact.c) writes such bytes as \xHH so
 * that nothing is lost and the document stays valid.
 */
/* jansson's *_set_new take ownership and tolerate NULL values */
void
col_set_str(json_t *o, const char *key, const char *v)
{
	json_object_set_new(o, key, kk_json_str(v));
}

void
col_set_int(json_t *o, const char *key, long long v)
{
	json_object_set_new(o, key, json_integer(v));
}

void
col_set_bool(json_t *o, const char *key, bool v)
{
	json_object_set_new(o, key, json_boolean(v));
}

/* A value's name, or its number where we have no name for it. */
void
col_set_name_or_num(json_t *o, const char *key, const char *name,
    unsigned v)
{
	if (name != NULL)
		col_set_str(o, key, name);
	else
		col_set_int(o, key, v);
}

/* An address family by name, or its number. */
const char *
col_family_name(int family, char *buf, size_t len)
{
	switch (family) {
	case AF_INET:
		return "inet";
	case AF_INET6:
		return "inet6";
	case AF_UNIX:
		return "unix";
	default:
		snprintf(buf, len, "%d", family);
		return buf;
	}
}

/* A new item, key (its kind) first, then its address family; or NULL. */
json_t *
col_item_family(const char *key, const char *v, int family)
{
	json_t *o = json_object();
	char fam[16];

	if (o != NULL) {
		col_set_str(o, key, v);
		col_set_str(o, "family", col_family_name(family, fam,
		    sizeof(fam)));
	}
	return o;
}

/*
 * Opens a file to read: regular files only, without blocking on open (a
 * FIFO in place of a file must not hang the collection).
 */
int
col_open_regular(const char *path)
{
	struct stat st;
	int fd, err;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

/* At most size - 1 bytes of a procfs file, NUL-terminated: length or -errno. */
ssize_t
col_read_small(int atfd, const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	fd = openat(atfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	n = kk_read_upto(fd, buf, size - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return n;
}

void
col_chomp(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
}

/*
 * One line into buf (newline removed); a longer line is cut and the rest
 * skipped, so that no line can make us allocate.  1, 0 at the end.
 */
int
col_read_line(FILE *f, char *buf, size_t size)
{
	size_t n;
	int ch;

	if (fgets(buf, (int)size, f) == NULL)
		return 0;
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\n') {
		buf[n - 1] = '\0';
		return 1;
	}
	while ((ch = getc(f)) != EOF && ch != '\n')
		;
	return 1;
}

FILE *
col_fopen_regular(const char *path, int *err)
{
	FILE *f;
	int fd;

	if ((fd = col_open_regular(path)) < 0) {
		*err = fd;
		return NULL;
	}
	if ((f = fdopen(fd, "r")) == NULL) {
		*err = -errno;
		close(fd);
		return NULL;
	}
	*err = 0;
	return f;
}

bool
col_parse_pid(const char *s, pid_t *pid)
{
	char *end;
	long v;

	if (*s < '1' || *s > '9')
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end != '\0' || errno != 0 || v <= 0 || v > INT_MAX)
		return false;
	*pid = (pid_t)v;
	return true;
}
