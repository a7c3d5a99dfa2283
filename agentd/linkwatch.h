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
/*
 * A device of a kind whose siblings bypass the inet hooks (macvlan,
 * macvtap, ipvlan, ipvtap; openvswitch) is covered by the netdev table:
 * kd_netdev_covers, and the device it is stacked on is one of this
 * namespace's that the table hooks (an Open vSwitch datapath's ports
 * are this namespace's devices).
 */
struct kk_link;
bool kd_stacked_covered(const struct kd *d, const struct kk_link *k);

#endif
