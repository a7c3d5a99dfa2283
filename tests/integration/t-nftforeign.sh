#!/usr/bin/env bash
# Another table's chains around the netdev table (agentd/nft/foreign.c),
# with real packets over IPv4 and IPv6.  Root malware adds its own netdev
# table: an egress chain that rewrites a packet kakuri let go to the
# CSIRT peer (port 7444) into one for an internet host, and an ingress
# chain that rewrites the host's answer into one from the peer.  At the
# priorities anybody would pick (100, -100) they now run after kakuri's
# ingress chain and before its egress chain, which see what they really
# are: nothing passes, no alert.  At kakuri's own extreme priorities they
# can still come first or last: each such chain added while isolated is
# an alert (interface-nft), named in not_covered, and the quarantine no
# longer says verified, also after more of them than status names.  One
# there before the quarantine is named, not alerted; one on a device the
# netdev table does not hook is neither.
. "$(dirname "$0")/lib.sh"
need
echo "== nftables chains of another table around the netdev table"
topology || die topology
for a in "$NET4" "$NET6"; do serve "$NET" "$a" 8080; done
wait_for 5 reach "$EP" tcp "$NET4" 8080
write_policy
start_kakurid || die "kakurid starts"
ipx() { ip netns exec "$EP" "$@"; }
# the agent's user (nobody) is what the management rows let out
as_agent() { ipx setpriv --reuid=65534 --regid=65534 --clear-groups "$NETPROBE" "$@"; }
nft_alerts() { ctl log --json | jq '[.entries[] | select(.result=="interface-nft")] | length'; }
named() { ctl status --json | jq -e "(.not_covered // \"\") | test(\"nftables chain netdev $1\")" >/dev/null; }
# evil NAME EGRESS_PRIO INGRESS_PRIO [DEV]: the rewriting table
evil() {
	ipx nft -f - <<EOF
table netdev $1 {
  chain out {
    type filter hook egress device "${4:-to-net}" priority $2;
    ip daddr $PEER4 tcp dport 7444 ip daddr set $NET4 tcp dport set 8080
    ip6 daddr $PEER6 tcp dport 7444 ip6 daddr set $NET6 tcp dport set 8080
  }
  chain in {
    type filter hook ingress device "${4:-to-net}" priority $3;
    ip saddr $NET4 tcp sport 8080 ip saddr set $PEER4 tcp sport set 7444
    ip6 saddr $NET6 tcp sport 8080 ip6 saddr set $PEER6 tcp sport set 7444
  }
}
EOF
}
# the peer's packets go out to the internet host's link, to be rewritten
ip -n "$EP" route replace "$PEER4/32" via "$NET4" dev to-net
ip -n "$EP" -6 route replace "$PEER6/128" via "$NET6" dev to-net
check "while open, the rewriting works: a connection 'to the peer' reaches the internet host (IPv4)" \
	bash -c "ip netns exec $EP nft -f - <<<'table netdev probe { chain out { type filter hook egress device \"to-net\" priority 0; ip daddr $PEER4 tcp dport 7444 ip daddr set $NET4 tcp dport set 8080; }; chain in { type filter hook ingress device \"to-net\" priority 0; ip saddr $NET4 tcp sport 8080 ip saddr set $PEER4 tcp sport set 7444; }; }' && \
	ip netns exec $EP setpriv --reuid=65534 --regid=65534 --clear-groups $NETPROBE tcp $PEER4 7444"
ipx nft delete table netdev probe

# one from before the quarantine, at the extreme priorities: named only
evil before 2147483647 -2147483648 || fail "the table from before"
ctl disconnect >/dev/null
check_within "a chain from before the quarantine: named in not_covered" 10 named before
check "... verified: false" test "$(status_field verified)" = false
check "... no alert: it came while open" test "$(nft_alerts)" -eq 0
ipx nft delete table netdev before
check_within "it gone: isolated and verified again (the periodic look)" 15 isolated_verified

