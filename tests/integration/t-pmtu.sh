#!/usr/bin/env bash
# Path MTU discovery on the management channel while isolated, IPv4 and
# IPv6.  The CSIRT peer sits behind a router whose link toward it has a
# smaller MTU (a VPN, PPPoE): TCP learns the path's MTU only from the
# router's "fragmentation needed" / "packet too big" errors, and without
# them every full-sized segment is lost for good: the session hangs as
# soon as it carries an upload or a report.  Both ways are tried with
# 256 KiB: kakurid's uid connecting out to the peer's management port,
# and the peer pulling from a listener on this host's management port.
# The fleet broker's session gets the same.
# The attack side: errors quoting any other flow stay dropped (a raw
# socket behind the input hook sees only the allowed ones), and nothing
# else gets through to or from the peer's other ports.
. "$(dirname "$0")/lib.sh"
need
# the system's: kakurid's uid (nobody) runs it too, and a python3 found
# first on root's PATH may sit where nobody cannot read
PY=/usr/bin/python3
[ -x "$PY" ] || unable "no $PY for the transfers and forged errors" "python3"
PTB="$TOP/tests/integration/ptb.py"
echo "== path MTU discovery on the management channel while isolated"
R="${P}-r" FAR="${P}-far"
addns "$EP" && addns "$R" && addns "$FAR" || die "namespaces"
EPR4=10.77.1.1 EPR6=fd77:1::1 REP4=10.77.1.2 REP6=fd77:1::2
RF4=10.77.2.1 RF6=fd77:2::1 FAR4=10.77.2.2 FAR6=fd77:2::2
link "$EP" to-r "$EPR4" "$EPR6" "$R" to-ep "$REP4" "$REP6"
link "$R" to-far "$RF4" "$RF6" "$FAR" to-r "$FAR4" "$FAR6"
# the router's side toward the peer takes 1280 bytes (the IPv6 minimum);
# the peer's own side stays 1500, so its MSS does not hide the hop
ip -n "$R" link set to-far mtu 1280 || die "a smaller MTU on the router"
ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
ip -n "$EP" route add default via "$REP4" && ip -n "$EP" -6 route add default via "$REP6" &&
	ip -n "$FAR" route add default via "$RF4" && ip -n "$FAR" -6 route add default via "$RF6" ||
	die "routes"
# the management peers are the far host's addresses; far's IPv4 address
# is the fleet broker's too (no broker runs: only its rows are looked at)
PEER4=$FAR4 PEER6=$FAR6
write_policy "" "fleet: { broker = \"mqtts://$FAR4:8883\"; ca = \"$WORK/no-ca.pem\"; cert = \"$WORK/no.crt\"; };"
BIG=262144
for a in "$FAR4" "$FAR6"; do
	ip netns exec "$FAR" "$PY" "$PTB" serve "$a" 7444 300 & PIDS+=($!)
done
for a in "$EPR4" "$EPR6"; do
	ip netns exec "$EP" "$PY" "$PTB" serve "$a" 7443 300 & PIDS+=($!)
	ip netns exec "$EP" "$NETPROBE" serve "$a" 22 300 & PIDS+=($!)
done
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
push_out() { ip netns exec "$EP" "${NOBODY[@]}" "$PY" "$PTB" push "$1" 7444 "$BIG" "${2:-15}"; }
pull_in() { ip netns exec "$FAR" "$PY" "$PTB" pull "$1" 7443 "$BIG" "${2:-15}"; }
# a fresh path MTU: forget what the open transfers learned
forget_pmtu() { ip -n "$EP" route flush cache; ip -n "$EP" -6 route flush cache; }
pmtu_of() { ip -n "$EP" ${2:+-6} route get "$1" | grep -o 'mtu [0-9]*' | head -1; }

# root's transfer: refused while isolated (not kakurid's uid)
push_root() { ip netns exec "$EP" "$PY" "$PTB" push "$1" 7444 1000 3; }
for v in 4 6; do
	eval far=\$FAR$v ep=\$EPR$v
	check_within "open: $BIG bytes ep -> far's management port (IPv$v)" 20 push_out "$far"
	check_within "open: $BIG bytes far <- ep's management port (IPv$v)" 20 pull_in "$ep"
	check "open: root's transfer to far's management port passes (IPv$v)" push_root "$far"
	check_within "open: far -> ep port 22 passes (IPv$v)" 5 reach "$FAR" tcp "$ep" 22
done
forget_pmtu
check "ep knows no path MTU toward far before the isolation (IPv4)" \
	test -z "$(pmtu_of "$FAR4")"
check "ep knows no path MTU toward far before the isolation (IPv6)" \
	test -z "$(pmtu_of "$FAR6" 6)"

start_kakurid || die "kakurid starts"
ctl disconnect >/dev/null
check "isolated and verified" test "$(status_field mode)/$(status_field verified)" = isolated/true
check "the too-big rows are in table inet kakuri (peers both ways, the IPv4 broker)" \
	bash -c "ip netns exec $EP nft list table inet kakuri | grep -c 'too big, quoting' | grep -qx 5"
# the ingress chain of the Ethernet devices (no raw-IP device here, so
# no ingress_ip chain: the unit's golden file has its rows)
check "the too-big rows are in table netdev kakuri's ingress chain" \
	bash -c "ip netns exec $EP nft list chain netdev kakuri ingress | grep -c 'too big, quoting' | grep -qx 5"

