/*
 * kakurictl report: an employee's self-report of a suspicious popup,
 * mail, file... (issue 10, DESIGN 5 and 7).  Any local user may report.
 * The intake fields of the guides come from the options, from a JSON
 * record (--from, for GUIs and scripts) or, on a terminal, from
 * questions in Japanese or English with the guidance for a suspicious
 * popup.  Attachments are read here, as the calling user, capped and
 * hashed.  The report id is printed only once kakurid has it on disk.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "client.h"
#include "commands.h"
#include "ctl.h"
#include "guidance.h"
#include "kakuri.h"
#include "options.h"
#include "output.h"
#include "report.h"
#include "wire.h"

#define ANSWER_MAX		8192	/* one typed answer */
#define FROM_MAX		(1024 * 1024)
#define ATTACH_MAX		KK_REPORT_ATTACH_MAX
#define ATTACH_BYTES		KK_REPORT_ATTACH_BYTES
/* "busy": sent again, this many times in all, after 0.25 s, 0.5 s, ... */
#define SEND_TRIES		10
#define SEND_BACKOFF_USEC	250000

/* A text of the form in the two languages it speaks (guidance.h). */
struct words {
	const char *en;
	const char *ja;
};

static const struct words guidance = {
	.en =
	    "Suspicious popup or message? Until the CSIRT tells you otherwise:\n"
	    "  - do not click anything in it, do not install anything,\n"
	    "  - do not type passwords or personal data,\n"
	    "  - do not call the numbers it shows or follow its instructions,\n"
	    "  - keep the PC switched on (do not shut it down or restart it).\n"
	    "Answer a few questions; the report goes to the CSIRT.\n",
	.ja =
	    "不審なポップアップやメッセージですか？ CSIRTから指示があるまで:\n"
	    "  ・表示されたものをクリックしない、何もインストールしない\n"
	    "  ・パスワードや個人情報を入力しない\n"
	    "  ・表示された電話番号に電話しない、指示に従わない\n"
	    "  ・PCの電源は切らない（シャットダウン・再起動しない）\n"
	    "いくつか質問に答えてください。報告はCSIRTに届きます。\n",
};

/* The intake fields of DESIGN 7, in the order they are asked for. */
enum { Q_CATEGORY, Q_FOUND_AT, Q_LOCATION, Q_WHAT, Q_WHY, Q_CONTACT,
	NQUESTIONS };

static const struct question {
	const char *key;
	struct words ask;
} questions[NQUESTIONS] = {
	[Q_CATEGORY] = { KW_CATEGORY, {
	    "What kind of thing was it? (popup, mail, file, web, device, "
	    "behaviour, other)",
	    "何が起きましたか？ (popup, mail, file, web, device, behaviour, "
	    "other)" } },
	[Q_FOUND_AT] = { KW_FOUND_AT, { "When did you notice it?",
	    "発見日時" } },
	[Q_LOCATION] = { KW_LOCATION, { "Where (this PC, room)?",
	    "発見場所（このPC、部屋など）" } },
	[Q_WHAT] = { KW_WHAT, {
	    "What happened? (one line; what you saw and did)",
	    "経緯（何を見て、何をしたか）" } },
	[Q_WHY] = { KW_WHY, { "Why did it seem wrong?",
	    "なぜ異常と判断したか" } },
	[Q_CONTACT] = { KW_CONTACT, {
	    "How can the CSIRT reach you? (phone, extension; may be empty)",
	    "連絡先（電話・内線、空でも可）" } },
};

static const struct words done = {
	.en = "Stored; it will reach the CSIRT. Report id:",
	.ja = "報告を保存しました。CSIRTに届きます。報告ID:",
};

static const struct words notice = {
	.en = "Keep the PC on. The CSIRT desk:",
	.ja = "PCの電源は切らないでください。窓口:",
};

/* w in the language of the user (kk_guidance_lang) */
static const char *
said(const struct words *w)
{
	return strcmp(kk_guidance_lang(), "ja") == 0 ? w->ja : w->en;
}

struct intake {
	json_t *fields;		/* category, found_at, location, what, why, contact */
	bool disconnect;
	const char *attach[ATTACH_MAX];
	size_t nattach;
};

static void
set_text(struct intake *in, const char *key, const char *v)
{
	json_object_set_new(in->fields, key, json_string(v));
}

