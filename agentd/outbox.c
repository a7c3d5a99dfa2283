/*
 * The durable outbox (DESIGN 7, issue 10): what the CSIRT must hear,
 * one file per message in state_dir/outbox, named
 * "<seq, 20 digits>-<id>.dsse" so that names sort in seq order.  The
 * file is the report payload signed by the agent's identity key as a DSSE
 * envelope; it is written temp + fsync + rename + fsync of the directory
 * (kk_write_file_atomic) before the id is given out.
 *
 * Without the identity key (kakurid-restore at boot, which links no
 * libcrypto, or a kakurid started before kakurid --init) a message is
 * written just as durably but unsigned, "<seq>-<id>.pend", the payload
 * alone; kd_outbox_check signs it once the key is loaded and nothing
 * leaves the host unsigned (the courier sends .dsse files only).
 *
 * seq strictly increases across restarts: a block of numbers is
 * persisted ahead in outbox/seq before any of it is used, and at start
 * the counter continues past both that file and the names on disk.
 *
 * Bounded by report.max_mb and KD_OUTBOX_MAX_N messages; past that only
 * tamper alerts and quarantine notices (disconnect, isolate, release) get
 * in, into a reserve of KD_OUTBOX_RESERVE bytes and KD_OUTBOX_RESERVE_N
 * messages.  Self-reports are held to a share per reporting user too
 * (self_room).  A file that does not read or check is moved to
 * outbox/corrupt, audited and reported, never trusted or crashed on.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon.h"
#include "hostfacts.h"
#include "log.h"
#include "outbox.h"
#include "outbox_aside.h"
#include "outbox_self.h"
#include "record.h"
#include "subids.h"
#include "wire.h"

#define SEQ_DIGITS	20
#define NAME_LEN	(SEQ_DIGITS + 1 + KK_EPISODE_HEX + 5)
#define SUFFIX_SIGNED	".dsse"
#define SUFFIX_PENDING	".pend"
#define TMP_INFIX	".tmp."
#define SEQ_FILE	"seq"

/*
 * May it use the reserve past report.max_mb (and the disk's)?  Not a
 * notice that only repeats one (its body says "again": a disconnect
 * pressed with the quarantine in force).
 */
static bool
is_priority(enum kk_report_type type, const json_t *body)
{
	return (type == KK_REPORT_TAMPER || type == KK_REPORT_DISCONNECT ||
	    type == KK_REPORT_ISOLATE || type == KK_REPORT_RELEASE) &&
	    !json_is_true(json_object_get(body, KW_AGAIN));
}

/* A message's name: its seq, id and whether it is signed; false if not one. */
static bool
parse_name(const char *name, size_t len, unsigned long long *seq,
    char id[KK_EPISODE_HEX + 1], bool *is_signed)
{
	const char *suffix = name + SEQ_DIGITS + 1 + KK_EPISODE_HEX;
	unsigned long long v = 0;
	size_t i;

	if (len != NAME_LEN || name[SEQ_DIGITS] != '-' ||
	    !kk_is_hex(name + SEQ_DIGITS + 1, KK_EPISODE_HEX, KK_EPISODE_HEX))
		return false;
	if (strncmp(suffix, SUFFIX_SIGNED, 5) == 0)
		*is_signed = true;
	else if (strncmp(suffix, SUFFIX_PENDING, 5) == 0)
		*is_signed = false;
	else
		return false;
	for (i = 0; i < SEQ_DIGITS; i++) {
		if (name[i] < '0' || name[i] > '9' ||
		    v > (ULLONG_MAX - 9) / 10)
			return false;
		v = v * 10 + (unsigned long long)(name[i] - '0');
	}
	*seq = v;
	memcpy(id, name + SEQ_DIGITS + 1, KK_EPISODE_HEX);
	id[KK_EPISODE_HEX] = '\0';
	return true;
}

