/*
 * The commands on the endpoint, over kakurid's control socket (client.c):
 * the staff button (disconnect), the administrator's view (status, log),
 * a signed command handed over by hand (apply), and the release that is
 * always refused locally.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "kakuri.h"
#include "client.h"
#include "commands.h"
#include "guidance.h"
#include "options.h"
#include "output.h"
#include "sign.h"
#include "wire.h"

/* --json: the answer as it came, without its "ok" */
static int
print_answer(json_t *resp)
{
	json_object_del(resp, KW_OK);
	print_json(resp);
	json_decref(resp);
	return EX_DONE;
}

/* --json and between min and max operands: what most of these take */
static int
json_only(struct ctl *c, int argc, char **argv, int min, int max, int *first)
{
	const struct ctl_option opts[] = {
		CTL_FLAG("json", &c->json),
		CTL_OPTIONS_END,
	};

	return ctl_options(argc, argv, opts, min, max, first);
}

/*
 * req to kakurid: EX_DONE with the answer in *resp for the caller to
 * show, or with --json the answer printed as it came and *resp NULL;
 * else what failed (said already) and *resp NULL.
 */
static int
ask(struct ctl *c, json_t *req, json_t **resp)
{
	int ret = ctl_call(c, req, resp);

	if (ret == EX_DONE && !c->json)
		return EX_DONE;
	if (ret == EX_DONE)
		ret = print_answer(*resp);	/* and frees it */
	else
		json_decref(*resp);
	*resp = NULL;
	return ret;
}

/* ask for op, a question without arguments: --json or nothing */
static int
ask_plain(struct ctl *c, int argc, char **argv, enum kk_op op, json_t **resp)
{
	*resp = NULL;
	if (json_only(c, argc, argv, 0, 0, NULL) != EX_DONE)
		return EX_USAGE;
	return ask(c, json_pack("{s:s}", KW_CMD, kk_op_name(op)), resp);
}

/*
 * A field of the agent's answer as it goes to a terminal, one line of
 * printable text: kakurid cleans what it writes, but some of it is the
 * host's own (an interface name root may fill with escape sequences that
 * would hide an ALERT line), and an audit line of an older version or an
 * edited file may hold one too.
 */
static const char *
shown(json_t *e, const char *key, const char *dflt, char *buf, size_t len)
{
	const char *s = str_or(e, key, dflt);

	kk_text_clean(buf, len, s, strlen(s));
	return buf;
}

int
cmd_status(struct ctl *c, int argc, char **argv)
{
	static const char *const hooks[] = { "input", "output", "forward" };
	json_t *resp, *cnt;
	char b[1024], b2[256];
	int ret, i;

	ret = ask_plain(c, argc, argv, KK_OP_STATUS, &resp);
	if (resp == NULL)
		return ret;
	printf("mode:        %s\n", shown(resp, KW_MODE, "?", b, sizeof(b)));
	printf("episode:     %s\n", shown(resp, KW_EPISODE, "-", b, sizeof(b)));
	printf("since:       %s\n", shown(resp, KW_SINCE, "-", b, sizeof(b)));
	printf("by:          %s\n", shown(resp, KW_BY, "-", b, sizeof(b)));
	printf("reason:      %s\n", shown(resp, KW_REASON, "-", b, sizeof(b)));
	printf("drill:       %s\n",
	    json_is_true(json_object_get(resp, KW_DRILL)) ? "yes" : "no");
	printf("protection:  %s, kernel table %s\n",
	    shown(resp, KW_PROTECTION, "?", b, sizeof(b)),
	    json_is_true(json_object_get(resp, KW_VERIFIED)) ? "verified" :
	    "DIFFERS FROM STATE");
	printf("tampering:   %lld event(s) restored\n",
	    (long long)json_integer_value(json_object_get(resp, KW_TAMPER_EVENTS)));
	{
		json_t *alert;
		char what[512];
		size_t k;

		/* what keeps the quarantine from being verified, until it holds */
		json_array_foreach(json_object_get(resp, KW_TAMPER), k, alert)
			printf("ALERT:       %s\n",
			    shown(alert, KW_WHAT, "?", b, sizeof(b)));
		if (json_object_get(resp, KW_NOT_COVERED))
			printf("NOT COVERED: %s\n", shown(resp, KW_NOT_COVERED,
			    "?", b, sizeof(b)));
		/* an enforcer that does not hold all its part (the USB cut) */
		if (kk_receipt_degraded(resp, what, sizeof(what)) > 0) {
			kk_text_clean(b, sizeof(b), what, strlen(what));
			printf("DEGRADED:    %s\n", b);
		}
	}
	cnt = json_object_get(resp, KW_COUNTERS);
	printf("blocked:    ");
	for (i = 0; i < 3; i++) {
		json_t *h = json_object_get(cnt, hooks[i]);

		printf(" %s %lld pkts/%lld bytes%s", hooks[i],
		    (long long)json_integer_value(json_object_get(h, KW_PACKETS)),
		    (long long)json_integer_value(json_object_get(h, KW_BYTES)),
		    i < 2 ? "," : "\n");
	}
	/* the fleet broker's session (DESIGN 9), when there is one */
	if (json_is_object(json_object_get(resp, KW_FLEET)))
		printf("fleet:       %s, %s\n", shown(json_object_get(resp,
		    KW_FLEET), KW_BROKER, "?", b, sizeof(b)), shown(
		    json_object_get(resp, KW_FLEET), KW_STATE, "?", b2,
		    sizeof(b2)));
	{
		json_t *list;
		size_t k;

		/* the IOC block lists, each with its own drop counter */
		json_array_foreach(json_object_get(resp, KW_BLOCKLISTS), k, list)
			printf("block list:  %s v%lld, %lld ranges, %lld pkts/%lld "
			    "bytes dropped\n", shown(list, KW_SET, "?", b,
			    sizeof(b)),
			    (long long)json_integer_value(json_object_get(list,
			    KW_VERSION)), (long long)json_integer_value(
			    json_object_get(list, KW_RANGES)),
			    (long long)json_integer_value(json_object_get(list,
			    KW_PACKETS)), (long long)json_integer_value(
			    json_object_get(list, KW_BYTES)));
	}
	json_decref(resp);
	return EX_DONE;
}

