/*
 * A process to take snapshots of: a known global string, three extra
 * threads each blocked in a function of its own name (so a backtrace from
 * the core shows which is which), and optionally memory it never touches
 * or memory it fills.
 *
 *	coretarget [--memfd] [--untouched MiB] [--resident MiB] [--vast TiB]
 *	    [--leader-exits] [--hop CHAINS] [--maps N FILE]
 *	    [--huge-cmdline MiB] [--traced] [--uffd FILE]
 *
 * --untouched maps that much anonymous memory and never touches it: a
 * snapshot must leave it non-resident.  --resident maps that much and
 * writes every page with pseudo-random words, so the image neither
 * compresses to nothing nor shares the zero page.  --vast maps that many
 * TiB and writes a marker on its first, middle and last page only: what a
 * process does to make its snapshot endless (terabytes of zeros to hash).
 * --memfd, first, runs the rest from memory, as "fileless" malware does:
 * a copy of this program with the line "memfd" appended (so its SHA-256
 * is its own) in a memfd_create(2) file, executed with fexecve(3).
 * --leader-exits ends the main thread (pthread_exit) right after "ready":
 * /proc/PID/stat then says Z, exe and mem of /proc/PID are gone, and the
 * process runs on in its workers, as one that wants to look dead.
 * --hop adds that many chains of threads that hop (pu_hop_start): each
 * makes its successor and ends, as a process does to slip past a tracer.
 * --maps maps the second page of FILE (8 KiB at least) N times, each a
 * mapping of its own (the same offset: no two merge), never touched: with
 * a long path, a /proc/PID/maps of tens of MiB, and nothing of the file
 * in a core (not from offset 0: no ELF header to keep).  --huge-cmdline points the process's argument area at
 * that many MiB of 'a' (PR_SET_MM_MAP, which needs no privilege when the
 * executable stays): a /proc/PID/cmdline of that size.  --traced: a
 * child of its own traces the main thread (PTRACE_SEIZE, which stops
 * nothing), as anti-debugging malware does so that no debugger can
 * attach; a snapshot's seize of that thread is refused.  --uffd makes
 * FILE (on tmpfs) two pages long without writing it, maps it from offset
 * 0 (a file mapping whose first page a snapshot may keep, as an ELF
 * header), and registers that with a userfaultfd whose faults nobody
 * ever answers: a read of a page not there waits for good.
 * "ready PID" goes to
 * stdout once everything is set up; the process exits by itself after
 * 600 s so a forgotten one cannot linger.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/prctl.h>
#include <linux/prctl.h>
#include <linux/userfaultfd.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../progutil.h"

#define LIFETIME	600	/* seconds */

const char *kakuri_marker = "kakuri-core-marker-4f1d";

/* the mappings, for a debugger to find */
void *kakuri_untouched;
void *kakuri_resident;
char *kakuri_vast_first;
char *kakuri_vast_middle;
char *kakuri_vast_last;

/* workers that reached their own function: "ready" waits for all three */
static int workers_in;

static void
nap(void)
{
	struct timespec ts = { 1, 0 };

	nanosleep(&ts, NULL);
}

/* A worker's life: it is in, then naps until the target ends. */
static void
live(void)
{
	int i;

	__atomic_add_fetch(&workers_in, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < LIFETIME; i++)
		nap();
}

/* Each worker in a function of its own, whose name a backtrace shows. */
#define WORKER(name)							\
	static __attribute__((noinline)) void *				\
	name(void *arg)							\
	{								\
		(void)arg;						\
		live();							\
		return NULL;						\
	}
WORKER(worker_alpha)
WORKER(worker_beta)
WORKER(worker_gamma)

/* FILE's second page, n times, each a mapping of its own; 0 or -1. */
static int
map_many(const char *path, size_t n)
{
	size_t i;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	for (i = 0; i < n; i++)
		if (mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 4096) ==
		    MAP_FAILED) {
			close(fd);
			return -1;
		}
	close(fd);
	return 0;
}

/*
 * The argument area moved to size bytes of 'a' (NUL-ended): the other
 * addresses of the memory map as /proc/self/stat and auxv say, exe_fd -1.
 */
