#!/usr/bin/env bash
# Group commands (issue 13, item 2; DESIGN 9): one signed command names a
# fleet group instead of an agent, and each agent takes it only for a
# group of its own policy.  Three agents, each in its own namespace on one
# LAN with the CSIRT and an "internet" host: two in group tokyo, one in
# osaka.  One group isolate sent directly to all three isolates the tokyo
# agents (probes to the internet host fail, IPv4 and IPv6) while the osaka
# agent refuses it (wrong-agent) and stays open; the receipts name the
# agent that answered and the group; the same envelope again is a replay
# on each tokyo agent (each has its own replay store).  A release for the
# group needs two signatures, and still names an episode: each agent has
# its own, so a release ends the isolation only where its episode is the
# current one.
. "$(dirname "$0")/lib.sh"
need
echo "== group commands: one signed command for the agents of a group"

# the LAN: a bridge in the internet host's namespace; the CSIRT and the
# agents each hang on it by a veth pair
HUB="${P}-hub"
HUB4=192.0.2.20 HUB6=2001:db8:1::20
NAMES=(a1 a2 a3)
GROUPS_OF=(tokyo tokyo osaka)
ADDR4=(192.0.2.2 192.0.2.3 192.0.2.4)
ADDR6=(2001:db8:1::2 2001:db8:1::3 2001:db8:1::4)
# on_lan NS IF ADDR4 ADDR6: NS joins the bridge through IF
on_lan() {
	ip -n "$1" link add "$2" type veth peer name "p-$2" netns "$HUB" &&
	ip -n "$HUB" link set "p-$2" master br0 up &&
	ip -n "$1" addr add "$3/24" dev "$2" &&
	ip -n "$1" addr add "$4/64" dev "$2" nodad &&
	ip -n "$1" link set "$2" up
}
lan() {
	local i
	addns "$HUB" && addns "$PEER" || return 1
	ip -n "$HUB" link add br0 type bridge &&
	ip -n "$HUB" addr add "$HUB4/24" dev br0 &&
	ip -n "$HUB" addr add "$HUB6/64" dev br0 nodad &&
	ip -n "$HUB" link set br0 up || return 1
	on_lan "$PEER" csirt "$PEER4" "$PEER6" || return 1
	for i in 0 1 2; do
		addns "${P}-${NAMES[$i]}" &&
		on_lan "${P}-${NAMES[$i]}" "${NAMES[$i]}" "${ADDR4[$i]}" "${ADDR6[$i]}" ||
			return 1
	done
}
lan || die "the LAN of three agents"
pki_setup || die "PKI setup"

# each agent: its own directory, policy (its fleet.groups), identity, state
declare -a DIR AGENT KPID_OF
for i in 0 1 2; do
	DIR[i]="$WORK/${NAMES[$i]}"
	mkdir -p "${DIR[$i]}"
	cat >"${DIR[$i]}/kakuri.conf" <<EOF
agent: { state_dir = "${DIR[$i]}/state"; control_socket = "${DIR[$i]}/control.sock";
  staff_group = "users"; user = "nobody";
  listen = "[::]:7443"; key = "${DIR[$i]}/agent.key"; cert = "${DIR[$i]}/agent.crt";
  trust = "$PKI/trust.conf"; };
tls: { client_ca = "$PKI/ca.pem"; };
management: { peers = [ "$PEER4", "$PEER6" ]; ports = [ 7443 ]; };
fleet: { groups = [ "${GROUPS_OF[$i]}", "all-pcs" ]; };
EOF
	chmod 0600 "${DIR[$i]}/kakuri.conf"
	AGENT[i]=$("$KAKURID" --init -f "${DIR[$i]}/kakuri.conf" 2>/dev/null)
done
check "three agents, three ids" bash -c "printf '%s\n' ${AGENT[*]} | grep -Ec '^[0-9a-f]{64}$' | grep -qx 3"
check "the policies check (fleet.groups without a broker)" "$KAKURID" -n -f "${DIR[0]}/kakuri.conf"

