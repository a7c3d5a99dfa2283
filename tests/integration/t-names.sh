#!/usr/bin/env bash
# A directory out of reach never holds up kakurid (agentd/resolver.c).
# kakurid named every local caller with getpwuid(3) on its one event
# loop; with passwd served by sssd/LDAP/winbind and the directory slow or
# unreachable (as it is once the host is isolated), each call blocked for
# the NSS module's timeout and kakurid served nobody meanwhile: not the
# employee's disconnect, not a self-report, not another user's status.
# Now the parent reads /etc/passwd itself and asks a resolver child for
# the rest; the name comes with a later request.  Many unknown uids fill
# the resolver's queue (16), not kakurid; a resolver that never answers
# is killed after 60 s and started again, and what it was asked is
# unknown.
#
# The directory is a test NSS module (tests/nss_slow.c, "passwd: files
# kkslow") that answers one uid after 30 s.  kakurid runs in a mount
# namespace of its own whose /etc has the test's nsswitch.conf and
# kkslow.conf on top and whose library directory has the module (both
# overlays): the machine's own /etc and libraries are never touched.
. "$(dirname "$0")/lib.sh"
need
KKSLOW="$TOP/build/libnss_kkslow.so.2"
need_built "$KKSLOW"
echo "== names: a slow directory holds up no request"
topology || die topology
SLOW=54321	# the slow directory's user: a staff member (group 100)
SLOWNAME=kkslowpoke
HOLD=54323	# another slow one, to keep the resolver busy during the flood
QUICK=54322	# answered at once: the module is loaded at all
STUCK=54324	# never answered in time: the resolver is restarted
ATTACK=54325	# its lookup plays a module taken over (kkslow.conf "attack")
ATTACK2=54326	# the same in the resolver started again, whose lookup then waits: kakurid is killed
DELAY=${DELAY:-30}
BOUND=10	# far below DELAY: what a request may take
# the C library's own directory, where dlopen looks for NSS modules
LIBDIR=$(dirname "$(readlink -f "$(awk '$6 ~ /\/libc\.so\.6$/ { print $6; exit }' /proc/self/maps)")")
[ -d "$LIBDIR" ] || unable "cannot find the C library's directory" "libc directory"
mkdir -p "$WORK/etcx" "$WORK/nsslib"
install -m 0755 "$KKSLOW" "$WORK/nsslib/"
CALLS="$WORK/calls"
: >"$CALLS"
# the module's log: a socket, as the resolver may write no file (Landlock)
need_built "$TOP/build/linesink"
"$TOP/build/linesink" "$WORK/calls.sock" "$CALLS" 900 >"$WORK/sink.out" 2>&1 &
PIDS+=($!)
until_ok 10 grep -q ready "$WORK/sink.out" || die "the log socket"
# where the attack would plant a file: a directory anyone may write to
mkdir -p "$WORK/drop"; chmod 1777 "$WORK/drop"
# and one of agent.user's own, as an evidence job's directory is
mkdir -p "$WORK/mine"; chown nobody: "$WORK/mine"; chmod 0700 "$WORK/mine"
touch -d '2026-01-02 03:04:05' "$WORK/mine"
# what the attack aims at: a process of agent.user, as the resolver's
# siblings are (the network child holds the CSIRT's channel); ours, by pid
setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)" --clear-groups \
	sleep 600 </dev/null >/dev/null 2>&1 &
VICTIM=$!; PIDS+=($VICTIM)
cat >"$WORK/etcx/nsswitch.conf" <<EOF
passwd: files kkslow
group: files
shadow: files
hosts: files
EOF
cat >"$WORK/etcx/kkslow.conf" <<EOF
uid $SLOW $SLOWNAME $DELAY
uid $HOLD kkholder $DELAY
uid $QUICK kkquick 0
uid $STUCK kkstuck 600
uid $ATTACK2 kkattack 600
log $WORK/calls.sock
drop $WORK/drop
mine $WORK/mine
attack $ATTACK $VICTIM
attack $ATTACK2 $VICTIM
EOF
chmod 0644 "$WORK/etcx/"*
write_policy
# kakurid itself: unshare, sh and ip each exec the next, so $! is kakurid's pid
unshare -m --propagation private sh -c \
	'mount -t overlay kakuri-etc -o "lowerdir=$1:/etc" /etc &&
	 mount -t overlay kakuri-lib -o "lowerdir=$2:$3" "$3" &&
	 exec ip netns exec "$4" "$5" -d -f "$6"' \
	sh "$WORK/etcx" "$WORK/nsslib" "$LIBDIR" "$EP" "$KAKURID" "$POLICY" >>"$DLOG" 2>&1 &
