/*
 * send_bench ADDR PORT CERT KEY AGENT-ID FILE...: for every signed command
 * file, one full round trip as kakurictl send does it - TCP connect, TLS
 * 1.3 handshake with the client certificate, agent id pinned, the frame
 * out, the signed receipt back and its signature verified - timed in
 * microseconds, one line per command ("US RESULT").  Without kakurictl's
 * process start, which bench/run reports separately.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "kakuri.h"
#include "sign.h"
#include "tls.h"

static long long
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static int
round_trip(SSL_CTX *ctx, const struct sockaddr_storage *ss, socklen_t sl,
    const char *pin, const char *body, size_t len, char *result, size_t rlen,
    char *episode, size_t elen)
{
	char id[KK_AGENT_ID_HEX + 1], why[200];
	EVP_PKEY *identity = NULL;
	struct kk_envelope env;
	uint8_t *msg = NULL, buf[16384];
	struct kk_frame_reader rd;
	size_t used, off, got;
	SSL *ssl = NULL;
	json_t *o;
	int fd, n, r = -1, fr = 0;

	kk_frame_reader_init(&rd, KK_FRAME_MAX);
	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (const struct sockaddr *)ss, sl) < 0)
		goto out;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1 || kk_tls_peer_identity(ssl, false,
	    &identity, id, why, sizeof(why)) < 0 || strcmp(id, pin) != 0)
		goto out;
	msg = malloc(len + 4);
	if (msg == NULL || kk_frame_header(msg, len, KK_FRAME_MAX) < 0)
		goto out;
	memcpy(msg + 4, body, len);
	if (SSL_write(ssl, msg, (int)len + 4) != (int)len + 4)
		goto out;
	while (fr == 0) {
		n = SSL_read(ssl, buf, sizeof(buf));
		if (n <= 0)
			goto out;
		for (off = 0; off < (size_t)n && fr == 0; off += used)
			if ((fr = kk_frame_feed(&rd, buf + off, (size_t)n - off,
			    &used)) < 0)
				goto out;
	}
	free(msg);
	msg = kk_frame_take(&rd, &got);
	if (kk_envelope_parse(msg, got, &env) < 0)
		goto out;
	/* receipts are signed by the identity key, not the TLS key */
	if (kk_dsse_verify_one(&env, 0, identity) == 0) {
		o = json_loadb((const char *)env.payload, env.payload_len, 0, NULL);
		snprintf(result, rlen, "%s", json_string_value(json_object_get(o,
		    "result")) ?: "?");
		snprintf(episode, elen, "%s", json_string_value(json_object_get(o,
		    "episode")) ?: "-");
		json_decref(o);
		r = 0;
	}
	kk_envelope_free(&env);
out:
	EVP_PKEY_free(identity);
	kk_frame_reader_reset(&rd);
	free(msg);
	if (ssl) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	if (fd >= 0)
		close(fd);
	return r;
}

int
main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	struct kk_addr a;
	char err[300], result[32], episode[40], *body;
	socklen_t sl;
	SSL_CTX *ctx;
	long long t0;
	int i;

	if (argc < 7) {
		fprintf(stderr, "usage: send_bench ADDR PORT CERT KEY AGENT-ID FILE...\n");
		return 2;
	}
	if (kk_addr_parse(argv[1], &a) < 0)
		return 2;
	memset(&ss, 0, sizeof(ss));
	if (a.family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_addr = a.a.v4;
		s4->sin_port = htons((uint16_t)atoi(argv[2]));
		sl = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = a.a.v6;
		s6->sin6_port = htons((uint16_t)atoi(argv[2]));
		sl = sizeof(*s6);
	}
	ctx = kk_tls_client_ctx(argv[3], argv[4], NULL, err, sizeof(err));
	if (ctx == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	for (i = 6; i < argc; i++) {
		FILE *f = fopen(argv[i], "re");
		size_t len;

		if (f == NULL)
			return 1;
		body = malloc(KK_FRAME_MAX);
		len = fread(body, 1, KK_FRAME_MAX, f);
		fclose(f);
		t0 = now_us();
		if (round_trip(ctx, &ss, sl, argv[5], body, len, result,
		    sizeof(result), episode, sizeof(episode)) < 0) {
			fprintf(stderr, "%s: round trip failed\n", argv[i]);
			return 1;
		}
		printf("%lld %s %s\n", now_us() - t0, result, episode);
		fflush(stdout);
		free(body);
	}
	SSL_CTX_free(ctx);
	return 0;
}
