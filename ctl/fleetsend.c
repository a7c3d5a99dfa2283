/*
 * kakurictl send --broker: signed command files published through the
 * fleet broker (DESIGN 9) to one agent's cmd topic or to a group's, then
 * the agents' out topics read until the deadline: every receipt is
 * checked with the identity key its out document names, after that key
 * was proven to be the agent's of the topic (its id is the key's hash).
 * One line per agent and a summary: done, refused (with the reasons),
 * silent (the agents expected that did not answer).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <mosquitto.h>

#include "broker.h"
#include "commands.h"
#include "fleetwire.h"
#include "kakuri.h"
#include "options.h"
#include "output.h"
#include "receipts.h"
#include "sign.h"
#include "wire.h"

#define MAX_FILES		64
#define MAX_AGENTS		100000	/* answers kept; --expect entries */
#define DEFAULT_TIMEOUT_MS	10000
#define EXPIRED_KEPT		3600	/* s the broker keeps an expired command */
#define REASONS_MAX		32	/* reasons told apart in the summary */
/* receipts kept whole up to this size each, and this much in all */
#define RECEIPT_KEPT_MAX	(64 * 1024)
#define RECEIPTS_KEPT_MAX	(64 * 1024 * 1024)
#define REASON_MAX		64	/* bytes of one, cleaned */

struct bfile {
	const char *path;
	char *body;
	size_t len;
	struct kk_command cmd;
	bool parsed;
};

/* One agent that answered, or was expected to. */
struct answer {
	char id[KK_AGENT_ID_HEX + 1];
	json_t *receipts;	/* one per file, by file index; null: none yet */
	size_t got;		/* how many files have their receipt */
	bool expected;
	bool unnamed;		/* a refusal naming no command came (saved) */
};

struct bsend {
	struct bfile *files;
	size_t nfiles;
	const char *agent;	/* --agent: the one agent */
	struct answer *ans;
	size_t nans, cap;
	size_t expected;	/* agents named by --agent or --expect */
	size_t complete;	/* expected agents with every receipt */
	unsigned bad;		/* out messages that did not check */
	size_t kept;		/* bytes of the receipts kept whole */
	int save_fd;		/* --save-receipts DIR, or -1 */
	size_t saved;		/* bytes written there */
	bool full;		/* RECEIPTS_SAVED_MAX reached (said) */
	unsigned unsaved;	/* receipts it could not keep */
	/*
	 * Refusals that name no command (a payload refused before it was
	 * read: bad-signature, malformed): which of our files is not known,
	 * only that something reached an agent and was refused.  By reason.
	 */
	json_t *unnamed;
};

static struct answer *
find(struct bsend *s, const char *id, bool add)
{
	struct answer *a;
	size_t i;

	for (i = 0; i < s->nans; i++)
		if (strcmp(s->ans[i].id, id) == 0)
			return &s->ans[i];
	if (!add || s->nans == MAX_AGENTS)
		return NULL;
	if (s->nans == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		a = realloc(s->ans, s->cap * sizeof(*a));
		if (a == NULL)
			return NULL;
		s->ans = a;
	}
	a = &s->ans[s->nans++];
	memset(a, 0, sizeof(*a));
	snprintf(a->id, sizeof(a->id), "%s", id);
	a->receipts = json_array();
	for (i = 0; i < s->nfiles; i++)
		json_array_append_new(a->receipts, json_null());
	return a;
}

/*
 * One more of word in o.  The words are agents' (a reason), so they are
 * cleaned and cut, and past REASONS_MAX of them the rest are "other": a
 * hostile agent, or a broker inventing agents, with a new reason each
 * time grows neither the summary nor kakurictl's memory.
 */
static void
count(json_t *o, const char *word)
{
	char w[REASON_MAX];

	kk_text_clean(w, sizeof(w), word, strlen(word));
	if (json_object_get(o, w) == NULL &&
	    json_object_size(o) >= REASONS_MAX)
		snprintf(w, sizeof(w), "other");
	json_object_set_new(o, w, json_integer(json_integer_value(
	    json_object_get(o, w)) + 1));
}

