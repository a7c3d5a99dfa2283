#!/usr/bin/env bash
# make bench, section 13: the fleet (issue 13, DESIGN 9), in namespaces of
# its own: one hub namespace runs Mosquitto (the lab's configuration from
# tests/integration/fleetlab.sh: TLS 1.3, client certificates, ACLs) on a
# bridge that the agents' namespaces hang off.
#   a. BENCH_FLEET_AGENTS (10,000) simulated agents (build/fleetsim: one
#      process, one epoll loop, kakurid's own kd_signed_check, signed
#      receipts) on one broker; one group isolate, publish -> receipts at
#      the operator (99% and 100%), through fleetsim's operator (arrival
#      times per receipt) and through kakurictl send --broker --group
#      --expect (wall time, process start included).  The simulated agents
#      connect WITHOUT TLS, to a second listener of the same broker in the
#      hub namespace only: 10,000 TLS handshakes would measure this
#      machine's 2 cores, not the fan-out.  The TLS handshake rate is
#      measured on its own (b).  Memory of the broker and the simulator.
#   b. BENCH_FLEET_TLS (1,000) TLS connections with a client certificate
#      of the lab's fleet CA: handshakes per second, and what 10,000 would
#      take at that rate.
#   c. BENCH_FLEET_REAL (20) real kakurid agents, each in its namespace
#      with agent.listen = "" and a fleet section (one group): BENCH_FLEET_RUNS
#      (5) group isolates through the broker, publish -> receipts median
#      and p99 over every receipt of every run.  Between runs each agent
#      is released with a two-signature release addressed to it: a
#      release names its episode, and every agent has an episode of its
#      own, so one group release cannot release them all.
#   d. Side by side, the same group isolate by direct mutual-TLS fan-out
#      from one station (kakurictl send --targets --concurrency): to the
#      same BENCH_FLEET_REAL real agents, and to BENCH_FLEET_DIRECT
#      (BENCH_FLEET_AGENTS) simulated direct agents (build/fleetsim direct:
#      each with an identity key, identity and TLS certificates as kakurid
#      --init makes them, a TLS listener of its own on a port of the hub
#      namespace, kakurid's kd_signed_check, signed receipts), measured
#      right after (a) with (a)'s kakurictl file, C = 256 and 64, the
#      whole kakurictl process, every receipt checked done; printed with
#      (a)'s broker figures as a ratio.
. "$(dirname "$0")/../tests/integration/lib.sh"
need
NSIM=${BENCH_FLEET_AGENTS:-10000}
NTLS=${BENCH_FLEET_TLS:-1000}
NREAL=${BENCH_FLEET_REAL:-20}
NDIRECT=${BENCH_FLEET_DIRECT:-$NSIM}
DIRECT_PORT=20000	# the simulated direct agents: DIRECT_PORT.. on the hub
RUNS=${BENCH_FLEET_RUNS:-5}
SIM="$TOP/build/fleetsim"
GROUP=fleet
PLAIN_PORT=1883
need_built "$SIM"
[ "$NREAL" -le 250 ] || { echo "BENCH_FLEET_REAL: at most 250"; exit 1; }
[ "$NDIRECT" -ge 1 ] && [ $((DIRECT_PORT + NDIRECT)) -le 32768 ] ||
	{ echo "BENCH_FLEET_DIRECT: 1..$((32768 - DIRECT_PORT)) (ports below the ephemeral range)"; exit 1; }

# the hub: the broker's namespace (fleetlab.sh's $PEER) with a bridge
PEER="${P}-hub" PEER4=10.99.0.1 PEER6=fd00:99::1
. "$TOP/tests/integration/fleetlab.sh"
addns "$PEER" || exit 1
ip -n "$PEER" link add br0 type bridge
ip -n "$PEER" addr add "$PEER4/16" dev br0
ip -n "$PEER" addr add "$PEER6/64" dev br0 nodad
ip -n "$PEER" link set br0 up
pki_setup || exit 1
fleet_ca || exit 1
fleet_issue simtls simtls || exit 1
# every agent of the group may read its cmd topic: one pattern, not an
# ACL block per simulated agent (Mosquitto searches those one by one)
FLEET_ACL_EXTRA="pattern read kakuri/v1/group/$GROUP/cmd"

