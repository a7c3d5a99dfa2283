#!/usr/bin/env bash
# Fail closed: kill -9 leaves the host isolated, a restarted kakurid
# re-adopts the table and the same episode, `kakurid --restore` re-applies
# the persisted state in a fresh namespace (boot), a state file that does
# not load brings the host up isolated (fail closed: a new episode, the
# file kept aside, a tamper alert), and an edited audit log is noticed.
# A second kakurid, or --restore, on the state directory of a running one
# is refused.
. "$(dirname "$0")/lib.sh"
need
echo "== crash, restart, restore"
topology || { fail "topology"; summary; exit 1; }
for a in "$NET4" "$NET6"; do serve "$NET" "$a" 8080; done
for a in "$EP4" "$EP6"; do serve "$EP" "$a" 7443; done
wait_for 5 reach "$EP" tcp "$NET4" 8080
wait_for 5 reach "$PEER" tcp "$EP4" 7443
blocked_both() { ! reach "$EP" tcp "$NET4" 8080 && ! reach "$EP" tcp "$NET6" 8080; }

write_policy
start_kakurid || { fail "kakurid starts"; summary; exit 1; }
ctl disconnect >/dev/null
EPISODE=$(status_field episode)
check "isolated before the crash" blocked_both

kill -9 "$KPID"; wait "$KPID" 2>/dev/null; KPID=
check "kakurid is gone" bash -c "! '$KAKURICTL' -s '$SOCK' status"
check "after kill -9 the table is still in the kernel" table_present
check "after kill -9 the host is still isolated (IPv4 and IPv6)" blocked_both
check "after kill -9 the CSIRT peer still reaches 7443" reach "$PEER" tcp "$EP4" 7443

start_kakurid || fail "kakurid restarts"
check "restart: still isolated" test "$(status_field mode)" = isolated
check "restart: same episode re-adopted" test "$(status_field episode)" = "$EPISODE"
check "restart: table owned again (delete refused)" bash -c "! ip netns exec $EP nft delete table inet kakuri"
check "restart: logged as re-adopted" bash -c "'$KAKURICTL' -s '$SOCK' log --json | jtrue '[.entries[] | select(.action==\"start\")] | last | .readopted == true and .mode == \"isolated\"'"
check "restart: host isolated" blocked_both

# one kakurid on a state directory: a second one (an admin's run beside
# the service) would take the control socket's name and remove it when it
# ends, and --restore would append to the audit log beside it
ino0=$(stat -c %i "$SOCK")
ip netns exec "$EP" timeout 10 "$KAKURID" -d -f "$POLICY" >"$WORK/second.out" 2>&1
rc=$?
check "a second kakurid on the same state directory exits 1 at once (fails on the old code: it ran)" test "$rc" = 1
check "... saying which kakurid runs there" grep -q "kakurid (pid $KPID) runs on it already: not started" "$WORK/second.out"
check "... the first one's control socket is still its own, and answers (fails on the old code)" \
	bash -c "[ \"\$(stat -c %i '$SOCK')\" = '$ino0' ] && '$KAKURICTL' -s '$SOCK' status"
out=$(ip netns exec "$EP" timeout 10 "$KAKURID" --restore -f "$POLICY" 2>&1)
rc=$?
check "kakurid --restore while kakurid runs on the state directory exits 1 (fails on the old code)" test "$rc" = 1
check "... saying why" grep -q "runs on it already" <<<"$out"
check "... the audit log's chain still verifies to the hash kakurid holds (fails on the old code)" ctl log -n 0
check "... and the host is still isolated" blocked_both

# state file corrupt: fail closed, whatever the kernel table says
stop_kakurid -TERM
echo '{ "mode": "open", broken' >"$STATE/state.json"
start_kakurid || fail "kakurid starts with a corrupt state file"
check "corrupt state: isolated (fail closed)" test "$(status_field mode)" = isolated
check "corrupt state: a new episode (a release for the old one must not fit)" \
	bash -c "e=\$('$KAKURICTL' -s '$SOCK' status --json | jq -r .episode); [ \"\$e\" != '$EPISODE' ] && grep -Eq '^[0-9a-f]{32}\$' <<<\"\$e\""
check "corrupt state: the file is kept aside as evidence" bash -c "grep -l broken '$STATE'/state.json.corrupt-*"
check "corrupt state: state.json is valid again and says isolated" test "$(jq -r .mode "$STATE/state.json")" = isolated
check "corrupt state: logged" bash -c "'$KAKURICTL' -s '$SOCK' log --json | jtrue '[.entries[] | select(.action==\"state-load\" and .result==\"corrupt\")] | length > 0'"
state_alert() { outbox_json | jq -s . | jtrue 'map(select(.type == "tamper" and .body.result == "state-unreadable")) | length == 1'; }
check "corrupt state: a tamper alert is queued for the CSIRT" state_alert
check "corrupt state: the host is isolated" blocked_both
EPISODE=$(status_field episode)
stop_kakurid -TERM

# boot: a fresh namespace (no table at all) and kakurid --restore
FRESH="${P}-boot"
addns "$FRESH"
ip -n "$FRESH" link add to-net type veth peer name to-boot netns "$NET"
ip -n "$FRESH" addr add 198.18.0.3/24 dev to-net
ip -n "$NET" addr add 198.18.0.21/24 dev to-boot
ip -n "$FRESH" link set to-net up; ip -n "$NET" link set to-boot up
serve "$NET" 198.18.0.21 8081
wait_for 5 reach "$FRESH" tcp 198.18.0.21 8081
check "boot: before restore the fresh host reaches the internet" reach "$FRESH" tcp 198.18.0.21 8081
out=$(ip netns exec "$FRESH" "$KAKURID" --restore -f "$POLICY" 2>&1); rc=$?
check "kakurid --restore exits 0" test $rc -eq 0
check "kakurid --restore says what it applied" grep -q "restore: isolated" <<<"$out"
check "boot: table present in the fresh namespace" ip netns exec "$FRESH" nft list table inet kakuri
check "boot: fresh host isolated after --restore" bash -c "! ip netns exec $FRESH $NETPROBE tcp 198.18.0.21 8081 700"
check "boot: the restored table carries the episode" bash -c "ip netns exec $FRESH nft list table inet kakuri | grep -q $EPISODE"

