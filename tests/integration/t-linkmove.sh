#!/usr/bin/env bash
# An interface moved out of the endpoint's network namespace while it is
# quarantined (`ip link set DEV netns OTHER`) carries traffic that never
# meets kakuri's tables: a root process there talks to the world.  kakurid
# must notice (rtnetlink), log, audit, queue a tamper alert for the CSIRT
# and stop reporting the quarantine as verified.  Deleting an interface is
# not an alert, nor is moving one while open, nor moving a veth end whose
# peer stays in ep (a container starting: its traffic still crosses ep).
# An interface of a kind whose siblings' traffic bypasses the inet hooks
# (macvlan) is covered while isolated, by the netdev table's chains on
# its lower device: no alert, still verified, and a sibling in another
# namespace is cut off (t-egress: in egress mode, not_covered).
. "$(dirname "$0")/lib.sh"
need
command -v python3 >/dev/null || unable "no python3 to attach an XDP program" "python3"
echo "== an interface moved to another namespace while isolated"
topology || die "topology"
other_ns
# the "NIC": a veth in ep whose other end is the internet side
ip -n "$EP" link add nic0 type veth peer name nic-net netns "$NET" &&
	ip -n "$NET" addr add 198.18.1.1/24 dev nic-net && ip -n "$NET" link set nic-net up &&
	ip -n "$EP" link add gone0 type veth peer name gone1 &&
	ip -n "$EP" link add early0 type veth peer name early1 netns "$NET" &&
	ip -n "$EP" link add nic2 type veth peer name nic2-net netns "$NET" &&
	ip -n "$EP" link add host0 type veth peer name cont0 ||
	{ fail "interfaces"; summary; exit 1; }
serve "$NET" 198.18.1.1 8080; serve "$NET" "$NET4" 8080; serve "$NET" "$NET6" 8080
# a macvlan sibling made directly in OTHER on ep's uplink (ep sees no
# event): it reaches the internet while open
SIB4=198.51.100.41 SIB6=2001:db8:2::41
ip -n "$EP" link add link to-net name lmsib netns "$OTHER" type macvlan mode bridge &&
	ip -n "$OTHER" addr add "$SIB4/24" dev lmsib &&
	ip -n "$OTHER" addr add "$SIB6/64" dev lmsib nodad &&
	ip -n "$OTHER" link set lmsib up || { fail "a macvlan sibling in OTHER"; summary; exit 1; }
write_policy
start_kakurid || die "kakurid starts"
check_within "while open, the sibling in OTHER reaches the internet (IPv4)" 5 reach "$OTHER" tcp "$NET4" 8080
check_within "while open, the sibling in OTHER reaches the internet (IPv6)" 5 reach "$OTHER" tcp "$NET6" 8080

moved_alerts() { ctl log --json | jq '[.entries[] | select(.action=="tamper" and (.result|test("^interface-")))] | length'; }
status_json() { ctl status --json; }

# while open, moving an interface is administration, not tampering: a
# veth whose peer is not in ep (a move that is an alert in any quarantined
# mode); the disconnect waits until kakurid has seen the move
ip -n "$EP" link set early0 netns "$OTHER"
check_within "kakurid saw the move while open" 5 grep -q "early0 .*moved to another network namespace while open" "$DLOG"
ctl disconnect >/dev/null
check "isolated and verified" test "$(status_field mode)/$(status_field verified)" = isolated/true
check "moving an interface while open raised no alert" test "$(moved_alerts)" -eq 0

# a macvlan on ep's uplink: its siblings (in containers) bypass ep's inet
# hooks, but not the netdev table's chains on the uplink
ip -n "$EP" link add mv0 link to-net type macvlan mode bridge
check_within "a macvlan in ep while isolated: kakurid saw it (journal)" 5 \
	grep -q "mv0 (macvlan, ifindex [0-9]*) appeared while isolated: the netdev table" "$DLOG"
check_within "a macvlan in ep while isolated: status says verified, nothing not_covered" 5 \
	bash -c "'$KAKURICTL' -s '$SOCK' status --json | jq -e '.verified == true and .not_covered == null'"
check "a macvlan in ep while isolated: no interface-not-covered alert" \
	test "$(ctl log --json | jq '[.entries[] | select(.result=="interface-not-covered")] | length')" -eq 0
refute "while isolated, the sibling in OTHER reaches the internet (IPv4)" reach "$OTHER" tcp "$NET4" 8080
refute "while isolated, the sibling in OTHER reaches the internet (IPv6)" reach "$OTHER" tcp "$NET6" 8080
ip -n "$EP" link del mv0
ip -n "$OTHER" link del lmsib
check_within "the macvlan deleted: verified, nothing not_covered" 5 \
	bash -c "'$KAKURICTL' -s '$SOCK' status --json | jq -e '.verified == true and .not_covered == null'"
# a macvlan whose lower device is in another namespace, moved into ep:
# its siblings leave through a device ep's netdev table does not hook
ip -n "$OTHER" link add lmlow0 type veth peer name lmlow1 &&
	ip -n "$OTHER" link add link lmlow0 name mvo type macvlan mode bridge &&
	ip -n "$OTHER" link set mvo netns "$EP" || fail "a macvlan on a device of OTHER, moved into ep"
check_within "a macvlan in ep on another namespace's device: status names it in not_covered" 5 \
	bash -c "'$KAKURICTL' -s '$SOCK' status --json | jq -e '.not_covered | test(\"mvo \\\\(macvlan\\\\)\")'"
