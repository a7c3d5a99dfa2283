/*
 * Moving a process into a group by its pid number, pinned by a pidfd so
 * that the number still names the process that was checked (take() in
 * freeze.c, unplace() in inplace.c).
 */
#include <sys/syscall.h>
#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "freezer.h"

/*
 * cgroup.procs takes a pid number, so a check of who has the pid and the
 * write of it are apart, and the pid may be freed and given to another
 * process in between.  A pidfd opened before the check says afterwards
 * whether that happened: as long as the process it names has not been
 * reaped, its pid is still its own.  fz_pin opens it and checks the start
 * time; fz_move_pinned writes the pid and looks again.
 *
 * -ESRCH: no process has the pid, or another one than start's.  On a
 * kernel without pidfds (before 5.3), where a sandbox refuses them
 * (EPERM), or when none can be had (EMFILE, ENOMEM), *pidfd is -1 and the
 * move is as racy as the pid number is: a freeze or thaw is not held up.
 */
int
fz_pin(pid_t pid, unsigned long long start, int *pidfd)
{
	struct pstat ps;
	int fd;

	*pidfd = -1;
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	/* no pidfd for another reason (EMFILE, ENOMEM): unpinned, as before */
	if (fd < 0 && (errno == ESRCH || errno == EINVAL))
		return -ESRCH;
	if (fz_read_pstat(pid, &ps) < 0 || ps.start != start ||
	    fz_gone_state(ps.state)) {
		kk_close(fd);
		return -ESRCH;
	}
	*pidfd = fd;
	return 0;
}

/*
 * After the pinned process's pid number was written to the cgroup.procs
 * of a group within GREL (to freeze it, or to thaw it), with r the
 * write's result: was it the pinned process that moved?  Closes the pin.
 * When the pidfd says that process was reaped meanwhile, the write may
 * have moved whoever got its pid: a process now within GREL whose parent
 * is not is put back into its parent's group, where fork put it moments
 * ago.  Where that cannot be read, or is the root group (which no limit
 * of a slice holds), it goes to FALLBACK, never higher up, or with no
 * FALLBACK stays.  It is never ours to freeze or thaw.
 * r, or -ESRCH when the process had exited.
 */
int
fz_unpin_after_move(int r, int pidfd, const char *root, bool v2,
    const char *grel, const char *fallback, pid_t pid)
{
	struct pstat ps;
	char cg[PATH_MAX], pcg[PATH_MAX];

	if (pidfd < 0)
		return r;
	if (r < 0 || syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0 ||
	    errno != ESRCH)
		goto out;
	r = -ESRCH;
	if (fz_read_pstat(pid, &ps) < 0 ||
	    fz_read_cgroup(pid, v2, cg, sizeof(cg)) < 0 ||
	    !fz_cg_within(grel, cg))
		goto out;
	if (fz_read_cgroup(ps.ppid, v2, pcg, sizeof(pcg)) < 0 ||
	    strcmp(pcg, "/") == 0) {
		if (fallback == NULL)
			goto out;
		snprintf(pcg, sizeof(pcg), "%s", fallback);
	}
	if (!fz_cg_within(grel, pcg) && fz_cgpath_ok(pcg) &&
	    strcmp(pcg, "/") != 0)
		(void)fz_move_to(root, pcg, pid);
out:
	close(pidfd);
	return r;
}

/*
 * Moves the pinned process into the group whose cgroup.procs is open as
 * procs_fd (GREL, as /proc/PID/cgroup names it, under the hierarchy's
 * mount ROOT), and closes the pin.  A stranger that got the pid of a
 * process reaped meanwhile goes back (fz_unpin_after_move), to FALLBACK, the
 * group the target came from, if its parent's group is not known.
 * 0: moved; -ESRCH: the process has exited.
 */
int
fz_move_pinned(int procs_fd, const char *root, bool v2, const char *grel,
    const char *fallback, pid_t pid, int pidfd)
{
	char num[24];

	snprintf(num, sizeof(num), "%d", (int)pid);
	return fz_unpin_after_move(fz_write_fd_str(procs_fd, num), pidfd, root,
	    v2, grel, fallback, pid);
}
