#!/usr/bin/env bash
# Another process commits while kakurid commits its own batch.  kakurid's
# tamper monitor is out of the nftables event group then (the kernel would
# make an event of every rule of kakurid's own for it to pass over), so no
# event of that commit ever comes.  The generation read before and after
# the batch tells it: kakurid reports it at its next check (within 5 s),
# as a commit by a process unknown.  commitwindow.so, preloaded into
# kakurid, commits table ip kk_window exactly inside that window when the
# test asks for it.  A commit after the batch is seen by its event, with
# the process's name: the monitor is back in the group.
. "$(dirname "$0")/lib.sh"
need
echo "== a commit beside kakurid's own batch"
need_built "$TOP/build/commitwindow.so"
topology || die "topology"
window_table() { ip netns exec "$EP" nft list table ip kk_window >/dev/null 2>&1; }
changes_by() { audit_has ".action==\"nftables-change\" and (.actor|test(\"$1\"))"; }

write_policy
WINDOW="$WORK/window"
COMMITWINDOW=$WINDOW LD_PRELOAD="$TOP/build/commitwindow.so" start_kakurid ||
	die "kakurid starts (commitwindow.so preloaded)"
refute "no commit in a window was asked for: no table kk_window" window_table

# the isolation's batch: the window opens, the library commits in it
touch "$WINDOW"
ctl disconnect >/dev/null
check_within "isolated and verified" 5 isolated_verified
check "the commit was made inside kakurid's batch (commitwindow.so took the request)" \
	test ! -e "$WINDOW"
check "... and is in the kernel: table ip kk_window" window_table
check_within "the commit beside the batch is in the audit log (nftables-change, a process unknown) within 15 s" \
	15 changes_by "process unknown"
check "... and in kakurid's log, the tables intact" \
	grep -q "nftables changed by a process unknown (committed beside kakurid's own batch) while isolated; table inet kakuri intact" "$DLOG"
check "still isolated and verified" isolated_verified

# a commit outside any batch: its event, with the process's name
ip netns exec "$EP" nft add table ip after_batch
check_within "a commit after the batch is seen by its event, with the process's name (nft)" \
	5 changes_by "nft"
check "only the one commit was told as a process unknown's" \
	test "$(ctl log --json | jq '[.entries[] | select(.action=="nftables-change" and (.actor|test("process unknown")))] | length')" = 1
stop_kakurid -TERM
summary
