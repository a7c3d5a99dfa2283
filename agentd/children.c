/*
 * Supervision of kakurid's long-lived children, the same for every row of
 * the children table (children.h): start, typed framed messages both
 * ways, a bounded queue of what the child has not read yet, its words
 * into the journal, restart with backoff.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "children.h"
#include "daemon.h"
#include "record.h"
#include "log.h"
#include "wire.h"

static uint64_t
now_usec(struct kd *d)
{
	uint64_t now = 0;

	sd_event_now(d->ev, CLOCK_MONOTONIC, &now);
	return now;
}

void
kd_child_words(struct kd_child *c, const char *peer, const char *text,
    size_t len)
{
	const struct kd_child_kind *k = c->kind;
	char line[KD_CHILD_LINE + 1];
	uint64_t now = now_usec(c->d);
	size_t i;

	if (now >= c->log_window) {
		if (c->log_dropped)
			kk_log(LOG_NOTICE, KK_MID_CONTROL,
			    "%s: %lu more lines not logged (at most %u in %llu s)",
			    k->name, c->log_dropped, k->log.lines,
			    (unsigned long long)(k->log.window_usec / 1000000ULL));
		c->log_window = now + k->log.window_usec;
		c->log_lines = 0;
		c->log_dropped = 0;
	}
	if (c->log_lines >= k->log.lines) {
		c->log_dropped++;
		return;
	}
	c->log_lines++;
	if (len > KD_CHILD_LINE)
		len = KD_CHILD_LINE;
	for (i = 0; i < len && text[i] != '\0'; i++)
		line[i] = text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?';
	line[i] = '\0';
	kk_log(LOG_NOTICE, KK_MID_CONTROL, "%s: %s%s%s", k->name,
	    peer && peer[0] ? peer : "", peer && peer[0] ? ": " : "", line);
}

/*
 * SIGKILL, and nothing more of it read or written: what it left in the
 * socket was sent under the settings it was started with (a reload's
 * restart: fleet.groups may have changed, and with them what its words
 * name), or by code that had to be killed.
 */
static void
kill_unread(struct kd_child *c)
{
	c->killed = true;
	kill(c->pid, SIGKILL);
	kk_ipc_queue_clear(&c->out);
	sd_event_source_set_enabled(c->stall, SD_EVENT_OFF);
	if (c->io)
		sd_event_source_set_enabled(c->io, SD_EVENT_OFF);
}

void
kd_child_kill(struct kd_child *c, const char *why)
{
	if (c->pid <= 0 || c->killed)
		return;
	kk_log(LOG_WARNING, KK_MID_ERROR, "%s %d %s; restarting it",
	    c->kind->name, (int)c->pid, why);
	kill_unread(c);
}

/* What the io source waits for: input unless behind, output if any. */
static void
child_events(struct kd_child *c)
{
	uint32_t ev = 0;

	if (c->io == NULL || c->killed)
		return;
	/* backpressure: a child we cannot answer gets nothing more read */
	if (c->out.bytes < c->queue.pause)
		ev |= EPOLLIN;
	if (c->out.bytes > 0)
		ev |= EPOLLOUT;
	sd_event_source_set_io_events(c->io, ev);
}

static void
child_flush(struct kd_child *c)
{
	size_t written = 0;
	int armed = 0;

	if (c->fd < 0 || c->killed)
		return;
	/* a broken socket is a dead child: its exit cleans up */
	kk_ipc_queue_flush(&c->out, c->fd, &written);
	if (c->out.bytes == 0)
		sd_event_source_set_enabled(c->stall, SD_EVENT_OFF);
	else if (written > 0 || sd_event_source_get_enabled(c->stall,
	    &armed) < 0 || armed == SD_EVENT_OFF) {
		/* the child has stall_usec to take more, from its last progress */
		sd_event_source_set_time(c->stall, now_usec(c->d) +
		    c->queue.stall_usec);
		sd_event_source_set_enabled(c->stall, SD_EVENT_ONESHOT);
	}
	child_events(c);
}

