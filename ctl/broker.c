/*
 * kakurictl's MQTT session with the fleet broker (broker.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "broker.h"
#include "kakuri.h"
#include "tls.h"

#define KEEPALIVE	30
#define BROKER_SESSION	(7 * 86400)	/* s the broker keeps a named session */

static void
on_connect(struct mosquitto *m, void *arg, int rc, int flags,
    const mosquitto_property *props)
{
	struct broker *b = arg;

	b->connected = rc == 0;
	b->resumed = rc == 0 && (flags & 1);	/* session present */
	b->refused = rc == 0 ? 0 : rc;
}

static void
on_subscribe(struct mosquitto *m, void *arg, int mid, int n,
    const int *granted, const mosquitto_property *props)
{
	struct broker *b = arg;
	int i;

	for (i = 0; i < n; i++)
		if (granted[i] >= 0x80)
			b->refused = granted[i];	/* not authorised */
	if (b->subacks > 0)
		b->subacks--;
}

static void
on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg,
    const mosquitto_property *props)
{
	struct broker *b = arg;

	/*
	 * A copy the broker keeps and gives to every subscriber that comes:
	 * nobody of ours publishes one (a forged report would be charged to
	 * its agent again at every connect of the collector)
	 */
	if (msg->retain)
		return;
	/* the sender's word for what it is (MQTT 5), for the callback only */
	b->content_type = NULL;
	(void)mosquitto_property_read_string(props, MQTT_PROP_CONTENT_TYPE,
	    &b->content_type, false);
	if (b->message != NULL)
		b->message(b->arg, msg);
	free(b->content_type);
	b->content_type = NULL;
}

static void
on_disconnect(struct mosquitto *m, void *arg, int rc,
    const mosquitto_property *props)
{
	((struct broker *)arg)->connected = false;
}

/* "mqtts://ADDR:PORT" or "mqtt://ADDR:PORT" into b: 0 or -EINVAL */
static int
parse_url(struct broker *b, const char *url)
{
	struct kk_addr addr;
	const char *rest;

	if (strncmp(url, KK_BROKER_SCHEME, strlen(KK_BROKER_SCHEME)) == 0) {
		b->tls = true;
		rest = url + strlen(KK_BROKER_SCHEME);
	} else if (strncmp(url, "mqtt://", 7) == 0) {
		b->tls = false;
		rest = url + 7;
	} else {
		return -EINVAL;
	}
	if (kk_endpoint_parse(rest, &addr, &b->port) < 0 ||
	    kk_addr_format(&addr, b->host, sizeof(b->host)) < 0)
		return -EINVAL;
	return 0;
}

/* The broker's chain against ca, its certificate against its address. */
static SSL_CTX *
broker_ctx(const struct broker *b, const char *ca, const char *cert,
    const char *key, char *err, size_t errlen)
{
	SSL_CTX *ctx = kk_tls_client_ctx(cert, key, ca, err, errlen);

	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (X509_VERIFY_PARAM_set1_ip_asc(SSL_CTX_get0_param(ctx),
	    b->host) != 1) {
		snprintf(err, errlen, "%s: not an IP literal", b->host);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* Until cond holds, the deadline passes or the session breaks. */
static int
pump(struct broker *b, uint64_t deadline, bool (*done)(void *), void *arg)
{
	uint64_t now;
	int rc, wait;

	for (;;) {
		if (done != NULL && done(arg))
			return EX_DONE;
		now = kk_now_ms();
		if (now >= deadline)
			return EX_DONE;
		wait = deadline - now > 100 ? 100 : (int)(deadline - now);
		rc = mosquitto_loop(b->mosq, wait, 1);
		if (rc != MOSQ_ERR_SUCCESS)
			return EX_UNREACHABLE;
	}
}

struct opening {
	struct broker *b;
	int err;		/* the socket's error; -1: closed under us */
};

static bool
settled(void *arg)
{
	struct opening *o = arg;
	struct pollfd p = { .fd = mosquitto_socket(o->b->mosq) };
	socklen_t len = sizeof(o->err);

	if (o->b->connected || o->b->refused != 0)
		return true;
	/*
	 * A connect refused or reset: libmosquitto's TLS handshake writes to
	 * the dead socket again and again (EPIPE, and the socket readable)
	 * until the deadline, a busy loop that answers nothing.
	 */
	if (p.fd < 0)
		return false;	/* mosquitto_loop says why */
	if (getsockopt(p.fd, SOL_SOCKET, SO_ERROR, &o->err, &len) == 0 &&
	    o->err != 0)
		return true;
	o->err = 0;
	if (poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP))) {
		o->err = -1;
		return true;
	}
	return false;
}

