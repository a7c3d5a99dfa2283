# Shared by the integration scenarios: throw-away network namespaces,
# kakurid started inside them, real packets, and pass/fail counting.
#
# Topology (all inside namespaces this script creates; nothing touches the
# machine's own network namespace):
#
#   peer (CSIRT)  192.0.2.10     2001:db8:1::10  --+
#                                                  |  ep: 192.0.2.2 / 2001:db8:1::2
#   net ("internet") 198.51.100.20 2001:db8:2::20 -+- ep (endpoint, runs kakurid)
#                                                  |  ep: 198.51.100.2 / 2001:db8:2::2
#   ct (container) 203.0.113.2   2001:db8:3::2  --+  ep: 203.0.113.1 / 2001:db8:3::1
#
# ep forwards between ct and net (the container case).

set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KAKURID="$TOP/kakurid"
KAKURICTL="$TOP/kakurictl"
NETPROBE="$TOP/build/netprobe"
RAWSEND="$TOP/build/rawsend"	# hand-built frames: need_built "$RAWSEND"
# jq -e that fails on empty input (see bin/jq)
export PATH="$TOP/tests/integration/bin:$PATH"

PASSED=0
FAILED=0
PIDS=()
NETNS=()
CLEAN_FILES=()	# files a scenario made outside $WORK (/dev/shm), removed at exit
# KK_NS_PREFIX (kk): how the namespaces' names start, told apart from a
# run beside this one
P="${KK_NS_PREFIX:-kk}$$"
EP="${P}-ep"
PEER="${P}-peer"
NET="${P}-net"
CT="${P}-ct"
WORK=$(mktemp -d /tmp/kakuri-it.XXXXXX)
chmod 0755 "$WORK"
POLICY="$WORK/kakuri.conf"
SOCK="$WORK/control.sock"
STATE="$WORK/state"
DLOG="$WORK/kakurid.log"
KPID=

PEER4=192.0.2.10 PEER6=2001:db8:1::10
EP4=192.0.2.2 EP6=2001:db8:1::2
NET4=198.51.100.20 NET6=2001:db8:2::20
EPN4=198.51.100.2 EPN6=2001:db8:2::2
CT4=203.0.113.2 CT6=2001:db8:3::2

pass() { PASSED=$((PASSED + 1)); echo "  ok   $*"; }
fail() { FAILED=$((FAILED + 1)); echo "  FAIL $*"; }
# check "description" command...: passes when the command succeeds
check() { local d=$1; shift; if "$@" >/dev/null 2>&1; then pass "$d"; else fail "$d"; fi; }
# refute "description" command...: passes when the command fails
refute() { local d=$1; shift; if "$@" >/dev/null 2>&1; then fail "$d"; else pass "$d"; fi; }

# die "what": a step the rest needs failed; stop here
die() { fail "$1"; summary; exit 1; }

# need_built PROGRAM...: the test programs the scenario runs are built
need_built() {
	local m
	for m; do
		[ -x "$m" ] && continue
		echo "cannot run: $m is not built (make ${m#"$TOP"/})"
		die "$(basename "$m") built"
	done
}

# unable "why" "what": the host lacks what the scenario needs; stop here
unable() { echo "cannot run: $1"; die "$2"; }

# other_ns: a second namespace, $OTHER, to move interfaces into
other_ns() { OTHER="${P}-other"; addns "$OTHER" || die namespace; }

need() {
	local m
	if [ "$(id -u)" -ne 0 ]; then
		echo "cannot run: integration tests need root (network namespaces, nftables)"
		FAILED=$((FAILED + 1)); summary; exit 1
	fi
	for m in "$KAKURID" "$KAKURICTL" "$NETPROBE"; do
		if [ ! -x "$m" ]; then
			echo "cannot run: $m is not built (make all build/netprobe)"
			FAILED=$((FAILED + 1)); summary; exit 1
		fi
	done
	if ! ip netns add "${P}-probe" 2>/dev/null; then
		echo "cannot run: ip netns add failed (no CAP_SYS_ADMIN or no netns support)"
		FAILED=$((FAILED + 1)); summary; exit 1
	fi
	ip netns del "${P}-probe"
}

summary() {
	echo "$PASSED passed, $FAILED failed"
}

