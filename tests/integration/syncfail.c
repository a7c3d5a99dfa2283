/*
 * syncfail.so: a disk whose sync fails (LD_PRELOAD), as on a device that
 * reports a write error.  While the file SYNCFAIL names exists, syncfs(2)
 * fails with EIO (the collector's batch sync); while the file
 * DIRSYNCFAIL names exists, fsync(2) of a directory fails with EIO (what
 * makes a rename durable).  While the file SYNCSLOW names exists, each
 * syncfs(2) takes 200 ms more first and each fsync(2) 20 ms, as on a slow
 * disk (a batch's sync is then longer than what a client's handshake
 * needs, however busy the machine).
 * While the file READFAIL names exists, open(2) for reading of an
 * existing regular file whose path starts with READFAIL_UNDER fails
 * with EIO, as a disk that cannot read a file back (the collector's
 * look at a report it stored).
 * While the file SYNCHOLD names exists, fsync(2) of a file or directory
 * whose path starts with SYNCHOLD_UNDER waits until that file is gone (30 s
 * at the most), as a disk that takes its time with one write: what the
 * caller does meanwhile is what it does not wait for (t-remote: a receipt
 * goes out before the CSIRT's notice is durable).
 * Otherwise they are the real calls.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int syncfs(int fd);
int fsync(int fd);
int open(const char *path, int flags, ...);

static int
failing(const char *var)
{
	const char *flag = getenv(var);

	return flag != NULL && access(flag, F_OK) == 0;
}

/* SYNCSLOW's ms, whatever signals come */
static void
slow(long ms)
{
	struct timespec left = { ms / 1000, (ms % 1000) * 1000 * 1000 };

	if (!failing("SYNCSLOW"))
		return;
	while (nanosleep(&left, &left) < 0 && errno == EINTR)
		;
}

static void *
real(const char *name)
{
	void *fn = dlsym(RTLD_NEXT, name);

	if (fn == NULL)
		abort();
	return fn;
}

int
syncfs(int fd)
{
	static int (*real_syncfs)(int);

	if (failing("SYNCFAIL")) {
		errno = EIO;
		return -1;
	}
	slow(200);
	if (real_syncfs == NULL)
		real_syncfs = (int (*)(int))real("syncfs");
	return real_syncfs(fd);
}

/* fd's path starts with SYNCHOLD_UNDER: wait while SYNCHOLD exists */
static void
hold(int fd)
{
	const char *under = getenv("SYNCHOLD_UNDER");
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	char link[64], path[4096];
	ssize_t n;
	int i;

	if (under == NULL || under[0] == '\0' || !failing("SYNCHOLD"))
		return;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return;
	path[n] = '\0';
	if (strncmp(path, under, strlen(under)) != 0)
		return;
	for (i = 0; i < 3000 && failing("SYNCHOLD"); i++)
		nanosleep(&tick, NULL);
}

int
fsync(int fd)
{
	static int (*real_fsync)(int);
	struct stat st;

	if (failing("DIRSYNCFAIL") && fstat(fd, &st) == 0 &&
	    S_ISDIR(st.st_mode)) {
		errno = EIO;
		return -1;
	}
	slow(20);
	hold(fd);
	if (real_fsync == NULL)
		real_fsync = (int (*)(int))real("fsync");
	return real_fsync(fd);
}

/* whether an open of path with flags is one READFAIL fails */
static int
read_fails(const char *path, int flags)
{
	const char *under = getenv("READFAIL_UNDER");
	struct stat st;

	return (flags & O_ACCMODE) == O_RDONLY && under != NULL &&
	    under[0] != '\0' && strncmp(path, under, strlen(under)) == 0 &&
	    failing("READFAIL") && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int
open(const char *path, int flags, ...)
{
	static int (*real_open)(const char *, int, ...);
	mode_t mode = 0;
	va_list ap;

	/* glibc's __OPEN_NEEDS_MODE: O_TMPFILE holds O_DIRECTORY's bit */
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	if (read_fails(path, flags)) {
		errno = EIO;
		return -1;
	}
	if (real_open == NULL)
		real_open = (int (*)(const char *, int, ...))real("open");
	return real_open(path, flags, mode);
}
