/*
 * fusehang: an executable served from a FUSE file system whose server
 * stops answering, for the tests that kakurid never waits on a file an
 * attacker controls.  It speaks /dev/fuse directly (no libfuse).
 *
 *	fusehang MNT FILE UID [--overlay MNT2 EMPTYDIR | --argv | --exit-hang |
 *	    --loop MNT2]
 *
 * In a mount namespace of its own it mounts a FUSE file system on MNT
 * ("fuse.kakuritest", allow_other, as a user's FUSE mount with
 * user_allow_other would be) that holds one file, "evil", with FILE's
 * bytes.  It forks a child that becomes UID and executes MNT/evil 300
 * (with --overlay: MNT2/evil, MNT2 being an overlayfs whose lower layers
 * are MNT and EMPTYDIR, so the file looks local and reading it still asks
 * the FUSE server), prints the child's pid and serves: the first OPEN of
 * the file (the exec's) is answered, every later one never is.  Whoever
 * opens the file after the exec waits until this server exits, which it
 * does after 120 s (its mounts go with it).
 *
 * With --argv the child executes nothing: as UID it opens MNT/evil (the
 * open answered) and maps it over every page of its own argument and
 * environment area (/proc/self/stat fields 48-51), none of it ever read
 * (no READ is answered): whoever reads those pages of its memory, and
 * faults them in, waits for this server.  It does so on a stack of its
 * own, as its frames may share a page with the arguments, and pauses there
 * for good.
 *
 * With --loop MNT2, FILE is a file system image (ext4) holding "evil":
 * every open of it is answered, and every READ until this server gets
 * SIGUSR1, none after.  The child attaches it read-only to a free loop
 * device, mounts that on MNT2 (ext4, read-only, in the same namespace),
 * and executes MNT2/evil as UID: a local file system type on a device
 * that reads through this server.  Whoever reads a page of it not yet in
 * memory after the signal waits for this server, and so does whoever
 * asks the image's attributes (none are kept: the loop device asked for
 * its backing file's inode asks this server).
 *
 * With --exit-hang there are two children and no exec: each, as UID,
 * forks a grandchild that pauses for good, opens MNT/evil (every open is
 * answered), prints "CHILD GRANDCHILD" and exits; no FLUSH is answered,
 * so each child stays in exit, past the point where it gives its memory
 * up (exit_mm comes before exit_files): a process in exit with no mm, as
 * a hung network file system's flush leaves one, until this server exits.
 */
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/fuse.h>
#include <linux/loop.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../progutil.h"

#define LIFETIME_S	120
#define BUF_SIZE	(1 << 20)
#define FILE_INO	2
#define OPENS_ANSWERED	1

static uint8_t *content;
static size_t content_len;
static unsigned opens;
static int argv_mode;
static unsigned long argv_lo, argv_hi;
static int argv_fd = -1;
static int exit_hang;
static int loop_mode;
static volatile sig_atomic_t reads_hang;

static void
on_usr1(int sig)
{
	(void)sig;
	reads_hang = 1;
}

static void
reply(int fd, const struct fuse_in_header *in, int error, const void *p,
    size_t len)
{
	struct fuse_out_header out;
	uint8_t buf[sizeof(out) + 4096];
	const uint8_t *data = p;

	out.len = (uint32_t)(sizeof(out) + (error ? 0 : len));
	out.error = -error;
	out.unique = in->unique;
	if (error == 0 && len > sizeof(buf) - sizeof(out)) {
		/* large READ replies: header and data in one writev-like go */
		uint8_t *big = malloc(sizeof(out) + len);

		if (big == NULL)
			return;
		memcpy(big, &out, sizeof(out));
		memcpy(big + sizeof(out), data, len);
		if (write(fd, big, sizeof(out) + len) < 0)
			perror("fusehang: write");
		free(big);
		return;
	}
	memcpy(buf, &out, sizeof(out));
	if (error == 0 && len > 0)
		memcpy(buf + sizeof(out), data, len);
	if (write(fd, buf, out.len) < 0 && errno != ENOENT)
		perror("fusehang: write");
}

