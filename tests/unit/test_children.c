/*
 * The children table's supervision (agentd/children.c), with a row of the
 * test's own: its entry forks a child that behaves as the test asks (an
 * echo, a framing breaker, one that dies at once, one that never reads),
 * and the parent side is driven by a real sd-event loop, bounded in time.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "children.h"
#include "daemon.h"
#include "ipc.h"
#include "suites.h"
#include "testutil.h"

enum behaviour { ECHO, BREAK_FRAMING, DIE, DEAF, HANG_UP };

static struct {
	enum behaviour how;
	unsigned starts;		/* entries that forked a child */
	pid_t last_pid;
	unsigned messages;		/* handed to the row's handler */
	uint32_t last_type;
	char last_body[64];
	unsigned gone;
} seen;

/* The child's side: one behaviour, then _exit. */
static void __attribute__((noreturn))
child_main(int ipc, int logfd)
{
	struct kk_frame_reader rd;
	uint8_t buf[4096];
	size_t used, len;
	ssize_t n;
	int r;

	switch (seen.how) {
	case DIE:
		_exit(3);
	case DEAF:
		/* never reads: the parent's queue for it only grows */
		pause();
		_exit(0);
	case HANG_UP: {
		/* reads nothing, then shuts its socket both ways and waits */
		struct timespec ts = { 0, 500 * 1000 * 1000 };

		nanosleep(&ts, NULL);
		shutdown(ipc, SHUT_RDWR);
		pause();
		_exit(0);
	}
	case BREAK_FRAMING: {
		static const uint8_t bad[4] = { 0xff, 0xff, 0xff, 0xff };

		(void)!write(ipc, bad, sizeof(bad));
		pause();
		_exit(0);
	}
	case ECHO:
		break;
	}
	(void)!write(logfd, "hello from the child\n", 21);
	kk_frame_reader_init(&rd, KK_IPC_MAX);
	/* bounded: the parent kills it at the end of the test anyway */
	for (int i = 0; i < 1000; i++) {
		n = read(ipc, buf, sizeof(buf));
		if (n <= 0)
			_exit(0);
		for (size_t off = 0; off < (size_t)n; off += used) {
			r = kk_frame_feed(&rd, buf + off, (size_t)n - off, &used);
			if (r < 0)
				_exit(5);
			if (r == 1) {
				uint8_t *msg = kk_frame_take(&rd, &len);
				uint8_t hdr[4];

				kk_frame_header(hdr, len, KK_IPC_MAX);
				(void)!write(ipc, hdr, 4);
				(void)!write(ipc, msg, len);
				free(msg);
			}
		}
	}
	_exit(0);
}

static int
test_entry(struct kd *d, struct kd_child *c, pid_t *pid, int *ipc, int *logfd,
    bool *retry)
{
	int r;

	*retry = true;
	if ((r = kk_test_child_fork(child_main, pid, ipc, logfd)) < 0)
		return r;
	seen.starts++;
	seen.last_pid = *pid;
	return 0;
}

static void
test_message(struct kd *d, struct kd_child *c, const struct kk_ipc_hdr *h,
    const uint8_t *body, size_t len)
{
	seen.messages++;
	seen.last_type = h->type;
	if (len >= sizeof(seen.last_body))
		len = sizeof(seen.last_body) - 1;
	memcpy(seen.last_body, body, len);
	seen.last_body[len] = '\0';
}

static void
test_gone(struct kd *d, struct kd_child *c)
{
	seen.gone++;
}

static const struct kd_child_kind test_kind = {
	.name = "test child",
	.entry = test_entry,
	.message = test_message,
	.gone = test_gone,
	.backoff = { 10 * 1000, 40 * 1000, 60ULL * 1000000ULL },
	.log = { 5, 1000000 },
	.queue = { 64 * 1024, 256 * 1024, 60ULL * 1000000ULL },
};

static struct kd d;
static struct kk_policy policy;

static void
setup(void)
{
	memset(&seen, 0, sizeof(seen));
	memset(&d, 0, sizeof(d));
	d.audit.fd = -1;
	d.policy = &policy;
	ck_assert_int_eq(sd_event_new(&d.ev), 0);
	/* the child's exit is seen through SIGCHLD */
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGCHLD);
	sigprocmask(SIG_BLOCK, &m, NULL);
}