cleanup() {
	local pid ns
	for pid in "${PIDS[@]}" $KPID; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}" $KPID; do
		# bounded wait, then force: only our own pids
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -9 "$pid" 2>/dev/null
	done
	for ns in "${NETNS[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$WORK"
	[ ${#CLEAN_FILES[@]} -eq 0 ] || rm -f -- "${CLEAN_FILES[@]}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

addns() { ip netns add "$1" && NETNS+=("$1") && ip -n "$1" link set lo up; }

# link NS_A IF_A ADDR4_A ADDR6_A NS_B IF_B ADDR4_B ADDR6_B PREFIX4
link() {
	ip -n "$1" link add "$2" type veth peer name "$6" netns "$5"
	ip -n "$1" addr add "$3/24" dev "$2"
	ip -n "$1" addr add "$4/64" dev "$2" nodad
	ip -n "$5" addr add "$7/24" dev "$6"
	ip -n "$5" addr add "$8/64" dev "$6" nodad
	ip -n "$1" link set "$2" up
	ip -n "$5" link set "$6" up
}
# addrs NS DEV ADDR4 ADDR6: both addresses on DEV, DEV up
addrs() {
	ip -n "$1" addr add "$3/24" dev "$2" &&
		ip -n "$1" addr add "$4/64" dev "$2" nodad &&
		ip -n "$1" link set "$2" up
}
# mac_of NS DEV: DEV's link-layer address
mac_of() { ip -n "$1" -j link show "$2" | jq -r '.[0].address'; }
# nic_to_net DEV NETDEV ADDR4 ADDR6: the "NIC", a veth DEV in ep (up)
# whose other end NETDEV in NET has both addresses; NICMAC is NETDEV's
nic_to_net() {
	ip -n "$EP" link add "$1" type veth peer name "$2" netns "$NET" &&
		addrs "$NET" "$2" "$3" "$4" && ip -n "$EP" link set "$1" up &&
		NICMAC=$(mac_of "$NET" "$2")
}
# nic_probes DEV NETDEV N: the NIC (nic_to_net) on 198.18.N.0/24 and
# 2001:db8:N::/64, a listener in NET on port 9500+N, and the datagram
# probes (send_probe, arrival) of one frame to it from ep: raw4/raw6 from
# an AF_PACKET socket on DEV (on $DEV when set), xsk4/xsk6 from an AF_XDP
# socket on DEV, lo4/lo6 from an AF_PACKET socket on lo
nic_probes() {
	NIC_DEV=$1 NIC_RX="$WORK/nic-$3.rx" NIC_PORT=$((9500 + $3))
	NIC4=198.18.$3.1 NIC6=2001:db8:$3::1 SRC4=198.18.$3.2 SRC6=2001:db8:$3::2
	nic_to_net "$1" "$2" "$NIC4" "$NIC6" &&
		listen_udp "$NET" "$NIC_RX" "$NIC_PORT" "$NIC4" "$NIC6" || return 1
	send_probe() { nic_send_probe "$@"; }
	arrival() { nic_arrival "$@"; }
}
# nic_scenario TITLE DEV NETDEV N: the frames' program, the namespaces
# and the NIC with its probes (nic_probes), or the scenario ends
nic_scenario() {
	need_built "$RAWSEND"
	echo "== $1"
	topology || die "topology"
	nic_probes "$2" "$3" "$4" || die "the NIC veth"
}
nic_frame() { ip netns exec "$EP" "$RAWSEND" "$@" "$NIC_PORT" kakuri-nic >/dev/null 2>&1; }
nic_send_probe() {
	local src=$SRC4 dst=$NIC4
	case $1 in *6) src=$SRC6 dst=$NIC6 ;; esac
	case $1 in
	raw?) nic_frame "${DEV:-$NIC_DEV}" "$NICMAC" "$src" "$dst" ;;
	xsk?) nic_frame -x "$NIC_DEV" "$NICMAC" "$src" "$dst" ;;
	lo?) nic_frame lo "$NICMAC" "$src" "$dst" ;;
	esac
}
nic_arrival() { case $1 in *6) echo "$NIC_RX udp $SRC6" ;; *) echo "$NIC_RX udp $SRC4" ;; esac; }

# The probes past the inet hooks that t-netdev and t-restore-netdev share,
# one datagram each to a listener (port $PORT): raw4/raw6, an AF_PACKET
# frame from ep out of its uplink to the internet host (rawq4/rawq6: with
# PACKET_QDISC_BYPASS); mv4/mv6, from a macvlan made directly in $X on
# ep's uplink to the internet host; in4/in6, the other way.  The scenario
# sets X, PORT, NETRX (the internet host's listener log), XRX ($X's),
# MV4/MV6 (the macvlan's addresses) and NETMAC (the internet host's MAC).
# uplink_probe KIND sends (1 for a kind it does not know), uplink_arrival
# KIND says "LOG LINE", uplink_what KIND the words for the check lines.
raw_from_ep() { ip netns exec "$EP" "$RAWSEND" "$@" "$PORT" kakuri-netdev-test >/dev/null 2>&1; }
uplink_probe() {
	case $1 in
	raw4) raw_from_ep to-net "$NETMAC" "$EPN4" "$NET4" ;;
	raw6) raw_from_ep to-net "$NETMAC" "$EPN6" "$NET6" ;;
	rawq4) raw_from_ep -q to-net "$NETMAC" "$EPN4" "$NET4" ;;
	rawq6) raw_from_ep -q to-net "$NETMAC" "$EPN6" "$NET6" ;;
	mv4) udp_from "$X" "$NET4" ;;
	mv6) udp_from "$X" "$NET6" ;;
	in4) udp_from "$NET" "$MV4" ;;
	in6) udp_from "$NET" "$MV6" ;;
	*) return 1 ;;
	esac
	return 0
}
uplink_arrival() {
	case $1 in
	raw4|rawq4) echo "$NETRX udp $EPN4" ;;
	raw6|rawq6) echo "$NETRX udp $EPN6" ;;
	mv4) echo "$NETRX udp $MV4" ;;
	mv6) echo "$NETRX udp $MV6" ;;
	in4) echo "$XRX udp $NET4" ;;
	in6) echo "$XRX udp $NET6" ;;
	esac
}
uplink_what() {
	case $1 in
	rawq*) echo "AF_PACKET frame from ep (PACKET_QDISC_BYPASS) -> internet" ;;
	raw*) echo "AF_PACKET frame from ep -> internet" ;;
	mv*) echo "macvlan made in another netns on ep's uplink -> internet" ;;
	in*) echo "internet -> macvlan made in another netns on ep's uplink" ;;
	esac
}

