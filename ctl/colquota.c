/*
 * What one agent may store at the collector in an hour.
 *
 * An agent's identity key lives on its PC; the PC a CSIRT isolates is the
 * one whose root may be the attacker's.  With that key, malware can sign
 * as many valid reports as it likes and send them over the management
 * channel, which stays open while the host is isolated, to the one
 * collector that every other agent's reports go to: without a limit it
 * fills the CSIRT's disk, and every other employee's self-report and
 * every evidence report after that is refused.  So each agent has a
 * token bucket of bytes: --agent-quota MiB an hour, as much at once (a
 * host back after days away delivers a full outbox of the default
 * report.max_mb in one go).  A report costs its size, at least
 * COLQ_REPORT_MIN (its file's block, its inode, its index line), at most
 * the whole bucket (a report larger than the quota still gets in, alone).
 * A report refused for it stays in the agent's outbox and is sent again
 * later: delayed, never lost.
 *
 * The table remembers only agents whose bucket is not full again: an
 * agent that stored nothing for an hour is as good as one never seen, and
 * is forgotten when room is needed.  Open addressing on the agent id's
 * raw bytes (a SHA-256: spread already); at most COLQ_MAX_AGENTS at once.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "colquota.h"

#define COLQ_FIRST_SLOTS	1024

struct colq_entry {
	uint8_t id[32];
	bool used;
	uint64_t said;		/* when a refusal was worth a line, or 0 */
	uint64_t tokens;	/* bytes it may store, at last */
	uint64_t last;
};

struct col_quota {
	uint64_t cap;			/* bytes an hour, and at once */
	struct colq_entry *slots;
	size_t nslots;			/* a power of two */
	size_t n;
};

