#!/usr/bin/env bash
# Root in another process tries to lift the isolation: `nft delete table
# inet kakuri` (and bridge kakuri) and `nft flush ruleset`.  With the
# owner+persist flags the kernel refuses; with protect = "monitor" kakurid
# restores the tables within 100 ms (the time kakurid measured, restore_us
# in the audit log).  Either way the host stays isolated and it is logged.
. "$(dirname "$0")/lib.sh"
need
echo "== tamper resistance"
topology || { fail "topology"; summary; exit 1; }
for a in "$NET4" "$NET6"; do serve "$NET" "$a" 8080; done
check_within "the internet host answers before" 5 reach "$EP" tcp "$NET4" 8080

blocked_both() { ! reach "$EP" tcp "$NET4" 8080 && ! reach "$EP" tcp "$NET6" 8080; }

# --- owner + persist (kernel refuses) ---
write_policy
start_kakurid || { fail "kakurid starts"; summary; exit 1; }
ctl disconnect >/dev/null
check "protection is owner+persist on this kernel ($(uname -r))" test "$(status_field protection)" = owner+persist
# a decoy table, so that a flush has something to change and is seen
ip netns exec "$EP" nft add table ip decoy
refute "nft delete table inet kakuri is refused" ip netns exec "$EP" nft delete table inet kakuri
refute "nft flush table inet kakuri is refused" ip netns exec "$EP" nft flush table inet kakuri
refute "nft delete chain inet kakuri output is refused" ip netns exec "$EP" nft delete chain inet kakuri output
refute "nft add rule accepting everything is refused" ip netns exec "$EP" nft insert rule inet kakuri output accept
refute "nft delete table bridge kakuri is refused" ip netns exec "$EP" nft delete table bridge kakuri
ip netns exec "$EP" nft flush ruleset 2>/dev/null
check "after nft flush ruleset the table is still there" table_present
check "after nft flush ruleset the decoy table is gone" bash -c "! ip netns exec $EP nft list table ip decoy"
check "host still isolated (IPv4 and IPv6)" blocked_both
check_within "the ruleset flush is in the audit log with the process name" 5 \
	audit_has '.action=="nftables-change" and (.actor|test("nft"))'
check "status still verifies the kernel table" test "$(status_field verified)" = true
stop_kakurid -TERM

# --- monitor only: restored, each within 100 ms as kakurid measured it ---
rm -rf "$STATE"
write_policy "" 'nftables: { protect = "monitor"; };'
start_kakurid || { fail "kakurid starts (monitor)"; summary; exit 1; }
ctl disconnect >/dev/null
check "protection is monitor" test "$(status_field protection)" = monitor
restored() { ctl log --json | jq '[.entries[] | select(.action=="tamper" and .result=="restored")] | length'; }
restored_more() { test "$(restored)" -gt "$1"; }
intact() {
	ip netns exec "$EP" nft list table inet kakuri | grep -q 'drop everything else' &&
	ip netns exec "$EP" nft list table bridge kakuri | grep -q 'drop all bridged traffic'
}
for attempt in "delete table inet kakuri" "flush ruleset" "flush table inet kakuri" \
    "delete rule inet kakuri output handle 0" "delete table bridge kakuri"; do
	if [ "$attempt" = "delete rule inet kakuri output handle 0" ]; then
		h=$(ip netns exec "$EP" nft -a list chain inet kakuri output | sed -n 's/.*drop everything else.*# handle \([0-9]*\)/\1/p')
		attempt="delete rule inet kakuri output handle $h"
	fi
	n0=$(restored)
	ip netns exec "$EP" nft $attempt
	check_within "after '$attempt': restored (audit log)" 5 restored_more "$n0"
	check "after '$attempt': inet and bridge tables in force" intact
	check "after '$attempt': kernel tables verified" test "$(status_field verified)" = true
	check "after '$attempt': host isolated" blocked_both
	us=$(ctl log --json | jq '[.entries[] | select(.action=="tamper" and .result=="restored")] | last | .restore_us')
	check "after '$attempt': kakurid restored it in at most 100 ms (${us} us)" test "${us:-999999}" -lt 100000
done
n=$(restored)
check "each tampering is logged as restored ($n)" test "$n" -ge 5
check "status counts tamper events" test "$(status_field tamper_events)" -ge 5
n=$(grep -l '"type":"tamper"' "$STATE"/outbox/*.json 2>/dev/null | wc -l)
check "a tamper alert for the CSIRT is queued per restore ($n)" test "$n" -ge 5
summary
[ "$FAILED" -eq 0 ]
