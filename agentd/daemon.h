/*
 * kakurid's internal state, shared by kakurid.c (the parent's logic) and
 * control.c (the local control socket).
 */
#ifndef KK_DAEMON_H
#define KK_DAEMON_H

#include <time.h>

#include <systemd/sd-event.h>

#include "kakuri.h"
#include "links.h"
#include "netdevs.h"
#include "nft.h"
#include "foreign.h"
#include "blocklist.h"

/* timers of the parent: 1 ms is precise enough for all of them */
#define KD_TIMER_ACCURACY_USEC	1000ULL
/* in the state directory: held by the one kakurid that runs on it */
#define KD_LOCK_FILE		"kakurid.lock"
/*
 * In the state directory: the policy kakurid last ran with, as it was
 * read; what a boot restores with when the policy file does not load.
 */
#define KD_POLICY_GOOD		"policy.good"

/* CLOCK_MONOTONIC in microseconds */
static inline unsigned long long
kd_now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000;
}

/*
 * The loop's CLOCK_MONOTONIC time in microseconds: when this wakeup
 * began, the same for every handler of it (sd_event_now).
 */
static inline uint64_t
kd_loop_now_of(sd_event *ev)
{
	uint64_t now = 0;

	sd_event_now(ev, CLOCK_MONOTONIC, &now);
	return now;
}
#define kd_loop_now(d)	kd_loop_now_of((d)->ev)

struct kk_control;
struct kd_watchers;
struct kd_tally;
struct kd_preserve;
struct kd_chan;
struct kd_courier;
struct kd_fleet;
struct kd_resolver;
struct kd_child;
struct kd_rejects;
struct run;
struct kk_trust;
typedef struct evp_pkey_st EVP_PKEY;

/* The outbox (outbox.c): what waits for the collector. */
struct kd_outbox_seal;
struct kd_outbox_self;
struct kd_nflog;
struct kd_outbox {
	const struct kd_outbox_seal *sealer;
	unsigned long long seq;		/* the last seq given */
	unsigned long long seq_hi;	/* persisted: never given again */
	uint64_t bytes;			/* of the messages waiting */
	unsigned long count;
	unsigned long pending;		/* unsigned, waiting for the key */
	unsigned long corrupt;		/* moved aside since start */
	bool open;
	struct sd_event_source *verify;	/* kakurid: the slices of a check */
	unsigned long long verified;	/* its cursor: seqs checked */
	char err[256];			/* why the last put failed */
	/* outbox.c: the self-reports waiting, by seq, with their owners */
	struct kd_outbox_self *self;
	size_t nself, self_cap;
	/*
	 * Bad files that could not be moved aside, left where they are
	 * (never deleted: one may be a report whose key changed), reported
	 * once: their names, KD_OUTBOX_LEFT_MAX at most.
	 */
	char (*left)[64];		/* KD_OUTBOX_NAME_MAX each */
	size_t nleft;
};

struct kd {
	sd_event *ev;
	struct kk_policy *policy;
	char policy_path[PATH_MAX];
	int foreground;

	struct kk_nft nft;
	uint32_t table_flags;		/* what the kernel accepted */
	bool persist_supported;
	sd_event_source *mon_src;

	struct kk_state state;
	struct kk_audit audit;
	uint64_t audit_tried_ms;	/* CLOCK_MONOTONIC: record.c */
	/* disconnect presses told again in an episode (act_quarantine.c) */
	char repeat_episode[KK_EPISODE_HEX + 1];
	unsigned repeat_notices;
	char state_path[PATH_MAX];
	char audit_path[PATH_MAX];
	char outbox_dir[PATH_MAX];
	struct kd_outbox outbox;	/* outbox.c */

	bool staff_known;
	gid_t staff_gid;
	bool own_known;
	uid_t own_uid;
	gid_t own_gid;

	struct kk_control *control;
	struct kd_watchers *watchers;	/* events.c: kakurictl watch */
	struct kd_tally *tally;		/* tally.c: what local users did, per uid */
	unsigned long tamper_events;
	unsigned long long last_apply_usec;

	/* the CSIRT channel: identity.c loads it, run.c signs receipts */
	EVP_PKEY *agent_key;		/* its public half: verifies, names */
	unsigned char *agent_seed;	/* the private key (identity.c) */
	bool agent_seed_secret;		/* in memfd_secret memory */
	char agent_id[65];
	struct kk_trust *trust;
	/* failed signature verifications: a budget in time (dispatch.c) */
	struct kd_verify_fails {
		uint64_t at;		/* CLOCK_MONOTONIC us: last refill */
		uint64_t said_at;	/* ... the last line about it */
		unsigned left;
		bool spent;		/* named keys only */
		bool told;		/* ... and said, its end to be said */
	} verify_fails[4];		/* by signed origin (dispatch.c) */
	bool remote_ready;
	char remote_err[256];		/* why the channel is off */
	char replay_dir[PATH_MAX];
	uint64_t replay_pruned_ms;	/* CLOCK_MONOTONIC: a clock set back
					 * does not stop the pruning */

	/* evidence (act_evidence.c) and requests still running (run.c) */
	struct kd_preserve *pv;
	struct run *runs;

