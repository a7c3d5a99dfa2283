#!/usr/bin/env bash
# An isolated kakurid left alone stays idle.  Its periodic checks (the
# generation check every 5 s, the interface rescan and its AF_XDP and tc
# looks every 10 s) use the same pages every time.  The lean settle (give
# back what work made resident, once quiet) took their faults for work:
# it dropped those pages, the next check faulted them back in, and the
# settle came again, some 1.4 ms of system time every 10 s.  Now the
# checks' faults make no settle: once warm, an idle kakurid faults in no
# page at all.  Counted from /proc/PID/stat (minflt), not timed.
. "$(dirname "$0")/lib.sh"
need
topology || die "namespaces"
# something for the tc look to read: an htb qdisc with a class
ip -n "$EP" link add idle0 type veth peer name idle0p netns "$NET" &&
	ip -n "$EP" link set idle0 up &&
	tc -n "$EP" qdisc add dev idle0 root handle 1: htb &&
	tc -n "$EP" class add dev idle0 parent 1: classid 1:1 htb rate 1mbit ||
	die "a veth with an htb qdisc and a class"

write_policy
start_kakurid || die "kakurid starts"
ctl disconnect >/dev/null
check_within "isolated and verified" 5 isolated_verified

minflt() { awk '{ print $10 }' "/proc/$KPID/stat"; }
# flat_window: no page faulted in over 12 s, which holds a rescan (every
# 10 s, 1 s of slack) and two generation checks
flat_window() {
	local f0 f1
	f0=$(minflt); sleep 12; f1=$(minflt)
	echo "    faults over 12 s idle: $((f1 - f0))"
	[ "$f1" -eq "$f0" ]
}
# the first window may hold the settle after the isolation and the checks
# faulting back in what it gave; on the old kakurid none is ever flat
flat=1
for _ in 1 2 3 4; do flat_window && { flat=0; break; }; done
check "isolated and idle, kakurid stops faulting pages in (a window of 12 s with none, within 48 s)" \
	test "$flat" -eq 0
check "... and is still isolated and verified" isolated_verified
ip -n "$EP" link add idle1 type veth peer name idle1p netns "$NET" &&
	ip -n "$EP" link set idle1 up || die "a new veth"
check_within "... and still follows the interfaces: a new one is hooked within 15 s" 15 \
	bash -c "ip netns exec '$EP' nft list chain netdev kakuri egress | grep -q idle1"
summary
[ "$FAILED" -eq 0 ]
