/*
 * kakurictl fetch: pull an evidence directory from an agent over the
 * mutual-TLS channel and verify it against the agent's signed manifest
 * (DESIGN 7).  kakurictl fetch --verify re-checks a fetched directory
 * later, offline, with nothing but the agent's public key: the chain of
 * custody can be shown again at any time.
 *
 * On one TLS connection:
 *   -> a fetch command signed in-process, {"action":"fetch","args":{"id":EVID}}
 *   <- the receipt, signed by the agent key; output.files = [{path, size}]
 *   -> {"chunk":{"path":P,"offset":O,"length":L}}, L <= 512 KiB
 *   <- {"ok":true,"path":P,"offset":O,"length":n,"eof":b} "\n" n raw bytes,
 *      or {"ok":false,"error":WORD,"message":TEXT} "\n"
 * The agent lets only the connection that carried the command read the
 * directory, and only while the command is valid (30 minutes at most).
 * When it answers no-grant, a fresh fetch command on the same connection
 * renews the grant, so a large memory image does not need a long-lived
 * command.
 *
 * TLS says who sent the bytes; it does not make them evidence.  They are
 * trusted only after manifest.dsse verifies with the agent key and every
 * file matches manifest.jsonl.  Everything the agent sends is bounded:
 * the listing, each path, the requests per file and the total size.
 */
/* SHA256_* without EVP, like common/util.c: the same code, no provider */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "kakuri.h"
#include "kakurictl.h"
#include "sign.h"
#include "tls.h"

#define CHUNK_LEN		(512U * 1024)	/* the agent's limit */
#define FETCH_MAX_FILES		65536		/* in a listing or a tree */
#define FETCH_MAX_TOTAL		(64ULL << 30)	/* one evidence directory */
#define FETCH_PATH_MAX		255		/* bytes of a relative path */
#define HEADER_MAX		4096		/* a chunk reply's header */
#define MANIFEST_MAX		(64U << 20)	/* the agent's own limit */
#define MANIFEST_MAX_LINES	(1U << 20)
#define WALK_MAX_DEPTH		16
#define MAX_RENEWALS		64		/* fetch commands per run */
#define BLOCK			4096		/* hole granularity */
#define DEFAULT_TTL		600
#define DEFAULT_TIMEOUT		30		/* seconds */
#define EVID_MAX		64

/* One file of the evidence directory, as we have it. */
struct ffile {
	char *path;
	uint64_t listed;	/* size in the agent's listing */
	uint64_t size;		/* bytes we have */
	char sha256[65];	/* of those bytes */
	bool have;		/* complete: size and sha256 are valid */
	bool matched;		/* named by the manifest */
};

struct fset {
	struct ffile *v;
	size_t n;
};

/* One line of manifest.jsonl. */
struct mentry {
	char *path;
	uint64_t size;
	char sha256[65];
	bool incomplete;
	char *error;
	size_t line;
};

struct outcome {
	json_t *problems;	/* one string each, also printed on stderr */
	json_t *notes;
	bool signature;		/* manifest.dsse verifies, names the agent */
	bool trusted;		/* ... and manifest.jsonl is what it signed */
	size_t matched;		/* files that match their manifest line */
	size_t verified;	/* matched, against a trusted manifest */
	size_t total;		/* distinct paths in the manifest */
	size_t files;
	uint64_t bytes;
};

struct fetch {
	SSL *ssl;
	EVP_PKEY *signkey;
	const char *keyid;
	EVP_PKEY *agent_key;	/* the identity key, from the peer's chain */
	char agent[KK_AGENT_ID_HEX + 1];
	const char *evid;
	long ttl;
	unsigned renewals;
	bool fresh;		/* a grant and no chunk since */
	uint64_t total;		/* bytes received */
	struct outcome *oc;
};

