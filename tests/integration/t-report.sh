#!/usr/bin/env bash
# The employee's self-report (issue 10, item 1): any local user may
# report; every field arrives at the collector with what kakurid adds
# (uid, pid and user name from SO_PEERCRED even when the request claims
# others, mode, episode, recent audit entries); the id is printed only
# once the report is durable (kill -9 right after it: delivered after the
# restart); --attach is read as the caller, capped and hashed; --from
# takes a JSON record and refuses hostile ones clearly; on a terminal the
# questions come in Japanese under a Japanese locale, in English
# otherwise; without a terminal a missing field is a usage error;
# --disconnect presses the button for staff only; a burst of 1,000
# reports arrives complete, in order, with a collector killed mid-stream.
. "$(dirname "$0")/lib.sh"
need
echo "== report: the employee's self-report reaches the CSIRT"
collector_agent 'location = "Tokyo HQ 3F";'
stored_payload() {	# stored_payload ID: the payload the collector stored
	jq -r .payload "$COL/$AGENT_ID/$1.json" | base64 -d
}
mode_is() { [ "$(status_field mode)" = "$1" ]; }
outbox_empty() { [ "$(ctl outbox --json | jq -r .count)" = 0 ]; }
NOBODY_UID=$(id -u nobody)

start_kakurid || die "kakurid starts"
collector || die "the collector starts"

# --- a report with every field, by a user outside the staff group ---
printf 'fake invoice.pdf.exe bytes' >"$WORK/evidence.bin"
chmod 0644 "$WORK/evidence.bin"
as_nobody "$KAKURICTL" -s "$SOCK" report --json --category popup \
	--when 2026-11-30T09:58:00+09:00 --where "3F meeting room B" \
	--what "A window said the PC is infected and to call a number" \
	--why "It appeared while browsing and blocked the screen" \
	--contact "ext. 4321" --attach "$WORK/evidence.bin" </dev/null >"$WORK/r1.json"
R1=$(jq -r .report "$WORK/r1.json")
check "any local user may report: an id is printed" grep -Eq '^[0-9a-f]{32}$' <<<"$R1"
check_within "it reaches the collector" 10 test -s "$COL/$AGENT_ID/$R1.json"
stored_payload "$R1" >"$WORK/p1.json"
check "every field arrives (category, found_at, location, what, why, contact)" \
	jq -e '.type == "self-report" and .body.category == "popup" and
	.body.found_at == "2026-11-30T09:58:00+09:00" and .body.location == "3F meeting room B" and
	(.body.what | test("call a number")) and (.body.why | test("blocked")) and
	.body.reporter.contact == "ext. 4321"' "$WORK/p1.json"
check "kakurid's facts: reporter uid and user name from SO_PEERCRED, pid, host, mode, recent audit" \
	jq -e --argjson u "$NOBODY_UID" '.body.reporter.uid == $u and .body.reporter.user == "nobody" and
	.body.reporter.pid > 1 and (.host.hostname | length) > 0 and (.host.boot_id | length) > 0 and
	.body.mode == "open" and (.body.recent | length) > 0 and (.body.sessions | type) == "array"' "$WORK/p1.json"
check "the attachment: name, size, sha256 and the bytes as read by the caller" \
	jq -e --arg sha "$(sha256sum <"$WORK/evidence.bin" | cut -c1-64)" \
	'.body.attachments[0] | .name == "evidence.bin" and .size == 26 and .sha256 == $sha and
	(.data | @base64d) == "fake invoice.pdf.exe bytes"' "$WORK/p1.json"
check "not disconnected: the report alone changes nothing" test "$(status_field mode)" = open

# --- the request claims another uid and pid: kakurid takes the kernel's ---
python3 - "$SOCK" >"$WORK/claim.json" <<'EOF'
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
req = json.dumps({"cmd": "report", "category": "other", "what": "claim",
                  "uid": 0, "pid": 1, "user": "root",
                  "reporter": {"uid": 0, "user": "root"}}).encode()
