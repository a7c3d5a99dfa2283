/*
 * kakurictl watch: the employee's side of kakurid, a per-user session
 * agent (systemd/kakuri-watch.service, desktop/kakuri-watch.desktop).
 *
 * It asks kakurid for "watch" on the control socket and follows the
 * events (wire.h) in an sd-event loop, reconnecting with a bounded
 * backoff when kakurid restarts.  Each event's notice (notice.c) goes to
 * the desktop through the freedesktop Notifications interface on the
 * session bus (sd-bus; no toolkit), with the buttons Report and
 * Disconnect where the server has actions; without a session bus, or
 * when the server does not take it, to the terminal.  During a drill,
 * what the employee saw and pressed goes back to kakurid (drill-event),
 * which times it.  Nothing here runs a shell: the terminal for the
 * report form is exec'd with an argv.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "kakuri.h"
#include "client.h"
#include "commands.h"
#include "guidance.h"
#include "notice.h"
#include "options.h"
#include "output.h"
#include "wire.h"

#define NOTIFY_DEST	"org.freedesktop.Notifications"
#define NOTIFY_PATH	"/org/freedesktop/Notifications"
#define NOTIFY_IFACE	"org.freedesktop.Notifications"
#define APP_NAME	"kakuri"
#define BUS_CALL_USEC	(2ULL * 1000000ULL)
#define RETRY_MIN_S	1
#define RETRY_MAX_S	30
#define SHOWN_MAX	16	/* notices whose buttons are remembered */
#define DEFAULT_TERMINAL "x-terminal-emulator"

/*
 * A notice on the desktop: the server that took it (its unique name: a
 * restarted server counts its ids from 1 again), its id there, and its
 * drill's id.
 */
struct shown {
	char server[64];
	uint32_t id;
	json_t *drill_id;
};

struct watch {
	struct ctl *c;
	sd_event *ev;
	sd_bus *bus;			/* NULL: the terminal */
	const char *terminal;
	bool once;
	char self[PATH_MAX];
	int fd;				/* to kakurid, or -1 */
	sd_event_source *io;
	sd_event_source *retry;
	struct kk_frame_reader rd;
	bool answered;
	unsigned backoff;
	struct notice_view v;
	struct shown shown[SHOWN_MAX];
	unsigned next_shown;
};

/* A Notify call on its way: the notice, for the terminal if it fails. */
struct pending {
	struct watch *w;
	struct notice n;
};

static void connect_agent(struct watch *w);

static void
finish(struct watch *w, int status)
{
	sd_event_exit(w->ev, status);
}

/* One request to kakurid besides the watch; its refusal is one line. */
static json_t *
ask(struct watch *w, json_t *req)
{
	json_t *resp = NULL;

	if (ctl_call(w->c, req, &resp) != EX_DONE) {
		json_decref(resp);
		return NULL;
	}
	return resp;
}

/* A drill's step the employee took, for kakurid to time. */
static void
drill_event(struct watch *w, json_t *id, const char *what)
{
	json_decref(ask(w, json_pack("{s:s, s:O, s:s}", KW_CMD,
	    kk_op_name(KK_OP_DRILL_EVENT), KW_DRILL, id, KW_WHAT, what)));
}

static void
print_notice(const struct notice *n)
{
	printf("== kakuri: %s ==\n%s", n->summary, n->body);
	if (n->body[0] != '\0' && n->body[strlen(n->body) - 1] != '\n')
		putchar('\n');
	if (n->actions)
		printf("-> kakurictl report / kakurictl disconnect\n");
	putchar('\n');
	fflush(stdout);
}

/* The notice is in front of the employee. */
static void
notice_seen(struct watch *w, struct notice *n, const char *server,
    uint32_t id)
{
	struct shown *s;

	if (id != 0 && server != NULL) {
		s = &w->shown[w->next_shown++ % SHOWN_MAX];
		json_decref(s->drill_id);
		snprintf(s->server, sizeof(s->server), "%s", server);
		s->id = id;
		s->drill_id = json_incref(n->drill_id);
	}
	if (n->drill_id != NULL && notice_drill_running(&w->v, n->drill_id))
		drill_event(w, n->drill_id, KW_NOTIFIED);
	if (w->once)
		finish(w, EX_DONE);
}

