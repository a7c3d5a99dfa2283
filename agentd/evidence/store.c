/*
 * The evidence store: state_dir/evidence/<incident or command id>/ holds
 * the artifacts, manifest.jsonl (one line per artifact, appended, never
 * rewritten) and manifest.dsse.
 *
 * manifest.dsse is a DSSE envelope signed by the agent key whose payload
 * (KK_PT_MANIFEST) names manifest.jsonl with its size, line count and
 * SHA-256.  The manifest's lines carry every artifact's SHA-256, so one
 * signature covers them all, and the envelope stays small however many
 * artifacts an incident collects.  It is re-signed after every append and
 * replaced atomically: a reader sees the old or the new one, never half.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "evidence.h"
#include "sign.h"
#include "wire.h"

static json_t *
entry(const struct kk_manifest_ctx *ctx, const struct kk_artifact *a,
    const char *now)
{
	json_t *o;

	o = json_pack("{s:s, s:I, s:s, s:s, s:b}",
	    KW_PATH, a->path, KW_SIZE, (json_int_t)a->size,
	    KW_SHA256, a->sha256,
	    KW_METHOD, a->method[0] ? a->method : "unknown",
	    KW_INCOMPLETE, a->incomplete);
	if (o == NULL)
		return NULL;
	if (a->pid > 0) {
		json_object_set_new(o, KW_PID, json_integer(a->pid));
		json_object_set_new(o, KW_START_TIME,
		    json_integer((json_int_t)a->start_time));
	}
	json_object_set_new(o, KW_GAPS, a->gaps ? json_copy(a->gaps) :
	    json_array());
	if (a->error[0])
		json_object_set_new(o, KW_ERROR, json_string(a->error));
	json_object_set_new(o, KW_COMMAND, json_string(ctx->command));
	json_object_set_new(o, KW_BOOT_ID, json_string(ctx->boot_id));
	json_object_set_new(o, KW_TIME, json_string(now));
	json_object_set_new(o, KW_AGENT, json_string(ctx->agent_id));
	json_object_set_new(o, KW_AGENT_VERSION, json_string(ctx->agent_version));
	return o;
}

/* What the manifest's hash passed: its bytes and its lines. */
struct manifest_count {
	size_t size;
	size_t lines;
};

static void
count_manifest(const void *chunk, size_t len, void *arg)
{
	const unsigned char *p = chunk;
	struct manifest_count *mc = arg;
	size_t i;

	for (i = 0; i < len; i++)
		mc->lines += p[i] == '\n';
	mc->size += len;
}

/*
 * manifest.jsonl hashed as it is read, and its lines counted: an
 * incident's manifest grows with every command, and no size of it may
 * stop it being signed (the signature would no longer cover it).
 */
