/*
 * kakurid - the privileged quarantine daemon.
 *
 * It owns the nftables table "inet kakuri", keeps the quarantine state
 * (state.json) and the audit timeline, serves the local control socket,
 * and restores the table if another process tampers with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "adopt.h"
#include "courier.h"
#include "fleet.h"
#include "daemon.h"
#include "drill.h"
#include "dispatch.h"
#include "identity.h"
#include "lean.h"
#include "sandbox.h"
#include "subids.h"
#include "quarantine.h"
#include "outbox.h"
#include "record.h"
#include "resolver.h"
#include "restore.h"
#include "run.h"
#include "tally.h"
#include "wire.h"
#include "log.h"
#include "nflog.h"
#include "netchild.h"
#include "sign.h"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: kakurid [-dnv] [-f policy]\n"
	    "       kakurid --restore [-v] [-f policy]\n"
	    "       kakurid --init [-f policy]\n");
	exit(2);
}

/* Resolve names from the policy; failures are not fatal but weaken nothing. */
static void
resolve_ids(struct kd *d)
{
	struct passwd *pw;
	struct group *gr;

	gr = getgrnam(d->policy->staff_group);
	d->staff_known = gr != NULL;
	d->staff_gid = gr ? gr->gr_gid : (gid_t)-1;
	if (!d->staff_known)
		kk_log(LOG_WARNING, KK_MID_POLICY,
		    "staff group '%s' does not exist: only root can press disconnect",
		    d->policy->staff_group);
	/* whose subordinate uids are whose: per-user limits count users */
	kd_subids_reload(KD_SUBUID_PATH, true);
	pw = getpwnam(d->policy->user);
	d->own_known = pw != NULL;
	d->own_uid = pw ? pw->pw_uid : (uid_t)-1;
	d->own_gid = pw ? pw->pw_gid : (gid_t)-1;
	if (!d->own_known)
		kk_log(LOG_WARNING, KK_MID_POLICY,
		    "user '%s' does not exist: while isolated, no outbound management connections are allowed",
		    d->policy->user);
}

/* The answer to adopt: whether the quarantine is in force. */
static void
adopted(struct kd *d, void *opaque, uint64_t token, struct kd_answer *a)
{
	bool *ok = opaque;

	*ok = json_is_true(json_object_get(a->json, KW_OK));
}

/* At start and at boot, through the one path as every request. */
static int
adopt(struct kd *d, enum kd_origin origin)
{
	bool ok = false;
	const struct kd_req req = { .origin = origin, .actor = "kakurid",
		.verb = "adopt", .reply = adopted, .opaque = &ok };

	kd_submit(d, &req);
	return ok ? 0 : -1;
}

/*
 * The outbox checked at start (and after a reload, for a new key) in
 * slices of OUTBOX_SLICE messages, oldest first, one slice per turn of
 * the event loop: tens of thousands of signatures would hold it up for
 * seconds.  Each slice reads the names of the whole outbox (cheap) and
 * verifies the next messages past the cursor.
 */
#define OUTBOX_SLICE	512

static int
on_outbox_verify(sd_event_source *s, void *userdata)
{
	struct kd *d = userdata;
	struct kd_outbox_scan sc = { d->outbox.verified, OUTBOX_SLICE, 0, 0, 0 };
	int err;

	if ((err = kd_outbox_check(d, &sc, NULL, NULL)) < 0) {
		kk_log(LOG_ERR, KK_MID_ERROR, "outbox %s: %s", d->outbox_dir,
		    strerror(-err));
		sc.unchecked = 0;
	}
	d->outbox.verified = sc.last;
	if (sc.unchecked == 0) {
		sd_event_source_set_enabled(s, SD_EVENT_OFF);
		kk_log(LOG_DEBUG, KK_MID_START, "outbox: %lu message(s) "
		    "checked", d->outbox.count);
	}
	return 0;
}

