/*
 * commitwindow.so: another process's nftables commit inside kakurid's own
 * batch (LD_PRELOAD into kakurid).  While kakurid commits a batch its
 * tamper monitor is out of the nftables event group (agentd/nft/send.c).
 * The file named by $COMMITWINDOW asks for one commit, at one edge of
 * that window: "leave" when the monitor has left the group (setsockopt
 * NETLINK_DROP_MEMBERSHIP of NFNLGRP_NFTABLES), before kakurid's batch is
 * sent; "rejoin" when it is about to join again, after kakurid's batch
 * was committed.  The file is removed and table ip kk_window_leave or
 * kk_window_rejoin committed on a netlink socket of this library's own:
 * no event of it reaches the monitor.  "race" commits a table with a set
 * of 50,000 elements (kk_window_race) from a thread just before the
 * monitor leaves: the kernel moves the generation, then sends the
 * commit's 50,000 events; the monitor leaves as soon as the generation
 * has moved, while they are being sent, so that its NEWGEN, sent last,
 * reaches nobody.  t-tamper-window asks for all three and checks that
 * kakurid tells them all the same.  And while a file $COMMITWINDOW.deaf
 * exists, the monitor cannot join the group again (ENOMEM, as when the
 * kernel is short of memory): kakurid must say it is deaf, keep checking
 * by its timer, and say when it hears again.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <libnftnl/common.h>
#include <libnftnl/gen.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>

#define RACE_ELEMS	50000
#define RACE_CHUNK	1000		/* elements a message */
#define RACE_BUF	(4 << 20)

/* the table, as its own batch; one ack read (the kernel sends it at once) */
static void
commit_table(const char *name)
{
	static char buf[8192];
	struct mnl_nlmsg_batch *batch;
	struct nftnl_table *t;
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	uint32_t seq = (uint32_t)time(NULL);

	if ((nl = mnl_socket_open(NETLINK_NETFILTER)) == NULL)
		return;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    (t = nftnl_table_alloc()) == NULL) {
		mnl_socket_close(nl);
		return;
	}
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
	batch = mnl_nlmsg_batch_start(buf, sizeof(buf));
	nftnl_batch_begin(mnl_nlmsg_batch_current(batch), seq++);
	mnl_nlmsg_batch_next(batch);
	nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(batch),
	    NFT_MSG_NEWTABLE, NFPROTO_IPV4, NLM_F_CREATE | NLM_F_ACK, seq++);
	nftnl_table_nlmsg_build_payload(nlh, t);
	mnl_nlmsg_batch_next(batch);
	nftnl_batch_end(mnl_nlmsg_batch_current(batch), seq++);
	mnl_nlmsg_batch_next(batch);
	if (mnl_socket_sendto(nl, mnl_nlmsg_batch_head(batch),
	    mnl_nlmsg_batch_size(batch)) >= 0)
		(void)mnl_socket_recvfrom(nl, buf, sizeof(buf));
	mnl_nlmsg_batch_stop(batch);
	nftnl_table_free(t);
	mnl_socket_close(nl);
}

static int
gen_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_gen *g = nftnl_gen_alloc();

	if (g != NULL && nftnl_gen_nlmsg_parse(nlh, g) == 0)
		*(uint32_t *)data = nftnl_gen_get_u32(g, NFTNL_GEN_ID);
	nftnl_gen_free(g);
	return MNL_CB_OK;
}

static uint32_t
genid(struct mnl_socket *nl, uint32_t seq)
{
	static char buf[8192];
	struct nlmsghdr *nlh;
	uint32_t gen = 0;
	int n;

	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, 0, seq);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) >= 0 &&
	    (n = (int)mnl_socket_recvfrom(nl, buf, sizeof(buf))) > 0)
		mnl_cb_run(buf, (size_t)n, seq, 0, gen_cb, &gen);
	return gen;
}

struct race {
	struct mnl_socket *nl;
	struct mnl_nlmsg_batch *batch;
	int sent;		/* the send returned (1) or failed (-1) */
};

