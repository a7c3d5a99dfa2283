/*
 * kakurictl watch (issue 11, item 5): which event makes which notice,
 * in which words (ctl/notice.c), and kakurid's side of it, the watchers
 * (agentd/events.c): one frame per event, the limits per uid and in all,
 * and a watcher that does not read is dropped instead of holding kakurid.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <systemd/sd-event.h>

#include "kakuri.h"
#include "events.h"
#include "notice.h"
#include "suites.h"
#include "testutil.h"
#include "wire.h"

static unsigned long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 +
	    (unsigned long long)ts.tv_nsec / 1000000;
}

#define TITLE_EN	"IMPORTANT: this computer has been cut off from the network"
#define TITLE_JA	"【重要】このパソコンはネットワークから隔離されました"

static json_t *
msg(const char *text)
{
	json_t *o = json_loads(text, 0, NULL);

	ck_assert_ptr_nonnull(o);
	return o;
}

/* the notice of text (1) or none (0), the message freed */
static int
feed(struct notice_view *v, const char *text, struct notice *n)
{
	json_t *o = msg(text);
	int r = notice_of(v, o, n);

	json_decref(o);
	return r;
}

static const char status_open[] = "{\"ok\":true,\"mode\":\"open\","
    "\"drill\":false,\"contact\":{\"desk\":\"Desk 7\",\"phone\":\"0120\","
    "\"email\":\"csirt@example.invalid\"}}";
static const char ev_isolated[] = "{\"event\":\"mode\",\"mode\":\"isolated\","
    "\"episode\":\"e1\",\"by\":\"local\",\"drill\":false}";
static const char ev_open[] = "{\"event\":\"mode\",\"mode\":\"open\","
    "\"drill\":false}";

static const struct {
	const char *lang;
	const char *title;
	const char *guidance;	/* a line of guidance.c's */
	const char *release;
	const char *report;
	const char *disconnect;
} langs[] = {
	{ "en", TITLE_EN, "Keep the computer switched on",
	    "Connectivity is back", "Report", "Disconnect" },
	{ "ja", TITLE_JA, "電源は入れたまま", "通信が復旧しました",
	    "報告する", "切断する" },
};

START_TEST(test_isolation_release)
{
	struct notice_view v;
	struct notice n;

	notice_view_init(&v, langs[_i].lang, 1000);
	ck_assert_int_eq(feed(&v, status_open, &n), 0);
	ck_assert_int_eq(feed(&v, ev_isolated, &n), 1);
	ck_assert_str_eq(n.summary, langs[_i].title);
	ck_assert(n.actions && n.urgent);
	ck_assert_ptr_null(n.drill_id);
	ck_assert_ptr_nonnull(strstr(n.body, langs[_i].guidance));
	ck_assert_ptr_nonnull(strstr(n.body, "Desk 7"));
	ck_assert_ptr_nonnull(strstr(n.body, "e1"));
	ck_assert_ptr_null(strstr(n.body, langs[_i].title));
	notice_free(&n);
	/* the same isolation again (a reconnect): nothing new to show */
	ck_assert_int_eq(feed(&v, ev_isolated, &n), 0);
	ck_assert_int_eq(feed(&v, ev_open, &n), 1);
	ck_assert_str_eq(n.summary, langs[_i].release);
	ck_assert(!n.actions);
	notice_free(&n);
	ck_assert_int_eq(feed(&v, ev_open, &n), 0);
	ck_assert_str_eq(notice_action_label(&v, "report"), langs[_i].report);
	ck_assert_str_eq(notice_action_label(&v, "disconnect"),
	    langs[_i].disconnect);
	notice_view_reset(&v);
}
END_TEST

