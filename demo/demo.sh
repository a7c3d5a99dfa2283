#!/usr/bin/env bash
# make demo: the employee's report and the staff button, end to end, in
# throw-away network namespaces (endpoint, CSIRT peer with the collector,
# "internet", container); then the fleet: three agents with no listening
# port on an office LAN dial out to a Mosquitto broker in the CSIRT
# namespace, and one signed group isolate reaches them through it.
# Nothing touches this machine's own network namespace; everything is
# removed at the end, also on Ctrl-C.
. "$(dirname "$0")/../tests/integration/lib.sh"
. "$(dirname "$0")/../tests/integration/fleetlab.sh"
. "$(dirname "$0")/fleet.sh"
need
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }
probe() {	# probe LABEL NS PROTO ADDR PORT
	if reach "$2" "$3" "$4" "$5"; then echo "  $1: passes"; else echo "  $1: BLOCKED"; fi
}
traffic() {
	probe "endpoint -> internet TCP 8080 (IPv4)" "$EP" tcp "$NET4" 8080
	probe "endpoint -> internet TCP 8080 (IPv6)" "$EP" tcp "$NET6" 8080
	probe "endpoint -> internet UDP 5353 (IPv4)" "$EP" udp "$NET4" 5353
	probe "container -> internet (forwarded)    " "$CT" tcp "$NET4" 8080
	probe "CSIRT peer -> endpoint 7443 (IPv4)   " "$PEER" tcp "$EP4" 7443
	probe "CSIRT peer -> endpoint 7443 (IPv6)   " "$PEER" tcp "$EP6" 7443
	probe "CSIRT peer -> endpoint 22            " "$PEER" tcp "$EP4" 22
}

step "setting up namespaces: endpoint, CSIRT peer, internet, container"
topology || exit 1
for a in "$NET4" "$NET6"; do serve "$NET" "$a" 8080; serve "$NET" "$a" 5353; done
for a in "$EP4" "$EP6"; do serve "$EP" "$a" 7443; serve "$EP" "$a" 22; done
pki_setup || exit 1
COL_ID=$("$KAKURICTL" agent-id "$PKI/op-ca.crt")
write_policy "listen = \"\"; key = \"$PKI/agent.key\"; cert = \"$PKI/agent.crt\";" \
	"report: { collector = \"$PEER4:7444\"; collector_id = \"$COL_ID\"; };"
AGENT_ID=$(agent_init)
sleep 0.3
echo "policy (management peers $PEER4 and $PEER6, ports 7443/7444; reports to the"
echo "CSIRT's collector on $PEER4:7444, whose key is pinned):"
sed 's/^/  /' "$POLICY"
start_kakurid || exit 1
echo "kakurid running in the endpoint namespace, pid $KPID, agent ${AGENT_ID:0:16}..."
COL="$WORK/collected"
echo "$AGENT_ID" >"$WORK/agents"
ip netns exec "$PEER" "$KAKURICTL" collector --listen "[::]:7444" --dir "$COL" \
	--cert "$PKI/op-ca.crt" --key "$PKI/op-ca.key" --agents "$WORK/agents" \
	>"$WORK/col.out" 2>"$WORK/col.err" &
PIDS+=($!)
until_ok 5 grep -q listening "$WORK/col.out" || exit 1
echo "the CSIRT's collector is listening in the peer namespace:"
sed 's/^/  /' "$WORK/col.out"

step "1. status: the PC is open"
show "$KAKURICTL" -s "$SOCK" status
traffic

step "2. an employee sees a fake 'your PC is infected' popup, reports it and disconnects"
echo "(as uid 65534, a member of the staff group 'users'; without a terminal the"
echo " questions come as options; kakurictl report on a terminal asks for them)"
show setpriv --reuid=65534 --regid=65534 --groups=100 "$KAKURICTL" -s "$SOCK" report \
	--category popup --what "a window says my PC is infected and to call a number" \
	--why "it appeared while browsing and will not close" --where "3F desk 12" \
	--contact "ext. 4321" --disconnect </dev/null

step "2b. the CSIRT's collector received it, verified, stored"
until_ok 10 grep -q "^report self-report" "$WORK/col.out"
sed 's/^/  /' "$WORK/col.out"
show "$KAKURICTL" reports --type self-report "$COL"
R=$(jq -r 'select(.type == "self-report") | .id' "$COL/index.jsonl" | head -1)
echo "what the CSIRT reads (payload of $COL/${AGENT_ID:0:16}.../$R.json):"
jq -r .payload "$COL/$AGENT_ID/$R.json" | base64 -d |
	jq '{type, host: .host.hostname, category: .body.category, found_at: .body.found_at,
	    location: .body.location, what: .body.what, why: .body.why, reporter: .body.reporter,
	    disconnected: .body.disconnected, mode: .body.mode}' | sed 's/^/  /'

step "3. real traffic is cut on IPv4 and IPv6; the CSIRT still reaches the endpoint"
traffic
show "$KAKURICTL" -s "$SOCK" status

step "4. root in another process tries to lift it"
show ip netns exec "$EP" nft delete table inet kakuri
show ip netns exec "$EP" nft flush ruleset
probe "endpoint -> internet after the attempts" "$EP" tcp "$NET4" 8080

step "5. kakurid is killed with SIGKILL"
EPISODE=$(status_field episode)
show kill -9 "$KPID"; wait "$KPID" 2>/dev/null; KPID=
probe "endpoint -> internet with kakurid dead" "$EP" tcp "$NET4" 8080
probe "CSIRT peer -> endpoint 7443 with kakurid dead" "$PEER" tcp "$EP4" 7443

step "6. kakurid restarts and re-adopts the table and the episode"
start_kakurid || exit 1
echo "episode before: $EPISODE"
echo "episode now:    $(status_field episode)"

step "7. a staff member tries to release locally"
show setpriv --reuid=65534 --regid=65534 --groups=100 "$KAKURICTL" -s "$SOCK" release

step "8. the table explains itself"
ip netns exec "$EP" nft list table inet kakuri | sed 's/^/  /'

step "9. the audit timeline, hash chain verified"
show "$KAKURICTL" -s "$SOCK" log

step "10. the fleet: agents with no listening port, reached through an MQTT broker"
fleet_part || exit 1

step "done: cleaning up namespaces and processes"
