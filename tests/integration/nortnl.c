/*
 * nortnl.so: a process that may not open rtnetlink sockets (LD_PRELOAD),
 * as under an LSM or seccomp policy that refuses them: socket(2) of
 * AF_NETLINK / NETLINK_ROUTE fails with EACCES; every other socket,
 * nftables' NETLINK_NETFILTER among them, is the real call.  t-restore-netdev
 * runs the boot restore under it: no interfaces to hook, the inet and
 * bridge tables must still go in.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <linux/netlink.h>

int
socket(int domain, int type, int protocol)
{
	static int (*real_socket)(int, int, int);

	if (domain == AF_NETLINK && protocol == NETLINK_ROUTE) {
		errno = EACCES;
		return -1;
	}
	if (real_socket == NULL &&
	    (real_socket = (int (*)(int, int, int))dlsym(RTLD_NEXT,
	    "socket")) == NULL)
		abort();
	return real_socket(domain, type, protocol);
}