static void
make_name(char name[KD_OUTBOX_NAME_MAX], unsigned long long seq,
    const char *id, bool is_signed)
{
	snprintf(name, KD_OUTBOX_NAME_MAX, "%0*llu-%s%s", SEQ_DIGITS, seq, id,
	    is_signed ? SUFFIX_SIGNED : SUFFIX_PENDING);
}

static int
join(char *buf, size_t len, const char *dir, const char *name)
{
	if (snprintf(buf, len, "%s/%s", dir, name) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

/* outbox/seq: no seq at or below it was, or will be, given out again */
static int
seq_read(struct kd *d, unsigned long long *hi)
{
	char path[PATH_MAX + 16], *buf, *end;
	size_t len;
	int fd, r;

	*hi = 0;
	if ((r = join(path, sizeof(path), d->outbox_dir, SEQ_FILE)) < 0)
		return r;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	r = kk_read_fd(fd, 64, &buf, &len);
	close(fd);
	if (r < 0)
		return r;
	errno = 0;
	*hi = strtoull(buf, &end, 10);
	if (errno != 0 || end == buf || (*end != '\n' && *end != '\0'))
		r = -EBADMSG;
	free(buf);
	return r;
}

/* A file of the outbox: only a vital one may take the disk's reserve. */
static int
write_file(const char *path, const void *data, size_t len, bool vital)
{
	return vital ? kk_write_file_vital(path, data, len, 0600) :
	    kk_write_file_atomic(path, data, len, 0600);
}

/*
 * A message's new file, there after a success only: a write that fails
 * once the file is renamed into place (its directory does not sync)
 * takes it away again, or the courier would deliver what the caller was
 * told was refused, and a second report of the same thing after it.
 */
static int
write_new(const char *path, const void *data, size_t len, bool vital)
{
	int r;

	if ((r = write_file(path, data, len, vital)) < 0)
		unlink(path);
	return r;
}

/*
 * The next block of seq numbers, persisted before any of it is given;
 * vital: for a priority notice, which may take the disk's reserve.
 */
static int
seq_reserve(struct kd *d, bool vital)
{
	struct kd_outbox *ob = &d->outbox;
	char path[PATH_MAX + 16], buf[32];
	unsigned long long hi;
	int r, n;

	if (ob->seq < ob->seq_hi)
		return 0;
	hi = ob->seq + KD_OUTBOX_SEQ_BLOCK;
	n = snprintf(buf, sizeof(buf), "%llu\n", hi);
	if ((r = join(path, sizeof(path), d->outbox_dir, SEQ_FILE)) < 0 ||
	    (r = write_file(path, buf, (size_t)n, vital)) < 0)
		return r;
	ob->seq_hi = hi;
	return 0;
}

static int
next_seq(struct kd *d, unsigned long long *seq, bool vital)
{
	int r;

	if ((r = seq_reserve(d, vital)) < 0)
		return r;
	*seq = ++d->outbox.seq;
	return 0;
}

int
kd_outbox_reserve(struct kd *d)
{
	return d->outbox.open ? seq_reserve(d, true) : 0;
}

static int
open_dir(struct kd *d, DIR **out)
{
	int fd;

	*out = NULL;
	fd = open(d->outbox_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if ((*out = fdopendir(fd)) == NULL) {
		close(fd);
		return -errno;
	}
	return 0;
}

/*
 * A ".pend" whose ".dsse" exists too: a crash between sign_pending's
 * rename and its unlink.  The signed copy wins; the unsigned one goes.
 */
static bool
pend_superseded(int dfd, const char *name, unsigned long long seq,
    const char *id)
{
	char signed_name[KD_OUTBOX_NAME_MAX];
	struct stat st;

	make_name(signed_name, seq, id, true);
	if (fstatat(dfd, signed_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	unlinkat(dfd, name, 0);
	return true;
}

/*
 * A message's entry as a scan counts it: false for a .pend whose .dsse
 * is there too (counted once, as the .dsse) or one that is gone; else
 * its lstat in *st.
 */
static bool
message_stat(DIR *dir, const char *name, unsigned long long seq,
    const char *id, bool is_signed, struct stat *st)
{
	if (!is_signed && pend_superseded(dirfd(dir), name, seq, id))
		return false;
	return fstatat(dirfd(dir), name, st, AT_SYMLINK_NOFOLLOW) == 0;
}

int
kd_outbox_open(struct kd *d)
{
	struct kd_outbox *ob = &d->outbox;
	char id[KK_EPISODE_HEX + 1];
	unsigned long long hi, seq, top = 0;
	unsigned long n = 0, count = 0, pending = 0;
	uint64_t bytes = 0;
	struct dirent *de;
	struct stat st;
	bool is_signed;
	size_t len;
	DIR *dir;
	int r;

	if ((r = seq_read(d, &hi)) < 0)
		kk_log(LOG_ERR, KK_MID_TAMPER, "%s/%s: %s: seq continues from "
		    "the messages on disk", d->outbox_dir, SEQ_FILE,
		    r == -EBADMSG ? "corrupt" : strerror(-r));
	if ((r = open_dir(d, &dir)) < 0)
		return r;
	while ((de = readdir(dir)) != NULL && n++ < KD_OUTBOX_SCAN_MAX) {
		len = strlen(de->d_name);
		if (parse_name(de->d_name, len, &seq, id, &is_signed)) {
			if (!message_stat(dir, de->d_name, seq, id, is_signed,
			    &st))
				continue;
			if (seq > top)
				top = seq;
			count++;
			if (!is_signed)
				pending++;
			if (S_ISREG(st.st_mode))
				bytes += (uint64_t)st.st_size;
		} else if (len > NAME_LEN && parse_name(de->d_name, NAME_LEN,
		    &seq, id, &is_signed) && strncmp(de->d_name + NAME_LEN,
		    TMP_INFIX, strlen(TMP_INFIX)) == 0) {
			/* a write a crash interrupted: never renamed, never given */
			unlinkat(dirfd(dir), de->d_name, 0);
		}
	}
	closedir(dir);
	ob->seq = ob->seq_hi = hi > top ? hi : top;
	ob->count = count;
	ob->pending = pending;
	ob->bytes = bytes;
	ob->open = true;
	return 0;
}

const char *
kd_outbox_error(struct kd *d)
{
	return d->outbox.err;
}

void
kd_outbox_notify(struct kd *d, enum kk_report_type type, json_t *body,
    const char *what)
{
	char id[KK_EPISODE_HEX + 1];

	if (body == NULL)
		kk_log(LOG_ERR, KK_MID_ERROR, "%s: out of memory", what);
	else if (kd_outbox_put(d, type, body, id) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "%s: %s", what,
		    kd_outbox_error(d));
	json_decref(body);
}

int
kd_outbox_put(struct kd *d, enum kk_report_type type, json_t *body,
    char id[KK_EPISODE_HEX + 1])
{
	struct kd_outbox *ob = &d->outbox;
	char nid[KK_EPISODE_HEX + 1], since[32], name[KD_OUTBOX_NAME_MAX];
	char path[PATH_MAX + KD_OUTBOX_NAME_MAX];
	char *payload = NULL, *env = NULL;
	const char *data, *tname;
	unsigned long long seq;
	uint64_t limit;
	unsigned long nmax;
	bool is_signed = false, vital, owned = false;
	size_t len, envlen = 0;
	uid_t owner = 0;
	json_t *p = NULL;
	int err;

	id[0] = '\0';
	ob->err[0] = '\0';
	if ((unsigned)type >= KK_REPORT__MAX || !json_is_object(body))
		return -EINVAL;
	tname = kk_report_type_name(type);
	if (!ob->open && (err = kd_outbox_open(d)) < 0)
		goto out;
	/*
	 * Only the CSIRT's priority notices may take the disk's reserve
	 * (state.c): a self-report is what a local user who filled the disk
	 * could send to hand it to his filler.
	 */
	vital = is_priority(type, body);
	if ((err = kk_episode_new(nid)) < 0 ||
	    (err = next_seq(d, &seq, vital)) < 0)
		goto out;
	kk_rfc3339(time(NULL), since, sizeof(since));
	p = json_pack("{s:i, s:s, s:I, s:s, s:s, s:o, s:O}", KW_V, 1,
	    KW_ID, nid, KW_SEQ, (json_int_t)seq, KW_TIME, since, KW_TYPE, tname,
	    KW_HOST, kd_host_facts(), KW_BODY, body);
	err = -ENOMEM;
	if (p == NULL)
		goto out;
	if (d->agent_id[0] != '\0')
		json_object_set_new(p, KW_AGENT, json_string(d->agent_id));
	if (d->state.episode[0] != '\0')
		json_object_set_new(p, KW_EPISODE,
		    json_string(d->state.episode));
	if ((payload = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		goto out;
	data = payload;
	len = strlen(payload);
	if (ob->sealer != NULL && d->agent_key != NULL &&
	    d->agent_id[0] != '\0') {
		if ((err = ob->sealer->seal(d, payload, len, &env,
		    &envlen)) == 0) {
			data = env;
			len = envlen;
			is_signed = true;
		} else
			kk_log(LOG_ERR, KK_MID_ERROR, "outbox: cannot sign "
			    "message %llu (%s): kept unsigned until it can be",
			    seq, strerror(-err));
	}

	limit = (uint64_t)d->policy->report_max_mb << 20;
	nmax = KD_OUTBOX_MAX_N;
	if (vital) {
		limit += KD_OUTBOX_RESERVE;
		nmax += KD_OUTBOX_RESERVE_N;
	}
	/*
	 * What traffic makes (blocked: anyone who connects to a listed
	 * address, or the listed host itself) stops at a quarter: while
	 * the collector is away it must not leave the outbox full for the
	 * employee's self-report, a drill or evidence.
	 */
	if (type == KK_REPORT_BLOCKED) {
		limit /= KD_OUTBOX_BLOCKED_PART;
		nmax /= KD_OUTBOX_BLOCKED_PART;
	}
	if (ob->bytes + len > limit || ob->count + 1 > nmax) {
		snprintf(ob->err, sizeof(ob->err), "the outbox is full (%lu "
		    "message(s), %llu KiB, report.max_mb %d): %s report "
		    "refused until the collector takes what waits",
		    ob->count, (unsigned long long)(ob->bytes >> 10),
		    d->policy->report_max_mb, tname);
		kk_log(LOG_ERR, KK_MID_ERROR, "%s", ob->err);
		kd_audit(d, "kakurid", "outbox", "refused-full", json_pack(
		    "{s:s, s:I, s:I}", KW_TYPE, tname, KW_COUNT,
		    (json_int_t)ob->count, KW_BYTES, (json_int_t)ob->bytes));
		err = -ENOSPC;
		goto out;
	}
	if (type == KK_REPORT_SELF && (owned = kd_outbox_self_owner(body, &owner))) {
		if (!kd_outbox_self_room(d, owner, len, limit, nmax)) {
			err = -ENOSPC;
			goto out;
		}
		/* its entry's room first: a queued report is always counted */
		if ((err = kd_outbox_self_grow(ob)) < 0)
			goto out;
	}
	make_name(name, seq, nid, is_signed);
	if ((err = join(path, sizeof(path), d->outbox_dir, name)) < 0 ||
	    (err = write_new(path, data, len, vital)) < 0)
		goto out;
	ob->bytes += len;
	ob->count++;
	if (!is_signed)
		ob->pending++;
	if (owned)
		kd_outbox_self_note(ob, seq, owner, len);
	memcpy(id, nid, sizeof(nid));
	err = 0;
	if (ob->sealer != NULL && ob->sealer->queued != NULL)
		ob->sealer->queued(d);	/* the courier tries now */
out:
	if (err < 0 && ob->err[0] == '\0')
		snprintf(ob->err, sizeof(ob->err), "cannot queue the %s report "
		    "in %.120s: %s", tname, d->outbox_dir, strerror(-err));
	json_decref(p);
	free(payload);
	free(env);
	return err;
}

/* Is p the payload its name says (v, id, seq, type, time, body)? */
static bool
payload_ok(struct kd *d, json_t *p, unsigned long long seq, const char *id,
    bool is_signed)
{
	json_t *js = json_object_get(p, KW_SEQ), *ja = json_object_get(p,
	    KW_AGENT);
	const char *type = json_string_value(json_object_get(p, KW_TYPE));
	enum kk_report_type t;

	if (!json_is_object(p) ||
	    json_integer_value(json_object_get(p, KW_V)) != 1 ||
	    !json_is_integer(js) || (unsigned long long)json_integer_value(js) !=
	    seq || !json_is_string(json_object_get(p, KW_ID)) ||
	    strcmp(json_string_value(json_object_get(p, KW_ID)), id) != 0 ||
	    kk_report_type_parse(type, &t) < 0 ||
	    !json_is_string(json_object_get(p, KW_TIME)) ||
	    !json_is_object(json_object_get(p, KW_BODY)))
		return false;
	/* signed: by this agent; unsigned: the agent is added at signing */
	if (is_signed)
		return json_is_string(ja) && (d->agent_id[0] == '\0' ||
		    strcmp(json_string_value(ja), d->agent_id) == 0);
	return ja == NULL || json_is_string(ja);
}

/* An unsigned message signed now: *buf and *len become the envelope. */
static int
sign_pending(struct kd *d, int dfd, const char *name, json_t *p,
    unsigned long long seq, const char *id, char **buf, size_t *len)
{
	char signed_name[KD_OUTBOX_NAME_MAX], path[PATH_MAX + KD_OUTBOX_NAME_MAX];
	char *payload, *env = NULL;
	enum kk_report_type type;
	size_t envlen;
	bool vital;
	int err;

	/* payload_ok read the type; a priority notice may take the reserve */
	vital = kk_report_type_parse(json_string_value(json_object_get(p,
	    KW_TYPE)), &type) == 0 && is_priority(type, json_object_get(p,
	    KW_BODY));
	json_object_set_new(p, KW_AGENT, json_string(d->agent_id));
	if ((payload = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		return -ENOMEM;
	err = d->outbox.sealer->seal(d, payload, strlen(payload), &env,
	    &envlen);
	free(payload);
	if (err < 0)
		return err;
	make_name(signed_name, seq, id, true);
	if ((err = join(path, sizeof(path), d->outbox_dir, signed_name)) < 0 ||
	    (err = write_new(path, env, envlen, vital)) < 0) {
		free(env);
		return err;
	}
	unlinkat(dfd, name, 0);
	free(*buf);
	*buf = env;
	*len = envlen;
	return 0;
}

struct bad {
	char name[NAME_LEN + 1];
	char why[96];
};

/* A corrupt file found: audited, logged, and reported as tamper. */
static void
report_bad(struct kd *d, const struct bad *b, const char *done,
    const char *kept)
{
	char id[KK_EPISODE_HEX + 1];
	json_t *o;

	kk_log(LOG_CRIT, KK_MID_TAMPER, "outbox file %s %s: %s%s%s", b->name,
	    b->why, done, kept[0] ? " as " : "", kept);
	kd_audit(d, "kakurid", "outbox-corrupt", done, json_pack(
	    "{s:s, s:s, s:s?}", KW_FILE, b->name, KW_WHY, b->why, KW_KEPT,
	    kept[0] ? kept : NULL));
	o = json_pack("{s:s, s:s, s:s, s:s, s:s?}", KW_RESULT, "outbox-corrupt",
	    KW_FILE, b->name, KW_WHY, b->why, KW_WHAT, done, KW_KEPT,
	    kept[0] ? kept : NULL);
	if (o == NULL || kd_outbox_put(d, KK_REPORT_TAMPER, o, id) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "%s", d->outbox.err[0] ?
		    d->outbox.err : "cannot report the corrupt outbox file");
	json_decref(o);
}

/*
 * A bad file out of the way (kd_outbox_move_aside), audited and
 * reported, and remembered when it is left where it is; false when it
 * was gone already.  The caller skips one left and told before
 * (kd_outbox_left_quiet).
 */
static bool
set_aside(struct kd *d, int dfd, const struct bad *b)
{
	char kept[NAME_LEN + 64];
	const char *done;

	if ((done = kd_outbox_move_aside(dfd, b->name, kept, sizeof(kept))) == NULL)
		return false;
	if (strcmp(done, "left") == 0)
		kd_outbox_left_note(&d->outbox, b->name);
	d->outbox.corrupt++;
	report_bad(d, b, done, kept);
	return true;
}

/*
 * One message read and checked; NULL and *why if it is not good, NULL
 * and *later if it could not be read now (kd_outbox_read_later).
 */
static json_t *
read_message(struct kd *d, int dfd, const char *name, unsigned long long seq,
    const char *id, bool *is_signed, char **buf, size_t *len, char *why,
    size_t whylen, bool *later)
{
	json_error_t jerr;
	json_t *p = NULL;
	int fd, r;

	*buf = NULL;
	*later = false;
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		r = errno;
		if (kd_outbox_read_later(-r))
			*later = true;
		else if (r != ENOENT)
			kd_outbox_read_why(-r, why, whylen);
		return NULL;
	}
	r = kk_read_fd(fd, KD_OUTBOX_MSG_MAX, buf, len);
	close(fd);
	if (kd_outbox_read_later(r)) {
		*later = true;
		return NULL;
	}
	if (r < 0) {
		kd_outbox_read_why(r, why, whylen);
		return NULL;
	}
	if (*is_signed) {
		if (d->outbox.sealer == NULL)
			r = -EOPNOTSUPP;
		else
			r = d->outbox.sealer->open(d, *buf, *len, &p);
		if (r == -EOPNOTSUPP)
			return json_object();	/* cannot tell here */
		if (kd_outbox_read_later(r)) {
			*later = true;
			return NULL;
		}
		if (r < 0) {
			snprintf(why, whylen, "%s", r == -EBADMSG ?
			    "is not an envelope the agent key signed" :
			    strerror(-r));
			return NULL;
		}
	} else if ((p = json_loadb(*buf, *len, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL) {
		if (json_error_code(&jerr) == json_error_out_of_memory)
			*later = true;
		else
			snprintf(why, whylen, "is not JSON");
		return NULL;
	}
	if (!payload_ok(d, p, seq, id, *is_signed)) {
		snprintf(why, whylen, "does not hold the message its name says");
		json_decref(p);
		return NULL;
	}
	if (!*is_signed && d->outbox.sealer != NULL && d->agent_key != NULL &&
	    d->agent_id[0] != '\0') {
		if ((r = sign_pending(d, dfd, name, p, seq, id, buf, len)) == 0)
			*is_signed = true;
		else
			kk_log(LOG_ERR, KK_MID_ERROR, "outbox: cannot sign %s: "
			    "%s", name, strerror(-r));
	}
	return p;
}

/* a message as the name pass of kd_outbox_check sees it */
struct cand {
	unsigned long long seq;
	uint64_t size;
	char name[NAME_LEN + 1];
};

static int
cand_by_seq(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int
kd_outbox_check(struct kd *d, struct kd_outbox_scan *sc,
    void (*fn)(void *arg, const struct kd_outbox_entry *e), void *arg)
{
	struct kd_outbox *ob = &d->outbox;
	struct kd_outbox_entry e;
	struct bad *bad = NULL;
	struct cand *cv = NULL, *c;
	char why[96], id[KK_EPISODE_HEX + 1];
	unsigned long n = 0, count = 0, pending = 0, max, nread = 0;
	unsigned long long top = 0, seq, after = sc ? sc->after : 0;
	size_t ncv = 0, capcv = 0, nbad = 0, nlater = 0, i, len;
	struct dirent *de;
	struct stat st;
	uint64_t bytes = 0;
	bool is_signed, later;
	uid_t owner;
	char *buf;
	json_t *p;
	DIR *dir;
	int r;

	max = sc != NULL && sc->max > 0 ? sc->max : ULONG_MAX;
	if (!ob->open && (r = kd_outbox_open(d)) < 0)
		return r;
	if ((r = open_dir(d, &dir)) < 0)
		return r;
	kd_outbox_self_unsee(ob);
	bad = calloc(KD_OUTBOX_CORRUPT_SCAN, sizeof(*bad));
	/*
	 * The names first (cheap): the messages past sc->after, oldest
	 * first, are read and checked up to max; the rest are counted from
	 * their names and sizes alone.
	 */
	while ((de = readdir(dir)) != NULL && n++ < KD_OUTBOX_SCAN_MAX) {
		len = strlen(de->d_name);
		if (!parse_name(de->d_name, len, &seq, id, &is_signed))
			continue;	/* not a message: never read, never followed */
		if (!message_stat(dir, de->d_name, seq, id, is_signed, &st))
			continue;
		if (seq > top)
			top = seq;
		kd_outbox_self_seen(ob, seq);
		if (seq <= after) {
			/* checked by an earlier slice */
			count++;
			bytes += (uint64_t)st.st_size;
			if (!is_signed)
				pending++;
			continue;
		}
		if (ncv == capcv) {
			capcv = capcv ? capcv * 2 : 256;
			if ((c = reallocarray(cv, capcv, sizeof(*cv))) == NULL) {
				closedir(dir);
				free(cv);
				free(bad);
				return -ENOMEM;
			}
			cv = c;
		}
		c = &cv[ncv++];
		c->seq = seq;
		c->size = (uint64_t)st.st_size;
		memcpy(c->name, de->d_name, len + 1);
	}
	/* every name seen: the self-reports gone leave the table */
	if (de == NULL)
		kd_outbox_self_prune(ob);
	if (ncv > 0)
		qsort(cv, ncv, sizeof(*cv), cand_by_seq);
	if (sc != NULL) {
		sc->last = after;
		sc->checked = sc->unchecked = 0;
	}
	for (i = 0; i < ncv; i++) {
		memset(&e, 0, sizeof(e));
		parse_name(cv[i].name, NAME_LEN, &e.seq, e.id, &e.is_signed);
		if (nread >= max) {
			/* not read this time: counted as its name says */
			count++;
			bytes += cv[i].size;
			if (!e.is_signed)
				pending++;
			if (sc != NULL)
				sc->unchecked++;
			continue;
		}
		nread++;
		if (sc != NULL) {
			sc->last = e.seq;
			sc->checked++;
		}
		why[0] = '\0';
		p = read_message(d, dirfd(dir), cv[i].name, e.seq, e.id,
		    &e.is_signed, &buf, &len, why, sizeof(why), &later);
		if (p == NULL && later) {
			/* kept as it is, and counted as its name says */
			nlater++;
			count++;
			bytes += cv[i].size;
			if (!e.is_signed)
				pending++;
			free(buf);
			continue;
		}
		if (p == NULL) {
			kd_outbox_self_drop(ob, e.seq);	/* gone, or moved aside */
			if (why[0] != '\0' && bad != NULL &&
			    nbad < KD_OUTBOX_CORRUPT_SCAN &&
			    !kd_outbox_left_quiet(ob, cv[i].name)) {
				snprintf(bad[nbad].name, sizeof(bad[nbad].name),
				    "%s", cv[i].name);
				snprintf(bad[nbad].why, sizeof(bad[nbad].why),
				    "%s", why);
				nbad++;
			}
			free(buf);
			continue;
		}
		count++;
		bytes += len;
		if (!e.is_signed)
			pending++;
		make_name(e.name, e.seq, e.id, e.is_signed);
		e.type = json_string_value(json_object_get(p, KW_TYPE));
		e.time = json_string_value(json_object_get(p, KW_TIME));
		e.size = len;
		/* whose it is, after a restart too; its size once signed */
		if (e.type != NULL && strcmp(e.type,
		    kk_report_type_name(KK_REPORT_SELF)) == 0 &&
		    kd_outbox_self_owner(json_object_get(p, KW_BODY), &owner))
			kd_outbox_self_note(ob, e.seq, owner, len);
		if (fn != NULL)
			fn(arg, &e);
		json_decref(p);
		free(buf);
	}
	free(cv);
	if (nlater > 0)
		kk_log(LOG_WARNING, KK_MID_ERROR, "outbox: %zu message(s) could "
		    "not be read now (out of memory or descriptors): kept, and "
		    "read again at the next check", nlater);
	/* the totals first: the reports of what was moved add to them */
	ob->count = count;
	ob->pending = pending;
	ob->bytes = bytes;
	if (top > ob->seq)
		ob->seq = top;	/* next_seq persists past it before use */
	for (i = 0; i < nbad; i++)
		/* handled meanwhile by the courier's check (report_bad's kick) */
		if (!kd_outbox_left_quiet(ob, bad[i].name))
			set_aside(d, dirfd(dir), &bad[i]);
	closedir(dir);
	free(bad);
	return (int)nbad;
}

int
kd_outbox_read(struct kd *d, const char *name, char **buf, size_t *len)
{
	int dfd, fd, r;

	*buf = NULL;
	dfd = open(d->outbox_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	r = fd < 0 ? -errno : kk_read_fd(fd, KD_OUTBOX_MSG_MAX, buf, len);
	kk_close(fd);
	close(dfd);
	return r;
}

int
kd_outbox_set_aside(struct kd *d, const char *name, uint64_t size, int r)
{
	struct kd_outbox *ob = &d->outbox;
	char id[KK_EPISODE_HEX + 1];
	unsigned long long seq;
	struct bad b;
	bool is_signed;
	int dfd = -1, err;

	/* a message's name only: nothing else is moved, nor followed */
	err = -EINVAL;
	if (!parse_name(name, strlen(name), &seq, id, &is_signed))
		goto out;
	snprintf(b.name, sizeof(b.name), "%s", name);
	kd_outbox_read_why(r, b.why, sizeof(b.why));
	dfd = open(d->outbox_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (dfd < 0) {
		err = -errno;
		goto out;
	}
	/* one left where it is and told already is not reported again */
	err = -ENOENT;
	if (!kd_outbox_left_quiet(ob, name) && !set_aside(d, dfd, &b))
		goto out;
	/* no longer waiting: a check counts no bad file either */
	ob->bytes = ob->bytes > size ? ob->bytes - size : 0;
	if (ob->count > 0)
		ob->count--;
	kd_outbox_self_drop(ob, seq);
	err = 0;
out:
	kk_close(dfd);
	return err;
}

int
kd_outbox_remove(struct kd *d, const char *name, uint64_t size)
{
	struct kd_outbox *ob = &d->outbox;
	char id[KK_EPISODE_HEX + 1];
	unsigned long long seq;
	bool is_signed;
	int dfd, r = 0;

	dfd = open(d->outbox_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	/*
	 * No directory sync: an unlink lost in a crash only sends the
	 * message again, and the collector acks a report it has without
	 * storing it twice.
	 */
	if (unlinkat(dfd, name, 0) < 0)
		r = -errno;
	close(dfd);
	if (r == 0) {
		ob->bytes = ob->bytes > size ? ob->bytes - size : 0;
		if (ob->count > 0)
			ob->count--;
		if (parse_name(name, strlen(name), &seq, id, &is_signed))
			kd_outbox_self_drop(ob, seq);
	}
	return r;
}