/* --from FILE: the body keys of DESIGN 7, nothing else, strings only. */
static int
read_from(struct intake *in, const char *path)
{
	json_error_t jerr;
	const char *key;
	char *text = NULL;
	size_t len, i;
	json_t *o, *v;
	int r;

	if ((r = kk_read_file(path, FROM_MAX, &text, &len)) < 0) {
		fail_line("--from %s: %s", path, r == -EFBIG ?
		    "larger than 1 MiB" : strerror(-r));
		return -1;
	}
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (!json_is_object(o)) {
		fail_line("--from %s: not a JSON object (%s, line %d)", path,
		    o ? "another value" : jerr.text, jerr.line);
		json_decref(o);
		return -1;
	}
	json_object_foreach(o, key, v) {
		for (i = 0; i < NQUESTIONS; i++)
			if (strcmp(key, questions[i].key) == 0)
				break;
		if (i == NQUESTIONS && strcmp(key, KW_DISCONNECT) != 0) {
			fail_line("--from %s: unknown field \"%.40s\"", path, key);
			goto fail;
		}
		if (i == NQUESTIONS) {
			if (!json_is_boolean(v)) {
				fail_line("--from %s: disconnect must be true or "
				    "false", path);
				goto fail;
			}
			in->disconnect = in->disconnect || json_is_true(v);
			continue;
		}
		if (!json_is_string(v)) {
			fail_line("--from %s: %s must be a string", path, key);
			goto fail;
		}
		/* the command line wins over the record */
		if (json_object_get(in->fields, key) == NULL)
			json_object_set(in->fields, key, v);
	}
	json_decref(o);
	return 0;
fail:
	json_decref(o);
	return -1;
}

/* One line from the terminal, or NULL at its end. */
static char *
ask(const char *question, const char *dflt)
{
	static char line[ANSWER_MAX + 2];
	size_t n;

	printf("%s%s%s%s\n> ", question, dflt ? " [" : "", dflt ? dflt : "",
	    dflt ? "]" : "");
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return NULL;
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	if (n == 0 && dflt != NULL)
		return (char *)dflt;
	return line;
}

/* On a terminal: the guidance, then what is still missing. */
static int
prompt(struct intake *in, const char *now, const char *where)
{
	const char *dflt[NQUESTIONS] = {
		[Q_CATEGORY] = "popup", [Q_FOUND_AT] = now, [Q_LOCATION] = where,
	};
	const char *a;
	size_t i;
	int tries;

	fputs(said(&guidance), stdout);
	for (i = 0; i < NQUESTIONS; i++) {
		if (json_object_get(in->fields, questions[i].key) != NULL)
			continue;
		for (tries = 0; tries < 5; tries++) {
			if ((a = ask(said(&questions[i].ask), dflt[i] &&
			    dflt[i][0] ? dflt[i] : NULL)) == NULL)
				return -1;
			if (i == Q_CATEGORY && !kk_report_category_ok(a))
				continue;
			if (i == Q_WHAT && a[0] == '\0')
				continue;
			break;
		}
		if (tries == 5)
			return -1;
		/* the PC's own place: kakurid adds the policy's text to it */
		if (i == Q_LOCATION && a == dflt[i])
			continue;
		if (a[0] != '\0')
			set_text(in, questions[i].key, a);
	}
	return 0;
}

/* One attachment read as the caller: name, size, sha256, data. */
static json_t *
attachment(const char *path)
{
	unsigned char *b64 = NULL;
	const char *base;
	char *data = NULL, sha[65];
	size_t len;
	json_t *o = NULL;
	int r;

	if ((r = kk_read_file(path, ATTACH_BYTES, &data, &len)) < 0) {
		fail_line("--attach %s: %s", path, r == -EFBIG ?
		    "larger than 256 KiB" : r == -EINVAL ?
		    "not a regular file" : strerror(-r));
		return NULL;
	}
	if (len == 0 || (b64 = malloc(4 * ((len + 2) / 3) + 1)) == NULL) {
		fail_line("--attach %s: %s", path, len ? "out of memory" :
		    "empty");
		goto out;
	}
	EVP_EncodeBlock(b64, (const unsigned char *)data, (int)len);
	kk_sha256_hex(data, len, sha);
	base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	o = json_pack("{s:s, s:I, s:s, s:s}", KW_NAME, base, KW_SIZE,
	    (json_int_t)len, KW_SHA256, sha, KW_DATA, (char *)b64);
	if (o == NULL)
		fail_line("--attach %s: the name is not text", path);
out:
	free(b64);
	free(data);
	return o;
}

/* --attach FILE, up to ATTACH_MAX of them */
static int
take_attach(char *path, void *intake)
{
	struct intake *in = intake;

	if (in->nattach == ATTACH_MAX) {
		fail_line("at most %d attachments", ATTACH_MAX);
		return EX_USAGE;
	}
	in->attach[in->nattach++] = path;
	return EX_DONE;
}

/* Whether resp is a refusal for word ("busy"). */
static bool
answer_is(json_t *resp, const char *word)
{
	const char *why;

	return resp != NULL && kk_wire_answer(resp, &why, NULL) != 1 &&
	    why != NULL && strcmp(why, word) == 0;
}

