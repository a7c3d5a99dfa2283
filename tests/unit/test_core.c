/*
 * Per-process snapshots (agentd/core.c) of a child this test forks: a
 * known global string, three threads parked in functions of their own
 * names, and 1 GiB of anonymous memory it never touches.  The core is
 * parsed back (ELF header, PT_NOTE first, one PT_LOAD per maps line,
 * notes in the kernel's order, the string at its address), the child's
 * RssAnon must not move, the untouched gigabyte must stay a hole, the
 * executable's header page must be there although the child dropped it
 * from its page tables (without it gdb cannot place the executable), and
 * gdb, when installed, must open the core.  Only children of the test
 * are traced; each is killed and reaped by its pid.
 */
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/sched.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "evidence.h"
#include "snapshot.h"
#include "suites.h"
#include "../progutil.h"
#include "testutil.h"
#include "wire.h"

#define MARKER		"kakuri-unit-core-marker-7c3e"
#define UNTOUCHED	((size_t)1 << 30)
#define NTHREADS	4	/* main + 3 workers */

/* written by the child after fork, so the page is its own and resident */
char core_test_marker[64];

/* workers that reached their own function (a backtrace shows its name) */
static int workers_in;

/* child_main's main thread ends (pthread_exit) once it is set up */
static bool child_leader_exits;
/* the child makes a twin: clone(CLONE_VM), a process on its memory */
static bool child_twin;
static volatile pid_t child_twin_pid;

struct child {
	pid_t pid;
	uint64_t untouched;	/* address of the never-touched mapping */
};

/* A worker's life: it is in, then naps for two minutes. */
static void
worker_life(void)
{
	int i;

	__atomic_add_fetch(&workers_in, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < 1200; i++)
		pu_nap_ms(100);
}

/* Each worker in a function of its own, whose name a backtrace shows. */
#define UNIT_WORKER(name)						\
	__attribute__((noinline)) static void *				\
	name(void *arg)							\
	{								\
		worker_life();						\
		return arg;						\
	}
UNIT_WORKER(unit_worker_alpha)
UNIT_WORKER(unit_worker_beta)
UNIT_WORKER(unit_worker_gamma)

/* The first page of our executable's mapping: its ELF header. */
static uintptr_t
exe_header(void)
{
	return (uintptr_t)getauxval(AT_PHDR) &
	    ~((uintptr_t)sysconf(_SC_PAGESIZE) - 1);
}

/* The twin: naps on the child's memory; dies with the child. */
static int
twin_main(void *arg)
{
	int i;

	/* the child gone before the death signal was asked for: gone too */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ||
	    getppid() != *(pid_t *)arg)
		_exit(1);
	child_twin_pid = getpid();
	for (i = 0; i < 1200; i++)
		pu_nap_ms(100);
	_exit(0);
}

