#!/usr/bin/env bash
# nftables at IOC-list scale (issue 9): "inet kakuri" with an interval set
# of 100,000 IPv4 ranges (CIDRs, single addresses, first-last ranges) and
# one of 20,000 IPv6 prefixes, committed by kakurid's nftables module
# (build/nftset, no user-visible block command exists yet) as one paged
# transaction in a throw-away namespace, and verified:
#  - the kernel holds exactly what was meant: nft(8) lists the set as it
#    lists the same set loaded by `nft -f`; lookups at range edges;
#  - a full read-back matches the digest of the committed elements;
#  - the checks that come often (status, timers) read no element at all,
#    and an unrelated commit costs one element dump without the owner flag
#    and none with it;
#  - an element deleted by another process is found, and so are one
#    swapped for another (the same count) and a change followed by a
#    second that brings the count back; with the owner flag no other
#    process can delete one;
#  - a set a commit in place keeps is read back after it: an element
#    deleted before the commit is found and restored;
#  - a batch whose element the kernel refuses changes nothing, and the
#    error names the set, the element and its range.
. "$(dirname "$0")/lib.sh"
need
NFTSET="$TOP/build/nftset"
echo "== interval sets of 100,000 ranges"
need_built "$NFTSET"
addns "$EP" || die namespace
write_policy
# 100,000 IPv4 ranges 8 addresses apart from 10.0.0.0: /30, single, first-last
awk 'BEGIN { for (i = 0; i < 100000; i++) { a = 167772160 + 8 * i
	o = sprintf("%d.%d.%d.", int(a / 16777216), int(a / 65536) % 256, int(a / 256) % 256)
	if (i % 3 == 0) print o (a % 256) "/30"
	else if (i % 3 == 1) print o (a % 256)
	else print o (a % 256) "-" o (a % 256 + 5) } }' >"$WORK/ioc4.txt"
awk 'BEGIN { for (i = 0; i < 20000; i++) printf "2001:db8:%x:%x::/64\n", int(i / 4096), (i % 4096) * 2 }' >"$WORK/ioc6.txt"
check "100,000 IPv4 and 20,000 IPv6 entries written" \
	test "$(cat "$WORK/ioc4.txt" "$WORK/ioc6.txt" | wc -l)" -eq 120000

coproc NS { exec ip netns exec "$EP" "$NFTSET" "$POLICY" "$WORK/ioc4.txt" "$WORK/ioc6.txt" 2>"$WORK/nftset.err"; }
PIDS+=($NS_PID)
# ask COMMAND: one answer line into $ANSWER (bounded: 120 s)
ANSWER=
ask() {
	ANSWER=
	echo "$1" >&"${NS[1]}" && read -r -t 120 ANSWER <&"${NS[0]}"
	echo "    $1 -> ${ANSWER:0:160}"
}
# field NAME: the number after NAME= in the last answer
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$ANSWER"; }
answered() { [ "${ANSWER%% *}" = "$1" ]; }
in_set() { ip netns exec "$EP" nft get element inet kakuri "$1" "{ $2 }"; }
# two_changes ELEMENT: committed afresh and verified ($dumps noted), then
# 10.0.0.8 deleted and ELEMENT added to ioc4, each in a commit of its own,
# and verified again
two_changes() {
	ask commit
	ask verify
	dumps=$(field dumps)
	ip netns exec "$EP" nft delete element inet kakuri ioc4 "{ 10.0.0.8 }"
	ip netns exec "$EP" nft add element inet kakuri ioc4 "{ $1 }"
	ask verify
}

ask commit
check "a table with 120,000 ranges (240,000 elements) commits in one transaction" answered ok
# the kernel's own lookups at the edges of ranges of each form
check "10.0.0.1 is in 10.0.0.0/30" in_set ioc4 10.0.0.1
refute "10.0.0.4, after the /30, is not" in_set ioc4 10.0.0.4
check "10.0.0.8, a single address, is" in_set ioc4 10.0.0.8
refute "10.0.0.9, after it, is not" in_set ioc4 10.0.0.9
check "10.0.0.21, the last of 10.0.0.16-10.0.0.21, is" in_set ioc4 10.0.0.21
refute "10.0.0.22, after that range, is not" in_set ioc4 10.0.0.22
check "10.12.52.251, in the 100,000th range (a /30), is" in_set ioc4 10.12.52.251
refute "10.12.52.252, after it, is not" in_set ioc4 10.12.52.252
check "2001:db8:4:1c3e::1, in the 20,000th prefix, is" in_set ioc6 2001:db8:4:1c3e::1
refute "2001:db8:4:1c3f::1, between prefixes, is not" in_set ioc6 2001:db8:4:1c3f::1
# what nft(8) lists is what it lists after loading the same entries itself
ip netns exec "$EP" nft list set inet kakuri ioc4 >"$WORK/ours.nft"
{ echo "table inet kakuri"; echo "delete table inet kakuri"
  echo "table inet kakuri { set ioc4 { type ipv4_addr; flags interval; elements = {"
  sed 's/$/,/' "$WORK/ioc4.txt"; printf '}\n}\n}\n'; } >"$WORK/theirs.in"
ip netns add "${P}-nft" && NETNS+=("${P}-nft")
ip netns exec "${P}-nft" nft -f "$WORK/theirs.in"
ip netns exec "${P}-nft" nft list set inet kakuri ioc4 >"$WORK/theirs.nft"
check "nft lists the 100,000-range set as it lists the same set loaded by nft -f" \
	cmp -s "$WORK/ours.nft" "$WORK/theirs.nft"
