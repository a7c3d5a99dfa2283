#!/usr/bin/env bash
# `kakurictl log` over a big audit log (issue 8, item 4): kakurid reads the
# tail from the end in bounded chunks and streams it, so a 500 MiB log
# keeps it under 16 MiB resident and its loop keeps answering; -n and
# --since pick the tail; a user outside staff_group who reads a long
# stream slowly is cut off 30 s after the answer, staff and root are not;
# rotation keeps the hash chain verifiable across files (each file goes on
# from the last hash of the one before) and keeps at most audit.keep old
# files.
. "$(dirname "$0")/lib.sh"
need
MKLOG="$TOP/build/mklog" HOG="$TOP/build/hog"
need_built "$MKLOG" "$HOG"
echo "== the audit log: a 500 MiB tail, -n, --since, rotation"
topology || die "topology"
write_policy "" "audit: { max_mb = 1024; keep = 2; };"
mkdir -p "$STATE" && chmod 0700 "$STATE"
START=$(( $(date +%s) - 30 * 86400 ))
read -r FILLER LAST <<<"$("$MKLOG" "$STATE/audit.log" 500 "$START")"
check "a valid chained log of 500 MiB is written ($FILLER lines)" test "$(stat -c %s "$STATE/audit.log")" -ge $((500 << 20))
start_kakurid || die "kakurid starts on a 500 MiB log"
hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$KPID/status"; }

ctl log >"$WORK/out" 2>&1; rc=$?; out=$(tail -1 "$WORK/out")
check "kakurictl log: the last 1000 lines, verified" bash -c "test $rc -eq 0 && grep -q '^chain: verified, 1000 entries' <<<\"\$1\"" _ "$out"
out=$(ctl log -n 5 --json 2>/dev/null)
check "-n 5: five entries, the older ones left out, verified" \
	jtrue '(.entries | length) == 5 and .truncated == true and .chain == "verified"' <<<"$out"
out=$(ctl log --since "@$((LAST - 99))" -n 0 --json 2>/dev/null)
check "--since: the filler lines of the last 100 s, and what kakurid wrote since" \
	jtrue '([.entries[] | select(.action == "filler")] | length) == 100 and .chain == "verified"' <<<"$out"
out=$(ctl log --since "$(date -u -d "@$((LAST - 9))" +%Y-%m-%dT%H:%M:%SZ)" -n 0 --json 2>/dev/null)
check "--since as RFC 3339" jtrue '([.entries[] | select(.action == "filler")] | length) == 10' <<<"$out"

# a user outside staff_group counts back at most 10,000 lines: a count is
# read from the end before the answer, in the root loop (10^9 of this log
# held it 0.4 s a request); all of it (-n 0) and --since cost no counting
out=$(as_nobody "$KAKURICTL" -s "$SOCK" log -n 999999999 2>&1); rc=$?
check "a user outside staff: -n 999999999 is refused as too-large, saying the limit" \
	bash -c "test $rc -eq 1 && grep -q 'too-large: .*at most 10000 lines' <<<\"\$1\"" _ "$out"
out=$(as_nobody "$KAKURICTL" -s "$SOCK" log -n 10001 --json 2>&1); rc=$?
check "... and -n 10001 too" test "$rc" -eq 1
out=$(as_nobody "$KAKURICTL" -s "$SOCK" log -n 10000 --json 2>/dev/null)
check "... -n 10000 is answered: 10,000 entries, verified" \
	jtrue '(.entries | length) == 10000 and .chain == "verified"' <<<"$out"
out=$(as_staff "$KAKURICTL" -s "$SOCK" log -n 20000 --json 2>/dev/null)
check "a staff member may count back further: -n 20000, verified" \
	jtrue '(.entries | length) == 20000 and .chain == "verified"' <<<"$out"
# ... up to 250,000 (a log of the defaults' size): malware running as a
# staff employee asked for 10^9 in a loop, 0.4 s of the loop each
out=$(as_staff "$KAKURICTL" -s "$SOCK" log -n 999999999 2>&1); rc=$?
check "a staff member: -n 999999999 is refused as too-large, saying the limit (fails on the old code)" \
	bash -c "test $rc -eq 1 && grep -q 'too-large: members of staff_group may ask for at most 250000 lines' <<<\"\$1\"" _ "$out"
