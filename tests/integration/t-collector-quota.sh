#!/usr/bin/env bash
# One agent cannot fill the collector (kakurictl collector --agent-quota).
# The PC a CSIRT isolates may have the attacker as root, with the agent's
# keys: from there, over the management channel that isolation keeps
# open, validly signed reports can be sent to the collector that every
# other PC reports to.  With --agent-quota 1 (MiB an hour), a flood of
# 256 KiB reports signed with the agent's own keys (floodagent) gets
# about 1 MiB stored and the rest refused, said once on the collector's
# stderr; the collector's disk keeps its room; another agent's report is
# stored at once; a report sent again and again is charged each time, as
# are forged reports; and the flooded agent's own kakurid keeps its
# report in the outbox, saying why (delayed, not lost).
. "$(dirname "$0")/lib.sh"
need
B="$TOP/build"
need_built "$B/floodagent"
echo "== collector: what one agent may store in an hour"
collector_agent
mkdir -p "$COL"
if ! mount -t tmpfs -o size=16m,mode=0750 kakuri-colq "$COL"; then
	unable "no tmpfs mount for the collector's directory" "tmpfs for the collector"
fi
trap 'collector_stop; umount "$COL" 2>/dev/null || umount -l "$COL"; cleanup' EXIT

collector_agent_b
avail() { df --output=avail -B1 "$COL" | tail -1; }
outbox_count() { ctl outbox --json | jq -r .count; }
waiting_says() { ctl outbox --json | jq -e --arg w "$1" '.waiting | test($w)' >/dev/null; }

start_kakurid || die "kakurid starts"
collector --agent-quota 1 || die "the collector starts with --agent-quota 1"
check "the collector says the quota" grep -q '1 MiB an hour each' "$WORK/col.out"
FREE0=$(avail)

# --- the infected PC's keys: 12 reports of 256 KiB, 3 MiB ---
flood a 12 262144 >"$WORK/flood.out"; rc=$?
read -r _ ACKED _ REFUSED WORD <"$WORK/flood.out"
echo "  (flood: $(cat "$WORK/flood.out"))"
check "every report of the flood was answered" test "$rc" = 0
check "the flood: its first MiB is stored (3 reports of 256 KiB and their envelopes)" test "${ACKED:-0}" -ge 3
check "... the rest is refused, rate-limited (fails on the old code)" \
	bash -c "[ '${ACKED:-99}' -le 4 ] && [ '${REFUSED:-0}' -ge 8 ] && [ '$WORD' = rate-limited ]"
check "... said once on the collector's stderr, not once a report" \
	test "$(grep -c 'over its quota' "$WORK/col.err")" = 1
# what is left of the bucket, in small reports (each costs 4 KiB)
flood a 200 2000 >"$WORK/flood2.out"
read -r _ ACKED2 _ REFUSED2 WORD2 <"$WORK/flood2.out"
echo "  (small flood: $(cat "$WORK/flood2.out"))"
check "small reports: the rest of the MiB, at 4 KiB each, then refused" \
	bash -c "[ '${ACKED2:-99}' -le 64 ] && [ '${REFUSED2:-0}' -ge 136 ] && [ '$WORD2' = rate-limited ]"
check "... still said once (a line an hour at most)" test "$(grep -c 'over its quota' "$WORK/col.err")" = 1
check "the collector's disk keeps its room: at most the quota and a report taken" \
	test $((FREE0 - $(avail))) -le $((1536 * 1024))

# --- another PC is not held up ---
flood b 1 2000 >"$WORK/b.out"
check "another agent's report is stored at once" grep -q '^acked 1 refused 0' "$WORK/b.out"
check "... and it is in the index" grep -q "\"agent\":\"$B_ID\"" "$COL/index.jsonl"

# --- a resend costs what a new report costs ---
# one 100 KB report sent 40 times: each resend is read, hashed, verified
# and synced again, and is charged; about 10 fit the MiB (the old code
# acked all 40 and charged none)
flood b 40 100000 same >"$WORK/resend.out"
read -r _ ACKED3 _ REFUSED3 WORD3 <"$WORK/resend.out"
echo "  (resends: $(cat "$WORK/resend.out"))"
check "the same report sent 40 times: charged each time, then refused (fails on the old code)" \
	bash -c "[ '${ACKED3:-99}' -ge 1 ] && [ '${ACKED3:-99}' -le 12 ] && [ '${REFUSED3:-0}' -ge 28 ] && [ '$WORD3' = rate-limited ]"