actl() { "$KAKURICTL" -s "${DIR[$1]}/control.sock" "${@:2}"; }
amode() { actl "$1" status --json | jq -r .mode; }
achannel() { [ "$(actl "$1" status --json | jq -r .csirt_channel)" = listening ]; }
for i in 0 1 2; do
	ip netns exec "${P}-${NAMES[$i]}" "$KAKURID" -d -f "${DIR[$i]}/kakuri.conf" \
		>>"$WORK/${NAMES[$i]}.log" 2>&1 &
	KPID_OF[i]=$!
	PIDS+=("$!")
done
for i in 0 1 2; do
	check_within "agent ${NAMES[$i]} (${GROUPS_OF[$i]}): CSIRT channel listening" 20 achannel "$i"
done

for a in "$HUB4" "$HUB6"; do serve "$HUB" "$a" 8080; done
# reach_from I ADDR: agent I's namespace reaches the internet host
reach_from() { reach "${P}-${NAMES[$1]}" tcp "$2" 8080 "${3:-700}"; }
for i in 0 1 2; do
	check_within "${NAMES[$i]} reaches the internet host before (IPv4)" 5 reach_from "$i" "$HUB4"
	check_within "${NAMES[$i]} reaches the internet host before (IPv6)" 5 reach_from "$i" "$HUB6"
done

# --- signing for a group ---
"$KAKURICTL" sign -k "$PKI/alice.key" --agent "${AGENT[0]}" --group tokyo --action isolate \
	-o "$WORK/both.json" >/dev/null 2>"$WORK/both.err"; rc=$?
check "sign with --agent and --group: usage error (exit 2)" test $rc -eq 2
check "... one line saying they exclude each other, nothing written" \
	bash -c "grep -q '^kakurictl: sign: --agent and --group exclude each other$' '$WORK/both.err' && [ ! -e '$WORK/both.json' ]"
"$KAKURICTL" sign -k "$PKI/alice.key" --group Tokyo/1 --action isolate -o "$WORK/bad.json" \
	>/dev/null 2>"$WORK/badname.err"; rc=$?
check "sign --group with a name that is no topic level: usage error (exit 2)" \
	bash -c "[ $rc -eq 2 ] && grep -q '^kakurictl: invalid command: group must start with a-z or 0-9' '$WORK/badname.err'"
ISO="$WORK/iso-tokyo.json"
"$KAKURICTL" sign -k "$PKI/alice.key" --group tokyo --action isolate --incident IR-2026-0713 \
	--reason "campaign seen at the Tokyo office" -o "$ISO" 2>/dev/null
check "sign --group tokyo: the payload names the group and no agent" \
	bash -c "jq -r .payload '$ISO' | base64 -d | jq -e '.group == \"tokyo\" and (has(\"agent\") | not)'"

# --- one send, three agents: each pinned by the id its certificate shows ---
for i in 0 1 2; do printf '[%s]:7443 %s\n' "${ADDR6[$i]}" "${AGENT[$i]}"; done >"$WORK/targets"
gsend() {
	ip netns exec "$PEER" "$KAKURICTL" send --json --cert "$PKI/op-ca.crt" --key "$PKI/op-ca.key" \
		--targets "$WORK/targets" "$@"
}
# receipt OUT I FILTER: agent I's first receipt in OUT satisfies FILTER
receipt() {
	jq -s -e --arg t "[${ADDR6[$2]}]:7443" "[.[] | select(.target == \$t)] | length == 1 and
		(.[0].receipts | length == 1) and (.[0].receipts[0] | $3)" "$1"
}
gsend "$ISO" >"$WORK/iso.out" 2>"$WORK/iso.err"; rc=$?
check "the group isolate to all three: exit 1 (one agent refused)" test $rc -eq 1
check "... one JSON line per agent" jq -s -e 'length == 3' "$WORK/iso.out"
for i in 0 1; do
	check "${NAMES[$i]} (tokyo): done, the receipt naming this agent and the group" \
		receipt "$WORK/iso.out" "$i" ".result == \"done\" and .agent == \"${AGENT[$i]}\" and .group == \"tokyo\" and .mode == \"isolated\""
done
check "a3 (osaka): refused wrong-agent, the receipt naming a3 and the group" \
	receipt "$WORK/iso.out" 2 ".result == \"rejected\" and .reason == \"wrong-agent\" and .agent == \"${AGENT[2]}\" and .group == \"tokyo\""
