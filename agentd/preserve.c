/*
 * Small helpers of the evidence actions (preserve.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "log.h"
#include "preserve.h"

int
pv_strf(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

long
pv_ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long)(t.tv_sec - t0->tv_sec) * 1000L +
	    (t.tv_nsec - t0->tv_nsec) / 1000000L;
}

/*
 * The frozen set saved as frozen.json.  A failure is logged, with what
 * it costs (why), and remembered: the next freeze or thaw saves again,
 * even one that changes nothing, and only a save that succeeds lets the
 * caller empty the journal and the moves.
 */
bool
pv_frozen_save(struct kd_preserve *pv, const char *why)
{
	pv->frozen_unsaved = kk_frozen_save(pv->frozen_path, &pv->frozen,
	    &pv->frozen_saved) < 0;
	if (pv->frozen_unsaved)
		kk_log(LOG_ERR, KK_MID_ERROR, "%s: could not be saved%s%s",
		    pv->frozen_path, why ? ": " : "", why ? why : "");
	return !pv->frozen_unsaved;
}
