# The fleet lab (DESIGN 9), sourced after lib.sh: Debian's Mosquitto as
# the broker in the CSIRT namespace ($PEER), with a configuration written
# here: TLS 1.3 only, client certificates required from the lab's fleet CA,
# each client's certificate CN as its user name, and per-agent topic ACLs
# (an agent reads its own cmd and ack topics and those of its groups, and
# writes only its own out topic; the operator writes cmd topics and reads
# out topics; the collector reads out topics and writes ack topics).

MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
FLEET="$WORK/fleet"
BROKER_PORT=8883
BROKER_URL="mqtts://$PEER4:$BROKER_PORT"
BROKER_PID=
FLEET_ACL_EXTRA=
COL=${COL:-$WORK/collected}	# where a collector stores (lib.sh's collector)

# fleet_ca: the lab's fleet CA, the broker's certificate (for both of the
# peer's addresses) and the operator's and collector's client certificates
fleet_ca() {
	[ -x "$MOSQUITTO" ] || unable "$MOSQUITTO is missing (apt-get install mosquitto)" "broker"
	mkdir -p "$FLEET/store" && (
	cd "$FLEET" || exit 1
	openssl genpkey -algorithm ed25519 -out ca.key 2>/dev/null &&
	openssl req -x509 -new -key ca.key -subj "/CN=fleet-ca" -days 2 -out ca.pem 2>/dev/null || exit 1
	fleet_issue broker broker "subjectAltName=IP:$PEER4,IP:$PEER6" || exit 1
	fleet_issue operator operator || exit 1
	fleet_issue collector collector || exit 1
	fleet_issue intruder intruder || exit 1
	) || return 1
}

# fleet_issue NAME CN [EXT]: NAME.key and NAME.crt from the fleet CA (in $FLEET)
fleet_issue() {
	local ext=${3:-}
	openssl genpkey -algorithm ed25519 -out "$FLEET/$1.key" 2>/dev/null &&
	fleet_sign_key "$FLEET/$1.key" "$2" "$FLEET/$1.crt" "$ext"
}

# fleet_sign_key KEY CN OUT [EXT]: a certificate for KEY with CN from the fleet CA
fleet_sign_key() {
	local extf="$FLEET/ext.$$"
	printf '%s\n' "${4:-basicConstraints=CA:FALSE}" >"$extf"
	openssl req -new -key "$1" -subj "/CN=$2" -out "$3.csr" 2>/dev/null &&
	openssl x509 -req -in "$3.csr" -CA "$FLEET/ca.pem" -CAkey "$FLEET/ca.key" \
		-CAcreateserial -days 2 -extfile "$extf" -out "$3" 2>/dev/null
}

# fleet_agent DIR AGENT_ID GROUP...: DIR/agent-fleet.crt for DIR's TLS key
# (made by kakurid --init) with the agent id as CN, and the agent's ACL
fleet_agent() {
	local dir=$1 id=$2 g
	shift 2
	fleet_sign_key "$dir/agent-tls.key" "$id" "$dir/agent-fleet.crt" || return 1
	{
		echo "user $id"
		for g; do echo "topic read kakuri/v1/group/$g/cmd"; done
	} >>"$FLEET/acl.agents"
}

# fleet_lab: the scenario's namespaces, the test PKI and the fleet CA, or
# the scenario dies
fleet_lab() {
	topology || die topology
	pki_setup || die "PKI setup"
	fleet_ca || die "fleet CA"
}

# fleet_lab_agent EXTRA GROUP...: the agent with no listener (the broker
# its only channel) in GROUPs, EXTRA appended to its policy; its identity
# (kakurid --init, the id in AGENT_ID) and its fleet certificate and ACL
fleet_lab_agent() {
	local extra=$1 g groups=
	shift
	for g; do groups+="${groups:+, }\"$g\""; done
	write_policy "listen = \"\"; key = \"$PKI/agent.key\"; cert = \"$PKI/agent.crt\"; trust = \"$PKI/trust.conf\";" \
		"$(fleet_conf "$PKI" "$groups")${extra:+
$extra}"
	AGENT_ID=$(agent_init)
	[ -n "$AGENT_ID" ] || die "kakurid --init"
	fleet_agent "$PKI" "$AGENT_ID" "$@" || die "the agent's fleet certificate"
}

