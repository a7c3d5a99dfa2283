#!/usr/bin/env bash
# kakurictl sign and cosign write bearer tokens: a signed release can be
# applied by whoever holds it, so the file is 0600 whatever the umask and
# stays 0600 when cosign rewrites it; and -o never replaces a file that
# is not a signed command (a private key named by mistake).  No agent is
# needed: nothing here touches a network namespace.
. "$(dirname "$0")/lib.sh"
need
echo "== kakurictl sign and cosign: the token files"
AG=$(printf '%064d' 7)
cd "$WORK" || die "the work directory"
"$KAKURICTL" keygen alice >/dev/null 2>&1 && "$KAKURICTL" keygen bob >/dev/null 2>&1 ||
	die "two signing keys"
mode() { stat -c %a "$1"; }
(umask 022 && "$KAKURICTL" sign -k alice.key --agent "$AG" --action release \
	--episode "$(printf '%032d' 1)" -o rel.json 2>/dev/null)
check "sign -o under umask 022: the token is 0600 (fails on the old code)" test "$(mode rel.json)" = 600
chmod 0640 rel.json
(umask 022 && "$KAKURICTL" cosign -k bob.key rel.json 2>/dev/null); rc=$?
check "cosign rewrites it: two signatures" bash -c "[ $rc -eq 0 ] && [ \$(jq '.signatures | length' rel.json) -eq 2 ]"
check "... and 0600 again" test "$(mode rel.json)" = 600
cp alice.key alice.key.orig
"$KAKURICTL" sign -k bob.key --agent "$AG" --action isolate -o alice.key 2>"$WORK/over.err"; rc=$?
check "sign -o naming a private key: refused (fails on the old code)" \
	bash -c "[ $rc -ne 0 ] && grep -q 'alice.key: there and not a signed command: not overwritten' '$WORK/over.err'"
check "... and the key is untouched" cmp -s alice.key alice.key.orig
"$KAKURICTL" cosign -k bob.key alice.key -o alice.pub 2>/dev/null; rc=$?
check "cosign of a file that is not a signed command: refused, nothing written over" \
	bash -c "[ $rc -ne 0 ] && grep -q 'BEGIN PUBLIC KEY' alice.pub"
# cosign shows what it signs: the second person sees the command
"$KAKURICTL" sign -k alice.key --group tokyo --action unblock --arg set=ioc1 \
	--incident IR-7 --reason "lists wrong" -o unb.json 2>/dev/null
"$KAKURICTL" cosign -k bob.key unb.json 2>"$WORK/show.err"; rc=$?
check "cosign names the action, the group, the incident and the signer already there" \
	bash -c "[ $rc -eq 0 ] && grep -q 'unb.json: unblock for group tokyo' '$WORK/show.err' &&
		grep -q 'incident: IR-7' '$WORK/show.err' && grep -q 'signed by (as they name themselves, not checked.*): alice' '$WORK/show.err'"
"$KAKURICTL" cosign -k bob.key unb.json 2>"$WORK/again.err"; rc=$?
check "... a second cosign with the same key: refused, it would not count" \
	bash -c "[ $rc -ne 0 ] && grep -q 'already' '$WORK/again.err' && [ \$(jq '.signatures | length' unb.json) -eq 2 ]"
# on a terminal the second person says yes, or nothing is signed
"$KAKURICTL" sign -k alice.key --agent "$AG" --action isolate -o tty.json 2>/dev/null
echo n | timeout 10 script -qec "'$KAKURICTL' cosign -k bob.key tty.json" /dev/null >"$WORK/tty.out" 2>&1
check "cosign on a terminal, answered n: not signed (fails on the old code)" \
	bash -c "grep -q 'add your signature' '$WORK/tty.out' && [ \$(jq '.signatures | length' tty.json) -eq 1 ]"
echo y | timeout 10 script -qec "'$KAKURICTL' cosign -k bob.key tty.json" /dev/null >"$WORK/tty.out" 2>&1
check "... answered y: signed" test "$(jq '.signatures | length' tty.json)" = 2
# a signature anyone can write, naming itself "alice": shown as a claim;
# --keys DIR names each signer by the key that verifies it, and refuses
# a signature that none does (two people would think they approve a
# release alice asked for)
"$KAKURICTL" sign -k alice.key --agent "$AG" --action release \
	--episode "$(printf '%032d' 2)" -o forged.json 2>/dev/null
