#!/usr/bin/env bash
# Another process commits while kakurid commits its own batch.  kakurid's
# tamper monitor is out of the nftables event group then (the kernel would
# make an event of every rule of kakurid's own for it to pass over), so no
# event of that commit ever comes.  The generation read before and after
# the batch counts it: kakurid verifies at once, as after an event, and
# reports it as a commit by a process unknown; status counts such commits
# (commits_unseen).  commitwindow.so, preloaded into kakurid, commits a
# table exactly at one edge of that window when the test asks for it: as
# the monitor leaves the group (before kakurid's batch), then as it is
# about to join again (after kakurid's batch was committed).  A commit
# after the batch is seen by its event, with the process's name: the
# monitor is back in the group.  Last, a commit whose events are still
# being sent as the monitor leaves.
. "$(dirname "$0")/lib.sh"
need
echo "== commits beside kakurid's own batch"
need_built "$TOP/build/commitwindow.so"
topology || die "topology"
has_table() { ip netns exec "$EP" nft list table ip "$1" >/dev/null 2>&1; }
unknown_changes() {
	ctl log --json | jq '[.entries[] | select(.action=="nftables-change" and
		(.actor|test("process unknown")))] | length'
}
unseen() { status_field commits_unseen; }

write_policy
WINDOW="$WORK/window"
COMMITWINDOW=$WINDOW LD_PRELOAD="$TOP/build/commitwindow.so" start_kakurid ||
	die "kakurid starts (commitwindow.so preloaded)"
check "no commit was asked for: status counts none unseen" test "$(unseen)" = 0

# the isolation's batch: a commit as the monitor leaves the group
echo leave >"$WINDOW"
ctl disconnect >/dev/null
check_within "isolated and verified" 5 isolated_verified
check "the commit was made as the monitor left the group (commitwindow.so took the request)" \
	test ! -e "$WINDOW"
check "... and is in the kernel: table ip kk_window_leave" has_table kk_window_leave
check_within "status counts it: commits_unseen 1" 5 eval 'test "$(unseen)" = 1'
check_within "the audit log has it (nftables-change, a process unknown)" \
	15 eval 'test "$(unknown_changes)" = 1'
check "... and kakurid's log, the tables intact" \
	grep -q "nftables changed by a process unknown (committed while kakurid's own batch was) while isolated; table inet kakuri intact" "$DLOG"

# a batch while isolated (new Ethernet devices, a veth pair: their netdev
# chains), and a commit after that batch was committed, as the monitor is
# about to join again
echo rejoin >"$WINDOW"
ip -n "$EP" link add kkwin0 type veth peer name kkwin1 && ip -n "$EP" link set kkwin0 up
check_within "new devices' batch: the commit made as the monitor rejoined" 10 \
	eval '! test -e "$WINDOW"'
check "... and is in the kernel: table ip kk_window_rejoin" has_table kk_window_rejoin
check_within "status counts it too: commits_unseen 2" 5 eval 'test "$(unseen)" = 2'
check_within "the audit log has both (process unknown)" \
	15 eval 'test "$(unknown_changes)" = 2'
check_within "still isolated and verified" 5 isolated_verified

# a commit outside any batch: its event, with the process's name
ip netns exec "$EP" nft add table ip after_batch
check_within "a commit after the batches is seen by its event, with the process's name (nft)" \
	5 audit_has '.action=="nftables-change" and (.actor|test("nft"))'
check "... and not counted unseen: commits_unseen still 2" test "$(unseen)" = 2
check "... nor told as a process unknown's: still 2" test "$(unknown_changes)" = 2

# a commit whose 50,000 events are still being sent as the monitor leaves
# (the kernel moves the generation first, sends NEWGEN last): told by
# the generation, or by the events that got through, whichever way the
# race went; never by neither
changes() {
	ctl log --json | jq '[.entries[] | select(.action=="nftables-change")] | length'
}
before=$(changes)
unseen_before=$(unseen)
echo race >"$WINDOW"
ip -n "$EP" link add kkwin2 type veth peer name kkwin3 && ip -n "$EP" link set kkwin2 up
check_within "new devices' batch: the big commit raced the monitor's leave" 10 \
	eval '! test -e "$WINDOW"'
