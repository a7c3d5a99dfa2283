/*
 * The outbox verb (kakurictl outbox): what waits for delivery to the
 * CSIRT collector, oldest first, and why it waits.  The outbox holds the
 * employees' reports, so root and the staff group only (dispatch.c).
 * Reading it checks the messages it shows, the oldest LIST_MAX
 * (kd_outbox_check): a corrupt one is moved aside and reported on the
 * way; the others are counted from their names and said to be unchecked,
 * so that a full outbox does not hold the event loop up for seconds.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "act.h"
#include "courier.h"
#include "daemon.h"
#include "outbox.h"
#include "run.h"
#include "wire.h"

/* messages in one answer (about 200 bytes each, far below KK_FRAME_MAX) */
#define LIST_MAX	1000

struct row {
	unsigned long long seq;
	char id[KK_EPISODE_HEX + 1];
	char name[KD_OUTBOX_NAME_MAX];
	char type[16];
	char time[40];
	uint64_t size;
	bool is_signed;
};

struct rows {
	struct row *v;
	size_t n, cap;
	bool nomem;
};

static void
collect(void *arg, const struct kd_outbox_entry *e)
{
	struct rows *rs = arg;
	struct row *v;
	size_t cap;

	if (rs->n == rs->cap) {
		cap = rs->cap ? rs->cap * 2 : 64;
		if ((v = reallocarray(rs->v, cap, sizeof(*v))) == NULL) {
			rs->nomem = true;
			return;
		}
		rs->v = v;
		rs->cap = cap;
	}
	v = &rs->v[rs->n++];
	memset(v, 0, sizeof(*v));
	v->seq = e->seq;
	memcpy(v->id, e->id, sizeof(v->id));
	memcpy(v->name, e->name, sizeof(v->name));
	snprintf(v->type, sizeof(v->type), "%s", e->type ? e->type : "");
	snprintf(v->time, sizeof(v->time), "%s", e->time ? e->time : "");
	v->size = e->size;
	v->is_signed = e->is_signed;
}

static int
by_seq(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int
kd_act_outbox(struct run *r)
{
	struct kd *d = r->d;
	struct rows rs = { NULL, 0, 0, false };
	struct kd_outbox_scan sc = { 0, LIST_MAX, 0, 0, 0 };
	const char *waiting;
	json_t *o, *msgs;
	size_t i;
	int err;

	if (!kd_act_read_ok(r, "outbox"))
		return -EBUSY;
	if ((err = kd_outbox_check(d, &sc, collect, &rs)) < 0 || rs.nomem) {
		free(rs.v);
		kd_run_fail(r, KE_IO, "cannot read the outbox %s: %s",
		    d->outbox_dir, strerror(err < 0 ? -err : ENOMEM));
		return err < 0 ? err : -ENOMEM;
	}
	if (rs.n > 0)
		qsort(rs.v, rs.n, sizeof(*rs.v), by_seq);
	waiting = kd_courier_state(d);
	msgs = json_array();
	for (i = 0; msgs != NULL && i < rs.n; i++)
		json_array_append_new(msgs, json_pack(
		    "{s:s, s:I, s:s, s:s, s:I, s:b, s:s}",
		    KW_ID, rs.v[i].id, KW_SEQ, (json_int_t)rs.v[i].seq,
		    KW_TYPE, rs.v[i].type, KW_TIME, rs.v[i].time,
		    KW_SIZE, (json_int_t)rs.v[i].size,
		    KW_SIGNED, rs.v[i].is_signed, KW_FILE, rs.v[i].name));
	o = json_pack("{s:b, s:I, s:I, s:I, s:I, s:s, s:s, s:o*, s:o*, s:I}",
	    KW_OK, 1, KW_COUNT, (json_int_t)d->outbox.count,
	    KW_BYTES, (json_int_t)d->outbox.bytes,
	    KW_MAX_BYTES, (json_int_t)d->policy->report_max_mb << 20,
	    KW_PENDING, (json_int_t)d->outbox.pending,
	    KW_COLLECTOR, d->policy->collector, KW_WAITING, waiting,
	    KW_COURIER, kd_courier_json(d),
	    KW_MESSAGES, msgs,
	    KW_TRUNCATED, (json_int_t)sc.unchecked);
	free(rs.v);
	if (o == NULL) {
		kd_run_fail(r, KE_IO, "out of memory");
		return -ENOMEM;
	}
	r->answer = o;
	return 0;
}
