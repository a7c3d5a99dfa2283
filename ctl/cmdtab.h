/*
 * kakurictl's command table, wireguard-tools style: {name, function,
 * description}, with nested words ("drill start", "drill stop").  The
 * table is the one place a command is named: dispatch, the usage lines
 * and the help text are all walked from it.
 */
#ifndef KAKURICTL_CMDTAB_H
#define KAKURICTL_CMDTAB_H

#include <stdio.h>

#include "ctl.h"

#define CMDTAB_DEPTH_MAX	4	/* words of one command */

struct command {
	const char *name;
	/* argv[0] is the command's last word; NULL for a word with words */
	int (*run)(struct ctl *c, int argc, char **argv);
	const char *synopsis;		/* after the words; lines split by \n */
	const char *description;	/* one line, for help */
	const struct command *words;	/* nested words, { NULL } at the end */
};

/*
 * The command argv names, looked up word by word.  Returns the entry and
 * sets *used to the number of words it took (its argv starts at
 * argv[*used - 1]); NULL when argv names no command, with *used the words
 * that were known (a word with words but none after it, or an unknown
 * word after *used known ones).
 */
const struct command *cmdtab_find(const struct command *tab, int argc,
    char **argv, int *used);
/*
 * The usage lines of cmd, reached by the words path[0..npath-1] (its own
 * name last): "kakurictl WORDS SYNOPSIS" for every line of its synopsis,
 * or for each of its nested words.  The first line starts with lead, the
 * others are indented to match.
 */
void cmdtab_usage(FILE *out, const char *lead, const char *const *path,
    int npath, const struct command *cmd);
/*
 * lead and the global synopsis ("kakurictl [-s socket] ..."), then the
 * usage lines of every command of tab, indented to match.
 */
void cmdtab_usage_all(FILE *out, const char *lead,
    const struct command *tab);
/* "  WORDS  description" for cmd (and its nested words), aligned to width. */
void cmdtab_describe(FILE *out, const char *const *path, int npath,
    const struct command *cmd, int width);
/* The width of the longest word path of tab, for cmdtab_describe. */
int cmdtab_width(const struct command *tab);

#endif
