#!/usr/bin/env bash
# Attacks on evidence preservation (issue 8, items 6, 7, 8, 13): files that
# never answer and executables of 4 GiB while status must stay quick; the
# confinement of an evidence worker; a protected binary run by a user with
# LD_PRELOAD and a file bind-mounted over a protected path; a process that
# changes its pid every 2 ms (also one in a cgroup delegated to its user,
# who thaws that cgroup); a frozen pid reused by another process; thaw
# when the original cgroup (and its slice) is gone; a process whose
# arguments lie under a FUSE file that never answers; an overlay over
# FUSE is not opened, an overlay on local layers still is; a process in
# exit is no twin of another.
#
# Only processes this script starts are frozen, snapshotted or hashed for
# a match: they run as uids nothing else on the host uses (43210-43215),
# in cgroups of the test's own, or are named by pid.  The FUSE, overlay and loop
# mounts live in a mount namespace of their own (fusehang); the local
# overlay and its tmpfs are mounted here, under $WORK, and unmounted at
# the end.
. "$(dirname "$0")/lib.sh"
# deep_remove: the groups nested past PATH_MAX below (find deletes by
# directory fd, where no path of theirs could be given)
DEEP_TOP=
deep_remove() { [ -z "$DEEP_TOP" ] || [ ! -d "$DEEP_TOP" ] || find "$DEEP_TOP" -depth -type d -delete 2>/dev/null; }
trap 'umount -l "$WORK/lovl" 2>/dev/null; umount -l "$WORK/lo" 2>/dev/null; umount -l "$STATE" 2>/dev/null; cleanup; deep_remove; cgroups_remove' EXIT
need
B="$TOP/build"
need_built "$B/memscan" "$B/fusehang" "$B/statusprobe" "$B/pidreuse" "$B/evilpreload.so" "$B/forker" "$B/coretarget"
need_freezer_fuse "the freezer's source groups and the service cgroup need one" \
	"the FUSE-served executable needs it"
echo "== evidence under attack: hostile files, confinement, freeze evasion, pid reuse, thaw"
evidence_setup
mkdir -p "$WORK/prot" "$WORK/fuse" "$WORK/ovl" "$WORK/empty" "$WORK/big" "$STATE"
# The state directory on a tmpfs: the status latency measured below is the
# event loop's, and kakurid fsyncs its replay store and audit log for every
# command; on a disk that other builds keep busy one fsync alone can take
# 100 ms, which says nothing about hostile files.
mount -t tmpfs -o size=512m,mode=0700 kakuri-test-state "$STATE" ||
	{ fail "a tmpfs for the state directory"; summary; exit 1; }
FREEZE_TIMEOUT=10
# snapshot_timeout: the 64 MiB of maps below take seconds of kernel time,
# more under load; the checks that bound a snapshot say their own bound
evidence_start "freeze_timeout = $FREEZE_TIMEOUT; snapshot_timeout = 30;"
# The status latency below is to say whether kakurid's loop is ever held
# (by a hostile file), not whether a machine whose cores other builds keep
# busy schedules it at once: kakurid gets a real-time priority here, which
# its children (workers, network child) do not inherit (reset-on-fork).
check "kakurid runs with a real-time priority for this test" \
	chrt --reset-on-fork -f -p 10 "$KPID"

REC=
run_cmd() { local f; f=$(sign "$@") || return 1; REC=$(send --timeout 120000 "$f" 2>/dev/null | jq -c '.receipts[0]'); }
result() { jq -r 'if .result == "done" then "done" else (.reason // .result) end' <<<"$REC"; }
cosigned() { local f; f=$(sign "$@") && "$KAKURICTL" cosign -k "$PKI/bob.key" "$f" 2>/dev/null && echo "$f"; }
run_file() { REC=$(send --timeout 120000 "$1" 2>/dev/null | jq -c '.receipts[0]'); }
cg2_of() { sed -n 's/^0:://p' "/proc/$1/cgroup" 2>/dev/null; }
frozen_by_us() { grep -q "^0::/kakuri/" "/proc/$1/cgroup" 2>/dev/null; }
thaw_all() { run_file "$(cosigned alice thaw --arg all:=true --episode "$1")"; }
episode() { jq -r .output.freeze_episode <<<"$REC"; }
counter() { od -An -v -t u8 -j $((8 * $2)) -N 8 "$1" | tr -d ' '; }

# --- item 6: hostile files do not block the loop --------------------------
# a FUSE-served executable (its server answers the exec's open, never a later
# one), the same behind an overlayfs (looks local, but opening it asks the
# server: its layers are looked at in the mount table and it is not
# opened), four 4 GiB sparse executables, and the target the CSIRT names
# by hash
head -c 1048576 /dev/urandom | cat /bin/sleep - >"$WORK/evil-src"
"$B/fusehang" "$WORK/fuse" "$WORK/evil-src" 43212 >"$WORK/fh1.out" 2>"$WORK/fh1.err" &
FHS1=$!; PIDS+=($!)
mkdir -p "$WORK/fuse2"
"$B/fusehang" "$WORK/fuse2" "$WORK/evil-src" 43212 --overlay "$WORK/ovl" "$WORK/empty" \
	>"$WORK/fh2.out" 2>"$WORK/fh2.err" &
FHS2=$!; PIDS+=($!)
# and on an ext4 image on a loop device whose backing file that FUSE
# server serves (fusehang --loop): a local file system type, whose pages
# not in memory are read through the server, which stops answering
# reads on SIGUSR1.  The executable with 6 MiB after it: more than an
# exec reads ahead.
mkdir -p "$WORK/imgsrc" "$WORK/fuse5" "$WORK/loopmnt"
{ cat /bin/sleep; head -c 6291456 /dev/urandom; } >"$WORK/imgsrc/evil"
chmod 755 "$WORK/imgsrc/evil"
mkfs.ext4 -q -F -d "$WORK/imgsrc" "$WORK/loop.img" 16M >"$WORK/mkfs.err" 2>&1 ||
	die "mkfs.ext4 -d (e2fsprogs) cannot make the test's image: $(cat "$WORK/mkfs.err")"
"$B/fusehang" "$WORK/fuse5" "$WORK/loop.img" 43212 --loop "$WORK/loopmnt" \
	>"$WORK/fh5.out" 2>"$WORK/fh5.err" &
FHS5=$!; PIDS+=($!)
for i in 1 2 3 4; do
	cp /bin/sleep "$WORK/big/sleep-$i"; printf 'big-%s-%s' "$i" "$$" >>"$WORK/big/sleep-$i"
	truncate -s 4G "$WORK/big/sleep-$i"
	setpriv --reuid=43212 --regid=43212 --clear-groups "$WORK/big/sleep-$i" 300 &
	BIG[$i]=$!; PIDS+=($!)
