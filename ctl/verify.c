/*
 * An evidence directory checked against the agent's signed manifest
 * (DESIGN 7): manifest.dsse must verify with the agent's identity key and
 * name that agent, manifest.jsonl must be what it signed, and every file
 * must match its line, with nothing in the directory that has no line.
 * fetch runs this after a transfer; fetch --verify runs it alone, offline,
 * on a directory at hand with nothing but the agent's public key: the
 * chain of custody can be shown again at any time.
 *
 * The paths and reasons in a manifest and a listing come from the agent:
 * they are checked before anything is opened or written under them, and
 * shown only as printable ASCII.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "jsonutil.h"
#include "kakuri.h"
#include "output.h"
#include "sign.h"
#include "verify.h"
#include "wire.h"

#define MANIFEST_MAX		(64U << 20)	/* the agent's own limit */
#define MANIFEST_MAX_LINES	(1U << 20)
/*
 * A line's bytes and values (kk_json_few_values) before jansson parses
 * it: the lines are parsed even when the signature fails, and jansson
 * spends 40 to 80 times a hostile line's size on it.  A real line is
 * under 1 KiB; one with the most gaps kakurid lists (4,096, artifact.c)
 * about 350 KiB and 29,000 values.
 */
#define MANIFEST_LINE_MAX	(1U << 20)
#define WALK_MAX_DEPTH		FETCH_PATH_DEPTH

/* One line of manifest.jsonl. */
struct mentry {
	char *path;
	uint64_t size;
	char sha256[65];
	bool incomplete;
	char *error;
	size_t line;
};

