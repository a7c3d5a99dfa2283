/*
 * Logging for kakurid.  Modules return errors; kakurid logs them here.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include <systemd/sd-journal.h>

#include "log.h"

static int log_foreground;
static int log_verbose;

void
kk_log_init(int foreground, int verbose)
{
	log_foreground = foreground;
	log_verbose = verbose;
}

void
kk_log(int prio, const char *mid, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (prio == LOG_DEBUG && !log_verbose)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sd_journal_send("MESSAGE=%s", msg, "PRIORITY=%d", prio,
	    "MESSAGE_ID=%s", mid, "SYSLOG_IDENTIFIER=kakurid", NULL);
	if (log_foreground) {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		fprintf(stderr, "%02d:%02d:%02d.%03ld kakurid: %s\n", tm.tm_hour,
		    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, msg);
	}
}
