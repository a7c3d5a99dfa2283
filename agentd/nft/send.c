/*
 * Send a batch built by build.c as one transaction (send.h).
 *
 * A batch of several pages goes out in one sendmsg: nfnetlink runs one
 * transaction per message it receives, from its batch begin to its batch
 * end.  The socket's send buffer is sized for it, and its receive buffer
 * for one acknowledgement per message; acknowledgements carry no copy of
 * the message (NETLINK_CAP_ACK) but the kernel's offset of what it
 * refused (NETLINK_EXT_ACK), which names the element.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/netfilter/nfnetlink.h>

#include "nlreq.h"
#include "readback.h"
#include "send.h"

#define RECV_BUFSZ	(MNL_SOCKET_BUFFER_SIZE * 4)

/* Per acknowledgement queued at the socket: the skb, not only its bytes. */
#define ACK_TRUESIZE	2048

/* A socket buffer's size as the kernel counts it (twice what was asked). */
static int
buf_size(struct kk_nft *n, int opt, int *have)
{
	socklen_t len = sizeof(*have);

	return getsockopt(mnl_socket_get_fd(n->nl), SOL_SOCKET, opt, have,
	    &len) < 0 ? -errno : 0;
}

/*
 * Grow a socket buffer to at least want bytes: SO_*BUFFORCE passes the
 * system's limit (root, CAP_NET_ADMIN), else the plain option gets what
 * the limit allows.
 */
static int
grow_buf(struct kk_nft *n, int force, int plain, int *have, size_t want)
{
	int fd = mnl_socket_get_fd(n->nl), v, err;

	if (want > INT32_MAX / 2)
		return -E2BIG;
	if ((size_t)*have >= want)
		return 0;
	v = (int)want;
	if (setsockopt(fd, SOL_SOCKET, force, &v, sizeof(v)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, plain, &v, sizeof(v)) < 0)
		return -errno;
	if ((err = buf_size(n, plain, have)) < 0)
		return err;
	return (size_t)*have >= want ? 0 : -ENOBUFS;
}

static int
size_buffers(struct kk_nft *n, const struct kk_nft_batch *b)
{
	size_t nmsgs = b->seq_last - b->seq_first;
	int err;

	if ((n->sndbuf == 0 && (err = buf_size(n, SO_SNDBUF, &n->sndbuf)) < 0) ||
	    (n->rcvbuf == 0 && (err = buf_size(n, SO_RCVBUF, &n->rcvbuf)) < 0))
		return kk_nft_seterr(n, err, "socket buffers: %s",
		    strerror(-err));
	/* netlink takes a datagram only if it fits the send buffer whole */
	if ((err = grow_buf(n, SO_SNDBUFFORCE, SO_SNDBUF, &n->sndbuf,
	    b->len + 4096)) < 0)
		return kk_nft_seterr(n, err,
		    "send buffer for a batch of %zu bytes: %s", b->len,
		    strerror(-err));
	/* every acknowledgement is queued before the first is read */
	if ((err = grow_buf(n, SO_RCVBUFFORCE, SO_RCVBUF, &n->rcvbuf,
	    (nmsgs + 16) * ACK_TRUESIZE)) < 0)
		return kk_nft_seterr(n, err,
		    "receive buffer for %zu acknowledgements: %s", nmsgs,
		    strerror(-err));
	return 0;
}

/* All pages in one datagram. */
static int
send_pages(struct kk_nft *n, const struct kk_nft_batch *b)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct msghdr msg = { .msg_name = &kernel,
	    .msg_namelen = sizeof(kernel) };
	struct iovec *iov;
	ssize_t sent;
	size_t i;
	int err = 0;

	iov = calloc(b->npages, sizeof(*iov));
	if (iov == NULL)
		return -ENOMEM;
	for (i = 0; i < b->npages; i++) {
		iov[i].iov_base = b->pages[i].buf;
		iov[i].iov_len = b->pages[i].len;
	}
	msg.msg_iov = iov;
	msg.msg_iovlen = b->npages;
	sent = sendmsg(mnl_socket_get_fd(n->nl), &msg, 0);
	if (sent < 0)
		err = kk_nft_seterr(n, -errno, "sending batch of %zu bytes: %s",
		    b->len, strerror(errno));
	else if ((size_t)sent != b->len)
		err = kk_nft_seterr(n, -EMSGSIZE, "sent %zd of %zu bytes",
		    sent, b->len);
	free(iov);
	return err;
}

