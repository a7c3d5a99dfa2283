#!/usr/bin/env bash
# The example broker configuration kakuri-csirt ships
# (examples/mosquitto/kakuri.conf and kakuri.acl) works as documented:
# Debian's Mosquitto, started in the CSIRT namespace with Debian's main
# configuration and the example in its conf.d (only the /etc paths moved
# into the scenario's directory, and the first example agent id replaced
# by a real agent's), carries a group isolate to an agent that has no
# listening port and the agent's report to a collector; its ACL keeps an
# agent's certificate off another agent's out topic and off the commands
# of a group that is not its own; its two listeners keep a PC's
# certificate from taking over another agent's session (the client id is
# the CN there) and from the CSIRT's listener, and the CSIRT's clients
# (from a CA of their own) from the agents'.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetlab.sh"
need
echo "== the example Mosquitto configuration (examples/mosquitto/)"
fleet_lab

EX="$TOP/examples/mosquitto"
ETC="$WORK/etc-mosquitto"
mkdir -p "$ETC/conf.d" "$ETC/certs" "$ETC/store"
cp "$FLEET/ca.pem" "$ETC/certs/fleet-ca.pem"
# the CSIRT clients' CA: the operator's and the collector's certificates
# (for the fleet lab's keys), at the CSIRT listener
CCA="$WORK/csirt-clients"
CSIRT_URL="mqtts://$PEER4:8884"
csirt_issue() {
	openssl req -new -key "$FLEET/$1.key" -subj "/CN=$1" -out "$CCA/$1.csr" 2>/dev/null &&
	openssl x509 -req -in "$CCA/$1.csr" -CA "$CCA/ca.pem" -CAkey "$CCA/ca.key" -CAcreateserial \
		-days 2 -out "$CCA/$1.crt" 2>/dev/null
}
mkdir -p "$CCA" && openssl genpkey -algorithm ed25519 -out "$CCA/ca.key" 2>/dev/null &&
	openssl req -x509 -new -key "$CCA/ca.key" -subj "/CN=csirt-clients-ca" -days 2 -out "$CCA/ca.pem" 2>/dev/null &&
	csirt_issue operator && csirt_issue collector || die "the CSIRT clients' CA"
cp "$CCA/ca.pem" "$ETC/certs/csirt-clients-ca.pem"
# kakurictl send --broker as the operator, at the CSIRT listener
send_csirt() {
	ip netns exec "$PEER" "$KAKURICTL" send --broker "$CSIRT_URL" --ca "$FLEET/ca.pem" \
		--cert "$CCA/operator.crt" --key "$FLEET/operator.key" "$@"
}
cp "$FLEET/broker.crt" "$FLEET/broker.key" "$ETC/certs/"
# Debian's /etc/mosquitto/mosquitto.conf, its paths in $ETC
cat >"$ETC/mosquitto.conf" <<EOF
persistence true
persistence_location $ETC/store/
log_dest file $ETC/mosquitto.log
include_dir $ETC/conf.d
EOF
sed "s|/etc/mosquitto/|$ETC/|g" "$EX/kakuri.conf" >"$ETC/conf.d/kakuri.conf"
check "the example's only changes here are its /etc/mosquitto paths" \
	bash -c "diff <(sed 's|$ETC/|/etc/mosquitto/|g' '$ETC/conf.d/kakuri.conf') '$EX/kakuri.conf'"

