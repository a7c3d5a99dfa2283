/*
 * The local control socket (/run/kakuri/control.sock).  One request frame
 * in, one response frame out, then the connection closes.  The caller's
 * identity is the kernel's (SO_PEERCRED, SO_PEERGROUPS), never what the
 * request says.  Connections, frame sizes and idle time are bounded so a
 * local user cannot starve the daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon.h"
#include "log.h"

#define KK_CONTROL_MAX_GROUPS	256

struct kk_conn {
	struct kk_control *ctl;
	int fd;
	sd_event_source *io;
	sd_event_source *timer;
	struct kk_frame_reader rd;
	uint8_t *out;
	size_t out_len;
	size_t out_off;
	struct ucred cred;
	gid_t groups[KK_CONTROL_MAX_GROUPS];
	size_t ngroups;
	uint64_t serial;	/* names it to a reply that comes later */
	bool waiting;		/* a worker is doing what it asked */
	struct kk_conn *next;
};

struct kk_control {
	struct kd *d;
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	sd_event_source *src;
	struct kk_conn *conns;
	size_t nconns;
	uint64_t next_serial;
};

static void
conn_free(struct kk_conn *c)
{
	struct kk_control *ctl = c->ctl;
	struct kk_conn **pp;

	for (pp = &ctl->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	ctl->nconns--;
	sd_event_source_disable_unref(c->io);
	sd_event_source_disable_unref(c->timer);
	close(c->fd);
	kk_frame_reader_reset(&c->rd);
	free(c->out);
	free(c);
}

static int
conn_reply(struct kk_conn *c, json_t *resp)
{
	char *text;
	size_t len;
	uint8_t hdr[4];
	int err;

	text = json_dumps(resp, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text == NULL)
		return -ENOMEM;
	len = strlen(text);
	if ((err = kk_frame_header(hdr, len, KK_FRAME_MAX)) < 0) {
		free(text);
		return err;
	}
	c->out = malloc(len + 4);
	if (c->out == NULL) {
		free(text);
		return -ENOMEM;
	}
	memcpy(c->out, hdr, 4);
	memcpy(c->out + 4, text, len);
	free(text);
	c->out_len = len + 4;
	c->out_off = 0;
	return sd_event_source_set_io_events(c->io, EPOLLOUT);
}

static json_t *
error_reply(const char *reason, const char *message)
{
	return json_pack("{s:b, s:s, s:s}", "ok", 0, "error", reason,
	    "message", message);
}

static void
handle_frame(struct kk_conn *c, uint8_t *body, size_t len)
{
	struct kk_cred cred = {
		.uid = c->cred.uid, .gid = c->cred.gid,
		.groups = c->groups, .ngroups = c->ngroups,
	};
	json_error_t jerr;
	json_t *req, *resp;

	/* kd_control_request answers a NULL (unparseable) request too */
	req = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
	c->ctl->d->control_serial = c->serial;
	resp = kd_control_request(c->ctl->d, &cred, c->cred.pid,
	    json_is_object(req) ? req : NULL);
	json_decref(req);
	if (json_is_true(json_object_get(resp, "pending"))) {
		/* no idle timeout while the daemon works for it */
		c->waiting = true;
		sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
		sd_event_source_set_io_events(c->io, 0);
		json_decref(resp);
		return;
	}
	if (resp == NULL || conn_reply(c, resp) < 0)
		conn_free(c);
	json_decref(resp);
}

void
kk_control_reply_later(struct kd *d, uint64_t serial, json_t *resp)
{
	struct kk_conn *c;

	if (d->control == NULL)
		return;
	for (c = d->control->conns; c; c = c->next) {
		if (c->serial == serial && c->waiting) {
			c->waiting = false;
			if (conn_reply(c, resp) < 0)
				conn_free(c);
			return;
		}
	}
}

static int
conn_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct kk_conn *c = userdata;
	uint8_t buf[16384];
	size_t used, off;
	ssize_t n;
	int r;

	if (c->out != NULL) {
		n = write(fd, c->out + c->out_off, c->out_len - c->out_off);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0) {
			conn_free(c);
			return 0;
		}
		c->out_off += (size_t)n;
		if (c->out_off == c->out_len)
			conn_free(c);
		return 0;
	}
	n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		conn_free(c);
		return 0;
	}
	off = 0;
	while (off < (size_t)n) {
		r = kk_frame_feed(&c->rd, buf + off, (size_t)n - off, &used);
		off += used;
		if (r < 0) {
			json_t *resp = error_reply(r == -EMSGSIZE ? "too-large" :
			    "malformed", r == -EMSGSIZE ?
			    "frame larger than 1 MiB" : "bad frame");

			kk_log(LOG_WARNING, KK_MID_REFUSED,
			    "control: bad frame from pid %d uid %u: %s",
			    (int)c->cred.pid, (unsigned)c->cred.uid,
			    strerror(-r));
			if (conn_reply(c, resp) < 0)
				conn_free(c);
			json_decref(resp);
			return 0;
		}
		if (r == 1) {
			size_t len;
			uint8_t *body = kk_frame_take(&c->rd, &len);

			/* one request per connection: ignore anything after it */
			handle_frame(c, body, len);
			free(body);
			return 0;
		}
	}
	return 0;
}

