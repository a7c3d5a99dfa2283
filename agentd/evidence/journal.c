/*
 * The freeze journal: the source groups a freeze freezes for a moment
 * (sources.c), written before each is frozen.  A kakurid that ends
 * between that and their restore (killed, a crash) would otherwise leave
 * them frozen, and with them every process in them that was no target,
 * for good: nobody knows of them.  The next kakurid thaws them at start
 * (kk_freeze_journal_recover), each by its inode and within the same
 * boot (an inode is not reused within one), but not one the saved
 * frozen set knows as frozen in place.  The caller empties the journal
 * once the call's set is saved (kk_freeze_journal_clear).
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
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "freezer.h"
#include "kakuri.h"

#define FZ_BOOT_ID_LEN		36
/* one line: boot id, inode, the path in hex, spaces and newline */
#define FZ_JOURNAL_LINE		(FZ_BOOT_ID_LEN + 21 + 2 * PATH_MAX + 3)
/* FZ_SOURCES_MAX lines a call, and its episode line */
#define FZ_JOURNAL_MAX		((FZ_SOURCES_MAX + 1) * FZ_JOURNAL_LINE)

/* This boot's id: 0, or a negative errno. */
static int
boot_id(char out[FZ_BOOT_ID_LEN + 1])
{
	char buf[64];
	ssize_t n;

	n = fz_read_small("/proc/sys/kernel/random/boot_id", buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	if (n < FZ_BOOT_ID_LEN)
		return -EBADMSG;
	memcpy(out, buf, FZ_BOOT_ID_LEN);
	out[FZ_BOOT_ID_LEN] = '\0';
	return 0;
}

/* line (len bytes) appended: 0 (also without a journal), or -errno */
static int
append(const struct kk_freezer *fz, const char *line, size_t len)
{
	int fd, r;

	if (fz->journal[0] == '\0')
		return 0;
	/* not a FIFO, nor a link, a root could have left there */
	fd = open(fz->journal, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW | O_NONBLOCK, 0600);
	if (fd < 0)
		return -errno;
	r = kk_write_all(fd, line, len);
	close(fd);
	return r;
}

/*
 * Before the group cg (its inode cg_id) is frozen: its line appended.
 * 0 (also without a journal), or a negative errno.
 */
int
fz_journal_add(struct fzcall *c, const char *cg, uint64_t cg_id)
{
	char boot[FZ_BOOT_ID_LEN + 1], *line = NULL;
	size_t n = strlen(cg);
	int r, len;

	if (c->fz->journal[0] == '\0')
		return 0;
	if ((r = boot_id(boot)) < 0)
		return r;
	if (n >= PATH_MAX)
		return -ENAMETOOLONG;
	if ((line = malloc(FZ_JOURNAL_LINE)) == NULL)
		return -ENOMEM;
	len = snprintf(line, FZ_JOURNAL_LINE, "%s %llu ", boot,
	    (unsigned long long)cg_id);
	kk_hex(cg, n, line + len);
	len += (int)(2 * n);
	line[len++] = '\n';
	r = append(c->fz, line, (size_t)len);
	free(line);
	return r;
}

/* Before the first target is moved: the freeze group's line. */
int
fz_journal_episode(struct fzcall *c)
{
	char boot[FZ_BOOT_ID_LEN + 1], line[FZ_BOOT_ID_LEN + 96];
	int r, len;

	if (c->fz->journal[0] == '\0')
		return 0;
	if ((r = boot_id(boot)) < 0)
		return r;
	len = snprintf(line, sizeof(line), "%s episode %s\n", boot, c->group);
	if (len < 0 || (size_t)len >= sizeof(line))
		return -ENAMETOOLONG;
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
 * One line (len bytes, no newline) parsed: its boot id, inode and path.
 * The path as /proc/PID/cgroup gives one, never the root nor kakuri's own
 * freeze groups.  0, or -EBADMSG.
 */
static int
parse_line(const struct kk_freezer *fz, const char *line, size_t len,
    char boot[FZ_BOOT_ID_LEN + 1], uint64_t *cg_id, char cg[PATH_MAX])
{
	char brel[PATH_MAX], *end;
	const char *hex;
	unsigned long long id;
	size_t n, hexlen;

	if (len <= FZ_BOOT_ID_LEN + 1 || len >= FZ_JOURNAL_LINE ||
	    line[FZ_BOOT_ID_LEN] != ' ')
		return -EBADMSG;
	memcpy(boot, line, FZ_BOOT_ID_LEN);
	boot[FZ_BOOT_ID_LEN] = '\0';
	/* decimal, no sign, space or leading zero before it */
	if (line[FZ_BOOT_ID_LEN + 1] < '1' || line[FZ_BOOT_ID_LEN + 1] > '9')
		return -EBADMSG;
	errno = 0;
	id = strtoull(line + FZ_BOOT_ID_LEN + 1, &end, 10);
	if (errno != 0 || end >= line + len || *end != ' ')
		return -EBADMSG;
	hex = end + 1;
	hexlen = len - (size_t)(hex - line);
	if (hexlen == 0 || hexlen % 2 != 0 || hexlen / 2 >= PATH_MAX ||
	    !kk_is_hex(hex, hexlen, hexlen))
		return -EBADMSG;
	memcpy(brel, hex, hexlen);	/* NUL-terminated for OpenSSL */
	brel[hexlen] = '\0';
	if (OPENSSL_hexstr2buf_ex((unsigned char *)cg, PATH_MAX - 1, &n, brel,
	    '\0') != 1 || memchr(cg, '\0', n) != NULL)
		return -EBADMSG;
	cg[n] = '\0';
	*cg_id = id;
	/* "//" or a trailing "/" would pass the own-group test below */
	if (!fz_cgpath_ok(cg) || strcmp(cg, "/") == 0 ||
	    strstr(cg, "//") != NULL || cg[n - 1] == '/' ||
	    fz_base_rel(fz, brel, sizeof(brel)) < 0 || fz_cg_within(brel, cg))
		return -EBADMSG;
	return 0;
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
	char boot[FZ_BOOT_ID_LEN + 1], rboot[FZ_BOOT_ID_LEN + 1];
	char *cg = NULL;
	const char *line, *nl, *end = text + len;
	size_t i, bad = 0, first = 0;
	uint64_t id;
	int n = 0, r;

	if (len == 0)
		return 0;
	if ((r = boot_id(boot)) < 0)
		return fz_err(err, errlen, r, "boot id: %s", strerror(-r));
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
		kk_freeze_journal_clear(fz);
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

/*
 * Emptied, not removed: made again at the next record.  Read once, at
 * start: one read is not read again.
 */
void
kk_freeze_journal_clear(const struct kk_freezer *fz)
{
	int fd;

	if (fz->journal[0] == '\0')
		return;
	fd = open(fz->journal, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK);
	if (fd >= 0)
		close(fd);
	else if (errno != ENOENT)
		unlink(fz->journal);
}
