/*
 * Reading a libconfig file we trust (see cfgfile.h).
 *
 * The policy and trust.conf decide who can cut a host off the network and
 * what stays reachable meanwhile, so both are read the same careful way: a
 * root-owned regular file nobody else can write, no @include, nothing
 * libconfig 1.5 would misread silently, and errors that name the file and
 * the line.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kakuri.h"
#include "cfgfile.h"

#define INCLUDE_LEN	(sizeof("@include") - 1)

static void vfail(struct kk_cfg_loader *, unsigned, const char *, va_list)
    __attribute__((format(printf, 3, 0)));

/*
 * Writes "PATH:LINE: message" (or "PATH: message" when line is 0) into the
 * caller's buffer.  Control bytes are replaced so the result is always one
 * line that is safe to print on a terminal.
 */
static void
vfail(struct kk_cfg_loader *l, unsigned line, const char *fmt, va_list ap)
{
	char msg[512];
	char *c;

	if (l->err == NULL || l->errlen == 0)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (line > 0)
		snprintf(l->err, l->errlen, "%s:%u: %s", l->path, line, msg);
	else
		snprintf(l->err, l->errlen, "%s: %s", l->path, msg);
	for (c = l->err; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

void
kk_cfg_fail(struct kk_cfg_loader *l, unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(l, line, fmt, ap);
	va_end(ap);
}

void
kk_cfg_fail_at(struct kk_cfg_loader *l, const config_setting_t *s,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(l, kk_cfg_line_of(l, s), fmt, ap);
	va_end(ap);
}

const char *
kk_cfg_quote(const char *s, char *buf, size_t len)
{
	size_t i, o = 0;

	for (i = 0; s[i] != '\0' && o + 4 < len && i < KK_CFG_QUOTE_MAX;
	    i++) {
		unsigned char c = (unsigned char)s[i];

		buf[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (s[i] != '\0' && o + 4 <= len) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

bool
kk_cfg_is_list(const config_setting_t *s)
{
	return config_setting_type(s) == CONFIG_TYPE_ARRAY ||
	    config_setting_type(s) == CONFIG_TYPE_LIST;
}

bool
kk_cfg_has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

int
kk_cfg_members(struct kk_cfg_loader *l, const config_setting_t *g,
    const char *parent, const char *const *names, size_t nnames,
    const config_setting_t **f)
{
	const config_setting_t *s;
	const char *name;
	size_t i, j, n;

	for (j = 0; j < nnames; j++)
		f[j] = NULL;
	n = (size_t)config_setting_length(g);
	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(g, (unsigned)i);
		name = config_setting_name(s);
		for (j = 0; j < nnames; j++)
			if (strcmp(name, names[j]) == 0)
				break;
		if (j == nnames) {
			kk_cfg_fail_at(l, s, "unknown key '%s%s%s'",
			    parent ? parent : "", parent ? "." : "", name);
			return -EINVAL;
		}
		f[j] = s;
	}
	return 0;
}

int
kk_cfg_string(struct kk_cfg_loader *l, const config_setting_t *s,
    const char *qname, const char **out)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		kk_cfg_fail_at(l, s, "%s must be a string", qname);
		return -EINVAL;
	}
	*out = config_setting_get_string(s);
	return 0;
}

int
kk_cfg_path_parts(struct kk_cfg_loader *l, const config_setting_t *s,
    const char *qname, const char *v)
{
	char q[KK_CFG_QUOTE_SIZE];
	const char *c;

	if (kk_cfg_has_control(v)) {
		kk_cfg_fail_at(l, s, "%s contains a control character", qname);
		return -EINVAL;
	}
	for (c = v; c != NULL; c = strchr(c + 1, '/')) {
		if (c[1] == '.' && c[2] == '.' &&
		    (c[3] == '/' || c[3] == '\0')) {
			kk_cfg_fail_at(l, s, "%s must not contain '..': '%s'",
			    qname, kk_cfg_quote(v, q, sizeof(q)));
			return -EINVAL;
		}
	}
	return 0;
}

int
kk_cfg_list_len(struct kk_cfg_loader *l, const config_setting_t *s,
    const char *qname, const struct kk_cfg_list *kind, bool nonempty,
    size_t *np)
{
	size_t n;

	if (!kk_cfg_is_list(s)) {
		kk_cfg_fail_at(l, s, "%s must be an array of %s", qname,
		    kind->of);
		return -EINVAL;
	}
	n = (size_t)config_setting_length(s);
	if (n == 0 && nonempty) {
		kk_cfg_fail_at(l, s, "%s must not be empty", qname);
		return -EINVAL;
	}
	if (kind->max > 0 && n > kind->max) {
		kk_cfg_fail_at(l, s, "%s: too many %s (at most %zu)", qname,
		    kind->noun, kind->max);
		return -EINVAL;
	}
	*np = n;
	return 0;
}

const config_setting_t *
kk_cfg_list_elem(struct kk_cfg_loader *l, const config_setting_t *s,
    size_t i, const char *qname, const struct kk_cfg_list *kind)
{
	const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
	int type = config_setting_type(e);

	if (kind->type == CONFIG_TYPE_INT && type == CONFIG_TYPE_INT64)
		type = CONFIG_TYPE_INT;
	if (type != kind->type) {
		kk_cfg_fail_at(l, e, "%s must be an array of %s", qname,
		    kind->of);
		return NULL;
	}
	return e;
}

/* Whether a line holds nothing but blanks or a # or // comment. */
static bool
line_is_empty(const char *c, const char *end)
{
	while (c < end && (*c == ' ' || *c == '\t' || *c == '\r'))
		c++;
	return c == end || *c == '\n' || *c == '#' ||
	    (*c == '/' && c + 1 < end && c[1] == '/');
}

/*
 * libconfig 1.5 stamps a string element of an array with the line of the
 * token after it (it looks ahead for "a" "b" concatenation), so the last
 * peer of a list whose closing bracket sits on a line of its own would be
 * reported on the bracket's line.  When the stamped line starts with that
 * next token (a bracket or a comma), walk back to the last line with
 * content: that is where the string is.
 */
static unsigned
element_line(const struct kk_cfg_loader *l, unsigned line)
{
	const char *c, *prev, *end;
	unsigned n = 1, found = line;

	if (l->buf == NULL)
		goto out;
	end = l->buf + l->len;
	for (c = l->buf; c < end && n < line; c++)
		if (*c == '\n')
			n++;
	if (n != line)
		goto out;
	for (prev = c; prev < end && (*prev == ' ' || *prev == '\t'); prev++)
		;
	if (prev == end || (*prev != ']' && *prev != ')' && *prev != ','))
		goto out;
	/* c is the start of line n; step back one line at a time */
	while (c > l->buf) {
		for (prev = c - 1; prev > l->buf && prev[-1] != '\n'; prev--)
			;
		n--;
		if (!line_is_empty(prev, end)) {
			found = n;
			break;
		}
		c = prev;
	}
out:
	return found;
}

/*
 * Settings libconfig made up itself (no line of their own) take the line
 * of the nearest parent that has one.
 */
unsigned
kk_cfg_line_of(const struct kk_cfg_loader *l, const config_setting_t *s)
{
	const config_setting_t *parent;
	const config_setting_t *t;
	unsigned line;

	if (s == NULL)
		return 0;
	parent = config_setting_parent(s);
	for (t = s; t != NULL && config_setting_source_line(t) == 0;
	    t = config_setting_parent(t))
		;
	line = t != NULL ? config_setting_source_line(t) : 0;
	if (t == s && line > 0 && parent != NULL &&
	    config_setting_type(s) == CONFIG_TYPE_STRING &&
	    (config_setting_type(parent) == CONFIG_TYPE_ARRAY ||
	    config_setting_type(parent) == CONFIG_TYPE_LIST))
		line = element_line(l, line);
	return line;
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool
is_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Characters of a libconfig setting name: [A-Za-z*][-A-Za-z0-9_*]* */
static bool
is_name_char(char c)
{
	return is_alnum(c) || c == '_' || c == '*' || c == '-';
}

/*
 * Whether an integer token (as libconfig 1.5 would read it) fits the type
 * libconfig stores it in.  Tokens that are not integers (floats) pass: the
 * schema rejects them by type later.
 */
static bool
int_token_fits(const char *t, size_t n)
{
	unsigned long long v = 0, limit = INT_MAX;
	unsigned base = 10;
	size_t i = 0;

	if (n >= 1 && t[n - 1] == 'L') {
		limit = LLONG_MAX;
		n--;
		if (n >= 1 && t[n - 1] == 'L')
			n--;
	}
	if (n > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
		base = 16;
		i = 2;
	}
	for (; i < n; i++) {
		unsigned d;

		if (base == 16 && is_hex(t[i]))
			d = is_digit(t[i]) ? (unsigned)(t[i] - '0') :
			    (unsigned)((t[i] | 0x20) - 'a' + 10);
		else if (base == 10 && is_digit(t[i]))
			d = (unsigned)(t[i] - '0');
		else
			return true;	/* not an integer token */
		if (v > (limit - d) / base)
			return false;
		v = v * base + d;
	}
	return true;
}

/*
 * Whether the digit at buf[i] starts a number, rather than continuing a
 * setting name (web-8080) or a float (.5).
 */
static bool
starts_number(const char *buf, size_t i)
{
	char prev;

	if (i == 0)
		return true;
	prev = buf[i - 1];
	if (prev == '-' || prev == '+')	/* a sign, unless in a name */
		return i < 2 || !is_name_char(buf[i - 2]);
	return !is_name_char(prev) && prev != '.';
}

/*
 * One pass over the raw bytes before libconfig sees them, for what
 * libconfig 1.5 would let through silently:
 *  - a NUL byte ends libconfig's input there, ignoring the rest;
 *  - "@include" at the start of a line opens any file it names;
 *  - integers are converted with atoi()/strtoul() without range checks,
 *    so a port of 4294967377 would silently become 81.
 * The @include rule is applied to every line, even inside strings and
 * comments: refusing a harmless line is better than missing a real one.
 */
static int
scan_bytes(struct kk_cfg_loader *l, const char *noun)
{
	enum { CODE, STRING, LINE_COMMENT, BLOCK_COMMENT } st = CODE;
	const char *buf = l->buf;
	size_t len = l->len;
	bool line_start = true, escaped = false;
	unsigned line = 1;
	size_t i, j;
	int rc = 0;

	for (i = 0; i < len; i++) {
		char c = buf[i], next = i + 1 < len ? buf[i + 1] : '\0';

		if (c == '\0') {
			kk_cfg_fail(l, line, "NUL byte in %s", noun);
			rc = -EINVAL;
			goto out;
		}
		if (c == '\n') {
			line++;
			line_start = true;
			escaped = false;
			if (st == LINE_COMMENT)
				st = CODE;
			continue;
		}
		if (line_start && !is_blank(c)) {
			line_start = false;
			if (len - i >= INCLUDE_LEN &&
			    memcmp(buf + i, "@include", INCLUDE_LEN) == 0) {
				kk_cfg_fail(l, line, "@include is not allowed "
				    "in a %s", noun);
				rc = -EINVAL;
				goto out;
			}
		}
		switch (st) {
		case STRING:
			if (escaped)
				escaped = false;
			else if (c == '\\')
				escaped = true;
			else if (c == '"')
				st = CODE;
			break;
		case LINE_COMMENT:
			break;
		case BLOCK_COMMENT:
			if (c == '*' && next == '/') {
				st = CODE;
				i++;
			}
			break;
		case CODE:
			if (c == '"') {
				st = STRING;
			} else if (c == '#' || (c == '/' && next == '/')) {
				st = LINE_COMMENT;
			} else if (c == '/' && next == '*') {
				st = BLOCK_COMMENT;
				i++;
			} else if (is_digit(c) && starts_number(buf, i)) {
				for (j = i; j < len && (is_alnum(buf[j]) ||
				    buf[j] == '.' || buf[j] == '_'); j++)
					;
				if (!int_token_fits(buf + i, j - i)) {
					kk_cfg_fail(l, line, "integer %.*s out "
					    "of range", (int)(j - i > 32 ? 32 :
					    j - i), buf + i);
					rc = -EINVAL;
					goto out;
				}
				i = j - 1;
			}
			break;
		}
	}
out:
	return rc;
}

static int
too_large(struct kk_cfg_loader *l, const config_setting_t *s,
    const char *prefix, size_t max)
{
	kk_cfg_fail_at(l, s, "%srefused: larger than %zu bytes", prefix, max);
	return -EFBIG;
}

/* kk_cfg_check_file, with the size cap checked after the type if max > 0. */
static int
check_file(struct kk_cfg_loader *l, const config_setting_t *s,
    const char *prefix, int fd, struct stat *st, size_t max)
{
	int rc = -EPERM;

	if (fstat(fd, st) == -1) {
		rc = -errno;
		kk_cfg_fail_at(l, s, "%scannot stat: %s", prefix,
		    strerror(-rc));
		goto out;
	}
	if (!S_ISREG(st->st_mode)) {
		kk_cfg_fail_at(l, s, "%srefused: not a regular file", prefix);
		goto out;
	}
	if (max > 0 && st->st_size > (off_t)max) {
		rc = too_large(l, s, prefix, max);
		goto out;
	}
	if (!(l->flags & KK_POLICY_SKIP_OWNER_CHECK) && st->st_uid != 0) {
		kk_cfg_fail_at(l, s, "%srefused: owned by uid %u, not root",
		    prefix, (unsigned)st->st_uid);
		goto out;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		kk_cfg_fail_at(l, s, "%srefused: group- or world-writable "
		    "(mode %04o)", prefix, (unsigned)(st->st_mode & 07777));
		goto out;
	}
	rc = 0;
out:
	return rc;
}

int
kk_cfg_check_file(struct kk_cfg_loader *l, const config_setting_t *s,
    const char *prefix, int fd, struct stat *st)
{
	return check_file(l, s, prefix, fd, st, 0);
}

void
kk_cfg_init(struct kk_cfg_loader *l, const char *path, unsigned flags,
    char *err, size_t errlen)
{
	memset(l, 0, sizeof(*l));
	l->path = path;
	l->flags = flags;
	l->err = err;
	l->errlen = errlen;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
}

void *
kk_cfg_begin(struct kk_cfg_loader *l, const char *path, bool dest,
    unsigned flags, char *err, size_t errlen, const struct kk_cfg_type *type,
    size_t size, int *rc)
{
	void *scratch;

	kk_cfg_init(l, dest ? path : NULL, flags, err, errlen);
	if ((*rc = kk_cfg_read(l, type)) != 0)
		return NULL;
	if ((scratch = calloc(1, size)) == NULL) {
		kk_cfg_fail(l, 0, "out of memory");
		*rc = -ENOMEM;
	}
	return scratch;
}

/*
 * Refuses anything an unprivileged user could have planted or changed:
 * symbolic links, non-regular files, oversized files, files not owned by
 * root, and files the group or the world can write.  A NULL path is
 * reported as "(null): no <noun> given".
 */
int
kk_cfg_read(struct kk_cfg_loader *l, const struct kk_cfg_type *type)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd = -1, rc;

	if (l->path == NULL) {
		l->path = "(null)";
		kk_cfg_fail(l, 0, "no %s given", type->noun);
		rc = -EINVAL;
		goto out;
	}
	if (strlen(l->path) >= PATH_MAX) {
		kk_cfg_fail(l, 0, "path too long");
		rc = -ENAMETOOLONG;
		goto out;
	}
	fd = open(l->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
	    O_NOCTTY);
	if (fd == -1) {
		rc = -errno;
		if (rc == -ELOOP)
			kk_cfg_fail(l, 0, "refused: is a symbolic link");
		else
			kk_cfg_fail(l, 0, "cannot open: %s", strerror(-rc));
		goto out;
	}
	if ((rc = check_file(l, NULL, "", fd, &st,
	    type->size_last ? 0 : type->max)) != 0)
		goto out;
	if (type->size_last && st.st_size > (off_t)type->max) {
		rc = too_large(l, NULL, "", type->max);
		goto out;
	}

	/* The size can change under us: read to EOF, one byte over the cap. */
	buf = malloc(type->max + 2);
	if (buf == NULL) {
		rc = -ENOMEM;
		kk_cfg_fail(l, 0, "out of memory");
		goto out;
	}
	if ((n = kk_read_upto(fd, buf, type->max + 1)) < 0) {
		rc = (int)n;
		kk_cfg_fail(l, 0, "cannot read: %s", strerror(-rc));
		goto out;
	}
	len = (size_t)n;
	if (len > type->max) {
		rc = too_large(l, NULL, "", type->max);
		goto out;
	}
	buf[len] = '\0';
	l->buf = buf;
	l->len = len;
	buf = NULL;
	rc = scan_bytes(l, type->noun);
out:
	free(buf);
	if (fd != -1)
		close(fd);
	return rc;
}

int
kk_cfg_parse(struct kk_cfg_loader *l, const config_setting_t **rootp)
{
	int rc = -EINVAL;

	if (l->buf == NULL || l->cfg_live) {
		kk_cfg_fail(l, 0, "internal error: nothing to parse");
		goto out;
	}
	config_init(&l->cfg);
	l->cfg_live = true;
	if (config_read_string(&l->cfg, l->buf) != CONFIG_TRUE) {
		kk_cfg_fail(l, (unsigned)(config_error_line(&l->cfg) > 0 ?
		    config_error_line(&l->cfg) : 0), "%s",
		    config_error_text(&l->cfg) != NULL ?
		    config_error_text(&l->cfg) : "parse error");
		goto out;
	}
	*rootp = config_root_setting(&l->cfg);
	rc = 0;
out:
	return rc;
}

void
kk_cfg_close(struct kk_cfg_loader *l)
{
	if (l->cfg_live)
		config_destroy(&l->cfg);
	l->cfg_live = false;
	free(l->buf);
	l->buf = NULL;
	l->len = 0;
}
