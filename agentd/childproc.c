/*
 * How an exec'd child of kakurid starts (childproc.h): the network child
 * and the courier take the same first steps.
 */
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "childproc.h"
#include "kakuri.h"
#include "ipc.h"
#include "sandbox.h"
#include "tls.h"

void
kk_child_tell(const char *who, uint32_t type, uint32_t token,
    const void *body, size_t len)
{
	struct kk_ipc_queue q = { 0 };
	int r;

	if (kk_ipc_queue_add(&q, type, token, NULL, body, len) < 0)
		kk_child_fail("%s: cannot frame an answer", who);
	r = kk_ipc_queue_flush(&q, KK_CHILD_FD_IPC, NULL);
	kk_ipc_queue_clear(&q);
	if (r < 0)
		_exit(0);	/* the parent is gone */
}

void
kk_child_fail(const char *fmt, ...)
{
	va_list ap;

	/* stderr is the parent's pipe: it logs this as the child's line */
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	_exit(3);
}

/* fd is a socket of this domain and type (and listening, if asked). */
static bool
is_socket(int fd, int domain, int type, bool listening)
{
	int v = 0;
	socklen_t l = sizeof(v);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l) < 0 || v != type)
		return false;
	l = sizeof(v);
	if (domain != AF_UNSPEC && (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v,
	    &l) < 0 || v != domain))
		return false;
	l = sizeof(v);
	if (listening && (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v,
	    &l) < 0 || v != 1))
		return false;
	return true;
}

static unsigned long
number_arg(const char *s, const char *flag)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v > 0x7fffffffUL)
		kk_child_fail("kakurid %s is started by kakurid only", flag);
	return v;
}

static int
drop_privileges(uid_t uid, gid_t gid)
{
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0)
		return -errno;
	/* a uid change from root clears every capability; make sure */
	if (setresuid(0, 0, 0) == 0)
		return -EPERM;
	return 0;
}

void
kk_child_enter(int argc, char **argv, const char *flag, const char *comm,
    bool listener)
{
	sigset_t none;
	uid_t uid;
	gid_t gid;
	pid_t ppid;
	int r;

	if (argc != 5 || (listener && !is_socket(KK_CHILD_FD_OWN, AF_UNSPEC,
	    SOCK_STREAM, true)) || !is_socket(KK_CHILD_FD_IPC, AF_UNIX,
	    SOCK_STREAM, false))
		kk_child_fail("kakurid %s is started by kakurid only", flag);
	uid = (uid_t)number_arg(argv[2], flag);
	gid = (gid_t)number_arg(argv[3], flag);
	ppid = (pid_t)number_arg(argv[4], flag);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_NAME, comm);
	/* before anything is read: a fresh image, and no privileges */
	if (uid == 0 || (r = drop_privileges(uid, gid)) < 0)
		kk_child_fail("dropping privileges to uid %lu: %s",
		    (unsigned long)uid, uid == 0 ? "refusing root" : strerror(-r));
	/* a uid change clears the death signal: set it now, then check */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != ppid)
		_exit(0);
}

int
kk_child_seccomp(bool outbound)
{
#ifdef KK_AUDIT_ARCH
	static const int allowed[] = {
		SYS_read, SYS_write, SYS_readv, SYS_writev, SYS_close,
		SYS_epoll_ctl, SYS_epoll_pwait, SYS_epoll_create1,
#ifdef SYS_epoll_wait
		SYS_epoll_wait,
#endif
#ifdef SYS_epoll_pwait2
		SYS_epoll_pwait2,
#endif
		SYS_timerfd_create, SYS_timerfd_settime, SYS_timerfd_gettime,
		SYS_accept4, SYS_recvfrom, SYS_sendto, SYS_recvmsg,
		SYS_sendmsg, SYS_shutdown, SYS_getsockopt, SYS_setsockopt,
		SYS_getsockname, SYS_getpeername, SYS_fcntl,
		SYS_brk, SYS_mmap, SYS_munmap, SYS_mremap, SYS_madvise,
		SYS_mprotect, SYS_futex, SYS_getrandom, SYS_clock_gettime,
		SYS_gettimeofday, SYS_exit, SYS_exit_group, SYS_getpid,
		SYS_gettid, SYS_rt_sigprocmask, SYS_rt_sigreturn,
		SYS_rt_sigaction, SYS_signalfd4, SYS_fstat, SYS_newfstatat,
		SYS_lseek, SYS_prctl, SYS_sched_yield, SYS_restart_syscall,
		SYS_pidfd_open, SYS_ppoll,
#ifdef SYS_poll
		SYS_poll,
#endif
		/* the courier's: a TCP connection it makes itself */
		SYS_socket, SYS_connect,
	};
	/* opening files is answered, not fatal: libraries may probe */
	static const struct kk_seccomp_refusal refused[] = {
		{ SYS_openat, EACCES },
		{ SYS_socket, EACCES },
	};
	size_t n = sizeof(allowed) / sizeof(allowed[0]);

	/* without outbound, socket(2) and connect(2) are not on the list */
	return kk_seccomp_install(allowed, outbound ? n : n - 2, refused,
	    outbound ? 1 : 2, false);
#else
	/* unknown architecture: no-new-privs and no capabilities still hold */
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0;
#endif
}

