/*
 * Helpers the test programs in tests/integration and the benchmarks in
 * bench share: the monotonic clock, short sleeps, an address and
 * port as a sockaddr, a median, a small file read whole (a /proc file)
 * and removing a temporary tree.  Plain C
 * and libc only, so that each program keeps its own build flags.
 */
#ifndef KK_PROGUTIL_H
#define KK_PROGUTIL_H
#include <sys/socket.h>

/* CLOCK_MONOTONIC in nanoseconds, microseconds, milliseconds, seconds */
long long	pu_now_ns(void);
long long	pu_now_us(void);
double		pu_now_ms(void);
double		pu_now_s(void);
void		pu_nap_ms(long ms);

/*
 * A numeric IPv4 or IPv6 address and a port (1 to 65535) into *ss; the
 * address family, or -1 if either is not one.
 */
int	pu_sockaddr_of(const char *addr, const char *port,
	    struct sockaddr_storage *ss, socklen_t *len);

/* The median of v[0..n-1], n > 0; sorts v. */
double	pu_median(double *v, int n);

/*
 * Up to len - 1 bytes of path (one read: a /proc file) into buf, which is
 * NUL-terminated; how many, or -1 when there is nothing to read.
 */
long	pu_read_small(const char *path, char *buf, size_t len);

/* Removes dir and everything below it, following no link. */
void	pu_rmtree(const char *dir);

#endif
