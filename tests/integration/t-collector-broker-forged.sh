#!/usr/bin/env bash
# kakurictl collector --broker against a broker that forges: anyone who
# may publish on an agent's out topic (a broker taken over, or an ACL too
# wide, as this one is made for the intruder) can put documents there in
# that agent's name, its certificate being public.  What they cost is
# charged to that agent's share through the broker, never to its reports
# sent directly over mutual TLS; a document too large, or of too many
# values, is refused before a report is looked at.  Once an agent's share
# is spent, what comes in its name is dropped unread; and what the broker
# path reads in vain, in all agents' names, has one budget
# (--broker-budget), past which everything is dropped unread.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetlab.sh"
need
need_built "$TOP/build/floodagent"
echo "== collector --broker: forged documents cost the broker's share only"
collector_agent
fleet_ca || die "fleet CA"
FLEET_ACL_EXTRA="user intruder
topic write kakuri/v1/agent/+/out
topic read kakuri/v1/agent/+/ack"
broker_start || { cat "$FLEET/mosquitto.out"; die "the broker starts"; }
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
# accounted N ERE: N documents refused or dropped are accounted for: the
# lines matching ERE (stdout or stderr) and those summed up at the end of
# a window of 10 s ("N more documents refused or dropped")
accounted() {
	local said sum
	said=$(cat "$WORK/col.out" "$WORK/col.err" | grep -Ec "$2")
	sum=$(grep -o '^broker: [0-9]* more documents refused or dropped' "$WORK/col.out" | awk '{ s += $2 } END { print s + 0 }')
	[ $((said + sum)) -ge "$1" ]
}
A16=${AGENT_ID:0:16}
# 200,000 values: what costs jansson most for its size
{ printf '{"v":['; for _ in $(seq 1 2000); do printf '%s' "$(printf '[],%.0s' $(seq 1 100))"; done; printf '[]]}\n'; } >"$WORK/values.json"

# --- the broker path's budget (--broker-budget, 1 MiB here): what it reads
# --- in vain, in all agents' names together, is bounded.  Documents in the
# --- agent's name with another key's certificate cannot be charged to the
# --- agent's share; they spend the budget, and then everything that comes
# --- through the broker is dropped unread (an agent's report stays in its
# --- outbox, sent again later), while reports over TLS are taken
# (first: on the collector's session at the broker, nothing is left over
# from an earlier run to be delivered meanwhile)
collector_broker --broker-budget 1 || { cat "$WORK/col.err"; die "the collector subscribes at the broker"; }
FLOOD_SAME_FILE=$WORK/kept flood a 1 100000 same >"$WORK/kept.out" 2>&1
check "a report of the agent's (100 kB) sent directly, and kept" grep -q '^acked 1 refused 0' "$WORK/kept.out"
tail -c +34 "$WORK/kept" >"$WORK/kept.env"
out_doc "$WORK/genuine.json" "$WORK/kept.env"
# the acks published for the agent, as the intruder reads them (a line
# each, not held in a buffer)
ip netns exec "$PEER" timeout 600 stdbuf -oL -eL mosquitto_sub -h "$PEER4" -p "$BROKER_PORT" --cafile "$FLEET/ca.pem" \
	--cert "$FLEET/intruder.crt" --key "$FLEET/intruder.key" -V mqttv5 -q 1 -d \
	-t "kakuri/v1/agent/$AGENT_ID/ack" >"$WORK/acks" 2>&1 &
PIDS+=($!)
until_ok 10 grep -q "received SUBACK" "$WORK/acks" || fail "the intruder subscribes to the agent's acks"
acks() { grep -c "received PUBLISH" "$WORK/acks"; }
intruder_pub "$WORK/genuine.json" || fail "the agent's report published through the broker"
check_within "that report through the broker is read and acked again" 20 \
	bash -c "[ \$(grep -c 'received PUBLISH' '$WORK/acks') -ge 1 ]"
head -c 5000 /dev/zero | tr '\0' x >"$WORK/junk5"
jq -cn --arg a "$AGENT_ID" --rawfile c "$PKI/op-ca.crt" --rawfile e "$WORK/junk5" \
	'{v: 1, agent: $a, kind: "report", identity: $c, envelope: $e}' >"$WORK/other.json"
# a document larger than any out document (7 MiB; a frame holds 24): the
# broker keeps it from the collector, whose session takes no more than an
# out document.  Read, it spent the whole budget at once, and every
# agent's documents were dropped unread for the hour.  The next document
# (another key's certificate) is read: the 7 MiB one was not
head -c $((7 * 1024 * 1024)) /dev/zero | tr '\0' x >"$WORK/huge"
jq -cn --arg a "$AGENT_ID" --rawfile c "$PKI/op-ca.crt" --rawfile e "$WORK/huge" \
	'{v: 1, agent: $a, kind: "report", identity: $c, envelope: $e}' >"$WORK/huge.json"