int
cmd_report(struct ctl *c, int argc, char **argv)
{
	struct intake in = { .fields = json_object() };
	const char *given[NQUESTIONS] = { NULL }, *from = NULL, *refused;
	bool json = c->json, tty = isatty(STDIN_FILENO) == 1;
	const struct ctl_option opts[] = {
		CTL_TEXT("category", &given[Q_CATEGORY]),
		CTL_TEXT("when", &given[Q_FOUND_AT]),
		CTL_TEXT("where", &given[Q_LOCATION]),
		CTL_TEXT("what", &given[Q_WHAT]),
		CTL_TEXT("why", &given[Q_WHY]),
		CTL_TEXT("contact", &given[Q_CONTACT]),
		CTL_CALL("attach", take_attach, &in),
		CTL_FLAG("disconnect", &in.disconnect),
		CTL_TEXT("from", &from),
		CTL_FLAG("json", &json),
		CTL_OPTIONS_END,
	};
	char now[40], host[256] = "", where[300];
	json_t *req = NULL, *resp = NULL, *att, *contact;
	size_t i;
	int ret, tries;

	if (in.fields == NULL)
		return EX_FAILED;
	if ((ret = ctl_options(argc, argv, opts, 0, 0, NULL)) != EX_DONE)
		goto out;
	for (i = 0; i < NQUESTIONS; i++)
		if (given[i] != NULL)
			set_text(&in, questions[i].key, given[i]);
	ret = EX_FAILED;
	if (from != NULL && read_from(&in, from) < 0)
		goto out;	/* a bad record: one line, exit 1 */
	kk_rfc3339(time(NULL), now, sizeof(now));
	gethostname(host, sizeof(host) - 1);
	snprintf(where, sizeof(where), "%s", host);
	if (tty && (json_object_get(in.fields, KW_CATEGORY) == NULL ||
	    json_object_get(in.fields, KW_WHAT) == NULL)) {
		if (prompt(&in, now, where) < 0) {
			fail_line("no report was sent");
			goto out;
		}
	}
	if (!kk_report_category_ok(json_string_value(json_object_get(in.fields,
	    KW_CATEGORY))) || json_object_get(in.fields, KW_WHAT) == NULL) {
		fail_line("a report needs --category (popup, mail, file, web, "
		    "device, behaviour, other) and --what (or a terminal to "
		    "ask on)");
		ret = EX_USAGE;
		goto out;
	}
	if (json_object_get(in.fields, KW_FOUND_AT) == NULL)
		set_text(&in, KW_FOUND_AT, now);
	req = json_pack("{s:s, s:b}", KW_CMD, kk_op_name(KK_OP_REPORT), KW_DISCONNECT,
	    in.disconnect);
	if (req == NULL || json_object_update(req, in.fields) < 0)
		goto out;
	if (in.nattach > 0) {
		json_object_set_new(req, KW_ATTACHMENTS, json_array());
		for (i = 0; i < in.nattach; i++) {
			if ((att = attachment(in.attach[i])) == NULL)
				goto out;
			json_array_append_new(json_object_get(req,
			    KW_ATTACHMENTS), att);
		}
	}
	/*
	 * The id comes back once it is on disk.  "busy": kakurid is reading
	 * other large reports (or this user has many connections open);
	 * nothing of this one was taken.  Sent again, a bounded number of
	 * times, so that what the reporter typed is not lost to it.
	 */
	c->quiet_busy = true;
	for (tries = 1;; tries++) {
		json_incref(req);
		ret = ctl_call(c, req, &resp);
		if (ret == EX_DONE || tries == SEND_TRIES ||
		    !answer_is(resp, KE_BUSY))
			break;
		json_decref(resp);
		resp = NULL;
		usleep(SEND_BACKOFF_USEC * tries);
	}
	c->quiet_busy = false;
	if (ret != EX_DONE) {
		if (answer_is(resp, KE_BUSY))
			ctl_check_ok(c, resp);	/* said now */
		goto out;
	}
	if (json) {
		print_json(resp);
		goto out;
	}
	printf("%s %s\n", said(&done), str_or(resp, KW_REPORT, "?"));
	if ((refused = json_string_value(json_object_get(resp,
	    KW_REFUSED))) != NULL)
		fprintf(stderr, "kakurictl: not disconnected: %s\n", refused);
	contact = json_object_get(resp, KW_CONTACT);
	printf("%s %s %s %s\n", said(&notice), str_or(contact, KW_DESK, ""),
	    str_or(contact, KW_PHONE, ""), str_or(contact, KW_EMAIL, ""));
out:
	json_decref(resp);
	json_decref(req);
	json_decref(in.fields);
	return ret;
}
