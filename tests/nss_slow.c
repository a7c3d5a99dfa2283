/*
 * libnss_kkslow.so.2: a test NSS module that plays a directory that is
 * out of reach (t-names).  /etc/kkslow.conf (overlaid in kakurid's own
 * mount namespace, never the machine's) says, one setting a line:
 *	uid UID NAME SECONDS	getpwuid(UID) is NAME, after SECONDS
 *	log PATH		every getpwuid call logged to PATH (a
 *				file, or a datagram socket: linesink), and
 *				the answer of a uid above once it is given
 *	attack UID PID		getpwuid(UID) plays a module taken over: it
 *				tries to read, starve, cut off and kill
 *				process PID (a sibling of the resolver, as
 *				agent.user) five ways, and to outlive
 *				kakurid three (its death signal cleared, a
 *				new process, an exec), to write a file in DIR,
 *				to listen on a TCP port (bound, or one the
 *				kernel picks), and to change MINE's mode, times
 *				and extended attributes, and logs
 *				"attack HOW ERRNO" for each
 *	drop DIR		where the attack writes (world-writable)
 *	mine MINE		a directory of agent.user's
 * and it knows nothing else: every other uid, and every name, is "not
 * found" at once.  Only getpwuid_r and getpwnam_r are here.
 */
#include <errno.h>
#include <fcntl.h>
#include <nss.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define CONF	"/etc/kkslow.conf"

enum nss_status _nss_kkslow_getpwuid_r(uid_t uid, struct passwd *pw,
    char *buf, size_t len, int *errnop);
enum nss_status _nss_kkslow_getpwnam_r(const char *name, struct passwd *pw,
    char *buf, size_t len, int *errnop);

/*
 * line (n bytes) to the log at path, if there is one: a datagram if it is
 * a socket (the resolver writes no file: linesink keeps it), else
 * appended to the file
 */
static void
append(const char *path, const char *line, int n)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (path[0] == '\0' || n <= 0 || stat(path, &st) < 0)
		return;
	if (S_ISSOCK(st.st_mode)) {
		if (strlen(path) >= sizeof(sa.sun_path) || (fd = socket(AF_UNIX,
		    SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
			return;
		memcpy(sa.sun_path, path, strlen(path) + 1);
		if (sendto(fd, line, (size_t)n, 0, (struct sockaddr *)&sa,
		    sizeof(sa)) < 0)
			n = 0;
		close(fd);
		return;
	}
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)) < 0)
		return;
	if (write(fd, line, (size_t)n) < 0)
		n = 0;
	close(fd);
}

/* "getpwuid UID PID" as a call starts, "done UID PID" as it answers */
static void
note(const char *path, const char *what, uid_t uid)
{
	char line[64];

	append(path, line, snprintf(line, sizeof(line), "%s %u %d\n", what,
	    (unsigned)uid, (int)getpid()));
}

/* "attack HOW ERRNO": 0 if the call went through */
static void
attack_note(const char *path, const char *how, long r)
{
	char line[64];

	append(path, line, snprintf(line, sizeof(line), "attack %s %d\n",
	    how, r < 0 ? errno : 0));
}

