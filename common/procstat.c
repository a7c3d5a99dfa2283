/*
 * /proc/PID/stat and /proc/PID/status, parsed once (procstat.h).
 *
 * stat is strict: what follows the last ')' is " S n n n ...", each n a
 * decimal number (a leading '-' for the signed fields), up to the end of
 * the line.  status is "Key:<blanks>value" a line; a key counts only at
 * the start of a line (the kernel escapes a newline in the Name: line,
 * so a command name cannot start a line of its own).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kakuri.h"
#include "procstat.h"

/* a stat line is some 300 bytes, and the comm at most 64 */
#define PSTAT_READ_MAX	4096

int
kk_pstat_parse(const char *line, struct kk_pstat *ps)
{
	const char *lp = strchr(line, '('), *rp = strrchr(line, ')'), *p;
	unsigned long long v;
	char *end;
	size_t n;
	int k;

	memset(ps, 0, sizeof(*ps));
	if (lp == NULL || rp == NULL || rp < lp || rp[1] != ' ' ||
	    rp[2] == '\0' || rp[2] == ' ' || rp[2] == '\n')
		goto bad;
	n = (size_t)(rp - lp - 1);
	if (n >= sizeof(ps->comm))
		n = sizeof(ps->comm) - 1;
	memcpy(ps->comm, lp + 1, n);
	ps->state = rp[2];
	p = rp + 3;
	for (k = KK_PSTAT_STATE; k < KK_PSTAT_LAST && *p == ' '; k++) {
		p++;
		if (!(*p >= '0' && *p <= '9') && *p != '-')
			goto bad;
		errno = 0;
		if (*p == '-')
			v = (unsigned long long)strtoll(p, &end, 10);
		else
			v = strtoull(p, &end, 10);
		if (end == p || errno != 0)
			goto bad;
		ps->f[k + 1] = v;
		p = end;
	}
	/* a field that does not end where a number does is no number */
	if ((k < KK_PSTAT_LAST && *p != '\n' && *p != '\0') ||
	    k < KK_PSTAT_START)
		goto bad;
	ps->last = k;
	return 0;
bad:
	/* nothing half read is left for a caller that looks anyway */
	memset(ps, 0, sizeof(*ps));
	return -EBADMSG;
}

/*
 * /proc/PID/NAME, or /proc/PID/task/TID/NAME when tid > 0, or
 * /proc/self/NAME for KK_PROC_SELF (no pid: 0 and negative numbers name
 * no process, whatever a caller was handed), into buf as a string: its
 * length, -ESRCH for a process (or thread) that is gone, or another
 * -errno.
 */
static ssize_t
proc_file_read(pid_t pid, pid_t tid, const char *name, char *buf,
    size_t len)
{
	char path[80];
	ssize_t n;
	int fd;

	buf[0] = '\0';
	if (pid == KK_PROC_SELF)
		snprintf(path, sizeof(path), "/proc/self/%s", name);
	else if (pid <= 0 || tid < 0)
		return -ESRCH;
	else if (tid > 0)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/%s", (int)pid,
		    (int)tid, name);
	else
		snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = kk_read_upto(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return n == -ENOENT ? -ESRCH : n;
	if (n == 0)
		return -ESRCH;	/* gone between the open and the read */
	buf[n] = '\0';
	return n;
}

int
kk_pstat_read(pid_t pid, pid_t tid, struct kk_pstat *ps)
{
	char buf[PSTAT_READ_MAX];
	ssize_t n;

	memset(ps, 0, sizeof(*ps));
	if ((n = proc_file_read(pid, tid, "stat", buf, sizeof(buf))) < 0)
		return (int)n;
	return kk_pstat_parse(buf, ps);
}

const char *
kk_status_field(const char *text, const char *key)
{
	size_t kl = strlen(key);
	const char *p = text;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, key, kl) == 0 && p[kl] == ':')
			return p + kl + 1 + strspn(p + kl + 1, " \t");
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return NULL;
}

int
kk_status_num(const char *text, const char *key, unsigned int idx,
    unsigned long long *out)
{
	const char *p = kk_status_field(text, key);
	unsigned long long v = 0;
	char *end;

	*out = 0;
	if (p == NULL)
		return -ENOENT;
	for (;;) {
		/* a sign, or a blank strtoull would skip, is no number here */
		if (!(*p >= '0' && *p <= '9'))
			return -EBADMSG;
		errno = 0;
		v = strtoull(p, &end, 10);
		if (errno != 0 || (*end != ' ' && *end != '\t' &&
		    *end != '\n' && *end != '\0'))
			return -EBADMSG;
		if (idx-- == 0)
			break;
		p = end + strspn(end, " \t");
	}
	*out = v;
	return 0;
}

ssize_t
kk_status_read(pid_t pid, pid_t tid, char *buf, size_t len)
{
	if (len < 2)
		return -EINVAL;
	return proc_file_read(pid, tid, "status", buf, len);
}
