/*
 * The courier's parent half (agentd/courier.c) with the fleet child as
 * its transport, as when no report.collector is set: the transport is a
 * row of the children table whose child is the test's own, on a
 * socketpair, answering every delivery as the test asks.  Driven by a
 * real sd-event loop, bounded in time.
 *
 * A compromised fleet child can answer every delivery with a garbage
 * ack and say "connected" as often as it likes: the refused acks of a
 * batch cost two audit lines, not one each, and "connected" does not cut
 * short the backoff that the refusals started.  A backoff because the
 * transport was down still ends when it says it is up again.
 *
 * A broker that delivers every ack twice (MQTT's "at least once"), or
 * holds one past the batch's time: the second answer to a message is
 * late, not a lie, and the fleet child that passed it on is not killed.
 *
 * A message of the batch that cannot be read when it is sent never holds
 * the ones behind it: set aside as a check sets a bad file aside, or, if
 * only the system lacks something now (descriptors), kept for later.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "children.h"
#include "courier.h"
#include "daemon.h"
#include "identity.h"
#include "ipc.h"
#include "outbox.h"
#include "sign.h"
#include "wire.h"
#include "suites.h"
#include "testutil.h"

#define MESSAGES	5

/* How the fake transport answers each delivery. */
enum answer { GARBAGE_ACK, REJECT, REJECT_TWICE };

static struct {
	enum answer how;
	unsigned answers;	/* answers of the child handed to the courier */
} fk;

static struct kd d;
static struct kk_policy policy;
static char work[PATH_MAX];
static struct kd_child *fake;

/* One framed message to the parent: header, body. */
static void
child_send(int fd, uint32_t type, uint32_t conn, const void *body,
    size_t len)
{
	struct kk_ipc_hdr h;
	uint8_t hdr[4];

	memset(&h, 0, sizeof(h));
	h.type = type;
	h.conn = conn;
	kk_frame_header(hdr, sizeof(h) + len, KK_IPC_MAX);
	(void)!write(fd, hdr, sizeof(hdr));
	(void)!write(fd, &h, sizeof(h));
	(void)!write(fd, body, len);
}

/* The child's side: every delivery answered as fk.how says. */
static void __attribute__((noreturn))
child_main(int ipc, int logfd)
{
	static const char why[] = "the broker's collector is not connected";
	struct kk_frame_reader rd;
	struct kk_ipc_hdr h;
	uint8_t buf[65536], ack[4 + 7 + 7];
	uint32_t cl = 7;
	size_t used, len, off;
	uint8_t *msg;
	ssize_t n;
	int r;

	/* a chain that is no chain, an ack that is no ack */
	memcpy(ack, &cl, 4);
	memcpy(ack + 4, "garbage", 7);
	memcpy(ack + 11, "garbage", 7);
	kk_frame_reader_init(&rd, KK_IPC_MAX);
	/* bounded: the parent kills it at the end of the test anyway */
	for (int i = 0; i < 10000; i++) {
		if ((n = read(ipc, buf, sizeof(buf))) <= 0)
			_exit(0);
		for (off = 0; off < (size_t)n; off += used) {
			r = kk_frame_feed(&rd, buf + off, (size_t)n - off, &used);
			if (r < 0)
				_exit(5);
			if (r != 1)
				continue;
			msg = kk_frame_take(&rd, &len);
			if (len >= sizeof(h)) {
				memcpy(&h, msg, sizeof(h));
				if (h.type == KK_IPC_DELIVER && fk.how == REJECT_TWICE)
					/* the same answer again, as a broker may */
					child_send(ipc, KK_IPC_REJECT, h.conn,
					    why, sizeof(why) - 1);
				if (h.type == KK_IPC_DELIVER && fk.how != GARBAGE_ACK)
					child_send(ipc, KK_IPC_REJECT, h.conn,
					    why, sizeof(why) - 1);
				else if (h.type == KK_IPC_DELIVER)
					child_send(ipc, KK_IPC_ACK, h.conn, ack,
					    sizeof(ack));
			}
			free(msg);
		}
	}
	_exit(0);
}