static void
fill_attr(uint64_t ino, struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->nlink = 1;
	a->blksize = 4096;
	if (ino == FUSE_ROOT_ID) {
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
	} else {
		a->mode = S_IFREG | 0755;
		a->size = content_len;
		a->blocks = (content_len + 511) / 512;
	}
}

static void
handle(int fd, const struct fuse_in_header *in, const uint8_t *arg)
{
	switch (in->opcode) {
	case FUSE_INIT: {
		const struct fuse_init_in *ii = (const void *)arg;
		struct fuse_init_out io;

		memset(&io, 0, sizeof(io));
		io.major = FUSE_KERNEL_VERSION;
		io.minor = ii->minor < FUSE_KERNEL_MINOR_VERSION ? ii->minor :
		    FUSE_KERNEL_MINOR_VERSION;
		io.max_readahead = ii->max_readahead;
		io.max_background = 16;
		io.congestion_threshold = 12;
		io.max_write = 65536;
		io.time_gran = 1;
		reply(fd, in, 0, &io, sizeof(io));
		break;
	}
	case FUSE_LOOKUP: {
		struct fuse_entry_out eo;

		if (in->nodeid != FUSE_ROOT_ID ||
		    strcmp((const char *)arg, "evil") != 0) {
			reply(fd, in, ENOENT, NULL, 0);
			break;
		}
		memset(&eo, 0, sizeof(eo));
		eo.nodeid = FILE_INO;
		eo.generation = 1;
		eo.entry_valid = 3600;
		eo.attr_valid = loop_mode ? 0 : 3600;
		fill_attr(FILE_INO, &eo.attr);
		reply(fd, in, 0, &eo, sizeof(eo));
		break;
	}
	case FUSE_GETATTR: {
		struct fuse_attr_out ao;

		/*
		 * --loop: attributes are never kept, and not given once reads
		 * stop: whoever asks the image's inode then waits too
		 */
		if (loop_mode && reads_hang && in->nodeid == FILE_INO)
			break;
		memset(&ao, 0, sizeof(ao));
		ao.attr_valid = loop_mode ? 0 : 3600;
		fill_attr(in->nodeid, &ao.attr);
		reply(fd, in, 0, &ao, sizeof(ao));
		break;
	}
	case FUSE_OPEN:
		/* the exec's open is answered; later ones wait for ever */
		if (++opens > OPENS_ANSWERED && !exit_hang && !loop_mode)
			break;
		/* fall through */
	case FUSE_OPENDIR: {
		struct fuse_open_out oo;

		memset(&oo, 0, sizeof(oo));
		oo.fh = 1;
		reply(fd, in, 0, &oo, sizeof(oo));
		break;
	}
	case FUSE_READ: {
		const struct fuse_read_in *ri = (const void *)arg;
		size_t off = ri->offset < content_len ? ri->offset : content_len;
		size_t n = content_len - off < ri->size ? content_len - off :
		    ri->size;

		if (in->nodeid != FILE_INO)
			n = 0;
		if (argv_mode || reads_hang)
			break;		/* never: the pages over the arguments */
		reply(fd, in, 0, content + off, n);
		break;
	}
	case FUSE_READDIR:
		reply(fd, in, 0, NULL, 0);
		break;
	case FUSE_STATFS: {
		struct fuse_statfs_out so;

		memset(&so, 0, sizeof(so));
		so.st.bsize = 4096;
		so.st.frsize = 4096;
		so.st.namelen = 255;
		reply(fd, in, 0, &so, sizeof(so));
		break;
	}
	case FUSE_FLUSH:
		if (exit_hang)
			break;	/* the closing task waits: in exit, for good */
		/* fall through */
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR:
		reply(fd, in, 0, NULL, 0);
		break;
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
		break;		/* no reply */
	case FUSE_DESTROY:
		exit(0);
	default:
		reply(fd, in, ENOSYS, NULL, 0);
		break;
	}
}

/*
 * --loop: MNT/evil attached read-only to a free loop device (detached
 * when its last user goes), mounted as ext4 on mnt2.  0, or -1 said.
 */
