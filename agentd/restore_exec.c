/*
 * kakurid --restore hands over to kakurid-restore (see restore.c): the
 * same decisions, without the libraries and look-ups of the daemon.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "restore.h"

void
kd_restore_exec(char **argv)
{
	char self[PATH_MAX], path[PATH_MAX + 32], *slash;
	ssize_t n;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return;
	*slash = '\0';
	snprintf(path, sizeof(path), "%s/kakurid-restore", self);
	argv[0] = path;
	execv(path, argv);
	kk_log(LOG_DEBUG, KK_MID_START, "%s: %s; restoring in kakurid", path,
	    strerror(errno));
}
