# The fleet part of make demo (issue 13, DESIGN 9), sourced by demo.sh
# after lib.sh and fleetlab.sh: the broker and the agents live in
# namespaces of their own, every wait is bounded, and only pids this
# script started are ever signalled (lib.sh's cleanup ends them).
#
#   CSIRT namespace ($PEER): Mosquitto on 192.0.2.10:8883 (fleetlab.sh's
#   configuration: TLS 1.3, client certificates, per-agent ACLs), and the
#   office LAN's router: a bridge with 198.18.0.1, where a web server
#   answers on port 8080.
#   a1, a2 (group tokyo), a3 (group osaka): kakurid with agent.listen = ""
#   on the LAN (198.18.0.11-13); they dial out to the broker, nobody can
#   dial in.

LAN4=198.18.0.1
FLEET_COL="$WORK/fleet-collected"
FLEET_NAMES=(a1 a2 a3)
FLEET_GROUPS=(tokyo tokyo osaka)
declare -a FLEET_NS FLEET_DIR FLEET_ID

# fleet_lan: the bridge in the CSIRT namespace and one veth per agent
fleet_lan() {
	local i ns
	ip -n "$PEER" link add br-lan type bridge &&
	ip -n "$PEER" addr add "$LAN4/24" dev br-lan &&
	ip -n "$PEER" link set br-lan up || return 1
	for i in 0 1 2; do
		ns="${P}-${FLEET_NAMES[$i]}"
		FLEET_NS[i]=$ns
		addns "$ns" &&
		ip -n "$ns" link add lan type veth peer name "p-${FLEET_NAMES[$i]}" netns "$PEER" &&
		ip -n "$PEER" link set "p-${FLEET_NAMES[$i]}" master br-lan up &&
		ip -n "$ns" addr add "198.18.0.$((11 + i))/24" dev lan &&
		ip -n "$ns" link set lan up &&
		ip -n "$ns" route add default via "$LAN4" || return 1
	done
}

# fleet_policy I: agent I's policy (lib.sh's, in agent I's directory); no
# listener, the broker its channel, the broker's reports through it
fleet_policy() {
	local d=${FLEET_DIR[$1]}
	POLICY="$d/kakuri.conf" STATE="$d/state" SOCK="$d/control.sock" write_policy \
		"listen = \"\"; key = \"$d/agent.key\"; cert = \"$d/agent.crt\"; trust = \"$PKI/trust.conf\";" \
		"report: { collector_id = \"$COL_ID\"; };
$(fleet_conf "$d" "\"${FLEET_GROUPS[$1]}\"")"
}

actl() { "$KAKURICTL" -s "${FLEET_DIR[$1]}/control.sock" "${@:2}"; }
fleet_connected() { actl "$1" status --json | jq -e '.fleet.state | startswith("connected")'; }
lan_probe() {	# lan_probe I: agent I -> the LAN web server
	probe "${FLEET_NAMES[$1]} (${FLEET_GROUPS[$1]}) -> web server $LAN4:8080" \
		"${FLEET_NS[$1]}" tcp "$LAN4" 8080
}
lan_traffic() { local i; for i in 0 1 2; do lan_probe "$i"; done; }

