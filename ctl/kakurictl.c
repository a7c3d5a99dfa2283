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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* One request, one response.  Returns an exit status; *resp on success. */
static int
request(struct ctl *c, json_t *req, json_t **resp)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	uint8_t *body = NULL;
	size_t len;
	char *text = NULL;
	json_error_t jerr;
	int fd = -1, err, ret = EX_UNREACHABLE;

	*resp = NULL;
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
	text = json_dumps(req, JSON_COMPACT);
	if (text == NULL || (err = kk_frame_write(fd, text, strlen(text))) < 0) {
		fail_line("agent not reachable at %s: write failed",
		    c->socket_path);
		goto out;
	}
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
	if (fd >= 0)
		close(fd);
	free(text);
	free(body);
	return ret;
}

/* Sends cmd; prints a refusal as one line and returns the exit status. */
int
ctl_call(struct ctl *c, json_t *req, json_t **resp)
{
	int ret = request(c, req, resp);

	json_decref(req);
	if (ret != EX_DONE)
		return ret;
	if (!json_is_true(json_object_get(*resp, "ok"))) {
		const char *why = json_string_value(json_object_get(*resp, "error"));
		const char *msg = json_string_value(json_object_get(*resp, "message"));

		if (c->json)
			json_dumpf(*resp, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (c->json)
			putchar('\n');
		fail_line("%s: %s", why ? why : "refused", msg ? msg : "");
		return EX_FAILED;
	}
	return EX_DONE;
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

static void
print_entry(json_t *e)
{
	json_t *extra = json_deep_copy(e);
	static const char *const known[] = { "time", "seq", "actor", "action",
		"result", "episode", "prev" };
	char *rest;
	size_t i;

	printf("%-24s %-10s %-16s %s", str_or(e, "time", "?"),
	    str_or(e, "action", "?"), str_or(e, "result", ""),
	    str_or(e, "actor", ""));
	if (str_or(e, "episode", "")[0])
		printf(" episode=%.8s", str_or(e, "episode", ""));
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		json_object_del(extra, known[i]);
	if (json_object_size(extra) > 0) {
		rest = json_dumps(extra, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (rest)
			printf(" %s", rest);
		free(rest);
	}
	putchar('\n');
	json_decref(extra);
}

static int
cmd_log(struct ctl *c, int argc, char **argv)
{
	const char *lines, *first_prev, *head, *p, *nl;
	char last_hash[65];
	size_t len, bad = 0, n = 0, first_line;
	json_t *resp, *entries;
	int ret, err;
	bool broken;

	if (parse_json_flag(c, argc, argv, "", NULL, NULL) != argc)
		return EX_USAGE;
	ret = ctl_call(c, json_pack("{s:s}", "cmd", "log"), &resp);
	if (ret != EX_DONE)
		return ret;
	lines = str_or(resp, "lines", "");
	first_prev = str_or(resp, "first_prev", KK_AUDIT_GENESIS);
	head = str_or(resp, "head", "");
	first_line = (size_t)json_integer_value(json_object_get(resp,
	    "first_line"));
	len = strlen(lines);
	err = kk_audit_verify(lines, len, first_prev, &bad);
	broken = err < 0;
	/* the last line is anchored by the hash kakurid keeps in memory */
	if (!broken && len > 0) {
		const char *end = lines + len;

		if (end[-1] == '\n')
			end--;
		p = end;
		while (p > lines && p[-1] != '\n')
			p--;
		kk_sha256_hex(p, (size_t)(end - p), last_hash);
		if (strcmp(last_hash, head) != 0) {
			broken = true;
			for (nl = lines; nl < p; nl++)
				if (*nl == '\n')
					bad++;
			bad++;
		}
	}
	entries = json_array();
	for (p = lines; *p; p = nl ? nl + 1 : p + strlen(p)) {
		json_t *e;

		nl = strchr(p, '\n');
		e = json_loadb(p, nl ? (size_t)(nl - p) : strlen(p), 0, NULL);
		n++;
		if (c->json)
			json_array_append_new(entries, e ? e : json_null());
		else if (e)
			print_entry(e), json_decref(e);
		else
			printf("(line %zu does not parse)\n", first_line + n - 1);
	}
	if (c->json) {
		json_t *o = json_pack("{s:o, s:s, s:I, s:b}", "entries", entries,
		    "chain", broken ? "broken" : "verified",
		    "first_line", (json_int_t)first_line,
		    "truncated", json_is_true(json_object_get(resp, "truncated")));

		if (broken)
			json_object_set_new(o, "broken_at",
			    json_integer((json_int_t)(first_line + bad - 1)));
		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(o);
	} else {
		json_decref(entries);
		if (!broken)
			printf("chain: verified, %zu entries\n", n);
	}
	json_decref(resp);
	if (broken) {
		fail_line("audit chain broken at line %zu: that line or the one before it was changed, inserted or removed",
		    first_line + bad - 1);
		return EX_FAILED;
	}
	return EX_DONE;
}

static int cmd_help(struct ctl *, int, char **);

static const struct command commands[] = {
	{ "status", cmd_status, "status [--json]" },
	{ "disconnect", cmd_disconnect, "disconnect [-m text] [--json]" },
	{ "release", cmd_release, "release [episode]" },
	{ "log", cmd_log, "log [--json]" },
	{ "apply", cmd_apply, "apply [--json] FILE" },
	{ "keygen", cmd_keygen, "keygen NAME" },
	{ "agent-id", cmd_agent_id, "agent-id FILE" },
	{ "sign", cmd_sign, "sign -k KEY --agent ID --action A [--arg k=v | --arg k:=JSON]... [--episode E] [--incident I] [--reason R] [--ttl S] [--valid-from EPOCH] [--keyid K] [-o FILE]" },
	{ "cosign", cmd_cosign, "cosign -k KEY [--keyid K] [-o OUT] FILE" },
	{ "send", cmd_send, "send --to HOST:PORT [--to ...] | --targets FILE  --cert CRT --key KEY [--ca CA] [--agent-id ID] [--by-agent] [--concurrency N] [--timeout MS] [--json] FILE..." },
	{ "fetch", cmd_fetch, "fetch --to HOST:PORT --cert CRT --key KEY [--ca CA] [--agent-id ID] -k SIGNKEY [--keyid K] --id EVID -o DIR [--ttl S] [--timeout S] [--json]\n       kakurictl fetch --verify DIR --agent-key FILE [--json]" },
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