check "... its detail names the group it is not in" \
	receipt "$WORK/iso.out" 2 '.detail | test("group tokyo, which this agent is not in")'
for i in 0 1; do
	check "${NAMES[$i]} is isolated" test "$(amode "$i")" = isolated
	refute "${NAMES[$i]} isolated: the internet host cannot be reached (IPv4)" reach_from "$i" "$HUB4"
	refute "${NAMES[$i]} isolated: the internet host cannot be reached (IPv6)" reach_from "$i" "$HUB6"
done
check "a3 stays open" test "$(amode 2)" = open
check "a3 still reaches the internet host (IPv4)" reach_from 2 "$HUB4" 3000
check "a3 still reaches the internet host (IPv6)" reach_from 2 "$HUB6" 3000
check "a3's audit log has the refusal with its reason" bash -c \
	"'$KAKURICTL' -s '${DIR[2]}/control.sock' log --json | jq -e '[.entries[] | select(.action == \"isolate\" and .result == \"rejected: wrong-agent\")] | length == 1'"

# --- the same envelope again ---
gsend "$ISO" >"$WORK/again.out" 2>/dev/null
for i in 0 1; do
	check "the same envelope again: ${NAMES[$i]} refuses it (replay)" \
		receipt "$WORK/again.out" "$i" '.reason == "replay"'
done
check "... and a3 still wrong-agent (the group is checked before the replay store)" \
	receipt "$WORK/again.out" 2 '.reason == "wrong-agent"'
check "a3 is still open" test "$(amode 2)" = open
check "nothing was executed twice: one isolate done in a1's audit log" bash -c \
	"'$KAKURICTL' -s '${DIR[0]}/control.sock' log --json | jq -e '[.entries[] | select(.action == \"isolate\" and .result == \"done\")] | length == 1'"

# --- a group that none of them is in, and one all of them are in ---
"$KAKURICTL" sign -k "$PKI/carol.key" --group finance --action status -o "$WORK/fin.json" 2>/dev/null
gsend "$WORK/fin.json" >"$WORK/fin.out" 2>/dev/null
check "a status for group finance: wrong-agent on all three" \
	jq -s -e 'length == 3 and all(.[]; .receipts[0].reason == "wrong-agent")' "$WORK/fin.out"
"$KAKURICTL" sign -k "$PKI/carol.key" --group all-pcs --action status -o "$WORK/all.json" 2>/dev/null
gsend "$WORK/all.json" >"$WORK/all.out" 2>/dev/null; rc=$?
check "a status for group all-pcs (every agent's second group): done on all three, exit 0" \
	bash -c "[ $rc -eq 0 ] && jq -s -e 'length == 3 and all(.[]; .receipts[0].result == \"done\" and .receipts[0].group == \"all-pcs\")' '$WORK/all.out'"

# --- expiry, the local path, and receipts of agent commands ---
now=$(date +%s)
"$KAKURICTL" sign -k "$PKI/carol.key" --group tokyo --action status --valid-from $((now - 2000)) \
	--ttl 60 -o "$WORK/old.json" 2>/dev/null
gsend "$WORK/old.json" >"$WORK/old.out" 2>/dev/null
check "an expired group status: expired on a1 and a2" bash -c \
	"jq -s -e 'map(.receipts[0].reason) | sort == [\"expired\", \"expired\", \"wrong-agent\"]' '$WORK/old.out'"
check "the tokyo isolate applied locally on a3 (osaka): wrong-agent there too" bash -c \
	"'$KAKURICTL' -s '${DIR[2]}/control.sock' apply --json '$ISO' | jq -e '.reason == \"wrong-agent\"'"
"$KAKURICTL" sign -k "$PKI/carol.key" --agent "${AGENT[0]}" --action status -o "$WORK/st-a1.json" 2>/dev/null
ip netns exec "$PEER" "$KAKURICTL" send --json --cert "$PKI/op-ca.crt" --key "$PKI/op-ca.key" \
	--to "[${ADDR6[0]}]:7443" --agent-id "${AGENT[0]}" "$WORK/st-a1.json" >"$WORK/st-a1.out" 2>/dev/null
