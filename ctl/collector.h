/*
 * kakurictl collector's insides (collector.c), shared with its fleet
 * broker transport (colbroker.c): reports that come through the broker
 * are stored and acked by the same code as those over mutual TLS.
 */
#ifndef KAKURICTL_COLLECTOR_H
#define KAKURICTL_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <jansson.h>
#include <openssl/ssl.h>
#include <systemd/sd-event.h>

#include "colquota.h"
#include "kakuri.h"
#include "sign.h"

#define COL_MAX_CONNS		1100	/* 1,000 agents and some to spare */
#define COL_MAX_PREAUTH		256	/* still in the handshake */
#define COL_PREAUTH_PER_NET	16	/* ... from one address or IPv6 /64 */
/* one agent's at once: its courier needs one (and one while it restarts) */
#define COL_MAX_PER_AGENT	4
#define COL_HANDSHAKE_USEC	(10ULL * 1000000ULL)
#define COL_IDLE_USEC		(60ULL * 1000000ULL)
/*
 * --frame-timeout: seconds a report may take from its frame's first byte
 * to its last, by default and at most.  Bytes that keep coming reset the
 * idle timer only: without it, an agent sending a byte a minute held its
 * connection (and the 2 MiB its report announced) for ever.  300 s take
 * the largest report at 7 KiB/s.
 */
#define COL_FRAME_TIMEOUT_S	300
#define COL_FRAME_TIMEOUT_MAX_S	3600
/*
 * --min-free-mib: what a new report must leave free on the directory's
 * file system, by default 256 MiB, or a twentieth of a smaller one; and
 * free inodes, a twentieth of them up to 4096.  The per-agent quotas add
 * up to more than any disk: without a floor, a fleet's reports (or one
 * agent's, besides the index and the identity files) filled it, and the
 * index's next line was cut.
 */
#define COL_MIN_FREE_MIB	256
#define COL_MIN_FREE_MAX_MIB	1048576
#define COL_MIN_FREE_INODES	4096
/* a report's index line and its agent's identity.pem, at most */
#define COL_ENTRY_ROOM		(64 * 1024)
/*
 * --broker-budget: MiB an hour, in all agents' names, that the collector
 * may read through the broker and not store (refused, or a receipt), by
 * default and at most.  Anyone on the broker may publish in any agent's
 * name, its certificate being public: each agent's share of the quota
 * alone let forged documents cost the collector as much as the fleet
 * had agents, and each was read before anything was charged.
 */
#define COL_BROKER_BUDGET_MIB	1024
#define COL_BROKER_BUDGET_MAX_MIB COLQ_MAX_MIB
#define COL_MAX_AGENTS_LISTED	100000
#define COL_EXEC_MAX		8	/* --exec programs at once */
/* --exec-timeout: seconds a program may run, by default and at most */
#define COL_EXEC_TIMEOUT_S	60
#define COL_EXEC_TIMEOUT_MAX_S	3600
#define COL_EXEC_QUEUE		1024	/* stored paths waiting for one */
/* one agent's of them, at most: another agent's report finds a place */
#define COL_EXEC_PER_AGENT	(COL_EXEC_QUEUE / 8)
/*
 * stored, announced (stdout, --exec) once a sync has put them on disk;
 * each agent has a share (col_unsynced_admit)
 */
#define COL_UNSYNCED_MAX	COLQ_UNSYNCED_MAX
#define COL_INDEX_TAIL		(2 * 1024 * 1024)	/* looked at for a resend */
/* an agent's hostname in the index: a DNS name's 253 and some (bytes) */
#define COL_HOSTNAME_MAX	255
#define COL_PIPELINE		64	/* reports of a connection answered at once */
/* the listener's pause when no descriptor is left to accept with */
#define COL_ACCEPT_PAUSE_USEC	(250ULL * 1000)

struct collector;
struct colbroker;

struct col_conn {
	struct collector *col;
	int fd;
	SSL *ssl;
	bool authed;
	/* sent something before its handshake ended: an agent, likely */
	bool heard;
	bool closing;			/* close once the answer is written */
	sd_event_source *io, *timer;
	/* its next batch, after the other connections' turn (on_conn_io) */
	sd_event_source *again;
	struct kk_frame_reader rd;
	uint64_t frame_end;		/* a frame begun is whole by then, or 0 */
	uint8_t *out;			/* the framed answers of a batch */
	size_t out_len, out_off;
	unsigned nanswers;		/* in out */
	bool dirty;			/* stored or acked since the last sync */
	unsigned long batch_failures;	/* col's sync_failures as it began */
	bool identity_kept;		/* DIR/<agent>/identity.pem is there */
	EVP_PKEY *identity;
	/* the bucket its reports count in: its agent's, for this way in */
	struct col_quota *quota;
	/*
	 * whether a line about it may be said now, or NULL: always (the
	 * broker's stand-ins: colbroker.c's limit for the whole broker path)
	 */
	bool (*may_say)(struct col_conn *cn);
	char agent[KK_AGENT_ID_HEX + 1];
	char peer[64];
	struct kk_source src;		/* its address, or /64 */
	LIST_ENTRY(col_conn) entry;
};

