#!/usr/bin/env bash
# The CSIRT isolates and releases remotely: DSSE-signed commands over
# mutual TLS 1.3 from the CSIRT namespace, every rejection with its reason,
# the network child unprivileged and restartable, and the agent serving
# through garbage, oversized frames, slow senders and 200 idle connections.
. "$(dirname "$0")/lib.sh"
need
echo "== remote isolation and release (signed commands)"
topology || { fail "topology"; summary; exit 1; }
pki_setup || { fail "PKI setup"; summary; exit 1; }
write_policy "$(remote_agent_conf)" "$(remote_tls_conf)"
AGENT_ID=$(agent_init)
check "kakurid --init prints the agent id (64 hex)" grep -Eq '^[0-9a-f]{64}$' <<<"$AGENT_ID"
check "kakurictl agent-id of the certificate matches" test "$("$KAKURICTL" agent-id "$PKI/agent.crt")" = "$AGENT_ID"
check "agent.key is 0600" test "$(stat -c %a "$PKI/agent.key")" = 600
for a in "$NET4" "$NET6"; do serve "$NET" "$a" 8080; done
sleep 0.2
start_kakurid || { fail "kakurid starts"; summary; exit 1; }
for _ in $(seq 1 50); do [ "$(status_field csirt_channel)" = listening ] && break; sleep 0.05; done
check "the CSIRT channel is listening" test "$(status_field csirt_channel)" = listening

CHILD=$(pgrep -P "$KPID" | head -1)
check "the network child runs as agent.user (nobody)" test "$(stat -c %U /proc/$CHILD)" = nobody
check "the network child has no capabilities" grep -q "^CapEff:[[:space:]]*0000000000000000" /proc/$CHILD/status
check "the network child is under a seccomp filter" grep -q "^Seccomp:[[:space:]]*2" /proc/$CHILD/status
check "the network child has no netlink socket of the parent" bash -c "! ls -l /proc/$CHILD/fd | grep -q netlink"

ISO=$(sign alice isolate --incident IR-2026-0042 --reason "C2 beacon seen by proxy")
check "signed isolate: done (the receipt crosses the isolation on the same connection)" test "$(send_result "$ISO")" = done
check "isolated" test "$(status_field mode)" = isolated
refute "isolation proven: ep -> internet (IPv4) blocked" reach "$EP" tcp "$NET4" 8080
refute "isolation proven: ep -> internet (IPv6) blocked" reach "$EP" tcp "$NET6" 8080
EPISODE=$(status_field episode)
rec=$(send "$ISO" 2>/dev/null)
check "the same file again: replay" test "$(jq -r '.receipts[0].reason' <<<"$rec")" = replay
check "receipts are signed by the agent and verified by kakurictl" test "$(jq -r '.receipts[0].agent' <<<"$rec")" = "$AGENT_ID"
check "receipt carries timings" bash -c "jq -e '.receipts[0].timings.received' <<<'$rec'"
stop_kakurid -TERM; start_kakurid
for _ in $(seq 1 50); do [ "$(status_field csirt_channel)" = listening ] && break; sleep 0.05; done
check "replay is refused after a restart too" test "$(send_result "$ISO")" = replay

OTHER=$(printf '%064d' 7)
W=$("$KAKURICTL" sign -k "$PKI/alice.key" --agent "$OTHER" --action isolate -o "$WORK/w.json" 2>/dev/null && echo "$WORK/w.json")
check "another agent's id: wrong-agent" test "$(send_result "$W")" = wrong-agent
now=$(date +%s)
check "expired: expired" test "$(send_result "$(sign alice status --valid-from $((now - 2000)) --ttl 60)")" = expired
check "not yet valid: not-yet-valid" test "$(send_result "$(sign alice status --valid-from $((now + 2000)) --ttl 60)")" = not-yet-valid
check "a lifetime over the policy's maximum: lifetime" test "$(send_result "$(sign alice status --ttl 7200)")" = lifetime
check "a key without the role: role" test "$(send_result "$(sign carol isolate)")" = role
check "status with carol (status role): done" test "$(send_result "$(sign carol status)")" = done

