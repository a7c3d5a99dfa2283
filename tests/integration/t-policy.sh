#!/usr/bin/env bash
# kakurid -n: "policy OK" or one line FILE:LINE: message; files that are
# not root's or are writable by others are refused.
. "$(dirname "$0")/lib.sh"
need
echo "== policy checks (kakurid -n)"
cp "$TOP/policies/kakuri.conf" "$WORK/shipped.conf"; chmod 0644 "$WORK/shipped.conf"
out=$("$KAKURID" -n -f "$WORK/shipped.conf" 2>&1); rc=$?
check "the shipped policy is OK" test "$out" = "policy OK" -a $rc -eq 0
for f in "$TOP"/policies/examples/*.conf; do
	cp "$f" "$WORK/ex.conf"; chmod 0644 "$WORK/ex.conf"
	check "example $(basename "$f") is OK" "$KAKURID" -n -f "$WORK/ex.conf"
done
write_policy
check "the test policy is OK" "$KAKURID" -n -f "$POLICY"

bad() {	# bad NAME EXPECTED-REGEX: a policy with a mistake in it
	local name=$1 want=$2 out rc
	chmod 0600 "$WORK/bad.conf"
	out=$("$KAKURID" -n -f "$WORK/bad.conf" 2>&1); rc=$?
	check "$name: refused with exit 1" test $rc -eq 1
	check "$name: one line '$want'" bash -c "test \$(printf '%s\n' \"\$1\" | wc -l) -eq 1 && grep -Eq \"\$2\" <<<\"\$1\"" _ "$out" "$want"
}
sed 's/state_dir/stat_dir/' "$POLICY" >"$WORK/bad.conf"
bad "typo in a key" "bad.conf:2: .*stat_dir"
sed 's/"192.0.2.10"/"csirt.example.com"/' "$POLICY" >"$WORK/bad.conf"
bad "host name as a peer" "bad.conf:[0-9]+: .*csirt.example.com"
sed 's/7444/70000/' "$POLICY" >"$WORK/bad.conf"
bad "port out of range" "bad.conf:[0-9]+: .*70000"
printf '@include "/etc/shadow"\n' | cat - "$POLICY" >"$WORK/bad.conf"
bad "@include refused" "bad.conf:1: .*include"
sed 's/management: {/management {/; s/^};$/}/' "$POLICY" | head -c 40 >"$WORK/bad.conf"
bad "syntax error" "bad.conf:[0-9]+: "

cp "$POLICY" "$WORK/ww.conf"; chmod 0666 "$WORK/ww.conf"
out=$("$KAKURID" -n -f "$WORK/ww.conf" 2>&1)
check "a world-writable policy is refused" grep -q "writable" <<<"$out"
cp "$POLICY" "$WORK/nr.conf"; chown 65534 "$WORK/nr.conf"
out=$("$KAKURID" -n -f "$WORK/nr.conf" 2>&1)
check "a policy not owned by root is refused" grep -q "not root" <<<"$out"
refute "a missing policy is refused" "$KAKURID" -n -f "$WORK/none.conf"
summary
[ "$FAILED" -eq 0 ]
