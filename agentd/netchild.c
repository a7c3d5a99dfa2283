/*
 * The network child: kakurid --network-child, an exec'd image with no
 * privileges (TLS, frames, connection limits, seccomp).  See netchild.h;
 * the IPC queue is ipc.c, the parent's side netchild_parent.c.
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
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <systemd/sd-event.h>

#include "childproc.h"
#include "netchild.h"
#include "tls.h"
#include "wire.h"

#define KK_NC_FD_LISTEN		KK_CHILD_FD_OWN
#define KK_NC_FD_IPC		KK_CHILD_FD_IPC
#define KK_NC_CONFIG_MSEC	10000	/* the parent sends the config at once */
#define KK_NC_LOG_QUEUE_MAX	(1U << 20)	/* log lines beyond are dropped */
/* a connection closed after its answer drains this much, this long */
#define KK_NC_LINGER_USEC	(1ULL * 1000000ULL)
#define KK_NC_LINGER_MAX	(256U << 10)

/* ---- the child ---- */

struct netchild;

struct nc_conn {
	struct netchild *nc;
	uint32_t id;
	int fd;
	SSL *ssl;
	bool authed;
	bool heard;		/* before it: it has sent something */
	bool awaiting;		/* a command is with the parent */
	bool closing;		/* close once the pending output is written */
	bool big;		/* a frame over KK_FRAME_MAX, until answered */
	size_t big_window;	/* ... its bytes in this idle period */
	uint64_t big_until;	/* ... when it must be whole (CLOCK_MONOTONIC) */
	bool lingering;		/* answered and shut: its input is drained */
	/* when a frame of 1 MiB or less began (0: none is being read) */
	uint64_t frame_start;
	unsigned parent_waits;	/* idle deadlines passed with the parent */
	size_t drained;
	sd_event_source *io;
	sd_event_source *timer;
	struct kk_frame_reader rd;
	uint8_t *out;
	size_t out_len;
	size_t out_off;
	char peer[48];
	struct kk_source src;
	TAILQ_ENTRY(nc_conn) entry;	/* oldest first */
};

struct netchild {
	sd_event *ev;
	SSL_CTX *ctx;
	int lfd;
	int pfd;		/* to the parent */
	sd_event_source *pio;
	struct kk_frame_reader prd;
	struct kk_ipc_queue out;	/* to the parent, not yet written */
	TAILQ_HEAD(, nc_conn) conns;
	uint32_t next_id;
	unsigned npreauth;
	unsigned nauthed;
	unsigned nbig;		/* frames over KK_FRAME_MAX being read */
};

/* To the parent, queued; the loop writes it when the socket takes it. */
static void
nc_send(struct netchild *nc, uint32_t type, uint32_t conn, const char *peer,
    const void *body, size_t len)
{
	int r;

	if (kk_ipc_queue_add(&nc->out, type, conn, peer, body, len) < 0) {
		/* a command that cannot reach the parent: nothing to serve */
		_exit(4);
	}
	r = kk_ipc_queue_flush(&nc->out, nc->pfd, NULL);
	if (r == -EAGAIN)
		sd_event_source_set_io_events(nc->pio, EPOLLIN | EPOLLOUT);
	else if (r < 0)
		sd_event_exit(nc->ev, 1);	/* the parent is gone */
}

