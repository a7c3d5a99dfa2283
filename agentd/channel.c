/*
 * The CSIRT channel in the root parent: supervision of the network child
 * (netchild.h).  The parent binds agent.listen once for its lifetime and
 * hands the socket to every child it starts, so nobody can take the port
 * while a child restarts; it gives the child its TLS key and certificates
 * (never the identity key, which signs receipts here), reads the raw
 * envelopes the child passes on, answers with receipts, and restarts the
 * child with backoff when it dies or falls behind.
 *
 * Nothing here ever waits for the child: what it has not read yet waits
 * in a bounded queue, and a child that stops reading is killed.  Its
 * words (stdout, stderr, log messages) reach the journal only labelled
 * as the child's and rate-limited.  Isolation never depends on any of it.
 */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "daemon.h"
#include "quarantine.h"
#include "record.h"
#include "log.h"
#include "netchild.h"
#include "sign.h"
#include "tls.h"

#define KD_CHILD_LINE		200	/* bytes of one line of the child's */
#define KD_CHILD_LOG_WINDOW	(10ULL * 1000000ULL)
#define KD_CHILD_LOG_LINES	30	/* lines per window into the journal */
#define KD_CHILD_RESTART_MIN	(100ULL * 1000ULL)
#define KD_CHILD_RESTART_MAX	(2ULL * 1000000ULL)
#define KD_CHILD_HEALTHY	(10ULL * 1000000ULL)	/* resets the backoff */

struct kd_chan {
	int listen_fd;			/* bound once, given to every child */
	char listen_addr[128];		/* what listen_fd is bound to */
	int log_fd;			/* the child's stdout and stderr */
	sd_event_source *log_io;
	char line[KD_CHILD_LINE + 1];	/* a line of it, still open */
	size_t line_len;
	struct kk_ipc_queue out;	/* to the child, not yet written */
	sd_event_source *stall;		/* fires when out does not move */
	uint64_t started;		/* CLOCK_MONOTONIC usec */
	bool killed;			/* SIGKILL sent: nothing more to it */
	bool reload;			/* restart at once (SIGHUP) */
	bool off;			/* the configuration says no: see why */
	char why[240];			/* why there is no child now */
	char logged[240];		/* ... as last logged: said once */
	uint64_t log_window;		/* end of the rate window */
	unsigned log_lines;
	unsigned long log_dropped;
};

static int child_spawn(struct kd *d);

static uint64_t
now_usec(struct kd *d)
{
	uint64_t now = 0;

	sd_event_now(d->ev, CLOCK_MONOTONIC, &now);
	return now;
}

/* The child's words: printable ASCII, labelled, at most so many a window. */
static void
child_words(struct kd *d, const char *peer, const char *text, size_t len)
{
	struct kd_chan *ch = d->chan;
	char line[KD_CHILD_LINE + 1];
	uint64_t now = now_usec(d);
	size_t i;

	if (now >= ch->log_window) {
		if (ch->log_dropped)
			kk_log(LOG_NOTICE, KK_MID_CONTROL,
			    "network child: %lu more lines not logged (at most %u in %llu s)",
			    ch->log_dropped, KD_CHILD_LOG_LINES,
			    KD_CHILD_LOG_WINDOW / 1000000ULL);
		ch->log_window = now + KD_CHILD_LOG_WINDOW;
		ch->log_lines = 0;
		ch->log_dropped = 0;
	}
	if (ch->log_lines >= KD_CHILD_LOG_LINES) {
		ch->log_dropped++;
		return;
	}
	ch->log_lines++;
	if (len > KD_CHILD_LINE)
		len = KD_CHILD_LINE;
	for (i = 0; i < len && text[i] != '\0'; i++)
		line[i] = text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?';
	line[i] = '\0';
	kk_log(LOG_NOTICE, KK_MID_CONTROL, "network child: %s%s%s",
	    peer && peer[0] ? peer : "", peer && peer[0] ? ": " : "", line);
}