static void
outbox_verify_start(struct kd *d)
{
	int err;

	d->outbox.verified = 0;
	if (d->outbox.verify == NULL &&
	    (err = sd_event_add_defer(d->ev, &d->outbox.verify,
	    on_outbox_verify, d)) < 0) {
		kk_log(LOG_ERR, KK_MID_ERROR, "outbox: cannot check it: %s",
		    strerror(-err));
		return;
	}
	sd_event_source_set_enabled(d->outbox.verify, SD_EVENT_ON);
}

/*
 * The policy in force, as it was read, kept in the state directory: a
 * boot whose policy file does not load (made group-writable, a typo a
 * reload refused) restores the quarantine with it (restore.c), rather
 * than not at all.
 */
static void
keep_good_policy(struct kd *d, const char *text, size_t len)
{
	char path[PATH_MAX];
	int err;

	if (text == NULL || (size_t)snprintf(path, sizeof(path), "%s/%s",
	    d->policy->state_dir, KD_POLICY_GOOD) >= sizeof(path))
		return;
	if ((err = kk_write_file_atomic(path, text, len, 0600)) < 0)
		kk_log(LOG_WARNING, KK_MID_POLICY, "%s: %s: a boot whose "
		    "policy does not load would not restore the quarantine",
		    path, strerror(-err));
}

static int
on_sighup(sd_event_source *s, const struct signalfd_siginfo *si,
    void *userdata)
{
	struct kd *d = userdata;
	struct kk_policy *next, *old = d->policy;
	char err[512] = "", *text = NULL;
	size_t len = 0;
	int r;

	next = calloc(1, sizeof(*next));
	if (next == NULL)
		return 0;
	r = kk_policy_load_text(d->policy_path, 0, next, err, sizeof(err),
	    &text, &len);
	if (r < 0) {
		kk_log(LOG_ERR, KK_MID_POLICY,
		    "reload refused, the old policy stays in force: %s", err);
		kd_audit(d, "signal:SIGHUP", "policy-reload", "refused",
		    json_pack("{s:s}", KW_ERROR, err));
		free(next);
		return 0;
	}
	d->policy = next;
	resolve_ids(d);
	/* a new peer may lie in a list in force: never cut off by it */
	kd_blocklists_keep_channel(d, "signal:SIGHUP");
	/* the new policy's table replaces the old one in one batch */
	r = kd_quarantine_reapply(d);
	if (r < 0) {
		kk_log(LOG_ERR, KK_MID_POLICY,
		    "reload: new policy could not be applied (%s); keeping the old one",
		    d->nft.err);
		kd_audit(d, "signal:SIGHUP", "policy-reload", "refused",
		    json_pack("{s:s}", KW_ERROR, d->nft.err));
		d->policy = old;
		resolve_ids(d);
		free(next);
		free(text);
		return 0;
	}
	free(old);
	keep_good_policy(d, text, len);
	free(text);
	/* trust.conf too; the network child restarts with the new settings */
	kd_identity_load(d);
	if (d->outbox.pending > 0)
		outbox_verify_start(d);	/* the key may be new */
	kd_channel_reload(d);
	kd_resolver_reload(d);
	kd_courier_reload(d);
	kd_fleet_reload(d);
	kd_nflog_reload(d);
	kk_log(LOG_NOTICE, KK_MID_POLICY, "policy %s reloaded, %s re-applied",
	    d->policy_path, kk_mode_name(d->state.mode));
	kd_audit(d, "signal:SIGHUP", "policy-reload", "applied",
	    json_pack("{s:s}", KW_MODE, kk_mode_name(d->state.mode)));
	return 0;
}

static int
on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si,
    void *userdata)
{
	struct kd *d = userdata;

	kk_log(LOG_NOTICE, KK_MID_STOP, "stopping on signal %u; %s stays in force",
	    si->ssi_signo, kk_mode_name(d->state.mode));
	sd_notify(0, "STOPPING=1");
	sd_event_exit(d->ev, 0);
	return 0;
}

/*
 * -n: trust.conf is checked with the policy, so that a key's revocation
 * that would not load (and would turn signed commands off at the
 * reload) is seen before it.  None at all is what a host without signed
 * commands has, not an error.
 */
