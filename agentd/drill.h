/*
 * Drills (issue 11, DESIGN 7): one at a time, tabletop or live.
 *
 * A live drill isolates through its own table (nft/drill.c) whose every
 * guarantee is the kernel's: gone with kakurid's socket, lifted when the
 * gate element is not renewed.  kakurid ends it at its deadline, at
 * drill stop, at once when the management channel cannot be reached
 * for the gate period, and never puts it back after a restart.  While
 * it runs, probes from inside the endpoint prove it holds.  A tabletop
 * drill isolates nothing: it shows the employee the exercise and times
 * the response.  Every drill leaves a record (state_dir/drills/), an
 * audit line, and a "drill" report for the collector.
 */
#ifndef KD_DRILL_H
#define KD_DRILL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct kd;
struct json_t;

#define KD_DRILL_SCENARIO_MAX	512	/* bytes of a drill's scenario */
#define KD_DRILL_ANNOUNCE_MAX	3600	/* seconds between announcement and start */
#define KD_DRILL_EMPLOYEES	64	/* distinct users counted as notified */

enum kd_drill_kind { KD_DRILL_TABLETOP, KD_DRILL_LIVE };

/* A drill as asked for: by a signed command, kakurictl, or the timer. */
struct kd_drill_ask {
	enum kd_drill_kind kind;
	unsigned duration;	/* seconds; 0: drill.max_duration */
	unsigned announce;	/* seconds of notice before it starts */
	const char *scenario;	/* NULL: none */
	const char *origin;	/* "local", "remote", ... */
	const char *by;		/* the actor */
	const char *drill;	/* a stop: the id of the drill it ends */
};

/*
 * At start: the drills directory; a record a killed kakurid left
 * running is closed as aborted and reported; a drill table is never
 * put back (and one that is there is removed).
 */
int kd_drill_init(struct kd *d);
/* At exit: a running drill ends now (its table goes). */
void kd_drill_free(struct kd *d);
bool kd_drill_running(const struct kd *d);
/* The id of the drill running, or NULL. */
const char *kd_drill_running_id(const struct kd *d);
/*
 * Starts one: 0 with *record (the caller's), or a negative errno with
 * reason (a wire word) and why (a line for the asker).
 */
int kd_drill_start(struct kd *d, const struct kd_drill_ask *ask,
    struct json_t **record, const char **reason, char *why, size_t whylen);
/*
 * Ends the one running (end "stop"); -ENOENT if none, or if drill (its
 * id, NULL: whichever runs) names another.
 */
int kd_drill_stop(struct kd *d, const char *by, const char *drill,
    struct json_t **record);
/*
 * What an employee saw or did ("notified", "report", "disconnect"),
 * counted for the drill running; via_notice: said by the drill's notice
 * (drill-event), not done through the real report or button.  -ENOENT
 * when drill (NULL: any) is not the one running, -EPERM for "notified"
 * or anything via_notice from a user none of whose watchers was sent
 * the drill's start.
 */
int kd_drill_employee(struct kd *d, const char *drill, uid_t uid,
    const char *what, bool via_notice);
/* The record of the drill running, or NULL. */
struct json_t *kd_drill_current(struct kd *d);
/*
 * This PC is really quarantined now: a drill announced is called off,
 * result "aborted", end "quarantined"; one running too when running_too
 * (the CSIRT's isolate; the staff's press is the response it times).
 */
void kd_drill_quarantined(struct kd *d, bool running_too);

#endif
