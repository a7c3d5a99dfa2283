/*
 * What the snapshot reads of /proc/PID (whole files, fields of stat and
 * status), its clock, and its one error line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "snapshot.h"

void
snap_set_err(struct snap *sn, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sn->errlen == 0 || sn->err[0] != '\0')
		return;
	n = snprintf(sn->err, sn->errlen, "pid %d: ", (int)sn->pid);
	if (n < 0 || (size_t)n >= sn->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(sn->err + n, sn->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

uint64_t
snap_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Is /proc/PID/name about the process's memory (gone with a leader that
 * exited, so read through sn->mmdir)?  status and stat stay the leader's:
 * they name the process (its pid, its name), a thread's would not.
 */
static bool
snap_mm_file(const char *name)
{
	static const char *const mm_files[] = {
		"maps", "smaps", "cmdline", "environ", "auxv",
	};

	return kk_name_find(mm_files, sizeof(mm_files) / sizeof(mm_files[0]),
	    name) >= 0;
}

int
snap_read_pidfile_head(const struct snap *sn, const char *name, size_t max,
    char **out, size_t *outlen, bool *cut)
{
	char path[96];
	int err;

	if (sn->mmdir[0] != '\0' && snap_mm_file(name))
		snprintf(path, sizeof(path), "%s/%s", sn->mmdir, name);
	else
		snprintf(path, sizeof(path), "/proc/%d/%s", (int)sn->pid, name);
	err = cut != NULL ? kk_read_text_head(path, max, out, outlen, cut) :
	    kk_read_text(path, max, out, outlen);
	return err == -ENOENT ? -ESRCH : err;
}

int
snap_read_pidfile(const struct snap *sn, const char *name, size_t max,
    char **out, size_t *outlen)
{
	return snap_read_pidfile_head(sn, name, max, out, outlen, NULL);
}

