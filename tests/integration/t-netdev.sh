#!/usr/bin/env bash
# Isolation below the inet hooks, with real packets over IPv4 and IPv6.
# nftables' inet hooks belong to one network namespace, so root malware
# on an isolated host could go around table inet kakuri without touching
# it:
#  - an interface made DIRECTLY in another namespace on ep's uplink
#    (`ip -n EP link add link to-net name X netns OTHER type macvlan`;
#    ipvlan and vlan devices hand their frames to the lower device the
#    same way, but this kernel is built without them (CONFIG_IPVLAN,
#    CONFIG_VLAN_8021Q), so a macvlan stands for all three): ep's
#    rtnetlink sees no new interface, and
#    what the other namespace sends leaves through ep's NIC without
#    meeting ep's hooks, in either direction;
#  - an AF_PACKET socket in ep sending hand-built Ethernet + IP + UDP
#    frames (through the queueing layer, or with PACKET_QDISC_BYPASS):
#    they never pass the output hook;
#  - both again on a NIC that appears while isolated (hotplug).
# Each is first shown to carry traffic (the listener sees it), then to
# carry nothing while isolated (the management channel still working),
# nor while kakurid is stopped (the tables outlive it), then to carry
# traffic again after a signed release: the isolation, not something
# else, stopped it.
. "$(dirname "$0")/lib.sh"
need
need_built "$RAWSEND"
command -v python3 >/dev/null || unable "no python3 for the neighbour discovery probe" "python3"
echo "== isolation below the inet hooks: interfaces made in other namespaces, AF_PACKET frames, hotplug"
topology || die "topology"
# X: where malware makes its interfaces; Y: one more, made while isolated
X="${P}-ndx" Y="${P}-ndy"
addns "$X" && addns "$Y" || die "namespaces for the interfaces made elsewhere"
PORT=9555
NETRX="$WORK/nd-net.rx" XRX="$WORK/nd-x.rx" NDRX="$WORK/nd-ndisc.rx"
MV4=198.51.100.31 MV6=2001:db8:2::31 NEW4=198.51.100.33 NEW6=2001:db8:2::33
HP4=198.18.9.1 HP6=2001:db8:9::1 EPHP4=198.18.9.2 EPHP6=2001:db8:9::2
XHP4=198.18.9.3 XHP6=2001:db8:9::3

# a macvlan made directly in X on ep's uplink (to-net): ep sees no event
ip -n "$EP" link add link to-net name ndmv0 netns "$X" type macvlan mode bridge &&
	addrs "$X" ndmv0 "$MV4" "$MV6" || die "a macvlan made in X on ep's uplink"
NETMAC=$(mac_of "$NET" to-ep)

# every listener logs one line per datagram ("udp FROM")
listen_udp "$NET" "$NETRX" $PORT "$NET4" "$NET6"
# neighbour discovery as a carrier: a solicitation (type 135, hop limit
# 255) from a process in X to a global address, with data in an option
cat >"$WORK/ndsend.py" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
opt = b"\xc8\x02" + b"kakuri-nd-prob"
msg = bytes([135, 0, 0, 0, 0, 0, 0, 0]) + socket.inet_pton(socket.AF_INET6, sys.argv[1]) + opt
s.sendto(msg, (sys.argv[1], 0))
EOF
cat >"$WORK/ndrecv.py" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.settimeout(0.5)
end = time.time() + float(sys.argv[2])
while time.time() < end:
    try:
        data, addr = s.recvfrom(2048)
    except socket.timeout:
        continue
    if data[:1] == b"\x87" and b"kakuri-nd-prob" in data:
        with open(sys.argv[1], "a") as f:
            f.write("nd %s\n" % addr[0].split("%")[0])
EOF
ip netns exec "$NET" python3 "$WORK/ndrecv.py" "$NDRX" 600 & PIDS+=($!)
listen_udp "$X" "$XRX" $PORT "$MV4" "$MV6"
for a in "$PEER4" "$PEER6"; do serve "$PEER" "$a" 7444; done

