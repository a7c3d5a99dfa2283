/*
 * A process's /proc files when its leader may have exited: a leader that
 * called pthread_exit answers ENOENT or EINVAL for what belonged to its
 * memory and name spaces, and its other threads still answer.
 */
#include <dirent.h>
#include <limits.h>
#include <unistd.h>
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

/* readlink of /proc/PID/leaf (another thread's once the leader is gone). */
int
kk_proc_readlink(pid_t pid, const char *leaf, char *out, size_t len)
{
	char path[96];
	ssize_t n = -1;
	int attempt, r = -ESRCH;

	out[0] = '\0';
	for (attempt = 0; attempt < KK_PROC_TRIES; attempt++) {
		if ((r = kk_proc_leaf(pid, attempt, leaf, path, sizeof(path))) < 0)
			return r;
		n = readlink(path, out, len - 1);
		r = n < 0 ? -errno : 0;
		if (!kk_proc_leader_gone(r))
			break;
	}
	if (r < 0)
		return r;
	out[n] = '\0';
	return 0;
}

/*
 * Is pid in our namespace of that kind ("user", "mnt")?  A user may
 * mount FUSE and overlays in a namespace of his own; those mounts, and
 * the paths their options name, are in no table of ours, so ours says
 * nothing of them.
 */
bool
kk_proc_same_ns(pid_t pid, const char *kind)
{
	char theirs[64], ours[64], path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/ns/%s", kind);
	n = readlink(path, ours, sizeof(ours) - 1);
	if (n <= 0)
		return false;
	ours[n] = '\0';
	snprintf(path, sizeof(path), "ns/%s", kind);
	return kk_proc_readlink(pid, path, theirs, sizeof(theirs)) == 0 &&
	    strcmp(theirs, ours) == 0;
}

/*
 * Is pid's root the root of its mount namespace?  The kernel leaves the
 * mounts a chroot does not reach out of the process's mountinfo, and
 * writes the others' mount points from its root.
 */
bool
kk_proc_at_ns_root(pid_t pid)
{
	char root[PATH_MAX];

	return kk_proc_readlink(pid, "root", root, sizeof(root)) == 0 &&
	    strcmp(root, "/") == 0;
}
