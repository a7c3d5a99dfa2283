#!/usr/bin/env bash
# A self-report with the most it may carry: three attachments of 256 KiB
# (kakurictl.8).  A request of a user outside the staff group was cut at
# 64 KiB and a staff member's at 1 MiB, so an employee's screenshot was
# refused "too-large" and what he typed was lost.  Such a request is now
# read on one of four big slots, one per user at a time: a user who
# holds his slot gets "busy" for a second one, four holders keep out a
# fifth, and kakurictl sends a report again on "busy" until a slot is
# free (the holders' deadline); users outside staff_group take three of
# the four at most.  Larger than a report may be is still refused
# unread.
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
# hold.py SOCK LEN WAIT [STOP]: as the calling uid, announce LEN bytes
# and send nothing more.  Prints the answer's "error" if kakurid answers
# within WAIT s, else "held" (once).  Without STOP it keeps the
# connection until kakurid closes it; with STOP it connects again each
# time kakurid closes one (the request's deadline), so that the slot
# stays taken until the file STOP is there.  At most 60 s in all.
cat >"$WORK/hold.py" <<'EOF'
import json, os, socket, struct, sys, time
sock, size, wait = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
stop = sys.argv[4] if len(sys.argv) > 4 else None
end = time.monotonic() + 60
said = False
def answer(s):
    hdr = s.recv(4, socket.MSG_WAITALL)
    if len(hdr) < 4:
        return None
    n = struct.unpack(">I", hdr)[0]
    return json.loads(s.recv(n, socket.MSG_WAITALL)).get("error", "?")
while time.monotonic() < end and not (stop and os.path.exists(stop)):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    s.sendall(struct.pack(">I", size) + b"{")
    s.settimeout(wait)
    try:
        err = answer(s)
        if not said:
            print(err if err else "closed", flush=True)
            said = True
        if stop is None or err:
            break
        continue                # closed at its deadline: taken again
    except socket.timeout:
        if not said:
            print("held", flush=True)
            said = True
    s.settimeout(0.1)
    while time.monotonic() < end and not (stop and os.path.exists(stop)):
        try:
            if not s.recv(1):
                break
        except socket.timeout:
            pass
    s.close()
    if stop is None:
        break
EOF
chmod 0644 "$WORK/hold.py"
BIG=$((1024 * 1024 + 1))
HOLDS=()
# hold TAG UID WAIT [LEN [STOP]]: hold.py in the background as UID, a
# staff member, its output in $WORK/h-TAG
hold() {
	setpriv --reuid="$2" --regid="$2" --groups=100 "$PY" "$WORK/hold.py" "$SOCK" "${4:-$BIG}" "$3" \
		${5:+"$5"} >"$WORK/h-$1" 2>&1 &
	HOLDS+=($!); PIDS+=($!)
}
said() { [ "$(cat "$WORK/h-$1" 2>/dev/null)" = "$2" ]; }
# a holder is "held" when kakurid has not answered it in 0.5 s (it
# answers only at the request's 5 s deadline); a request expected to be
# refused waits up to 4 s for its answer, which comes at once
hold a1 4242 0.5
check_within "a request announcing a report's size is read (held on a slot)" 5 said a1 held
hold a2 4242 4
check_within "... a second one of the same user at once: busy" 5 said a2 busy
hold t1 43219 4 $((2 * 1024 * 1024))
check_within "... one larger than a report may be (another user): too-large, unread" 5 said t1 too-large
for p in "${HOLDS[@]}"; do end_pid "$p"; done
HOLDS=()
# --- a staff member's request other than a report, of a report's size:
# --- read on a slot, then refused (DESIGN 3's 1 MiB is for the rest) ---
setpriv --reuid=4242 --regid=4242 --groups=100 "$PY" - "$SOCK" "$BIG" <<'EOF' >"$WORK/status-big.out" 2>&1
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
n = int(sys.argv[2])
head = b'{"cmd":"status","pad":"'
body = head + b"x" * (n - len(head) - 2) + b'"}'
s.settimeout(10)
s.sendall(struct.pack(">I", len(body)) + body)
hdr = s.recv(4, socket.MSG_WAITALL)
print(json.loads(s.recv(struct.unpack(">I", hdr)[0], socket.MSG_WAITALL)).get("error", "ok"))
EOF
check "a status request of a report's size: too-large, only a report may be larger (fails on the first version)" \
	grep -qx too-large "$WORK/status-big.out"
