/*
 * Signing: a command payload (DESIGN 4) built, checked by the agent's own
 * strict parser and signed into a DSSE envelope (sign); one more
 * signature on an envelope (cosign, the second person of a release).
 * fetch signs its own fetch commands with sign_command.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "kakuri.h"
#include "commands.h"
#include "options.h"
#include "output.h"
#include "sign.h"
#include "signing.h"
#include "wire.h"

/* text and a newline into path (atomically), or on stdout for NULL or "-" */
/*
 * Whether path may be replaced by a signed command: it is not there, or
 * it is one already (cosign, a token signed again).  Anything else -- a
 * private key named by mistake in -o, a report -- is not overwritten.
 */
static bool
replaceable(const char *path)
{
	struct kk_envelope env;
	struct stat st;
	char *old = NULL;
	size_t len;
	bool ok;

	if (lstat(path, &st) < 0)
		return errno == ENOENT;
	if (!S_ISREG(st.st_mode) || kk_read_file(path, KK_ENVELOPE_MAX, &old,
	    &len) < 0)
		return false;
	ok = kk_envelope_parse((const uint8_t *)old, len, &env) == 0;
	if (ok)
		kk_envelope_free(&env);
	free(old);
	return ok;
}

/*
 * A signed command is a bearer token (anyone who holds a release may
 * apply it): written 0600 whatever the umask or the old file's mode.
 */
static int
write_out(const char *path, const char *text)
{
	size_t len = strlen(text);
	char *t;
	int r;

	if (path == NULL || strcmp(path, "-") == 0) {
		if (fputs(text, stdout) == EOF || fputc('\n', stdout) == EOF)
			return -EIO;
		return 0;
	}
	if (!replaceable(path))
		return -EEXIST;
	if ((t = malloc(len + 2)) == NULL)
		return -ENOMEM;
	memcpy(t, text, len);
	t[len] = '\n';
	t[len + 1] = '\0';
	r = kk_write_file_atomic(path, t, len + 1, 0600);
	free(t);
	return r;
}

/* The keyid hint for a signature: the key file's name without ".key". */
const char *
key_hint(const char *path, char *buf, size_t len)
{
	const char *base = strrchr(path, '/');
	char *dot;

	snprintf(buf, len, "%s", base ? base + 1 : path);
	dot = strrchr(buf, '.');
	if (dot && strcmp(dot, ".key") == 0)
		*dot = '\0';
	return buf;
}

static int
new_id(char out[KK_ID_HEX + 1])
{
	return kk_episode_new(out);	/* the same 128-bit random hex */
}

/*
 * The strict command payload (DESIGN 4) for s, with a fresh id, signed by
 * key.  It goes through the agent's own parser first: what the agent would
 * refuse as malformed is refused here already (EX_USAGE, why says so).
 * EX_DONE with *text the envelope's JSON (caller frees) and the id in id.
 */
int
sign_command(const struct cmd_spec *s, EVP_PKEY *key, const char *keyid,
    char id[KK_ID_HEX + 1], char **text, char *why, size_t whylen)
{
	struct kk_command cmd;
	char *payload = NULL;
	json_t *o = NULL;
	int ret = EX_FAILED;

	*text = NULL;
	snprintf(why, whylen, "out of memory");
	if (new_id(id) < 0) {
		snprintf(why, whylen, "no random command id");
		goto out;
	}
	/* the addressee where an agent id has always been */
	o = json_pack("{s:i, s:s, s:s, s:I, s:I, s:s, s:O, s:s, s:s}",
	    KW_V, 1, KW_ID, id, s->group ? KW_GROUP : KW_AGENT,
	    s->group ? s->group : s->agent, KW_IAT, (json_int_t)s->iat,
	    KW_EXP, (json_int_t)(s->iat + s->ttl), KW_ACTION, s->action,
	    KW_ARGS, s->args, KW_INCIDENT, s->incident, KW_REASON, s->reason);
	if (o == NULL)
		goto out;
	if (s->episode)
		json_object_set_new(o, KW_EPISODE, json_string(s->episode));
	payload = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (payload == NULL)
		goto out;
	if (kk_command_parse((const uint8_t *)payload, strlen(payload), &cmd,
	    why, whylen) < 0) {
		ret = EX_USAGE;
		goto out;
	}
	kk_command_free(&cmd);
	if (kk_envelope_seal(KK_PT_COMMAND, (const uint8_t *)payload,
	    strlen(payload), keyid, key, text) < 0) {
		snprintf(why, whylen, "signing failed");
		goto out;
	}
	ret = EX_DONE;
out:
	free(payload);
	json_decref(o);
	return ret;
}

