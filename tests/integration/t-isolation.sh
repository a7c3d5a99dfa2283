#!/usr/bin/env bash
# The staff button isolates for real: TCP, UDP and ICMP over IPv4 and IPv6
# before and after, connections made before isolation die, the CSIRT peer
# still reaches the management ports (and nothing else), kakurid's own
# uid may connect out to the CSIRT, forwarded container traffic is dropped.
. "$(dirname "$0")/lib.sh"
need
echo "== isolation (staff disconnect)"
topology || { fail "topology"; summary; exit 1; }
write_policy
for a in "$EP4" "$EP6"; do serve "$EP" "$a" 7443; serve "$EP" "$a" 22; done
for a in "$NET4" "$NET6"; do serve "$NET" "$a" 8080; serve "$NET" "$a" 5353; done
for a in "$PEER4" "$PEER6"; do serve "$PEER" "$a" 7444; done
# every server answers before anything is measured (bounded)
for v in 4 6; do
	eval net=\$NET$v ep=\$EP$v peer=\$PEER$v
	until_ok 5 reach "$PEER" tcp "$ep" 7443; until_ok 5 reach "$PEER" tcp "$ep" 22
	until_ok 5 reach "$EP" tcp "$net" 8080; until_ok 5 reach "$EP" tcp "$net" 5353
	until_ok 5 reach "$EP" tcp "$peer" 7444
done
start_kakurid || { fail "kakurid starts"; summary; exit 1; }

# The endpoint's paths to and from the internet, and a container's: as
# check before the isolation, as refute (" blocked") after it.
internet_paths() {	# check|refute before|after blocked-suffix
	local verb=$1 when=$2 b=$3 v net ep
	for v in 4 6; do
		eval net=\$NET$v ep=\$EP$v
		$verb "$when: TCP ep -> internet$b (IPv$v)" reach "$EP" tcp "$net" 8080
		$verb "$when: UDP ep -> internet$b (IPv$v)" reach "$EP" udp "$net" 5353
		$verb "$when: ICMP ep -> internet$b (IPv$v)" ping_ok "$EP" "$net"
		$verb "$when: internet -> ep port 22$b (IPv$v)" reach "$NET" tcp "$ep" 22
		$verb "$when: container -> internet, forwarded$b (IPv$v)" reach "$CT" tcp "$net" 8080
	done
}

check "status says open before" test "$(status_field mode)" = open
internet_paths check before ""

# a connection made before the isolation
GATE="$WORK/gate"
ip netns exec "$EP" "$NETPROBE" hold "$NET4" 8080 "$GATE" 700 >"$WORK/hold.out" &
HOLD=$!; PIDS+=($HOLD)
check_within "long-lived TCP connection established before isolation" 5 grep -q ready "$WORK/hold.out"

out=$(ctl disconnect -m "fake virus popup" 2>&1); rc=$?
check "kakurictl disconnect exits 0" test $rc -eq 0
check "disconnect prints the guidance (keep powered on)" grep -q "switched on" <<<"$out"
check "disconnect prints the desk contact from the policy" grep -q "CSIRT test desk" <<<"$out"
out_ja=$(LANG=ja_JP.UTF-8 LC_ALL= ctl disconnect 2>&1)
check "guidance in Japanese under a Japanese locale" grep -q "電源" <<<"$out_ja"
check "status says isolated" test "$(status_field mode)" = isolated
EPISODE=$(status_field episode)
check "an episode id of 32 hex digits" grep -Eq '^[0-9a-f]{32}$' <<<"$EPISODE"
check "disconnect twice keeps one episode (idempotent)" test "$(ctl disconnect --json | jq -r .episode)" = "$EPISODE"
check "status by names the local user" grep -q "uid=0" <<<"$(status_field by)"
check "table inet kakuri is listed with comments" \
	bash -c "ip netns exec $EP nft list table inet kakuri | grep -q 'drop everything else'"

internet_paths refute after " blocked"
for v in 4 6; do
	eval net=\$NET$v ep=\$EP$v peer=\$PEER$v
	refute "after: internet -> ep management port blocked (IPv$v)" reach "$NET" tcp "$(eval echo \$EPN$v)" 7443
	check "after: CSIRT peer -> ep management port 7443 (IPv$v)" reach "$PEER" tcp "$ep" 7443
	refute "after: CSIRT peer -> ep port 22 blocked (IPv$v)" reach "$PEER" tcp "$ep" 22
	refute "after: CSIRT peer -> ep management port over UDP blocked (IPv$v)" reach "$PEER" udp "$ep" 7443
	refute "after: ICMP CSIRT peer -> ep blocked (IPv$v)" ping_ok "$PEER" "$ep"
	check "after: kakurid's uid (nobody) -> CSIRT 7444 (IPv$v)" \
		ip netns exec "$EP" setpriv --reuid=65534 --regid=65534 --clear-groups "$NETPROBE" tcp "$peer" 7444
	refute "after: root -> CSIRT 7444 blocked (not kakurid's uid) (IPv$v)" reach "$EP" tcp "$peer" 7444
	refute "after: container -> internet UDP, forwarded, blocked (IPv$v)" reach "$CT" udp "$net" 5353
done
check "loopback still works" ip netns exec "$EP" ping -c 1 -W 1 127.0.0.1

touch "$GATE"
wait $HOLD; rc=$?
check "a TCP connection opened before isolation stops passing data" test $rc -eq 1

# the netdev table's ingress chains drop what comes in over Ethernet
# (the container's veth included) before the inet hooks see it
in=$(ctl status --json | jq '.counters.input.packets + .counters.ingress.packets')
ing=$(ctl status --json | jq '.counters.ingress.packets')
check "status counts dropped inbound packets, input and ingress ($in)" test "$in" -gt 0
check "status counts frames dropped at the Ethernet devices' ingress ($ing)" test "$ing" -gt 0
check "audit timeline verifies" ctl log
check "audit has the disconnect with its message" bash -c "'$KAKURICTL' -s '$SOCK' log --json | jq -e '.entries[] | select(.action==\"disconnect\" and .message==\"fake virus popup\")'"
check "a CSIRT notification is queued in the outbox" bash -c "ls '$STATE'/outbox/*.dsse '$STATE'/outbox/*.pend 2>/dev/null | grep -q ."
summary
[ "$FAILED" -eq 0 ]
