#!/usr/bin/env bash
# Text at the boundary and a state that is always saved (issue 8, item 5).
# A staff member's disconnect message and a CSIRT incident name are cut on
# character boundaries only: Japanese messages of every length around the
# 255-byte limit (shifted by 0, 1, 2 ASCII bytes) isolate, `status` keeps
# working, state.json says isolated and `kakurid --restore` applies it.
# Invalid UTF-8 and control characters are refused with one clear line, and
# a state that cannot be saved is a failed disconnect, retried by the next.
. "$(dirname "$0")/lib.sh"
need
echo "== text at the boundary, state always saved"
topology || { fail "topology"; summary; exit 1; }
pki_setup || { fail "PKI setup"; summary; exit 1; }
for a in "$NET4" "$NET6"; do serve "$NET" "$a" 8080; done
for a in "$EP4" "$EP6"; do serve "$EP" "$a" 7443; done
write_policy "$(remote_agent_conf)" "$(remote_tls_conf)"
AGENT_ID=$(agent_init)
wait_for 5 reach "$EP" tcp "$NET4" 8080

state_mode() { jq -r .mode "$STATE/state.json" 2>/dev/null; }
state_reason() { jq -r .reason "$STATE/state.json" 2>/dev/null; }
# from scratch: no table, no state, kakurid running and open
fresh_open() {
	{ stop_kakurid -KILL; } 2>/dev/null
	in_ep nft delete table inet kakuri 2>/dev/null
	rm -f "$STATE/state.json"
	start_kakurid
}
# restore_isolated: kill kakurid, drop the table (a reboot), --restore
restore_isolated() {
	local out
	{ stop_kakurid -KILL; } 2>/dev/null
	in_ep nft delete table inet kakuri 2>/dev/null || return 1
	out=$(in_ep "$KAKURID" --restore -f "$POLICY" 2>&1) || return 1
	grep -q "restore: isolated" <<<"$out" && table_present
}

# --- the staff message, every length around the limit ---
lens_ok=0 lens=0 status_ok=0 saved=0 prefix_ok=0 restored=0
for shift in 0 1 2; do
	for k in 83 84 85 86 87; do
		lens=$((lens + 1))
		fresh_open || { fail "kakurid starts (shift $shift, $k characters)"; continue; }
		msg=$(ja "$shift" "$k")
		jq -cn --arg m "$msg" '{cmd: "disconnect", message: $m}' >"$WORK/req.json"
		resp=$(raw_request "$WORK/req.json" "${STAFF_ID[@]}")
		jtrue '.ok == true and .mode == "isolated"' <<<"$resp" && lens_ok=$((lens_ok + 1))
		ctl status >/dev/null 2>&1 && test "$(status_field mode)" = isolated && status_ok=$((status_ok + 1))
		test "$(state_mode)" = isolated && saved=$((saved + 1))
		r=$(state_reason)
		# what was kept is the longest whole-character prefix within 255 bytes
		want=$((shift + 3 * k)); [ $want -gt 255 ] && want=$((shift + (255 - shift) / 3 * 3))
		[ -n "$r" ] && [ "${msg#"$r"}" != "$msg" ] && [ "$(printf %s "$r" | wc -c)" -eq $want ] && prefix_ok=$((prefix_ok + 1))
		restore_isolated && restored=$((restored + 1))
	done
done
check "Japanese messages of ${lens} lengths (249-263 bytes, shifted 0-2): every disconnect isolates ($lens_ok)" test $lens_ok -eq $lens
check "after each, status works for everyone ($status_ok)" test $status_ok -eq $lens
check "after each, state.json says isolated ($saved)" test $saved -eq $lens
check "after each, the reason kept is the message cut on a character boundary ($prefix_ok)" test $prefix_ok -eq $lens
check "after each, kakurid --restore on an empty namespace applies isolated ($restored)" test $restored -eq $lens
check "the last restore isolates for real (IPv4)" bash -c "! ip netns exec $EP $NETPROBE tcp $NET4 8080 700"
check "the last restore isolates for real (IPv6)" bash -c "! ip netns exec $EP $NETPROBE tcp $NET6 8080 700"
check "the last restore keeps the CSIRT channel open" reach "$PEER" tcp "$EP4" 7443

# --- what is not text is refused, nothing changes, status keeps working ---
fresh_open || fail "kakurid starts"
bad_n=0 bad_refused=0 bad_status=0
for m in '"a\u001b[2Jb"' '"line\nbreak"' '"tab\there"' '"\u0000"' '"bidi \u202e txt"' '"c1 \u009b"'; do
	bad_n=$((bad_n + 1))
	printf '{"cmd":"disconnect","message":%s}' "$m" >"$WORK/req.json"
	resp=$(raw_request "$WORK/req.json" "${STAFF_ID[@]}")
	jtrue '.ok == false and .error == "malformed"' <<<"$resp" && bad_refused=$((bad_refused + 1))
	ctl status >/dev/null 2>&1 && bad_status=$((bad_status + 1))
