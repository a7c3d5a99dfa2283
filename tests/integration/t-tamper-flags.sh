#!/usr/bin/env bash
# Root in another process, protect = "monitor", swaps a small set of
# kakurid's for one with other flags in one transaction: the rules that
# use dns4 deleted, dns4 deleted and made anew with "flags interval", the
# same rules put back where they were, and one interval start without an
# end.  The kernel
# then lets DNS through to every address from the resolver's up, yet
# lists one element with flags 0, as kakurid's plain set has it.  kakurid
# must see the set's flags differ, count it as tampering and restore the
# set: a query to an address above the resolver is dropped again.
. "$(dirname "$0")/lib.sh"
need
SETSWAP="$TOP/build/setswap"
need_built "$SETSWAP"
echo "== tampering with a set's flags (protect = monitor)"
topology || die "topology"
DNS4=192.0.2.53		# the policy's resolver, in the peer's namespace
ABOVE4=192.0.2.60	# an address above it, no resolver
for a in "$DNS4" "$ABOVE4"; do
	ip -n "$PEER" addr add "$a/32" dev to-ep || die "address $a"
	serve "$PEER" "$a" 53
done

write_policy "" 'nftables: { protect = "monitor"; };'
sed -i "s/^  ports = \[ 7443, 7444 \];/&\n  dns = [ \"$DNS4\" ];/" "$POLICY"
grep -q "dns = \[ \"$DNS4\" \]" "$POLICY" || die "policy with a resolver"
start_kakurid || { fail "kakurid starts (monitor)"; summary; exit 1; }
check "protection is monitor" test "$(status_field protection)" = monitor
ctl disconnect >/dev/null
check_within "isolated, kernel tables verified" 5 \
	bash -c "test \"\$('$KAKURICTL' -s '$SOCK' status --json | jq -r .verified)\" = true"
# bounded polls: the probe itself waits up to 700 ms
check_within "DNS to the policy's resolver passes (udp)" 5 reach "$EP" udp "$DNS4" 53
refute "DNS to $ABOVE4, no resolver of the policy, is dropped (udp)" reach "$EP" udp "$ABOVE4" 53
refute "... and (tcp)" reach "$EP" tcp "$ABOVE4" 53

# the swap, one transaction (build/setswap: nft(8) cannot write an
# interval start without an end, it adds one at 0.0.0.0)
ip netns exec "$EP" nft -a list table inet kakuri >"$WORK/before.nft"
n0=$(status_field tamper_events)
check "root swaps dns4 for an interval set with a lone start element (one transaction)" \
	ip netns exec "$EP" "$SETSWAP" kakuri dns4 "$DNS4"

# what kakurid must not take for its own: status no longer verified
# while it differs, and it counts it and restores the set
seen_more() { test "$(status_field tamper_events)" -gt "$1"; }
plain_again() {
	ip netns exec "$EP" nft list set inet kakuri dns4 >"$WORK/dns4.nft" &&
	! grep -q 'flags interval' "$WORK/dns4.nft" && grep -q "elements = { $DNS4 }" "$WORK/dns4.nft"
}
check_within "kakurid saw the swap and counted it as tampering" 5 seen_more "$n0"
check_within "dns4 is a plain set holding the resolver again" 5 plain_again
check_within "kernel tables verified again (after the restore)" 5 \
	bash -c "test \"\$('$KAKURICTL' -s '$SOCK' status --json | jq -r .verified)\" = true"
check "the rules read back as before (the same rule texts)" \
	bash -c "diff <(sed 's/ # handle [0-9]*\$//; s/counter packets [0-9]* bytes [0-9]*/counter/' '$WORK/before.nft') \
		<(ip netns exec '$EP' nft -a list table inet kakuri | sed 's/ # handle [0-9]*\$//; s/counter packets [0-9]* bytes [0-9]*/counter/')"
check_within "the tampering is in the audit log" 5 audit_has '.action=="tamper"'
# real packets: the resolver still answers, the address above it does not
check "DNS to the resolver still passes (udp)" reach "$EP" udp "$DNS4" 53
refute "DNS to $ABOVE4 is dropped again (udp)" reach "$EP" udp "$ABOVE4" 53
refute "... and (tcp)" reach "$EP" tcp "$ABOVE4" 53
stop_kakurid -TERM
summary
[ "$FAILED" -eq 0 ]
