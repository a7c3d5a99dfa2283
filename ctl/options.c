/*
 * One getopt_long loop for every command: the short and long option
 * tables are made from the command's ctl_option list, and each value is
 * put where the list says.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "output.h"

#define OPTIONS_MAX	24
/* getopt's value of a long option: past every letter, by its index */
#define LONG_VAL(i)	(256 + (i))

/* The value of one option, where o says. */
static int
take(const struct ctl_option *o, char *value)
{
	long long v;
	char *end;

	switch (o->kind) {
	case CTL_OPT_TEXT:
		*o->text = value;
		return EX_DONE;
	case CTL_OPT_FLAG:
		*o->flag = true;
		return EX_DONE;
	case CTL_OPT_NUMBER:
		errno = 0;
		v = strtoll(value, &end, 10);
		if (end == value || *end != '\0' || errno != 0 ||
		    v < o->min || v > o->max) {
			if (o->bad != NULL)
				fail_line("%s", o->bad);
			return EX_USAGE;
		}
		*o->number = v;
		return EX_DONE;
	case CTL_OPT_CALL:
		return o->call(value, o->arg);
	case CTL_OPT_END:
		break;
	}
	return EX_USAGE;
}

int
ctl_options(int argc, char **argv, const struct ctl_option *opts,
    int min, int max, int *first)
{
	struct option longopts[OPTIONS_MAX + 1];
	char shortopts[2 * OPTIONS_MAX + 1];
	size_t nlong = 0, nshort = 0;
	int ch, i, n, ret;

	for (i = 0; opts[i].kind != CTL_OPT_END; i++) {
		if (i == OPTIONS_MAX) {
			fail_line("%s: more than %d options", argv[0],
			    OPTIONS_MAX);
			return EX_FAILED;
		}
		if (opts[i].name[1] == '\0') {
			shortopts[nshort++] = opts[i].name[0];
			if (opts[i].kind != CTL_OPT_FLAG)
				shortopts[nshort++] = ':';
			continue;
		}
		longopts[nlong++] = (struct option){ opts[i].name,
		    opts[i].kind == CTL_OPT_FLAG ? no_argument :
		    required_argument, NULL, LONG_VAL(i) };
	}
	shortopts[nshort] = '\0';
	longopts[nlong] = (struct option){ NULL, 0, NULL, 0 };
	optind = 1;
	while ((ch = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		for (i = 0; opts[i].kind != CTL_OPT_END; i++)
			if (ch == (opts[i].name[1] == '\0' ?
			    opts[i].name[0] : LONG_VAL(i)))
				break;
		if (opts[i].kind == CTL_OPT_END)	/* '?': getopt said why */
			return EX_USAGE;
		if ((ret = take(&opts[i], optarg)) != EX_DONE)
			return ret;
	}
	n = argc - optind;
	if (n < min || (max >= 0 && n > max))
		return EX_USAGE;
	if (first != NULL)
		*first = optind;
	return EX_DONE;
}
