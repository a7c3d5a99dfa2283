/*
 * One request on its way through kakurid's parent (run.c), from the
 * dispatcher (dispatch.c) to the verb's handler and back: the same for
 * every origin.  A signed one is answered with a receipt the identity
 * key signs and is audited however it ends; an unsigned one gets a JSON
 * answer.  A long action (snapshot, collect, a freeze waiting for the
 * freezer) returns KD_RUN_PENDING, keeps the run, and calls
 * kd_run_finish() when its worker is done; the answer goes out then,
 * through the same reply callback.
 */
#ifndef KK_RUN_H
#define KK_RUN_H

#include <stdbool.h>
#include <time.h>

#include <jansson.h>

#include "daemon.h"
#include "sign.h"

enum kd_origin {
	KD_ORIGIN_LOCAL,	/* the control socket: the kernel says who */
	KD_ORIGIN_APPLY,	/* kakurictl apply: a signed command, locally */
	KD_ORIGIN_REMOTE,	/* the CSIRT channel, through the network child */
	KD_ORIGIN_FLEET,	/* the fleet transport (DESIGN 9), signed */
	KD_ORIGIN_DRILL,	/* the drill timer */
	KD_ORIGIN_START,	/* kakurid itself, starting */
	KD_ORIGIN_RESTORE,	/* kakurid --restore, at boot */
	KD_ORIGIN__MAX,
};

#define KD_FROM(o)	(UINT32_C(1) << (o))
/* a local caller's class (enum kk_peer_class) in a row's local column */
#define KD_CLASS(c)	(UINT32_C(1) << (c))
#define KD_NO_ACTION	(-1)

struct run;
struct json_t;
struct kk_audit_tail;

/* What a request gets back, through its reply callback. */
struct kd_answer {
	struct json_t *json;	/* unsigned origins: the answer (NULL: none) */
	const char *receipt;	/* signed origins: the receipt (NULL: no agent key) */
	struct kk_audit_tail *tail;	/* lines after the answer: the callee's */
};

/*
 * Called once per request, at once or later (a deferred action); a
 * is the callee's only for the call, except a->tail.
 */
typedef void (*kd_reply_fn)(struct kd *d, void *opaque, uint64_t token,
    struct kd_answer *a);

/* A request, as a transport hands it over. */
struct kd_req {
	enum kd_origin origin;
	const char *actor;	/* who, for the audit: "local:uid=N(name),pid=P" */
	const struct kk_cred *cred;	/* KD_ORIGIN_LOCAL: the kernel's word */
	pid_t pid;
	unsigned long long start_time;	/* pid's, /proc/PID/stat; 0: unknown */
	const char *verb;	/* unsigned origins; NULL: none given */
	struct json_t *args;	/* unsigned origins: the request object */
	kd_reply_fn reply;	/* never NULL */
	void *opaque;
	uint64_t token;		/* the transport's name for the asker */
	/*
	 * The most receipt bytes the transport carries when asked (at the
	 * run's finish); NULL or 0: any.
	 */
	size_t (*receipt_max)(const struct kd *d);
};

/* One row of the verb table. */
struct kd_verb {
	const char *name;	/* as requests and commands name it */
	uint32_t origins;	/* KD_FROM() bits: where it is accepted from */
	uint32_t local;		/* KD_CLASS() bits: who may, from KD_ORIGIN_LOCAL */
	int action;		/* its signed action, the role it needs, or KD_NO_ACTION */
	uint32_t also;		/* roles (1 << kk_action) whose threshold it needs too */
	const char *denied;	/* what a local caller not allowed is told */
	int (*run)(struct run *r);	/* NULL: not in this version */
};

const char *kd_origin_name(enum kd_origin o);
/* Whether requests of the origin carry a CSIRT signature. */
bool kd_origin_signed(enum kd_origin o);

#define KD_RUN_PENDING	1

struct run {
	struct kd *d;
	enum kd_origin origin;
	const struct kd_verb *verb;	/* its row, once known */
	char via[128];		/* the actor: "tls:ADDR:PORT", "local:uid=N(name),pid=P" */
	uid_t uid;		/* KD_ORIGIN_LOCAL: the caller, as the kernel says */
	pid_t pid;
	unsigned long long start_time;	/* ... of pid (struct kd_req) */
	int local_class;	/* ... its enum kk_peer_class */
	json_t *args;		/* the request's (unsigned) or the command's */
	struct timespec received;
	struct timespec applied;
	struct timespec verified;
	bool have_applied;
	struct kk_command cmd;	/* signed origins */
	bool have_cmd;
	const char *result;	/* "done", "rejected", "failed" */
	const char *reason;	/* the word */
	char detail[400];
	json_t *extra;		/* status output (status action) */
	json_t *output;		/* action output (evidence actions) */
	json_t *enforcers;	/* the quarantine's, per enforcer (wire.h) */
	size_t (*receipt_max)(const struct kd *d);	/* struct kd_req's */
	json_t *answer;		/* unsigned origins: the answer, if set */
	struct kk_audit_tail *tail;	/* ... and what follows it */
	/*
	 * The CSIRT's notice of what the run did (an isolate, a release),
	 * queued in the outbox after the reply callback: a receipt handed
	 * to the network or fleet child is on its way, and the CSIRT waits
	 * for the commit and the audit, not for this one's fsyncs
	 */
	json_t *notice;
	enum kk_report_type notice_type;
	kd_reply_fn reply;	/* never NULL */
	void *opaque;
	uint64_t token;		/* the transport's name for the asker */
	struct run *next;	/* deferred runs */
};

void kd_run_reject(struct run *r, const char *reason, const char *detail);
void kd_run_fail(struct run *r, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void kd_run_applied(struct run *r);
/* applied when the tables were committed, verified now */
void kd_run_committed(struct run *r);
/*
 * The quarantine's enforcers as they are after a mode change, in the
 * receipt and the audit; a done run whose enforcers did not all do their
 * part says so: reason "degraded", and which in the detail.
 */
void kd_run_enforcers(struct run *r);
/* "csirt:INCIDENT": who a signed command acts as */
void kd_run_csirt_actor(const struct run *r, char *by, size_t len);

/* a run for a request (NULL without memory) */
struct run *kd_run_new(struct kd *d, enum kd_origin origin, const char *actor,
    kd_reply_fn reply, void *opaque, uint64_t token);
/* completes a run, deferred or not: audit, receipt or answer, reply, free */
void kd_run_finish(struct run *r);
/*
 * A receipt of this agent's (whole, len bytes, its signature checked
 * first) signed again without its status and output, with left_out
 * {parts, bytes} saying so (wire.h): malloc'd text in *brief, the parts
 * left out in words ("status and output") in parts_said.  0; -EBADMSG:
 * not a receipt this agent signed (or no memory to read it); -ENOENT:
 * it has neither part; -ENOKEY: no identity key to sign with; -ENOMEM,
 * or another negative errno of the signing.
 */
int kd_receipt_brief(struct kd *d, const char *whole, size_t len,
    char **brief, char *parts_said, size_t said_len);
/* kd_receipt_brief's error in words */
const char *kd_receipt_brief_why(int err);
/* At exit: deferred runs are answered as failed (their workers are gone). */
void kd_runs_abort(struct kd *d);
/* and what the refusal counting holds */
void kd_runs_free(struct kd *d);

#endif