static int
fake_entry(struct kd *kd, struct kd_child *c, pid_t *pid, int *ipc,
    int *logfd, bool *retry)
{
	return kk_test_child_fork(child_main, pid, ipc, logfd);
}

/* As fleet.c's row: the answers to deliveries go to the courier. */
static void
fake_message(struct kd *kd, struct kd_child *c, const struct kk_ipc_hdr *h,
    const uint8_t *body, size_t len)
{
	if (h->type != KK_IPC_ACK && h->type != KK_IPC_REJECT)
		return;
	fk.answers++;
	kd_courier_answer(kd, c, h, body, len);
}

static const struct kd_child_kind fake_kind = {
	.name = "fake fleet child",
	.entry = fake_entry,
	.message = fake_message,
	.backoff = { 10 * 1000, 40 * 1000, 60ULL * 1000000ULL },
	.log = { 5, 1000000 },
	.queue = { KK_IPC_MAX, 2 * KK_IPC_MAX, KD_COURIER_ANSWER_USEC },
};

/* d.report_via: the fake child, while it runs (fleet.c: while connected) */
static struct kd_child *
fake_via(struct kd *kd)
{
	return fake != NULL && kd_child_running(fake) ? fake : NULL;
}

/*
 * An agent with its identity key, an audit log, an outbox holding
 * MESSAGES signed reports, reports through the broker (no
 * report.collector; report.collector_id to check the acks), and the fake
 * transport answering as how.
 */
static void
start(enum answer how)
{
	char id[33];
	json_t *body;
	sigset_t m;
	int i;

	memset(&fk, 0, sizeof(fk));
	fk.how = how;
	kk_test_workdir(work);
	memset(&d, 0, sizeof(d));
	kk_policy_defaults(&policy);
	snprintf(policy.state_dir, sizeof(policy.state_dir), "%s", work);
	snprintf(policy.fleet_broker, sizeof(policy.fleet_broker),
	    "127.0.0.1:8883");
	memset(policy.collector_id, 'a', KK_KEYID_HEX);
	policy.collector_id[KK_KEYID_HEX] = '\0';
	d.policy = &policy;
	ck_assert_int_eq(sd_event_new(&d.ev), 0);
	/* the child's exit is seen through SIGCHLD */
	sigemptyset(&m);
	sigaddset(&m, SIGCHLD);
	sigprocmask(SIG_BLOCK, &m, NULL);
	kk_test_outbox_kd(&d, work, true);
	for (i = 0; i < MESSAGES; i++) {
		body = json_pack("{s:s}", KW_MODE, "isolated");
		ck_assert_int_eq(kd_outbox_put(&d, KK_REPORT_DISCONNECT, body,
		    id), 0);
		json_decref(body);
	}
	d.report_via = fake_via;
	ck_assert_int_eq(kd_courier_start(&d), 0);
	ck_assert_ptr_nonnull(d.courier);
	fake = kd_child_new(&d, &fake_kind, NULL);
	ck_assert_ptr_nonnull(fake);
	ck_assert_int_eq(kd_child_start(fake), 0);
	ck_assert(kd_child_running(fake));
}

static void
finish(void)
{
	kd_courier_stop(&d);
	kd_child_free(fake);
	fake = NULL;
	d.ev = sd_event_unref(d.ev);
	kk_audit_close(&d.audit);
	kd_identity_free(&d);
}

static bool
busy(void)
{
	return strcmp(kd_courier_state(&d), "being delivered") == 0;
}

/* The batch sent and every message of it answered. */
static bool
batch_over(void)
{
	return fk.answers >= MESSAGES && !busy();
}

/* Runs the loop until done() or 20 s; whether done() came true. */
static bool
run_until(bool (*done)(void))
{
	struct timespec t0, now;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 100000; i++) {
		if (done())
			return true;
		sd_event_run(d.ev, 50 * 1000);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > 20)
			break;
	}
	return done();
}

