#!/usr/bin/env bash
# Each user's share of the outbox (agentd/outbox.c): while the collector
# is away, the report rate (10 per 10 min per user) was the only bound
# on one user's self-reports, and the outbox's report.max_mb was shared
# by every kind of report: one user (or malware running as one) sending
# large reports filled it in hours, and every other employee's report
# was refused "the outbox is full" until the collector came back.  Now
# a user with a report waiting is held to 1/8 of the outbox; his first
# report is never held to it; root is held to none.
. "$(dirname "$0")/lib.sh"
need
echo "== report share: one user cannot fill the outbox for everyone"
topology || die topology
# report.max_mb = 1 and no collector: everything waits
write_policy "" "report: { max_mb = 1; };"
start_kakurid || die "kakurid starts"

# attachments: 200 KiB (a staff member's request may be 1 MiB), and
# 40 and 41 KiB (a request of a user outside staff is at most 64 KiB)
head -c $((200 * 1024)) /dev/urandom >"$WORK/big.bin"
head -c $((40 * 1024)) /dev/urandom >"$WORK/small.bin"
head -c $((41 * 1024)) /dev/urandom >"$WORK/small41.bin"
chmod 0644 "$WORK"/*.bin
report_as() {	# report_as UID TAG [--attach FILE]...: one self-report; answer in $WORK/r-TAG.json
	local u=$1 tag=$2 g=--clear-groups; shift 2
	[ "$u" != 4242 ] || g=--groups=100	# STAFF_ID
	setpriv --reuid="$u" --regid="$u" $g "$KAKURICTL" -s "$SOCK" report --json \
		--category other --what "from uid $u ($tag)" "$@" </dev/null >"$WORK/r-$tag.json" 2>&1
}
# user A (a staff member, 4242) reports until refused, large then small,
# within his rate (10 tries in ten minutes): before, he filled the outbox for
# everyone; now his share stops him after his first report
ok=0 last=
for i in 1 2 3 4 5; do
	last=a$i
	report_as 4242 "$last" --attach "$WORK/big.bin" || break
	ok=$((ok + 1))
done
for i in 1 2 3 4 5; do
	last=s$i
	report_as 4242 "$last" --attach "$WORK/small.bin" || break
	ok=$((ok + 1))
done
check "user A's reports are refused before his rate ends them ($ok queued)" \
	grep -q 'no-space\|outbox' "$WORK/r-$last.json"
check "... for his share of the outbox" grep -q 'share' "$WORK/r-$last.json"
check "the refusal is audited" audit_has '.action == "outbox" and .result == "refused-share"'
check "user B (outside staff) still reports, with a 41 KiB attachment" \
	report_as 43219 b1 --attach "$WORK/small41.bin"
check "... and user C" report_as 43220 c1
check "root is held to no share" bash -c "for i in 1 2; do '$KAKURICTL' -s '$SOCK' report \
	--category other --what root </dev/null >/dev/null 2>&1 || exit 1; done"
check "audit chain verifies" ctl log -n 0
stop_kakurid -TERM
summary
[ "$FAILED" -eq 0 ]