/* logging in while isolated shows it; a new episode or mode shows again */
START_TEST(test_status_isolated_and_changes)
{
	struct notice_view v;
	struct notice n;

	notice_view_init(&v, "en", 1000);
	ck_assert_int_eq(feed(&v, "{\"ok\":true,\"mode\":\"egress\","
	    "\"episode\":\"e2\"}", &n), 1);
	ck_assert_ptr_nonnull(strstr(n.summary, "e-mail and web access"));
	notice_free(&n);
	ck_assert_int_eq(feed(&v, "{\"event\":\"mode\",\"mode\":\"isolated\","
	    "\"episode\":\"e2\"}", &n), 1);
	ck_assert_str_eq(n.summary, TITLE_EN);
	notice_free(&n);
	ck_assert_int_eq(feed(&v, "{\"event\":\"mode\",\"mode\":\"isolated\","
	    "\"episode\":\"e3\"}", &n), 1);
	notice_free(&n);
	/* a real isolation during a drill is shown as one */
	ck_assert_int_eq(feed(&v, "{\"event\":\"mode\",\"mode\":\"isolated\","
	    "\"episode\":\"e4\",\"drill\":true}", &n), 1);
	ck_assert_str_eq(n.summary, TITLE_EN);
	notice_free(&n);
	/* neither an event nor an answer: nothing */
	ck_assert_int_eq(feed(&v, "{\"event\":\"other\"}", &n), 0);
	notice_view_reset(&v);
}
END_TEST

static const char drill_start[] = "{\"event\":\"drill\",\"phase\":\"start\","
    "\"drill\":{\"id\":\"d1\",\"kind\":\"%s\",\"announce\":%d,"
    "\"scenario\":\"fake invoice\"}}";

START_TEST(test_drill_announced)
{
	struct notice_view v;
	struct notice n;
	char text[512];
	json_t *id = json_string("d1");

	notice_view_init(&v, "en", 1000);
	ck_assert_int_eq(feed(&v, "{\"event\":\"drill\",\"phase\":\"announce\","
	    "\"drill\":{\"id\":\"d1\",\"kind\":\"live\",\"announce\":1}}", &n),
	    1);
	ck_assert_str_eq(n.summary, NOTICE_DRILL_SUMMARY);
	ck_assert(!n.actions);
	ck_assert_ptr_nonnull(strstr(n.body, "cut off from the network for a while"));
	notice_free(&n);
	ck_assert(!notice_drill_running(&v, id));
	snprintf(text, sizeof(text), drill_start, "tabletop", 1);
	ck_assert_int_eq(feed(&v, text, &n), 1);
	ck_assert_str_eq(n.summary, NOTICE_DRILL_SUMMARY);
	ck_assert(n.actions);
	ck_assert(json_equal(n.drill_id, id));
	ck_assert_ptr_nonnull(strstr(n.body, "Scenario: fake invoice"));
	ck_assert_ptr_nonnull(strstr(n.body, "Nothing is cut off"));
	notice_free(&n);
	ck_assert(notice_drill_running(&v, id));
	ck_assert_int_eq(feed(&v, "{\"event\":\"drill\",\"phase\":\"end\","
	    "\"drill\":{\"id\":\"d1\",\"announce\":1},\"result\":{\"result\":"
	    "\"ok\",\"end\":\"deadline\",\"employee\":{\"action\":\"report\","
	    "\"uid\":1000,\"action_ms\":1500.4}}}", &n), 1);
	ck_assert_ptr_nonnull(strstr(n.summary, NOTICE_DRILL_SUMMARY));
	ck_assert_ptr_nonnull(strstr(n.body, "Your response: Report (after 1.5 s)"));
	ck_assert_ptr_nonnull(strstr(n.body, "Result of the drill: ok"));
	notice_free(&n);
	ck_assert(!notice_drill_running(&v, id));
	json_decref(id);
	notice_view_reset(&v);
}
END_TEST

/* a drill's end after a real isolation, in lang: its notice says want */
static void
called_off_says(const char *lang, const char *want)
{
	struct notice_view v;
	struct notice n;

	notice_view_init(&v, lang, 1000);
	ck_assert_int_eq(feed(&v, "{\"event\":\"drill\",\"phase\":\"end\","
	    "\"drill\":{\"id\":\"d3\"},\"result\":{\"result\":\"aborted\","
	    "\"end\":\"quarantined\"}}", &n), 1);
	ck_assert_msg(strstr(n.body, want) != NULL, "%s", n.body);
	notice_free(&n);
	notice_view_reset(&v);
}

