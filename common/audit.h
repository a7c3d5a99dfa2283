/*
 * What the audit timeline's writer (audit.c) and its tail reader
 * (audit_tail.c) share.  Not for callers: they use kakuri.h.
 */
#ifndef KK_AUDIT_H
#define KK_AUDIT_H

#include <stddef.h>

#include "kakuri.h"

/*
 * Bytes of a line read to parse its seq and prev: a line of an older
 * version may be 16 KiB.
 */
#define FIRST_LINE_READ	(20 * 1024)

/* PATH.n in buf: 0 or -ENAMETOOLONG. */
int kk_audit_rotated_name(const char *path, unsigned n, char *buf,
    size_t len);
/* The hash the next line carries as prev: of the last line, or genesis. */
void kk_audit_head(const struct kk_audit *a, char out[65]);

#endif /* KK_AUDIT_H */
