/*
 * floodagent ADDR PIN CHAIN TLSKEY IDKEY COUNT SIZE: root malware on an
 * infected PC with the agent's keys (its TLS chain and key, its identity
 * key IDKEY), sending the collector at ADDR (pinned PIN) COUNT validly
 * signed self-reports of about SIZE bytes each, one after the other, a
 * new connection after each refusal (the collector closes it).  Prints
 * one line: "acked N refused M [WORD]", WORD the last refusal's word.
 * Exit 0 when every report got an answer (an ack or a refusal), 1 if a
 * connection or an answer failed.  With an eighth word, "same": one
 * report sent COUNT times (an agent that resends what is stored); or
 * "onward": a connection closed with no answer (a collector whose disk
 * does not sync acks nothing) is no end, the next report goes on a new
 * one, and the line ends with "unanswered K"; or "forged": each report's
 * signature is spoilt (one character of it changed), so that none
 * verifies.  With "same" and FLOOD_SAME_FILE in the environment, the
 * report is the one that file keeps (its id, a line break, the envelope)
 * if it exists, else it is made and kept there: one report sent again
 * by another run.  FLOOD_HOSTNAME: the hostname the reports give, in
 * place of "flood" (FLOOD_HOSTNAME_BYTES: that many "h").  With "pipeline": the COUNT reports written ahead on
 * one connection, each frame a TLS record of its own (so that every 64th
 * ends a record, and the collector takes them batch after batch), two
 * batches ahead of the answers read (more acks unread than the sockets
 * hold would stop both ends), all within 120 s.  With "straddle": the
 * COUNT reports (64 at most) as one stream on one connection, written in
 * pieces cut in the middle of each frame, FLOOD_STRADDLE_MS (700) apart,
 * so that every write but the first and the last ends one report and
 * begins the next (an agent whose TLS records do not end where its
 * reports do), then their answers read.
 */
#define PIPELINE_AHEAD	128
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "kakuri.h"
#include "../../ctl/agentconn.h"
#include "report.h"
#include "sign.h"
#include "wire.h"
#include "../fakereport.h"

/* FLOOD_SAME_FILE's report into *rep and id: 1, 0 if none, -1 if bad. */
static int
kept_report(const char *path, char **rep, char id[33])
{
	char *text = NULL, *nl;
	size_t len;
	int r;

	if ((r = kk_read_file(path, 1 << 24, &text, &len)) == -ENOENT)
		return 0;
	if (r < 0 || (nl = memchr(text, '\n', len)) == NULL ||
	    nl - text != 32) {
		free(text);
		return -1;
	}
	memcpy(id, text, 32);
	id[32] = '\0';
	if ((*rep = strndup(nl + 1, len - 33)) == NULL) {
		free(text);
		return -1;
	}
	free(text);
	return 1;
}

/* One signed self-report of about size bytes; its id in id. */
static char *
make_report(EVP_PKEY *key, const char *agent, int seq, size_t size,
    char id[33])
{
	const char *hn = getenv("FLOOD_HOSTNAME_BYTES");
	const char *name = getenv("FLOOD_HOSTNAME");
	char *what, *host = NULL, *out = NULL;
	size_t hlen;

	/* base64 in the envelope: 3 bytes of text are 4 of the report */
	size = size * 3 / 4;
	if ((what = malloc(size + 1)) == NULL)
		return NULL;
	memset(what, 'x', size);
	what[size] = '\0';
	/* a hostile agent's hostname of that many bytes, in place of "flood" */
	hlen = hn != NULL ? (size_t)atol(hn) : 0;
	if (hn != NULL && (host = malloc(hlen + 1)) != NULL) {
		memset(host, 'h', hlen);
		host[hlen] = '\0';
	}
	if (hn == NULL || host != NULL)
		out = fr_signed_report(key, agent, seq, host ? host :
		    name ? name : "flood", what, id);
	free(host);
	free(what);
	return out;
}

/* The answer to report i read and checked: 0, or -1 with a line. */
static int
answer_one(struct agentconn *ac, const char *agent, char (*ids)[33],
    char (*shas)[65], int i, int *acked)
{
	const char *why;
	uint8_t *answer;
	size_t alen;

	if (agentconn_recv(ac, &answer, &alen) < 0) {
		fprintf(stderr, "floodagent: report %d: no answer\n", i);
		return -1;
	}
	if (kk_ack_check(answer, alen, ac->identity, agent, ids[i], shas[i],
	    &why) == 0)
		(*acked)++;
	free(answer);
	return 0;
}

/* The answers to reports from..to-1, in order: 0, or -1 with a line. */
static int
answers(struct agentconn *ac, const char *agent, char (*ids)[33],
    char (*shas)[65], int from, int to, int *acked)
{
	int i;

	for (i = from; i < to; i++)
		if (answer_one(ac, agent, ids, shas, i, acked) < 0)
			return -1;
	return 0;
}

/*
 * count reports of size bytes written ahead on one connection,
 * then their answers read: the acks counted in *acked.  0, or -1 with a
 * line on stderr.
 */
