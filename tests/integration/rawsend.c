/*
 * rawsend - a UDP datagram as a hand-built Ethernet frame from an
 * AF_PACKET socket: what root malware sends to go past the inet hooks
 * (output, postrouting) that isolation puts its rules in.
 *
 *   rawsend [-q] [-l] [-x] [-w SECONDS] [-s SPORT] [-n COUNT] [-i MS] IFNAME DSTMAC SRCIP DSTIP PORT PAYLOAD
 *
 * Builds Ethernet + IPv4 or IPv6 (by the addresses' family) + UDP (source
 * port SPORT, 40404 unless -s, to PORT) with correct checksums, from IFNAME's own MAC
 * address to DSTMAC, and sends it COUNT times (1), MS milliseconds apart
 * (100), with sendto(2) on a SOCK_RAW packet socket bound to nothing.
 * -q sets PACKET_QDISC_BYPASS: the frame goes to the driver without the
 * queueing layer (af_packet's own path to the egress hook).  -l: IFNAME
 * has no link-layer header (a modem's raw IP, tun): the frame is the IP
 * packet alone, and DSTMAC is "-".  -x sends from an AF_XDP socket bound
 * to IFNAME's queue 0 in copy mode instead: its TX ring goes to the driver
 * through dev_direct_xmit(), past the egress hook, and needs no XDP
 * program.  -w keeps the socket open SECONDS (at most 60) after the last
 * frame, so that kakurid's queue dump can see it bound.
 * Exit status 0 if every sendto succeeded, 1 if one failed, 2 on usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <linux/if_xdp.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SRC_PORT	40404
#define MAX_PAYLOAD	1024
#define MAX_COUNT	1000
#define MAX_HOLD	60
#define XSK_RING	64	/* descriptors per ring, a power of two */
#define XSK_FRAME	4096	/* bytes per UMEM chunk */
#define XSK_WAIT_MS	2000	/* for the kernel to complete one frame */

#ifndef AF_XDP
#define AF_XDP		44
#endif
#ifndef SOL_XDP
#define SOL_XDP		283
#endif

/* Adds len bytes to a ones' complement sum (RFC 1071). */
static uint32_t
sum16(uint32_t sum, const void *p, size_t len)
{
	const uint8_t *b = p;

	while (len > 1) {
		sum += (uint32_t)(b[0] << 8 | b[1]);
		b += 2;
		len -= 2;
	}
	if (len == 1)
		sum += (uint32_t)(b[0] << 8);
	return sum;
}

static uint16_t
fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static int
parse_mac(const char *s, uint8_t mac[ETH_ALEN])
{
	unsigned int m[ETH_ALEN];
	int i;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4],
	    &m[5]) != ETH_ALEN)
		return -1;
	for (i = 0; i < ETH_ALEN; i++) {
		if (m[i] > 0xff)
			return -1;
		mac[i] = (uint8_t)m[i];
	}
	return 0;
}

/*
 * The frame for src -> dst:port carrying payload into buf (at least
 * 14 + 40 + 8 + MAX_PAYLOAD bytes): its length, or 0 if the addresses
 * are not both IPv4 or both IPv6.
 */