struct col_quota *
col_quota_new(uint64_t bytes_per_hour)
{
	struct col_quota *q;

	if (bytes_per_hour == 0 || (q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	q->cap = bytes_per_hour;
	q->nslots = COLQ_FIRST_SLOTS;
	if ((q->slots = calloc(q->nslots, sizeof(*q->slots))) == NULL) {
		free(q);
		return NULL;
	}
	return q;
}

void
col_quota_free(struct col_quota *q)
{
	if (q == NULL)
		return;
	free(q->slots);
	free(q);
}

size_t
col_quota_agents(const struct col_quota *q)
{
	return q->n;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The 32 bytes of a 64-hex-digit agent id (lower case, as kk_key_id). */
static int
parse_id(const char *agent, uint8_t id[32])
{
	int hi, lo;
	size_t i;

	if (agent == NULL || strlen(agent) != 64)
		return -EINVAL;
	for (i = 0; i < 32; i++) {
		if ((hi = hexval(agent[2 * i])) < 0 ||
		    (lo = hexval(agent[2 * i + 1])) < 0)
			return -EINVAL;
		id[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* What e may store at now: refilled at cap an hour, never above cap. */
static uint64_t
tokens_at(const struct col_quota *q, const struct colq_entry *e,
    uint64_t now)
{
	unsigned __int128 more;
	uint64_t since = now > e->last ? now - e->last : 0;

	if (since >= COLQ_WINDOW_USEC)
		return q->cap;
	more = (unsigned __int128)since * q->cap / COLQ_WINDOW_USEC;
	return more >= q->cap - e->tokens ? q->cap : e->tokens +
	    (uint64_t)more;
}

static size_t
slot_of(const struct col_quota *q, const uint8_t id[32])
{
	uint64_t h;

	memcpy(&h, id, sizeof(h));
	return (size_t)h & (q->nslots - 1);
}

static struct colq_entry *
find(const struct col_quota *q, const uint8_t id[32])
{
	size_t i = slot_of(q, id), k;

	for (k = 0; k < q->nslots; k++, i = (i + 1) & (q->nslots - 1)) {
		if (!q->slots[i].used)
			return NULL;
		if (memcmp(q->slots[i].id, id, 32) == 0)
			return &q->slots[i];
	}
	return NULL;
}

static struct colq_entry *
place(struct col_quota *q, const uint8_t id[32])
{
	size_t i = slot_of(q, id);

	while (q->slots[i].used)
		i = (i + 1) & (q->nslots - 1);
	memcpy(q->slots[i].id, id, 32);
	q->slots[i].used = true;
	q->n++;
	return &q->slots[i];
}

/*
 * Room for one more: the agents whose bucket is full again are
 * forgotten, and the table grows if it is still half full.  0, -EUSERS
 * or -ENOMEM.
 */
static int
make_room(struct col_quota *q, uint64_t now)
{
	struct colq_entry *old = q->slots, *e;
	size_t oldn = q->nslots, nslots = q->nslots, keep = 0, i;

	if (2 * (q->n + 1) <= q->nslots)
		return 0;
	for (i = 0; i < oldn; i++)
		if (old[i].used && tokens_at(q, &old[i], now) < q->cap)
			keep++;
	if (keep >= COLQ_MAX_AGENTS)
		return -EUSERS;
	while (2 * (keep + 1) > nslots)
		nslots *= 2;
	if ((q->slots = calloc(nslots, sizeof(*q->slots))) == NULL) {
		q->slots = old;
		return -ENOMEM;
	}
	q->nslots = nslots;
	q->n = 0;
	for (i = 0; i < oldn; i++)
		if (old[i].used && tokens_at(q, &old[i], now) < q->cap) {
			e = place(q, old[i].id);
			e->tokens = old[i].tokens;
			e->last = old[i].last;
			e->said = old[i].said;
		}
	free(old);
	return 0;
}

static uint64_t
cost_of(const struct col_quota *q, size_t len)
{
	uint64_t c = len < COLQ_REPORT_MIN ? COLQ_REPORT_MIN : len;

	return c > q->cap ? q->cap : c;
}

int
col_quota_check(struct col_quota *q, const char *agent, size_t len,
    uint64_t now, uint64_t *wait_usec, bool *first)
{
	struct colq_entry *e;
	uint64_t have, cost = cost_of(q, len);
	uint8_t id[32];

	*wait_usec = 0;
	*first = false;
	if (parse_id(agent, id) < 0)
		return -EINVAL;
	/* one not remembered: there is room to remember it when it stores */
	if ((e = find(q, id)) == NULL)
		return make_room(q, now);
	if ((have = tokens_at(q, e, now)) >= cost)
		return 0;
	*wait_usec = (uint64_t)(((unsigned __int128)(cost - have) *
	    COLQ_WINDOW_USEC + q->cap - 1) / q->cap);
	/* a line an hour at most, however it alternates */
	*first = e->said == 0 || now - e->said >= COLQ_WINDOW_USEC;
	if (*first)
		e->said = now ? now : 1;
	return -EDQUOT;
}

int
col_quota_charge(struct col_quota *q, const char *agent, size_t len,
    uint64_t now)
{
	struct colq_entry *e;
	uint64_t have, cost = cost_of(q, len);
	uint8_t id[32];
	int r;

	if (parse_id(agent, id) < 0)
		return -EINVAL;
	if ((e = find(q, id)) == NULL) {
		if ((r = make_room(q, now)) < 0)
			return r;
		e = place(q, id);
		e->tokens = q->cap;
		e->last = now;
	}
	have = tokens_at(q, e, now);
	e->tokens = have > cost ? have - cost : 0;
	e->last = now > e->last ? now : e->last;
	return 0;
}

/*
 * While the disk does not sync, what is stored waits for its
 * announcement (its stdout line, --exec) in a bounded list; a report
 * stored when it is full is never announced, for its resend finds it
 * stored.  One agent's keys (an infected PC's root) could take every
 * place and keep every other agent's self-report from its ticket: each
 * agent has a share, and a reserve is kept for agents with none
 * waiting, so that seven agents at their share still leave room for
 * others' first reports.
 */
bool
col_unsynced_admit(size_t total, size_t mine)
{
	if (total >= COLQ_UNSYNCED_MAX)
		return false;
	if (mine == 0)
		return true;
	return mine < COLQ_UNSYNCED_PER_AGENT &&
	    total < COLQ_UNSYNCED_MAX - COLQ_UNSYNCED_RESERVE;
}