/* The child: never returns into Check, exits by itself after 120 s. */
static void __attribute__((noreturn))
child_main(int wfd, size_t extra)
{
	void *(*fn[3])(void *) = { unit_worker_alpha, unit_worker_beta,
	    unit_worker_gamma };
	pthread_t t;
	uint64_t addr;
	void *m;
	int i;

	snprintf(core_test_marker, sizeof(core_test_marker), "%s", MARKER);
	m = mmap(NULL, UNTOUCHED, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		_exit(1);
	if (extra > 0) {
		uint8_t *p = mmap(NULL, extra, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		size_t k;

		if (p == MAP_FAILED)
			_exit(1);
		for (k = 0; k < extra; k++)
			p[k] = (uint8_t)(k * 131 + (k >> 12));
	}
	for (i = 0; i < 3; i++)
		if (pthread_create(&t, NULL, fn[i], NULL) != 0)
			_exit(1);
	/* ready only once every worker sits in its function (60 s at most) */
	for (i = 0; i < 6000 && __atomic_load_n(&workers_in,
	    __ATOMIC_SEQ_CST) < 3; i++)
		pu_nap_ms(10);
	/*
	 * Drop the page table entry of the executable's header page, as in
	 * a process forked long ago: the snapshot must still carry it.
	 */
	if (madvise((void *)exe_header(), (size_t)sysconf(_SC_PAGESIZE),
	    MADV_DONTNEED) < 0)
		_exit(1);
	if (child_twin) {
		size_t stack = 256 * 1024;
		char *st = mmap(NULL, stack, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		pid_t self = getpid();	/* in this frame, which never returns */

		/* ready once the twin runs (shares our memory: it says so) */
		if (st == MAP_FAILED || clone(twin_main, st + stack,
		    CLONE_VM | SIGCHLD, &self) < 0)
			_exit(1);
		for (i = 0; i < 6000 && child_twin_pid == 0; i++)
			pu_nap_ms(10);
		if (child_twin_pid == 0)
			_exit(1);
	}
	addr = (uint64_t)(uintptr_t)m;
	if (write(wfd, &addr, sizeof(addr)) != sizeof(addr))
		_exit(1);
	if (child_leader_exits)
		pthread_exit(NULL);
	for (i = 0; i < 1200; i++)
		pu_nap_ms(100);
	_exit(0);
}

static void
child_start(struct child *c, size_t extra)
{
	struct pollfd pfd;
	int p[2];
	char task[64];
	size_t n;

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	c->pid = fork();
	ck_assert_int_ge(c->pid, 0);
	if (c->pid == 0) {
		close(p[0]);
		child_main(p[1], extra);
	}
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 90000), 1);
	ck_assert_int_eq(read(p[0], &c->untouched, sizeof(c->untouched)),
	    sizeof(c->untouched));
	close(p[0]);
	/* the threads exist once the address came; wait until they show */
	snprintf(task, sizeof(task), "/proc/%d/task", (int)c->pid);
	for (n = 0; n < 3000 && kk_test_count_entries(task, NULL, NULL) <
	    NTHREADS; n++)
		pu_nap_ms(10);
}

static void
child_stop(struct child *c)
{
	int st;

	if (c->pid <= 0)
		return;
	kill(c->pid, SIGKILL);
	waitpid(c->pid, &st, __WALL);
	c->pid = 0;
}

/* A /proc file (st_size 0, so read until EOF), NUL-terminated. */
static char *
read_proc(const char *path)
{
	char *buf;
	size_t len = 0, cap = 1 << 20;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	buf = malloc(cap + 1);
	ck_assert_ptr_nonnull(buf);
	while (len < cap && (n = read(fd, buf + len, cap - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
	return buf;
}

/* RssAnon of pid in kB */
static long
rss_anon(pid_t pid)
{
	char path[64], *text, *p;
	long v;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	text = read_proc(path);
	p = strstr(text, "RssAnon:");
	ck_assert_ptr_nonnull(p);
	v = strtol(p + 8, NULL, 10);
	free(text);
	return v;
}

struct note {
	char name[8];
	uint32_t type;
	uint64_t off;		/* of the descriptor in the file */
	uint32_t size;
};

struct core {
	int fd;
	Elf64_Ehdr eh;
	size_t nph;		/* e_phnum, or sh_info past PN_XNUM */
	Elf64_Phdr *ph;
	struct note *notes;
	size_t nnotes;
};

static void
core_open(struct core *c, const char *path)
{
	Elf64_Phdr *note;
	uint8_t *buf;
	size_t pos;

	memset(c, 0, sizeof(*c));
	c->fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(c->fd, 0);
	ck_assert_int_eq(pread(c->fd, &c->eh, sizeof(c->eh), 0),
	    sizeof(c->eh));
	ck_assert_int_eq(memcmp(c->eh.e_ident, ELFMAG, SELFMAG), 0);
	ck_assert_int_eq(c->eh.e_ident[EI_CLASS], ELFCLASS64);
	ck_assert_int_eq(c->eh.e_type, ET_CORE);
#if defined(__x86_64__)
	ck_assert_int_eq(c->eh.e_machine, EM_X86_64);
#endif
	ck_assert_uint_eq(c->eh.e_phentsize, sizeof(Elf64_Phdr));
	c->nph = c->eh.e_phnum;
	if (c->eh.e_phnum == PN_XNUM) {
		/* extended numbering: the count is the first section's */
		Elf64_Shdr sh;

		ck_assert_uint_eq(c->eh.e_shnum, 1);
		ck_assert_int_eq(pread(c->fd, &sh, sizeof(sh),
		    (off_t)c->eh.e_shoff), sizeof(sh));
		c->nph = sh.sh_info;
		ck_assert_uint_ge(c->nph, PN_XNUM);
	}
	ck_assert_uint_gt(c->nph, 1);
	c->ph = calloc(c->nph, sizeof(*c->ph));
	ck_assert_ptr_nonnull(c->ph);
	ck_assert_int_eq(pread(c->fd, c->ph, c->nph * sizeof(*c->ph),
	    (off_t)c->eh.e_phoff), (ssize_t)(c->nph * sizeof(*c->ph)));

	note = &c->ph[0];
	ck_assert_int_eq(note->p_type, PT_NOTE);
	ck_assert_uint_lt(note->p_filesz, 16 << 20);
	buf = malloc(note->p_filesz);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(pread(c->fd, buf, note->p_filesz,
	    (off_t)note->p_offset), (ssize_t)note->p_filesz);
	c->notes = calloc(note->p_filesz / 12 + 1, sizeof(*c->notes));
	ck_assert_ptr_nonnull(c->notes);
	for (pos = 0; pos + sizeof(Elf64_Nhdr) <= note->p_filesz;) {
		Elf64_Nhdr nh;
		struct note *n = &c->notes[c->nnotes++];
		size_t nsz, dsz;

		memcpy(&nh, buf + pos, sizeof(nh));
		nsz = (nh.n_namesz + 3) & ~3U;
		dsz = (nh.n_descsz + 3) & ~3U;
		ck_assert_uint_le(pos + sizeof(nh) + nsz + dsz,
		    note->p_filesz);
		ck_assert_uint_lt(nh.n_namesz, sizeof(n->name));
		memcpy(n->name, buf + pos + sizeof(nh), nh.n_namesz);
		n->type = nh.n_type;
		n->off = note->p_offset + pos + sizeof(nh) + nsz;
		n->size = nh.n_descsz;
		pos += sizeof(nh) + nsz + dsz;
	}
	ck_assert_uint_eq(pos, note->p_filesz);
	free(buf);
}

static void
core_close(struct core *c)
{
	close(c->fd);
	free(c->ph);
	free(c->notes);
}

/* The PT_LOAD holding addr, with file data. */
static const Elf64_Phdr *
core_segment(const struct core *c, uint64_t addr)
{
	size_t i;

	for (i = 1; i < c->nph; i++)
		if (c->ph[i].p_vaddr <= addr &&
		    addr - c->ph[i].p_vaddr < c->ph[i].p_memsz)
			return &c->ph[i];
	return NULL;
}

/*
 * The kernel's order: main NT_PRSTATUS, NT_PRPSINFO, [NT_SIGINFO],
 * NT_AUXV, NT_FILE, then its register sets; each other thread
 * NT_PRSTATUS and its register sets.
 */
static void
check_notes(const struct core *c, pid_t pid)
{
	const struct note *n = c->notes;
	size_t i = 0, nprs = 0;
	struct elf_prstatus pr;
	struct elf_prpsinfo ps;

	ck_assert_uint_ge(c->nnotes, 5);
	ck_assert_str_eq(n[0].name, "CORE");
	ck_assert_uint_eq(n[0].type, NT_PRSTATUS);
	ck_assert_uint_eq(n[0].size, sizeof(pr));
	ck_assert_int_eq(pread(c->fd, &pr, sizeof(pr), (off_t)n[0].off),
	    sizeof(pr));
	ck_assert_int_eq(pr.pr_pid, pid);	/* the main thread first */
	ck_assert_uint_eq(n[1].type, NT_PRPSINFO);
	ck_assert_int_eq(pread(c->fd, &ps, sizeof(ps), (off_t)n[1].off),
	    sizeof(ps));
	ck_assert_int_eq(ps.pr_pid, pid);
	i = 2;
	if (n[i].type == NT_SIGINFO)
		i++;
	ck_assert_uint_eq(n[i++].type, NT_AUXV);
	ck_assert_uint_eq(n[i++].type, NT_FILE);
	ck_assert_uint_eq(n[i++].type, NT_FPREGSET);
	nprs = 1;
	for (; i < c->nnotes; i++) {
		if (n[i].type == NT_PRSTATUS) {
			ck_assert_uint_lt(i + 1, c->nnotes);
			ck_assert_uint_eq(n[i + 1].type, NT_FPREGSET);
			ck_assert_int_eq(pread(c->fd, &pr, sizeof(pr),
			    (off_t)n[i].off), sizeof(pr));
			ck_assert_int_ne(pr.pr_pid, pid);
			nprs++;
			continue;
		}
		/* everything else is a register set of the thread before */
		ck_assert_msg(n[i].type == NT_FPREGSET ||
		    n[i].type == NT_X86_XSTATE, "note %zu type %#x", i,
		    n[i].type);
	}
	ck_assert_uint_eq(nprs, NTHREADS);
}

/* The threads with registers in the core; none of them is not_pid. */
static size_t
count_prstatus(const struct core *c, pid_t not_pid)
{
	struct elf_prstatus pr;
	size_t i, n = 0;

	for (i = 0; i < c->nnotes; i++) {
		if (c->notes[i].type != NT_PRSTATUS)
			continue;
		ck_assert_int_eq(pread(c->fd, &pr, sizeof(pr),
		    (off_t)c->notes[i].off), sizeof(pr));
		ck_assert_int_ne(pr.pr_pid, not_pid);
		n++;
	}
	return n;
}

/* The lines of a maps file. */
static size_t
count_maps(const char *path)
{
	char *text;
	size_t len, i, n = 0;

	text = kk_test_read(path, &len);
	for (i = 0; i < len; i++)
		n += text[i] == '\n';
	free(text);
	return n;
}

/*
 * The PT_LOADs after the note cover each line of the maps file, in
 * order and exactly (p_memsz end to end), with file data inside the file.
 */
static void
check_tiling(const struct core *c, const char *mapspath)
{
	unsigned long long s, e;
	struct stat st;
	size_t i = 1, len;
	char *text, *line, *save = NULL;

	ck_assert_int_eq(fstat(c->fd, &st), 0);
	text = kk_test_read(mapspath, &len);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		uint64_t cur;

		ck_assert_int_eq(sscanf(line, "%llx-%llx", &s, &e), 2);
		for (cur = s; cur < e; i++) {
			const Elf64_Phdr *ph = &c->ph[i];

			ck_assert_uint_lt(i, c->nph);
			ck_assert_int_eq(ph->p_type, PT_LOAD);
			ck_assert_uint_eq(ph->p_vaddr, cur);
			ck_assert_uint_gt(ph->p_memsz, 0);
			ck_assert_uint_le(ph->p_filesz, ph->p_memsz);
			ck_assert_uint_le(ph->p_offset + ph->p_filesz,
			    (uint64_t)st.st_size);
			cur += ph->p_memsz;
		}
		ck_assert_uint_eq(cur, e);
	}
	ck_assert_uint_eq(i, c->nph);
	free(text);
}

/* Runs gdb on the core; its stdout and stderr in a heap string. */
static char *
run_gdb(const char *gdb, const char *exe, const char *core, const char *dir)
{
	char out[PATH_MAX], *text;
	const char *argv[] = { gdb, "-nx", "-batch", "-iex",
	    "set debuginfod enabled off", "-ex", "print core_test_marker",
	    "-ex", "thread apply all bt", exe, core, NULL };
	size_t len;
	pid_t pid;
	int fd, st, i;

	kk_test_join(out, dir, "gdb.out");
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		setenv("DEBUGINFOD_URLS", "", 1);
		execvp(gdb, (char *const *)argv);
		_exit(127);
	}
	close(fd);
	/* bounded: gdb gets two minutes */
	for (i = 0; i < 1200; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
		pu_nap_ms(100);
	}
	if (i == 1200) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		ck_abort_msg("gdb did not finish");
	}
	text = kk_test_read(out, &len);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "gdb: %s", text);
	return text;
}