KPID=$!
until_ok 10 ctl status || die "kakurid starts"
check "kakurid's namespace has the slow directory (uid $QUICK is kkquick there)" \
	bash -c "nsenter -t $KPID -m getent passwd $QUICK | grep -q '^kkquick:'"
refute "... and the machine's own has not" bash -c "getent passwd $QUICK | grep -q kkquick"

as() {	# as UID [GROUPS] -- kakurictl ARGS...: within BOUND seconds
	local u=$1 g=$2; shift 3
	if [ -n "$g" ]; then g="--groups=$g"; else g=--clear-groups; fi
	timeout "$BOUND" setpriv --reuid="$u" --regid="$u" "$g" "$KAKURICTL" -s "$SOCK" "$@" </dev/null
}
calls_of() { grep -c "^getpwuid $1 " "$CALLS"; }
# the log's lines come through linesink: before a check that counts them
# at most, or finds one absent, what was sent before is written (a
# datagram of logger's, after theirs in the socket's queue, is written)
calls_synced() {
	local mark="kk-mark-$RANDOM-$SECONDS"
	logger -u "$WORK/calls.sock" -d -- "$mark" &&
		until_ok 10 grep -q "$mark" "$CALLS"
}

check "uid $SLOW's status is answered within $BOUND s (the directory takes $DELAY s)" \
	as "$SLOW" 100 -- status
check_within "... and the directory was asked, by the resolver child" 5 \
	bash -c "[ \$(grep -c '^getpwuid $SLOW ' '$CALLS') -ge 1 ]"
pid=$(awk -v u="$SLOW" '$1 == "getpwuid" && $2 == u { print $3; exit }' "$CALLS")
check "... which is not the root parent (pid ${pid:-none}, kakurid $KPID)" \
	bash -c "[ -n '$pid' ] && [ '$pid' != '$KPID' ] && [ \"\$(cat /proc/$pid/comm)\" = kakurid-names ]"
check "... and runs as agent.user (nobody)" \
	bash -c "[ \"\$(awk '/^Uid:/ { print \$2 }' /proc/$pid/status)\" = \"\$(id -u nobody)\" ]"

# while the directory still sleeps on uid SLOW
as "$SLOW" 100 -- report --json --category other --what "a slow directory" \
	>"$WORK/r1.json" 2>&1 &
RP=$!; PIDS+=($RP)
check "another user's status meanwhile, within $BOUND s" as 65534 "" -- status
check "... and a staff member's log" as 4242 100 -- log -n 3
rc=0; wait "$RP" || rc=$?
check "uid $SLOW's self-report is answered within $BOUND s" \
	bash -c "[ $rc -eq 0 ] && jq -e '.ok == true and (.report | length) == 32' '$WORK/r1.json'"
R1=$(jq -r .report "$WORK/r1.json" 2>/dev/null)
# report_of ID JQ: the queued report ID makes JQ true
report_of() { outbox_json | jq -e --arg id "$1" "select(.id == \$id) | $2" | grep -qx true; }
check "... it is in the outbox, with the reporter's uid and the name unknown" \
	report_of "$R1" ".body.reporter.uid == $SLOW and .body.reporter.user_lookup == \"unknown\""
check "the staff button as uid $SLOW: answered within $BOUND s" as "$SLOW" 100 -- disconnect
check "... isolated" test "$(status_field mode)" = isolated
check "... by uid $SLOW" grep -q "uid=$SLOW" <<<"$(status_field by)"

