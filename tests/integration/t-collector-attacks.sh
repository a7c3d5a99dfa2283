#!/usr/bin/env bash
# The collector against peers that are no agent, and a damaged identity
# file (kakurictl collector; an attack review of it).  Every PC reports to
# this one process, so what a peer without a certificate can do to it is
# done to the whole company:
#  - a failed handshake (openssl s_client with no certificate, in a loop)
#    left OpenSSL's per-thread error queue full, and the next read of an
#    agent's connection that had to wait was taken for a fatal error: the
#    agent's report was stored and never acked.  Twenty 1.3 MB reports of
#    an agent are all acked while the loop runs;
#  - silent TCP connections took all 256 handshake places, and every
#    agent's connection was closed at once for as long as they were
#    renewed.  One address (or IPv6 /64) holds at most 16, and when many
#    addresses fill the places the oldest gives way: an agent's report is
#    acked either way;
#  - an identity.pem that does not parse (what a crash in the middle of
#    writing it left) was kept for good, and `kakurictl reports` could
#    verify none of that agent's reports again.  It is replaced.
. "$(dirname "$0")/lib.sh"
need
B="$TOP/build"
need_built "$B/floodagent"
command -v openssl >/dev/null || unable "no openssl command for the handshakes" "openssl"
echo "== collector: peers without a certificate, silent sockets, a damaged identity file"
collector_agent
mkdir -p "$COL"
trap 'touch "$WORK/stop"; collector_stop; cleanup' EXIT

# another PC's agent: an identity of its own, listed like the first
mkdir -p "$WORK/b/state"
cat >"$WORK/b/p.conf" <<EOT
agent: { state_dir = "$WORK/b/state"; control_socket = "$WORK/b/control.sock";
  listen = "[::]:7443"; key = "$WORK/b/agent.key"; cert = "$WORK/b/agent.crt"; trust = "$PKI/trust.conf"; };
management: { peers = [ "$PEER4" ]; ports = [ 7443, 7444 ]; };
tls: { client_ca = "$PKI/ca.pem"; };
EOT
chmod 0600 "$WORK/b/p.conf"
B_ID=$("$KAKURID" --init -f "$WORK/b/p.conf" 2>/dev/null)
check "a second agent's identity (kakurid --init)" grep -Eq '^[0-9a-f]{64}$' <<<"$B_ID"
echo "$B_ID" >>"$WORK/agents"
cat "$WORK/b/agent-tls.crt" "$WORK/b/agent.crt" >"$WORK/b-chain.pem"
cat "$PKI/agent-tls.crt" "$PKI/agent.crt" >"$WORK/a-chain.pem"
# flood_b COUNT SIZE: agent b's reports, from the peer's IPv4 address;
# flood_a likewise for the first agent
flood_b() {
	ip netns exec "$PEER" "$B/floodagent" "$PEER4:7444" "$COL_ID" "$WORK/b-chain.pem" \
		"$WORK/b/agent-tls.key" "$WORK/b/agent.key" "$1" "$2"
}
flood_a() {
	ip netns exec "$PEER" "$B/floodagent" "$PEER4:7444" "$COL_ID" "$WORK/a-chain.pem" \
		"$PKI/agent-tls.key" "$PKI/agent.key" "$1" "$2"
}

# --- a damaged identity.pem, planted before the agent's first report ---
mkdir -p "$COL/$B_ID"
: >"$COL/$B_ID/identity.pem"
collector || die "the collector starts"
flood_b 1 2000 >"$WORK/first.out"
check "agent b's first report is acked" grep -q '^acked 1 refused 0' "$WORK/first.out"
check "its empty identity.pem was replaced by its key (fails on the old code)" \
	openssl pkey -pubin -in "$COL/$B_ID/identity.pem" -noout
check "... and kakurictl reports verifies its report" "$KAKURICTL" reports "$COL"
check "... no temporary file is left" bash -c "! ls '$COL/$B_ID' | grep -q tmp"

# --- handshakes without a certificate, in a loop, during large reports ---
rm -f "$WORK/stop" "$WORK/handshakes"
ip netns exec "$PEER" bash -c '
	end=$((SECONDS + 120))
	while [ ! -e "$1/stop" ] && [ $SECONDS -lt $end ]; do
		timeout 5 openssl s_client -connect "$2:7444" </dev/null >/dev/null 2>&1
		echo >>"$1/handshakes"
	done' - "$WORK" "$PEER4" &
