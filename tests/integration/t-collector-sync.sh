#!/usr/bin/env bash
# The collector's disk does not sync (syncfail.so): nothing is acked, and
# nothing stored before a failed sync is trusted afterwards.  Linux says
# a write-back error to one syncfs only; a later one succeeds while the
# lost pages stay in the page cache, clean.  A report stored before the
# failure was read back from memory when its agent sent it again ("stored
# before"), acked after the next sync that succeeded, and deleted from
# the agent's outbox: lost at the next reboot.  Each failed sync now
# removes what was stored since the last good one (none of it acked);
# the resend stores it anew.  It also keeps one agent from filling the
# list of reports waiting for their announcement while the disk fails
# (an infected PC's root, with its agent's keys, flooding): the list is
# emptied at every failed sync, and the other PC's self-report is acked
# and announced once when the disk is back.  A second collector on the
# same directory does not start.
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

# the collector's command line; run in the background, $! is its pid (ip
# and env exec it)
COLCMD=(ip netns exec "$PEER" env LD_PRELOAD="$B/syncfail.so" SYNCFAIL="$WORK/syncfail" SYNCSLOW="$WORK/syncslow"
	"$KAKURICTL" collector --listen "[::]:7444" --dir "$COL" --cert "$PKI/op-ca.crt"
	--key "$PKI/op-ca.key" --agents "$WORK/agents")
# a disk that does not sync at the start: nothing the collector acked
# would be stored; it does not start (systemd tries again)
: >"$WORK/syncfail"
: >"$WORK/col.out"
: >"$WORK/col.err"
"${COLCMD[@]}" >>"$WORK/col.out" 2>>"$WORK/col.err" &
CP0=$!
PIDS+=($CP0)
if until_ok 30 bash -c "! kill -0 $CP0 2>/dev/null"; then wait "$CP0"; rc=$?; else kill "$CP0"; rc=running; fi
check "a collector whose disk does not sync at its start does not start: exit 1 (fails on the old code: it listened)" \
	bash -c "[ $rc = 1 ] && ! grep -q listening '$WORK/col.out'"
check "... saying why" \
	grep -q "^kakurictl: $COL: the disk does not sync (Input/output error): what is stored there cannot be trusted; not started\$" "$WORK/col.err"
[ "$FAILED" = 0 ] || sed 's/^/    /' "$WORK/col.err" | head -5
rm -f "$WORK/syncfail"
"${COLCMD[@]}" >>"$WORK/col.out" 2>>"$WORK/col.err" &
COLPID=$!
PIDS+=($COLPID)
until_ok 10 grep -q listening "$WORK/col.out" || die "the collector starts on a disk that syncs"
# one collector on a directory: a second one (on another port) would
# interleave the index and write the same temporary names
ip netns exec "$PEER" timeout 10 "$KAKURICTL" collector --listen "[::]:7445" --dir "$COL" \
	--cert "$PKI/op-ca.crt" --key "$PKI/op-ca.key" --agents "$WORK/agents" \
	>"$WORK/col2.out" 2>"$WORK/col2.err"
rc=$?
check "a second collector on the same directory does not start: exit 1 (fails on the old code: it listened)" \
	bash -c "[ $rc = 1 ] && ! grep -q listening '$WORK/col2.out'"
check "... saying which one stores there" \
	grep -q "^kakurictl: $COL: a collector (pid $COLPID) stores there already; not started\$" "$WORK/col2.err"
check "... and the first one still serves" kill -0 "$COLPID"
: >"$WORK/syncfail"

# --- b's keys (an infected PC's root): 1,100 small reports, one a
# --- connection, while the disk does not sync: none is acked ---
flood b 1100 1000 onward >"$WORK/flood.out"
echo "  (flood: $(cat "$WORK/flood.out"))"
check "nothing of the flood is acked" grep -q '^acked 0 ' "$WORK/flood.out"
STORED_B=$(find "$COL/$B_ID" -name '*.json' | wc -l)
check "none of the flood's reports is left stored: each failed sync removed what came before it ($STORED_B; fails on the old code)" \
	test "$STORED_B" -eq 0
check "... and the collector said so" grep -q 'report(s) stored since the last sync removed' "$WORK/col.err"

# --- the other PC's self-report, right after ---
R=$(report "after the flood, on a disk that does not sync")
check "a self-report is queued" test -n "$R"
check_within "the victim's report is sent, and not acked: the sync fails" 30 \
	grep -q "agent ${AGENT_ID:0:16}: syncfs failed: nothing acked" "$WORK/col.err"
check "... it stays in the agent's outbox" test "$(ctl outbox --json | jq -r .count)" = 1

# --- the disk syncs again ---
: >"$WORK/recovered"
sleep 0.5
rm -f "$WORK/syncfail"
check_within "the disk syncs again: the victim's resend is acked" 60 outbox_empty
check "... the copy acked was stored after the disk synced again, not kept from before a failed sync (fails on the old code)" \
	test "$COL/$AGENT_ID/$R.json" -nt "$WORK/recovered"
check "its report is announced once" \
	test "$(grep -c "$R" "$WORK/col.out")" = 1
check "kakurictl reports verifies it" bash -c \
	"'$KAKURICTL' reports --json --agent '$AGENT_ID' '$COL' | jq -e 'select(.report.id == \"$R\") | .verified'"
NB=$(grep -c "from ${B_ID:0:16} " "$WORK/col.out")
check "none of the flood was announced ($NB)" test "$NB" -eq 0
check "the collector served throughout" kill -0 "$COLPID"

# --- a slow disk (200 ms more a sync): b's keys pipeline 1024 reports on one
# --- connection, batch after batch; another agent's report goes between ---
# The collector read, stored and synced batch after batch for as long as
# a connection kept them coming: every other agent's handshake and report
# waited (one agent's quota allows thousands of reports an hour).  Now a
# connection gets one batch a wakeup.
: >"$WORK/syncslow"
flood b 1024 600 pipeline >"$WORK/pipe.out" 2>"$WORK/pipe.err" &
PIPEPID=$!
PIDS+=($PIPEPID)
lines_of() { jq -r .agent "$COL/index.jsonl" | grep -c "^$1\$"; }
NB0=$(lines_of "$B_ID")
check_within "b's first pipelined reports are stored" 60 bash -c "[ \$(jq -r .agent '$COL/index.jsonl' | grep -c '^$B_ID\$') -gt $NB0 ]"
flood a 1 600 >"$WORK/between.out" 2>"$WORK/between.err"
check "the other agent's report is acked meanwhile" grep -q '^acked 1 refused 0' "$WORK/between.out"
for _ in $(seq 1 1200); do kill -0 "$PIPEPID" 2>/dev/null || break; sleep 0.1; done
wait "$PIPEPID"
check "... and b's 1024 are all acked" grep -q '^acked 1024 refused 0' "$WORK/pipe.out"
rm -f "$WORK/syncslow"
# the index in the order stored: a's line before b's last one
A_LINE=$(jq -r .agent "$COL/index.jsonl" | grep -n "^$AGENT_ID\$" | tail -1 | cut -d: -f1)
B_LAST=$(jq -r .agent "$COL/index.jsonl" | grep -n "^$B_ID\$" | tail -1 | cut -d: -f1)
check "... a's report was stored between b's batches, not after them all (line $A_LINE, b's last $B_LAST; fails on the old code)" \
	test "${A_LINE:-0}" -gt 0 -a "${A_LINE:-0}" -lt "${B_LAST:-0}"
summary
[ "$FAILED" -eq 0 ]