topology() {
	addns "$EP" && addns "$PEER" && addns "$NET" && addns "$CT" || return 1
	link "$EP" to-peer "$EP4" "$EP6" "$PEER" to-ep "$PEER4" "$PEER6"
	link "$EP" to-net "$EPN4" "$EPN6" "$NET" to-ep "$NET4" "$NET6"
	link "$EP" to-ct 203.0.113.1 2001:db8:3::1 "$CT" to-ep "$CT4" "$CT6"
	ip netns exec "$EP" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	ip -n "$CT" route add default via 203.0.113.1
	ip -n "$CT" -6 route add default via 2001:db8:3::1
	ip -n "$NET" route add default via "$EPN4"
	ip -n "$NET" -6 route add default via "$EPN6"
	ip -n "$PEER" route add default via "$EP4"
	ip -n "$PEER" -6 route add default via "$EP6"
}

# serve NS ADDR PORT: a TCP+UDP echo server, bounded in time
serve() {
	ip netns exec "$1" "$NETPROBE" serve "$2" "$3" 300 &
	PIDS+=($!)
}

# internet_echo LABEL: echo servers on the internet host (port 8080, both
# families), checked under LABEL to answer the endpoint within 5 s
internet_echo() {
	local a
	for a in "$NET4" "$NET6"; do serve "$NET" "$a" 8080; done
	check_within "$1" 5 reach "$EP" tcp "$NET4" 8080
}

# reach NS PROTO ADDR PORT: does an echo pass?
reach() { ip netns exec "$1" "$NETPROBE" "$2" "$3" "$4" "${5:-700}"; }
ping_ok() { ip netns exec "$1" ping -c 1 -W 1 "$2" >/dev/null 2>&1; }

write_policy() {
	local extra_agent=${1:-} extra=${2:-}
	cat >"$POLICY" <<EOF
agent: {
  state_dir = "$STATE";
  control_socket = "$SOCK";
  staff_group = "users";
  user = "nobody";
  $extra_agent
};
management: {
  peers = [ "$PEER4", "$PEER6" ];
  ports = [ 7443, 7444 ];
};
egress: {
  mail_tcp = [ 25, 465, 587 ];
  web_tcp = [ 80, 443 ];
  web_udp = [ 443 ];
};
contact: { desk = "CSIRT test desk"; phone = "0000"; email = "csirt@example.invalid"; };
$extra
EOF
	chmod 0600 "$POLICY"
}

ctl() { "$KAKURICTL" -s "$SOCK" "$@"; }

# EP_NSENTER=1: enter only ep's network namespace.  `ip netns exec` also
# gives the command a mount namespace with a fresh /sys, without the cgroup
# hierarchies the freezer needs.
in_ep() {
	if [ -n "${EP_NSENTER:-}" ]; then
		nsenter --net="/run/netns/$EP" -- "$@"
	else
		ip netns exec "$EP" "$@"
	fi
}

start_kakurid() {
	local i
	# not through in_ep: $! must be kakurid's pid (nsenter and ip exec it)
	if [ -n "${EP_NSENTER:-}" ]; then
		nsenter --net="/run/netns/$EP" -- "$KAKURID" -d -f "$POLICY" >>"$DLOG" 2>&1 &
	else
		ip netns exec "$EP" "$KAKURID" -d -f "$POLICY" >>"$DLOG" 2>&1 &
	fi
	KPID=$!
	for i in $(seq 1 100); do
		ctl status >/dev/null 2>&1 && return 0
		kill -0 "$KPID" 2>/dev/null || break
		sleep 0.05
	done
	echo "kakurid did not come up:"; tail -5 "$DLOG"
	return 1
}

# stop_kakurid SIGNAL: kakurid ended by its pid; one that has not ended
# 10 s after the signal (stuck in the kernel or a library call) is
# killed, so that a scenario never waits without bound
stop_kakurid() {
	local i
	[ -n "$KPID" ] || return 0
	kill "$1" "$KPID" 2>/dev/null
	for i in $(seq 1 500); do
		kill -0 "$KPID" 2>/dev/null || break
		sleep 0.02
	done
	if kill -0 "$KPID" 2>/dev/null; then
		echo "  (kakurid $KPID did not end 10 s after $1: killed)"
		kill -KILL "$KPID" 2>/dev/null
	fi
	wait "$KPID" 2>/dev/null
	KPID=
}

status_field() { ctl status --json | jq -r ".$1"; }
# isolated_verified: status says isolated, and the kernel's tables verified
isolated_verified() { [ "$(status_field mode)/$(status_field verified)" = isolated/true ]; }

# drop_tables [NS]: kakuri's tables gone from NS ($EP), as at a reboot
drop_tables() {
	local f
	for f in inet bridge netdev; do
		ip netns exec "${1:-$EP}" nft delete table $f kakuri 2>/dev/null
	done
	return 0
}

table_present() { ip netns exec "$EP" nft list table inet kakuri >/dev/null 2>&1; }

# --- signed commands: a CSIRT CA, operator certificates, signing keys ---
PKI="$WORK/pki"
# pki_setup: CSIRT CA + operator cert (also the collector's, naming PEER4
# and PEER6), a rogue CA + cert, keys alice (isolate,
# release, status), bob (release), carol (status); release needs 2 signers.
pki_setup() {
	mkdir -p "$PKI" && (
	cd "$PKI" || exit 1
	for ca in ca rogue; do
		openssl genpkey -algorithm ed25519 -out $ca.key 2>/dev/null &&
		openssl req -x509 -new -key $ca.key -subj "/CN=$ca" -days 2 -out $ca.pem 2>/dev/null || exit 1
		openssl genpkey -algorithm ed25519 -out op-$ca.key 2>/dev/null &&
		openssl req -new -key op-$ca.key -subj "/CN=operator-$ca" -out op-$ca.csr 2>/dev/null &&
		# op-ca is the collector's certificate too: it names the
		# collector's addresses, which report.ca alone looks for
		openssl x509 -req -in op-$ca.csr -CA $ca.pem -CAkey $ca.key -CAcreateserial \
			-extfile <(echo "subjectAltName=IP:$PEER4,IP:$PEER6") \
			-days 2 -out op-$ca.crt 2>/dev/null || exit 1
	done
	for k in alice bob carol; do "$KAKURICTL" keygen $k >/dev/null || exit 1; done
	cat >trust.conf <<EOT
keys = (
  { id = "alice"; public_key = "$PKI/alice.pub"; roles = [ "isolate", "release", "status" ]; },
  { id = "bob";   public_key = "$PKI/bob.pub";   roles = [ "release" ]; },
  { id = "carol"; public_key = "$PKI/carol.pub"; roles = [ "status" ]; }
);
thresholds = { release = 2; };
EOT
	chmod 0600 trust.conf
	)
}

