/*
 * Tamper alerts of the quarantine (alerts.c): the tables' incident,
 * interfaces that left the namespace, foreign nftables commits; each
 * kind rate-limited, with a summary of what the rate held back.
 */
#ifndef KD_ALERTS_H
#define KD_ALERTS_H

#include <stdbool.h>

struct kd;
struct json_t;

/* an incident of the tables ends after this long holding */
#define KD_QUIET_USEC	(5ULL * 1000 * 1000)

enum kd_alert_kind {
	KD_ALERT_TABLES, KD_ALERT_INTERFACES, KD_ALERT_NFTABLES, KD_ALERT_NETLINK
};

/* The summary timer (off until an alert is held back). */
int kd_alerts_start(struct kd *d);
void kd_alerts_stop(struct kd *d);
/*
 * May an alert of this kind be written (log, audit line, outbox report)?
 * A burst, then one a minute; one held back is counted by its result.
 */
bool kd_alert_allowed(struct kd *d, enum kd_alert_kind kind,
    const char *result);
/* The alerts in force, as status lists them. */
struct json_t *kd_alerts_json(const struct kd *d);

/*
 * A tamper event of the tables, by who: result "restored", "fallback" or
 * "restore-failed"; tampered says whether the tables differed (rather
 * than a read-back that failed); t0 (CLOCK_MONOTONIC usec) when it was
 * seen.
 */
void kd_incident_event(struct kd *d, const char *who, const char *result,
    bool tampered, unsigned long long t0);
/* Whether the incident's tables hold again (restored under the own name). */
bool kd_incident_holds(const struct kd *d);
/* The tables held for KD_QUIET_USEC: the incident is over. */
void kd_incident_close(struct kd *d);
/* A foreign nftables commit while quarantined that left the tables intact. */
void kd_nftables_changed(struct kd *d, const char *who);
/* An interface alert; consumes extra. */
/*
 * n more netlink messages from a process posing as the kernel were passed
 * over: one alert of its own that counts them all (status, verified), so
 * that a flood of them pushes no interface alert out; written within a
 * rate of its own.
 */
void kd_forged_alert(struct kd *d, unsigned long n);
void kd_link_alert(struct kd *d, const char *who, const char *result,
    const char *what, struct json_t *extra);

#endif