void
kd_child_send(struct kd_child *c, uint32_t type, uint32_t conn,
    const void *body, size_t len)
{
	char why[96];

	if (c->fd < 0 || c->killed)
		return;
	if (kk_ipc_queue_add(&c->out, type, conn, NULL, body, len) < 0) {
		kd_child_kill(c, "cannot be answered (out of memory)");
		return;
	}
	if (c->out.bytes > c->queue.max) {
		snprintf(why, sizeof(why), "fell behind (%zu bytes not read)",
		    c->out.bytes);
		kd_child_kill(c, why);
		return;
	}
	child_flush(c);
}

static int
on_stall(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kd_child *c = userdata;
	char why[128];

	if (c->out.bytes == 0)
		return 0;
	snprintf(why, sizeof(why), "read nothing for %llu ms (%zu bytes waiting)",
	    (unsigned long long)(c->queue.stall_usec / 1000ULL), c->out.bytes);
	kd_child_kill(c, why);
	return 0;
}

/*
 * One framed message (freed here): the header checked for length, then
 * the row's.  Nonzero once the child is killed, so no more of it is read.
 */
static int
child_msg(void *arg, uint8_t *msg, size_t len)
{
	struct kd_child *c = arg;
	struct kk_ipc_hdr h;
	size_t i;

	if (len < sizeof(h))
		goto out;
	memcpy(&h, msg, sizeof(h));
	h.peer[sizeof(h.peer) - 1] = '\0';
	/* the child's words are data: printable ASCII only into the logs */
	for (i = 0; h.peer[i]; i++)
		if (h.peer[i] < 0x20 || h.peer[i] > 0x7e)
			h.peer[i] = '?';
	c->kind->message(c->d, c, &h, msg + sizeof(h), len - sizeof(h));
out:
	free(msg);
	return c->killed;
}

static int
on_child_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct kd_child *c = userdata;
	uint8_t buf[65536];
	ssize_t n;

	if (revents & EPOLLOUT)
		child_flush(c);
	/*
	 * Hung up while what it was sent waits (not read: the pause): no
	 * read will see the end, and epoll says so at every pass.  It reads
	 * nothing more either: over.
	 */
	if ((revents & (EPOLLHUP | EPOLLERR)) && !c->killed &&
	    c->out.bytes >= c->queue.pause) {
		kd_child_kill(c, "hung up with its answers unread");
		return 0;
	}
	if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) || c->killed ||
	    c->out.bytes >= c->queue.pause)
		goto out;
	n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		goto out;
	if (n <= 0) {
		/* gone: its exit cleans up */
		sd_event_source_set_enabled(s, SD_EVENT_OFF);
		return 0;
	}
	if (kk_frame_feed_each(&c->rd, buf, (size_t)n, NULL, child_msg,
	    c) < 0) {
		/* a child that breaks the protocol is not trusted further */
		kd_child_kill(c, "broke the IPC framing");
		return 0;
	}
out:
	child_events(c);
	return 0;
}

/* Its stdout and stderr, line by line. */
static void
log_drain(struct kd_child *c, bool all)
{
	char buf[4096];
	ssize_t n, i;

	/* bounded: one read a wake-up */
	n = read(c->log_fd, buf, sizeof(buf));
	for (i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			kd_child_words(c, NULL, c->line, c->line_len);
			c->line_len = 0;
		} else if (c->line_len < KD_CHILD_LINE) {
			c->line[c->line_len++] = buf[i];
		}
	}
	if ((n <= 0 && !(n < 0 && errno == EAGAIN)) || all) {
		if (c->line_len)
			kd_child_words(c, NULL, c->line, c->line_len);
		c->line_len = 0;
		if (n == 0 || all)
			sd_event_source_set_enabled(c->log_io, SD_EVENT_OFF);
	}
}

static int
on_child_log(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	log_drain(userdata, false);
	return 0;
}

