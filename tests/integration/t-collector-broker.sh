#!/usr/bin/env bash
# kakurictl collector --broker while the broker does not answer at all.
# The collector's one event loop serves the reports agents send it
# directly over mutual TLS (--listen) as well as the broker session, so
# its reconnect to the broker must never wait in that loop: a blocking
# connect(2) waits for as long as the kernel retries a SYN nobody answers
# (about two minutes), retried every 30 s, and meanwhile no report was
# stored or acked.  Here SYNs to the broker's port are dropped in the
# CSIRT namespace (this scenario's own), and the broker goes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetlab.sh"
need
need_built "$TOP/build/floodagent"
echo "== collector --broker: a broker that does not answer holds nothing up"
collector_agent
fleet_ca || die "fleet CA"
broker_start || { cat "$FLEET/mosquitto.out"; die "the broker starts"; }
collector_broker || { cat "$WORK/col.err"; die "the collector subscribes at the broker"; }
cat "$PKI/agent-tls.crt" "$PKI/agent.crt" >"$WORK/a-chain.pem"
check "a report over TLS is acked while the broker is up" direct up

ip netns exec "$PEER" nft -f - <<EOT || die "an nft table that drops SYNs to the broker's port"
table inet kkbhole {
	chain in { type filter hook input priority 0; tcp dport $BROKER_PORT tcp flags & (syn | ack) == syn drop; }
}
EOT
broker_stop
col_dials() { ip netns exec "$PEER" ss -Htnp state syn-sent "dport = :$BROKER_PORT" | grep -q "pid=$COLPID,"; }
check_within "the collector dials the broker again, and gets no answer" 30 col_dials
check "meanwhile a report sent to the collector directly is acked (fails on the old code)" direct blackholed
# an attempt is given 10 s, then another after a backoff
check_within "the collector said it gave up on the broker, not answering" 20 \
	grep -q '^broker: reconnect failed: the broker does not answer' "$WORK/col.out"
check_within "... and dials it again" 10 col_dials
check "a second report is acked meanwhile" direct again

ip netns exec "$PEER" nft delete table inet kkbhole
RECONNECTS=$(grep -c '^broker: reconnected' "$WORK/col.out")
broker_start || die "the broker starts again"
check_within "the collector reconnects by itself once the broker answers" 40 \
	bash -c "[ \$(grep -c '^broker: reconnected' '$WORK/col.out') -gt $RECONNECTS ]"
check "the collector served throughout" kill -0 "$COLPID"
summary
[ "$FAILED" -eq 0 ]