# the directory answers at last: the next requests have the name
check_within "the directory answers uid $SLOW after $DELAY s" $((DELAY + 30)) \
	grep -q "^done $SLOW " "$CALLS"
rc=0; as "$SLOW" 100 -- report --json --category other --what "named now" >"$WORK/r2.json" 2>&1 || rc=$?
check "uid $SLOW's next report, within $BOUND s" test "$rc" -eq 0
R2=$(jq -r .report "$WORK/r2.json" 2>/dev/null)
check "... names him in the outbox: user $SLOWNAME, found" \
	report_of "$R2" ".body.reporter.user == \"$SLOWNAME\" and .body.reporter.user_lookup == \"found\""
check "... and in the audit log: local:uid=$SLOW($SLOWNAME)" \
	audit_has ".action == \"report\" and .result == \"queued\" and (.actor | startswith(\"local:uid=$SLOW($SLOWNAME),\"))"
calls_synced || fail "the module's log caught up"
check "the directory was asked for uid $SLOW once (got $(calls_of $SLOW))" test "$(calls_of $SLOW)" -eq 1

# the attack: many uids nobody knows, while the directory holds the resolver
check "uid $HOLD's status starts a lookup that takes $DELAY s" as "$HOLD" "" -- status
until_ok 5 grep -q "^getpwuid $HOLD " "$CALLS" || fail "the directory was asked for uid $HOLD"
slow_ok=0
for u in $(seq 300000 300299); do
	as "$u" "" -- status >/dev/null 2>&1 && slow_ok=$((slow_ok + 1))
	if [ "$u" -eq 300150 ]; then
		check "half-way through 300 unknown uids, a staff member's status within $BOUND s" \
			as 4242 100 -- status
	fi
done
check "300 unknown uids: each answered within $BOUND s (got $slow_ok)" test "$slow_ok" -eq 300
check "... and another user's report" as 65534 "" -- report --category other --what "still here"
calls_synced || fail "the module's log caught up"
check "... while the directory still holds the resolver" bash -c "! grep -q '^done $HOLD ' '$CALLS'"
check_within "the directory answers uid $HOLD" $((DELAY + 30)) grep -q "^done $HOLD " "$CALLS"
# the lookups that were queued behind it are answered at once ("not found")
flood() { grep -c '^getpwuid 300[0-2][0-9][0-9] ' "$CALLS"; }
check_within "the queued lookups are done after it" 10 \
	bash -c "[ \$(grep -c '^getpwuid 300[0-2][0-9][0-9] ' '$CALLS') -ge 12 ]"
calls_synced || fail "the module's log caught up"
check "... no more than the queue holds: $(flood) of 300 uids asked (at most 16)" test "$(flood)" -le 16
check "a staff member's status after the flood" as 4242 100 -- status

# a module taken over by a hostile directory: the resolver runs as
# agent.user like its siblings, and its filter of denials keeps it from
# reading, signalling or killing any process but itself, and from
# outliving kakurid: its death signal cleared, or a new process; and
# Landlock lets it write no file nor listen on a TCP port (a lookup does
# neither)
names_pid=$(pgrep -P "$KPID" -x kakurid-names | head -1)
check "uid $ATTACK's status starts the lookup that attacks" as "$ATTACK" "" -- status
check_within "... the module tried its fourteen ways" 10 bash -c "[ \$(grep -c '^attack ' '$CALLS') -eq 14 ]"
for how in read nice limit tgkill kill; do
	check "... $how of a process of agent.user: refused (EPERM), not done" \
		grep -qx "attack $how 1" "$CALLS"
done
check "... clearing its own death signal: refused (EPERM)" grep -qx "attack undeath 1" "$CALLS"
check "... a new process, which would not have it: refused (EPERM)" grep -qx "attack fork 1" "$CALLS"
check "... an exec, which from a thread would drop it: refused (EPERM)" grep -qx "attack exec 1" "$CALLS"
check "... a file where agent.user may write: refused (EACCES)" grep -qx "attack write 13" "$CALLS"
check "... and none is there" bash -c "! ls '$WORK/drop/' | grep -q ."
check "... a TCP port to listen on: refused (EACCES)" grep -qx "attack listen 13" "$CALLS"
check "... a port the kernel picks (listen without bind): refused (EPERM)" grep -qx "attack autobind 1" "$CALLS"
for how in chmod utime xattr; do
	check "... $how of a directory of agent.user's: refused (EPERM)" grep -qx "attack $how 1" "$CALLS"
