/*
 * kakurictl send: signed command files to one agent or many over mutual
 * TLS (DESIGN 5), every file answered by a receipt that is verified
 * before it is printed.  The connection is agentconn.c's, the targets and
 * the workers are fanout.c's; what is here is what a command file is and
 * who may get it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "kakuri.h"
#include "agentconn.h"
#include "commands.h"
#include "fanout.h"
#include "options.h"
#include "output.h"
#include "receipts.h"
#include "sign.h"
#include "tls.h"
#include "wire.h"

#define MAX_TARGETS		4096
#define MAX_FILES		64
#define DEFAULT_CONCURRENCY	16
#define DEFAULT_TIMEOUT_MS	10000

/* A signed command file, as it goes out. */
struct cmd_file {
	const char *path;
	char *body;
	size_t len;
	char *id;		/* its command id: the receipt must name it */
	char *agent;		/* the agent it is addressed to */
	bool group;		/* or a group: its agents decide (DESIGN 9) */
};

struct send_ctx {
	struct agentconn_cfg conn;
	struct cmd_file *files;
	size_t nfiles;
	bool by_agent;		/* each target gets only the files for it */
	int save_fd;		/* --save-receipts DIR, or -1 */
	size_t saved;		/* bytes kept there, by every worker */
};

/* The file's envelope, read, and the command id and agent it names. */
static int
load_file(struct cmd_file *f)
{
	struct kk_envelope env;
	json_t *p;
	int r;

	if ((r = kk_read_file(f->path, KK_ENVELOPE_MAX, &f->body, &f->len)) < 0)
		return r;
	/* our own file: remember its id to match the receipt */
	if (kk_envelope_parse((uint8_t *)f->body, f->len, &env) == 0) {
		p = json_loadb((const char *)env.payload, env.payload_len, 0,
		    NULL);
		if (json_is_string(json_object_get(p, KW_ID)))
			f->id = strdup(json_string_value(json_object_get(p,
			    KW_ID)));
		if (json_is_string(json_object_get(p, KW_AGENT)))
			f->agent = strdup(json_string_value(json_object_get(p,
			    KW_AGENT)));
		f->group = json_is_string(json_object_get(p, KW_GROUP));
		json_decref(p);
		kk_envelope_free(&env);
	}
	return 0;
}

static bool
addressed_to(const struct cmd_file *f, const char *agent)
{
	return f->group || (f->agent != NULL && strcmp(f->agent, agent) == 0);
}

/*
 * A command goes only to the agent it names: whichever agent answers at
 * this address, CA-certified or not, gets nothing that is addressed to
 * another.  A group command goes to every target: only the agent knows
 * its groups, and one of another group refuses it (wrong-agent).  0, or
 * -1 with r filled in.
 */
static int
check_addressed(const struct send_ctx *sc, const char *agent,
    struct fanout_result *r)
{
	const struct cmd_file *f;
	size_t i;

	for (i = 0; i < sc->nfiles; i++) {
		f = &sc->files[i];
		if (f->agent == NULL && !f->group) {
			snprintf(r->error, sizeof(r->error),
			    "%s: names no agent id; nothing sent", f->path);
			return -1;
		}
		if (!addressed_to(f, agent)) {
			snprintf(r->error, sizeof(r->error),
			    "%s is for agent %.16s..., but the agent here is "
			    "%.16s...; nothing sent", f->path, f->agent, agent);
			return -1;
		}
	}
	return 0;
}

/* --save-receipts: the envelope agentconn_command verified, as it came */
static int
save(struct send_ctx *sc, const struct agentconn *ac, json_t *rec,
    struct fanout_result *r)
{
	int e;

	/* the workers' running total: over it, this one is not kept */
	if (__atomic_add_fetch(&sc->saved, ac->receipt_len, __ATOMIC_RELAXED) >
	    RECEIPTS_SAVED_MAX) {
		__atomic_sub_fetch(&sc->saved, ac->receipt_len,
		    __ATOMIC_RELAXED);
		snprintf(r->error, sizeof(r->error), "--save-receipts: %d MiB "
		    "kept: the receipt is not", RECEIPTS_SAVED_MAX >> 20);
		return EX_FAILED;
	}
	e = receipt_save(sc->save_fd, ac->id, json_string_value(
	    json_object_get(rec, KW_COMMAND)), ac->receipt, ac->receipt_len);
	if (e == 0)
		return EX_DONE;
	snprintf(r->error, sizeof(r->error), "--save-receipts: the receipt "
	    "cannot be kept: %s", strerror(-e));
	return EX_FAILED;
}

