/*
 * IP literals and "ADDR:PORT" endpoints, as the policy writes them (and
 * the agent's own flags): no host names, no prefix lengths, no scope ids,
 * an IPv6 address of an endpoint in brackets.  What is wrong with one is
 * said in words, for the policy loader's messages (parse.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "kakuri.h"

int
kk_addr_parse(const char *s, struct kk_addr *out)
{
	struct kk_addr a;
	int rc = -EINVAL;

	if (s == NULL || out == NULL)
		goto out;
	memset(&a, 0, sizeof(a));
	if (inet_pton(AF_INET, s, &a.a.v4) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, s, &a.a.v6) == 1)
		a.family = AF_INET6;
	else
		goto out;
	*out = a;
	rc = 0;
out:
	return rc;
}

int
kk_addr_format(const struct kk_addr *a, char *buf, size_t len)
{
	socklen_t size = len > INET6_ADDRSTRLEN ? INET6_ADDRSTRLEN :
	    (socklen_t)len;
	int rc = 0;

	if (a == NULL || buf == NULL || len == 0) {
		rc = -EINVAL;
		goto out;
	}
	if (a->family != AF_INET && a->family != AF_INET6) {
		rc = -EAFNOSUPPORT;
		goto out;
	}
	if (inet_ntop(a->family, &a->a, buf, size) == NULL)
		rc = -errno;
out:
	return rc;
}

const char *
kk_addr_problem(const char *s)
{
	if (*s == '\0')
		return "empty address";
	if (strchr(s, '/') != NULL)
		return "prefix lengths are not allowed";
	if (strchr(s, '%') != NULL)
		return "scope ids are not allowed";
	if (strchr(s, '[') != NULL || strchr(s, ']') != NULL)
		return "brackets are not allowed here";
	if (strspn(s, "0123456789abcdefABCDEF:.") != strlen(s))
		return "not an IP literal (host names are not allowed)";
	return "not a valid IPv4 or IPv6 address";
}

const char *
kk_endpoint_problem(const char *s, struct kk_addr *addr, uint16_t *port)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *end, *portstr;
	unsigned long v = 0;
	size_t hlen, i;
	bool bracketed = (s[0] == '[');

	if (bracketed) {
		end = strchr(s, ']');
		if (end == NULL)
			return "missing ']' after the IPv6 address";
		hlen = (size_t)(end - s - 1);
		portstr = end + 1;
		if (*portstr != ':')
			return "expected ADDR:PORT";
		s++;
	} else {
		end = strrchr(s, ':');
		if (end == NULL)
			return "expected ADDR:PORT";
		hlen = (size_t)(end - s);
		portstr = end;
		if (memchr(s, ':', hlen) != NULL)
			return "an IPv6 address must be in brackets: "
			    "[ADDR]:PORT";
	}
	if (hlen >= sizeof(host))
		return "not an IP literal (host names are not allowed)";
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (kk_addr_parse(host, addr) != 0)
		return kk_addr_problem(host);
	if (bracketed && addr->family != AF_INET6)
		return "brackets are only for IPv6 addresses";

	portstr++;
	for (i = 0; portstr[i] != '\0'; i++) {
		if (portstr[i] < '0' || portstr[i] > '9' || i >= 5)
			return "port must be a number 1-65535";
		v = v * 10 + (unsigned long)(portstr[i] - '0');
	}
	if (i == 0 || v < 1 || v > 65535)
		return "port must be a number 1-65535";
	*port = (uint16_t)v;
	return NULL;
}

int
kk_endpoint_parse(const char *s, struct kk_addr *addr, uint16_t *port)
{
	return kk_endpoint_problem(s, addr, port) == NULL ? 0 : -EINVAL;
}
