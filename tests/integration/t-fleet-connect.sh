#!/usr/bin/env bash
# The fleet child's connect to the broker is bounded (agentd/fleet_child.c).
# It used to probe the broker's port, then connect with libmosquitto's
# blocking connect: a broker (or a middlebox) that answered the probe and
# dropped the real SYN held the child in connect(2) for the kernel's SYN
# retries (about two minutes), and one that took the connection and said
# nothing held it "connecting" until the MQTT keep-alive (30 s); meanwhile
# the agent heard no fleet command.  Now TCP, TLS and the CONNACK together
# are given 10 s, then the attempt is dropped, said in one line, and tried
# again after the backoff.  Here the broker's address first takes TCP and
# never speaks (a listener that never accepts), then lets one SYN through
# and drops the rest (an nft quota, in this scenario's CSIRT namespace),
# then a real Mosquitto comes up: the child connects and a command sent
# through the broker gets its receipt.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fleetlab.sh"
need
command -v python3 >/dev/null || unable "no python3 for the silent listener" "python3"
echo "== fleet: a broker that does not answer never holds the fleet child"
fleet_lab
fleet_lab_agent "" tokyo

# the broker's address takes TCP (the kernel completes the handshake into
# the backlog) and nothing is ever read or said: bounded by its sleep
cat >"$WORK/silent.py" <<'EOT'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(64)
print("listening", flush=True)
time.sleep(float(sys.argv[3]))
EOT
ip netns exec "$PEER" python3 "$WORK/silent.py" "$PEER4" "$BROKER_PORT" 300 >"$WORK/silent.out" 2>&1 &
SILENT=$!; PIDS+=($SILENT)
until_ok 10 broker_listening || die "the silent listener listens"

