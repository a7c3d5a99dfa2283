#!/usr/bin/env bash
# A slow management link (DESIGN 7: nothing is lost while the collector is
# away or far): a report larger than the link carries within the courier's
# fixed answer time (35 s) gets the time its size needs at 64 kbit/s, so
# it is delivered, and the report behind it too, instead of being cut off
# and sent again for ever.  The endpoint's link to the CSIRT is shaped to
# 64 kbit/s, the slowest the courier is made for (a tbf qdisc inside the
# endpoint's own namespace), and the report is the largest an employee
# can send: three attachments of 256 KiB.
. "$(dirname "$0")/lib.sh"
need
echo "== courier: a large report over a slow link"
collector_agent
if ! ip netns exec "$EP" tc qdisc add dev to-peer root tbf rate 64kbit \
	burst 4kb latency 400ms; then
	echo "cannot run: no tbf qdisc (sch_tbf) for a slow link"
	die "a slow link"
fi
start_kakurid || die "kakurid starts"
report() {	# report WHAT [--attach FILE...]: the id of the report queued
	local what=$1; shift
	ctl report --json --category other --what "$what" "$@" </dev/null | jq -r .report
}
for i in 1 2 3; do head -c $((256 * 1024)) /dev/urandom >"$WORK/att$i"; done
BIG=$(report "a large one" --attach "$WORK/att1" --attach "$WORK/att2" --attach "$WORK/att3")
SMALL=$(report "the one behind it")
check "two reports queued" bash -c "[ -n '$BIG' ] && [ -n '$SMALL' ] && [ '$BIG' != null ] && [ '$SMALL' != null ]"
cp "$STATE"/outbox/*-"$BIG".dsse "$WORK/big.dsse"
SIZE=$(stat -c %s "$WORK/big.dsse")
check "the large one takes the link more than 35 s (at most 8 KB/s)" test "$SIZE" -gt $((35 * 8000))
T0=$SECONDS
collector || die "the collector starts"
# about 190 s at what 64 kbit/s carries (7.3 KB/s), of the 270 s the
# courier gives its 1.4 MB at 6,000 bytes a second and 35 s
check_within "the large report arrives" 420 test -s "$COL/$AGENT_ID/$BIG.json"
echo "  (delivered $SIZE bytes in $((SECONDS - T0)) s)"
check "byte for byte what the agent signed" cmp -s "$WORK/big.dsse" "$COL/$AGENT_ID/$BIG.json"
check_within "and the one behind it" 60 test -s "$COL/$AGENT_ID/$SMALL.json"
refute "the courier was never cut off for being slow" \
	grep -Eq "did not answer within|no answer from the courier" "$DLOG"
collector_stop
summary
[ "$FAILED" -eq 0 ]
