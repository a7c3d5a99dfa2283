#!/usr/bin/env bash
# kakurictl send --broker --save-receipts DIR: what an agent answers is
# not written without bound.  An agent's root has its identity key and
# may publish on its out topic, for as long as send waits, as many
# distinct receipts as it likes, each verifying (and a broker may make up
# agents).  Only the receipt that counts is kept (the first per agent and
# file; the first refusal naming no command), only of agents that count
# (with --expect, those listed), and an agent not in --expect does not
# make the send fail with its refusals.  The agents here are their roots
# alone (fakereceipt): no kakurid runs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetlab.sh"
need
need_built "$TOP/build/fakereceipt"
echo "== send --broker: receipts an agent makes up are not all kept"
fleet_lab
fleet_lab_agent "" tokyo
# agent b: an identity of its own, in the same group
mkdir -p "$WORK/b/state"
cat >"$WORK/b/p.conf" <<EOT
agent: { state_dir = "$WORK/b/state"; control_socket = "$WORK/b/control.sock";
  listen = ""; key = "$WORK/b/agent.key"; cert = "$WORK/b/agent.crt"; trust = "$PKI/trust.conf"; };
management: { peers = [ "$PEER4" ]; ports = [ 8883 ]; };
EOT
chmod 0600 "$WORK/b/p.conf"
B_ID=$("$KAKURID" --init -f "$WORK/b/p.conf" 2>/dev/null)
check "agent b's identity (kakurid --init)" grep -Eq '^[0-9a-f]{64}$' <<<"$B_ID"
fleet_agent "$WORK/b" "$B_ID" tokyo || die "agent b's fleet certificate"
broker_start || { cat "$FLEET/mosquitto.out"; die "the broker starts"; }

# answer a|b COMMAND|- COUNT RESULT: that agent's root publishes COUNT
# distinct receipts, each signed with the agent's identity key
answer() {
	local k=$PKI id=$AGENT_ID
	[ "$1" = b ] && k=$WORK/b id=$B_ID
	"$TOP/build/fakereceipt" "$k/agent.key" "$k/agent.crt" "$2" "$3" "$4" |
		ip netns exec "$PEER" mosquitto_pub -h "$PEER4" -p "$BROKER_PORT" \
		--cafile "$FLEET/ca.pem" --cert "$k/agent-fleet.crt" --key "$k/agent-tls.key" \
		-V mqttv5 -q 1 -t "kakuri/v1/agent/$id/out" -l
}
# sending OUT ARGS...: send --broker in the background (SENDPID), back
# once it is connected to the broker and has had a second to subscribe
sending() {
	local out=$1
	shift
	send_broker operator --json --timeout 8000 "$@" >"$out" 2>"$out.err" &
	SENDPID=$!
	until_ok 10 bash -c "ip netns exec $PEER ss -Htnp state established 'dport = :$BROKER_PORT' | grep -q kakurictl"
	sleep 1
}
cmd_id() { jq -r .payload "$1" | base64 -d | jq -r .id; }
reason_of() { jq -r .payload "$1" | base64 -d | jq -r .reason; }
export -f reason_of

# --- a group send without --expect waits its whole timeout and counts
# every agent: one of them sends 100 distinct refusals naming no command
# and 100 distinct receipts for the command ---
"$KAKURICTL" sign -k "$PKI/alice.key" --group tokyo --action status -o "$WORK/g1.json" 2>/dev/null
CID=$(cmd_id "$WORK/g1.json")
sending "$WORK/s1.json" --group tokyo --save-receipts "$WORK/saved1" "$WORK/g1.json"
answer b - 100 rejected
answer b "$CID" 100 rejected
wait "$SENDPID"; rc=$?
echo "  (kept: $(ls "$WORK/saved1/$B_ID" 2>/dev/null | wc -l) files; exit $rc)"
check "the agent's receipts came: it refused (exit 1)" \
	bash -c "[ $rc -eq 1 ] && jq -e '.summary.refused == 1 and .summary.unnamed.\"forged 1\" == 1' '$WORK/s1.json'"
check "100 distinct receipts for one command: one file kept (fails on the old code)" \
	test "$(ls "$WORK/saved1/$B_ID" | grep -c "^$CID")" = 1
check "... the one that counts, the first" \
	bash -c "[ \"\$(jq -r '.receipts[0].reason' '$WORK/s1.json')\" = 'forged 1' ] && [ \"\$(reason_of '$WORK/saved1/$B_ID/$CID.dsse')\" = 'forged 1' ]"
check "100 distinct refusals naming no command: one file kept (fails on the old code)" \
	test "$(ls "$WORK/saved1/$B_ID" | grep -c '^refused')" = 1
check "... and no other file" test "$(ls "$WORK/saved1/$B_ID" | wc -l)" = 2

# --- a group send with --expect: an agent not listed is not counted ---
echo "$AGENT_ID" >"$WORK/expect"
"$KAKURICTL" sign -k "$PKI/alice.key" --group tokyo --action status -o "$WORK/g2.json" 2>/dev/null
GID=$(cmd_id "$WORK/g2.json")
sending "$WORK/s2.json" --group tokyo --expect "$WORK/expect" --save-receipts "$WORK/saved2" "$WORK/g2.json"
# b first: the send is over once every expected agent answered
answer b - 50 rejected
answer b "$GID" 50 rejected
answer a "$GID" 1 done
wait "$SENDPID"; rc=$?
echo "  (summary: $(jq -c .summary "$WORK/s2.json"); exit $rc)"
check "the expected agent answered done: exit 0, though an unexpected one refused (fails on the old code)" \
	bash -c "[ $rc -eq 0 ] && jq -e '.summary.done == 1 and .summary.unnamed == {}' '$WORK/s2.json'"
check "... that one is listed as unexpected" jq -e --arg b "$B_ID" '.summary.unexpected == [$b]' "$WORK/s2.json"
check "... and nothing of it is kept (fails on the old code)" test ! -e "$WORK/saved2/$B_ID"
check "the expected agent's receipt is kept" test -s "$WORK/saved2/$AGENT_ID/$GID.dsse"
summary
[ "$FAILED" -eq 0 ]
