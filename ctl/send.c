/*
 * The CSIRT operator's commands: keys, signing, sending over mutual TLS,
 * and applying a signed command locally (DESIGN 5).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "kakuri.h"
#include "kakurictl.h"
#include "sign.h"
#include "tls.h"

#define MAX_TARGETS		4096
#define MAX_FILES		64
#define DEFAULT_CONCURRENCY	16
#define DEFAULT_TIMEOUT_MS	10000

static int
read_file(const char *path, char **out, size_t *len, size_t max)
{
	struct stat st;
	char *buf;
	ssize_t n;
	size_t off = 0;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if ((size_t)st.st_size > max) {
		close(fd);
		return -E2BIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (off < (size_t)st.st_size) {
		n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)n;
	}
	close(fd);
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[off] = '\0';
	*out = buf;
	*len = off;
	return 0;
}

static int
write_out(const char *path, const char *text)
{
	int r;

	if (path == NULL || strcmp(path, "-") == 0) {
		if (fputs(text, stdout) == EOF || fputc('\n', stdout) == EOF)
			return -EIO;
		return 0;
	}
	{
		size_t len = strlen(text);
		char *t = malloc(len + 2);

		if (t == NULL)
			return -ENOMEM;
		memcpy(t, text, len);
		t[len] = '\n';
		t[len + 1] = '\0';
		r = kk_write_file_atomic(path, t, len + 1, 0644);
		free(t);
	}
	return r;
}

int
cmd_keygen(struct ctl *c, int argc, char **argv)
{
	char priv[PATH_MAX], pub[PATH_MAX], id[KK_AGENT_ID_HEX + 1];
	EVP_PKEY *k;
	int r;

	if (argc != 2)
		return EX_USAGE;
	if (snprintf(priv, sizeof(priv), "%s.key", argv[1]) >= (int)sizeof(priv) ||
	    snprintf(pub, sizeof(pub), "%s.pub", argv[1]) >= (int)sizeof(pub))
		return EX_USAGE;
	k = kk_key_generate();
	if (k == NULL) {
		fail_line("key generation failed");
		return EX_FAILED;
	}
	if ((r = kk_key_save_private(k, priv)) < 0) {
		fail_line("%s: %s", priv, strerror(-r));
		EVP_PKEY_free(k);
		return EX_FAILED;
	}
	if ((r = kk_key_save_public(k, pub)) < 0) {
		fail_line("%s: %s", pub, strerror(-r));
		EVP_PKEY_free(k);
		return EX_FAILED;
	}
	kk_key_id(k, id);
	EVP_PKEY_free(k);
	printf("%s %s (key id %s)\n", priv, pub, id);
	return EX_DONE;
}

int
cmd_agent_id(struct ctl *c, int argc, char **argv)
{
	char id[KK_AGENT_ID_HEX + 1];
	EVP_PKEY *k = NULL;
	int r;

	if (argc != 2)
		return EX_USAGE;
	r = kk_key_load_public(argv[1], &k);
	if (r < 0)
		r = kk_key_load_private(argv[1], &k);
	if (r < 0) {
		fail_line("%s: not an Ed25519 public key, certificate or private key",
		    argv[1]);
		return EX_FAILED;
	}
	kk_key_id(k, id);
	EVP_PKEY_free(k);
	printf("%s\n", id);
	return EX_DONE;
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
	struct kk_envelope env;
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
	o = json_pack("{s:i, s:s, s:s, s:I, s:I, s:s, s:O, s:s, s:s}",
	    "v", 1, "id", id, "agent", s->agent, "iat", (json_int_t)s->iat,
	    "exp", (json_int_t)(s->iat + s->ttl), "action", s->action,
	    "args", s->args, "incident", s->incident, "reason", s->reason);
	if (o == NULL)
		goto out;
	if (s->episode)
		json_object_set_new(o, "episode", json_string(s->episode));
	payload = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (payload == NULL)
		goto out;
	if (kk_command_parse((const uint8_t *)payload, strlen(payload), &cmd,
	    why, whylen) < 0) {
		ret = EX_USAGE;
		goto out;
	}
	kk_command_free(&cmd);
	if (kk_envelope_init(&env, KK_PT_COMMAND, (const uint8_t *)payload,
	    strlen(payload)) < 0)
		goto out;
	if (kk_envelope_sign(&env, keyid, key) == 0)
		*text = kk_envelope_encode(&env);
	kk_envelope_free(&env);
	if (*text == NULL) {
		snprintf(why, whylen, "signing failed");
		goto out;
	}
	ret = EX_DONE;
out:
	free(payload);
	json_decref(o);
	return ret;
}

int
cmd_sign(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "agent", required_argument, NULL, 'a' },
		{ "action", required_argument, NULL, 'A' },
		{ "arg", required_argument, NULL, 'g' },
		{ "episode", required_argument, NULL, 'e' },
		{ "incident", required_argument, NULL, 'i' },
		{ "reason", required_argument, NULL, 'r' },
		{ "ttl", required_argument, NULL, 't' },
		{ "keyid", required_argument, NULL, 'K' },
		{ "valid-from", required_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *keyfile = NULL, *out = NULL, *keyid = NULL;
	struct cmd_spec s = { .incident = "", .reason = "", .ttl = 600,
		.iat = time(NULL) };
	char hint[KK_KEYID_MAX], id[KK_ID_HEX + 1], why[160], *text = NULL;
	enum kk_action a;
	EVP_PKEY *k = NULL;
	int ch, r, ret = EX_USAGE;

	s.args = json_object();
	if (s.args == NULL)
		return EX_FAILED;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "k:o:", opts, NULL)) != -1) {
		switch (ch) {
		case 'k': keyfile = optarg; break;
		case 'o': out = optarg; break;
		case 'a': s.agent = optarg; break;
		case 'A': s.action = optarg; break;
		case 'e': s.episode = optarg; break;
		case 'i': s.incident = optarg; break;
		case 'r': s.reason = optarg; break;
		case 'K': keyid = optarg; break;
		case 'V': {
			/* a token prepared now for later (or dated back) */
			char *end;
			long long v = strtoll(optarg, &end, 10);

			if (*end != '\0' || v <= 0)
				goto out;
			s.iat = (time_t)v;
			break;
		}
		case 't':
			s.ttl = strtol(optarg, NULL, 10);
			if (s.ttl <= 0 || s.ttl > 7 * 86400)
				goto out;
			break;
		case 'g': {
			char *eq = strchr(optarg, '=');
			json_t *v;
			json_error_t jerr;

			if (eq == NULL || eq == optarg)
				goto out;
			if (eq[-1] == ':') {	/* k:=JSON */
				eq[-1] = '\0';
				v = json_loads(eq + 1, JSON_DECODE_ANY, &jerr);
				if (v == NULL) {
					fail_line("--arg %s: not JSON: %s", optarg,
					    jerr.text);
					goto out;
				}
			} else {
				*eq = '\0';
				v = json_string(eq + 1);
			}
			json_object_set_new(s.args, optarg, v);
			break;
		}
		default:
			goto out;
		}
	}
	if (optind != argc || keyfile == NULL || s.agent == NULL ||
	    s.action == NULL)
		goto out;
	if (kk_action_parse(s.action, &a) < 0) {
		fail_line("unknown action '%s'", s.action);
		goto out;
	}
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
		fail_line("writing the signed command failed");
		ret = EX_FAILED;
		goto out;
	}
	if (out && strcmp(out, "-") != 0)
		fprintf(stderr, "signed %s %s (id %s, expires in %ld s) -> %s\n",
		    s.action, s.agent, id, s.ttl, out);
	ret = EX_DONE;
