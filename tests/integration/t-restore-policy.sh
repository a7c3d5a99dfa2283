#!/usr/bin/env bash
# kakurid(8): the boot restore never lifts a quarantine.  Before, a policy
# file that did not load at boot (made group-writable by root malware or
# an admin's slip, or a typo a SIGHUP reload had refused but that stayed
# on disk) made kakurid --restore exit 1 with no table: an isolated host
# booted open.  kakurid keeps the policy it last ran with in
# state_dir/policy.good, and the restore falls back to it; a copy that
# someone else could have written is not used either.  Real packets, in
# the endpoint's namespace, its tables dropped as at a reboot.
. "$(dirname "$0")/lib.sh"
need
echo "== the boot restore with a policy that does not load"
topology || die "topology"
PORT=9557
for a in "$EP4" "$EP6"; do serve "$EP" "$a" 7443; done
for a in "$NET4" "$NET6"; do serve "$NET" "$a" "$PORT"; done
peer_reaches() { reach "$PEER" tcp "$EP4" 7443 && reach "$PEER" tcp "$EP6" 7443; }
open_both() { reach "$EP" tcp "$NET4" $PORT && reach "$EP" tcp "$NET6" $PORT; }
cut_both() { ! reach "$EP" tcp "$NET4" $PORT 300 && ! reach "$EP" tcp "$NET6" $PORT 300; }
# the restore as kakuri-restore.service runs it: systemd sets
# STATE_DIRECTORY from StateDirectory=
restore() { ip netns exec "$EP" env STATE_DIRECTORY="$STATE" "$KAKURID" --restore -f "$POLICY" 2>&1; }
GOOD="$STATE/policy.good"

write_policy
start_kakurid || die "kakurid starts"
check "kakurid keeps the policy it runs with: policy.good, 0600, the same bytes" \
	bash -c "[ \"\$(stat -c %a '$GOOD')\" = 600 ] && cmp -s '$POLICY' '$GOOD'"
# a reload: the copy follows the policy in force, and only it
echo "# reloaded" >>"$POLICY"
reloads() { ctl log -n 0 --json | jq '[.entries[] | select(.action == "policy-reload")] | length'; }
n=$(reloads)
kill -HUP "$KPID"
check_within "a reload of a good policy: the copy is the new one" 10 cmp -s "$POLICY" "$GOOD"
cp "$POLICY" "$WORK/good.conf"
echo "this is no policy" >>"$POLICY"
kill -HUP "$KPID"
reloaded_past() { [ "$(reloads)" -ge "$1" ]; }
check_within "a reload of a broken policy is refused" 10 reloaded_past $((n + 2))
check "... the copy stays the policy in force" cmp -s "$WORK/good.conf" "$GOOD"
check_within "the internet answers before the isolation" 5 open_both
ctl disconnect >/dev/null 2>&1
check_within "isolated" 5 cut_both
check "the CSIRT peer reaches 7443 while isolated" peer_reaches
stop_kakurid -TERM

# the reboot: the tables gone, the policy file broken on disk
drop_tables
check "as at a reboot: no table, the internet reachable" open_both
out=$(restore); rc=$?
check "the broken policy: kakurid --restore exits 0 with the copy (fails on the old code: exit 1, no table)" test $rc -eq 0
check "... and says which policy it restored with" grep -q "restoring the quarantine with the policy kakurid last ran with, $GOOD" <<<"$out"
check "... isolated again: the internet cut (IPv4 and IPv6)" cut_both
check "... the CSIRT peer still reaches 7443 (the copy's management peers)" peer_reaches

# group-writable, as root malware would leave it: the same
drop_tables
cp "$WORK/good.conf" "$POLICY" && chmod 0660 "$POLICY"
out=$(restore); rc=$?
check "a group-writable policy: the restore uses the copy, exit 0" test $rc -eq 0
check "... isolated again" cut_both

# a copy someone else could write is no policy either: nothing restored,
# and the restore says why (exit 1), as with no copy at all
drop_tables
chmod 0660 "$GOOD"
out=$(restore); rc=$?
check "a group-writable copy is not used: exit 1, the policy's error named" \
	bash -c "[ $rc -eq 1 ] && grep -q 'group- or world-writable' <<<'$out'"
check "... no table of kakuri's" bash -c "! ip netns exec $EP nft list table inet kakuri"
rm -f "$GOOD"
out=$(restore); rc=$?
check "no copy at all: exit 1" test $rc -eq 1
# a copy in another directory than the state_dir it names (a state_dir
# moved since): its state.json would not be this host's
mkdir -m 0700 -p "$WORK/elsewhere" && cp "$WORK/good.conf" "$WORK/elsewhere/policy.good" && chmod 0600 "$WORK/elsewhere/policy.good"
out=$(ip netns exec "$EP" env STATE_DIRECTORY="$WORK/elsewhere" "$KAKURID" --restore -f "$POLICY" 2>&1); rc=$?
check "a copy whose state_dir is another directory is not used: exit 1" test $rc -eq 1

# the policy fixed: kakurid starts isolated, as state.json says
chmod 0600 "$POLICY"
start_kakurid || die "kakurid starts again"
check_within "kakurid adopts the isolation" 10 isolated_verified
check "... and keeps the copy again" cmp -s "$POLICY" "$GOOD"
stop_kakurid -TERM
summary
[ "$FAILED" -eq 0 ]
