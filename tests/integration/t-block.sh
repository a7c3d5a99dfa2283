#!/usr/bin/env bash
# IOC block lists (issue 12): a signed `block` puts an interval set and
# its rules in force in every mode (open, egress, isolated) on output,
# input and forward; 100,000 mixed IPv4/IPv6 CIDRs (generated here,
# deterministically) drop real packets to sampled blocked addresses and
# let through addresses just outside each sampled range; a new version
# replaces the old in one transaction (continuous probing of an address
# in both versions never gets through; one only in the old version
# passes afterwards); stale versions are refused; unblock needs the
# release threshold (one signature refused, two work); a restart and
# `kakurid --restore` in a fresh namespace put the lists back; hostile
# lists (/0, garbage, non-canonical CIDRs, a management peer, 10 million
# entries, a 17 MiB payload) are refused with the reason, nothing is
# half-applied and the agent keeps serving.
. "$(dirname "$0")/lib.sh"
need
echo "== block: IOC block lists at 100k scale"
topology || die topology
pki_setup || die "PKI setup"
block_trust
COL_ID=$("$KAKURICTL" agent-id "$PKI/op-ca.crt")
COL="$WORK/collected"
write_policy "$(remote_agent_conf)" "$(remote_tls_conf)
report: { collector = \"$PEER4:7444\"; collector_id = \"$COL_ID\"; };
blocklists: { log_group = 7; log_rate = \"10/second\"; report_interval = 2; };"
AGENT_ID=$(agent_init)
echo "$AGENT_ID" >"$WORK/agents"

# The blocked ranges live behind the "internet" host: ep routes them
# there, and net answers on the sampled addresses (and on the ones just
# outside them).
ip -n "$EP" route add 11.0.0.0/8 via "$NET4"
ip -n "$EP" -6 route add 2001:db8:100::/40 via "$NET6"
ip -n "$CT" route add 11.0.0.0/8 via 203.0.113.1 2>/dev/null
ip -n "$NET" route add 203.0.113.0/24 via "$EPN4" 2>/dev/null

. "$(dirname "$0")/blockgen.sh"
SAMPLES="0 1 777 12345 24999 49999"
for i in $SAMPLES; do
	ip -n "$NET" addr add "$(v4_of "$i" 5)/32" dev lo
	ip -n "$NET" addr add "$(v4_of "$i" 40)/32" dev lo
	ip -n "$NET" addr add "$(v6_of "$i" 0 5)/128" dev lo
	ip -n "$NET" addr add "$(v6_of "$i" 1 5)/128" dev lo
done
serve "$NET" :: 8080
check_within "the internet host answers on a sampled address before any block" 5 \
	reach "$EP" tcp "$(v4_of 0 5)" 8080

start_kakurid || die "kakurid starts"
check_within "the CSIRT channel is listening" 30 channel_up

block_cmd() {	# block_cmd FILE [more sign options]: a signed block with args FILE
	local f=$1; shift
	sign alice block --args "$f" "$@"
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# after FILE: the epoch second after FILE's iat, once the clock is past it.
# A command signed "after" FILE is signed with it as --valid-from: time(),
# which kakurictl signs with, trails date's clock by up to a tick, so a
# wait alone can give the next command the same iat.
after() {
	local iat
	iat=$(jq -r .payload "$1" | base64 -d | jq -r .iat)
	until_ok 5 bash -c "[ \$(date +%s) -gt $iat ]" || return 1
	echo $((iat + 1))
}
# the packets list SET's named counter counted (its drops on every hook)
drops() {
	ip netns exec "$EP" nft list counter inet kakuri "$1_drops" 2>/dev/null |
		awk '{ for (i = 1; i < NF; i++) if ($i == "packets") s += $(i + 1) } END { print s + 0 }'
}
blocked() { ! reach "$@" 300; }	# blocked NS tcp ADDR PORT: no echo in 300 ms
# send_probed FILE ADDR: sends FILE (a signed command) while ADDR is
# probed without a pause; $R gets its result, $LEAKS the probes that got
# through, $PROBES how many were made, $SEND_MS how long sending took
send_probed() {
	local f=$1 a=$2 t0
	: >"$WORK/leaks"; rm -f "$WORK/probe.stop"
	( end=$(( $(date +%s) + 30 )); n=0
	  while [ ! -e "$WORK/probe.stop" ] && [ "$(date +%s)" -lt "$end" ]; do
		ip netns exec "$EP" "$NETPROBE" tcp "$a" 8080 50 >/dev/null 2>&1 && date +%T.%N >>"$WORK/leaks"
		n=$((n + 1))
	  done; echo "$n" >"$WORK/probes" ) &
	local prober=$!
	PIDS+=("$prober")
	sleep 0.3
	t0=$(now_ms)
	R=$(send_result "$f")
	SEND_MS=$(( $(now_ms) - t0 ))
	sleep 0.3
	touch "$WORK/probe.stop"
	wait "$prober"
	LEAKS=$(wc -l <"$WORK/leaks") PROBES=$(cat "$WORK/probes")
	[ "$LEAKS" = 0 ] || echo "     leaks at: $(tr '\n' ' ' <"$WORK/leaks")"
}
# every sample: blocked addresses dropped, the ones just outside pass, from NS
samples_hold() {
	local ns=$1 i
	for i in $SAMPLES; do
		blocked "$ns" tcp "$(v4_of "$i" 5)" 8080 || return 1
		blocked "$ns" tcp "$(v6_of "$i" 0 5)" 8080 || return 1
		reach "$ns" tcp "$(v4_of "$i" 40)" 8080 || return 1
		reach "$ns" tcp "$(v6_of "$i" 1 5)" 8080 || return 1
	done
}

# --- 100,000 mixed CIDRs: four lists of 25,000, then one list of 100,000
# in a single command (over mutual TLS and by kakurictl apply) ---
for k in 0 1 2 3; do gen "ioc$k" 1 25000 $((k * 12500)) >"$WORK/ioc$k.json"; done
check "100,000 entries generated (50,000 IPv4, 50,000 IPv6)" \
	test "$(cat "$WORK"/ioc?.json | jq -s '[.[].addresses[]] | length')" = 100000
t0=$(now_ms)
ok=0
for k in 0 1 2 3; do
	F=$(block_cmd "$WORK/ioc$k.json") && [ "$(send_result "$F")" = done ] && ok=$((ok + 1))
done
t1=$(now_ms)
check "four signed block commands of 25,000 entries each are done ($((t1 - t0)) ms, signing included)" test "$ok" = 4
check "the kernel holds 50,000 IPv4 ranges in the four IPv4 sets" test "$(
	for k in 0 1 2 3; do ip netns exec "$EP" nft list set inet kakuri "ioc${k}_v1_4"; done | grep -o '/27' | wc -l)" = 50000
check "each list is on disk" test "$(ls "$STATE/blocklists" | grep -c '\.list$')" = 4
gen whole 1 100000 >"$WORK/whole.json"
F=$(block_cmd "$WORK/whole.json")
WHOLE_MB=$(( $(stat -c %s "$F") / 1048576 ))
check "one block command of 100,000 entries is a ${WHOLE_MB} MiB envelope (over the 1 MiB of other commands)" \
	test "$(stat -c %s "$F")" -gt 1048576
check "... sent whole over mutual TLS: done" test "$(send_result "$F")" = done
check "... the kernel holds its 50,000 IPv4 ranges in one set" \
	test "$(ip netns exec "$EP" nft list set inet kakuri whole_v1_4 | grep -o '/27' | wc -l)" = 50000
gen whole 2 100000 >"$WORK/whole2.json"
F=$(block_cmd "$WORK/whole2.json")
check "... its next version handed over locally by root (kakurictl apply): done" \
	eval 'ctl apply --json "$F" | jq -e ".result == \"done\"" >/dev/null && ip netns exec "$EP" nft list set inet kakuri whole_v2_4 >/dev/null'
F=$(sign alice unblock --arg set=whole) && "$KAKURICTL" cosign -k "$PKI/bob.key" -o "$F" "$F" 2>/dev/null
check "... and ended by a two-person unblock" test "$(send_result "$F")" = done

echo "-- open mode"
check "open: blocked samples dropped, addresses just outside pass (output, IPv4 + IPv6)" samples_hold "$EP"
check "open: the same for a container behind the host (forward)" samples_hold "$CT"
check "open: the list's counter counted the drops" test "$(drops ioc0)" -gt 0

echo "-- egress mode"
# a change of mode makes the table anew: nothing may get through meanwhile
send_probed "$(sign alice isolate --arg mode=egress)" "$(v4_of 777 5)"
check "isolate egress is done ($SEND_MS ms)" test "$R" = done
check "no probe of a blocked address got through while the mode changed ($PROBES probes)" \
	eval 'test "$LEAKS" = 0 && test "$PROBES" -gt 5'
check "egress: blocked samples dropped, addresses just outside pass (output)" samples_hold "$EP"
check "egress: the same for the container (forward)" samples_hold "$CT"

echo "-- isolated mode"
F=$(sign alice isolate --arg mode=isolated)
check "isolate is done" test "$(send_result "$F")" = done
EPISODE=$(status_field episode)
before=$(drops ioc0)
refute "isolated: a blocked sample is dropped" reach "$EP" tcp "$(v4_of 0 5)" 8080 300
check "isolated: the block list's rule dropped it (its counter, before the isolation's drop)" \
	test "$(drops ioc0)" -gt "$before"
check "isolated: the management channel still passes (a signed status over it)" \
	test "$(send_result "$(sign alice status)")" = done
F=$(sign alice release --episode "$EPISODE") && "$KAKURICTL" cosign -k "$PKI/bob.key" -o "$F" "$F" 2>/dev/null
send_probed "$F" "$(v4_of 777 5)"
check "release (two signatures) is done ($SEND_MS ms)" test "$R" = done
check "no probe of a blocked address got through while the host was released ($PROBES probes)" \
	eval 'test "$LEAKS" = 0 && test "$PROBES" -gt 5'
check "open again: the lists still hold" samples_hold "$EP"

echo "-- a new version replaces the old without a moment unenforced (its rules hold before the old sets go)"
BOTH=$(v4_of 60000 5) OLD=$(v4_of 60001 5) NEW=$(v4_of 60002 5)
for a in "$BOTH" "$OLD" "$NEW"; do ip -n "$NET" addr add "$a/32" dev lo; done
{ gen swap 1 20000 70000 | jq -c --arg b "$BOTH" --arg o "$OLD" '.addresses += [$b, $o]'; } >"$WORK/swap1.json"
{ gen swap 2 20000 80000 | jq -c --arg b "$BOTH" --arg n "$NEW" '.addresses += [$b, $n]'; } >"$WORK/swap2.json"
check "version 1 (20,002 entries) is done" test "$(send_result "$(block_cmd "$WORK/swap1.json")")" = done
check "version 1 drops the address in both versions and the one only in it" \
	eval 'blocked "$EP" tcp "$BOTH" 8080 && blocked "$EP" tcp "$OLD" 8080'
check "the address only in version 2 passes before it" reach "$EP" tcp "$NEW" 8080
# an unblock signed (and cosigned) while version 1 is in force, held back;
# version 2 is signed a second later at least
HELD=$(sign alice unblock --arg set=swap) && "$KAKURICTL" cosign -k "$PKI/bob.key" -o "$HELD" "$HELD" 2>/dev/null
V=$(after "$HELD") || die "the clock does not move"
F=$(block_cmd "$WORK/swap2.json" --valid-from "$V")
SWAP_DROPS=$(drops swap)
# probe the address in both versions without a pause while version 2 goes in
send_probed "$F" "$BOTH"
check "version 2 is done ($SEND_MS ms, sending included)" test "$R" = done
check "no probe of the address in both versions got through during the swap ($PROBES probes)" \
	eval 'test "$LEAKS" = 0 && test "$PROBES" -gt 5'
check "the list's named counter (swap_drops) kept counting across the swap ($SWAP_DROPS before)" \
	eval 'test "$SWAP_DROPS" -gt 0 && test "$(drops swap)" -gt "$SWAP_DROPS"'
check "the address only in the old version passes afterwards" reach "$EP" tcp "$OLD" 8080
check "the address only in the new version is dropped" blocked "$EP" tcp "$NEW" 8080
check "the old version's sets are gone, the new one's hold 10,002 IPv4 ranges" eval \
	'! ip netns exec "$EP" nft list set inet kakuri swap_v1_4 >/dev/null 2>&1 &&
	 test "$(ip netns exec "$EP" nft list set inet kakuri swap_v2_4 | grep -oE "[0-9]+(\.[0-9]+){3}" | wc -l)" = 10002'
check "version 1 again (a new command) is refused as stale" \
	test "$(send_result "$(block_cmd "$WORK/swap1.json")")" = stale
check "version 2 again is stale too" test "$(send_result "$(block_cmd "$WORK/swap2.json")")" = stale

check "the unblock held back, signed before version 2 (it names no version): stale (fails on the old code: done)" \
	test "$(send_result "$HELD")" = stale
check "... version 2 still holds" blocked "$EP" tcp "$NEW" 8080

echo "-- unblock needs the release threshold"
# a second copy of version 2, signed before the unblock and kept back
COPY=$(block_cmd "$WORK/swap2.json")
V=$(after "$COPY") || die "the clock does not move"
F=$(sign alice unblock --arg set=swap --valid-from "$V")
check "unblock with one signature is refused (threshold)" test "$(send_result "$F")" = threshold
check "the list still holds" blocked "$EP" tcp "$BOTH" 8080
"$KAKURICTL" cosign -k "$PKI/bob.key" -o "$F" "$F" 2>/dev/null
check "with a second signature it is done" test "$(send_result "$F")" = done
check "its addresses pass again" reach "$EP" tcp "$BOTH" 8080
check "its file is gone" test ! -e "$STATE/blocklists/swap.list"
check "a copy of version 2 signed before the unblock does not bring it back: stale (fails on the old code: done)" \
	test "$(send_result "$COPY")" = stale
check "... its addresses still pass" reach "$EP" tcp "$BOTH" 8080
F=$(sign alice unblock --arg set=swap) && "$KAKURICTL" cosign -k "$PKI/bob.key" -o "$F" "$F" 2>/dev/null
check "unblock of a list not in force: unknown-set" test "$(send_result "$F")" = unknown-set
check "a local unblock without a signature is refused" eval '! ctl unblock 2>/dev/null'
# an unblock naming the version it ends, signed before that version was
# (a signer whose clock is behind): the version it names is in force, done
SKEW=$(sign alice unblock --arg set=skew --arg version:=1) && "$KAKURICTL" cosign -k "$PKI/bob.key" -o "$SKEW" "$SKEW" 2>/dev/null
jq -nc '{set: "skew", version: 1, addresses: ["11.210.0.0/16"]}' >"$WORK/skew.json"
V=$(after "$SKEW") || die "the clock does not move"
check "a list skew v1: done" test "$(send_result "$(block_cmd "$WORK/skew.json" --valid-from "$V")")" = done
check "... ended by an unblock naming version 1, signed before it (fails on the first version: stale)" \
	test "$(send_result "$SKEW")" = done

echo "-- hostile lists are refused whole, with the reason"
hostile() {	# hostile NAME REASON-PATTERN ADDRESS...: refused, nothing applied
	local name=$1 pat=$2 out; shift 2
	jq -nc --arg s "$name" '{set: $s, version: 1, addresses: ($ARGS.positional)}' --args "11.200.0.0/16" "$@" >"$WORK/h.json"
	out=$(send "$(block_cmd "$WORK/h.json")" 2>/dev/null | jq -r '.receipts[0] | "\(.reason) \(.detail)"')
	echo "     $name: $out"
	grep -Eq -- "$pat" <<<"$out" && ! ip netns exec "$EP" nft list set inet kakuri "${name}_v1_4" >/dev/null 2>&1
}
check "a /0 (IPv4) is refused and named" hostile h1 '^malformed entry 1 \(0\.0\.0\.0/0\): a /0' 0.0.0.0/0
check "a /0 (IPv6) is refused and named" hostile h2 '^malformed entry 2 \(::/0\)' 2001:db8::/32 ::/0
check "garbage is refused and named" hostile h3 '^malformed entry 1 \(evil\.example\)' evil.example
check "a CIDR with host bits set is refused and named" hostile h4 '^malformed entry 1 \(11\.0\.0\.1/24\): not a CIDR' 11.0.0.1/24
check "a range the wrong way round is refused" hostile h5 '^malformed entry 1 .*after its last' 11.0.0.9-11.0.0.1
check "a management peer in a list is refused (it would cut the CSIRT channel)" hostile h6 '^malformed .*management peer 192\.0\.2\.10' 192.0.2.0/24
check "ranges covering every IPv4 address are refused" hostile h7 'every IPv4' 0.0.0.0/1 128.0.0.0/1
check "IPv6 multicast (a bogon feed's ff00::/8) is refused: neighbour discovery, the way to the CSIRT (fails on the old code)" \
	hostile h9 '^malformed .*multicast ff00::/8 \(neighbour discovery\)' 2001:db8:bad::/48 ff00::/8
check "IPv6 link-local is refused" hostile h10 '^malformed .*link-local fe80::/10' fe80::/10
check "loopback is refused" hostile h11 '^malformed .*loopback 127\.0\.0\.0/8' 127.0.0.0/8
jq -nc '{set: "h8", version: 1, addresses: ["11.200.0.0/16", "11.200.1.0/24", "11.200.1.7", "11.200.0.0-11.201.0.255", "11.201.1.0/24"]}' >"$WORK/h8.json"
check "overlaps, duplicates, contained and adjacent entries are merged, not refused" \
	test "$(send "$(block_cmd "$WORK/h8.json")" 2>/dev/null | jq -r '.receipts[0] | "\(.result) \(.output.entries) \(.output.ranges)"')" = "done 5 1"
check "the merged list is one range in the kernel" eval \
	'ip netns exec "$EP" nft list set inet kakuri h8_v1_4 | grep -q "11.200.0.0-11.201.1.255"'
awk 'BEGIN { printf "{\"set\":\"huge\",\"version\":1,\"addresses\":["; for (i = 0; i < 10000000; i++) printf "%s\"%d.%d.%d.%d\"", (i ? "," : ""), 12 + int(i / 16777216), int(i / 65536) % 256, int(i / 256) % 256, i % 256; printf "]}" }' >"$WORK/huge.json"
check "10 million entries: kakurictl sign refuses the file clearly" eval \
	'! "$KAKURICTL" sign -k "$PKI/alice.key" --agent "$AGENT_ID" --action block --args "$WORK/huge.json" -o "$WORK/huge.dsse" 2>"$WORK/huge.err" && grep -q "larger than 32 MiB" "$WORK/huge.err"'
head -c 17000000 "$WORK/huge.json" | sed 's/,"[0-9.]*$//' >"$WORK/big.json"; echo ']}' >>"$WORK/big.json"
rm -f "$WORK/huge.json"
F=$(block_cmd "$WORK/big.json")
check "a 17 MiB payload is signed (the operator's tool does not decide)" test -s "$F"
R=$(send_result "$F")
echo "     17 MiB: ${R:-no receipt}"
check "a 17 MiB payload is refused, nothing applied" eval \
	'[ "$R" != done ] && ! ip netns exec "$EP" nft list set inet kakuri huge_v1_4 >/dev/null 2>&1'
check "the agent keeps serving (status over the channel, and locally)" eval \
	'test "$(send_result "$(sign alice status)")" = done && ctl status >/dev/null'
check "the lists in force are untouched" samples_hold "$EP"

echo "-- who tried: a blocked connection by a test user arrives as a blocked report"
collector || die "the collector starts"
NOBODY_UID=$(id -u nobody)
TRIED=$(v4_of 12345 5)
refute "user nobody's connection to a blocked address is dropped" \
	ip netns exec "$EP" setpriv "${NOBODY_ID[@]}" "$NETPROBE" tcp "$TRIED" 8080 300
blocked_report() {	# blocked_report [SET]: a stored "blocked" report of SET (ioc0)
	# names $TRIED, port 8080, TCP, nobody's uid
	local f set=${1:-ioc0}
	for f in "$COL/$AGENT_ID"/*.json; do
		[ -e "$f" ] || continue
		jq -r .payload "$f" | base64 -d | jq -e --arg a "$TRIED" --argjson u "$NOBODY_UID" --arg s "$set" \
			'.type == "blocked" and .body.set == $s and .body.version == 1 and
			 any(.body.hits[]; .destination == $a and .port == 8080 and .protocol == 6 and
			     .uid == $u and .count >= 1 and (.first_seen | length) > 0)' >/dev/null && return 0
	done
	return 1
}
check_within "the blocked report reaches the collector with the address, port, protocol and uid" 30 blocked_report
# another log group by a reload: the blocked reports go on from it
sed -i 's/log_group = 7;/log_group = 9;/' "$POLICY"
reloads() { ctl log -n 0 --json | jq '[.entries[] | select(.action == "policy-reload" and .result == "applied")] | length'; }
reloaded() { [ "$(reloads)" -gt "$1" ]; }
n=$(reloads)
kill -HUP "$KPID"
check_within "a reload moves blocklists.log_group to 9" 10 reloaded "$n"
TRIED=$(v4_of 24999 5)	# in ioc1, tried as nobody for the first time
refute "user nobody's connection to another blocked address is dropped" \
	ip netns exec "$EP" setpriv "${NOBODY_ID[@]}" "$NETPROBE" tcp "$TRIED" 8080 300
check_within "... and its blocked report comes from the new group" 30 blocked_report ioc1
ioc0_counted() { ctl status --json | jq -e '[.blocklists[] | select(.set == "ioc0" and .packets >= 1)] | length == 1'; }
check "status shows the list's own drop counter, counting that attempt" ioc0_counted
check "kakurictl status prints the list with its counter" \
	bash -c "'$KAKURICTL' -s '$SOCK' status | grep -Eq '^block list: +ioc0 v1, [0-9]+ ranges, [1-9][0-9]* pkts'"
local_block() { printf '%s' '{"cmd":"block","set":"x","version":1,"addresses":["192.0.2.99"]}' >"$WORK/lb.json"; raw_request "$WORK/lb.json" | jq -e '.error == "signature-required"'; }
check "a local block request needs a CSIRT signature" local_block

echo "-- who tried from outside: a list of direction in names the listed host, not this one"
# the listed host: an address of the internet host, the source of what
# it sends to the endpoint (a route's preferred source)
INB=198.51.100.77
ip -n "$NET" addr add "$INB/32" dev to-ep
ip -n "$NET" route add "$EPN4/32" dev to-ep src "$INB"
serve "$EP" "$EPN4" 2222
jq -nc --arg a "$INB" '{set: "inb", version: 1, addresses: [$a], direction: "in"}' >"$WORK/inb.json"
check "a list of direction in is done" test "$(send_result "$(block_cmd "$WORK/inb.json")")" = done
refute "the listed host's connection to the endpoint's port 2222 is dropped" \
	reach "$NET" tcp "$EPN4" 2222 300
check "... by the list (its counter)" test "$(drops inb)" -gt 0
inbound_report() {	# a stored "blocked" report of inb names $INB as the source, port 2222
	local f
	for f in "$COL/$AGENT_ID"/*.json; do
		[ -e "$f" ] || continue
		jq -r .payload "$f" | base64 -d | jq -e --arg a "$INB" \
			'.type == "blocked" and .body.set == "inb" and
			 any(.body.hits[]; .direction == "in" and .source == $a and
			     .destination == null and .port == 2222 and .protocol == 6 and .count >= 1)' >/dev/null && return 0
	done
	return 1
}
check_within "the blocked report names the listed host ($INB) as the source and the endpoint's port it tried" 30 inbound_report
own_address_reported() {	# any inb hit naming the endpoint's own address
	cat "$COL/$AGENT_ID"/*.json 2>/dev/null | jq -r .payload | base64 -d 2>/dev/null |
		jq -e --arg e "$EPN4" 'select(.type == "blocked" and .body.set == "inb") |
			any(.body.hits[]; .destination == $e or .source == $e)' 2>/dev/null | grep -q true
}
refute "no report names the endpoint's own address ($EPN4) for the list's hits" own_address_reported
F=$(sign alice unblock --arg set=inb) && "$KAKURICTL" cosign -k "$PKI/bob.key" -o "$F" "$F" 2>/dev/null
check "... the list is ended again" test "$(send_result "$F")" = done
ip -n "$NET" route del "$EPN4/32" dev to-ep src "$INB"

echo "-- a live drill's table carries no copy of the lists (the real table keeps enforcing them)"
printf '%s' '{"cmd":"drill","action":"start","kind":"live","duration":30}' >"$WORK/drill.json"
raw_request "$WORK/drill.json" >"$WORK/drill.out"
check "a live drill starts with 100,000+ ranges in force" jtrue .ok <"$WORK/drill.out"
ip netns exec "$EP" nft list table inet kakuri_drill >"$WORK/drill.nft" 2>/dev/null
echo "     the drill table's sets: $(grep -E '^\s*set ' "$WORK/drill.nft" | awk '{ print $2 }' | tr '\n' ' ')"
check "the drill table has its gate and no IOC set, counter or block rule" eval \
	'grep -qE "^\s*set drill_gate " "$WORK/drill.nft" &&
	 ! grep -qE "_v[0-9]+_[46]|_drops|kakuri:" "$WORK/drill.nft"'
check "the lists hold during the drill (kakurid's own table)" blocked "$EP" tcp "$(v4_of 0 5)" 8080
printf '%s' '{"cmd":"drill","action":"stop"}' >"$WORK/drill.json"
raw_request "$WORK/drill.json" >/dev/null
printf '%s' '{"cmd":"drill-history","limit":1}' >"$WORK/drill.json"
drill_over() { raw_request "$WORK/drill.json" | jq -e '.drills[0].end == "stop"' >/dev/null; }
check_within "the drill ends at its stop" 10 drill_over
check "its table was verified ($(raw_request "$WORK/drill.json" | jq -r '.drills[0].timings_ms | "committed \(.committed) ms, verified \(.verified) ms"'))" \
	eval 'raw_request "$WORK/drill.json" | jq -e ".drills[0].timings_ms.verified != null" >/dev/null'

# the monitor is out of the event group for each of kakurid's batches
# (nft/send.c): none of them, 100,000 elements or not, in any mode, is
# counted as a commit of another process's
check "no batch of kakurid's own was counted as another's commit (status commits_unseen 0)" \
	test "$(status_field commits_unseen)" = 0
echo "-- restart and boot restore put the lists back"
stop_kakurid -TERM
start_kakurid || die "kakurid starts again"
check "after a restart the lists hold" samples_hold "$EP"
check "after a restart the version 1 sets are adopted (ioc0_v1_4 in the kernel)" \
	eval 'ip netns exec "$EP" nft list set inet kakuri ioc0_v1_4 >/dev/null'
stop_kakurid -TERM
# a fresh namespace, as at boot: no table at all
FRESH="${P}-fresh"
addns "$FRESH" || die namespace
ip -n "$FRESH" link add to-net type veth peer name to-fresh netns "$NET"
ip -n "$FRESH" addr add 198.51.101.2/24 dev to-net
ip -n "$NET" addr add 198.51.101.20/24 dev to-fresh
ip -n "$FRESH" link set to-net up; ip -n "$NET" link set to-fresh up
ip -n "$FRESH" route add 11.0.0.0/8 via 198.51.101.20
ip -n "$NET" route add 198.51.101.0/24 dev to-fresh 2>/dev/null
check_within "the fresh namespace reaches a sampled blocked address before the restore" 5 \
	reach "$FRESH" tcp "$(v4_of 777 5)" 8080
t0=$(now_ms)
ip netns exec "$FRESH" "$KAKURID" --restore -f "$POLICY" >>"$DLOG" 2>&1
rc=$?
t1=$(now_ms)
check "kakurid --restore in a fresh namespace succeeds ($((t1 - t0)) ms for 100,000+ entries)" test "$rc" = 0
check "after --restore a sampled blocked address is dropped" blocked "$FRESH" tcp "$(v4_of 777 5)" 8080
check "... and the address just outside it passes" reach "$FRESH" tcp "$(v4_of 777 40)" 8080
check "... with every list's sets in the table" test "$(ip netns exec "$FRESH" nft list table inet kakuri | grep -c 'set ioc[0-3]_v1_[46] ')" = 8
echo "x" >"$STATE/blocklists/ioc3.list"
start_kakurid || die "kakurid starts with a damaged list file"
check "a damaged list file is set aside and named, the other lists hold" eval \
	'test -e "$STATE/blocklists/ioc3.list.bad" && grep -q "do not load.*ioc3" "$DLOG" &&
	 ip netns exec "$EP" nft list set inet kakuri ioc0_v1_4 >/dev/null &&
	 ! ip netns exec "$EP" nft list set inet kakuri ioc3_v1_4 >/dev/null 2>&1'
unreadable_report() {
	local f
	for f in "$COL/$AGENT_ID"/*.json; do
		[ -e "$f" ] || continue
		jq -r .payload "$f" | base64 -d | jq -e '.type == "tamper" and
			.body.result == "blocklist-unreadable" and .body.set == "ioc3"' >/dev/null && return 0
	done
	return 1
}
check_within "... and the CSIRT is told: a tamper report naming it reaches the collector (fails on the old code)" 30 unreadable_report
summary
[ "$FAILED" -eq 0 ]
