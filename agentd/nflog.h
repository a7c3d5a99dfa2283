/*
 * Who tried (nflog.c): the block lists' NFLOG copies, summed per list,
 * and a "blocked" report per list with hits every
 * blocklists.report_interval seconds.
 */
#ifndef KD_NFLOG_H
#define KD_NFLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kd;
struct nlmsghdr;

/*
 * What a blocked packet is counted by: the listed host's address (the
 * destination of a packet to it, the source of one from it: the other
 * side is this host, or the one it forwards to), and the port the packet
 * was sent to: the listed host's service going out, the one of ours it
 * tried coming in (its own source port is most often a passing one).
 */
struct kd_nflog_tuple {
	int af;			/* AF_INET, AF_INET6 */
	bool in;		/* from the listed host (a "from them" rule's) */
	uint8_t addr[16];	/* the listed host's */
	uint16_t port;		/* destination; 0: none (not TCP or UDP, a later fragment) */
	uint8_t proto;
	bool has_uid;		/* the kernel gives it for local sockets */
	uint32_t uid;
};

/* One logged packet of a block list. */
struct kd_nflog_packet {
	const char *list;	/* the list's name, in the message: not NUL-ended */
	size_t list_len;
	struct kd_nflog_tuple tuple;
};

/*
 * The parser, apart from the socket: one nfnetlink_log message.  0 for a
 * packet of a block list (prefix "kakuri:<list>" going to the list's
 * addresses, "kakuri:<list>:in" coming from them); -ENOENT for another
 * message or another prefix; -EBADMSG for a malformed one (attributes
 * cut short, no payload, a payload shorter than its IP header, a list
 * name longer than any list's or not a name).
 */
int kd_nflog_parse(const struct nlmsghdr *nlh, struct kd_nflog_packet *pk);

/* Bound to blocklists.log_group in d's event loop (none if log_rate is 0). */
int kd_nflog_start(struct kd *d);
void kd_nflog_stop(struct kd *d);
/* A new policy: bound to its log_group (started, moved or stopped). */
void kd_nflog_reload(struct kd *d);

#endif