/* Printable ASCII only: paths and reasons come from the agent. */
static void
sanitize(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

static void note_to(json_t *arr, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* One line on stderr and in the JSON document. */
static void
note_to(json_t *arr, const char *fmt, va_list ap)
{
	char buf[640];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	sanitize(buf);
	fail_line("fetch: %s", buf);
	json_array_append_new(arr, json_string(buf));
}

static void problem(struct outcome *oc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note(struct outcome *oc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Something did not match or could not be had: the run fails. */
static void
problem(struct outcome *oc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	note_to(oc->problems, fmt, ap);
	va_end(ap);
}

/* Worth knowing, not a failure (an artifact the agent marked incomplete). */
static void
note(struct outcome *oc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	note_to(oc->notes, fmt, ap);
	va_end(ap);
}

static void
hex32(const unsigned char md[32], char out[65])
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[64] = '\0';
}

static bool
is_hex64(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[64] == '\0';
}

/* The agent's rule for evidence ids (kk_evidence_id_ok, not linked here). */
static bool
evid_ok(const char *id)
{
	size_t i, n = strlen(id);

	if (n == 0 || n > EVID_MAX || strcmp(id, ".") == 0 ||
	    strcmp(id, "..") == 0)
		return false;
	for (i = 0; i < n; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/*
 * A path the agent names, before anything is written under it: relative,
 * printable ASCII, no empty, "." or ".." components, at most 255 bytes.
 */
static bool
path_ok(const char *p, size_t len)
{
	size_t i, start = 0, cl;

	if (len == 0 || len > FETCH_PATH_MAX || strlen(p) != len)
		return false;
	for (i = 0; i <= len; i++) {
		if (i < len && ((unsigned char)p[i] < 0x20 ||
		    (unsigned char)p[i] > 0x7e))
			return false;
		if (i < len && p[i] != '/')
			continue;
		cl = i - start;
		if (cl == 0 || (cl == 1 && p[start] == '.') ||
		    (cl == 2 && p[start] == '.' && p[start + 1] == '.'))
			return false;
		start = i + 1;
	}
	return true;
}

/*
 * Opens rel (checked by path_ok) under dfd one component at a time with
 * O_NOFOLLOW, so neither a symlink nor anything else leads outside dfd.
 * With create, missing directories are made 0700 and the file itself is
 * created O_EXCL 0600 (a name listed twice cannot overwrite); without,
 * the file is opened read-only.  An fd, or a negative errno.
 */
static int
open_under(int dfd, const char *rel, bool create)
{
	char buf[FETCH_PATH_MAX + 1], *comp, *slash;
	int cur = dfd, next, r;

	if (!path_ok(rel, strlen(rel)))
		return -EINVAL;
	memcpy(buf, rel, strlen(rel) + 1);
	comp = buf;
	/* at most FETCH_PATH_MAX / 2 components */
	while ((slash = strchr(comp, '/')) != NULL) {
		*slash = '\0';
		if (create && mkdirat(cur, comp, 0700) < 0 && errno != EEXIST) {
			r = -errno;
			goto out;
		}
		next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (next < 0) {
			r = -errno;
			goto out;
		}
		if (cur != dfd)
			close(cur);
		cur = next;
		comp = slash + 1;
	}
	if (create)
		r = openat(cur, comp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
	else	/* O_NONBLOCK: a FIFO in place of a file must not hang us */
		r = openat(cur, comp, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_CLOEXEC);
	if (r < 0)
		r = -errno;
out:
	if (cur != dfd)
		close(cur);
	return r;
}

/* What read_small's errors mean to the operator. */
static const char *
read_error(int r)
{
	switch (r) {
	case -ENOENT:
		return "missing";
	case -EINVAL:
		return "not a regular file";
	case -EFBIG:
		return "too large; not checked";
	default:
		return strerror(-r);
	}
}

/* A whole small file under dfd (manifest.dsse, manifest.jsonl). */
static int
read_small(int dfd, const char *rel, size_t max, char **out, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	ssize_t n;
	int fd, r = 0;

	*out = NULL;
	*len = 0;
	fd = open_under(dfd, rel, false);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		r = -EFBIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		r = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			goto out;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return r;
}

/* ---- writing: holes for zero blocks, SHA-256 on the way ---- */

struct sink {
	int fd;
	uint64_t off;
	SHA256_CTX sha;
};

static bool
all_zero(const uint8_t *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static int
pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	ssize_t k;

	while (n > 0) {
		k = pwrite(fd, p, n, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		p += k;
		n -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

/*
 * Appends n bytes.  Aligned all-zero 4 KiB blocks are skipped, not
 * written: a sparse core or RAM image stays sparse here too (the size is
 * set at the end, which covers trailing holes).  Every iteration consumes
 * at least one byte.
 */
static int
sink_write(struct sink *s, const uint8_t *p, size_t n)
{
	size_t run, b, head;
	int r;

	SHA256_Update(&s->sha, p, n);
	while (n > 0) {
		head = BLOCK - (size_t)(s->off % BLOCK);
		if (head == BLOCK && n >= BLOCK && all_zero(p, BLOCK)) {
			s->off += BLOCK;
			p += BLOCK;
			n -= BLOCK;
			continue;
		}
		/* data up to the next aligned all-zero block */
		run = head < n ? head : n;
		while (run < n) {
			b = n - run < BLOCK ? n - run : BLOCK;
			if (b == BLOCK && all_zero(p + run, BLOCK))
				break;
			run += b;
		}
		if ((r = pwrite_all(s->fd, p, run, s->off)) < 0)
			return r;
		s->off += run;
		p += run;
		n -= run;
	}
	return 0;
}

static int
sink_finish(struct sink *s, struct ffile *ff)
{
	unsigned char md[32];

	SHA256_Final(md, &s->sha);
	if (ftruncate(s->fd, (off_t)s->off) < 0 || fsync(s->fd) < 0)
		return -errno;
	hex32(md, ff->sha256);
	ff->size = s->off;
	return 0;
}

/* ---- the file set ---- */

static int
ffile_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ffile *)a)->path,
	    ((const struct ffile *)b)->path);
}

static struct ffile *
fset_find(struct fset *fs, const char *path)
{
	struct ffile key = { .path = (char *)path };

	if (fs->n == 0)
		return NULL;
	return bsearch(&key, fs->v, fs->n, sizeof(*fs->v), ffile_cmp);
}

static void
fset_free(struct fset *fs)
{
	size_t i;

	for (i = 0; i < fs->n; i++)
		free(fs->v[i].path);
	free(fs->v);
	fs->v = NULL;
	fs->n = 0;
}

/* SHA-256 and size of an open regular file (offline --verify). */
static int
hash_fd(int fd, uint64_t *size, char out[65])
{
	static uint8_t buf[1 << 20];
	unsigned char md[32];
	SHA256_CTX sha;
	uint64_t total = 0;
	ssize_t n;

	SHA256_Init(&sha);
	/* bounded: a file that keeps growing stops at the evidence cap */
	while (total <= FETCH_MAX_TOTAL) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		SHA256_Update(&sha, buf, (size_t)n);
		total += (uint64_t)n;
	}
	if (total > FETCH_MAX_TOTAL)
		return -EFBIG;
	SHA256_Final(md, &sha);
	hex32(md, out);
	*size = total;
	return 0;
}

/*
 * Every regular file under dir (fd dfd, relative path rel), hashed.
 * Anything else (symlinks, devices, odd names) is a problem: a fetched
 * directory holds nothing but evidence.
 */
static int
walk(int dfd, const char *rel, int depth, struct fset *fs, size_t *cap,
    size_t *seen, struct outcome *oc)
{
	char path[FETCH_PATH_MAX + 2];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int fd, r = 0;

	fd = rel[0] ? open_under(dfd, rel, false) : dup(dfd);
	if (fd < 0) {
		problem(oc, "%s: cannot open: %s", rel[0] ? rel : ".",
		    strerror(rel[0] ? -fd : errno));
		return -EIO;
	}
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		problem(oc, "%s: cannot read the directory",
		    rel[0] ? rel : ".");
		return -EIO;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (++*seen > FETCH_MAX_FILES) {
			problem(oc, "more than %d entries; stopped looking",
			    FETCH_MAX_FILES);
			r = -E2BIG;
			break;
		}
		if (snprintf(path, sizeof(path), "%s%s%s", rel,
		    rel[0] ? "/" : "", de->d_name) >= (int)sizeof(path) ||
		    !path_ok(path, strlen(path))) {
			problem(oc, "%.200s: unexpected name (not in the manifest)",
			    path);
			continue;
		}
		if (fstatat(dirfd(d), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) < 0) {
			problem(oc, "%s: %s", path, strerror(errno));
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			if (depth >= WALK_MAX_DEPTH) {
				problem(oc, "%s: nested too deeply; not looked at",
				    path);
				continue;
			}
			r = walk(dfd, path, depth + 1, fs, cap, seen, oc);
			if (r < 0)
				break;
			continue;
		}
		if (!S_ISREG(st.st_mode)) {
			/* verify() says so for the manifest's own two files */
			if (strcmp(path, "manifest.jsonl") != 0 &&
			    strcmp(path, "manifest.dsse") != 0)
				problem(oc, "%s: not a regular file", path);
			continue;
		}
		if (fs->n == *cap) {
			size_t ncap = *cap ? *cap * 2 : 64;
			struct ffile *nv;

			nv = reallocarray(fs->v, ncap, sizeof(*nv));
			if (nv == NULL) {
				r = -ENOMEM;
				break;
			}
			fs->v = nv;
			*cap = ncap;
		}
		memset(&fs->v[fs->n], 0, sizeof(fs->v[0]));
		fs->v[fs->n].path = strdup(path);
		if (fs->v[fs->n].path == NULL) {
			r = -ENOMEM;
			break;
		}
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW |
		    O_NONBLOCK | O_CLOEXEC);
		r = fd < 0 ? -errno : hash_fd(fd, &fs->v[fs->n].size,
		    fs->v[fs->n].sha256);
		if (r < 0)
			problem(oc, "%s: cannot be read: %s", path,
			    strerror(-r));
		else
			fs->v[fs->n].have = true;
		r = 0;
		if (fd >= 0)
			close(fd);
		fs->n++;
	}
	closedir(d);
	return r;
}

/* ---- verification (step 5; also all of --verify) ---- */

static int
mentry_cmp(const void *a, const void *b)
{
	const struct mentry *x = a, *y = b;
	int c = strcmp(x->path, y->path);

	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

static void
mentries_free(struct mentry *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(v[i].path);
		free(v[i].error);
	}
	free(v);
}

/* One manifest line into *e; NULL, or what is wrong with it. */
static const char *
parse_entry(const char *line, size_t len, struct mentry *e)
{
	json_t *o, *p, *sz, *sh, *inc, *err;
	const char *why = NULL;

	memset(e, 0, sizeof(*e));
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o)) {
		why = "not a JSON object";
		goto out;
	}
	p = json_object_get(o, "path");
	sz = json_object_get(o, "size");
	sh = json_object_get(o, "sha256");
	inc = json_object_get(o, "incomplete");
	err = json_object_get(o, "error");
	if (!json_is_string(p) || !path_ok(json_string_value(p),
	    json_string_length(p))) {
		why = "no valid path";
		goto out;
	}
	if (!json_is_integer(sz) || json_integer_value(sz) < 0) {
		why = "no valid size";
		goto out;
	}
	if (!json_is_string(sh) || json_string_length(sh) != 64 ||
	    !is_hex64(json_string_value(sh))) {
		why = "no valid sha256";
		goto out;
	}
	if (!json_is_boolean(inc)) {
		why = "no incomplete flag";
		goto out;
	}
	if (err != NULL && !json_is_string(err)) {
		why = "error is not a string";
		goto out;
	}
	e->path = strdup(json_string_value(p));
	e->error = err ? strndup(json_string_value(err), 200) : NULL;
	if (e->path == NULL || (err != NULL && e->error == NULL)) {
		free(e->path);
		free(e->error);
		e->path = e->error = NULL;
		why = "out of memory";
		goto out;
	}
	e->size = (uint64_t)json_integer_value(sz);
	memcpy(e->sha256, json_string_value(sh), 65);
	e->incomplete = json_is_true(inc);
out:
	json_decref(o);
	return why;
}

