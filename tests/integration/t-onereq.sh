#!/usr/bin/env bash
# One request per control connection (DESIGN 3), also while the first one
# is still being done: a user outside staff_group hands over a signed
# freeze with kakurictl apply's request, and while kakurid waits for the
# kernel to freeze the target, sends a report on the same connection and
# closes it.  The report must have no effect: the connection's one request
# was the apply, and what comes after it is never read.
#
# The freeze is held deterministically as in t-evidence-attacks.sh: its
# target reads a file whose FUSE server never answers (fusehang), so the
# kernel never says "frozen 1" and the freeze waits its whole
# freeze_timeout.  Only processes this script starts are frozen (uid
# 43214, named by pid); the FUSE mount lives in a mount namespace of its
# own.
. "$(dirname "$0")/lib.sh"
trap 'cleanup; cgroups_remove' EXIT
need
B="$TOP/build"
need_built "$B/fusehang"
command -v socat >/dev/null || unable "no socat (the raw control frames need it)" "socat present"
need_freezer_fuse "the freeze needs one" "the held target needs it"
echo "== one request per control connection, while the first is pending"
evidence_setup
FREEZE_TIMEOUT=8
evidence_start "freeze_timeout = $FREEZE_TIMEOUT;"

# the held target: a reader of the FUSE file, waiting in the kernel
held_reader fuse 43214

MARK="one-request-$$"
F=$(sign alice freeze --arg pid:="$HELD" --incident IR-ONEREQ) || die "the freeze is signed"
jq -nc --rawfile e "$F" '{cmd: "apply", envelope: $e}' >"$WORK/apply.json"
jq -nc --arg w "$MARK" '{cmd: "report", category: "other", what: $w}' >"$WORK/report.json"
frozen_by_us() { grep -q "^0::/kakuri/" "/proc/$1/cgroup" 2>/dev/null; }
freeze_audited() { audit_has '.action == "freeze"'; }
reported() { outbox_has "$1"; }

# One connection, as a user outside staff_group: the apply; once kakurid
# has moved the target (the apply was read and is pending), the report;
# then EOF, and socat closes the socket a second later -- long before the
# freeze's timeout.
{
	raw_frame "$WORK/apply.json"
	until_ok 10 frozen_by_us "$HELD" && touch "$WORK/moved"
	raw_frame "$WORK/report.json"
} | as_nobody timeout 20 socat -t 1 - UNIX-CONNECT:"$SOCK" >"$WORK/one.out" 2>/dev/null
check "the apply was pending when the report followed it (target moved)" test -e "$WORK/moved"
check "the connection was closed before the freeze was done" bash -c "! '$KAKURICTL' -s '$SOCK' log --json | jq -e '[.entries[] | select(.action == \"freeze\")] | length > 0'"
# the freeze ends at its timeout: by then kakurid has long seen the hangup
check_within "the freeze ends (at its timeout) and is audited" $((FREEZE_TIMEOUT + 20)) freeze_audited
refute "the report sent after the apply on the same connection was never read" reported "$MARK"
refute "... and nothing of it is audited" audit_has ".action == \"report\""
check "kakurid still serves" ctl status

# the same report on a connection of its own is queued: the check above
# looks in the right place
raw_request "$WORK/report.json" "${NOBODY_ID[@]}" >"$WORK/alone.out"
check "the same report on a connection of its own is answered ok" jq -e '.ok == true' "$WORK/alone.out"
check "... and queued in the outbox" reported "$MARK"

# thaw what the freeze moved (thaw needs two signers)
T=$(sign alice thaw --arg all:=true --episode "$(ctl status --json | jq -r .evidence.freeze_episode)") &&
	"$KAKURICTL" cosign -k "$PKI/bob.key" "$T" >/dev/null 2>&1 &&
	ctl apply "$T" >/dev/null 2>&1
check "the frozen target is thawed" bash -c "! grep -q '^0::/kakuri/' /proc/$HELD/cgroup"
summary
[ "$FAILED" -eq 0 ]
