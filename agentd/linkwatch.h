/*
 * The interface watch of the quarantine (linkwatch.c): interfaces that
 * leave the namespace or whose kind the tables cannot cover.
 */
#ifndef KD_LINKWATCH_H
#define KD_LINKWATCH_H

#include <stdbool.h>

struct kd;

void kd_linkwatch_start(struct kd *d);
void kd_linkwatch_stop(struct kd *d);
/* The quarantine ended: its interface alerts are cleared. */
void kd_linkwatch_released(struct kd *d);
/*
 * Isolated, with the netdev table hooking every Ethernet device of the
 * namespace: what devices stacked on them send or receive (a macvlan,
 * macvtap or ipvlan, wherever it is; an Open vSwitch datapath's ports)
 * meets its chains, so such kinds are covered.
 */
bool kd_netdev_covers(const struct kd *d);

#endif
