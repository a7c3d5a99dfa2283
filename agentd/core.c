/*
 * Per-process snapshot (DESIGN 7): the process memory as an ELF core file
 * that gdb opens, the /proc files that explain it (maps, status, cmdline,
 * environ) and a copy of the executable, all under "pid-<pid>/".
 *
 * The threads are stopped with PTRACE_SEIZE + PTRACE_INTERRUPT: no signal
 * is sent, a group stop is left as it is, and it works on tasks the cgroup
 * v2 freezer holds (the ptrace trap is taken before the freezer trap, and
 * the task goes back into the freezer when detached).  All ptrace work
 * runs in a short-lived thread of its own: when a tracer thread exits the
 * kernel detaches its tracees, so a thread that never reached its stop (D
 * state, the v1 freezer) cannot stay traced by kakurid.
 *
 * Memory is read only where the page tables say a page is present or
 * swapped (PAGEMAP_SCAN, else /proc/PID/pagemap).  Reading anything else
 * would fault it in and change the evidence (and the target's RSS), so
 * those pages become holes in the core file.  One exception, as the
 * kernel's own dumps make it (coredump_filter bit 4): the first page of a
 * file mapped from offset 0 is always read, because its ELF header and
 * build-id are what lets gdb place the executable and its libraries; a
 * child forked long ago often has no page table entry for it.  That page
 * comes from the page cache, and only from files on a local file system
 * (a FUSE server could hold the read forever).
 */
#include <sys/ioctl.h>
#include <sys/procfs.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <ctype.h>
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evidence.h"

#if defined(__x86_64__)
#define CORE_MACHINE	EM_X86_64
#elif defined(__aarch64__)
#define CORE_MACHINE	EM_AARCH64
#endif

#define READ_BATCH	(1U << 20)	/* a process_vm_readv; = sink buffer */
#define HOLE_MIN	(256U << 10)	/* smaller zero runs are written out */
#define STOP_TIMEOUT_MS	2000		/* for every thread to reach its stop */
#define SEIZE_ROUNDS	64		/* re-scans of /proc/PID/task */
#define MAX_THREADS	65536
#define MAX_VMAS	(1U << 20)
#define MAPS_MAX	(64U << 20)	/* maps and smaps text */
#define SMALL_MAX	(16U << 20)	/* status, cmdline, environ, auxv */
#define EXE_MAX		((uint64_t)4 << 30)
#define FILE_NOTE_MAX	(16U << 20)	/* NT_FILE; the kernel drops it too */
#define XSTATE_MAX	(64U << 10)
#define HEADER_DEVS	16		/* file systems judged per snapshot */
#define SCAN_VEC	1024		/* page regions per PAGEMAP_SCAN */
#define PM_CHUNK	65536		/* pagemap entries per read (512 KiB) */
/* a MADV_DONTDUMP mapping is kept up to this size, see plan_vmas */
#define DONTDUMP_KEEP	((uint64_t)256 << 20)

#define METHOD_VM	"elf-core/ptrace+process_vm_readv+pagemap"
#define METHOD_MEM	"elf-core/ptrace+proc-mem+pagemap"

/*
 * PAGEMAP_SCAN (Linux 6.7): the uapi headers here may predate it, so the
 * ABI is spelled out; the ioctl number encodes the structure size.
 */
struct pm_region {
	uint64_t start;
	uint64_t end;
	uint64_t categories;
};

struct pm_scan {
	uint64_t size;
	uint64_t flags;
	uint64_t start;
	uint64_t end;
	uint64_t walk_end;
	uint64_t vec;
	uint64_t vec_len;
	uint64_t max_pages;
	uint64_t category_inverted;
	uint64_t category_mask;
	uint64_t category_anyof_mask;
	uint64_t return_mask;
};

#define PM_PRESENT	(1ULL << 3)
#define PM_SWAPPED	(1ULL << 4)
#define PM_PFNZERO	(1ULL << 5)
#define PM_SCAN_IOCTL	_IOWR('f', 16, struct pm_scan)

#define PAGEMAP_PRESENT	(1ULL << 63)
#define PAGEMAP_SWAPPED	(1ULL << 62)

static const uint8_t zeros[65536];

struct vma {
	uint64_t start;
	uint64_t end;
	uint64_t pgoff;		/* the maps offset, bytes */
	uint64_t off;		/* of its data in the core */
	uint64_t filesz;
	size_t path;		/* offset of the path in the maps text */
	size_t pathlen;
	uint32_t pflags;	/* PF_R | PF_W | PF_X */
	unsigned dev_major;	/* of the mapped file */
	unsigned dev_minor;
	bool header;		/* its first page is read even if absent */
	bool smaps;		/* the flags below are known */
	bool dontdump;		/* VmFlags dd */
	bool io;		/* VmFlags io or pf: not RAM the kernel lends */
	bool hugetlb;
	bool empty;		/* no resident and no swapped page */
};

enum { T_NEW, T_SEIZED, T_STOPPED, T_GONE, T_REFUSED };

struct thr {
	pid_t tid;
	int state;
	int sig;		/* signal to give back on detach */
};

struct runs {
	struct {
		uint64_t start;
		uint64_t end;
		bool zero;	/* the shared zero page: a hole */
	} v[SCAN_VEC];
	size_t n;
};

struct snap {
	pid_t pid;
	int dirfd;
	struct kk_artifacts *arts;
	char *err;
	size_t errlen;
	int ret;
	unsigned long long want_start;	/* 0: whoever has the pid */

	unsigned long long start_time;
	long pgsz;
	long clk_tck;
	int pmfd;		/* /proc/PID/pagemap */
	int memfd;		/* /proc/PID/mem, the fallback reader */
	bool use_vm;		/* process_vm_readv works */
	bool use_scan;		/* PAGEMAP_SCAN works */

	struct thr *t;
	size_t nt;
	size_t captb;
	int seize_err;		/* first PTRACE_SEIZE refusal */
	size_t unstopped;	/* threads that never reached their stop */

	char *maps;		/* /proc/PID/maps, as written */
	size_t mapslen;
	struct vma *v;
	size_t nv;

	/* files read while the process is stopped, written afterwards */
	char *status;
	size_t statuslen;
	char *cmdline;
	size_t cmdlinelen;
	char *environ;
	size_t environlen;
	int environ_err;

	uint8_t *notes;
	size_t nlen;
	size_t ncap;

	uint8_t *buf;		/* READ_BATCH */
	struct runs runs;
	struct pm_region *scanvec;
	uint64_t *pm;

	/* file systems judged for header pages: local or not */
	struct {
		unsigned major;
		unsigned minor;
		bool local;
	} hdev[HEADER_DEVS];
	size_t nhdev;

	/* gap being coalesced */
	uint64_t gap_off;
	uint64_t gap_len;
	const char *gap_why;
};