check "a command for a1 alone: done, and its receipt names no group (as before groups)" \
	jq -e '.receipts[0] | .result == "done" and (has("group") | not)' "$WORK/st-a1.out"

# --- release: two signatures, and the episode of each agent ---
E1=$(jq -s -r --arg t "[${ADDR6[0]}]:7443" '.[] | select(.target == $t) | .receipts[0].episode' "$WORK/iso.out")
E2=$(jq -s -r --arg t "[${ADDR6[1]}]:7443" '.[] | select(.target == $t) | .receipts[0].episode' "$WORK/iso.out")
check "each tokyo agent isolated in an episode of its own" \
	bash -c "grep -Eq '^[0-9a-f]{32}$' <<<'$E1' && grep -Eq '^[0-9a-f]{32}$' <<<'$E2' && [ '$E1' != '$E2' ]"
REL1="$WORK/rel1.json"
"$KAKURICTL" sign -k "$PKI/alice.key" --group tokyo --action release --episode "$E1" -o "$REL1" 2>/dev/null
gsend "$REL1" >"$WORK/rel1a.out" 2>/dev/null
# DESIGN 4's order: the threshold before the addressee, so a3 says it too
check "a group release with one signature: threshold, on all three" \
	jq -s -e 'length == 3 and all(.[]; .receipts[0].reason == "threshold")' "$WORK/rel1a.out"
