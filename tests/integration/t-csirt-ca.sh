#!/usr/bin/env bash
# CA mode (issue 8, item 11): two agents whose identities the same CSIRT CA
# certified.  kakurictl send and fetch take the agent's id from the chain
# the agent shows (its TLS certificate, certified by its identity, whose
# certificate chains to the CA) and compare it with the agent the command
# names, always: a command for agent A never goes to agent B, even though
# the CA vouches for B, and B posing as A is caught.
. "$(dirname "$0")/lib.sh"
need
echo "== CA mode: the agent that answers must be the agent the command names"
topology || { fail "topology"; summary; exit 1; }
pki_setup || { fail "PKI setup"; summary; exit 1; }
sed -i 's/roles = \[ "isolate", "release", "status" \]/roles = [ "isolate", "release", "status", "fetch" ]/' "$PKI/trust.conf"

# agent A on the endpoint, agent B in the internet namespace; both CA-certified
A="$WORK/a" B="$WORK/b"
mkdir -p "$A" "$B"
write_policy "listen = \"[::]:7443\"; key = \"$A/agent.key\"; cert = \"$A/agent.crt\"; trust = \"$PKI/trust.conf\";" \
	"$(remote_tls_conf)"
AGENT_A=$(agent_ca_init "$A" "$POLICY")
cat >"$B/kakuri.conf" <<EOF
agent: { state_dir = "$B/state"; control_socket = "$B/control.sock"; user = "nobody";
  listen = "[::]:7443"; key = "$B/agent.key"; cert = "$B/agent.crt"; trust = "$PKI/trust.conf"; };
tls: { client_ca = "$PKI/ca.pem"; };
management: { peers = [ "$PEER4", "$PEER6" ]; ports = [ 7443 ]; };
EOF
chmod 0600 "$B/kakuri.conf"
AGENT_B=$(agent_ca_init "$B" "$B/kakuri.conf" 2>/dev/null || echo "")
check "agent A has a CA-certified identity and an id" grep -Eq '^[0-9a-f]{64}$' <<<"$AGENT_A"
check "agent B too, a different one" bash -c "grep -Eq '^[0-9a-f]{64}$' <<<'$AGENT_B' && [ '$AGENT_A' != '$AGENT_B' ]"
check "A's identity certificate chains to the CSIRT CA" openssl verify -CAfile "$PKI/ca.pem" "$A/agent.crt"
check "A's TLS certificate was made by kakurid --init under it" test -s "$A/agent-tls.crt"
start_kakurid || { fail "agent A starts"; summary; exit 1; }
check "agent A's channel is listening" until_ok 20 channel_up
ip netns exec "$NET" "$KAKURID" -d -f "$B/kakuri.conf" >>"$WORK/b.log" 2>&1 &
BPID=$!; PIDS+=($BPID)
check "agent B's channel is listening" until_ok 20 bash -c \
	"[ \"\$('$KAKURICTL' -s '$B/control.sock' status --json | jq -r .csirt_channel)\" = listening ]"

# send FILE... to ADDR in CA mode, no pinned id
ca_send() {
	local to=$1; shift
	ip netns exec "$PEER" "$KAKURICTL" send --json --to "$to" --ca "$PKI/ca.pem" \
		--cert "$PKI/op-ca.crt" --key "$PKI/op-ca.key" "$@"
}
AGENT_ID=$AGENT_A
FOR_A=$(sign carol status)
out=$(ca_send "[$EP6]:7443" "$FOR_A" 2>/dev/null)
check "CA mode works: a status for A sent to A is done (receipt verified with A's identity)" \
	test "$(jq -r '.receipts[0].result' <<<"$out")" = done
check "... and the receipt names A" test "$(jq -r '.receipts[0].agent' <<<"$out")" = "$AGENT_A"

# the same command to B: B is CA-certified too, but it is not A
ISO_A=$(sign alice isolate)
ca_send "[$NET6]:7443" "$ISO_A" >"$WORK/ab.out" 2>"$WORK/ab.err"; rc=$?
check "a command for A sent to B is refused by kakurictl (exit 1)" test $rc -eq 1
check "... with one clear line naming both agents" \
	grep -q "^kakurictl: \[$NET6\]:7443: .*is for agent ${AGENT_A:0:16}\.\.\., but the agent here is ${AGENT_B:0:16}\.\.\.; nothing sent" "$WORK/ab.err"
check "... and B never saw it (no command in B's audit log)" bash -c \
	"! '$KAKURICTL' -s '$B/control.sock' log --json | jq -e '.entries[] | select(.action == \"isolate\" or .action == \"command\")'"
check "A is still open (nothing was done on A's behalf)" test "$(status_field mode)" = open
ca_send "[$NET6]:7443" --agent-id "$AGENT_A" "$FOR_A" >/dev/null 2>"$WORK/pin.err"; rc=$?
check "pinning A while B answers: not reachable (exit 3), the id does not match" \
	bash -c "[ $rc -eq 3 ] && grep -q 'does not match the pinned id' '$WORK/pin.err'"

# B posing as A: it answers "done" for A's command with a receipt it signed
fake_agent "$B" "$B/agent.key" "$ISO_A" "$AGENT_B" 7998 || fail "B posing as A starts"
ip netns exec "$PEER" "$KAKURICTL" send --to 127.0.0.1:7998 --ca "$PKI/ca.pem" --cert "$PKI/op-ca.crt" \
	--key "$PKI/op-ca.key" "$ISO_A" >"$WORK/pose.out" 2>"$WORK/pose.err"; rc=$?
