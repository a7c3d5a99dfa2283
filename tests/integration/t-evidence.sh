#!/usr/bin/env bash
# Preserve the evidence: freeze (cgroup freezer) instead of kill, snapshot
# memory as ELF cores gdb opens, collect volatile state, a signed manifest,
# and fetch with verification -- all as signed commands from the CSIRT
# namespace.  Only processes this script starts are frozen or snapshotted:
# every selector names them by pid, by a binary only they run, or by a uid
# nothing else uses.
. "$(dirname "$0")/lib.sh"
trap 'cleanup; cgroups_remove' EXIT
need
CORETARGET="$TOP/build/coretarget"
FORKER="$TOP/build/forker"
need_built "$CORETARGET" "$FORKER"
command -v gdb >/dev/null || unable "gdb is missing (make check installs it)" "gdb present"
echo "== evidence: freeze, snapshot, collect, manifest, fetch"
evidence_setup '{ id = "carol"; public_key = "'"$PKI"'/carol.pub"; roles = [ "status" ]; }'
mkdir -p "$WORK/a" "$WORK/b"
evidence_start "freeze_timeout = 10;"
METHOD=$(ctl status --json | jq -r .evidence.freezer)
check "a freezer is available (cgroup2 or freezer-v1): $METHOD" test "$METHOD" = cgroup2 -o "$METHOD" = freezer-v1

# run_cmd KEY ACTION [sign options]: send it, keep the receipt in $REC
REC=
run_cmd() { local f; f=$(sign "$@") || return 1; REC=$(send --timeout 120000 "$f" 2>/dev/null | jq -c '.receipts[0]'); }
result() { jq -r 'if .result == "done" then "done" else (.reason // .result) end' <<<"$REC"; }
cosigned() { local f; f=$(sign "$@") && "$KAKURICTL" cosign -k "$PKI/bob.key" "$f" 2>/dev/null && echo "$f"; }
run_file() { REC=$(send --timeout 120000 "$1" 2>/dev/null | jq -c '.receipts[0]'); }

