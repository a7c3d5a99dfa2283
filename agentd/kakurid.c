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

#include "daemon.h"
#include "dispatch.h"
#include "lean.h"
#include "quarantine.h"
#include "record.h"
#include "log.h"
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

static int
mkdir_private(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (lstat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	return 0;
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
	pw = getpwnam(d->policy->user);
	d->own_known = pw != NULL;
	d->own_uid = pw ? pw->pw_uid : (uid_t)-1;
	d->own_gid = pw ? pw->pw_gid : (gid_t)-1;
	if (!d->own_known)
		kk_log(LOG_WARNING, KK_MID_POLICY,
		    "user '%s' does not exist: while isolated, no outbound management connections are allowed",
		    d->policy->user);
}














static json_t *
error_reply(const char *reason, const char *message)
{
	return json_pack("{s:b, s:s, s:s}", "ok", 0, "error", reason,
	    "message", message);
}






json_t *
kd_status(struct kd *d)
{
	json_t *o;

	if ((o = kd_quarantine_status(d)) == NULL)
		return NULL;
	json_object_set_new(o, "agent", d->agent_id[0] ?
	    json_string(d->agent_id) : json_null());
	json_object_set_new(o, "csirt_channel",
	    json_string(kd_channel_state(d)));
	json_object_set_new(o, "evidence", kd_preserve_status(d));
	return o;
}

/*
 * The staff's message is checked here, at the boundary: text only (no
 * control characters, valid UTF-8), cut to KK_TEXT_MAX - 1 bytes on a
 * character boundary.  NULL with *why set when it is not text.
 */
static const char *
disconnect_message(json_t *req, char *buf, size_t len, bool *cut,
    char *why, size_t whylen)
{
	json_t *v = json_object_get(req, "message");
	size_t bad;
	int r;

	*cut = false;
	if (v == NULL || json_is_null(v))
		return "staff disconnect button";
	if (!json_is_string(v)) {
		snprintf(why, whylen, "message must be a string");
		return NULL;
	}
	r = kk_text_check(json_string_value(v), json_string_length(v), &bad);
	if (r < 0) {
		snprintf(why, whylen, "message %s (byte %zu)",
		    kk_text_problem(r), bad);
		return NULL;
	}
	*cut = kk_text_copy(buf, len, json_string_value(v),
	    json_string_length(v)) == 1;
	return buf;
}

static json_t *
do_disconnect(struct kd *d, const struct kk_cred *cred, pid_t pid,
    const char *actor, json_t *req)
{
	enum kk_mode mode = d->policy->disconnect_mode;
	char since[32] = "", report[KK_EPISODE_HEX + 1] = "";
	char text[KK_TEXT_MAX], why[96];
	const char *msg;
	bool changed, cut;
	json_t *o;
	int err;

	msg = disconnect_message(req, text, sizeof(text), &cut, why,
	    sizeof(why));
	if (msg == NULL) {
		kd_control_refused(d, cred->uid, pid, "disconnect", "malformed",
		    json_pack("{s:s}", "error", why));
		return error_reply("malformed", why);
	}
	err = kd_enter_mode(d, mode, actor, msg, &changed);
	if (err < 0) {
		const char *what = d->state_dirty ? "save-failed" : "apply-failed";

		kk_log(LOG_ERR, KK_MID_APPLY, "disconnect by %s failed: %s",
		    actor, d->nft.err[0] ? d->nft.err : strerror(-err));
		kd_audit(d, actor, "disconnect", "failed", json_pack("{s:s, s:s}",
		    "reason", what,
		    "error", d->nft.err[0] ? d->nft.err : strerror(-err)));
		return error_reply(what, d->nft.err[0] ? d->nft.err :
		    strerror(-err));
	}
	if (!json_is_string(json_object_get(req, "message")))
		msg = NULL;
	/* holding the button down: counted, not recorded press by press */
	if (!changed && !kd_control_note_repeat(d, cred->uid, "disconnect"))
		goto reply;
	kk_log(LOG_NOTICE, KK_MID_APPLY,
	    "disconnect by %s: %s, episode %s (%s; last apply+verify %llu us)",
	    actor, kk_mode_name(d->state.mode), d->state.episode,
	    changed ? "applied" : "already in force", d->last_apply_usec);
	kd_audit(d, actor, "disconnect", changed ? "applied" : "already",
	    json_pack("{s:s, s:s?, s:I}", "mode", kk_mode_name(d->state.mode),
	    "message", msg, "apply_us", (json_int_t)d->last_apply_usec));
	/* tell the CSIRT: queued durably, delivered by the outbox */
	o = json_pack("{s:s, s:s, s:s, s:s?}", "episode", d->state.episode,
	    "mode", kk_mode_name(d->state.mode), "by", actor, "message", msg);
	if (o == NULL || kd_outbox_put(d, "disconnect", o, report) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "could not queue the CSIRT notification in %s",
		    d->outbox_dir);
	json_decref(o);
reply:
	kk_rfc3339(d->state.since, since, sizeof(since));
	return json_pack("{s:b, s:s, s:s, s:s, s:b, s:b, s:s?, s:{s:s, s:s, s:s}}",
	    "ok", 1, "mode", kk_mode_name(d->state.mode),
	    "episode", d->state.episode, "since", since, "already", !changed,
	    "message_cut", cut, "report", report[0] ? report : NULL, "contact",
	    "desk", d->policy->contact_desk, "phone", d->policy->contact_phone,
	    "email", d->policy->contact_email);
}

/*
 * The tail of the audit log: the last "lines" lines (default
 * KK_LOG_DEFAULT_LINES, 0 for all) not older than "since" (seconds since
 * 1970).  The answer announces the bytes and the anchor; control.c sends
 * the lines after it, read from the end of the log in bounded chunks, so
 * the size of the log does not decide what kakurid holds in memory.
 */
static json_t *
log_reply(struct kd *d, json_t *req)
{
	json_t *jn = json_object_get(req, "lines"), *js = json_object_get(req,
	    "since");
	unsigned long lines = KK_LOG_DEFAULT_LINES;
	struct kk_audit_tail *t;
	time_t since = 0;
	json_t *o;
	int err;

	if ((jn != NULL && (!json_is_integer(jn) || json_integer_value(jn) < 0)) ||
	    (js != NULL && (!json_is_integer(js) || json_integer_value(js) < 0)))
		return error_reply("malformed",
		    "log takes \"lines\" and \"since\" as numbers >= 0");
	if (jn != NULL)
		lines = (unsigned long)json_integer_value(jn);
	if (js != NULL)
		since = (time_t)json_integer_value(js);
	if ((t = malloc(sizeof(*t))) == NULL)
		return error_reply("io", "out of memory");
	err = kk_audit_tail_open(&d->audit, lines, since, t);
	if (err < 0) {
		free(t);
		kk_log(LOG_ERR, KK_MID_ERROR, "reading %s: %s", d->audit_path,
		    strerror(-err));
		return error_reply("io", "cannot read the audit log");
	}
	o = json_pack("{s:b, s:I, s:s, s:s, s:s, s:I, s:b}", "ok", 1,
	    "stream", (json_int_t)t->bytes, "first_prev", t->first_prev,
	    "anchor", t->anchor, "head", t->head,
	    "first_line", (json_int_t)t->first_seq, "truncated", t->truncated);
	if (o == NULL || kk_control_stream(d, d->control_serial, t) < 0) {
		kk_audit_tail_close(t);
		free(t);
		json_decref(o);
		return error_reply("io", "cannot send the audit log");
	}
	return o;
}

/* A signed command from `kakurictl apply` that waited for a worker. */
static void
control_reply(struct kd *d, uint64_t serial, const char *receipt)
{
	json_t *resp;

	resp = json_pack("{s:b, s:s}", "ok", 1, "receipt", receipt);
	kk_control_reply_later(d, serial, resp);
	json_decref(resp);
}

json_t *
kd_control_request(struct kd *d, const struct kk_cred *cred, pid_t pid,
    json_t *req)
{
	const struct kd_verb *verb;
	const char *cmd, *why;
	char actor[160];
	enum kk_op op;
	json_t *resp;

	/* refusals are counted per uid (control.c): a flood is one line */
	cmd = req ? json_string_value(json_object_get(req, "cmd")) : NULL;
	if (cmd == NULL) {
		kd_control_refused(d, cred->uid, pid, "control", "malformed",
		    NULL);
		return error_reply("malformed", "request must be a JSON object with \"cmd\"");
	}
	if (kk_op_parse(cmd, &op) < 0) {
		kd_control_refused(d, cred->uid, pid, "control",
		    "unknown-command", json_pack("{s:s}", "cmd", cmd));
		return error_reply("unknown-command", "unknown command");
	}
	/* the verb table decides (dispatch.c), as for every origin */
	why = kd_local_refusal(op, cred, d->staff_known, d->staff_gid, &verb);
	if (why != NULL && strcmp(why, "signature-required") == 0) {
		kd_control_refused(d, cred->uid, pid, cmd, why, NULL);
		return error_reply(why,
		    "release is never possible locally: ask your CSIRT for a signed release token for this episode and hand it over with 'kakurictl apply FILE'");
	}
	if (why != NULL) {
		kd_control_refused(d, cred->uid, pid, cmd, why, NULL);
		return error_reply(why, verb != NULL && verb->denied != NULL ?
		    verb->denied : "not authorized");
	}
	kk_control_actor(cred->uid, pid, actor, sizeof(actor));
	switch (op) {
	case KK_OP_STATUS:
		resp = kd_status(d);
		break;
	case KK_OP_LOG:
		resp = log_reply(d, req);
		break;
	case KK_OP_DISCONNECT:
		resp = do_disconnect(d, cred, pid, actor, req);
		break;
	case KK_OP_APPLY: {
		/* the signature decides, exactly as for the network */
		const char *env = json_string_value(json_object_get(req,
		    "envelope"));
		char *receipt;
		bool pending;

		if (env == NULL) {
			resp = error_reply("malformed", "apply needs \"envelope\"");
			break;
		}
		/* every envelope costs a check and an audit line: bounded per uid */
		if (!kd_control_rate_ok(d, cred->uid)) {
			kd_control_refused(d, cred->uid, pid, "apply",
			    "rate-limited", NULL);
			resp = error_reply("rate-limited",
			    "too many signed commands from this user; wait a few seconds");
			break;
		}
		receipt = kd_remote_handle(d, (const uint8_t *)env, strlen(env),
		    actor, control_reply, d->control_serial, &pending);
		if (pending) {
			/* control.c keeps the connection until the worker is done */
			resp = json_pack("{s:b}", "pending", 1);
			break;
		}
		resp = json_pack("{s:b, s:s?}", "ok", receipt != NULL,
		    "receipt", receipt);
		free(receipt);
		break;
	}
	default:
		kd_control_refused(d, cred->uid, pid, cmd, "not-available",
		    NULL);
		resp = error_reply("not-available",
		    "this command is not available in this version of kakurid");
		break;
	}
	return resp;
}





















static int
on_sighup(sd_event_source *s, const struct signalfd_siginfo *si,
    void *userdata)
{
	struct kd *d = userdata;
	struct kk_policy *next, *old = d->policy;
	char err[512] = "";
	int r;

	next = calloc(1, sizeof(*next));
	if (next == NULL)
		return 0;
	r = kk_policy_load(d->policy_path, 0, next, err, sizeof(err));
	if (r < 0) {
		kk_log(LOG_ERR, KK_MID_POLICY,
		    "reload refused, the old policy stays in force: %s", err);
		kd_audit(d, "signal:SIGHUP", "policy-reload", "refused",
		    json_pack("{s:s}", "error", err));
		free(next);
		return 0;
	}
	d->policy = next;
	resolve_ids(d);
	/* the new policy's table replaces the old one in one batch */
	r = kd_quarantine_reapply(d);
	if (r < 0) {
		kk_log(LOG_ERR, KK_MID_POLICY,
		    "reload: new policy could not be applied (%s); keeping the old one",
		    d->nft.err);
		kd_audit(d, "signal:SIGHUP", "policy-reload", "refused",
		    json_pack("{s:s}", "error", d->nft.err));
		d->policy = old;
		resolve_ids(d);
		free(next);
		return 0;
	}
	free(old);
	/* trust.conf too; the network child restarts with the new settings */
	kd_remote_init(d);
	kd_channel_reload(d);
	kk_log(LOG_NOTICE, KK_MID_POLICY, "policy %s reloaded, %s re-applied",
	    d->policy_path, kk_mode_name(d->state.mode));
	kd_audit(d, "signal:SIGHUP", "policy-reload", "applied",
	    json_pack("{s:s}", "mode", kk_mode_name(d->state.mode)));
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




static int
setup_paths(struct kd *d)
{
	const char *dir = d->policy->state_dir;
	char reserve[PATH_MAX];
	int err;

	if (snprintf(d->state_path, sizeof(d->state_path), "%s/state.json",
	    dir) >= (int)sizeof(d->state_path) ||
	    snprintf(d->audit_path, sizeof(d->audit_path), "%s/audit.log",
	    dir) >= (int)sizeof(d->audit_path) ||
	    snprintf(d->outbox_dir, sizeof(d->outbox_dir), "%s/outbox",
	    dir) >= (int)sizeof(d->outbox_dir))
		return -ENAMETOOLONG;
	if ((err = mkdir_private(dir)) < 0 ||
	    (err = mkdir_private(d->outbox_dir)) < 0)
		return err;
	/* room for state, replay ids and notices when the volume fills up */
	if (snprintf(reserve, sizeof(reserve), "%s/reserve", dir) >=
	    (int)sizeof(reserve))
		return -ENAMETOOLONG;
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

/* --init: an Ed25519 key file, loaded if it exists, else created (0600). */
static int
init_key(const char *path, EVP_PKEY **out)
{
	EVP_PKEY *k = NULL;
	int err;

	*out = NULL;
	if (access(path, F_OK) == 0) {
		if ((err = kk_key_load_private(path, &k)) < 0) {
			fprintf(stderr, "kakurid: %s: %s\n", path, strerror(-err));
			return err;
		}
	} else {
		k = kk_key_generate();
		if (k == NULL || (err = kk_key_save_private(k, path)) < 0) {
			fprintf(stderr, "kakurid: cannot create %s: %s\n", path,
			    k ? strerror(-err) : "key generation failed");
			EVP_PKEY_free(k);
			return -EIO;
		}
		fprintf(stderr, "kakurid: created %s\n", path);
	}
	*out = k;
	return 0;
}

/* --init: cert exists, loads, and carries key; says what is wrong if not. */
static int
init_check_cert(const char *path, EVP_PKEY *key, X509 **out)
{
	EVP_PKEY *pub;
	X509 *x = NULL;
	int err;

	if ((err = kk_cert_load(path, &x)) < 0) {
		fprintf(stderr, "kakurid: %s: %s\n", path, err == -EINVAL ?
		    "not a PEM certificate" : strerror(-err));
		return err;
	}
	pub = X509_get0_pubkey(x);
	if (pub == NULL || EVP_PKEY_eq(pub, key) != 1) {
		fprintf(stderr, "kakurid: %s does not carry the key of its key "
		    "file\n", path);
		X509_free(x);
		return -EINVAL;
	}
	*out = x;
	return 0;
}

/*
 * --init (DESIGN 2): the agent's Ed25519 identity key and a self-signed
 * certificate carrying it, then the network child's own TLS key and a
 * certificate for it that the identity key signs, each created only where
 * missing (an install from before the TLS key gets just that).  Prints
 * the agent id.
 */
static int
init_identity(const struct kk_policy *p)
{
	EVP_PKEY *k = NULL, *tk = NULL;
	X509 *idcert = NULL, *tlscert = NULL;
	char id[KK_AGENT_ID_HEX + 1], host[64] = "kakuri-agent";
	int err;

	gethostname(host, sizeof(host) - 1);
	if ((err = init_key(p->key, &k)) < 0)
		goto out;
	if (access(p->cert, F_OK) != 0) {
		err = kk_cert_selfsigned(k, host, 3650, p->cert);
		if (err < 0) {
			fprintf(stderr, "kakurid: cannot create %s: %s\n", p->cert,
			    strerror(-err));
			goto out;
		}
		fprintf(stderr, "kakurid: created %s\n", p->cert);
	}
	if ((err = init_check_cert(p->cert, k, &idcert)) < 0 ||
	    (err = init_key(p->tls_key, &tk)) < 0)
		goto out;
	if (EVP_PKEY_eq(k, tk) == 1) {
		fprintf(stderr, "kakurid: %s holds the identity key; the network "
		    "child needs a key of its own\n", p->tls_key);
		err = -EINVAL;
		goto out;
	}
	if (access(p->tls_cert, F_OK) != 0) {
		/* a subject of its own: it is not the identity certificate */
		err = kk_cert_issue(tk, "kakurid network child", 3650, idcert,
		    k, p->tls_cert);
		if (err < 0) {
			fprintf(stderr, "kakurid: cannot create %s: %s\n",
			    p->tls_cert, strerror(-err));
			goto out;
		}
		fprintf(stderr, "kakurid: created %s (certified by %s)\n",
		    p->tls_cert, p->key);
	}
	if ((err = init_check_cert(p->tls_cert, tk, &tlscert)) < 0)
		goto out;
	if ((err = kk_cert_check_issued(tlscert, k)) < 0) {
		fprintf(stderr, "kakurid: %s is not certified by the identity key "
		    "%s; remove it and run kakurid --init again\n", p->tls_cert,
		    p->key);
		goto out;
	}
	err = kk_key_id(k, id);
	if (err == 0)
		printf("%s\n", id);
out:
	X509_free(idcert);
	X509_free(tlscert);
	EVP_PKEY_free(tk);
	EVP_PKEY_free(k);
	return err;
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
	char errbuf[512] = "";
	sigset_t mask;

	/* the network child: kakurid executed again by itself (netchild.h) */
	if (argc > 1 && strcmp(argv[1], "--network-child") == 0)
		kk_netchild_main(argc, argv);
	memset(&d, 0, sizeof(d));
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

	d.policy = calloc(1, sizeof(*d.policy));
	if (d.policy == NULL)
		return 1;
	snprintf(d.policy_path, sizeof(d.policy_path), "%s", path);
	if (kk_policy_load(path, 0, d.policy, errbuf, sizeof(errbuf)) < 0) {
		fprintf(stderr, "%s\n", errbuf);
		if (!check_only)
			kk_log(LOG_ERR, KK_MID_POLICY, "%s", errbuf);
		goto out;
	}
	if (check_only) {
		printf("policy OK\n");
		ret = 0;
		goto out;
	}
	if (init) {
		ret = init_identity(d.policy) < 0 ? 1 : 0;
		goto out;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "kakurid: must run as root (CAP_NET_ADMIN)\n");
		goto out;
	}
	umask(0077);
	resolve_ids(&d);
	if ((err = setup_paths(&d)) < 0) {
		kk_log(LOG_ERR, KK_MID_ERROR, "state directory %s: %s",
		    d.policy->state_dir, strerror(-err));
		goto out;
	}
	if (kd_quarantine_open(&d) < 0)
		goto out;

	if (restore) {
		/*
		 * Boot: the flags hand the table over to the kernel (persist)
		 * when this process exits; kakurid.service claims it later.
		 */
		ret = kd_quarantine_adopt(&d, true) < 0 ? 1 : 0;
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
	if (kd_quarantine_monitor(&d) < 0 || kd_quarantine_adopt(&d, false) < 0)
		goto out;
	/* never on events alone: a timer verifies, and retries with backoff */
	if (kd_quarantine_watch(&d) < 0)
		goto out;
	if ((err = kk_control_open(&d, d.policy->control_socket)) < 0) {
		kk_log(LOG_ERR, KK_MID_ERROR, "control socket %s: %s",
		    d.policy->control_socket, strerror(-err));
		goto out;
	}
	/* evidence: the freezer, what was frozen before a restart */
	if ((err = kd_preserve_init(&d)) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR, "evidence: %s", strerror(-err));
	/* the CSIRT channel is optional: isolation never waits for it */
	d.child_fd = -1;
	if (kd_remote_init(&d) < 0 || kd_channel_start(&d) < 0)
		kk_log(LOG_WARNING, KK_MID_START,
		    "signed commands are off: %s", d.remote_err[0] ?
		    d.remote_err : "the network child did not start");
	else if (d.agent_id[0])
		kk_log(LOG_INFO, KK_MID_START, "agent id %s", d.agent_id);
	kd_quarantine_notify(&d);
	sd_notify(0, "READY=1");
	kd_lean_start(&d);	/* idle: only what is used stays resident */
	err = sd_event_loop(d.ev);
	ret = err < 0 ? 1 : 0;
out:
	kd_lean_stop();
	kd_channel_stop(&d);
	kd_preserve_free(&d);
	kd_remote_abort_runs(&d);
	kd_remote_free(&d);
	kk_control_close(&d);
	kd_quarantine_close(&d);
	kk_audit_close(&d.audit);
	sd_event_unref(d.ev);
	free(d.policy);
	return ret;
}