static int
notify_done(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct pending *p = userdata;
	uint32_t id = 0;

	if (sd_bus_message_is_method_error(m, NULL) ||
	    sd_bus_message_read(m, "u", &id) < 0 || id == 0) {
		fail_line("watch: the notification server did not take the "
		    "notice: %s", sd_bus_message_get_error(m) ?
		    sd_bus_message_get_error(m)->message : "no id");
		print_notice(&p->n);
		id = 0;
	}
	notice_seen(p->w, &p->n, sd_bus_message_get_sender(m), id);
	notice_free(&p->n);
	free(p);
	return 0;
}

/* What the server can do: actions, markup in the body. */
static void
server_caps(struct watch *w, bool *actions, bool *markup)
{
	sd_bus_error err = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	char **caps = NULL, **c;

	*actions = *markup = false;
	if (sd_bus_call_method(w->bus, NOTIFY_DEST, NOTIFY_PATH, NOTIFY_IFACE,
	    "GetCapabilities", &err, &reply, "") >= 0 &&
	    sd_bus_message_read_strv(reply, &caps) >= 0) {
		for (c = caps; c && *c; c++) {
			*actions |= strcmp(*c, "actions") == 0;
			*markup |= strcmp(*c, "body-markup") == 0;
		}
	}
	for (c = caps; c && *c; c++)
		free(*c);
	free(caps);
	sd_bus_message_unref(reply);
	sd_bus_error_free(&err);
}

/* body with &, < and > escaped, for a server that reads markup */
static char *
escaped(const char *body)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	if ((f = open_memstream(&out, &len)) == NULL)
		return NULL;
	for (; *body; body++) {
		if (*body == '&')
			fputs("&amp;", f);
		else if (*body == '<')
			fputs("&lt;", f);
		else if (*body == '>')
			fputs("&gt;", f);
		else
			fputc(*body, f);
	}
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

static int
append_notify(struct watch *w, sd_bus_message *m, const struct notice *n,
    bool actions, const char *body)
{
	static const char *const keys[] = { "report", "disconnect" };
	size_t i;
	int r;

	r = sd_bus_message_append(m, "susss", APP_NAME, 0,
	    n->urgent ? "dialog-warning" : "dialog-information", n->summary,
	    body);
	if (r >= 0)
		r = sd_bus_message_open_container(m, 'a', "s");
	for (i = 0; r >= 0 && actions && i < 2; i++)
		r = sd_bus_message_append(m, "ss", keys[i],
		    notice_action_label(&w->v, keys[i]));
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	/* urgency critical: the server keeps it until the employee acts */
	if (r >= 0)
		r = sd_bus_message_append(m, "a{sv}", 2, "urgency", "y",
		    n->urgent ? 2 : 1, "desktop-entry", "s", "kakuri-watch");
	if (r >= 0)
		r = sd_bus_message_append(m, "i", n->urgent ? 0 : -1);
	return r;
}

/* n (taken) to the desktop, or to the terminal. */
static void
show(struct watch *w, struct notice *n)
{
	sd_bus_message *m = NULL;
	struct pending *p = NULL;
	bool actions, markup;
	char *body = NULL;
	int r = -ENOMEM;

	if (w->bus == NULL)
		goto terminal;
	server_caps(w, &actions, &markup);
	body = markup ? escaped(n->body) : strdup(n->body);
	if (body == NULL || (p = calloc(1, sizeof(*p))) == NULL)
		goto terminal;
	r = sd_bus_message_new_method_call(w->bus, &m, NOTIFY_DEST,
	    NOTIFY_PATH, NOTIFY_IFACE, "Notify");
	if (r >= 0)
		r = append_notify(w, m, n, actions && n->actions, body);
	if (r >= 0) {
		p->w = w;
		p->n = *n;
		r = sd_bus_call_async(w->bus, NULL, m, notify_done, p,
		    BUS_CALL_USEC);
	}
	if (r >= 0)
		goto out;
	memset(&p->n, 0, sizeof(p->n));
	fail_line("watch: cannot notify on the session bus: %s",
	    strerror(-r));
terminal:
	print_notice(n);
	notice_seen(w, n, NULL, 0);
	notice_free(n);
	free(p);
out:
	sd_bus_message_unref(m);
	free(body);
}

