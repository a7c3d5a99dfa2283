/*
 * The freeze journal: the source groups a freeze freezes for a moment
 * (sources.c), written before each is frozen.  A kakurid that ends
 * between that and their restore (killed, a crash) would otherwise leave
 * them frozen, and with them every process in them that was no target,
 * for good: nobody knows of them.  The next kakurid thaws them at start
 * (kk_freeze_journal_recover), each by its inode and within the same
 * boot (an inode is not reused within one), but not one the saved
 * frozen set knows as frozen in place.  The caller empties the journal
 * once the call's set is saved (kk_freeze_journal_clear), or, when it
 * cannot be, all but the episode line (kk_freeze_journal_keep_episode).
 *
 * Nothing is flushed: a record matters only within its boot, and the
 * end of a process loses nothing it wrote; a crash of the kernel makes
 * another boot.  So a record costs a write, not a wait for the disk,
 * while the group waits to be frozen.
 *
 * The file (kk_freezer.journal): a line a group, "BOOT-ID INODE HEX\n",
 * HEX the cgroup path's bytes (a delegated owner names his groups, in
 * any bytes); and first, before anything is moved, "BOOT-ID episode
 * GROUP\n": the freeze group the call takes its targets into, where the
 * next kakurid looks for those it had taken (strays.c).
 *
 * Beside it, the moves file (KK_JOURNAL.moves): before a target is
 * moved out of its group, "BOOT-ID PID START HEX\n", START its start
 * time, HEX the group's path.  A kakurid that ends while the targets are
 * being taken (before any save) leaves them frozen in the freeze group;
 * the next one takes them into the set knowing where each came from,
 * and a thaw puts it back there.  It is kept open for the call: a line
 * costs one write per target.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "freezer.h"
#include "kakuri.h"

/*
 * one line: boot id, inode (or pid and start time), the path in hex,
 * spaces and newline
 */
#define FZ_JOURNAL_LINE		(FZ_BOOT_ID_LEN + 2 * 21 + 2 * PATH_MAX + 4)
/* FZ_SOURCES_MAX lines a call, and its episode line */
#define FZ_JOURNAL_MAX		((FZ_SOURCES_MAX + 1) * FZ_JOURNAL_LINE)
/* the moves file read at start; a bigger one is not read (said) */
#define FZ_MOVES_MAX		(64 << 20)
#define FZ_MOVES_SUFFIX		".moves"

/*
 * The first FZ_BOOT_ID_LEN + 1 bytes of line filled with this boot's id
 * and a space: 0, or -ENODATA if it is not known.
 */
static int
boot_prefix(const struct kk_freezer *fz, char *line)
{
	if (strlen(fz->boot_id) != FZ_BOOT_ID_LEN)
		return -ENODATA;
	memcpy(line, fz->boot_id, FZ_BOOT_ID_LEN);
	line[FZ_BOOT_ID_LEN] = ' ';
	return 0;
}

/* Not a FIFO, nor a link, a root could have left at path. */
static int
open_append(const char *path)
{
	int fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW | O_NONBLOCK, 0600);
	return fd < 0 ? -errno : fd;
}

/*
 * line (len bytes) appended, its boot prefix filled: 0 (also without a
 * journal), or -errno.
 */
static int
append(const struct kk_freezer *fz, char *line, size_t len)
{
	int fd, r;

	if (fz->journal[0] == '\0')
		return 0;
	if ((r = boot_prefix(fz, line)) < 0)
		return r;
	if ((fd = open_append(fz->journal)) < 0)
		return fd;
	r = kk_write_all(fd, line, len);
	close(fd);
	return r;
}

/* The moves file's path: 0, or -ENAMETOOLONG. */
static int
moves_path(const struct kk_freezer *fz, char out[PATH_MAX])
{
	return snprintf(out, PATH_MAX, "%s%s", fz->journal, FZ_MOVES_SUFFIX) >=
	    PATH_MAX ? -ENAMETOOLONG : 0;
}

/*
 * Before the group cg (its inode cg_id) is frozen: its line appended.
 * 0 (also without a journal), or a negative errno.
 */
int
fz_journal_add(struct fzcall *c, const char *cg, uint64_t cg_id)
{
	size_t n = strlen(cg), len = FZ_BOOT_ID_LEN + 1;
	char *line;
	int r;

	if (n >= PATH_MAX)
		return -ENAMETOOLONG;
	if ((line = malloc(FZ_JOURNAL_LINE)) == NULL)
		return -ENOMEM;
	len += (size_t)snprintf(line + len, FZ_JOURNAL_LINE - len, "%llu ",
	    (unsigned long long)cg_id);
	kk_hex(cg, n, line + len);
	len += 2 * n;
	line[len++] = '\n';
	r = append(c->fz, line, len);
	free(line);
	return r;
}

