/*
 * syncfail.so: a disk whose sync fails (LD_PRELOAD), as on a device that
 * reports a write error.  While the file SYNCFAIL names exists, syncfs(2)
 * fails with EIO (the collector's batch sync); while the file
 * DIRSYNCFAIL names exists, fsync(2) of a directory fails with EIO (what
 * makes a rename durable).  While the file SYNCSLOW names exists, each
 * syncfs(2) takes 200 ms more first and each fsync(2) 20 ms, as on a slow
 * disk (a batch's sync is then longer than what a client's handshake
 * needs, however busy the machine).
 * Otherwise they are the real calls.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int syncfs(int fd);
int fsync(int fd);

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
	if (real_fsync == NULL)
		real_fsync = (int (*)(int))real("fsync");
	return real_fsync(fd);
}
