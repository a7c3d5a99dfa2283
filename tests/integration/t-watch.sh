#!/usr/bin/env bash
# kakurictl watch, the employee's side (issue 11, item 5): against a real
# session bus (a dbus-daemon of its own) and a notification server that
# records what it gets (notifyd.c).  The isolation notice arrives after a
# staff disconnect with the guidance, the CSIRT contact and both buttons;
# the release notice after a signed release; a Japanese locale gets the
# Japanese words; Report opens the report form in the terminal given,
# argv only; Disconnect pressed on an egress notice isolates for a staff
# member and is refused with its reason for others; a third watcher of
# one uid is refused and a watcher that never reads holds nothing up;
# without a session bus the notices go to the terminal; users outside
# the staff hold at most their share of the watchers, and a staff
# member's watch and root's are accepted when it is full.
. "$(dirname "$0")/lib.sh"
need
NOTIFYD="$TOP/build/notifyd"
need_built "$NOTIFYD"
command -v dbus-daemon >/dev/null || unable "dbus-daemon not installed (tools/ensure-deps)" "dbus-daemon"
echo "== watch: the employee's desktop notices"
topology || die topology
pki_setup || die "PKI setup"
write_policy "$(remote_agent_conf)" "$(remote_tls_conf)"
AGENT_ID=$(agent_init)
start_kakurid || die "kakurid starts"

# --- a session bus of its own: any uid may connect (the watchers run as
# test users), nothing else of the machine's is touched ---
BUS="$WORK/bus"
cat >"$WORK/bus.conf" <<EOT
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$BUS</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
EOT
dbus-daemon --config-file="$WORK/bus.conf" --nofork --nopidfile >"$WORK/dbus.log" 2>&1 &
PIDS+=($!)
until_ok 5 test -S "$BUS" || die "dbus-daemon listens"
chmod 0666 "$BUS"
export DBUS_SESSION_BUS_ADDRESS="unix:path=$BUS"

mode_is() { [ "$(status_field mode)" = "$1" ]; }
NOTES="$WORK/notices.jsonl"
NOTIFYD_PID=
# notifyd_start [--invoke ...]: a fresh notification server
notifyd_start() {
	if [ -n "$NOTIFYD_PID" ]; then
		kill "$NOTIFYD_PID" 2>/dev/null
		wait "$NOTIFYD_PID" 2>/dev/null
	fi
	: >"$WORK/notifyd.out"
	"$NOTIFYD" "$NOTES" --timeout 300 "$@" >"$WORK/notifyd.out" 2>>"$WORK/notifyd.err" &
	NOTIFYD_PID=$!
	PIDS+=($NOTIFYD_PID)
	until_ok 5 grep -q ready "$WORK/notifyd.out"
}
# notice JQ-FILTER: a recorded notice matches
notice() { jq -se "[.[] | select(.summary != null) | select($1)] | length > 0" "$NOTES"; }
invoked() { jq -se "[.[] | select(.invoked != null and .action == \"$1\")] | length > 0" "$NOTES"; }

# dbus-daemon drops a connection whose uid has no passwd entry (it looks
# up the groups): the staff watcher is "daemon" made a staff_group member
getent passwd daemon >/dev/null || unable "no user daemon" "a staff user with a passwd entry"
WSTAFF_UID=$(id -u daemon)
WSTAFF_ID=(--reuid="$WSTAFF_UID" --regid="$(id -g daemon)" --groups=100)

# the terminal for Report: records its argv, one per line
mkdir -m 0777 "$WORK/term"
TERM_LOG="$WORK/term/argv"
cat >"$WORK/fake-term" <<EOT
#!/bin/sh
printf '%s\n' "\$@" >"$TERM_LOG.tmp" && mv "$TERM_LOG.tmp" "$TERM_LOG"
EOT
chmod 0755 "$WORK/fake-term"

# watch_as NAME LANG SETPRIV-OPTIONS...: a watcher in the background
watch_as() {
	local name=$1 lang=$2; shift 2
	setpriv "$@" env LANG="$lang" LC_ALL= LC_MESSAGES= KAKURI_TERMINAL="$WORK/fake-term" \
		"$KAKURICTL" -s "$SOCK" watch >"$WORK/$name.out" 2>"$WORK/$name.err" &
	PIDS+=($!)
	eval "${name}_PID=$!"
	until_ok 5 grep -q "notices to the desktop" "$WORK/$name.out" || { cat "$WORK/$name.err" "$WORK/notifyd.err" "$WORK/dbus.log"; return 1; }
}

notifyd_start --invoke "report:300:IMPORTANT: this computer has been cut off" || die "notifyd owns the name"
watch_as staff C "${WSTAFF_ID[@]}" || die "a staff member's watcher follows kakurid"
watch_as other ja_JP.UTF-8 "${NOBODY_ID[@]}" || die "a watcher under a Japanese locale follows kakurid"
check "nothing is shown while the PC is open" bash -c "! test -s '$NOTES'"

