#!/usr/bin/env bash
# Isolation on a device without a link-layer header (a mobile broadband
# modem's wwan0 in raw-IP mode; tun; WireGuard), with real packets over
# IPv4 and IPv6.  Root malware with an AF_PACKET socket on such a device
# sends IP packets that never meet the inet hooks, and the modem carries
# them to the world; the netdev table's Ethernet chains do not see them
# either (there is no Ethernet header to match).  Here a tun device in ep
# whose packets a relay (tests/integration/tunrelay.c) carries to one in
# the internet namespace stands for the modem.  Each path is first shown
# to carry traffic, then nothing while isolated (the management channel
# over the modem still working, both families), nor while kakurid is
# stopped, nor on a modem that appears while isolated, then traffic again
# after a signed release.
. "$(dirname "$0")/lib.sh"
need
TUNRELAY="$TOP/build/tunrelay"
need_built "$RAWSEND"
need_built "$TUNRELAY"
[ -c /dev/net/tun ] || unable "no /dev/net/tun for the modem's stand-in" "/dev/net/tun"
echo "== isolation on a raw-IP device (a modem's stand-in): AF_PACKET packets, the stack, inbound, hotplug"
topology || die "topology"
PORT=9556
NETRX="$WORK/ip-net.rx" EPRX="$WORK/ip-ep.rx"
M4=198.18.7.1 M6=2001:db8:7::1 W4=198.18.7.2 W6=2001:db8:7::2
H4=198.18.8.1 H6=2001:db8:8::1 HW4=198.18.8.2 HW6=2001:db8:8::2

# modem NAME_EP NAME_NET EP4 EP6 NET4 NET6: a raw-IP link from ep to the
# internet namespace, carried by a relay (bounded: 600 s)
modem() {
	local out="$WORK/relay-$1.out" i
	"$TUNRELAY" "$EP" "$1" "$NET" "$2" 600 >"$out" 2>&1 &
	PIDS+=($!)
	for i in $(seq 1 100); do grep -q ready "$out" && break; sleep 0.05; done
	grep -q ready "$out" || return 1
	ip -n "$EP" addr add "$3/24" dev "$1" &&
		ip -n "$EP" addr add "$4/64" dev "$1" nodad &&
		ip -n "$EP" link set "$1" up &&
		ip -n "$NET" addr add "$5/24" dev "$2" &&
		ip -n "$NET" addr add "$6/64" dev "$2" nodad &&
		ip -n "$NET" link set "$2" up
}
modem wwsim0 wwsim1 "$M4" "$M6" "$W4" "$W6" || die "the modem's stand-in (tun relay)"
check "the modem's stand-in has no link-layer header (link/none)" \
	bash -c "ip -n '$EP' -j link show wwsim0 | jq -e '.[0].link_type == \"none\"'"

# every listener logs one line per datagram ("udp FROM")
listen_udp "$NET" "$NETRX" $PORT "$W4" "$W6"
listen_udp "$EP" "$EPRX" $PORT "$M4" "$M6"

# the CSIRT channel on; the far end of the modem is a CSIRT peer too, so
# that the management channel over the modem can be shown to survive
pki_setup || die "PKI setup"
write_policy "$(remote_agent_conf)" "$(remote_tls_conf)"
sed -i "s/peers = \[ \"$PEER4\", \"$PEER6\" \];/peers = [ \"$PEER4\", \"$PEER6\", \"$W4\", \"$W6\" ];/" "$POLICY"
grep -q "\"$W6\"" "$POLICY" || die "the modem's peer in the policy"
AGENT_ID=$(agent_init)
start_kakurid || die "kakurid starts"
check "the CSIRT channel is listening" until_ok 20 channel_up

