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
#  - a stored report that could not be read back (a disk error) when its
#    agent sent it again was taken for "not stored": stored, indexed and
#    announced again.  It is refused (io) and acked once the disk reads.
#  - an agent sending its report a byte at a time, each before the idle
#    timer's end, held its connection for good.  It is closed at
#    --frame-timeout; reports whose writes straddle them are each timed
#    from their own first byte.
. "$(dirname "$0")/lib.sh"
need
B="$TOP/build"
need_built "$B/floodagent" "$B/syncfail.so"
command -v openssl >/dev/null || unable "no openssl command for the handshakes" "openssl"
echo "== collector: peers without a certificate, silent sockets, a damaged identity file"
collector_agent
mkdir -p "$COL"
trap 'touch "$WORK/stop"; collector_stop; cleanup' EXIT

collector_agent_b

# --- a damaged identity.pem, planted before the agent's first report ---
mkdir -p "$COL/$B_ID"
: >"$COL/$B_ID/identity.pem"
collector || die "the collector starts"
flood b 1 2000 >"$WORK/first.out"
check "agent b's first report is acked" grep -q '^acked 1 refused 0' "$WORK/first.out"
check "its empty identity.pem was replaced by its key (fails on the old code)" \
	openssl pkey -pubin -in "$COL/$B_ID/identity.pem" -noout
check "... and kakurictl reports verifies its report" "$KAKURICTL" reports "$COL"
check "... no temporary file is left" bash -c "! ls '$COL/$B_ID' | grep -q tmp"

# --- a report its agent sends again (its ack was lost): written again
# --- before the sync the ack waits for.  What is read back may be the
# --- page cache's only: a write-back error is said to one syncfs once,
# --- and a collector started since, or another process, was told.
rm -f "$WORK/same.rep"
FLOOD_SAME_FILE="$WORK/same.rep" flood b 1 2000 same >"$WORK/same1.out"
SID=$(head -n1 "$WORK/same.rep")
check "a report of b's is acked" bash -c "grep -q '^acked 1 refused 0' '$WORK/same1.out' && [ -s '$COL/$B_ID/$SID.json' ]"
I1=$(stat -c %i "$COL/$B_ID/$SID.json")
cp "$COL/$B_ID/$SID.json" "$WORK/same1.json"
FLOOD_SAME_FILE="$WORK/same.rep" flood b 1 2000 same >"$WORK/same2.out"
I2=$(stat -c %i "$COL/$B_ID/$SID.json")
check "sent again by another run, it is acked again" grep -q '^acked 1 refused 0' "$WORK/same2.out"
check "... written again, a new file in its place (fails on the old code: $I1 -> $I2)" test "$I1" != "$I2"
check "... the same bytes, indexed once, announced once" bash -c \
	"cmp -s '$WORK/same1.json' '$COL/$B_ID/$SID.json' && [ \$(grep -c '$SID' '$COL/index.jsonl') = 1 ] && [ \$(grep -c '$SID' '$WORK/col.out') = 1 ]"

# --- a stored report that cannot be read back (a disk error) when it is
# --- sent again: whether it is stored is not known, so it is refused and
# --- sent again later; taken for "not stored", it was stored, indexed
# --- and announced again (and the same id with other bytes replaced it)
collector_stop
ip netns exec "$PEER" env LD_PRELOAD="$B/syncfail.so" READFAIL="$WORK/readfail" \
	READFAIL_UNDER="$COL/$B_ID/" "$KAKURICTL" collector --listen "[::]:7444" \
	--dir "$COL" --cert "$PKI/op-ca.crt" --key "$PKI/op-ca.key" \
	--agents "$WORK/agents" >>"$WORK/col.out" 2>>"$WORK/col.err" &
COLPID=$!
PIDS+=($COLPID)
until_ok 10 bash -c "[ \$(grep -c listening '$WORK/col.out') -ge 2 ]" || die "the collector restarts"
: >"$WORK/readfail"
FLOOD_SAME_FILE="$WORK/same.rep" flood b 1 2000 same >"$WORK/same3.out"
echo "  (sent again, unreadable: $(cat "$WORK/same3.out"))"
check "sent again while its stored copy cannot be read: refused, io (fails on the old code: acked)" \
	grep -q '^acked 0 refused 1 io' "$WORK/same3.out"
