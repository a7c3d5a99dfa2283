/*
 * kakurictl collector: the command (DESIGN 5, 7): its options, the
 * listener and the fleet broker set up, the loop run.  What it does with
 * a connection and a report is collector.c's; with the broker,
 * colbroker.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509.h>
#include <systemd/sd-event.h>

#include "collector.h"
#include "colquota.h"
#include "commands.h"
#include "ctl.h"
#include "kakuri.h"
#include "options.h"
#include "output.h"
#include "sign.h"
#include "tls.h"

static int
on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *arg)
{
	sd_event_exit(sd_event_source_get_event(s), 0);
	return 0;
}

/* Room for 1,000 agents' sockets. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* --agents or --deny, each time given: every file is read, none lost */
#define ID_FILES_MAX	8
struct id_files {
	const char *v[ID_FILES_MAX];
	size_t n;
};

static int
take_id_file(char *value, void *arg)
{
	struct id_files *f = arg;

	if (f->n == ID_FILES_MAX) {
		fail_line("at most %d files of agent ids to --agents, and to "
		    "--deny", ID_FILES_MAX);
		return EX_USAGE;
	}
	f->v[f->n++] = value;
	return EX_DONE;
}

/* Each of f into list: 0, or -1 said. */
static int
load_id_files(const struct id_files *f, char ***list, size_t *n)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (col_load_ids(f->v[i], list, n) < 0)
			return -1;
	return 0;
}

