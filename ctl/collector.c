/*
 * kakurictl collector: the CSIRT's receiving end of the agents' outboxes
 * (DESIGN 7, issue 10).  A mutual TLS server: an agent is accepted by
 * the CA that certified its identity (--ca) or by its agent id listed in
 * --agents; each report envelope is verified with the key of that same
 * identity, stored as DIR/<agent>/<id>.json (a temporary file renamed
 * into place), appended to DIR/index.jsonl, all of a batch synced at once
 * (syncfs: the files, their directories, the index), and only then
 * acked with a signature of the collector's own key over (agent, id,
 * sha256).  A report already stored is acked again without a second
 * copy.  One line per stored report on stdout (the journal under
 * systemd); --exec runs a program with the stored file's path, no shell;
 * both once the sync has put the report on disk (colannounce.c).
 *
 * One process, one sd-event loop, non-blocking TLS; every connection
 * holds at most one frame of a report (2 MiB) and its answer, and the
 * number of connections is bounded.
 */
#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <systemd/sd-event.h>

#include "client.h"
#include "collector.h"
#include "colquota.h"
#include "commands.h"
#include "ctl.h"
#include "kakuri.h"
#include "options.h"
#include "output.h"
#include "report.h"
#include "sign.h"
#include "tls.h"
#include "wire.h"

static void conn_close(struct col_conn *cn);

static void
say(struct col_conn *cn, const char *fmt, ...) __attribute__((format(printf,
    2, 3)));
