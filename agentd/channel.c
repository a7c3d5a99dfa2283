/*
 * The CSIRT channel in the root parent: the network child's row of the
 * children table (children.h, netchild.h).  The parent binds agent.listen
 * once for its lifetime and hands the socket to every child it starts, so
 * nobody can take the port while a child restarts; it gives the child its
 * TLS key and certificates (never the identity key, which signs receipts
 * here), submits the envelopes the child passes on to the dispatcher as
 * signed requests, serves chunk requests of granted fetches, and answers
 * with receipts.  Supervision (queue, restarts, the child's words) is
 * children.c's; isolation never depends on any of it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "children.h"
#include "daemon.h"
#include "dispatch.h"
#include "record.h"
#include "run.h"
#include "log.h"
#include "netchild.h"
#include "sign.h"
#include "tls.h"
#include "wire.h"

/* The network child's row of the children table (children.h). */
#define NET_RESTART_MIN		(100ULL * 1000ULL)
#define NET_RESTART_MAX		(2ULL * 1000000ULL)
#define NET_HEALTHY		(10ULL * 1000000ULL)	/* resets the backoff */
#define NET_LOG_WINDOW		(10ULL * 1000000ULL)
#define NET_LOG_LINES		30	/* lines per window into the journal */

struct kd_chan {
	struct kd_child *child;		/* the network child (children.c) */
	int listen_fd;			/* bound once, given to every child */
	char listen_addr[128];		/* what listen_fd is bound to */
	uint8_t *cfg;			/* its TLS material, until it is sent */
	size_t cfglen;
	bool off;			/* the configuration says no: see why */
	char why[240];			/* why there is no child now */
	char logged[240];		/* ... as last logged: said once */
};

/* A receipt, to the connection that asked, if it is still there. */
static void
net_answer(struct kd *d, void *opaque, uint64_t token, struct kd_answer *a)
{
	struct kd_child *c = d->chan != NULL ? d->chan->child : NULL;

	if (c == NULL || (uint32_t)(token >> 32) != c->gen || a->receipt == NULL)
		return;
	kd_child_send(c, KK_IPC_REPLY, (uint32_t)token, a->receipt,
	    strlen(a->receipt));
}

/*
 * What the child says it refused: too-large, busy (a third frame over
 * 1 MiB at once), or malformed; its bytes are not trusted beyond that.
 */
static const char *
child_word(const uint8_t *body, size_t len)
{
	static const char *const words[] = { KE_TOO_LARGE, KE_BUSY };
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (len == strlen(words[i]) && memcmp(body, words[i], len) == 0)
			return words[i];
	return KE_MALFORMED;
}

void
kd_channel_via(const char *peer, char *via, size_t len)
{
	struct kk_addr a;
	uint16_t port;

	if (kk_endpoint_parse(peer, &a, &port) == 0)
		snprintf(via, len, "tls:%s", peer);
	else
		snprintf(via, len, "tls:?");
}

/* One typed message of the network child's. */
static void
net_message(struct kd *d, struct kd_child *c, const struct kk_ipc_hdr *h,
    const uint8_t *body, size_t blen)
{
	struct kd_req req;
	uint8_t *chunk;
	size_t clen;
	char via[96];

	kd_channel_via(h->peer, via, sizeof(via));
	req = (struct kd_req){ .origin = KD_ORIGIN_REMOTE, .actor = via,
	    .reply = net_answer,
	    .token = (uint64_t)c->gen << 32 | h->conn };
	switch (h->type) {
	case KK_IPC_ENVELOPE:
		kd_submit_envelope(d, &req, body, blen);
		break;
	case KK_IPC_CHUNK:
		/* a read of evidence granted to this connection by a fetch */
		if (!kk_frame_is_chunk(body, blen)) {
			kd_child_kill(c, "sent an envelope as a chunk request");
			break;
		}
		/* no memory for the answer: one that needs none */
		if ((chunk = kd_fetch_chunk(d, req.token, body, blen,
		    &clen)) == NULL)
			kd_child_send(c, KK_IPC_REPLY, h->conn,
			    kd_fetch_no_memory, strlen(kd_fetch_no_memory));
		else
			kd_child_send(c, KK_IPC_REPLY, h->conn, chunk, clen);
		free(chunk);
		break;
	case KK_IPC_REJECT:
		/* only the words the child may say; anything else: malformed */
		kd_submit_refused(d, &req, child_word(body, blen),
		    "refused by the network child");
		break;
	default:
		kd_child_other(c, h, body, blen);
		break;
	}
}