int
cmd_disconnect(struct ctl *c, int argc, char **argv)
{
	const char *message = NULL;
	const struct ctl_option opts[] = {
		CTL_TEXT("m", &message),
		CTL_FLAG("json", &c->json),
		CTL_OPTIONS_END,
	};
	struct kk_guidance g;
	json_t *resp, *contact;
	size_t bad;
	int ret, r;

	if (ctl_options(argc, argv, opts, 0, 0, NULL) != EX_DONE)
		return EX_USAGE;
	/* kakurid checks it too; here the employee learns why at once */
	if (message && (r = kk_text_check(message, strlen(message),
	    &bad)) < 0) {
		fail_line("the message %s (byte %zu); nothing was sent: press "
		    "disconnect again with plain text or without -m",
		    kk_text_problem(r), bad);
		return EX_USAGE;
	}
	ret = ask(c, json_pack("{s:s, s:s?}",
	    KW_CMD, kk_op_name(KK_OP_DISCONNECT), KW_MESSAGE, message), &resp);
	if (resp == NULL)
		return ret;
	contact = json_object_get(resp, KW_CONTACT);
	memset(&g, 0, sizeof(g));
	g.mode = str_or(resp, KW_MODE, "isolated");
	g.episode = str_or(resp, KW_EPISODE, "");
	g.desk = str_or(contact, KW_DESK, "");
	g.phone = str_or(contact, KW_PHONE, "");
	g.email = str_or(contact, KW_EMAIL, "");
	g.message = message;
	/* passed on only with a notice of its own: the answer names it */
	g.message_unsent = message != NULL && message[0] != '\0' &&
	    !json_is_string(json_object_get(resp, KW_REPORT));
	g.csirt_not_told = kk_guidance_csirt_not_told(resp);
	kk_guidance_print(stdout, kk_guidance_lang(), &g);
	if (json_is_true(json_object_get(resp, KW_MESSAGE_CUT)))
		fprintf(stderr, "kakurictl: note: the message was recorded "
		    "shortened to %d bytes\n", KK_TEXT_MAX - 1);
	json_decref(resp);
	return EX_DONE;
}

int
cmd_release(struct ctl *c, int argc, char **argv)
{
	json_t *resp;
	int ret, first;

	if (json_only(c, argc, argv, 0, 1, &first) != EX_DONE)
		return EX_USAGE;
	/* kakurid refuses this; asking it makes the attempt part of the audit */
	ret = ctl_call(c, json_pack("{s:s, s:s?}",
	    KW_CMD, kk_op_name(KK_OP_RELEASE),
	    KW_EPISODE, first < argc ? argv[first] : NULL), &resp);
	json_decref(resp);
	return ret;
}

