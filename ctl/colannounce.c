/*
 * kakurictl collector: what a stored report is announced by, once the
 * sync has put it on disk (collector.c calls col_announce at the store
 * and col_synced after each sync that succeeds): its line on stdout and
 * --exec, the ticketing system's hook, with no shell, eight at a time
 * and a bounded queue that each agent has a share of.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "collector.h"

static void exec_next(struct collector *col);
static void exec_for(struct collector *col, const char *path);

/*
 * The agent whose report path is: DIR/<agent>/<id>.json (collector.c),
 * the directory the file is in.  Into agent, "" if there is none.
 */
static void
agent_of(const char *path, char agent[KK_AGENT_ID_HEX + 1])
{
	const char *end = strrchr(path, '/'), *start;
	size_t n;

	agent[0] = '\0';
	if (end == NULL)
		return;
	for (start = end; start > path && start[-1] != '/'; start--)
		;
	n = (size_t)(end - start);
	if (n > KK_AGENT_ID_HEX)
		n = KK_AGENT_ID_HEX;
	memcpy(agent, start, n);
	agent[n] = '\0';
}

/* How many of agent's paths wait. */
static size_t
waiting(const struct collector *col, const char *agent)
{
	char a[KK_AGENT_ID_HEX + 1];
	size_t i, n = 0;

	for (i = 0; i < col->exec_n; i++) {
		agent_of(col->exec_queue[i], a);
		n += strcmp(a, agent) == 0;
	}
	return n;
}

/* How many programs run for agent's reports now. */
static unsigned
running(const struct collector *col, const char *agent)
{
	unsigned i, n = 0;

	for (i = 0; i < COL_EXEC_MAX; i++)
		n += col->exec_running[i].pid > 0 &&
		    strcmp(col->exec_running[i].agent, agent) == 0;
	return n;
}

/* The path at i leaves the queue (taken: the caller frees it). */
static char *
unqueue(struct collector *col, size_t i)
{
	char *path = col->exec_queue[i];

	memmove(&col->exec_queue[i], &col->exec_queue[i + 1],
	    (col->exec_n - i - 1) * sizeof(col->exec_queue[0]));
	col->exec_n--;
	return path;
}

static int
on_exec_exit(sd_event_source *s, const siginfo_t *si, void *arg)
{
	struct collector *col = arg;
	unsigned i;

	if (si->si_code != CLD_EXITED || si->si_status != 0)
		fprintf(stderr, "collector: %s (pid %d) ended with %s %d\n",
		    col->exec, (int)si->si_pid, si->si_code == CLD_EXITED ?
		    "status" : "signal", si->si_status);
	sd_event_source_unref(s);
	for (i = 0; i < COL_EXEC_MAX; i++)
		if (col->exec_running[i].pid == si->si_pid) {
			col->exec_running[i].pid = 0;
			col->exec_running[i].timer = sd_event_source_disable_unref(
			    col->exec_running[i].timer);
		}
	col->nexec--;
	exec_next(col);
	return 0;
}

/*
 * A program past --exec-timeout (a ticketing hook hung on a report's
 * content, or on its server): its process group killed, so that eight
 * hung ones do not stop every later report's announcement.  Its exit
 * frees the place (on_exec_exit).
 */
static int
on_exec_timeout(sd_event_source *s, uint64_t usec, void *arg)
{
	struct col_exec *slot = arg;

	if (slot->pid > 0) {
		fprintf(stderr, "collector: a --exec program (pid %d) ran past "
		    "its time: killed\n", (int)slot->pid);
		kill(-slot->pid, SIGKILL);
	}
	return 0;
}

/*
 * The next to run: the oldest path of an agent with the fewest programs
 * running for it.  One agent with hundreds of reports waiting does not
 * hold every program while another's single report waits behind them.
 */
static size_t
next_index(const struct collector *col)
{
	char a[KK_AGENT_ID_HEX + 1];
	size_t i, best = 0;
	unsigned r, fewest = COL_EXEC_MAX + 1;

	for (i = 0; i < col->exec_n && fewest > 0; i++) {
		agent_of(col->exec_queue[i], a);
		if ((r = running(col, a)) < fewest) {
			fewest = r;
			best = i;
		}
	}
	return best;
}