static void
teardown(void)
{
	d.ev = sd_event_unref(d.ev);
}

/* Runs the loop until done() or 20 s; whether done() came true. */
static bool
run_until(bool (*done)(struct kd_child *), struct kd_child *c)
{
	struct timespec t0, now;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 100000; i++) {
		if (done(c))
			return true;
		sd_event_run(d.ev, 50 * 1000);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > 20)
			break;
	}
	return done(c);
}

static bool
got_message(struct kd_child *c)
{
	return seen.messages > 0;
}

static bool
restarted_twice(struct kd_child *c)
{
	return seen.starts >= 3 && kd_child_running(c);
}

static bool
started_again(struct kd_child *c)
{
	return seen.starts >= 2 && kd_child_running(c);
}

static pid_t first_pid;

static bool
first_one_gone(struct kd_child *c)
{
	return seen.gone >= 1 && kill(first_pid, 0) < 0;
}

/*
 * A child of test_kind that behaves as how, started; first_pid is its
 * first process.
 */
static struct kd_child *
start_child(enum behaviour how)
{
	struct kd_child *c;

	seen.how = how;
	c = kd_child_new(&d, &test_kind, NULL);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(kd_child_start(c), 0);
	first_pid = seen.last_pid;
	return c;
}

START_TEST(test_echo_typed)
{
	struct kd_child *c = start_child(ECHO);

	ck_assert(kd_child_running(c));
	kd_child_send(c, 42, 7, "ping", 4);
	ck_assert_msg(run_until(got_message, c), "no echo within 20 s");
	ck_assert_uint_eq(seen.last_type, 42);
	ck_assert_str_eq(seen.last_body, "ping");
	ck_assert_uint_eq(seen.starts, 1);
	kd_child_free(c);
}
END_TEST

/* A child that breaks the framing is killed and another one started. */
START_TEST(test_broken_framing_restarts)
{
	struct kd_child *c = start_child(BREAK_FRAMING);

	ck_assert_msg(run_until(started_again, c),
	    "not started again (%u starts)", seen.starts);
	ck_assert_int_ne(c->pid, first_pid);
	ck_assert_uint_ge(seen.gone, 1);
	ck_assert_uint_eq(seen.messages, 0);
	kd_child_free(c);
}
END_TEST

/* One that keeps dying is started again, with the backoff counting up. */
START_TEST(test_dies_backoff)
{
	struct kd_child *c = start_child(DIE);

	ck_assert_msg(run_until(restarted_twice, c) || seen.starts >= 3,
	    "not restarted (%u starts)", seen.starts);
	ck_assert_uint_ge(c->restarts, 2);
	kd_child_free(c);
}
END_TEST

/* One that reads nothing while its queue grows past the row's limit. */
START_TEST(test_deaf_is_killed)
{
	static char body[60000];
	struct kd_child *c = start_child(DEAF);
	int i;

	/* socket buffers take some; the queue takes the rest, up to 256 KiB */
	for (i = 0; i < 200 && !c->killed; i++)
		kd_child_send(c, 1, 0, body, sizeof(body));
	ck_assert_msg(c->killed, "a child that reads nothing was not killed");
	ck_assert_uint_eq(c->out.bytes, 0);
	ck_assert_msg(run_until(first_one_gone, c), "the deaf child lives on");
	kd_child_free(c);
}
END_TEST

/*
 * One that hangs up while the parent's queue for it is past the pause
 * (nothing of it read any more): killed at once, not left for the stall
 * timer (60 s in this row) while epoll reports the hang-up at every pass.
 */
START_TEST(test_hang_up_while_paused_is_killed)
{
	static char body[16000];
	struct kd_child *c = start_child(HANG_UP);
	int i;

	for (i = 0; i < 400 && c->out.bytes < test_kind.queue.pause; i++)
		kd_child_send(c, 1, 0, body, sizeof(body));
	ck_assert_msg(c->out.bytes >= test_kind.queue.pause && !c->killed,
	    "the queue did not reach the pause (%zu bytes)", c->out.bytes);
	ck_assert_msg(run_until(first_one_gone, c), "the child that hung up "
	    "was not killed within 20 s");
	kd_child_free(c);
}
END_TEST

