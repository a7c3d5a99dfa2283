#!/usr/bin/env bash
# The fleet transport (issue 13, DESIGN 9): an agent with no listening port
# at all dials out to a Mosquitto broker in the CSIRT namespace, and is
# isolated and released (two signatures) through it; receipts are checked
# by kakurictl with the identity key the agent's id proves.  A broker that
# replays, duplicates, reorders or modifies messages gets nothing executed
# twice and nothing forged; a broker restart is survived and a command
# published while the agent was away arrives; one that expired meanwhile
# is refused and the CSIRT sees that receipt; the broker's ACLs keep an
# agent's certificate off other agents' topics.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetlab.sh"
need
echo "== fleet: isolate and release through an MQTT broker, no inbound port"
fleet_lab

# the agent: no listener (agent.listen = ""), the broker its only channel
fleet_lab_agent "commands: { clock_skew = 1; };
report: { collector_id = \"$("$KAKURICTL" agent-id "$PKI/op-ca.crt")\"; };" tokyo
check "kakurid --init made the agent's identity and TLS key" test -s "$PKI/agent-tls.key"
check "the policy with a fleet broker loads (kakurid -n)" "$KAKURID" -n -f "$POLICY"
broker_start || { cat "$FLEET/mosquitto.out"; die "the broker starts"; }
echo "$AGENT_ID" >"$WORK/agents"
COL="$WORK/collected"
collector_broker || { cat "$WORK/col.err"; die "the collector subscribes at the broker"; }
internet_echo "the internet echo answers"
start_kakurid || die "kakurid starts"
check "nothing listens on the agent (no inbound port)" \
	bash -c "! ip netns exec $EP ss -Htln | grep -q ."
fleet_state() { ctl status --json | jq -r '.fleet.state'; }
fleet_connected() { fleet_state | grep -q '^connected'; }
check_within "the fleet child is connected to the broker" 20 fleet_connected
check "kakurictl status says so" bash -c "'$KAKURICTL' -s '$SOCK' status | grep -q '^fleet: *$PEER4:$BROKER_PORT, connected'"
FLEETPID=$(pgrep -P "$KPID" -x kakurid-fleet | head -1)
check "the fleet child (kakurid's own) runs as agent.user (nobody), not root" \
	bash -c "[ -n '$FLEETPID' ] && ps -o user= -p '$FLEETPID' | grep -qx nobody"
check "... with no capabilities and under seccomp" bash -c \
	"grep -q '^CapEff:[[:space:]]*0000000000000000' /proc/$FLEETPID/status && grep -q '^Seccomp:[[:space:]]*2' /proc/$FLEETPID/status"
# executed: how many audit records say action A of command id ID ran
executed() { ctl log --json | jq -e --arg id "$1" "[.entries[] | select(.command == \$id and .result == \"done\")] | length == ${2:-1}"; }
cmd_id() { jq -r .payload "$1" | base64 -d | jq -r .id; }
ISO=$(sign alice isolate)
send_broker operator --json --agent "$AGENT_ID" --timeout 15000 "$ISO" >"$WORK/iso.json" 2>"$WORK/iso.err"; rc=$?
check "isolate through the broker: exit 0" test $rc -eq 0
check "... its receipt, verified with the agent's identity, says done" \
	jq -e '.receipts[0].result == "done" and .receipts[0].action == "isolate" and .summary.done == 1' "$WORK/iso.json"
check "isolated" test "$(status_field mode)" = isolated
refute "isolated: the internet is unreachable (IPv4)" reach "$EP" tcp "$NET4" 8080 700
refute "isolated: the internet is unreachable (IPv6)" reach "$EP" tcp "$NET6" 8080 700
check "isolated: the broker session stays up (part of the management channel)" fleet_connected
EPISODE=$(status_field episode)

# --- reports go through the broker too: the isolate notice reaches the collector ---
outbox_empty() { ctl outbox --json | jq -e '.count == 0 and .pending == 0'; }
check "the isolate notice is in the outbox first (the check below can fail)" \
	bash -c "ls '$STATE'/outbox/*.dsse >/dev/null 2>&1 || '$KAKURICTL' -s '$SOCK' log --json | jq -e '[.entries[] | select(.action == \"courier\" and .result == \"delivered\")] | length > 0'"
check_within "the outbox empties through the broker (the collector's acks come back)" 20 outbox_empty
check "the collector stored the agent's isolate report, verified" \
	bash -c "grep -q '^report isolate .* from ${AGENT_ID:0:16}' '$WORK/col.out'"
check "kakurictl reports re-verifies what came through the broker" \
	bash -c "'$KAKURICTL' reports --json --type isolate '$COL' | jq -s -e 'length >= 1 and all(.[]; .verified)'"

# --- an ack is the answer to the delivery of the report it names ---
# Anyone who may publish on an agent's ack topic (here the collector's own
# credential at the broker; an ACL too wide does as well) answered the
# oldest delivery: an ack naming no report of the agent had the courier
# refuse that report's ack, each real one after it a place off, and one
# whose chain was over 64 KiB had kakurid kill the fleet child, and the
# commands it held were lost (both fail on the old code).  The collector
# is away meanwhile (its session at the broker keeps what comes).
python3 - "$PKI/op-ca.crt" "$AGENT_ID" "$WORK/forged-ack.json" "$WORK/big-ack.json" <<'EOF'
import base64, json, sys
chain = open(sys.argv[1]).read()
p = json.dumps({"v": 1, "agent": sys.argv[2], "id": "0" * 32, "sha256": "0" * 64}, separators=(",", ":"))
env = json.dumps({"payloadType": "application/vnd.kakuri.ack.v1+json",
                  "payload": base64.b64encode(p.encode()).decode(),
                  "signatures": [{"keyid": "0" * 64, "sig": base64.b64encode(bytes(64)).decode()}]},
                 separators=(",", ":"))
json.dump({"v": 1, "chain": chain, "ack": env}, open(sys.argv[3], "w"))
json.dump({"v": 1, "chain": "x" * (70 * 1024), "ack": env}, open(sys.argv[4], "w"))
EOF
as_collector_pub() {
	ip netns exec "$PEER" mosquitto_pub -h "$PEER4" -p "$BROKER_PORT" --cafile "$FLEET/ca.pem" \
		--cert "$PKI/op-ca.crt" --key "$PKI/op-ca.key" -V mqttv5 -q 1 \
		-t "kakuri/v1/agent/$AGENT_ID/ack" -f "$1"
}
acks_refused() { ctl log --json | jq '[.entries[] | select(.action == "courier" and .result == "ack-refused")] | length'; }
being_delivered() { ctl outbox --json | jq -e '.waiting == "being delivered"' >/dev/null; }
collector_stop
# the isolate's receipt came before its report, on the same topic
check "the collector passed the agent's receipt over unread (its content type says it is one), dropped nothing" \
	grep -Eq '^broker: [1-9][0-9]* documents read, 0 dropped unread, [1-9][0-9]* receipts passed over, [0-9]+ acked again from memory, 0 acks not published$' "$WORK/col.out"
NREF=$(acks_refused)
FP0=$(pgrep -P "$KPID" -x kakurid-fleet | head -1)
ctl report --category other --what "sent while the collector is away" >/dev/null
check_within "a report is out through the broker, its ack awaited (the collector away)" 20 being_delivered
as_collector_pub "$WORK/big-ack.json"
check_within "an ack document whose chain is over 64 KiB: the fleet child drops it" 10 \
	grep -q 'fleet child: .*an ack document that is not one, dropped' "$DLOG"
as_collector_pub "$WORK/forged-ack.json"
check_within "an ack naming no report delivered: dropped too" 10 \
	grep -q 'fleet child: .*an ack of no report delivered, dropped' "$DLOG"
check "... no ack was refused by the courier for them (fails on the old code)" test "$(acks_refused)" = "$NREF"
check "... and the fleet child was not killed: the same process (fails on the old code)" \
	bash -c "[ -n '$FP0' ] && [ \"\$(pgrep -P $KPID -x kakurid-fleet | head -1)\" = '$FP0' ] && ! grep -q 'answered what was not asked' '$DLOG'"
collector_broker || { cat "$WORK/col.err"; die "the collector subscribes at the broker again"; }
check_within "the collector back: its ack of the report comes, and the outbox empties" 60 outbox_empty

# --- through the broker, only report.ca or the pin vouches for an ack ---
# A new policy is taken at SIGHUP with no child started in broker mode:
# its report.ca must be loaded there, and the key of the last chain that
# was checked must not be kept.  reload_to REPORT-CONF: the policy with it
reload_to() {
	local n
	n=$(ctl log --json | jq '[.entries[] | select(.action == "policy-reload" and .result == "applied")] | length')
	write_policy "listen = \"\"; key = \"$PKI/agent.key\"; cert = \"$PKI/agent.crt\"; trust = \"$PKI/trust.conf\";" \
		"$(fleet_conf "$PKI" '"tokyo"')
commands: { clock_skew = 1; };
report: { $1 };"
	kill -HUP "$KPID"
	check_within "policy reloaded ($1)" 10 bash -c "[ \$('$KAKURICTL' -s '$SOCK' log --json | jq '[.entries[] | select(.action == \"policy-reload\" and .result == \"applied\")] | length') -gt $n ]"
}
refused_acks() { ctl log --json | jq '[.entries[] | select(.action == "courier" and .result == "ack-refused")] | length'; }
report_now() { ctl report --category other --what "$1" >/dev/null; }
acks_refused_since() { [ "$(refused_acks)" -gt "$1" ]; }
PIN="collector_id = \"$("$KAKURICTL" agent-id "$PKI/op-ca.crt")\";"
# through the broker no address names the collector: a CA alone would
# take any agent's certificate for it, and the policy says so
write_policy "listen = \"\"; key = \"$PKI/agent.key\"; cert = \"$PKI/agent.crt\"; trust = \"$PKI/trust.conf\";" \
	"$(fleet_conf "$PKI" '"tokyo"')
report: { ca = \"$PKI/ca.pem\"; };"
"$KAKURID" -n -f "$POLICY" >"$WORK/caonly.out" 2>&1; rc=$?
check "report.ca alone through the broker: the policy is refused, naming report.collector_id" \
	bash -c "[ $rc -ne 0 ] && grep -q 'cannot tell the collector from an agent: set report.collector_id' '$WORK/caonly.out'"
reload_to "ca = \"$PKI/rogue.pem\"; $PIN"
n=$(refused_acks)
report_now "after a reload to a CA that did not issue the collector"
check_within "report.ca is another CA now (the pin still the collector's): the collector's ack is refused" 20 acks_refused_since "$n"
check "... and the report stays in the outbox" bash -c "ls '$STATE'/outbox/*.dsse >/dev/null 2>&1"
printf 'not a certificate\n' >"$WORK/garbage-ca.pem"
reload_to "ca = \"$WORK/garbage-ca.pem\"; $PIN"
n=$(refused_acks)
report_now "with a report.ca that cannot be read as one"
check_within "report.ca unreadable, a pin or not: no ack counts (fail closed)" 20 acks_refused_since "$n"
check "... the audit says why" audit_has '.action == "courier" and .result == "ack-refused" and (.why | test("cannot be checked"))'
check "... and nothing left the outbox" bash -c "[ \$(ls '$STATE'/outbox/*.dsse | wc -l) -ge 2 ]"
reload_to "collector_id = \"$("$KAKURICTL" agent-id "$PKI/op-ca.crt")\";"
check_within "pinned again: all of it is delivered through the broker" 30 outbox_empty

# --- a hostile broker: replay, duplicate, modify, reorder ---
send_broker operator --json --agent "$AGENT_ID" --timeout 10000 "$ISO" >"$WORK/replay.json" 2>/dev/null
check "the same envelope again (a replay or a duplicate): refused, replay" \
	jq -e '.receipts[0].result == "rejected" and .receipts[0].reason == "replay" and .summary.refused == 1' "$WORK/replay.json"
check "... and executed once only" executed "$(cmd_id "$ISO")" 1
MOD="$WORK/modified.json"
jq --arg p "$(jq -r .payload "$ISO" | base64 -d | sed 's/"isolate"/"status"/' | base64 -w0)" '.payload = $p' "$ISO" >"$MOD"
send_broker operator --json --agent "$AGENT_ID" --timeout 10000 "$MOD" >"$WORK/mod.json" 2>/dev/null
check "a modified envelope: refused, bad-signature (a refusal naming no command: its payload was not read)" \
	jq -e '.summary.unnamed["bad-signature"] == 1 and .summary.done == 0' "$WORK/mod.json"
check "... the agent audited the bad signature from the broker" \
	audit_has '.result == "rejected: bad-signature" and .actor == "mqtt:agent"'
REL1=$(sign alice release --episode "$EPISODE")
send_broker operator --json --agent "$AGENT_ID" --timeout 10000 "$REL1" >"$WORK/rel1.json" 2>/dev/null
check "release with one signature through the broker: refused, threshold" \
	jq -e '.receipts[0].reason == "threshold"' "$WORK/rel1.json"
check "... still isolated" test "$(status_field mode)" = isolated
REL2=$(sign alice release --episode "$EPISODE")
"$KAKURICTL" cosign -k "$PKI/bob.key" "$REL2" 2>/dev/null
STATUS=$(sign alice status)
# reordered: the release published first, then a status; both run once
send_broker operator --json --agent "$AGENT_ID" --timeout 15000 "$REL2" "$STATUS" >"$WORK/rel2.json" 2>/dev/null; rc=$?
check "two-signature release and a status in one publish: both done (exit 0)" test $rc -eq 0
check "... two verified receipts" jq -e '[.receipts[] | select(.result == "done")] | length == 2' "$WORK/rel2.json"
check "released: open" test "$(status_field mode)" = open
check_within "released: the internet is back (IPv4)" 5 reach "$EP" tcp "$NET4" 8080 700
check_within "released: the internet is back (IPv6)" 5 reach "$EP" tcp "$NET6" 8080 700

# --- the broker's ACLs: an agent's certificate is no operator ---
OTHER_ID=$(printf '%064d' 7)
: >"$WORK/sub.out"
ip netns exec "$PEER" timeout 20 mosquitto_sub -h "$PEER4" -p "$BROKER_PORT" --cafile "$FLEET/ca.pem" \
	--cert "$FLEET/operator.crt" --key "$FLEET/operator.key" -V mqttv5 -t 'kakuri/v1/agent/+/out' -v \
	>"$WORK/sub.out" 2>/dev/null &
SUBPID=$!; PIDS+=($SUBPID)
sleep 0.5
as_agent_pub() {
	ip netns exec "$PEER" mosquitto_pub -h "$PEER4" -p "$BROKER_PORT" --cafile "$FLEET/ca.pem" \
		--cert "$PKI/agent-fleet.crt" --key "$PKI/agent-tls.key" -V mqttv5 -q 1 -t "$1" -m "$2"
}
as_agent_pub "kakuri/v1/agent/$OTHER_ID/out" forged-by-agent 2>/dev/null
as_agent_pub "kakuri/v1/agent/$AGENT_ID/out" own-topic 2>/dev/null
check_within "an agent may publish on its own out topic (the control)" 10 grep -q own-topic "$WORK/sub.out"
check "... but never on another agent's: the broker drops it" bash -c "! grep -q forged-by-agent '$WORK/sub.out'"
IID=$(sign alice isolate)
send_broker intruder --json --agent "$AGENT_ID" --timeout 3000 "$IID" >"$WORK/intr.json" 2>/dev/null
check "a client without the operator's ACL cannot command an agent: no receipt (silent)" \
	jq -e '.summary.silent == 1' "$WORK/intr.json"
check "... the agent stays open" test "$(status_field mode)" = open

# --- isolated by the staff button while the session is idle: the broker
# still gets through (conntrack never saw the session open) ---
ctl disconnect -m "suspicious popup" >/dev/null
check "the staff button isolated the agent" test "$(status_field mode)" = isolated
EP2=$(status_field episode)
ST1=$(sign alice status)
send_broker operator --json --agent "$AGENT_ID" --timeout 8000 "$ST1" >"$WORK/st1.json" 2>/dev/null; rc=$?
check "a status through the broker right after, well within the keep-alive: done" \
	bash -c "[ $rc -eq 0 ] && jq -e '.receipts[0].result == \"done\" and .receipts[0].mode == \"isolated\"' '$WORK/st1.json'"
REL3=$(sign alice release --episode "$EP2")
"$KAKURICTL" cosign -k "$PKI/bob.key" "$REL3" 2>/dev/null
send_broker operator --json --agent "$AGENT_ID" --timeout 8000 "$REL3" >"$WORK/rel3.json" 2>/dev/null
check "... and the CSIRT's two-signature release through the broker frees it" test "$(status_field mode)" = open

# --- a hostile publisher on the agent's cmd topic: garbage, a flood ---
as_operator_pub() {
	ip netns exec "$PEER" mosquitto_pub -h "$PEER4" -p "$BROKER_PORT" --cafile "$FLEET/ca.pem" \
		--cert "$FLEET/operator.crt" --key "$FLEET/operator.key" -V mqttv5 -q 1 \
		-t "kakuri/v1/agent/$AGENT_ID/cmd" "$@"
}
as_operator_pub -m 'not an envelope' 2>/dev/null
head -c 2000000 /dev/zero | tr '\0' 'x' >"$WORK/big.bin"
as_operator_pub -f "$WORK/big.bin" 2>/dev/null
check_within "garbage on the cmd topic: refused as malformed, audited" 10 \
	audit_has '.result == "rejected: malformed" and .actor == "mqtt:agent"'
# what the agent publishes meanwhile: a receipt each of 300 refusals
# that name no command was an agent's answer to a flood, each agent of a
# group's for a group topic's (fails on the old code: 300); a marker the
# agent publishes first says the subscriber is there
: >"$WORK/flood-sub.out"
ip netns exec "$PEER" timeout 60 mosquitto_sub -h "$PEER4" -p "$BROKER_PORT" --cafile "$FLEET/ca.pem" \
	--cert "$FLEET/operator.crt" --key "$FLEET/operator.key" -V mqttv5 -t "kakuri/v1/agent/$AGENT_ID/out" \
	>"$WORK/flood-sub.out" 2>/dev/null &
FSUB=$!; PIDS+=($FSUB)
sub_ready() { as_agent_pub "kakuri/v1/agent/$AGENT_ID/out" flood-marker 2>/dev/null; grep -q flood-marker "$WORK/flood-sub.out"; }
check_within "a subscriber to the agent's out topic is there" 10 sub_ready
for i in $(seq 1 300); do echo "garbage $i"; done >"$WORK/flood.txt"
ip netns exec "$PEER" mosquitto_pub -h "$PEER4" -p "$BROKER_PORT" --cafile "$FLEET/ca.pem" \
	--cert "$FLEET/operator.crt" --key "$FLEET/operator.key" -V mqttv5 -q 1 \
	-t "kakuri/v1/agent/$AGENT_ID/cmd" -l <"$WORK/flood.txt" 2>/dev/null
ST2=$(sign alice status)
send_broker operator --json --agent "$AGENT_ID" --timeout 20000 "$ST2" >"$WORK/st2.json" 2>/dev/null; rc=$?
check "after a flood of 300 garbage messages a signed status still comes back done" \
	bash -c "[ $rc -eq 0 ] && jq -e '.receipts[0].result == \"done\"' '$WORK/st2.json'"
# the status's receipt is the last the agent published: once it is in,
# all before it are (the broker keeps a publisher's order)
st2_seen() { grep -c '"kind":"receipt"' "$WORK/flood-sub.out" | awk '{ exit !($1 >= 1) }' &&
	tail -1 "$WORK/flood-sub.out" | grep -q '"kind":"receipt"'; }
check_within "the subscriber has the status's receipt" 10 st2_seen
NRCPT=$(grep -c '"kind":"receipt"' "$WORK/flood-sub.out")
check "... and the agent published $NRCPT receipts for it all, not one a refusal (fails on the old code: 300)" \
	test "$NRCPT" -ge 1 -a "$NRCPT" -le 10
end_pid "$FSUB"
check "the audit log did not take 300 lines of it (refusals are counted, not each logged)" \
	bash -c "[ \$($KAKURICTL -s $SOCK log --json | jq '[.entries[] | select(.result == \"rejected: malformed\")] | length') -lt 50 ]"
check_within "... but summed up at the interval's end, as the broker's (on the old code: tls)" 20 \
	audit_has '.result == "rejected: malformed" and .actor == "mqtt" and .more >= 200'
check "kakurid still answers locally, the fleet child still connected" fleet_connected

# --- a retained message is no command, and is not taken at each connect ---
# The broker keeps a retained message and gives it to every subscriber
# that comes: a garbage (or replayed) envelope published retained on an
# agent's or a group's topic was taken again at every connect of every
# agent, for good (fails on the old code).  Nobody of ours publishes one.
malformed_n() { ctl log --json | jq '[.entries[] | select(.result == "rejected: malformed" and .actor == "mqtt:agent")] | length'; }
M0=$(malformed_n)
as_operator_pub -r -m 'retained garbage' 2>/dev/null
more_malformed() { [ "$(malformed_n)" -gt "$M0" ]; }
check_within "a retained garbage message, as it is published: refused (malformed) once" 15 more_malformed
# past the refusals' 10 s interval: another refusal would be audited again
sleep 11
M1=$(malformed_n)
FP=$(pgrep -P "$KPID" -x kakurid-fleet | head -1)
kill -9 "$FP" 2>/dev/null
new_child() { local p; p=$(pgrep -P "$KPID" -x kakurid-fleet | head -1); [ -n "$p" ] && [ "$p" != "$FP" ] && fleet_connected; }
check_within "the fleet child, killed, is back and connected (subscribed again)" 30 new_child
ST4=$(sign alice status)
send_broker operator --json --agent "$AGENT_ID" --timeout 20000 "$ST4" >"$WORK/st4.json" 2>/dev/null
check "a signed status after the reconnect: done" jq -e '.receipts[0].result == "done"' "$WORK/st4.json"
check "... and the retained message was not taken again at the connect (fails on the old code)" \
	test "$(malformed_n)" = "$M1"
as_operator_pub -r -n 2>/dev/null	# the retained message cleared

# --- a report the broker will not take, after one it took, in one batch ---
# A broker with a maximum packet size refuses a large report at once,
# while the one before it still waits for its ack: the fleet child
# answered the later one first, and the courier killed it as broken,
# with the commands it held (fails on the old code).  Now each answer
# comes in its turn: the small report is acked, the large one refused.
head -c 204800 /dev/urandom >"$WORK/shot.bin"
broker_stop
not_connected() { ! fleet_connected; }
check_within "the broker is stopped: the fleet child is not connected" 20 not_connected
ctl report --category other --what "small, sent with a large one" >/dev/null
ctl report --category other --what "large, over the broker's packet size" --attach "$WORK/shot.bin" >/dev/null
check "both reports are in the outbox" bash -c "[ \"\$('$KAKURICTL' -s '$SOCK' outbox --json | jq .count)\" -ge 2 ]"
FP1=$(pgrep -P "$KPID" -x kakurid-fleet | head -1)
BROKER_CONF_EXTRA="max_packet_size 131072" broker_start || die "the broker starts with a maximum packet size"
check_within "the fleet child connects to it" 40 fleet_connected
small_stored() { "$KAKURICTL" reports --json --type self-report "$COL" 2>/dev/null |
	jq -s -e 'any(.[]; .verified and .payload.body.what == "small, sent with a large one")' >/dev/null; }
check_within "the small report is stored by the collector (its ack taken in its turn)" 60 small_stored
large_refused() { ctl outbox --json | jq -e '.count == 1 and (.waiting | test("did not take it"))' >/dev/null; }
check_within "... the large one stays in the outbox, the broker's refusal said" 30 large_refused
check "... and the fleet child was not killed: the same process (fails on the old code)" \
	bash -c "[ -n '$FP1' ] && [ \"\$(pgrep -P $KPID -x kakurid-fleet | head -1)\" = '$FP1' ] && ! grep -q 'answered what was not asked' '$DLOG'"

# --- a receipt larger than the broker takes: signed again, brief ---
# A receipt larger than the broker's maximum packet size was dropped in
# the fleet child, and the operator got nothing for a command that ran.
# Now the agent signs it again without its status or output, naming
# what was left out and how large the whole was.  The broker's maximum
# is set just under what a whole status receipt needs: its out document
# as the operator reads it, plus less than the topic and headers add.
# whole_status_doc NAME: a signed status through the broker, its answer in
# $WORK/NAME.json; its out document as the operator reads it, its size in
# WHOLE_DOC (the reader killed once it is read, or given up)
whole_status_doc() {
	local sub
	WHOLE_DOC=
	ip netns exec "$PEER" timeout 60 stdbuf -oL -eL mosquitto_sub -h "$PEER4" -p "$BROKER_PORT" --cafile "$FLEET/ca.pem" \
		--cert "$FLEET/operator.crt" --key "$FLEET/operator.key" -V mqttv5 -d -F '%l %p' \
		-t "kakuri/v1/agent/$AGENT_ID/out" >"$WORK/$1.txt" 2>&1 &
	sub=$!; PIDS+=($sub)
	until_ok 10 grep -q "received SUBACK" "$WORK/$1.txt" || fail "the operator reads the agent's out topic"
	send_broker operator --json --agent "$AGENT_ID" --timeout 20000 "$(sign alice status)" >"$WORK/$1.json" 2>/dev/null
	until_ok 10 grep -q '"kind":"receipt"' "$WORK/$1.txt" || fail "its out document read"
	kill "$sub" 2>/dev/null
	WHOLE_DOC=$(grep '"kind":"receipt"' "$WORK/$1.txt" | tail -n 1 | awk '{ print $1 }')
}
whole_status_doc st5w
DOC=$WHOLE_DOC
check "a status through a broker that takes it whole: done, nothing left out" \
	jq -e '.receipts[0].result == "done" and .receipts[0].status != null and .receipts[0].left_out == null' "$WORK/st5w.json"
LIMIT=$((${DOC:-0} + 60))
echo "  (a whole status receipt's out document: $DOC bytes; the broker's maximum packet size: $LIMIT)"
broker_stop
check_within "the broker is stopped: the fleet child is not connected" 20 not_connected
BROKER_CONF_EXTRA="max_packet_size $LIMIT" broker_start || die "the broker starts with a maximum packet size of $LIMIT"
check_within "the fleet child connects to it" 40 fleet_connected
check_within "... and kakurid knows its maximum packet size (status)" 10 \
	bash -c "[ \"\$('$KAKURICTL' -s '$SOCK' status --json | jq .fleet.packet_max)\" = $LIMIT ]"
send_broker operator --json --agent "$AGENT_ID" --timeout 20000 "$(sign alice status)" >"$WORK/st5.json" 2>/dev/null
echo "  (brief receipt: $(jq -c '.receipts[0] | {result, left_out, status: (.status != null)}' "$WORK/st5.json" 2>/dev/null))"
check "a status whose receipt is more than the broker takes: a verified receipt, done (fails on the old code: silent)" \
	jq -e '.receipts[0].result == "done" and .receipts[0].command != null' "$WORK/st5.json"
check "... without its status, saying so and how large the whole was" \
	jq -e --argjson d "$DOC" '.receipts[0] | .status == null and .left_out.parts == ["status"] and .left_out.bytes < $d and .left_out.bytes > $d / 2' "$WORK/st5.json"
check "... kakurid says it sent it brief" grep -q "receipt of [0-9]* bytes is more than the transport takes.*without its status" "$DLOG"
send_broker operator --agent "$AGENT_ID" --timeout 20000 "$(sign alice status)" >"$WORK/st6.txt" 2>&1
check "... the operator's line says what was left out" \
	grep -q "^$AGENT_ID left out: status (the whole receipt, [0-9]* bytes, is more than the transport takes)" "$WORK/st6.txt"
send_broker operator --json --agent "$AGENT_ID" --timeout 20000 "$(sign alice isolate)" >"$WORK/iso5.json" 2>/dev/null
check "... an isolate's receipt, which fits, is whole: nothing left out" \
	jq -e '.receipts[0].result == "done" and .receipts[0].left_out == null and (.receipts[0].enforcers | length) > 0' "$WORK/iso5.json"
REL5=$(sign alice release --episode "$(status_field episode)")
"$KAKURICTL" cosign -k "$PKI/bob.key" "$REL5" 2>/dev/null
send_broker operator --json --agent "$AGENT_ID" --timeout 20000 "$REL5" >"$WORK/rel5.json" 2>/dev/null
check "... and released" jq -e '.receipts[0].result == "done"' "$WORK/rel5.json"
check "... open" test "$(status_field mode)" = open
FP2=$(pgrep -P "$KPID" -x kakurid-fleet | head -1)
broker_stop
check_within "the broker is stopped: the fleet child is not connected" 20 not_connected
broker_start || die "the broker starts again, with no maximum packet size"
# libmosquitto keeps the maximum packet size of a CONNACK across the
# session's reconnects, and so does the child: the limit it says is
# still the one libmosquitto enforces
same_child() { [ "$(pgrep -P "$KPID" -x kakurid-fleet | head -1)" = "$FP2" ] && fleet_connected; }
check_within "the same fleet child reconnects to the broker without a limit" 40 same_child
check "... and kakurid still knows the limit libmosquitto keeps (fails if the child says 0)" \
	bash -c "[ \"\$('$KAKURICTL' -s '$SOCK' status --json | jq .fleet.packet_max)\" = $LIMIT ]"
# a new fleet child (ours, by pid) starts afresh
kill -9 "$FP2" 2>/dev/null
other_child() { local p; p=$(pgrep -P "$KPID" -x kakurid-fleet | head -1); [ -n "$p" ] && [ "$p" != "$FP2" ] && fleet_connected; }
check_within "a new fleet child connects" 40 other_child
check "... and kakurid knows the broker says no maximum" \
	bash -c "[ \"\$('$KAKURICTL' -s '$SOCK' status --json | jq .fleet.packet_max)\" = null ]"

# --- a receipt that waited offline for a broker back with a lower limit ---
# A receipt is signed for the broker's limit kakurid knows when its run
# ends.  One that waited in the fleet child for a broker that came back
# with a lower maximum packet size was dropped there, and the operator
# got nothing (fails on the old code).  Now the child hands it back and
# kakurid, having checked it is one it handed over, signs it again
# brief.  kakurid (ours, by pid) is stopped while the command reaches
# the child, and continued once the broker is gone: its run ends with
# the child offline, the broker's last word "no maximum".
FP3=$(pgrep -P "$KPID" -x kakurid-fleet | head -1)
broker_stop
BROKER_CONF_EXTRA="log_type debug" broker_start || die "the broker starts again, saying what it receives"
same_child3() { [ "$(pgrep -P "$KPID" -x kakurid-fleet | head -1)" = "$FP3" ] && fleet_connected; }
check_within "the same fleet child (no maximum said to it) reconnects" 40 same_child3
check "... kakurid knows no maximum: a whole receipt is signed" \
	bash -c "[ \"\$('$KAKURICTL' -s '$SOCK' status --json | jq .fleet.packet_max)\" = null ]"
# a whole status receipt's out document now, as the operator reads it
whole_status_doc st6w
DOC7=$WHOLE_DOC
check "a whole status receipt through it: done, nothing left out (its out document: ${DOC7:-?} bytes)" \
	jq -e '.receipts[0].result == "done" and .receipts[0].status != null and .receipts[0].left_out == null' "$WORK/st6w.json"
op_session7() {
	ip netns exec "$PEER" timeout 20 mosquitto_sub -h "$PEER4" -p "$BROKER_PORT" --cafile "$FLEET/ca.pem" \
		--cert "$FLEET/operator.crt" --key "$FLEET/operator.key" -V mqttv5 -c -x 600 -i kk-op7 -q 1 -E \
		-t "kakuri/v1/agent/$AGENT_ID/out"
}
check "the operator's session at the broker, subscribed to the agent's out topic, kept while it is away" op_session7
ST7=$(sign alice status)
ST7ID=$(cmd_id "$ST7")
# the broker's debug lines: its PUBLISH of a command to the agent, then
# the agent's PUBACK of that message id
cmd_sends() { grep -c "Sending PUBLISH to $AGENT_ID (d[01], q1, r0, m[0-9]*, 'kakuri/v1/agent/$AGENT_ID/cmd'" "$FLEET/mosquitto.log"; }
NSEND=$(cmd_sends)
# kakurid is continued whatever happens to this script meanwhile
trap 'kill -CONT "$KPID" 2>/dev/null; cleanup' EXIT
kill -STOP "$KPID"
as_operator_pub -f "$ST7" 2>/dev/null
more_sends() { [ "$(cmd_sends)" -gt "$NSEND" ]; }
check_within "the broker sends the status command to the agent while kakurid is stopped" 20 more_sends
MID=$(grep -o "Sending PUBLISH to $AGENT_ID (d[01], q1, r0, m[0-9]*, 'kakuri/v1/agent/$AGENT_ID/cmd'" "$FLEET/mosquitto.log" |
	tail -n 1 | sed 's/.*, m\([0-9]*\), .*/\1/')
acked() { grep -q "Received PUBACK from $AGENT_ID (Mid: ${MID:-x}," "$FLEET/mosquitto.log"; }
check_within "... and the fleet child has it: its PUBACK (message $MID)" 20 acked
broker_stop
child_closed() { ! ip netns exec "$EP" ss -Htn "( dport = :$BROKER_PORT )" | grep -q .; }
check_within "the broker is gone, and the fleet child has closed its connection" 20 child_closed
kill -CONT "$KPID"
trap cleanup EXIT
check "kakurid, continued, serves" ctl status
check_within "... it ran the command with the broker away" 20 executed "$ST7ID"
check "... its receipt waits in the fleet child (not connected)" not_connected
check "... signed whole: nothing said of a brief receipt yet" \
	bash -c "! grep -q 'is more than it takes now' '$DLOG'"
# a maximum the whole receipt's out document is well over, and the brief
# one's well under
LIMIT7=$((${DOC7:-0} - 300))
# the operator reads the out topic in a session the broker keeps for it
# while it is away (the child may publish before it is back: kakurid
# kills a child that is stopped)
BROKER_CONF_EXTRA="max_packet_size $LIMIT7" broker_start ||
	die "the broker starts with a maximum packet size of $LIMIT7"
ip netns exec "$PEER" timeout 60 stdbuf -oL -eL mosquitto_sub -h "$PEER4" -p "$BROKER_PORT" --cafile "$FLEET/ca.pem" \
	--cert "$FLEET/operator.crt" --key "$FLEET/operator.key" -V mqttv5 -c -x 600 -i kk-op7 -q 1 -d -F '%p' \
	-t "kakuri/v1/agent/$AGENT_ID/out" >"$WORK/out7.txt" 2>&1 &
OUTSUB=$!; PIDS+=($OUTSUB)
check_within "the same fleet child connects to it" 40 same_child3
receipt_out() { grep -q '"kind":"receipt"' "$WORK/out7.txt"; }
check_within "the receipt that waited reaches the operator (fails on the old code: dropped)" 20 receipt_out
sleep 1		# for a second one, which must not come
kill "$OUTSUB" 2>/dev/null
grep '"kind":"receipt"' "$WORK/out7.txt" >"$WORK/out7.docs"
python3 - "$WORK/out7.docs" "$WORK/out7" <<'EOF'
import base64, json, sys
docs = [json.loads(l) for l in open(sys.argv[1])]
d = docs[0]
env = json.loads(d["envelope"])
payload = base64.b64decode(env["payload"])
t = env["payloadType"].encode()
pae = b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)
open(sys.argv[2] + ".pae", "wb").write(pae)
open(sys.argv[2] + ".sig", "wb").write(base64.b64decode(env["signatures"][0]["sig"]))
open(sys.argv[2] + ".crt", "w").write(d["identity"])
open(sys.argv[2] + ".json", "w").write(payload.decode())
open(sys.argv[2] + ".n", "w").write(str(len(docs)))
EOF
openssl x509 -in "$WORK/out7.crt" -pubkey -noout >"$WORK/out7.pub" 2>/dev/null
echo "  (the receipt that waited: $(jq -c '{command, result, left_out, status: (.status != null)}' "$WORK/out7.json" 2>/dev/null))"
check "... signed by the agent's identity key (its out document's certificate)" \
	openssl pkeyutl -verify -pubin -inkey "$WORK/out7.pub" -rawin -in "$WORK/out7.pae" -sigfile "$WORK/out7.sig"
check "... of that certificate: the agent's id" \
	bash -c "[ \"\$('$KAKURICTL' agent-id '$WORK/out7.crt')\" = '$AGENT_ID' ]"
check "... the status command's, done, brief: without its status, saying so and how large the whole was" \
	jq -e --arg id "$ST7ID" --argjson d "${DOC7:-0}" '.command == $id and .result == "done" and .status == null and .left_out.parts == ["status"] and .left_out.bytes > $d / 2' "$WORK/out7.json"
check "... one receipt for it, not the whole one as well" test "$(cat "$WORK/out7.n")" = 1
check "... the fleet child said it handed it back" \
	grep -q "fleet child: .*a receipt of [0-9]* bytes the broker will not take .*back to kakurid, to be signed brief" "$DLOG"
check "... and kakurid that it signed it again without its status" \
	grep -q "fleet broker: a receipt of [0-9]* bytes is more than it takes now (its maximum packet size $LIMIT7): sent without its status" "$DLOG"
# back to a broker without a limit, and a fleet child that never heard one
broker_stop
broker_start || die "the broker starts again, with no maximum packet size"
kill -9 "$FP3" 2>/dev/null
other_child3() { local p; p=$(pgrep -P "$KPID" -x kakurid-fleet | head -1); [ -n "$p" ] && [ "$p" != "$FP3" ] && fleet_connected; }
check_within "a new fleet child connects" 40 other_child3
# the collector's libmosquitto kept the limit too: a new session
collector_stop
collector_broker || { cat "$WORK/col.err"; die "the collector subscribes at the broker again"; }
# the courier backs off further at each refusal (up to 5 min): a new
# report is sent at once, with what waits
ctl report --category other --what "after the limit is lifted" >/dev/null
check_within "without the limit the large report goes too: the outbox empties" 60 outbox_empty

# a trust.conf that does not load at SIGHUP turns signed commands off,
# but the broker stays the way the reports leave (the alert of it too)
cp "$PKI/trust.conf" "$WORK/trust.good"
echo "keys = ( broken" >"$PKI/trust.conf"
kill -HUP "$KPID"
check_within "a broken trust.conf at SIGHUP: refused and said" 20 grep -q "trust reload refused" "$DLOG"
check_within "... the fleet child connected all the same (the reports' way out)" 20 fleet_connected
ST3=$(sign alice status)
send_broker operator --json --agent "$AGENT_ID" --timeout 20000 "$ST3" >"$WORK/st3.json" 2>/dev/null
check "... a signed status through the broker is not done meanwhile" \
	bash -c "! jq -e '.receipts[0].result == \"done\"' '$WORK/st3.json' >/dev/null"
cp "$WORK/trust.good" "$PKI/trust.conf"
kill -HUP "$KPID"
check_within "trust.conf whole again: the fleet child connected" 20 fleet_connected
status_done() {	# a fresh signed status through the broker comes back done
	send_broker operator --json --agent "$AGENT_ID" --timeout 10000 "$(sign alice status)" 2>/dev/null |
		jq -e '.receipts[0].result == "done"' >/dev/null
}
check_within "... and a signed status through the broker is done" 30 status_done

# --- offline: the broker keeps what comes while the agent is away ---
stop_kakurid -TERM
broker_stop
check "the broker is down" bash -c "! ip netns exec $PEER ss -Htln 'sport = :$BROKER_PORT' | grep -q LISTEN"
broker_start || die "the broker starts again"
LATE=$(sign alice isolate)
send_broker operator --json --agent "$AGENT_ID" --timeout 30000 "$LATE" >"$WORK/late.json" 2>/dev/null &
LATEPID=$!
sleep 1
start_kakurid || die "kakurid starts again"
check_within "the agent reconnects to the restarted broker, its session resumed" 20 \
	bash -c "grep -q 'fleet child: broker: connected (session resumed)' '$DLOG'"
wait "$LATEPID"; rc=$?
check "a command published while the agent was away arrives and runs (exit 0)" test $rc -eq 0
check "... isolated" test "$(status_field mode)" = isolated

# expired while the agent was away: refused, and the CSIRT sees it
stop_kakurid -TERM
OLD=$(sign alice status --ttl 2)
send_broker operator --json --agent "$AGENT_ID" --timeout 30000 "$OLD" >"$WORK/old.json" 2>/dev/null &
OLDPID=$!
sleep 4.5
start_kakurid || die "kakurid starts a third time"
wait "$OLDPID"
check "a command that expired while the agent was offline: refused on reconnect, expired" \
	jq -e '.receipts[0].result == "rejected" and .receipts[0].reason == "expired"' "$WORK/old.json"

# the broker goes away under a running agent: it retries with backoff
broker_stop
check_within "the agent notices the broker is gone" 40 bash -c "fleet_state() { $KAKURICTL -s $SOCK status --json | jq -r .fleet.state; }; fleet_state | grep -q disconnected"
sleep 3
broker_start || die "the broker starts a third time"
check_within "and reconnects by itself once it is back" 40 fleet_connected
check "the retries were spaced out, not a tight loop (at most 8 in 3 s)" \
	test "$(grep -c 'fleet child: broker: disconnected' "$DLOG")" -le 12
# --- a hostile broker ignores the maximum packet size the agent announced
# and sends a PUBLISH of 256 MiB: libmosquitto allocates a packet whole as
# soon as its length is read, so only the child's data limit stops it ---
FLEETPID=$(pgrep -P "$KPID" -x kakurid-fleet | head -1)
data_max() { awk '/^Max data size/ { print $4 }' "/proc/$FLEETPID/limits"; }
check "the fleet child's memory is limited (RLIMIT_DATA $(data_max) bytes, under 256 MiB)" \
	bash -c "[ '$(data_max)' != unlimited ] && [ '$(data_max)' -lt $((256 << 20)) ]"
broker_stop
# the collector dials the broker too: it must not be the one served
collector_stop
check_within "the agent notices the broker is gone" 40 bash -c "$KAKURICTL -s $SOCK status --json | jq -r .fleet.state | grep -q disconnected"
DROPS=$(grep -c 'fleet child: broker: disconnected' "$DLOG")
# CONNACK (MQTT 5, success), then a PUBLISH whose remaining length is the
# largest MQTT allows, topic "t", and that many bytes following.  The
# bytes go into the server's stdin, a FIFO, only once a TLS handshake
# with the agent has been completed (-brief prints the peer on stderr
# then): the CONNACK is within the 10 s the child gives a connect.
mkfifo "$WORK/hostile.fifo"
ip netns exec "$PEER" timeout 120 openssl s_server -brief -naccept 2 -tls1_3 -accept "$BROKER_PORT" \
	-cert "$FLEET/broker.crt" -key "$FLEET/broker.key" -CAfile "$FLEET/clients-ca.pem" -Verify 1 \
	<>"$WORK/hostile.fifo" >"$WORK/hostile.out" 2>"$WORK/hostile.err" &
HOSTILE=$!; PIDS+=($HOSTILE)
check_within "the fleet child connects to the hostile broker (a TLS handshake done, the agent's certificate)" 60 \
	grep -aq "Peer certificate: CN = $AGENT_ID" "$WORK/hostile.err"
{ printf '\x20\x03\x00\x00\x00\x30\xff\xff\xff\x7f\x00\x01t\x00'; head -c 268435450 /dev/zero; } \
	>"$WORK/hostile.fifo" 2>/dev/null &
FEED=$!; PIDS+=($FEED)
# the hostile broker serves one connection: it is over when it has exited
check_within "... and the connection ends" 100 \
	bash -c "! ip netns exec $PEER ss -Htn state established 'sport = :$BROKER_PORT' | grep -q ."
check "... the child said it dropped it" \
	test "$(grep -c 'fleet child: broker: disconnected' "$DLOG")" -gt "$DROPS"
WHY=$(grep -o 'fleet child: broker: disconnected: .*' "$DLOG" | tail -1)
check "... because the packet could not be allocated (${WHY#*disconnected: })" grep -q 'fleet child: broker: disconnected: Out of memory' "$DLOG"
HWM=$(awk '/^VmHWM/ { print $2 }' "/proc/$FLEETPID/status" 2>/dev/null)
check "... having taken none of the 256 MiB: its peak RSS is ${HWM:-?} kB (under 64 MiB)" \
	test "${HWM:-999999}" -lt 65536
check "the fleet child is the same process, still running" kill -0 "$FLEETPID"
check "kakurid still answers" test "$(status_field mode)" = isolated
kill "$HOSTILE" "$FEED" 2>/dev/null
check "the audit chain verifies" ctl log
summary
[ "$FAILED" -eq 0 ]