stats() {	# stats FILE -> "median p99" of the numbers in FILE
	sort -g "$1" | awk '{ v[NR] = $1 } END {
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
		i = int(NR * 0.99 + 0.999999); if (i > NR) i = NR;
		printf "%.1f %.1f\n", m, v[i] }'
}
rss() { awk '/VmRSS/ { print $2 }' "/proc/$1/status"; }
# sims_settled PREFIX PID...: the simulator of each PID (the k-th writes
# $WORK/PREFIXk.out) ready, or one of them gone
sims_settled() {
	local prefix=$1 k=0 p
	shift
	for p; do
		k=$((k + 1))
		grep -q '^ready' "$WORK/$prefix$k.out" && continue
		kill -0 "$p" 2>/dev/null || return 0
		return 1
	done
}
# sims_stop PID...: SIGTERM, then each waited for (30 s at most each)
sims_stop() {
	local p
	kill -TERM "$@" 2>/dev/null
	for p; do
		for _ in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		wait "$p" 2>/dev/null
	done
}
signed() {	# signed NAME KEY ACTION OPTIONS...: $WORK/cmds/NAME.json
	local name=$1 key=$2 action=$3
	shift 3
	mkdir -p "$WORK/cmds"
	"$KAKURICTL" sign -k "$PKI/$key.key" --action "$action" \
		-o "$WORK/cmds/$name.json" "$@" 2>/dev/null && echo "$WORK/cmds/$name.json"
}

# the real agents' namespaces, identities and fleet certificates first:
# the broker's ACL file names them
: >"$WORK/real.ids"; : >"$WORK/targets"
for i in $(seq 1 "$NREAL"); do
	ns="${P}-f$i" d="$WORK/f$i"
	addns "$ns" || exit 1
	ip -n "$PEER" link add "f$i" type veth peer name hub0 netns "$ns"
	ip -n "$PEER" link set "f$i" master br0 up
	ip -n "$ns" addr add "10.99.1.$i/16" dev hub0
	ip -n "$ns" link set hub0 up
	mkdir -p "$d"
	cat >"$d/p.conf" <<EOC
agent: { state_dir = "$d/state"; control_socket = "$d/c.sock"; user = "nobody";
  listen = ""; key = "$d/agent.key"; cert = "$d/agent.crt"; trust = "$PKI/trust.conf"; };
management: { peers = [ "$PEER4" ]; ports = [ 7443 ]; };
$(fleet_conf "$d" "\"$GROUP\"")
EOC
	chmod 0600 "$d/p.conf"
	id=$("$KAKURID" --init -f "$d/p.conf" 2>/dev/null) || { echo "kakurid --init failed"; exit 1; }
	fleet_agent "$d" "$id" "$GROUP" || exit 1
	echo "$id" >>"$WORK/real.ids"
	echo "10.99.1.$i:7443 $id" >>"$WORK/targets"
done

# the broker: the lab's configuration, its TLS listener and, for the
# simulated agents, a plain one on the hub's address (this namespace
# only); no connection limit, file descriptors for all; the session
# store saved every minute rather than every second
bench_broker_start() {
	broker_conf
	# per listener: the TLS one exactly as the lab's, the plain one
	# taking the simulated agents' user names (no certificate to take
	# them from) under the same ACLs
	sed -i -e 's/^autosave_interval 1$/autosave_interval 60/' \
		-e 's/^per_listener_settings false$/per_listener_settings true/' \
		-e '/^allow_anonymous false$/d' -e '/^acl_file /d' \
		-e "s|^listener $BROKER_PORT\$|&\\nallow_anonymous false\\nacl_file $FLEET/acl\\nmax_connections -1|" \
		"$FLEET/mosquitto.conf"
	cat >>"$FLEET/mosquitto.conf" <<EOT
listener $PLAIN_PORT $PEER4
allow_anonymous true
acl_file $FLEET/acl
max_connections -1
EOT
	ip netns exec "$PEER" bash -c 'ulimit -n 1048576 2>/dev/null || ulimit -n 65536; exec "$@"' - \
		"$MOSQUITTO" -c "$FLEET/mosquitto.conf" >>"$FLEET/mosquitto.out" 2>&1 &
	BROKER_PID=$!
	PIDS+=("$BROKER_PID")
	until_ok 10 broker_listening
}
bench_broker_start || { cat "$FLEET/mosquitto.out"; echo "the broker did not start"; exit 1; }
sleep 0.5
broker_rss0=$(rss "$BROKER_PID")
OPTLS=("$FLEET/ca.pem" "$FLEET/operator.crt" "$FLEET/operator.key")
echo
echo "13. fleet: MQTT broker (Mosquitto $("$MOSQUITTO" -h 2>/dev/null | awk 'NR == 1 { print $3 }')) in its own namespace, $(nproc) cores"

