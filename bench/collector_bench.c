/*
 * collector_bench: the collector with many agents connected at once
 * (issue 10: 1,000).  The collector takes at most COL_MAX_PER_AGENT
 * connections of one agent, so each connection is an agent of its own:
 *
 *   collector_bench agents DIR N
 *	makes N agent identities in DIR as kakurid --init makes one
 *	(common/keys.c): an identity key with its self-signed certificate
 *	(DIR/I.key, DIR/I.crt) and a TLS key with a certificate it issued
 *	(DIR/I-tls.key, DIR/I-tls.crt), and the chain a connection presents
 *	(DIR/I-chain.pem); prints the N agent ids, a line each, for the
 *	collector's --agents.
 *
 *   collector_bench ADDR PIN DIR N REPORTS PID
 *	opens N mutual-TLS connections to kakurictl collector at ADDR
 *	(pinned PIN), connection I as agent I of DIR, keeps them all open,
 *	then sends REPORTS reports round-robin over them, each signed by its
 *	connection's agent and timed until its signed ack is back and
 *	checked.  Prints the collector's (PID) resident memory before and
 *	after, and the latency per report (median, p99, microseconds).
 */
#include <limits.h>
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

#define BENCH_AGENTS_MAX	1100	/* COL_MAX_CONNS */
#define CERT_DAYS		2