/* unannounced, it looks like the real thing; the end says whose it was */
START_TEST(test_drill_unannounced)
{
	struct notice_view v;
	struct notice n;
	char text[512];

	notice_view_init(&v, "ja", 1000);
	ck_assert_int_eq(feed(&v, "{\"event\":\"drill\",\"phase\":\"announce\","
	    "\"drill\":{\"id\":\"d1\",\"announce\":0}}", &n), 0);
	snprintf(text, sizeof(text), drill_start, "live", 0);
	ck_assert_int_eq(feed(&v, text, &n), 1);
	ck_assert_str_eq(n.summary, TITLE_JA);
	ck_assert(n.actions);
	ck_assert_str_eq(json_string_value(n.drill_id), "d1");
	notice_free(&n);
	ck_assert_int_eq(feed(&v, "{\"event\":\"drill\",\"phase\":\"end\","
	    "\"drill\":{\"id\":\"d1\"},\"result\":{\"result\":\"ok\","
	    "\"employee\":{\"action\":\"disconnect\",\"uid\":1001,"
	    "\"action_ms\":900}}}", &n), 1);
	ck_assert_ptr_nonnull(strstr(n.body, "対応は別の利用者が行いました"));
	notice_free(&n);
	/* kakurid says only that another user responded, not who */
	ck_assert_int_eq(feed(&v, "{\"event\":\"drill\",\"phase\":\"end\","
	    "\"drill\":{\"id\":\"d1\"},\"result\":{\"result\":\"ok\","
	    "\"employee\":{\"other\":true}}}", &n), 1);
	ck_assert_ptr_nonnull(strstr(n.body, "対応は別の利用者が行いました"));
	ck_assert_ptr_null(strstr(n.body, "なし"));
	notice_free(&n);
	ck_assert_int_eq(feed(&v, "{\"event\":\"drill\",\"phase\":\"end\","
	    "\"drill\":{\"id\":\"d2\"},\"result\":{\"result\":\"ok\"}}", &n), 1);
	ck_assert_ptr_nonnull(strstr(n.body, "あなたの対応：なし"));
	ck_assert_ptr_null(strstr(n.body, "実際に切断されています"));
	notice_free(&n);
	notice_view_reset(&v);
	/*
	 * called off by a real isolation: the drill's last notice, after
	 * the real one, says the cut is real (fails on the old code)
	 */
	called_off_says("ja", "実際に切断されています");
	called_off_says("en", "cut off for real, not by the drill");
}
END_TEST

/* the frames a socket holds now, each parsed and checked for "event" */
static int
frames(int fd, const char *want_event)
{
	struct kk_frame_reader rd;
	uint8_t buf[65536], *body;
	size_t used, off, blen;
	ssize_t n;
	int count = 0, r;
	json_t *o;

	kk_frame_reader_init(&rd, KK_FRAME_MAX);
	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		for (off = 0; off < (size_t)n; off += used) {
			r = kk_frame_feed(&rd, buf + off, (size_t)n - off, &used);
			ck_assert_int_ge(r, 0);
			if (r != 1)
				continue;
			body = kk_frame_take(&rd, &blen);
			o = json_loadb((const char *)body, blen, 0, NULL);
			ck_assert_ptr_nonnull(o);
			if (count > 0 && want_event != NULL)
				ck_assert_str_eq(json_string_value(
				    json_object_get(o, KW_EVENT)), want_event);
			json_decref(o);
			free(body);
			count++;
		}
	}
	kk_frame_reader_reset(&rd);
	return count;
}

