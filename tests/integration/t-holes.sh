#!/usr/bin/env bash
# What "isolated" used to let through, with real packets over IPv4 and IPv6:
#  - UDP 68 -> 67 (546 -> 547) to and from ANY address: a root process
#    exchanged data with an internet host over the DHCP ports;
#  - ICMPv6 types 133-136 to and from any address: the same over
#    neighbour-discovery messages from a raw socket;
#  - frames a bridge forwards between its ports (VMs, containers on a
#    bridge) when br_netfilter is absent: they never meet the inet hooks.
# And what must keep working: DHCP to a server the policy lists, and
# neighbour discovery (caches flushed, the management channel over IPv6).
# The bridge table is handled like inet kakuri: read back, re-adopted by a
# restarted kakurid, removed by a signed release.
. "$(dirname "$0")/lib.sh"
need
echo "== holes in isolated: DHCP ports, neighbour discovery, bridged traffic"
topology || { fail "topology"; summary; exit 1; }
VM="${P}-vm"
VM4=198.18.0.2 VM6=2001:db8:4::2 BRNET4=198.18.0.1 BRNET6=2001:db8:4::1
# a bridge in ep between a "VM" namespace and the internet side
addns "$VM" &&
	ip -n "$EP" link add br0 type bridge &&
	ip -n "$EP" link add vm-port type veth peer name eth0 netns "$VM" &&
	ip -n "$EP" link add net-port type veth peer name br-side netns "$NET" &&
	ip -n "$EP" link set vm-port master br0 &&
	ip -n "$EP" link set net-port master br0 &&
	for l in br0 vm-port net-port; do ip -n "$EP" link set "$l" up; done &&
	ip -n "$VM" addr add "$VM4/24" dev eth0 && ip -n "$VM" addr add "$VM6/64" dev eth0 nodad &&
	ip -n "$NET" addr add "$BRNET4/24" dev br-side && ip -n "$NET" addr add "$BRNET6/64" dev br-side nodad &&
	ip -n "$VM" link set eth0 up && ip -n "$NET" link set br-side up ||
	{ fail "bridge topology"; summary; exit 1; }
# what a host without br_netfilter has: bridged frames skip the IP hooks.
# Where the sysctls are missing, br_netfilter is not loaded: that is 0.
ip netns exec "$EP" sysctl -qw net.bridge.bridge-nf-call-iptables=0 \
	net.bridge.bridge-nf-call-ip6tables=0 net.bridge.bridge-nf-call-arptables=0 2>/dev/null
brnf() { ip netns exec "$EP" sysctl -n "net.bridge.bridge-nf-call-$1" 2>/dev/null || echo 0; }
check "br_netfilter does not pass bridged IP traffic to the inet hooks in ep" \
	test "$(brnf iptables)$(brnf ip6tables)" = 00

# the internet host records every datagram and solicitation that reaches it
RX="$WORK/internet-received"
ip netns exec "$NET" "$NETPROBE" serve "$NET4" 67 300 "$RX" & PIDS+=($!)
ip netns exec "$NET" "$NETPROBE" serve "$NET6" 547 300 "$RX" & PIDS+=($!)
serve "$PEER" "$PEER4" 67; serve "$PEER" "$PEER6" 547
for a in "$PEER4" "$PEER6"; do serve "$PEER" "$a" 7444; done
serve "$EP" "$EP6" 7443
serve "$NET" "$BRNET4" 8080; serve "$NET" "$BRNET6" 8080
serve "$NET" "$BRNET4" 80; serve "$NET" "$BRNET6" 80
ip netns exec "$NET" "$NETPROBE" ndp-serve "$NET6" 300 "$RX" &
PIDS+=($!)

pki_setup || { fail "PKI setup"; summary; exit 1; }
write_policy "key = \"$PKI/agent.key\"; cert = \"$PKI/agent.crt\"; trust = \"$PKI/trust.conf\"; listen = \"\";"
# the CSIRT peer is also the DHCP server the policy lists
sed -i "s|ports = \[ 7443, 7444 \];|&\n  dhcp_servers = [ \"$PEER4\", \"$PEER6\" ];|" "$POLICY"
AGENT_ID=$(agent_init)

# an echo over UDP from the DHCP client port to the server port
udp67() { ip netns exec "$EP" "$NETPROBE" udp "$1" 67 700 68; }
udp547() { ip netns exec "$EP" "$NETPROBE" udp "$1" 547 700 546; }
ndp_exchange() { ip netns exec "$EP" "$NETPROBE" ndp "$NET6" 700; }
bridged() { reach "$VM" tcp "$BRNET4" 8080 && reach "$VM" tcp "$BRNET6" 8080; }
bridged_any() { reach "$VM" tcp "$BRNET4" 8080 || reach "$VM" tcp "$BRNET6" 8080 || ping_ok "$VM" "$BRNET4"; }