struct collector {
	sd_event *ev;
	SSL_CTX *ctx;
	EVP_PKEY *key;			/* signs acks: the TLS certificate's */
	X509_STORE *ca;			/* --ca, or NULL */
	char **agents;			/* --agents, sorted */
	size_t nagents;
	char **denied;			/* --deny, sorted */
	size_t ndenied;
	unsigned long denied_said;	/* through the broker: said once */
	const char *dir;
	int dirfd;
	const char *exec;
	unsigned nexec;
	long long exec_timeout_s;		/* --exec-timeout */
	long long frame_timeout_s;		/* --frame-timeout */
	long long min_free_mib;			/* --min-free-mib; -1: default */
	bool disk_low;		/* under it: new reports refused, busy */
	struct col_exec {
		pid_t pid;
		char agent[KK_AGENT_ID_HEX + 1];
		/* past --exec-timeout, its process group is killed */
		sd_event_source *timer;
	} exec_running[COL_EXEC_MAX];
	char *exec_queue[COL_EXEC_QUEUE];	/* stored paths, oldest first */
	size_t exec_n;
	struct col_unsynced {
		char *line;		/* its stdout line */
		char *path;		/* for --exec */
	} unsynced[COL_UNSYNCED_MAX];
	size_t nunsynced;
	unsigned long unsynced_refused;	/* for want of a place, since a sync */
	unsigned long sync_failures;	/* syncs that failed, in all */
	off_t index_synced;		/* index.jsonl's size at the last good sync, or -1 */
	LIST_HEAD(, col_conn) conns;
	unsigned nconns, npreauth;
	/*
	 * The listener paused while the process has no descriptor left to
	 * accept with (EMFILE): the connection stays in the backlog, and a
	 * level-triggered listener would be woken again at once, the loop
	 * spinning until one is freed.
	 */
	sd_event_source *accept_pause;
	unsigned long accept_paused;	/* times, for the line it says */
	unsigned long stored, acked, refused;
	struct colbroker *broker;	/* --broker: colbroker.c */
	struct col_quota *quota;	/* --agent-quota: colquota.c */
	/*
	 * the same for reports through the broker: anyone on it can publish
	 * in an agent's name, and what that costs must not keep the agent's
	 * own reports out over mutual TLS
	 */
	struct col_quota *broker_quota;
	/* --broker-budget: one bucket for what the broker path reads in vain */
	struct col_quota *broker_budget;
	long long broker_budget_mib;
};

/* --agents or --deny FILE: its agent ids (one a line, # comments) added
 * to list, sorted: 0, or -1 said */
int col_load_ids(const char *path, char ***list, size_t *nlist);
/* The listener's callback: a connection accepted, within the limits. */
int col_on_accept(sd_event_source *s, int lfd, uint32_t events, void *arg);
/* Every connection closed (at the end). */
void col_close_all(struct collector *col);
/*
 * colannounce.c: a report stored at path, announced by line (taken; NULL
 * without memory) once a sync has put it on disk...
 */
void col_announce(struct collector *col, char *line, const char *path);
/*
 * ...which is now: a sync succeeded, every report stored before it is on
 * disk, and only now announced, its stdout line printed and --exec run.
 */
void col_synced(struct collector *col);
/*
 * A sync of the collector's disk: 0, and what waited is announced; or
 * -errno, and every report stored since the last sync that succeeded is
 * removed (none of them was acked: their agents send them again).
 */
int col_sync(struct collector *col);
/*
 * Whether the batch of cn that a store made dirty is on disk: a sync
 * now succeeds, and none failed since the batch began (that one said
 * the error, and removed what the batch stored).
 */
bool col_batch_synced(struct collector *col, struct col_conn *cn);
/*
 * Whether one more report of agent may be stored: a place waits for its
 * announcement, within the agent's share of them; when there is none, a
 * sync is tried, and if it succeeds the list is announced and empty.
 */
bool col_unsynced_room(struct collector *col, const char *agent);
/*
 * Whether a new report leaves the directory's file system its reserve
 * (--min-free-mib, free inodes) and room for a report at its largest;
 * said once when it does not, and once when it does again.
 */
bool col_disk_room(struct collector *col);
/* Is the agent id in --agents? */
bool col_agent_listed(struct collector *col, const char *id);
/* Is the agent id in list (n ids, sorted)? */
bool col_agent_in(char *const *list, size_t n, const char *id);
/*
 * One report of cn's agent: checked, stored, and its answer (the signed
 * ack, or an error) appended to cn->out as a frame; cn->dirty if the
 * store changed and needs a sync before the answer goes.  false if it
 * was refused for what it is or what its agent did (too large, over its
 * quota, forged or broken, another report's id): read in vain.
 */
bool col_report(struct col_conn *cn, const uint8_t *buf, size_t len);

/* colstore.c: the loop's time now (CLOCK_MONOTONIC, usec) */
uint64_t col_now_usec(struct collector *col);
/*
 * A report (checked, p its payload) stored, or found stored: 0, or a
 * negative errno with *word the error word of the answer.  cn->dirty if
 * a sync must come before the answer.
 */
int col_store(struct col_conn *cn, const uint8_t *buf, size_t len, json_t *p,
    const char **word);
/* A report's cost to its agent's quota (within_quota made room for it). */
void col_charge(struct col_conn *cn, size_t len, const char *path);

/*
 * colbroker.c: collector --broker URL: reports from the agents' out
 * topics, acks to their ack topics.  cert's text is the chain the acks
 * come with.  EX_DONE or the exit status with the reason said.
 */
int colbroker_start(struct collector *col, const char *url, const char *ca,
    const char *cert, const char *key);
void colbroker_stop(struct collector *col);

#endif