static void
child_kill(struct kd *d, const char *why)
{
	struct kd_chan *ch = d->chan;

	if (d->child_pid <= 0 || ch->killed)
		return;
	kk_log(LOG_WARNING, KK_MID_ERROR, "network child %d %s; restarting it",
	    (int)d->child_pid, why);
	ch->killed = true;
	kill(d->child_pid, SIGKILL);
	kk_ipc_queue_clear(&ch->out);
	sd_event_source_set_enabled(ch->stall, SD_EVENT_OFF);
	if (d->child_io)
		sd_event_source_set_enabled(d->child_io, SD_EVENT_OFF);
}

/* What the child_io source waits for: input unless behind, output if any. */
static void
child_events(struct kd *d)
{
	struct kd_chan *ch = d->chan;
	uint32_t ev = 0;

	if (d->child_io == NULL || ch->killed)
		return;
	/* backpressure: a child we cannot answer gets nothing more read */
	if (ch->out.bytes < KK_IPC_QUEUE_PAUSE)
		ev |= EPOLLIN;
	if (ch->out.bytes > 0)
		ev |= EPOLLOUT;
	sd_event_source_set_io_events(d->child_io, ev);
}

static void
child_flush(struct kd *d)
{
	struct kd_chan *ch = d->chan;
	size_t written = 0;
	int armed = 0;

	if (d->child_fd < 0 || ch->killed)
		return;
	/* a broken socket is a dead child: its exit cleans up */
	kk_ipc_queue_flush(&ch->out, d->child_fd, &written);
	if (ch->out.bytes == 0)
		sd_event_source_set_enabled(ch->stall, SD_EVENT_OFF);
	else if (written > 0 || sd_event_source_get_enabled(ch->stall,
	    &armed) < 0 || armed == SD_EVENT_OFF) {
		/* the child has STALL to take more, from its last progress */
		sd_event_source_set_time(ch->stall, now_usec(d) +
		    KK_IPC_STALL_USEC);
		sd_event_source_set_enabled(ch->stall, SD_EVENT_ONESHOT);
	}
	child_events(d);
}

/* One message to the child: queued, written as far as it goes now. */
static void
child_send(struct kd *d, uint32_t type, uint32_t conn, const void *body,
    size_t len)
{
	struct kd_chan *ch = d->chan;
	char why[96];

	if (d->child_fd < 0 || ch->killed)
		return;
	if (kk_ipc_queue_add(&ch->out, type, conn, NULL, body, len) < 0) {
		child_kill(d, "cannot be answered (out of memory)");
		return;
	}
	if (ch->out.bytes > KK_IPC_QUEUE_MAX) {
		snprintf(why, sizeof(why), "fell behind (%zu bytes not read)",
		    ch->out.bytes);
		child_kill(d, why);
		return;
	}
	child_flush(d);
}

static int
on_stall(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kd *d = userdata;
	char why[128];

	if (d->chan->out.bytes == 0)
		return 0;
	snprintf(why, sizeof(why), "read nothing for %llu ms (%zu bytes waiting)",
	    KK_IPC_STALL_USEC / 1000ULL, d->chan->out.bytes);
	child_kill(d, why);
	return 0;
}

/* A deferred receipt, to the connection that asked, if it is still there. */
static void
net_reply(struct kd *d, uint64_t token, const char *receipt)
{
	if ((uint32_t)(token >> 32) != d->child_gen)
		return;
	child_send(d, KK_IPC_REPLY, (uint32_t)token, receipt, strlen(receipt));
}