/*
 * The CONNECT's properties into the session, and nothing more.  libmosquitto
 * (2.0) keeps them for every connect of the session, but takes them only
 * in mosquitto_connect_bind_v5, which then connects blocking: connect(2)
 * waits for as long as the kernel retries a SYN nobody answers (about two
 * minutes), whatever our timeout.  It stores them before it checks the
 * keepalive, so with one it refuses (below 5 s) it returns at once, and the
 * asynchronous connect that follows (and each reconnect) sends them.
 */
static int
connect_props(struct broker *b, const char *client_id)
{
	mosquitto_property *props = NULL;
	int rc;

	mosquitto_property_add_int32(&props, MQTT_PROP_MAXIMUM_PACKET_SIZE,
	    b->packet_max != 0 ? b->packet_max : KK_FRAME_AUTHED_MAX + 4096);
	if (client_id != NULL)
		mosquitto_property_add_int32(&props,
		    MQTT_PROP_SESSION_EXPIRY_INTERVAL, BROKER_SESSION);
	rc = mosquitto_connect_bind_v5(b->mosq, b->host, b->port, 1, NULL,
	    props);
	mosquitto_property_free_all(&props);
	return rc == MOSQ_ERR_INVAL ? MOSQ_ERR_SUCCESS :
	    rc == MOSQ_ERR_SUCCESS ? MOSQ_ERR_NOT_SUPPORTED : rc;
}