# boot with a state file that does not load: --restore fails closed
boot_corrupt() {	# boot_corrupt NAME CONTENT
	local out rc
	# every table the restore put in: netdev kakuri cuts the host too
	for f in inet bridge netdev; do
		ip netns exec "$FRESH" nft delete table $f kakuri 2>/dev/null
	done
	wait_for 5 reach "$FRESH" tcp 198.18.0.21 8081
	check "boot, $1: the fresh host is open before restore" reach "$FRESH" tcp 198.18.0.21 8081
	printf '%s' "$2" >"$STATE/state.json"
	out=$(ip netns exec "$FRESH" "$KAKURID" --restore -f "$POLICY" 2>&1); rc=$?
	check "boot, $1: kakurid --restore exits 0" test $rc -eq 0
	check "boot, $1: --restore says isolated" grep -q "restore: isolated" <<<"$out"
	check "boot, $1: the host is isolated (real packets)" bash -c "! ip netns exec $FRESH $NETPROBE tcp 198.18.0.21 8081 700"
	check "boot, $1: a new episode" bash -c "e=\$(jq -r .episode '$STATE/state.json'); [ \"\$e\" != '$EPISODE' ] && grep -Eq '^[0-9a-f]{32}\$' <<<\"\$e\""
}
boot_corrupt "unparseable state saying open" '{ "mode": "open", "epis'
boot_corrupt "state with an unknown mode" '{ "v": 1, "mode": "opened" }'
boot_corrupt "isolated state without an episode" '{ "v": 1, "mode": "isolated" }'
n=$(ls "$STATE"/state.json.corrupt-* 2>/dev/null | wc -l)
check "every corrupt state file was kept aside ($n)" test "$n" -eq 4

# a state volume that cannot be written (ext4 remounts itself read-only
# after disk errors): the state that reads is enforced all the same, at
# boot and by kakurid, and the audit goes to the journal until it opens
ro_state() { mount --bind "$STATE" "$STATE" && mount -o remount,bind,ro "$STATE"; }
trap 'umount "$STATE" 2>/dev/null; cleanup' EXIT
for f in inet bridge netdev; do
	ip netns exec "$FRESH" nft delete table $f kakuri 2>/dev/null
done
wait_for 5 reach "$FRESH" tcp 198.18.0.21 8081
check "boot, read-only state: the fresh host is open before restore" reach "$FRESH" tcp 198.18.0.21 8081
EPISODE=$(jq -r .episode "$STATE/state.json")
check "boot, read-only state: the volume is read-only" ro_state
check "boot, read-only state: writing there fails" bash -c "! : >'$STATE/probe' 2>/dev/null"
out=$(ip netns exec "$FRESH" "$KAKURID" --restore -f "$POLICY" 2>&1); rc=$?
check "boot, read-only state: kakurid --restore exits 0" test $rc -eq 0
check "boot, read-only state: --restore says isolated" grep -q "restore: isolated" <<<"$out"
check "boot, read-only state: the audit log is named, not written" grep -q "audit log .*Read-only file system" <<<"$out"
check "boot, read-only state: the host is isolated (real packets)" bash -c "! ip netns exec $FRESH $NETPROBE tcp 198.18.0.21 8081 700"
check "boot, read-only state: the table carries the state's episode" bash -c "ip netns exec $FRESH nft list table inet kakuri | grep -q $EPISODE"
# in this mount namespace (not ip netns exec's own): the remount below is
# seen by kakurid
EP_NSENTER=1 start_kakurid || fail "kakurid starts on a read-only state volume"
check "read-only state: kakurid adopts isolated" test "$(status_field mode)" = isolated
check "read-only state: with the state's episode" test "$(status_field episode)" = "$EPISODE"
check "read-only state: the host is isolated (real packets)" blocked_both
check "read-only state: kakurid says the audit goes to the journal" grep -q "audit log .*Read-only file system.*journal" "$DLOG"
named_in_journal() { ctl disconnect >/dev/null && grep -q "not written there: .* disconnect already" "$DLOG"; }
check "read-only state: a record is named in the journal" named_in_journal
check "read-only state: kakurictl log still reads and verifies the chain" ctl log
LINES=$(wc -l <"$STATE/audit.log")
check "the volume is writable again (remount)" mount -o remount,bind,rw "$STATE"
# a record at least 10 s after the start opens the log again (record.c)
audit_back() { ctl disconnect >/dev/null 2>&1; [ "$(wc -l <"$STATE/audit.log")" -gt "$LINES" ]; }
check "writable again: the audit log is opened again and written" wait_for 20 audit_back
check "writable again: the chain verifies" ctl log
stop_kakurid -TERM
umount "$STATE"

# audit chain: an edited line is found
start_kakurid || fail "kakurid starts again"
check "audit log verifies before editing" ctl log
sed -i '2s/"disconnect"/"dis-connect"/' "$STATE/audit.log"
out=$(ctl log 2>&1); rc=$?
check "an edited audit line breaks the chain (exit 1)" test $rc -eq 1
check "kakurictl log names the line where it breaks" grep -q "broken at line 3" <<<"$out"
summary
[ "$FAILED" -eq 0 ]
