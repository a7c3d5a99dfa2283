#!/usr/bin/env bash
# A kakurid killed (kill -9) in the middle of a freeze, while it waits for
# the kernel to say "frozen 1": the target it has taken is already in
# state_dir/frozen.json, so the next kakurid knows it, shows it in status
# and thaws it on a signed thaw that names the episode.  Before, the set
# was saved only with the receipt, and the target stayed frozen in
# kakuri's group with nobody to thaw it.  And a source cgroup a freeze
# had frozen for a moment when kakurid ended runs again at the next
# start, by the freeze journal (unit freeze journal_crash ends a real
# call there).
#
# The freeze is held deterministically as in t-onereq.sh: its target
# reads a file whose FUSE server never answers (fusehang), so the kernel
# never says "frozen 1" and the freeze waits its whole freeze_timeout.
# Only processes this script starts are frozen (uid 43215, named by pid);
# the FUSE mount lives in a mount namespace of its own.
. "$(dirname "$0")/lib.sh"
trap 'chattr -i "$STATE/frozen.json" 2>/dev/null; cleanup; cgroups_remove' EXIT
need
B="$TOP/build"
need_built "$B/fusehang"
need_freezer_fuse "the freeze needs one" "the held target needs it"
echo "== kakurid killed while a freeze waits for the kernel"
evidence_setup
FREEZE_TIMEOUT=60
evidence_start "freeze_timeout = $FREEZE_TIMEOUT;"

held_reader fuse 43215
ORIG=$(grep '^0::' "/proc/$HELD/cgroup")

F=$(sign alice freeze --arg pid:="$HELD" --incident IR-FZCRASH) || die "the freeze is signed"
ctl apply "$F" >"$WORK/apply.out" 2>&1 &
APPLY=$!; PIDS+=("$APPLY")
frozen_by_us() { grep -q "^0::/kakuri/" "/proc/$1/cgroup" 2>/dev/null; }
check "the target is taken (in kakuri's group)" wait_until 30 frozen_by_us "$HELD"
in_frozen_json() { jq -e --argjson p "$HELD" 'any(.[]; .pid == $p)' "$STATE/frozen.json"; }
check "frozen.json lists it while the freeze waits for the kernel" wait_until 10 in_frozen_json
# the log read, and no freeze in it
none_audited() { local out; out=$(ctl log --json) && jq -e '[.entries[] | select(.action == "freeze")] | length == 0' <<<"$out"; }
check "the freeze is still waiting (nothing audited yet)" none_audited

kill -9 "$KPID"; wait "$KPID" 2>/dev/null; KPID=
wait "$APPLY" 2>/dev/null
check "the target stays frozen in kakuri's group" frozen_by_us "$HELD"

EP_NSENTER=1 start_kakurid || die "kakurid starts again"
check "restart: status counts the target frozen" test "$(ctl status --json | jq -r .evidence.frozen)" -ge 1
EPISODE=$(ctl status --json | jq -r .evidence.freeze_episode)
check "restart: the freeze episode is known" test -n "$EPISODE" -a "$EPISODE" != null
T=$(sign alice thaw --arg all:=true --episode "$EPISODE") &&
	"$KAKURICTL" cosign -k "$PKI/bob.key" "$T" >/dev/null 2>&1 &&
	ctl apply --json "$T" >"$WORK/thaw.out" 2>/dev/null
check "restart: a signed thaw is done" jq -e '.result == "done"' "$WORK/thaw.out"
check "restart: the target is back in its own cgroup" test "$(grep '^0::' "/proc/$HELD/cgroup")" = "$ORIG"
check "restart: nothing is left frozen" test "$(ctl status --json | jq -r .evidence.frozen)" -eq 0
stop_kakurid -TERM