for v in 4 6; do
	eval far=\$FAR$v ep=\$EPR$v
	# bounded: without the errors a transfer hangs until its timeout.
	# The path MTU is kept by the route, not the socket: forgotten
	# before each way, or the second would start with the first's
	six=$([ $v = 6 ] && echo 6)
	forget_pmtu
	check "isolated: no path MTU toward far known before pushing (IPv$v)" test -z "$(pmtu_of "$far" $six)"
	check "isolated: $BIG bytes from kakurid's uid to far's management port (IPv$v)" push_out "$far" 20
	check "isolated: ep learned the path MTU toward far pushing (IPv$v)" \
		test "$(pmtu_of "$far" $six)" = "mtu 1280"
	forget_pmtu
	check "isolated: no path MTU toward far known before pulling (IPv$v)" test -z "$(pmtu_of "$far" $six)"
	check "isolated: $BIG bytes from ep's management port to far (IPv$v)" pull_in "$ep" 20
	check "isolated: ep learned the path MTU toward far pulling (IPv$v)" \
		test "$(pmtu_of "$far" $six)" = "mtu 1280"
	refute "isolated: root -> far's management port blocked (not kakurid's uid) (IPv$v)" \
		push_root "$far"
	refute "isolated: far -> ep port 22 blocked (IPv$v)" reach "$FAR" tcp "$ep" 22
done

# forged errors: a raw socket in ep records those that pass the input hook
RX="$WORK/ptb.rx"
for v in 4 6; do
	: >"$RX"
	ip netns exec "$EP" timeout 30 "$PY" "$PTB" catch $v TAG 25 "$RX" >"$WORK/catch$v.out" 2>&1 &
	CATCH=$!; PIDS+=($CATCH)
	check_within "the raw ICMP listener in ep is up (IPv$v)" 5 grep -q ready "$WORK/catch$v.out"
	eval far=\$FAR$v ep=\$EPR$v
	other=$([ $v = 4 ] && echo 192.0.2.99 || echo 2001:db8:9::99)
	# forge QSRC QDST QSPORT QDPORT TAG [TYPE CODE [PROTO]]: an error to
	# ep from the router, from where a real one comes.  All from one CPU:
	# veth queues a packet on its sender's CPU, so one CPU keeps them in
	# the order sent, whatever the other is doing
	forge() { ip netns exec "$R" taskset -c 0 "$PY" "$PTB" forge "$ep" "$@"; }
	if [ $v = 4 ]; then unreach="3 3" wrongcode="3 1" toobig="3 4"
	else unreach="1 4" wrongcode="1 0" toobig="2 0"; fi
	# TAG|must|QSRC QDST QSPORT QDPORT|TYPE CODE [PROTO]|check.  Those
	# to be dropped are sent first: on the same path, had they passed,
	# they would be in the file when those that arrive are.  The broker
	# is far's IPv4 address: over IPv6, 8883 is no one's.  ICMPv6's code
	# is ignored by receivers (RFC 4443): any is taken.
	rows="a|drop|$ep $other 40002 7444||an error quoting a segment to another address is dropped
p|drop|$ep $far 40003 8080||an error quoting another port of far is dropped
b|drop|$ep $other 7443 40004||an error quoting a reply to another address is dropped
i|drop|$far $ep 7444 40005||an error quoting far's segment to ep is dropped
u|drop|$ep $far 40007 7444|$unreach|port unreachable quoting a segment to far's management port is dropped
w|drop|$ep $far 40008 7444|$wrongcode|another unreachable code quoting a segment to far's management port is dropped
d|drop|$ep $far 40009 7444|$toobig 17|an error quoting UDP to far's management port is dropped"
	[ $v = 6 ] && rows="$rows
k|drop|$ep $far 40006 8883||an error quoting a segment to port 8883 of far over IPv6 (no broker) is dropped"
	rows="$rows
m|arrive|$ep $far 40000 7444||a forged error quoting a segment to far's management port arrives
r|arrive|$ep $far 7443 40001||a forged error quoting a reply from ep's management port arrives"
	[ $v = 4 ] && rows="$rows
k|arrive|$ep $far 40006 8883||a forged error quoting a segment to the fleet broker arrives"
	[ $v = 6 ] && rows="$rows
c|arrive|$ep $far 40010 7444|2 1|a packet too big of code 1 arrives too"
	# forge QSRC QDST QSPORT QDPORT TAG [TYPE CODE [PROTO]]: an error to
	# ep from the router, from where a real one comes.  All from one CPU:
	# veth queues a packet on its sender's CPU, so one CPU keeps them in
	# the order sent, whatever the other is doing
	while IFS='|' read -r tag must quote icmp what; do
		# shellcheck disable=SC2086 # words on purpose
		ip netns exec "$R" taskset -c 0 "$PY" "$PTB" forge "$ep" \
			$quote "TAG$tag$v" $icmp </dev/null
	done <<<"$rows"
	# those that arrive first (waited for), then those that must not have
	for pass in arrive drop; do
		while IFS='|' read -r tag must quote icmp what; do
			[ "$must" = "$pass" ] || continue
			if [ "$must" = arrive ]; then
				check_within "$what (IPv$v)" 5 grep -q "got TAG$tag$v" "$RX"
			else
				refute "$what (IPv$v)" grep -q "got TAG$tag$v" "$RX"
			fi
		done <<<"$rows"
	done
	kill "$CATCH" 2>/dev/null; wait "$CATCH" 2>/dev/null
done

summary
[ "$FAILED" -eq 0 ]