/*
 * What is kept of a receipt until the end (rec is taken): all of it, or,
 * past RECEIPT_KEPT_MAX, when RECEIPTS_KEPT_MAX are kept already, or for
 * an agent that does not count (not in --expect), its short form
 * (receipt_short: the words a line shows, the enforcers that did not do
 * all their part).  An out document may be 6 MiB and a broker
 * may invent agents: what they send is not kept without bound, and does
 * not use up what the expected agents' receipts may take.
 */
static json_t *
kept(struct bsend *s, json_t *rec, bool whole)
{
	size_t size = json_dumpb(rec, NULL, 0, JSON_COMPACT);
	json_t *t;

	if (whole && size <= RECEIPT_KEPT_MAX &&
	    s->kept + size <= RECEIPTS_KEPT_MAX) {
		s->kept += size;
		return rec;
	}
	if ((t = receipt_short(rec)) == NULL)
		return rec;
	json_decref(rec);
	return t;
}

/* Whether an agent's answers count: with --expect, only those listed. */
static bool
counts(const struct bsend *s, const struct answer *a)
{
	return s->expected == 0 || a->expected;
}

/*
 * --save-receipts: the verified envelope of a receipt, as it came.  Only
 * the one that counts (the first per agent and file, or naming no
 * command) of an agent that counts, and RECEIPTS_SAVED_MAX in all: an
 * agent may publish distinct receipts, each a new file, for as long as
 * send waits, and a broker may make up agents.
 */
static void
keep(struct bsend *s, const char *agent, const char *cmd,
    const struct kk_fleet_out *o)
{
	int r;

	if (s->save_fd < 0)
		return;
	if (s->saved + o->len > RECEIPTS_SAVED_MAX) {
		if (!s->full)
			fail_line("--save-receipts: %d MiB kept: no more",
			    RECEIPTS_SAVED_MAX >> 20);
		s->full = true;
		s->unsaved++;
		return;
	}
	if ((r = receipt_save(s->save_fd, agent, cmd, o->envelope,
	    o->len)) < 0) {
		fail_line("--save-receipts: agent %.16s...: %s", agent,
		    strerror(-r));
		s->unsaved++;
		return;
	}
	s->saved += o->len;
}

/* One message of an out topic: a receipt for one of our files, or nothing. */
static void
on_out(void *arg, const struct mosquitto_message *m)
{
	struct bsend *s = arg;
	struct kk_fleet_out o;
	struct answer *a;
	char id[KK_AGENT_ID_HEX + 1];
	const char *why, *cmd;
	json_t *rec = NULL;
	size_t i;

	if (kk_fleet_topic_agent(m->topic, "out", id) < 0 ||
	    (s->agent != NULL && strcmp(id, s->agent) != 0))
		return;
	if (kk_fleet_out_open(m->payload, (size_t)m->payloadlen, id, &o,
	    &why) < 0) {
		s->bad++;
		goto out;
	}
	if (strcmp(o.kind, KK_FLEET_KIND_RECEIPT) != 0)
		goto out;	/* a report: the collector's */
	/* signed by the agent's root parent, whose key the id proves */
	if ((rec = kk_receipt_open(o.envelope, o.len, o.identity, id,
	    &why)) == NULL) {
		s->bad++;
		goto out;
	}
	cmd = json_string_value(json_object_get(rec, KW_COMMAND));
	if (cmd == NULL) {
		/* an agent not in --expect is listed, its refusal not counted */
		if ((a = find(s, id, true)) == NULL || !counts(s, a))
			goto out;
		count(s->unnamed, str_or(rec, KW_REASON, "?"));
		if (!a->unnamed)
			keep(s, id, NULL, &o);
		a->unnamed = true;
		goto out;
	}
	for (i = 0; i < s->nfiles; i++)
		if (s->files[i].parsed && strcmp(cmd, s->files[i].cmd.id) == 0)
			break;
	if (i == s->nfiles)
		goto out;	/* another operator's command */
	if ((a = find(s, id, true)) == NULL)
		goto out;
	/* the first receipt counts: a broker's duplicate then says replay */
	if (!json_is_null(json_array_get(a->receipts, i)))
		goto out;
	if (counts(s, a))
		keep(s, id, cmd, &o);
	rec = kept(s, rec, counts(s, a));
	json_object_set_new(rec, KW_FILE, json_string(s->files[i].path));
	json_object_set_new(rec, KW_AGENT, json_string(id));
	json_array_set(a->receipts, i, rec);
	if (++a->got == s->nfiles && a->expected)
		s->complete++;
out:
	json_decref(rec);
	kk_fleet_out_free(&o);
}

