/*
 * snapshot_bench [CORETARGET [TMPFS-DIR]]: kk_snapshot_process of a
 * process with 1 GiB resident memory into tmpfs (SHA-256 of the core
 * included), next to `gcore -a` of the same process into the same tmpfs.
 * Five runs each, in turns with the two floors (the copy alone, the
 * SHA-256 alone); the medians, their ratios, and whether the target's
 * RssAnon moved because of the snapshot.  The target is
 * build/coretarget --resident 1024, started, killed and reaped here by
 * its pid.  gcore attaches with ptrace and stops the (unfrozen) target:
 * that is the baseline as it is used in the field.  Before each timed
 * run that writes, the tmpfs gets its memory back from the host
 * (warm_dest), the same for every method.
 */
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "evidence.h"
#include "../tests/progutil.h"

#define RUNS		5
#define RESIDENT_MIB	1024

static long
rss_anon(pid_t pid)
{
	char path[64], buf[8192], *p;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (pu_read_small(path, buf, sizeof(buf)) < 0 ||
	    (p = strstr(buf, "RssAnon:")) == NULL)
		return -1;
	return strtol(p + 8, NULL, 10);
}

/* Starts the target and waits (60 s at most) for "ready PID". */
static pid_t
start_target(const char *prog)
{
	char mib[16], line[128];
	const char *argv[] = { prog, "--resident", mib, NULL };
	struct pollfd pfd;
	size_t len = 0;
	pid_t pid;
	ssize_t n;
	int p[2], i;

	snprintf(mib, sizeof(mib), "%d", RESIDENT_MIB);
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		dup2(p[1], 1);
		execvp(prog, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	for (i = 0; i < 600 && len < sizeof(line) - 1; i++) {
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = read(p[0], line + len, sizeof(line) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		line[len] = '\0';
		if (strchr(line, '\n') != NULL)
			break;
	}
	close(p[0]);
	line[len] = '\0';
	if (strncmp(line, "ready ", 6) != 0 || atoi(line + 6) != pid) {
		fprintf(stderr, "snapshot_bench: %s did not get ready\n", prog);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

/* SHA-256 of a file, as an evidence store would need it; seconds */
static double
hash_file(const char *path)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256_CTX c;
	double t0 = pu_now_s();
	char *buf;
	ssize_t n;
	int fd, i;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if ((buf = malloc(1 << 20)) == NULL) {
		close(fd);
		return -1;
	}
	SHA256_Init(&c);
	/* bounded: 64 GiB is far beyond any core of this target */
	for (i = 0; i < 65536 && (n = read(fd, buf, 1 << 20)) > 0; i++)
		SHA256_Update(&c, buf, (size_t)n);
	SHA256_Final(md, &c);
	free(buf);
	close(fd);
	return pu_now_s() - t0;
}

/*
 * gcore -a -o DIR/core PID; seconds, or < 0 if it failed.  *hash: the
 * SHA-256 of what it wrote, timed apart.
 */
static double
run_gcore(const char *dir, pid_t target, double *hash)
{
	char out[PATH_MAX + 32], pidstr[16];
	const char *argv[] = { "gcore", "-a", "-o", out, pidstr, NULL };
	double t0, t;
	pid_t pid;
	int st, fd;

	snprintf(out, sizeof(out), "%s/core", dir);
	snprintf(pidstr, sizeof(pidstr), "%d", (int)target);
	t0 = pu_now_s();
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		if ((fd = open("/dev/null", O_WRONLY)) >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp("gcore", (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	t = pu_now_s() - t0;
	snprintf(out, sizeof(out), "%s/core.%d", dir, (int)target);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || access(out, F_OK) < 0)
		return -1;
	if ((*hash = hash_file(out)) < 0)
		return -1;
	return t;
}

static double
run_kakuri(const char *dir, pid_t target)
{
	struct kk_artifacts arts;
	char err[256];
	double t0, t;
	int fd, r;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	kk_artifacts_init(&arts);
	t0 = pu_now_s();
	r = kk_snapshot_process(fd, target, 0, &arts, err, sizeof(err));
	t = pu_now_s() - t0;
	kk_artifacts_free(&arts);
	close(fd);
	if (r < 0) {
		fprintf(stderr, "snapshot_bench: %s\n", err);
		return -1;
	}
	return t;
}

/*
 * The copy alone: every readable mapping of the target read with
 * process_vm_readv and written into DIR/copy, nothing hashed, no page
 * tables looked at; with the SHA-256 alone, the floor of a snapshot.
 * Seconds, or < 0.
 */
static double
copy_alone(const char *dir, pid_t target)
{
	char path[PATH_MAX + 16], line[512];
	unsigned long long start, end, total = 0;
	struct iovec l, r;
	double t0, t = -1;
	char perms[8], *buf;
	FILE *maps = NULL;
	ssize_t got;
	size_t n;
	int fd = -1, lines = 0;

	if ((buf = malloc(1 << 20)) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/copy", dir);
	t0 = pu_now_s();
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) < 0)
		goto out;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)target);
	if ((maps = fopen(path, "re")) == NULL)
		goto out;
	/* bounded: 65536 mappings, 16 GiB copied */
	while (lines++ < 65536 && fgets(line, sizeof(line), maps) != NULL) {
		if (sscanf(line, "%llx-%llx %7s", &start, &end, perms) != 3 ||
		    perms[0] != 'r')
			continue;
		while (start < end && total < (16ULL << 30)) {
			n = end - start > (1 << 20) ? 1 << 20 :
			    (size_t)(end - start);
			l.iov_base = buf;
			l.iov_len = n;
			r.iov_base = (void *)(uintptr_t)start;
			r.iov_len = n;
			if ((got = process_vm_readv(target, &l, 1, &r, 1,
			    0)) <= 0)
				break;	/* [vvar] and the like */
			if (kk_write_all(fd, buf, (size_t)got) < 0)
				goto out;
			start += (unsigned long long)got;
			total += (unsigned long long)got;
		}
	}
	if (fsync(fd) == 0)
		t = pu_now_s() - t0;
out:
	if (maps != NULL)
		fclose(maps);
	kk_close(fd);
	free(buf);
	return t;
}

/*
 * The destination's memory made ready before each timed run that writes
 * a core: RESIDENT_MIB + 64 MiB written into DIR/warm and deleted.  On a
 * guest that hands free memory back to its host (free page reporting:
 * this machine's virtio-balloon, order 11), the first touch of a page
 * that went back costs a trip to the host.  Without this, whichever run
 * comes first after a quiet spell pays for 1 GiB of such trips: the
 * same snapshot took 0.7 s or 3.0 s by its place in the turns, and so
 * did gcore.  With it, every method writes into memory that is there.
 * 0, or -1.
 */
static int
warm_dest(const char *dir)
{
	char path[PATH_MAX + 16], *buf;
	int fd, i, r = -1;

	snprintf(path, sizeof(path), "%s/warm", dir);
	if ((buf = malloc(1 << 20)) == NULL)
		return -1;
	memset(buf, 0xa5, 1 << 20);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) < 0)
		goto out;
	for (i = 0; i < RESIDENT_MIB + 64; i++)
		if (kk_write_all(fd, buf, 1 << 20) < 0)
			goto out;
	r = 0;
out:
	kk_close(fd);
	unlink(path);
	free(buf);
	return r;
}