# known_after_restart LABEL PID CGROUP-DIR EPISODE: kakurid started again
# (the last one killed) knows PID frozen in EPISODE, from the group
# CGROUP-DIR its move named, and a signed thaw puts it back there
known_after_restart() {
	local label=$1 pid=$2 cg=$3 ep=$4 t
	EP_NSENTER=1 start_kakurid || die "kakurid starts again"
	check "$label: after a restart, status counts it frozen (fails on the old code)" \
		test "$(ctl status --json | jq -r '.evidence.frozen, .evidence.freeze_episode' | tr '\n' ' ')" = "1 $ep "
	check "$label: frozen.json lists it with the group its move named" \
		jq -e --argjson p "$pid" --arg cg "/${cg##*/}" 'any(.[]; .pid == $p and .cgroup == $cg)' "$STATE/frozen.json"
	t=$(sign alice thaw --arg all:=true --episode "$ep") &&
		"$KAKURICTL" cosign -k "$PKI/bob.key" "$t" >/dev/null 2>&1 &&
		ctl apply --json "$t" >"$WORK/thaw-$label.out" 2>/dev/null
	check "$label: a signed thaw is done" jq -e '.result == "done"' "$WORK/thaw-$label.out"
	check "$label: it is back in its own group" wait_for 5 grep -qx "$pid" "$cg/cgroup.procs"
}

# frozen.json that cannot be saved (here a directory in its place, the
# rename onto it fails; a disk past its reserve, say): the journal keeps
# the line naming the freeze group and the moves are kept, so a kakurid
# killed after still leaves its targets known to the next one, each with
# the group it came from.  Before, the journal was emptied: nobody knew
# them, and they stayed frozen.
echo "== frozen.json cannot be saved, then kakurid is killed"
EP_NSENTER=1 start_kakurid || die "kakurid starts again"
test_cgroup "/kakuri-it-$$-save.scope" || die "a test cgroup"
SAVE_CG=$TCG
setpriv --reuid=43215 --regid=43215 --clear-groups sleep 60 &
SP4=$!; PIDS+=("$SP4")
# not a target, in the same group: the target is moved, not frozen there
sleep 60 &
SP5=$!; PIDS+=("$SP5")
echo "$SP4" >"$SAVE_CG/cgroup.procs"
echo "$SP5" >"$SAVE_CG/cgroup.procs"
rm -f "$STATE/frozen.json"
mkdir "$STATE/frozen.json"
F=$(sign alice freeze --arg pid:="$SP4" --incident IR-FZSAVE) &&
	ctl apply --json "$F" >"$WORK/fz-save.out" 2>/dev/null
check "save: the freeze is done" jq -e '.result == "done"' "$WORK/fz-save.out"
EP4=$(jq -r '.output.freeze_episode' "$WORK/fz-save.out")
check "save: the target is taken (in kakuri's group)" frozen_by_us "$SP4"
check "save: kakurid says the set could not be saved" grep -q "frozen.json: could not be saved" "$DLOG"
check "save: the moves file keeps the target's move" grep -q "^[^ ]* $SP4 " "$STATE/freeze-sources.moves"
check "save: the journal keeps only the line naming the freeze group (fails on the old code)" \
	test "$(cut -d' ' -f2- "$STATE/freeze-sources")" = "episode $EP4"
# a later freeze that takes nothing (kakurid's own pid: protected, and
# no pid of another process) tries the save again, fails again, and
# keeps the line too
NSAVE=$(grep -c "frozen.json: could not be saved" "$DLOG")
F=$(sign alice freeze --arg pid:="$KPID" --incident IR-FZSAVE2) &&
	ctl apply --json "$F" >"$WORK/fz-save2.out" 2>/dev/null
check "save: a later freeze of kakurid's own pid takes nothing" jq -e '.result != "done"' "$WORK/fz-save2.out"
check "save: ... tries the save again (logged again; fails without the retry)" \
	test "$(grep -c "frozen.json: could not be saved" "$DLOG")" -gt "$NSAVE"
check "save: ... and the journal still names the freeze group (fails without the retry)" \
	test "$(cut -d' ' -f2- "$STATE/freeze-sources")" = "episode $EP4"