int
cmd_collector(struct ctl *c, int argc, char **argv)
{
	struct collector col = { .dirfd = -1, .index_synced = -1,
	    .exec_timeout_s = COL_EXEC_TIMEOUT_S,
	    .frame_timeout_s = COL_FRAME_TIMEOUT_S, .min_free_mib = -1,
	    .broker_budget_mib = -1 };
	struct stat st;
	pid_t holder;
	const char *listen = NULL, *cert = NULL, *key = NULL, *ca = NULL;
	const char *broker = NULL, *broker_ca = NULL;
	struct id_files agents = { .n = 0 }, deny = { .n = 0 };
	long long quota_mib = COLQ_DEFAULT_MIB;
	const struct ctl_option opts[] = {
		CTL_TEXT("listen", &listen),
		CTL_TEXT("broker", &broker),
		CTL_TEXT("broker-ca", &broker_ca),
		CTL_TEXT("dir", &col.dir),
		CTL_TLS_FILES(&ca, &cert, &key),
		CTL_CALL("agents", take_id_file, &agents),
		CTL_CALL("deny", take_id_file, &deny),
		CTL_TEXT("exec", &col.exec),
		CTL_NUMBER("exec-timeout", &col.exec_timeout_s, 1,
		    COL_EXEC_TIMEOUT_MAX_S, "--exec-timeout wants the seconds "
		    "a --exec program may run, 1 to 3600"),
		CTL_NUMBER("frame-timeout", &col.frame_timeout_s, 1,
		    COL_FRAME_TIMEOUT_MAX_S, "--frame-timeout wants the "
		    "seconds a report may take to arrive, 1 to 3600"),
		CTL_NUMBER("min-free-mib", &col.min_free_mib, 0,
		    COL_MIN_FREE_MAX_MIB, "--min-free-mib wants the MiB a new "
		    "report must leave free, 0 to 1048576"),
		CTL_NUMBER("agent-quota", &quota_mib, 1, COLQ_MAX_MIB,
		    "--agent-quota wants the MiB an agent may store an hour, "
		    "1 to 1048576"),
		CTL_NUMBER("broker-budget", &col.broker_budget_mib, 1,
		    COL_BROKER_BUDGET_MAX_MIB, "--broker-budget wants the MiB "
		    "an hour the broker path may read in vain, 1 to 1048576"),
		CTL_OPTIONS_END,
	};
	X509 *x = NULL;
	char err[300], id[KK_AGENT_ID_HEX + 1];
	sigset_t mask;
	size_t i;
	int lfd = -1, r, ret = EX_USAGE;

	if (ctl_options(argc, argv, opts, 0, 0, NULL) != EX_DONE ||
	    listen == NULL || col.dir == NULL || cert == NULL || key == NULL ||
	    (ca == NULL) == (agents.n == 0))
		goto out;
	ret = EX_FAILED;
	if (col.exec != NULL && (col.exec[0] != '/' ||
	    access(col.exec, X_OK) < 0)) {
		fail_line("--exec %s: not an executable given by its absolute "
		    "path", col.exec);
		goto out;
	}
	if (col.broker_budget_mib != -1 && broker == NULL) {
		fail_line("--broker-budget is the broker path's: it wants "
		    "--broker");
		ret = EX_USAGE;
		goto out;
	}
	if (col.broker_budget_mib == -1)
		col.broker_budget_mib = COL_BROKER_BUDGET_MIB;
	if (load_id_files(&agents, &col.agents, &col.nagents) < 0 ||
	    load_id_files(&deny, &col.denied, &col.ndenied) < 0)
		goto out;
	/* the broker's share of each agent's quota, only with a broker */
	if ((col.quota = col_quota_new((uint64_t)quota_mib << 20)) == NULL ||
	    (broker != NULL && ((col.broker_quota = col_quota_new(
	    (uint64_t)quota_mib << 20)) == NULL ||
	    (col.broker_budget = col_quota_new(
	    (uint64_t)col.broker_budget_mib << 20)) == NULL))) {
		fail_line("out of memory");
		goto out;
	}
	if (ca != NULL && ((col.ca = X509_STORE_new()) == NULL ||
	    X509_STORE_load_file(col.ca, ca) != 1)) {
		fail_line("--ca %s: not a readable PEM CA file", ca);
		goto out;
	}
	if (kk_key_load_private(key, &col.key) < 0 ||
	    kk_cert_load(cert, &x) < 0 ||
	    EVP_PKEY_eq(X509_get0_pubkey(x), col.key) != 1 ||
	    kk_key_id(col.key, id) < 0) {
		fail_line("%s and %s: not an Ed25519 key and its certificate "
		    "(the acks are signed with that key)", key, cert);
		goto out;
	}
	if ((col.ctx = kk_tls_collector_ctx(cert, key, err, sizeof(err))) == NULL) {
		fail_line("%s", err);
		goto out;
	}
	if (mkdir(col.dir, 0750) < 0 && errno != EEXIST) {
		fail_line("%s: %s", col.dir, strerror(errno));
		goto out;
	}
	if ((col.dirfd = open(col.dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0) {
		fail_line("%s: %s", col.dir, strerror(errno));
		goto out;
	}
	/*
	 * One collector on a directory: two would interleave index.jsonl's
	 * lines, write the same temporary names, and each sync the other's
	 * reports it never checked.  Held until this process ends.
	 */
	if ((r = kk_dir_lock(col.dir, "collector.lock", &holder)) == -EBUSY) {
		if (holder > 0)
			fail_line("%s: a collector (pid %ld) stores there "
			    "already; not started", col.dir, (long)holder);
		else
			fail_line("%s: another collector stores there "
			    "already; not started", col.dir);
		goto out;
	}
	if (r < 0) {
		fail_line("%s/collector.lock: %s", col.dir, strerror(-r));
		goto out;
	}
	/*
	 * index.jsonl as found is never cut (a failed sync cuts the lines
	 * appended since the last good one, colannounce.c).  A disk that
	 * does not sync now stores nothing that would be acked: not started,
	 * systemd tries again.  (What an earlier run stored and the disk did
	 * not take may still be read from the page cache; a resend of it is
	 * written again, collector.c.)
	 */
	if (fstatat(col.dirfd, "index.jsonl", &st, AT_SYMLINK_NOFOLLOW) == 0)
		col.index_synced = st.st_size;
	else if (errno == ENOENT)
		col.index_synced = 0;
	if ((r = col_sync(&col)) < 0) {
		fail_line("%s: the disk does not sync (%s): what is stored "
		    "there cannot be trusted; not started", col.dir,
		    strerror(-r));
		goto out;
	}
	if (kk_tcp_listen(listen, &lfd, err, sizeof(err)) < 0) {
		fail_line("%s", err);
		goto out;
	}
	raise_nofile();
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (sd_event_default(&col.ev) < 0 ||
	    sd_event_add_io(col.ev, NULL, lfd, EPOLLIN, col_on_accept, &col) < 0 ||
	    sd_event_add_signal(col.ev, NULL, SIGTERM, on_signal, NULL) < 0 ||
	    sd_event_add_signal(col.ev, NULL, SIGINT, on_signal, NULL) < 0) {
		fail_line("cannot set up the event loop");
		goto out;
	}
	/* the fleet broker's reports too (DESIGN 9), the broker checked
	 * against --broker-ca (its own CA), else --ca */
	if (broker != NULL && broker_ca == NULL && ca == NULL) {
		fail_line("--broker needs --broker-ca, the broker's CA (or --ca)");
		ret = EX_USAGE;
		goto out;
	}
	if (broker != NULL && (ret = colbroker_start(&col, broker,
	    broker_ca ? broker_ca : ca, cert, key)) != EX_DONE)
		goto out;
	ret = EX_FAILED;
	printf("collector %s listening on %s%s%s, storing in %s (agents by "
	    "%s, %lld MiB an hour each)\n", id, listen, broker ?
	    " and at the broker " : "", broker ? broker : "", col.dir, ca ?
	    "CA" : "list", quota_mib);
	fflush(stdout);
	ret = sd_event_loop(col.ev) < 0 ? EX_FAILED : EX_DONE;
	fprintf(stderr, "collector: %lu stored, %lu acked again, %lu "
	    "refused\n", col.stored, col.acked, col.refused);
out:
	colbroker_stop(&col);
	col_close_all(&col);
	kk_close(lfd);
	kk_close(col.dirfd);
	for (i = 0; i < col.nagents; i++)
		free(col.agents[i]);
	free(col.agents);
	for (i = 0; i < col.ndenied; i++)
		free(col.denied[i]);
	free(col.denied);
	X509_free(x);
	X509_STORE_free(col.ca);
	col_quota_free(col.quota);
	col_quota_free(col.broker_quota);
	col_quota_free(col.broker_budget);
	EVP_PKEY_free(col.key);
	SSL_CTX_free(col.ctx);
	sd_event_unref(col.ev);
	return ret;
}