out=$(as_staff "$KAKURICTL" -s "$SOCK" log -n 250000 2>/dev/null | tail -1)
check "... -n 250000 is answered, verified" grep -q '^chain: verified, 250000 entries' <<<"$out"

# the whole 500 MiB through the socket, while status is asked for
"$HOG" "$SOCK" 120 probe >"$WORK/probe.out" 2>&1 &
PROBEPID=$!
PIDS+=("$PROBEPID")
ctl log -n 0 >/dev/null 2>"$WORK/full.err"; rc=$?
kill "$PROBEPID"; wait "$PROBEPID"
read -r _ probes _ answered _ failed _ worst <"$WORK/probe.out"
check "kakurictl log -n 0: all 500 MiB streamed and the chain verified" test $rc -eq 0
check "status kept answering during the stream ($answered of $probes, slowest $worst ms)" \
	test "${probes:-0}" -gt 10 -a "${answered:-0}" -eq "${probes:-1}" -a "${worst:-9999}" -lt 1000
h=$(hwm)
check "kakurid stayed under 16 MiB resident through it all (VmHWM ${h} kB)" test "${h:-99999}" -lt 16384

# a slow reader of a long stream: the answer to a user outside staff_group
# is bounded as a whole (30 s), not only between sends (10 s), or a few
# uids reading a few KiB a second would hold every slot outside the staff
# for good (and an employee's report is refused as busy); staff and root
# have slots of their own and keep the idle limit only.  Each reader asks
# for 10,000 lines (about 4 MB here), takes 16 KiB every 250 ms (64 KiB/s:
# well within each idle limit) for 45 s, then the rest at full speed.
cat >"$WORK/slowlog.py" <<'PY'
import json, struct, sys, time
from ctlsock import become, request
sock, uid, gid, groups, slow_s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
become(uid, gid, [int(g) for g in groups.split(",") if g])
s, a, rest = request(sock, {"cmd": "log", "lines": 10000}, rcvbuf=4096, timeout=20)
if a is None:
    raise SystemExit("closed before the answer")
want = a["stream"]
data = bytearray(rest)
t0 = time.monotonic()
eof_at = None
end = t0 + slow_s
while eof_at is None and time.monotonic() < end:
    d = s.recv(16384)
    if not d:
        eof_at = time.monotonic() - t0
        break
    data.extend(d)
    time.sleep(0.25)
slow_bytes = len(data)
while eof_at is None and time.monotonic() < end + 120:
    d = s.recv(1 << 20)
    if not d:
        break
    data.extend(d)
got, off = 0, 0
while off + 4 <= len(data):
    n = struct.unpack(">I", data[off:off + 4])[0]
    got += min(n, len(data) - off - 4)
    off += 4 + n
print(json.dumps({"want": want, "got": got, "slow_bytes": slow_bytes,
    "eof_at": eof_at}), flush=True)
PY
slow_log() {	# slow_log NAME UID GID GROUPS: a reader in the background
	PYTHONPATH="$TOP/tests/integration" timeout 200 python3 "$WORK/slowlog.py" "$SOCK" "$2" "$3" "$4" 45 >"$WORK/slow-$1.out" 2>&1 &
	PIDS+=($!)
	eval "SLOW_$1=$!"
}
slow_log other 4600 4600 ""
slow_log staff 4242 4242 100
slow_log root 0 0 ""
for who in other staff root; do
	eval "pid=\$SLOW_$who"
	# bounded: the reader's own limits are 45 s slow, 120 s for the rest
	wait "$pid" 2>/dev/null
	echo "    $who: $(cat "$WORK/slow-$who.out")"
done
check "outside staff: a slow reader of -n 10000 is cut off by the whole answer's deadline (closed after 20..44 s, part of the stream)" \
	jtrue '.eof_at != null and .eof_at >= 20 and .eof_at < 44 and .got < .want' <"$WORK/slow-other.out"
check "... the cut is a refusal, tallied: log refused (timeout), uid 4600" \
	grep -q "uid=4600[^ ]*: log refused (timeout)" "$DLOG"
check "a staff member reading just as slowly is not cut off: 45 s, then the whole stream" \
	jtrue '.eof_at == null and .slow_bytes > 1000000 and .got == .want' <"$WORK/slow-staff.out"
