/*
 * kakurictl drill start|stop|history: drills on this endpoint (DESIGN 3,
 * 5, 7; issue 11), over kakurid's control socket.  kakurid decides who
 * may (root starts and stops, the staff group reads the history), runs
 * the drill and keeps its record; this side checks what it can before
 * asking, so that a typo in a scheduled drill's drop-in is a usage error
 * and never reaches the daemon, and shows the records.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client.h"
#include "cmdtab.h"
#include "commands.h"
#include "drillsum.h"
#include "kakuri.h"
#include "options.h"
#include "output.h"
#include "wire.h"

#define DRILL_DURATION_DEFAULT	300		/* seconds */
#define DRILL_DURATION_MAX	86400
#define DRILL_ANNOUNCE_MAX	3600		/* seconds of notice */
#define DRILL_SCENARIO_MAX	512		/* bytes */
#define DRILL_HISTORY_DEFAULT	20
#define DRILL_HISTORY_MAX	200
/* the scenario of a drill the timer starts, unless the admin names one */
#define DRILL_SCHEDULED		"scheduled drill"
/* the request's action (wire.h, "Drills") */
#define DRILL_START		"start"
#define DRILL_STOP		"stop"

#define STR_(x)			#x
#define STR(x)			STR_(x)

const struct command drill_words[] = {
	{ .name = "start", .run = cmd_drill_start,
	  .synopsis = "[--live] [--duration S] [--scenario TEXT] [--announce S] [--scheduled] [--json]",
	  .description = "start a drill (root): tabletop, or --live to isolate for real until its deadline" },
	{ .name = "stop", .run = cmd_drill_stop,
	  .synopsis = "[--json]",
	  .description = "end the running drill now (root)" },
	{ .name = "history", .run = cmd_drill_history,
	  .synopsis = "[--limit N] [--json]",
	  .description = "past drills, newest first: result, time to isolate, the employee's action" },
	{ .name = NULL },
};

/*
 * req (consumed) to kakurid; the drill record of the answer shown by
 * show, or with --json the answer as it came, without its "ok".
 */
static int
drill_call(struct ctl *c, json_t *req, void (*show)(json_t *rec))
{
	json_t *resp, *rec;
	int ret;

	if ((ret = ctl_call(c, req, &resp)) != EX_DONE)
		goto out;
	if (c->json) {
		json_object_del(resp, KW_OK);
		print_json(resp);
		goto out;
	}
	rec = json_object_get(resp, KW_DRILL);
	show(json_is_object(rec) ? rec : resp);
out:
	json_decref(resp);
	return ret;
}

/* "-" when the record says nothing, the employee's action and its time */
static const char *
employee_text(json_t *rec, char *buf, size_t len)
{
	json_t *emp = json_object_get(rec, KW_EMPLOYEE);
	json_t *ms = json_object_get(emp, KW_ACTION_MS);
	char action[32], took[32];

	if (json_is_string(json_object_get(emp, KW_ACTION)))
		snprintf(buf, len, "%s %s",
		    ctl_text(emp, KW_ACTION, "", action, sizeof(action)),
		    drill_ms_text(json_is_number(ms) ? json_number_value(ms) :
		    -1, took, sizeof(took)));
	else
		snprintf(buf, len, "%s", json_is_object(emp) ? "none" : "-");
	return buf;
}

/* the leaking probe targets, ","-joined, cleaned; "-" for none */
static const char *
leak_text(json_t *rec, char *buf, size_t len)
{
	json_t *targets = drill_leak_targets(rec), *t;
	size_t i, off = 0;

	snprintf(buf, len, "%s", drill_leaked(rec) ? "yes" : "-");
	json_array_foreach(targets, i, t) {
		if (off + 2 >= len)
			break;
		if (i > 0)
			buf[off++] = ',';
		off += kk_text_clean(buf + off, len - off,
		    json_string_value(t), strlen(json_string_value(t)));
	}
	json_decref(targets);
	return buf;
}

/* time to isolate: a live drill's verified, "-" for a tabletop drill */
static const char *
isolate_text(json_t *rec, char *buf, size_t len)
{
	const char *kind = json_string_value(json_object_get(rec, KW_KIND));

	if (kind == NULL || strcmp(kind, DRILL_LIVE) != 0) {
		snprintf(buf, len, "-");
		return buf;
	}
	return drill_ms_text(drill_timing(rec, KW_VERIFIED), buf, len);
}

