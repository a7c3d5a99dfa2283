/*
 * /proc/PID/stat, parsed once (procstat.h).  Strict: what follows the
 * last ')' is " S n n n ...", each n a decimal number (a leading '-' for
 * the signed fields), up to the end of the line.
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

int
kk_pstat_read(pid_t pid, pid_t tid, struct kk_pstat *ps)
{
	char path[64], buf[PSTAT_READ_MAX];
	ssize_t n;
	int fd;

	memset(ps, 0, sizeof(*ps));
	if (tid > 0)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid,
		    (int)tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = kk_read_upto(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return n == -ENOENT ? -ESRCH : (int)n;
	if (n == 0)
		return -ESRCH;	/* gone between the open and the read */
	buf[n] = '\0';
	return kk_pstat_parse(buf, ps);
}
