/*
 * kakurictl's shape (issue 9, item 7): the command table with nested
 * words (ctl/cmdtab.c), the targets of a fan-out read as a stream
 * (ctl/targets.c) and the worker pool that serves them (ctl/fanout.c).
 *
 * The table is walked with a table of its own here, because kakurictl's
 * first nested words (drill start|stop|history) come with a later issue:
 * dispatch, usage lines and help must already handle them.  A list of
 * targets is checked whole before anything is sent, and read a second
 * time for the sending: a pipe must give the same targets twice.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "suites.h"
#include "testutil.h"
#include "../../ctl/cmdtab.h"
#include "../../ctl/fanout.h"
#include "../../ctl/guidance.h"
#include "../../ctl/output.h"
#include "../../ctl/targets.h"
#include "../../ctl/verify.h"
#include "wire.h"

#define PIN_A	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define PIN_B	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

/* ---- the command table ---- */

/* the word a command ran as */
static const char *ran;

static int
run(struct ctl *c, int argc, char **argv)
{
	ran = argv[0];
	return argc;
}

static const struct command drill_words[] = {
	{ .name = "start", .run = run, .synopsis = "[--live] [--duration S]",
	  .description = "start a drill" },
	{ .name = "stop", .run = run, .description = "stop it" },
	{ .name = "history", .run = run, .synopsis = "[--json]",
	  .description = "past drills" },
	{ .name = NULL },
};

static const struct command table[] = {
	{ .name = "status", .run = run, .synopsis = "[--json]",
	  .description = "the state" },
	{ .name = "drill", .words = drill_words, .description = "drills" },
	{ .name = "fetch", .run = run, .synopsis = "--to A\n--verify DIR",
	  .description = "two forms" },
	{ .name = NULL },
};

/* What a printer wrote to a FILE, as a string (caller frees). */
struct capture {
	FILE *f;
	char *buf;
	size_t len;
};

static void
capture_start(struct capture *c)
{
	c->buf = NULL;
	c->f = open_memstream(&c->buf, &c->len);
	ck_assert_ptr_nonnull(c->f);
}

static char *
capture_end(struct capture *c)
{
	fclose(c->f);
	return c->buf;
}

START_TEST(test_find_words)
{
	char *status[] = { "status", "--json" };
	char *start[] = { "drill", "start", "--live" };
	char *alone[] = { "drill" };
	char *bogus[] = { "drill", "bogus" };
	char *unknown[] = { "bogus", "start" };
	const struct command *cmd;
	int used;

	cmd = cmdtab_find(table, 2, status, &used);
	ck_assert_ptr_eq(cmd, &table[0]);
	ck_assert_int_eq(used, 1);
	/* nested: the command's own argv starts at its last word */
	cmd = cmdtab_find(table, 3, start, &used);
	ck_assert_ptr_eq(cmd, &drill_words[0]);
	ck_assert_int_eq(used, 2);
	ran = NULL;
	ck_assert_int_eq(cmd->run(NULL, 3 - used + 1, start + used - 1), 2);
	ck_assert_str_eq(ran, "start");
	/* a word with words and none after it: the group, all words used */
	cmd = cmdtab_find(table, 1, alone, &used);
	ck_assert_ptr_eq(cmd, &table[1]);
	ck_assert_int_eq(used, 1);
	ck_assert_ptr_nonnull(cmd->words);
	/* an unknown word under a group: the group, fewer words than argv */
	cmd = cmdtab_find(table, 2, bogus, &used);
	ck_assert_ptr_eq(cmd, &table[1]);
	ck_assert_int_eq(used, 1);
	cmd = cmdtab_find(table, 2, unknown, &used);
	ck_assert_ptr_null(cmd);
	ck_assert_int_eq(used, 0);
	cmd = cmdtab_find(table, 0, NULL, &used);
	ck_assert_ptr_null(cmd);
}
END_TEST