static void
set_err(struct snap *sn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_err(struct snap *sn, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sn->errlen == 0 || sn->err[0] != '\0')
		return;
	n = snprintf(sn->err, sn->errlen, "pid %d: ", (int)sn->pid);
	if (n < 0 || (size_t)n >= sn->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(sn->err + n, sn->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int
read_pidfile(const struct snap *sn, const char *name, size_t max,
    char **out, size_t *outlen)
{
	char path[96];
	int err;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)sn->pid, name);
	err = kk_read_text(path, max, out, outlen);
	return err == -ENOENT ? -ESRCH : err;
}

/*
 * Splits a stat line after the comm (which may hold spaces and
 * parentheses): f[0] is field 3 (state), f[k] is field k + 3.
 */
static int
stat_fields(char *line, char **f, int max)
{
	char *p, *save = NULL;
	int n = 0;

	if ((p = strrchr(line, ')')) == NULL)
		return -EBADMSG;
	for (p = strtok_r(p + 1, " \n", &save); p != NULL && n < max;
	    p = strtok_r(NULL, " \n", &save))
		f[n++] = p;
	return n;
}

/* The value of "Key:" in a status text, or NULL. */
static const char *
status_field(const char *text, const char *key)
{
	size_t kl = strlen(key);
	const char *p = text;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, key, kl) == 0 && p[kl] == ':')
			return p + kl + 1;
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return NULL;
}

/* ---- stopping the threads ---------------------------------------- */

static int
add_thread(struct snap *sn, pid_t tid)
{
	struct thr *nt;
	size_t cap;

	if (sn->nt >= MAX_THREADS)
		return -E2BIG;
	if (sn->nt == sn->captb) {
		cap = sn->captb ? sn->captb * 2 : 64;
		if ((nt = realloc(sn->t, cap * sizeof(*nt))) == NULL)
			return -ENOMEM;
		sn->t = nt;
		sn->captb = cap;
	}
	sn->t[sn->nt].tid = tid;
	sn->t[sn->nt].state = T_NEW;
	sn->t[sn->nt].sig = 0;
	sn->nt++;
	return 0;
}

static bool
known_thread(const struct snap *sn, pid_t tid)
{
	size_t i;

	for (i = 0; i < sn->nt; i++)
		if (sn->t[i].tid == tid)
			return true;
	return false;
}

/* Seizes and interrupts every thread not seen before; *added counts them. */
static int
seize_new(struct snap *sn, size_t *added)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int err = 0;
	long v;
	char *end;

	*added = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)sn->pid);
	if ((d = opendir(path)) == NULL)
		return errno == ENOENT ? -ESRCH : -errno;
	while ((de = readdir(d)) != NULL) {
		struct thr *t;

		errno = 0;
		v = strtol(de->d_name, &end, 10);
		if (errno != 0 || *end != '\0' || v <= 0 || v > INT_MAX)
			continue;
		if (known_thread(sn, (pid_t)v))
			continue;
		if ((err = add_thread(sn, (pid_t)v)) < 0)
			goto out;
		t = &sn->t[sn->nt - 1];
		if (ptrace(PTRACE_SEIZE, t->tid, NULL, NULL) < 0) {
			if (errno == ESRCH) {
				t->state = T_GONE;
				continue;
			}
			t->state = T_REFUSED;
			if (sn->seize_err == 0)
				sn->seize_err = -errno;
			continue;
		}
		t->state = T_SEIZED;
		if (ptrace(PTRACE_INTERRUPT, t->tid, NULL, NULL) < 0 &&
		    errno == ESRCH) {
			/* exited already: waitpid reports it */
		}
		(*added)++;
	}
out:
	closedir(d);
	return err;
}

/* Collects the stops (or deaths) of seized threads until deadline. */
static void
wait_stops(struct snap *sn, uint64_t deadline)
{
	struct timespec nap;
	long ns = 20000;
	size_t i, pending;
	int st;
	pid_t r;

	for (;;) {
		pending = 0;
		for (i = 0; i < sn->nt; i++) {
			struct thr *t = &sn->t[i];

			if (t->state != T_SEIZED)
				continue;
			r = waitpid(t->tid, &st, __WALL | WNOHANG);
			if (r == 0) {
				pending++;
				continue;
			}
			if (r < 0) {
				if (errno == EINTR) {
					pending++;
					continue;
				}
				/* not ours any more (reaped elsewhere) */
				t->state = T_GONE;
				continue;
			}
			if (WIFSTOPPED(st)) {
				t->state = T_STOPPED;
				/*
				 * A signal-delivery-stop holds a signal the
				 * thread has not seen yet: give it back on
				 * detach.  Interrupt and group stops carry
				 * PTRACE_EVENT_STOP and give nothing back.
				 */
				if ((st >> 16) == 0)
					t->sig = WSTOPSIG(st);
			} else if (WIFEXITED(st) || WIFSIGNALED(st))
				t->state = T_GONE;
		}
		if (pending == 0 || now_ms() >= deadline)
			break;
		nap.tv_sec = 0;
		nap.tv_nsec = ns;
		nanosleep(&nap, NULL);
		if (ns < 1000000)
			ns *= 2;
	}
}

/*
 * Stops every thread.  New threads can appear until their creator is
 * stopped, so /proc/PID/task is read again until nothing new shows up.
 */
static int
stop_threads(struct snap *sn)
{
	uint64_t deadline = now_ms() + STOP_TIMEOUT_MS;
	size_t added, i;
	int round, err;

	for (round = 0; round < SEIZE_ROUNDS; round++) {
		if ((err = seize_new(sn, &added)) < 0)
			return err;
		if (added == 0)
			break;
		wait_stops(sn, deadline);
	}
	sn->unstopped = 0;
	for (i = 0; i < sn->nt; i++)
		if (sn->t[i].state == T_SEIZED)
			sn->unstopped++;
	return 0;
}

static void
detach_threads(struct snap *sn)
{
	size_t i;

	for (i = 0; i < sn->nt; i++) {
		struct thr *t = &sn->t[i];

		/*
		 * Only a stopped tracee can be detached; one still on its
		 * way is let go when this thread exits.
		 */
		if (t->state != T_STOPPED)
			continue;
		ptrace(PTRACE_DETACH, t->tid, NULL,
		    (void *)(long)t->sig);
		t->state = T_GONE;
	}
}

/* ---- mappings ---------------------------------------------------- */

static int
parse_maps(struct snap *sn)
{
	const char *p = sn->maps, *eol, *end = sn->maps + sn->mapslen;
	struct vma *nv;
	size_t cap = 0;

	while (p < end) {
		unsigned long long s, e, off, ino;
		char perms[8];
		unsigned maj, mnr;
		int pos = 0;
		struct vma *v;

		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		if (sn->nv >= MAX_VMAS)
			return -E2BIG;
		if (sscanf(p, "%llx-%llx %7s %llx %x:%x %llu %n", &s, &e,
		    perms, &off, &maj, &mnr, &ino, &pos) != 7 || pos <= 0 ||
		    p + pos > eol + 1 || s >= e || strlen(perms) < 3)
			return -EBADMSG;
		if (sn->nv == cap) {
			cap = cap ? cap * 2 : 256;
			if ((nv = realloc(sn->v, cap * sizeof(*nv))) == NULL)
				return -ENOMEM;
			sn->v = nv;
		}
		v = &sn->v[sn->nv++];
		memset(v, 0, sizeof(*v));
		v->start = s;
		v->end = e;
		v->pgoff = off;
		v->dev_major = maj;
		v->dev_minor = mnr;
		if (p + pos < eol) {
			v->path = (size_t)(p + pos - sn->maps);
			v->pathlen = (size_t)(eol - (p + pos));
		}
		if (perms[0] == 'r')
			v->pflags |= PF_R;
		if (perms[1] == 'w')
			v->pflags |= PF_W;
		if (perms[2] == 'x')
			v->pflags |= PF_X;
		p = eol + 1;
	}
	return 0;
}