static void
say_once(struct col_conn *cn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
vsay(struct col_conn *cn, const char *fmt, va_list ap)
{
	fprintf(stderr, "collector: %s%s%.16s: ", cn->peer,
	    cn->agent[0] ? " agent " : "", cn->agent);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

/* A line about a connection on stderr (the journal under systemd). */
static void
say(struct col_conn *cn, const char *fmt, ...)
{
	va_list ap;

	if (cn->may_say != NULL && !cn->may_say(cn))
		return;
	va_start(ap, fmt);
	vsay(cn, fmt, ap);
	va_end(ap);
}

/* One that is said once (an hour) already: never left out by may_say. */
static void
say_once(struct col_conn *cn, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(cn, fmt, ap);
	va_end(ap);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * --agents or --deny FILE: one agent id per line, # comments; added to
 * what list holds (the option may be given more than once), sorted.
 */
int
col_load_ids(const char *path, char ***list, size_t *nlist)
{
	char *text = NULL, *line, *save = NULL, *p;
	size_t len;
	char **v;
	int r;

	if ((r = kk_read_file(path, 16U << 20, &text, &len)) < 0) {
		fail_line("%s: %s", path, strerror(-r));
		return -1;
	}
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		line += strspn(line, " \t");
		line[strcspn(line, " \t\r")] = '\0';
		if (*line == '\0')
			continue;
		if (!kk_is_hex(line, strlen(line), KK_AGENT_ID_HEX)) {
			fail_line("%s: '%.80s' is not an agent id (%d lowercase "
			    "hex digits)", path, line, KK_AGENT_ID_HEX);
			goto fail;
		}
		if (*nlist == COL_MAX_AGENTS_LISTED) {
			fail_line("%s: more than %d agents", path,
			    COL_MAX_AGENTS_LISTED);
			goto fail;
		}
		/* room by 64 at a time: a list may be loaded into again */
		if (*nlist % 64 == 0) {
			if ((v = reallocarray(*list, *nlist + 64,
			    sizeof(*v))) == NULL)
				goto fail;
			*list = v;
		}
		if (((*list)[*nlist] = strdup(line)) == NULL)
			goto fail;
		(*nlist)++;
	}
	free(text);
	if (*nlist > 0)
		qsort(*list, *nlist, sizeof(char *), cmp_str);
	return 0;
fail:
	free(text);
	return -1;
}

bool
col_agent_in(char *const *list, size_t n, const char *id)
{
	return n > 0 && bsearch(&id, list, n, sizeof(char *), cmp_str) !=
	    NULL;
}

bool
col_agent_listed(struct collector *col, const char *id)
{
	return col_agent_in(col->agents, col->nagents, id);
}

/* ---- connections ---- */

static void
conn_events(struct col_conn *cn, bool want_write)
{
	sd_event_source_set_io_events(cn->io, EPOLLIN | (want_write ?
	    EPOLLOUT : 0));
}

/*
 * One framed answer after the ones still to send (the answers of a batch
 * go out together, after one sync); the connection is closed after it if
 * last.
 */
static void
answer(struct col_conn *cn, const char *text, bool last)
{
	size_t len = strlen(text);
	uint8_t *out;

	if ((out = realloc(cn->out, cn->out_len + len + 4)) == NULL ||
	    kk_frame_header(out + cn->out_len, len, KK_ACK_MAX) < 0) {
		cn->out = out ? out : cn->out;
		cn->closing = true;
		return;
	}
	memcpy(out + cn->out_len + 4, text, len);
	cn->out = out;
	cn->out_len += len + 4;
	cn->nanswers++;
	cn->closing = cn->closing || last;
}

/* {"error": word, "message": msg}, the last answer of the connection. */
static void
answer_words(struct col_conn *cn, const char *word, const char *msg)
{
	json_t *o = kk_wire_error(word, msg);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

	answer(cn, text ? text : "{}", true);
	free(text);
	json_decref(o);
}

/* A report refused, the last answer of the connection; said if loud. */
static void
refuse(struct col_conn *cn, const char *word, const char *msg, bool loud)
{
	cn->col->refused++;
	if (loud)
		say(cn, "refused: %s: %s", word, msg);
	answer_words(cn, word, msg);
}

static void
answer_error(struct col_conn *cn, const char *word, const char *msg)
{
	refuse(cn, word, msg, true);
}

/*
 * 0 if the agent may store a report of len bytes (colquota.c), before
 * a byte of it is verified: an agent over its quota costs the collector
 * no signature check and no disk.  Its first refusal is said, the rest
 * are counted; else what col_quota_check said, answered.
 */
static int
within_quota(struct col_conn *cn, size_t len)
{
	struct collector *col = cn->col;
	char msg[160];
	uint64_t wait;
	bool first;
	int r;

	r = col_quota_check(cn->quota, cn->agent, len, col_now_usec(col), &wait,
	    &first);
	if (r == 0)
		return 0;
	if (r == -EDQUOT) {
		snprintf(msg, sizeof(msg), "over this agent's quota at the "
		    "collector: sent again in %llu s at the earliest",
		    (unsigned long long)(wait / 1000000 + 1));
		if (first)
			say_once(cn, "over its quota (--agent-quota): its reports "
			    "are refused for %llu s at least; a compromised host?",
			    (unsigned long long)(wait / 1000000 + 1));
		refuse(cn, KE_RATE_LIMITED, msg, false);
	} else
		answer_error(cn, KE_BUSY, r == -EUSERS ? "too many agents "
		    "stored within the hour" : strerror(-r));
	return r;
}

/* One whole report frame from an authenticated agent. */
bool
col_report(struct col_conn *cn, const uint8_t *buf, size_t len)
{
	const char *why = "", *word;
	char sha[65], *ack;
	bool conflict;
	json_t *p;
	int r;

	/*
	 * only the broker's can be larger (a frame holds no more): not
	 * charged, read or said (anyone there may publish it), counted
	 */
	if (len > KK_REPORT_MAX) {
		refuse(cn, KE_TOO_LARGE, "a report is 2 MiB at most", false);
		return false;
	}
	if ((r = within_quota(cn, len)) < 0)
		return r != -EDQUOT;
	p = kk_report_open(buf, len, cn->identity, cn->agent, &why);
	if (p == NULL) {
		/*
		 * what the agent made the collector read and verify costs it
		 * as a stored report does: forged or broken reports sent
		 * without end would otherwise cost nothing but CPU.  One who
		 * has only the agent's TLS key can so delay its reports (they
		 * wait in its outbox), as holding its connections could.
		 */
		col_charge(cn, len, "a report refused");
		answer_error(cn, KE_BAD_SIGNATURE, why);
		return false;
	}
	if ((r = col_store(cn, buf, len, p, &word)) == -EBUSY) {
		/* the first said, the rest summed up at the next sync */
		if (cn->col->unsynced_refused++ == 0)
			say_once(cn, "refused: the disk does not sync, and the "
			    "reports waiting for it leave no place for this "
			    "agent's (its share: %d of %d): reports refused "
			    "until a sync succeeds", COLQ_UNSYNCED_PER_AGENT,
			    COL_UNSYNCED_MAX);
		refuse(cn, KE_BUSY, "the collector's disk does not sync, and "
		    "the reports waiting for it leave no place for this one",
		    false);
		json_decref(p);
		return true;
	}
	if (r == -ENOSPC && strcmp(word, KE_BUSY) == 0) {
		refuse(cn, KE_BUSY, "the collector's disk is nearly full", false);
		json_decref(p);
		return true;
	}
	if (r < 0) {
		/* a conflict is the agent's doing, a failing disk is not */
		if ((conflict = strcmp(word, KE_REPLAY) == 0))
			col_charge(cn, len, "a report refused");
		answer_error(cn, word, r == -EEXIST ? "a report with this id "
		    "and other content is stored" : strerror(-r));
		json_decref(p);
		return !conflict;
	}
	kk_sha256_hex(buf, len, sha);
	ack = kk_ack_make(cn->col->key, cn->agent,
	    json_string_value(json_object_get(p, KW_ID)), sha);
	json_decref(p);
	if (ack == NULL) {
		answer_error(cn, KE_IO, "cannot sign the ack");
		return true;
	}
	answer(cn, ack, false);
	free(ack);
	return true;
}

/*
 * After the handshake: who the agent is, and whether it is welcome.  One
 * refused is told why, in the words of a refused report: its courier
 * says them in its outbox and journal (a PC retired or not yet listed
 * is a CSIRT's to-do, not a network fault to chase).  The peer proved
 * the key of the identity it is told about; the answer is one small
 * frame, written once.
 */
static int
authenticate(struct col_conn *cn)
{
	struct collector *col = cn->col;
	STACK_OF(X509) *sent = SSL_get_peer_cert_chain(cn->ssl), *chain;
	struct col_conn *o;
	char why[240];
	unsigned n = 0;
	int i, r;

	/* a server's view of the chain lacks the peer's own certificate */
	if ((chain = sk_X509_new_null()) == NULL ||
	    sk_X509_push(chain, SSL_get0_peer_certificate(cn->ssl)) <= 0) {
		sk_X509_free(chain);
		return -ENOMEM;
	}
	for (i = 0; sent != NULL && i < sk_X509_num(sent) && i < 8; i++)
		sk_X509_push(chain, sk_X509_value(sent, i));
	r = kk_tls_chain_identity(chain, col->ca, &cn->identity, cn->agent,
	    why, sizeof(why));
	sk_X509_free(chain);
	if (r < 0) {
		say(cn, "not an agent: %s", why);
		answer_words(cn, r == -ENOMEM ? KE_BUSY : KE_NOT_AUTHORIZED,
		    why);
		return r;
	}
	if (col->ca == NULL && !col_agent_listed(col, cn->agent)) {
		say(cn, "agent not listed in --agents");
		answer_words(cn, KE_NOT_AUTHORIZED, "this agent is not "
		    "listed at the collector (--agents)");
		return -EACCES;
	}
	/* a PC stolen or retired: its CA-made identity still verifies */
	if (col_agent_in(col->denied, col->ndenied, cn->agent)) {
		say(cn, "agent denied (--deny)");
		answer_words(cn, KE_NOT_AUTHORIZED, "this agent is denied at "
		    "the collector (--deny)");
		return -EACCES;
	}
	/* one agent cannot take the slots of the others */
	LIST_FOREACH(o, &col->conns, entry)
		if (o != cn && o->authed && o->identity != NULL &&
		    strcmp(o->agent, cn->agent) == 0 &&
		    ++n >= COL_MAX_PER_AGENT) {
			say(cn, "agent %.16s has %u connections already",
			    cn->agent, COL_MAX_PER_AGENT);
			answer_words(cn, KE_BUSY, "this agent has as many "
			    "connections as the collector takes");
			return -EBUSY;
		}
	return 0;
}

/*
 * Closed after usec without a byte, and a report begun when its
 * --frame-timeout is over, however its bytes trickle in.
 */
static void
conn_touch(struct col_conn *cn, uint64_t usec)
{
	struct timespec ts;
	uint64_t now, when;

	/* the clock, not the loop's wakeup: a report is timed from its read */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
	if (!kk_frame_partial(&cn->rd))
		cn->frame_end = 0;
	else if (cn->frame_end == 0)
		cn->frame_end = now +
		    (uint64_t)cn->col->frame_timeout_s * 1000000ULL;
	when = now + usec;
	if (cn->frame_end != 0 && cn->frame_end < when)
		when = cn->frame_end;
	sd_event_source_set_time(cn->timer, when);
}

static int
frame_in(void *arg, uint8_t *body, size_t len)
{
	struct col_conn *cn = arg;

	/*
	 * Whole: the deadline was this report's.  The next one's starts at
	 * its own first byte, which may have come in the same read.
	 */
	cn->frame_end = 0;
	/* after an error answer the connection only closes */
	if (!cn->closing)
		col_report(cn, body, len);
	free(body);
	return cn->closing || cn->nanswers >= COL_PIPELINE;
}

static int on_conn_io(sd_event_source *s, int fd, uint32_t events,
    void *arg);

static int
on_conn_again(sd_event_source *s, void *arg)
{
	struct col_conn *cn = arg;

	return on_conn_io(cn->io, cn->fd, EPOLLIN, cn);
}

/*
 * The connection's next batch at the loop's next turn: the records
 * OpenSSL holds already are no event for epoll.  0, or -errno (the
 * connection is then closed: it cannot be served in turn).
 */
static int
conn_again(struct col_conn *cn)
{
	if (cn->again == NULL)
		return sd_event_add_defer(cn->col->ev, &cn->again,
		    on_conn_again, cn);
	return sd_event_source_set_enabled(cn->again, SD_EVENT_ONESHOT);
}

/*
 * A connection's answers out, then its next batch read, stored and synced
 * (one syncfs for the batch), one batch a wakeup: a peer that pipelines
 * batch after batch (one agent's quota allows thousands of reports)
 * would otherwise hold the loop, every other agent's reports and
 * handshakes waiting, until it stopped.
 */
static int
on_conn_io(sd_event_source *s, int fd, uint32_t events, void *arg)
{
	struct col_conn *cn = arg;
	struct collector *col = cn->col;
	uint8_t buf[16384];
	size_t used;
	int n, err, r, rounds, batches;

	if (!cn->authed) {
		if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			cn->heard = true;
		ERR_clear_error();
		n = SSL_do_handshake(cn->ssl);
		if (n != 1) {
			err = SSL_get_error(cn->ssl, n);
			if (err == SSL_ERROR_WANT_READ ||
			    err == SSL_ERROR_WANT_WRITE) {
				conn_events(cn, err == SSL_ERROR_WANT_WRITE);
				return 0;
			}
			conn_close(cn);
			return 0;
		}
		col->npreauth--;
		cn->authed = true;
		if (authenticate(cn) < 0) {
			/*
			 * Its refusal written once, not waited on: a peer
			 * refused holds no place an agent's could take.
			 */
			if (cn->out_len > 0) {
				ERR_clear_error();
				(void)SSL_write(cn->ssl, cn->out,
				    (int)cn->out_len);
			}
			conn_close(cn);
			return 0;
		}
		conn_touch(cn, COL_IDLE_USEC);
		conn_events(cn, false);
	}
	for (batches = 0;; batches++) {
		/* the answers out first: the next reports after them */
		while (cn->out_off < cn->out_len) {
			/*
			 * SSL_get_error reads the thread's error queue: what
			 * another connection's failed handshake left there
			 * would close this one.
			 */
			ERR_clear_error();
			n = SSL_write(cn->ssl, cn->out + cn->out_off,
			    (int)(cn->out_len - cn->out_off));
			if (n <= 0) {
				err = SSL_get_error(cn->ssl, n);
				if (err == SSL_ERROR_WANT_WRITE ||
				    err == SSL_ERROR_WANT_READ) {
					conn_events(cn, true);
					return 0;
				}
				conn_close(cn);
				return 0;
			}
			cn->out_off += (size_t)n;
		}
		if (cn->out_len > 0) {
			free(cn->out);
			cn->out = NULL;
			cn->out_len = cn->out_off = 0;
			cn->nanswers = 0;
			if (cn->closing) {
				conn_close(cn);
				return 0;
			}
			conn_events(cn, false);
		}
		if (batches > 0) {
			/*
			 * The rest in turn: epoll says again what the socket
			 * holds; what OpenSSL read already, a defer source.
			 */
			if (SSL_has_pending(cn->ssl) && conn_again(cn) < 0)
				conn_close(cn);
			return 0;
		}
		/* every report that has arrived, as long as it keeps coming */
		for (rounds = 0; rounds < 64 && !cn->closing &&
		    cn->nanswers < COL_PIPELINE; rounds++) {
			ERR_clear_error();
			n = SSL_read(cn->ssl, buf, sizeof(buf));
			if (n <= 0) {
				err = SSL_get_error(cn->ssl, n);
				if (err == SSL_ERROR_WANT_READ ||
				    err == SSL_ERROR_WANT_WRITE)
					break;
				conn_close(cn);
				return 0;
			}
			r = kk_frame_feed_each(&cn->rd, buf, (size_t)n, &used,
			    frame_in, cn);
			conn_touch(cn, COL_IDLE_USEC);
			if (r < 0) {
				answer_error(cn, r == -EMSGSIZE ? KE_TOO_LARGE :
				    KE_BAD_FRAME, "not one framed report");
				break;
			}
			if (r > 0 && used < (size_t)n && !cn->closing) {
				/* more than a batch unanswered: it does not wait */
				conn_close(cn);
				return 0;
			}
		}
		if (cn->out_len == 0)
			return 0;
		/*
		 * One sync for the batch: the reports, their directories and
		 * the index lines are on disk before any of them is acked.
		 */
		if (cn->dirty && !col_batch_synced(col, cn)) {
			say(cn, "syncfs failed: nothing acked");
			conn_close(cn);
			return 0;
		}
		cn->dirty = false;
	}
}

static int
on_conn_timer(sd_event_source *s, uint64_t usec, void *arg)
{
	struct col_conn *cn = arg;

	if (cn->frame_end != 0 && usec >= cn->frame_end)
		say(cn, "a report not whole %lld s after its first byte "
		    "(--frame-timeout): closed", cn->col->frame_timeout_s);
	conn_close(cn);
	return 0;
}

static void
conn_close(struct col_conn *cn)
{
	struct collector *col = cn->col;

	if (!cn->authed)
		col->npreauth--;
	col->nconns--;
	LIST_REMOVE(cn, entry);
	sd_event_source_disable_unref(cn->io);
	sd_event_source_disable_unref(cn->timer);
	sd_event_source_disable_unref(cn->again);
	if (cn->ssl != NULL)
		SSL_free(cn->ssl);
	close(cn->fd);
	kk_frame_reader_reset(&cn->rd);
	EVP_PKEY_free(cn->identity);
	free(cn->out);
	free(cn);
}

/*
 * Whether one more connection may start its handshake.  Before it a peer
 * is nobody: at most COL_PREAUTH_PER_NET of them from one address (or
 * /64), and when all COL_MAX_PREAUTH places are taken, or all
 * COL_MAX_CONNS (the rest held by agents), the oldest that has sent
 * nothing gives its place (it had COL_HANDSHAKE_USEC less to go), or the
 * oldest if all have: silent sockets, from one host or many, held or
 * renewed as fast as they can, can delay an agent's report but not keep
 * it out, and its handshake under way is not what makes room for them.
 * So within one address's share too: an office behind one NAT address,
 * or on one /64, is not shut out by a host there that holds 16.
 */
static bool
handshake_room(struct collector *col, const struct sockaddr_storage *ss)
{
	struct col_conn *cn, *oldest = NULL, *oldest_silent = NULL;
	struct col_conn *mine = NULL, *mine_silent = NULL;
	struct kk_source src;
	unsigned n = 0;

	kk_sockaddr_source(ss, &src);
	LIST_FOREACH(cn, &col->conns, entry) {
		if (cn->authed)
			continue;
		/* new ones go first in the list: the last is the oldest */
		oldest = cn;
		if (!cn->heard)
			oldest_silent = cn;
		if (kk_source_eq(&cn->src, &src)) {
			n++;
			mine = cn;
			if (!cn->heard)
				mine_silent = cn;
		}
	}
	/* a place of its own share: the others' are not touched */
	if (n >= COL_PREAUTH_PER_NET) {
		conn_close(mine_silent != NULL ? mine_silent : mine);
		return col->npreauth < COL_MAX_PREAUTH &&
		    col->nconns < COL_MAX_CONNS;
	}
	if ((col->npreauth >= COL_MAX_PREAUTH ||
	    col->nconns >= COL_MAX_CONNS) && oldest != NULL)
		conn_close(oldest_silent != NULL ? oldest_silent : oldest);
	return col->npreauth < COL_MAX_PREAUTH && col->nconns < COL_MAX_CONNS;
}

static int
on_accept_again(sd_event_source *t, uint64_t usec, void *arg)
{
	sd_event_source *listener = arg;

	return sd_event_source_set_enabled(listener, SD_EVENT_ON);
}

/*
 * No descriptor (or memory) to accept with: the listener off for
 * COL_ACCEPT_PAUSE_USEC, said on stderr the first time and every 1,000th.
 * The connections waiting meanwhile are accepted after it, or time out in
 * the backlog as on a full one; those open are served all the while.
 */
static void
accept_pause(struct collector *col, sd_event_source *listener, int err)
{
	int r;

	if (col->accept_paused++ % 1000 == 0)
		fprintf(stderr, "kakurictl collector: cannot accept a connection "
		    "(%s): not accepting for %llu ms (%lu time(s))\n",
		    strerror(err), COL_ACCEPT_PAUSE_USEC / 1000,
		    col->accept_paused);
	if (col->accept_pause == NULL)
		r = sd_event_add_time_relative(col->ev, &col->accept_pause,
		    CLOCK_MONOTONIC, COL_ACCEPT_PAUSE_USEC, 0, on_accept_again,
		    listener);
	else if ((r = sd_event_source_set_time_relative(col->accept_pause,
	    COL_ACCEPT_PAUSE_USEC)) >= 0)
		r = sd_event_source_set_enabled(col->accept_pause,
		    SD_EVENT_ONESHOT);
	/* without the timer, no pause: spinning beats never accepting */
	if (r >= 0)
		sd_event_source_set_enabled(listener, SD_EVENT_OFF);
}

int
col_on_accept(sd_event_source *s, int lfd, uint32_t events, void *arg)
{
	struct collector *col = arg;
	struct sockaddr_storage ss;
	socklen_t sl;
	struct col_conn *cn;
	int fd, i;

	for (i = 0; i < 64; i++) {
		sl = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK |
		    SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				accept_pause(col, s, errno);
			return 0;
		}
		if (!handshake_room(col, &ss) ||
		    (cn = calloc(1, sizeof(*cn))) == NULL) {
			close(fd);	/* full: the courier tries again later */
			continue;
		}
		cn->col = col;
		cn->quota = col->quota;
		cn->fd = fd;
		kk_sockaddr_source(&ss, &cn->src);
		kk_sockaddr_text(&ss, cn->peer, sizeof(cn->peer));
		kk_frame_reader_init(&cn->rd, KK_REPORT_MAX);
		if ((cn->ssl = SSL_new(col->ctx)) == NULL ||
		    SSL_set_fd(cn->ssl, fd) != 1 ||
		    sd_event_add_io(col->ev, &cn->io, fd, EPOLLIN, on_conn_io,
		    cn) < 0 ||
		    sd_event_add_time_relative(col->ev, &cn->timer,
		    CLOCK_MONOTONIC, COL_HANDSHAKE_USEC, 0, on_conn_timer,
		    cn) < 0) {
			if (cn->ssl)
				SSL_free(cn->ssl);
			sd_event_source_disable_unref(cn->io);
			close(fd);
			free(cn);
			continue;
		}
		SSL_set_accept_state(cn->ssl);
		col->nconns++;
		col->npreauth++;
		LIST_INSERT_HEAD(&col->conns, cn, entry);
	}
	return 0;
}

void
col_close_all(struct collector *col)
{
	size_t i;

	while (!LIST_EMPTY(&col->conns))
		conn_close(LIST_FIRST(&col->conns));
	col->accept_pause = sd_event_source_disable_unref(col->accept_pause);
	/* what waits is announced, or removed if the disk does not sync */
	if (col->nunsynced > 0)
		col_sync(col);
	/* --exec programs still running go on; their timers end here */
	for (i = 0; i < COL_EXEC_MAX; i++)
		col->exec_running[i].timer = sd_event_source_disable_unref(
		    col->exec_running[i].timer);
}