/* One target: connect, check, then the files one after the other. */
static void
serve(void *arg, const struct target *t, struct fanout_result *r)
{
	struct send_ctx *sc = arg;
	const struct cmd_file *f;
	struct agentconn ac;
	const char *why, *res;
	json_t *receipts, *rec;
	size_t i, degraded = 0;
	bool unsaved;

	/* the array is the members' (NULL with them: appends then fail) */
	r->members = json_pack("{s:[]}", KW_RECEIPTS);
	receipts = json_object_get(r->members, KW_RECEIPTS);
	r->status = agentconn_open(&ac, &sc->conn, t->addr,
	    t->pin[0] ? t->pin : NULL, r->error, sizeof(r->error));
	if (r->status != EX_DONE)
		goto out;
	if (!sc->by_agent && check_addressed(sc, ac.id, r) < 0) {
		r->status = EX_FAILED;
		goto out;
	}
	for (i = 0; i < sc->nfiles; i++) {
		f = &sc->files[i];
		if (sc->by_agent && !addressed_to(f, ac.id))
			continue;
		switch (agentconn_command(&ac, f->body, f->len, f->id, &rec,
		    &why)) {
		case EX_DONE:
			break;
		case EX_UNREACHABLE:
			snprintf(r->error, sizeof(r->error), "%s: no receipt",
			    f->path);
			r->status = EX_UNREACHABLE;
			goto out;
		default:
			snprintf(r->error, sizeof(r->error), "%s: %s", f->path,
			    why);
			r->status = EX_FAILED;
			goto out;
		}
		/*
		 * Kept, or the target fails and its files after this one
		 * are not sent; the receipt is listed either way (what an
		 * earlier file said stays said).
		 */
		unsaved = sc->save_fd >= 0 && save(sc, &ac, rec, r) != EX_DONE;
		json_object_set_new(rec, KW_FILE, json_string(f->path));
		res = json_string_value(json_object_get(rec, KW_RESULT));
		if (unsaved || res == NULL || strcmp(res, KR_DONE) != 0)
			r->status = EX_FAILED;
		else if (print_receipt_degraded(NULL, rec, false))
			degraded++;
		json_array_append_new(receipts, rec);
		if (unsaved)
			goto out;
	}
	/*
	 * Done, but an enforcer did not do all its part: the status word
	 * says so (the exit status stays 0: what isolate promises, the
	 * network cut, holds; kakurictl.1)
	 */
	if (r->status == EX_DONE && degraded > 0)
		json_object_set_new(r->members, KW_STATUS,
		    json_string(KR_DEGRADED));
	if (json_array_size(receipts) == 0 && r->status == EX_DONE) {
		snprintf(r->error, sizeof(r->error),
		    "no command is addressed to agent %.16s...", ac.id);
		r->status = EX_FAILED;
	}
out:
	agentconn_close(&ac);
}

/*
 * Without --json: one line per receipt, naming the address and the agent
 * that answered there (whose key signed it: in CA mode, any agent the CA
 * certified may answer at an address it holds).
 */
static void
print_receipts(void *arg, const struct target *t,
    const struct fanout_result *r)
{
	char who[sizeof(t->addr) + KK_AGENT_ID_HEX + 2];
	size_t i;
	json_t *rec;

	json_array_foreach(json_object_get(r->members, KW_RECEIPTS), i, rec) {
		snprintf(who, sizeof(who), "%s %s", t->addr,
		    str_or(rec, KW_AGENT, "?"));
		print_receipt_line(who, rec);
		print_receipt_degraded(who, rec, true);
	}
}

/* --to HOST:PORT[,...] and --targets FILE: where the commands go */
static int
add_to(char *value, void *ts)
{
	return targets_add(ts, value, false) < 0 ? EX_FAILED : EX_DONE;
}

