#!/usr/bin/env bash
# Who may do what on the control socket (DESIGN 3), and SIGHUP reloads.
. "$(dirname "$0")/lib.sh"
need
echo "== local authorization and policy reload"
topology || { fail "topology"; summary; exit 1; }
for a in "$NET4" "$NET6"; do serve "$NET" "$a" 8080; done
for a in "$EP4" "$EP6"; do serve "$EP" "$a" 7443; serve "$EP" "$a" 7445; done
# the echo servers are up (bounded polls, not a fixed sleep)
for p in "$NET tcp $NET4 8080" "$EP tcp $EP4 7443" "$EP tcp $EP4 7445"; do
	wait_for 5 reach $p || fail "echo server up: $p"
done
write_policy
start_kakurid || { fail "kakurid starts"; summary; exit 1; }
# made so by the umask around its bind, not by a chmod of its name after
check "the control socket is a socket of mode 0666, root's" \
	bash -c "[ \"\$(stat -c '%F %a %u' '$SOCK')\" = 'socket 666 0' ]"

# staff_group is "users" (gid 100) in the test policy
outsider() { setpriv --reuid=4252 --regid=4252 --clear-groups "$KAKURICTL" -s "$SOCK" "$@"; }
member() { setpriv --reuid=4251 --regid=4251 --groups=100 "$KAKURICTL" -s "$SOCK" "$@"; }
# the agent's own user (agent.user, nobody here), whose children's gid is
# staff_group in the shipped policy (user and staff_group both "kakuri")
agent_user() { setpriv --reuid=65534 --regid=100 --clear-groups "$KAKURICTL" -s "$SOCK" "$@"; }

# a member of more groups than are read at once (256): staff_group last
# (uids of their own: refusals of a uid are audited in full 3 times in 10 s)
many_groups() { setpriv --reuid=4546 --regid=4546 --groups="$(seq -s, 1000 1299),100" "$KAKURICTL" -s "$SOCK" "$@"; }

check "anyone may read status" outsider status
refute "a user outside staff_group may not read the outbox" \
	setpriv --reuid=4547 --regid=4547 --groups="$(seq -s, 1000 1299)" "$KAKURICTL" -s "$SOCK" outbox
check "a staff_group member of 301 groups is staff all the same: reads the outbox" many_groups outbox
check "anyone may read the log" outsider log
outsider disconnect >/dev/null 2>"$WORK/err"; rc=$?
check "a user outside staff_group cannot disconnect (exit 1)" test $rc -eq 1
check "the refusal is one line naming the reason" bash -c "test \$(wc -l <'$WORK/err') -eq 1 && grep -q '^kakurictl: not-authorized' '$WORK/err'"
check "still open after the refusal" test "$(status_field mode)" = open
check "still reaching the internet" reach "$EP" tcp "$NET4" 8080
# a compromised child (courier, fleet, resolver) runs as agent.user
agent_user disconnect >/dev/null 2>"$WORK/err"; rc=$?
check "agent.user with staff_group as its gid is not staff: no disconnect (exit 1)" test $rc -eq 1
check "... not-authorized" grep -q '^kakurictl: not-authorized' "$WORK/err"
check "... still open" test "$(status_field mode)" = open
refute "... nor may it read the outbox" agent_user outbox
check "a staff_group member can disconnect" member disconnect
check "isolated by the member" test "$(status_field mode)" = isolated
check "by names the member's uid" grep -q "uid=4251" <<<"$(status_field by)"

for who in member outsider; do
	$who release >/dev/null 2>"$WORK/err"; rc=$?
	check "no local release for $who (exit 1)" test $rc -eq 1
	check "the refusal says how to get a CSIRT release" grep -q "signed release" "$WORK/err"
done
ctl release >/dev/null 2>&1; rc=$?
check "no local release even for root (exit 1)" test $rc -eq 1
check "still isolated after release attempts" test "$(status_field mode)" = isolated
refute "still blocked after release attempts" reach "$EP" tcp "$NET4" 8080
n=$(ctl log --json | jq '[.entries[] | select(.result=="refused: signature-required")] | length')
check "every release attempt is audited ($n)" test "$n" -eq 3
check "the outsider's disconnect attempt is audited" bash -c "'$KAKURICTL' -s '$SOCK' log --json | jtrue '[.entries[] | select(.action==\"disconnect\" and .result==\"refused: not-authorized\")] | length > 0'"

# bad input on the control socket gets an answer; the daemon keeps serving
printf '\xff\xff\xff\xff' | timeout 2 socat - UNIX-CONNECT:"$SOCK" >/dev/null 2>&1 || true
printf '\x00\x00\x00\x05hello' | timeout 2 socat - UNIX-CONNECT:"$SOCK" >"$WORK/bad" 2>&1 || true
check "a malformed request gets a 'malformed' answer" grep -q malformed "$WORK/bad"
check "the daemon still serves after bad frames" ctl status

