#!/usr/bin/env bash
# kakurictl collector --broker: the acks the broker does not take are
# counted.  Here the collector's --cert is a long chain, and the broker's
# maximum packet size lies between the agent's out documents and the
# collector's acks: every report through the broker is read, found
# stored, and its ack refused by libmosquitto before it leaves.  Such an
# ack was said on a line of its own while the window of 10 lines in 10 s
# had room, and past that neither said nor counted anywhere, so a
# collector that acked nothing through the broker could look as if it
# had failed a few times (fails on the old code).  Now the window's line
# sums up the rest ("N more acks not published") and the last line
# counts them all.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetlab.sh"
need
need_built "$TOP/build/floodagent"
echo "== collector --broker: acks the broker does not take are counted"
collector_agent
fleet_ca || die "fleet CA"
FLEET_ACL_EXTRA="user intruder
topic write kakuri/v1/agent/+/out"
# (its debug lines say when the collector has taken each document)
BROKER_CONF_EXTRA="max_packet_size 4000
log_type debug" broker_start ||
	{ cat "$FLEET/mosquitto.out"; die "the broker starts with a maximum packet size of 4000"; }
cat "$PKI/agent-tls.crt" "$PKI/agent.crt" >"$WORK/a-chain.pem"
# the collector's chain: its certificate first, then 30 more
{ cat "$PKI/op-ca.crt"; for _ in $(seq 1 30); do cat "$PKI/ca.pem"; done; } >"$WORK/long-chain.pem"
collector_broker --cert "$WORK/long-chain.pem" ||
	{ cat "$WORK/col.err"; die "the collector, with the long chain, subscribes at the broker"; }

# 25 reports of the agent's, each sent directly (stored and acked over
# TLS), then as an out document through the broker, as an agent whose
# ack through the broker was lost sends it again.  They may straddle two
# windows of 10 lines: at most 20 are said, and at least 5 summed up.
N=25
: >"$WORK/docs"
for i in $(seq 1 $N); do
	FLOOD_SAME_FILE=$WORK/k$i flood a 1 1000 same >"$WORK/k$i.out" 2>&1
	grep -q '^acked 1 refused 0' "$WORK/k$i.out" || fail "report $i sent directly and acked"
	tail -c +34 "$WORK/k$i" >"$WORK/k$i.env"
	jq -cn --arg a "$AGENT_ID" --rawfile c "$PKI/agent.crt" --rawfile e "$WORK/k$i.env" \
		'{v: 1, agent: $a, kind: "report", identity: $c, envelope: $e}' >>"$WORK/docs"
done
DOCMAX=$(awk '{ if (length > m) m = length } END { print m + 0 }' "$WORK/docs")
check "the out documents fit the broker's maximum ($DOCMAX bytes, with room for the headers)" \
	test "$DOCMAX" -gt 1000 -a "$DOCMAX" -lt 3500
check "... and the collector's chain alone does not ($(wc -c <"$WORK/long-chain.pem") bytes)" \
	test "$(wc -c <"$WORK/long-chain.pem")" -gt 8000
ip netns exec "$PEER" mosquitto_pub -h "$PEER4" -p "$BROKER_PORT" --cafile "$FLEET/ca.pem" \
	--cert "$FLEET/intruder.crt" --key "$FLEET/intruder.key" -V mqttv5 -q 1 \
	-t "kakuri/v1/agent/$AGENT_ID/out" -l <"$WORK/docs" || fail "the $N documents published"
# the collector's PUBACK of a document is sent as it takes it in, and
# the rest of its handling follows in the same turn of its loop, before
# the signal that stops it
col_took() { [ "$(grep -c "Received PUBACK from kakuri-collector-" "$FLEET/mosquitto.log")" -ge "$N" ]; }
check_within "the collector took all $N documents (their PUBACKs at the broker)" 30 col_took
refused_said() { grep -c ": the ack not published: " "$WORK/col.out"; }
check_within "... an ack not published is said, with why: too large for the broker" 10 \
	grep -q "^broker: ${AGENT_ID:0:16}: the ack not published: .*Packet larger than supported by the server" "$WORK/col.out"
echo "  ($(grep -m 1 ': the ack not published: ' "$WORK/col.out"))"
check "... at most 10 such lines a window of 10 s (20 in two)" test "$(refused_said)" -le 20
collector_stop
SAID=$(refused_said)
SUMMED=$(grep -o '^broker: [0-9]* more acks not published' "$WORK/col.out" | awk '{ s += $2 } END { print s + 0 }')
TOTAL=$(sed -n 's/^broker: .* acked again from memory, \([0-9]*\) acks not published$/\1/p' "$WORK/col.out" | tail -n 1)
echo "  (acks not published: $SAID said one by one, $SUMMED summed up, ${TOTAL:-none} in the last line)"
check "the rest summed up in the window's line: said and summed make $N (fails on the old code)" \
	test "$SUMMED" -ge 1 -a $((SAID + SUMMED)) -eq "$N"
check "... and the last line counts all $N (fails on the old code)" test "${TOTAL:-x}" = "$N"
check "... whose reports were all read and found stored: acked again the long way" \
	grep -q "^collector: $N stored, $N acked again, 0 refused" "$WORK/col.err"
summary
[ "$FAILED" -eq 0 ]
