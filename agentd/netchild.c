/*
 * The network child.  See netchild.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <systemd/sd-event.h>

#include "netchild.h"
#include "sandbox.h"
#include "tls.h"

struct netchild;

struct nc_conn {
	struct netchild *nc;
	uint32_t id;
	int fd;
	SSL *ssl;
	bool authed;
	bool awaiting;		/* a command is with the parent */
	bool closing;		/* close once the pending output is written */
	sd_event_source *io;
	sd_event_source *timer;
	struct kk_frame_reader rd;
	uint8_t *out;
	size_t out_len;
	size_t out_off;
	char peer[48];
	struct nc_conn *prev, *next;	/* oldest first */
};

struct netchild {
	sd_event *ev;
	SSL_CTX *ctx;
	int lfd;
	int pfd;		/* to the parent */
	struct kk_frame_reader prd;
	struct nc_conn *head, *tail;
	uint32_t next_id;
	unsigned npreauth;
	unsigned nauthed;
};

int
kk_ipc_send(int fd, uint32_t type, uint32_t conn, const char *peer,
    const void *body, size_t len)
{
	struct kk_ipc_hdr h;
	uint8_t lenbuf[4];
	struct iovec iov[3];
	size_t total = sizeof(h) + len, done = 0, skip;
	ssize_t n;
	int i, r;

	if ((r = kk_frame_header(lenbuf, total, KK_IPC_MAX)) < 0)
		return r;
	memset(&h, 0, sizeof(h));
	h.type = type;
	h.conn = conn;
	if (peer)
		snprintf(h.peer, sizeof(h.peer), "%s", peer);
	total += 4;
	while (done < total) {
		/* rebuild the vector past what was written already */
		skip = done;
		i = 0;
		if (skip < 4) {
			iov[i++] = (struct iovec){ lenbuf + skip, 4 - skip };
			skip = 0;
		} else {
			skip -= 4;
		}
		if (skip < sizeof(h)) {
			iov[i++] = (struct iovec){ (char *)&h + skip,
			    sizeof(h) - skip };
			skip = 0;
		} else {
			skip -= sizeof(h);
		}
		if (len > skip)
			iov[i++] = (struct iovec){ (char *)body + skip, len - skip };
		n = writev(fd, iov, i);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };

			/* bounded: a peer that does not read for 2 s is broken */
			if (poll(&p, 1, 2000) <= 0)
				return -ETIMEDOUT;
			continue;
		}
		if (n < 0)
			return -errno;
		done += (size_t)n;
	}
	return 0;
}

