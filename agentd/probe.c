/*
 * Reachability probes from inside the endpoint: see probe.h.
 *
 * A dropped packet of a TCP connect is not reported by the kernel at once
 * (the SYN is sent again), so a connect that gets no answer in time
 * counts as dropped; a datagram is refused at once (EPERM) by a drop on
 * the way out.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/fsuid.h>
#include <sys/socket.h>

#include "daemon.h"
#include "probe.h"

struct kd_probe {
	int fd;
	sd_event_source *io, *timer;
	kd_probe_done_fn done;
	void *arg;
};

static void
probe_free(struct kd_probe *p)
{
	sd_event_source_disable_unref(p->io);
	sd_event_source_disable_unref(p->timer);
	kk_close(p->fd);
	free(p);
}

void
kd_probe_cancel(struct kd_probe *p)
{
	if (p != NULL)
		probe_free(p);
}

/* done, then the probe goes */
static void
finish(struct kd_probe *p, enum kd_probe_outcome o, int err)
{
	kd_probe_done_fn done = p->done;
	void *arg = p->arg;

	probe_free(p);
	done(arg, o, err);
}

static int
on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	socklen_t len = sizeof(int);
	int soerr = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr == EINPROGRESS)
		return 0;
	finish(userdata, soerr == EPERM || soerr == EACCES ? KD_PROBE_DROPPED :
	    KD_PROBE_ANSWERED, soerr);
	return 0;
}

static int
on_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
	finish(userdata, KD_PROBE_TIMEOUT, ETIMEDOUT);
	return 0;
}

static socklen_t
endpoint_sockaddr(const struct kk_endpoint *ep, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (ep->addr.family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(ep->port);
		sin->sin_addr = ep->addr.a.v4;
		return sizeof(*sin);
	}
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(ep->port);
	sin6->sin6_addr = ep->addr.a.v6;
	return sizeof(*sin6);
}

void
kd_endpoint_text(const struct kk_endpoint *ep, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN];

	if (kk_addr_format(&ep->addr, addr, sizeof(addr)) < 0)
		snprintf(addr, sizeof(addr), "?");
	snprintf(buf, len, ep->addr.family == AF_INET6 ? "[%s]:%u" : "%s:%u",
	    addr, (unsigned)ep->port);
}

/*
 * The socket's file credentials are what meta skuid/skgid see: made with
 * other file system ids, it is theirs for the rules.  The ids are this
 * thread's own, and put back at once.
 */
static int
socket_as(int family, int type, const struct kd_probe_ids *ids)
{
	int fd, saved;

	if (ids != NULL) {
		setfsgid(ids->gid);
		setfsuid(ids->uid);
	}
	fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	saved = errno;
	if (ids != NULL) {
		setfsuid(0);
		setfsgid(0);
	}
	errno = saved;
	return fd;
}

struct kd_probe *
kd_probe_connect(sd_event *ev, const struct kk_endpoint *ep,
    const struct kd_probe_ids *ids, uint64_t timeout_usec,
    kd_probe_done_fn done, void *arg)
{
	struct sockaddr_storage ss;
	socklen_t sl = endpoint_sockaddr(ep, &ss);
	enum kd_probe_outcome o;
	struct kd_probe *p;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		done(arg, KD_PROBE_ERROR, ENOMEM);
		return NULL;
	}
	p->done = done;
	p->arg = arg;
	if ((p->fd = socket_as(ep->addr.family, SOCK_STREAM, ids)) < 0) {
		finish(p, KD_PROBE_ERROR, errno);
		return NULL;
	}
	if (connect(p->fd, (struct sockaddr *)&ss, sl) == 0) {
		finish(p, KD_PROBE_ANSWERED, 0);
		return NULL;
	}
	switch (errno) {
	case EINPROGRESS:
		if (sd_event_add_io(ev, &p->io, p->fd, EPOLLOUT, on_io, p) < 0 ||
		    sd_event_add_time_relative(ev, &p->timer, CLOCK_MONOTONIC,
		    timeout_usec, KD_TIMER_ACCURACY_USEC, on_timeout, p) < 0) {
			finish(p, KD_PROBE_ERROR, ENOMEM);
			return NULL;
		}
		return p;
	case EPERM:
	case EACCES:
		o = KD_PROBE_DROPPED;
		break;
	case ENETUNREACH:
	case EHOSTUNREACH:
		o = KD_PROBE_NOROUTE;
		break;
	default:
		o = KD_PROBE_ANSWERED;
		break;
	}
	finish(p, o, errno);
	return NULL;
}

int
kd_probe_datagram(const struct kk_endpoint *ep, const void *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = endpoint_sockaddr(ep, &ss);
	int fd, err = 0;

	if ((fd = socket_as(ep->addr.family, SOCK_DGRAM, NULL)) < 0)
		return -errno;
	if (sendto(fd, buf, len, 0, (struct sockaddr *)&ss, sl) < 0)
		err = -errno;
	close(fd);
	return err;
}
