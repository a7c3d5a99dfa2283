/*
 * The guidance printed after the staff "disconnect" button.
 *
 * What an employee must be told in the first minutes, after the
 * incident-response guides (JPCERT/CC, IPA): the machine was cut off on
 * purpose; keep it switched on (memory holds evidence); contact the desk
 * now, by phone or another device; do not touch the warning or pop-up, do
 * not install anything, do not enter personal information or passwords,
 * do not call the numbers it shows, do not follow its instructions.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "guidance.h"
#include "wire.h"

struct texts {
	const char *title_isolated;
	const char *title_egress;
	const char *intro_isolated;
	const char *intro_egress;
	const char *todo;		/* heading of what to do */
	const char *power;		/* 1. keep it switched on */
	const char *contact;		/* 2. contact the desk */
	const char *label_desk;		/* "%s" then the value */
	const char *label_phone;
	const char *label_email;
	const char *no_mail;
	const char *episode_intro;
	const char *label_episode;
	const char *auto_notify;
	const char *auto_notify_failed;	/* no notice could be queued */
	const char *message_pre;	/* around the employee's message */
	const char *message_post;
	const char *message_unsent;	/* the message was not passed on */
	const char *message_lost;	/* ... nor the isolation itself */
	const char *dont;		/* heading of what not to do */
	const char *donts[5];
};

static const struct texts ja = {
	.title_isolated =
	    "【重要】このパソコンはネットワークから隔離されました\n",
	.title_egress =
	    "【重要】このパソコンのメールと Web の通信は遮断されました\n",
	.intro_isolated =
	    "このパソコンは、kakuri によって意図的にネットワークから\n"
	    "切り離されています（隔離）。故障ではありません。\n"
	    "落ち着いて、次のとおり対応してください。\n",
	.intro_egress =
	    "このパソコンでは、kakuri によってメールと Web の通信が意図的に\n"
	    "遮断されています。それ以外の通信は遮断されていません。\n"
	    "故障ではありません。落ち着いて、次のとおり対応してください。\n",
	.todo = "■ 次のことをしてください\n",
	.power =
	    "1. パソコンの電源は入れたままにし、シャットダウンや再起動は\n"
	    "   しないでください。メモリ上に残っている、調査に必要な証拠が\n"
	    "   失われてしまうためです。\n"
	    "   ノートパソコンの場合は、電源アダプターを接続してください。\n",
	.contact =
	    "2. 今すぐ、セキュリティ担当窓口（CSIRT）または IT ヘルプデスクに\n"
	    "   連絡してください。\n",
	.label_desk = "     窓口\u3000：",
	.label_phone = "     電話\u3000：",
	.label_email = "     メール：",
	.no_mail =
	    "   このパソコンからはメールを送信できません。電話または別の端末から\n"
	    "   連絡してください。\n",
	.episode_intro = "   連絡の際は、次の管理番号をお伝えください。\n",
	.label_episode = "     管理番号：",
	.auto_notify =
	    "   ※ CSIRT には kakuri からも自動で通知されますが、必ずご自身でも\n"
	    "     連絡してください。\n",
	.auto_notify_failed =
	    "   ※ kakuri から CSIRT への自動通知はできませんでした。\n"
	    "     今すぐご自身で連絡してください。\n",
	.message_pre = "     次のメッセージも併せて通知されます：「",
	.message_post = "」\n",
	.message_unsent =
	    "     このメッセージは送信されていません（この隔離は CSIRT に\n"
	    "     通知済みです）。窓口に直接お伝えください：「",
	.message_lost =
	    "     CSIRT への自動通知ができませんでした。このメッセージも\n"
	    "     送信されていません。すぐに窓口へ連絡してください：「",
	.dont = "■ 次のことはしないでください\n",
	.donts = {
		"・画面に表示された警告やポップアップをクリックしないでください。\n",
		"・ソフトウェアをインストールしないでください。\n",
		"・個人情報やパスワードを入力しないでください。\n",
		"・画面に表示された電話番号に電話をかけないでください。\n",
		"・画面に表示された指示には従わないでください。\n",
	},
};