/*
 * manifest.dsse: payload type, the agent key's signature, then the
 * payload.  Fills the signed size and SHA-256 of manifest.jsonl; sets
 * oc->signature when all of it holds.
 */
static void
check_envelope(int dfd, EVP_PKEY *agent_key, const char *agent_id,
    uint64_t *msize, char msha[65], long long *entries, struct outcome *oc)
{
	struct kk_envelope env;
	json_t *o = NULL, *v;
	char *buf = NULL;
	size_t len, i;
	bool sig = false;
	int r;

	memset(&env, 0, sizeof(env));
	msha[0] = '\0';
	*entries = -1;
	if ((r = read_small(dfd, "manifest.dsse", KK_ENVELOPE_MAX, &buf,
	    &len)) < 0) {
		problem(oc, "manifest.dsse: %s", read_error(r));
		goto out;
	}
	if (kk_envelope_parse((const uint8_t *)buf, len, &env) < 0) {
		problem(oc, "manifest.dsse: not a DSSE envelope");
		goto out;
	}
	if (strcmp(env.type, KK_PT_MANIFEST) != 0) {
		problem(oc, "manifest.dsse: payload type %s, not %s", env.type,
		    KK_PT_MANIFEST);
		goto out;
	}
	for (i = 0; i < env.nsigs; i++)
		if (kk_dsse_verify_one(&env, i, agent_key) == 0)
			break;
	if (i == env.nsigs) {
		problem(oc, "manifest.dsse: signature does not verify with the agent key");
		goto out;
	}
	o = json_loadb((const char *)env.payload, env.payload_len,
	    JSON_REJECT_DUPLICATES, NULL);
	v = json_object_get(o, "v");
	if (!json_is_object(o) || !json_is_integer(v) ||
	    json_integer_value(v) != 1 ||
	    !json_is_string(json_object_get(o, "manifest")) ||
	    strcmp(json_string_value(json_object_get(o, "manifest")),
	    "manifest.jsonl") != 0 ||
	    !json_is_string(json_object_get(o, "sha256")) ||
	    json_string_length(json_object_get(o, "sha256")) != 64 ||
	    !is_hex64(json_string_value(json_object_get(o, "sha256"))) ||
	    !json_is_integer(json_object_get(o, "size")) ||
	    json_integer_value(json_object_get(o, "size")) < 0 ||
	    !json_is_string(json_object_get(o, "agent"))) {
		problem(oc, "manifest.dsse: signed, but the payload is not a kakuri manifest");
		goto out;
	}
	memcpy(msha, json_string_value(json_object_get(o, "sha256")), 65);
	*msize = (uint64_t)json_integer_value(json_object_get(o, "size"));
	if (json_is_integer(json_object_get(o, "entries")))
		*entries = json_integer_value(json_object_get(o, "entries"));
	/* the key signed it; the payload must also say it is this agent's */
	if (strcmp(json_string_value(json_object_get(o, "agent")),
	    agent_id) != 0) {
		problem(oc, "manifest.dsse: names agent %.16s..., not %.16s...",
		    json_string_value(json_object_get(o, "agent")), agent_id);
		goto out;
	}
	sig = true;
out:
	oc->signature = sig;
	json_decref(o);
	kk_envelope_free(&env);
	free(buf);
}