static void
nc_log(struct netchild *nc, const char *peer, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
nc_log(struct netchild *nc, const char *peer, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	kk_ipc_send(nc->pfd, KK_IPC_LOG, 0, peer, line, strlen(line));
}

static void
conn_close(struct nc_conn *c)
{
	struct netchild *nc = c->nc;

	if (c->prev)
		c->prev->next = c->next;
	else
		nc->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		nc->tail = c->prev;
	if (c->authed)
		nc->nauthed--;
	else
		nc->npreauth--;
	sd_event_source_disable_unref(c->io);
	sd_event_source_disable_unref(c->timer);
	if (c->ssl) {
		if (c->authed)
			SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	close(c->fd);
	kk_frame_reader_reset(&c->rd);
	free(c->out);
	free(c);
}

static struct nc_conn *
conn_find(struct netchild *nc, uint32_t id)
{
	struct nc_conn *c;

	for (c = nc->head; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static void
set_deadline(struct nc_conn *c, uint64_t usec)
{
	uint64_t now;

	sd_event_now(c->nc->ev, CLOCK_MONOTONIC, &now);
	sd_event_source_set_time(c->timer, now + usec);
	sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
}

static void
want(struct nc_conn *c, bool wr)
{
	sd_event_source_set_io_events(c->io, EPOLLIN | (wr ? EPOLLOUT : 0));
}

/* Drive the connection as far as it goes without blocking. */
static void conn_step(struct nc_conn *c);

static void
handshake(struct nc_conn *c)
{
	struct netchild *nc = c->nc;
	char e[200];
	int r, err;

	ERR_clear_error();
	r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		X509 *peer = SSL_get1_peer_certificate(c->ssl);
		char cn[128] = "?";

		if (peer) {
			X509_NAME_get_text_by_NID(X509_get_subject_name(peer),
			    NID_commonName, cn, sizeof(cn));
			X509_free(peer);
		}
		c->authed = true;
		nc->npreauth--;
		nc->nauthed++;
		if (nc->nauthed > KK_NET_MAX_AUTHED) {
			nc_log(nc, c->peer, "refused: %u authenticated connections already",
			    KK_NET_MAX_AUTHED);
			conn_close(c);
			return;
		}
		set_deadline(c, KK_NET_IDLE_USEC);
		return;
	}
	err = SSL_get_error(c->ssl, r);
	if (err == SSL_ERROR_WANT_READ) {
		want(c, false);
		return;
	}
	if (err == SSL_ERROR_WANT_WRITE) {
		want(c, true);
		return;
	}
	nc_log(nc, c->peer, "TLS handshake failed: %s",
	    kk_tls_error(e, sizeof(e)));
	conn_close(c);
}

static void
reject(struct nc_conn *c, const char *reason)
{
	c->awaiting = true;
	c->closing = true;
	kk_ipc_send(c->nc->pfd, KK_IPC_REJECT, c->id, c->peer, reason,
	    strlen(reason));
}

static void
conn_step(struct nc_conn *c)
{
	uint8_t buf[16384];
	size_t used, off;
	int r, err;

	if (!c->authed) {
		handshake(c);
		return;
	}
	/* pending output first */
	while (c->out) {
		ERR_clear_error();
		r = SSL_write(c->ssl, c->out + c->out_off,
		    (int)(c->out_len - c->out_off));
		if (r <= 0) {
			err = SSL_get_error(c->ssl, r);
			if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
				want(c, true);
				return;
			}
			conn_close(c);
			return;
		}
		c->out_off += (size_t)r;
		if (c->out_off == c->out_len) {
			free(c->out);
			c->out = NULL;
			c->awaiting = false;
			if (c->closing) {
				conn_close(c);
				return;
			}
			set_deadline(c, KK_NET_IDLE_USEC);
		}
	}
	want(c, false);
	/* one command at a time per connection: no reading while it is out */
	while (!c->awaiting) {
		ERR_clear_error();
		r = SSL_read(c->ssl, buf, sizeof(buf));
		if (r <= 0) {
			err = SSL_get_error(c->ssl, r);
			if (err == SSL_ERROR_WANT_READ)
				return;
			if (err == SSL_ERROR_WANT_WRITE) {
				want(c, true);
				return;
			}
			conn_close(c);
			return;
		}
		set_deadline(c, KK_NET_IDLE_USEC);
		off = 0;
		while (off < (size_t)r && !c->awaiting) {
			int fr = kk_frame_feed(&c->rd, buf + off, (size_t)r - off,
			    &used);

			off += used;
			if (fr < 0) {
				reject(c, fr == -EMSGSIZE ? "too-large" : "malformed");
				return;
			}
			if (fr == 1) {
				size_t len;
				uint8_t *body = kk_frame_take(&c->rd, &len);

				c->awaiting = true;
				kk_ipc_send(c->nc->pfd, KK_IPC_ENVELOPE, c->id,
				    c->peer, body, len);
				free(body);
			}
		}
		if (off < (size_t)r) {
			/* a pipelined second frame: refuse rather than buffer */
			c->closing = true;
		}
	}
}

static int
conn_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	conn_step(userdata);
	return 0;
}

static int
conn_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct nc_conn *c = userdata;

	if (c->awaiting)	/* the parent is working on it */
		return 0;
	if (!c->authed)
		nc_log(c->nc, c->peer, "TLS handshake timed out");
	conn_close(c);
	return 0;
}

