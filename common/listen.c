/*
 * A listening TCP socket for "ADDR:PORT" (kakurid's CSIRT channel, the
 * collector): non-blocking, close-on-exec, "[::]" taking IPv4 too.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kakuri.h"

int
kk_tcp_listen(const char *addrport, int *fdp, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct kk_addr addr;
	uint16_t port;
	socklen_t sl;
	int fd = -1, one = 1, r;

	*fdp = -1;
	if (kk_endpoint_parse(addrport, &addr, &port) < 0) {
		snprintf(err, errlen, "listen: bad address '%s'", addrport);
		r = -EINVAL;
		goto out;
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
	fd = socket(addr.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (addr.family == AF_INET6) {
		int zero = 0;

		/* [::] also takes IPv4 */
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 512) < 0) {
		r = -errno;
		snprintf(err, errlen, "listen on %s: %s", addrport, strerror(errno));
		goto out;
	}
	*fdp = fd;
	fd = -1;
	r = 0;
out:
	kk_close(fd);
	return r;
}

void
kk_sockaddr_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(s4->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else
		snprintf(buf, len, "?");
}

void
kk_sockaddr_source(const struct sockaddr_storage *ss, struct kk_source *src)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0xff, 0xff };

	memset(src, 0, sizeof(*src));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		src->family = 4;
		memcpy(src->a, &s4->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const uint8_t *a =
		    ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;

		/* [::] takes IPv4 too: an IPv4 peer is one address */
		if (memcmp(a, mapped, sizeof(mapped)) == 0) {
			src->family = 4;
			memcpy(src->a, a + 12, 4);
		} else {
			src->family = 6;
			memcpy(src->a, a, 8);
		}
	}
}

bool
kk_source_eq(const struct kk_source *a, const struct kk_source *b)
{
	return a->family == b->family && memcmp(a->a, b->a, sizeof(a->a)) == 0;
}
