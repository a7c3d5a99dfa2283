/*
 * 02-sockets.json: TCP, UDP and UNIX sockets (sock_diag) with the
 * processes that hold them (their fds in /proc).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>

#include "collect.h"

/* ---- 02 sockets: sock_diag ------------------------------------------ */

static const char *
tcp_state(unsigned s, bool tcp)
{
	static const char *const names[] = {
		"UNKNOWN", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1",
		"FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK",
		"LISTEN", "CLOSING", "NEW_SYN_RECV", "BOUND_INACTIVE",
	};

	/* a datagram or UNIX socket in TCP_CLOSE is merely not connected */
	if (s == 7 && !tcp)
		return "UNCONN";
	return s < sizeof(names) / sizeof(names[0]) ? names[s] : "UNKNOWN";
}

/* arg: whether the sockets are TCP ones */
static size_t
inet_fill(json_t *o, const void *hdr, const struct attrs *t, void *arg)
{
	const struct inet_diag_msg *m = hdr;
	char addr[INET6_ADDRSTRLEN];
	bool tcp = *(const bool *)arg;

	col_set_str(o, "state", tcp_state(m->idiag_state, tcp));
	if (col_fmt_addr(m->idiag_family, m->id.idiag_src,
	    sizeof(m->id.idiag_src), addr, sizeof(addr)))
		col_set_str(o, "local_addr", addr);
	col_set_int(o, "local_port", ntohs(m->id.idiag_sport));
	if (col_fmt_addr(m->idiag_family, m->id.idiag_dst,
	    sizeof(m->id.idiag_dst), addr, sizeof(addr)))
		col_set_str(o, "remote_addr", addr);
	col_set_int(o, "remote_port", ntohs(m->id.idiag_dport));
	if (m->id.idiag_if != 0)
		col_set_int(o, "bound_index", m->id.idiag_if);
	col_set_int(o, "uid", m->idiag_uid);
	col_set_int(o, "inode", m->idiag_inode);
	col_set_int(o, "rqueue", m->idiag_rqueue);
	col_set_int(o, "wqueue", m->idiag_wqueue);
	return m->idiag_inode ? OWNER_RESERVE : 0;
}

static size_t
unix_fill(json_t *o, const void *hdr, const struct attrs *t, void *arg)
{
	static const char *const types[] = { [SOCK_STREAM] = "stream",
	    [SOCK_DGRAM] = "dgram", [SOCK_SEQPACKET] = "seqpacket" };
	const struct unix_diag_msg *m = hdr;
	const char *type = NULL;
	uint32_t v;

	if (m->udiag_type < sizeof(types) / sizeof(types[0]))
		type = types[m->udiag_type];
	col_set_name_or_num(o, "type", type, m->udiag_type);
	col_set_str(o, "state", tcp_state(m->udiag_state, false));
	if (t->tb[UNIX_DIAG_NAME] != NULL) {
		const char *p = mnl_attr_get_payload(t->tb[UNIX_DIAG_NAME]);
		size_t n = mnl_attr_get_payload_len(t->tb[UNIX_DIAG_NAME]);
		char name[sizeof(((struct sockaddr_un *)0)->sun_path) + 2];

		if (n > sizeof(name) - 2)
			n = sizeof(name) - 2;
		if (n > 0 && p[0] == '\0') {
			/* abstract: shown with '@', as ss(8) does */
			name[0] = '@';
			memcpy(name + 1, p + 1, n - 1);
			json_object_set_new(o, "path", kk_json_strn(name, n));
		} else if (n > 0) {
			json_object_set_new(o, "path",
			    kk_json_strn(p, strnlen(p, n)));
		}
	}
	col_set_int(o, "inode", m->udiag_ino);
	if (col_attr_u32(t->tb[UNIX_DIAG_PEER], &v))
		col_set_int(o, "peer", v);
	if (col_attr_u32(t->tb[UNIX_DIAG_UID], &v))
		col_set_int(o, "uid", v);
	if (t->tb[UNIX_DIAG_RQLEN] != NULL &&
	    mnl_attr_get_payload_len(t->tb[UNIX_DIAG_RQLEN]) >=
	    sizeof(struct unix_diag_rqlen)) {
		const struct unix_diag_rqlen *q =
		    mnl_attr_get_payload(t->tb[UNIX_DIAG_RQLEN]);

		col_set_int(o, "rqueue", q->udiag_rqueue);
		col_set_int(o, "wqueue", q->udiag_wqueue);
	}
	return OWNER_RESERVE;
}

