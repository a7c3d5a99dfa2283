/*
 * Inside drill.c and drill_probe.c: one drill's state and the probes it
 * makes.  Not for anything else: drill.h is the interface.
 */
#ifndef KD_DRILL_INT_H
#define KD_DRILL_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "kakuri.h"
#include "daemon.h"
#include "events.h"

#define PROBE_TIMEOUT_USEC	1000000ULL	/* a connect that gets no answer: blocked */
#define MGMT_PERIOD_USEC	1000000ULL	/* the management channel, checked */
#define BACK_PERIOD_USEC	100000ULL	/* after the revert: tried again */
#define BACK_MAX_USEC		5000000ULL	/* ... for at most this long */

enum drill_state { DS_ANNOUNCED, DS_RUNNING, DS_ENDING };
enum probe_kind { PK_BLOCK, PK_MGMT, PK_BACK };
/* what the probes tell the drill's course (struct drill's heard) */
enum probe_event {
	PE_ANSWER,	/* a probe came back; false: the drill has ended */
	PE_LEAK,	/* what must be blocked got through (to target) */
	PE_BLOCKED_ALL,	/* every probe that must be blocked has its result */
	PE_BACK_ROUND,	/* a round of probes after the revert is over */
};

struct probe_result {
	const char *result;	/* "blocked", "leak", "no-route"; NULL: not yet */
	char detail[64];
	double ms;		/* after the drill's start */
};

struct drill;

/* One probe of the drill's (probe.c does the connect). */
struct dprobe {
	struct drill *dr;
	enum probe_kind kind;
	size_t idx;		/* of the targets (PK_BLOCK, PK_BACK) */
	struct kd_probe *p;	/* NULL until it is under way */
	struct dprobe *next;
};

struct drill {
	struct kd *d;
	enum drill_state state;
	bool live;		/* else tabletop */
	char id[KK_EPISODE_HEX + 1];
	char origin[16];
	char by[KK_TEXT_MAX];
	char scenario[KD_DRILL_SCENARIO_MAX + 1];
	unsigned announce, duration;
	char file[PATH_MAX + 64];	/* its record on disk */

	uint64_t t0;		/* asked for (monotonic usec) */
	time_t asked_rt, started_rt, deadline_rt, ended_rt;
	uint64_t started, committed, verified, first_blocked, notified,
	    action, reverted, back;	/* usec after t0; 0: not (yet) */

	char end[24];		/* "deadline", "stop", "management-lost", ... */
	char failure[400];	/* why it failed, if it did */
	bool leak;
	bool leak_reported;

	/* the employees, each as his owner (subids.h): one user is one */
	uid_t shown_uids[KD_WATCH_MAX];	/* its notice was sent to them */
	size_t nshown;
	uid_t notified_uids[KD_DRILL_EMPLOYEES];
	size_t nnotified;
	char action_word[16];	/* the timed response (kd_drill_employee) */
	uid_t action_uid;
	bool action_notified;
	/* every user's first response, in order */
	struct {
		uid_t uid;
		char word[16];
		uint64_t at;	/* usec after t0 */
		bool notified;	/* the user had been shown the drill */
	} responses[KD_DRILL_EMPLOYEES];
	size_t nresponses;

	/* probes */
	struct kk_endpointlist targets;	/* drill.probes when it was asked for */
	struct probe_result probes[KK_MAX_PROBES];
	size_t nprobes, probes_left;
	struct kk_endpoint check;
	char check_text[64];
	struct probe_result mgmt;
	uint64_t mgmt_ok;	/* last reachable (usec after t0) */
	struct json_t *dns;
	uint64_t packets, bytes;	/* the drill table's drops */
	struct dprobe *inflight;
	bool starting;		/* a round of probes is being started */
	/*
	 * drill.c's, for the probes: as probe.c calls back its caller, they
	 * do not call up into the drill's course (drill_probe.c is below it)
	 */
	bool (*heard)(struct drill *dr, enum probe_event ev, const char *target);
	bool no_back;		/* kakurid exits, or the PC is really */
				/* isolated: no connectivity check */

	sd_event_source *announce_timer, *deadline_timer, *gate_timer,
	    *mgmt_timer, *back_timer;
	uint64_t gate_ms;
	uint64_t renewed;	/* last gate renewal (monotonic usec) */
};

/* usec after the drill was asked for; never 0, which means "not yet" */
static inline uint64_t
drill_since_t0(const struct drill *dr)
{
	uint64_t now = kd_now_usec();

	return now > dr->t0 ? now - dr->t0 : 1;
}

/*
 * drill_record.c: what a drill says.  Its record (drill history's, the
 * report's) and its result word; the record saved on disk and reported
 * to the CSIRT; an event of phase to the watchers (the end, each one's
 * own response); a leak, audited and reported at once.
 */
struct json_t *drill_ms_or_null(uint64_t usec);
const char *drill_kind_name(bool live);
const char *drill_state_name(const struct drill *dr);
const char *drill_result_of(const struct drill *dr);
struct json_t *drill_record_of(const struct drill *dr);
void drill_record_save(struct drill *dr);
struct json_t *drill_save_and_report(struct drill *dr);
void drill_emit(struct drill *dr, const char *phase);
void drill_leak_found(struct drill *dr, const char *what);

/* drill_probe.c: the probes, which tell the drill's course (dr->heard) */
struct kk_endpoint;
void drill_probe_start(struct drill *dr, enum probe_kind kind, size_t idx,
    const struct kk_endpoint *ep);
void drill_probes_cancel(struct drill *dr);
void drill_dns_checks(struct drill *dr);
void drill_check_endpoint(struct drill *dr);

#endif
