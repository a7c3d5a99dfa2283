/*
 * trust.conf (DESIGN 4): the CSIRT signing keys, the actions (roles) each
 * may sign for, and how many distinct keys each action needs.
 *
 *	keys = (
 *	  { id = "alice"; public_key = "/etc/kakuri/keys/alice.pub";
 *	    roles = [ "isolate", "release" ]; },
 *	  { id = "bob"; public_key = "/etc/kakuri/keys/bob.pub";
 *	    roles = [ "release" ]; }
 *	);
 *	thresholds = { release = 2; };
 *
 * This file decides who can cut a host off the network and who can let
 * it back on, so it is loaded like the policy (parse.c): a root-owned
 * regular file nobody else can write, no @include, every key known and of
 * the right type, and all of it valid before the caller's struct changes.
 * The public key files it names get the same ownership and mode checks:
 * whoever can rewrite alice.pub can sign as alice.
 *
 * A threshold counts distinct keys, so the same public key may not appear
 * twice (one person would count twice), and a threshold that more keys
 * than hold the role would need is refused (it could never be met).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "kakuri.h"
#include "sign.h"

#define TRUST_MAX_BYTES	(1024 * 1024)
#define KEY_ID_LEN_MAX	63		/* [A-Za-z0-9_.@-]{1,63} */
#define QUOTE_MAX	48		/* bytes of a value in a message */
#define INCLUDE_LEN	(sizeof("@include") - 1)
#define ED25519_LEN	32

/* Where errors go while one file is loaded. */
struct loader {
	const char *path;
	unsigned flags;
	char *err;
	size_t errlen;
	const char *buf;	/* the file's text, once read */
	size_t len;
};

static void vfail(struct loader *, unsigned, const char *, va_list)
    __attribute__((format(printf, 3, 0)));
