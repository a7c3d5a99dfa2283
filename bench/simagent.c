/*
 * fleetsim's simulated agent: kakurid's check of a command and a signed
 * receipt for it (see simagent.h).
 */
#include <sys/resource.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/rand.h>

#include "kakuri.h"
#include "sign.h"
#include "signed.h"
#include "wire.h"
#include "simagent.h"

#define CLOCK_SKEW	120	/* s, kakurid's default */
#define MAX_LIFETIME	3600	/* s, kakurid's default */

int
simcheck_init(struct simcheck *sc, const char *trust, const char *group,
    char *err, size_t errlen)
{
	const char *why;

	memset(sc, 0, sizeof(*sc));
	if ((why = kk_group_name_problem(group)) != NULL) {
		snprintf(err, errlen, "group '%.64s': %s", group, why);
		return -1;
	}
	if (kk_trust_load(trust, 0, &sc->trust, err, errlen) < 0)
		return -1;
	snprintf(sc->groups.name[0], sizeof(sc->groups.name[0]), "%s", group);
	sc->groups.n = 1;
	if ((sc->reasons = json_object()) == NULL) {
		snprintf(err, errlen, "out of memory");
		kk_trust_free(&sc->trust);
		return -1;
	}
	return 0;
}

void
simcheck_free(struct simcheck *sc)
{
	kk_trust_free(&sc->trust);
	json_decref(sc->reasons);
	sc->reasons = NULL;
}

void
simcheck_print_reasons(const struct simcheck *sc, FILE *f)
{
	const char *k;
	json_t *v;

	json_object_foreach(sc->reasons, k, v)
		fprintf(f, " %s=%lld", k, (long long)json_integer_value(v));
}

int
simagent_init(struct simagent *a)
{
	if ((a->key = kk_key_generate()) == NULL ||
	    kk_key_id(a->key, a->id) < 0)
		return -1;
	return 0;
}

static int
replay_seen(void *ctx, const char *id)
{
	struct simagent *a = ctx;
	unsigned i;

	for (i = 0; i < a->nseen; i++)
		if (strcmp(a->seen[i], id) == 0)
			return 1;
	return 0;
}

static int
replay_record(void *ctx, const char *id, time_t exp)
{
	struct simagent *a = ctx;

	if (replay_seen(ctx, id))
		return -EALREADY;
	if (a->nseen == SIM_REPLAY_MAX)
		return -ENOSPC;		/* the limit; kakurid's is on disk */
	snprintf(a->seen[a->nseen++], KK_ID_HEX + 1, "%s", id);
	return 0;
}

/* What a simulated agent does with a verified command: no nftables. */
static void
execute(struct simagent *a, const struct kk_command *c)
{
	uint8_t rnd[KK_EPISODE_HEX / 2];

	if (c->action == KK_ACT_ISOLATE && !a->isolated) {
		a->isolated = true;
		RAND_bytes(rnd, sizeof(rnd));
		kk_hex(rnd, sizeof(rnd), a->episode);
	} else if (c->action == KK_ACT_RELEASE) {
		a->isolated = false;
		a->episode[0] = '\0';
	}
}

/* The receipt's envelope text, signed with the agent's key (as run.c's). */
static char *
receipt(struct simagent *a, const struct kd_signed_result *r,
    const char *result, const char *received)
{
	const struct kk_command *c = &r->cmd;
	char *payload, *text = NULL;
	json_t *o;

	o = json_pack("{s:i, s:s*, s:s, s:s*, s:s, s:s*, s:s*, s:s, s:s*, "
	    "s:{s:s}}", KW_V, 1, KW_COMMAND, r->have_cmd ? c->id : NULL,
	    KW_AGENT, a->id, KW_ACTION, r->have_cmd ?
	    kk_action_name(c->action) : NULL, KW_RESULT, result,
	    KW_REASON, r->reason, KW_DETAIL, r->detail[0] ? r->detail : NULL,
	    KW_MODE, kk_mode_name(a->isolated ? KK_MODE_ISOLATED :
	    KK_MODE_OPEN), KW_EPISODE, a->episode[0] ? a->episode : NULL,
	    KW_TIMINGS, KW_RECEIVED, received);
	if (o == NULL)
		return NULL;
	if (r->have_cmd && c->group[0])
		json_object_set_new(o, KW_GROUP, json_string(c->group));
	/* on failure text stays NULL: no receipt */
	if ((payload = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)))
		(void)kk_envelope_seal(KK_PT_RECEIPT, (const uint8_t *)payload,
		    strlen(payload), a->id, a->key, &text);
	json_decref(o);
	free(payload);
	return text;
}

char *
simagent_answer(struct simcheck *sc, struct simagent *a, const void *buf,
    size_t len)
{
	const struct kd_replay_store store = { replay_seen, replay_record, a };
	struct kd_signed_input in = {
		.buf = buf, .len = len, .trust = &sc->trust,
		.agent_id = a->id, .groups = &sc->groups,
		.clock_skew = CLOCK_SKEW, .max_lifetime = MAX_LIFETIME,
		.replay = &store, .now = time(NULL),
	};
	struct kd_signed_result res;
	char received[64], *text;
	int r;

	kk_rfc3339(time(NULL), received, sizeof(received));
	r = kd_signed_check(&in, &res);
	if (r == 0) {
		execute(a, &res.cmd);
		sc->done++;
	} else {
		sc->refused++;
		json_object_set_new(sc->reasons, res.reason, json_integer(
		    json_integer_value(json_object_get(sc->reasons,
		    res.reason)) + 1));
	}
	text = receipt(a, &res, r == 0 ? KR_DONE : KR_REJECTED, received);
	kd_signed_result_free(&res);
	return text;
}

double
sim_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return -1;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void
sim_raise_nofile(void)
{
	struct rlimit rl = { 1 << 20, 1 << 20 };

	/* with CAP_SYS_RESOURCE up to fs.nr_open; else the hard limit */
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0 ||
	    getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}