static int
huge_cmdline(size_t size)
{
	struct prctl_mm_map m;
	unsigned long long f[52];
	static __u64 auxv[512];
	char buf[4096], *p;
	ssize_t n;
	char *area;
	int fd, i;

	memset(&m, 0, sizeof(m));
	if ((fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || (p = strrchr(buf, ')')) == NULL)
		return -1;
	buf[n] = '\0';
	/* fields 3 (state) on; f[k] is field k + 1 of proc(5) */
	p += 2;
	for (i = 2; i < 52 && *p != '\0'; i++) {
		f[i] = strtoull(p, &p, 10);
		if (i == 2) {
			p += 1;		/* the state letter */
			f[i] = 0;
		}
		while (*p == ' ')
			p++;
	}
	if (i < 52)
		return -1;
	if ((fd = open("/proc/self/auxv", O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, auxv, sizeof(auxv));
	close(fd);
	if (n <= 0)
		return -1;
	area = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		return -1;
	memset(area, 'a', size - 1);
	area[size - 1] = '\0';
	m.start_code = f[25];
	m.end_code = f[26];
	m.start_stack = f[27];
	m.start_data = f[44];
	m.end_data = f[45];
	m.start_brk = f[46];
	m.brk = (uint64_t)(uintptr_t)sbrk(0);
	m.arg_start = (uint64_t)(uintptr_t)area;
	m.arg_end = (uint64_t)(uintptr_t)area + size;
	m.env_start = f[49];
	m.env_end = f[50];
	m.auxv = auxv;
	m.auxv_size = (unsigned)n;
	m.exe_fd = (unsigned)-1;
	return prctl(PR_SET_MM, PR_SET_MM_MAP, (unsigned long)&m, sizeof(m),
	    0) == 0 ? 0 : -1;
}

/* A count of units of 2^shift bytes, min to max of them. */
static int
size_arg(const char *s, unsigned long long min, unsigned long long max,
    unsigned shift, size_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < min || v > max)
		return -1;
	*out = (size_t)v << shift;
	return 0;
}

static void *
map_anon(size_t len)
{
	void *p;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		perror("coretarget: mmap");
		exit(1);
	}
	return p;
}

/* xorshift64: every page different, nothing the zero page could stand for */
static void
fill(uint64_t *p, size_t len)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
	size_t i;

	for (i = 0; i < len / sizeof(*p); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = x;
	}
}

/* Runs this program again from a memfd, without --memfd; no return. */
static void
run_from_memfd(char **argv)
{
	static const char tail[] = "memfd\n";
	extern char **environ;
	char buf[65536];
	ssize_t n;
	int in, fd;

	in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	fd = memfd_create("coretarget", MFD_CLOEXEC);
	if (in < 0 || fd < 0) {
		perror("coretarget: memfd");
		exit(1);
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(fd, buf, (size_t)n) != n) {
			perror("coretarget: memfd write");
			exit(1);
		}
	if (n < 0 || write(fd, tail, sizeof(tail) - 1) !=
	    (ssize_t)(sizeof(tail) - 1)) {
		perror("coretarget: memfd copy");
		exit(1);
	}
	close(in);
	argv[1] = argv[0];
	fexecve(fd, argv + 1, environ);
	perror("coretarget: fexecve");
	exit(1);
}

/*
 * --traced: the tracer, a child that dies with the main thread
 * (PR_SET_PDEATHSIG) or after LIFETIME seconds.  Every stop is let go:
 * a signal goes on to the process, a group stop ends.  0 once it traces.
 */
static int
trace_main_thread(void)
{
	pid_t target = getpid(), tracer;
	int p[2], st, sig;
	char c;

	/* Yama's ptrace_scope 1 lets only an ancestor trace: say who */
	(void)prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
	if (pipe(p) < 0 || (tracer = fork()) < 0)
		return -1;
	if (tracer == 0) {
		close(p[0]);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ||
		    getppid() != target ||
		    ptrace(PTRACE_SEIZE, target, NULL, NULL) < 0)
			_exit(1);
		if (write(p[1], "t", 1) != 1)
			_exit(1);
		close(p[1]);
		alarm(LIFETIME);
		while (waitpid(target, &st, __WALL) == target) {
			if (!WIFSTOPPED(st))
				break;
			sig = (st >> 16) == 0 ? WSTOPSIG(st) : 0;
			if (sig == SIGTRAP)
				sig = 0;
			(void)ptrace(PTRACE_CONT, target, NULL,
			    (void *)(long)sig);
		}
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1) {
		close(p[0]);
		errno = EPERM;
		return -1;
	}
	close(p[0]);
	return 0;
}

/*
 * FILE, two pages of it never written, mapped from offset 0 and under a
 * userfaultfd (missing faults) that is never read: kept open until exit.
 */
static int
map_uffd(const char *path)
{
	struct uffdio_api api = { .api = UFFD_API,
	    .features = UFFD_FEATURE_MISSING_SHMEM };
	struct uffdio_register reg;
	size_t len = 2 * (size_t)sysconf(_SC_PAGESIZE);
	void *p;
	int fd, uffd;

	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)len) < 0)
		return -1;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -1;
	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) < 0)
		return -1;
	reg.range.start = (uintptr_t)p;
	reg.range.len = len;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	return ioctl(uffd, UFFDIO_REGISTER, &reg);
}