/* The audit lines whose result is result, and the last of them. */
static unsigned
audit_count(const char *result, json_t **last)
{
	char *buf, *line, *save = NULL;
	unsigned n = 0;
	size_t len;
	json_t *o;

	*last = NULL;
	ck_assert_ptr_nonnull(buf = kk_test_read(d.audit_path, &len));
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if ((o = json_loads(line, 0, NULL)) == NULL)
			continue;
		if (json_is_string(json_object_get(o, KW_RESULT)) &&
		    strcmp(json_string_value(json_object_get(o, KW_RESULT)),
		    result) == 0) {
			n++;
			json_decref(*last);
			*last = json_incref(o);
		}
		json_decref(o);
	}
	free(buf);
	return n;
}

/*
 * Garbage acks for a whole batch: the first refusal in full, the rest in
 * one summary line; then "connected" sends nothing while the backoff the
 * refusals started runs.
 */
START_TEST(test_refused_acks_bounded)
{
	json_t *last;
	unsigned n;

	start(GARBAGE_ACK);
	kd_courier_kick(&d);
	ck_assert_msg(busy(), "the batch did not go to the transport");
	ck_assert_msg(run_until(batch_over), "the batch was not answered "
	    "within 20 s (%u answers)", fk.answers);
	ck_assert_uint_eq(fk.answers, MESSAGES);
	n = audit_count("ack-refused", &last);
	ck_assert_msg(n == 2, "%u refused acks of one batch: %u audit lines, "
	    "not one in full and one summary", MESSAGES, n);
	ck_assert_ptr_nonnull(last);
	ck_assert_int_eq(json_integer_value(json_object_get(last, KW_COUNT)),
	    MESSAGES);
	ck_assert_int_eq(json_integer_value(json_object_get(last,
	    KW_NOT_RECORDED)), MESSAGES - 1);
	json_decref(last);
	/* nothing was deleted: every message waits for a real ack */
	ck_assert_uint_eq(d.outbox.count, MESSAGES);

	/* the transport says it is connected, again and again */
	for (int i = 0; i < 10; i++) {
		kd_courier_transport_up(&d);
		ck_assert_msg(!busy(), "\"connected\" %d cut the backoff of "
		    "refused acks short: another batch was sent", i + 1);
	}
	/* nor does a new message: each would send a batch (fails on the old code) */
	for (int i = 0; i < 10; i++) {
		kd_courier_kick(&d);
		ck_assert_msg(!busy(), "a new message %d cut the backoff of "
		    "refused acks short: another batch was sent", i + 1);
	}
	ck_assert_uint_eq(audit_count("ack-refused", &last), 2);
	json_decref(last);
	finish();
}
END_TEST

/* A courier whose collector refuses: its first batch sent and answered. */
static void
first_batch_rejected(void)
{
	start(REJECT);
	kd_courier_kick(&d);
	ck_assert(busy());
	ck_assert_msg(run_until(batch_over), "the batch was not answered "
	    "within 20 s (%u answers)", fk.answers);
}

/*
 * The transport could not deliver (its collector away): the backoff
 * ends when the transport says it is connected again, but a second
 * after the failure at the soonest: one that says so in a loop and
 * answers each batch "not delivered" gets a batch a second, not as many
 * as it likes (each up to a MiB of the outbox read again).  The loop's
 * clock stands still between its turns: no time passes here between the
 * failure and the calls.
 */
START_TEST(test_transport_up_ends_backoff)
{
	json_t *last;

	first_batch_rejected();
	ck_assert_msg(strncmp(kd_courier_state(&d), "retrying: ", 10) == 0,
	    "not in its backoff: %s", kd_courier_state(&d));
	for (int i = 0; i < 10; i++) {
		kd_courier_transport_up(&d);
		ck_assert_msg(!busy(), "\"connected\" %d within the second "
		    "of the failure sent the batch again at once", i + 1);
	}
	ck_assert_msg(run_until(busy), "the batch was not sent again "
	    "within 20 s");
	ck_assert_uint_eq(audit_count("ack-refused", &last), 0);
	json_decref(last);
	finish();
}
END_TEST

static bool
all_answered_twice(void)
{
	return fk.answers >= 2 * MESSAGES && !busy();
}

/*
 * Every delivery answered twice: the batch ends as with one answer each
 * (in its backoff, nothing deleted), and the child is the same one, never
 * killed for "answering what was not asked".
 */
