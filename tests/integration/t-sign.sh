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
		grep -q 'incident: IR-7' '$WORK/show.err' && grep -q 'signed by: alice' '$WORK/show.err'"
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
