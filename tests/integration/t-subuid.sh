#!/usr/bin/env bash
# A user with subordinate uids is one user (agentd/subids.c).  A user
# whom /etc/subuid gives 65,536 uids (newuidmap, rootless containers)
# could connect to the control socket as each of them: every per-uid limit
# (reports, signed commands handed over, connection slots, watchers) was
# his many times over, and the count the uids past a full table share was
# his to use up, refusing everyone else.  Now such a uid is counted as
# the range's owner, also where NSS does not know the owner's name, and
# for a range added while kakurid runs.  kakurid runs in a mount namespace of its own whose
# /etc has the test's subuid file on top (an overlay): the machine's own
# /etc/subuid is never touched.
. "$(dirname "$0")/lib.sh"
need
echo "== subordinate uids: a user with many uids is one user"
topology || die topology
OWNER=65534
mkdir -p "$WORK/etcx"
printf '# test ranges\n%s:200000:65536\n43219:300000:100\nno-such-user-kk:400000:100\n' "$OWNER" >"$WORK/etcx/subuid"
chmod 0644 "$WORK/etcx/subuid"
write_policy
# kakurid itself: unshare, sh and ip each exec the next, so $! is kakurid's pid
unshare -m --propagation private sh -c \
	'mount -t overlay kakuri-etc -o "lowerdir=$1:/etc" /etc && exec ip netns exec "$2" "$3" -d -f "$4"' \
	sh "$WORK/etcx" "$EP" "$KAKURID" "$POLICY" >>"$DLOG" 2>&1 &
KPID=$!
until_ok 10 ctl status || die "kakurid starts"
check "kakurid reads the test's ranges, not the machine's" \
	test "$(nsenter -t "$KPID" -m cat /etc/subuid | sed -n 2p)" = "$OWNER:200000:65536"

report_as() {	# report_as UID: one self-report as UID; its answer in $WORK/r-UID.json
	setpriv --reuid="$1" --regid="$1" --clear-groups "$KAKURICTL" -s "$SOCK" report --json \
		--category other --what "from uid $1" </dev/null >"$WORK/r-$1.json" 2>&1
}
ok=0
for u in $(seq 200000 200049); do report_as "$u" && ok=$((ok + 1)); done
check "50 subordinate uids of one user: 10 reports in ten minutes, his quota (got $ok)" test "$ok" -eq 10
check "... the 11th is refused, rate-limited" grep -q 'rate-limited\|too many reports' "$WORK/r-200010.json"
check "a user of his own (uid 43219) still reports" report_as 43219
check "... and so does the owner's neighbour past the range (uid 265536)" report_as 265536
check "the owner himself has no quota left" bash -c "! setpriv --reuid=$OWNER --regid=$OWNER --clear-groups \
	'$KAKURICTL' -s '$SOCK' report --category other --what owner </dev/null >/dev/null 2>&1"

# a range whose owner NSS does not know (an LDAP user before sssd is up):
# kept, its uids one user (before, the line was skipped and each uid was
# a user of its own, with its own rate and its own share of the outbox)
ok=0
for u in $(seq 400000 400049); do report_as "$u" && ok=$((ok + 1)); done
check "50 uids of a range whose owner NSS does not know: 10 reports, one user's quota (got $ok)" test "$ok" -eq 10
check "kakurid says it counts that range as one user" grep -q "range(s) of users NSS does not know (yet): each counted as one user" "$DLOG"

# a range added while kakurid runs (useradd gives each new user one): the
# file is read again when it changed, at a local peer's connection
printf '43220:500000:100\n' >>"$WORK/etcx/subuid"
reread() { setpriv --reuid=43220 --regid=43220 --clear-groups "$KAKURICTL" -s "$SOCK" status >/dev/null 2>&1
	grep -q "/etc/subuid changed: read again" "$DLOG"; }
check "the changed /etc/subuid is read again" wait_for 10 reread
ok=0
for u in $(seq 500000 500049); do report_as "$u" && ok=$((ok + 1)); done
check "50 uids of the range added since the start: 10 reports, one user's quota (got $ok)" test "$ok" -eq 10

# a drill's responses: one user is one employee, whichever of his uids
# he answers as (before, each uid was one, and one user filled the table)
drill_req() {	# drill_req JSON: one control request as root, its answer
	printf '%s' "$1" >"$WORK/req.json"
	raw_request "$WORK/req.json"
}
running() { drill_req '{"cmd":"drill-history","limit":1}' | jq -r ".running$1"; }
drill_req '{"cmd":"drill","action":"start","kind":"tabletop","duration":60}' >"$WORK/d.json"
check "a tabletop drill starts" jtrue '.ok' <"$WORK/d.json"
report_as 300000
report_as 300001
check "two reports as two of user 43219's subordinate uids: one response, his" \
	bash -c "[ \"\$1\" = 43219 ]" _ "$(running '.employee.responses | map(.uid) | join(" ")')"
drill_req '{"cmd":"drill","action":"stop"}' >/dev/null

# watchers: two per user, whichever of his uids they run as
WP=()
watch_as() {	# watch_as UID: a watcher in terminal mode, in the background
	setpriv --reuid="$1" --regid="$1" --clear-groups env -u DBUS_SESSION_BUS_ADDRESS \
		-u XDG_RUNTIME_DIR "$KAKURICTL" -s "$SOCK" watch \
		>"$WORK/w-$1.out" 2>"$WORK/w-$1.err" </dev/null &
	WP+=($!); PIDS+=($!)
}
watch_as 200100
watch_as 200101
check_within "two watchers of his, as two of his uids" 10 bash -c \
	"grep -q 'notices to this terminal' '$WORK/w-200100.out' && grep -q 'notices to this terminal' '$WORK/w-200101.out'"
rc=0
setpriv --reuid=200102 --regid=200102 --clear-groups timeout 10 "$KAKURICTL" -s "$SOCK" watch \
	</dev/null >"$WORK/w-200102.out" 2>"$WORK/w-200102.err" || rc=$?
check "a third, as a third uid of his: refused at once (busy-uid)" bash -c \
	"[ $rc -eq 1 ] && grep -qi 'busy\|watchers' '$WORK/w-200102.err'"
watch_as 43219
check_within "... while another user's watcher is let in" 10 grep -q 'notices to this terminal' "$WORK/w-43219.out"
for p in "${WP[@]}"; do end_pid "$p"; done
check "audit chain verifies" ctl log -n 0
stop_kakurid -TERM
summary
[ "$FAILED" -eq 0 ]