HS=$!; PIDS+=("$HS")
check_within "the handshake loop runs" 20 test -s "$WORK/handshakes"
flood_a 20 1300000 >"$WORK/big.out"; rc=$?
NHS=$(wc -l <"$WORK/handshakes")
touch "$WORK/stop"
end_pid "$HS"
echo "  (20 reports of 1.3 MB: $(cat "$WORK/big.out"); $NHS failed handshakes meanwhile)"
check "twenty 1.3 MB reports of the first agent during failed handshakes: all acked (fails on the old code)" \
	bash -c "[ $rc = 0 ] && grep -q '^acked 20 refused 0' '$WORK/big.out'"
check "... while handshakes failed all along" test "$NHS" -ge 3

# --- silent sockets: from one address, then from 20 networks ---
cat >"$WORK/silent.py" <<'EOT'
import os, select, socket, sys, time
# silent.py DST SRC... : 16 + 300 / len(SRC) silent connections from each
# source address to DST port 7444; prints how many the collector still
# holds once it has closed the others (or after 5 s), then waits for the
# stop file (at most 120 s) and closes them
work, dst, srcs = sys.argv[1], sys.argv[2], sys.argv[3:]
each = 16 + 300 // len(srcs)
socks = []
for src in srcs:
    for _ in range(each):
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind((src, 0))
        try:
            s.connect((dst, 7444))
        except OSError:
            s.close()
            continue
        socks.append(s)
        time.sleep(0.001)
end = time.time() + 5
held = socks
while time.time() < end:
    r, _, _ = select.select(held, [], [], 0.2)
    for s in r:
        try:
            if s.recv(1) == b"":
                held = [x for x in held if x is not s]
        except OSError:
            held = [x for x in held if x is not s]
    if len(held) <= 256 and not r:
        break
print(len(socks), len(held), flush=True)
end = time.time() + 120
while time.time() < end and not os.path.exists(work + "/stop"):
    time.sleep(0.1)
EOT
rm -f "$WORK/stop"
ip netns exec "$PEER" python3 "$WORK/silent.py" "$WORK" "$PEER6" "$PEER6" >"$WORK/silent1.out" &
SP=$!; PIDS+=("$SP")
check_within "300 silent connections from one address are made" 30 test -s "$WORK/silent1.out"
read -r MADE HELD <"$WORK/silent1.out"
flood_b 1 2000 >"$WORK/after1.out"; rc=$?
echo "  (one address: $MADE connections, $HELD held; then $(cat "$WORK/after1.out"))"
check "one address holds at most 16 handshake places ($HELD of $MADE) (fails on the old code)" \
	bash -c "[ '${HELD:-999}' -le 16 ] && [ '${MADE:-0}' -ge 256 ]"
check "... and an agent's report is acked meanwhile (fails on the old code)" \
	bash -c "[ $rc = 0 ] && grep -q '^acked 1 refused 0' '$WORK/after1.out'"
touch "$WORK/stop"
end_pid "$SP"

SRCS=()
for i in $(seq 1 20); do
	ip -n "$PEER" addr add "2001:db8:7$((i + 10))::1/128" dev lo nodad 2>/dev/null
	SRCS+=("2001:db8:7$((i + 10))::1")
done
rm -f "$WORK/stop"
ip netns exec "$PEER" python3 "$WORK/silent.py" "$WORK" "$PEER6" "${SRCS[@]}" >"$WORK/silent2.out" &
SP=$!; PIDS+=("$SP")
check_within "silent connections from 20 networks are made" 30 test -s "$WORK/silent2.out"
read -r MADE2 HELD2 <"$WORK/silent2.out"
flood_b 1 2000 >"$WORK/after2.out"; rc=$?
echo "  (20 networks: $MADE2 connections, $HELD2 held; then $(cat "$WORK/after2.out"))"
check "20 networks fill the 256 places ($HELD2 held of $MADE2)" \
	bash -c "[ '${HELD2:-0}' -ge 250 ] && [ '${HELD2:-999}' -le 256 ]"
check "... and an agent's report is acked all the same: the oldest gives way (fails on the old code)" \
	bash -c "[ $rc = 0 ] && grep -q '^acked 1 refused 0' '$WORK/after2.out'"
touch "$WORK/stop"
end_pid "$SP"

verified_of() { "$KAKURICTL" reports --json "$COL" 2>/dev/null | jq -s "[.[] | select(.report.agent == \"$1\" and .verified)] | length"; }
check "every report is listed, verified: 20 of the first agent, 3 of agent b" \
	bash -c "[ '$(verified_of "$AGENT_ID")' = 20 ] && [ '$(verified_of "$B_ID")' = 3 ]"
check "the collector served throughout" kill -0 "$COLPID"
summary
[ "$FAILED" -eq 0 ]