check "... and root neither" \
	jtrue '.eof_at == null and .slow_bytes > 1000000 and .got == .want' <"$WORK/slow-root.out"

# streams outside the staff take at most 8 of their 16 slots: four uids
# asking for four streams each (their per-uid limit), reading nothing,
# would otherwise hold all 16 for as long as they reconnect, and an
# employee's report in the meantime is refused as busy
cat >"$WORK/streams.py" <<'PY'
import json, os, sys, time
from ctlsock import hold_as, request, word
sock, base, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def streams():
    return [(s, word(a, "stream")) for s, a, _ in
            (request(sock, {"cmd": "log", "lines": 10000}, rcvbuf=4096) for _ in range(4))]
kids, words = [], []
for uid in range(base, base + 4):
    pid, w = hold_as(uid, streams, stop, 60)
    kids.append(pid)
    words += w
print(json.dumps({"stream": words.count("stream"), "busy": words.count("busy"),
    "words": words}), flush=True)
t0 = time.monotonic()
while not os.path.exists(stop) and time.monotonic() - t0 < 60:
    time.sleep(0.1)
for pid in kids:
    os.waitpid(pid, 0)
PY
PYTHONPATH="$TOP/tests/integration" timeout 120 python3 "$WORK/streams.py" "$SOCK" 4700 "$WORK/streams.stop" >"$WORK/streams.out" 2>&1 &
STREAMS=$!; PIDS+=($STREAMS)
until_ok 30 grep -q '"stream"' "$WORK/streams.out" || fail "four uids ask for four streams each"
echo "    $(cat "$WORK/streams.out")"
check "outside staff: 8 log streams at most, the other 8 refused busy (fails on the old code)" \
	jtrue '.stream == 8 and .busy == 8' <"$WORK/streams.out"
check "... with them held, another user's report is accepted (fails on the old code)" \
	bash -c "setpriv --reuid=4800 --regid=4800 --clear-groups '$KAKURICTL' -s '$SOCK' report \
		--category other --what 'a popup while the slots are held' </dev/null >/dev/null"
touch "$WORK/streams.stop"
until_ok 70 bash -c "! kill -0 $STREAMS" || fail "the stream holders end"

# rotation: past max_mb the log moves to audit.log.1, the chain goes on
stop_kakurid -TERM
write_policy "" "audit: { max_mb = 1; keep = 2; };"
start_kakurid || fail "kakurid starts again"
check "past max_mb the 500 MiB log became audit.log.1" test "$(stat -c %s "$STATE/audit.log.1" 2>/dev/null || echo 0)" -ge $((500 << 20))
check "the new audit.log starts with the rotation mark" bash -c "head -1 '$STATE/audit.log' | jq -e '.action == \"audit-rotate\" and .from == \"audit.log.1\"' >/dev/null"
out=$(ctl log -n 2000 --json 2>/dev/null)
check "a tail across the two files verifies as one chain" \
	jtrue '.chain == "verified" and (.entries | length) == 2000 and ([.entries[] | select(.action == "audit-rotate")] | length) == 1' <<<"$out"
for round in 1 2; do
	stop_kakurid -TERM
	"$MKLOG" "$STATE/audit.log" 2 "$(date +%s)" append >/dev/null
	start_kakurid || fail "kakurid starts (round $round)"
done
check "at most keep = 2 old files (no audit.log.3)" test ! -e "$STATE/audit.log.3"
check "the 500 MiB file is gone: the disk use is bounded" bash -c "test \$(cat '$STATE'/audit.log* | wc -c) -lt $((8 << 20))"
ctl log -n 0 >"$WORK/out" 2>&1; rc=$?; out=$(tail -1 "$WORK/out")
check "kakurictl log -n 0 verifies what is kept, saying older files were rotated away" \
	bash -c "test $rc -eq 0 && grep -q 'older files were rotated away' <<<\"\$1\"" _ "$out"
ctl disconnect >/dev/null
check "an edited line in a rotated file breaks the chain" bash -c "
	sed -i '5s/filler/fi11er/' '$STATE/audit.log.1'
	! '$KAKURICTL' -s '$SOCK' log -n 0 >/dev/null 2>&1"
summary
[ "$FAILED" -eq 0 ]