done
check "... which is as it was (mode 700, its time)" bash -c \
	"[ \"\$(stat -c '%a %Y' '$WORK/mine')\" = \"700 \$(date -d '2026-01-02 03:04:05' +%s)\" ]"
check "... that process lives (on the old code it was killed)" kill -0 "$VICTIM"
check "... and the resolver is the same process, not killed for it" \
	bash -c "[ \"\$(pgrep -P $KPID -x kakurid-names | head -1)\" = '$names_pid' ]"
check "a staff member's status after it" as 4242 100 -- status

# a directory that never answers: the resolver is restarted, nothing waits for it
old=$(pgrep -P "$KPID" -x kakurid-names | head -1)
check "uid $STUCK's status starts a lookup that never ends" as "$STUCK" "" -- status
until_ok 5 grep -q "^getpwuid $STUCK " "$CALLS" || fail "the directory was asked for uid $STUCK"
check "uid $QUICK's status meanwhile (its lookup waits behind)" as "$QUICK" "" -- status
check_within "after 60 s without an answer the resolver is killed and restarted" 90 \
	grep -q "resolver $old answered no name lookup in 60 s; restarting it" "$DLOG"
check_within "... a new one runs" 10 bash -c "p=\$(pgrep -P $KPID -x kakurid-names) && [ -n \"\$p\" ] && [ \"\$p\" != '$old' ]"
calls_synced || fail "the module's log caught up"
check "... and the stuck lookup died with the old one" bash -c "! grep -q '^done $STUCK ' '$CALLS'"
rc=0; as "$QUICK" "" -- report --json --category other --what "after the restart" >"$WORK/r3.json" 2>&1 || rc=$?
check "uid $QUICK's report right after, within $BOUND s" test "$rc" -eq 0
check "... its lookup was answered \"unknown\" when the resolver died" \
	report_of "$(jq -r .report "$WORK/r3.json" 2>/dev/null)" ".body.reporter.uid == $QUICK and .body.reporter.user_lookup == \"unknown\""
check "kakurid is the same process" kill -0 "$KPID"
check "audit chain verifies" ctl log -n 0

# the attack again in the new resolver, whose lookup then hangs (it does
# not see kakurid go); then kakurid is killed (SIGKILL, as root malware or
# the OOM killer would): no child of it lives on, the resolver that tried
# to clear its death signal neither (on the old code it lived on)
names_pid=$(pgrep -P "$KPID" -x kakurid-names | head -1)
check "uid $ATTACK2's status starts the attack in the new resolver" as "$ATTACK2" "" -- status
check_within "... the module tried its fourteen ways again" 10 bash -c "[ \$(grep -c '^attack ' '$CALLS') -eq 28 ]"
check "... clearing its death signal: refused again" \
	bash -c "[ \$(grep -cx 'attack undeath 1' '$CALLS') -eq 2 ]"
kids=$(pgrep -P "$KPID" | tr '\n' ' ')
check "kakurid's children before it is killed: the resolver among them ($kids)" \
	bash -c "[ -n '$names_pid' ] && echo ' $kids' | grep -q ' $names_pid '"
declare -A comm=()
for p in $kids; do comm[$p]=$(cat "/proc/$p/comm" 2>/dev/null); done
stop_kakurid -KILL
gone() { ! kill -0 "$1" 2>/dev/null || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
for p in $kids; do
	if until_ok 10 gone "$p"; then
		pass "... child $p (${comm[$p]}) ends with kakurid"
	else
		fail "... child $p (${comm[$p]}) ends with kakurid: it outlived it"
		kill -KILL "$p" 2>/dev/null	# ours: a survivor of the kakurid this test started
	fi
done
check "... the victim still lives" kill -0 "$VICTIM"
summary
[ "$FAILED" -eq 0 ]