# the policy's fleet section for an agent whose TLS key is in DIR
fleet_conf() {
	local dir=$1 groups=${2:-}
	echo "fleet: { broker = \"$BROKER_URL\"; ca = \"$FLEET/ca.pem\"; cert = \"$dir/agent-fleet.crt\"; groups = [ $groups ]; };"
}

# broker_conf: mosquitto.conf for the lab; BROKER_CONF_EXTRA, lines added
broker_conf() {
	cat >"$FLEET/mosquitto.conf" <<EOT
per_listener_settings false
persistence true
persistence_location $FLEET/store/
autosave_interval 1
allow_anonymous false
acl_file $FLEET/acl
max_queued_messages 10000
log_dest file $FLEET/mosquitto.log
log_type error
log_type warning
log_type notice
connection_messages true
listener $BROKER_PORT
cafile $FLEET/clients-ca.pem
certfile $FLEET/broker.crt
keyfile $FLEET/broker.key
require_certificate true
use_identity_as_username true
tls_version tlsv1.3
${BROKER_CONF_EXTRA:-}
EOT
	# clients: the fleet CA's, and the CSIRT CA's (the collector's key)
	cat "$FLEET/ca.pem" ${PKI:+"$PKI/ca.pem"} >"$FLEET/clients-ca.pem" 2>/dev/null ||
		cp "$FLEET/ca.pem" "$FLEET/clients-ca.pem"
	{
		echo "user operator-ca"
		echo "topic read kakuri/v1/agent/+/out"
		echo "topic write kakuri/v1/agent/+/ack"
		echo "user operator"
		echo "topic write kakuri/v1/agent/+/cmd"
		echo "topic write kakuri/v1/group/+/cmd"
		echo "topic read kakuri/v1/agent/+/out"
		echo "user collector"
		echo "topic read kakuri/v1/agent/+/out"
		echo "topic write kakuri/v1/agent/+/ack"
		echo "user intruder"
		echo "topic read kakuri/v1/group/+/cmd"
		[ -f "$FLEET/acl.agents" ] && cat "$FLEET/acl.agents"
		echo "# every agent: its own topics (the user name is the CN: its id)"
		echo "pattern read kakuri/v1/agent/%u/cmd"
		echo "pattern write kakuri/v1/agent/%u/out"
		echo "pattern read kakuri/v1/agent/%u/ack"
		[ -n "$FLEET_ACL_EXTRA" ] && printf '%s\n' "$FLEET_ACL_EXTRA"
	} >"$FLEET/acl"
	# the broker drops to user mosquitto: it must read what is its
	chown -R mosquitto "$FLEET" 2>/dev/null || chmod -R a+rX "$FLEET"
}

# the broker's port is open (its log is written in blocks: not a signal)
broker_listening() {
	ip netns exec "$PEER" ss -Htln "sport = :$BROKER_PORT" | grep -q LISTEN
}

# broker_start: Mosquitto in the CSIRT namespace, up within 10 s
broker_start() {
	broker_conf
	ip netns exec "$PEER" "$MOSQUITTO" -c "$FLEET/mosquitto.conf" >>"$FLEET/mosquitto.out" 2>&1 &
	BROKER_PID=$!
	PIDS+=($BROKER_PID)
	until_ok 10 broker_listening
}

# broker_stop [SIGNAL]: the broker we started, by its pid
broker_stop() { [ -n "$BROKER_PID" ] || return 0; end_pid "$BROKER_PID" "${1:-}"; BROKER_PID=; }

# collector_broker: lib.sh's collector (the test CSIRT's op-ca key, user
# operator-ca at the broker), subscribed at the broker as well
collector_broker() {
	collector --broker "$BROKER_URL" --broker-ca "$FLEET/ca.pem" "$@" &&
		until_ok 10 grep -q "subscribed at" "$WORK/col.out"
}

# send_broker WHO ARGS...: kakurictl send --broker as WHO (operator,
# collector, intruder) from the CSIRT namespace
send_broker() {
	local who=$1
	shift
	ip netns exec "$PEER" "$KAKURICTL" send --broker "$BROKER_URL" --ca "$FLEET/ca.pem" \
		--cert "$FLEET/$who.crt" --key "$FLEET/$who.key" "$@"
}
