/* Helpers the test programs and benchmarks share; see progutil.h. */
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "progutil.h"

long long
pu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

long long
pu_now_us(void)
{
	return pu_now_ns() / 1000;
}

double
pu_now_ms(void)
{
	return (double)pu_now_ns() / 1e6;
}

double
pu_now_s(void)
{
	return (double)pu_now_ns() / 1e9;
}

void
pu_nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

long
pu_read_small(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	buf[0] = '\0';
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return (long)n;
}

int
pu_sockaddr_of(const char *addr, const char *port,
    struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	long p = strtol(port, NULL, 10);

	if (p <= 0 || p > 65535)
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)p);
		*len = sizeof(*s4);
		return AF_INET;
	}
	if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p);
		*len = sizeof(*s6);
		return AF_INET6;
	}
	return -1;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double
pu_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

void
pu_rmtree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int
pu_in_small_tmpfs(const char *dir, const char *size,
    int (*fn)(int dfd, void *arg), void *arg)
{
	char opts[64];
	pid_t pid;
	int st, dfd;

	snprintf(opts, sizeof(opts), "size=%s", size);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount("tmpfs", dir, "tmpfs", 0, opts) < 0)
			_exit(PU_NO_NAMESPACE);
		if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			_exit(2);
		_exit(fn(dfd, arg));
	}
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int
pu_arg_area(bool env, unsigned long *start, unsigned long *end)
{
	char buf[4096], *p, *tok, *save = NULL;
	int field, last = env ? 51 : 49, fd;
	ssize_t n;

	*start = *end = 0;
	if ((fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* the command name in parentheses may hold spaces and ')' */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	for (field = 3, tok = strtok_r(p + 1, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save), field++)
		if (field == 48)
			*start = strtoul(tok, NULL, 10);
		else if (field == last)
			*end = strtoul(tok, NULL, 10);
	return *end > *start ? 0 : -1;
}

int
pu_on_own_stack(void (*fn)(void))
{
	static char stack[65536];
	static ucontext_t old, own;

	if (getcontext(&own) < 0)
		return -1;
	own.uc_stack.ss_sp = stack;
	own.uc_stack.ss_size = sizeof(stack);
	own.uc_link = NULL;
	makecontext(&own, fn, 0);
	swapcontext(&old, &own);
	return -1;
}

/*
 * Each link runs on a stack of its own from a pool; the kernel marks the
 * stack free when the link has exited (CLONE_CHILD_CLEARTID, as pthreads
 * do), so a link held stopped keeps its stack.  glibc's wrapper is
 * called without CLONE_SETTLS, so a link shares its creator's thread
 * pointer: it calls nothing but the clock, clone() and exit.
 */
#define HOP_STACKS	1024
#define HOP_STACK	(64 << 10)
#define HOP_FLAGS	(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | \
			    CLONE_THREAD | CLONE_SYSVSEM | CLONE_CHILD_CLEARTID)
static char (*hop_stacks)[HOP_STACK];
static pid_t hop_busy[HOP_STACKS];	/* 0: free */
static unsigned hop_next;
static double hop_until_ms;

static int hop_link(void *arg);

/* One more link, on a free stack; none free: the chain ends. */
static int
hop_spawn(void)
{
	unsigned k, i;
	pid_t zero;

	for (i = 0; i < HOP_STACKS; i++) {
		k = __atomic_fetch_add(&hop_next, 1, __ATOMIC_SEQ_CST) %
		    HOP_STACKS;
		zero = 0;
		if (!__atomic_compare_exchange_n(&hop_busy[k], &zero, 1,
		    false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			continue;
		if (clone(hop_link, hop_stacks[k] + HOP_STACK, HOP_FLAGS,
		    NULL, NULL, NULL, &hop_busy[k]) > 0)
			return 0;
		__atomic_store_n(&hop_busy[k], 0, __ATOMIC_SEQ_CST);
		return -1;
	}
	return -1;
}

static int
hop_link(void *arg)
{
	(void)arg;
	if (pu_now_ms() < hop_until_ms)
		hop_spawn();
	syscall(SYS_exit, 0);
	return 0;
}

int
pu_hop_start(unsigned chains, unsigned seconds)
{
	unsigned k;

	if (chains == 0 || chains > 64 || hop_stacks != NULL)
		return -1;
	hop_stacks = mmap(NULL, (size_t)HOP_STACKS * HOP_STACK,
	    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (hop_stacks == MAP_FAILED) {
		hop_stacks = NULL;
		return -1;
	}
	hop_until_ms = pu_now_ms() + seconds * 1000.0;
	for (k = 0; k < chains; k++)
		if (hop_spawn() < 0)
			return -1;
	return 0;
}
