/*
 * Inside the drill code (drill.c, drill_probe.c): one drill's state and
 * the probes it makes.  Not for anything else: drill.h is the interface.
 */
#ifndef KD_DRILL_INT_H
#define KD_DRILL_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "drill.h"
#include "kakuri.h"

#define PROBE_TIMEOUT_USEC	1000000ULL	/* a connect that gets no answer: blocked */
#define MGMT_PERIOD_USEC	1000000ULL	/* the management channel, checked */
#define BACK_PERIOD_USEC	100000ULL	/* after the revert: tried again */
#define BACK_MAX_USEC		5000000ULL	/* ... for at most this long */

enum drill_state { DS_ANNOUNCED, DS_RUNNING, DS_ENDING };
enum probe_kind { PK_BLOCK, PK_MGMT, PK_BACK };

struct probe_result {
	const char *result;	/* "blocked", "leak", "no-route"; NULL: not yet */
	char detail[64];
	double ms;		/* after the drill's start */
};

struct drill;

struct probe {
	struct drill *dr;
	enum probe_kind kind;
	size_t idx;		/* of drill.probes; the check: nprobes */
	int fd;
	sd_event_source *io, *timer;
	uint64_t t0;
	struct probe *next;
};

struct drill {
	struct kd *d;
	enum drill_state state;
	enum kd_drill_kind kind;
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

	/* the employees */
	uid_t notified_uids[KD_DRILL_EMPLOYEES];
	size_t nnotified;
	char action_word[16];
	uid_t action_uid;

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
	struct probe *inflight;
	bool starting;		/* a round of probes is being started */
	bool no_back;		/* kakurid exits: no connectivity check */

	sd_event_source *announce_timer, *deadline_timer, *gate_timer,
	    *mgmt_timer, *back_timer;
	uint64_t gate_ms;
	uint64_t renewed;	/* last gate renewal (monotonic usec) */
};

/* drill.c */
/* usec since the drill was asked for; never 0 (0 is "not yet") */
uint64_t kd_drill_since(const struct drill *dr);
void kd_drill_record_save(struct drill *dr);
/* a probe got through: recorded, audited, and reported at once */
void kd_drill_leak(struct drill *dr, const char *what);
/* the gate lapsed (kakurid did not run): the drill ends; true if so */
bool kd_drill_lapsed(struct drill *dr);
/* the probes of a round after the revert are all done */
void kd_drill_back_round_done(struct drill *dr);

/* drill_probe.c */
void kd_drill_endpoint_text(const struct kk_endpoint *ep, char *buf,
    size_t len);
/* a non-blocking connect in the event loop; its result comes to dr */
void kd_probe_start(struct drill *dr, enum probe_kind kind, size_t idx,
    const struct kk_endpoint *ep);
void kd_probe_free(struct probe *pr);
/* DNS only to pinned resolvers: datagrams, answered at once */
void kd_drill_dns_checks(struct drill *dr);
/* drill.check, report.collector, or the first management peer and port */
void kd_drill_check_endpoint(struct drill *dr);

#endif