static void *
race_send(void *arg)
{
	struct race *rc = arg;
	ssize_t n;

	n = mnl_socket_sendto(rc->nl, mnl_nlmsg_batch_head(rc->batch),
	    mnl_nlmsg_batch_size(rc->batch));
	__atomic_store_n(&rc->sent, n < 0 ? -1 : 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* what the race did, for the test to print: $COMMITWINDOW.result */
static void
race_said(const char *what)
{
	const char *window = getenv("COMMITWINDOW");
	char path[4096];
	int fd;

	if (window == NULL || (size_t)snprintf(path, sizeof(path),
	    "%s.result", window) >= sizeof(path))
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		(void)write(fd, what, strlen(what));
		close(fd);
	}
}

/* the table, its set and the set's elements, as one batch */
static struct mnl_nlmsg_batch *
race_batch(char *buf, uint32_t seq)
{
	struct mnl_nlmsg_batch *batch = mnl_nlmsg_batch_start(buf, RACE_BUF);
	struct nftnl_table *t = nftnl_table_alloc();
	struct nftnl_set *set = nftnl_set_alloc();
	struct nlmsghdr *nlh;
	uint32_t i, j, addr;

	nftnl_batch_begin(mnl_nlmsg_batch_current(batch), seq++);
	mnl_nlmsg_batch_next(batch);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, "kk_window_race");
	nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(batch),
	    NFT_MSG_NEWTABLE, NFPROTO_IPV4, NLM_F_CREATE, seq++);
	nftnl_table_nlmsg_build_payload(nlh, t);
	mnl_nlmsg_batch_next(batch);
	nftnl_set_set_str(set, NFTNL_SET_TABLE, "kk_window_race");
	nftnl_set_set_str(set, NFTNL_SET_NAME, "s");
	nftnl_set_set_u32(set, NFTNL_SET_FAMILY, NFPROTO_IPV4);
	nftnl_set_set_u32(set, NFTNL_SET_KEY_TYPE, 7);	/* ipv4_addr */
	nftnl_set_set_u32(set, NFTNL_SET_KEY_LEN, 4);
	nftnl_set_set_u32(set, NFTNL_SET_ID, 1);
	nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(batch),
	    NFT_MSG_NEWSET, NFPROTO_IPV4, NLM_F_CREATE, seq++);
	nftnl_set_nlmsg_build_payload(nlh, set);
	mnl_nlmsg_batch_next(batch);
	for (i = 0; i < RACE_ELEMS / RACE_CHUNK; i++) {
		struct nftnl_set *chunk = nftnl_set_alloc();

		nftnl_set_set_str(chunk, NFTNL_SET_TABLE, "kk_window_race");
		nftnl_set_set_str(chunk, NFTNL_SET_NAME, "s");
		nftnl_set_set_u32(chunk, NFTNL_SET_ID, 1);
		for (j = 0; j < RACE_CHUNK; j++) {
			struct nftnl_set_elem *e = nftnl_set_elem_alloc();

			addr = htonl(0x0a000000 + i * RACE_CHUNK + j);
			nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &addr,
			    sizeof(addr));
			nftnl_set_elem_add(chunk, e);
		}
		nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(batch),
		    NFT_MSG_NEWSETELEM, NFPROTO_IPV4, NLM_F_CREATE, seq++);
		nftnl_set_elems_nlmsg_build_payload(nlh, chunk);
		mnl_nlmsg_batch_next(batch);
		nftnl_set_free(chunk);
	}
	nftnl_batch_end(mnl_nlmsg_batch_current(batch), seq++);
	mnl_nlmsg_batch_next(batch);
	nftnl_set_free(set);
	nftnl_table_free(t);
	return batch;
}

/*
 * The race: the big commit from a thread, the monitor's leave (the real
 * setsockopt) as soon as the generation has moved, or once the send is
 * over or 2 s have passed, whichever comes first.
 */
