/*
 * notifyd - a freedesktop notification server for the tests of kakurictl
 * watch (t-watch.sh): it owns org.freedesktop.Notifications on the
 * session bus, records every Notify as one JSON line, and presses a
 * button when told to.
 *
 *   notifyd OUTFILE [--no-actions] [--timeout S] [--invoke ACTION:DELAY_MS:MATCH]...
 *
 * Each Notify appends {"id", "app_name", "summary", "body", "actions",
 * "urgency", "expire", "time_ms"} (CLOCK_REALTIME ms) to OUTFILE; each
 * --invoke emits ActionInvoked(id, ACTION) DELAY_MS after the first
 * notice whose summary or body contains MATCH, once, and appends
 * {"invoked", "action", "time_ms"}.  GetCapabilities answers "actions",
 * "body" ("body" alone with --no-actions).  Prints "ready" once the name
 * is owned; exits after S seconds (default 60).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#define NAME	"org.freedesktop.Notifications"
#define PATH	"/org/freedesktop/Notifications"
#define IFACE	"org.freedesktop.Notifications"
#define INVOKE_MAX	8

struct invoke {
	char action[64];
	unsigned delay_ms;
	char match[256];
	bool armed;		/* a notice matched: done */
	uint32_t id;
};

static FILE *out;
static sd_bus *bus;
static sd_event *ev;
static bool no_actions;
static uint32_t next_id;
static struct invoke invokes[INVOKE_MAX];
static size_t ninvokes;

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
record(json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	if (s != NULL) {
		fprintf(out, "%s\n", s);
		fflush(out);
	}
	free(s);
	json_decref(o);
}

static int
fire(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct invoke *iv = userdata;

	record(json_pack("{s:i, s:s, s:I}", "invoked", (int)iv->id, "action",
	    iv->action, "time_ms", (json_int_t)now_ms()));
	sd_bus_emit_signal(bus, PATH, IFACE, "ActionInvoked", "us", iv->id,
	    iv->action);
	sd_event_source_disable_unref(s);
	return 0;
}