# more such chains than status names (8), there before a new quarantine:
# a chain added after them is an alert all the same
stop_kakurid -TERM
ipx nft delete table inet kakuri 2>/dev/null
for t in bridge netdev; do ipx nft delete table $t kakuri 2>/dev/null; done
rm -f "$STATE/state.json"
ipx nft add table netdev crowd
for i in 1 2 3 4 5 6 7 8 9; do
	ipx nft add chain netdev crowd "c$i" "{ type filter hook ingress device \"to-net\" priority -2147483648; }"
done
start_kakurid || die "kakurid starts again"
ctl disconnect >/dev/null
check_within "nine chains from before the quarantine: not_covered names 8 and counts the rest" 10 \
	bash -c "'$KAKURICTL' -s '$SOCK' status --json | jq -e '(.not_covered // \"\") | test(\"1 more such nftables chains\")' >/dev/null"

# the usual priorities: kakuri's chains see the packets as they are
evil usual 100 -100 || fail "the rewriting table at priorities 100 and -100"
for fam in 4 6; do
	eval peer=\$PEER$fam
	check "isolated, priorities 100/-100: the rewriting reaches nobody (IPv$fam)" \
		bash -c "! ip netns exec $EP setpriv --reuid=65534 --regid=65534 --clear-groups $NETPROBE tcp $peer 7444 700"
done

# at kakuri's own extremes, added while isolated: an alert each (the
# looks go in order, so once these came the one above was looked at)
evil extreme 2147483647 -2147483648 || fail "the rewriting table at the extremes"
check_within "the extremes while isolated: two interface-nft alerts (egress, ingress)" 10 \
	test "$(nft_alerts)" -eq 2
alerts_of() { ctl log --json | jq "[.entries[] | select(.result==\"interface-nft\" and .table==\"$1\")] | length"; }
check "priorities 100/-100: no alert" test "$(alerts_of usual)" -eq 0
check "... (after nine from before) status counts them in not_covered" bash -c \
	"'$KAKURICTL' -s '$SOCK' status --json | jq -e '(.not_covered // \"\") | test(\"3 more such nftables chains\")' >/dev/null"
check "... but not the one at 100/-100" bash -c "! '$KAKURICTL' -s '$SOCK' status --json | jq -e '(.not_covered // \"\") | test(\"netdev usual\")' >/dev/null"
check "... verified: false" test "$(status_field verified)" = false
check "... the alerts name table, chain, device and priority" bash -c \
	"'$KAKURICTL' -s '$SOCK' log --json | jq -e '[.entries[] | select(.result==\"interface-nft\")] | length == 2 and (map(.table==\"extreme\" and .interface==\"to-net\" and (.priority==2147483647 or .priority==-2147483648)) | all)' >/dev/null"
tamper_reports() { outbox_json | jq -s '[.[] | select(.type=="tamper" and .body.result=="interface-nft")] | length'; }
check "... the CSIRT is told (tamper reports in the outbox)" test "$(tamper_reports)" -eq 2
ipx nft delete table netdev usual

# control CHAIN-TABLE: one egress chain at the extreme, an alert of its
# own; once it came, whatever was committed before it was looked at
control() {
	ipx nft add table netdev "$1" &&
		ipx nft add chain netdev "$1" out "{ type filter hook egress device \"to-net\" priority 2147483647; }" &&
		check_within "control $1: its alert came" 10 test "$(alerts_of "$1")" -eq 1
	ipx nft delete table netdev "$1"
}
ipx nft add rule netdev extreme out counter
control ctl1
check "a rule more in a chain alerted already: no new alert (one per chain)" test "$(alerts_of extreme)" -eq 2
ipx nft delete table netdev extreme
ipx nft delete table netdev crowd
check_within "they gone: no longer named" 15 bash -c "! '$KAKURICTL' -s '$SOCK' status --json | jq -e '(.not_covered // \"\") | test(\"nftables chain\")' >/dev/null"

# a device the netdev table does not hook (lo): no alert
evil onlo 2147483647 -2147483648 lo || fail "the table on lo"
control ctl2
check "the extremes on lo, which the netdev table does not hook: no alert" test "$(alerts_of onlo)" -eq 0
ipx nft delete table netdev onlo
check "the quarantine held through all of it" test "$(status_field mode)" = isolated
check "audit chain verifies" ctl log
summary
[ "$FAILED" -eq 0 ]
