/*
 * dripagent - a hostile agent for the integration tests: root on an
 * infected PC owns the agent's keys and its port, and holds the CSIRT's
 * kakurictl by answering one byte at a time.
 *
 *   dripagent ADDR PORT CERT KEY CHAIN MODE SECONDS
 *       listen on ADDR:PORT and serve every connection for at most
 *       SECONDS (each in a child process):
 *       receipt    the TLS 1.3 handshake as an agent's network child
 *                  makes it (CERT and KEY: agent-tls.*, CHAIN: agent.crt,
 *                  so a pin on the agent id passes), the command read,
 *                  then an answer frame of 4096 bytes, one byte a TLS
 *                  record every 500 ms;
 *       handshake  no TLS: after the ClientHello, a handshake record of
 *                  16384 bytes, its header included, one byte every
 *                  500 ms (CERT, KEY and CHAIN are not read).
 *   dripagent ADDR PORT CERT KEY CHAIN MODE SECONDS IDKEY
 *       the TLS handshake and the command as in receipt mode, then at
 *       once (no drip) an answer that root with the agent's identity
 *       key IDKEY (agent.key) can make, and no kakurid does:
 *       bigframe   a frame header announcing 2 MiB (over KK_FRAME_MAX)
 *                  and 64 KiB of it;
 *       values     a receipt for the command, done, signed by IDKEY,
 *                  whose output is 150,000 empty objects (600 KB);
 *       nocommand  a receipt signed by IDKEY that names no command and
 *                  says done;
 *       fetchdrip  for a fetch command, a receipt signed by IDKEY that
 *                  lists one file of 64 MiB, then every chunk asked for,
 *                  of zeros, each frame in 8 pieces over 1.75 s: with
 *                  a --timeout of 5 s each exchange is in time, and
 *                  over a quarter of it, so kakurictl keeps asking for
 *                  its smallest chunk, 16 KiB: the file takes 2 hours.
 *       Prints "ready" once listening, then for each connection "closed
 *       after S s (N bytes)" when the client hung up, or "open after S s
 *       (N bytes)" when SECONDS passed first.  Exits after SECONDS or
 *       on SIGTERM, its children with it.
 *
 * Every loop is bounded in count and time; it listens only on the
 * address it is given (test namespaces).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <jansson.h>

#include "../progutil.h"
#include "kakuri.h"
#include "sign.h"
#include "wire.h"

#define DRIP_MS		500	/* between two bytes */
#define ANSWER_LEN	4096	/* the frame a receipt drip announces */
#define RECORD_LEN	16384	/* the handshake record a handshake drip */
#define CONNS_MAX	64	/* children at once */
#define BIG_LEN		(2U << 20)	/* what a bigframe announces */
#define BIG_SENT	65536		/* ... and sends of it */
#define VALUES_N	150000		/* empty objects in a values receipt */
#define FETCH_SIZE	(64LL << 20)	/* the file a fetchdrip lists */
#define CHUNK_MAX	(512U * 1024)	/* what kakurid sends at most */
#define PIECES		8		/* a chunk's frame is written in */
#define PIECE_MS	250		/* ... one every PIECE_MS */

enum mode { DRIP_RECEIPT, DRIP_HANDSHAKE, BIGFRAME, VALUES, NOCOMMAND,
	FETCHDRIP };
static const char *const mode_words[] = {
	"receipt", "handshake", "bigframe", "values", "nocommand", "fetchdrip",
};
static EVP_PKEY *idkey;	/* the agent's identity key, for signed modes */

static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

