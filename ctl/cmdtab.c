/*
 * Walking the command table: finding the command a command line names,
 * word by word, and printing usage lines and descriptions from the same
 * entries, so that what kakurictl accepts and what it says it accepts
 * cannot drift apart.
 */
#include <stdio.h>
#include <string.h>

#include "cmdtab.h"

const struct command *
cmdtab_find(const struct command *tab, int argc, char **argv, int *used)
{
	const struct command *found = NULL, *cmd;
	int depth;

	*used = 0;
	for (depth = 0; depth < argc && depth < CMDTAB_DEPTH_MAX; depth++) {
		for (cmd = tab; cmd->name != NULL; cmd++)
			if (strcmp(cmd->name, argv[depth]) == 0)
				break;
		if (cmd->name == NULL)
			break;
		found = cmd;
		*used = depth + 1;
		if (cmd->words == NULL)
			break;
		tab = cmd->words;
	}
	return found;
}

typedef void leaf_fn(void *arg, const char *const *path, int npath,
    const struct command *leaf);

/*
 * fn for cmd, reached by path[0..npath-1], or for every command nested
 * under it, each with its whole word path (path has room for
 * CMDTAB_DEPTH_MAX words).
 */
static void
each_leaf(const char **path, int npath, const struct command *cmd,
    leaf_fn *fn, void *arg)
{
	const struct command *w;

	if (cmd->words == NULL) {
		fn(arg, path, npath, cmd);
		return;
	}
	if (npath >= CMDTAB_DEPTH_MAX)
		return;
	for (w = cmd->words; w->name != NULL; w++) {
		path[npath] = w->name;
		each_leaf(path, npath + 1, w, fn, arg);
	}
}

static void
walk(const char *const *path, int npath, const struct command *cmd,
    leaf_fn *fn, void *arg)
{
	const char *words[CMDTAB_DEPTH_MAX];

	if (npath < 1 || npath > CMDTAB_DEPTH_MAX)
		return;
	memcpy(words, path, (size_t)npath * sizeof(*path));
	each_leaf(words, npath, cmd, fn, arg);
}

/* The words of path joined by spaces into buf. */
static const char *
join(char *buf, size_t len, const char *const *path, int npath)
{
	size_t off = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < npath && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
		    i ? " " : "", path[i]);
	return buf;
}

struct usage {
	FILE *out;
	const char *lead;	/* before the first line; NULL once printed */
	size_t indent;		/* before the others */
};

/* "kakurictl WORDS SYNOPSIS", a line for each line of the synopsis */
static void
usage_leaf(void *arg, const char *const *path, int npath,
    const struct command *leaf)
{
	struct usage *u = arg;
	const char *s, *nl;
	char words[256];

	join(words, sizeof(words), path, npath);
	for (s = leaf->synopsis ? leaf->synopsis : ""; ; s = nl + 1) {
		nl = strchr(s, '\n');
		if (u->lead != NULL)
			fputs(u->lead, u->out);
		else
			fprintf(u->out, "%*s", (int)u->indent, "");
		u->lead = NULL;
		fprintf(u->out, "kakurictl %s%s%.*s\n", words, *s ? " " : "",
		    nl ? (int)(nl - s) : (int)strlen(s), s);
		if (nl == NULL)
			break;
	}
}

void
cmdtab_usage(FILE *out, const char *lead, const char *const *path,
    int npath, const struct command *cmd)
{
	struct usage u = { .out = out, .lead = lead, .indent = strlen(lead) };

	walk(path, npath, cmd, usage_leaf, &u);
}

void
cmdtab_usage_all(FILE *out, const char *lead, const struct command *tab)
{
	struct usage u = { .out = out, .indent = strlen(lead) };

	fprintf(out, "%skakurictl [-s socket] [--json] command [args]\n",
	    lead);
	for (; tab->name != NULL; tab++)
		walk(&tab->name, 1, tab, usage_leaf, &u);
}

static void
width_leaf(void *arg, const char *const *path, int npath,
    const struct command *leaf)
{
	char words[256];
	int *width = arg;

	if ((int)strlen(join(words, sizeof(words), path, npath)) > *width)
		*width = (int)strlen(words);
}

int
cmdtab_width(const struct command *tab)
{
	int width = 0;

	for (; tab->name != NULL; tab++)
		walk(&tab->name, 1, tab, width_leaf, &width);
	return width;
}

struct describe {
	FILE *out;
	int width;
};

static void
describe_leaf(void *arg, const char *const *path, int npath,
    const struct command *leaf)
{
	struct describe *d = arg;
	char words[256];

	fprintf(d->out, "  %-*s  %s\n", d->width,
	    join(words, sizeof(words), path, npath),
	    leaf->description ? leaf->description : "");
}

void
cmdtab_describe(FILE *out, const char *const *path, int npath,
    const struct command *cmd, int width)
{
	struct describe d = { .out = out, .width = width };

	walk(path, npath, cmd, describe_leaf, &d);
}
