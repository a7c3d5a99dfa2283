/*
 * A fleet's drills summed up: per host and overall, how many drills
 * (live, tabletop), how long a live drill took to isolate (median and
 * worst of timings_ms.verified), the leaks and what leaked, the share of
 * notified employees who reported within five minutes, and how long
 * connectivity took to come back (connectivity_back - reverted).  What
 * a record does not say is left out of a figure, never counted as zero:
 * a CSIRT's "median 400 ms" must be over drills that measured it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include <jansson.h>

#include "drillsum.h"
#include "wire.h"

struct ms_list {
	double *v;
	size_t n, cap;
};

struct drill_stats {
	unsigned long count, live, tabletop, leaks, notified, in_time;
	struct ms_list isolate;		/* timings_ms.verified, live drills */
	struct ms_list revert;		/* connectivity_back - reverted */
	json_t *leak_targets;		/* distinct, DRILL_LEAK_TARGETS_MAX */
};

struct drill_host {
	char *agent;
	char *hostname;			/* the latest the host gave */
	struct drill_stats st;
};

struct drillsum {
	struct drill_stats all;
	struct drill_host *hosts;
	size_t nhosts, cap;
	json_t *where;			/* agent id -> index in hosts */
	/*
	 * The records, one a drill: [host index, record] each.  A drill
	 * reports more than once (a leak at once, then its end; a leak,
	 * then "aborted" after a restart), each report an id of its own:
	 * counted once each, the drills that matter most -- the leaking
	 * ones -- were counted twice, and their figures with them.  The
	 * record that says the drill is done stands for it.
	 */
	json_t *recs;
	json_t *drills;			/* "agent/drill id" -> index in recs */
};

static int
ms_add(struct ms_list *l, double ms)
{
	double *grown;
	size_t cap;

	if (l->n == l->cap) {
		cap = l->cap ? 2 * l->cap : 16;
		if ((grown = realloc(l->v, cap * sizeof(*grown))) == NULL)
			return -ENOMEM;
		l->v = grown;
		l->cap = cap;
	}
	l->v[l->n++] = ms;
	return 0;
}

static int
ms_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* {median, worst} of l (worst only if asked), or null when l is empty */
static json_t *
ms_figures(const struct ms_list *l, bool worst)
{
	double *v, median;
	json_t *o = NULL;

	if (l->n == 0)
		return json_null();
	if ((v = malloc(l->n * sizeof(*v))) == NULL)
		return NULL;
	memcpy(v, l->v, l->n * sizeof(*v));
	qsort(v, l->n, sizeof(*v), ms_cmp);
	median = l->n % 2 ? v[l->n / 2] :
	    (v[l->n / 2 - 1] + v[l->n / 2]) / 2;
	o = json_pack("{s:f}", KW_MEDIAN, median);
	if (o != NULL && worst)
		json_object_set_new(o, KW_WORST, json_real(v[l->n - 1]));
	free(v);
	return o;
}

static void
stats_free(struct drill_stats *st)
{
	free(st->isolate.v);
	free(st->revert.v);
	json_decref(st->leak_targets);
}

double
drill_timing(json_t *rec, const char *key)
{
	json_t *v = json_object_get(json_object_get(rec, KW_TIMINGS_MS), key);

	if (!json_is_number(v) || json_number_value(v) < 0)
		return -1;
	return json_number_value(v);
}

bool
drill_leaked(json_t *rec)
{
	json_t *leak = json_object_get(rec, KW_LEAK);
	const char *result = json_string_value(json_object_get(rec,
	    KW_RESULT));

	if (result != NULL && strcmp(result, DRILL_RESULT_LEAK) == 0)
		return true;
	return leak != NULL && !json_is_null(leak) && !json_is_false(leak);
}

/* a target of a leak: its text, or an object's target */
static const char *
leak_target(json_t *v)
{
	if (json_is_object(v))
		v = json_object_get(v, KW_TARGET);
	return json_string_value(v);
}

