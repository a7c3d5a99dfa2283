#!/usr/bin/env bash
# One agent cannot keep the collector's --exec hook from other agents'
# reports.  The hook is how the CSIRT's ticketing learns of a report; it
# runs eight at a time, and the paths waiting for it are bounded.  The
# quota lets an infected PC's root, with its agent's keys, store 16,384
# small reports at once: those would take every place, and another PC's
# self-report would be stored but get no ticket.  Each agent has a share
# of the queue (an eighth), the next to run is of an agent with the
# fewest running, and what is not run is said on stderr by path.
. "$(dirname "$0")/lib.sh"
need
B="$TOP/build"
need_built "$B/floodagent"
echo "== collector: --exec for every agent, whatever one agent sends"
collector_agent
mkdir -p "$COL"
trap 'collector_stop; cleanup' EXIT

collector_agent_b

# a slow ticketing hook: notes the path it was run for, then takes 2 s
HOOK="$WORK/hook"
printf '#!/bin/sh\necho "$1" >>%s/hook.log\nsleep 2\n' "$WORK" >"$HOOK"
chmod 0755 "$HOOK"
: >"$WORK/hook.log"
collector --exec "$HOOK" || die "the collector starts with --exec"

# --- the infected PC's keys: 1,100 small reports at once ---
flood a 1100 1000 >"$WORK/flood.out"; rc=$?
echo "  (flood: $(cat "$WORK/flood.out"))"
check "the flood was stored whole (the quota lets it through)" grep -q '^acked 1100 refused 0' "$WORK/flood.out"
# --- another PC's one report, right after ---
flood b 1 1000 >"$WORK/b.out"
check "another agent's report is stored" grep -q '^acked 1 refused 0' "$WORK/b.out"
b_ran() { grep -q "/$B_ID/" "$WORK/hook.log"; }
check_within "... and --exec runs for it, ahead of the flood's waiting paths (fails on the old code)" 20 b_ran
check "the collector did not drop it" bash -c "! grep 'not run for' '$WORK/col.err' | grep -q '$B_ID'"
NOTRUN=$(grep -c "not run for .*/$AGENT_ID/" "$WORK/col.err")
A_RAN=$(grep -c "/$AGENT_ID/" "$WORK/hook.log")
# neither run nor said to be dropped: waiting still (or lost unsaid)
A_WAIT=$((1100 - NOTRUN - A_RAN))
check "the flooding agent holds its share of the queue at most ($A_WAIT waiting, $A_RAN run, $NOTRUN not run)" \
	test "$A_WAIT" -le 128
check "... and the paths not run are said on stderr, one line each" test "$NOTRUN" -gt 0
check "... naming the agent's share" grep -q "already wait (its share of 1024)" "$WORK/col.err"
check "the collector served throughout" kill -0 "$COLPID"

# --- hooks that hang (on a report's content, or on their server) ---
# Eight hung programs took every place: no later report got its ticket.
# Past --exec-timeout the program's process group is killed.
collector_stop
HANG="$WORK/hang"
printf '#!/bin/sh
echo "$1" >>%s/hang.log
sleep 1000 &
echo $! >>%s/hang.pids
wait
' "$WORK" "$WORK" >"$HANG"
chmod 0755 "$HANG"
: >"$WORK/hang.log"; : >"$WORK/hang.pids"
collector --exec "$HANG" --exec-timeout 2 || die "the collector starts with --exec-timeout"
flood b 10 1000 >"$WORK/hang-b.out"
check "ten reports stored" grep -q '^acked 10 refused 0' "$WORK/hang-b.out"
hung_all_ran() { [ "$(wc -l <"$WORK/hang.log")" -ge 10 ]; }
check_within "... eight hooks hang, are killed after 2 s, and the other two run (fails on the old code)" 60 hung_all_ran
check "... the kills are said on stderr" grep -q 'a --exec program (pid [0-9]*) ran past its time: killed' "$WORK/col.err"
hung_gone() { while read -r p; do kill -0 "$p" 2>/dev/null && return 1; done <"$WORK/hang.pids"; return 0; }
check_within "... with what each started (its process group)" 30 hung_gone
check "the collector served throughout" kill -0 "$COLPID"
summary
[ "$FAILED" -eq 0 ]