START_TEST(test_watchers_frames_and_limits)
{
	struct kd_watchers *w;
	sd_event *ev;
	json_t *first = json_pack("{s:b, s:s}", KW_OK, 1, KW_MODE, "open");
	json_t *e = json_pack("{s:s, s:s}", KW_EVENT, "mode", KW_MODE,
	    "isolated");
	int sp[KD_WATCH_MAX + 1][2], i;

	ck_assert_int_ge(sd_event_new(&ev), 0);
	w = kd_watchers_new(ev);
	ck_assert_ptr_nonnull(w);
	for (i = 0; i <= KD_WATCH_MAX; i++)
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
		    0, sp[i]), 0);
	ck_assert_int_eq(kd_watchers_add(w, sp[0][0], 1000, KK_PEER_OTHER,
	    first), 0);
	ck_assert_int_eq(kd_watchers_add(w, sp[1][0], 1000, KK_PEER_OTHER,
	    first), 0);
	ck_assert_int_eq(kd_watchers_room(w, 1000, KK_PEER_OTHER), -EUSERS);
	ck_assert_int_eq(kd_watchers_add(w, sp[2][0], 1000, KK_PEER_OTHER,
	    first), -EUSERS);
	ck_assert_uint_eq(kd_watchers_count(w), 2);
	/* the answer, then one frame per event */
	kd_watchers_emit(w, e);
	kd_watchers_emit(w, e);
	ck_assert_int_eq(frames(sp[0][1], "mode"), 3);
	ck_assert_int_eq(frames(sp[1][1], "mode"), 3);
	/* in all: KD_WATCH_MAX, one (staff) uid each */
	for (i = 3; i <= KD_WATCH_MAX; i++)
		ck_assert_int_eq(kd_watchers_add(w, sp[i][0], (uid_t)(2000 + i),
		    KK_PEER_STAFF, first), i - 1 < KD_WATCH_MAX ? 0 : -EBUSY);
	ck_assert_uint_eq(kd_watchers_count(w), KD_WATCH_MAX);
	/* a byte from a watcher, or its end, ends it */
	ck_assert_int_eq(write(sp[0][1], "x", 1), 1);
	close(sp[1][1]);
	for (i = 0; i < 10 && kd_watchers_count(w) > KD_WATCH_MAX - 2; i++)
		sd_event_run(ev, 100000);
	ck_assert_uint_eq(kd_watchers_count(w), KD_WATCH_MAX - 2);
	kd_watchers_free(w);
	close(sp[0][1]);
	for (i = 2; i <= KD_WATCH_MAX; i++)
		close(sp[i][1]);
	sd_event_unref(ev);
	json_decref(first);
	json_decref(e);
}
END_TEST

