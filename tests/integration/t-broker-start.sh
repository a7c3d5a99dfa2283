#!/usr/bin/env bash
# A fleet broker that does not answer when kakurictl starts.  libmosquitto's
# blocking connect waits in connect(2) for as long as the kernel retries a
# SYN nobody answers (about two minutes), whatever kakurictl's timeout:
# send --broker --timeout 3000 hung for two minutes in an incident, and
# collector --broker neither listened nor stored anything for two minutes,
# then exited.  Now send fails within its --timeout with one line, and the
# collector serves --listen at once and connects to the broker in the
# background once it answers.  SYNs to the broker's port are dropped in
# the CSIRT namespace (this scenario's own).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetlab.sh"
need
need_built "$TOP/build/floodagent"
echo "== a broker that does not answer at the start holds nothing up"
collector_agent
fleet_ca || die "fleet CA"
cat "$PKI/agent-tls.crt" "$PKI/agent.crt" >"$WORK/a-chain.pem"
CMD=$(sign alice isolate)
[ -n "$CMD" ] || die "a signed command"

# sendb NAME: send --broker --timeout 3000 CMD, bounded (60 s); RC, MS
sendb() {
	local t0
	t0=$(date +%s%N)
	ip netns exec "$PEER" timeout 60 "$KAKURICTL" send --broker "$BROKER_URL" \
		--ca "$FLEET/ca.pem" --cert "$FLEET/operator.crt" --key "$FLEET/operator.key" \
		--agent "$AGENT_ID" --timeout 3000 "$CMD" >"$WORK/$1.out" 2>"$WORK/$1.err"
	RC=$?
	MS=$(( ($(date +%s%N) - t0) / 1000000 ))
	echo "  ($1: exit $RC in $MS ms: $(head -c 200 "$WORK/$1.err"))"
}
# --- no broker at all: the connection is refused at once
sendb refused
check "send --broker to a port nobody listens on: exit 3 (unreachable)" test "$RC" -eq 3
check "... at once, not at its --timeout 3000 ms (libmosquitto's TLS handshake writes to the dead socket until then)" \
	test "$MS" -lt 1500
check "... saying so in one line" bash -c "[ \$(wc -l <'$WORK/refused.err') -eq 1 ] &&
	grep -q 'broker $PEER4:$BROKER_PORT: .*refused' '$WORK/refused.err'"

ip netns exec "$PEER" nft -f - <<EOT || die "an nft table that drops SYNs to the broker's port"
table inet kkbstart {
	chain in { type filter hook input priority 0; tcp dport $BROKER_PORT tcp flags & (syn | ack) == syn drop; }
}
EOT
# --- send: bounded by its --timeout
sendb blackholed
check "send --broker to a broker that does not answer: exit 3 (unreachable)" test "$RC" -eq 3
check "... within its --timeout 3000 ms, not the kernel's SYN retries (fails on the old code)" \
	test "$MS" -lt 6000
check "... saying so in one line" bash -c "[ \$(wc -l <'$WORK/blackholed.err') -eq 1 ] &&
	grep -q 'broker $PEER4:$BROKER_PORT: no answer in 3000 ms' '$WORK/blackholed.err'"

# --- the collector: serves at once, the broker in the background
check "collector --broker listens at once while the broker does not answer (fails on the old code)" \
	collector --broker "$BROKER_URL" --broker-ca "$FLEET/ca.pem"
[ -n "${COLPID:-}" ] && kill -0 "$COLPID" 2>/dev/null || { cat "$WORK/col.err"; die "the collector runs"; }
check "... and says in one line that it connects in the background" \
	test "$(grep -c '^broker: connecting to ' "$WORK/col.out")" -eq 1
check "a report over TLS is acked meanwhile (fails on the old code)" direct first
check_within "the collector gives the connect 10 s, then says it failed" 20 \
	grep -q '^broker: connect failed: the broker does not answer' "$WORK/col.out"
check "a second report is acked meanwhile" direct second

ip netns exec "$PEER" nft delete table inet kkbstart
broker_start || { cat "$FLEET/mosquitto.out"; die "the broker starts"; }
check_within "the collector connects and subscribes by itself once the broker answers" 40 \
	grep -q "^broker: subscribed at $BROKER_URL" "$WORK/col.out"
sendb up
check "send --broker to the broker now: it connects (exit 0 or a missing receipt, not unreachable)" \
	bash -c "[ $RC -ne 3 ] && ! grep -q 'no answer\|connection failed' '$WORK/up.err'"
check "the collector served throughout" kill -0 "$COLPID"
# the CONNECT's properties went with the asynchronous connect: with no
# session expiry the broker forgets the collector's session (and what
# agents publish while it is away) as soon as it goes
collector_stop
check "the collector starts again, the broker up" \
	collector --broker "$BROKER_URL" --broker-ca "$FLEET/ca.pem"
check_within "... and the broker had kept its session (the session expiry was sent)" 20 grep -q '^broker: connected (session resumed)' "$WORK/col.out"
summary
[ "$FAILED" -eq 0 ]
