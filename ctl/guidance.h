/*
 * What the employee is told after pressing the disconnect button: the
 * first-response rules of the incident-response guides (JPCERT/CC, IPA),
 * in Japanese or English.
 */
#ifndef KK_GUIDANCE_H
#define KK_GUIDANCE_H

#include <stdbool.h>
#include <stdio.h>

/*
 * "ja" when LC_ALL, else LC_MESSAGES, else LANG (the first one set and not
 * empty, as POSIX orders them) starts with "ja" (e.g. ja_JP.UTF-8);
 * otherwise "en".
 */
const char *kk_guidance_lang(void);
/*
 * Whether a disconnect's answer says the press isolated and no notice for
 * the CSIRT could be queued (it names none): then the CSIRT is not told.
 */
struct json_t;
bool kk_guidance_csirt_not_told(struct json_t *answer);

/*
 * Any field may be NULL or "".  desk, phone and email come from the
 * policy's contact section (already validated: no control characters) and
 * only the non-empty ones are printed; message is the text given with
 * "disconnect -m".
 */
struct kk_guidance {
	const char *mode;	/* "isolated" or "egress" */
	const char *episode;	/* episode id, hex */
	const char *desk;
	const char *phone;
	const char *email;
	const char *message;
	bool message_unsent;	/* the agent did not pass it on (said so) */
	bool csirt_not_told;	/* isolated; no notice could be queued */
};

/*
 * Writes the guidance to out in lang ("ja", or anything else for English;
 * NULL means kk_guidance_lang()).  mode "egress" means mail and web are
 * blocked but other traffic still flows; any other mode is described as
 * full isolation.  Flushes out.  Returns 0, or -errno on a write error.
 */
int kk_guidance_print(FILE *out, const char *lang,
    const struct kk_guidance *g);

#endif
