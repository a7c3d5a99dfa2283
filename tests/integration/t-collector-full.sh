#!/usr/bin/env bash
# The collector's index on a full disk and after a torn append (DESIGN 7).
# The collector's directory is a small tmpfs.  Filled so that a report's
# file still fits but its index line does not (a short write: part of
# the line on disk, no line end): the report is refused, the index is
# as it was, a resend while the disk is full is refused again (not taken
# for indexed from a fragment of its line), and once there is room it
# is indexed; every line of index.jsonl is JSON and `kakurictl reports`
# lists every stored report.  Then the fragment a crash in the middle of
# an append leaves, planted before the collector starts, naming a report
# stored but not yet acked: it is cut off, that report and the next are
# indexed and listed.  Last, a disk whose sync fails (syncfail.so):
# nothing is acked, and the report is announced (stdout, --exec) only
# after a sync that succeeds, once.
. "$(dirname "$0")/lib.sh"
need
B="$TOP/build"
need_built "$B/syncfail.so"
echo "== collector: index.jsonl on a full disk, after a torn append, and a failing sync"
collector_agent
COL="$WORK/collected"
mkdir -p "$COL"
# whole 4 KiB pages, no huge ones: the fill below counts pages
if ! mount -t tmpfs -o size=1m,huge=never,mode=0750 kakuri-col "$COL"; then
	unable "no tmpfs mount for the collector's directory" "tmpfs for the collector"
fi
trap 'collector_stop; umount "$COL" 2>/dev/null || umount -l "$COL"; cleanup' EXIT
INDEX="$COL/index.jsonl"
PAGE=$(getconf PAGESIZE)