int
broker_start(struct broker *b, const char *url, const char *ca,
    const char *cert, const char *key, const char *client_id, char *err,
    size_t errlen)
{
	SSL_CTX *ctx = NULL;
	int rc, ret = EX_USAGE;

	b->mosq = NULL;
	b->connected = false;
	b->refused = 0;
	b->subacks = 0;
	if (parse_url(b, url) < 0) {
		snprintf(err, errlen, "--broker %.100s: not mqtts://ADDR:PORT "
		    "with ADDR an IP literal", url);
		goto out;
	}
	if (b->tls && (ca == NULL || cert == NULL || key == NULL)) {
		snprintf(err, errlen, "--broker mqtts:// needs --ca, --cert "
		    "and --key");
		goto out;
	}
	ret = EX_FAILED;
	mosquitto_lib_init();
	/* with an id of its own, the broker keeps what comes meanwhile */
	if ((b->mosq = mosquitto_new(client_id, client_id == NULL,
	    b)) == NULL) {
		snprintf(err, errlen, "mosquitto_new: %s", strerror(errno));
		goto out;
	}
	mosquitto_int_option(b->mosq, MOSQ_OPT_PROTOCOL_VERSION,
	    MQTT_PROTOCOL_V5);
	mosquitto_int_option(b->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	if (b->tls) {
		if ((ctx = broker_ctx(b, ca, cert, key, err, errlen)) == NULL)
			goto out;
		/* our context and checks, not the library's defaults */
		mosquitto_int_option(b->mosq, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
		mosquitto_void_option(b->mosq, MOSQ_OPT_SSL_CTX, ctx);
	}
	mosquitto_connect_v5_callback_set(b->mosq, on_connect);
	mosquitto_subscribe_v5_callback_set(b->mosq, on_subscribe);
	mosquitto_message_v5_callback_set(b->mosq, on_message);
	mosquitto_disconnect_v5_callback_set(b->mosq, on_disconnect);
	if ((rc = connect_props(b, client_id)) != MOSQ_ERR_SUCCESS) {
		snprintf(err, errlen, "broker %s:%u: the CONNECT's properties: "
		    "%s", b->host, b->port, mosquitto_strerror(rc));
		goto out;
	}
	/* the TCP connect under way (or failed already), never waited for */
	rc = mosquitto_connect_bind_async(b->mosq, b->host, b->port, KEEPALIVE,
	    NULL);
	ret = EX_UNREACHABLE;
	if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_CONN_PENDING) {
		snprintf(err, errlen, "broker %s:%u: %s", b->host, b->port,
		    rc == MOSQ_ERR_ERRNO ? strerror(errno) :
		    mosquitto_strerror(rc));
		goto out;
	}
	ret = EX_DONE;
out:
	SSL_CTX_free(ctx);	/* the session holds its own reference */
	return ret;
}

int
broker_open(struct broker *b, const char *url, const char *ca,
    const char *cert, const char *key, const char *client_id, int timeout_ms,
    char *err, size_t errlen)
{
	uint64_t deadline = kk_now_ms() + (uint64_t)timeout_ms;
	struct opening o = { .b = b };
	int ret;

	ret = broker_start(b, url, ca, cert, key, client_id, err, errlen);
	if (ret != EX_DONE)
		return ret;
	/* TCP, TLS and CONNACK, all within the deadline */
	ret = pump(b, deadline, settled, &o);
	if (b->connected)
		return EX_DONE;
	if (b->refused)
		snprintf(err, errlen, "broker %s:%u: %s", b->host, b->port,
		    mosquitto_reason_string(b->refused));
	else if (o.err > 0)
		snprintf(err, errlen, "broker %s:%u: %s", b->host, b->port,
		    strerror(o.err));
	else if (o.err < 0)
		snprintf(err, errlen, "broker %s:%u: the connection was refused "
		    "or closed", b->host, b->port);
	else if (ret != EX_DONE)
		snprintf(err, errlen, "broker %s:%u: the connection failed "
		    "(network or TLS)", b->host, b->port);
	else
		snprintf(err, errlen, "broker %s:%u: no answer in %d ms",
		    b->host, b->port, timeout_ms);
	return b->refused ? EX_FAILED : EX_UNREACHABLE;
}

static bool
subscribed(void *arg)
{
	struct broker *b = arg;

	return b->subacks == 0 || !b->connected;
}

int
broker_subscribe(struct broker *b, char *const *topics, int n,
    uint64_t deadline, char *err, size_t errlen)
{
	int rc;

	b->subacks = 1;
	rc = mosquitto_subscribe_multiple(b->mosq, NULL, n, topics, 1,
	    MQTT_SUB_OPT_SEND_RETAIN_NEVER, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		snprintf(err, errlen, "subscribe: %s", mosquitto_strerror(rc));
		return EX_UNREACHABLE;
	}
	if (pump(b, deadline, subscribed, b) != EX_DONE || b->subacks != 0) {
		snprintf(err, errlen, "subscribe: no answer from the broker");
		return EX_UNREACHABLE;
	}
	if (b->refused != 0) {
		snprintf(err, errlen, "subscribe: the broker refused: %s",
		    mosquitto_reason_string(b->refused));
		return EX_FAILED;
	}
	return EX_DONE;
}

int
broker_publish(struct broker *b, const char *topic, const void *body,
    size_t len, uint32_t expiry, char *err, size_t errlen)
{
	mosquitto_property *props = NULL;
	int rc;

	if (expiry > 0)
		mosquitto_property_add_int32(&props,
		    MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, expiry);
	rc = mosquitto_publish_v5(b->mosq, NULL, topic, (int)len, body, 1,
	    false, props);
	mosquitto_property_free_all(&props);
	if (rc != MOSQ_ERR_SUCCESS) {
		snprintf(err, errlen, "publish %s: %s", topic,
		    mosquitto_strerror(rc));
		return EX_FAILED;
	}
	return EX_DONE;
}

int
broker_run(struct broker *b, uint64_t deadline, bool (*done)(void *arg),
    void *arg)
{
	return pump(b, deadline, done, arg);
}

void
broker_close(struct broker *b)
{
	int i;

	if (b->mosq == NULL)
		return;
	if (b->connected) {
		mosquitto_disconnect(b->mosq);
		/* the DISCONNECT out, bounded */
		for (i = 0; i < 10 && mosquitto_want_write(b->mosq); i++)
			mosquitto_loop_write(b->mosq, 1);
	}
	mosquitto_destroy(b->mosq);
	b->mosq = NULL;
	mosquitto_lib_cleanup();
}
