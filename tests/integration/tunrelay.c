/*
 * tunrelay - a raw-IP link between two network namespaces, for the tests:
 * what a mobile broadband modem (wwan0, raw IP) is to an endpoint.
 *
 *   tunrelay NETNS_A IFNAME_A NETNS_B IFNAME_B SECONDS
 *
 * Makes a tun device (IFF_TUN, no packet information: frames start with
 * the IP header, no link-layer header, ARPHRD_NONE) named IFNAME_A in the
 * namespace /run/netns/NETNS_A and one named IFNAME_B in NETNS_B, prints
 * "ready", and copies every packet one side's kernel sends to the other
 * side, for SECONDS (at most 3600) or until a side closes.  What
 * goes out of IFNAME_A arrives at IFNAME_B as from a network, and back,
 * without meeting either namespace's hooks on the way: only the devices'
 * own (netdev ingress and egress).  The devices go with the process.
 * Exit status 0 when the time is up, 1 on an error, 2 on usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define MAX_SECONDS	3600
#define PKT_MAX		65536

/* A tun device called name in the namespace /run/netns/ns: its fd, or -1. */
static int
tun_in(const char *ns, const char *name)
{
	char path[128];
	struct ifreq ifr;
	int nsfd = -1, fd = -1;

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	if ((nsfd = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    setns(nsfd, CLONE_NEWNET) < 0) {
		fprintf(stderr, "tunrelay: %s: %s\n", path, strerror(errno));
		goto fail;
	}
	if ((fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC)) < 0) {
		perror("tunrelay: /dev/net/tun");
		goto fail;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	memcpy(ifr.ifr_name, name, strlen(name));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		fprintf(stderr, "tunrelay: TUNSETIFF %s: %s\n", name,
		    strerror(errno));
		goto fail;
	}
	close(nsfd);
	return fd;
fail:
	if (nsfd >= 0)
		close(nsfd);
	if (fd >= 0)
		close(fd);
	return -1;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
main(int argc, char **argv)
{
	static unsigned char pkt[PKT_MAX];
	struct pollfd pfd[2];
	long long end;
	ssize_t n;
	long secs;
	int i, rc = 1;

	secs = argc == 6 ? strtol(argv[5], NULL, 10) : 0;
	if (argc != 6 || secs < 1 || secs > MAX_SECONDS ||
	    strlen(argv[2]) >= IFNAMSIZ || strlen(argv[4]) >= IFNAMSIZ) {
		fprintf(stderr, "usage: tunrelay NETNS_A IFNAME_A NETNS_B "
		    "IFNAME_B SECONDS\n");
		return 2;
	}
	pfd[0].fd = tun_in(argv[1], argv[2]);
	pfd[1].fd = pfd[0].fd < 0 ? -1 : tun_in(argv[3], argv[4]);
	if (pfd[0].fd < 0 || pfd[1].fd < 0)
		goto out;
	pfd[0].events = pfd[1].events = POLLIN;
	printf("ready\n");
	fflush(stdout);
	end = now_ms() + secs * 1000;
	while (now_ms() < end) {
		if (poll(pfd, 2, 200) < 0 && errno != EINTR) {
			perror("tunrelay: poll");
			goto out;
		}
		for (i = 0; i < 2; i++) {
			if (pfd[i].revents & (POLLERR | POLLHUP | POLLNVAL))
				goto out;
			if (!(pfd[i].revents & POLLIN))
				continue;
			if ((n = read(pfd[i].fd, pkt, sizeof(pkt))) <= 0)
				continue;
			/* a full queue on the other side drops, as a link does */
			if (write(pfd[1 - i].fd, pkt, (size_t)n) < 0 &&
			    errno != EAGAIN && errno != EIO)
				goto out;
		}
	}
	rc = 0;
out:
	for (i = 0; i < 2; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	return rc;
}
