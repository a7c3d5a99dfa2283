#!/usr/bin/env bash
# The CSIRT channel against peers that hold its places (an attack review):
#  - a peer with a client certificate (one compromised endpoint, if the
#    agents' certificates come from the client CA) opened 64 connections
#    and sent each a frame a byte at a time: the idle deadline, renewed by
#    every byte, never came, and the 65th connection (the CSIRT's) was
#    refused for as long as it liked.  Now one source holds at most 8,
#    when all 64 are taken the oldest with no command gives way, and a
#    frame must be whole 30 s after its first byte (and its length at
#    64 KiB/s);
#  - a handshake flood from many IPv6 /64s, one connection each: when
#    the 256 places were taken, the tie between sources was broken by
#    address order, so the lowest address was evicted every time, and the
#    CSIRT's was lower than the flood's.  Now the oldest gives way.
# The holders and the flood are in the "internet" namespace, from
# addresses of their own; the CSIRT is the peer namespace.
. "$(dirname "$0")/lib.sh"
need
command -v python3 >/dev/null || unable "no python3 for the holders" "python3"
echo "== the CSIRT channel: held connections, trickled frames, a flood from many /64s"
topology || die "topology"
pki_setup || die "PKI setup"
write_policy "$(remote_agent_conf)" "$(remote_tls_conf)"
AGENT_ID=$(agent_init)
# 300 source addresses, each in a /64 of its own, routed back from the endpoint
for i in $(seq 1 300); do
	ip -n "$NET" addr add "2001:db8:2:$(printf %x "$i")::20/128" dev to-ep nodad ||
		die "address $i in the internet namespace"
done
ip -n "$EP" -6 route add 2001:db8:2::/48 via "$NET6" dev to-net || die "a route to them"
start_kakurid && until_ok 20 channel_up || die "kakurid starts"
check "a signed status before anything: done" test "$(send_result "$(sign carol status)")" = done

# hold.py SECS N_SRC PER_SRC: authenticated connections (the operator's
# certificate) from N_SRC sources, PER_SRC each, each with a 4 KiB frame
# begun and a byte of it sent every 5 s; prints "ready N" once they are
# up, then "alive N" every 5 s, until SECS or the stop file
cat >"$WORK/hold.py" <<'EOT'
import os, socket, ssl, sys, time
work, dst, cert, key = sys.argv[1:5]
secs, nsrc, per = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.load_cert_chain(cert, key)
held = []
for i in range(nsrc):
    for _ in range(per):
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.bind(("2001:db8:2:%x::20" % (i + 1), 0))
            s.connect((dst, 7443))
            t = ctx.wrap_socket(s)
            t.sendall(b"\x00\x00\x10\x00{")
            held.append(t)
        except OSError:
            s.close()
print("ready", len(held), flush=True)
end = time.time() + secs
while time.time() < end and not os.path.exists(work + "/stop"):
    time.sleep(5)
    alive = []
    for t in held:
        try:
            t.sendall(b" ")
            alive.append(t)
        except OSError:
            pass
    held = alive
    print("alive", len(held), flush=True)
EOT
# hold SECS N_SRC PER_SRC: hold.py in the background, its lines in hold.out
hold() {
	rm -f "$WORK/stop"
	: >"$WORK/hold.out"
	ip netns exec "$NET" python3 "$WORK/hold.py" "$WORK" "$EPN6" "$PKI/op-ca.crt" \
		"$PKI/op-ca.key" "$@" >>"$WORK/hold.out" 2>&1 &
	HOLD=$!; PIDS+=("$HOLD")
	until_ok 60 grep -q '^ready' "$WORK/hold.out"
}
last_alive() { awk '$1 == "alive" { n = $2 } END { print n + 0 }' "$WORK/hold.out"; }
stop_hold() { touch "$WORK/stop"; end_pid "$HOLD"; }

