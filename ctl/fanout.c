/*
 * The worker pool of a fan-out.  Workers take the next target from the
 * stream under one lock, serve it without the lock, and print its result
 * under the lock again, so that a target's lines are never interleaved
 * with another's and the output follows completion, not the list.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "ctl.h"
#include "fanout.h"
#include "output.h"
#include "wire.h"

struct pool {
	const struct fanout *fo;
	pthread_mutex_t lock;
	int status;		/* of all targets so far */
	bool stop;		/* the stream failed: take no more */
};

static const char *
status_word(int status)
{
	return status == EX_DONE ? "done" :
	    status == EX_UNREACHABLE ? "unreachable" : "refused";
}

/* unreachable outranks refused: the operator must look again */
static int
worse(int a, int b)
{
	if (a == EX_UNREACHABLE || b == EX_UNREACHABLE)
		return EX_UNREACHABLE;
	return a != EX_DONE ? a : b;
}

/* One target's result; called with the lock held. */
static void
report(const struct fanout *fo, const struct target *t,
    const struct fanout_result *r)
{
	json_t *o;

	if (fo->json) {
		o = json_pack("{s:s, s:s}", KW_TARGET, t->addr, KW_STATUS,
		    status_word(r->status));
		if (o != NULL && r->members != NULL)
			json_object_update(o, r->members);
		if (o != NULL && r->error[0])
			json_object_set_new(o, KW_ERROR, json_string(r->error));
		if (o != NULL) {
			print_json_compact(o);
			putchar('\n');
		}
		json_decref(o);
	} else {
		fo->print(fo->arg, t, r);
		if (r->error[0])
			printf("%s error: %s\n", t->addr, r->error);
	}
	fflush(stdout);
	if (r->error[0])
		fail_line("%s: %s", t->addr, r->error);
}

static void *
worker(void *arg)
{
	struct pool *p = arg;
	const struct fanout *fo = p->fo;
	struct fanout_result r;
	struct target t;
	char err[300];
	int n;

	for (;;) {
		pthread_mutex_lock(&p->lock);
		n = p->stop ? 0 : targets_next(fo->targets, &t, err,
		    sizeof(err));
		if (n < 0) {
			/* the list changed since it was checked */
			fail_line("%s", err);
			p->status = worse(p->status, EX_FAILED);
			p->stop = true;
		}
		pthread_mutex_unlock(&p->lock);
		if (n <= 0)
			return NULL;
		r = (struct fanout_result){ .status = EX_DONE };
		fo->serve(fo->arg, &t, &r);
		pthread_mutex_lock(&p->lock);
		report(fo, &t, &r);
		p->status = worse(p->status, r.status);
		pthread_mutex_unlock(&p->lock);
		json_decref(r.members);
	}
}

int
fanout_run(const struct fanout *fo)
{
	struct pool p = { .fo = fo, .status = EX_DONE };
	pthread_t th[FANOUT_WORKERS_MAX];
	size_t i, n;

	n = fo->workers < fo->count ? fo->workers : fo->count;
	if (n > FANOUT_WORKERS_MAX)
		n = FANOUT_WORKERS_MAX;
	pthread_mutex_init(&p.lock, NULL);
	for (i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, worker, &p) != 0)
			break;
	/* no thread at all: this one serves them */
	if (i == 0 && n > 0)
		worker(&p);
	n = i;
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&p.lock);
	return p.status;
}
