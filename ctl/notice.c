/*
 * The notices of kakurictl watch: which event makes which notice, and
 * its words.  An isolation says what the disconnect button says after it
 * is pressed (guidance.c): the same first-response rules, from the same
 * text.  An announced drill says so in its summary; an unannounced one
 * looks exactly like the real thing, which is what it exercises.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guidance.h"
#include "notice.h"
#include "output.h"
#include "wire.h"

/* Every text in English and Japanese, side by side: [EN] and [JA]. */
enum { EN, JA };

static const struct words {
	const char *release_summary[2];
	const char *release_body[2];
	const char *drill_intro[2];	/* an announced drill's notice */
	const char *drill_announce[2];
	const char *drill_live[2];
	const char *drill_tabletop[2];
	const char *drill_scenario[2];	/* before the scenario */
	const char *drill_what[2];
	const char *end_summary[2];
	const char *end_action[2][3];	/* around the button and the seconds */
	const char *end_other[2];	/* someone else answered */
	const char *end_none[2];
	const char *end_result[2];	/* before the drill's result */
	const char *end_quarantined[2];	/* called off: really isolated */
	const char *report[2];
	const char *disconnect[2];
	const char *drill_no_disconnect[2];
	const char *drill_over_disconnect[2];
	const char *csirt_not_told[2];
} words = {
	.release_summary = { "Connectivity is back", "通信が復旧しました" },
	.release_body = {
	    "The network isolation of this computer has been lifted. You "
	    "can use it as usual.\n",
	    "このパソコンのネットワーク隔離は解除されました。"
	    "通常どおり利用できます。\n" },
	.drill_intro = { "This is a drill, not a real incident.\n",
	    "これは訓練です。実際のインシデントではありません。\n" },
	.drill_announce = { "A drill starts soon.\n",
	    "まもなく訓練が始まります。\n" },
	.drill_live = {
	    "For the drill, this computer is cut off from the network for a "
	    "while. It comes back by itself at the end.\n",
	    "訓練のため、このパソコンは一時的にネットワークから"
	    "隔離されます。終了すると自動で復旧します。\n" },
	.drill_tabletop = { "Nothing is cut off (a tabletop drill).\n",
	    "通信は遮断されていません（机上訓練）。\n" },
	.drill_scenario = { "Scenario: ", "想定：" },
	.drill_what = {
	    "Respond as you would to a suspicious screen: press Report or "
	    "Disconnect.\n",
	    "不審な画面を見たときと同じように対応してください："
	    "「報告する」または「切断する」を押します。\n" },
	.end_summary = { "The drill is over", "訓練が終了しました" },
	.end_action = { { "Your response: ", " (after ", " s)" },
	    { "あなたの対応：「", "」（", " 秒）" } },
	.end_other = { "Another user responded.\n",
	    "対応は別の利用者が行いました。\n" },
	.end_none = { "Your response: none\n", "あなたの対応：なし\n" },
	.end_result = { "Result of the drill: ", "訓練の結果：" },
	.end_quarantined = {
	    "The drill was called off: this computer is now cut off for "
	    "real, not by the drill. Follow the isolation notice.\n",
	    "訓練は中止されました。このパソコンは訓練ではなく、実際に切断されて"
	    "います。切断の通知に従ってください。\n" },
	.report = { "Report", "報告する" },
	.disconnect = { "Disconnect", "切断する" },
	/*
	 * Not "nothing is cut off": a live drill cuts the computer off, and
	 * an unannounced one looks like a real isolation; an employee who
	 * meant to disconnect for real is told how
	 */
	.drill_no_disconnect = {
	    "This is a drill: your response was recorded. If you believe "
	    "this computer is really infected, call the desk or press the "
	    "real Disconnect button.",
	    "これは訓練です。対応は記録されました。"
	    "本当に感染の疑いがある場合は、窓口に連絡するか、実際の切断ボタンを"
	    "押してください。" },
	.drill_over_disconnect = {
	    "That notice was a drill's, and the drill is over: nothing is "
	    "cut off. If you believe this computer is really infected, call "
	    "the desk or press the real Disconnect button.",
	    "この通知は終了した訓練のものです。切断は行いません。"
	    "本当に感染の疑いがある場合は、窓口に連絡するか、実際の切断ボタンを"
	    "押してください。" },
	.csirt_not_told = {
	    "This computer is cut off, but kakuri could NOT notify the CSIRT "
	    "automatically: contact the desk yourself now.",
	    "このパソコンは切断されましたが、kakuri から CSIRT への自動通知は"
	    "できませんでした。今すぐご自身で窓口に連絡してください。" },
};

