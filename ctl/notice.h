/*
 * What kakurictl watch shows the employee: the notice each event of
 * kakurid makes (wire.h, "kakurictl watch"), in Japanese or English.
 * No I/O here: watch.c shows the notices, on the desktop or the terminal.
 */
#ifndef KAKURICTL_NOTICE_H
#define KAKURICTL_NOTICE_H

#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>

#define NOTICE_DRILL_SUMMARY	"これは訓練です / This is a drill"

/* What the watcher knows from the events so far. */
struct notice_view {
	char lang[3];		/* "ja" or "en" */
	uid_t uid;		/* the employee's: whose drill result it is */
	bool known;		/* a status came: mode below is kakurid's */
	char mode[16];
	char episode[80];	/* of the isolation last shown */
	json_t *drill;		/* the drill started and not ended, or NULL */
	json_t *contact;	/* the policy's contact section, or NULL */
};

struct notice {
	char summary[160];
	char *body;		/* malloc'd */
	bool urgent;
	bool actions;		/* carries Report and Disconnect */
	json_t *drill_id;	/* a drill's exercise notice: the drill's id */
};

void notice_view_init(struct notice_view *v, const char *lang, uid_t uid);
void notice_view_reset(struct notice_view *v);
/*
 * The notice msg (the answer to "watch", which has "ok", or an event)
 * makes: 1 with *n filled (notice_free it), 0 when it makes none, -ENOMEM.
 * v follows what msg says.
 */
int notice_of(struct notice_view *v, json_t *msg, struct notice *n);
void notice_free(struct notice *n);
/* The label of action "report" or "disconnect" in v's language. */
const char *notice_action_label(const struct notice_view *v, const char *key);
/* The text said when a disconnect pressed in a drill is not carried out. */
const char *notice_drill_disconnect(const struct notice_view *v);
/*
 * The text said when Disconnect is pressed on the notice of a drill that
 * is over: nothing is cut off (the button belonged to the drill).
 */
const char *notice_drill_over_disconnect(const struct notice_view *v);
/* The text said when Disconnect isolated but no CSIRT notice was queued. */
const char *notice_csirt_not_told(const struct notice_view *v);
/* Whether a drill with id runs now (its start came, its end not). */
bool notice_drill_running(const struct notice_view *v, json_t *id);

#endif
