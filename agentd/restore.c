/*
 * kakurid-restore - the boot restore (kakuri-restore.service, and what
 * `kakurid --restore` executes): re-apply the persisted quarantine before
 * the network comes up, then exit.
 *
 * A program of its own so that boot pays only for what a restore does:
 * the policy, state.json, one batch and its read-back, one audit line.
 * It links libnftnl, libmnl, libconfig and jansson: not libsystemd (and
 * the compression and crypto libraries it pulls in), libssl, libcrypto
 * (SHA-256 is agentd/nft/sha256.c, see restore_sha256.c) or kakurid's
 * daemon; its journal lines are written with the journal's native
 * protocol here.  The agent user's ids are read from
 * /etc/passwd without NSS modules (getpwnam only when the user is not
 * there); the staff group is the control socket's business, not a
 * restore's.  state.json is written again only when the restore changed
 * what it says.  Measured against `nft -f` of the same ruleset by
 * bench/run (section 1c).
 *
 * The decisions are kakurid's (quarantine.c, kd_quarantine_adopt): the
 * stricter of state.json and the kernel's table wins, a state file that
 * does not load means isolated with a new episode, the file kept aside
 * and the CSIRT alerted; the tables go in through the same enforcer
 * (tables.c: fallback names, flags the kernel refuses).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon.h"
#include "log.h"
#include "record.h"
#include "tables.h"

#define JOURNAL_SOCKET	"/run/systemd/journal/socket"

static int log_foreground = 1;
static int log_verbose;

void
kk_log_init(int foreground, int verbose)
{
	log_foreground = foreground;
	log_verbose = verbose;
}

/*
 * One journal entry in the native protocol: KEY=value lines, the
 * message in the binary form (KEY, newline, 64-bit little-endian length,
 * value, newline) so that any byte it holds is kept.
 */
static void
journal_send(int prio, const char *mid, const char *msg)
{
	static const struct sockaddr_un sa = {
		.sun_family = AF_UNIX, .sun_path = JOURNAL_SOCKET,
	};
	char head[160];
	uint64_t len = strlen(msg);
	unsigned char le[8];
	struct iovec iov[4];
	struct msghdr mh;
	int fd, i, n;

	n = snprintf(head, sizeof(head),
	    "PRIORITY=%d\nMESSAGE_ID=%s\nSYSLOG_IDENTIFIER=kakurid\nMESSAGE\n",
	    prio, mid);
	if (n < 0 || (size_t)n >= sizeof(head))
		return;
	for (i = 0; i < 8; i++)
		le[i] = (unsigned char)(len >> (8 * i));
	iov[0] = (struct iovec){ head, (size_t)n };
	iov[1] = (struct iovec){ le, sizeof(le) };
	iov[2] = (struct iovec){ (void *)msg, len };
	iov[3] = (struct iovec){ "\n", 1 };
	memset(&mh, 0, sizeof(mh));
	mh.msg_name = (void *)&sa;
	mh.msg_namelen = sizeof(sa);
	mh.msg_iov = iov;
	mh.msg_iovlen = 4;
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return;
	(void)sendmsg(fd, &mh, MSG_NOSIGNAL);
	close(fd);
}

