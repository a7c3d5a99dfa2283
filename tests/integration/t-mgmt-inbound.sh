#!/usr/bin/env bash
# The fleet broker is an untrusted relay (DESIGN 9), not a CSIRT peer:
# while the host is isolated, nothing from the broker's address reaches a
# listener on the endpoint -- not one on the broker's port (which kakurid
# never listens on and anyone may bind) nor one on a management port --
# while kakurid's own session to the broker and the CSIRT's direct channel
# keep working.  The broker listens on an address of the CSIRT namespace
# that the policy does not list as a peer: first its IPv4 one, then
# (after a reload) its IPv6 one.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetlab.sh"
need
echo "== management channel: the broker cannot connect in while isolated"
BROKER4=192.0.2.20 BROKER6=2001:db8:1::20
fleet_lab
ip -n "$PEER" addr add "$BROKER4/24" dev to-ep || die "the broker's IPv4 address"
# deprecated: never the source address the CSIRT's own connections pick
ip -n "$PEER" addr add "$BROKER6/64" dev to-ep nodad preferred_lft 0 || die "the broker's IPv6 address"
# the broker's certificate names the addresses it is reached at
fleet_issue broker broker "subjectAltName=IP:$BROKER4,IP:$BROKER6" || die "the broker's certificate"

# agent_policy URL: the direct CSIRT channel on 7443, and the broker at URL
agent_policy() {
	BROKER_URL=$1
	write_policy "$(remote_agent_conf)" "$(remote_tls_conf)
$(fleet_conf "$PKI" '"tokyo"')"
}
agent_policy "mqtts://$BROKER4:$BROKER_PORT"
AGENT_ID=$(agent_init)
[ -n "$AGENT_ID" ] || die "kakurid --init"
fleet_agent "$PKI" "$AGENT_ID" tokyo || die "the agent's fleet certificate"
broker_start || { cat "$FLEET/mosquitto.out"; die "the broker starts"; }

# listeners an unprivileged user (nobody) opened on the endpoint: on the
# broker's port and on the collector's (a management port)
for a in "$EP4" "$EP6"; do
	for port in "$BROKER_PORT" 7444; do
		ip netns exec "$EP" setpriv --reuid=65534 --regid=65534 --clear-groups \
			"$NETPROBE" serve "$a" "$port" 300 &
		PIDS+=($!)
	done
done

# from SRC DST PORT: an echo from the CSIRT namespace's address SRC to
# DST:PORT on the endpoint passes
from() {
	local bind=$1 to=$2
	case $2 in *:*) bind="[$1]"; to="[$2]";; esac
	echo kakuri-probe | ip netns exec "$PEER" timeout 5 socat -T 2 - \
		"TCP:$to:$3,bind=$bind,connect-timeout=2" 2>/dev/null | grep -q kakuri-probe
}
for v in 4 6; do
	eval ep=\$EP$v broker=\$BROKER$v
	for port in "$BROKER_PORT" 7444; do
		check_within "open: the broker's address reaches nobody's listener on $port (IPv$v; the probe works)" \
			5 from "$broker" "$ep" "$port"
	done
done

start_kakurid || die "kakurid starts"
check "the CSIRT channel is listening" until_ok 20 channel_up
fleet_connected() { ctl status --json | jq -e --arg b "$1" '.fleet.broker == $b and (.fleet.state | test("^connected"))'; }
check_within "the fleet session to the broker is up (IPv4)" 20 fleet_connected "$BROKER4:$BROKER_PORT"

out=$(ctl disconnect -m "mgmt-inbound" 2>&1) || { echo "$out"; die "disconnect"; }
check "isolated" test "$(status_field mode)" = isolated

# isolated_checks V: what holds while isolated with the broker at $BROKER<V>
isolated_checks() {
	local v=$1 ep broker peer st port
	eval ep=\$EP$v broker=\$BROKER$v peer=\$PEER$v
	check_within "isolated: kakurid's own session to the broker is up (IPv$v)" 20 \
		fleet_connected "${BROKER_URL#mqtts://}"
	st=$(sign alice status)
	send_broker operator --json --agent "$AGENT_ID" --timeout 15000 "$st" >"$WORK/st$v.json" 2>/dev/null
	check "isolated: a signed status through the broker is done (IPv$v)" \
		jq -e '.receipts[0].result == "done"' "$WORK/st$v.json"
	st=$(sign alice status)
	send "$st" >"$WORK/direct$v.json" 2>"$WORK/direct$v.err"
	check "isolated: a signed status over the direct CSIRT channel is done (broker at IPv$v)" \
		jq -e '.receipts[0].result == "done"' "$WORK/direct$v.json"
	for port in "$BROKER_PORT" 7444; do
		refute "isolated: the broker's address cannot reach nobody's listener on $port (IPv$v)" \
			from "$broker" "$ep" "$port"
	done
	refute "isolated: nor can the CSIRT peer reach the broker's port, not a management port (IPv$v)" \
		from "$peer" "$ep" "$BROKER_PORT"
}
isolated_checks 4

# the broker at its IPv6 address: the policy reloaded while isolated
n=$(ctl log --json | jq '[.entries[] | select(.action == "policy-reload" and .result == "applied")] | length')
agent_policy "mqtts://[$BROKER6]:$BROKER_PORT"
kill -HUP "$KPID"
check_within "policy reloaded (broker at its IPv6 address)" 10 bash -c \
	"[ \$('$KAKURICTL' -s '$SOCK' log --json | jq '[.entries[] | select(.action == \"policy-reload\" and .result == \"applied\")] | length') -gt $n ]"
check "still isolated" test "$(status_field mode)" = isolated
isolated_checks 6
# the IPv4 address is no broker now: nothing from it either
refute "isolated: the former broker address cannot reach nobody's listener on $BROKER_PORT (IPv4)" \
	from "$BROKER4" "$EP4" "$BROKER_PORT"
check "the table's broker rows name it, the management sets do not" bash -c \
	"ip netns exec $EP nft list table inet kakuri | grep -q 'fleet broker' &&
	 ! ip netns exec $EP nft list set inet kakuri mgmt6 | grep -q '$BROKER6' &&
	 ! ip netns exec $EP nft list set inet kakuri mgmt_ports | grep -q '$BROKER_PORT'"
summary
[ "$FAILED" -eq 0 ]