/* exactly len bytes, by the deadline (0: none) */
static int
read_exact(int fd, uint64_t deadline, void *buf, size_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t have = 0;
	ssize_t n;
	int wait;

	while (have < len) {
		wait = -1;
		if (deadline != 0) {
			uint64_t t = kk_now_ms();

			if (t >= deadline)
				return -ETIMEDOUT;
			wait = (int)(deadline - t);
		}
		n = poll(&p, 1, wait);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			return -ETIMEDOUT;
		n = read(fd, (uint8_t *)buf + have, len - have);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return -EPIPE;
		have += (size_t)n;
	}
	return 0;
}

int
kk_ipc_recv(int fd, int timeout_ms, size_t max, struct kk_ipc_hdr *h,
    uint8_t **body, size_t *len)
{
	uint64_t deadline = timeout_ms < 0 ? 0 : kk_now_ms() + (uint64_t)timeout_ms;
	uint8_t hdr[4];
	size_t total;
	int r;

	*body = NULL;
	*len = 0;
	if ((r = read_exact(fd, deadline, hdr, sizeof(hdr))) < 0)
		return r;
	total = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 |
	    (size_t)hdr[2] << 8 | hdr[3];
	if (total < sizeof(*h))
		return -EBADMSG;
	if (total > max)
		return -EMSGSIZE;
	if ((r = read_exact(fd, deadline, h, sizeof(*h))) < 0)
		return r;
	h->peer[sizeof(h->peer) - 1] = '\0';
	*len = total - sizeof(*h);
	if (*len == 0)
		return 0;
	if ((*body = malloc(*len)) == NULL)
		return -ENOMEM;
	if ((r = read_exact(fd, deadline, *body, *len)) < 0) {
		free(*body);
		*body = NULL;
		*len = 0;
	}
	return r;
}

uint8_t *
kk_child_read_config(int timeout_ms, struct kk_tls_material *m, size_t extra,
    size_t *msglen)
{
	const char **text[KK_PEM__MAX] = { &m->key, &m->cert, &m->chain,
		&m->client_ca };
	size_t *lens[KK_PEM__MAX] = { &m->key_len, &m->cert_len,
		&m->chain_len, &m->client_ca_len };
	struct kk_ipc_config cfg;
	struct kk_ipc_hdr h;
	uint8_t *msg = NULL;
	size_t len = 0, pos;
	int i;

	if (kk_ipc_recv(KK_CHILD_FD_IPC, timeout_ms, KK_IPC_MAX, &h, &msg,
	    &len) < 0 || h.type != KK_IPC_CONFIG || len < sizeof(cfg))
		goto fail;
	memcpy(&cfg, msg, sizeof(cfg));
	pos = sizeof(cfg);
	for (i = 0; i < KK_PEM__MAX; i++) {
		if (cfg.len[i] > len - pos)
			goto fail;
		*text[i] = (const char *)msg + pos;
		*lens[i] = cfg.len[i];
		pos += cfg.len[i];
	}
	if (len - pos != extra)
		goto fail;
	*msglen = len;
	return msg;
fail:
	kk_child_config_free(msg, len);
	return NULL;
}

void
kk_child_config_free(uint8_t *msg, size_t len)
{
	if (msg == NULL)
		return;
	OPENSSL_cleanse(msg, len);
	free(msg);
}

void
kk_child_vline(char *line, size_t len, const char *fmt, va_list ap)
{
	size_t i;

	vsnprintf(line, len, fmt, ap);
	for (i = 0; line[i] != '\0'; i++)
		if (line[i] < 0x20 || line[i] > 0x7e)
			line[i] = '?';
}
