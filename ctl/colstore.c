/*
 * kakurictl collector: a report stored (DESIGN 7).  DIR/<agent>/<id>.json
 * by a rename of a temporary file, a line of DIR/index.jsonl, the agent's
 * identity kept beside its reports; a resend of the same bytes written
 * again and acked, the same id with other bytes refused unless what is
 * there is no report of the agent.  The sync the ack waits for and the
 * announcement are colannounce.c's; the connections, collector.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <systemd/sd-event.h>

#include "client.h"
#include "collector.h"
#include "colquota.h"
#include "ctl.h"
#include "kakuri.h"
#include "output.h"
#include "report.h"
#include "sign.h"
#include "wire.h"

uint64_t
col_now_usec(struct collector *col)
{
	uint64_t now = 0;

	sd_event_now(col->ev, CLOCK_MONOTONIC, &now);
	return now;
}

/*
 * DIR/<agent>/identity.pem: the key reports verify with, kept once.  Put
 * in place by a rename, whole or not at all; one that does not parse
 * (what a crash could leave of an older collector's) is replaced, or
 * `kakurictl reports` could verify none of the agent's reports again.
 */
static int
keep_identity(struct collector *col, struct col_conn *cn)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	EVP_PKEY *known = NULL;
	int r;

	if (mkdirat(col->dirfd, cn->agent, 0750) < 0 && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/%s/identity.pem", col->dir, cn->agent);
	if (kk_key_load_public(path, &known) == 0) {
		/* the id is the key's hash: the same id, the same key */
		EVP_PKEY_free(known);
		return 0;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	(void)unlink(tmp);	/* a crash's leftover */
	if ((r = kk_key_save_public(cn->identity, tmp)) < 0)
		return r;
	if (rename(tmp, path) < 0) {
		r = -errno;
		(void)unlink(tmp);
		return r;
	}
	return kk_fsync_dir_of(path);
}

/*
 * A last line of index.jsonl without its line end, cut off: what a crash
 * (a power cut) in the middle of an append leaves.  Kept, it could name
 * the id of a report never indexed, which index_has would then take for
 * indexed, and the next line would be glued onto it.  Only the last
 * COL_INDEX_TAIL bytes are read, as in index_has: a line is shorter (a
 * report is at most 2 MiB, its index line a small part of it).  fd is
 * open for reading and writing; *size is the index's size after.
 */
static int
index_mend(struct collector *col, int fd, off_t *size)
{
	struct stat st;
	char last, *buf = NULL, *nl;
	off_t from, keep;
	ssize_t n;
	int r = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	*size = st.st_size;
	/* the common case: one byte read */
	if (st.st_size == 0)
		return 0;
	if ((n = pread(fd, &last, 1, st.st_size - 1)) != 1)
		return n < 0 ? -errno : -EIO;
	if (last == '\n')
		return 0;
	if ((buf = malloc(COL_INDEX_TAIL)) == NULL)
		return -ENOMEM;
	from = st.st_size > COL_INDEX_TAIL ? st.st_size - COL_INDEX_TAIL : 0;
	if ((n = pread(fd, buf, COL_INDEX_TAIL, from)) < 0) {
		r = -errno;
		goto out;
	}
	if ((nl = memrchr(buf, '\n', (size_t)n)) != NULL)
		keep = from + (nl - buf) + 1;
	else if (from == 0)
		keep = 0;
	else {
		/* no torn append makes a line that long: not ours to cut */
		fprintf(stderr, "kakurictl collector: %s/index.jsonl: no line "
		    "end in its last %d bytes: left as it is\n", col->dir,
		    COL_INDEX_TAIL);
		goto out;
	}
	if (ftruncate(fd, keep) < 0) {
		r = -errno;
		goto out;
	}
	*size = keep;
	fprintf(stderr, "kakurictl collector: %s/index.jsonl: a last line "
	    "without its line end (%lld bytes: an append cut short) cut off\n",
	    col->dir, (long long)(st.st_size - keep));
out:
	free(buf);
	return r;
}

/*
 * One line of DIR/index.jsonl (synced with its batch, before the acks).
 * A write cut short (a full disk) is taken back: part of a line, with no
 * line end, would name the report's id to index_has when the agent sends
 * it again (acked, never indexed), and the next line would be glued onto
 * it (two lines no reader can parse).
 */
static int
index_append(struct collector *col, json_t *line)
{
	char *text;
	off_t size;
	size_t len;
	ssize_t n;
	int fd, r = 0;

	if ((text = json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		return -ENOMEM;
	len = strlen(text);
	text[len++] = '\n';	/* json_dumps' NUL: room for the newline */
	fd = openat(col->dirfd, "index.jsonl", O_RDWR | O_APPEND | O_CREAT |
	    O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	/* a line a crash left torn first: nothing is glued onto it */
	if ((r = index_mend(col, fd, &size)) < 0)
		goto out;
	if ((n = write(fd, text, len)) != (ssize_t)len) {
		r = n < 0 ? -errno : -EIO;
		/* if this fails too, the next append cuts the part off */
		if (ftruncate(fd, size) < 0)
			fprintf(stderr, "kakurictl collector: %s/index.jsonl: "
			    "part of a line left: %s\n", col->dir,
			    strerror(errno));
	}
out:
	kk_close(fd);
	free(text);
	return r;
}

/*
 * A report's file: a temporary file renamed into place, so that a
 * reader never sees half of one; synced with its batch (syncfs) before
 * it is acked, and durable, before the rename too (in place of a copy).
 */
static int
store_file(const char *path, const uint8_t *buf, size_t len, bool durable)
{
	char tmp[PATH_MAX];
	int fd, r = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0640);
	if (fd < 0)
		return -errno;
	if ((r = kk_write_all(fd, buf, len)) == 0 && durable &&
	    fsync(fd) < 0)
		r = -errno;
	if (r == 0 && close(fd) < 0)
		r = -errno;
	else if (r < 0)
		close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

/*
 * Whether the last COL_INDEX_TAIL bytes of index.jsonl name the agent's
 * report id: a collector killed between storing a report and indexing it
 * finds the report again when the agent sends it once more (its ack was
 * lost), and that resend comes right after, in the agent's order.  By
 * its file, agent and id: another agent's report of the same id is not
 * this one.
 */
static bool
index_has(struct collector *col, const char *agent, const char *id)
{
	char needle[KK_AGENT_ID_HEX + KK_EPISODE_HEX + 32], *buf;
	off_t from, size;
	ssize_t n;
	bool found = false;
	int fd;

	fd = openat(col->dirfd, "index.jsonl", O_RDWR | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0)
		return false;
	/*
	 * A line a crash left torn may name the id: cut off first.  If that
	 * fails, not found: index_append meets the same error and says so.
	 */
	if (index_mend(col, fd, &size) == 0 &&
	    (buf = malloc(COL_INDEX_TAIL)) != NULL) {
		from = size > COL_INDEX_TAIL ? size - COL_INDEX_TAIL : 0;
		n = pread(fd, buf, COL_INDEX_TAIL, from);
		snprintf(needle, sizeof(needle), "\"%s\":\"%s/%s.json\"",
		    KW_FILE, agent, id);
		found = n > 0 && memmem(buf, (size_t)n, needle,
		    strlen(needle)) != NULL;
		free(buf);
	}
	close(fd);
	return found;
}

/* The index line of a stored report, synced. */
static int
index_report(struct col_conn *cn, json_t *p, const char *sha,
    const char *path)
{
	struct collector *col = cn->col;
	char when[40], host[COL_HOSTNAME_MAX + 1];
	json_t *line;
	int r;

	kk_rfc3339(time(NULL), when, sizeof(when));
	/*
	 * The agent's hostname as text, cut: it was copied as sent (a 1.4 MB
	 * name in a 1.5 MB report), uncharged, and one agent grew the index
	 * past what kakurictl reports read, for every agent's reports.
	 */
	ctl_text(json_object_get(p, KW_HOST), KW_HOSTNAME, "", host,
	    sizeof(host));
	line = json_pack("{s:s, s:s, s:O, s:O, s:O, s:s, s:s, s:s}",
	    KW_TIME, when, KW_AGENT, cn->agent, KW_ID, json_object_get(p, KW_ID),
	    KW_SEQ, json_object_get(p, KW_SEQ), KW_TYPE, json_object_get(p,
	    KW_TYPE), KW_SHA256, sha, KW_HOSTNAME, host,
	    KW_FILE, path + strlen(col->dir) + 1);
	if (line == NULL)
		return -ENOMEM;
	r = index_append(col, line);
	json_decref(line);
	return r;
}

/* Whether buf is a report signed by the connection's agent, naming it. */
static bool
report_of(struct col_conn *cn, const char *buf, size_t len)
{
	const char *why;
	json_t *p;
	bool ok;

	p = kk_report_open((const uint8_t *)buf, len, cn->identity, cn->agent,
	    &why);
	ok = p != NULL;
	json_decref(p);
	return ok;
}

/* A report's cost to its agent's quota (within_quota made room for it). */
void
col_charge(struct col_conn *cn, size_t len, const char *path)
{
	int r;

	/* this cannot fail but for memory */
	if ((r = col_quota_charge(cn->quota, cn->agent, len,
	    col_now_usec(cn->col))) < 0)
		fprintf(stderr, "collector: %s: not charged to its agent's "
		    "quota: %s\n", path, strerror(-r));
}

/*
 * What a read of a report's file that failed with err says: true if none
 * is stored (none there), or what is there is no report the collector
 * wrote (not a regular file, too large: damaged).  Any other error says
 * nothing of it.
 */
static bool
stored_not(int err)
{
	return err == -ENOENT || err == -EINVAL || err == -EFBIG ||
	    err == -ELOOP || err == -EISDIR;
}

bool
col_disk_room(struct collector *col)
{
	struct statvfs vf;
	uint64_t total, avail, reserve, ireserve;
	bool room;

	/*
	 * None asked (--min-free-mib 0), or a file system that cannot say:
	 * the store itself will tell
	 */
	if (col->min_free_mib == 0 || fstatvfs(col->dirfd, &vf) < 0)
		return true;
	total = (uint64_t)vf.f_blocks * vf.f_frsize;
	avail = (uint64_t)vf.f_bavail * vf.f_frsize;
	if (col->min_free_mib >= 0)
		reserve = (uint64_t)col->min_free_mib << 20;
	else {
		reserve = (uint64_t)COL_MIN_FREE_MIB << 20;
		if (total / 20 < reserve)
			reserve = total / 20;
	}
	ireserve = vf.f_files / 20;
	if (ireserve > COL_MIN_FREE_INODES)
		ireserve = COL_MIN_FREE_INODES;
	/*
	 * Left after a report at its largest, its index line and its
	 * agent's identity (files, directory): the same answer for every
	 * report, so that sizes in turn do not flip it (and the lines said).
	 * btrfs and others count no inodes: f_files 0.
	 */
	room = avail >= reserve + KK_REPORT_MAX + COL_ENTRY_ROOM &&
	    (vf.f_files == 0 || (uint64_t)vf.f_favail >= ireserve + 4);
	if (room == !col->disk_low)
		return room;	/* as it was: said already */
	col->disk_low = !room;
	if (!room)
		fprintf(stderr, "collector: %s: %llu MiB and %llu inodes free, "
		    "under the reserve of %llu MiB and %llu inodes "
		    "(--min-free-mib) and room for one report: new reports "
		    "refused (busy), kept in their agents' outboxes, until "
		    "there is room\n", col->dir,
		    (unsigned long long)(avail >> 20),
		    (unsigned long long)vf.f_favail,
		    (unsigned long long)(reserve >> 20),
		    (unsigned long long)ireserve);
	else
		fprintf(stderr, "collector: %s: room again (%llu MiB and %llu "
		    "inodes free): reports are stored\n", col->dir,
		    (unsigned long long)(avail >> 20),
		    (unsigned long long)vf.f_favail);
	return room;
}

/*
 * The report stored (or found stored): 0 and the answer to send, or a
 * negative errno and an error word.
 */
int
col_store(struct col_conn *cn, const uint8_t *buf, size_t len, json_t *p,
    const char **word)
{
	struct collector *col = cn->col;
	const char *id = json_string_value(json_object_get(p, KW_ID));
	char path[PATH_MAX], sha[65], old_sha[65], type[24 * 4];
	char hostname[COL_HOSTNAME_MAX * 4 + 1];
	char *old = NULL, *line;
	size_t oldlen;
	bool damaged = false, was_dirty = cn->dirty;
	int r;

	*word = KE_IO;
	if (!was_dirty)
		cn->batch_failures = col->sync_failures;
	cn->dirty = true;	/* stored or not, synced before the ack */
	kk_sha256_hex(buf, len, sha);
	snprintf(path, sizeof(path), "%s/%s/%s.json", col->dir, cn->agent, id);
	r = kk_read_file(path, KK_REPORT_MAX, &old, &oldlen);
	if (r < 0 && !stored_not(r)) {
		/*
		 * Whether it is stored is not known (a read error, no memory,
		 * no descriptor): refused, and sent again later.  Taken as not
		 * stored, a stored copy was replaced, the same id with other
		 * bytes too, and indexed and announced twice.
		 */
		fprintf(stderr, "kakurictl collector: %s: the stored copy "
		    "cannot be read: %s\n", path, strerror(-r));
		cn->dirty = was_dirty;
		return r;
	}
	if (r < 0 && r != -ENOENT)
		fprintf(stderr, "kakurictl collector: %s: a damaged copy (%s) "
		    "replaced by the one sent\n", path, strerror(-r));
	if (r == 0) {
		kk_sha256_hex(old, oldlen, old_sha);
		/* checked only when it differs: a resend is the common case */
		if (strcmp(old_sha, sha) != 0)
			damaged = !report_of(cn, old, oldlen);
		free(old);
		if (strcmp(old_sha, sha) == 0) {
			col->acked++;
			/*
			 * It cost a read, a hash, a signature check and a sync
			 * as a new one does: charged as one, or a resend loop
			 * would take the collector for free.
			 */
			col_charge(cn, len, path);
			/*
			 * Stored before: written again all the same (the same
			 * bytes, the same name) before the sync the ack waits
			 * for.  What was read back may be the page cache's only:
			 * a write-back error is said to one syncfs once, and
			 * another run of the collector (or another process)
			 * may have been told, not this one.  Synced before it
			 * takes the place of a copy that may be on disk: its
			 * error is then this file's, and that copy stays.
			 * Indexed if not.
			 */
			if ((r = store_file(path, buf, len, true)) < 0)
				return r;
			return index_has(col, cn->agent, id) ? 0 :
			    index_report(cn, p, sha, path);
		}
		/*
		 * The same id with other bytes: never overwritten -- unless
		 * what is there is no report of this agent (a rename that a
		 * power cut left empty before the sync): the agent sends it
		 * again for want of an ack, and would be refused for good.
		 */
		if (!damaged) {
			*word = KE_REPLAY;
			return -EEXIST;
		}
		fprintf(stderr, "kakurictl collector: %s: a damaged copy "
		    "(not a report of %.16s) replaced by the one sent again\n",
		    path, cn->agent);
	}
	/* kept in its agent's outbox while the disk is nearly full */
	if (!col_disk_room(col)) {
		cn->dirty = was_dirty;
		*word = KE_BUSY;
		return -ENOSPC;
	}
	/*
	 * Announced once the disk syncs, or never (a resend finds it
	 * stored): refused while its agent's share of the reports waiting
	 * for a sync is taken, kept in the agent's outbox, sent again.
	 */
	if (!col_unsynced_room(col, cn->agent)) {
		/* nothing of it to sync: the refusal needs no sync to go */
		cn->dirty = was_dirty;
		*word = KE_BUSY;
		return -EBUSY;
	}
	if (!cn->identity_kept && (r = keep_identity(col, cn)) < 0)
		return r;
	cn->identity_kept = true;
	if ((r = store_file(path, buf, len, false)) < 0 ||
	    (r = index_report(cn, p, sha, path)) < 0)
		return r;
	col->stored++;
	col_charge(cn, len, path);
	/*
	 * the agent's text, one line: no escape or line break of its own,
	 * and its names in ASCII (no lookalike of another PC's)
	 */
	if (asprintf(&line, "report %s %s from %.16s (%s) seq %lld: %s",
	    ctl_name(p, KW_TYPE, "?", type, sizeof(type)), id, cn->agent,
	    ctl_name(json_object_get(p, KW_HOST), KW_HOSTNAME, "?", hostname,
	    sizeof(hostname)),
	    (long long)json_integer_value(json_object_get(p, KW_SEQ)),
	    path) < 0)
		line = NULL;
	col_announce(col, line, path);
	return 0;
}