static int
check_trust(const struct kk_policy *p)
{
	struct kk_trust t;
	struct stat st;
	char err[512] = "";
	int r;

	/* none at all; a key file trust.conf names that is gone is an error */
	if (p->trust[0] == '\0' || (stat(p->trust, &st) < 0 &&
	    errno == ENOENT))
		goto ok;
	memset(&t, 0, sizeof(t));
	if ((r = kk_trust_load(p->trust, 0, &t, err, sizeof(err))) < 0) {
		fprintf(stderr, "%s\n", err[0] ? err : strerror(-r));
		return 1;
	}
	kk_trust_free(&t);
ok:
	printf("policy OK\n");
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "restore", no_argument, NULL, 'R' },
		{ "init", no_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct kd d;
	const char *path = KK_DEFAULT_POLICY;
	bool check_only = false, restore = false, init = false;
	int verbose = 0, ch, err, ret = 1;
	char errbuf[512] = "", why[160], *text = NULL;
	size_t text_len = 0;
	const char *gaps;
	sigset_t mask;

	/* the network child: kakurid executed again by itself (netchild.h) */
	if (argc > 1 && strcmp(argv[1], "--network-child") == 0)
		kk_netchild_main(argc, argv);
	if (argc > 1 && strcmp(argv[1], "--courier") == 0)
		kd_courier_main(argc, argv);
	if (argc > 1 && strcmp(argv[1], "--fleet-child") == 0)
		kd_fleet_main(argc, argv);
	if (argc > 1 && strcmp(argv[1], "--names") == 0)
		kd_resolver_main(argc, argv);
	memset(&d, 0, sizeof(d));
	d.outbox.sealer = &kd_outbox_sealer;	/* once the identity key is loaded */
	d.report_via = kd_fleet_courier;	/* reports through the broker */
	d.audit.fd = -1;
	while ((ch = getopt_long(argc, argv, "df:nvh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			d.foreground = 1;
			break;
		case 'f':
			path = optarg;
			break;
		case 'n':
			check_only = true;
			break;
		case 'v':
			verbose++;
			break;
		case 'R':
			restore = true;
			break;
		case 'I':
			init = true;
			break;
		case 'V':
			printf("kakurid %s\n", KAKURI_VERSION);
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	kk_log_init(d.foreground || restore || check_only, verbose);
	if (restore && !check_only && !init)
		kd_restore_exec(argv);

	d.policy = calloc(1, sizeof(*d.policy));
	if (d.policy == NULL)
		return 1;
	snprintf(d.policy_path, sizeof(d.policy_path), "%s", path);
	if (restore && !check_only && !init ? kd_restore_policy(path,
	    d.policy, errbuf, sizeof(errbuf)) < 0 : kk_policy_load_text(path,
	    0, d.policy, errbuf, sizeof(errbuf), &text, &text_len) < 0) {
		fprintf(stderr, "%s\n", errbuf);
		if (!check_only)
			kk_log(LOG_ERR, KK_MID_POLICY, "%s", errbuf);
		goto out;
	}
	if (check_only) {
		ret = check_trust(d.policy);
		goto out;
	}
	if (init) {
		ret = kd_identity_init(d.policy) < 0 ? 1 : 0;
		goto out;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "kakurid: must run as root (CAP_NET_ADMIN)\n");
		goto out;
	}
	umask(0077);
	resolve_ids(&d);
	if (kd_state_dir_open(&d) < 0)
		goto out;
	if (kd_quarantine_open(&d) < 0)
		goto out;

	if (restore) {
		/*
		 * Boot: the flags hand the table over to the kernel (persist)
		 * when this process exits; kakurid.service claims it later.
		 */
		ret = adopt(&d, KD_ORIGIN_RESTORE) < 0 ? 1 : 0;
		goto out;
	}

	if ((err = sd_event_default(&d.ev)) < 0) {
		kk_log(LOG_ERR, KK_MID_ERROR, "sd-event: %s", strerror(-err));
		goto out;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sd_event_add_signal(d.ev, NULL, SIGTERM, on_exit_signal, &d);
	sd_event_add_signal(d.ev, NULL, SIGINT, on_exit_signal, &d);
	sd_event_add_signal(d.ev, NULL, SIGHUP, on_sighup, &d);
	sd_event_set_watchdog(d.ev, 1);

	/* watch first, so tampering during start-up is seen too */
	if (kd_quarantine_monitor(&d) < 0 || adopt(&d, KD_ORIGIN_START) < 0)
		goto out;
	keep_good_policy(&d, text, text_len);
	free(text);
	text = NULL;
	/* never on events alone: a timer verifies, and retries with backoff */
	if (kd_quarantine_watch(&d) < 0)
		goto out;
	/* what Landlock keeps the resolver from: said once, if not all */
	if ((gaps = kk_landlock_read_only_gaps(why, sizeof(why))) != NULL)
		kk_log(LOG_WARNING, KK_MID_START, "the resolver child: %s",
		    gaps);
	/* names of local callers, never NSS on this loop: before the socket */
	if ((err = kd_resolver_start(&d)) < 0 ||
	    (err = kd_tally_open(&d)) < 0 ||
	    (err = kk_control_open(&d, d.policy->control_socket)) < 0) {
		kk_log(LOG_ERR, KK_MID_ERROR, "control socket %s: %s",
		    d.policy->control_socket, strerror(-err));
		goto out;
	}
	/* evidence: the freezer, what was frozen before a restart */
	if ((err = kd_preserve_init(&d)) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "evidence: %s", strerror(-err));
	/* drills: never put back; a record a killed kakurid left is closed */
	if ((err = kd_drill_init(&d)) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "drills: %s", strerror(-err));
	/* the CSIRT channel is optional: isolation never waits for it */
	if (kd_identity_load(&d) < 0 || kd_channel_start(&d) < 0)
		kk_log(LOG_WARNING, KK_MID_START,
		    "signed commands are off: %s", d.remote_err[0] ?
		    d.remote_err : "the network child did not start");
	else if (d.agent_id[0])
		kk_log(LOG_INFO, KK_MID_START, "agent id %s", d.agent_id);
	/* who tried to reach a block list: NFLOG into "blocked" reports */
	if ((err = kd_nflog_start(&d)) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "NFLOG group %d: %s",
		    d.policy->block_log_group, strerror(-err));
	/* what waits: signed if it could not be before, corrupt files aside */
	outbox_verify_start(&d);
	/* the outbox to the collector, by the courier child */
	if ((d.policy->collector[0] != '\0' ||
	    d.policy->fleet_broker[0] != '\0') && kd_courier_start(&d) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "courier: out of memory");
	/* the fleet broker, dialed out to (DESIGN 9) */
	if (kd_fleet_start(&d) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "fleet: out of memory");
	kd_quarantine_notify(&d);
	sd_notify(0, "READY=1");
	/* the CSIRT's first command does not wait for the seq block */
	kd_outbox_reserve(&d);
	kd_lean_start(&d);	/* idle: only what is used stays resident */
	err = sd_event_loop(d.ev);
	ret = err < 0 ? 1 : 0;
out:
	kd_lean_stop();
	/* a report waiting for a name goes out without it, before the rest stops */
	kd_resolver_stop(&d);
	kd_nflog_stop(&d);
	kd_blocklists_clear(&d.blocklists);
	kd_drill_free(&d);
	kd_fleet_stop(&d);
	kd_courier_stop(&d);
	kd_channel_stop(&d);
	kd_preserve_free(&d);
	kd_runs_abort(&d);
	kd_runs_free(&d);
	kd_identity_free(&d);
	kk_control_close(&d);
	kd_tally_close(&d);
	kd_quarantine_close(&d);
	kk_audit_close(&d.audit);
	sd_event_source_unref(d.outbox.verify);
	kd_outbox_free(&d);
	sd_event_unref(d.ev);
	free(d.policy);
	free(text);
	return ret;
}
