#!/usr/bin/env bash
# `kakurictl log` over a big audit log (issue 8, item 4): kakurid reads the
# tail from the end in bounded chunks and streams it, so a 500 MiB log
# keeps it under 16 MiB resident and its loop keeps answering; -n and
# --since pick the tail; rotation keeps the hash chain verifiable across
# files (each file goes on from the last hash of the one before) and keeps
# at most audit.keep old files.
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
