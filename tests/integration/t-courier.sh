#!/usr/bin/env bash
# The courier and the collector (issue 10, items 4 and 5): the outbox is
# delivered over mutual TLS by an unprivileged child to `kakurictl
# collector` in the CSIRT's namespace, while the host is isolated; in
# order; a file leaves the outbox only after the collector's signed ack;
# nothing is stored twice; a collector whose key is not the pinned one
# gets nothing; an agent the collector does not know is refused;
# `kakurictl reports` re-verifies what was stored and catches a changed
# file; --exec runs a program with the stored file's path.
. "$(dirname "$0")/lib.sh"
need
echo "== courier: the outbox reaches the collector"
topology || die topology
pki_setup || die "PKI setup"
COL_ID=$("$KAKURICTL" agent-id "$PKI/op-ca.crt")
ROGUE_ID=$("$KAKURICTL" agent-id "$PKI/op-rogue.crt")
write_policy "$(remote_agent_conf)" "$(remote_tls_conf)
report: { collector = \"$PEER4:7444\"; collector_id = \"$COL_ID\"; };"
AGENT_ID=$(agent_init)
check "kakurid --init: an agent id" grep -Eq '^[0-9a-f]{64}$' <<<"$AGENT_ID"
COL="$WORK/collected"
echo "$AGENT_ID  # the test agent" >"$WORK/agents"
HOOK="$WORK/hook.sh"
printf '#!/bin/sh\nprintf "%%s\\n" "$1" >>"%s"\n' "$WORK/hooked" >"$HOOK"
chmod 0755 "$HOOK"

COLPID=
# collector CERT KEY [more options]: kakurictl collector in the peer
# namespace on 7444, up when it says it listens
collector() {
	local cert=$1 key=$2; shift 2
	: >"$WORK/col.out"
	ip netns exec "$PEER" "$KAKURICTL" collector --listen "[::]:7444" \
		--dir "$COL" --cert "$cert" --key "$key" "$@" \
		>>"$WORK/col.out" 2>>"$WORK/col.err" &
	COLPID=$!
	PIDS+=($COLPID)
	until_ok 5 grep -q listening "$WORK/col.out"
}
collector_stop() {
	[ -n "$COLPID" ] || return 0
	kill "$COLPID" 2>/dev/null
	for _ in $(seq 1 100); do kill -0 "$COLPID" 2>/dev/null || break; sleep 0.05; done
	wait "$COLPID" 2>/dev/null
	COLPID=
}
mode_is() { [ "$(status_field mode)" = "$1" ]; }
# cycle N: a signed release (alice and bob) and a signed isolate, handed
# over with kakurictl apply: two messages in the outbox
cycle() {
	local rel iso
	rel=$(sign alice release --episode "$(status_field episode)" --reason "round $1") &&
	"$KAKURICTL" cosign -k "$PKI/bob.key" "$rel" >/dev/null 2>&1 &&
	ctl apply "$rel" >/dev/null &&
	iso=$(sign alice isolate --incident "IR-C-$1" --reason "round $1") &&
	ctl apply "$iso" >/dev/null
}
outbox_count() { ctl outbox --json | jq -r .count; }
outbox_empty() { [ "$(outbox_count)" = 0 ]; }
waiting_says() { ctl outbox --json | jq -e --arg w "$1" '.waiting | test($w)' >/dev/null; }
stored() { test -s "$COL/$AGENT_ID/$1.json"; }
index_lines() { [ -f "$COL/index.jsonl" ] && wc -l <"$COL/index.jsonl" || echo 0; }

start_kakurid || die "kakurid starts"
check_within "the courier runs, as agent.user (nobody), not root" 5 \
	bash -c "ps -o user= -C kakurid-courier | grep -qx nobody"

# --- nobody listens yet: the report waits, and the outbox says why ---
ctl disconnect --json >"$WORK/d1.json"
ID1=$(jq -r .report "$WORK/d1.json")
cp "$STATE"/outbox/*-"$ID1".dsse "$WORK/d1.dsse"
check_within "no collector: the outbox says it retries and why" 5 \
	waiting_says "retrying: collector $PEER4:7444"
check "the disconnect stays in the outbox" bash -c "[ \$(ls '$STATE'/outbox/*-$ID1.dsse | wc -l) -eq 1 ]"

# --- a collector with another key on the port: it gets nothing ---
collector "$PKI/op-rogue.crt" "$PKI/op-rogue.key" --agents "$WORK/agents" ||
	die "the rogue collector starts"
ctl disconnect >/dev/null	# a new message: the courier tries at once
check_within "a collector that is not report.collector_id: refused by the courier" 5 \
	waiting_says "does not match the pinned id"
refute "it received no report" bash -c "ls '$COL'/*/*.json"
check "the messages are still in the outbox" bash -c "[ \$(ls '$STATE'/outbox/*.dsse | wc -l) -ge 2 ]"
collector_stop

# --- the real collector, while the host is isolated ---
check "the host is isolated (the staff button)" mode_is isolated
collector "$PKI/op-ca.crt" "$PKI/op-ca.key" --agents "$WORK/agents" --exec "$HOOK" ||
	die "the collector starts"
ctl disconnect >/dev/null
check_within "delivered while isolated: the outbox empties" 15 outbox_empty
check "the collector stored the first report as DIR/<agent>/<id>.json" stored "$ID1"
check "byte for byte what the agent signed" cmp -s "$COL/$AGENT_ID/$ID1.json" "$WORK/d1.dsse"
check "index.jsonl has one line per report, with the sha256 of the stored bytes" \
	jq -se --arg id "$ID1" --arg sha "$(sha256sum <"$WORK/d1.dsse" | cut -c1-64)" \
	'[.[] | select(.id == $id and .sha256 == $sha and .type == "disconnect")] | length == 1' "$COL/index.jsonl"
check "one line per stored report on the collector's stdout" \
	grep -q "^report disconnect $ID1 from ${AGENT_ID:0:16}" "$WORK/col.out"
check_within "--exec ran with the stored file's path" 5 grep -qx "$COL/$AGENT_ID/$ID1.json" "$WORK/hooked"
check "it was delivered in seq order" bash -c "jq -s '[.[].seq] | . == sort' '$COL/index.jsonl' | grep -qx true"
check "the courier is back to waiting calmly" waiting_says "delivering in order"
"$KAKURICTL" reports "$COL" >"$WORK/rep.txt"; rc=$?
check "kakurictl reports: every stored report verified (exit 0)" bash -c \
	"[ $rc -eq 0 ] && grep -q '$ID1' '$WORK/rep.txt' && ! grep -q 'NOT VERIFIED' '$WORK/rep.txt'"
"$KAKURICTL" reports --json --type disconnect --agent "${AGENT_ID:0:12}" "$COL" >"$WORK/rep.json"
check "reports --json --type --agent: the payloads, verified" \
	jq -se --arg id "$ID1" '[.[] | select(.verified and .payload.id == $id and .payload.body.mode == "isolated")] | length == 1' "$WORK/rep.json"

# --- in order, several at once; and nothing stored twice ---
collector_stop
N0=$(index_lines)
check "two signed release/isolate rounds while the collector is down" \
	eval 'cycle 1 && cycle 2' 
check "four messages wait" test "$(outbox_count)" = 4
collector "$PKI/op-ca.crt" "$PKI/op-ca.key" --agents "$WORK/agents" || die "the collector restarts"
cycle 3 || fail "a third round"
check_within "they all arrive" 15 outbox_empty || { ctl outbox --json | jq -c "[.waiting,.count]"; grep -a courier "$DLOG" | tail -6; tail -3 "$WORK/col.err"; }
check "six more index lines" bash -c "[ \$(( \$(wc -l <'$COL/index.jsonl') - $N0 )) -eq 6 ]"
check "of the types sent, in order: release isolate release isolate release isolate" bash -c \
	"tail -6 '$COL/index.jsonl' | jq -r .type | tr '\\n' ' ' | grep -qx 'release isolate release isolate release isolate '"
check "in seq order" bash -c "jq -s '[.[].seq] | . == sort' '$COL/index.jsonl' | grep -qx true"
# an ack lost on the way: the same file comes again
N1=$(index_lines)
SEQ1=$(jq -r .payload "$WORK/d1.dsse" | base64 -d | jq -r .seq)
cp "$WORK/d1.dsse" "$STATE/outbox/$(printf '%020d' "$SEQ1")-$ID1.dsse"
cycle 4 || fail "a fourth round"
check_within "a report sent again is acked again and leaves the outbox" 15 outbox_empty
check "... but is not stored twice (two more lines: the new round's)" \
	bash -c "[ \$(( \$(wc -l <'$COL/index.jsonl') - $N1 )) -eq 2 ]"
collector_stop
check "the collector says it acked one again" grep -q ', 1 acked again' "$WORK/col.err"

# --- one agent (its key stolen) cannot take every connection slot ---
collector "$PKI/op-ca.crt" "$PKI/op-ca.key" --agents "$WORK/agents" || die "the collector restarts"
HOLD=()
for i in 1 2 3 4 5 6; do
	(sleep 20) | timeout 25 ip netns exec "$PEER" openssl s_client -quiet -connect "[::1]:7444" \
		-cert "$PKI/agent-tls.crt" -key "$PKI/agent-tls.key" -cert_chain "$PKI/agent.crt" \
		>/dev/null 2>&1 &
	HOLD+=($!); PIDS+=($!)
done
check_within "six connections of one agent at once: those past four are refused" 10 \
	grep -q 'connections already' "$WORK/col.err"
for p in "${HOLD[@]}"; do kill "$p" 2>/dev/null; done
wait "${HOLD[@]}" 2>/dev/null
cycle 13 || fail "a round after the holders"
check_within "... and once they are gone the agent's courier delivers" 20 outbox_empty
collector_stop

# --- the collector's side of an attack ---
NL=$(index_lines)
: >"$WORK/nobody-listed"
collector "$PKI/op-ca.crt" "$PKI/op-ca.key" --agents "$WORK/nobody-listed" || die "the collector restarts"
cycle 5 || fail "a fifth round"
check_within "an agent not listed is refused: its report stays home" 5 \
	waiting_says "retrying"
check_within "... and its outbox says why, in the collector's words (fails on the old code: no answer)" 10 \
	waiting_says "not-authorized: this agent is not listed at the collector"
refute "... and nothing was stored" bash -c "[ \$(wc -l <'$COL/index.jsonl') -gt $NL ]"
timeout 5 ip netns exec "$PEER" openssl s_client -connect "[::1]:7444" -quiet \
	-cert "$PKI/op-rogue.crt" -key "$PKI/op-rogue.key" </dev/null >/dev/null 2>&1
check "a TLS client that is no agent: refused, the collector still serves" \
	bash -c "kill -0 $COLPID && grep -q 'not an agent' '$WORK/col.err'"
collector_stop

# --- hostile collectors: garbage, an oversized frame, no ack at all ---
# fake WHAT FILE: a TLS server with the collector's own certificate (so
# the courier talks to it) that answers what the file holds and then
# keeps the connection open
fake() {
	rm -f "$WORK/fake.in" && mkfifo "$WORK/fake.in"
	(cat "$2"; sleep 40) >"$WORK/fake.in" & PIDS+=($!)
	ip netns exec "$PEER" timeout 60 openssl s_server -quiet -naccept 3 \
		-accept "$PEER4:7444" -tls1_3 -verify 1 \
		-cert "$PKI/op-ca.crt" -key "$PKI/op-ca.key" <"$WORK/fake.in" >/dev/null 2>&1 &
	FAKE=$!
	PIDS+=($FAKE)
	until_ok 5 port_open
}
port_open() { ip netns exec "$PEER" ss -ltnH 'sport = :7444' | grep -q .; }
port_closed() { ! port_open; }
fake_stop() { kill "$FAKE" 2>/dev/null; wait "$FAKE" 2>/dev/null; until_ok 5 port_closed; }
COURIER=$(pgrep -P "$KPID" -x kakurid-courier | head -1)
printf 'garbage, not a frame at all\n' >"$WORK/garbage"
{ printf '\x00\x50\x00\x00'; head -c 100000 /dev/zero; } >"$WORK/oversized"
: >"$WORK/silent"
before=$(ls "$STATE"/outbox/*.dsse 2>/dev/null | wc -l)
# failures: how many deliveries failed so far; failed_since N PATTERN: a
# failure after the first N says PATTERN (kakurictl outbox keeps the last)
failures() { ctl outbox --json | jq -r .courier.failures; }
failed_since() {
	ctl outbox --json | jq -e --argjson n "$1" --arg p "$2" \
		'[.courier.recent[] | select(.seq > $n and (.why | test($p)))] | length > 0' >/dev/null
}
at=$(failures)
fake garbage "$WORK/garbage" || fail "the garbage collector starts"
cycle 6 || fail "a sixth round"
check_within "a collector that answers garbage: refused, retried" 20 \
	failed_since "$at" "collector .*: answer too large"
fake_stop
at=$(failures)
fake oversized "$WORK/oversized" || fail "the oversized collector starts"
cycle 7 || fail "a seventh round"
check_within "a collector that announces a 5 MiB frame: refused, retried" 20 \
	failed_since "$at" "collector .*: answer too large"
fake_stop
at=$(failures)
fake silent "$WORK/silent" || fail "the silent collector starts"
cycle 8 || fail "an eighth round"
check_within "a collector that never acks: the courier gives up on it after its timeout" 30 \
	failed_since "$at" "collector .*: no answer"
fake_stop
check "the courier did not crash (the same child)" test "$(pgrep -P "$KPID" -x kakurid-courier | head -1)" = "$COURIER"
check "no entry was lost" bash -c "[ \$(ls '$STATE'/outbox/*.dsse | wc -l) -ge $((before + 6)) ]"
collector "$PKI/op-ca.crt" "$PKI/op-ca.key" --agents "$WORK/agents" || die "the collector restarts"
cycle 9 || fail "a ninth round"
check_within "the real collector again: all of it arrives" 30 outbox_empty

# --- corrupt files that the courier's own look at the outbox finds: each
# --- is moved aside and reported once, and the batch being made goes on
COURIER=$(pgrep -P "$KPID" -x kakurid-courier | head -1)
BAD=()
for i in 1 2 3; do
	BAD+=("$(printf '%020d-%032x' $((5000000 + i)) "$i").dsse")
	printf 'not an envelope %s\n' "$i" >"$STATE/outbox/${BAD[-1]}"
done
ctl disconnect >/dev/null	# a new message: the courier looks at once
check_within "the three are moved aside, the rest delivered" 30 outbox_empty
check "outbox/corrupt holds the three" bash -c \
	"[ \$(ls '$STATE/outbox/corrupt' | grep -c '^0000000000000500000[123]-') -eq 3 ]"
"$KAKURICTL" reports --json --type tamper "$COL" >"$WORK/tamper.json"
check "each is reported to the CSIRT once: three outbox-corrupt reports, one a file" \
	jq -se --arg a "${BAD[0]}" --arg b "${BAD[1]}" --arg c "${BAD[2]}" \
	'[.[] | select(.verified and .payload.body.result == "outbox-corrupt") | .payload.body.file] | sort == ([$a, $b, $c] | sort)' \
	"$WORK/tamper.json"
check "the courier was not killed for it (the same child)" \
	test "$(pgrep -P "$KPID" -x kakurid-courier | head -1)" = "$COURIER"
refute "no answer came to what was not asked" grep -q "answered what was not asked" "$DLOG"
collector_stop

# --- CA mode on both sides: a collector outside report.ca, an agent
# --- outside the collector's --ca ---
stop_kakurid -TERM
write_policy "$(remote_agent_conf)" "$(remote_tls_conf)
report: { collector = \"$PEER4:7444\"; ca = \"$PKI/rogue.pem\"; };"
start_kakurid || die "kakurid restarts with report.ca"
collector "$PKI/op-ca.crt" "$PKI/op-ca.key" --agents "$WORK/agents" || die "the collector restarts"
ctl disconnect >/dev/null; cycle 10 >/dev/null
check_within "a collector whose certificate does not chain to report.ca: refused by the courier" 10 \
	waiting_says "does not chain to report.ca"
collector_stop
write_policy "$(remote_agent_conf)" "$(remote_tls_conf)
report: { collector = \"$PEER4:7444\"; ca = \"$PKI/ca.pem\"; };"
kill -HUP "$KPID"
N2=$(wc -l <"$COL/index.jsonl")
collector "$PKI/op-ca.crt" "$PKI/op-ca.key" --ca "$PKI/rogue.pem" || die "the collector restarts"
cycle 11 >/dev/null
check_within "an agent whose identity the collector's --ca did not certify: refused by the collector" 10 \
	grep -q "does not chain to the CA" "$WORK/col.err"
check "... and nothing of it was stored" test "$(wc -l <"$COL/index.jsonl")" = "$N2"
collector_stop
# another agent's certificate from the same CA (every agent has one),
# naming its own address: it chains to report.ca, but is no collector
(cd "$PKI" && openssl genpkey -algorithm ed25519 -out other.key 2>/dev/null &&
	openssl req -new -key other.key -subj "/CN=agent-other" -out other.csr 2>/dev/null &&
	openssl x509 -req -in other.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
		-extfile <(echo "subjectAltName=IP:192.0.2.77") -days 2 -out other.crt 2>/dev/null) ||
	die "another agent's certificate"
rm -rf "$WORK/posed"
COLSAVE=$COL COL="$WORK/posed"
collector "$PKI/other.crt" "$PKI/other.key" --agents "$WORK/agents" || die "the posing collector starts"
N3=$(outbox_count)
cycle 12 >/dev/null
check_within "another agent's certificate of report.ca, posing as the collector: refused by the courier" 10 \
	waiting_says "does not name its address"
check "... nothing reached it, and everything waits" bash -c \
	"! ls '$COL'/*/*.json >/dev/null 2>&1 && [ \$('$KAKURICTL' -s '$SOCK' outbox --json | jq -r .count) -ge $((N3 + 2)) ]"
collector_stop
COL=$COLSAVE
collector "$PKI/op-ca.crt" "$PKI/op-ca.key" --agents "$WORK/agents" || die "the collector restarts"
check_within "report.ca that certified the collector, naming its address, an agent it lists: delivered" 30 outbox_empty
collector_stop

# --- a report indexed twice is one report ---
# the collector indexes a resent report again when its first line left
# the tail it looks at (an ack lost, the agent away for long): listed
# twice, it would be counted twice (a drill's figures)
head -1 "$COL/index.jsonl" >>"$COL/index.jsonl"
DUP=$(head -1 "$COL/index.jsonl" | jq -r .id)
"$KAKURICTL" reports --json "$COL" >"$WORK/dup.json"; rc=$?
check "a report whose line stands twice in the index is listed once, verified" \
	bash -c "[ $rc -eq 0 ] && [ \$(jq -s --arg id '$DUP' '[.[] | select(.report.id == \$id and .verified)] | length' '$WORK/dup.json') -eq 1 ]"
check "... and every report once: as many listed as ids in the index" \
	bash -c "[ \$(jq -s length '$WORK/dup.json') -eq \$(jq -r .id '$COL/index.jsonl' | sort -u | wc -l) ]"

# --- a report changed on the collector's disk is caught ---
F="$COL/$AGENT_ID/$ID1.json"
jq -c '.payload |= (@base64d | fromjson | .body.mode = "egress" | tojson | @base64)' "$F" >"$WORK/forged" &&
	cat "$WORK/forged" >"$F"
"$KAKURICTL" reports "$COL" >"$WORK/rep2.txt"; rc=$?
check "kakurictl reports: a changed report is NOT VERIFIED (exit 1)" \
	bash -c "[ $rc -eq 1 ] && grep '$ID1' '$WORK/rep2.txt' | grep -q 'NOT VERIFIED'"

# --- what an agent wrote cannot pass for another line of the listing ---
# an index line (the collector's copy, unverified) whose host name holds a
# line break, a fake "verified" line and a terminal escape
jq -c --arg h "$(printf 'pc\n2026-01-01T00:00:00Z  isolate     0000000000000000  forged   seq 1  00  verified\033[2J')" \
	'.hostname = $h | .id = "ffffffffffffffffffffffffffffffff"' <<<"$(tail -1 "$COL/index.jsonl")" >>"$COL/index.jsonl"
"$KAKURICTL" reports "$COL" >"$WORK/rep3.txt"
check "kakurictl reports: no terminal escape from an agent's text" bash -c "! grep -q \$'\\033' '$WORK/rep3.txt'"
check "... one line a report (a line break in it is no new line), marked NOT VERIFIED" \
	bash -c "[ \$(grep -c '^2026-01-01T00:00:00Z' '$WORK/rep3.txt') -eq 0 ] && grep ffffffffffffffff '$WORK/rep3.txt' | grep -q 'NOT VERIFIED'"

check "kakurid served throughout" kill -0 "$KPID"
summary
[ "$FAILED" -eq 0 ]
