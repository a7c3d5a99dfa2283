#!/usr/bin/env bash
# A hostile agent holds the CSIRT's kakurictl send: root on the infected
# PC owns the agent's keys and port, completes TLS as the agent would and
# then answers one byte every 0.5 s (dripagent), or drips the handshake
# itself.  --timeout bounds each step as a whole (the connection, each
# command and its receipt), not each read: the send gives up within its
# timeout, says the target is unreachable (exit 3), and a fan-out with as
# many drip agents as workers still reaches the honest agent behind them.
. "$(dirname "$0")/lib.sh"
need
DRIP="$TOP/build/dripagent"
need_built "$DRIP"
echo "== send: agents that answer one byte at a time"
remote_agent_up
HONEST="[$EP6]:7443"
check "an honest send: done" test "$(send_result "$(sign carol status)")" = done

# drip PORT MODE [IDKEY]: a dripagent posing as this agent (its TLS key
# and chain) on the CSIRT peer's 127.0.0.1:PORT for 120 s, far longer
# than any bounded send; what it saw in $WORK/drip-PORT.out
drip() {
	ip netns exec "$PEER" "$DRIP" 127.0.0.1 "$1" "$PKI/agent-tls.crt" "$PKI/agent-tls.key" \
		"$PKI/agent.crt" "$2" 120 "${@:3}" >"$WORK/drip-$1.out" 2>&1 &
	PIDS+=($!)
	until_ok 10 grep -q '^ready' "$WORK/drip-$1.out"
}

drip 7901 receipt || die "a drip agent starts"
drip 7902 receipt || die "a second drip agent starts"
drip 7903 handshake || die "a handshake drip agent starts"
CMD=$(sign carol status)

# the receipt, one byte every 0.5 s: the old send waited for the whole
# frame (hours), each byte well within the 1 s timeout of one read
send_bg one 1000 "$CMD" 127.0.0.1:7901
check "a send to an agent that drips its receipt ends within 10 s (timeout 1000 ms)" ended_within one 10
took one
check "... exit 3: the agent is unreachable" test "$(rc_of one)" = 3
check "... one JSON line: the target unreachable" \
	jq -e '.target == "127.0.0.1:7901" and .status == "unreachable"' "$WORK/one.out"
check "... one line on stderr naming the target" grep -q '^kakurictl: 127\.0\.0\.1:7901: .*no receipt' "$WORK/one.err"
check "... and the agent saw kakurictl hang up" until_ok 5 grep -q '^closed after' "$WORK/drip-7901.out"

# the handshake itself, one byte every 0.5 s
send_bg hs 1000 "$CMD" 127.0.0.1:7903
check "a send to an agent that drips its TLS handshake ends within 10 s" ended_within hs 10
took hs
check "... exit 3: unreachable" test "$(rc_of hs)" = 3
check "... saying no answer came within the timeout" \
	grep -q '^kakurictl: 127\.0\.0\.1:7903: TLS: no answer within 1000 ms' "$WORK/hs.err"

# as many drip agents as workers, listed first, the honest agent last
send_bg fan 1000 "$CMD" 127.0.0.1:7901 127.0.0.1:7902 "$HONEST"
check "a fan-out (2 workers) over 2 drip agents and an honest one ends within 10 s" ended_within fan 10
took fan
check "... exit 3: some target unreachable" test "$(rc_of fan)" = 3
check "... the honest agent's verified receipt: done" jq -se --arg t "$HONEST" --arg a "$AGENT_ID" \
	'[.[] | select(.target == $t and .status == "done" and .receipts[0].result == "done" and .receipts[0].agent == $a)] | length == 1' \
	"$WORK/fan.out"
check "... both drip agents unreachable" jq -se \
	'[.[] | select((.target == "127.0.0.1:7901" or .target == "127.0.0.1:7902") and .status == "unreachable")] | length == 2' \
	"$WORK/fan.out"

# root on the PC signs with the agent's identity key what it likes:
# answers no kakurid sends, each refused without the memory they ask for
drip 7904 bigframe "$PKI/agent.key" || die "a bigframe agent starts"
drip 7905 values "$PKI/agent.key" || die "a values agent starts"
drip 7906 nocommand "$PKI/agent.key" || die "a nocommand agent starts"
send_bg big 5000 "$CMD" 127.0.0.1:7904
check "an answer announcing 2 MiB (over the 1 MiB any kakurid sends): the send ends within 10 s" ended_within big 10
check "... refused at its header, exit 1, not waited for as a 24 MiB frame (fails on the old code)" \
	bash -c "[ \"\$(cat '$WORK/big.rc')\" = 1 ] && grep -q '^kakurictl: 127\.0\.0\.1:7904: .*the answer is over 1 MiB' '$WORK/big.err'"