static int
hash_manifest(int dirfd, char hash[65], size_t *size, size_t *lines)
{
	struct manifest_count mc = { 0, 0 };
	int fd, r;

	*size = *lines = 0;
	fd = openat(dirfd, "manifest.jsonl", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	r = kk_fd_sha256_each(fd, UINT64_MAX, count_manifest, &mc, hash);
	close(fd);
	if (r < 0)
		return r;
	*size = mc.size;
	*lines = mc.lines;
	return 0;
}

/*
 * manifest.dsse: text and a newline, through a temporary file renamed
 * over it, so that a reader sees the old envelope or the new one.
 */
static int
write_dsse(int dirfd, const char *text)
{
	int fd, r;

	unlinkat(dirfd, "manifest.dsse.tmp", 0);
	fd = openat(dirfd, "manifest.dsse.tmp", O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if ((r = kk_write_all(fd, text, strlen(text))) < 0 ||
	    (r = kk_write_all(fd, "\n", 1)) < 0 ||
	    (fsync(fd) < 0 && (r = -errno) < 0) ||
	    (renameat(dirfd, "manifest.dsse.tmp", dirfd, "manifest.dsse") < 0 &&
	    (r = -errno) < 0))
		unlinkat(dirfd, "manifest.dsse.tmp", 0);
	else
		fsync(dirfd);
	close(fd);
	return r;
}

static int
sign_manifest(int dirfd, const struct kk_manifest_ctx *ctx, EVP_PKEY *key,
    const char *keyid, char *err, size_t errlen)
{
	char *text = NULL, *payload = NULL, hash[65], now[40];
	size_t mlen, lines;
	json_t *o = NULL;
	int r;

	if ((r = hash_manifest(dirfd, hash, &mlen, &lines)) < 0) {
		snprintf(err, errlen, "manifest.jsonl: %s", strerror(-r));
		return r;
	}
	if (ctx->sha256 != NULL)
		memcpy(ctx->sha256, hash, sizeof(hash));
	kk_rfc3339(time(NULL), now, sizeof(now));
	/*
	 * The evidence id signed in: chunks pass the unprivileged network
	 * child, which could answer a fetch of one evidence set with the
	 * files and signed manifest of another it carried before.
	 */
	o = json_pack("{s:i, s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s}",
	    KW_V, 1, KW_MANIFEST, "manifest.jsonl", KW_SHA256, hash,
	    KW_SIZE, (json_int_t)mlen, KW_ENTRIES, (json_int_t)lines,
	    KW_AGENT, ctx->agent_id, KW_EVIDENCE, ctx->evidence ?
	    ctx->evidence : "", KW_BOOT_ID, ctx->boot_id, KW_SIGNED, now);
	payload = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (payload == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = kk_envelope_seal(KK_PT_MANIFEST, (uint8_t *)payload,
	    strlen(payload), keyid, key, &text)) < 0) {
		snprintf(err, errlen, "signing the manifest: %s", strerror(-r));
		goto out;
	}
	if ((r = write_dsse(dirfd, text)) < 0)
		snprintf(err, errlen, "manifest.dsse: %s", strerror(-r));
out:
	json_decref(o);
	free(payload);
	free(text);
	return r;
}

int
kk_manifest_append(int dirfd, const struct kk_manifest_ctx *ctx,
    const struct kk_artifacts *arts, EVP_PKEY *key, const char *keyid,
    char *err, size_t errlen)
{
	char now[40];
	size_t i;
	off_t start;
	int fd, r = 0;

	kk_rfc3339(time(NULL), now, sizeof(now));
	fd = openat(dirfd, "manifest.jsonl", O_WRONLY | O_CREAT | O_APPEND |
	    O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "manifest.jsonl: %s", strerror(errno));
		return r;
	}
	start = lseek(fd, 0, SEEK_END);
	for (i = 0; i < arts->n; i++) {
		if ((r = kk_json_put_line(fd, entry(ctx, &arts->v[i], now),
		    JSON_COMPACT | JSON_PRESERVE_ORDER)) < 0)
			break;
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r < 0) {
		/* never leave half a line: the manifest stays what it was */
		if (start >= 0 && ftruncate(fd, start) == 0)
			fsync(fd);
		snprintf(err, errlen, "manifest.jsonl: %s", strerror(-r));
		close(fd);
		return r;
	}
	/*
	 * Unsigned lines would leave the old signature over a file it no
	 * longer covers, and every later append failing the same way: what
	 * cannot be signed is taken back out, the manifest stays verifiable.
	 */
	if ((r = sign_manifest(dirfd, ctx, key, keyid, err, errlen)) < 0 &&
	    start >= 0 && ftruncate(fd, start) == 0)
		fsync(fd);
	close(fd);
	return r;
}

/* ---- reading the store ---- */

int
kk_evidence_openat(int dfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
		.mode = (flags & O_CREAT) ? (uint64_t)mode : 0,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
		    RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};

	return (int)syscall(SYS_openat2, dfd, path, &how, sizeof(how));
}

int
kk_evidence_open(int dfd, const char *path, int flags)
{
	return kk_evidence_openat(dfd, path, flags, 0);
}

/* ---- one bounded walk of an evidence directory ---- */

struct walker {
	const struct kk_walk *w;
	size_t left;			/* entries still to be looked at */
	char path[PATH_MAX];
	size_t len;			/* of path */
};

/* A directory stream on a dup of fd (just opened): 0 or a -errno. */
static int
dir_of(int fd, DIR **dir)
{
	int dfd, r;

	if ((dfd = dup(fd)) < 0)
		return -errno;
	if ((*dir = fdopendir(dfd)) == NULL) {
		r = -errno;
		close(dfd);
		return r;
	}
	return 0;
}

/*
 * The entries of the directory fd, read from dir (closed here), depth
 * levels below the top.  0, or what stopped the walk.
 */
