/*
 * A process's /proc files when its leader may have exited: a leader that
 * called pthread_exit answers ENOENT or EINVAL for what belonged to its
 * memory and name spaces, and its other threads still answer.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evidence.h"

/* The nth thread's /proc/PID/task/TID other than the leader. */
int
kk_proc_thread_dir(pid_t pid, unsigned nth, char *out, size_t len)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int r = -ESRCH, tid;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL)
		return -ESRCH;
	while ((de = readdir(d)) != NULL) {
		if ((tid = atoi(de->d_name)) <= 0 || tid == pid || nth-- > 0)
			continue;
		if ((size_t)snprintf(out, len, "/proc/%d/task/%d", (int)pid,
		    tid) >= len)
			r = -ENAMETOOLONG;
		else
			r = 0;
		break;
	}
	closedir(d);
	return r;
}

/* /proc/PID/leaf (attempt 0), else the (attempt - 1)th thread's */
int
kk_proc_leaf(pid_t pid, int attempt, const char *leaf, char *out, size_t len)
{
	char dir[64];
	int r;

	if (attempt == 0)
		snprintf(dir, sizeof(dir), "/proc/%d", (int)pid);
	else if ((r = kk_proc_thread_dir(pid, (unsigned)attempt - 1, dir,
	    sizeof(dir))) < 0)
		return r;
	if ((size_t)snprintf(out, len, "%s/%s", dir, leaf) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* Is r what the leader's /proc file says once the leader has exited? */
bool
kk_proc_leader_gone(int r)
{
	return r == -ENOENT || r == -EINVAL || r == -ESRCH;
}
