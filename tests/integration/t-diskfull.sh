#!/usr/bin/env bash
# A full disk does not stop a signed release (issue 8, item 4).  state_dir
# is a small tmpfs; while the host is isolated the volume is filled to the
# last byte (as a noisy log or /var/tmp on the same file system would).  A
# two-signature release from the CSIRT still works: the replay id, the
# state and the notice are written from the reserve kakurid keeps in
# state_dir.  Once there is room again the reserve comes back, and a
# release handed over with `kakurictl apply` works on a full disk too;
# a user's self-report on the full disk does not take the reserve.  Last,
# with syncfail.so, a self-report refused because the outbox's directory
# does not sync is not left there to be sent anyway.
. "$(dirname "$0")/lib.sh"
need
B="$TOP/build"
need_built "$B/syncfail.so"
echo "== a full state volume and a signed release; a directory that does not sync"
topology || { fail "topology"; summary; exit 1; }
pki_setup || { fail "PKI setup"; summary; exit 1; }
mkdir -p "$STATE"
if ! mount -t tmpfs -o size=16m,mode=0700 kakuri-test "$STATE"; then
	echo "cannot run: no tmpfs mount for state_dir"
	fail "tmpfs for state_dir"; summary; exit 1
fi
trap 'umount "$STATE" 2>/dev/null; cleanup' EXIT
for a in "$NET4" "$NET6"; do serve "$NET" "$a" 8080; done
write_policy "$(remote_agent_conf)" "$(remote_tls_conf)"
AGENT_ID=$(agent_init)
start_kakurid || { fail "kakurid starts"; summary; exit 1; }
wait_for 5 bash -c "'$KAKURICTL' -s '$SOCK' status --json | jq -e '.csirt_channel == \"listening\"' >/dev/null"
check "kakurid keeps a reserve in state_dir" test "$(stat -c %s "$STATE/reserve" 2>/dev/null || echo 0)" -ge $((2 << 20))
fill() {	# fill the volume to the last byte
	dd if=/dev/zero of="$STATE/fill-$1" bs=64k 2>/dev/null
	dd if=/dev/zero of="$STATE/fill-$1-tail" bs=512 2>/dev/null
	test "$(df --output=avail -B1 "$STATE" | tail -1)" -lt 4096
}
release_token() {	# a release of the current episode with both signatures
	local f
	f=$(sign alice release --episode "$(status_field episode)") &&
		"$KAKURICTL" cosign -k "$PKI/bob.key" "$f" >/dev/null 2>&1 && echo "$f"
}

ISO=$(sign alice isolate --incident IR-DISK --reason "disk full test")
check "signed isolate: done" test "$(send_result "$ISO")" = done
wait_for 5 bash -c "! ip netns exec $EP $NETPROBE tcp $NET4 8080 300"
check "isolated (real packets)" bash -c "! ip netns exec $EP $NETPROBE tcp $NET4 8080 700"
REL=$(release_token)
check "the volume is full" fill 1
check "writing there now fails" bash -c "! echo x >'$STATE/probe'"
check "signed release on a full disk: done" test "$(send_result "$REL")" = done
check "open again (real packets)" wait_for 5 reach "$EP" tcp "$NET4" 8080
check "state.json says open" test "$(jq -r .mode "$STATE/state.json")" = open
check "status says open" test "$(status_field mode)" = open
check "the release was remembered: the same token again is a replay" test "$(send_result "$REL")" = replay

# room again: the reserve comes back with the next state that is saved
rm -f "$STATE"/fill-*
check "a staff disconnect isolates" as_staff "$KAKURICTL" -s "$SOCK" disconnect
check "the reserve is back" test "$(stat -c %s "$STATE/reserve" 2>/dev/null || echo 0)" -ge $((2 << 20))
REL=$(release_token)
check "the volume is full again" fill 2
# a local user who filled the disk cannot hand the reserve to his filler
refute "a user's self-report on the full disk is refused" as_nobody "$KAKURICTL" -s "$SOCK" \
	report --category other --what "a popup"
check "the reserve is still whole" test "$(stat -c %s "$STATE/reserve" 2>/dev/null || echo 0)" -ge $((2 << 20))
check "a release handed over with kakurictl apply on a full disk: done" ctl apply "$REL"
check "open again (real packets)" wait_for 5 reach "$EP" tcp "$NET4" 8080
check "state.json says open" test "$(jq -r .mode "$STATE/state.json")" = open
rm -f "$STATE"/fill-*

# --- a directory that does not sync (syncfail.so): a report refused for
# --- it is not left behind to be sent anyway ---
stop_kakurid -TERM
DIRFAIL="$WORK/dirsyncfail"
LD_PRELOAD="$B/syncfail.so" DIRSYNCFAIL="$DIRFAIL" start_kakurid || die "kakurid restarts (syncfail.so)"
outbox_files() { find "$STATE/outbox" -maxdepth 1 -name '*.dsse' -o -maxdepth 1 -name '*.pend' | wc -l; }
check "a self-report while the disk syncs" as_nobody "$KAKURICTL" -s "$SOCK" \
	report --category other --what "before"
N=$(outbox_files)
C=$(ctl outbox --json | jq -r .count)
: >"$DIRFAIL"
refute "the outbox's directory does not sync: a self-report is refused" as_nobody "$KAKURICTL" -s "$SOCK" \
	report --category other --what "not durable"
check "... and its file is not left in the outbox, to be sent anyway (fails on the old code)" \
	test "$(outbox_files)" = "$N"
check "... nor counted" test "$(ctl outbox --json | jq -r .count)" = "$C"
rm -f "$DIRFAIL"
check "it syncs again: the self-report made again is queued" as_nobody "$KAKURICTL" -s "$SOCK" \
	report --category other --what "not durable"
check "... once: one file more" test "$(outbox_files)" = $((N + 1))
check "kakurid served throughout" kill -0 "$KPID"
check "audit chain verifies" ctl log -n 0
summary
[ "$FAILED" -eq 0 ]