s.sendall(struct.pack(">I", len(req)) + req)
n = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))[0]
print(s.recv(n, socket.MSG_WAITALL).decode())
EOF
R2=$(jq -r .report "$WORK/claim.json")
check_within "a report claiming uid 0 and pid 1 arrives" 10 test -s "$COL/$AGENT_ID/$R2.json"
check "... with the caller's uid (root here, via SO_PEERCRED) and real pid, not the claim" \
	bash -c "jq -r .payload '$COL/$AGENT_ID/$R2.json' | base64 -d | jq -e '.body.reporter.uid == 0 and .body.reporter.pid != 1'"
as_nobody /usr/bin/python3 - "$SOCK" >"$WORK/claim2.json" 2>/dev/null <<'EOF'
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
req = json.dumps({"cmd": "report", "category": "other", "what": "claim",
                  "uid": 0, "pid": 1, "reporter": {"uid": 0}}).encode()
s.sendall(struct.pack(">I", len(req)) + req)
n = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))[0]
print(s.recv(n, socket.MSG_WAITALL).decode())
EOF
R3=$(jq -r .report "$WORK/claim2.json")
check_within "nobody claiming uid 0: stored with nobody's uid" 10 bash -c \
	"jq -r .payload '$COL/$AGENT_ID/$R3.json' | base64 -d | jq -e --argjson u $NOBODY_UID '.body.reporter.uid == \$u'"

# --- the reporter's process for good: its pid and start time.  A pid
# --- alone names whichever process has it later: a reporter connects
# --- while kakurid is stopped (SIGSTOP, ours, by pid), passes its socket
# --- to a child and exits; its pid is taken by another process
# --- (pidreuse); kakurid, continued, accepts the connection only then.
need_built "$TOP/build/pidreuse"
python3 - <<'EOF' || unable "SO_PEERPIDFD (Linux 6.5) is needed for a reporter's start time" "no SO_PEERPIDFD here"
import socket
a, b = socket.socketpair()
a.getsockopt(socket.SOL_SOCKET, 77)
EOF
PYTHONPATH="$TOP/tests/integration" timeout 60 python3 - "$SOCK" "$TOP/build/pidreuse" "$KPID" >"$WORK/reuse.json" 2>"$WORK/reuse.err" <<'EOF'
import json, os, select, signal, socket, subprocess, sys, time
import ctlsock

def start_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])

def read_by(fd, seconds):
    """what fd gives within seconds, up to its end"""
    data, end = b"", time.time() + seconds
    while time.time() < end:
        if not select.select([fd], [], [], max(0, end - time.time()))[0]:
            break
        d = os.read(fd, 65536)
        if not d:
            break
        data += d
    return data

out = {}
# a reporter that stays: its own pid and start time
s, ans, _ = ctlsock.request(sys.argv[1], {"cmd": "report", "category": "other", "what": "pinned"}, timeout=15)
out.update(own=ans.get("report"), own_pid=os.getpid(), own_start=start_of(os.getpid()))
s.close()
kpid = int(sys.argv[3])
go_r, go_w = os.pipe()
got_r, got_w = os.pipe()
imp = None
imp_pid = imp_fd = 0
imp_start = p_start = 0
# killed by timeout, the finally below would not run: exit through it
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
os.kill(kpid, signal.SIGSTOP)
try:
    p = os.fork()
    if p == 0:
        # P: connects (the kernel takes it; kakurid accepts later), hands
        # the socket to its child C, and exits at once; neither runs the
        # parent's code after a failure of its own
        try:
            os.close(go_w)
            os.close(got_r)
            s = socket.socket(socket.AF_UNIX)
            s.connect(sys.argv[1])
            if os.fork() == 0:
                result = {}
                try:
                    if os.read(go_r, 1) == b"x":
                        s.settimeout(15)
                        result, _ = ctlsock.send_on(s, {"cmd": "report", "category": "other", "what": "passed on"})
                    os.write(got_w, json.dumps(result or {}).encode())
                except Exception as e:
                    os.write(got_w, json.dumps({"error": str(e)}).encode())
                finally:
                    os._exit(0)
            os.write(got_w, b"%d\n" % start_of(os.getpid()))
        finally:
            os._exit(0)
    os.close(go_r)
    os.close(got_w)
    line = b""
    while not line.endswith(b"\n"):
        d = os.read(got_r, 1)
        if not d:
            break
        line += d
    p_start = int(line or 0)
    os.waitpid(p, 0)
    # start times count in ticks: the impostor's must be another one
    time.sleep(0.05)
    imp = subprocess.Popen([sys.argv[2], str(p), "sleep", "30"], stdout=subprocess.PIPE)
    imp_pid = int(imp.stdout.readline().strip() or 0)
    if imp_pid == p:
        # the impostor ended by its pidfd, never by a pid reused since
        imp_fd = os.pidfd_open(imp_pid)
        imp_start = start_of(p)