/* The text f in v's language. */
#define WORD(v, f)	(words.f[strcmp((v)->lang, "ja") == 0 ? JA : EN])

void
notice_view_init(struct notice_view *v, const char *lang, uid_t uid)
{
	memset(v, 0, sizeof(*v));
	snprintf(v->lang, sizeof(v->lang), "%s",
	    lang != NULL && strcmp(lang, "ja") == 0 ? "ja" : "en");
	v->uid = uid;
}

void
notice_view_reset(struct notice_view *v)
{
	json_decref(v->drill);
	json_decref(v->contact);
	v->drill = v->contact = NULL;
}

void
notice_free(struct notice *n)
{
	free(n->body);
	json_decref(n->drill_id);
	memset(n, 0, sizeof(*n));
}

const char *
notice_action_label(const struct notice_view *v, const char *key)
{
	return strcmp(key, "report") == 0 ? WORD(v, report) :
	    WORD(v, disconnect);
}

const char *
notice_drill_disconnect(const struct notice_view *v)
{
	return WORD(v, drill_no_disconnect);
}

const char *
notice_csirt_not_told(const struct notice_view *v)
{
	return WORD(v, csirt_not_told);
}

const char *
notice_drill_over_disconnect(const struct notice_view *v)
{
	return WORD(v, drill_over_disconnect);
}

bool
notice_drill_running(const struct notice_view *v, json_t *id)
{
	return v->drill != NULL && id != NULL &&
	    json_equal(json_object_get(v->drill, KW_ID), id);
}

/*
 * The guidance (guidance.c) as a notice: its title the summary, the rest
 * the body.
 */
static int
isolation(const struct notice_view *v, const char *mode, const char *episode,
    struct notice *n)
{
	struct kk_guidance g = {
		.mode = mode, .episode = episode,
		.desk = str_or(v->contact, KW_DESK, ""),
		.phone = str_or(v->contact, KW_PHONE, ""),
		.email = str_or(v->contact, KW_EMAIL, ""),
	};
	char *text = NULL, *s, *nl;
	size_t len = 0;
	FILE *f;
	int err;

	if ((f = open_memstream(&text, &len)) == NULL)
		return -ENOMEM;
	err = kk_guidance_print(f, v->lang, &g);
	if (fclose(f) != 0 && err == 0)
		err = -ENOMEM;
	if (err < 0) {
		free(text);
		return err;
	}
	for (s = text; *s == '\n'; s++)
		;
	nl = strchr(s, '\n');
	snprintf(n->summary, sizeof(n->summary), "%.*s",
	    nl ? (int)(nl - s) : (int)strlen(s), s);
	for (s = nl ? nl : s + strlen(s); *s == '\n'; s++)
		;
	n->body = strdup(s);
	free(text);
	n->urgent = true;
	n->actions = true;
	return n->body ? 1 : -ENOMEM;
}

