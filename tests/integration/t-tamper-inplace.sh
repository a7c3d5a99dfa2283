#!/usr/bin/env bash
# Root malware against an isolated host with a block list in force and
# protect = "monitor" (no owner or persist flag: kernels before 6.9, or a
# policy that asks for it).  In one transaction it adds a chain of its
# own to kakurid's table whose rule uses kakurid's management set, puts
# an accept first in kakurid's output, input and forward chains and
# deletes kakurid's netdev table.  kakurid sees the table changed and
# restores it; with a block list the restore goes in place (the set's
# elements are kept), and the kernel refuses that batch: the set is bound
# by the chain kakurid does not know.  The restore then failed for good,
# tried again and again, and the host stayed open while kakurid said
# isolated.  Now a restore in place the kernel refuses is made again from
# scratch, everything dropped first (agentd/nft/nft.c kk_nft_apply).
. "$(dirname "$0")/lib.sh"
need
echo "== tampering: malware's chain in kakurid's table (protect = monitor, a block list)"
topology || die topology
pki_setup || die "PKI setup"
block_trust
write_policy "$(remote_agent_conf)" "$(remote_tls_conf)
nftables: { protect = \"monitor\"; };"
AGENT_ID=$(agent_init)
internet_echo "the internet host answers before isolation"
cut_v4() { ! reach "$EP" tcp "$NET4" 8080 400; }
cut_v6() { ! reach "$EP" tcp "$NET6" 8080 400; }

start_kakurid || die "kakurid starts"
check "protection is monitor" test "$(status_field protection)" = monitor
check_within "the CSIRT channel is listening" 30 channel_up
printf '{"set":"ioc","version":1,"addresses":["11.0.0.0/27","2001:db8:100::/64"]}' >"$WORK/ioc.json"
F=$(sign alice block --args "$WORK/ioc.json")
check "a signed block list: done" test "$(send_result "$F")" = done
ctl disconnect >/dev/null
check_within "isolated, kernel tables verified" 5 isolated_verified
check_within "the internet host is cut (IPv4)" 5 cut_v4
check "... and (IPv6)" cut_v6

# the management set of kakurid's (IPv4), which malware's rule will use
MSET=$(ip netns exec "$EP" nft -j list sets inet 2>/dev/null | jq -r '.nftables[] | .set? // empty |
	select(.table == "kakuri" and .type == "ipv4_addr" and (.name | startswith("ioc") | not)) | .name' | head -n1)
check "kakurid's table has an IPv4 set other than the block list's ($MSET)" test -n "$MSET"
N0=$(status_field tamper_events)
{
	echo "add chain inet kakuri malware"
	echo "add rule inet kakuri malware ip saddr @$MSET accept"
	for c in output input forward; do echo "insert rule inet kakuri $c accept"; done
	ip netns exec "$EP" nft list table netdev kakuri >/dev/null 2>&1 && echo "delete table netdev kakuri"
} >"$WORK/malware.nft"
sed 's/^/    /' "$WORK/malware.nft"
check "root malware's transaction is taken by the kernel" ip netns exec "$EP" nft -f "$WORK/malware.nft"
check_within "kakurid counts it as tampering" 5 bash -c "[ \$('$KAKURICTL' -s '$SOCK' status --json | jq -r .tamper_events) -gt $N0 ]"
check_within "kakurid restores: the internet host is cut again (fails on the old code: the restore in place is refused, again and again)" 10 cut_v4
check "... and (IPv6)" cut_v6
check_within "... its tables verify again" 10 isolated_verified
check "malware's chain is gone with its accepts" bash -c "! ip netns exec '$EP' nft list chain inet kakuri malware >/dev/null 2>&1 &&
	! ip netns exec '$EP' nft list chain inet kakuri output | grep -Eq '^[[:space:]]*accept\$'"
F=$(sign alice status)
check "the CSIRT still reaches it: a signed status is done" test "$(send_result "$F")" = done
check "the block list is still in force (its set in the table)" \
	bash -c "ip netns exec '$EP' nft list table inet kakuri | grep -q 'set ioc_v1_4'"
echo "  (what kakurid said:)"; grep -E 'tamper|restore' "$DLOG" | tail -n 6 | sed 's/^/    /'
check "kakurid serves throughout" kill -0 "$KPID"
summary
[ "$FAILED" -eq 0 ]