fleet_part() {
	local i campaign iso rel
	echo "the office LAN: three PCs behind the CSIRT namespace's router, no way in"
	fleet_lan || return 1
	serve "$PEER" "$LAN4" 8080
	fleet_ca || return 1
	echo "the fleet CA ($FLEET/ca.pem) certifies the broker and the operator's MQTT client"
	for i in 0 1 2; do
		FLEET_DIR[i]="$WORK/fleet-${FLEET_NAMES[$i]}"
		mkdir -p "${FLEET_DIR[$i]}"
		fleet_policy "$i"
		FLEET_ID[i]=$("$KAKURID" --init -f "${FLEET_DIR[$i]}/kakuri.conf" 2>/dev/null) || return 1
		# the enrolment: a certificate for the agent's TLS key (made by
		# kakurid --init) with the agent id as CN, from the broker's CA,
		# and the agent's read ACL for its own group
		fleet_agent "${FLEET_DIR[$i]}" "${FLEET_ID[$i]}" "${FLEET_GROUPS[$i]}" || return 1
	done
	echo "enrolled: each agent's agent-tls.key certified with CN = its agent id, e.g. ${FLEET_NAMES[0]}:"
	printf '  '; openssl x509 -in "${FLEET_DIR[0]}/agent-fleet.crt" -noout -subject -issuer | tr '\n' ' '; echo
	echo "policy of ${FLEET_NAMES[0]}:"
	sed 's/^/  /' "${FLEET_DIR[0]}/kakuri.conf"
	broker_start || { cat "$FLEET/mosquitto.out"; return 1; }
	echo "Mosquitto runs in the CSIRT namespace, pid $BROKER_PID, on $BROKER_URL;"
	echo "its ACL (agents read their own cmd topic and their group's, write only their own out):"
	# (without the lab's intruder, a certificate t-fleet.sh gives no rights)
	awk '/^user / { skip = ($2 == "intruder") } /^pattern/ { skip = 0 }
		!skip && !/^#/' "$FLEET/acl" |
		sed -e 's/^/  /' -e 's/\([0-9a-f]\{16\}\)[0-9a-f]\{48\}/\1.../'
	printf '%s\n' "${FLEET_ID[@]}" >"$WORK/fleet-agents"
	ip netns exec "$PEER" "$KAKURICTL" collector --listen "[::]:7445" --dir "$FLEET_COL" \
		--cert "$PKI/op-ca.crt" --key "$PKI/op-ca.key" --agents "$WORK/fleet-agents" \
		--broker "$BROKER_URL" --broker-ca "$FLEET/ca.pem" \
		>"$WORK/fleet-col.out" 2>"$WORK/fleet-col.err" &
	PIDS+=($!)
	until_ok 10 grep -q "subscribed at" "$WORK/fleet-col.out" || {
		cat "$WORK/fleet-col.err"; return 1; }
	echo "a collector for the fleet's reports, subscribed at the broker (the agents' out topics):"
	sed 's/^/  /' "$WORK/fleet-col.out"
	for i in 0 1 2; do
		ip netns exec "${FLEET_NS[$i]}" "$KAKURID" -d -f "${FLEET_DIR[$i]}/kakuri.conf" \
			>>"$WORK/fleet-${FLEET_NAMES[$i]}.log" 2>&1 &
		PIDS+=($!)
	done
	for i in 0 1 2; do
		until_ok 20 fleet_connected "$i" || {
			echo "${FLEET_NAMES[$i]} did not connect to the broker:"
			tail -5 "$WORK/fleet-${FLEET_NAMES[$i]}.log"
			return 1
		}
		echo "${FLEET_NAMES[$i]} (${FLEET_GROUPS[$i]}): agent ${FLEET_ID[$i]:0:16}..., broker session: $(actl "$i" status --json | jq -r .fleet.state)"
	done

	step "10a. nothing listens on the agents: no inbound port to reach"
	for i in 0 1 2; do
		echo "${FLEET_NAMES[$i]}:"
		ip netns exec "${FLEET_NS[$i]}" ss -tln | sed 's/^/  /'
	done
	lan_traffic

	step "10b. ONE signed group isolate for tokyo, naming the campaign's episode, through the broker"
	campaign=$(openssl rand -hex 16)
	iso="$WORK/fleet-isolate.json"
	show "$KAKURICTL" sign -k "$PKI/alice.key" --group tokyo --action isolate \
		--episode "$campaign" --incident IR-2026-0713 --reason "campaign seen at the Tokyo office" \
		-o "$iso"
	printf '%s\n' "${FLEET_ID[0]}" "${FLEET_ID[1]}" >"$WORK/tokyo-agents"
	echo "(--expect: the tokyo agents the CSIRT knows of; the command reaches every"
	echo " agent of the group that is connected or comes back before it expires)"
	show ip netns exec "$PEER" "$KAKURICTL" send --broker "$BROKER_URL" --ca "$FLEET/ca.pem" \
		--cert "$FLEET/operator.crt" --key "$FLEET/operator.key" \
		--group tokyo --expect "$WORK/tokyo-agents" --timeout 15000 "$iso" || return 1
	lan_traffic
	echo "status --json, mode, episode and fleet (the broker session stays up while"
	echo "isolated: the broker is part of the management channel; a3 (osaka) is not"
	echo "subscribed to tokyo's topic and never saw the command):"
	for i in 0 1 2; do
		printf '  %s: ' "${FLEET_NAMES[$i]}"
		actl "$i" status --json | jq -c '{mode, episode, fleet}'
	done

	echo "each agent's isolate notice, a signed report, went out through the broker too;"
	echo "the collector verified and stored it, and its signed ack came back the same way:"
	until_ok 20 bash -c "[ \$(grep -c '^report isolate' '$WORK/fleet-col.out') -ge 2 ]"
	grep '^report' "$WORK/fleet-col.out" | sed 's/^/  /'
	show "$KAKURICTL" reports --type isolate "$FLEET_COL"

	step "10c. a two-signature group release for the campaign's episode frees every tokyo host"
	rel="$WORK/fleet-release.json"
	show "$KAKURICTL" sign -k "$PKI/alice.key" --group tokyo --action release \
		--episode "$campaign" -o "$rel"
	show "$KAKURICTL" cosign -k "$PKI/bob.key" "$rel"
	show ip netns exec "$PEER" "$KAKURICTL" send --broker "$BROKER_URL" --ca "$FLEET/ca.pem" \
		--cert "$FLEET/operator.crt" --key "$FLEET/operator.key" \
		--group tokyo --expect "$WORK/tokyo-agents" --timeout 15000 "$rel" || return 1
	for i in 0 1; do
		until_ok 5 reach "${FLEET_NS[$i]}" tcp "$LAN4" 8080
	done
	lan_traffic
	echo "a1's timeline (the commands came from the broker: actor mqtt:...):"
	actl 0 log | sed 's/^/  /'
}
