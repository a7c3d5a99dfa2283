#!/usr/bin/env bash
# tc, a way around the netdev table's hooks that nftables cannot close
# and kakurid must therefore report, with real frames over IPv4 and IPv6.
# The kernel runs tc egress after the netfilter egress hook, and keeps a
# frame's "skip egress" mark while tc ingress runs: a filter on lo's
# egress or ingress that redirects to the NIC sends a packet socket's
# frames out past the NIC's hook.  A filter added while quarantined is an
# alert (interface-tc) at once (RTNLGRP_TC); every interface with tc on it
# (filters wherever they sit, on classes too; tcx programs, which come
# with no event) is named in not_covered, one from before the quarantine
# too, until it is gone.
. "$(dirname "$0")/lib.sh"
need
command -v python3 >/dev/null || unable "no python3 to attach a tcx program" "python3"
nic_scenario "tc: filters and tcx programs around the netdev hooks" tcnic0 tcnic-net 6
ipx() { ip netns exec "$EP" "$@"; }
tc_alerts() { ctl log --json | jq "[.entries[] | select(.result==\"interface-tc\" and .interface==\"$1\")] | length"; }
named() { ctl status --json | jq -e "(.not_covered // \"\") | test(\"$1: tc on it\")"; }
gone() { ctl status --json | jq -e '(.not_covered // "") | test("tc on") | not'; }

write_policy
start_kakurid || die "kakurid starts"
check "while open, an AF_PACKET frame from the NIC arrives (IPv4)" passes raw4
check "while open, an AF_PACKET frame from the NIC arrives (IPv6)" passes raw6
# a filter on a class of the NIC's root qdisc from before the quarantine
# (a classifier with no action: kakurid cannot tell what a filter does),
# where a dump of the root's own filters does not look
ipx tc qdisc add dev tcnic0 root handle 1: htb &&
	ipx tc class add dev tcnic0 parent 1: classid 1:1 htb rate 100mbit &&
	ipx tc filter add dev tcnic0 parent 1:1 u32 match u32 0 0 classid 1:1 ||
	fail "a tc filter on a class while open"
ctl disconnect >/dev/null
check_within "a class filter from before the quarantine: status names the NIC in not_covered" 5 named tcnic0
check "... and says verified: false" test "$(status_field verified)" = false
check "... and no alert: it came while open" test "$(tc_alerts tcnic0)" -eq 0
sleep 11
check "... still named after a look (10 s): the look sees classes" named tcnic0
ipx tc qdisc del dev tcnic0 root
check_within "the filter gone: isolated and verified within 15 s (the periodic look)" 15 isolated_verified
check "isolated: AF_PACKET frames from the NIC are dropped (IPv4)" none_arrive raw4
check "isolated: AF_PACKET frames from the NIC are dropped (IPv6)" none_arrive raw6

# lo's egress, then lo's ingress, redirecting to the NIC
for side in egress ingress; do
	ipx tc qdisc add dev lo clsact &&
		ipx tc filter add dev lo "$side" u32 match u32 0 0 action mirred egress redirect dev tcnic0 ||
		fail "a tc filter on lo's $side"
	n=$([ "$side" = egress ] && echo 1 || echo 2)
	check_within "a filter on lo's $side while isolated: the audit log has it at once (interface-tc, u32)" 5 \
		bash -c "test \"\$('$KAKURICTL' -s '$SOCK' log --json | jq '[.entries[] | select(.result==\"interface-tc\" and .interface==\"lo\" and .kind==\"u32\")] | length')\" -eq $n"
	check "... status names lo in not_covered" named lo
	check "(isolated, a frame on lo redirected from lo's $side arrives past the NIC's hook, IPv4: why it is reported)" passes lo4
	check "(... IPv6)" passes lo6
	check "meanwhile the NIC's own AF_PACKET frames stay dropped" none_arrive raw4
	ipx tc qdisc del dev lo clsact
	check_within "the filter gone: lo no longer named within 15 s" 15 gone
done
check "one alert per filter, not one per look" test "$(tc_alerts lo)" -eq 2

# a tcx program (a bpf link: no event) on the NIC's egress
# (not through a function: $! must be the program's own pid)
ip netns exec "$EP" python3 "$(dirname "$0")/tcxattach.py" tcnic0 60 >"$WORK/tcx.out" 2>&1 &
TCX=$!; PIDS+=($TCX)
check_within "a tcx program attached" 5 grep -q attached "$WORK/tcx.out"
check_within "a tcx program on the NIC: status names it within 15 s (the periodic look)" 15 named tcnic0
check_within "... the audit log has it (interface-tc)" 5 test "$(tc_alerts tcnic0)" -eq 1
kill "$TCX"; wait "$TCX" 2>/dev/null
check_within "the program gone: no longer named within 15 s" 15 gone
check "the quarantine held through all of it" test "$(status_field mode)" = isolated
summary
[ "$FAILED" -eq 0 ]
