/*
 * /proc/PID/stat (proc(5)), read and parsed in one place for every reader
 * (the freezer, the snapshot's core notes, the collector's process list,
 * the evidence's start-time pins).  The command name sits between the
 * first '(' and the last ')' and may hold spaces, parentheses and
 * newlines; every field after the state is a number, or the line is
 * refused.
 */
#ifndef KK_PROCSTAT_H
#define KK_PROCSTAT_H

#include <sys/types.h>

/* field numbers as proc(5) counts them (pid is 1, comm 2) */
enum {
	KK_PSTAT_STATE = 3,
	KK_PSTAT_PPID = 4,
	KK_PSTAT_PGRP = 5,
	KK_PSTAT_SESSION = 6,
	KK_PSTAT_FLAGS = 9,
	KK_PSTAT_UTIME = 14,
	KK_PSTAT_STIME = 15,
	KK_PSTAT_CUTIME = 16,
	KK_PSTAT_CSTIME = 17,
	KK_PSTAT_NICE = 19,
	KK_PSTAT_THREADS = 20,
	KK_PSTAT_START = 22,		/* the fewest fields a line may have */
	KK_PSTAT_ARG_START = 48,	/* Linux 3.5 and later */
	KK_PSTAT_ARG_END = 49,
	KK_PSTAT_ENV_END = 51,
	KK_PSTAT_LAST = 52,		/* exit_code; fields after it are passed over */
};

struct kk_pstat {
	char comm[64];		/* cut to fit */
	char state;
	int last;		/* the line's last field: 44 before Linux 3.5 */
	/* f[k] is field k; a negative one (tpgid, nice) as its two's complement */
	unsigned long long f[KK_PSTAT_LAST + 1];
};

/* 0, or -EBADMSG for a line that is not a stat line through field 22. */
int kk_pstat_parse(const char *line, struct kk_pstat *ps);
/*
 * /proc/PID/stat, or /proc/PID/task/TID/stat when tid > 0: 0, -ESRCH for a
 * process (or thread) that is gone, -EBADMSG, or another -errno.
 */
int kk_pstat_read(pid_t pid, pid_t tid, struct kk_pstat *ps);

#endif