/* Agent i's identity and TLS material in dir, as kakurid --init. */
static int
agent_make(const char *dir, int i, char id[KK_AGENT_ID_HEX + 1])
{
	char path[PATH_MAX], tlspath[PATH_MAX], chain[PATH_MAX], *a = NULL,
	    *b = NULL;
	EVP_PKEY *key = NULL, *tlskey = NULL;
	X509 *idcert = NULL;
	size_t alen, blen;
	FILE *f = NULL;
	int r = -1;

	snprintf(path, sizeof(path), "%s/%d.key", dir, i);
	if ((key = kk_key_generate()) == NULL || kk_key_id(key, id) < 0 ||
	    kk_key_save_private(key, path) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/%d.crt", dir, i);
	if (kk_cert_selfsigned(key, id, CERT_DAYS, path) < 0 ||
	    kk_cert_load(path, &idcert) < 0)
		goto out;
	snprintf(tlspath, sizeof(tlspath), "%s/%d-tls.key", dir, i);
	if ((tlskey = kk_key_generate()) == NULL ||
	    kk_key_save_private(tlskey, tlspath) < 0)
		goto out;
	snprintf(tlspath, sizeof(tlspath), "%s/%d-tls.crt", dir, i);
	if (kk_cert_issue(tlskey, "kakurid network child", CERT_DAYS, idcert,
	    key, tlspath) < 0)
		goto out;
	/* the TLS certificate, then the identity one: kakurid's chain */
	snprintf(chain, sizeof(chain), "%s/%d-chain.pem", dir, i);
	if (kk_pem_read(tlspath, &a, &alen) < 0 ||
	    kk_pem_read(path, &b, &blen) < 0 ||
	    (f = fopen(chain, "wx")) == NULL ||
	    fwrite(a, 1, alen, f) != alen || fwrite(b, 1, blen, f) != blen)
		goto out;
	r = 0;
out:
	if (f != NULL && fclose(f) != 0)
		r = -1;
	free(a);
	free(b);
	X509_free(idcert);
	EVP_PKEY_free(tlskey);
	EVP_PKEY_free(key);
	return r;
}

static int
agents_make(const char *dir, int n)
{
	char id[KK_AGENT_ID_HEX + 1];
	int i;

	for (i = 0; i < n; i++) {
		if (agent_make(dir, i, id) < 0) {
			fprintf(stderr, "collector_bench: agent %d in %s: "
			    "cannot make its identity\n", i, dir);
			return 1;
		}
		printf("%s\n", id);
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

/* Agent i of dir: its TLS client context, identity key and id. */
static int
agent_load(const char *dir, int i, SSL_CTX **tls, EVP_PKEY **key,
    char id[KK_AGENT_ID_HEX + 1], char *err, size_t errlen)
{
	char chain[PATH_MAX], tlskey[PATH_MAX], idkey[PATH_MAX];

	snprintf(chain, sizeof(chain), "%s/%d-chain.pem", dir, i);
	snprintf(tlskey, sizeof(tlskey), "%s/%d-tls.key", dir, i);
	snprintf(idkey, sizeof(idkey), "%s/%d.key", dir, i);
	return fr_agent_load(chain, tlskey, idkey, tls, key, id, err, errlen);
}

struct bench_agent {
	struct agentconn conn;
	SSL_CTX *tls;
	EVP_PKEY *key;
	char id[KK_AGENT_ID_HEX + 1];
};

int
main(int argc, char **argv)
{
	struct agentconn_cfg cfg = { .timeout_ms = 20000, .collector = true,
		.send_max = KK_REPORT_MAX };
	struct bench_agent *agents = NULL;
	char err[300], id[33], sha[65], *rep = NULL;
	const char *why;
	uint8_t *ack = NULL;
	size_t acklen;
	double t0, *lat = NULL;
	long before, after;
	int nconn, nrep, opened = 0, tried = 0, i, n, r = 1;

	if (argc == 4 && strcmp(argv[1], "agents") == 0) {
		n = atoi(argv[3]);
		if (n < 1 || n > BENCH_AGENTS_MAX)
			return 2;
		return agents_make(argv[2], n);
	}
	if (argc != 7) {
		fprintf(stderr, "usage: collector_bench agents DIR N\n"
		    "       collector_bench ADDR PIN DIR N REPORTS PID\n");
		return 2;
	}
	nconn = atoi(argv[4]);
	nrep = atoi(argv[5]);
	if (nconn < 1 || nconn > BENCH_AGENTS_MAX || nrep < 1 ||
	    (agents = calloc((size_t)nconn, sizeof(*agents))) == NULL ||
	    (lat = calloc((size_t)nrep, sizeof(*lat))) == NULL) {
		free(agents);
		return 2;
	}
	for (i = 0; i < nconn; i++)
		if (agent_load(argv[3], i, &agents[i].tls, &agents[i].key,
		    agents[i].id, err, sizeof(err)) < 0) {
			fprintf(stderr, "collector_bench: agent %d: %s\n", i,
			    err);
			goto out;
		}
	before = rss_kib(argv[6]);
	t0 = pu_now_s();
	for (opened = 0; opened < nconn; opened++) {
		cfg.tls = agents[opened].tls;
		tried = opened + 1;
		if (agentconn_open(&agents[opened].conn, &cfg, argv[1], argv[2],
		    err, sizeof(err)) != EX_DONE) {
			fprintf(stderr, "collector_bench: connection %d: %s\n",
			    opened, err);
			goto out;
		}
	}
	printf("connected %d agents in %.2f s; collector RSS %ld KiB before, "
	    "%ld KiB with them connected\n", nconn, pu_now_s() - t0, before,
	    rss_kib(argv[6]));
	for (i = 0; i < nrep; i++) {
		struct bench_agent *a = &agents[(i * 7919) % nconn];
		struct agentconn *ac = &a->conn;

		if ((rep = fr_signed_report(a->key, a->id, i + 1, "bench",
		    "collector bench", id)) == NULL)
			goto out;
		kk_sha256_hex(rep, strlen(rep), sha);
		t0 = pu_now_us();
		if (agentconn_send(ac, rep, strlen(rep)) < 0 ||
		    agentconn_recv(ac, &ack, &acklen) < 0 ||
		    kk_ack_check(ack, acklen, ac->identity, a->id, id, sha,
		    &why) < 0) {
			fprintf(stderr, "collector_bench: report %d (agent "
			    "%.16s): no valid ack\n", i, a->id);
			goto out;
		}
		lat[i] = pu_now_us() - t0;
		free(ack);
		ack = NULL;
		free(rep);
		rep = NULL;
	}
	after = rss_kib(argv[6]);
	qsort(lat, (size_t)nrep, sizeof(*lat), cmp);
	n = (int)(nrep * 0.99);
	printf("%d reports over %d open connections, an agent each: median "
	    "%.0f us, p99 %.0f us per report (verify, store, index, fsync, "
	    "signed ack); collector RSS %ld KiB after\n", nrep, nconn,
	    lat[nrep / 2], lat[n < nrep ? n : nrep - 1], after);
	r = 0;
out:
	free(ack);
	free(rep);
	for (i = 0; i < nconn; i++) {
		/* the one that failed too: agentconn_open leaves it to us */
		if (i < tried)
			agentconn_close(&agents[i].conn);
		EVP_PKEY_free(agents[i].key);
		SSL_CTX_free(agents[i].tls);
	}
	free(agents);
	free(lat);
	return r;
}