static void
child_forget(struct kd_child *c)
{
	sd_event_source_disable_unref(c->io);
	sd_event_source_disable_unref(c->exit_src);
	sd_event_source_disable_unref(c->log_io);
	c->io = c->exit_src = c->log_io = NULL;
	c->fd = kk_close(c->fd);
	c->log_fd = kk_close(c->log_fd);
	c->pid = 0;
	kk_ipc_queue_clear(&c->out);
	sd_event_source_set_enabled(c->stall, SD_EVENT_OFF);
	kk_frame_reader_reset(&c->rd);
	c->killed = false;
	/* replies still on their way belong to this child: they go nowhere */
	c->gen++;
	if (c->kind->gone != NULL)
		c->kind->gone(c->d, c);
}

static int
on_restart_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kd_child *c = userdata;

	sd_event_source_disable_unref(c->restart);
	c->restart = NULL;
	kd_child_start(c);
	return 0;
}

/* Another attempt later: doubling from the row's first delay to its last. */
static void
schedule_start(struct kd_child *c, bool at_once)
{
	const struct kd_child_kind *k = c->kind;
	uint64_t delay = at_once ? 0 : k->backoff.first_usec <<
	    (c->restarts < 5 ? c->restarts : 5);

	if (c->restart != NULL || c->stopped)
		return;
	if (delay > k->backoff.most_usec)
		delay = k->backoff.most_usec;
	if (!at_once)
		c->restarts++;
	if (sd_event_add_time(c->d->ev, &c->restart, CLOCK_MONOTONIC,
	    now_usec(c->d) + delay, 0, on_restart_timer, c) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "cannot schedule the %s's restart",
		    k->name);
}

void
kd_child_retry_later(struct kd_child *c)
{
	schedule_start(c, false);
}

static int
on_child_exit(sd_event_source *s, const siginfo_t *si, void *userdata)
{
	struct kd_child *c = userdata;
	struct kd *d = c->d;
	bool at_once = c->reload;
	char action[32];
	size_t i;

	/*
	 * Stopped: the children share agent.user, and one compromised (the
	 * resolver runs NSS modules without a seccomp list) could SIGSTOP
	 * another, the network child say, with nothing queued to it that
	 * would stall.  Nothing of kakurid's stops them: it is killed, and
	 * started again when its exit comes.
	 */
	if (si->si_code == CLD_STOPPED || si->si_code == CLD_TRAPPED) {
		kd_child_kill(c, si->si_code == CLD_STOPPED ?
		    "was stopped by a signal" : "was stopped by a tracer");
		sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
		return 0;
	}
	/* what it said last belongs before the news of its death */
	if (c->log_io)
		log_drain(c, true);
	kk_log(LOG_WARNING, KK_MID_ERROR,
	    "%s %d %s %d; isolation is unaffected%s", c->kind->name,
	    (int)si->si_pid, si->si_code == CLD_EXITED ? "exited with" :
	    "killed by signal", si->si_status, c->stopped ? "" :
	    ", restarting it");
	/* its audit action is its name, one word: "network-child" */
	snprintf(action, sizeof(action), "%s", c->kind->name);
	for (i = 0; action[i] != '\0'; i++)
		if (action[i] == ' ')
			action[i] = '-';
	kd_audit(d, "kakurid", action, c->stopped ? "stopped" :
	    "restarted", json_pack("{s:i, s:i}", KW_PID, (int)si->si_pid,
	    KW_STATUS, si->si_status));
	if (now_usec(d) - c->started >= c->kind->backoff.healthy_usec)
		c->restarts = 0;
	c->reload = false;
	child_forget(c);
	schedule_start(c, at_once);
	return 0;
}