static void
print_entry(json_t *e)
{
	json_t *extra = json_deep_copy(e);
	static const char *const known[] = { KW_TIME, KW_SEQ, KW_ACTOR,
		KW_ACTION, KW_RESULT, KW_EPISODE, KW_PREV };
	char t[64], ac[128], re[256], who[256], ep[64];
	char *rest, *clean;
	size_t i, len;

	printf("%-24s %-10s %-16s %s", shown(e, KW_TIME, "?", t, sizeof(t)),
	    shown(e, KW_ACTION, "?", ac, sizeof(ac)),
	    shown(e, KW_RESULT, "", re, sizeof(re)),
	    shown(e, KW_ACTOR, "", who, sizeof(who)));
	if (str_or(e, KW_EPISODE, "")[0])
		printf(" episode=%.8s", shown(e, KW_EPISODE, "", ep, sizeof(ep)));
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

/* --since, for log: from when on (before 1970 is from the start) */
static int
take_since(char *value, void *since)
{
	time_t *t = since;

	if (parse_since(value, t) < 0) {
		fail_line("--since: '%s' is not a time (2026-03-01T09:00:00Z, 2026-03-01, @EPOCH, 15m, 2h, 7d)",
		    value);
		return EX_USAGE;
	}
	if (*t < 0)
		*t = 0;
	return EX_DONE;
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
			print_json_compact(e);
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

int
cmd_log(struct ctl *c, int argc, char **argv)
{
	long long lines = -1;
	time_t since = -1;
	const struct ctl_option opts[] = {
		CTL_NUMBER("n", &lines, 0, LLONG_MAX,
		    "-n wants a number of lines (0: all)"),
		CTL_CALL("since", take_since, &since),
		CTL_FLAG("json", &c->json),
		CTL_OPTIONS_END,
	};
	struct log_view v = { .c = c };
	struct ctl_stream *fs = NULL;
	const char *head, *anchor;
	unsigned long long want, got = 0;
	size_t first_line, len;
	uint8_t *body;
	json_t *req, *resp = NULL;
	bool broken, truncated;
	int fd = -1, ret, err;

	if (ctl_options(argc, argv, opts, 0, 0, NULL) != EX_DONE)
		return EX_USAGE;
	/* --since without -n: everything since then */
	if (lines < 0)
		lines = since >= 0 ? 0 : KK_LOG_DEFAULT_LINES;
	req = json_pack("{s:s, s:I}", KW_CMD, kk_op_name(KK_OP_LOG),
	    KW_LINES, (json_int_t)lines);
	if (since >= 0)
		json_object_set_new(req, KW_SINCE, json_integer(
		    (json_int_t)since));
	ret = ctl_send(c, req, &fd);
	json_decref(req);
	if (ret != EX_DONE)
		goto out;
	if ((fs = ctl_stream_new(fd)) == NULL) {
		close(fd);
		ret = EX_FAILED;
		goto out;
	}
	if ((ret = ctl_stream_answer(c, fs, &resp)) != EX_DONE)
		goto out;
	want = (unsigned long long)json_integer_value(json_object_get(resp,
	    KW_STREAM));
	kk_audit_chain_init(&v.chain, str_or(resp, KW_FIRST_PREV, ""));
	head = str_or(resp, KW_HEAD, "");
	anchor = str_or(resp, KW_ANCHOR, "line");
	truncated = json_is_true(json_object_get(resp, KW_TRUNCATED));
	first_line = (size_t)json_integer_value(json_object_get(resp,
	    KW_FIRST_LINE));
	if (first_line == 0)
		first_line = 1;
	if (c->json)
		fputs("{\n  \"entries\": [\n", stdout);
	while (got < want) {
		if (ctl_stream_frame(fs, &body, &len) < 0)
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
	ctl_stream_free(fs);
	free(v.line);
	json_decref(resp);
	return ret;
}

/* A signed command file, handed to the agent by hand (offline tokens). */
int
cmd_apply(struct ctl *c, int argc, char **argv)
{
	json_t *resp, *rec;
	json_error_t jerr;
	struct kk_envelope env;
	struct receipt_text t;
	const char *rtext;
	char *buf = NULL, detail[200];
	size_t len;
	int first, r, ret;

	if (json_only(c, argc, argv, 1, 1, &first) != EX_DONE)
		return EX_USAGE;
	if ((r = kk_read_file(argv[first], KK_ENVELOPE_MAX, &buf, &len)) < 0) {
		fail_line("%s: %s", argv[first], strerror(-r));
		return EX_FAILED;
	}
	ret = ctl_call(c, json_pack("{s:s, s:s}",
	    KW_CMD, kk_op_name(KK_OP_APPLY), KW_ENVELOPE, buf), &resp);
	free(buf);
	if (ret != EX_DONE) {
		json_decref(resp);
		return ret;
	}
	rtext = json_string_value(json_object_get(resp, KW_RECEIPT));
	rec = NULL;
	/* locally the socket is the trust anchor; the receipt is still signed */
	if (rtext && kk_envelope_parse((const uint8_t *)rtext, strlen(rtext),
	    &env) == 0) {
		rec = json_loadb((const char *)env.payload, env.payload_len, 0,
		    &jerr);
		kk_envelope_free(&env);
	}
	if (rec == NULL) {
		fail_line("no receipt from the agent");
		json_decref(resp);
		return EX_FAILED;
	}
	if (c->json) {
		print_json(rec);
	} else {
		receipt_text(rec, "command", &t);
		printf("%s %s: %s%s%s, mode %s%s%s\n", t.action, t.command,
		    t.result, t.reason[0] ? " " : "", t.reason, t.mode,
		    json_is_string(json_object_get(rec, KW_EPISODE)) ?
		    ", episode " : "", json_is_string(json_object_get(rec,
		    KW_EPISODE)) ? t.episode : "");
	}
	ret = strcmp(str_or(rec, KW_RESULT, ""), KR_DONE) == 0 ? EX_DONE :
	    EX_FAILED;
	if (ret != EX_DONE && !c->json) {
		receipt_text(rec, "command", &t);
		fail_line("%s: %s", t.reason[0] ? t.reason : "refused",
		    ctl_text(rec, KW_DETAIL, "", detail, sizeof(detail)));
	}
	json_decref(rec);
	json_decref(resp);
	return ret;
}

/*
 * outbox: what waits for delivery to the CSIRT collector, oldest first,
 * and why.  Text fields from kakurid are cleaned before they reach the
 * terminal (a corrupt file is kakurid's to catch, but the time and type
 * come from the files).
 */
int
cmd_outbox(struct ctl *c, int argc, char **argv)
{
	char t[64], ty[64], id[64], w[512];
	json_t *resp, *m;
	long long more;
	size_t i;
	int ret;

	ret = ask_plain(c, argc, argv, KK_OP_OUTBOX, &resp);
	if (resp == NULL)
		return ret;
	printf("outbox: %lld message(s), %lld KiB of %lld MiB",
	    (long long)json_integer_value(json_object_get(resp, KW_COUNT)),
	    (long long)json_integer_value(json_object_get(resp, KW_BYTES)) >> 10,
	    (long long)json_integer_value(json_object_get(resp,
	    KW_MAX_BYTES)) >> 20);
	if (json_integer_value(json_object_get(resp, KW_PENDING)) > 0)
		printf(", %lld unsigned (waiting for the agent key: kakurid "
		    "--init)", (long long)json_integer_value(
		    json_object_get(resp, KW_PENDING)));
	printf("\n");
	if (json_array_size(json_object_get(resp, KW_MESSAGES)) > 0)
		printf("waiting: %s\n", shown(resp, KW_WAITING, "?", w,
		    sizeof(w)));
	json_array_foreach(json_object_get(resp, KW_MESSAGES), i, m) {
		if (i == 0)
			printf("%-8s %-32s %-12s %-20s %8s\n", "SEQ", "ID",
			    "TYPE", "TIME", "SIZE");
		printf("%-8lld %-32s %-12s %-20s %8lld%s\n",
		    (long long)json_integer_value(json_object_get(m, KW_SEQ)),
		    shown(m, KW_ID, "?", id, sizeof(id)),
		    shown(m, KW_TYPE, "?", ty, sizeof(ty)),
		    shown(m, KW_TIME, "?", t, sizeof(t)),
		    (long long)json_integer_value(json_object_get(m, KW_SIZE)),
		    json_is_true(json_object_get(m, KW_SIGNED)) ? "" :
		    " (unsigned)");
	}
	if ((more = json_integer_value(json_object_get(resp,
	    KW_TRUNCATED))) > 0)
		printf("... and %lld more, not shown and not checked this "
		    "time\n", more);
	json_decref(resp);
	return EX_DONE;
}