finally:
    os.kill(kpid, signal.SIGCONT)
try:
    os.write(go_w, b"x")
    os.close(go_w)
    ans = json.loads(read_by(got_r, 25) or b"{}")
finally:
    if imp_fd > 0:
        signal.pidfd_send_signal(imp_fd, signal.SIGKILL)
    if imp is not None:
        imp.kill()
        imp.wait()
out.update(passed=ans.get("report"), answer=ans, p_pid=p, p_start=p_start, imp_pid=imp_pid, imp_start=imp_start)
print(json.dumps(out))
EOF
kill -CONT "$KPID" 2>/dev/null	# whatever became of the python
echo "  (reuse: $(cat "$WORK/reuse.json") $(head -c 300 "$WORK/reuse.err"))"
check "kakurid serves again after SIGCONT" ctl status
R_OWN=$(jq -r .own "$WORK/reuse.json")
R_PASS=$(jq -r .passed "$WORK/reuse.json")
check_within "a report whose reporter stays, and one sent on a socket passed on: both arrive" 10 \
	bash -c "test -s '$COL/$AGENT_ID/$R_OWN.json' && test -s '$COL/$AGENT_ID/$R_PASS.json'"
stored_payload "$R_OWN" >"$WORK/own.json"
stored_payload "$R_PASS" >"$WORK/pass.json"
check "the reporter's start time is recorded with its pid (fails on the old code)" \
	jq -e --slurpfile r "$WORK/reuse.json" '.body.reporter.pid == $r[0].own_pid and .body.reporter.start_time == $r[0].own_start' "$WORK/own.json"
check "the pid of the passed-on socket's reporter was taken by another process before kakurid accepted (the test's premise)" \
	jq -e '.imp_pid == .p_pid and .imp_start > 0 and .imp_start != .p_start' "$WORK/reuse.json"
check "... the report names the reporter's pid, and no start time: its process was gone (fails without the pidfd check)" \
	jq -e --slurpfile r "$WORK/reuse.json" '.body.reporter.pid == $r[0].p_pid and .body.reporter.start_time == null' "$WORK/pass.json"

# --- an unknown field whose name a 40-byte cut would split in a character ---
# "unknown field \"%.40s\"" cut "é" in half: the answer (JSON) could not be
# made, and the connection closed with none (the client saw no agent)
python3 - "$SOCK" >"$WORK/cutkey.json" <<'EOF'
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
req = json.dumps({"cmd": "report", "category": "other", "what": "x",
                  "k" * 39 + "\u00e9tendu": 1}, ensure_ascii=False).encode()
s.sendall(struct.pack(">I", len(req)) + req)
h = s.recv(4, socket.MSG_WAITALL)
if len(h) == 4:
    n = struct.unpack(">I", h)[0]
    print(s.recv(n, socket.MSG_WAITALL).decode())
EOF
check "a report with an unknown field named k x 39 and an accented letter: refused malformed, named whole to the character (fails on the old code: no answer)" \
	jq -e '.error == "malformed" and (.message | contains("unknown field \"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"))' "$WORK/cutkey.json"

# --- no terminal, a required field missing: a usage error, nothing sent ---
N=$(wc -l <"$COL/index.jsonl")
as_nobody "$KAKURICTL" -s "$SOCK" report --category popup </dev/null >/dev/null 2>"$WORK/usage.err"; rc=$?
check "without a terminal and without --what: a usage error (exit 2) that names --what" \
	bash -c "[ $rc -eq 2 ] && head -1 '$WORK/usage.err' | grep -q -- '--what'"