static size_t
build(uint8_t *buf, const uint8_t dmac[ETH_ALEN], const uint8_t smac[ETH_ALEN],
    const char *src, const char *dst, uint16_t sport, uint16_t port,
    const char *payload, uint16_t *ethertype)
{
	struct in_addr s4, d4;
	struct in6_addr s6, d6;
	size_t plen = strlen(payload), ulen = 8 + plen, hlen, off = ETH_HLEN;
	uint8_t *ip = buf + ETH_HLEN, *udp, pseudo[40];
	uint32_t sum;
	uint16_t csum;

	memcpy(buf, dmac, ETH_ALEN);
	memcpy(buf + ETH_ALEN, smac, ETH_ALEN);
	if (inet_pton(AF_INET, src, &s4) == 1 && inet_pton(AF_INET, dst, &d4) == 1) {
		*ethertype = ETHERTYPE_IP;
		hlen = 20;
		memset(ip, 0, hlen);
		ip[0] = 0x45;
		ip[2] = (uint8_t)((hlen + ulen) >> 8);
		ip[3] = (uint8_t)(hlen + ulen);
		ip[6] = 0x40;		/* don't fragment */
		ip[8] = 64;		/* TTL */
		ip[9] = IPPROTO_UDP;
		memcpy(ip + 12, &s4, 4);
		memcpy(ip + 16, &d4, 4);
		csum = fold(sum16(0, ip, hlen));
		ip[10] = (uint8_t)(csum >> 8);
		ip[11] = (uint8_t)csum;
		/* pseudo header: addresses, zero, protocol, UDP length */
		memcpy(pseudo, ip + 12, 8);
		pseudo[8] = 0;
		pseudo[9] = IPPROTO_UDP;
		pseudo[10] = (uint8_t)(ulen >> 8);
		pseudo[11] = (uint8_t)ulen;
		sum = sum16(0, pseudo, 12);
	} else if (inet_pton(AF_INET6, src, &s6) == 1 &&
	    inet_pton(AF_INET6, dst, &d6) == 1) {
		*ethertype = ETHERTYPE_IPV6;
		hlen = 40;
		memset(ip, 0, hlen);
		ip[0] = 0x60;
		ip[4] = (uint8_t)(ulen >> 8);
		ip[5] = (uint8_t)ulen;
		ip[6] = IPPROTO_UDP;
		ip[7] = 64;		/* hop limit */
		memcpy(ip + 8, &s6, 16);
		memcpy(ip + 24, &d6, 16);
		/* pseudo header: addresses, UDP length (32 bits), next header */
		memcpy(pseudo, ip + 8, 32);
		memset(pseudo + 32, 0, 8);
		pseudo[34] = (uint8_t)(ulen >> 8);
		pseudo[35] = (uint8_t)ulen;
		pseudo[39] = IPPROTO_UDP;
		sum = sum16(0, pseudo, 40);
	} else
		return 0;
	buf[12] = (uint8_t)(*ethertype >> 8);
	buf[13] = (uint8_t)*ethertype;
	off += hlen;
	udp = buf + off;
	udp[0] = (uint8_t)(sport >> 8);
	udp[1] = (uint8_t)sport;
	udp[2] = (uint8_t)(port >> 8);
	udp[3] = (uint8_t)port;
	udp[4] = (uint8_t)(ulen >> 8);
	udp[5] = (uint8_t)ulen;
	udp[6] = udp[7] = 0;
	memcpy(udp + 8, payload, plen);
	csum = fold(sum16(sum, udp, ulen));
	if (csum == 0)		/* 0 means "no checksum": send all ones */
		csum = 0xffff;
	udp[6] = (uint8_t)(csum >> 8);
	udp[7] = (uint8_t)csum;
	return off + ulen;
}

static void
usage(void)
{
	fprintf(stderr, "usage: rawsend [-q] [-l] [-x] [-w SECONDS] [-s SPORT] [-n COUNT] [-i MS] IFNAME DSTMAC "
	    "SRCIP DSTIP PORT PAYLOAD\n");
}

/* One ring of an AF_XDP socket, mapped. */
struct xsk_ring {
	void *map;
	size_t len;
	uint32_t *producer, *consumer;
	void *desc;
};

static int
xsk_map(int fd, struct xsk_ring *r, const struct xdp_ring_offset *off,
    size_t entry, off_t pgoff)
{
	r->len = off->desc + XSK_RING * entry;
	r->map = mmap(NULL, r->len, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_POPULATE, fd, pgoff);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		return -1;
	}
	r->producer = (uint32_t *)((char *)r->map + off->producer);
	r->consumer = (uint32_t *)((char *)r->map + off->consumer);
	r->desc = (char *)r->map + off->desc;
	return 0;
}

/*
 * Sends frame count times from an AF_XDP socket bound to ifindex's queue
 * 0 in copy mode, gap apart, then keeps it bound hold seconds.  0, or -1
 * with a line on stderr.
 */