/* --arg KEY=TEXT or KEY:=JSON, one member of the command's args */
static int
take_arg(char *value, void *args)
{
	char *eq = strchr(value, '=');
	json_error_t jerr;
	json_t *v;

	if (eq == NULL || eq == value)
		return EX_USAGE;
	if (eq[-1] == ':') {	/* k:=JSON */
		eq[-1] = '\0';
		v = json_loads(eq + 1, JSON_DECODE_ANY, &jerr);
		if (v == NULL) {
			fail_line("--arg %s: not JSON: %s", value, jerr.text);
			return EX_USAGE;
		}
	} else {
		*eq = '\0';
		v = json_string(eq + 1);
	}
	json_object_set_new(args, value, v);
	return EX_DONE;
}

/*
 * --args FILE: the command's args from a JSON object in FILE (a block
 * list too large for a command line); --arg given after it adds to it.
 * Read up to twice the agent's cap: the agent says what is too large.
 */
#define ARGS_FILE_MAX	(2 * KK_BLOCK_PAYLOAD_MAX)

static int
take_args_file(char *path, void *args)
{
	json_error_t jerr;
	size_t len;
	char *buf;
	json_t *v;
	int r;

	if ((r = kk_read_file(path, ARGS_FILE_MAX, &buf, &len)) < 0) {
		fail_line("--args %s: %s", path, r == -EFBIG ?
		    "larger than 32 MiB" : strerror(-r));
		return EX_USAGE;
	}
	v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (!json_is_object(v)) {
		fail_line("--args %s: %s", path, v == NULL ? jerr.text :
		    "not a JSON object");
		json_decref(v);
		return EX_USAGE;
	}
	json_object_update(args, v);
	json_decref(v);
	return EX_DONE;
}

int
cmd_sign(struct ctl *c, int argc, char **argv)
{
	const char *keyfile = NULL, *out = NULL, *keyid = NULL;
	struct cmd_spec s = { .incident = "", .reason = "", .ttl = 600,
		.args = json_object() };
	/* a token prepared now for later (or dated back) */
	long long iat = time(NULL);
	const struct ctl_option opts[] = {
		CTL_TEXT("k", &keyfile),
		CTL_TEXT("o", &out),
		CTL_TEXT("agent", &s.agent),
		CTL_TEXT("group", &s.group),
		CTL_TEXT("action", &s.action),
		CTL_CALL("arg", take_arg, s.args),
		CTL_CALL("args", take_args_file, s.args),
		CTL_TEXT("episode", &s.episode),
		CTL_TEXT("incident", &s.incident),
		CTL_TEXT("reason", &s.reason),
		CTL_NUMBER("ttl", &s.ttl, 1, 7 * 86400, NULL),
		CTL_TEXT("keyid", &keyid),
		CTL_NUMBER("valid-from", &iat, 1, LLONG_MAX, NULL),
		CTL_OPTIONS_END,
	};
	char hint[KK_KEYID_MAX], id[KK_ID_HEX + 1], why[160], *text = NULL;
	enum kk_action a;
	EVP_PKEY *k = NULL;
	int r, ret = EX_USAGE;

	if (s.args == NULL)
		return EX_FAILED;
	if (ctl_options(argc, argv, opts, 0, 0, NULL) != EX_DONE ||
	    keyfile == NULL || s.action == NULL)
		goto out;
	if ((s.agent == NULL) == (s.group == NULL)) {
		fail_line("sign: %s", s.agent ? "--agent and --group exclude "
		    "each other" : "--agent ID or --group G is needed");
		goto out;
	}
	s.iat = (time_t)iat;
	if (kk_action_parse(s.action, &a) < 0) {
		fail_line("unknown action '%s'", s.action);
		goto out;
	}
	/* no core, no /proc/PID/mem holds the key */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if ((r = kk_key_load_private(keyfile, &k)) < 0) {
		fail_line("%s: %s", keyfile, strerror(-r));
		ret = EX_FAILED;
		goto out;
	}
	ret = sign_command(&s, k, keyid ? keyid : key_hint(keyfile, hint,
	    sizeof(hint)), id, &text, why, sizeof(why));
	if (ret != EX_DONE) {
		fail_line("%s%s", ret == EX_USAGE ? "invalid command: " : "",
		    why);
		goto out;
	}
	if ((r = write_out(out, text)) < 0) {
		fail_line("%s: %s", out ? out : "standard output", r ==
		    -EEXIST ? "there and not a "
		    "signed command: not overwritten" : strerror(-r));
		ret = EX_FAILED;
		goto out;
	}
	if (out && strcmp(out, "-") != 0)
		fprintf(stderr, "signed %s %s%s (id %s, expires in %lld s) "
		    "-> %s\n", s.action, s.group ? "group " : "",
		    s.group ? s.group : s.agent, id, s.ttl, out);
	ret = EX_DONE;
out:
	free(text);
	json_decref(s.args);
	EVP_PKEY_free(k);
	return ret;
}