static int
race_then(int (*real)(int, int, int, const void *, socklen_t), int fd,
    int level, int name, const void *val, socklen_t len)
{
	static char *buf;
	struct race rc = { NULL, NULL, 0 };
	struct mnl_socket *q = NULL;
	pthread_t th;
	uint32_t g0, seq = (uint32_t)time(NULL), i;
	int big = 8 << 20, r, started = 0, moved = 0;
	double t0 = now_s();

	if ((buf = buf ? buf : malloc(RACE_BUF)) == NULL ||
	    (rc.nl = mnl_socket_open(NETLINK_NETFILTER)) == NULL ||
	    (q = mnl_socket_open(NETLINK_NETFILTER)) == NULL) {
		if (rc.nl != NULL)
			mnl_socket_close(rc.nl);
		race_said("no sockets\n");
		return real(fd, level, name, val, len);
	}
	mnl_socket_bind(rc.nl, 0, MNL_SOCKET_AUTOPID);
	mnl_socket_bind(q, 0, MNL_SOCKET_AUTOPID);
	setsockopt(mnl_socket_get_fd(rc.nl), SOL_SOCKET, SO_SNDBUFFORCE, &big,
	    sizeof(big));
	rc.batch = race_batch(buf, seq);
	g0 = genid(q, seq + 100000);
	if (pthread_create(&th, NULL, race_send, &rc) == 0)
		started = 1;
	for (i = 1; started && !moved; i++) {
		moved = genid(q, seq + 100000 + i) != g0;
		if (__atomic_load_n(&rc.sent, __ATOMIC_SEQ_CST) != 0 ||
		    now_s() - t0 > 2.0)
			break;
	}
	r = real(fd, level, name, val, len);
	if (started)
		pthread_join(th, NULL);
	race_said(!started ? "no thread\n" : rc.sent < 0 ? "send failed\n" :
	    moved ? "left as the generation moved, the commit's events being "
	    "sent\n" : "left after the commit was over\n");
	mnl_nlmsg_batch_stop(rc.batch);
	mnl_socket_close(q);
	mnl_socket_close(rc.nl);
	return r;
}

/* whether $COMMITWINDOW.deaf exists */
static int
deaf(void)
{
	const char *window = getenv("COMMITWINDOW");
	char path[4096];

	return window != NULL && (size_t)snprintf(path, sizeof(path),
	    "%s.deaf", window) < sizeof(path) && access(path, F_OK) == 0;
}

/* whether $COMMITWINDOW asks for a commit where; it is taken if so */
static int
asked(const char *where)
{
	const char *window = getenv("COMMITWINDOW");
	char buf[16] = "";
	ssize_t n;
	int fd;

	if (window == NULL || (fd = open(window, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[strcspn(buf, "\n")] = '\0';
	return strcmp(buf, where) == 0 && unlink(window) == 0;
}

int
setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	static int (*real_setsockopt)(int, int, int, const void *, socklen_t);
	int ours, r;

	if (real_setsockopt == NULL && (real_setsockopt = (int (*)(int, int,
	    int, const void *, socklen_t))dlsym(RTLD_NEXT, "setsockopt")) ==
	    NULL)
		abort();
	ours = level == SOL_NETLINK && len == sizeof(int) &&
	    *(const int *)val == NFNLGRP_NFTABLES;
	if (ours && name == NETLINK_ADD_MEMBERSHIP && deaf()) {
		errno = ENOMEM;
		return -1;
	}
	if (ours && name == NETLINK_ADD_MEMBERSHIP && asked("rejoin"))
		commit_table("kk_window_rejoin");
	if (ours && name == NETLINK_DROP_MEMBERSHIP && asked("race"))
		return race_then(real_setsockopt, fd, level, name, val, len);
	r = real_setsockopt(fd, level, name, val, len);
	if (ours && r == 0 && name == NETLINK_DROP_MEMBERSHIP && asked("leave"))
		commit_table("kk_window_leave");
	return r;
}
