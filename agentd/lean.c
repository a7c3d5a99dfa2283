/*
 * An idle kakurid holds only what it uses (issue 9).
 *
 * What makes the root parent's resident set after start-up, and after a
 * burst of work (an isolation, a signed command), is mostly not its own
 * data: it is the pages of the libraries it touched once (OpenSSL's
 * relocation tables and provider set-up, the policy parser, the nftables
 * batch code), and heap the work freed but malloc kept.  Once kakurid has
 * been quiet for a moment, kd_lean_settle gives both back:
 *
 *  - the nftables batch memory kept between batches is unmapped, and
 *    malloc_trim(0): free heap pages go back to the kernel;
 *  - the page-table entries of the file's own pages in private,
 *    read-only file mappings (code, read-only data) are dropped with
 *    MADV_DONTNEED.  /proc/self/pagemap tells them from anonymous
 *    copy-on-write pages (RELRO after relocation, a breakpoint of a
 *    debugger or a uprobe), which are kept page by page: MADV_DONTNEED
 *    would lose them.  Nothing writable is ever touched.  The pages stay
 *    in the page cache (other processes map libc and libcrypto too); the
 *    next use maps them again with a minor fault, as after the kernel
 *    reclaimed them under memory pressure;
 *  - the main stack's pages below the running frame, which the deepest
 *    call of the work left resident, are dropped the same way.
 *
 * The drop runs only while the process has one thread: another one could
 * map something new between the read of /proc/self/maps and madvise.
 *
 * What triggers it: a post source sees every wakeup and counts the minor
 * faults since the last settle; work that made pages resident (more than
 * LEAN_FAULTS of them) arms a one-shot timer, pushed back while work goes
 * on, that settles once kakurid has been quiet for LEAN_QUIET_USEC.  The
 * periodic checks of an idle kakurid (the generation check, the
 * interface rescan and its looks) are not work: the pages they use every
 * few seconds are the idle working set, and dropping them would only have
 * the next check fault them back in.  Their faults are handed back
 * (kd_lean_idle_work) and never arm it, unless there are many of them
 * (LEAN_IDLE_FAULTS): a settle costs more than the checks it would follow
 * (over a millisecond of system time), so idle stays idle.
 */
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "daemon.h"
#include "lean.h"
#include "procstat.h"

#define LEAN_QUIET_USEC		(1000ULL * 1000)
#define LEAN_ACCURACY_USEC	(250ULL * 1000)
#define LEAN_FAULTS		32
/*
 * A check that faulted in more than this (a rescan of thousands of
 * interfaces) grew, rather than used its pages again: a settle follows it
 * as it follows work, so what it left is not kept while idle.  The checks
 * of an idle kakurid fault in some 60 pages after a settle, then none.
 */
#define LEAN_IDLE_FAULTS	256

static sd_event_source *lean_post, *lean_timer;
static long lean_faults;		/* minor+major faults at the last settle */

static long
faults_now(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return ru.ru_minflt + ru.ru_majflt;
}

/* The number of threads of this process, 0 if unknown. */
static int
threads_now(void)
{
	struct kk_pstat st;

	if (kk_pstat_read(KK_PROC_SELF, 0, &st) < 0 ||
	    st.f[KK_PSTAT_THREADS] > INT32_MAX)
		return 0;
	return (int)st.f[KK_PSTAT_THREADS];
}

/*
 * Drops the resident pages of [start, end), a private read-only file
 * mapping, that are the file's own: /proc/self/pagemap says which are
 * present and which are anonymous (bit 61 clear: a copy-on-write page,
 * RELRO or a breakpoint), and those are kept.  The number of runs.
 */
#define PM_PRESENT	(1ULL << 63)
#define PM_FILE		(1ULL << 61)

static size_t
drop_clean(int pm, unsigned long start, unsigned long end)
{
	static uint64_t e[512];
	unsigned long page = (unsigned long)sysconf(_SC_PAGESIZE), at, run = 0;
	size_t i, k, n, runs = 0;
	ssize_t got;

	for (at = start; at < end; at += n * page) {
		n = (end - at) / page;
		if (n > sizeof(e) / sizeof(e[0]))
			n = sizeof(e) / sizeof(e[0]);
		got = pread(pm, e, n * sizeof(e[0]), (off_t)(at / page *
		    sizeof(e[0])));
		if (got <= 0)
			break;
		n = (size_t)got / sizeof(e[0]);
		for (i = 0; i < n; i++) {
			k = (e[i] & PM_PRESENT) && !(e[i] & PM_FILE);
			if (!k && (e[i] & PM_PRESENT) && run == 0)
				run = at + i * page;	/* a run of file pages */
			if (k && run != 0) {
				madvise((void *)run, at + i * page - run,
				    MADV_DONTNEED);
				run = 0, runs++;
			}
		}
	}
	if (run != 0)
		madvise((void *)run, at - run, MADV_DONTNEED), runs++;
	return runs;
}