static int
add_targets(char *value, void *ts)
{
	return targets_add(ts, value, true) < 0 ? EX_FAILED : EX_DONE;
}

int
cmd_send(struct ctl *c, int argc, char **argv)
{
	struct send_ctx sc = { .save_fd = -1 };
	struct fanout fo = { .json = c->json, .serve = serve,
		.print = print_receipts, .arg = &sc };
	struct targets ts;
	const char *ca = NULL, *cert = NULL, *key = NULL, *save_dir = NULL;
	long long workers = DEFAULT_CONCURRENCY, timeout_ms = DEFAULT_TIMEOUT_MS;
	const struct ctl_option opts[] = {
		CTL_CALL("to", add_to, &ts),
		CTL_CALL("targets", add_targets, &ts),
		CTL_TLS_FILES(&ca, &cert, &key),
		CTL_TEXT("agent-id", &ts.default_pin),
		CTL_NUMBER("concurrency", &workers, 1, FANOUT_WORKERS_MAX, NULL),
		CTL_NUMBER("timeout", &timeout_ms, 100, 600000, NULL),
		CTL_FLAG("json", &fo.json),
		CTL_FLAG("by-agent", &sc.by_agent),
		CTL_TEXT("save-receipts", &save_dir),
		CTL_OPTIONS_END,
	};
	char err[300];
	size_t i;
	int r, first, ret;

	/* through the fleet broker (DESIGN 9): another transport altogether */
	for (i = 1; i < (size_t)argc; i++)
		if (strcmp(argv[i], "--broker") == 0 ||
		    strncmp(argv[i], "--broker=", 9) == 0)
			return cmd_send_broker(c, argc, argv);
	targets_init(&ts);
	fo.targets = &ts;
	ret = ctl_options(argc, argv, opts, 1, MAX_FILES, &first);
	if (ret != EX_DONE)
		goto out;
	ret = EX_USAGE;
	if (ts.nsrc == 0 || cert == NULL || key == NULL)
		goto out;
	fo.workers = (unsigned)workers;
	sc.conn.timeout_ms = (int)timeout_ms;
	/* a signed block list may be up to 24 MiB (DESIGN 4) */
	sc.conn.send_max = KK_FRAME_AUTHED_MAX;
	if (ts.default_pin && strlen(ts.default_pin) != KK_AGENT_ID_HEX) {
		fail_line("--agent-id must be %d hex digits", KK_AGENT_ID_HEX);
		goto out;
	}
	/* the whole list before the first command goes out */
	if (targets_check(&ts, ca != NULL, MAX_TARGETS, &fo.count, err,
	    sizeof(err)) < 0) {
		fail_line("%s", err);
		goto out;
	}
	if (fo.count == 0)
		goto out;
	ret = EX_FAILED;
	sc.nfiles = (size_t)(argc - first);
	sc.files = calloc(sc.nfiles, sizeof(*sc.files));
	if (sc.files == NULL)
		goto out;
	for (i = 0; i < sc.nfiles; i++) {
		sc.files[i].path = argv[first + i];
		if ((r = load_file(&sc.files[i])) < 0) {
			fail_line("%s: %s", sc.files[i].path, strerror(-r));
			goto out;
		}
	}
	sc.conn.tls = kk_tls_client_ctx(cert, key, ca, err, sizeof(err));
	if (sc.conn.tls == NULL) {
		fail_line("%s", err);
		goto out;
	}
	sc.conn.have_ca = ca != NULL;
	/* where the proofs go, before anything is sent */
	if (save_dir != NULL && (sc.save_fd = receipts_open(save_dir, err,
	    sizeof(err))) < 0) {
		fail_line("--save-receipts %s", err);
		goto out;
	}
	ret = fanout_run(&fo);
out:
	kk_close(sc.save_fd);
	for (i = 0; sc.files != NULL && i < sc.nfiles; i++) {
		free(sc.files[i].body);
		free(sc.files[i].id);
		free(sc.files[i].agent);
	}
	free(sc.files);
	SSL_CTX_free(sc.conn.tls);
	targets_free(&ts);
	return ret;
}
