/*
 * Helpers the test programs in tests/integration and the benchmarks in
 * bench share: the monotonic clock, short sleeps, an address and
 * port as a sockaddr, a median, a small file read whole (a /proc file),
 * removing a temporary tree, a child with a small tmpfs of its own, and
 * what a process that hides its arguments needs.
 * Plain C and libc only, so that each program keeps its own build flags.
 */
#ifndef KK_PROGUTIL_H
#define KK_PROGUTIL_H
#include <sys/socket.h>

#include <stdbool.h>

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

/*
 * Runs fn in a child, in a mount namespace of its own where a tmpfs of
 * size (mount(8)'s size=, "1m") is mounted over the directory dir: a disk
 * that fills up, which nothing outlives.  fn gets that directory open as
 * dfd and returns the child's exit status (0: all was as it should be).
 * Returns that status; 77 when no such namespace can be made (no
 * privilege), 2 when the directory cannot be opened, 128 + the signal if
 * the child was killed, -1 if it could not be started or waited for.
 */
#define PU_NO_NAMESPACE	77
int	pu_in_small_tmpfs(const char *dir, const char *size,
	    int (*fn)(int dfd, void *arg), void *arg);

/*
 * This process's argument area, arg_start and arg_end of /proc/self/stat
 * (fields 48 and 49), or with env arg_start to env_end (48 to 51), as
 * addresses (not rounded to pages): 0, or -1 when it cannot be read or is
 * empty.
 */
int	pu_arg_area(bool env, unsigned long *start, unsigned long *end);

/*
 * Calls fn on a stack of its own, for code that maps something over pages
 * the current stack may share (the argument area).  fn must not return
 * (it pauses or _exits); neither does this, unless the context cannot be
 * made: then -1.  The stack is static: once per process (after fork).
 */
int	pu_on_own_stack(void (*fn)(void));

/*
 * Threads that hop, as malware does to slip past a debugger: chains
 * threads (0 < chains <= 64), each thread making its successor and
 * ending, for seconds.  Raw clone(): a link lives for a few microseconds,
 * a pthread for tens.  Once per process (after fork); 0, or -1 when the
 * first links cannot be made.
 */
int	pu_hop_start(unsigned chains, unsigned seconds);

#endif