kill -9 "$KPID"; wait "$KPID" 2>/dev/null; KPID=
rmdir "$STATE/frozen.json"
known_after_restart save "$SP4" "$SAVE_CG" "$EP4"
check "save: the other process was never frozen" grep -qx "frozen 0" "$SAVE_CG/cgroup.events"
stop_kakurid -TERM

# a freeze call that ended with kakurid (killed, a crash) left a source
# group frozen for a moment: the next kakurid runs it again, by the line
# it journaled before freezing it (BOOT-ID INODE HEX-PATH); a group of
# another boot's line stays as it is
hexpath() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
# frozen_sleeper REL: a test cgroup REL (in TCG) holding a sleep of ours
# (SLEEPER), frozen
frozen_sleeper() {
	test_cgroup "$1" || die "a test cgroup"
	sleep 60 &
	SLEEPER=$!
	PIDS+=("$SLEEPER")
	echo "$SLEEPER" >"$TCG/cgroup.procs"
	echo 1 >"$TCG/cgroup.freeze"
}
frozen_sleeper "/kakuri-it-$$-src.scope"
SRC=$TCG
test_cgroup "/kakuri-it-$$-old.scope" || die "a test cgroup"
OLD=$TCG
echo 1 >"$OLD/cgroup.freeze"
# and a target it had moved into its freeze group before any set was
# saved (the line naming that group comes first): known again.  Named as
# kakurid names one: the episode id, 32 hex digits.
STRAY_GROUP=$(od -An -N16 -tx1 /dev/urandom | tr -d " \n")
frozen_sleeper "/kakuri/$STRAY_GROUP"
STRAY_DIR=$TCG
SP2=$SLEEPER
# and one the freeze had moved there from its own group, that move
# journaled (the moves file: BOOT-ID PID START HEX-PATH): it goes back
# there on thaw.  SP2's line is of another boot: its group stays unknown.
test_cgroup "/kakuri-it-$$-home.scope" || die "a test cgroup"
HOME_CG=$TCG
sleep 60 &
SP3=$!
PIDS+=("$SP3")
echo "$SP3" >"$HOME_CG/cgroup.procs"
echo "$SP3" >"$STRAY_DIR/cgroup.procs"
# start time: /proc/PID/stat field 22, the 20th after the name
start_of() { sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f20; }
BOOT=$(cat /proc/sys/kernel/random/boot_id)
{
	echo "$BOOT episode $STRAY_GROUP"
	echo "$BOOT $(stat -c %i "$SRC") $(hexpath "/${SRC##*/}")"
	echo "00000000-0000-0000-0000-000000000000 $(stat -c %i "$OLD") $(hexpath "/${OLD##*/}")"
} >"$STATE/freeze-sources"
{
	echo "$BOOT $SP3 $(start_of "$SP3") $(hexpath "/${HOME_CG##*/}")"
	echo "00000000-0000-0000-0000-000000000000 $SP2 $(start_of "$SP2") $(hexpath "/${HOME_CG##*/}")"
} >"$STATE/freeze-sources.moves"
check "journal: the source group holds still before the restart" wait_for 5 grep -qx "frozen 1" "$SRC/cgroup.events"
EP_NSENTER=1 start_kakurid || die "kakurid starts on a freeze journal"
check "journal: the group a freeze had frozen for a moment runs again" wait_for 5 grep -qx "frozen 0" "$SRC/cgroup.events"
check "journal: kakurid says so" grep -q "1 group(s) a freeze had frozen for a moment when kakurid ended run again" "$DLOG"
check "journal: a group of another boot's line stays frozen" grep -qx 1 "$OLD/cgroup.freeze"
check "journal: read once, then emptied" test -e "$STATE/freeze-sources" -a ! -s "$STATE/freeze-sources"
check "journal: the targets a freeze had taken are known again (status)" test "$(ctl status --json | jq -r '.evidence.frozen, .evidence.freeze_episode' | tr '\n' ' ')" = "2 $STRAY_GROUP "
check "journal: kakurid says so" grep -q "2 process(es) a kakurid that ended in a freeze had taken are known again (freeze episode $STRAY_GROUP); 1 of them with no original cgroup known" "$DLOG"
check "journal: frozen.json lists one with its cgroup unknown" jq -e --argjson p "$SP2" 'any(.[]; .pid == $p and .cgroup == "")' "$STATE/frozen.json"
check "moves: frozen.json lists the other with the group its move named" jq -e --argjson p "$SP3" --arg cg "/${HOME_CG##*/}" 'any(.[]; .pid == $p and .cgroup == $cg)' "$STATE/frozen.json"
check "moves: read once, then emptied" test -e "$STATE/freeze-sources.moves" -a ! -s "$STATE/freeze-sources.moves"
T=$(sign alice thaw --arg all:=true --episode "$STRAY_GROUP") &&
	"$KAKURICTL" cosign -k "$PKI/bob.key" "$T" >/dev/null 2>&1 &&
	ctl apply --json "$T" >"$WORK/thaw2.out" 2>/dev/null
check "journal: a signed thaw keeps the one of no known cgroup frozen, and says why" jq -e --argjson p "$SP2" '.reason == "thaw-incomplete" and any(.output.kept_frozen[]; .pid == $p and (.why | test("original cgroup")))' "$WORK/thaw2.out"
check "journal: it is still frozen in that group" grep -qx "$SP2" "$STRAY_DIR/cgroup.procs"
check "moves: the same thaw puts the other back in its own group" wait_for 5 grep -qx "$SP3" "$HOME_CG/cgroup.procs"
check "moves: and it runs there (that group is not frozen)" grep -qx "frozen 0" "$HOME_CG/cgroup.events"
echo 0 >"$OLD/cgroup.freeze"

# strays taken in at start whose save fails (frozen.json immutable: it
# loads, a rename over it does not): the journal and moves stay, and a
# freeze that takes nothing after keeps them too, so a kakurid killed
# then still leaves the stray known to the next, with its own group
echo "== strays taken in at start, frozen.json not saved"
stop_kakurid -TERM
kill -9 "$SP2" 2>/dev/null
test_cgroup "/kakuri-it-$$-home4.scope" || die "a test cgroup"
HOME4=$TCG
STRAY4=$(od -An -N16 -tx1 /dev/urandom | tr -d " \n")
frozen_sleeper "/kakuri/$STRAY4"
SP6=$SLEEPER
echo "[]" >"$STATE/frozen.json"
chattr +i "$STATE/frozen.json" || die "chattr +i on frozen.json (the test needs a file system with it, as ext4)"
echo "$BOOT episode $STRAY4" >"$STATE/freeze-sources"
echo "$BOOT $SP6 $(start_of "$SP6") $(hexpath "/${HOME4##*/}")" >"$STATE/freeze-sources.moves"
NSAVE=$(grep -c "frozen.json: could not be saved" "$DLOG")
EP_NSENTER=1 start_kakurid || die "kakurid starts on strays"
check "adopt: the stray is known, and its save failed" \
	bash -c "[ \"\$(grep -c 'frozen.json: could not be saved' '$DLOG')\" -gt $NSAVE ]"
check "adopt: the journal and the moves stay" \
	bash -c "grep -q ' episode $STRAY4\$' '$STATE/freeze-sources' && grep -q '^[^ ]* $SP6 ' '$STATE/freeze-sources.moves'"
F=$(sign alice freeze --arg pid:="$KPID" --incident IR-FZSAVE3) &&
	ctl apply --json "$F" >"$WORK/fz-save3.out" 2>/dev/null
check "adopt: a freeze after it takes nothing" jq -e '.result != "done"' "$WORK/fz-save3.out"
check "adopt: ... and the journal and the moves still stay (fails without the retry)" \
	bash -c "grep -q ' episode $STRAY4\$' '$STATE/freeze-sources' && grep -q '^[^ ]* $SP6 ' '$STATE/freeze-sources.moves'"
kill -9 "$KPID"; wait "$KPID" 2>/dev/null; KPID=
chattr -i "$STATE/frozen.json"
known_after_restart adopt "$SP6" "$HOME4" "$STRAY4"
summary
[ "$FAILED" -eq 0 ]
