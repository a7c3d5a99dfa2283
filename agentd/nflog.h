/*
 * Who tried (nflog.c): the block lists' NFLOG copies, summed per list,
 * and a "blocked" report per list with hits every
 * blocklists.report_interval seconds.
 */
#ifndef KD_NFLOG_H
#define KD_NFLOG_H

struct kd;

/* Bound to blocklists.log_group in d's event loop (none if log_rate is 0). */
int kd_nflog_start(struct kd *d);
void kd_nflog_stop(struct kd *d);

#endif