static bool
all_in(void *arg)
{
	struct bsend *s = arg;

	return s->expected > 0 && s->complete == s->expected;
}

/* --expect FILE: the agents that should answer, one id per line */
static int
load_expected(struct bsend *s, const char *path)
{
	char line[256];
	struct answer *a;
	size_t n;
	FILE *f;
	int r = 0;

	if ((f = fopen(path, "re")) == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL) {
		n = strcspn(line, " \t\r\n#");
		line[n] = '\0';
		if (n == 0)
			continue;
		if (n != KK_AGENT_ID_HEX || !kk_is_hex(line, n, n)) {
			r = -EINVAL;
			break;
		}
		if ((a = find(s, line, true)) == NULL) {
			r = -E2BIG;
			break;
		}
		if (!a->expected) {
			a->expected = true;
			s->expected++;
		}
	}
	fclose(f);
	return r;
}

static int
load_bfile(struct bfile *f)
{
	struct kk_envelope env;
	char why[160];
	int r;

	if ((r = kk_read_file(f->path, KK_ENVELOPE_MAX, &f->body,
	    &f->len)) < 0)
		return r;
	if (kk_envelope_parse((uint8_t *)f->body, f->len, &env) < 0)
		return -EBADMSG;
	r = kk_command_parse_untrusted(env.payload, env.payload_len, &f->cmd,
	    why, sizeof(why));
	kk_envelope_free(&env);
	if (r < 0)
		return -EBADMSG;
	f->parsed = true;
	return 0;
}

/* What came back, per agent and in sum; the exit status. */
static int
report(struct bsend *s, bool json)
{
	size_t i, j, done = 0, refused = 0, silent = 0, unnamed = 0;
	size_t degraded = 0;
	bool worse;
	json_t *doc = NULL, *list, *rec, *reasons, *v, *unexpected;
	const char *res, *k;
	bool ok;

	list = json_array();
	reasons = json_object();
	unexpected = json_array();
	for (i = 0; i < s->nans; i++) {
		/*
		 * With a list of the agents expected, an answer from another
		 * is not counted: the key that signed it proves only itself
		 * (a broker can make up agents); it is listed on its own.
		 */
		if (s->expected > 0 && !s->ans[i].expected) {
			json_array_append_new(unexpected,
			    json_string(s->ans[i].id));
			if (!json)
				printf("%s unexpected: not in --expect, not "
				    "counted\n", s->ans[i].id);
			continue;
		}
		/* only refusals naming no command: counted in unnamed */
		if (s->ans[i].got == 0 && !s->ans[i].expected)
			continue;
		ok = s->ans[i].got == s->nfiles;
		worse = false;
		for (j = 0; j < s->nfiles; j++) {
			rec = json_array_get(s->ans[i].receipts, j);
			if (json_is_null(rec))
				continue;
			res = str_or(rec, KW_RESULT, "?");
			if (strcmp(res, KR_DONE) != 0) {
				ok = false;
				count(reasons, str_or(rec, KW_REASON, res));
			}
			json_array_append(list, rec);
			if (!json)
				print_receipt_line(s->ans[i].id, rec);
			if (strcmp(res, KR_DONE) == 0 && print_receipt_degraded(
			    s->ans[i].id, rec, !json))
				worse = true;
		}
		if (s->ans[i].got == 0) {
			silent++;
			if (!json)
				printf("%s silent\n", s->ans[i].id);
		} else if (ok) {
			done++;
			if (worse)
				degraded++;
		} else {
			refused++;
		}
	}
	if (json) {
		doc = json_pack("{s:o, s:{s:I, s:I, s:I, s:I, s:O, s:O, s:I, s:O}}",
		    KW_RECEIPTS, list, KW_SUMMARY, KW_N_DONE, (json_int_t)done,
		    KW_N_DEGRADED, (json_int_t)degraded,
		    KW_REFUSED, (json_int_t)refused, KW_N_SILENT,
		    (json_int_t)silent, KW_REASONS, reasons, KW_UNNAMED,
		    s->unnamed, KW_UNVERIFIED, (json_int_t)s->bad,
		    KW_UNEXPECTED, unexpected);
		print_json(doc);
		json_decref(doc);
	} else {
		printf("summary: %zu done", done);
		if (degraded > 0)
			printf(" (%zu degraded)", degraded);
		printf(", %zu refused, %zu silent", refused, silent);
		json_object_foreach(reasons, k, v)
			printf(" %s=%lld", k, (long long)json_integer_value(v));
		if (json_object_size(s->unnamed) > 0) {
			printf(", refused before the payload was read:");
			json_object_foreach(s->unnamed, k, v)
				printf(" %s=%lld", k,
				    (long long)json_integer_value(v));
		}
		if (s->bad > 0)
			printf(", %u unverified messages ignored", s->bad);
		if (json_array_size(unexpected) > 0)
			printf(", %zu unexpected agents not counted",
			    json_array_size(unexpected));
		printf("\n");
		json_decref(list);
	}
	json_decref(reasons);
	json_decref(unexpected);
	/*
	 * a refusal naming no command is a refusal all the same (only an
	 * agent's that counts is in unnamed)
	 */
	json_object_foreach(s->unnamed, k, v)
		unnamed += (size_t)json_integer_value(v);
	if (done + refused + unnamed == 0 && silent == 0)
		return EX_UNREACHABLE;	/* nobody answered, nobody expected */
	return refused == 0 && silent == 0 && unnamed == 0 ? EX_DONE :
	    EX_FAILED;
}