/* the hints: only urgency is kept */
static int
read_hints(sd_bus_message *m, int *urgency)
{
	const char *key;
	uint8_t y;
	int r;

	if ((r = sd_bus_message_enter_container(m, 'a', "{sv}")) < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		if ((r = sd_bus_message_read(m, "s", &key)) < 0)
			return r;
		if (strcmp(key, "urgency") == 0 &&
		    sd_bus_message_read(m, "v", "y", &y) >= 0)
			*urgency = y;
		else if ((r = sd_bus_message_skip(m, "v")) < 0)
			return r;
		if ((r = sd_bus_message_exit_container(m)) < 0)
			return r;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

static int
notify(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	const char *app, *icon, *summary, *body;
	char **actions = NULL, **a;
	uint32_t replaces, id;
	int32_t expire;
	int urgency = -1, r;
	json_t *acts;
	size_t i;

	r = sd_bus_message_read(m, "susss", &app, &replaces, &icon, &summary,
	    &body);
	if (r >= 0)
		r = sd_bus_message_read_strv(m, &actions);
	if (r >= 0)
		r = read_hints(m, &urgency);
	if (r >= 0)
		r = sd_bus_message_read(m, "i", &expire);
	if (r < 0)
		return r;
	id = replaces ? replaces : ++next_id;
	acts = json_array();
	for (a = actions; a && *a; a++) {
		json_array_append_new(acts, json_string(*a));
		free(*a);
	}
	free(actions);
	record(json_pack("{s:i, s:s, s:s, s:s, s:o, s:i, s:i, s:I}", "id",
	    (int)id, "app_name", app, "summary", summary, "body", body,
	    "actions", acts, "urgency", urgency, "expire", (int)expire,
	    "time_ms", (json_int_t)now_ms()));
	for (i = 0; i < ninvokes; i++) {
		struct invoke *iv = &invokes[i];

		if (iv->armed || (strstr(summary, iv->match) == NULL &&
		    strstr(body, iv->match) == NULL))
			continue;
		iv->armed = true;
		iv->id = id;
		sd_event_add_time_relative(ev, NULL, CLOCK_MONOTONIC,
		    (uint64_t)iv->delay_ms * 1000, 0, fire, iv);
	}
	return sd_bus_reply_method_return(m, "u", id);
}

static int
capabilities(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	if (no_actions)
		return sd_bus_reply_method_return(m, "as", 1, "body");
	return sd_bus_reply_method_return(m, "as", 2, "actions", "body");
}

static int
server_info(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	return sd_bus_reply_method_return(m, "ssss", "notifyd", "kakuri-tests",
	    "1", "1.2");
}

static int
close_notice(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	uint32_t id;
	int r;

	if ((r = sd_bus_message_read(m, "u", &id)) < 0)
		return r;
	sd_bus_emit_signal(bus, PATH, IFACE, "NotificationClosed", "uu", id,
	    3);
	return sd_bus_reply_method_return(m, "");
}

static const sd_bus_vtable vtable[] = {
	SD_BUS_VTABLE_START(0),
	SD_BUS_METHOD("Notify", "susssasa{sv}i", "u", notify, 0),
	SD_BUS_METHOD("GetCapabilities", "", "as", capabilities, 0),
	SD_BUS_METHOD("GetServerInformation", "", "ssss", server_info, 0),
	SD_BUS_METHOD("CloseNotification", "u", "", close_notice, 0),
	SD_BUS_SIGNAL("ActionInvoked", "us", 0),
	SD_BUS_SIGNAL("NotificationClosed", "uu", 0),
	SD_BUS_VTABLE_END
};

static int
parse_invoke(const char *arg)
{
	struct invoke *iv;
	const char *c1, *c2;
	char *end;

	if (ninvokes >= INVOKE_MAX)
		return -1;
	iv = &invokes[ninvokes];
	c1 = strchr(arg, ':');
	c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (c2 == NULL || (size_t)(c1 - arg) >= sizeof(iv->action) ||
	    strlen(c2 + 1) >= sizeof(iv->match) || c2[1] == '\0')
		return -1;
	memcpy(iv->action, arg, (size_t)(c1 - arg));
	iv->delay_ms = (unsigned)strtoul(c1 + 1, &end, 10);
	if (end != c2 || iv->delay_ms > 600000)
		return -1;
	strcpy(iv->match, c2 + 1);
	ninvokes++;
	return 0;
}

int
main(int argc, char **argv)
{
	unsigned long timeout = 60;
	int i, r;

	if (argc < 2) {
		fprintf(stderr, "usage: notifyd OUTFILE [--no-actions] "
		    "[--timeout S] [--invoke ACTION:DELAY_MS:MATCH]...\n");
		return 2;
	}
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--no-actions") == 0)
			no_actions = true;
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
			timeout = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--invoke") == 0 && i + 1 < argc &&
		    parse_invoke(argv[i + 1]) == 0)
			i++;
		else {
			fprintf(stderr, "notifyd: bad argument %s\n", argv[i]);
			return 2;
		}
	}
	if (timeout == 0 || timeout > 3600)
		timeout = 60;
	if ((out = fopen(argv[1], "a")) == NULL) {
		perror(argv[1]);
		return 1;
	}
	if ((r = sd_event_default(&ev)) < 0 ||
	    (r = sd_bus_open_user(&bus)) < 0 ||
	    (r = sd_bus_add_object_vtable(bus, NULL, PATH, IFACE, vtable,
	    NULL)) < 0 ||
	    (r = sd_bus_request_name(bus, NAME, 0)) < 0 ||
	    (r = sd_bus_attach_event(bus, ev, 0)) < 0 ||
	    (r = sd_event_add_time_relative(ev, NULL, CLOCK_MONOTONIC,
	    timeout * 1000000ULL, 0, NULL, NULL)) < 0) {
		fprintf(stderr, "notifyd: %s\n", strerror(-r));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	r = sd_event_loop(ev);
	sd_bus_flush_close_unref(bus);
	sd_event_unref(ev);
	fclose(out);
	return r < 0 ? 1 : 0;
}
