/*
 * What every report says of the host it comes from (DESIGN 7's "host"):
 * the host name, its addresses, the boot id and the operating system,
 * read by kakurid itself, never taken from a request.
 */
#include <sys/socket.h>
#include <sys/utsname.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "hostfacts.h"
#include "kakuri.h"
#include "wire.h"

#define HOST_ADDRS_MAX	32

/* The operating system, read once: os-release's PRETTY_NAME and the kernel. */
static const char *
host_os(void)
{
	static char os[256];
	struct utsname u;
	char *buf = NULL, *line, *end, *v;
	size_t len;

	if (os[0] != '\0')
		return os;
	if (kk_read_file("/etc/os-release", 64 * 1024, &buf, &len) < 0 &&
	    kk_read_file("/usr/lib/os-release", 64 * 1024, &buf, &len) < 0)
		buf = NULL;
	for (line = buf; line != NULL && *line != '\0'; line = end) {
		if ((end = strchr(line, '\n')) != NULL)
			*end++ = '\0';
		if (strncmp(line, "PRETTY_NAME=", 12) != 0)
			continue;
		v = line + 12;
		len = strlen(v);
		if (len >= 2 && (v[0] == '"' || v[0] == '\'') &&
		    v[len - 1] == v[0]) {
			v[len - 1] = '\0';
			v++;
		}
		kk_text_clean(os, sizeof(os) / 2, v, strlen(v));
		break;
	}
	free(buf);
	if (uname(&u) == 0)
		snprintf(os + strlen(os), sizeof(os) - strlen(os), "%s%s %s",
		    os[0] ? "; " : "", u.sysname, u.release);
	if (os[0] == '\0')
		snprintf(os, sizeof(os), "unknown");
	return os;
}

/* The kernel's boot id, read once: it is fixed for the life of the process. */
const char *
kd_boot_id(void)
{
	static char boot[64];
	char raw[64];
	ssize_t n;
	int fd;

	/* a proc file has no size: read it, not kk_read_file */
	if (boot[0] == '\0' && (fd = open("/proc/sys/kernel/random/boot_id",
	    O_RDONLY | O_CLOEXEC)) >= 0) {
		if ((n = kk_read_upto(fd, raw, sizeof(raw) - 1)) > 0) {
			raw[n] = '\0';
			kk_text_copy(boot, sizeof(boot), raw, strcspn(raw, "\n"));
		}
		close(fd);
	}
	return boot;
}

/* DESIGN 7's host: hostname, addresses, boot_id, os. */
json_t *
kd_host_facts(void)
{
	char hn[256] = "", a[INET6_ADDRSTRLEN];
	struct ifaddrs *ifs = NULL, *i;
	json_t *addrs = json_array();
	const void *src;
	int fam;

	if (gethostname(hn, sizeof(hn) - 1) < 0)
		hn[0] = '\0';
	if (addrs != NULL && getifaddrs(&ifs) == 0) {
		for (i = ifs; i != NULL && json_array_size(addrs) <
		    HOST_ADDRS_MAX; i = i->ifa_next) {
			if (i->ifa_addr == NULL || (i->ifa_flags & IFF_LOOPBACK))
				continue;
			fam = i->ifa_addr->sa_family;
			if (fam == AF_INET)
				src = &((struct sockaddr_in *)(void *)
				    i->ifa_addr)->sin_addr;
			else if (fam == AF_INET6)
				src = &((struct sockaddr_in6 *)(void *)
				    i->ifa_addr)->sin6_addr;
			else
				continue;
			if (inet_ntop(fam, src, a, sizeof(a)) != NULL)
				json_array_append_new(addrs, json_string(a));
		}
		freeifaddrs(ifs);
	}
	return json_pack("{s:s, s:o, s:s, s:s}", KW_HOSTNAME, hn,
	    KW_ADDRESSES, addrs ? addrs : json_array(), KW_BOOT_ID, kd_boot_id(),
	    KW_OS, host_os());
}