# --- isolation: the staff's button ---
ctl disconnect >/dev/null || fail "disconnect pressed"
check_within "the isolation notice arrives (English)" 5 \
	notice '.summary == "IMPORTANT: this computer has been cut off from the network"'
check "it carries the guidance, the desk and the episode" \
	notice "(.summary | startswith(\"IMPORTANT\")) and (.body | test(\"Keep the computer switched on\")) and
	(.body | test(\"CSIRT test desk\")) and (.body | test(\"0000\")) and (.body | test(\"$(status_field episode)\"))"
check "it carries Report and Disconnect, and asks to stay (critical, no expiry)" \
	notice '(.summary | startswith("IMPORTANT")) and .actions == ["report","Report","disconnect","Disconnect"] and
	.urgency == 2 and .expire == 0 and .app_name == "kakuri"'
check_within "the same notice in Japanese under a ja locale" 5 \
	notice '.summary == "【重要】このパソコンはネットワークから隔離されました" and
	(.body | test("電源は入れたまま")) and (.body | test("CSIRT test desk")) and
	.actions == ["report","報告する","disconnect","切断する"]'
check_within "Report pressed: the report form opens in the terminal given" 5 test -s "$TERM_LOG"
check "the terminal runs 'kakurictl report' with an argv, this kakurictl, this socket" \
	test "$(tr '\n' ' ' <"$TERM_LOG")" = "-e $KAKURICTL -s $SOCK report "

# --- release: signed by two, handed over locally ---
REL=$(sign alice release --episode "$(status_field episode)" --reason "all clear") &&
	"$KAKURICTL" cosign -k "$PKI/bob.key" "$REL" >/dev/null 2>&1 &&
	ctl apply "$REL" >/dev/null || fail "the signed release applies"
check_within "the release notice arrives" 5 \
	notice '.summary == "Connectivity is back" and .actions == []'
check_within "in Japanese too" 5 notice '.summary == "通信が復旧しました"'

# --- a tabletop drill: the exercise notice, and the response timed ---
# drill_checks: the drill notices (issue 11), written against the
# contract, on an open host.  The staff
# watcher (English) presses Report on the drill's start notice 300 ms
# after it arrives; kakurid times it.
drill_checks() {
	local before
	mode_is open || fail "drill_checks needs an open host"
	before=$(jq -s 'length' "$NOTES")
	notifyd_start --invoke "report:300:Respond as you would" || die "notifyd for the drill"
	ctl drill start --duration 20 >/dev/null || fail "a tabletop drill starts"
	check_within "the drill notice arrives: これは訓練です / This is a drill, with both buttons" 10 \
		jq -se ".[$before:] | [.[] | select(.summary != null) | select((.summary |
		startswith(\"これは訓練です / This is a drill\")) and (.actions | length) == 4)] | length >= 2" "$NOTES"
	check_within "Report pressed 300 ms later" 5 \
		jq -se ".[$before:] | [.[] | select(.invoked != null and .action == \"report\")] | length == 1" "$NOTES"
	check_within "the drill times it: employee.action report by the watcher's uid, action_ms >= 300" 10 \
		bash -c "'$KAKURICTL' -s '$SOCK' drill history --json | jq -e --argjson u $WSTAFF_UID '
		map(select(. != null and .employee.action == \"report\" and .employee.uid == \$u and
		.employee.action_ms >= 300)) | length > 0'"
	check_within "... and counts the watchers' users notified (the agent sent them the drill)" 10 \
		bash -c "'$KAKURICTL' -s '$SOCK' drill history --json | jq -e '.[0].employee.notified >= 2' >/dev/null"
	ctl drill stop >/dev/null || fail "the drill stops"
	check_within "the drill's end notice gives the employee's own response" 10 \
		jq -se ".[$before:] | [.[] | select(.summary != null) | select(.summary | startswith(\"The drill is over\")) |
		select(.body | test(\"Your response: Report\"))] | length > 0" "$NOTES"
}
drill_checks

# --- Disconnect pressed on a drill's notice once the drill is over (the
# --- notice stays in the notification centre): nothing is cut off ---
notifyd_start --invoke "disconnect:4000:Respond as you would" || die "notifyd for a drill's old notice"
ctl drill start --duration 1 >/dev/null || fail "a 1 s tabletop drill starts"
check_within "the 1 s drill is over" 10 notice '(.summary | startswith("The drill is over"))'
check_within "Disconnect pressed on its notice after its end" 10 invoked disconnect
check_within "... the staff member is told the drill is over and nothing is cut off" 5 \
	notice '(.body // "") | test("the drill is over: nothing is cut off")'
check "... and the PC stays open (fails on the old code: isolated for real)" mode_is open

# --- Disconnect pressed on a running drill's notice: recorded, and told
# --- how to disconnect for real (not "nothing is cut off": a live drill
# --- cuts the PC off, and an unannounced one looks like the real thing) ---
NINV=$(jq -se '[.[] | select(.invoked != null and .action == "disconnect")] | length' "$NOTES")
more_invoked() { [ "$(jq -se '[.[] | select(.invoked != null and .action == "disconnect")] | length' "$NOTES")" -gt "${NINV:-0}" ]; }
notifyd_start --invoke "disconnect:300:Respond as you would" || die "notifyd for a running drill's notice"
ctl drill start --duration 20 >/dev/null || fail "a tabletop drill starts again"
check_within "Disconnect pressed on the running drill's notice" 10 more_invoked
check_within "... the response is recorded, and the way to disconnect for real told (fails on the old code: nothing is cut off)" 5 \
	notice '(.body // "") | test("your response was recorded. If you believe this computer is really infected")'
check "... and the PC stays open (a drill's notice cuts nothing)" mode_is open
disconnect_timed() { "$KAKURICTL" -s "$SOCK" drill history --json | jq -e --argjson u "$WSTAFF_UID" \
	'map(select(. != null and .employee.action == "disconnect" and .employee.uid == $u)) | length > 0' >/dev/null; }
check_within "... and the drill timed it: employee.action disconnect" 10 disconnect_timed
ctl drill stop >/dev/null || fail "the drill stops"

# --- Disconnect pressed on an egress notice: staff isolates, others are told why ---
notifyd_start --invoke "disconnect:300:e-mail and web access" \
	--invoke "disconnect:300:メールと Web の通信は遮断" || die "notifyd again"
ISO=$(sign alice isolate --arg mode=egress --reason "mail worm") &&
	ctl apply "$ISO" >/dev/null || fail "a signed egress isolate applies"
check_within "the egress notice arrives with its buttons" 5 \
	notice '(.summary | test("e-mail and web access")) and (.actions | length) == 4'
check_within "Disconnect pressed by the staff member: kakurid isolates" 5 mode_is isolated
presses_of() {	# presses_of UID: disconnects pressed by UID in the audit
	ctl log --json | jq --arg a "local:uid=$1(" \
		'[.entries[] | select(.action == "disconnect" and (.actor | startswith($a)))] | length'
}
check "the audit names the staff watcher's uid as who pressed, once" test "$(presses_of "$WSTAFF_UID")" = 1
check_within "Disconnect pressed by a user outside staff: told why, in a notice" 5 \
	notice '(.summary | startswith("切断する: not-authorized")) and (.body | test("staff"))'

# --- limits: 2 watchers per uid, counted apart; a silent one holds nothing up ---
watch_as staff2 C "${WSTAFF_ID[@]}" || fail "a second watcher of the same uid is accepted"
rc=0
setpriv "${WSTAFF_ID[@]}" timeout 10 "$KAKURICTL" -s "$SOCK" watch >"$WORK/staff3.out" 2>"$WORK/staff3.err" || rc=$?
check "a third watcher of the same uid is refused at once (exit 1, busy-uid)" \
	test "$rc" = 1 -a -n "$(grep busy-uid "$WORK/staff3.err")"
# a watcher that asks and never reads, as another uid
python3 - "$SOCK" >"$WORK/silent.out" 2>&1 <<'PY' &
import json, socket, struct, sys, time
s = socket.socket(socket.AF_UNIX)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(sys.argv[1])
b = json.dumps({"cmd": "watch"}).encode()
s.sendall(struct.pack(">I", len(b)) + b)
print("asked", flush=True)
time.sleep(60)
PY
PIDS+=($!)
until_ok 5 grep -q asked "$WORK/silent.out" || fail "the silent watcher connects"
for i in 1 2 3; do
	REL=$(sign alice release --episode "$(status_field episode)") &&
		"$KAKURICTL" cosign -k "$PKI/bob.key" "$REL" >/dev/null 2>&1 &&
		ctl apply "$REL" >/dev/null && ctl disconnect >/dev/null || fail "round $i"
done
check "with a silent watcher, status still answers at once" timeout 2 "$KAKURICTL" -s "$SOCK" status
check_within "and the other watchers still get every notice (4 isolations in English)" 5 \
	bash -c "[ \$(jq -s '[.[] | select(.summary == \"IMPORTANT: this computer has been cut off from the network\")] | length' '$NOTES') -ge 4 ]"
check "the watchers do not take request slots: 8 requests of the same uid at once all answered" \
	bash -c "for i in 1 2 3 4 5 6 7 8; do setpriv ${WSTAFF_ID[*]} '$KAKURICTL' -s '$SOCK' status >/dev/null & done; wait"

# --- kakurid restarts: the watcher reconnects and shows what holds ---
stop_kakurid -TERM
start_kakurid || die "kakurid restarts"
check_within "the watcher reconnects after a restart" 10 \
	bash -c "[ \$(grep -c 'following the agent' '$WORK/staff.out') -ge 2 ]"

# --- no session bus: the terminal ---
setpriv "${NOBODY_ID[@]}" env -u DBUS_SESSION_BUS_ADDRESS LANG=C timeout 10 \
	"$KAKURICTL" -s "$SOCK" watch --once >"$WORK/term.out" 2>"$WORK/term.err"
check "without a session bus the isolation notice is printed to the terminal" \
	grep -q "== kakuri: IMPORTANT: this computer has been cut off from the network ==" "$WORK/term.out"
check "with the guidance and what to type instead of the buttons" \
	bash -c "grep -q 'Keep the computer switched on' '$WORK/term.out' && grep -q 'kakurictl report' '$WORK/term.out'"
check "and it says why" grep -q "no session bus" "$WORK/term.err"

# --- the watchers of users outside staff: a share, the rest kept for
# staff and root.  Fresh uids outside the staff (5000...) take two
# watchers each until refused; the share is 48 of 64 in all (the ja
# watcher, uid 65534, may hold one or two of it already) ---
cat >"$WORK/fill.py" <<'PY'
import json, os, signal, sys, time
from ctlsock import hold_as, request, word
sock, base, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def watches():
    return [(s, word(a)) for s, a, _ in
            (request(sock, {"cmd": "watch"}) for _ in range(2))]
held, kids, first_no = 0, [], None
for uid in range(base, base + 40):
    pid, words = hold_as(uid, watches, stop, 180)
    kids.append(pid)
    held += words.count("ok")
    refused = [x for x in words if x != "ok"]
    if refused:
        first_no = refused[0]
        break
print(json.dumps({"held": held, "refused": first_no}), flush=True)
t0 = time.monotonic()
while not os.path.exists(stop) and time.monotonic() - t0 < 180:
    time.sleep(0.2)
for pid in kids:
    os.kill(pid, signal.SIGTERM)
    os.waitpid(pid, 0)
PY
PYTHONPATH="$TOP/tests/integration" timeout 300 python3 "$WORK/fill.py" "$SOCK" 5000 "$WORK/fill.stop" >"$WORK/fill.out" 2>&1 &
FILLPID=$!
PIDS+=($FILLPID)
until_ok 60 grep -q held "$WORK/fill.out" || fail "the watchers outside the staff are taken"
echo "    $(cat "$WORK/fill.out")"
check "users outside the staff hold at most their share, 48 of 64, then are refused busy" \
	jtrue '.held >= 46 and .held <= 48 and .refused == "busy"' <"$WORK/fill.out"
# (no session bus: the notice goes to the terminal, and --once ends it)
watch_once() { env -u DBUS_SESSION_BUS_ADDRESS LANG=C timeout 10 "$@" "$KAKURICTL" -s "$SOCK" watch --once; }
notice_once() { watch_once "$@" | grep -q "== kakuri: IMPORTANT"; }
check "with the share full, a staff member's watch is accepted" notice_once setpriv "${STAFF_ID[@]}"
check "and root's" notice_once
rc=0
watch_once setpriv --reuid=5999 --regid=5999 --clear-groups >/dev/null 2>"$WORK/other-busy.err" || rc=$?
check "one more watch outside the staff is refused busy (exit 1), naming the share" \
	bash -c "test $rc -eq 1 && grep -q 'busy: 48 watchers of users outside staff_group' '$WORK/other-busy.err'"
# a session's watcher that meets the full share does not give up: it
# says so, tries again later, and follows kakurid once there is room
setpriv --reuid=5998 --regid=5998 --clear-groups env LANG=C KAKURI_TERMINAL="$WORK/fake-term" \
	"$KAKURICTL" -s "$SOCK" watch >"$WORK/late.out" 2>"$WORK/late.err" &
LATE=$!; PIDS+=($LATE)
check "a session's watch that meets the full share says it will try again (fails on the old code)" \
	until_ok 10 grep -q 'busy: .*trying again in' "$WORK/late.err"
check "... and waits, still running (fails on the old code)" kill -0 "$LATE"
touch "$WORK/fill.stop"
until_ok 10 bash -c "! kill -0 $FILLPID" || fail "the filler ends"
check "... once the share has room, it follows kakurid" until_ok 60 grep -q "following the agent" "$WORK/late.out"
kill "$LATE" 2>/dev/null


summary
[ "$FAILED" -eq 0 ]