ranges=$(grep -oE '[0-9]+(\.[0-9]+){3}(/[0-9]+|-[0-9]+(\.[0-9]+){3})?' "$WORK/ours.nft" | wc -l)
check "... and the listing has every range ($ranges)" test "$ranges" -eq 100000

ask "verify full"
check "a full read-back of both sets matches the committed digests" answered ok
dumps=$(field dumps)
check "... reading the elements of both sets" test "${dumps:-0}" -ge 2

# the checks that come often: the generation settles them
ok=0
for _ in $(seq 1 50); do ask verify >/dev/null; answered ok && ok=$((ok + 1)); done
check "50 checks in a row pass" test "$ok" -eq 50
check "... and none read an element (dumps still $dumps)" test "$(field dumps)" = "$dumps"
check "... settled by the ruleset generation alone" test "$(field cheap)" -ge 50

# without the owner flag: an unrelated commit costs one read of the elements
ip netns exec "$EP" nft add table inet unrelated
ask verify
check "after an unrelated commit the table still verifies" answered ok
check "... reading the elements again (no owner flag)" test "$(field dumps)" -gt "$dumps"
dumps=$(field dumps)
ask verify
check "... once" test "$(field dumps)" = "$dumps"

# another process deletes one element: found
check "another process can delete an element of a table without the owner flag" \
	ip netns exec "$EP" nft delete element inet kakuri ioc4 "{ 10.0.0.8 }"
ask verify
check "the deleted element is found" answered stale
check "... naming the set" grep -q "set ioc4" <<<"$ANSWER"
ask commit
check "committed again" answered ok
check "... and the element is back" in_set ioc4 10.0.0.8

# tampering that keeps the size: the count alone would not see it
ask verify
printf 'delete element inet kakuri ioc4 { 10.0.0.8 }\nadd element inet kakuri ioc4 { 10.0.0.9 }\n' >"$WORK/swap.nft"
check "another process swaps one element for another in one transaction" \
	ip netns exec "$EP" nft -f "$WORK/swap.nft"
ask verify
check "the swapped element is found (same count, another digest)" answered stale
two_changes 10.0.0.9
check "a change and a second change that brings the count back are found" answered stale
two_changes 10.0.0.8
check "a change undone by a second one: the elements are read again and match" answered ok
check "... read, not settled by the generation (dumps $dumps -> $(field dumps))" \
	test "$(field dumps)" -gt "$dumps"

# a commit in place keeps the sets the kernel holds: those are read back,
# never settled by the generation after kakurid's own commit (an element
# deleted just before a reload would stay deleted).  The extra set gives
# the commit something to do (it deletes it): a transaction that changes
# nothing leaves the generation as it was, and is never settled.
ask commit
ip netns exec "$EP" nft delete element inet kakuri ioc4 "{ 10.0.0.8 }"
ip netns exec "$EP" nft add set inet kakuri junk "{ type ipv4_addr; }"
ask commit
check "a commit in place after another process deleted an element of a set it keeps" answered ok
check "... and the element is back (the kept set was read, not settled)" in_set ioc4 10.0.0.8
refute "... and the other process's set is gone" ip netns exec "$EP" nft list set inet kakuri junk

# as the tamper monitor checks: one element dump a second at most, the
# rest at once, and the check that follows (kakurid's timer) reads them.
# 20 s here rather than 1 s: nft(8) itself lists the 200,000 elements to
# delete one, which can take longer than a second under load.
ask "verify full"
dumps=$(field dumps)
ip netns exec "$EP" nft delete element inet kakuri ioc4 "{ 10.0.0.8 }"
ask "verify defer=20000"
check "a monitor check soon after a dump waits for the elements" answered deferred
check "... without dumping them (dumps still $dumps)" test "$(field dumps)" = "$dumps"
ask "verify defer=20000"
check "... and so does the next: no match is kept while they wait" answered deferred
ip netns exec "$EP" nft add chain inet kakuri extra
ask "verify defer=20000"
check "... but what else changed is found at once" answered stale
ask verify
check "the check that follows (the timer's) reads the elements: the deletion is found" answered stale
check "... naming the set" grep -q "set ioc4" <<<"$ANSWER"
ask commit
check "committed again" answered ok

# with the owner flag: nothing to read after an unrelated commit, nothing to delete
ask "commit owner"
check "committed as an owner table" answered ok
ask verify
dumps=$(field dumps)
ip netns exec "$EP" nft add table inet unrelated2
ask verify
check "after an unrelated commit the owner table verifies" answered ok
check "... without reading an element (owner flag)" test "$(field dumps)" = "$dumps"
refute "no other process can delete an element of the owner table" \
	ip netns exec "$EP" nft delete element inet kakuri ioc4 "{ 10.0.0.8 }"

# an element the kernel refuses: nothing changes, and the error names it
ask "overlap bad4"
ask commit
check "a batch with an overlapping element is refused" answered error
check "... naming the set, the element and its range" \
	grep -Eq "element [0-9]+ of set bad4 \(range 198\.51\.[0-9]+\.[0-9]+-198\.51\.[0-9]+\.[0-9]+\)" <<<"$ANSWER"
check "... and the table is as it was (all or nothing)" in_set ioc4 10.0.0.8
refute "... without the refused set" ip netns exec "$EP" nft list set inet kakuri bad4
ask quit
summary
[ "$FAILED" -eq 0 ]
