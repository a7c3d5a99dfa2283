#!/usr/bin/env bash
# Monitor mode (no persist flag, as on most LTS kernels): root takes the
# table's name in ONE transaction,
#     delete table inet kakuri; add table inet kakuri { flags owner; }
# from an nft process that keeps its netlink socket open.  No process can
# change another one's owner table, so kakurid must enforce from a
# fallback table at once, say so (status, audit, outbox), and take its
# name back when the squatter's socket closes: that table then vanishes
# without any nftables event, so only kakurid's periodic verification can
# notice.  A probe every 50 ms from the endpoint measures how long traffic
# passed.
. "$(dirname "$0")/lib.sh"
need
echo "== monitor mode: another process takes the table's name"
topology || die "topology"
internet_echo "before: the internet host answers"

write_policy "" 'nftables: { protect = "monitor"; };'
start_kakurid || { fail "kakurid starts"; summary; exit 1; }
ctl disconnect >/dev/null
check "protection is monitor (no table flags)" test "$(status_field protection)" = monitor
check "isolated and verified" test "$(status_field mode)/$(status_field verified)" = isolated/true

status_is() { test "$(status_field "$1")" = "$2"; }
has_table() { ip netns exec "$EP" nft list table inet "$1"; }
held() { ip netns exec "$EP" nft list table inet "$1" | grep -q 'flags owner'; }
not_held() { ! held "$1"; }
enforcing() { ip netns exec "$EP" nft list table inet "$1" | grep -q 'drop everything else'; }
blocked_both() { ! reach "$EP" tcp "$NET4" 8080 && ! reach "$EP" tcp "$NET6" 8080; }
tampers() { ctl log --json | jq '[.entries[] | select(.action=="tamper")] | length'; }

# squat LINE...: an nft process runs each line as one transaction and
# keeps its socket (and so its owner tables) until unsquat
squat() {
	local l
	rm -f "$WORK/nft.fifo" && mkfifo "$WORK/nft.fifo"
	ip netns exec "$EP" nft -i <"$WORK/nft.fifo" >"$WORK/nft.out" 2>&1 &
	SQUAT=$!; PIDS+=($SQUAT)
	exec 7>"$WORK/nft.fifo"
	for l in "$@"; do echo "$l" >&7; done
}
unsquat() {
	exec 7>&-
	until_ok 5 bash -c "! kill -0 $SQUAT"
	wait "$SQUAT" 2>/dev/null
}
# a TCP probe every 50 ms from the endpoint to the internet host
watch_start() {
	rm -f "$WORK/stop"
	ip netns exec "$EP" "$NETPROBE" watch tcp "$NET4" 8080 50 60 "$WORK/stop" >"$WORK/watch.out" &
	WATCH=$!; PIDS+=($WATCH)
	until_ok 5 grep -q ready "$WORK/watch.out"
}
# sets np nk nw: probes sent, passed, longest window of passing traffic (ms)
watch_stop() {
	touch "$WORK/stop"
	wait "$WATCH"
	read -r np nk nw < <(sed -n 's/^probes \([0-9]*\) passed \([0-9]*\) window_ms \([0-9]*\)$/\1 \2 \3/p' "$WORK/watch.out")
}

# --- the attack ---
t0=$(tampers)
watch_start || fail "the probe loop starts"
squat 'delete table inet kakuri; add table inet kakuri { flags owner; }'
check_within "the attacker's nft process holds inet kakuri (flags owner)" 5 held kakuri
check_within "kakurid enforces from table inet kakuri_fallback" 5 enforcing kakuri_fallback
check_within "status says verified: false while the name is held" 5 status_is verified false
check "status carries a tamper alert naming the held table" \
	bash -c "'$KAKURICTL' -s '$SOCK' status --json | jq -e '.tamper | map(.what) | join(\" \") | test(\"table inet kakuri is held by another process\")'"
check "status names the table in force" test "$(status_field enforced_by)" = "inet kakuri_fallback"
check "host isolated while the name is held (IPv4 and IPv6)" blocked_both
ip netns exec "$EP" nft list table inet kakuri_fallback >"$WORK/fallback.list" 2>&1
check "the audit log has the tamper with the fallback table" \
	audit_has '.action=="tamper" and .result=="fallback" and .table=="inet kakuri_fallback"'
check "a tamper alert for the CSIRT is queued in the outbox" outbox_has '"result":"fallback"'
# the attack lasts 2 s: an open window would show in the probe loop
sleep 2
unsquat
check_within "the squatter's table vanished with its socket (no event)" 5 not_held kakuri
check_within "kakurid takes inet kakuri back (periodic verification)" 5 enforcing kakuri
check_within "status says verified: true again" 5 status_is verified true
# the incident stays listed until the tables held for 5 s
check_within "status has no tamper alert any more (the incident is over)" 15 \
	bash -c "'$KAKURICTL' -s '$SOCK' status --json | jq -e '.tamper | length == 0'"