	/*
	 * Whether the quarantine holds (kakurid.c: apply, verify, enforce):
	 * checked on nftables events and on a timer, never on events alone.
	 */
	char table_name[KK_NFT_NAME_MAX];	/* kakurid's tables' name now */
	char fallback_name[KK_NFT_NAME_MAX];	/* random, if kakuri_fallback is taken */
	char held_err[160];		/* why the own name could not be used */
	bool no_bridge;			/* the kernel has no nftables bridge family */
	/*
	 * The Ethernet devices the netdev table's chains hook (tables.c),
	 * as the last apply built them: what verification expects.
	 * netdev_unsupported: the kernel has no netdev egress hook (before
	 * Linux 5.16), for good; netdev_failed: the last apply went without
	 * the netdev table (the kernel refused it: a device gone between
	 * the look and the commit), retried by netdev_timer, which also
	 * spaces re-applies for changed devices out; netdevs_dirty: a device
	 * of the list went away since (it may be back under the same name
	 * and index, but unhooked where the kernel drops hooks with their
	 * device, before 6.16).
	 */
	struct kd_netdevs netdevs;
	bool netdev_unsupported;
	bool netdev_failed;
	bool netdevs_dirty;
	uint64_t netdev_apply_usec;	/* CLOCK_MONOTONIC, of the last re-apply for devices */
	uint64_t netdev_log_usec;	/* ... and of its last log line */
	sd_event_source *netdev_timer;
	sd_event_source *verify_timer;
	sd_event_source *verify_soon;	/* after a batch whose monitor missed */
	uint32_t verified_gen;		/* ruleset generation last verified */
	bool gen_valid;
	bool monitor_deaf;		/* tamper monitor out of its group */
	uint64_t retry_usec;		/* backoff while it does not hold */
	struct kd_alert {
		char what[256];
		char result[32];
		time_t since;
		unsigned long long t0;	/* CLOCK_MONOTONIC usec: opened */
		unsigned long long last; /* CLOCK_MONOTONIC usec: last event */
		unsigned long count;	/* tamper events it stands for */
	} incident;			/* the tables' tamper incident; what[0] if none */
	unsigned long long restore_us;	/* the last restore, as kakurid measured it */
	unsigned long long restore_max_us;	/* the incident's slowest */
	struct kd_alert link_alerts[4];	/* interfaces that left the namespace */
	unsigned long nlink_alerts;	/* may exceed the slots; saturates */
	struct kd_alert forged;	/* netlink messages posing as the kernel's */
	/* chains of other tables that could undo the netdev table (quarantine.c) */
	struct kk_foreign_chains foreign;
	uint32_t foreign_gen;		/* the generation they were looked at */
	bool foreign_valid;
	uint64_t foreign_told[32];	/* seen this episode (fingerprints) */
	size_t nforeign_told;
	bool foreign_primed;		/* looked once: new ones are alerts */
	struct kk_links links;
	sd_event_source *links_src;
	sd_event_source *links_timer;	/* the rescan, for events that were lost */
	int xsk_err_logged;	/* links.xsk_err as last logged */
	int tc_err_logged;	/* links.tc_err as last logged */
	unsigned long nl_forged_seen;	/* kk_nl_forged as last reported */
	/*
	 * Alert writes (log, audit, outbox) per kind: a burst, then one a
	 * minute; what is held back is summed up once per interval.
	 */
	struct kd_ratelimit {
		unsigned spent;		/* of the burst */
		unsigned long long refilled;	/* CLOCK_MONOTONIC usec */
		unsigned long held_back;
		struct kd_held_back {
			char result[32];
			unsigned long n;
		} results[6];	/* the last one counts any others */
	} alert_rl[4];		/* tables, interfaces, nftables changes, netlink */
	sd_event_source *summary_timer;

	/* the CSIRT channel, continued */
	struct kd_chan *chan;		/* channel.c: listener, the network child */
	struct kd_courier *courier;	/* courier.c: the outbox to the collector */
	struct kd_fleet *fleet;		/* fleet.c: the broker, by the fleet child */
	struct kd_resolver *resolver;	/* resolver.c: names of uids, never NSS here */
	/* without report.collector: who carries reports (kakurid.c wires
	 * the fleet child's kd_fleet_courier here); NULL: nobody */
	struct kd_child *(*report_via)(struct kd *d);
	struct kd_rejects *rejects;	/* run.c: refusals counted, not each logged */

	/* the local side: state file, audit volume, control socket limits */
	bool state_dirty;		/* state.json behind d->state: save again */

	/* IOC block lists in force (blocklist.c), and their folder */
	struct kd_blocklists blocklists;
	char blocklist_dir[PATH_MAX];
	struct kd_nflog *nflog;		/* nflog.c: who tried */
};

struct json_t;

/* preserve.c: evidence (its actions are in run.h) */
int kd_preserve_init(struct kd *d);
void kd_preserve_free(struct kd *d);
struct json_t *kd_preserve_status(struct kd *d);
void kd_fetch_forget(struct kd *d);
/* NULL: not a chunk request, or no memory for the answer */
uint8_t *kd_fetch_chunk(struct kd *d, uint64_t token, const uint8_t *body,
    size_t len, size_t *outlen);
/* the chunk's answer where there is no memory for one: an error line */
extern const char kd_fetch_no_memory[];

/* channel.c: the network child */
int kd_channel_start(struct kd *d);
/*
 * The audit's actor for a command the network child says came from peer
 * ("ADDR:PORT" or "[ADDR]:PORT", its words): "tls:" and peer when it is
 * one (kk_endpoint_parse), else "tls:?".
 */
void kd_channel_via(const char *peer, char *via, size_t len);
/* SIGHUP: the same listener if agent.listen is unchanged, a new child */
void kd_channel_reload(struct kd *d);
void kd_channel_stop(struct kd *d);
/* "listening", "restarting", or why the channel is off */
const char *kd_channel_state(struct kd *d);

/* control.c: the local control socket */
int kk_control_open(struct kd *d, const char *path);
void kk_control_close(struct kd *d);

#endif