static const char *
find_gdb(void)
{
	static const char *paths[] = { "/usr/bin/gdb", "/usr/local/bin/gdb",
	    "/bin/gdb" };
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

/* Some thread of pid other than its main thread. */
static pid_t
other_thread(pid_t pid)
{
	char task[64];
	struct dirent *de;
	pid_t tid = 0;
	DIR *d;

	snprintf(task, sizeof(task), "/proc/%d/task", (int)pid);
	d = opendir(task);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (atoi(de->d_name) > 0 && atoi(de->d_name) != pid)
			tid = atoi(de->d_name);
	closedir(d);
	ck_assert_int_gt(tid, 0);
	return tid;
}

static size_t
count_str(const char *text, const char *s)
{
	size_t n = 0;

	for (; (text = strstr(text, s)) != NULL; text++)
		n++;
	return n;
}

START_TEST(core_of_running_child)
{
	static const char *names[] = { "maps", "status", "cmdline",
	    "environ", "core", "exe" };
	struct kk_artifacts arts;
	struct child ch = { 0 };
	struct core c;
	const Elf64_Phdr *ph;
	unsigned long long st0;
	char dir[PATH_MAX], path[PATH_MAX], rel[64], err[256];
	char corepath[PATH_MAX], buf[sizeof(MARKER)], task[64];
	const char *gdb;
	struct stat st;
	long before, after;
	size_t i;
	int dfd;
	ssize_t n;

	child_start(&ch, 0);
	snprintf(task, sizeof(task), "/proc/%d/task", (int)ch.pid);
	ck_assert_uint_eq(kk_test_count_entries(task, NULL, NULL), NTHREADS);
	kk_test_workdir(dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);
	kk_artifacts_init(&arts);

	before = rss_anon(ch.pid);
	ck_assert_int_eq(kk_snapshot_process(dfd, ch.pid, 0, &arts, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(err, "");
	after = rss_anon(ch.pid);
	/* nothing was faulted in: the untouched gigabyte stays out */
	ck_assert_msg(labs(after - before) <= 2048, "RssAnon %ld -> %ld kB",
	    before, after);
	/* and the child runs on: its threads are all still there */
	ck_assert_uint_eq(kk_test_count_entries(task, NULL, NULL), NTHREADS);
	ck_assert_int_eq(kill(ch.pid, 0), 0);

	ck_assert_int_eq(kk_proc_start_time(ch.pid, &st0), 0);
	ck_assert_uint_eq(arts.n, 6);
	/* a thread id is not a process: refused, nothing written */
	ck_assert_int_eq(kk_snapshot_process(dfd, other_thread(ch.pid), 0, &arts,
	    err, sizeof(err)), -EINVAL);
	ck_assert_uint_eq(arts.n, 6);
	for (i = 0; i < arts.n; i++) {
		const struct kk_artifact *a = &arts.v[i];

		snprintf(rel, sizeof(rel), "pid-%d/%s", (int)ch.pid, names[i]);
		ck_assert_str_eq(a->path, rel);
		ck_assert_int_eq(a->pid, ch.pid);
		ck_assert_uint_eq(a->start_time, st0);
		ck_assert_msg(!a->incomplete, "%s: %s", a->path, a->error);
		ck_assert_str_ne(a->method, "");
		kk_test_join(path, dir, rel);
		ck_assert_msg(kk_test_file_matches(path, a->size, a->sha256),
		    "%s: not %ju bytes of SHA-256 %s", path,
		    (uintmax_t)a->size, a->sha256);
	}
	ck_assert_str_eq(arts.v[4].method,
	    "elf-core/ptrace+proc-mem+pagemap");
	ck_assert_str_eq(arts.v[0].method, "procfs");

	/* the PT_LOADs cover the lines of the maps file written with it */
	snprintf(rel, sizeof(rel), "pid-%d/maps", (int)ch.pid);
	kk_test_join(path, dir, rel);
	snprintf(rel, sizeof(rel), "pid-%d/core", (int)ch.pid);
	kk_test_join(corepath, dir, rel);
	core_open(&c, corepath);
	check_tiling(&c, path);
	check_notes(&c, ch.pid);

	/* the child's string, where its address says */
	ph = core_segment(&c, (uint64_t)(uintptr_t)core_test_marker);
	ck_assert_ptr_nonnull(ph);
	ck_assert_uint_ge(ph->p_vaddr + ph->p_filesz,
	    (uint64_t)(uintptr_t)core_test_marker + sizeof(buf));
	ck_assert(ph->p_flags & PF_W);
	n = pread(c.fd, buf, sizeof(buf), (off_t)(ph->p_offset +
	    ((uint64_t)(uintptr_t)core_test_marker - ph->p_vaddr)));
	ck_assert_int_eq(n, sizeof(buf));
	ck_assert_int_eq(memcmp(buf, MARKER, sizeof(buf)), 0);

	/*
	 * the executable's header page, which the child dropped from its
	 * page tables: read anyway (gdb places the executable by it)
	 */
	ph = core_segment(&c, exe_header());
	ck_assert_ptr_nonnull(ph);
	ck_assert_uint_eq(ph->p_vaddr, exe_header());
	ck_assert_uint_gt(ph->p_filesz, 0);
	n = pread(c.fd, buf, SELFMAG, (off_t)ph->p_offset);
	ck_assert_int_eq(n, SELFMAG);
	ck_assert_msg(memcmp(buf, ELFMAG, SELFMAG) == 0,
	    "the executable's ELF header is not in the core");

	/*
	 * the untouched gigabyte: in the core by its size in memory, not a
	 * byte of it in the file (nor hashed)
	 */
	ph = core_segment(&c, ch.untouched);
	ck_assert_ptr_nonnull(ph);
	ck_assert_uint_eq(ph->p_vaddr, ch.untouched);
	ck_assert_uint_eq(ph->p_memsz, UNTOUCHED);
	ck_assert_uint_eq(ph->p_filesz, 0);
	ck_assert_int_eq(fstat(c.fd, &st), 0);
	ck_assert_uint_lt((uint64_t)st.st_size, UNTOUCHED / 4);
	core_close(&c);

	/* gdb opens it: the string, and one backtrace per thread */
	if ((gdb = find_gdb()) != NULL) {
		char self[PATH_MAX], *text;

		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		ck_assert_int_gt(n, 0);
		self[n] = '\0';
		text = run_gdb(gdb, self, corepath, dir);
		ck_assert_msg(strstr(text, "\"" MARKER "\"") != NULL, "%s",
		    text);
		ck_assert_msg(count_str(text, "\nThread ") == NTHREADS, "%s",
		    text);
		ck_assert_msg(strstr(text, "unit_worker_alpha") != NULL &&
		    strstr(text, "unit_worker_beta") != NULL &&
		    strstr(text, "unit_worker_gamma") != NULL, "%s", text);
		free(text);
	}
	kk_artifacts_free(&arts);
	close(dfd);
	child_stop(&ch);
}
END_TEST

/* Whether a thread of pid is stopped (t or T), for up to 5 s. */
static bool
stays_stopped(pid_t pid)
{
	char task[64], path[384], buf[512], *p;
	struct dirent *de;
	bool any = true;
	int n, fd;
	ssize_t r;
	DIR *d;

	snprintf(task, sizeof(task), "/proc/%d/task", (int)pid);
	for (n = 0; n < 500 && any; n++) {
		if (n > 0)
			pu_nap_ms(10);
		any = false;
		if ((d = opendir(task)) == NULL)
			return false;
		while ((de = readdir(d)) != NULL && !any) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s/stat", task,
			    de->d_name);
			if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
				continue;
			r = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (r <= 0)
				continue;
			buf[r] = '\0';
			if ((p = strrchr(buf, ')')) != NULL &&
			    (p[2] == 't' || p[2] == 'T'))
				any = true;
		}
		closedir(d);
	}
	return any;
}

/*
 * More threads than one snapshot holds (kk_snap_max_threads, lowered to
 * 2 of the child's 4; 65,536 in use): the core is taken all the same,
 * listed incomplete, saying how many ran on (the old code: no core at
 * all), and the child runs on, not left stopped.
 */
START_TEST(core_over_threads)
{
	struct kk_artifacts arts;
	struct child ch = { 0 };
	char dir[PATH_MAX], rel[64], err[256];
	size_t i;
	int dfd, r;

	child_start(&ch, 0);
	kk_test_workdir(dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);
	kk_artifacts_init(&arts);
	kk_snap_max_threads = 2;
	r = kk_snapshot_process(dfd, ch.pid, 0, &arts, err, sizeof(err));
	kk_snap_max_threads = 65536;
	ck_assert_int_eq(r, -E2BIG);
	ck_assert_msg(strstr(err, "over 2 threads: 2 were not stopped") != NULL,
	    "%s", err);
	snprintf(rel, sizeof(rel), "pid-%d/core", (int)ch.pid);
	for (i = 0; i < arts.n && strcmp(arts.v[i].path, rel) != 0; i++)
		;
	ck_assert_msg(i < arts.n, "no core among %zu artifacts", arts.n);
	ck_assert(arts.v[i].incomplete);
	ck_assert_msg(strstr(arts.v[i].error, "over 2 threads: 2 ran on") !=
	    NULL, "%s", arts.v[i].error);
	ck_assert_uint_gt(arts.v[i].size, 0);
	ck_assert_int_eq(kill(ch.pid, 0), 0);
	ck_assert_msg(!stays_stopped(ch.pid), "the child was left stopped");
	kk_artifacts_free(&arts);
	close(dfd);
	child_stop(&ch);
}
END_TEST

/*
 * A process whose main thread has exited (pthread_exit) while its workers
 * run: /proc/PID/stat says Z, and the leader's maps and mem are empty.
 * Its snapshot reads the memory through a worker: the marker is in the
 * core, each worker has its registers there, the leader none.
 */
START_TEST(core_of_leader_exited)
{
	struct kk_artifacts arts;
	struct child ch = { 0 };
	struct core c;
	const Elf64_Phdr *ph;
	char dir[PATH_MAX], path[PATH_MAX], maps[PATH_MAX], rel[64], err[256];
	char buf[sizeof(MARKER)], statp[64], *stat;
	size_t i;
	int dfd, k;
	ssize_t n;

	child_leader_exits = true;
	child_start(&ch, 0);
	child_leader_exits = false;
	snprintf(statp, sizeof(statp), "/proc/%d/stat", (int)ch.pid);
	for (k = 0; k < 3000; k++) {
		stat = read_proc(statp);
		n = strstr(stat, ") Z ") != NULL;
		free(stat);
		if (n)
			break;
		pu_nap_ms(10);
	}
	ck_assert_msg(k < 3000, "the child's leader did not exit");

	kk_test_workdir(dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);
	kk_artifacts_init(&arts);
	ck_assert_int_eq(kk_snapshot_process(dfd, ch.pid, 0, &arts, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(err, "");
	for (i = 0; i < arts.n; i++)
		ck_assert_msg(!arts.v[i].incomplete, "%s: %s", arts.v[i].path,
		    arts.v[i].error);
	/* the process runs on, its three workers */
	ck_assert_int_eq(kill(ch.pid, 0), 0);

	snprintf(rel, sizeof(rel), "pid-%d/maps", (int)ch.pid);
	kk_test_join(maps, dir, rel);
	snprintf(rel, sizeof(rel), "pid-%d/core", (int)ch.pid);
	kk_test_join(path, dir, rel);
	core_open(&c, path);
	/* the maps written are the process's, read through a worker */
	ck_assert_uint_gt(count_maps(maps), 0);
	check_tiling(&c, maps);
	ph = core_segment(&c, (uint64_t)(uintptr_t)core_test_marker);
	ck_assert_ptr_nonnull(ph);
	ck_assert_uint_ge(ph->p_vaddr + ph->p_filesz,
	    (uint64_t)(uintptr_t)core_test_marker + sizeof(buf));
	n = pread(c.fd, buf, sizeof(buf), (off_t)(ph->p_offset +
	    ((uint64_t)(uintptr_t)core_test_marker - ph->p_vaddr)));
	ck_assert_int_eq(n, sizeof(buf));
	ck_assert_int_eq(memcmp(buf, MARKER, sizeof(buf)), 0);
	/* the workers' registers, not the exited leader's */
	ck_assert_uint_eq(count_prstatus(&c, ch.pid), NTHREADS - 1);
	core_close(&c);
	kk_artifacts_free(&arts);
	close(dfd);
	child_stop(&ch);
}
END_TEST

/*
 * A process that maps terabytes to make its snapshot endless: 8 TiB it
 * never touches, 8 TiB read-only whose pages it read (the kernel's zero
 * page), 8 TiB writable with a marker on the first, a middle and the last
 * page.  Hashed as zeros that would take hours; the core must hold the
 * three marked pages, where their addresses say, and next to nothing else.
 */
#define VAST		((size_t)8 << 40)
#define VAST_MARK	"kakuri-unit-vast-%d"

static const char zeros[64];

struct vast {
	uint64_t quiet;		/* never touched */
	uint64_t zero;		/* read only: zero pages */
	uint64_t marked;	/* three pages written */
};

static size_t
vast_page(int k)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	return k == 0 ? 0 : k == 1 ? (VAST / 2 / pg) * pg : VAST - pg;
}

static int
vast_child(void *out)
{
	volatile uint8_t sink = 0;
	struct vast *v = out;
	uint8_t *q, *z, *m;
	int k;

	q = mmap(NULL, VAST, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS |
	    MAP_NORESERVE, -1, 0);
	z = mmap(NULL, VAST, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS |
	    MAP_NORESERVE, -1, 0);
	m = mmap(NULL, VAST, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (q == MAP_FAILED || z == MAP_FAILED || m == MAP_FAILED)
		return -1;
	for (k = 0; k < 3; k++) {
		sink += z[vast_page(k)];
		snprintf((char *)m + vast_page(k), 64, VAST_MARK, k);
	}
	(void)sink;
	v->quiet = (uint64_t)(uintptr_t)q;
	v->zero = (uint64_t)(uintptr_t)z;
	v->marked = (uint64_t)(uintptr_t)m;
	return 0;
}

/*
 * A child that sets itself up with body (which fills out, len bytes: what
 * the test needs to know of it), sends out back and naps for two
 * minutes.  Its pid once out came: the caller kills it.
 */
static pid_t
body_child(int (*body)(void *), void *out, size_t len)
{
	struct pollfd pfd;
	pid_t pid;
	int p[2], i;

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		if (body(out) < 0 || write(p[1], out, len) != (ssize_t)len)
			_exit(1);
		for (i = 0; i < 1200; i++)
			pu_nap_ms(100);
		_exit(0);
	}
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 90000), 1);
	ck_assert_int_eq(read(p[0], out, len), (ssize_t)len);
	close(p[0]);
	return pid;
}