static void
child_msg(struct kd *d, const uint8_t *msg, size_t len)
{
	struct kk_ipc_hdr h;
	const uint8_t *body = msg + sizeof(h);
	size_t blen = len - sizeof(h);
	char via[96], *text = NULL;
	uint64_t token;
	size_t i;

	if (len < sizeof(h))
		return;
	memcpy(&h, msg, sizeof(h));
	h.peer[sizeof(h.peer) - 1] = '\0';
	/* the child's words are data: printable ASCII only into the logs */
	for (i = 0; h.peer[i]; i++)
		if (h.peer[i] < 0x20 || h.peer[i] > 0x7e)
			h.peer[i] = '?';
	snprintf(via, sizeof(via), "tls:%s", h.peer);
	token = (uint64_t)d->child_gen << 32 | h.conn;
	switch (h.type) {
	case KK_IPC_ENVELOPE: {
		bool pending;
		uint8_t *chunk;
		size_t clen;

		/* a read of evidence granted to this connection by a fetch */
		chunk = kd_fetch_chunk(d, token, body, blen, &clen);
		if (chunk != NULL) {
			child_send(d, KK_IPC_REPLY, h.conn, chunk, clen);
			free(chunk);
			return;
		}
		text = kd_remote_handle(d, body, blen, via, net_reply, token,
		    &pending);
		break;
	}
	case KK_IPC_REJECT:
		/* only the two words the child may say */
		text = kd_remote_reject(d, blen == 9 && memcmp(body, "too-large",
		    9) == 0 ? "too-large" : "malformed", via);
		break;
	case KK_IPC_LOG:
		child_words(d, h.peer, (const char *)body, blen);
		return;
	default:
		return;
	}
	if (text) {
		child_send(d, KK_IPC_REPLY, h.conn, text, strlen(text));
		free(text);
	}
}

static int
on_child_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct kd *d = userdata;
	struct kd_chan *ch = d->chan;
	uint8_t buf[65536];
	size_t used, off = 0;
	ssize_t n;
	int r;

	if (revents & EPOLLOUT)
		child_flush(d);
	if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) || ch->killed ||
	    ch->out.bytes >= KK_IPC_QUEUE_PAUSE)
		goto out;
	n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		goto out;
	if (n <= 0) {
		/* gone: its exit cleans up */
		sd_event_source_set_enabled(s, SD_EVENT_OFF);
		return 0;
	}
	while (off < (size_t)n && !ch->killed) {
		r = kk_frame_feed(&d->child_rd, buf + off, (size_t)n - off, &used);
		off += used;
		if (r < 0) {
			/* a child that breaks the protocol is not trusted further */
			child_kill(d, "broke the IPC framing");
			return 0;
		}
		if (r == 1) {
			size_t len;
			uint8_t *msg = kk_frame_take(&d->child_rd, &len);

			child_msg(d, msg, len);
			free(msg);
		}
	}
out:
	child_events(d);
	return 0;
}

/* The child's stdout and stderr, line by line. */
static void
log_drain(struct kd *d, bool all)
{
	struct kd_chan *ch = d->chan;
	char buf[4096];
	ssize_t n, i;

	/* bounded: one read a wake-up */
	n = read(ch->log_fd, buf, sizeof(buf));
	for (i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			child_words(d, NULL, ch->line, ch->line_len);
			ch->line_len = 0;
		} else if (ch->line_len < KD_CHILD_LINE) {
			ch->line[ch->line_len++] = buf[i];
		}
	}
	if ((n <= 0 && !(n < 0 && errno == EAGAIN)) || all) {
		if (ch->line_len)
			child_words(d, NULL, ch->line, ch->line_len);
		ch->line_len = 0;
		if (n == 0 || all)
			sd_event_source_set_enabled(ch->log_io, SD_EVENT_OFF);
	}
}

static int
on_child_log(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	log_drain(userdata, false);
	return 0;
}

static void
child_forget(struct kd *d)
{
	struct kd_chan *ch = d->chan;

	sd_event_source_disable_unref(d->child_io);
	sd_event_source_disable_unref(d->child_src);
	sd_event_source_disable_unref(ch->log_io);
	d->child_io = d->child_src = ch->log_io = NULL;
	if (d->child_fd >= 0)
		close(d->child_fd);
	if (ch->log_fd >= 0)
		close(ch->log_fd);
	d->child_fd = ch->log_fd = -1;
	d->child_pid = 0;
	kk_ipc_queue_clear(&ch->out);
	sd_event_source_set_enabled(ch->stall, SD_EVENT_OFF);
	kk_frame_reader_reset(&d->child_rd);
	ch->killed = false;
	/* replies still on their way belong to this child: they go nowhere */
	d->child_gen++;
	kd_fetch_forget(d);
}

static int
on_restart_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct kd *d = userdata;

	sd_event_source_disable_unref(d->child_timer);
	d->child_timer = NULL;
	child_spawn(d);
	return 0;
}

