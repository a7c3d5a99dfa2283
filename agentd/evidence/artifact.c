/*
 * Evidence artifacts: files written into the evidence directory with their
 * SHA-256 computed on the way, so nothing has to be read back to hash it.
 *
 * A large copy (a memory image) hashes in a second thread: the writer
 * hands a filled buffer over and goes on reading into the next one of a
 * small ring, so hashing costs wall time only where it is slower than the
 * copy itself.  The ring is there for busy machines: with two buffers
 * the writer and the hasher wait for each other at every buffer, and
 * each wait costs a trip through the scheduler.  For the same reason a
 * writer that fills the ring waits until half of it is hashed, not for
 * the next buffer, and the buffers are 1 MiB: on a 2-CPU VM whose other
 * CPU was slow to wake (memory compaction running), a GiB took 2.3-2.8 s
 * with a wakeup every 256 KiB and 1.3 s this way; on the same VM quiet,
 * 729-752 ms against 756-776 ms.
 * The copy can read straight into the buffer the hasher takes next
 * (kk_sink_space, kk_sink_commit): the bytes are then written to the file
 * from there and never copied in memory a third time.
 * Holes (pages a process never touched) stay holes in the file and are
 * hashed as zeros.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* the streaming SHA-256 functions: see util.c for why not EVP */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "evidence.h"
#include "procstat.h"
#include "wire.h"

#define SINK_BUF	(1024U << 10)	/* one buffer of the ring */
#define SINK_NBUF	4		/* buffers in the ring */

static const uint8_t zeros[65536];

struct sink_buf {
	uint8_t *data;
	size_t len;		/* bytes of data */
};

struct kk_sink {
	int fd;
	char rel[KK_ART_PATH_MAX];
	SHA256_CTX sha;
	uint64_t off;
	int err;		/* first write error */

	/* pipelined hashing: a ring, filled in order, hashed in order */
	bool piped;
	pthread_t thr;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct sink_buf buf[SINK_NBUF];
	int fill;		/* index being filled by the writer */
	bool pending[SINK_NBUF];	/* handed to the hasher, not hashed */
	int npending;		/* how many are */
	bool stop;
};

static void
hash_zeros(SHA256_CTX *c, uint64_t n)
{
	while (n > 0) {
		size_t k = n > sizeof(zeros) ? sizeof(zeros) : (size_t)n;

		SHA256_Update(c, zeros, k);
		n -= k;
	}
}