/*
 * A body_child (where its mappings are, in out); its snapshot into a new
 * work directory (dir, artifacts in arts), its core open in c and the
 * path of its maps file in maps.  The child's pid: the caller kills it.
 */
static pid_t
snapshot_child(int (*body)(void *), void *out, size_t len, char *dir,
    struct kk_artifacts *arts, struct core *c, char *maps)
{
	char err[256], rel[64], path[PATH_MAX];
	pid_t pid;
	int dfd;

	pid = body_child(body, out, len);
	kk_test_workdir(dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);
	kk_artifacts_init(arts);
	ck_assert_int_eq(kk_snapshot_process(dfd, pid, 0, arts, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(err, "");
	close(dfd);
	snprintf(rel, sizeof(rel), "pid-%d/core", (int)pid);
	kk_test_join(path, dir, rel);
	core_open(c, path);
	snprintf(rel, sizeof(rel), "pid-%d/maps", (int)pid);
	kk_test_join(maps, dir, rel);
	return pid;
}

START_TEST(core_of_vast_mappings)
{
	struct kk_artifacts arts;
	struct vast v;
	struct core c;
	const Elf64_Phdr *ph;
	char dir[PATH_MAX], path[PATH_MAX], want[64], buf[64];
	struct stat st;
	size_t i;
	pid_t pid;
	int k, stc;

	pid = snapshot_child(vast_child, &v, sizeof(v), dir, &arts, &c, path);
	ck_assert_uint_eq(arts.n, 6);
	for (i = 0; i < arts.n; i++)
		ck_assert_msg(!arts.v[i].incomplete, "%s: %s", arts.v[i].path,
		    arts.v[i].error);

	ck_assert_int_eq(fstat(c.fd, &st), 0);
	/*
	 * the three marked pages and the process's own memory (a sanitizer
	 * build's is tens of megabytes): nowhere near the 24 TiB mapped
	 */
	ck_assert_msg(st.st_size < (off_t)512 << 20, "core of %lld bytes",
	    (long long)st.st_size);
	check_tiling(&c, path);
	for (k = 0; k < 3; k++) {
		uint64_t at = v.marked + vast_page(k);

		ph = core_segment(&c, at);
		ck_assert_ptr_nonnull(ph);
		ck_assert_uint_ge(ph->p_vaddr + ph->p_filesz, at + 64);
		ck_assert_int_eq(pread(c.fd, buf, sizeof(buf),
		    (off_t)(ph->p_offset + (at - ph->p_vaddr))), sizeof(buf));
		snprintf(want, sizeof(want), VAST_MARK, k);
		ck_assert_str_eq(buf, want);
		/*
		 * the pages only read: zeros, in the file or not (a kernel
		 * maps its zero page there, or a page of its own: this one
		 * does)
		 */
		at = v.zero + vast_page(k);
		ph = core_segment(&c, at);
		ck_assert_ptr_nonnull(ph);
		if (at - ph->p_vaddr < ph->p_filesz) {
			ck_assert_int_eq(pread(c.fd, buf, sizeof(buf),
			    (off_t)(ph->p_offset + (at - ph->p_vaddr))),
			    sizeof(buf));
			ck_assert_int_eq(memcmp(buf, zeros, sizeof(buf)), 0);
		}
		/* the quiet mapping: not a byte in the file */
		at = v.quiet + vast_page(k);
		ph = core_segment(&c, at);
		ck_assert_ptr_nonnull(ph);
		ck_assert_uint_ge(at - ph->p_vaddr, ph->p_filesz);
	}
	core_close(&c);
	kk_artifacts_free(&arts);
	kill(pid, SIGKILL);
	waitpid(pid, &stc, 0);
}
END_TEST

/*
 * A process that spends the segment limit on one mapping: a page written
 * every 68 KiB, 4,096 more runs than SEGS_EXTRA, then a small mapping
 * holding a secret and the vast one after it.  Each mapping has its share:
 * the small one and the vast one's pages are in the core, the crowded
 * one's runs past its share are joined with zeros between (within the
 * zero budget), and the core is whole.
 */
#define CROWD_RUNS	((size_t)SEGS_EXTRA + 4096)
#define CROWD_STEP	((size_t)68 << 10)
#define CROWD_SECRET	"kakuri-unit-crowd-secret"

struct crowd {
	uint64_t crowded, secret, vast;
};

static int
crowd_child(void *out)
{
	struct crowd *c = out;
	uint8_t *a, *b, *v;
	size_t i;

	/*
	 * mapped top down: the crowded one comes first in maps; flags that
	 * differ keep the kernel from merging neighbours into one mapping
	 */
	v = mmap(NULL, VAST, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE |
	    MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	b = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0);
	a = mmap(NULL, CROWD_RUNS * CROWD_STEP, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (a == MAP_FAILED || b == MAP_FAILED || v == MAP_FAILED)
		return -1;
	for (i = 0; i < CROWD_RUNS; i++)
		a[i * CROWD_STEP] = (uint8_t)(i | 1);
	snprintf((char *)b, 64, "%s", CROWD_SECRET);
	snprintf((char *)v + vast_page(2), 64, VAST_MARK, 2);
	c->crowded = (uint64_t)(uintptr_t)a;
	c->secret = (uint64_t)(uintptr_t)b;
	c->vast = (uint64_t)(uintptr_t)v;
	return 0;
}

/* The bytes at addr in the core, into buf; false if not in the file. */
static bool
core_read(const struct core *c, uint64_t addr, void *buf, size_t len)
{
	const Elf64_Phdr *ph = core_segment(c, addr);

	if (ph == NULL || addr - ph->p_vaddr + len > ph->p_filesz)
		return false;
	return pread(c->fd, buf, len, (off_t)(ph->p_offset +
	    (addr - ph->p_vaddr))) == (ssize_t)len;
}

START_TEST(core_of_crowded_mapping)
{
	struct kk_artifacts arts;
	struct crowd cr;
	struct core c;
	char dir[PATH_MAX], path[PATH_MAX], buf[64], want[64];
	bool whole = true;
	uint8_t byte;
	size_t i;
	pid_t pid;
	int stc;

	pid = snapshot_child(crowd_child, &cr, sizeof(cr), dir, &arts, &c,
	    path);
	check_tiling(&c, path);
	ck_assert_uint_lt(cr.crowded, cr.secret);
	ck_assert(core_read(&c, cr.secret, buf, sizeof(CROWD_SECRET)));
	ck_assert_str_eq(buf, CROWD_SECRET);
	/*
	 * whole, or (when the other mappings need more segments, as a
	 * sanitizer's do) the crowded one cut past the zero budget, and
	 * said so; nothing else missing
	 */
	for (i = 0; i < arts.n; i++) {
		ck_assert_msg(!arts.v[i].incomplete ||
		    (strstr(arts.v[i].path, "/core") != NULL &&
		    strstr(arts.v[i].error, "segments: the later pages of 1 "
		    "mappings") != NULL), "%s: %s", arts.v[i].path,
		    arts.v[i].error);
		if (arts.v[i].incomplete)
			whole = false;
	}
	/* within the limit: one segment per mapping and SEGS_EXTRA more */
	ck_assert_uint_le(c.nph, count_maps(path) + 1 +
	    SEGS_EXTRA);
	ck_assert(core_read(&c, cr.vast + vast_page(2), buf, sizeof(buf)));
	snprintf(want, sizeof(want), VAST_MARK, 2);
	ck_assert_str_eq(buf, want);
	/*
	 * the written bytes of the crowded one: its first SEGS_EXTRA / 2
	 * runs are within any share; whole, the last runs joined too
	 */
	for (i = 0; i < CROWD_RUNS; i += CROWD_RUNS / 64) {
		if (!core_read(&c, cr.crowded + i * CROWD_STEP, &byte, 1)) {
			ck_assert_msg(!whole && i > SEGS_EXTRA / 2,
			    "run %zu of the crowded mapping is missing", i);
			continue;
		}
		ck_assert_uint_eq(byte, (uint8_t)(i | 1));
	}
	if (whole) {
		ck_assert(core_read(&c, cr.crowded + (CROWD_RUNS - 1) *
		    CROWD_STEP, &byte, 1));
		ck_assert_uint_eq(byte, (uint8_t)((CROWD_RUNS - 1) | 1));
	}
	core_close(&c);
	kk_artifacts_free(&arts);
	kill(pid, SIGKILL);
	waitpid(pid, &stc, 0);
}
END_TEST

START_TEST(core_vanished_pid)
{
	struct kk_artifacts arts;
	char dir[PATH_MAX], err[256];
	siginfo_t si;
	pid_t pid;
	int dfd, st;

	kk_test_workdir(dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);
	kk_artifacts_init(&arts);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(0);
	/* a zombie first: nothing left to take */
	ck_assert_int_eq(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT),
	    0);
	ck_assert_int_eq(kk_snapshot_process(dfd, pid, 0, &arts, err,
	    sizeof(err)), -ESRCH);
	ck_assert_str_ne(err, "");
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	/* then gone altogether */
	ck_assert_int_eq(kk_snapshot_process(dfd, pid, 0, &arts, err,
	    sizeof(err)), -ESRCH);
	ck_assert_str_ne(err, "");
	ck_assert_uint_eq(arts.n, 0);
	ck_assert_uint_eq(kk_test_count_entries(dir, NULL, NULL), 0);

	/* nor can it take itself */
	ck_assert_int_lt(kk_snapshot_process(dfd, getpid(), 0, &arts, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(arts.n, 0);
	kk_artifacts_free(&arts);
	close(dfd);
}
END_TEST

/* Whether pid's executable is path (after links: /bin may be /usr/bin). */
static bool
exe_is(pid_t pid, const char *path)
{
	char link[64], a[PATH_MAX], b[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	if ((n = readlink(link, a, sizeof(a) - 1)) <= 0 ||
	    realpath(path, b) == NULL)
		return false;
	a[n] = '\0';
	return strcmp(a, b) == 0;
}

/*
 * core_exe_of_reused_pid's hook: the target is killed and its pid given
 * to a process of another executable (clone3 with set_tid, as root), as
 * a sibling of malware could while the core is written.
 */
static pid_t reused_pid;

static void
reuse_pid(pid_t pid)
{
	struct clone_args ca;
	pid_t want = pid, p;
	int st;

	kill(pid, SIGKILL);
	waitpid(pid, &st, __WALL);
	memset(&ca, 0, sizeof(ca));
	ca.exit_signal = SIGCHLD;
	ca.set_tid = (uint64_t)(uintptr_t)&want;
	ca.set_tid_size = 1;
	p = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	if (p == 0) {
		execl("/bin/sleep", "sleep", "60", (char *)NULL);
		_exit(127);
	}
	reused_pid = p;
	/* until it runs sleep: its exe is the other file */
	for (st = 0; st < 3000 && p > 0 && !exe_is(p, "/bin/sleep"); st++)
		pu_nap_ms(2);
}

/*
 * The executable is copied only while the pid is the process: a target
 * killed after its core and its pid reused by another program gave that
 * program's file as the process's executable, in a signed manifest.
 */
START_TEST(core_exe_of_reused_pid)
{
	struct kk_artifacts arts;
	struct child ch = { 0 };
	char dir[PATH_MAX], err[256];
	pid_t pid;
	size_t i;
	int dfd, st;

	child_start(&ch, 0);
	pid = ch.pid;
	kk_test_workdir(dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);
	kk_artifacts_init(&arts);
	reused_pid = 0;
	kk_snap_exe_hook = reuse_pid;
	ck_assert_int_eq(kk_snapshot_process(dfd, pid, 0, &arts, err,
	    sizeof(err)), 0);
	kk_snap_exe_hook = NULL;
	ch.pid = 0;
	ck_assert_msg(reused_pid == pid, "clone3 set_tid %d: %d (%s)",
	    (int)pid, (int)reused_pid, strerror(errno));
	ck_assert_msg(exe_is(pid, "/bin/sleep"), "the pid runs no sleep");
	for (i = 0; i < arts.n; i++)
		if (strstr(arts.v[i].path, "/exe") != NULL)
			break;
	ck_assert_uint_lt(i, arts.n);
	ck_assert_msg(arts.v[i].incomplete && arts.v[i].size == 0,
	    "%s: %ju bytes, not the target's: %s", arts.v[i].path,
	    (uintmax_t)arts.v[i].size, arts.v[i].error);
	ck_assert_msg(strstr(arts.v[i].error, "exited") != NULL, "%s",
	    arts.v[i].error);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	kk_artifacts_free(&arts);
	close(dfd);
}
END_TEST

/*
 * core_uffd_punched's hook: the page at punch_addr punched out of the
 * shared memory behind it once the page tables said it is there, before
 * it is read, as any process holding that memory can.
 */
static int punch_fd = -1;
static uint64_t punch_addr;
static long punch_pg;
static int punched;

static void
punch_page(pid_t pid, uint64_t start, uint64_t end)
{
	(void)pid;
	if (punched == 0 && start <= punch_addr && punch_addr < end)
		punched = fallocate(punch_fd, FALLOC_FL_PUNCH_HOLE |
		    FALLOC_FL_KEEP_SIZE, punch_pg, punch_pg) == 0 ? 1 : -errno;
}

/*
 * core_uffd_punched's target: m (len bytes, shared memory) registered
 * for missing pages with a userfaultfd nobody answers (with uffd), each
 * page read in; 'r' on wfd, then it waits.  It must not ck_assert.
 */
static void __attribute__((noreturn))
uffd_child(int wfd, const char *m, size_t len, long pg, bool uffd)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;
	volatile char sum = 0;
	char ok = 'e';
	size_t i;
	int u;

	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uint64_t)(uintptr_t)m;
	reg.range.len = len;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	u = uffd ? (int)syscall(SYS_userfaultfd, O_CLOEXEC) : -1;
	if (!uffd || (u >= 0 && ioctl(u, UFFDIO_API, &api) == 0 &&
	    ioctl(u, UFFDIO_REGISTER, &reg) == 0)) {
		for (i = 0; i < len; i += (size_t)pg)
			sum += m[i];
		ok = 'r';
	}
	if (write(wfd, &ok, 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

/*
 * uffd_child forked over m (len bytes, mapped shared before): its pid
 * once it is ready, with its userfaultfd when uffd.
 */
static pid_t
uffd_child_start(const char *m, size_t len, long pg, bool uffd)
{
	struct pollfd pfd;
	char ok = 0;
	int p[2];
	pid_t pid;

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		uffd_child(p[1], m, len, pg, uffd);
	}
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 90000), 1);
	ck_assert_int_eq(read(p[0], &ok, 1), 1);
	close(p[0]);
	ck_assert_msg(ok == 'r', "the child could not register its range "
	    "with a userfaultfd (the test needs one: root, or "
	    "vm.unprivileged_userfaultfd)");
	return pid;
}

/* The hook tests' directory (dir), opened, and their artifacts. */
static int
hook_test_dir(char *dir, struct kk_artifacts *arts)
{
	int dfd;

	kk_test_workdir(dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);
	kk_artifacts_init(arts);
	return dfd;
}

/*
 * A page gone between the look at the page tables and the read (a hole
 * punched in the shared memory behind it), in a range a userfaultfd
 * watches: the read's fault went to that userfaultfd's handler, which
 * need never answer, and the snapshot waited with it, as long as the
 * handler liked (process_vm_readv; its job's deadline, 30 min).  Read
 * through /proc/PID/mem, that page is a gap, at once, and the rest of
 * the memory is there.
 */
START_TEST(core_uffd_punched)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t len = 4 * (size_t)pg, i, k;
	const struct kk_artifact *a = NULL;
	struct kk_artifacts arts;
	const Elf64_Phdr *ph;
	struct core c;
	char dir[PATH_MAX], err[256], path[2 * PATH_MAX], *page, *m;
	int mfd, dfd, r, st;
	json_t *g;
	pid_t pid;

	mfd = memfd_create("kakuri-test-uffd", MFD_CLOEXEC);
	ck_assert_int_ge(mfd, 0);
	page = malloc((size_t)pg);
	ck_assert_ptr_nonnull(page);
	for (i = 0; i < 4; i++) {
		memset(page, 'a' + (int)i, (size_t)pg);
		ck_assert_int_eq(pwrite(mfd, page, (size_t)pg,
		    (off_t)(i * (size_t)pg)), pg);
	}
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, mfd, 0);
	ck_assert_ptr_ne(m, MAP_FAILED);
	pid = uffd_child_start(m, len, pg, true);

	dfd = hook_test_dir(dir, &arts);
	punch_fd = mfd;
	punch_addr = (uint64_t)(uintptr_t)m + (uint64_t)pg;
	punch_pg = pg;
	punched = 0;
	kk_snap_mem_hook = punch_page;
	r = kk_snapshot_process(dfd, pid, 0, &arts, err, sizeof(err));
	kk_snap_mem_hook = NULL;
	ck_assert_msg(r == 0, "%d: %s", r, err);
	ck_assert_msg(punched == 1, "the page was not punched: %d", punched);
	for (i = 0; i < arts.n; i++)
		if (strstr(arts.v[i].path, "/core") != NULL)
			a = &arts.v[i];
	ck_assert_ptr_nonnull(a);

	snprintf(path, sizeof(path), "%s/%s", dir, a->path);
	core_open(&c, path);
	/* the pages around it are there */
	for (i = 0; i < 4; i++) {
		if (i == 1)
			continue;
		ck_assert_msg(core_read(&c, (uint64_t)(uintptr_t)m +
		    i * (uint64_t)pg, page, (size_t)pg), "page %zu", i);
		for (k = 0; k < (size_t)pg; k++)
			ck_assert_int_eq(page[k], 'a' + (int)i);
	}
	/* it is one gap, "unreadable", where its bytes are in the core */
	ph = core_segment(&c, punch_addr);
	ck_assert_ptr_nonnull(ph);
	ck_assert_ptr_nonnull(a->gaps);
	ck_assert_uint_eq(json_array_size(a->gaps), 1);
	g = json_array_get(a->gaps, 0);
	ck_assert_uint_eq(json_integer_value(json_object_get(g, KW_OFFSET)),
	    ph->p_offset + (punch_addr - ph->p_vaddr));
	ck_assert_uint_eq(json_integer_value(json_object_get(g, KW_LENGTH)),
	    (uint64_t)pg);
	ck_assert_str_eq(json_string_value(json_object_get(g, KW_WHY)),
	    "unreadable");
	ck_assert(core_read(&c, punch_addr, page, (size_t)pg));
	for (k = 0; k < (size_t)pg; k++)
		ck_assert_int_eq(page[k], 0);
	core_close(&c);

	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	kk_artifacts_free(&arts);
	munmap(m, len);
	free(page);
	close(mfd);
	close(dfd);
}
END_TEST

/*
 * core_killed_mid_read's hook: the target killed once the page tables
 * were read, before its pages are, and waited for until its memory is
 * gone (a zombie; not reaped).
 */
static pid_t kill_target;
static uint64_t kill_at;
static int killed_it;

static void
kill_page(pid_t pid, uint64_t start, uint64_t end)
{
	siginfo_t si;

	if (killed_it != 0 || pid != kill_target || kill_at < start ||
	    kill_at >= end)
		return;
	memset(&si, 0, sizeof(si));
	killed_it = kill(pid, SIGKILL) == 0 && waitid(P_PID, (id_t)pid, &si,
	    WEXITED | WNOWAIT) == 0 ? 1 : -errno;
}

/*
 * A process killed while its memory is read (by another process of its
 * user: a frozen, stopped process still dies of SIGKILL): the mem file
 * then reads nothing, no error.  The snapshot says the process exited
 * during it; it is not a core of zeros after that point, passed off as
 * whole with every page "unreadable".
 */
START_TEST(core_killed_mid_read)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t len = 4 * (size_t)pg, i;
	const struct kk_artifact *a = NULL;
	struct kk_artifacts arts;
	char dir[PATH_MAX], err[256], *m;
	int dfd, r, st;
	pid_t pid;

