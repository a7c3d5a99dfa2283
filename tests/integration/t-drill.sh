#!/usr/bin/env bash
# Drills (issue 11): a live drill isolates the endpoint for real (IPv4 and
# IPv6 packets to the internet host dropped, the CSIRT peer still
# reaching the management port), its probes report blocked, and it can
# never strand the host: kill -9 kakurid and the kernel removes the
# drill's table at once; SIGSTOP kakurid and the gate element times out;
# the deadline ends it within a second; a management channel that cannot
# be reached for the gate period ends it at once; a restart never puts it
# back (the record says aborted).  A staff disconnect during a drill
# outlives it; a drill while isolated is refused; a local non-root user
# can neither start nor stop one; a signed drill needs the drill role; a
# probe the policy leaves reachable gives a "leak" result that reaches
# the collector.  Tabletop drills isolate nothing and time the employee.
. "$(dirname "$0")/lib.sh"
need
echo "== drill: live drills that never strand a host"
topology || die topology
pki_setup || die "PKI setup"
# carol may start drills; alice may not (role)
sed -i 's/roles = \[ "status" \]; }/roles = [ "status", "drill" ]; }/' "$PKI/trust.conf"
COL_ID=$("$KAKURICTL" agent-id "$PKI/op-ca.crt")
GATE=2
drill_policy() {	# drill_policy [PROBES] [MANAGEMENT-EXTRA] [CHECK]
	write_policy "$(remote_agent_conf)" "$(remote_tls_conf)
report: { collector = \"$PEER4:7444\"; collector_id = \"$COL_ID\"; };
drill: { probes = [ ${1:-\"$NET4:8080\", \"[$NET6]:8080\"} ]; check = \"${3:-$PEER4:7444}\"; gate = $GATE; max_duration = 120; };"
	[ -z "${2:-}" ] || sed -i "s|ports = \[ 7443, 7444 \];|ports = [ 7443, 7444 ]; $2|" "$POLICY"
}
drill_policy
AGENT_ID=$(agent_init)
COL="$WORK/collected"
echo "$AGENT_ID" >"$WORK/agents"
for a in "$NET4" "$NET6"; do serve "$NET" "$a" 8080; done
serve "$EP" "$EP4" 7444
# drill_req JSON [setpriv options]: one control request, its answer
drill_req() {
	local f="$WORK/req.$RANDOM.json"
	printf '%s' "$1" >"$f"; shift
	raw_request "$f" "$@"
}
live() { drill_req "{\"cmd\":\"drill\",\"action\":\"start\",\"kind\":\"live\",\"duration\":${1:-60}}"; }
stop_drill() { drill_req '{"cmd":"drill","action":"stop"}'; }
history() { drill_req '{"cmd":"drill-history","limit":50}'; }
latest() { history | jq -r ".drills[0]$1"; }
running() { history | jq -r ".running$1"; }
drill_end_of() { history | jq -r --arg id "$1" '.drills[] | select(.id == $id) | .end'; }
drill_result_of() { history | jq -r --arg id "$1" '.drills[] | select(.id == $id) | .result'; }
internet() { reach "$EP" tcp "$NET4" 8080 && reach "$EP" tcp "$NET6" 8080; }
cut_v4() { ! reach "$EP" tcp "$NET4" 8080 400; }
cut_v6() { ! reach "$EP" tcp "$NET6" 8080 400; }
drill_table() { ip netns exec "$EP" nft list table inet kakuri_drill >/dev/null 2>&1; }
mgmt_in() { reach "$PEER" tcp "$EP4" 7444; }
is_() { [ "$("$@" 2>/dev/null | tail -1)" = "$WANT" ]; }
latest_is() { WANT=$2 is_ latest "$1"; }

start_kakurid || die "kakurid starts"
collector || die "the collector starts"
check_within "the internet host answers before any drill" 5 internet

# --- a live drill holds, for IPv4 and IPv6, and keeps the CSIRT's way in ---
live 60 >"$WORK/a1.json"
check "a live drill starts (root)" jtrue '.ok' <"$WORK/a1.json"
D1=$(jq -r .drill.id "$WORK/a1.json")
check_within "IPv4 to the internet host is dropped" 3 cut_v4
check_within "IPv6 to the internet host is dropped" 3 cut_v6
check "the CSIRT peer still reaches the management port" mgmt_in
check "status says a drill runs" jtrue '.drill' < <(ctl status --json)
probes_blocked() { [ "$(running '.probes | map(.result) | unique | join(",")')" = blocked ]; }
check_within "every probe reports blocked (IPv4 and IPv6)" 5 probes_blocked
check "the management channel was reachable during the drill" \
	bash -c "[ \"\$1\" = true ]" _ "$(running .management.reachable)"
check "DNS to an unpinned address is dropped" \
	bash -c "[ \"\$1\" = blocked ]" _ "$(running '.dns[0].result')"
check "the drill is not in the main table: mode stays open" \
	bash -c "[ \"\$1\" = open ]" _ "$(status_field mode)"

# --- kill -9: the kernel removes the drill's table with the process ---
stop_kakurid -KILL
check_within "kill -9 kakurid: the internet is back within 1 s" 1 internet
refute "no drill table is left" drill_table
# the boot path: kakurid --restore re-applies the state, never a drill
in_ep "$KAKURID" --restore -f "$POLICY" >/dev/null 2>&1
check "kakurid --restore after it does not put the drill back" internet
refute "... no drill table after --restore" drill_table
start_kakurid || die "kakurid restarts"
check "a restart does not put the drill back" internet
refute "... no drill table" drill_table
check "the killed drill is recorded as aborted (restart)" latest_is .end restart
check "... with the result aborted" latest_is .result aborted
check "... under its id" latest_is .id "$D1"

# --- SIGSTOP: the gate element times out in the kernel ---
live 60 >/dev/null
check_within "a second live drill holds" 3 cut_v4
kill -STOP "$KPID"
check_within "SIGSTOP kakurid: the internet is back within the gate ($GATE s)" \
	$((GATE + 2)) internet
kill -CONT "$KPID"
check_within "kakurid, running again, ends the drill (gate-lapsed)" 5 \
	latest_is .end gate-lapsed
check "... with the result aborted: it did not run its course (fails on the old code: ok)" latest_is .result aborted
refute "... and its table is gone" drill_table

# --- the deadline, within a second ---
live 3 >/dev/null
check_within "a 3 s drill holds" 2 cut_v4
check_within "it ends at its deadline" 6 latest_is .end deadline
late() {
	local t
	t=$(latest '.timings_ms | (.reverted - .started - 3000)')
	awk -v t="$t" 'BEGIN { exit !(t >= 0 && t < 1000) }'
}
check "reverted within 1 s of the deadline ($(latest '.timings_ms | (.reverted - .started - 3000)') ms late)" late
check_within "connectivity is back after it" 2 internet
check "its record has the time connectivity came back" \
	bash -c "[ \"\$1\" != null ]" _ "$(latest .timings_ms.connectivity_back)"

# --- the management channel cut: reverted at once (after the gate) ---
live 60 >/dev/null
check_within "a live drill holds again" 3 cut_v4
# the peer keeps its IPv6 address over the cut (the signed commands below use it)
ip netns exec "$PEER" sysctl -qw net.ipv6.conf.to-ep.keep_addr_on_down=1
ip -n "$PEER" link set to-ep down
check_within "the management peer unreachable: the drill ends (management-lost)" \
	$((GATE + 4)) latest_is .end management-lost
check "... with the result failed: the CSIRT lost the host while it was isolated (fails on the old code: ok)" \
	latest_is .result failed
ip -n "$PEER" link set to-ep up
ip -n "$PEER" route replace default via "$EP4" 2>/dev/null
ip -n "$PEER" -6 route replace default via "$EP6" 2>/dev/null
check_within "... and the internet is back" 3 internet

# --- who may: root locally, the drill role signed ---
for who in staff nobody; do
	if [ $who = staff ]; then id=("${STAFF_ID[@]}"); else id=("${NOBODY_ID[@]}"); fi
	drill_req '{"cmd":"drill","action":"start","kind":"live","duration":30}' "${id[@]}" >"$WORK/n.json"
	check "a local $who user cannot start a drill" \
		bash -c "[ \"\$(jq -r .error \"\$1\")\" = not-authorized ]" _ "$WORK/n.json"
done
check "... and nothing started" bash -c "[ \"\$1\" = null ]" _ "$(running .id)"
check_within "the CSIRT channel is up" 5 channel_up
F=$(sign alice drill --arg kind=tabletop --arg duration:=30)
check "a signed drill without the drill role is refused (role)" \
	bash -c "[ \"\$1\" = role ]" _ "$(send_result "$F")"
F=$(sign carol drill --arg kind=live --arg duration:=30)
check "a signed drill with the drill role runs" \
	bash -c "[ \"\$1\" = done ]" _ "$(send_result "$F")"
check_within "... and holds" 3 cut_v4
drill_req '{"cmd":"drill","action":"stop"}' "${STAFF_ID[@]}" >"$WORK/n.json"
check "a staff member cannot stop it" \
	bash -c "[ \"\$(jq -r .error \"\$1\")\" = not-authorized ]" _ "$WORK/n.json"
check "... it still holds" cut_v4

# a stop signed for another drill (one a broker held back): refused
F=$(sign carol drill --arg stop:=true --arg drill=0123456789abcdef0123456789abcdef)
check "a signed stop naming another drill: refused, no-drill" bash -c "[ \"\$1\" = no-drill ]" _ "$(send_result "$F")"
check "... the drill still holds" cut_v4
F=$(sign carol drill --arg stop:=true --arg drill=nothex)
check "a signed stop whose drill is not an id: malformed" bash -c "[ \"\$1\" = malformed ]" _ "$(send_result "$F")"
F=$(sign carol drill --arg stop:=true --arg drill="$(running .id)")
check "a signed drill stop naming the running drill ends it" bash -c "[ \"\$1\" = done ]" _ "$(send_result "$F")"
check_within "the drill is over" 5 latest_is .end stop
check_within "... and the internet is back" 3 internet

# --- a probe the policy leaves reachable: leak, reported to the collector ---
stop_kakurid -TERM
rm -f "$STATE/state.json"
# a pinned DNS resolver is reachable on port 53 by anyone: a probe there leaks
serve "$PEER" "$PEER4" 53
drill_policy "\"$PEER4:53\", \"$NET4:8080\"" "dns = [ \"$PEER4\" ];"
start_kakurid || die "kakurid restarts with the leaky policy"
check_within "open again" 3 internet
live 20 >/dev/null
leak_seen() { [ "$(running .leak)" = true ] || [ "$(latest .result)" = leak ]; }
check_within "the drill result says leak" 5 leak_seen
check "... naming the probe that got through" \
	bash -c "[ \"\$1\" = leak ]" _ "$(running '.probes[] | select(.target == "'"$PEER4:53"'") | .result')"
payload_leak() {
	local f
	for f in "$COL/$AGENT_ID"/*.json; do
		[ -f "$f" ] || continue
		jq -r .payload "$f" | base64 -d | jq -e '.type == "drill" and .body.leak == true' && return 0
	done
	return 1
}
check_within "the leak reached the collector at once, as a drill report" 10 payload_leak
# a self-report made while the drill runs names it, for the CSIRT
DL=$(running .id)
RD=$(ctl report --json --category other --what "a popup during the drill" </dev/null | jq -r .report)
stored_body() { jq -r .payload "$COL/$AGENT_ID/$1.json" 2>/dev/null | base64 -d | jq -e "${@:2}" >/dev/null; }
check_within "a self-report made while it runs reaches the collector naming the drill (fails on the old code)" 10 \
	stored_body "$RD" --arg d "$DL" '.type == "self-report" and .body.drill == $d'
check "... and kakurictl reports says so on its line" \
	bash -c "'$KAKURICTL' reports '$COL' | grep '$RD' | grep -q '(during drill $DL)\$'"
stop_drill >/dev/null
RN=$(ctl report --json --category other --what "a popup after the drill" </dev/null | jq -r .report)
check_within "a self-report after it names no drill" 10 \
	stored_body "$RN" '.type == "self-report" and (.body | has("drill") | not)'

# --- announced: the notice first, the drill after it ---
drill_req '{"cmd":"drill","action":"start","kind":"tabletop","duration":10,"announce":600}' >/dev/null
check "an announced drill waits for its start" bash -c "[ \"\$1\" = announced ]" _ "$(running .state)"
stop_drill >/dev/null
check_within "... and can be called off before it starts" 3 latest_is .end stop
drill_req '{"cmd":"drill","action":"start","kind":"tabletop","duration":10,"announce":1}' >/dev/null
started_now() { [ "$(running .state)" = running ]; }
check_within "an announced drill runs after its announcement" 5 started_now
stop_drill >/dev/null

# --- a tabletop drill isolates nothing and times the employee ---
# the employee (nobody) follows kakurid with kakurictl watch; no desktop
# here, so its notices go to its terminal, and it says it was notified
# (setpriv, not the as_nobody function: $! must be the watcher itself)
setpriv "${NOBODY_ID[@]}" env -u DBUS_SESSION_BUS_ADDRESS -u XDG_RUNTIME_DIR "$KAKURICTL" -s "$SOCK" watch \
	>"$WORK/watch.out" 2>"$WORK/watch.err" </dev/null & WPID=$!; PIDS+=($WPID)
check_within "the employee's watcher follows kakurid" 10 grep -q "notices to this terminal" "$WORK/watch.out"
# a third user's watcher, raw: the frames kakurid sends it, the drill's end
# last (at most 60 s)
cat >"$WORK/rawwatch.py" <<'EOF'
import json, socket, struct, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
req = json.dumps({"cmd": "watch"}).encode()
s.sendall(struct.pack(">I", len(req)) + req)
s.settimeout(60)
end = time.monotonic() + 60
buf = b""
while time.monotonic() < end:
    d = s.recv(65536)
    if not d:
        break
    buf += d
    while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">I", buf[:4])[0]:
        n = struct.unpack(">I", buf[:4])[0]
        text, buf = buf[4:4 + n], buf[4 + n:]
        print(text.decode(), flush=True)
        ev = json.loads(text)
        if ev.get("event") == "drill" and ev.get("phase") == "end":
            sys.exit(0)
EOF
chmod 0644 "$WORK/rawwatch.py"
setpriv --reuid=43241 --regid=43241 --clear-groups /usr/bin/python3 "$WORK/rawwatch.py" "$SOCK" \
	>"$WORK/raw.out" 2>&1 </dev/null & RPID=$!; PIDS+=($RPID)
check_within "a third user's watcher follows kakurid" 10 test -s "$WORK/raw.out"
drill_req '{"cmd":"drill","action":"start","kind":"tabletop","duration":30,"scenario":"popup"}' >"$WORK/t.json"
T1=$(jq -r .drill.id "$WORK/t.json")
check "a tabletop drill starts" jtrue '.ok' <"$WORK/t.json"
check "... and isolates nothing" internet
refute "... no drill table" drill_table
notified_is() { [ "$(running .employee.notified)" = "$1" ]; }
check_within "the watcher shows the drill and kakurid counts its user notified" 10 notified_is 1
drill_req "{\"cmd\":\"drill-event\",\"drill\":\"$T1\",\"what\":\"notified\"}" --reuid=43219 --regid=43219 --clear-groups >"$WORK/nn.json"
check "a user kakurid sent no notice cannot say it was notified: not-authorized" \
	bash -c "[ \"\$(jq -r .error \"\$1\")\" = not-authorized ]" _ "$WORK/nn.json"
drill_req '{"cmd":"drill-event","drill":"00000000000000000000000000000000","what":"report"}' "${NOBODY_ID[@]}" >"$WORK/n.json"
check "an event for another drill is refused" \
	bash -c "[ \"\$(jq -r .error \"\$1\")\" = no-drill ]" _ "$WORK/n.json"
drill_req "{\"cmd\":\"drill-event\",\"drill\":\"$T1\",\"what\":\"disconnect\"}" "${NOBODY_ID[@]}" >"$WORK/nd.json"
check "a user outside staff claiming the disconnect response: refused, as the button is" \
	bash -c "[ \"\$(jq -r .error \"\$1\")\" = not-authorized ]" _ "$WORK/nd.json"
# the notice's buttons (drill-event report, disconnect) count only for a
# user kakurid sent the drill to: anyone else would claim a response
# without making it, or fill the responses table
drill_req "{\"cmd\":\"drill-event\",\"drill\":\"$T1\",\"what\":\"report\"}" --reuid=43219 --regid=43219 --clear-groups >"$WORK/nr.json"
check "a user kakurid sent no notice cannot claim the report response: not-authorized" \
	bash -c "[ \"\$(jq -r .error \"\$1\")\" = not-authorized ]" _ "$WORK/nr.json"
drill_req "{\"cmd\":\"drill-event\",\"drill\":\"$T1\",\"what\":\"disconnect\"}" "${STAFF_ID[@]}" >"$WORK/ns.json"
check "a staff member kakurid sent no notice cannot claim the disconnect response: not-authorized" \
	bash -c "[ \"\$(jq -r .error \"\$1\")\" = not-authorized ]" _ "$WORK/ns.json"
# each refusal is on record: a user claiming a response he did not make
check "the refused claims are audited: nobody's disconnect claim (fails on the old code)" \
	audit_has '.action == "drill-event" and .result == "refused: not-authorized" and (.actor | test("uid=65534"))'
check "... the claims of a user sent no notice" \
	audit_has '.action == "drill-event" and .result == "refused: not-authorized" and (.actor | test("uid=43219"))'
check "... and the event for another drill" \
	audit_has '.action == "drill-event" and .result == "refused: no-drill"'
check "... and no response is recorded for the drill" \
	bash -c "[ \"\$1\" = null ]" _ "$(running .employee.action)"
check "... none listed" bash -c "[ \"\$1\" = 0 ]" _ "$(running '.employee.responses | length')"
# another local user, who was shown nothing, answers first
setpriv --reuid=43219 --regid=43219 --clear-groups "$KAKURICTL" -s "$SOCK" report --category popup \
	--when 2026-11-30T10:00:00+09:00 --where desk --what "a popup" --why "drill" </dev/null >/dev/null 2>&1
check "a report by a user the drill was not shown to is recorded as a response" \
	bash -c "[ \"\$1\" = 43219/false ]" _ "$(running '.employee.responses[0] | "\(.uid)/\(.notified)"')"
# the employee presses Report on the drill's notice: its watcher says so
# (drill-event), then the report form sends the report itself
drill_req "{\"cmd\":\"drill-event\",\"drill\":\"$T1\",\"what\":\"report\"}" "${NOBODY_ID[@]}" >"$WORK/nw.json"
check "the watcher's user may say it pressed Report on the notice" jtrue '.ok' <"$WORK/nw.json"
as_nobody "$KAKURICTL" -s "$SOCK" report --category popup --when 2026-11-30T10:00:00+09:00 \
	--where desk --what "a popup" --why "drill" </dev/null >/dev/null 2>&1
check "the employee's report is the timed response" \
	bash -c "[ \"\$1\" = report ]" _ "$(running .employee.action)"
check "... by that user, the one notified, not the first to answer" bash -c "[ \"\$1\" = 65534 ]" _ "$(running .employee.uid)"
check "... notified counted" bash -c "[ \"\$1\" = 1 ]" _ "$(running .employee.notified)"
check "... both responses listed, each with whether its user was notified" \
	bash -c "[ \"\$1\" = '43219/false 65534/true' ]" _ "$(running '.employee.responses | map("\(.uid)/\(.notified)") | join(" ")')"
stop_drill >/dev/null
end_frame() { tail -1 "$WORK/raw.out" | jq -e 'select(.event == "drill" and .phase == "end")'; }
check_within "the third user's watcher gets the drill's end" 10 end_frame
check "... saying only that someone else responded: not who, nor when (fails on the old code)" \
	bash -c "tail -1 '$WORK/raw.out' | jq -e '.result.employee == {\"other\": true}'"
check "... no other user's uid in any frame it got" bash -c "! grep -Eq '65534|43219|responses' '$WORK/raw.out'"
end_pid "$RPID"
end_pid "$WPID"
check_within "the tabletop drill is recorded" 3 latest_is .id "$T1"
check "audit has the drill's start and end" audit_has '.action == "drill" and .result == "started"'
summary_has() {	# the collector's fleet summary of the drill reports
	"$KAKURICTL" reports --drills --json "$COL" 2>/dev/null |
		jq -e '.overall.leaks >= 1 and .overall.live >= 4 and .overall.tabletop >= 1'
}
check_within "kakurictl reports --drills sums up the drills the collector got" 10 summary_has

# --- years of drills without a restart: the records stay the newest 200,
# --- the newest listed first (readdir's order is none) ---
for i in $(seq 1 900); do
	printf '{"id":"%032x","state":"done","kind":"tabletop","result":"passed"}' "$i" \
		>"$STATE/drills/$(printf '%013d-%032x' "$i" "$i").json"
done
check "900 old drill records planted" test "$(find "$STATE/drills" -name '*.json' | wc -l)" -ge 900
drill_req '{"cmd":"drill","action":"start","kind":"tabletop","duration":10}' >"$WORK/y.json"
T9=$(jq -r .drill.id "$WORK/y.json")
stop_drill >/dev/null
check_within "the drill after them ends and is listed first" 5 latest_is .id "$T9"
check "... its end pruned the records to the newest 200 (fails on the old code)" \
	test "$(find "$STATE/drills" -name '*.json' | wc -l)" -le 200
check "... the oldest went, the drills of this run stayed" bash -c \
	"! test -e '$STATE/drills/$(printf '%013d-%032x' 1 1).json' && [ \$(grep -l '\"$T1\"' '$STATE'/drills/*.json | wc -l) -eq 1 ]"
# --- a clock that was once ahead: 200 records named in 2040 ---
for i in $(seq 1 200); do
	printf '{"id":"%032x","state":"done","kind":"tabletop","result":"ok"}' "$((5000 + i))" \
		>"$STATE/drills/$(printf '%013d-%032x' "$((2208988800000 + i))" "$((5000 + i))").json"
done
drill_req '{"cmd":"drill","action":"start","kind":"tabletop","duration":10}' >"$WORK/f.json"
TF=$(jq -r .drill.id "$WORK/f.json")
stop_drill >/dev/null
check_within "a drill after records named in the future is listed first, not pruned at its own end (fails on the old code)" \
	5 latest_is .id "$TF"
# a record named past the year 2286 (14 digits of milliseconds) is newer
# than every 13-digit one: the next drill is named after it, and it is
# not pruned as the oldest
printf '{"id":"%032x","state":"done","kind":"tabletop","result":"ok"}' 6000 \
	>"$STATE/drills/$(printf '%014d-%032x' 10000000000000 6000).json"
drill_req '{"cmd":"drill","action":"start","kind":"tabletop","duration":10}' >"$WORK/f2.json"
TF2=$(jq -r .drill.id "$WORK/f2.json")
stop_drill >/dev/null
check_within "a drill after a record of the year 2286 is listed first" 5 latest_is .id "$TF2"
check "... its record is named after that one, which stays (fails on the old code: pruned as the oldest)" bash -c \
	"test -e '$STATE/drills/$(printf '%014d-%032x' 10000000000000 6000).json' &&
	 grep -l '\"$TF2\"' '$STATE'/drills/10000000000001-*.json >/dev/null"
# a drill kakurid left running, named behind 200 others: closed and
# reported at the next start before the records are pruned
stop_kakurid -TERM
printf '{"id":"%032x","state":"running","kind":"live","result":"running"}' 7777 \
	>"$STATE/drills/$(printf '%013d-%032x' 5 7777).json"
start_kakurid || die "kakurid restarts over a record left running"
check "a record left running behind 200 newer ones is closed as aborted and audited (fails on the old code: pruned unseen)" \
	audit_has ".action == \"drill\" and .result == \"aborted\" and .id == \"$(printf '%032x' 7777)\""

# --- a real isolation during a drill outlives the drill ---
live 60 >/dev/null
check_within "a live drill holds" 3 cut_v4
as_staff "$KAKURICTL" -s "$SOCK" disconnect >/dev/null 2>&1
check "a staff disconnect during the drill isolates for real" \
	bash -c "[ \"\$1\" = isolated ]" _ "$(status_field mode)"
stop_drill >/dev/null
check_within "the drill is over (stop)" 5 latest_is .end stop
check "the employee's disconnect is the drill's timed response" \
	latest_is .employee.action disconnect
check "the staff isolation is still in force after the drill" cut_v4
check "... mode isolated" bash -c "[ \"\$1\" = isolated ]" _ "$(status_field mode)"
live 30 >"$WORK/n.json"
check "a drill while really isolated is refused" \
	bash -c "[ \"\$(jq -r .error \"\$1\")\" = quarantined ]" _ "$WORK/n.json"

# --- released; an announced drill is called off if the PC is isolated meanwhile ---
REL=$(sign alice release --episode "$(status_field episode)" --reason "drill over") &&
	"$KAKURICTL" cosign -k "$PKI/bob.key" "$REL" >/dev/null 2>&1 &&
	ctl apply "$REL" >/dev/null || fail "the signed release applies"
check_within "released: the internet is back" 3 internet
drill_req '{"cmd":"drill","action":"start","kind":"live","duration":30,"announce":2}' >/dev/null
as_staff "$KAKURICTL" -s "$SOCK" disconnect >/dev/null 2>&1
check_within "an announced drill on a PC isolated meanwhile is called off" 6 \
	latest_is .end quarantined
check "... as aborted" latest_is .result aborted
refute "... and never made its table" drill_table

# --- a CSIRT isolate while a live drill runs: the drill is called off ---
# (it ran on to its deadline and was recorded ok, its probes and its
# "connectivity back" measuring the real isolation, its notice "the drill
# is over" while the PC stayed isolated)
REL=$(sign alice release --episode "$(status_field episode)" --reason "drill over") &&
	"$KAKURICTL" cosign -k "$PKI/bob.key" "$REL" >/dev/null 2>&1 &&
	ctl apply "$REL" >/dev/null || fail "the signed release applies"
check_within "released: the internet is back" 3 internet
# the drill policy without the leaky probe again (a leak is a leak first)
stop_kakurid -TERM
drill_policy
start_kakurid || die "kakurid restarts with the default drill policy"
# a drill stopped while announced proved nothing (it was recorded "ok")
drill_req '{"cmd":"drill","action":"start","kind":"live","duration":30,"announce":30}' >"$WORK/an.json"
A1=$(jq -r .drill.id "$WORK/an.json")
stop_drill >/dev/null
a1_aborted() { [ "$(drill_result_of "$A1")" = aborted ]; }
check_within "a drill stopped while announced: aborted, not ok (fails on the old code)" 5 a1_aborted
check "... and who stopped it is audited: root, locally (fails on the old code)" \
	audit_has ".action == \"drill\" and .result == \"stopped\" and .id == \"$A1\" and (.actor | test(\"^local:uid=0[(]\"))"
live 60 >"$WORK/q.json"
Q1=$(jq -r .drill.id "$WORK/q.json")
check_within "a live drill holds" 3 cut_v4
until_ok 10 channel_up
check "a CSIRT isolate during it: done" test "$(send_result "$(sign alice isolate)")" = done
q_end() { [ "$(drill_end_of "$Q1")" = quarantined ]; }
check_within "... the drill is called off at once, end quarantined (fails on the old code: it ran on)" 5 q_end
check "... as aborted ($(drill_result_of "$Q1"))" test "$(drill_result_of "$Q1")" = aborted
[ "$FAILED" = 0 ] || history | jq -c --arg id "$Q1" '.drills[] | select(.id == $id) | {state, "end": .end, result, detail}' | sed 's/^/    /'
refute "... its table is gone" drill_table
check "... and the CSIRT's isolation holds" \
	bash -c "[ \"\$1\" = isolated ]" _ "$(status_field mode)"
check "... the internet stays unreachable" cut_v4

# --- kakurid stopped while it checks that connectivity is back: the
# --- drill's end stands (it was left "running", then closed as a restart) ---
REL=$(sign alice release --episode "$(status_field episode)" --reason "drill over") &&
	"$KAKURICTL" cosign -k "$PKI/bob.key" "$REL" >/dev/null 2>&1 &&
	ctl apply "$REL" >/dev/null || fail "the signed release applies again"
stop_kakurid -TERM
# 198.51.100.77 and .78 are on ep's link to net, and nobody has them: the
# probe and the management check never answer, so the drill ends
# (management-lost) and its connectivity check goes on for 5 s
drill_policy "\"198.51.100.77:8080\"" "" "198.51.100.78:7444"
start_kakurid || die "kakurid restarts with probes that never answer"
check_within "open again" 3 internet
live 30 >"$WORK/e.json"
E1=$(jq -r .drill.id "$WORK/e.json")
ending() { [ "$(running .end)" = management-lost ]; }
check_within "the drill ends (management-lost) and checks whether connectivity is back" $((GATE + 5)) ending
stop_kakurid -TERM
start_kakurid || die "kakurid restarts after the stop"
end_is() { [ "$(drill_end_of "$1")" = "$2" ]; }
result_is() { [ "$(drill_result_of "$1")" = "$2" ]; }
check "kakurid stopped during the drill's connectivity check: its end stands (fails on the old code: restart)" \
	end_is "$E1" management-lost
check "... and its result (failed: the CSIRT lost the host)" result_is "$E1" failed

summary
[ "$FAILED" -eq 0 ]