# --- --from: a record, and hostile ones ---
echo '{"category":"mail","what":"a mail asked for my password","why":"odd sender","disconnect":false}' >"$WORK/ok.json"
chmod 0644 "$WORK/ok.json"
R4=$(as_nobody "$KAKURICTL" -s "$SOCK" report --json --from "$WORK/ok.json" </dev/null | jq -r .report)
check_within "--from a JSON record: reported" 10 test -s "$COL/$AGENT_ID/$R4.json"
hostile() {	# hostile NAME CONTENT WORDS: refused with a one-line reason, exit 1
	printf '%s' "$2" >"$WORK/h-$1.json"
	"$KAKURICTL" -s "$SOCK" report --from "$WORK/h-$1.json" </dev/null >/dev/null 2>"$WORK/h-$1.err"
	[ $? -eq 1 ] && [ "$(wc -l <"$WORK/h-$1.err")" -eq 1 ] && grep -q -- "$3" "$WORK/h-$1.err"
}
check "--from with a number for a string: refused, named" hostile types '{"category":"popup","what":42}' "what must be a string"
check "--from with an unknown field: refused, named" hostile unknown '{"category":"popup","what":"x","uid":0}' 'unknown field "uid"'
check "--from with invalid UTF-8: refused" hostile utf8 $'{"category":"popup","what":"\xff\xfe"}' "not a JSON object"
check "--from that is not an object: refused" hostile array '["popup"]' "not a JSON object"
head -c 2000000 /dev/zero | tr '\0' a | sed 's/^/{"category":"popup","what":"/; s/$/"}/' >"$WORK/h-huge.json"
"$KAKURICTL" -s "$SOCK" report --from "$WORK/h-huge.json" </dev/null >/dev/null 2>"$WORK/h-huge.err"; rc=$?
check "--from larger than 1 MiB: refused, one line" bash -c "[ $rc -eq 1 ] && grep -q 'larger than 1 MiB' '$WORK/h-huge.err'"
python3 -c 'import json; print(json.dumps({"category":"popup","what":"x"*9000}))' >"$WORK/h-long.json"
"$KAKURICTL" -s "$SOCK" report --from "$WORK/h-long.json" </dev/null >/dev/null 2>"$WORK/h-long.err"; rc=$?
check "a 9000-byte what: kakurid refuses it (what is too long), exit 1" \
	bash -c "[ $rc -eq 1 ] && grep -q 'what is too long' '$WORK/h-long.err'"
check "no hostile record reached the collector" bash -c "[ \$(wc -l <'$COL/index.jsonl') -eq $((N + 1)) ]"
check "kakurid still serves" kill -0 "$KPID"

# --- questions on a terminal: Japanese or English by locale ---
# pty LANG ANSWERS...: kakurictl report on a pseudo-terminal, the
# answers typed one per question; prints what the terminal showed
pty() {
	local lang=$1; shift
	LANG=$lang LC_ALL= LC_MESSAGES= python3 - "$KAKURICTL" "$SOCK" "$@" <<'EOF'
import os, pty, select, sys, time
ctl, sock, answers = sys.argv[1], sys.argv[2], sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(ctl, [ctl, "-s", sock, "report"])
out, deadline = b"", time.monotonic() + 20
while time.monotonic() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        if out.count(b"> ") > 0 and answers and out.rstrip().endswith(b">"):
            os.write(fd, (answers.pop(0) + "\n").encode())
os.waitpid(pid, 0)
sys.stdout.write(out.decode("utf-8", "replace"))
EOF
}
pty ja_JP.UTF-8 popup "" "" "画面に警告が出た" "突然表示された" "" >"$WORK/ja.txt"
check "LANG=ja_JP.UTF-8: the questions are Japanese (発見日時, 発見場所, 経緯, なぜ異常と判断したか)" \
	bash -c "grep -q 発見日時 '$WORK/ja.txt' && grep -q 発見場所 '$WORK/ja.txt' && grep -q 経緯 '$WORK/ja.txt' && grep -q なぜ異常と判断したか '$WORK/ja.txt'"
