/*
 * kakurictl collector: what a stored report is announced by, once the
 * sync has put it on disk (collector.c calls col_announce at the store
 * and col_synced after each sync that succeeds): its line on stdout and
 * --exec, the ticketing system's hook, with no shell, eight at a time
 * and a bounded queue.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "collector.h"

static void exec_next(struct collector *col);
static void exec_for(struct collector *col, const char *path);

static int
on_exec_exit(sd_event_source *s, const siginfo_t *si, void *arg)
{
	struct collector *col = arg;

	if (si->si_code != CLD_EXITED || si->si_status != 0)
		fprintf(stderr, "collector: %s (pid %d) ended with %s %d\n",
		    col->exec, (int)si->si_pid, si->si_code == CLD_EXITED ?
		    "status" : "signal", si->si_status);
	sd_event_source_unref(s);
	col->nexec--;
	exec_next(col);
	return 0;
}

static void
exec_next(struct collector *col)
{
	char *path;
	pid_t pid;

	while (col->nexec < COL_EXEC_MAX && col->exec_n > 0) {
		path = col->exec_queue[col->exec_head];
		col->exec_head = (col->exec_head + 1) % COL_EXEC_QUEUE;
		col->exec_n--;
		pid = fork();
		if (pid == 0) {
			char *const argv[] = { (char *)col->exec, path, NULL };
			sigset_t none;

			sigemptyset(&none);
			sigprocmask(SIG_SETMASK, &none, NULL);
			execv(col->exec, argv);
			_exit(127);
		}
		if (pid < 0 || sd_event_add_child(col->ev, NULL, pid,
		    WEXITED, on_exec_exit, col) < 0)
			fprintf(stderr, "collector: cannot run %s for %s\n",
			    col->exec, path);
		else
			col->nexec++;
		free(path);
	}
}

/*
 * A stored report is announced only once it is on disk: a ticket opened,
 * or a line a SIEM took, for a report a power cut then lost would name
 * nothing the agent still holds (it was not acked: the agent sends it
 * again, and a resend of what is stored is not announced twice).
 */
void
col_announce(struct collector *col, char *line, const char *path)
{
	char *copy = strdup(path);

	if (col->nunsynced == COL_UNSYNCED_MAX && syncfs(col->dirfd) == 0)
		col_synced(col);
	if (line == NULL || copy == NULL ||
	    col->nunsynced == COL_UNSYNCED_MAX) {
		fprintf(stderr, "collector: %s: stored, not announced (%s)\n",
		    path, line == NULL || copy == NULL ? "out of memory" :
		    "the disk does not sync");
		free(line);
		free(copy);
		return;
	}
	col->unsynced[col->nunsynced].line = line;
	col->unsynced[col->nunsynced].path = copy;
	col->nunsynced++;
}

void
col_synced(struct collector *col)
{
	size_t i;

	for (i = 0; i < col->nunsynced; i++) {
		printf("%s\n", col->unsynced[i].line);
		free(col->unsynced[i].line);
	}
	fflush(stdout);
	for (i = 0; i < col->nunsynced; i++) {
		exec_for(col, col->unsynced[i].path);
		free(col->unsynced[i].path);
	}
	col->nunsynced = 0;
}

static void
exec_for(struct collector *col, const char *path)
{
	char *copy;

	if (col->exec == NULL)
		return;
	if (col->exec_n == COL_EXEC_QUEUE || (copy = strdup(path)) == NULL) {
		fprintf(stderr, "collector: %s not run for %s: %d already "
		    "wait\n", col->exec, path, COL_EXEC_QUEUE);
		return;
	}
	col->exec_queue[(col->exec_head + col->exec_n) % COL_EXEC_QUEUE] = copy;
	col->exec_n++;
	exec_next(col);
}

