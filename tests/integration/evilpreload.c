/*
 * evilpreload.so: what an attacker preloads into a protected program's
 * binary (LD_PRELOAD).  It does nothing but leave a mark: when
 * EVIL_MARK names a file, "loaded PID UID" is appended to it, so the test
 * can tell that the preload ran in the process it then freezes.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((constructor)) static void
evil_loaded(void)
{
	const char *mark = getenv("EVIL_MARK");
	char line[64];
	int fd, n;

	if (mark == NULL)
		return;
	fd = open(mark, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "loaded %d %d\n", (int)getpid(),
	    (int)getuid());
	if (write(fd, line, (size_t)n) < 0)
		n = 0;
	close(fd);
}
