/*
 * kakurid's internal state, shared by kakurid.c (the parent's logic) and
 * control.c (the local control socket).
 */
#ifndef KK_DAEMON_H
#define KK_DAEMON_H

#include <systemd/sd-event.h>

#include "kakuri.h"
#include "nft.h"

struct kk_control;
struct kd_preserve;
struct run;
struct kk_trust;
typedef struct evp_pkey_st EVP_PKEY;

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
	char state_path[PATH_MAX];
	char audit_path[PATH_MAX];
	char outbox_dir[PATH_MAX];

	bool staff_known;
	gid_t staff_gid;
	bool own_known;
	uid_t own_uid;
	gid_t own_gid;

	struct kk_control *control;
	uint64_t control_serial;	/* of the request being handled */
	unsigned long tamper_events;
	unsigned long long last_apply_usec;

	/* the CSIRT channel (remote.c) */
	EVP_PKEY *agent_key;		/* signs receipts */
	char agent_id[65];
	struct kk_trust *trust;
	bool remote_ready;
	char remote_err[256];		/* why the channel is off */
	char replay_dir[PATH_MAX];
	time_t replay_pruned;
	pid_t child_pid;
	int child_fd;
	sd_event_source *child_io;
	sd_event_source *child_src;
	sd_event_source *child_timer;
	struct kk_frame_reader child_rd;
	unsigned child_restarts;
	uint32_t child_gen;		/* bumped per child: stale replies go nowhere */

	/* evidence (preserve.c) and commands still running (remote.c) */
	struct kd_preserve *pv;
	struct run *runs;

	/* the local side: state file, audit volume, control socket limits */
	bool state_dirty;		/* state.json behind d->state: save again */
};

/* kakurid.c, for remote.c */
void kd_audit(struct kd *d, const char *actor, const char *action,
    const char *result, struct json_t *extra);
int kd_enter_mode(struct kd *d, enum kk_mode mode, const char *by,
    const char *reason, bool *changed);
int kd_release(struct kd *d, const char *episode, const char *by,
    const char *reason);
struct json_t *kd_status(struct kd *d);
int kd_outbox_put(struct kd *d, const char *type, struct json_t *body,
    char id[KK_EPISODE_HEX + 1]);

/* remote.c: signed commands, from the network child or kakurictl apply */
int kd_remote_init(struct kd *d);
void kd_remote_free(struct kd *d);
/* Verify and execute; returns the signed receipt (JSON text, malloc'd). */
typedef void (*kd_reply_fn)(struct kd *d, uint64_t token, const char *receipt);
/*
 * NULL and *pending when the action finishes later: then later(d, token,
 * receipt) is called.
 */
char *kd_remote_handle(struct kd *d, const uint8_t *buf, size_t len,
    const char *via, kd_reply_fn later, uint64_t token, bool *pending);
void kd_remote_abort_runs(struct kd *d);

/* preserve.c */
int kd_preserve_init(struct kd *d);
void kd_preserve_free(struct kd *d);
struct json_t *kd_preserve_status(struct kd *d);
void kd_fetch_forget(struct kd *d);
uint8_t *kd_fetch_chunk(struct kd *d, uint64_t token, const uint8_t *body,
    size_t len, size_t *outlen);

/* control.c: the answer to a request that waited for a worker */
void kk_control_reply_later(struct kd *d, uint64_t serial, struct json_t *resp);
char *kd_remote_reject(struct kd *d, const char *reason, const char *via);
int kd_channel_start(struct kd *d);
void kd_channel_stop(struct kd *d);

struct json_t;
/* A request from the control socket; returns the response object. */
struct json_t *kd_control_request(struct kd *d, const struct kk_cred *cred,
    pid_t pid, struct json_t *req);

int kk_control_open(struct kd *d, const char *path);
void kk_control_close(struct kd *d);
/* "local:uid=N(name),pid=P" */
void kk_control_actor(uid_t uid, pid_t pid, char *buf, size_t len);
/*
 * A refused request: logged and audited in full for the first few of a uid
 * in an interval, counted for the interval's summary otherwise.  Consumes
 * extra.
 */
void kd_control_refused(struct kd *d, uid_t uid, pid_t pid,
    const char *action, const char *reason, struct json_t *extra);
/* Whether uid may hand over one more signed command in this interval. */
bool kd_control_rate_ok(struct kd *d, uid_t uid);
/* After the answer to request serial, the tail t follows (control.c frees it). */
int kk_control_stream(struct kd *d, uint64_t serial, struct kk_audit_tail *t);

#endif