START_TEST(test_answer_twice_not_killed)
{
	pid_t pid;

	start(REJECT_TWICE);
	pid = fake->pid;
	kd_courier_kick(&d);
	ck_assert(busy());
	ck_assert_msg(run_until(all_answered_twice), "%u answers of %u "
	    "within 20 s", fk.answers, 2 * MESSAGES);
	ck_assert_uint_eq(fk.answers, 2 * MESSAGES);
	ck_assert_msg(kd_child_running(fake) && fake->pid == pid &&
	    fake->restarts == 0, "the child that passed a second answer on "
	    "was killed (pid %d, was %d; %u restarts)", (int)fake->pid,
	    (int)pid, fake->restarts);
	ck_assert_msg(strncmp(kd_courier_state(&d), "retrying: ", 10) == 0,
	    "not in its backoff: %s", kd_courier_state(&d));
	ck_assert_uint_eq(d.outbox.count, MESSAGES);
	finish();
}
END_TEST

/*
 * A child the batch did not go to answers it (the fleet child beside a
 * courier child): killed, and the batch goes on with its own child's
 * answers.  Before, its reject of the awaited token was taken.
 */
START_TEST(test_other_child_answer)
{
	static const char why[] = "not yours";
	struct kd_child *other;
	struct kk_ipc_hdr h;
	pid_t pid;

	start(REJECT);
	pid = fake->pid;
	other = kd_child_new(&d, &fake_kind, NULL);
	ck_assert_ptr_nonnull(other);
	ck_assert_int_eq(kd_child_start(other), 0);
	ck_assert(kd_child_running(other));
	kd_courier_kick(&d);
	ck_assert(busy());
	memset(&h, 0, sizeof(h));
	h.type = KK_IPC_REJECT;
	h.conn = 1;		/* the first delivery's token */
	kd_courier_answer(&d, other, &h, (const uint8_t *)why,
	    sizeof(why) - 1);
	ck_assert_msg(other->killed, "the other child's answer was taken");
	ck_assert(busy());
	ck_assert_msg(run_until(batch_over), "the batch was not answered "
	    "within 20 s (%u answers)", fk.answers);
	ck_assert_msg(kd_child_running(fake) && fake->pid == pid,
	    "the batch's own child was killed");
	kd_child_free(other);
	finish();
}
END_TEST

/*
 * The transport child dies with the batch it was given (a fleet child
 * restarted): the batch is failed at once, not left until its answers'
 * deadline (35 s and more); another child's death changes nothing.
 */
START_TEST(test_transport_gone_fails_batch)
{
	struct kd_child *other;

	start(REJECT);
	other = kd_child_new(&d, &fake_kind, NULL);
	ck_assert_ptr_nonnull(other);
	kd_courier_kick(&d);
	ck_assert(busy());
	kd_courier_transport_gone(&d, other);
	ck_assert_msg(busy(), "another child's death failed the batch");
	kd_courier_transport_gone(&d, fake);
	ck_assert_msg(strncmp(kd_courier_state(&d), "retrying: ", 10) == 0,
	    "the batch waits on a dead child: %s", kd_courier_state(&d));
	kd_child_free(other);
	finish();
}
END_TEST

/* the path of the oldest message (message names sort in seq order) */
static void
oldest_message(char path[PATH_MAX])
{
	char best[NAME_MAX + 1] = "";
	struct dirent *de;
	DIR *dir;

	ck_assert_ptr_nonnull(dir = opendir(d.outbox_dir));
	while ((de = readdir(dir)) != NULL)
		if (strlen(de->d_name) == 58 &&
		    strstr(de->d_name, ".dsse") != NULL &&
		    (best[0] == '\0' || strcmp(de->d_name, best) < 0))
			snprintf(best, sizeof(best), "%s", de->d_name);
	closedir(dir);
	ck_assert(best[0] != '\0');
	kk_test_join(path, d.outbox_dir, best);
}

/* The batch sent again but its first message, and answered. */
static bool
rest_answered(void)
{
	return fk.answers >= 2 * MESSAGES - 1 && !busy();
}