# a. simulated agents -------------------------------------------------------
# Each simulated agent costs the simulator 3 file descriptors (its socket
# and libmosquitto's wake-up socket pair); this machine's hard limit is
# what it is (raising it needs CAP_SYS_RESOURCE), so the agents are spread
# over as few simulator processes as it allows, each one epoll loop.
PER=$(( ($(ulimit -Hn) - 100) / 3 ))
[ "$PER" -gt 0 ] || { echo "no file descriptors for the simulator"; exit 1; }
NPROC=$(( (NSIM + PER - 1) / PER ))
SIMPIDS=()
for k in $(seq 1 "$NPROC"); do
	n=$(( k < NPROC ? PER : NSIM - (NPROC - 1) * PER ))
	ip netns exec "$PEER" "$SIM" agents "$PEER4" "$PLAIN_PORT" "$n" "$GROUP" \
		"$PKI/trust.conf" "$WORK/sim$k.ids" 900 >"$WORK/sim$k.out" 2>"$WORK/sim$k.err" &
	SIMPIDS+=($!); PIDS+=($!)
done
until_ok 300 sims_settled sim "${SIMPIDS[@]}"
cat "$WORK"/sim*.out | awk '/^ready/ { n += $2; if ($3 > ms) ms = $3; lost += $5 }
	END { print n + 0, ms + 0, lost + 0 }' >"$WORK/ready"
read -r nready connect_ms nlost <"$WORK/ready"
cat "$WORK"/sim*.ids >"$WORK/sim.ids" 2>/dev/null
[ "$nready" = "$NSIM" ] || {
	tail -n 5 "$WORK"/sim*.err "$FLEET/mosquitto.log"
	echo "only $nready of $NSIM simulated agents subscribed"; exit 1; }
sleep 2	# the broker settles (session bookkeeping) before it is measured
broker_rss1=$(rss "$BROKER_PID")
sim_rss=$(for p in "${SIMPIDS[@]}"; do rss "$p"; done | awk '{ s += $1 } END { print s }')
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
ISO=$(signed simiso alice isolate --group "$GROUP")
bt0=$(ticks "$BROKER_PID")
ip netns exec "$PEER" "$SIM" operator "$PEER4" "$BROKER_PORT" "$GROUP" "$WORK/sim.ids" \
	"$ISO" 60000 "$WORK/sim.ms" "${OPTLS[@]}" >"$WORK/op.out" 2>>"$WORK/op.err"
bt1=$(ticks "$BROKER_PID")
read -r _ got _ want _ ndone _ unver _ ms50 _ ms99 _ sim100 _ opcpu <"$WORK/op.out" ||
	{ cat "$WORK/op.err"; echo "the operator failed"; exit 1; }
# the same through kakurictl, as shipped: process start, TLS, subscribe,
# publish, every receipt checked, one JSON document
ISO2=$(signed simiso2 alice isolate --group "$GROUP")
t0=$EPOCHREALTIME
send_broker operator --json --group "$GROUP" --expect "$WORK/sim.ids" --timeout 60000 "$ISO2" \
	>"$WORK/ctl.json" 2>"$WORK/ctl.err"