int
main(int argc, char **argv)
{
	void *(*fn[3])(void *) = { worker_alpha, worker_beta, worker_gamma };
	size_t untouched = 0, resident = 0, vast = 0, hop = 0, nmaps = 0;
	size_t cmdline = 0;
	const char *mapfile = NULL;
	int leader_exits = 0, traced = 0;
	const char *uffdfile = NULL;
	pthread_t t[3];
	volatile size_t touch;
	int i;

	if (argc > 1 && strcmp(argv[1], "--memfd") == 0)
		run_from_memfd(argv);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--untouched") == 0 && i + 1 < argc &&
		    size_arg(argv[i + 1], 0, 1ULL << 20, 20, &untouched) == 0)
			i++;
		else if (strcmp(argv[i], "--resident") == 0 && i + 1 < argc &&
		    size_arg(argv[i + 1], 0, 1ULL << 20, 20, &resident) == 0)
			i++;
		else if (strcmp(argv[i], "--vast") == 0 && i + 1 < argc &&
		    size_arg(argv[i + 1], 1, 64, 40, &vast) == 0)
			i++;
		else if (strcmp(argv[i], "--leader-exits") == 0)
			leader_exits = 1;
		else if (strcmp(argv[i], "--traced") == 0)
			traced = 1;
		else if (strcmp(argv[i], "--uffd") == 0 && i + 1 < argc)
			uffdfile = argv[++i];
		else if (strcmp(argv[i], "--hop") == 0 && i + 1 < argc &&
		    size_arg(argv[i + 1], 1, 64, 0, &hop) == 0)
			i++;
		else if (strcmp(argv[i], "--maps") == 0 && i + 2 < argc &&
		    size_arg(argv[i + 1], 1, 60000, 0, &nmaps) == 0) {
			mapfile = argv[i + 2];
			i += 2;
		} else if (strcmp(argv[i], "--huge-cmdline") == 0 &&
		    i + 1 < argc &&
		    size_arg(argv[i + 1], 1, 256, 20, &cmdline) == 0)
			i++;
		else {
			fprintf(stderr, "usage: coretarget [--memfd] "
			    "[--untouched MiB] [--resident MiB] [--vast TiB] "
			    "[--leader-exits] [--hop CHAINS] [--maps N FILE] "
			    "[--huge-cmdline MiB] [--traced] [--uffd FILE]\n");
			return 2;
		}
	}
	/*
	 * Read the marker once: its page becomes resident, so the core holds
	 * it (a snapshot never faults pages in).
	 */
	touch = strlen(kakuri_marker);
	(void)touch;
	if (mapfile != NULL && map_many(mapfile, nmaps) < 0) {
		fprintf(stderr, "coretarget: mapping %s: %s\n", mapfile,
		    strerror(errno));
		return 1;
	}
	if (cmdline > 0 && huge_cmdline(cmdline) < 0) {
		fprintf(stderr, "coretarget: PR_SET_MM_MAP: %s\n",
		    strerror(errno));
		return 1;
	}
	if (uffdfile != NULL && map_uffd(uffdfile) < 0) {
		fprintf(stderr, "coretarget: userfaultfd on %s: %s\n",
		    uffdfile, strerror(errno));
		return 1;
	}
	if (untouched > 0)
		kakuri_untouched = map_anon(untouched);
	if (resident > 0) {
		kakuri_resident = map_anon(resident);
		fill(kakuri_resident, resident);
	}
	if (vast > 0) {
		char *v = map_anon(vast);
		size_t pg = (size_t)sysconf(_SC_PAGESIZE);

		kakuri_vast_first = v;
		kakuri_vast_middle = v + (vast / 2 / pg) * pg;
		kakuri_vast_last = v + vast - pg;
		strcpy(kakuri_vast_first, "kakuri-vast-first");
		strcpy(kakuri_vast_middle, "kakuri-vast-middle");
		strcpy(kakuri_vast_last, "kakuri-vast-last");
	}
	for (i = 0; i < 3; i++)
		if (pthread_create(&t[i], NULL, fn[i], NULL) != 0) {
			fprintf(stderr, "coretarget: pthread_create failed\n");
			return 1;
		}
	/* so a backtrace taken after "ready" shows each worker by name */
	for (i = 0; i < 1000 && __atomic_load_n(&workers_in,
	    __ATOMIC_SEQ_CST) < 3; i++) {
		struct timespec ts = { 0, 10000000 };

		nanosleep(&ts, NULL);
	}
	if (hop > 0 && pu_hop_start((unsigned)hop, LIFETIME) < 0) {
		fprintf(stderr, "coretarget: the hopping threads failed\n");
		return 1;
	}
	if (traced && trace_main_thread() < 0) {
		fprintf(stderr, "coretarget: tracing the main thread: %s\n",
		    strerror(errno));
		return 1;
	}
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	if (leader_exits)
		pthread_exit(NULL);
	for (i = 0; i < LIFETIME; i++)
		nap();
	return 0;
}