/* Report: the report form in a terminal, argv only. */
static void
open_report(struct watch *w)
{
	char *argv[] = { (char *)w->terminal, "-e", w->self, "-s",
	    (char *)w->c->socket_path, "report", NULL };
	sigset_t none;
	pid_t pid;

	pid = fork();
	if (pid < 0) {
		fail_line("watch: cannot start %s: %s", w->terminal,
		    strerror(errno));
		return;
	}
	if (pid > 0)
		return;
	/* what watch changed is not the terminal's */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGCHLD, SIG_DFL);
	setsid();
	execvp(argv[0], argv);
	fprintf(stderr, "kakurictl: watch: cannot run %s: %s\n", argv[0],
	    strerror(errno));
	_exit(127);
}

/* Disconnect: the staff's button; for others kakurid says why not. */
static void
press_disconnect(struct watch *w)
{
	json_t *resp = NULL;
	const char *word, *msg;
	struct notice n = { .urgent = false };
	int r;

	r = ctl_call(w->c, json_pack("{s:s}", KW_CMD,
	    kk_op_name(KK_OP_DISCONNECT)), &resp);
	if (r == EX_DONE && kk_guidance_csirt_not_told(resp)) {
		snprintf(n.summary, sizeof(n.summary), "%s",
		    notice_action_label(&w->v, "disconnect"));
		n.urgent = true;
		n.body = strdup(notice_csirt_not_told(&w->v));
		json_decref(resp);
		if (n.body != NULL)
			show(w, &n);
		return;
	}
	if (r == EX_DONE || resp == NULL) {
		/* done: the mode event brings the isolation notice */
		json_decref(resp);
		return;
	}
	kk_wire_answer(resp, &word, &msg);
	snprintf(n.summary, sizeof(n.summary), "%s: %s",
	    notice_action_label(&w->v, "disconnect"), word);
	n.body = strdup(msg);
	json_decref(resp);
	if (n.body != NULL)
		show(w, &n);
}

static int
on_action(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct watch *w = userdata;
	struct notice n = { .urgent = false };
	const struct shown *s = NULL;
	const char *key, *server = sd_bus_message_get_sender(m);
	uint32_t id;
	bool drill;
	size_t i;

	if (sd_bus_message_read(m, "us", &id, &key) < 0)
		return 0;
	for (i = 0; i < SHOWN_MAX && s == NULL && server != NULL; i++)
		if (w->shown[i].id == id && id != 0 &&
		    strcmp(w->shown[i].server, server) == 0)
			s = &w->shown[i];
	/* another program's notice */
	if (s == NULL || (strcmp(key, "report") != 0 &&
	    strcmp(key, "disconnect") != 0))
		return 0;
	drill = s->drill_id != NULL && notice_drill_running(&w->v, s->drill_id);
	if (drill)
		drill_event(w, s->drill_id, key);
	if (strcmp(key, "report") == 0) {
		open_report(w);
	} else if (s->drill_id == NULL) {
		press_disconnect(w);
	} else {
		/*
		 * A drill isolates as it says, not by the button; the
		 * button of a drill that is over (its notice stays in the
		 * notification centre) cuts nothing off either.
		 */
		snprintf(n.summary, sizeof(n.summary), "%s",
		    NOTICE_DRILL_SUMMARY);
		if ((n.body = strdup(drill ? notice_drill_disconnect(&w->v) :
		    notice_drill_over_disconnect(&w->v))) != NULL)
			show(w, &n);
	}
	return 0;
}