/* text into the array list unless there or the list is full */
static int
add_distinct(json_t *list, const char *text)
{
	json_t *v;
	size_t i;

	json_array_foreach(list, i, v)
		if (strcmp(json_string_value(v), text) == 0)
			return 0;
	if (json_array_size(list) >= DRILL_LEAK_TARGETS_MAX)
		return 0;
	return json_array_append_new(list, json_string(text)) < 0 ?
	    -ENOMEM : 0;
}

/* the targets of probes (a record's probes or dns) whose result is leak */
static int
probes_leaking(json_t *list, json_t *probes)
{
	const char *result, *t;
	json_t *p;
	size_t i;

	json_array_foreach(probes, i, p) {
		result = json_string_value(json_object_get(p, KW_RESULT));
		if (result != NULL && strcmp(result, DRILL_RESULT_LEAK) == 0 &&
		    (t = leak_target(p)) != NULL && add_distinct(list, t) < 0)
			return -ENOMEM;
	}
	return 0;
}

json_t *
drill_leak_targets(json_t *rec)
{
	json_t *leak = json_object_get(rec, KW_LEAK), *list, *v;
	const char *t;
	size_t i;

	if ((list = json_array()) == NULL)
		return NULL;
	if (json_is_array(leak)) {
		json_array_foreach(leak, i, v)
			if ((t = leak_target(v)) != NULL &&
			    add_distinct(list, t) < 0)
				goto fail;
	} else if ((t = leak_target(leak)) != NULL &&
	    add_distinct(list, t) < 0) {
		goto fail;
	}
	/* kakurid's records: "leak": true, the probe that got through */
	if (probes_leaking(list, json_object_get(rec, KW_PROBES)) < 0 ||
	    probes_leaking(list, json_object_get(rec, KW_DNS)) < 0)
		goto fail;
	return list;
fail:
	json_decref(list);
	return NULL;
}

const char *
drill_ms_text(double ms, char *buf, size_t len)
{
	long long s = (long long)(ms / 1000);

	if (ms < 0)
		snprintf(buf, len, "?");
	else if (ms < 10)
		snprintf(buf, len, "%.2f ms", ms);
	else if (ms < 10000)
		snprintf(buf, len, "%.0f ms", ms);
	else if (ms < 600000)
		snprintf(buf, len, "%.1f s", ms / 1000);
	else
		snprintf(buf, len, "%lld min %02lld s", s / 60, s % 60);
	return buf;
}

/* employee.notified: a count, a time in ms or true; > 0 means told */
static bool
employee_notified(json_t *emp)
{
	json_t *n = json_object_get(emp, KW_NOTIFIED);

	return json_is_true(n) ||
	    (json_is_integer(n) && json_integer_value(n) > 0);
}

static bool
reported_in_time(json_t *emp)
{
	const char *action = json_string_value(json_object_get(emp,
	    KW_ACTION));
	json_t *ms = json_object_get(emp, KW_ACTION_MS);

	return action != NULL && strcmp(action, DRILL_ACTION_REPORT) == 0 &&
	    json_is_number(ms) && json_number_value(ms) >= 0 &&
	    json_number_value(ms) <= DRILL_REPORT_IN_TIME_MS;
}

static int
stats_add(struct drill_stats *st, json_t *rec)
{
	const char *kind = json_string_value(json_object_get(rec, KW_KIND));
	json_t *emp = json_object_get(rec, KW_EMPLOYEE), *targets, *t;
	double verified, reverted, back;
	size_t i;
	int err = 0;

	st->count++;
	if (kind != NULL && strcmp(kind, DRILL_LIVE) == 0) {
		st->live++;
		if ((verified = drill_timing(rec, KW_VERIFIED)) >= 0)
			err = ms_add(&st->isolate, verified);
	} else if (kind != NULL && strcmp(kind, DRILL_TABLETOP) == 0) {
		st->tabletop++;
	}
	reverted = drill_timing(rec, KW_REVERTED);
	back = drill_timing(rec, KW_CONNECTIVITY_BACK);
	if (err == 0 && reverted >= 0 && back >= reverted)
		err = ms_add(&st->revert, back - reverted);
	if (employee_notified(emp)) {
		st->notified++;
		if (reported_in_time(emp))
			st->in_time++;
	}
	if (err == 0 && drill_leaked(rec)) {
		st->leaks++;
		if (st->leak_targets == NULL &&
		    (st->leak_targets = json_array()) == NULL)
			return -ENOMEM;
		if ((targets = drill_leak_targets(rec)) == NULL)
			return -ENOMEM;
		json_array_foreach(targets, i, t)
			if (err == 0)
				err = add_distinct(st->leak_targets,
				    json_string_value(t));
		json_decref(targets);
	}
	return err;
}

