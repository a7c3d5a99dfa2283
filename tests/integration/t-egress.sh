#!/usr/bin/env bash
# Graded containment: egress mode blocks mail and web egress only (also
# for forwarded container traffic and for connections made before), and
# leaves everything else and the management channel working.
. "$(dirname "$0")/lib.sh"
need
echo "== egress mode (mail + web blocked)"
topology || { fail "topology"; summary; exit 1; }
for a in "$NET4" "$NET6"; do
	for port in 25 587 80 443 22 5000; do serve "$NET" "$a" $port; done
done
for a in "$EP4" "$EP6"; do serve "$EP" "$a" 7443; serve "$EP" "$a" 22; done
for a in "$PEER4" "$PEER6"; do serve "$PEER" "$a" 443; done
# every server answers before anything is measured (bounded)
for a in "$NET4" "$NET6"; do
	for port in 25 587 80 443 22 5000; do until_ok 5 reach "$EP" tcp "$a" $port; done
done
for a in "$EP4" "$EP6"; do until_ok 5 reach "$PEER" tcp "$a" 7443; until_ok 5 reach "$PEER" tcp "$a" 22; done
for a in "$PEER4" "$PEER6"; do until_ok 5 reach "$EP" tcp "$a" 443; done
# 443 is also a management port here: the CSIRT channel must stay exempt
write_policy 'disconnect_mode = "egress";'
sed -i 's/ports = \[ 7443, 7444 \];/ports = [ 7443, 443 ];/' "$POLICY"
start_kakurid || { fail "kakurid starts"; summary; exit 1; }

GATE="$WORK/gate"
ip netns exec "$EP" "$NETPROBE" hold "$NET4" 443 "$GATE" 700 >"$WORK/hold.out" &
HOLD=$!; PIDS+=($HOLD)
check_within "a web connection is open before the isolation" 5 grep -q ready "$WORK/hold.out"

ctl disconnect >/dev/null
check "status says egress" test "$(status_field mode)" = egress
for v in 4 6; do
	eval net=\$NET$v ep=\$EP$v peer=\$PEER$v
	for port in 25 587 80 443; do
		refute "egress: TCP $port to the internet blocked (IPv$v)" reach "$EP" tcp "$net" $port
		refute "egress: forwarded TCP $port from the container blocked (IPv$v)" reach "$CT" tcp "$net" $port
	done
	refute "egress: UDP 443 (QUIC) blocked (IPv$v)" reach "$EP" udp "$net" 443
	check "egress: TCP 22 still allowed (IPv$v)" reach "$EP" tcp "$net" 22
	check "egress: TCP 5000 still allowed (IPv$v)" reach "$EP" tcp "$net" 5000
	check "egress: UDP 5000 still allowed (IPv$v)" reach "$EP" udp "$net" 5000
	check "egress: ICMP still allowed (IPv$v)" ping_ok "$EP" "$net"
	check "egress: forwarded TCP 22 from the container allowed (IPv$v)" reach "$CT" tcp "$net" 22
	check "egress: inbound to ep port 22 allowed (IPv$v)" reach "$NET" tcp "$ep" 22
	check "egress: CSIRT peer on 443 exempt as a management port (IPv$v)" reach "$EP" tcp "$peer" 443
done
touch "$GATE"; wait $HOLD; rc=$?
check "egress: a web connection made before is cut" test $rc -eq 1
out=$(ctl disconnect 2>&1)
check "egress: guidance says mail and web are blocked" grep -qi "mail" <<<"$out"

# a macvlan on ep's uplink in egress mode: its siblings' mail and web
# meet neither the inet hooks nor a netdev table (only isolation has one)
ip -n "$EP" link add egmv0 link to-net type macvlan mode bridge
check_within "egress: a macvlan in ep is named in not_covered" 5 \
	bash -c "'$KAKURICTL' -s '$SOCK' status --json | jq -e '.not_covered | test(\"egmv0 \\\\(macvlan\\\\)\")'"
check "egress: with the macvlan, status says verified: false" test "$(status_field verified)" = false
check_within "egress: the audit log has it (interface-not-covered)" 5 \
	audit_has '.action=="tamper" and .result=="interface-not-covered" and .interface=="egmv0"'

# escalation: the same episode goes from egress to isolated
EPISODE=$(status_field episode)
sed -i 's/disconnect_mode = "egress";//' "$POLICY"
reloads() { ctl log --json | jq '[.entries[] | select(.action=="policy-reload" and .result=="applied")] | length'; }
r0=$(reloads)
kill -HUP "$KPID"
reloaded_since() { test "$(reloads)" -gt "$1"; }
check_within "the policy is reloaded (audit log)" 5 reloaded_since "$r0"
ctl disconnect >/dev/null
check "escalation to isolated" test "$(status_field mode)" = isolated
check "escalation keeps the episode" test "$(status_field episode)" = "$EPISODE"
refute "isolated: TCP 22 now blocked" reach "$EP" tcp "$NET4" 22
check_within "isolated: the netdev table covers the macvlan (not in not_covered)" 5 \
	bash -c "'$KAKURICTL' -s '$SOCK' status --json | jq -e '(.not_covered // \"\") | test(\"egmv0\") | not'"
summary
[ "$FAILED" -eq 0 ]