out:
	free(text);
	json_decref(s.args);
	EVP_PKEY_free(k);
	return ret;
}

int
cmd_cosign(struct ctl *c, int argc, char **argv)
{
	const char *keyfile = NULL, *keyid = NULL, *out = NULL;
	static const struct option opts[] = {
		{ "keyid", required_argument, NULL, 'K' },
		{ NULL, 0, NULL, 0 },
	};
	struct kk_envelope env;
	char hint[KK_KEYID_MAX], *buf = NULL, *text = NULL;
	EVP_PKEY *k = NULL;
	size_t len;
	int ch, r, ret = EX_FAILED;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "k:o:", opts, NULL)) != -1) {
		switch (ch) {
		case 'k': keyfile = optarg; break;
		case 'o': out = optarg; break;
		case 'K': keyid = optarg; break;
		default: return EX_USAGE;
		}
	}
	if (keyfile == NULL || optind != argc - 1)
		return EX_USAGE;
	if ((r = read_file(argv[optind], &buf, &len, KK_ENVELOPE_MAX)) < 0) {
		fail_line("%s: %s", argv[optind], strerror(-r));
		return EX_FAILED;
	}
	if (kk_envelope_parse((uint8_t *)buf, len, &env) < 0) {
		fail_line("%s: not a DSSE envelope", argv[optind]);
		free(buf);
		return EX_FAILED;
	}
	if ((r = kk_key_load_private(keyfile, &k)) < 0) {
		fail_line("%s: %s", keyfile, strerror(-r));
		goto out;
	}
	if (kk_envelope_sign(&env, keyid ? keyid : key_hint(keyfile, hint,
	    sizeof(hint)), k) < 0) {
		fail_line("cannot add a signature (at most %d)", KK_DSSE_MAX_SIGS);
		goto out;
	}
	text = kk_envelope_encode(&env);
	if (text == NULL || write_out(out ? out : argv[optind], text) < 0) {
		fail_line("writing %s failed", out ? out : argv[optind]);
		goto out;
	}
	fprintf(stderr, "%zu signature(s) on %s\n", env.nsigs,
	    out ? out : argv[optind]);
	ret = EX_DONE;