static int
on_closed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct watch *w = userdata;
	const char *server = sd_bus_message_get_sender(m);
	uint32_t id, why;
	size_t i;

	if (sd_bus_message_read(m, "uu", &id, &why) < 0 || server == NULL)
		return 0;
	for (i = 0; i < SHOWN_MAX; i++) {
		if (w->shown[i].id == id && id != 0 &&
		    strcmp(w->shown[i].server, server) == 0) {
			w->shown[i].id = 0;
			json_decref(w->shown[i].drill_id);
			w->shown[i].drill_id = NULL;
		}
	}
	return 0;
}

/*
 * The session bus, if there is one that answers: else the terminal.
 * The notification server may come later; each notice asks it anew.
 */
static void
open_bus(struct watch *w)
{
	const char *addr = getenv("DBUS_SESSION_BUS_ADDRESS");
	const char *name;
	int r;

	if (addr == NULL || *addr == '\0') {
		fail_line("watch: no session bus (DBUS_SESSION_BUS_ADDRESS "
		    "unset): notices go to this terminal");
		return;
	}
	r = sd_bus_open_user(&w->bus);
	if (r >= 0)
		r = sd_bus_set_method_call_timeout(w->bus, BUS_CALL_USEC);
	if (r >= 0)
		r = sd_bus_get_unique_name(w->bus, &name);
	if (r >= 0)
		r = sd_bus_match_signal(w->bus, NULL, NULL, NOTIFY_PATH,
		    NOTIFY_IFACE, "ActionInvoked", on_action, w);
	if (r >= 0)
		r = sd_bus_match_signal(w->bus, NULL, NULL, NOTIFY_PATH,
		    NOTIFY_IFACE, "NotificationClosed", on_closed, w);
	if (r >= 0)
		r = sd_bus_attach_event(w->bus, w->ev, SD_EVENT_PRIORITY_NORMAL);
	if (r < 0) {
		fail_line("watch: session bus not usable (%s): notices go to "
		    "this terminal", strerror(-r));
		w->bus = sd_bus_flush_close_unref(w->bus);
	}
}

static void
close_agent(struct watch *w)
{
	w->io = sd_event_source_disable_unref(w->io);
	w->fd = kk_close(w->fd);
	kk_frame_reader_reset(&w->rd);
}

static int
retry_fire(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct watch *w = userdata;

	w->retry = sd_event_source_disable_unref(w->retry);
	connect_agent(w);
	return 0;
}

/* kakurid is away (a restart, an upgrade): again, later and later. */
static void
retry_later(struct watch *w)
{
	close_agent(w);
	if (sd_event_add_time_relative(w->ev, &w->retry, CLOCK_MONOTONIC,
	    (uint64_t)w->backoff * 1000000ULL, 0, retry_fire, w) < 0) {
		finish(w, EX_UNREACHABLE);
		return;
	}
	w->backoff = w->backoff * 2 > RETRY_MAX_S ? RETRY_MAX_S :
	    w->backoff * 2;
}

static int
on_frame(void *arg, uint8_t *body, size_t len)
{
	struct watch *w = arg;
	struct notice n;
	json_error_t jerr;
	const char *why, *text;
	json_t *msg;
	int r = 0;

	msg = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES,
	    &jerr);
	free(body);
	if (!json_is_object(msg)) {
		fail_line("watch: malformed frame from the agent");
		json_decref(msg);
		return 0;
	}
	if (!w->answered) {
		/*
		 * Every watcher slot open to this user taken (a flood of
		 * other users' watchers): a session's notices must not end
		 * with it, so later, as after a restart.  Other refusals
		 * (busy-uid: watching already) end it.
		 */
		if (!w->once && kk_wire_answer(msg, &why, &text) == 0 &&
		    strcmp(why, KE_BUSY) == 0) {
			fail_line("watch: %s: %s; trying again in %u s", why,
			    text, w->backoff);
			json_decref(msg);
			retry_later(w);
			return 1;
		}
		if (ctl_check_ok(w->c, msg) != EX_DONE) {
			json_decref(msg);
			finish(w, EX_FAILED);
			return 1;
		}
		w->answered = true;
		w->backoff = RETRY_MIN_S;
		printf("kakurictl watch: following the agent at %s, notices to "
		    "%s\n", w->c->socket_path, w->bus ? "the desktop" :
		    "this terminal");
		fflush(stdout);
	}
	if (notice_of(&w->v, msg, &n) > 0)
		show(w, &n);
	json_decref(msg);
	return r;
}