static int
loop_mount(const char *mnt, const char *mnt2)
{
	struct loop_config lc;
	char img[4096], dev[64];
	int ctl = -1, lfd = -1, ffd, nr, tries, r = -1;

	snprintf(img, sizeof(img), "%s/evil", mnt);
	if ((ffd = open(img, O_RDONLY | O_CLOEXEC)) < 0) {
		perror("fusehang: open image");
		return -1;
	}
	if ((ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC)) < 0) {
		perror("fusehang: loop-control");
		goto out;
	}
	/* bound and autoclear at once; another may take the free one */
	memset(&lc, 0, sizeof(lc));
	lc.fd = (unsigned)ffd;
	lc.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
	for (tries = 0; tries < 20; tries++) {
		if ((nr = ioctl(ctl, LOOP_CTL_GET_FREE)) < 0) {
			perror("fusehang: LOOP_CTL_GET_FREE");
			goto out;
		}
		snprintf(dev, sizeof(dev), "/dev/loop%d", nr);
		if ((lfd = open(dev, O_RDONLY | O_CLOEXEC)) < 0) {
			perror("fusehang: loop device");
			goto out;
		}
		if (ioctl(lfd, LOOP_CONFIGURE, &lc) == 0)
			break;
		if (errno != EBUSY) {
			perror("fusehang: LOOP_CONFIGURE");
			goto out;
		}
		close(lfd);
		lfd = -1;
	}
	if (lfd < 0) {
		fprintf(stderr, "fusehang: no free loop device\n");
		goto out;
	}
	if (mount(dev, mnt2, "ext4", MS_RDONLY | MS_NOSUID | MS_NODEV,
	    "noload") < 0) {
		perror("fusehang: mount ext4");
		goto out;
	}
	fprintf(stderr, "fusehang: %s on %s\n", dev, mnt2);
	r = 0;
out:
	/* the mount holds the device; without it, autoclear frees it now */
	if (lfd >= 0)
		close(lfd);
	if (ctl >= 0)
		close(ctl);
	close(ffd);
	return r;
}

/* arg_start to env_end of /proc/self/stat, in whole pages */
static int
argv_area(void)
{
	unsigned long pg = (unsigned long)sysconf(_SC_PAGESIZE);

	if (pu_arg_area(true, &argv_lo, &argv_hi) < 0)
		return -1;
	argv_lo &= ~(pg - 1);
	argv_hi = (argv_hi + pg - 1) & ~(pg - 1);
	return 0;
}

/* on the stack of its own: the old one may be under the mapping */
static void
argv_hide(void)
{
	if (mmap((void *)argv_lo, argv_hi - argv_lo, PROT_READ,
	    MAP_PRIVATE | MAP_FIXED, argv_fd, 0) == MAP_FAILED)
		_exit(125);
	for (;;)
		pause();
}

/*
 * --exit-hang's child, as uid: a grandchild that pauses, then the FUSE
 * file opened, both pids said, and an exit that waits on its flush.
 */
static void
exit_hanger(const char *file, long uid)
{
	pid_t grandchild;
	int fd;

	if (setgroups(0, NULL) < 0 || setresgid((gid_t)uid, (gid_t)uid,
	    (gid_t)uid) < 0 || setresuid((uid_t)uid, (uid_t)uid,
	    (uid_t)uid) < 0)
		_exit(126);
	if ((grandchild = fork()) < 0)
		_exit(126);
	if (grandchild == 0) {
		for (;;)
			pause();
	}
	if ((fd = open(file, O_RDONLY)) < 0) {
		perror("fusehang: open");
		_exit(125);
	}
	printf("%d %d\n", (int)getpid(), (int)grandchild);
	fflush(stdout);
	_exit(0);	/* closing fd at exit asks the server to flush it */
}

static int
load(const char *path)
{
	struct stat st;
	ssize_t n;
	size_t off = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) < 0)
		return -1;
	content_len = (size_t)st.st_size;
	if ((content = malloc(content_len + 1)) == NULL)
		return -1;
	while (off < content_len && (n = read(fd, content + off,
	    content_len - off)) > 0)
		off += (size_t)n;
	close(fd);
	return off == content_len ? 0 : -1;
}

