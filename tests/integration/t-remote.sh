#!/usr/bin/env bash
# The CSIRT isolates and releases remotely: DSSE-signed commands over
# mutual TLS 1.3 from the CSIRT namespace, every rejection with its reason,
# the network child unprivileged and restartable, and the agent serving
# through garbage, oversized frames, slow senders and 200 idle connections.
# The network child holds a TLS key of its own, never the identity key that
# signs receipts: not as a file, not as an fd, not in its memory, and a
# receipt signed with the TLS key is refused.
. "$(dirname "$0")/lib.sh"
need
need_built "$TOP/build/memscan"
need_built "$TOP/build/syncfail.so"
echo "== remote isolation and release (signed commands)"
topology || { fail "topology"; summary; exit 1; }
pki_setup || { fail "PKI setup"; summary; exit 1; }
write_policy "$(remote_agent_conf)" "$(remote_tls_conf)"
AGENT_ID=$(agent_init)
check "kakurid --init prints the agent id (64 hex)" grep -Eq '^[0-9a-f]{64}$' <<<"$AGENT_ID"
check "kakurictl agent-id of the certificate matches" test "$("$KAKURICTL" agent-id "$PKI/agent.crt")" = "$AGENT_ID"
check "agent.key is 0600" test "$(stat -c %a "$PKI/agent.key")" = 600
check "kakurid --init made the network child's own TLS key (0600)" test "$(stat -c %a "$PKI/agent-tls.key" 2>/dev/null)" = 600
IDSEED=$(key_seed "$PKI/agent.key") TLSSEED=$(key_seed "$PKI/agent-tls.key")
check "the TLS key is not the identity key" test "${#IDSEED}" -eq 64 -a "${#TLSSEED}" -eq 64 -a "$IDSEED" != "$TLSSEED"
check "agent-tls.crt is issued under the identity certificate's name" test \
	"$(openssl x509 -in "$PKI/agent-tls.crt" -noout -issuer 2>/dev/null | sed 's/^issuer=//')" = \
	"$(openssl x509 -in "$PKI/agent.crt" -noout -subject 2>/dev/null | sed 's/^subject=//')"
for a in "$NET4" "$NET6"; do serve "$NET" "$a" 8080; done
check "the echo servers answer before the agent starts" until_ok 10 reach "$EP" tcp "$NET4" 8080
start_kakurid || { fail "kakurid starts"; summary; exit 1; }
check "the CSIRT channel is listening" until_ok 20 channel_up

CHILD=$(net_child)
check "the network child runs as agent.user (nobody)" test "$(stat -c %U /proc/$CHILD)" = nobody
check "the network child has no capabilities" grep -q "^CapEff:[[:space:]]*0000000000000000" /proc/$CHILD/status
check "the network child is under a seccomp filter" grep -q "^Seccomp:[[:space:]]*2" /proc/$CHILD/status
check "the network child has no netlink socket of the parent" bash -c "! ls -l /proc/$CHILD/fd | grep -q netlink"
# the identity key stays in the root parent
check "the network child holds no fd to a file (only sockets, pipes, /dev/null, event fds)" \
	bash -c "! ls -l /proc/$CHILD/fd | awk 'NR > 1 { print \$NF }' | grep -v -e '^socket:' -e '^pipe:' -e '^anon_inode:' -e '^/dev/null\$'"
check "no fd of the network child is the identity key" bash -c "! ls -l /proc/$CHILD/fd | grep -q 'agent\\.key'"
refute "the network child's uid cannot open the identity key" setpriv --reuid="$(stat -c %u /proc/$CHILD)" \
	--regid="$(stat -c %g /proc/$CHILD)" --clear-groups cat "$PKI/agent.key"
check "the memory scan finds the TLS key in the network child (the scan works)" mem_has "$CHILD" "$TLSSEED"
check "the identity key just loaded left no copy in kakurid's readable memory (not even freed)" mem_lacks "$KPID" "$IDSEED"
check "the identity key is nowhere in the network child's memory (a fresh image, not a fork)" mem_lacks "$CHILD" "$IDSEED"

