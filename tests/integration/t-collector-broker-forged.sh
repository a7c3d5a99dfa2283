#!/usr/bin/env bash
# kakurictl collector --broker against a broker that forges: anyone who
# may publish on an agent's out topic (a broker taken over, or an ACL too
# wide, as this one is made for the intruder) can put documents there in
# that agent's name, its certificate being public.  What they cost is
# charged to that agent's share through the broker, never to its reports
# sent directly over mutual TLS; a document too large, or of too many
# values, is refused before a report is looked at.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetlab.sh"
need
need_built "$TOP/build/floodagent"
echo "== collector --broker: forged documents cost the broker's share only"
collector_agent
fleet_ca || die "fleet CA"
FLEET_ACL_EXTRA="user intruder
topic write kakuri/v1/agent/+/out"
broker_start || { cat "$FLEET/mosquitto.out"; die "the broker starts"; }
# 1 MiB an hour: 256 reports (each counts 4 KiB at least) spend it
collector_broker --agent-quota 1 || { cat "$WORK/col.err"; die "the collector subscribes at the broker"; }
cat "$PKI/agent-tls.crt" "$PKI/agent.crt" >"$WORK/a-chain.pem"

# out DOC ENVELOPE-FILE: an out document in the first agent's name, its
# identity certificate (public) and the text of ENVELOPE-FILE as envelope
out_doc() {
	jq -cn --arg a "$AGENT_ID" --rawfile c "$PKI/agent.crt" --rawfile e "$2" \
		'{v: 1, agent: $a, kind: "report", identity: $c, envelope: $e}' >"$1"
}
# intruder_pub FILE: each line of FILE published on that agent's out
# topic, a document each
intruder_pub() {
	ip netns exec "$PEER" mosquitto_pub -h "$PEER4" -p "$BROKER_PORT" --cafile "$FLEET/ca.pem" \
		--cert "$FLEET/intruder.crt" --key "$FLEET/intruder.key" -V mqttv5 -q 1 \
		-t "kakuri/v1/agent/$AGENT_ID/out" -l <"$1"
}
head -c 2000 /dev/zero | tr '\0' x >"$WORK/junk"
out_doc "$WORK/forged.json" "$WORK/junk"
for _ in $(seq 1 300); do cat "$WORK/forged.json"; done >"$WORK/forged.lines"
intruder_pub "$WORK/forged.lines" || fail "300 forged documents published"
check_within "the forged documents are refused, and spend the agent's share through the broker" 30 \
	grep -q "mqtt:.*over its quota" "$WORK/col.err"
check "a report of that agent sent directly is acked all the same (on the old code: rate-limited)" \
	direct after-forged
check "... and stored" bash -c "ls '$COL/$AGENT_ID'/*.json | grep -q ."

# 3 MiB: more than a report may be; not charged, not looked at
head -c $((3 * 1024 * 1024)) /dev/zero | tr '\0' x >"$WORK/big"
out_doc "$WORK/big.json" "$WORK/big"
# 200,000 values: what costs jansson most for its size
{ printf '{"v":['; for _ in $(seq 1 2000); do printf '%s' "$(printf '[],%.0s' $(seq 1 100))"; done; printf '[]]}\n'; } >"$WORK/values.json"
refused_before=$(grep -c "too many values" "$WORK/col.out")
intruder_pub "$WORK/values.json" || fail "the document of many values published"
check_within "a document of 200,000 values: refused before it is parsed" 20 \
	bash -c "[ \$(grep -c 'too many values' '$WORK/col.out') -gt $refused_before ]"
intruder_pub "$WORK/big.json" || fail "the 3 MiB document published"
check "a report sent directly is acked after those too" direct after-big

# --- an agent denied (--deny: a PC stolen or retired): what comes in its
# --- name through the broker is dropped before it is looked at
collector_stop
echo "$AGENT_ID" >"$WORK/deny"
collector_broker --agent-quota 1 --deny "$WORK/deny" || die "the collector restarts with --deny"
intruder_pub "$WORK/forged.json" || fail "a document in the denied agent's name published"
check_within "a document of a denied agent through the broker: dropped, said (fails on the old code)" 20 \
	grep -q "^broker: ${AGENT_ID:0:16}: agent denied (--deny)" "$WORK/col.out"
check "the collector served throughout" kill -0 "$COLPID"
summary
[ "$FAILED" -eq 0 ]