check "... with the guidance for a suspicious popup (電源は切らない)" grep -q "電源は切らない" "$WORK/ja.txt"
RJ=$(grep -o '[0-9a-f]\{32\}' "$WORK/ja.txt" | tail -1)
check "... and the report id once it is stored" test -n "$RJ"
check_within "the Japanese answers arrive as typed" 10 bash -c \
	"jq -r .payload '$COL/$AGENT_ID/$RJ.json' | base64 -d | jq -e '.body.what == \"画面に警告が出た\" and .body.category == \"popup\"'"
check "where, left at its default: the host name and the policy's location text" bash -c \
	"jq -r .payload '$COL/$AGENT_ID/$RJ.json' | base64 -d | jq -e --arg h \"\$(hostname)\" '.body.location == (\$h + \", Tokyo HQ 3F\")'"
pty C.UTF-8 mail "" "" "a mail with a strange link" "" "" >"$WORK/en.txt"
check "otherwise English (What happened?, keep the PC switched on)" \
	bash -c "grep -q 'What happened' '$WORK/en.txt' && grep -q 'keep the PC switched on' '$WORK/en.txt' && ! grep -q 発見日時 '$WORK/en.txt'"

# --- --disconnect: staff press the button with it; others may not ---
as_nobody "$KAKURICTL" -s "$SOCK" report --json --category popup --what x --disconnect </dev/null >"$WORK/nd.json"
check "nobody with --disconnect: reported, not disconnected, told why" \
	jq -e '(.report | length) == 32 and .disconnected == false and (.refused | test("staff"))' "$WORK/nd.json"
check "... and the host stays open" mode_is open
# a member of staff who used up the reports of ten minutes still cuts the
# network with --disconnect: the quota is the report's, not the button's
for i in $(seq 1 10); do
	as_staff "$KAKURICTL" -s "$SOCK" report --json --category other --what "staff $i" </dev/null >/dev/null
done
as_staff "$KAKURICTL" -s "$SOCK" report --json --category other --what "one too many" </dev/null >"$WORK/sq.json" 2>&1
check "staff: the 11th report in ten minutes is refused, rate-limited" \
	grep -q 'rate-limited\|too many reports' "$WORK/sq.json"
check "... the host is still open" mode_is open
as_staff "$KAKURICTL" -s "$SOCK" report --json --category popup --what "it spreads" --disconnect </dev/null >"$WORK/sd.json" 2>&1
check "staff over the report quota with --disconnect: isolated all the same" mode_is isolated
check "... and told the report itself was not queued" grep -q 'disconnected; but too many reports' "$WORK/sd.json"
check_within "... its disconnect report names the presser's process: its pid and start time (fails on the old code)" 10 bash -c \
	"'$KAKURICTL' reports --json --type disconnect '$COL' | jq -s -e 'any(.[]; .verified and (.payload.body.by | test(\",pid=[0-9]+\")) and .payload.body.by_start_time > 0)'"
# 61 users report at once (a terminal server during a phishing wave):
# past the 32 counted, each new one takes the oldest window, so no user
# is refused for another's count (before, the users past the table
# shared one count of 10, and the 11th of them was refused); staff too
for u in $(seq 5000 5060); do
	setpriv --reuid=$u --regid=$u --clear-groups "$KAKURICTL" -s "$SOCK" report --category other --what "uid $u" </dev/null >/dev/null 2>&1
done
setpriv --reuid=5999 --regid=5999 --clear-groups "$KAKURICTL" -s "$SOCK" report --json --category other --what "one more uid" </dev/null >"$WORK/ov.json" 2>&1
check "61 users, one report each: one more user still reports" \
	jq -e '.report | length == 32' "$WORK/ov.json"
setpriv --reuid=4343 --regid=4343 --groups=100 "$KAKURICTL" -s "$SOCK" report --json --category other --what "staff, after the flood" </dev/null >"$WORK/st.json" 2>&1
check "... a member of staff new in the interval still reports" jq -e '.report | length == 32' "$WORK/st.json"
ctl report --json --category popup --what "ransom note on screen" --disconnect </dev/null >"$WORK/d.json"
RD=$(jq -r .report "$WORK/d.json")
check "root with --disconnect: isolated, and the report says so" \
	jq -e '.disconnected == true and .mode == "isolated"' "$WORK/d.json"
