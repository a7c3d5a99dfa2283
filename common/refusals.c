/*
 * Refusals for the audit timeline (kk_refusals): anyone on the machine
 * can make kakurid refuse a request, so refusals are counted per uid and
 * interval, the first few of each uid recorded one line each and the rest
 * only counted, and the interval ends in one summary line.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kakuri.h"
#include "wire.h"

#define SUMMARY_UIDS	8		/* uids named in a refusal summary */

void
kk_refusals_init(struct kk_refusals *r)
{
	memset(r, 0, sizeof(*r));
}

bool
kk_refusals_note(struct kk_refusals *r, uid_t uid, const char *reason,
    bool shared)
{
	struct kk_refusal_uid *u = NULL;
	size_t i;

	r->total++;
	for (i = 0; i < r->n && u == NULL; i++)
		if (r->u[i].uid == uid)
			u = &r->u[i];
	if (u == NULL && r->n < KK_REFUSAL_UIDS -
	    (shared ? KK_REFUSAL_UIDS_KEPT : 0)) {
		u = &r->u[r->n++];
		u->uid = uid;
	}
	if (u == NULL) {
		r->other_uids++;
		r->suppressed++;
		return false;
	}
	u->count++;
	for (i = 0; i < KK_REFUSAL_REASONS; i++) {
		if (u->reason[i] == NULL)
			u->reason[i] = reason;
		if (strcmp(u->reason[i], reason) == 0) {
			u->by_reason[i]++;
			break;
		}
	}
	if (u->detailed < KK_REFUSAL_DETAILED &&
	    (!shared || r->detailed < KK_REFUSAL_DETAILED_ALL)) {
		u->detailed++;
		r->detailed += shared;
		return true;
	}
	r->suppressed++;
	return false;
}

static int
by_count(const void *x, const void *y)
{
	const struct kk_refusal_uid *a = x, *b = y;

	return a->count < b->count ? 1 : a->count > b->count ? -1 : 0;
}

json_t *
kk_refusals_summary(struct kk_refusals *r)
{
	struct kk_refusal_uid *u;
	unsigned long more = 0;
	json_t *o = NULL, *uids, *reasons;
	size_t i, j;

	if (r->suppressed == 0)
		goto out;
	qsort(r->u, r->n, sizeof(r->u[0]), by_count);
	if ((uids = json_array()) == NULL)
		goto out;
	for (i = 0; i < r->n; i++) {
		u = &r->u[i];
		if (i >= SUMMARY_UIDS) {
			more += u->count;
			continue;
		}
		reasons = json_object();
		for (j = 0; j < KK_REFUSAL_REASONS && u->reason[j]; j++)
			json_object_set_new(reasons, u->reason[j],
			    json_integer((json_int_t)u->by_reason[j]));
		json_array_append_new(uids, json_pack("{s:I, s:I, s:o}",
		    KW_UID, (json_int_t)u->uid, KW_COUNT, (json_int_t)u->count,
		    KW_REASONS, reasons));
	}
	o = json_pack("{s:I, s:I, s:o}", KW_REFUSED, (json_int_t)r->total,
	    KW_NOT_RECORDED, (json_int_t)r->suppressed, KW_UIDS, uids);
	if (o != NULL && more + r->other_uids > 0)
		json_object_set_new(o, KW_OTHER_UIDS,
		    json_integer((json_int_t)(more + r->other_uids)));
out:
	kk_refusals_init(r);
	return o;
}

uint64_t
kk_refusal_interval_next(uint64_t cur, bool flooded)
{
	if (!flooded || cur < KK_REFUSAL_INTERVAL_USEC)
		return KK_REFUSAL_INTERVAL_USEC;
	return cur >= KK_REFUSAL_INTERVAL_MAX_USEC / 2 ?
	    KK_REFUSAL_INTERVAL_MAX_USEC : 2 * cur;
}
