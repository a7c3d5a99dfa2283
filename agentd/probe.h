/*
 * Reachability probes from inside the endpoint (probe.c): a TCP connect
 * in kakurid's event loop, never waited for, and a datagram sent at once.
 * What a result means is the caller's to say (drills: drill.c).
 */
#ifndef KD_PROBE_H
#define KD_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "kakuri.h"

/* What a connect came to. */
enum kd_probe_outcome {
	KD_PROBE_ANSWERED,	/* connected, refused, an ICMP error: packets flowed */
	KD_PROBE_DROPPED,	/* EPERM on the way out: nothing left the host */
	KD_PROBE_NOROUTE,	/* no route: nothing left the host either */
	KD_PROBE_TIMEOUT,	/* no answer in time */
	KD_PROBE_ERROR,		/* no socket */
};

/* The file system ids a probe's socket is made with (NULL: kakurid's own). */
struct kd_probe_ids {
	uid_t uid;
	gid_t gid;
};

struct kd_probe;
/*
 * Called once per probe with its outcome and errno (0 when connected);
 * the probe is freed after it returns.
 */
typedef void (*kd_probe_done_fn)(void *arg, enum kd_probe_outcome o, int err);

/*
 * Connects to ep.  An outcome known at once is given to done before this
 * returns, and NULL is returned; otherwise the probe, which the caller
 * may cancel until done is called.  ids: the socket is made with those
 * file system ids, so rules matching meta skuid/skgid see them.
 */
struct kd_probe *kd_probe_connect(sd_event *ev, const struct kk_endpoint *ep,
    const struct kd_probe_ids *ids, uint64_t timeout_usec,
    kd_probe_done_fn done, void *arg);
/* Ends it without calling done. */
void kd_probe_cancel(struct kd_probe *p);
/* One datagram of len bytes to ep: 0 when it left, else -errno (-EPERM: dropped). */
int kd_probe_datagram(const struct kk_endpoint *ep, const void *buf,
    size_t len);
/* "ADDR:PORT" or "[ADDR]:PORT" */
void kd_endpoint_text(const struct kk_endpoint *ep, char *buf, size_t len);

#endif