# the agent: no listener, group tokyo, reports through the broker to the
# collector (CN collector, from the CSIRT clients' CA), whose key it pins
# (the lab's ACL lines fleet_lab_agent writes are not used here)
fleet_lab_agent "report: { collector_id = \"$("$KAKURICTL" agent-id "$FLEET/collector.crt")\"; };" tokyo
# the example's first agent (tokyo, all-pcs) becomes this agent; its second
# (osaka) stays as written, for a certificate with that CN
EX_AGENTS=($(grep -Eo '^user [0-9a-f]{64}$' "$EX/kakuri.acl" | cut -d' ' -f2))
EX_TOKYO=${EX_AGENTS[0]:-} EX_OSAKA=${EX_AGENTS[1]:-}
[ ${#EX_AGENTS[@]} -eq 2 ] || die "the example ACL has two example agents"
sed "s/$EX_TOKYO/$AGENT_ID/" "$EX/kakuri.acl" >"$ETC/kakuri.acl"
fleet_sign_key "$FLEET/intruder.key" "$EX_OSAKA" "$FLEET/osaka.crt" || die "the osaka certificate"
chown -R mosquitto "$ETC" 2>/dev/null || chmod -R a+rX "$ETC"

ip netns exec "$PEER" "$MOSQUITTO" -c "$ETC/mosquitto.conf" >>"$WORK/mosquitto.out" 2>&1 &
BROKER_PID=$!
PIDS+=($BROKER_PID)
check_within "Mosquitto starts with the example configuration" 10 broker_listening
csirt_listening() { ip netns exec "$PEER" ss -Htln "sport = :8884" | grep -q LISTEN; }
check_within "... with the CSIRT's listener too (8884)" 10 csirt_listening
# tls_with VERSION-FLAG: a TLS handshake with an agent's certificate
tls_with() {
	ip netns exec "$PEER" timeout 10 openssl s_client -connect "$PEER4:$BROKER_PORT" "$1" \
		-CAfile "$FLEET/ca.pem" -cert "$FLEET/osaka.crt" -key "$FLEET/intruder.key" </dev/null
}
check "... a TLS 1.3 handshake succeeds (the control)" tls_with -tls1_3
refute "... TLS 1.2 is refused (tls_version tlsv1.3)" tls_with -tls1_2
ip netns exec "$PEER" timeout 5 mosquitto_sub -h "$PEER4" -p "$BROKER_PORT" --cafile "$FLEET/ca.pem" \
	-V mqttv5 -t 'kakuri/#' -W 2 >/dev/null 2>&1; rc=$?
check "... a client without a certificate gets nothing (require_certificate)" test "$rc" -ne 0 -a "$rc" -ne 27

echo "$AGENT_ID" >"$WORK/agents"
: >"$WORK/col.out"
ip netns exec "$PEER" "$KAKURICTL" collector --listen "[::]:7444" --dir "$COL" \
	--cert "$CCA/collector.crt" --key "$FLEET/collector.key" --agents "$WORK/agents" \
	--broker "$CSIRT_URL" --broker-ca "$FLEET/ca.pem" >>"$WORK/col.out" 2>>"$WORK/col.err" &
PIDS+=($!)
check_within "the collector (CN collector) subscribes at the broker" 10 grep -q "subscribed at" "$WORK/col.out"
internet_echo "the internet echo answers"
start_kakurid || die "kakurid starts"
fleet_connected() { ctl status --json | jq -e '.fleet.state | startswith("connected")'; }
check_within "the agent (CN = its id) connects" 20 fleet_connected

"$KAKURICTL" sign -k "$PKI/alice.key" --group tokyo --action isolate -o "$WORK/iso.json" 2>/dev/null
send_csirt --json --group tokyo --expect "$WORK/agents" --timeout 15000 "$WORK/iso.json" \
	>"$WORK/iso.out" 2>"$WORK/iso.err"; rc=$?
check "a group isolate from the operator (CN operator): done, exit 0" \
	bash -c "[ $rc -eq 0 ] && jq -e '.summary.done == 1' '$WORK/iso.out'"
check "isolated" test "$(status_field mode)" = isolated
refute "isolated: the internet is unreachable" reach "$EP" tcp "$NET4" 8080 700
outbox_empty() { ctl outbox --json | jq -e '.count == 0'; }
check_within "the isolate report reaches the collector and its ack comes back" 20 outbox_empty
check "... the collector stored it, verified" bash -c \
	"'$KAKURICTL' reports --json --type isolate '$COL' | jq -s -e 'length == 1 and all(.[]; .verified)'"

# --- the ACL: what an agent's certificate cannot do ---
: >"$WORK/sub.out"
ip netns exec "$PEER" timeout 20 mosquitto_sub -h "$PEER4" -p 8884 --cafile "$FLEET/ca.pem" \
	--cert "$CCA/operator.crt" --key "$FLEET/operator.key" -V mqttv5 -t 'kakuri/v1/agent/+/out' -v \
	>"$WORK/sub.out" 2>/dev/null &
PIDS+=($!)
: >"$WORK/osaka.out"
ip netns exec "$PEER" timeout 20 mosquitto_sub -h "$PEER4" -p "$BROKER_PORT" --cafile "$FLEET/ca.pem" \
	--cert "$FLEET/osaka.crt" --key "$FLEET/intruder.key" -V mqttv5 -q 1 \
	-t 'kakuri/v1/group/tokyo/cmd' -t 'kakuri/v1/group/osaka/cmd' -v >"$WORK/osaka.out" 2>/dev/null &
PIDS+=($!)
# both subscriptions are in place once a marker published after them arrives
# as_operator_pub TOPIC MESSAGE [PORT]: at the CSIRT listener unless PORT
as_operator_pub() {
	ip netns exec "$PEER" mosquitto_pub -h "$PEER4" -p "${3:-8884}" --cafile "$FLEET/ca.pem" \
		--cert "$CCA/operator.crt" --key "$FLEET/operator.key" -V mqttv5 -q 1 -t "$1" -m "$2"
}
subscribed() { as_operator_pub kakuri/v1/group/osaka/cmd osaka-marker && grep -q osaka-marker "$WORK/osaka.out"; }
check_within "an agent of osaka reads its group's commands (the control)" 10 subscribed
as_operator_pub kakuri/v1/group/tokyo/cmd tokyo-only
# as_agent_pub TOPIC MESSAGE [PORT]: at the agents' listener unless PORT
as_agent_pub() {
	ip netns exec "$PEER" mosquitto_pub -h "$PEER4" -p "${3:-$BROKER_PORT}" --cafile "$FLEET/ca.pem" \
		--cert "$PKI/agent-fleet.crt" --key "$PKI/agent-tls.key" -V mqttv5 -q 1 -t "$1" -m "$2"
}
as_agent_pub "kakuri/v1/agent/$EX_OSAKA/out" forged-by-agent 2>/dev/null
as_agent_pub "kakuri/v1/agent/$AGENT_ID/out" own-topic 2>/dev/null
as_agent_pub "kakuri/v1/group/osaka/cmd" command-by-agent 2>/dev/null
check_within "an agent publishes on its own out topic (the control)" 10 grep -q own-topic "$WORK/sub.out"
check "... but not on another agent's out topic" bash -c "! grep -q forged-by-agent '$WORK/sub.out'"
check "... nor a command to a group" bash -c "! grep -q command-by-agent '$WORK/osaka.out'"
check "an agent outside tokyo never gets tokyo's commands" bash -c "! grep -q tokyo-only '$WORK/osaka.out'"

# --- the listeners: whose certificate gets in where ---
refute "an agent's certificate is refused at the CSIRT listener" \
	as_agent_pub "kakuri/v1/agent/$AGENT_ID/out" at-csirt-listener 8884
refute "the operator's certificate (the CSIRT clients' CA) is refused at the agents' listener" \
	as_operator_pub kakuri/v1/group/osaka/cmd at-agents-listener "$BROKER_PORT"
check "... and what it tried never reached osaka" bash -c "! grep -q at-agents-listener '$WORK/osaka.out'"

# --- client ids: a PC's certificate cannot take another agent's session.
# Malware on the osaka PC connects with this agent's id as its client id;
# on the agents' listener its client id is its own CN, so the agent's
# session stays the agent's: no "disconnected" in its log, and the release
# below still reaches it while the intruder stays connected.
fleet_drops() { grep -c "disconnected" "$DLOG"; }
DROPS0=$(fleet_drops)
: >"$WORK/taker.out"
ip netns exec "$PEER" timeout 30 mosquitto_sub -h "$PEER4" -p "$BROKER_PORT" --cafile "$FLEET/ca.pem" \
	--cert "$FLEET/osaka.crt" --key "$FLEET/intruder.key" -V mqttv5 -q 1 -i "$AGENT_ID" \
	-t 'kakuri/v1/group/osaka/cmd' -v >"$WORK/taker.out" 2>/dev/null &
PIDS+=($!)
taker_in() { as_operator_pub kakuri/v1/group/osaka/cmd taker-marker && grep -q taker-marker "$WORK/taker.out"; }
check_within "osaka's certificate with the agent's id as its client id is connected" 10 taker_in
dropped() { [ "$(fleet_drops)" -gt "$DROPS0" ]; }
refute "... and the agent is not disconnected for it (3 s)" until_ok 3 dropped
check "... it is still connected" fleet_connected

"$KAKURICTL" sign -k "$PKI/alice.key" --group tokyo --action release --episode "$(status_field episode)" \
	-o "$WORK/rel.json" 2>/dev/null
"$KAKURICTL" cosign -k "$PKI/bob.key" "$WORK/rel.json" 2>/dev/null
send_csirt --json --group tokyo --expect "$WORK/agents" --timeout 15000 "$WORK/rel.json" \
	>"$WORK/rel.out" 2>/dev/null; rc=$?
check "a two-signature group release: done, exit 0" \
	bash -c "[ $rc -eq 0 ] && jq -e '.summary.done == 1' '$WORK/rel.out'"
check_within "released: the internet is back" 5 reach "$EP" tcp "$NET4" 8080 700
summary
[ "$FAILED" -eq 0 ]