/* kakurid's kk_log (log.c) without libsystemd. */
void
kk_log(int prio, const char *mid, const char *fmt, ...)
{
	char msg[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (prio == LOG_DEBUG && !log_verbose)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	journal_send(prio, mid, msg);
	if (log_foreground) {
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		fprintf(stderr, "%02d:%02d:%02d.%03ld kakurid: %s\n", tm.tm_hour,
		    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, msg);
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: kakurid-restore [-v] [-f policy]\n");
	exit(1);
}

/*
 * The agent user, whose own connections the table lets through: from
 * /etc/passwd as sysusers writes it, without loading NSS modules; NSS
 * only when it is not there.
 */
static void
resolve_own(struct kd *d)
{
	const char *user = d->policy->user;
	struct passwd *pw = NULL;
	FILE *f;

	if ((f = fopen("/etc/passwd", "re")) != NULL) {
		while ((pw = fgetpwent(f)) != NULL)
			if (strcmp(pw->pw_name, user) == 0)
				break;
		if (pw != NULL) {
			d->own_uid = pw->pw_uid;
			d->own_gid = pw->pw_gid;
		}
		fclose(f);
	}
	if (pw == NULL && (pw = getpwnam(user)) != NULL) {
		d->own_uid = pw->pw_uid;
		d->own_gid = pw->pw_gid;
	}
	d->own_known = pw != NULL;
	if (!d->own_known) {
		d->own_uid = (uid_t)-1;
		d->own_gid = (gid_t)-1;
		kk_log(LOG_WARNING, KK_MID_POLICY,
		    "user '%s' does not exist: while isolated, no outbound management connections are allowed",
		    user);
	}
}

static int
mkdir_private(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (lstat(path, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* state.json, the audit log and the outbox, as kakurid lays them out. */
static int
open_state(struct kd *d)
{
	const char *dir = d->policy->state_dir;
	char reserve[PATH_MAX];
	int err;

	if (snprintf(d->state_path, sizeof(d->state_path), "%s/state.json",
	    dir) >= (int)sizeof(d->state_path) ||
	    snprintf(d->audit_path, sizeof(d->audit_path), "%s/audit.log",
	    dir) >= (int)sizeof(d->audit_path) ||
	    snprintf(d->outbox_dir, sizeof(d->outbox_dir), "%s/outbox",
	    dir) >= (int)sizeof(d->outbox_dir) ||
	    snprintf(reserve, sizeof(reserve), "%s/reserve", dir) >=
	    (int)sizeof(reserve))
		return -ENAMETOOLONG;
	if ((err = mkdir_private(dir)) < 0)
		return err;
	/* room for state.json when the volume is full (a stat when it is there) */
	if ((err = kk_reserve_init(reserve, KK_RESERVE_BYTES)) < 0)
		kk_log(LOG_WARNING, KK_MID_ERROR,
		    "cannot set %d MiB aside in %s: %s", KK_RESERVE_BYTES >> 20,
		    reserve, strerror(-err));
	if ((err = kk_audit_open(&d->audit, d->audit_path)) < 0)
		return err;
	kk_audit_set_limits(&d->audit, (uint64_t)d->policy->audit_max_mb << 20,
	    (unsigned)d->policy->audit_keep);
	return 0;
}

/* As kakurid does (quarantine.c, state_unreadable): fail closed. */
static void
state_unreadable(struct kd *d, int load_err, struct kk_state *st,
    char *kept, size_t keptlen)
{
	const char *why = load_err == -EBADMSG ? "corrupt" :
	    strerror(-load_err);
	int err;

	kept[0] = '\0';
	if (load_err != -ENOENT &&
	    (err = kk_state_set_aside(d->state_path, time(NULL), kept,
	    keptlen)) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "cannot keep %s aside: %s",
		    d->state_path, strerror(-err));
	kk_log(LOG_CRIT, KK_MID_TAMPER,
	    "%s cannot be loaded (%s): failing closed to isolated%s%s",
	    d->state_path, why, kept[0] ? "; kept as " : "", kept);
	kd_audit(d, "kakurid", "state-load", "corrupt", json_pack(
	    "{s:s, s:s?}", "error", why, "kept", kept[0] ? kept : NULL));
	memset(st, 0, sizeof(*st));
	st->mode = KK_MODE_ISOLATED;
	st->since = time(NULL);
	snprintf(st->by, sizeof(st->by), "kakurid (state file unreadable)");
	snprintf(st->reason, sizeof(st->reason),
	    "state.json could not be loaded: failed closed");
}

static void
alert_state_unreadable(struct kd *d, const char *kept)
{
	char id[KK_EPISODE_HEX + 1];
	json_t *o;

	o = json_pack("{s:s, s:s, s:s, s:s, s:s?}", "episode", d->state.episode,
	    "mode", kk_mode_name(d->state.mode), "by", "kakurid",
	    "result", "state-unreadable", "kept", kept[0] ? kept : NULL);
	if (o == NULL || mkdir_private(d->outbox_dir) < 0 ||
	    kd_outbox_put(d, "tamper", o, id) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR,
		    "could not queue the tamper alert in %s", d->outbox_dir);
	json_decref(o);
}

static bool
same_state(const struct kk_state *a, const struct kk_state *b)
{
	return a->mode == b->mode && a->since == b->since &&
	    a->drill == b->drill && strcmp(a->episode, b->episode) == 0 &&
	    strcmp(a->by, b->by) == 0 && strcmp(a->reason, b->reason) == 0;
}

/* kd_quarantine_adopt(d, true), with the nftables enforcer alone. */
static int
restore(struct kd *d)
{
	struct kk_nft_table_info ti;
	struct kk_state st, loaded;
	const char *source = "state";
	char kept[PATH_MAX + 64] = "";
	bool unreadable;
	int err;

	memset(&st, 0, sizeof(st));
	err = kk_state_load(d->state_path, &st);
	loaded = st;
	unreadable = err < 0 && err != -ENOENT;
	if (unreadable) {
		state_unreadable(d, err, &st, kept, sizeof(kept));
		source = "fail-closed";
	}
	if ((err = kk_nft_table_info(&d->nft, &ti)) < 0) {
		kk_log(LOG_ERR, KK_MID_ERROR, "%s", d->nft.err);
		return err;
	}
	if (!unreadable && ti.exists && ti.has_mode && ti.mode > st.mode) {
		st.mode = ti.mode;
		snprintf(st.episode, sizeof(st.episode), "%s", ti.episode);
		snprintf(st.by, sizeof(st.by), "kernel table (state file behind)");
		st.since = time(NULL);
		source = "kernel";
	}
	if (st.mode != KK_MODE_OPEN && st.episode[0] == '\0' &&
	    (err = kk_episode_new(st.episode)) < 0)
		return err;
	if (st.mode == KK_MODE_OPEN)
		st.episode[0] = '\0';
	d->state = st;
	err = kd_tables_enforcer.apply(d, st.mode, st.episode);
	if (err < 0) {
		kk_log(LOG_CRIT, KK_MID_APPLY, "could not apply %s: %s",
		    kk_mode_name(st.mode), d->nft.err);
		kd_audit(d, "kakurid", "restore", "apply-failed",
		    json_pack("{s:s, s:s}", "mode", kk_mode_name(st.mode),
		    "error", d->nft.err));
		return err;
	}
	/* what it says already: not written (and synced) again */
	if ((unreadable || !same_state(&loaded, &st)) &&
	    (err = kk_state_save(d->state_path, &d->state)) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "saving %s: %s", d->state_path,
		    strerror(-err));
	if (unreadable)
		alert_state_unreadable(d, kept);
	kk_log(LOG_NOTICE, KK_MID_START,
	    "restore: %s%s%s (from %s; table %s, protection %s) applied and verified in %llu us",
	    kk_mode_name(st.mode), st.episode[0] ? ", episode " : "",
	    st.episode, source, ti.exists ? "re-adopted" : "created",
	    d->table_flags ? "owner+persist" : "monitor", d->last_apply_usec);
	kd_audit(d, "kakurid", "restore", "applied",
	    json_pack("{s:s, s:s, s:b, s:s, s:I}", "mode", kk_mode_name(st.mode),
	    "source", source, "readopted", ti.exists,
	    "protection", d->table_flags ? "owner+persist" : "monitor",
	    "apply_us", (json_int_t)d->last_apply_usec));
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "restore", no_argument, NULL, 'R' },	/* kakurid --restore [-d] */
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct kd d;
	static struct kk_policy policy;
	const char *path = KK_DEFAULT_POLICY;
	char errbuf[512] = "";
	int verbose = 0, ch, err, ret = 1;

	while ((ch = getopt_long(argc, argv, "df:vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':	/* the foreground: a restore always is */
			break;
		case 'f':
			path = optarg;
			break;
		case 'v':
			verbose++;
			break;
		case 'R':
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	kk_log_init(1, verbose);
	d.audit.fd = -1;
	d.policy = &policy;
	snprintf(d.policy_path, sizeof(d.policy_path), "%s", path);
	if (kk_policy_load(path, 0, d.policy, errbuf, sizeof(errbuf)) < 0) {
		fprintf(stderr, "%s\n", errbuf);
		kk_log(LOG_ERR, KK_MID_POLICY, "%s", errbuf);
		return 1;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "kakurid: must run as root (CAP_NET_ADMIN)\n");
		return 1;
	}
	umask(0077);
	resolve_own(&d);
	if ((err = open_state(&d)) < 0) {
		kk_log(LOG_ERR, KK_MID_ERROR, "state directory %s: %s",
		    d.policy->state_dir, strerror(-err));
		goto out;
	}
	if ((err = kk_nft_open(&d.nft)) < 0) {
		kk_log(LOG_ERR, KK_MID_ERROR, "%s", d.nft.err);
		goto out;
	}
	/* owner+persist where the kernel has them: apply falls back otherwise */
	d.table_flags = d.policy->protect == KK_PROTECT_AUTO ?
	    KK_NFT_F_OWNER | KK_NFT_F_PERSIST : 0;
	d.persist_supported = d.table_flags != 0;
	/*
	 * The flags hand the table over to the kernel (persist) when this
	 * process exits; kakurid.service claims it later.
	 */
	ret = restore(&d) < 0 ? 1 : 0;
	kk_nft_close(&d.nft);
out:
	kk_audit_close(&d.audit);
	return ret;
}