/* The server side as an agent's network child shows it; NULL on error. */
static SSL_CTX *
agent_ctx(const char *cert, const char *key, const char *chain)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	X509 *x = NULL;
	FILE *f;

	if (ctx == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_use_certificate_file(ctx, cert, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		goto fail;
	if ((f = fopen(chain, "r")) == NULL)
		goto fail;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	/* add0: the context owns x from here */
	if (x == NULL || SSL_CTX_add0_chain_cert(ctx, x) != 1)
		goto fail;
	/* no session tickets: nothing but the drip after the handshake */
	SSL_CTX_set_num_tickets(ctx, 0);
	return ctx;
fail:
	X509_free(x);
	SSL_CTX_free(ctx);
	return NULL;
}

/* Whether the client hung up (its FIN), waiting up to ms for it. */
static bool
hung_up(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };

	return poll(&p, 1, ms) > 0 &&
	    (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Waits up to ms for what the client sends first; whether it came. */
static bool
first_bytes(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) > 0 && (p.revents & POLLIN);
}

/*
 * One connection: the bytes of out, one every DRIP_MS through ssl (or
 * the bare socket), until the client hangs up or end; says which.
 */
static void
drip(int fd, SSL *ssl, const unsigned char *out, size_t len, double end)
{
	double t0 = pu_now_s();
	size_t sent = 0;
	int n;

	while (pu_now_s() < end && !stop && sent < len) {
		if (hung_up(fd, DRIP_MS)) {
			printf("closed after %.1f s (%zu bytes)\n",
			    pu_now_s() - t0, sent);
			return;
		}
		n = ssl ? SSL_write(ssl, out + sent, 1) :
		    (int)send(fd, out + sent, 1, MSG_NOSIGNAL);
		if (n != 1)
			break;
		sent++;
	}
	if (hung_up(fd, 0))
		printf("closed after %.1f s (%zu bytes)\n", pu_now_s() - t0,
		    sent);
	else
		printf("open after %.1f s (%zu bytes)\n", pu_now_s() - t0,
		    sent);
}

/* The command in the frame body, its payload (caller decrefs), or NULL. */
static json_t *
command_of(const uint8_t *body, size_t len)
{
	struct kk_envelope env;
	json_t *p;

	if (kk_envelope_parse(body, len, &env) < 0)
		return NULL;
	p = json_loadb((const char *)env.payload, env.payload_len, 0, NULL);
	kk_envelope_free(&env);
	return p;
}

/* The id of the command in the frame body, or NULL (caller frees). */
static char *
command_id(const uint8_t *body, size_t len)
{
	json_t *p = command_of(body, len);
	char *id = NULL;

	if (json_is_string(json_object_get(p, KW_ID)))
		id = strdup(json_string_value(json_object_get(p, KW_ID)));
	json_decref(p);
	return id;
}

/* text as one frame: *out (caller frees), its header and body */
static bool
framed(const char *text, uint8_t **out, size_t *len)
{
	size_t n = strlen(text);

	if ((*out = malloc(n + 4)) == NULL)
		return false;
	/* over KK_FRAME_MAX if it likes: this agent is not kakurid */
	if (kk_frame_header(*out, n, 4 * KK_FRAME_MAX) < 0)
		return false;
	memcpy(*out + 4, text, n);
	*len = n + 4;
	return true;
}

/*
 * A receipt signed by idkey for command cmd (none if NULL), saying done,
 * with output (stolen; n empty objects if NULL) as its output, framed:
 * *out (caller frees).
 */
static int
forged_receipt(const char *cmd, size_t n, json_t *output, uint8_t **out,
    size_t *len)
{
	char agent[KK_AGENT_ID_HEX + 1], *payload = NULL, *env = NULL;
	json_t *p, *objs = output;
	size_t i;
	bool made;

	if (kk_key_id(idkey, agent) < 0 ||
	    (objs == NULL && (objs = json_array()) == NULL)) {
		json_decref(output);
		return -1;
	}
	for (i = 0; output == NULL && i < n; i++)
		json_array_append_new(objs, json_object());
	p = json_pack("{s:i, s:s, s:s, s:s, s:s, s:o}", KW_V, 1, KW_AGENT,
	    agent, KW_ACTION, output ? "fetch" : "status", KW_RESULT, KR_DONE,
	    KW_MODE, "normal", KW_OUTPUT, objs);
	made = p != NULL && (cmd == NULL || json_object_set_new(p, KW_COMMAND,
	    json_string(cmd)) == 0) &&
	    (payload = json_dumps(p, JSON_COMPACT)) != NULL &&
	    kk_envelope_seal(KK_PT_RECEIPT, (const uint8_t *)payload,
	    strlen(payload), agent, idkey, &env) == 0 &&
	    framed(env, out, len);
	json_decref(p);
	free(payload);
	free(env);
	return made ? 0 : -1;
}

/*
 * One whole frame into in (cap bytes), its header included, by end: its
 * length, or 0 when the client hung up, sent too much or end came.
 * Reads no further than the frame: the next request stays for the next.
 */
static size_t
read_frame(int fd, SSL *ssl, uint8_t *in, size_t cap, double end)
{
	size_t have = 0, want = 4;
	int n;

	while (have < want && pu_now_s() < end && !stop) {
		if (!first_bytes(fd, 100) && SSL_pending(ssl) == 0)
			continue;
		if ((n = SSL_read(ssl, in + have, (int)(want - have))) <= 0)
			return 0;
		have += (size_t)n;
		if (have == 4) {
			want = 4 + ((size_t)in[0] << 24 | (size_t)in[1] << 16 |
			    (size_t)in[2] << 8 | in[3]);
			if (want > cap)
				return 0;
		}
	}
	return have == want ? have : 0;
}

/*
 * fetchdrip, after the receipt: every chunk request answered with zeros,
 * its frame written in PIECES pieces PIECE_MS apart, until the client
 * hangs up or end; *sent counts the bytes.
 */
static void
serve_chunks(int fd, SSL *ssl, uint8_t *in, size_t cap, double end,
    size_t *sent)
{
	static uint8_t out[4 + 512 + CHUNK_MAX];
	json_t *req, *c;
	size_t have, hlen, len, piece, off;
	long long length;
	int n, i;

	while ((have = read_frame(fd, ssl, in, cap, end)) > 4) {
		req = json_loadb((const char *)in + 4, have - 4, 0, NULL);
		c = json_object_get(req, KW_CHUNK);
		length = json_integer_value(json_object_get(c, KW_LENGTH));
		if (!json_is_string(json_object_get(c, KW_PATH)) ||
		    length <= 0 || length > CHUNK_MAX) {
			json_decref(req);
			return;
		}
		hlen = (size_t)snprintf((char *)out + 4, 512, "{\"ok\":true,"
		    "\"path\":\"%s\",\"offset\":%lld,\"length\":%lld,"
		    "\"eof\":false}\n", json_string_value(json_object_get(c,
		    KW_PATH)), json_integer_value(json_object_get(c,
		    KW_OFFSET)), length);
		json_decref(req);
		if (hlen >= 512)
			return;
		len = hlen + (size_t)length;
		memset(out + 4 + hlen, 0, (size_t)length);
		out[0] = (uint8_t)(len >> 24);
		out[1] = (uint8_t)(len >> 16);
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		len += 4;
		piece = (len + PIECES - 1) / PIECES;
		for (i = 0, off = 0; off < len && pu_now_s() < end && !stop;
		    i++) {
			if (i > 0 && hung_up(fd, PIECE_MS))
				return;
			n = SSL_write(ssl, out + off, (int)(len - off < piece ?
			    len - off : piece));
			if (n <= 0)
				return;
			off += (size_t)n;
			*sent += (size_t)n;
		}
	}
}

/*
 * A signed mode: the command's frame read, then the answer written at
 * once; waits for the client to hang up until end and says when.
 */
static void
answer_at_once(int fd, SSL *ssl, enum mode mode, double end)
{
	static uint8_t in[KK_FRAME_MAX + 4];
	uint8_t *out = NULL;
	size_t have, len = 0, sent = 0;
	double t0 = pu_now_s();
	json_t *output = NULL, *cp = NULL;
	char *cmd = NULL;
	int n;

	/* the whole command: its header says how long */
	if ((have = read_frame(fd, ssl, in, sizeof(in), end)) == 0)
		return;
	if (mode == BIGFRAME) {
		if ((out = calloc(1, 4 + BIG_SENT)) == NULL)
			return;
		out[0] = BIG_LEN >> 24;
		out[1] = (BIG_LEN >> 16) & 0xff;
		len = 4 + BIG_SENT;
	} else {
		cmd = command_id(in + 4, have - 4);
		if (mode == FETCHDRIP) {
			/* the evidence id the command asks for, listed */
			cp = command_of(in + 4, have - 4);
			output = json_pack("{s:O?, s:[{s:s, s:I}]}",
			    KW_EVIDENCE, json_object_get(json_object_get(cp,
			    KW_ARGS), KW_ID), KW_FILES, KW_PATH, "core",
			    KW_SIZE, (json_int_t)FETCH_SIZE);
			json_decref(cp);
		}
		if (forged_receipt(mode == VALUES || mode == FETCHDRIP ? cmd :
		    NULL, mode == VALUES ? VALUES_N : 0, output, &out,
		    &len) < 0) {
			fprintf(stderr, "dripagent: cannot make the receipt\n");
			free(cmd);
			return;
		}
	}
	while (sent < len && (n = SSL_write(ssl, out + sent,
	    (int)(len - sent))) > 0)
		sent += (size_t)n;
	if (mode == FETCHDRIP)
		serve_chunks(fd, ssl, in, sizeof(in), end, &sent);
	while (pu_now_s() < end && !stop && !hung_up(fd, DRIP_MS))
		;
	printf("%s after %.1f s (%zu bytes)\n", hung_up(fd, 0) ? "closed" :
	    "open", pu_now_s() - t0, sent);
	free(cmd);
	free(out);
}

/* A child: serves fd in mode until end. */
static int
serve(int fd, SSL_CTX *ctx, enum mode mode, double end)
{
	bool tls = mode != DRIP_HANDSHAKE;
	static unsigned char out[RECORD_LEN + 5];
	unsigned char buf[16384];
	SSL *ssl = NULL;
	size_t len;
	int r = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	memset(out, 0, sizeof(out));
	if (tls) {
		/* a blocking handshake, bounded by the alarm of main */
		if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1 ||
		    SSL_accept(ssl) != 1)
			goto out;
		if (mode != DRIP_RECEIPT) {
			answer_at_once(fd, ssl, mode, end);
			fflush(stdout);
			r = 0;
			goto out;
		}
		/* the command, read so that it does not sit unread */
		if (first_bytes(fd, 5000))
			(void)SSL_read(ssl, buf, sizeof(buf));
		out[2] = ANSWER_LEN >> 8;
		out[3] = ANSWER_LEN & 0xff;
		len = 4 + ANSWER_LEN;
	} else {
		/* the ClientHello, whatever it says */
		if (first_bytes(fd, 5000) && read(fd, buf, sizeof(buf)) < 0)
			goto out;
		/* TLS 1.2 record layer, handshake, 16384 bytes */
		out[0] = 0x16;
		out[1] = 0x03;
		out[2] = 0x03;
		out[3] = RECORD_LEN >> 8;
		out[4] = RECORD_LEN & 0xff;
		len = 5 + RECORD_LEN;
	}
	drip(fd, ssl, out, len, end);
	fflush(stdout);
	r = 0;
out:
	ERR_clear_error();
	SSL_free(ssl);
	close(fd);
	return r;
}