# a "since" past the year 9999: anybody may ask for the log, and each such
# request put an error line in the journal (the audit reader cannot write
# the date), 10,000 in half a second, past journald's limit for the unit
# (kakurid's own alerts dropped with them).  Refused as malformed instead,
# counted with the uid's other refusals: a few lines for 300 requests
cat >"$WORK/farlog.py" <<'PY'
import sys
from ctlsock import become, request
become(4700)
n = 0
for since in [253402300800, 2**53, 2**62]:
    for _ in range(100):
        s, a, _ = request(sys.argv[1], {"cmd": "log", "since": since})
        s.close()
        if a is not None and a.get("error") == "malformed":
            n += 1
print(n)
PY
lines0=$(wc -l <"$DLOG")
far=$(PYTHONPATH="$TOP/tests/integration" timeout 60 python3 "$WORK/farlog.py" "$SOCK" 2>&1)
lines1=$(wc -l <"$DLOG")
check "300 log requests with a since past the year 9999: 300 answered malformed ($far)" test "$far" = 300
check "... at most 5 lines in kakurid's log for them ($((lines1 - lines0)))" test $((lines1 - lines0)) -le 5
refute "... none of them an error reading the audit log" grep -q "reading .*audit.log" "$DLOG"
check "... the last second of 9999 is still a date to ask from" ctl log --since @253402300799
check "... and the daemon serves" ctl status

# a staff member may send a request of up to 1 MiB (a report with its
# screenshots); 1 MiB of [{},{},...] cost the root loop 100 ms and 74 MiB
# in jansson, eight connections of a uid at a time, isolations waiting.
# One of more values than any request has is answered without a parse.
cat >"$WORK/manyvalues.py" <<'PY'
import json, socket, struct, sys
from ctlsock import become
become(4701, 4701, [100])
body = b"[" + b"{}," * (349000) + b"{}]"
n = 0
for _ in range(3):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sys.argv[1])
    s.sendall(struct.pack(">I", len(body)) + body)
    data = b""
    while len(data) < 4 or len(data) < 4 + struct.unpack(">I", data[:4])[0]:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    if len(data) >= 4 and json.loads(data[4:]).get("error") == "malformed":
        n += 1
print(len(body), n)
PY
hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$KPID/status"; }
h0=$(hwm)
read -r blen nmal < <(PYTHONPATH="$TOP/tests/integration" timeout 60 python3 "$WORK/manyvalues.py" "$SOCK" 2>&1)
h1=$(hwm)
check "a staff member's three requests of 1 MiB of [{},{},...] ($blen bytes): answered malformed ($nmal of 3)" \
	test "${nmal:-0}" = 3
check "... without a parse: kakurid's peak memory grew by under 8 MiB, not 74 ($((h1 - h0)) KiB)" \
	test $((h1 - h0)) -lt 8192
check "... and the daemon serves" ctl status

# SIGHUP: a broken policy is refused, the old one stays in force
cp "$POLICY" "$WORK/good.conf"
echo "agent: { bogus_key = 1; };" >>"$POLICY"
# a reload is over when its audit line is there
reloads() { "$KAKURICTL" -s "$SOCK" log -n 0 --json 2>/dev/null | jq "[.entries[] | select(.action == \"policy-reload\" and .result == \"$1\")] | length"; }
reloaded() { test "$(reloads "$1")" -gt "$2"; }	# reloaded RESULT COUNT-BEFORE
n=$(reloads refused)
kill -HUP "$KPID"
check "SIGHUP with a broken policy: the reload is answered" wait_for 10 reloaded refused "$n"
check "SIGHUP with a broken policy: kakurid still running" kill -0 "$KPID"
check "SIGHUP with a broken policy: still isolated" test "$(status_field mode)" = isolated
check "SIGHUP with a broken policy: table still verified" test "$(status_field verified)" = true
refute "SIGHUP with a broken policy: still blocked" reach "$EP" tcp "$NET4" 8080
check "SIGHUP with a broken policy: management channel unchanged" reach "$PEER" tcp "$EP4" 7443
check "SIGHUP with a broken policy: refusal audited" bash -c "'$KAKURICTL' -s '$SOCK' log --json | jtrue '[.entries[] | select(.action==\"policy-reload\" and .result==\"refused\")] | length > 0'"
# a good new policy (7445 becomes a management port) is applied atomically
sed 's/ports = \[ 7443, 7444 \];/ports = [ 7443, 7444, 7445 ];/' "$WORK/good.conf" >"$POLICY"
refute "before reload: CSIRT peer cannot reach 7445" reach "$PEER" tcp "$EP4" 7445
n=$(reloads applied)
kill -HUP "$KPID"
check "SIGHUP with a good policy: the reload is applied" wait_for 10 reloaded applied "$n"
check "SIGHUP with a good policy: CSIRT peer reaches the new port 7445" reach "$PEER" tcp "$EP4" 7445
check "SIGHUP with a good policy: still isolated" test "$(status_field mode)" = isolated
refute "SIGHUP with a good policy: still blocked" reach "$EP" tcp "$NET4" 8080
check "audit chain verifies at the end" ctl log
summary
[ "$FAILED" -eq 0 ]
