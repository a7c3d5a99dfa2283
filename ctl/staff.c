/*
 * kakurictl - the staff button and the CSIRT operator's tool.
 *
 * A thin client: each command is one entry of the table below, builds
 * one request, sends it to kakurid's control socket, prints the answer.
 * Exit status (DESIGN 5): 0 done, 1 refused or failed, 2 usage error,
 * 3 agent not reachable.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "kakuri.h"
#include "guidance.h"
#include "kakurictl.h"

#define DEFAULT_SOCKET		"/run/kakuri/control.sock"
#define REQUEST_TIMEOUT_MS	15000

struct command {
	const char *name;
	int (*run)(struct ctl *, int, char **);
	const char *usage;
};

void
fail_line(const char *fmt, ...)
{
	va_list ap;

	fputs("kakurictl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Connects and sends req.  Returns an exit status; *fdp on success. */
static int
send_request(struct ctl *c, json_t *req, int *fdp)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char *text = NULL;
	int fd = -1, err, ret = EX_UNREACHABLE;

	*fdp = -1;
	if (strlen(c->socket_path) >= sizeof(sun.sun_path)) {
		fail_line("socket path too long: %s", c->socket_path);
		return EX_USAGE;
	}
	strcpy(sun.sun_path, c->socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fail_line("agent not reachable at %s: %s", c->socket_path,
		    strerror(errno));
		goto out;
	}
	text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	err = text ? kk_frame_write(fd, text, strlen(text)) : -ENOMEM;
	/*
	 * An agent that refuses the connection (busy) answers and closes at
	 * once, maybe before the request is written: read what it said.
	 */
	if (err < 0 && err != -EPIPE && err != -ECONNRESET) {
		fail_line("agent not reachable at %s: write failed",
		    c->socket_path);
		goto out;
	}
	*fdp = fd;
	fd = -1;
	ret = EX_DONE;
out:
	if (fd >= 0)
		close(fd);
	free(text);
	return ret;
}

/* The answer: one JSON object.  Returns an exit status; *resp on success. */
static int
read_answer(struct ctl *c, int fd, json_t **resp)
{
	uint8_t *body = NULL;
	size_t len;
	json_error_t jerr;
	int err, ret = EX_UNREACHABLE;

	*resp = NULL;
	err = kk_frame_read(fd, &body, &len, KK_FRAME_MAX, REQUEST_TIMEOUT_MS);
	if (err < 0) {
		fail_line("agent not reachable at %s: %s", c->socket_path,
		    strerror(-err));
		goto out;
	}
	*resp = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES,
	    &jerr);
	if (*resp == NULL || !json_is_object(*resp)) {
		fail_line("malformed answer from the agent");
		json_decref(*resp);
		*resp = NULL;
		ret = EX_FAILED;
		goto out;
	}
	ret = EX_DONE;
out:
	free(body);
	return ret;
}

/* One request, one response.  Returns an exit status; *resp on success. */
static int
request(struct ctl *c, json_t *req, json_t **resp)
{
	int fd, ret;

	*resp = NULL;
	if ((ret = send_request(c, req, &fd)) != EX_DONE)
		return ret;
	ret = read_answer(c, fd, resp);
	close(fd);
	return ret;
}

/* Prints a refusal as one line; EX_FAILED for a refusal, else EX_DONE. */
static int
check_ok(struct ctl *c, json_t *resp)
{
	const char *why, *msg;

	if (json_is_true(json_object_get(resp, "ok")))
		return EX_DONE;
	why = json_string_value(json_object_get(resp, "error"));
	msg = json_string_value(json_object_get(resp, "message"));
	if (c->json) {
		json_dumpf(resp, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	}
	fail_line("%s: %s", why ? why : "refused", msg ? msg : "");
	return EX_FAILED;
}

/* Sends cmd; prints a refusal as one line and returns the exit status. */
int
ctl_call(struct ctl *c, json_t *req, json_t **resp)
{
	int ret = request(c, req, resp);

	json_decref(req);
	if (ret != EX_DONE)
		return ret;
	return check_ok(c, *resp);
}

static const char *
str_or(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : dflt;
}

static int
parse_json_flag(struct ctl *c, int argc, char **argv, const char *extra,
    int (*opt)(int, const char *, void *), void *arg)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'J' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, extra, longopts, NULL)) != -1) {
		if (ch == 'J')
			c->json = true;
		else if (opt == NULL || opt(ch, optarg, arg) < 0)
			return -1;
	}
	return optind;
}

