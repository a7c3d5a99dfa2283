#!/usr/bin/env bash
# A block list never cuts the CSIRT channel (DESIGN: the management
# channel stays open).  A signed block that names a management peer is
# refused (t-block.sh); but the policy may change after a list is in
# force.  Here a list blocks the internet host's /24; then the policy
# makes one of its addresses a management peer.  After the reload, after
# an isolation and after a restart (the list loaded from its file), that
# peer reaches the agent and the agent reaches it, while its neighbour in
# the same /24 stays blocked.
. "$(dirname "$0")/lib.sh"
need
echo "== block lists and a management peer added later"
topology || die topology
pki_setup || die "PKI setup"
block_trust
write_policy "$(remote_agent_conf)" "$(remote_tls_conf)"
AGENT_ID=$(agent_init)
NEIGHBOUR=198.51.100.21
ip -n "$NET" addr add "$NEIGHBOUR/24" dev to-ep
for a in "$NET4" "$NEIGHBOUR"; do serve "$NET" "$a" 8080; done
serve "$EP" "$EPN4" 7444	# a CSIRT port of the agent's, answering
check_within "the internet host answers on both addresses before any block" 5 \
	bash -c "ip netns exec $EP $NETPROBE tcp $NET4 8080 300 && ip netns exec $EP $NETPROBE tcp $NEIGHBOUR 8080 300"
start_kakurid || die "kakurid starts"
check_within "the CSIRT channel is listening" 30 channel_up
blocked() { ! reach "$@" 300; }
# the longest names: 16 letters at a 10-digit version, with ports (its
# sets, spared, were named past nftables' 31 characters: every table
# build failed from the reload on, the isolate too)
printf '{"set": "iocnetlongestnam", "version": 4294967295, "ports": [8080], "addresses": ["198.51.100.0/24"]}\n' >"$WORK/list.json"
check "a signed block of 198.51.100.0/24 (port 8080): done" test "$(send_result "$(sign alice block --args "$WORK/list.json")")" = done
check_within "the internet host is blocked" 5 blocked "$EP" tcp "$NET4" 8080
check "... and its neighbour" blocked "$EP" tcp "$NEIGHBOUR" 8080

# the policy makes the internet host a management peer too
sed -i "s|peers = \[ \"$PEER4\", \"$PEER6\" \];|peers = [ \"$PEER4\", \"$PEER6\", \"$NET4\" ];|" "$POLICY"
check "the new policy names $NET4 a management peer" grep -q "\"$NET4\" \]" "$POLICY"
reloads() { ctl log -n 0 --json | jq '[.entries[] | select(.action == "policy-reload" and .result == "applied")] | length'; }
reloaded() { [ "$(reloads)" -gt "$1" ]; }
n=$(reloads)
kill -HUP "$KPID"
check_within "the reload is applied" 10 reloaded "$n"
check_within "the new peer is reached past the list" 5 reach "$EP" tcp "$NET4" 8080
check "... and reaches the agent's CSIRT port (7444)" reach "$NET" tcp "$EPN4" 7444
check "its neighbour is still blocked" blocked "$EP" tcp "$NEIGHBOUR" 8080
check "the audit says the peer was taken out of the list" bash -c \
	"'$KAKURICTL' -s '$SOCK' log -n 0 --json | jq -e '[.entries[] | select(.action == \"blocklist-spare\" and .result == \"spared\")] | length > 0'"

# isolated: the management rows let the peer in on the CSIRT ports only
check "a signed isolate: done (fails on the old code: apply-failed)" test "$(send_result "$(sign alice isolate --incident IR-PEER)")" = done
check_within "isolated" 5 test "$(status_field mode)" = isolated
check "isolated: the peer reaches the agent's CSIRT port (7444)" reach "$NET" tcp "$EPN4" 7444

# a restart: the list comes back from its file, the peer spared again
stop_kakurid -TERM
start_kakurid || die "kakurid starts again"
check_within "after a restart the peer still reaches the agent's CSIRT port (7444)" 10 reach "$NET" tcp "$EPN4" 7444
check "the list is in force again (its set in the table)" bash -c \
	"ip netns exec $EP nft list table inet kakuri | grep -q iocnet"
check "audit chain verifies" ctl log -n 0
stop_kakurid -TERM
summary
[ "$FAILED" -eq 0 ]