/* t as RFC 3339, or words saying it is none */
static const char *
time_shown(int64_t t, char *buf, size_t len)
{
	if (t < 0 || t > 253402300799LL ||	/* 9999-12-31T23:59:59Z */
	    kk_rfc3339((time_t)t, buf, len) < 0)
		snprintf(buf, len, "(out of range: %lld)", (long long)t);
	return buf;
}

/*
 * What the second person is asked to sign, on stderr: the command's
 * words, not just a file name (the two-person rule is worth what the
 * second person sees).  Agent text is cleaned.  The signatures there are
 * named by the keys of keys (a directory of .pub files) that verify them;
 * without it, their keyids are shown as claims: anyone can write a
 * signature that names itself "alice".
 */
static void
show_command(const char *path, const struct kk_command *cmd,
    const struct kk_envelope *env, const char *const who[])
{
	char from[48], to[48], args[200], k[KK_KEYID_MAX], *a;
	time_t now = time(NULL);
	size_t i, j;

	a = cmd->args ? json_dumps(cmd->args, JSON_COMPACT) : NULL;
	kk_text_clean(args, sizeof(args), a ? a : "{}", a ? strlen(a) : 2);
	free(a);
	fprintf(stderr, "%s: %s for %s %s\n", path,
	    kk_action_name(cmd->action), cmd->group[0] ? "group" : "agent",
	    cmd->group[0] ? cmd->group : cmd->agent);
	fprintf(stderr, "  command %s, episode %s\n", cmd->id,
	    cmd->episode[0] ? cmd->episode : "-");
	fprintf(stderr, "  incident: %s\n  reason: %s\n  args: %s\n",
	    cmd->incident, cmd->reason, args);
	fprintf(stderr, "  valid from %s to %s (%s)\n",
	    time_shown(cmd->iat, from, sizeof(from)),
	    time_shown(cmd->exp, to, sizeof(to)), cmd->exp < now ?
	    "EXPIRED: no agent takes it" : cmd->iat > now ?
	    "NOT YET VALID: it is meant for later" : "valid now");
	fprintf(stderr, who == NULL ? "  signed by (as they name themselves, "
	    "not checked; --keys DIR checks them):" : "  signed by (verified):");
	for (i = 0; i < env->nsigs; i++) {
		/*
		 * Claims: printable ASCII only, no escape or bidi.  Verified
		 * names are plain already (key_name).
		 */
		kk_explain(k, sizeof(k), "%s", env->sigs[i].keyid);
		for (j = 0; j < i; j++)
			if (strcmp(who ? who[j] : env->sigs[j].keyid,
			    who ? who[i] : env->sigs[i].keyid) == 0)
				break;
		fprintf(stderr, j < i ? " (%s again: %s)" : " %s",
		    who ? who[i] : k, who ? "one key counts once" :
		    "the same name");
	}
	fputc('\n', stderr);
}

#define KEY_NAME_CHARS	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" \
			"0123456789._-"

/*
 * A name shown as verified is a plain one: no escape or bidi override in a
 * file name makes "mallory" read "alice".
 */
static int
key_name(const struct dirent *de)
{
	size_t n = strlen(de->d_name);

	return n >= 5 && strcmp(de->d_name + n - 4, ".pub") == 0 &&
	    strspn(de->d_name, KEY_NAME_CHARS) == n;
}