static void
peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
			port = ntohs(s4->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
			port = ntohs(s6->sin6_port);
		}
	}
	snprintf(buf, len, "%s:%d", host, port);
}

static int
on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct netchild *nc = userdata;
	struct nc_conn *c, *old;
	int cfd, i;

	/* bounded: at most 64 accepts per wake-up */
	for (i = 0; i < 64; i++) {
		cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0)
			return 0;
		/*
		 * Unauthenticated connections are cheap to open: when there
		 * are too many, the oldest one still in its handshake goes.
		 */
		if (nc->npreauth >= KK_NET_MAX_PREAUTH) {
			for (old = nc->head; old && old->authed; old = old->next)
				;
			if (old)
				conn_close(old);
		}
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			close(cfd);
			continue;
		}
		c->nc = nc;
		c->id = ++nc->next_id;
		c->fd = cfd;
		/* receipts are one small write each: send them now */
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
		    sizeof(int));
		kk_frame_reader_init(&c->rd, KK_FRAME_MAX);
		peer_name(cfd, c->peer, sizeof(c->peer));
		c->ssl = SSL_new(nc->ctx);
		if (c->ssl == NULL || SSL_set_fd(c->ssl, cfd) != 1) {
			SSL_free(c->ssl);
			close(cfd);
			free(c);
			continue;
		}
		SSL_set_accept_state(c->ssl);
		c->prev = nc->tail;
		if (nc->tail)
			nc->tail->next = c;
		else
			nc->head = c;
		nc->tail = c;
		nc->npreauth++;
		if (sd_event_add_io(nc->ev, &c->io, cfd, EPOLLIN, conn_io, c) < 0 ||
		    sd_event_add_time(nc->ev, &c->timer, CLOCK_MONOTONIC, 0, 0,
		    conn_timeout, c) < 0) {
			conn_close(c);
			continue;
		}
		set_deadline(c, KK_NET_HANDSHAKE_USEC);
	}
	return 0;
}

/* A receipt from the parent: frame it and send it to the connection. */
static void
on_reply(struct netchild *nc, const struct kk_ipc_hdr *h, const uint8_t *body,
    size_t len)
{
	struct nc_conn *c = conn_find(nc, h->conn);
	uint8_t hdr[4];

	if (c == NULL || c->out || kk_frame_header(hdr, len, KK_FRAME_MAX) < 0)
		return;
	c->out = malloc(len + 4);
	if (c->out == NULL) {
		conn_close(c);
		return;
	}
	memcpy(c->out, hdr, 4);
	memcpy(c->out + 4, body, len);
	c->out_len = len + 4;
	c->out_off = 0;
	conn_step(c);
}

static int
on_parent(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct netchild *nc = userdata;
	uint8_t buf[65536];
	size_t used, off = 0;
	ssize_t n;
	int r;

	n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		/* the parent is gone: nothing here may act on its own */
		sd_event_exit(nc->ev, 0);
		return 0;
	}
	while (off < (size_t)n) {
		r = kk_frame_feed(&nc->prd, buf + off, (size_t)n - off, &used);
		off += used;
		if (r < 0) {
			sd_event_exit(nc->ev, 1);
			return 0;
		}
		if (r == 1) {
			size_t len;
			uint8_t *msg = kk_frame_take(&nc->prd, &len);

			if (len >= sizeof(struct kk_ipc_hdr)) {
				struct kk_ipc_hdr h;

				memcpy(&h, msg, sizeof(h));
				if (h.type == KK_IPC_REPLY)
					on_reply(nc, &h, msg + sizeof(h),
					    len - sizeof(h));
			}
			free(msg);
		}
	}
	return 0;
}

/*
 * seccomp allow-list: what an event loop, OpenSSL and sockets need, and
 * nothing that opens files, executes, or changes identity.
 */
static int
install_seccomp(void)
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
	};
	/* opening files is answered, not fatal: libraries may probe */
	static const struct kk_seccomp_refusal refused[] = {
		{ SYS_openat, EACCES },
	};

	return kk_seccomp_install(allowed, sizeof(allowed) / sizeof(allowed[0]),
	    refused, 1, false);