# the CSIRT channel on: signed commands prove the management path
pki_setup || die "PKI setup"
write_policy "$(remote_agent_conf)" "$(remote_tls_conf)"
AGENT_ID=$(agent_init)
start_kakurid || die "kakurid starts"
check "the CSIRT channel is listening" until_ok 20 channel_up

# send_probe KIND: one datagram of KIND towards its listener (whether it
# is answered does not matter: the listener's log says what arrived)
send_probe() {
	case $1 in
	new4) udp_from "$Y" "$NET4" ;;		# macvlan made in Y while isolated
	new6) udp_from "$Y" "$NET6" ;;
	hp4) udp_from "$X" "$HP4" ;;		# macvlan in X on the hotplugged NIC
	hp6) udp_from "$X" "$HP6" ;;
	nd6) ip netns exec "$X" python3 "$WORK/ndsend.py" "$NET6" >/dev/null 2>&1 ;;
	hpraw4) raw_from_ep "$HPDEV" "$HPMAC" "$EPHP4" "$HP4" ;;	# AF_PACKET out of it
	hpraw6) raw_from_ep "$HPDEV" "$HPMAC" "$EPHP6" "$HP6" ;;
	*) uplink_probe "$1" ;;	# raw, rawq, mv, in (lib.sh)
	esac
	return 0
}
# arrival KIND: "LOG LINE", the log and the line a datagram of KIND
# writes there when it arrives
arrival() {
	case $1 in
	new4) echo "$NETRX udp $NEW4" ;;
	new6) echo "$NETRX udp $NEW6" ;;
	nd6) echo "$NDRX nd $MV6" ;;
	hp4) echo "$NETRX udp $XHP4" ;;
	hp6) echo "$NETRX udp $XHP6" ;;
	hpraw4) echo "$NETRX udp $EPHP4" ;;
	hpraw6) echo "$NETRX udp $EPHP6" ;;
	*) uplink_arrival "$1" ;;
	esac
}
# what: KIND's words for the check lines
what() {
	case $1 in
	new*) echo "macvlan made in another netns while isolated -> internet" ;;
	nd*) echo "neighbour solicitation with data from a macvlan in another netns -> a global address" ;;
	hpraw*) echo "AF_PACKET frame out of the hotplugged NIC -> internet" ;;
	hp*) echo "macvlan made in another netns on the hotplugged NIC -> internet" ;;
	*) uplink_what "$1" ;;
	esac
}
KINDS="mv4 mv6 in4 in6 raw4 raw6 rawq4 rawq6 nd6"

# 1. the paths carry traffic while open: the listeners can see it
check "open: status says open" test "$(status_field mode)" = open
for k in $KINDS; do
	check "open: $(what $k) arrives ($(fam $k))" passes $k
done

# 2. isolated, by the staff button
ctl disconnect >/dev/null
check_within "isolated and verified (status: mode, verified)" 10 isolated_verified

# 3. nothing gets through, either way, however it is sent
ip -n "$EP" link add link to-net name ndmv1 netns "$Y" type macvlan mode bridge &&
	addrs "$Y" ndmv1 "$NEW4" "$NEW6" || fail "a macvlan made in Y on ep's uplink while isolated"
for k in $KINDS new4 new6; do
	check "isolated: $(what $k): nothing arrives ($(fam $k))" none_arrive $k
done

# 4. the management channel still works: signed round trips over both
# families, kakurid's own connections to the CSIRT
check "isolated: a signed status command round trip over IPv6" \
	test "$(send_result "$(sign carol status)")" = done