/* Another attempt later: 100 ms, doubling up to 2 s while it keeps failing. */
static void
schedule_spawn(struct kd *d, bool at_once)
{
	uint64_t delay = at_once ? 0 : KD_CHILD_RESTART_MIN <<
	    (d->child_restarts < 5 ? d->child_restarts : 5);

	if (d->child_timer != NULL)
		return;
	if (delay > KD_CHILD_RESTART_MAX)
		delay = KD_CHILD_RESTART_MAX;
	if (!at_once)
		d->child_restarts++;
	if (sd_event_add_time(d->ev, &d->child_timer, CLOCK_MONOTONIC,
	    now_usec(d) + delay, 0, on_restart_timer, d) < 0)
		kk_log(LOG_ERR, KK_MID_ERROR,
		    "CSIRT channel: cannot schedule the network child's restart");
}

static int
on_child_exit(sd_event_source *s, const siginfo_t *si, void *userdata)
{
	struct kd *d = userdata;
	struct kd_chan *ch = d->chan;

	/* what it said last belongs before the news of its death */
	if (ch->log_io)
		log_drain(d, true);
	kk_log(LOG_WARNING, KK_MID_ERROR,
	    "network child %d %s %d; isolation is unaffected, restarting it",
	    (int)si->si_pid, si->si_code == CLD_EXITED ? "exited with" :
	    "killed by signal", si->si_status);
	kd_audit(d, "kakurid", "network-child", "restarted",
	    json_pack("{s:i, s:i}", "pid", (int)si->si_pid,
	    "status", si->si_status));
	if (now_usec(d) - ch->started >= KD_CHILD_HEALTHY)
		d->child_restarts = 0;
	child_forget(d);
	schedule_spawn(d, ch->reload);
	ch->reload = false;
	return 0;
}

/* Why no child runs, logged once however often a retry finds it again. */
static void
no_child(struct kd *d, bool off)
{
	struct kd_chan *ch = d->chan;

	ch->off = off;
	if (strcmp(ch->logged, ch->why) == 0)
		return;
	snprintf(ch->logged, sizeof(ch->logged), "%s", ch->why);
	if (off)
		kk_log(LOG_ERR, KK_MID_ERROR, "CSIRT channel off: %s", ch->why);
	else
		kk_log(LOG_ERR, KK_MID_ERROR, "CSIRT channel: %s; trying again",
		    ch->why);
}

/*
 * The child's configuration is missing or wrong: the channel is off, and
 * looked at again with the restart backoff (kakurid --init, a fixed file).
 */
static int
channel_off(struct kd *d, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
channel_off(struct kd *d, int r, const char *fmt, ...)
{
	struct kd_chan *ch = d->chan;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ch->why, sizeof(ch->why), fmt, ap);
	va_end(ap);
	no_child(d, true);
	return r;
}

/*
 * The child's TLS material as one KK_IPC_CONFIG body, checked here first
 * with the code the child runs (so the reason lands in our log): its key
 * and certificate, certified by the identity key the parent holds.
 */