check "... the collector says why in one line" grep -q "$SID.json: the stored copy cannot be read: Input/output error" "$WORK/col.err"
check "... indexed once, announced once, the stored copy unchanged (fails on the old code: twice)" bash -c \
	"cmp -s '$WORK/same1.json' '$COL/$B_ID/$SID.json' && [ \$(grep -c '$SID' '$COL/index.jsonl') = 1 ] && [ \$(grep -c '$SID' '$WORK/col.out') = 1 ]"
rm -f "$WORK/readfail"
FLOOD_SAME_FILE="$WORK/same.rep" flood b 1 2000 same >"$WORK/same4.out"
check "the disk reads again: the resend is acked, still indexed once" bash -c \
	"grep -q '^acked 1 refused 0' '$WORK/same4.out' && [ \$(grep -c '$SID' '$COL/index.jsonl') = 1 ]"
collector_stop
collector || die "the collector restarts"

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
flood a 20 1300000 >"$WORK/big.out"; rc=$?
NHS=$(wc -l <"$WORK/handshakes")
touch "$WORK/stop"
end_pid "$HS"
echo "  (20 reports of 1.3 MB: $(cat "$WORK/big.out"); $NHS failed handshakes meanwhile)"
check "twenty 1.3 MB reports of the first agent during failed handshakes: all acked (fails on the old code)" \
	bash -c "[ $rc = 0 ] && grep -q '^acked 20 refused 0' '$WORK/big.out'"
check "... while handshakes failed all along" test "$NHS" -ge 3

# --- silent sockets: from one address, then from 20 networks ---
cat >"$WORK/silentconn.py" <<'EOT'
import socket
def silent(dst, src):
    """A TCP connection from src to dst port 7444 that sends nothing, or None."""
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.bind((src, 0))
    try:
        s.connect((dst, 7444))
    except OSError:
        s.close()
        return None
    return s
EOT
cat >"$WORK/silent.py" <<'EOT'
import os, select, sys, time
from silentconn import silent
# silent.py WORK DST SRC...: 16 + 300 / len(SRC) silent connections from each
# source address to DST port 7444; prints how many the collector still
# holds once it has closed the others (or after 5 s), then waits for the
# stop file (at most 120 s) and closes them
work, dst, srcs = sys.argv[1], sys.argv[2], sys.argv[3:]
each = 16 + 300 // len(srcs)
socks = []
for src in srcs:
    for _ in range(each):
        s = silent(dst, src)
        if s is None:
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
# silent WHAT SRC...: silent.py from those source addresses held open
# while agent b sends one report (from $PEER4); MADE and HELD as it says,
# RC and $WORK/after.out floodagent's.  To $SILENT_DST ($PEER6 unless
# set)
silent() {
	local what=$1 sp; shift
	rm -f "$WORK/stop" "$WORK/silent.out"
	ip netns exec "$PEER" python3 "$WORK/silent.py" "$WORK" "${SILENT_DST:-$PEER6}" "$@" >"$WORK/silent.out" &
	sp=$!; PIDS+=("$sp")
	check_within "silent connections from $what are made" 30 test -s "$WORK/silent.out"
	read -r MADE HELD <"$WORK/silent.out"
	flood b 1 2000 >"$WORK/after.out"; RC=$?
	echo "  ($what: $MADE connections, $HELD held; then $(cat "$WORK/after.out"))"
	touch "$WORK/stop"
	end_pid "$sp"
}
acked_meanwhile() { [ "$RC" = 0 ] && grep -q '^acked 1 refused 0' "$WORK/after.out"; }

silent "one address" "$PEER6"
check "one address holds at most 16 handshake places ($HELD of $MADE) (fails on the old code)" \
	bash -c "[ '${HELD:-999}' -le 16 ] && [ '${MADE:-0}' -ge 256 ]"
check "... and an agent's report is acked meanwhile (fails on the old code)" acked_meanwhile

# the same from the agent's own address (an office behind one NAT
# address, or on one /64): a host there that held its 16 places had every
# agent there refused at once, for as long as it held them
SILENT_DST=$PEER4 silent "the agent's own address" "$PEER4"
check "the agent's own address holds at most 16 handshake places ($HELD of $MADE)" \
	bash -c "[ '${HELD:-999}' -le 16 ] && [ '${MADE:-0}' -ge 256 ]"
check "... and its report is acked all the same: its oldest silent one gives way (fails on the old code)" \
	acked_meanwhile