	/* private: no file, no header page read before the page tables */
	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(m, MAP_FAILED);
	memset(m, 'k', len);
	pid = uffd_child_start(m, len, pg, false);

	dfd = hook_test_dir(dir, &arts);
	kill_target = pid;
	killed_it = 0;
	/*
	 * _i 0: killed once the page tables showed the second page of m,
	 * before it is read.  1 and 2: before the page tables of its
	 * stack's segment are read (the child's stack is where ours is:
	 * forked), after which no page of a file is read (the header
	 * pages that would say it): PAGEMAP_SCAN then fails (ESRCH); the
	 * pagemap file (2, as before Linux 6.7) reads nothing, no error,
	 * which was all pages absent: zeros, in a core listed whole.
	 */
	if (_i == 0) {
		kill_at = (uint64_t)(uintptr_t)m + (uint64_t)pg;
		kk_snap_mem_hook = kill_page;
	} else {
		kill_at = (uint64_t)(uintptr_t)&pid;
		kk_snap_seg_hook = kill_page;
	}
	kk_snap_no_scan = _i == 2;
	r = kk_snapshot_process(dfd, pid, 0, &arts, err, sizeof(err));
	kk_snap_mem_hook = NULL;
	kk_snap_seg_hook = NULL;
	kk_snap_no_scan = false;
	ck_assert_msg(killed_it == 1, "the target was not killed: %d",
	    killed_it);
	ck_assert_msg(r == -ESRCH, "%d: %s", r, err);
	ck_assert_msg(strstr(err, "exited during the snapshot") != NULL, "%s",
	    err);
	/* its core: cut where the process went, no page passed as unreadable */
	for (i = 0; i < arts.n; i++)
		if (strstr(arts.v[i].path, "/core") != NULL)
			a = &arts.v[i];
	ck_assert_ptr_nonnull(a);
	ck_assert_msg(a->incomplete, "the core is listed as whole");
	ck_assert_msg(a->gaps == NULL, "%zu gap(s) of zeros: %s",
	    json_array_size(a->gaps), a->error);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	kk_artifacts_free(&arts);
	munmap(m, len);
	close(dfd);
}
END_TEST

