/*
 * The targets of a fan-out, as a stream: command-line addresses and the
 * lines of targets files, one at a time, in the order they were given.
 * A list is checked whole before the first target is served (a typo on
 * line 900 must not leave 899 agents isolated and the rest not); the
 * check reads it once, the fan-out a second time.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "targets.h"

void
targets_init(struct targets *ts)
{
	memset(ts, 0, sizeof(*ts));
	ts->limit = SIZE_MAX;
}

void
targets_free(struct targets *ts)
{
	size_t i;

	for (i = 0; i < ts->nsrc; i++) {
		if (ts->src[i].f != NULL)
			fclose(ts->src[i].f);
		free(ts->src[i].copy);
	}
	free(ts->src);
	targets_init(ts);
}

int
targets_add(struct targets *ts, const char *arg, bool file)
{
	struct targets_src *nv;
	size_t ncap;

	if (ts->nsrc == ts->cap) {
		ncap = ts->cap ? ts->cap * 2 : 8;
		nv = reallocarray(ts->src, ncap, sizeof(*nv));
		if (nv == NULL)
			return -ENOMEM;
		ts->src = nv;
		ts->cap = ncap;
	}
	ts->src[ts->nsrc++] = (struct targets_src){ .arg = arg, .file = file };
	return 0;
}

/* One line of a targets file: 1 with *t, 0 for nothing, or -EINVAL. */
static int
parse_line(const char *line, struct target *t)
{
	char pin[128];

	if (line[0] == '#' || line[strspn(line, " \t\r\n")] == '\0')
		return 0;
	pin[0] = '\0';
	/* the widths: TARGET_ADDR_MAX - 1, sizeof(pin) - 1 */
	if (sscanf(line, "%159s %127s", t->addr, pin) < 1 ||
	    (pin[0] && strlen(pin) != KK_AGENT_ID_HEX))
		return -EINVAL;
	memcpy(t->pin, pin, strlen(pin) + 1);
	return 1;
}

/* The rest of an overlong comment line: 0 (bounded by the file). */
static int
skip_rest(FILE *f)
{
	int ch;

	while ((ch = getc(f)) != EOF && ch != '\n')
		;
	return 0;
}

/* A pipe's whole content, so that it can be read a second time. */
static int
copy_pipe(struct targets_src *s)
{
	char *buf = NULL, *nb;
	size_t len = 0, n;
	FILE *mem;

	do {
		nb = realloc(buf, len + 65536 + 1);
		if (nb == NULL) {
			free(buf);
			return -ENOMEM;
		}
		buf = nb;
		n = fread(buf + len, 1, 65536, s->f);
		len += n;
	} while (n > 0 && len <= TARGETS_COPY_MAX);
	if (ferror(s->f) || len > TARGETS_COPY_MAX) {
		free(buf);
		return ferror(s->f) ? -EIO : -EFBIG;
	}
	if (len == 0)		/* fmemopen wants a size: one empty line */
		buf[len++] = '\n';
	mem = fmemopen(buf, len, "r");
	if (mem == NULL) {
		free(buf);
		return -ENOMEM;
	}
	fclose(s->f);
	s->f = mem;
	s->copy = buf;
	return 0;
}

static int
open_src(struct targets_src *s, bool keep_copy)
{
	struct stat st;

	if (s->f == NULL && (s->f = fopen(s->arg, "re")) == NULL)
		return -errno;
	if (keep_copy && s->copy == NULL && fstat(fileno(s->f), &st) == 0 &&
	    !S_ISREG(st.st_mode))
		return copy_pipe(s);
	return 0;
}

int
targets_next(struct targets *ts, struct target *t, char *err,
    size_t errlen)
{
	char line[TARGET_LINE_MAX];
	struct targets_src *s;
	int r;

	while (ts->cur < ts->nsrc && ts->given < ts->limit) {
		s = &ts->src[ts->cur];
		if (!s->file) {
			ts->cur++;
			if (strlen(s->arg) >= sizeof(t->addr)) {
				snprintf(err, errlen, "%.40s...: address too long",
				    s->arg);
				return -ENAMETOOLONG;
			}
			memcpy(t->addr, s->arg, strlen(s->arg) + 1);
			t->pin[0] = '\0';
			goto found;
		}
		if ((r = open_src(s, false)) < 0) {
			snprintf(err, errlen, "%s: %s", s->arg, strerror(-r));
			return r;
		}
		if (fgets(line, sizeof(line), s->f) == NULL) {
			if (ferror(s->f)) {
				snprintf(err, errlen, "%s: read error", s->arg);
				return -EIO;
			}
			ts->cur++;
			ts->lineno = 0;
			continue;
		}
		ts->lineno++;
		if (strchr(line, '\n') == NULL && !feof(s->f))
			r = line[0] == '#' ? skip_rest(s->f) : -EINVAL;
		else
			r = parse_line(line, t);
		if (r == 0)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "%s:%u: expected HOST:PORT AGENT-ID",
			    s->arg, ts->lineno);
			return r;
		}
		goto found;
	}
	return 0;
found:
	if (t->pin[0] == '\0' && ts->default_pin != NULL)
		snprintf(t->pin, sizeof(t->pin), "%s", ts->default_pin);
	ts->given++;
	return 1;
}

int
targets_check(struct targets *ts, bool have_ca, size_t max, size_t *count,
    char *err, size_t errlen)
{
	struct target t;
	size_t i;
	int r;

	*count = 0;
	ts->limit = max + 1;
	for (i = 0; i < ts->nsrc; i++)
		if (ts->src[i].file && (r = open_src(&ts->src[i], true)) < 0) {
			snprintf(err, errlen, "%s: %s", ts->src[i].arg,
			    strerror(-r));
			goto out;
		}
	while ((r = targets_next(ts, &t, err, errlen)) == 1) {
		if (ts->given > max) {
			snprintf(err, errlen, "more than %zu targets", max);
			r = -E2BIG;
			goto out;
		}
		/* without a CA the pinned agent id is the only authentication */
		if (!have_ca && t.pin[0] == '\0') {
			snprintf(err, errlen, "%s: give --ca or a pinned agent id",
			    t.addr);
			r = -EINVAL;
			goto out;
		}
	}
	if (r < 0)
		goto out;
	*count = ts->given;
	for (i = 0; i < ts->nsrc; i++)
		if (ts->src[i].f != NULL && fseeko(ts->src[i].f, 0,
		    SEEK_SET) < 0) {
			r = -errno;
			snprintf(err, errlen, "%s: %s", ts->src[i].arg,
			    strerror(errno));
			goto out;
		}
	ts->cur = 0;
	ts->lineno = 0;
	ts->given = 0;
	r = 0;
out:
	ts->limit = *count;	/* what was checked, not what may have come since */
	return r;
}