static void *
hasher(void *arg)
{
	struct kk_sink *s = arg;
	int i = 0;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->pending[i] && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		if (!s->pending[i] && s->stop)
			break;
		pthread_mutex_unlock(&s->mu);
		SHA256_Update(&s->sha, s->buf[i].data, s->buf[i].len);
		pthread_mutex_lock(&s->mu);
		s->buf[i].len = 0;
		s->pending[i] = false;
		/* the writer waits for half the ring (pipe_flush) or all of it */
		if (--s->npending == SINK_NBUF / 2 || s->npending == 0)
			pthread_cond_broadcast(&s->cv);
		i = (i + 1) % SINK_NBUF;
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Hands the filled buffer to the hasher and waits for the next to be free. */
static void
pipe_flush(struct kk_sink *s)
{
	int f = s->fill;

	if (s->buf[f].len == 0)
		return;
	pthread_mutex_lock(&s->mu);
	s->pending[f] = true;
	s->npending++;
	pthread_cond_broadcast(&s->cv);
	s->fill = (f + 1) % SINK_NBUF;
	/*
	 * A full ring: wait until half of it is hashed, not for each buffer.
	 * Every wakeup is a trip through the scheduler of the other CPU, and
	 * on a virtual machine one can cost more than hashing a buffer.
	 */
	if (s->pending[s->fill])
		while (s->npending > SINK_NBUF / 2)
			pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

/* Waits until everything handed over has been hashed. */
static void
pipe_drain(struct kk_sink *s)
{
	int i;

	pipe_flush(s);
	pthread_mutex_lock(&s->mu);
	/* the hasher takes them in order: the last handed over is last */
	for (i = 0; i < SINK_NBUF; i++)
		while (s->pending[i])
			pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

/* mkdir -p for the directories of rel under dirfd */
static int
make_parents(int dirfd, const char *rel)
{
	char tmp[KK_ART_PATH_MAX];
	char *p;

	if (snprintf(tmp, sizeof(tmp), "%s", rel) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	for (p = tmp + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdirat(dirfd, tmp, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

bool
kk_artifact_rel_ok(const char *rel)
{
	const char *p;

	if (rel[0] == '\0' || rel[0] == '/' || strlen(rel) >= KK_ART_PATH_MAX)
		return false;
	for (p = rel; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\')
			return false;
	/*
	 * no ".." component, and one spelling per file: no "." or empty
	 * component (a worker reporting "collect/./x" beside "collect/x"
	 * would name one file twice, with two hashes)
	 */
	for (p = rel; p; p = strchr(p, '/')) {
		if (*p == '/')
			p++;
		if (*p == '/' || *p == '\0' ||
		    (p[0] == '.' && (p[1] == '/' || p[1] == '\0')) ||
		    (strncmp(p, "..", 2) == 0 && (p[2] == '/' || p[2] == '\0')))
			return false;
	}
	return true;
}

static int
sink_open(int dirfd, const char *rel, bool piped, struct kk_sink **out)
{
	struct kk_sink *s;
	int err, i;

	*out = NULL;
	if (!kk_artifact_rel_ok(rel))
		return -EINVAL;
	if ((err = make_parents(dirfd, rel)) < 0)
		return err;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	snprintf(s->rel, sizeof(s->rel), "%s", rel);
	SHA256_Init(&s->sha);
	s->fd = openat(dirfd, rel, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (s->fd < 0) {
		err = -errno;
		free(s);
		return err;
	}
	if (piped) {
		for (i = 0; i < SINK_NBUF; i++)
			if ((s->buf[i].data = malloc(SINK_BUF)) == NULL)
				goto nopipe;
		pthread_mutex_init(&s->mu, NULL);
		pthread_cond_init(&s->cv, NULL);
		if (pthread_create(&s->thr, NULL, hasher, s) != 0) {
			pthread_mutex_destroy(&s->mu);
			pthread_cond_destroy(&s->cv);
			goto nopipe;
		}
		s->piped = true;
	}
	*out = s;
	return 0;
nopipe:
	/* hashing inline is slower, never wrong */
	for (i = 0; i < SINK_NBUF; i++) {
		free(s->buf[i].data);
		s->buf[i].data = NULL;
	}
	*out = s;
	return 0;
}

int
kk_sink_open(int dirfd, const char *rel, struct kk_sink **out)
{
	return sink_open(dirfd, rel, false, out);
}

int
kk_sink_open_pipelined(int dirfd, const char *rel, struct kk_sink **out)
{
	return sink_open(dirfd, rel, true, out);
}

int
kk_sink_write(struct kk_sink *s, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int err;

	if (s->err)
		return s->err;
	if ((err = kk_write_all(s->fd, p, len)) < 0) {
		s->err = err;
		return err;
	}
	s->off += len;
	if (!s->piped) {
		SHA256_Update(&s->sha, p, len);
		return 0;
	}
	while (len > 0) {
		struct sink_buf *b = &s->buf[s->fill];
		size_t k = SINK_BUF - b->len;

		if (k > len)
			k = len;
		memcpy(b->data + b->len, p, k);
		b->len += k;
		p += k;
		len -= k;
		if (b->len == SINK_BUF)
			pipe_flush(s);
	}
	return 0;
}

void *
kk_sink_space(struct kk_sink *s, size_t *room)
{
	struct sink_buf *b;

	if (!s->piped) {
		/* hashed inline: a scratch buffer, hashed when committed */
		if (s->buf[0].data == NULL &&
		    (s->buf[0].data = malloc(SINK_BUF)) == NULL)
			return NULL;
		*room = SINK_BUF;
		return s->buf[0].data;
	}
	/* a full buffer was handed over: there is always room */
	b = &s->buf[s->fill];
	*room = SINK_BUF - b->len;
	return b->data + b->len;
}

int
kk_sink_commit(struct kk_sink *s, size_t len)
{
	struct sink_buf *b = &s->buf[s->piped ? s->fill : 0];
	size_t at = s->piped ? b->len : 0;
	int err;

	if (s->err)
		return s->err;
	if (b->data == NULL || len > SINK_BUF - at)
		return -EINVAL;		/* no kk_sink_space before: a bug */
	if ((err = kk_write_all(s->fd, b->data + at, len)) < 0) {
		s->err = err;
		return err;
	}
	s->off += len;
	if (!s->piped) {
		SHA256_Update(&s->sha, b->data, len);
		return 0;
	}
	b->len += len;
	if (b->len == SINK_BUF)
		pipe_flush(s);
	return 0;
}

int
kk_sink_hole(struct kk_sink *s, uint64_t len)
{
	if (s->err)
		return s->err;
	if (len == 0)
		return 0;
	if (lseek(s->fd, (off_t)len, SEEK_CUR) < 0) {
		s->err = -errno;
		return s->err;
	}
	if (s->piped)
		pipe_drain(s);
	hash_zeros(&s->sha, len);
	s->off += len;
	return 0;
}

uint64_t
kk_sink_offset(const struct kk_sink *s)
{
	return s->off;
}

int
kk_sink_close(struct kk_sink *s, struct kk_artifact *a, int error)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char was[sizeof(a->error)];
	int err = s->err ? s->err : 0, i;

	if (s->piped) {
		pipe_drain(s);
		pthread_mutex_lock(&s->mu);
		s->stop = true;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->thr, NULL);
		pthread_mutex_destroy(&s->mu);
		pthread_cond_destroy(&s->cv);
	}
	/* a trailing hole only moved the offset: make the size real */
	if (err == 0 && ftruncate(s->fd, (off_t)s->off) < 0)
		err = -errno;
	if (err == 0 && fsync(s->fd) < 0)
		err = -errno;
	if (err < 0) {
		/*
		 * What was written stays, up to the last whole write: a write
		 * that failed half-way may have left part of its chunk, which
		 * neither the size nor the hash cover, so it is cut off (and a
		 * trailing hole, hashed as zeros, is made real).
		 */
		if (ftruncate(s->fd, (off_t)s->off) == 0)
			fsync(s->fd);
	}
	close(s->fd);
	SHA256_Final(md, &s->sha);
	snprintf(a->path, sizeof(a->path), "%s", s->rel);
	a->size = s->off;
	kk_hex(md, sizeof(md), a->sha256);
	if (error == 0 && err != 0) {
		/* the sink's own failure first, then what the caller noted */
		snprintf(was, sizeof(was), "%s", a->error);
		snprintf(a->error, sizeof(a->error), "%s after %llu bytes",
		    strerror(-err), (unsigned long long)s->off);
		if (was[0] != '\0')
			kk_artifact_incomplete(a, "%s", was);
		a->incomplete = true;
		error = err;
	} else if (error != 0) {
		/* the caller's: its own words, if it had any */
		a->incomplete = true;
		if (a->error[0] == '\0')
			snprintf(a->error, sizeof(a->error), "%s after %llu bytes",
			    strerror(-error), (unsigned long long)s->off);
	}
	for (i = 0; i < SINK_NBUF; i++)
		free(s->buf[i].data);
	free(s);
	return error;
}

int
kk_artifact_write(int dirfd, const char *rel, const void *buf, size_t len,
    const char *method, struct kk_artifact *a)
{
	struct kk_sink *s;
	int err;

	if ((err = kk_sink_open(dirfd, rel, &s)) < 0) {
		snprintf(a->path, sizeof(a->path), "%s", rel);
		a->incomplete = true;
		snprintf(a->error, sizeof(a->error), "%s", strerror(-err));
		return err;
	}
	if (method)
		snprintf(a->method, sizeof(a->method), "%s", method);
	err = kk_sink_write(s, buf, len);
	return kk_sink_close(s, a, err);
}

int
kk_artifact_copy_fd(int dirfd, const char *rel, int fd, const char *src,
    uint64_t max, const char *method, struct kk_artifact *a)
{
	struct kk_sink *s = NULL;
	uint8_t *buf = NULL;
	uint64_t total = 0;
	ssize_t n;
	int err = 0;

	if (method)
		snprintf(a->method, sizeof(a->method), "%s", method);
	if ((err = kk_sink_open(dirfd, rel, &s)) < 0) {
		snprintf(a->path, sizeof(a->path), "%s", rel);
		a->incomplete = true;
		snprintf(a->error, sizeof(a->error), "%s", strerror(-err));
		goto out;
	}
	buf = malloc(65536);
	if (buf == NULL) {
		err = kk_sink_close(s, a, -ENOMEM);
		goto out;
	}
	while (total < max) {
		size_t want = max - total < 65536 ? (size_t)(max - total) : 65536;

		n = read(fd, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			snprintf(a->error, sizeof(a->error), "reading %.100s: %s",
			    src, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if ((err = kk_sink_write(s, buf, (size_t)n)) < 0)
			break;
		total += (size_t)n;
	}
	if (err == 0 && total >= max) {
		/* more than the cap: say so instead of hiding the cut */
		n = read(fd, buf, 1);
		if (n > 0) {
			err = -EFBIG;
			snprintf(a->error, sizeof(a->error),
			    "cut at %llu bytes (cap)", (unsigned long long)max);
		}
	}
	err = kk_sink_close(s, a, err);
out:
	free(buf);
	return err;
}

int
kk_artifact_copy_path(int dirfd, const char *rel, const char *src,
    uint64_t max, const char *method, struct kk_artifact *a)
{
	int fd, err;

	if (method)
		snprintf(a->method, sizeof(a->method), "%s", method);
	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		snprintf(a->path, sizeof(a->path), "%s", rel);
		a->incomplete = true;
		snprintf(a->error, sizeof(a->error), "%.100s: %s", src,
		    strerror(-err));
		return err;
	}
	err = kk_artifact_copy_fd(dirfd, rel, fd, src, max, method, a);
	close(fd);
	return err;
}

int
kk_artifact_write_json(int dirfd, const char *rel, json_t *o,
    const char *method, struct kk_artifact *a)
{
	char *text;
	size_t len;
	int err;

	if ((text = kk_json_line(o, JSON_COMPACT | JSON_PRESERVE_ORDER,
	    &len)) == NULL)
		return -ENOMEM;
	err = kk_artifact_write(dirfd, rel, text, len, method, a);
	free(text);
	return err;
}

char *
kk_json_line(const json_t *o, size_t flags, size_t *len)
{
	char *text, *grown;
	size_t n;

	if ((text = json_dumps(o, flags)) == NULL)
		return NULL;
	n = strlen(text);
	if ((grown = realloc(text, n + 2)) == NULL) {
		free(text);
		return NULL;
	}
	memcpy(grown + n, "\n", 2);
	*len = n + 1;
	return grown;
}

int
kk_json_put_line(int fd, json_t *o, size_t flags)
{
	char *text = NULL;
	size_t len;
	int r = -ENOMEM;

	if (o != NULL && (text = kk_json_line(o, flags, &len)) != NULL)
		r = kk_write_all(fd, text, len);
	json_decref(o);
	free(text);
	return r;
}

void
kk_artifacts_init(struct kk_artifacts *l)
{
	memset(l, 0, sizeof(*l));
}

void
kk_artifacts_free(struct kk_artifacts *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		json_decref(l->v[i].gaps);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void
kk_artifacts_begin(struct kk_artifacts *l, const char *rel)
{
	if (l->on_begin != NULL)
		l->on_begin(rel, l->on_add_arg);
}

int
kk_grow(void *vp, size_t *cap, size_t n, size_t size, size_t first,
    size_t max)
{
	void *v, *nv;
	size_t ncap;

	if (n >= max)
		return -E2BIG;
	if (n < *cap)
		return 0;
	ncap = *cap == 0 ? first : *cap * 2;
	if (ncap > max)
		ncap = max;
	/* the pointer is copied, not cast: vp points at a typed pointer */
	memcpy(&v, vp, sizeof(v));
	if ((nv = realloc(v, ncap * size)) == NULL)
		return -ENOMEM;
	memcpy(vp, &nv, sizeof(nv));
	*cap = ncap;
	return 0;
}

int
kk_artifacts_add(struct kk_artifacts *l, struct kk_artifact *a)
{
	int err;

	if ((err = kk_grow(&l->v, &l->cap, l->n, sizeof(*l->v), 16,
	    KK_ART_MAX)) < 0)
		return err;
	l->v[l->n++] = *a;
	a->gaps = NULL;
	if (l->on_add != NULL)
		l->on_add(&l->v[l->n - 1], l->on_add_arg);
	return 0;
}

static void
vnote(struct kk_artifact *a, const char *fmt, va_list ap)
{
	size_t at = strnlen(a->error, sizeof(a->error) - 1);

	if (at > 0) {
		/* no room for "; " and a character of the reason: none added */
		if (at + 3 >= sizeof(a->error))
			return;
		memcpy(a->error + at, "; ", 3);
		at += 2;
	}
	vsnprintf(a->error + at, sizeof(a->error) - at, fmt, ap);
}

void
kk_artifact_note(struct kk_artifact *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vnote(a, fmt, ap);
	va_end(ap);
}

void
kk_artifact_incomplete(struct kk_artifact *a, const char *fmt, ...)
{
	va_list ap;

	a->incomplete = true;
	va_start(ap, fmt);
	vnote(a, fmt, ap);
	va_end(ap);
}

int
kk_artifact_gap(struct kk_artifact *a, uint64_t offset, uint64_t length,
    const char *why)
{
	json_t *g;

	if (a->gaps == NULL && (a->gaps = json_array()) == NULL)
		return -ENOMEM;
	/* a pathological target cannot grow the manifest without bound */
	if (json_array_size(a->gaps) >= KK_ART_GAPS_MAX)
		return -E2BIG;
	g = json_pack("{s:I, s:I, s:s}", KW_OFFSET, (json_int_t)offset,
	    KW_LENGTH, (json_int_t)length, KW_WHY, why ? why : "unreadable");
	if (g == NULL)
		return -ENOMEM;
	return json_array_append_new(a->gaps, g) == 0 ? 0 : -ENOMEM;
}

int
kk_proc_start_time(pid_t pid, unsigned long long *out)
{
	struct kk_pstat st;
	int err;

	*out = 0;
	if ((err = kk_pstat_read(pid, 0, &st)) < 0)
		return err;
	*out = st.f[KK_PSTAT_START];
	return 0;
}

/*
 * Reads a whole /proc file (their st_size is 0, so by growing a buffer),
 * NUL-terminated.  Past max: -E2BIG, or with cut, what was read and
 * *cut set.
 */
static int
read_text(const char *path, size_t max, char **out, size_t *outlen,
    bool *cut)
{
	char *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd, err = 0, intr = 0;

	*out = NULL;
	*outlen = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (cap - len < 4096) {
			if (cap >= max && cut != NULL) {
				*cut = true;
				break;
			}
			if (cap >= max) {
				err = -E2BIG;
				goto out;
			}
			cap = cap ? cap * 2 : 16384;
			if (cap > max)
				cap = max;
			if ((nb = realloc(buf, cap + 1)) == NULL) {
				err = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR && ++intr < 64)
			continue;
		if (n < 0) {
			err = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (buf == NULL && (buf = malloc(1)) == NULL) {
		err = -ENOMEM;
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return err;
}

int
kk_read_text(const char *path, size_t max, char **out, size_t *outlen)
{
	return read_text(path, max, out, outlen, NULL);
}

int
kk_read_text_head(const char *path, size_t max, char **out, size_t *outlen,
    bool *cut)
{
	*cut = false;
	return read_text(path, max, out, outlen, cut);
}

json_t *
kk_json_strn(const char *p, size_t n)
{
	json_t *s;
	char *q;
	size_t i, k = 0;

	if ((s = json_stringn(p, n)) != NULL)
		return s;
	if (n > SIZE_MAX / 4 - 1 || (q = malloc(n * 4 + 1)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch >= 0x20 && ch < 0x7f) {
			q[k++] = (char)ch;
		} else {
			q[k++] = '\\';
			q[k++] = 'x';
			kk_hex(&ch, 1, q + k);	/* room for its NUL: 4n + 1 */
			k += 2;
		}
	}
	s = json_stringn(q, k);
	free(q);
	return s;
}

json_t *
kk_json_str(const char *s)
{
	return kk_json_strn(s, strlen(s));
}