raw_from_ep() { ip netns exec "$EP" "$RAWSEND" -l "$@" $PORT kakuri-netdev-ip >/dev/null 2>&1; }
send_probe() {
	case $1 in
	raw4) raw_from_ep wwsim0 - "$M4" "$W4" ;;	# AF_PACKET in ep
	raw6) raw_from_ep wwsim0 - "$M6" "$W6" ;;
	rawq4) raw_from_ep -q wwsim0 - "$M4" "$W4" ;;	# ... qdisc bypass
	rawq6) raw_from_ep -q wwsim0 - "$M6" "$W6" ;;
	stk4) udp_from "$EP" "$W4" ;;			# ep's stack
	stk6) udp_from "$EP" "$W6" ;;
	in4) udp_from "$NET" "$M4" ;;			# the world -> ep
	in6) udp_from "$NET" "$M6" ;;
	hp4) raw_from_ep wwsim2 - "$H4" "$HW4" ;;	# the hotplugged modem
	hp6) raw_from_ep wwsim2 - "$H6" "$HW6" ;;
	esac
	return 0
}
arrival() {
	case $1 in
	raw4|rawq4|stk4) echo "$NETRX udp $M4" ;;
	raw6|rawq6|stk6) echo "$NETRX udp $M6" ;;
	in4) echo "$EPRX udp $W4" ;;
	in6) echo "$EPRX udp $W6" ;;
	hp4) echo "$NETRX udp $H4" ;;
	hp6) echo "$NETRX udp $H6" ;;
	esac
}
what() {
	case $1 in
	rawq*) echo "AF_PACKET IP packet out of the modem (PACKET_QDISC_BYPASS)" ;;
	raw*) echo "AF_PACKET IP packet out of the modem" ;;
	stk*) echo "ep's UDP over the modem" ;;
	in*) echo "the world -> ep over the modem" ;;
	hp*) echo "AF_PACKET IP packet out of a modem plugged in while isolated" ;;
	esac
}
# signed status over the modem: from its far end to ep's modem address
st_modem() {
	ip netns exec "$NET" "$KAKURICTL" send --json --to "$1" \
		--cert "$PKI/op-ca.crt" --key "$PKI/op-ca.key" --agent-id "$AGENT_ID" \
		"$(sign carol status)" 2>/dev/null | jq -r '.receipts[0].result' 2>/dev/null
}
egress_ip_drops() {
	ip netns exec "$EP" nft list chain netdev kakuri egress_ip 2>/dev/null |
		grep "drop everything else" |
		sed -n 's/.*counter packets \([0-9]*\).*/\1/p'
}
KINDS="raw4 raw6 rawq4 rawq6 stk4 stk6 in4 in6"

# 1. the paths carry traffic while open
for k in $KINDS; do
	check "open: $(what $k) arrives ($(fam $k))" passes $k
done
check "open: a signed status over the modem (IPv4)" test "$(st_modem "$M4:7443")" = done

# 2. isolated, by the staff button: the modem has chains of its own
ctl disconnect >/dev/null
check_within "isolated and verified" 10 isolated_verified
check "the netdev table hooks the modem: chains ingress_ip and egress_ip on wwsim0" \
	bash -c "ip netns exec '$EP' nft list table netdev kakuri | grep -A1 'chain egress_ip' | grep -q 'devices = { wwsim0 }\|device \"wwsim0\"' &&
		ip netns exec '$EP' nft list chain netdev kakuri ingress_ip | grep -q wwsim0"

# 3. nothing gets through, either way, however it is sent
for k in $KINDS; do
	check "isolated: $(what $k): nothing arrives ($(fam $k))" none_arrive $k
done
d=$(egress_ip_drops)
check "the modem's egress chain counted the drops (${d:-none})" test "${d:-0}" -gt 0

# 4. the management channel over the modem still works, both families
check "isolated: a signed status over the modem (IPv4)" test "$(st_modem "$M4:7443")" = done
check "isolated: a signed status over the modem (IPv6)" test "$(st_modem "[$M6]:7443")" = done
check "isolated: still verified" isolated_verified

# the tables outlive kakurid, and a restarted kakurid takes them back
stop_kakurid -TERM
for k in raw4 raw6; do
	check "kakurid stopped: $(what $k): nothing arrives ($(fam $k))" none_arrive $k
done
start_kakurid || die "kakurid restarts"
check "restarted: the CSIRT channel is listening" until_ok 20 channel_up
check_within "restarted: isolated and verified" 10 isolated_verified

