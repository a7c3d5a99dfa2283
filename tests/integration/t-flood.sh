#!/usr/bin/env bash
# A flood cannot grow the audit log (issue 8, item 4).  For 20 s a user
# outside staff_group (uid 65534) sends request after request: malformed
# JSON, bad frames, commands it may not give, unknown commands, control
# characters, garbage "signed" commands.  The audit log grows by less than
# 1 MiB (each refusal used to be an fsync'd line of up to 16 KiB), no line
# is over the cap, the journal does not get a line per refusal, and the
# agent keeps serving everyone.
. "$(dirname "$0")/lib.sh"
need
HOG="$TOP/build/hog"
need_built "$HOG"
echo "== an unprivileged flood and the audit log"
topology || die "topology"
pki_setup || die "PKI setup"
write_policy "$(remote_agent_conf)" "$(remote_tls_conf)"
AGENT_ID=$(agent_init)
start_kakurid || die "kakurid starts"
audit_bytes() { cat "$STATE"/audit.log* 2>/dev/null | wc -c; }
before=$(audit_bytes)
log_before=$(wc -l <"$DLOG")

setpriv "${NOBODY_ID[@]}" "$HOG" "$SOCK" 20 flood >"$WORK/flood.out" 2>&1 &
FLOODPID=$!
PIDS+=("$FLOODPID")
# the agent serves the others all along
served=0 tries=0
while kill -0 "$FLOODPID" 2>/dev/null && [ $tries -lt 400 ]; do
	tries=$((tries + 1))
	ctl status >/dev/null 2>&1 && served=$((served + 1))
	sleep 0.2
done
wait "$FLOODPID"
read -r _ requests _ answered _ <"$WORK/flood.out"
check "the flood ran for its 20 s ($requests requests, $answered answered)" test "${requests:-0}" -gt 2000
check "status was served all through the flood ($served of $tries)" test "$served" -eq "$tries" -a "$tries" -gt 20
check "a staff member can still disconnect" as_staff "$KAKURICTL" -s "$SOCK" disconnect
check "a signed command is still accepted (status by carol)" \
	bash -c "'$KAKURICTL' -s '$SOCK' apply '$(sign carol status)' >/dev/null"
added=$(( $(audit_bytes) - before ))
check "the audit log grew by less than 1 MiB ($added bytes for $requests refused requests)" test "$added" -lt 1048576
longest=$(cat "$STATE"/audit.log* | awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }')
check "no audit line is over the cap (longest $longest bytes)" test "$longest" -le 4096
jl=$(( $(wc -l <"$DLOG") - log_before ))
check "the daemon log did not get a line per refusal ($jl lines)" test "$jl" -lt 200
check "the refusals are summarised by uid (bounded wait for the interval)" \
	wait_for 15 bash -c "'$KAKURICTL' -s '$SOCK' log -n 0 --json | jtrue '[.entries[] | select(.action == \"control-refusals\") | .uids[] | select(.uid == 65534) | .count] | add > 1000'"
check "a flood kept up: the next interval is twice as long (summaries of 10 s, then 20 s)" \
	wait_for 25 bash -c "'$KAKURICTL' -s '$SOCK' log -n 0 --json | jtrue '[.entries[] | select(.action == \"control-refusals\") | .interval_s] | .[0:2] == [10, 20]'"

# many uids (a user's subordinate range): 40 of them refused 3 times each
# record at most 12 lines in full an interval together, not 3 each; the
# count is read once kakurid has stopped (its last interval summed up),
# over however many intervals the 120 requests took under load
summaries() { ctl log -n 0 --json | jq '[.entries[] | select(.action == "control-refusals")] | length'; }
S0=$(summaries)
printf '%s' '{"cmd":"release"}' >"$WORK/rel.json"
for u in $(seq 200000 200039); do
	for _ in 1 2 3; do
		raw_request "$WORK/rel.json" --reuid="$u" --regid="$u" --clear-groups >/dev/null
	done
done
# and root's refusal still has its line in full, whatever they did
raw_request "$WORK/rel.json" >/dev/null
stop_kakurid -TERM
cat "$STATE"/audit.log* >"$WORK/all.jsonl"
S1=$(jq -s '[.[] | select(.action == "control-refusals")] | length' "$WORK/all.jsonl")
full=$(jq -s '[.[] | select(.actor | test("^local:uid=2000[0-3][0-9]\\("))] | length' "$WORK/all.jsonl")
check "40 uids refused 120 times: $full lines in full, at most 12 in each of the $((S1 - S0)) intervals" \
	test "${full:-999}" -ge 1 -a "${full:-999}" -le $((12 * (S1 - S0 + 1)))
check "... every one of them counted in the summaries" \
	jtrue '[.[] | select(.action == "control-refusals") | ((.uids // []) | map(select(.uid >= 200000) | .count) | add // 0) + (.other_uids // 0)] | add >= 108' < <(jq -s . "$WORK/all.jsonl")
check "... and root's refusal after them has its own line" \
	jtrue '[.[] | select((.actor | startswith("local:uid=0(")) and .result == "refused: signature-required")] | length >= 1' < <(jq -s . "$WORK/all.jsonl")
start_kakurid || fail "kakurid starts again"
check "the escape sequences of the flood are not in the audit log, even escaped" bash -c "! grep -qiF '\\u001b' '$STATE'/audit.log*"
check "audit chain verifies" ctl log -n 0
summary
[ "$FAILED" -eq 0 ]