done
cp /bin/sleep "$WORK/target"; printf 'kakuri-target-%s' "$$" >>"$WORK/target"
HT=$(sha256sum "$WORK/target" | cut -d' ' -f1)
setpriv --reuid=43212 --regid=43212 --clear-groups "$WORK/target" 300 & TGT=$!; PIDS+=("$TGT")
fh_pid() { head -1 "$1" 2>/dev/null; }
check "the FUSE server started its executable" wait_until 30 bash -c "[ -n \"\$(head -1 '$WORK/fh1.out')\" ]"
check "the overlay-over-FUSE executable was started" wait_until 30 bash -c "[ -n \"\$(head -1 '$WORK/fh2.out')\" ]"
check "the loop-over-FUSE executable was started" wait_until 30 bash -c "[ -n \"\$(head -1 '$WORK/fh5.out')\" ]"
FH1=$(fh_pid "$WORK/fh1.out"); FH2=$(fh_pid "$WORK/fh2.out"); FH5=$(fh_pid "$WORK/fh5.out")
PIDS+=("$FH1" "$FH2" "$FH5")
check "the FUSE-served executable runs ($FH1)" wait_until 30 runs_exe "$FH1" "$WORK/fuse/evil"
check "the overlay-over-FUSE executable runs ($FH2)" wait_until 30 runs_exe "$FH2" "$WORK/ovl/evil"
check "the FUSE mount is a FUSE file system" grep -q " - fuse.kakuritest " "/proc/$FH1/mountinfo"
check "the overlay looks like a local file system" grep -q "$WORK/ovl .* - overlay " "/proc/$FH2/mountinfo"
check "the loop-over-FUSE executable runs ($FH5)" wait_until 30 runs_exe "$FH5" "$WORK/loopmnt/evil"
check "it is on ext4 on a loop device" grep -q "$WORK/loopmnt .* - ext4 /dev/loop" "/proc/$FH5/mountinfo"
[ "$FAILED" = 0 ] || sed 's/^/    /' "$WORK/fh5.err"
kill -USR1 "$FHS5"	# from now on, its reads are not answered
all_run() { local i; for i in 1 2 3 4; do runs_exe "${BIG[$i]}" "$WORK/big/sleep-$i" || return 1; done; runs_exe "$TGT" "$WORK/target"; }
check "the four 4 GiB executables and the target run" wait_until 30 all_run

# status answers within 500 ms all along (a prober asks every 10 ms).  What
# it guards against holds the loop for seconds: a FUSE read that never
# returns (the freeze's whole timeout, 10 s), hashing a 4 GiB executable.
# 100 ms was seen missed (150 ms) with four busy processes on the two
# cores, which says nothing about the loop: kakurid is not a real-time
# task, the prober is.
STOP="$WORK/probe.stop"
chrt_rt=--rt
"$B/statusprobe" $chrt_rt "$SOCK" "$STOP" >"$WORK/probe.out" 2>&1 & PROBE=$!; PIDS+=("$PROBE")
T0=$(date +%s%N)
run_cmd alice freeze --arg sha256="$HT" --incident IR-ATTACK-6
T1=$(date +%s%N)
FMS=$(( (T1 - T0) / 1000000 ))
check "freeze by sha256 with hostile files running: done" test "$(result)" = done
check "it returned within its timeout (${FMS} ms < ${FREEZE_TIMEOUT} s)" test "$FMS" -lt $((FREEZE_TIMEOUT * 1000))
check "exactly the target was frozen" test "$(jq -r '[.output.frozen[].pid] | map(tostring) | join(" ")' <<<"$REC")" = "$TGT"
jq -c --arg w "$WORK" '[.output.unhashed[] | select(.exe | startswith($w))]' <<<"$REC" >"$WORK/unhashed.json"
check "the FUSE file is named as not hashed: a FUSE file system" \
	jq -e --arg p "$WORK/fuse/evil" '[.output.unhashed[] | select(.exe == $p and (.why | test("fuse")))] | length == 1' <<<"$REC"
check "the overlay file is named as not hashed: an overlay over a FUSE file system" \
	jq -e --arg p "$WORK/ovl/evil" '[.output.unhashed[] | select(.exe == $p and (.why | test("overlay over a fuse")))] | length == 1' <<<"$REC"
check "the loop-over-FUSE file is named as not hashed: its loop device's backing file's path is on FUSE (the device not asked)" \
	jq -e --arg p "$WORK/loopmnt/evil" '[.output.unhashed[] | select(.exe == $p and (.why | test("on loop[0-9]+, whose backing file.s path is under a fuse")))] | length == 1' <<<"$REC"
# (nor was it opened: no worker is left held by it, below; the freeze's
# time is not asserted, the machine's load decides it)
echo "    (the freeze took ${FMS} ms)"
check "the four 4 GiB files are named: too large to be read" \
	jq -e --arg d "$WORK/big/" '[.output.unhashed[] | select((.exe | startswith($d)) and (.why | test("larger than")))] | length == 4' <<<"$REC"
[ "$FAILED" = 0 ] || sed 's/^/    /' "$WORK/unhashed.json"
FEP=$(episode)
thaw_all "$FEP"
check "thaw: done" test "$(result)" = done