st4() {
	ip netns exec "$PEER" "$KAKURICTL" send --json --to "$EP4:7443" \
		--cert "$PKI/op-ca.crt" --key "$PKI/op-ca.key" --agent-id "$AGENT_ID" "$1" 2>/dev/null |
		jq -r '.receipts[0].result' 2>/dev/null
}
check "isolated: a signed status command round trip over IPv4" test "$(st4 "$(sign carol status)")" = done
for v in 4 6; do
	eval peer=\$PEER$v
	check "isolated: kakurid's uid -> CSIRT 7444 (IPv$v)" \
		ip netns exec "$EP" setpriv --reuid=65534 --regid=65534 --clear-groups "$NETPROBE" tcp "$peer" 7444
done
check "isolated: still verified" isolated_verified
# status counts what the netdev table's chains dropped, both ways
ing=$(ctl status --json | jq '.counters.ingress.packets // 0')
egr=$(ctl status --json | jq '.counters.egress.packets // 0')
check "status counts frames dropped at ingress ($ing)" test "$ing" -gt 0
check "status counts frames dropped at egress ($egr)" test "$egr" -gt 0
# root cannot take the netdev table away: kakurid owns it
ip netns exec "$EP" nft delete table netdev kakuri 2>/dev/null
check "root's 'nft delete table netdev kakuri' leaves it in place" \
	ip netns exec "$EP" nft list table netdev kakuri
check "after root's attempt: $(what raw4): nothing arrives (IPv4)" none_arrive raw4

# the tables outlive kakurid, and a restarted kakurid takes them back
stop_kakurid -TERM
for k in mv4 mv6 raw4 raw6; do
	check "kakurid stopped: $(what $k): nothing arrives ($(fam $k))" none_arrive $k
done
start_kakurid || die "kakurid restarts"
check "restarted: the CSIRT channel is listening" until_ok 20 channel_up
check_within "restarted: isolated and verified" 10 isolated_verified

# 6. a NIC appearing while isolated is covered within 10 s
ip -n "$EP" link add ndnic9 type veth peer name ndnic9-net netns "$NET" &&
	addrs "$NET" ndnic9-net "$HP4" "$HP6" && addrs "$EP" ndnic9 "$EPHP4" "$EPHP6" &&
	ip -n "$EP" link add link ndnic9 name ndmv9 netns "$X" type macvlan mode bridge &&
	addrs "$X" ndmv9 "$XHP4" "$XHP6" || die "a NIC hotplugged into ep"
HPMAC=$(mac_of "$NET" ndnic9-net) HPDEV=ndnic9
listen_udp "$NET" "$NETRX" $PORT "$HP4" "$HP6"
HPKINDS="hp4 hp6 hpraw4 hpraw6"
for k in $HPKINDS; do
	check_within "hotplugged NIC: $(what $k) is dropped within 10 s ($(fam $k))" 10 dropped $k
	check "hotplugged NIC: $(what $k): nothing arrives ($(fam $k))" none_arrive $k
done
check "isolated with the hotplugged NIC: still verified" isolated_verified

# the chains hook devices by name: a renamed NIC is covered under its new
# name within 10 s (root renames it down, then brings it up again); the
# rename unhooked it meanwhile, so it is an alert (t-past-hooks)
ip -n "$EP" link set ndnic9 down && ip -n "$EP" link set ndnic9 name ndren9 &&
	ip -n "$EP" link set ndren9 up || fail "rename the hotplugged NIC"
HPDEV=ndren9
for k in hpraw4 hpraw6; do
	check_within "renamed NIC: $(what $k) is dropped within 10 s ($(fam $k))" 10 dropped $k
	check "renamed NIC: $(what $k): nothing arrives ($(fam $k))" none_arrive $k
done
check_within "isolated with the renamed NIC: the rename is an alert (interface-renamed), not verified" 10 \
	bash -c "'$KAKURICTL' -s '$SOCK' status --json | jq -e '.mode == \"isolated\" and .verified == false and (.tamper | map(.result) | index(\"interface-renamed\"))'"

# 5. a signed release over the channel opens every path again
release_signed
for k in $KINDS new4 new6 $HPKINDS; do
	check "released: $(what $k) arrives again ($(fam $k))" passes $k
done
summary
[ "$FAILED" -eq 0 ]