/* The kernel's offset of what it refused, from an extended ack. */
static uint32_t
ack_offset(const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	size_t skip = sizeof(*e);

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return 0;
	/* without NETLINK_CAP_ACK the refused message itself comes first */
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		skip += e->msg.nlmsg_len - sizeof(e->msg);
	mnl_attr_for_each(a, nlh, skip)
		if (mnl_attr_get_type(a) == NLMSGERR_ATTR_OFFS &&
		    mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			return mnl_attr_get_u32(a);
	return 0;
}

static void
refused(struct kk_nft *n, const struct kk_nft_batch *b,
    const struct nlmsghdr *nlh, int error)
{
	char what[200];

	n->err_family = kk_nft_batch_family(b, nlh->nlmsg_seq);
	kk_nft_batch_locate(b, nlh->nlmsg_seq, ack_offset(nlh), what,
	    sizeof(what));
	kk_nft_seterr(n, error, "kernel refused %s: %s", what,
	    strerror(-error));
}

/*
 * The kernel makes an event of every object a batch commits while anyone
 * listens to nftables events, kakurid's own tamper monitor included,
 * which reads each one and passes it over as its own: a message printed
 * and read for nothing per rule and per set element.  For an isolation
 * with its netdev table (some 90 rules) that was a sixth of a signed
 * isolate's time; for a block list of 100,000 ranges, seconds
 * (nf_tables_setelem_notify).  So the monitor leaves the group while our
 * batch is committed.
 *
 * What another process commits meanwhile is not lost.  The kernel moves
 * the generation first and sends a commit's events after, its NEWGEN
 * last: a generation read as the monitor leaves can count a commit whose
 * events then reach nobody.  So the monitor leaves first, then reads
 * what was sent to it before: the last NEWGEN among it (n->mon_gen) is
 * the generation up to which every commit was seen.  What it read is
 * held for the next drain.  After the batch it joins again and reads the
 * generation: the commits between the two, but our batch's, were not
 * seen; on_missed has them verified at once (quarantine.c) and reported
 * as by a process unknown.  A commit at the edges may be both seen and
 * counted: told twice, never not at all.  Our own tables are read back
 * after the batch anyway.  Without a generation to start from (none read
 * since the monitor opened), the monitor stays in the group.
 */
static bool
monitor_member(struct kk_nft *n, bool member)
{
	int group = NFNLGRP_NFTABLES;

	return mnl_socket_setsockopt(n->mon, member ? NETLINK_ADD_MEMBERSHIP :
	    NETLINK_DROP_MEMBERSHIP, &group, sizeof(group)) == 0;
}

static bool
monitor_leave(struct kk_nft *n, uint32_t *gen)
{
	struct kk_nft_event *h = &n->held;

	if (n->mon == NULL || n->mon_out || !n->mon_gen_ok ||
	    !monitor_member(n, false))
		return false;
	/* all sent to it before it left: mon_gen moves to the last NEWGEN */
	if (kk_nft_monitor_read(n, h) < 0)
		h->overrun = true;
	n->have_held = h->touched || h->foreign_commit || h->overrun;
	*gen = n->mon_gen;
	return true;
}

/* back in the group: what came meanwhile besides our batch */
static void
monitor_back(struct kk_nft *n, uint32_t gen_before, enum kk_nft_outcome o)
{
	uint32_t gen = 0;
	bool gen_ok;
	long besides;

	/* not back (no memory): deaf until a rejoin works, so unsure */
	if (!monitor_member(n, true)) {
		n->mon_out = true;
		n->mon_errno = errno;
	}
	gen_ok = kk_nft_genid_kept(n, &gen);
	besides = kk_nft_commits_besides(gen_ok, gen_before, gen, o);
	if (besides > 0) {
		n->missed_commits += (unsigned)besides;
		if (n->commits_unseen < ULONG_MAX - (unsigned long)besides)
			n->commits_unseen += (unsigned long)besides;
	}
	if (besides < 0 || o == KK_NFT_UNKNOWN || n->mon_out)
		n->missed_unsure = true;
	/* every commit up to gen is ours, counted, or seen from now on */
	n->mon_gen = gen;
	n->mon_gen_ok = gen_ok;
	/*
	 * Commits or events to act upon: at once.  Only unsure: the verify
	 * timer's next run, with its backoff (a monitor that cannot rejoin
	 * must not have every batch verified again at once, for ever).
	 */
	if ((n->missed_commits || n->have_held) && n->on_missed)
		n->on_missed(n->on_missed_arg);
}

long
kk_nft_commits_besides(bool gens_ok, uint32_t gen_before, uint32_t gen_after,
    enum kk_nft_outcome outcome)
{
	uint32_t moved;

	if (!gens_ok)
		return -1;
	/* the kernel's generation skips 0 when it wraps */
	moved = gen_after - gen_before - (gen_after < gen_before ? 1 : 0);
	if (outcome == KK_NFT_REFUSED)
		return (long)moved;
	/* ours, if it moved: the kernel skips a commit that changed nothing */
	return moved == 0 ? 0 : (long)(moved - 1);
}

void
kk_nft_events_missed(struct kk_nft *n, struct kk_nft_missed *m)
{
	bool was_out = n->mon_out;

	/*
	 * Out of the group since a batch: deaf till now, so unsure now; and
	 * counting starts again from the generation as it rejoined.
	 */
	if (was_out && n->mon != NULL && monitor_member(n, true)) {
		n->mon_out = false;
		n->mon_gen_ok = kk_nft_genid_kept(n, &n->mon_gen);
	} else if (was_out) {
		n->mon_errno = errno;
	}
	m->commits = n->missed_commits;
	m->unsure = n->missed_unsure || was_out;
	m->deaf = n->mon_out;
	m->deaf_errno = n->mon_out ? n->mon_errno : 0;
	n->missed_commits = 0;
	n->missed_unsure = false;
}

/*
 * Send the batch and collect one ack per message.  A refused message is
 * named by its sequence number, which the batch maps back to its rule or
 * its elements.
 */
int
kk_nft_send_batch(struct kk_nft *n, const struct kk_nft_batch *b)
{
	char *buf;
	struct timespec t0, t1;
	uint32_t acked = 0, nmsgs = b->seq_last - b->seq_first;
	int err = 0, first_err = 0, fd;
	uint32_t i, gen_before = 0;
	ssize_t len;
	bool quiet;
	/* past the send, until every answer is read */
	enum kk_nft_outcome outcome = KK_NFT_UNKNOWN;

	if ((err = size_buffers(n, b)) < 0)
		return err;
	quiet = monitor_leave(n, &gen_before);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((err = send_pages(n, b)) < 0) {
		/* not sent: nothing committed */
		outcome = KK_NFT_REFUSED;
		goto out;
	}
	buf = malloc(RECV_BUFSZ);
	if (buf == NULL) {
		err = -ENOMEM;
		goto out;
	}
	fd = mnl_socket_get_fd(n->nl);
	/* one datagram per ack; a bound for anything else the socket holds */
	for (i = 0; i < 2 * nmsgs + 64 && acked < nmsgs; i++) {
		struct nlmsghdr *nlh;
		int left;

		/*
		 * The kernel queues every ack within the send.  After a
		 * refusal, only drain what the kernel already sent.
		 */
		len = kk_nl_recv(fd, buf, RECV_BUFSZ, first_err ? 50 :
		    KK_NFT_RECV_TIMEOUT_MS);
		if (len == -EAGAIN)
			continue;
		if (len == -ETIMEDOUT || len == -EINTR)
			break;
		if (len < 0) {
			err = (int)len;
			break;
		}
		left = (int)len;
		for (nlh = (struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, left);
		    nlh = mnl_nlmsg_next(nlh, &left)) {
			struct nlmsgerr *e;

			/* acks of this batch only: not leftovers of a request */
			if (nlh->nlmsg_type != NLMSG_ERROR ||
			    nlh->nlmsg_seq < b->seq_first ||
			    nlh->nlmsg_seq > b->seq_last ||
			    mnl_nlmsg_get_payload_len(nlh) < sizeof(*e))
				continue;
			e = mnl_nlmsg_get_payload(nlh);
			acked++;
			if (e->error != 0 && first_err == 0) {
				first_err = e->error;
				refused(n, b, nlh, e->error);
			}
		}
	}
	free(buf);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	n->stats.batch_usec = (unsigned long long)((t1.tv_sec - t0.tv_sec) *
	    1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000);
	/* an error answered aborts the whole batch; all answered, it is in */
	if (first_err)
		outcome = KK_NFT_REFUSED;
	else if (err == 0 && acked >= nmsgs)
		outcome = KK_NFT_COMMITTED;
	if (first_err)
		err = first_err;
	else if (err < 0)
		kk_nft_seterr(n, err, "reading batch acks: %s", strerror(-err));
	else if (acked < nmsgs)
		err = kk_nft_seterr(n, -ETIMEDOUT,
		    "kernel acknowledged %u of %u messages", acked, nmsgs);
out:
	if (quiet)
		monitor_back(n, gen_before, outcome);
	return err;
}
