/*
 * send_bench ADDR PORT CERT KEY AGENT-ID FILE...: for every signed command
 * file, one full round trip as kakurictl send does it, through the same
 * code (ctl/agentconn.c) - TCP connect, TLS 1.3 handshake with the client
 * certificate, the agent's identity behind the chain pinned, the frame
 * out, the signed receipt back and checked - timed in microseconds, one
 * line per command ("US RESULT EPISODE").  Without kakurictl's process
 * start, which bench/run reports separately.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "kakuri.h"
#include "../ctl/agentconn.h"
#include "tls.h"
#include "../tests/progutil.h"

static int
round_trip(const struct agentconn_cfg *cfg, const char *addr, const char *pin,
    const char *body, size_t len, char *result, size_t rlen, char *episode,
    size_t elen)
{
	struct agentconn ac;
	const char *why;
	char err[300];
	json_t *rec = NULL;
	int r = -1;

	if (agentconn_open(&ac, cfg, addr, pin, err, sizeof(err)) != EX_DONE) {
		fprintf(stderr, "%s: %s\n", addr, err);
		goto out;
	}
	if (agentconn_command(&ac, body, len, NULL, &rec, &why) != EX_DONE) {
		fprintf(stderr, "%s: %s\n", addr, why);
		goto out;
	}
	snprintf(result, rlen, "%s", json_string_value(json_object_get(rec,
	    "result")) ?: "?");
	snprintf(episode, elen, "%s", json_string_value(json_object_get(rec,
	    "episode")) ?: "-");
	r = 0;
out:
	json_decref(rec);
	agentconn_close(&ac);
	return r;
}

int
main(int argc, char **argv)
{
	struct agentconn_cfg cfg = { .timeout_ms = 10000 };
	char err[300], addr[200], result[32], episode[40], *body;
	long long t0;
	size_t len;
	int i;

	if (argc < 7) {
		fprintf(stderr, "usage: send_bench ADDR PORT CERT KEY AGENT-ID FILE...\n");
		return 2;
	}
	/* an IPv6 literal goes in brackets */
	snprintf(addr, sizeof(addr), "%s%s%s:%s", strchr(argv[1], ':') ? "[" :
	    "", argv[1], strchr(argv[1], ':') ? "]" : "", argv[2]);
	cfg.tls = kk_tls_client_ctx(argv[3], argv[4], NULL, err, sizeof(err));
	if (cfg.tls == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	for (i = 6; i < argc; i++) {
		FILE *f = fopen(argv[i], "re");

		if (f == NULL)
			return 1;
		if ((body = malloc(KK_FRAME_MAX)) == NULL)
			return 1;
		len = fread(body, 1, KK_FRAME_MAX, f);
		fclose(f);
		t0 = pu_now_us();
		if (round_trip(&cfg, addr, argv[5], body, len, result,
		    sizeof(result), episode, sizeof(episode)) < 0) {
			fprintf(stderr, "%s: round trip failed\n", argv[i]);
			return 1;
		}
		printf("%lld %s %s\n", pu_now_us() - t0, result, episode);
		fflush(stdout);
		free(body);
	}
	SSL_CTX_free(cfg.tls);
	return 0;
}