check "B posing as A (a CA-certified agent answering done) is refused (exit 1)" test $rc -eq 1
check "... and its done is not printed" bash -c "! grep -q ': done' '$WORK/pose.out'"

# a chain the CA does not vouch for
ip netns exec "$PEER" "$KAKURICTL" send --to "[$EP6]:7443" --ca "$PKI/rogue.pem" --cert "$PKI/op-ca.crt" \
	--key "$PKI/op-ca.key" "$FOR_A" >/dev/null 2>"$WORK/rogue.err"; rc=$?
check "with another CA, A's identity does not chain: not reachable (exit 3)" \
	bash -c "[ $rc -eq 3 ] && grep -q 'does not chain to the CA' '$WORK/rogue.err'"

# fetch: signed for the agent named by --agent-id, and only that agent may answer
mkdir -p "$B/state/evidence/IR-CA" && echo evidence >"$B/state/evidence/IR-CA/note.txt"
ip netns exec "$PEER" "$KAKURICTL" fetch --to "[$NET6]:7443" --ca "$PKI/ca.pem" --cert "$PKI/op-ca.crt" \
	--key "$PKI/op-ca.key" --agent-id "$AGENT_A" -k "$PKI/alice.key" --id IR-CA \
	-o "$WORK/fetch-ab" >/dev/null 2>"$WORK/fetch.err"; rc=$?
check "fetch for A from B in CA mode is refused (exit 3), nothing fetched" \
	bash -c "[ $rc -eq 3 ] && grep -q 'does not match' '$WORK/fetch.err' && [ ! -e '$WORK/fetch-ab/note.txt' ]"
ip netns exec "$PEER" "$KAKURICTL" fetch --to "[$NET6]:7443" --ca "$PKI/ca.pem" --cert "$PKI/op-ca.crt" \
	--key "$PKI/op-ca.key" -k "$PKI/alice.key" --id IR-CA -o "$WORK/fetch-any" >/dev/null 2>"$WORK/fetch2.err"; rc=$?
check "fetch without --agent-id is a usage error that says why (exit 2)" \
	bash -c "[ $rc -eq 2 ] && grep -q '^kakurictl: give --agent-id' '$WORK/fetch2.err'"

# one send to both agents (issue 9): the targets read as a stream, from a
# pipe, each agent given only the command addressed to it, a JSON line each
AGENT_ID=$AGENT_A; ST_A=$(sign carol status)
AGENT_ID=$AGENT_B; ST_B=$(sign carol status)
AGENT_ID=$AGENT_A
ip netns exec "$PEER" "$KAKURICTL" send --json --by-agent --ca "$PKI/ca.pem" --cert "$PKI/op-ca.crt" \
	--key "$PKI/op-ca.key" --targets <(printf '# A\n[%s]:7443\n\n# B\n[%s]:7443\n' "$EP6" "$NET6") \
	"$ST_A" "$ST_B" >"$WORK/fan.out" 2>"$WORK/fan.err"; rc=$?
check "one send to both agents, the targets from a pipe: exit 0" test $rc -eq 0
check "... one JSON line per target, both done, one receipt each" \
	jq -s -e 'length == 2 and all(.[]; .status == "done" and (.receipts | length) == 1)' "$WORK/fan.out"
check "... A got A's command and B got B's" jq -s -e --arg a "$AGENT_A" --arg b "$AGENT_B" \
	'(map({(.target): .receipts[0].agent}) | add) == {"['"$EP6"']:7443": $a, "['"$NET6"']:7443": $b}' "$WORK/fan.out"
# a list is checked whole before anything goes out
ip netns exec "$PEER" "$KAKURICTL" send --ca "$PKI/ca.pem" --cert "$PKI/op-ca.crt" --key "$PKI/op-ca.key" \
	--targets <(printf '[%s]:7443\n[%s]:7443 not-an-agent-id\n' "$EP6" "$NET6") "$ISO_A" \
	>/dev/null 2>"$WORK/bad.err"; rc=$?
check "a list with a bad last line: usage error (exit 2) naming the line" \
	bash -c "[ $rc -eq 2 ] && grep -q '^kakurictl: /dev/fd/[0-9]*:2: expected HOST:PORT AGENT-ID' '$WORK/bad.err'"
check "... and A, on its first line, got nothing: still open" test "$(status_field mode)" = open
# more targets than send takes (4096): refused, not cut short and sent
ip netns exec "$PEER" "$KAKURICTL" send --ca "$PKI/ca.pem" --cert "$PKI/op-ca.crt" --key "$PKI/op-ca.key" \
	--timeout 2000 --targets <(for _ in $(seq 4097); do echo "[$EP6]:7443"; done) "$ISO_A" \
	>/dev/null 2>"$WORK/many.err"; rc=$?
check "4097 targets: usage error (exit 2), more than 4096" \
	bash -c "[ $rc -eq 2 ] && grep -q '^kakurictl: more than 4096 targets' '$WORK/many.err'"
check "... and nothing was sent: A is still open" test "$(status_field mode)" = open

# the isolate for A, sent to A in CA mode
check "the isolate for A sent to A is done" test "$(ca_send "[$EP6]:7443" "$ISO_A" 2>/dev/null | jq -r '.receipts[0].result')" = done
check "A is isolated" test "$(status_field mode)" = isolated
check "audit chain verifies" ctl log
summary
[ "$FAILED" -eq 0 ]
