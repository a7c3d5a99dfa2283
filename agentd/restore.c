/*
 * kakurid-restore - the boot restore (kakuri-restore.service, and what
 * `kakurid --restore` executes): re-apply the persisted quarantine before
 * the network comes up, then exit.
 *
 * A program of its own so that boot pays only for what a restore does:
 * the policy, state.json, one dump of the interfaces (the netdev table's
 * devices), one batch and its read-back, one audit line.
 * It links libnftnl, libmnl, libconfig and jansson: not libsystemd (and
 * the compression and crypto libraries it pulls in), libssl, libcrypto
 * (SHA-256 is Nettle's, see common/sha256.c) or kakurid's daemon; its
 * log lines go to stderr, which systemd makes a journal stream.  The
 * agent user's ids are read from /etc/passwd without NSS modules
 * (getpwnam only when the user is not there); the staff group is the
 * control socket's business, not a restore's.  state.json is written again only when the restore changed
 * what it says.  Measured against `nft -f` of the same ruleset by
 * bench/run (section 1c).
 *
 * The decisions are kakurid's, from the same code (adopt.c): the stricter
 * of state.json and the kernel's table wins, a state file that does not
 * load means isolated with a new episode, the file kept aside and the
 * CSIRT alerted; the tables go in through the same enforcers (tables.c:
 * fallback names, flags the kernel refuses).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "adopt.h"
#include "daemon.h"
#include "log.h"
#include "record.h"
#include "tables.h"

static int log_verbose;

/* kakurid's log.c links libsystemd; this does not need it */
void
kk_log_init(int foreground, int verbose)
{
	(void)foreground;
	log_verbose = verbose;
}

/*
 * kakurid's kk_log without libsystemd: under systemd, stderr is a journal
 * stream ($JOURNAL_STREAM names it) and a line's "<N>" prefix is its
 * priority (sd-daemon(3)); on a terminal, a time and the program's name.
 */
void
kk_log(int prio, const char *mid, const char *fmt, ...)
{
	char msg[1024];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	(void)mid;
	if (prio == LOG_DEBUG && !log_verbose)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (getenv("JOURNAL_STREAM") != NULL) {
		fprintf(stderr, "<%d>%s\n", prio & 7, msg);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	fprintf(stderr, "%02d:%02d:%02d.%03ld kakurid: %s\n", tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, msg);
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
	unsigned long long t0, t_state = 0;
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
	if (kd_restore_policy(path, d.policy, errbuf, sizeof(errbuf)) < 0) {
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
	t0 = kd_now_usec();
	if (kd_state_dir_open(&d) < 0)
		goto out;
	t_state = kd_now_usec() - t0;
	if ((err = kk_nft_open(&d.nft)) < 0) {
		kk_log(LOG_ERR, KK_MID_ERROR, "%s", d.nft.err);
		goto out;
	}
	/* owner+persist where the kernel has them: apply falls back otherwise */
	d.table_flags = d.policy->protect == KK_PROTECT_AUTO ?
	    KK_NFT_F_OWNER | KK_NFT_F_PERSIST : 0;
	d.persist_supported = d.table_flags != 0;
	/*
	 * The devices the netdev table's chains hook (Ethernet, raw IP):
	 * kakurid's interface watch reads them with the same dump before it
	 * adopts, so the table it finds is the one it would write.  Without
	 * them the inet and bridge tables still go in: a restore that fails
	 * over the devices would leave the host open.
	 */
	if ((err = kk_links_read(&d.links)) < 0)
		kk_log(LOG_CRIT, KK_MID_APPLY,
		    "interfaces: %s: restoring without the netdev table: frames of AF_PACKET sockets and of devices stacked into other namespaces are NOT cut off until kakurid starts",
		    strerror(-err));
	/*
	 * The flags hand the table over to the kernel (persist) when this
	 * process exits; kakurid.service claims it later.
	 */
	ret = kd_adopt(&d, true) < 0 ? 1 : 0;
	/* where a restore's time goes (bench/block_bench.sh reads it) */
	kk_log(LOG_DEBUG, KK_MID_START, "restore: state and block lists read "
	    "in %llu us; the last batch in the kernel %llu us", t_state,
	    d.nft.stats.batch_usec);
	kk_nft_close(&d.nft);
out:
	kd_tables_free(&d);
	kk_links_close(&d.links);
	kk_audit_close(&d.audit);
	return ret;
}