check_within "before: UDP 68 -> 67 exchange with the internet host (IPv4)" 5 udp67 "$NET4"
check "before: UDP 546 -> 547 exchange with the internet host (IPv6)" udp547 "$NET6"
check "before: ICMPv6 neighbour-discovery exchange with the internet host (raw socket)" ndp_exchange
check_within "before: the bridged namespace reaches the internet side (IPv4 and IPv6)" 5 bridged
check "before: the internet host recorded what reached it (UDP 67, UDP 547, NDP)" \
	bash -c "grep -q '^udp $EPN4' '$RX' && grep -q '^udp $EPN6' '$RX' && grep -q '^ndp ' '$RX'"

start_kakurid || { fail "kakurid starts"; summary; exit 1; }
ctl disconnect >/dev/null
check "isolated and verified" test "$(status_field mode)/$(status_field verified)" = isolated/true
check "table bridge kakuri is in force" \
	bash -c "ip netns exec $EP nft list table bridge kakuri | grep -q 'drop all bridged traffic'"

: >"$RX"
refute "isolated: UDP 68 -> 67 exchange with the internet host fails (IPv4)" udp67 "$NET4"
refute "isolated: UDP 546 -> 547 exchange with the internet host fails (IPv6)" udp547 "$NET6"
refute "isolated: neighbour-discovery exchange with the internet host fails" ndp_exchange
# one way is enough to carry data out: nothing may even arrive
check "isolated: the internet host received nothing over the DHCP ports or NDP ($(wc -l <"$RX") line(s))" \
	test ! -s "$RX"
refute "isolated: the bridged namespace is cut off (IPv4, IPv6, ICMP)" bridged_any
check "isolated: DHCP with the server the policy lists still works (IPv4)" udp67 "$PEER4"
check "isolated: DHCPv6 with the server the policy lists still works (IPv6)" udp547 "$PEER6"
fw=$(ctl status --json | jq '.counters.forward.packets')
check "status counts the dropped bridged frames with the forwarded ones ($fw)" test "${fw:-0}" -gt 0

# neighbour discovery still works: every cache flushed, then IPv6 both ways
ip -n "$EP" -6 neigh flush all; ip -n "$PEER" -6 neigh flush all
check "isolated, caches flushed: CSIRT peer -> management port over IPv6" reach "$PEER" tcp "$EP6" 7443
ip -n "$EP" -6 neigh flush all; ip -n "$PEER" -6 neigh flush all
check "isolated, caches flushed: kakurid's uid -> CSIRT over IPv6" \
	ip netns exec "$EP" setpriv --reuid=65534 --regid=65534 --clear-groups "$NETPROBE" tcp "$PEER6" 7444
check "the endpoint resolved the peer's address (neighbour entry with a link-layer address)" \
	bash -c "ip -n $EP -6 neigh show $PEER6 | grep -q lladdr"

# a restarted kakurid re-adopts both tables
stop_kakurid -TERM
refute "after kakurid stopped: the bridged namespace still cut off" bridged_any
start_kakurid || { fail "kakurid restarts"; summary; exit 1; }
check "restarted: isolated and verified (both tables read back)" \
	test "$(status_field mode)/$(status_field verified)" = isolated/true
refute "restarted: the bridged namespace still cut off" bridged_any
# boot: kakurid --restore in a fresh namespace puts both tables in
BOOT="${P}-boot"
stop_kakurid -TERM
addns "$BOOT" && ip netns exec "$BOOT" "$KAKURID" --restore -f "$POLICY" >/dev/null 2>&1
check "boot: kakurid --restore puts bridge kakuri in a fresh namespace too" \
	bash -c "ip netns exec $BOOT nft list table bridge kakuri | grep -q 'drop all bridged traffic'"
start_kakurid || { fail "kakurid starts again"; summary; exit 1; }

# a signed release removes the bridge table as well
EPISODE=$(status_field episode)
TOKEN=$(sign alice release --episode "$EPISODE")
"$KAKURICTL" cosign -k "$PKI/bob.key" "$TOKEN" 2>/dev/null
check "a signed release applies" "$KAKURICTL" -s "$SOCK" apply "$TOKEN"
check "open after the release" test "$(status_field mode)" = open
check "the bridge table is gone after the release" bash -c "! ip netns exec $EP nft list table bridge kakuri"
check_within "released: the bridged namespace reaches the internet side again" 5 bridged
check "released: UDP 68 -> 67 with the internet host works again" udp67 "$NET4"

# egress covers bridged frames as it covers forwarded ones: web and mail
# from the bridged namespace are dropped, the rest passes
check "released: the bridged namespace reaches the web port (TCP 80)" reach "$VM" tcp "$BRNET4" 80
TOKEN=$(sign alice isolate --arg mode=egress)
check "a signed isolate in egress mode applies" "$KAKURICTL" -s "$SOCK" apply "$TOKEN"
check "egress and verified" test "$(status_field mode)/$(status_field verified)" = egress/true
check "table bridge kakuri is in force in egress" \
	bash -c "ip netns exec $EP nft list table bridge kakuri | grep -q 'egress: block web (TCP)'"
refute "egress: the bridged namespace's web traffic is blocked (IPv4, IPv6)" \
	bash -c "reach() { ip netns exec \$1 $NETPROBE \$2 \$3 \$4 700; }; reach $VM tcp $BRNET4 80 || reach $VM tcp $BRNET6 80"
check "egress: the bridged namespace's other traffic passes" bridged
summary
[ "$FAILED" -eq 0 ]