static int
conn_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	conn_free(userdata);
	return 0;
}

static int
ctl_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct kk_control *ctl = userdata;
	struct kk_conn *c;
	socklen_t len;
	uint64_t now;
	int cfd;

	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return 0;
	if (ctl->nconns >= KK_CONTROL_MAX_CONN) {
		kk_log(LOG_WARNING, KK_MID_REFUSED,
		    "control: %d connections open, refusing another",
		    KK_CONTROL_MAX_CONN);
		close(cfd);
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(cfd);
		return 0;
	}
	c->ctl = ctl;
	c->fd = cfd;
	c->serial = ++ctl->next_serial;
	kk_frame_reader_init(&c->rd, KK_FRAME_MAX);
	len = sizeof(c->cred);
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0) {
		close(cfd);
		free(c);
		return 0;
	}
	len = sizeof(c->groups);
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERGROUPS, c->groups, &len) == 0)
		c->ngroups = len / sizeof(gid_t);
	c->next = ctl->conns;
	ctl->conns = c;
	ctl->nconns++;
	sd_event_now(ctl->d->ev, CLOCK_MONOTONIC, &now);
	if (sd_event_add_io(ctl->d->ev, &c->io, cfd, EPOLLIN, conn_io, c) < 0 ||
	    sd_event_add_time(ctl->d->ev, &c->timer, CLOCK_MONOTONIC,
	    now + KK_CONTROL_IDLE_USEC, 0, conn_timeout, c) < 0)
		conn_free(c);
	return 0;
}

int
kk_control_open(struct kd *d, const char *path)
{
	struct kk_control *ctl;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int err;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	ctl = calloc(1, sizeof(*ctl));
	if (ctl == NULL)
		return -ENOMEM;
	ctl->d = d;
	strcpy(sun.sun_path, path);
	strcpy(ctl->path, path);
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl->fd < 0) {
		err = -errno;
		goto fail;
	}
	/* replace a stale socket from a previous run, but nothing else */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			err = -EEXIST;
			goto fail;
		}
		unlink(path);
	}
	if (bind(ctl->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		err = -errno;
		goto fail;
	}
	/* any local user may ask for status; SO_PEERCRED decides the rest */
	if (chmod(path, 0666) < 0 || listen(ctl->fd, 64) < 0) {
		err = -errno;
		goto fail;
	}
	err = sd_event_add_io(d->ev, &ctl->src, ctl->fd, EPOLLIN, ctl_accept,
	    ctl);
	if (err < 0)
		goto fail;
	d->control = ctl;
	return 0;
fail:
	if (ctl->fd >= 0)
		close(ctl->fd);
	free(ctl);
	return err;
}

void
kk_control_close(struct kd *d)
{
	struct kk_control *ctl = d->control;

	if (ctl == NULL)
		return;
	while (ctl->conns)
		conn_free(ctl->conns);
	sd_event_source_disable_unref(ctl->src);
	close(ctl->fd);
	unlink(ctl->path);
	free(ctl);
	d->control = NULL;
}