done
# raw invalid UTF-8 (a cut character) inside the JSON string
printf '{"cmd":"disconnect","message":"\xe3\x81"}' >"$WORK/req.json"
bad_n=$((bad_n + 1))
resp=$(raw_request "$WORK/req.json" "${STAFF_ID[@]}")
jtrue '.ok == false and .error == "malformed"' <<<"$resp" && bad_refused=$((bad_refused + 1))
ctl status >/dev/null 2>&1 && bad_status=$((bad_status + 1))
check "control characters, NUL, bidi overrides, invalid UTF-8: $bad_n of $bad_n refused as malformed ($bad_refused)" test $bad_refused -eq $bad_n
check "status works after each ($bad_status)" test $bad_status -eq $bad_n
check "nothing was isolated by refused messages" test "$(status_field mode)" = open
check "the refusals are audited" bash -c "'$KAKURICTL' -s '$SOCK' log --json | jtrue '[.entries[] | select(.action == \"disconnect\" and .result == \"refused: malformed\")] | length > 0'"
out=$(as_staff "$KAKURICTL" -s "$SOCK" disconnect -m "$(printf 'a\033[2Jb')" 2>&1); rc=$?
check "kakurictl disconnect -m with a control character: usage error (exit 2)" test $rc -eq 2
check "... and a first line naming the problem" bash -c "head -1 <<<\"\$1\" | grep -q '^kakurictl: the message contains a control character'" _ "$out"
out=$(as_staff "$KAKURICTL" -s "$SOCK" disconnect -m "$(ja 2 100)" 2>&1); rc=$?
check "kakurictl disconnect with a 302-byte Japanese message: done" test $rc -eq 0
check "... and says the message was shortened" grep -q "shortened" <<<"$out"
check "... status works" ctl status

# --- a CSIRT incident name cut at 180 bytes, shifted so a cut would split ---
by_ok=0 inc_n=0
for shift in 1 2; do
	inc_n=$((inc_n + 1))
	fresh_open || { fail "kakurid starts"; continue; }
	ISO=$(sign alice isolate --incident "$(ja "$shift" 80)" --reason "$(ja 0 85)")
	ctl apply "$ISO" >/dev/null 2>&1
	by=$(status_field by)
	[ "$(status_field mode)" = isolated ] && [ "$(state_mode)" = isolated ] &&
		[ "${by#csirt:}" != "$by" ] && by_ok=$((by_ok + 1))
done
check "signed isolate with a long Japanese incident ($inc_n shifts): isolated, status works, state saved ($by_ok)" test $by_ok -eq $inc_n
check "... and restore applies isolated" restore_isolated

# --- a state that cannot be saved is a failed disconnect, retried by the next ---
fresh_open || fail "kakurid starts"
rm -f "$STATE/state.json"; mkdir "$STATE/state.json"	# rename() onto it fails
out=$(as_staff "$KAKURICTL" -s "$SOCK" disconnect 2>&1); rc=$?
check "disconnect while state.json cannot be written: fails (exit 1)" test $rc -eq 1
check "... saying the state was not saved" grep -q "save-failed" <<<"$out"
check "... the table is in force anyway (the safe direction)" bash -c "! ip netns exec $EP $NETPROBE tcp $NET4 8080 700"
check "... status works" ctl status
rmdir "$STATE/state.json"
out=$(as_staff "$KAKURICTL" -s "$SOCK" disconnect 2>&1); rc=$?
check "the next disconnect saves the state: done" test $rc -eq 0
check "state.json says isolated" test "$(state_mode)" = isolated
check "restore after the retried save applies isolated" restore_isolated

# --- a release that cannot be saved is not done ---
fresh_open || fail "kakurid starts"
as_staff "$KAKURICTL" -s "$SOCK" disconnect >/dev/null 2>&1
release_token() {
	local f
	f=$(sign alice release --episode "$(status_field episode)") &&
		"$KAKURICTL" cosign -k "$PKI/bob.key" "$f" >/dev/null 2>&1 && echo "$f"
}
REL=$(release_token)
rm -f "$STATE/state.json"; mkdir "$STATE/state.json"
out=$(ctl apply --json "$REL" 2>/dev/null); rc=$?
check "a signed release while state.json cannot be written: not done (exit 1)" test $rc -eq 1
check "... the receipt says why" grep -q "could not be saved" <<<"$out"
check "... still isolated (real packets)" bash -c "! ip netns exec $EP $NETPROBE tcp $NET4 8080 700"
check "... status says isolated" test "$(status_field mode)" = isolated
rmdir "$STATE/state.json"
check "a new release token once it can be saved: done" ctl apply "$(release_token)"
check "open (real packets)" wait_for 5 reach "$EP" tcp "$NET4" 8080
check "state.json says open" test "$(state_mode)" = open
summary
[ "$FAILED" -eq 0 ]
