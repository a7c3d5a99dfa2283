/*
 * One operation on many agents: a pool of workers takes targets from the
 * stream (targets.h) one at a time and serves each with the command's own
 * function; every result is printed as soon as its target is done, one
 * JSON line per target with --json.  send uses it; a fetch from many
 * agents or a fleet command is another serve function.
 */
#ifndef KAKURICTL_FANOUT_H
#define KAKURICTL_FANOUT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "targets.h"

#define FANOUT_WORKERS_MAX	64

/* What serving one target came to. */
struct fanout_result {
	int status;		/* EX_* for this target */
	json_t *members;	/* added to the target's JSON line (an object) */
	char error[256];	/* why it did not end in EX_DONE, or "" */
};

struct fanout {
	struct targets *targets;	/* checked (targets_check) */
	size_t count;			/* how many targets it holds */
	unsigned workers;		/* 1..FANOUT_WORKERS_MAX */
	bool json;
	/* serves one target, in a worker, for several targets at once */
	void (*serve)(void *arg, const struct target *t,
	    struct fanout_result *r);
	/* one target's text lines (without --json), one target at a time */
	void (*print)(void *arg, const struct target *t,
	    const struct fanout_result *r);
	void *arg;
};

/*
 * Serves every target and returns the exit status of the whole: one
 * unreachable target outranks a refusal, a refusal outranks done.
 */
int fanout_run(const struct fanout *fo);

#endif
