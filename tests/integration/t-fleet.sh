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
for i in $(seq 1 300); do echo "garbage $i"; done >"$WORK/flood.txt"
ip netns exec "$PEER" mosquitto_pub -h "$PEER4" -p "$BROKER_PORT" --cafile "$FLEET/ca.pem" \
	--cert "$FLEET/operator.crt" --key "$FLEET/operator.key" -V mqttv5 -q 1 \
	-t "kakuri/v1/agent/$AGENT_ID/cmd" -l <"$WORK/flood.txt" 2>/dev/null
ST2=$(sign alice status)
send_broker operator --json --agent "$AGENT_ID" --timeout 20000 "$ST2" >"$WORK/st2.json" 2>/dev/null; rc=$?
check "after a flood of 300 garbage messages a signed status still comes back done" \
	bash -c "[ $rc -eq 0 ] && jq -e '.receipts[0].result == \"done\"' '$WORK/st2.json'"
check "the audit log did not take 300 lines of it (refusals are counted, not each logged)" \
	bash -c "[ \$($KAKURICTL -s $SOCK log --json | jq '[.entries[] | select(.result == \"rejected: malformed\")] | length') -lt 50 ]"
check_within "... but summed up at the interval's end, as the broker's (on the old code: tls)" 20 \
	audit_has '.result == "rejected: malformed" and .actor == "mqtt" and .more >= 200'
check "kakurid still answers locally, the fleet child still connected" fleet_connected

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