send_bg val 5000 "$CMD" 127.0.0.1:7905
check "a signed receipt of the command whose output is 150,000 values: the send ends within 10 s" ended_within val 10
check "... refused before it is parsed, exit 1 (fails on the old code: done)" \
	bash -c "[ \"\$(cat '$WORK/val.rc')\" = 1 ] && grep -q '^kakurictl: 127\.0\.0\.1:7905: .*too many values in the receipt payload' '$WORK/val.err'"
check "... and the agent made it: its answer went out whole" until_ok 5 bash -c \
	"n=\$(sed -n 's/^closed after .* (\\([0-9]*\\) bytes)\$/\\1/p' '$WORK/drip-7905.out' | head -1); [ \"\${n:-0}\" -ge 450000 ]"
send_bg noc 5000 "$CMD" 127.0.0.1:7906
check "a signed receipt that names no command and says done" ended_within noc 10
check "... is not taken for the command's: exit 1 (fails on the old code: done)" \
	bash -c "[ \"\$(cat '$WORK/noc.rc')\" = 1 ] && grep -q '^kakurictl: 127\.0\.0\.1:7906: .*receipt names no command but says done' '$WORK/noc.err'"

# fetch from an agent that answers every chunk in time, 16 KiB in 1.75 s
# (--timeout 5 s; over a quarter of it, so the chunks stay that small):
# its 64 MiB would take 2 hours, 64 GiB years.  Each step alone is in
# time, so only a limit on the whole ends it.
drip 7907 fetchdrip "$PKI/agent.key" || die "a fetchdrip agent starts"
fetch_bg() {
	local name=$1
	shift
	rm -rf "$WORK/$name".* "$WORK/$name-dir"
	(
		ip netns exec "$PEER" "$KAKURICTL" fetch --to "127.0.0.1:${FETCH_PORT:-7907}" --cert "$PKI/op-ca.crt" \
			--key "$PKI/op-ca.key" --agent-id "$AGENT_ID" -k "$PKI/carol.key" --id IR-DRIP \
			-o "$WORK/$name-dir" --timeout 5 "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
		echo $! >"$WORK/$name.pid"
		wait $!
		echo $? >"$WORK/$name.rc"
	) &
	until_ok 5 test -s "$WORK/$name.pid" && PIDS+=("$(cat "$WORK/$name.pid")")
}
fetch_bg fdrip
check "a fetch from it gets the signed listing and asks for the core" until_ok 30 test -e "$WORK/fdrip-dir/core"
check "... and is still at it after 10 s: each chunk in time, no end in sight" \
	bash -c "sleep 10; kill -0 \$(cat '$WORK/fdrip.pid') && [ ! -s '$WORK/fdrip.rc' ]"
kill "$(cat "$WORK/fdrip.pid")" 2>/dev/null
fetch_bg fmax --max-time 8
check "with --max-time 8 it ends within 30 s" ended_within fmax 30
took fmax
check "... not before its 8 s" test "$(cat "$WORK/fmax.ms" 2>/dev/null || echo 0)" -ge 7000
check "... exit 3, saying --max-time ran out" \
	bash -c "[ \"\$(cat '$WORK/fmax.rc')\" = 3 ] && grep -q '^kakurictl: fetch: core: --max-time (8 s) ran out at offset [1-9]' '$WORK/fmax.err'"
[ "$FAILED" = 0 ] || sed 's/^/    /' "$WORK/fmax.err" | head -5
check "... what came is kept as core.partial, its length what came (zeros kept as holes), not as the core" \
	bash -c "o=\$(sed -n 's/.* at offset \\([1-9][0-9]*\\)\$/\\1/p' '$WORK/fmax.err'); [ -n \"\$o\" ] && [ \"\$(stat -c %s '$WORK/fmax-dir/core.partial')\" = \"\$o\" ] && [ ! -e '$WORK/fmax-dir/core' ]"

# the connection counts too: a handshake dripped for longer than
# --max-time, each byte well within --timeout
drip 7908 handshake || die "a second handshake drip agent starts"
FETCH_PORT=7908 fetch_bg fconn --max-time 3 --timeout 60
check "a fetch whose handshake drips: --max-time 3 ends it within 20 s (--timeout 60)" ended_within fconn 20
check "... exit 3, saying --max-time ran out while connecting" \
	bash -c "[ \"\$(cat '$WORK/fconn.rc')\" = 3 ] && grep -q '^kakurictl: fetch: 127.0.0.1:7908: --max-time (3 s) ran out while connecting' '$WORK/fconn.err'"
[ "$FAILED" = 0 ] || sed 's/^/    /' "$WORK/fconn.err" | head -3

check "after it all an honest send (default timeout): done" test "$(send_result "$(sign carol status)")" = done
summary
[ "$FAILED" -eq 0 ]