static int
walk_dir(struct walker *k, DIR *dir, int fd, int depth)
{
	const struct kk_walk *w = k->w;
	struct kk_walk_ent e;
	struct dirent *de;
	struct stat st;
	size_t len = k->len, nlen;
	DIR *sub;
	int r = 0, rsub;

	while (r == 0 && (de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		/* a worker may have made millions of anything */
		if (k->left == 0) {
			r = -E2BIG;
			break;
		}
		k->left--;
		if (w->pass_over != NULL &&
		    strstr(de->d_name, w->pass_over) != NULL)
			continue;
		memset(&e, 0, sizeof(e));
		e.dfd = fd;
		e.name = de->d_name;
		e.path = k->path;
		e.depth = depth;
		e.fd = -1;
		nlen = strlen(de->d_name);
		if (len + (len > 0) + nlen + 1 > w->path_max ||
		    len + (len > 0) + nlen + 1 > sizeof(k->path)) {
			/* nor is anything below it looked at */
			e.path = NULL;
			e.err = -ENAMETOOLONG;
			r = w->visit(&e, w->arg);
			continue;
		}
		k->len = len;
		if (len > 0)
			k->path[k->len++] = '/';
		memcpy(k->path + k->len, de->d_name, nlen + 1);
		k->len += nlen;
		/* the entry itself, never what a link points to */
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			e.err = -errno;
		} else if (S_ISDIR(st.st_mode)) {
			e.st = &st;
			/*
			 * No link, no other mount, and never blocking: a fifo
			 * put there since the fstatat is not opened (ENOTDIR).
			 */
			rsub = 0;
			e.fd = kk_evidence_openat(fd, de->d_name, O_RDONLY |
			    O_DIRECTORY | O_NONBLOCK, 0);
			if (e.fd < 0)
				e.err = -errno;
			else if (depth >= w->max_depth)
				e.err = -ELOOP;
			else if ((e.err = dir_of(e.fd, &sub)) == 0)
				rsub = walk_dir(k, sub, e.fd, depth + 1);
			/* after its contents, also when they stopped the walk */
			r = w->visit(&e, w->arg);
			if (rsub < 0)
				r = rsub;
			if (e.fd >= 0)
				close(e.fd);
			e.fd = -1;
			k->path[k->len] = '\0';
			continue;
		} else {
			e.st = &st;
		}
		r = w->visit(&e, w->arg);
	}
	k->len = len;
	k->path[len] = '\0';
	closedir(dir);
	return r;
}

int
kk_evidence_walk(int dfd, const char *rel, const struct kk_walk *w)
{
	struct walker k;
	DIR *dir;
	int fd, r;

	memset(&k, 0, sizeof(k));
	k.w = w;
	k.left = w->entries;
	/* (one longer than path_max: its entries are all passed over) */
	if ((k.len = strlen(rel)) >= sizeof(k.path))
		return -ENAMETOOLONG;
	memcpy(k.path, rel, k.len + 1);
	/* opened again, not dup'ed: read from its start, dfd's offset kept */
	fd = kk_evidence_open(dfd, rel[0] ? rel : ".", O_RDONLY | O_DIRECTORY |
	    O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if ((r = dir_of(fd, &dir)) == 0)
		r = walk_dir(&k, dir, fd, 0);
	close(fd);
	return r;
}

/* kk_evidence_list's walk */
#define LIST_DEPTH	6
struct listing {
	size_t max;
	json_t *out;
};

static int
list_one(const struct kk_walk_ent *e, void *arg)
{
	struct listing *l = arg;

	/* not to be looked at, or its path too long for an artifact's */
	if (e->st == NULL)
		return 0;
	/* a directory that cannot be read fails the listing; too deep: not */
	if (S_ISDIR(e->st->st_mode))
		return e->err == 0 || e->depth >= LIST_DEPTH ? 0 : e->err;
	if (!S_ISREG(e->st->st_mode))
		return 0;
	if (json_array_size(l->out) >= l->max)
		return -E2BIG;
	json_array_append_new(l->out, json_pack("{s:s, s:I}", KW_PATH,
	    e->path, KW_SIZE, (json_int_t)e->st->st_size));
	return 0;
}

int
kk_evidence_list(int dfd, const char *rel, size_t max, json_t *out)
{
	struct listing l = { max, out };
	struct kk_walk w = {
		.max_depth = LIST_DEPTH,
		/* files, their directories, and what else a worker left */
		.entries = 4 * max + 1024,
		.path_max = KK_ART_PATH_MAX,
		.pass_over = ".tmp",
		.visit = list_one,
		.arg = &l,
	};

	return kk_evidence_walk(dfd, rel, &w);
}
