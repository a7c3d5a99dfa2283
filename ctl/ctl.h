/*
 * What every part of kakurictl shares: the exit statuses of DESIGN 5 and
 * the global options.  Types only; the commands are in commands.h, the
 * voice in output.h.
 */
#ifndef KAKURICTL_CTL_H
#define KAKURICTL_CTL_H

#include <stdbool.h>

/* DESIGN 5 */
enum { EX_DONE = 0, EX_FAILED = 1, EX_USAGE = 2, EX_UNREACHABLE = 3 };

struct ctl {
	const char *socket_path;	/* -s */
	bool json;			/* --json */
	bool quiet_busy;		/* a "busy" is the caller's to say */
};

#endif