check "the audit log closes the incident" audit_has '.action=="tamper" and .result=="incident-over"'
check "the fallback table is removed" bash -c "! ip netns exec $EP nft list table inet kakuri_fallback"
check "the audit log says the table is restored" \
	audit_has '.action=="tamper" and .result=="restored" and .table=="inet kakuri"'
n=$(( $(tampers) - t0 ))
check "retries are not logged one by one ($n tamper lines for one attack)" test "$n" -le 3
check "the fallback was kakurid's owner table while it was in force" \
	grep -q "progname kakurid" "$WORK/fallback.list"
watch_stop
check "a probe every 50 ms saw traffic pass for at most 1 s (window ${nw:-?} ms, $nk of $np passed)" \
	test -n "$nw" -a "${nw:-99999}" -le 1000 -a "${np:-0}" -ge 40
check "host isolated after the attack" blocked_both

# --- the same, with the fallback's name taken first ---
watch_start || fail "the probe loop starts (2)"
squat 'add table inet kakuri_fallback { flags owner; }' \
	'delete table inet kakuri; add table inet kakuri { flags owner; }'
check_within "the attacker holds inet kakuri and inet kakuri_fallback" 5 \
	bash -c "ip netns exec $EP nft list table inet kakuri | grep -q 'flags owner' && ip netns exec $EP nft list table inet kakuri_fallback | grep -q 'flags owner'"
fb() { ip netns exec "$EP" nft list tables | sed -n 's/^table inet \(kakuri_fallback_[0-9a-f]*\)$/\1/p' | head -1; }
check_within "kakurid enforces from a table under a name of its own choosing" 5 \
	bash -c "t=\$(ip netns exec $EP nft list tables | sed -n 's/^table inet \(kakuri_fallback_[0-9a-f]*\)\$/\1/p' | head -1); [ -n \"\$t\" ] && ip netns exec $EP nft list table inet \$t | grep -q 'drop everything else'"
check "status names it ($(fb))" test "$(status_field enforced_by)" = "inet $(fb)"
check "host isolated while both names are held" blocked_both
sleep 2
unsquat
check_within "kakurid takes inet kakuri back" 5 enforcing kakuri
check_within "status says verified: true again (2)" 5 status_is verified true
check "no kakuri_fallback table of kakurid's is left" bash -c "! ip netns exec $EP nft list tables | grep -q kakuri_fallback"
watch_stop
check "probe window at most 1 s with both names taken (window ${nw:-?} ms, $nk of $np passed)" \
	test -n "$nw" -a "${nw:-99999}" -le 1000 -a "${np:-0}" -ge 40
check_within "the second incident is over too" 15 \
	bash -c "'$KAKURICTL' -s '$SOCK' status --json | jq -e '.tamper | length == 0'"

# --- the third name: the attacker holds both fixed names, reads kakurid's
# random one from the kernel and swaps it for its own owner table too, again
# and again.  Each fallback is kakurid's owner table: no other process can
# delete it, so every swap is refused and the host stays isolated.
watch_start || fail "the probe loop starts (3)"
squat 'add table inet kakuri_fallback { flags owner; }' \
	'delete table inet kakuri; add table inet kakuri { flags owner; }'
check_within "kakurid enforces from a random name again" 5 \
	bash -c "t=\$(ip netns exec $EP nft list tables | sed -n 's/^table inet \(kakuri_fallback_[0-9a-f]*\)\$/\1/p' | head -1); [ -n \"\$t\" ] && ip netns exec $EP nft list table inet \$t | grep -q 'drop everything else'"
first=$(fb)
swaps=0
for _ in $(seq 1 10); do
	t=$(fb)
	[ -n "$t" ] || { sleep 0.1; continue; }
	echo "delete table inet $t; add table inet $t { flags owner; }" >&7
	swaps=$((swaps + 1))
	sleep 0.2
done
check "the attacker tried to swap the random fallback ($swaps times)" test "$swaps" -ge 5
refused=$(grep -c 'Operation not permitted' "$WORK/nft.out")
check "the kernel refused the swaps ($refused refusals for $swaps attempts)" test "$refused" -ge "$swaps"
check "kakurid still enforces from its random fallback ($first)" \
	bash -c "ip netns exec $EP nft list table inet $first | grep -q 'progname kakurid' && ip netns exec $EP nft list table inet $first | grep -q 'drop everything else'"
check "host isolated while all three names were attacked" blocked_both
unsquat
check_within "kakurid takes inet kakuri back (3)" 5 enforcing kakuri
watch_stop
check "probe window at most 1 s with the random name attacked too (window ${nw:-?} ms, $nk of $np passed)" \
	test -n "$nw" -a "${nw:-99999}" -le 1000 -a "${np:-0}" -ge 40
summary
[ "$FAILED" -eq 0 ]