ZERO=$(head -c 64 /dev/zero | base64 -w0)
jq --arg z "$ZERO" '.signatures = [{"keyid": "alice", "sig": $z}]' forged.json >forged.tmp && mv forged.tmp forged.json
"$KAKURICTL" cosign --yes -k bob.key forged.json 2>"$WORK/forged.err" </dev/null
check "cosign shows a signer's name as a claim, not checked (fails on the old code: 'signed by: alice')" \
	grep -q 'signed by (as they name themselves, not checked' "$WORK/forged.err"
jq --arg z "$ZERO" '.signatures = [{"keyid": "alice", "sig": $z}]' forged.json >forged.tmp && mv forged.tmp forged.json
"$KAKURICTL" cosign --yes --keys . -k bob.key forged.json 2>"$WORK/forged.err" </dev/null; rc=$?
check "cosign --keys: a forged signature claiming alice is refused, nothing signed" \
	bash -c "[ $rc -eq 1 ] && grep -q 'a signature that no key in . verifies (it names itself \"alice\"): not signed' '$WORK/forged.err' &&
		[ \$(jq '.signatures | length' forged.json) -eq 1 ]"
"$KAKURICTL" sign -k alice.key --agent "$AG" --action release \
	--episode "$(printf '%032d' 3)" -o real.json 2>/dev/null
"$KAKURICTL" cosign --yes --keys . -k bob.key real.json 2>"$WORK/real.err" </dev/null; rc=$?
check "cosign --keys: alice's real signature is named by her key, verified; signed" \
	bash -c "[ $rc -eq 0 ] && grep -q 'signed by (verified): alice\$' '$WORK/real.err' && [ \$(jq '.signatures | length' real.json) -eq 2 ]"
# a key file in the folder whose name holds an escape sequence would be
# shown "verified" as whatever it draws; it is not used.  A FIFO there
# does not hold cosign.
"$KAKURICTL" keygen mallory >/dev/null 2>&1 || die "a third key"
mkdir -p keys2 && cp alice.pub bob.pub keys2/ && cp mallory.pub "keys2/x"$'\e[2K\r'"alice.pub"
mkfifo keys2/fifo.pub
"$KAKURICTL" sign -k mallory.key --keyid alice --agent "$AG" --action release \
	--episode "$(printf '%032d' 4)" -o spoof.json 2>/dev/null
timeout 10 "$KAKURICTL" cosign --yes --keys keys2 -k bob.key spoof.json 2>"$WORK/spoof.err" </dev/null; rc=$?
check "cosign --keys: a key file named with an escape sequence is not used, nothing signed (fails on the first version)" \
	bash -c "[ $rc -eq 1 ] && grep -q 'no key in keys2 verifies' '$WORK/spoof.err' && ! grep -q \$'\\033' '$WORK/spoof.err' &&
		[ \$(jq '.signatures | length' spoof.json) -eq 1 ]"
# a keyid with a bidi override (U+202E) reads as another name: shown as '?'
"$KAKURICTL" sign -k alice.key --agent "$AG" --action isolate -o bidi.json 2>/dev/null
jq '.signatures[0].keyid = "x\u202eecila"' bidi.json >bidi.tmp && mv bidi.tmp bidi.json
"$KAKURICTL" cosign --yes -k bob.key bidi.json 2>"$WORK/bidi.err" </dev/null
check "a keyid with a bidi override is shown in plain ASCII ('?' for the rest; fails on the old code)" \
	bash -c "grep -q 'not checked.*: x???ecila\$' '$WORK/bidi.err'"
# the same signature twice (a file anyone can edit): one key counts once
# at the agent, and the second person is told so, not shown two approvals
"$KAKURICTL" sign -k alice.key --agent "$AG" --action release \
	--episode "$(printf '%032d' 5)" -o twice.json 2>/dev/null
jq '.signatures += .signatures' twice.json >twice.tmp && mv twice.tmp twice.json
"$KAKURICTL" cosign --yes --keys . -k bob.key twice.json 2>"$WORK/twice.err" </dev/null
check "cosign --keys: alice's signature twice reads 'alice (alice again: one key counts once)' (fails on the old code: 'alice alice')" \
	grep -q 'signed by (verified): alice (alice again: one key counts once)$' "$WORK/twice.err"
jq '.signatures = (.signatures[:1] + .signatures[:1])' twice.json >twice.tmp && mv twice.tmp twice.json
"$KAKURICTL" cosign --yes -k mallory.key twice.json 2>"$WORK/twice.err" </dev/null
check "... and as claims: 'alice (alice again: the same name)'" \
	grep -q 'not checked.*: alice (alice again: the same name)$' "$WORK/twice.err"