/* one that does not read: dropped once its queue is full, never waited for */
START_TEST(test_watcher_behind_is_dropped)
{
	struct kd_watchers *w;
	sd_event *ev;
	json_t *first = json_pack("{s:b}", KW_OK, 1), *e;
	char *big = malloc(8192);
	int slow[2], quick[2], i, got = 0;
	int sndbuf = 4096;
	unsigned long long t0;

	ck_assert_ptr_nonnull(big);
	memset(big, 'x', 8191);
	big[8191] = '\0';
	e = json_pack("{s:s, s:s}", KW_EVENT, "mode", KW_BY, big);
	ck_assert_int_ge(sd_event_new(&ev), 0);
	w = kd_watchers_new(ev);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, slow), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, quick), 0);
	setsockopt(slow[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	ck_assert_int_eq(kd_watchers_add(w, slow[0], 1000, KK_PEER_OTHER,
	    first), 0);
	ck_assert_int_eq(kd_watchers_add(w, quick[0], 1001, KK_PEER_OTHER,
	    first), 0);
	t0 = now_ms();
	for (i = 0; i < 200 && kd_watchers_count(w) == 2; i++) {
		kd_watchers_emit(w, e);
		got += frames(quick[1], NULL);
	}
	ck_assert_uint_eq(kd_watchers_count(w), 1);
	/* the queue's limit, not the socket, decides: never after 64 KiB + buffers */
	ck_assert_int_lt(i, 200);
	ck_assert_uint_lt(now_ms() - t0, 2000);
	/* the one that reads got every frame */
	kd_watchers_emit(w, e);
	got += frames(quick[1], NULL);
	ck_assert_int_eq(got, i + 2);
	/* the slow one's end is seen: its connection was closed */
	ck_assert_int_eq(frames(slow[1], NULL) >= 1, 1);
	ck_assert_int_eq(recv(slow[1], big, 1, MSG_DONTWAIT), 0);
	kd_watchers_free(w);
	close(slow[1]);
	close(quick[1]);
	sd_event_unref(ev);
	json_decref(first);
	json_decref(e);
	free(big);
}
END_TEST

/*
 * Users outside the staff take every watcher they can, two uids' worth
 * each: they stop at their share, and staff members and root still get
 * in, up to the limit of all; the per-uid limit is the same for every
 * class; a share freed is theirs again.
 */
START_TEST(test_watchers_staff_share)
{
	struct kd_watchers *w;
	sd_event *ev;
	json_t *first = json_pack("{s:b}", KW_OK, 1);
	int sp[KD_WATCH_MAX + 8][2], k = 0, i, r = 0;
	uid_t uid;

	ck_assert_int_ge(sd_event_new(&ev), 0);
	w = kd_watchers_new(ev);
	ck_assert_ptr_nonnull(w);
	for (i = 0; i < KD_WATCH_MAX + 8; i++)
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
		    0, sp[i]), 0);
	/* others, up to the per-uid limit each, until refused as busy */
	for (uid = 3000; r == 0 && k < KD_WATCH_MAX; uid++)
		for (i = 0; i < KD_WATCH_PER_UID && r == 0; i++)
			r = kd_watchers_add(w, sp[k++][0], uid, KK_PEER_OTHER,
			    first);
	ck_assert_int_eq(r, -EBUSY);
	ck_assert_uint_eq(kd_watchers_others(w),
	    KD_WATCH_MAX - KD_WATCH_STAFF_RESERVED);
	ck_assert_uint_eq(kd_watchers_count(w),
	    KD_WATCH_MAX - KD_WATCH_STAFF_RESERVED);
	/* a new uid outside the staff: busy; one at its own limit: busy-uid */
	ck_assert_int_eq(kd_watchers_room(w, 9999, KK_PEER_OTHER), -EBUSY);
	ck_assert_int_eq(kd_watchers_room(w, 3000, KK_PEER_OTHER), -EUSERS);
	/* staff and root still get in */
	ck_assert_int_eq(kd_watchers_room(w, 4242, KK_PEER_STAFF), 0);
	ck_assert_int_eq(kd_watchers_room(w, 0, KK_PEER_ROOT), 0);
	/* root's per-uid limit is unchanged: two, then busy-uid */
	for (i = 0; i < KD_WATCH_PER_UID; i++)
		ck_assert_int_eq(kd_watchers_add(w, sp[k++][0], 0, KK_PEER_ROOT,
		    first), 0);
	ck_assert_int_eq(kd_watchers_room(w, 0, KK_PEER_ROOT), -EUSERS);
	/* staff members fill the rest, then the limit of all holds */
	for (uid = 4000; kd_watchers_count(w) < KD_WATCH_MAX; uid++)
		for (i = 0; i < KD_WATCH_PER_UID &&
		    kd_watchers_count(w) < KD_WATCH_MAX; i++)
			ck_assert_int_eq(kd_watchers_add(w, sp[k++][0], uid,
			    KK_PEER_STAFF, first), 0);
	ck_assert_int_eq(kd_watchers_room(w, 4999, KK_PEER_STAFF), -EBUSY);
	ck_assert_int_eq(kd_watchers_add(w, sp[k++][0], 4999, KK_PEER_STAFF,
	    first), -EBUSY);
	ck_assert_uint_eq(kd_watchers_count(w), KD_WATCH_MAX);
	ck_assert_uint_eq(kd_watchers_others(w),
	    KD_WATCH_MAX - KD_WATCH_STAFF_RESERVED);
	/* one of the others' ends: one of them may watch again */
	close(sp[0][1]);
	sp[0][1] = -1;
	for (i = 0; i < 10 && kd_watchers_count(w) == KD_WATCH_MAX; i++)
		sd_event_run(ev, 100000);
	ck_assert_uint_eq(kd_watchers_others(w),
	    KD_WATCH_MAX - KD_WATCH_STAFF_RESERVED - 1);
	ck_assert_int_eq(kd_watchers_room(w, 9999, KK_PEER_OTHER), 0);
	kd_watchers_free(w);
	/* what was not handed over is still ours to close */
	for (i = 0; i < KD_WATCH_MAX + 8; i++) {
		if (i >= k)
			close(sp[i][0]);
		kk_close(sp[i][1]);
	}
	sd_event_unref(ev);
	json_decref(first);
}
END_TEST

KK_SUITE(watch_suite, "watch",
	KK_CASE("notice", 0, 0),
	    KK_LOOP(test_isolation_release, KK_NITEMS(langs)),
	    KK_TEST(test_status_isolated_and_changes),
	    KK_TEST(test_drill_announced), KK_TEST(test_drill_unannounced),
	KK_CASE("watchers", 0, 0), KK_TEST(test_watchers_frames_and_limits),
	    KK_TEST(test_watcher_behind_is_dropped),
	    KK_TEST(test_watchers_staff_share))