static int
agent_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct watch *w = userdata;
	uint8_t buf[16384];
	ssize_t n;

	n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n > 0 && kk_frame_feed_each(&w->rd, buf, (size_t)n, NULL,
	    on_frame, w) >= 0)
		return 0;
	if (w->answered)
		fail_line("watch: the agent went away; reconnecting");
	w->answered = false;
	retry_later(w);
	return 0;
}

static void
connect_agent(struct watch *w)
{
	json_t *req;
	int r, fd = -1;

	req = json_pack("{s:s}", KW_CMD, kk_op_name(KK_OP_WATCH));
	r = ctl_send(w->c, req, &fd);
	json_decref(req);
	if (r != EX_DONE) {
		retry_later(w);
		return;
	}
	w->fd = fd;
	kk_frame_reader_init(&w->rd, KK_FRAME_MAX);
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
	    sd_event_add_io(w->ev, &w->io, fd, EPOLLIN, agent_io, w) < 0)
		retry_later(w);
}

int
cmd_watch(struct ctl *c, int argc, char **argv)
{
	struct watch w = { .c = c, .fd = -1, .backoff = RETRY_MIN_S };
	const struct ctl_option opts[] = {
		CTL_TEXT("terminal", &w.terminal),
		CTL_FLAG("once", &w.once),
		CTL_OPTIONS_END,
	};
	sigset_t stop;
	ssize_t n;
	int r, i;

	if (ctl_options(argc, argv, opts, 0, 0, NULL) != EX_DONE)
		return EX_USAGE;
	if (w.terminal == NULL)
		w.terminal = getenv("KAKURI_TERMINAL");
	if (w.terminal == NULL || *w.terminal == '\0')
		w.terminal = DEFAULT_TERMINAL;
	n = readlink("/proc/self/exe", w.self, sizeof(w.self) - 1);
	if (n <= 0) {
		fail_line("watch: cannot find its own program: %s",
		    strerror(errno));
		return EX_FAILED;
	}
	w.self[n] = '\0';
	notice_view_init(&w.v, kk_guidance_lang(), getuid());
	/* the terminals it opens are reaped by the kernel */
	signal(SIGCHLD, SIG_IGN);
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigprocmask(SIG_BLOCK, &stop, NULL);
	if ((r = sd_event_default(&w.ev)) < 0 ||
	    (r = sd_event_add_signal(w.ev, NULL, SIGTERM, NULL, NULL)) < 0 ||
	    (r = sd_event_add_signal(w.ev, NULL, SIGINT, NULL, NULL)) < 0) {
		fail_line("watch: event loop: %s", strerror(-r));
		r = EX_FAILED;
		goto out;
	}
	open_bus(&w);
	connect_agent(&w);
	r = sd_event_loop(w.ev);
	if (r < 0) {
		fail_line("watch: event loop: %s", strerror(-r));
		r = EX_FAILED;
	}
out:
	close_agent(&w);
	w.retry = sd_event_source_disable_unref(w.retry);
	w.bus = sd_bus_flush_close_unref(w.bus);
	for (i = 0; i < SHOWN_MAX; i++)
		json_decref(w.shown[i].drill_id);
	notice_view_reset(&w.v);
	sd_event_unref(w.ev);
	return r;
}
