#!/usr/bin/env bash
# A self-report with the most it may carry: three attachments of 256 KiB
# (kakurictl.8).  A request of a user outside the staff group was cut at
# 64 KiB and a staff member's at 1 MiB, so an employee's screenshot was
# refused "too-large" and what he typed was lost.  Such a request is now
# read on one of four big slots, one per user at a time: a user who
# holds his slot gets "busy" for a second one, four holders keep out a
# fifth, and kakurictl sends a report again on "busy" until a slot is
# free (the holders' deadline).  Larger than a report may be is still
# refused unread.
. "$(dirname "$0")/lib.sh"
need
# Debian's python3, which the test users may run (not a root-only shim)
PY=/usr/bin/python3
[ -x "$PY" ] || unable "no $PY (the python3 package; make check installs it)" "python3"
echo "== report: attachments up to the documented limit, for every employee"
collector_agent
stored_payload() {	# stored_payload ID: the payload the collector stored
	jq -r .payload "$COL/$AGENT_ID/$1.json" | base64 -d
}
start_kakurid || die "kakurid starts"
collector || die "the collector starts"

for i in 1 2 3; do head -c $((256 * 1024)) /dev/urandom >"$WORK/shot$i.png"; done
chmod 0644 "$WORK"/shot*.png
attach=(--attach "$WORK/shot1.png" --attach "$WORK/shot2.png" --attach "$WORK/shot3.png")
# report_as TAG SETPRIV-OPTION...: a report with the three attachments
report_as() {
	local tag=$1; shift
	setpriv "$@" "$KAKURICTL" -s "$SOCK" report --json --category popup \
		--what "a popup ($tag)" "${attach[@]}" </dev/null >"$WORK/r-$tag.json" 2>"$WORK/r-$tag.err"
}
# three attachments arrive whole: names, sizes and hashes as read
attachments_ok() {	# attachments_ok ID
	stored_payload "$1" >"$WORK/p.json" || return 1
	jq -e --arg a "$(sha256sum <"$WORK/shot1.png" | cut -c1-64)" \
		--arg b "$(sha256sum <"$WORK/shot2.png" | cut -c1-64)" \
		--arg c "$(sha256sum <"$WORK/shot3.png" | cut -c1-64)" \
		'.body.attachments | length == 3 and
		([.[].size] | all(. == 262144)) and
		([.[].sha256] == [$a, $b, $c]) and
		([.[].name] == ["shot1.png", "shot2.png", "shot3.png"])' "$WORK/p.json"
}

report_as nobody "${NOBODY_ID[@]}"
R=$(jq -r .report "$WORK/r-nobody.json" 2>/dev/null)
check "a user outside staff reports with three attachments of 256 KiB: an id (fails on the old code: too-large)" \
	grep -Eq '^[0-9a-f]{32}$' <<<"$R"
check_within "... it reaches the collector" 20 test -s "$COL/$AGENT_ID/$R.json"
check "... with the three attachments whole" attachments_ok "$R"
report_as staff "${STAFF_ID[@]}"
R=$(jq -r .report "$WORK/r-staff.json" 2>/dev/null)
check "a staff member too (fails on the old code: over 1 MiB)" grep -Eq '^[0-9a-f]{32}$' <<<"$R"
check_within "... it reaches the collector whole" 20 attachments_ok "$R"

# --- the slots: requests that announce a report's size and hold it ---
# hold.py: as the calling uid, announce LEN bytes and send nothing more;
# prints the answer's "error" if kakurid answers within 0.5 s, else
# "held", and keeps the connection until kakurid closes it (at most 5 s)
cat >"$WORK/hold.py" <<'EOF'
import json, socket, struct, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(struct.pack(">I", int(sys.argv[2])) + b"{")
s.settimeout(0.5)
try:
    hdr = s.recv(4)
    body = b""
    if len(hdr) == 4:
        n = struct.unpack(">I", hdr)[0]
        while len(body) < n:
            d = s.recv(n - len(body))
            if not d:
                break
            body += d
        print(json.loads(body).get("error", "?"), flush=True)
    else:
        print("closed", flush=True)
    sys.exit(0)
except socket.timeout:
    print("held", flush=True)
s.settimeout(5)
try:
    s.recv(1)
except OSError:
    pass
EOF
chmod 0644 "$WORK/hold.py"
BIG=$((1024 * 1024 + 1))
HOLDS=()
# hold TAG UID [LEN]: hold.py in the background as UID, a staff member (a
# request of staff has 5 s to come whole: long enough to look at the
# slots on a busy machine), its output in $WORK/h-TAG
hold() {
	setpriv --reuid="$2" --regid="$2" --groups=100 "$PY" "$WORK/hold.py" "$SOCK" "${3:-$BIG}" \
		>"$WORK/h-$1" 2>&1 &
	HOLDS+=($!); PIDS+=($!)
}
said() { [ "$(cat "$WORK/h-$1" 2>/dev/null)" = "$2" ]; }
hold a1 4242
check_within "a request announcing a report's size is read (held on a slot)" 3 said a1 held
hold a2 4242
check_within "... a second one of the same user at once: busy" 3 said a2 busy
hold t1 43219 $((2 * 1024 * 1024))
check_within "... one larger than a report may be (another user): too-large, unread" 3 said t1 too-large
for p in "${HOLDS[@]}"; do end_pid "$p"; done
HOLDS=()
# four users hold the four slots; a fifth is told busy
for u in 1 2 3 4; do hold s$u $((43230 + u)); done
for u in 1 2 3 4; do check_within "user $u of four holds a slot" 3 said s$u held; done
hold s5 43235
check_within "a fifth user, while four hold the slots: busy" 3 said s5 busy
# kakurictl sends again on busy: the holders' deadline frees the slots
report_as busy --reuid=43236 --regid=43236 --clear-groups
R=$(jq -r .report "$WORK/r-busy.json" 2>/dev/null)
check "kakurictl report sends again on busy: an id once a slot is free" grep -Eq '^[0-9a-f]{32}$' <<<"$R"
check "... it was told busy first (audited)" \
	audit_has '.action == "control" and .result == "refused: busy" and (.actor | test("uid=43236"))'
check_within "... and it reaches the collector whole" 20 attachments_ok "$R"
for p in "${HOLDS[@]}"; do end_pid "$p"; done
check "the busy refusals are audited" audit_has '.action == "control" and .result == "refused: busy"'
check "kakurid serves after all of it" ctl status
check "audit chain verifies" ctl log -n 0
collector_stop
stop_kakurid -TERM
summary
[ "$FAILED" -eq 0 ]