/* name order in bytes, whatever the locale (alphasort uses strcoll) */
static int
by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/*
 * Each signature of env verified against the public keys (NAME.pub) in
 * dir, tried in name order: who[i] is the name of the key that verifies
 * signature i (the caller frees them).  A signature that none verifies
 * fails the whole: -EBADMSG, with its keyid in bad (it may claim a name it
 * has no key for).  More key files than an agent may trust: -E2BIG (which
 * of them were tried would otherwise be the directory's order).  Another
 * negative errno when dir cannot be read.
 */
static int
verify_signers(const char *dir, const struct kk_envelope *env,
    char *who[], char *bad, size_t badlen)
{
	char path[PATH_MAX];
	struct dirent **names = NULL;
	struct stat st;
	EVP_PKEY *k;
	size_t i;
	int j, n, r = 0;

	if ((n = scandir(dir, &names, key_name, by_name)) < 0)
		return -errno;
	if (n > KK_TRUST_MAX_KEYS) {
		r = -E2BIG;
		goto out;
	}
	for (j = 0; j < n; j++) {
		/* a regular file only (a FIFO would hold cosign) */
		if (snprintf(path, sizeof(path), "%s/%s", dir,
		    names[j]->d_name) >= (int)sizeof(path) ||
		    stat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
		    kk_key_load_public(path, &k) < 0)
			continue;
		for (i = 0; i < env->nsigs; i++)
			if (who[i] == NULL && kk_dsse_verify_one(env, i, k) == 0)
				who[i] = strndup(names[j]->d_name,
				    strlen(names[j]->d_name) - 4);
		EVP_PKEY_free(k);
	}
	for (i = 0; i < env->nsigs && r == 0; i++)
		if (who[i] == NULL) {
			kk_explain(bad, badlen, "%s", env->sigs[i].keyid);
			r = -EBADMSG;
		}
out:
	for (j = 0; j < n; j++)
		free(names[j]);
	free(names);
	return r;
}

static int public_half(EVP_PKEY **k);

/*
 * The public half of the key in path, for the checks before the yes: from
 * its seed, decoded and cleared by kk_key_load_seed, where it is plain
 * PKCS#8 PEM (what keygen writes); through OpenSSL's decoder otherwise.
 */
static int
load_public_half(const char *path, EVP_PKEY **out)
{
	unsigned char seed[KK_ED25519_SEED];
	EVP_PKEY *k = NULL;
	int r;

	*out = NULL;
	if ((r = kk_key_load_seed(path, seed)) == 0) {
		k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
		    sizeof(seed));
		OPENSSL_cleanse(seed, sizeof(seed));
		if (k == NULL)
			return -EINVAL;
	} else if (r != -EINVAL || (r = kk_key_load_private(path, &k)) < 0) {
		return r;
	}
	if ((r = public_half(&k)) < 0) {
		EVP_PKEY_free(k);
		return r;
	}
	*out = k;
	return 0;
}

/* *k, a private Ed25519 key, replaced by its public half: 0 or -errno. */
static int
public_half(EVP_PKEY **k)
{
	unsigned char raw[32];
	size_t len = sizeof(raw);
	EVP_PKEY *pub;

	if (EVP_PKEY_get_raw_public_key(*k, raw, &len) != 1 ||
	    (pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw,
	    len)) == NULL)
		return -EINVAL;
	EVP_PKEY_free(*k);
	*k = pub;
	return 0;
}

/* confirmed() found a terminal on stdin, and none to ask on */
static bool no_tty;

/* On a terminal, without --yes: the second person says yes. */
static bool
confirmed(void)
{
	char line[16];
	FILE *tty;
	bool yes;

	if (!isatty(STDIN_FILENO))
		return true;
	/* a terminal on stdin, none to ask on: not a yes */
	if ((tty = fopen("/dev/tty", "r+e")) == NULL) {
		no_tty = true;
		return false;
	}
	fputs("add your signature? [y/N] ", tty);
	fflush(tty);
	yes = fgets(line, sizeof(line), tty) != NULL &&
	    (strcmp(line, "y\n") == 0 || strcmp(line, "yes\n") == 0);
	fclose(tty);
	return yes;
}