struct owner {
	uint64_t ino;
	pid_t pid;
};

static int
owner_cmp(const void *a, const void *b)
{
	const struct owner *x = a, *y = b;

	return KK_CMP(x->ino, y->ino) ?: KK_CMP(x->pid, y->pid);
}

/*
 * Which processes hold which sockets: every /proc/PID/fd/N that reads
 * "socket:[INODE]".  Bounded in processes, fds read and sockets kept.
 * Returns how far it got (a note when not to the end).
 */
static int
scan_owners(struct collector *c, struct owner **out, size_t *nout,
    size_t *denied, char *why, size_t whylen)
{
	struct owner *v = NULL;
	size_t n = 0, cap = 0, nfds = 0, nprocs = 0;
	struct dirent *de, *fe;
	DIR *proc, *fdd;
	char path[64], target[64];
	pid_t pid;
	ssize_t len;
	int err = 0;

	*out = NULL;
	*nout = 0;
	*denied = 0;
	if ((proc = opendir("/proc")) == NULL)
		return -errno;
	while ((de = readdir(proc)) != NULL && why[0] == '\0') {
		if (!col_parse_pid(de->d_name, &pid))
			continue;
		if (++nprocs > MAX_PROCS) {
			snprintf(why, whylen, "owners: more than %d processes",
			    MAX_PROCS);
			break;
		}
		if (col_expired(c)) {
			snprintf(why, whylen, "owners: timeout");
			break;
		}
		snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
		if ((fdd = opendir(path)) == NULL) {
			/* gone, or kept from us (LSM, user namespace) */
			if (errno == EACCES || errno == EPERM)
				(*denied)++;
			continue;
		}
		while ((fe = readdir(fdd)) != NULL) {
			if (fe->d_name[0] == '.')
				continue;
			if (++nfds > MAX_FDS) {
				snprintf(why, whylen,
				    "owners: more than %u fds", MAX_FDS);
				break;
			}
			len = readlinkat(dirfd(fdd), fe->d_name, target,
			    sizeof(target) - 1);
			if (len < 0 && (errno == EACCES || errno == EPERM)) {
				(*denied)++;
				break;
			}
			if (len <= 8)
				continue;
			target[len] = '\0';
			if (strncmp(target, "socket:[", 8) != 0)
				continue;
			if (n == MAX_OWNERS) {
				snprintf(why, whylen,
				    "owners: more than %d socket fds",
				    MAX_OWNERS);
				break;
			}
			if ((err = kk_grow(&v, &cap, n, sizeof(*v), 1024,
			    MAX_OWNERS)) < 0) {
				closedir(fdd);
				goto out;
			}
			v[n].ino = strtoull(target + 8, NULL, 10);
			v[n].pid = pid;
			n++;
		}
		closedir(fdd);
	}
	if (n > 0)
		qsort(v, n, sizeof(*v), owner_cmp);
	*out = v;
	*nout = n;
	v = NULL;
out:
	free(v);
	closedir(proc);
	return err;
}

