/*
 * collector_bench ADDR PIN CHAIN TLSKEY IDKEY CONNS REPORTS PID: the
 * collector with CONNS agents connected at once (issue 10: 1,000).  Opens
 * CONNS mutual-TLS connections to kakurictl collector at ADDR (pinned
 * PIN) with an agent's TLS chain and key, keeps them all open, then sends
 * REPORTS reports signed by the agent's identity key IDKEY round-robin
 * over them, each timed until its signed ack is back and checked.  Prints
 * the collector's (PID) resident memory before and after, and the
 * latency per report (median, p99, microseconds).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "kakuri.h"
#include "../ctl/agentconn.h"
#include "report.h"
#include "sign.h"
#include "wire.h"
#include "../tests/fakereport.h"
#include "../tests/progutil.h"

static long
rss_kib(const char *pid)
{
	char path[64], buf[4096], *p;

	snprintf(path, sizeof(path), "/proc/%s/status", pid);
	if (pu_read_small(path, buf, sizeof(buf)) < 0 ||
	    (p = strstr(buf, "VmRSS:")) == NULL)
		return -1;
	return strtol(p + 6, NULL, 10);
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	struct agentconn_cfg cfg = { .timeout_ms = 20000, .collector = true,
		.send_max = KK_REPORT_MAX };
	struct agentconn *conns;
	EVP_PKEY *idkey = NULL;
	char err[300], agent[KK_AGENT_ID_HEX + 1], id[33], sha[65], *rep;
	const char *why;
	uint8_t *ack;
	size_t acklen;
	double t0, *lat;
	long before, after;
	int nconn, nrep, i, n;

	if (argc != 9) {
		fprintf(stderr, "usage: collector_bench ADDR PIN CHAIN TLSKEY "
		    "IDKEY CONNS REPORTS PID\n");
		return 2;
	}
	nconn = atoi(argv[6]);
	nrep = atoi(argv[7]);
	if (nconn < 1 || nrep < 1 ||
	    (conns = calloc((size_t)nconn, sizeof(*conns))) == NULL ||
	    (lat = calloc((size_t)nrep, sizeof(*lat))) == NULL)
		return 2;
	if (fr_agent_load(argv[3], argv[4], argv[5], &cfg.tls, &idkey, agent,
	    err, sizeof(err)) < 0) {
		fprintf(stderr, "collector_bench: %s\n", err);
		return 1;
	}
	before = rss_kib(argv[8]);
	t0 = pu_now_s();
	for (i = 0; i < nconn; i++)
		if (agentconn_open(&conns[i], &cfg, argv[1], argv[2], err,
		    sizeof(err)) != EX_DONE) {
			fprintf(stderr, "connection %d: %s\n", i, err);
			return 1;
		}
	printf("connected %d agents in %.2f s; collector RSS %ld KiB before, "
	    "%ld KiB with them connected\n", nconn, pu_now_s() - t0, before,
	    rss_kib(argv[8]));
	for (i = 0; i < nrep; i++) {
		struct agentconn *ac = &conns[(i * 7919) % nconn];

		if ((rep = fr_signed_report(idkey, agent, i + 1, "bench",
		    "collector bench", id)) == NULL)
			return 1;
		kk_sha256_hex(rep, strlen(rep), sha);
		t0 = pu_now_us();
		if (agentconn_send(ac, rep, strlen(rep)) < 0 ||
		    agentconn_recv(ac, &ack, &acklen) < 0 ||
		    kk_ack_check(ack, acklen, ac->identity, agent, id, sha,
		    &why) < 0) {
			fprintf(stderr, "report %d: no valid ack\n", i);
			return 1;
		}
		lat[i] = pu_now_us() - t0;
		free(ack);
		free(rep);
	}
	after = rss_kib(argv[8]);
	qsort(lat, (size_t)nrep, sizeof(*lat), cmp);
	n = (int)(nrep * 0.99);
	printf("%d reports over %d open connections: median %.0f us, p99 %.0f us "
	    "per report (verify, store, index, fsync, signed ack); collector "
	    "RSS %ld KiB after\n", nrep, nconn, lat[nrep / 2],
	    lat[n < nrep ? n : nrep - 1], after);
	for (i = 0; i < nconn; i++)
		agentconn_close(&conns[i]);
	EVP_PKEY_free(idkey);
	SSL_CTX_free(cfg.tls);
	free(conns);
	free(lat);
	return 0;
}
