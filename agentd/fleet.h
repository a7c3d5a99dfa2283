/*
 * The fleet transport (DESIGN 9): kakurid dials out to an MQTT broker,
 * for the hosts the CSIRT cannot connect to (NAT, home office) and for
 * commands to a whole group at once.  The broker is an untrusted relay:
 * the envelopes it carries are verified by the root parent through the
 * one dispatcher, like those of every other origin.
 *
 * The fleet child (fleet_child.c, kakurid --fleet-child) is a row of the
 * children table like the network child: agent.user, no capabilities,
 * seccomp, no identity key.  It keeps one MQTT 5 session (libmosquitto,
 * TLS with agent.tls_key and fleet.cert, QoS 1, a persistent session),
 * subscribes to its agent's and its groups' cmd topics, hands every
 * message to the parent (KK_IPC_ENVELOPE) and publishes what the parent
 * answers (KK_IPC_REPLY: an out document, common/fleetwire.h) on its out
 * topic.  It reconnects with exponential backoff and jitter.
 */
#ifndef KD_FLEET_H
#define KD_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fleetwire.h"
#include "kakuri.h"
#include "sign.h"

struct kd;

#define KD_FLEET_KEEPALIVE	30		/* seconds, MQTT keep alive */
#define KD_FLEET_SESSION	(7 * 86400)	/* seconds the broker keeps our
						   session (and what it queued) */
#define KD_FLEET_BACKOFF_MIN_MS	500		/* first reconnect, about */
#define KD_FLEET_BACKOFF_MAX_MS	30000		/* ... doubling up to this */
#define KD_FLEET_STABLE_MS	10000		/* a session this long resets it */
#define KD_FLEET_INFLIGHT	64		/* commands at the parent at once */

/* What the parent tells the child after the TLS material. */
struct kd_fleet_config {
	char host[64];				/* the broker: an IP literal */
	uint16_t port;
	char agent_id[KK_AGENT_ID_HEX + 1];	/* client id and topics */
	uint32_t ngroups;
	char groups[KK_MAX_GROUPS][KK_GROUP_NAME_MAX + 1];
	char identity[KK_FLEET_IDENTITY_MAX];	/* agent.cert, PEM, for out
						   documents */
};

/* The child's state word (KK_IPC_STATE body): "connected" or why not. */
#define KD_FLEET_CONNECTED	"connected"

/*
 * The fleet child's word for the topic a command came on (the header's
 * peer): "mqtt:agent", or this and N, the group's place in fleet.groups
 * (the child is started again at every reload, with the list it reads).
 */
#define KD_FLEET_VIA_GROUP	"mqtt:group#"

struct kk_grouplist;
/* The audit's actor for a command the child says came on topic peer. */
void kd_fleet_via(const struct kk_grouplist *groups, const char *peer,
    char *via, size_t len);

/*
 * The receipts handed to the fleet child, by length and digest (SHA-256
 * of the text), the newest KD_FLEET_SENT_MAX: twice as many as the child
 * keeps while offline, so that one it keeps is still here when asked for
 * unless more than this many came after it.  One the broker will not
 * take comes back to be signed brief (fleet.c): only one of these, and
 * once.  A child taken over gets no signature on a text of its choosing,
 * and no more signatures than receipts it was given; what it sends of
 * no length kept is not even hashed.
 */
#define KD_FLEET_SENT_MAX	512
#define KD_FLEET_PENDING_MAX	256	/* receipts the child keeps offline */

struct kd_fleet_sent {
	struct kd_fleet_sent_one {
		size_t len;		/* 0: a slot free */
		unsigned char sum[32];
	} *one;				/* KD_FLEET_SENT_MAX once one is kept */
	size_t next;
};

/* kept, over the oldest (not kept, without memory) */
void kd_fleet_sent_keep(struct kd_fleet_sent *s, const void *text,
    size_t len);
/* whether text is one kept, forgotten if so */
bool kd_fleet_sent_take(struct kd_fleet_sent *s, const void *text,
    size_t len);
void kd_fleet_sent_clear(struct kd_fleet_sent *s);

int kd_fleet_start(struct kd *d);
int kd_fleet_reload(struct kd *d);
void kd_fleet_stop(struct kd *d);
/* The fleet child, when it is connected to the broker: the courier's
 * transport for reports (courier.c); NULL otherwise. */
struct kd_child *kd_fleet_courier(struct kd *d);
/* For status: {broker, state, packet_max?} or NULL when no broker is
 * configured. */
struct json_t *kd_fleet_json(struct kd *d);
/*
 * The wait before reconnect attempt failures + 1: doubling from
 * KD_FLEET_BACKOFF_MIN_MS up to KD_FLEET_BACKOFF_MAX_MS, and anywhere in
 * the upper half of that by random (jitter: a fleet that lost its broker
 * does not come back in step).
 */
uint64_t kd_fleet_backoff_ms(unsigned failures, uint32_t random);
/* kakurid --fleet-child UID GID PPID: the child's main; never returns. */
void kd_fleet_main(int argc, char **argv) __attribute__((noreturn));

#endif