int
main(int argc, char **argv)
{
	const char *mnt, *mnt2 = NULL, *empty = NULL;
	char opts[256], run[4096], lower[8192];
	struct fuse_in_header *in;
	uint8_t *buf;
	time_t end = time(NULL) + LIFETIME_S;
	pid_t child;
	long uid;
	ssize_t n;
	int fd;

	argv_mode = argc == 5 && strcmp(argv[4], "--argv") == 0;
	exit_hang = argc == 5 && strcmp(argv[4], "--exit-hang") == 0;
	loop_mode = argc == 6 && strcmp(argv[4], "--loop") == 0;
	if (argc != 4 && !argv_mode && !exit_hang && !loop_mode &&
	    !(argc == 7 && strcmp(argv[4], "--overlay") == 0)) {
		fprintf(stderr, "usage: fusehang MNT FILE UID [--overlay MNT2 "
		    "EMPTYDIR | --argv | --exit-hang | --loop MNT2]\n");
		return 2;
	}
	mnt = argv[1];
	uid = strtol(argv[3], NULL, 10);
	if (argc == 7) {
		mnt2 = argv[5];
		empty = argv[6];
	}
	if (loop_mode) {
		mnt2 = argv[5];
		signal(SIGUSR1, on_usr1);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (load(argv[2]) < 0) {
		fprintf(stderr, "fusehang: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	/* our mounts are nobody else's business, and go with us */
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		perror("fusehang: mount namespace");
		return 1;
	}
	if ((fd = open("/dev/fuse", O_RDWR | O_CLOEXEC)) < 0) {
		perror("fusehang: /dev/fuse");
		return 1;
	}
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40755,user_id=%ld,"
	    "group_id=%ld,allow_other,default_permissions", fd, uid, uid);
	if (mount("kakuri-test", mnt, "fuse.kakuritest", MS_NOSUID | MS_NODEV,
	    opts) < 0) {
		perror("fusehang: mount fuse");
		return 1;
	}
	if ((buf = malloc(BUF_SIZE)) == NULL)
		return 1;
	if (exit_hang) {
		snprintf(run, sizeof(run), "%s/evil", mnt);
		for (int i = 0; i < 2; i++) {
			if ((child = fork()) < 0) {
				perror("fusehang: fork");
				return 1;
			}
			if (child == 0) {
				close(fd);
				exit_hanger(run, uid);
			}
		}
		goto serve;
	}
	child = fork();
	if (child < 0) {
		perror("fusehang: fork");
		return 1;
	}
	if (child == 0) {
		char *cargv[] = { run, (char *)"300", NULL };

		close(fd);
		/* the overlay is made by the child: INIT needs the server */
		if (loop_mode) {
			if (loop_mount(mnt, mnt2) < 0)
				_exit(126);
		} else if (mnt2 != NULL) {
			snprintf(lower, sizeof(lower), "lowerdir=%s:%s", mnt,
			    empty);
			if (mount("overlay", mnt2, "overlay", MS_RDONLY, lower) <
			    0) {
				perror("fusehang: mount overlay");
				_exit(126);
			}
		}
		snprintf(run, sizeof(run), "%s/evil", mnt2 ? mnt2 : mnt);
		if (setgroups(0, NULL) < 0 || setresgid((gid_t)uid, (gid_t)uid,
		    (gid_t)uid) < 0 || setresuid((uid_t)uid, (uid_t)uid,
		    (uid_t)uid) < 0)
			_exit(126);
		if (argv_mode) {
			if ((argv_fd = open(run, O_RDONLY | O_CLOEXEC)) >= 0 &&
			    argv_area() == 0)
				pu_on_own_stack(argv_hide);
			_exit(125);
		}
		execv(run, cargv);
		perror("fusehang: exec");
		_exit(127);
	}
	printf("%d\n", (int)child);
serve:
	/* bounded even if nobody asks anything any more */
	alarm(LIFETIME_S);
	while (time(NULL) < end) {
		n = read(fd, buf, BUF_SIZE);
		if (n < 0 && (errno == EINTR || errno == ENOENT))
			continue;
		if (n < (ssize_t)sizeof(*in))
			break;	/* unmounted, or the connection aborted */
		in = (struct fuse_in_header *)(void *)buf;
		handle(fd, in, buf + sizeof(*in));
	}
	return 0;
}