static bool
vma_is(const struct snap *sn, const struct vma *v, const char *name)
{
	size_t l = strlen(name);

	return v->pathlen == l && memcmp(sn->maps + v->path, name, l) == 0;
}

static bool
vma_file(const struct snap *sn, const struct vma *v)
{
	return v->pathlen > 0 && sn->maps[v->path] == '/';
}

/*
 * smaps says what maps does not: VmFlags (dd, io, pf, ht) and whether a
 * mapping has any resident or swapped page at all (then its page tables
 * need no scan).  Matched to the maps entries by start address; anything
 * that does not match stays unknown, which only costs a scan.
 */
static void
apply_smaps(struct snap *sn, char *text)
{
	struct vma *cur = NULL;
	unsigned long long rss = 0, swap = 0, huge = 0;
	bool seen_rss = false;
	size_t j = 0;
	char *line, *save = NULL;

	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		unsigned long long s, e, val;
		char perms[8];

		/* entry headers are maps lines (lowercase hex); keys: words */
		if ((isdigit((unsigned char)line[0]) ||
		    (line[0] >= 'a' && line[0] <= 'f')) &&
		    sscanf(line, "%llx-%llx %7s", &s, &e, perms) == 3) {
			if (cur != NULL && seen_rss)
				cur->empty = rss == 0 && swap == 0 &&
				    huge == 0 && !cur->hugetlb;
			cur = NULL;
			rss = swap = huge = 0;
			seen_rss = false;
			while (j < sn->nv && sn->v[j].start < s)
				j++;
			if (j < sn->nv && sn->v[j].start == s &&
			    sn->v[j].end == e) {
				cur = &sn->v[j];
				cur->smaps = true;
			}
			continue;
		}
		if (cur == NULL)
			continue;
		if (sscanf(line, "Rss: %llu", &val) == 1) {
			rss = val;
			seen_rss = true;
		} else if (sscanf(line, "Swap: %llu", &val) == 1)
			swap = val;
		else if (sscanf(line, "Private_Hugetlb: %llu", &val) == 1 ||
		    sscanf(line, "Shared_Hugetlb: %llu", &val) == 1)
			huge += val;
		else if (strncmp(line, "VmFlags:", 8) == 0) {
			char *f, *fs = NULL;

			for (f = strtok_r(line + 8, " ", &fs); f != NULL;
			    f = strtok_r(NULL, " ", &fs)) {
				if (strcmp(f, "dd") == 0)
					cur->dontdump = true;
				else if (strcmp(f, "io") == 0 ||
				    strcmp(f, "pf") == 0)
					cur->io = true;
				else if (strcmp(f, "ht") == 0)
					cur->hugetlb = true;
			}
		}
	}
	if (cur != NULL && seen_rss)
		cur->empty = rss == 0 && swap == 0 && huge == 0 &&
		    !cur->hugetlb;
}

/*
 * Is the file system of device maj:mnr one whose pages may be read (a
 * local disk or memory)?  Looked up in the target's mount table, else in
 * ours (an overlay's files sit on a device only the host mounts); a device
 * in neither, or past HEADER_DEVS of them, is not read.
 */
static bool
dev_local(struct snap *sn, unsigned maj, unsigned mnr)
{
	char fstype[64];
	bool local;
	size_t i;

	for (i = 0; i < sn->nhdev; i++)
		if (sn->hdev[i].major == maj && sn->hdev[i].minor == mnr)
			return sn->hdev[i].local;
	if (sn->nhdev == HEADER_DEVS)
		return false;
	local = (kk_dev_fstype(sn->pid, maj, mnr, fstype, sizeof(fstype)) == 0 ||
	    kk_dev_fstype(0, maj, mnr, fstype, sizeof(fstype)) == 0) &&
	    kk_fstype_local(fstype);
	sn->hdev[sn->nhdev].major = maj;
	sn->hdev[sn->nhdev].minor = mnr;
	sn->hdev[sn->nhdev].local = local;
	sn->nhdev++;
	return local;
}

/*
 * Which mappings carry data in the core.  Unreadable ones (no 'r', the
 * vvar pages, VM_IO / VM_PFNMAP) get p_filesz 0 as the kernel gives them.
 * MADV_DONTDUMP is honoured only for large mappings: sanitizer shadows and
 * address-space reserves are terabytes of holes whose SHA-256 alone would
 * take hours, while a small region hidden that way is exactly what an
 * investigator wants to see.
 */
static void
plan_vmas(struct snap *sn, uint64_t data_off)
{
	uint64_t off = data_off;
	size_t i;

	for (i = 0; i < sn->nv; i++) {
		struct vma *v = &sn->v[i];
		uint64_t size = v->end - v->start;

		v->filesz = size;
		if (!(v->pflags & PF_R) || v->io ||
		    vma_is(sn, v, "[vvar]") || vma_is(sn, v, "[vvar_vclock]") ||
		    (v->dontdump && size > DONTDUMP_KEEP))
			v->filesz = 0;
		v->header = v->filesz >= (uint64_t)sn->pgsz && v->pgoff == 0 &&
		    vma_file(sn, v) && dev_local(sn, v->dev_major,
		    v->dev_minor);
		v->off = off;
		off += v->filesz;
	}
}

/* ---- notes ------------------------------------------------------- */

static int
note_add(struct snap *sn, const char *name, uint32_t type, const void *desc,
    size_t dlen)
{
	Elf64_Nhdr nh;
	size_t namesz = strlen(name) + 1;
	size_t need = sizeof(nh) + ((namesz + 3) & ~3UL) +
	    ((dlen + 3) & ~3UL);
	uint8_t *p;

	if (dlen > UINT32_MAX)
		return -E2BIG;
	if (sn->ncap - sn->nlen < need) {
		size_t cap = sn->ncap ? sn->ncap : 65536;

		while (cap - sn->nlen < need) {
			if (cap > ((size_t)1 << 31))
				return -E2BIG;
			cap *= 2;
		}
		if ((p = realloc(sn->notes, cap)) == NULL)
			return -ENOMEM;
		sn->notes = p;
		sn->ncap = cap;
	}
	p = sn->notes + sn->nlen;
	memset(p, 0, need);
	nh.n_namesz = (uint32_t)namesz;
	nh.n_descsz = (uint32_t)dlen;
	nh.n_type = type;
	memcpy(p, &nh, sizeof(nh));
	memcpy(p + sizeof(nh), name, namesz);
	if (dlen > 0)
		memcpy(p + sizeof(nh) + ((namesz + 3) & ~3UL), desc, dlen);
	sn->nlen += need;
	return 0;
}

