/*
 * syncfail.so: a disk whose sync fails, for the collector's tests
 * (LD_PRELOAD).  While the file SYNCFAIL names exists, syncfs(2) fails
 * with EIO, as on a device that reports a write error; otherwise it is
 * the real call.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int syncfs(int fd);

int
syncfs(int fd)
{
	static int (*real)(int);
	const char *flag = getenv("SYNCFAIL");

	if (flag != NULL && access(flag, F_OK) == 0) {
		errno = EIO;
		return -1;
	}
	if (real == NULL && (real = (int (*)(int))dlsym(RTLD_NEXT,
	    "syncfs")) == NULL) {
		errno = ENOSYS;
		return -1;
	}
	return real(fd);
}