/*
 * The main stack's pages below the caller's frame: a command's deepest
 * call (an IPC read buffer of 64 KiB, under it an nftables apply and its
 * read-back) left them resident, and nothing lives below the running
 * frame.  The next deep call finds them zeroed, as a stack that never
 * went so deep.  Only on the stack of the [stack] mapping, [lo, hi), and
 * a margin is left for the calls made from here.
 */
#define LEAN_STACK_MARGIN	(16 * 1024UL)

static __attribute__((noinline)) void
drop_stack_below(unsigned long lo, unsigned long hi)
{
	unsigned long page = (unsigned long)sysconf(_SC_PAGESIZE), end;
	/* not a local's address: ASan may keep locals on a heap "fake stack" */
	unsigned long here = (unsigned long)__builtin_frame_address(0);

	if (here < lo || here >= hi || here - lo < LEAN_STACK_MARGIN + page)
		return;
	end = (here - LEAN_STACK_MARGIN) & ~(page - 1);
	madvise((void *)lo, end - lo, MADV_DONTNEED);
}

/* Every private read-only mapping of a file; then the stack below. */
static size_t
drop_all_clean(void)
{
	char line[512], perms[8];
	unsigned long start, end, ino, stack_lo = 0, stack_hi = 0;
	size_t n = 0;
	FILE *f;
	int pm;

	if ((pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	if ((f = fopen("/proc/self/maps", "re")) == NULL) {
		close(pm);
		return 0;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%lx-%lx %7s %*x %*x:%*x %lu", &start, &end,
		    perms, &ino) != 4)
			continue;
		if (ino != 0 && perms[0] == 'r' && perms[1] == '-' &&
		    perms[3] == 'p')
			n += drop_clean(pm, start, end);
		else if (ino == 0 && strstr(line, " [stack]\n") != NULL)
			stack_lo = start, stack_hi = end;
	}
	fclose(f);
	close(pm);
	if (stack_hi != 0)
		drop_stack_below(stack_lo, stack_hi);
	return n;
}

void
kd_lean_settle(void)
{
	kk_nft_batch_cache_drop();
	malloc_trim(0);
	if (threads_now() == 1)
		drop_all_clean();
	lean_faults = faults_now();
}

long
kd_lean_faults(void)
{
	return faults_now();
}

void
kd_lean_idle_work(long before)
{
	long n = faults_now() - before;

	if (n > 0 && n <= LEAN_IDLE_FAULTS)
		lean_faults += n;
}

static int
on_lean_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	kd_lean_settle();
	return 0;
}

/* After every wakeup: did it make pages resident?  Then settle later. */
static int
on_lean_post(sd_event_source *s, void *userdata)
{
	uint64_t now;

	if (faults_now() - lean_faults <= LEAN_FAULTS ||
	    sd_event_now(sd_event_source_get_event(s), CLOCK_MONOTONIC,
	    &now) < 0)
		return 0;
	sd_event_source_set_time(lean_timer, now + LEAN_QUIET_USEC);
	sd_event_source_set_enabled(lean_timer, SD_EVENT_ONESHOT);
	return 0;
}

int
kd_lean_start(struct kd *d)
{
	int err;

	if ((err = sd_event_add_time_relative(d->ev, &lean_timer,
	    CLOCK_MONOTONIC, LEAN_QUIET_USEC, LEAN_ACCURACY_USEC,
	    on_lean_timer, d)) < 0 ||
	    (err = sd_event_add_post(d->ev, &lean_post, on_lean_post, d)) < 0) {
		kd_lean_stop();
		return err;
	}
	return 0;
}

void
kd_lean_stop(void)
{
	lean_post = sd_event_source_disable_unref(lean_post);
	lean_timer = sd_event_source_disable_unref(lean_timer);
}