int
kd_child_start(struct kd_child *c)
{
	struct kd *d = c->d;
	bool retry = false;
	int r;

	c->stopped = false;
	if (c->pid > 0 || c->restart != NULL)
		return 0;
	r = c->kind->entry(d, c, &c->pid, &c->fd, &c->log_fd, &retry);
	if (r < 0) {
		c->pid = 0;
		c->fd = c->log_fd = -1;
		if (retry)
			schedule_start(c, false);
		return r;
	}
	c->started = now_usec(d);
	kk_frame_reader_init(&c->rd, c->kind->msg_max != 0 ?
	    c->kind->msg_max : KK_IPC_MAX);
	if ((r = sd_event_add_io(d->ev, &c->io, c->fd, EPOLLIN, on_child_io,
	    c)) < 0 ||
	    (r = sd_event_add_io(d->ev, &c->log_io, c->log_fd, EPOLLIN,
	    on_child_log, c)) < 0 ||
	    (r = sd_event_add_child(d->ev, &c->exit_src, c->pid,
	    WEXITED | WSTOPPED, on_child_exit, c)) < 0) {
		kill(c->pid, SIGKILL);
		waitpid(c->pid, NULL, 0);
		child_forget(c);
		schedule_start(c, false);
		return r;
	}
	if (c->kind->started != NULL)
		c->kind->started(d, c);
	return 0;
}

void
kd_child_restart(struct kd_child *c)
{
	c->restarts = 0;
	c->stopped = false;
	if (c->pid > 0) {
		/* the new settings with the next one, at once */
		c->reload = true;
		kill_unread(c);
		return;
	}
	/* a retry that was waiting: now, with the new settings */
	sd_event_source_disable_unref(c->restart);
	c->restart = NULL;
	kd_child_start(c);
}

void
kd_child_halt(struct kd_child *c)
{
	c->stopped = true;
	sd_event_source_disable_unref(c->restart);
	c->restart = NULL;
	if (c->pid > 0)
		kill_unread(c);
}

bool
kd_child_running(const struct kd_child *c)
{
	return c != NULL && c->pid > 0;
}

bool
kd_child_waiting(const struct kd_child *c)
{
	return c != NULL && c->restart != NULL;
}

struct kd_child *
kd_child_new(struct kd *d, const struct kd_child_kind *kind, void *data)
{
	struct kd_child *c;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->kind = kind;
	c->queue = kind->queue;
	if (c->queue.pause == 0)
		c->queue = (struct kd_child_queue){ KK_IPC_QUEUE_PAUSE,
		    KK_IPC_QUEUE_MAX, KK_IPC_STALL_USEC };
	c->d = d;
	c->data = data;
	c->fd = c->log_fd = -1;
	if (sd_event_add_time(d->ev, &c->stall, CLOCK_MONOTONIC, 0, 0,
	    on_stall, c) < 0) {
		free(c);
		return NULL;
	}
	sd_event_source_set_enabled(c->stall, SD_EVENT_OFF);
	return c;
}

void
kd_child_free(struct kd_child *c)
{
	if (c == NULL)
		return;
	c->stopped = true;
	if (c->pid > 0)
		kill(c->pid, SIGKILL);
	sd_event_source_disable_unref(c->restart);
	child_forget(c);
	sd_event_source_disable_unref(c->stall);
	free(c);
}

void
kd_child_other(struct kd_child *c, const struct kk_ipc_hdr *h,
    const uint8_t *body, size_t len)
{
	if (h->type == KK_IPC_LOG)
		kd_child_words(c, h->peer, (const char *)body, len);
	else
		kd_child_kill(c, "sent a message of an unknown type");
}

int
kd_child_user(struct kd *d, uid_t *uid, gid_t *gid, char *why,
    size_t whylen)
{
	/*
	 * As looked up at start or reload (resolve_ids): a child restarted
	 * at any time never waits for NSS on the event loop.
	 */
	if (!d->own_known || d->own_uid == 0) {
		snprintf(why, whylen, "agent.user '%.64s' %s", d->policy->user,
		    d->own_known ? "is root" : "did not exist at start or the "
		    "last reload");
		return -ENOENT;
	}
	*uid = d->own_uid;
	*gid = d->own_gid;
	return 0;
}