static struct timeval
ticks_tv(const struct snap *sn, const char *s)
{
	unsigned long long t = strtoull(s, NULL, 10);
	struct timeval tv;

	tv.tv_sec = (time_t)(t / (unsigned long long)sn->clk_tck);
	tv.tv_usec = (suseconds_t)((t % (unsigned long long)sn->clk_tck) *
	    1000000 / (unsigned long long)sn->clk_tck);
	return tv;
}

/* NT_PRSTATUS of one stopped thread; false if its registers are gone. */
static bool
thread_prstatus(struct snap *sn, pid_t tid, struct elf_prstatus *pr)
{
	char path[96], *text = NULL, *f[20];
	const char *v;
	struct iovec iov;
	size_t len;

	memset(pr, 0, sizeof(*pr));
	pr->pr_pid = tid;
	iov.iov_base = &pr->pr_reg;
	iov.iov_len = sizeof(pr->pr_reg);
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)sn->pid,
	    (int)tid);
	if (kk_read_text(path, 65536, &text, &len) == 0 &&
	    stat_fields(text, f, 15) >= 15) {
		pr->pr_ppid = atoi(f[1]);
		pr->pr_pgrp = atoi(f[2]);
		pr->pr_sid = atoi(f[3]);
		pr->pr_utime = ticks_tv(sn, f[11]);
		pr->pr_stime = ticks_tv(sn, f[12]);
		pr->pr_cutime = ticks_tv(sn, f[13]);
		pr->pr_cstime = ticks_tv(sn, f[14]);
	}
	free(text);
	text = NULL;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)sn->pid,
	    (int)tid);
	if (kk_read_text(path, 65536, &text, &len) == 0) {
		if ((v = status_field(text, "SigPnd")) != NULL)
			pr->pr_sigpend = strtoul(v, NULL, 16);
		if ((v = status_field(text, "SigBlk")) != NULL)
			pr->pr_sighold = strtoul(v, NULL, 16);
	}
	free(text);
	pr->pr_fpvalid = 1;
	return true;
}

static int
psinfo_note(struct snap *sn)
{
	struct elf_prpsinfo ps;
	char *stat = NULL, *f[20], *comm, *ce;
	const char *v;
	size_t len, i;
	int err;

	memset(&ps, 0, sizeof(ps));
	if ((err = read_pidfile(sn, "stat", 65536, &stat, &len)) < 0)
		return err;
	/* comm sits between the first '(' and the last ')' */
	comm = strchr(stat, '(');
	ce = strrchr(stat, ')');
	if (comm != NULL && ce != NULL && ce > comm) {
		len = (size_t)(ce - comm - 1);
		if (len >= sizeof(ps.pr_fname))
			len = sizeof(ps.pr_fname) - 1;
		memcpy(ps.pr_fname, comm + 1, len);
	}
	if (stat_fields(stat, f, 17) >= 17) {
		const char *states = "RSDTZW";
		const char *s = strchr(states, f[0][0]);

		ps.pr_sname = f[0][0];
		ps.pr_state = s != NULL && f[0][0] != '\0' ?
		    (char)(s - states) : 6;
		ps.pr_zomb = f[0][0] == 'Z';
		ps.pr_ppid = atoi(f[1]);
		ps.pr_pgrp = atoi(f[2]);
		ps.pr_sid = atoi(f[3]);
		ps.pr_flag = strtoul(f[6], NULL, 10);
		ps.pr_nice = (char)atoi(f[16]);
	}
	ps.pr_pid = sn->pid;
	if (sn->status != NULL) {
		if ((v = status_field(sn->status, "Uid")) != NULL)
			ps.pr_uid = (unsigned)strtoul(v, NULL, 10);
		if ((v = status_field(sn->status, "Gid")) != NULL)
			ps.pr_gid = (unsigned)strtoul(v, NULL, 10);
	}
	if (sn->cmdline != NULL) {
		len = sn->cmdlinelen;
		if (len >= sizeof(ps.pr_psargs))
			len = sizeof(ps.pr_psargs) - 1;
		for (i = 0; i < len; i++)
			ps.pr_psargs[i] = sn->cmdline[i] ? sn->cmdline[i] : ' ';
		while (len > 0 && ps.pr_psargs[len - 1] == ' ')
			ps.pr_psargs[--len] = '\0';
	}
	free(stat);
	return note_add(sn, "CORE", NT_PRPSINFO, &ps, sizeof(ps));
}

/* NT_FILE: count, page size, {start, end, offset in pages}, names */
static int
file_note(struct snap *sn)
{
	uint64_t count = 0, *hdr;
	size_t i, size, names;
	uint8_t *desc;
	char *np;
	int err;

	size = 2 * sizeof(uint64_t);
	for (i = 0; i < sn->nv; i++)
		if (vma_file(sn, &sn->v[i])) {
			count++;
			size += 3 * sizeof(uint64_t) + sn->v[i].pathlen + 1;
		}
	if (size > FILE_NOTE_MAX)
		return 0;
	if ((desc = calloc(1, size)) == NULL)
		return -ENOMEM;
	hdr = (uint64_t *)desc;
	hdr[0] = count;
	hdr[1] = (uint64_t)sn->pgsz;
	names = 2 * sizeof(uint64_t) + (size_t)count * 3 * sizeof(uint64_t);
	np = (char *)desc + names;
	count = 0;
	for (i = 0; i < sn->nv; i++) {
		const struct vma *v = &sn->v[i];

		if (!vma_file(sn, v))
			continue;
		hdr[2 + 3 * count] = v->start;
		hdr[3 + 3 * count] = v->end;
		hdr[4 + 3 * count] = v->pgoff / (uint64_t)sn->pgsz;
		memcpy(np, sn->maps + v->path, v->pathlen);
		np += v->pathlen + 1;
		count++;
	}
	err = note_add(sn, "CORE", NT_FILE, desc, size);
	free(desc);
	return err;
}

static int
process_notes(struct snap *sn, const char *auxv, size_t auxvlen)
{
	int err;

	if ((err = psinfo_note(sn)) < 0 && err != -ESRCH)
		return err;
	if (auxvlen > 0 && (err = note_add(sn, "CORE", NT_AUXV, auxv,
	    auxvlen)) < 0)
		return err;
	return file_note(sn);
}

/*
 * One thread's notes: NT_PRSTATUS, the process notes after the first
 * thread's, then its other register sets.
 */
