/*
 * Subordinate uid ranges and their owners (subids.h).
 *
 * /etc/subuid, shadow-utils' format: one range a line, OWNER:START:COUNT,
 * where OWNER is a user name or a uid.  The file is root's, but it is
 * read as untrusted text all the same: lines that are not a range and
 * ranges that overflow are skipped and counted.  A name NSS does not know
 * (yet: kakurid starts before sssd and LDAP) keeps its range, owned by
 * the range's first uid: its uids are one user still, not 65,536.  The
 * ranges are kept sorted by start; a uid in two of them (a file that
 * gives it to two users) belongs to the one that starts last.  Names are
 * looked up here, at start and at a reload, never while a request waits.
 * The file is read again when it changed (useradd gives each new user a
 * range), looked at once a second at most when a local peer connects:
 * then a line keeps the owner it had, and a new one is its own user.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kakuri.h"
#include "log.h"
#include "subids.h"

struct subid_range {
	uint32_t start, count;
	uid_t owner;
	uint64_t name;		/* a hash of the owner's name; 0: a uid */
	uint64_t reach;		/* the highest end of this range and those before */
};

static struct subid_range *ranges;
static size_t nranges, nunnamed;
/* the file the ranges came from, to see it change */
static struct stat loaded;
static uint64_t looked_ms;

static int
range_cmp(const void *a, const void *b)
{
	const struct subid_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* A decimal uid_t of len bytes; false if it is none. */
static bool
number(const char *s, size_t len, uint32_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 10)
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > UINT32_MAX - 1)		/* (uid_t)-1 is nobody's */
		return false;
	*out = (uint32_t)v;
	return true;
}

/* How many ranges (sorted by start) start before v, or at it too. */
static size_t
ranges_before(uint32_t v, bool at_too)
{
	size_t lo = 0, hi = nranges, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (ranges[mid].start < v || (at_too && ranges[mid].start == v))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* FNV-1a of a name: a line's owner told apart without keeping it. */
static uint64_t
name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h | 1;		/* never 0, which is a uid's */
}

/*
 * The owner the ranges in force give the same line (start, count and
 * owner's name: a range freed and given to another user is not the
 * same), that stood there before a change: NSS is asked at start and at
 * a reload only.  (uid_t)-1 if there is none.
 */
static uid_t
owner_before(uint32_t start, uint32_t count, uint64_t name)
{
	size_t lo;

	for (lo = ranges_before(start, false); lo < nranges &&
	    ranges[lo].start == start; lo++)
		if (ranges[lo].count == count && ranges[lo].name == name)
			return ranges[lo].owner;
	return (uid_t)-1;
}

/*
 * One line's range; false if it is not one.  *unnamed: its owner's name
 * is not known (to NSS, or, without nss, to the ranges in force).
 */
static bool
parse_line(const char *s, size_t len, struct subid_range *r, bool *unnamed,
    bool nss)
{
	const char *c1, *c2;
	char name[256];
	struct passwd *pw;
	uint32_t owner;

	if ((c1 = memchr(s, ':', len)) == NULL ||
	    (c2 = memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - s))) == NULL ||
	    !number(c1 + 1, (size_t)(c2 - c1 - 1), &r->start) ||
	    !number(c2 + 1, len - (size_t)(c2 + 1 - s), &r->count) ||
	    r->count == 0 || (uint64_t)r->start + r->count > UINT32_MAX ||
	    c1 == s || (size_t)(c1 - s) >= sizeof(name))
		return false;
	r->name = 0;
	if (number(s, (size_t)(c1 - s), &owner)) {
		r->owner = (uid_t)owner;
		return true;
	}
	memcpy(name, s, (size_t)(c1 - s));
	name[c1 - s] = '\0';
	r->name = name_hash(name);
	r->owner = (uid_t)-1;
	if (!nss)
		r->owner = owner_before(r->start, r->count, r->name);
	else if ((pw = getpwnam(name)) != NULL)
		r->owner = pw->pw_uid;
	if (r->owner == (uid_t)-1)
		r->owner = (uid_t)r->start;
	*unnamed = r->owner == (uid_t)r->start;
	return true;
}