START_TEST(test_usage_lines)
{
	const char *drill[] = { "drill" }, *fetch[] = { "fetch" };
	struct capture c;
	char *out;

	/* a group: a usage line for each of its words, aligned */
	capture_start(&c);
	cmdtab_usage(c.f, "usage: ", drill, 1, &table[1]);
	out = capture_end(&c);
	ck_assert_str_eq(out,
	    "usage: kakurictl drill start [--live] [--duration S]\n"
	    "       kakurictl drill stop\n"
	    "       kakurictl drill history [--json]\n");
	free(out);
	/* a synopsis of two lines: two usage lines */
	capture_start(&c);
	cmdtab_usage(c.f, "usage: ", fetch, 1, &table[2]);
	out = capture_end(&c);
	ck_assert_str_eq(out, "usage: kakurictl fetch --to A\n"
	    "       kakurictl fetch --verify DIR\n");
	free(out);
	capture_start(&c);
	cmdtab_usage_all(c.f, "usage: ", table);
	out = capture_end(&c);
	ck_assert_str_eq(out,
	    "usage: kakurictl [-s socket] [--json] command [args]\n"
	    "       kakurictl status [--json]\n"
	    "       kakurictl drill start [--live] [--duration S]\n"
	    "       kakurictl drill stop\n"
	    "       kakurictl drill history [--json]\n"
	    "       kakurictl fetch --to A\n"
	    "       kakurictl fetch --verify DIR\n");
	free(out);
}
END_TEST

START_TEST(test_describe)
{
	const char *drill[] = { "drill" };
	struct capture c;
	char *out;

	ck_assert_int_eq(cmdtab_width(table), (int)strlen("drill history"));
	capture_start(&c);
	cmdtab_describe(c.f, drill, 1, &table[1], cmdtab_width(table));
	out = capture_end(&c);
	ck_assert_str_eq(out,
	    "  drill start    start a drill\n"
	    "  drill stop     stop it\n"
	    "  drill history  past drills\n");
	free(out);
}
END_TEST

/* ---- the targets ---- */

static char *
write_list(const char *name, const char *text)
{
	static char path[PATH_MAX];
	char dir[PATH_MAX];

	kk_test_workdir(dir);
	kk_test_join(path, dir, name);
	kk_test_write(path, text, strlen(text), 0600);
	return path;
}

/*
 * ts with the one list at path, checked (ca: --ca given; at most max
 * targets): what targets_check returns, *count the targets it counted.
 */
static int
check_list(struct targets *ts, const char *path, bool ca, size_t max,
    size_t *count, char *err, size_t errlen)
{
	targets_init(ts);
	ck_assert_int_eq(targets_add(ts, path, true), 0);
	return targets_check(ts, ca, max, count, err, errlen);
}

/* Every target of ts, as "ADDR PIN|-" lines, is want. */
static void
expect_drained(struct targets *ts, const char *want)
{
	struct capture c;
	struct target t;
	char err[300], *out;
	int r;

	capture_start(&c);
	while ((r = targets_next(ts, &t, err, sizeof(err))) == 1)
		fprintf(c.f, "%s %s\n", t.addr, t.pin[0] ? t.pin : "-");
	ck_assert_int_eq(r, 0);
	out = capture_end(&c);
	ck_assert_str_eq(out, want);
	free(out);
}