start_kakurid || die "kakurid starts"
drops() { grep -c 'fleet child: broker: disconnected' "$DLOG"; }
# bounded N: at least N lines saying an attempt failed, and each within
# 10 s (the connect's deadline) and 3 s of slack of the one before (or of
# the fleet child's start) and the backoff that line announced
bounded() {
	awk -v need="$1" '
	function ms(t, a) { split(t, a, /[:.]/); return ((a[1] * 60 + a[2]) * 60 + a[3]) * 1000 + a[4] }
	/fleet broker .*\(fleet child/ { up = 1; last = ms($1); wait = 0; next }
	up && /fleet child: broker: disconnected/ {
		t = ms($1); if (t < last) t += 86400000
		if (t - last > 10000 + wait + 3000) { printf "  (%d ms after the one before)\n", t - last; bad++ }
		n++; last = t; wait = 0
		if (match($0, /next try in [0-9.]+ s/)) wait = substr($0, RSTART + 12, RLENGTH - 14) * 1000
	}
	END { exit !(n >= need && bad == 0) }' "$DLOG"
}
# --- a broker that takes TCP and says nothing ---
check_within "the broker takes TCP and says nothing: the child gives the attempt up within 10 s (fails on the old code: 30 s)" 18 \
	bash -c "[ \$(grep -c 'fleet child: broker: disconnected' '$DLOG') -ge 1 ]"
check "... saying in one line how far it came and when it tries again" \
	grep -q 'fleet child: broker: disconnected: the broker does not answer: no TLS handshake in 10 s; next try in [0-9.]* s$' "$DLOG"
check_within "... and it tries again (a second attempt given up)" 20 bash -c "[ \$(grep -c 'fleet child: broker: disconnected' '$DLOG') -ge 2 ]"
check "status says why" bash -c "'$KAKURICTL' -s '$SOCK' status --json | jq -r .fleet.state | grep -Eq '^(connecting|disconnected: the broker does not answer)'"

# --- one SYN answered (what the old code's probe took), the rest dropped:
# the quota lets the first 60-byte SYN through, none after it ---
ip netns exec "$PEER" nft -f - <<EOT || die "an nft table that drops the SYNs after the first"
table inet hbroker {
	chain in { type filter hook input priority 0; tcp dport $BROKER_PORT tcp flags & (syn | ack) == syn quota over 100 bytes drop; }
}
EOT
N=$(drops)
# the attempt under way, the one whose SYN passes, the one whose SYN is
# dropped: each 10 s at most, and backoffs of 8 s at most between them
check_within "SYNs dropped after the first: the child still gives each attempt up in time, two more (fails on the old code: blocked in connect(2))" 45 \
	bash -c "[ \$(grep -c 'fleet child: broker: disconnected' '$DLOG') -ge $((N + 2)) ]"
check_within "... one of them with no TCP connection in 10 s" 30 \
	grep -q 'fleet child: broker: disconnected: the broker does not answer: no TCP connection in 10 s; next try in' "$DLOG"
echo "  (what the child said:)"; grep 'fleet child: broker:' "$DLOG" | sed 's/^/    /'
check "every attempt ended within its 10 s and the backoff it announced (3 s slack)" bounded 4
check "kakurid answers meanwhile" test "$(status_field mode)" = open

# --- the broker comes up: the child connects and a command gets its receipt ---
ip netns exec "$PEER" nft delete table inet hbroker
end_pid "$SILENT"
broker_start || { cat "$FLEET/mosquitto.out"; die "the broker starts"; }
fleet_connected() { ctl status --json | jq -r '.fleet.state' | grep -q '^connected'; }
# an attempt under way (10 s; refused once the listener is gone) and a
# backoff of up to 30 s
check_within "the child connects once a real broker answers" 60 fleet_connected
ISO=$(sign alice isolate)
send_broker operator --json --agent "$AGENT_ID" --timeout 15000 "$ISO" >"$WORK/iso.json" 2>"$WORK/iso.err"; rc=$?
check "a command through the broker: its receipt says done (exit $rc)" \
	bash -c "[ $rc -eq 0 ] && jq -e '.receipts[0].result == \"done\" and .receipts[0].action == \"isolate\"' '$WORK/iso.json'"
check "isolated" test "$(status_field mode)" = isolated
# --- a session that lasted 10 s: a drop is retried at once again (the
# backoff of the attempts above is forgotten) ---
UP_AT=$(date +%s%N)
while [ $(( ($(date +%s%N) - UP_AT) / 1000000 )) -lt 11000 ]; do sleep 0.5; done
N=$(drops)
broker_stop
check_within "the broker stops: the child says the session ended" 20 \
	bash -c "[ \$(grep -c 'fleet child: broker: disconnected' '$DLOG') -gt $N ]"
check "... and tries again within 0.5 s, as at first, after a session of 10 s (fails without the reset: the backoff of the attempts above)" \
	bash -c "grep 'fleet child: broker: disconnected' '$DLOG' | sed -n '$((N + 1))p' | grep -Eq 'next try in 0\.[0-5] s\$'"

# --- a broker that takes each session and drops it at once: the backoff
# grows (it was reset at each CONNACK: every agent dialled twice a second) ---
cat >"$WORK/flap.py" <<'EOT'
import socket, ssl, sys, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_cert_chain(sys.argv[3], sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(16)
s.settimeout(1)
print("listening", flush=True)
end = time.monotonic() + float(sys.argv[5])

def packet(c):
    """one MQTT packet read whole; its type"""
    h = c.recv(1)
    if not h:
        raise EOFError("closed")
    length, mult = 0, 1
    for _ in range(4):
        b = c.recv(1)
        if not b:
            raise EOFError("closed")
        length += (b[0] & 127) * mult
        if b[0] < 128:
            break
        mult *= 128
    while length > 0:
        got = c.recv(min(length, 65536))
        if not got:
            raise EOFError("closed")
        length -= len(got)
    return h[0] >> 4

n = 0
while time.monotonic() < end and n < 20:
    try:
        raw, _ = s.accept()
    except socket.timeout:
        continue
    raw.settimeout(5)
    c = raw
    try:
        c = ctx.wrap_socket(raw, server_side=True)
        if packet(c) == 1:
            # CONNACK, MQTT 5: no session, success, no properties
            c.sendall(b"\x20\x03\x00\x00\x00")
            n += 1
            print("session %d" % n, flush=True)
            packet(c)	# its SUBSCRIBE: the CONNACK was taken
    except Exception as e:
        print("dropped: %s" % e, flush=True)
    c.close()
EOT
N=$(drops)
ip netns exec "$PEER" python3 "$WORK/flap.py" "$PEER4" "$BROKER_PORT" \
	"$FLEET/broker.crt" "$FLEET/broker.key" 120 >"$WORK/flap.out" 2>&1 &
FLAP=$!; PIDS+=($FLAP)
until_ok 10 broker_listening || die "the flapping broker listens"
flapped() { [ "$(grep -c '^session' "$WORK/flap.out")" -ge "$1" ]; }
check_within "a broker that drops each session after its CONNACK: the child takes two sessions" 60 flapped 2
check_within "... and says both ended (the connection lost)" 20 bash -c "[ \$(grep 'fleet child: broker: disconnected' '$DLOG' | sed -n '$((N + 1)),\$p' | grep -c 'disconnected: The connection was lost\.;') -ge 2 ]"
echo "  (what the broker and the child said:)"; sed 's/^/    /' "$WORK/flap.out"
grep 'fleet child: broker: disconnected' "$DLOG" | sed -n "$((N + 1)),\$p" | sed 's/^/    /'
# the waits announced after the sessions ended (a connect refused while
# the broker was down says "Connection refused"): the second one 1 s at
# least, the first session being at least the second attempt since the
# broker stopped
check "... its backoff grows from session to session: the second is followed by 1 s or more (fails on the old code: under 0.5 s after each)" \
	bash -c "grep 'fleet child: broker: disconnected' '$DLOG' | sed -n '$((N + 1)),\$p' | grep 'disconnected: The connection was lost\.;' | sed -n 2p | grep -Eq 'next try in ([1-9][0-9]*\.[0-9]) s\$'"
end_pid "$FLAP"
check "kakurid answers meanwhile" test "$(status_field mode)" = isolated
summary
[ "$FAILED" -eq 0 ]