ip netns exec "$PEER" mosquitto_pub -h "$PEER4" -p "$BROKER_PORT" --cafile "$FLEET/ca.pem" \
	--cert "$FLEET/intruder.crt" --key "$FLEET/intruder.key" -V mqttv5 -q 1 \
	-t "kakuri/v1/agent/$AGENT_ID/out" -f "$WORK/huge.json" || fail "a 7 MiB document published"
intruder_pub "$WORK/other.json" || fail "a document with another key's certificate published"
check_within "a 7 MiB document, then another: the other is read" 20 \
	grep -q "^broker: $A16: identity is another agent's key" "$WORK/col.out"
check "... the 7 MiB one never was: the budget is not spent (fails on the old code)" \
	bash -c "! grep -q 'spent its budget' '$WORK/col.out'"
for _ in $(seq 1 299); do cat "$WORK/other.json"; done >"$WORK/other.lines"
intruder_pub "$WORK/other.lines" || fail "299 more documents with another key's certificate published"
check_within "the budget spent is said, naming it (fails on the old code)" 30 \
	grep -q "^broker: what was read through the broker in vain .* spent its budget (--broker-budget, 1 MiB an hour)" "$WORK/col.out"
check "... once" test "$(grep -c 'spent its budget' "$WORK/col.out")" -eq 1
OTHER="^broker: ($A16: identity is another agent's key|what was read through the broker in vain)"
check_within "each of the 300 is said, or summed up in a line (within 10 s of it)" 40 accounted 300 "$OTHER"
check "... fewer than 100 of them said one by one" test "$(grep -Ec "$OTHER" "$WORK/col.out")" -lt 100
check "a report sent directly is acked meanwhile" direct during-budget
# a receipt, as an agent says it is one: passed over unread (before the
# report published again, which is waited for)
ip netns exec "$PEER" mosquitto_pub -h "$PEER4" -p "$BROKER_PORT" --cafile "$FLEET/ca.pem" \
	--cert "$FLEET/intruder.crt" --key "$FLEET/intruder.key" -V mqttv5 -q 1 \
	-D publish content-type application/vnd.kakuri.receipt+json \
	-t "kakuri/v1/agent/$AGENT_ID/out" -f "$WORK/values.json" || fail "a receipt published"
# another report of the agent's, stored over TLS, never acked through the
# broker: it would be read and checked again, which the budget has no
# room for now
FLOOD_SAME_FILE=$WORK/kept2 flood a 1 100000 same >"$WORK/kept2.out" 2>&1
check "a second report of the agent's sent directly, and kept" grep -q '^acked 1 refused 0' "$WORK/kept2.out"
tail -c +34 "$WORK/kept2" >"$WORK/kept2.env"
out_doc "$WORK/genuine2.json" "$WORK/kept2.env"
intruder_pub "$WORK/genuine2.json" || fail "the second report published through the broker"
check_within "that report through the broker is dropped and counted" 40 accounted 301 "$OTHER"
check "... unread: no ack for it (fails without the budget)" test "$(acks)" -eq 1
# the first report again: acked from what was acked, nothing read
intruder_pub "$WORK/genuine.json" || fail "the first report published again"
check_within "the first report, published again, is acked all the same: from memory, unread" 20 \
	bash -c "[ \$(grep -c 'received PUBLISH' '$WORK/acks') -ge 2 ]"
check "the collector served throughout" kill -0 "$COLPID"
collector_stop
# 1 MiB takes about 160 documents of 5.7 kB after the report acked again;
# the rest are dropped unread
STOPLINE='s/^broker: \([0-9]*\) documents read, \([0-9]*\) dropped unread, \([0-9]*\) receipts passed over, \([0-9]*\) acked again from memory, [0-9]* acks not published$/\1 \2 \3 \4/p'
read_dropped=$(sed -n "$STOPLINE" "$WORK/col.out")
echo "  (read, dropped, receipts passed over, acked from memory: $read_dropped)"
check "at the stop: every document read or dropped, at least 100 of them unread" \
	bash -c "set -- $read_dropped; [ \$((\$1 + \$2)) -ge 302 ] && [ \$2 -ge 100 ]"
check "... the receipt passed over, unread (fails on the old code)" \
	bash -c "set -- $read_dropped; [ \"\$3\" = 1 ]"
check "... one acked from memory" bash -c "set -- $read_dropped; [ \"\$4\" = 1 ]"
check "... and one report acked again the long way: the first through the broker" \
	bash -c "grep 'stored, ' '$WORK/col.err' | tail -n 1 | grep -q ', 1 acked again'"