static int
thread_notes(struct snap *sn, const struct thr *t, bool *first,
    const char *auxv, size_t auxvlen, uint8_t *xs)
{
	struct elf_prstatus pr;
	elf_fpregset_t fp;
	struct iovec iov;
	int err;

	if (t->state != T_STOPPED || !thread_prstatus(sn, t->tid, &pr))
		return 0;
	if ((err = note_add(sn, "CORE", NT_PRSTATUS, &pr, sizeof(pr))) < 0)
		return err;
	if (*first) {
		if ((err = process_notes(sn, auxv, auxvlen)) < 0)
			return err;
		*first = false;
	}
	iov.iov_base = &fp;
	iov.iov_len = sizeof(fp);
	if (ptrace(PTRACE_GETREGSET, t->tid, (void *)NT_FPREGSET, &iov) == 0 &&
	    (err = note_add(sn, "CORE", NT_FPREGSET, &fp, iov.iov_len)) < 0)
		return err;
#if defined(__x86_64__)
	iov.iov_base = xs;
	iov.iov_len = XSTATE_MAX;
	if (ptrace(PTRACE_GETREGSET, t->tid, (void *)NT_X86_XSTATE,
	    &iov) == 0 && (err = note_add(sn, "LINUX", NT_X86_XSTATE, xs,
	    iov.iov_len)) < 0)
		return err;
#else
	(void)xs;
#endif
	return 0;
}

/*
 * The notes in the kernel's order (fs/binfmt_elf.c write_note_info): the
 * main thread's NT_PRSTATUS, the process notes (NT_PRPSINFO, NT_AUXV,
 * NT_FILE), the main thread's other register sets; then NT_PRSTATUS and
 * the register sets of every other thread.  No NT_SIGINFO: no signal
 * caused this dump.
 */
static int
build_notes(struct snap *sn)
{
	uint8_t *xs = NULL;
	char *auxv = NULL;
	size_t auxvlen = 0, i;
	bool first = true;
	int err = 0;

#if defined(__x86_64__)
	if ((xs = malloc(XSTATE_MAX)) == NULL)
		return -ENOMEM;
#endif
	if (read_pidfile(sn, "auxv", SMALL_MAX, &auxv, &auxvlen) < 0)
		auxvlen = 0;
	for (i = 0; i < sn->nt; i++)
		if (sn->t[i].tid == sn->pid && (err = thread_notes(sn,
		    &sn->t[i], &first, auxv, auxvlen, xs)) < 0)
			goto out;
	for (i = 0; i < sn->nt; i++)
		if (sn->t[i].tid != sn->pid && (err = thread_notes(sn,
		    &sn->t[i], &first, auxv, auxvlen, xs)) < 0)
			goto out;
	/* no thread could be stopped: still say what process it was */
	if (first)
		err = process_notes(sn, auxv, auxvlen);
out:
	free(auxv);
	free(xs);
	return err;
}

/* ---- memory ------------------------------------------------------ */

static int
flush_gap(struct snap *sn, struct kk_artifact *a)
{
	int err = 0;

	if (sn->gap_len > 0)
		err = kk_artifact_gap(a, sn->gap_off, sn->gap_len, sn->gap_why);
	sn->gap_len = 0;
	/* past 4096 gaps the list is full; the data is zeros either way */
	return err == -E2BIG ? 0 : err;
}

static int
add_gap(struct snap *sn, struct kk_artifact *a, uint64_t off, uint64_t len,
    const char *why)
{
	int err;

	if (sn->gap_len > 0 && sn->gap_off + sn->gap_len == off &&
	    strcmp(sn->gap_why, why) == 0) {
		sn->gap_len += len;
		return 0;
	}
	if ((err = flush_gap(sn, a)) < 0)
		return err;
	sn->gap_off = off;
	sn->gap_len = len;
	sn->gap_why = why;
	return 0;
}

/*
 * Zeros into the core: a hole when large, written out when small (a hole
 * makes the pipelined hasher drain, which costs more than a few pages).
 */
static int
put_zeros(struct kk_sink *s, uint64_t len)
{
	size_t k;
	int err;

	if (len >= HOLE_MIN)
		return kk_sink_hole(s, len);
	while (len > 0) {
		k = len > sizeof(zeros) ? sizeof(zeros) : (size_t)len;
		if ((err = kk_sink_write(s, zeros, k)) < 0)
			return err;
		len -= k;
	}
	return 0;
}

/*
 * Reads up to n bytes at addr: the count read (0: the page at addr cannot
 * be read), or -ESRCH when the process is gone.
 */
static ssize_t
mem_read(struct snap *sn, uint64_t addr, void *buf, size_t n)
{
	struct iovec l, r;
	ssize_t got;
	int tries;

	if (sn->use_vm) {
		l.iov_base = buf;
		l.iov_len = n;
		r.iov_base = (void *)(uintptr_t)addr;
		r.iov_len = n;
		for (tries = 0; tries < 8; tries++) {
			got = process_vm_readv(sn->pid, &l, 1, &r, 1, 0);
			if (got >= 0)
				return got;
			if (errno != EINTR)
				break;
		}
		if (errno == ESRCH)
			return -ESRCH;
		if (errno == EFAULT || errno == EIO || errno == ENOMEM)
			return 0;
		/* ENOSYS, EPERM (seccomp, LSM): /proc/PID/mem from now on */
		sn->use_vm = false;
	}
	if (sn->memfd < 0 || addr > (uint64_t)INT64_MAX)
		return 0;
	for (tries = 0; tries < 8; tries++) {
		got = pread(sn->memfd, buf, n, (off_t)addr);
		if (got >= 0)
			return got;
		if (errno != EINTR)
			break;
	}
	return errno == ESRCH ? -ESRCH : 0;
}

/* Copies [start, end), which the page tables say is there, to the core. */
static int
copy_run(struct snap *sn, struct kk_sink *s, struct kk_artifact *a,
    uint64_t start, uint64_t end)
{
	uint64_t addr = start, pend, pg = (uint64_t)sn->pgsz;
	uint64_t guard = (end - start) / pg + 2;
	ssize_t got;
	size_t n;
	int err;

	while (addr < end && guard-- > 0) {
		n = end - addr > READ_BATCH ? READ_BATCH : (size_t)(end - addr);
		if ((got = mem_read(sn, addr, sn->buf, n)) < 0)
			return (int)got;
		if (got > 0) {
			if ((err = kk_sink_write(s, sn->buf, (size_t)got)) < 0)
				return err;
			addr += (uint64_t)got;
		}
		if ((size_t)got == n)
			continue;
		/* the page at addr failed: try /proc/PID/mem once for it */
		pend = (addr & ~(pg - 1)) + pg;
		if (pend > end)
			pend = end;
		got = 0;
		if (sn->use_vm && sn->memfd >= 0 && addr <= (uint64_t)INT64_MAX)
			got = pread(sn->memfd, sn->buf, (size_t)(pend - addr),
			    (off_t)addr);
		if (got == (ssize_t)(pend - addr)) {
			if ((err = kk_sink_write(s, sn->buf, (size_t)got)) < 0)
				return err;
		} else {
			err = add_gap(sn, a, kk_sink_offset(s), pend - addr,
			    "unreadable");
			if (err < 0)
				return err;
			if ((err = put_zeros(s, pend - addr)) < 0)
				return err;
		}
		addr = pend;
	}
	return addr >= end ? 0 : -EIO;
}

/*
 * The present (or swapped) runs of pages in [pos, end), ascending, into
 * sn->runs; *done is how far the page tables were looked at.
 */