out:
	kk_envelope_free(&env);
	EVP_PKEY_free(k);
	free(buf);
	free(text);
	return ret;
}

int
cmd_apply(struct ctl *c, int argc, char **argv)
{
	json_t *resp, *rec;
	json_error_t jerr;
	struct kk_envelope env;
	const char *rtext;
	char *buf = NULL;
	size_t len;
	int r, ret;

	if (argc != 2 && !(argc == 3 && strcmp(argv[1], "--json") == 0))
		return EX_USAGE;
	if (argc == 3)
		c->json = true;
	if ((r = read_file(argv[argc - 1], &buf, &len, KK_ENVELOPE_MAX)) < 0) {
		fail_line("%s: %s", argv[argc - 1], strerror(-r));
		return EX_FAILED;
	}
	ret = ctl_call(c, json_pack("{s:s, s:s}", "cmd", "apply", "envelope",
	    buf), &resp);
	free(buf);
	if (ret != EX_DONE)
		return ret;
	rtext = json_string_value(json_object_get(resp, "receipt"));
	rec = NULL;
	/* locally the socket is the trust anchor; the receipt is still signed */
	if (rtext && kk_envelope_parse((const uint8_t *)rtext, strlen(rtext),
	    &env) == 0) {
		rec = json_loadb((const char *)env.payload, env.payload_len, 0,
		    &jerr);
		kk_envelope_free(&env);
	}
	if (rec == NULL) {
		fail_line("no receipt from the agent");
		json_decref(resp);
		return EX_FAILED;
	}
	if (c->json) {
		json_dumpf(rec, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	} else {
		printf("%s %s: %s%s%s, mode %s%s%s\n",
		    json_string_value(json_object_get(rec, "action")) ?: "command",
		    json_string_value(json_object_get(rec, "command")) ?: "-",
		    json_string_value(json_object_get(rec, "result")) ?: "?",
		    json_is_string(json_object_get(rec, "reason")) ? " " : "",
		    json_string_value(json_object_get(rec, "reason")) ?: "",
		    json_string_value(json_object_get(rec, "mode")) ?: "?",
		    json_is_string(json_object_get(rec, "episode")) ? ", episode " : "",
		    json_string_value(json_object_get(rec, "episode")) ?: "");
	}
	ret = strcmp(json_string_value(json_object_get(rec, "result")) ?: "",
	    "done") == 0 ? EX_DONE : EX_FAILED;
	if (ret != EX_DONE && !c->json)
		fail_line("%s: %s",
		    json_string_value(json_object_get(rec, "reason")) ?: "refused",
		    json_string_value(json_object_get(rec, "detail")) ?: "");
	json_decref(rec);
	json_decref(resp);
	return ret;
}

/* send: one worker per target at a time, bounded concurrency */
struct target {
	char addr[160];
	char pin[KK_AGENT_ID_HEX + 1];
	int status;		/* exit status for this target */
	json_t *results;	/* one object per file */
	char error[256];
};

struct send_ctx {
	SSL_CTX *tls;
	bool have_ca;
	const char **files;
	char **bodies;
	size_t *lens;
	char **ids;
	char **agents;		/* the agent each file is addressed to */
	size_t nfiles;
	bool by_agent;		/* each target gets only the files for it */
	struct target *targets;
	size_t ntargets;
	size_t next;
	int timeout_ms;
	bool json;
	pthread_mutex_t lock;
};

int
tcp_connect(const char *hostport, int timeout_ms, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICSERV }, *res = NULL, *ai;
	char host[128], *port;
	struct pollfd p;
	int fd = -1, soerr = 0, r;
	socklen_t sl = sizeof(soerr);
	struct timeval tv = { .tv_sec = timeout_ms / 1000,
		.tv_usec = (timeout_ms % 1000) * 1000 };

	if (snprintf(host, sizeof(host), "%s", hostport) >= (int)sizeof(host)) {
		snprintf(err, errlen, "address too long");
		return -1;
	}
	port = strrchr(host, ':');
	if (port == NULL) {
		snprintf(err, errlen, "expected HOST:PORT");
		return -1;
	}
	*port++ = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s: %s", hostport, gai_strerror(r));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			p = (struct pollfd){ .fd = fd, .events = POLLOUT };
			if (poll(&p, 1, timeout_ms) == 1 &&
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
			    soerr == 0)
				break;
			errno = soerr ? soerr : ETIMEDOUT;
		}
		snprintf(err, errlen, "connect %s: %s", hostport, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return -1;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

int
ssl_write_all(SSL *ssl, const void *buf, size_t len)
{
	size_t done = 0;
	int n;

	while (done < len) {
		n = SSL_write(ssl, (const char *)buf + done, (int)(len - done));
		if (n <= 0)
			return -EIO;
		done += (size_t)n;
	}
	return 0;
}

int
ssl_read_frame(SSL *ssl, uint8_t **body, size_t *len)
{
	struct kk_frame_reader rd;
	uint8_t buf[16384];
	size_t used, off;
	int n, r, i;

	kk_frame_reader_init(&rd, KK_FRAME_MAX);
	for (i = 0; i < 100000; i++) {
		n = SSL_read(ssl, buf, sizeof(buf));
		if (n <= 0) {
			kk_frame_reader_reset(&rd);
			return -ECONNRESET;
		}
		off = 0;
		while (off < (size_t)n) {
			r = kk_frame_feed(&rd, buf + off, (size_t)n - off, &used);
			off += used;
			if (r < 0) {
				kk_frame_reader_reset(&rd);
				return r;
			}
			if (r == 1) {
				*body = kk_frame_take(&rd, len);
				return 0;
			}
		}
	}
	kk_frame_reader_reset(&rd);
	return -E2BIG;
}

int
agent_identity(SSL *ssl, bool have_ca, const char *pin, EVP_PKEY **identity,
    char id[KK_AGENT_ID_HEX + 1], char *err, size_t errlen)
{
	char why[200];

	if (kk_tls_peer_identity(ssl, have_ca, identity, id, why,
	    sizeof(why)) < 0) {
		snprintf(err, errlen, "%s", why);
		return EX_UNREACHABLE;
	}
	/* without a CA the pinned agent id is the only authentication */
	if (pin != NULL ? strcmp(pin, id) != 0 : !have_ca) {
		snprintf(err, errlen, "agent id %.16s... does not match the "
		    "pinned id", id);
		EVP_PKEY_free(*identity);
		*identity = NULL;
		return EX_UNREACHABLE;
	}
	return EX_DONE;
}

static void
send_one(struct send_ctx *sc, struct target *t)
{
	char peer_id[KK_AGENT_ID_HEX + 1], e[200];
	EVP_PKEY *identity = NULL;
	SSL *ssl = NULL;
	size_t i;
	int fd;

	t->results = json_array();
	fd = tcp_connect(t->addr, sc->timeout_ms, t->error, sizeof(t->error));
	if (fd < 0) {
		t->status = EX_UNREACHABLE;
		return;
	}
	ssl = SSL_new(sc->tls);
	SSL_set_fd(ssl, fd);
	ERR_clear_error();
	if (SSL_connect(ssl) != 1) {
		snprintf(t->error, sizeof(t->error), "TLS: %s",
		    kk_tls_error(e, sizeof(e)));
		t->status = EX_UNREACHABLE;
		goto out;
	}
	t->status = agent_identity(ssl, sc->have_ca, t->pin[0] ? t->pin : NULL,
	    &identity, peer_id, t->error, sizeof(t->error));
	if (t->status != EX_DONE)
		goto out;
	/*
	 * A command goes only to the agent it names: whichever agent
	 * answers at this address, CA-certified or not, gets nothing that
	 * is addressed to another.
	 */
	for (i = 0; i < sc->nfiles && !sc->by_agent; i++) {
		if (sc->agents[i] == NULL) {
			snprintf(t->error, sizeof(t->error),
			    "%s: names no agent id; nothing sent", sc->files[i]);
			t->status = EX_FAILED;
			goto out;
		}
		if (strcmp(sc->agents[i], peer_id) != 0) {
			snprintf(t->error, sizeof(t->error),
			    "%s is for agent %.16s..., but the agent here is "
			    "%.16s...; nothing sent", sc->files[i], sc->agents[i],
			    peer_id);
			t->status = EX_FAILED;
			goto out;
		}
	}
	for (i = 0; i < sc->nfiles; i++) {
		uint8_t hdr[4], *reply = NULL;
		size_t rlen;
		const char *why = NULL, *res;
		json_t *rec;

		if (sc->by_agent && (sc->agents[i] == NULL ||
		    strcmp(sc->agents[i], peer_id) != 0))
			continue;
		/* header and body in one record: no Nagle wait between them */
		uint8_t *msg = malloc(sc->lens[i] + 4);
		int wr = -1;

		if (msg != NULL &&
		    kk_frame_header(hdr, sc->lens[i], KK_FRAME_MAX) == 0) {
			memcpy(msg, hdr, 4);
			memcpy(msg + 4, sc->bodies[i], sc->lens[i]);
			wr = ssl_write_all(ssl, msg, sc->lens[i] + 4);
		}
		free(msg);
		if (wr < 0 || ssl_read_frame(ssl, &reply, &rlen) < 0) {
			snprintf(t->error, sizeof(t->error), "%s: no receipt",
			    sc->files[i]);
			t->status = EX_UNREACHABLE;
			goto out;
		}
		/* signed by the agent's root parent, never by the TLS key */
		rec = kk_receipt_open(reply, rlen, identity, peer_id, &why);
		free(reply);
		if (rec != NULL && sc->ids[i] &&
		    json_is_string(json_object_get(rec, "command")) &&
		    strcmp(json_string_value(json_object_get(rec, "command")),
		    sc->ids[i]) != 0) {
			why = "receipt is for another command";
			json_decref(rec);
			rec = NULL;
		}
		if (rec == NULL) {
			snprintf(t->error, sizeof(t->error), "%s: %s", sc->files[i],
			    why);
			t->status = EX_FAILED;
			goto out;
		}
		json_object_set_new(rec, "file", json_string(sc->files[i]));
		res = json_string_value(json_object_get(rec, "result"));
		if (res == NULL || strcmp(res, "done") != 0)
			t->status = EX_FAILED;
		json_array_append_new(t->results, rec);
	}
	if (json_array_size(t->results) == 0 && t->status == EX_DONE) {
		snprintf(t->error, sizeof(t->error),
		    "no command is addressed to agent %.16s...", peer_id);
		t->status = EX_FAILED;
	}
out:
	EVP_PKEY_free(identity);
	if (ssl) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	close(fd);
}

static void
print_target(struct send_ctx *sc, struct target *t)
{
	size_t i;
	json_t *r;

	pthread_mutex_lock(&sc->lock);
	if (sc->json) {
		json_t *o = json_pack("{s:s, s:s, s:O}", "target", t->addr,
		    "status", t->status == EX_DONE ? "done" :
		    t->status == EX_UNREACHABLE ? "unreachable" : "refused",
		    "receipts", t->results);

		if (t->error[0])
			json_object_set_new(o, "error", json_string(t->error));
		json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(o);
	} else {
		json_array_foreach(t->results, i, r) {
			printf("%s %s %s: %s%s%s mode=%s episode=%s\n", t->addr,
			    json_string_value(json_object_get(r, "action")) ?: "-",
			    json_string_value(json_object_get(r, "command")) ?: "-",
			    json_string_value(json_object_get(r, "result")) ?: "?",
			    json_is_string(json_object_get(r, "reason")) ? " " : "",
			    json_string_value(json_object_get(r, "reason")) ?: "",
			    json_string_value(json_object_get(r, "mode")) ?: "?",
			    json_string_value(json_object_get(r, "episode")) ?: "-");
		}
		if (t->error[0])
			printf("%s error: %s\n", t->addr, t->error);
	}
	fflush(stdout);
	if (t->error[0])
		fail_line("%s: %s", t->addr, t->error);
	pthread_mutex_unlock(&sc->lock);
}

static void *
worker(void *arg)
{
	struct send_ctx *sc = arg;
	size_t i;

	for (;;) {
		pthread_mutex_lock(&sc->lock);
		i = sc->next++;
		pthread_mutex_unlock(&sc->lock);
		if (i >= sc->ntargets)
			return NULL;
		send_one(sc, &sc->targets[i]);
		print_target(sc, &sc->targets[i]);
	}
}

static int
load_targets(const char *path, struct target *t, size_t *n)
{
	char line[512], addr[160], pin[128];
	FILE *f = fopen(path, "re");
	int lineno = 0;

	if (f == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) && *n < MAX_TARGETS) {
		lineno++;
		if (line[0] == '#' || line[strspn(line, " \t\r\n")] == '\0')
			continue;
		pin[0] = '\0';
		if (sscanf(line, "%159s %127s", addr, pin) < 1 ||
		    (pin[0] && strlen(pin) != KK_AGENT_ID_HEX)) {
			fail_line("%s:%d: expected HOST:PORT AGENT-ID", path, lineno);
			fclose(f);
			return -EINVAL;
		}
		snprintf(t[*n].addr, sizeof(t[*n].addr), "%s", addr);
		snprintf(t[*n].pin, sizeof(t[*n].pin), "%s", pin);
		(*n)++;
	}
	fclose(f);
	return 0;
}