static void fail(struct loader *, unsigned, const char *, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_at(struct loader *, const config_setting_t *, const char *,
    ...) __attribute__((format(printf, 3, 4)));
static unsigned line_of(const struct loader *, const config_setting_t *);

/*
 * "PATH:LINE: message" (or "PATH: message" when line is 0), with control
 * bytes replaced so that it is always one line safe to print.
 */
static void
vfail(struct loader *l, unsigned line, const char *fmt, va_list ap)
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

static void
fail(struct loader *l, unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(l, line, fmt, ap);
	va_end(ap);
}

static void
fail_at(struct loader *l, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(l, line_of(l, s), fmt, ap);
	va_end(ap);
}

/* A value from the file, made printable and short enough for a message. */
static const char *
quote(const char *s, char *buf, size_t len)
{
	size_t i, o = 0;

	for (i = 0; s[i] != '\0' && o + 4 < len && i < QUOTE_MAX; i++) {
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
 * token after it, so the last role of a list whose closing bracket sits on
 * a line of its own would be reported on the bracket's line.  When the
 * stamped line starts with that next token, walk back to the last line
 * with content (the same correction as in parse.c).
 */
static unsigned
element_line(const struct loader *l, unsigned line)
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

static unsigned
line_of(const struct loader *l, const config_setting_t *s)
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

static bool
is_name_char(char c)
{
	return is_alnum(c) || c == '_' || c == '*' || c == '-';
}

/*
 * Whether an integer token fits the type libconfig 1.5 stores it in: it
 * converts without range checks, so "release = 4294967297;" would
 * silently become a threshold of 1.
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

static bool
starts_number(const char *buf, size_t i)
{
	char prev;

	if (i == 0)
		return true;
	prev = buf[i - 1];
	if (prev == '-' || prev == '+')
		return i < 2 || !is_name_char(buf[i - 2]);
	return !is_name_char(prev) && prev != '.';
}

/*
 * What libconfig 1.5 would let through silently: a NUL byte (the rest of
 * the file would be ignored), "@include" at the start of any line (even
 * in a string or a comment: refusing a harmless line is better than
 * missing a real one), integers out of range.
 */
static int
scan_bytes(struct loader *l, const char *buf, size_t len)
{
	enum { CODE, STRING, LINE_COMMENT, BLOCK_COMMENT } st = CODE;
	bool line_start = true, escaped = false;
	unsigned line = 1;
	size_t i, j;
	int rc = 0;

	for (i = 0; i < len; i++) {
		char c = buf[i], next = i + 1 < len ? buf[i + 1] : '\0';

		if (c == '\0') {
			fail(l, line, "NUL byte in trust file");
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
				fail(l, line, "@include is not allowed in a "
				    "trust file");
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
					fail(l, line, "integer %.*s out of "
					    "range", (int)(j - i > 32 ? 32 :
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

/*
 * The checks every file we trust gets: a regular file (a FIFO would block
 * the daemon), owned by root unless the caller says otherwise, not
 * writable by the group or the world.  fd was opened with O_NOFOLLOW;
 * s is the setting naming the file (NULL for trust.conf itself) and what
 * prefixes the message.
 */
static int
check_file(struct loader *l, const config_setting_t *s, const char *what,
    int fd, struct stat *st)
{
	int rc = -EPERM;

	if (fstat(fd, st) == -1) {
		rc = -errno;
		fail_at(l, s, "%scannot stat: %s", what, strerror(-rc));
		goto out;
	}
	if (!S_ISREG(st->st_mode)) {
		fail_at(l, s, "%srefused: not a regular file", what);
		goto out;
	}
	if (!(l->flags & KK_POLICY_SKIP_OWNER_CHECK) && st->st_uid != 0) {
		fail_at(l, s, "%srefused: owned by uid %u, not root", what,
		    (unsigned)st->st_uid);
		goto out;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		fail_at(l, s, "%srefused: group- or world-writable "
		    "(mode %04o)", what, (unsigned)(st->st_mode & 07777));
		goto out;
	}
	rc = 0;
out:
	return rc;
}

/* Opens and reads trust.conf itself (s is NULL: messages carry no line). */
static int
read_trust(struct loader *l, char **bufp, size_t *lenp)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, rc;

	fd = open(l->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
	    O_NOCTTY);
	if (fd == -1) {
		rc = -errno;
		if (rc == -ELOOP)
			fail(l, 0, "refused: is a symbolic link");
		else
			fail(l, 0, "cannot open: %s", strerror(-rc));
		goto out;
	}
	if ((rc = check_file(l, NULL, "", fd, &st)) != 0)
		goto out;
	if (st.st_size > TRUST_MAX_BYTES) {
		rc = -EFBIG;
		fail(l, 0, "refused: larger than %d bytes", TRUST_MAX_BYTES);
		goto out;
	}
	/* The size can change under us: read to EOF, one byte over the cap. */
	buf = malloc(TRUST_MAX_BYTES + 2);
	if (buf == NULL) {
		rc = -ENOMEM;
		fail(l, 0, "out of memory");
		goto out;
	}
	for (;;) {
		n = read(fd, buf + len, TRUST_MAX_BYTES + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			rc = -errno;
			fail(l, 0, "cannot read: %s", strerror(-rc));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > TRUST_MAX_BYTES) {
			rc = -EFBIG;
			fail(l, 0, "refused: larger than %d bytes",
			    TRUST_MAX_BYTES);
			goto out;
		}
	}
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	if (fd != -1)
		close(fd);
	return rc;
}

static bool
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static bool
valid_key_id(const char *v)
{
	size_t i;

	for (i = 0; v[i] != '\0'; i++) {
		if (i >= KEY_ID_LEN_MAX)
			return false;
		if (!is_alnum(v[i]) && v[i] != '_' && v[i] != '.' &&
		    v[i] != '@' && v[i] != '-')
			return false;
	}
	return i > 0;
}

static bool
is_list(const config_setting_t *s)
{
	return config_setting_type(s) == CONFIG_TYPE_ARRAY ||
	    config_setting_type(s) == CONFIG_TYPE_LIST;
}

static int
load_id(struct loader *l, const config_setting_t *s, const char *qname,
    struct kk_trust *nt, struct kk_trust_key *k)
{
	char q[QUOTE_MAX + 8];
	const char *v;
	size_t i;
	int rc = -EINVAL;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		fail_at(l, s, "%s must be a string", qname);
		goto out;
	}
	v = config_setting_get_string(s);
	if (!valid_key_id(v)) {
		fail_at(l, s, "%s: '%s' is not a valid key id "
		    "([A-Za-z0-9_.@-]{1,%d})", qname, quote(v, q, sizeof(q)),
		    KEY_ID_LEN_MAX);
		goto out;
	}
	for (i = 0; i < nt->nkeys; i++) {
		if (strcmp(nt->keys[i].id, v) == 0) {
			fail_at(l, s, "%s: duplicate key id '%s'", qname,
			    quote(v, q, sizeof(q)));
			goto out;
		}
	}
	snprintf(k->id, sizeof(k->id), "%s", v);
	rc = 0;
out:
	return rc;
}

/*
 * The public key file: the same checks as trust.conf, then loaded with
 * kk_key_load_public.  The file is held open meanwhile, and afterwards
 * the path must still name the file that was checked, so it cannot be
 * swapped for another between the check and the load.
 */
static int
load_public(struct loader *l, const config_setting_t *s, const char *qname,
    struct kk_trust *nt, struct kk_trust_key *k)
{
	uint8_t raw[ED25519_LEN], other[ED25519_LEN];
	struct stat st, after;
	char q[QUOTE_MAX + 8], what[128];
	EVP_PKEY *pub = NULL;
	const char *v, *c;
	size_t i, rawlen, olen;
	int fd = -1, rc = -EINVAL;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		fail_at(l, s, "%s must be a string", qname);
		goto out;
	}
	v = config_setting_get_string(s);
	if (*v != '/') {
		fail_at(l, s, "%s must be an absolute path: '%s'", qname,
		    quote(v, q, sizeof(q)));
		goto out;
	}
	if (strlen(v) >= PATH_MAX) {
		fail_at(l, s, "%s is too long", qname);
		goto out;
	}
	if (has_control(v)) {
		fail_at(l, s, "%s contains a control character", qname);
		goto out;
	}
	for (c = v; c != NULL; c = strchr(c + 1, '/')) {
		if (c[1] == '.' && c[2] == '.' &&
		    (c[3] == '/' || c[3] == '\0')) {
			fail_at(l, s, "%s must not contain '..': '%s'",
			    qname, quote(v, q, sizeof(q)));
			goto out;
		}
	}

	fd = open(v, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
	    O_NOCTTY);
	if (fd == -1) {
		rc = -errno;
		if (rc == -ELOOP)
			fail_at(l, s, "%s '%s' refused: is a symbolic link",
			    qname, quote(v, q, sizeof(q)));
		else
			fail_at(l, s, "%s '%s': cannot open: %s", qname,
			    quote(v, q, sizeof(q)), strerror(-rc));
		goto out;
	}
	snprintf(what, sizeof(what), "%s '%s' ", qname,
	    quote(v, q, sizeof(q)));
	if ((rc = check_file(l, s, what, fd, &st)) != 0)
		goto out;
	if ((rc = kk_key_load_public(v, &pub)) != 0) {
		fail_at(l, s, "%s '%s': not an Ed25519 public key (%s)",
		    qname, quote(v, q, sizeof(q)), strerror(-rc));
		goto out;
	}
	if (lstat(v, &after) == -1 || after.st_dev != st.st_dev ||
	    after.st_ino != st.st_ino) {
		rc = -EAGAIN;
		fail_at(l, s, "%s '%s' changed while it was loaded", qname,
		    quote(v, q, sizeof(q)));
		goto out;
	}
	/* kk_key_load_public says so too; a trust anchor gets both. */
	rawlen = sizeof(raw);
	if (EVP_PKEY_get_id(pub) != EVP_PKEY_ED25519 ||
	    EVP_PKEY_get_raw_public_key(pub, raw, &rawlen) != 1 ||
	    rawlen != ED25519_LEN) {
		rc = -EPROTONOSUPPORT;
		fail_at(l, s, "%s '%s': not an Ed25519 public key", qname,
		    quote(v, q, sizeof(q)));
		goto out;
	}
	for (i = 0; i < nt->nkeys; i++) {
		olen = sizeof(other);
		if (EVP_PKEY_get_raw_public_key(nt->keys[i].pub, other,
		    &olen) == 1 && olen == rawlen &&
		    memcmp(raw, other, rawlen) == 0) {
			rc = -EINVAL;
			fail_at(l, s, "%s: the same public key as key '%s' "
			    "(one signer would count twice)", qname,
			    nt->keys[i].id);
			goto out;
		}
	}
	k->pub = pub;
	pub = NULL;
	rc = 0;
out:
	EVP_PKEY_free(pub);
	if (fd != -1)
		close(fd);
	return rc;
}

static int
load_roles(struct loader *l, const config_setting_t *s, const char *qname,
    struct kk_trust_key *k)
{
	const config_setting_t *e;
	enum kk_action a;
	char q[QUOTE_MAX + 8];
	const char *v;
	size_t i, n;
	int rc = -EINVAL;

	if (!is_list(s)) {
		fail_at(l, s, "%s must be an array of action names", qname);
		goto out;
	}
	n = (size_t)config_setting_length(s);
	if (n == 0) {
		fail_at(l, s, "%s must not be empty", qname);
		goto out;
	}
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			fail_at(l, e, "%s must be an array of action names",
			    qname);
			goto out;
		}
		v = config_setting_get_string(e);
		if (kk_action_parse(v, &a) != 0) {
			fail_at(l, e, "%s: unknown role '%s'", qname,
			    quote(v, q, sizeof(q)));
			goto out;
		}
		if (k->roles & (1u << a)) {
			fail_at(l, e, "%s: duplicate role '%s'", qname, v);
			goto out;
		}
		k->roles |= 1u << a;
	}
	rc = 0;
out:
	return rc;
}

enum { F_ID, F_PUBLIC_KEY, F_ROLES, F__MAX };
static const char *const key_fields[F__MAX] = {
	[F_ID] = "id",
	[F_PUBLIC_KEY] = "public_key",
	[F_ROLES] = "roles",
};

/*
 * One element of keys.  The id is loaded first so that later messages can
 * name it, whatever order the fields are written in.
 */
static int
load_key(struct loader *l, const config_setting_t *g, size_t idx,
    struct kk_trust *nt)
{
	struct kk_trust_key *k = &nt->keys[nt->nkeys];
	const config_setting_t *f[F__MAX] = { NULL }, *s;
	const char *name;
	char qname[KK_NAME_MAX + 32];
	size_t i, j, n;
	int rc = -EINVAL;

	memset(k, 0, sizeof(*k));
	if (!config_setting_is_group(g)) {
		fail_at(l, g, "keys[%zu] must be a group: { id = ...; "
		    "public_key = ...; roles = [ ... ]; }", idx);
		goto out;
	}
	n = (size_t)config_setting_length(g);
	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(g, (unsigned)i);
		name = config_setting_name(s);
		for (j = 0; j < F__MAX; j++)
			if (strcmp(name, key_fields[j]) == 0)
				break;
		if (j == F__MAX) {
			fail_at(l, s, "unknown key 'keys[%zu].%s'", idx, name);
			goto out;
		}
		f[j] = s;
	}
	for (j = 0; j < F__MAX; j++) {
		if (f[j] == NULL) {
			fail_at(l, g, "missing required key 'keys[%zu].%s'",
			    idx, key_fields[j]);
			goto out;
		}
	}
	snprintf(qname, sizeof(qname), "keys[%zu].id", idx);
	if ((rc = load_id(l, f[F_ID], qname, nt, k)) != 0)
		goto out;
	snprintf(qname, sizeof(qname), "%s.roles", k->id);
	if ((rc = load_roles(l, f[F_ROLES], qname, k)) != 0)
		goto out;
	snprintf(qname, sizeof(qname), "%s.public_key", k->id);
	if ((rc = load_public(l, f[F_PUBLIC_KEY], qname, nt, k)) != 0)
		goto out;
	nt->nkeys++;
	rc = 0;
out:
	return rc;
}

static int
load_keys(struct loader *l, const config_setting_t *s, struct kk_trust *nt)
{
	size_t i, n;
	int rc = -EINVAL;

	if (config_setting_type(s) != CONFIG_TYPE_LIST) {
		fail_at(l, s, "keys must be a list: keys = ( { ... }, ... );");
		goto out;
	}
	n = (size_t)config_setting_length(s);
	if (n == 0) {
		fail_at(l, s, "keys must not be empty");
		goto out;
	}
	if (n > KK_TRUST_MAX_KEYS) {
		fail_at(l, s, "too many keys (at most %d)", KK_TRUST_MAX_KEYS);
		goto out;
	}
	for (i = 0; i < n; i++)
		if ((rc = load_key(l, config_setting_get_elem(s, (unsigned)i),
		    i, nt)) != 0)
			goto out;
	rc = 0;
out:
	return rc;
}

/* After the keys: a threshold is checked against the keys holding it. */
static int
load_thresholds(struct loader *l, const config_setting_t *g,
    struct kk_trust *nt)
{
	const config_setting_t *s;
	enum kk_action a;
	const char *name;
	long long v;
	unsigned holders;
	size_t i, j, n;
	int rc = -EINVAL;

	if (!config_setting_is_group(g)) {
		fail_at(l, g, "thresholds must be a group: "
		    "thresholds = { release = 2; };");
		goto out;
	}
	n = (size_t)config_setting_length(g);
	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(g, (unsigned)i);
		name = config_setting_name(s);
		if (kk_action_parse(name, &a) != 0) {
			fail_at(l, s, "unknown key 'thresholds.%s' (not an "
			    "action)", name);
			goto out;
		}
		if (config_setting_type(s) != CONFIG_TYPE_INT &&
		    config_setting_type(s) != CONFIG_TYPE_INT64) {
			fail_at(l, s, "thresholds.%s must be an integer",
			    name);
			goto out;
		}
		v = config_setting_get_int64(s);
		if (v < 1 || v > KK_TRUST_MAX_KEYS) {
			fail_at(l, s, "thresholds.%s: %lld out of range 1-%d",
			    name, v, KK_TRUST_MAX_KEYS);
			goto out;
		}
		for (j = 0, holders = 0; j < nt->nkeys; j++)
			if (nt->keys[j].roles & (1u << a))
				holders++;
		if ((unsigned)v > holders) {
			fail_at(l, s, "thresholds.%s = %lld can never be met: "
			    "%u key%s hold%s the role", name, v, holders,
			    holders == 1 ? "" : "s", holders == 1 ? "s" : "");
			goto out;
		}
		nt->threshold[a] = (unsigned)v;
	}
	rc = 0;
out:
	return rc;
}

static int
load_root(struct loader *l, const config_setting_t *root, struct kk_trust *nt)
{
	const config_setting_t *s, *keys = NULL, *thresholds = NULL;
	const char *name;
	size_t i, n;
	int rc = -EINVAL;

	n = (size_t)config_setting_length(root);
	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(root, (unsigned)i);
		name = config_setting_name(s);
		if (strcmp(name, "keys") == 0)
			keys = s;
		else if (strcmp(name, "thresholds") == 0)
			thresholds = s;
		else {
			fail_at(l, s, "unknown key '%s'", name);
			goto out;
		}
	}
	if (keys == NULL) {
		fail(l, 0, "missing required key 'keys'");
		goto out;
	}
	if ((rc = load_keys(l, keys, nt)) != 0)
		goto out;
	if (thresholds != NULL &&
	    (rc = load_thresholds(l, thresholds, nt)) != 0)
		goto out;
	rc = 0;
out:
	return rc;
}

