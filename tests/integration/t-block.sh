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
cat >"$PKI/trust.conf" <<EOT
keys = (
  { id = "alice"; public_key = "$PKI/alice.pub"; roles = [ "isolate", "release", "status", "block", "unblock" ]; },
  { id = "bob";   public_key = "$PKI/bob.pub";   roles = [ "release" ]; }
);
thresholds = { release = 2; };
EOT
write_policy "$(remote_agent_conf)" "$(remote_tls_conf)
blocklists: { log_group = 7; log_rate = \"10/second\"; };"
AGENT_ID=$(agent_init)

# The blocked ranges live behind the "internet" host: ep routes them
# there, and net answers on the sampled addresses (and on the ones just
# outside them).
ip -n "$EP" route add 11.0.0.0/8 via "$NET4"
ip -n "$EP" -6 route add 2001:db8:100::/40 via "$NET6"
ip -n "$CT" route add 11.0.0.0/8 via 203.0.113.1 2>/dev/null
ip -n "$NET" route add 203.0.113.0/24 via "$EPN4" 2>/dev/null

# Entry i of the generated lists: a /27 every 64 addresses of 11.0.0.0/8
# (the 32 after it are outside) and a /64 at every other /64 of
# 2001:db8:100::/40 (the next one is outside).
# v4_of I OFFSET: the address OFFSET into IPv4 slot I
v4_of() { local n=$((11 * 16777216 + $1 * 64 + ${2:-0})); echo "$((n >> 24 & 255)).$((n >> 16 & 255)).$((n >> 8 & 255)).$((n & 255))"; }
# v6_of I NEXT HOST: address HOST of IPv6 slot I's /64 (NEXT 1: the one after)
v6_of() { printf '2001:db8:%x:%x::%s' $((256 + $1 / 32768)) $((2 * ($1 % 32768) + ${2:-0})) "${3:-}"; }
gen() {	# gen SET VERSION N [FIRST]: args JSON on stdout
	awk -v set="$1" -v ver="$2" -v n="$3" -v first="${4:-0}" 'BEGIN {
		printf "{\"set\":\"%s\",\"version\":%d,\"addresses\":[", set, ver
		for (i = first; i < first + n / 2; i++) {
			a = 11 * 16777216 + i * 64
			printf "%s\"%d.%d.%d.%d/27\",\"2001:db8:%x:%x::/64\"", (i > first ? "," : ""),
				int(a / 16777216) % 256, int(a / 65536) % 256, int(a / 256) % 256, a % 256,
				256 + int(i / 32768), 2 * (i % 32768)
		}
		printf "]}"
	}'
}
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
# the packets the drops of list SET counted in chain CHAIN
drops() {
	ip netns exec "$EP" nft list chain inet kakuri "$2" 2>/dev/null |
		awk -v c="block $1 v" 'index($0, c) && /, drop"/ { for (i = 1; i < NF; i++) if ($i == "packets") s += $(i + 1) } END { print s + 0 }'
}
blocked() { ! reach "$@" 300; }	# blocked NS tcp ADDR PORT: no echo in 300 ms
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

# --- 100,000 mixed CIDRs: four lists of 25,000 (the frames of the CSIRT
# channel are 1 MiB for now), one of them a single command over it ---
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

echo "-- open mode"
check "open: blocked samples dropped, addresses just outside pass (output, IPv4 + IPv6)" samples_hold "$EP"
check "open: the same for a container behind the host (forward)" samples_hold "$CT"
check "open: the list's counter counted the drops" test "$(drops ioc0 output)" -gt 0

echo "-- egress mode"
F=$(sign alice isolate --arg mode=egress)
check "isolate egress is done" test "$(send_result "$F")" = done
check "egress: blocked samples dropped, addresses just outside pass (output)" samples_hold "$EP"
check "egress: the same for the container (forward)" samples_hold "$CT"

echo "-- isolated mode"
F=$(sign alice isolate --arg mode=isolated)
check "isolate is done" test "$(send_result "$F")" = done
EPISODE=$(status_field episode)
before=$(drops ioc0 output)
refute "isolated: a blocked sample is dropped" reach "$EP" tcp "$(v4_of 0 5)" 8080 300
check "isolated: the block list's rule dropped it (its counter, before the isolation's drop)" \
	test "$(drops ioc0 output)" -gt "$before"
check "isolated: the management channel still passes (a signed status over it)" \
	test "$(send_result "$(sign alice status)")" = done
F=$(sign alice release --episode "$EPISODE") && "$KAKURICTL" cosign -k "$PKI/bob.key" -o "$F" "$F" 2>/dev/null
check "release (two signatures) is done" test "$(send_result "$F")" = done
check "open again: the lists still hold" samples_hold "$EP"