# evidence workers of kakurid
workers() {
	local c
	for c in $(cat /proc/"$KPID"/task/*/children 2>/dev/null); do
		[ "$(cat /proc/$c/comm 2>/dev/null)" = kakurid-evid ] && echo "$c"
	done
}
no_workers() { [ -z "$(workers)" ]; }
# a worker that opened the overlay file would wait in the kernel for the
# FUSE server, killed or not
check "no evidence worker is left after the freeze (none held by the overlay file)" wait_until 10 no_workers
# a snapshot of the overlay process: its executable is not opened, the rest
# is taken, and the worker is through within 5 s (snapshot_timeout: 30 s)
T0=$(date +%s%N)
run_cmd alice snapshot --arg pid:="$FH2" --incident IR-ATTACK-6
T1=$(date +%s%N)
check "a snapshot of the overlay process: done within 5 s ($(( (T1 - T0) / 1000000 )) ms < 5000)" \
	bash -c "[ '$(result)' = done ] && [ $(( (T1 - T0) / 1000000 )) -lt 5000 ]"
M6="$STATE/evidence/IR-ATTACK-6/manifest.jsonl"
check "the core of the process is in the manifest" \
	jq -e -s --arg p "pid-$FH2/core" 'any(.[]; (.path | endswith($p)) and (.sha256 | length) == 64 and .size > 0)' "$M6"
check "its executable was not opened: an empty artifact, incomplete, saying it is on an overlay over FUSE" \
	jq -e -s --arg p "pid-$FH2/exe" 'any(.[]; (.path | endswith($p)) and .incomplete == true and .size == 0 and (.error | test("overlay over a fuse")))' "$M6"
check "and its worker is gone" wait_until 10 no_workers
# collect hashes every running executable: with the overlay process alive
# it is done within its deadline, every source in the manifest
sources_whole() {
	local n
	for n in 03-processes 04-users 05-kernel 06-mounts 07-nftables 08-journal 09-os-release 10-packages; do
		jq -e -s --arg p "collect/$n.json" \
		    'any(.[]; (.path | endswith($p)) and (.sha256 | length) == 64 and ((.error // "") | test("deadline|time") | not))' \
		    "$1" >/dev/null || { echo "    $n: missing or cut by time"; return 1; }
	done
}
ovl_alive() { runs_exe "$FH2" "$WORK/ovl/evil" && kill -0 "$FHS2"; }
check "the overlay-over-FUSE process still runs, and its FUSE server (silent)" ovl_alive
T0=$(date +%s%N)
run_cmd alice collect --incident IR-ATTACK-OVL
T1=$(date +%s%N)
CMS=$(( (T1 - T0) / 1000000 ))
check "collect with it running: done, within collect's 30 s deadline (${CMS} ms)" \
	bash -c "[ '$(result)' = done ] && [ $CMS -lt 30000 ]"
check "03-processes.json through 10-packages.json are in the manifest, none cut by time" \
	sources_whole "$STATE/evidence/IR-ATTACK-OVL/manifest.jsonl"
PROCS=$(find "$STATE/evidence/IR-ATTACK-OVL" -path '*/collect/03-processes.json' | head -1)
check "the overlay process is listed, its executable not hashed, and why" \
	jq -e --argjson p "$FH2" '[.items[] | select(.pid == $p and .exe_sha256 == null and (.exe_hash_error | test("overlay over a fuse")))] | length == 1' "$PROCS"
[ "$FAILED" = 0 ] || jq -c --argjson p "$FH2" '.items[] | select(.pid == $p)' "$PROCS" | sed 's/^/    /'
check "no evidence worker is left after the collect" wait_until 10 no_workers

# --- an overlay on local layers is read -----------------------------------
# two lower layers (one on the disk under $WORK, one on a tmpfs of the
# test's) and an upper one on that tmpfs; a copy of sleep of its own in
# the lower one, run from the overlay and frozen by its SHA-256
mkdir -p "$WORK/lo" "$WORK/lower2" "$WORK/lovl"
mount -t tmpfs -o size=64m kakuri-test-lo "$WORK/lo" && mkdir -p "$WORK/lo/lower" "$WORK/lo/upper" "$WORK/lo/work"
cp /bin/sleep "$WORK/lo/lower/sleep-ovl"; printf 'kakuri-ovl-%s' "$$" >>"$WORK/lo/lower/sleep-ovl"
HO=$(sha256sum "$WORK/lo/lower/sleep-ovl" | cut -d' ' -f1)
check "an overlay on local layers is mounted" mount -t overlay kakuri-test-ovl \
	-o "lowerdir=$WORK/lo/lower:$WORK/lower2,upperdir=$WORK/lo/upper,workdir=$WORK/lo/work" "$WORK/lovl"
setpriv --reuid=43212 --regid=43212 --clear-groups "$WORK/lovl/sleep-ovl" 300 & LOV=$!; PIDS+=("$LOV")
check "a program runs from it ($LOV)" wait_until 30 runs_exe "$LOV" "$WORK/lovl/sleep-ovl"
run_cmd alice freeze --arg sha256="$HO" --incident IR-ATTACK-OVL
check "freeze by its SHA-256: done, the overlay process frozen (hashed)" \
	bash -c "[ '$(result)' = done ] && [ '$(jq -r '[.output.frozen[].pid] | map(tostring) | join(" ")' <<<"$REC")' = '$LOV' ]"
check "the overlay file is not among the unhashed" \
	jq -e --arg p "$WORK/lovl/sleep-ovl" '[.output.unhashed[]? | select(.exe == $p)] | length == 0' <<<"$REC"
thaw_all "$(episode)"
check "thaw: done" test "$(result)" = done
kill "$LOV" 2>/dev/null

# --- an overlay a user mounted himself, as the root of his chroot --------
# in a user namespace of his own, uid 43212 mounts an overlay (lower /usr,
# upper on a tmpfs of his) and runs a program of his from it, chrooted
# there: his process's table shows the overlay alone, and ours holds none
# of his mounts (had his lower layer been a FUSE mount of his, ours would
# place it on our /usr).  Not read, and said why
mkdir -p "$WORK/uns/t"
cp /bin/sleep "$WORK/uns/usleep"; printf 'kakuri-userns-%s' "$$" >>"$WORK/uns/usleep"
HU=$(sha256sum "$WORK/uns/usleep" | cut -d' ' -f1)
if setpriv --reuid=43212 --regid=43212 --clear-groups unshare -Urm true 2>/dev/null; then
	setpriv --reuid=43212 --regid=43212 --clear-groups unshare -Urm sh -c "
		mount -t tmpfs kakuri-test-uns '$WORK/uns/t' && mkdir '$WORK/uns/t/u' '$WORK/uns/t/w' '$WORK/uns/t/m' &&
		cp '$WORK/uns/usleep' '$WORK/uns/t/u/' &&
		mount -t overlay kakuri-test-uovl -o 'lowerdir=/usr,upperdir=$WORK/uns/t/u,workdir=$WORK/uns/t/w' '$WORK/uns/t/m' &&
		exec chroot '$WORK/uns/t/m' /usleep 300" >"$WORK/uns.err" 2>&1 & UOV=$!; PIDS+=("$UOV")
	check "the user's program runs from his overlay, chrooted ($UOV)" wait_until 30 runs_exe "$UOV" "$WORK/uns/t/m/usleep"
	run_cmd alice freeze --arg sha256="$HU" --incident IR-ATTACK-OVL
	check "a freeze by its SHA-256 names it as not hashed: its layers are not known" \
		jq -e --arg p "$WORK/uns/t/m/usleep" '[.output.unhashed[] | select(.exe == $p and (.why | test("overlay whose layers are not known .*user namespace")))] | length == 1' <<<"$REC"
	refute "and does not freeze it" frozen_by_us "$UOV"
	[ "$(episode)" = null ] || thaw_all "$(episode)"
	kill "$UOV" 2>/dev/null
else
	echo "  (no unprivileged user namespaces here: the user's own overlay is not tried)"
fi

# --- item 7: the confinement of an evidence worker ------------------------
# a snapshot of a process with 192 MiB of memory written: its worker is
# stopped (SIGSTOP, by pid) while it writes the core, looked at, and let go
"$B/coretarget" --resident 192 >"$WORK/ct7.out" 2>&1 & CT7=$!; PIDS+=("$CT7")
check "a target with 192 MiB resident is ready" wait_until 60 grep -q ready "$WORK/ct7.out"
OLDW=" $(workers | tr '\n' ' ') "
SF=$(sign alice snapshot --arg pid:="$CT7" --incident IR-ATTACK-7)
send --timeout 120000 "$SF" >"$WORK/snap.json" 2>/dev/null & SNAP=$!
worker_of() {
	local c
	for c in $(workers); do
		[[ "$OLDW" == *" $c "* ]] || { echo "$c"; return 0; }
	done
	return 1
}
stop_worker() { local w; w=$(worker_of) && kill -STOP "$w" && echo "$w" >"$WORK/w7"; }
check "the snapshot's evidence worker runs, and is stopped for a look" until_ok 30 stop_worker
W=$(cat "$WORK/w7" 2>/dev/null)
WST=$(cat /proc/"$W"/status 2>/dev/null)
field() { awk -v k="$1:" '$1 == k { print $2 }' <<<"$WST"; }
# CAP_DAC_READ_SEARCH (2) and CAP_SYS_PTRACE (19)
check "the worker's CapEff is CAP_DAC_READ_SEARCH + CAP_SYS_PTRACE only ($(field CapEff))" test "$(field CapEff)" = 0000000000080004
check "its permitted and bounding sets are the same, nothing inheritable or ambient" \
	test "$(field CapPrm)/$(field CapBnd)/$(field CapInh)/$(field CapAmb)" = 0000000000080004/0000000000080004/0000000000000000/0000000000000000
check "NoNewPrivs 1" test "$(field NoNewPrivs)" = 1
check "Seccomp 2 (filter)" test "$(field Seccomp)" = 2
check "it runs as kakurid's unprivileged user, not root ($(awk '{print $2}' <<<"$(grep '^Uid:' <<<"$WST")"))" \
	test "$(awk '/^Uid:/ { print $2 }' <<<"$WST")" = "$(id -u nobody)"
fds_ok() {
	local fd t bad=0
	for fd in /proc/"$W"/fd/*; do
		t=$(readlink "$fd") || continue
		case "$t" in
		/dev/null|pipe:*|"$STATE"/evidence/*|/proc/"$CT7"/*|"$B/coretarget") ;;
		# the twin check's look at other processes, read-only and for a
		# moment: /proc, their stat and cgroup, the mount table, and
		# whether their cgroup is frozen
		/proc|/proc/[0-9]*/stat|/proc/[0-9]*/cgroup|/proc/self/mountinfo|/proc/self/status|/proc/[0-9]*/mountinfo|/proc/[0-9]*/status|/sys/fs/cgroup/*) ;;
		*) echo "    unexpected fd ${fd##*/} -> $t" >>"$WORK/worker-fds-bad.txt"; bad=1 ;;
		esac
	done
	ls -l /proc/"$W"/fd/ | sed 's/^/    /' >"$WORK/worker-fds.txt"
	[ $bad = 0 ]
}
check "its fds: /dev/null, its pipe, the evidence directory and what the job opens (the target's /proc files, its executable, the twin check's /proc and cgroup files); no socket, no audit log, no epoll" fds_ok
[ -s "$WORK/worker-fds-bad.txt" ] && cat "$WORK/worker-fds-bad.txt"
check "the output directory is among them" grep -q "$STATE/evidence/IR-ATTACK-7/snapshot-" "$WORK/worker-fds.txt"
# forked from kakurid, with CAP_SYS_PTRACE: taken over, it must find the
# identity key neither in its own memory nor in kakurid's (which it may
# read: /proc/PPID/mem is a path seccomp cannot see)
IDSEED=$(key_seed "$PKI/agent.key")
check "the identity key's seed is known to the test (64 hex)" test "${#IDSEED}" -eq 64
check "the worker's memory holds no copy of the identity key (not inherited)" mem_lacks "$W" "$IDSEED"
check "nor can it be read from kakurid's memory (secret memory)" mem_lacks "$KPID" "$IDSEED"
kill -CONT "$W" 2>/dev/null
wait "$SNAP"
REC=$(jq -c '.receipts[0]' "$WORK/snap.json")
check "let go, the worker finishes: the snapshot is done" test "$(result)" = done
check "the core it was writing is in the manifest, whole" \
	jq -e -s --arg p "pid-$CT7/core" 'any(.[]; (.path | endswith($p)) and (.sha256 | length) == 64 and .size > (192 * 1048576) and (.incomplete | not))' "$STATE/evidence/IR-ATTACK-7/manifest.jsonl"
kill "$CT7" 2>/dev/null
# the core is 192 MiB of the state tmpfs's 512: room for what follows
rm -f "$STATE"/evidence/IR-ATTACK-7/snapshot-*/pid-"$CT7"/core
# a process whose threads hop, each making its successor and ending: the
# snapshot holds all of them (a thread that clones while it is being
# stopped hands its clone over, PTRACE_O_TRACECLONE), inside the worker's
# seccomp filter, which must allow PTRACE_GETEVENTMSG for it
"$B/coretarget" --hop 32 >"$WORK/cth.out" 2>&1 & CTH=$!; PIDS+=("$CTH")
check "a target with 32 chains of hopping threads is ready" wait_until 60 grep -q ready "$WORK/cth.out"
run_cmd alice snapshot --arg pid:="$CTH" --incident IR-ATTACK-HOP
check "its snapshot is done ($(jq -r '.error // .output.error // empty' <<<"$REC" | head -c 200))" test "$(result)" = done
check "its core is whole: every thread was held while it was read" \
	jq -e -s --arg p "pid-$CTH/core" 'any(.[]; (.path | endswith($p)) and (.sha256 | length) == 64 and (.incomplete | not))' "$STATE/evidence/IR-ATTACK-HOP/manifest.jsonl"
check "and the target runs on, its threads still hopping" kill -0 "$CTH"
kill "$CTH" 2>/dev/null

# A process maps one page of a file of a 3,900-character path 17,500
# times (a maps of some 68 MiB, over the 64 MiB read); another points
# its argument area at 24 MiB (PR_SET_MM_MAP, no privilege; over the
# 16 MiB read).  Each is still taken: the first's core of the mappings
# listed before the cut, marked incomplete (the old code: no core, no
# maps, no status of either)
LONGDIR=$WORK
for i in $(seq 1 16); do LONGDIR="$LONGDIR/$(printf 'l%02d%0237d' "$i" 0)"; done
mkdir -p "$LONGDIR" && head -c 8192 /dev/zero >"$LONGDIR/page"
"$B/coretarget" --maps 17500 "$LONGDIR/page" >"$WORK/ctm.out" 2>&1 & CTM=$!; PIDS+=("$CTM")
check "a process with 17,500 mappings of a long path is ready" wait_until 60 grep -q '^ready' "$WORK/ctm.out"
check "... its maps is over 64 MiB" test "$(wc -c <"/proc/$CTM/maps")" -gt $((64 << 20))
"$B/coretarget" --huge-cmdline 24 >"$WORK/ctc.out" 2>&1 & CTC=$!; PIDS+=("$CTC")
check "a process whose arguments are 24 MiB is ready ($(head -c 200 "$WORK/ctc.out"))" wait_until 60 grep -q '^ready' "$WORK/ctc.out"
check "... its cmdline is over 16 MiB" test "$(wc -c <"/proc/$CTC/cmdline")" -gt $((16 << 20))
run_cmd alice snapshot --arg pid:="$CTM" --incident IR-ATTACK-MAPS
check "the snapshot of the first: done ($(jq -c '{reason, detail, error: .output.error}' <<<"$REC" | head -c 300))" test "$(result)" = done
check "... its core written, marked incomplete: maps over 64 MiB (fails on the old code)" \
	jq -e -s --arg p "pid-$CTM/core" 'any(.[]; (.path | endswith($p)) and .incomplete == true and (.error | test("maps over 64 MiB")))' \
	"$STATE/evidence/IR-ATTACK-MAPS/manifest.jsonl"
run_cmd alice snapshot --arg pid:="$CTC" --incident IR-ATTACK-ARGS
check "the snapshot of the second: done, its core written (fails on the old code)" \
	bash -c "[ '$(result)' = done ] && jq -e -s --arg p 'pid-$CTC/core' 'any(.[]; (.path | endswith(\$p)) and (.sha256 | length) == 64)' '$STATE/evidence/IR-ATTACK-ARGS/manifest.jsonl' >/dev/null"
kill "$CTM" "$CTC" 2>/dev/null
# A process with a tmpfs file mapped from offset 0 (a page a snapshot
# keeps as an ELF header) under a userfaultfd that never answers: the
# header page is not read from such a range (it is not resident, and
# its fault would wait for the handler to the deadline, and every pid
# after it in the job with it)
UFILE=/dev/shm/kakuri-it-uffd-$$; CLEAN_FILES+=("$UFILE")
"$B/coretarget" --uffd "$UFILE" >"$WORK/ctu.out" 2>&1 & CTU=$!; PIDS+=("$CTU")
check "a process with a userfaultfd over a file mapped from offset 0 is ready ($(head -c 200 "$WORK/ctu.out"))" \
	wait_until 60 grep -q '^ready' "$WORK/ctu.out"
check "... its mapping is a userfaultfd's (VmFlags um)" \
	bash -c "awk '/kakuri-it-uffd/{f=1} f&&/^VmFlags/{print; exit}' /proc/$CTU/smaps | grep -qw um"
run_cmd alice snapshot --arg pid:="$CTU" --incident IR-ATTACK-UFFD
check "its snapshot is done, not held to the deadline (fails on the old code: $(jq -c '{reason, detail}' <<<"$REC" | head -c 200))" \
	test "$(result)" = done
check "... its core written" jq -e -s --arg p "pid-$CTU/core" 'any(.[]; (.path | endswith($p)) and (.sha256 | length) == 64)' \
	"$STATE/evidence/IR-ATTACK-UFFD/manifest.jsonl"
kill "$CTU" 2>/dev/null; rm -f "$UFILE"
# A process whose main thread a child of its own traces, as anti-debugging
# malware does: kakurid's seize of that thread is refused, and the thread
# runs on.  Its memory is not read while it runs (it could remap a page
# onto a FUSE file whose server never answers, and hold the worker to its
# deadline): the snapshot says to freeze it first.  Frozen, the core is
# taken, and marked incomplete: that thread's registers are missing.
"$B/coretarget" --traced >"$WORK/ctt.out" 2>&1 & CTT=$!; PIDS+=("$CTT")
check "a process traced by a child of its own is ready" wait_until 60 grep -q '^ready' "$WORK/ctt.out"
check "... its main thread has a tracer" \
	bash -c "[ \"\$(awk '/^TracerPid:/ {print \$2}' /proc/$CTT/status)\" -gt 0 ]"
traced_threads() { grep -l '^TracerPid:[[:space:]]*[1-9]' /proc/"$CTT"/task/*/status 2>/dev/null | wc -l; }
run_cmd alice snapshot --arg pid:="$CTT" --incident IR-ATTACK-TRACED
check "its snapshot while it runs is refused: 'traced by pid N ... not frozen ... freeze the process first' (fails on the old code)" \
	jq -e '.result != "done" and ([.output.errors[]? | tostring | select(test("thread [0-9]+ \\(traced by pid [0-9]+\\) and it is not frozen.*freeze the process first"))] | length) == 1' <<<"$REC"
[ "$FAILED" = 0 ] || jq -c '{result, reason, output}' <<<"$REC" | head -c 600 | sed 's/^/    /'
check "... no core of it was written" \
	bash -c "! ls '$STATE'/evidence/IR-ATTACK-TRACED/snapshot-*/pid-$CTT/core 2>/dev/null | grep -q ."
check "... its other threads were let go: only the main thread is traced" \
	test "$(traced_threads)" = 1
# a group the user owns whole (as the groups below the one systemd
# delegates to him are): frozen by the user, it is thawed by the user as
# he likes, and does not count
test_cgroup "/kakuri-test-$$-own.scope"; OWNCG=$TCG
chown 43216:43216 "$OWNCG/cgroup.freeze"
echo "$CTT" >"$OWNCG/cgroup.procs"
setpriv --reuid=43216 --regid=43216 --clear-groups sh -c "echo 1 >'$OWNCG/cgroup.freeze'"
check "the traced process, in a group of the user's own that the user froze" \
	wait_until 20 grep -qx 'frozen 1' "$OWNCG/cgroup.events"
run_cmd alice snapshot --arg pid:="$CTT" --incident IR-ATTACK-TRACED
check "... its snapshot is refused all the same: that freeze is the user's to undo (fails on this change's first version)" \
	jq -e '.result != "done" and ([.output.errors[]? | tostring | select(test("not frozen"))] | length) == 1' <<<"$REC"
check "... no core of it was written" \
	bash -c "! ls '$STATE'/evidence/IR-ATTACK-TRACED/snapshot-*/pid-$CTT/core 2>/dev/null | grep -q ."
setpriv --reuid=43216 --regid=43216 --clear-groups sh -c "echo 0 >'$OWNCG/cgroup.freeze'"
# a group only root may freeze, but made inside a subtree delegated to
# the user: he owns the common ancestor's cgroup.procs, and can move the
# task to a sibling group of his, out of the freeze
test_cgroup "/kakuri-test-$$-deleg.slice/frozen.scope"; RFCG=$TCG
DLG=${RFCG%/*}
chown 43216:43216 "$DLG" "$DLG/cgroup.procs" "$DLG/cgroup.threads" "$DLG/cgroup.subtree_control"
echo "$CTT" >"$RFCG/cgroup.procs"
echo 1 >"$RFCG/cgroup.freeze"
check "the traced process, in a group root froze inside the user's delegated subtree" \
	wait_until 20 grep -qx 'frozen 1' "$RFCG/cgroup.events"
run_cmd alice snapshot --arg pid:="$CTT" --incident IR-ATTACK-TRACED
check "... its snapshot is refused too: the user could move it out (fails on this change's second version)" \
	jq -e '.result != "done" and ([.output.errors[]? | tostring | select(test("not frozen"))] | length) == 1' <<<"$REC"
echo 0 >"$RFCG/cgroup.freeze"
run_cmd alice freeze --arg pid:="$CTT" --incident IR-ATTACK-TRACED
check "freeze it: done" bash -c "[ '$(result)' = done ] && $(declare -f frozen_by_us); frozen_by_us $CTT"
TEP=$(episode)
run_cmd alice snapshot --arg pid:="$CTT" --incident IR-ATTACK-TRACED
TCORE=$(ls "$STATE"/evidence/IR-ATTACK-TRACED/snapshot-*/pid-"$CTT"/core 2>/dev/null | head -1)
check "frozen, its core is written, marked incomplete: registers missing" \
	jq -e -s --arg p "pid-$CTT/core" 'any(.[]; (.path | endswith($p)) and (.sha256 | length) == 64 and .incomplete == true and (.error | test("registers")))' \
	"$STATE/evidence/IR-ATTACK-TRACED/manifest.jsonl"
check "... and holds the process's memory (its marker string)" \
	bash -c "[ -n '$TCORE' ] && grep -q -a kakuri-core-marker-4f1d '$TCORE'"
thaw_all "$TEP"
check "thaw: done, and the process runs on, traced as before" \
	bash -c "[ '$(result)' = done ] && kill -0 $CTT && [ \"\$(awk '/^TracerPid:/ {print \$2}' /proc/$CTT/status)\" -gt 0 ]"
kill "$CTT" 2>/dev/null
run_cmd alice snapshot --arg pid:="$FH1" --incident IR-ATTACK-6
check "a snapshot of the FUSE process: done" test "$(result)" = done
check "its executable was not read: an empty artifact saying why" \
	jq -e '[.output.artifacts[] | select((.path | endswith("/exe")) and .incomplete and (.error | test("fuse")))] | length == 1' <<<"$REC"
# a process the kernel holds (it reads the FUSE file: its server read the
# OPEN and never answers) never reaches "frozen 1": the freeze waits for it
# the whole freeze_timeout, and the daemon serves all along
nsenter -m -t "$FHS1" -- setpriv --reuid=43212 --regid=43212 --clear-groups \
	cat "$WORK/fuse/evil" >/dev/null 2>&1 & HELD=$!; PIDS+=("$HELD")
check "a reader of the FUSE file is held in the kernel (waiting for the FUSE server)" \
	wait_until 30 grep -q fuse "/proc/$HELD/stack"
T0=$(date +%s%N)
run_cmd alice freeze --arg pid:="$HELD" --incident IR-ATTACK-6
T1=$(date +%s%N)
check "its freeze ends as timeout after freeze_timeout ($(( (T1 - T0) / 1000000 )) ms)" \
	bash -c "[ '$(result)' = timeout ] && [ $(( (T1 - T0) / 1000000 )) -ge $((FREEZE_TIMEOUT * 1000 - 500)) ]"
check "it is recorded and in the frozen group all the same" frozen_by_us "$HELD"
thaw_all "$(episode)"
check "and thawed back" test "$(result)" = done
touch "$STOP"
wait "$PROBE"
read -r PMAX PN PF <<<"$(sed -E 's/max_ms=([0-9.]+) probes=([0-9]+) failures=([0-9]+)/\1 \2 \3/' "$WORK/probe.out")"
check "status answered within 500 ms throughout all of the above ($PN probes, the slowest ${PMAX} ms, $PF failed)" \
	bash -c "[ '${PF:-1}' = 0 ] && [ '${PN:-0}' -gt 100 ] && awk 'BEGIN { exit !(${PMAX:-99999} < 500) }'"

# --- item 8: protection is the service itself, not a path -----------------
# the genuine protected program, in a system service's cgroup
"$WORK/prot/sleep" 300 & GEN=$!; PIDS+=("$GEN")
check "the protected program runs" wait_until 30 runs_exe "$GEN" "$WORK/prot/sleep"
service_cgroup "kakuri-test-$$.service" "$GEN"
run_cmd alice freeze --arg pid:="$GEN"
check "the genuine service is protected" test "$(result)" = protected
# attack 1: a user runs the protected binary with LD_PRELOAD
test_cgroup "/kakuri-test-$$-user.slice/session-1.scope"; USERCG=$TCG
: >"$WORK/evil.mark"; chmod 0666 "$WORK/evil.mark"
env EVIL_MARK="$WORK/evil.mark" LD_PRELOAD="$B/evilpreload.so" \
	setpriv --reuid=43210 --regid=43210 --clear-groups "$WORK/prot/sleep" 300 & A1=$!; PIDS+=("$A1")
check "attack 1 runs the protected file with the preload loaded" \
	wait_until 30 grep -q "loaded $A1 43210" "$WORK/evil.mark"
echo "$A1" >"$USERCG/cgroup.procs"
# attack 2: another file bind-mounted over the protected path in a private
# mount namespace, and run from the service's own cgroup: only the file
# itself tells them apart
cp /bin/sleep "$WORK/impostor"; printf 'impostor-%s' "$$" >>"$WORK/impostor"
unshare -m --propagation private -- sh -c "mount --bind '$WORK/impostor' '$WORK/prot/sleep' &&
	echo \$\$ >'$CG2/system.slice/kakuri-test-$$.service/cgroup.procs' &&
	exec setpriv --reuid=43210 --regid=43210 --clear-groups '$WORK/prot/sleep' 300" & A2=$!; PIDS+=("$A2")
check "attack 2 shows the protected path in /proc/PID/exe" wait_until 30 runs_exe "$A2" "$WORK/prot/sleep"
check "attack 2 runs in the service's cgroup" test "$(cg2_of "$A2")" = "/system.slice/kakuri-test-$$.service"
ok=0
for round in 1 2 3 4 5 6 7 8 9 10; do
	run_cmd alice freeze --arg uid:=43210
	if [ "$(result)" = done ] && frozen_by_us "$A1" && frozen_by_us "$A2" &&
	    ! frozen_by_us "$GEN"; then
		ok=$((ok + 1))
	else
		echo "    round $round: $(result) $(jq -c '.output.skipped' <<<"$REC")"
	fi
	FEP=$(episode)
	thaw_all "$FEP"
	[ "$(result)" = done ] || echo "    round $round: thaw $(result)"
done
check "both attacks frozen by uid, 10 of 10 ($ok), the genuine service never" test "$ok" = 10

# --- item 8: a process that changes its pid every 2 ms ---------------------
test_cgroup "/kakuri-test-$$-user.slice/session-2.scope"; HOPCG=$TCG
sh -c "echo \$\$ >'$HOPCG/cgroup.procs' && exec '$B/forker' --hop 2 --uid 43211 '$WORK/hop.cnt'" \
	>"$WORK/hop.out" 2>&1 & HOPPER=$!; PIDS+=("$HOPPER")
# A hopper (forker --hop) counts its hops in slot 0 of its counter file
# CNT and keeps its pid of the moment in slot 1; a 1 in slot 2 stops it.
hops() { counter "$1" 0; }
hop_moves() { local a b; a=$(hops "$1"); sleep 0.05; b=$(hops "$1"); [ -n "$a" ] && [ "$b" -gt "$a" ]; }
hopper_stop() { printf '\001\000\000\000\000\000\000\000' | dd of="$1" bs=8 seek=2 conv=notrunc status=none; }
# freeze_rounds UID CNT GOOD DIAG [BEFORE]: ten rounds of a freeze by UID
# and a thaw of its episode.  A round is good when the freeze is done,
# the hopper's pid of the moment (CUR) is frozen by us and does not hop
# for 0.2 s, and the command GOOD succeeds too; any other round is told,
# with what DIAG prints.  After each thaw the hopper must hop again.
# BEFORE (none: :) runs at the start of every round, with round set.
# Sets ok to the number of good rounds.
freeze_rounds() {
	local uid=$1 cnt=$2 good=$3 diag=$4 before=${5:-:} round CUR H0 H1
	ok=0
	for round in 1 2 3 4 5 6 7 8 9 10; do
		$before
		run_cmd alice freeze --arg uid:="$uid"
		CUR=$(counter "$cnt" 1)
		H0=$(hops "$cnt")
		sleep 0.2	# frozen is a lasting state: nothing may move meanwhile
		H1=$(hops "$cnt")
		if [ "$(result)" = done ] && frozen_by_us "$CUR" && [ "$H0" = "$H1" ] && $good; then
			ok=$((ok + 1))
		else
			echo "    round $round: $(result) hopper $CUR $(cg2_of "$CUR") hops $H0 -> $H1" \
			    "$($diag)" "frozen: $(jq -c '[.output.frozen[].pid]' <<<"$REC")"
		fi
		FEP=$(episode)
		thaw_all "$FEP"
		wait_until 30 hop_moves "$cnt" || echo "    round $round: the hopper does not hop after thaw"
	done
}
check "the hopper hops" wait_until 30 hop_moves "$WORK/hop.cnt"
hopper_good() { ! frozen_by_us "$HOPPER"; }
hopper_diag() {
	echo "$(grep State: /proc/$CUR/status 2>&1) group: $(cat "$CG2/kakuri/$(episode)/cgroup.procs" 2>&1 | tr '\n' ' ')"
}
freeze_rounds 43211 "$WORK/hop.cnt" hopper_good hopper_diag
check "the 2 ms hopper frozen, 10 of 10 ($ok)" test "$ok" = 10
check "its cgroup runs again after every freeze (cgroup.freeze 0)" grep -qx 0 "$HOPCG/cgroup.freeze"
hopper_stop "$WORK/hop.cnt"

# --- item 8, delegated: the hopper's cgroup is its user's -----------------
# As systemd delegates user@UID.service: its directory, cgroup.procs,
# cgroup.threads and cgroup.subtree_control are the user's; the groups
# the user makes below it are wholly theirs.  Every hopper writes 0 to
# its group's cgroup.freeze, and so does, every millisecond, a process
# outside it (another account of the user's, to which the user opened
# that file; not a target of a freeze by uid).  Rounds 1 to 5 the user
# has made an empty child group in the hopper's group (which kept any
# source freeze off), rounds 6 to 10 not (the group was frozen and its
# owner thawed it).  Its nearest ancestor that only root may write,
# frozen instead, holds the hopper all the same.
DU=43214; DU2=43215
test_cgroup "/kakuri-test-$$-user.slice/user-$DU.slice/user@$DU.service"; DSVC=$TCG
USLICE=${DSVC%/*}
chown "$DU:$DU" "$DSVC" "$DSVC/cgroup.procs" "$DSVC/cgroup.threads" "$DSVC/cgroup.subtree_control"
DAPP="$DSVC/app.scope"
check "the user makes its own group and an empty child group in it" \
	setpriv --reuid=$DU --regid=$DU --clear-groups sh -c \
	"mkdir '$DAPP' '$DAPP/empty.scope' && chmod o+w '$DAPP/cgroup.freeze'"
CGROUPS_MADE+=("$DAPP" "$DAPP/empty.scope")
check "the user's group is wholly the user's (its cgroup.freeze too)" \
	test "$(stat -c %u "$DAPP/cgroup.freeze")" = "$DU"
sh -c "echo \$\$ >'$DAPP/cgroup.procs' && exec '$B/forker' --hop 0 --uid $DU --thaw '$DAPP/cgroup.freeze' '$WORK/dhop.cnt'" \
	>"$WORK/dhop.out" 2>&1 & DHOPPER=$!; PIDS+=("$DHOPPER")
setpriv --reuid=$DU2 --regid=$DU2 --clear-groups "$B/forker" --unfreeze "$DAPP/cgroup.freeze" \
	>"$WORK/unfreeze.out" 2>&1 & UNFREEZER=$!; PIDS+=("$UNFREEZER")
check "the delegated hopper hops" wait_until 30 hop_moves "$WORK/dhop.cnt"
# kakurid as it runs when installed (no real-time priority, which
# outruns a hopper all by itself), for these rounds
check "kakurid at its ordinary priority" chrt -o -p 0 "$KPID"
# every live process of the user's frozen by us
all_frozen() {
	local p s
	for p in $(ps -o pid= -u "$DU"); do
		s=$(sed -n 's/^State:\t\(.\).*/\1/p' "/proc/$p/status" 2>/dev/null)
		[ -z "$s" ] || [ "$s" = Z ] || frozen_by_us "$p" || return 1
	done
}
dhopper_good() {
	all_frozen && ! frozen_by_us "$DHOPPER" && ! frozen_by_us "$UNFREEZER" &&
	    grep -qx 0 "$USLICE/cgroup.freeze"
}
dhopper_diag() {
	echo "user's: $(ps -o pid=,stat= -u "$DU" | tr '\n' ' ')" \
	    "slice freeze $(cat "$USLICE/cgroup.freeze")"
}
# from round 6 on, without the user's empty child group
dhopper_before() {
	[ "$round" != 6 ] || setpriv --reuid=$DU --regid=$DU --clear-groups rmdir "$DAPP/empty.scope"
}
freeze_rounds $DU "$WORK/dhop.cnt" dhopper_good dhopper_diag dhopper_before
check "the delegated hopper (no pause between hops) whose group is thawed frozen, 10 of 10 ($ok)" test "$ok" = 10
check "the writes of 0 went on all along" kill -0 "$UNFREEZER"
check "its ancestor runs again (cgroup.freeze 0, not frozen)" \
	bash -c "grep -qx 0 '$USLICE/cgroup.freeze' && grep -qx 'frozen 0' '$USLICE/cgroup.events'"
hopper_stop "$WORK/dhop.cnt"
kill "$UNFREEZER" 2>/dev/null
check "kakurid back at its real-time priority" chrt --reset-on-fork -f -p 10 "$KPID"

# --- item 13: snapshot frozen:true and a reused pid -----------------------
cp /bin/sleep "$WORK/victim"
"$WORK/victim" 301 & V=$!; PIDS+=("$V")
check "the victim runs" wait_until 30 runs_exe "$V" "$WORK/victim"
run_cmd alice freeze --arg pid:="$V"
check "freeze the victim: done" test "$(result)" = done
FEP=$(episode)
kill -9 "$V"; wait "$V" 2>/dev/null
check "the victim is gone" wait_until 30 bash -c "[ ! -e /proc/$V ]"
"$B/pidreuse" "$V" "$B/coretarget" >"$WORK/reuse.out" 2>&1 & REUSER=$!; PIDS+=("$REUSER" "$V")
check "another process now has the victim's pid $V" wait_until 30 runs_exe "$V" "$B/coretarget"
run_cmd alice snapshot --arg frozen:=true --incident IR-ATTACK-13
check "snapshot frozen:true does not take the stranger: vanished" test "$(result)" = vanished
check "the receipt names the pid whose start time changed" \
	jq -e --argjson p "$V" '[.output.skipped[] | select(.pid == $p)] | length == 1' <<<"$REC"
check "no core of the stranger was written" bash -c "! ls '$STATE'/evidence/IR-ATTACK-13/snapshot-*/pid-$V/core 2>/dev/null | grep -q ."
thaw_all "$FEP"

# a snapshot by a pid no process has: refused at once, not handed to a
# worker with no start time to hold it to (it would take whoever gets
# the pid next, unchecked: a protected service, a child of kakurid's)
sleep 0 & GONE=$!; wait "$GONE"
check "a pid this script started and reaped is free ($GONE)" test ! -e "/proc/$GONE"
run_cmd alice snapshot --arg pid:="$GONE" --incident IR-ATTACK-GONE
check "a snapshot of a pid not running: vanished" test "$(result)" = vanished
check "... naming the pid" grep -q "pid $GONE is not running" <<<"$(jq -r .detail <<<"$REC")"
check "... and no snapshot was started for it (fails on the old code)" bash -c "! ls -d '$STATE'/evidence/IR-ATTACK-GONE/snapshot-* 2>/dev/null | grep -q ."
kill "$V" 2>/dev/null

# --- item 13: thaw when the original cgroup, then its slice, is gone ------
test_cgroup "/kakuri-test-$$.slice/orig.scope"; ORIG=$TCG
"$WORK/victim" 302 & T=$!; PIDS+=("$T")
check "the process runs" wait_until 30 runs_exe "$T" "$WORK/victim"
echo "$T" >"$ORIG/cgroup.procs"
run_cmd alice freeze --arg pid:="$T"
FEP=$(episode)
rmdir "$ORIG"
thaw_all "$FEP"
check "thaw with the scope gone: done" test "$(result)" = done
check "the process is back in its scope, made again inside its slice, not at /" \
	test "$(cg2_of "$T")" = "/kakuri-test-$$.slice/orig.scope"
run_cmd alice freeze --arg pid:="$T"
FEP=$(episode)
rmdir "$ORIG" "$CG2/kakuri-test-$$.slice"
thaw_all "$FEP"
check "thaw with the slice gone too: thaw-incomplete" test "$(result)" = thaw-incomplete
check "the receipt lists it as kept frozen, and why" \
	jq -e --argjson p "$T" '[.output.kept_frozen[] | select(.pid == $p and (.why | test("slice")))] | length == 1' <<<"$REC"
check "it is still frozen, not moved above its slice" frozen_by_us "$T"
check "status still counts it" test "$(ctl status --json | jq -r .evidence.frozen)" = 1
mkdir "$CG2/kakuri-test-$$.slice"
thaw_all "$FEP"
check "the slice back: thaw done, the process in its scope" \
	bash -c "[ '$(result)' = done ] && [ \"\$(sed -n 's/^0:://p' /proc/$T/cgroup)\" = '/kakuri-test-$$.slice/orig.scope' ]"

# --- a group the kernel cannot name ---------------------------------------
# The user nests 17 groups of 250-character names in the group systemd
# delegates to him: past PATH_MAX, which /proc/PID/cgroup cannot name
# (ENAMETOOLONG on some kernels, the path cut at PATH_MAX - 1 on others,
# naming no group).  A process there is still frozen, by pid and with the
# user's other process by uid; a thaw keeps it frozen, its group
# unknown, and says so (the old code tried the cut path, or, where the
# read fails, could not freeze it at all).
DEEP_REL=
for i in $(seq 1 17); do DEEP_REL="$DEEP_REL $(printf 'd%02d%0248d' "$i" 0)"; done
DEEP_TOP="$DAPP/$(printf 'd%02d%0248d' 1 0)"
check "the user nests 17 groups of 250 characters in its own group" \
	setpriv --reuid=$DU --regid=$DU --clear-groups bash -c \
	"cd '$DAPP' && for d in $DEEP_REL; do mkdir \"\$d\" && cd \"\$d\" || exit 1; done"
bash -c "cd '$DAPP' && for d in $DEEP_REL; do cd \"\$d\" || exit 1; done && echo \$\$ >cgroup.procs && exec setpriv --reuid=$DU --regid=$DU --clear-groups '$WORK/victim' 305" &
DEEP=$!; PIDS+=("$DEEP")
check "a process of the user's runs in the deepest ($DEEP)" wait_until 30 runs_exe "$DEEP" "$WORK/victim"
check "... where the kernel cannot name its group (no path, or one cut at PATH_MAX - 1)" \
	bash -c "p=\$(sed -n 's/^0:://p' /proc/$DEEP/cgroup 2>/dev/null); [ \${#p} -ge 4095 ] || ! cat /proc/$DEEP/cgroup >/dev/null 2>&1"
setpriv --reuid=$DU --regid=$DU --clear-groups "$WORK/victim" 306 & DOTHER=$!; PIDS+=("$DOTHER")
check "another process of the user's runs ($DOTHER)" wait_until 30 runs_exe "$DOTHER" "$WORK/victim"
run_cmd alice freeze --arg pid:="$DEEP" --incident IR-ATTACK-DEEP
check "freeze by pid: done, and it is frozen" \
	bash -c "[ '$(result)' = done ] && $(declare -f frozen_by_us); frozen_by_us $DEEP"
FEP=$(episode)
thaw_all "$FEP"
check "thaw: thaw-incomplete, naming it kept frozen: its group is not known (fails on the old code)" \
	bash -c "[ '$(result)' = thaw-incomplete ] && jq -e --argjson p $DEEP '[.output.kept_frozen[] | select(.pid == \$p and (.why | test(\"no original cgroup\")))] | length == 1' <<<'$REC' >/dev/null"
check "... and it is still frozen" frozen_by_us "$DEEP"
run_cmd alice freeze --arg uid:=$DU --incident IR-ATTACK-DEEP
check "freeze by uid: done, the user's other process frozen too" \
	bash -c "[ '$(result)' = done ] && $(declare -f frozen_by_us); frozen_by_us $DOTHER && frozen_by_us $DEEP"
thaw_all "$(episode)"
check "thaw: the other process runs again in its own group" \
	bash -c "$(declare -f frozen_by_us); ! frozen_by_us $DOTHER && kill -0 $DOTHER"
kill -9 "$DEEP" "$DOTHER" 2>/dev/null
check "the deep process, frozen, is ended by the test (SIGKILL)" wait_until 30 bash -c "[ ! -e /proc/$DEEP ]"
deep_remove
check "the user's nested groups removed" test ! -d "$DEEP_TOP"

# --- arguments over FUSE -------------------------------------------------
# a process maps a FUSE file whose server never answers over every page
# of its own arguments and environment; a plain process of the same user
# follows it.  The kernel reads /proc/PID/cmdline and environ from
# anonymous memory only (and a core holds only the pages present): collect
# and a snapshot of both are not held, and the arguments are said to be
# missing, not shown as empty
mkdir -p "$WORK/fuse3"
"$B/fusehang" "$WORK/fuse3" "$WORK/evil-src" 43213 --argv >"$WORK/fh3.out" 2>"$WORK/fh3.err" &
PIDS+=($!)
check "the process hiding its arguments started" wait_until 30 bash -c "[ -n \"\$(head -1 '$WORK/fh3.out')\" ]"
FH3=$(fh_pid "$WORK/fh3.out"); PIDS+=("$FH3")
check "its argument pages are the FUSE file ($FH3)" wait_until 30 grep -q " $WORK/fuse3/evil\$" "/proc/$FH3/maps"
setpriv --reuid=43213 --regid=43213 --clear-groups "$WORK/victim" 303 & OTHER=$!; PIDS+=("$OTHER")
check "the other process runs ($OTHER)" wait_until 30 runs_exe "$OTHER" "$WORK/victim"
T0=$(date +%s%N)
run_cmd alice collect --incident IR-ATTACK-ARGV
T1=$(date +%s%N)
CMS=$(( (T1 - T0) / 1000000 ))
check "collect with it running: done" test "$(result)" = done
check "within collect's 30 s deadline (${CMS} ms)" test "$CMS" -lt 30000
AM="$STATE/evidence/IR-ATTACK-ARGV/manifest.jsonl"
check "03-processes.json through 10-packages.json are in the manifest, none cut by time" sources_whole "$AM"
PROCS=$(find "$STATE/evidence/IR-ATTACK-ARGV" -path '*/collect/03-processes.json' | head -1)
check "the hiding process is listed, with no cmdline and cmdline_incomplete" \
	jq -e --argjson p "$FH3" '[.items[] | select(.pid == $p and .cmdline_incomplete == true and (has("cmdline") | not) and .cmdline_area > 0)] | length == 1' "$PROCS"
check "the other process is listed whole" \
	jq -e --argjson p "$OTHER" '[.items[] | select(.pid == $p and .cmdline == "'"$WORK"'/victim 303" and (has("cmdline_incomplete") | not))] | length == 1' "$PROCS"
[ "$FAILED" = 0 ] || jq -c --argjson p "$FH3" '.items[] | select(.pid == $p)' "$PROCS" | sed 's/^/    /'
run_cmd alice freeze --arg uid:=43213 --incident IR-ATTACK-ARGV
check "freeze both by uid: done" test "$(result)" = done
check "both frozen" bash -c "$(declare -f frozen_by_us); frozen_by_us $FH3 && frozen_by_us $OTHER"
FEP=$(episode)
T0=$(date +%s%N)
run_cmd alice snapshot --arg frozen:=true --incident IR-ATTACK-ARGV
T1=$(date +%s%N)
check "snapshot frozen:true of both: done within 10 s ($(( (T1 - T0) / 1000000 )) ms)" \
	bash -c "[ '$(result)' = done ] && [ $(( (T1 - T0) / 1000000 )) -lt 10000 ]"
core_listed() { jq -e -s --arg p "pid-$1/core" 'any(.[]; (.path | endswith($p)) and (.sha256 | length) == 64 and .size > 0)' "$AM" >/dev/null; }
check "the other process's core is written" core_listed "$OTHER"
check "and the hiding process's own" core_listed "$FH3"
thaw_all "$FEP"
check "thaw: done" test "$(result)" = done
kill "$OTHER" "$FH3" 2>/dev/null

# --- processes in exit are no twins ---------------------------------------
# kcmp(KCMP_VM) compares memory by pointer, and a process past exit_mm has
# none: two such were "the same memory", so a target in exit made every
# other exiting process on the host its twin, frozen with its children.
# fusehang --exit-hang holds two processes of 43214 in exit (their FUSE
# flush never answered), each with a child that pauses; the first is
# frozen by pid, the second is nothing of it
mkdir -p "$WORK/fuse4"
"$B/fusehang" "$WORK/fuse4" "$WORK/evil-src" 43214 --exit-hang >"$WORK/fh4.out" 2>"$WORK/fh4.err" &
PIDS+=($!)
in_exit() { local f; f=$(awk '{print $9}' "/proc/$1/stat" 2>/dev/null) && [ -n "$f" ] && (( f & 4 )) && ! grep -q '^VmRSS' "/proc/$1/status"; }
hung_up() { [ "$(wc -l <"$WORK/fh4.out")" -ge 2 ] && in_exit "$(awk 'NR==1{print $1}' "$WORK/fh4.out")" && in_exit "$(awk 'NR==2{print $1}' "$WORK/fh4.out")"; }
check "two processes held in exit by a flush, with no memory (PF_EXITING, no VmRSS)" wait_until 30 hung_up
read -r XA XGA < <(sed -n 1p "$WORK/fh4.out"); read -r XB XGB < <(sed -n 2p "$WORK/fh4.out")
PIDS+=("$XGA" "$XGB")
XGB_CG=$(cg2_of "$XGB")
run_cmd alice freeze --arg pid:="$XA" --incident IR-ATTACK-EXIT
XEP=$(episode)
echo "    freeze of $XA (in exit): $(result), frozen $(jq -c '[.output.frozen[]?.pid]' <<<"$REC"), twins $(jq -c '[.output.shared_memory[]?.pid]' <<<"$REC")"
check "freeze by pid of a process in exit: its child $XGA frozen with it" \
	bash -c "$(declare -f frozen_by_us); frozen_by_us $XGA"
check "the other process in exit ($XB) is not taken for its twin (fails on the old code)" \
	jq -e --argjson p "$XB" '[.output.shared_memory[]? | select(.pid == $p)] + [.output.frozen[]? | select(.pid == $p)] | length == 0' <<<"$REC"
check "... nor is its child $XGB frozen: it stays in its group (fails on the old code)" \
	bash -c "$(declare -f frozen_by_us cg2_of); ! frozen_by_us $XGB && [ \"\$(cg2_of $XGB)\" = '$XGB_CG' ]"
[ -z "$XEP" ] || [ "$XEP" = null ] || thaw_all "$XEP"
check "thaw: nothing of it left frozen" bash -c "$(declare -f frozen_by_us); ! frozen_by_us $XGA && ! frozen_by_us $XGB"
kill "$XGA" "$XGB" 2>/dev/null

kill "$T" "$GEN" "$A1" "$A2" "$TGT" "${BIG[@]}" "$FH1" "$FH2" 2>/dev/null
summary
[ "$FAILED" -eq 0 ]