# --- one source: at most 8 of its connections are held ---
hold 40 1 20 || fail "20 connections from one source"
check "one source with a certificate: 8 of its 20 connections held, the rest refused (fails on the old code)" \
	until_ok 20 bash -c "awk '\$1 == \"alive\" { n = \$2 } END { exit !(n == 8) }' '$WORK/hold.out'"
check "... the child said why" grep -q 'refused: 8 authenticated connections from this source already' "$DLOG"
stop_hold

# --- ten sources, 80 connections: the CSIRT gets in all the same ---
hold 120 10 8 || fail "80 connections from ten sources"
check "80 connections from ten sources: ready" grep -q '^ready' "$WORK/hold.out"
check "while they hold every place, a signed status: done (fails on the old code)" \
	test "$(send_result "$(sign carol status)")" = done
check "... the oldest with no command gave way" grep -q 'closed: 64 authenticated connections, and this one the oldest with no command' "$DLOG"
check "... a second one: done" test "$(send_result "$(sign carol status)")" = done
# a byte every 5 s renewed the idle deadline for good: now a frame is
# whole 30 s after its first byte
check "frames sent a byte every 5 s are cut 30 s after their first byte: none left within 60 s (fails on the old code)" \
	until_ok 60 bash -c "awk '\$1 == \"alive\" { n = \$2 } END { exit !(NR > 1 && n == 0) }' '$WORK/hold.out'"
echo "  (held connections alive at the end: $(last_alive))"
check "... the child said why" grep -q 'closed: a frame (4096 bytes) not whole 30 s after its first byte' "$DLOG"
stop_hold

# --- a handshake flood from 280 /64s, one connection each ---
cat >"$WORK/flood6.py" <<'EOT'
import os, select, socket, sys, time
# flood6.py WORK DST N SECS: silent connections, one from each of N
# sources in 2001:db8:2:X::/64, N - 20 of them open at any time (one
# that is closed is opened again from the next free source)
work, dst, nsrc, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
srcs = ["2001:db8:2:%x::20" % (i + 1) for i in range(nsrc)]
open_by = {}
connects = k = 0
end = time.time() + secs
ready = False
while time.time() < end and not os.path.exists(work + "/stop"):
    while len(open_by) < nsrc - 20:
        while srcs[k % nsrc] in open_by:
            k += 1
        src = srcs[k % nsrc]
        k += 1
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((src, 0))
        try:
            s.connect((dst, 7443))
        except BlockingIOError:
            pass
        open_by[src] = s
        connects += 1
    if not ready:
        print("ready", flush=True)
        ready = True
    r, _, _ = select.select(list(open_by.values()), [], [], 0.01)
    for s in r:
        try:
            d = s.recv(64)
        except OSError:
            d = b""
        if not d:
            for src, o in list(open_by.items()):
                if o is s:
                    del open_by[src]
            s.close()
print("connects", connects, flush=True)
EOT
rm -f "$WORK/stop"
ip netns exec "$NET" python3 "$WORK/flood6.py" "$WORK" "$EPN6" 300 120 >"$WORK/flood.out" 2>&1 &
FLOOD=$!; PIDS+=("$FLOOD")
check "280 silent connections from 280 /64s" until_ok 30 grep -q '^ready' "$WORK/flood.out"
ok=0
for i in $(seq 1 10); do
	[ "$(send_result "$(sign carol status)")" = done ] && ok=$((ok + 1))
done
touch "$WORK/stop"
until_ok 10 grep -q '^connects' "$WORK/flood.out"
end_pid "$FLOOD"
echo "  (flood: $(grep connects "$WORK/flood.out"))"
check "during the flood, 10 of 10 signed commands from the CSIRT ($ok) (fails on the old code)" test "$ok" = 10
check "the flood competed: more connects than sources" \
	test "$(awk '$1 == "connects" { print $2 }' "$WORK/flood.out")" -gt 300
check "afterwards a signed status: done" test "$(send_result "$(sign carol status)")" = done
check "kakurid served throughout" kill -0 "$KPID"
summary
[ "$FAILED" -eq 0 ]