static int
present_runs(struct snap *sn, uint64_t pos, uint64_t end, uint64_t *done)
{
	struct runs *r = &sn->runs;
	uint64_t pg = (uint64_t)sn->pgsz, wend, a;
	size_t i, want, nent;
	ssize_t got;
	int n;

	r->n = 0;
	if (sn->use_scan) {
		struct pm_scan arg;

		memset(&arg, 0, sizeof(arg));
		arg.size = sizeof(arg);
		arg.start = pos;
		arg.end = end;
		arg.vec = (uint64_t)(uintptr_t)sn->scanvec;
		arg.vec_len = SCAN_VEC;
		arg.category_anyof_mask = PM_PRESENT | PM_SWAPPED;
		arg.return_mask = PM_PRESENT | PM_SWAPPED | PM_PFNZERO;
		n = ioctl(sn->pmfd, PM_SCAN_IOCTL, &arg);
		if (n >= 0) {
			uint64_t last = pos;

			for (i = 0; i < (size_t)n && i < SCAN_VEC; i++) {
				struct pm_region *g = &sn->scanvec[i];

				if (g->start < last || g->end > end ||
				    g->start >= g->end)
					continue;
				r->v[r->n].start = g->start;
				r->v[r->n].end = g->end;
				r->v[r->n].zero = (g->categories &
				    (PM_PFNZERO | PM_SWAPPED)) == PM_PFNZERO;
				r->n++;
				last = g->end;
			}
			/*
			 * walk_end says how far the kernel looked (less than
			 * end when the vector filled up); distrust odd values.
			 */
			wend = arg.walk_end;
			if (wend <= pos || wend > end)
				wend = (size_t)n < SCAN_VEC ? end : last;
			if (wend < last)
				wend = last;
			*done = wend;
			return 0;
		}
		if (errno == ESRCH)
			return -ESRCH;
		/* older kernel: read the pagemap entries instead */
		sn->use_scan = false;
	}
	nent = (size_t)((end - pos) / pg);
	if (nent > PM_CHUNK)
		nent = PM_CHUNK;
	want = nent * sizeof(uint64_t);
	got = pread(sn->pmfd, sn->pm, want, (off_t)((pos / pg) *
	    sizeof(uint64_t)));
	if (got < 0)
		return errno == ESRCH ? -ESRCH : -errno;
	/* entries past what came back count as absent */
	for (i = 0; i < nent; i++) {
		uint64_t e = (size_t)got >= (i + 1) * sizeof(uint64_t) ?
		    sn->pm[i] : 0;

		if (!(e & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED)))
			continue;
		a = pos + i * pg;
		if (r->n > 0 && r->v[r->n - 1].end == a)
			r->v[r->n - 1].end = a + pg;
		else if (r->n < SCAN_VEC) {
			r->v[r->n].start = a;
			r->v[r->n].end = a + pg;
			r->v[r->n].zero = false;
			r->n++;
		} else {
			/* the run list is full: stop here, go on next time */
			*done = a;
			return 0;
		}
	}
	*done = pos + nent * pg;
	return 0;
}

static int
dump_vma(struct snap *sn, struct kk_sink *s, struct kk_artifact *a,
    const struct vma *v)
{
	uint64_t pos = v->start, done = 0, guard, pg = (uint64_t)sn->pgsz;
	size_t i;
	int err;

	if (v->filesz == 0)
		return 0;
	if (v->header) {
		if ((err = copy_run(sn, s, a, pos, pos + pg)) < 0)
			return err;
		pos += pg;
	}
	if (v->smaps && v->empty)
		return kk_sink_hole(s, v->end - pos);
	guard = (v->end - v->start) / pg + 2;
	while (pos < v->end && guard-- > 0) {
		if ((err = present_runs(sn, pos, v->end, &done)) < 0)
			return err;
		if (done <= pos || done > v->end)
			return -EIO;	/* no progress: never loop */
		for (i = 0; i < sn->runs.n; i++) {
			uint64_t rs = sn->runs.v[i].start;
			uint64_t re = sn->runs.v[i].end;

			if (rs < pos || re > done || rs >= re)
				continue;
			if ((err = put_zeros(s, rs - pos)) < 0)
				return err;
			if (sn->runs.v[i].zero)
				err = put_zeros(s, re - rs);
			else
				err = copy_run(sn, s, a, rs, re);
			if (err < 0)
				return err;
			pos = re;
		}
		if ((err = put_zeros(s, done - pos)) < 0)
			return err;
		pos = done;
	}
	return pos == v->end ? 0 : -EIO;
}

static void
put_headers(struct snap *sn, uint8_t *hdr, size_t phnum, bool extnum,
    uint64_t shoff)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	size_t i;

	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_ident[EI_OSABI] = ELFOSABI_NONE;
	eh.e_type = ET_CORE;
#ifdef CORE_MACHINE
	eh.e_machine = CORE_MACHINE;
#endif
	eh.e_version = EV_CURRENT;
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(ph);
	eh.e_phnum = extnum ? PN_XNUM : (Elf64_Half)phnum;
	if (extnum) {
		eh.e_shoff = shoff;
		eh.e_shentsize = sizeof(Elf64_Shdr);
		eh.e_shnum = 1;
		eh.e_shstrndx = SHN_UNDEF;
	}
	memcpy(hdr, &eh, sizeof(eh));
	hdr += sizeof(eh);

	memset(&ph, 0, sizeof(ph));
	ph.p_type = PT_NOTE;
	ph.p_offset = sizeof(eh) + phnum * sizeof(ph);
	ph.p_filesz = sn->nlen;
	ph.p_align = 4;
	memcpy(hdr, &ph, sizeof(ph));
	hdr += sizeof(ph);
	for (i = 0; i < sn->nv; i++) {
		const struct vma *v = &sn->v[i];

		memset(&ph, 0, sizeof(ph));
		ph.p_type = PT_LOAD;
		ph.p_flags = v->pflags;
		ph.p_offset = v->off;
		ph.p_vaddr = v->start;
		ph.p_filesz = v->filesz;
		ph.p_memsz = v->end - v->start;
		ph.p_align = (uint64_t)sn->pgsz;
		memcpy(hdr, &ph, sizeof(ph));
		hdr += sizeof(ph);
	}
}

/*
 * The core file: ELF header, PT_NOTE + one PT_LOAD per mapping, the
 * notes, then the data of every mapping from the next page boundary on.
 */