# --- the too-large words: a user is told a report may be larger; root,
# --- whose limit is larger than a report's, is not ---
cat >"$WORK/announce.py" <<'EOF'
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.settimeout(10)
s.sendall(struct.pack(">I", int(sys.argv[2])) + b"{")
hdr = s.recv(4, socket.MSG_WAITALL)
a = json.loads(s.recv(struct.unpack(">I", hdr)[0], socket.MSG_WAITALL))
print(a.get("error", "ok") + ": " + a.get("message", ""))
EOF
chmod 0644 "$WORK/announce.py"
setpriv --reuid=43219 --regid=43219 --clear-groups "$PY" "$WORK/announce.py" "$SOCK" $((2 * 1024 * 1024)) >"$WORK/big-user.out" 2>&1
check "another user's request over a report's size: 'larger than 64 KiB (a report with attachments: 1152 KiB)'" \
	grep -qx 'too-large: request larger than 64 KiB (a report with attachments: 1152 KiB)' "$WORK/big-user.out"
"$PY" "$WORK/announce.py" "$SOCK" $((27 * 1024 * 1024 + 1)) >"$WORK/big-root.out" 2>&1
check "root's request over root's limit: 'larger than 27648 KiB', no report size (fails on the old code)" \
	grep -qx 'too-large: request larger than 27648 KiB' "$WORK/big-root.out"
# --- four users hold the four slots, taking them again at each deadline;
# --- a fifth is told busy; kakurictl report sends again until a slot frees ---
STOP="$WORK/stop-holding"
for u in 1 2 3 4; do hold s$u $((43230 + u)) 0.5 "$BIG" "$STOP"; done
for u in 1 2 3 4; do check_within "user $u of four holds a slot" 5 said s$u held; done
hold s5 43235 4
check_within "a fifth user, while four hold the slots: busy" 5 said s5 busy
setpriv --reuid=43236 --regid=43236 --clear-groups "$KAKURICTL" -s "$SOCK" report --json \
	--category popup --what "a popup (busy)" "${attach[@]}" </dev/null >"$WORK/r-busy.json" 2>"$WORK/r-busy.err" &
RPID=$!; PIDS+=($RPID)
check_within "kakurictl report is told busy while the slots are held (audited)" 10 \
	audit_has '.action == "control" and .result == "refused: busy" and (.actor | test("uid=43236"))'
: >"$STOP"
for p in "${HOLDS[@]}"; do end_pid "$p"; done
HOLDS=()
check_within "... it sends again, and gets its id once a slot is free" 15 \
	bash -c "! kill -0 $RPID 2>/dev/null && grep -Eq '\"report\": *\"[0-9a-f]{32}\"' '$WORK/r-busy.json'"
wait "$RPID" 2>/dev/null
R=$(jq -r .report "$WORK/r-busy.json" 2>/dev/null)
check_within "... and it reaches the collector whole" 20 attachments_ok "$R"
check "the busy refusals are audited" audit_has '.action == "control" and .result == "refused: busy"'
# --- users outside staff_group take three slots at most: the fourth is
# --- the staff's, so that malware under a few system accounts cannot
# --- keep a staff member's report (and its --disconnect) out ---
hold_other() {	# hold_other TAG UID WAIT [LEN [STOP]]: hold, outside staff
	setpriv --reuid="$2" --regid="$2" --clear-groups "$PY" "$WORK/hold.py" "$SOCK" "${4:-$BIG}" "$3" \
		${5:+"$5"} >"$WORK/h-$1" 2>&1 &
	HOLDS+=($!); PIDS+=($!)
}
STOP="$WORK/stop-holding-others"
for u in 1 2 3; do hold_other o$u $((43240 + u)) 0.5 "$BIG" "$STOP"; done
for u in 1 2 3; do check_within "user $u outside staff holds a slot" 5 said o$u held; done
hold_other o4 43244 4 "$BIG" "$STOP"
check_within "a fourth user outside staff: busy, the last slot is staff's (fails on the old code)" 5 said o4 busy
setpriv --reuid=43245 --regid=43245 --groups=100 "$KAKURICTL" -s "$SOCK" report --json \
	--category popup --what "a popup, staff, while three others hold slots" "${attach[@]}" \
	</dev/null >"$WORK/r-staff.json" 2>"$WORK/r-staff.err"
R=$(jq -r .report "$WORK/r-staff.json" 2>/dev/null)
check "... a staff member's report with attachments is taken meanwhile (fails on the old code)" \
	grep -Eq '^[0-9a-f]{32}$' <<<"$R"
SB=no
audit_has '.action == "control" and .result == "refused: busy" and (.actor | test("uid=43245"))' >/dev/null && SB=yes
check "... and was never told busy (told busy: $SB)" test "$SB" = no
: >"$STOP"
for p in "${HOLDS[@]}"; do end_pid "$p"; done
HOLDS=()
check_within "... and it reaches the collector whole" 20 attachments_ok "$R"
check "kakurid serves after all of it" ctl status
check "audit chain verifies" ctl log -n 0
collector_stop
stop_kakurid -TERM
summary
[ "$FAILED" -eq 0 ]