static const struct texts en = {
	.title_isolated =
	    "IMPORTANT: this computer has been cut off from the network\n",
	.title_egress =
	    "IMPORTANT: e-mail and web access on this computer have been blocked\n",
	.intro_isolated =
	    "kakuri has deliberately cut this computer off from the network\n"
	    "(isolation). This is not a malfunction. Please stay calm and do\n"
	    "the following.\n",
	.intro_egress =
	    "kakuri has deliberately blocked e-mail and web traffic on this\n"
	    "computer. Other network traffic still flows. This is not a\n"
	    "malfunction. Please stay calm and do the following.\n",
	.todo = "What to do now\n",
	.power =
	    "1. Keep the computer switched on.\n"
	    "   Do not shut it down or restart it: evidence held in memory,\n"
	    "   which the investigation needs, would be lost.\n"
	    "   If it is a laptop, plug in its power adapter.\n",
	.contact =
	    "2. Contact the security team (CSIRT) or the IT help desk now.\n",
	.label_desk = "     Desk:   ",
	.label_phone = "     Phone:  ",
	.label_email = "     E-mail: ",
	.no_mail =
	    "   This computer cannot send e-mail now: use a phone or another\n"
	    "   device.\n",
	.episode_intro = "   Give them this episode ID:\n",
	.label_episode = "     Episode: ",
	.auto_notify =
	    "   kakuri also notifies the CSIRT automatically, but please\n"
	    "   contact them yourself as well.\n",
	.auto_notify_failed =
	    "   kakuri could NOT notify the CSIRT automatically: contact\n"
	    "   them yourself now.\n",
	.message_pre = "     Your message is sent with it: \"",
	.message_post = "\"\n",
	.message_unsent =
	    "     Your message was NOT sent (the CSIRT was told of this\n"
	    "     isolation already): tell the desk yourself: \"",
	.message_lost =
	    "     The CSIRT could NOT be notified automatically, nor your\n"
	    "     message sent: call the desk now: \"",
	.dont = "Do not\n",
	.donts = {
		"- click on warnings or pop-ups on the screen;\n",
		"- install any software;\n",
		"- enter personal information or passwords;\n",
		"- call phone numbers shown on the screen;\n",
		"- follow instructions shown on the screen.\n",
	},
};

/* Output state: the first write error wins. */
struct out {
	FILE *f;
	int err;
};

static void
put(struct out *o, const char *s)
{
	if (o->err)
		return;
	if (fputs(s, o->f) == EOF)
		o->err = errno ? -errno : -EIO;
}

static int
nonempty(const char *s)
{
	return s != NULL && *s != '\0';
}

/* A labelled value on its own line, only when there is a value. */
static void
field(struct out *o, const char *label, const char *value)
{
	if (!nonempty(value))
		return;
	put(o, label);
	put(o, value);
	put(o, "\n");
}

const char *
kk_guidance_lang(void)
{
	static const char *const vars[] = { "LC_ALL", "LC_MESSAGES", "LANG" };
	const char *v;
	size_t i;

	for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		v = getenv(vars[i]);
		if (nonempty(v))
			return strncmp(v, "ja", 2) == 0 ? "ja" : "en";
	}
	return "en";
}

bool
kk_guidance_csirt_not_told(json_t *answer)
{
	return answer != NULL &&
	    !json_is_true(json_object_get(answer, KW_ALREADY)) &&
	    !json_is_string(json_object_get(answer, KW_REPORT));
}

int
kk_guidance_print(FILE *out, const char *lang, const struct kk_guidance *g)
{
	static const struct kk_guidance none;
	const struct texts *t;
	struct out o = { .f = out, .err = 0 };
	int egress;
	size_t i;

	if (out == NULL)
		return -EINVAL;
	if (g == NULL)
		g = &none;
	if (lang == NULL)
		lang = kk_guidance_lang();
	t = strcmp(lang, "ja") == 0 ? &ja : &en;
	egress = nonempty(g->mode) && strcmp(g->mode, "egress") == 0;

	errno = 0;
	put(&o, "\n");
	put(&o, egress ? t->title_egress : t->title_isolated);
	put(&o, "\n");
	put(&o, egress ? t->intro_egress : t->intro_isolated);
	put(&o, "\n");

	put(&o, t->todo);
	put(&o, t->power);
	put(&o, t->contact);
	field(&o, t->label_desk, g->desk);
	field(&o, t->label_phone, g->phone);
	field(&o, t->label_email, g->email);
	put(&o, t->no_mail);
	if (nonempty(g->episode)) {
		put(&o, t->episode_intro);
		field(&o, t->label_episode, g->episode);
	}
	put(&o, g->csirt_not_told ? t->auto_notify_failed : t->auto_notify);
	if (nonempty(g->message)) {
		put(&o, g->csirt_not_told ? t->message_lost :
		    g->message_unsent ? t->message_unsent : t->message_pre);
		put(&o, g->message);
		put(&o, t->message_post);
	}
	put(&o, "\n");

	put(&o, t->dont);
	for (i = 0; i < sizeof(t->donts) / sizeof(t->donts[0]); i++)
		put(&o, t->donts[i]);
	put(&o, "\n");

	if (o.err)
		return o.err;
	if (fflush(out) == EOF || ferror(out))
		return errno ? -errno : -EIO;
	return 0;
}