static int
write_core(struct snap *sn, struct kk_artifact *a)
{
	struct kk_sink *s = NULL;
	char rel[64];
	size_t phnum = sn->nv + 1, hlen, i;
	uint64_t data_off, shoff;
	bool extnum = phnum >= PN_XNUM;
	uint8_t *hdr = NULL;
	int err;

	hlen = sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr);
	data_off = ((uint64_t)(hlen + sn->nlen) + (uint64_t)sn->pgsz - 1) &
	    ~((uint64_t)sn->pgsz - 1);
	plan_vmas(sn, data_off);
	shoff = sn->nv > 0 ? sn->v[sn->nv - 1].off +
	    sn->v[sn->nv - 1].filesz : data_off;

	snprintf(rel, sizeof(rel), "pid-%d/core", (int)sn->pid);
	if ((err = kk_sink_open_pipelined(sn->dirfd, rel, &s)) < 0) {
		set_err(sn, "%s: %s", rel, strerror(-err));
		return err;
	}
	snprintf(a->method, sizeof(a->method), "%s", METHOD_VM);
	if ((hdr = calloc(1, hlen)) == NULL) {
		err = -ENOMEM;
		goto close;
	}
	put_headers(sn, hdr, phnum, extnum, shoff);
	if ((err = kk_sink_write(s, hdr, hlen)) < 0 ||
	    (err = kk_sink_write(s, sn->notes, sn->nlen)) < 0 ||
	    (err = put_zeros(s, data_off - (hlen + sn->nlen))) < 0)
		goto close;
	for (i = 0; i < sn->nv; i++) {
		if ((err = dump_vma(sn, s, a, &sn->v[i])) < 0)
			goto close;
		if (kk_sink_offset(s) != sn->v[i].off + sn->v[i].filesz) {
			err = -EIO;	/* a bug, not the target: say so */
			set_err(sn, "core: mapping %zu written at the wrong "
			    "offset", i);
			goto close;
		}
	}
	if (extnum) {
		Elf64_Shdr sh;

		memset(&sh, 0, sizeof(sh));
		sh.sh_type = SHT_NULL;
		sh.sh_size = 1;
		sh.sh_link = SHN_UNDEF;
		sh.sh_info = (Elf64_Word)phnum;
		err = kk_sink_write(s, &sh, sizeof(sh));
	}
close:
	if (err == 0)
		err = flush_gap(sn, a);
	else
		(void)flush_gap(sn, a);
	if (!sn->use_vm)
		snprintf(a->method, sizeof(a->method), "%s", METHOD_MEM);
	/* registers of threads that never stopped are missing */
	if (err == 0 && sn->unstopped > 0) {
		a->incomplete = true;
		snprintf(a->error, sizeof(a->error), "%zu of %zu threads did "
		    "not stop within %d ms: their registers are missing",
		    sn->unstopped, sn->nt, STOP_TIMEOUT_MS);
	} else if (err == 0 && sn->seize_err != 0) {
		a->incomplete = true;
		snprintf(a->error, sizeof(a->error), "ptrace refused (%s): "
		    "registers are missing", strerror(-sn->seize_err));
	}
	err = kk_sink_close(s, a, err);
	free(hdr);
	return err;
}

/* ---- the snapshot ------------------------------------------------ */

static void
art_init(struct snap *sn, struct kk_artifact *a)
{
	memset(a, 0, sizeof(*a));
	a->pid = sn->pid;
	a->start_time = sn->start_time;
}

/* Appends a written file (not one that could not even be created). */
static int
art_add(struct snap *sn, struct kk_artifact *a)
{
	int err;

	a->pid = sn->pid;
	a->start_time = sn->start_time;
	if (a->sha256[0] == '\0') {
		json_decref(a->gaps);
		a->gaps = NULL;
		return 0;
	}
	if ((err = kk_artifacts_add(sn->arts, a)) < 0) {
		json_decref(a->gaps);
		a->gaps = NULL;
		set_err(sn, "artifact list: %s", strerror(-err));
	}
	return err;
}

/* One buffered /proc file as pid-N/<name>. */
static int
put_file(struct snap *sn, const char *name, const char *buf, size_t len)
{
	struct kk_artifact a;
	char rel[64];
	int err, aerr;

	art_init(sn, &a);
	snprintf(rel, sizeof(rel), "pid-%d/%s", (int)sn->pid, name);
	kk_artifacts_begin(sn->arts, rel);
	err = kk_artifact_write(sn->dirfd, rel, buf, len, "procfs", &a);
	if (err == -ENOSPC)
		set_err(sn, "%s: no space left on device", rel);
	else if (err < 0)
		set_err(sn, "%s: %s", rel, strerror(-err));
	aerr = art_add(sn, &a);
	return err < 0 ? err : aerr;
}

static int
snap_files(struct snap *sn)
{
	struct kk_exe_info info;
	struct kk_artifact a;
	char rel[64], src[64], why[200];
	int err, fd;

	if ((err = put_file(sn, "maps", sn->maps, sn->mapslen)) < 0)
		return err;
	if (sn->status != NULL &&
	    (err = put_file(sn, "status", sn->status, sn->statuslen)) < 0)
		return err;
	if (sn->cmdline != NULL &&
	    (err = put_file(sn, "cmdline", sn->cmdline, sn->cmdlinelen)) < 0)
		return err;
	if (sn->environ != NULL) {
		if ((err = put_file(sn, "environ", sn->environ,
		    sn->environlen)) < 0)
			return err;
	}

	art_init(sn, &a);
	snprintf(rel, sizeof(rel), "pid-%d/exe", (int)sn->pid);
	snprintf(src, sizeof(src), "/proc/%d/exe", (int)sn->pid);
	/*
	 * Only from a local file system: a FUSE or network server could
	 * keep us waiting for ever.  What is not copied is an empty
	 * artifact that says why, so the manifest tells the examiner.
	 */
	kk_artifacts_begin(sn->arts, rel);
	err = kk_exe_open(sn->pid, &info, &fd, why, sizeof(why));
	if (err == -EPERM) {
		err = kk_artifact_write(sn->dirfd, rel, "", 0, "procfs", &a);
		a.incomplete = true;
		snprintf(a.error, sizeof(a.error), "not copied: %.180s", why);
	} else if (err == 0) {
		err = kk_artifact_copy_fd(sn->dirfd, rel, fd, src, EXE_MAX,
		    "procfs", &a);
		close(fd);
	} else if (err == -ESRCH) {
		err = -ENOENT;
	}
	if (art_add(sn, &a) < 0 && err == 0)
		err = -ENOMEM;
	/* no executable to copy (it can vanish with its mount): not fatal */
	if (err == -ENOENT)
		return 0;
	if (err == -ENOSPC)
		set_err(sn, "%s: no space left on device", rel);
	else if (err < 0)
		set_err(sn, "exe: %s", a.error[0] ? a.error : strerror(-err));
	return err;
}