/* Printable ASCII only: paths and reasons come from the agent. */
static void
sanitize(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

/* One line on stderr and in the JSON document. */
void
outcome_add(json_t *list, const char *fmt, ...)
{
	char buf[640];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sanitize(buf);
	fail_line("fetch: %s", buf);
	json_array_append_new(list, json_string(buf));
}

/*
 * A path the agent names, before anything is written under it: relative,
 * printable ASCII, no empty, "." or ".." components, at most 255 bytes
 * and FETCH_PATH_DEPTH directories.
 */
bool
path_ok(const char *p, size_t len)
{
	size_t i, start = 0, cl, dirs = 0;

	if (len == 0 || len > FETCH_PATH_MAX || strlen(p) != len)
		return false;
	for (i = 0; i <= len; i++) {
		if (i < len && ((unsigned char)p[i] < 0x20 ||
		    (unsigned char)p[i] > 0x7e))
			return false;
		if (i < len && p[i] != '/')
			continue;
		if (i < len && ++dirs > FETCH_PATH_DEPTH)
			return false;
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
int
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
	int fd, r;

	*out = NULL;
	*len = 0;
	fd = open_under(dfd, rel, false);
	if (fd < 0)
		return fd;
	r = kk_read_fd(fd, max, out, len);
	close(fd);
	return r;
}

/* ---- the file set ---- */

int
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

void
fset_free(struct fset *fs)
{
	size_t i;

	for (i = 0; i < fs->n; i++)
		free(fs->v[i].path);
	free(fs->v);
	fs->v = NULL;
	fs->n = 0;
}

static void
count_bytes(const void *chunk, size_t len, void *total)
{
	*(uint64_t *)total += len;
}

/* SHA-256 and size of an open regular file (offline --verify). */
static int
hash_fd(int fd, uint64_t *size, char out[65])
{
	uint64_t total = 0;
	int r;

	/* bounded: a file that keeps growing stops at the evidence cap */
	r = kk_fd_sha256_each(fd, FETCH_MAX_TOTAL, count_bytes, &total, out);
	if (r == 0)
		*size = total;
	return r;
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
			/* verify_dir() says so for the manifest's own two files */
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
		kk_close(fd);
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
	json_t *o = NULL, *p, *sz, *sh, *inc, *err;
	const char *why = NULL;

	memset(e, 0, sizeof(*e));
	if (len > MANIFEST_LINE_MAX) {
		why = "longer than 1 MiB";
		goto out;
	}
	if (!kk_json_few_values(line, len, KK_PAYLOAD_VALUES_MAX)) {
		why = "too many values";
		goto out;
	}
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o)) {
		why = "not a JSON object";
		goto out;
	}
	p = json_object_get(o, KW_PATH);
	sz = json_object_get(o, KW_SIZE);
	sh = json_object_get(o, KW_SHA256);
	inc = json_object_get(o, KW_INCOMPLETE);
	err = json_object_get(o, KW_ERROR);
	if (!json_is_string(p) || !path_ok(json_string_value(p),
	    json_string_length(p))) {
		why = "no valid path";
		goto out;
	}
	if (!json_is_integer(sz) || json_integer_value(sz) < 0) {
		why = "no valid size";
		goto out;
	}
	if (!json_is_string(sh) || !kk_is_hex(json_string_value(sh),
	    json_string_length(sh), 64)) {
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

#define NOT_A_MANIFEST "signed, but the payload is not a kakuri manifest"

static const char *const manifest_open_words[KK_OPEN_NFAILS] = {
	[KK_OPEN_NOT_DSSE] = "not a DSSE envelope",
	[KK_OPEN_UNSIGNED] = "signature does not verify with the agent key",
	[KK_OPEN_TOO_MANY_VALUES] = NOT_A_MANIFEST,
	[KK_OPEN_MALFORMED] = NOT_A_MANIFEST,
};

/*
 * manifest.dsse: payload type, the agent key's signature, then the
 * payload, which names the agent and (from this version on) the evidence
 * id: evid's, if given (fetch --id).  Fills the signed size and SHA-256
 * of manifest.jsonl; sets oc->signature when all of it holds.
 */
static void
check_envelope(int dfd, EVP_PKEY *agent_key, const char *agent_id,
    const char *evid, uint64_t *msize, char msha[65], long long *entries,
    struct outcome *oc)
{
	const char *signed_evid;
	enum kk_open_fail fail;
	char got_type[KK_DSSE_TYPE_MAX];
	json_t *o = NULL, *v;
	char *buf = NULL;
	size_t len;
	bool sig = false;
	int r;

	msha[0] = '\0';
	*entries = -1;
	if ((r = read_small(dfd, "manifest.dsse", KK_ENVELOPE_MAX, &buf,
	    &len)) < 0) {
		problem(oc, "manifest.dsse: %s", read_error(r));
		goto out;
	}
	/* signed by the agent's key, which root there holds: counted too */
	o = kk_envelope_open_code((const uint8_t *)buf, len, KK_PT_MANIFEST,
	    agent_key, &fail, got_type);
	if (o == NULL && fail == KK_OPEN_OTHER_TYPE)
		problem(oc, "manifest.dsse: payload type %s, not %s", got_type,
		    KK_PT_MANIFEST);
	else if (o == NULL)
		problem(oc, "manifest.dsse: %s", manifest_open_words[fail]);
	if (o == NULL)
		goto out;
	v = json_object_get(o, KW_V);
	if (!json_is_object(o) || !json_is_integer(v) ||
	    json_integer_value(v) != 1 ||
	    !json_is_string(json_object_get(o, KW_MANIFEST)) ||
	    strcmp(json_string_value(json_object_get(o, KW_MANIFEST)),
	    "manifest.jsonl") != 0 ||
	    !json_is_string(json_object_get(o, KW_SHA256)) ||
	    !kk_is_hex(json_string_value(json_object_get(o, KW_SHA256)),
	    json_string_length(json_object_get(o, KW_SHA256)), 64) ||
	    !json_is_integer(json_object_get(o, KW_SIZE)) ||
	    json_integer_value(json_object_get(o, KW_SIZE)) < 0 ||
	    !json_is_string(json_object_get(o, KW_AGENT))) {
		problem(oc, "manifest.dsse: %s", NOT_A_MANIFEST);
		goto out;
	}
	memcpy(msha, json_string_value(json_object_get(o, KW_SHA256)), 65);
	*msize = (uint64_t)json_integer_value(json_object_get(o, KW_SIZE));
	if (json_is_integer(json_object_get(o, KW_ENTRIES)))
		*entries = json_integer_value(json_object_get(o, KW_ENTRIES));
	/* the key signed it; the payload must also say it is this agent's */
	if (strcmp(json_string_value(json_object_get(o, KW_AGENT)),
	    agent_id) != 0) {
		problem(oc, "manifest.dsse: names agent %.16s..., not %.16s...",
		    json_string_value(json_object_get(o, KW_AGENT)), agent_id);
		goto out;
	}
	/*
	 * And that it is this evidence set: another one of the agent's,
	 * replayed by its network child, is signed as well.
	 */
	signed_evid = json_string_value(json_object_get(o, KW_EVIDENCE));
	if (signed_evid != NULL && !kk_evidence_id_ok(signed_evid)) {
		problem(oc, "manifest.dsse: names no valid evidence id");
		goto out;
	}
	if (evid != NULL && signed_evid == NULL) {
		problem(oc, "manifest.dsse: names no evidence id (signed by an "
		    "older kakurid): it cannot show it is evidence %s", evid);
		goto out;
	}
	if (evid != NULL && strcmp(signed_evid, evid) != 0) {
		problem(oc, "manifest.dsse: is evidence %s, not %s",
		    signed_evid, evid);
		goto out;
	}
	/* with no id to check against, which one it is */
	if (evid == NULL && signed_evid != NULL)
		outcome_add(oc->notes, "the signed manifest is evidence %s",
		    signed_evid);
	else if (evid == NULL)
		outcome_add(oc->notes, "the signed manifest names no evidence "
		    "id (signed by an older kakurid)");
	sig = true;
out:
	oc->signature = sig;
	json_decref(o);
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

void
verify_dir(int dfd, struct fset *fs, EVP_PKEY *agent_key, const char *agent_id,
    const char *evid, struct outcome *oc)
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
	check_envelope(dfd, agent_key, agent_id, evid, &msize, msha, &entries,
	    oc);
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
			outcome_add(oc->notes, "%s: incomplete: %s", e->path,
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

void
print_outcome(struct ctl *c, const char *verb, const char *agent,
    const char *evid, const char *dir, const struct outcome *oc)
{
	json_t *o;

	if (c->json) {
		o = json_pack("{s:s, s:s?, s:s, s:I, s:I, s:b, s:b, s:I, s:I, "
		    "s:I, s:O, s:O}",
		    KW_AGENT, agent, KW_EVIDENCE, evid, KW_DIR, dir,
		    KW_FILES, (json_int_t)oc->files,
		    KW_BYTES, (json_int_t)oc->bytes,
		    KW_SIGNATURE, oc->signature, KW_MANIFEST, oc->trusted,
		    KW_VERIFIED, (json_int_t)oc->verified,
		    KW_MATCHED, (json_int_t)oc->matched,
		    KW_TOTAL, (json_int_t)oc->total,
		    KW_PROBLEMS, oc->problems, KW_NOTES, oc->notes);
		print_json(o);
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

/*
 * --verify DIR --agent-key FILE [--id ID]: step 5 alone, on a directory
 * at hand; with --id, the signed manifest must name that evidence id.
 */
int
verify_offline(struct ctl *c, const char *dir, const char *keyfile,
    const char *evid, struct outcome *oc)
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
	verify_dir(dfd, &fs, k, agent, evid, oc);
	print_outcome(c, "checked", agent, evid, dir, oc);
	ret = json_array_size(oc->problems) ? EX_FAILED : EX_DONE;
out:
	kk_close(dfd);
	fset_free(&fs);
	EVP_PKEY_free(k);
	return ret;
}

