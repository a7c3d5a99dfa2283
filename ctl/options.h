/*
 * The options of kakurictl's commands, declared once: a command lists
 * what it takes and where each value goes, and ctl_options() does the
 * getopt_long loop and the usage error for all of them, as the command
 * table (cmdtab.h) does for the command words.
 */
#ifndef KAKURICTL_OPTIONS_H
#define KAKURICTL_OPTIONS_H

#include <stdbool.h>

#include "ctl.h"

enum ctl_option_kind {
	CTL_OPT_END,
	CTL_OPT_TEXT,		/* the value, the last one given */
	CTL_OPT_FLAG,		/* no value: true when given */
	CTL_OPT_NUMBER,		/* a decimal number in [min, max] */
	CTL_OPT_CALL,		/* call(value, arg) takes it */
};

/*
 * A name of one letter is a short option ("k": -k KEYFILE), a longer one
 * a long option ("to": --to HOST:PORT).
 */
struct ctl_option {
	const char *name;
	enum ctl_option_kind kind;
	union {
		const char **text;
		bool *flag;
		long long *number;
		void *arg;	/* for call */
	};
	long long min, max;	/* CTL_OPT_NUMBER */
	const char *bad;	/* CTL_OPT_NUMBER: said when out of range */
	/* CTL_OPT_CALL: EX_DONE to go on, else the command's exit status */
	int (*call)(char *value, void *arg);
};

#define CTL_TEXT(n, p)	{ .name = (n), .kind = CTL_OPT_TEXT, .text = (p) }
#define CTL_FLAG(n, p)	{ .name = (n), .kind = CTL_OPT_FLAG, .flag = (p) }
#define CTL_NUMBER(n, p, lo, hi, why) { .name = (n), \
	.kind = CTL_OPT_NUMBER, .number = (p), .min = (lo), .max = (hi), \
	.bad = (why) }
#define CTL_CALL(n, fn, a) { .name = (n), .kind = CTL_OPT_CALL, \
	.call = (fn), .arg = (a) }
#define CTL_OPTIONS_END	{ .kind = CTL_OPT_END }
/* --ca, --cert and --key: the TLS files of every command that connects */
#define CTL_TLS_FILES(ca, cert, key) CTL_TEXT("ca", (ca)), \
	CTL_TEXT("cert", (cert)), CTL_TEXT("key", (key))

/*
 * argv (argv[0] the command's word) by opts, ended by CTL_OPTIONS_END,
 * with between min and max operands after the options, anywhere among
 * them (max -1: no limit).  EX_DONE with *first (unless NULL) the index
 * of the first operand; EX_USAGE for an option that is not one of opts
 * or lacks its value (getopt has said which), a number out of range or a
 * wrong count of operands; or what a call returned other than EX_DONE.
 */
int ctl_options(int argc, char **argv, const struct ctl_option *opts,
    int min, int max, int *first);

#endif
