/*
 * The log verb: the audit timeline's tail, streamed after the answer by
 * the transport that asked.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "act.h"
#include "daemon.h"
#include "log.h"
#include "run.h"
#include "tally.h"
#include "wire.h"

/*
 * The tail of the audit log: the last "lines" lines (default
 * KK_LOG_DEFAULT_LINES, 0 for all) not older than "since" (seconds since
 * 1970).  The answer announces the bytes and the anchor; the transport
 * sends the lines after it (control.c), read from the end of the log in bounded chunks, so
 * the size of the log does not decide what kakurid holds in memory.
 */
/*
 * Another read of the outbox or the audit log for a local user, in his
 * ten seconds (kd_tally_read_ok)?  If not, r is refused and counted.
 */
bool
kd_act_read_ok(struct run *r, const char *verb)
{
	if (r->origin != KD_ORIGIN_LOCAL || kd_tally_read_ok(r->d, r->uid))
		return true;
	kd_tally_refused(r->d, r->uid, r->pid, r->local_class, verb,
	    KE_RATE_LIMITED, NULL);
	kd_run_reject(r, KE_RATE_LIMITED, "too many outbox and log requests "
	    "from this user; wait a few seconds");
	return false;
}

int
kd_act_log(struct run *r)
{
	struct kd *d = r->d;
	json_t *req = r->args;
	json_t *jn = json_object_get(req, KW_LINES), *js = json_object_get(req,
	    KW_SINCE);
	unsigned long lines = KK_LOG_DEFAULT_LINES, most;
	struct kk_audit_tail *t;
	bool staff;
	time_t since = 0;
	json_t *o;
	int err;

	/*
	 * A "since" past the year 9999 is refused here as malformed, counted
	 * with the uid's other refusals: it reached the audit reader, which
	 * cannot write such a date, and every request put an error line in
	 * the journal, past journald's rate limit for the unit (kakurid's
	 * own alerts dropped with the flood) at anybody's ask.
	 */
	if ((jn != NULL && (!json_is_integer(jn) || json_integer_value(jn) < 0)) ||
	    (js != NULL && (!json_is_integer(js) || json_integer_value(js) < 0 ||
	    json_integer_value(js) > KK_LOG_SINCE_MAX))) {
		if (r->origin == KD_ORIGIN_LOCAL)
			kd_tally_refused(d, r->uid, r->pid, r->local_class,
			    "log", KE_MALFORMED, NULL);
		kd_run_fail(r, KE_MALFORMED, "log takes \"lines\" and "
		    "\"since\" as numbers >= 0 (since before the year 10000)");
		return -EINVAL;
	}
	if (!kd_act_read_ok(r, "log"))
		return -EBUSY;
	if (jn != NULL)
		lines = (unsigned long)json_integer_value(jn);
	staff = r->local_class == KK_PEER_STAFF;
	most = staff ? KK_LOG_STAFF_LINES_MAX : KK_LOG_OTHER_LINES_MAX;
	if (r->origin == KD_ORIGIN_LOCAL && r->local_class != KK_PEER_ROOT &&
	    lines > most) {
		kd_run_reject(r, KE_TOO_LARGE, NULL);
		snprintf(r->detail, sizeof(r->detail), "%s may ask for at most "
		    "%lu lines, or all of them (-n 0)", staff ?
		    "members of staff_group" : "users outside staff_group",
		    most);
		kd_tally_refused(d, r->uid, r->pid, r->local_class, "log",
		    KE_TOO_LARGE, NULL);
		return -E2BIG;
	}
	if (js != NULL)
		since = (time_t)json_integer_value(js);
	if ((t = malloc(sizeof(*t))) == NULL) {
		kd_run_fail(r, KE_IO, "out of memory");
		return -ENOMEM;
	}
	err = kk_audit_tail_open(&d->audit, lines, since, t);
	if (err < 0) {
		free(t);
		kk_log(LOG_ERR, KK_MID_ERROR, "reading %s: %s", d->audit_path,
		    strerror(-err));
		kd_run_fail(r, KE_IO, "cannot read the audit log");
		return err;
	}
	o = json_pack("{s:b, s:I, s:s, s:s, s:s, s:I, s:b}", KW_OK, 1,
	    KW_STREAM, (json_int_t)t->bytes, KW_FIRST_PREV, t->first_prev,
	    KW_ANCHOR, t->anchor, KW_HEAD, t->head,
	    KW_FIRST_LINE, (json_int_t)t->first_seq,
	    KW_TRUNCATED, t->truncated);
	if (o == NULL) {
		kk_audit_tail_close(t);
		free(t);
		kd_run_fail(r, KE_IO, "cannot send the audit log");
		return -ENOMEM;
	}
	r->answer = o;
	r->tail = t;
	return 0;
}