#else
	/* unknown architecture: no-new-privs and no capabilities still hold */
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -errno : 0;
#endif
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

static void __attribute__((noreturn))
child_main(const struct kk_netchild_cfg *cfg, int lfd, int pfd)
{
	struct netchild nc;
	char err[300];
	int r;

	/*
	 * Nothing of the parent's may stay open here: a netlink socket root
	 * opened keeps root's powers in any hands.
	 */
	{
		int lo = lfd < pfd ? lfd : pfd, hi = lfd < pfd ? pfd : lfd;

		if (lo > 3)
			close_range(3, (unsigned)lo - 1, 0);
		if (hi > lo + 1)
			close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
		close_range((unsigned)hi + 1, ~0U, 0);
	}
	memset(&nc, 0, sizeof(nc));
	nc.lfd = lfd;
	nc.pfd = pfd;
	kk_frame_reader_init(&nc.prd, KK_IPC_MAX);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_NAME, "kakurid-net");
	/* the key is read while still root, then identity and privileges go */
	nc.ctx = kk_tls_server_ctx(cfg->cert, cfg->key, cfg->client_ca, err,
	    sizeof(err));
	if (nc.ctx == NULL) {
		kk_ipc_send(pfd, KK_IPC_LOG, 0, NULL, err, strlen(err));
		_exit(3);
	}
	if ((r = drop_privileges(cfg->uid, cfg->gid)) < 0) {
		snprintf(err, sizeof(err), "dropping privileges: %s", strerror(-r));
		kk_ipc_send(pfd, KK_IPC_LOG, 0, NULL, err, strlen(err));
		_exit(3);
	}
	if (sd_event_new(&nc.ev) < 0)
		_exit(3);
	if ((r = install_seccomp()) < 0) {
		snprintf(err, sizeof(err), "seccomp: %s", strerror(-r));
		kk_ipc_send(pfd, KK_IPC_LOG, 0, NULL, err, strlen(err));
		_exit(3);
	}
	if (sd_event_add_io(nc.ev, NULL, lfd, EPOLLIN, on_accept, &nc) < 0 ||
	    sd_event_add_io(nc.ev, NULL, pfd, EPOLLIN, on_parent, &nc) < 0)
		_exit(3);
	r = sd_event_loop(nc.ev);
	_exit(r < 0 ? 1 : 0);
}

int
kk_netchild_start(const struct kk_netchild_cfg *cfg, pid_t *pidp, int *fdp,
    char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct kk_addr addr;
	uint16_t port;
	socklen_t sl;
	int sv[2] = { -1, -1 }, lfd = -1, one = 1, r;
	pid_t pid;

	if (kk_endpoint_parse(cfg->listen, &addr, &port) < 0) {
		snprintf(err, errlen, "listen: bad address '%s'", cfg->listen);
		return -EINVAL;
	}
	memset(&ss, 0, sizeof(ss));
	if (addr.family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_addr = addr.a.v4;
		s4->sin_port = htons(port);
		sl = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = addr.a.v6;
		s6->sin6_port = htons(port);
		sl = sizeof(*s6);
	}
	lfd = socket(addr.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		r = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (addr.family == AF_INET6) {
		int zero = 0;

		/* [::] also takes IPv4 */
		setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	}
	if (bind(lfd, (struct sockaddr *)&ss, sl) < 0 || listen(lfd, 512) < 0) {
		r = -errno;
		snprintf(err, errlen, "listen on %s: %s", cfg->listen,
		    strerror(errno));
		goto fail;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -errno;
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		snprintf(err, errlen, "fork: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0) {
		close(sv[0]);
		child_main(cfg, lfd, sv[1]);
	}
	close(sv[1]);
	close(lfd);
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	*pidp = pid;
	*fdp = sv[0];
	return 0;
fail:
	if (lfd >= 0)
		close(lfd);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	return r;
}