/* Splits manifest.jsonl into entries; malformed lines are problems. */
static int
parse_manifest(const char *m, size_t mlen, struct mentry **out, size_t *nout,
    size_t *nlines, struct outcome *oc)
{
	struct mentry *v = NULL, e;
	const char *p = m, *nl, *why;
	size_t n = 0, cap = 0, line = 0;
	int r = 0;

	while (p < m + mlen) {
		if (++line > MANIFEST_MAX_LINES) {
			problem(oc, "manifest.jsonl: more than %u lines; stopped",
			    MANIFEST_MAX_LINES);
			r = -E2BIG;
			break;
		}
		nl = memchr(p, '\n', (size_t)(m + mlen - p));
		if (nl == NULL) {
			problem(oc, "manifest.jsonl:%zu: last line is cut short",
			    line);
			break;
		}
		why = parse_entry(p, (size_t)(nl - p), &e);
		p = nl + 1;
		if (why != NULL) {
			problem(oc, "manifest.jsonl:%zu: %s", line, why);
			continue;
		}
		e.line = line;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct mentry *nv = reallocarray(v, ncap, sizeof(*nv));

			if (nv == NULL) {
				free(e.path);
				free(e.error);
				r = -ENOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		v[n++] = e;
	}
	*out = v;
	*nout = n;
	*nlines = line;
	return r;
}

static void
verify(int dfd, struct fset *fs, EVP_PKEY *agent_key, const char *agent_id,
    struct outcome *oc)
{
	struct mentry *ents = NULL, *e;
	struct ffile *ff;
	char msha[65], hash[65], *m = NULL;
	uint64_t msize = 0;
	long long entries;
	size_t mlen, n = 0, nlines = 0, i;
	bool have_manifest = false;
	int r;

	qsort(fs->v, fs->n, sizeof(*fs->v), ffile_cmp);
	check_envelope(dfd, agent_key, agent_id, &msize, msha, &entries, oc);
	if ((r = read_small(dfd, "manifest.jsonl", MANIFEST_MAX, &m,
	    &mlen)) < 0) {
		problem(oc, "manifest.jsonl: %s", read_error(r));
		goto out;
	}
	have_manifest = true;
	kk_sha256_hex(m, mlen, hash);
	if (msha[0] != '\0' && (strcmp(hash, msha) != 0 || mlen != msize))
		problem(oc, "manifest.jsonl: does not match the signed manifest (sha256 %.8s..., %zu bytes; signed %.8s..., %llu bytes)",
		    hash, mlen, msha, (unsigned long long)msize);
	else if (oc->signature)
		oc->trusted = true;
	/*
	 * The lines are checked even if the signature failed: the operator
	 * sees everything that is wrong, not just the first thing.
	 */
	if (parse_manifest(m, mlen, &ents, &n, &nlines, oc) < 0) {
		have_manifest = false;	/* only part of it was read */
		goto out;
	}
	if (msha[0] != '\0' && entries >= 0 && (size_t)entries != nlines &&
	    strcmp(hash, msha) == 0)
		problem(oc, "manifest.jsonl: %zu lines, the signed manifest says %lld",
		    nlines, entries);
	/* a path listed again (appended manifests) counts as its last line */
	qsort(ents, n, sizeof(*ents), mentry_cmp);
	for (i = 0; i < n; i++) {
		e = &ents[i];
		if (i + 1 < n && strcmp(e->path, ents[i + 1].path) == 0)
			continue;
		oc->total++;
		if (e->incomplete)
			note(oc, "%s: incomplete: %s", e->path,
			    e->error ? e->error : "(no reason given)");
		ff = fset_find(fs, e->path);
		if (ff != NULL)
			ff->matched = true;
		if (ff == NULL) {
			problem(oc, "%s: listed in the manifest but missing",
			    e->path);
		} else if (!ff->have) {
			/* not fetched or unreadable: said so already */
		} else if (ff->size != e->size) {
			problem(oc, "%s: size mismatch (manifest %llu, file %llu)",
			    e->path, (unsigned long long)e->size,
			    (unsigned long long)ff->size);
		} else if (strcmp(ff->sha256, e->sha256) != 0) {
			problem(oc, "%s: sha256 mismatch (manifest %.8s..., file %.8s...)",
			    e->path, e->sha256, ff->sha256);
		} else {
			oc->matched++;
		}
	}
	/* a match against an unsigned list proves nothing */
	oc->verified = oc->trusted ? oc->matched : 0;
out:
	/*
	 * Evidence must be accounted for: nothing may come without a line.
	 * (Without a manifest at all, its one problem says it all.)
	 */
	for (i = 0; have_manifest && i < fs->n; i++) {
		ff = &fs->v[i];
		if (!ff->matched && strcmp(ff->path, "manifest.jsonl") != 0 &&
		    strcmp(ff->path, "manifest.dsse") != 0)
			problem(oc, "%s: not in the manifest", ff->path);
	}
	mentries_free(ents, n);
	free(m);
}

/* ---- the transfer ---- */

/* header and body in one write: one TLS record, no Nagle wait */
static int
send_frame(SSL *ssl, const void *body, size_t len)
{
	uint8_t *msg;
	int r;

	msg = malloc(len + 4);
	if (msg == NULL)
		return -ENOMEM;
	if ((r = kk_frame_header(msg, len, KK_FRAME_MAX)) == 0) {
		memcpy(msg + 4, body, len);
		r = ssl_write_all(ssl, msg, len + 4);
	}
	free(msg);
	return r;
}

static const char *
jstr(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/*
 * Signs a fetch command, sends it, checks the receipt.  EX_DONE with the
 * listing in *files (if files is not NULL; caller decrefs).
 */
static int
grant(struct fetch *f, json_t **files)
{
	char id[KK_ID_HEX + 1], why[160], reason[KK_TEXT_MAX], *text = NULL;
	struct cmd_spec s = { .agent = f->agent, .action = "fetch",
		.incident = "", .reason = reason, .iat = time(NULL),
		.ttl = f->ttl };
	const char *rwhy = NULL, *res, *cmd;
	uint8_t *body = NULL;
	json_t *rec = NULL, *out, *list;
	size_t len;
	int ret = EX_FAILED;

	snprintf(reason, sizeof(reason), "fetch evidence %s", f->evid);
	s.args = json_pack("{s:s}", "id", f->evid);
	if (s.args == NULL)
		goto out;
	if ((ret = sign_command(&s, f->signkey, f->keyid, id, &text, why,
	    sizeof(why))) != EX_DONE) {
		problem(f->oc, "cannot sign the fetch command: %s", why);
		ret = EX_FAILED;
		goto out;
	}
	ret = EX_UNREACHABLE;
	if (send_frame(f->ssl, text, strlen(text)) < 0 ||
	    ssl_read_frame(f->ssl, &body, &len) < 0) {
		problem(f->oc, "no receipt from the agent (connection lost)");
		goto out;
	}
	ret = EX_FAILED;
	/* signed by the agent's root parent, never by the TLS key */
	rec = kk_receipt_open(body, len, f->agent_key, f->agent, &rwhy);
	if (rec == NULL) {
		problem(f->oc, "%s", rwhy);
		goto out;
	}
	/* a refusal before the payload was parsed carries no command id */
	cmd = jstr(rec, "command");
	if (cmd != NULL && strcmp(cmd, id) != 0) {
		problem(f->oc, "receipt is for another command");
		goto out;
	}
	res = jstr(rec, "result");
	if (res == NULL || strcmp(res, "done") != 0) {
		problem(f->oc, "refused: %s%s%s%s", jstr(rec, "reason") ?
		    jstr(rec, "reason") : res ? res : "no result",
		    jstr(rec, "detail") ? " (" : "",
		    jstr(rec, "detail") ? jstr(rec, "detail") : "",
		    jstr(rec, "detail") ? ")" : "");
		goto out;
	}
	if (cmd == NULL) {
		problem(f->oc, "receipt names no command");
		goto out;
	}
	out = json_object_get(rec, "output");
	list = json_object_get(out, "files");
	if (jstr(out, "evidence") == NULL ||
	    strcmp(jstr(out, "evidence"), f->evid) != 0 ||
	    !json_is_array(list)) {
		problem(f->oc, "receipt carries no listing of evidence %s",
		    f->evid);
		goto out;
	}
	if (files != NULL)
		*files = json_incref(list);
	ret = EX_DONE;
out:
	json_decref(rec);
	json_decref(s.args);
	free(body);
	free(text);
	return ret;
}

/* The agent's listing, checked and sorted. */
static int
parse_listing(json_t *files, struct fset *fs, struct outcome *oc)
{
	json_t *e, *p, *sz;
	uint64_t total = 0;
	size_t i, n;

	n = json_array_size(files);
	if (n > FETCH_MAX_FILES) {
		problem(oc, "the listing has %zu files (at most %d)", n,
		    FETCH_MAX_FILES);
		return -E2BIG;
	}
	fs->v = calloc(n ? n : 1, sizeof(*fs->v));
	if (fs->v == NULL)
		return -ENOMEM;
	json_array_foreach(files, i, e) {
		p = json_object_get(e, "path");
		sz = json_object_get(e, "size");
		if (!json_is_string(p) || !path_ok(json_string_value(p),
		    json_string_length(p)) || !json_is_integer(sz) ||
		    json_integer_value(sz) < 0) {
			problem(oc, "the listing has an invalid entry (#%zu)",
			    i + 1);
			return -EBADMSG;
		}
		fs->v[fs->n].listed = (uint64_t)json_integer_value(sz);
		fs->v[fs->n].path = strdup(json_string_value(p));
		if (fs->v[fs->n].path == NULL)
			return -ENOMEM;
		fs->n++;
		total += (uint64_t)json_integer_value(sz);
		if (total > FETCH_MAX_TOTAL) {
			problem(oc, "the evidence is larger than %llu GiB; not fetched",
			    FETCH_MAX_TOTAL >> 30);
			return -EFBIG;
		}
	}
	qsort(fs->v, fs->n, sizeof(*fs->v), ffile_cmp);
	for (i = 1; i < fs->n; i++)
		if (strcmp(fs->v[i - 1].path, fs->v[i].path) == 0) {
			problem(oc, "the listing names %s twice",
			    fs->v[i].path);
			return -EBADMSG;
		}
	return 0;
}

/* chunk(): besides an EX_* status after a reported problem */
#define CHUNK_OK	0
#define CHUNK_REFUSED	(-1)

/*
 * One chunk request and its reply.  CHUNK_OK with *body (caller frees)
 * and the data at *data, n bytes; CHUNK_REFUSED with word and msg if the
 * agent said no; EX_FAILED or EX_UNREACHABLE after a problem was reported
 * (the connection is no longer usable).
 */
static int
chunk(struct fetch *f, const char *path, uint64_t off, uint8_t **body,
    const uint8_t **data, size_t *n, bool *eof, char *word, size_t wlen,
    char *msg, size_t mlen)
{
	json_t *req, *h = NULL, *v;
	const uint8_t *nl;
	char *text = NULL;
	size_t len, hlen;
	int ret = EX_FAILED;

	*body = NULL;
	req = json_pack("{s:{s:s, s:I, s:I}}", "chunk", "path", path,
	    "offset", (json_int_t)off, "length", (json_int_t)CHUNK_LEN);
	text = req ? json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(req);
	if (text == NULL)
		goto out;
	if (send_frame(f->ssl, text, strlen(text)) < 0 ||
	    ssl_read_frame(f->ssl, body, &len) < 0) {
		problem(f->oc, "%s: connection to the agent lost at offset %llu",
		    path, (unsigned long long)off);
		ret = EX_UNREACHABLE;
		goto out;
	}
	nl = memchr(*body, '\n', len < HEADER_MAX ? len : HEADER_MAX);
	h = nl ? json_loadb((const char *)*body, (size_t)(nl - *body),
	    JSON_REJECT_DUPLICATES, NULL) : NULL;
	if (!json_is_object(h) || !json_is_boolean(json_object_get(h, "ok"))) {
		problem(f->oc, "%s: the agent's answer is not a chunk", path);
		goto out;
	}
	if (!json_is_true(json_object_get(h, "ok"))) {
		snprintf(word, wlen, "%s", jstr(h, "error") ? jstr(h, "error") :
		    "refused");
		snprintf(msg, mlen, "%s", jstr(h, "message") ?
		    jstr(h, "message") : "");
		ret = CHUNK_REFUSED;
		goto out;
	}
	hlen = (size_t)(nl - *body) + 1;
	v = json_object_get(h, "length");
	if (jstr(h, "path") == NULL || strcmp(jstr(h, "path"), path) != 0 ||
	    !json_is_integer(json_object_get(h, "offset")) ||
	    (uint64_t)json_integer_value(json_object_get(h, "offset")) != off ||
	    !json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > CHUNK_LEN ||
	    (size_t)json_integer_value(v) != len - hlen ||
	    !json_is_boolean(json_object_get(h, "eof"))) {
		problem(f->oc, "%s: the agent's chunk header at offset %llu does not match the request",
		    path, (unsigned long long)off);
		goto out;
	}
	*data = *body + hlen;
	*n = len - hlen;
	*eof = json_is_true(json_object_get(h, "eof"));
	ret = CHUNK_OK;
out:
	if (ret != CHUNK_OK) {
		free(*body);
		*body = NULL;
	}
	json_decref(h);
	free(text);
	return ret;
}

/*
 * One file: chunks in order until eof.  EX_DONE also when the agent
 * refused this file (a problem is recorded and the others are fetched);
 * EX_FAILED / EX_UNREACHABLE end the whole transfer.
 */
static int
fetch_file(struct fetch *f, int dfd, struct ffile *ff)
{
	char word[64], msg[200];
	struct sink s = { .fd = -1 };
	const uint8_t *data = NULL;
	uint8_t *body;
	uint64_t req, maxreq;
	size_t n = 0;
	bool eof = false;
	int r, ret = EX_FAILED;

	s.fd = open_under(dfd, ff->path, true);
	if (s.fd < 0) {
		problem(f->oc, "%s: cannot create: %s", ff->path,
		    strerror(-s.fd));
		goto out;
	}
	SHA256_Init(&s.sha);
	/* the file may grow by a chunk while we read; not by more */
	maxreq = ff->listed / CHUNK_LEN + 2;
	for (req = 0; req < maxreq && !eof; ) {
		r = chunk(f, ff->path, s.off, &body, &data, &n, &eof, word,
		    sizeof(word), msg, sizeof(msg));
		if (r == CHUNK_REFUSED && strcmp(word, "no-grant") == 0 &&
		    !f->fresh && f->renewals < MAX_RENEWALS) {
			/*
			 * The grant ended with the command: ask again.  Not
			 * twice in a row, though: a grant that is refused at
			 * once will be refused again.
			 */
			f->renewals++;
			if ((ret = grant(f, NULL)) != EX_DONE)
				goto out;
			f->fresh = true;
			continue;
		}
		if (r == CHUNK_REFUSED) {
			problem(f->oc, "%s: the agent did not send it: %s (%s)",
			    ff->path, word, msg);
			/* without a grant no other file can come either */
			ret = strcmp(word, "no-grant") == 0 ? EX_FAILED :
			    EX_DONE;
			goto out;
		}
		if (r != CHUNK_OK) {
			ret = r;
			goto out;
		}
		f->fresh = false;
		req++;
		if (n == 0 && !eof) {
			free(body);
			problem(f->oc, "%s: empty chunk before the end",
			    ff->path);
			goto out;
		}
		f->total += n;
		if (f->total > FETCH_MAX_TOTAL) {
			free(body);
			problem(f->oc, "more than %llu GiB; stopped",
			    FETCH_MAX_TOTAL >> 30);
			goto out;
		}
		r = sink_write(&s, data, n);
		free(body);
		if (r < 0) {
			problem(f->oc, "%s: writing: %s", ff->path,
			    strerror(-r));
			goto out;
		}
	}
	if (!eof) {
		problem(f->oc, "%s: %s (listed %llu bytes, stopped after %llu requests at %llu)",
		    ff->path, s.off > ff->listed ? "still growing" :
		    "the agent sent short chunks",
		    (unsigned long long)ff->listed, (unsigned long long)req,
		    (unsigned long long)s.off);
		ret = EX_DONE;
		goto out;
	}
	if ((r = sink_finish(&s, ff)) < 0) {
		problem(f->oc, "%s: writing: %s", ff->path, strerror(-r));
		goto out;
	}
	ff->have = true;
	f->oc->files++;
	f->oc->bytes += ff->size;
	ret = EX_DONE;
out:
	if (s.fd >= 0)
		close(s.fd);
	return ret;
}

/* DIR must be new or empty: the fetched directory is exactly the evidence. */
static int
open_outdir(const char *dir, bool *created)
{
	struct dirent *de;
	DIR *d;
	int fd, fd2, n = 0;

	*created = false;
	if (mkdir(dir, 0700) == 0)
		*created = true;
	else if (errno != EEXIST)
		return -errno;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (*created)
		return fd;
	fd2 = dup(fd);
	d = fd2 >= 0 ? fdopendir(fd2) : NULL;
	if (d == NULL) {
		if (fd2 >= 0)
			close(fd2);
		close(fd);
		return -EIO;
	}
	/* three entries are enough to know: ".", ".." and one more */
	while (n < 3 && (de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n = 3;
	closedir(d);
	if (n == 3) {
		close(fd);
		return -ENOTEMPTY;
	}
	return fd;
}

static void
print_outcome(struct ctl *c, const char *verb, const char *agent,
    const char *evid, const char *dir, const struct outcome *oc)
{
	json_t *o;

	if (c->json) {
		o = json_pack("{s:s, s:s?, s:s, s:I, s:I, s:b, s:b, s:I, s:I, "
		    "s:I, s:O, s:O}",
		    "agent", agent, "evidence", evid, "dir", dir,
		    "files", (json_int_t)oc->files,
		    "bytes", (json_int_t)oc->bytes,
		    "signature", oc->signature, "manifest", oc->trusted,
		    "verified", (json_int_t)oc->verified,
		    "matched", (json_int_t)oc->matched,
		    "total", (json_int_t)oc->total,
		    "problems", oc->problems, "notes", oc->notes);
		if (o != NULL) {
			json_dumpf(o, stdout, JSON_INDENT(2) |
			    JSON_PRESERVE_ORDER);
			putchar('\n');
		}
		json_decref(o);
		return;
	}
	printf("%s %zu files (%llu bytes) from %.16s %s %s: ", verb, oc->files,
	    (unsigned long long)oc->bytes, agent,
	    strcmp(verb, "fetched") == 0 ? "into" : "in", dir);
	if (oc->trusted)
		printf("manifest signature OK, %zu/%zu artifacts verified\n",
		    oc->verified, oc->total);
	else
		printf("manifest %s, %zu/%zu artifacts match the unverified manifest\n",
		    oc->signature ? "signature OK but manifest.jsonl differs" :
		    "signature NOT VERIFIED", oc->matched, oc->total);
}

/* --verify DIR --agent-key FILE: step 5 alone, on a directory at hand. */
static int
verify_offline(struct ctl *c, const char *dir, const char *keyfile,
    struct outcome *oc)
{
	char agent[KK_AGENT_ID_HEX + 1];
	struct fset fs = { 0 };
	EVP_PKEY *k = NULL;
	size_t cap = 0, seen = 0, i;
	int dfd = -1, r, ret = EX_FAILED;

	if ((r = kk_key_load_public(keyfile, &k)) < 0) {
		fail_line("%s: not an Ed25519 public key or certificate",
		    keyfile);
		goto out;
	}
	kk_key_id(k, agent);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		fail_line("%s: %s", dir, strerror(errno));
		goto out;
	}
	if (walk(dfd, "", 0, &fs, &cap, &seen, oc) == -ENOMEM) {
		fail_line("out of memory");
		goto out;
	}
	for (i = 0; i < fs.n; i++) {
		if (!fs.v[i].have)
			continue;
		oc->files++;
		oc->bytes += fs.v[i].size;
	}
	verify(dfd, &fs, k, agent, oc);
	print_outcome(c, "checked", agent, NULL, dir, oc);
	ret = json_array_size(oc->problems) ? EX_FAILED : EX_DONE;
out:
	if (dfd >= 0)
		close(dfd);
	fset_free(&fs);
	EVP_PKEY_free(k);
	return ret;
}

int
cmd_fetch(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "ca", required_argument, NULL, 'C' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'y' },
		{ "agent-id", required_argument, NULL, 'a' },
		{ "keyid", required_argument, NULL, 'K' },
		{ "id", required_argument, NULL, 'i' },
		{ "ttl", required_argument, NULL, 'T' },
		{ "timeout", required_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'J' },
		{ "verify", required_argument, NULL, 'V' },
		{ "agent-key", required_argument, NULL, 'A' },
		{ NULL, 0, NULL, 0 },
	};
	const char *to = NULL, *ca = NULL, *cert = NULL, *key = NULL;
	const char *pin = NULL, *signfile = NULL, *keyid = NULL, *outdir = NULL;
	const char *vdir = NULL, *agentkey = NULL;
	char err[300], e[200], hint[KK_KEYID_MAX];
	struct outcome oc = { 0 };
	struct fetch f = { .ttl = DEFAULT_TTL };
	struct fset fs = { 0 };
	SSL_CTX *ctx = NULL;
	json_t *files = NULL;
	long timeout = DEFAULT_TIMEOUT;
	size_t i;
	bool created = false, report = false;
	char *end;
	int ch, fd = -1, dfd = -1, r, ret = EX_USAGE;

	oc.problems = json_array();
	oc.notes = json_array();
	f.oc = &oc;
	if (oc.problems == NULL || oc.notes == NULL) {
		ret = EX_FAILED;
		goto out;
	}
	optind = 1;
	while ((ch = getopt_long(argc, argv, "k:o:", opts, NULL)) != -1) {
		switch (ch) {
		case 't': to = optarg; break;
		case 'C': ca = optarg; break;
		case 'c': cert = optarg; break;
		case 'y': key = optarg; break;
		case 'a': pin = optarg; break;
		case 'k': signfile = optarg; break;
		case 'K': keyid = optarg; break;
		case 'i': f.evid = optarg; break;
		case 'o': outdir = optarg; break;
		case 'J': c->json = true; break;
		case 'V': vdir = optarg; break;
		case 'A': agentkey = optarg; break;
		case 'T':
			f.ttl = strtol(optarg, &end, 10);
			if (*end != '\0' || f.ttl <= 0 || f.ttl > 7 * 86400)
				goto out;
			break;
		case 'w':
			timeout = strtol(optarg, &end, 10);
			if (*end != '\0' || timeout < 1 || timeout > 3600)
				goto out;
			break;
		default:
			goto out;
		}
	}
	if (optind != argc)
		goto out;
	if (vdir != NULL) {
		/* offline: nothing of the network side applies */
		if (agentkey == NULL || to || ca || cert || key || pin ||
		    signfile || keyid || f.evid || outdir)
			goto out;
		ret = verify_offline(c, vdir, agentkey, &oc);
		goto out;
	}
	if (to == NULL || cert == NULL || key == NULL || signfile == NULL ||
	    f.evid == NULL || outdir == NULL || agentkey != NULL)
		goto out;
	if (pin && (strlen(pin) != KK_AGENT_ID_HEX || !is_hex64(pin))) {
		fail_line("--agent-id must be %d lowercase hex digits",
		    KK_AGENT_ID_HEX);
		goto out;
	}
	if (pin == NULL) {
		fail_line("give --agent-id: the fetch command is signed for that agent, and only that agent may answer");
		goto out;
	}
	if (!evid_ok(f.evid)) {
		fail_line("--id: an evidence id is 1..%d of [A-Za-z0-9._-]",
		    EVID_MAX);
		goto out;
	}
	ret = EX_FAILED;
	if ((r = kk_key_load_private(signfile, &f.signkey)) < 0) {
		fail_line("%s: %s", signfile, strerror(-r));
		goto out;
	}
	f.keyid = keyid ? keyid : key_hint(signfile, hint, sizeof(hint));
	/* before connecting: a full DIR should not cost the agent anything */
	if ((dfd = open_outdir(outdir, &created)) < 0) {
		fail_line("%s: %s", outdir, dfd == -ENOTEMPTY ?
		    "exists and is not empty" : strerror(-dfd));
		goto out;
	}
	/* an agent that hangs up must be an error message, not a SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	ctx = kk_tls_client_ctx(cert, key, ca, err, sizeof(err));
	if (ctx == NULL) {
		fail_line("%s", err);
		goto out;
	}
	report = true;
	ret = EX_UNREACHABLE;
	fd = tcp_connect(to, (int)timeout * 1000, err, sizeof(err));
	if (fd < 0) {
		problem(&oc, "%s", err);
		goto out;
	}
	f.ssl = SSL_new(ctx);
	if (f.ssl == NULL || SSL_set_fd(f.ssl, fd) != 1) {
		problem(&oc, "out of memory");
		ret = EX_FAILED;
		goto out;
	}
	ERR_clear_error();
	if (SSL_connect(f.ssl) != 1) {
		problem(&oc, "%s: TLS: %s", to, kk_tls_error(e, sizeof(e)));
		goto out;
	}
	/*
	 * The fetch command is signed for the agent named by --agent-id;
	 * whoever answers must be that identity, in CA mode too.
	 */
	if ((ret = agent_identity(f.ssl, ca != NULL, pin, &f.agent_key,
	    f.agent, err, sizeof(err))) != EX_DONE) {
		problem(&oc, "%s: %s", to, err);
		goto out;
	}
	if ((ret = grant(&f, &files)) != EX_DONE)
		goto out;
	f.fresh = true;
	ret = EX_FAILED;
	if (parse_listing(files, &fs, &oc) < 0)
		goto out;
	for (i = 0; i < fs.n; i++)
		if ((ret = fetch_file(&f, dfd, &fs.v[i])) != EX_DONE)
			goto out;
	/* names of new files reach the disk with the files */
	fsync(dfd);
	SSL_shutdown(f.ssl);
	verify(dfd, &fs, f.agent_key, f.agent, &oc);
	ret = json_array_size(oc.problems) ? EX_FAILED : EX_DONE;
	print_outcome(c, "fetched", f.agent, f.evid, outdir, &oc);
	report = false;
out:
	/* a transfer that ended early is not verified; JSON still answers */
	if (report && c->json)
		print_outcome(c, "fetched", f.agent[0] ? f.agent :
		    pin ? pin : "", f.evid, outdir, &oc);
	if (f.ssl)
		SSL_free(f.ssl);
	if (fd >= 0)
		close(fd);
	/* nothing fetched into a directory we made: leave no trace */
	if (dfd >= 0) {
		close(dfd);
		if (created && oc.files == 0)
			rmdir(outdir);	/* fails, as it should, unless empty */
	}
	EVP_PKEY_free(f.agent_key);
	SSL_CTX_free(ctx);
	EVP_PKEY_free(f.signkey);
	json_decref(files);
	fset_free(&fs);
	json_decref(oc.problems);
	json_decref(oc.notes);
	return ret;
}