/* SHA-256 of 1 GiB on this CPU: the floor of any hashing snapshot */
static double
sha_floor(void)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256_CTX c;
	double t0;
	char *buf;
	int i;

	if ((buf = malloc(1 << 20)) == NULL)
		return -1;
	memset(buf, 0x5a, 1 << 20);
	t0 = pu_now_s();
	SHA256_Init(&c);
	for (i = 0; i < RESIDENT_MIB; i++)
		SHA256_Update(&c, buf, 1 << 20);
	SHA256_Final(md, &c);
	free(buf);
	return pu_now_s() - t0;
}

int
main(int argc, char **argv)
{
	const char *prog = argc > 1 ? argv[1] : "build/coretarget";
	char base[PATH_MAX / 2], dir[PATH_MAX];
	double tk[RUNS], tg[RUNS], th[RUNS], tc[RUNS], ts[RUNS];
	double mk, mg, mh, mc, ms, floor, gb;
	long before, after = -1;
	bool own = false;
	pid_t target;
	int i, ret = 1;

	if (argc > 2) {
		if (strlen(argv[2]) >= sizeof(base)) {
			fprintf(stderr, "snapshot_bench: %s: too long\n",
			    argv[2]);
			return 2;
		}
		snprintf(base, sizeof(base), "%s", argv[2]);
	} else {
		snprintf(base, sizeof(base), "/dev/shm/kk-snapbench.XXXXXX");
		if (mkdtemp(base) == NULL) {
			perror("snapshot_bench: mkdtemp");
			return 1;
		}
		own = true;
	}
	if ((target = start_target(prog)) < 0)
		goto out;
	before = rss_anon(target);
	/* in turns, so that a drift of the machine's speed hits all four */
	for (i = 0; i < RUNS; i++) {
		snprintf(dir, sizeof(dir), "%s/kakuri", base);
		if (mkdir(dir, 0700) < 0 || warm_dest(dir) < 0 ||
		    (tk[i] = run_kakuri(dir, target)) < 0)
			goto kill;
		if (i == 0)
			after = rss_anon(target);
		pu_rmtree(dir);
		snprintf(dir, sizeof(dir), "%s/copy", base);
		if (mkdir(dir, 0700) < 0 || warm_dest(dir) < 0 ||
		    (tc[i] = copy_alone(dir, target)) < 0) {
			fprintf(stderr, "snapshot_bench: the copy alone "
			    "failed\n");
			pu_rmtree(dir);
			goto kill;
		}
		pu_rmtree(dir);
		if ((ts[i] = sha_floor()) < 0)
			goto kill;
		snprintf(dir, sizeof(dir), "%s/gcore", base);
		if (mkdir(dir, 0700) < 0 || warm_dest(dir) < 0 ||
		    (tg[i] = run_gcore(dir, target, &th[i])) < 0) {
			fprintf(stderr, "snapshot_bench: gcore -a failed\n");
			pu_rmtree(dir);
			goto kill;
		}
		th[i] += tg[i];
		pu_rmtree(dir);
	}
	mk = pu_median(tk, RUNS);
	mh = pu_median(th, RUNS);
	mg = pu_median(tg, RUNS);
	mc = pu_median(tc, RUNS);
	ms = pu_median(ts, RUNS);
	floor = mc > ms ? mc : ms;
	gb = (double)before * 1024 / 1e9;
	printf("snapshot %d MiB resident: kakuri median %.0f ms (%.2f GB/s), "
	    "gcore -a median %.0f ms (%.2f GB/s), ratio gcore/kakuri = %.2f; "
	    "target RssAnon before %ld kB after %ld kB\n", RESIDENT_MIB,
	    mk * 1e3, gb / mk, mg * 1e3, gb / mg, mg / mk, before, after);
	/* kakuri's figure includes the hash evidence needs; gcore's not */
	printf("gcore -a + SHA-256 of its core median %.0f ms (%.2f GB/s), "
	    "ratio %.2f (target >= 1.5)\n", mh * 1e3, gb / mh, mh / mk);
	printf("copy alone (process_vm_readv into the same tmpfs, no hash) "
	    "median %.0f ms; SHA-256 of %d MiB alone median %.0f ms; kakuri / "
	    "max of the two = %.2f (target <= 1.3)\n", mc * 1e3,
	    RESIDENT_MIB, ms * 1e3, mk / floor);
	ret = 0;
kill:
	kill(target, SIGKILL);
	waitpid(target, NULL, 0);
out:
	if (own)
		pu_rmtree(base);
	return ret;
}