int
cmd_send_broker(struct ctl *c, int argc, char **argv)
{
	struct bsend s = { .save_fd = -1 };
	struct broker b = { 0 };
	const char *url = NULL, *ca = NULL, *cert = NULL, *key = NULL;
	const char *group = NULL, *expect = NULL, *save = NULL;
	long long timeout_ms = DEFAULT_TIMEOUT_MS;
	bool json = c->json;
	const struct ctl_option opts[] = {
		CTL_TEXT("broker", &url),
		CTL_TLS_FILES(&ca, &cert, &key),
		CTL_TEXT("agent", &s.agent),
		CTL_TEXT("group", &group),
		CTL_TEXT("expect", &expect),
		CTL_NUMBER("timeout", &timeout_ms, 100, 3600000, NULL),
		CTL_FLAG("json", &json),
		CTL_TEXT("save-receipts", &save),
		CTL_OPTIONS_END,
	};
	char topic[KK_FLEET_TOPIC_MAX], sub[KK_FLEET_TOPIC_MAX], err[300];
	char *subs[1] = { sub };
	const char *why;
	uint64_t deadline;
	time_t now;
	size_t i;
	int r, first, ret;

	ret = ctl_options(argc, argv, opts, 1, MAX_FILES, &first);
	if (ret != EX_DONE)
		return ret;
	if ((s.unnamed = json_object()) == NULL)
		return EX_FAILED;
	ret = EX_USAGE;
	if (url == NULL || (s.agent == NULL) == (group == NULL)) {
		fail_line("send --broker needs exactly one of --agent and "
		    "--group");
		goto out;
	}
	if (s.agent != NULL && (strlen(s.agent) != KK_AGENT_ID_HEX ||
	    !kk_is_hex(s.agent, KK_AGENT_ID_HEX, KK_AGENT_ID_HEX))) {
		fail_line("--agent must be %d hex digits", KK_AGENT_ID_HEX);
		goto out;
	}
	if (group != NULL && (why = kk_group_name_problem(group)) != NULL) {
		fail_line("--group '%.64s' %s", group, why);
		goto out;
	}
	/* where the proofs go, before anything is sent */
	if (save != NULL && (s.save_fd = receipts_open(save, err,
	    sizeof(err))) < 0) {
		fail_line("--save-receipts %s", err);
		ret = EX_FAILED;
		goto out;
	}
	if (group != NULL && expect == NULL)
		fprintf(stderr, "kakurictl: without --expect only the agents "
		    "that answer are known: one whose receipt the broker drops "
		    "is not missed, one it makes up is counted\n");
	ret = EX_FAILED;
	s.nfiles = (size_t)(argc - first);
	if ((s.files = calloc(s.nfiles, sizeof(*s.files))) == NULL)
		goto out;
	for (i = 0; i < s.nfiles; i++) {
		s.files[i].path = argv[first + i];
		if ((r = load_bfile(&s.files[i])) < 0) {
			fail_line("%s: %s", s.files[i].path, r == -EBADMSG ?
			    "not a signed command" : strerror(-r));
			goto out;
		}
		/* a command for another addressee would only be refused */
		if (s.agent != NULL && strcmp(s.files[i].cmd.agent,
		    s.agent) != 0) {
			fail_line("%s is not for agent %.16s...; nothing sent",
			    s.files[i].path, s.agent);
			goto out;
		}
		if (group != NULL && strcmp(s.files[i].cmd.group, group) != 0) {
			fail_line("%s is not a command for group %s; nothing "
			    "sent", s.files[i].path, group);
			goto out;
		}
	}
	if (s.agent != NULL) {
		find(&s, s.agent, true)->expected = true;
		s.expected = 1;
	}
	if (expect != NULL && (r = load_expected(&s, expect)) < 0) {
		fail_line("--expect %s: %s", expect, r == -EINVAL ?
		    "a line that is not an agent id" : strerror(-r));
		goto out;
	}
	/*
	 * --timeout is one deadline for all of it: the connect, the
	 * subscription and the receipts.  Each was given the whole of it,
	 * and a slow broker made a send of --timeout T last up to 3T.
	 */
	deadline = kk_now_ms() + (uint64_t)timeout_ms;
	ret = broker_open(&b, url, ca, cert, key, NULL, (int)timeout_ms, err,
	    sizeof(err));
	if (ret != EX_DONE) {
		fail_line("%s", err);
		goto out;
	}
	b.message = on_out;
	b.arg = &s;
	/* listening before anything goes out: no receipt is missed */
	if (s.agent != NULL)
		kk_fleet_agent_topic(sub, sizeof(sub), s.agent, "out");
	else
		snprintf(sub, sizeof(sub), "kakuri/v1/agent/+/out");
	if ((ret = broker_subscribe(&b, subs, 1, deadline, err,
	    sizeof(err))) != EX_DONE) {
		fail_line("%s", err);
		goto out;
	}
	if (s.agent != NULL)
		kk_fleet_agent_topic(topic, sizeof(topic), s.agent, "cmd");
	else
		kk_fleet_group_topic(topic, sizeof(topic), group);
	now = time(NULL);
	for (i = 0; i < s.nfiles; i++) {
		/*
		 * The broker forgets it an hour after the command expires:
		 * until then an agent coming back refuses it as expired and
		 * the CSIRT gets that receipt, rather than silence.
		 */
		ret = broker_publish(&b, topic, s.files[i].body, s.files[i].len,
		    (uint32_t)((s.files[i].cmd.exp > now ? s.files[i].cmd.exp -
		    now : 0) + EXPIRED_KEPT), err, sizeof(err));
		if (ret != EX_DONE) {
			fail_line("%s", err);
			goto out;
		}
	}
	if (broker_run(&b, deadline, all_in, &s) != EX_DONE)
		fail_line("broker %s:%u: the connection was lost", b.host,
		    b.port);
	ret = report(&s, json);
	if (s.unsaved > 0) {
		fail_line("--save-receipts %s: %u receipt(s) could not be kept",
		    save, s.unsaved);
		ret = EX_FAILED;
	}
out:
	kk_close(s.save_fd);
	broker_close(&b);
	for (i = 0; s.files != NULL && i < s.nfiles; i++) {
		free(s.files[i].body);
		if (s.files[i].parsed)
			kk_command_free(&s.files[i].cmd);
	}
	free(s.files);
	for (i = 0; i < s.nans; i++)
		json_decref(s.ans[i].receipts);
	free(s.ans);
	json_decref(s.unnamed);
	return ret;
}
