/*
 * Where a fan-out goes: agents named on the command line (--to
 * HOST:PORT) and in targets files (--targets FILE: lines "HOST:PORT
 * [AGENT-ID]", empty lines and "#" comments skipped), in the order they
 * were given.  They are read as a stream, one target at a time, so that
 * memory follows the targets in flight, not the size of the fleet.
 */
#ifndef KAKURICTL_TARGETS_H
#define KAKURICTL_TARGETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "sign.h"

#define TARGET_ADDR_MAX		160	/* bytes of HOST:PORT, NUL included */
#define TARGET_LINE_MAX		512	/* bytes of a line of a targets file */
#define TARGETS_COPY_MAX	(4U << 20)

struct target {
	char addr[TARGET_ADDR_MAX];
	char pin[KK_AGENT_ID_HEX + 1];	/* its agent id; "" if none is known */
};

struct targets_src {
	const char *arg;	/* an address, or a file's path */
	bool file;
	FILE *f;		/* the file, once opened */
	char *copy;		/* a pipe's content, read once (targets_check) */
};

struct targets {
	struct targets_src *src;
	size_t nsrc;
	size_t cap;
	const char *default_pin;	/* for targets without an id of their own */
	size_t limit;			/* at most this many come out; 0: any */
	/* the reading position */
	size_t cur;			/* in src */
	unsigned lineno;		/* in src[cur], a file */
	size_t given;			/* targets handed out so far */
};

void targets_init(struct targets *ts);
void targets_free(struct targets *ts);
/* Appends a source (arg is borrowed); 0 or -ENOMEM. */
int targets_add(struct targets *ts, const char *arg, bool file);
/*
 * The next target into *t (with default_pin when it names no id of its
 * own): 1, 0 after the last one, or a negative errno with err saying
 * what is wrong and where (a file that cannot be read, a line that is not
 * "HOST:PORT [AGENT-ID]").
 */
int targets_next(struct targets *ts, struct target *t, char *err,
    size_t errlen);
/*
 * Reads all targets once before anything is sent, so that a mistake in a
 * list sends nothing: every line must parse, there must be at most max
 * targets, and each must be authenticated: have_ca (CA mode) or an agent
 * id.  0 with *count (and the stream rewound, limited to count targets),
 * or a negative errno with err.  A file that cannot be read twice (a
 * pipe) is kept in memory for that, up to TARGETS_COPY_MAX bytes.
 */
int targets_check(struct targets *ts, bool have_ca, size_t max,
    size_t *count, char *err, size_t errlen);

#endif
