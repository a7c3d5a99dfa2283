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
#    udev naming a device that has just appeared;
#  - tc on an egress side: the kernel runs it after the netfilter egress
#    hook, so a filter on lo's egress that redirects to the NIC sends a
#    packet socket's frames out unfiltered.  A filter added while
#    quarantined is an alert (interface-tc) at once (RTNLGRP_TC); every
#    interface with tc on its egress side (filters, tcx programs) is named
#    in not_covered, one from before the quarantine too.
# Each channel is first shown to carry frames while isolated (why it is
# reported), with AF_PACKET frames on the same device dropped meanwhile.
. "$(dirname "$0")/lib.sh"
need
need_built "$RAWSEND"
echo "== past the netdev hooks: AF_XDP sockets, the rename toggle, tc on egress"
topology || die "topology"
PORT=9556 RX="$WORK/xr-net.rx"
NIC4=198.18.7.1 NIC6=2001:db8:7::1 SRC4=198.18.7.2 SRC6=2001:db8:7::2
nic_to_net xrnic0 xrnic-net "$NIC4" "$NIC6" || die "the NIC veth"
listen_udp "$NET" "$RX" $PORT "$NIC4" "$NIC6"

# send_probe KIND: one frame from ep's NIC (DEV, xrnic0 unless set)
raw() { ip netns exec "$EP" "$RAWSEND" "$@" $PORT kakuri-xsk-test >/dev/null 2>&1; }
send_probe() {
	case $1 in
	raw4) raw "${DEV:-xrnic0}" "$NICMAC" "$SRC4" "$NIC4" ;;	# AF_PACKET
	raw6) raw "${DEV:-xrnic0}" "$NICMAC" "$SRC6" "$NIC6" ;;
	xsk4) raw -x xrnic0 "$NICMAC" "$SRC4" "$NIC4" ;;	# AF_XDP
	xsk6) raw -x xrnic0 "$NICMAC" "$SRC6" "$NIC6" ;;
	lo4) raw lo "$NICMAC" "$SRC4" "$NIC4" ;;	# AF_PACKET on lo
	lo6) raw lo "$NICMAC" "$SRC6" "$NIC6" ;;
	esac
}
arrival() {
	case $1 in
	raw4|xsk4|lo4) echo "$RX udp $SRC4" ;;
	raw6|xsk6|lo6) echo "$RX udp $SRC6" ;;
	esac
}
renamed_alerts() { ctl log --json | jq '[.entries[] | select(.result=="interface-renamed")] | length'; }
# rename NS FROM TO: what a rename takes (the device must be down)
rename() { ip -n "$EP" link set "$1" down && ip -n "$EP" link set "$1" name "$2" &&
	ip -n "$EP" link set "$2" up; }

write_policy
start_kakurid || die "kakurid starts"
check "while open, an AF_PACKET frame from the NIC arrives (IPv4)" passes raw4
check "while open, an AF_PACKET frame from the NIC arrives (IPv6)" passes raw6
rename xrnic0 xrtmp0 && rename xrtmp0 xrnic0 || fail "renames while open"
# a tc filter on the NIC's egress from before the quarantine (a classifier
# with no action: kakurid cannot tell what a filter does)
ipx() { ip netns exec "$EP" "$@"; }
ipx tc qdisc add dev xrnic0 clsact &&
	ipx tc filter add dev xrnic0 egress u32 match u32 0 0 classid 1:1 || fail "a tc filter while open"
ctl disconnect >/dev/null
check_within "a tc filter from before the quarantine: status names it in not_covered" 5 \
	bash -c "'$KAKURICTL' -s '$SOCK' status --json | jq -e '(.not_covered // \"\") | test(\"xrnic0: tc on its egress side\")'"
check "... and says verified: false" test "$(status_field verified)" = false
check "... and no alert: it came while open" \
	test "$(ctl log --json | jq '[.entries[] | select(.result=="interface-tc")] | length')" -eq 0
ipx tc qdisc del dev xrnic0 clsact
check_within "the filter gone: isolated and verified within 15 s (the periodic look)" 15 isolated_verified
check "renames while open raised no alert" test "$(renamed_alerts)" -eq 0
check "isolated: AF_PACKET frames from the NIC are dropped (IPv4)" none_arrive raw4
check "isolated: AF_PACKET frames from the NIC are dropped (IPv6)" none_arrive raw6

# AF_XDP: what it sends passes while isolated, so it must be reported
check "(isolated, an AF_XDP frame from the NIC still arrives, IPv4: why it is reported)" passes xsk4
check "(isolated, an AF_XDP frame from the NIC still arrives, IPv6)" passes xsk6
xsk_alerts() { ctl log --json | jq '[.entries[] | select(.result=="interface-xsk" and .interface=="xrnic0")] | length'; }
XSK0=$(xsk_alerts)
ip netns exec "$EP" "$RAWSEND" -x -w 60 xrnic0 "$NICMAC" "$SRC4" "$NIC4" $PORT held >/dev/null 2>&1 &
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

# tc on lo's egress redirecting to the NIC: a packet socket's frames on
# lo (no netdev chains: it is no way out) reach the NIC past its hook
ipx tc qdisc add dev lo clsact &&
	ipx tc filter add dev lo egress u32 match u32 0 0 action mirred egress redirect dev xrnic0 ||
	fail "a tc filter on lo's egress"
check_within "a tc filter on lo's egress while isolated: the audit log has it at once (interface-tc)" 5 \
	audit_has '.action=="tamper" and .result=="interface-tc" and .interface=="lo" and .kind=="u32"'
check "... status names lo in not_covered" \
	bash -c "'$KAKURICTL' -s '$SOCK' status --json | jq -e '(.not_covered // \"\") | test(\"lo: tc on its egress side\")'"
check "(isolated, a frame on lo redirected by tc arrives past the NIC's hook, IPv4: why it is reported)" passes lo4
check "(... IPv6)" passes lo6
check "meanwhile the NIC's own AF_PACKET frames stay dropped" none_arrive raw4
ipx tc qdisc del dev lo clsact
check_within "the filter gone: lo no longer named within 15 s" 15 \
	bash -c "'$KAKURICTL' -s '$SOCK' status --json | jq -e '(.not_covered // \"\") | test(\"tc on\") | not'"
check "one alert for the filter, not one per look" \
	test "$(ctl log --json | jq '[.entries[] | select(.result=="interface-tc")] | length')" -eq 1

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
