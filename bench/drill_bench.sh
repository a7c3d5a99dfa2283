#!/usr/bin/env bash
# make bench, section 11: drills (issue 11), in namespaces of their own.
#   a. live drill start -> isolated and verified (kakurid's commit +
#      read-back, from the record), and kakurictl drill start as a whole
#      process;
#   b. revert -> connectivity back (the record's probes after the revert);
#   c. kill -9 kakurid -> the endpoint reaches the internet host again
#      (polled from outside kakurid, every few ms);
#   d. deadline accuracy: revert time minus (start + duration).
# BENCH_DRILLS (20) drills of 1 s; BENCH_KILLS (10) kill -9 runs.
. "$(dirname "$0")/../tests/integration/lib.sh"
need
N=${BENCH_DRILLS:-20}
K=${BENCH_KILLS:-10}
topology || exit 1
write_policy "" "drill: { probes = [ \"$NET4:8080\", \"[$NET6]:8080\" ]; check = \"$PEER4:7444\"; gate = 2; };"
for a in "$NET4" "$NET6"; do serve "$NET" "$a" 8080; done
serve "$PEER" "$PEER4" 7444
start_kakurid >/dev/null || exit 1
until_ok 5 reach "$EP" tcp "$NET4" 8080 || exit 1

stats() {	# stats FILE -> "median worst" (worst: the largest)
	sort -g "$1" | awk '{ v[NR] = $1 } END {
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
		printf "%.2f %.2f\n", m, v[NR] }'
}
latest() { ctl drill history --json --limit 1 | jq -r ".[0]$1"; }
done_id() { [ "$(latest .id)" = "$1" ] && [ "$(latest .state)" = done ]; }

: >"$WORK/verified" ; : >"$WORK/cli" ; : >"$WORK/back" ; : >"$WORK/late"
for i in $(seq 1 "$N"); do
	t0=$(date +%s%N)
	id=$(ctl drill start --live --duration 1 --json | jq -r .drill.id)
	t1=$(date +%s%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) / 1e6 }' >>"$WORK/cli"
	until_ok 10 done_id "$id" || { echo "drill $id did not end"; exit 1; }
	rec=$(ctl drill history --json --limit 1 | jq -c '.[0].timings_ms')
	jq -r .verified <<<"$rec" >>"$WORK/verified"
	jq -r '.connectivity_back - .reverted' <<<"$rec" >>"$WORK/back"
	jq -r '.reverted - .started - 1000' <<<"$rec" >>"$WORK/late"
done
: >"$WORK/kill"
for i in $(seq 1 "$K"); do
	ctl drill start --live --duration 60 >/dev/null
	until_ok 5 bash -c "! ip netns exec $EP $NETPROBE tcp $NET4 8080 200" || exit 1
	t0=$(date +%s%N)
	kill -9 "$KPID"
	for _ in $(seq 1 2000); do
		ip netns exec "$EP" "$NETPROBE" tcp "$NET4" 8080 20 >/dev/null 2>&1 && break
	done
	t1=$(date +%s%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) / 1e6 }' >>"$WORK/kill"
	wait "$KPID" 2>/dev/null; KPID=
	start_kakurid >/dev/null || exit 1
done
read -r vm vw < <(stats "$WORK/verified")
read -r cm cw < <(stats "$WORK/cli")
read -r bm bw < <(stats "$WORK/back")
read -r lm lw < <(stats "$WORK/late")
read -r km kw < <(stats "$WORK/kill")
echo
echo "11. drills: $N live drills of 1 s, $K kill -9 runs (median / worst, ms)"
printf '   start -> isolated and verified (kakurid: commit + read-back): %s / %s\n' "$vm" "$vw"
printf '   kakurictl drill start --live, whole process:                 %s / %s\n' "$cm" "$cw"
printf '   revert -> connectivity back (probes answered again):        %s / %s\n' "$bm" "$bw"
printf '   kill -9 kakurid -> the internet host answers (polled):       %s / %s\n' "$km" "$kw"
printf '   deadline accuracy (revert - (start + duration)):            %s / %s\n' "$lm" "$lw"