/* A record's fields as they may go to a terminal. */
struct drill_view {
	char id[80], started[64], deadline[64], ended[64];
	char kind[32], result[64], end[64];
	char isolate[32], employee[96], leak[256];
};

static void
drill_view(json_t *rec, struct drill_view *v)
{
	ctl_text(rec, KW_ID, "?", v->id, sizeof(v->id));
	ctl_text(rec, KW_STARTED, "?", v->started, sizeof(v->started));
	ctl_text(rec, KW_DEADLINE, "?", v->deadline, sizeof(v->deadline));
	ctl_text(rec, KW_ENDED, "-", v->ended, sizeof(v->ended));
	ctl_text(rec, KW_KIND, "?", v->kind, sizeof(v->kind));
	ctl_text(rec, KW_RESULT, "-", v->result, sizeof(v->result));
	ctl_text(rec, KW_END, "-", v->end, sizeof(v->end));
	isolate_text(rec, v->isolate, sizeof(v->isolate));
	employee_text(rec, v->employee, sizeof(v->employee));
	leak_text(rec, v->leak, sizeof(v->leak));
}

static void
show_started(json_t *rec)
{
	struct drill_view v;

	drill_view(rec, &v);
	printf("drill %s: %s, deadline %s\n", v.id, v.kind, v.deadline);
}

/* the line of a drill that ended: its result and how it ended */
static void
show_ended(json_t *rec)
{
	struct drill_view v;

	drill_view(rec, &v);
	printf("drill %s: %s (%s), ended %s; isolated in %s, employee %s, "
	    "leak %s\n", v.id, v.result, v.end, v.ended, v.isolate,
	    v.employee, v.leak);
}

int
cmd_drill_start(struct ctl *c, int argc, char **argv)
{
	long long duration = DRILL_DURATION_DEFAULT, announce = -1;
	const char *scenario = NULL;
	bool live = false, scheduled = false;
	const struct ctl_option opts[] = {
		CTL_FLAG("live", &live),
		CTL_NUMBER("duration", &duration, 1, DRILL_DURATION_MAX,
		    "--duration wants seconds, 1 to " STR(DRILL_DURATION_MAX)),
		CTL_TEXT("scenario", &scenario),
		CTL_NUMBER("announce", &announce, 0, DRILL_ANNOUNCE_MAX,
		    "--announce wants the seconds of notice before the "
		    "drill, 0 to " STR(DRILL_ANNOUNCE_MAX)),
		CTL_FLAG("scheduled", &scheduled),
		CTL_FLAG("json", &c->json),
		CTL_OPTIONS_END,
	};
	json_t *req;
	size_t bad;
	int r;

	if (ctl_options(argc, argv, opts, 0, 0, NULL) != EX_DONE)
		return EX_USAGE;
	if (scenario != NULL && strlen(scenario) > DRILL_SCENARIO_MAX) {
		fail_line("--scenario: %zu bytes, at most "
		    STR(DRILL_SCENARIO_MAX), strlen(scenario));
		return EX_USAGE;
	}
	if (scenario != NULL &&
	    (r = kk_text_check(scenario, strlen(scenario), &bad)) < 0) {
		fail_line("--scenario %s (byte %zu)", kk_text_problem(r), bad);
		return EX_USAGE;
	}
	if (scenario == NULL && scheduled)
		scenario = DRILL_SCHEDULED;
	req = json_pack("{s:s, s:s, s:s, s:I, s:s?}",
	    KW_CMD, kk_op_name(KK_OP_DRILL), KW_ACTION, DRILL_START,
	    KW_KIND, live ? DRILL_LIVE : DRILL_TABLETOP,
	    KW_DURATION, (json_int_t)duration, KW_SCENARIO, scenario);
	/* only what was given: kakurid knows what no notice means for a kind */
	if (req != NULL && announce >= 0)
		json_object_set_new(req, KW_ANNOUNCE,
		    json_integer((json_int_t)announce));
	return drill_call(c, req, show_started);
}

