/*
 * What one agent may store at the collector in an hour (colquota.c).
 */
#ifndef KK_COLQUOTA_H
#define KK_COLQUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --agent-quota: MiB an agent may store an hour (and at once) */
#define COLQ_DEFAULT_MIB	64
#define COLQ_MAX_MIB		(1024 * 1024)
/* what a report costs at least: its file's block, its inode, its line */
#define COLQ_REPORT_MIN		4096
#define COLQ_WINDOW_USEC	(3600ULL * 1000000ULL)
/* agents that stored within the last hour, the most remembered */
#define COLQ_MAX_AGENTS		(128 * 1024)

struct col_quota;

/* NULL without memory. */
struct col_quota *col_quota_new(uint64_t bytes_per_hour);
void col_quota_free(struct col_quota *q);
/*
 * Whether agent (64 hex digits) may store len bytes more at now
 * (CLOCK_MONOTONIC usec): 0; -EDQUOT if its hour's quota is spent
 * (*wait_usec: until it may; *first: the first refusal in an hour, worth
 * a line), -EUSERS if too many other agents stored within
 * the hour to remember one more, -ENOMEM, or -EINVAL for a malformed
 * agent id.
 */
int col_quota_check(struct col_quota *q, const char *agent, size_t len,
    uint64_t now, uint64_t *wait_usec, bool *first);
/*
 * Charges agent for len bytes stored at now (after col_quota_check said
 * 0): 0, or as col_quota_check.
 */
int col_quota_charge(struct col_quota *q, const char *agent, size_t len,
    uint64_t now);
/* How many agents it remembers now (tests). */
size_t col_quota_agents(const struct col_quota *q);

/*
 * Reports stored but not yet on disk (a sync failed since), each waiting
 * for its announcement: at most COLQ_UNSYNCED_MAX, at most
 * COLQ_UNSYNCED_PER_AGENT of one agent (a courier's batch, 64, fits), and
 * the last COLQ_UNSYNCED_RESERVE places only for an agent's first.
 */
#define COLQ_UNSYNCED_MAX	1024
#define COLQ_UNSYNCED_PER_AGENT	(COLQ_UNSYNCED_MAX / 8)
#define COLQ_UNSYNCED_RESERVE	(COLQ_UNSYNCED_MAX / 8)
/*
 * Whether one more report of an agent that has mine of the total waiting
 * may be stored (if not, it is refused before a byte of it is stored).
 */
bool col_unsynced_admit(size_t total, size_t mine);

#endif