/* The artifact of pid's core in arts (its path in rel): there, or fails. */
static const struct kk_artifact *
core_listed(const struct kk_artifacts *arts, pid_t pid, char *rel,
    size_t rellen)
{
	size_t i;

	snprintf(rel, rellen, "pid-%d/core", (int)pid);
	for (i = 0; i < arts->n; i++)
		if (strcmp(arts->v[i].path, rel) == 0)
			return &arts->v[i];
	ck_abort_msg("%s is not listed", rel);
	return NULL;
}

/*
 * smaps not read (past its size limit, or refused): a header page that is
 * not resident cannot be read safely, as a userfaultfd's or a device's it
 * may be.  The child dropped its executable's from its page tables: the
 * page is missing, and the core says so; it went without a word before.
 * _i 1: with smaps, the same child's core is whole, the page in it.
 */
START_TEST(core_without_smaps)
{
	struct kk_artifacts arts;
	const struct kk_artifact *a = NULL;
	struct child ch = { 0 };
	struct core c;
	const Elf64_Phdr *ph;
	char dir[PATH_MAX], corepath[PATH_MAX], rel[64], err[256];
	int dfd;

	child_start(&ch, 0);
	dfd = hook_test_dir(dir, &arts);
	kk_snap_no_smaps = _i == 0;
	ck_assert_int_eq(kk_snapshot_process(dfd, ch.pid, 0, &arts, err,
	    sizeof(err)), 0);
	kk_snap_no_smaps = false;
	a = core_listed(&arts, ch.pid, rel, sizeof(rel));
	if (_i == 0) {
		ck_assert_msg(a->incomplete, "the core is listed as whole");
		ck_assert_msg(strstr(a->error, "smaps did not describe them: "
		    "the first page of ") != NULL, "%s", a->error);
	} else
		ck_assert_msg(!a->incomplete, "%s", a->error);
	kk_test_join(corepath, dir, rel);
	core_open(&c, corepath);
	ph = core_segment(&c, exe_header());
	ck_assert_ptr_nonnull(ph);
	ck_assert_uint_eq(ph->p_vaddr, exe_header());
	if (_i == 0)
		ck_assert_uint_eq(ph->p_filesz, 0);
	else
		ck_assert_uint_gt(ph->p_filesz, 0);
	core_close(&c);
	kk_artifacts_free(&arts);
	close(dfd);
	child_stop(&ch);
}
END_TEST