check "a macvlan in ep on another namespace's device: status says verified: false" \
	test "$(status_field verified)" = false
check_within "a macvlan in ep on another namespace's device: the audit log has it (interface-not-covered)" 5 \
	audit_has '.action=="tamper" and .result=="interface-not-covered" and .interface=="mvo"'
ip -n "$EP" link del mvo
# an XDP program attached while isolated: what it sends back (XDP_TX) or
# redirects meets no hook at all
if ip netns exec "$EP" python3 "$(dirname "$0")/xdpattach.py" host0; then
	check_within "an XDP program on host0: status names it in not_covered within 15 s (the periodic dump)" 15 \
		bash -c "'$KAKURICTL' -s '$SOCK' status --json | jq -e '.not_covered | test(\"host0: an XDP program\")'"
	check_within "an XDP program on host0: the audit log has it (interface-xdp)" 5 \
		audit_has '.action=="tamper" and .result=="interface-xdp" and .interface=="host0"'
	ip -n "$EP" link set dev host0 xdpgeneric off
	check_within "the XDP program detached: no longer in not_covered within 15 s" 15 \
		bash -c "'$KAKURICTL' -s '$SOCK' status --json | jq -e '(.not_covered // \"\") | test(\"XDP\") | not'"
else
	fail "attach an XDP program (xdpattach.py)"
fi

ip -n "$EP" link del gone0
# a container starting: one end of a veth moves, its peer stays in ep, so
# what the container sends still crosses ep's hooks
ip -n "$EP" link set cont0 netns "$OTHER"
ip -n "$EP" link set nic0 netns "$OTHER"
check_within "the move is in the audit log (interface-moved, nic0)" 5 \
	audit_has '.action=="tamper" and .result=="interface-moved" and .interface=="nic0"'
check_within "a tamper alert for the CSIRT is queued in the outbox" 5 outbox_has '"result":"interface-moved"'
check "the journal has it" grep -q "nic0.*moved to another network namespace" "$DLOG"
check "status says verified: false" test "$(status_field verified)" = false
check "status carries the alert naming nic0" \
	bash -c "'$KAKURICTL' -s '$SOCK' status --json | jq -e '.tamper | map(.what) | join(\" \") | test(\"nic0.*moved\")'"
check "deleting an interface, or moving a veth whose peer stays, raised no alert" \
	test "$(ctl log --json | jq '[.entries[] | select(.action=="tamper" and (.result=="interface-moved" or .result=="interface-vanished"))] | length')" -eq 1
check "the veth moved with its peer staying is logged as such" grep -q "cont0.*its veth peer stays here" "$DLOG"
# why it matters: the moved NIC reaches the world from the other namespace
ip -n "$OTHER" addr add 198.18.1.2/24 dev nic0 && ip -n "$OTHER" link set nic0 up
check "(the moved interface does carry traffic outside kakuri's tables)" reach "$OTHER" tcp 198.18.1.1 8080
check "the endpoint itself stays isolated" bash -c "! ip netns exec $EP $NETPROBE tcp $NET4 8080 500"

# events lost: kakurid, restarted with an interface-event buffer too small
# for more than a few events (a test-only knob, so that the loss does not
# depend on the machine), is stopped while a flood of link events
# overflows it, then an interface moves; only the periodic rescan sees it
stop_kakurid -TERM
export KAKURID_TEST_LINKS_RCVBUF=1
start_kakurid || die "kakurid restarts with a small event buffer"
unset KAKURID_TEST_LINKS_RCVBUF
check "restarted: still isolated" test "$(status_field mode)" = isolated
check "the test-only knob is in force (logged)" grep -q "KAKURID_TEST_LINKS_RCVBUF=1" "$DLOG"
kill -STOP "$KPID"
printf 'link add kkd%d type bridge\n' $(seq 1 100) | ip -n "$EP" -batch -
ip -n "$EP" link set nic2 netns "$OTHER"
printf 'link del kkd%d\n' $(seq 1 100) | ip -n "$EP" -batch -
# meanwhile other nftables commits, more often than the verification
# period: each wakes kakurid, and none may keep the rescan from running
rm -f "$WORK/churn.stop"
( for i in $(seq 1 400); do
	[ -e "$WORK/churn.stop" ] && break
	ip netns exec "$EP" nft add table ip churn; ip netns exec "$EP" nft delete table ip churn
	sleep 0.03
done ) &
CHURN=$!; PIDS+=($CHURN)
kill -CONT "$KPID"
check_within "an interface gone while events were lost is found by the periodic rescan (nftables commits every few ms)" 15 \
	audit_has '.action=="tamper" and .result=="interface-vanished" and (.interfaces|test("nic2"))'
touch "$WORK/churn.stop"; wait "$CHURN"
check "the other commits were seen meanwhile (nftables-change)" \
	audit_has '.action=="nftables-change"'
check "the lost ones are summed up in one alert, not one each" \
	test "$(ctl log --json | jq '[.entries[] | select(.result=="interface-vanished")] | length')" -eq 1
check "status carries it" \
	bash -c "'$KAKURICTL' -s '$SOCK' status --json | jq -e '.tamper | map(.what) | join(\" \") | test(\"nic2\")'"
summary
[ "$FAILED" -eq 0 ]