/* What code that took the resolver over would do to a sibling. */
static void
attack(const char *log, pid_t victim, const char *drop, const char *mine)
{
	char path[256];
	int fd;

	const struct rlimit none = { 0, 0 };
	struct iovec local, remote;
	pid_t child;
	char byte;

	local = (struct iovec){ &byte, 1 };
	remote = (struct iovec){ &byte, 1 };
	attack_note(log, "read", (long)process_vm_readv(victim, &local, 1,
	    &remote, 1, 0));
	attack_note(log, "nice", (long)setpriority(PRIO_PROCESS, (id_t)victim,
	    19));
	attack_note(log, "limit", (long)prlimit(victim, RLIMIT_NOFILE, &none,
	    NULL));
	attack_note(log, "tgkill", syscall(SYS_tgkill, victim, victim,
	    SIGKILL));
	attack_note(log, "kill", (long)kill(victim, SIGKILL));
	attack_note(log, "undeath", (long)prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0));
	/* a new process does not inherit the death signal */
	if ((child = fork()) == 0)
		_exit(0);
	if (child > 0)
		waitpid(child, NULL, 0);
	attack_note(log, "fork", (long)child);
	/* a file where agent.user may write: a disk filled, a file planted */
	snprintf(path, sizeof(path), "%s/planted-%d", drop, (int)getpid());
	fd = drop[0] ? open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0644) : -1;
	if (!drop[0])
		errno = ENOENT;
	attack_note(log, "write", (long)fd);
	if (fd >= 0)
		close(fd);
	/* an exec, which from a thread would drop the death signal: of a
	 * program that is not there (the kernel would say ENOENT) */
	{
		char *const none[] = { NULL };

		attack_note(log, "exec", (long)execve("/nonexistent/kk-attack",
		    none, none));
	}
	/* a TCP port on the host: a way in */
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0) {
		struct sockaddr_in any = { .sin_family = AF_INET };

		attack_note(log, "listen", bind(fd, (struct sockaddr *)&any,
		    sizeof(any)) < 0 ? -1L : (long)listen(fd, 1));
		close(fd);
	} else
		attack_note(log, "listen", -1L);
	/* a port the kernel picks: listen without bind, which Landlock
	 * does not see */
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0) {
		attack_note(log, "autobind", (long)listen(fd, 1));
		close(fd);
	} else
		attack_note(log, "autobind", -1L);
	/*
	 * A directory of agent.user's, as an evidence job's is while it
	 * runs: shut to its writer, or marked, which Landlock does not see
	 */
	if (!mine[0])
		errno = ENOENT;
	attack_note(log, "chmod", mine[0] ? (long)chmod(mine, 0) : -1L);
	if (!mine[0])
		errno = ENOENT;
	attack_note(log, "utime", mine[0] ? (long)utimensat(AT_FDCWD, mine,
	    NULL, 0) : -1L);
	if (!mine[0])
		errno = ENOENT;
	attack_note(log, "xattr", mine[0] ? (long)setxattr(mine, "user.kk",
	    "x", 1, 0) : -1L);
}

static void
pause_for(unsigned secs)
{
	struct timespec ts = { (time_t)secs, 0 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

enum nss_status
_nss_kkslow_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t len,
    int *errnop)
{
	char line[256], name[64] = "", one[64], log[200] = "", word[8];
	char drop[200] = "", mine[200] = "";
	unsigned long u = 0, secs = 0, slow = 0, au = 0;
	int found = 0, victim = 0, vp = 0;
	FILE *f;

	if ((f = fopen(CONF, "re")) == NULL)
		return NSS_STATUS_UNAVAIL;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%7s", word) != 1)
			continue;
		if (strcmp(word, "log") == 0)
			sscanf(line, "log %199s", log);
		else if (strcmp(word, "drop") == 0)
			sscanf(line, "drop %199s", drop);
		else if (strcmp(word, "mine") == 0)
			sscanf(line, "mine %199s", mine);
		else if (strcmp(word, "attack") == 0 && sscanf(line,
		    "attack %lu %d", &au, &vp) == 2 && (uid_t)au == uid)
			victim = vp;
		else if (strcmp(word, "uid") == 0 && sscanf(line,
		    "uid %lu %63s %lu", &u, one, &secs) == 3 &&
		    (uid_t)u == uid && !found) {
			found = 1;
			slow = secs;
			memcpy(name, one, sizeof(name));
		}
	}
	fclose(f);
	note(log, "getpwuid", uid);
	if (victim > 0)
		attack(log, (pid_t)victim, drop, mine);
	if (!found)
		return NSS_STATUS_NOTFOUND;
	pause_for((unsigned)slow);
	note(log, "done", uid);
	if (strlen(name) * 2 + 8 > len) {
		*errnop = ERANGE;
		return NSS_STATUS_TRYAGAIN;
	}
	memset(pw, 0, sizeof(*pw));
	strcpy(buf, name);
	pw->pw_name = buf;
	pw->pw_passwd = buf + strlen(name);	/* "" */
	pw->pw_uid = uid;
	pw->pw_gid = uid;
	pw->pw_gecos = pw->pw_passwd;
	pw->pw_dir = (char *)"/";
	pw->pw_shell = (char *)"/bin/false";
	return NSS_STATUS_SUCCESS;
}

enum nss_status
_nss_kkslow_getpwnam_r(const char *name, struct passwd *pw, char *buf,
    size_t len, int *errnop)
{
	return NSS_STATUS_NOTFOUND;
}