/* What core_disk_full's child takes: the core of pid into dir. */
struct full_core {
	const char *dir;
	pid_t pid;
};

/*
 * In the child, on the small tmpfs: -ENOSPC with "no space left", the
 * /proc files whole, the core listed as incomplete, and each kept
 * exactly as far as it was hashed.
 * It must not ck_assert: its exit status says what went wrong.
 */
static int
core_onto_full_disk(int dfd, void *arg)
{
	const struct full_core *fc = arg;
	struct kk_artifacts arts;
	char err[256], path[PATH_MAX + KK_ART_PATH_MAX];
	size_t i;

	kk_artifacts_init(&arts);
	if (kk_snapshot_process(dfd, fc->pid, 0, &arts, err,
	    sizeof(err)) != -ENOSPC)
		return 3;
	if (strstr(err, "no space left") == NULL)
		return 4;
	/* the /proc files came first and are whole; the core is cut */
	if (arts.n != 5 || !arts.v[4].incomplete ||
	    strstr(arts.v[4].path, "/core") == NULL ||
	    strlen(arts.v[4].sha256) != 64 || arts.v[4].pid != fc->pid)
		return 5;
	for (i = 0; i < arts.n; i++) {
		/* what is kept is exactly what was hashed */
		snprintf(path, sizeof(path), "%s/%s", fc->dir, arts.v[i].path);
		if (!kk_test_file_matches(path, arts.v[i].size,
		    arts.v[i].sha256))
			return 6;
		if (i < 4 && (arts.v[i].incomplete ||
		    strstr(arts.v[i].path, "/core") != NULL))
			return 7;
	}
	kk_artifacts_free(&arts);
	return 0;
}

