/*
 * Names for uids, known now or not at all (names.h): the local password
 * file and a bounded cache, never NSS.  The caller (resolver.c) asks the
 * resolver child for what neither knows.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "names.h"

void
kd_names_init(struct kd_names *n, const char *path)
{
	memset(n, 0, sizeof(*n));
	snprintf(n->path, sizeof(n->path), "%s", path);
}

void
kd_names_free(struct kd_names *n)
{
	free(n->file);
	n->file = NULL;
	n->nfile = 0;
	n->ncache = 0;
	n->stamp.have = false;
}

/* the file's order for equal uids: the first line wins, as for NSS files */
struct file_row {
	struct kd_name_file f;
	size_t line;
};

static int
row_cmp(const void *a, const void *b)
{
	const struct file_row *x = a, *y = b;

	if (x->f.uid != y->f.uid)
		return x->f.uid < y->f.uid ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

/*
 * A name of the file worth keeping: not empty, not a NIS compat line
 * ("+name", "-name", "+" alone), cleaned as text and cut.
 */
static bool
file_name(const char *s, char *out, size_t len)
{
	if (s == NULL || s[0] == '\0' || s[0] == '+' || s[0] == '-')
		return false;
	kk_text_clean(out, len, s, strnlen(s, 4096));
	return out[0] != '\0';
}

/*
 * The whole file with fgetpwent(3): the C library's own parser of the
 * format, no NSS module.  Lines it cannot parse it skips; so are names
 * not kept (file_name) and entries past KD_NAMES_FILE_MAX.
 */
static int
read_file(struct kd_names *n, FILE *f)
{
	struct file_row *rows = NULL, *more;
	struct kd_name_file *out = NULL;
	struct passwd *pw;
	size_t nrows = 0, cap = 0, skipped = 0, i, k;

	errno = 0;
	while ((pw = fgetpwent(f)) != NULL) {
		if (nrows == KD_NAMES_FILE_MAX) {
			skipped++;
			continue;
		}
		if (nrows == cap) {
			cap = cap ? cap * 2 : 64;
			if ((more = realloc(rows, cap * sizeof(*rows))) == NULL) {
				free(rows);
				return -ENOMEM;
			}
			rows = more;
		}
		if (!file_name(pw->pw_name, rows[nrows].f.name,
		    sizeof(rows[nrows].f.name)) || pw->pw_uid == (uid_t)-1) {
			skipped++;
			continue;
		}
		rows[nrows].f.uid = pw->pw_uid;
		rows[nrows].line = nrows;
		nrows++;
	}
	if (nrows > 0) {
		qsort(rows, nrows, sizeof(*rows), row_cmp);
		if ((out = calloc(nrows, sizeof(*out))) == NULL) {
			free(rows);
			return -ENOMEM;
		}
	}
	for (i = 0, k = 0; i < nrows; i++) {
		if (k > 0 && out[k - 1].uid == rows[i].f.uid) {
			skipped++;	/* a uid again: the first one counts */
			continue;
		}
		out[k++] = rows[i].f;
	}
	free(rows);
	free(n->file);
	n->file = out;
	n->nfile = k;
	n->file_skipped = skipped;
	return 0;
}

int
kd_names_refresh(struct kd_names *n, uint64_t now, bool force)
{
	struct stat st;
	FILE *f;
	int fd, err;

	if (!force && n->stamp.have && now - n->looked < KD_NAMES_STAT_USEC)
		return 0;
	n->looked = now;
	if ((fd = open(n->path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) < 0) {
		err = -errno;
		if (err == -ENOENT) {
			/* no file: no local names (the cache still answers) */
			free(n->file);
			n->file = NULL;
			n->nfile = 0;
			n->stamp.have = false;
		}
		return err;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		err = S_ISREG(st.st_mode) ? -errno : -EINVAL;
		close(fd);
		return err;
	}
	if (n->stamp.have && n->stamp.dev == st.st_dev &&
	    n->stamp.ino == st.st_ino && n->stamp.size == st.st_size &&
	    n->stamp.mtime.tv_sec == st.st_mtim.tv_sec &&
	    n->stamp.mtime.tv_nsec == st.st_mtim.tv_nsec) {
		close(fd);
		return 0;
	}
	if ((f = fdopen(fd, "re")) == NULL) {
		err = -errno;
		close(fd);
		return err;
	}
	err = read_file(n, f);
	fclose(f);
	if (err < 0)
		return err;
	n->stamp.dev = st.st_dev;
	n->stamp.ino = st.st_ino;
	n->stamp.size = st.st_size;
	n->stamp.mtime = st.st_mtim;
	n->stamp.have = true;
	return 0;
}

static const struct kd_name_file *
file_find(const struct kd_names *n, uid_t uid)
{
	size_t lo = 0, hi = n->nfile, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (n->file[mid].uid == uid)
			return &n->file[mid];
		if (n->file[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static struct kd_name_entry *
cache_find(struct kd_names *n, uid_t uid)
{
	size_t i;

	for (i = 0; i < n->ncache; i++)
		if (n->cache[i].uid == uid)
			return &n->cache[i];
	return NULL;
}

/* An entry's answer is still good: pending, or not expired. */
static bool
fresh(const struct kd_name_entry *e, uint64_t now)
{
	return e->state == KD_NAME_PENDING || now < e->expires;
}

enum kd_name_state
kd_names_get(struct kd_names *n, uid_t uid, uint64_t now, char *name,
    size_t len)
{
	const struct kd_name_file *f;
	struct kd_name_entry *e;

	snprintf(name, len, "?");
	(void)kd_names_refresh(n, now, false);
	if ((f = file_find(n, uid)) != NULL) {
		snprintf(name, len, "%s", f->name);
		return KD_NAME_FOUND;
	}
	if ((e = cache_find(n, uid)) == NULL || !fresh(e, now))
		return KD_NAME_UNKNOWN;
	e->used = now;
	if (e->state == KD_NAME_FOUND)
		snprintf(name, len, "%s", e->name);
	return e->state;
}

size_t
kd_names_pending(const struct kd_names *n)
{
	size_t i, k = 0;

	for (i = 0; i < n->ncache; i++)
		k += n->cache[i].state == KD_NAME_PENDING;
	return k;
}

/* a is to be evicted before b: the expired first, then the least recently used */
static bool
before(const struct kd_name_entry *a, const struct kd_name_entry *b,
    uint64_t now)
{
	if (b == NULL)
		return true;
	if (fresh(a, now) != fresh(b, now))
		return !fresh(a, now);
	return a->used < b->used;
}

/*
 * The entry a new uid of owner takes: a free one; else, when owner holds
 * his share already, his own to be evicted first; else the first to be
 * evicted of all.  Never a pending one (its answer is on its way).  NULL
 * if every candidate is pending.
 */
static struct kd_name_entry *
cache_slot(struct kd_names *n, uid_t owner, uint64_t now)
{
	struct kd_name_entry *e, *lru = NULL, *own = NULL;
	size_t i, mine = 0;

	for (i = 0; i < n->ncache; i++) {
		e = &n->cache[i];
		if (e->owner == owner)
			mine++;
		if (e->state == KD_NAME_PENDING)
			continue;
		if (before(e, lru, now))
			lru = e;
		if (e->owner == owner && before(e, own, now))
			own = e;
	}
	if (mine >= KD_NAMES_CACHE_OWNER)
		return own;
	if (n->ncache < KD_NAMES_CACHE)
		return &n->cache[n->ncache++];
	return lru;
}

int
kd_names_ask(struct kd_names *n, uid_t uid, uid_t owner, uint64_t now)
{
	struct kd_name_entry *e;
	size_t i, all = 0, mine = 0;

	if (file_find(n, uid) != NULL)
		return -EALREADY;
	if ((e = cache_find(n, uid)) != NULL && fresh(e, now))
		return -EALREADY;
	for (i = 0; i < n->ncache; i++) {
		if (n->cache[i].state != KD_NAME_PENDING)
			continue;
		all++;
		mine += n->cache[i].owner == owner;
	}
	if (all >= KD_NAMES_QUEUE || mine >= KD_NAMES_QUEUE_OWNER)
		return -EBUSY;
	if (e == NULL && (e = cache_slot(n, owner, now)) == NULL)
		return -EBUSY;
	memset(e, 0, sizeof(*e));
	e->uid = uid;
	e->owner = owner;
	e->state = KD_NAME_PENDING;
	e->used = now;
	return 0;
}

int
kd_names_answer(struct kd_names *n, const void *body, size_t len,
    uint64_t now, uid_t *uid)
{
	struct kd_name_answer a;
	struct kd_name_entry *e;
	const char *name;
	size_t namelen;

	if (len < sizeof(a) || len > KD_NAME_ANSWER_MAX)
		return -EBADMSG;
	memcpy(&a, body, sizeof(a));
	name = (const char *)body + sizeof(a);
	namelen = len - sizeof(a);
	/* a name only with "found", and then one without a NUL in it */
	if (a.state == KD_NAME_FOUND ? namelen == 0 ||
	    memchr(name, '\0', namelen) != NULL : a.state == KD_NAME_NONE ||
	    a.state == KD_NAME_UNKNOWN ? namelen != 0 : true)
		return -EBADMSG;
	if ((e = cache_find(n, (uid_t)a.uid)) == NULL ||
	    e->state != KD_NAME_PENDING)
		return -ESRCH;
	*uid = e->uid;
	e->state = a.state;
	e->name[0] = '\0';
	switch (a.state) {
	case KD_NAME_FOUND:
		kk_text_clean(e->name, sizeof(e->name), name, namelen);
		e->expires = now + KD_NAMES_FOUND_TTL_USEC;
		break;
	case KD_NAME_NONE:
		e->expires = now + KD_NAMES_NONE_TTL_USEC;
		break;
	default:
		e->expires = now + KD_NAMES_UNKNOWN_TTL_USEC;
		break;
	}
	return (int)e->state;
}

void
kd_names_fail_pending(struct kd_names *n, uint64_t now)
{
	size_t i;

	for (i = 0; i < n->ncache; i++) {
		if (n->cache[i].state != KD_NAME_PENDING)
			continue;
		n->cache[i].state = KD_NAME_UNKNOWN;
		n->cache[i].expires = now + KD_NAMES_UNKNOWN_TTL_USEC;
	}
}

size_t
kd_names_answer_encode(uint8_t *buf, uid_t uid, enum kd_name_state state,
    const char *name)
{
	struct kd_name_answer a = { (uint32_t)uid, (uint32_t)state };
	size_t len = 0;

	if (state == KD_NAME_FOUND && name != NULL)
		len = strnlen(name, KD_NAME_ANSWER_NAME_MAX);
	if (state == KD_NAME_FOUND && len == 0)
		a.state = KD_NAME_NONE;
	memcpy(buf, &a, sizeof(a));
	memcpy(buf + sizeof(a), name != NULL ? name : "", len);
	return sizeof(a) + len;
}

void
kd_name_for_actor(char *dst, size_t len, const char *name)
{
	static const char keep[] = "._-@$\\";
	size_t i;
	unsigned char c;

	if (len == 0)
		return;
	for (i = 0; i < len - 1 && name[i] != '\0'; i++) {
		c = (unsigned char)name[i];
		/* UTF-8 (clean already: kk_text_clean) and a login's ASCII */
		dst[i] = c >= 0x80 || isalnum(c) || strchr(keep, c) != NULL ?
		    (char)c : '?';
	}
	dst[i] = '\0';
}