# descendants PID: every pid below PID (bounded walk of /proc)
descendants() {
	local todo=("$1") p c n=0
	while [ ${#todo[@]} -gt 0 ] && [ $n -lt 5000 ]; do
		p=${todo[0]}; todo=("${todo[@]:1}"); n=$((n + 1))
		for c in $(cat /proc/$p/task/*/children 2>/dev/null); do
			echo "$c"; todo+=("$c")
		done
	done
}
cgroup_of() { grep -E '^0::|freezer' /proc/$1/cgroup 2>/dev/null | head -1; }
# counters FILE: the forker's 64-bit counters, one line
counters() { od -An -v -t u8 "$1" | tr -s ' \n' ' ' | sed 's/^ //; s/ $//'; }
# advanced FILE BEFORE...: every counter has moved past its value in BEFORE
advanced() {
	local f=$1 i=0 b now; shift
	read -r -a now <<<"$(counters "$f")"
	for b in "$@"; do [ "${now[$i]:-0}" -gt "$b" ] || return 1; i=$((i + 1)); done
}

# --- freeze a tree whose children fork in a loop ---
"$FORKER" 3 "$WORK/forker.cnt" >"$WORK/forker.out" 2>"$WORK/forker.err" &
FPID=$!; PIDS+=("$FPID")
forker_up() { [ "$(wc -l <"$WORK/forker.out")" -ge 4 ] && advanced "$WORK/forker.cnt" 0 0 0; }
check "the forking tree runs (every child has reaped a grandchild)" wait_until 30 forker_up
CHILDREN=$(tail -n +2 "$WORK/forker.out" | head -3)
C1=$(echo "$CHILDREN" | head -1)
ORIG_CG=$(cgroup_of "$C1")
run_cmd alice freeze --arg pid:="$FPID" --incident IR-EVID-1
check "freeze the forking tree: done" test "$(result)" = done
FEP=$(jq -r .output.freeze_episode <<<"$REC")
check "the receipt lists the frozen processes and the method" \
	bash -c "jq -e '.output.frozen | length >= 4' <<<'$REC' >/dev/null && jq -e '.output.method == \"$METHOD\"' <<<'$REC' >/dev/null"
T1=$(descendants "$FPID" | sort -n | tr '\n' ' ')
CF1=$(counters "$WORK/forker.cnt")
# frozen is a lasting state: nothing may change while it holds
sleep 0.4
T2=$(descendants "$FPID" | sort -n | tr '\n' ' ')
CF2=$(counters "$WORK/forker.cnt")
check "no new child escapes: the tree is the same 400 ms later ($(wc -w <<<"$T1") processes)" test "$T1" = "$T2"
check "the children fork no more while frozen (counters $CF1 -> $CF2)" test "$CF1" = "$CF2"
allin=1
for p in $FPID $T1; do
	# a zombie has left every cgroup; it has nothing left to freeze
	grep -q '^State:.*Z' /proc/$p/status 2>/dev/null && continue
	grep -q "kakuri/$FEP" /proc/$p/cgroup 2>/dev/null || { allin=0; echo "    not frozen: $p $(cat /proc/$p/cgroup 2>/dev/null)"; }
done
check "every process of the tree is in the quarantine cgroup" test $allin = 1
if [ "$METHOD" = cgroup2 ]; then
	CG2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
	check "cgroup.events says frozen 1" grep -qx "frozen 1" "$CG2/kakuri/$FEP/cgroup.events"
fi
check "no process was stopped with a signal (state is not T)" \
	bash -c "! grep -h '^State:' $(for p in $FPID $T1; do printf '/proc/%s/status ' $p; done) 2>/dev/null | grep -q 'T (stopped)'"
check "the forker saw no stop event of its children" bash -c "! grep -q stopped '$WORK/forker.err' '$WORK/forker.out'"
check "status shows the frozen processes" test "$(ctl status --json | jq -r .evidence.frozen)" -ge 4

# thaw needs the release threshold as well
run_cmd alice thaw --arg pid:="$FPID" --episode "$FEP"
check "thaw with one signature (release = 2): threshold" test "$(result)" = threshold
run_file "$(cosigned alice thaw --arg pid:="$FPID" --episode 0123456789abcdef0123456789abcdef)"
check "thaw naming another freeze episode: wrong-episode" test "$(result)" = wrong-episode
run_file "$(cosigned alice thaw --arg pid:="$FPID" --episode "$FEP")"
check "thaw with alice + bob: done" test "$(result)" = done
check "thaw restores the original cgroup" test "$(cgroup_of "$C1")" = "$ORIG_CG"
# shellcheck disable=SC2086
check "the tree runs again (every child forks and reaps again)" wait_until 30 advanced "$WORK/forker.cnt" $CF2
kill "$FPID" $(descendants "$FPID") 2>/dev/null

# --- protected processes are refused ---
run_cmd alice freeze --arg pid:=1
check "freeze pid 1: protected" test "$(result)" = protected
run_cmd alice freeze --arg pid:="$KPID"
check "freeze kakurid itself: protected" test "$(result)" = protected
# a protected program is the service: that file, in a system service's cgroup
"$WORK/prot/sleep" 300 & PROT=$!; PIDS+=("$PROT")
check "the protected program runs" wait_until 30 runs_exe "$PROT" "$WORK/prot/sleep"
service_cgroup "kakuri-test-$$.service" "$PROT"
run_cmd alice freeze --arg pid:="$PROT"
check "freeze a process the policy protects: protected" test "$(result)" = protected
run_cmd alice snapshot --arg pid:="$KPID"
check "snapshot of kakurid (it holds the agent key): protected" test "$(result)" = protected

# --- the sha256 and exe selectors pick exactly the processes of one binary ---
cp /bin/sleep "$WORK/a/sleep-a"; cp /bin/sleep "$WORK/b/sleep-b"
printf 'kakuri-test-%s' "$$" >>"$WORK/a/sleep-a"   # another hash, same program
HA=$(sha256sum "$WORK/a/sleep-a" | cut -d' ' -f1)
"$WORK/a/sleep-a" 300 & A1=$!; "$WORK/a/sleep-a" 301 & A2=$!
"$WORK/b/sleep-b" 302 & B1=$!
PIDS+=("$A1" "$A2" "$B1")
all_exec() { runs_exe "$A1" "$WORK/a/sleep-a" && runs_exe "$A2" "$WORK/a/sleep-a" && runs_exe "$B1" "$WORK/b/sleep-b"; }
check "the three copies run" wait_until 30 all_exec
run_cmd alice freeze --arg sha256="$HA"
check "freeze by sha256: done" test "$(result)" = done
check "exactly the two processes running that binary are frozen" \
	test "$(jq -r '[.output.frozen[].pid] | sort | map(tostring) | join(" ")' <<<"$REC")" = "$(printf '%s\n' $A1 $A2 | sort -n | tr '\n' ' ' | sed 's/ $//')"
check "the other binary's process is not frozen" bash -c "! grep -q kakuri/ /proc/$B1/cgroup"
FEP=$(jq -r .output.freeze_episode <<<"$REC")
run_cmd alice freeze --arg exe="$WORK/b/sleep-b"
check "freeze by exe path: exactly its process" test "$(jq -r '[.output.frozen[].pid] | join(" ")' <<<"$REC")" = "$B1"
run_file "$(cosigned alice thaw --arg all:=true --episode "$FEP")"
check "kakurid is running (the test's pid is kakurid)" test "$(readlink /proc/$KPID/exe)" = "$KAKURID"
check "thaw all: done, nothing left frozen" test "$(result)/$(ctl status --json | jq -r .evidence.frozen)" = done/0

# --- snapshot: ELF cores gdb opens, running and frozen ---
"$CORETARGET" --untouched 1024 >"$WORK/ct.out" 2>&1 & CT=$!; PIDS+=("$CT")
check "the snapshot target is ready" wait_until 60 grep -q ready "$WORK/ct.out"
RSS0=$(awk '/^RssAnon/ { print $2 }' /proc/$CT/status)
run_cmd alice snapshot --arg pid:="$CT" --incident IR-EVID-1
check "snapshot of a running process: done" test "$(result)" = done
RSS1=$(awk '/^RssAnon/ { print $2 }' /proc/$CT/status)
check "the 1 GiB the target never touched stays non-resident (RssAnon $RSS0 -> $RSS1 kB)" test $((RSS1 - RSS0)) -lt 2048
SUB=$(jq -r .output.dir <<<"$REC")
CORE="$STATE/evidence/IR-EVID-1/$SUB/pid-$CT/core"
check "the core file exists, without the untouched gigabyte in it" bash -c "[ -f '$CORE' ] && [ \$(stat -c %s '$CORE') -lt $((256 << 20)) ]"
gdb_check() {
	local out
	out=$(timeout 60 gdb -nx -batch -ex 'print kakuri_marker' -ex 'thread apply all bt' "$CORETARGET" "$1" 2>&1)
	echo "$out" >"$WORK/gdb.$2.out"
	grep -q 'kakuri-core-marker-4f1d' <<<"$out" &&
	[ "$(grep -c '^Thread ' <<<"$out")" -ge "${3:-4}" ] &&
	grep -q worker_alpha <<<"$out" && grep -q worker_beta <<<"$out" && grep -q worker_gamma <<<"$out"
}
check "gdb opens the core: the marker string and a backtrace of every thread (running)" gdb_check "$CORE" running
# a process that maps 16 TiB and writes a page at each end and in the
# middle: hashing that as zeros would take hours (the worker would be
# stopped at its deadline, the later files never written)
"$CORETARGET" --vast 16 >"$WORK/ctv.out" 2>&1 & CTV=$!; PIDS+=("$CTV")
check "the vast target is ready" wait_until 60 grep -q ready "$WORK/ctv.out"
run_cmd alice snapshot --arg pid:="$CTV" --incident IR-EVID-VAST
check "snapshot of a process with 16 TiB mapped: done" test "$(result)" = done
VCORE="$STATE/evidence/IR-EVID-VAST/$(jq -r .output.dir <<<"$REC")/pid-$CTV/core"
check "its core holds the written pages, not the terabytes (< 64 MiB)" bash -c "[ -f '$VCORE' ] && [ \$(stat -c %s '$VCORE') -lt $((64 << 20)) ]"
vast_gdb() {
	local out
	out=$(timeout 60 gdb -nx -batch -ex 'print kakuri_vast_first' -ex 'print kakuri_vast_middle' \
		-ex 'print kakuri_vast_last' -ex 'thread apply all bt' "$CORETARGET" "$VCORE" 2>&1)
	echo "$out" >"$WORK/gdb.vast.out"
	grep -q '"kakuri-vast-first"' <<<"$out" && grep -q '"kakuri-vast-middle"' <<<"$out" &&
	grep -q '"kakuri-vast-last"' <<<"$out" && [ "$(grep -c '^Thread ' <<<"$out")" -ge 4 ]
}
check "gdb reads the three written pages from it, and every thread's backtrace" vast_gdb
check "the manifest lists its core, maps and status with their SHA-256" bash -c \
	"jq -e -s --arg p 'pid-$CTV/' '[.[] | select((.path | contains(\$p)) and (.sha256 | length) == 64 and (.incomplete | not)) | .path | split(\"/\") | last] | contains([\"core\", \"maps\", \"status\"])' '$STATE/evidence/IR-EVID-VAST/manifest.jsonl' >/dev/null"
kill "$CTV" 2>/dev/null

# --- a process whose main thread exited (pthread_exit) while its workers
# run: /proc/PID/stat says Z and /proc/PID/exe, maps and mem are gone with
# the leader.  Malware that does this on purpose must not look dead to the
# exe and sha256 selectors, nor leave an empty core.
# (a copy with a byte of its own: its SHA-256 is no other process's)
mkdir -p "$WORK/lx" && cp "$CORETARGET" "$WORK/lx/coretarget-lx" && printf 'lx\n' >>"$WORK/lx/coretarget-lx"
"$WORK/lx/coretarget-lx" --leader-exits >"$WORK/ctlx.out" 2>&1 & CTLX=$!; PIDS+=("$CTLX")
leader_z() {
	grep -q ready "$WORK/ctlx.out" && [ "$(awk '{ print $3 }' /proc/$CTLX/stat)" = Z ] &&
	! readlink /proc/$CTLX/exe >/dev/null && [ "$(ls /proc/$CTLX/task | wc -l)" = 4 ]
}
check "the leader-exits target runs on: its leader Z, no /proc/PID/exe, 3 workers" wait_until 60 leader_z
lx_frozen() {	# lx_frozen RESULT: the receipt froze it, and a worker is in the group
	local w ep
	w=$(ls /proc/$CTLX/task | grep -vx "$CTLX" | head -1)
	ep=$(jq -r .output.freeze_episode <<<"$REC")
	[ "$(result)/$(jq -r '[.output.frozen[].pid] | join(" ")' <<<"$REC")" = "done/$CTLX" ] &&
	grep -q "kakuri/$ep" "/proc/$CTLX/task/$w/cgroup"
}
run_cmd alice freeze --arg sha256="$(sha256sum "$WORK/lx/coretarget-lx" | cut -d' ' -f1)"
check "freeze by sha256 holds a process whose leader exited (its workers in the quarantine)" lx_frozen
run_file "$(cosigned alice thaw --arg all:=true --episode "$(jq -r .output.freeze_episode <<<"$REC")")"
check "and thaw all lets it go: done, nothing frozen" test "$(result)/$(ctl status --json | jq -r .evidence.frozen)" = done/0
run_cmd alice freeze --arg exe="$WORK/lx/coretarget-lx"
check "freeze by exe path holds it too" lx_frozen
run_file "$(cosigned alice thaw --arg all:=true --episode "$(jq -r .output.freeze_episode <<<"$REC")")"
check "thaw all: done" test "$(result)" = done
run_cmd alice snapshot --arg pid:="$CTLX" --incident IR-EVID-LX
check "snapshot of it: done" test "$(result)" = done
LXDIR="$STATE/evidence/IR-EVID-LX/$(jq -r .output.dir <<<"$REC")/pid-$CTLX"
check "gdb reads its memory from the core: the marker and each worker's backtrace" gdb_check "$LXDIR/core" leader-exits 3
check "its maps, cmdline and exe were copied through a worker thread" bash -c \
	"[ -s '$LXDIR/maps' ] && grep -q coretarget-lx '$LXDIR/maps' && [ -s '$LXDIR/cmdline' ] && cmp -s '$LXDIR/exe' '$WORK/lx/coretarget-lx'"
check "its status is the process's own (Pid: $CTLX), not a thread's" grep -qx "Pid:[[:space:]]*$CTLX" "$LXDIR/status"
kill "$CTLX" 2>/dev/null

# --- a program run from memory (memfd_create + fexecve), as "fileless"
# malware runs: its executable is on the kernel's internal shmem mount,
# in no mount table.  The CSIRT's hash must find it, and the snapshot must
# keep the only copy of the program there is.
"$CORETARGET" --memfd >"$WORK/ctm.out" 2>&1 & CTM=$!; PIDS+=("$CTM")
from_memfd() { grep -q ready "$WORK/ctm.out" && [[ "$(readlink /proc/$CTM/exe)" == "/memfd:coretarget (deleted)" ]]; }
check "the memfd target runs from memory (/proc/PID/exe is /memfd:coretarget)" wait_until 60 from_memfd
{ cat "$CORETARGET"; printf 'memfd\n'; } >"$WORK/memfd-image"
run_cmd alice freeze --arg sha256="$(sha256sum "$WORK/memfd-image" | cut -d' ' -f1)"
check "freeze by sha256 finds the program run from a memfd" \
	test "$(result)/$(jq -r '[.output.frozen[].pid] | join(" ")' <<<"$REC")" = "done/$CTM"
run_file "$(cosigned alice thaw --arg all:=true --episode "$(jq -r .output.freeze_episode <<<"$REC")")"
check "thaw all: done" test "$(result)" = done
run_cmd alice snapshot --arg pid:="$CTM" --incident IR-EVID-MFD
check "snapshot of it: done" test "$(result)" = done
MDIR="$STATE/evidence/IR-EVID-MFD/$(jq -r .output.dir <<<"$REC")/pid-$CTM"
check "the snapshot keeps the program from memory: its exe is the memfd's bytes" cmp -s "$MDIR/exe" "$WORK/memfd-image"
kill "$CTM" 2>/dev/null

run_cmd alice freeze --arg pid:="$CT"
FEP=$(jq -r .output.freeze_episode <<<"$REC")
run_cmd alice snapshot --arg frozen:=true --incident IR-EVID-1
check "snapshot of the frozen processes: done" test "$(result)" = done
SUB=$(jq -r .output.dir <<<"$REC")
check "gdb opens the core of the frozen process too" gdb_check "$STATE/evidence/IR-EVID-1/$SUB/pid-$CT/core" frozen
check "the snapshot did not thaw it" grep -q "kakuri/$FEP" /proc/$CT/cgroup
check "the snapshot also copied maps, status, cmdline, environ and exe" bash -c \
	"cd '$STATE/evidence/IR-EVID-1/$SUB/pid-$CT' && [ -s maps ] && [ -s status ] && [ -s cmdline ] && [ -f environ ] && cmp -s exe '$CORETARGET'"
run_file "$(cosigned alice thaw --arg all:=true --episode "$FEP")"
check "thaw after the snapshot: done" test "$(result)" = done

# --- collect ---
run_cmd alice collect --incident IR-EVID-1
check "collect: done" test "$(result)" = done
check "collect wrote the volatile evidence artifacts (>= 10)" test "$(jq -r .output.count <<<"$REC")" -ge 10
# a later worker (kakurid's user, nobody here, reading past modes with
# CAP_DAC_READ_SEARCH) compromised by what it parses cannot remove or
# replace what an earlier one recorded: the directory is root's by then
CDIR=$(ls -d "$STATE"/evidence/IR-EVID-1/collect-* | head -1)
check "the collect's directory and its files are root's once its worker is through (fails on the old code)" \
	bash -c "[ -d '$CDIR' ] && [ -z \"\$(find '$CDIR' ! -uid 0)\" ]"
AFILE=$(find "$CDIR" -type f | head -1)
as_worker() { setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps +dac_read_search \
	--ambient-caps +dac_read_search "$@"; }
check "the worker's user with its capability can read the tree (the test can fail)" as_worker head -c1 "$AFILE"
refute "... but cannot remove an artifact of it (fails on the old code)" as_worker rm -f "$AFILE"
check "... which is still there" test -s "$AFILE"
# the worker's socket(2) is netlink of three protocols only (so that one
# taken over carries nothing off): its dumps still work, whole
for a in 01-routes 02-sockets 07-nftables; do
	check "collect's $a dump came whole over netlink (no error, items)" \
		jq -e '(.error == null) and (.items | length > 0)' "$CDIR/collect/$a.json"
done
# the ruleset (07) is read by a second worker, the only one with
# CAP_NET_ADMIN; the first reads what local users write (process table,
# sessions, mounts, journal, package lists) without it.  The process
# table shows that worker itself, with its capabilities.
for a in 03-processes 04-users 06-mounts 08-journal 09-os-release 10-packages; do
	check "collect's $a is there" test -s "$CDIR/collect/$a.json"
done
WCAP=$(jq -r --argjson k "$KPID" '[.items[] | select(.comm == "kakurid-evid" and .ppid == $k)] | first | .cap_eff // empty' \
	"$CDIR/collect/03-processes.json")
check "collect's process table shows its own worker's capabilities" test -n "$WCAP"
check "... CAP_SYS_PTRACE among them (the field is read)" test "$(( 16#${WCAP:-0} & (1 << 19) ))" -ne 0
check "... but not CAP_NET_ADMIN, while it read the process table (fails on the old code)" \
	test "$(( 16#${WCAP:-1000} & (1 << 12) ))" -eq 0
check "collect's 07-nftables is in the manifest, whole, read by the second worker" \
	jq -e -s 'any(.[]; (.path | endswith("/collect/07-nftables.json")) and (.incomplete != true) and (.sha256 | length) == 64)' \
	"$STATE/evidence/IR-EVID-1/manifest.jsonl"
check "kakurid says it started the second worker for the ruleset" grep -q "collect worker [0-9]* for the nftables ruleset" "$DLOG"
check "collect's package list has items" jq -e '.items | length > 0' "$CDIR/collect/10-packages.json"

# --- the manifest, and fetch with verification ---
EV="$STATE/evidence/IR-EVID-1"
check "manifest.jsonl lists every artifact with its SHA-256" bash -c \
	"jq -e -s 'length > 10 and all(.[]; (.sha256 | length) == 64 and .boot_id and .agent_version and .time)' '$EV/manifest.jsonl' >/dev/null"
# the CSIRT hears of it: the outbox's evidence message carries the
# manifest's SHA-256, the hash of the file as it is stored
MSHA=$(sha256sum "$EV/manifest.jsonl" | cut -d' ' -f1)
check "the outbox holds an evidence message for IR-EVID-1 with manifest.jsonl's sha256" bash -c \
	"$(declare -f outbox_json); STATE='$STATE'; outbox_json | jq -e -s --arg h '$MSHA' \
	'[.[] | select(.type == \"evidence\" and .body.evidence == \"IR-EVID-1\" and .body.sha256 == \$h)] | length >= 1'"
fetch() {
	ip netns exec "$PEER" "$KAKURICTL" fetch --to "[$EP6]:7443" --cert "$PKI/op-ca.crt" \
		--key "$PKI/op-ca.key" --agent-id "$AGENT_ID" -k "$PKI/alice.key" --id IR-EVID-1 "$@"
}
check "fetch pulls and verifies everything" fetch -o "$WORK/f1"
check "the fetched core is the agent's core" cmp -s "$CORE" "$WORK/f1/${CORE#$EV/}"
# a modified artifact on the agent side
MAPS=$(ls "$EV"/snapshot-*/pid-"$CT"/maps | head -1)
cp "$MAPS" "$WORK/maps.orig"; echo tampered >>"$MAPS"
fetch -o "$WORK/f2" >/dev/null 2>"$WORK/f2.err"; rc=$?
check "a modified artifact is detected (exit 1, names the file)" bash -c "[ $rc = 1 ] && grep -q 'maps: .*mismatch' '$WORK/f2.err'"
cp "$WORK/maps.orig" "$MAPS"
cp "$EV/manifest.jsonl" "$WORK/manifest.orig"
sed -i '1s/"size":[0-9]*/"size":1/' "$EV/manifest.jsonl"
fetch -o "$WORK/f3" >/dev/null 2>"$WORK/f3.err"; rc=$?
check "a modified manifest is detected (exit 1)" bash -c "[ $rc = 1 ] && grep -q 'manifest.jsonl' '$WORK/f3.err'"
cp "$WORK/manifest.orig" "$EV/manifest.jsonl"
check "fetch verifies again once restored" fetch -o "$WORK/f4"
# the evidence id is signed into the manifest: the network child, which
# carries every chunk, could answer a fetch of one evidence set with the
# files and signed manifest of another it carried before: both verified
check "the signed manifest names its evidence id, IR-EVID-1" bash -c \
	"jq -r .payload '$EV/manifest.dsse' | base64 -d | jq -e '.evidence == \"IR-EVID-1\"'"
VK=(fetch --verify "$WORK/f4" --agent-key "$PKI/agent.crt")
check "fetch --verify --id IR-EVID-1 of what was fetched as it: verified" "$KAKURICTL" "${VK[@]}" --id IR-EVID-1
"$KAKURICTL" "${VK[@]}" --id IR-EVID-LX >/dev/null 2>"$WORK/vk.err"; rc=$?
check "... given as another evidence set (IR-EVID-LX), as a replaying child would: refused, exit 1, naming both (fails on the old code)" \
	bash -c "[ $rc -eq 1 ] && grep -q 'is evidence IR-EVID-1, not IR-EVID-LX' '$WORK/vk.err'"
"$KAKURICTL" "${VK[@]}" >/dev/null 2>"$WORK/vk0.err"; rc=$?
check "... without --id: verified, and the id it names is said" \
	bash -c "[ $rc -eq 0 ] && grep -q 'the signed manifest is evidence IR-EVID-1' '$WORK/vk0.err'"
# root on the agent writes the manifest, and its lines are parsed even
# when the signature fails: a line of 2 MiB, and one of 600 KB holding
# 300,000 values (some 50 MB in jansson; 64 MiB of them were 3 GB), are
# each refused before they are parsed
cp -a "$WORK/f4" "$WORK/f9"
python3 -c 'import sys; w = sys.stdout.write; w("{\"path\":\"" + "a" * (2 << 20) + "\"}\n"); w("[" + ",".join(["{}"] * 150000) + "]\n")' \
	>>"$WORK/f9/manifest.jsonl"
"$KAKURICTL" fetch --verify "$WORK/f9" --agent-key "$PKI/agent.crt" >/dev/null 2>"$WORK/vk9.err"; rc=$?
check "a manifest with a 2 MiB line and a line of 300,000 values: exit 1, the manifest no longer what was signed" \
	bash -c "[ $rc -eq 1 ] && grep -q 'does not match the signed manifest' '$WORK/vk9.err'"
check "... the long line refused unparsed (fails on the old code)" \
	grep -q 'manifest.jsonl:[0-9]*: longer than 1 MiB' "$WORK/vk9.err"
check "... the line of values refused unparsed (fails on the old code)" \
	grep -q 'manifest.jsonl:[0-9]*: too many values' "$WORK/vk9.err"
# a destination another local user prepared (or may write in): the
# verified evidence could be swapped there after the check
mkdir -m 0777 "$WORK/f5"
fetch -o "$WORK/f5" >/dev/null 2>"$WORK/f5.err"; rc=$?
check "fetch -o into an empty world-writable directory: refused, nothing written (fails on the old code)" \
	bash -c "[ $rc -ne 0 ] && grep -q 'not yours alone' '$WORK/f5.err' && [ -z \"\$(ls -A '$WORK/f5')\" ]"
mkdir -m 0700 "$WORK/f6" && chown 65534 "$WORK/f6"
fetch -o "$WORK/f6" >/dev/null 2>"$WORK/f6.err"; rc=$?
check "... and into one another user owns: refused" \
	bash -c "[ $rc -ne 0 ] && grep -q 'not yours alone' '$WORK/f6.err' && [ -z \"\$(ls -A '$WORK/f6')\" ]"
# the operator's disk fills in the middle of a file: what came of it is
# NAME.partial, never a cut core under the core's name
mkdir -p "$WORK/f7"
if mount -t tmpfs -o size=256k,mode=0700 kakuri-fetch "$WORK/f7"; then
	fetch -o "$WORK/f7" >/dev/null 2>"$WORK/f7.err"; rc=$?
	check "fetch onto a disk too small: fails, naming the file it could not write" \
		bash -c "[ $rc -ne 0 ] && grep -q 'writing: No space left' '$WORK/f7.err'"
	# the file it could not write, as it names it
	X7=$(sed -n 's/.*[: ]\([^ :]*\): writing: No space left.*/\1/p' "$WORK/f7.err" | head -1)
	check "... that file is not left under its name, cut short (fails on the old code)" \
		bash -c "[ -n '$X7' ] && [ ! -e '$WORK/f7/$X7' ]"
	check "... what came of it, if anything did, is NAME.partial" \
		bash -c "[ ! -e '$WORK/f7/$X7.partial' ] || [ -s '$WORK/f7/$X7.partial' ]"
	umount "$WORK/f7"
else
	fail "a small tmpfs for fetch -o"
fi
# a slow management link (an isolated PC behind a VPN, a site link under
# an incident's load): 128 kbit/s from the agent, --timeout 3.  A fixed
# 512 KiB chunk needs 140 kbit/s at the default 30 s, and here a file of
# over 48 KB within 3 s; chunks that follow the link carry all of it.
run_cmd alice collect --incident IR-EVID-SLOW
check "collect for the slow link: done" test "$(result)" = done
BIGGEST=$(find "$STATE/evidence/IR-EVID-SLOW" -type f -printf '%s\n' | sort -n | tail -1)
check "an artifact takes the link more than 3 s (over 48 KB at 16 KB/s)" test "${BIGGEST:-0}" -gt 48000
if ip netns exec "$EP" tc qdisc add dev to-peer root tbf rate 128kbit \
	burst 4kb latency 400ms; then
	T0=$SECONDS
	ip netns exec "$PEER" "$KAKURICTL" fetch --to "[$EP6]:7443" --cert "$PKI/op-ca.crt" \
		--key "$PKI/op-ca.key" --agent-id "$AGENT_ID" -k "$PKI/alice.key" \
		--id IR-EVID-SLOW --timeout 3 -o "$WORK/f8" >/dev/null 2>"$WORK/f8.err"; rc=$?
	echo "  (fetched in $((SECONDS - T0)) s)"
	check "fetch over 128 kbit/s with --timeout 3: all of it, verified (fails on the old code)" \
		bash -c "[ $rc = 0 ] && [ ! -s '$WORK/f8.err' ]"
	check "... the largest artifact came whole" bash -c \
		"find '$WORK/f8' -type f -printf '%s\n' | grep -qx '$BIGGEST'"
	ip netns exec "$EP" tc qdisc del dev to-peer root
else
	fail "a tbf qdisc (sch_tbf) for a slow link"
fi

# --- a frozen set larger than one snapshot takes (512 processes) ---
# malware that started decoys first: those past the limit are named in
# the receipt, and the snapshot is not done
( for i in $(seq 520); do sleep 300 & done; wait ) & SWARM=$!; PIDS+=("$SWARM")
swarm_up() { [ "$(pgrep -c -P "$SWARM")" -ge 520 ]; }
check "520 sleepers under one parent" wait_until 60 swarm_up
PIDS+=($(pgrep -P "$SWARM"))
run_cmd alice freeze --arg pid:="$SWARM" --incident IR-EVID-MANY
check "freeze them all: done" test "$(result)" = done
MEP=$(jq -r .output.freeze_episode <<<"$REC")
T0=$SECONDS
run_cmd alice snapshot --arg frozen:=true --incident IR-EVID-MANY
echo "  (snapshot of 512 processes: $((SECONDS - T0)) s)"
check "snapshot frozen: true of 521 processes: incomplete, not done (fails on the old code)" \
	bash -c "[ '$(result)' = incomplete ] && jq -e '.detail | test(\"over the 512 one snapshot takes\")' >/dev/null <<<'$REC'"
check "... the receipt names the 9 not taken (fails on the old code)" jq -e \
	'[.output.skipped[] | select(.why | test("over what one snapshot takes"))] | length >= 9' <<<"$REC"
check "... and every one of the 512 taken has its core, no error" jq -e \
	'(.output.errors | length) == 0 and ([.output.artifacts[] | select(.path | endswith("/core"))] | length) >= 1' <<<"$REC"
check "... 512 cores on disk" test "$(find "$STATE/evidence/IR-EVID-MANY" -name core | wc -l)" -eq 512
run_file "$(cosigned alice thaw --arg all:=true --episode "$MEP")"
check "thaw them: done" test "$(result)" = done
kill $(pgrep -P "$SWARM") 2>/dev/null

# --- a twin: clone(CLONE_VM | CLONE_PARENT) makes a process of its own
# that runs on its maker's memory, its parent the maker's parent: no pid
# or tree leads to it.  Frozen without it, the "frozen" memory is still
# written (secrets scrubbed, a snapshot rewritten as it is read).
"$FORKER" --twin "$WORK/twin.cnt" >"$WORK/twin.out" 2>&1 & TWT=$!; PIDS+=("$TWT")
twin_up() { [ "$(wc -l <"$WORK/twin.out")" -ge 2 ] && advanced "$WORK/twin.cnt" 10; }
check "the twin runs (it counts)" wait_until 30 twin_up
TWW=$(sed -n 2p "$WORK/twin.out"); PIDS+=("$TWW")
run_cmd alice freeze --arg pid:="$TWT" --incident IR-EVID-TWIN
check "freeze of the twin's maker by pid: done" test "$(result)" = done
TWEP=$(jq -r .output.freeze_episode <<<"$REC")
check "the twin $TWW is listed among the frozen (fails on the old code)" \
	jq -e --argjson p "$TWW" '[.output.frozen[].pid] | index($p) != null' <<<"$REC"
check "and why: it shares memory with pid $TWT" jq -e --argjson p "$TWW" --argjson t "$TWT" \
	'[.output.shared_memory[] | select(.pid == $p and .twin_of == $t)] | length == 1' <<<"$REC"
TC1=$(counters "$WORK/twin.cnt"); sleep 0.5; TC2=$(counters "$WORK/twin.cnt")
check "the twin's counter stands still for 0.5 s ($TC1 -> $TC2) (fails on the old code)" test "$TC1" = "$TC2"
run_file "$(cosigned alice thaw --arg all:=true --episode "$TWEP")"
check "thaw all: done, nothing left frozen" test "$(result)/$(ctl status --json | jq -r .evidence.frozen)" = done/0
check "the twin counts again" wait_until 30 advanced "$WORK/twin.cnt" "$TC2"
kill "$TWT" "$TWW" 2>/dev/null
# a snapshot of a process whose twin runs: the core is read while the
# twin can write it, and says so
"$FORKER" --twin "$WORK/twin2.cnt" >"$WORK/twin2.out" 2>&1 & TWT2=$!; PIDS+=("$TWT2")
twin2_up() { [ "$(wc -l <"$WORK/twin2.out")" -ge 2 ] && advanced "$WORK/twin2.cnt" 10; }
check "a second twin runs" wait_until 30 twin2_up
TWW2=$(sed -n 2p "$WORK/twin2.out"); PIDS+=("$TWW2")
run_cmd alice snapshot --arg pid:="$TWT2" --incident IR-EVID-TWIN
check "snapshot of a process whose twin runs: incomplete, naming the twin (fails on the old code)" \
	bash -c "[ '$(result)' = incomplete ] && jq -e --arg w 'memory shared with pid $TWW2,' '.detail | contains(\$w)' >/dev/null <<<'$REC'"
check "the manifest marks its core incomplete, naming the twin" nsenter -t "$KPID" -m -- \
	jq -e -s --arg c "pid-$TWT2/core" --arg w "memory shared with pid $TWW2," \
	'any(.[]; (.path | endswith($c)) and .incomplete == true and (.error | contains($w)))' \
	"$STATE/evidence/IR-EVID-TWIN/manifest.jsonl"
kill "$TWT2" "$TWW2" 2>/dev/null

# --- a full disk: the snapshot fails cleanly, the daemon keeps serving ---
# mounted in kakurid's mount namespace (the same as ours with EP_NSENTER)
mkdir -p "$STATE/evidence/IR-EVID-FULL"
nsenter -t "$KPID" -m -- mount -t tmpfs -o size=1m,mode=0700 kakuri-test \
	"$STATE/evidence/IR-EVID-FULL" || fail "mount a tiny tmpfs"
"$CORETARGET" --resident 16 >"$WORK/ct2.out" 2>&1 & CT2=$!; PIDS+=("$CT2")
check "the second snapshot target is ready" wait_until 60 grep -q ready "$WORK/ct2.out"
run_cmd alice snapshot --arg pid:="$CT2" --incident IR-EVID-FULL
check "snapshot into a full disk: failed with no-space" test "$(result)" = no-space
check "the manifest marks the cut artifact incomplete" nsenter -t "$KPID" -m -- \
	jq -e -s 'any(.[]; .incomplete == true)' "$STATE/evidence/IR-EVID-FULL/manifest.jsonl"
check "the daemon still answers (status)" test "$(status_field mode)" = open
run_cmd alice status
check "and still takes signed commands" test "$(result)" = done
check "the audit log records the failure" bash -c "'$KAKURICTL' -s '$SOCK' log --json | jq -e '[.entries[] | select(.action == \"snapshot\" and (.result | test(\"no-space\")))] | length >= 1' >/dev/null"
nsenter -t "$KPID" -m -- umount "$STATE/evidence/IR-EVID-FULL"
kill "$CT" "$CT2" "$PROT" "$A1" "$A2" "$B1" 2>/dev/null
summary
[ "$FAILED" -eq 0 ]