static int
pipeline(const struct agentconn_cfg *cfg, const char *addr, const char *pin,
    EVP_PKEY *idkey, const char *agent, int count, size_t size, int *acked)
{
	struct agentconn ac;
	char err[300], (*ids)[33] = NULL, (*shas)[65] = NULL, *rep;
	int i, ret = -1;
	bool open = false;

	if ((ids = calloc((size_t)count, sizeof(*ids))) == NULL ||
	    (shas = calloc((size_t)count, sizeof(*shas))) == NULL)
		goto out;
	if (agentconn_open(&ac, cfg, addr, pin, err, sizeof(err)) != EX_DONE) {
		fprintf(stderr, "floodagent: %s\n", err);
		goto out;
	}
	open = true;
	agentconn_within(&ac, 120000);
	for (i = 0; i < count; i++) {
		/* the oldest answer read once PIPELINE_AHEAD are unanswered */
		if (i >= PIPELINE_AHEAD && answer_one(&ac, agent, ids, shas,
		    i - PIPELINE_AHEAD, acked) < 0)
			goto out;
		if ((rep = make_report(idkey, agent, i + 1, size, ids[i])) == NULL)
			goto out;
		kk_sha256_hex(rep, strlen(rep), shas[i]);
		if (agentconn_write(&ac, rep, strlen(rep)) < 0) {
			fprintf(stderr, "floodagent: report %d not written\n", i);
			free(rep);
			goto out;
		}
		free(rep);
	}
	ret = answers(&ac, agent, ids, shas, count > PIPELINE_AHEAD ?
	    count - PIPELINE_AHEAD : 0, count, acked);
out:
	if (open)
		agentconn_close(&ac);
	free(ids);
	free(shas);
	return ret;
}

/* len bytes on the non-blocking TLS connection, within 10 s a wait. */
static int
raw_write(SSL *ssl, const uint8_t *p, size_t len)
{
	struct pollfd pfd = { .fd = SSL_get_fd(ssl) };
	int n, e, tries;

	for (tries = 0; tries < 1000 && len > 0; tries++) {
		n = SSL_write(ssl, p, (int)len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		e = SSL_get_error(ssl, n);
		if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ)
			return -1;
		pfd.events = e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
		if (poll(&pfd, 1, 10000) <= 0)
			return -1;
	}
	return len == 0 ? 0 : -1;
}

/* "straddle" (above): 0, or -1 with a line on stderr. */
static int
straddle(const struct agentconn_cfg *cfg, const char *addr, const char *pin,
    EVP_PKEY *idkey, const char *agent, int count, size_t size, int *acked)
{
	const char *ms = getenv("FLOOD_STRADDLE_MS");
	struct agentconn ac;
	char err[300], ids[64][33], shas[64][65], *rep;
	uint8_t *stream = NULL, *p;
	size_t len = 0, cut[65], n;
	int i, ret = -1;
	bool open = false;

	if (count < 1 || count > 64) {
		fprintf(stderr, "floodagent: straddle takes 1 to 64 reports\n");
		return -1;
	}
	for (i = 0; i < count; i++) {
		if ((rep = make_report(idkey, agent, i + 1, size, ids[i])) ==
		    NULL)
			goto out;
		n = strlen(rep);
		kk_sha256_hex(rep, n, shas[i]);
		if ((p = realloc(stream, len + 4 + n)) == NULL) {
			free(rep);
			goto out;
		}
		stream = p;
		if (kk_frame_header(stream + len, n, KK_REPORT_MAX) < 0) {
			free(rep);
			goto out;
		}
		memcpy(stream + len + 4, rep, n);
		free(rep);
		/* the middle of this frame ends a piece */
		cut[i] = len + (4 + n) / 2;
		len += 4 + n;
	}
	cut[count] = len;
	if (agentconn_open(&ac, cfg, addr, pin, err, sizeof(err)) != EX_DONE) {
		fprintf(stderr, "floodagent: %s\n", err);
		goto out;
	}
	open = true;
	agentconn_within(&ac, 120000);
	for (i = 0; i <= count; i++) {
		if (i > 0) {
			long t = ms != NULL ? atol(ms) : 700;
			struct timespec ts = { t / 1000, (t % 1000) * 1000000L };

			nanosleep(&ts, NULL);
		}
		if (raw_write(ac.ssl, stream + (i > 0 ? cut[i - 1] : 0),
		    cut[i] - (i > 0 ? cut[i - 1] : 0)) < 0) {
			fprintf(stderr, "floodagent: piece %d not written\n",
			    i);
			goto out;
		}
	}
	ret = answers(&ac, agent, ids, shas, 0, count, acked);
out:
	if (open)
		agentconn_close(&ac);
	free(stream);
	return ret;
}

/* One base64 character of the envelope's signature changed; -1 if none. */
static int
spoil_signature(char *env)
{
	char *sig = strstr(env, "\"sig\":\"");

	if (sig == NULL || sig[7] == '"') {
		fprintf(stderr, "floodagent: no signature to spoil\n");
		return -1;
	}
	sig[7] = sig[7] == 'A' ? 'B' : 'A';
	return 0;
}

