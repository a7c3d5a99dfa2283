/*
 * The per-process snapshot (core.c) in files: what they share.  Internal
 * to agentd/evidence/; the interface is evidence.h.
 */
#ifndef KK_SNAPSHOT_H
#define KK_SNAPSHOT_H

#include <elf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "evidence.h"

#if defined(__x86_64__)
#define CORE_MACHINE	EM_X86_64
#elif defined(__aarch64__)
#define CORE_MACHINE	EM_AARCH64
#endif

#define STOP_TIMEOUT_MS	2000		/* for every thread to reach its stop */
#define SMALL_MAX	(16U << 20)	/* status, cmdline, environ, auxv */
#define MAPS_MAX	(64U << 20)	/* maps and smaps text */
#define SCAN_VEC	1024		/* page regions per PAGEMAP_SCAN */
#define PM_CHUNK	65536		/* pagemap entries per read (512 KiB) */
#define HEADER_DEVS	16		/* file systems judged per snapshot */
/*
 * A run of absent pages this long ends a PT_LOAD segment (core_mem.c,
 * plan_vma); there are at most SEGS_EXTRA segments beyond one per mapping,
 * shared among the mappings (fair_shares).
 */
#define SEG_SPLIT	(64U << 10)
#define SEGS_EXTRA	(1U << 16)

/*
 * PAGEMAP_SCAN (Linux 6.7): the uapi headers here may predate it, so the
 * ABI is spelled out; the ioctl number encodes the structure size.
 */
struct pm_region {
	uint64_t start;
	uint64_t end;
	uint64_t categories;
};

struct vma {
	uint64_t start;
	uint64_t end;
	uint64_t pgoff;		/* the maps offset, bytes */
	uint64_t filesz;	/* 0: none of it is read (unreadable, io) */
	size_t path;		/* offset of the path in the maps text */
	size_t pathlen;
	uint32_t pflags;	/* PF_R | PF_W | PF_X */
	unsigned dev_major;	/* of the mapped file */
	unsigned dev_minor;
	bool header;		/* its first page is read even if absent */
	/* it would be, but smaps was not read: read only if resident */
	bool header_unknown;
	bool smaps;		/* the flags below are known */
	bool dontdump;		/* VmFlags dd */
	bool io;		/* VmFlags io or pf: not RAM the kernel lends */
	bool uffd;		/* VmFlags um, uw or ui: a userfaultfd's */
	bool hugetlb;
	bool empty;		/* no resident and no swapped page */
};

/* A PT_LOAD: [vaddr, vaddr + filesz) has data, the rest reads as zero. */
struct seg {
	uint64_t vaddr;
	uint64_t filesz;
	uint64_t memsz;
	uint64_t off;		/* of its data in the core */
	uint32_t pflags;
	bool header;		/* its first page is read even if absent */
};

enum { T_NEW, T_SEIZED, T_STOPPED, T_GONE, T_REFUSED };

struct thr {
	pid_t tid;
	int state;
	int sig;		/* signal to give back on detach */
	bool other;		/* a process of its own that a thread cloned */
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
	/*
	 * Where the process's memory is read: /proc/PID, or when its leader
	 * has exited (pthread_exit) while other threads run, the
	 * /proc/PID/task/TID of one of those, and mm_tid is that thread.
	 */
	char mmdir[64];
	pid_t mm_tid;
	bool leader_gone;
	long pgsz;
	long clk_tck;
	int pmfd;		/* /proc/PID/pagemap */
	int memfd;		/* /proc/PID/mem, the reader */
	bool use_scan;		/* PAGEMAP_SCAN works */

	struct thr *t;
	size_t nt;
	size_t captb;
	uint32_t *tidx;		/* tid -> entry + 1, by tid_slot */
	bool over_threads;	/* more threads than one snapshot holds */
	int seize_err;		/* first PTRACE_SEIZE refusal */
	size_t unstopped;	/* threads that never reached their stop */
	size_t lost;		/* handed over seized, but not listed */
	/*
	 * A live process, not stopped, that shares the memory (a twin made
	 * with clone(CLONE_VM)): it can write it while the core is read.
	 */
	pid_t shared_with;

	char *maps;		/* /proc/PID/maps, as written */
	size_t mapslen;
	bool maps_cut;		/* over MAPS_MAX: its whole lines before */
	struct vma *v;
	size_t nv;
	struct seg *seg;
	size_t nseg;
	size_t segcap;
	size_t segs_short;	/* mappings cut at the segment limit */
	bool counting;		/* plan_vma only counts */
	uint64_t zero_left;	/* of ZERO_BUDGET */

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

/* core_proc.c */
void snap_set_err(struct snap *sn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
uint64_t snap_now_ms(void);
/* The same, past max what was read and *cut set (kk_read_text_head). */
int snap_read_pidfile_head(const struct snap *sn, const char *name,
    size_t max, char **out, size_t *outlen, bool *cut);
int snap_read_pidfile(const struct snap *sn, const char *name, size_t max,
    char **out, size_t *outlen);

/* core_threads.c */
int snap_stop_threads(struct snap *sn);
void snap_detach_threads(struct snap *sn);
int snap_shared_mark(struct snap *sn, struct kk_artifact *a, int err);
pid_t snap_refused_running(const struct snap *sn);
const char *snap_tracer_words(const struct snap *sn, pid_t tid, char *out,
    size_t len);

/* core_maps.c */
int snap_parse_maps(struct snap *sn);
bool snap_vma_file(const struct snap *sn, const struct vma *v);
void snap_apply_smaps(struct snap *sn, char *text);
void snap_plan_vmas(struct snap *sn);

/* core_notes.c */
int snap_build_notes(struct snap *sn);

/* core_mem.c */
int snap_write_core(struct snap *sn, struct kk_artifact *a);

#endif