REL=$(sign alice release --episode "$EPISODE")
check "release with one signature (release = 2): threshold" test "$(send_result "$REL")" = threshold
cp "$REL" "$WORK/twice.json"
"$KAKURICTL" cosign -k "$PKI/alice.key" "$WORK/twice.json" 2>/dev/null
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
for _ in $(seq 1 100); do grep -q ready "$WORK/idle.out" 2>/dev/null && break; sleep 0.05; done
check "200 idle connections are open" grep -q "ready 200" "$WORK/idle.out"
ip netns exec "$PEER" "$NETPROBE" garbage "$EP4" 7443
ip netns exec "$PEER" "$NETPROBE" slow "$EP4" 7443 20 &
PIDS+=($!)
big=$(printf '\xff\xff\xff\xff' | ip netns exec "$PEER" timeout 5 openssl s_client -quiet \
	-cert "$PKI/op-ca.crt" -key "$PKI/op-ca.key" -connect "$EP4:7443" 2>/dev/null | tail -c +5)
check "an oversized length prefix gets a signed too-large receipt" \
	bash -c "jq -r .payload <<<'$big' | base64 -d | jq -e '.reason == \"too-large\"'"
check "a bad client certificate (other CA) is refused in the handshake" \
	bash -c "! ip netns exec $PEER $KAKURICTL send --to [$EP6]:7443 --cert $PKI/op-rogue.crt --key $PKI/op-rogue.key --agent-id $AGENT_ID $(sign carol status) 2>/dev/null"
REL2=$(sign alice release --episode "$EPISODE")
"$KAKURICTL" cosign -k "$PKI/bob.key" "$REL2" 2>/dev/null
check "with 200 idle + garbage + slow connections a valid release is served" test "$(send_result "$REL2")" = done
check "released: open" test "$(status_field mode)" = open
check "released: traffic flows again (IPv4)" reach "$EP" tcp "$NET4" 8080
check "released: traffic flows again (IPv6)" reach "$EP" tcp "$NET6" 8080
check "handshake failures are logged" grep -q "handshake failed" "$DLOG"
kill "$IDLE" 2>/dev/null

# the network child dies: isolation is untouched, the parent restarts it
check "isolate again (egress via args.mode)" test "$(send_result "$(sign alice isolate --arg mode=egress)")" = done
check "args.mode=egress gives egress" test "$(status_field mode)" = egress
CHILD=$(pgrep -P "$KPID" | head -1)
kill -9 "$CHILD"
sleep 0.1
check "after the child died: still egress" test "$(status_field mode)" = egress
refute "after the child died: web still blocked" reach "$EP" tcp "$NET4" 443
for _ in $(seq 1 60); do [ "$(status_field csirt_channel)" = listening ] && break; sleep 0.05; done
NEWCHILD=$(pgrep -P "$KPID" | head -1)
check "the parent restarted the child" test -n "$NEWCHILD" -a "$NEWCHILD" != "$CHILD"
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
kill -HUP "$KPID"; sleep 0.5
for _ in $(seq 1 60); do [ "$(status_field csirt_channel)" = listening ] && break; sleep 0.05; done
check "after SIGHUP carol's new isolate role counts" test "$(send_result "$(sign carol isolate)")" = done
echo "keys = ( broken" >"$PKI/trust.conf"
kill -HUP "$KPID"; sleep 0.5
for _ in $(seq 1 60); do [ "$(status_field csirt_channel)" = listening ] && break; sleep 0.05; done
check "a broken trust.conf on SIGHUP keeps the old keys" test "$(send_result "$(sign carol status)")" = done
check "audit chain verifies" ctl log
summary
[ "$FAILED" -eq 0 ]