check "... stored once" test "$(grep -c "\"agent\":\"$B_ID\"" "$COL/index.jsonl")" = 2

# --- the flooded agent's own report: delayed, not lost ---
R=$(ctl report --json --category other --what "a popup on the infected PC" </dev/null | jq -r .report)
check "a self-report on the infected PC is queued" grep -Eq '^[0-9a-f]{32}$' <<<"$R"
check_within "... it waits in the outbox, which says why" 15 waiting_says "quota"
check "... and nothing of it was stored" bash -c "! test -e '$COL/$AGENT_ID/$R.json'"

check "the collector served throughout" kill -0 "$COLPID"

# --- forged reports cost what stored ones do ---
# each is read, parsed and its signature checked before it is refused;
# sent without end they took the collector's CPU for free.  A collector
# started again has every bucket full: 40 forged reports of 100 KB from
# the second agent, about 10 refused for their signature, the rest for
# the quota before a byte is verified (the old code: all 40 verified)
collector_stop
collector --agent-quota 1 || die "the collector starts again"
flood b 40 100000 forged >"$WORK/forged.out"
read -r _ ACKED4 _ REFUSED4 WORD4 <"$WORK/forged.out"
echo "  (forged: $(cat "$WORK/forged.out"), $(grep -c 'bad-signature' "$WORK/col.err" 2>/dev/null) said)"
check "40 forged reports: none stored, refused, rate-limited in the end (fails on the old code)" \
	bash -c "[ '${ACKED4:-99}' = 0 ] && [ '${REFUSED4:-0}' = 40 ] && [ '$WORD4' = rate-limited ]"
flood b 1 100000 >"$WORK/after-forged.out"
check "... and a good report of that agent's of the same size after them: rate-limited too" \
	grep -q '^acked 0 refused 1 rate-limited' "$WORK/after-forged.out"
flood a 1 2000 >"$WORK/a-after.out"
check "... while another agent's is stored at once" grep -q '^acked 1 refused 0' "$WORK/a-after.out"


# --- the disk nearly full: the quotas of a fleet's agents add up to more
# --- than any disk, and reports filled it to the last byte, where the
# --- index's next line was cut.  A new report must leave the reserve
# --- (--min-free-mib) free: refused busy, kept in the agent's outbox.
collector_stop
free_mib() { df --output=avail -B1M "$COL" | tail -1 | tr -d ' '; }
F0=$(free_mib)
RESERVE=$((F0 - 6))
collector --agent-quota 1024 --min-free-mib "$RESERVE" || die "the collector starts with --min-free-mib $RESERVE"
flood b 10 700000 >"$WORK/low.out"
read -r _ ACKED5 _ REFUSED5 WORD5 <"$WORK/low.out"
F1=$(free_mib)
echo "  (reserve $RESERVE MiB of $F0 free: $(cat "$WORK/low.out"), $F1 MiB free after)"
check "reports of 700 KB with 6 MiB over the reserve (a report's largest, 2 MiB, kept besides): some stored, then refused busy (fails on the old code: all stored)" \
	bash -c "[ '${ACKED5:-0}' -ge 1 ] && [ '${ACKED5:-9}' -le 7 ] && [ '${REFUSED5:-0}' -ge 1 ] && [ '$WORD5' = busy ]"
check "... the disk keeps its reserve ($F1 MiB free)" \
	test "$F1" -ge "$RESERVE"
check "... the collector says so once, naming the reserve" bash -c \
	"[ \$(grep -c 'under the reserve of $RESERVE MiB' '$WORK/col.err') = 1 ]"
rm -f "$COL/$B_ID"/*.json
flood b 1 2000 >"$WORK/room.out"
check "room made (the CSIRT archived the reports): the next is stored" grep -q '^acked 1 refused 0' "$WORK/room.out"
check "... and the collector says there is room again" grep -q "$COL: room again" "$WORK/col.err"

check "kakurid served throughout" kill -0 "$KPID"
check "the collector served throughout" kill -0 "$COLPID"
summary
[ "$FAILED" -eq 0 ]
