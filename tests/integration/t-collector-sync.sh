#!/usr/bin/env bash
# One agent cannot keep the other agents' reports from their
# announcement while the collector's disk does not sync (syncfail.so).
# A report is announced (its stdout line, --exec) only once a sync has
# put it on disk; until then it waits in a bounded list (1,024), and one
# stored when the list is full is never announced: its resend finds it
# stored.  An infected PC's root, with its agent's keys, could fill that
# list while the disk fails, and every other PC's self-report would be
# acked once the disk is back but never reach the SIEM or a ticket.
# Each agent has a share (an eighth); a report past it is refused
# ("busy", not stored: it stays in the agent's outbox) and the other
# agent's self-report is stored, acked once the disk syncs, and
# announced once.
. "$(dirname "$0")/lib.sh"
need
B="$TOP/build"
need_built "$B/floodagent"
need_built "$B/syncfail.so"
echo "== collector: a disk that does not sync, one agent flooding, another's self-report"
collector_agent
mkdir -p "$COL"
trap 'collector_stop; cleanup' EXIT
collector_agent_b
outbox_empty() { [ "$(ctl outbox --json | jq -r .count)" = 0 ]; }
report() { ctl report --json --category other --what "$1" </dev/null | jq -r .report; }
start_kakurid >/dev/null || die "kakurid starts"

: >"$WORK/syncfail"
: >"$WORK/col.out"
ip netns exec "$PEER" env LD_PRELOAD="$B/syncfail.so" SYNCFAIL="$WORK/syncfail" \
	"$KAKURICTL" collector --listen "[::]:7444" --dir "$COL" --cert "$PKI/op-ca.crt" \
	--key "$PKI/op-ca.key" --agents "$WORK/agents" >>"$WORK/col.out" 2>>"$WORK/col.err" &
COLPID=$!
PIDS+=($COLPID)
until_ok 10 grep -q listening "$WORK/col.out" || die "the collector with a failing sync starts"

# --- b's keys (an infected PC's root): 1,100 small reports, one a
# --- connection, while the disk does not sync: none is acked ---
flood b 1100 1000 onward >"$WORK/flood.out"
echo "  (flood: $(cat "$WORK/flood.out"))"
check "nothing of the flood is acked" grep -q '^acked 0 ' "$WORK/flood.out"
check "past its share the flood is refused, busy (fails on the old code)" \
	grep -Eq '^acked 0 refused [0-9]+ busy ' "$WORK/flood.out"
STORED_B=$(find "$COL/$B_ID" -name '*.json' | wc -l)
check "the flooding agent has at most its share stored ($STORED_B)" test "$STORED_B" -le 128
check "the first refusal is said" grep -q "no place for this agent's" "$WORK/col.err"

# --- the other PC's self-report, right after ---
R=$(report "after the flood, on a disk that does not sync")
check "a self-report is queued" test -n "$R"
check_within "the victim's report is stored, though the disk does not sync" 20 \
	test -e "$COL/$AGENT_ID/$R.json"
check "... with a place to wait for its announcement (fails on the old code)" \
	bash -c "! grep -q '$R.json: stored, not announced' '$WORK/col.err'"
check "... and it is not acked yet" test "$(ctl outbox --json | jq -r .count)" = 1

# --- the disk syncs again ---
rm -f "$WORK/syncfail"
check_within "the disk syncs again: the victim's resend is acked" 30 outbox_empty
check "its report is announced once (fails on the old code)" \
	test "$(grep -c "$R" "$WORK/col.out")" = 1
NB=$(grep -c "from ${B_ID:0:16} " "$WORK/col.out")
check "the flooding agent's announced reports are its share at most ($NB)" test "$NB" -le 128
check "the refusals are summed up once the disk syncs" \
	grep -q 'reports refused in all while the disk did not sync' "$WORK/col.err"
check "the collector served throughout" kill -0 "$COLPID"
summary
[ "$FAILED" -eq 0 ]
