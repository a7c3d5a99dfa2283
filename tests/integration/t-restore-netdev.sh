#!/usr/bin/env bash
# The boot restore puts the netdev table in place too, with real frames
# over IPv4 and IPv6.  kakuri-restore.service runs `kakurid --restore`
# before the network comes up; kakurid.service starts later (or not at
# all).  Until then only what the restore put in place holds, so it must
# cover what the daemon covers: an AF_PACKET socket in the isolated
# namespace sending hand-built frames (past the inet hooks, with or
# without the queueing layer), and a macvlan made directly in another
# namespace on the isolated host's uplink, both ways.
#  1. state.json says isolated, no table, no kakurid: every path carries
#     traffic (the listeners see it);
#  2. the restore alone: none does, the management peer still reaches
#     the host, `nft list table netdev kakuri` hooks every Ethernet device
#     and a raw-IP one (tun);
#  3. kakurid starts and adopts: verified, no tamper event, the netdev
#     table's rules and devices as the restore wrote them, still nothing
#     gets through;
#  4. a restore that cannot read the interfaces (rtnetlink refused) says
#     so in one line and still puts the inet and bridge tables in place.
. "$(dirname "$0")/lib.sh"
need
need_built "$RAWSEND"
need_built "$TOP/kakurid-restore"
command -v "${CC:-cc}" >/dev/null || unable "no C compiler for the rtnetlink-refusing preload" "${CC:-cc}"
echo "== the boot restore puts the netdev table in place: AF_PACKET frames, interfaces made in other namespaces"
topology || die "topology"
X="${P}-rnx"
addns "$X" || die "the namespace for the interface made elsewhere"
PORT=9556
NETRX="$WORK/rn-net.rx" XRX="$WORK/rn-x.rx"
MV4=198.51.100.41 MV6=2001:db8:2::41
# the rtnetlink-refusing preload (nortnl.c), for part 4
NORTNL="$TOP/build/nortnl.so"
need_built "$NORTNL"

ip -n "$EP" link add link to-net name rnmv0 netns "$X" type macvlan mode bridge &&
	addrs "$X" rnmv0 "$MV4" "$MV6" || die "a macvlan made in X on ep's uplink"
NETMAC=$(mac_of "$NET" to-ep)
# a raw-IP device (link type none, as a modem's wwan0): the netdev
# table's ip chains hook it
ip -n "$EP" tuntap add mode tun name rntun0 && ip -n "$EP" link set rntun0 up ||
	die "a tun device in ep"
listen_udp "$NET" "$NETRX" $PORT "$NET4" "$NET6"
listen_udp "$X" "$XRX" $PORT "$MV4" "$MV6"
# the CSIRT peer's way in (the management rule of every table)
for a in "$EP4" "$EP6"; do serve "$EP" "$a" 7443; done

# the probes are lib.sh's, past the inet hooks on ep's uplink
send_probe() { uplink_probe "$1"; }
arrival() { uplink_arrival "$1"; }
what() { uplink_what "$1"; }
KINDS="raw4 raw6 rawq4 rawq6 mv4 mv6 in4 in6"
peer_reaches() { reach "$PEER" tcp "$EP4" 7443 && reach "$PEER" tcp "$EP6" 7443; }
open_both() { reach "$EP" tcp "$NET4" $PORT && reach "$EP" tcp "$NET6" $PORT; }
blocked_both() { ! reach "$EP" tcp "$NET4" $PORT && ! reach "$EP" tcp "$NET6" $PORT; }
# a table as nft lists it, without what differs between the restore and
# kakurid (the flags: owner while kakurid holds it, and the owner's name)
# and the counters
listing() {
	ip netns exec "$EP" nft list table "$1" kakuri |
		sed -E '/^table /d; /^\tflags /d; s/counter packets [0-9]+ bytes [0-9]+/counter/'
}
same_as_restored() { listing "$1" | diff "$WORK/$1.restored" -; }
restore() { ip netns exec "$EP" "$KAKURID" --restore -f "$POLICY" 2>&1; }

# 1. the host as it boots: state.json says isolated, nothing else yet
write_policy
EPISODE=0123456789abcdef0123456789abcdef
mkdir -m 0700 -p "$STATE"
cat >"$STATE/state.json" <<EOF
{ "v": 1, "mode": "isolated", "episode": "$EPISODE", "since": $(date +%s),
  "by": "t-restore-netdev", "reason": "isolated before the reboot", "drill": false }
EOF
check "boot: no table of kakuri's yet" bash -c "! ip netns exec $EP nft list table netdev kakuri && ! ip netns exec $EP nft list table inet kakuri"
for k in $KINDS; do
	check "before the restore: $(what $k) arrives ($(fam $k))" passes $k
