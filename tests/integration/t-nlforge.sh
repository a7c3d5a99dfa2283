#!/usr/bin/env bash
# Root malware posing as the kernel to kakurid.  Any root process may send
# to any netlink socket's port id (they are in /proc/net/netlink) and to
# rtnetlink's multicast groups: one forged RTM_DELLINK made kakurid drop
# the NIC from the netdev table (a deletion is no alert), so AF_PACKET
# frames left the isolated host until the next dump, every 10 s, and a
# forged NLMSG_DONE blinded the AF_XDP look.  kakurid's netlink sockets
# are now connected to the kernel (which refuses a process's unicast to
# them) and every read takes only what the kernel sent (nl_pid 0); what
# is passed over is a tamper alert (netlink-forged).  Real frames, IPv4
# and IPv6.
. "$(dirname "$0")/lib.sh"
need
command -v python3 >/dev/null || unable "no python3 to forge netlink messages" "python3"
nic_scenario "netlink messages forged by a process, posing as the kernel" nfnic0 nfnic-net 8

write_policy
start_kakurid || die "kakurid starts"
check "while open, an AF_PACKET frame from the NIC arrives (IPv4)" passes raw4
check "while open, an AF_PACKET frame from the NIC arrives (IPv6)" passes raw6
ctl disconnect >/dev/null
check_within "isolated and verified" 5 isolated_verified
IFX=$(ip -n "$EP" -j link show nfnic0 | jq -r '.[0].ifindex')
out=$(ip netns exec "$EP" python3 "$(dirname "$0")/nlforge.py" "$KPID" "$IFX" nfnic0 2>&1)
echo "    nlforge: $out"
check "the forger found kakurid's netlink sockets, and the kernel refused every unicast to them" \
	bash -c "echo '$out' | grep -q '^unicast 0 [1-9]'"
check "the forged link event went out to the group" bash -c "echo '$out' | grep -q '^multicast 1'"
# at once: the dump every 10 s would put a dropped NIC back
check "the netdev table still names the NIC" \
	bash -c "ip netns exec '$EP' nft list chain netdev kakuri egress | grep -q nfnic0"
check "the NIC is still hooked: AF_PACKET frames dropped (IPv4)" none_arrive raw4
check "... IPv6" none_arrive raw6
check_within "kakurid passed it over and says so (netlink-forged)" 15 \
	audit_has '.action=="tamper" and .result=="netlink-forged"'
# a flood of them: one alert of its own in status, counting them all, so
# that it pushes no interface alert out.  In ten bursts of 50, each read
# before the next: 500 at once overrun kakurid's socket buffer on a busy
# machine (the kernel drops what does not fit, ENOBUFS), and what was
# never delivered cannot be counted
forged_one_at_least() {
	ctl status --json | jq -e --argjson n "$1" \
		'[.tamper[] | select(.result=="netlink-forged")] | length == 1 and .[0].count >= $n' >/dev/null
}
want=1
for burst in $(seq 1 10); do
	ip netns exec "$EP" python3 "$(dirname "$0")/nlforge.py" "$KPID" "$IFX" nfnic0 50 >/dev/null 2>&1
	want=$((want + 50))
	until_ok 15 forged_one_at_least "$want" || break
done
check "a flood of 500: status shows one netlink-forged alert that counts them all" forged_one_at_least 501
check "... and says verified: false" test "$(status_field verified)" = false
check "the NIC is still hooked after the flood (IPv4)" none_arrive raw4
check "the forged deletion was not taken for the kernel's (no deletion logged)" \
	bash -c "! grep -q 'nfnic0 .*deleted while isolated' '$DLOG'"
summary
[ "$FAILED" -eq 0 ]