check "... and the host is isolated" mode_is isolated
check_within "delivered while isolated, disconnected: true, with the episode" 10 bash -c \
	"jq -r .payload '$COL/$AGENT_ID/$RD.json' | base64 -d | jq -e '.body.disconnected == true and (.body.episode | length) == 32'"

# --- kill -9 right after the id is printed: delivered after the restart ---
collector_stop
RK=$(ctl report --json --category file --what "kill -9 test" </dev/null | jq -r .report)
kill -9 "$KPID"; wait "$KPID" 2>/dev/null; KPID=
check "the id was printed before the kill" grep -Eq '^[0-9a-f]{32}$' <<<"$RK"
start_kakurid || die "kakurid restarts"
collector || die "the collector restarts"
ctl report --category other --what "a nudge" </dev/null >/dev/null
check_within "after the restart it is delivered" 15 test -s "$COL/$AGENT_ID/$RK.json"

# --- a copy a power cut left empty on the collector is replaced, not a wall ---
# (the rename reached the disk, its data did not, no ack went out): the
# agent sends it again, and the same id with other bytes would be
# refused as a replay for good, and everything behind it with it
check_within "everything before it has arrived" 15 outbox_empty
collector_stop
RE=$(ctl report --json --category other --what "torn on the collector" </dev/null | jq -r .report)
mkdir -p "$COL/$AGENT_ID" && : >"$COL/$AGENT_ID/$RE.json"
collector || die "the collector restarts"
ctl report --category other --what "behind it" </dev/null >/dev/null
check_within "an empty copy of the same id: replaced by the one sent again, delivered" 15 outbox_empty
check "... the stored copy is the agent's report again" \
	bash -c "jq -r .payload '$COL/$AGENT_ID/$RE.json' | base64 -d | jq -e '.body.what == \"torn on the collector\"'"
check "... the collector said so" grep -q 'damaged copy' "$WORK/col.err"

# --- a burst of 1,000 with the collector killed mid-stream ---
check_within "everything before it has arrived (the outbox is empty)" 15 outbox_empty
collector_stop
N0=$(wc -l <"$COL/index.jsonl")
for i in $(seq 1 1000); do
	ctl report --category other --what "burst $i" </dev/null >/dev/null || break
done
outbox_holds() { [ "$(ctl outbox --json | jq -r .count)" -ge "$1" ]; }
check "1,000 reports queued" outbox_holds 1000
collector || die "the collector restarts"
ctl report --category other --what "go" </dev/null >/dev/null
until_ok 30 bash -c "[ \$(wc -l <'$COL/index.jsonl') -ge $((N0 + 300)) ]"
collector_stop -KILL
check "the collector was killed mid-stream (some, not all, stored)" \
	bash -c "n=\$(wc -l <'$COL/index.jsonl'); [ \$n -ge $((N0 + 300)) ] && [ \$n -lt $((N0 + 1001)) ]"
collector || die "the collector restarts"
ctl report --category other --what "go on" </dev/null >/dev/null
check_within "after it returns, the outbox drains" 120 outbox_empty
check "every one of the burst arrived exactly once" bash -c \
	"tail -n +$((N0 + 1)) '$COL/index.jsonl' | jq -r .id | sort | uniq -d | wc -l | grep -qx 0 &&
	 [ \$(tail -n +$((N0 + 1)) '$COL/index.jsonl' | wc -l) -eq 1002 ]"
check "in seq order" bash -c "jq -s '[.[].seq] | . == sort' '$COL/index.jsonl' | grep -qx true"
(cd "$COL" && tail -n +$((N0 + 1)) index.jsonl | jq -r .file | xargs cat |
	jq -r '.payload | @base64d | fromjson | .body.what') >"$WORK/whats"
check "burst 1, 500 and 1000 are among them" bash -c \
	"grep -qx 'burst 1' '$WORK/whats' && grep -qx 'burst 500' '$WORK/whats' && grep -qx 'burst 1000' '$WORK/whats'"
"$KAKURICTL" reports "$COL" >/dev/null; rc=$?
check "kakurictl reports verifies all of them" test "$rc" -eq 0
summary
[ "$FAILED" -eq 0 ]
