/*
 * kakurictl's side of the fleet broker (DESIGN 9, broker.c): one MQTT 5
 * session over TLS (or, for a lab broker, plain TCP when the URL says
 * mqtt://), driven by libmosquitto in this thread, for send --broker and
 * collector --broker.  The broker is checked like any TLS server: its
 * chain against --ca and its certificate against the address in the URL.
 */
#ifndef KAKURICTL_BROKER_H
#define KAKURICTL_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl.h"

struct mosquitto;
struct mosquitto_message;

struct broker {
	struct mosquitto *mosq;
	char host[64];
	uint16_t port;
	bool tls;
	bool connected;		/* CONNACK success */
	bool resumed;		/* ... the broker had kept our session */
	int refused;		/* CONNACK's reason code, when not 0 */
	unsigned subacks;	/* SUBACKs still to come */
	/* each message of the subscriptions */
	void (*message)(void *arg, const struct mosquitto_message *m);
	void *arg;
	/* while message runs: the message's content type, or NULL */
	char *content_type;
	/*
	 * The largest packet the broker may send us (MQTT 5's Maximum
	 * Packet Size, set before broker_start); 0: a frame's and room
	 * for the headers.
	 */
	uint32_t packet_max;
};

/*
 * The session set up and its connect begun, never waited for (the TCP
 * connect, TLS and CONNACK come through mosquitto_loop, or the caller's
 * event loop): EX_DONE, or EX_USAGE / EX_UNREACHABLE / EX_FAILED with
 * the reason in err.  Arguments as broker_open's.
 */
int broker_start(struct broker *b, const char *url, const char *ca,
    const char *cert, const char *key, const char *client_id, char *err,
    size_t errlen);
/*
 * url "mqtts://ADDR:PORT" (or "mqtt://ADDR:PORT", no TLS: a lab broker)
 * connected with the client certificate cert/key, the broker checked
 * against ca; client_id NULL: a fresh one, clean session; else that id
 * and a session the broker keeps for a week.  Connected (CONNACK)
 * within timeout_ms whatever the network does: EX_DONE, or EX_USAGE /
 * EX_UNREACHABLE / EX_FAILED with the reason in err.
 */
int broker_open(struct broker *b, const char *url, const char *ca,
    const char *cert, const char *key, const char *client_id, int timeout_ms,
    char *err, size_t errlen);
/*
 * Subscribes (QoS 1) and waits for the SUBACKs until deadline
 * (CLOCK_MONOTONIC ms): EX_DONE, EX_UNREACHABLE, or EX_FAILED when the
 * broker refused.
 */
int broker_subscribe(struct broker *b, char *const *topics, int n,
    uint64_t deadline, char *err, size_t errlen);
/*
 * Publishes (QoS 1), expiring at the broker after expiry seconds (0:
 * never): EX_DONE or EX_FAILED.
 */
int broker_publish(struct broker *b, const char *topic, const void *body,
    size_t len, uint32_t expiry, char *err, size_t errlen);
/*
 * Runs the session until deadline (CLOCK_MONOTONIC ms) or until done(arg)
 * says so: EX_DONE, or EX_UNREACHABLE when the connection is lost.
 */
int broker_run(struct broker *b, uint64_t deadline, bool (*done)(void *arg),
    void *arg);
void broker_close(struct broker *b);

#endif