struct drillsum *
drillsum_new(void)
{
	struct drillsum *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	if ((s->where = json_object()) == NULL ||
	    (s->recs = json_array()) == NULL ||
	    (s->drills = json_object()) == NULL) {
		drillsum_free(s);
		return NULL;
	}
	return s;
}

void
drillsum_free(struct drillsum *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nhosts; i++) {
		free(s->hosts[i].agent);
		free(s->hosts[i].hostname);
		stats_free(&s->hosts[i].st);
	}
	stats_free(&s->all);
	free(s->hosts);
	json_decref(s->where);
	json_decref(s->recs);
	json_decref(s->drills);
	free(s);
}

/* The host of agent, made on its first drill; NULL if out of memory. */
static struct drill_host *
host_of(struct drillsum *s, const char *agent)
{
	json_t *at = json_object_get(s->where, agent);
	struct drill_host *grown, *h;
	size_t cap;

	if (at != NULL)
		return &s->hosts[json_integer_value(at)];
	if (s->nhosts == s->cap) {
		cap = s->cap ? 2 * s->cap : 16;
		if ((grown = realloc(s->hosts, cap * sizeof(*grown))) == NULL)
			return NULL;
		s->hosts = grown;
		s->cap = cap;
	}
	h = &s->hosts[s->nhosts];
	memset(h, 0, sizeof(*h));
	if ((h->agent = strdup(agent)) == NULL)
		return NULL;
	if (json_object_set_new(s->where, agent,
	    json_integer((json_int_t)s->nhosts)) < 0) {
		free(h->agent);
		return NULL;
	}
	s->nhosts++;
	return h;
}

/* whether a drill's record says it is over */
static bool
drill_done(json_t *rec)
{
	const char *state = json_string_value(json_object_get(rec, KW_STATE));

	return state != NULL && strcmp(state, "done") == 0;
}

/*
 * Whether a later record of a drill stands for it rather than the one
 * kept: one that says it leaked over one that does not (a leak reported
 * at once, then "aborted" by a restart that lost it), then one that says
 * the drill is done, then the later.
 */
static bool
stands_for(json_t *later, json_t *kept)
{
	if (drill_leaked(later) != drill_leaked(kept))
		return drill_leaked(later);
	return drill_done(later) || !drill_done(kept);
}

int
drillsum_add(struct drillsum *s, const char *agent, const char *hostname,
    json_t *rec)
{
	struct drill_host *h;
	json_t *entry, *at;
	const char *id;
	char *name, *key;
	size_t i;
	int err = 0;

	if ((h = host_of(s, agent)) == NULL)
		return -ENOMEM;
	if (hostname != NULL && hostname[0] != '\0') {
		if ((name = strdup(hostname)) == NULL)
			return -ENOMEM;
		free(h->hostname);
		h->hostname = name;
	}
	entry = json_pack("[I, O]", (json_int_t)(h - s->hosts), rec);
	if (entry == NULL)
		return -ENOMEM;
	id = json_string_value(json_object_get(rec, KW_ID));
	if (id == NULL || asprintf(&key, "%s/%s", agent, id) < 0)
		key = NULL;
	at = key != NULL ? json_object_get(s->drills, key) : NULL;
	if (at != NULL) {
		i = (size_t)json_integer_value(at);
		if (stands_for(rec, json_array_get(json_array_get(s->recs, i),
		    1)))
			err = json_array_set_new(s->recs, i, entry);
		else
			json_decref(entry);
	} else {
		i = json_array_size(s->recs);
		err = json_array_append_new(s->recs, entry);
		if (err == 0 && key != NULL)
			err = json_object_set_new(s->drills, key,
			    json_integer((json_int_t)i));
	}
	free(key);
	return err < 0 ? -ENOMEM : 0;
}

