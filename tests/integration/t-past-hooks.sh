#!/usr/bin/env bash
# Two ways past the netdev table's hooks that nftables cannot close, and
# that kakurid must therefore report, with real frames over IPv4 and IPv6:
#  - an AF_XDP socket: its TX ring goes to the driver through
#    dev_direct_xmit(), which runs no egress hook, and needs no XDP
#    program.  kakurid sees the bind in the netdev family's queue dump
#    (every 10 s): a tamper alert (interface-xsk), and the interface
#    named in not_covered while the socket is bound;
#  - the rename toggle: the netdev table hooks devices by name (Linux
#    6.16 on), so a device renamed away is unhooked until it is renamed
#    back, and a dump after both sees nothing changed.  Each rename of a
#    hooked device while isolated is an alert (interface-renamed), except
#    udev naming a device that has just appeared.
# (tc, the third such way: t-tc.)
# Each channel is first shown to carry frames while isolated (why it is
# reported), with AF_PACKET frames on the same device dropped meanwhile.
. "$(dirname "$0")/lib.sh"
need
nic_scenario "past the netdev hooks: AF_XDP sockets, the rename toggle" xrnic0 xrnic-net 7
renamed_alerts() { ctl log --json | jq '[.entries[] | select(.result=="interface-renamed")] | length'; }
# rename NS FROM TO: what a rename takes (the device must be down)
rename() { ip -n "$EP" link set "$1" down && ip -n "$EP" link set "$1" name "$2" &&
	ip -n "$EP" link set "$2" up; }

write_policy
start_kakurid || die "kakurid starts"
check "while open, an AF_PACKET frame from the NIC arrives (IPv4)" passes raw4
check "while open, an AF_PACKET frame from the NIC arrives (IPv6)" passes raw6
rename xrnic0 xrtmp0 && rename xrtmp0 xrnic0 || fail "renames while open"
ctl disconnect >/dev/null
check_within "isolated and verified" 5 isolated_verified
check "renames while open raised no alert" test "$(renamed_alerts)" -eq 0
check "isolated: AF_PACKET frames from the NIC are dropped (IPv4)" none_arrive raw4
check "isolated: AF_PACKET frames from the NIC are dropped (IPv6)" none_arrive raw6

# AF_XDP: what it sends passes while isolated, so it must be reported
check "(isolated, an AF_XDP frame from the NIC still arrives, IPv4: why it is reported)" passes xsk4
check "(isolated, an AF_XDP frame from the NIC still arrives, IPv6)" passes xsk6
xsk_alerts() { ctl log --json | jq '[.entries[] | select(.result=="interface-xsk" and .interface=="xrnic0")] | length'; }
XSK0=$(xsk_alerts)
ip netns exec "$EP" "$RAWSEND" -x -w 60 xrnic0 "$NICMAC" "$SRC4" "$NIC4" "$NIC_PORT" held >/dev/null 2>&1 &
HOLDER=$!; PIDS+=($HOLDER); HELD_AT=$SECONDS
check_within "an AF_XDP socket bound to xrnic0: status names it in not_covered within 15 s (the periodic dump)" 15 \
	bash -c "'$KAKURICTL' -s '$SOCK' status --json | jq -e '(.not_covered // \"\") | test(\"xrnic0: an AF_XDP socket\")'"
check "an AF_XDP socket bound: status says verified: false" test "$(status_field verified)" = false
check_within "an AF_XDP socket bound: the audit log has it (interface-xsk)" 5 \
	audit_has '.action=="tamper" and .result=="interface-xsk" and .interface=="xrnic0"'
check "an AF_XDP socket bound: the journal has it" grep -q "xrnic0 (ifindex [0-9]*): an AF_XDP socket was bound" "$DLOG"
# bound through at least three dumps (10 s apart), then closed
while [ $((SECONDS - HELD_AT)) -lt 32 ]; do sleep 1; done
check "bound through three dumps: one alert for the bind, not one per dump" \
	test "$(xsk_alerts)" -eq $((XSK0 + 1))
kill "$HOLDER"; wait "$HOLDER" 2>/dev/null
check_within "the socket closed: xrnic0 no longer named in not_covered within 15 s" 15 \
	bash -c "'$KAKURICTL' -s '$SOCK' status --json | jq -e '(.not_covered // \"\") | test(\"AF_XDP\") | not'"

# the rename toggle, kakurid stopped meanwhile so that it reads both
# events together, as a busy kakurid would
kill -STOP "$KPID"
rename xrnic0 xrlm0 || fail "rename away"
DEV=xrlm0
check "(renamed away, the NIC meets no netdev hook: an AF_PACKET frame arrives, IPv4)" passes raw4
check "(renamed away: IPv6 too)" passes raw6
DEV=
rename xrlm0 xrnic0 || fail "rename back"
kill -CONT "$KPID"
check_within "the rename away is in the audit log (interface-renamed, xrlm0 from xrnic0)" 5 \
	audit_has '.action=="tamper" and .result=="interface-renamed" and .interface=="xrlm0" and .from=="xrnic0"'
check_within "and the rename back (xrnic0 from xrlm0)" 5 \
	audit_has '.action=="tamper" and .result=="interface-renamed" and .interface=="xrnic0" and .from=="xrlm0"'
check "status carries the alert" \
	bash -c "'$KAKURICTL' -s '$SOCK' status --json | jq -e '.verified == false and (.tamper | map(.what) | join(\" \") | test(\"xrlm0 .*from xrnic0.*renamed\"))'"
check "renamed back: the NIC is hooked again (IPv4 dropped)" none_arrive raw4
check "renamed back: IPv6 dropped" none_arrive raw6

# udev naming a device that has just appeared is no alert; a second
# rename of it is
ip -n "$EP" link add xreth7 type veth peer name xreth7-net netns "$NET" &&
	ip -n "$EP" link set xreth7 name xrenx7 || fail "a new device, named at once"
check_within "a new device renamed at once: logged as udev naming it" 5 \
	grep -q "xreth7 (ifindex [0-9]*) renamed xrenx7 while isolated: just after it appeared (udev naming it)" "$DLOG"
check "... and no alert" test "$(renamed_alerts)" -eq 2
check_within "the netdev table hooks it under its new name" 5 \
	bash -c "ip netns exec '$EP' nft list chain netdev kakuri egress | grep -q xrenx7"
ip -n "$EP" link set xrenx7 name xrmal7 || fail "a second rename"
check_within "a second rename of it is an alert" 5 \
	audit_has '.result=="interface-renamed" and .interface=="xrmal7" and .from=="xrenx7"'
check "the quarantine held through all of it (kakurid's tables)" \
	test "$(status_field mode)" = isolated
summary
[ "$FAILED" -eq 0 ]