# lo_addrs NET N: N addresses of their own /64 each, 2001:db8:NET11::1
# and on, put on the peer's lo; one a line
lo_addrs() {
	local i
	for i in $(seq 1 "$2"); do
		ip -n "$PEER" addr add "2001:db8:$1$((i + 10))::1/128" dev lo nodad 2>/dev/null
		echo "2001:db8:$1$((i + 10))::1"
	done
}
mapfile -t SRCS < <(lo_addrs 7 20)
silent "20 networks" "${SRCS[@]}"
check "20 networks fill the 256 places ($HELD held of $MADE)" \
	bash -c "[ '${HELD:-0}' -ge 250 ] && [ '${HELD:-999}' -le 256 ]"
check "... and an agent's report is acked all the same: the oldest gives way (fails on the old code)" \
	acked_meanwhile

# --- silent sockets renewed as fast as they come, while an agent's
# --- handshake is under way ---
# The oldest gave its place to each new connection: past 256 new ones,
# the agent's own handshake was the oldest, and closed (a far agent, or a
# slow one, never got through).  Now the oldest that has sent nothing.
cat >"$WORK/churn.py" <<'EOT'
import select, socket, sys
from silentconn import silent
# churn.py DST HELLO-SRC SRC... : 16 silent connections from each of the
# first half of the sources, then one that sends the start of a
# ClientHello (as an agent's handshake under way), then 16 silent ones
# from each of the other half; prints "open" if the collector kept the
# ClientHello's, else "closed"
dst, hello_src, srcs = sys.argv[1], sys.argv[2], sys.argv[3:]
keep = []
def burst(half):
    for src in half:
        for _ in range(16):
            s = silent(dst, src)
            if s is not None:
                keep.append(s)
