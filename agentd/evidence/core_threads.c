/*
 * Stopping every thread of the target for the snapshot, and letting them
 * go: PTRACE_SEIZE + PTRACE_INTERRUPT, no signal sent (see core.c).
 */
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "snapshot.h"

#define SEIZE_ROUNDS	64		/* re-scans of /proc/PID/task */
#define MAX_THREADS	65536

static int
add_thread(struct snap *sn, pid_t tid)
{
	int err;

	if ((err = kk_grow(&sn->t, &sn->captb, sn->nt, sizeof(*sn->t), 64,
	    MAX_THREADS)) < 0)
		return err;
	sn->t[sn->nt].tid = tid;
	sn->t[sn->nt].state = T_NEW;
	sn->t[sn->nt].sig = 0;
	sn->nt++;
	return 0;
}

static bool
known_thread(const struct snap *sn, pid_t tid)
{
	size_t i;

	for (i = 0; i < sn->nt; i++)
		if (sn->t[i].tid == tid)
			return true;
	return false;
}

/* Seizes and interrupts every thread not seen before; *added counts them. */
static int
seize_new(struct snap *sn, size_t *added)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int err = 0;
	long v;
	char *end;

	*added = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)sn->pid);
	if ((d = opendir(path)) == NULL)
		return errno == ENOENT ? -ESRCH : -errno;
	while ((de = readdir(d)) != NULL) {
		struct thr *t;

		errno = 0;
		v = strtol(de->d_name, &end, 10);
		if (errno != 0 || *end != '\0' || v <= 0 || v > INT_MAX)
			continue;
		if (known_thread(sn, (pid_t)v))
			continue;
		if ((err = add_thread(sn, (pid_t)v)) < 0)
			goto out;
		t = &sn->t[sn->nt - 1];
		/* an exited leader has nothing to stop (and refuses ptrace) */
		if (sn->leader_gone && t->tid == sn->pid) {
			t->state = T_GONE;
			continue;
		}
		if (ptrace(PTRACE_SEIZE, t->tid, NULL, NULL) < 0) {
			if (errno == ESRCH) {
				t->state = T_GONE;
				continue;
			}
			t->state = T_REFUSED;
			if (sn->seize_err == 0)
				sn->seize_err = -errno;
			continue;
		}
		t->state = T_SEIZED;
		if (ptrace(PTRACE_INTERRUPT, t->tid, NULL, NULL) < 0 &&
		    errno == ESRCH) {
			/* exited already: waitpid reports it */
		}
		(*added)++;
	}
out:
	closedir(d);
	return err;
}

/* Collects the stops (or deaths) of seized threads until deadline. */
static void
wait_stops(struct snap *sn, uint64_t deadline)
{
	struct timespec nap;
	long ns = 20000;
	size_t i, pending;
	int st;
	pid_t r;

	for (;;) {
		pending = 0;
		for (i = 0; i < sn->nt; i++) {
			struct thr *t = &sn->t[i];

			if (t->state != T_SEIZED)
				continue;
			r = waitpid(t->tid, &st, __WALL | WNOHANG);
			if (r == 0) {
				pending++;
				continue;
			}
			if (r < 0) {
				if (errno == EINTR) {
					pending++;
					continue;
				}
				/* not ours any more (reaped elsewhere) */
				t->state = T_GONE;
				continue;
			}
			if (WIFSTOPPED(st)) {
				t->state = T_STOPPED;
				/*
				 * A signal-delivery-stop holds a signal the
				 * thread has not seen yet: give it back on
				 * detach.  Interrupt and group stops carry
				 * PTRACE_EVENT_STOP and give nothing back.
				 */
				if ((st >> 16) == 0)
					t->sig = WSTOPSIG(st);
			} else if (WIFEXITED(st) || WIFSIGNALED(st))
				t->state = T_GONE;
		}
		if (pending == 0 || snap_now_ms() >= deadline)
			break;
		nap.tv_sec = 0;
		nap.tv_nsec = ns;
		nanosleep(&nap, NULL);
		if (ns < 1000000)
			ns *= 2;
	}
}

/*
 * Stops every thread.  New threads can appear until their creator is
 * stopped, so /proc/PID/task is read again until nothing new shows up.
 */
int
snap_stop_threads(struct snap *sn)
{
	uint64_t deadline = snap_now_ms() + STOP_TIMEOUT_MS;
	size_t added, i;
	int round, err;

	for (round = 0; round < SEIZE_ROUNDS; round++) {
		if ((err = seize_new(sn, &added)) < 0)
			return err;
		if (added == 0)
			break;
		wait_stops(sn, deadline);
	}
	sn->unstopped = 0;
	for (i = 0; i < sn->nt; i++)
		if (sn->t[i].state == T_SEIZED)
			sn->unstopped++;
	return 0;
}

void
snap_detach_threads(struct snap *sn)
{
	size_t i;

	for (i = 0; i < sn->nt; i++) {
		struct thr *t = &sn->t[i];

		/*
		 * Only a stopped tracee can be detached; one still on its
		 * way is let go when this thread exits.
		 */
		if (t->state != T_STOPPED)
			continue;
		ptrace(PTRACE_DETACH, t->tid, NULL,
		    (void *)(long)t->sig);
		t->state = T_GONE;
	}
}
