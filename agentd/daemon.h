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
	unsigned long tamper_events;
	unsigned long long last_apply_usec;
};

struct json_t;
/* A request from the control socket; returns the response object. */
struct json_t *kd_control_request(struct kd *d, const struct kk_cred *cred,
    pid_t pid, struct json_t *req);

int kk_control_open(struct kd *d, const char *path);
void kk_control_close(struct kd *d);

#endif