static void
trust_clear(struct kk_trust *t)
{
	size_t i;

	for (i = 0; i < t->nkeys && i < KK_TRUST_MAX_KEYS; i++)
		EVP_PKEY_free(t->keys[i].pub);
	memset(t, 0, sizeof(*t));
}

/*
 * Builds the new trust in a scratch copy; *t is overwritten only when all
 * of the file is valid (free the old one first, or load into a new struct
 * and swap), and untouched otherwise.
 */
int
kk_trust_load(const char *path, unsigned flags, struct kk_trust *t,
    char *err, size_t errlen)
{
	struct loader l = { .path = path, .flags = flags, .err = err,
	    .errlen = errlen };
	struct kk_trust *nt = NULL;
	config_t cfg;
	bool cfg_live = false;
	char *buf = NULL;
	size_t len = 0, i;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (path == NULL || t == NULL) {
		l.path = "(null)";
		fail(&l, 0, "no trust file given");
		rc = -EINVAL;
		goto out;
	}
	if (strlen(path) >= PATH_MAX) {
		fail(&l, 0, "path too long");
		rc = -ENAMETOOLONG;
		goto out;
	}
	if ((rc = read_trust(&l, &buf, &len)) != 0)
		goto out;
	l.buf = buf;
	l.len = len;
	if ((rc = scan_bytes(&l, buf, len)) != 0)
		goto out;

	nt = calloc(1, sizeof(*nt));
	if (nt == NULL) {
		fail(&l, 0, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < KK_ACT__MAX; i++)
		nt->threshold[i] = 1;

	config_init(&cfg);
	cfg_live = true;
	if (config_read_string(&cfg, buf) != CONFIG_TRUE) {
		fail(&l, (unsigned)(config_error_line(&cfg) > 0 ?
		    config_error_line(&cfg) : 0), "%s",
		    config_error_text(&cfg) != NULL ? config_error_text(&cfg) :
		    "parse error");
		rc = -EINVAL;
		goto out;
	}
	if ((rc = load_root(&l, config_root_setting(&cfg), nt)) != 0)
		goto out;

	memcpy(t, nt, sizeof(*t));
	nt->nkeys = 0;		/* the keys are t's now */
	rc = 0;
out:
	if (cfg_live)
		config_destroy(&cfg);
	if (nt != NULL)
		trust_clear(nt);
	free(nt);
	free(buf);
	return rc;
}

/*
 * Frees the keys.  The thresholds are left unreachable rather than 0, so
 * that a caller comparing a count against a freed trust fails closed.
 */
void
kk_trust_free(struct kk_trust *t)
{
	size_t i;

	if (t == NULL)
		return;
	trust_clear(t);
	for (i = 0; i < KK_ACT__MAX; i++)
		t->threshold[i] = KK_TRUST_MAX_KEYS + 1;
}

/*
 * Each signature is credited to at most one key: the one its keyid names,
 * if that key verifies it, otherwise the first other key that does.  A
 * key is counted once however many signatures it made.  The keyid only
 * saves verifications; it never decides.
 */
int
kk_trust_signers(const struct kk_trust *t, const struct kk_envelope *env,
    uint64_t *signers)
{
	uint64_t got = 0;
	size_t i, j, hint, idlen;
	int rc = -EINVAL;

	if (signers != NULL)
		*signers = 0;
	if (t == NULL || env == NULL || signers == NULL ||
	    t->nkeys > KK_TRUST_MAX_KEYS || env->nsigs > KK_DSSE_MAX_SIGS)
		goto out;
	for (i = 0; i < env->nsigs; i++) {
		hint = t->nkeys;
		idlen = strnlen(env->sigs[i].keyid, KK_KEYID_MAX);
		for (j = 0; idlen < KK_KEYID_MAX && j < t->nkeys; j++) {
			if (strcmp(t->keys[j].id, env->sigs[i].keyid) == 0) {
				hint = j;
				break;
			}
		}
		if (hint < t->nkeys && t->keys[hint].pub != NULL &&
		    kk_dsse_verify_one(env, i, t->keys[hint].pub) == 0) {
			got |= UINT64_C(1) << hint;
			continue;
		}
		for (j = 0; j < t->nkeys; j++) {
			if (j == hint || t->keys[j].pub == NULL)
				continue;
			if (kk_dsse_verify_one(env, i, t->keys[j].pub) == 0) {
				got |= UINT64_C(1) << j;
				break;
			}
		}
	}
	*signers = got;
	rc = 0;
out:
	return rc;
}

unsigned
kk_trust_count_role(const struct kk_trust *t, uint64_t signers,
    enum kk_action a)
{
	unsigned n = 0;
	size_t i;

	if (t == NULL || (unsigned)a >= KK_ACT__MAX)
		goto out;
	for (i = 0; i < t->nkeys && i < KK_TRUST_MAX_KEYS; i++)
		if ((signers & (UINT64_C(1) << i)) &&
		    (t->keys[i].roles & (1u << a)))
			n++;
out:
	return n;
}
