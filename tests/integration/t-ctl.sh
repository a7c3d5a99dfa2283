#!/usr/bin/env bash
# kakurictl's command table (issue 9, item 7): one table names every
# command, and the dispatch, the usage lines, the help with a description
# of each command and the usage errors all come from it; the man page
# describes each command the table names.  No agent is needed: nothing
# here touches a network namespace.
. "$(dirname "$0")/lib.sh"
need
echo "== kakurictl: the command table, its help and its usage errors"

"$KAKURICTL" help >"$WORK/help.out" 2>"$WORK/help.err"; rc=$?
check "kakurictl help: exit 0, nothing on stderr" bash -c "[ $rc -eq 0 ] && [ ! -s '$WORK/help.err' ]"
# the commands, from the usage lines of the same help
sed -n 's/^\(usage: \|       \)kakurictl \([a-z-]*\).*/\2/p' "$WORK/help.out" | grep -v '^$' | sort -u >"$WORK/names"
check "the usage lines name the commands (at least the twelve of today)" test "$(wc -l <"$WORK/names")" -ge 12
missing=
while read -r name; do
	grep -Eq "^  $name +[a-z].{10,}" "$WORK/help.out" || missing="$missing $name"
done <"$WORK/names"
check "every command has a line of description in the help${missing:+ (not:$missing)}" test -z "$missing"
"$KAKURICTL" --help >"$WORK/help2.out" 2>&1
check "kakurictl --help says the same" cmp -s "$WORK/help.out" "$WORK/help2.out"
undocumented=
while read -r name; do
	grep -Eq "^\.(It )?Ic $name( |$)" "$TOP/ctl/kakurictl.8" || undocumented="$undocumented $name"
done <"$WORK/names"
check "the man page describes every command of the table${undocumented:+ (not:$undocumented)}" test -z "$undocumented"

"$KAKURICTL" help send >"$WORK/hs.out" 2>&1; rc=$?
check "help send: its usage line and its description (exit 0)" bash -c \
	"[ $rc -eq 0 ] && grep -q '^usage: kakurictl send --to HOST:PORT' '$WORK/hs.out' && grep -Eq '^  send +send signed commands' '$WORK/hs.out'"
"$KAKURICTL" send >/dev/null 2>"$WORK/send.err"; rc=$?
check "send without arguments: usage error (exit 2) with the same usage line" bash -c \
	"[ $rc -eq 2 ] && grep -q '^usage: kakurictl send --to HOST:PORT' '$WORK/send.err' && \
	[ \"\$(grep '^usage:' '$WORK/send.err')\" = \"\$(grep '^usage:' '$WORK/hs.out')\" ]"
"$KAKURICTL" fetch --no-such-option >/dev/null 2>"$WORK/fetch.err"; rc=$?
check "fetch with a bad option: exit 2, both of its usage lines" bash -c \
	"[ $rc -eq 2 ] && grep -q '^usage: kakurictl fetch --to' '$WORK/fetch.err' && grep -q '^       kakurictl fetch --verify DIR' '$WORK/fetch.err'"
"$KAKURICTL" frobnicate >/dev/null 2>"$WORK/unk.err"; rc=$?
check "an unknown command: exit 2, one line naming it" bash -c \
	"[ $rc -eq 2 ] && grep -qx \"kakurictl: unknown command 'frobnicate' (try 'kakurictl help')\" '$WORK/unk.err'"
"$KAKURICTL" help frobnicate >/dev/null 2>"$WORK/unk2.err"; rc=$?
check "help for an unknown command: exit 2" bash -c "[ $rc -eq 2 ] && grep -q 'unknown command' '$WORK/unk2.err'"
"$KAKURICTL" >/dev/null 2>"$WORK/none.err"; rc=$?
check "no command at all: exit 2 and the usage lines" bash -c \
	"[ $rc -eq 2 ] && grep -q '^usage: kakurictl \[-s socket\]' '$WORK/none.err' && [ \$(grep -c '^       kakurictl ' '$WORK/none.err') -ge 12 ]"
"$KAKURICTL" -s "$WORK/nothing.sock" status >/dev/null 2>"$WORK/unreach.err"; rc=$?
check "status without an agent: exit 3, one line" bash -c \
	"[ $rc -eq 3 ] && [ \$(wc -l <'$WORK/unreach.err') -eq 1 ] && grep -q '^kakurictl: agent not reachable at' '$WORK/unreach.err'"
# fake_agent STATUS-ANSWER: kakurictl status against a socket whose peer
# is not kakurid (or a kakurid taken over), which takes one request and
# answers the JSON text given; its output in $WORK/fake.out and .err,
# its exit status in $rc
fake_agent() {
	rm -f "$WORK/fake.sock"
	python3 - "$WORK/fake.sock" "$1" <<'PY' &
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(1)
s.settimeout(20)
c, _ = s.accept()
c.settimeout(20)
n = struct.unpack(">I", c.recv(4, socket.MSG_WAITALL))[0]
c.recv(n, socket.MSG_WAITALL)
a = sys.argv[2].encode()
c.sendall(struct.pack(">I", len(a)) + a)
c.close()
PY
	FAKE=$!
	until_ok 10 test -S "$WORK/fake.sock"
	"$KAKURICTL" -s "$WORK/fake.sock" status >"$WORK/fake.out" 2>"$WORK/fake.err"; rc=$?
	wait "$FAKE"
}
# a refusal with line breaks and terminal escapes: kakurictl prints one
# line of it, cleaned
fake_agent '{"ok": false, "error": "busy\nkakurictl: x", "message": "evil\nkakurictl: isolated: done\u001b[2J"}'
check "a refusal with line breaks and escapes from the socket: exit 1, one line, no escape (fails on the old code)" bash -c \
	"[ $rc -eq 1 ] && [ \$(wc -l <'$WORK/fake.err') -eq 1 ] && ! grep -q \$'\\033' '$WORK/fake.err' && grep -q '^kakurictl: busy.*evil' '$WORK/fake.err'"
# an answer whose fields hold escape sequences (an interface that root
# renamed to "\e[2K\e[1A...", to wipe the ALERT line off the screen):
# status prints every field as one line of printable text
E='\u001b[2K\u001b[1A\r'
fake_agent "{\"ok\": true, \"mode\": \"isolated$E\", \"episode\": \"$E\", \"since\": \"$E\",
  \"by\": \"csirt\\nmode:        open\", \"reason\": \"$E\", \"protection\": \"$E\",
  \"verified\": true, \"tamper_events\": 1,
  \"tamper\": [{\"what\": \"interface ${E}eth9 has no hook\"}],
  \"not_covered\": \"$E\", \"fleet\": {\"broker\": \"$E\", \"state\": \"$E\"},
  \"blocklists\": [{\"set\": \"$E\", \"version\": 1, \"ranges\": 1}]}"
check "status with escape sequences in its fields: exit 0, no escape or carriage return printed (fails on the old code)" \
	bash -c "[ $rc -eq 0 ] && ! grep -q \$'\\033' '$WORK/fake.out' && ! grep -q \$'\\r' '$WORK/fake.out'"
check "... the ALERT line is there, one line each field" bash -c \
	"grep -q '^ALERT: .*eth9 has no hook' '$WORK/fake.out' && [ \$(grep -c '^mode:' '$WORK/fake.out') -eq 1 ]"
summary
[ "$FAILED" -eq 0 ]