# --- a stored report published again and again (a courier's retries
# --- queued at the broker while the collector was away, or anyone who
# --- read the out topics): read and checked once, then acked from what
# --- was acked, unread, at no cost; 12 copies of 137 kB read would
# --- spend a budget of 1 MiB
collector_broker --broker-budget 1 || die "the collector restarts with --broker-budget 1"
ACKS0=$(acks)
for _ in $(seq 1 12); do cat "$WORK/genuine.json"; done >"$WORK/again.lines"
intruder_pub "$WORK/again.lines" || fail "the stored report published 12 times"
# then one that is said: the 12 copies before it were taken by then
intruder_pub "$WORK/other.json" || fail "a document said when refused, published after them"
check_within "the copies were taken (a document published after them is said)" 40 \
	grep -q "^broker: $A16: identity is another agent's key" "$WORK/col.out"
check_within "... each acked" 20 bash -c "[ \$((\$(grep -c 'received PUBLISH' '$WORK/acks') - $ACKS0)) -ge 12 ]"
check "... the budget untouched: not said to be spent" bash -c "! grep -q 'spent its budget' '$WORK/col.out'"
# a lookalike: the stored report's length and last bytes, one character
# of its envelope's payload changed; what is remembered of an ack is
# checked by the document's SHA-256, not by where it looks the same
python3 - "$WORK/genuine.json" "$WORK/lookalike.json" <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()
i = d.index(b'\\"payload\\":\\"') + 200
d = d[:i] + (b'B' if d[i:i + 1] == b'A' else b'A') + d[i + 1:]
open(sys.argv[2], 'wb').write(d)
PY
check "a lookalike of the stored report: its length and last 32 bytes, not its bytes" bash -c \
	"[ \$(stat -c %s '$WORK/lookalike.json') = \$(stat -c %s '$WORK/genuine.json') ] &&
	 cmp -s <(tail -c 32 '$WORK/lookalike.json') <(tail -c 32 '$WORK/genuine.json') &&
	 ! cmp -s '$WORK/lookalike.json' '$WORK/genuine.json'"
BADSIG0=$(grep -c "agent $A16: refused: bad-signature" "$WORK/col.err")
intruder_pub "$WORK/lookalike.json" || fail "the lookalike published"
check_within "... read and refused for its signature, not acked from memory (fails without the hash)" 20 \
	bash -c "[ \$(grep -c 'agent $A16: refused: bad-signature' '$WORK/col.err') -gt $BADSIG0 ]"
collector_stop
read_dropped=$(sed -n "$STOPLINE" "$WORK/col.out")
echo "  (read, dropped, receipts passed over, acked from memory: $read_dropped)"
check "... the report read once (and the two after), the 11 others acked from memory, unread (fails without the memory)" \
	bash -c "set -- $read_dropped; [ \$1 = 3 ] && [ \$2 = 0 ] && [ \$4 = 11 ]"

# --- forged documents spend the agent's share through the broker only
# 1 MiB an hour: 256 reports (each counts 4 KiB at least) spend it
collector_broker --agent-quota 1 || { cat "$WORK/col.err"; die "the collector restarts with --agent-quota 1"; }
# 3 MiB: more than a report may be; read in vain, not charged to the agent
head -c $((3 * 1024 * 1024)) /dev/zero | tr '\0' x >"$WORK/big"
out_doc "$WORK/big.json" "$WORK/big"
refused_before=$(grep -c "too many values" "$WORK/col.out")
intruder_pub "$WORK/values.json" || fail "the document of many values published"
check_within "a document of 200,000 values: refused before it is parsed" 20 \
	bash -c "[ \$(grep -c 'too many values' '$WORK/col.out') -gt $refused_before ]"
intruder_pub "$WORK/big.json" || fail "the 3 MiB document published"
check "a report sent directly is acked after those too" direct after-big

head -c 2000 /dev/zero | tr '\0' x >"$WORK/junk"
out_doc "$WORK/forged.json" "$WORK/junk"
for _ in $(seq 1 300); do cat "$WORK/forged.json"; done >"$WORK/forged.lines"
intruder_pub "$WORK/forged.lines" || fail "300 forged documents published"
check_within "the forged documents are refused, and spend the agent's share through the broker" 30 \
	grep -q "mqtt:.*over its quota (--agent-quota) through the broker: what comes in its name there is dropped unread" "$WORK/col.err"
check_within "each of the 300 is said, or summed up in a line (within 10 s of it)" 40 \
	accounted 300 "mqtt:$A16( agent $A16)?: (refused: bad-signature|over its quota)"
check "... fewer than 100 of them said one by one" \
	test "$(grep -Ec "mqtt:$A16 agent $A16: refused: bad-signature" "$WORK/col.err")" -lt 100
check "a report of that agent sent directly is acked all the same (on the old code: rate-limited)" \
	direct after-forged
check "... and stored" bash -c "ls '$COL/$AGENT_ID'/*.json | grep -q ."

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