int
cmd_cosign(struct ctl *c, int argc, char **argv)
{
	const char *keyfile = NULL, *keyid = NULL, *out = NULL, *path;
	const char *keys = NULL, *problem;
	bool yes = false;
	const struct ctl_option opts[] = {
		CTL_TEXT("k", &keyfile),
		CTL_TEXT("o", &out),
		CTL_TEXT("keyid", &keyid),
		CTL_TEXT("keys", &keys),
		CTL_FLAG("yes", &yes),
		CTL_OPTIONS_END,
	};
	struct kk_envelope env;
	struct kk_command cmd = { 0 };
	char hint[KK_KEYID_MAX], why[160], *buf = NULL, *text = NULL;
	char *who[KK_DSSE_MAX_SIGS] = { NULL };
	EVP_PKEY *k = NULL, *pub = NULL;
	size_t len, i;
	int r, first, ret = EX_FAILED;

	if (ctl_options(argc, argv, opts, 1, 1, &first) != EX_DONE ||
	    keyfile == NULL)
		return EX_USAGE;
	path = argv[first];
	if ((r = kk_read_file(path, KK_ENVELOPE_MAX, &buf, &len)) < 0) {
		fail_line("%s: %s", path, strerror(-r));
		return EX_FAILED;
	}
	if (kk_envelope_parse((uint8_t *)buf, len, &env) < 0) {
		fail_line("%s: not a DSSE envelope", path);
		free(buf);
		return EX_FAILED;
	}
	/* only a command is cosigned, and only one that can be read */
	problem = NULL;
	if (strcmp(env.type, KK_PT_COMMAND) != 0)
		problem = "another payload type";
	else if (kk_command_parse_untrusted(env.payload, env.payload_len,
	    &cmd, why, sizeof(why)) < 0)
		problem = why;
	if (problem != NULL) {
		fail_line("%s: not a kakuri command (%s): nothing signed", path,
		    problem);
		goto out;
	}
	/*
	 * The private key is in memory only to sign, after the yes: while
	 * the second person reads, only its public half is (and the process
	 * is not dumpable: no core, no /proc/PID/mem for the same uid).
	 */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if ((r = load_public_half(keyfile, &pub)) < 0) {
		fail_line("%s: %s", keyfile, strerror(-r));
		goto out;
	}
	/* a second signature of the same key counts once: say so now */
	for (i = 0; i < env.nsigs; i++)
		if (kk_dsse_verify_one(&env, i, pub) == 0) {
			fail_line("%s is signed by %s already: another signature "
			    "of the same key would not count", path, keyfile);
			goto out;
		}
	if (keys != NULL && (r = verify_signers(keys, &env, who, hint,
	    sizeof(hint))) < 0) {
		if (r == -EBADMSG)
			fail_line("%s: a signature that no key in %s verifies "
			    "(it names itself \"%s\"): not signed", path, keys,
			    hint);
		else if (r == -E2BIG)
			fail_line("%s: more than %d key files (NAME.pub): an "
			    "agent trusts at most %d; keep the ones this "
			    "command's signers use", keys, KK_TRUST_MAX_KEYS,
			    KK_TRUST_MAX_KEYS);
		else
			fail_line("%s: %s", keys, strerror(-r));
		goto out;
	}
	show_command(path, &cmd, &env, keys ? (const char *const *)who : NULL);
	if (!yes && !confirmed()) {
		fail_line("not signed%s", no_tty ? ": no terminal to ask on "
		    "(--yes signs without asking)" : "");
		goto out;
	}
	if ((r = kk_key_load_private(keyfile, &k)) < 0) {
		fail_line("%s: %s", keyfile, strerror(-r));
		goto out;
	}
	/* the key that signs is the one checked before the yes */
	if (EVP_PKEY_eq(k, pub) != 1) {
		fail_line("%s changed while the command was shown: not signed",
		    keyfile);
		goto out;
	}
	if (kk_envelope_sign(&env, keyid ? keyid : key_hint(keyfile, hint,
	    sizeof(hint)), k) < 0) {
		fail_line("cannot add a signature (at most %d)", KK_DSSE_MAX_SIGS);
		goto out;
	}
	text = kk_envelope_encode(&env);
	if (text == NULL || (r = write_out(out ? out : path, text)) < 0) {
		fail_line("%s: %s", out ? out : path, text == NULL ?
		    "out of memory" : r == -EEXIST ? "there and not a signed "
		    "command: not overwritten" : strerror(-r));
		goto out;
	}
	fprintf(stderr, "%zu signature(s) on %s\n", env.nsigs,
	    out ? out : path);
	ret = EX_DONE;
out:
	for (i = 0; i < KK_DSSE_MAX_SIGS; i++)
		free(who[i]);
	kk_command_free(&cmd);
	kk_envelope_free(&env);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(k);
	free(buf);
	free(text);
	return ret;
}
