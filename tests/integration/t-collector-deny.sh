#!/usr/bin/env bash
# kakurictl collector --deny: a PC stolen, or retired, keeps the identity
# the CSIRT's CA certified, and with --ca every identity the CA made is an
# agent.  A list of denied agent ids refuses it, in CA mode and with
# --agents alike, over mutual TLS (told why in one answer after the
# handshake, then closed, nothing stored); its other agents report as before.
. "$(dirname "$0")/lib.sh"
need
B="$TOP/build"
need_built "$B/floodagent"
echo "== collector --deny: an agent the CA certified, refused"
collector_agent
mkdir -p "$COL"
trap 'collector_stop; cleanup' EXIT
collector_agent_b

# agent c: an identity the test CSIRT's CA certified (CA mode)
other_agent_policy "$WORK/c"
C_ID=$(agent_ca_init "$WORK/c" "$WORK/c/p.conf")
check "an agent identity certified by the CA (c)" grep -Eq '^[0-9a-f]{64}$' <<<"$C_ID"
cat "$WORK/c/agent-tls.crt" "$WORK/c/agent.crt" >"$WORK/c-chain.pem"
# flood_c COUNT: agent c's reports, its line on stdout
flood_c() {
	ip netns exec "$PEER" timeout 20 "$B/floodagent" "$PEER4:7444" "$COL_ID" \
		"$WORK/c-chain.pem" "$WORK/c/agent-tls.key" "$WORK/c/agent.key" "$1" 2000 2>&1
}
stored_of() { ls "$COL/$1" 2>/dev/null | grep -c '\.json$'; }
# collector_with ARGS...: lib.sh's collector, with ARGS in place of --agents
collector_with() {
	: >"$WORK/col.out"
	ip netns exec "$PEER" "$KAKURICTL" collector --listen "[::]:7444" \
		--dir "$COL" --cert "$PKI/op-ca.crt" --key "$PKI/op-ca.key" \
		"$@" >>"$WORK/col.out" 2>>"$WORK/col.err" &
	COLPID=$!
	PIDS+=($COLPID)
	until_ok 10 grep -q listening "$WORK/col.out"
}

# --- CA mode ---
collector_with --ca "$PKI/ca.pem" || die "the collector starts with --ca"
flood_c 1 >"$WORK/c1.out"
check "with --ca, agent c (certified) reports: acked" grep -q '^acked 1 refused 0' "$WORK/c1.out"
collector_stop
printf '# stolen 2026-12-06\n%s\n' "$C_ID" >"$WORK/deny"
collector_with --ca "$PKI/ca.pem" --deny "$WORK/deny" || die "the collector starts with --ca and --deny"
flood_c 1 >"$WORK/c2.out"
echo "  (denied: $(tr '\n' ' ' <"$WORK/c2.out"))"
check "with --deny naming it, agent c is refused" \
	bash -c "! grep -q '^acked 1' '$WORK/c2.out'"
check "... the collector says so, naming it" grep -q "agent ${C_ID:0:16}: agent denied (--deny)" "$WORK/col.err"
check "... and tells the agent why, in words: not-authorized (fails on the old code: only a close)" \
	grep -q '^acked 0 refused 1 not-authorized' "$WORK/c2.out"
check "... nothing more of it is stored" test "$(stored_of "$C_ID")" = 1
collector_stop

# --- --agents mode, the same list ---
echo "$C_ID" >>"$WORK/agents"
printf '%s\n' "$B_ID" >"$WORK/deny"
printf '%064d\n' 7 >"$WORK/deny2"
collector --deny "$WORK/deny" --deny "$WORK/deny2" || die "the collector starts with --agents and two --deny"
flood b 1 2000 >"$WORK/b.out" 2>&1
check "with --agents, agent b listed and denied by the first of two --deny files: refused" bash -c "! grep -q '^acked 1' '$WORK/b.out'"
check "... for being denied, as the collector says" grep -q "agent ${B_ID:0:16}: agent denied (--deny)" "$WORK/col.err"
check "... and as it tells the agent" grep -q '^acked 0 refused 1 not-authorized' "$WORK/b.out"
check "... and nothing of it stored" test "$(stored_of "$B_ID")" = 0
flood a 1 2000 >"$WORK/a.out"
check "... agent a, listed and not denied, reports: acked" grep -q '^acked 1 refused 0' "$WORK/a.out"
flood_c 1 >"$WORK/c3.out"
check "... agent c, listed and no longer denied: acked" grep -q '^acked 1 refused 0' "$WORK/c3.out"

# --- a list that is not one: refused at start, one line ---
printf 'not-an-id\n' >"$WORK/deny"
ip netns exec "$PEER" "$KAKURICTL" collector --listen "[::1]:7999" --dir "$COL" --cert "$PKI/op-ca.crt" \
	--key "$PKI/op-ca.key" --agents "$WORK/agents" --deny "$WORK/deny" \
	>"$WORK/bad.out" 2>"$WORK/bad.err" </dev/null
rc=$?
check "a --deny file that is not a list of agent ids: the collector does not start ($rc), saying which line" \
	bash -c "[ $rc -ne 0 ] && grep -q \"'not-an-id' is not an agent id\" '$WORK/bad.err'"
check "the collector served throughout" kill -0 "$COLPID"
summary
[ "$FAILED" -eq 0 ]
