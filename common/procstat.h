/*
 * /proc/PID/stat and /proc/PID/status (proc(5)), read and parsed in one
 * place for every reader (the freezer, the snapshot and its core notes,
 * the collector's process list, the evidence's start-time pins, the lean
 * settle).  The command name sits between the
 * first '(' and the last ')' and may hold spaces, parentheses and
 * newlines; every field after the state is a number, or the line is
 * refused.
 */
#ifndef KK_PROCSTAT_H
#define KK_PROCSTAT_H

#include <sys/types.h>

#include <limits.h>

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

/*
 * The pid that reads the process itself through /proc/self: a pid of its
 * own, so that a 0 or a negative number a caller was handed (the ppid of
 * init, an unset field) names no process rather than kakurid.
 */
#define KK_PROC_SELF	((pid_t)INT_MIN)

/* 0, or -EBADMSG for a line that is not a stat line through field 22. */
int kk_pstat_parse(const char *line, struct kk_pstat *ps);
/*
 * /proc/PID/stat (or /proc/self/stat for KK_PROC_SELF), or
 * /proc/PID/task/TID/stat when tid > 0: 0, -ESRCH for a process (or
 * thread) that is gone or a pid that names none (0, negative), -EBADMSG,
 * or another -errno.
 */
int kk_pstat_read(pid_t pid, pid_t tid, struct kk_pstat *ps);

/*
 * /proc/PID/status (or /proc/self/status for KK_PROC_SELF), or
 * /proc/PID/task/TID/status when tid > 0, into buf
 * (len bytes, a string, what does not fit cut): its length, -ESRCH for a
 * process (or thread) that is gone, or another -errno.  The file is some
 * 1.5 KiB, but "Groups:" lists every supplementary group (up to 65536):
 * what stands after it (Threads:, the signal masks, Seccomp) may be cut
 * off.  The keys before it (State, Tgid, Pid, PPid, TracerPid, Uid, Gid)
 * fit in 1 KiB.  The thread count is in stat as well.
 */
ssize_t kk_status_read(pid_t pid, pid_t tid, char *buf, size_t len);
/* The value of "Key:" in a status text, past its blanks, or NULL. */
const char *kk_status_field(const char *text, const char *key);
/*
 * The number at idx (0 first) of "Key:": Uid and Gid list the real,
 * effective, saved and filesystem ids.  0; -ENOENT without the key;
 * -EBADMSG when there is no such number or it is not one (a sign, a
 * letter, an overflow).  *out is 0 unless 0 is returned.
 */
int kk_status_num(const char *text, const char *key, unsigned int idx,
    unsigned long long *out);

#endif