int
cmd_drill_stop(struct ctl *c, int argc, char **argv)
{
	const struct ctl_option opts[] = {
		CTL_FLAG("json", &c->json),
		CTL_OPTIONS_END,
	};

	json_t *resp, *last = NULL;
	int ret;

	if (ctl_options(argc, argv, opts, 0, 0, NULL) != EX_DONE)
		return EX_USAGE;
	ret = ctl_call(c, json_pack("{s:s, s:s}", KW_CMD,
	    kk_op_name(KK_OP_DRILL), KW_ACTION, DRILL_STOP), &resp);
	if (ret != EX_DONE || json_is_object(json_object_get(resp, KW_DRILL)))
		goto show;
	/* a drill that ended at once is in the history, not the answer */
	json_decref(resp);
	if ((ret = ctl_call(c, json_pack("{s:s, s:i}", KW_CMD,
	    kk_op_name(KK_OP_DRILL_HISTORY), KW_LIMIT, 1), &resp)) != EX_DONE)
		goto show;
	last = json_array_get(json_object_get(resp, KW_DRILLS), 0);
	if (last != NULL)
		json_object_set(resp, KW_DRILL, last);
show:
	if (ret == EX_DONE && c->json) {
		json_object_del(resp, KW_OK);
		print_json(resp);
	} else if (ret == EX_DONE) {
		show_ended(json_object_get(resp, KW_DRILL));
	}
	json_decref(resp);
	return ret;
}

/* newest first: started as RFC 3339 UTC text compares as time */
static int
newest_first(const void *a, const void *b)
{
	const char *x = json_string_value(json_object_get(
	    *(json_t *const *)a, KW_STARTED));
	const char *y = json_string_value(json_object_get(
	    *(json_t *const *)b, KW_STARTED));

	return strcmp(y ? y : "", x ? x : "");
}

static void
history_row(json_t *rec)
{
	struct drill_view v;

	drill_view(rec, &v);
	printf("%-8.8s  %-20.20s  %-8.8s  %-8.8s  %-10.10s  %-9s  %-16s  %s\n",
	    v.id, v.started, v.kind, v.result, v.end, v.isolate, v.employee,
	    v.leak);
}

int
cmd_drill_history(struct ctl *c, int argc, char **argv)
{
	long long limit = DRILL_HISTORY_DEFAULT;
	const struct ctl_option opts[] = {
		CTL_NUMBER("limit", &limit, 1, DRILL_HISTORY_MAX,
		    "--limit wants a number of drills, 1 to "
		    STR(DRILL_HISTORY_MAX)),
		CTL_FLAG("json", &c->json),
		CTL_OPTIONS_END,
	};
	json_t *resp, *drills, *running, **order = NULL;
	size_t i, n;
	int ret;

	if (ctl_options(argc, argv, opts, 0, 0, NULL) != EX_DONE)
		return EX_USAGE;
	ret = ctl_call(c, json_pack("{s:s, s:I}",
	    KW_CMD, kk_op_name(KK_OP_DRILL_HISTORY), KW_LIMIT,
	    (json_int_t)limit), &resp);
	if (ret != EX_DONE)
		goto out;
	drills = json_object_get(resp, KW_DRILLS);
	if (c->json) {
		if (json_is_array(drills))
			print_json(drills);
		else
			printf("[]\n");
		goto out;
	}
	running = json_object_get(resp, KW_RUNNING);
	if (json_is_object(running)) {
		printf("running: ");
		show_started(running);
	}
	/* what kakurid sent, at most what was asked for, newest first */
	n = json_array_size(drills);
	if (n > (size_t)limit)
		n = (size_t)limit;
	if (n > 0 && (order = calloc(n, sizeof(*order))) == NULL) {
		fail_line("out of memory");
		ret = EX_FAILED;
		goto out;
	}
	for (i = 0; i < n; i++)
		order[i] = json_array_get(drills, i);
	if (n > 0)
		qsort(order, n, sizeof(*order), newest_first);
	if (n == 0)
		printf("no drills yet\n");
	else
		printf("%-8s  %-20s  %-8s  %-8s  %-10s  %-9s  %-16s  %s\n",
		    "ID", "STARTED", "KIND", "RESULT", "END", "ISOLATED",
		    "EMPLOYEE", "LEAK");
	for (i = 0; i < n; i++)
		history_row(order[i]);
out:
	free(order);
	json_decref(resp);
	return ret;
}
