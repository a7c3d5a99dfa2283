#!/usr/bin/env bash
# Section 10's drain alone, this tree's collector side by side with
# another's: reports queued in one kakurid's outbox while the collector
# is away, then drained by `kakurictl collector` of either tree, in
# turns, against the floor of the same disk (report-bench floor: temp +
# fsync + rename + directory fsync a file).  The agent, its courier and
# the clients are this tree's throughout: only the collector differs.
#   BENCH_BASELINE_REV (main): the other tree, from this clone's history
#   (git archive, built in the bench's own directory); BENCH_BASELINE_DIR:
#   a tree built already, in its place
#   BENCH_DRAIN (10000) reports a turn, BENCH_DRAIN_TURNS (3) turns each
#   BENCH_DRAIN_PERF=FILE: perf record of the whole machine while this
#   tree's collector drains, the last turn, into FILE; with
#   BENCH_DRAIN_PERF_ARGS (-a -g), e.g. "-a -e syscalls:sys_enter_syncfs
#   -e syscalls:sys_exit_syncfs" for how many syncs and how long each
. "$(dirname "$0")/../tests/integration/lib.sh"
need
REV=${BENCH_BASELINE_REV:-main}
DRAIN=${BENCH_DRAIN:-10000}
TURNS=${BENCH_DRAIN_TURNS:-3}
BASE="$WORK/baseline"

echo "drain: this tree's collector against $REV's, $DRAIN reports a turn, $TURNS turns each"
if [ -n "${BENCH_BASELINE_DIR:-}" ]; then
	BASE=$BENCH_BASELINE_DIR
else
	mkdir -p "$BASE"
	git -C "$TOP" archive "$REV" | tar -x -C "$BASE" ||
		{ echo "cannot run: git archive $REV failed"; exit 1; }
	make -C "$BASE" -j"$(nproc)" kakurictl >"$WORK/baseline-build.log" 2>&1 ||
		{ echo "cannot run: $REV does not build here:"; tail -5 "$WORK/baseline-build.log"; exit 1; }
fi

# this tree's collector as it is now: a build during the run changes nothing
cp "$KAKURICTL" "$WORK/kakurictl-now"
topology || exit 1
pki_setup || exit 1
COL_ID=$("$KAKURICTL" agent-id "$PKI/op-ca.crt")
write_policy "$(remote_agent_conf)" "$(remote_tls_conf)
report: { collector = \"$PEER4:7444\"; collector_id = \"$COL_ID\"; };"
AGENT_ID=$(agent_init)
start_kakurid >/dev/null || exit 1
echo "$AGENT_ID" >"$WORK/agents"
COLPID=
col_up() {	# col_up TREE DIR
	local ctl=$WORK/kakurictl-now
	[ "$1" = before ] && ctl=$BASE/kakurictl
	: >"$WORK/col.out"
	ip netns exec "$PEER" "$ctl" collector --listen "[::]:7444" \
		--dir "$2" --cert "$PKI/op-ca.crt" --key "$PKI/op-ca.key" \
		--agents "$WORK/agents" >"$WORK/col.out" 2>>"$WORK/col.err" &
	COLPID=$!; PIDS+=($COLPID)
	for _ in $(seq 1 200); do grep -q listening "$WORK/col.out" && return 0; sleep 0.05; done
	echo "the collector ($1) did not start"; return 1
}
col_down() { kill -INT "$COLPID" 2>/dev/null; wait "$COLPID" 2>/dev/null; COLPID=; }
# cpu_ms PID...: the CPU time these, their threads and children have had
cpu_ms() { echo $(($(cpu_ns "$@") / 1000000)); }

# one turn: DRAIN reports queued, drained by TREE's collector into a
# fresh directory; prints reports/s, and the CPU milliseconds the
# collector and the agent (kakurid, its children) had in the drain.
# Nothing is deleted until the end: on ext4 without a journal, a file
# created looks past every inode freed within the last minute (the
# kernel's recently_deleted), so a turn after a deletion would pay for it
TURN=0
drain_turn() {	# drain_turn TREE [perf FILE]
	local dir="$WORK/col-$1-$TURN" t0 t1 want n c0 c1 a0 a1 perf=
	mkdir -p "$dir"
	"$TOP/build/report-bench" queue "$SOCK" "$DRAIN" >/dev/null || return 1
	col_up "$1" "$dir" || return 1
	c0=$(cpu_ms "$COLPID"); a0=$(cpu_ms "$KPID")
	if [ "${2:-}" = perf ]; then
		# shellcheck disable=SC2086
		perf record ${BENCH_DRAIN_PERF_ARGS:--a -g} -o "$3" >/dev/null 2>&1 &
		perf=$!
		sleep 0.5
	fi
	t0=$EPOCHREALTIME
	"$TOP/build/report-bench" queue "$SOCK" 1 >/dev/null	# the kick
	want=$((DRAIN + 1))
	for _ in $(seq 1 12000); do
		n=$(wc -l 2>/dev/null <"$dir/index.jsonl" || echo 0)
		[ "$n" -ge "$want" ] && break
		sleep 0.02
	done
	t1=$EPOCHREALTIME
	c1=$(cpu_ms "$COLPID"); a1=$(cpu_ms "$KPID")
	if [ -n "$perf" ]; then kill -INT "$perf"; wait "$perf"; fi
	# the acks' last deletions done: the next turn's queue starts empty
	for _ in $(seq 1 500); do
		[ "$(ctl outbox --json | jq -r .count)" = 0 ] && break
		sleep 0.02
	done
	col_down
	[ "$n" -ge "$want" ] || { echo "turn ($1): $n of $want arrived" >&2; return 1; }
	awk -v n="$n" -v us="$(( ${t1/./} - ${t0/./} ))" -v c=$((c1 - c0)) -v a=$((a1 - a0)) \
		'BEGIN { printf "%.0f %d %d %d\n", n / (us / 1e6), us / 1000, c, a }'
}

# a first drain, untimed, so that the agent's outbox and the disk are warm
drain_turn now >/dev/null || exit 1
TURN=$((TURN + 1))
for turn in $(seq 1 "$TURNS"); do
	for t in before now; do
		if [ "$t" = now ] && [ "$turn" = "$TURNS" ] && [ -n "${BENCH_DRAIN_PERF:-}" ]; then
			read -r r ms cms ams < <(drain_turn "$t" perf "$BENCH_DRAIN_PERF")
		else
			read -r r ms cms ams < <(drain_turn "$t")
		fi
		[ -n "$r" ] || exit 1
		echo "$r" >>"$WORK/drain-$t"
		mkdir -p "$WORK/floor-$t-$TURN"
		size=$(stat -c %s "$(ls "$WORK/col-$t-$TURN/$AGENT_ID"/*.json | head -1)")
		"$TOP/build/report-bench" floor "$WORK/floor-$t-$TURN" "$DRAIN" "$size" >>"$WORK/floor-$t" || exit 1
		TURN=$((TURN + 1))
		echo "   turn $turn $t: $r reports/s, floor $(tail -1 "$WORK/floor-$t") files/s (CPU in the $ms ms: collector $cms ms, agent $ams ms)"
	done
done
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { printf "%.0f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for t in before now; do
	d=$(median "$WORK/drain-$t"); f=$(median "$WORK/floor-$t")
	awk -v t="$t" -v d="$d" -v f="$f" 'BEGIN {
		printf "   %-6s drain median %5d reports/s, floor median %5d files/s, ratio %.2f (target >= 0.5)\n", t, d, f, d / f }'
done
stop_kakurid -TERM