int
main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	struct pollfd p;
	socklen_t sl;
	SSL_CTX *ctx = NULL;
	pid_t kids[CONNS_MAX], pid;
	double end;
	int lfd, fd, seconds, nkids = 0, i, mode = -1;

	for (i = 0; argc >= 7 && i < (int)(sizeof(mode_words) /
	    sizeof(mode_words[0])); i++)
		if (strcmp(argv[6], mode_words[i]) == 0)
			mode = i;
	if (mode < 0 || argc != (mode > DRIP_HANDSHAKE ? 9 : 8) ||
	    (seconds = atoi(argv[7])) < 1 || seconds > 600) {
		fprintf(stderr, "usage: dripagent ADDR PORT CERT KEY CHAIN "
		    "receipt|handshake SECONDS\n"
		    "       dripagent ADDR PORT CERT KEY CHAIN "
		    "bigframe|values|nocommand|fetchdrip SECONDS IDKEY\n");
		return 2;
	}
	if (mode > DRIP_HANDSHAKE && kk_key_load_private(argv[8], &idkey) < 0) {
		fprintf(stderr, "dripagent: cannot load %s\n", argv[8]);
		return 2;
	}
	end = pu_now_s() + seconds;
	if (mode != DRIP_HANDSHAKE &&
	    (ctx = agent_ctx(argv[3], argv[4], argv[5])) == NULL) {
		fprintf(stderr, "dripagent: cannot load %s, %s, %s\n", argv[3],
		    argv[4], argv[5]);
		return 2;
	}
	if (pu_sockaddr_of(argv[1], argv[2], &ss, &sl) < 0 ||
	    (lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 },
	    sizeof(int)) < 0 || bind(lfd, (struct sockaddr *)&ss, sl) < 0 ||
	    listen(lfd, 16) < 0) {
		fprintf(stderr, "dripagent: %s:%s: %s\n", argv[1], argv[2],
		    strerror(errno));
		return 2;
	}
	signal(SIGTERM, on_term);
	signal(SIGPIPE, SIG_IGN);
	printf("ready\n");
	fflush(stdout);
	while (!stop && pu_now_s() < end && nkids < CONNS_MAX) {
		p = (struct pollfd){ .fd = lfd, .events = POLLIN };
		if (poll(&p, 1, 100) <= 0)
			continue;
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		pid = fork();
		if (pid == 0) {
			close(lfd);
			signal(SIGTERM, SIG_DFL);
			/* the child ends with the run, whatever the client does */
			alarm((unsigned)(end - pu_now_s()) + 1);
			_exit(serve(fd, ctx, (enum mode)mode, end));
		}
		if (pid > 0)
			kids[nkids++] = pid;
		close(fd);
	}
	close(lfd);
	/* only our own children, by pid */
	for (i = 0; i < nkids; i++)
		kill(kids[i], SIGTERM);
	for (i = 0; i < nkids; i++)
		waitpid(kids[i], NULL, 0);
	SSL_CTX_free(ctx);
	EVP_PKEY_free(idkey);
	return 0;
}
