/*
 * The outbox's self-reports per owner (outbox_self.c): what each user
 * holds of the outbox, so that one user cannot fill it for every other
 * employee.  kakurid's table of them, in struct kd_outbox (daemon.h).
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon.h"
#include "log.h"
#include "outbox.h"
#include "outbox_self.h"
#include "record.h"
#include "subids.h"
#include "wire.h"

/*
 * The self-reports waiting, each with its reporter's owner (subids.h: a
 * user's subordinate uids are the user), sorted by seq: what one user
 * holds of the outbox.  Built as reports are queued, and at start from
 * the messages kd_outbox_check reads; a message gone (delivered, moved
 * aside, deleted) leaves it.  In memory only: at most one entry per
 * message below KD_OUTBOX_MAX_N.
 */
struct kd_outbox_self {
	unsigned long long seq;
	uint64_t size;
	uid_t owner;
	bool seen;	/* by the current check's name pass */
};

/* The index of seq in ob->self, or where it would go (*found false). */
static size_t
self_find(const struct kd_outbox *ob, unsigned long long seq, bool *found)
{
	size_t lo = 0, hi = ob->nself, mid;

	*found = false;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (ob->self[mid].seq == seq) {
			*found = true;
			return mid;
		}
		if (ob->self[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Room for one more entry, made before the message is written. */
int
kd_outbox_self_grow(struct kd_outbox *ob)
{
	struct kd_outbox_self *n;
	size_t cap;

	if (ob->nself < ob->self_cap)
		return 0;
	if (ob->self_cap >= KD_OUTBOX_MAX_N + KD_OUTBOX_RESERVE_N)
		return -ENOSPC;
	cap = ob->self_cap ? ob->self_cap * 2 : 64;
	if ((n = reallocarray(ob->self, cap, sizeof(*n))) == NULL)
		return -ENOMEM;
	ob->self = n;
	ob->self_cap = cap;
	return 0;
}

/* seq's entry set to owner and size (added if new and there is room) */
void
kd_outbox_self_note(struct kd_outbox *ob, unsigned long long seq, uid_t owner,
    uint64_t size)
{
	bool found;
	size_t i = self_find(ob, seq, &found);

	if (!found) {
		if (kd_outbox_self_grow(ob) < 0)
			return;
		memmove(&ob->self[i + 1], &ob->self[i], (ob->nself - i) *
		    sizeof(ob->self[0]));
		ob->nself++;
	}
	ob->self[i] = (struct kd_outbox_self){ seq, size, owner, true };
}

void
kd_outbox_self_drop(struct kd_outbox *ob, unsigned long long seq)
{
	bool found;
	size_t i = self_find(ob, seq, &found);

	if (!found)
		return;
	memmove(&ob->self[i], &ob->self[i + 1], (ob->nself - i - 1) *
	    sizeof(ob->self[0]));
	ob->nself--;
}

void
kd_outbox_self_seen(struct kd_outbox *ob, unsigned long long seq)
{
	bool found;
	size_t i = self_find(ob, seq, &found);

	if (found)
		ob->self[i].seen = true;
}

/* A name pass begins: no entry seen yet. */
void
kd_outbox_self_unsee(struct kd_outbox *ob)
{
	size_t i;

	for (i = 0; i < ob->nself; i++)
		ob->self[i].seen = false;
}

/* The entries whose message a whole name pass did not see, dropped. */
void
kd_outbox_self_prune(struct kd_outbox *ob)
{
	size_t i, n = 0;

	for (i = 0; i < ob->nself; i++)
		if (ob->self[i].seen)
			ob->self[n++] = ob->self[i];
	ob->nself = n;
}

/* What owner's self-reports hold of the outbox. */
static void
self_usage(const struct kd_outbox *ob, uid_t owner, unsigned long *count,
    uint64_t *bytes)
{
	size_t i;

	*count = 0;
	*bytes = 0;
	for (i = 0; i < ob->nself; i++)
		if (ob->self[i].owner == owner) {
			(*count)++;
			*bytes += ob->self[i].size;
		}
}

/*
 * Whose self-report body is: its reporter's owner, false when it names
 * none or root (kakurid writes reporter.uid from SO_PEERCRED; root is
 * held to no share, as to no rate).
 */
bool
kd_outbox_self_owner(json_t *body, uid_t *owner)
{
	json_t *u = json_object_get(json_object_get(body, KW_REPORTER), KW_UID);
	json_int_t v = json_integer_value(u);

	if (!json_is_integer(u) || v <= 0 || v >= (json_int_t)(uid_t)-1)
		return false;
	*owner = kd_uid_owner((uid_t)v);
	return *owner != 0;
}

/*
 * Has owner room for a self-report of len more bytes?  Else ob->err says
 * why.  The outbox's limits are shared by every kind of report, and the
 * rate (tally.c) bounds a user only per ten minutes: while the collector
 * is away, one user's reports would fill the whole outbox in hours and
 * every other employee's self-report would be refused.  So each user
 * holds at most a share (1/KD_OUTBOX_SELF_PART of limit and nmax) -
 * except for his first waiting report, which is never held to the share
 * (one report with attachments may be larger than a share of a small
 * report.max_mb) - and the last such part of the outbox is kept for
 * users' first reports: even with several users' shares full, the next
 * employee's report gets in.
 */
bool
kd_outbox_self_room(struct kd *d, uid_t owner, uint64_t len, uint64_t limit,
    unsigned long nmax)
{
	struct kd_outbox *ob = &d->outbox;
	uint64_t bytes, share = limit / KD_OUTBOX_SELF_PART;
	unsigned long count, nshare = nmax / KD_OUTBOX_SELF_PART;

	self_usage(ob, owner, &count, &bytes);
	if (count == 0)
		return true;
	if (bytes + len <= share && count + 1 <= nshare &&
	    ob->bytes + len <= limit - share && ob->count + 1 <= nmax - nshare)
		return true;
	snprintf(ob->err, sizeof(ob->err), "%lu self-report(s) of this user "
	    "(%llu KiB) wait for the collector already, his share of the "
	    "outbox (report.max_mb %d): self-report refused until the "
	    "collector takes them", count, (unsigned long long)(bytes >> 10),
	    d->policy->report_max_mb);
	kk_log(LOG_ERR, KK_MID_ERROR, "uid %u: %s", (unsigned)owner, ob->err);
	kd_audit(d, "kakurid", "outbox", "refused-share", json_pack(
	    "{s:I, s:I, s:I}", KW_UID, (json_int_t)owner, KW_COUNT,
	    (json_int_t)count, KW_BYTES, (json_int_t)bytes));
	return false;
}

void
kd_outbox_free(struct kd *d)
{
	free(d->outbox.self);
	d->outbox.self = NULL;
	d->outbox.nself = d->outbox.self_cap = 0;
	free(d->outbox.left);
	d->outbox.left = NULL;
	d->outbox.nleft = 0;
}
