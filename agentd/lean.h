/*
 * An idle kakurid holds only what it uses (lean.c): once quiet after
 * work, free heap goes back to the kernel and the clean pages of code and
 * read-only data it touched are unmapped (they stay in the page cache).
 */
#ifndef KD_LEAN_H
#define KD_LEAN_H

struct kd;

/* The post source and the quiet timer on d->ev; 0 or a negative errno. */
int kd_lean_start(struct kd *d);
void kd_lean_stop(void);
/* Settle now: malloc_trim, then the clean file pages (one thread only). */
void kd_lean_settle(void);
/*
 * A periodic check: kd_lean_faults() before it, kd_lean_idle_work() with
 * that after it; the pages it faulted in do not make a settle.
 */
long kd_lean_faults(void);
void kd_lean_idle_work(long before);

#endif