t1=$EPOCHREALTIME
ctl_ms=$(( (${t1/./} - ${t0/./}) / 1000 ))
ctl_done=$(jq -r '.summary.done' "$WORK/ctl.json" 2>/dev/null)
sims_stop "${SIMPIDS[@]}"
handled=$(cat "$WORK"/sim*.out | awk '/^handled/ { d += $3; r += $5; l += $7; c += $9 }
	END { printf "%d commands done, %d refused, %d sessions lost; %.1f CPU s for both commands", d, r, l, c }')
echo
echo "13a. $NSIM simulated agents (build/fleetsim: $NPROC process(es) of one epoll loop each, at most $PER agents in one under"
echo "    this machine's limit of $(ulimit -Hn) file descriptors; kakurid's kd_signed_check, signed receipts, no nftables)"
echo "    the simulated agents connect WITHOUT TLS (a plain listener of the same broker, hub namespace only);"
echo "    the operator uses TLS with its client certificate; TLS handshakes are measured in 13b"
printf '    connected and subscribed: %s of %s in %s ms (%s lost)\n' "$nready" "$NSIM" "$connect_ms" "$nlost"
printf '    group isolate, publish -> receipts at the operator (fleetsim operator, every receipt verified):\n'
printf '      %s of %s receipts, %s done, %s unverified; 50%% in %s ms, 99%% in %s ms (target 10000), 100%% in %s ms (target 30000)\n' \
	"$got" "$want" "$ndone" "$unver" "$ms50" "$ms99" "$sim100"
printf '    kakurictl send --broker --group --expect --json, whole process: %s of %s done in %s ms\n' \
	"${ctl_done:-?}" "$NSIM" "$ctl_ms"
printf '    simulator: %s\n' "$handled"
printf '    CPU during the fleetsim operator run: broker %s s, operator %s s (this machine: %s cores, shared)\n' \
	"$(awk -v t=$((bt1 - bt0)) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t / hz }')" "$opcpu" "$(nproc)"
awk -v b0="$broker_rss0" -v b1="$broker_rss1" -v s="$sim_rss" -v n="$nready" 'BEGIN {
	printf "    memory: broker RSS %d KiB idle -> %d KiB with %d sessions: %.1f KiB per connected agent\n", b0, b1, n, (b1 - b0) / n;
	printf "            simulator RSS %d KiB with %d agents: %.1f KiB per agent (its fixed part included)\n", s, n, s / n }'