static int
xsk_send(int ifindex, const uint8_t *frame, size_t len, int count,
    const struct timespec *gap, int hold)
{
	struct xdp_umem_reg reg;
	struct xdp_mmap_offsets off;
	struct sockaddr_xdp sxdp;
	struct xsk_ring tx = { 0 }, cq = { 0 };
	socklen_t olen = sizeof(off);
	void *umem = MAP_FAILED;
	int fd, n = XSK_RING, i, ms, rc = -1;
	const char *what = "socket";

	if ((fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0)) < 0)
		goto out;
	what = "UMEM";
	umem = mmap(NULL, (size_t)XSK_RING * XSK_FRAME, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (umem == MAP_FAILED)
		goto out;
	memset(&reg, 0, sizeof(reg));
	reg.addr = (uintptr_t)umem;
	reg.len = (uint64_t)XSK_RING * XSK_FRAME;
	reg.chunk_size = XSK_FRAME;
	what = "setsockopt";
	if (setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &reg, sizeof(reg)) < 0 ||
	    setsockopt(fd, SOL_XDP, XDP_UMEM_FILL_RING, &n, sizeof(n)) < 0 ||
	    setsockopt(fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &n,
	    sizeof(n)) < 0 ||
	    setsockopt(fd, SOL_XDP, XDP_TX_RING, &n, sizeof(n)) < 0)
		goto out;
	what = "rings";
	if (getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &olen) < 0 ||
	    xsk_map(fd, &tx, &off.tx, sizeof(struct xdp_desc),
	    XDP_PGOFF_TX_RING) < 0 ||
	    xsk_map(fd, &cq, &off.cr, sizeof(uint64_t),
	    (off_t)XDP_UMEM_PGOFF_COMPLETION_RING) < 0)
		goto out;
	memset(&sxdp, 0, sizeof(sxdp));
	sxdp.sxdp_family = AF_XDP;
	sxdp.sxdp_flags = XDP_COPY;
	sxdp.sxdp_ifindex = (uint32_t)ifindex;
	sxdp.sxdp_queue_id = 0;
	what = "bind";
	/*
	 * The kernel lets go of a queue a closed socket held in deferred
	 * work: the one before may still hold it (EBUSY) for a moment.
	 */
	for (ms = 0; bind(fd, (struct sockaddr *)&sxdp, sizeof(sxdp)) < 0;
	    ms += 10) {
		struct timespec ten = { 0, 10 * 1000000L };

		if (errno != EBUSY || ms >= XSK_WAIT_MS)
			goto out;
		nanosleep(&ten, NULL);
	}
	for (i = 0; i < count; i++) {
		uint32_t p = *tx.producer, c;
		struct xdp_desc *d = (struct xdp_desc *)tx.desc +
		    (p & (XSK_RING - 1));

		if (i > 0)
			nanosleep(gap, NULL);
		memcpy((char *)umem + (size_t)(p & (XSK_RING - 1)) * XSK_FRAME,
		    frame, len);
		d->addr = (uint64_t)(p & (XSK_RING - 1)) * XSK_FRAME;
		d->len = (uint32_t)len;
		d->options = 0;
		__atomic_store_n(tx.producer, p + 1, __ATOMIC_RELEASE);
		what = "sendto";
		if (sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 &&
		    errno != EAGAIN && errno != EBUSY)
			goto out;
		/* the frame is gone once the kernel completes it */
		c = *cq.consumer;
		for (ms = 0; ms < XSK_WAIT_MS &&
		    __atomic_load_n(cq.producer, __ATOMIC_ACQUIRE) == c; ms++) {
			struct timespec one = { 0, 1000000L };

			nanosleep(&one, NULL);
			sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
		}
		what = "completion";
		if (ms == XSK_WAIT_MS) {
			errno = ETIMEDOUT;
			goto out;
		}
		__atomic_store_n(cq.consumer, c + 1, __ATOMIC_RELEASE);
	}
	if (hold > 0)
		sleep((unsigned)hold);
	rc = 0;
out:
	if (rc < 0)
		fprintf(stderr, "rawsend: AF_XDP %s: %s\n", what,
		    strerror(errno));
	if (tx.map)
		munmap(tx.map, tx.len);
	if (cq.map)
		munmap(cq.map, cq.len);
	if (fd >= 0)
		close(fd);
	if (umem != MAP_FAILED)
		munmap(umem, (size_t)XSK_RING * XSK_FRAME);
	return rc;
}