/* printf into the growing body */
static void
add(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
add(FILE *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
}

/* A tabletop drill is always shown as an exercise; a live one if announced. */
static bool
announced(json_t *drill)
{
	json_t *a = json_object_get(drill, KW_ANNOUNCE);
	const char *kind = json_string_value(json_object_get(drill, KW_KIND));

	return (kind != NULL && strcmp(kind, "tabletop") == 0) ||
	    json_is_true(a) || (json_is_integer(a) && json_integer_value(a) != 0);
}

/* The employee's part of a drill's end: in ev or in its result object. */
static json_t *
end_field(json_t *ev, const char *key)
{
	json_t *x = json_object_get(ev, key);

	return x != NULL ? x : json_object_get(json_object_get(ev, KW_RESULT),
	    key);
}

static void
drill_end_body(const struct notice_view *v, json_t *ev, FILE *f)
{
	json_t *emp = end_field(ev, KW_EMPLOYEE), *res, *uid;
	const char *action = str_or(emp, KW_ACTION, "");

	uid = json_object_get(emp, KW_UID);
	/* someone else responded: kakurid does not say who, nor when */
	if (json_is_true(json_object_get(emp, KW_OTHER)))
		add(f, "%s", WORD(v, end_other));
	else if (*action == '\0')
		add(f, "%s", WORD(v, end_none));
	else if (json_is_integer(uid) &&
	    json_integer_value(uid) != (json_int_t)v->uid)
		add(f, "%s", WORD(v, end_other));
	else
		add(f, "%s%s%s%.1f%s\n", WORD(v, end_action)[0],
		    notice_action_label(v, action), WORD(v, end_action)[1],
		    json_number_value(json_object_get(emp, KW_ACTION_MS)) /
		    1000.0, WORD(v, end_action)[2]);
	res = json_object_get(ev, KW_RESULT);
	if (!json_is_string(res))
		res = json_object_get(res, KW_RESULT);
	if (json_is_string(res))
		add(f, "%s%s\n", WORD(v, end_result), json_string_value(res));
	/* the last notice after a real isolation must not say "over" alone */
	if (strcmp(str_or(json_object_get(ev, KW_RESULT), KW_END, ""),
	    KE_QUARANTINED) == 0)
		add(f, "%s", WORD(v, end_quarantined));
}

static int
drill(struct notice_view *v, json_t *ev, struct notice *n)
{
	const char *phase = str_or(ev, KW_PHASE, "");
	json_t *d = json_object_get(ev, KW_DRILL);
	const char *scen = str_or(d, KW_SCENARIO, "");
	bool live = strcmp(str_or(d, KW_KIND, ""), "live") == 0;
	size_t len = 0;
	FILE *f;
	int r;

	if (strcmp(phase, "start") == 0) {
		json_decref(v->drill);
		v->drill = json_incref(d);
		n->drill_id = json_incref(json_object_get(d, KW_ID));
		/* unannounced: exactly what a real isolation shows */
		if (!announced(d))
			return isolation(v, "isolated", "", n);
	} else if (strcmp(phase, "end") == 0) {
		json_decref(v->drill);
		v->drill = NULL;
	} else if (strcmp(phase, "announce") != 0 || !announced(d)) {
		return 0;
	}
	if ((f = open_memstream(&n->body, &len)) == NULL)
		return -ENOMEM;
	if (strcmp(phase, "end") == 0) {
		snprintf(n->summary, sizeof(n->summary), "%s: %s",
		    WORD(v, end_summary), NOTICE_DRILL_SUMMARY);
		drill_end_body(v, ev, f);
	} else {
		snprintf(n->summary, sizeof(n->summary), "%s",
		    NOTICE_DRILL_SUMMARY);
		add(f, "%s", WORD(v, drill_intro));
		if (strcmp(phase, "announce") == 0)
			add(f, "%s", WORD(v, drill_announce));
		add(f, "%s", live ? WORD(v, drill_live) :
		    WORD(v, drill_tabletop));
		if (*scen != '\0')
			add(f, "%s%s\n", WORD(v, drill_scenario), scen);
		if (strcmp(phase, "start") == 0) {
			add(f, "%s", WORD(v, drill_what));
			n->actions = true;
		}
	}
	r = fclose(f) == 0 ? 1 : -ENOMEM;
	if (r < 0 || n->body == NULL)
		return -ENOMEM;
	return r;
}

/* The answer to "watch" or a mode event: what changed. */
static int
mode(struct notice_view *v, json_t *msg, struct notice *n)
{
	const char *m = str_or(msg, KW_MODE, "open");
	const char *ep = str_or(msg, KW_EPISODE, "");
	bool was_cut = v->known && strcmp(v->mode, "open") != 0;
	bool is_cut = strcmp(m, "open") != 0;
	bool same = was_cut && strcmp(v->mode, m) == 0 &&
	    strcmp(v->episode, ep) == 0;
	json_t *contact = json_object_get(msg, KW_CONTACT);
	int r = 0;

	if (json_is_object(contact)) {
		json_decref(v->contact);
		v->contact = json_incref(contact);
	}
	/*
	 * The mode is the real quarantine's: a live drill isolates through
	 * a table of its own and says so in its drill events.  A real
	 * isolation during a drill is shown as what it is.
	 */
	if (is_cut && !same)
		r = isolation(v, m, ep, n);
	else if (!is_cut && was_cut) {
		snprintf(n->summary, sizeof(n->summary), "%s",
		    WORD(v, release_summary));
		r = (n->body = strdup(WORD(v, release_body))) ? 1 : -ENOMEM;
	}
	v->known = true;
	snprintf(v->mode, sizeof(v->mode), "%s", m);
	snprintf(v->episode, sizeof(v->episode), "%s", ep);
	return r;
}

int
notice_of(struct notice_view *v, json_t *msg, struct notice *n)
{
	const char *event = str_or(msg, KW_EVENT, NULL);
	int r = 0;

	memset(n, 0, sizeof(*n));
	if (event == NULL && json_object_get(msg, KW_OK) != NULL)
		r = mode(v, msg, n);
	else if (event != NULL && strcmp(event, "mode") == 0)
		r = mode(v, msg, n);
	else if (event != NULL && strcmp(event, "drill") == 0)
		r = drill(v, msg, n);
	if (r <= 0)
		notice_free(n);
	return r;
}
