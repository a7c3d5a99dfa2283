/*
 * The interface watch of the quarantine (linkwatch.c): interfaces that
 * leave the namespace or whose kind the tables cannot cover.
 */
#ifndef KD_LINKWATCH_H
#define KD_LINKWATCH_H

struct kd;

void kd_linkwatch_start(struct kd *d);
void kd_linkwatch_stop(struct kd *d);
/* The quarantine ended: its interface alerts are cleared. */
void kd_linkwatch_released(struct kd *d);

#endif