int
main(int argc, char **argv)
{
	uint8_t frame[ETH_HLEN + 40 + 8 + MAX_PAYLOAD], dmac[ETH_ALEN];
	struct sockaddr_ll sll;
	struct ifreq ifr;
	struct timespec gap;
	uint16_t ethertype = 0;
	size_t len;
	long port;
	int c, count = 1, ms = 100, bypass = 0, one = 1, fd = -1, i, rc = 2;
	int no_ll = 0, xsk = 0, hold = 0;
	long sport = SRC_PORT;
	const uint8_t *start = frame;

	while ((c = getopt(argc, argv, "qlxw:s:n:i:")) != -1) {
		switch (c) {
		case 'x':
			xsk = 1;
			break;
		case 'w':
			hold = atoi(optarg);
			break;
		case 'q':
			bypass = 1;
			break;
		case 'l':
			no_ll = 1;
			break;
		case 's':
			sport = strtol(optarg, NULL, 10);
			break;
		case 'n':
			count = atoi(optarg);
			break;
		case 'i':
			ms = atoi(optarg);
			break;
		default:
			usage();
			goto out;
		}
	}
	argc -= optind;
	argv += optind;
	port = argc == 6 ? strtol(argv[4], NULL, 10) : 0;
	if (argc != 6 || count < 1 || count > MAX_COUNT || ms < 0 ||
	    hold < 0 || hold > MAX_HOLD || (xsk && (no_ll || bypass)) ||
	    sport < 1 || sport > 65535 ||
	    ms > 10000 || port < 1 || port > 65535 ||
	    strlen(argv[0]) >= IFNAMSIZ || strlen(argv[5]) > MAX_PAYLOAD ||
	    (no_ll ? strcmp(argv[1], "-") != 0 : parse_mac(argv[1], dmac) < 0)) {
		usage();
		goto out;
	}
	if ((fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0)) < 0) {
		perror("rawsend: socket");
		rc = 1;
		goto out;
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, argv[0], strlen(argv[0]));
	if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
		perror("rawsend: SIOCGIFINDEX");
		rc = 1;
		goto out;
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_ifindex = ifr.ifr_ifindex;
	if (no_ll)
		memset(dmac, 0, sizeof(dmac));
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		perror("rawsend: SIOCGIFHWADDR");
		rc = 1;
		goto out;
	}
	len = build(frame, dmac, (const uint8_t *)ifr.ifr_hwaddr.sa_data,
	    argv[2], argv[3], (uint16_t)sport, (uint16_t)port, argv[5],
	    &ethertype);
	if (len == 0) {
		fprintf(stderr, "rawsend: %s and %s are not two IPv4 or two "
		    "IPv6 addresses\n", argv[2], argv[3]);
		goto out;
	}
	if (bypass && setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one,
	    sizeof(one)) < 0) {
		perror("rawsend: PACKET_QDISC_BYPASS");
		rc = 1;
		goto out;
	}
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ethertype);
	sll.sll_halen = no_ll ? 0 : ETH_ALEN;
	memcpy(sll.sll_addr, dmac, ETH_ALEN);
	/* no link-layer header: the IP packet alone */
	if (no_ll) {
		start = frame + ETH_HLEN;
		len -= ETH_HLEN;
	}
	gap.tv_sec = ms / 1000;
	gap.tv_nsec = (long)(ms % 1000) * 1000000L;
	if (xsk) {
		rc = xsk_send(sll.sll_ifindex, frame, len, count, &gap, hold) <
		    0 ? 1 : 0;
		goto out;
	}
	rc = 0;
	for (i = 0; i < count; i++) {
		if (i > 0)
			nanosleep(&gap, NULL);
		if (sendto(fd, start, len, 0, (struct sockaddr *)&sll,
		    sizeof(sll)) != (ssize_t)len) {
			fprintf(stderr, "rawsend: sendto %s: %s\n", argv[0],
			    strerror(errno));
			rc = 1;
		}
	}
out:
	if (fd >= 0)
		close(fd);
	return rc;
}