/*
 * Before the target pid (started at start) is moved out of the group cg
 * ("" if it is not known) into the call's freeze group: its line in the
 * moves file ("-" for a group not known: it was moved, not born there),
 * opened once a call (c->moves_fd, closed with the call; -2 once it could
 * not be opened, not tried again).  0 (also without a journal), or a
 * negative errno.
 */
int
fz_journal_move(struct fzcall *c, pid_t pid, unsigned long long start,
    const char *cg)
{
	char path[PATH_MAX], *line;
	size_t n = strlen(cg), len = FZ_BOOT_ID_LEN + 1;
	int r;

	if (c->fz->journal[0] == '\0')
		return 0;
	if (n >= PATH_MAX)
		return -ENAMETOOLONG;
	if (c->moves_fd == -2)
		return -EBADF;
	if (c->moves_fd < 0) {
		if ((r = moves_path(c->fz, path)) < 0 ||
		    (r = open_append(path)) < 0) {
			c->moves_fd = -2;
			return r;
		}
		c->moves_fd = r;
	}
	if ((line = malloc(FZ_JOURNAL_LINE)) == NULL)
		return -ENOMEM;
	if ((r = boot_prefix(c->fz, line)) < 0)
		goto out;
	len += (size_t)snprintf(line + len, FZ_JOURNAL_LINE - len, "%d %llu ",
	    (int)pid, start);
	if (len + 2 * n + 2 > FZ_JOURNAL_LINE) {
		r = -ENAMETOOLONG;
		goto out;
	}
	if (n == 0)
		line[len++] = '-';
	kk_hex(cg, n, line + len);
	len += 2 * n;
	line[len++] = '\n';
	r = kk_write_all(c->moves_fd, line, len);
out:
	free(line);
	return r;
}

#define FZ_EPISODE_LINE	(FZ_BOOT_ID_LEN + 96)

/*
 * The episode line of group into line (FZ_EPISODE_LINE bytes), but its
 * boot prefix: its length, or -ENAMETOOLONG.
 */
static int
episode_text(const char *group, char *line)
{
	int len;

	len = snprintf(line + FZ_BOOT_ID_LEN + 1, FZ_EPISODE_LINE -
	    FZ_BOOT_ID_LEN - 1, "episode %s\n", group);
	if (len < 0 || (size_t)len >= FZ_EPISODE_LINE - FZ_BOOT_ID_LEN - 1)
		return -ENAMETOOLONG;
	return len + FZ_BOOT_ID_LEN + 1;
}

/* Before the first target is moved: the freeze group's line. */
int
fz_journal_episode(struct fzcall *c)
{
	char line[FZ_EPISODE_LINE];
	int len;

	if ((len = episode_text(c->group, line)) < 0)
		return len;
	return append(c->fz, line, (size_t)len);
}

/*
 * Is the group cg (inode cg_id) one the set knows as frozen in place?
 * By its inode, or by its path where the set has none (an older
 * kakurid's file).
 */
static bool
kept_in_place(const struct kk_frozen_set *set, const char *cg,
    uint64_t cg_id)
{
	const struct kk_frozen *f;
	size_t i;

	for (i = 0; i < set->n; i++) {
		f = &set->v[i];
		if (f->in_place && (f->cg_id == cg_id ||
		    (f->cg_id == 0 && strcmp(f->orig_cgroup, cg) == 0)))
			return true;
	}
	return false;
}

/*
 * A decimal number at p (before end), followed by a space: what follows
 * the space, or NULL.  No sign, space or leading zero before it.
 */
static const char *
decimal(const char *p, const char *end, unsigned long long *v)
{
	unsigned long long x = 0;
	const char *q;

	for (q = p; q < end && *q >= '0' && *q <= '9'; q++) {
		if (x > (ULLONG_MAX - (unsigned)(*q - '0')) / 10)
			return NULL;
		x = x * 10 + (unsigned)(*q - '0');
	}
	if (q == p || q >= end || *q != ' ' || (*p == '0' && q - p > 1))
		return NULL;
	*v = x;
	return q + 1;
}

/*
 * A group's path from its hex (hexlen bytes) into cg: one as
 * /proc/PID/cgroup gives it, never the root nor kakuri's own freeze
 * groups.  0, or -EBADMSG.
 */