ISO=$(sign alice isolate --incident IR-2026-0042 --reason "C2 beacon seen by proxy")
check "signed isolate: done (the receipt crosses the isolation on the same connection)" test "$(send_result "$ISO")" = done
check "isolated" test "$(status_field mode)" = isolated
# the receipt was signed: the identity key is in use, yet not readable
check "kakurid keeps the identity key in secret memory (memfd_secret)" grep -q secretmem "/proc/$KPID/maps"
check "the identity key is nowhere in kakurid's readable memory, even for root" mem_lacks "$KPID" "$IDSEED"
refute "isolation proven: ep -> internet (IPv4) blocked" reach "$EP" tcp "$NET4" 8080
refute "isolation proven: ep -> internet (IPv6) blocked" reach "$EP" tcp "$NET6" 8080
EPISODE=$(status_field episode)
rec=$(send "$ISO" 2>/dev/null)
check "the same file again: replay" test "$(jq -r '.receipts[0].reason' <<<"$rec")" = replay
check "receipts are signed by the agent and verified by kakurictl" test "$(jq -r '.receipts[0].agent' <<<"$rec")" = "$AGENT_ID"
check "receipt carries timings" bash -c "jq -e '.receipts[0].timings.received' <<<'$rec'"
# the actor is the peer's address and port, as kakurid checked the child's word
check "the audit names the CSIRT peer as tls:[ADDR]:PORT" \
	audit_has ".action == \"isolate\" and .result == \"done\" and (.actor | test(\"^tls:\\\\[$PEER6\\\\]:[0-9]+\$\"))"
stop_kakurid -TERM; start_kakurid
until_ok 20 channel_up
check "replay is refused after a restart too" test "$(send_result "$ISO")" = replay

OTHER=$(printf '%064d' 7)
W=$("$KAKURICTL" sign -k "$PKI/alice.key" --agent "$OTHER" --action isolate -o "$WORK/w.json" 2>/dev/null && echo "$WORK/w.json")
send "$W" >/dev/null 2>"$WORK/w.err"; rc=$?
check "a command for another agent is not even sent: kakurictl refuses (exit 1)" test $rc -eq 1
check "... with one line naming both agents" grep -q "^kakurictl: .*is for agent 0000000000000000\.\.\., but the agent here is ${AGENT_ID:0:16}" "$WORK/w.err"
check "another agent's id applied locally: wrong-agent" bash -c "'$KAKURICTL' -s '$SOCK' apply --json '$W' | jq -e '.reason == \"wrong-agent\"'"
now=$(date +%s)
check "expired: expired" test "$(send_result "$(sign alice status --valid-from $((now - 2000)) --ttl 60)")" = expired
check "not yet valid: not-yet-valid" test "$(send_result "$(sign alice status --valid-from $((now + 2000)) --ttl 60)")" = not-yet-valid
check "a lifetime over the policy's maximum: lifetime" test "$(send_result "$(sign alice status --ttl 7200)")" = lifetime
check "a key without the role: role" test "$(send_result "$(sign carol isolate)")" = role
check "status with carol (status role): done" test "$(send_result "$(sign carol status)")" = done

