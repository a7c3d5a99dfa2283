# Deterministic IOC block lists for t-block.sh and bench/block_bench.sh
# (sourced after lib.sh).
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