int
cmd_send(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "targets", required_argument, NULL, 'T' },
		{ "ca", required_argument, NULL, 'C' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "agent-id", required_argument, NULL, 'a' },
		{ "concurrency", required_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'J' },
		{ "by-agent", no_argument, NULL, 'B' },
		{ NULL, 0, NULL, 0 },
	};
	struct send_ctx sc;
	const char *ca = NULL, *cert = NULL, *key = NULL, *pin = NULL;
	char err[300];
	pthread_t th[64];
	size_t i, nth;
	int ch, r, conc = DEFAULT_CONCURRENCY, ret = EX_DONE;

	memset(&sc, 0, sizeof(sc));
	sc.timeout_ms = DEFAULT_TIMEOUT_MS;
	sc.json = c->json;
	sc.targets = calloc(MAX_TARGETS, sizeof(*sc.targets));
	if (sc.targets == NULL)
		return EX_FAILED;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 't':
			if (sc.ntargets >= MAX_TARGETS)
				return EX_USAGE;
			snprintf(sc.targets[sc.ntargets++].addr,
			    sizeof(sc.targets[0].addr), "%s", optarg);
			break;
		case 'T':
			if (load_targets(optarg, sc.targets, &sc.ntargets) < 0)
				return EX_USAGE;
			break;
		case 'C': ca = optarg; break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'a': pin = optarg; break;
		case 'j':
			conc = atoi(optarg);
			if (conc < 1 || conc > 64)
				return EX_USAGE;
			break;
		case 'w':
			sc.timeout_ms = atoi(optarg);
			if (sc.timeout_ms < 100 || sc.timeout_ms > 600000)
				return EX_USAGE;
			break;
		case 'J': sc.json = true; break;
		case 'B': sc.by_agent = true; break;
		default: return EX_USAGE;
		}
	}
	if (sc.ntargets == 0 || cert == NULL || key == NULL || optind >= argc ||
	    argc - optind > MAX_FILES)
		return EX_USAGE;
	if (pin && strlen(pin) != KK_AGENT_ID_HEX) {
		fail_line("--agent-id must be %d hex digits", KK_AGENT_ID_HEX);
		return EX_USAGE;
	}
	for (i = 0; i < sc.ntargets; i++)
		if (!sc.targets[i].pin[0] && pin)
			snprintf(sc.targets[i].pin, sizeof(sc.targets[i].pin), "%s",
			    pin);
	if (ca == NULL)
		for (i = 0; i < sc.ntargets; i++)
			if (!sc.targets[i].pin[0]) {
				fail_line("%s: give --ca or a pinned agent id",
				    sc.targets[i].addr);
				return EX_USAGE;
			}
	sc.nfiles = (size_t)(argc - optind);
	sc.files = (const char **)argv + optind;
	sc.bodies = calloc(sc.nfiles, sizeof(char *));
	sc.lens = calloc(sc.nfiles, sizeof(size_t));
	sc.ids = calloc(sc.nfiles, sizeof(char *));
	sc.agents = calloc(sc.nfiles, sizeof(char *));
	for (i = 0; i < sc.nfiles; i++) {
		struct kk_envelope env;

		if ((r = read_file(sc.files[i], &sc.bodies[i], &sc.lens[i],
		    KK_ENVELOPE_MAX)) < 0) {
			fail_line("%s: %s", sc.files[i], strerror(-r));
			return EX_FAILED;
		}
		/* our own file: remember its id to match the receipt */
		if (kk_envelope_parse((uint8_t *)sc.bodies[i], sc.lens[i],
		    &env) == 0) {
			json_t *p = json_loadb((const char *)env.payload,
			    env.payload_len, 0, NULL);
			const char *id = json_string_value(json_object_get(p, "id"));
			const char *ag = json_string_value(json_object_get(p,
			    "agent"));

			sc.ids[i] = id ? strdup(id) : NULL;
			sc.agents[i] = ag ? strdup(ag) : NULL;
			json_decref(p);
			kk_envelope_free(&env);
		}
	}
	sc.tls = kk_tls_client_ctx(cert, key, ca, err, sizeof(err));
	if (sc.tls == NULL) {
		fail_line("%s", err);
		return EX_FAILED;
	}
	sc.have_ca = ca != NULL;
	pthread_mutex_init(&sc.lock, NULL);
	nth = (size_t)conc < sc.ntargets ? (size_t)conc : sc.ntargets;
	for (i = 0; i < nth; i++)
		pthread_create(&th[i], NULL, worker, &sc);
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	/* unreachable outranks refused: the operator must look again */
	for (i = 0; i < sc.ntargets; i++) {
		if (sc.targets[i].status == EX_UNREACHABLE)
			ret = EX_UNREACHABLE;
		else if (sc.targets[i].status == EX_FAILED && ret == EX_DONE)
			ret = EX_FAILED;
		json_decref(sc.targets[i].results);
	}
	for (i = 0; i < sc.nfiles; i++) {
		free(sc.bodies[i]);
		free(sc.ids[i]);
		free(sc.agents[i]);
	}
	free(sc.agents);
	free(sc.bodies);
	free(sc.lens);
	free(sc.ids);
	free(sc.targets);
	SSL_CTX_free(sc.tls);
	return ret;
}