/*
 * A disk that fills up: the core is kept as far as it got, listed as
 * incomplete, and -ENOSPC comes back with "no space left" in err.  The
 * small tmpfs lives in a private mount namespace of a helper child.
 */
START_TEST(core_disk_full)
{
	struct child ch = { 0 };
	char dir[PATH_MAX];
	struct full_core fc = { .dir = dir };
	int st;

	child_start(&ch, 4 << 20);
	fc.pid = ch.pid;
	kk_test_workdir(dir);
	st = pu_in_small_tmpfs(dir, "1m", core_onto_full_disk, &fc);
	/* the target was only borrowed: it still runs */
	ck_assert_int_eq(kill(ch.pid, 0), 0);
	child_stop(&ch);
	/* without mount namespaces here there is nothing to test */
	ck_assert_msg(st == 0 || st == PU_NO_NAMESPACE, "child: %d", st);
}
END_TEST

/*
 * A child with chains of threads, each making its successor and ending,
 * for 60 s (pu_hop_start): read /proc/PID/task, seize what it lists,
 * and the thread named there may be gone already (seen exiting, state
 * X), its successor not listed yet.  32 chains, and one: a listing that
 * stands on the last thread when it ends stops there, and misses the
 * successor it made, at the end of the list.
 */
#define CHAIN_ROUNDS	50

static const unsigned chain_counts[] = { 32, 1 };

static int
chain_body(void *arg)
{
	return pu_hop_start(*(unsigned *)arg, 60);
}

static pid_t
chain_start(unsigned chains)
{
	return body_child(chain_body, &chains, sizeof(chains));
}

/* Tasks of pid not in a ptrace stop ('t') and not on their way out. */
static size_t
tasks_running(pid_t pid)
{
	char path[320], *stat, *rp;
	struct dirent *de;
	size_t n = 0;
	DIR *d;
	int fd;
	ssize_t len;
	char buf[512];

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stat",
		    (int)pid, de->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;	/* gone meanwhile: it was not stopped */
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		stat = buf;
		if ((rp = strrchr(stat, ')')) == NULL || rp[1] == '\0')
			continue;
		if (rp[2] != 't' && rp[2] != 'Z' && rp[2] != 'X')
			n++;
	}
	closedir(d);
	return n;
}

/*
 * Threads that keep making successors: after the threads are stopped,
 * either nothing of the process runs, or the snapshot says how many
 * threads did not stop (and so calls its core incomplete).  A core
 * called whole while a thread of the process runs on could be written
 * to while it is read.
 */
START_TEST(core_thread_chain)
{
	struct snap sn;
	size_t running, caught = 0;
	pid_t pid;
	int round, st;

	pid = chain_start(chain_counts[_i]);
	for (round = 0; round < CHAIN_ROUNDS; round++) {
		memset(&sn, 0, sizeof(sn));
		sn.pid = pid;
		ck_assert_int_eq(snap_stop_threads(&sn), 0);
		/* a link on its way out is gone, not a refusal */
		ck_assert_msg(sn.seize_err == 0, "round %d: seizing: %s",
		    round, strerror(-sn.seize_err));
		running = tasks_running(pid);
		ck_assert_msg(sn.unstopped > 0 || running == 0,
		    "round %d: %zu threads run on, none said to (%zu known)",
		    round, running, sn.nt);
		if (sn.unstopped == 0)
			caught++;
		snap_detach_threads(&sn);
		free(sn.t);
		free(sn.tidx);
	}
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &st, __WALL), pid);
	if (getenv("KK_TEST_CHAIN_VERBOSE") != NULL)
		fprintf(stderr, "core_thread_chain: %u chains: %zu of %d "
		    "rounds stopped every thread\n", chain_counts[_i], caught,
		    CHAIN_ROUNDS);
}
END_TEST

/*
 * Two reasons at once: smaps not read (the executable's header page is
 * missing) and a twin on the memory that runs on (clone(CLONE_VM)): the
 * core is incomplete for both, and says both.  The twin's note was
 * written over the header note before.
 */
START_TEST(core_reasons_all_said)
{
	struct kk_artifacts arts;
	const struct kk_artifact *a = NULL;
	struct child ch = { 0 };
	char dir[PATH_MAX], rel[64], err[512];
	int dfd;

	child_twin = true;
	child_start(&ch, 0);
	child_twin = false;
	dfd = hook_test_dir(dir, &arts);
	kk_snap_no_smaps = true;
	/* fails (the memory could change), with its core listed */
	ck_assert_int_ne(kk_snapshot_process(dfd, ch.pid, 0, &arts, err,
	    sizeof(err)), 0);
	kk_snap_no_smaps = false;
	a = core_listed(&arts, ch.pid, rel, sizeof(rel));
	ck_assert_msg(a->incomplete, "the core is listed as whole");
	ck_assert_msg(strstr(a->error, "smaps did not describe them: the "
	    "first page of ") != NULL, "the header note is lost: %s", a->error);
	ck_assert_msg(strstr(a->error, "memory shared with pid ") != NULL,
	    "the twin is not said: %s", a->error);
	ck_assert_msg(strstr(err, "memory shared with pid ") != NULL, "%s",
	    err);
	kk_artifacts_free(&arts);
	close(dfd);
	child_stop(&ch);
}
END_TEST

KK_SUITE(core_suite, "core",
	/* gdb takes its time */
	KK_CASE("core", KK_TMPDIR, 240), KK_TEST(core_of_running_child),
	    KK_TEST(core_of_vast_mappings), KK_TEST(core_of_crowded_mapping),
	    KK_TEST(core_vanished_pid), KK_TEST(core_of_leader_exited),
	    KK_TEST(core_disk_full), KK_LOOP(core_thread_chain, 2),
	    KK_TEST(core_exe_of_reused_pid), KK_TEST(core_over_threads),
	    KK_TEST(core_uffd_punched), KK_LOOP(core_killed_mid_read, 3),
	    KK_LOOP(core_without_smaps, 2), KK_TEST(core_reasons_all_said))
