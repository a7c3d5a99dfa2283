#!/usr/bin/env bash
# The durable outbox (issue 10, item 3): a disconnect queues one message,
# the report payload of DESIGN 7 signed by the agent key as a DSSE
# envelope that openssl verifies with the agent's public key; `kakurictl
# outbox --json` lists it and says why it waits; kill -9 right after the
# disconnect answer leaves it on disk, intact, listed after the restart
# with seq going on; a corrupt file planted in the outbox is moved aside,
# audited and reported as tampering; the outbox is for staff and root.
. "$(dirname "$0")/lib.sh"
need
echo "== outbox: signed, durable, checked"
topology || { fail "topology"; summary; exit 1; }
pki_setup || { fail "PKI setup"; summary; exit 1; }
write_policy "$(remote_agent_conf)" "$(remote_tls_conf)
report: { collector = \"$PEER4:7444\"; max_mb = 2;
  collector_id = \"$(printf '%064d' 0)\"; };"
AGENT_ID=$(agent_init)
check "kakurid --init: an agent id" grep -Eq '^[0-9a-f]{64}$' <<<"$AGENT_ID"
openssl pkey -in "$PKI/agent.key" -pubout -out "$WORK/agent.pub" 2>/dev/null
start_kakurid || { fail "kakurid starts"; summary; exit 1; }

# verify FILE: openssl checks the DSSE signature over PAE(type, payload)
# with the agent's public key; the payload goes to FILE.payload
verify() {
	local f=$1 type
	type=$(jq -r .payloadType "$f") || return 1
	[ "$type" = application/vnd.kakuri.report.v1+json ] || return 1
	jq -r .payload "$f" | base64 -d >"$f.payload" || return 1
	jq -r '.signatures[0].sig' "$f" | base64 -d >"$f.sig" || return 1
	{ printf 'DSSEv1 %d %s %d ' "${#type}" "$type" "$(wc -c <"$f.payload")"
	  cat "$f.payload"; } >"$f.pae"
	openssl pkeyutl -verify -pubin -inkey "$WORK/agent.pub" -rawin \
		-in "$f.pae" -sigfile "$f.sig" >/dev/null 2>&1
}

# the press, and kill -9 as soon as the answer is there
ctl disconnect --json >"$WORK/disc.json"; KILLED=$KPID
kill -9 "$KPID"; wait "$KPID" 2>/dev/null; KPID=
ID=$(jq -r .report "$WORK/disc.json")
check "disconnect answers with a report id" grep -Eq '^[0-9a-f]{32}$' <<<"$ID"
F=$(ls "$STATE"/outbox/*-"$ID".dsse 2>/dev/null | head -1)
check "kill -9 right after the answer: the message is on disk" test -n "$F"
cp "$F" "$WORK/msg.dsse" 2>/dev/null
check "it is a DSSE envelope that openssl verifies with the agent key" verify "$WORK/msg.dsse"
check "its payload: v 1, its id, this agent, type disconnect, seq, time, host, episode, body" \
	jq -e --arg id "$ID" --arg ag "$AGENT_ID" '.v == 1 and .id == $id and .agent == $ag and
	.type == "disconnect" and (.seq | type) == "number" and (.time | test("^[0-9]{4}-")) and
	(.host.hostname | type) == "string" and (.host.addresses | type) == "array" and
	(.host.boot_id | length) > 0 and (.host.os | length) > 0 and (.episode | length) == 32 and
	.body.mode == "isolated"' "$WORK/msg.dsse.payload"
check "no temporary file is left behind" bash -c "! ls '$STATE'/outbox/ | grep -q tmp"
SEQ1=$(jq .seq "$WORK/msg.dsse.payload")

start_kakurid || { fail "kakurid restarts"; summary; exit 1; }
ctl outbox --json >"$WORK/ob1.json"
check "after the restart: kakurictl outbox --json lists it (signed, type, size)" \
	jq -e --arg id "$ID" '[.messages[] | select(.id == $id and .type == "disconnect" and
	.signed == true and .size > 0)] | length == 1' "$WORK/ob1.json"
check "the file is the same, byte for byte" cmp -s "$F" "$WORK/msg.dsse"
# the courier's first attempt has to fail before it can say so: a bounded poll
waits_for_collector() {
	ctl outbox --json | jq -e '(.waiting | test("collector")) and (.collector | length) > 0 and
		.count >= 1 and .max_bytes == 2097152'
}
check_within "it says why it waits: the collector cannot be reached" 20 waits_for_collector
ctl outbox >"$WORK/ob1.txt"
check "the text form names it and why it waits" bash -c "grep -q '$ID' '$WORK/ob1.txt' && grep -q '^waiting: ' '$WORK/ob1.txt'"
check "staff may read the outbox" as_staff "$KAKURICTL" -s "$SOCK" outbox --json
# each listing reads and verifies up to report.max_mb in the daemon's
# loop: a staff member who asks again and again is refused after 5 in
# ten seconds (the listing above was one of them); root never
staff_reads() {
	local i rc
	for i in $(seq 1 20); do
		as_staff "$KAKURICTL" -s "$SOCK" "$@" >/dev/null 2>"$WORK/reads.err"; rc=$?
		[ "$rc" = 0 ] || { echo "$i $rc"; return; }
	done
	echo "none refused"
}
READS=$(staff_reads outbox --json)
check "a staff member listing the outbox again and again is refused within 20 tries: exit 1, rate-limited ($READS)" \
	bash -c "[ '${READS#* }' = 1 ] && grep -q 'rate-limited.*too many outbox and log requests' '$WORK/reads.err'"
[ "$FAILED" = 0 ] || sed 's/^/    /' "$WORK/reads.err"
READS=$(staff_reads log -n 1)
check "... and the log, asked for again and again ($READS)" \
	bash -c "[ '${READS#* }' = 1 ] && grep -q 'rate-limited' '$WORK/reads.err'"
check "root's are not counted: 10 in a row" bash -c "for i in \$(seq 1 10); do '$KAKURICTL' -s '$SOCK' outbox --json >/dev/null || exit 1; done"
check "the refusals are in the audit log" bash -c "'$KAKURICTL' -s '$SOCK' log --json | jq -e '[.entries[] | select(.action == \"outbox\" and .result == \"refused: rate-limited\")] | length >= 1' >/dev/null"
as_nobody "$KAKURICTL" -s "$SOCK" outbox >/dev/null 2>"$WORK/nobody.err"; rc=$?
check "other users may not (exit 1, one line)" bash -c "[ $rc -eq 1 ] && [ \$(wc -l <'$WORK/nobody.err') -eq 1 ]"

# a corrupt file under a message's name
BAD=00000000000000000042-0123456789abcdef0123456789abcdef.dsse
printf '{"payloadType":"garbage' >"$STATE/outbox/$BAD"
ctl outbox --json >"$WORK/ob2.json"; rc=$?
check "a corrupt file: kakurid answers and is still there" bash -c "[ $rc -eq 0 ] && kill -0 $KPID"
check "it is moved to outbox/corrupt" bash -c "! test -e '$STATE/outbox/$BAD' && ls '$STATE'/outbox/corrupt/ | grep -q '^$BAD'"
check "it is not listed" jq -e '[.messages[] | select(.file == "'"$BAD"'")] | length == 0' "$WORK/ob2.json"
check "it is audited" audit_has '.action == "outbox-corrupt" and .file == "'"$BAD"'"'
ctl outbox --json >"$WORK/ob3.json"
T=$(jq -r '.messages[] | select(.type == "tamper") | .file' "$WORK/ob3.json" | tail -1)
check "it is reported: a signed tamper message in the outbox" bash -c "[ -n '$T' ] && cp '$STATE/outbox/$T' '$WORK/t.dsse'"
check "the tamper message verifies and names the file" bash -c \
	"$(declare -f verify); WORK='$WORK'; verify '$WORK/t.dsse' && jq -e '.body.result == \"outbox-corrupt\" and .body.file == \"$BAD\"' '$WORK/t.dsse.payload'"
SEQ2=$(jq .seq "$WORK/t.dsse.payload" 2>/dev/null)
check "seq goes on across the kill -9 ($SEQ1 then $SEQ2)" test "${SEQ2:-0}" -gt "$SEQ1"
# isolate and release from the CSIRT channel: each queues its message
check "the CSIRT channel is listening" until_ok 20 channel_up
EPISODE=$(status_field episode)
REL=$(sign alice release --episode "$EPISODE" --reason "false positive")
"$KAKURICTL" cosign -k "$PKI/bob.key" "$REL" 2>/dev/null
check "a signed, cosigned remote release: done" test "$(send_result "$REL")" = done
ISO=$(sign alice isolate --incident IR-OUTBOX-1 --reason "C2 beacon")
check "a signed remote isolate: done" test "$(send_result "$ISO")" = done
# msg_of TYPE FILTER: the newest .dsse whose payload is TYPE and matches
msg_of() {
	local f
	for f in $(ls -r "$STATE"/outbox/*.dsse); do
		cp "$f" "$WORK/m.dsse"
		verify "$WORK/m.dsse" || continue
		jq -e --arg t "$1" ".type == \$t and ($2)" "$WORK/m.dsse.payload" >/dev/null && return 0
	done
	return 1
}
# (each is written once its receipt has gone out: waited for, not sampled)
check "the release left a verifiable release message (episode, by, origin remote, reason)" \
	until_ok 10 msg_of release ".body.episode == \"$EPISODE\" and (.body.by | startswith(\"csirt:\")) and
	.body.origin == \"remote\" and .body.reason == \"false positive\" and .body.mode == \"open\""
check "the isolate left a verifiable isolate message (mode, episode, by, origin remote, reason)" \
	until_ok 10 msg_of isolate ".body.mode == \"isolated\" and (.body.episode | length) == 32 and
	.body.by == \"csirt:IR-OUTBOX-1\" and .body.origin == \"remote\" and .body.reason == \"C2 beacon\""
# kakurid reads the boot id once: a later message still names the kernel's
check "the later messages of one kakurid name the kernel's boot_id too" \
	msg_of isolate ".host.boot_id == \"$(cat /proc/sys/kernel/random/boot_id)\""
# a full outbox (report.max_mb = 2, nobody collecting): self-reports are
# refused with a clear line, tamper alerts still get in
for i in $(seq 1 2000); do
	ctl report --category other --what "filler $i $(head -c 600 /dev/zero | tr '\0' x)" \
		</dev/null >/dev/null 2>"$WORK/full.err" || break
done
check "the outbox fills up: a self-report is refused (exit 1) with one clear line" \
	bash -c "grep -q 'the outbox is full' '$WORK/full.err' && [ \$(wc -l <'$WORK/full.err') -eq 1 ]"
check "the refusal is audited" audit_has '.action == "outbox" and .result == "refused-full"'
BAD2=00000000000000000043-0123456789abcdef0123456789abcdee.dsse
printf 'not an envelope' >"$STATE/outbox/$BAD2"
ctl outbox --json >/dev/null
check "a tamper alert still gets in past the limit (into the reserve)" bash -c \
	"ls '$STATE'/outbox/*.dsse | while read -r f; do jq -r .payload \"\$f\" | base64 -d | jq -r 'select(.type == \"tamper\") | .body.file'; done | grep -qx '$BAD2'"
check "kakurid still serves" kill -0 "$KPID"
summary
[ "$FAILED" -eq 0 ]