static int
load_material(struct kd *d, uint8_t **out, size_t *outlen)
{
	const char *path[KK_PEM__MAX] = { d->policy->tls_key,
		d->policy->tls_cert, d->policy->cert, d->policy->client_ca };
	char *pem[KK_PEM__MAX] = { NULL }, err[300];
	size_t len[KK_PEM__MAX] = { 0 }, total = 0, pos;
	struct kk_tls_material m;
	struct kk_ipc_config cfg;
	EVP_PKEY *idpub = NULL;
	X509 *idcert = NULL;
	SSL_CTX *ctx = NULL;
	uint8_t *body = NULL;
	int i, r;

	for (i = 0; i < KK_PEM__MAX; i++) {
		if ((r = kk_pem_read(path[i], &pem[i], &len[i])) < 0) {
			r = channel_off(d, r, "%.200s: %s%s", path[i], strerror(-r),
			    i <= KK_PEM_TLS_CERT ? " (run kakurid --init to make "
			    "the network child's TLS key)" : "");
			goto out;
		}
		total += len[i];
	}
	m = (struct kk_tls_material){ pem[0], len[0], pem[1], len[1], pem[2],
		len[2], pem[3], len[3] };
	if ((ctx = kk_tls_server_ctx(&m, err, sizeof(err))) == NULL) {
		r = channel_off(d, -EINVAL, "%s (run kakurid --init)", err);
		goto out;
	}
	/* the chain the child shows must be the identity that signs here */
	if (kk_cert_load(d->policy->cert, &idcert) < 0 ||
	    (idpub = X509_get0_pubkey(idcert)) == NULL ||
	    EVP_PKEY_eq(idpub, d->agent_key) != 1) {
		r = channel_off(d, -EINVAL, "%.200s does not carry the identity "
		    "key %.200s", d->policy->cert, d->policy->key);
		goto out;
	}
	body = malloc(sizeof(cfg) + total);
	if (body == NULL) {
		r = channel_off(d, -ENOMEM, "out of memory");
		goto out;
	}
	pos = sizeof(cfg);
	for (i = 0; i < KK_PEM__MAX; i++) {
		cfg.len[i] = (uint32_t)len[i];
		memcpy(body + pos, pem[i], len[i]);
		pos += len[i];
	}
	memcpy(body, &cfg, sizeof(cfg));
	*out = body;
	*outlen = pos;
	r = 0;
out:
	for (i = 0; i < KK_PEM__MAX; i++)
		kk_pem_free(pem[i]);
	X509_free(idcert);
	SSL_CTX_free(ctx);
	return r;
}

/* agent.listen, bound once; again only when the policy names another. */
static int
ensure_listener(struct kd *d)
{
	struct kd_chan *ch = d->chan;
	char err[300];
	int r;

	if (ch->listen_fd >= 0 && strcmp(ch->listen_addr, d->policy->listen) == 0)
		return 0;
	if (ch->listen_fd >= 0)
		close(ch->listen_fd);
	ch->listen_fd = -1;
	if ((r = kk_netchild_listen(d->policy->listen, &ch->listen_fd, err,
	    sizeof(err))) < 0) {
		snprintf(ch->why, sizeof(ch->why), "%.200s", err);
		no_child(d, false);
		return r;
	}
	snprintf(ch->listen_addr, sizeof(ch->listen_addr), "%s",
	    d->policy->listen);
	return 0;
}

static int
child_spawn(struct kd *d)
{
	struct kd_chan *ch = d->chan;
	struct passwd *pw;
	uint8_t *cfg = NULL;
	size_t cfglen = 0;
	char err[300] = "";
	int r;

	ch->off = false;
	ch->why[0] = '\0';
	if (d->policy->listen[0] == '\0' || !d->remote_ready) {
		/* turned off by a reload: the port is given back */
		if (ch->listen_fd >= 0)
			close(ch->listen_fd);
		ch->listen_fd = -1;
		ch->off = true;
		snprintf(ch->why, sizeof(ch->why), "signed commands are off");
		r = 0;
		goto out;
	}
	pw = getpwnam(d->policy->user);
	if (pw == NULL || pw->pw_uid == 0) {
		r = channel_off(d, -ENOENT, "agent.user '%s' %s", d->policy->user,
		    pw ? "is root" : "does not exist");
		schedule_spawn(d, false);
		goto out;
	}
	if ((r = load_material(d, &cfg, &cfglen)) < 0) {
		schedule_spawn(d, false);
		goto out;
	}
	if ((r = ensure_listener(d)) < 0) {
		schedule_spawn(d, false);
		goto out;
	}
	r = kk_netchild_spawn(ch->listen_fd, pw->pw_uid, pw->pw_gid,
	    &d->child_pid, &d->child_fd, &ch->log_fd, err, sizeof(err));
	if (r < 0) {
		snprintf(ch->why, sizeof(ch->why), "%.200s", err);
		no_child(d, false);
		schedule_spawn(d, false);
		goto out;
	}
	ch->started = now_usec(d);
	kk_frame_reader_init(&d->child_rd, KK_IPC_MAX);
	if ((r = sd_event_add_io(d->ev, &d->child_io, d->child_fd, EPOLLIN,
	    on_child_io, d)) < 0 ||
	    (r = sd_event_add_io(d->ev, &ch->log_io, ch->log_fd, EPOLLIN,
	    on_child_log, d)) < 0 ||
	    (r = sd_event_add_child(d->ev, &d->child_src, d->child_pid,
	    WEXITED, on_child_exit, d)) < 0) {
		kill(d->child_pid, SIGKILL);
		waitpid(d->child_pid, NULL, 0);
		child_forget(d);
		schedule_spawn(d, false);
		goto out;
	}
	/* its TLS key and certificates, first thing it reads */
	child_send(d, KK_IPC_CONFIG, 0, cfg, cfglen);
	ch->logged[0] = '\0';
	kk_log(LOG_INFO, KK_MID_START,
	    "CSIRT channel on %s (network child %d, uid %u)",
	    d->policy->listen, (int)d->child_pid, (unsigned)pw->pw_uid);
	r = 0;
out:
	if (cfg != NULL) {
		OPENSSL_cleanse(cfg, cfglen);
		free(cfg);
	}
	return r;
}