static int
cg_of_hex(const struct kk_freezer *fz, const char *hex, size_t hexlen,
    char cg[PATH_MAX])
{
	char brel[PATH_MAX];
	size_t n;

	if (hexlen == 0 || hexlen % 2 != 0 || hexlen / 2 >= PATH_MAX ||
	    !kk_is_hex(hex, hexlen, hexlen))
		return -EBADMSG;
	memcpy(brel, hex, hexlen);	/* NUL-terminated for OpenSSL */
	brel[hexlen] = '\0';
	if (OPENSSL_hexstr2buf_ex((unsigned char *)cg, PATH_MAX - 1, &n, brel,
	    '\0') != 1 || n == 0 || memchr(cg, '\0', n) != NULL)
		return -EBADMSG;
	cg[n] = '\0';
	/* "//" or a trailing "/" would pass the own-group test below */
	if (!fz_cgpath_ok(cg) || strcmp(cg, "/") == 0 ||
	    strstr(cg, "//") != NULL || cg[n - 1] == '/' ||
	    fz_base_rel(fz, brel, sizeof(brel)) < 0 || fz_cg_within(brel, cg))
		return -EBADMSG;
	return 0;
}

/*
 * One line (len bytes, no newline) parsed: its boot id, inode and path.
 * The path as /proc/PID/cgroup gives one, never the root nor kakuri's own
 * freeze groups.  0, or -EBADMSG.
 */
static int
parse_line(const struct kk_freezer *fz, const char *line, size_t len,
    char boot[FZ_BOOT_ID_LEN + 1], uint64_t *cg_id, char cg[PATH_MAX])
{
	const char *hex, *end = line + len;
	unsigned long long id;

	if (len <= FZ_BOOT_ID_LEN + 1 || len >= FZ_JOURNAL_LINE ||
	    line[FZ_BOOT_ID_LEN] != ' ')
		return -EBADMSG;
	memcpy(boot, line, FZ_BOOT_ID_LEN);
	boot[FZ_BOOT_ID_LEN] = '\0';
	if ((hex = decimal(line + FZ_BOOT_ID_LEN + 1, end, &id)) == NULL ||
	    id == 0)
		return -EBADMSG;
	*cg_id = id;
	return cg_of_hex(fz, hex, (size_t)(end - hex), cg);
}

/* path emptied, not removed: made again at the next record */
static void
truncate_file(const char *path)
{
	int fd;

	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK);
	if (fd >= 0)
		close(fd);
	else if (errno != ENOENT)
		unlink(path);
}

/*
 * The group cg thawed if it is still the one frozen (inode cg_id): by
 * a descriptor of its directory, so that one made again at its path
 * between the look and the write is not thawed.  1 thawed, 0 not.
 */