race_elems() {
	ip netns exec "$EP" nft -j list set ip kk_window_race s 2>/dev/null |
		jq '[.nftables[].set.elem // empty | length] | add'
}
check_within "... and it is in the kernel: table ip kk_window_race, 50,000 elements" \
	15 eval 'test "$(race_elems)" = 50000'
# told: counted unseen, or an audit line of its events (the nftables-change
# lines are rate-limited, five in a row: a count in status is never held
# back)
told() { [ "$(unseen)" -gt "$unseen_before" ] || [ "$(changes)" -gt "$before" ]; }
check_within "it is told (counted unseen, or by its events), never lost" 15 told
echo "     (the race: $(cat "$WINDOW.result" 2>/dev/null || echo "no result");" \
	"commits_unseen $(unseen), told as a process unknown's $(unknown_changes) times)"
check_within "still isolated and verified" 5 isolated_verified
stop_kakurid -TERM

# The monitor cannot join its group again after a batch (ENOMEM, as when
# the kernel is short of memory): no event reaches kakurid.  It says so
# once, its timer alone still finds tampering, and it says so when it
# hears again.  protect = "monitor": a table the kernel lets be deleted.
echo "== a tamper monitor that cannot join its group again"
rm -rf "$STATE" "$WINDOW.deaf"
write_policy "" 'nftables: { protect = "monitor"; };'
COMMITWINDOW=$WINDOW LD_PRELOAD="$TOP/build/commitwindow.so" start_kakurid ||
	die "kakurid starts (monitor, commitwindow.so preloaded)"
ctl disconnect >/dev/null
check_within "isolated and verified" 5 isolated_verified
deaf_said() { grep -c "tamper monitor: cannot join the nftables events again (Cannot allocate memory)" "$DLOG"; }
check "not deaf yet: nothing said" test "$(deaf_said)" = 0
touch "$WINDOW.deaf"
ip -n "$EP" link add kkwin4 type veth peer name kkwin5 && ip -n "$EP" link set kkwin4 up
check_within "a batch after which the monitor cannot rejoin: kakurid says it is deaf" \
	15 eval 'test "$(deaf_said)" = 1'
check_within "... in the audit too (tamper-monitor, deaf)" 5 \
	audit_has '.action=="tamper-monitor" and .result=="deaf"'
deaf_shown() { status_field not_covered | grep -q "the tamper monitor cannot join them"; }
check "... and status says what goes unnoticed (not_covered)" deaf_shown
check "the table is deleted (protect = monitor lets it)" \
	ip netns exec "$EP" nft delete table inet kakuri
check_within "deaf, the deletion has no event: the periodic check restores the table" \
	15 table_present
check_within "... isolated, not verified while deaf (not_covered says why)" 10 \
	eval 'test "$(status_field mode)/$(status_field verified)" = isolated/false && deaf_shown'
check "the deaf monitor was said once, not at every check" test "$(deaf_said)" = 1
rm -f "$WINDOW.deaf"
check_within "the monitor joins again and says so" 15 \
	grep -q "tamper monitor: hearing the nftables events again" "$DLOG"
check_within "... in the audit too (tamper-monitor, hearing)" 5 \
	audit_has '.action=="tamper-monitor" and .result=="hearing"'
check "... and status no longer says it" eval '! deaf_shown'
check_within "... isolated and verified again" 10 isolated_verified
ip netns exec "$EP" nft add table ip heard
check_within "hearing again: a commit is seen by its event, with the process's name" \
	5 audit_has '.action=="nftables-change" and (.actor|test("nft"))'
stop_kakurid -TERM
summary