# the keys are tried in name order: the same key under two names is
# always named by the first, whatever order the directory lists them in;
# more key files than an agent trusts is refused, not a silent first 64
mkdir -p keys3 && cp alice.pub keys3/zed.pub && cp alice.pub keys3/adam.pub
"$KAKURICTL" sign -k alice.key --agent "$AG" --action isolate -o order.json 2>/dev/null
"$KAKURICTL" cosign --yes --keys keys3 -k bob.key order.json 2>"$WORK/order.err" </dev/null; rc=$?
check "cosign --keys: the same key as adam.pub and zed.pub is named adam" \
	bash -c "[ $rc -eq 0 ] && grep -q 'signed by (verified): adam\$' '$WORK/order.err'"
mkdir -p keys4 && for i in $(seq 1 64); do cp bob.pub "keys4/k$i.pub"; done && cp alice.pub keys4/zz.pub
"$KAKURICTL" sign -k alice.key --agent "$AG" --action isolate -o many.json 2>/dev/null
"$KAKURICTL" cosign --yes --keys keys4 -k bob.key many.json 2>"$WORK/many.err" </dev/null; rc=$?
check "cosign --keys with 65 key files: refused, saying so, nothing signed (fails on the old code)" \
	bash -c "[ $rc -eq 1 ] && grep -q 'keys4: more than 64 key files (NAME.pub): an agent trusts at most 64' '$WORK/many.err' &&
		[ \$(jq '.signatures | length' many.json) -eq 1 ]"
# a token made now for a month later: the second person is told
"$KAKURICTL" sign -k alice.key --agent "$AG" --action isolate --ttl 600 \
	--valid-from $(( $(date +%s) + 30 * 86400 )) -o later.json 2>/dev/null
"$KAKURICTL" cosign --yes -k bob.key later.json 2>"$WORK/later.err" </dev/null
check "cosign of a token valid only later says so (fails on the old code: 'valid')" \
	grep -q 'valid from .* to .* (NOT YET VALID: it is meant for later)' "$WORK/later.err"
# a terminal on stdin and none to ask on (a new session): not a yes
"$KAKURICTL" sign -k alice.key --agent "$AG" --action isolate -o notty.json 2>/dev/null
/usr/bin/python3 - "$KAKURICTL" <<'PY' >"$WORK/notty.out" 2>&1
import os, pty, subprocess, sys
m, s = pty.openpty()
p = subprocess.run([sys.argv[1], "cosign", "-k", "bob.key", "notty.json"], stdin=s,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                   start_new_session=True, timeout=10)
print(p.returncode)
sys.stdout.write(p.stderr.decode())
PY
check "cosign with a terminal on stdin but no controlling terminal: not signed, and why (fails on the old code)" \
	bash -c "[ \"\$(head -1 '$WORK/notty.out')\" = 1 ] && grep -q 'not signed: no terminal to ask on' '$WORK/notty.out' &&
		[ \$(jq '.signatures | length' notty.json) -eq 1 ]"
printf '{"payloadType":"text/plain","payload":"aGk=","signatures":[{"keyid":"x","sig":"%s"}]}' \
	"$(head -c 64 /dev/zero | base64 -w0)" >other.json
"$KAKURICTL" cosign -k bob.key other.json 2>"$WORK/other.err"; rc=$?
check "cosign of an envelope that is not a kakuri command: refused, nothing signed" \
	bash -c "[ $rc -ne 0 ] && grep -q 'not a kakuri command' '$WORK/other.err'"
"$KAKURICTL" sign -k alice.key --agent "$AG" --action isolate -o rel.json 2>/dev/null; rc=$?
check "sign -o over a signed command: replaced" \
	bash -c "[ $rc -eq 0 ] && [ \$(jq '.signatures | length' rel.json) -eq 1 ]"
ln -s alice.key link.json
"$KAKURICTL" sign -k alice.key --agent "$AG" --action isolate -o link.json 2>/dev/null; rc=$?
check "sign -o to a symlink: refused, the key behind it untouched" \
	bash -c "[ $rc -ne 0 ] && cmp -s alice.key alice.key.orig && [ -L link.json ]"
# lib.sh's sign, as the scenarios call it: in $(...), a subshell each
# time, and every command still gets a file of its own
PKI=$WORK AGENT_ID=$AG
action_of() { jq -r .payload "$1" | base64 -d | jq -r .action; }
S1=$(sign alice isolate); S2=$(sign alice status)
check "lib.sh's sign in two subshells: two files (fails on the old lib.sh)" \
	bash -c "[ -n '$S1' ] && [ -n '$S2' ] && [ '$S1' != '$S2' ]"
check "... the first still the isolate, the second the status" \
	test "$(action_of "$S1") $(action_of "$S2")" = "isolate status"
summary
[ "$FAILED" -eq 0 ]