burst(srcs[:len(srcs) // 2])
h = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
h.bind((hello_src, 0))
h.connect((dst, 7444))
# a handshake record's header and the ClientHello's type: more to come
h.sendall(bytes([0x16, 0x03, 0x01, 0x00, 0xff, 0x01]))
select.select([], [], [], 0.5)
burst(srcs[len(srcs) // 2:])
r, _, _ = select.select([h], [], [], 1.0)
closed = False
if r:
    try:
        closed = h.recv(1) == b""
    except OSError:
        closed = True
print("closed" if closed else "open", flush=True)
EOT
mapfile -t CHURN < <(lo_addrs 8 40)
ip -n "$PEER" addr add "2001:db8:899::1/128" dev lo nodad 2>/dev/null
out=$(ip netns exec "$PEER" timeout 60 python3 "$WORK/churn.py" "$PEER6" "2001:db8:899::1" "${CHURN[@]}")
check "an agent's handshake under way outlasts 640 silent connections from 40 networks (fails on the old code: closed)" \
	test "$out" = open

verified_of() { "$KAKURICTL" reports --json "$COL" 2>/dev/null | jq -s "[.[] | select(.report.agent == \"$1\" and .verified)] | length"; }
check "every report is listed, verified: 20 of the first agent, 5 of agent b" \
	bash -c "[ '$(verified_of "$AGENT_ID")' = 20 ] && [ '$(verified_of "$B_ID")' = 5 ]"
check "the collector served throughout" kill -0 "$COLPID"

# --- no descriptor left to accept with (EMFILE): the listener pauses ---
# A connection the collector cannot accept stays in the backlog, and the
# listener woke again at once: the loop spun on accept4 at full CPU for as
# long as the descriptors were taken (a hard limit under what the
# connections need).  Now the listener pauses for 250 ms at a time.
NFD=$(ls "/proc/$COLPID/fd" | wc -l)
NOFILE=$(awk '/^Max open files/ { print $4 }' "/proc/$COLPID/limits")
# the soft limit only: the hard one could not be raised again
prlimit --pid "$COLPID" --nofile=$((NFD + 4)): || die "prlimit on the collector"
rm -f "$WORK/stop" "$WORK/silent.out"
ip netns exec "$PEER" python3 "$WORK/silent.py" "$WORK" "$PEER6" "$PEER6" "$PEER6" >"$WORK/silent.out" &
SP=$!; PIDS+=("$SP")
check_within "silent connections past the descriptors left are made" 30 test -s "$WORK/silent.out"
check_within "... the collector says it cannot accept, and pauses" 10 \
	grep -q 'cannot accept a connection (Too many open files): not accepting for 250 ms' "$WORK/col.err"
# ticks: utime + stime of the collector (fields 14 and 15), in clock ticks
ticks() { awk '{ print $14 + $15 }' "/proc/$COLPID/stat"; }
T0=$(ticks); sleep 2; T1=$(ticks)
check "... and does not spin meanwhile: $((T1 - T0)) ticks of CPU in 2 s, under 20 (fails on the old code: it spun)" \
	test $((T1 - T0)) -lt 20
touch "$WORK/stop"
end_pid "$SP"
prlimit --pid "$COLPID" --nofile="$NOFILE": || die "prlimit back"
flood b 1 2000 >"$WORK/after-emfile.out"
check "... once descriptors are free again, an agent's report is acked" grep -q '^acked 1 refused 0' "$WORK/after-emfile.out"
check "... the collector still serves" kill -0 "$COLPID"

# --- one agent's hostname, 1.4 MB: the index does not carry it ---
# the collector copied the hostname of a signed report into index.jsonl as
# sent, uncharged by the quota: one infected PC's reports grew the index
# past what kakurictl reports read (1 GiB), and the command failed for
# every agent's reports.  The index keeps 255 bytes of it as text.
isize() { stat -c %s "$COL/index.jsonl"; }
i0=$(isize)
FLOOD_HOSTNAME_BYTES=1400000 flood a 3 100 >"$WORK/longhost.out"
check "three reports naming a 1.4 MB hostname: acked" grep -q '^acked 3 refused 0' "$WORK/longhost.out"
i1=$(isize)
check "... they grew the index by under 3 KiB, not 4.2 MB ($((i1 - i0)) bytes; fails on the old code)" \
	test $((i1 - i0)) -lt 3072
check "... their lines name 255 bytes of the hostname" bash -c \
	"tail -n 3 '$COL/index.jsonl' | jq -s -e 'length == 3 and all(.[]; (.hostname | length) == 255)'"
check "... and kakurictl reports verifies them with the rest (23 of the first agent)" \
	test "$(verified_of "$AGENT_ID")" = 23

# --- an agent that sends its report a byte at a time, slower than any
# --- link: bytes that keep coming reset the idle timer (60 s), and a
# --- connection sending one a minute held its place and the 2 MiB its
# --- frame announced for ever.  A report must be whole --frame-timeout
# --- seconds after its first byte.
cat >"$WORK/trickle.py" <<'EOT'
import socket, ssl, sys, time
# trickle.py DST CHAIN KEY: a TLS connection with an agent's certificate,
# a frame announcing 1000 bytes, then one byte every 0.3 s for up to 20 s;
# prints "closed S" (seconds after the first byte) or "open"
dst, chain, key = sys.argv[1:4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_cert_chain(chain, key)
s = ctx.wrap_socket(socket.create_connection((dst, 7444), timeout=10))
s.settimeout(0.3)
t0 = time.monotonic()
s.sendall((1000).to_bytes(4, "big"))
while time.monotonic() - t0 < 20:
    try:
        if s.recv(1) == b"":
            break
    except socket.timeout:
        pass
    except (OSError, ssl.SSLError):
        break
    try:
        s.sendall(b"x")
    except (OSError, ssl.SSLError):
        break
else:
    print("open", flush=True)
    sys.exit(0)
print("closed %.1f" % (time.monotonic() - t0), flush=True)
EOT
collector_stop
collector --frame-timeout 3 || die "the collector restarts with --frame-timeout 3"
out=$(ip netns exec "$PEER" timeout 40 python3 "$WORK/trickle.py" "$PEER4" "$WORK/a-chain.pem" "$PKI/agent-tls.key")
echo "  (a byte every 0.3 s: $out)"
check "an agent's report trickling in a byte at a time is closed at --frame-timeout 3, not held (fails on the old code: open)" \
	bash -c "[[ '$out' =~ ^closed\ ([0-9]+) ]] && [ \${BASH_REMATCH[1]} -ge 2 ] && [ \${BASH_REMATCH[1]} -le 10 ]"
check "... the collector says why, naming the agent" \
	grep -q "agent ${AGENT_ID:0:16}: a report not whole 3 s after its first byte (--frame-timeout): closed" "$WORK/col.err"
check "... and a report sent at once is acked by the same collector" direct after-trickle
# ten reports as one stream, each write ending one and beginning the
# next, 0.8 s apart: 8 s in all, past --frame-timeout 6, and each report
# whole within 0.8 s of its start (5 s to spare for a slow sync)
collector_stop
collector --frame-timeout 6 || die "the collector restarts with --frame-timeout 6"
FLOOD_STRADDLE_MS=800 flood b 10 2000 straddle >"$WORK/straddle.out" 2>&1
echo "  (ten reports straddling the writes: $(cat "$WORK/straddle.out"))"
check "... ten reports whose writes straddle them, 8 s in all, are acked: each is timed from its own first byte (fails on the old code)" \
	grep -q '^acked 10 refused 0' "$WORK/straddle.out"
check "... which still serves" kill -0 "$COLPID"
# --- a hostname that looks like another PC's: fullwidth letters and a
# --- zero-width space passed as text, and "ｐｃ-001" read as "pc-001" in
# --- the collector's line and in kakurictl reports.  Names are ASCII.
FLOOD_HOSTNAME=$'\xef\xbd\x90\xef\xbd\x83-001\xe2\x80\x8b' flood b 1 2000 >"$WORK/lookalike.out"
check "a report naming a lookalike hostname is acked" grep -q '^acked 1 refused 0' "$WORK/lookalike.out"
check "... the collector's line shows its bytes escaped (fails on the old code)" \
	grep -qF '(\xef\xbd\x90\xef\xbd\x83-001\xe2\x80\x8b) seq' "$WORK/col.out"
"$KAKURICTL" reports "$COL" >"$WORK/lookalike.txt"
check "... kakurictl reports shows the escapes (fails on the old code)" \
	grep -qF '\xef\xbd\x90\xef\xbd' "$WORK/lookalike.txt"
check "... the whole name, to its end: it is no pc-001 (fails on the old code, which cut it at 20)" \
	grep -qF ' \xef\xbd\x90\xef\xbd\x83-001\xe2\x80\x8b seq ' "$WORK/lookalike.txt"
check "... and nowhere the fullwidth letter or the zero-width space itself" \
	bash -c "! LC_ALL=C grep -q -e \$'\xef\xbd\x90' -e \$'\xe2\x80\x8b' '$WORK/lookalike.txt' '$WORK/col.out'"
# --- and in kakurictl reports --json: what an agent wrote reaches the
# --- operator's terminal as \u escapes only (a C1 control, U+009B,
# --- starts an escape sequence; U+202E turns the text around)
C1HOST=$'pc\xc2\x9b2J-\xe2\x80\xaelive'
FLOOD_HOSTNAME=$C1HOST flood b 1 2000 >"$WORK/c1.out"
check "a report naming a hostname with a C1 control and a bidi override is acked" \
	grep -q '^acked 1 refused 0' "$WORK/c1.out"
"$KAKURICTL" reports --json "$COL" >"$WORK/c1.json"
check "... reports --json writes neither as it is (fails on the old code)" \
	bash -c "! LC_ALL=C grep -q -e \$'\xc2\x9b' -e \$'\xe2\x80\xae' '$WORK/c1.json'"
check "... and jq reads the name back as the agent wrote it" \
	jq -e -s --arg h "$C1HOST" 'any(.[]; .. | strings | . == $h)' "$WORK/c1.json"

# an index of over 1 GiB (a large fleet's years, or a damaged one: a gap
# of 1.1 GiB without a line end, sparse here, before every line) is read
# a line at a time: the reports after it stay listed and verified, the
# long line is named
collector_stop
mv "$COL/index.jsonl" "$WORK/index.orig"
truncate -s 1100M "$COL/index.jsonl"
{ echo; cat "$WORK/index.orig"; } >>"$COL/index.jsonl"
"$KAKURICTL" reports --json "$COL" >"$WORK/big-index.out" 2>"$WORK/big-index.err"; rc=$?
check "an index of 1.1 GiB, a line that long first: 25 and 17 reports after it verified (fails on the old code)" \
	test "$(jq -s "[.[] | select(.verified)] | length" "$WORK/big-index.out")" = 42
check "... the long line is named, and the exit says something did not hold" \
	bash -c "[ $rc -eq 1 ] && grep -q 'a line longer than 64 KiB' '$WORK/big-index.err'"
summary
[ "$FAILED" -eq 0 ]