static int
subids_parse(const char *text, size_t len, size_t *skipped, bool nss)
{
	struct subid_range *v = NULL, *nv, r;
	size_t n = 0, cap = 0, bad = 0, unnamed = 0, ll;
	const char *p = text, *end = text + len, *nl, *next;
	bool nameless;

	for (; p < end; p = next) {
		nl = memchr(p, '\n', (size_t)(end - p));
		next = nl ? nl + 1 : end;
		ll = (size_t)(next - p) - (nl ? 1 : 0);
		if (ll > 0 && p[ll - 1] == '\r')
			ll--;
		if (ll == 0 || p[0] == '#')
			continue;	/* blank, or a comment */
		nameless = false;
		if (n == KD_SUBIDS_MAX || !parse_line(p, ll, &r, &nameless,
		    nss)) {
			bad++;
			continue;
		}
		unnamed += nameless;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
		}
		v[n++] = r;
	}
	if (n > 0)
		qsort(v, n, sizeof(*v), range_cmp);
	for (ll = 0; ll < n; ll++) {
		v[ll].reach = (uint64_t)v[ll].start + v[ll].count;
		if (ll > 0 && v[ll - 1].reach > v[ll].reach)
			v[ll].reach = v[ll - 1].reach;
	}
	free(ranges);
	ranges = v;
	nranges = n;
	nunnamed = unnamed;
	if (skipped != NULL)
		*skipped = bad;
	return (int)n;
}

int
kd_subids_parse(const char *text, size_t len, size_t *skipped)
{
	return subids_parse(text, len, skipped, true);
}

static int
subids_load(const char *path, size_t *skipped, bool nss)
{
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int r;

	if (skipped != NULL)
		*skipped = 0;
	/* what it was when read: one that could not be is read again */
	if (stat(path, &st) < 0)
		memset(&st, 0, sizeof(st));
	r = kk_read_file(path, KD_SUBIDS_FILE_MAX, &text, &len);
	if (r == -ENOENT) {
		kd_subids_free();
		loaded = st;
		return 0;
	}
	if (r < 0)
		return r;
	r = subids_parse(text, len, skipped, nss);
	free(text);
	if (r >= 0)
		loaded = st;
	return r < 0 ? r : 0;
}

int
kd_subids_load(const char *path, size_t *skipped)
{
	return subids_load(path, skipped, true);
}

size_t
kd_subids_unnamed(void)
{
	return nunnamed;
}

int
kd_subids_reload(const char *path, bool nss)
{
	size_t skipped;
	int r;

	if ((r = subids_load(path, &skipped, nss)) < 0)
		kk_log(LOG_WARNING, KK_MID_POLICY, "cannot read %s (%s): "
		    "subordinate uids are counted as users of their own", path,
		    strerror(-r));
	else if (skipped > 0)
		kk_log(LOG_WARNING, KK_MID_POLICY, "%s: %zu line(s) that name "
		    "no range skipped", path, skipped);
	if (r == 0 && nunnamed > 0)
		kk_log(LOG_NOTICE, KK_MID_POLICY, "%s: %zu range(s) of users "
		    "NSS does not know (yet): each counted as one user", path,
		    nunnamed);
	return r;
}

bool
kd_subids_refresh(const char *path)
{
	uint64_t now = kk_now_ms();
	struct stat st;

	if (looked_ms != 0 && now - looked_ms < KD_SUBIDS_LOOK_MS)
		return false;
	looked_ms = now;
	if (stat(path, &st) < 0)
		memset(&st, 0, sizeof(st));
	if (st.st_dev == loaded.st_dev && st.st_ino == loaded.st_ino &&
	    st.st_size == loaded.st_size &&
	    st.st_mtim.tv_sec == loaded.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == loaded.st_mtim.tv_nsec &&
	    st.st_ctim.tv_sec == loaded.st_ctim.tv_sec &&
	    st.st_ctim.tv_nsec == loaded.st_ctim.tv_nsec)
		return false;
	/*
	 * Not NSS here, while a peer waits (a directory out of reach once
	 * the host is isolated would hold up the loop): the lines that
	 * stood before keep their owners, a new one is its own user.
	 */
	kk_log(LOG_NOTICE, KK_MID_POLICY, "%s changed: read again", path);
	kd_subids_reload(path, false);
	return true;
}

uid_t
kd_uid_owner(uid_t uid)
{
	/* past the last range that starts at or before uid */
	size_t lo = ranges_before((uint32_t)uid, true);

	/* back while a range before may still reach uid (overlaps only) */
	while (lo > 0 && ranges[lo - 1].reach > (uint64_t)uid) {
		lo--;
		if ((uint32_t)uid - ranges[lo].start < ranges[lo].count)
			return ranges[lo].owner;
	}
	return uid;
}

void
kd_subids_free(void)
{
	free(ranges);
	ranges = NULL;
	nranges = nunnamed = 0;
}