static int
cmd_status(struct ctl *c, int argc, char **argv)
{
	static const char *const hooks[] = { "input", "output", "forward" };
	json_t *resp, *cnt;
	int ret, i;

	if (parse_json_flag(c, argc, argv, "", NULL, NULL) != argc)
		return EX_USAGE;
	ret = ctl_call(c, json_pack("{s:s}", "cmd", "status"), &resp);
	if (ret != EX_DONE)
		return ret;
	if (c->json) {
		json_object_del(resp, "ok");
		json_dumpf(resp, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(resp);
		return EX_DONE;
	}
	printf("mode:        %s\n", str_or(resp, "mode", "?"));
	printf("episode:     %s\n", str_or(resp, "episode", "-"));
	printf("since:       %s\n", str_or(resp, "since", "-"));
	printf("by:          %s\n", str_or(resp, "by", "-"));
	printf("reason:      %s\n", str_or(resp, "reason", "-"));
	printf("drill:       %s\n",
	    json_is_true(json_object_get(resp, "drill")) ? "yes" : "no");
	printf("protection:  %s, kernel table %s\n",
	    str_or(resp, "protection", "?"),
	    json_is_true(json_object_get(resp, "verified")) ? "verified" :
	    "DIFFERS FROM STATE");
	printf("tampering:   %lld event(s) restored\n",
	    (long long)json_integer_value(json_object_get(resp, "tamper_events")));
	{
		json_t *alert;
		size_t k;

		/* what keeps the quarantine from being verified, until it holds */
		json_array_foreach(json_object_get(resp, "tamper"), k, alert)
			printf("ALERT:       %s\n", str_or(alert, "what", "?"));
		if (json_object_get(resp, "not_covered"))
			printf("NOT COVERED: %s\n", str_or(resp, "not_covered", "?"));
	}
	cnt = json_object_get(resp, "counters");
	printf("blocked:    ");
	for (i = 0; i < 3; i++) {
		json_t *h = json_object_get(cnt, hooks[i]);

		printf(" %s %lld pkts/%lld bytes%s", hooks[i],
		    (long long)json_integer_value(json_object_get(h, "packets")),
		    (long long)json_integer_value(json_object_get(h, "bytes")),
		    i < 2 ? "," : "\n");
	}
	json_decref(resp);
	return EX_DONE;
}

static int
disconnect_opt(int ch, const char *arg, void *data)
{
	if (ch != 'm')
		return -1;
	*(const char **)data = arg;
	return 0;
}

static int
cmd_disconnect(struct ctl *c, int argc, char **argv)
{
	const char *message = NULL;
	struct kk_guidance g;
	json_t *resp, *contact;
	size_t bad;
	int ret, r;

	if (parse_json_flag(c, argc, argv, "m:", disconnect_opt,
	    &message) != argc)
		return EX_USAGE;
	/* kakurid checks it too; here the employee learns why at once */
	if (message && (r = kk_text_check(message, strlen(message),
	    &bad)) < 0) {
		fail_line("the message %s (byte %zu); nothing was sent: press "
		    "disconnect again with plain text or without -m",
		    kk_text_problem(r), bad);
		return EX_USAGE;
	}
	ret = ctl_call(c, json_pack("{s:s, s:s?}", "cmd", "disconnect", "message",
	    message), &resp);
	if (ret != EX_DONE)
		return ret;
	if (c->json) {
		json_object_del(resp, "ok");
		json_dumpf(resp, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(resp);
		return EX_DONE;
	}
	contact = json_object_get(resp, "contact");
	memset(&g, 0, sizeof(g));
	g.mode = str_or(resp, "mode", "isolated");
	g.episode = str_or(resp, "episode", "");
	g.desk = str_or(contact, "desk", "");
	g.phone = str_or(contact, "phone", "");
	g.email = str_or(contact, "email", "");
	g.message = message;
	kk_guidance_print(stdout, kk_guidance_lang(), &g);
	if (json_is_true(json_object_get(resp, "message_cut")))
		fprintf(stderr, "kakurictl: note: the message was recorded "
		    "shortened to %d bytes\n", KK_TEXT_MAX - 1);
	json_decref(resp);
	return EX_DONE;
}

static int
cmd_release(struct ctl *c, int argc, char **argv)
{
	json_t *resp;
	int ret, first;

	first = parse_json_flag(c, argc, argv, "", NULL, NULL);
	if (first < 0 || argc - first > 1)
		return EX_USAGE;
	/* kakurid refuses this; asking it makes the attempt part of the audit */
	ret = ctl_call(c, json_pack("{s:s, s:s?}", "cmd", "release", "episode",
	    first < argc ? argv[first] : NULL), &resp);
	json_decref(resp);
	return ret;
}

/*
 * A field of an audit line as it may go to a terminal: kakurid cleans
 * what it writes, but a line of an older version or an edited file may
 * hold an escape sequence.
 */
static const char *
shown(json_t *e, const char *key, const char *dflt, char *buf, size_t len)
{
	const char *s = str_or(e, key, dflt);

	kk_text_clean(buf, len, s, strlen(s));
	return buf;
}

static void
print_entry(json_t *e)
{
	json_t *extra = json_deep_copy(e);
	static const char *const known[] = { "time", "seq", "actor", "action",
		"result", "episode", "prev" };
	char t[64], ac[128], re[256], who[256], ep[64];
	char *rest, *clean;
	size_t i, len;

	printf("%-24s %-10s %-16s %s", shown(e, "time", "?", t, sizeof(t)),
	    shown(e, "action", "?", ac, sizeof(ac)),
	    shown(e, "result", "", re, sizeof(re)),
	    shown(e, "actor", "", who, sizeof(who)));
	if (str_or(e, "episode", "")[0])
		printf(" episode=%.8s", shown(e, "episode", "", ep, sizeof(ep)));
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		json_object_del(extra, known[i]);
	if (json_object_size(extra) > 0) {
		rest = json_dumps(extra, JSON_COMPACT | JSON_PRESERVE_ORDER);
		/* jansson escapes C0, but C1 and bidi controls pass as UTF-8 */
		len = rest ? strlen(rest) : 0;
		if (rest != NULL && (clean = malloc(3 * len + 1)) != NULL) {
			kk_text_clean(clean, 3 * len + 1, rest, len);
			printf(" %s", clean);
			free(clean);
		}
		free(rest);
	}
	putchar('\n');
	json_decref(extra);
}

/*
 * --since: "2026-03-01T09:00:00Z" (RFC 3339, UTC or with an offset),
 * "2026-03-01", "@EPOCH", or an age: "90s", "15m", "2h", "7d".
 */
static int
parse_since(const char *s, time_t *out)
{
	struct tm tm;
	const char *end;
	char *e;
	long long v;
	int sign, hh, mm;

	if (*s == '@' || (s[0] >= '0' && s[0] <= '9' && strchr(s, '-') == NULL)) {
		v = strtoll(s + (*s == '@'), &e, 10);
		if (e == s + (*s == '@') || v < 0)
			return -EINVAL;
		if (*s == '@' && *e == '\0') {
			*out = (time_t)v;
			return 0;
		}
		switch (*e) {
		case 's': break;
		case 'm': v *= 60; break;
		case 'h': v *= 3600; break;
		case 'd': v *= 86400; break;
		default: return -EINVAL;
		}
		if (e[1] != '\0' || *s == '@')
			return -EINVAL;
		*out = time(NULL) - (time_t)v;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%d", &tm);
	if (end == NULL)
		return -EINVAL;
	if (*end == '\0') {
		*out = timegm(&tm);
		return 0;
	}
	if ((*end != 'T' && *end != ' ') ||
	    (end = strptime(end + 1, "%H:%M:%S", &tm)) == NULL)
		return -EINVAL;
	if (*end == '.')
		for (end++; *end >= '0' && *end <= '9'; end++)
			;
	*out = timegm(&tm);
	if (strcmp(end, "Z") == 0 || *end == '\0')
		return 0;
	if ((*end != '+' && *end != '-') ||
	    sscanf(end + 1, "%2d:%2d", &hh, &mm) != 2 || strlen(end) != 6)
		return -EINVAL;
	sign = *end == '+' ? 1 : -1;
	*out -= sign * (hh * 3600 + mm * 60);
	return 0;
}

struct log_opts {
	long long lines;
	time_t since;
	bool have_lines;
	bool have_since;
};

static int
log_opt(int ch, const char *arg, void *data)
{
	struct log_opts *o = data;
	char *e;

	switch (ch) {
	case 'n':
		o->lines = strtoll(arg, &e, 10);
		if (*arg == '\0' || *e != '\0' || o->lines < 0) {
			fail_line("-n wants a number of lines (0: all)");
			return -1;
		}
		o->have_lines = true;
		return 0;
	case 'S':
		if (parse_since(arg, &o->since) < 0) {
			fail_line("--since: '%s' is not a time (2026-03-01T09:00:00Z, 2026-03-01, @EPOCH, 15m, 2h, 7d)",
			    arg);
			return -1;
		}
		o->have_since = true;
		return 0;
	}
	return -1;
}

/* The lines of a log stream, checked as they come. */
#define LOG_LINE_MAX	(1024 * 1024)	/* far beyond any line kakurid writes */
struct log_view {
	struct ctl *c;
	struct kk_audit_chain chain;
	char *line;
	size_t len;
	bool overlong;
	size_t n;			/* lines seen */
	size_t bad;			/* first line that breaks the chain */
};

static void
log_line(struct log_view *v, const char *line, size_t len, bool whole)
{
	json_t *e = NULL;

	v->n++;
	if (!whole || kk_audit_chain_line(&v->chain, line, len) < 0) {
		if (v->bad == 0)
			v->bad = v->n;
		if (!whole)
			v->chain.expect[0] = '\0';
	}
	if (whole)
		e = json_loadb(line, len, 0, NULL);
	if (v->c->json) {
		if (v->n > 1)
			fputs(",\n", stdout);
		fputs("    ", stdout);
		if (e != NULL)
			json_dumpf(e, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
		else
			fputs("null", stdout);
	} else if (e != NULL) {
		print_entry(e);
	} else {
		printf("(line %zu does not parse)\n", v->n);
	}
	json_decref(e);
}

/* Bytes of the stream: split into lines, which may span frames. */
static int
log_feed(struct log_view *v, const char *p, size_t len)
{
	const char *nl;
	size_t take;
	char *grown;

	while (len > 0) {
		nl = memchr(p, '\n', len);
		take = nl ? (size_t)(nl - p) : len;
		if (!v->overlong && v->len + take > LOG_LINE_MAX)
			v->overlong = true;
		if (!v->overlong) {
			if ((grown = realloc(v->line, v->len + take + 1)) == NULL)
				return -ENOMEM;
			v->line = grown;
			memcpy(v->line + v->len, p, take);
			v->len += take;
		}
		if (nl == NULL)
			break;
		log_line(v, v->line, v->len, !v->overlong);
		v->len = 0;
		v->overlong = false;
		p = nl + 1;
		len -= take + 1;
	}
	return 0;
}

/*
 * Frames one after the other from fd (kk_frame_read takes one frame and
 * refuses more): bytes read past a frame wait for the next call.
 */
struct frame_stream {
	int fd;
	struct kk_frame_reader rd;
	uint8_t buf[16384];
	size_t have;
	size_t off;
};

static int
stream_frame(struct frame_stream *fs, uint8_t **body, size_t *len)
{
	struct pollfd pfd = { .fd = fs->fd, .events = POLLIN };
	size_t used;
	ssize_t n;
	int r;

	for (;;) {
		while (fs->off < fs->have) {
			r = kk_frame_feed(&fs->rd, fs->buf + fs->off,
			    fs->have - fs->off, &used);
			fs->off += used;
			if (r < 0)
				return r;
			if (r == 1) {
				*body = kk_frame_take(&fs->rd, len);
				return 0;
			}
		}
		r = poll(&pfd, 1, REQUEST_TIMEOUT_MS);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -ETIMEDOUT;
		n = read(fs->fd, fs->buf, sizeof(fs->buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		fs->have = (size_t)n;
		fs->off = 0;
	}
}

static int
cmd_log(struct ctl *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'J' },
		{ "since", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	struct log_opts o = { .lines = KK_LOG_DEFAULT_LINES };
	struct log_view v = { .c = c };
	struct frame_stream *fs = NULL;
	json_error_t jerr;
	const char *head, *anchor;
	unsigned long long want, got = 0;
	size_t first_line, len;
	uint8_t *body;
	json_t *req, *resp = NULL;
	bool broken, truncated;
	int ch, fd = -1, ret, err;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "n:", longopts, NULL)) != -1) {
		if (ch == 'J')
			c->json = true;
		else if (log_opt(ch, optarg, &o) < 0)
			return EX_USAGE;
	}
	if (optind != argc)
		return EX_USAGE;
	/* --since without -n: everything since then */
	if (o.have_since && !o.have_lines)
		o.lines = 0;
	req = json_pack("{s:s, s:I}", "cmd", "log", "lines", (json_int_t)o.lines);
	if (o.have_since)
		json_object_set_new(req, "since", json_integer(
		    (json_int_t)(o.since < 0 ? 0 : o.since)));
	ret = send_request(c, req, &fd);
	json_decref(req);
	if (ret != EX_DONE)
		goto out;
	if ((fs = calloc(1, sizeof(*fs))) == NULL) {
		ret = EX_FAILED;
		goto out;
	}
	fs->fd = fd;
	kk_frame_reader_init(&fs->rd, KK_FRAME_MAX);
	if ((err = stream_frame(fs, &body, &len)) < 0) {
		fail_line("agent not reachable at %s: %s", c->socket_path,
		    strerror(-err));
		ret = EX_UNREACHABLE;
		goto out;
	}
	resp = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
	free(body);
	if (!json_is_object(resp)) {
		fail_line("malformed answer from the agent");
		ret = EX_FAILED;
		goto out;
	}
	if ((ret = check_ok(c, resp)) != EX_DONE)
		goto out;
	want = (unsigned long long)json_integer_value(json_object_get(resp,
	    "stream"));
	kk_audit_chain_init(&v.chain, str_or(resp, "first_prev", ""));
	head = str_or(resp, "head", "");
	anchor = str_or(resp, "anchor", "line");
	truncated = json_is_true(json_object_get(resp, "truncated"));
	first_line = (size_t)json_integer_value(json_object_get(resp,
	    "first_line"));
	if (first_line == 0)
		first_line = 1;
	if (c->json)
		fputs("{\n  \"entries\": [\n", stdout);
	while (got < want) {
		if (stream_frame(fs, &body, &len) < 0)
			break;
		got += len;
		err = log_feed(&v, (const char *)body, len);
		free(body);
		if (err < 0)
			break;
	}
	if (v.len > 0 || v.overlong)	/* a last line without its newline */
		log_line(&v, v.line, v.len, !v.overlong);
	/* the last line is anchored by the hash kakurid holds in memory */
	broken = v.bad != 0 || got != want ||
	    (v.n > 0 && strcmp(v.chain.expect, head) != 0);
	if (broken && v.bad == 0)
		v.bad = v.n + (got != want);
	if (c->json) {
		printf("\n  ],\n  \"chain\": \"%s\",\n  \"first_line\": %zu,\n"
		    "  \"truncated\": %s", broken ? "broken" : "verified",
		    first_line, truncated ? "true" : "false");
		if (broken)
			printf(",\n  \"broken_at\": %zu", first_line + v.bad - 1);
		printf("\n}\n");
	} else if (!broken) {
		printf("chain: verified, %zu entries", v.n);
		if (strcmp(anchor, "rotated") == 0)
			printf(" (from line %zu: older files were rotated away)",
			    first_line);
		else if (truncated)
			printf(" (from line %zu; -n 0 shows all)", first_line);
		putchar('\n');
	}
	if (got != want) {
		fail_line("the agent sent %llu of %llu bytes of the log", got,
		    want);
		ret = EX_FAILED;
	} else if (broken) {
		fail_line("audit chain broken at line %zu: that line or the one before it was changed, inserted or removed",
		    first_line + v.bad - 1);
		ret = EX_FAILED;
	}
out:
	if (fd >= 0)
		close(fd);
	if (fs != NULL)
		kk_frame_reader_reset(&fs->rd);
	free(fs);
	free(v.line);
	json_decref(resp);
	return ret;
}

static int cmd_help(struct ctl *, int, char **);

static const struct command commands[] = {
	{ "status", cmd_status, "status [--json]" },
	{ "disconnect", cmd_disconnect, "disconnect [-m text] [--json]" },
	{ "release", cmd_release, "release [episode]" },
	{ "log", cmd_log, "log [-n LINES] [--since TIME] [--json]" },
	{ "apply", cmd_apply, "apply [--json] FILE" },
	{ "keygen", cmd_keygen, "keygen NAME" },
	{ "agent-id", cmd_agent_id, "agent-id FILE" },
	{ "sign", cmd_sign, "sign -k KEY --agent ID --action A [--arg k=v | --arg k:=JSON]... [--episode E] [--incident I] [--reason R] [--ttl S] [--valid-from EPOCH] [--keyid K] [-o FILE]" },
	{ "cosign", cmd_cosign, "cosign -k KEY [--keyid K] [-o OUT] FILE" },
	{ "send", cmd_send, "send --to HOST:PORT [--to ...] | --targets FILE  --cert CRT --key KEY [--ca CA] [--agent-id ID] [--by-agent] [--concurrency N] [--timeout MS] [--json] FILE..." },
	{ "fetch", cmd_fetch, "fetch --to HOST:PORT --cert CRT --key KEY [--ca CA] --agent-id ID -k SIGNKEY [--keyid K] --id EVID -o DIR [--ttl S] [--timeout S] [--json]\n       kakurictl fetch --verify DIR --agent-key FILE [--json]" },
	{ "help", cmd_help, "help" },
};

static void
usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: kakurictl [-s socket] [--json] command [args]\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "       kakurictl %s\n", commands[i].usage);
}

static int
cmd_help(struct ctl *c, int argc, char **argv)
{
	usage(stdout);
	return EX_DONE;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl c = { .socket_path = DEFAULT_SOCKET };
	size_t i;
	int ch;

	setlocale(LC_ALL, "");
	/* an agent that hangs up is an error message, not a SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	/* global options stop at the command name */
	while ((ch = getopt_long(argc, argv, "+s:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			c.socket_path = optarg;
			break;
		case 'J':
			c.json = true;
			break;
		case 'h':
			usage(stdout);
			return EX_DONE;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[optind], commands[i].name) == 0) {
			int ret = commands[i].run(&c, argc - optind,
			    argv + optind);

			if (ret == EX_USAGE)
				fprintf(stderr, "usage: kakurictl %s\n",
				    commands[i].usage);
			return ret;
		}
	}
	fail_line("unknown command '%s' (try 'kakurictl help')", argv[optind]);
	return EX_USAGE;
}