# 5. a modem plugged in while isolated is covered within 10 s
modem wwsim2 wwsim3 "$H4" "$H6" "$HW4" "$HW6" || die "a second modem while isolated"
listen_udp "$NET" "$NETRX" $PORT "$HW4" "$HW6"
for k in hp4 hp6; do
	check_within "hotplugged modem: $(what $k) is dropped within 10 s ($(fam $k))" 10 dropped $k
	check "hotplugged modem: $(what $k): nothing arrives ($(fam $k))" none_arrive $k
done
check_within "isolated with the hotplugged modem: verified" 10 isolated_verified

# a device of a link type the netdev table has no chains for (a tap made
# PPP with TUNSETLINK stands for a modem's ppp0): status names it
cat >"$WORK/mkppp.py" <<'EOF'
import fcntl, os, struct, sys
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", sys.argv[1].encode(), 0x0002 | 0x1000))
fcntl.ioctl(fd, 0x400454cd, 512)	# TUNSETLINK: ARPHRD_PPP
fcntl.ioctl(fd, 0x400454cb, 1)		# TUNSETPERSIST
EOF
if command -v python3 >/dev/null && ip netns exec "$EP" python3 "$WORK/mkppp.py" ppsim0; then
	check_within "a PPP device while isolated: status names it in not_covered" 10 \
		bash -c "'$KAKURICTL' -s '$SOCK' status --json | jq -e '.not_covered | test(\"ppsim0 \\\\(link type 512\\\\)\")'"
	check "a PPP device while isolated: not verified" test "$(status_field verified)" = false
	ip -n "$EP" link del ppsim0
	check_within "the PPP device gone: verified again" 10 isolated_verified
else
	fail "a tap made PPP (python3, TUNSETLINK)"
fi

# a raw-IP device WITH a link-layer header (a tap made NONE with
# TUNSETLINK keeps its 14-byte header): a packet socket's frame puts the
# network header 14 bytes in, under bytes its writer chose, so the rows
# would read a DHCP request there while the device carries the whole
# frame; the guard row drops any frame with a link-layer header
cat >"$WORK/tapnone.py" <<'EOF'
import fcntl, os, select, struct, sys, time
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", sys.argv[1].encode(), 0x0002 | 0x1000))
fcntl.ioctl(fd, 0x400454cd, 65534)	# TUNSETLINK: ARPHRD_NONE
end = time.time() + float(sys.argv[3])
while time.time() < end:
    if select.select([fd], [], [], 0.2)[0]:
        data = os.read(fd, 65536)
        if b"kakuri-guard" in data:
            with open(sys.argv[2], "a") as f:
                f.write("frame\n")
EOF
TAPRX="$WORK/tapnone.rx"
: >"$TAPRX"
ip netns exec "$EP" python3 "$WORK/tapnone.py" tpn0 "$TAPRX" 300 & PIDS+=($!)
tap_up() { ip -n "$EP" link set tpn0 up 2>/dev/null; }
check_within "a tap made NONE is up in ep" 5 tap_up
tap_hooked() { ip netns exec "$EP" nft list chain netdev kakuri egress_ip | grep -q tpn0; }
check_within "the tap made NONE is hooked as a raw-IP device" 10 tap_hooked
tap_frames() {
	local i
	: >"$TAPRX"
	for i in 1 2 3 4 5; do
		ip netns exec "$EP" "$RAWSEND" -s 68 tpn0 ff:ff:ff:ff:ff:ff 0.0.0.0 \
			255.255.255.255 67 kakuri-guard >/dev/null 2>&1
		sleep 0.1
	done
	sleep 0.3
	test -s "$TAPRX"
}
refute "isolated: a frame with a link-layer header on a raw-IP device passes (a DHCP request 14 bytes in)" tap_frames
g=$(ip netns exec "$EP" nft list chain netdev kakuri egress_ip | grep "link-layer header" | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
check "the guard row counted them (${g:-none})" test "${g:-0}" -ge 5

# 6. a signed release opens every path again
release_signed
for k in $KINDS hp4 hp6; do
	check "released: $(what $k) arrives again ($(fam $k))" passes $k
done
check "released: the frame on the tap made NONE arrives" tap_frames
summary
[ "$FAILED" -eq 0 ]