# d, its 10,000: direct mutual TLS to simulated agents -----------------------
# Measured here, right after (a), with (a)'s kakurictl file: the same
# command to as many agents, the MQTT simulators gone.  Each simulated
# direct agent holds a listening socket, each process up to DCONN_MAX
# connections as well: as many agents in one process as the hard limit
# of file descriptors allows.  Their certificates are written where
# fsync is cheap (tmpfs if there is one) and removed once loaded.
DCONN_MAX=1024	# fleetdirect.c's CONN_MAX
DCHUNK=4096	# kakurictl send takes at most this many targets (ctl/send.c MAX_TARGETS)
DPER=$(( $(ulimit -Hn) - DCONN_MAX - 100 ))
[ "$DPER" -gt 0 ] || { echo "no file descriptors for the direct simulator"; exit 1; }
DNPROC=$(( (NDIRECT + DPER - 1) / DPER ))
DSIMPIDS=()
DPKI=""
trap 'rm -rf ${DPKI:+"$DPKI"}; cleanup' EXIT	# lib.sh's, and the certificates
: >"$WORK/dsim.handled"
# direct_start: DNPROC simulators, fresh agents (fresh replay stores)
direct_start() {
	local k n base=$DIRECT_PORT
	DPKI=$(mktemp -d /dev/shm/kakuri-direct.XXXXXX 2>/dev/null || mktemp -d "$WORK/dpki.XXXXXX") || return 1
	DSIMPIDS=()
	for k in $(seq 1 "$DNPROC"); do
		n=$(( k < DNPROC ? DPER : NDIRECT - (DNPROC - 1) * DPER ))
		mkdir -p "$DPKI/$k"
		: >"$WORK/dsim$k.out"
		ip netns exec "$PEER" "$SIM" direct "$PEER4" "$base" "$n" "$GROUP" "$PKI/trust.conf" \
			"$PKI/ca.pem" "$DPKI/$k" "$WORK/dsim$k.targets" 900 >"$WORK/dsim$k.out" 2>"$WORK/dsim$k.err" &
		DSIMPIDS+=($!); PIDS+=($!)
		base=$((base + n))
	done
	until_ok 300 sims_settled dsim "${DSIMPIDS[@]}"
	rm -rf "$DPKI"; DPKI=""
	cat "$WORK"/dsim*.targets >"$WORK/direct.targets" 2>/dev/null
	rm -f "$WORK"/direct.chunk.*
	split -l "$DCHUNK" -d -a 3 "$WORK/direct.targets" "$WORK/direct.chunk."
	dready=$(cat "$WORK"/dsim*.out | awk '/^ready/ { n += $2; if ($3 > ms) ms = $3 } END { print n + 0, ms + 0 }')
	[ "${dready% *}" = "$NDIRECT" ] && [ "$(wc -l <"$WORK/direct.targets")" = "$NDIRECT" ] || {
		tail -n 5 "$WORK"/dsim*.err; echo "only ${dready% *} of $NDIRECT simulated direct agents listen"; return 1; }
	dsim_rss=$(for p in "${DSIMPIDS[@]}"; do rss "$p"; done | awk '{ s += $1 } END { print s }')
}
direct_stop() {
	[ -n "$DPKI" ] && rm -rf "$DPKI"
	sims_stop "${DSIMPIDS[@]}"
	cat "$WORK"/dsim*.out | grep '^handled' >>"$WORK/dsim.handled"
	DSIMPIDS=()
}
# direct_send C: ISO2 to every simulated direct agent, C at once, by
# one kakurictl process per DCHUNK targets, one after the other; from the
# first one's start to the last one's exit: d_ms; d_done (targets whose
# one receipt is done: kakurictl checked its signature by the pinned id),
# d_rc (2: the first refused its arguments), d_nctl processes
direct_send() {
	local t0 t1 f
	: >"$WORK/direct$1.json"; : >"$WORK/direct$1.err"
	d_nctl=0
	t0=$EPOCHREALTIME
	for f in "$WORK"/direct.chunk.*; do
		ip netns exec "$PEER" "$KAKURICTL" send --json --concurrency "$1" --targets "$f" \
			--cert "$PKI/op-ca.crt" --key "$PKI/op-ca.key" "$ISO2" >>"$WORK/direct$1.json" 2>>"$WORK/direct$1.err"
		d_rc=$?
		d_nctl=$((d_nctl + 1))
		[ "$d_rc" = 2 ] && [ ! -s "$WORK/direct$1.json" ] && break
	done
	t1=$EPOCHREALTIME
	d_ms=$(( (${t1/./} - ${t0/./}) / 1000 ))
	d_done=$(jq -r 'select(.status == "done" and (.receipts | length) == 1 and
		.receipts[0].result == "done") | .target' "$WORK/direct$1.json" 2>/dev/null | sort -u | wc -l)
}
direct_start || exit 1
dready_ms=${dready#* }
dfresh=1
best_c="" best_ms="" dnotes=""
for c in 256 64; do
	if [ "$dfresh" = 0 ]; then
		direct_stop; direct_start || exit 1
	fi
	direct_send "$c"
	if [ "$d_rc" = 2 ] && [ ! -s "$WORK/direct$c.json" ]; then
		# refused before any connection: the agents are still fresh
		dnotes+="; C=$c: refused by this kakurictl (exit 2, nothing sent)"
		continue
	fi
	dfresh=0
	dnotes+="; C=$c: $d_done of $NDIRECT done in $d_ms ms"
	dnctl=$d_nctl
	[ "$d_done" = "$NDIRECT" ] || { head -c 600 "$WORK/direct$c.err"; echo "direct C=$c: $d_done of $NDIRECT done"; continue; }
	if [ -z "$best_ms" ] || [ "$d_ms" -lt "$best_ms" ]; then best_c=$c best_ms=$d_ms; fi
done
# honest agents: the same file again is a replay; an operator certificate
# of another CA gets no connection (20 agents each, after the runs)
dcheck=""
if [ -n "$best_ms" ]; then
	head -n 20 "$WORK/direct.targets" >"$WORK/direct.sample"
	for who in ca rogue; do
		ip netns exec "$PEER" "$KAKURICTL" send --json --concurrency 20 --targets "$WORK/direct.sample" \
			--cert "$PKI/op-$who.crt" --key "$PKI/op-$who.key" "$ISO2" >"$WORK/dcheck-$who.json" 2>/dev/null
	done
	nsample=$(wc -l <"$WORK/direct.sample")
	nreplay=$(jq -r 'select(.receipts[0].reason == "replay") | .target' "$WORK/dcheck-ca.json" | sort -u | wc -l)
	nrogue=$(jq -r 'select(.status == "unreachable") | .target' "$WORK/dcheck-rogue.json" | sort -u | wc -l)
	dcheck="sent again: $nreplay of $nsample refused as replay; rogue operator certificate: $nrogue of $nsample unreachable"
	[ "$nreplay" = "$nsample" ] && [ "$nrogue" = "$nsample" ] || { echo "direct agents: $dcheck"; exit 1; }
fi
direct_stop
dhandled=$(awk '/^handled/ { d += $3; r += $5; n += $7; b += $9; f += $11; t += $13; c += $17 }
	END { printf "%d commands done, %d refused; %d connections, %d over the limit, %d TLS failures, %d timed out; %.1f CPU s", d, r, n, b, f, t, c }' "$WORK/dsim.handled")
[ -n "$best_ms" ] || { echo "no direct fan-out to $NDIRECT simulated agents completed${dnotes}"; exit 1; }

# b. TLS handshakes ----------------------------------------------------------
ip netns exec "$PEER" "$SIM" tls "$PEER4" "$BROKER_PORT" "$NTLS" "$FLEET/ca.pem" \
	"$FLEET/simtls.crt" "$FLEET/simtls.key" >"$WORK/tls.out" 2>"$WORK/tls.err"
read -r _ ntls tls_ms _ _ <"$WORK/tls.out"
echo
echo "13b. TLS 1.3 with client certificates (Ed25519, the lab's fleet CA) to the same broker, $NTLS connections, up to 400 at once"
awk -v n="${ntls:-0}" -v ms="${tls_ms:-0}" -v want="$NTLS" -v big="$NSIM" 'BEGIN {
	r = ms > 0 ? n / (ms / 1000) : 0; t = r > 0 ? big / r : -1;
	printf "    %d of %d connected (TLS + CONNACK) in %d ms: %.0f handshakes/s; %d agents would take %.1f s at that rate\n",
		n, want, ms, r, big, t }'

# c. real kakurid agents --------------------------------------------------------
KPIDS=()
for i in $(seq 1 "$NREAL"); do
	d="$WORK/f$i"
	ip netns exec "${P}-f$i" "$KAKURID" -f "$d/p.conf" >"$d/log" 2>&1 &
	KPIDS+=($!); PIDS+=($!)
done
connected() { "$KAKURICTL" -s "$1/c.sock" status --json 2>/dev/null | jq -r .fleet.state | grep -q '^connected'; }
for i in $(seq 1 "$NREAL"); do
	until_ok 30 connected "$WORK/f$i" || { tail -3 "$WORK/f$i/log"; echo "agent $i did not connect to the broker"; exit 1; }
done
mode_of() { "$KAKURICTL" -s "$1/c.sock" status --json 2>/dev/null | jq -r ".$2"; }
all_mode() {
	local i
	for i in $(seq 1 "$NREAL"); do [ "$(mode_of "$WORK/f$i" mode)" = "$1" ] || return 1; done
}
# release_all RUN [direct]: every agent released by a two-signature
# release addressed to it (each has an episode of its own), through the
# broker, or with "direct" over mutual TLS to its CSIRT listener
release_all() {
	local i d id rel
	for i in $(seq 1 "$NREAL"); do
		d="$WORK/f$i"
		id=$(sed -n "${i}p" "$WORK/real.ids")
		rel=$(signed "rel$1-$i" alice release --agent "$id" --episode "$(mode_of "$d" episode)")
		"$KAKURICTL" cosign -k "$PKI/bob.key" "$rel" 2>/dev/null
		if [ "${2:-}" = direct ]; then
			ip netns exec "$PEER" "$KAKURICTL" send --json --to "10.99.1.$i:7443" --agent-id "$id" \
				--cert "$PKI/op-ca.crt" --key "$PKI/op-ca.key" "$rel" 2>/dev/null |
				jq '{summary: {done: ([.receipts[]? | select(.result == "done")] | length)}}' >"$WORK/rel.json"
		else
			send_broker operator --json --agent "$id" --timeout 15000 "$rel" >"$WORK/rel.json" 2>/dev/null
		fi
		jq -e ".summary.done == 1" "$WORK/rel.json" >/dev/null || { jq -c . "$WORK/rel.json"; "$KAKURICTL" -s "$d/c.sock" status --json | jq -c .fleet; ip netns exec "${P}-f$i" nft list table inet kakuri | sed -n 1,80p; echo "run $1: agent $i not released"; return 1; }
	done
	until_ok 10 all_mode open || { echo "run $1: not every agent is open again"; return 1; }
}
: >"$WORK/real.ms"; : >"$WORK/real.all"
for r in $(seq 1 "$RUNS"); do
	f=$(signed "iso$r" alice isolate --group "$GROUP")
	ip netns exec "$PEER" "$SIM" operator "$PEER4" "$BROKER_PORT" "$GROUP" "$WORK/real.ids" \
		"$f" 30000 "$WORK/real.ms" "${OPTLS[@]}" >"$WORK/real.out" 2>>"$WORK/op.err"
	read -r _ got _ want _ ndone _ _ _ _ _ _ _ ms100 _ <"$WORK/real.out"
	[ "$got" = "$want" ] && [ "$ndone" = "$want" ] || { echo "run $r: $(cat "$WORK/real.out")"; exit 1; }
	echo "$ms100" >>"$WORK/real.all"
	all_mode isolated || { echo "run $r: not every agent is isolated"; exit 1; }
	release_all "$r" || exit 1
done
read -r rm rp < <(stats "$WORK/real.ms")
read -r am _ < <(stats "$WORK/real.all")
echo
echo "13c. $NREAL real kakurid agents (own namespaces, agent.listen = \"\", one group), $RUNS group isolates through the broker"
echo "    (released between runs by a two-signature release addressed to each agent: every agent has its own episode)"
printf '    publish -> receipt at the operator, %s receipts: median %s ms, p99 %s ms\n' "$(wc -l <"$WORK/real.ms")" "$rm" "$rp"
printf '    publish -> all %s receipts in (per run): median %s ms, worst %s ms\n' "$NREAL" "$am" "$(sort -g "$WORK/real.all" | tail -1)"

# d. the same group isolate by direct mutual TLS from one station -----------
# The same agents, restarted with the CSIRT listener on as well
# (agent.listen, tls.client_ca); kakurictl send connects to each, pins its
# id and checks its receipt, NREAL at once.
for i in $(seq 1 "$NREAL"); do
	kill -TERM "${KPIDS[$((i - 1))]}" 2>/dev/null
done
for i in $(seq 1 "$NREAL"); do
	for _ in $(seq 1 100); do kill -0 "${KPIDS[$((i - 1))]}" 2>/dev/null || break; sleep 0.05; done
	wait "${KPIDS[$((i - 1))]}" 2>/dev/null
done
KPIDS=()
channel_listening() { [ "$(mode_of "$1" csirt_channel)" = listening ]; }
for i in $(seq 1 "$NREAL"); do
	d="$WORK/f$i"
	sed -i -e 's|listen = "";|listen = "0.0.0.0:7443";|' "$d/p.conf"
	echo "tls: { client_ca = \"$PKI/ca.pem\"; };" >>"$d/p.conf"
	ip netns exec "${P}-f$i" "$KAKURID" -f "$d/p.conf" >>"$d/log" 2>&1 &
	KPIDS+=($!); PIDS+=($!)
done
for i in $(seq 1 "$NREAL"); do
	until_ok 30 channel_listening "$WORK/f$i" || { tail -n 3 "$WORK/f$i/log"; echo "agent $i: no CSIRT listener"; exit 1; }
	until_ok 30 connected "$WORK/f$i" || { echo "agent $i did not reconnect to the broker"; exit 1; }
done
: >"$WORK/direct.ms"
for r in $(seq 1 "$RUNS"); do
	f=$(signed "diso$r" alice isolate --group "$GROUP")
	t0=$EPOCHREALTIME
	ip netns exec "$PEER" "$KAKURICTL" send --json --concurrency "$NREAL" --targets "$WORK/targets" \
		--cert "$PKI/op-ca.crt" --key "$PKI/op-ca.key" "$f" >"$WORK/direct.json" 2>"$WORK/direct.err"
	t1=$EPOCHREALTIME
	ok=$(jq -r '.receipts[]?.result // .result' "$WORK/direct.json" 2>/dev/null | grep -c '^done$')
	[ "$ok" -eq "$NREAL" ] || { head -c 600 "$WORK/direct.json" "$WORK/direct.err"; echo "direct run $r: $ok of $NREAL done"; exit 1; }
	echo $(( (${t1/./} - ${t0/./}) / 1000 )) >>"$WORK/direct.ms"
	all_mode isolated || { echo "direct run $r: not every agent is isolated"; exit 1; }
	# released direct as well: after an isolate that came over TLS the
	# broker's next message on the quiet session is dropped (the isolated
	# ruleset takes the broker's packets only as ct established, and
	# conntrack first sees that session inbound) until the agent's next
	# keep-alive; an open issue of the agent's ruleset, not measured here
	release_all "d$r" direct || exit 1
done
read -r dm _ < <(stats "$WORK/direct.ms")
# the broker, the same way: the operator's whole process, kakurictl send
: >"$WORK/bctl.ms"
for r in $(seq 1 "$RUNS"); do
	f=$(signed "biso$r" alice isolate --group "$GROUP")
	t0=$EPOCHREALTIME
	send_broker operator --json --group "$GROUP" --expect "$WORK/real.ids" --timeout 30000 "$f" \
		>"$WORK/bctl.json" 2>/dev/null
	t1=$EPOCHREALTIME
	[ "$(jq -r .summary.done "$WORK/bctl.json")" = "$NREAL" ] || { echo "broker run $r: not all done"; exit 1; }
	echo $(( (${t1/./} - ${t0/./}) / 1000 )) >>"$WORK/bctl.ms"
	release_all "b$r" || exit 1
done
read -r bm _ < <(stats "$WORK/bctl.ms")
echo
echo "13d. side by side, the same $NREAL real agents, one group isolate, kakurictl as a whole process ($RUNS runs, median / worst ms)"
printf '    through the broker (send --broker --group --expect):        %s / %s\n' "$bm" "$(sort -g "$WORK/bctl.ms" | tail -1)"
printf '    direct mutual TLS fan-out (send --targets --concurrency %s): %s / %s\n' "$NREAL" "$dm" "$(sort -g "$WORK/direct.ms" | tail -1)"
echo "    $NDIRECT simulated direct agents (build/fleetsim direct: $DNPROC process(es), own identity and TLS certificates,"
echo "    a TLS 1.3 listener each requiring the operator's client certificate, kakurid's kd_signed_check, signed receipts),"
echo "    $NSIM on the broker (13a); one group isolate, kakurictl as a whole process, every receipt checked done:"
printf '      direct mutual TLS (send --targets --concurrency %s --json): %s of %s done in %s ms (%s)\n' \
	"$best_c" "$NDIRECT" "$NDIRECT" "$best_ms" "the better of${dnotes#;}"
echo "        ($dnctl kakurictl send processes one after the other, timed from the first start to the last exit:"
echo "         send takes at most $DCHUNK targets)"
printf '      through the broker (13a: send --broker --group --expect):   %s of %s done in %s ms\n' \
	"${ctl_done:-?}" "$NSIM" "$ctl_ms"
printf '      broker receipts at the operator (13a, fleetsim operator):   99%% in %s ms, 100%% in %s ms\n' "$ms99" "$sim100"
awk -v d="$best_ms" -v c="$ctl_ms" -v p99="$ms99" -v p100="$sim100" -v nd="$NDIRECT" -v nb="$NSIM" 'BEGIN {
	printf "      ratio direct / broker: %.1fx the whole kakurictl process, %.1fx the broker'"'"'s 99%%, %.1fx its 100%%%s\n",
		d / c, (p99 > 0 ? d / p99 : -1), (p100 > 0 ? d / p100 : -1),
		(nd == nb ? "" : sprintf(" (%d direct agents, %d on the broker)", nd, nb)) }'
printf '      direct simulator: %s\n' "$dhandled"
awk -v s="$dsim_rss" -v n="$NDIRECT" -v ms="$dready_ms" 'BEGIN {
	printf "      direct simulator RSS %d KiB with %d agents: %.1f KiB per agent; keys, certificates and listeners in %d ms\n", s, n, s / n, ms }'
printf '      checks after the runs: %s\n' "$dcheck"
awk -v n="$NREAL" -v ms="$dm" 'BEGIN {
	printf "    per-agent rate, direct to the %d real agents above: %.0f agents/s from one station\n", n, n / (ms / 1000) }'