START_TEST(test_targets_order)
{
	struct targets ts;
	size_t count;
	char err[300], *path;

	path = write_list("hosts", "# the first agents\n"
	    "\n"
	    "192.0.2.1:7443 " PIN_A "\n"
	    "  \t\r\n"
	    "[2001:db8::1]:7443\n"
	    "192.0.2.3:7443 " PIN_B);		/* no newline at the end */
	targets_init(&ts);
	ts.default_pin = PIN_B;
	ck_assert_int_eq(targets_add(&ts, "first:1", false), 0);
	ck_assert_int_eq(targets_add(&ts, path, true), 0);
	ck_assert_int_eq(targets_add(&ts, "last:1", false), 0);
	ck_assert_int_eq(targets_check(&ts, false, 100, &count, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(count, 5);
	/* the order given; --agent-id for those without an id of their own */
	expect_drained(&ts, "first:1 " PIN_B "\n"
	    "192.0.2.1:7443 " PIN_A "\n"
	    "[2001:db8::1]:7443 " PIN_B "\n"
	    "192.0.2.3:7443 " PIN_B "\n"
	    "last:1 " PIN_B "\n");
	targets_free(&ts);
}
END_TEST

START_TEST(test_targets_refused)
{
	static const struct {
		const char *list;
		bool ca;
		size_t max;
		const char *why;
	} cases[] = {
		{ "192.0.2.1:7443 " PIN_A "\n192.0.2.2:7443 tooshort\n", false,
		    100, ":2: expected HOST:PORT AGENT-ID" },
		{ "192.0.2.1:7443 " PIN_A "\n192.0.2.2:7443\n", false, 100,
		    "192.0.2.2:7443: give --ca or a pinned agent id" },
		{ "a:1\nb:1\nc:1\n", true, 2, "more than 2 targets" },
	};
	struct targets ts;
	size_t i, count;
	char err[300], *path;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		path = write_list("hosts", cases[i].list);
		err[0] = '\0';
		ck_assert_int_lt(check_list(&ts, path, cases[i].ca,
		    cases[i].max, &count, err, sizeof(err)), 0);
		ck_assert_msg(strstr(err, cases[i].why) != NULL,
		    "case %zu: '%s' does not say '%s'", i, err, cases[i].why);
		ck_assert_uint_eq(count, 0);
		targets_free(&ts);
	}
	/* a file that is not there */
	ck_assert_int_eq(check_list(&ts, "/nonexistent/hosts", true, 10,
	    &count, err, sizeof(err)), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/hosts"));
	targets_free(&ts);
}
END_TEST

START_TEST(test_targets_long_lines)
{
	struct targets ts;
	size_t count;
	char err[300], *path, *text;

	/* an overlong comment is skipped whole, not read as a target */
	text = malloc(2 * TARGET_LINE_MAX + 64);
	ck_assert_ptr_nonnull(text);
	memset(text, 'x', 2 * TARGET_LINE_MAX);
	text[0] = '#';
	strcpy(text + 2 * TARGET_LINE_MAX, "\na:1\n");
	path = write_list("hosts", text);
	ck_assert_int_eq(check_list(&ts, path, true, 10, &count, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(count, 1);
	expect_drained(&ts, "a:1 -\n");
	targets_free(&ts);
	/* an overlong target line is an error, not two targets */
	text[0] = 'x';
	path = write_list("hosts2", text);
	ck_assert_int_lt(check_list(&ts, path, true, 10, &count, err,
	    sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, ":1: expected"));
	targets_free(&ts);
	free(text);
}
END_TEST

START_TEST(test_targets_pipe)
{
	static const char list[] = "a:1 " PIN_A "\nb:1 " PIN_B "\n";
	char path[64], err[300];
	struct targets ts;
	size_t count;
	int p[2];

	/* a pipe (bash's <(...)) is read once: the check keeps a copy */
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(write(p[1], list, strlen(list)), (ssize_t)strlen(list));
	close(p[1]);
	snprintf(path, sizeof(path), "/dev/fd/%d", p[0]);
	ck_assert_int_eq(check_list(&ts, path, false, 10, &count, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(count, 2);
	expect_drained(&ts, "a:1 " PIN_A "\nb:1 " PIN_B "\n");
	targets_free(&ts);
	close(p[0]);
}
END_TEST

START_TEST(test_targets_limit)
{
	char err[300], *path;
	struct targets ts;
	size_t count;
	FILE *f;

	/* the sending takes what was checked, not what came since */
	path = write_list("hosts", "a:1\nb:1\n");
	ck_assert_int_eq(check_list(&ts, path, true, 10, &count, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(count, 2);
	f = fopen(path, "a");
	ck_assert_ptr_nonnull(f);
	fputs("c:1\n", f);
	fclose(f);
	expect_drained(&ts, "a:1 -\nb:1 -\n");
	targets_free(&ts);
}
END_TEST

/* ---- the worker pool ---- */

#define FAN_TARGETS	300

struct served {
	pthread_mutex_t lock;
	unsigned count[FAN_TARGETS];
	int unreachable;		/* this target is unreachable; -1: none */
};

static void
serve(void *arg, const struct target *t, struct fanout_result *r)
{
	struct served *s = arg;
	int i = atoi(t->addr + 1);

	pthread_mutex_lock(&s->lock);
	s->count[i]++;
	pthread_mutex_unlock(&s->lock);
	r->members = json_pack("{s:i}", "n", i);
	if (i == s->unreachable) {
		r->status = EX_UNREACHABLE;
		snprintf(r->error, sizeof(r->error), "no route");
	} else if (i % 97 == 5) {
		r->status = EX_FAILED;
		snprintf(r->error, sizeof(r->error), "refused");
	}
}

static void
print_nothing(void *arg, const struct target *t,
    const struct fanout_result *r)
{
}

/* fanout_run over FAN_TARGETS targets, stdout and stderr in files. */
static int
fan(struct served *s, unsigned workers, int unreachable, const char *out,
    const char *errs)
{
	static char addrs[FAN_TARGETS][16];
	struct fanout fo = { .workers = workers, .json = true, .serve = serve,
		.print = print_nothing, .arg = s };
	struct targets ts;
	char err[300];
	int i, fd, efd, saved, esaved, ret;

	memset(s->count, 0, sizeof(s->count));
	s->unreachable = unreachable;
	targets_init(&ts);
	for (i = 0; i < FAN_TARGETS; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), "t%d:1", i);
		ck_assert_int_eq(targets_add(&ts, addrs[i], false), 0);
	}
	ck_assert_int_eq(targets_check(&ts, true, FAN_TARGETS, &fo.count, err,
	    sizeof(err)), 0);
	fo.targets = &ts;
	fflush(stdout);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	efd = open(errs, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(efd, 0);
	saved = dup(STDOUT_FILENO);
	esaved = dup(STDERR_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(efd, STDERR_FILENO);
	ret = fanout_run(&fo);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	dup2(esaved, STDERR_FILENO);
	close(saved);
	close(esaved);
	close(fd);
	close(efd);
	targets_free(&ts);
	return ret;
}

START_TEST(test_fanout)
{
	struct served s = { .lock = PTHREAD_MUTEX_INITIALIZER };
	char dir[PATH_MAX], out[PATH_MAX], errs[PATH_MAX], *text, *line, *save;
	json_t *o;
	size_t n;
	int i, lines = 0, refused = 0;

	kk_test_workdir(dir);
	kk_test_join(out, dir, "out.jsonl");
	kk_test_join(errs, dir, "errors");
	/* one unreachable target outranks the refusals */
	ck_assert_int_eq(fan(&s, 16, 150, out, errs), EX_UNREACHABLE);
	for (i = 0; i < FAN_TARGETS; i++)
		ck_assert_msg(s.count[i] == 1, "target %d served %u times", i,
		    s.count[i]);
	/* one JSON line per target, whole, the command's members in it */
	text = kk_test_read(out, &n);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		o = json_loads(line, 0, NULL);
		ck_assert_msg(json_is_object(o), "not a JSON line: %s", line);
		ck_assert(json_is_string(json_object_get(o, "target")));
		ck_assert(json_is_integer(json_object_get(o, "n")));
		if (strcmp(json_string_value(json_object_get(o, "status")),
		    "refused") == 0) {
			refused++;
			ck_assert_str_eq(json_string_value(json_object_get(o,
			    "error")), "refused");
		}
		json_decref(o);
		lines++;
	}
	free(text);
	ck_assert_int_eq(lines, FAN_TARGETS);
	ck_assert_int_eq(refused, 4);		/* 5, 102, 199 and 296 */
	/* and a line on stderr for each target that did not end done */
	text = kk_test_read(errs, &n);
	for (lines = 0, line = text; (line = strchr(line, '\n')) != NULL;
	    line++)
		lines++;
	ck_assert_int_eq(lines, 5);
	ck_assert_ptr_nonnull(strstr(text, "kakurictl: t150:1: no route\n"));
	free(text);
	/* without the unreachable one: refused; one worker or many alike */
	ck_assert_int_eq(fan(&s, 1, -1, out, errs), EX_FAILED);
	ck_assert_int_eq(fan(&s, 64, -1, out, errs), EX_FAILED);
	for (i = 0; i < FAN_TARGETS; i++)
		ck_assert_uint_eq(s.count[i], 1);
}
END_TEST

/*
 * A receipt's words as a terminal gets them: an agent's line breaks and
 * escapes are gone, long text is cut, ids that are not hex are "?".
 */
START_TEST(test_receipt_text)
{
	struct receipt_text t;
	char longer[2 * sizeof(t.reason)];
	json_t *rec;

	rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "action",
	    "isolate\n10.0.0.7:7443 isolate", "command", "0123456789abcdef"
	    "0123456789abcdef", "result", "done\033[8m", "reason", "ok\r\n"
	    "summary: 40 done\033[2J", "mode", "isolated\n", "episode",
	    "../../etc");
	ck_assert_ptr_nonnull(rec);
	receipt_text(rec, "-", &t);
	ck_assert_ptr_null(strpbrk(t.action, "\n\r\033"));
	ck_assert_ptr_null(strpbrk(t.result, "\n\r\033"));
	ck_assert_ptr_null(strpbrk(t.reason, "\n\r\033"));
	ck_assert_ptr_null(strpbrk(t.mode, "\n\r\033"));
	ck_assert_ptr_nonnull(strstr(t.reason, "summary: 40 done"));
	ck_assert_str_eq(t.command, "0123456789abcdef0123456789abcdef");
	ck_assert_str_eq(t.episode, "?");
	json_decref(rec);
	/* missing words: the defaults; a long reason: cut */
	rec = json_pack("{s:s}", "reason", "");
	ck_assert_ptr_nonnull(rec);
	receipt_text(rec, "command", &t);
	ck_assert_str_eq(t.action, "command");
	ck_assert_str_eq(t.command, "-");
	ck_assert_str_eq(t.result, "?");
	ck_assert_str_eq(t.episode, "-");
	/* a reason longer than a line keeps: twice what the line holds */
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	json_object_set_new(rec, "reason", json_string(longer));
	receipt_text(rec, "-", &t);
	ck_assert_uint_lt(strlen(t.reason), sizeof(t.reason));
	json_decref(rec);
}
END_TEST

/*
 * A receipt is degraded only when it is done: a failed isolate whose
 * nftables apply failed is a failure, not "done, but not all of it".
 */
START_TEST(test_receipt_degraded_done_only)
{
	json_t *rec;

	rec = json_pack("{s:s, s:s, s:[o, o]}", KW_ACTION, "isolate",
	    KW_RESULT, KR_FAILED, KW_ENFORCERS,
	    kk_enforcer_entry("nftables", KR_FAILED, KE_APPLY_FAILED,
	    "Operation not permitted"),
	    kk_enforcer_entry("usb", KR_APPLIED, NULL, NULL));
	ck_assert_ptr_nonnull(rec);
	ck_assert(!print_receipt_degraded("t", rec, false));
	json_object_set_new(rec, KW_RESULT, json_string(KR_DONE));
	json_array_set_new(json_object_get(rec, KW_ENFORCERS), 0,
	    kk_enforcer_entry("nftables", KR_APPLIED, NULL, NULL));
	ck_assert(!print_receipt_degraded("t", rec, false));
	json_array_set_new(json_object_get(rec, KW_ENFORCERS), 1,
	    kk_enforcer_entry("usb", KR_DEGRADED, "write-refused", "1-1:1.0"));
	ck_assert(print_receipt_degraded("t", rec, false));
	json_decref(rec);
}
END_TEST

/*
 * A receipt kept short (kakurictl send --broker past its budget) still
 * says it is degraded, in the same words: cut down to the words of its
 * line, a degraded isolate counted as a whole one.  Hostile strings are
 * cleaned and cut, and at most RECEIPT_SHORT_ENFORCERS are kept.
 */
START_TEST(test_receipt_short_degraded)
{
	char big[70000], was[512], now[512];
	json_t *rec, *s, *list;
	int i;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	rec = json_pack("{s:s, s:s, s:s, s:[o, o], s:s}", KW_ACTION, "isolate",
	    KW_RESULT, KR_DONE, KW_MODE, "isolated", KW_ENFORCERS,
	    kk_enforcer_entry("nftables", KR_APPLIED, NULL, NULL),
	    kk_enforcer_entry("usb", KR_DEGRADED, "write-refused",
	    "1-1:1.0\n\x1b[2Jforged line"), KW_OUTPUT, big);
	ck_assert_ptr_nonnull(rec);
	ck_assert_uint_eq(kk_receipt_degraded(rec, was, sizeof(was)), 1);
	s = receipt_short(rec);
	ck_assert_ptr_nonnull(s);
	ck_assert(json_is_true(json_object_get(s, KW_TRUNCATED)));
	ck_assert_ptr_null(json_object_get(s, KW_OUTPUT));
	ck_assert_str_eq(json_string_value(json_object_get(s, KW_MODE)),
	    "isolated");
	ck_assert(print_receipt_degraded("t", s, false));
	ck_assert_uint_eq(kk_receipt_degraded(s, now, sizeof(now)), 1);
	ck_assert_str_eq(now, was);
	/* only what did not do its part, its detail with no line break */
	list = json_object_get(s, KW_ENFORCERS);
	ck_assert_uint_eq(json_array_size(list), 1);
	ck_assert_ptr_null(strpbrk(json_string_value(json_object_get(
	    json_array_get(list, 0), KW_DETAIL)), "\n\x1b"));
	json_decref(s);
	/* a whole one: nothing of enforcers kept, still done */
	json_array_set_new(json_object_get(rec, KW_ENFORCERS), 1,
	    kk_enforcer_entry("usb", KR_APPLIED, NULL, NULL));
	s = receipt_short(rec);
	ck_assert_ptr_null(json_object_get(s, KW_ENFORCERS));
	ck_assert(!print_receipt_degraded("t", s, false));
	json_decref(s);
	/* a hostile agent's 1,000 degraded enforcers: 8 kept, each cut */
	for (i = 0; i < 1000; i++)
		json_array_append_new(json_object_get(rec, KW_ENFORCERS),
		    kk_enforcer_entry(big, KR_DEGRADED, big, big));
	s = receipt_short(rec);
	list = json_object_get(s, KW_ENFORCERS);
	ck_assert_uint_eq(json_array_size(list), RECEIPT_SHORT_ENFORCERS);
	ck_assert_uint_lt(json_dumpb(s, NULL, 0, JSON_COMPACT), 4096);
	json_decref(s);
	json_decref(rec);
}
END_TEST

/*
 * The paths an agent names in a fetch listing or a manifest, before fetch
 * makes directories for them: a hostile agent's 127-deep paths would
 * make 127 directories a file.
 */
START_TEST(test_fetch_path_ok)
{
	static const char *const bad[] = {
		"", "/etc/passwd", "a//b", "./a", "a/./b", "a/..", "../a",
		"a/", "a\nb", "a\033b", "a\xc3\xa9",
	};
	char p[FETCH_PATH_MAX + 2];
	size_t i;

	ck_assert(path_ok("manifest.jsonl", 14));
	ck_assert(path_ok("snapshot-1/pid-42/maps", 22));
	ck_assert(path_ok("..a/.b/a..", 10));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!path_ok(bad[i], strlen(bad[i])), "%s", bad[i]);
	/* a NUL inside: the length says more than the string */
	ck_assert(!path_ok("a\0b", 3));
	/* FETCH_PATH_DEPTH directories above the file, and not one more */
	p[0] = '\0';
	for (i = 0; i < FETCH_PATH_DEPTH; i++)
		strcat(p, "d/");
	strcat(p, "f");
	ck_assert(path_ok(p, strlen(p)));
	memmove(p + 2, p, strlen(p) + 1);
	memcpy(p, "d/", 2);
	ck_assert(!path_ok(p, strlen(p)));
	/* 255 bytes, and not one more */
	memset(p, 'x', FETCH_PATH_MAX + 1);
	p[FETCH_PATH_MAX] = '\0';
	ck_assert(path_ok(p, FETCH_PATH_MAX));
	p[FETCH_PATH_MAX] = 'x';
	p[FETCH_PATH_MAX + 1] = '\0';
	ck_assert(!path_ok(p, FETCH_PATH_MAX + 1));
}
END_TEST

/*
 * What the disconnect button says of the employee's message and of the
 * CSIRT's notice: sent, not sent (the CSIRT knows already), or neither
 * the isolation nor the message told (call the desk now).
 */
static char *
guidance_of(const char *lang, bool unsent, bool not_told)
{
	struct kk_guidance g = { .mode = "isolated", .episode = "e1",
		.desk = "Desk 7", .phone = "0120", .email = "x@example.invalid",
		.message = "ransom note", .message_unsent = unsent,
		.csirt_not_told = not_told };
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(kk_guidance_print(f, lang, &g), 0);
	fclose(f);
	return text;
}

static const struct {
	const char *lang;
	bool unsent, not_told;
	const char *has[2], *lacks[2];
} guidance_cases[] = {
	{ "en", false, false,
	    { "Your message is sent with it: \"ransom note\"",
	    "also notifies the CSIRT automatically" }, { "NOT", NULL } },
	{ "en", true, false,
	    { "Your message was NOT sent (the CSIRT was told",
	    "also notifies the CSIRT automatically" },
	    { "is sent with it", NULL } },
	{ "en", true, true,
	    { "could NOT notify the CSIRT automatically",
	    "nor your\n     message sent: call the desk now: \"ransom note\"" },
	    { "also notifies the CSIRT automatically", "was told" } },
	{ "ja", true, true, { "自動通知はできませんでした",
	    "すぐに窓口へ連絡してください：「ransom note」" },
	    { "併せて通知されます", NULL } },
};

START_TEST(test_guidance_message)
{
	char *t = guidance_of(guidance_cases[_i].lang,
	    guidance_cases[_i].unsent, guidance_cases[_i].not_told);
	size_t k;

	for (k = 0; k < 2; k++) {
		ck_assert_msg(strstr(t, guidance_cases[_i].has[k]) != NULL,
		    "missing: %s", guidance_cases[_i].has[k]);
		ck_assert_msg(guidance_cases[_i].lacks[k] == NULL ||
		    strstr(t, guidance_cases[_i].lacks[k]) == NULL,
		    "there: %s", guidance_cases[_i].lacks[k]);
	}
	free(t);
}
END_TEST

/* What print_receipt_left_out says of the receipt text rec (heap). */
static char *
left_out_line(const char *rec)
{
	json_t *o = json_loads(rec, 0, NULL);
	FILE *f = tmpfile();
	char *buf = calloc(1, 512);
	int saved;

	ck_assert_ptr_nonnull(o);
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(buf);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	dup2(fileno(f), STDOUT_FILENO);
	print_receipt_left_out("A", o);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	rewind(f);
	(void)!fread(buf, 1, 511, f);
	fclose(f);
	json_decref(o);
	return buf;
}

/*
 * A brief receipt's line: what was left out, in the words this version
 * knows only (the agent that signed it may be the one compromised), and
 * nothing for a whole receipt.
 */
START_TEST(test_receipt_left_out)
{
	char *s;

	s = left_out_line("{\"result\": \"done\", \"status\": {}}");
	ck_assert_str_eq(s, "");
	free(s);
	s = left_out_line("{\"left_out\": {\"parts\": [\"status\"], "
	    "\"bytes\": 5000}}");
	ck_assert_str_eq(s, "A left out: status (the whole receipt, 5000 "
	    "bytes, is more than the transport takes)\n");
	free(s);
	s = left_out_line("{\"left_out\": {\"parts\": [\"output\", "
	    "\"status\"], \"bytes\": 9}}");
	ck_assert_ptr_nonnull(strstr(s, "A left out: status and output ("));
	free(s);
	s = left_out_line("{\"left_out\": {\"parts\": [\"\\u001b[2J\", 7], "
	    "\"bytes\": \"many\"}}");
	ck_assert_str_eq(s, "A left out: ? (the whole receipt, 0 bytes, is "
	    "more than the transport takes)\n");
	free(s);
}
END_TEST

KK_SUITE(ctl_suite, "ctl",
	KK_CASE("cmdtab", 0, 0), KK_TEST(test_find_words),
	    KK_TEST(test_usage_lines), KK_TEST(test_describe),
	KK_CASE("targets", KK_TMPDIR, 0), KK_TEST(test_targets_order),
	    KK_TEST(test_targets_refused),
	    KK_TEST(test_targets_long_lines),
	    KK_TEST(test_targets_pipe), KK_TEST(test_targets_limit),
	KK_CASE("fanout", KK_TMPDIR, 0), KK_TEST(test_fanout),
	KK_CASE("output", 0, 0), KK_TEST(test_receipt_text),
	    KK_TEST(test_receipt_degraded_done_only),
	    KK_TEST(test_receipt_short_degraded),
	    KK_TEST(test_receipt_left_out),
	KK_CASE("verify", 0, 0), KK_TEST(test_fetch_path_ok),
	KK_CASE("guidance", 0, 0),
	    KK_LOOP(test_guidance_message, KK_NITEMS(guidance_cases)))