static int
chan_init(struct kd *d)
{
	struct kd_chan *ch;
	int r;

	if (d->chan != NULL)
		return 0;
	ch = calloc(1, sizeof(*ch));
	if (ch == NULL)
		return -ENOMEM;
	ch->listen_fd = ch->log_fd = -1;
	r = sd_event_add_time(d->ev, &ch->stall, CLOCK_MONOTONIC, 0, 0,
	    on_stall, d);
	if (r < 0) {
		free(ch);
		return r;
	}
	sd_event_source_set_enabled(ch->stall, SD_EVENT_OFF);
	d->chan = ch;
	return 0;
}

int
kd_channel_start(struct kd *d)
{
	int r;

	if (d->policy->listen[0] == '\0') {
		snprintf(d->remote_err, sizeof(d->remote_err),
		    "agent.listen is empty");
		return 0;
	}
	if (!d->remote_ready)
		return -ENOKEY;
	if ((r = chan_init(d)) < 0)
		return r;
	if (d->child_pid > 0 || d->child_timer != NULL)
		return 0;
	/*
	 * A listener or a fork that failed is tried again by itself; a
	 * configuration that is missing or wrong turns the channel off (it
	 * said so), while signed commands still work through kakurictl apply.
	 */
	child_spawn(d);
	return 0;
}

void
kd_channel_reload(struct kd *d)
{
	if (d->chan == NULL || d->policy->listen[0] == '\0' ||
	    !d->remote_ready) {
		/* off now, or on for the first time */
		if (d->child_pid > 0)
			kill(d->child_pid, SIGKILL);
		else if (d->remote_ready)
			kd_channel_start(d);
		return;
	}
	d->child_restarts = 0;
	if (d->child_pid > 0) {
		/* the new settings with the next child, at once */
		d->chan->reload = true;
		kill(d->child_pid, SIGKILL);
		return;
	}
	/* a retry that was waiting: now, with the new settings */
	sd_event_source_disable_unref(d->child_timer);
	d->child_timer = NULL;
	kd_channel_start(d);
}

const char *
kd_channel_state(struct kd *d)
{
	static char buf[300];

	if (d->policy->listen[0] == '\0')
		return "off (agent.listen is empty)";
	if (d->child_pid > 0)
		return "listening";
	if (d->chan != NULL && d->chan->off) {
		snprintf(buf, sizeof(buf), "off: %s", d->chan->why);
		return buf;
	}
	if (d->remote_ready && d->chan != NULL && d->chan->why[0]) {
		/* a listener or a fork that failed: tried again by itself */
		snprintf(buf, sizeof(buf), "restarting (%s)", d->chan->why);
		return buf;
	}
	if (d->remote_ready)
		return "restarting";
	return d->remote_err[0] ? d->remote_err : "off";
}

void
kd_channel_stop(struct kd *d)
{
	struct kd_chan *ch = d->chan;

	if (d->child_pid > 0)
		kill(d->child_pid, SIGKILL);
	sd_event_source_disable_unref(d->child_timer);
	d->child_timer = NULL;
	if (ch == NULL) {
		d->child_pid = 0;
		return;
	}
	child_forget(d);
	sd_event_source_disable_unref(ch->stall);
	if (ch->listen_fd >= 0)
		close(ch->listen_fd);
	free(ch);
	d->chan = NULL;
}
