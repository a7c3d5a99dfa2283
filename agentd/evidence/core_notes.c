/*
 * The notes of the core file: registers of every thread (NT_PRSTATUS,
 * NT_FPREGSET, NT_X86_XSTATE), the process (NT_PRPSINFO, NT_AUXV) and
 * the mapped files (NT_FILE), as the kernel writes them for gdb.
 */
#include <sys/procfs.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procstat.h"
#include "snapshot.h"

#define FILE_NOTE_MAX	(16U << 20)	/* NT_FILE; the kernel drops it too */
#define XSTATE_MAX	(64U << 10)

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
ticks_tv(const struct snap *sn, unsigned long long t)
{
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
	char path[96], *text = NULL;
	struct kk_pstat st;
	const char *v;
	struct iovec iov;
	size_t len;

	memset(pr, 0, sizeof(*pr));
	pr->pr_pid = tid;
	iov.iov_base = &pr->pr_reg;
	iov.iov_len = sizeof(pr->pr_reg);
	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0)
		return false;
	if (kk_pstat_read(sn->pid, tid, &st) == 0) {
		pr->pr_ppid = (pid_t)st.f[KK_PSTAT_PPID];
		pr->pr_pgrp = (pid_t)st.f[KK_PSTAT_PGRP];
		pr->pr_sid = (pid_t)st.f[KK_PSTAT_SESSION];
		pr->pr_utime = ticks_tv(sn, st.f[KK_PSTAT_UTIME]);
		pr->pr_stime = ticks_tv(sn, st.f[KK_PSTAT_STIME]);
		pr->pr_cutime = ticks_tv(sn, st.f[KK_PSTAT_CUTIME]);
		pr->pr_cstime = ticks_tv(sn, st.f[KK_PSTAT_CSTIME]);
	}
	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)sn->pid,
	    (int)tid);
	/* the signal masks stand after Groups:, which has no bound */
	if (kk_read_text(path, SMALL_MAX, &text, &len) == 0) {
		if ((v = kk_status_field(text, "SigPnd")) != NULL)
			pr->pr_sigpend = strtoul(v, NULL, 16);
		if ((v = kk_status_field(text, "SigBlk")) != NULL)
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
	struct kk_pstat st;
	unsigned long long id;
	char *stat = NULL;
	size_t len, i;
	int err;

	memset(&ps, 0, sizeof(ps));
	if ((err = snap_read_pidfile(sn, "stat", 65536, &stat, &len)) < 0)
		return err;
	if (kk_pstat_parse(stat, &st) == 0) {
		const char *states = "RSDTZW";
		const char *s = strchr(states, st.state);

		/* pr_fname holds what TASK_COMM_LEN does; a kthread's may be longer */
		memcpy(ps.pr_fname, st.comm, strnlen(st.comm,
		    sizeof(ps.pr_fname) - 1));
		ps.pr_sname = st.state;
		ps.pr_state = s != NULL && st.state != '\0' ?
		    (char)(s - states) : 6;
		ps.pr_zomb = st.state == 'Z';
		ps.pr_ppid = (pid_t)st.f[KK_PSTAT_PPID];
		ps.pr_pgrp = (pid_t)st.f[KK_PSTAT_PGRP];
		ps.pr_sid = (pid_t)st.f[KK_PSTAT_SESSION];
		ps.pr_flag = (unsigned long)st.f[KK_PSTAT_FLAGS];
		ps.pr_nice = (char)(long long)st.f[KK_PSTAT_NICE];
	}
	ps.pr_pid = sn->pid;
	if (sn->status != NULL) {
		if (kk_status_num(sn->status, "Uid", 0, &id) == 0)
			ps.pr_uid = (unsigned)id;
		if (kk_status_num(sn->status, "Gid", 0, &id) == 0)
			ps.pr_gid = (unsigned)id;
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
		if (snap_vma_file(sn, &sn->v[i])) {
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

		if (!snap_vma_file(sn, v))
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

	if (t->state != T_STOPPED || t->other ||
	    !thread_prstatus(sn, t->tid, &pr))
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
int
snap_build_notes(struct snap *sn)
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
	if (snap_read_pidfile(sn, "auxv", SMALL_MAX, &auxv, &auxvlen) < 0)
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