static int
snap_run(struct snap *sn)
{
	struct kk_artifact a;
	char path[64], *smaps = NULL;
	unsigned long long st2;
	size_t smapslen, i;
	const char *v;
	int err, cerr;

	sn->pgsz = sysconf(_SC_PAGESIZE);
	sn->clk_tck = sysconf(_SC_CLK_TCK);
	if (sn->pgsz <= 0 || (sn->pgsz & (sn->pgsz - 1)) != 0)
		sn->pgsz = 4096;
	if (sn->clk_tck <= 0)
		sn->clk_tck = 100;
	sn->pmfd = sn->memfd = -1;

	if ((err = kk_proc_start_time(sn->pid, &sn->start_time)) < 0) {
		set_err(sn, "%s", err == -ESRCH ? "no such process" :
		    strerror(-err));
		goto out;
	}
	/* the pid was recorded for another process: not a word of it */
	if (sn->want_start != 0 && sn->start_time != sn->want_start) {
		err = -ESRCH;
		set_err(sn, "not the process recorded (started at %llu, not "
		    "%llu): its pid was reused", sn->start_time,
		    sn->want_start);
		goto out;
	}
	if ((err = read_pidfile(sn, "status", SMALL_MAX, &sn->status,
	    &sn->statuslen)) < 0) {
		set_err(sn, "status: %s", strerror(-err));
		goto out;
	}
	v = status_field(sn->status, "Tgid");
	if (v == NULL || atoi(v) != (int)sn->pid) {
		err = -EINVAL;
		set_err(sn, "not a process id (a thread of %d)",
		    v ? atoi(v) : -1);
		goto out;
	}
	/* a zombie has no memory left to take */
	if ((v = status_field(sn->status, "State")) != NULL)
		v += strspn(v, " \t");
	if (v != NULL && (*v == 'Z' || *v == 'X')) {
		err = -ESRCH;
		set_err(sn, "the process exited");
		goto out;
	}
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)sn->pid);
	if ((sn->pmfd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		err = errno == ENOENT ? -ESRCH : -errno;
		set_err(sn, "pagemap: %s", strerror(-err));
		goto out;
	}
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)sn->pid);
	sn->memfd = open(path, O_RDONLY | O_CLOEXEC);
	sn->use_vm = true;
	sn->use_scan = true;
	sn->buf = malloc(READ_BATCH);
	sn->scanvec = calloc(SCAN_VEC, sizeof(*sn->scanvec));
	sn->pm = calloc(PM_CHUNK, sizeof(*sn->pm));
	if (sn->buf == NULL || sn->scanvec == NULL || sn->pm == NULL) {
		err = -ENOMEM;
		set_err(sn, "%s", strerror(ENOMEM));
		goto out;
	}

	if ((err = stop_threads(sn)) < 0) {
		set_err(sn, "stopping threads: %s", strerror(-err));
		goto out;
	}
	/*
	 * Refused, and no other tracer to explain it: ptrace is not allowed
	 * at all (and process_vm_readv would not be either).
	 */
	if (sn->seize_err != 0) {
		bool any = false;

		for (i = 0; i < sn->nt; i++)
			if (sn->t[i].state == T_STOPPED)
				any = true;
		v = status_field(sn->status, "TracerPid");
		if (!any && (v == NULL || atoi(v) == 0)) {
			err = sn->seize_err;
			set_err(sn, "ptrace: %s", strerror(-err));
			goto out;
		}
	}
	/* a pid reused while we looked is not the process asked for */
	if (kk_proc_start_time(sn->pid, &st2) < 0 || st2 != sn->start_time) {
		err = -ESRCH;
		set_err(sn, "the process exited");
		goto out;
	}

	/* everything that describes the memory, read while it holds still */
	if ((err = read_pidfile(sn, "maps", MAPS_MAX, &sn->maps,
	    &sn->mapslen)) < 0) {
		set_err(sn, "maps: %s", strerror(-err));
		goto out;
	}
	if ((err = parse_maps(sn)) < 0) {
		set_err(sn, "maps: %s", strerror(-err));
		goto out;
	}
	if (read_pidfile(sn, "smaps", MAPS_MAX, &smaps, &smapslen) == 0)
		apply_smaps(sn, smaps);
	free(smaps);
	free(sn->status);
	sn->status = NULL;
	if ((err = read_pidfile(sn, "status", SMALL_MAX, &sn->status,
	    &sn->statuslen)) < 0 ||
	    (err = read_pidfile(sn, "cmdline", SMALL_MAX, &sn->cmdline,
	    &sn->cmdlinelen)) < 0) {
		set_err(sn, "reading /proc: %s", strerror(-err));
		goto out;
	}
	sn->environ_err = read_pidfile(sn, "environ", SMALL_MAX, &sn->environ,
	    &sn->environlen);
	if ((err = build_notes(sn)) < 0) {
		set_err(sn, "core notes: %s", strerror(-err));
		goto out;
	}

	art_init(sn, &a);
	snprintf(path, sizeof(path), "pid-%d/core", (int)sn->pid);
	kk_artifacts_begin(sn->arts, path);
	err = write_core(sn, &a);
	detach_threads(sn);
	cerr = art_add(sn, &a);
	if (err == -ENOSPC) {
		set_err(sn, "core: no space left on device after %llu bytes",
		    (unsigned long long)a.size);
		goto out;
	}
	if (err == -ESRCH) {
		set_err(sn, "the process exited during the snapshot");
		goto out;
	}
	if (err < 0) {
		set_err(sn, "core: %s", a.error[0] ? a.error : strerror(-err));
		goto out;
	}
	if ((err = cerr) < 0)
		goto out;

	if ((err = snap_files(sn)) < 0)
		goto out;
	/* the registers part: an incomplete core is an error to report */
	if (sn->unstopped > 0) {
		err = -ETIMEDOUT;
		set_err(sn, "%zu of %zu threads did not stop within %d ms",
		    sn->unstopped, sn->nt, STOP_TIMEOUT_MS);
	} else if (sn->seize_err != 0) {
		err = sn->seize_err;
		set_err(sn, "ptrace refused (traced by another process?): "
		    "registers missing");
	}
out:
	detach_threads(sn);
	if (sn->pmfd >= 0)
		close(sn->pmfd);
	if (sn->memfd >= 0)
		close(sn->memfd);
	free(sn->t);
	free(sn->v);
	free(sn->maps);
	free(sn->status);
	free(sn->cmdline);
	free(sn->environ);
	free(sn->notes);
	free(sn->buf);
	free(sn->scanvec);
	free(sn->pm);
	return err;
}

static void *
snap_thread(void *arg)
{
	struct snap *sn = arg;

	sn->ret = snap_run(sn);
	return NULL;
}

int
kk_snapshot_process(int dirfd, pid_t pid, unsigned long long start_time,
    struct kk_artifacts *arts, char *err, size_t errlen)
{
	struct snap *sn;
	pthread_t thr;
	int ret, r;

	if (errlen > 0)
		err[0] = '\0';
#ifndef CORE_MACHINE
	(void)dirfd;
	(void)arts;
	if (errlen > 0)
		snprintf(err, errlen, "pid %d: no ELF core writer for this "
		    "architecture", (int)pid);
	return -ENOTSUP;
#else
	if (pid <= 0 || pid == getpid()) {
		if (errlen > 0)
			snprintf(err, errlen, "pid %d: cannot snapshot that "
			    "process", (int)pid);
		return pid <= 0 ? -ESRCH : -EINVAL;
	}
	if ((sn = calloc(1, sizeof(*sn))) == NULL)
		return -ENOMEM;
	sn->pid = pid;
	sn->want_start = start_time;
	sn->dirfd = dirfd;
	sn->arts = arts;
	sn->err = err;
	sn->errlen = errlen;
	/* the tracer thread: its exit detaches whatever it still traces */
	if ((r = pthread_create(&thr, NULL, snap_thread, sn)) != 0) {
		if (errlen > 0)
			snprintf(err, errlen, "pid %d: thread: %s", (int)pid,
			    strerror(r));
		free(sn);
		return -r;
	}
	pthread_join(thr, NULL);
	ret = sn->ret;
	free(sn);
	return ret;
#endif
}