/*
 * The first message of a batch turns unreadable before the batch is sent
 * again (swapped for a symbolic link, never followed; the names of the
 * batch are kept, not read again): it is set aside as a check sets a bad
 * file aside, moved to outbox/corrupt and reported, and the rest goes at
 * once.  Before, the courier failed the batch on it and tried it again at
 * each backoff: no later report reached the CSIRT until a restart.
 */
START_TEST(test_unreadable_head_set_aside)
{
	char path[PATH_MAX], cdir[PATH_MAX];
	struct stat st;
	json_t *last;

	first_batch_rejected();
	oldest_message(path);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(symlink("/etc/passwd", path), 0);
	kd_courier_kick(&d);
	ck_assert_msg(run_until(rest_answered), "the %d messages behind an "
	    "unreadable one were not sent within 20 s (%u answers of %d; %s)",
	    MESSAGES - 1, fk.answers, 2 * MESSAGES - 1, kd_courier_state(&d));
	ck_assert_uint_eq(fk.answers, 2 * MESSAGES - 1);
	/* never deleted: in outbox/corrupt, audited, a tamper report queued */
	ck_assert_int_eq(lstat(path, &st), -1);
	kk_test_join(cdir, d.outbox_dir, "corrupt");
	ck_assert_uint_eq(kk_test_count_entries(cdir, NULL, NULL), 1);
	ck_assert_uint_eq(audit_count("moved-aside", &last), 1);
	ck_assert_ptr_nonnull(last);
	ck_assert_str_eq(json_string_value(json_object_get(last, KW_WHY)),
	    "is a symbolic link");
	json_decref(last);
	/* the four others and the tamper report wait (every batch rejected) */
	ck_assert_uint_eq(d.outbox.count, MESSAGES);
	ck_assert_uint_eq(d.outbox.corrupt, 1);
	finish();
}
END_TEST

/*
 * No descriptor to spare when the batch is sent again: that is no verdict
 * on its messages.  None is set aside or reported; all are kept, and sent
 * once the backoff is over.
 */
START_TEST(test_unreadable_now_kept)
{
	struct rlimit rl, low = { 256, 256 };
	char cdir[PATH_MAX];
	int fds[256], n = 0;
	json_t *last;

	first_batch_rejected();
	/* the outbox directory opens, its files do not (EMFILE) */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	low.rlim_max = rl.rlim_max;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (n < 256 && (fds[n] = dup(0)) >= 0)
		n++;
	ck_assert_int_eq(errno, EMFILE);
	ck_assert_int_gt(n, 0);
	close(fds[--n]);
	kd_courier_kick(&d);
	while (n > 0)
		close(fds[--n]);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	ck_assert_msg(!busy(), "a batch was sent without its messages");
	ck_assert_msg(strstr(kd_courier_state(&d), strerror(EMFILE)) != NULL,
	    "not retrying for want of descriptors: %s", kd_courier_state(&d));
	kk_test_join(cdir, d.outbox_dir, "corrupt");
	ck_assert_int_eq(access(cdir, F_OK), -1);
	ck_assert_uint_eq(audit_count("moved-aside", &last), 0);
	json_decref(last);
	ck_assert_uint_eq(d.outbox.count, MESSAGES);
	ck_assert_uint_eq(d.outbox.corrupt, 0);
	/* after the backoff, every one of them goes */
	ck_assert_msg(run_until(all_answered_twice), "%u answers of %u "
	    "within 20 s", fk.answers, 2 * MESSAGES);
	ck_assert_uint_eq(fk.answers, 2 * MESSAGES);
	finish();
}
END_TEST

KK_SUITE(courier_suite, "courier",
	KK_CASE("fleet transport", KK_TMPDIR, 0),
	    KK_TEST(test_refused_acks_bounded),
	    KK_TEST(test_transport_up_ends_backoff),
	    KK_TEST(test_transport_gone_fails_batch),
	    KK_TEST(test_answer_twice_not_killed),
	    KK_TEST(test_other_child_answer),
	    KK_TEST(test_unreadable_head_set_aside),
	    KK_TEST(test_unreadable_now_kept))