/* Halted, it stays down; no restart is waiting. */
START_TEST(test_halt_stays_down)
{
	struct kd_child *c = start_child(ECHO);

	kd_child_halt(c);
	ck_assert_msg(run_until(first_one_gone, c), "the halted child lives on");
	ck_assert(!kd_child_running(c));
	ck_assert(!kd_child_waiting(c));
	ck_assert_uint_eq(seen.starts, 1);
	kd_child_free(c);
}
END_TEST

/* The frames one kk_ipc_read_frames hands over; *stop_at > 0 stops there. */
static struct {
	unsigned n;
	char last[16];
} got;

static int
take_frame(void *arg, uint8_t *body, size_t len)
{
	const unsigned *stop_at = arg;

	snprintf(got.last, sizeof(got.last), "%.*s", (int)len, (char *)body);
	free(body);
	got.n++;
	return *stop_at > 0 && got.n >= *stop_at;
}

/*
 * The reading side both the control socket and the network child use:
 * nothing to read is nothing; every frame of one read is handed over,
 * up to a handler that stops (the rest dropped); a broken framing and
 * a peer gone are told apart.
 */
START_TEST(test_ipc_read_frames)
{
	/* frames written (NULL: none), then one read */
	static const struct {
		const char *frames[2];
		unsigned stop_at;
		int ret;
		unsigned n;		/* frames handed over so far */
		const char *last;
	} steps[] = {
		/* nothing to read: nothing happens */
		{ { NULL, NULL }, 0, 0, 0, "" },
		/* every frame of one read */
		{ { "one", "two" }, 0, 0, 2, "two" },
		/* a handler that stops: its value, the rest of the read dropped */
		{ { "three", "four" }, 3, 1, 3, "three" },
		{ { NULL, NULL }, 3, 0, 3, "three" },
	};
	static const uint8_t zero_len[4];
	struct kk_frame_reader rd;
	unsigned stop_at = 0;
	size_t i, j;
	int sv[2];

	memset(&got, 0, sizeof(got));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	kk_frame_reader_init(&rd, 64);
	for (i = 0; i < KK_NITEMS(steps); i++) {
		for (j = 0; j < 2 && steps[i].frames[j] != NULL; j++)
			ck_assert_int_eq(kk_frame_write(sv[1], steps[i].frames[j],
			    strlen(steps[i].frames[j])), 0);
		stop_at = steps[i].stop_at;
		ck_assert_int_eq(kk_ipc_read_frames(sv[0], &rd, take_frame,
		    &stop_at), steps[i].ret);
		ck_assert_uint_eq(got.n, steps[i].n);
		ck_assert_str_eq(got.last, steps[i].last);
	}

	ck_assert_int_eq(kk_write_all(sv[1], zero_len, sizeof(zero_len)), 0);
	ck_assert_int_eq(kk_ipc_read_frames(sv[0], &rd, take_frame, &stop_at),
	    -EBADMSG);
	kk_frame_reader_reset(&rd);

	close(sv[1]);
	ck_assert_int_eq(kk_ipc_read_frames(sv[0], &rd, take_frame, &stop_at),
	    -EPIPE);
	ck_assert_uint_eq(got.n, 3);
	kk_frame_reader_reset(&rd);
	close(sv[0]);
}
END_TEST

KK_SUITE(children_suite, "children",
	KK_CASE_FIXTURE("children", KK_CHECKED, 0, setup, teardown),
	    KK_TEST(test_echo_typed),
	    KK_TEST(test_broken_framing_restarts),
	    KK_TEST(test_dies_backoff),
	    KK_TEST(test_deaf_is_killed),
	    KK_TEST(test_hang_up_while_paused_is_killed),
	    KK_TEST(test_halt_stays_down),
	KK_CASE("ipc read", 0, 0), KK_TEST(test_ipc_read_frames))