done
check "before the restore: TCP to the internet passes (IPv4 and IPv6)" open_both
check "before the restore: the CSIRT peer reaches 7443 (IPv4 and IPv6)" peer_reaches

# 2. the restore alone, no kakurid
out=$(restore); rc=$?
check "kakurid --restore exits 0" test $rc -eq 0
check "kakurid --restore says isolated" grep -q "restore: isolated" <<<"$out"
check "the restore read the interfaces (no complaint about them)" bash -c "! grep -q 'restoring without the netdev table' <<<'$out'"
check "after the restore: table netdev kakuri is there" ip netns exec "$EP" nft list table netdev kakuri
for dev in to-net to-peer to-ct; do
	check "after the restore: the netdev table's chains hook $dev" \
		bash -c "ip netns exec $EP nft list table netdev kakuri | grep -E 'devices = \\{[^}]*\\b$dev\\b' | wc -l | grep -qx 2"
done
for c in ingress_ip egress_ip; do
	check "after the restore: the netdev table's $c chain hooks the tun device (raw IP)" \
		bash -c "ip netns exec $EP nft list chain netdev kakuri $c | grep -E 'hook [a-z]+ device.*rntun0'"
done
check "after the restore: the netdev table carries the episode" \
	bash -c "ip netns exec $EP nft list table netdev kakuri | grep -q $EPISODE"
check "after the restore: inet and bridge tables too" \
	bash -c "ip netns exec $EP nft list table inet kakuri && ip netns exec $EP nft list table bridge kakuri"
for k in $KINDS; do
	check "restored, kakurid not running: $(what $k): nothing arrives ($(fam $k))" none_arrive $k
done
check "restored: the host is isolated (TCP, IPv4 and IPv6)" blocked_both
check "restored: the CSIRT peer still reaches 7443 (IPv4 and IPv6)" peer_reaches
for f in netdev inet bridge; do listing $f >"$WORK/$f.restored"; done

# 3. kakurid starts, adopts the restored tables
start_kakurid || die "kakurid starts"
check_within "kakurid: isolated and verified" 10 isolated_verified
check "kakurid: the restore's episode" test "$(status_field episode)" = "$EPISODE"
check "kakurid: no tamper event" test "$(status_field tamper_events)" = 0
check "kakurid: the audit log has no tamper entry" bash -c "! '$KAKURICTL' -s '$SOCK' log --json | jq -e '[.entries[] | select(.action==\"tamper\")] | length > 0'"
refute "kakurid: nothing in its log about other devices or a refused netdev table" \
	grep -Eq 'Ethernet devices changed|refused the netdev table' "$DLOG"
for f in netdev inet bridge; do
	check "kakurid: the $f table's chains, rules and sets as the restore wrote them" \
		same_as_restored $f
done
for k in raw4 raw6 mv4 in6; do
	check "kakurid running: $(what $k): nothing arrives ($(fam $k))" none_arrive $k
done
check "kakurid: still verified" isolated_verified
check "kakurid: still no tamper event" test "$(status_field tamper_events)" = 0
stop_kakurid -TERM

# 4. a restore that may not open rtnetlink sockets: one line says the
# netdev table is missing, the rest of the isolation goes in
drop_tables
check "tables gone again: an AF_PACKET frame arrives (IPv4)" passes raw4
out=$(ip netns exec "$EP" env LD_PRELOAD="$NORTNL" "$KAKURID" --restore -f "$POLICY" 2>&1); rc=$?
check "rtnetlink refused: the restore still exits 0" test $rc -eq 0
check "rtnetlink refused: one line says the netdev table is missing" \
	test "$(grep -c 'interfaces: Permission denied: restoring without the netdev table' <<<"$out")" -eq 1
check "rtnetlink refused: the restore still says isolated" grep -q "restore: isolated" <<<"$out"
check "rtnetlink refused: no netdev table" bash -c "! ip netns exec $EP nft list table netdev kakuri"
check "rtnetlink refused: inet and bridge tables in place" \
	bash -c "ip netns exec $EP nft list table inet kakuri && ip netns exec $EP nft list table bridge kakuri"
check "rtnetlink refused: the host is isolated (TCP, IPv4 and IPv6)" blocked_both
check "rtnetlink refused: the CSIRT peer still reaches 7443" peer_reaches
# what the line warns about: kakurid, once it starts, closes the gap
start_kakurid || die "kakurid starts after the restore without the netdev table"
check_within "then kakurid: isolated and verified" 10 isolated_verified
check "then kakurid: the netdev table is there" ip netns exec "$EP" nft list table netdev kakuri
check "then kakurid: $(what raw6): nothing arrives (IPv6)" none_arrive raw6
stop_kakurid -TERM
summary
[ "$FAILED" -eq 0 ]