int
main(int argc, char **argv)
{
	struct agentconn_cfg cfg = { .timeout_ms = 20000, .collector = true,
		.send_max = KK_REPORT_MAX };
	struct agentconn ac;
	EVP_PKEY *idkey = NULL;
	char err[300], agent[KK_AGENT_ID_HEX + 1], id[33], sha[65];
	char word[40] = "", *rep = NULL;
	const char *why;
	uint8_t *answer;
	size_t size, alen;
	bool open = false;
	json_t *o;
	bool same, onward, forged, piped, straddled;
	const char *keep = getenv("FLOOD_SAME_FILE");
	FILE *f;
	int unanswered = 0, k = 0;
	int count, acked = 0, refused = 0, i, ret = 1;

	if (argc != 8 && !(argc == 9 && (strcmp(argv[8], "same") == 0 ||
	    strcmp(argv[8], "onward") == 0 ||
	    strcmp(argv[8], "forged") == 0 ||
	    strcmp(argv[8], "pipeline") == 0 ||
	    strcmp(argv[8], "straddle") == 0))) {
		fprintf(stderr, "usage: floodagent ADDR PIN CHAIN TLSKEY IDKEY "
		    "COUNT SIZE [same | onward | forged | pipeline | "
		    "straddle]\n");
		return 2;
	}
	straddled = argc == 9 && strcmp(argv[8], "straddle") == 0;
	piped = argc == 9 && strcmp(argv[8], "pipeline") == 0;
	same = argc == 9 && strcmp(argv[8], "same") == 0;
	onward = argc == 9 && strcmp(argv[8], "onward") == 0;
	forged = argc == 9 && strcmp(argv[8], "forged") == 0;
	/* a collector that closes the connection: said, not a silent death */
	signal(SIGPIPE, SIG_IGN);
	count = atoi(argv[6]);
	size = (size_t)atol(argv[7]);
	if (fr_agent_load(argv[3], argv[4], argv[5], &cfg.tls, &idkey, agent,
	    err, sizeof(err)) < 0) {
		fprintf(stderr, "floodagent: %s\n", err);
		return 1;
	}
	if (piped || straddled) {
		if (count > 0 && (piped ? pipeline(&cfg, argv[1], argv[2],
		    idkey, agent, count, size, &acked) : straddle(&cfg,
		    argv[1], argv[2], idkey, agent, count, size, &acked)) == 0)
			ret = 0;
		refused = count - acked;
		goto out;
	}
	for (i = 0; i < count; i++) {
		if (!open && agentconn_open(&ac, &cfg, argv[1], argv[2], err,
		    sizeof(err)) != EX_DONE) {
			fprintf(stderr, "floodagent: %s\n", err);
			goto out;
		}
		open = true;
		if (rep == NULL && same && keep != NULL &&
		    (k = kept_report(keep, &rep, id)) < 0)
			goto out;
		if (rep == NULL && (rep = make_report(idkey, agent, i + 1,
		    size, id)) == NULL)
			goto out;
		if (same && keep != NULL && k == 0) {
			if ((f = fopen(keep, "wx")) == NULL ||
			    fprintf(f, "%s\n%s", id, rep) < 0 || fclose(f) != 0)
				goto out;
			k = 1;
		}
		if (forged && spoil_signature(rep) < 0)
			goto out;
		kk_sha256_hex(rep, strlen(rep), sha);
		if (agentconn_send(&ac, rep, strlen(rep)) < 0 ||
		    agentconn_recv(&ac, &answer, &alen) < 0) {
			if (!onward) {
				fprintf(stderr, "floodagent: report %d: no "
				    "answer\n", i);
				goto out;
			}
			unanswered++;
			agentconn_close(&ac);
			open = false;
			free(rep);
			rep = NULL;
			continue;
		}
		if (!same) {
			free(rep);
			rep = NULL;
		}
		if (kk_ack_check(answer, alen, ac.identity, agent, id, sha,
		    &why) == 0)
			acked++;
		else {
			/* a refusal: {"error": word, ...}, and the end of it */
			refused++;
			o = json_loadb((const char *)answer, alen, 0, NULL);
			snprintf(word, sizeof(word), "%s",
			    json_string_value(json_object_get(o, KW_ERROR)) ?
			    json_string_value(json_object_get(o, KW_ERROR)) :
			    "?");
			json_decref(o);
			agentconn_close(&ac);
			open = false;
		}
		free(answer);
	}
	ret = 0;
out:
	if (onward)
		printf("acked %d refused %d %s unanswered %d\n", acked, refused,
		    word, unanswered);
	else
		printf("acked %d refused %d %s\n", acked, refused, word);
	if (open)
		agentconn_close(&ac);
	free(rep);
	EVP_PKEY_free(idkey);
	SSL_CTX_free(cfg.tls);
	return ret;
}