/* Every drill's record counted, afresh: overall and on its host. */
static int
sum_up(struct drillsum *s)
{
	json_t *e;
	size_t i, h;
	int err = 0;

	stats_free(&s->all);
	memset(&s->all, 0, sizeof(s->all));
	for (h = 0; h < s->nhosts; h++) {
		stats_free(&s->hosts[h].st);
		memset(&s->hosts[h].st, 0, sizeof(s->hosts[h].st));
	}
	json_array_foreach(s->recs, i, e) {
		h = (size_t)json_integer_value(json_array_get(e, 0));
		if (err == 0 && h < s->nhosts)
			err = stats_add(&s->hosts[h].st, json_array_get(e, 1));
		if (err == 0)
			err = stats_add(&s->all, json_array_get(e, 1));
	}
	return err;
}

/* STATS into o */
static int
stats_json(json_t *o, const struct drill_stats *st)
{
	json_t *share = st->notified ? json_real((double)st->in_time /
	    (double)st->notified) : json_null();
	int err;

	err = json_object_update_new(o, json_pack(
	    "{s:I, s:I, s:I, s:o, s:I, s:o, s:I, s:I, s:o, s:o}",
	    KW_COUNT, (json_int_t)st->count,
	    KW_LIVE, (json_int_t)st->live,
	    KW_TABLETOP, (json_int_t)st->tabletop,
	    KW_ISOLATE_MS, ms_figures(&st->isolate, true),
	    KW_LEAKS, (json_int_t)st->leaks,
	    KW_LEAK_TARGETS, st->leak_targets ?
	    json_copy(st->leak_targets) : json_array(),
	    KW_NOTIFIED, (json_int_t)st->notified,
	    KW_REPORTED_IN_TIME, (json_int_t)st->in_time,
	    KW_SHARE, share,
	    KW_REVERT_MS, ms_figures(&st->revert, false)));
	return err < 0 ? -ENOMEM : 0;
}

static int
host_cmp(const void *a, const void *b)
{
	const struct drill_host *x = *(const struct drill_host *const *)a;
	const struct drill_host *y = *(const struct drill_host *const *)b;
	int r = strcmp(x->hostname ? x->hostname : "",
	    y->hostname ? y->hostname : "");

	return r ? r : strcmp(x->agent, y->agent);
}

json_t *
drillsum_json(struct drillsum *s)
{
	const struct drill_host **order = NULL;
	json_t *out, *hosts, *h;
	size_t i;
	int err;

	if (sum_up(s) < 0 || (out = json_object()) == NULL)
		return NULL;
	/* each set either takes its value or frees it: both, then check */
	err = json_object_set_new(out, KW_OVERALL, json_object());
	err |= json_object_set_new(out, KW_HOSTS, hosts = json_array());
	if (err != 0 || stats_json(json_object_get(out, KW_OVERALL),
	    &s->all) < 0)
		goto fail;
	if (s->nhosts > 0 &&
	    (order = calloc(s->nhosts, sizeof(*order))) == NULL)
		goto fail;
	for (i = 0; i < s->nhosts; i++)
		order[i] = &s->hosts[i];
	if (s->nhosts > 0)
		qsort(order, s->nhosts, sizeof(*order), host_cmp);
	for (i = 0; i < s->nhosts; i++) {
		h = json_pack("{s:s, s:s}", KW_AGENT, order[i]->agent,
		    KW_HOSTNAME, order[i]->hostname ? order[i]->hostname : "");
		if (json_array_append_new(hosts, h) < 0 ||
		    stats_json(h, &order[i]->st) < 0)
			goto fail;
	}
	free(order);
	return out;
fail:
	free(order);
	json_decref(out);
	return NULL;
}