static void
nc_log(struct netchild *nc, const char *peer, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
nc_log(struct netchild *nc, const char *peer, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	/* commands first: a parent that is behind does not get our chatter */
	if (nc->out.bytes > KK_NC_LOG_QUEUE_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	nc_send(nc, KK_IPC_LOG, 0, peer, line, strlen(line));
}

static void
conn_close(struct nc_conn *c)
{
	struct netchild *nc = c->nc;

	TAILQ_REMOVE(&nc->conns, c, entry);
	if (c->big)
		nc->nbig--;
	if (c->authed)
		nc->nauthed--;
	else
		nc->npreauth--;
	sd_event_source_disable_unref(c->io);
	sd_event_source_disable_unref(c->timer);
	if (c->ssl) {
		if (c->authed && !c->lingering)
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

	TAILQ_FOREACH(c, &nc->conns, entry)
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

/*
 * What wakes the connection.  With a command at the parent and nothing to
 * write, nothing: nothing is read then, and the socket's readiness is
 * level-triggered, so a peer that closed or sent more after its frame
 * would wake the child again and again, a core spun until the answer
 * came (up to KK_NET_PARENT_WAITS idle periods).  The answer wakes it.
 */
static void
want(struct nc_conn *c, bool wr)
{
	if (c->awaiting && !wr) {
		sd_event_source_set_enabled(c->io, SD_EVENT_OFF);
		return;
	}
	sd_event_source_set_io_events(c->io, EPOLLIN | (wr ? EPOLLOUT : 0));
	sd_event_source_set_enabled(c->io, SD_EVENT_ON);
}

/* Drive the connection as far as it goes without blocking. */
static void conn_step(struct nc_conn *c);

/*
 * Room for c, just authenticated (counted already): at most
 * KK_NET_MAX_AUTHED_SRC from one source (an IPv4 address or IPv6 /64),
 * and when all KK_NET_MAX_AUTHED are taken the oldest that has no
 * command at the parent and no answer going out gives way.  A peer with
 * a certificate (one compromised endpoint, if agents' certificates come
 * from the client CA) that holds connections open can delay the CSIRT's,
 * not keep it out: a command is sent as soon as a connection is up.
 */
static bool
authed_room(struct netchild *nc, struct nc_conn *c)
{
	struct nc_conn *o, *idle = NULL;
	unsigned mine = 0;

	TAILQ_FOREACH(o, &nc->conns, entry) {
		if (o == c || !o->authed)
			continue;
		if (kk_source_eq(&o->src, &c->src))
			mine++;
		/* oldest first: the first idle one is the oldest */
		if (idle == NULL && !o->awaiting && o->out == NULL &&
		    !o->lingering)
			idle = o;
	}
	if (mine >= KK_NET_MAX_AUTHED_SRC) {
		nc_log(nc, c->peer, "refused: %u authenticated connections "
		    "from this source already", mine);
		return false;
	}
	if (nc->nauthed <= KK_NET_MAX_AUTHED)
		return true;
	if (idle == NULL) {
		nc_log(nc, c->peer, "refused: %u authenticated connections "
		    "already, each with a command", KK_NET_MAX_AUTHED);
		return false;
	}
	nc_log(nc, idle->peer, "closed: %u authenticated connections, and "
	    "this one the oldest with no command", KK_NET_MAX_AUTHED);
	conn_close(idle);
	return true;
}

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
		/* DESIGN 4: an authenticated peer's frames up to 24 MiB */
		c->rd.max = KK_FRAME_AUTHED_MAX;
		if (!authed_room(nc, c)) {
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

/* The frames over 1 MiB being read or answered for src. */
static unsigned
big_of_src(const struct netchild *nc, const struct kk_source *src)
{
	const struct nc_conn *c;
	unsigned n = 0;

	TAILQ_FOREACH(c, &nc->conns, entry)
		if (c->big && kk_source_eq(&c->src, src))
			n++;
	return n;
}

/* a large frame is whole, or its connection gone: room for another */
static void
big_done(struct nc_conn *c)
{
	if (c->big) {
		c->big = false;
		c->nc->nbig--;
	}
}

/*
 * Input of a connection whose answer is out, thrown away: closed at its
 * end, at an error, or once KK_NC_LINGER_MAX came (a close before would
 * reset the connection, and a reset can take the answer with it).
 */
static void
conn_drain(struct nc_conn *c)
{
	uint8_t buf[16384];
	ssize_t r;

	for (;;) {
		r = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r > 0 && (c->drained += (size_t)r) < KK_NC_LINGER_MAX)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		conn_close(c);
		return;
	}
}

/*
 * The answer is written and the connection ends.  A peer that sent more
 * than was read (a refused frame's rest) would get a reset from close(),
 * and may lose the answer to it: the answer is closed with close_notify
 * and a FIN instead, and what the peer still sends is drained for at most
 * KK_NC_LINGER_USEC.  The connection's slot stays taken meanwhile.
 */
static void
conn_linger(struct nc_conn *c)
{
	SSL_shutdown(c->ssl);
	if (shutdown(c->fd, SHUT_WR) < 0) {
		conn_close(c);
		return;
	}
	big_done(c);
	c->lingering = true;
	want(c, false);
	set_deadline(c, KK_NC_LINGER_USEC);
	conn_drain(c);
}

/*
 * A frame of 1 MiB or less is whole within KK_NET_IDLE_USEC of its first
 * byte and its length at KK_NET_BIG_RATE_MIN, as a larger one is: the
 * idle deadline alone, renewed by every byte, let a frame sent a byte
 * every 20 s hold its connection for good.  Between frames, or with a
 * command at the parent, the idle deadline.
 */
static void
frame_deadline(struct nc_conn *c)
{
	uint64_t until;

	if (c->awaiting || (c->rd.hdr_have == 0 && c->rd.body == NULL)) {
		c->frame_start = 0;
		set_deadline(c, KK_NET_IDLE_USEC);
		return;
	}
	if (c->frame_start == 0)
		sd_event_now(c->nc->ev, CLOCK_MONOTONIC, &c->frame_start);
	until = c->frame_start + KK_NET_IDLE_USEC;
	/* the length known: its time at the least rate */
	if (c->rd.body != NULL)
		until += (uint64_t)c->rd.body_len * 1000000ULL /
		    KK_NET_BIG_RATE_MIN;
	sd_event_source_set_time(c->timer, until);
	sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
}

static void
reject(struct nc_conn *c, const char *reason)
{
	c->awaiting = true;
	c->closing = true;
	want(c, false);
	nc_send(c->nc, KK_IPC_REJECT, c->id, c->peer, reason, strlen(reason));
}

/*
 * A whole frame from the connection (freed here) goes to the parent, and
 * nothing more is read from it until the receipt is back.
 */
static int
conn_frame(void *arg, uint8_t *body, size_t len)
{
	struct nc_conn *c = arg;

	c->awaiting = true;
	nc_send(c->nc, kk_frame_is_chunk(body, len) ? KK_IPC_CHUNK :
	    KK_IPC_ENVELOPE, c->id, c->peer, body, len);
	free(body);
	return 1;
}

static void
conn_step(struct nc_conn *c)
{
	uint8_t buf[16384];
	size_t used;
	unsigned mine;
	int r, fr, err;

	if (!c->authed) {
		c->heard = true;	/* woken: it sent something, or closed */
		handshake(c);
		return;
	}
	if (c->lingering) {
		conn_drain(c);
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
		/* the peer reads: the answer may take its time, not stall */
		set_deadline(c, KK_NET_IDLE_USEC);
		if (c->out_off == c->out_len) {
			free(c->out);
			c->out = NULL;
			c->awaiting = false;
			big_done(c);
			if (c->closing) {
				conn_linger(c);
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
		/* a large frame is timed by what it brings in a period */
		if (c->big)
			c->big_window += (size_t)r;
		fr = kk_frame_feed_each(&c->rd, buf, (size_t)r, &used,
		    conn_frame, c);
		if (fr < 0) {
			reject(c, fr == -EMSGSIZE ? KE_TOO_LARGE : KE_MALFORMED);
			return;
		}
		/* a large frame holds its size: only KK_NET_BIG_MAX at once */
		if (!c->big && c->rd.body != NULL && c->rd.body_len > KK_FRAME_MAX) {
			mine = big_of_src(c->nc, &c->src);
			if (c->nc->nbig >= KK_NET_BIG_MAX ||
			    mine >= KK_NET_BIG_PER_SRC) {
				nc_log(c->nc, c->peer, "refused: %u frames over "
				    "1 MiB are being read already (%u from this "
				    "source)", c->nc->nbig, mine);
				kk_frame_reader_reset(&c->rd);
				reject(c, KE_BUSY);
				return;
			}
			c->big = true;
			c->big_window = 0;
			c->frame_start = 0;
			/* from now on timed by what it brings in a period */
			set_deadline(c, KK_NET_IDLE_USEC);
			sd_event_now(c->nc->ev, CLOCK_MONOTONIC, &c->big_until);
			c->big_until += KK_NET_IDLE_USEC + (uint64_t)c->rd.body_len *
			    1000000ULL / KK_NET_BIG_RATE_MIN;
			c->nc->nbig++;
		}
		if (used < (size_t)r) {
			/* a pipelined second frame: refuse rather than buffer */
			c->closing = true;
		}
		if (!c->big)
			frame_deadline(c);
	}
	/* a frame with the parent, or a refusal: quiet until its answer */
	want(c, false);
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

	if (c->big && !c->awaiting) {
		sd_event_now(c->nc->ev, CLOCK_MONOTONIC, &usec);
		if (c->big_window >= KK_NET_BIG_WINDOW_MIN && usec < c->big_until) {
			c->big_window = 0;
			set_deadline(c, KK_NET_IDLE_USEC);
			return 0;
		}
		nc_log(c->nc, c->peer, "closed: a frame over 1 MiB came slower "
		    "than %u KiB in %llu s (%zu bytes), or was not whole at "
		    "%u KiB/s", KK_NET_BIG_WINDOW_MIN >> 10,
		    KK_NET_IDLE_USEC / 1000000ULL, c->big_window,
		    KK_NET_BIG_RATE_MIN >> 10);
		conn_close(c);
		return 0;
	}
	/*
	 * The parent is working on it: looked at again after the next idle
	 * period, up to KK_NET_PARENT_WAITS of them (no answer ever would
	 * hold the slot for good).  An answer being written is the peer's
	 * to read: no progress in an idle period and it is closed.
	 */
	if (c->awaiting && c->out == NULL && ++c->parent_waits <=
	    (c->big ? KK_NET_PARENT_WAITS_BIG : KK_NET_PARENT_WAITS)) {
		set_deadline(c, KK_NET_IDLE_USEC);
		return 0;
	}
	if (c->out != NULL)
		nc_log(c->nc, c->peer, "closed: it did not read its answer for "
		    "%llu s", KK_NET_IDLE_USEC / 1000000ULL);
	else if (c->awaiting)
		nc_log(c->nc, c->peer, "closed: no answer from kakurid");
	else if (c->frame_start != 0)
		nc_log(c->nc, c->peer, "closed: a frame (%zu bytes) not whole "
		    "%llu s after its first byte and its length at %u KiB/s",
		    c->rd.body_len, KK_NET_IDLE_USEC / 1000000ULL,
		    KK_NET_BIG_RATE_MIN >> 10);
	if (!c->authed)
		nc_log(c->nc, c->peer, "TLS handshake timed out");
	conn_close(c);
	return 0;
}

/* The peer as text for logs, and the source it counts against. */
static void
peer_of(const struct sockaddr_storage *ss, char *buf, size_t len,
    struct kk_source *src)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	kk_sockaddr_source(ss, src);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		port = ntohs(s4->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		port = ntohs(s6->sin6_port);
		/*
		 * [ADDR]:PORT, as kakurictl --to takes it: fd00::1:7443 is
		 * an address of its own.  39 characters at most (inet_ntop
		 * writes a dotted quad only after :: or ::ffff:), 48 bytes.
		 */
		snprintf(buf, len, "[%s]:%d", host, port);
		return;
	}
	snprintf(buf, len, "%s:%d", host, port);
}

static int
conn_by_src(const void *x, const void *y)
{
	const struct nc_conn *a = *(struct nc_conn * const *)x;
	const struct nc_conn *b = *(struct nc_conn * const *)y;
	int d = memcmp(&a->src, &b->src, sizeof(a->src));

	if (d != 0)
		return d;
	return a->id < b->id ? -1 : a->id > b->id;
}

/*
 * The handshake to give up when all places are taken: one of the source
 * that holds the most (a flood from one address or /64 evicts its own).
 * Among sources that hold as many (a flood from many /64s, one each),
 * one that has sent nothing yet before one whose handshake is under way,
 * then the oldest: broken by address order, as it was, the tie evicted
 * the lowest address every time, which could be the CSIRT's.
 */
static struct nc_conn *
handshake_to_drop(struct netchild *nc)
{
	struct nc_conn *v[KK_NET_MAX_PREAUTH + 1], *c, *best = NULL;
	size_t runlen[KK_NET_MAX_PREAUTH + 1];
	size_t n = 0, i, j, start, most = 0;

	for (c = TAILQ_FIRST(&nc->conns); c && n < KK_NET_MAX_PREAUTH + 1;
	    c = TAILQ_NEXT(c, entry))
		if (!c->authed)
			v[n++] = c;
	qsort(v, n, sizeof(v[0]), conn_by_src);
	for (start = 0; start < n; start = i) {
		for (i = start + 1; i < n && kk_source_eq(&v[i]->src,
		    &v[start]->src); i++)
			;
		for (j = start; j < i; j++)
			runlen[j] = i - start;
		if (i - start > most)
			most = i - start;
	}
	for (i = 0; i < n; i++) {
		if (runlen[i] != most)
			continue;
		if (best == NULL || (!v[i]->heard && best->heard) ||
		    (v[i]->heard == best->heard && v[i]->id < best->id))
			best = v[i];
	}
	return best;
}

/*
 * Room for one more handshake from src.  Unauthenticated connections are
 * cheap to open, so the limits are per source: a source at its limit
 * loses its own oldest handshake; when all slots are taken, the source
 * with the most gives one up.  A flood from one address or /64 thus only
 * ever evicts its own connections.
 */
static void
make_room(struct netchild *nc, const struct kk_source *src)
{
	struct nc_conn *c, *own = NULL;
	unsigned n = 0;

	TAILQ_FOREACH(c, &nc->conns, entry) {
		if (c->authed || !kk_source_eq(&c->src, src))
			continue;
		if (own == NULL)
			own = c;
		n++;
	}
	if (n >= KK_NET_MAX_PREAUTH_SRC ||
	    (own != NULL && nc->npreauth >= KK_NET_MAX_PREAUTH)) {
		conn_close(own);
		return;
	}
	if (nc->npreauth >= KK_NET_MAX_PREAUTH &&
	    (c = handshake_to_drop(nc)) != NULL)
		conn_close(c);
}

static int
on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct netchild *nc = userdata;
	struct sockaddr_storage ss;
	struct kk_source src;
	struct nc_conn *c;
	socklen_t sl;
	char peer[48];
	int cfd, i;

	/* bounded: at most 64 accepts per wake-up */
	for (i = 0; i < 64; i++) {
		sl = sizeof(ss);
		memset(&ss, 0, sizeof(ss));
		cfd = accept4(fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0)
			return 0;
		peer_of(&ss, peer, sizeof(peer), &src);
		make_room(nc, &src);
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			close(cfd);
			continue;
		}
		c->nc = nc;
		c->id = ++nc->next_id;
		c->fd = cfd;
		c->src = src;
		memcpy(c->peer, peer, sizeof(c->peer));
		/* receipts are one small write each: send them now */
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
		    sizeof(int));
		kk_frame_reader_init(&c->rd, KK_FRAME_MAX);
		c->ssl = SSL_new(nc->ctx);
		if (c->ssl == NULL || SSL_set_fd(c->ssl, cfd) != 1) {
			SSL_free(c->ssl);
			close(cfd);
			free(c);
			continue;
		}
		SSL_set_accept_state(c->ssl);
		TAILQ_INSERT_TAIL(&nc->conns, c, entry);
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

	if (c == NULL)
		return;
	/* an answer it cannot send: the connection does not wait for it */
	if (c->out || kk_frame_header(hdr, len, KK_FRAME_MAX) < 0) {
		nc_log(nc, c->peer, "closed: an answer of %zu bytes cannot be "
		    "sent", len);
		conn_close(c);
		return;
	}
	c->parent_waits = 0;
	set_deadline(c, KK_NET_IDLE_USEC);
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

/* One message from the parent (freed here): only receipts are read. */
static int
parent_msg(void *arg, uint8_t *msg, size_t len)
{
	struct kk_ipc_hdr h;

	if (len >= sizeof(h)) {
		memcpy(&h, msg, sizeof(h));
		if (h.type == KK_IPC_REPLY)
			on_reply(arg, &h, msg + sizeof(h), len - sizeof(h));
	}
	free(msg);
	return 0;
}

static int
on_parent(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct netchild *nc = userdata;
	int r;

	if (revents & EPOLLOUT) {
		r = kk_ipc_queue_flush(&nc->out, fd, NULL);
		if (r == 0)
			sd_event_source_set_io_events(s, EPOLLIN);
		else if (r != -EAGAIN) {
			sd_event_exit(nc->ev, 1);
			return 0;
		}
	}
	if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return 0;
	r = kk_ipc_read_frames(fd, &nc->prd, parent_msg, nc);
	if (r == -EPIPE)
		/* the parent is gone: nothing here may act on its own */
		sd_event_exit(nc->ev, 0);
	else if (r < 0)
		sd_event_exit(nc->ev, 1);
	return 0;
}

void
kk_netchild_main(int argc, char **argv)
{
	struct kk_tls_material m;
	struct netchild nc;
	uint8_t *cfg;
	size_t cfglen;
	char err[300];
	int r;

	kk_child_enter(argc, argv, "--network-child", "kakurid-net", true);
	memset(&m, 0, sizeof(m));
	if ((cfg = kk_child_read_config(KK_NC_CONFIG_MSEC, &m, 0,
	    &cfglen)) == NULL)
		kk_child_fail("no TLS configuration from the parent");
	memset(&nc, 0, sizeof(nc));
	TAILQ_INIT(&nc.conns);
	nc.lfd = KK_NC_FD_LISTEN;
	nc.pfd = KK_NC_FD_IPC;
	nc.ctx = kk_tls_server_ctx(&m, err, sizeof(err));
	kk_child_config_free(cfg, cfglen);
	if (nc.ctx == NULL)
		kk_child_fail("TLS: %s", err);
	kk_frame_reader_init(&nc.prd, KK_IPC_MAX);
	if (fcntl(nc.pfd, F_SETFL, fcntl(nc.pfd, F_GETFL) | O_NONBLOCK) < 0 ||
	    fcntl(nc.lfd, F_SETFL, fcntl(nc.lfd, F_GETFL) | O_NONBLOCK) < 0 ||
	    sd_event_new(&nc.ev) < 0)
		kk_child_fail("setting up the event loop failed");
	if ((r = kk_child_seccomp(false)) < 0)
		kk_child_fail("seccomp: %s", strerror(-r));
	if (sd_event_add_io(nc.ev, NULL, nc.lfd, EPOLLIN, on_accept, &nc) < 0 ||
	    sd_event_add_io(nc.ev, &nc.pio, nc.pfd, EPOLLIN, on_parent,
	    &nc) < 0)
		kk_child_fail("setting up the event loop failed");
	r = sd_event_loop(nc.ev);
	_exit(r < 0 ? 1 : r);
}