/* Grants of fetches belong to the connections of the one that is gone. */
static void
net_gone(struct kd *d, struct kd_child *c)
{
	kd_fetch_forget(d);
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

/* The TLS material, wiped: it is the child's key. */
static void
forget_material(struct kd_chan *ch)
{
	kd_tls_material_forget(&ch->cfg, &ch->cfglen);
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
	ch->listen_fd = kk_close(ch->listen_fd);
	if ((r = kk_tcp_listen(d->policy->listen, &ch->listen_fd, err,
	    sizeof(err))) < 0) {
		snprintf(ch->why, sizeof(ch->why), "%.200s", err);
		no_child(d, false);
		return r;
	}
	snprintf(ch->listen_addr, sizeof(ch->listen_addr), "%s",
	    d->policy->listen);
	return 0;
}

/*
 * The network child's entry: its TLS material checked and ready, the
 * listener bound, then kakurid --network-child as agent.user.  Nothing
 * to start when the channel is off; a wrong configuration is looked at
 * again with the backoff.
 */
/* Turned off by a reload; status says why (trust.conf that does not load). */
static void
chan_off_why(struct kd *d, struct kd_chan *ch)
{
	ch->off = true;
	snprintf(ch->why, sizeof(ch->why), "signed commands are off%s%.200s",
	    d->remote_err[0] ? ": " : "", d->remote_err);
}

static int
net_entry(struct kd *d, struct kd_child *c, pid_t *pid, int *ipc, int *logfd,
    bool *retry)
{
	struct kd_chan *ch = d->chan;
	uid_t uid;
	gid_t gid;
	char err[300] = "";
	int r;

	ch->off = false;
	ch->why[0] = '\0';
	if (d->policy->listen[0] == '\0' || !d->remote_ready) {
		/* turned off by a reload: the port is given back */
		ch->listen_fd = kk_close(ch->listen_fd);
		chan_off_why(d, ch);
		return -ENOKEY;
	}
	*retry = true;
	if (kd_child_user(d, &uid, &gid, err, sizeof(err)) < 0)
		return channel_off(d, -ENOENT, "%s", err);
	if ((r = kd_tls_material(d, d->policy->client_ca, true, NULL, 0,
	    &ch->cfg, &ch->cfglen, err, sizeof(err))) < 0)
		return channel_off(d, r, "%s", err);
	if ((r = ensure_listener(d)) < 0)
		goto fail;
	r = kk_child_spawn("--network-child", ch->listen_fd, uid, gid, pid, ipc,
	    logfd, err, sizeof(err));
	if (r < 0) {
		snprintf(ch->why, sizeof(ch->why), "%.200s", err);
		no_child(d, false);
		goto fail;
	}
	ch->logged[0] = '\0';
	kk_log(LOG_INFO, KK_MID_START,
	    "CSIRT channel on %s (network child %d, uid %u)",
	    d->policy->listen, (int)*pid, (unsigned)uid);
	return 0;
fail:
	forget_material(ch);
	return r;
}

/* Its TLS key and certificates, the first thing it reads. */
static void
net_started(struct kd *d, struct kd_child *c)
{
	kd_child_send(c, KK_IPC_CONFIG, 0, d->chan->cfg, d->chan->cfglen);
	forget_material(d->chan);
}

static const struct kd_child_kind netchild_kind = {
	.name = "network child",
	.entry = net_entry,
	.started = net_started,
	.message = net_message,
	.gone = net_gone,
	.backoff = { NET_RESTART_MIN, NET_RESTART_MAX, NET_HEALTHY },
	.log = { NET_LOG_LINES, NET_LOG_WINDOW },
	.msg_max = KK_IPC_NET_MAX,
};

static int
chan_init(struct kd *d)
{
	struct kd_chan *ch;

	if (d->chan != NULL)
		return 0;
	ch = calloc(1, sizeof(*ch));
	if (ch == NULL)
		return -ENOMEM;
	ch->listen_fd = -1;
	d->chan = ch;
	if ((ch->child = kd_child_new(d, &netchild_kind, ch)) == NULL) {
		free(ch);
		d->chan = NULL;
		return -ENOMEM;
	}
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
	/*
	 * A listener or a fork that failed is tried again by itself; a
	 * configuration that is missing or wrong turns the channel off (it
	 * said so), while signed commands still work through kakurictl apply.
	 */
	kd_child_start(d->chan->child);
	return 0;
}

void
kd_channel_reload(struct kd *d)
{
	if (d->chan == NULL || d->policy->listen[0] == '\0' ||
	    !d->remote_ready) {
		/* off now, or on for the first time */
		if (d->chan != NULL && kd_child_running(d->chan->child)) {
			kd_child_halt(d->chan->child);
			/* the port is given back */
			d->chan->listen_fd = kk_close(d->chan->listen_fd);
		} else if (d->remote_ready) {
			kd_channel_start(d);
			return;
		}
		/* off already: the reason may be new */
		if (d->chan != NULL)
			chan_off_why(d, d->chan);
		return;
	}
	kd_child_restart(d->chan->child);
}

const char *
kd_channel_state(struct kd *d)
{
	static char buf[300];

	if (d->policy->listen[0] == '\0')
		return "off (agent.listen is empty)";
	if (d->chan != NULL && kd_child_running(d->chan->child))
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

	if (ch == NULL)
		return;
	kd_child_free(ch->child);
	forget_material(ch);
	kk_close(ch->listen_fd);
	free(ch);
	d->chan = NULL;
}
