#!/usr/bin/env bash
# kakurictl's side of drills (issue 11, items 1 and 4): who may start,
# stop and read drills is kakurid's to say, and its refusal reaches the
# user as one line (exit 1); a bad duration, scenario, notice or limit
# is a usage error (exit 2) before anything is sent; the scheduled
# drill's unit runs the same "drill start" and passes systemd-analyze
# verify; and "reports DIR --drills" sums up drill reports that a real
# collector received over mutual TLS and stored, each verified again,
# and refuses to count one that was changed on disk.
#
# The drill reports are made here, signed with the agent's identity key
# as kakurid's outbox signs them, because the daemon's drill side is not
# part of this scenario: what it sends is checked by its own scenarios.
. "$(dirname "$0")/lib.sh"
need
echo "== drillctl: kakurictl drill and reports --drills"
topology || die topology
pki_setup || die "PKI setup"
write_policy "$(remote_agent_conf)" "$(remote_tls_conf)"
AGENT_ID=$(agent_init)
[ ${#AGENT_ID} -eq 64 ] || die "kakurid --init gives an agent id"
start_kakurid || die "kakurid starts"

# --- who may: kakurid's refusal, one line, exit 1 ---
ROOT_ONLY="only root may start or stop a drill locally"
STAFF_ONLY="only members of the staff group and root may read the drill history"
# refused_with WANT-LINE ID-FUNCTION kakurictl-args...: exit 1, and the
# one line on stderr carries kakurid's words
refused_with() {
	local want=$1 who=$2 rc; shift 2
	"$who" "$KAKURICTL" -s "$SOCK" "$@" </dev/null >"$WORK/out" 2>"$WORK/err"
	rc=$?
	[ $rc -eq 1 ] && [ "$(wc -l <"$WORK/err")" -eq 1 ] &&
		grep -q "^kakurictl: .*$want" "$WORK/err"
}
check "drill start as a user: refused by kakurid, exit 1, its line" \
	refused_with "$ROOT_ONLY" as_nobody drill start
check "drill start --live as a staff member: refused too (root only)" \
	refused_with "$ROOT_ONLY" as_staff drill start --live --duration 60
check "drill stop as a staff member: refused" \
	refused_with "$ROOT_ONLY" as_staff drill stop
check "drill history as a user outside the staff group: refused" \
	refused_with "$STAFF_ONLY" as_nobody drill history
check "... and with --json" \
	refused_with "$STAFF_ONLY" as_nobody drill history --json
check "the refusals are in the audit timeline, by whom" \
	audit_has '.action == "drill" and .result == "refused: not-authorized" and (.actor | test("uid=65534"))'
check "nothing changed: the host is open" test "$(status_field mode)" = open

# --- the scheduled drill's unit runs this same drill start ---
UNIT="$TOP/systemd/kakuri-drill.service"
EXEC=$(sed -n 's/^ExecStart=//p' "$UNIT")
check "kakuri-drill.service starts 'kakurictl drill start --scheduled'" \
	test "$EXEC" = "@BINDIR@/kakurictl drill start --scheduled"
read -r -a ARGS <<<"${EXEC#@BINDIR@/kakurictl }"
check "its command line, run by a user: the same refusal from kakurid" \
	refused_with "$ROOT_ONLY" as_nobody "${ARGS[@]}"

# --- root: a tabletop drill through kakurid, stopped, in the history ---
ctl drill start --scenario "fake invoice popup" --duration 120 >"$WORK/start.out" 2>"$WORK/start.err"; rc=$?
check "root starts a tabletop drill: exit 0, its id, kind and deadline" \
	bash -c "[ $rc -eq 0 ] && grep -Eq '^drill [0-9a-f]{8,}: tabletop, deadline [0-9]{4}-' '$WORK/start.out'"
check "nothing is cut by a tabletop drill" test "$(status_field mode)" = open
ctl drill stop >"$WORK/stop.out" 2>&1; rc=$?
check "drill stop: exit 0, the result line of that drill" \
	bash -c "[ $rc -eq 0 ] && grep -q \"^drill \$(awk '{print \$2}' '$WORK/start.out' | tr -d :): .*ended\" '$WORK/stop.out'"
check_within "drill history as a staff member: that drill, newest first" 5 bash -c \
	"setpriv ${STAFF_ID[*]} '$KAKURICTL' -s '$SOCK' drill history | sed -n 2p |
		grep -q \"^\$(awk '{print substr(\$2, 1, 8)}' '$WORK/start.out') .* tabletop .* -  \""
check "drill history --json: the drills array, the scenario as given" bash -c \
	"'$KAKURICTL' -s '$SOCK' drill history --json | jq -e '.[0].scenario == \"fake invoice popup\" and .[0].kind == \"tabletop\"'"

# --- usage errors: exit 2, and nothing sent (no socket behind -s) ---
NOSOCK="$WORK/no-such.sock"
usage_error() {	# usage_error WORD kakurictl-args...: exit 2, WORD on stderr
	local word=$1 rc; shift
	"$KAKURICTL" -s "$NOSOCK" "$@" </dev/null >/dev/null 2>"$WORK/err"
	rc=$?
	[ $rc -eq 2 ] && grep -q -- "$word" "$WORK/err" &&
		! grep -q "not reachable" "$WORK/err"
}
LONG=$(printf 'x%.0s' $(seq 1 513))
check "--duration 0: usage error" usage_error "--duration" drill start --duration 0
check "--duration 86401: usage error" usage_error "--duration" drill start --live --duration 86401
check "--duration 5m: usage error" usage_error "--duration" drill start --duration 5m
check "--scenario of 513 bytes: usage error" usage_error "--scenario" drill start --scenario "$LONG"
check "--scenario with a control character: usage error" \
	usage_error "--scenario" drill start --scenario "$(printf 'a\033[2Jb')"
check "--scenario that is not UTF-8: usage error" \
	usage_error "--scenario" drill start --scenario "$(printf 'a\377b')"
check "--announce 3601: usage error" usage_error "--announce" drill start --announce 3601
check "drill history --limit 201: usage error" usage_error "--limit" drill history --limit 201
check "drill history --limit 0: usage error" usage_error "--limit" drill history --limit 0
check "'drill' alone: usage error naming its words" usage_error "drill history" drill
check "an unknown drill word: usage error" usage_error "unknown command" drill begin
check "an operand to drill stop: usage error" usage_error "drill stop" drill stop now
check "limits that hold: 512 bytes, 86400 s, 3600 s notice reach the agent (exit 3 here)" \
	bash -c "'$KAKURICTL' -s '$NOSOCK' drill start --live --duration 86400 --announce 3600 \
		--scenario '${LONG:1}' 2>/dev/null; [ \$? -eq 3 ]"

# --- the units: systemd-analyze verify, the timer as the design says ---
check "tools/verify-units: every shipped unit (the drill timer and service too) verifies clean" \
	"$TOP/tools/verify-units"
TIMER="$TOP/systemd/kakuri-drill.timer"
check "the timer: RandomizedDelaySec=4h, Persistent=false, Unit=kakuri-drill.service" \
	bash -c "grep -qx 'RandomizedDelaySec=4h' '$TIMER' && grep -qx 'Persistent=false' '$TIMER' &&
		grep -qx 'Unit=kakuri-drill.service' '$TIMER' && grep -q '^OnCalendar=' '$TIMER'"
check "make install does not enable it (no systemctl, no wants/ link)" \
	bash -c "! grep -Eq 'systemctl|timers.target.wants' '$TOP/Makefile'"

# --- reports --drills: two drill reports through a real collector ---
COL="$WORK/collected"
echo "$AGENT_ID" >"$WORK/agents"
: >"$WORK/col.out"
ip netns exec "$PEER" "$KAKURICTL" collector --listen "[::]:7444" --dir "$COL" \
	--cert "$PKI/op-ca.crt" --key "$PKI/op-ca.key" --agents "$WORK/agents" \
	>>"$WORK/col.out" 2>>"$WORK/col.err" &
PIDS+=($!)
until_ok 5 grep -q listening "$WORK/col.out" || die "the collector starts"

# drill_report SEQ BODY-JSON: a drill report of this agent with that
# body, signed by its identity key (DSSE, as the outbox signs); its id
# printed
drill_report() {
	local t=application/vnd.kakuri.report.v1+json id payload
	id=$(openssl rand -hex 16)
	payload=$(jq -nc --arg id "$id" --arg a "$AGENT_ID" --argjson seq "$1" \
		--arg time "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --argjson body "$2" \
		'{v:1, id:$id, agent:$a, seq:$seq, time:$time, type:"drill",
		  host:{hostname:"pc-drill", addresses:[], boot_id:"b", os:"linux"}, body:$body}')
	printf 'DSSEv1 %d %s %d %s' ${#t} "$t" ${#payload} "$payload" >"$WORK/r.pae"
	jq -nc --arg t "$t" --arg p "$(printf %s "$payload" | base64 -w0)" \
		--arg k "$AGENT_ID" \
		--arg s "$(openssl pkeyutl -sign -inkey "$PKI/agent.key" -rawin -in "$WORK/r.pae" | base64 -w0)" \
		'{payloadType:$t, payload:$p, signatures:[{keyid:$k, sig:$s}]}' | tr -d '\n' >"$WORK/r-$id.json"
	echo "$id"
}
# deliver ID...: the reports, one frame each, over mutual TLS with the
# agent's TLS key and its identity certificate as chain (as the courier)
deliver() {
	local id
	for id; do raw_frame "$WORK/r-$id.json"; done >"$WORK/frames"
	(cat "$WORK/frames"; sleep 3) | ip netns exec "$EP" timeout 10 openssl s_client -quiet \
		-connect "$PEER4:7444" -tls1_3 -cert "$PKI/agent-tls.crt" -key "$PKI/agent-tls.key" \
		-cert_chain "$PKI/agent.crt" >/dev/null 2>&1 &
	PIDS+=($!)
}
LIVE='{"id":"d1","kind":"live","result":"leak","end":"deadline",
	"timings_ms":{"committed":3,"verified":420,"reverted":60000,"connectivity_back":60050},
	"employee":{"notified":1,"action":"report","action_ms":90000},
	"probes":[{"target":"198.51.100.20:443","result":"open","ms":4}],
	"leak":{"target":"198.51.100.20:443"}}'
TABLETOP='{"id":"d2","kind":"tabletop","result":"done","end":"deadline",
	"employee":{"notified":1,"action":"disconnect","action_ms":20000}}'
D1=$(drill_report 1 "$LIVE")
D2=$(drill_report 2 "$TABLETOP")
deliver "$D1" "$D2"
check_within "the collector stores both drill reports" 10 \
	bash -c "test -s '$COL/$AGENT_ID/$D1.json' && test -s '$COL/$AGENT_ID/$D2.json'"
"$KAKURICTL" reports --drills --json "$COL" >"$WORK/sum.json"; rc=$?
check "reports --drills: exit 0, every report verified" test $rc -eq 0
check "... one host, pc-drill, with 2 drills: 1 live, 1 tabletop" jq -e --arg a "$AGENT_ID" \
	'(.hosts | length) == 1 and .hosts[0].agent == $a and .hosts[0].hostname == "pc-drill" and
	 .overall.count == 2 and .overall.live == 1 and .overall.tabletop == 1' "$WORK/sum.json"
check "... time to isolate of the live drill, the leak and its probe target" \
	jq -e '.overall.isolate_ms == {median: 420, worst: 420} and .overall.leaks == 1 and
	 .overall.leak_targets == ["198.51.100.20:443"] and .overall.revert_ms.median == 50' "$WORK/sum.json"
check "... 1 of 2 notified employees reported within 5 minutes" \
	jq -e '.overall.notified == 2 and .overall.reported_in_time == 1 and .overall.share == 0.5' "$WORK/sum.json"
"$KAKURICTL" reports --drills "$COL" >"$WORK/sum.txt"
check "the table: the host's line, the leak line, the count" \
	bash -c "grep -q '^pc-drill .* 1 of 2 (50%)' '$WORK/sum.txt' &&
		grep -q 'leaked on pc-drill .*198.51.100.20:443' '$WORK/sum.txt' &&
		grep -q '^2 drill report(s), 0 not verified' '$WORK/sum.txt'"
check "--agent of another agent: no drills" bash -c \
	"'$KAKURICTL' reports --drills --json --agent ffff '$COL' | jq -e '.overall.count == 0'"
listed_verified() { [ "$("$KAKURICTL" reports --type drill "$COL" | grep -c '[0-9a-f]  verified$')" = 2 ]; }
check "... with their seq (1, 2) as sent" bash -c \
	"[ \"\$(jq -r 'select(.type == \"drill\") | .seq' '$COL/index.jsonl' | sort | tr '\n' ' ')\" = '1 2 ' ]"
check "the plain listing still lists them: 2 drill reports, verified" listed_verified

# a stored drill report changed on disk: named, left out, exit 1
f="$COL/$AGENT_ID/$D2.json"
jq -c '.signatures[0].sig = "AAAA"' "$f" >"$f.new" && mv "$f.new" "$f"
"$KAKURICTL" reports --drills --json "$COL" >"$WORK/sum2.json" 2>"$WORK/sum2.err"; rc=$?
check "a changed drill report: exit 1, named on stderr" \
	bash -c "[ $rc -eq 1 ] && grep -q 'NOT VERIFIED' '$WORK/sum2.err' && grep -q '$D2' '$WORK/sum2.err'"
check "... and left out of the figures (1 drill, no tabletop)" \
	jq -e '.overall.count == 1 and .overall.tabletop == 0 and (.problems | length) == 1' "$WORK/sum2.json"
check "--type with --drills that is not drill: usage error" \
	bash -c "'$KAKURICTL' reports --drills --type tamper '$COL' 2>/dev/null; [ \$? -eq 2 ]"

summary
[ "$FAILED" -eq 0 ]