static int
thaw_if_same(const struct kk_freezer *fz, const char *cg, uint64_t cg_id)
{
	char dir[PATH_MAX];
	struct stat st;
	int dfd, r = 0;

	if (fz_cg_dir(fz, cg, dir, sizeof(dir)) < 0 ||
	    (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return 0;
	if (fstat(dfd, &st) == 0 && (uint64_t)st.st_ino == cg_id)
		r = fz_group_freeze_at(dfd, strcmp(fz->method, "cgroup2") == 0,
		    false) == 0;
	close(dfd);
	return r;
}

/*
 * An episode line (len bytes, no newline): its group into episode if it
 * is of this boot (another boot's group is gone).  0, or -EBADMSG.
 */
static int
episode_line(const char *line, size_t len, const char *boot, char *episode,
    size_t episodelen)
{
	char group[64];
	size_t n = len - FZ_BOOT_ID_LEN - 9;

	if (n == 0 || n >= sizeof(group))
		return -EBADMSG;
	memcpy(group, line + FZ_BOOT_ID_LEN + 9, n);
	group[n] = '\0';
	if (!fz_group_ok(group))
		return -EBADMSG;
	if (memcmp(line, boot, FZ_BOOT_ID_LEN) == 0 && episode != NULL &&
	    episodelen > 0 && snprintf(episode, episodelen, "%s", group) >=
	    (int)episodelen) {
		episode[0] = '\0';
		return -EBADMSG;
	}
	return 0;
}

/*
 * The journal's text, line by line: what can be read is thawed, and
 * the call's freeze group named in episode.  How many were thawed; err
 * names the first line that could not be read (a torn last line, say),
 * and how many could not.
 */
static int
recover_lines(const struct kk_freezer *fz, const struct kk_frozen_set *set,
    const char *text, size_t len, char *episode, size_t episodelen,
    char *err, size_t errlen)
{
	const char *boot = fz->boot_id;
	char rboot[FZ_BOOT_ID_LEN + 1], *cg = NULL;
	const char *line, *nl, *end = text + len;
	size_t i, bad = 0, first = 0;
	uint64_t id;
	int n = 0;

	if (len == 0)
		return 0;
	if (strlen(boot) != FZ_BOOT_ID_LEN)
		return fz_err(err, errlen, -ENODATA, "this boot's id is not "
		    "known");
	if ((cg = malloc(PATH_MAX)) == NULL)
		return fz_err(err, errlen, -ENOMEM, "out of memory");
	for (i = 1, line = text; line < end; i++, line = nl + 1) {
		if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
			nl = end;
		/*
		 * This boot's episode line names the call's freeze group;
		 * torn (no newline), a shorter name may be another group.
		 */
		if ((size_t)(nl - line) > FZ_BOOT_ID_LEN + 9 &&
		    memcmp(line + FZ_BOOT_ID_LEN, " episode ", 9) == 0) {
			if ((nl == end || episode_line(line,
			    (size_t)(nl - line), boot, episode,
			    episodelen) < 0) && bad++ == 0)
				first = i;
			continue;
		}
		if (parse_line(fz, line, (size_t)(nl - line), rboot, &id,
		    cg) < 0) {
			if (bad++ == 0)
				first = i;
			continue;
		}
		/* another boot's: its groups are gone, an inode reused */
		if (strcmp(rboot, boot) == 0 && !kept_in_place(set, cg, id))
			n += thaw_if_same(fz, cg, id);
	}
	if (bad > 0)
		fz_err(err, errlen, -EBADMSG, "%s: line %zu is malformed (%zu "
		    "line(s) in all)", fz->journal, first, bad);
	free(cg);
	return n;
}

int
kk_freeze_journal_recover(const struct kk_freezer *fz,
    const struct kk_frozen_set *set, char *episode, size_t episodelen,
    char *err, size_t errlen)
{
	char *text = NULL, aside[PATH_MAX + 16];
	size_t len;
	int r;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (episode != NULL && episodelen > 0)
		episode[0] = '\0';
	if (fz->journal[0] == '\0' || fz->method[0] == '\0')
		return 0;
	r = kk_read_file(fz->journal, FZ_JOURNAL_MAX, &text, &len);
	if (r == -ENOENT)
		return 0;
	if (r == 0) {
		r = recover_lines(fz, set, text, len, episode, episodelen, err,
		    errlen);
		free(text);
		/*
		 * Emptied by the caller once the strays of the episode it
		 * names are saved (kk_freeze_journal_clear): a kakurid that
		 * ends before would not know the episode.  A second thaw of
		 * a group meanwhile asks its inode again.
		 */
		return r;
	}
	/* kept for whoever looks: the groups it names may stay frozen */
	fz_err(err, errlen, r, "%s: %s (kept as %s.unread)", fz->journal,
	    strerror(-r), fz->journal);
	snprintf(aside, sizeof(aside), "%s.unread", fz->journal);
	if (rename(fz->journal, aside) < 0)
		unlink(fz->journal);
	return r;
}

/* by pid, then start time */
static int
move_key_cmp(const void *a, const void *b)
{
	const struct fz_move *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* the same, then in the file's order: the last line of one is its own */
static int
move_cmp(const void *a, const void *b)
{
	const struct fz_move *x = a, *y = b;
	int r = move_key_cmp(a, b);

	return r != 0 ? r : x->hex < y->hex ? -1 : x->hex > y->hex;
}

/*
 * One line of the moves file (len bytes, no newline) of this boot into
 * *mv: 1, 0 another boot's, -EBADMSG.
 */
static int
move_line(const struct kk_freezer *fz, const char *line, size_t len,
    struct fz_move *mv)
{
	const char *p, *end = line + len;
	unsigned long long pid, start;

	if (len <= FZ_BOOT_ID_LEN + 1 || len >= FZ_JOURNAL_LINE ||
	    line[FZ_BOOT_ID_LEN] != ' ' ||
	    (p = decimal(line + FZ_BOOT_ID_LEN + 1, end, &pid)) == NULL ||
	    pid == 0 || pid > INT_MAX ||
	    (p = decimal(p, end, &start)) == NULL || p >= end)
		return -EBADMSG;
	if (memcmp(line, fz->boot_id, FZ_BOOT_ID_LEN) != 0)
		return 0;
	mv->pid = (pid_t)pid;
	mv->start = start;
	mv->hex = p;
	mv->hexlen = (size_t)(end - p);
	return 1;
}

int
fz_moves_read(const struct kk_freezer *fz, struct fz_moves *m)
{
	char path[PATH_MAX];
	const char *line, *nl, *end;
	struct fz_move *v;
	size_t len, cap = 0;
	int r;

	memset(m, 0, sizeof(*m));
	if (fz->journal[0] == '\0')
		return 0;
	if (strlen(fz->boot_id) != FZ_BOOT_ID_LEN)
		return -ENODATA;
	if ((r = moves_path(fz, path)) < 0)
		return r;
	if ((r = kk_read_file(path, FZ_MOVES_MAX, &m->text, &len)) < 0)
		return r == -ENOENT ? 0 : r;
	end = m->text + len;
	for (line = m->text; line < end; line = nl + 1) {
		if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
			break;	/* torn: the move it was for did not happen */
		if (m->n == cap) {
			cap = cap ? 2 * cap : 64;
			if ((v = reallocarray(m->v, cap, sizeof(*v))) == NULL) {
				fz_moves_free(m);
				return -ENOMEM;
			}
			m->v = v;
		}
		/* a bad line names nothing: its process's group unknown */
		if (move_line(fz, line, (size_t)(nl - line), &m->v[m->n]) > 0)
			m->n++;
	}
	if (m->n > 1)
		qsort(m->v, m->n, sizeof(*m->v), move_cmp);
	return 0;
}

int
fz_moves_orig(const struct kk_freezer *fz, const struct fz_moves *m,
    pid_t pid, unsigned long long start, char cg[PATH_MAX])
{
	struct fz_move key = { .pid = pid, .start = start };
	const struct fz_move *mv;

	cg[0] = '\0';
	if (m->n == 0 || (mv = bsearch(&key, m->v, m->n, sizeof(*m->v),
	    move_key_cmp)) == NULL)
		return -ENOENT;
	/* the last of its lines: a later move of the same process */
	while (mv + 1 < m->v + m->n && move_key_cmp(mv + 1, &key) == 0)
		mv++;
	if (mv->hexlen == 1 && mv->hex[0] == '-')
		return -ENODATA;
	if (cg_of_hex(fz, mv->hex, mv->hexlen, cg) < 0) {
		cg[0] = '\0';
		return -EBADMSG;
	}
	return 0;
}

void
fz_moves_free(struct fz_moves *m)
{
	free(m->text);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

/* Emptied: read once, at start, one read is not read again. */
void
kk_freeze_journal_clear(const struct kk_freezer *fz)
{
	if (fz->journal[0] != '\0')
		truncate_file(fz->journal);
}

void
kk_freeze_journal_keep_episode(const struct kk_freezer *fz, const char *group)
{
	char line[FZ_EPISODE_LINE];
	int fd, len;

	if (fz->journal[0] == '\0')
		return;
	if (!fz_group_ok(group) || boot_prefix(fz, line) < 0 ||
	    (len = episode_text(group, line)) < 0) {
		truncate_file(fz->journal);
		return;
	}
	/*
	 * Emptied, then written; not a new file renamed over it: a kakurid
	 * killed in between then leaves an empty journal (as before this
	 * line was kept), never the old one, whose groups the next start
	 * would thaw, one frozen in place that frozen.json does not know
	 * among them, with no signature.
	 */
	fd = open(fz->journal, O_WRONLY | O_TRUNC | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW | O_NONBLOCK, 0600);
	if (fd < 0) {
		unlink(fz->journal);
		return;
	}
	/* torn (a full disk), the line is not read as an episode's */
	(void)kk_write_all(fd, line, (size_t)len);
	close(fd);
}

void
kk_freeze_moves_clear(const struct kk_freezer *fz)
{
	char path[PATH_MAX];

	if (fz->journal[0] != '\0' && moves_path(fz, path) == 0)
		truncate_file(path);
}

int
fz_moves_aside(const struct kk_freezer *fz)
{
	char path[PATH_MAX], aside[PATH_MAX + 16];

	if (fz->journal[0] == '\0' || moves_path(fz, path) < 0)
		return -ENOENT;
	snprintf(aside, sizeof(aside), "%s.unread", path);
	if (rename(path, aside) < 0) {
		unlink(path);
		return -errno;
	}
	return 0;
}