outbox_count() { ctl outbox --json | jq -r .count; }
outbox_empty() { [ "$(outbox_count)" = 0 ]; }
# report WHAT: a self-report with WHAT in it; prints its id
report() { ctl report --json --category other --what "$1" </dev/null | jq -r .report; }
size() { stat -c %s "$1"; }
refusals() { grep -c 'refused' "$WORK/col.err" 2>/dev/null; }
# index_whole: every line of the index is a JSON object, the last one
# ends with its line end
index_whole() {
	[ "$(jq -Rn '[inputs | (fromjson? // null) | objects] | length' "$INDEX")" -eq \
		"$(wc -l <"$INDEX")" ] && [ "$(tail -c 1 "$INDEX" | od -An -tx1 | tr -d ' ')" = 0a ]
}
# indexed_once ID: one whole line of the index names report ID
indexed_once() {
	[ "$(jq -Rn --arg id "$1" '[inputs | (fromjson? // null) | objects | select(.id == $id)] | length' "$INDEX")" -eq 1 ]
}
# whole_from N: every line of the index after the first N is a JSON
# object, the last one ends with its line end
whole_from() {
	tail -n +$(($1 + 1)) "$INDEX" >"$WORK/index.after"
	INDEX="$WORK/index.after" index_whole
}
# listed ID: kakurictl reports lists report ID, verified
listed() {
	"$KAKURICTL" reports "$COL" 2>/dev/null | grep -q "$1  verified"
}
# all_listed: kakurictl reports verifies and lists every stored report
# (each DIR/<agent>/<id>.json), as many as are stored, no bad line
all_listed() {
	local f n=0
	"$KAKURICTL" reports "$COL" >"$WORK/rep.txt" 2>"$WORK/rep.err" || return 1
	! grep -q 'not JSON' "$WORK/rep.err" || return 1
	for f in "$COL/$AGENT_ID"/*.json; do
		n=$((n + 1))
		grep -q "$(basename "$f" .json)  verified" "$WORK/rep.txt" || return 1
	done
	grep -qx "$n report(s), 0 not verified" "$WORK/rep.txt"
}

start_kakurid || die "kakurid starts"
collector --min-free-mib 0 || die "the collector starts"

# --- reports until the next index line would straddle a page end, best
# --- past its id: a short write there leaves the id in the fragment ---
R=$(report "first")
check_within "the first report is indexed" 15 outbox_empty
ok= n=1
# lines are about as long each time: past the page's end in about a
# page's worth of them; the id in the fragment about every third time,
# so after four pages' worth any straddle will do
most=$(( 4 * PAGE / $(tail -n 1 "$INDEX" | wc -c) ))
while [ "$n" -le $((most + PAGE / 64)) ]; do
	last=$(tail -n 1 "$INDEX")
	L=$(( ${#last} + 1 ))
	# where the id's field ends in the line (the same in the next one)
	pre=${last%%\"id\":\"*}
	idend=$(( ${#pre} + 6 + 32 + 1 ))
	room=$(( PAGE - $(size "$INDEX") % PAGE ))
	if [ "$room" -lt $((L - 8)) ] && { [ "$room" -gt $((idend + 8)) ] ||
		{ [ "$n" -gt "$most" ] && [ "$room" -gt 8 ]; }; }; then
		ok=1; break
	fi
	R=$(report "filler $n")
	n=$((n + 1))
	until_ok 15 outbox_empty || break
done
[ -n "$ok" ] || die "the index ends where the next line straddles a page end"
echo "  (index $(size "$INDEX") bytes after $n reports: $room bytes to the page end," \
	"lines of $L bytes, the id ends at $idend)"

# the full report's size: half a page past whole ones (what --what adds
# is seen base64-coded, 4/3 of it), so that small differences in its
# audit entries do not change how many pages it needs
S=$(size "$COL/$AGENT_ID/$R.json")
pad=$(( ((PAGE + PAGE / 2 - S % PAGE) % PAGE) * 3 / 4 ))
WHAT="on a full disk $(printf '%*s' "$pad" '' | tr ' ' x)"
PAGES=$(( (S + pad * 4 / 3 + PAGE - 1) / PAGE ))

# --- the disk full but for the report's own pages ---
dd if=/dev/zero of="$COL/fill" bs=$PAGE 2>/dev/null
check "the collector's volume is full" test "$(df --output=avail -B1 "$COL" | tail -1)" -lt $PAGE
truncate -s -$((PAGES * PAGE)) "$COL/fill"
BEFORE=$(size "$INDEX")
N0=$(refusals)
RF=$(report "$WHAT")
check_within "the report on the full disk is refused (its index line does not fit)" 15 \
	bash -c "[ \$(grep -c refused '$WORK/col.err') -gt $N0 ]"
check "... its file was stored (the disk had room for it alone)" test -s "$COL/$AGENT_ID/$RF.json"
check "... its file needed the pages left: none is free" \
	test "$(df --output=avail -B1 "$COL" | tail -1)" -lt $PAGE
check "the failed append was taken back: the index is as it was" \
	bash -c "[ \$(stat -c %s '$INDEX') -eq $BEFORE ] && [ \"\$(tail -c 1 '$INDEX' | od -An -tx1 | tr -d ' ')\" = 0a ]"
# the agent sends it again (its courier's backoff: 1 s, then 2 s)
N1=$(refusals)
until_ok 20 bash -c "[ \$(grep -c refused '$WORK/col.err') -gt $N1 ] ||
	[ \"\$('$KAKURICTL' -s '$SOCK' outbox --json | jq -r .count)\" = 0 ]"
check "sent again on the full disk: refused again, not acked (still in the outbox)" \
	test "$(outbox_count)" = 1

# --- room again: the resend is indexed ---
rm -f "$COL"/fill*
RN=$(report "room again")
check_within "with room again both arrive" 20 outbox_empty
check "index.jsonl: every line whole JSON" index_whole
check "the report refused on the full disk is indexed once" indexed_once "$RF"
check "the report after it is indexed once" indexed_once "$RN"
check "kakurictl reports lists every stored report, verified" all_listed

# --- a crash in the middle of an append: a fragment at the index's end ---
collector_stop
RX=$(report "stored, its index line torn")
cp "$STATE"/outbox/*-"$RX".dsse "$COL/$AGENT_ID/$RX.json" ||
	fail "the report copied as the collector stored it"
# the first part of its line (up to its seq), no line end
N2=$(wc -l <"$INDEX")
jq -Rc 'fromjson? | objects' "$INDEX" | tail -n 1 | jq -c --arg id "$RX" --arg f "$AGENT_ID/$RX.json" '.id = $id | .file = $f' |
	sed 's/"seq":.*/"seq":/' | tr -d '\n' >>"$INDEX"
check "a fragment naming it ends the index" bash -c "tail -c 200 '$INDEX' | grep -q '$RX' &&
	[ \"\$(tail -c 1 '$INDEX' | od -An -tx1 | tr -d ' ')\" != 0a ]"
collector --min-free-mib 0 || die "the collector restarts"
RY=$(report "after the torn line")
check_within "both arrive" 20 outbox_empty
check "index.jsonl: every line from the fragment on whole JSON" whole_from "$N2"
check "the report named by the fragment is indexed once (the fragment did not count)" \
	indexed_once "$RX"
check "the report after it is indexed once" indexed_once "$RY"
check "kakurictl reports lists both, verified" eval 'listed "$RX" && listed "$RY"'
check "the collector said it cut the torn line off" grep -q 'index.jsonl: .*cut off' "$WORK/col.err"

# --- a sync that fails: a report is announced (its stdout line, --exec)
# --- only once it is on disk ---
collector_stop
HOOK="$WORK/hook.sh"
# the hook notes its path, and whether the disk still failed then
printf '#!/bin/sh\nif [ -e "%s" ]; then s=unsynced; else s=synced; fi\nprintf "%%s %%s\\n" "$1" "$s" >>"%s"\n' \
	"$WORK/syncfail" "$WORK/hooked" >"$HOOK"
chmod 0755 "$HOOK"
: >"$WORK/hooked"
: >"$WORK/col.out"
ip netns exec "$PEER" env LD_PRELOAD="$B/syncfail.so" SYNCFAIL="$WORK/syncfail" \
	"$KAKURICTL" collector --listen "[::]:7444" --dir "$COL" --cert "$PKI/op-ca.crt" \
	--key "$PKI/op-ca.key" --agents "$WORK/agents" --exec "$HOOK" --min-free-mib 0 \
	>>"$WORK/col.out" 2>>"$WORK/col.err" &
COLPID=$!
PIDS+=($COLPID)
until_ok 10 grep -q listening "$WORK/col.out" || die "the collector starts"
# the disk stops syncing once it listens (at the start it is not started)
: >"$WORK/syncfail"
NS=$(grep -c 'syncfs.*nothing acked' "$WORK/col.err")
RS=$(report "stored on a disk that does not sync")
check_within "the disk does not sync: the collector acks nothing" 15 \
	bash -c "[ \$(grep -c 'syncfs.*nothing acked' '$WORK/col.err') -gt $NS ]"
check "... the report stays in the agent's outbox" test "$(outbox_count)" = 1
check "... and it is not announced: no stdout line names it (fails on the old code)" \
	bash -c "! grep -q '$RS' '$WORK/col.out'"
rm -f "$WORK/syncfail"
check_within "the disk syncs again: the resend is acked" 20 outbox_empty
check "it is announced once: one stdout line" test "$(grep -c "$RS" "$WORK/col.out")" = 1
check_within "... and --exec ran for it once, after the sync" 10 \
	bash -c "[ \"\$(grep -c '$RS' '$WORK/hooked')\" = 1 ] && grep '$RS' '$WORK/hooked' | grep -q ' synced\$'"
check "it is indexed once" indexed_once "$RS"
collector_stop

check "kakurid served throughout" kill -0 "$KPID"
summary
[ "$FAILED" -eq 0 ]