# --save-receipts DIR: the agent's signed word kept, as it came
ST=$(sign carol status)
STID=$(jq -r .payload "$ST" | base64 -d | jq -r .id)
send --save-receipts "$WORK/proofs" "$ST" >/dev/null 2>&1
send --save-receipts "$WORK/proofs" "$ST" >/dev/null 2>&1
check "send --save-receipts: the receipt is DIR/<agent>/<command>.dsse, 0600, verifying with the agent's certificate key" \
	bash -c "$(declare -f dsse_verifies); WORK='$WORK'; f='$WORK/proofs/$AGENT_ID/$STID.dsse';
		[ \"\$(stat -c %a \"\$f\")\" = 600 ] && dsse_verifies \"\$f\" '$PKI/agent.crt' &&
		jq -r .payload \"\$f\" | base64 -d | jq -e '.result == \"done\"' >/dev/null"
check "... the same command again (a replay, refused) is kept beside it, not over it" \
	bash -c "[ \$(ls '$WORK/proofs/$AGENT_ID' | wc -l) -eq 2 ] && ls '$WORK/proofs/$AGENT_ID' | grep -Eq '^$STID\.[0-9a-f]{16}\.dsse\$' &&
		jq -r .payload '$WORK/proofs/$AGENT_ID/$STID.dsse' | base64 -d | jq -e '.result == \"done\"' >/dev/null"
# a receipt that is not done (the replay) does not stop what follows:
# the next files are sent, their receipts kept and listed
ST2=$(sign carol status); ST3=$(sign carol status)
send --save-receipts "$WORK/proofs" "$ST" "$ST2" "$ST3" >"$WORK/three.json" 2>/dev/null; rc=$?
check "send --save-receipts of a replay and two fresh commands: exit 1, three receipts listed, the last two done (fails on the old code)" \
	bash -c "[ $rc -eq 1 ] && jq -e '[.receipts[].result] == [\"rejected\", \"done\", \"done\"]' '$WORK/three.json'"
ST2ID=$(jq -r .payload "$ST2" | base64 -d | jq -r .id)
ST3ID=$(jq -r .payload "$ST3" | base64 -d | jq -r .id)
check "... and the two done kept" test -s "$WORK/proofs/$AGENT_ID/$ST2ID.dsse" -a -s "$WORK/proofs/$AGENT_ID/$ST3ID.dsse"
REL=$(sign alice release --episode "$EPISODE")
check "release with one signature (release = 2): threshold" test "$(send_result "$REL")" = threshold
cp "$REL" "$WORK/twice.json"
"$KAKURICTL" cosign -k "$PKI/alice.key" "$WORK/twice.json" 2>"$WORK/twice.err"; rc=$?
check "kakurictl cosign with the key that signed already: refused, it would not count" \
	bash -c "[ $rc -ne 0 ] && grep -q 'signed by .*alice.key already' '$WORK/twice.err'"
# what kakurictl will not do, a hand can: the same signature twice
jq -c '.signatures += .signatures' "$REL" >"$WORK/twice.json"
check "the same key twice still counts once: threshold" test "$(send_result "$WORK/twice.json")" = threshold
OLD=$(sign alice release --episode 0123456789abcdef0123456789abcdef)
"$KAKURICTL" cosign -k "$PKI/bob.key" "$OLD" 2>/dev/null
check "a release naming another episode: wrong-episode" test "$(send_result "$OLD")" = wrong-episode
check "still isolated after refused releases" test "$(status_field mode)" = isolated
UNSIGNED=$(sign alice release --episode "$EPISODE")
sed -i 's/"sig":"[A-Za-z0-9+/]\{8\}/"sig":"AAAAAAAA/' "$UNSIGNED"
check "a tampered signature: bad-signature" test "$(send_result "$UNSIGNED")" = bad-signature

# hostile traffic on the CSIRT port, then a valid command must still be served
ip netns exec "$NET" "$NETPROBE" idle "$EPN4" 7443 1 1 >/dev/null 2>&1
check "the internet cannot even reach the CSIRT port while isolated" \
	bash -c "! ip netns exec $NET $NETPROBE tcp $EPN4 7443 500"
ip netns exec "$PEER" "$NETPROBE" idle "$EP4" 7443 200 20 >"$WORK/idle.out" &
IDLE=$!; PIDS+=($IDLE)
check "200 idle connections are open" until_ok 20 grep -q "ready 200" "$WORK/idle.out"
ip netns exec "$PEER" "$NETPROBE" garbage "$EP4" 7443
ip netns exec "$PEER" "$NETPROBE" slow "$EP4" 7443 20 &
PIDS+=($!)
big=$(printf '\xff\xff\xff\xff' | ip netns exec "$PEER" timeout 5 openssl s_client -quiet \
	-cert "$PKI/op-ca.crt" -key "$PKI/op-ca.key" -connect "$EP4:7443" 2>/dev/null | tail -c +5)
check "an oversized length prefix gets a signed too-large receipt" \
	bash -c "jq -r .payload <<<'$big' | base64 -d | jq -e '.reason == \"too-large\"'"
check "a bad client certificate (other CA) is refused in the handshake" \
	bash -c "! ip netns exec $PEER $KAKURICTL send --to [$EP6]:7443 --cert $PKI/op-rogue.crt --key $PKI/op-rogue.key --agent-id $AGENT_ID $(sign carol status) 2>/dev/null"
# a network child gone rogue holds the TLS key and the chain and answers
# "done" itself: receipts count only with the identity key's signature
rogue_child() {
	local file
	file=$(sign alice isolate) || return 2
	fake_agent "$PKI" "$1" "$file" "$AGENT_ID" 7999 "${2:-}" || return 2
	ip netns exec "$PEER" "$KAKURICTL" send --to 127.0.0.1:7999 --cert "$PKI/op-ca.crt" \
		--key "$PKI/op-ca.key" --agent-id "$AGENT_ID" "$file" 2>"$WORK/rogue.err"
}
rogue_child "$PKI/agent-tls.key" >"$WORK/rogue.out"; rc=$?
check "a receipt signed with the TLS key (a rogue network child) is refused by kakurictl (exit 1)" test $rc -eq 1
check "... because only the identity key's signature counts" grep -q "^kakurictl: .*does not verify with the agent's identity key" "$WORK/rogue.err"
rogue_child "$PKI/agent.key" >"$WORK/rogue.out"; rc=$?
check "the same receipt signed with the identity key is accepted (the forgery test works)" \
	bash -c "[ $rc -eq 0 ] && grep -q ' isolate .*: done' '$WORK/rogue.out'"
# root on the infected PC signs with the identity key itself: its words
# in a receipt cannot print lines of their own on the operator's
# terminal (a fake "done" for another host, a fake summary) or hide what
# follows (ESC[8m conceals, ESC[2J clears)
FORGED=$(printf 'ok\n10.9.9.9:7443 %064d isolate %032d: done mode=isolated episode=-\nsummary: 40 done\033[8m\033[2J' 0 0)
rogue_child "$PKI/agent.key" "$FORGED" >"$WORK/inject.out"; rc=$?
check "a receipt whose reason holds line breaks and escapes: still one line on stdout (fails on the old code)" \
	bash -c "[ $rc -eq 0 ] && [ \$(wc -l <'$WORK/inject.out') -eq 1 ]"
check "... with no escape byte" bash -c "! grep -q \$'\\033' '$WORK/inject.out'"
check "... and naming the agent that answered (DESIGN 5: one line per agent, naming it)" \
	grep -q "^127.0.0.1:7999 $AGENT_ID isolate " "$WORK/inject.out"
REL2=$(sign alice release --episode "$EPISODE")
"$KAKURICTL" cosign -k "$PKI/bob.key" "$REL2" 2>/dev/null
check "with 200 idle + garbage + slow connections a valid release is served" test "$(send_result "$REL2")" = done
check "released: open" test "$(status_field mode)" = open
check "released: traffic flows again (IPv4)" reach "$EP" tcp "$NET4" 8080 3000
check "released: traffic flows again (IPv6)" reach "$EP" tcp "$NET6" 8080 3000
check "handshake failures are logged, as the network child's words" until_ok 10 grep -q "network child: .*handshake failed" "$DLOG"
kill "$IDLE" 2>/dev/null

# the network child dies: isolation is untouched, the parent restarts it
check "isolate again (egress via args.mode)" test "$(send_result "$(sign alice isolate --arg mode=egress)")" = done
check "args.mode=egress gives egress" test "$(status_field mode)" = egress
CHILD=$(net_child)
kill -9 "$CHILD"
check "the child is dead (reaped by kakurid)" until_ok 10 test ! -e "/proc/$CHILD"
check "after the child died: still egress" test "$(status_field mode)" = egress
refute "after the child died: web still blocked" reach "$EP" tcp "$NET4" 443
check "the parent restarted the child" until_ok 20 channel_up "$CHILD"
check "the restarted child serves commands" test "$(send_result "$(sign carol status)")" = done
check "the child's death is in the audit log" bash -c "'$KAKURICTL' -s '$SOCK' log --json | jq -e '.entries[] | select(.action==\"network-child\")'"

# an offline release token applied locally; staff still cannot release
EPISODE=$(status_field episode)
TOKEN=$(sign alice release --episode "$EPISODE")
"$KAKURICTL" cosign -k "$PKI/bob.key" "$TOKEN" 2>/dev/null
setpriv --reuid=65534 --regid=65534 --groups=100 "$KAKURICTL" -s "$SOCK" release >/dev/null 2>&1; rc=$?
check "a staff member still cannot release without a token (exit 1)" test $rc -eq 1
check "still egress" test "$(status_field mode)" = egress
check "kakurictl apply of a two-signature release token: released" "$KAKURICTL" -s "$SOCK" apply "$TOKEN"
check "open after apply" test "$(status_field mode)" = open
check "apply of the same token again: refused (replay)" bash -c "! '$KAKURICTL' -s '$SOCK' apply '$TOKEN'"
check "every rejection is in the audit log with its reason" bash -c "'$KAKURICTL' -s '$SOCK' log --json | jq -e '[.entries[] | select(.result|test(\"rejected: (replay|wrong-agent|expired|not-yet-valid|role|threshold|wrong-episode|bad-signature|too-large)\"))] | length >= 10'"
# SIGHUP re-reads trust.conf (and restarts the network child with it)
C1=$(sign carol isolate)
check "carol may not isolate yet: role" test "$(send_result "$C1")" = role
sed -i 's/roles = \[ "status" \]/roles = [ "status", "isolate" ]/' "$PKI/trust.conf"
CHILD=$(net_child); kill -HUP "$KPID"
check "SIGHUP restarts the network child" until_ok 20 channel_up "$CHILD"
check "after SIGHUP carol's new isolate role counts" test "$(send_result "$(sign carol isolate)")" = done
# a revocation that does not load: bob's key (stolen) taken out while
# release still needs two signers.  The keys in force must not stay, or
# bob's would go on counting: signed commands are off until it loads
cp "$PKI/trust.conf" "$WORK/trust.good"
REL=$(sign alice release --episode "$(status_field episode)")
"$KAKURICTL" cosign -k "$PKI/bob.key" "$REL" >/dev/null 2>&1
sed -i '/id = "bob"/d' "$PKI/trust.conf"
out=$("$KAKURID" -n -f "$POLICY" 2>&1); rc=$?
check "kakurid -n checks trust.conf too: the revocation that cannot load (exit 1)" test $rc -eq 1
check "... and says why" grep -q "release = 2 can never be met" <<<"$out"
sed "s|$PKI/bob.pub|$PKI/gone.pub|" "$WORK/trust.good" >"$WORK/trust.gone"
sed "s|$PKI/trust.conf|$WORK/trust.gone|" "$POLICY" >"$WORK/gone.conf"
out=$("$KAKURID" -n -f "$WORK/gone.conf" 2>&1); rc=$?
check "kakurid -n: a trust.conf naming a key file that is gone (exit 1)" test $rc -eq 1
check "... names it" grep -q "gone.pub" <<<"$out"
kill -HUP "$KPID"
trust_off() { "$KAKURICTL" -s "$SOCK" status --json | jq -e '.csirt_channel | test("can never be met")' >/dev/null; }
check "SIGHUP with it: signed commands are off, and status says why" until_ok 20 trust_off
check "... the network child is stopped" until_ok 20 bash -c "[ -z \"\$(pgrep -P $KPID -x kakurid-net)\" ]"
check "... a release signed by alice and the revoked bob, applied locally: refused" bash -c "! '$KAKURICTL' -s '$SOCK' apply '$REL' >/dev/null 2>&1"
check "... still isolated" test "$(status_field mode)" = isolated
check "... the refused reload is audited" bash -c "'$KAKURICTL' -s '$SOCK' log --json | jtrue '[.entries[] | select(.action == \"trust-reload\" and .result == \"refused\")] | length == 1'"
echo "keys = ( broken" >"$PKI/trust.conf"
kill -HUP "$KPID"
check "a broken trust.conf on SIGHUP: signed commands stay off" until_ok 20 bash -c "'$KAKURICTL' -s '$SOCK' status --json | jq -e '.csirt_channel | test(\"broken|syntax\")' >/dev/null"
cp "$WORK/trust.good" "$PKI/trust.conf"
kill -HUP "$KPID"
check "trust.conf whole again: the channel is back" until_ok 20 channel_up
check "... and serves signed commands" test "$(send_result "$(sign carol status)")" = done

# an install from before the TLS key: only agent.key and agent.crt
stop_kakurid -TERM
cp "$WORK/trust.good" "$PKI/trust.conf"
mkdir -p "$WORK/old-tls" && mv "$PKI/agent-tls.key" "$PKI/agent-tls.crt" "$WORK/old-tls/"
start_kakurid || fail "kakurid starts without agent-tls.*"
check "without agent-tls.* the channel is off and status says to run kakurid --init" \
	bash -c "'$KAKURICTL' -s '$SOCK' status --json | jq -e '.csirt_channel | test(\"^off: .*agent-tls.key.*kakurid --init\")'"
check "... and so does the log" grep -q "CSIRT channel off: .*agent-tls.key.*run kakurid --init" "$DLOG"
check "... while signed commands still work locally (kakurictl apply)" \
	bash -c "'$KAKURICTL' -s '$SOCK' apply --json '$(sign carol status)' | jq -e '.result == \"done\"'"
check "kakurid --init on it keeps the agent id" test "$(agent_init)" = "$AGENT_ID"
check "... and makes only the TLS pair" bash -c "[ -s '$PKI/agent-tls.key' ] && [ -s '$PKI/agent-tls.crt' ] && \
	! cmp -s '$PKI/agent-tls.key' '$WORK/old-tls/agent-tls.key'"
check "after --init the channel comes up by itself (the start is retried)" until_ok 20 channel_up
check "the retries said it once in the log" test "$(grep -c 'CSIRT channel off: .*agent-tls.key' "$DLOG")" -eq 1
check "and serves signed commands" test "$(send_result "$(sign carol status)")" = done

# the identity certificate, shown as the TLS chain, must carry the key that
# signs here: a coherent pair of another key (its certificate, and the TLS
# certificate issued by it) keeps the channel off, and says why
stop_kakurid -TERM
cp "$PKI/agent.crt" "$WORK/agent.crt.good" && cp "$PKI/agent-tls.crt" "$WORK/agent-tls.crt.good"
openssl genpkey -algorithm ed25519 -out "$WORK/other.key" 2>/dev/null &&
openssl req -x509 -new -key "$WORK/other.key" -subj "/CN=another host" -days 1 \
	-out "$PKI/agent.crt" 2>/dev/null &&
openssl req -new -key "$PKI/agent-tls.key" -subj "/CN=another host" -out "$WORK/tls.csr" 2>/dev/null &&
openssl x509 -req -in "$WORK/tls.csr" -CA "$PKI/agent.crt" -CAkey "$WORK/other.key" -days 1 \
	-out "$PKI/agent-tls.crt" 2>/dev/null || fail "another host's certificates are made"
start_kakurid || fail "kakurid starts with another key's certificates"
check "an identity certificate of another key: the channel is off, saying it does not carry the identity key" \
	until_ok 10 bash -c "'$KAKURICTL' -s '$SOCK' status --json | jq -e '.csirt_channel | test(\"^off: .*agent.crt does not carry the identity key\")' >/dev/null"
stop_kakurid -TERM
cp "$WORK/agent.crt.good" "$PKI/agent.crt" && cp "$WORK/agent-tls.crt.good" "$PKI/agent-tls.crt"
start_kakurid || fail "kakurid starts with its own certificates back"
check "... with its own back, the channel is up" until_ok 20 channel_up
check "... and serves signed commands" test "$(send_result "$(sign carol status)")" = done

# --- the receipt does not wait for the CSIRT's notice ---
# A release (or isolate) queues a notice for the CSIRT in the outbox, and
# that is written once the answer is on its way (run.c): with every fsync
# under the outbox held (syncfail.so's SYNCHOLD), the signed release's
# receipt still comes back, and the notice is there once the hold is
# lifted (fails on the old code: kakurid sat in the notice's fsync, and
# the send gave up without a receipt)
# (the hold only from the send on: kakurid's start writes the outbox's
# seq file, and a held start would answer nothing)
stop_kakurid -TERM
SYNCHOLD="$WORK/synchold" SYNCHOLD_UNDER="$STATE/outbox" LD_PRELOAD="$TOP/build/syncfail.so" \
	start_kakurid || fail "kakurid starts (syncfail.so)"
until_ok 20 channel_up
notices() { ls "$STATE"/outbox/*.dsse 2>/dev/null | wc -l; }
N0=$(notices)
check "isolated before the release whose notice is held" test "$(status_field mode)" = isolated
REL3=$(sign alice release --episode "$(status_field episode)")
"$KAKURICTL" cosign -k "$PKI/bob.key" "$REL3" 2>/dev/null
: >"$WORK/synchold"
send --timeout 10000 "$REL3" >"$WORK/held.json" 2>"$WORK/held.err"
check "the notice's fsync held: the release's receipt comes back all the same, done" \
	jq -e '.receipts[0].result == "done" and .receipts[0].action == "release"' "$WORK/held.json"
check "... and the notice is not in the outbox yet (the hold works)" test "$(notices)" -eq "$N0"
rm -f "$WORK/synchold"
check "the hold lifted: the release notice is in the outbox" until_ok 20 bash -c \
	"[ \$(ls '$STATE'/outbox/*.dsse 2>/dev/null | wc -l) -eq $((N0 + 1)) ]"
check "... open, and kakurid serves on" test "$(status_field mode)" = open
check "carol isolates again" test "$(send_result "$(sign carol isolate)")" = done
stop_kakurid -TERM
start_kakurid || fail "kakurid starts again (without syncfail.so)"
until_ok 20 channel_up

# --- kakurictl apply refusals are counted per interval, as the network's ---
# Any local user may apply, a few a second: one audit line (and a receipt
# signature) each rotated the incident's history out of the log in weeks.
echo '{"payloadType":"x","payload":"AA==","signatures":[]}' >"$WORK/junk.dsse"
N0=$(ctl log --json | jq '.entries | length')
for _ in 1 2 3 4 5; do "$KAKURICTL" -s "$SOCK" apply --json "$WORK/junk.dsse" >/dev/null 2>&1; done
applied_junk() { ctl log --json | jq --argjson n "$N0" '[.entries[$n:][] | select(.actor | test("^local")) | select(.result | test("^rejected"))]'; }
summarised() { applied_junk | jq -e 'any(.[]; .more == 4)' >/dev/null; }
check_within "five junk applies: one audit line, then one that counts the other four (within the 10 s interval)" 30 summarised
check "... and no more lines than those two (fails on the old code: five)" \
	test "$(applied_junk | jq 'length')" = 2

# --- each signed origin has a share of the refusal table ---
# kakurictl apply is anyone's, 5 an interval per user: 13 users applying
# 5 commands for another agent each fill the table with 65 refusals of
# distinct commands within one interval.  Two expired commands of the
# CSIRT's over the network in that interval are still audited in full,
# each with its command id (fails on the old code: the table full, the
# second counted under "various" only).
WA=()
for i in $(seq 1 65); do
	"$KAKURICTL" sign -k "$PKI/alice.key" --agent "$OTHER" --action status \
		-o "$WORK/wa$i.json" 2>/dev/null && WA+=("$WORK/wa$i.json")
done
now=$(date +%s)
EXP1=$(sign alice status --valid-from $((now - 2000)) --ttl 60)
EXP2=$(sign alice status --valid-from $((now - 2000)) --ttl 60)
cmd_id() { jq -r .payload "$1" | base64 -d | jq -r .id; }
check "65 commands for another agent and two expired ones signed" \
	bash -c "[ ${#WA[@]} -eq 65 ] && [ -s '$EXP1' ] && [ -s '$EXP2' ]"
chmod 0644 "${WA[@]}"
APS=()
for u in $(seq 0 12); do
	setpriv --reuid=$((43260 + u)) --regid=$((43260 + u)) --clear-groups \
		bash -c 'for f in "$@"; do "'"$KAKURICTL"'" -s "'"$SOCK"'" apply --json "$f" >/dev/null 2>&1; done' _ \
		"${WA[@]:$((u * 5)):5}" &
	APS+=($!); PIDS+=($!)
done
wait "${APS[@]}"
R1=$(send_result "$EXP1"); R2=$(send_result "$EXP2")
check "the two expired commands over the network: expired ($R1, $R2)" test "$R1/$R2" = expired/expired
full_audit() { audit_has ".result == \"rejected: expired\" and (.actor | test(\"^tls:\")) and .command == \"$(cmd_id "$1")\"" >/dev/null; }
check "... the first audited in full, with its command id" full_audit "$EXP1"
check "... and the second too, though local applies filled the table (fails on the old code)" full_audit "$EXP2"
check "the local applies past their share are counted under various" \
	until_ok 30 audit_has '.result == "rejected: various" and (.actor | test("^local")) and .more > 0'
check "audit chain verifies" ctl log
summary
[ "$FAILED" -eq 0 ]