static void
exec_next(struct collector *col)
{
	struct col_exec *slot;
	char *path;
	unsigned i;
	pid_t pid;

	while (col->nexec < COL_EXEC_MAX && col->exec_n > 0) {
		path = unqueue(col, next_index(col));
		for (i = 0, slot = NULL; i < COL_EXEC_MAX && slot == NULL; i++)
			if (col->exec_running[i].pid <= 0)
				slot = &col->exec_running[i];
		pid = fork();
		if (pid == 0) {
			char *const argv[] = { (char *)col->exec, path, NULL };
			sigset_t none;

			/* a group of its own: what it starts ends with it */
			setpgid(0, 0);
			sigemptyset(&none);
			sigprocmask(SIG_SETMASK, &none, NULL);
			execv(col->exec, argv);
			_exit(127);
		}
		/* and so before either runs on: the kill needs the group */
		if (pid > 0)
			setpgid(pid, pid);
		if (pid < 0 || sd_event_add_child(col->ev, NULL, pid,
		    WEXITED, on_exec_exit, col) < 0) {
			fprintf(stderr, "collector: cannot run %s for %s\n",
			    col->exec, path);
		} else {
			col->nexec++;
			if (slot != NULL) {
				slot->pid = pid;
				agent_of(path, slot->agent);
				if (sd_event_add_time_relative(col->ev,
				    &slot->timer, CLOCK_MONOTONIC,
				    (uint64_t)col->exec_timeout_s * 1000000ULL,
				    0, on_exec_timeout, slot) < 0)
					slot->timer = NULL;
			}
		}
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

	if (line == NULL || copy == NULL) {
		fprintf(stderr, "collector: %s: stored, not announced (out of "
		    "memory)\n", path);
		free(line);
		free(copy);
		return;
	}
	/*
	 * The list full: a sync makes room, or fails and removes the list
	 * and this report, stored before it, with them.
	 */
	if (col->nunsynced == COL_UNSYNCED_MAX && col_sync(col) < 0) {
		if (unlink(path) < 0 && errno != ENOENT)
			fprintf(stderr, "collector: %s: stored before a failed "
			    "sync, cannot be removed: %s\n", path,
			    strerror(errno));
		free(line);
		free(copy);
		return;
	}
	col->unsynced[col->nunsynced].line = line;
	col->unsynced[col->nunsynced].path = copy;
	col->nunsynced++;
}

bool
col_unsynced_room(struct collector *col, const char *agent)
{
	char a[KK_AGENT_ID_HEX + 1];
	size_t i, mine = 0;

	for (i = 0; i < col->nunsynced; i++) {
		agent_of(col->unsynced[i].path, a);
		mine += strcmp(a, agent) == 0;
	}
	if (col_unsynced_admit(col->nunsynced, mine))
		return true;
	/* all that waits is on disk now, if the disk syncs again */
	return col->nunsynced > 0 && col_sync(col) == 0;
}

void
col_synced(struct collector *col)
{
	size_t i;

	if (col->unsynced_refused > 1)
		fprintf(stderr, "collector: %lu reports refused in all while "
		    "the disk did not sync (their agents' share of the "
		    "reports waiting for it was taken)\n",
		    col->unsynced_refused);
	col->unsynced_refused = 0;

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

static int
by_agent(const void *x, const void *y)
{
	return strcmp(x, y);
}

/*
 * The agent with the most paths waiting (into agent) and how many: the
 * queue's agents sorted, n log n, for this runs once a report while the
 * queue is full.  0 without memory.
 */
static size_t
busiest(const struct collector *col, char agent[KK_AGENT_ID_HEX + 1])
{
	char (*ids)[KK_AGENT_ID_HEX + 1];
	size_t i, run = 0, most = 0;

	if ((ids = calloc(col->exec_n, sizeof(*ids))) == NULL)
		return 0;
	for (i = 0; i < col->exec_n; i++)
		agent_of(col->exec_queue[i], ids[i]);
	qsort(ids, col->exec_n, sizeof(*ids), by_agent);
	for (i = 0; i < col->exec_n; i++) {
		run = i > 0 && strcmp(ids[i], ids[i - 1]) == 0 ? run + 1 : 1;
		if (run > most) {
			most = run;
			memcpy(agent, ids[i], sizeof(ids[i]));
		}
	}
	free(ids);
	return most;
}

/* Where agent's newest waiting path is (it has one). */
static size_t
newest_of(const struct collector *col, const char *agent)
{
	char a[KK_AGENT_ID_HEX + 1];
	size_t i;

	for (i = col->exec_n; i > 0; i--) {
		agent_of(col->exec_queue[i - 1], a);
		if (strcmp(a, agent) == 0)
			return i - 1;
	}
	return col->exec_n - 1;
}

/*
 * path waits for --exec, within the queue and its agent's share of it:
 * one agent's flood of small reports (the quota lets through thousands
 * at once) cannot take every place, and another agent's report, however
 * late, still gets its ticket.  What is not run is said, by path.
 */
static void
exec_for(struct collector *col, const char *path)
{
	char agent[KK_AGENT_ID_HEX + 1], a[KK_AGENT_ID_HEX + 1];
	char *copy, *dropped;
	size_t mine, most;

	if (col->exec == NULL)
		return;
	agent_of(path, agent);
	if ((mine = waiting(col, agent)) >= COL_EXEC_PER_AGENT) {
		fprintf(stderr, "collector: %s not run for %s: %zu of its "
		    "agent's reports already wait (its share of %d)\n",
		    col->exec, path, mine, COL_EXEC_QUEUE);
		return;
	}
	if (col->exec_n == COL_EXEC_QUEUE) {
		/* full: a place of the agent with the most waiting, if more */
		if ((most = busiest(col, a)) <= mine + 1) {
			fprintf(stderr, "collector: %s not run for %s: %d "
			    "already wait\n", col->exec, path, COL_EXEC_QUEUE);
			return;
		}
		dropped = unqueue(col, newest_of(col, a));
		fprintf(stderr, "collector: %s not run for %s: its place "
		    "went to another agent's report\n", col->exec, dropped);
		free(dropped);
	}
	if ((copy = strdup(path)) == NULL) {
		fprintf(stderr, "collector: %s not run for %s: out of memory\n",
		    col->exec, path);
		return;
	}
	col->exec_queue[col->exec_n++] = copy;
	exec_next(col);
}

/*
 * After a failed sync nothing stored since the last good one can be
 * trusted on disk: Linux says a write-back error to a syncfs once, and a
 * later one succeeds while the lost pages stay in the page cache, clean.
 * A resend then read the report back from memory, "stored before", and
 * was acked: gone at the next reboot, and from the agent's outbox.  The
 * reports are removed instead (none was acked; their announcements had
 * not been made), and a resend stores them anew; the index is cut back to
 * its size at the last good sync, and the resend indexes them once.
 */
int
col_sync(struct collector *col)
{
	struct stat st;
	size_t i, gone = 0;
	int err, fd;

	if (syncfs(col->dirfd) == 0) {
		if (fstatat(col->dirfd, "index.jsonl", &st,
		    AT_SYMLINK_NOFOLLOW) == 0)
			col->index_synced = st.st_size;
		else if (errno == ENOENT)
			col->index_synced = 0;
		col_synced(col);
		return 0;
	}
	err = errno;
	col->sync_failures++;
	if (col->index_synced >= 0 && (fd = openat(col->dirfd, "index.jsonl",
	    O_WRONLY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
		if (fstat(fd, &st) == 0 && st.st_size > col->index_synced &&
		    ftruncate(fd, col->index_synced) < 0)
			fprintf(stderr, "collector: %s/index.jsonl: lines since "
			    "the last sync cannot be cut off: %s\n", col->dir,
			    strerror(errno));
		close(fd);
	}
	for (i = 0; i < col->nunsynced; i++) {
		if (unlink(col->unsynced[i].path) == 0 || errno == ENOENT)
			gone++;
		else
			fprintf(stderr, "collector: %s: stored before a failed "
			    "sync, cannot be removed: %s\n",
			    col->unsynced[i].path, strerror(errno));
		free(col->unsynced[i].line);
		free(col->unsynced[i].path);
	}
	if (gone > 0)
		fprintf(stderr, "collector: syncfs: %s: %zu report(s) stored "
		    "since the last sync removed, to be stored again when sent "
		    "again\n", strerror(err), gone);
	else
		fprintf(stderr, "collector: syncfs: %s\n", strerror(err));
	col->nunsynced = 0;
	return -err;
}

bool
col_batch_synced(struct collector *col, struct col_conn *cn)
{
	return col_sync(col) == 0 && cn->batch_failures == col->sync_failures;
}