# evidence_setup [KEY-LINE...]: the namespaces (kakurid keeps the host's
# cgroup hierarchies: EP_NSENTER) and the PKI, trust.conf giving alice
# every role the evidence commands need and bob release, the KEY-LINEs
# after them; release needs 2 signers.
evidence_setup() {
	local k
	EP_NSENTER=1
	topology || die topology
	pki_setup || die "PKI setup"
	{
		echo "keys = ("
		echo "  { id = \"alice\"; public_key = \"$PKI/alice.pub\"; roles = [ \"isolate\", \"release\", \"status\", \"freeze\", \"thaw\", \"snapshot\", \"collect\", \"fetch\" ]; },"
		printf '  { id = "bob";   public_key = "%s"; roles = [ "release" ]; }' "$PKI/bob.pub"
		for k; do printf ',\n  %s' "$k"; done
		printf '\n);\nthresholds = { release = 2; };\n'
	} >"$PKI/trust.conf"
}

# evidence_start [EVIDENCE-SETTINGS]: the policy, with the CSIRT channel
# on, protects $WORK/prot/sleep (a copy of sleep(1)) and has the
# EVIDENCE-SETTINGS in its evidence group; kakurid --init ($AGENT_ID),
# started and its channel listening, or the scenario ends here.
evidence_start() {
	mkdir -p "$WORK/prot"
	cp /bin/sleep "$WORK/prot/sleep"
	write_policy "$(remote_agent_conf)" "$(remote_tls_conf)
evidence: { protect = [ \"$WORK/prot/sleep\" ]; $1 };"
	AGENT_ID=$(agent_init)
	start_kakurid || { fail "kakurid starts"; summary; exit 1; }
	check "the CSIRT channel is listening" wait_until 30 channel_up
}

# the agent section lines that turn the CSIRT channel on
remote_agent_conf() {
	echo "listen = \"[::]:7443\"; key = \"$PKI/agent.key\"; cert = \"$PKI/agent.crt\"; trust = \"$PKI/trust.conf\";"
}
remote_tls_conf() { echo "tls: { client_ca = \"$PKI/ca.pem\"; };"; }

agent_init() { "$KAKURID" --init -f "$POLICY" 2>/dev/null; }

# block_trust: trust.conf with alice allowed every role a block list
# test needs (block and unblock too) and bob release, two to release
block_trust() {
	cat >"$PKI/trust.conf" <<EOT
keys = (
  { id = "alice"; public_key = "$PKI/alice.pub"; roles = [ "isolate", "release", "status", "block", "unblock" ]; },
  { id = "bob";   public_key = "$PKI/bob.pub";   roles = [ "release" ]; }
);
thresholds = { release = 2; };
EOT
}

# collector_agent [REPORT-KEYS]: the topology, the PKI, and an agent that
# reports to a collector on the CSIRT peer (port 7444, its key pinned),
# with more keys of report: if given; COL is where that collector stores,
# $WORK/agents lists the agent
collector_agent() {
	topology || die topology
	pki_setup || die "PKI setup"
	COL_ID=$("$KAKURICTL" agent-id "$PKI/op-ca.crt")
	write_policy "$(remote_agent_conf)" "$(remote_tls_conf)
report: { collector = \"$PEER4:7444\"; collector_id = \"$COL_ID\"; ${1:-} };"
	AGENT_ID=$(agent_init)
	COL="$WORK/collected"
	echo "$AGENT_ID" >"$WORK/agents"
}

# other_agent_policy DIR: DIR/p.conf, the policy of another PC's agent
# whose state, keys and control socket are in DIR (for kakurid --init)
other_agent_policy() {
	mkdir -p "$1/state"
	cat >"$1/p.conf" <<EOT
agent: { state_dir = "$1/state"; control_socket = "$1/control.sock";
  listen = "[::]:7443"; key = "$1/agent.key"; cert = "$1/agent.crt"; trust = "$PKI/trust.conf"; };
management: { peers = [ "$PEER4" ]; ports = [ 7443, 7444 ]; };
tls: { client_ca = "$PKI/ca.pem"; };
EOT
	chmod 0600 "$1/p.conf"
}
# collector_agent_b: another PC's agent for the collector scenarios: an
# identity of its own in $WORK/b (kakurid --init), B_ID, listed in
# $WORK/agents beside the first; both agents' TLS chains in
# $WORK/a-chain.pem and $WORK/b-chain.pem, for flood
collector_agent_b() {
	other_agent_policy "$WORK/b"
	B_ID=$("$KAKURID" --init -f "$WORK/b/p.conf" 2>/dev/null)
	check "a second agent's identity (kakurid --init)" grep -Eq '^[0-9a-f]{64}$' <<<"$B_ID"
	echo "$B_ID" >>"$WORK/agents"
	cat "$PKI/agent-tls.crt" "$PKI/agent.crt" >"$WORK/a-chain.pem"
	cat "$WORK/b/agent-tls.crt" "$WORK/b/agent.crt" >"$WORK/b-chain.pem"
}
# flood AGENT COUNT SIZE [same]: the test program floodagent with that
# agent's keys (a or b), from the peer's IPv4 address to the collector
flood() {
	local k=$PKI
	[ "$1" = b ] && k=$WORK/b
	ip netns exec "$PEER" "$TOP/build/floodagent" "$PEER4:7444" "$COL_ID" \
		"$WORK/$1-chain.pem" "$k/agent-tls.key" "$k/agent.key" "${@:2}"
}

# direct NAME: one report of the first agent's (its chain in
# $WORK/a-chain.pem), sent to the collector over TLS within 10 s;
# floodagent's line in $WORK/NAME.out; true if it was acked
direct() {
	ip netns exec "$PEER" timeout 10 "$TOP/build/floodagent" "$PEER4:7444" "$COL_ID" \
		"$WORK/a-chain.pem" "$PKI/agent-tls.key" "$PKI/agent.key" 1 1000 >"$WORK/$1.out" 2>&1
	echo "  ($1: $(cat "$WORK/$1.out"))"
	grep -q '^acked 1 refused 0' "$WORK/$1.out"
}

# sign KEY ACTION [more kakurictl sign options]: prints the file name,
# $WORK/cmdN.json, N new at every call.  N is counted in a file, under a
# lock: sign mostly runs in $(...), a subshell, where a count kept in a
# variable would be lost with it (every file cmd1.json, each signed
# command overwriting the one before).
sign() {
	local key=$1 action=$2 n=; shift 2
	{
		flock 9 || return 1
		read -r n <"$WORK/sign.count"
		n=$((${n:-0} + 1))
		echo "$n" >"$WORK/sign.count"
	} 9>>"$WORK/sign.count"
	"$KAKURICTL" sign -k "$PKI/$key.key" --agent "${AGENT_ID:?}" --action "$action" \
		-o "$WORK/cmd$n.json" "$@" 2>/dev/null && echo "$WORK/cmd$n.json"
}

# send FILE... from the CSIRT peer namespace; prints receipts as JSON lines
send() {
	ip netns exec "$PEER" "$KAKURICTL" send --json --to "[$EP6]:7443" \
		--cert "$PKI/op-ca.crt" --key "$PKI/op-ca.key" --agent-id "$AGENT_ID" "$@"
}
# result of the first receipt: "done" or the rejection reason
send_result() {
	send "$@" 2>/dev/null | jq -r '.receipts[0] | if .result == "done" then "done" else (.reason // .result) end' 2>/dev/null
}

# --- datagram probes (t-netdev, t-netdev-ip, t-restore-netdev) ---
# A scenario defines send_probe KIND (sends one datagram of KIND towards
# its listener) and arrival KIND (prints "LOG LINE": the listener's log,
# and the line it writes there when a datagram of KIND arrives).
arrived() { local a; a=$(arrival "$1"); grep -qxF "${a#* }" "${a%% *}"; }
forget() { local a; a=$(arrival "$1"); : >"${a%% *}"; }
# seen KIND: a datagram of KIND sent reached its listener within 0.5 s
seen() {
	local i
	send_probe "$1"
	for i in $(seq 1 25); do arrived "$1" && return 0; sleep 0.02; done
	return 1
}
# passes KIND: a datagram of KIND gets through within 5 s (tried anew
# every half second)
passes() { forget "$1"; until_ok 5 seen "$1"; }
# none_arrive KIND: 5 datagrams of KIND over a second, and none arrived
# half a second after the last
none_arrive() {
	local i
	forget "$1"
	for i in 1 2 3 4 5; do send_probe "$1"; sleep 0.2; done
	sleep 0.3
	! arrived "$1"
}
# dropped KIND: one datagram of KIND sent, not there 0.3 s later
dropped() { forget "$1"; send_probe "$1"; sleep 0.3; ! arrived "$1"; }
# udp_from NS ADDR: one datagram from NS to ADDR:$PORT (the scenario's
# listeners' port); whether it is answered does not matter
udp_from() { ip netns exec "$1" "$NETPROBE" udp "$2" $PORT 100 >/dev/null 2>&1; }
# fam KIND: the address family of a KIND ending in 4 or 6, for check lines
fam() { echo "IPv${1: -1}"; }

# listen_udp NS LOG PORT ADDR...: an echo server on each ADDR:PORT in
# NS for 600 s, logging one line per datagram ("udp FROM") to LOG
listen_udp() {
	local ns=$1 log=$2 port=$3 a
	shift 3
	for a in "$@"; do
		ip netns exec "$ns" "$NETPROBE" serve "$a" "$port" 600 "$log" &
		PIDS+=($!)
	done
}

# release_signed: the quarantine in force released by a signed release
# of two signers over the CSIRT channel; checks that it is done and open
release_signed() {
	local rel
	rel=$(sign alice release --episode "$(status_field episode)")
	"$KAKURICTL" cosign -k "$PKI/bob.key" "$rel" 2>/dev/null
	check "a signed release (two signers) over the channel: done" \
		test "$(send_result "$rel")" = done
	check "released: open" test "$(status_field mode)" = open
}

# --- bounded polls (nft scenarios): wait for a state, never sample after a sleep ---
# until_ok SECONDS CMD...: run CMD every 20 ms until it succeeds (0) or
# SECONDS have passed (1)
until_ok() {
	local limit=$1 end i; shift
	end=$(( $(date +%s%N) + limit * 1000000000 ))
	for ((i = 0; i < limit * 50 + 1; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		[ "$(date +%s%N)" -lt "$end" ] || return 1
		sleep 0.02
	done
	return 1
}
# check_within "description" SECONDS CMD...: passes once CMD succeeds in time
check_within() {
	local d=$1 s=$2; shift 2
	if until_ok "$s" "$@"; then pass "$d"; else fail "$d"; fi
}
# audit_has JQ-FILTER: an audit entry matches (select(...) on .entries[])
audit_has() { ctl log --json | jq -e "[.entries[] | select($1)] | length > 0"; }
# collector [OPTION...]: kakurictl collector in the peer namespace on 7444
# (the operator CA's certificate, the agents in $WORK/agents), up when it
# says it listens; collector_stop [SIGNAL] ends it
COLPID=
collector() {
	: >"$WORK/col.out"
	ip netns exec "$PEER" "$KAKURICTL" collector --listen "[::]:7444" \
		--dir "$COL" --cert "$PKI/op-ca.crt" --key "$PKI/op-ca.key" \
		--agents "$WORK/agents" "$@" >>"$WORK/col.out" 2>>"$WORK/col.err" &
	COLPID=$!
	PIDS+=($COLPID)
	until_ok 10 grep -q listening "$WORK/col.out"
}
collector_stop() { [ -n "$COLPID" ] || return 0; end_pid "$COLPID" "${1:-}"; COLPID=; }
# end_pid PID [SIGNAL]: one of our own processes, by its pid, waited for
# (bounded: 5 s)
end_pid() {
	kill "${2:--TERM}" "$1" 2>/dev/null
	for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
	wait "$1" 2>/dev/null
}
# outbox_json: the payload of every queued report (signed .dsse or
# unsigned .pend, agentd/outbox.c), one compact JSON document a line
outbox_json() {
	local f
	for f in "$STATE"/outbox/*.dsse "$STATE"/outbox/*.pend; do
		[ -f "$f" ] || continue
		case $f in
		*.dsse) jq -r .payload "$f" | base64 -d ;;
		*) cat "$f" ;;
		esac
		echo
	done
}
# outbox_has TEXT: a queued report contains TEXT
outbox_has() { outbox_json | grep -q -- "$1"; }
# wait_until SECONDS COMMAND...: the same bounded poll as until_ok
wait_until() { until_ok "$@"; }
# runs_exe PID PATH: PID has exec'd PATH (what /proc/PID/exe names)
runs_exe() { [ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$2" ]; }
# The cgroup2 mount point ("" without one).
cgroup2_root() { awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo; }
# need_freezer_fuse WHY-CGROUP WHY-FUSE: a writable cgroup2 hierarchy (in
# CG2) and /dev/fuse, or the scenario cannot run and says why
need_freezer_fuse() {
	CG2=$(cgroup2_root)
	if [ -z "$CG2" ] || [ ! -w "$CG2/cgroup.procs" ]; then
		unable "no writable cgroup2 hierarchy ($1)" "cgroup2 present"
	fi
	[ -c /dev/fuse ] || unable "no /dev/fuse ($2)" "/dev/fuse present"
}
# held_reader DIR UID: a FUSE server (fusehang, in a mount namespace of
# its own) on $WORK/DIR whose file never answers, and a reader of that
# file as UID, held in the kernel: the kernel never says "frozen 1" for
# it, so a freeze of it waits its whole freeze_timeout.  FHS is the
# server, FH its executable's process, HELD the reader (all in PIDS).
held_reader() {
	mkdir -p "$WORK/$1"
	cp /bin/sleep "$WORK/evil-src"
	"$TOP/build/fusehang" "$WORK/$1" "$WORK/evil-src" "$2" >"$WORK/$1.out" 2>"$WORK/$1.err" &
	FHS=$!; PIDS+=("$FHS")
	check "the FUSE server started its executable" \
		wait_until 30 bash -c "[ -n \"\$(head -1 '$WORK/$1.out')\" ]"
	FH=$(head -1 "$WORK/$1.out"); [ -n "$FH" ] && PIDS+=("$FH")
	nsenter -m -t "$FHS" -- setpriv --reuid="$2" --regid="$2" --clear-groups \
		cat "$WORK/$1/evil" >/dev/null 2>&1 & HELD=$!; PIDS+=("$HELD")
	check "a reader of the FUSE file is held in the kernel" \
		wait_until 30 grep -q fuse "/proc/$HELD/stack"
}
# service_cgroup UNIT PID: PID moved into /system.slice/UNIT, where a
# system service of systemd runs (made if need be; removed at exit with
# the system.slice it had to make, once empty)
CGROUPS_MADE=()
service_cgroup() {
	local root s
	root=$(cgroup2_root)
	[ -n "$root" ] || return 1
	s="$root/system.slice"
	if [ ! -d "$s" ]; then mkdir "$s" && CGROUPS_MADE+=("$s"); fi
	if [ ! -d "$s/$1" ]; then mkdir "$s/$1" && CGROUPS_MADE+=("$s/$1"); fi
	echo "$2" >"$s/$1/cgroup.procs"
}
# test_cgroup REL: a cgroup of the test's own below the cgroup2 root,
# made (with its parents) and removed at exit; its directory in TCG
TCG=
test_cgroup() {
	local root d p="" parts
	root=$(cgroup2_root)
	[ -n "$root" ] || return 1
	IFS=/ read -r -a parts <<<"${1#/}"
	for d in "${parts[@]}"; do
		p="$p/$d"
		if [ ! -d "$root$p" ]; then
			mkdir "$root$p" || return 1
			CGROUPS_MADE+=("$root$p")
		fi
	done
	TCG="$root$p"
}
# cgroups_remove: the cgroups made above, deepest first; what still runs
# in them (only the test's own processes are ever put there) is killed
# by pid first
cgroups_remove() {
	local i k p
	for ((i = ${#CGROUPS_MADE[@]} - 1; i >= 0; i--)); do
		for k in $(seq 1 100); do
			[ -d "${CGROUPS_MADE[$i]}" ] || break
			rmdir "${CGROUPS_MADE[$i]}" 2>/dev/null && break
			echo 0 >"${CGROUPS_MADE[$i]}/cgroup.freeze" 2>/dev/null
			for p in $(cat "${CGROUPS_MADE[$i]}/cgroup.procs" 2>/dev/null); do
				kill -9 "$p" 2>/dev/null
			done
			sleep 0.05
		done
	done
}

# --- the network child and the CSIRT channel (issue 8) ---
NETSTRESS="$TOP/build/netstress"

# net_child: the pid of kakurid's network child ("" when there is none)
net_child() { pgrep -P "$KPID" -x kakurid-net 2>/dev/null | head -1; }
# channel_up [OLD]: a network child other than OLD runs and status says so
channel_up() {
	local c; c=$(net_child)
	[ -n "$c" ] && [ "$c" != "${1:-}" ] && [ "$(status_field csirt_channel)" = listening ]
}

# key_seed FILE: the 32-byte seed of an Ed25519 private key, as hex
key_seed() { openssl pkey -in "$1" -outform DER 2>/dev/null | tail -c 32 | od -An -v -tx1 | tr -d ' \n'; }
# mem_has PID HEX: the process's writable memory holds these bytes
# (build/memscan: in milliseconds, while a process is held stopped)
mem_has() {
	[ ${#2} -ge 32 ] || return 2	# no pattern finds everything
	"$TOP/build/memscan" "$1" "$2"
}
# mem_lacks PID HEX: it was read through and does not (a scan that could
# not read it is no answer: false)
mem_lacks() {
	local rc=0
	[ ${#2} -ge 32 ] || return 2
	"$TOP/build/memscan" "$1" "$2" || rc=$?
	[ "$rc" -eq 1 ]
}

# cpu_ns PID...: the run time in ns these, their threads and their children
# have had, from /proc/PID/task/TID/schedstat (a child that has ended is
# not counted); the benches' CPU figures
cpu_ns() {
	local p c t v sum=0
	for p in "$@"; do
		for c in "$p" $(pgrep -P "$p"); do
			for t in /proc/"$c"/task/*/schedstat; do
				read -r v _ <"$t" 2>/dev/null && sum=$((sum + v))
			done
		done
	done
	echo "$sum"
}

# agent_ca_init DIR POLICY: an agent identity certified by the test CSIRT
# CA (CA mode) in DIR, then kakurid --init for its TLS key; prints the id
agent_ca_init() {
	(cd "$1" && openssl genpkey -algorithm ed25519 -out agent.key 2>/dev/null &&
	chmod 0600 agent.key &&
	openssl req -new -key agent.key -subj "/CN=agent-$(basename "$1")" -out agent.csr 2>/dev/null &&
	openssl x509 -req -in agent.csr -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" -CAcreateserial \
		-days 2 -out agent.crt 2>/dev/null) || return 1
	"$KAKURID" --init -f "$2" 2>/dev/null
}

# fake_agent DIR SIGNKEY CMDFILE AGENT PORT: a TLS server in the CSIRT
# namespace on 127.0.0.1:PORT that shows DIR's agent-tls.crt with DIR's
# agent.crt as chain (what a network child shows) and answers any command
# with "done" for CMDFILE's command id, naming AGENT, signed by SIGNKEY:
# a network child gone rogue, or another agent posing as this one; with
# REASON (fake_agent DIR SIGNKEY CMDFILE AGENT PORT REASON) the receipt
# carries that reason text too (an infected PC's words)
fake_agent() {
	local dir=$1 key=$2 id payload t=application/vnd.kakuri.receipt.v1+json n
	id=$(jq -r .payload "$3" | base64 -d | jq -r .id)
	payload=$(jq -nc --arg a "$4" --arg c "$id" --arg r "${6:-}" \
		'{v:1, command:$c, agent:$a, action:"isolate", result:"done", mode:"isolated"} +
		(if $r == "" then {} else {reason:$r} end)')
	printf 'DSSEv1 %d %s %d %s' ${#t} "$t" ${#payload} "$payload" >"$WORK/fake.pae"
	jq -nc --arg t "$t" --arg p "$(printf %s "$payload" | base64 -w0)" \
		--arg s "$(openssl pkeyutl -sign -inkey "$key" -rawin -in "$WORK/fake.pae" | base64 -w0)" \
		'{payloadType:$t, payload:$p, signatures:[{keyid:"agent", sig:$s}]}' | tr -d '\n' >"$WORK/fake.body"
	n=$(stat -c %s "$WORK/fake.body")
	{ printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((n >> 24 & 255)) $((n >> 16 & 255)) \
		$((n >> 8 & 255)) $((n & 255)))"; cat "$WORK/fake.body"; } >"$WORK/fake.frame"
	# it lives while its input is open: bounded by the sleep and the timeout
	(cat "$WORK/fake.frame"; sleep 5) | ip netns exec "$PEER" timeout 10 openssl s_server -quiet \
		-accept "127.0.0.1:$5" -naccept 1 -tls1_3 -cert "$dir/agent-tls.crt" -key "$dir/agent-tls.key" \
		-cert_chain "$dir/agent.crt" >/dev/null 2>&1 &
	PIDS+=($!)
	until_ok 10 bash -c "ip netns exec '$PEER' ss -Hltn 'sport = :$5' | grep -q ':$5'"
}

# dsse_verifies FILE CERT: FILE is a DSSE envelope whose (first)
# signature verifies with the key of CERT (an agent's identity
# certificate), checked by openssl over the PAE, not by kakuri's code
dsse_verifies() {
	local t p
	t=$(jq -r .payloadType "$1") || return 1
	jq -r .payload "$1" | base64 -d >"$WORK/dsse.payload" || return 1
	p=$(stat -c %s "$WORK/dsse.payload")
	{ printf 'DSSEv1 %d %s %d ' ${#t} "$t" "$p"; cat "$WORK/dsse.payload"; } >"$WORK/dsse.pae"
	jq -r '.signatures[0].sig' "$1" | base64 -d >"$WORK/dsse.sig" || return 1
	openssl x509 -in "$2" -pubkey -noout >"$WORK/dsse.pub" 2>/dev/null || return 1
	openssl pkeyutl -verify -pubin -inkey "$WORK/dsse.pub" -rawin -in "$WORK/dsse.pae" \
		-sigfile "$WORK/dsse.sig" >/dev/null 2>&1
}

# --- the local side (issue 8): raw control frames, other uids, bounded polls ---
# raw_frame FILE: FILE's bytes as one control frame (4-byte big-endian length)
raw_frame() {
	local n
	n=$(stat -c %s "$1")
	printf "\\x$(printf %02x $((n >> 24 & 255)))\\x$(printf %02x $((n >> 16 & 255)))"
	printf "\\x$(printf %02x $((n >> 8 & 255)))\\x$(printf %02x $((n & 255)))"
	cat "$1"
}
# raw_request FILE [setpriv options...]: sends FILE as one request (as
# another uid with setpriv options), prints the answer's body
raw_request() {
	local f=$1; shift
	if [ $# -gt 0 ]; then
		raw_frame "$f" | setpriv "$@" timeout 5 socat -t 3 - UNIX-CONNECT:"$SOCK" 2>/dev/null | tail -c +5
	else
		raw_frame "$f" | timeout 5 socat -t 3 - UNIX-CONNECT:"$SOCK" 2>/dev/null | tail -c +5
	fi
}
# setpriv options for a member of staff_group ("users", gid 100) and for
# a user outside it; different uids from the default outsider (65534)
STAFF_ID=(--reuid=4242 --regid=4242 --groups=100)
NOBODY_ID=(--reuid=65534 --regid=65534 --clear-groups)
as_staff() { setpriv "${STAFF_ID[@]}" "$@"; }
as_nobody() { setpriv "${NOBODY_ID[@]}" "$@"; }
# wait_for SECONDS COMMAND...: the same bounded poll as until_ok
wait_for() { until_ok "$@"; }
# ja SHIFT K: SHIFT ASCII bytes, then K three-byte characters (あ)
ja() { local s; s=$(printf '%*s' "$1" '' | tr ' ' x); printf '%s' "$s"; printf 'あ%.0s' $(seq 1 "$2"); }
# jtrue EXPR: the JSON on stdin makes EXPR true (jq -e passes on empty input)
jtrue() { local out; out=$(jq "$1" 2>/dev/null) && [ "$out" = true ]; }
export -f jtrue
# send_bg NAME MS FILE TARGET...: kakurictl send --timeout MS --concurrency 2
# from the CSIRT peer in the background; $WORK/NAME.out and .err its
# output, .pid its pid, .rc its exit status once it ended
send_bg() {
	local name=$1 ms=$2 file=$3 t args=()
	shift 3
	for t; do args+=(--to "$t"); done
	rm -f "$WORK/$name".*
	(
		ip netns exec "$PEER" "$KAKURICTL" send --json --timeout "$ms" --concurrency 2 \
			"${args[@]}" --cert "$PKI/op-ca.crt" --key "$PKI/op-ca.key" \
			--agent-id "$AGENT_ID" "$file" >"$WORK/$name.out" 2>"$WORK/$name.err" &
		echo $! >"$WORK/$name.pid"
		wait $!
		echo $? >"$WORK/$name.rc"
	) &
	PIDS+=($!)
	until_ok 5 test -s "$WORK/$name.pid" && PIDS+=("$(cat "$WORK/$name.pid")")
}
# ended_within NAME SECONDS: NAME's send ended in time (about how long
# it took in $WORK/NAME.ms); if not it is stopped here, by its pid
ended_within() {
	local t0
	t0=$(($(date +%s%N) / 1000000))
	if until_ok "$2" test -s "$WORK/$1.rc"; then
		echo $(($(date +%s%N) / 1000000 - t0)) >"$WORK/$1.ms"
		return 0
	fi
	kill "$(cat "$WORK/$1.pid")" 2>/dev/null
	return 1
}
rc_of() { cat "$WORK/$1.rc" 2>/dev/null; }
took() { echo "  ($1 ended after about $(cat "$WORK/$1.ms" 2>/dev/null || echo '?') ms)"; }
# remote_agent_up: the topology, the PKI and kakurid with the CSIRT channel
# on, listening ($AGENT_ID its id); dies if any of it fails
remote_agent_up() {
	topology || die topology
	pki_setup || die "PKI setup"
	write_policy "$(remote_agent_conf)" "$(remote_tls_conf)"
	AGENT_ID=$(agent_init)
	start_kakurid || die "kakurid starts"
	check "the CSIRT channel is listening" until_ok 20 channel_up
}