check "... both still isolated" bash -c "[ \"\$('$KAKURICTL' -s '${DIR[0]}/control.sock' status --json | jq -r .mode)\" = isolated ] &&
	[ \"\$('$KAKURICTL' -s '${DIR[1]}/control.sock' status --json | jq -r .mode)\" = isolated ]"
"$KAKURICTL" cosign -k "$PKI/bob.key" "$REL1" 2>/dev/null
gsend "$REL1" >"$WORK/rel1b.out" 2>/dev/null
check "cosigned, for a1's episode: a1 released" receipt "$WORK/rel1b.out" 0 '.result == "done" and .mode == "open" and .group == "tokyo"'
check "... a2 refuses it: wrong-episode (a release never ends another isolation)" \
	receipt "$WORK/rel1b.out" 1 '.reason == "wrong-episode"'
check "... a3: wrong-agent" receipt "$WORK/rel1b.out" 2 '.reason == "wrong-agent"'
REL2="$WORK/rel2.json"
"$KAKURICTL" sign -k "$PKI/alice.key" --group tokyo --action release --episode "$E2" -o "$REL2" 2>/dev/null
"$KAKURICTL" cosign -k "$PKI/bob.key" "$REL2" 2>/dev/null
gsend "$REL2" >"$WORK/rel2.out" 2>/dev/null
check "a cosigned group release for a2's episode: a2 released" receipt "$WORK/rel2.out" 1 '.result == "done" and .mode == "open"'
check "... a1, open already: not-quarantined" receipt "$WORK/rel2.out" 0 '.reason == "not-quarantined"'
for i in 0 1; do
	check "${NAMES[$i]} is open" test "$(amode "$i")" = open
	check_within "${NAMES[$i]} released: the internet host answers again (IPv4)" 5 reach_from "$i" "$HUB4"
	check_within "${NAMES[$i]} released: the internet host answers again (IPv6)" 5 reach_from "$i" "$HUB6"
done

# --- a campaign: one episode named by the CSIRT, one release for the group ---
CAMPAIGN=$(openssl rand -hex 16)
"$KAKURICTL" sign -k "$PKI/alice.key" --group tokyo --action isolate --episode "$CAMPAIGN" \
	-o "$WORK/campaign.json" 2>/dev/null
gsend "$WORK/campaign.json" >"$WORK/campaign.out" 2>/dev/null
for i in 0 1; do
	check "a group isolate naming episode E: ${NAMES[$i]} isolated in episode E" \
		receipt "$WORK/campaign.out" "$i" ".result == \"done\" and .episode == \"$CAMPAIGN\""
done
GREL="$WORK/campaign-release.json"
"$KAKURICTL" sign -k "$PKI/alice.key" --group tokyo --action release --episode "$CAMPAIGN" -o "$GREL" 2>/dev/null
"$KAKURICTL" cosign -k "$PKI/bob.key" "$GREL" 2>/dev/null
gsend "$GREL" >"$WORK/campaign-rel.out" 2>/dev/null
for i in 0 1; do
	check "ONE cosigned group release for E: ${NAMES[$i]} released" \
		receipt "$WORK/campaign-rel.out" "$i" '.result == "done" and .mode == "open"'
done

# --- the same through the fleet broker: the agents dial out ---
. "$(dirname "$0")/fleetlab.sh"
fleet_ca || die "fleet CA"
for i in 0 1 2; do
	fleet_agent "${DIR[$i]}" "${AGENT[$i]}" "${GROUPS_OF[$i]}" all-pcs || die "fleet certificate ${NAMES[$i]}"
	sed -i '/^fleet:/d' "${DIR[$i]}/kakuri.conf"
	fleet_conf "${DIR[$i]}" "\"${GROUPS_OF[$i]}\", \"all-pcs\"" >>"${DIR[$i]}/kakuri.conf"
done
broker_start || die "the broker starts"
# the policy is re-read on SIGHUP: the fleet child starts
for i in 0 1 2; do kill -HUP "${KPID_OF[$i]}"; done
afleet() { actl "$1" status --json | jq -e '.fleet.state | startswith("connected")'; }
for i in 0 1 2; do
	check_within "after SIGHUP ${NAMES[$i]} is connected to the broker" 20 afleet "$i"
done
printf '%s\n' "${AGENT[@]}" >"$WORK/fleet-ids"
BISO="$WORK/broker-iso.json"
"$KAKURICTL" sign -k "$PKI/alice.key" --group tokyo --action isolate --episode "$CAMPAIGN" -o "$BISO" 2>/dev/null
send_broker operator --group osaka --timeout 3000 "$BISO" >/dev/null 2>"$WORK/wronggroup.err"; rc=$?
check "send --broker --group osaka with a tokyo command: refused before anything is published" \
	bash -c "[ $rc -eq 1 ] && grep -q 'is not a command for group osaka; nothing sent' '$WORK/wronggroup.err'"
send_broker operator --json --group tokyo --expect "$WORK/fleet-ids" --timeout 8000 \
	--save-receipts "$WORK/proofs" "$BISO" >"$WORK/broker-iso.out" 2>/dev/null; rc=$?
check "a group isolate through the broker: exit 1 (one agent of the list is silent)" test $rc -eq 1
check "... done on exactly the two tokyo agents, verified; a3 (osaka) silent: not subscribed" \
	jq -e --arg a3 "${AGENT[2]}" '.summary.done == 2 and .summary.silent == 1 and
		([.receipts[] | select(.result == "done" and .group == "tokyo") | .agent] | sort) == (['"\"${AGENT[0]}\", \"${AGENT[1]}\""'] | sort)' \
	"$WORK/broker-iso.out"
BISO_ID=$(jq -r .payload "$BISO" | base64 -d | jq -r .id)
for i in 0 1; do
	check "--save-receipts: ${NAMES[$i]}'s signed receipt kept as DIR/<agent>/<command>.dsse, 0600, and it verifies with its certificate's key" \
		bash -c "$(declare -f dsse_verifies); WORK='$WORK'; f='$WORK/proofs/${AGENT[$i]}/$BISO_ID.dsse';
			[ \"\$(stat -c %a \"\$f\")\" = 600 ] && dsse_verifies \"\$f\" '${DIR[$i]}/agent.crt' &&
			jq -r .payload \"\$f\" | base64 -d | jq -e '.result == \"done\"' >/dev/null"
done
check "... and none for a3, which never answered" test ! -e "$WORK/proofs/${AGENT[2]}"
for i in 0 1; do
	check "${NAMES[$i]} isolated through the broker" test "$(amode "$i")" = isolated
	# the actor is kakurid's words for the topic, not the fleet child's
	check "... its audit names the group's topic as the actor (mqtt:group/tokyo)" bash -c \
		"'$KAKURICTL' -s '${DIR[$i]}/control.sock' log --json | jq -e '[.entries[] | select(.action == \"isolate\" and .result == \"done\" and .actor == \"mqtt:group/tokyo\")] | length == 1'"
	refute "${NAMES[$i]}: the internet host cannot be reached (IPv4)" reach_from "$i" "$HUB4"
	refute "${NAMES[$i]}: the internet host cannot be reached (IPv6)" reach_from "$i" "$HUB6"
	check_within "${NAMES[$i]}: still connected to the broker while isolated" 10 afleet "$i"
done
check "a3 (osaka) stays open" test "$(amode 2)" = open
check "a3 still reaches the internet host" reach_from 2 "$HUB4" 3000
# a list that leaves a2 out: its receipt (a real agent's, or one a broker
# made up with a key of its own) is listed on its own, not counted.  a3
# (osaka) is on the list and never answers a tokyo command: the send
# waits its whole timeout, so a2's answer has come by then.
printf '%s\n' "${AGENT[0]}" "${AGENT[2]}" >"$WORK/a1a3-ids"
BST="$WORK/broker-status.json"
"$KAKURICTL" sign -k "$PKI/carol.key" --group tokyo --action status -o "$BST" 2>/dev/null
send_broker operator --json --group tokyo --expect "$WORK/a1a3-ids" --timeout 8000 "$BST" \
	>"$WORK/broker-st.out" 2>/dev/null; rc=$?
check "a group status with --expect naming a1 and a3: exit 1, a1 done, a3 silent" \
	bash -c "[ $rc -eq 1 ] && jq -e '.summary.done == 1 and .summary.silent == 1 and .summary.refused == 0' '$WORK/broker-st.out'"
check "... a2's answer is listed as unexpected, not counted, its receipt left out" \
	jq -e --arg a2 "${AGENT[1]}" --arg a1 "${AGENT[0]}" '.summary.unexpected == [$a2] and ([.receipts[] | .agent] == [$a1])' \
	"$WORK/broker-st.out"
mkdir -m 0777 "$WORK/openproofs"
send_broker operator --group tokyo --timeout 3000 --save-receipts "$WORK/openproofs" "$BST" \
	>/dev/null 2>"$WORK/openproofs.err"; rc=$?
check "--save-receipts into a world-writable directory: refused, nothing kept there" \
	bash -c "[ $rc -eq 1 ] && grep -q 'not yours alone' '$WORK/openproofs.err' && [ -z \"\$(ls -A '$WORK/openproofs')\" ]"
# a group command changed on its way (the broker's, or anyone's): both
# tokyo agents refuse it before reading the payload, naming no command
BAD="$WORK/broker-bad.json"
jq --arg p "$(jq -r .payload "$BST" | base64 -d | sed 's/"status"/"isolate"/' | base64 -w0)" '.payload = $p' "$BST" >"$BAD"
send_broker operator --group tokyo --timeout 5000 "$BAD" >"$WORK/bad.out" 2>"$WORK/bad.err"; rc=$?
check "a tampered group command, no --expect: refused by both tokyo agents, exit 1 (not 3: they answered; fails on the old code)" \
	bash -c "[ $rc -eq 1 ] && grep -q 'refused before the payload was read: bad-signature=2' '$WORK/bad.out'"
check "... and without --expect it says what cannot be known" grep -q 'without --expect only the agents' "$WORK/bad.err"
BREL="$WORK/broker-rel.json"
"$KAKURICTL" sign -k "$PKI/alice.key" --group tokyo --action release --episode "$CAMPAIGN" -o "$BREL" 2>/dev/null
"$KAKURICTL" cosign -k "$PKI/bob.key" "$BREL" 2>/dev/null
printf '%s\n' "${AGENT[0]}" "${AGENT[1]}" >"$WORK/tokyo-ids"
send_broker operator --json --group tokyo --expect "$WORK/tokyo-ids" --timeout 15000 "$BREL" \
	>"$WORK/broker-rel.out" 2>/dev/null; rc=$?
check "one cosigned group release through the broker: both tokyo agents released (exit 0)" \
	bash -c "[ $rc -eq 0 ] && jq -e '.summary.done == 2' '$WORK/broker-rel.out'"
for i in 0 1; do
	check_within "${NAMES[$i]} released: the internet host answers again" 5 reach_from "$i" "$HUB4"
done
for i in 0 1 2; do
	check "${NAMES[$i]}: audit chain verifies" actl "$i" log
done
summary
[ "$FAILED" -eq 0 ]