/* Adds "pid" (the lowest) and, for shared sockets, "pids" to each item. */
static void
set_owners(struct art *b, const struct owner *v, size_t n)
{
	json_t *item, *pids;
	size_t i, lo, hi, mid, k;
	uint64_t ino;
	bool pids_cut = false;

	json_array_foreach(b->items, i, item) {
		ino = (uint64_t)json_integer_value(json_object_get(item,
		    "inode"));
		if (ino == 0)
			continue;
		lo = 0;
		hi = n;
		while (lo < hi) {
			mid = lo + (hi - lo) / 2;
			if (v[mid].ino < ino)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == n || v[lo].ino != ino)
			continue;
		/* room for "pid" was reserved when the item was pushed */
		col_set_int(item, "pid", v[lo].pid);
		if (lo + 1 == n || v[lo + 1].ino != ino)
			continue;
		/* shared (inherited, passed): the others, if room is left */
		if ((pids = json_array()) == NULL)
			continue;
		for (k = lo; k < n && v[k].ino == ino &&
		    k - lo < MAX_OWNER_PIDS; k++)
			if (k == lo || v[k].pid != v[k - 1].pid)
				json_array_append_new(pids,
				    json_integer(v[k].pid));
		if (col_art_grow(b, json_dumpb(pids, NULL, 0,
		    JSON_COMPACT) + 8))
			json_object_set_new(item, "pids", pids);
		else {
			json_decref(pids);
			pids_cut = true;
		}
	}
	if (pids_cut)
		col_art_note(b, "some \"pids\" lists left out (size share)");
}

void
collect_sockets(struct collector *c, struct art *b)
{
	static const struct {
		uint8_t family;
		uint8_t proto;
		const char *name;
		const char *what;
	} inet[] = {
		{ AF_INET, IPPROTO_TCP, "tcp", "tcp/inet" },
		{ AF_INET6, IPPROTO_TCP, "tcp", "tcp/inet6" },
		{ AF_INET, IPPROTO_UDP, "udp", "udp/inet" },
		{ AF_INET6, IPPROTO_UDP, "udp", "udp/inet6" },
	};
	char buf[MNL_SOCKET_BUFFER_SIZE], why[96];
	struct nlmsghdr *nlh;
	struct col_nl_items items = { .b = b, .type = SOCK_DIAG_BY_FAMILY,
	    .key = "proto" };
	bool tcp;
	struct owner *own = NULL;
	size_t i, nown = 0, denied = 0;
	int err;

	/* the sockets first, they change fastest; their owners after */
	for (i = 0; i < sizeof(inet) / sizeof(inet[0]) && col_art_alive(b);
	    i++) {
		struct inet_diag_req_v2 *req;

		nlh = mnl_nlmsg_put_header(buf);
		nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
		nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
		req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
		req->sdiag_family = inet[i].family;
		req->sdiag_protocol = inet[i].proto;
		req->idiag_states = ~0U;
		tcp = inet[i].proto == IPPROTO_TCP;
		items.hdrlen = sizeof(struct inet_diag_msg);
		items.value = inet[i].name;
		items.with_family = true;
		items.fill = inet_fill;
		items.arg = &tcp;
		if ((err = col_nl_dump(c, NETLINK_SOCK_DIAG, nlh,
		    col_nl_items_cb, &items)) < 0)
			col_nl_failed(b, inet[i].what, err);
	}
	if (col_art_alive(b)) {
		struct unix_diag_req *req;

		nlh = mnl_nlmsg_put_header(buf);
		nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
		nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
		req = mnl_nlmsg_put_extra_header(nlh, sizeof(*req));
		req->sdiag_family = AF_UNIX;
		req->udiag_states = ~0U;
		req->udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER |
		    UDIAG_SHOW_RQLEN | UDIAG_SHOW_UID;
		items.hdrlen = sizeof(struct unix_diag_msg);
		items.value = "unix";
		items.with_family = false;
		items.fill = unix_fill;
		items.arg = NULL;
		if ((err = col_nl_dump(c, NETLINK_SOCK_DIAG, nlh,
		    col_nl_items_cb, &items)) < 0)
			col_nl_failed(b, "unix", err);
	}
	if (b->n == 0)
		return;
	why[0] = '\0';
	if ((err = scan_owners(c, &own, &nown, &denied, why, sizeof(why))) < 0)
		col_art_error(b, "owners: %s", strerror(-err));
	else if (why[0] != '\0')
		col_art_error(b, "%s", why);
	if (denied > 0)
		col_art_note(b, "fd tables of %zu processes not readable: "
		    "their sockets show no owner", denied);
	set_owners(b, own, nown);
	free(own);
}
